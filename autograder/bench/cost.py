"""The ``cost`` and ``training`` sections: one cost+gradient evaluation of the original exercise's
sparse autoencoder (fast, plain, a per-example loop, the matrix products' bound, the exponentials),
and the original exercise's training."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from .. import fast, reference
from .machine import best_of

#: The problem of the original exercise.
VISIBLE, HIDDEN, LAMBDA, RHO, BETA = 64, 25, 1e-4, 0.01, 3.0


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
    from .. import data

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

TRAINING_ASSIGNMENT = "05_sparse_autoencoder"


@dataclass
class TrainingFigures:
    """The original exercise's training three ways, in the same run.

    fast: ``features.train`` (``autograder/fast.py``); reference: ``reference.train_sparse_autoencoder``
    (the plain answer key, vectorized as a student's solution is) with one BLAS thread, in this process,
    its best of ``rounds``; cell: what 05's training cell prints ("trained in ... s") when the release
    notebook, filled with the source's solutions, runs from the top in a Jupyter kernel (nbclient), BLAS
    threads as the machine gives them: the cell itself limits them; best of ``rounds``, interleaved
    with the reference's.
    """

    fast: object  # features.TrainingRun
    reference: float
    cell: float
    cell_cost: float
    rounds: int

    @property
    def cell_ratio(self) -> float:
        return self.cell / self.reference


def training_cell_notebook(num_patches: int, max_iter: int):
    """05's release notebook, the source's solutions typed in, up to its training cell (the first that
    calls train_sparse_autoencoder on the patches), on num_patches patches and max_iter iterations."""
    import nbformat

    from ..course import COURSE_ROOT, fill_answers

    name = "sparse_autoencoder.ipynb"
    source = nbformat.read(COURSE_ROOT / "source" / TRAINING_ASSIGNMENT / name, as_version=4)
    nb = fill_answers(source, nbformat.read(COURSE_ROOT / "release" / TRAINING_ASSIGNMENT / name, as_version=4), {})
    (training,) = [i for i, c in enumerate(nb.cells) if "theta = train_sparse_autoencoder(patches" in c.source]
    nb.cells = nb.cells[: training + 1]
    for cell in nb.cells:
        cell.source = cell.source.replace("num_patches=10000", f"num_patches={num_patches}")
    nb.cells[training].source = nb.cells[training].source.replace("max_iter=400", f"max_iter={max_iter}")
    return nb


def run_training_cell(num_patches: int, max_iter: int, timeout: float = 1800) -> tuple[float, float]:
    """(seconds, J_sparse) that 05's training cell prints, run in a fresh kernel in a scratch copy of 05."""
    import os
    import re
    import shutil
    import tempfile
    from pathlib import Path

    from ..course import COURSE_ROOT
    from .notebooks import run_notebook

    nb = training_cell_notebook(num_patches, max_iter)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / TRAINING_ASSIGNMENT
        shutil.copytree(COURSE_ROOT / "release" / TRAINING_ASSIGNMENT, folder)
        saved = os.environ.pop("NBGRADER_EXECUTION", None)  # the cell would skip the training
        try:
            cells = run_notebook(nb, folder, timeout)
        finally:
            if saved is not None:
                os.environ["NBGRADER_EXECUTION"] = saved
    failed = [c for c in cells if c.error]
    if failed:
        raise RuntimeError(f"05's notebook failed up to its training cell: cell {failed[0].index}: {failed[0].error}")
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    found = re.search(r"trained in ([\d.]+) s, J_sparse = ([\d.]+)", printed)
    if not found:
        raise RuntimeError(f"05's training cell printed no time: {printed!r}")
    return float(found[1]), float(found[2])


def measure_training(num_patches: int = 10000, max_iter: int = 400, rounds: int = 2) -> TrainingFigures:
    """The original exercise by ``features.train`` (fast), by the plain reference with one BLAS thread,
    and by 05's training cell in a kernel with the solutions (see TrainingFigures)."""
    import time

    from threadpoolctl import threadpool_limits

    from .. import features

    run = features.train(num_patches=num_patches, max_iter=max_iter, seed=0)
    data = run.patches
    reference_seconds, cell_seconds, cell_cost = [], [], float("nan")
    for _ in range(rounds):
        start = time.perf_counter()
        with threadpool_limits(limits=1, user_api="blas"):
            reference.train_sparse_autoencoder(data, HIDDEN, LAMBDA, RHO, BETA, max_iter=max_iter, rng=0)
        reference_seconds.append(time.perf_counter() - start)
        seconds, cell_cost = run_training_cell(num_patches, max_iter)
        cell_seconds.append(seconds)
    return TrainingFigures(run, min(reference_seconds), min(cell_seconds), cell_cost, rounds)
