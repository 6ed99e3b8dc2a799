"""Diagnosis by attribution (autograder/checks/attribution.py): a wrong result explained as the notes' terms,
and the checks of 03 and 05 naming bugs that no catalogue lists."""

import numpy as np
import pytest

from autograder import reference
from autograder.checks import CheckFailure
from autograder.checks import backprop as B
from autograder.checks import sparse as S
from autograder.checks.attribution import Term, Terms, Variant

rng = np.random.default_rng(0)
E, D, Bb = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
TERMS = Terms(
    [Term("the error term", E), Term("the decay term", D), Term("decay of b", Bb, 0.0, "decay is applied to b")],
    m=5,
    variants=[Variant({"the error term": E * 1.3 + 0.1}, "f' is taken at a")],
    others={"the blocks are swapped": rng.normal(size=(3, 4))},
)


@pytest.mark.parametrize(
    "got, words",
    [
        (E, "the decay term is missing"),
        (2 * E + D, "the error term is twice what it should be"),
        (E + 0.5 * D, "the decay term is half what it should be"),
        (5 * E + D, "the error term is not divided by m = 5 (the 1/m is missing)"),
        (E + D / 5, "the decay term is divided by m = 5 once too often"),
        (-E - D, "the whole result has the wrong sign"),
        (E + D + Bb, "decay is applied to b"),
        (E * 1.3 + 0.1 + D, "f' is taken at a"),
        (E * 1.3 + 0.1, "f' is taken at a; and the decay term is missing"),
        (5 * E, "the error term is not divided by m = 5 (the 1/m is missing); and the decay term is missing"),
        (TERMS.others["the blocks are swapped"], "the blocks are swapped"),
    ],
)
def test_a_combination_of_terms_is_named(got, words):
    assert (TERMS.explain(got) or "").startswith(words)


@pytest.mark.parametrize("got", [E + D, E + 1.7 * D, E + D + 1e-3, E + 3 * D + Bb / 2, np.full((3, 4), np.nan)])
def test_what_is_right_or_no_simple_combination_is_not_named(got):
    assert TERMS.explain(got) is None


def test_two_explanations_as_simple_as_each_other_are_not_named():
    terms = Terms([Term("x", np.ones(3)), Term("y", np.ones(3))])
    assert terms.explain(np.ones(3)) is None  # x missing or y missing: either


# ------------------------------------------------------------------ 03: a backprop written with one bug


def _backprop(at="z", sigmoid_only=False, reverse=False):
    """A loop-style backprop of §2.2 whose f' is taken at "z" (right), "a", "no_bias" or "sigmoid" (a(1-a) for any
    activation); sigmoid_only ignores the activation argument; reverse returns dW output layer first."""

    def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
        act = "sigmoid" if sigmoid_only else activation
        f = reference.sigmoid if act == "sigmoid" else np.tanh
        a, bare = [X], [None]
        for w, v in zip(W, b):
            bare.append(w @ a[-1])
            a.append(f(bare[-1] + v[:, None]))

        def fp(l):
            s = {"z": a[l], "a": f(a[l]), "no_bias": f(bare[l]), "sigmoid": a[l]}[at]
            return s * (1 - s) if act == "sigmoid" or at == "sigmoid" else 1 - s * s

        m, n = X.shape[1], len(W)
        d = -(Y - a[-1]) * fp(n)
        dW, db = [None] * n, [None] * n
        for l in range(n - 1, -1, -1):
            dW[l], db[l] = d @ a[l].T / m + lambda_ * W[l], d.sum(axis=1) / m
            if l:
                d = (W[l].T @ d) * fp(l)
        J = 0.5 * np.sum((a[-1] - Y) ** 2) / m + lambda_ / 2 * sum(np.sum(w * w) for w in W)
        return J, dW[::-1] if reverse else dW, db

    return backprop


def _said(check, function) -> str:
    with pytest.raises(CheckFailure) as failure:
        check(function)
    return str(failure.value)


@pytest.mark.parametrize(
    "at, words",
    [
        ("a", "f' is evaluated at a instead of z"),
        ("no_bias", "f'(z^(l)) is computed without the bias"),
        ("sigmoid", "the other activation's derivative is used"),
    ],
)
def test_backprop_with_f_prime_taken_elsewhere_is_told_so(at, words):
    for check in (B.check_backprop_dW1, B.check_backprop_dW2, B.check_backprop_db1):
        assert words in _said(check, _backprop(at))
    B.check_backprop_cost(_backprop(at))  # its J is right


def test_an_ignored_activation_costs_backprops_cost_part_only():
    from autograder.checks import LEANED

    sigmoid_only = _backprop(sigmoid_only=True)
    assert "the activation argument is ignored (sigmoid is used" in _said(B.check_backprop_cost, sigmoid_only)
    LEANED.clear()
    for check in (B.check_backprop_dW1, B.check_backprop_dW2, B.check_backprop_db1, B.check_backprop_db2):
        check(sigmoid_only)  # judged on the sigmoid networks
    assert LEANED == {"backprop"}  # the isolated pass takes them back if backprop's cost passed after all


def test_an_ignored_activation_costs_backprop_single_examples_dW_part_only():
    def single(W, b, x, y, activation="sigmoid"):
        return reference.backprop_single_example(W, b, x, y, "sigmoid")

    assert "the activation argument is ignored (sigmoid is used on this tanh network)" in _said(
        B.check_backprop_single_dW, single
    )
    B.check_backprop_single_db(single)


def test_a_gradient_wrong_on_tanh_alone_is_not_excused():
    assert "the other activation's derivative" in _said(B.check_backprop_dW2, _backprop("sigmoid"))


def test_blocks_in_reverse_order_are_told_so():
    assert "dW is in reverse order" in _said(B.check_backprop_dW1, _backprop(reverse=True))


# ------------------------------------------------------------------ 05: a sparse autoencoder cost with one bug


def _sae(bug):
    def cost(theta, v, h, lam, rho, beta, data):
        W1, W2, b1, b2 = (np.array(x) for x in reference._unpack_autoencoder(theta, v, h))
        m = data.shape[1]
        a2 = reference.sigmoid(W1 @ data + b1[:, None])
        a3 = reference.sigmoid(W2 @ a2 + b2[:, None])
        rho_hat = a2.sum(axis=1) if bug == "rho_hat sum" else a2.mean(axis=1)
        with np.errstate(all="ignore"):
            kl = reference.kl_divergence(*((rho_hat, rho) if bug == "kl swapped" else (rho, rho_hat)))
        half = 1.0 if bug == "no half" else 0.5
        J = half * np.sum((a3 - data) ** 2) / m + lam / 2 * (np.sum(W1**2) + np.sum(W2**2)) + beta * np.sum(kl)
        s = reference.sigmoid if bug == "f' at a" else (lambda a: a)
        d3 = (a3 - data) * s(a3) * (1 - s(a3))
        sp = (1.0 if bug == "no beta" else beta) * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
        d2 = (W2.T @ d3 + sp[:, None]) * s(a2) * (1 - s(a2))
        decay2 = 2 if bug == "decay twice" else 1
        grads = [d2 @ data.T / m + lam * W1, d3 @ a2.T / m + decay2 * lam * W2, d2.sum(1) / m, d3.sum(1) / m]
        return J, np.concatenate([g.ravel() for g in grads])

    return cost


@pytest.mark.parametrize(
    "bug, failing, words",
    [
        ("no half", {"cost"}, "the squared-error term (1/m) sum (1/2)||a3 - x||^2 is twice what it should be"),
        ("kl swapped", {"cost"}, "the arguments of KL are swapped"),
        ("rho_hat sum", {"cost", "W1", "b1"}, "rho_hat"),
        ("f' at a", {"W1", "W2", "b1", "b2"}, "f' is evaluated at a instead of z"),
        ("no beta", {"W1", "b1"}, "beta is missing from the sparsity term's derivative"),
        ("decay twice", {"W2"}, "the weight decay term lambda W2 is twice what it should be"),
    ],
)
def test_sparse_autoencoder_bugs_fail_their_parts_and_are_named(bug, failing, words):
    checks = {
        "cost": S.check_sae_cost,
        "W1": S.check_sae_grad_W1,
        "W2": S.check_sae_grad_W2,
        "b1": S.check_sae_grad_b1,
        "b2": S.check_sae_grad_b2,
    }
    for part, check in checks.items():
        if part in failing:
            assert words in _said(check, _sae(bug)), part
        else:
            check(_sae(bug))


def test_a_nan_or_inf_cost_from_a_rho_hat_outside_0_1_says_so():
    said = _said(S.check_sae_cost, _sae("rho_hat sum"))
    assert "contains" in said and "rho_hat in (0, 1)" in said and "overflow" not in said
