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
* ``report``: the grade table and the flags an instructor should look at;
* ``class_report``: the class report, what the class lost part by part, to which bug, and the bugs that come
  back in a later assignment (a page with bar charts and a CSV, in COURSE/reports/).
* ``pools``: where students are graded: side by side in this process's threads, or on the workers
  of a Dask cluster (``Options.scheduler``) that share the course's file system.

Everything that touches notebooks or the gradebook is nbgrader's own code (its Python API and
its ``CsvExportPlugin``); this package orders the steps, runs students side by side (nbgrader
grades one submission at a time, its issue #174), contains each student's failures, and reports.

Trust: nbgrader runs the tests inside the student's kernel, where the student's code could fake
them; so the scores recorded are those of the isolated pass (student code in a sandbox, tests in
the grader), and the real gradebook is written only by this process, once, at the end of the run.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from ..course import Course, CourseError, plain_student
from . import class_report, gradebook, pools
from .options import Options
from .outcome import Outcome, Status
from .report import Report, progress, summary
from .supervisor import grading_error, refuse_unsandboxed, worker_bounds

__all__ = [
    "Course",
    "CourseError",
    "Options",
    "Outcome",
    "Report",
    "Status",
    "class_report",
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
    if not options.unsafe and not options.scheduler:  # on a cluster, each Dask worker refuses for itself
        refuse_unsandboxed()
    with pools.open_pool(options) as runner:  # this machine's threads, or a Dask cluster (reached first)
        with gradebook.exclusive(course, log):  # one run at a time: grade, the feedback service, formgrader's
            return _grade(course, options, runner)


def _grade(course: Course, options: Options, runner: pools.Pool) -> Report:
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
    report = Report(backup=gradebook.backup(course) if options.backup else None, jobs=runner.jobs)
    for student in [s for s in work if not plain_student(s)]:  # said in the table, never in the gradebook
        why = "the folder's name is not a student id (letters, digits, . _ @ -): not graded; rename it"
        report.outcomes += [Outcome(student, a, Status.FAILED, detail=why) for a in work.pop(student)]
    log.info("grading %d students, %d at once, %s", len(work), report.jobs, runner.where)
    with tempfile.TemporaryDirectory(prefix="autograder-gradebook-") as tmp:
        # Grades are collected in a private copy (each scratch course starts from it), and recorded in the
        # course's gradebook once at the end, submission by submission.
        golden = gradebook.copy(course.gradebook, Path(tmp) / "gradebook.db")
        snapshot = runner.snapshot(course, golden, Path(tmp))  # what every scratch course starts from

        tasks = lanes(course, work, runner.lanes)
        left = {student: sum(s == student for s, _ in tasks) for student in work}  # tasks of each not done
        results: dict[int, list[Outcome]] = {}
        waiting = iter(enumerate(tasks))
        futures: dict[Future, int] = {}
        with progress(len(work)) as done, _settled(runner, futures):
            while True:
                # As many students handed over as the pool takes at once; then each recorded here as it comes
                # back (one writer, no lock), and the next handed over.
                for k, (student, theirs) in itertools.islice(waiting, runner.in_flight - len(futures)):
                    futures[runner.submit(course, student, theirs, options, snapshot)] = k
                if not futures:
                    break
                for future in wait(futures, return_when=FIRST_COMPLETED).done:
                    k = futures.pop(future)
                    (student, theirs), outcomes = tasks[k], future.result()
                    try:
                        gradebook.record_outcomes(golden, outcomes)
                    except Exception as error:  # the grader's own fault on this student: no other loses anything
                        outcomes = grading_error(student, theirs, error)
                    results[k] = outcomes
                    said = ", ".join(f"{o.assignment} {o.status}" for o in outcomes)
                    log.info("%s: %s (%.0f s)", student, said, sum(o.seconds for o in outcomes))
                    left[student] -= 1
                    if not left[student]:
                        done()
        graded = [o for k in sorted(results) for o in results[k]]  # in the order of the tasks
        report.outcomes.extend(graded)
        # Into the course's gradebook, this run's submissions only: a manual grade entered in formgrader
        # meanwhile, or a student the feedback service graded, stays; a grading error (the grader's own
        # fault, never recorded in golden) leaves the student's previous grades as they were.
        gradebook.record_outcomes(course.gradebook, [o for o in graded if o.status != Status.GRADING_ERROR])
    report.csv = gradebook.export_csv(course, options.csv or course.root / "grades.csv")
    if options.class_report:
        report.class_report, report.class_csv = write_class_report(course)
    report.seconds = time.perf_counter() - start
    return report


@contextlib.contextmanager
def _settled(runner: pools.Pool, futures: dict[Future, int]):
    """If the run stops (an error, Ctrl-C), the students not yet begun are not begun, and those under way come back
    (a Dask task cancelled comes back at once) before the run's snapshot and the course's lock are let go: no
    student's grading copies anything into the course once another run may hold it."""
    try:
        yield
    except BaseException:
        for future in futures:
            future.cancel()
        runner.cancel()
        wait(futures)
        raise


def write_class_report(course: Course) -> tuple[Path | None, Path | None]:
    """The class report of the whole class, as the gradebook holds it now (``class_report.write``): (its page,
    its CSV); (None, None), said in the log, where it could not be written: the grades are recorded by then,
    and stand."""
    try:
        return class_report.write(course)
    except Exception:
        log.exception("the class report could not be written (the grades are recorded)")
        return None, None


def lanes(course: Course, work: dict[str, list[str]], jobs: int) -> list[tuple[str, list[str]]]:
    """The grading tasks, (student, assignments): one per student, each graded by a worker of its own;
    but where there are fewer students than jobs (here: the workers that run at full speed at once, the
    cores; one student who waits for feedback on a submission), each student's assignments are split
    into up to jobs // students lanes, graded side by side so that the cores all work: assignments are
    dealt heaviest first, each to the lane with the least so far (by ``cost``). Each lane is a task of
    its own (its own worker, scratch course and time budget).
    """
    per = max(1, jobs // max(len(work), 1))
    if per == 1:
        return list(work.items())
    weights = {a: cost(course, a) for a in {a for theirs in work.values() for a in theirs}}
    tasks = []
    for student, theirs in work.items():
        load, group = [0.0] * min(per, len(theirs)), [[] for _ in range(min(per, len(theirs)))]
        for assignment in sorted(theirs, key=lambda a: -weights[a]):
            lane = load.index(min(load))
            load[lane] += weights[assignment]
            group[lane].append(assignment)
        tasks += [(student, sorted(g, key=theirs.index)) for g in group]
    return tasks


def cost(course: Course, assignment: str) -> float:
    """What grading one assignment costs, roughly, in a unit of its own: a kernel's start, the isolated
    pass's sandbox and the feedback per notebook (10 each), plus its code cells, each run in the kernel
    (measured: 1.5-2.6 s a notebook for 10-27 code cells)."""
    import nbformat

    total = 0.0
    for path in course.path("source", assignment).glob("*.ipynb"):
        try:
            total += 10 + sum(c.cell_type == "code" for c in nbformat.read(path, as_version=4).cells)
        except Exception:  # an unreadable source is course.check's to say; it costs one notebook here
            total += 10
    return total
