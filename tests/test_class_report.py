"""The class report (autograder.grading.class_report): what the class lost, part by part, to which bug.

Here: how a message is sorted into a kind and a bug, which bugs are one, a page made of hostile text, and a
small class of 01 graded for real (a student whose code raises HTML and a huge message, a named bug, a blank
one), whose report must give the gradebook's numbers. The demo class (tests/test_demo.py), the
graded samples (tests/test_assignments.py) and the bench's class (tests/test_bench.py) are checked with the
helpers below, on the classes those files grade anyway.
"""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder.course import Course
from autograder.grading import Options, Status, class_report, grade
from autograder.grading.class_report import (
    BLANK,
    CRASH,
    HANG,
    IN_PLACE,
    INCONSISTENT,
    NAMED,
    NOT_FINITE,
    OTHER,
    SHAPE,
    ClassReport,
    Diagnosis,
    Part,
    Row,
    diagnose,
    normalize,
)

# --------------------------------------------------------------------------- helpers for every class


def gradebook_losses(root: Path) -> tuple[dict, dict, dict]:
    """From nbgrader's gradebook, read here on its own: ({(assignment, grade_id): points lost by the class},
    {(assignment, grade_id): the students who lost points there}, {(assignment, grade_id): its points})."""
    from nbgrader.api import Gradebook

    lost, who, points = {}, {}, {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for sub in gb.assignment_submissions(assignment.name):
                for nb in sub.notebooks:
                    for g in nb.grades:
                        key = assignment.name, g.name
                        points[key] = g.max_score
                        missing = g.max_score - (g.score or 0.0)
                        lost[key] = lost.get(key, 0.0) + missing
                        if missing > 1e-9:
                            who.setdefault(key, set()).add(sub.student.id)
    return lost, who, points


def agrees_with_gradebook(root: Path) -> list[dict[str, str]]:
    """The course's class report (page and CSV) checked against its gradebook: the points lost on every part
    (its points less each student's score, summed), who lost them, each part's points, and each assignment's
    total on the page. Returns the CSV's rows."""
    root = Path(root)
    page = (root / "reports" / "class_report.html").read_text()
    rows = class_report.read_csv(root / "reports" / "class_report.csv")
    lost, who, points = gradebook_losses(root)
    said: dict[tuple[str, str], float] = {}
    students: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        key = row["assignment"], row["grade_id"]
        said[key] = said.get(key, 0.0) + float(row["points_lost"])
        ids = row["student_ids"].split()
        assert int(row["students"]) == len(ids) > 0, row
        assert float(row["points"]) == points[key], row
        students.setdefault(key, []).extend(ids)
    assert {k: v for k, v in said.items()} == pytest.approx({k: v for k, v in lost.items() if v > 1e-9})
    assert {k: sorted(v) for k, v in students.items()} == {k: sorted(v) for k, v in who.items()}  # once each
    for assignment in {a for a, _ in points}:
        total = sum(v for (a, _), v in lost.items() if a == assignment)
        assert f"the class lost {total:g} of " in page, assignment
    assert_loads_nothing(page)
    return rows


def row_of(rows: list[dict[str, str]], assignment: str, grade_id: str, student: str) -> dict[str, str]:
    """The CSV row where student lost points on a part (exactly one)."""
    (row,) = [
        r
        for r in rows
        if r["assignment"] == assignment and r["grade_id"] == grade_id and student in r["student_ids"].split()
    ]
    return row


class _Tags(HTMLParser):
    """Every start tag of a page, with its attributes, as a browser's parser reads them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


#: The tags of the page, and the attributes each may have (nothing else is there).
_ALLOWED = {
    "html": {"lang"},
    "head": set(),
    "meta": {"charset", "http-equiv", "content", "name"},
    "title": set(),
    "style": set(),
    "body": set(),
    "h1": set(),
    "h2": {"id"},
    "p": set(),
    "a": {"href"},
    "img": {"alt", "src"},
    "table": set(),
    "tr": set(),
    "th": set(),
    "td": {"class", "colspan"},
    "span": {"class", "style"},
    "br": set(),
    "code": set(),
    "details": set(),
    "summary": set(),
}


def assert_loads_nothing(page: str) -> None:
    """The page loads nothing and runs nothing: only the tags and attributes it is made of (no script,
    stylesheet, frame, object, event handler), every image a data: PNG, every link a fragment or the CSV
    beside it, a style that imports nothing, and a Content-Security-Policy that allows nothing else."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.tags
    for tag, attrs in parser.tags:
        assert tag in _ALLOWED and set(attrs) <= _ALLOWED[tag], (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,"), attrs["src"][:80]
        if tag == "a":
            assert attrs["href"].startswith("#") or attrs["href"] == class_report.CSV_NAME, attrs
        if tag == "meta" and "http-equiv" in attrs:
            assert attrs["http-equiv"] == "Content-Security-Policy"
            assert attrs["content"].startswith("default-src 'none'; img-src data:;"), attrs
        if tag == "span":
            assert re.fullmatch(r"background:#[0-9a-f]{6}", attrs["style"]), attrs
    assert sum(tag == "meta" and "http-equiv" in attrs for tag, attrs in parser.tags) == 1
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(styles) == 1 and "@import" not in styles[0] and "url(" not in styles[0]


# --------------------------------------------------------------------------- diagnosis


@pytest.mark.parametrize(
    "message, kind, text",
    [
        (
            "CheckFailure: dW[1] is wrong on layer sizes [4, 3, 2], m = 5: relative error 1.60e+00 (tolerance 1e-06)."
            "\n  largest difference at dW[1][0, 0]: got 0.199418, expected 0.0389601 (ratio 5.119)"
            "\n  this is what happens when the 1/m is missing: Delta W and Delta b are sums over examples"
            "\n(the visible test said: AssertionError: dW[1] is wrong)",
            NAMED,
            "the 1/m is missing: Delta W and Delta b are sums over examples",
        ),
        (
            "CheckFailure: relative_difference(a, b) on two vectors should be one number, got an array of shape (6,): "
            "this is what happens when the denominator has no norm: ||a - b|| / (a + b)",
            NAMED,
            "the denominator has no norm: ||a - b|| / (a + b)",
        ),
        (
            "CheckFailure: tanh is not implemented yet (it still raises NotImplementedError)\n"
            "(the visible test said: NotImplementedError)",
            BLANK,
            "tanh left as released (NotImplementedError)",
        ),
        ("NotImplementedError", BLANK, "a function left as released (NotImplementedError)"),
        (
            "CheckFailure: sigmoid_prime raised TypeError: only 0-dimensional arrays can be converted\n"
            "  this is what happens when the student's message says so",  # a crash's own text names nothing
            CRASH,
            "sigmoid_prime raised TypeError",
        ),
        ("StudentError: initialize_parameters took longer than 10 s and was stopped", HANG, ""),
        ("CheckFailure: backprop modified one of its arguments in place: compute into new arrays", IN_PLACE, ""),
        ("CheckFailure: numerical_gradient changed theta: theta[2] was -2.7, afterwards -2.69", IN_PLACE, ""),
        ("CheckFailure: tanh(z) on z = [-1000.0, 1000.0] contains nan at index (0,): look for...", NOT_FINITE, ""),
        ("CheckFailure: W[0] has shape (3, 4), expected (4, 3) (transposed? rows and columns are swapped)", SHAPE, ""),
        (
            "CheckFailure: this part passed only on top of your own sigmoid, which differs from the notes' "
            "definition here, yet passes its own tests: sigmoid answers differently in different places",
            INCONSISTENT,
            "sigmoid answers differently in different places",
        ),
        (
            "CheckFailure: train_sparse_autoencoder gave two different thetas for the same seed rng=0: start from",
            OTHER,
            "train_sparse_autoencoder gave two different thetas for the same seed rng=0: start from",
        ),
        ("ZeroDivisionError: division by zero", CRASH, "raised ZeroDivisionError"),
    ],
)
def test_a_message_is_sorted_into_its_kind_and_bug(message, kind, text):
    d = diagnose(message)
    assert d.kind == kind, d
    if text:
        assert d.text == text
    if kind == HANG:
        assert d.text == "initialize_parameters took longer than its time budget"


def test_the_same_bug_in_two_blocks_or_instances_is_one():
    one = diagnose("CheckFailure: x\n  this is what happens when weight decay is applied to the biases: db[0] gets no")
    two = diagnose("CheckFailure: y\n  this is what happens when weight decay is applied to the biases: db[1] gets no")
    assert one.text != two.text and one.key == two.key
    assert normalize("theta[2] was -2.7, afterwards -2.6999999999999997; a2[0, 2]; a fixed step of 1e-4") == (
        "theta[i] was #, afterwards #; a2[i]; a fixed step of #"
    )
    assert normalize("the 1/m is missing (ddof=1, footnote 1, epsilon^2)") == (
        "the 1/m is missing (ddof=1, footnote 1, epsilon^2)"
    )


def test_a_missing_1_over_m_is_one_bug_in_03s_words_and_in_05s():
    in03 = diagnose("CheckFailure: dW[0] is wrong\n  this is what happens when the 1/m is missing: Delta W and ...")
    in05 = diagnose("CheckFailure: dJ/dW1 is wrong\n  this is what happens when the 1/m factor is missing (average)")
    assert in03.key != in05.key
    assert in03.family == in05.family and "1/m" in in03.family
    decay03 = diagnose("CheckFailure: a\n  this is what happens when weight decay is applied to the biases: db[0]")
    decay05 = diagnose("CheckFailure: b\n  this is what happens when weight decay is applied to the biases as well")
    assert decay03.family == decay05.family
    # no family for what is no bug of its own: a crash whose message says "1/m is missing", a part left blank
    assert diagnose("CheckFailure: backprop raised ValueError: the 1/m is missing").family is None
    assert diagnose("CheckFailure: backprop is not implemented yet (it still raises ...)").family is None


# --------------------------------------------------------------------------- a page of hostile text

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)> =HYPERLINK("http://x")\x1b[31m\u202e'


def _hostile_report() -> ClassReport:
    part = Part("01_activations", "activations", "sigmoid_values", "Part A — <b>sigmoid</b>", "§2")
    huge = HOSTILE + "A" * 1_000_000
    rows = [
        Row(part, 2.0, Diagnosis(CRASH, f"sigmoid raised ValueError {HOSTILE}", huge), ["s1", "s2"], 4.0),
        Row(part, 2.0, Diagnosis(OTHER, "=cmd|' /C calc'!A0", huge), ["s3"], 2.0),
        Row(part, 2.0, Diagnosis(NAMED, huge[:5000], huge), [f"s{k:04d}" for k in range(500)], 1000.0),
    ]
    return ClassReport(
        ["01_activations"],
        [part],
        {("01_activations", "activations", "sigmoid_values"): 2.0},
        {"01_activations": ["s1", "s2", "s3"] + [f"s{k:04d}" for k in range(500)]},
        rows,
        [class_report.Recurrence(HOSTILE, ("01_activations", "03_backprop"), ["s1"])],
    )


def test_a_page_of_hostile_text_escapes_it_bounds_it_and_loads_nothing(tmp_path):
    report = _hostile_report()
    page = class_report.html_text(report, course_name=HOSTILE)
    assert_loads_nothing(page)
    assert "<script>" not in page and "<img src=x" not in page and "<b>sigmoid" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;sigmoid&lt;/b&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page  # escaped as text: \x1b, \u202e
    assert len(page) < 300_000, len(page)  # three rows of a million characters each, and 500 students
    assert "and 460 more (the CSV lists all)" in page
    text = class_report.csv_text(report)
    assert "\x1b" not in text and "\u202e" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[-1]["bug"].startswith("'=cmd")  # a spreadsheet shows it as text, runs no formula
    assert len(rows[0]["student_ids"].split()) == 500  # the CSV lists every student


# --------------------------------------------------------------------------- a small class, graded


@pytest.fixture(scope="module")
def small_class(tmp_path_factory) -> Path:
    """01 graded for real: a student whose sigmoid raises HTML and a huge message (and a line that looks like
    a named bug), a sample's named bug, and a blank one (the demo class has a perfect student)."""
    from autograder.samples import a01_activations

    hostile = (
        "import numpy as np\n"
        "def sigmoid(z):\n"
        f"    raise ValueError({HOSTILE!r} + '\\n  this is what happens when <b>forged</b>' + 'B' * 200000)\n"
    )
    work = {
        "hostile": {"01_activations": {"sigmoid": hostile}},
        "tanh_for_sigmoid": {"01_activations": a01_activations.SUBMISSIONS["tanh_for_sigmoid"].answers},
        "blank": {"01_activations": None},
    }
    course = Course().scratch(tmp_path_factory.mktemp("class") / "course", ["01_activations"], submissions=work)
    report = grade(course, Options(["01_activations"], jobs=2, check=False, feedback=False, unsafe=True))
    assert [o for o in report.outcomes if o.status != Status.GRADED] == []
    assert report.class_report == course.root / "reports" / "class_report.html"
    assert report.class_csv == course.root / "reports" / "class_report.csv"
    return course.root


def test_the_report_of_a_graded_class_gives_the_gradebooks_numbers(small_class):
    rows = agrees_with_gradebook(small_class)
    assert {s for r in rows for s in r["student_ids"].split()} == {"hostile", "tanh_for_sigmoid", "blank"}
    named = row_of(rows, "01_activations", "sigmoid_values", "tanh_for_sigmoid")
    assert named["kind"] == NAMED and named["bug"] == "tanh was used instead of the sigmoid"
    assert (named["part"], named["notes_section"], named["points"]) == ("Part A — sigmoid", "§2", "2")
    blank = row_of(rows, "01_activations", "tanh_values", "blank")
    assert blank["kind"] == BLANK and blank["bug"] == "tanh left as released (NotImplementedError)"
    crash = row_of(rows, "01_activations", "sigmoid_values", "hostile")
    assert crash["kind"] == CRASH and crash["bug"] == "sigmoid raised ValueError"  # the forged line names nothing
    assert len(crash["example"]) <= class_report.EXAMPLE_CHARS


def test_the_report_of_a_graded_class_escapes_what_student_code_raised(small_class):
    page = (small_class / "reports" / "class_report.html").read_text()
    assert_loads_nothing(page)
    assert "<script>" not in page and "<img src=x" not in page and "<b>forged" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the student's message, as text
    assert len(page) < 400_000  # the student's 200,000 characters are cut
    for row in class_report.read_csv(small_class / "reports" / "class_report.csv"):
        assert all(len(v) <= 1_000 for k, v in row.items() if k != "student_ids"), row
