"""The ``grading`` section: a class of realistic students graded by ``grade`` and by plain nbgrader.

``class_work`` makes the class: students cycle through the demo's kinds of work (``KINDS``: perfect,
buggy, blank, crashing) and the sample submissions of ``autograder.samples``, every student submitting
every assignment. ``measure_grading`` then, in one run, on copies of that class (no two runs share a
gradebook): one student alone with ``autograder.grading.grade`` (the time a student waits for feedback),
a student whose every function hangs alone (``hanging_answers``),
the whole class with ``grade`` (students side by side: machine time per student = wall x the cores
used / students), plain nbgrader's autograde of the same submissions one notebook after another (nbgrader's
own API, its own kernels: no sandbox, no isolated pass), and the profile of one student's course
(``autograder.bench.profile``).
"""

from __future__ import annotations

import importlib
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import cells
from ..course import Answers, Course
from .profile import Profile, profile_student

#: The kinds of work of the class, in the order students cycle through them (as the demo's students).
KINDS = ("perfect", "buggy", "blank", "crashing")

#: The issue's figures of "today" (docs/benchmarks.md, 2026-11-30), which the new ones are compared with:
#: machine time per student of a class graded 2 at once on 2 cores, and one student's course graded alone.
TODAY = {"machine": 37.0, "one": 60.0}
TODAY_DATE = "2026-11-30"
#: The targets of issue 15, in seconds: machine time per student, one student's course alone (wall), and
#: the course of a student whose every function hangs, alone (wall).
TARGET = {"machine": 10.0, "one": 10.0, "hang": 120.0}
#: The student whose every function hangs (hanging_answers).
HANGING = "s000_hangs"
#: Issue 31's target, in seconds: one assignment of one student, submit to feedback written, alone (what the
#: feedback service pays for each hand-in: autograder/service.py grades with these options).
TARGET_ASSIGNMENT = 5.0


def _samples(assignment: str) -> dict:
    """The sample submissions of one assignment ({} if it has none)."""
    try:
        module = importlib.import_module(f"autograder.samples.a{assignment}")
    except ImportError:
        return {}
    return module.SUBMISSIONS


def kind_choices(assignment: str) -> dict[str, list[Answers]]:
    """{kind: the works a student of that kind may hand in for one assignment}, cycled through.

    perfect: the solutions, then the samples that earn full marks (loops, a later cell); buggy: the
    demo's beginner, then every sample that loses points; blank: the release untouched; crashing: the
    demo's crashing student (code that raises, a syntax error, an infinite loop in 02).
    """
    from ..demo import DEMO_STUDENTS

    samples = _samples(assignment)
    return {
        "perfect": [{}] + [s.answers for s in samples.values() if not s.scores],
        "buggy": [DEMO_STUDENTS["ben_beginner"].get(assignment, {})]
        + [s.answers for s in samples.values() if s.scores],
        "blank": [None],
        "crashing": [DEMO_STUDENTS["dan_crash"].get(assignment, {})],
    }


def hanging_answers(assignment: str, source: Course | None = None) -> dict[str, str]:
    """The answers of a student whose every graded function hangs: each function an answer cell of the
    solution defines becomes ``while True: pass`` (the cell's imports kept). Issue 15's worst case."""
    import ast

    import nbformat

    from ..course import student_answer

    out = {}
    for path in sorted((source or Course()).path("source", assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if not cells.is_answer(cell):
                continue
            body = ast.parse(student_answer(cell.source)).body
            names = [n.name for n in body if isinstance(n, ast.FunctionDef)]
            hang = [f"def {name}(*args, **kwargs):\n    while True:\n        pass" for name in names]
            if hang:
                imports = [ast.unparse(n) for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
                out[cells.grade_id(cell)] = "\n".join(imports + hang)
    return out


def class_work(assignments: list[str], students: int) -> tuple[dict[str, dict[str, Answers]], dict[str, str]]:
    """({student: {assignment: Answers}}, {student: kind}): `students` students, every one submitting
    every assignment; student i is of kind KINDS[i % 4], and the k-th student of a kind hands in the
    k-th of that kind's works of each assignment (cycling)."""
    choices = {a: kind_choices(a) for a in assignments}
    work, kinds = {}, {}
    for i in range(students):
        kind, k = KINDS[i % len(KINDS)], i // len(KINDS)
        student = f"s{i + 1:03d}_{kind}"
        kinds[student] = kind
        work[student] = {a: choices[a][kind][k % len(choices[a][kind])] for a in assignments}
    return work, kinds


def build_class_course(
    dest: Path, assignments: list[str], students: int, source: Course | None = None, config: str = ""
) -> tuple[Course, dict[str, str]]:
    """A fresh nbgrader course at dest holding the class of class_work; returns it and {student: kind}."""
    work, kinds = class_work(assignments, students)
    return (source or Course()).scratch(dest, assignments, config=config, submissions=work), kinds


def class_config() -> str:
    """The class's nbgrader configuration on top of the course's: the demo's cell timeout (a hanging
    cell costs that, not the course's 120 s), for grade and plain nbgrader alike."""
    from ..demo import DEMO_TIMEOUT

    return f"\n# The bench's class: the demo's cell timeout.\nc.Execute.timeout = {DEMO_TIMEOUT}\n"


def copy_course(course: Course, dest: Path) -> Course:
    """A copy of a whole course folder (its gradebook included): each run grades a copy of its own."""
    shutil.copytree(course.root, dest, symlinks=True)
    return Course(dest)


@dataclass
class GradingRun:
    """One grading of (part of) the class: its wall time and what each student's course took."""

    what: str  # "grade" or "nbgrader"
    students: int
    jobs: int
    seconds: float  # wall, the whole run
    per_student: dict[str, float] = field(default_factory=dict)  # seconds of one student's course (see below)
    problems: list[str] = field(default_factory=list)  # submissions that failed to grade
    scores: dict[tuple[str, str], float] = field(default_factory=dict)  # {(student, assignment): total recorded}
    per_assignment: dict[str, float] = field(default_factory=dict)  # mean seconds of one submission of each
    cpu: float = 0.0  # CPU seconds of the run: this process and every process it (or they) waited for
    lost: dict[str, float] = field(default_factory=dict)  # {assignment: points lost, by the class report's CSV}
    possible: dict[str, float] = field(default_factory=dict)  # {assignment: its points, from the gradebook}
    recurring: int = 0  # the class report's bugs that come back in a later assignment (rows of its page)
    report: Path | None = None  # the class report's page (in the run's course, gone with it: see keep)

    @property
    def cpu_per_student(self) -> float:
        return self.cpu / max(self.students, 1)

    @property
    def cores(self) -> int:
        """The cores the run used: as many as students graded at once, at most the machine's."""
        return min(self.jobs, os.cpu_count() or 1)

    @property
    def machine_per_student(self) -> float:
        """Machine time per student: wall x the cores used / students."""
        return self.seconds * self.cores / max(self.students, 1)


def cpu_seconds() -> float:
    """CPU seconds (user and system) of this process and of the processes it waited for, and theirs."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _totals(course: Course, assignments: list[str]) -> dict[tuple[str, str], float]:
    from ..grading import gradebook

    return {k: sum(v or 0.0 for v in cells.values()) for k, cells in gradebook.scores(course, assignments).items()}


def time_grade(course: Course, assignments: list[str], jobs: int, feedback: bool, students=None) -> GradingRun:
    """``grading.grade`` on the course (only `students`, if given), as ``python -m autograder grade`` runs it.

    per_student: the worker's seconds of the student's assignments (start of the worker excluded).
    """
    from .. import grading

    options = grading.Options(
        assignments, students=students, jobs=jobs, feedback=feedback, check=False, unsafe=True
    )  # our own submissions
    start, cpu = time.perf_counter(), cpu_seconds()
    report = grading.grade(course, options)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    per: dict[str, float] = {}
    for o in report.outcomes:
        per[o.student] = per.get(o.student, 0.0) + o.seconds
    problems = [f"{o.student}/{o.assignment}: {o.status}" for o in report.outcomes if o.status != grading.Status.GRADED]
    scores = _totals(course, assignments)
    run = GradingRun("grade", len(per), report.jobs, seconds, per, problems, scores, _means(report.outcomes), cpu)
    if report.class_csv is not None:
        from ..grading import class_report, gradebook

        for row in class_report.read_csv(report.class_csv):
            run.lost[row["assignment"]] = run.lost.get(row["assignment"], 0.0) + float(row["points_lost"])
        run.possible = gradebook.max_scores(course, assignments)
        run.recurring = len(class_report.build(course).recurrences)
        run.report = report.class_report
    return run


def time_assignments(course: Course, assignments: list[str], student: str) -> dict[str, float]:
    """{assignment: wall seconds of ``grade`` on that one assignment of student, alone}, with the feedback
    service's options (no backup, no consistency check, no class report): a hand-in, submit to feedback written."""
    from .. import grading

    out = {}
    for assignment in assignments:
        options = grading.Options(
            [assignment], students=[student], backup=False, check=False, class_report=False, unsafe=True
        )
        start = time.perf_counter()
        grading.grade(course, options)
        out[assignment] = time.perf_counter() - start
    return out


def _means(outcomes) -> dict[str, float]:
    """{assignment: mean seconds of one submission} of outcomes (anything with .assignment and .seconds)."""
    times: dict[str, list[float]] = {}
    for o in outcomes:
        times.setdefault(o.assignment, []).append(o.seconds)
    return {a: statistics.mean(t) for a, t in times.items()}


def time_nbgrader(course: Course, assignments: list[str]) -> GradingRun:
    """Plain nbgrader: its ``autograde`` of every submission, one notebook after another (``NbGraderAPI``,
    nbgrader's own kernels with the grader's rights, hidden tests in them: what an instructor without
    this project runs, ``nbgrader autograde`` assignment by assignment)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    api = course.api
    per: dict[str, float] = {}
    problems = []
    for assignment in assignments:
        for student in course.submissions([assignment]):
            t = time.perf_counter()
            result = api.autograde(assignment, student, force=True, create=True)
            per[student] = per.get(student, 0.0) + time.perf_counter() - t
            if not result.get("success"):
                problems.append(f"{student}/{assignment}: failed")
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return GradingRun("nbgrader", len(per), 1, seconds, per, problems, _totals(course, assignments), cpu=cpu)


@dataclass
class GradingFigures:
    assignments: list[str]
    kinds: dict[str, str]  # {student: kind}
    one: GradingRun  # grade, one student alone
    klass: GradingRun  # grade, the whole class side by side
    plain: GradingRun  # plain nbgrader autograde of the same class
    profile: Profile | None = None
    cell_timeout: float | None = None
    hang: GradingRun | None = None  # grade, one student alone whose every function hangs (hanging_answers)
    one_assignment: dict[str, float] = field(default_factory=dict)  # {assignment: wall, one hand-in alone}
    class_report: Path | None = None  # the class's report (grade's, of the klass run), where it was kept

    def report_disagreements(self) -> list[str]:
        """Assignments whose points lost by the class differ between the class report and the gradebook's
        scores of the klass run (each submission: its assignment's points less its total)."""
        out = []
        for a in self.assignments:
            top = self.klass.possible.get(a, 0.0)
            gradebook = sum(top - total for (_, b), total in self.klass.scores.items() if b == a)
            said = self.klass.lost.get(a, 0.0)
            if abs(gradebook - said) > 1e-6:
                out.append(f"{a.split('_', 1)[0]} report {said:g} vs gradebook {gradebook:g}")
        return out

    def by_kind(self, run: GradingRun) -> dict[str, float]:
        """{kind: the mean seconds of one student's course of that kind} in a run."""
        out = {}
        for kind in KINDS:
            times = [s for student, s in run.per_student.items() if self.kinds.get(student) == kind]
            if times:
                out[kind] = statistics.mean(times)
        return out

    def disagreements(self) -> list[str]:
        """Submissions whose total differs between grade (the isolated pass) and plain nbgrader (in-kernel)."""
        keys = sorted(set(self.klass.scores) | set(self.plain.scores))
        return [
            f"{s}/{a.split('_', 1)[0]} {self.klass.scores.get((s, a), 0):g} vs {self.plain.scores.get((s, a), 0):g}"
            for s, a in keys
            if abs(self.klass.scores.get((s, a), 0.0) - self.plain.scores.get((s, a), 0.0)) > 1e-9
        ]


def measure_grading(
    assignments: list[str],
    students: int,
    jobs: int,
    feedback: bool,
    source: Course | None = None,
    profile: bool = True,
    step=lambda what: None,
    keep: Path | None = None,
) -> GradingFigures:
    """The class built once; then, each on a copy of it: one student alone, the class with grade,
    the class with plain nbgrader, and the profile of one student's course. step(what) says what runs.
    keep: a folder where the class run's class report (page and CSV) is copied, as the class is deleted."""
    from ..demo import DEMO_TIMEOUT

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        step(f"grading: building a class of {students} students x {len(assignments)} assignments")
        base, kinds = build_class_course(tmp / "class", assignments, students, source, class_config())
        first = next(iter(kinds))
        step(f"grading: {first} alone, with grade")
        one = time_grade(copy_course(base, tmp / "one"), assignments, jobs, feedback, students=[first])
        step(f"grading: {first}'s assignments one at a time, alone, as the feedback service grades a hand-in")
        single = time_assignments(copy_course(base, tmp / "single"), assignments, first)
        step(f"grading: {HANGING} alone (every function hangs), with grade")
        hung = (source or Course()).scratch(
            tmp / "hang", assignments, config=class_config(),
            submissions={HANGING: {a: hanging_answers(a, source) for a in assignments}},
        )  # fmt: skip
        hang = time_grade(hung, assignments, jobs, feedback)
        step(f"grading: the class with grade, {jobs} at once")
        klass = time_grade(copy_course(base, tmp / "grade"), assignments, jobs, feedback)
        kept = None
        if keep is not None and klass.report is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(klass.report.parent, keep)
            kept = Path(keep) / klass.report.name
        step("grading: the class with plain nbgrader autograde, one notebook after another")
        plain = time_nbgrader(copy_course(base, tmp / "nbgrader"), assignments)
        prof = None
        if profile:
            step(f"grading: profile of {first}'s course (in-process worker.grade)")
            prof = profile_student(copy_course(base, tmp / "profile"), first, assignments, feedback, tmp / "work")
    return GradingFigures(
        assignments, kinds, one, klass, plain, prof, DEMO_TIMEOUT, hang, class_report=kept, one_assignment=single
    )
