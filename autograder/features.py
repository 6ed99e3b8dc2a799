"""Train the reference sparse autoencoder on natural-image patches and draw what it learned.

This reproduces the notes' result (§4, and the original exercise): 10,000
8x8 patches from whitened natural images, a 64-25-64 sigmoid autoencoder,
rho = 0.01, lambda = 1e-4, beta = 3, 400 L-BFGS iterations. The hidden units
become edge detectors at different positions and orientations.

The training uses ``fast`` (the reference's cost computed fast, with single-threaded
BLAS); patches, initialization and the drawing are ``reference``'s.

    python -m autograder features --out build/learned_features.png
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data, fast, filters, reference

VISIBLE, HIDDEN = 64, 25


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

    @property
    def W1(self) -> np.ndarray:
        """(hidden, visible) encoder weights, one filter per row."""
        return self.theta[: HIDDEN * VISIBLE].reshape(HIDDEN, VISIBLE)

    @property
    def b1(self) -> np.ndarray:
        return self.theta[2 * HIDDEN * VISIBLE : 2 * HIDDEN * VISIBLE + HIDDEN]

    def mean_activation(self) -> np.ndarray:
        """rho_hat: (hidden,), the average activation of each hidden unit over the patches."""
        return reference.sigmoid(self.W1 @ self.patches + self.b1[:, None]).mean(axis=1)

    def summary(self) -> str:
        sel = filters.orientation_selectivity(self.W1)
        return (
            f"trained {HIDDEN} hidden units on {self.patches.shape[1]} patches in {self.seconds:.1f} s "
            f"({self.iterations} L-BFGS iterations, {self.evaluations} evaluations): "
            f"cost {self.initial_cost:.4f} -> {self.final_cost:.4f}, "
            f"mean activation {self.mean_activation().mean():.4f}, "
            f"{int(np.sum(sel > 0.5))}/{HIDDEN} filters oriented (selectivity > 0.5)"
        )


def train(num_patches: int = 10000, max_iter: int = 400, seed: int = 0, images=None) -> TrainingRun:
    """The original exercise, seeded: reference patches and start, trained with ``fast``."""
    images = data.load_images() if images is None else images
    patches = reference.sample_patches(images, 8, num_patches, rng=seed)
    theta0 = reference.initialize_sparse_autoencoder(HIDDEN, VISIBLE, rng=seed)
    args = (VISIBLE, HIDDEN, 1e-4, 0.01, 3.0, patches)
    initial_cost, _ = fast.sparse_autoencoder_cost(theta0, *args)
    start = time.perf_counter()
    result = fast.minimize_sparse_autoencoder(patches, HIDDEN, max_iter=max_iter, rng=seed)
    seconds = time.perf_counter() - start
    return TrainingRun(patches, result.x, initial_cost, float(result.fun), int(result.nit), seconds, int(result.nfev))


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
