"""Grading a class end to end with the real nbgrader: parallel = sequential, idempotent,
backed up, manual grades kept, and bad submissions contained.

A scratch course with assignments 01 and 02 (the quick ones) and five students:
alice (solutions), bob (untouched release), carl (``os._exit`` in 01: the kernel dies),
dora (a loop that ignores SIGINT in 01: nbgrader gives her notebook up, the rest is graded)
and eve (correct, but prints megabytes, warns and calls ``sys.exit`` in an ungraded cell).
The isolated pass (autograder.verdict) grades carl's and dora's 01 for what they got right.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys

import nbformat
import pytest

from autograder import course, grading

ASSIGNMENTS = ["01_activations", "02_forward_pass"]
NOTEBOOKS = {"01_activations": "activations.ipynb", "02_forward_pass": "forward_pass.ipynb"}
# Budgets with ample margins (honest work takes well under a second a cell or call on a quiet machine,
# and must still pass on a loaded one); only hangs that never end reach them.
BUDGET = 900.0  # seconds a student's grading may take in all, here
CALL_TIMEOUT = 10.0  # seconds a call of a student's function may take in the isolated pass, here
CELL_TIMEOUT = 15  # nbgrader's per-cell timeout, here
TANH_PARTS = {"tanh_values": 2, "tanh_extremes": 1, "tanh_prime_values": 2}

HANG = """def sigmoid(z):
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass"""
NOISY = """def sigmoid(z):
    import sys, warnings
    print("x" * 2_000_000)
    warnings.warn("student warning")
    sys.stderr.write("noise on stderr\\n")
    z = np.asarray(z, dtype=float)
    return 1 / (1 + np.exp(-z))"""

STUDENTS = {
    "alice": {a: {} for a in ASSIGNMENTS},
    "bob": dict.fromkeys(ASSIGNMENTS),
    "carl": {"01_activations": {"sigmoid": "def sigmoid(z):\n    import os\n    os._exit(3)"}, "02_forward_pass": {}},
    "dora": {"01_activations": {"sigmoid": HANG}, "02_forward_pass": {}},
    "eve": {"01_activations": {"sigmoid": NOISY}},
}


@pytest.fixture(scope="module")
def class_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    course.scratch_course(root, ASSIGNMENTS, course.COURSE_ROOT, f"\nc.Execute.timeout = {CELL_TIMEOUT}\n")
    for student, work in STUDENTS.items():
        for a, answers in work.items():
            course.submit(root, student, a, answers)
    return root


@pytest.fixture(scope="module")
def parallel_run(class_course):
    report = grading.grade(class_course, ASSIGNMENTS, jobs=2, timeout=BUDGET, call_timeout=CALL_TIMEOUT)
    return report, grading.scores(class_course, ASSIGNMENTS)


def _status(report):
    return {(o.student, o.assignment): o.status for o in report.outcomes}


def test_honest_students_get_their_grades(parallel_run):
    report, scores = parallel_run
    assert sum(scores["alice", "01_activations"].values()) == 10
    assert sum(scores["alice", "02_forward_pass"].values()) == 10
    assert sum(scores["bob", "01_activations"].values()) == 0
    assert _status(report)["alice", "01_activations"] == grading.GRADED


def test_a_dead_kernel_is_recorded_and_the_students_other_work_is_graded(parallel_run):
    report, scores = parallel_run
    assert _status(report)["carl", "01_activations"] == grading.KERNEL_DIED
    assert _status(report)["carl", "02_forward_pass"] == grading.GRADED
    assert sum(scores["carl", "02_forward_pass"].values()) == 10
    # Not a silent 0: the isolated pass grades what does not call the dying sigmoid.
    carl = scores["carl", "01_activations"]
    assert {k: carl[k] for k in TANH_PARTS} == TANH_PARTS and sum(carl.values()) == 5
    (outcome,) = [o for o in report.outcomes if (o.student, o.assignment) == ("carl", "01_activations")]
    assert any("isolated check passed where the in-kernel test did not" in f for f in outcome.flags)


def test_a_hang_that_ignores_sigint_costs_only_its_notebook(parallel_run):
    report, scores = parallel_run
    status = _status(report)
    assert status["dora", "01_activations"] == grading.TIMED_OUT
    assert status["dora", "02_forward_pass"] == grading.GRADED  # the hang cost only its own notebook
    assert sum(scores["dora", "02_forward_pass"].values()) == 10
    dora = scores["dora", "01_activations"]
    assert {k: dora[k] for k in TANH_PARTS} == TANH_PARTS and sum(dora.values()) == 5
    assert not any("grading stopped" in o.detail for o in report.outcomes if o.student == "dora")  # not the budget


def test_noise_warnings_and_megabytes_of_output_cost_nothing(parallel_run):
    report, scores = parallel_run
    (outcome,) = [o for o in report.outcomes if (o.student, o.assignment) == ("eve", "01_activations")]
    assert outcome.status == grading.GRADED
    # In the kernel, the visible asserts printed to stderr, which nbgrader scores 0 ...
    assert outcome.kernel["activations"]["sigmoid_extremes"] == 0
    # ... but the work is correct: the isolated pass, which records its score, gives full marks.
    assert sum(scores["eve", "01_activations"].values()) == 10
    assert any("sigmoid_extremes" in f and "isolated score is recorded" in f for f in outcome.flags)


def test_summary_csv_and_feedback(parallel_run, class_course):
    report, _ = parallel_run
    table = grading.summary(class_course, report, ASSIGNMENTS)
    assert "alice" in table and "20/20" in table
    assert "carl / 01_activations: kernel died" in table and "the isolated score is recorded" in table
    rows = list(csv.DictReader(open(report.csv)))
    assert {r["student_id"] for r in rows} >= {"alice", "bob", "carl", "eve"}
    assert (class_course / "feedback" / "alice" / "01_activations" / "activations.html").is_file()


def test_sequential_regrade_is_identical_and_keeps_manual_grades(parallel_run, class_course):
    report, scores = parallel_run
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{class_course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("tanh_values", "activations", "01_activations", "bob")
        grade.manual_score = 1.5
        gb.db.commit()
    # Sequentially, assignment 01 of everyone but dora (whose hang only costs time): the same
    # grades as in parallel, the dead kernel and the noise included.
    regraded = ["alice", "bob", "carl", "eve"]
    again = grading.grade(
        class_course, ASSIGNMENTS[:1], jobs=1, timeout=BUDGET, call_timeout=CALL_TIMEOUT, students=regraded
    )
    assert {o.student for o in again.outcomes} == set(regraded)
    rescored = grading.scores(class_course, ASSIGNMENTS)
    expected = dict(scores)
    expected["bob", "01_activations"] = {**scores["bob", "01_activations"], "tanh_values": 1.5}
    for key in expected:
        assert rescored[key] == expected[key], key
    assert again.backup is not None and again.backup.exists()
    # The backup holds the gradebook as it was before this run: the manual grade is in it.
    with sqlite3.connect(again.backup) as db:
        assert db.execute("select count(*) from grade where manual_score = 1.5").fetchone()[0] == 1


def test_restore_puts_a_backup_back(class_course, parallel_run):
    backups = sorted((class_course / "backups").glob("gradebook-*.db"))
    assert backups
    with sqlite3.connect(class_course / "gradebook.db") as db:
        db.execute("delete from grade")
    grading.restore_gradebook(class_course, backups[-1])
    with sqlite3.connect(class_course / "gradebook.db") as db:
        assert db.execute("select count(*) from grade").fetchone()[0] > 0


def test_an_unknown_student_stops_grading_with_who(class_course):
    with pytest.raises(grading.CourseError, match="no submission of zoe"):
        grading.grade(class_course, ASSIGNMENTS, students=["alice", "zoe"])


def test_a_stale_release_stops_grading_with_what_to_run(class_course, tmp_path):
    root = tmp_path / "stale"
    shutil.copytree(class_course / "source", root / "source")
    shutil.copytree(class_course / "release", root / "release")
    shutil.copy(class_course / "nbgrader_config.py", root)
    nb_path = root / "source" / "01_activations" / "activations.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source += "\n\nA new sentence."
    nbformat.write(nb, nb_path)
    with pytest.raises(grading.CourseError, match="python -m autograder release"):
        grading.grade(root, ["01_activations"])


def test_a_student_past_the_budget_is_stopped_with_every_kernel(class_course, tmp_path):
    # dora's first notebook cannot be done in 3 s, however fast the machine: her sigmoid hangs for
    # a whole call budget in the isolated pass and a cell timeout in the kernel.
    shutil.copy(class_course / "gradebook.db", tmp_path / "gb.db")
    outcomes = grading._grade_student(
        class_course, "dora", ASSIGNMENTS, feedback=False, timeout=3, golden=tmp_path / "gb.db"
    )
    assert [o.status for o in outcomes] == [grading.TIMED_OUT, grading.TIMED_OUT]
    assert "stopped after 3 s" in outcomes[0].detail


def test_a_fault_in_the_graders_own_work_on_one_student_loses_no_other_grade(tmp_path, monkeypatch):
    """The parent's part of one student's grading (after the worker) raises: that student's outcome
    says so, and everyone else's grades, autograded notebooks and feedback are in place."""
    root = course.scratch_course(tmp_path / "course", ASSIGNMENTS[:1], course.COURSE_ROOT)
    for student in ("alice", "bob", "cleo"):
        course.submit(root, student, ASSIGNMENTS[0], {})
    record = grading.record_scores

    def faulty(db, student, assignment, scores):
        if student == "bob":  # the worker (another process) records its own copy: only the parent fails
            raise OSError("injected fault: the disk is full")
        return record(db, student, assignment, scores)

    monkeypatch.setattr(grading, "record_scores", faulty)
    report = grading.grade(root, ASSIGNMENTS[:1], jobs=2, timeout=BUDGET, call_timeout=CALL_TIMEOUT)
    outcomes = {o.student: o for o in report.outcomes}
    assert outcomes["bob"].status == grading.GRADING_ERROR
    assert "injected fault: the disk is full" in outcomes["bob"].detail
    scores = grading.scores(root, ASSIGNMENTS[:1])
    for student in ("alice", "cleo"):
        assert outcomes[student].status == grading.GRADED
        assert sum(scores[student, ASSIGNMENTS[0]].values()) == 10, student
        html = NOTEBOOKS[ASSIGNMENTS[0]].replace(".ipynb", ".html")
        assert (root / "feedback" / student / ASSIGNMENTS[0] / html).is_file()
    assert (root / "submitted" / "bob" / ASSIGNMENTS[0] / NOTEBOOKS[ASSIGNMENTS[0]]).is_file()  # nothing lost
    table = grading.summary(root, report, ASSIGNMENTS[:1])
    assert "bob / 01_activations: grading error: OSError: injected fault: the disk is full" in table
    assert [line.split(maxsplit=1)[1].startswith("? !") for line in table.splitlines() if line.startswith("bob")] == [
        True
    ]
    assert report.csv.is_file()


def test_grading_refuses_where_student_code_cannot_be_sandboxed(tmp_path):
    """No namespaces (as AUTOGRADER_SANDBOX=limits pretends): grade says why and what to do, and touches nothing."""
    course.scratch_course(tmp_path, ["01_activations"], course.COURSE_ROOT)
    course.submit(tmp_path, "alice", "01_activations", {})
    before = sorted(tmp_path.rglob("*"))
    env = {**os.environ, "AUTOGRADER_SANDBOX": "limits"}
    cmd = [sys.executable, "-m", "autograder", "grade", "--course", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "student code cannot be sandboxed here (AUTOGRADER_SANDBOX=limits)" in done.stdout
    assert "--unsafe" in done.stdout
    assert sorted(tmp_path.rglob("*")) == before  # no gradebook backup, no grades, no feedback


def test_without_the_isolated_pass_the_sandboxed_kernel_runs_the_hidden_tests(tmp_path):
    """--no-isolation records nbgrader's in-kernel scores: the kernel then runs the hidden checks
    (it sees the autograder package, read-only), which refuse a tanh that calls np.tanh."""
    course.scratch_course(tmp_path, ["01_activations"], course.COURSE_ROOT, f"\nc.Execute.timeout = {CELL_TIMEOUT}\n")
    course.submit(tmp_path, "alice", "01_activations", {})
    course.submit(tmp_path, "wanda", "01_activations", {"tanh": "def tanh(z):\n    return np.tanh(z)\n"})
    report = grading.grade(tmp_path, ["01_activations"], jobs=2, timeout=BUDGET, call_timeout=None)
    assert {o.status for o in report.outcomes} == {grading.GRADED}
    scores = grading.scores(tmp_path, ["01_activations"])
    assert sum(scores["alice", "01_activations"].values()) == 10
    wanda = scores["wanda", "01_activations"]
    assert (wanda["tanh_values"], wanda["tanh_extremes"], sum(wanda.values())) == (0, 0, 7)


def test_the_submitted_notebook_standing_in_for_a_dead_kernels_is_sanitized_too(tmp_path):
    """Where the kernel died, the submitted notebook is the autograded one (for the feedback and
    formgrader): its outputs, as the student saved them, are cleaned like any other."""
    from autograder import verdict

    meta = {"grade": True, "grade_id": "test_f", "locked": True, "points": 1, "schema_version": 3, "solution": False}
    script = nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)", "text/plain": "x"})
    cells = [
        nbformat.v4.new_code_cell("f()", outputs=[script]),
        nbformat.v4.new_code_cell("assert f()", metadata={"nbgrader": meta}),
    ]
    submitted = tmp_path / "submitted" / "ada" / "01" / "f.ipynb"
    submitted.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), submitted)
    found = verdict.NotebookVerdict("f.ipynb", {"test_f": verdict.Verdict("test_f", 1.0, 0.0, "AssertionError")})
    grading._annotate(tmp_path, "ada", "01", [found])
    nb = nbformat.read(tmp_path / "autograded" / "ada" / "01" / "f.ipynb", as_version=4)
    assert nb.cells[0].outputs[0].data == {"text/plain": "x"}
    assert nb.cells[1].metadata["autograder"]["isolated"]["message"] == "AssertionError"
