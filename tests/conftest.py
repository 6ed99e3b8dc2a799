"""Shared fixtures of the course's test suite."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import autograder  # noqa: F401  (first: it puts the interpreter's bin/ on PATH, where nbgrader finds alembic)

COURSE_ROOT = Path(__file__).resolve().parent.parent

#: The test files marked slow (pyproject.toml's marker): those that start kernels, nbgrader, sandboxes, browsers,
#: servers, a hub or users. The rest is the pure-Python layer, a contributor's fast loop: pytest -m "not slow".
#: A test of another file that starts one of them is marked @pytest.mark.slow itself (test_attribution.py).
SLOW_FILES = frozenset(
    {
        "test_assignments.py",
        "test_attacks.py",
        "test_bench.py",
        "test_browser.py",
        "test_class_report.py",
        "test_collect.py",
        "test_dask.py",
        "test_demo.py",
        "test_exchange.py",
        "test_feedback.py",
        "test_gaming.py",
        "test_grading.py",
        "test_hub.py",
        "test_lectures_delivered.py",
        "test_notebooks.py",
        "test_sandbox.py",
        "test_service.py",
        "test_student_environment.py",
        "test_student_helper.py",
        "test_tampering.py",
        "test_unprivileged.py",
    }
)

#: Test files whose tests are the steps of one story, run in the order they are written; pytest-randomly shuffles
#: every other file's. test_hub.py: the students submit through the hub, get feedback and fix their work, then the
#: instructor grades what they handed in (one hub, minutes to start); a step whose step before did not happen skips,
#: saying so. Everywhere else a test depends on no other: each runs alone, and in any order.
IN_ORDER_FILES = frozenset({"test_hub.py"})


def pytest_collection_modifyitems(config, items):
    missing = sorted(name for name in SLOW_FILES | IN_ORDER_FILES if not (COURSE_ROOT / "tests" / name).is_file())
    if missing:  # a file renamed or removed: its new name would run in the fast loop, or shuffled, unseen
        raise pytest.UsageError(f"tests/conftest.py names no such test file: {', '.join(missing)}")
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
    # After pytest-randomly's shuffle (its hook wraps this one): a story's steps back in their written order, in
    # the places the shuffle gave them.
    for name in IN_ORDER_FILES:
        places = [i for i, item in enumerate(items) if item.path.name == name]
        steps = sorted((items[i] for i in places), key=lambda item: item.reportinfo()[1] or 0)
        for i, item in zip(places, steps):
            items[i] = item


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
