"""The ``grading`` section: ``autograder.grading.grade`` on scratch classes of solution submissions,
one student, then a class one at a time and side by side."""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course


def build_class_course(dest: Path, assignments: list[str], students: int, source: Course | None = None) -> Course:
    """A fresh nbgrader course at dest: the assignments and `students` solution submissions of each."""
    work = {f"student{s + 1:03d}": dict.fromkeys(assignments, {}) for s in range(students)}
    return (source or Course()).scratch(dest, assignments, submissions=work)


@dataclass
class GradingRun:
    students: int
    jobs: int
    seconds: float
    problems: list[str]  # submissions not graded, or below full marks
    per_assignment: dict[str, float] = field(default_factory=dict)  # mean seconds of one submission's grading


def time_grading(course: Course, assignments: list[str], jobs: int, feedback: bool) -> GradingRun:
    """grading.grade on a course of solution submissions; every one should get full marks."""
    from .. import grading

    options = grading.Options(assignments, jobs=jobs, feedback=feedback, check=False, unsafe=True)  # our own work
    report = grading.grade(course, options)
    problems = [
        f"{o.student}/{o.assignment}: {o.status} {o.detail}".strip()
        for o in report.outcomes
        if o.status != grading.Status.GRADED or o.detail
    ]
    maxima = grading.gradebook.max_scores(course, assignments)
    for (student, a), cells in grading.gradebook.scores(course, assignments).items():
        got = sum(v or 0.0 for v in cells.values())
        if got < maxima[a]:
            problems.append(f"{student}/{a}: {got:g}/{maxima[a]:g}")
    students = len({o.student for o in report.outcomes})
    per = {a: statistics.mean([o.seconds for o in report.outcomes if o.assignment == a] or [0.0]) for a in assignments}
    return GradingRun(students, report.jobs, report.seconds, problems, per)


@dataclass
class GradingFigures:
    assignments: list[str]
    one: GradingRun
    sequential: GradingRun
    parallel: GradingRun

    @property
    def speedup(self) -> float:
        return self.sequential.seconds / self.parallel.seconds


def measure_grading(
    assignments: list[str], students: int, jobs: int, feedback: bool, source: Course | None = None
) -> GradingFigures:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        one = time_grading(build_class_course(tmp / "one", assignments, 1, source), assignments, jobs, feedback)
        seq = time_grading(
            build_class_course(tmp / "sequential", assignments, students, source), assignments, 1, feedback
        )
        par = time_grading(
            build_class_course(tmp / "parallel", assignments, students, source), assignments, jobs, feedback
        )
    return GradingFigures(assignments, one, seq, par)
