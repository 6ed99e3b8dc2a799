"""Grading by a user who is not root holds as it does for root (tests/run_as_user.sh runs this as one).

The sandbox's child keeps no capability, in any user namespace (with CAP_SYS_CHROOT it could leave
its chroot) and writes nowhere but its /tmp; a grading worker that no control group bounds limits
itself, counting its own processes only; nbgrader's read-only autograded notebooks still get the
isolated verdicts; and where the kernel refuses user namespaces the fallback is said in words (what
it means), never as unshare's own error. Every test runs as root too; those that cannot hold there
say why they are skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys

import nbformat
import pytest

from autograder import host, sandbox, verdict
from autograder.course import COURSE_ROOT, Course
from autograder.grading import Options, supervisor, worker
from autograder.sandbox import Limits, Sandbox, StudentCodeError

STUDENT = """
import ctypes, os

def chroot_escape():
    os.makedirs("/tmp/jail", exist_ok=True)
    os.chroot("/tmp/jail")  # the classic: chroot below, climb out with "..", chroot there
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    return float(os.path.exists(COURSE))

def capabilities():
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()
    assert libc.capget(header, data) == 0
    bounding = sum(libc.prctl(23, cap, 0, 0, 0) == 1 for cap in range(64))  # PR_CAPBSET_READ
    return [float(x) for x in data] + [float(bounding)]

def new_user_namespace():
    return float(ctypes.CDLL(None, use_errno=True).unshare(0x10000000))  # CLONE_NEWUSER

def write(path):
    with open(path, "w") as f:
        f.write("x")
    return 1.0
"""


@pytest.fixture(scope="module")
def box():
    if sandbox.isolation() != "namespaces":
        pytest.skip(f"no namespaces for the sandbox here: {sandbox.fallback_reason()}")
    with Sandbox(Limits(call_seconds=20)) as b:
        source = f"COURSE = {str(COURSE_ROOT)!r}\n" + STUDENT
        assert b.run_cells([{"id": "answer", "source": source, "student": True}]) == {}
        yield b


def test_the_sandbox_child_has_no_capability_and_stays_in_its_chroot(box):
    assert box.call("capabilities") == [0.0] * 7  # effective, permitted, inheritable; bounding set
    with pytest.raises(StudentCodeError, match="PermissionError"):
        box.call("chroot_escape")
    assert box.call("new_user_namespace") == -1.0  # refused to a chrooted process: no capability regained


@pytest.mark.parametrize("where", ["/", "/etc", "/usr/lib", "venv", "course"])
def test_the_sandbox_writes_nowhere_but_its_tmp(box, where):
    folder = {"venv": sys.prefix, "course": str(COURSE_ROOT)}.get(where, where)
    target = os.path.join(folder, "autograder-was-here")
    bound = where != "course"  # the system and the Python installation are there, read-only; the course is not
    if bound or not folder.startswith("/tmp/"):
        with pytest.raises(StudentCodeError, match="Error"):
            box.call("write", target)
    else:  # a checkout under /tmp (CI's): that path, inside, is in the sandbox's own /tmp (writable or not)
        with contextlib.suppress(StudentCodeError):
            box.call("write", target)
    assert not os.path.exists(target)  # nothing landed where the grader sees it
    assert box.call("write", "/tmp/mine") == 1.0


BOMBS = """
import os, sys, time
from autograder.grading import worker

worker.limit(*(int(flag.split("=", 1)[1]) for flag in sys.argv[2:]))  # --max-processes=N --max-memory=M
forks, children = 0, []
try:
    while sys.argv[1] == "fork" and forks < 2000:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
        forks += 1
except OSError:
    pass
for pid in children:
    os.kill(pid, 9)
hog = []
try:
    while sys.argv[1] == "memory" and len(hog) < 256:
        hog.append(bytearray(2**24))
except MemoryError:
    pass
print(forks, len(hog) * 2**24)
"""


def _bomb(monkeypatch, what: str) -> tuple[int, int, int]:
    """(forks, bytes) a bomb got in a worker's namespace with a worker's limits (64 processes, 1 GiB),
    and the process limit it was given."""
    limits = supervisor.worker_limits(Options(worker_processes=64, worker_memory=2**30))
    # In a user namespace of its own the worker's processes alone count; outside one (where the kernel
    # refuses them) every process of the user does, and the worker gets 64 more than run now.
    assert ("--max-processes=64" in limits) == ("--user" in host.pid_namespace())
    processes = int(limits[0].removeprefix("--max-processes="))
    cmd = [*host.pid_namespace(), sys.executable, "-c", BOMBS, what, *limits]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=COURSE_ROOT)
    assert proc.returncode == 0, proc.stderr
    forks, got = map(int, proc.stdout.split())
    return forks, got, processes


def test_a_fork_bomb_in_a_worker_meets_its_process_limit(monkeypatch):
    if host.real_root():
        pytest.skip("root is exempt from RLIMIT_NPROC: its workers are bounded by a control group instead")
    forks, _, processes = _bomb(monkeypatch, "fork")
    assert 0 < forks < processes


def test_a_memory_bomb_in_a_worker_meets_its_memory_limit(monkeypatch):
    _, got, _ = _bomb(monkeypatch, "memory")
    assert 0 < got < 2**30


def test_read_only_autograded_notebooks_get_the_isolated_verdicts_and_stay_read_only(tmp_path):
    meta = {"grade": True, "grade_id": "test_f", "locked": True, "points": 1, "schema_version": 3, "solution": False}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert f()", metadata={"nbgrader": meta})])
    path = tmp_path / "autograded" / "ada" / "01" / "f.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    path.chmod(0o444)  # as nbgrader leaves it
    found = verdict.NotebookVerdict("f.ipynb", {"test_f": verdict.Verdict("test_f", 1.0, 0.0, "AssertionError")})
    worker.annotate(Course(tmp_path), "ada", "01", [found])
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    cell = nbformat.read(path, as_version=4).cells[0]
    assert cell.metadata["autograder"]["isolated"]["message"] == "AssertionError"


FAKE_UNSHARE = """#!/bin/sh
# unshare on a kernel that refuses user namespaces to users other than root
for a in "$@"; do
    case "$a" in
        --) break ;;
        -U|--user|-r|--map-root-user|-c|--map-current-user|--map-user=*|--map-users=*|--map-auto)
            echo "unshare: unshare failed: Operation not permitted" >&2; exit 1 ;;
    esac
done
exec {real} "$@"
"""

PROBE = """
from autograder import host, sandbox
from autograder.grading import supervisor
print(sandbox.isolation())
print(sandbox.fallback_reason())
print(" ".join(host.pid_namespace()))
print(supervisor.worker_bounds())
"""


def test_where_user_namespaces_are_refused_the_fallback_is_said_in_words(tmp_path):
    real = shutil.which("unshare")
    if real is None:
        pytest.skip("no unshare command (util-linux) on this machine")
    fake = tmp_path / "unshare"
    fake.write_text(FAKE_UNSHARE.format(real=real))
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("AUTOGRADER_SANDBOX", None)  # the kernel's refusal alone, as on such a machine
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "unshare failed" not in proc.stdout + proc.stderr  # the probes are quiet
    mode, reason, pid, bounds = proc.stdout.splitlines()
    if host.real_root():  # root needs no user namespace: nothing changes
        assert (mode, reason) == ("namespaces", "") and pid.startswith("unshare --pid")
    else:
        assert mode == "limits" and "refuses user namespaces" in reason and "can read every file" in reason
        assert pid == "" and "no PID namespace" in bounds
