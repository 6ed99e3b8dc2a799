"""The class report: what the class lost, part by part, for which bug, and which bugs come back.

``grade`` writes it at the end of every run (``write``), for the whole class as the gradebook holds it:
``COURSE/reports/class_report.html`` (a page that loads nothing: its bar charts are Matplotlib PNGs inlined
as data, Agg backend) and ``COURSE/reports/class_report.csv`` (one row per assignment, part and bug).

Where the numbers come from:

* the points: nbgrader's gradebook (``gradebook.cell_grades``): a part's points lost by a student are its
  points less the student's score (a person's over the autograder's), so the report's points lost per part
  are the gradebook's, summed over the students who handed the assignment in;
* why: the verdict the isolated pass wrote into each autograded notebook's test cell
  (``metadata.autograder.isolated.message``, ``grading.worker.annotate``), else the cell's error output
  (``--no-isolation``). ``diagnose`` sorts a message into a kind: a **named bug** (the checks' line
  "this is what happens when <bug>"), a part left blank, a crash, a hang, arguments changed in place, a
  library's function called, a shape, nan or inf, a function that answers differently in different places,
  or another diagnosis (its first line);
* the part's title and the notes' section: the headings of ``source/`` above the test cell (the part's
  title as ``feedback.name_parts`` finds it; the section: the last "§" a heading above it names, the
  assignment's title "(notes §2.2)" or a finer one in a part's heading).

A bug is grouped across students, blocks and instances by its normalized text (``normalize``: a block's
index ``dW[0]``, ``db[1]`` becomes ``dW[l]``, an entry's ``theta[2]`` ``theta[i]``, a decimal number "#");
a row of the report shows the bug's own words where every student of it got the same ones. A bug **comes
back** when one student loses points to it in two assignments: the same named bug, or one of the
``FAMILIES`` declared the same (a missing 1/m is said in 03's words and in 05's).

Everything of a student's (ids, and the messages, which quote the student's exceptions) is escaped in the
page (``html.escape``), stripped of control characters and bounded in length; the page's own
Content-Security-Policy lets it load nothing but its inline images and style.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import cells
from ..course import Course
from . import gradebook
from .report import shown

#: Where the report goes in the course, and its two files.
FOLDER, HTML_NAME, CSV_NAME = "reports", "class_report.html", "class_report.csv"

#: The kinds of diagnosis, in the order the page lists them, each with its chart colour.
NAMED = "named bug"
BLANK = "left blank"
CRASH = "raises an error"
HANG = "hangs"
DIED = "its process died"
IN_PLACE = "changes its arguments"
LIBRARY = "calls the library's function"
SHAPE = "wrong shape"
NOT_FINITE = "nan or inf"
INCONSISTENT = "answers differently"
OTHER = "other diagnosis"
MANUAL = "graded by hand"
UNDIAGNOSED = "no diagnosis"
KINDS = {
    NAMED: "#d62728",
    OTHER: "#ff7f0e",
    NOT_FINITE: "#bcbd22",
    SHAPE: "#8c564b",
    IN_PLACE: "#e377c2",
    LIBRARY: "#9467bd",
    INCONSISTENT: "#17becf",
    CRASH: "#1f77b4",
    HANG: "#393b79",
    DIED: "#000000",
    BLANK: "#c7c7c7",
    MANUAL: "#2ca02c",
    UNDIAGNOSED: "#7f7f7f",
}

#: Bugs said in different words in different assignments that are one mistake: {its name: a pattern
#: of the diagnosis}. A student who loses points to one of them in two assignments carries it forward.
FAMILIES = {
    "a missing 1/m (a sum over the examples where the notes take their mean)": re.compile(
        r"\b1/m\b[^\n]*\bmissing\b|\bmissing\b[^\n]*\b1/m\b"
    ),
    "weight decay applied to the biases": re.compile(r"weight decay is applied to the biases"),
    "column-major order (MATLAB's) where the course is row-major": re.compile(r"column-major"),
}

#: The kinds that are a mistake in the student's arithmetic, which can come back in a later assignment (a part
#: left blank, a crash or a hang is no bug of its own: the same words in two assignments say nothing).
BUGS = (NAMED, OTHER, SHAPE, NOT_FINITE, IN_PLACE)

#: The checks' line that names a known bug (autograder.checks.compare and the attribution diagnostics).
_NAMED_LINE = re.compile(r"this is what happens when (.+)")
#: Characters of a bug's words and of an example message kept (messages quote student code's exceptions).
BUG_CHARS, EXAMPLE_CHARS = 240, 1000
#: Characters of a message read at all (the checks' own are a few hundred; a student's exception can be any).
MESSAGE_CHARS = 20_000
#: Student ids listed in a row of the page (the CSV lists them all).
IDS_SHOWN = 40
#: Bytes of an autograded notebook read for its verdicts (larger: not read, its parts "no diagnosis").
MAX_NOTEBOOK_BYTES = 64 * 2**20


# --------------------------------------------------------------------------- diagnosis of one message


@dataclass(frozen=True)
class Diagnosis:
    """What one failed test cell's message says: its kind, the bug's words (``text``), and the message
    itself on one line, bounded, what the visible test said included (``example``)."""

    kind: str
    text: str
    example: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What groups it with other students' (and other blocks'): the kind and the normalized words."""
        return self.kind, normalize(self.text)

    @property
    def family(self) -> str | None:
        """What it is called where it comes back in a later assignment: a declared family (found in a named
        bug's words; in another diagnosis's, or in what its visible test said), else a named bug's normalized
        words; None for what is no bug of its own (left blank, a crash, a hang...)."""
        if self.kind not in BUGS:
            return None
        said = (self.text,) if self.kind == NAMED else (self.text, self.example)  # a named bug: its own words
        for name, pattern in FAMILIES.items():
            if any(pattern.search(text) for text in said):
                return name
        return normalize(self.text) if self.kind == NAMED else None


_BLOCK_INDEX = re.compile(r"\b(d?W|d?b|delta|a|z)\[\d+\]")
_ENTRY_INDEX = re.compile(r"(?<=[\w)\]])\[\s*-?\d+(?:\s*,\s*-?\d+)*\s*\]")
_DECIMAL = re.compile(r"(?<![\w.^/])[-+]?(?:\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w/])")


def normalize(text: str) -> str:
    """A bug's words without what differs from block to block and instance to instance: ``dW[0]``,
    ``db[1]`` become ``dW[l]``, ``db[l]``; an entry's index ``theta[2]``, ``a2[0, 2]`` becomes ``[i]``; a
    decimal number (``-2.7``, ``1e-4``) ``#``. Integers stay (``1/m``, ``ddof=1``, footnote 1)."""
    text = _BLOCK_INDEX.sub(r"\1[l]", text)
    text = _ENTRY_INDEX.sub("[i]", text)
    text = _DECIMAL.sub("#", text)
    return " ".join(text.split())


def _one_line(text: str, limit: int) -> str:
    """Lines joined by " | ", control characters escaped, at most limit characters."""
    return shown(" | ".join(line.strip() for line in text.splitlines() if line.strip()), limit)


def diagnose(message: str) -> Diagnosis:
    """The kind of a failed test cell's message (the isolated pass's: "CheckFailure: …", a visible assert's
    "AssertionError: …", "StudentError: f took longer than 10 s…"), and its bug's words.

    Only the leading diagnosis is read: what the visible test said, after it, is the same failure seen by
    an assert. A crash's prefix ("f raised TypeError") is read before any named line, as the student's
    exception message (which follows it) could hold such a line of its own.
    """
    message = (message or "")[:MESSAGE_CHARS]
    lead = message.split("\n(the visible test said:", 1)[0].strip()
    found = re.match(r"([A-Za-z_][\w.]*)(?::[ \t]?(.*))?\Z", lead, re.S)
    ename, body = (found[1], (found[2] or "").strip()) if found else ("", lead)
    whole = message[: 2 * EXAMPLE_CHARS].strip()
    example = _one_line(whole.split(": ", 1)[1] if whole.startswith("CheckFailure: ") else whole, EXAMPLE_CHARS)
    first = body.split("\n", 1)[0].strip()[: 4 * BUG_CHARS]

    def said(kind: str, text: str) -> Diagnosis:
        return Diagnosis(kind, shown(" ".join(text.split()), BUG_CHARS), example)

    if not lead:
        return Diagnosis(UNDIAGNOSED, "no message was recorded", "")
    if "is not implemented yet" in first or ename == "NotImplementedError":
        who = re.match(r"([A-Za-z_]\w*) is not implemented yet", first)
        return said(BLANK, f"{who[1] if who else 'a function'} left as released (NotImplementedError)")
    crash = re.match(r"([A-Za-z_]\w*) raised ([A-Za-z_]\w*)", first)
    if crash:
        return said(CRASH, f"{crash[1]} raised {crash[2]}")
    if "took longer than" in first:
        who = re.match(r"([A-Za-z_]\w*) took longer than", first)
        return said(HANG, f"{who[1] if who else 'the code'} took longer than its time budget")
    if "the process running it died" in first:
        return said(DIED, "the process running the student's code died")
    for line in lead.splitlines():
        named = _NAMED_LINE.search(line)
        if named:
            return said(NAMED, named[1].strip())
    if "modified one of its arguments in place" in first:
        return said(IN_PLACE, first.split(":", 1)[0])
    changed = re.match(r"([A-Za-z_]\w*) changed ([A-Za-z_]\w*)", first)
    if changed:
        return said(IN_PLACE, f"{changed[1]} changed {changed[2]}")
    if "from its definition" in first:
        return said(LIBRARY, first.split(":", 1)[0])
    differs = re.search(r"([A-Za-z_]\w*) answers differently in different places", body)
    if differs:
        return said(INCONSISTENT, f"{differs[1]} answers differently in different places")
    if re.search(r"\bcontains (?:-?inf|nan)\b", first):
        what = re.match(r"[\w.]+(?:\([^)]{0,40}\))?", first)
        return said(NOT_FINITE, f"{what[0] if what else 'the result'} gives nan or inf: an overflow or a division by 0")
    if re.search(r"\bhas shape \(.*\), expected \(", first) or "got an array of shape" in first:
        return said(SHAPE, normalize(first))
    if ename not in ("CheckFailure", "AssertionError", ""):
        return said(CRASH, f"raised {ename}")
    return said(OTHER, normalize(first) or ename)


# --------------------------------------------------------------------------- the class, from the course


@dataclass(frozen=True)
class Part:
    """A graded test cell of an assignment, as source/ has it."""

    assignment: str
    notebook: str
    grade_id: str
    title: str
    section: str  # "§2.2", or "" where no heading above it names one


@dataclass(frozen=True)
class Loss:
    """Points one student lost on one part, and why."""

    student: str
    part: Part
    points: float
    lost: float
    diagnosis: Diagnosis


@dataclass
class Row:
    """The students who lost one part to one bug."""

    part: Part
    points: float
    diagnosis: Diagnosis  # its text: the students' own words where they all got the same, else normalized
    students: list[str]
    lost: float
    comes_back: dict[str, list[str]] = field(default_factory=dict)  # {later assignment: these students}


@dataclass
class Recurrence:
    """A bug that students lose points to in more than one assignment."""

    bug: str
    assignments: tuple[str, ...]  # where, in the course's order
    students: list[str]


@dataclass
class ClassReport:
    """The report's numbers (``build``), before they are written."""

    assignments: list[str]
    parts: list[Part]
    points: dict[tuple[str, str, str], float]  # {(assignment, notebook, grade_id): points of the part}
    submissions: dict[str, list[str]]  # {assignment: students who handed it in}
    rows: list[Row]
    recurrences: list[Recurrence]

    def lost(self, assignment: str, grade_id: str | None = None) -> float:
        """Points the class lost on an assignment (or one of its parts)."""
        return sum(r.lost for r in self.rows if r.part.assignment == assignment and grade_id in (None, r.part.grade_id))

    def possible(self, assignment: str) -> float:
        """The points of an assignment times its submissions."""
        each = sum(p for (a, _, _), p in self.points.items() if a == assignment)
        return each * len(self.submissions.get(assignment, []))


_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")


def parts(course: Course, assignment: str) -> list[Part]:
    """The graded test cells of an assignment's source notebooks, in order, with their part's title and
    the notes' section."""
    import nbformat

    from ..feedback import _headings, name_parts

    out = []
    for path in sorted(course.path("source", assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        name_parts(nb)
        section = ""
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for heading in _headings(cell.source):
                    found = _SECTION.findall(heading)
                    section = f"§{found[-1]}" if found else section
            if cells.is_test(cell):
                title = cell.metadata.get("autograder", {}).get("part", "")
                out.append(Part(assignment, path.stem, cells.grade_id(cell), title, section))
    return out


def _messages(path: Path) -> dict[str, str]:
    """{grade_id: the failure message} of an autograded notebook's test cells: the isolated verdict's, else
    the cell's error outputs ("Name: value"). {} where the notebook is missing, too large or not JSON."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return {}
        nb = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return {}
    out = {}
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        if not isinstance(cell, dict) or not cells.is_grade(cell) or cells.grade_id(cell) is None:
            continue
        meta = cell["metadata"]
        ours = meta.get("autograder")
        isolated = ours.get("isolated") if isinstance(ours, dict) else None
        if isinstance(isolated, dict) and isinstance(isolated.get("message"), str):
            out[cells.grade_id(cell)] = isolated["message"]
            continue
        errors = [o for o in cell.get("outputs", []) if isinstance(o, dict) and o.get("output_type") == "error"]
        if errors:
            out[cells.grade_id(cell)] = f"{errors[-1].get('ename', '')}: {errors[-1].get('evalue', '')}"
    return out


def build(course: Course, assignments: list[str] | None = None) -> ClassReport:
    """The report's numbers for the assignments (default: every assignment of source/ the gradebook knows),
    for every student the gradebook holds a submission of."""
    assignments = [a for a in (assignments or course.assignments()) if a in _known(course)]
    grades = gradebook.cell_grades(course, assignments)
    every = {a: parts(course, a) for a in assignments}
    by_id = {(p.assignment, p.notebook, p.grade_id): p for ps in every.values() for p in ps}
    points: dict[tuple[str, str, str], float] = {}
    submissions: dict[str, list[str]] = {a: [] for a in assignments}
    losses: list[Loss] = []
    for (student, a), graded in sorted(grades.items()):
        submissions[a].append(student)
        said: dict[str, dict[str, str]] = {}
        for (notebook, gid), (score, top, manual) in graded.items():
            points[a, notebook, gid] = top
            if score >= top - 1e-9:
                continue
            part = by_id.get((a, notebook, gid)) or Part(a, notebook, gid, "", "")
            if manual is not None:
                diagnosis = Diagnosis(MANUAL, "a person's grade (formgrader)")
            else:
                if notebook not in said:
                    said[notebook] = _messages(course.path("autograded", a, student) / f"{notebook}.ipynb")
                message = said[notebook].get(gid)
                none = Diagnosis(UNDIAGNOSED, "no verdict in the autograded notebook")
                diagnosis = diagnose(message) if message else none
            losses.append(Loss(student, part, top, top - score, diagnosis))
    rows = _rows(losses)
    recurrences = _recur(losses, assignments, rows)
    ordered = [p for a in assignments for p in every[a]]
    ordered += sorted({loss.part for loss in losses} - set(ordered), key=lambda p: (p.assignment, p.grade_id))
    return ClassReport(assignments, ordered, points, submissions, rows, recurrences)


def _known(course: Course) -> set[str]:
    """The assignments the gradebook holds."""
    with gradebook._open(course.gradebook) as gb:
        return {a.name for a in gb.assignments}


def _rows(losses: list[Loss]) -> list[Row]:
    """One row per part and bug (kind and normalized words), the parts in order, most points lost first."""
    groups: dict[tuple, list[Loss]] = {}
    for loss in losses:
        groups.setdefault((loss.part, loss.diagnosis.key), []).append(loss)
    rows = []
    for (part, _), group in groups.items():
        group.sort(key=lambda loss: loss.student)
        first = group[0].diagnosis
        texts = {loss.diagnosis.text for loss in group}
        text = first.text if len(texts) == 1 else normalize(first.text)
        diagnosis = Diagnosis(first.kind, text, first.example)
        students = [loss.student for loss in group]
        rows.append(Row(part, group[0].points, diagnosis, students, sum(loss.lost for loss in group)))
    return rows


def _recur(losses: list[Loss], assignments: list[str], rows: list[Row]) -> list[Recurrence]:
    """The bugs that come back: for each family (``Diagnosis.family``), the students who lose points to it in
    two assignments or more, grouped by where; each row's ``comes_back`` filled in."""
    where: dict[tuple[str, str], set[str]] = {}  # {(family, student): assignments}
    for loss in losses:
        family = loss.diagnosis.family
        if family:
            where.setdefault((family, loss.student), set()).add(loss.part.assignment)
    order = {a: k for k, a in enumerate(assignments)}
    out: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (family, student), theirs in where.items():
        if len(theirs) > 1:
            out.setdefault((family, tuple(sorted(theirs, key=order.get))), []).append(student)
    for row in rows:
        family = row.diagnosis.family
        for student in row.students if family else ():
            for later in where.get((family, student), ()):
                if order[later] > order[row.part.assignment]:
                    row.comes_back.setdefault(later, []).append(student)
        row.comes_back = {a: row.comes_back[a] for a in sorted(row.comes_back, key=order.get)}
    return sorted(
        (Recurrence(bug, path, sorted(students)) for (bug, path), students in out.items()),
        key=lambda r: (-len(r.students), r.bug, r.assignments),
    )


# --------------------------------------------------------------------------- the files


CSV_COLUMNS = [
    "assignment",
    "notebook",
    "grade_id",
    "part",
    "notes_section",
    "points",
    "kind",
    "bug",
    "students",
    "points_lost",
    "student_ids",
    "comes_back_in",
    "example",
]


def _cell(text: str) -> str:
    """A CSV field a spreadsheet shows as text: control characters escaped, and a leading = + - @ quoted
    (a spreadsheet runs a field that starts so as a formula)."""
    text = shown(str(text), 100_000)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _comes_back(row: Row) -> str:
    return "; ".join(f"{a} ({len(s)})" for a, s in row.comes_back.items())


def csv_text(report: ClassReport) -> str:
    """The CSV: one row per assignment, part and bug, parts in the notebooks' order, most points lost first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _ordered(report):
        p = row.part
        writer.writerow(
            [
                _cell(v)
                for v in (
                    p.assignment,
                    p.notebook,
                    p.grade_id,
                    p.title,
                    p.section,
                    f"{row.points:g}",
                    row.diagnosis.kind,
                    row.diagnosis.text,
                    len(row.students),
                    f"{row.lost:g}",
                    " ".join(row.students),
                    _comes_back(row),
                    row.diagnosis.example,
                )
            ]
        )
    return out.getvalue()


def _ordered(report: ClassReport) -> list[Row]:
    place = {p: k for k, p in enumerate(report.parts)}
    kinds = {k: n for n, k in enumerate(KINDS)}
    return sorted(
        report.rows,
        key=lambda r: (place.get(r.part, len(place)), -r.lost, kinds.get(r.diagnosis.kind, 99), r.diagnosis.text),
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a class report's CSV, as dictionaries of its columns."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _png(labels: list[str], stacks: dict[str, list[float]], xlabel: str, title: str, legend: bool = True) -> str:
    """A horizontal stacked bar chart (one bar per label, one colour per kind) as a base64 PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 1.3 + 0.32 * max(len(labels), 4)), dpi=96)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ys = list(range(len(labels)))
    left = [0.0] * len(labels)
    for kind, values in stacks.items():
        if any(values):
            ax.barh(ys, values, left=left, color=KINDS.get(kind, "#7f7f7f"), label=kind, height=0.7)
            left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(ys)
    ax.set_yticklabels([shown(label, 60) for label in labels], fontsize=8, parse_math=False)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, parse_math=False)
    ax.set_title(title, fontsize=10, parse_math=False)
    ax.set_xlim(0, max(max(left, default=0.0), 1.0) * 1.05)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", alpha=0.3)
    if legend and any(any(v) for v in stacks.values()):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(png: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'


def _e(text, limit: int = BUG_CHARS) -> str:
    """Text of the page: control characters escaped, bounded, HTML-escaped."""
    return html.escape(shown(str(text), limit))


def _ids(students: list[str]) -> str:
    shown_ids = ", ".join(_e(s, 100) for s in students[:IDS_SHOWN])
    more = len(students) - IDS_SHOWN
    return shown_ids + (f" … and {more} more (the CSV lists all)" if more > 0 else "")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f3f3f3; white-space: nowrap; }
td.n { text-align: right; white-space: nowrap; }
.kind { display: inline-block; padding: 0 0.4em; border-radius: 0.3em; color: #fff; font-size: 0.8em; }
details { font-size: 0.85em; color: #444; }
img { max-width: 100%; }
"""


def html_text(report: ClassReport, course_name: str = "", made: str = "") -> str:
    """The page: the bugs that come back, the points lost by assignment, then each assignment's parts."""
    made = made or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    students = sorted({s for ss in report.submissions.values() for s in ss})
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing from anywhere: the charts are data: images, the style is inline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">",
        '<meta name="referrer" content="no-referrer">',
        f"<title>Class report{' — ' + _e(course_name, 100) if course_name else ''}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Class report{' — ' + _e(course_name, 100) if course_name else ''}</h1>",
        f"<p>{len(students)} students, {sum(len(s) for s in report.submissions.values())} submissions, from the "
        f"gradebook as it was at {_e(made)}. Which parts the class lost, to which bug, and how many students "
        f'each; the same as a table: <a href="{CSV_NAME}">{CSV_NAME}</a>.</p>',
    ]
    out += _recurrence_html(report)
    out += _overview_html(report)
    for a in report.assignments:
        out += _assignment_html(report, a)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _kind_badge(kind: str) -> str:
    return f'<span class="kind" style="background:{KINDS.get(kind, "#7f7f7f")}">{html.escape(kind)}</span>'


def _recurrence_html(report: ClassReport) -> list[str]:
    out = ['<h2 id="recurring">Bugs that come back in a later assignment</h2>']
    if not report.recurrences:
        return out + ["<p>None: no student lost points to the same bug in two assignments.</p>"]
    shown_ = report.recurrences[:20]
    labels = [f"{' → '.join(a.split('_', 1)[0] for a in r.assignments)}: {shown(r.bug, 45)}" for r in shown_]
    stack = {NAMED: [len(r.students) for r in shown_]}
    png = _png(labels, stack, "students", "Students who carry a bug forward", legend=False)
    out += [
        _img(png, "students who carry a bug forward"),
        "<table><tr><th>bug</th><th>lost in</th><th>students</th><th>who</th></tr>",
    ]
    for r in report.recurrences:
        out.append(
            f"<tr><td>{_e(r.bug)}</td><td>{_e(' → '.join(r.assignments))}</td>"
            f'<td class="n">{len(r.students)}</td><td>{_ids(r.students)}</td></tr>'
        )
    return out + ["</table>"]


def _stacks(rows: list[Row], keys: list, key_of) -> dict[str, list[float]]:
    stacks = {kind: [0.0] * len(keys) for kind in KINDS}
    place = {k: i for i, k in enumerate(keys)}
    for row in rows:
        k = key_of(row)
        if k in place:
            stacks.setdefault(row.diagnosis.kind, [0.0] * len(keys))[place[k]] += row.lost
    return stacks


def _overview_html(report: ClassReport) -> list[str]:
    out = ['<h2 id="overview">Points lost, by assignment</h2>']
    sections = {p.assignment: p.section for p in report.parts}
    png = _png(
        report.assignments,
        _stacks(report.rows, report.assignments, lambda r: r.part.assignment),
        "points lost by the class",
        "Points lost by the class, by kind of mistake",
    )
    out += [
        _img(png, "points lost by assignment"),
        "<table><tr><th>assignment</th><th>notes</th><th>submissions</th><th>points lost</th><th>of</th></tr>",
    ]
    for a in report.assignments:
        out.append(
            f'<tr><td><a href="#{_anchor(a)}">{_e(a)}</a></td><td>{_e(sections.get(a, ""))}</td>'
            f'<td class="n">{len(report.submissions.get(a, []))}</td><td class="n">{report.lost(a):g}</td>'
            f'<td class="n">{report.possible(a):g}</td></tr>'
        )
    return out + ["</table>"]


def _anchor(assignment: str) -> str:
    return "a-" + re.sub(r"[^\w-]", "_", assignment)


def _assignment_html(report: ClassReport, assignment: str) -> list[str]:
    mine = [p for p in report.parts if p.assignment == assignment]
    section = next((p.section for p in mine if p.section), "")
    handed = len(report.submissions.get(assignment, []))
    out = [
        f'<h2 id="{_anchor(assignment)}">{_e(assignment)}{" — notes " + _e(section) if section else ""}</h2>',
        f"<p>{handed} submissions; the class lost {report.lost(assignment):g} of {report.possible(assignment):g} "
        "points.</p>",
    ]
    if not handed:
        return out
    labels = [p.grade_id for p in mine]
    png = _png(
        labels,
        _stacks(report.rows, mine, lambda r: r.part),
        "points lost by the class",
        f"{assignment}: points lost per part, by kind of mistake",
    )
    out += [
        _img(png, f"{assignment}: points lost per part"),
        "<table><tr><th>part</th><th>notes</th><th>points</th><th>bug</th><th>students</th><th>points lost</th>"
        "<th>who</th><th>comes back in</th></tr>",
    ]
    rows = [r for r in _ordered(report) if r.part.assignment == assignment]
    if not rows:
        out.append('<tr><td colspan="8">Nobody lost a point.</td></tr>')
    for row in rows:
        p, d = row.part, row.diagnosis
        example = f"<details><summary>a message</summary>{_e(d.example, EXAMPLE_CHARS)}</details>" if d.example else ""
        back = "; ".join(f"{_e(a)} ({len(s)}: {_ids(s)})" for a, s in row.comes_back.items())
        out.append(
            f"<tr><td>{_e(p.title or p.grade_id, 120)}<br><code>{_e(p.grade_id, 120)}</code></td>"
            f'<td>{_e(p.section)}</td><td class="n">{row.points:g}</td>'
            f"<td>{_kind_badge(d.kind)} {_e(d.text)}{example}</td>"
            f'<td class="n">{len(row.students)}</td><td class="n">{row.lost:g}</td>'
            f"<td>{_ids(row.students)}</td><td>{back}</td></tr>"
        )
    return out + ["</table>"]


def _write(path: Path, text: str) -> None:
    """Write a file whole: a temporary file beside it, renamed into place."""
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(part, 0o644)
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise


def write(course: Course, assignments: list[str] | None = None, folder: Path | None = None) -> tuple[Path, Path]:
    """Build the report of the class (``build``) and write it: (the page, the CSV), in COURSE/reports/."""
    report = build(course, assignments)
    folder = Path(folder or course.root / FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    page, table = folder / HTML_NAME, folder / CSV_NAME
    _write(table, csv_text(report))
    _write(page, html_text(report, course.root.name))
    return page, table
