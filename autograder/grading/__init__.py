"""Grade a class with nbgrader: check the course, back up the gradebook, autograde every
submission in parallel, write feedback, export a CSV and summarize.

The pipeline, one file per step:

* ``autograder.course.Course``: the course directory: check that release/ is what source/ makes,
  release (which puts the hidden tests in the gradebook), list the submissions;
* ``gradebook``: backups, a private copy of the gradebook for the run, scores in and out, the CSV;
* ``supervisor``: one student at a time per job: a scratch course with a safe copy of the
  submission (``submission``), the worker run within its bounds (PID namespace, control group,
  time budget), every way it can end turned into an Outcome per assignment (``outcome``);
* ``worker``: the student's own process: the isolated pass (autograder.verdict), nbgrader's
  autograde with a sandboxed kernel (autograder.kernel), feedback, one result file per assignment;
* ``report``: the grade table and the flags an instructor should look at.

Everything that touches notebooks or the gradebook is nbgrader's own code (its Python API and
its ``CsvExportPlugin``); this package orders the steps, runs students side by side (nbgrader
grades one submission at a time, its issue #174), contains each student's failures, and reports.

Trust: nbgrader runs the tests inside the student's kernel, where the student's code could fake
them; so the scores recorded are those of the isolated pass (student code in a sandbox, tests in
the grader), and the real gradebook is written only by this process, once, at the end of the run.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import kernel as sandboxed_kernel
from .. import sandbox
from ..course import Course, CourseError, plain_student
from . import gradebook
from .options import Options
from .outcome import Outcome, Status
from .report import Report, summary
from .supervisor import grade_student, worker_bounds

__all__ = [
    "Course",
    "CourseError",
    "Options",
    "Outcome",
    "Report",
    "Status",
    "grade",
    "gradebook",
    "refuse_unsandboxed",
    "summary",
    "worker_bounds",
]

log = logging.getLogger(__name__)


def grade(course: Course, options: Options | None = None) -> Report:
    """Grade every submission of the course (see Options for which, and how: default, the command
    line's defaults) and export the grades."""
    options = options or Options()
    if not options.unsafe:
        refuse_unsandboxed()
    assignments = list(options.assignments or course.assignments())
    if options.check:
        course.check(assignments)
    work = course.submissions(assignments)
    if options.students is not None:
        unknown = sorted(set(options.students) - set(work))
        if unknown:
            raise CourseError(f"no submission of {', '.join(unknown)} in {course.root / 'submitted'} for {assignments}")
        work = {s: a for s, a in work.items() if s in options.students}
    start = time.perf_counter()
    course.release(assignments)  # puts the current hidden tests in the gradebook (release/ is unchanged)
    report = Report(backup=gradebook.backup(course), jobs=options.workers)
    for student in [s for s in work if not plain_student(s)]:  # said in the table, never in the gradebook
        why = "the folder's name is not a student id (letters, digits, . _ @ -): not graded; rename it"
        report.outcomes += [Outcome(student, a, Status.FAILED, detail=why) for a in work.pop(student)]
    log.info("grading %d students, %d at once", len(work), report.jobs)
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="autograder-gradebook-") as tmp:
        # Grades are collected in a private copy, put in place once at the end: nothing a
        # kernel writes to the course's gradebook during the run survives it.
        golden = gradebook.copy(course.gradebook, Path(tmp) / "gradebook.db")

        def one(student: str, theirs: list[str]) -> list[Outcome]:
            outcomes = grade_student(course, student, theirs, options, golden, lock)
            said = ", ".join(f"{o.assignment} {o.status}" for o in outcomes)
            log.info("%s: %s (%.0f s)", student, said, sum(o.seconds for o in outcomes))
            return outcomes

        with ThreadPoolExecutor(max_workers=report.jobs) as pool:
            for outcomes in pool.map(one, work, work.values()):
                report.outcomes.extend(outcomes)
        gradebook.copy(golden, course.gradebook)
    report.csv = gradebook.export_csv(course, options.csv or course.root / "grades.csv")
    report.seconds = time.perf_counter() - start
    return report


def refuse_unsandboxed() -> None:
    """A CourseError where this machine cannot sandbox student code (see autograder.kernel and .sandbox).

    Without namespaces, nbgrader's kernel would run every submission with the grader's rights, next
    to the course, the gradebook and the other students: no score it leads to can be trusted.
    """
    if sandboxed_kernel.available():
        return
    raise CourseError(
        f"student code cannot be sandboxed here ({sandbox.FALLBACK_REASON.split(';')[0]}): each submission "
        "would run with your rights, next to the course and every other student. Grade as root or where "
        "unprivileged user namespaces are allowed, or pass --unsafe if you trust every submission "
        "(README: threat model)"
    )
