"""Verdicts students cannot fake, and faults that cannot stop the grading: end to end.

One scratch course with assignment 01 (10 points: three sigmoid parts worth 5, three tanh parts
worth 5) and a class of students graded by ``grading.grade``, nbgrader's autograde and the
isolated pass (autograder.verdict) together, two at a time. Each cheat has a *wrong* sigmoid
and tries to pass anyway; each fault breaks sigmoid in its own way. Their tanh parts are the
solution's, so every one of them must end with exactly the 5 points of tanh: the faked or
broken sigmoid parts earn 0, and the fault does not spill over. The honest students beside
them get their full grades, and nothing a student's code writes survives in the gradebook.
"""

from __future__ import annotations

import re
import sqlite3
import textwrap

import pytest

from autograder import grading, sandbox
from autograder.course import COURSE_ROOT, Course
from autograder.grading import Options, Status, gradebook

ASSIGNMENT, NOTEBOOK = "01_activations", "activations.ipynb"
SIGMOID_PARTS = {"sigmoid_values": 2, "sigmoid_extremes": 1, "sigmoid_prime_values": 2}
TANH_PARTS = {"tanh_values": 2, "tanh_extremes": 1, "tanh_prime_values": 2}
# Budgets with ample margins: honest work passes on a loaded machine; only what never ends reaches them.
BUDGET, CALL_TIMEOUT, CELL_TIMEOUT = 900.0, 10.0, 15

WRONG = "def sigmoid(z):\n    return np.zeros_like(np.asarray(z, dtype=float))\n"


def _answer(*pieces: str) -> dict[str, str]:
    return {"sigmoid": "\n".join(textwrap.dedent(p).strip() for p in pieces) + "\n"}


def _cheats(course_root) -> dict[str, dict[str, str]]:
    """{student: answers}: each a wrong sigmoid dressed up to pass."""
    return {
        # Lying NumPy: every comparison and every largest difference says "equal".
        "cheat_numpy_patch": _answer(
            WRONG,
            """
            np.allclose = lambda *args, **kwargs: True
            np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
            np.array_equal = lambda *args, **kwargs: True
            np.max = np.amax = lambda *args, **kwargs: 0.0
            """,
        ),
        # An IPython AST transformer: every later cell, test cells included, becomes `pass`.
        "cheat_transformer": _answer(
            WRONG,
            """
            import ast

            class _Nothing(ast.NodeTransformer):
                def visit_Module(self, node):
                    return ast.Module(body=[ast.Pass()], type_ignores=[])

            get_ipython().ast_transformers.append(_Nothing())
            """,
        ),
        # An object that equals anything, compares small, and subtracts to nothing.
        "cheat_liar": _answer(
            """
            class _Liar(float):
                def __eq__(self, other): return True
                def __ne__(self, other): return False
                def __lt__(self, other): return True
                def __le__(self, other): return True
                def __sub__(self, other): return 0.0
                def __rsub__(self, other): return 0.0
                def __abs__(self): return 0.0
                def __array__(self, dtype=None, copy=None): return np.zeros(())
                __hash__ = float.__hash__

            def sigmoid(z):
                return _Liar(0.0)
            """
        ),
        # A NumPy subclass that lies: equal to anything, no difference from anything, all close.
        "cheat_subclass": _answer(
            """
            class _Lying(np.ndarray):
                def __eq__(self, other):
                    return np.ones(np.shape(other), dtype=bool)

                def __sub__(self, other):
                    return np.zeros(np.broadcast(self.view(np.ndarray), other).shape)

                __rsub__ = __sub__

                def __array_function__(self, func, types, args, kwargs):
                    if func in (np.allclose, np.array_equal):
                        return True
                    if func is np.isclose:
                        return np.ones(np.broadcast(*args[:2]).shape, dtype=bool)
                    return super().__array_function__(func, types, args, kwargs)

            def sigmoid(z):
                return np.zeros_like(np.asarray(z, dtype=float)).view(_Lying)
            """
        ),
        # The reference solution, imported from the course (its path known to the attacker).
        "cheat_reference": _answer(
            f"""
            def sigmoid(z):
                import sys
                sys.path.insert(0, {str(COURSE_ROOT)!r})
                from autograder.reference import sigmoid as theirs
                return theirs(z)
            """
        ),
        # Full marks written straight into the gradebook, by relative and by absolute path.
        "cheat_gradebook": _answer(
            WRONG,
            f"""
            import pathlib as _pathlib
            import sqlite3 as _sqlite3
            for _path in ({str(course_root / "gradebook.db")!r}, "../../../gradebook.db"):
                try:
                    with _sqlite3.connect(_path, timeout=1) as _db:
                        _db.execute("update grade set auto_score = 100")
                        _db.execute("create table if not exists pwned (x)")
                    _pathlib.Path(_path).with_name("pwned.txt").write_text("was here")
                except Exception:
                    pass
            """,
        ),
        # A numpy.py beside the notebook (see _fake_numpy), with a wrong sigmoid.
        "cheat_numpy_file": _answer(WRONG),
    }


FAKE_NUMPY = '''
"""Loads the real NumPy, then makes every comparison lie."""
import os, sys
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _here]
del sys.modules["numpy"]
import numpy as _np
sys.modules["numpy"] = _np
_np.allclose = lambda *args, **kwargs: True
_np.array_equal = lambda *args, **kwargs: True
_np.max = _np.amax = lambda *args, **kwargs: 0.0
'''

FAULTS = {
    "fault_segfault": _answer(
        """
        def sigmoid(z):
            import ctypes
            return ctypes.string_at(0)
        """
    ),
    "fault_fork_bomb": _answer(
        """
        def sigmoid(z):
            import os
            while True:
                os.fork()
        """
    ),
    "fault_memory_bomb": _answer(
        """
        def sigmoid(z):
            hog = []
            while True:
                hog.append(np.ones(2**27))  # 1 GiB more, each time round
        """
    ),
    "fault_input": _answer(
        """
        def sigmoid(z):
            if input("overwrite? ") != "yes":
                raise SystemExit
            return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))
        """
    ),
}

HONEST = {
    "honest_solution": {},
    # Correct, but warns on overflow and prints a gigabyte (a million lines) the first time round.
    "honest_gigabyte": _answer(
        """
        def sigmoid(z):
            if not globals().get("_printed"):
                globals()["_printed"] = True
                for _ in range(2**20):
                    print("x" * 1023)
            return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))
        """
    ),
    # Correct, with a magic, and lines that begin with % and != continuing an expression (Python to IPython,
    # which the isolated pass once read as magics: 5 of 10, flagged "possible tampering").
    "honest_continuations": _answer(
        """
        %matplotlib inline
        def sigmoid(z):
            z = np.asarray(z, dtype=float)
            label = ("the sigmoid of %d values"
                     % z.size)
            assert (label
                    != "")
            return 1 / (1 + np.exp(-z))
        """
    ),
}

# Plain mistakes, not cheats: tanh from NumPy, which the notebook asks not to use (aliased, or wrapped).
MISTAKES = {
    "mistake_alias": {"tanh": "tanh = np.tanh\n"},
    "mistake_wrapper": {"tanh": "def tanh(z):\n    return np.tanh(z)\n"},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    students = {**_cheats(COURSE_ROOT), **FAULTS, **HONEST, **MISTAKES}
    root = Course().scratch(
        tmp_path_factory.mktemp("tampering"),
        [ASSIGNMENT],
        config=f"\nc.Execute.timeout = {CELL_TIMEOUT}\n",
        submissions={student: {ASSIGNMENT: answers} for student, answers in students.items()},
    )
    (root.path("submitted", ASSIGNMENT, "cheat_numpy_file") / "numpy.py").write_text(FAKE_NUMPY)
    # A smaller memory bound: the memory bomb's kernel meets its limit sooner.
    options = Options([ASSIGNMENT], jobs=2, timeout=BUDGET, call_timeout=CALL_TIMEOUT, worker_memory=3 * 2**30)
    report = grading.grade(root, options)
    outcomes = {o.student: o for o in report.outcomes}
    print(grading.summary(root, report, [ASSIGNMENT]))
    print({o.student: round(o.seconds, 1) for o in report.outcomes}, report.seconds)
    return root.root, outcomes, gradebook.scores(root, [ASSIGNMENT])


def _parts(scores, student, parts):
    return {k: scores[student, ASSIGNMENT][k] for k in parts}


def _skip_where_the_course_is_visible(student):
    """The sandbox of isolation "limits" (no namespaces here) sees the files: cheat_reference gets through."""
    if student == "cheat_reference" and sandbox.isolation() != "namespaces":
        pytest.skip(f"isolation {sandbox.isolation()!r}: {sandbox.fallback_reason()}")


@pytest.mark.parametrize("student", sorted(_cheats(COURSE_ROOT)) + sorted(FAULTS))
def test_faked_or_broken_sigmoid_earns_nothing_and_tanh_keeps_its_points(graded, student):
    _skip_where_the_course_is_visible(student)
    _, outcomes, scores = graded
    assert _parts(scores, student, SIGMOID_PARTS) == dict.fromkeys(SIGMOID_PARTS, 0)
    assert _parts(scores, student, TANH_PARTS) == TANH_PARTS
    assert outcomes[student].isolated["activations"] == {**dict.fromkeys(SIGMOID_PARTS, 0.0), **TANH_PARTS}


@pytest.mark.parametrize("student", ["cheat_numpy_patch", "cheat_transformer", "cheat_numpy_file"])
def test_cheats_that_fool_nbgrader_are_flagged(graded, student):
    """In the kernel these cheats pass sigmoid tests that the isolated pass fails; the summary says so."""
    _, outcomes, _ = graded
    kernel = outcomes[student].kernel["activations"]
    assert sum(kernel[k] or 0 for k in SIGMOID_PARTS) > 0, kernel
    assert any("possible tampering" in f for f in outcomes[student].flags)


def test_the_reference_is_out_of_the_kernels_reach_too(graded):
    """The sandboxed kernel sees neither the course nor the autograder package (autograder.kernel)."""
    _skip_where_the_course_is_visible("cheat_reference")
    _, outcomes, _ = graded
    kernel = outcomes["cheat_reference"].kernel["activations"]
    assert {k: kernel[k] for k in SIGMOID_PARTS} == dict.fromkeys(SIGMOID_PARTS, 0), kernel


def test_honest_students_lose_nothing(graded):
    root, outcomes, scores = graded
    for student in HONEST:
        assert sum(scores[student, ASSIGNMENT].values()) == 10, student
        assert not any("tampering" in f for f in outcomes[student].flags)


def test_tanh_from_numpy_loses_its_parts_and_is_not_called_tampering(graded):
    """Wrapped, the hidden checks refuse it (autograder.checks.forbid), which the kernel does not run:
    no flag. Aliased, the isolated pass refuses the alias wherever the visible tests call it
    (tanh_prime's call tanh too), which the kernel's visible tests do not: said so, not as tampering."""
    _, outcomes, scores = graded
    lost = {"tanh_values": 0, "tanh_extremes": 0}
    assert scores["mistake_wrapper", ASSIGNMENT] == {**SIGMOID_PARTS, **TANH_PARTS, **lost}
    assert outcomes["mistake_wrapper"].flags == []
    assert scores["mistake_alias", ASSIGNMENT] == {**SIGMOID_PARTS, **dict.fromkeys(TANH_PARTS, 0)}
    (flag,) = outcomes["mistake_alias"].flags
    assert "a library's under the student's name (tanh_values, tanh_extremes, tanh_prime_values)" in flag
    assert "tampering" not in flag


def test_the_gradebook_holds_only_what_the_grader_wrote(graded):
    root, _, scores = graded
    # The cheat's code ran in the kernel, which sees neither the course nor the scratch copy of it
    # (autograder.kernel): nothing was written, by absolute path or by relative.
    assert not (root / "pwned.txt").exists()
    with sqlite3.connect(root / "gradebook.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
        assert "pwned" not in tables
        assert db.execute("select count(*) from grade where auto_score > 10").fetchone()[0] == 0


def test_faults_are_recorded_and_stopped(graded):
    _, outcomes, _ = graded
    assert outcomes["fault_segfault"].status == Status.KERNEL_DIED
    assert outcomes["fault_input"].status == Status.GRADED
    for student in FAULTS:  # each stopped by what it ran into (a limit, a dead kernel), not by the budget
        assert "grading stopped after" not in outcomes[student].detail, student


def test_feedback_explains_the_isolated_verdict(graded):
    root, _, _ = graded
    html = (root / "feedback" / "cheat_transformer" / ASSIGNMENT / "activations.html").read_text()
    # The first assert of sigmoid_values that the wrong sigmoid fails, as the isolated pass saw it.
    assert "AssertionError: sigmoid(0) is wrong: relative error 1.0e+00 (allowed 1e-05)" in html
    assert "got 0, expected 0.5" in html
    assert re.search(r"sigmoid_values.*?Score: 0.0 / 2.0", html, flags=re.S)
    assert "BEGIN HIDDEN TESTS" not in html and "autograder.checks" not in html
