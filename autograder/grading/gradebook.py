"""The gradebook (nbgrader's SQLite ``gradebook.db``): copies, backups, scores in and out, CSV.

Reading and writing scores goes through nbgrader's own ``Gradebook``; copies go through
SQLite's online backup, which copies a consistent database even while it is open.
"""

from __future__ import annotations

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


def record(db: Path, student: str, assignment: str, scores: Scores) -> None:
    """Set the auto_score of the listed test cells, creating the submission if needed.

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
        gb.db.commit()


def scores(course: Course, assignments: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """{(student, assignment): {grade_id: score}} of every graded test cell (manual scores over auto)."""
    from nbgrader.api import MissingEntry

    out = {}
    with _open(course.gradebook) as gb:
        for student in gb.students:
            for a in assignments:
                try:
                    sub = gb.find_submission(a, student.id)
                except MissingEntry:
                    continue
                out[student.id, a] = {g.name: g.score for nb in sub.notebooks for g in nb.grades}
    return out


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
