"""The embedded demo class (autograder.demo), graded end to end with nbgrader's API.

The demo course is built once in a scratch folder and every submission is autograded
(``api.autograde(assignment, student, force=True, create=True)``), one at a time; the totals
must be exactly ``demo.EXPECTED_SCORES``. Grading the class takes about 3 minutes here
(assignment 05's training cell and dan_crash's infinite loop each cost one 20 s timeout).
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from autograder import course, demo

COURSE_ROOT = Path(__file__).resolve().parent.parent


def _notebooks(assignment: str) -> list[str]:
    return sorted(p.name for p in (COURSE_ROOT / "source" / assignment).glob("*.ipynb"))


def _submissions() -> list[tuple[str, str]]:
    return [(s, a) for s, work in demo.DEMO_STUDENTS.items() for a in demo.ASSIGNMENTS if a in work]


@pytest.fixture(scope="module")
def demo_course(tmp_path_factory) -> Path:
    return demo.build_demo_course(tmp_path_factory.mktemp("demo") / "course")


@pytest.fixture(scope="module")
def graded(demo_course):
    """(scores {student: {assignment: total}}, cells {(student, assignment): {grade_id: (score, max)}})."""
    from nbgrader.api import Gradebook

    api = course.nbgrader_api(demo_course)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    for student, work in demo.DEMO_STUDENTS.items():
        t = time.perf_counter()
        for assignment in demo.ASSIGNMENTS:
            if assignment in work:
                course.checked(
                    api.autograde(assignment, student, force=True, create=True), f"autograde {assignment} {student}"
                )
        seconds[student] = time.perf_counter() - t
    total = time.perf_counter() - start
    print(
        f"\ngraded the demo class ({len(_submissions())} submissions, {len(seconds)} students) in {total:.0f} s, "
        f"{total / len(seconds):.1f} s per student: " + ", ".join(f"{s} {t:.0f} s" for s, t in seconds.items())
    )

    scores: dict[str, dict[str, float]] = {}
    cells: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{demo_course / 'gradebook.db'}") as gb:
        for assignment in demo.ASSIGNMENTS:
            for row in gb.submission_dicts(assignment):
                scores.setdefault(row["student"], {})[assignment] = row["score"]
        for student, assignment in _submissions():
            cells[student, assignment] = {
                g.name: (g.score, g.max_score)
                for name in _notebooks(assignment)
                for g in gb.find_submission_notebook(Path(name).stem, assignment, student).grades
                if g.max_score
            }
    return scores, cells


def test_the_demo_class_covers_the_course():
    assert demo.ASSIGNMENTS == course.source_assignments()
    assert set(demo.DEMO_STUDENTS) == {"ada_perfect", "ben_beginner", "cleo_blank", "dan_crash"}
    assert demo.DEMO_STUDENTS["ada_perfect"] == {a: {} for a in demo.ASSIGNMENTS}
    assert set(demo.DEMO_STUDENTS["cleo_blank"]) == set(demo.ASSIGNMENTS[:3])
    assert set(demo.EXPECTED_SCORES) == set(demo.DEMO_STUDENTS)
    for student, work in demo.DEMO_STUDENTS.items():
        assert set(work) <= set(demo.ASSIGNMENTS), student
        assert set(demo.EXPECTED_SCORES[student]) == set(work), f"{student}: expected totals of what was submitted"


def test_build_refuses_a_folder_that_is_not_a_demo_course(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        demo.build_demo_course(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_course_layout(demo_course):
    config = (demo_course / "nbgrader_config.py").read_text()
    assert config.startswith((COURSE_ROOT / "nbgrader_config.py").read_text())
    assert config.rstrip().endswith("c.Execute.timeout = 20")
    assert course.source_assignments(demo_course) == demo.ASSIGNMENTS
    for assignment in demo.ASSIGNMENTS:
        assert (demo_course / "release" / assignment).is_dir()
        extras = [p.name for p in (COURSE_ROOT / "source" / assignment).iterdir() if p.suffix != ".ipynb"]
        for student, work in demo.DEMO_STUDENTS.items():
            folder = demo_course / "submitted" / student / assignment
            assert folder.is_dir() == (assignment in work), f"{student}/{assignment}"
            if assignment in work:
                for name in _notebooks(assignment) + extras:
                    assert (folder / name).is_file(), f"{student}/{assignment}/{name}"
    # cleo's 02 is the release as it is
    name = _notebooks("02_forward_pass")[0]
    cleo = nbformat.read(demo_course / "submitted" / "cleo_blank" / "02_forward_pass" / name, as_version=4)
    release = nbformat.read(demo_course / "release" / "02_forward_pass" / name, as_version=4)
    assert [c.source for c in cleo.cells] == [c.source for c in release.cells]


def test_totals_are_exactly_the_expected_scores(graded):
    scores, _ = graded
    assert scores == demo.EXPECTED_SCORES


def test_ada_gets_100(graded):
    scores, cells = graded
    assert sum(scores["ada_perfect"].values()) == 100
    for assignment in demo.ASSIGNMENTS:
        lost = {k: v for k, v in cells["ada_perfect", assignment].items() if v[0] != v[1]}
        assert not lost, f"ada_perfect loses points in {assignment}: {lost}"


def test_dans_hanging_cell_costs_only_that_part(graded, demo_course):
    _, cells = graded
    student, assignment, cell_id = demo.HANGING_CELL
    part = cells[student, assignment]
    assert part[cell_id][0] == 0
    assert all(score == top for gid, (score, top) in part.items() if gid != cell_id), part
    name = _notebooks(assignment)[0]
    nb = nbformat.read(demo_course / "autograded" / student / assignment / name, as_version=4)
    timed_out = [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "code" and any(o.get("ename") == "CellTimeoutError" for o in c.get("outputs", []))
    ]
    assert timed_out == [cell_id]
    # and his other assignments are graded too
    assert all(score > 0 for score in demo.EXPECTED_SCORES[student].values())


def test_autograded_notebooks_exist(graded, demo_course):
    for student, work in demo.DEMO_STUDENTS.items():
        for assignment in demo.ASSIGNMENTS:
            for name in _notebooks(assignment):
                path = demo_course / "autograded" / student / assignment / name
                assert path.is_file() == (assignment in work), f"{student}/{assignment}/{name}"
