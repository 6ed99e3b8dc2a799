"""Unit tests of the hidden-test checks of assignment 03 (autograder/checks/backprop.py)."""

from __future__ import annotations

import numpy as np
import pytest

from autograder import reference
from autograder.checks import CheckFailure
from autograder.checks import backprop as checks

F = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh}
FP = {"sigmoid": lambda a: a * (1 - a), "tanh": lambda a: 1 - a * a}

BLOCK_CHECKS = [
    checks.check_backprop_dW1,
    checks.check_backprop_dW2,
    checks.check_backprop_db1,
    checks.check_backprop_db2,
]


def make_backprop(
    *,
    decay=1.0,
    bias_decay=0.0,
    mean=True,
    factor=1.0,
    out_fp=True,
    hidden_fp=True,
    sign=1.0,
    transpose=False,
    cost_half=True,
):
    """A per-example (Python loop) backprop with optional bugs; naive exp that may overflow."""

    def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
        f, fp = F[activation], FP[activation]
        m = X.shape[1]
        dW = [np.zeros_like(w) for w in W]
        db = [np.zeros_like(v) for v in b]
        J = 0.0
        for i in range(m):
            a = [X[:, i]]
            for w, v in zip(W, b):
                a.append(f(w @ a[-1] + v))
            J += (0.5 if cost_half else 1.0) * np.sum((a[-1] - Y[:, i]) ** 2)
            delta = sign * factor * -(Y[:, i] - a[-1]) * (fp(a[-1]) if out_fp else 1)
            for l in range(len(W) - 1, -1, -1):
                dW[l] += np.outer(delta, a[l])
                db[l] += delta
                if l:
                    delta = (W[l].T @ delta) * (fp(a[l]) if hidden_fp else 1)
        scale = 1 / m if mean else 1.0
        J = J * scale + 0.5 * lambda_ * sum(np.sum(w**2) for w in W)
        dW = [g * scale + decay * lambda_ * w for g, w in zip(dW, W)]
        dW = [g.T for g in dW] if transpose else dW
        db = [g * scale + bias_decay * lambda_ * v for g, v in zip(db, b)]
        return J, dW, db

    return backprop


def cost_of(backprop):
    return lambda W, b, X, Y, lambda_, activation="sigmoid": backprop(W, b, X, Y, lambda_, activation)[0]


def single_of(backprop):
    def single(W, b, x, y, activation="sigmoid"):
        _, dW, db = backprop(W, b, np.asarray(x)[:, None], np.asarray(y)[:, None], 0.0, activation)
        return dW, db

    return single


def step_of(backprop, sign=-1.0, update_b=True):
    def step(W, b, X, Y, lambda_, alpha, activation="sigmoid"):
        _, dW, db = backprop(W, b, X, Y, lambda_, activation)
        W = [w + sign * alpha * g for w, g in zip(W, dW)]
        b = [v + sign * alpha * g for v, g in zip(b, db)] if update_b else list(b)
        return W, b

    return step


def test_reference_passes_every_check():
    checks.check_cost(reference.cost)
    checks.check_backprop_single_dW(reference.backprop_single_example)
    checks.check_backprop_single_db(reference.backprop_single_example)
    checks.check_backprop_cost(reference.backprop)
    for check in BLOCK_CHECKS:
        check(reference.backprop)
    checks.check_gradient_descent_W(reference.gradient_descent_step)
    checks.check_gradient_descent_b(reference.gradient_descent_step)


def test_naive_loop_implementation_passes_quietly_on_little_work(capfd):
    """A naive implementation passes, silently, and the checks call it a few times on a few examples
    (how fast that is, is measured by ``python -m autograder bench``, not here)."""
    naive = make_backprop()
    naive([np.full((1, 1), 1000.0)], [np.zeros(1)], -np.ones((1, 1)), np.zeros((1, 1)), 0.0)  # warns
    capfd.readouterr()
    examples = []

    def bp(W, b, X, Y, lambda_, activation="sigmoid"):
        examples.append(X.shape[1])
        return naive(W, b, X, Y, lambda_, activation)

    for check in BLOCK_CHECKS + [checks.check_backprop_cost]:
        check(bp)
    assert len(examples) <= 40 and sum(examples) <= 200, (len(examples), sum(examples))  # measured: 30, 100
    checks.check_cost(cost_of(bp))
    checks.check_backprop_single_dW(single_of(bp))
    checks.check_backprop_single_db(single_of(bp))
    checks.check_gradient_descent_W(step_of(bp))
    checks.check_gradient_descent_b(step_of(bp))
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    "bugs, check, words",
    [
        ({"decay": 0.0}, checks.check_backprop_dW1, "weight decay term lambda_ * W[0] is missing from dW[0]"),
        ({"decay": 0.5}, checks.check_backprop_dW2, "(lambda_/2) W[1]"),
        ({"bias_decay": 1.0}, checks.check_backprop_db1, "weight decay is applied to the biases"),
        ({"mean": False, "decay": 1.0}, checks.check_backprop_db2, "the 1/m is missing"),
        ({"factor": 2.0}, checks.check_backprop_dW1, "factor of 2"),
        ({"out_fp": False}, checks.check_backprop_dW2, "delta^(nl) is not multiplied by f'(z^(nl))"),
        ({"hidden_fp": False}, checks.check_backprop_dW1, "delta^(l) is not multiplied by f'(z^(l))"),
        ({"hidden_fp": False}, checks.check_backprop_db1, "delta^(l) is not multiplied by f'(z^(l))"),
        ({"sign": -1.0}, checks.check_backprop_db2, "sign is flipped"),
        ({"transpose": True}, checks.check_backprop_dW1, "transposed"),
        ({"cost_half": False}, checks.check_backprop_cost, "lacks its 1/2"),
        ({"mean": False}, checks.check_backprop_cost, "the 1/m is missing"),
    ],
)
def test_backprop_bugs_are_named(bugs, check, words):
    with pytest.raises(CheckFailure) as info:
        check(make_backprop(**bugs))
    assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("bugs", [{"decay": 0.0}, {"bias_decay": 1.0}, {"out_fp": False}])
def test_bug_costs_only_its_blocks(bugs):
    """Partial credit: a weight decay bug leaves the other kind of block correct, f' at the output breaks all."""
    results = {}
    for check in BLOCK_CHECKS:
        try:
            check(make_backprop(**bugs))
            results[check.__name__] = True
        except CheckFailure:
            results[check.__name__] = False
    if "decay" in bugs:
        assert results == {
            "check_backprop_dW1": False,
            "check_backprop_dW2": False,
            "check_backprop_db1": True,
            "check_backprop_db2": True,
        }
    elif "bias_decay" in bugs:
        assert results == {
            "check_backprop_dW1": True,
            "check_backprop_dW2": True,
            "check_backprop_db1": False,
            "check_backprop_db2": False,
        }
    else:
        assert not any(results.values())


def test_cost_bugs_are_named():
    def no_decay(W, b, X, Y, lambda_, activation="sigmoid"):
        return reference.cost(W, b, X, Y, 0.0, activation)

    def biases_decayed(W, b, X, Y, lambda_, activation="sigmoid"):
        return reference.cost(W, b, X, Y, lambda_, activation) + 0.5 * lambda_ * sum(np.sum(v**2) for v in b)

    def decay_without_half(W, b, X, Y, lambda_, activation="sigmoid"):
        return reference.cost(W, b, X, Y, lambda_, activation) + 0.5 * lambda_ * sum(np.sum(w**2) for w in W)

    for fn, words in (
        (no_decay, "weight decay term (lambda/2) sum W^2 is missing"),
        (biases_decayed, "applied to the biases"),
        (decay_without_half, "lacks its 1/2"),
    ):
        with pytest.raises(CheckFailure) as info:
            checks.check_cost(fn)
        assert words in str(info.value), str(info.value)


def test_single_example_bugs_are_named():
    with pytest.raises(CheckFailure, match="f'"):
        checks.check_backprop_single_dW(single_of(make_backprop(out_fp=False)))
    with pytest.raises(CheckFailure, match="sign"):
        checks.check_backprop_single_db(single_of(make_backprop(sign=-1.0)))


def test_gradient_descent_bugs_are_named():
    with pytest.raises(CheckFailure, match="uphill"):
        checks.check_gradient_descent_W(step_of(reference.backprop, sign=1.0))
    with pytest.raises(CheckFailure, match="not updated"):
        checks.check_gradient_descent_b(step_of(reference.backprop, update_b=False))
    checks.check_gradient_descent_W(step_of(reference.backprop, update_b=False))


def test_mutating_backprop_fails():
    def mutates(W, b, X, Y, lambda_, activation="sigmoid"):
        J, dW, db = reference.backprop(W, b, X, Y, lambda_, activation)
        W[0] -= 0.1 * dW[0]
        return J, dW, db

    with pytest.raises(CheckFailure, match="modified one of its arguments"):
        checks.check_backprop_dW1(mutates)


def test_a_right_step_on_a_wrong_backprop_costs_backprop_only():
    """One bug, one part: the step is judged against the student's own backprop too (issue 13)."""
    wrong = make_backprop(mean=False, bias_decay=1.0)
    checks.check_gradient_descent_W(step_of(wrong), wrong)
    checks.check_gradient_descent_b(step_of(wrong), wrong)
    with pytest.raises(CheckFailure, match="1/m"):
        checks.check_backprop_dW1(wrong)
    with pytest.raises(CheckFailure):  # without the student's backprop, the step is held to the notes
        checks.check_gradient_descent_W(step_of(wrong))
    with pytest.raises(CheckFailure, match=r"the new W\[0\] is wrong"):  # a wrong step stays wrong, whatever backprop
        checks.check_gradient_descent_W(step_of(wrong, sign=1.0), wrong)


def test_a_step_that_changes_nothing_on_a_backprop_of_zeros_fails():
    def zero_backprop(W, b, X, Y, lambda_, activation="sigmoid"):
        return 0.0, [np.zeros_like(w) for w in W], [np.zeros_like(v) for v in b]

    with pytest.raises(CheckFailure, match="not updated"):
        checks.check_gradient_descent_W(step_of(zero_backprop), zero_backprop)


def test_blocks_are_named_by_list_index_as_in_the_notebook():
    """The hidden diagnosis names blocks as the visible tests and the code do: dW[0] is the notes' W^(1)."""
    for check, bugs, label in (
        (checks.check_backprop_dW1, {"decay": 0.0}, "dW[0] is wrong"),
        (checks.check_backprop_db2, {"bias_decay": 1.0}, "db[1] is wrong"),
    ):
        with pytest.raises(CheckFailure) as info:
            check(make_backprop(**bugs))
        assert str(info.value).startswith(label) and "dJ/d" not in str(info.value), str(info.value)
    with pytest.raises(CheckFailure, match=r"^dW\[0\] is wrong on layer sizes"):
        checks.check_backprop_single_dW(single_of(make_backprop(sign=-1.0)))
