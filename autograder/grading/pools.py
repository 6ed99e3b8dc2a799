"""Where students are graded: side by side on this machine, or on the workers of a Dask cluster.

One student's grading is split in two (autograder.grading.supervisor): ``grade_here``, done where
the student is graded (scratch course, submission copy, the bounded and sandboxed worker, this run's
autograded notebooks and feedback copied into the course), and the recording, done by the coordinator
alone as each student's Outcomes come back (scores and late penalties into the run's private gradebook,
in its own thread: grading._grade). A pool (``Pool``) takes one student at a time (``submit``) and gives
back a ``concurrent.futures.Future`` of their Outcomes, never an exception (the grader's own fault on a
student is that student's ``grading_error``); the coordinator keeps ``in_flight`` of them outstanding.
The pools differ only in where ``grade_here`` runs:

* ``LocalPool``: in a thread of the coordinator (``supervisor.grade_student``), as many students at
  once as ``Options.workers``;
* ``DaskPool`` (``Options.scheduler``, ``grade --scheduler tcp://HOST:8786``): as a task of a
  ``dask.distributed`` cluster (``remote_task``), with plain arguments (paths as str, the Options),
  the Outcomes coming back as JSON. No coordinator thread waits for it: Dask's done-callback
  completes the student's Future. The workers share the course's file system, at the same path;
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
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..course import Course, CourseError
from . import gradebook, supervisor
from .options import Options
from .outcome import Outcome
from .supervisor import grading_error

log = logging.getLogger(__name__)

#: Seconds to wait for the scheduler to answer before saying it cannot be reached.
CONNECT_TIMEOUT = 20.0
#: Students sent to the cluster at once when --jobs does not say (the scheduler queues them; no thread waits).
MAX_IN_FLIGHT = 256


class Pool(Protocol):
    """What the coordinator needs of a pool (LocalPool, DaskPool)."""

    where: str  # in words, for the log
    jobs: int  # students graded at once
    lanes: int  # workers a lone student's assignments may be split into (grading.lanes)
    in_flight: int  # students the coordinator hands over before it waits for one to come back

    def snapshot(self, course: Course, golden: Path, private: Path) -> Path: ...

    def submit(
        self, course: Course, student: str, assignments: list[str], options: Options, snapshot: Path
    ) -> Future[list[Outcome]]:
        """One student's grading, started: its Outcomes, one per assignment, whatever happens (never an exception)."""

    def cancel(self) -> None:
        """The run stops: no student not yet begun is begun (a Dask task is cancelled on the cluster)."""

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
        self.jobs = self.in_flight = options.workers
        #: Workers that can run at once at full speed: a lone student's lanes (grading.lanes) are no more.
        self.lanes = min(self.jobs, os.cpu_count() or 1)
        self._threads: ThreadPoolExecutor | None = None

    def snapshot(self, course: Course, golden: Path, private: Path) -> Path:
        """The gradebook every scratch course of the run starts from: here, in the run's private folder."""
        return gradebook.copy(golden, private / "snapshot.db")

    def submit(
        self, course: Course, student: str, assignments: list[str], options: Options, snapshot: Path
    ) -> Future[list[Outcome]]:
        if self._threads is None:
            raise RuntimeError("a LocalPool grades inside its with block")
        return self._threads.submit(supervisor.grade_student, course, student, assignments, options, snapshot)

    def cancel(self) -> None:
        """Nothing of its own to cancel: the coordinator cancels the futures of the students not yet begun."""

    def __enter__(self):
        self._threads = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="student")
        return self

    def __exit__(self, *exc) -> None:
        threads, self._threads = self._threads, None
        if threads is not None:  # a run stopped (an error, Ctrl-C): no student not yet begun is begun
            threads.shutdown(wait=True, cancel_futures=exc[0] is not None)


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
        self.in_flight = options.jobs or MAX_IN_FLIGHT
        self.jobs = min(sum(self.slots.values()), self.in_flight)  # at once, as far as the cluster's threads go
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

    def submit(
        self, course: Course, student: str, assignments: list[str], options: Options, snapshot: Path
    ) -> Future[list[Outcome]]:
        """supervisor.grade_here as a task of the cluster; Dask's done-callback (in a thread of Dask's) completes
        the student's Future: the Outcomes, checked as supervisor.checked does, or the student's grading error."""
        done: Future[list[Outcome]] = Future()
        done.set_running_or_notify_cancel()
        if self._stopping.is_set():
            stopped = RuntimeError("the run was stopped before this student was sent to the cluster")
            done.set_result(grading_error(student, assignments, stopped))
            return done
        key = f"autograder-{student}-{uuid.uuid4().hex[:12]}"
        args = (str(course.root), student, list(assignments), options, str(snapshot), dict(self.slots))
        try:
            future = self.client.submit(remote_task, *args, key=key, retries=1, pure=False)
        except Exception as error:  # the scheduler gone (ClosedClientError…): this student's grading error
            done.set_result(grading_error(student, assignments, error))
            return done
        self._futures.add(future)

        def came_back(future) -> None:
            # Dask's one callback thread reads each result (a few KB of JSON); whatever happens, the student's
            # Future is completed, or the coordinator would wait for it for ever.
            self._futures.discard(future)
            try:
                outcomes = supervisor.checked(student, assignments, [Outcome.from_json(t) for t in future.result()])
            except BaseException as error:  # the task's own exception (KilledWorker: told shortly), or a cancel
                try:
                    outcomes = grading_error(student, assignments, _told(error))
                except BaseException:  # an exception that cannot even be said
                    unread = RuntimeError("the cluster's answer could not be read")
                    outcomes = grading_error(student, assignments, unread)
            done.set_result(outcomes)

        future.add_done_callback(came_back)
        return done

    def cancel(self) -> None:
        self._stopping.set()
        futures = list(self._futures.copy())  # copied at once: callbacks discard from it in Dask's thread
        if futures:
            with contextlib.suppress(Exception):
                self.client.cancel(futures, reason="the grading run stopped")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()  # every task not come back (an error, Ctrl-C): none goes on grading for no one
        if self._run is not None:
            shutil.rmtree(self._run, ignore_errors=True)
            with contextlib.suppress(OSError):
                self._run.parent.rmdir()  # .autograder, unless another run is using it
        with contextlib.suppress(Exception):
            self.client.close()


def _told(error: BaseException) -> BaseException:
    """Dask's KilledWorker told shortly: which workers died, where to look."""
    from distributed import KilledWorker as DaskKilledWorker

    if isinstance(error, DaskKilledWorker):
        return KilledWorker(
            f"the Dask workers that graded this student died each time ({error.allowed_failures + 1} tries, "
            f"the last on {error.last_worker.address}): see their logs"
        )
    return error


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
