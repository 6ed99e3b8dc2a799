"""The settings of one grading run, in one frozen dataclass: the one source of their defaults (the command line's
flags take theirs from ``DEFAULTS``), handed whole to each worker (``to_json``, ``from_json``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .sandbox import Limits

#: Workers per core by default. Measured on 2 cores (2026-12-01, a class of 8 of the bench's kinds, the six
#: assignments): 2 jobs 21.7 s of machine time per student, 3 jobs 19.2 s, 4 jobs 16.6 s. Each worker is
#: still held to at most ``threads`` cores (at least one), and its control group has the same weight as
#: every other worker's (cgroup v2 cpu.weight, v1 cpu.shares: the kernel's defaults), so that a submission
#: that spins on every core gets no more of the machine than an honest student graded beside it.
JOBS_PER_CORE = 2


@dataclass(frozen=True)
class Options:
    """How to grade a class. Every field has the default of ``python -m autograder grade``."""

    #: The assignments to grade (default: every assignment of source/).
    assignments: tuple[str, ...] | None = None
    #: Grade only these students (default: everyone in submitted/); an unknown one is a CourseError.
    students: tuple[str, ...] | None = None
    #: Students graded at once (default: twice the machine's cores, JOBS_PER_CORE: a worker waits on its
    #: kernels and files part of the time, which another fills; with a scheduler, at most this many sent
    #: to the cluster at once, default: up to pools.MAX_IN_FLIGHT, as many as its workers take).
    jobs: int | None = None
    #: Write each student's feedback HTML.
    feedback: bool = True
    #: Where the CSV of grades goes (default: grades.csv in the course).
    csv: Path | None = None
    #: Seconds one student's grading may take in all before it is stopped (every assignment; where a
    #: student's assignments are split into lanes, grading.lanes, each lane has this budget).
    timeout: float = 1800.0
    #: Seconds one call of a student's function may take in the isolated pass, whose scores are
    #: recorded (autograder.verdict); None: no isolated pass, nbgrader's in-kernel scores are kept.
    call_timeout: float | None = Limits.call_seconds
    #: Refuse to grade when release/ is not what source/ generates now.
    check: bool = True
    #: Write the class report (grading.class_report: COURSE/reports/class_report.html and .csv) at the end of
    #: the run, for the whole class as the gradebook then holds it (the feedback service, which grades one
    #: hand-in at a time all term, does not).
    class_report: bool = True
    #: Copy the gradebook to backups/ before the run (the feedback service, which grades one submission
    #: at a time all term, does not).
    backup: bool = True
    #: Grade where student code cannot be sandboxed (refused otherwise: grading.refuse_unsandboxed).
    unsafe: bool = False
    #: Processes and bytes of memory one student's worker may use with all it starts (autograder.cgroup).
    worker_processes: int = 512
    #: Memory: default 8 GiB, or the machine's memory / workers where that is less (the caps of all the
    #: workers together fit in memory: with twice the cores' workers, 5.9 GiB each on 2 cores and 23.5 GiB).
    worker_memory: int | None = None
    #: A Dask scheduler's address (tcp://HOST:8786): each student is graded on one of its workers, which
    #: share the course's file system (autograder.grading.pools); None: on this machine.
    scheduler: str | None = None

    def to_json(self) -> str:
        """The options as JSON (what a worker is started with): every field, paths as strings."""
        return json.dumps({f.name: _plain(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def from_json(cls, text: str) -> Options:
        """The options ``to_json`` wrote."""
        data = json.loads(text)
        if data.get("csv") is not None:
            data["csv"] = Path(data["csv"])
        return cls(**data)

    def __post_init__(self):
        for name in ("assignments", "students"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))

    @property
    def isolated(self) -> bool:
        """Whether the isolated pass runs (and its scores are recorded)."""
        return self.call_timeout is not None

    @property
    def workers(self) -> int:
        """Students graded at once."""
        return self.jobs or JOBS_PER_CORE * (os.cpu_count() or 1)

    @property
    def memory(self) -> int:
        """Bytes of memory one worker may use with all it starts (worker_memory, or its default)."""
        if self.worker_memory is not None:
            return self.worker_memory
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return min(8 * 2**30, physical // self.workers)

    @property
    def threads(self) -> int:
        """BLAS/OpenMP threads of each worker and its kernels: its share of the cores, so that
        students graded side by side share the cores instead of fighting over them."""
        return max(1, (os.cpu_count() or 1) // self.workers)


def _plain(value):
    return str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value


#: Every default, for the command line's flags and their help (``python -m autograder grade``).
DEFAULTS = Options()
