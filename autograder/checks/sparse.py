"""Hidden-test checks of assignment 05 (sparse autoencoder, notes §3)."""

from __future__ import annotations

import math

import numpy as np

from . import CheckFailure, as_floats, call, check_scalar, compare, finite_differences, quiet, reference, seeds

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


def check_sample_patches_shape(sample_patches):
    """sample_patches returns (patch_size**2, num_patches) in [0.1, 0.9], reproducible for a seed."""
    images = _bounded_images()
    for size, num in [(4, 50), (3, 1), (5, 20)]:
        out = as_floats(
            call(sample_patches, "sample_patches", images, size, num, rng=7), "sample_patches(...)", (size * size, num)
        )
        if out.min() < 0.1 - 1e-12 or out.max() > 0.9 + 1e-12:
            raise CheckFailure(
                f"sample_patches with patch_size={size}: values should lie in [0.1, 0.9], got "
                f"[{out.min():.4g}, {out.max():.4g}]: call normalize_patches on the patches"
            )
    a = as_floats(call(sample_patches, "sample_patches", images, 4, 30, rng=11), "sample_patches(...)")
    b = as_floats(call(sample_patches, "sample_patches", images, 4, 30, rng=11), "sample_patches(...)")
    if not np.array_equal(a, b):
        raise CheckFailure(
            "sample_patches with the same seed rng=11 gave different patches: draw the positions "
            "with np.random.default_rng(rng), not the global np.random"
        )


def check_sample_patches_windows(sample_patches):
    """Each column is normalize_patches of a row-major window of one image, at random positions."""
    images = _bounded_images()
    num, size = 200, 4
    patches = as_floats(
        call(sample_patches, "sample_patches", images, size, num, rng=5), "sample_patches(...)", (size * size, num)
    )
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2)).reshape(-1, size * size)
    centred = windows - windows.mean(axis=1, keepdims=True)
    target = (patches - 0.5) / 0.4  # = centred window / (3 sigma)
    scale = (centred @ target) / np.sum(centred * centred, axis=1, keepdims=True)
    residual = np.linalg.norm(target[None, :, :] - scale[:, None, :] * centred[:, :, None], axis=1)
    best = residual.argmin(axis=0)
    worst = int(residual.min(axis=0).argmax())
    if residual.min(axis=0).max() > 1e-8:
        flipped = windows.reshape(-1, size, size).transpose(0, 2, 1).reshape(-1, size * size)
        fc = flipped - flipped.mean(axis=1, keepdims=True)
        fs = (fc @ target) / np.sum(fc * fc, axis=1, keepdims=True)
        fr = np.linalg.norm(target[None] - fs[:, None, :] * fc[:, :, None], axis=1)
        hint = ""
        if fr.min(axis=0).max() < 1e-8:
            hint = " (each column is a window flattened column-major or transposed: flatten row-major)"
        raise CheckFailure(
            f"sample_patches: column {worst} is not a normalized {size}x{size} window of the images"
            f"{hint}; each column should be one window image[r:r+{size}, c:c+{size}].ravel(), "
            "then normalize_patches of the whole matrix"
        )
    implied_sigma = 1 / (3 * scale[best, np.arange(num)])
    sigma = centred[best].std()
    if not np.allclose(implied_sigma, sigma, rtol=1e-8):
        raise CheckFailure(
            "sample_patches: the windows are right but not scaled by one sigma of all sampled values: "
            "use normalize_patches on the whole (patch_size**2, num_patches) matrix"
        )
    if len(set(best.tolist())) < 60:
        raise CheckFailure(
            f"sample_patches: 200 patches came from only {len(set(best.tolist()))} distinct windows "
            f"of {len(windows)}: pick the image and the corner at random for every patch"
        )
    if len(set((best // (len(windows) // images.shape[0])).tolist())) < images.shape[0]:
        raise CheckFailure("sample_patches: not every image was used: pick the image at random for every patch")


# ----------------------------------------------------------------------------- initialization


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
                f"{r:.4g}, got a weight {W[np.abs(W).argmax()]:.4g}"
            )
        if np.abs(W).max() < 0.8 * r or abs(W.std() - r / math.sqrt(3)) > 0.25 * r:
            raise CheckFailure(
                f"hidden {h}, visible {v}: weights should be uniform in [-r, r], r = {r:.4g}; "
                f"got standard deviation {W.std():.4g} (expected about {r / math.sqrt(3):.4g})"
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
    """The reference cost and gradient blocks, with one known bug put in."""
    W1, W2, b1, b2 = (np.array(x) for x in reference._unpack_autoencoder(theta, v, h))
    m = data.shape[1]
    f = reference.sigmoid
    a2 = f(W1 @ data + b1[:, None])
    a3 = f(W2 @ a2 + b2[:, None])
    rho_hat = a2.mean(axis=0) if bug == "axis" else a2.mean(axis=1)
    diff = a3 - data
    k = 1.0 if bug == "no_m" else 1.0 / m
    kl = reference.kl_divergence(rho, rho_hat)
    wd = 0.0 if bug == "no_decay" else lam
    J = 0.5 * k * np.sum(diff**2) + 0.5 * wd * (np.sum(W1**2) + np.sum(W2**2))
    if bug == "decay_biases":
        J += 0.5 * lam * (np.sum(b1**2) + np.sum(b2**2))
    if bug != "no_sparsity":
        J += beta * np.sum(kl)
    delta3 = diff * a3 * (1 - a3)
    sp = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    if bug == "kl_sign":
        sp = -sp
    if bug == "no_sparsity":
        sp = 0.0 * sp
    back = W2.T @ delta3
    if bug == "axis":
        delta2 = (back + sp[None, :]) * a2 * (1 - a2)
    elif bug == "outside":
        delta2 = back * a2 * (1 - a2) + sp[:, None]
    else:
        delta2 = (back + sp[:, None]) * a2 * (1 - a2)
    bias_decay = lam if bug == "decay_biases" else 0.0
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
}


def _bugs(block, theta, v, h, lam, rho, beta, data):
    out = {}
    for key, text in BUGS.items():
        if key == "axis" and data.shape[1] != h:
            continue
        J, grads = _variant(theta, v, h, lam, rho, beta, data, key)
        out[text] = J if block == "cost" else grads[block]
    return out


def _student(sparse_autoencoder_cost, theta, v, h, lam, rho, beta, data):
    result = call(sparse_autoencoder_cost, "sparse_autoencoder_cost", theta, v, h, lam, rho, beta, data)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailure("sparse_autoencoder_cost should return a pair (cost, grad)")
    return result


def check_sae_cost(sparse_autoencoder_cost):
    """J_sparse: mean squared error / 2 + weight decay + beta sum_j KL(rho || rho_hat_j)."""
    for what, theta, v, h, lam, rho, beta, data in _instances():
        cost, _ = _student(sparse_autoencoder_cost, theta, v, h, lam, rho, beta, data)
        J, _ = reference.sparse_autoencoder_cost(theta, v, h, lam, rho, beta, data)
        check_scalar("J_sparse", cost, J, tol=1e-9, what=what, bugs=_bugs("cost", theta, v, h, lam, rho, beta, data))


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


def check_train(train_sparse_autoencoder):
    """On a tiny problem, the trained theta reaches (about) the cost L-BFGS reaches with the reference."""
    rng = np.random.default_rng(507)
    v, h = 9, 4
    data = reference.normalize_patches(rng.normal(0, 1, (v, 40)))
    args = (v, h, 1e-4, 0.1, 3.0, data)
    theta = as_floats(
        call(train_sparse_autoencoder, "train_sparse_autoencoder", data, h, 1e-4, 0.1, 3.0, 100, rng=0),
        "theta",
        (2 * h * v + h + v,),
    )
    J0, _ = reference.sparse_autoencoder_cost(reference.initialize_sparse_autoencoder(h, v, rng=0), *args)
    theta_ref = reference.train_sparse_autoencoder(data, h, 1e-4, 0.1, 3.0, 100, rng=0)
    J_ref, _ = reference.sparse_autoencoder_cost(theta_ref, *args)
    J, _ = reference.sparse_autoencoder_cost(theta, *args)
    if not J <= J_ref + 0.1 * (J0 - J_ref):
        raise CheckFailure(
            f"train_sparse_autoencoder on {v} visible, {h} hidden units, 40 examples, 100 iterations: "
            f"J_sparse of the trained theta is {J:.6g}; it starts near {J0:.6g} and L-BFGS reaches "
            f"{J_ref:.6g}. Minimize sparse_autoencoder_cost with scipy.optimize.minimize(..., jac=True, "
            "method='L-BFGS-B') starting from initialize_sparse_autoencoder"
        )
