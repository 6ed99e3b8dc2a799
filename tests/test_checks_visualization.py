"""Unit tests of the hidden-test checks of assignment 06 (visualization)."""

import math

import numpy as np
import pytest

from autograder import reference as R
from autograder.checks import CheckFailure, visualization


def test_reference_passes():
    visualization.check_max_activation_inputs(R.max_activation_inputs)
    visualization.check_display_network_layout(R.display_network)
    visualization.check_display_network_values(R.display_network)


@pytest.mark.parametrize(
    ("bug", "words"),
    [
        (lambda W1: W1 / np.linalg.norm(W1, axis=0), "each column"),
        (lambda W1: W1 / np.sum(W1 * W1, axis=1, keepdims=True), "squared norm"),
        (lambda W1: W1 / np.linalg.norm(W1), "whole matrix"),
        (lambda W1: np.array(W1), "without normalizing"),
    ],
)
def test_max_activation_bugs_are_named(bug, words):
    with pytest.raises(CheckFailure, match=words):
        visualization.check_max_activation_inputs(bug)


def test_max_activation_naive_loop_passes_quietly(capfd):
    def naive(W1):
        out = []
        for row in W1:
            out.append([w / math.sqrt(sum(x * x for x in row)) for w in row])
        np.float64(1) / np.float64(0)  # a warning that must not reach stderr
        return out

    visualization.check_max_activation_inputs(naive)
    assert capfd.readouterr().err == ""


def test_max_activation_in_place_fails():
    def inplace(W1):
        W1 /= np.linalg.norm(W1, axis=1, keepdims=True)
        return W1

    with pytest.raises(CheckFailure, match="modified"):
        visualization.check_max_activation_inputs(inplace)


def _display(A, cols=None, order="C", per_patch=True, centre=True, border=-1.0, fill="rows"):
    A = np.asarray(A, dtype=float)
    n, M = A.shape
    sz = math.isqrt(n)
    cols = math.ceil(math.sqrt(M)) if cols is None else cols
    rows = math.ceil(M / cols)
    if centre:
        A = A - A.mean()
    top = np.abs(A).max()
    image = np.full((1 + rows * (sz + 1), 1 + cols * (sz + 1)), border)
    for k in range(M):
        r, c = divmod(k, cols) if fill == "rows" else (k % rows, k // rows)
        patch = A[:, k].reshape(sz, sz, order=order)
        patch = patch / (np.abs(patch).max() if per_patch else top)
        image[1 + r * (sz + 1) : 1 + r * (sz + 1) + sz, 1 + c * (sz + 1) : 1 + c * (sz + 1) + sz] = patch
    return image


def test_loop_display_passes():
    visualization.check_display_network_layout(_display)
    visualization.check_display_network_values(_display)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"order": "F"}, "column-major"),
        ({"per_patch": False}, "of all patches"),
        ({"centre": False}, "mean of all of A"),
        ({"fill": "cols"}, "column by column"),
    ],
)
def test_display_bugs_are_named(kwargs, words):
    if "fill" not in kwargs:  # filling by columns also moves the unused cells: the layout check fails too
        visualization.check_display_network_layout(lambda A, cols=None: _display(A, cols, **kwargs))
    with pytest.raises(CheckFailure, match=words):
        visualization.check_display_network_values(lambda A, cols=None: _display(A, cols, **kwargs))


def test_display_border_zero_fails_layout_only_and_is_named():
    def display(A, cols=None):
        return _display(A, cols, border=0.0)

    with pytest.raises(CheckFailure, match="are 0 instead of -1"):
        visualization.check_display_network_layout(display)
    visualization.check_display_network_values(display)  # the patches are right: one bug, one part


def test_display_border_of_another_value_fails_layout():
    with pytest.raises(CheckFailure, match="should be -1"):
        visualization.check_display_network_layout(lambda A, cols=None: _display(A, cols, border=1.0))


def test_display_without_border_fails_layout():
    with pytest.raises(CheckFailure, match="shape"):
        visualization.check_display_network_layout(lambda A, cols=None: _display(A, cols)[1:, 1:])
