"""Every gradient of the reference agrees with central finite differences of its own cost.

Relative difference ‖a − b‖ / ‖a + b‖ below 1e-8, on small random instances:
backprop for both activations and 2–4 layers, the per-example gradient, the
sparse autoencoder, and the gradient descent step built on them.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_network

from autograder import reference as R

TOL = 1e-8

ARCHITECTURES = [[3, 2], [4, 3, 2], [2, 5, 3], [3, 4, 2, 3], [5, 3, 4, 2]]


def _numerical(J, theta):
    return R.numerical_gradient(J, theta, epsilon=1e-5)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("lambda_", [0.0, 0.3])
def test_backprop_matches_central_differences(layer_sizes, activation, lambda_):
    W, b, X, Y = random_network(layer_sizes, m=7, seed=sum(layer_sizes))

    def J(theta):
        W_, b_ = R.unflatten_parameters(theta, layer_sizes)
        return R.cost(W_, b_, X, Y, lambda_, activation)

    J0, dW, db = R.backprop(W, b, X, Y, lambda_, activation)
    assert J0 == pytest.approx(R.cost(W, b, X, Y, lambda_, activation), rel=1e-14)
    numeric = _numerical(J, R.flatten_parameters(W, b))
    diff = R.relative_difference(R.flatten_parameters(dW, db), numeric)
    assert diff < TOL, f"backprop {layer_sizes} {activation} lambda={lambda_}: relative difference {diff:.2e}"


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("layer_sizes", ARCHITECTURES, ids=lambda s: "-".join(map(str, s)))
def test_single_example_gradient_matches_central_differences(layer_sizes, activation):
    W, b, X, Y = random_network(layer_sizes, m=1, seed=7 + len(layer_sizes))
    x, y = X[:, 0], Y[:, 0]

    def J(theta):
        W_, b_ = R.unflatten_parameters(theta, layer_sizes)
        return 0.5 * np.sum((R.forward_pass(W_, b_, x[:, None], activation)[-1][:, 0] - y) ** 2)

    dW, db = R.backprop_single_example(W, b, x, y, activation)
    numeric = _numerical(J, R.flatten_parameters(W, b))
    diff = R.relative_difference(R.flatten_parameters(dW, db), numeric)
    assert diff < TOL, f"single example {layer_sizes} {activation}: relative difference {diff:.2e}"


def test_batch_gradient_is_mean_of_single_example_gradients_plus_weight_decay():
    layer_sizes, lambda_ = [4, 3, 2], 0.2
    W, b, X, Y = random_network(layer_sizes, m=5, seed=3)
    per_example = [R.backprop_single_example(W, b, X[:, i], Y[:, i]) for i in range(5)]
    _, dW, db = R.backprop(W, b, X, Y, lambda_)
    for l in range(2):
        mean_dW = np.mean([g[0][l] for g in per_example], axis=0)
        mean_db = np.mean([g[1][l] for g in per_example], axis=0)
        np.testing.assert_allclose(dW[l], mean_dW + lambda_ * W[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db[l], mean_db, rtol=1e-12, atol=1e-15)  # no weight decay on b


@pytest.mark.parametrize(
    ("visible", "hidden", "m", "lambda_", "rho", "beta"),
    [(8, 5, 10, 1e-4, 0.01, 3.0), (6, 9, 1, 0.1, 0.2, 0.5), (5, 3, 20, 0.0, 0.05, 0.0), (4, 4, 7, 0.3, 0.5, 2.0)],
)
def test_sparse_autoencoder_gradient_matches_central_differences(visible, hidden, m, lambda_, rho, beta):
    rng = np.random.default_rng(visible * 100 + hidden)
    data = rng.uniform(0.1, 0.9, (visible, m))
    theta = R.initialize_sparse_autoencoder(hidden, visible, rng=rng)
    theta[2 * hidden * visible :] = rng.normal(0, 0.1, hidden + visible)  # non-zero biases too

    def J(t):
        return R.sparse_autoencoder_cost(t, visible, hidden, lambda_, rho, beta, data)[0]

    _, grad = R.sparse_autoencoder_cost(theta, visible, hidden, lambda_, rho, beta, data)
    diff = R.relative_difference(grad, _numerical(J, theta))
    assert diff < TOL, f"sparse autoencoder {visible}-{hidden}: relative difference {diff:.2e}"


def test_sparse_autoencoder_without_sparsity_is_backprop_of_the_same_network():
    """beta = 0 makes J_sparse the plain eq. (8) cost of a v-h-v sigmoid network with Y = X."""
    visible, hidden, m, lambda_ = 6, 4, 9, 0.05
    rng = np.random.default_rng(11)
    data = rng.uniform(0.1, 0.9, (visible, m))
    theta = rng.normal(0, 0.3, 2 * hidden * visible + hidden + visible)
    J, grad = R.sparse_autoencoder_cost(theta, visible, hidden, lambda_, 0.05, 0.0, data)
    W, b = R.unflatten_parameters(theta, [visible, hidden, visible])
    J_bp, dW, db = R.backprop(W, b, data, data, lambda_)
    assert J == pytest.approx(J_bp, rel=1e-13)
    np.testing.assert_allclose(grad, R.flatten_parameters(dW, db), rtol=1e-12, atol=1e-15)


def test_gradient_descent_step_moves_against_the_gradient_and_lowers_the_cost():
    layer_sizes, lambda_, alpha = [3, 4, 2], 0.01, 0.5
    W, b, X, Y = random_network(layer_sizes, m=6, seed=5)
    J0, dW, db = R.backprop(W, b, X, Y, lambda_)
    W1, b1 = R.gradient_descent_step(W, b, X, Y, lambda_, alpha)
    for l in range(2):
        np.testing.assert_allclose(W1[l], W[l] - alpha * dW[l], rtol=1e-14)
        np.testing.assert_allclose(b1[l], b[l] - alpha * db[l], rtol=1e-14)
    assert R.cost(W1, b1, X, Y, lambda_) < J0


def test_numerical_gradient_is_central_not_forward():
    """On J = sum(theta^3) the central difference is exact up to epsilon^2; a forward one is off by 3 eps theta."""
    theta = np.array([0.5, -1.0, 2.0])
    grad = R.numerical_gradient(lambda t: float(np.sum(t**3)), theta, epsilon=1e-4)
    np.testing.assert_allclose(grad, 3 * theta**2 + 1e-8, rtol=1e-9)  # central: error exactly epsilon^2
    assert np.array_equal(theta, [0.5, -1.0, 2.0])
