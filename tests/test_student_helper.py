"""The students' read-only helper ``check_close`` (autograder/student_helper.py) and its copies in the notebooks.

* every pattern it names is named on a bug that makes it, and only the words of that pattern appear;
* a correct result passes, within the tolerance it states, and the message never dumps a matrix;
* the ``given_explain`` cell of every source notebook is the canonical text, locked like the other
  given cells, defined before the first test cell that calls it; release notebooks carry it too;
* ``Course.helper_cells(refresh=True)`` (what ``python -m autograder release`` runs) repairs a stale copy.
"""

from __future__ import annotations

import re
import shutil

import nbformat
import numpy as np
import pytest

from autograder.course import COURSE_ROOT, HELPER_HIDDEN, HELPER_ID, Course, helper_cell_source
from autograder.student_helper import check_close

FIX = "run `python -m autograder release` (it copies autograder/student_helper.py into source/, then releases)"
LOCKED = {"grade": False, "grade_id": HELPER_ID, "locked": True, "schema_version": 3, "solution": False}


def _network(seed=0):
    rng = np.random.default_rng(seed)
    W = [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))]
    b = [rng.normal(size=3), rng.normal(size=2)]
    dW = [rng.normal(size=(3, 4)), rng.normal(size=(2, 3))]
    db = [rng.normal(size=3), rng.normal(size=2)]
    return W, b, dW, db


def _message(*args, **kwargs) -> str:
    with pytest.raises(AssertionError) as caught:
        check_close(*args, **kwargs)
    return str(caught.value)


PATTERNS = (
    "1/m is missing",
    "divided by m once too often",
    "a sign is flipped",
    "a factor is missing or extra",
    "it is the transpose",
    "the right numbers in the wrong places",
    "weight decay term is missing",
    "counted twice",
    "applied to the biases",
    "no simple pattern",
    "only the shape is wrong",
    "column-major",
)


def _only(message: str, *expected_patterns: str) -> None:
    """The message names these patterns and no other."""
    for words in expected_patterns:
        assert words in message, message
    for words in [p for p in PATTERNS if not any(p in e for e in expected_patterns)]:
        assert words not in message, f"{words!r} should not be in:\n{message}"


def test_a_correct_result_passes_within_the_tolerance():
    W, b, dW, db = _network()
    check_close("dW", [g + 1e-9 for g in dW], dW, rtol=0, atol=1e-7, m=5, lambda_=0.1, W=W)
    check_close("dW", tuple(dW), dW)  # a tuple of blocks is fine
    check_close("J", np.array([0.25]), 0.25)  # a number as a 1-element array is fine
    check_close("x", [[1.0, 2.0]], np.array([[1.0, 2.0]]))  # a list of numbers is fine
    message = _message("dW", [g + 1e-6 for g in dW], dW, rtol=0, atol=1e-7)
    assert "relative error" in message and "allowed" in message


def test_a_missing_one_over_m_is_named_with_or_without_weight_decay():
    W, _, dW, _ = _network()
    message = _message("dW", [5 * g for g in dW], dW, m=5)
    _only(message, "every entry is m = 5 times", "1/m is missing")
    assert message.startswith("dW[1] is wrong")  # checked from the output layer back
    assert "no block right, dW[1] the first wrong one; also wrong: dW[0]." in message
    # dW = Delta W + lambda_ W where (1/m) Delta W + lambda_ W was expected: the factor is on the first term only.
    data = [g - 0.1 * w for g, w in zip(dW, W)]
    message = _message("dW", [5 * d + 0.1 * w for d, w in zip(data, W)], dW, m=5, lambda_=0.1, W=W)
    _only(message, "1/m is missing")
    _only(_message("J", 0.3 / 5, 0.3, m=5), "divided by m once too often")
    _only(_message("J", 1.5, 0.3, m=5), "it is m = 5 times the expected value: the factor 1/m is missing")


def test_weight_decay_missing_doubled_or_on_the_biases_is_named():
    W, b, dW, db = _network()
    message = _message("dW", [dW[0], dW[1] - 0.1 * W[1]], dW, lambda_=0.1, W=W)
    _only(message, "the weight decay term is missing (the difference is lambda_ * W)")
    assert "dW[0] right, dW[1] the first wrong one." in message
    _only(_message("dW", [g + 0.1 * w for g, w in zip(dW, W)], dW, lambda_=0.1, W=W), "counted twice")
    message = _message("db", [g + 0.1 * v for g, v in zip(db, b)], db, lambda_=0.1, b=b)
    _only(message, "weight decay is applied to the biases (the difference is lambda_ * b)")
    # In a cost J, the term is (lambda_ / 2) * sum of squares.
    decay = 0.05 * sum(np.sum(w**2) for w in W)
    _only(_message("J", 0.3, 0.3 + decay, lambda_=0.1, W=W), "weight decay term is missing")
    _only(_message("J", 0.3 + 0.05 * sum(np.sum(v**2) for v in b), 0.3, lambda_=0.1, W=W, b=b), "applied to the biases")


def test_sign_factor_transpose_and_misplaced_entries_are_named():
    _, _, dW, _ = _network()
    _only(_message("dW", [dW[0], -dW[1]], dW), "a sign is flipped")
    _only(_message("dW", [dW[0], 0.5 * dW[1]], dW), "every entry is 0.5 times", "a factor is missing or extra")
    square = np.arange(9.0).reshape(3, 3) ** 1.5
    _only(_message("W1", square.T, square), "it is the transpose of the expected value: rows and columns are swapped")
    message = _message("dW", [dW[0].T, dW[1]], dW)
    assert "dW[0] has shape (4, 3), expected (3, 4): rows and columns are swapped, it is the transpose" in message
    assert "dW[1] right, dW[0] the first wrong one." in message
    theta = np.arange(1.0, 12.0)
    _only(_message("theta", np.r_[theta[6:], theta[:6]], theta), "the right numbers in the wrong places")
    column_major = dW[0].ravel(order="F").reshape(3, 4)
    _only(_message("dW", [column_major, dW[1]], dW), "the right numbers in the wrong places")
    _only(_message("x", np.zeros(3), np.array([1.0, 2.0, 3.0])), "every entry is 0")


def test_shape_problems_say_what_is_wrong_with_the_shape():
    a = np.arange(1.0, 7.0).reshape(2, 3)
    _only(_message("a2", a.reshape(6, 1), a), "only the shape is wrong")
    _only(_message("b1", np.array([[1.0], [2.0]]), np.array([1.0, 2.0])), "only the shape is wrong")
    _only(_message("a2", a.ravel(order="F"), a), "column-major")
    assert _message("a2", np.ones((2, 2)), a) == "a2 has shape (2, 2), expected (2, 3)"
    assert "should be a list of 2 arrays, got a tuple of length 1" in _message("dW", (a,), [a, a])
    assert "J is None: does your function return its result?" in _message("J", None, 1.0)
    assert "should be numbers, got str" in _message("J", "half", 1.0)


def test_nan_and_inf_are_named_with_their_index():
    message = _message("a", np.array([[1.0, 2.0], [np.inf, 3.0]]), np.ones((2, 2)))
    assert "a contains inf at index [1, 0]" in message and "overflow" in message


def test_where_comes_first_and_no_pattern_is_said_plainly():
    got, expected = np.array([1.0, 2.0, 3.5, 4.0]), np.array([1.0, 2.0, 3.0, 4.0])
    message = _message("a3", got, expected, where="tanh, layer sizes [4, 3, 2]")
    assert message.startswith("tanh, layer sizes [4, 3, 2]: a3 is wrong: relative error 1.2e-01")
    assert "largest difference at a3[2]: got 3.5, expected 3" in message
    _only(message, "no simple pattern")
    assert "1 of 4 entries differ" in message


def test_the_message_never_dumps_a_matrix():
    rng = np.random.default_rng(1)
    expected = rng.normal(size=(30, 40))
    for got in (expected + rng.normal(size=(30, 40)), 3 * expected, expected.T, -expected):
        message = _message("W1", got, expected, m=3)
        assert len(message) < 400 and "[[" not in message and message.count("\n") <= 4, message


def test_the_cell_is_numpy_only_and_short():
    text = helper_cell_source()
    imports = [line for line in text.splitlines() if re.match(r"\s*(import|from)\s", line)]
    assert imports == ["import numpy as np"]
    assert "autograder" not in text  # release notebooks must not name the instructors' package
    assert len(text.splitlines()) <= 160  # read by students: short (check_close, its explanations, raises)


# ----------------------------------------------------------------------- the copies in the notebooks


def _helper_cells(path):
    nb = nbformat.read(path, as_version=4)
    return nb, [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == HELPER_ID]


NOTEBOOKS = sorted((COURSE_ROOT / "source").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_notebook_carries_the_canonical_helper_cell_locked_before_its_first_use(path):
    nb, found = _helper_cells(path)
    assert len(found) == 1, f"{path.name}: expected one {HELPER_ID} cell, found {len(found)}"
    cell = nb.cells[found[0]]
    assert cell.source == helper_cell_source(), f"{path.relative_to(COURSE_ROOT)}: the helper cell is stale: {FIX}"
    assert cell.cell_type == "code" and cell.metadata["nbgrader"] == LOCKED
    first_use = min(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "check_close(" in c.source)
    assert found[0] <= first_use, f"{path.name}: check_close is used before the cell that defines it"
    assert cell.metadata.get("jupyter") == HELPER_HIDDEN, f"{path.name}: the helper cell is not collapsed: {FIX}"
    words = nb.cells[found[0] - 1].source
    assert "collapsed cell below" in words and "defines `check_close`" in words, "the cell before says what it is"
    release = COURSE_ROOT / "release" / path.parent.name / path.name
    rnb, rfound = _helper_cells(release)
    assert [rnb.cells[i].source for i in rfound] == [helper_cell_source()], f"release/ is stale: {FIX}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_release_notebook_opens_with_the_helper_cell_collapsed(path):
    """JupyterLab honours ``jupyter.source_hidden``: the student sees a bar, not 150 lines, before Part A."""
    release = COURSE_ROOT / "release" / path.parent.name / path.name
    rnb, rfound = _helper_cells(release)
    assert len(rfound) == 1 and rnb.cells[rfound[0]].metadata.get("jupyter") == {"source_hidden": True}, FIX


DUMP = re.compile(r"\{(expected\w*|got|out|num\w*|a\d|W_new|b_new|d[Wb])(\[[^\]]*\])?(\.ravel\(\))?\}")


def _dumps(path):
    """(grade_id, the f-string field) of every visible test line of a notebook that formats a whole array."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("locked") and meta.get("grade_id") != HELPER_ID:
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            found += [(meta["grade_id"], match[0]) for match in DUMP.finditer(visible)]
    return found


def test_visible_tests_never_dump_matrices_in_their_messages(tmp_path):
    """A visible assert's message says in words what is wrong, never only "expected {array}, got {array}"."""
    for path in NOTEBOOKS:
        assert _dumps(path) == [], f"{path.name}: use check_close"
    # The check can fail: a visible test of assignment 03 as it was before check_close.
    old = tmp_path / "old.ipynb"
    line = 'assert err < 1e-7, f"dW[{l}] expected {num_dW[l]}, got {dW[l]} (tolerance 1e-7)"\n### BEGIN HIDDEN TESTS'
    meta = {"nbgrader": {"grade": True, "grade_id": "backprop_single_dW", "locked": True, "points": 2}}
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(line, metadata=meta)]), old)
    assert _dumps(old) == [("backprop_single_dW", "{num_dW[l]}"), ("backprop_single_dW", "{dW[l]}")]


def test_refresh_repairs_a_stale_copy_and_the_test_says_how(tmp_path):
    course = Course(tmp_path)
    shutil.copytree(COURSE_ROOT / "source" / "03_backprop", tmp_path / "source" / "03_backprop")
    path = tmp_path / "source" / "03_backprop" / "backprop.ipynb"
    nb, found = _helper_cells(path)
    nb.cells[found[0]].source = "def check_close(*args, **kwargs):\n    pass  # a student's wish"
    nbformat.write(nb, path)
    assert course.helper_cells() == [path]
    assert course.helper_cells(refresh=True) == [path]
    assert course.helper_cells() == []
    nb, found = _helper_cells(path)
    assert nb.cells[found[0]].source == helper_cell_source()
    del nb.cells[found[0]].metadata["jupyter"]  # unfolded: stale too
    nbformat.write(nb, path)
    assert course.helper_cells(refresh=True) == [path] and course.helper_cells() == []
    assert _helper_cells(path)[0].cells[found[0]].metadata["jupyter"] == HELPER_HIDDEN


def test_odd_inputs_get_words_not_crashes():
    """A red team's: NaN in the expected value (visible tests compute it with the student's own functions),
    complex numbers and integers beyond float range."""
    namespace: dict = {}
    exec(helper_cell_source(), namespace)
    check_close = namespace["check_close"]
    for got, expected, words in [
        ([0.5, 0.5], np.array([np.nan, 0.25]), "another of your functions"),
        (np.array([0.25 + 1e-9j]), np.array([0.25]), "complex"),
        (10**400, 1.0, "should be numbers"),
    ]:
        with pytest.raises(AssertionError, match=words):
            check_close("x", got, expected)


# ----------------------------------------------------------------------- what the student sees of a failure


def test_a_failure_is_an_assertion_error_that_renders_as_its_diagnosis_alone():
    """IPython shows ``_render_traceback_()`` instead of a traceback: the lines of the message, nothing of
    check_close's code; nbgrader and the grading still see an AssertionError of that name and message."""
    W, b, dW, db = _network()
    with pytest.raises(AssertionError) as caught:
        check_close("dW", [dW[0] + 0.1 * W[0], dW[1]], dW, lambda_=0.1, W=W)
    error = caught.value
    assert type(error).__name__ == "AssertionError" and type(error) is not AssertionError
    lines = error._render_traceback_()
    assert lines == str(error).splitlines() and lines[0].startswith("dW[0] is wrong: relative error")
    assert lines[-1] == "(dW[l] is the block of the notes' layer l + 1: dW[0] is layer 1)"
    assert caught.traceback[-1].frame.code.name == "check_close"  # pytest shows it: __tracebackhide__ is a hint


def test_in_a_kernel_the_error_output_is_the_diagnosis_and_other_errors_keep_their_traceback():
    """The error output a notebook (and nbgrader's Validate dialog, which prints its traceback) gets."""
    from nbclient import NotebookClient

    cells = [
        helper_cell_source(),
        "check_close('a3', np.array([1.0, 2.5]), np.array([1.0, 2.0]), where='tanh')",
        "def f():\n    return undefined_name\nf()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3").execute()
    (mismatch,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert mismatch.ename == "AssertionError"
    assert mismatch.traceback[0] == "tanh: a3 is wrong: relative error 2.5e-01 (allowed 1e-05)"
    assert mismatch.traceback == mismatch.evalue.splitlines() and len(mismatch.traceback) <= 4
    text = "\n".join(mismatch.traceback)
    assert not any(words in text for words in ("Traceback", "Cell In", "File ", "check_close(", "\x1b["))
    (name_error,) = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(name_error.traceback))
    assert name_error.ename == "NameError" and "Cell In" in plain, plain
