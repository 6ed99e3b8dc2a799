"""A Linux control group around one grading worker: at most so many processes, so much memory.

nbgrader runs student code in a kernel with the grader's own rights; as root, resource limits
on the number of processes do not apply (the kernel exempts uid 0), so a fork bomb or a memory
bomb in a notebook would take the machine down with every other student's grading. A control
group bounds the worker, its kernels and everything they start, whoever they run as: a fork
fails once ``pids`` processes exist, the kernel's OOM killer stops the group at ``memory``
bytes (the notebook is then recorded as "kernel died"), and ``cpus`` cores' worth of CPU time is
all it gets (so that processes spinning on every core cost the honest students graded beside it
nothing, not even a cell timeout).

Both cgroup v1 (one hierarchy per controller, ``/sys/fs/cgroup/pids``) and v2 (the unified
``/sys/fs/cgroup``) are handled. Each limit is written on its own, and ``Cgroup.held`` records those that
hold: a host may delegate one controller and not another (cgroup v2 with ``pids`` but not ``memory`` in
the parent's subtree_control), and the grader then bounds the others another way (``grading.supervisor``:
resource limits) and says so. Where nothing is writable (no rights, no such file system) ``Cgroup`` does
nothing, and ``held_limits()`` says which limits this machine lets a worker's group hold.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD = 100_000  # µs: the kernel's default CFS period (cgroup v1 cpu.cfs_period_us, v2 cpu.max)
#: The limits a worker's group sets, by controller.
LIMITS = ("pids", "memory", "cpu")


def _own(controller: str) -> Path | None:
    """This process's cgroup directory for a controller (v1), or its unified one (v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            base = ROOT / controller
        elif controllers == "" and (ROOT / "cgroup.controllers").exists():
            base = ROOT
        else:
            continue
        folder = base / path.lstrip("/")
        if (folder / "cgroup.procs").exists():
            return folder
    return None


class Cgroup:
    """Create with limits, pass ``preexec`` to subprocess.Popen, ``close()`` when the process ended."""

    def __init__(self, pids: int | None = 512, memory: int | None = 8 * 2**30, cpus: float | None = None):
        """cpus: the CPU time it may use, in cores (a quota per 100 ms period): its share of the machine.
        ``held`` is then {controller: the limit asked for} of those written (a limit that could not be is left
        out: the caller bounds it another way), ``folders`` the groups to join."""
        self.folders: list[Path] = []
        self.held: dict[str, float] = {}
        asked = {"pids": pids, "memory": memory, "cpu": cpus}
        name = f"autograder-{uuid.uuid4().hex[:12]}"
        quota = int(cpus * PERIOD) if cpus else None
        # (controller, v1 file, its value, v2 file, its value): v2 has one folder and other file names.
        limits = (
            ("pids", "pids.max", pids, "pids.max", pids),
            ("memory", "memory.limit_in_bytes", memory, "memory.max", memory),
            ("cpu", "cpu.cfs_quota_us", quota, "cpu.max", f"{quota} {PERIOD}"),
        )
        for controller, file, value, file_v2, value_v2 in limits:
            parent = _own(controller) if value is not None else None
            if parent is None:
                continue
            if parent == ROOT or (parent / "cgroup.controllers").exists():
                file, value = file_v2, value_v2
            folder = parent / name
            made = not folder.exists()  # v2: one folder for every controller, made for the first
            try:
                folder.mkdir(exist_ok=True)
                _write(folder / file, str(value))
            except OSError:
                if made:  # not a folder another limit holds in (v2): removing it would drop that one too
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                continue
            self.held[controller] = asked[controller]
            if folder not in self.folders:
                self.folders.append(folder)

    @property
    def active(self) -> bool:
        """Whether it holds any limit (and the worker joins it)."""
        return bool(self.folders)

    def holds(self, controller: str) -> bool:
        """Whether the limit of this controller ("pids", "memory", "cpu") was written and holds."""
        return controller in self.held

    def preexec(self) -> None:
        """Join the group (run in the child between fork and exec). A group that cannot be joined raises (the
        child is then never started: subprocess says so in the parent), as the limits it holds would otherwise
        be counted on and bound nothing."""
        for folder in self.folders:
            _write(folder / "cgroup.procs", str(os.getpid()))

    def close(self) -> None:
        """Kill whatever is left in the group, then remove it."""
        for folder in self.folders:
            for _ in range(50):
                try:
                    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)
            with contextlib.suppress(OSError):
                folder.rmdir()
        self.folders = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def held_limits() -> set[str]:
    """The limits (of LIMITS) that this machine lets the grader set on a worker's control group of its own."""
    with Cgroup(pids=4096, memory=2**40, cpus=float(os.cpu_count() or 1)) as group:
        return set(group.held)


def available() -> bool:
    """Whether this machine lets the grader put a worker in a control group of its own (with a process limit)."""
    return "pids" in held_limits()
