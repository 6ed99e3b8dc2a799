"""Where students are graded: side by side on this machine, or on the workers of a Dask cluster.

One student's grading is split in two (autograder.grading.supervisor): ``grade_here``, done where
the student is graded (scratch course, submission copy, the bounded and sandboxed worker, this run's
autograded notebooks and feedback copied into the course), and the recording, done by the coordinator
alone as each student's Outcomes come back (scores and late penalties into the run's private gradebook,
in its own thread: grading._grade). Both pools run the same ``supervisor.grade_student`` in threads of
the coordinator (``Pool``); they differ only in where its ``grade_here`` runs:

* ``LocalPool``: in that thread, as many students at once as ``Options.workers``;
* ``DaskPool`` (``Options.scheduler``, ``grade --scheduler tcp://HOST:8786``): as a task of a
  ``dask.distributed`` cluster (``remote_task``), with plain arguments (paths as str, the Options),
  the Outcomes coming back as JSON. The workers share the course's file system, at the same path;
  the scratch courses start from a snapshot of the run's gradebook that the coordinator writes in
  the course (``.autograder/run-*/gradebook.db``, removed at the end). A task that raised is tried
  once more (``retries=1``); one whose worker died is given to another by the scheduler (as many
  times as its ``distributed.scheduler.allowed-failures``: docs/instructors.md, grading on a cluster), and one
  that fails for good is that student's GRADING_ERROR, in one line. Every other student is graded.

Each Dask worker refuses to grade where it cannot sandbox student code (``refuse_unsandboxed``,
unless ``--unsafe``), as this machine does: nothing is graded with fewer guarantees on a cluster.
Dask is imported only by a DaskPool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..course import Course, CourseError
from . import gradebook, supervisor
from .options import Options
from .outcome import Outcome

log = logging.getLogger(__name__)

#: Seconds to wait for the scheduler to answer before saying it cannot be reached.
CONNECT_TIMEOUT = 20.0
#: Students sent to the cluster at once when --jobs does not say (each waits in a coordinator thread).
MAX_IN_FLIGHT = 256


class Pool(Protocol):
    """What the coordinator needs of a pool (LocalPool, DaskPool)."""

    where: str  # in words, for the log
    jobs: int  # students graded at once
    lanes: int  # workers a lone student's assignments may be split into (grading.lanes)

    def here(self, course_root: str, student: str, assignments: list[str], options: Options, snapshot: str): ...

    def snapshot(self, course: Course, golden: Path, private: Path) -> Path: ...

    def pool(self) -> contextlib.AbstractContextManager[ThreadPoolExecutor]: ...

    def __enter__(self) -> Pool: ...

    def __exit__(self, *exc) -> None: ...


def open_pool(options: Options) -> LocalPool | DaskPool:
    """The pool of options: a DaskPool connected to options.scheduler (a CourseError, in one line, if it
    cannot be reached), else this machine's threads. Use it as a context manager."""
    return DaskPool(options) if options.scheduler else LocalPool(options)


class LocalPool:
    """Students graded side by side in threads of this process, ``Options.workers`` at once."""

    where = "on this machine"

    def __init__(self, options: Options):
        self.jobs = options.workers
        #: Workers that can run at once at full speed: a lone student's lanes (grading.lanes) are no more.
        self.lanes = min(self.jobs, os.cpu_count() or 1)
        self.here = supervisor.grade_here

    def snapshot(self, course: Course, golden: Path, private: Path) -> Path:
        """The gradebook every scratch course of the run starts from: here, in the run's private folder."""
        return gradebook.copy(golden, private / "snapshot.db")

    @contextlib.contextmanager
    def pool(self) -> Iterator[ThreadPoolExecutor]:
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            yield pool

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class KilledWorker(RuntimeError):
    """Every Dask worker that ran a student's grading died while it ran (Dask's KilledWorker, told shortly)."""


class DaskPool:
    """Students graded as tasks of the Dask cluster at ``options.scheduler``."""

    def __init__(self, options: Options):
        try:
            from distributed import Client
            from distributed.comm import get_address_host_port
        except ImportError:  # the cluster extra (pyproject.toml), not part of the instructors' install
            raise CourseError(
                "--scheduler needs Dask's distributed, which is not installed here: "
                "pip install -e '.[cluster]' in the course's folder (its cluster extra)"
            ) from None

        self.address = options.scheduler
        try:
            get_address_host_port(self.address)  # first: a Client made with a malformed one hangs when collected
        except ValueError as error:
            raise CourseError(f"--scheduler {self.address}: {error}; give it as tcp://HOST:8786") from None
        try:
            self.client = Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as error:  # OSError: refused, or timed out
            said = " ".join(f"{type(error).__name__}: {error}".split())[:200]
            raise CourseError(
                f"cannot reach the Dask scheduler at {self.address} ({said}): start it with `dask scheduler` "
                f"and workers with `dask worker {self.address} --nthreads 1` on machines that share the course, "
                "or grade on this machine without --scheduler (docs/instructors.md: grading on a cluster)"
            ) from None
        workers = self.client.scheduler_info()["workers"].values()
        #: {host: the Dask threads of its workers}: the students a machine grades at once, whose cores they share.
        self.slots: dict[str, int] = {}
        for w in workers:
            self.slots[w["host"]] = self.slots.get(w["host"], 0) + w["nthreads"]
        self.threads = options.jobs or MAX_IN_FLIGHT
        self.jobs = min(sum(self.slots.values()), self.threads)  # at once, as far as the cluster's threads go
        self.lanes = self.jobs
        self.where = f"on the Dask cluster at {self.address}"
        self._futures: set = set()
        self._stopping = threading.Event()
        self._run: Path | None = None
        if workers:
            log.info("Dask scheduler %s: %d workers on %d machines, %d threads", self.address, len(workers),
                     len(self.slots), sum(self.slots.values()))  # fmt: skip
        else:
            log.info("Dask scheduler %s: no worker yet; the students wait for the first (dask worker)", self.address)

    def snapshot(self, course: Course, golden: Path, private: Path) -> Path:
        """The gradebook every scratch course of the run starts from, in the course (the file system the
        workers share), readable by whoever may read the gradebook, written by no one; removed on close."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._run = course.root / ".autograder" / f"run-{stamp}-{os.getpid()}"
        self._run.mkdir(parents=True)
        path = gradebook.copy(golden, self._run / "gradebook.db")
        path.chmod(stat.S_IMODE(course.gradebook.stat().st_mode) & ~0o222)
        return path

    def here(self, course_root: str, student: str, assignments: list[str], options: Options, snapshot: str):
        """supervisor.grade_here as a task of the cluster: its Outcomes, or the exception it ended with."""
        from distributed import KilledWorker as DaskKilledWorker

        if self._stopping.is_set():
            raise RuntimeError("the run was stopped before this student was sent to the cluster")
        key = f"autograder-{student}-{uuid.uuid4().hex[:12]}"
        args = (course_root, student, list(assignments), options, snapshot, dict(self.slots))
        future = self.client.submit(remote_task, *args, key=key, retries=1, pure=False)
        self._futures.add(future)
        try:
            texts = future.result()
        except DaskKilledWorker as error:
            raise KilledWorker(
                f"the Dask workers that graded this student died each time ({error.allowed_failures + 1} tries, "
                f"the last on {error.last_worker.address}): see their logs"
            ) from None
        finally:
            self._futures.discard(future)
        return [Outcome.from_json(text) for text in texts]

    @contextlib.contextmanager
    def pool(self) -> Iterator[ThreadPoolExecutor]:
        """The coordinator's threads, each waiting for one student's task; if the run stops (an error,
        Ctrl-C), every task is cancelled first, so that no thread waits for the cluster."""
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="dask-student") as pool:
            try:
                yield pool
            except BaseException:
                self.cancel()
                raise

    def cancel(self) -> None:
        self._stopping.set()
        futures = list(self._futures)
        if futures:
            with contextlib.suppress(Exception):
                self.client.cancel(futures, reason="the grading run stopped")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()
        if self._run is not None:
            shutil.rmtree(self._run, ignore_errors=True)
            with contextlib.suppress(OSError):
                self._run.parent.rmdir()  # .autograder, unless another run is using it
        with contextlib.suppress(Exception):
            self.client.close()


def remote_task(
    course_root: str, student: str, assignments: list[str], options: Options, snapshot: str, slots: dict[str, int]
) -> list[str]:
    """One student's grading on a Dask worker: supervisor.grade_here, with as many BLAS threads and as
    large a CPU share as this machine's cores divided by the students it grades at once (``slots``:
    {host: Dask threads}); the Outcomes as JSON. Anything it raises is retried once, then reported."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    jobs = slots.get(get_address_host(worker.address)) or worker.state.nthreads
    options = dataclasses.replace(options, jobs=max(1, jobs))
    return [o.to_json() for o in supervisor.grade_here(course_root, student, assignments, options, snapshot)]
