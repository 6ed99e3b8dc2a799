"""Grading a class end to end with the real nbgrader: parallel = sequential, idempotent,
backed up, manual grades kept, and bad submissions contained.

A scratch course with assignments 01 and 02 (the quick ones) and five students:
alice (solutions), bob (untouched release), carl (``os._exit`` in 01: the kernel dies),
dora (a loop that ignores SIGINT in 01: the isolated pass sees it hang, and the kernel does not wait
for it again), eve (correct, but prints megabytes, warns and calls ``sys.exit`` in an ungraded cell)
and fay (a sigmoid that hangs, ignoring SIGINT, only where nbgrader autogrades: nbgrader gives her
notebook up). The isolated pass (autograder.verdict) grades carl's, dora's and fay's 01 for what they
got right.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import grading
from autograder.course import COURSE_ROOT, Course
from autograder.grading import Options, Status, gradebook, supervisor, worker

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

KERNEL_ONLY_HANG = """def sigmoid(z):
    import os, signal
    if os.environ.get("NBGRADER_EXECUTION"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass
    z = np.asarray(z, dtype=float)
    return 1 / (1 + np.exp(-z))"""

STUDENTS = {
    "alice": {a: {} for a in ASSIGNMENTS},
    "bob": dict.fromkeys(ASSIGNMENTS),
    "carl": {"01_activations": {"sigmoid": "def sigmoid(z):\n    import os\n    os._exit(3)"}, "02_forward_pass": {}},
    "dora": {"01_activations": {"sigmoid": HANG}, "02_forward_pass": {}},
    "eve": {"01_activations": {"sigmoid": NOISY}},
    "fay": {"01_activations": {"sigmoid": KERNEL_ONLY_HANG}},
}


@pytest.fixture(scope="module")
def class_course(tmp_path_factory):
    config = f"\nc.Execute.timeout = {CELL_TIMEOUT}\n"
    return Course().scratch(tmp_path_factory.mktemp("class"), ASSIGNMENTS, config=config, submissions=STUDENTS)


@pytest.fixture(scope="module")
def parallel_run(class_course):
    report = grading.grade(class_course, Options(ASSIGNMENTS, jobs=2, timeout=BUDGET, call_timeout=CALL_TIMEOUT))
    return report, gradebook.scores(class_course, ASSIGNMENTS)


def _own_copy(course: Course, tmp_path) -> Course:
    """A copy of the module's class for a test that changes it (grades again, writes a manual grade, deletes
    grades, stops a student): the class stays as parallel_run left it, for the tests that read it, in any order."""
    return Course(shutil.copytree(course.root, tmp_path / "course", symlinks=True))


def _status(report):
    return {(o.student, o.assignment): o.status for o in report.outcomes}


def test_honest_students_get_their_grades(parallel_run):
    report, scores = parallel_run
    assert sum(scores["alice", "01_activations"].values()) == 10
    assert sum(scores["alice", "02_forward_pass"].values()) == 10
    assert sum(scores["bob", "01_activations"].values()) == 0
    assert _status(report)["alice", "01_activations"] == Status.GRADED


def test_a_dead_kernel_is_recorded_and_the_students_other_work_is_graded(parallel_run):
    report, scores = parallel_run
    assert _status(report)["carl", "01_activations"] == Status.KERNEL_DIED
    assert _status(report)["carl", "02_forward_pass"] == Status.GRADED
    assert sum(scores["carl", "02_forward_pass"].values()) == 10
    # Not a silent 0: the isolated pass grades what does not call the dying sigmoid.
    carl = scores["carl", "01_activations"]
    assert {k: carl[k] for k in TANH_PARTS} == TANH_PARTS and sum(carl.values()) == 5
    (outcome,) = [o for o in report.outcomes if (o.student, o.assignment) == ("carl", "01_activations")]
    assert any("isolated check passed where the in-kernel test did not" in f for f in outcome.flags)


def test_a_hang_the_isolated_pass_saw_is_not_waited_for_again_in_the_kernel(parallel_run, class_course):
    report, scores = parallel_run
    status = _status(report)
    # The kernel skipped what hung in the isolated pass (the sigmoid test cells and the cells that call
    # sigmoid): it never waited on the hang, so the notebook was graded, and the rest of it counted.
    assert status["dora", "01_activations"] == Status.GRADED
    assert status["dora", "02_forward_pass"] == Status.GRADED
    assert sum(scores["dora", "02_forward_pass"].values()) == 10
    dora = scores["dora", "01_activations"]
    assert {k: dora[k] for k in TANH_PARTS} == TANH_PARTS and sum(dora.values()) == 5
    (outcome,) = [o for o in report.outcomes if (o.student, o.assignment) == ("dora", "01_activations")]
    assert "not run in the kernel, as the code hung there in the isolated check" in outcome.detail
    autograded = nbformat.read(
        class_course.path("autograded", "01_activations", "dora") / NOTEBOOKS["01_activations"], 4
    )
    not_run = {
        cell.metadata.get("nbgrader", {}).get("grade_id", "")
        for cell in autograded.cells
        for o in cell.get("outputs", [])
        if o.get("ename") == "NotRunAfterHang"
    }
    assert {"sigmoid_values", "tanh_values"} & not_run == {"sigmoid_values"}, not_run


def test_a_hang_only_the_kernel_meets_costs_only_its_notebook(parallel_run):
    report, scores = parallel_run
    (outcome,) = [o for o in report.outcomes if o.student == "fay"]
    assert outcome.status == Status.TIMED_OUT  # the cell ignored the interrupt: nbgrader gave the notebook up
    assert sum(scores["fay", "01_activations"].values()) == 10  # the isolated pass's score is recorded
    assert "grading stopped" not in outcome.detail  # not the student's budget


def test_noise_warnings_and_megabytes_of_output_cost_nothing(parallel_run):
    report, scores = parallel_run
    (outcome,) = [o for o in report.outcomes if (o.student, o.assignment) == ("eve", "01_activations")]
    assert outcome.status == Status.GRADED
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
    assert (class_course.root / "feedback" / "alice" / "01_activations" / "activations.html").is_file()


def test_sequential_regrade_is_identical_and_keeps_manual_grades(parallel_run, class_course, tmp_path):
    report, scores = parallel_run
    from nbgrader.api import Gradebook

    course = _own_copy(class_course, tmp_path)
    with Gradebook(f"sqlite:///{course.gradebook}") as gb:
        grade = gb.find_grade("tanh_values", "activations", "01_activations", "bob")
        grade.manual_score = 1.5
        gb.db.commit()
    # Sequentially, assignment 01 of everyone but dora (whose hang only costs time): the same
    # grades as in parallel, the dead kernel and the noise included.
    regraded = ["alice", "bob", "carl", "eve"]  # not fay either
    again = grading.grade(
        course, Options(ASSIGNMENTS[:1], jobs=1, timeout=BUDGET, call_timeout=CALL_TIMEOUT, students=regraded)
    )
    assert {o.student for o in again.outcomes} == set(regraded)
    rescored = gradebook.scores(course, ASSIGNMENTS)
    expected = dict(scores)
    expected["bob", "01_activations"] = {**scores["bob", "01_activations"], "tanh_values": 1.5}
    for key in expected:
        assert rescored[key] == expected[key], key
    assert again.backup is not None and again.backup.exists()
    # The backup holds the gradebook as it was before this run: the manual grade is in it.
    with sqlite3.connect(again.backup) as db:
        assert db.execute("select count(*) from grade where manual_score = 1.5").fetchone()[0] == 1


def test_restore_puts_a_backup_back(class_course, parallel_run, tmp_path):
    course = _own_copy(class_course, tmp_path)
    gradebook.backup(course)  # the graded gradebook (parallel_run's own backup is of the one before it graded)
    backups = sorted((course.root / "backups").glob("gradebook-*.db"))
    assert backups
    with sqlite3.connect(course.gradebook) as db:
        db.execute("delete from grade")
    gradebook.restore(course, backups[-1])
    with sqlite3.connect(course.gradebook) as db:
        assert db.execute("select count(*) from grade").fetchone()[0] > 0


def test_an_unknown_student_stops_grading_with_who(class_course):
    with pytest.raises(grading.CourseError, match="no submission of zoe"):
        grading.grade(class_course, Options(ASSIGNMENTS, students=["alice", "zoe"]))


def test_a_stale_release_stops_grading_with_what_to_run(class_course, tmp_path):
    root = tmp_path / "stale"
    shutil.copytree(class_course.root / "source", root / "source")
    shutil.copytree(class_course.root / "release", root / "release")
    shutil.copy(class_course.root / "nbgrader_config.py", root)
    nb_path = root / "source" / "01_activations" / "activations.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source += "\n\nA new sentence."
    nbformat.write(nb, nb_path)
    with pytest.raises(grading.CourseError, match="python -m autograder release"):
        grading.grade(Course(root), Options(["01_activations"]))


def test_a_student_past_the_budget_is_stopped_with_every_kernel(class_course, parallel_run, tmp_path):
    # dora's first notebook cannot be done in 3 s, however fast the machine: her sigmoid hangs for
    # a whole call budget in the isolated pass. On a copy of the class parallel_run graded (her 02 with it).
    course = _own_copy(class_course, tmp_path)
    shutil.copy(course.gradebook, tmp_path / "gb.db")
    options = Options(feedback=False, timeout=3)
    outcomes = supervisor.grade_student(course, "dora", ASSIGNMENTS, options, tmp_path / "gb.db")
    gradebook.record_outcomes(tmp_path / "gb.db", outcomes)  # as the coordinator records them
    assert [o.status for o in outcomes] == [Status.TIMED_OUT, Status.TIMED_OUT]
    assert "stopped after 3 s" in outcomes[0].detail
    # Nothing of the run that graded her 02 before stays: no score (0 on every part), no feedback.
    assert set(gradebook.submission_scores(tmp_path / "gb.db", "dora", "02_forward_pass")["forward_pass"].values()) == {
        0.0
    }
    assert not course.path("autograded", "02_forward_pass", "dora").exists()


def test_what_a_submission_may_bring_is_bounded_and_plainly_named(tmp_path, monkeypatch):
    from autograder.grading import submission

    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "data.npy").write_bytes(b"x" * 1000)
    (src / "evil\n[ERROR] Traceback (most recent call last):.py").write_text("")
    with open(src / "big.ipynb", "wb") as big:
        big.truncate(submission.MAX_NOTEBOOK_BYTES + 1)
    refused = submission.copy_submission(src, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["data.npy"]
    assert any("control character" in r and "\n" not in r for r in refused), refused
    assert any("big.ipynb is a notebook larger than 16 MiB" in r for r in refused), refused
    monkeypatch.setattr(submission, "MAX_SUBMITTED_FILES", 2)
    for i in range(5):
        (src / f"f{i}.txt").write_text("")
    assert any("more than 2 files" in r for r in submission.copy_submission(src, tmp_path / "dest2"))


def test_the_table_prints_what_students_chose_as_text_on_one_line():
    from autograder.grading.report import shown

    said = shown("AssertionError: x\x1b[2K\r\nalice 10/10\u202e\u200b" + "y" * 1000)
    assert "\x1b" not in said and "\r" not in said and "\n" not in said and "\u202e" not in said
    assert said.startswith("AssertionError: x\\x1b[2K\\r\\nalice 10/10\\u202e\\u200b") and len(said) == 500


def test_a_cell_the_parser_cannot_hold_costs_its_definitions_not_the_grading():
    from autograder import verdict

    assert verdict._definitions_only("def f():\n    return 1\nx = " + "1+" * 20000 + "1") == ""


def test_a_fault_in_the_graders_own_work_on_one_student_loses_no_other_grade(tmp_path, monkeypatch):
    """The parent's part of one student's grading (after the worker) raises: that student's outcome
    says so, and everyone else's grades, autograded notebooks and feedback are in place."""
    work = {student: {ASSIGNMENTS[0]: {}} for student in ("alice", "bob", "cleo")}
    root = Course().scratch(tmp_path / "course", ASSIGNMENTS[:1], submissions=work)
    record = gradebook.record

    def faulty(db, student, assignment, scores, **kwargs):
        if student == "bob":  # the worker (another process) records its own copy: only the parent fails
            raise OSError("injected fault: the disk is full")
        return record(db, student, assignment, scores, **kwargs)

    monkeypatch.setattr(gradebook, "record", faulty)
    report = grading.grade(root, Options(ASSIGNMENTS[:1], jobs=2, timeout=BUDGET, call_timeout=CALL_TIMEOUT))
    outcomes = {o.student: o for o in report.outcomes}
    assert outcomes["bob"].status == Status.GRADING_ERROR
    assert "injected fault: the disk is full" in outcomes["bob"].detail
    scores = gradebook.scores(root, ASSIGNMENTS[:1])
    for student in ("alice", "cleo"):
        assert outcomes[student].status == Status.GRADED
        assert sum(scores[student, ASSIGNMENTS[0]].values()) == 10, student
        html = NOTEBOOKS[ASSIGNMENTS[0]].replace(".ipynb", ".html")
        assert (root.path("feedback", ASSIGNMENTS[0], student) / html).is_file()
    assert (root.path("submitted", ASSIGNMENTS[0], "bob") / NOTEBOOKS[ASSIGNMENTS[0]]).is_file()  # nothing lost
    table = grading.summary(root, report, ASSIGNMENTS[:1])
    assert "bob / 01_activations: grading error: OSError: injected fault: the disk is full" in table
    assert [line.split(maxsplit=1)[1].startswith("? !") for line in table.splitlines() if line.startswith("bob")] == [
        True
    ]
    assert report.csv.is_file()


def test_a_run_stopped_midway_waits_for_the_students_under_way_before_it_lets_the_course_go(tmp_path, monkeypatch):
    """Ctrl-C (here: an exception of the coordinator's as it records alice) while bob is being graded: bob's
    grading, which copies his notebooks and feedback into the course, ends before the run lets go of the
    course's lock and of the snapshot his scratch course starts from (an attack review's finding: it let go
    first, and another run could take the lock while bob's copies still came in)."""
    import fcntl
    import threading
    import time

    class Stop(BaseException):
        pass

    work = {s: {ASSIGNMENTS[0]: {}} for s in ("alice", "bob")}  # the solutions
    root = Course().scratch(tmp_path / "course", ASSIGNMENTS[:1], submissions=work)
    begun, stopping, seen = threading.Event(), threading.Event(), {}

    def grade_student(course, student, assignments, options, snapshot):
        if student == "alice":  # back once bob is under way (a student not yet begun would not be begun)
            assert begun.wait(timeout=600), "bob was never graded"
        if student == "bob":
            begun.set()
            assert stopping.wait(timeout=600), "the coordinator never recorded alice"
            fd = os.open(root.root / ".grading.lock", os.O_RDWR)
            try:  # the lock is not let go while bob is graded: it is still held after a while
                deadline, seen["lock free"] = time.monotonic() + 3.0, False
                while time.monotonic() < deadline and not seen["lock free"]:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        seen["lock free"] = True
                    except BlockingIOError:
                        time.sleep(0.05)
            finally:
                os.close(fd)
            seen["snapshot"] = Path(snapshot).is_file()
        return [grading.Outcome(student, a, Status.GRADED) for a in assignments]

    record = gradebook.record_outcomes

    def record_outcomes(db, outcomes):
        if "autograder-gradebook-" in str(db):  # the run's private gradebook: the coordinator, recording alice
            stopping.set()
            raise Stop
        return record(db, outcomes)

    monkeypatch.setattr(supervisor, "grade_student", grade_student)
    monkeypatch.setattr(gradebook, "record_outcomes", record_outcomes)
    with pytest.raises(Stop):
        grading.grade(root, Options(ASSIGNMENTS[:1], jobs=2, unsafe=True))
    assert seen == {"lock free": False, "snapshot": True}


def test_grading_refuses_where_student_code_cannot_be_sandboxed(tmp_path):
    """No namespaces (as AUTOGRADER_SANDBOX=limits pretends): grade says why and what to do, and touches nothing."""
    Course().scratch(tmp_path, ["01_activations"], submissions={"alice": {"01_activations": {}}})
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
    work = {
        "alice": {"01_activations": {}},
        "wanda": {"01_activations": {"tanh": "def tanh(z):\n    return np.tanh(z)\n"}},
    }
    config = f"\nc.Execute.timeout = {CELL_TIMEOUT}\n"
    root = Course().scratch(tmp_path, ["01_activations"], config=config, submissions=work)
    report = grading.grade(root, Options(["01_activations"], jobs=2, timeout=BUDGET, call_timeout=None))
    assert {o.status for o in report.outcomes} == {Status.GRADED}
    scores = gradebook.scores(root, ["01_activations"])
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
    worker.annotate(Course(tmp_path), "ada", "01", [found])
    nb = nbformat.read(tmp_path / "autograded" / "ada" / "01" / "f.ipynb", as_version=4)
    assert nb.cells[0].outputs[0].data == {"text/plain": "x"}
    assert nb.cells[1].metadata["autograder"]["isolated"]["message"] == "AssertionError"


def _nbgrader_log(*exception: str) -> dict:
    """An autograde result as NbGraderAPI gives it: nbgrader's log (continuation lines indented
    by four spaces), with a traceback that ends in these lines, then its own NbGraderException."""
    frames = '      File "client.py", line 1009, in async_execute_cell\n        raise Boom() from None\n'
    log = "[ERROR] Traceback (most recent call last):\n" + frames + "".join(f"    {line}\n" for line in exception)
    log += "[ERROR] Please see the the above traceback for details on the specific errors on the above failures.\n"
    error = "Traceback (most recent call last):\n" + frames.replace("    ", "", 1)
    error += "nbgrader.converters.base.NbGraderException: Please see the the above traceback for details\n"
    return {"success": False, "log": log, "error": error}


def test_how_a_failed_autograde_is_told_from_the_exception_nbgrader_caught():
    died = _nbgrader_log("nbclient.exceptions.DeadKernelError: Kernel died")
    assert worker.classify(died)[0] == Status.KERNEL_DIED
    assert worker.classify(_nbgrader_log("RuntimeError: Kernel died before replying to kernel_info"))[0] == (
        Status.KERNEL_DIED
    )
    timeout = _nbgrader_log(
        "nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 15 seconds.",
        "Here is a preview of the cell contents:",
        "-------------------",
        "print('Kernel died')  # the student's code, quoted, with a traceback of its own:",
        "[ERROR] Traceback (most recent call last):",
        '  File "x.py", line 1, in f',
        "    g()",
        "nbclient.exceptions.DeadKernelError: Kernel died",
    )
    assert worker.classify(timeout)[0] == Status.TIMED_OUT
    # Words in a message are not an exception: the student's cell quoted by some other failure.
    other = _nbgrader_log("RuntimeError: changed its ipc folder", "DeadKernelError: Kernel died timed out")
    assert worker.classify(other) == (Status.FAILED, "RuntimeError: changed its ipc folder")
    assert worker.classify({"success": True, "log": died["log"]}) == (Status.GRADED, "")


def test_nbgraders_late_penalty_is_applied_to_the_recorded_scores(tmp_path):
    """A course that zeroes late work (nbgrader's LateSubmissionPlugin): the timestamp nbgrader read
    and its penalty, computed on the isolated scores that are recorded, reach the gradebook and the CSV."""
    from nbgrader.api import Gradebook

    work = {"early": {"01_activations": {}}, "late": {"01_activations": {}}}
    config = f'\nc.Execute.timeout = {CELL_TIMEOUT}\nc.LateSubmissionPlugin.penalty_method = "zero"\n'
    root = Course().scratch(tmp_path, ["01_activations"], config=config, submissions=work)
    with Gradebook(f"sqlite:///{root.gradebook}") as gb:
        gb.update_or_create_assignment("01_activations", duedate="2025-01-01 00:00:00")
    for student, stamp in (("early", "2024-12-31 12:00:00"), ("late", "2025-03-01 00:00:00")):
        (root.path("submitted", "01_activations", student) / "timestamp.txt").write_text(stamp)
    report = grading.grade(root, Options(["01_activations"], jobs=2, timeout=BUDGET, check=False))
    assert {o.status for o in report.outcomes} == {Status.GRADED}
    rows = {r["student_id"]: r for r in csv.DictReader(open(report.csv))}
    assert (float(rows["early"]["raw_score"]), float(rows["early"]["score"])) == (10.0, 10.0)
    assert (float(rows["late"]["raw_score"]), float(rows["late"]["late_submission_penalty"])) == (10.0, 10.0)
    assert float(rows["late"]["score"]) == 0.0 and rows["late"]["timestamp"].startswith("2025-03-01")


def test_a_failed_visible_assert_still_gets_the_hidden_checks_diagnosis():
    """The cell stops at its first failing visible assert, before the hidden check that says why: the
    isolated pass then runs the hidden block alone and reports its message (the score is the cell's)."""
    from autograder import verdict

    cell = (
        "assert f() == 2, 'expected 2'\n"
        "### BEGIN HIDDEN TESTS\n"
        "if f() != 2:\n"
        "    raise AssertionError('this is what happens when the 1/m is missing')\n"
        "### END HIDDEN TESTS"
    )
    wrong = verdict._run_test(cell, {"f": lambda: 10}, 3.0)
    assert (wrong.score, wrong.message) == (
        0.0,
        "AssertionError: this is what happens when the 1/m is missing\n"
        "(the visible test said: AssertionError: expected 2)",
    )
    assert wrong.diagnosed and not wrong.hidden  # failed on a visible line: a kernel that passed it is flagged
    # The hidden block passes (a bug only the visible test sees): the visible message stays.
    only_visible = verdict._run_test(cell.replace("f() != 2", "False"), {"f": lambda: 10}, 3.0)
    assert (only_visible.message, only_visible.diagnosed) == ("AssertionError: expected 2", False)
    right = verdict._run_test(cell, {"f": lambda: 2}, 3.0)
    assert (right.score, right.message) == (3.0, "")
    # The student's own code failed (a hang, a crash): said as it is, without calling it a second time.
    calls = []

    def hangs():
        calls.append(1)
        raise verdict.StudentCodeError("took longer than 10 s and was stopped")

    hung = verdict._run_test(cell, {"f": hangs}, 3.0)
    assert (hung.message, hung.diagnosed, len(calls)) == (
        "StudentCodeError: took longer than 10 s and was stopped",
        False,
        1,
    )


def test_a_cell_stopped_by_a_hang_names_the_function_and_a_hang_a_check_caught_costs_nothing():
    """A visible line that calls the function directly would say only "took longer than"; the verdict
    names it. A check that judges a part on the reference where the student's other part fails
    (checks.yours, here a kl_divergence that hangs) still passes a right part: one bug, one part."""
    from autograder import checks, verdict

    def hangs(*args):  # what a proxy raises for a call that ran past its budget: known by its kind, not its words
        raise verdict.StudentError("took longer than 10 s and was stopped", verdict.Trouble.TIMEOUT)

    hung = {"f": "took longer than 10 s and was stopped"}
    stopped = verdict._run_test("f()", {"f": hangs}, 3.0, hung=lambda: hung)
    assert (stopped.score, stopped.message, stopped.hung) == (0.0, f"StudentError: f {hung['f']}", True)

    # A student's own exception that says the words is no hang: the sandbox's clock decides that, not the message.
    def says_it():
        raise ValueError("took longer than 10 s and was stopped")

    forged = verdict._run_test("f()", {"f": says_it}, 3.0, hung=lambda: hung)
    assert (forged.score, forged.hung, forged.trouble) == (0.0, False, None)
    cell = "from autograder import checks\nassert checks.yours(kl, 'kl_divergence', 1.0) is None\nassert cost() == 2"
    namespace = {"kl": hangs, "cost": lambda: 2, "checks": checks}
    right = verdict._run_test(cell, namespace, 3.0, hung=lambda: {"kl": hung["f"]})
    assert (right.score, right.message) == (3.0, "")


def test_a_lone_students_assignments_are_graded_side_by_side_with_the_same_grades(class_course, tmp_path):
    """With more jobs than students, each student's assignments are split into lanes (each a worker of
    its own, dealt heaviest first): one student gets feedback on a submission in about half the time."""
    course = Course(shutil.copytree(class_course.root, tmp_path / "course", symlinks=True))
    six = Course().assignments()
    lanes = grading.lanes(Course(), {"x": six, "y": six[:1]}, 4)  # 2 lanes a student; y has one assignment
    assert [s for s, _ in lanes] == ["x", "x", "y"] and lanes[2] == ("y", six[:1])
    x = [a for s, theirs in lanes if s == "x" for a in theirs]
    assert sorted(x) == six and len(set(x)) == 6  # every assignment once, in one lane
    assert grading.lanes(Course(), {"x": six, "y": six}, 2) == [("x", six), ("y", six)]  # no more jobs than students
    report = grading.grade(course, Options(ASSIGNMENTS, students=["alice"], jobs=2, timeout=BUDGET))
    assert sorted((o.student, o.assignment, o.status) for o in report.outcomes) == [
        ("alice", a, Status.GRADED) for a in ASSIGNMENTS
    ]
    scores = gradebook.scores(course, ASSIGNMENTS)
    assert [sum(scores["alice", a].values()) for a in ASSIGNMENTS] == [10, 10]
    for a in ASSIGNMENTS:
        assert (course.path("feedback", a, "alice") / NOTEBOOKS[a].replace(".ipynb", ".html")).exists()


def test_the_progress_bar_shows_on_a_terminal_only(monkeypatch):
    import io

    from autograder.grading.report import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        with progress(3) as done:
            for _ in range(3):
                done()
        text = stream.getvalue()
        assert ("3/3" in text and "student" in text and "<" in text) == shown, text  # done/total, elapsed<left
        assert bool(text) == shown


def test_every_workers_memory_cap_together_fits_in_the_machines_memory():
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for jobs in (1, 2, 4, 64):
        options = Options(jobs=jobs)
        assert options.memory * options.workers <= physical and options.memory <= 8 * 2**30
    assert Options().workers == 2 * (os.cpu_count() or 1)  # twice the cores' workers, each capped
    assert Options(jobs=64, worker_memory=2**30).memory == 2**30  # as asked


SIGMOID = "def sigmoid(z):\n    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))\n"
#: 01's sigmoid answer cell written in ways IPython runs (or, the last, runs nothing of), and the points the
#: sigmoid's own parts (sigmoid_values and sigmoid_extremes, 3 in all) must earn in the isolated pass.
AS_IPYTHON_RUNS_IT = {
    "prompts": (">>> " + SIGMOID.replace("\n    ", "\n...     "), 3.0),
    "indented": ("".join("    " + line for line in SIGMOID.splitlines(keepends=True)), 3.0),
    "a magic in a timed cell": ("%%time\n%matplotlib inline\n" + SIGMOID, 3.0),
    "a captured cell after a blank line": ("\n%%capture\n" + SIGMOID, 3.0),
    "continuations that begin with % and !=": (
        "def sigmoid(z):\n    label = ('%d values'\n             % np.size(z))\n    assert (label\n            != '')\n"
        "    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))\n",
        3.0,
    ),
    "a cell IPython runs nothing of": ("\n%%script false\n" + SIGMOID, 0.0),
    "a statement on the line of %%time (an error: nothing runs)": ("%%time sigmoid(0)\n" + SIGMOID, 0.0),
    "help on %%time, then the answer": ("%%time?\n" + SIGMOID, 3.0),
    "500 magics (IPython gives up on the cell)": ("%pwd\n" * 500 + SIGMOID, 0.0),
}


@pytest.mark.parametrize("written", AS_IPYTHON_RUNS_IT)
def test_the_isolated_pass_reads_an_answer_cell_as_ipython_does(written, tmp_path):
    """The notebook's kernel reads a cell with IPython's parser: prompts and a common indentation removed,
    a cell magic's body run or not, magics found by its tokens. The isolated pass reads it the same way:
    a correct answer earns its points, a cell IPython runs nothing of earns none (it once did)."""
    import nbformat

    from autograder import verdict
    from autograder.course import fill_answers

    cell, points = AS_IPYTHON_RUNS_IT[written]
    source = COURSE_ROOT / "source" / "01_activations" / "activations.ipynb"
    release = nbformat.read(COURSE_ROOT / "release" / "01_activations" / "activations.ipynb", as_version=4)
    submitted = tmp_path / "activations.ipynb"
    nbformat.write(fill_answers(nbformat.read(source, as_version=4), release, {"sigmoid": cell}), submitted)
    result = verdict.grade_notebook(source, submitted)
    got = {g: result.cells[g].score for g in ("sigmoid_values", "sigmoid_extremes")}
    assert sum(got.values()) == points, (got, [c.message for c in result.cells.values() if c.message])


def test_an_autograded_notebook_the_worker_did_not_finish_never_reaches_the_course(tmp_path, monkeypatch):
    """The worker sanitizes the autograded notebooks (annotate) before it writes its result: a worker stopped
    before (its budget spent, killed) leaves notebooks with the student's scripts as they are, which formgrader
    would show the instructor. Only a finished assignment's are copied into the course."""
    from autograder.grading.outcome import Outcome

    student, assignment = "alice", "01_activations"
    course = Course().scratch(tmp_path / "course", [assignment], submissions={student: {assignment: {}}})
    raw = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "x": "<script>alert(1)</script>"}'

    def stopped_worker(course, scratch, results, student, assignments, options):
        for a in assignments:
            for kind in ("autograded", "feedback"):
                folder = scratch.path(kind, a, student)
                folder.mkdir(parents=True)
                (folder / "activations.ipynb").write_text(raw)
        return [Outcome(student, a, Status.TIMED_OUT, 1.0, "grading stopped after 1 s") for a in assignments]

    monkeypatch.setattr(supervisor, "run_worker", stopped_worker)
    old = course.path("autograded", assignment, student)
    old.mkdir(parents=True)
    (old / "stale.ipynb").write_text("{}")  # the last run's: removed too
    snapshot = tmp_path / "snapshot.db"
    gradebook.copy(course.gradebook, snapshot)
    (outcome,) = supervisor.grade_here(str(course.root), student, [assignment], Options(unsafe=True), str(snapshot))
    assert outcome.status == Status.TIMED_OUT
    for kind in ("autograded", "feedback"):
        assert not course.path(kind, assignment, student).exists(), kind
