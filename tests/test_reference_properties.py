"""Properties every reference function keeps: shapes, m = 1, inputs unchanged, lists vs
tuples, no warnings for extreme z, and unflatten(flatten(W, b)) == (W, b)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from conftest import random_network
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from autograder import reference as R

layer_sizes_st = st.lists(st.integers(1, 6), min_size=2, max_size=5)
finite = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)
activation_st = st.sampled_from(["sigmoid", "tanh"])


@given(arrays(np.float64, array_shapes(min_dims=0, max_dims=3, max_side=5), elements=finite))
def test_activations_are_exact_silent_and_shape_preserving(z):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning fails the test
        s, sp, t, tp = R.sigmoid(z), R.sigmoid_prime(z), R.tanh(z), R.tanh_prime(z)
    for out in (s, sp, t, tp):
        assert out.shape == np.shape(z) and out.dtype == np.float64 and np.all(np.isfinite(out))
    assert np.all((s >= 0) & (s <= 1)) and np.all((t >= -1) & (t <= 1))
    neg = z < 0  # the two overflow-free forms of 1 / (1 + exp(-z))
    stable = np.empty_like(z)
    stable[neg] = np.exp(z[neg]) / (1.0 + np.exp(z[neg]))
    stable[~neg] = 1.0 / (1.0 + np.exp(-z[~neg]))
    np.testing.assert_allclose(s, stable, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(t, np.tanh(z), rtol=1e-15)
    np.testing.assert_allclose(sp, s * (1 - s), rtol=1e-15)
    np.testing.assert_allclose(tp, 1 - t * t, rtol=1e-15)


def test_activations_at_the_extremes():
    z = np.array([-1000.0, -700.0, -40.0, 0.0, 40.0, 745.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, t = R.sigmoid(z), R.tanh(z)
        assert R.sigmoid(0.0) == 0.5 and R.tanh(0.0) == 0.0  # 0-d
    np.testing.assert_array_equal(s[[0, -1]], [0.0, 1.0])
    np.testing.assert_array_equal(t[[0, -1]], [-1.0, 1.0])
    assert s[2] == pytest.approx(np.exp(-40.0), rel=1e-14)  # tiny, but not flushed to 0
    assert s[1] == pytest.approx(np.exp(-700.0), rel=1e-13)
    np.testing.assert_array_equal(R.sigmoid_prime(z)[[0, -1]], [0.0, 0.0])
    assert R.tanh(1e-10) == pytest.approx(1e-10, rel=1e-15)


@settings(max_examples=40, deadline=None)
@given(layer_sizes_st, st.integers(1, 4), activation_st, st.integers(0, 2**32 - 1))
def test_forward_pass_and_backprop_shapes_and_inputs_unchanged(layer_sizes, m, activation, seed):
    W, b, X, Y = random_network(layer_sizes, m, seed)
    saved = copy.deepcopy((W, b, X, Y))
    a = R.forward_pass(W, b, X, activation)
    assert [x.shape for x in a] == [(s, m) for s in layer_sizes]
    np.testing.assert_array_equal(a[0], X)
    assert a[0] is not X
    J, dW, db = R.backprop(W, b, X, Y, 0.1, activation)
    assert isinstance(J, float)
    assert [g.shape for g in dW] == [w.shape for w in W] and [g.shape for g in db] == [v.shape for v in b]
    dW1, db1 = R.backprop_single_example(W, b, X[:, 0], Y[:, 0], activation)
    assert [g.shape for g in dW1] == [w.shape for w in W] and [g.shape for g in db1] == [v.shape for v in b]
    R.gradient_descent_step(W, b, X, Y, 0.1, 0.5, activation)
    R.cost(W, b, X, Y, 0.1, activation)
    for before, after in zip(saved, (W, b, X, Y)):
        for x0, x1 in zip(
            before if isinstance(before, list) else [before], after if isinstance(after, list) else [after]
        ):
            np.testing.assert_array_equal(x0, x1)


@settings(max_examples=30, deadline=None)
@given(layer_sizes_st, st.integers(0, 2**32 - 1))
def test_lists_and_tuples_give_the_same_results(layer_sizes, seed):
    W, b, X, Y = random_network(layer_sizes, 3, seed)
    J1, dW1, db1 = R.backprop(W, b, X, Y, 0.1)
    J2, dW2, db2 = R.backprop(tuple(W), tuple(b), X, Y, 0.1)
    J3, dW3, db3 = R.backprop([w.tolist() for w in W], [v.tolist() for v in b], X.tolist(), Y.tolist(), 0.1)
    assert J1 == J2 == J3
    for g1, g2, g3 in zip(dW1 + db1, dW2 + db2, dW3 + db3):
        np.testing.assert_array_equal(g1, g2)
        np.testing.assert_array_equal(g1, g3)
    np.testing.assert_array_equal(R.flatten_parameters(W, b), R.flatten_parameters(tuple(W), tuple(b)))


@settings(max_examples=50, deadline=None)
@given(layer_sizes_st, st.integers(0, 2**32 - 1))
def test_unflatten_inverts_flatten(layer_sizes, seed):
    W, b = R.initialize_parameters(layer_sizes, epsilon=1.0, rng=seed)
    theta = R.flatten_parameters(W, b)
    assert theta.shape == (sum(s * t for s, t in zip(layer_sizes[:-1], layer_sizes[1:])) + sum(layer_sizes[1:]),)
    W2, b2 = R.unflatten_parameters(theta, layer_sizes)
    assert len(W2) == len(W) and len(b2) == len(b)
    for x, y in zip(W + b, W2 + b2):
        assert x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    W2[0][...] = 123.0  # no view into theta
    assert not np.any(theta == 123.0)
    np.testing.assert_array_equal(R.flatten_parameters(W2, b2)[W[0].size :], theta[W[0].size :])


def test_flatten_order_is_all_weights_row_major_then_all_biases():
    W = [np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([[7.0, 8.0]])]
    b = [np.array([9.0, 10.0]), np.array([11.0])]
    np.testing.assert_array_equal(R.flatten_parameters(W, b), np.arange(1.0, 12.0))


def test_unflatten_rejects_a_theta_of_the_wrong_length():
    with pytest.raises(ValueError, match="need 17"):
        R.unflatten_parameters(np.zeros(16), [3, 2, 3])


def test_initialize_parameters_shapes_scale_and_seeding():
    W, b = R.initialize_parameters([64, 25, 64], epsilon=0.01, rng=3)
    assert [w.shape for w in W] == [(25, 64), (64, 25)] and [v.shape for v in b] == [(25,), (64,)]
    allv = R.flatten_parameters(W, b)
    assert abs(allv.std() - 0.01) < 0.0005 and abs(allv.mean()) < 0.0005
    W2, _ = R.initialize_parameters([64, 25, 64], rng=np.random.default_rng(3))
    np.testing.assert_array_equal(W[0], W2[0])  # an int seed and a Generator of it agree
    W3, _ = R.initialize_parameters([64, 25, 64], rng=4)
    assert not np.array_equal(W[0], W3[0])


def test_m_equals_one_and_single_example_agree():
    W, b, X, Y = random_network([3, 4, 2], 1, seed=9)
    J, dW, db = R.backprop(W, b, X, Y, 0.0)
    dW1, db1 = R.backprop_single_example(W, b, X[:, 0], Y[:, 0])
    for g, h in zip(dW + db, dW1 + db1):
        np.testing.assert_allclose(g, h, rtol=1e-14)
    assert J == pytest.approx(0.5 * np.sum((R.forward_pass(W, b, X)[-1] - Y) ** 2), rel=1e-14)


def test_sparse_autoencoder_cost_leaves_inputs_unchanged_and_accepts_lists():
    rng = np.random.default_rng(0)
    data = rng.uniform(0.1, 0.9, (6, 5))
    theta = R.initialize_sparse_autoencoder(3, 6, rng=1)
    saved = theta.copy(), data.copy()
    J, grad = R.sparse_autoencoder_cost(theta, 6, 3, 1e-3, 0.1, 3.0, data)
    np.testing.assert_array_equal(theta, saved[0])
    np.testing.assert_array_equal(data, saved[1])
    J2, grad2 = R.sparse_autoencoder_cost(theta.tolist(), 6, 3, 1e-3, 0.1, 3.0, data.tolist())
    assert J == J2 and np.array_equal(grad, grad2) and grad.dtype == np.float64


def test_numerical_gradient_leaves_theta_unchanged_even_if_J_mutates_its_argument():
    theta = np.array([1.0, 2.0])

    def J(t):
        value = float(np.sum(t**2))
        t[:] = 99.0  # a hostile J
        return value

    np.testing.assert_allclose(R.numerical_gradient(J, theta), [2.0, 4.0], rtol=1e-9)
    np.testing.assert_array_equal(theta, [1.0, 2.0])
