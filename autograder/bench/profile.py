"""The profile of one student's whole course: where the time of grading it goes, step by step.

``profile_student`` runs ``autograder.grading.worker.grade`` on one student in this process, in a
scratch course made as the supervisor makes it, with every step timed by wrapping the functions it
calls (nothing of the grading code is changed; the wrappers are removed afterwards):

* the isolated pass (``verdict.grade_assignment``): the sandbox's start with the answer cells
  (``Sandbox._start``, ``run_cells``), the calls into it (``Sandbox.call_with``), and the rest, in the
  grader (the given cells, the test cells, the checks);
* nbgrader's autograde (``NbGraderAPI.autograde``): its ``Execute`` split by the cells' timestamps
  (nbclient's ``record_timing``) into the kernel's start (from the start of the notebook to its first
  cell's ``iopub.execute_input``), the cells (first input to last ``shell.execute_reply``) and the
  kernel's shutdown; nbgrader's other preprocessors; its converter (notebooks read, written, copied);
* the gradebook: nbgrader's writes (``Autograde.init_assignment``, ``SaveAutoGrades``,
  ``AssignLatePenalties``) and the worker's (``grading.gradebook``);
* the verdicts written into the autograded notebooks (``worker.annotate``), the feedback
  (``generate_feedback``), and what is left of the worker.

Around it, what ``grade`` adds for one student, timed the same way on the same course: its own
steps (the release that puts the hidden tests in the gradebook, the backup, the copies of the
gradebook, the CSV), the supervisor's (the scratch course, the copies of the submission and back),
and the worker's start: a process started as the supervisor starts it (PID namespace, control group)
that imports the worker and loads nbgrader's API on the course, then exits.

Every time is exclusive (a step's own time, without the steps timed inside it): the rows add up.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..course import Course

#: nbgrader's preprocessors that write the gradebook while it autogrades.
GRADEBOOK_PREPROCESSORS = ("SaveAutoGrades", "AssignLatePenalties")


class Clock:
    """Exclusive time per step: each second goes to the innermost timed call running."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.stack: list[list] = []  # [key, start, seconds of the timed calls inside]
        self.execute: list[tuple[float, float, float, float, int]] = []  # per notebook: start, cells, in cells, stop, n

    def phase(self) -> str:
        """The nbgrader step running ("autograde", "feedback"), or ""."""
        return next((f[0] for f in reversed(self.stack) if f[0] in ("autograde", "feedback")), "")

    @contextlib.contextmanager
    def timing(self, key: str):
        frame = [key, time.perf_counter(), 0.0]
        self.stack.append(frame)
        try:
            yield frame
        finally:
            self.stack.pop()
            total = time.perf_counter() - frame[1]
            self.seconds[key] += total - frame[2]
            self.counts[key] += 1
            if self.stack:
                self.stack[-1][2] += total
            frame.append(total)

    def wrap(self, key, fn):
        """fn, timed under key (a string, or a function of fn's arguments that returns one)."""

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            with self.timing(key(*args, **kwargs) if callable(key) else key):
                return fn(*args, **kwargs)

        return timed


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def execute_split(nb, started: datetime, seconds: float) -> tuple[float, float, float, float, int]:
    """(kernel start, cells, time inside the cells, kernel shutdown, cells run) of one executed notebook.

    The cells' timestamps are nbclient's (record_timing: the kernel's iopub.execute_input and
    shell.execute_reply); started is when the notebook's execution began, seconds how long it took.
    """
    inputs, replies, inside = [], [], 0.0
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        a, b = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if a and b:
            inputs.append(_when(a))
            replies.append(_when(b))
            inside += (replies[-1] - inputs[-1]).total_seconds()
    if not inputs:
        return seconds, 0.0, 0.0, 0.0, 0
    start = min(max((min(inputs) - started).total_seconds(), 0.0), seconds)
    cells = min(max((max(replies) - min(inputs)).total_seconds(), 0.0), seconds - start)
    return start, cells, min(inside, cells), seconds - start - cells, len(inputs)


@contextlib.contextmanager
def instrumented(clock: Clock, api):
    """The functions worker.grade calls, timed by clock while inside (and restored after)."""
    from unittest import mock

    from nbconvert.preprocessors import ExecutePreprocessor
    from nbconvert.preprocessors.base import Preprocessor
    from nbgrader.converters import Autograde

    from .. import sandbox, verdict
    from ..grading import gradebook, worker

    call = Preprocessor.__call__

    def preprocessor(pp, nb, resources):
        name = type(pp).__name__
        key = f"{clock.phase() or 'other'}/{name}"
        if not isinstance(pp, ExecutePreprocessor):
            with clock.timing(key):
                return call(pp, nb, resources)
        started = datetime.now(UTC)
        with clock.timing(key) as frame:
            out = call(pp, nb, resources)
        clock.execute.append(execute_split(out[0], started, frame[-1] - frame[2]))
        return out

    patches = [
        mock.patch.object(verdict, "grade_assignment", clock.wrap("isolated", verdict.grade_assignment)),
        mock.patch.object(sandbox.Sandbox, "_start", clock.wrap("sandbox start", sandbox.Sandbox._start)),
        mock.patch.object(sandbox.Sandbox, "run_cells", clock.wrap("sandbox cells", sandbox.Sandbox.run_cells)),
        mock.patch.object(sandbox.Sandbox, "call_with", clock.wrap("sandbox calls", sandbox.Sandbox.call_with)),
        mock.patch.object(api, "autograde", clock.wrap("autograde", api.autograde)),
        mock.patch.object(api, "generate_feedback", clock.wrap("feedback", api.generate_feedback)),
        mock.patch.object(Preprocessor, "__call__", preprocessor),
        mock.patch.object(Autograde, "init_assignment", clock.wrap("nbgrader set-up", Autograde.init_assignment)),
        mock.patch.object(worker, "annotate", clock.wrap("annotate", worker.annotate)),
    ]
    for name in ("record", "submission_scores", "late_penalties"):
        patches.append(mock.patch.object(gradebook, name, clock.wrap("gradebook (worker)", getattr(gradebook, name))))
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        yield


@contextlib.contextmanager
def blas_threads(threads: int):
    """BLAS threads of this process and of the kernels it starts, as grade gives a worker."""
    from threadpoolctl import threadpool_limits

    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, str(threads)))
    try:
        with threadpool_limits(threads):
            yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def worker_start(course: Course, threads: int = 1, repeat: int = 3) -> float:
    """Median wall seconds of a process started as the supervisor starts a worker (PID namespace,
    control group, BLAS threads) that imports the worker and loads nbgrader's API on the course."""
    from .. import cgroup
    from ..host import pid_namespace

    code = (
        "import sys\nimport autograder.grading.worker\nfrom autograder.course import Course\nCourse(sys.argv[1]).api\n"
    )
    env = dict(os.environ)
    env.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), str(threads)))
    package_parent = str(Path(__file__).resolve().parents[2])  # this autograder, as the worker imports it
    env["PYTHONPATH"] = os.pathsep.join([package_parent, *filter(None, [env.get("PYTHONPATH")])])
    times = []
    for _ in range(max(1, repeat)):
        group = cgroup.Cgroup(cpus=threads)
        start = time.perf_counter()
        try:
            subprocess.run(
                [*pid_namespace(), sys.executable, "-c", code, str(course.root)],
                env=env,
                cwd=course.root,
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=group.preexec if group.active else None,
            )
        finally:
            group.close()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def empty_sandbox(repeat: int = 3) -> float:
    """Median wall seconds of starting a sandbox and running one empty cell in it."""
    from ..sandbox import Sandbox

    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        with Sandbox() as box:
            box.run_cells([{"id": "empty", "source": "pass", "student": False}])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Row:
    label: str
    seconds: float
    depth: int = 0  # 0: a step; 1: a part of the step above
    note: str = ""


@dataclass
class Profile:
    """Where one student's course went: exclusive seconds per step (Clock), and what was measured around it."""

    student: str
    assignments: list[str]
    seconds: dict[str, float]
    counts: dict[str, int]
    execute: list[tuple[float, float, float, float, int]]
    worker: float  # wall of worker.grade
    per_assignment: dict[str, float] = field(default_factory=dict)  # the worker's seconds of each assignment
    grade_steps: float = 0.0  # grade's own: release, backup, gradebook copies, CSV
    supervisor: float = 0.0  # the scratch course, the submission copied in, the results copied back
    worker_start: float = 0.0
    empty_sandbox: float = 0.0
    threads: int = 1
    statuses: list[str] = field(default_factory=list)  # "assignment: status" of what was not graded

    def _sum(self, prefix: str = "", keys=(), exclude=()) -> float:
        return sum(
            v
            for k, v in self.seconds.items()
            if (k in keys or (prefix and k.startswith(prefix))) and k.split("/", 1)[-1] not in exclude
        )

    def rows(self) -> list[Row]:
        s = defaultdict(float, self.seconds)
        kernel_start, cells, inside, stop, n_cells = (sum(x[i] for x in self.execute) for i in range(5))
        nb_gradebook = self._sum(keys=[f"autograde/{n}" for n in GRADEBOOK_PREPROCESSORS] + ["nbgrader set-up"])
        other_pp = self._sum(prefix="autograde/", exclude=("SandboxedExecute", "Execute", *GRADEBOOK_PREPROCESSORS))
        feedback_pp = self._sum(prefix="feedback/")
        started = s["sandbox start"] + s["sandbox cells"]
        isolated = s["isolated"] + started + s["sandbox calls"]
        autograde = s["autograde"] + kernel_start + cells + stop + other_pp
        gradebook = nb_gradebook + s["gradebook (worker)"]
        feedback = s["feedback"] + feedback_pp
        kernels = len(self.execute)

        def slowest(i: int) -> float:
            return max((x[i] for x in self.execute), default=0.0)

        rest = self.worker - isolated - autograde - gradebook - s["annotate"] - feedback
        return [
            Row("grade's own steps", self.grade_steps, note="release into the gradebook, backup, copies, CSV"),
            Row("supervisor", self.supervisor, note="scratch course, submission copied in, results copied back"),
            Row("worker start", self.worker_start, note="Python, imports, nbgrader's API; PID namespace, cgroup"),
            Row("isolated pass", isolated),
            Row(
                "sandbox start and answer cells",
                started,
                1,
                f"sandboxes started: {self.counts.get('sandbox start', 0)}; an empty one: {self.empty_sandbox:.2f} s",
            ),
            Row("calls into the sandbox", s["sandbox calls"], 1, f"{self.counts.get('sandbox calls', 0)} calls"),
            Row("tests and checks, in the grader", s["isolated"], 1, "given cells, test cells, checks"),
            Row("nbgrader autograde", autograde, note="sandboxed kernel, visible tests only"),
            Row("kernel start", kernel_start, 1, f"kernels: {kernels}, slowest {slowest(0):.2f} s; to the first cell"),
            Row("cells", cells, 1, f"{n_cells} cells, {inside:.2f} s inside them (record_timing)"),
            Row("kernel shutdown", stop, 1, f"slowest {slowest(3):.2f} s"),
            Row("other preprocessors", other_pp, 1, "sanitizing, hidden tests cleared, output limits"),
            Row("nbgrader's converter", s["autograde"], 1, "notebooks read, written, copied"),
            Row("gradebook", gradebook),
            Row("nbgrader's writes", nb_gradebook, 1, "student, submission, scores, late penalties"),
            Row("the worker's", s["gradebook (worker)"], 1, "scores read and recorded, late penalties"),
            Row("verdicts into the autograded notebooks", s["annotate"], note="annotate, sanitize"),
            Row("feedback", feedback, note="nbgrader generate_feedback, HTML"),
            Row("its preprocessors", feedback_pp, 1, "grades read, hidden tests and scripts removed"),
            Row("HTML and the rest", s["feedback"], 1),
            Row("the rest of the worker", rest, note="result files, timed-out cells"),
        ]

    @property
    def total(self) -> float:
        return self.grade_steps + self.supervisor + self.worker_start + self.worker


def profile_student(
    course: Course, student: str, assignments: list[str], feedback: bool, work: Path, threads: int = 1
) -> Profile:
    """Grade one student's course in this process, timing every step (see the module's docstring)."""
    from .. import kernel
    from ..grading import Options, gradebook, worker
    from ..grading.outcome import Outcome, Status
    from ..grading.submission import copy_submission

    work.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    # grade's own steps, as it takes them for a run of one student
    start = time.perf_counter()
    course.release(assignments)
    gradebook.backup(course)
    golden = gradebook.copy(course.gradebook, work / "golden.db")
    gradebook.export_csv(course, work / "grades.csv")
    grade_steps = time.perf_counter() - start
    # the supervisor's: a scratch course with the gradebook and the submission
    start = time.perf_counter()
    scratch, results = Course(work / "scratch"), work / "results"
    scratch.root.mkdir()
    results.mkdir()
    shutil.copy(course.root / "nbgrader_config.py", scratch.root)
    gradebook.copy(golden, scratch.gradebook)
    for a in assignments:
        copy_submission(course.path("submitted", a, student), scratch.path("submitted", a, student))
    supervisor = time.perf_counter() - start
    start_seconds = worker_start(course, threads)
    empty = empty_sandbox()
    tmp, saved = tempfile.mkdtemp(prefix="ag-"), tempfile.tempdir
    tempfile.tempdir = tmp  # the worker's TMPDIR, as the supervisor gives it
    try:
        with blas_threads(threads), instrumented(clock, scratch.api):
            start = time.perf_counter()
            worker.grade(course, scratch, student, assignments, results, Options(feedback=feedback))
            seconds = time.perf_counter() - start
    finally:
        tempfile.tempdir = saved
        kernel.remove(Path(tmp))  # as the supervisor removes it: following no link a kernel left
    start = time.perf_counter()
    for a in assignments:  # the results copied into the course, as the supervisor does
        for kind in ("autograded", "feedback"):
            made, dest = scratch.path(kind, a, student), work / "course" / kind / a
            if made.is_dir():
                shutil.copytree(made, dest)
    supervisor += time.perf_counter() - start
    per, statuses = {}, []
    for a in assignments:
        try:
            o = Outcome.from_json((results / f"{a}.json").read_text())
        except (OSError, ValueError):
            statuses.append(f"{a}: no result")
            continue
        per[a] = o.seconds
        if o.status != Status.GRADED:
            statuses.append(f"{a}: {o.status}")
    return Profile(
        student,
        list(assignments),
        dict(clock.seconds),
        dict(clock.counts),
        clock.execute,
        seconds,
        per,
        grade_steps,
        supervisor,
        start_seconds,
        empty,
        threads,
        statuses,
    )
