"""What each cell of a notebook is to nbgrader, and where a test cell's hidden block lies: one place for both.

The kinds are nbgrader's own (``nbgrader.utils``), read safely: a submitted notebook's metadata is the
student's to edit, and an ``nbgrader`` entry that is not a dict makes a cell of no kind here, where
``nbgrader.utils`` would raise. The course's cells:

* a **test** cell: graded, not an answer (``is_grade`` and not ``is_solution``); its hidden block is the
  lines between the delimiters that ``ClearHiddenTests`` is configured with (``### BEGIN HIDDEN TESTS`` by
  default: ``hidden_delimiters(config)``, never the default written out, so that a course that configures
  others has them honoured everywhere);
* an **answer** cell: ``is_solution`` (the student's to write);
* a **given** cell: locked and neither graded nor an answer (imports, the helpers, earlier solutions);
* any other cell is the student's own.
"""

from __future__ import annotations


def meta(cell) -> dict:
    """The cell's nbgrader metadata, {} if it has none or it is not a dict."""
    found = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell.get("metadata"), dict) else {}
    return found if isinstance(found, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's grade_id, if it is a string."""
    found = meta(cell).get("grade_id")
    return found if isinstance(found, str) else None


# nbgrader.utils' definitions (tests/test_cells.py holds them equal), on metadata read safely, for notebook
# nodes and plain dicts alike (the class report reads notebooks as JSON).


def is_grade(cell) -> bool:
    """A cell that earns points (a test cell, or an answer cell graded by hand): ``utils.is_grade``."""
    return bool(meta(cell).get("grade", False))


def is_solution(cell) -> bool:
    """A cell the student writes: ``utils.is_solution``."""
    return bool(meta(cell).get("solution", False))


def is_task(cell) -> bool:
    """A Markdown task cell graded by hand: ``utils.is_task``."""
    return bool(meta(cell).get("task", False))


def is_locked(cell) -> bool:
    """A cell whose source nbgrader restores from the release (test and given cells): ``utils.is_locked``."""
    if is_solution(cell):
        return False
    return is_grade(cell) or bool(meta(cell).get("locked", False))


# The course's kinds, of code cells.


def is_answer(cell) -> bool:
    """A code cell the student writes (nbgrader's solution cell)."""
    return cell.get("cell_type") == "code" and is_solution(cell)


def is_test(cell) -> bool:
    """A code cell of tests: graded and not an answer."""
    return cell.get("cell_type") == "code" and is_grade(cell) and not is_solution(cell)


def is_given(cell) -> bool:
    """A code cell the course gives: locked, neither graded nor an answer."""
    return cell.get("cell_type") == "code" and is_locked(cell) and not is_grade(cell)


def hidden_delimiters(config=None) -> tuple[str, str]:
    """(begin, end): the hidden-test delimiters of a course, as its ``ClearHiddenTests`` is configured."""
    from nbgrader.preprocessors import ClearHiddenTests  # here: importing nbgrader takes a while

    preprocessor = ClearHiddenTests(config=config) if config is not None else ClearHiddenTests()
    return preprocessor.begin_test_delimeter, preprocessor.end_test_delimeter


def hidden_lines(source: str, begin: str, end: str) -> set[int]:
    """1-based numbers of the lines of source from each begin delimiter to its end delimiter, both included."""
    lines, inside = set(), False
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            inside = True
        if inside:
            lines.add(number)
        if end in line:
            inside = False
    return lines
