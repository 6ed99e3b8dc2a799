"""Timing, and what the figures were measured on: the machine and how busy it was."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best, median) wall-clock seconds of ``repeat`` calls of fn."""
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def _cpu_jiffies() -> tuple[int, int, int] | None:
    """(busy, steal, total) jiffies of all CPUs since boot, from /proc/stat (None elsewhere).

    steal: time the hypervisor gave this machine's CPUs to others (part of busy).
    """
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    fields += [0] * (8 - len(fields))
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, fields[7], sum(fields[:8])


@dataclass
class Machine:
    """What the figures were measured on, and how busy it was."""

    start_wall: float = field(default_factory=time.perf_counter)
    start_cpu: tuple[int, int, int] | None = field(default_factory=_cpu_jiffies)
    start_own: float = field(default_factory=lambda: _own_cpu_seconds())
    start_load: tuple[float, float, float] = field(default_factory=lambda: os.getloadavg())

    @staticmethod
    def description() -> str:
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        import scipy

        return (
            f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"NumPy {np.__version__}, SciPy {scipy.__version__}"
        )

    def others_share(self) -> str:
        """The share of all CPUs that other processes used since the start (this one and its children excluded)."""
        end = _cpu_jiffies()
        if not self.start_cpu or not end:
            return "unknown"
        busy, steal, total = (e - s for e, s in zip(end, self.start_cpu))
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        own = (_own_cpu_seconds() - self.start_own) * tick
        return f"{max(0.0, (busy - own) / max(total, 1)):.0%} (steal {steal / max(total, 1):.0%})"


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
