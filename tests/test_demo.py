"""The embedded demo class (autograder.demo), graded end to end with nbgrader's API.

The README's main job, ``python -m autograder demo``, builds the demo course in a scratch
folder and grades it with ``autograder.grading`` (two students at a time); the totals in the
gradebook must be exactly ``demo.EXPECTED_SCORES`` and the printed table must say so.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import demo, host
from autograder.course import COURSE_ROOT, Course


def _notebooks(assignment: str) -> list[str]:
    return sorted(p.name for p in (COURSE_ROOT / "source" / assignment).glob("*.ipynb"))


def _submissions() -> list[tuple[str, str]]:
    return [(s, a) for s, work in demo.DEMO_STUDENTS.items() for a in demo.ASSIGNMENTS if a in work]


@pytest.fixture(scope="module")
def demo_course(tmp_path_factory) -> Path:
    return demo.build_demo_course(tmp_path_factory.mktemp("demo") / "course").root


def plain_env(**extra: str) -> dict[str, str]:
    """A newcomer's environment: HOME and the system's PATH, no virtual environment on it, nothing else."""
    env = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return env | extra


@pytest.fixture(scope="module")
def demo_run(demo_course) -> str:
    """The README's main job, ``python -m autograder demo``, run on the scratch folder as a newcomer
    runs it: the environment's python called by its path, with a PATH that does not hold its bin/
    (nbgrader runs ``alembic`` from there); its output."""
    assert Path(sys.executable).parent.as_posix() not in plain_env()["PATH"].split(":")
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "demo", "--dest", str(demo_course), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=3600,
        env=plain_env(),
        cwd="/",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(proc.stdout)
    return proc.stdout


@pytest.fixture(scope="module")
def graded(demo_course, demo_run):
    """(scores {student: {assignment: total}}, cells {(student, assignment): {grade_id: (score, max)}})."""
    from nbgrader.api import Gradebook

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
    assert demo.ASSIGNMENTS == Course().assignments()
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
    assert Course(demo_course).assignments() == demo.ASSIGNMENTS
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
    # The isolated pass saw it hang: the kernel did not wait for it again (and ran every other cell).
    not_run = [
        c.metadata.get("nbgrader", {}).get("grade_id")
        for c in nb.cells
        if c.cell_type == "code" and any(o.get("ename") in ("CellTimeoutError", "NotRunAfterHang") for o in c.outputs)
    ]
    assert not_run == [cell_id]
    # and his other assignments are graded too
    assert all(score > 0 for score in demo.EXPECTED_SCORES[student].values())


def test_autograded_notebooks_exist(graded, demo_course):
    for student, work in demo.DEMO_STUDENTS.items():
        for assignment in demo.ASSIGNMENTS:
            for name in _notebooks(assignment):
                path = demo_course / "autograded" / student / assignment / name
                assert path.is_file() == (assignment in work), f"{student}/{assignment}/{name}"


def test_the_command_prints_the_table_and_where_things_are(demo_run, demo_course):
    assert "ada_perfect" in demo_run and "100/100" in demo_run
    for student, work in demo.EXPECTED_SCORES.items():
        total = sum(work.values())
        assert any(line.startswith(student) and f"{total:g}/100" in line for line in demo_run.splitlines()), student
    assert (
        "dan_crash / 02_forward_pass: graded: 1 cell not run in the kernel, as the code hung there in the isolated "
        "check" in demo_run
    )
    assert f"grades (CSV):     {demo_course / 'grades.csv'}" in demo_run
    assert (demo_course / "grades.csv").is_file()
    assert (demo_course / "feedback" / "ben_beginner" / "03_backprop").is_dir()


def test_bens_feedback_names_his_bugs_where_a_visible_assert_stopped_the_cell(demo_run, demo_course):
    """ben_beginner's backprop misses the 1/m in dW and puts weight decay on the biases. The visible
    asserts of each dW/db cell fail first; the feedback still says which bug, from the hidden checks."""
    page = html.unescape((demo_course / "feedback" / "ben_beginner" / "03_backprop" / "backprop.html").read_text())
    assert "this is what happens when the 1/m is missing" in page
    assert "this is what happens when weight decay is applied to the biases" in page
    assert "BEGIN HIDDEN TESTS" not in page and "autograder.checks" not in page


def test_the_class_report_of_the_demo_class(demo_run, demo_course):
    """grade's class report: linked from the table's last lines, the gradebook's numbers part by part, each
    student's mistakes by kind, ben's bugs named, and his missing 1/m coming back from 03 in 05."""
    from test_class_report import agrees_with_gradebook, row_of

    page = demo_course / "reports" / "class_report.html"
    assert f"class report:     {page}  (CSV: {page.with_name('class_report.csv')})" in demo_run
    rows = agrees_with_gradebook(demo_course)
    assert "ada_perfect" not in {s for r in rows for s in r["student_ids"].split()}
    for part in ("backprop_dW1", "backprop_dW2"):
        row = row_of(rows, "03_backprop", part, "ben_beginner")
        assert (row["kind"], row["notes_section"]) == ("named bug", "§2.2")
        assert row["bug"].startswith("the 1/m is missing") and row["comes_back_in"] == "05_sparse_autoencoder (1)"
    for part in ("backprop_db1", "backprop_db2"):
        row = row_of(rows, "03_backprop", part, "ben_beginner")
        assert row["bug"].startswith("weight decay is applied to the biases")
    row = row_of(rows, "05_sparse_autoencoder", "sae_grad_W1", "ben_beginner")
    assert row["kind"] == "named bug" and "1/m" in row["bug"] and row["notes_section"] == "§3"
    assert row_of(rows, "02_forward_pass", "forward_sigmoid", "cleo_blank")["kind"] == "left blank"
    student, assignment, cell_id = demo.HANGING_CELL
    assert row_of(rows, assignment, cell_id, student)["kind"] == "hangs"
    assert row_of(rows, "01_activations", "sigmoid_prime_values", "dan_crash")["kind"] == "raises an error"
    text = html.unescape(page.read_text())
    recurring = text.split('id="recurring"', 1)[1].split('id="overview"', 1)[0]
    assert "a missing 1/m" in recurring and "03_backprop → 05_sparse_autoencoder" in recurring
    assert "ben_beginner" in recurring


def test_the_isolated_pass_changes_no_honest_grade(demo_run):
    """EXPECTED_SCORES were measured with nbgrader alone; the recorded (isolated) scores equal them
    (test_totals_are_exactly_the_expected_scores), and no part's in-kernel score differs from its
    isolated one: the table flags none."""
    assert "possible tampering" not in demo_run
    assert "isolated check passed where the in-kernel test did not" not in demo_run
    # The full sandbox for root, and for another user where the kernel allows it user namespaces
    # (tests/run_as_user.sh runs this file as one); else the fallback, said with why.
    if host.real_root() or host.user_namespaces():
        assert "isolation: namespaces (" in demo_run
    else:
        assert "isolation: limits: " in demo_run


def test_demo_students_write_into_release_notebooks(demo_run, demo_course):
    """Submissions are made from release/ as students make them: no solution marker, no hidden test,
    in the notebooks they hand in or in the feedback they get back."""
    for path in (demo_course / "submitted").rglob("*.ipynb"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, path
    feedback = list((demo_course / "feedback").rglob("*.html"))
    assert feedback
    for path in feedback:
        assert "BEGIN SOLUTION" not in path.read_text(), path
    for student, work in demo.DEMO_STUDENTS.items():
        for assignment in work:
            released = sorted(p.name for p in (demo_course / "release" / assignment).iterdir())
            handed_in = sorted(p.name for p in (demo_course / "submitted" / student / assignment).iterdir())
            assert handed_in == released, f"{student}/{assignment}"


def test_a_failing_nbgrader_is_said_in_one_line(tmp_path):
    """Where nbgrader still fails (here its program alembic is made unreachable), the command says
    what failed and what to do in one line, and writes the details to a file: no traceback."""
    empty = tmp_path / "empty"
    empty.mkdir()
    script = (
        "import os, sys, autograder\n"
        f"os.environ['PATH'] = {str(empty)!r}  # after autograder put its bin/ there: alembic is gone\n"
        "from autograder.cli import main\n"
        f"sys.exit(main(['demo', '--dest', {str(tmp_path / 'course')!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=plain_env(), cwd=tmp_path
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: demo stopped: nbgrader generate_assignment 01_activations failed: FileNotFoundError")
    assert "'alembic'" in line and "-m pip install -e" in line
    details = Path(line.rsplit("(details: ", 1)[1].rstrip(")"))
    assert "FileNotFoundError" in details.read_text()
