"""The isolated grading pass: every test cell's verdict, computed without running student code here.

nbgrader runs the hidden tests inside the student's kernel, after the student's code, so a
submission can fake its grade (redefine ``np.allclose``, rewrite later cells, return objects
that compare equal to anything, ship a ``numpy.py``, import the reference…). This pass does
not trust the kernel:

1. From the submitted notebook it takes only the code that defines the student's functions:
   the answer cells (matched by ``grade_id``, duplicates run in order, a deleted one is simply
   missing), the imports and definitions of cells the student added, and — from ``source/``,
   not from the submission — the read-only given cells. Test cells are never taken from the
   submission.
2. That code runs in a ``Sandbox`` (``autograder.sandbox``): another process that sees nothing
   of the course, whose output is discarded and whose resources are limited.
3. Here, in the grader, the test cells of ``source/`` — visible asserts and hidden checks
   alike, the very code of the notebook — run with each student function replaced by a proxy
   that calls into the sandbox and gets plain numbers back. The checks of ``autograder.checks``
   (reference values, central finite differences, bug diagnosis) are the same ones the
   in-kernel hidden tests call; only the place where they run differs.

A test cell scores its points if it runs without an exception (or the number its last line
evaluates to, nbgrader's partial-credit rule), else 0 with the exception's message.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import io
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import cells, checks
from .sandbox import Limits, Sandbox, StudentCodeError, StudentError, Trouble, trouble


@dataclass
class Verdict:
    """The isolated pass's verdict on one test cell."""

    grade_id: str
    points: float
    score: float
    message: str = ""  # "ExceptionName: message" of the failure (the hidden checks' diagnosis, if they gave one)
    hidden: bool = False  # the failure was raised on a line of the hidden tests
    diagnosed: bool = False  # a visible assert failed, and the message is the hidden checks' (run alone)
    leaned: list[str] = field(default_factory=list)  # other parts its checks accepted a result on top of
    trouble: Trouble | None = None  # how the student's code failed, when the grader acts on it (sandbox.Trouble)

    @property
    def hung(self) -> bool:
        """The student's code ran past its call budget in this cell (the kernel need not wait for it again)."""
        return self.trouble == Trouble.TIMEOUT


@dataclass
class NotebookVerdict:
    """Every test cell of one notebook, and what happened to the student's code."""

    notebook: str
    cells: dict[str, Verdict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # answer cells that raised, a sandbox that died…
    isolation: str = ""
    seconds: float = 0.0
    functions: list[str] = field(default_factory=list)  # the graded functions (student_functions)
    hung: list[str] = field(default_factory=list)  # those that ran past the call budget in every cell that checks them

    def hung_cells(self) -> dict[str, str]:
        """{grade_id: the message} of the test cells on which the student's code hung."""
        return {g: c.message for g, c in self.cells.items() if c.hung}


#: Cell magics whose body IPython runs as Python in the notebook's namespace (others hold shell, HTML, a file…):
#: whether they take arguments on their line (%%time with a statement there is an error, and runs nothing).
PYTHON_CELL_MAGICS = {"time": False, "capture": True, "prun": True}
#: How many times a cell's tokens are read anew past a magic whose brackets were left open (IPython's reading
#: resumes after it), at the most: each is a pass over the rest of the cell, in the grader's own process.
MAX_REREADS = 8


@functools.lru_cache(maxsize=4096)  # the same cells are read again and again (source's, for every student)
def _python(source: str) -> str:
    """Cell source as plain Python, line for line (a traceback's line numbers stay the cell's).

    As IPython reads a cell in the notebook's kernel (its own code decides): prompts (``>>>``,
    ``In [1]:``) and a common indentation are removed; a cell magic's body stays Python where IPython runs
    it as such (``%%time``, ``%%capture``: read the same way), and is commented out otherwise
    (``%%script false`` runs nothing); what IPython reads as a line magic, a shell escape or a help
    request becomes ``pass``, the line kept as a comment. A line that merely starts with ``%`` or ``!=``,
    continuing an expression, stays Python, as in the kernel.
    """
    from IPython.core import inputtransformer2 as ipython

    lines = [line if line.endswith("\n") else line + "\n" for line in source.splitlines(keepends=True)]
    cleaned = lines
    for cleanup in ipython.TransformerManager().cleanup_transforms:
        cleaned = cleanup(cleaned)
    lines = ["\n"] * (len(lines) - len(cleaned)) + cleaned  # leading blank lines dropped: kept, as blank lines
    first = next((k for k, line in enumerate(lines) if line.strip()), len(lines))
    # "%%time?" asks for help (IPython leaves it to the help transformer): the cell is no cell magic
    if first < len(lines) and lines[first].startswith("%%") and not re.match(r"%%\w+\?", lines[first]):
        name, _, arguments = lines[first][2:].strip().partition(" ")
        body = "".join(lines[first + 1 :])
        python = name in PYTHON_CELL_MAGICS and (PYTHON_CELL_MAGICS[name] or not arguments.strip())
        inner = _python(body) if python else "".join("# " + line for line in lines[first + 1 :])
        return "".join([*lines[:first], "# " + lines[first], inner])
    return "".join(_magics_as_pass(lines, ipython))


def _magics_as_pass(lines: list[str], ipython) -> list[str]:
    """lines with each line magic, shell escape and help request (IPython's token transformers find them)
    made ``pass`` and its lines comments. One reading of the tokens serves every magic, and each is read in
    the lines it spans only (IPython reads the whole cell anew after each: thousands of magics cost minutes of
    the grader's time); but after a magic whose brackets were left open, which the tokenizer read together
    with the lines after it, the reading starts anew there (MAX_REREADS times at the most)."""
    finders = ipython.TransformerManager().token_transformers
    offset, made = 0, 0
    for _ in range(MAX_REREADS):
        reread = None
        for tokens in ipython.make_tokens_by_line(lines[offset:]):
            found = sorted(filter(None, (f.find([tokens]) for f in finders)), key=ipython.TokenTransformBase.sortby)
            for transform in found:
                start = offset + transform.start_line
                if isinstance(transform, ipython.HelpEnd):
                    end = offset + transform.q_line
                else:
                    end = ipython.find_end_of_continued_line(lines, start)
                probe = copy.copy(transform)  # IPython's own transform, on those lines alone: does it read them?
                probe.start_line = 0
                if isinstance(probe, ipython.HelpEnd):
                    probe.q_line -= start - offset
                try:
                    probe.transform(lines[start : end + 1])
                except SyntaxError:
                    continue
                made += 1
                if made >= ipython.TRANSFORM_LOOP_LIMIT:  # IPython gives up on such a cell: none of it runs
                    return ["# " + line for line in lines]
                code = lines[start].lstrip()
                lines[start : end + 1] = [
                    lines[start][: len(lines[start]) - len(code)] + "pass  # " + code,
                    *("# " + line for line in lines[start + 1 : end + 1]),
                ]
                if offset + tokens[-1].start[0] - 1 > end:  # its tokens ran on past it: read anew after it
                    reread = end + 1
                break
            if reread is not None:
                break
        if reread is None:
            return lines
        offset = reread
    return lines


def _definitions_only(source: str) -> str:
    """The imports and definitions of a cell the student added (its other statements are not run)."""
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    try:
        tree = ast.parse(_python(source))
        return ast.unparse(ast.Module(body=[n for n in tree.body if isinstance(n, kept)], type_ignores=[]))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python the parser can hold: nothing of it
        return ""


def student_functions(source_nb) -> list[str]:
    """The names the answer cells of the source notebook define at top level."""
    names = []
    for cell in source_nb.cells:
        if cells.is_answer(cell):
            for node in ast.parse(_python(cell.source)).body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in names:
                    names.append(node.name)
    return names


def sandbox_cells(source_nb, submitted_nb) -> list[dict]:
    """What the sandbox runs: given cells from source, answers and the student's definitions, in order. A cell
    of the student's own (not an answer) is marked "own": its errors are the student's to leave."""
    given = {cells.grade_id(c): c for c in source_nb.cells if cells.is_given(c) and cells.grade_id(c)}
    answers = {cells.grade_id(c) for c in source_nb.cells if cells.is_answer(c) and cells.grade_id(c)}
    out, seen_given, copies = [], set(), {}
    for k, cell in enumerate(submitted_nb.cells):
        if cell.cell_type != "code":
            continue
        gid = cells.grade_id(cell)
        if gid in given:
            if gid not in seen_given:
                seen_given.add(gid)
                out.append({"id": gid, "source": _python(given[gid].source), "student": False})
        elif gid in answers and cells.is_answer(cell):
            copies[gid] = copies.get(gid, 0) + 1
            label = gid if copies[gid] == 1 else f"{gid} (copy {copies[gid]})"
            out.append({"id": f"answer {label}", "source": _python(cell.source), "student": True})
        elif not cells.is_test(cell) and not cells.meta(cell).get("locked"):
            source = _definitions_only(cell.source)
            if source.strip():
                out.append({"id": f"your cell {k + 1}", "source": source, "student": True, "own": True})
    # Given cells the student deleted are restored first (they are imports and definitions).
    missing = [
        {"id": gid, "source": _python(c.source), "student": False} for gid, c in given.items() if gid not in seen_given
    ]
    return missing + out


def _run_test(source: str, namespace: dict, points: float, hung=dict, delimiters: tuple[str, str] = ()) -> Verdict:
    """Run one test cell here. Output is swallowed, as nothing here is the student's.

    hung() gives {function: how it hung} for the student's functions that ran past their budget in this
    cell (Hangs.in_cell): a cell that failed on a hang says which function hung (a visible line that
    called it directly would not), and its hidden block is not run again to meet the same hang.

    When a visible assert fails, the cell stops there, before the hidden checks that would say
    why (which block, the largest differing entry, the name of a known bug): so the hidden block
    then runs alone, and its diagnosis, if it fails too, leads the verdict's message (the visible
    assert's follows). The score is the cell's either way. delimiters: the course's hidden-test
    delimiters (``cells.hidden_delimiters``), nbgrader's defaults if not given.
    """
    block = cells.hidden_lines(source, *(delimiters or cells.hidden_delimiters()))
    with checks.leaning() as leaned:
        error, value = _execute(source, namespace)
    kind = trouble(error[2]) if error is not None else None
    stopped = hung() if kind == Trouble.TIMEOUT else {}
    if stopped:
        name, how = list(stopped.items())[-1]  # the last to hang: the one whose error stopped the cell
        hidden = error[1] is not None and error[1] in block
        return Verdict("", points, 0.0, f"{StudentError.__name__}: {name} {how}", hidden, trouble=kind)
    if error is None:
        leaned = sorted(leaned)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Verdict("", points, max(0.0, min(points, float(value))), leaned=leaned)
        return Verdict("", points, points, leaned=leaned)
    hidden = error[1] is None or error[1] in block
    # Not when the student's code itself hung, died or raised (StudentCodeError): that message is the
    # diagnosis, and the hidden checks would only meet the same failure again, a call budget later.
    if not hidden and block and not isinstance(error[2], StudentCodeError):
        diagnosis, _ = _execute(_hidden_only(source, block), namespace)
        if diagnosis is not None:
            message = f"{diagnosis[0]}\n(the visible test said: {error[0]})"
            return Verdict("", points, 0.0, message, False, True, trouble=trouble(diagnosis[2]) or kind)
    return Verdict("", points, 0.0, error[0], hidden, trouble=kind)


def _hidden_only(source: str, block: set[int]) -> str:
    """The cell's hidden-test lines (numbers in block), every other line left blank: the same line numbers."""
    return "\n".join(line if n in block else "" for n, line in enumerate(source.split("\n"), start=1))


def _execute(source: str, namespace: dict) -> tuple[tuple[str, int | None, Exception] | None, object]:
    """Run cell source in namespace: (None, the value of its last expression), or ((the error as
    "Name: message", the cell line that raised it, the exception), None)."""
    tree = ast.parse(_python(source))
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exec(compile(tree, "<test cell>", "exec"), namespace)
            value = eval(compile(ast.Expression(last.value), "<test cell>", "eval"), namespace) if last else None
    except Exception as error:  # the cell failed: that is the verdict
        text = str(error).strip()
        lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == "<test cell>"]
        said = f"{type(error).__name__}: {text}" if text else type(error).__name__
        return (said, lines[-1] if lines else None, error), None
    return None, value


def _hidden_calls(source_nb, delimiters: tuple[str, str] = ()):
    """(grade_id, check, student function) of each test cell's hidden call: ``checks.check_cost(cost)``."""
    delimiters = delimiters or cells.hidden_delimiters()
    for cell in source_nb.cells:
        if not cells.is_test(cell):
            continue
        block = cells.hidden_lines(cell.source, *delimiters)
        try:
            tree = ast.parse(_python(_hidden_only(cell.source, block)))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name):
                check = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                yield cells.grade_id(cell), check, node.args[0].id
                break


def tested_functions(source_nb, delimiters: tuple[str, str] = ()) -> dict[str, list[str]]:
    """{student function: the grade_ids of the test cells whose hidden check is called on it (first argument)}."""
    out: dict[str, list[str]] = {}
    for gid, _, function in _hidden_calls(source_nb, delimiters):
        out.setdefault(function, []).append(gid)
    return out


def _checked(out: NotebookVerdict, source_nb, delimiters: tuple[str, str] = ()) -> dict[str, list[Verdict]]:
    """{student function, or check (``check_backprop_dW1``): the verdicts of the test cells whose hidden check is
    called on it, or is it}."""
    found: dict[str, list[Verdict]] = {}
    for gid, check, function in _hidden_calls(source_nb, delimiters):
        if gid in out.cells:
            found.setdefault(function, []).append(out.cells[gid])
            found.setdefault(check, []).append(out.cells[gid])
    return found


def _take_back(out: NotebookVerdict, checked: dict[str, list[Verdict]]) -> None:
    """A part that passed only on top of the student's own version of another part keeps its points only
    if that other part lost points: else the student's function answered its own tests one way and this
    part's checks another (a function that counts its calls or recognizes its inputs).

    A leaned basis is a function ("backprop": any of its parts must have lost points) or a function and the
    checks of the parts that pay for what was excused ("backprop:check_backprop_dW1,check_backprop_dW2": one of
    those must have lost points; another part of the function lost on purpose does not keep this one's). A payer
    that passed by leaning in turn pays if its own basis did (the step on a backprop that ignores its activation:
    backprop's blocks were excused, its J pays).
    """

    def paid(basis: str, seen: frozenset) -> bool:
        function, _, payers = basis.partition(":")
        verdicts = [c for name in (payers.split(",") if payers else [function]) for c in checked.get(name, [])]
        return not verdicts or any(
            c.score < c.points or any(paid(b, seen | {basis}) for b in c.leaned if b not in seen) for c in verdicts
        )

    unpaid = [(v, b) for v in out.cells.values() for b in v.leaned if v.score > 0 and not paid(b, frozenset({b}))]
    for verdict, basis in unpaid:
        function = basis.partition(":")[0]
        verdict.score = 0.0
        verdict.hidden, verdict.trouble = True, None
        verdict.message = (
            f"CheckFailure: this part passed only on top of your own {function}, which differs from the notes' "
            f"definition here, yet passes its own tests: {function} answers differently in different places "
            "(it must not depend on how often or on what it was called before)"
        )


def grade_notebook(
    source_path: Path, submitted_path: Path, limits: Limits | None = None, delimiters: tuple[str, str] = ()
) -> NotebookVerdict:
    """The isolated verdict of every test cell of one submitted notebook. delimiters: the course's hidden-test
    delimiters (``cells.hidden_delimiters(config)``), nbgrader's defaults if not given."""
    start = time.perf_counter()
    delimiters = delimiters or cells.hidden_delimiters()
    source_nb = nbformat.read(source_path, as_version=4)
    out = NotebookVerdict(Path(source_path).name, functions=student_functions(source_nb))
    try:
        submitted_nb = nbformat.read(submitted_path, as_version=4)
    except Exception as error:  # unreadable JSON, a missing file: every part scores 0
        submitted_nb = None
        out.notes.append(f"the notebook could not be read ({type(error).__name__}: {error})")
    tests = [c for c in source_nb.cells if cells.is_test(c)]
    with Sandbox(limits) as box:
        out.isolation = box.mode
        namespace: dict = {"__name__": "__main__"}
        for cell in source_nb.cells:
            if cells.is_given(cell):
                exec(compile(_python(cell.source), f"<given {cells.grade_id(cell)}>", "exec"), namespace)
        if submitted_nb is not None:
            try:
                to_run = sandbox_cells(source_nb, submitted_nb)
                errors = box.run_cells(to_run)
                # Errors of the student's own extra cells are theirs to leave: only answer cells are noted.
                own = {c["id"] for c in to_run if c.get("own")}
                out.notes += [f"{c} raised {e}" for c, e in errors.items() if c not in own]
            except StudentCodeError as error:
                out.notes.append(f"running your answer cells failed: the code {error}")
            for name in student_functions(source_nb):
                namespace[name] = box.function(name)
        for cell in tests:
            gid, points = cells.grade_id(cell), float(cells.meta(cell).get("points", 0))
            if submitted_nb is None:
                out.cells[gid] = Verdict(gid, points, 0.0, "the notebook could not be read")
                continue
            box.new_cell()
            out.cells[gid] = _run_test(cell.source, namespace, points, lambda: box.hangs.in_cell or {}, delimiters)
            out.cells[gid].grade_id = gid
        checked = _checked(out, source_nb, delimiters)
        _take_back(out, checked)
    # A function hung if it hung on every cell that checks it (one that works on other inputs has not).
    out.hung = sorted(f for f in out.functions if checked.get(f) and all(c.hung for c in checked[f]))
    out.seconds = time.perf_counter() - start
    return out


def grade_assignment(
    source_dir: Path, submitted_dir: Path, limits: Limits | None = None, delimiters: tuple[str, str] = ()
) -> list[NotebookVerdict]:
    """Every notebook of source_dir against its namesake in submitted_dir (a missing one scores 0)."""
    notebooks = sorted(Path(source_dir).glob("*.ipynb"))
    return [grade_notebook(path, Path(submitted_dir) / path.name, limits, delimiters) for path in notebooks]
