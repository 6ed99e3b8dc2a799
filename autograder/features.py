"""Train the reference sparse autoencoder on natural-image patches and draw what it learned.

This reproduces the notes' result (§4, and the original exercise): 10,000
8x8 patches from whitened natural images, a 64-25-64 sigmoid autoencoder,
rho = 0.01, lambda = 1e-4, beta = 3, 400 L-BFGS iterations. The hidden units
become edge detectors at different positions and orientations.

The training uses ``fast`` (the reference's cost computed fast, with single-threaded
BLAS); patches, initialization and the drawing are ``reference``'s.

    python -m autograder features --out build/learned_features.png

It also runs §3's experiment for lecture notebook 03 (a small hidden layer finds structure by
compressing; a sparsity constraint makes a large one find it too, as localized detectors): on
the same patches, 25 hidden units with beta = 0 and beta = 3, and an overcomplete layer of 100
with and without sparsity (more units than the 64 inputs: one step beyond the notes' figure,
whose 100 units see 10x10 patches, as many as its inputs). The lecture reads the trained
parameters and some of the patches from ``notebooks/data/sparsity_experiment.npz``:

    python -m autograder experiment          # rewrites it (about 25 s on two cores)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data, fast, filters, reference
from .course import COURSE_ROOT

VISIBLE, HIDDEN = 64, 25
LAMBDA, RHO = 1e-4, 0.01

#: (hidden units, beta) of each run of the sparsity experiment, in the lecture's order.
EXPERIMENT = ((25, 0.0), (25, 3.0), (100, 3.0), (100, 0.0))
EXPERIMENT_PATH = COURSE_ROOT / "notebooks" / "data" / "sparsity_experiment.npz"
#: How many of the training patches the lecture gets (its histograms and reconstructions).
EXPERIMENT_PATCHES = 1000


@dataclass
class TrainingRun:
    """What one reference training produced, and the figures that describe it."""

    patches: np.ndarray  # (64, m)
    theta: np.ndarray  # (2 h v + h + v,)
    initial_cost: float
    final_cost: float
    iterations: int
    seconds: float
    evaluations: int = 0  # cost+gradient evaluations L-BFGS made (about one per iteration)
    hidden: int = HIDDEN
    beta: float = 3.0

    @property
    def W1(self) -> np.ndarray:
        """(hidden, visible) encoder weights, one filter per row."""
        return self.theta[: self.hidden * VISIBLE].reshape(self.hidden, VISIBLE)

    @property
    def b1(self) -> np.ndarray:
        """(hidden,)"""
        h = self.hidden
        return self.theta[2 * h * VISIBLE : 2 * h * VISIBLE + h]

    def mean_activation(self) -> np.ndarray:
        """rho_hat: (hidden,), the average activation of each hidden unit over the patches."""
        return reference.sigmoid(self.W1 @ self.patches + self.b1[:, None]).mean(axis=1)

    def summary(self) -> str:
        sel = filters.orientation_selectivity(self.W1)
        return (
            f"trained {self.hidden} hidden units (beta {self.beta:g}) on {self.patches.shape[1]} patches "
            f"in {self.seconds:.1f} s "
            f"({self.iterations} L-BFGS iterations, {self.evaluations} evaluations): "
            f"cost {self.initial_cost:.4f} -> {self.final_cost:.4f}, "
            f"mean activation {self.mean_activation().mean():.4f}, "
            f"{int(np.sum(sel > 0.5))}/{self.hidden} filters oriented (selectivity > 0.5)"
        )


def train(
    num_patches: int = 10000,
    max_iter: int = 400,
    seed: int = 0,
    images=None,
    hidden: int = HIDDEN,
    beta: float = 3.0,
    patches=None,
) -> TrainingRun:
    """The original exercise, seeded: reference patches and start, trained with ``fast``.

    ``hidden`` and ``beta`` change the network and the weight of the sparsity penalty (the
    experiment); ``patches`` (64, m), when given, replaces the sampling from ``images``.
    """
    if patches is None:
        images = data.load_images() if images is None else images
        patches = reference.sample_patches(images, 8, num_patches, rng=seed)
    theta0 = reference.initialize_sparse_autoencoder(hidden, VISIBLE, rng=seed)
    initial_cost, _ = fast.sparse_autoencoder_cost(theta0, VISIBLE, hidden, LAMBDA, RHO, beta, patches)
    start = time.perf_counter()
    result = fast.minimize_sparse_autoencoder(patches, hidden, LAMBDA, RHO, beta, max_iter=max_iter, rng=seed)
    seconds = time.perf_counter() - start
    return TrainingRun(
        patches, result.x, initial_cost, float(result.fun), int(result.nit), seconds, int(result.nfev), hidden, beta
    )


def sparsity_experiment(num_patches: int = 10000, max_iter: int = 400, seed: int = 0, images=None) -> list[TrainingRun]:
    """The runs of ``EXPERIMENT`` on the same patches and from the same seed, in its order."""
    images = data.load_images() if images is None else images
    patches = reference.sample_patches(images, 8, num_patches, rng=seed)
    return [train(max_iter=max_iter, seed=seed, hidden=h, beta=b, patches=patches) for h, b in EXPERIMENT]


def save_experiment(runs: list[TrainingRun], path: str | Path = EXPERIMENT_PATH) -> Path:
    """What lecture 03 reads: the first EXPERIMENT_PATCHES training patches and each run's theta.

    Keys: ``patches`` (64, EXPERIMENT_PATCHES), ``hidden`` and ``beta`` (one entry per run),
    ``lambda_`` and ``rho``, ``iterations`` and ``final_cost`` (per run), and ``theta0``,
    ``theta1``, ... (each run's unrolled [W1, W2, b1, b2], float32: the lecture prints a few
    digits only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "patches": runs[0].patches[:, :EXPERIMENT_PATCHES].astype(np.float32),
        "hidden": np.array([r.hidden for r in runs]),
        "beta": np.array([r.beta for r in runs]),
        "lambda_": np.float64(LAMBDA),
        "rho": np.float64(RHO),
        "iterations": np.array([r.iterations for r in runs]),
        "final_cost": np.array([r.final_cost for r in runs]),
    }
    arrays |= {f"theta{k}": r.theta.astype(np.float32) for k, r in enumerate(runs)}
    with path.open("wb") as f:  # np.savez_compressed would add ".npz" to a name without it
        np.savez_compressed(f, **arrays)
    return path


def save_features_png(W1, path: str | Path, scale: int = 8) -> Path:
    """Write display_network of the max-activation inputs (notes §4) as a grey PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = reference.display_network(reference.max_activation_inputs(W1).T)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, np.kron(image, np.ones((scale, scale))), cmap="gray", vmin=-1.0, vmax=1.0)
    return path
