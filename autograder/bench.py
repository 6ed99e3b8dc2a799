"""How fast the course runs and grades, measured against baselines in one run.

    python -m autograder bench                      # everything, about ten minutes
    python -m autograder bench --students 50        # the class-sized grading figures (long)
    python -m autograder bench --sections cost training

Sections (``--sections``, default all):

* ``cost``: one sparse autoencoder cost+gradient on 10,000 8x8 patches (64-25-64) with
  ``fast.sparse_autoencoder_cost``, against the plain ``reference.sparse_autoencoder_cost``
  (both with single-threaded BLAS), against a per-example loop of the notes' algorithm
  (``loop_cost``) and against the arithmetic bound: the floating-point operations of the
  five matrix products (``matmul_flops``) at the rate NumPy's matmul reaches on the same
  shapes and on large square matrices. The exponentials are timed too: they are the other
  big cost.
* ``training``: the original exercise (400 L-BFGS iterations, 10,000 patches, 25 hidden
  units, rho 0.01, lambda 1e-4, beta 3) as ``features.train`` runs it (``fast``): seconds
  and the cost reached.
* ``notebooks``: every source/ notebook (the solutions, hidden tests included) executed
  with nbclient in a scratch folder, per test cell; then the same notebooks answered by
  per-example loop implementations (``loop_answers``), up to their last test cell.
* ``grading``: ``autograder.grading.grade`` on scratch courses of solution submissions:
  one student (as ``python -m autograder grade`` runs it: jobs = the number of cores),
  then ``--students`` students one at a time (jobs=1) and side by side (jobs=``--jobs``,
  default the number of cores). The time of one submission's grading is the mean over
  students (it includes waiting for the gradebook when students run side by side).
* ``ci``: the total time of ``bash .ci/run``, read from its log (``--ci-log``) or given
  (``--ci-seconds``); the command that measures it is printed either way.

Every figure is a wall-clock time measured in this run; repeated timings print the
best (and the median). Other processes on the machine slow everything down: the run
starts and ends with the machine's load, and the share of the CPUs other processes used.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from . import fast, reference
from .course import COURSE_ROOT, Course

SECTIONS = ("cost", "training", "notebooks", "grading", "ci")

#: The problem of the original exercise.
VISIBLE, HIDDEN, LAMBDA, RHO, BETA = 64, 25, 1e-4, 0.01, 3.0

#: The figure lines the command prints, in order (a section that is skipped prints none of its lines).
FIGURES = {
    "cost": [
        "flops per evaluation",
        "matmul rate, the same shapes",
        "matmul rate, square",
        "exp",
        "cost+gradient, fast",
        "cost+gradient, plain reference",
        "cost+gradient, loop",
        "fast vs loop",
        "fast vs matmul bound",
    ],
    "training": ["training"],
    "notebooks": ["hidden tests, solutions", "hidden tests, loops", "slowest ungraded cell"],
    "grading": ["grading, 1 student", "grading, sequential", "grading, parallel", "parallel speed-up"],
    "ci": ["CI"],
}

#: The targets of the benchmark issue: (section, text).
TARGETS = {
    "loop_ratio": ("cost", "fast cost+gradient at least 50x faster than the loop"),
    "bound": ("cost", "fast cost+gradient within 3x of the matmul bound"),
    "training": ("training", "training (400 iterations) under 10 s"),
    "cells_solution": ("notebooks", "every hidden test cell under 1 s with the solutions"),
    "cells_loops": ("notebooks", "every hidden test cell under 5 s with loop implementations"),
    "one_student": ("grading", "grading the whole course for one student under 20 s"),
    "speedup": ("grading", "a class graded in parallel at least 1.7x faster than sequentially"),
}


# --------------------------------------------------------------------------- timing


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(best, median) wall-clock seconds of ``repeat`` calls of fn."""
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def _cpu_jiffies() -> tuple[int, int, int] | None:
    """(busy, steal, total) jiffies of all CPUs since boot, from /proc/stat (None elsewhere).

    steal: time the hypervisor gave this machine's CPUs to others (part of busy).
    """
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    fields += [0] * (8 - len(fields))
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, fields[7], sum(fields[:8])


@dataclass
class Machine:
    """What the figures were measured on, and how busy it was."""

    start_wall: float = field(default_factory=time.perf_counter)
    start_cpu: tuple[int, int, int] | None = field(default_factory=_cpu_jiffies)
    start_own: float = field(default_factory=lambda: _own_cpu_seconds())
    start_load: tuple[float, float, float] = field(default_factory=lambda: os.getloadavg())

    @staticmethod
    def description() -> str:
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        import scipy

        return (
            f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"NumPy {np.__version__}, SciPy {scipy.__version__}"
        )

    def others_share(self) -> str:
        """The share of all CPUs that other processes used since the start (this one and its children excluded)."""
        end = _cpu_jiffies()
        if not self.start_cpu or not end:
            return "unknown"
        busy, steal, total = (e - s for e, s in zip(end, self.start_cpu))
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        own = (_own_cpu_seconds() - self.start_own) * tick
        return f"{max(0.0, (busy - own) / max(total, 1)):.0%} (steal {steal / max(total, 1):.0%})"


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --------------------------------------------------------------------------- cost and gradient


def matmul_flops(visible_size: int, hidden_size: int, m: int) -> int:
    """Floating-point operations of the matrix products of one cost+gradient evaluation.

    The notes' algorithm multiplies five matrices, each holding h v m multiply-adds
    (2 h v m operations): W1 X and W2 a2 (forward), W2^T delta3 (backward),
    delta3 a2^T and delta2 X^T (the weight gradients). Everything else is O((h + v) m).
    """
    return 5 * 2 * hidden_size * visible_size * m


def exp_count(visible_size: int, hidden_size: int, m: int) -> int:
    """Exponentials of one evaluation: one per activation of the hidden and the output layer."""
    return (hidden_size + visible_size) * m


def loop_cost(theta, visible_size, hidden_size, lambda_, rho, beta, data):
    """J_sparse and its gradient the straightforward way: one example at a time.

    The notes' algorithm as written (§2.2 and §3): a forward pass over every example
    for rho_hat, then for each example a forward pass, delta3, delta2 (with the
    sparsity term) and the accumulation of Delta W, Delta b. The baseline the
    vectorized costs are compared with; same arguments and result as
    ``reference.sparse_autoencoder_cost``.
    """
    h, v = hidden_size, visible_size
    theta = np.asarray(theta, dtype=float)
    W1 = theta[: h * v].reshape(h, v)
    W2 = theta[h * v : 2 * h * v].reshape(v, h)
    b1 = theta[2 * h * v : 2 * h * v + h]
    b2 = theta[2 * h * v + h :]
    data = np.asarray(data, dtype=float)
    m = data.shape[1]
    f = reference.sigmoid

    rho_hat = np.zeros(h)
    for i in range(m):
        rho_hat += f(W1 @ data[:, i] + b1)
    rho_hat /= m
    sparsity = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))

    J = 0.0
    dW1, dW2, db1, db2 = np.zeros((h, v)), np.zeros((v, h)), np.zeros(h), np.zeros(v)
    for i in range(m):
        x = data[:, i]
        a2 = f(W1 @ x + b1)
        a3 = f(W2 @ a2 + b2)
        J += 0.5 * np.sum((a3 - x) ** 2)
        delta3 = -(x - a3) * a3 * (1 - a3)
        delta2 = (W2.T @ delta3 + sparsity) * a2 * (1 - a2)
        dW1 += np.outer(delta2, x)
        db1 += delta2
        dW2 += np.outer(delta3, a2)
        db2 += delta3
    J = (
        J / m
        + 0.5 * lambda_ * (np.sum(W1 * W1) + np.sum(W2 * W2))
        + beta * np.sum(reference.kl_divergence(rho, rho_hat))
    )
    grad = np.concatenate([(dW1 / m + lambda_ * W1).ravel(), (dW2 / m + lambda_ * W2).ravel(), db1 / m, db2 / m])
    return float(J), grad


def patches(num_patches: int, seed: int = 0) -> np.ndarray:
    """num_patches normalized 8x8 patches of the course's whitened images, C-ordered."""
    from . import data

    return np.ascontiguousarray(reference.sample_patches(data.load_images(), 8, num_patches, rng=seed))


def matmul_shapes(visible_size: int, hidden_size: int, m: int, seed: int = 0):
    """The five products of one evaluation as (left, right) operand pairs, laid out as in ``fast``."""
    rng = np.random.default_rng(seed)
    h, v = hidden_size, visible_size
    W1, W2 = rng.normal(size=(h, v)), rng.normal(size=(v, h))
    X, a2, delta3, delta2 = (rng.random((r, m)) for r in (v, h, v, h))
    return [(W1, X), (W2, a2), (W2.T, delta3), (delta3, a2.T), (delta2, X.T)]


@dataclass
class CostFigures:
    m: int
    flops: int
    exps: int
    products_seconds: float  # the five products at the same shapes, best of each
    square_n: int
    square_rate: float  # flop/s
    exp_seconds: float  # per exponential: np.exp, in place
    tanh_seconds: float
    expit_seconds: float
    fast: tuple[float, float]  # (best, median) seconds
    plain: tuple[float, float]  # reference.sparse_autoencoder_cost
    loop: tuple[float, float]
    agree: float  # largest relative difference of the fast and the plain results from the loop's

    @property
    def same_shape_rate(self) -> float:
        return self.flops / self.products_seconds

    @property
    def bound_same(self) -> float:
        return self.products_seconds

    @property
    def bound_square(self) -> float:
        return self.flops / self.square_rate

    @property
    def loop_ratio(self) -> float:
        return self.loop[0] / self.fast[0]

    @property
    def plain_ratio(self) -> float:
        return self.plain[0] / self.fast[0]


def measure_cost(m: int = 10000, repeat: int = 20, loop_repeat: int = 3, square: int = 2000) -> CostFigures:
    """Time the fast and the plain cost and the loop on m patches, the matmul rates and the exponentials."""
    import scipy.special

    data = patches(m)
    theta = reference.initialize_sparse_autoencoder(HIDDEN, VISIBLE, rng=0)
    args = (VISIBLE, HIDDEN, LAMBDA, RHO, BETA, data)
    J_loop, g_loop = loop_cost(theta, *args)
    agree = 0.0
    for cost in (fast.sparse_autoencoder_cost, reference.sparse_autoencoder_cost):
        J, g = cost(theta, *args)
        agree = max(agree, abs(J - J_loop) / abs(J_loop), reference.relative_difference(g, g_loop))

    def plain():
        with fast.one_blas_thread():  # as the fast cost runs (and as grading gives kernels on 2 cores)
            reference.sparse_autoencoder_cost(theta, *args)

    # Interleaved rounds: each quantity is timed once per round and its best round is kept, so a
    # burst of load from other processes (or a slower spell of the machine: this VM's speed
    # drifts) costs every figure alike instead of spoiling one; the loop is timed among the
    # costs' rounds. The costs run before any multi-threaded product: OpenBLAS's workers spin
    # for a while after one and would take the second core of the fast cost.
    z = np.random.default_rng(2).normal(0, 2, (HIDDEN + VISIBLE, m))
    buf = np.empty_like(z)
    first = {
        "fast": lambda: fast.sparse_autoencoder_cost(theta, *args),
        "plain": plain,
        "exp": lambda: np.exp(z, out=buf),
        "tanh": lambda: np.tanh(z, out=buf),
        "expit": lambda: scipy.special.expit(z, out=buf),
    }
    pairs = [(a, b, np.empty((a.shape[0], b.shape[1]))) for a, b in matmul_shapes(VISIBLE, HIDDEN, m)]
    then = {f"product {i}": (lambda a=a, b=b, out=out: np.matmul(a, b, out=out)) for i, (a, b, out) in enumerate(pairs)}
    A = np.random.default_rng(1).random((square, square))
    times: dict[str, list[float]] = {name: [] for name in [*first, *then, "square", "loop"]}
    rounds = max(1, repeat, loop_repeat)
    loop_every = max(1, rounds // max(1, loop_repeat))
    for timed in (first, then):
        for round_ in range(rounds):
            for name, fn in timed.items():
                times[name].append(best_of(fn, 1)[0])
            if timed is first and round_ % loop_every == 0 and len(times["loop"]) < loop_repeat:
                times["loop"].append(best_of(lambda: loop_cost(theta, *args), 1)[0])  # the same minutes
            if timed is then and round_ % 5 == 0:  # one large product takes as long as many small ones
                times["square"].append(best_of(lambda: A @ A, 1)[0])
    products = sum(min(times[name]) for name in then)
    square_seconds = min(times["square"])
    exp_s, tanh_s, expit_s = (min(times[k]) / z.size for k in ("exp", "tanh", "expit"))
    fast_s, plain_s, loop = ((min(times[k]), statistics.median(times[k])) for k in ("fast", "plain", "loop"))
    return CostFigures(
        m,
        matmul_flops(VISIBLE, HIDDEN, m),
        exp_count(VISIBLE, HIDDEN, m),
        products,
        square,
        2.0 * square**3 / square_seconds,
        exp_s,
        tanh_s,
        expit_s,
        fast_s,
        plain_s,
        loop,
        agree,
    )


# --------------------------------------------------------------------------- training


def measure_training(num_patches: int = 10000, max_iter: int = 400):
    """The original exercise as ``features.train`` runs it (``fast``, single-threaded BLAS): a TrainingRun."""
    from . import features

    return features.train(num_patches=num_patches, max_iter=max_iter, seed=0)


# --------------------------------------------------------------------------- notebooks

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
        meta = cell.metadata.get("nbgrader", {})
        error = ""
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                error = o.get("ename", "error")
            elif o.get("output_type") == "stream" and o.get("name") == "stderr" and not error:
                error = "stderr"
        out.append(CellTime(i, meta["grade_id"] if meta.get("grade") else None, _seconds(cell), error))
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

    from . import course

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
                graded = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")]
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


# --------------------------------------------------------------------------- grading


def build_class_course(dest: Path, assignments: list[str], students: int, source: Course | None = None) -> Course:
    """A fresh nbgrader course at dest: the assignments and `students` solution submissions of each."""
    work = {f"student{s + 1:03d}": dict.fromkeys(assignments, {}) for s in range(students)}
    return (source or Course()).scratch(dest, assignments, submissions=work)


@dataclass
class GradingRun:
    students: int
    jobs: int
    seconds: float
    problems: list[str]  # submissions not graded, or below full marks
    per_assignment: dict[str, float] = field(default_factory=dict)  # mean seconds of one submission's grading


def time_grading(course: Course, assignments: list[str], jobs: int, feedback: bool) -> GradingRun:
    """grading.grade on a course of solution submissions; every one should get full marks."""
    from . import grading

    options = grading.Options(assignments, jobs=jobs, feedback=feedback, check=False, unsafe=True)  # our own work
    report = grading.grade(course, options)
    problems = [
        f"{o.student}/{o.assignment}: {o.status} {o.detail}".strip()
        for o in report.outcomes
        if o.status != grading.Status.GRADED or o.detail
    ]
    maxima = grading.gradebook.max_scores(course, assignments)
    for (student, a), cells in grading.gradebook.scores(course, assignments).items():
        got = sum(v or 0.0 for v in cells.values())
        if got < maxima[a]:
            problems.append(f"{student}/{a}: {got:g}/{maxima[a]:g}")
    students = len({o.student for o in report.outcomes})
    per = {a: statistics.mean([o.seconds for o in report.outcomes if o.assignment == a] or [0.0]) for a in assignments}
    return GradingRun(students, report.jobs, report.seconds, problems, per)


@dataclass
class GradingFigures:
    assignments: list[str]
    one: GradingRun
    sequential: GradingRun
    parallel: GradingRun

    @property
    def speedup(self) -> float:
        return self.sequential.seconds / self.parallel.seconds


def measure_grading(
    assignments: list[str], students: int, jobs: int, feedback: bool, source: Course | None = None
) -> GradingFigures:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        one = time_grading(build_class_course(tmp / "one", assignments, 1, source), assignments, jobs, feedback)
        seq = time_grading(
            build_class_course(tmp / "sequential", assignments, students, source), assignments, 1, feedback
        )
        par = time_grading(
            build_class_course(tmp / "parallel", assignments, students, source), assignments, jobs, feedback
        )
    return GradingFigures(assignments, one, seq, par)


# --------------------------------------------------------------------------- CI

CI_COMMAND = "bash .ci/run 2>&1 | tee build/ci.log"


def ci_seconds(log: Path | None, given: float | None) -> tuple[float | None, str]:
    """CI's total time and where it comes from: --ci-seconds, else the last "== CI took N s" of the log."""
    if given is not None:
        return given, "given with --ci-seconds"
    if log is not None and Path(log).is_file():
        lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.startswith("== CI took")]
        if lines:
            return float(lines[-1].split()[3]), f"read from {log}"
    return None, "not measured"


# --------------------------------------------------------------------------- the report


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _line(key: str, text: str) -> str:
    return f"{key + ':':<34}{text}"


def _cells_summary(times: dict[str, list[CellTime]]) -> tuple[list[str], list[str]]:
    """Per-assignment lines (test cells: max, total, count) and the problems (errors, stderr)."""
    lines, problems = [], []
    for a, cells in times.items():
        graded = [c for c in cells if c.grade_id]
        worst = max(graded, key=lambda c: c.seconds) if graded else None
        total_all = sum(c.seconds for c in cells)
        lines.append(
            f"  {a:<24} {len(graded):>2} test cells: max {worst.seconds if worst else 0:6.2f} s "
            f"({worst.grade_id if worst else '-'}), total {sum(c.seconds for c in graded):6.2f} s; "
            f"all cells {total_all:6.1f} s"
        )
        problems += [f"{a}/{c.grade_id or f'cell {c.index}'}: {c.error}" for c in cells if c.error]
    return lines, problems


def _worst(times: dict[str, list[CellTime]]) -> CellTime | None:
    graded = [c for cells in times.values() for c in cells if c.grade_id]
    return max(graded, key=lambda c: c.seconds) if graded else None


def _slow(times: dict[str, list[CellTime]], limit: float) -> list[str]:
    return [
        f"{a}/{c.grade_id} {c.seconds:.2f} s"
        for a, cells in times.items()
        for c in cells
        if c.grade_id and c.seconds >= limit
    ]


def report(
    machine: Machine,
    cost: CostFigures | None = None,
    training=None,
    notebooks: NotebookFigures | None = None,
    grading_figures: GradingFigures | None = None,
    ci: tuple[float | None, str] | None = None,
) -> str:
    """The figures as text: one line per figure (keys from FIGURES), then the targets met or not."""
    out = [_line("machine", Machine.description())]
    met: dict[str, tuple[bool, str]] = {}
    if cost:
        c = cost
        out += [
            _line(
                "flops per evaluation",
                f"{c.flops / 1e6:.1f} M in the five matrix products (10 h v m, h={HIDDEN}, v={VISIBLE}, m={c.m}); "
                f"{c.exps:,} exponentials",
            ),
            _line(
                "matmul rate, the same shapes",
                f"{c.same_shape_rate / 1e9:.1f} GFLOP/s (the five products alone: {_ms(c.products_seconds)})",
            ),
            _line(
                "matmul rate, square",
                f"{c.square_rate / 1e9:.1f} GFLOP/s ({c.square_n}x{c.square_n}; the products would take "
                f"{_ms(c.bound_square)})",
            ),
            _line(
                "exp",
                f"{c.exp_seconds * 1e9:.1f} ns each (np.exp; np.tanh {c.tanh_seconds * 1e9:.1f} ns, expit "
                f"{c.expit_seconds * 1e9:.1f} ns): {_ms(c.exps * c.exp_seconds)} per evaluation",
            ),
            _line(
                "cost+gradient, fast",
                f"{_ms(c.fast[0])} best, {_ms(c.fast[1])} median ({c.m:,} patches, {VISIBLE}-{HIDDEN}-{VISIBLE})",
            ),
            _line(
                "cost+gradient, plain reference",
                f"{_ms(c.plain[0])} best, {_ms(c.plain[1])} median (the fast one is {c.plain_ratio:.1f}x faster)",
            ),
            _line(
                "cost+gradient, loop",
                f"{_ms(c.loop[0])} best, {_ms(c.loop[1])} median (the fast and the plain one agree with it to "
                f"{c.agree:.1e})",
            ),
            _line("fast vs loop", f"{c.loop_ratio:.0f}x faster"),
            _line(
                "fast vs matmul bound",
                f"{c.fast[0] / c.bound_same:.1f}x the same-shape bound "
                f"({c.bound_same / c.fast[0]:.0%} of it), "
                f"{c.fast[0] / c.bound_square:.1f}x the square-rate bound "
                f"({c.bound_square / c.fast[0]:.0%}); "
                f"bound + exponentials: {_ms(c.bound_same + c.exps * c.exp_seconds)}",
            ),
        ]
        met["loop_ratio"] = (c.loop_ratio >= 50, f"{c.loop_ratio:.0f}x")
        met["bound"] = (
            c.fast[0] <= 3 * c.bound_same,
            f"{c.fast[0] / c.bound_same:.1f}x the same-shape bound, {c.fast[0] / c.bound_square:.1f}x the "
            f"square-rate bound; the exponentials alone take {c.exps * c.exp_seconds / c.bound_same:.1f}x the bound",
        )
    if training is not None:
        t = training
        out.append(
            _line(
                "training",
                f"{t.seconds:.1f} s for {t.iterations} L-BFGS iterations ({t.evaluations} evaluations) on "
                f"{t.patches.shape[1]:,} patches; cost {t.initial_cost:.4f} -> {t.final_cost:.4f}",
            )
        )
        met["training"] = (t.seconds < 10 and t.iterations >= 400, f"{t.seconds:.1f} s")
    if notebooks:
        for key, times, limit, target in [
            ("hidden tests, solutions", notebooks.solutions, 1.0, "cells_solution"),
            ("hidden tests, loops", notebooks.loops, 5.0, "cells_loops"),
        ]:
            worst = _worst(times)
            lines, problems = _cells_summary(times)
            total = sum(c.seconds for cells in times.values() for c in cells if c.grade_id)
            out.append(
                _line(
                    key,
                    f"slowest test cell {worst.seconds if worst else 0:.2f} s "
                    f"({worst.grade_id if worst else '-'}), all test cells {total:.1f} s",
                )
            )
            out += lines
            if problems:
                out.append(f"  cells that failed or wrote to stderr: {'; '.join(problems)}")
            slow = _slow(times, limit)
            met[target] = (
                not slow and not problems,
                "; ".join(slow) or (f"max {worst.seconds:.2f} s" if worst else "-"),
            )
            if problems:
                met[target] = (False, met[target][1] + f"; {len(problems)} cells failed")
        ungraded = [(a, c) for a, cells in notebooks.solutions.items() for c in cells if not c.grade_id]
        if ungraded:
            a, c = max(ungraded, key=lambda x: x[1].seconds)
            threads = notebooks.blas_threads or "inherited"
            out.append(
                _line(
                    "slowest ungraded cell",
                    f"{c.seconds:.1f} s ({a}, cell {c.index}), solutions; kernels' BLAS threads: {threads}",
                )
            )
    if grading_figures:
        g = grading_figures
        what = "the whole course" if len(g.assignments) == 6 else ", ".join(g.assignments)
        for key, run in [
            ("grading, 1 student", g.one),
            ("grading, sequential", g.sequential),
            ("grading, parallel", g.parallel),
        ]:
            out.append(
                _line(
                    key,
                    f"{run.seconds:.1f} s for {run.students} student{'s' * (run.students != 1)} x {what}, "
                    f"{run.jobs} at once ({run.seconds / max(run.students, 1):.1f} s per student; one submission of "
                    + ", ".join(f"{a.split('_', 1)[0]} {t:.1f} s" for a, t in run.per_assignment.items())
                    + ")"
                    + (f"; problems: {'; '.join(run.problems)}" if run.problems else ""),
                )
            )
        out.append(
            _line("parallel speed-up", f"{g.speedup:.2f}x ({g.sequential.students} students, {g.parallel.jobs} jobs)")
        )
        full = len(g.assignments) == 6
        met["one_student"] = (
            full and g.one.seconds < 20,
            f"{g.one.seconds:.1f} s" + ("" if full else f" ({what} only)"),
        )
        met["speedup"] = (g.speedup >= 1.7, f"{g.speedup:.2f}x with {g.sequential.students} students")
    if ci is not None:
        seconds, where = ci
        shown = f"{seconds:.0f} s ({where})" if seconds is not None else where
        out.append(_line("CI", f"{shown}; measure with: {CI_COMMAND}"))
    out.append(
        _line(
            "load",
            f"{os.getloadavg()[0]:.2f} (1-min average; {machine.start_load[0]:.2f} at the start); other processes "
            f"used {machine.others_share()} of the CPUs during the run "
            f"({time.perf_counter() - machine.start_wall:.0f} s)",
        )
    )
    if met:
        out.append("targets:")
        for key, (ok, detail) in met.items():
            out.append(f"  {'met    ' if ok else 'NOT met'}  {TARGETS[key][1]}: {detail}")
    return "\n".join(out)


# --------------------------------------------------------------------------- the command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to measure (default: all)"
    )
    p.add_argument(
        "--patches", type=int, default=10000, help="patches of the cost and training figures (default: 10000)"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=20,
        help="timing rounds of the fast and the plain cost, exp and matmul (default: 20; the best is kept)",
    )
    p.add_argument("--loop-repeat", type=int, default=3, help="timings of the loop implementation (default: 3)")
    p.add_argument("--square", type=int, default=2000, help="size of the square matmul (default: 2000)")
    p.add_argument("--max-iter", type=int, default=400, help="L-BFGS iterations of the training (default: 400)")
    p.add_argument(
        "--assignments", nargs="+", default=None, help="assignments of the notebook and grading figures (default: all)"
    )
    p.add_argument("--students", type=int, default=2, help="class size of the sequential/parallel grading (default: 2)")
    p.add_argument("--jobs", type=int, default=None, help="students graded at once in parallel (default: the cores)")
    p.add_argument("--no-feedback", action="store_true", help="grade without writing the feedback HTML")
    p.add_argument("--cell-timeout", type=float, default=300.0, help="per-cell timeout of the notebook runs (s)")
    p.add_argument(
        "--kernel-threads",
        type=int,
        default=1,
        help="BLAS threads of the notebook runs' kernels, as grade gives them on 2 cores (default: 1; 0: inherited)",
    )
    p.add_argument("--ci-log", type=Path, default=COURSE_ROOT / "build" / "ci.log", help="log of `bash .ci/run`")
    p.add_argument("--ci-seconds", type=float, default=None, help="CI's total time, if measured elsewhere")


def run(args) -> str:
    """Measure the sections asked for and return the report (printing progress on stderr)."""
    machine = Machine()
    sections = set(args.sections)
    assignments = args.assignments or Course().assignments()
    results: dict = {}

    def step(what: str) -> None:
        print(f"[bench] {what} ...", file=sys.stderr, flush=True)

    if "cost" in sections:
        step("cost+gradient: fast, plain reference, loop, matmul, exp")
        results["cost"] = measure_cost(args.patches, args.repeat, args.loop_repeat, args.square)
    if "training" in sections:
        step(f"training: {args.max_iter} L-BFGS iterations on {args.patches} patches")
        results["training"] = measure_training(args.patches, args.max_iter)
    if "notebooks" in sections:
        step(f"notebooks: {', '.join(assignments)} (solutions, then loops)")
        results["notebooks"] = measure_notebooks(assignments, args.cell_timeout, args.kernel_threads or None)
    if "grading" in sections:
        jobs = args.jobs or os.cpu_count() or 1
        step(f"grading: 1 student, then {args.students} students with jobs=1 and jobs={jobs}")
        results["grading_figures"] = measure_grading(assignments, args.students, jobs, not args.no_feedback)
    if "ci" in sections:
        results["ci"] = ci_seconds(args.ci_log, args.ci_seconds)
    return report(machine, **results)
