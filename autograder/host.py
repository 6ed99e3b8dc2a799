"""What this machine allows and runs, probed: the grader's platform probes in one place.

Whether this process is the machine's root, whether it may make user namespaces, how many tasks its user
runs (what RLIMIT_NPROC counts), the command that gives a worker a PID namespace of its own
(``pid_namespace``), and the processes /proc shows (``children``, ``kill_children``: a sandbox's or a
kernel's whole PID namespace ends with its first process). The probes run a command and read its status:
they say nothing (their refusal is the answer), and each is made once per process.

Two probes stay with what they probe, as their answer is that thing working: ``sandbox.probe()`` starts
a sandbox (``Isolation``), and ``cgroup.held_limits()`` makes a control group (the limits it holds).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from pathlib import Path

_QUIET = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def real_root() -> bool:
    """Whether this process is root of the machine (not root of a user namespace, where few ids are mapped)."""
    if os.geteuid() != 0:
        return False
    try:
        return Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


@functools.cache
def user_namespaces() -> bool:
    """Whether this user may create user namespaces (some kernels refuse them to all but root)."""
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "true"], timeout=30, **_QUIET).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def pid_namespace() -> tuple[str, ...]:
    """The command that runs a worker in a PID namespace of its own; () where unshare is not allowed.

    Root needs nothing more; any other user gets a user namespace of its own too, where it keeps its
    user id and has no rights on the machine (util-linux older than 2.38: it is root of that namespace,
    which gives no more rights outside it).
    """
    if not shutil.which("unshare"):
        return ()
    users = [()] if os.geteuid() == 0 else []
    users += [("--user", "--map-current-user"), ("--user", "--map-root-user")]
    for user in users:
        cmd = ("unshare", *user, "--pid", "--fork", "--kill-child")
        try:
            if subprocess.run([*cmd, "true"], timeout=30, **_QUIET).returncode == 0:
                return (*cmd, "--")
        except (OSError, subprocess.SubprocessError):
            continue
    return ()


def tasks_of_user() -> int:
    """How many processes and threads this user runs (what RLIMIT_NPROC counts outside a user namespace)."""
    tasks = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == os.getuid():
                tasks += int(fields["Threads"])
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return tasks


def children(pid: int) -> list[int]:
    """The ids of a process's children, as /proc shows them (see in_proc)."""
    found = []
    for task in Path(f"/proc/{in_proc(pid)}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def in_proc(pid: int) -> int:
    """The id under which /proc shows the process pid of this process's PID namespace.

    They differ where this process runs in a PID namespace of its own but sees the machine's /proc, as a
    grading worker does (autograder.grading.supervisor): there /proc/<pid> is another process. The
    process's pidfd says (its fdinfo's Pid, in /proc's namespace); where it cannot, pid as it is.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here, or no such process
        return pid
    try:
        for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
            if line.startswith("Pid:") and int(line.split()[1]) > 0:
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    finally:
        os.close(fd)
    return pid


def _from_proc(pid: int) -> int | None:
    """The id of this process's PID namespace of the process that /proc shows as pid (None: not in it)."""
    try:
        ours = _nspid("self")
        theirs = _nspid(str(pid))
    except (OSError, ValueError):
        return None
    return theirs[len(ours) - 1] if len(theirs) >= len(ours) else None


def _nspid(entry: str) -> list[int]:
    for line in Path(f"/proc/{entry}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(n) for n in line.split()[1:]]
    return [int(entry) if entry.isdigit() else os.getpid()]


def kill_children(pid: int) -> None:
    """SIGKILL the children of a process (unshare's: the first process of a PID namespace, whose end
    ends every other process in it, those that left the process group and cleared their
    parent-death signal included)."""
    for child in children(pid):
        ours = _from_proc(child)
        if ours is None:
            continue
        try:
            os.kill(ours, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
