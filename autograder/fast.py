"""The sparse autoencoder's cost and training, fast: ``reference.py``'s results to rounding.

``reference.py`` is the answer key, written to be read beside the notes. The reference
training (``features.py``, which draws the edge detectors) evaluates J_sparse and its
gradient about 400 times on 10,000 patches, and ``python -m autograder bench`` times it:
both use this module. The hidden tests (``checks/``) never do. ``tests/test_fast.py``
checks that ``sparse_autoencoder_cost`` here and in ``reference.py`` agree (cost and
gradient, one and two column blocks) and that neither modifies its arguments. What each
change gains is measured in docs/benchmarks.md.

What differs from the reference (the arithmetic is the notes' §3, as there):

* BLAS on one thread (``threadpoolctl``) during each evaluation and during the whole
  L-BFGS-B run: these products are small, and multi-threaded OpenBLAS's idle workers spin
  after each one, taking the cores from everything else (NumPy and SciPy bundle one
  OpenBLAS each, and SciPy's runs L-BFGS-B's own products);
* no fresh large intermediates: per-thread work arrays, reused from call to call
  (``_scratch``), and every elementwise step in place;
* one exp per activation: sigmoid(z) = 1 / (1 + exp(-z)) computed in place from -z;
* b2 folded into W2's product and the bias gradients into products with a row of ones;
* from ``PARALLEL_MIN_EXAMPLES`` examples on, on two or more cores, the examples split in
  two column blocks computed side by side by two threads; the blocks' sums over examples
  are then added, which changes the result only by rounding.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.optimize  # loads SciPy's OpenBLAS too, before the BLAS controller looks for it
from threadpoolctl import ThreadpoolController

from . import reference

__all__ = ["PARALLEL_MIN_EXAMPLES", "minimize_sparse_autoencoder", "one_blas_thread", "sparse_autoencoder_cost"]

#: From this many examples on, two threads (below it, starting the second costs more than it saves).
PARALLEL_MIN_EXAMPLES = 2048

_SCRATCH = threading.local()
_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_IN_USE = threading.Lock()
_BLAS: ThreadpoolController | None = None
_BLAS_LIMIT_HELD = threading.Lock()


# --------------------------------------------------------------------------- BLAS threads


def _blas() -> ThreadpoolController:
    """threadpoolctl's controller of the BLAS libraries loaded in this process, made once."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController().select(user_api="blas")
    return _BLAS


@contextlib.contextmanager
def one_blas_thread():
    """Context manager: every BLAS of the process on one thread for the block, then as before.

    Process-wide, and held by one thread at a time: a nested use, or a use in another
    thread while the limit is held, changes nothing (it neither waits nor restores
    anything: the limit is restored once, by the thread that set it).
    """
    if not _BLAS_LIMIT_HELD.acquire(blocking=False):
        yield
        return
    try:
        with _blas().limit(limits=1):
            yield
    finally:
        _BLAS_LIMIT_HELD.release()


# --------------------------------------------------------------------------- work arrays and threads


def _scratch(name, shape):
    """A float64 work array of this shape, kept per thread and reused by the next call.

    Only intermediates live here: nothing a function returns ever aliases them.
    """
    store = _SCRATCH.__dict__
    out = store.get(name)
    if out is None or out.shape != shape:
        out = store[name] = np.empty(shape)
    return out


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _worker() -> ThreadPoolExecutor:
    """The one extra thread of the two-block evaluation (recreated in a forked child)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="sparse-autoencoder"))
    return _POOL[1]


@contextlib.contextmanager
def _two_threads(m):
    """Whether an evaluation on m examples runs as two column blocks side by side.

    Yes from PARALLEL_MIN_EXAMPLES examples on, on two cores, with a BLAS that threadpoolctl
    controls (the caller holds it at one thread), and when the extra thread is not busy with
    another call (its work arrays hold one evaluation's blocks at a time).
    """
    if m < PARALLEL_MIN_EXAMPLES or _cores() < 2 or not _blas().lib_controllers:
        yield False
        return
    if not _POOL_IN_USE.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        _POOL_IN_USE.release()


def _each_block(fn, calls):
    """[fn(*args) for args in calls], the second call (if any) in the extra thread."""
    if len(calls) == 1:
        return [fn(*calls[0])]
    other = _worker().submit(fn, *calls[1])
    return [fn(*calls[0]), other.result()]


def _total(parts):
    """The sum of the blocks' partial sums (the one partial sum itself when there is one block)."""
    first, *rest = parts
    for part in rest:
        first = first + part
    return first


# --------------------------------------------------------------------------- the cost, in blocks


def _sigmoid_of_negated(a):
    """a := f(-a) = 1 / (1 + exp(a)), in place; a holds -z on entry. Returns a.

    Exact and silent for every float: exp overflows to inf only where f(z) rounds to 0
    anyway (z < -709), and 1 / (1 + inf) is that 0. One exp per entry, no temporaries.
    """
    with np.errstate(over="ignore", under="ignore"):
        np.exp(a, out=a)
        a += 1.0
        np.divide(1.0, a, out=a)
    return a


def _forward_block(minus_W1, minus_W2_b2, b1, X):
    """Forward pass and delta3 for the examples of X (a column block), in this thread's work arrays.

    Returns ([a2; 1], delta3, sum of squared errors, row sums of a2): a2 sits above a
    row of ones, so one product gives W2 a2 + b2 and one gives [Delta W2, Delta b2].
    """
    h, m = minus_W1.shape[0], X.shape[1]
    a2_1 = _scratch("a2_1", (h + 1, m))
    a2, ones = a2_1[:h], a2_1[h]
    ones.fill(1.0)
    np.matmul(minus_W1, X, out=a2)
    a2 -= b1[:, None]  # -z2 = -(W1 x + b1), eq. (6)
    _sigmoid_of_negated(a2)  # a2 = f(z2), eq. (7)
    a3 = np.matmul(minus_W2_b2, a2_1, out=_scratch("a3", (minus_W2_b2.shape[0], m)))  # -z3
    _sigmoid_of_negated(a3)  # a3 = f(z3)
    delta3 = np.subtract(a3, X, out=_scratch("delta3", a3.shape))  # a3 - x
    squared_error = float(np.vdot(delta3, delta3))
    delta3 *= a3
    np.subtract(1.0, a3, out=a3)
    delta3 *= a3  # delta3 = (a3 - x) a3 (1 - a3)
    return a2_1, delta3, squared_error, np.matmul(a2, ones)


def _backward_block(W2, a2_1, delta3, X, sparsity):
    """delta2 and the sums (Delta W1, Delta b1, [Delta W2, Delta b2]) over the examples of X."""
    h = a2_1.shape[0] - 1
    a2, ones = a2_1[:h], a2_1[h]
    delta_W2_b2 = np.matmul(delta3, a2_1.T)
    delta2 = np.matmul(W2.T, delta3, out=_scratch("delta2", a2.shape))
    delta2 += sparsity[:, None]
    delta2 *= a2
    np.subtract(1.0, a2, out=a2)
    delta2 *= a2  # delta2 = (W2^T delta3 + sparsity) a2 (1 - a2)
    return np.matmul(delta2, X.T), np.matmul(delta2, ones), delta_W2_b2


def sparse_autoencoder_cost(theta, visible_size, hidden_size, lambda_, rho, beta, data):
    """``reference.sparse_autoencoder_cost``, fast: the same (cost, grad) to rounding.

    theta: (2 h v + h + v,) = [W1.ravel(), W2.ravel(), b1, b2]; data: (v, m), one example
    per column. Returns (cost, grad): a Python float and a new (2 h v + h + v,) array.
    Runs with single-threaded BLAS, as two column blocks in two threads from
    PARALLEL_MIN_EXAMPLES examples on.
    """
    W1, W2, b1, b2 = reference._unpack_autoencoder(theta, visible_size, hidden_size)
    data = np.ascontiguousarray(data, dtype=np.float64)  # no copy for C-ordered float64 data
    h, v = W1.shape
    m = data.shape[1]
    minus_W1 = -W1
    minus_W2_b2 = np.concatenate([-W2, -b2[:, None]], axis=1)

    with one_blas_thread(), _two_threads(m) as two:
        blocks = [data[:, : m // 2], data[:, m // 2 :]] if two else [data]
        forward = _each_block(_forward_block, [(minus_W1, minus_W2_b2, b1, X) for X in blocks])
        rho_hat = _total(f[3] for f in forward) / m
        sparsity = beta * (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat))
        backward = _each_block(_backward_block, [(W2, f[0], f[1], X, sparsity) for f, X in zip(forward, blocks)])

    J = (
        0.5 * _total(f[2] for f in forward) / m
        + 0.5 * lambda_ * (float(np.vdot(W1, W1)) + float(np.vdot(W2, W2)))
        + beta * float(np.sum(reference.kl_divergence(rho, rho_hat)))
    )
    delta_W1, delta_b1, delta_W2_b2 = (_total(b[i] for b in backward) for i in range(3))
    grad = np.empty(2 * h * v + h + v)
    grad[: h * v] = (delta_W1 / m + lambda_ * W1).ravel()
    grad[h * v : 2 * h * v] = (delta_W2_b2[:, :h] / m + lambda_ * W2).ravel()
    grad[2 * h * v : 2 * h * v + h] = delta_b1 / m
    grad[2 * h * v + h :] = delta_W2_b2[:, h] / m
    return J, grad


# --------------------------------------------------------------------------- training


def minimize_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, beta=3.0, max_iter=400, rng=None):
    """``reference.train_sparse_autoencoder`` with this module's cost, returning scipy's whole result.

    The same start (``reference.initialize_sparse_autoencoder(hidden_size, v, rng)``) and
    optimizer (L-BFGS-B, ``jac=True``, at most max_iter iterations), the whole run with
    single-threaded BLAS. Beyond theta (``result.x``), the ``OptimizeResult`` holds the
    final cost (``result.fun``), the iteration and evaluation counts (``result.nit``,
    ``result.nfev``) and the optimizer's message.
    """
    data = np.ascontiguousarray(data, dtype=np.float64)  # once, not in each evaluation
    visible_size = data.shape[0]
    theta0 = reference.initialize_sparse_autoencoder(hidden_size, visible_size, rng)
    with one_blas_thread():
        return scipy.optimize.minimize(
            sparse_autoencoder_cost,
            theta0,
            args=(visible_size, hidden_size, lambda_, rho, beta, data),
            method="L-BFGS-B",
            jac=True,
            options={"maxiter": max_iter},
        )
