"""Shared fixtures of the course's test suite."""

from __future__ import annotations

import textwrap
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


#: How a calendar.py made by at_kernel_start ends: the standard library's calendar in its place, with the
#: shim's names in CAPITALS copied onto it (what a test reads back from the kernel: calendar.RESERVED).
_CALENDAR_TAIL = """
import os as _os, sys as _sys
_shim = _sys.modules.pop("calendar")
_sys.path[:] = [p for p in _sys.path if p not in ("", _os.getcwd())]
import calendar as _calendar  # the standard library's, so that the kernel starts as usual
_calendar.__dict__.update({k: v for k, v in globals().items() if k.isupper()})
_sys.modules["calendar"] = _calendar
"""


def at_kernel_start(code: str) -> str:
    """A calendar.py for a submission's folder that runs code as the sandboxed kernel starts: ipykernel imports
    calendar then, before its sockets are bound and its ipc folder locked, and the folder is on its path."""
    return textwrap.dedent(code).strip() + "\n" + _CALENDAR_TAIL
