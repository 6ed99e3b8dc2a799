"""Values of the reference against independent formulas and hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograder import reference as R


def test_sigmoid_tanh_identity_and_known_values():
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(R.sigmoid(z), (1 + R.tanh(z / 2)) / 2, rtol=1e-14, atol=1e-16)
    assert R.sigmoid(1.0) == pytest.approx(1 / (1 + math.e**-1), rel=1e-15)
    assert R.tanh(1.0) == pytest.approx((math.e - 1 / math.e) / (math.e + 1 / math.e), rel=1e-15)
    assert R.sigmoid_prime(0.0) == 0.25 and R.tanh_prime(0.0) == 1.0


def test_forward_pass_on_a_hand_computed_3_3_1_network():
    """The notes' 3-3-1 network (Figure 2 of §2.1) with weights chosen so z is easy."""
    W = [np.eye(3), np.array([[1.0, -1.0, 2.0]])]
    b = [np.zeros(3), np.array([0.5])]
    x = np.array([[0.0], [1.0], [-1.0]])
    a = R.forward_pass(W, b, x)
    s = 1 / (1 + np.exp(-np.array([0.0, 1.0, -1.0])))
    np.testing.assert_allclose(a[1][:, 0], s, rtol=1e-15)
    np.testing.assert_allclose(a[2][0, 0], 1 / (1 + np.exp(-(s[0] - s[1] + 2 * s[2] + 0.5))), rtol=1e-15)


def test_cost_is_half_mean_squared_error_plus_weight_decay_on_weights_only():
    W = [np.array([[1.0, 2.0]]), np.array([[3.0]])]
    b = [np.array([100.0]), np.array([-100.0])]  # huge biases: no decay on them
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    Y = np.array([[0.0, 1.0]])
    h = R.forward_pass(W, b, X)[-1]
    expected = 0.5 * np.sum((h - Y) ** 2) / 2 + 0.5 * 0.1 * (1 + 4 + 9)
    assert R.cost(W, b, X, Y, 0.1) == pytest.approx(expected, rel=1e-15)


def test_relative_difference():
    assert R.relative_difference([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert R.relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert R.relative_difference([3.0, 0.0], [1.0, 0.0]) == pytest.approx(0.5)
    assert R.relative_difference([1.0], [-1.0]) == math.inf
    W = [np.ones((2, 2)), np.ones(3)]
    assert R.relative_difference(W, [np.ones((2, 2)), np.ones(3) * 1.5]) == pytest.approx(
        np.sqrt(3 * 0.25) / np.sqrt(4 * 4 + 3 * 6.25)
    )
    with pytest.raises(ValueError):
        R.relative_difference(np.ones(3), np.ones(4))


def test_kl_divergence_values_and_limits():
    rho, rho_hat = 0.2, np.array([0.2, 0.5, 0.9])
    expected = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    np.testing.assert_allclose(R.kl_divergence(rho, rho_hat), expected, rtol=1e-15)
    assert R.kl_divergence(0.2, 0.2) == 0.0
    assert R.kl_divergence(0.2, 0.0) == np.inf and R.kl_divergence(0.2, 1.0) == np.inf
    assert R.kl_divergence(0.0, 0.5) == pytest.approx(np.log(2))
    assert np.all(R.kl_divergence(0.01, np.linspace(0.001, 0.999, 50)) >= 0)


def test_initialize_sparse_autoencoder_bounds_and_zero_biases():
    h, v = 25, 64
    theta = R.initialize_sparse_autoencoder(h, v, rng=0)
    r = np.sqrt(6) / np.sqrt(h + v + 1)
    weights, biases = theta[: 2 * h * v], theta[2 * h * v :]
    assert theta.shape == (2 * h * v + h + v,)
    assert np.all(np.abs(weights) <= r) and np.abs(weights).max() > 0.95 * r
    assert abs(weights.mean()) < 0.02 and weights.std() == pytest.approx(r / np.sqrt(3), rel=0.05)
    np.testing.assert_array_equal(biases, 0.0)


def test_normalize_patches_removes_patch_means_clips_and_rescales():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((16, 500)) + rng.normal(0, 5, 500)  # each column its own offset
    p[0, 0] = 50.0  # an outlier beyond 3 sigma
    saved = p.copy()
    out = R.normalize_patches(p)
    np.testing.assert_array_equal(p, saved)
    assert out.shape == p.shape and out.min() >= 0.1 and out.max() <= 0.9
    assert out[0, 0] == pytest.approx(0.9)  # clipped to +3 sigma
    centred = saved - saved.mean(axis=0)
    s = 3 * centred.std()
    inside = np.abs(centred) < s
    np.testing.assert_allclose(out[inside], (centred[inside] / s + 1) * 0.4 + 0.1, rtol=1e-14)
    np.testing.assert_array_equal(R.normalize_patches(np.ones((4, 3))), 0.5)


def test_sample_patches_takes_row_major_windows_of_the_images():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (3, 12, 10))  # bounded: no value is ever clipped at 3 sigma
    patches = R.sample_patches(images, patch_size=4, num_patches=200, rng=5)
    assert patches.shape == (16, 200) and patches.min() >= 0.1 and patches.max() <= 0.9
    # Each column is (centred window / 3 sigma + 1) * 0.4 + 0.1 for one row-major 4x4 window.
    windows = np.lib.stride_tricks.sliding_window_view(images, (4, 4), axis=(1, 2)).reshape(-1, 16)
    centred = windows - windows.mean(axis=1, keepdims=True)
    target = (patches - 0.5) / 0.4  # = centred window / (3 sigma)
    scale = (centred @ target) / np.sum(centred * centred, axis=1, keepdims=True)  # (windows, patches)
    residual = np.linalg.norm(target[None, :, :] - scale[:, None, :] * centred[:, :, None], axis=1)
    best = residual.argmin(axis=0)
    assert residual.min(axis=0).max() < 1e-12, "a column is no window of the images"
    implied_sigma = 1 / (3 * scale[best, np.arange(200)])
    np.testing.assert_allclose(implied_sigma, centred[best].std(), rtol=1e-10)  # sigma of all sampled values
    assert len(set(best)) > 100  # random positions (about 124 of the 189 windows expected), not one repeated
    np.testing.assert_array_equal(patches, R.sample_patches(images, patch_size=4, num_patches=200, rng=5))
    with pytest.raises(ValueError):
        R.sample_patches(images, patch_size=11)


def test_max_activation_inputs_are_unit_rows_and_maximize_the_activation():
    rng = np.random.default_rng(2)
    W1 = rng.standard_normal((5, 9))
    W1[3] = 0.0
    X = R.max_activation_inputs(W1)
    norms = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 2, 4]], 1.0, rtol=1e-15)
    np.testing.assert_array_equal(X[3], 0.0)
    # No other unit vector activates unit 0 more (Cauchy-Schwarz), checked on random ones.
    others = rng.standard_normal((1000, 9))
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    assert np.all(others @ W1[0] <= X[0] @ W1[0] + 1e-12)


def test_display_network_layout():
    sz, M = 3, 5
    A = np.arange(sz * sz * M, dtype=float).reshape(M, sz * sz).T  # patch k = k*9 .. k*9+8
    img = R.display_network(A)  # cols = ceil(sqrt(5)) = 3, rows = 2
    assert img.shape == (1 + 2 * 4, 1 + 3 * 4)
    assert np.all(img[0] == -1) and np.all(img[:, 0] == -1) and np.all(img[4] == -1) and np.all(img[:, 8] == -1)
    centred = A - A.mean()
    for k in range(M):
        r, c = divmod(k, 3)
        tile = img[1 + 4 * r : 4 + 4 * r, 1 + 4 * c : 4 + 4 * c]
        expected = centred[:, k].reshape(3, 3)  # row-major
        np.testing.assert_allclose(tile, expected / np.abs(expected).max(), rtol=1e-15)
    assert np.all(img[5:8, 9:12] == -1)  # the unused sixth cell stays background
    assert R.display_network(A, cols=5).shape == (1 + 4, 1 + 5 * 4)
    with pytest.raises(ValueError):
        R.display_network(np.zeros((8, 2)))
