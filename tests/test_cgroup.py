"""The control group around a grading worker: the limits asked for are the limits written, and nothing outlives it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder import cgroup

pytestmark = pytest.mark.skipif(not cgroup.available(), reason="this user may not make a control group here")


def _limit(group: cgroup.Cgroup, v1: str, v2: str) -> str:
    for folder in group.folders:
        for name in (v1, v2):
            if (folder / name).exists() and folder.parent.name != "cpuacct":
                return (folder / name).read_text().strip()
    raise AssertionError(f"no {v1} or {v2} in {group.folders}")


def test_the_limits_asked_for_are_the_limits_written():
    with cgroup.Cgroup(pids=77, memory=3 * 2**30, cpus=1.5) as group:
        assert _limit(group, "pids.max", "pids.max") == "77"
        assert _limit(group, "memory.limit_in_bytes", "memory.max") == str(3 * 2**30)
        quota = _limit(group, "cpu.cfs_quota_us", "cpu.max")
        assert quota.split()[0] == str(int(1.5 * cgroup.PERIOD))  # v1: the quota; v2: "quota period"


def test_closing_the_group_kills_what_is_left_in_it_and_removes_it():
    group = cgroup.Cgroup(pids=64, memory=2**30, cpus=1)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=group.preexec)
    folders = list(group.folders)
    group.close()
    assert spinner.wait(timeout=60) != 0  # killed, not finished
    assert not any(folder.exists() for folder in folders)
