"""``autograder.fast`` computes what the plain reference computes: cost, gradient and training.

Both of its paths (one column block, and two blocks in two threads) against
``reference.sparse_autoencoder_cost`` on small and on large data, its arguments left
alone, its in-place sigmoid exact and silent, and its BLAS limit set and restored.
No timings: how much faster it is belongs to ``python -m autograder bench``.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import scipy.special
from threadpoolctl import threadpool_info

from autograder import fast
from autograder import reference as R


def _instance(v=8, h=5, m=30, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.5, 2 * h * v + h + v)  # random biases too
    data = rng.uniform(0.1, 0.9, (v, m))
    return theta, (v, h, 1e-3, 0.1, 3.0, data)


def _assert_agree(theta, args):
    J_ref, g_ref = R.sparse_autoencoder_cost(theta, *args)
    J, g = fast.sparse_autoencoder_cost(theta, *args)
    assert isinstance(J, float) and g.dtype == np.float64 and g.shape == theta.shape
    assert J == pytest.approx(J_ref, rel=1e-13)
    np.testing.assert_allclose(g, g_ref, rtol=1e-11, atol=1e-15)
    assert R.relative_difference(g, g_ref) < 1e-13


@pytest.fixture
def blocks(monkeypatch):
    """The numbers of column blocks of each _each_block call (two cores assumed, so that two blocks can run)."""
    calls = []
    each = fast._each_block
    monkeypatch.setattr(fast, "_cores", lambda: 2)
    monkeypatch.setattr(fast, "_each_block", lambda fn, c: calls.append(len(c)) or each(fn, c))
    return calls


def _two_blocks_possible():
    if not fast._blas().lib_controllers:
        pytest.skip("threadpoolctl finds no BLAS to hold at one thread: the two-block path never runs")


@pytest.mark.parametrize(("v", "h", "m"), [(8, 5, 1), (8, 5, 30), (6, 9, 7), (64, 25, 200)])
def test_one_block_agrees_with_the_reference_on_small_data(v, h, m, blocks):
    theta, args = _instance(v, h, m, seed=m)
    _assert_agree(theta, args)
    assert blocks == [1, 1]


@pytest.mark.parametrize("extra", [0, 1])  # an even and an odd split of the columns
def test_two_blocks_agree_with_the_reference_on_large_data(extra, blocks):
    _two_blocks_possible()
    theta, args = _instance(64, 25, fast.PARALLEL_MIN_EXAMPLES + extra, seed=3)
    _assert_agree(theta, args)
    assert blocks == [2, 2]


def test_one_block_agrees_with_the_reference_on_large_data(monkeypatch, blocks):
    monkeypatch.setattr(fast, "PARALLEL_MIN_EXAMPLES", 10**9)
    theta, args = _instance(64, 25, 2 * 2048 + 1, seed=4)
    _assert_agree(theta, args)
    assert blocks == [1, 1]


def test_two_blocks_on_small_data_agree_too(monkeypatch, blocks):
    """Blocks of 1 and 2 columns: every partial sum is added, none is dropped."""
    _two_blocks_possible()
    monkeypatch.setattr(fast, "PARALLEL_MIN_EXAMPLES", 2)
    for m in (2, 3, 30):
        theta, args = _instance(m=m, seed=m)
        _assert_agree(theta, args)
    assert blocks == [2, 2] * 3


def test_saturated_units_agree_and_stay_silent():
    """Large weights drive z far past +-709: the in-place sigmoid gives exact 0 and 1, without a warning."""
    theta, args = _instance(v=6, h=4, m=40, seed=5)
    theta[: 2 * 6 * 4] *= 400
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_agree(theta, args)


@pytest.mark.parametrize("order", ["C", "F"])  # C-ordered data is used as it is, F-ordered copied
def test_arguments_are_left_unchanged_and_results_are_new_arrays(order, monkeypatch):
    monkeypatch.setattr(fast, "PARALLEL_MIN_EXAMPLES", 8)  # both paths below
    for m in (5, 40):
        theta, (v, h, lam, rho, beta, data) = _instance(m=m, seed=6)
        data = np.asarray(data, order=order)
        saved = theta.copy(), data.copy()
        J, grad = fast.sparse_autoencoder_cost(theta, v, h, lam, rho, beta, data)
        np.testing.assert_array_equal(theta, saved[0])
        np.testing.assert_array_equal(data, saved[1])
        assert not np.shares_memory(grad, theta) and not np.shares_memory(grad, data)
        kept = grad.copy()
        fast.sparse_autoencoder_cost(theta + 0.1, v, h, lam, rho, beta, data)  # reuses the work arrays
        np.testing.assert_array_equal(grad, kept)
        J_list, grad_list = fast.sparse_autoencoder_cost(theta.tolist(), v, h, lam, rho, beta, data.tolist())
        assert J_list == pytest.approx(J, rel=1e-14)
        np.testing.assert_allclose(grad_list, grad, rtol=1e-12, atol=1e-16)


def test_concurrent_calls_agree_with_sequential_ones():
    """Two threads evaluating at once: one of them gets the extra thread, the other computes in one block."""
    thetas, args = [], None
    for seed in (7, 8):
        theta, args = _instance(16, 6, fast.PARALLEL_MIN_EXAMPLES + 10, seed=seed)
        thetas.append(theta)
    expected = [R.sparse_autoencoder_cost(t, *args) for t in thetas]
    results = [[] for _ in thetas]

    def evaluate(i):
        for _ in range(5):
            results[i].append(fast.sparse_autoencoder_cost(thetas[i], *args))

    before = _blas_threads()
    threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(len(thetas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _blas_threads() == before  # restored once, by the thread that set the limit
    for (J_ref, g_ref), got in zip(expected, results):
        assert len(got) == 5
        for J, g in got:
            assert J == pytest.approx(J_ref, rel=1e-13)
            assert R.relative_difference(g, g_ref) < 1e-13


def test_sigmoid_of_negated_is_exact_and_silent():
    z = np.concatenate([np.linspace(-1000, 1000, 20001), [-745.2, -709.8, -1e-300, 0.0, 1e-300, 37.0, 710.0]])
    a = -z
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            out = fast._sigmoid_of_negated(a)
    assert out is a  # in place
    expected = scipy.special.expit(z)
    assert np.max(np.abs(a - expected)) <= 1e-15
    ordinary = z > -700  # where f(z) is a normal number, it is right to a few ulps
    assert np.max(np.abs(a[ordinary] - expected[ordinary]) / expected[ordinary]) < 1e-15
    assert a[z == -1000][0] == 0.0 and a[z == 1000][0] == 1.0 and a[z == 0][0] == 0.5


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_blas_thread_sets_every_blas_to_one_thread_and_restores_it():
    before = _blas_threads()
    with fast.one_blas_thread():
        assert all(n == 1 for n in _blas_threads())
        with fast.one_blas_thread():  # nested, as the cost inside the training
            assert all(n == 1 for n in _blas_threads())
        assert all(n == 1 for n in _blas_threads())
        inside_other = []

        def use_in_another_thread():
            with fast.one_blas_thread():
                inside_other.append(_blas_threads())

        other = threading.Thread(target=use_in_another_thread)
        other.start()
        other.join()
        assert inside_other and all(n == 1 for n in inside_other[0])
        assert all(n == 1 for n in _blas_threads())  # the other thread's exit restored nothing
    assert _blas_threads() == before


def test_training_agrees_with_the_reference_and_runs_with_one_blas_thread(monkeypatch):
    rng = np.random.default_rng(507)
    v, h = 9, 4
    data = R.normalize_patches(rng.normal(0, 1, (v, 40)))
    args = (v, h, 1e-4, 0.1, 3.0, data)
    seen = []
    minimize = fast.scipy.optimize.minimize

    def recording(*a, **k):
        seen.append(_blas_threads())
        return minimize(*a, **k)

    monkeypatch.setattr(fast.scipy.optimize, "minimize", recording)
    result = fast.minimize_sparse_autoencoder(data, h, 1e-4, 0.1, 3.0, 100, rng=0)
    monkeypatch.undo()
    assert seen and all(n == 1 for n in seen[0])
    assert 0 < result.nit <= 100
    J0, _ = R.sparse_autoencoder_cost(R.initialize_sparse_autoencoder(h, v, rng=0), *args)
    J_fast, _ = R.sparse_autoencoder_cost(result.x, *args)
    assert J_fast == pytest.approx(result.fun, rel=1e-12)
    J_ref, _ = R.sparse_autoencoder_cost(R.train_sparse_autoencoder(data, h, 1e-4, 0.1, 3.0, 100, rng=0), *args)
    assert J_fast < 0.1 * J0
    assert J_fast == pytest.approx(J_ref, rel=1e-6)  # the same start and optimizer: only rounding differs
