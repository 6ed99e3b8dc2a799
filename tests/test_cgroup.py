"""The control group around a grading worker: the limits asked for are the limits written, and nothing outlives it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder import cgroup
from autograder.grading import supervisor
from autograder.options import Options

needs_cgroups = pytest.mark.skipif(not cgroup.available(), reason="this user may not make a control group here")


def _limit(group: cgroup.Cgroup, v1: str, v2: str) -> str:
    for folder in group.folders:
        for name in (v1, v2):
            if (folder / name).exists() and folder.parent.name != "cpuacct":
                return (folder / name).read_text().strip()
    raise AssertionError(f"no {v1} or {v2} in {group.folders}")


@needs_cgroups
def test_the_limits_asked_for_are_the_limits_written():
    with cgroup.Cgroup(pids=77, memory=3 * 2**30, cpus=1.5) as group:
        assert _limit(group, "pids.max", "pids.max") == "77"
        assert _limit(group, "memory.limit_in_bytes", "memory.max") == str(3 * 2**30)
        quota = _limit(group, "cpu.cfs_quota_us", "cpu.max")
        assert quota.split()[0] == str(int(1.5 * cgroup.PERIOD))  # v1: the quota; v2: "quota period"
        assert group.held == {"pids": 77, "memory": 3 * 2**30, "cpu": 1.5}


@needs_cgroups
def test_closing_the_group_kills_what_is_left_in_it_and_removes_it():
    group = cgroup.Cgroup(pids=64, memory=2**30, cpus=1)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=group.preexec)
    folders = list(group.folders)
    group.close()
    assert spinner.wait(timeout=60) != 0  # killed, not finished
    assert not any(folder.exists() for folder in folders)


@pytest.fixture
def v2_without_memory(tmp_path, monkeypatch):
    """A cgroup v2 host (a fake one, in tmp_path) that delegates pids and cpu to the grader but not memory:
    writing memory.max fails, as it does when the parent's subtree_control lacks the memory controller."""
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    (tmp_path / "cgroup.procs").write_text("")
    monkeypatch.setattr(cgroup, "ROOT", tmp_path)
    monkeypatch.setattr(cgroup, "_own", lambda controller: tmp_path)

    def write(path, text):
        if path.name == "memory.max":
            raise PermissionError(13, "Permission denied", str(path))
        path.write_text(text)

    monkeypatch.setattr(cgroup, "_write", write)
    return tmp_path


def test_a_limit_the_group_cannot_hold_is_not_claimed_and_the_worker_limits_itself(v2_without_memory):
    """The group holds pids and cpu and says so; the one folder of v2, made for pids, is not removed when memory
    fails (that dropped every limit while the group still counted as active); the worker gets a memory rlimit
    and no process rlimit; the table says which bound holds what."""
    group = cgroup.Cgroup(pids=512, memory=2**30, cpus=1)
    assert group.held == {"pids": 512, "cpu": 1} and group.holds("pids") and not group.holds("memory")
    (folder,) = group.folders
    assert folder.is_dir() and (folder / "pids.max").read_text() == "512" and (folder / "cpu.max").exists()
    options = Options(worker_processes=512, worker_memory=2**30)
    assert supervisor.worker_limits(options, group.held) == [f"--max-memory={2**30}"]
    said = supervisor._bounds(options, set(group.held))
    assert "a control group (512 processes, its share of the cores)" in said
    assert "resource limits (1 GiB per process; the control group cannot limit its memory (in all) here)" in said
    assert cgroup.held_limits() == {"pids", "cpu"}


def test_without_a_group_every_limit_is_a_resource_limit():
    options = Options(worker_processes=64, worker_memory=2**30)
    flags = supervisor.worker_limits(options, set())
    assert [f.split("=")[0] for f in flags] == ["--max-processes", "--max-memory"]
    assert supervisor.worker_limits(options, {"pids", "memory", "cpu"}) == []
    said = supervisor._bounds(options, set())
    assert "this user may not make a control group" in said and "no control group's CPU quota" in said


def test_a_group_that_cannot_be_joined_starts_no_worker(v2_without_memory, monkeypatch):
    """Limits held but the join refused (an attack review's finding): the process is not started at all,
    rather than started with neither the group's limits nor its own resource limits."""
    group = cgroup.Cgroup(pids=512, memory=None, cpus=None)
    assert group.held == {"pids": 512}

    def refuse(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cgroup, "_write", refuse)
    with pytest.raises(subprocess.SubprocessError):
        subprocess.Popen([sys.executable, "-c", "pass"], preexec_fn=group.preexec)
