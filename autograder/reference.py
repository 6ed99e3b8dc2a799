"""Reference solution: every graded function of the course, as the notes define it.

This module is the instructors' answer key. Hidden tests compare students'
results with it, and the finite-difference checks differentiate *its* costs,
so it must be exact, fast and quiet. It never reaches students (nothing in
``source/`` imports it in a cell that survives into ``release/``).

Conventions (``../shared/COURSE_SPEC.md``; equation numbers are those of
Andrew Ng's CS294A notes "Sparse autoencoder"):

* one example per column: ``X.shape == (n, m)``;
* ``W[l].shape == (s_{l+2}, s_{l+1})`` and ``b[l].shape == (s_{l+2},)``, so
  ``W[0]`` is the notes' W^(1);
* theta unrolled as all weights (row-major ``ravel``) in layer order, then
  all biases in layer order (notes §5);
* no weight decay on biases (notes, footnote 1);
* arguments are never modified; lists and tuples are accepted wherever a
  sequence of arrays is expected; results are float64.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.special  # also loads SciPy's OpenBLAS, which single_threaded_blas must see

__all__ = [
    # 1. Activations (§2)
    "sigmoid",
    "sigmoid_prime",
    "tanh",
    "tanh_prime",
    # 2. Forward pass (§2.1)
    "initialize_parameters",
    "forward_pass",
    # 3. Backpropagation (§2.2)
    "cost",
    "backprop_single_example",
    "backprop",
    "gradient_descent_step",
    # 4. Gradient checking (§2.3)
    "numerical_gradient",
    "relative_difference",
    "flatten_parameters",
    "unflatten_parameters",
    # 5. Sparse autoencoder (§3)
    "normalize_patches",
    "sample_patches",
    "initialize_sparse_autoencoder",
    "kl_divergence",
    "sparse_autoencoder_cost",
    "train_sparse_autoencoder",
    # 6. Visualization (§4)
    "max_activation_inputs",
    "display_network",
]

ACTIVATIONS = ("sigmoid", "tanh")


# --------------------------------------------------------------------------
# 1. Activations (notes §2)
# --------------------------------------------------------------------------


def sigmoid(z):
    """Logistic function f(z) = 1 / (1 + exp(-z)), notes eq. (1) (left).

    z: any shape, including 0-d. Returns float64 of the same shape.

    ``scipy.special.expit`` never evaluates exp of a large positive number,
    so it is exact and silent for every finite z (``sigmoid(-1000) == 0.0``,
    no RuntimeWarning), and it is the fastest such formula here (the
    exponentials dominate the sparse autoencoder's cost, see ``bench``).
    """
    return scipy.special.expit(np.asarray(z, dtype=np.float64))


def sigmoid_prime(z):
    """Derivative f'(z) = f(z) (1 - f(z)) of the sigmoid, notes §2 (after eq. 1).

    z: any shape. Returns float64 of the same shape.
    """
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    """Hyperbolic tangent f(z) = (e^z - e^-z) / (e^z + e^-z), notes eq. (1) (right).

    z: any shape. Returns float64 of the same shape.

    Students write it from eq. (1) without overflow, for example as
    sign(z) (1 - t) / (1 + t) with t = exp(-2|z|) <= 1; ``numpy.tanh``
    computes the same function exactly and silently for every finite z.
    """
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_prime(z):
    """Derivative f'(z) = 1 - f(z)^2 of tanh, notes §2.

    z: any shape. Returns float64 of the same shape.
    """
    t = tanh(z)
    return 1.0 - t * t


def _activation(name: str) -> tuple[Callable, Callable]:
    """(f, f' written in terms of a = f(z)) for an activation name."""
    if name == "sigmoid":
        return sigmoid, lambda a: a * (1.0 - a)
    if name == "tanh":
        return tanh, lambda a: 1.0 - a * a
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


# --------------------------------------------------------------------------
# 2. Forward pass (notes §2.1)
# --------------------------------------------------------------------------


def _as_arrays(seq) -> list[np.ndarray]:
    """A list of float64 arrays from a list or tuple of array-likes (no copy needed)."""
    return [np.asarray(x, dtype=np.float64) for x in seq]


def initialize_parameters(layer_sizes, epsilon=0.01, rng=None):
    """Random initial parameters for a network with the given layer sizes (notes §2.2).

    layer_sizes: [s_1, s_2, ..., s_nl], at least two layers.
    epsilon: standard deviation of the normal distribution N(0, epsilon^2).
    rng: None, an int seed, or a ``numpy.random.Generator``.

    Returns (W, b), two lists of length nl - 1 with
    W[l]: (s_{l+2}, s_{l+1}) and b[l]: (s_{l+2},), every entry from N(0, epsilon^2).
    Random (not zero) values break the symmetry between hidden units.
    """
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer_sizes needs two or more positive sizes, got {layer_sizes!r}")
    rng = np.random.default_rng(rng)
    W = [rng.normal(0.0, epsilon, size=(s_next, s)) for s, s_next in zip(sizes[:-1], sizes[1:])]
    b = [rng.normal(0.0, epsilon, size=s_next) for s_next in sizes[1:]]
    return W, b


def _forward(W, b, X, activation):
    """Activations [a1 = X, a2, ..., a_nl] as float64 arrays (shared by forward_pass and backprop)."""
    f, _ = _activation(activation)
    a = [np.array(X, dtype=np.float64)]  # a copy: callers may not alias X
    for W_l, b_l in zip(W, b):
        W_l = np.asarray(W_l, dtype=np.float64)
        b_l = np.asarray(b_l, dtype=np.float64)
        z = W_l @ a[-1] + (b_l[:, None] if a[-1].ndim == 2 else b_l)  # eq. (6)
        a.append(f(z))  # eq. (7)
    return a


def forward_pass(W, b, X, activation="sigmoid"):
    """Forward propagation through the whole network, notes eqs. (6)-(7).

    W: list of nl - 1 arrays, W[l]: (s_{l+2}, s_{l+1}).
    b: list of nl - 1 arrays, b[l]: (s_{l+2},).
    X: (s_1, m), one example per column (a 1-D x of shape (s_1,) is one example).
    activation: "sigmoid" or "tanh", used in every layer including the output.

    Returns [a1, a2, ..., a_nl] with a1 = X (a copy) and a_{l+1}: (s_{l+1}, m):
        z^(l+1) = W^(l) a^(l) + b^(l),   a^(l+1) = f(z^(l+1)).
    """
    return _forward(W, b, X, activation)


# --------------------------------------------------------------------------
# 3. Backpropagation (notes §2.2)
# --------------------------------------------------------------------------


def _weight_decay(W, lambda_):
    """(lambda/2) * sum of all squared weights: the second term of eq. (8)."""
    return 0.5 * lambda_ * sum(float(np.sum(np.square(w))) for w in W)


def cost(W, b, X, Y, lambda_, activation="sigmoid"):
    """Overall cost J(W, b) of notes eq. (8).

    X: (s_1, m) inputs, Y: (s_nl, m) targets, lambda_: weight decay (>= 0).

        J = (1/m) sum_i (1/2) ||h(x^(i)) - y^(i)||^2  +  (lambda/2) sum_l ||W^(l)||_F^2

    Biases carry no weight decay. Returns a Python float.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    h = _forward(W, b, X, activation)[-1]
    m = X.shape[1] if X.ndim == 2 else 1
    return 0.5 * float(np.sum(np.square(h - Y))) / m + _weight_decay(W, lambda_)


def _backward(W, a, Y, activation):
    """Error terms delta^(2..nl) (notes step 2-3 of backprop), one column per example."""
    _, f_prime_of_a = _activation(activation)
    W = _as_arrays(W)
    delta = [-(Y - a[-1]) * f_prime_of_a(a[-1])]  # eq. for delta^(nl)
    for l in range(len(W) - 1, 0, -1):
        delta.append((W[l].T @ delta[-1]) * f_prime_of_a(a[l]))  # delta^(l)
    return delta[::-1]  # delta[l] is the notes' delta^(l+2)


def backprop_single_example(W, b, x, y, activation="sigmoid"):
    """Gradient of J(W, b; x, y) = (1/2) ||h(x) - y||^2 for one example, notes §2.2.

    x: (s_1,), y: (s_nl,). No weight decay.

    Returns (dW, db) with dW[l]: (s_{l+2}, s_{l+1}) and db[l]: (s_{l+2},):
        delta^(nl) = -(y - a^(nl)) * f'(z^(nl))
        delta^(l)  = ((W^(l))^T delta^(l+1)) * f'(z^(l))
        dJ/dW^(l) = delta^(l+1) (a^(l))^T,   dJ/db^(l) = delta^(l+1)
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    a = _forward(W, b, x, activation)
    delta = _backward(W, a, y, activation)
    dW = [np.outer(d, a_l) for d, a_l in zip(delta, a)]
    db = [d.copy() for d in delta]
    return dW, db


def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
    """J(W, b) of eq. (8) and its full gradient, vectorized over the m examples.

    X: (s_1, m), Y: (s_nl, m).

    Returns (J, dW, db), J a Python float, dW[l]: (s_{l+2}, s_{l+1}), db[l]: (s_{l+2},):
        dJ/dW^(l) = (1/m) Delta W^(l) + lambda W^(l),   dJ/db^(l) = (1/m) Delta b^(l)
    (notes eqs. (9)-(10) and the batch algorithm of §2.2).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim == 1:
        X, Y = X[:, None], Y.reshape(-1, 1)
    m = X.shape[1]
    W = _as_arrays(W)
    a = _forward(W, b, X, activation)
    delta = _backward(W, a, Y, activation)
    J = 0.5 * float(np.sum(np.square(a[-1] - Y))) / m + _weight_decay(W, lambda_)
    dW = [d @ a_l.T / m + lambda_ * W_l for d, a_l, W_l in zip(delta, a, W)]
    db = [d.sum(axis=1) / m for d in delta]
    return J, dW, db


def gradient_descent_step(W, b, X, Y, lambda_, alpha, activation="sigmoid"):
    """One iteration of batch gradient descent, notes §2.2 (eqs. (9)-(10)).

    alpha: learning rate. Returns new lists (W, b):
        W^(l) := W^(l) - alpha dJ/dW^(l),   b^(l) := b^(l) - alpha dJ/db^(l).
    """
    _, dW, db = backprop(W, b, X, Y, lambda_, activation)
    W_new = [np.asarray(w, dtype=np.float64) - alpha * g for w, g in zip(W, dW)]
    b_new = [np.asarray(v, dtype=np.float64) - alpha * g for v, g in zip(b, db)]
    return W_new, b_new


# --------------------------------------------------------------------------
# 4. Gradient checking (notes §2.3)
# --------------------------------------------------------------------------


def numerical_gradient(J, theta, epsilon=1e-4):
    """Central-difference approximation of the gradient of J at theta, notes §2.3.

    J: a function from a 1-D array (n,) to a scalar.
    theta: (n,); left unchanged (J is only ever called on a copy).

    Returns grad: (n,) with
        grad_i = (J(theta + epsilon e_i) - J(theta - epsilon e_i)) / (2 epsilon),
    whose error is O(epsilon^2), against O(epsilon) for a one-sided difference.
    """
    theta = np.array(theta, dtype=np.float64).reshape(-1)  # private copy
    grad = np.empty_like(theta)
    for i in range(theta.size):
        old = theta[i]
        theta[i] = old + epsilon
        j_plus = float(J(theta.copy()))
        theta[i] = old - epsilon
        j_minus = float(J(theta.copy()))
        theta[i] = old
        grad[i] = (j_plus - j_minus) / (2.0 * epsilon)
    return grad


def _as_vector(x) -> np.ndarray:
    """One float64 vector from an array or a list/tuple of arrays of any shapes."""
    if isinstance(x, (list, tuple)):
        parts = [np.ravel(np.asarray(p, dtype=np.float64)) for p in x]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.ravel(np.asarray(x, dtype=np.float64))


def relative_difference(a, b):
    """‖a − b‖ / ‖a + b‖ (Euclidean norms over all entries), notes §2.3.

    a, b: arrays of one shape, or lists of arrays (compared as one vector).
    Returns a Python float; 0.0 when a and b are equal (also both zero),
    inf when a = -b != 0.
    """
    a, b = _as_vector(a), _as_vector(b)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare shapes {a.shape} and {b.shape}")
    num = float(np.linalg.norm(a - b))
    if num == 0.0:
        return 0.0
    den = float(np.linalg.norm(a + b))
    return num / den if den > 0.0 else math.inf


def flatten_parameters(W, b):
    """Unroll (W, b) into theta = [W^(1).ravel(), W^(2).ravel(), ..., b^(1), b^(2), ...] (notes §5).

    Returns theta: (sum_l s_{l+1} s_{l+2} + sum_l s_{l+2},), float64, a new array.
    """
    parts = [np.ravel(np.asarray(w, dtype=np.float64)) for w in W]
    parts += [np.ravel(np.asarray(v, dtype=np.float64)) for v in b]
    return np.concatenate(parts)


def unflatten_parameters(theta, layer_sizes):
    """Inverse of ``flatten_parameters``: theta back to (W, b) for the given layer sizes.

    theta: (n,), layer_sizes: [s_1, ..., s_nl]. Returns new arrays
    W[l]: (s_{l+2}, s_{l+1}) and b[l]: (s_{l+2},), never views of theta.
    """
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    sizes = [int(s) for s in layer_sizes]
    shapes = list(zip(sizes[1:], sizes[:-1]))
    expected = sum(r * c for r, c in shapes) + sum(sizes[1:])
    if theta.size != expected:
        raise ValueError(f"theta has {theta.size} entries, layer sizes {sizes} need {expected}")
    W, pos = [], 0
    for r, c in shapes:
        W.append(theta[pos : pos + r * c].reshape(r, c).copy())
        pos += r * c
    b = []
    for r in sizes[1:]:
        b.append(theta[pos : pos + r].copy())
        pos += r
    return W, b


# --------------------------------------------------------------------------
# 5. Sparse autoencoder (notes §3)
# --------------------------------------------------------------------------


def normalize_patches(patches):
    """Normalize patches for a sigmoid output layer, as in the original exercise.

    patches: (n, m), one patch per column. Returns a new (n, m) array:
    1. remove each patch's own mean (its column mean: the DC component);
    2. clip to ±3 sigma, sigma the standard deviation of all values (ddof=0);
    3. rescale [-3 sigma, 3 sigma] linearly to [0.1, 0.9].
    All-constant input (sigma = 0) maps to 0.5 everywhere.
    """
    p = np.asarray(patches, dtype=np.float64)
    p = p - p.mean(axis=0, keepdims=True)
    limit = 3.0 * float(p.std())
    if limit == 0.0:
        return np.full_like(p, 0.5)
    p = np.clip(p, -limit, limit) / limit  # now in [-1, 1]
    return (p + 1.0) * 0.4 + 0.1


def sample_patches(images, patch_size=8, num_patches=10000, rng=None):
    """Random square patches from a stack of images, then ``normalize_patches``.

    images: (k, height, width). rng: None, an int seed or a Generator.
    Each patch picks an image and a top-left corner uniformly at random
    (every position where the window fits) and is flattened row-major.

    Returns (patch_size**2, num_patches), one patch per column.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (k, height, width), got {images.shape}")
    k, height, width = images.shape
    if patch_size > min(height, width):
        raise ValueError(f"patch_size {patch_size} exceeds the images' size {height}x{width}")
    rng = np.random.default_rng(rng)
    which = rng.integers(k, size=num_patches)
    rows = rng.integers(height - patch_size + 1, size=num_patches)
    cols = rng.integers(width - patch_size + 1, size=num_patches)
    windows = np.lib.stride_tricks.sliding_window_view(images, (patch_size, patch_size), axis=(1, 2))
    patches = windows[which, rows, cols].reshape(num_patches, patch_size * patch_size).T
    return normalize_patches(patches)


def initialize_sparse_autoencoder(hidden_size, visible_size, rng=None):
    """Initial theta for the sparse autoencoder, as in the original exercise.

    Weights uniform in [-r, r], r = sqrt(6) / sqrt(hidden_size + visible_size + 1);
    biases zero. Returns theta = [W1.ravel(), W2.ravel(), b1, b2] with
    W1: (hidden_size, visible_size), W2: (visible_size, hidden_size).
    """
    rng = np.random.default_rng(rng)
    r = math.sqrt(6.0) / math.sqrt(hidden_size + visible_size + 1)
    W1 = rng.uniform(-r, r, size=(hidden_size, visible_size))
    W2 = rng.uniform(-r, r, size=(visible_size, hidden_size))
    return flatten_parameters([W1, W2], [np.zeros(hidden_size), np.zeros(visible_size)])


def kl_divergence(rho, rho_hat):
    """KL(rho || rho_hat) between Bernoulli variables with means rho and rho_hat, notes §3.

        rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))

    Elementwise with broadcasting; 0 where rho_hat == rho, +inf where
    rho_hat is 0 or 1 and rho is not. Returns float64 of the broadcast shape.
    """
    rho = np.asarray(rho, dtype=np.float64)
    rho_hat = np.asarray(rho_hat, dtype=np.float64)
    return scipy.special.rel_entr(rho, rho_hat) + scipy.special.rel_entr(1.0 - rho, 1.0 - rho_hat)


def _unpack_autoencoder(theta, visible_size, hidden_size):
    """Views W1: (h, v), W2: (v, h), b1: (h,), b2: (v,) into theta."""
    h, v = int(hidden_size), int(visible_size)
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    if theta.size != 2 * h * v + h + v:
        raise ValueError(f"theta has {theta.size} entries, a {v}-{h}-{v} autoencoder needs {2 * h * v + h + v}")
    W1 = theta[: h * v].reshape(h, v)
    W2 = theta[h * v : 2 * h * v].reshape(v, h)
    b1 = theta[2 * h * v : 2 * h * v + h]
    b2 = theta[2 * h * v + h :]
    return W1, W2, b1, b2


# Speed. The cost is evaluated ~400 times per training on 10,000 patches and thousands of
# times on tiny models by the finite-difference checks; ``python -m autograder bench``
# measures it. Three things matter on a 2-core machine:
# * page faults: fresh megabyte-sized intermediates cost about a third of an evaluation,
#   so they live in per-thread work arrays reused from call to call (``_scratch``);
# * the exponentials (one per activation, (h + v) m of them) take as long as all the
#   matrix products together: NumPy has no vectorized float64 exp without AVX-512;
# * threads: the examples are split in two column blocks computed side by side, with
#   single-threaded BLAS. Left multi-threaded, OpenBLAS's workers spin after each product
#   and take the second core away from everything else, SciPy's own OpenBLAS (L-BFGS-B's
#   products) included: a training then runs several times slower (``single_threaded_blas``).

#: Below this many examples, one thread: starting a second costs more than it saves.
PARALLEL_MIN_EXAMPLES = 2048

_SCRATCH = threading.local()
_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_IN_USE = threading.Lock()
_BLAS_CONTROLS: list | None = None


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


def _worker():
    """The one extra thread of the two-block evaluation (recreated in a forked child)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="sparse-autoencoder"))
    return _POOL[1]


def _openblas_thread_controls() -> list:
    """(get, set) of the thread count of each OpenBLAS loaded in this process.

    NumPy's and SciPy's wheels each bundle one (``scipy_openblas...``); a system OpenBLAS
    exports ``openblas_get/set_num_threads``. Empty where none is found (not Linux, or
    another BLAS): the caller then leaves BLAS alone.
    """
    global _BLAS_CONTROLS
    if _BLAS_CONTROLS is None:
        found = []
        try:
            with open("/proc/self/maps") as maps:
                paths = sorted({line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1]})
        except OSError:
            paths = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for name in (
                "scipy_openblas_{}_num_threads64_",
                "scipy_openblas_{}_num_threads",
                "openblas_{}_num_threads",
            ):
                get, set_ = getattr(lib, name.format("get"), None), getattr(lib, name.format("set"), None)
                if get is not None and set_ is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    set_.restype, set_.argtypes = None, [ctypes.c_int]
                    found.append((get, set_))
                    break
        _BLAS_CONTROLS = found
    return _BLAS_CONTROLS


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with every OpenBLAS of the process on one thread, then restore the counts.

    Yields whether any OpenBLAS was found (and so is now single-threaded). Process-wide:
    other threads' products meanwhile run single-threaded too (and stay correct).
    """
    controls = _openblas_thread_controls()
    before = [get() for get, _ in controls]
    for _, set_ in controls:
        set_(1)
    try:
        yield bool(controls)
    finally:
        for (_, set_), n in zip(controls, before):
            set_(n)


def _sigmoid_of_negated(a):
    """a := f(-a) = 1 / (1 + exp(a)), in place; a holds -z on entry.

    Exact and silent for every float: exp overflows to inf only where f(z) rounds to 0
    anyway (z < -709), and 1 / (1 + inf) is that 0. One exp per entry and no temporaries
    (``expit`` is slower here, and sigmoid(z) = (1 + tanh(z/2)) / 2 slower still).
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


@contextlib.contextmanager
def _two_threads(m):
    """Whether an evaluation on m examples runs as two column blocks side by side.

    Yes when there are PARALLEL_MIN_EXAMPLES examples or more, two cores, an OpenBLAS made
    single-threaded for the duration, and the extra thread is not busy with another call
    (its work arrays hold one evaluation's blocks at a time).
    """
    if m < PARALLEL_MIN_EXAMPLES or _cores() < 2 or not _POOL_IN_USE.acquire(blocking=False):
        yield False
        return
    try:
        with single_threaded_blas() as controlled:
            yield controlled
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


def sparse_autoencoder_cost(theta, visible_size, hidden_size, lambda_, rho, beta, data):
    """J_sparse(W, b) of notes §3 and its gradient, for a sigmoid autoencoder.

    theta: (2 h v + h + v,) = [W1.ravel(), W2.ravel(), b1, b2], with
      W1: (h, v), W2: (v, h), b1: (h,), b2: (v,), h = hidden_size, v = visible_size.
    data: (v, m), one example per column (the targets are the inputs).

        J_sparse = (1/m) sum_i (1/2) ||a3^(i) - x^(i)||^2 + (lambda/2)(||W1||^2 + ||W2||^2)
                   + beta sum_j KL(rho || rho_hat_j),   rho_hat = mean_i a2^(i)
        delta3 = -(x - a3) * a3 (1 - a3)
        delta2 = (W2^T delta3 + beta (-rho / rho_hat + (1 - rho) / (1 - rho_hat))) * a2 (1 - a2)

    Returns (cost, grad): cost a Python float, grad (2 h v + h + v,) unrolled like theta.

    From PARALLEL_MIN_EXAMPLES examples on, two threads each take half of the examples
    (with single-threaded BLAS); the sums over examples are then added, so the result
    differs from the one-thread result only by rounding.
    """
    W1, W2, b1, b2 = _unpack_autoencoder(theta, visible_size, hidden_size)
    data = np.ascontiguousarray(data, dtype=np.float64)  # no copy for C-ordered float64 data
    h, v = W1.shape
    m = data.shape[1]
    minus_W1 = -W1
    minus_W2_b2 = np.concatenate([-W2, -b2[:, None]], axis=1)

    with _two_threads(m) as two:
        blocks = [data[:, : m // 2], data[:, m // 2 :]] if two else [data]
        forward = _each_block(_forward_block, [(minus_W1, minus_W2_b2, b1, X) for X in blocks])
        rho_hat = _total(f[3] for f in forward) / m
        sparsity = beta * (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat))
        backward = _each_block(_backward_block, [(W2, f[0], f[1], X, sparsity) for f, X in zip(forward, blocks)])

    J = (
        0.5 * _total(f[2] for f in forward) / m
        + 0.5 * lambda_ * (float(np.vdot(W1, W1)) + float(np.vdot(W2, W2)))
        + beta * float(np.sum(kl_divergence(rho, rho_hat)))
    )
    delta_W1, delta_b1, delta_W2_b2 = (_total(b[i] for b in backward) for i in range(3))
    grad = np.empty(2 * h * v + h + v)
    grad[: h * v] = (delta_W1 / m + lambda_ * W1).ravel()
    grad[h * v : 2 * h * v] = (delta_W2_b2[:, :h] / m + lambda_ * W2).ravel()
    grad[2 * h * v : 2 * h * v + h] = delta_b1 / m
    grad[2 * h * v + h :] = delta_W2_b2[:, h] / m
    return J, grad


def minimize_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, beta=3.0, max_iter=400, rng=None):
    """``train_sparse_autoencoder`` returning scipy's whole ``OptimizeResult``.

    Beyond theta (``result.x``) it holds the final cost (``result.fun``), the
    iteration count (``result.nit``) and the optimizer's message. Not graded.
    """
    import scipy.optimize  # imported here, not with the module: 0.2 s off every first hidden test cell

    data = np.ascontiguousarray(data, dtype=np.float64)  # once, not in each of the ~400 evaluations
    visible_size = data.shape[0]
    theta0 = initialize_sparse_autoencoder(hidden_size, visible_size, rng)
    with single_threaded_blas():  # L-BFGS-B's own products are tiny; their spinning threads are not
        return scipy.optimize.minimize(
            sparse_autoencoder_cost,
            theta0,
            args=(visible_size, hidden_size, lambda_, rho, beta, data),
            method="L-BFGS-B",
            jac=True,
            options={"maxiter": max_iter, "maxfun": 4 * max_iter + 100},
        )


def train_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, beta=3.0, max_iter=400, rng=None):
    """Train a sparse autoencoder on data: (v, m) with L-BFGS (notes §2.3, §3).

    Starts from ``initialize_sparse_autoencoder(hidden_size, v, rng)`` and runs
    ``scipy.optimize.minimize(sparse_autoencoder_cost, ..., method="L-BFGS-B",
    jac=True)`` for at most max_iter iterations.
    Returns the learned theta: (2 h v + h + v,).
    """
    return minimize_sparse_autoencoder(data, hidden_size, lambda_, rho, beta, max_iter, rng).x


# --------------------------------------------------------------------------
# 6. Visualization (notes §4)
# --------------------------------------------------------------------------


def max_activation_inputs(W1):
    """Inputs of norm 1 that maximally activate each hidden unit, notes §4.

    W1: (h, v). Returns X: (h, v) with row i = W1[i] / ||W1[i]||, the x with
    ||x||^2 <= 1 maximizing a_i = f(W1[i] x + b1[i]). A zero row gives zeros.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    norms = np.linalg.norm(W1, axis=1, keepdims=True)
    return np.divide(W1, norms, out=np.zeros_like(W1), where=norms > 0)


def display_network(A, cols=None):
    """Tile square patches into one image, as the original display_network.m.

    A: (sz*sz, M), one patch per column. cols: grid columns (default ceil(sqrt(M))).
    The mean of all of A is removed; each patch is reshaped row-major to
    (sz, sz) and divided by its own largest absolute value; patches fill a
    grid of ceil(M / cols) rows, row by row, with a border of -1 (one pixel
    around and between patches; unused grid cells are -1 as well).

    Returns image: (1 + rows (sz + 1), 1 + cols (sz + 1)), values in [-1, 1].
    """
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D (sz*sz, M), got shape {A.shape}")
    n, M = A.shape
    sz = math.isqrt(n)
    if sz * sz != n or M == 0:
        raise ValueError(f"A must hold M >= 1 square patches as columns, got shape {A.shape}")
    cols = math.ceil(math.sqrt(M)) if cols is None else int(cols)
    if cols < 1:
        raise ValueError(f"cols must be positive, got {cols}")
    rows = math.ceil(M / cols)
    A = A - A.mean()
    patches = A.T.reshape(M, sz, sz)
    peak = np.abs(patches).max(axis=(1, 2), keepdims=True)
    patches = np.divide(patches, peak, out=np.zeros_like(patches), where=peak > 0)
    # Each tile is a patch plus its right and bottom border; then the top/left edge.
    tiles = -np.ones((rows * cols, sz + 1, sz + 1))
    tiles[:M, :sz, :sz] = patches
    body = tiles.reshape(rows, cols, sz + 1, sz + 1).transpose(0, 2, 1, 3).reshape(rows * (sz + 1), cols * (sz + 1))
    return np.pad(body, ((1, 0), (1, 0)), constant_values=-1.0)
