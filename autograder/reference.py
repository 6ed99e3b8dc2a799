"""Reference solution: every graded function of the course, as the notes define it.

This module is the instructors' answer key. Hidden tests compare students'
results with it, and the finite-difference checks differentiate *its* costs,
so it must be exact and quiet. It is written to be read beside Andrew Ng's
CS294A notes "Sparse autoencoder" (equation and section numbers are theirs):
vectorized over the examples, each function the way the notes state it.
It never reaches students (nothing in ``source/`` imports it in a cell that
survives into ``release/``).

``autograder/fast.py`` computes the same sparse autoencoder cost faster, for
the reference training of ``features.py`` and for ``bench``; the hidden tests
use this module only. Its length is the course's: every function of the
specification, one section per assignment, in the assignments' order.

Conventions (``CONVENTIONS.md`` at the repository root):

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

import math
from collections.abc import Callable

import numpy as np
import scipy.special

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

    Written as ``scipy.special.expit``, which never evaluates exp of a large
    positive number: exact and silent for every finite z (``sigmoid(-1000) == 0.0``,
    no overflow RuntimeWarning), where 1 / (1 + np.exp(-z)) overflows for z < -709.
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
        delta^(nl) = -(y - a^(nl)) * f'(z^(nl))   (the output layer)
        delta^(l)  = ((W^(l))^T delta^(l+1)) * f'(z^(l))   (the hidden layers)
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
    (the course's (G1)-(G2), the gradient formulas of notes §2.2 that the notes leave unnumbered,
    computed as in the batch algorithm of §2.2).
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
    """One iteration of batch gradient descent, notes §2.2, with the gradient (G1)-(G2).

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
    """Views W1: (h, v), W2: (v, h), b1: (h,), b2: (v,) into theta = [W1.ravel(), W2.ravel(), b1, b2]."""
    h, v = int(hidden_size), int(visible_size)
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    if theta.size != 2 * h * v + h + v:
        raise ValueError(f"theta has {theta.size} entries, a {v}-{h}-{v} autoencoder needs {2 * h * v + h + v}")
    W1 = theta[: h * v].reshape(h, v)
    W2 = theta[h * v : 2 * h * v].reshape(v, h)
    b1 = theta[2 * h * v : 2 * h * v + h]
    b2 = theta[2 * h * v + h :]
    return W1, W2, b1, b2


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
    """
    W1, W2, b1, b2 = _unpack_autoencoder(theta, visible_size, hidden_size)
    X = np.asarray(data, dtype=np.float64)
    m = X.shape[1]

    # Forward pass over all examples, eqs. (6)-(7), then the average activations rho_hat.
    a2 = sigmoid(W1 @ X + b1[:, None])  # (h, m)
    a3 = sigmoid(W2 @ a2 + b2[:, None])  # (v, m): the reconstructions of X
    rho_hat = a2.mean(axis=1)  # (h,)

    squared_error = 0.5 * np.sum((a3 - X) ** 2) / m
    weight_decay = 0.5 * lambda_ * (np.sum(W1**2) + np.sum(W2**2))
    sparsity_penalty = beta * np.sum(kl_divergence(rho, rho_hat))
    J = squared_error + weight_decay + sparsity_penalty

    # Backpropagation (§2.2) with the sparsity term inside delta2 (§3).
    delta3 = -(X - a3) * a3 * (1 - a3)  # (v, m)
    sparsity_delta = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))  # (h,)
    delta2 = (W2.T @ delta3 + sparsity_delta[:, None]) * a2 * (1 - a2)  # (h, m)

    # (G1)-(G2): the average over the examples, plus weight decay on the weights only.
    W1_grad = delta2 @ X.T / m + lambda_ * W1
    W2_grad = delta3 @ a2.T / m + lambda_ * W2
    b1_grad = delta2.sum(axis=1) / m
    b2_grad = delta3.sum(axis=1) / m
    return float(J), flatten_parameters([W1_grad, W2_grad], [b1_grad, b2_grad])


def train_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, beta=3.0, max_iter=400, rng=None):
    """Train a sparse autoencoder on data: (v, m) with L-BFGS (notes §2.3, §3).

    Starts from ``initialize_sparse_autoencoder(hidden_size, v, rng)`` and runs
    ``scipy.optimize.minimize(sparse_autoencoder_cost, ..., method="L-BFGS-B",
    jac=True)`` for at most max_iter iterations.
    Returns the learned theta: (2 h v + h + v,).
    """
    import scipy.optimize  # here, not with the module: only this function needs it

    data = np.asarray(data, dtype=np.float64)
    visible_size = data.shape[0]
    theta0 = initialize_sparse_autoencoder(hidden_size, visible_size, rng)
    result = scipy.optimize.minimize(
        sparse_autoencoder_cost,
        theta0,
        args=(visible_size, hidden_size, lambda_, rho, beta, data),
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": max_iter},
    )
    return result.x


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
