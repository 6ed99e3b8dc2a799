"""The notes' result, measured: training on 10,000 real patches learns edge detectors.

One training as ``features.train`` runs it (``autograder.fast``, shared
through the session fixture ``trained``) with the original hyperparameters;
its final cost is checked with the plain reference, and the learned filters
are compared with the random filters they started from, in the same run.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from autograder import features, filters, reference

RHO = 0.01


@pytest.fixture(scope="module")
def initial_W1():
    theta0 = reference.initialize_sparse_autoencoder(features.HIDDEN, features.VISIBLE, rng=0)
    return theta0[: features.HIDDEN * features.VISIBLE].reshape(features.HIDDEN, features.VISIBLE)


def test_training_lowers_the_cost(trained):
    assert trained.iterations >= 300  # L-BFGS ran (nearly) the full 400 iterations
    assert trained.final_cost < 0.5 * trained.initial_cost, trained.summary()
    J, grad = reference.sparse_autoencoder_cost(trained.theta, 64, 25, 1e-4, RHO, 3.0, trained.patches)
    assert J == pytest.approx(trained.final_cost, rel=1e-12)
    J0, grad0 = reference.sparse_autoencoder_cost(
        reference.initialize_sparse_autoencoder(25, 64, rng=0), 64, 25, 1e-4, RHO, 3.0, trained.patches
    )
    assert np.linalg.norm(grad) < 0.01 * np.linalg.norm(grad0)  # close to a stationary point


def test_hidden_units_are_sparse(trained):
    rho_hat = trained.mean_activation()
    assert RHO / 2 <= rho_hat.mean() <= 2 * RHO, rho_hat
    assert np.median(rho_hat) <= 2 * RHO


def test_learned_filters_are_oriented(trained, initial_W1):
    learned = filters.orientation_selectivity(trained.W1)
    random = filters.orientation_selectivity(initial_W1)
    assert np.mean(learned > 0.5) >= 0.8, np.round(learned, 2)
    assert np.mean(random > 0.5) <= 0.2, np.round(random, 2)  # the measure is not fooled by noise


def test_learned_filters_are_localized(trained, initial_W1):
    learned = filters.energy_concentration(trained.W1)
    random = filters.energy_concentration(initial_W1)
    assert np.median(learned) > 0.65 > np.median(random), (np.round(learned, 2), np.round(random, 2))


def test_learned_filters_cover_positions_and_orientations(trained):
    selective = filters.orientation_selectivity(trained.W1) > 0.5
    angles = filters.preferred_orientation(trained.W1)[selective]
    bins = np.floor(((angles + 22.5) % 180) / 45).astype(int)  # 0°, 45°, 90°, 135° bands
    assert len(set(bins)) >= 3, np.round(angles)
    centres = filters.energy_centroid(trained.W1)
    assert np.all(centres.std(axis=0) > 0.75), centres  # random filters: about 0.25 pixel


def test_orientation_measure_on_known_filters():
    y, x = np.mgrid[0:8, 0:8]
    vertical_edge = np.where(x < 4, 1.0, -1.0)
    grating_45 = np.cos(2 * np.pi * (x + y) / 6)
    blob = np.exp(-((x - 3.5) ** 2 + (y - 3.5) ** 2) / 4)
    W = np.stack([vertical_edge, grating_45, blob]).reshape(3, 64)
    sel = filters.orientation_selectivity(W)
    assert sel[0] > 0.95 and sel[1] > 0.6 and sel[2] < 0.1
    ori = filters.preferred_orientation(W[:2])
    assert ori[0] == pytest.approx(90, abs=1)  # the edge runs vertically
    assert min(abs(ori[1] - 135), abs(ori[1] - 45)) < 5


def test_features_png_of_the_trained_network(trained, tmp_path):
    import matplotlib.image

    path = features.save_features_png(trained.W1, tmp_path / "features.png", scale=4)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == ((1 + 5 * 9) * 4, (1 + 5 * 9) * 4)
    assert image[..., :3].std() > 0.1  # not blank


def test_features_command_writes_a_png(tmp_path):
    out = tmp_path / "f.png"
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "features", "--patches", "2000", "--max-iter", "10", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 1000
    assert "learned features written to" in proc.stdout and "cost" in proc.stdout
