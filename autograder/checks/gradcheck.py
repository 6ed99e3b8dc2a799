"""Hidden-test checks of assignment 04 (gradient checking, notes §2.3).

``numerical_gradient`` is compared with *exact* gradients of smooth test functions, at the relative
tolerance ``GRADIENT_TOL``: central differences with epsilon = 1e-4 meet it by a factor of about 200,
forward differences miss it by a factor of about 200. Measured with this module's functions and
instances (largest |error| over largest |gradient|):

    central differences  (J(t + e) - J(t - e)) / 2e :  5e-11 .. 5e-10
    forward differences  (J(t + e) - J(t)) / e      :  2e-5  .. 4e-4
    tiny network costs (3-4-2 tanh, 2-3-3-1 sigmoid)    :  central 1e-9 .. 8e-9, forward 5e-5 .. 8e-5

One module per assignment, as the hidden tests import them: its length is one check per graded
part, each with the bugs it can name.
"""

from __future__ import annotations

import numpy as np

from . import CheckFailure, as_floats, call, compare, quiet, reference, run

#: Relative tolerance for numerical_gradient against an exact gradient (see the module docstring).
GRADIENT_TOL = 1e-7


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _cost_of_theta(J):
    """J wrapped so that students may pass it lists or arrays; always returns a Python float."""

    def wrapped(theta):
        return float(J(np.array(theta, dtype=np.float64).reshape(-1)))

    return wrapped


def _forward_differences(J, theta, epsilon):
    theta = np.array(theta, dtype=np.float64)
    j0 = J(theta.copy())
    out = np.empty_like(theta)
    for i in range(theta.size):
        t = theta.copy()
        t[i] += epsilon
        out[i] = (J(t) - j0) / epsilon
    return out


def _difference_bugs(J, theta, epsilon):
    """Values that the usual wrong finite differences give at theta."""
    central = reference.numerical_gradient(J, theta, epsilon)
    backward = 2.0 * central - _forward_differences(J, theta, epsilon)
    return {
        "forward differences are used instead of central: (J(theta + eps e_i) - J(theta)) / eps": _forward_differences(
            J, theta, epsilon
        ),
        "backward differences are used instead of central: (J(theta) - J(theta - eps e_i)) / eps": backward,
        "the central difference is divided by epsilon instead of 2 epsilon": 2.0 * central,
        "the central difference is divided by epsilon^2 instead of 2 epsilon": central * 2.0 / epsilon,
        "the sign is flipped: (J(theta - eps e_i) - J(theta + eps e_i)) / (2 eps)": -central,
    }


def _smooth_functions():
    """(description, J, exact gradient, theta): smooth test functions with known gradients."""
    rng = np.random.default_rng(401)
    A = rng.normal(size=(7, 7))
    A = A + A.T
    yield (
        "J(theta) = sum(sin(theta)) + theta^T A theta / 2, 7 entries",
        lambda t: float(np.sum(np.sin(t)) + 0.5 * t @ A @ t),
        lambda t: np.cos(t) + A @ t,
        rng.normal(size=7),
    )
    yield (
        "J(theta) = log(sum(exp(theta))) + (sum(theta))^2, 5 entries",
        lambda t: float(np.log(np.sum(np.exp(t))) + np.sum(t) ** 2),
        lambda t: np.exp(t) / np.sum(np.exp(t)) + 2.0 * np.sum(t),
        rng.normal(size=5),
    )
    yield (
        "J(theta) = exp(theta_0) (a single entry)",
        lambda t: float(np.exp(t[0])),
        lambda t: np.exp(t),
        np.array([0.3]),
    )


def _networks():
    """(description, layer_sizes, activation, lambda_, m) of the tiny networks used below."""
    yield "a 3-4-2 tanh network, m = 3, lambda = 0.1", [3, 4, 2], "tanh", 0.1, 3
    yield "a 2-3-3-1 sigmoid network, m = 1, lambda = 0.01", [2, 3, 3, 1], "sigmoid", 0.01, 1


def _network_problem(layer_sizes, activation, lambda_, m, seed):
    rng = np.random.default_rng(seed)
    W, b = reference.initialize_parameters(layer_sizes, epsilon=0.5, rng=rng)
    X = rng.normal(size=(layer_sizes[0], m))
    Y = rng.uniform(0.1, 0.9, size=(layer_sizes[-1], m))
    if activation == "tanh":
        Y = 2 * Y - 1

    def J(theta):
        W_, b_ = reference.unflatten_parameters(theta, layer_sizes)
        return reference.cost(W_, b_, X, Y, lambda_, activation)

    _, dW, db = reference.backprop(W, b, X, Y, lambda_, activation)
    return J, reference.flatten_parameters(W, b), reference.flatten_parameters(dW, db)


def _random_network(layer_sizes, rng, as_tuple=False):
    W, b = reference.initialize_parameters(layer_sizes, epsilon=1.0, rng=rng)
    return (tuple(W), tuple(b)) if as_tuple else (W, b)


# --------------------------------------------------------------------------
# Part A — numerical_gradient
# --------------------------------------------------------------------------


def check_numerical_gradient_accuracy(numerical_gradient):
    """Central differences (epsilon = 1e-4) match exact gradients of smooth functions to GRADIENT_TOL."""
    for what, J, exact, theta in _smooth_functions():
        got = run(numerical_gradient, "numerical_gradient", J, theta.copy())
        compare(
            "numerical_gradient(J, theta)",
            got,
            exact(theta),
            tol=GRADIENT_TOL,
            bugs=_difference_bugs(J, theta, 1e-4),
            what=what,
        )


def check_numerical_gradient_network(numerical_gradient):
    """numerical_gradient of a tiny network's cost matches backpropagation's exact gradient."""
    for k, (what, sizes, activation, lambda_, m) in enumerate(_networks()):
        J, theta, exact = _network_problem(sizes, activation, lambda_, m, seed=[402, k])
        got = run(numerical_gradient, "numerical_gradient", _cost_of_theta(J), theta.copy())
        compare(
            "numerical_gradient(J, theta)",
            got,
            exact,
            tol=GRADIENT_TOL,
            bugs=_difference_bugs(J, theta, 1e-4),
            what=what,
        )


def check_numerical_gradient_epsilon(numerical_gradient):
    """The epsilon argument is used: for J = sum(theta^3 + theta), central differences give 3 theta^2 + 1 + eps^2."""
    theta = np.array([0.5, -1.25, 2.0, 0.0])

    def J(t):
        return float(np.sum(t**3 + t))

    for epsilon, by_keyword in [(0.1, True), (0.05, False), (1e-3, True)]:
        how = f"epsilon={epsilon}" if by_keyword else f"epsilon = {epsilon} passed positionally"
        args = (J, theta.copy()) if by_keyword else (J, theta.copy(), epsilon)
        kwargs = {"epsilon": epsilon} if by_keyword else {}
        got = run(numerical_gradient, "numerical_gradient", *args, **kwargs)
        expected = 3 * theta**2 + 1 + epsilon**2  # exact for a cubic: the O(eps^2) error term is eps^2
        bugs = _difference_bugs(J, theta, epsilon)
        step = _fixed_step(got, theta)
        if step is not None and not np.isclose(step, epsilon, rtol=1e-3):
            bugs[f"the epsilon argument is ignored (a fixed step of {step:.1g} is used)"] = 3 * theta**2 + 1 + step**2
        bugs["the epsilon argument is ignored (a fixed step of 1e-5 or smaller is used)"] = 3 * theta**2 + 1
        compare(
            "numerical_gradient(J, theta, epsilon)",
            got,
            expected,
            tol=1e-8,
            bugs=bugs,
            what=f"J(theta) = sum(theta^3 + theta) at theta = {theta.tolist()}, {how}",
        )


def _fixed_step(got, theta) -> float | None:
    """The step h of central differences that gave got for J = sum(theta^3 + theta) (they give 3 theta^2 + 1 + h^2
    exactly), or None if got is no such result."""
    try:
        with quiet():
            offset = np.asarray(got, dtype=float) - (3 * theta**2 + 1)
    except (TypeError, ValueError, OverflowError):
        return None
    if offset.shape != theta.shape or not np.all(np.isfinite(offset)) or offset.min() <= 0:
        return None
    if np.ptp(offset) > 0.5 * offset.mean():  # rounding: central differences lose about 1e-16 / h
        return None
    return float(np.sqrt(offset.mean()))


def check_numerical_gradient_theta_unchanged(numerical_gradient):
    """theta is left exactly as it was (entries that theta[i] += eps; theta[i] -= eps does not restore)."""
    theta = np.array([0.1, 1.0 / 3.0, -2.7, 1e-5, 123.456])
    saved = theta.copy()

    def J(t):
        return float(np.sum(np.cos(t)))

    mine = theta.copy()
    run(numerical_gradient, "numerical_gradient", J, mine)
    if not np.array_equal(mine, saved):
        i = int(np.argmax(mine != saved))
        raise CheckFailure(
            f"numerical_gradient changed theta: theta[{i}] was {float(saved[i])!r}, afterwards {float(mine[i])!r}.\n"
            "  Perturb a copy (theta.copy()), or save theta[i] and put it back exactly: "
            "(theta + eps) - eps is not always theta in floating point."
        )
    call(numerical_gradient, "numerical_gradient", J, saved)  # also no other argument modified


# --------------------------------------------------------------------------
# Part B — relative_difference
# --------------------------------------------------------------------------


def _relative_bugs(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = np.linalg.norm(a - b)
    return {
        "the denominator has no norm: ||a - b|| / (a + b)": diff / (a + b),
        "only ||a - b|| is returned (no division by ||a + b||)": diff,
        "the denominator is ||a|| + ||b|| instead of ||a + b||": diff / (np.linalg.norm(a) + np.linalg.norm(b)),
        "the denominator is ||a|| instead of ||a + b||": diff / np.linalg.norm(a),
        "the norms are squared: ||a - b||^2 / ||a + b||^2": (diff / np.linalg.norm(a + b)) ** 2,
    }


def _check_relative(relative_difference, a, b, what, extra_bugs=None):
    expected = reference.relative_difference(a, b)
    bugs = _relative_bugs(a, b)
    bugs.update(extra_bugs or {})
    got = as_floats(call(relative_difference, "relative_difference", a, b), "relative_difference(a, b)")
    if got.size != 1:
        for bug, value in bugs.items():
            value = np.asarray(value)
            if value.shape == got.shape and np.allclose(got, value, rtol=1e-9, atol=0):
                raise CheckFailure(
                    f"relative_difference(a, b) on {what} should be one number, got an array of "
                    f"shape {got.shape}: this is what happens when {bug}"
                )
        raise CheckFailure(
            f"relative_difference(a, b) on {what} should be one number, got an array of shape {got.shape}"
        )
    compare("relative_difference(a, b)", got.reshape(()), expected, tol=1e-10, bugs=bugs, what=what)


def check_relative_difference_values(relative_difference):
    """relative_difference(a, b) = ||a - b|| / ||a + b|| for vectors; 0 for equal vectors."""
    rng = np.random.default_rng(403)
    for n in (6, 1, 10):
        a = rng.normal(3.0, 2.0, size=n)
        b = a + rng.normal(0.0, 0.5, size=n)
        _check_relative(relative_difference, a, b, f"two vectors of {n} entries")
    a = rng.normal(size=4)
    _check_relative(relative_difference, a, a.copy(), "two equal vectors (the answer is 0)")
    a = rng.normal(size=5)
    _check_relative(relative_difference, a, 1e-6 * a + a, "two nearly equal vectors")


def check_relative_difference_matrices(relative_difference):
    """relative_difference of two matrices uses the norm over all entries (Frobenius), not a matrix norm."""
    rng = np.random.default_rng(404)
    for shape in [(3, 4), (5, 2)]:
        a = rng.normal(1.0, 2.0, size=shape)
        b = a + rng.normal(0.0, 1.0, size=shape)
        spectral = np.linalg.norm(a - b, 2) / np.linalg.norm(a + b, 2)
        _check_relative(
            relative_difference,
            a,
            b,
            f"two {shape[0]}x{shape[1]} matrices",
            {"the spectral norm (ord=2) is used instead of the norm over all entries": spectral},
        )


# --------------------------------------------------------------------------
# Parts C and D — flatten_parameters, unflatten_parameters
# --------------------------------------------------------------------------

#: Layer sizes of the check networks: non-square layers, one layer, three and four layers.
LAYER_SIZES = ([3, 4, 2], [5, 2], [2, 3, 3, 1], [4, 3, 5, 2, 3])


def _flatten_bugs(W, b):
    W = [np.asarray(w, dtype=np.float64) for w in W]
    b = [np.asarray(v, dtype=np.float64) for v in b]
    interleaved = [p for w, v in zip(W, b) for p in (w.ravel(), v)]
    return {
        "the weights are flattened column-major (order='F', or W.T.ravel()) instead of row-major": np.concatenate(
            [w.ravel(order="F") for w in W] + b
        ),
        "the order is W[0], b[0], W[1], b[1], ... instead of all weights, then all biases": np.concatenate(interleaved),
        "the biases come before the weights": np.concatenate(b + [w.ravel() for w in W]),
        "the layers are in reverse order": np.concatenate([w.ravel() for w in W[::-1]] + b[::-1]),
    }


def check_flatten_parameters(flatten_parameters):
    """theta = [W[0].ravel(), W[1].ravel(), ..., b[0], b[1], ...] for several networks, lists or tuples."""
    rng = np.random.default_rng(405)
    for k, sizes in enumerate(LAYER_SIZES):
        W, b = _random_network(sizes, rng, as_tuple=k % 2 == 1)
        kind = "tuples" if k % 2 == 1 else "lists"
        got = call(flatten_parameters, "flatten_parameters", W, b)
        compare(
            "flatten_parameters(W, b)",
            got,
            reference.flatten_parameters(W, b),
            tol=1e-12,
            bugs=_flatten_bugs(W, b),
            what=f"layer sizes {sizes} (W and b given as {kind})",
        )


def _unflatten(unflatten_parameters, theta, sizes):
    """The student's (W, b), checked to be two sequences of nl - 1 arrays of the right shapes."""
    out = call(unflatten_parameters, "unflatten_parameters", theta, sizes)
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        got = type(out).__name__
        raise CheckFailure(f"unflatten_parameters(theta, {sizes}) should return a pair (W, b), got {got}")
    W, b = out
    nl = len(sizes)
    for name, seq in (("W", W), ("b", b)):
        if not isinstance(seq, (list, tuple)) or len(seq) != nl - 1:
            got = type(seq).__name__ + (f" of length {len(seq)}" if hasattr(seq, "__len__") else "")
            raise CheckFailure(
                f"unflatten_parameters(theta, {sizes}): {name} should be a list of {nl - 1} arrays, got {got}"
            )
    W = [as_floats(w, f"W[{l}]", (sizes[l + 1], sizes[l])) for l, w in enumerate(W)]
    b = [as_floats(v, f"b[{l}]", (sizes[l + 1],)) for l, v in enumerate(b)]
    return W, b


def check_unflatten_parameters_shapes(unflatten_parameters):
    """unflatten_parameters returns (W, b) with W[l]: (s_{l+2}, s_{l+1}) and b[l]: (s_{l+2},)."""
    for sizes in LAYER_SIZES:
        n = sum(r * c for r, c in zip(sizes[1:], sizes[:-1])) + sum(sizes[1:])
        _unflatten(unflatten_parameters, np.arange(n, dtype=np.float64), sizes)


INTERLEAVED_READ = "theta is read in the order W[0], b[0], W[1], b[1], ... instead of all weights, then all biases"


def check_unflatten_parameters_values(unflatten_parameters):
    """unflatten_parameters inverts flatten_parameters: the right entries in every W[l] and b[l]."""
    rng = np.random.default_rng(406)
    for sizes in LAYER_SIZES:
        W0, b0 = _random_network(sizes, rng)
        theta = reference.flatten_parameters(W0, b0)
        W, b = _unflatten(unflatten_parameters, theta, sizes)
        # What the usual bugs read out of theta, block by block.
        interleaved, pos = [], 0
        for r, c in zip(sizes[1:], sizes[:-1]):
            interleaved.append((theta[pos : pos + r * c].reshape(r, c), theta[pos + r * c : pos + r * c + r]))
            pos += r * c + r
        for l in range(len(sizes) - 1):
            r, c = sizes[l + 1], sizes[l]
            start = sum(rr * cc for rr, cc in zip(sizes[1 : l + 1], sizes[:l]))
            block = theta[start : start + r * c]
            what = f"layer sizes {sizes}, theta = flatten_parameters(W, b)"
            compare(
                f"W[{l}]",
                W[l],
                W0[l],
                tol=1e-12,
                what=what,
                bugs={
                    "the weights are reshaped column-major (order='F') instead of row-major": block.reshape(
                        r, c, order="F"
                    ),
                    INTERLEAVED_READ: interleaved[l][0],
                },
            )
            compare(
                f"b[{l}]",
                b[l],
                b0[l],
                tol=1e-12,
                what=what,
                bugs={
                    INTERLEAVED_READ: interleaved[l][1],
                },
            )
