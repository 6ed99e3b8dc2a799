"""Hidden-test checks of assignment 05 (sparse autoencoder, notes §3)."""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.optimize

from . import (
    CheckFailure,
    as_floats,
    call,
    check_scalar,
    compare,
    finite_differences,
    lean,
    on_reference,
    quiet,
    reference,
    seeds,
    varies,
    yours,
)
from .attribution import Term, Terms, Variant, mean_of_entries

# ----------------------------------------------------------------------------- patches


def _patch_matrices():
    rng = np.random.default_rng(501)
    yield "a (16, 7) matrix", rng.normal(0.2, 1.0, (16, 7))
    yield "a (4, 30) matrix with outliers (clipped at 3 sigma)", rng.standard_t(2, (4, 30))
    yield "a (9, 1) matrix (m = 1)", rng.uniform(-1, 3, (9, 1))


def check_normalize_patches(normalize_patches):
    """Column means removed, clipped to +-3 sigma of all values, rescaled to [0.1, 0.9]."""
    for what, P in _patch_matrices():
        out = call(normalize_patches, "normalize_patches", P)
        row = P - P.mean(axis=1, keepdims=True)
        glob = P - P.mean()
        col_std = P - P.mean(axis=0)
        s_col = 3 * col_std.std(axis=0, keepdims=True)
        s = 3 * col_std.std()
        compare(
            "normalize_patches(P)",
            out,
            reference.normalize_patches(P),
            tol=1e-10,
            what=what,
            bugs={
                "each row's mean is removed instead of each patch's (column's) mean": _rescale(row, 3 * row.std()),
                "the mean of all values is removed instead of each patch's (column's) mean": _rescale(
                    glob, 3 * glob.std()
                ),
                "sigma is computed per patch instead of over all values": _rescale(col_std, s_col),
                "each row's mean and sigma are used (axis=1): remove each patch's (column's) mean, then clip at 3 "
                "sigma of all values": _rescale(row, 3 * row.std(axis=1, keepdims=True)),
                "sigma is the sample standard deviation (ddof=1, MATLAB's std, as in the original exercise): the "
                "course's sigma is np.std's default, ddof=0": _rescale(col_std, 3 * col_std.std(ddof=1)),
                "the values are not clipped to +-3 sigma before rescaling": (col_std / s + 1) * 0.4 + 0.1,
                "the patches are rescaled to [0, 1] instead of [0.1, 0.9]": (np.clip(col_std, -s, s) / s + 1) / 2,
            },
        )


def _rescale(p, s):
    with quiet():
        return (np.clip(p, -s, s) / s + 1) * 0.4 + 0.1


def _bounded_images():
    rng = np.random.default_rng(502)
    return rng.uniform(0, 1, (3, 12, 10))  # bounded: no value is ever clipped at 3 sigma


def _normalizes_right(normalize_patches) -> bool:
    """Whether sample_patches is judged on the reference's normalization alone: the student's normalize_patches is
    not given, is the reference's (on one matrix), or does nothing (returns its input: a sample_patches that never
    normalizes must not pass on top of it)."""
    if normalize_patches is None:
        return True
    P = np.random.default_rng(504).normal(0, 1, (9, 6))
    out = yours(normalize_patches, "normalize_patches", P)
    try:
        with quiet():
            out = np.asarray(out, dtype=float)
            return bool(
                np.allclose(out, reference.normalize_patches(P), rtol=0, atol=1e-10)
                or (out.shape == P.shape and np.allclose(out, P, rtol=0, atol=1e-10))
            )
    except (TypeError, ValueError, OverflowError):
        return False


def check_sample_patches_shape(sample_patches, normalize_patches=None):
    """sample_patches returns (patch_size**2, num_patches) in [0.1, 0.9], reproducible for a seed.

    The range is checked only when the student's normalize_patches (if given) is right: a
    normalization bug costs normalize_patches' points, not these too.
    """
    images = _bounded_images()
    check_range = _normalizes_right(normalize_patches)
    for size, num in [(4, 50), (3, 1), (5, 20)]:
        out = as_floats(call(sample_patches, "sample_patches", images, size, num, rng=7), "sample_patches(...)")
        if out.shape != (size * size, num) and out.shape in ((64, num), (size * size, 10000)):
            which = "patch_size" if out.shape[0] == 64 else "num_patches"
            raise CheckFailure(
                f"sample_patches(images, patch_size={size}, num_patches={num}) has shape {out.shape}: {which} is "
                f"ignored (its default is used); expected ({size * size}, {num})"
            )
        out = as_floats(out, "sample_patches(...)", (size * size, num))
        if out.min() < 0.1 - 1e-12 or out.max() > 0.9 + 1e-12:
            if not check_range:  # your normalize_patches is wrong: its part pays, unless it passed its own tests
                lean("normalize_patches")
                continue
            raise CheckFailure(
                f"sample_patches with patch_size={size}: values should lie in [0.1, 0.9], got "
                f"[{out.min():.4g}, {out.max():.4g}]: call normalize_patches on the patches"
            )
    a = as_floats(call(sample_patches, "sample_patches", images, 4, 30, rng=11), "sample_patches(...)")
    b = as_floats(call(sample_patches, "sample_patches", images, 4, 30, rng=11), "sample_patches(...)")
    if not np.array_equal(a, b, equal_nan=True):
        raise CheckFailure(
            "sample_patches with the same seed rng=11 gave different patches: draw the positions "
            "with np.random.default_rng(rng), not the global np.random"
        )


#: Windows check: 2 images of 5x5, 4x4 windows: 2 x 2 x 2 = 8 windows, drawn in pairs this many times.
WINDOW_DRAWS = 60


def _pairs(normalize, windows: np.ndarray) -> np.ndarray | None:
    """normalize([w_a, w_b]) for every ordered pair of windows: (k, k, n, 2); None if normalize fails."""
    k, n = windows.shape
    out = np.empty((k, k, n, 2))
    for a in range(k):
        for b in range(k):
            value = normalize(np.stack([windows[a], windows[b]], axis=1))
            if value is None:
                return None
            try:
                with quiet():
                    out[a, b] = np.asarray(value, dtype=float)
            except (TypeError, ValueError, OverflowError):
                return None
    return out


def _matching(P: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The (a, b) window pairs whose normalized matrix is P (NaN equal to NaN)."""
    with quiet():
        diff = np.abs(candidates - P)
        close = (diff <= 1e-6 * max(1.0, float(np.nanmax(np.abs(P))) if np.isfinite(P).any() else 1.0)) | (
            np.isnan(candidates) & np.isnan(P)
        )
    return np.argwhere(close.all(axis=(2, 3)))


def check_sample_patches_windows(sample_patches, normalize_patches=None):
    """Each column is one row-major window of one image, at a random position; the matrix then normalized.

    sample_patches(images, 4, 2) is called for many seeds on two 5x5 images (8 possible windows).
    Every result must be normalize_patches of a pair of windows — with the reference's
    normalization or, if given, the student's own (a normalization bug costs its own part only) —
    and over the draws every window must occur, the last row and column included, both images about
    as often, the two columns of a call from independent draws.
    """
    size = 4
    images = np.random.default_rng(502).uniform(0, 1, (2, 5, 5))
    view = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))  # (2, 2, 2, 4, 4)
    positions = list(np.ndindex(view.shape[:3]))  # (image, row, column) of each window's corner
    windows = view.reshape(len(positions), size * size)
    flipped = view.transpose(0, 1, 2, 4, 3).reshape(len(positions), size * size)

    def student(m):
        return yours(normalize_patches, "normalize_patches", m)

    ways = {"the reference": _pairs(reference.normalize_patches, windows)}
    if not _normalizes_right(normalize_patches):
        ways["your normalize_patches"] = _pairs(student, windows)
    ways = {k: v for k, v in ways.items() if v is not None}
    drawn = []  # the (a, b) window pairs identified without ambiguity
    for seed in range(WINDOW_DRAWS):
        P = as_floats(
            call(sample_patches, "sample_patches", images, size, 2, rng=seed), "sample_patches(...)", (size * size, 2)
        )
        matches = [tuple(m) for c in ways.values() for m in _matching(P, c).tolist()]
        if matches and not len(_matching(P, ways["the reference"])):
            lean("normalize_patches")  # matched with the student's own normalization only
        if not matches:
            own = normalize_patches if "your normalize_patches" in ways else None  # not a failing one again
            raise CheckFailure(_windows_message(P, seed, windows, flipped, own, student))
        if len(set(matches)) == 1:  # not ambiguous (two equal windows normalized to NaN can be)
            drawn.append(matches[0])
    _check_positions([(positions[a], positions[b]) for a, b in drawn], images.shape, size)


def _windows_message(P, seed, windows, flipped, normalize_patches, student) -> str:
    """Why sample_patches(images, 4, 2, rng=seed) is no normalized pair of windows: the bug, if a known one."""
    head = f"sample_patches(images, 4, 2, rng={seed}) on two 5x5 images: "
    norms = [reference.normalize_patches] + ([student] if normalize_patches is not None else [])
    for normalize in norms:
        pairs = _pairs(normalize, flipped)
        if pairs is not None and len(_matching(P, pairs)):
            return head + (
                "each column is a window flattened column-major (order='F') or transposed: "
                "flatten each window row-major, window.ravel()"
            )
    if len(_matching(P, _pairs(lambda pair: pair, windows))):
        return head + "the columns are raw windows: call normalize_patches on the (patch_size**2, num_patches) matrix"
    one_by_one = _pairs(
        lambda pair: np.column_stack([reference.normalize_patches(pair[:, [j]]) for j in (0, 1)]), windows
    )
    if len(_matching(P, one_by_one)):
        return head + (
            "each patch is normalized on its own: call normalize_patches once, on the whole "
            "(patch_size**2, num_patches) matrix (sigma is over all values)"
        )
    return head + (
        "the 2 columns are not two 4x4 windows of the images normalized together. Each column should be one "
        "window image[r:r+4, c:c+4].ravel() of a random image at a random corner (r, c), then normalize_patches "
        "of the whole matrix"
    )


def _check_positions(pairs: list, shape: tuple, size: int) -> None:
    """Over all the draws (pairs of (image, row, column) corners): every window was used, the last row and
    column included; both images about as often; the two columns of a call drawn independently."""
    k, height, width = shape
    rows, cols = height - size, width - size  # the largest corner row and column
    seen = [w for pair in pairs for w in pair]
    draws = len(seen)
    if not any(r == rows for _, r, _ in seen) or not any(c == cols for _, _, c in seen):
        raise CheckFailure(
            f"sample_patches: in {draws} patches of 4x4 from {height}x{width} images, no window touches the last "
            "row or the last column: the corner row goes from 0 to height - patch_size inclusive, "
            "rng.integers(height - patch_size + 1) (the same for columns)"
        )
    windows = k * (rows + 1) * (cols + 1)
    if len(set(seen)) < windows:
        raise CheckFailure(
            f"sample_patches: {draws} patches came from only {len(set(seen))} distinct windows of {windows}: "
            "pick the image and the corner at random for every patch"
        )
    for i in range(k):
        share = sum(1 for w in seen if w[0] == i) / max(draws, 1)
        if share < 0.5 / k:
            raise CheckFailure(
                f"sample_patches: image {i} gave {share:.0%} of {draws} patches (each of the {k} images should give "
                "about as many): pick the image uniformly at random for every patch"
            )
    independent = {
        "images": sum(a[0] != b[0] for a, b in pairs),
        "corners": sum(a[1:] != b[1:] for a, b in pairs),
    }
    for what, count in independent.items():
        if count < len(pairs) / 6:  # about 1/2 and 3/4 of the calls for independent draws
            raise CheckFailure(
                f"sample_patches(images, 4, 2): the two patches of a call had different {what} in only {count} of "
                f"{len(pairs)} calls: draw the image and the corner anew for every patch"
            )


# ----------------------------------------------------------------------------- initialization


def _range_hint(W, h, v) -> str:
    """What the weights' range says of how they were drawn: [0, r], a bound without its square root or its + 1."""
    low, high = float(W.min()), float(W.max())
    if low >= 0:
        return f": all weights lie in [0, {high:.3g}]; draw them in [-r, r], rng.uniform(-r, r, shape)"
    bound = max(-low, high)
    for words, value in {
        "r without its square root, 6 / (h + v + 1)": 6 / (h + v + 1),
        "sqrt(6) / (h + v + 1): the square root of h + v + 1 is missing": math.sqrt(6) / (h + v + 1),
        "r without the + 1, sqrt(6 / (h + v))": math.sqrt(6 / (h + v)),
        "[-1, 1]: r is not applied": 1.0,
        "a normal distribution: the notes draw uniformly in [-r, r]": None,
    }.items():
        if value is None:
            if (
                bound > 3 * float(W.std()) * math.sqrt(3) / 2
                and abs(float(np.mean(np.abs(W) < W.std())) - 0.683) < 0.02
            ):
                return f"; the weights look drawn from {words}"
        elif abs(bound / value - 1) < 0.02 and (
            bound > math.sqrt(6 / (h + v + 1)) or value < math.sqrt(6 / (h + v + 1))
        ):
            return f"; the weights lie in about [-{bound:.4g}, {bound:.4g}]: that is {words}"
    return ""


def check_initialize(initialize_sparse_autoencoder):
    """theta = [W1, W2, b1, b2]: weights uniform in +-sqrt(6 / (h + v + 1)), biases zero, seeded."""
    for h, v in [(25, 64), (7, 3)]:
        n = 2 * h * v + h + v
        theta = as_floats(
            call(initialize_sparse_autoencoder, "initialize_sparse_autoencoder", h, v, rng=1), "theta", (n,)
        )
        r = math.sqrt(6) / math.sqrt(h + v + 1)
        W = theta[: 2 * h * v]
        if np.any(theta[2 * h * v :] != 0):
            raise CheckFailure(f"hidden {h}, visible {v}: the biases (the last {h + v} entries of theta) should be 0")
        if np.abs(W).max() > r:
            raise CheckFailure(
                f"hidden {h}, visible {v}: weights should lie in [-r, r], r = sqrt(6)/sqrt(h+v+1) = "
                f"{r:.4g}, got a weight {W[np.abs(W).argmax()]:.4g}{_range_hint(W, h, v)}"
            )
        if np.abs(W).max() < 0.8 * r or abs(W.std() - r / math.sqrt(3)) > 0.25 * r:
            raise CheckFailure(
                f"hidden {h}, visible {v}: weights should be uniform in [-r, r], r = {r:.4g}; "
                f"got standard deviation {W.std():.4g} (expected about {r / math.sqrt(3):.4g}){_range_hint(W, h, v)}"
            )
        if np.array_equal(W[: h * v].reshape(h, v).ravel(), W[h * v :].reshape(v, h).T.ravel()):
            raise CheckFailure("W2 is W1 transposed: draw W1 and W2 independently")
        again = as_floats(call(initialize_sparse_autoencoder, "initialize_sparse_autoencoder", h, v, rng=1), "theta")
        if not np.array_equal(theta, again):
            raise CheckFailure(
                "initialize_sparse_autoencoder with the same seed rng=1 gave different theta: use "
                "np.random.default_rng(rng)"
            )
        other = as_floats(
            call(initialize_sparse_autoencoder, "initialize_sparse_autoencoder", h, v, rng=2), "theta", (n,)
        )
        if np.array_equal(other, theta):
            raise CheckFailure("initialize_sparse_autoencoder gave the same theta for seeds 1 and 2")


# ----------------------------------------------------------------------------- KL


def check_kl_divergence(kl_divergence):
    """KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat)), elementwise."""
    rng = np.random.default_rng(503)
    for rho, rho_hat in [(0.05, rng.uniform(0.01, 0.99, 6)), (0.2, rng.uniform(0.001, 0.5, (2, 3))), (0.3, 0.3)]:
        rh = np.asarray(rho_hat, dtype=float)
        out = call(kl_divergence, "kl_divergence", rho, rho_hat)
        compare(
            "kl_divergence(rho, rho_hat)",
            out,
            reference.kl_divergence(rho, rh),
            tol=1e-10,
            what=f"rho = {rho}, rho_hat of shape {rh.shape}",
            bugs={
                "the arguments are swapped: KL(rho_hat || rho)": reference.kl_divergence(rh, rho),
                "the second term (1 - rho) log((1 - rho) / (1 - rho_hat)) is missing": rho * np.log(rho / rh),
                "the ratios are inverted (the sign is flipped)": -reference.kl_divergence(rho, rh),
            },
        )


# ----------------------------------------------------------------------------- cost and gradient


def _instances():
    """(description, theta, v, h, lambda_, rho, beta, data): tiny models, random biases, beta and lambda > 0."""
    shapes = [(7, 5, 5, 3e-3, 0.2, 1.5), (8, 5, 10, 1e-3, 0.1, 3.0), (6, 4, 1, 0.01, 0.05, 0.5)]
    # m = h first: a rho_hat averaged over the wrong axis then still broadcasts, and the bug can be named
    for (v, h, m, lam, rho, beta), rng in zip(shapes, seeds(len(shapes), 505)):
        theta = rng.normal(0, 0.5, 2 * h * v + h + v)
        data = rng.uniform(0.1, 0.9, (v, m))
        yield (
            f"visible {v}, hidden {h}, m = {m}, lambda = {lam}, rho = {rho}, beta = {beta}",
            theta,
            v,
            h,
            lam,
            rho,
            beta,
            data,
        )


def _variant(theta, v, h, lam, rho, beta, data, bug=None):
    """The reference cost and gradient blocks, with known bugs put in ("no_decay+no_sparsity": two)."""
    bugs = set(bug.split("+")) if bug else set()
    W1, W2, b1, b2 = (np.array(x) for x in reference._unpack_autoencoder(theta, v, h))
    m = data.shape[1]
    f = reference.sigmoid
    a2 = f(W1 @ data + b1[:, None])
    a3 = f(W2 @ a2 + b2[:, None])
    rho_hat = a2.mean(axis=0) if "axis" in bugs else a2.mean(axis=1)
    diff = a3 - data
    k = 1.0 if "no_m" in bugs else 1.0 / m
    kl = reference.kl_divergence(rho, rho_hat)
    wd = 0.0 if "no_decay" in bugs else lam
    J = 0.5 * k * np.sum(diff**2) + 0.5 * wd * (np.sum(W1**2) + np.sum(W2**2))
    if "decay_biases" in bugs:
        J += 0.5 * lam * (np.sum(b1**2) + np.sum(b2**2))
    if "no_sparsity" not in bugs:
        J += beta * np.sum(kl)
    delta3 = diff * a3 * (1 - a3)
    sp = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    if "kl_sign" in bugs:
        sp = -sp
    if "no_sparsity" in bugs:
        sp = 0.0 * sp
    back = W2.T @ delta3
    if "axis" in bugs:
        delta2 = (back + sp[None, :]) * a2 * (1 - a2)
    elif "outside" in bugs:
        delta2 = back * a2 * (1 - a2) + sp[:, None]
    else:
        delta2 = (back + sp[:, None]) * a2 * (1 - a2)
    bias_decay = lam if "decay_biases" in bugs else 0.0
    grads = {
        "W1": delta2 @ data.T * k + wd * W1,
        "W2": delta3 @ a2.T * k + wd * W2,
        "b1": delta2.sum(axis=1) * k + bias_decay * b1,
        "b2": delta3.sum(axis=1) * k + bias_decay * b2,
    }
    return float(J), grads


BUGS = {
    "no_sparsity": "the sparsity term is missing (beta sum KL(rho || rho_hat) and its derivative)",
    "outside": "the sparsity term is added outside f'(z2): it belongs inside, (W2^T delta3 + beta(...)) * f'(z2)",
    "kl_sign": "the derivative of the sparsity term has the wrong sign: beta (-rho/rho_hat + (1-rho)/(1-rho_hat))",
    "no_decay": "the weight decay term (lambda) is missing",
    "decay_biases": "weight decay is applied to the biases as well (it applies to W1 and W2 only)",
    "no_m": "the 1/m factor is missing (average over the m examples)",
    "axis": "rho_hat is averaged over the wrong axis: it is the mean of a2 over the examples (axis=1)",
    "no_decay+no_sparsity": "both the weight decay and the sparsity terms are missing (a plain autoencoder's cost)",
}


def _parts(theta, v, h, lam, rho, beta, data, at="z", sparsity="inside", rho_hat="mean"):
    """{block ("cost", "W1", "W2", "b1", "b2"): {term: value}}: J_sparse and its gradient split into the notes'
    terms: "error" (the squared error), "decay" (weight decay), "sparsity" (beta sum KL and its derivative),
    "bias decay" (weight decay on the biases, not in the notes).

    Or computed another way: ``at`` "a" (f' at a instead of z), "no_bias" (without the bias) or "no_output" (delta3
    without f'(z3)); ``sparsity``
    "outside" (added outside f'(z2)) or "swapped" (KL(rho_hat || rho)); ``rho_hat`` "sum" (not divided by m).
    """
    W1, W2, b1, b2 = (np.array(x) for x in reference._unpack_autoencoder(theta, v, h))
    m = data.shape[1]
    z2, z2_bare = W1 @ data + b1[:, None], W1 @ data
    a2 = reference.sigmoid(z2)
    z3, z3_bare = W2 @ a2 + b2[:, None], W2 @ a2
    a3 = reference.sigmoid(z3)
    average = a2.mean(axis=1) * (m if rho_hat == "sum" else 1)

    def fp(z_bare, a):
        s = {"z": a, "a": reference.sigmoid(a), "no_bias": reference.sigmoid(z_bare), "no_output": a}[at]
        return s * (1 - s)

    delta3 = (a3 - data) * (1.0 if at == "no_output" else fp(z3_bare, a3))
    f2 = fp(z2_bare, a2)
    error2 = (W2.T @ delta3) * f2
    with quiet():
        kl = reference.kl_divergence(*((average, rho) if sparsity == "swapped" else (rho, average)))
        sp = beta * (-rho / average + (1 - rho) / (1 - average))
    sparse2 = np.broadcast_to(sp[:, None], a2.shape) * (1.0 if sparsity == "outside" else f2)
    return {
        "cost": {
            "error": 0.5 * np.sum((a3 - data) ** 2) / m,
            "decay": 0.5 * lam * (np.sum(W1**2) + np.sum(W2**2)),
            "sparsity": beta * float(np.sum(kl)),
            "bias decay": 0.5 * lam * (np.sum(b1**2) + np.sum(b2**2)),
        },
        "W1": {"error": error2 @ data.T / m, "decay": lam * W1, "sparsity": sparse2 @ data.T / m},
        "W2": {"error": delta3 @ a2.T / m, "decay": lam * W2},
        "b1": {"error": error2.sum(axis=1) / m, "sparsity": sparse2.sum(axis=1) / m, "bias decay": lam * b1},
        "b2": {"error": delta3.sum(axis=1) / m, "bias decay": lam * b2},
    }


#: What a NaN in J_sparse or its gradient usually means.
NAN_HINT = (
    "KL(rho || rho_hat) is defined for rho_hat in (0, 1) only, and log of a negative number is nan: rho_hat_j is "
    "the average activation of hidden unit j over the m examples, a2.mean(axis=1) (a sum leaves (0, 1))"
)

#: {(keyword of _parts, its value): what that way of computing is, in words}.
OTHER_WAYS = {
    ("at", "a"): "f' is evaluated at a instead of z: f'(z) = a(1 - a), where a = f(z) (not f(a)(1 - f(a)))",
    ("at", "no_bias"): "f'(z) is computed without the bias: z2 = W1 x + b1, z3 = W2 a2 + b2",
    ("at", "no_output"): "delta3 is not multiplied by f'(z3) = a3 (1 - a3)",
    ("sparsity", "outside"): BUGS["outside"],
    ("sparsity", "swapped"): "the arguments of KL are swapped: the sparsity term is KL(rho || rho_hat), rho first",
    ("rho_hat", "sum"): "rho_hat is the sum of a2 over the examples, not its average: rho_hat = a2.mean(axis=1)",
}


def _terms(block, theta, v, h, lam, rho, beta, data) -> Terms:
    """The notes' terms of J_sparse (block "cost") or of one gradient block, and other ways to compute them."""
    args = (theta, v, h, lam, rho, beta, data)
    cost = block == "cost"
    names = {
        "error": "the squared-error term (1/m) sum (1/2)||a3 - x||^2" if cost else "the squared-error part",
        "decay": "the weight decay term (lambda/2)(sum W1^2 + sum W2^2)"
        if cost
        else f"the weight decay term lambda {block}",
        "sparsity": "the sparsity term beta sum_j KL(rho || rho_hat_j)"
        if cost
        else "the sparsity part beta (-rho/rho_hat + (1-rho)/(1-rho_hat)) f'(z2)",
        "bias decay": "weight decay of the biases",
    }
    base = _parts(*args)[block]
    terms = []
    for key, value in base.items():
        if key == "bias decay":
            terms.append(Term(names[key], value, 0.0, "weight decay is applied to the biases too (only to W1 and W2)"))
        elif key == "sparsity" and not cost:
            terms.append(
                Term(names[key], value, scales={1 / beta: "beta is missing from the sparsity term's derivative"})
            )
        elif key == "sparsity":
            over_units = (
                f"the KL divergences are averaged over the {h} hidden units (np.mean): the sparsity term sums them"
            )
            terms.append(
                Term(names[key], value, scales={1 / beta: "beta is missing from the sparsity term", 1 / h: over_units})
            )
        elif key == "error" and cost:
            terms.append(Term(names[key], value, scales=mean_of_entries(v)))
        else:
            terms.append(Term(names[key], value))
    variants = []
    for (keyword, way), says in OTHER_WAYS.items():
        other = _parts(*args, **{keyword: way})[block]
        changed = {names[k]: value for k, value in other.items() if k != "bias decay" and not _equal(value, base[k])}
        if changed and all(np.all(np.isfinite(value)) for value in changed.values()):
            variants.append(Variant(changed, says))
    others = {}
    if not cost:  # grad's blocks in another order: the slice of this block holds (part of) another's
        _, g = reference.sparse_autoencoder_cost(*args)
        W1g, W2g = g[: h * v], g[h * v : 2 * h * v]
        b1g, b2g = g[2 * h * v : 2 * h * v + h], g[2 * h * v + h :]
        orders = {
            "dJ/dW1 and dJ/dW2 are swapped in grad: it is [dW1.ravel(), dW2.ravel(), db1, db2]": [W2g, W1g, b1g, b2g],
            "dJ/db1 and dJ/db2 are swapped in grad: it is [dW1.ravel(), dW2.ravel(), db1, db2]": [W1g, W2g, b2g, b1g],
        }
        sl, shape = _slices(v, h)[block]
        for words, order in orders.items():
            others[words] = np.concatenate(order)[sl].reshape(shape)
    return Terms(terms, m=data.shape[1], variants=variants, others=others, nan_hint=NAN_HINT)


def _equal(a, b) -> bool:
    return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))


def _layouts(v, h):
    """{bug: (read, write)}: theta layouts of public ports of the exercise, read into and written from
    (W1, W2, b1, b2). The course's is [W1.ravel(), W2.ravel(), b1, b2], each row-major."""
    n = h * v
    return {
        "theta is read and written column-major (MATLAB's W1(:), order='F'), or with W1 and W2 transposed: "
        "theta is [W1.ravel(), W2.ravel(), b1, b2], each row-major": (
            lambda t: (
                t[:n].reshape(h, v, order="F"),
                t[n : 2 * n].reshape(v, h, order="F"),
                t[2 * n : 2 * n + h],
                t[2 * n + h :],
            ),
            lambda W1, W2, b1, b2: np.concatenate([W1.ravel(order="F"), W2.ravel(order="F"), b1, b2]),
        ),
        "theta is read and written with the biases first: theta is [W1.ravel(), W2.ravel(), b1, b2]": (
            lambda t: (t[h + v : h + v + n].reshape(h, v), t[h + v + n :].reshape(v, h), t[:h], t[h : h + v]),
            lambda W1, W2, b1, b2: np.concatenate([b1, b2, W1.ravel(), W2.ravel()]),
        ),
    }


def _bugs(block, theta, v, h, lam, rho, beta, data):
    out = {}
    single = [k for k in BUGS if "+" not in k and (k != "axis" or data.shape[1] == h)]
    named_pairs = [k for k in BUGS if "+" in k]
    other_pairs = [f"{a}+{b}" for i, a in enumerate(single) for b in single[i + 1 :] if f"{a}+{b}" not in BUGS]
    for key in single + named_pairs + other_pairs:  # one bug, then two at once
        J, grads = _variant(theta, v, h, lam, rho, beta, data, key)
        text = BUGS.get(key) or "; and ".join(BUGS[k] for k in key.split("+"))
        out.setdefault(text, J if block == "cost" else grads[block])
    slices = _slices(v, h)
    for text, (read, write) in _layouts(v, h).items():  # a right cost, on theta in another layout
        W1, W2, b1, b2 = read(theta)
        J, g = reference.sparse_autoencoder_cost(
            np.concatenate([W1.ravel(), W2.ravel(), b1, b2]), v, h, lam, rho, beta, data
        )
        written = write(*(g[sl].reshape(shape) for sl, shape in slices.values()))
        sl, shape = slices[block] if block != "cost" else (None, None)
        out[text] = J if block == "cost" else written[sl].reshape(shape)
    return out


def _student(sparse_autoencoder_cost, theta, v, h, lam, rho, beta, data):
    result = call(sparse_autoencoder_cost, "sparse_autoencoder_cost", theta, v, h, lam, rho, beta, data)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure("sparse_autoencoder_cost should return a pair (cost, grad)")
    return result


def _own_kl_cost(kl_divergence, J, theta, v, h, rho, beta, data) -> float | None:
    """J with the sparsity penalty computed by the student's own kl_divergence (None if it fails)."""
    W1, _, b1, _ = reference._unpack_autoencoder(theta, v, h)
    rho_hat = reference.sigmoid(W1 @ data + b1[:, None]).mean(axis=1)
    value = yours(kl_divergence, "kl_divergence", rho, rho_hat)
    if value is None or not varies(value):
        return None  # a KL of zeros (or constant) would make a cost without the sparsity term pass
    try:
        with quiet():
            own = float(np.sum(np.asarray(value, dtype=float)))
    except (TypeError, ValueError, OverflowError):
        return None
    if abs(beta * own) <= 1e-9 * max(1.0, abs(J)):
        return None  # a KL that sums to 0 would make a cost without the sparsity term pass
    return J - beta * float(np.sum(reference.kl_divergence(rho, rho_hat))) + beta * own


def check_sae_cost(sparse_autoencoder_cost, kl_divergence=None):
    """J_sparse: mean squared error / 2 + weight decay + beta sum_j KL(rho || rho_hat_j).

    With kl_divergence given, J_sparse computed with the student's own KL is accepted too.
    """
    for what, theta, v, h, lam, rho, beta, data in _instances():
        cost, _ = _student(sparse_autoencoder_cost, theta, v, h, lam, rho, beta, data)
        J, _ = reference.sparse_autoencoder_cost(theta, v, h, lam, rho, beta, data)
        also = _own_kl_cost(kl_divergence, J, theta, v, h, rho, beta, data) if kl_divergence is not None else None
        if also is None:
            kl_divergence = None  # a failing (or hanging) kl_divergence is called once, not once per instance
        check_scalar(
            "J_sparse",
            cost,
            J,
            tol=1e-9,
            what=what,
            bugs=_bugs("cost", theta, v, h, lam, rho, beta, data),
            also=also,
            terms=functools.partial(_terms, "cost", theta, v, h, lam, rho, beta, data),
            basis="kl_divergence",
        )


def _slices(v, h):
    return {
        "W1": (slice(0, h * v), (h, v)),
        "W2": (slice(h * v, 2 * h * v), (v, h)),
        "b1": (slice(2 * h * v, 2 * h * v + h), (h,)),
        "b2": (slice(2 * h * v + h, 2 * h * v + h + v), (v,)),
    }


def _check_grad(sparse_autoencoder_cost, block):
    for what, theta, v, h, lam, rho, beta, data in _instances():
        _, grad = _student(sparse_autoencoder_cost, theta, v, h, lam, rho, beta, data)
        n = theta.size
        grad = as_floats(grad, "grad")
        if grad.shape != (n,):
            raise CheckFailure(
                f"grad has shape {grad.shape} on {what}: expected ({n},), unrolled like theta "
                "[W1.ravel(), W2.ravel(), b1, b2]"
            )
        args = (v, h, lam, rho, beta, data)
        numeric = finite_differences(lambda t, args=args: reference.sparse_autoencoder_cost(t, *args)[0], theta)
        sl, shape = _slices(v, h)[block]
        compare(
            f"dJ/d{block}",
            grad[sl].reshape(shape),
            numeric[sl].reshape(shape),
            tol=1e-6,
            what=what,
            bugs=_bugs(block, theta, v, h, lam, rho, beta, data),
            terms=functools.partial(_terms, block, theta, v, h, lam, rho, beta, data),
        )


def check_sae_grad_W1(sparse_autoencoder_cost):
    """dJ/dW1 (the first h*v entries of grad) matches central differences of J_sparse."""
    _check_grad(sparse_autoencoder_cost, "W1")


def check_sae_grad_W2(sparse_autoencoder_cost):
    """dJ/dW2 (entries h*v to 2*h*v of grad) matches central differences of J_sparse."""
    _check_grad(sparse_autoencoder_cost, "W2")


def check_sae_grad_b1(sparse_autoencoder_cost):
    """dJ/db1 matches central differences of J_sparse."""
    _check_grad(sparse_autoencoder_cost, "b1")


def check_sae_grad_b2(sparse_autoencoder_cost):
    """dJ/db2 matches central differences of J_sparse."""
    _check_grad(sparse_autoencoder_cost, "b2")


# ----------------------------------------------------------------------------- training


def _trained_cost(J, theta0, iterations) -> tuple[float, float]:
    """(J at theta0, J after L-BFGS from theta0): the yardstick of a training, for the cost J(theta) -> (J, grad)."""
    options = {"maxiter": iterations, "maxfun": int(1.5 * iterations)}  # a bound on the calls of a student's J
    result = scipy.optimize.minimize(J, theta0, jac=True, method="L-BFGS-B", options=options)
    return float(J(theta0)[0]), float(J(result.x)[0])


def _own_cost(sparse_autoencoder_cost, args):
    """The student's cost as J(theta) -> (float, float array) for scipy; CheckFailure if it fails."""

    def J(theta):
        value = call(sparse_autoencoder_cost, "sparse_autoencoder_cost", theta, *args)
        try:
            with quiet():
                cost, grad = value
                return float(cost), as_floats(grad, "grad", theta.shape)
        except (TypeError, ValueError, OverflowError):
            raise CheckFailure("sparse_autoencoder_cost should return (cost, grad)") from None

    return J


def _trains_own_cost(sparse_autoencoder_cost, theta, args, iterations) -> bool:
    """Whether theta minimizes the student's own (wrong) cost as well as L-BFGS does: then the cost's parts pay."""
    if sparse_autoencoder_cost is None:
        return False
    try:
        J = _own_cost(sparse_autoencoder_cost, args)
        start, best = _trained_cost(J, reference.initialize_sparse_autoencoder(args[1], args[0], rng=0), iterations)
        mine = J(theta)[0]
    except (CheckFailure, ArithmeticError, ValueError):  # a cost that fails or misbehaves: judged by the reference
        return False
    return bool(np.isfinite(best) and start > best and mine <= best + 0.1 * (start - best))


def _broken(sparse_autoencoder_cost, args) -> bool:
    """Whether the student's cost raises, or gives a J or a gradient that is not finite, at a usual initial theta."""
    try:
        J, grad = _own_cost(sparse_autoencoder_cost, args)(reference.initialize_sparse_autoencoder(args[1], args[0], 0))
    except (CheckFailure, ArithmeticError, ValueError):
        return True
    return not (np.isfinite(J) and np.all(np.isfinite(grad)))


def _seeded(initialize_sparse_autoencoder, h, v) -> bool:
    """Whether the student's initialization (if given) is the same for a seed and differs between seeds."""
    if initialize_sparse_autoencoder is None:
        return True
    a, b, c = (yours(initialize_sparse_autoencoder, "initialize_sparse_autoencoder", h, v, rng=k) for k in (0, 0, 1))
    try:
        with quiet():
            a, b, c = (np.asarray(x, dtype=float) for x in (a, b, c))
    except (TypeError, ValueError, OverflowError):
        return False
    return a.ndim > 0 and np.array_equal(a, b) and not np.array_equal(a, c)


#: The cost's arguments check_train trains with, and another value of each (a train that ignores one trains with
#: its default; these are far enough from the defaults to move theta).
TRAIN_ARGUMENTS = {"lambda_": 1e-4, "rho": 0.1, "beta": 3.0}
OTHER_TRAIN_ARGUMENTS = {"lambda_": 0.1, "rho": 0.3, "beta": 0.5}


def _ignored_arguments(train, sparse_autoencoder_cost, theta, data, h, iterations):
    """(name, other value) of each cost argument train_sparse_autoencoder ignores: trained with it changed, the same
    theta. Not train's if the student's own cost ignores it too (the cost's parts pay for that)."""
    v, n = data.shape[0], theta.size
    for name, value in OTHER_TRAIN_ARGUMENTS.items():
        changed = TRAIN_ARGUMENTS | {name: value}
        out = call(train, "train_sparse_autoencoder", data, h, *changed.values(), iterations, rng=0)
        if not np.array_equal(as_floats(out, "theta", (n,)), theta):
            continue
        if sparse_autoencoder_cost is not None:
            try:
                base, other = (
                    _own_cost(sparse_autoencoder_cost, (v, h, *a.values(), data))(theta)[0]
                    for a in (TRAIN_ARGUMENTS, changed)
                )
            except (CheckFailure, ArithmeticError, ValueError):
                continue  # a cost that fails: its own parts say so
            if base == other:
                lean("sparse_autoencoder_cost")
                continue
        yield name, value


def _ignored(name: str, value: float) -> CheckFailure:
    return CheckFailure(
        f"train_sparse_autoencoder gave the same theta for {name}={TRAIN_ARGUMENTS[name]} and {name}={value}: "
        f"pass {name} on to sparse_autoencoder_cost (it trains with its default whatever it is given)"
    )


def check_train(train_sparse_autoencoder, sparse_autoencoder_cost=None, initialize_sparse_autoencoder=None):
    """On a tiny problem, the trained theta reaches (about) the cost L-BFGS reaches with the reference.

    With the student's cost (and initialization) given, a train that minimizes the student's own
    wrong cost is accepted (the cost's parts pay for that bug), and one whose initialization is not
    reproducible is not blamed for it. max_iter and rng must be used, and lambda_, rho and beta passed on.
    """
    rng = np.random.default_rng(507)
    v, h, iterations = 9, 4, 100
    data = reference.normalize_patches(rng.normal(0, 1, (v, 40)))
    args = (v, h, *TRAIN_ARGUMENTS.values(), data)
    n = 2 * h * v + h + v
    if sparse_autoencoder_cost is not None and _broken(sparse_autoencoder_cost, args):
        # a cost that raises or gives nan cannot be minimized: training is judged with the reference's cost in its
        # place (the cost's parts pay for it)
        on_ours = on_reference(train_sparse_autoencoder, sparse_autoencoder_cost=reference.sparse_autoencoder_cost)
        if on_ours is not None:
            train_sparse_autoencoder, sparse_autoencoder_cost = on_ours, None
            lean("sparse_autoencoder_cost")

    def train(max_iter, seed):
        out = call(
            train_sparse_autoencoder, "train_sparse_autoencoder", data, h, *TRAIN_ARGUMENTS.values(), max_iter, rng=seed
        )
        return as_floats(out, "theta", (n,))

    theta = train(iterations, 0)
    J0, J_ref = _trained_cost(
        lambda t: reference.sparse_autoencoder_cost(t, *args),
        reference.initialize_sparse_autoencoder(h, v, rng=0),
        iterations,
    )
    J, _ = reference.sparse_autoencoder_cost(theta, *args)
    if not J <= J_ref + 0.1 * (J0 - J_ref):
        if _trains_own_cost(sparse_autoencoder_cost, theta, args, iterations):
            lean("sparse_autoencoder_cost")  # it trains your (wrong) cost well: the cost's parts pay
        else:
            # it trains, but not this cost: an argument not passed on? (told apart from a cost that ignores it only
            # with the student's cost)
            if sparse_autoencoder_cost is not None and not np.array_equal(train(2, 0), theta):
                for name, value in _ignored_arguments(
                    train_sparse_autoencoder, sparse_autoencoder_cost, theta, data, h, iterations
                ):
                    raise _ignored(name, value)
            raise CheckFailure(
                f"train_sparse_autoencoder on {v} visible, {h} hidden units, 40 examples, {iterations} iterations: "
                f"J_sparse of the trained theta is {J:.6g}; it starts near {J0:.6g} and L-BFGS reaches "
                f"{J_ref:.6g}. Minimize sparse_autoencoder_cost with L-BFGS (scipy.optimize.minimize, the gradient "
                "given with jac=True) starting from initialize_sparse_autoencoder"
            )
    if np.array_equal(train(2, 0), theta):
        raise CheckFailure(
            f"train_sparse_autoencoder gave the same theta for max_iter=2 and max_iter={iterations}: "
            "pass max_iter to the optimizer (the number of iterations it may take)"
        )
    ignored = _ignored_arguments(train_sparse_autoencoder, sparse_autoencoder_cost, theta, data, h, iterations)
    for name, value in ignored:  # the first one found
        raise _ignored(name, value)
    if not _seeded(initialize_sparse_autoencoder, h, v):
        lean("initialize_sparse_autoencoder")
        return  # initialize_sparse_autoencoder's part says so; training cannot be seeded on top of it
    if not np.array_equal(train(iterations, 0), theta):
        raise CheckFailure(
            "train_sparse_autoencoder gave two different thetas for the same seed rng=0: start from "
            "initialize_sparse_autoencoder(hidden_size, visible_size, rng)"
        )
    if np.array_equal(train(iterations, 1), theta):
        raise CheckFailure(
            "train_sparse_autoencoder gave the same theta for the seeds rng=0 and rng=1: pass rng to "
            "initialize_sparse_autoencoder"
        )
