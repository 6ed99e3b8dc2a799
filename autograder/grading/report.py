"""What a grading run tells the instructor: the Report, the grade table, and the flags (where
nbgrader's in-kernel score and the isolated one disagree, in words)."""

from __future__ import annotations

import contextlib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course
from ..sandbox import Trouble
from . import gradebook
from .outcome import Outcome, Status


@dataclass
class Report:
    """A grading run: outcomes, where things were written, and the timing."""

    outcomes: list[Outcome] = field(default_factory=list)
    backup: Path | None = None
    csv: Path | None = None
    class_report: Path | None = None  # the class report's page (grading.class_report), its CSV beside it
    class_csv: Path | None = None
    seconds: float = 0.0
    jobs: int = 1


def flags(kernel: dict, verdicts: list) -> list[str]:
    """Where nbgrader's in-kernel scores ({notebook: {cell: score}}) and the isolated verdicts
    (autograder.verdict.NotebookVerdict) disagree, in words.

    The kernel runs the visible tests only (autograder.kernel), so a part the isolated pass failed
    on a hidden line says nothing when the kernel passed it; one it failed on a visible line, which
    the kernel passed, does: the same asserts on the same code gave two answers.
    """
    faked, aliased, lost = [], [], []
    for v in verdicts:
        mine = kernel.get(Path(v.notebook).stem, {})
        for gid, cell in v.cells.items():
            k = mine.get(gid) or 0.0
            if k > cell.score + 1e-9:
                if cell.hidden:
                    continue  # the kernel ran the visible tests only: nothing to compare
                # A library's function under the student's name (tanh = np.tanh) is a plain mistake
                # that the isolated pass refuses, not tampering.
                (aliased if cell.trouble == Trouble.NOT_YOURS else faked).append(gid)
            elif k < cell.score - 1e-9:
                lost.append(gid)
    out = []
    if faked:
        out.append(f"in-kernel tests passed, isolated check failed: possible tampering ({', '.join(faked)})")
    if aliased:
        out.append(
            f"a function is a library's under the student's name ({', '.join(aliased)}): "
            "the isolated pass refuses it, its score is recorded"
        )
    if lost:
        out.append(
            f"isolated check passed where the in-kernel test did not ({', '.join(lost)}: output on stderr, "
            "a timeout or a dead kernel): the isolated score is recorded"
        )
    return out


#: The longest note of the table, in characters (a detail longer than this is cut).
NOTE_CHARS = 500


def shown(text: str, limit: int = NOTE_CHARS) -> str:
    """Text as the table may print it: one line, bounded, every control or format character
    (newline, escape, bidi override, zero-width…) written as its escape. Student code chooses
    error messages and file names: nothing of them may move the cursor or recolour a row."""
    out = "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else repr(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def summary(course: Course, report: Report, assignments: list[str]) -> str:
    """A table: one row per student, one column per assignment (score/max, "!" where the notes
    below say something), a total; then the notes."""
    maxima = gradebook.max_scores(course, assignments)
    per = gradebook.scores(course, assignments)
    status = {(o.student, o.assignment): o for o in report.outcomes}
    students = sorted({s for s, _ in per} | {o.student for o in report.outcomes})
    head = ["student"] + [a.split("_", 1)[0] for a in assignments] + ["total"]
    rows, notes = [], []
    for s in students:
        row, total = [shown(s, 40)], 0.0
        for a in assignments:
            o = status.get((s, a))
            if (s, a) not in per:
                row.append("? !" if o else "-")  # submitted, but nothing is in the gradebook
                if o:
                    notes.append(f"  {shown(s, 40)} / {a}: {o.status}{': ' + shown(o.detail) if o.detail else ''}")
                continue
            got = sum(v or 0.0 for v in per[s, a].values())
            total += got
            look = o and (o.status != Status.GRADED or o.detail or o.flags)
            row.append(f"{got:g}/{maxima[a]:g}{' !' if look else ''}")
            if look:
                said = shown("; ".join([o.detail] * bool(o.detail) + o.flags))
                notes.append(f"  {shown(s, 40)} / {a}: {o.status}{': ' + said if said else ''}")
        row.append(f"{total:g}/{sum(maxima.values()):g}")
        rows.append(row)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [head, *rows]]
    if notes:
        lines += ["", "! needs a look:", *notes]
    return "\n".join(lines)


@contextlib.contextmanager
def progress(total: int):
    """A progress bar of the students graded (done / total, elapsed, estimated time left) on stderr when it
    is a terminal, the per-student log lines printed above it; nothing otherwise (a log file, CI).
    Yields the function to call as each student is done (from any thread)."""
    import sys

    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if not sys.stderr.isatty():
        yield lambda: None
        return
    with logging_redirect_tqdm(), tqdm(total=total, unit="student", desc="grading", dynamic_ncols=True) as bar:
        yield lambda: bar.update(1)
