"""Unit tests of the hidden-test checks of assignment 05 (sparse autoencoder)."""

import re

import numpy as np
import pytest

from autograder import reference as R
from autograder.checks import CheckFailure, sparse

GRAD_CHECKS = [sparse.check_sae_grad_W1, sparse.check_sae_grad_W2, sparse.check_sae_grad_b1, sparse.check_sae_grad_b2]


def test_reference_passes():
    sparse.check_normalize_patches(R.normalize_patches)
    sparse.check_sample_patches_shape(R.sample_patches)
    sparse.check_sample_patches_windows(R.sample_patches)
    sparse.check_initialize(R.initialize_sparse_autoencoder)
    sparse.check_kl_divergence(R.kl_divergence)
    sparse.check_sae_cost(R.sparse_autoencoder_cost)
    for check in GRAD_CHECKS:
        check(R.sparse_autoencoder_cost)
    sparse.check_train(R.train_sparse_autoencoder)


def _buggy(bug):
    def cost(theta, v, h, lam, rho, beta, data):
        J, g = sparse._variant(theta, v, h, lam, rho, beta, data, bug)
        return J, np.concatenate([g["W1"].ravel(), g["W2"].ravel(), g["b1"], g["b2"]])

    return cost


# bug -> the checks it must fail (cost, W1, W2, b1, b2)
EFFECTS = {
    "no_sparsity": "cost W1 b1",
    "outside": "W1 b1",
    "kl_sign": "W1 b1",
    "no_decay": "cost W1 W2",
    "decay_biases": "cost b1 b2",
    "no_m": "cost W1 W2 b1 b2",
    "axis": "cost W1 b1",
}


@pytest.mark.parametrize("bug", list(EFFECTS))
def test_cost_bugs_fail_exactly_their_parts_and_are_named(bug):
    checks = {"cost": sparse.check_sae_cost, **{c.__name__[-2:]: c for c in GRAD_CHECKS}}
    for part, check in checks.items():
        if part in EFFECTS[bug].split():
            with pytest.raises(CheckFailure, match="this is what happens when " + re.escape(sparse.BUGS[bug][:30])):
                check(_buggy(bug))
        else:
            check(_buggy(bug))


def _loop_cost(theta, visible_size, hidden_size, lambda_, rho, beta, data):
    """A per-example loop implementation with a naive sigmoid (warns on overflow); correct."""
    h, v = hidden_size, visible_size
    W1 = theta[: h * v].reshape(h, v)
    W2 = theta[h * v : 2 * h * v].reshape(v, h)
    b1, b2 = theta[2 * h * v : 2 * h * v + h], theta[2 * h * v + h :]
    m = data.shape[1]

    def f(z):
        return 1 / (1 + np.exp(-z))

    np.exp(1000.0)  # overflow warning: must not reach stderr
    rho_hat = np.zeros(h)
    for i in range(m):
        rho_hat += f(W1 @ data[:, i] + b1) / m
    J = 0.0
    gW1, gW2, gb1, gb2 = np.zeros_like(W1), np.zeros_like(W2), np.zeros(h), np.zeros(v)
    for i in range(m):
        x = data[:, i]
        a2 = f(W1 @ x + b1)
        a3 = f(W2 @ a2 + b2)
        J += 0.5 * np.sum((a3 - x) ** 2) / m
        d3 = -(x - a3) * a3 * (1 - a3)
        d2 = (W2.T @ d3 + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))) * a2 * (1 - a2)
        gW1 += np.outer(d2, x) / m
        gW2 += np.outer(d3, a2) / m
        gb1 += d2 / m
        gb2 += d3 / m
    J += lambda_ / 2 * (np.sum(W1**2) + np.sum(W2**2))
    J += beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    grad = [*(gW1 + lambda_ * W1).ravel(), *(gW2 + lambda_ * W2).ravel(), *gb1, *gb2]
    return J, grad


def test_loop_implementation_passes_quietly_on_little_work(capfd):
    """A per-example loop passes, silently, and the checks ask little of it: a few calls on a few
    examples each (how fast that is, is measured by ``python -m autograder bench``, not here)."""
    calls, examples = [], []

    def counted(theta, v, h, lam, rho, beta, data):
        calls.append(1)
        examples.append(data.shape[1])
        return _loop_cost(theta, v, h, lam, rho, beta, data)

    sparse.check_sae_cost(counted)
    for check in GRAD_CHECKS:
        check(counted)
    assert capfd.readouterr().err == ""
    assert len(calls) <= 20 and sum(examples) <= 100, (len(calls), sum(examples))  # measured: 15 calls, 80 examples


def test_cost_modifying_theta_fails():
    def inplace(theta, *args):
        J, g = R.sparse_autoencoder_cost(theta, *args)
        theta *= 0
        return J, g

    with pytest.raises(CheckFailure, match="modified"):
        sparse.check_sae_cost(inplace)


def _normalize(patches, centre_axis=0, per_patch_sigma=False, clip=True, low=0.1, high=0.9):
    p = np.asarray(patches, dtype=float)
    p = p - p.mean(axis=centre_axis, keepdims=True)
    s = 3 * (p.std(axis=0, keepdims=True) if per_patch_sigma else p.std())
    if clip:
        p = np.clip(p, -s, s)
    return (p / s + 1) / 2 * (high - low) + low


def test_normalize_variants():
    sparse.check_normalize_patches(_normalize)
    for kwargs, words in [
        ({"centre_axis": 1}, "row's mean"),
        ({"centre_axis": None}, "mean of all values"),
        ({"per_patch_sigma": True}, "per patch"),
        ({"clip": False}, "not clipped"),
        ({"low": 0.0, "high": 1.0}, r"\[0, 1\]"),
    ]:
        with pytest.raises(CheckFailure, match=words):
            sparse.check_normalize_patches(lambda p, kw=kwargs: _normalize(p, **kw))


def _sampler(order="C", global_rng=False, one_sigma=True):
    def sample_patches(images, patch_size=8, num_patches=10000, rng=None):
        g = np.random.default_rng() if global_rng else np.random.default_rng(rng)
        k, hgt, wid = images.shape
        cols = []
        for _ in range(num_patches):
            i, r, c = g.integers(k), g.integers(hgt - patch_size + 1), g.integers(wid - patch_size + 1)
            cols.append(images[i, r : r + patch_size, c : c + patch_size].ravel(order=order))
        P = np.array(cols).T
        if one_sigma:
            return R.normalize_patches(P)
        return np.column_stack([R.normalize_patches(P[:, [j]]) for j in range(P.shape[1])])

    return sample_patches


def test_sample_patches_variants():
    sparse.check_sample_patches_shape(_sampler())
    sparse.check_sample_patches_windows(_sampler())
    with pytest.raises(CheckFailure, match="column-major"):
        sparse.check_sample_patches_windows(_sampler(order="F"))
    with pytest.raises(CheckFailure, match="same seed"):
        sparse.check_sample_patches_shape(_sampler(global_rng=True))
    with pytest.raises(CheckFailure, match="sample_patches"):  # per-patch sigma: clipped, or not one sigma
        sparse.check_sample_patches_windows(_sampler(one_sigma=False))


def test_initialize_variants():
    def normal(h, v, rng=None):
        g = np.random.default_rng(rng)
        return np.concatenate([g.normal(0, 0.01, 2 * h * v), np.zeros(h + v)])

    def random_bias(h, v, rng=None):
        return np.random.default_rng(rng).uniform(-0.1, 0.1, 2 * h * v + h + v)

    def wide(h, v, rng=None):
        g = np.random.default_rng(rng)
        return np.concatenate([g.uniform(-1, 1, 2 * h * v), np.zeros(h + v)])

    for bad, words in [(normal, "uniform"), (random_bias, "biases"), (wide, "lie in")]:
        with pytest.raises(CheckFailure, match=words):
            sparse.check_initialize(bad)


def test_kl_variants():
    with pytest.raises(CheckFailure, match="swapped"):
        sparse.check_kl_divergence(lambda rho, rho_hat: R.kl_divergence(rho_hat, rho))
    with pytest.raises(CheckFailure, match="second term"):
        sparse.check_kl_divergence(lambda rho, rho_hat: rho * np.log(rho / np.asarray(rho_hat)))


def test_train_that_does_not_train_fails():
    with pytest.raises(CheckFailure, match="trained theta"):
        sparse.check_train(lambda data, h, *a, **k: R.initialize_sparse_autoencoder(h, data.shape[0], rng=0))


# ----------------------------------------------------------------------------- one bug, one part (issue 13)


def _row_mean_normalize(p):
    p = np.asarray(p, dtype=float)
    p = p - p.mean(axis=1, keepdims=True)
    s = 3 * p.std()
    return (np.clip(p, -s, s) / s + 1) * 0.4 + 0.1


def _sampler_of(pick, normalize=R.normalize_patches, order="C"):
    """sample_patches whose (image, row, column) corners come from pick(rng, k, rows, cols, num), with rows and
    cols the numbers of corner positions, flattened in order, the matrix then normalized."""

    def sample_patches(images, patch_size=8, num_patches=10000, rng=None):
        rng = np.random.default_rng(rng)
        k, height, width = images.shape
        corners = pick(rng, k, height - patch_size + 1, width - patch_size + 1, num_patches)
        cols = [images[i, r : r + patch_size, c : c + patch_size].flatten(order=order) for i, r, c in corners]
        return normalize(np.array(cols).T)

    return sample_patches


def _windows(normalize, order="C", last=1):
    """sample_patches with the student's normalize and, optionally, MATLAB order or no last row/column."""

    def pick(rng, k, rows, cols, num):
        return [(rng.integers(k), rng.integers(rows - 1 + last), rng.integers(cols - 1 + last)) for _ in range(num)]

    return _sampler_of(pick, normalize, order)


def test_right_windows_on_a_wrong_normalize_cost_normalize_only():
    with pytest.raises(CheckFailure, match="each row's mean"):
        sparse.check_normalize_patches(_row_mean_normalize)
    sampler = _windows(_row_mean_normalize)
    sparse.check_sample_patches_windows(sampler, _row_mean_normalize)
    sparse.check_sample_patches_shape(sampler, _row_mean_normalize)
    with pytest.raises(CheckFailure, match="not two 4x4 windows"):  # without it, held to the notes
        sparse.check_sample_patches_windows(sampler)
    with pytest.raises(CheckFailure, match="column-major"):  # a window bug stays a window bug
        sparse.check_sample_patches_windows(_windows(_row_mean_normalize, order="F"), _row_mean_normalize)


def test_sampler_that_never_reaches_the_last_row_and_column_fails():
    with pytest.raises(CheckFailure, match="last row or the last column"):
        sparse.check_sample_patches_windows(_windows(R.normalize_patches, last=0), R.normalize_patches)


def test_raw_and_one_by_one_normalized_windows_are_named():
    with pytest.raises(CheckFailure, match="raw windows"):
        sparse.check_sample_patches_windows(_windows(lambda p: p), R.normalize_patches)

    def each(p):
        return np.column_stack([R.normalize_patches(p[:, [j]]) for j in range(p.shape[1])])

    with pytest.raises(CheckFailure, match="normalized on its own"):
        sparse.check_sample_patches_windows(_windows(each), R.normalize_patches)


def test_matlab_std_is_named():
    def ddof1(p):
        p = p - p.mean(axis=0)
        s = 3 * p.std(ddof=1)
        return (np.clip(p, -s, s) / s + 1) * 0.4 + 0.1

    with pytest.raises(CheckFailure, match="ddof=1"):
        sparse.check_normalize_patches(ddof1)


def test_a_right_cost_on_a_wrong_kl_costs_kl_only():
    def swapped(rho, rho_hat):
        return R.kl_divergence(rho_hat, rho)

    def cost(theta, v, h, lam, rho, beta, data):
        J, grad = R.sparse_autoencoder_cost(theta, v, h, lam, rho, beta, data)
        W1, _, b1, _ = R._unpack_autoencoder(theta, v, h)
        rho_hat = R.sigmoid(W1 @ data + b1[:, None]).mean(axis=1)
        return J + beta * np.sum(swapped(rho, rho_hat) - R.kl_divergence(rho, rho_hat)), grad

    sparse.check_sae_cost(cost, swapped)
    with pytest.raises(CheckFailure, match="J_sparse"):
        sparse.check_sae_cost(cost)


@pytest.mark.parametrize("layout", [0, 1])
def test_theta_in_another_layout_is_named(layout):
    """A right cost that reads theta as a public port does (MATLAB's W1(:), biases first)."""

    def cost(theta, v, h, lam, rho, beta, data):
        read, write = list(sparse._layouts(v, h).values())[layout]
        W1, W2, b1, b2 = read(np.asarray(theta))
        J, g = R.sparse_autoencoder_cost(np.concatenate([W1.ravel(), W2.ravel(), b1, b2]), v, h, lam, rho, beta, data)
        n = h * v
        return J, write(g[:n].reshape(h, v), g[n : 2 * n].reshape(v, h), g[2 * n : 2 * n + h], g[2 * n + h :])

    words = ["column-major", "biases first"][layout]
    for check in [sparse.check_sae_cost, *GRAD_CHECKS]:
        with pytest.raises(CheckFailure, match=words):
            check(cost)


def test_one_example_per_row_gets_the_conventions():
    def cost(theta, v, h, lam, rho, beta, data):  # data taken as (m, v)
        W1 = np.asarray(theta)[: h * v].reshape(h, v)
        return float(np.sum(R.sigmoid(data @ W1.T))), np.zeros_like(theta)

    with pytest.raises(CheckFailure, match="one example per column"):
        sparse.check_sae_cost(cost)


def _trainer(cost, initialize=R.initialize_sparse_autoencoder, use_max_iter=True, use_rng=True, fixed=None):
    """A train on cost; fixed: {argument: value} it trains with whatever it is given (an ignored argument)."""
    import scipy.optimize

    def train(data, hidden_size, lambda_=1e-4, rho=0.01, beta=3.0, max_iter=400, rng=None):
        v = data.shape[0]
        theta0 = initialize(hidden_size, v, rng if use_rng else None)
        given = {"lambda_": lambda_, "rho": rho, "beta": beta} | (fixed or {})
        return scipy.optimize.minimize(
            cost,
            theta0,
            args=(v, hidden_size, *given.values(), data),
            method="L-BFGS-B",
            jac=True,
            options={"maxiter": max_iter if use_max_iter else 400},
        ).x

    return train


def test_a_right_train_on_a_wrong_cost_costs_the_cost_only():
    plain = _buggy("no_sparsity")
    sparse.check_train(_trainer(plain), plain, R.initialize_sparse_autoencoder)
    with pytest.raises(CheckFailure, match="trained theta"):
        sparse.check_train(_trainer(plain))


def test_train_must_use_max_iter_and_rng():
    cost = R.sparse_autoencoder_cost
    with pytest.raises(CheckFailure, match="max_iter=2"):
        sparse.check_train(_trainer(cost, use_max_iter=False), cost, R.initialize_sparse_autoencoder)
    with pytest.raises(CheckFailure, match="same seed"):
        sparse.check_train(_trainer(cost, use_rng=False), cost, R.initialize_sparse_autoencoder)

    def unseeded(h, v, rng=None):  # initialize's own part says so; train is not blamed again
        return R.initialize_sparse_autoencoder(h, v, None)

    sparse.check_train(_trainer(cost, initialize=unseeded), cost, unseeded)
    with pytest.raises(CheckFailure, match="initialize"):
        sparse.check_initialize(unseeded)


@pytest.mark.parametrize("name", ["lambda_", "rho", "beta"])
def test_train_must_pass_the_costs_arguments_on(name):
    """A train that trains with an argument's default whatever it is given (a held-out bug: it got full marks when
    the check trained with lambda_'s default) is told which; not if the student's own cost ignores it too."""
    cost = R.sparse_autoencoder_cost
    ignores = _trainer(cost, fixed={name: sparse.TRAIN_ARGUMENTS[name]})
    with pytest.raises(CheckFailure, match=f"same theta for {name}="):
        sparse.check_train(ignores, cost, R.initialize_sparse_autoencoder)

    def deaf(theta, v, h, lambda_, rho, beta, data):  # the student's cost ignores it: the cost's parts pay
        given = {"lambda_": lambda_, "rho": rho, "beta": beta} | {name: sparse.TRAIN_ARGUMENTS[name]}
        return cost(theta, v, h, *given.values(), data)

    sparse.check_train(_trainer(deaf), deaf, R.initialize_sparse_autoencoder)


def test_a_plain_autoencoder_is_named_where_both_terms_show():
    plain = _buggy("no_decay+no_sparsity")
    for check in (sparse.check_sae_cost, sparse.check_sae_grad_W1):
        with pytest.raises(CheckFailure, match="both the weight decay and the sparsity terms are missing"):
            check(plain)
    with pytest.raises(CheckFailure, match="the sparsity term is missing"):
        sparse.check_sae_grad_b1(plain)  # b1 has no weight decay: the sparsity term alone is missing there
    with pytest.raises(CheckFailure, match="the weight decay term .lambda. is missing"):
        sparse.check_sae_grad_W2(plain)  # W2 has no sparsity term: the decay alone is missing there
    sparse.check_sae_grad_b2(plain)


def test_a_failing_kl_divergence_is_called_once_by_the_cost_check():
    calls = []

    def broken(rho, rho_hat):
        calls.append(rho)
        raise ValueError("no")

    sparse.check_sae_cost(R.sparse_autoencoder_cost, broken)
    assert len(calls) == 1


def test_a_kl_of_zeros_is_no_base_for_a_cost_without_sparsity():
    def zeros(rho, rho_hat):
        return np.zeros_like(np.asarray(rho_hat, dtype=float))

    with pytest.raises(CheckFailure, match="the sparsity term is missing"):
        sparse.check_sae_cost(_buggy("no_sparsity"), zeros)


def _one(rng, k, rows, cols):
    return int(rng.integers(k)), int(rng.integers(rows)), int(rng.integers(cols))


@pytest.mark.parametrize(
    ("pick", "words"),
    [
        (lambda rng, k, rows, cols, n: [_one(rng, k, rows, cols)] * n, "different images"),
        (lambda rng, k, rows, cols, n: [(int(rng.integers(k)), 0, 0)] + [_one(rng, 1, rows, cols)] * (n - 1), "image"),
        (
            lambda rng, k, rows, cols, n: (lambda r, c: [(int(rng.integers(k)), r, c) for _ in range(n)])(
                int(rng.integers(rows)), int(rng.integers(cols))
            ),
            "different corners",
        ),
    ],
    ids=["one_window_repeated", "one_image_per_call_mostly", "one_corner_per_call"],
)
def test_samplers_that_do_not_draw_every_patch_anew_fail(pick, words):
    """A red team's: with two patches per call, such samplers once passed the windows check."""
    with pytest.raises(CheckFailure, match=words):
        sparse.check_sample_patches_windows(_sampler_of(pick), R.normalize_patches)


def test_float32_patches_pass_the_windows_check():
    def float32(images, patch_size=8, num_patches=10000, rng=None):
        return R.sample_patches(images, patch_size, num_patches, rng).astype(np.float32)

    sparse.check_sample_patches_windows(float32, R.normalize_patches)


def test_a_number_beyond_float_range_is_a_check_failure_not_a_crash():
    with pytest.raises(CheckFailure, match="should be numbers"):
        sparse.check_kl_divergence(lambda rho, rho_hat: 10**400)
