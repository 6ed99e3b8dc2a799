"""The ``notebooks`` section: every source/ notebook executed with nbclient, per test cell, with
the solutions and with per-example loop answers (``loop_answers``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import cells
from ..course import COURSE_ROOT

#: Correct loop-style sample submissions of autograder.samples: (module, student) per assignment.
LOOP_SAMPLES = {
    "02_forward_pass": ("a02_forward_pass", "loops_correct"),
    "03_backprop": ("a03_backprop", "loop_over_examples"),
    "04_gradient_checking": ("a04_gradient_checking", "plain_python_loops"),
    "05_sparse_autoencoder": ("a05_sparse_autoencoder", "loops"),
}

#: Loop answers for the assignments that have no correct loop-style sample: one entry at a time (01)
#: and one row at a time (06; its solution's display_network already fills the image patch by patch).
LOOP_ANSWERS = {
    "01_activations": {
        "sigmoid": """import math


def sigmoid(z):
    z = np.asarray(z, dtype=float)
    out = np.empty(z.shape)
    for i, v in enumerate(z.flat):
        e = math.exp(-abs(v))
        out.flat[i] = 1 / (1 + e) if v >= 0 else e / (1 + e)
    return out""",
        "sigmoid_prime": """def sigmoid_prime(z):
    s = sigmoid(z)
    out = np.empty(s.shape)
    for i, v in enumerate(s.flat):
        out.flat[i] = v * (1 - v)
    return out""",
        "tanh": """import math


def tanh(z):
    z = np.asarray(z, dtype=float)
    out = np.empty(z.shape)
    for i, v in enumerate(z.flat):
        t = math.exp(-2 * abs(v))
        out.flat[i] = math.copysign((1 - t) / (1 + t), v) if v != 0 else 0.0
    return out""",
        "tanh_prime": """def tanh_prime(z):
    t = tanh(z)
    out = np.empty(t.shape)
    for i, v in enumerate(t.flat):
        out.flat[i] = 1 - v * v
    return out""",
    },
    "06_visualization": {
        "max_activation_inputs": """def max_activation_inputs(W1):
    W1 = np.asarray(W1, dtype=float)
    X = np.zeros(W1.shape)
    for i in range(W1.shape[0]):
        norm = math.sqrt(sum(w * w for w in W1[i]))
        if norm > 0:
            X[i] = W1[i] / norm
    return X""",
    },
}


def loop_answers(assignment: str) -> dict[str, str]:
    """{answer cell grade_id: source}: a per-example loop implementation of one assignment."""
    if assignment in LOOP_ANSWERS:
        return dict(LOOP_ANSWERS[assignment])
    module_name, student = LOOP_SAMPLES[assignment]
    import importlib

    module = importlib.import_module(f"autograder.samples.{module_name}")
    return dict(module.SUBMISSIONS[student].answers)


@dataclass
class CellTime:
    index: int
    grade_id: str | None  # a test cell's grade_id; None for an ungraded cell
    seconds: float
    error: str = ""  # the exception's name, or "stderr" (nbgrader scores a test cell that writes to stderr 0)


def _seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    return (
        datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()


def run_notebook(nb, folder: Path, timeout: float, blas_threads: int | None = None) -> list[CellTime]:
    """Execute nb with nbclient in folder; every code cell's time and error, in order.

    blas_threads: BLAS/OpenMP threads of the kernel (None: inherited). ``grade`` gives each
    kernel cores // jobs of them: one, when students are graded side by side on 2 cores.
    """
    from nbclient import NotebookClient

    env = dict(os.environ)
    if blas_threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(blas_threads)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        record_timing=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=env)
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        error = ""
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                error = o.get("ename", "error")
            elif o.get("output_type") == "stream" and o.get("name") == "stderr" and not error:
                error = "stderr"
        out.append(CellTime(i, cells.grade_id(cell) if cells.is_grade(cell) else None, _seconds(cell), error))
    return out


def time_assignment(
    assignment: str,
    answers: dict[str, str] | None = None,
    timeout: float = 300.0,
    root: Path = COURSE_ROOT,
    blas_threads: int | None = 1,
) -> list[CellTime]:
    """Run source/<assignment>'s notebook in a scratch copy of its folder.

    answers: None runs the solutions as they are (every cell). Otherwise the named answer
    cells get these sources (the others keep the solution), and the notebook stops after
    its last test cell (in 05 that skips the 400-iteration training, ungraded).
    """
    import nbformat

    from .. import course

    source = root / "source" / assignment
    times = []
    with tempfile.TemporaryDirectory(prefix=f"bench-{assignment}-") as tmp:
        folder = Path(tmp)
        for extra in source.iterdir():
            if extra.is_file() and extra.suffix != ".ipynb":
                shutil.copy(extra, folder)
        for path in sorted(source.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if answers is not None:
                nb = course.fill_answers(nb, nb, answers)  # the source with hidden tests, answers replaced
                graded = [i for i, c in enumerate(nb.cells) if cells.is_grade(c)]
                nb.cells = nb.cells[: max(graded) + 1] if graded else nb.cells
            times += run_notebook(nb, folder, timeout, blas_threads)
    return times


@dataclass
class NotebookFigures:
    solutions: dict[str, list[CellTime]]
    loops: dict[str, list[CellTime]]
    blas_threads: int | None = 1


def measure_notebooks(
    assignments: list[str], timeout: float = 300.0, blas_threads: int | None = 1, root: Path = COURSE_ROOT
) -> NotebookFigures:
    solutions = {a: time_assignment(a, None, timeout, root, blas_threads) for a in assignments}
    loops = {a: time_assignment(a, loop_answers(a), timeout, root, blas_threads) for a in assignments}
    return NotebookFigures(solutions, loops, blas_threads)
