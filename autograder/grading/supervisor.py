"""The supervisor: one student's worker run in a scratch course, bounded, and whatever becomes
of it turned into one Outcome per assignment.

Bounds: the worker runs in a PID namespace of its own (every process its kernels leave behind
dies with it), in a control group (processes, memory, its share of the cores) or, where no
control group can be made, under resource limits it sets itself, and within the student's time
budget (``Options.timeout``): past it the worker is killed with its whole process group. What
it had finished counts: the result files it wrote (autograder.grading.worker), the isolated
scores of an assignment it had started; the rest is "timed out", or "failed" with its last word.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import cgroup, sandbox
from .. import kernel as sandboxed_kernel
from ..course import Course, CourseError
from ..host import pid_namespace, tasks_of_user
from . import gradebook
from .options import Options
from .outcome import Outcome, Status
from .submission import copy_submission


def grade_student(
    course: Course, student: str, assignments: list[str], options: Options, snapshot: Path
) -> list[Outcome]:
    """Grade one student by a worker on this machine; whatever happens, to it or to the grader, an Outcome per
    assignment (a LocalPool's task; a DaskPool runs ``grade_here`` on the cluster and checks the same way).

    snapshot: the gradebook each scratch course starts from. Nothing is recorded here: the coordinator records
    each student's Outcomes as they come back (``gradebook.record_outcomes``, in its own thread, the only one
    that writes the run's gradebook).
    """
    try:
        outcomes = grade_here(str(course.root), student, list(assignments), options, str(snapshot))
        return checked(student, assignments, outcomes)
    except Exception as error:  # the grader's own fault on this student: no other student loses anything
        return grading_error(student, assignments, error)


def checked(student: str, assignments: list[str], outcomes: list[Outcome]) -> list[Outcome]:
    """outcomes, if they are one per assignment of this student's; else a RuntimeError that says what came."""
    if sorted((o.student, o.assignment) for o in outcomes) != sorted((student, a) for a in assignments):
        came = [o.assignment for o in outcomes]
        raise RuntimeError(f"the grading of {student} {assignments} came back as {came}")
    return outcomes


def grading_error(student: str, assignments: list[str], error: BaseException) -> list[Outcome]:
    """A GRADING_ERROR Outcome per assignment, whose detail is the error in one line."""
    said = " ".join(f"{type(error).__name__}: {error}".split())[:500]
    return [Outcome(student, a, Status.GRADING_ERROR, detail=said) for a in assignments]


def grade_here(
    course_root: str, student: str, assignments: list[str], options: Options, snapshot: str
) -> list[Outcome]:
    """The part of one student's grading done where the student is graded (this machine, or a Dask
    worker's, on the file system it shares with the coordinator): a scratch course whose gradebook is
    a copy of the run's snapshot, a safe copy of the submission, the worker (``run_worker``), and this
    run's autograded notebooks and feedback copied into the course. An Outcome per assignment.

    Plain arguments (paths as str), so that it can be sent to another machine; it writes no gradebook
    of the course (the coordinator records the Outcomes). Refused where student code cannot be sandboxed
    (unless options.unsafe): a CourseError says so, and nothing is graded.
    """
    course = Course(course_root)
    if not options.unsafe:
        refuse_unsandboxed(where=f"on {socket.gethostname()}" if options.scheduler else "here")
    for path, what in ((course.root, "the course directory"), (Path(snapshot), "the run's gradebook snapshot")):
        if not path.exists():
            raise CourseError(
                f"{what} {path} is not on the file system of {socket.gethostname()}: every machine that grades "
                "must see the course at the same path (docs/instructors.md: grading on a cluster)"
            )
    home = Path(tempfile.mkdtemp(prefix=f"autograder-{student}-"))
    try:
        scratch, results = Course(home / "course"), home / "results"
        scratch.root.mkdir()
        results.mkdir()
        shutil.copy(course.root / "nbgrader_config.py", scratch.root)
        gradebook.copy(Path(snapshot), scratch.gradebook)  # no one writes the snapshot during the run
        refused = {
            a: copy_submission(course.path("submitted", a, student), scratch.path("submitted", a, student))
            for a in assignments
        }
        outcomes = run_worker(course, scratch, results, student, assignments, options)
        for o in outcomes:
            if refused[o.assignment]:
                o.detail = "; ".join([*refused[o.assignment], *([o.detail] if o.detail else [])])
        for a in assignments:  # this run's autograded notebooks and feedback, or none: never the last run's
            # ... and only once the worker finished them (its result file comes last): an autograded notebook
            # it did not finish is not sanitized, and formgrader would show the student's scripts as they are.
            finished = (results / f"{a}.json").is_file()
            for kind in ("autograded", "feedback"):
                made, dest = scratch.path(kind, a, student), course.path(kind, a, student)
                shutil.rmtree(dest, ignore_errors=True)
                if made.is_dir() and finished:
                    shutil.copytree(made, dest)
        return outcomes
    finally:
        shutil.rmtree(home, ignore_errors=True)


def refuse_unsandboxed(where: str = "here") -> None:
    """A CourseError where this machine cannot sandbox student code (see autograder.kernel and .sandbox).

    Without namespaces, nbgrader's kernel would run every submission with the grader's rights, next
    to the course, the gradebook and the other students: no score it leads to can be trusted.
    where: the machine, in the message ("here", or "on HOST" for a Dask worker's).
    """
    if sandboxed_kernel.available():
        return
    raise CourseError(
        f"student code cannot be sandboxed {where} ({sandbox.fallback_reason().split(';')[0]}): each submission "
        "would run with your rights, next to the course and every other student. Grade as root or where "
        "unprivileged user namespaces are allowed, or pass --unsafe if you trust every submission "
        "(docs/threat-model.md)"
    )


def run_worker(
    course: Course, scratch: Course, results: Path, student: str, assignments: list[str], options: Options
) -> list[Outcome]:
    """Run the worker within its bounds; an Outcome per assignment, read from its result files or
    made here for what it did not finish."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(options.threads)
    # The worker's temporary folders (its kernels' and sandboxes'), removed whatever becomes of it.
    # Short: the kernels' ipc sockets are in it, and a socket's path has at most 107 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="ag-"))
    env["TMPDIR"] = str(tmp)
    cmd = [
        *pid_namespace(),  # every process the kernels start, daemons included, dies with the worker
        sys.executable,
        "-m",
        "autograder.grading.worker",
        f"--course={course.root}",
        f"--scratch={scratch.root}",
        f"--results={results}",
        f"--student={student}",
        # The options whole (the worker parses no flags of its own), less the run's lists of students and
        # assignments, which it does not read: a class's ids could pass the 128 KiB one argument may hold.
        f"--options={dataclasses.replace(options, students=None, assignments=None).to_json()}",
    ]
    # At most worker_processes processes and worker_memory bytes for the worker and all it starts,
    # and its share of the cores: a submission that spins on every core slows no one else's grading.
    group = cgroup.Cgroup(pids=options.worker_processes, memory=options.memory, cpus=options.threads)
    cmd += worker_limits(options, group.held)  # what the group could not hold, the worker limits itself
    cmd += ["--", *assignments]
    start = time.perf_counter()
    log = results.parent / "worker.log"  # its stderr: a traceback if it failed
    try:
        with open(log, "wb") as stderr:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=scratch.root,
                preexec_fn=functools.partial(_preexec, group, os.getpid()),
            )
        try:
            proc.wait(timeout=options.timeout)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and every kernel it started
            proc.wait()
            killed = True
    finally:
        group.close()
        sandboxed_kernel.remove(tmp)  # follows no link a kernel left there
    seconds = time.perf_counter() - start
    last = _last_line(log)
    return [_outcome(results, student, a, seconds, killed, last, options.timeout) for a in assignments]


def _preexec(group: cgroup.Cgroup, parent: int) -> None:
    """In the worker's first process, between fork and exec: it dies with the grader (SIGKILL when the
    process that started it ends however it ends, a Dask worker killed included), and joins its
    control group. (unshare --kill-child passes that on to everything in the PID namespace.)"""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the grader died before that was set
        os.kill(os.getpid(), signal.SIGKILL)
    if group.active:
        group.preexec()


_PR_SET_PDEATHSIG = 1


def _no_prctl(*args) -> int:
    return -1


def _libc_prctl():
    """prctl(2) from the C library (looked up before any fork), or a stand-in that does nothing."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return _no_prctl


_prctl = _libc_prctl()


def _last_line(log: Path, tail: int = 8192) -> str:
    """The last line of the worker's stderr (read from its end only: it may be long)."""
    with open(log, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - tail))
        lines = f.read().decode(errors="replace").strip().splitlines()
    return (lines or ["(no output)"])[-1][:300]


def _outcome(results: Path, student: str, assignment: str, seconds: float, killed: bool, last: str, budget: float):
    """The worker's Outcome for one assignment, or what became of it if the worker did not finish it."""
    import json

    try:
        return Outcome.from_json((results / f"{assignment}.json").read_text())
    except (OSError, ValueError, TypeError):
        pass
    try:
        isolated = json.loads((results / f"{assignment}.isolated.json").read_text())
    except (OSError, ValueError):
        isolated = {}
    if killed:
        detail = f"grading stopped after {budget:.0f} s" + (": the isolated score is recorded" if isolated else "")
        return Outcome(student, assignment, Status.TIMED_OUT, seconds, detail, isolated=isolated)
    return Outcome(student, assignment, Status.FAILED, seconds, last, isolated=isolated)


def worker_limits(options: Options, held: set[str] | dict = frozenset()) -> list[str]:
    """The worker's flags that bound it where its control group holds no such limit (held: those it holds; none
    for most users but root, or a host that delegates some controllers and not others).

    RLIMIT_NPROC caps the processes (threads included) of a user id *in a user namespace*: set by the
    worker itself, inside the one of pid_namespace, it caps the worker and all it starts without
    touching anyone else. Outside a user namespace it counts every process of the user on the machine,
    so the worker gets that many more. (Root is exempt from it.) RLIMIT_AS caps each process's memory
    at worker_memory: per process, not in all, so fewer processes than in a control group.
    """
    flags = []
    if "pids" not in held:
        processes = rlimit_processes(options)
        if "--user" not in pid_namespace():
            processes += tasks_of_user()
        flags.append(f"--max-processes={processes}")
    if "memory" not in held:
        flags.append(f"--max-memory={options.memory}")
    return flags


def rlimit_processes(options: Options) -> int:
    """The process limit of a worker bounded by resource limits: ample for its threads on any machine."""
    return min(options.worker_processes, 128 + 4 * (os.cpu_count() or 1))


def worker_bounds(options: Options | None = None) -> str:
    """What bounds each grading worker on this machine, in one line (for the output of `grade`)."""
    options = options or Options()
    pid = pid_namespace()
    where = "in a PID namespace" + (" (and a user namespace) of its own" if "--user" in pid else " of its own")
    if not pid:
        where = "in no PID namespace (unshare is refused: a process a kernel leaves behind outlives its worker)"
    return f"each worker {where}, bounded by {_bounds(options, cgroup.held_limits())}"


def _bounds(options: Options, held: set[str]) -> str:
    """Each limit of a worker and what holds it (its control group, else a resource limit), in words."""
    memory = f"{options.memory / 2**30:.3g} GiB"
    by_group = [
        *([f"{options.worker_processes} processes"] if "pids" in held else []),
        *([f"{memory} in all"] if "memory" in held else []),
        *(["its share of the cores"] if "cpu" in held else []),
    ]
    by_rlimit = [
        *([f"{rlimit_processes(options)} processes"] if "pids" not in held else []),
        *([f"{memory} per process"] if "memory" not in held else []),
    ]
    said = []
    if by_group:
        said.append(f"a control group ({', '.join(by_group)})")
    if by_rlimit:
        if not held:
            why = "this user may not make a control group, which would bound the memory in all"
        else:
            missing = [w for c, w in (("pids", "processes"), ("memory", "memory (in all)")) if c not in held]
            why = f"the control group cannot limit its {' or '.join(missing)} here"
        said.append(f"resource limits ({', '.join(by_rlimit)}; {why})")
    if "cpu" not in held:
        said.append("its BLAS threads alone for the cores (no control group's CPU quota here)")
    return "; ".join(said)
