"""Unit tests of the hidden-test checks of assignment 02 (autograder/checks/forward.py)."""

from __future__ import annotations

import numpy as np
import pytest

from autograder import reference
from autograder.checks import CheckFailure, forward

F = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh}

FORWARD_CHECKS = [
    forward.check_forward_structure,
    forward.check_forward_sigmoid,
    forward.check_forward_tanh,
    forward.check_forward_deep,
]
INIT_CHECKS = [forward.check_initialize_shapes, forward.check_initialize_distribution, forward.check_initialize_seeding]


@pytest.mark.parametrize("check", INIT_CHECKS)
def test_reference_initialize_passes(check):
    check(reference.initialize_parameters)


@pytest.mark.parametrize("check", FORWARD_CHECKS)
def test_reference_forward_passes(check):
    check(reference.forward_pass)


def naive_forward(W, b, X, activation="sigmoid"):
    """Correct but naive: a loop over examples, exp that overflows, lists of lists."""
    a = [np.array(X, dtype=float)]
    for w, v in zip(W, b):
        cols = []
        prev = np.array(a[-1])
        for i in range(prev.shape[1]):
            z = np.array(w) @ prev[:, i] + np.array(v)
            cols.append(F[activation](z))
        a.append(np.array(cols).T.tolist())
    return a


@pytest.mark.parametrize("check", FORWARD_CHECKS)
def test_naive_forward_passes_quietly(check, capfd):
    check(naive_forward)
    W = [np.full((2, 2), 1000.0)]
    naive_forward(W, [np.zeros(2)], -np.ones((2, 1)))  # overflows outside the check: warns
    capfd.readouterr()
    check(naive_forward)
    assert capfd.readouterr().err == ""


def legacy_init(layer_sizes, epsilon=0.01, rng=None):
    """Correct, other style: a Generator only when needed, a loop, tuples."""
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    W, b = [], []
    for l in range(len(layer_sizes) - 1):
        W.append(epsilon * gen.standard_normal((layer_sizes[l + 1], layer_sizes[l])))
        b.append(epsilon * gen.standard_normal(layer_sizes[l + 1]))
    return tuple(W), tuple(b)


@pytest.mark.parametrize("check", INIT_CHECKS)
def test_other_style_initialize_passes(check):
    check(legacy_init)


def _forward_bug(kind):
    def buggy(W, b, X, activation="sigmoid"):
        f = F[activation]
        a = [np.asarray(X, dtype=float)]
        for l, (w, v) in enumerate(zip(W, b)):
            w = w.T if kind == "transpose" else w
            z = w @ a[-1] + (0 if kind == "no_bias" else v[:, None])
            a.append(z if kind == "linear_output" and l == len(W) - 1 else f(z))
        if kind == "no_a1":
            return a[1:]
        return a

    return buggy


@pytest.mark.parametrize(
    "kind, check, words",
    [
        ("linear_output", forward.check_forward_sigmoid, "output layer has no activation"),
        ("linear_output", forward.check_forward_deep, "output layer has no activation"),
        ("transpose", forward.check_forward_sigmoid, "W.T is used"),
        ("transpose", forward.check_forward_deep, "W.T is used"),
        ("no_bias", forward.check_forward_tanh, "bias b^(l) is missing"),
        ("no_a1", forward.check_forward_structure, "a1 = X belongs at the front"),
    ],
)
def test_forward_bugs_are_named(kind, check, words):
    with pytest.raises(CheckFailure, match=None) as info:
        check(_forward_bug(kind))
    assert words in str(info.value)


def test_activation_ignored_is_named():
    def ignores(W, b, X, activation="sigmoid"):
        return reference.forward_pass(W, b, X)

    with pytest.raises(CheckFailure, match="activation argument is ignored"):
        forward.check_forward_tanh(ignores)


def test_bias_on_wrong_axis_is_named():
    def rows(W, b, X, activation="sigmoid"):
        a = [np.asarray(X, dtype=float)]
        for w, v in zip(W, b):
            a.append(F[activation](w @ a[-1] + v))
        return a

    with pytest.raises(CheckFailure, match="wrong axis"):
        forward.check_forward_sigmoid(rows)


def test_mutating_forward_fails():
    def mutates(W, b, X, activation="sigmoid"):
        X += 0.0
        W[0] *= 1.0
        W[0][0, 0] += 1e-3
        return reference.forward_pass(W, b, X, activation)

    with pytest.raises(CheckFailure, match="modified one of its arguments"):
        forward.check_forward_sigmoid(mutates)


@pytest.mark.parametrize(
    "init, check, words",
    [
        (
            lambda s, epsilon=0.01, rng=None: reference.initialize_parameters(s, epsilon**2, rng),
            INIT_CHECKS[1],
            "epsilon^2 was used",
        ),
        (
            lambda s, epsilon=0.01, rng=None: reference.initialize_parameters(s, epsilon, None),
            INIT_CHECKS[2],
            "rng=42 gave different",
        ),
        (
            lambda s, epsilon=0.01, rng=None: reference.initialize_parameters(s, epsilon, 0),
            INIT_CHECKS[2],
            "seed is ignored",
        ),
        (
            lambda s, epsilon=0.01, rng=None: reference.initialize_parameters(s[::-1], epsilon, rng)[::-1],
            INIT_CHECKS[0],
            "shape",
        ),
    ],
)
def test_initialize_bugs(init, check, words):
    with pytest.raises(CheckFailure) as info:
        check(init)
    assert words in str(info.value)


def test_uniform_and_zero_init_fail():
    def uniform(layer_sizes, epsilon=0.01, rng=None):
        g = np.random.default_rng(rng)
        return (
            [g.uniform(-epsilon, epsilon, (t, s)) for s, t in zip(layer_sizes, layer_sizes[1:])],
            [g.uniform(-epsilon, epsilon, t) for t in layer_sizes[1:]],
        )

    with pytest.raises(CheckFailure, match="uniform"):
        forward.check_initialize_distribution(uniform)

    def zeros(layer_sizes, epsilon=0.01, rng=None):
        return reference.initialize_parameters(layer_sizes, 0.0, rng)

    with pytest.raises(CheckFailure):
        forward.check_initialize_distribution(zeros)


def test_reseeding_every_array_fails():
    def reseeds(layer_sizes, epsilon=0.01, rng=None):
        W = [np.random.default_rng(rng).normal(0, epsilon, (t, s)) for s, t in zip(layer_sizes, layer_sizes[1:])]
        b = [np.random.default_rng(rng).normal(0, epsilon, t) for t in layer_sizes[1:]]
        return W, b

    with pytest.raises(CheckFailure, match="re-seeded"):
        forward.check_initialize_seeding(reseeds)
