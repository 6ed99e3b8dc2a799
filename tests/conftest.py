"""Shared fixtures of the course's test suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import autograder  # noqa: F401  (first: it puts the interpreter's bin/ on PATH, where nbgrader finds alembic)

COURSE_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def course_root() -> Path:
    return COURSE_ROOT


def random_network(layer_sizes, m, seed, scale=0.5):
    """(W, b, X, Y): a random network with non-trivial activations and targets in (0, 1)."""
    rng = np.random.default_rng(seed)
    W = [rng.normal(0, scale, (s_next, s)) for s, s_next in zip(layer_sizes[:-1], layer_sizes[1:])]
    b = [rng.normal(0, scale, s_next) for s_next in layer_sizes[1:]]
    X = rng.normal(0, 1, (layer_sizes[0], m))
    Y = rng.uniform(0.05, 0.95, (layer_sizes[-1], m))
    return W, b, X, Y


@pytest.fixture(scope="session")
def trained():
    """The original exercise trained once with the reference, shared by the session: a features.TrainingRun."""
    from autograder import features

    return features.train(num_patches=10000, max_iter=400, seed=0)
