"""The gradebook (nbgrader's SQLite ``gradebook.db``): copies, backups, scores in and out, CSV.

Reading and writing scores goes through nbgrader's own ``Gradebook``; copies go through
SQLite's online backup, which copies a consistent database even while it is open.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import warnings
from datetime import UTC, datetime
from pathlib import Path

from ..course import Course, CourseError
from .outcome import Scores


def copy(src: Path, dest: Path) -> Path:
    """Copy the SQLite database src over dest (made if missing). Returns dest."""
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)
    return Path(dest)


def backup(course: Course) -> Path | None:
    """Copy the gradebook to backups/gradebook-<UTC time>.db; None if there is none yet."""
    if not course.gradebook.exists():
        return None
    folder = course.root / "backups"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return copy(course.gradebook, folder / f"gradebook-{stamp}.db")


def restore(course: Course, saved: Path) -> Path:
    """Put a backup back in place (the current gradebook is backed up first). Returns the gradebook."""
    saved = Path(saved)
    if not saved.is_file():
        raise CourseError(f"no backup at {saved}; backups are in {course.root / 'backups'}")
    backup(course)
    return copy(saved, course.gradebook)


def _open(db: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{db}")


def submission_scores(db: Path, student: str, assignment: str) -> dict[str, dict[str, float | None]]:
    """{notebook: {test cell: auto_score}} of one submission ({} if the gradebook has none)."""
    from nbgrader.api import MissingEntry

    with _open(db) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return {}
        return {nb.name: {g.name: g.auto_score for g in nb.grades} for nb in sub.notebooks}


def record(db: Path, student: str, assignment: str, scores: Scores, others: float | None = None) -> None:
    """Set the auto_score of the listed test cells (and of every other one to ``others``, unless
    None), creating the submission if needed; each grade's ``needs_manual_grade`` as nbgrader's
    autograde sets it (``needs_person``).

    Manual scores and comments are untouched (nbgrader shows manual_score over auto_score).
    """
    from sqlalchemy.exc import SAWarning

    with _open(db) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission autoflushes half-made rows
        gb.update_or_create_student(student)
        sub = gb.update_or_create_submission(assignment, student)
        for nb in sub.notebooks:
            for grade in nb.grades:
                if grade.name in scores.get(nb.name, {}):
                    grade.auto_score = scores[nb.name][grade.name]
                elif others is not None:
                    grade.auto_score = others
                grade.needs_manual_grade = needs_person(grade)
        gb.db.commit()


def needs_person(grade) -> bool:
    """nbgrader's rule (its SaveAutoGrades): a grade needs a person where no test gave it a score, or
    where a person scored it before this grading (the new automatic score is theirs to look at)."""
    return grade.manual_score is not None or grade.auto_score is None


def record_outcomes(db: Path, outcomes: list) -> None:
    """Each Outcome's scores, submission time and late penalties into db (``record``, ``record_late``), one
    submission at a time: what a student's grading leaves in the gradebook, whatever else is in it (manual
    grades entered meanwhile in formgrader, other students graded by another run)."""
    for o in outcomes:  # no scores at all (the worker failed first): 0 everywhere, not the last run's
        record(db, o.student, o.assignment, o.recorded, others=None if o.recorded else 0.0)
        record_late(db, o.student, o.assignment, o.timestamp, o.late_penalties)


@contextlib.contextmanager
def exclusive(course: Course, log=None):
    """Held by one grading run of the course at a time (``grade``, the feedback service, formgrader's
    Autograde): an flock on COURSE/.grading.lock. A second run waits, and says so once."""
    import fcntl

    path = course.root / ".grading.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o660)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log is not None:
                log.info("another grading run of %s holds %s: waiting for it to finish", course.root, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def late_penalties(db: Path, student: str, assignment: str, config) -> tuple[str | None, dict[str, float | None]]:
    """nbgrader's late penalty of each notebook of a submission, computed again on the scores now
    recorded (nbgrader computed them on its in-kernel ones), with the course's LateSubmissionPlugin;
    set in db and returned with the submission's timestamp: (timestamp, {notebook: penalty})."""
    from nbgrader.api import MissingEntry
    from nbgrader.preprocessors import AssignLatePenalties

    late = AssignLatePenalties(config=config)
    late.init_plugin()
    penalties: dict[str, float | None] = {}
    with _open(db) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:  # nbgrader failed before it made one, and nothing was recorded
            return None, {}
        seconds = sub.total_seconds_late
        for nb in sub.notebooks:
            penalty = late.plugin_inst.late_submission_penalty(student, nb.score, seconds) if seconds > 0 else None
            # As nbgrader's AssignLatePenalties does: never below 0, never above the notebook's score.
            nb.late_submission_penalty = penalties[nb.name] = (
                None if penalty is None else min(max(penalty, 0), nb.score)
            )
        gb.db.commit()
        return (sub.timestamp.isoformat() if sub.timestamp else None), penalties


def record_late(db: Path, student: str, assignment: str, timestamp: str | None, penalties: dict) -> None:
    """Put a submission's timestamp and its notebooks' late penalties (from late_penalties) in db."""
    with _open(db) as gb:
        sub = gb.find_submission(assignment, student)
        sub.timestamp = datetime.fromisoformat(timestamp) if timestamp else None
        for nb in sub.notebooks:
            nb.late_submission_penalty = penalties.get(nb.name)
        gb.db.commit()


def scores(course: Course, assignments: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """{(student, assignment): {grade_id: score}} of every graded test cell (manual scores over auto)."""
    with _open(course.gradebook) as gb:
        return {
            key: {g.name: g.score for nb in sub.notebooks for g in nb.grades}
            for key, sub in _submissions(gb, assignments)
        }


def _submissions(gb, assignments: list[str]):
    """((student, assignment), submission) of every submission of these assignments in an open gradebook."""
    from nbgrader.api import MissingEntry

    for student in gb.students:
        for a in assignments:
            try:
                yield (student.id, a), gb.find_submission(a, student.id)
            except MissingEntry:
                continue


def cell_grades(course: Course, assignments: list[str]) -> dict[tuple[str, str], dict[tuple[str, str], tuple]]:
    """{(student, assignment): {(notebook, grade_id): (score, max_score, manual_score)}} of every graded test
    cell of every submission (score: manual over auto, 0 where neither; manual_score None unless a person
    graded it)."""
    with _open(course.gradebook) as gb:
        return {
            key: {
                (nb.name, g.name): (g.score or 0.0, g.max_score or 0.0, g.manual_score)
                for nb in sub.notebooks
                for g in nb.grades
            }
            for key, sub in _submissions(gb, assignments)
        }


def max_scores(course: Course, assignments: list[str]) -> dict[str, float]:
    """{assignment: its points}."""
    with _open(course.gradebook) as gb:
        return {a: gb.find_assignment(a).max_score for a in assignments}


def export_csv(course: Course, path: Path) -> Path:
    """nbgrader's own CSV export of the whole gradebook."""
    from nbgrader.plugins import CsvExportPlugin

    with _open(course.gradebook) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return Path(path)
