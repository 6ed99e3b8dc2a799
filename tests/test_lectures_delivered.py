"""Students get the lecture notebooks with the assignments (issue 26): nbgrader's exchange hands them
assignment folders and nothing else, so each folder of release/ carries in lectures/ (and lectures/zh/)
the lectures that go with it, copied from notebooks/ without their outputs by ``python -m autograder
release`` (``Course.release``), with what their code reads.

* every assignment carries the introduction, the notation and the lecture of its section, as the table
  of ``01_introduction`` pairs them, in both editions, what notebooks/ holds but for the outputs (release/ holds
  none: the student's Run All draws the figures), the other files byte for byte;
* whatever a delivered lecture imports or opens is delivered beside it, and a delivered copy runs where
  it lies (nbval, every cell run) as a student's fetched folder holds it;
* every lecture an assignment's text names (a path, "lecture notebook 03") is a file of its folder, the
  text names every lecture delivered, and no path points into notebooks/, which students do not have;
* lectures never sit beside the graded notebooks (nbgrader autogrades every notebook there), and a
  hand-in of the folder stays far inside collect's and grading's bounds;
* a lecture edited in notebooks/ makes the release stale (``grade`` refuses until ``release`` is run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import exchange
from autograder.course import COURSE_LECTURES, COURSE_ROOT, LECTURES, SECTION_LECTURES, Course
from autograder.grading import submission

NOTEBOOKS = COURSE_ROOT / "notebooks"
RELEASE = COURSE_ROOT / "release"
ASSIGNMENTS = Course().assignments()

#: A path in backquotes that names a lecture's folder or the course's: `lectures/02_2_backpropagation.ipynb`.
PATH = re.compile(r"`((?:lectures|notebooks)/[^`\s]*)`")
#: A lecture named by its number: "lecture notebook 03", "lecture\nnotebook 02_2".
NUMBERED = re.compile(r"lecture\s+notebook\s+(\d\d(?:_\d)?)\b", re.IGNORECASE)
#: A file a code cell names in a string: "W1.npy", "lecture_figures.py".
FILE_LITERAL = re.compile(r"""["']([\w./-]+\.(?:npy|npz|py|csv|json|txt|png|mat|pkl))["']""")


def _delivered(assignment: str) -> set[Path]:
    folder = RELEASE / assignment / LECTURES
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def _text(path: Path) -> str:
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)


def _code(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def test_each_assignment_carries_the_lectures_the_introduction_pairs_it_with():
    """SECTION_LECTURES is the table of notebooks/01_introduction.ipynb: | `lecture` | section | `assignment`, … |."""
    assert sorted(SECTION_LECTURES) == ASSIGNMENTS
    table = {}
    for row in re.findall(r"^\| `(\w+)` \|[^|]*\| ([^|]*) \|$", _text(NOTEBOOKS / "01_introduction.ipynb"), re.M):
        lecture, assignments = row
        table[lecture] = re.findall(r"`(\w+)`", assignments) or assignments.strip()
    assert sorted(table) == sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")), table
    for assignment in ASSIGNMENTS:
        paired = tuple(lecture for lecture, theirs in table.items() if assignment in theirs)
        assert SECTION_LECTURES[assignment] == paired, assignment
    assert {lecture for lecture, theirs in table.items() if isinstance(theirs, str)} == set(COURSE_LECTURES), table


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_carries_its_lectures_in_both_editions_as_notebooks_holds_them(assignment):
    lectures = [*COURSE_LECTURES, *SECTION_LECTURES[assignment]]
    delivered = _delivered(assignment)
    for name in lectures:
        for edition in (Path(f"{name}.ipynb"), Path("zh", f"{name}.ipynb")):
            assert edition in delivered, f"release/{assignment}/{LECTURES}/{edition} is missing"
    assert {p for p in delivered if p.suffix == ".ipynb"} == {
        edition for name in lectures for edition in (Path(f"{name}.ipynb"), Path("zh", f"{name}.ipynb"))
    }
    assert delivered == set(Course().lecture_files(assignment))
    for rel in sorted(delivered):
        copy, original = RELEASE / assignment / LECTURES / rel, NOTEBOOKS / rel
        if rel.suffix != ".ipynb":
            assert copy.read_bytes() == original.read_bytes(), f"{copy} differs from {original}: run release"
            continue
        theirs, ours = (nbformat.read(p, as_version=4) for p in (copy, original))
        assert [(c.cell_type, c.source) for c in theirs.cells] == [(c.cell_type, c.source) for c in ours.cells], rel
        code = [c for c in theirs.cells if c.cell_type == "code"]
        assert code and not any(c.outputs or c.execution_count for c in code), f"{copy} holds outputs"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_what_the_delivered_lectures_import_and_open_is_delivered(assignment):
    folder = RELEASE / assignment / LECTURES
    delivered = _delivered(assignment)
    for rel in sorted(p for p in delivered if p.suffix == ".ipynb"):
        code = _code(folder / rel)
        for module in re.findall(r"^\s*(?:from|import)\s+(\w+)", code, re.M):
            if (NOTEBOOKS / f"{module}.py").exists():  # the course's own module, not a library
                assert Path(f"{module}.py") in delivered, f"{assignment}: {rel} imports {module}"
        for name in FILE_LITERAL.findall(code):
            found = [p for p in delivered if "zh" not in p.parts[:1] and str(p).endswith(name)]
            assert found, f"{assignment}: {rel} opens {name!r}, which its lectures/ lacks"


def test_a_delivered_lecture_runs_where_a_student_finds_it(tmp_path):
    """The Chinese edition finds lecture_figures.py and data/ one folder up; the English one beside it. nbval
    (lax: the copies hold no outputs to compare), in a copy of the folder (as fetched): every cell runs."""
    shutil.copytree(RELEASE / "05_sparse_autoencoder", tmp_path / "05_sparse_autoencoder")
    folder = tmp_path / "05_sparse_autoencoder" / LECTURES
    paths = [folder / "zh" / "03_autoencoders_and_sparsity.ipynb", folder / "01_introduction.ipynb"]
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env"]
    command += ["-p", "no:cacheprovider", "-p", "no:randomly", "-q", *map(str, paths)]  # the cells in their order
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", run.stdout) and " failed" not in run.stdout, run.stdout[-2000:]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_assignment_text_points_at_its_delivered_lectures(assignment):
    folder = RELEASE / assignment
    text = "\n".join(_text(path) for path in sorted(folder.glob("*.ipynb")))
    named = PATH.findall(text)
    assert not [p for p in named if p.startswith("notebooks/")], f"{assignment}: students have no notebooks/"
    for path in named:
        assert (folder / path).exists(), f"{assignment} names {path}, which its folder lacks"
    for number in NUMBERED.findall(text):
        for edition in (folder / LECTURES, folder / LECTURES / "zh"):
            assert list(edition.glob(f"{number}_*.ipynb")), (
                f"{assignment} names lecture notebook {number}: not in {edition}"
            )
    delivered = {f"{LECTURES}/{p}" for p in _delivered(assignment) if p.suffix == ".ipynb" and len(p.parts) == 1}
    assert delivered <= set(named), f"{assignment}'s text does not name {sorted(delivered - set(named))}"
    assert f"{LECTURES}/zh/" in named, f"{assignment}'s text does not say where the Chinese editions are"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_hand_in_of_the_folder_stays_small_and_grades_only_its_own_notebooks(assignment):
    folder = RELEASE / assignment
    assert sorted(p.name for p in folder.glob("*.ipynb")) == sorted(
        p.name for p in (COURSE_ROOT / "source" / assignment).glob("*.ipynb")
    ), "a lecture beside the graded notebooks would be autograded as one"
    entries = list(folder.rglob("*"))
    size = sum(p.stat().st_size for p in entries if p.is_file())
    lectures = sum(p.stat().st_size for p in (folder / LECTURES).rglob("*") if p.is_file())
    assert len(entries) < min(exchange.MAX_ENTRIES, submission.MAX_SUBMITTED_FILES) // 20, len(entries)
    assert size < submission.MAX_SUBMITTED_BYTES // 10, size  # a tenth of grading's bound (64 MiB)
    assert lectures < 2 * 2**20, lectures  # not every lecture with every assignment: 1.9 MB each


def test_a_lecture_edited_in_notebooks_makes_the_release_stale(tmp_path):
    course = Course().scratch(tmp_path / "course", ["03_backprop"])
    edited = course.root / "notebooks" / "zh" / "02_2_backpropagation.ipynb"
    edited.write_text(edited.read_text().replace("反向传导", "反向传播", 1))
    (course.path("release", "03_backprop") / LECTURES / "05_notation.ipynb").unlink()
    assert course.stale_releases(["03_backprop"]) == [
        f"release/03_backprop/{LECTURES}/05_notation.ipynb is missing",
        f"release/03_backprop/{LECTURES}/zh/02_2_backpropagation.ipynb differs from its source",
    ]
    course.release(["03_backprop"])
    assert course.stale_releases(["03_backprop"]) == []


def test_a_course_without_notebooks_keeps_the_lectures_its_release_holds(tmp_path):
    """An instructor's course directory may be a copy of source/ and release/ alone (no notebooks/): grade's
    check takes the release's lectures/ as they are, and release (which grade runs) keeps them."""
    root = tmp_path / "course"
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root.mkdir() or root)
    for kind in ("source", "release"):
        shutil.copytree(COURSE_ROOT / kind / "03_backprop", root / kind / "03_backprop")
    course = Course(root)
    course.check(["03_backprop"])
    before = {p.relative_to(root): p.read_bytes() for p in (root / "release").rglob("*") if p.is_file()}
    course.release(["03_backprop"])
    after = {p.relative_to(root): p.read_bytes() for p in (root / "release").rglob("*") if p.is_file()}
    assert {p for p in after if LECTURES in p.parts} == {p for p in before if LECTURES in p.parts} != set()
    assert all(after[p] == before[p] for p in before if LECTURES in p.parts)
    assert sorted(p.name for p in root.iterdir()) == ["gradebook.db", "nbgrader_config.py", "release", "source"]
