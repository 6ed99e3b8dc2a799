"""Assignment 04's checks (gradcheck): right code passes quietly, known bugs fail and are named."""

from __future__ import annotations

import re

import numpy as np
import pytest

from autograder import reference as R
from autograder.checks import CheckFailure, gradcheck

NUMERICAL = [
    gradcheck.check_numerical_gradient_accuracy,
    gradcheck.check_numerical_gradient_network,
    gradcheck.check_numerical_gradient_epsilon,
    gradcheck.check_numerical_gradient_theta_unchanged,
]
RELATIVE = [gradcheck.check_relative_difference_values, gradcheck.check_relative_difference_matrices]
UNFLATTEN = [gradcheck.check_unflatten_parameters_shapes, gradcheck.check_unflatten_parameters_values]


def loop_gradient(J, theta, epsilon=1e-4):
    """Correct, in plain Python, returning a list; J may warn (it is called on extreme values below)."""
    grad = []
    for i in range(len(theta)):
        plus, minus = list(theta), list(theta)
        plus[i] += epsilon
        minus[i] -= epsilon
        grad.append((J(np.array(plus)) - J(np.array(minus))) / (2 * epsilon))
    return grad


def warning_gradient(J, theta, epsilon=1e-4):
    np.exp(1000.0)  # RuntimeWarning: overflow
    return R.numerical_gradient(J, theta, epsilon)


def forward(J, theta, epsilon=1e-4):
    theta = np.array(theta, dtype=float)
    j0 = J(theta)
    return np.array([(J(theta + epsilon * e) - j0) / epsilon for e in np.eye(theta.size)])


def in_place(J, theta, epsilon=1e-4):
    grad = np.zeros(len(theta))
    for i in range(len(theta)):
        theta[i] += epsilon
        j_plus = J(theta)
        theta[i] -= 2 * epsilon
        j_minus = J(theta)
        theta[i] += epsilon
        grad[i] = (j_plus - j_minus) / (2 * epsilon)
    return grad


def loop_relative(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5 / sum((x + y) ** 2 for x, y in zip(a, b)) ** 0.5


def list_flatten(W, b):
    theta = []
    for w in W:
        for row in w:
            theta.extend(row)
    for v in b:
        theta.extend(v)
    return theta


def view_unflatten(theta, sizes):
    W, b, pos = [], [], 0
    for r, c in zip(sizes[1:], sizes[:-1]):
        W.append(theta[pos : pos + r * c].reshape(r, c))  # views are fine
        pos += r * c
    for r in sizes[1:]:
        b.append(theta[pos : pos + r])
        pos += r
    return tuple(W), tuple(b)


def unflatten_with(theta, sizes, order="C", interleaved=False):
    W, b, pos = [], [], 0
    for r, c in zip(sizes[1:], sizes[:-1]):
        W.append(theta[pos : pos + r * c].reshape((r, c), order=order))
        pos += r * c
        if interleaved:
            b.append(theta[pos : pos + r])
            pos += r
    for r in sizes[1:] if not interleaved else []:
        b.append(theta[pos : pos + r])
        pos += r
    return W, b


CORRECT = (
    [(c, R.numerical_gradient) for c in NUMERICAL]
    + [(c, loop_gradient) for c in NUMERICAL]
    + [(c, warning_gradient) for c in NUMERICAL]
    + [(c, R.relative_difference) for c in RELATIVE]
    + [(c, loop_relative) for c in RELATIVE]
    + [(gradcheck.check_flatten_parameters, R.flatten_parameters), (gradcheck.check_flatten_parameters, list_flatten)]
    + [(c, R.unflatten_parameters) for c in UNFLATTEN]
    + [(c, view_unflatten) for c in UNFLATTEN]
)


@pytest.mark.parametrize(("check", "fn"), CORRECT)
def test_correct_code_passes_and_writes_nothing_to_stderr(check, fn, capfd):
    check(fn)  # (its speed is measured by python -m autograder bench, not here)
    assert capfd.readouterr().err == ""


BUGS = [
    (gradcheck.check_numerical_gradient_accuracy, forward, "forward differences are used instead of central"),
    (gradcheck.check_numerical_gradient_network, forward, "forward differences are used instead of central"),
    (gradcheck.check_numerical_gradient_epsilon, forward, "forward differences are used instead of central"),
    (
        gradcheck.check_numerical_gradient_accuracy,
        lambda J, t, epsilon=1e-4: 2 * R.numerical_gradient(J, t, epsilon),
        "divided by epsilon instead of 2 epsilon",
    ),
    (
        gradcheck.check_numerical_gradient_epsilon,
        lambda J, t, epsilon=1e-4: R.numerical_gradient(J, t),
        "the epsilon argument is ignored",
    ),
    (gradcheck.check_numerical_gradient_theta_unchanged, in_place, "changed theta"),
    (
        gradcheck.check_relative_difference_values,
        lambda a, b: np.linalg.norm(a - b) / (a + b),
        "the denominator has no norm",
    ),
    (gradcheck.check_relative_difference_values, lambda a, b: np.linalg.norm(a - b), "only ||a - b|| is returned"),
    (
        gradcheck.check_relative_difference_values,
        lambda a, b: np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)),
        "||a|| + ||b|| instead of ||a + b||",
    ),
    (
        gradcheck.check_relative_difference_matrices,
        lambda a, b: np.linalg.norm(a - b, 2) / np.linalg.norm(a + b, 2),
        "spectral norm",
    ),
    (
        gradcheck.check_flatten_parameters,
        lambda W, b: np.concatenate([np.ravel(w, order="F") for w in W] + list(b)),
        "column-major",
    ),
    (
        gradcheck.check_flatten_parameters,
        lambda W, b: np.concatenate([p for w, v in zip(W, b) for p in (np.ravel(w), v)]),
        "W[0], b[0], W[1], b[1]",
    ),
    (
        gradcheck.check_unflatten_parameters_values,
        lambda t, s: unflatten_with(t, s, order="F"),
        "reshaped column-major",
    ),
    (
        gradcheck.check_unflatten_parameters_values,
        lambda t, s: unflatten_with(t, s, interleaved=True),
        "W[0], b[0], W[1], b[1]",
    ),
    (
        gradcheck.check_unflatten_parameters_shapes,
        lambda t, s: ([w.T for w in R.unflatten_parameters(t, s)[0]], R.unflatten_parameters(t, s)[1]),
        "transposed",
    ),
]


@pytest.mark.parametrize(("check", "fn", "message"), BUGS)
def test_known_bugs_are_named(check, fn, message, capfd):
    with pytest.raises(CheckFailure, match=re.escape(message)):
        check(fn)
    assert capfd.readouterr().err == ""


def test_mutation_and_stubs_fail():
    def mutating_relative(a, b):
        a *= 1.0 + 1e-3
        return R.relative_difference(a, b)

    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="modified one of its arguments"):
        gradcheck.check_relative_difference_values(mutating_relative)
    for check in NUMERICAL + RELATIVE + UNFLATTEN + [gradcheck.check_flatten_parameters]:
        with pytest.raises(CheckFailure, match="not implemented yet"):
            check(stub)


def test_gradient_tolerance_separates_central_from_forward_differences():
    """The measured margins of the module docstring: central well inside GRADIENT_TOL, forward well outside."""
    for _, J, exact, theta in gradcheck._smooth_functions():
        scale = np.max(np.abs(exact(theta)))
        assert np.max(np.abs(R.numerical_gradient(J, theta) - exact(theta))) / scale < gradcheck.GRADIENT_TOL / 10
        if theta.size > 1:
            assert np.max(np.abs(forward(J, theta) - exact(theta))) / scale > gradcheck.GRADIENT_TOL * 10
