"""The notes' §3 experiment as lecture 03 shows it: a sparse hidden layer, small or large, finds localized edges.

The lecture trains nothing: it reads ``notebooks/data/sparsity_experiment.npz``, which
``python -m autograder experiment`` writes (``features.sparsity_experiment``). These tests hold the stored
file to what the lecture's text and answers say of it, to the patches it was trained on, and to the
session's own reference training (the experiment's run 1 is the original exercise).
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder import cli, data, features, filters, reference


@pytest.fixture(scope="module")
def stored():
    with np.load(features.EXPERIMENT_PATH) as npz:
        return dict(npz)


def _forward(stored, k):
    """(W1, a2, x_hat) of run k on the stored patches."""
    h, v, X = int(stored["hidden"][k]), features.VISIBLE, stored["patches"].astype(float)
    theta = stored[f"theta{k}"].astype(float)
    W1, W2, b1, b2 = reference._unpack_autoencoder(theta, v, h)
    a2 = reference.sigmoid(W1 @ X + b1[:, None])
    return W1, a2, reference.sigmoid(W2 @ a2 + b2[:, None])


def test_the_stored_runs_are_the_experiment(stored):
    assert [(int(h), float(b)) for h, b in zip(stored["hidden"], stored["beta"])] == list(features.EXPERIMENT)
    assert stored["patches"].shape == (features.VISIBLE, features.EXPERIMENT_PATCHES)
    for k, (h, _) in enumerate(features.EXPERIMENT):
        assert stored[f"theta{k}"].shape == (2 * h * features.VISIBLE + h + features.VISIBLE,)
    assert np.all(stored["iterations"] >= 300)  # L-BFGS ran (nearly) its 400 iterations


def test_the_stored_patches_are_the_ones_trained_on():
    patches = reference.sample_patches(data.load_images(), 8, 10000, rng=0)
    with np.load(features.EXPERIMENT_PATH) as npz:
        assert np.array_equal(npz["patches"], patches[:, : features.EXPERIMENT_PATCHES].astype(np.float32))


def test_run_1_is_the_sessions_reference_training(stored, trained):
    """The original exercise, trained again in this session, ends where the stored run 1 ended. (Not the same
    parameters: 400 L-BFGS iterations amplify rounding that differs between machines and runs.)"""
    assert stored["final_cost"][1] == pytest.approx(trained.final_cost, rel=0.03)
    W1, a2, _ = _forward(stored, 1)
    assert a2.mean() == pytest.approx(trained.mean_activation().mean(), rel=0.2)


def test_sparse_layers_find_edges_dense_ones_do_not(stored):
    """What the lecture says: with beta = 3 every unit's rho_hat is near rho and the units are oriented edges;
    with beta = 0, 25 units or 100, they are dense (rho_hat near 0.5) and not oriented. Answer 1: run 0's
    rho_hat lie between 0.48 and 0.52 but one, at 0.69."""
    rho_hat = np.sort(_forward(stored, 0)[1].mean(axis=1))
    assert 0.475 <= rho_hat[0] and rho_hat[-2] < 0.525 and round(rho_hat[-1], 2) == 0.69, rho_hat
    for k, (h, beta) in enumerate(features.EXPERIMENT):
        W1, a2, _ = _forward(stored, k)
        rho_hat = a2.mean(axis=1)
        oriented = int(np.sum(filters.orientation_selectivity(W1) > 0.5))
        if beta:
            assert np.all((rho_hat > 0.5 * stored["rho"]) & (rho_hat < 2 * stored["rho"])), (h, rho_hat)
            assert np.median(a2) < 0.01  # most activations near 0
            assert oriented >= 0.7 * h, (h, beta, oriented)
        else:
            assert np.all((rho_hat > 0.3) & (rho_hat < 0.8)), (h, rho_hat)
            assert oriented <= 0.1 * h, (h, beta, oriented)


def test_the_lectures_answer_on_reconstruction_holds(stored):
    """Answer 2: run 3 (100 units, beta 0) reconstructs best, the sparse runs worst."""
    X = stored["patches"].astype(float)
    error = [0.5 * np.mean(np.sum((_forward(stored, k)[2] - X) ** 2, axis=0)) for k in range(len(features.EXPERIMENT))]
    assert error[3] == min(error) and max(error[0], error[3]) < min(error[1], error[2]), error


def test_the_experiment_command_writes_what_the_lecture_reads(tmp_path, stored, capsys):
    out = tmp_path / "experiment.npz"
    assert cli.main(["experiment", "--patches", "300", "--max-iter", "5", "--out", str(out)]) == 0
    assert "written to" in capsys.readouterr().out
    with np.load(out) as npz:
        assert sorted(npz.files) == sorted(stored)
        assert npz["patches"].shape == (features.VISIBLE, 300)
        for k in range(len(features.EXPERIMENT)):
            assert npz[f"theta{k}"].shape == stored[f"theta{k}"].shape
        assert np.all(npz["iterations"] <= 5)
