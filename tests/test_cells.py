"""autograder.cells: nbgrader's cell kinds read in one place, and the course's hidden-test delimiters honoured."""

from __future__ import annotations

import itertools
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils
from traitlets.config import Config

from autograder import cells, verdict
from autograder.course import COURSE_ROOT
from autograder.sandbox import Limits

NOTEBOOKS = sorted((COURSE_ROOT / "source").glob("*/*.ipynb")) + sorted((COURSE_ROOT / "release").glob("*/*.ipynb"))


def _synthetic():
    """A code and a Markdown cell for every combination of nbgrader's flags."""
    for kind, grade, solution, locked, task in itertools.product(("code", "markdown"), *[(False, True)] * 4):
        flags = {"grade": grade, "solution": solution, "locked": locked, "task": task, "grade_id": "x"}
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        yield make("", metadata={"nbgrader": flags})


def test_the_kinds_are_nbgraders():
    """is_grade, is_solution, is_task and is_locked answer as nbgrader.utils does, on the course's cells and on
    every combination of flags; the course's kinds are code cells of those."""
    every = [c for path in NOTEBOOKS for c in nbformat.read(path, as_version=4).cells] + list(_synthetic())
    assert len(every) > 300
    for cell in every:
        for ours, theirs in [
            (cells.is_grade, utils.is_grade),
            (cells.is_solution, utils.is_solution),
            (cells.is_task, utils.is_task),
            (cells.is_locked, utils.is_locked),
        ]:
            assert ours(cell) == bool(theirs(cell)), (ours.__name__, cell.metadata)
        code = cell.cell_type == "code"
        assert cells.is_test(cell) == (code and utils.is_grade(cell) and not utils.is_solution(cell))
        assert cells.is_answer(cell) == (code and bool(utils.is_solution(cell)))
        assert cells.is_given(cell) == (code and utils.is_locked(cell) and not utils.is_grade(cell))


@pytest.mark.parametrize("metadata", [{"nbgrader": 5}, {"nbgrader": ["grade"]}, {"nbgrader": None}, {}])
def test_a_students_odd_metadata_makes_a_cell_of_no_kind(metadata):
    """A student may write anything into a cell's metadata: no kind, no exception (nbgrader.utils would raise)."""
    cell = nbformat.v4.new_code_cell("x = 1", metadata=metadata)
    assert cells.meta(cell) == {} and cells.grade_id(cell) is None
    assert not any(f(cell) for f in (cells.is_grade, cells.is_test, cells.is_answer, cells.is_given, cells.is_locked))
    assert not cells.is_grade({"cell_type": "code", "metadata": "not a dict"})  # plain JSON, as the class report reads


def test_the_delimiters_are_the_courses():
    assert cells.hidden_delimiters() == ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    config = Config()
    config.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"
    config.ClearHiddenTests.end_test_delimeter = "END SECRET"
    assert cells.hidden_delimiters(config) == ("BEGIN SECRET", "END SECRET")


def _course_with_other_delimiters(tmp_path: Path) -> Path:
    """A one-part notebook whose test cell hides its check between "### BEGIN SECRET" and "### END SECRET"."""
    test = 'assert f(1) == 1\n### BEGIN SECRET\nassert f(2) == 3, "the secret check"\n### END SECRET'
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "def f(x):\n    return x", metadata={"nbgrader": {"solution": True, "grade_id": "answer"}}
            ),
            nbformat.v4.new_code_cell(test, metadata={"nbgrader": {"grade": True, "grade_id": "part", "points": 1}}),
        ]
    )
    path = tmp_path / "one.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_isolated_pass_hides_the_block_between_the_courses_delimiters(tmp_path):
    """verdict once wrote nbgrader's default delimiters out: a course that configures others had its hidden checks'
    failures treated as visible ones (their lines shown to the student). Now the configured ones count."""
    path = _course_with_other_delimiters(tmp_path)
    secret = verdict.grade_notebook(path, path, Limits(call_seconds=30), ("BEGIN SECRET", "END SECRET"))
    assert secret.cells["part"].score == 0 and secret.cells["part"].hidden
    default = verdict.grade_notebook(path, path, Limits(call_seconds=30))
    assert default.cells["part"].score == 0 and not default.cells["part"].hidden  # the same cell, read by default


def test_a_test_cells_timeout_in_the_kernel_is_set_through_nbclients_public_hook():
    """SandboxedExecute sets nbclient's timeout_func (no private method overridden): a test cell runs for
    test_cell_timeout at most, any other cell for the course's timeout."""
    from autograder.kernel import SandboxedExecute

    test = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}})
    answer = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"solution": True, "grade_id": "a"}})
    plain = nbformat.v4.new_code_cell("")
    execute = SandboxedExecute(timeout=120, test_cell_timeout=30)
    assert execute.timeout_func == execute._cell_timeout
    assert [execute._get_timeout(c) for c in (test, answer, plain)] == [30, 120, 120]
    assert SandboxedExecute(timeout=10, test_cell_timeout=30)._get_timeout(test) == 10
    assert SandboxedExecute(timeout=-1, test_cell_timeout=30)._get_timeout(plain) is None
