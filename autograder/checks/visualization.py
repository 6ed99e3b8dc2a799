"""Hidden-test checks of assignment 06 (visualization, notes §4)."""

from __future__ import annotations

import math

import numpy as np

from . import CheckFailure, as_floats, call, compare, lean, reference, seeds


def _weights():
    """(description, W1) instances: non-square, rows of very different norms, a single unit."""
    for k, rng in enumerate(seeds(3, 601)):
        h, v = [(5, 9), (25, 64), (1, 4)][k]
        W1 = rng.normal(0, 1, (h, v)) * rng.uniform(0.01, 10, (h, 1))
        yield f"W1 of shape {(h, v)}", W1


def check_max_activation_inputs(max_activation_inputs):
    """Row i is W1[i] / ||W1[i]||: the unit-norm input that maximally activates hidden unit i."""
    for what, W1 in _weights():
        out = call(max_activation_inputs, "max_activation_inputs", W1)
        row = np.linalg.norm(W1, axis=1, keepdims=True)
        col = np.linalg.norm(W1, axis=0, keepdims=True)
        compare(
            "max_activation_inputs(W1)",
            out,
            reference.max_activation_inputs(W1),
            tol=1e-10,
            what=what,
            bugs={
                "each column of W1 is normalized instead of each row (use axis=1)": W1 / col,
                "the rows are divided by their squared norm ||W1[i]||^2 instead of the norm": W1 / row**2,
                "W1 is divided by the norm of the whole matrix instead of each row's norm": W1 / np.linalg.norm(W1),
                "W1 is returned without normalizing": W1,
            },
        )


def _patch_sets():
    """(description, A, cols) instances: a full square grid, unused cells, cols given, tiny and 8x8 patches."""
    rng = np.random.default_rng(606)
    yield "9 patches of 3x3 (a full 3x3 grid)", rng.normal(0.3, 1, (9, 9)), None
    yield "10 patches of 2x2 (3 rows of 4, 2 cells unused)", rng.normal(-0.2, 1, (4, 10)), None
    yield "7 patches of 3x3 with cols=2", rng.uniform(0, 1, (9, 7)), 2
    yield "25 patches of 8x8", rng.normal(0, 1, (64, 25)), None
    yield "1 patch of 4x4", rng.normal(1, 1, (16, 1)), None


def _layout(n, M, cols):
    """(rows, cols, sz, border mask) of display_network's image: True where the pixel must be -1."""
    sz = math.isqrt(n)
    cols = math.ceil(math.sqrt(M)) if cols is None else cols
    rows = math.ceil(M / cols)
    mask = np.ones((1 + rows * (sz + 1), 1 + cols * (sz + 1)), dtype=bool)
    for k in range(M):
        r, c = divmod(k, cols)
        mask[1 + r * (sz + 1) : 1 + r * (sz + 1) + sz, 1 + c * (sz + 1) : 1 + c * (sz + 1) + sz] = False
    return rows, cols, sz, mask


def _call_display(display_network, A, cols):
    if cols is None:
        return call(display_network, "display_network", A)
    try:
        return call(display_network, "display_network", A, cols=cols)
    except CheckFailure as failure:
        if "TypeError" in str(failure) and "cols" in str(failure):
            raise CheckFailure(
                f"display_network(A, cols={cols}) raised {str(failure).split(' raised ', 1)[-1]}: it takes the number "
                "of grid columns as cols (by default None, then ceil(sqrt(M)))"
            ) from None
        raise


def check_display_network_layout(display_network):
    """The image has shape (1 + rows (sz+1), 1 + cols (sz+1)); borders and unused cells are -1."""
    for what, A, cols in _patch_sets():
        rows, ncols, sz, mask = _layout(A.shape[0], A.shape[1], cols)
        shape = mask.shape
        out = _call_display(display_network, A, cols)
        got = as_floats(out, "display_network(A)")
        default = _layout(A.shape[0], A.shape[1], None)[3].shape
        if got.shape != shape and cols is not None and got.shape == default:
            raise CheckFailure(
                f"display_network(A, cols={cols}) on {what} has shape {got.shape}, that of the default grid: cols is "
                f"ignored; expected {shape}, {rows} rows and {ncols} columns"
            )
        if got.shape != shape:
            raise CheckFailure(
                f"display_network(A) on {what} has shape {got.shape}, expected {shape}: "
                f"{rows} rows and {ncols} columns of {sz}x{sz} patches with a 1-pixel border around and between them"
            )
        bad = np.argwhere(mask & (got != -1.0))
        if bad.size and np.all(got[mask] == 0):
            raise CheckFailure(
                f"display_network(A) on {what}: the border and the unused grid cells are 0 instead of -1 "
                "(black in the figure): start from an image filled with -1, not np.zeros"
            )
        if bad.size:
            i, j = (int(x) for x in bad[0])
            raise CheckFailure(
                f"display_network(A) on {what}: pixel [{i}, {j}] should be -1 (border or unused grid cell), "
                f"got {got[i, j]:.6g}; {len(bad)} such pixels are not -1"
            )


def _variants(A, cols):
    """Images that known bugs produce, from the reference with the bug put in its input."""
    n, M = A.shape
    sz = math.isqrt(n)
    flipped = A.reshape(sz, sz, M).transpose(1, 0, 2).reshape(n, M)  # each patch transposed
    bugs = {
        "the patches are reshaped column-major (order='F') or transposed: use a row-major reshape": flipped,
    }
    out = {k: reference.display_network(v, cols) for k, v in bugs.items()}
    centred = A - A.mean()
    out["each patch is scaled by the largest absolute value of all patches instead of its own"] = _global_scale(
        centred, cols
    )
    out["the mean of all of A is not subtracted first"] = _no_mean(A, cols)
    out["each patch is divided by its largest value, not its largest absolute value"] = _by_max(A, cols)
    rows, ncols = math.ceil(M / (cols or math.ceil(math.sqrt(M)))), cols or math.ceil(math.sqrt(M))
    if rows * ncols == M:  # a full grid: filling column by column is a permutation of the patches
        order = [c * rows + r for r in range(rows) for c in range(ncols)]
        out["the grid is filled column by column instead of row by row"] = reference.display_network(A[:, order], cols)
    return out


def _global_scale(centred, cols):
    image = reference.display_network(centred, cols)
    n, M = centred.shape
    rows, ncols, sz, mask = _layout(n, M, cols)
    peak = np.abs(centred).max(axis=0)
    top = peak.max()
    for k in range(M):
        r, c = divmod(k, ncols)
        sl = np.s_[1 + r * (sz + 1) : 1 + r * (sz + 1) + sz, 1 + c * (sz + 1) : 1 + c * (sz + 1) + sz]
        image[sl] = image[sl] * peak[k] / top
    return image


def _by_max(A, cols):
    """display_network with each patch divided by its largest value (not its largest |value|)."""
    centred = A - A.mean()
    image = reference.display_network(centred, cols)
    n, M = A.shape
    rows, ncols, sz, mask = _layout(n, M, cols)
    for k in range(M):
        r, c = divmod(k, ncols)
        peak, top = np.abs(centred[:, k]).max(), centred[:, k].max()
        sl = np.s_[1 + r * (sz + 1) : 1 + r * (sz + 1) + sz, 1 + c * (sz + 1) : 1 + c * (sz + 1) + sz]
        with np.errstate(all="ignore"):
            image[sl] = image[sl] * peak / top
    return image


def _no_mean(A, cols):
    """display_network without the mean removal: shift A so that the reference's subtraction is undone."""
    image = reference.display_network(A, cols)
    n, M = A.shape
    rows, ncols, sz, mask = _layout(n, M, cols)
    for k in range(M):
        r, c = divmod(k, ncols)
        patch = A[:, k].reshape(sz, sz)
        peak = np.abs(patch).max()
        sl = np.s_[1 + r * (sz + 1) : 1 + r * (sz + 1) + sz, 1 + c * (sz + 1) : 1 + c * (sz + 1) + sz]
        image[sl] = patch / peak if peak > 0 else 0.0
    return image


#: What a failure of the layout looks like (then the values' part skips that image): a wrong shape, a cols argument
#: not taken, a grid size left a float.
LAYOUT_FAILURES = ("has shape", "cols", "cannot be interpreted as an integer")
#: The fewest images (of 5) whose values must be judged.
MIN_JUDGED = 3


def check_display_network_values(display_network):
    """Each patch is row-major, minus the mean of all of A, divided by its own largest |value|, placed row by row.

    Only the patch pixels are judged here: the border and the unused cells are the layout's part, and so is an
    image of the wrong shape or a call that raises (a cols argument not taken, a grid size that is a float): that
    instance is skipped here, not failed twice. At least one instance must be judged.
    """
    judged, skipped = 0, None
    for what, A, cols in _patch_sets():
        expected = reference.display_network(A, cols)
        try:
            got = as_floats(_call_display(display_network, A, cols), "display_network(A)", expected.shape)
        except CheckFailure as failure:  # a wrong shape, cols not taken, a grid size left a float: the layout's
            if not any(words in str(failure) for words in LAYOUT_FAILURES):
                raise
            skipped = skipped or f"{what}: {failure}"
            continue
        mask = _layout(A.shape[0], A.shape[1], cols)[3]
        got = np.where(mask, expected, got)  # a wrong border costs the layout's points, not these too
        compare("display_network(A)", got, expected, tol=1e-10, what=what, bugs=_variants(A, cols))
        judged += 1
    if judged < MIN_JUDGED:
        raise CheckFailure(f"display_network's values could be judged on {judged} image(s) only: {skipped}")
    if skipped:
        lean("display_network:check_display_network_layout")  # taken back if that part passed after all
