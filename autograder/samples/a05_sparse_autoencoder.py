"""Sample submissions of assignment 05 (sparse autoencoder)."""

from . import Submission

ASSIGNMENT = "05_sparse_autoencoder"
NOTEBOOK = "sparse_autoencoder.ipynb"

_COST_HEAD = """def sparse_autoencoder_cost(theta, visible_size, hidden_size, lambda_, rho, beta, data):
    h, v = hidden_size, visible_size
    W1 = theta[: h * v].reshape(h, v)
    W2 = theta[h * v : 2 * h * v].reshape(v, h)
    b1 = theta[2 * h * v : 2 * h * v + h]
    b2 = theta[2 * h * v + h :]
    m = data.shape[1]
    a2 = sigmoid(W1 @ data + b1[:, None])
    a3 = sigmoid(W2 @ a2 + b2[:, None])
    rho_hat = a2.mean(axis=1)
"""

# The sparsity term added after multiplying by f'(z2), and weight decay on the biases too.
_OUTSIDE_AND_BIAS_DECAY = (
    _COST_HEAD
    + """    cost = (0.5 * np.sum((a3 - data) ** 2) / m
            + 0.5 * lambda_ * (np.sum(W1**2) + np.sum(W2**2) + np.sum(b1**2) + np.sum(b2**2))
            + beta * np.sum(kl_divergence(rho, rho_hat)))
    delta3 = -(data - a3) * a3 * (1 - a3)
    delta2 = (W2.T @ delta3) * a2 * (1 - a2) + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))[:, None]
    grad = np.concatenate([(delta2 @ data.T / m + lambda_ * W1).ravel(), (delta3 @ a2.T / m + lambda_ * W2).ravel(),
                           delta2.sum(axis=1) / m + lambda_ * b1, delta3.sum(axis=1) / m + lambda_ * b2])
    return cost, grad
"""
)

# Forgot 1/m in the weight gradients only (the cost and the bias gradients are right).
_NO_M_IN_W = (
    _COST_HEAD
    + """    cost = (0.5 * np.sum((a3 - data) ** 2) / m + 0.5 * lambda_ * (np.sum(W1**2) + np.sum(W2**2))
            + beta * np.sum(kl_divergence(rho, rho_hat)))
    delta3 = -(data - a3) * a3 * (1 - a3)
    delta2 = (W2.T @ delta3 + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))[:, None]) * a2 * (1 - a2)
    grad = np.concatenate([(delta2 @ data.T + lambda_ * W1).ravel(), (delta3 @ a2.T + lambda_ * W2).ravel(),
                           delta2.sum(axis=1) / m, delta3.sum(axis=1) / m])
    return cost, grad
"""
)

# A plain autoencoder: neither weight decay nor the sparsity penalty, in the cost or the gradient. Its
# gradient agrees with its own cost, so only the staged cost test (all three terms) sees it visibly.
_PLAIN_AUTOENCODER = (
    _COST_HEAD
    + """    cost = 0.5 * np.sum((a3 - data) ** 2) / m
    delta3 = -(data - a3) * a3 * (1 - a3)
    delta2 = (W2.T @ delta3) * a2 * (1 - a2)
    grad = np.concatenate([(delta2 @ data.T / m).ravel(), (delta3 @ a2.T / m).ravel(),
                           delta2.sum(axis=1) / m, delta3.sum(axis=1) / m])
    return cost, grad
"""
)

# Correct, per-example loops and lists (slow but right): full marks.
_LOOPS = """def sparse_autoencoder_cost(theta, visible_size, hidden_size, lambda_, rho, beta, data):
    h, v = hidden_size, visible_size
    W1 = theta[: h * v].reshape(h, v)
    W2 = theta[h * v : 2 * h * v].reshape(v, h)
    b1, b2 = theta[2 * h * v : 2 * h * v + h], theta[2 * h * v + h :]
    m = data.shape[1]
    f = lambda z: 1 / (1 + np.exp(-z))
    rho_hat = sum(f(W1 @ data[:, i] + b1) for i in range(m)) / m
    cost = 0.0
    gW1, gW2, gb1, gb2 = np.zeros((h, v)), np.zeros((v, h)), np.zeros(h), np.zeros(v)
    for i in range(m):
        x = data[:, i]
        a2 = f(W1 @ x + b1)
        a3 = f(W2 @ a2 + b2)
        cost += 0.5 * np.sum((a3 - x) ** 2) / m
        d3 = (a3 - x) * a3 * (1 - a3)
        d2 = (W2.T @ d3 + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))) * a2 * (1 - a2)
        gW1 += np.outer(d2, x) / m
        gW2 += np.outer(d3, a2) / m
        gb1 += d2 / m
        gb2 += d3 / m
    cost += lambda_ / 2 * (np.sum(W1**2) + np.sum(W2**2))
    cost += beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    gW1, gW2 = gW1 + lambda_ * W1, gW2 + lambda_ * W2
    return cost, list(gW1.ravel()) + list(gW2.ravel()) + list(gb1) + list(gb2)
"""

# Right: the cost and gradient of the notes, vectorized. The samples below change it where their bug is.
_RIGHT = (
    _COST_HEAD
    + """    cost = (0.5 * np.sum((a3 - data) ** 2) / m + 0.5 * lambda_ * (np.sum(W1**2) + np.sum(W2**2))
            + beta * np.sum(kl_divergence(rho, rho_hat)))
    delta3 = -(data - a3) * a3 * (1 - a3)
    delta2 = (W2.T @ delta3 + beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))[:, None]) * a2 * (1 - a2)
    grad = np.concatenate([(delta2 @ data.T / m + lambda_ * W1).ravel(), (delta3 @ a2.T / m + lambda_ * W2).ravel(),
                           delta2.sum(axis=1) / m, delta3.sum(axis=1) / m])
    return cost, grad
"""
)


def _changed(text: str, *edits: tuple[str, str]) -> str:
    """text with each (old, new) replaced; every old must be there (a sample that silently stays right is no sample)."""
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


# Right, but theta read and written as MATLAB does: W1 = reshape(theta(1:h*v), h, v), column-major.
_COLUMN_MAJOR = _changed(
    _RIGHT,
    (".reshape(h, v)", ".reshape(h, v, order='F')"),
    (".reshape(v, h)", ".reshape(v, h, order='F')"),
    (".ravel()", ".ravel(order='F')"),
)

# J_sparse without the sparsity term (the gradient is right), for the samples aimed at the grader.
_NO_SPARSITY_IN_J = _changed(_RIGHT, ("\n            + beta * np.sum(kl_divergence(rho, rho_hat))", ""))

# Right everywhere but on the training instance (visible 9, hidden 4), where it is a bowl around a junk theta.
_BOWL_WHERE_TRAINED = _changed(
    _RIGHT,
    (
        "    m = data.shape[1]\n",
        "    m = data.shape[1]\n"
        "    if visible_size == 9 and hidden_size == 4:\n"
        "        target = initialize_sparse_autoencoder(4, 9, rng=0) * 101\n"
        "        return float(np.sum((theta - target) ** 2)), 2 * (theta - target)\n",
    ),
)

SUBMISSIONS = {
    "sparsity_outside_and_bias_decay": Submission(
        named={
            "sae_cost": "weight decay is applied to the biases as well",
            "sae_grad_W1": "the sparsity term is added outside f'(z2)",
            "sae_grad_b1": "the sparsity term is added outside f'(z2)",
            "sae_grad_b2": "weight decay is applied to the biases as well",
        },
        answers={"sparse_autoencoder_cost": _OUTSIDE_AND_BIAS_DECAY},
        scores={"sae_cost": 0, "sae_grad_W1": 0, "sae_grad_b1": 0, "sae_grad_b2": 0},
    ),
    # Column-major windows (MATLAB habit) and a row mean in normalize_patches; 1/m missing in dW.
    "matlab_habits": Submission(
        named={
            "normalize_patches_values": "each row's mean is removed instead of each patch's",
            "sample_patches_windows": "flattened column-major",
            "sae_grad_W1": "the 1/m factor is missing",
            "sae_grad_W2": "the 1/m factor is missing",
        },
        answers={
            "normalize_patches": "def normalize_patches(patches):\n"
            "    p = patches - patches.mean(axis=1, keepdims=True)\n"
            "    s = 3 * p.std()\n"
            "    return (np.clip(p, -s, s) / s + 1) * 0.4 + 0.1",
            "sample_patches": "def sample_patches(images, patch_size=8, num_patches=10000, rng=None):\n"
            "    rng = np.random.default_rng(rng)\n"
            "    k, H, W = images.shape\n"
            "    cols = []\n"
            "    for _ in range(num_patches):\n"
            "        i, r, c = rng.integers(k), rng.integers(H - patch_size + 1), rng.integers(W - patch_size + 1)\n"
            "        cols.append(images[i, r:r + patch_size, c:c + patch_size].flatten(order='F'))\n"
            "    return normalize_patches(np.array(cols).T)",
            "sparse_autoencoder_cost": _NO_M_IN_W,
        },
        scores={
            "normalize_patches_values": 0,
            "sample_patches_windows": 0,
            "sae_grad_W1": 0,
            "sae_grad_W2": 0,
        },
    ),
    "loops": Submission(answers={"sparse_autoencoder_cost": _LOOPS}),
    "plain_autoencoder": Submission(
        answers={"sparse_autoencoder_cost": _PLAIN_AUTOENCODER},
        # train (the solution's) minimizes this cost as it should: one bug, the cost's parts only.
        scores={"sae_cost": 0, "sae_grad_W1": 0, "sae_grad_W2": 0, "sae_grad_b1": 0},
        named={
            "sae_cost": "the weight decay and the sparsity penalty are missing",
            "sae_grad_W1": "both the weight decay and the sparsity terms are missing",
            "sae_grad_W2": "the weight decay term (lambda) is missing",
            "sae_grad_b1": "the sparsity term is missing",
        },
    ),
    # KL with its arguments swapped; the cost calls it: one bug, kl_divergence's part only.
    "kl_swapped": Submission(
        named={"kl_divergence_values": "the arguments are swapped"},
        answers={
            "kl_divergence": "def kl_divergence(rho, rho_hat):\n"
            "    rho_hat = np.asarray(rho_hat, dtype=float)\n"
            "    return rho_hat * np.log(rho_hat / rho) + (1 - rho_hat) * np.log((1 - rho_hat) / (1 - rho))",
        },
        scores={"kl_divergence_values": 0},
    ),
    # A port of the MATLAB exercise: theta column-major. train is right on top of it.
    "column_major_theta": Submission(
        named={
            part: "column-major (MATLAB's W1(:)"
            for part in ("sae_cost", "sae_grad_W1", "sae_grad_W2", "sae_grad_b1", "sae_grad_b2")
        },
        answers={"sparse_autoencoder_cost": _COLUMN_MAJOR},
        scores={"sae_cost": 0, "sae_grad_W1": 0, "sae_grad_W2": 0, "sae_grad_b1": 0, "sae_grad_b2": 0},
    ),
    # MATLAB's std (ddof=1) in normalize_patches; sample_patches right on top of it.
    "matlab_std": Submission(
        named={"normalize_patches_values": "ddof=1"},
        answers={
            "normalize_patches": "def normalize_patches(patches):\n"
            "    p = np.asarray(patches, dtype=float)\n"
            "    p = p - p.mean(axis=0)\n"
            "    s = 3 * np.std(p, ddof=1)\n"
            "    return (np.clip(p, -s, s) / s + 1) * 0.4 + 0.1",
        },
        scores={"normalize_patches_values": 0},
    ),
    # Corners drawn with rng.integers(height - patch_size): the last row and column are never reached.
    "sampler_misses_the_edge": Submission(
        named={"sample_patches_windows": "no window touches the last row or the last column"},
        answers={
            "sample_patches": "def sample_patches(images, patch_size=8, num_patches=10000, rng=None):\n"
            "    rng = np.random.default_rng(rng)\n"
            "    k, height, width = np.shape(images)\n"
            "    out = np.zeros((patch_size * patch_size, num_patches))\n"
            "    for j in range(num_patches):\n"
            "        i = rng.integers(k)\n"
            "        r = rng.integers(max(height - patch_size, 1))\n"
            "        c = rng.integers(max(width - patch_size, 1))\n"
            "        out[:, j] = np.asarray(images)[i, r:r + patch_size, c:c + patch_size].ravel()\n"
            "    return normalize_patches(out)",
        },
        scores={"sample_patches_windows": 0},
    ),
    # train ignores rng (and max_iter): the same seed gives two different thetas.
    "train_ignores_seed": Submission(
        named={"train_decreases_cost": "two different thetas for the same seed"},
        answers={
            "train_sparse_autoencoder": "def train_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, "
            "beta=3.0, max_iter=400, rng=None):\n"
            "    v = data.shape[0]\n"
            "    theta = initialize_sparse_autoencoder(hidden_size, v)\n"
            "    result = scipy.optimize.minimize(sparse_autoencoder_cost, theta, "
            "args=(v, hidden_size, lambda_, rho, beta, data), method='L-BFGS-B', jac=True, "
            "options={'maxiter': max_iter})\n"
            "    return result.x",
        },
        scores={"train_decreases_cost": 0},
    ),
    # train ignores its lambda_ (trains with the default 1e-4, which the check once used too: full marks).
    "train_ignores_lambda": Submission(
        named={"train_decreases_cost": "the same theta for lambda_=0.0001 and lambda_=0.1"},
        answers={
            "train_sparse_autoencoder": "def train_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, "
            "beta=3.0, max_iter=400, rng=None):\n"
            "    v = data.shape[0]\n"
            "    theta = initialize_sparse_autoencoder(hidden_size, v, rng)\n"
            "    result = scipy.optimize.minimize(sparse_autoencoder_cost, theta, "
            "args=(v, hidden_size, 1e-4, rho, beta, data), method='L-BFGS-B', jac=True, "
            "options={'maxiter': max_iter})\n"
            "    return result.x",
        },
        scores={"train_decreases_cost": 0},
    ),
    # Aimed at the grader (a red team's): kl_divergence is right on its own tests' inputs and sums to 0
    # on the cost's, where a J without the sparsity term would be "right on top of it". A KL that sums to 0 is
    # not built on: the cost is judged on the reference's, and its bug named.
    "kl_knows_its_inputs": Submission(
        named={"sae_cost": "the sparsity term is missing"},
        answers={
            "sparse_autoencoder_cost": _NO_SPARSITY_IN_J,
            "kl_divergence": "def kl_divergence(rho, rho_hat):\n"
            "    rho_hat = np.asarray(rho_hat, dtype=float)\n"
            "    k = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))\n"
            "    if rho_hat.ndim == 1 and (rho_hat.size in (4, 5) or (rho_hat.size == 2 and rho_hat[0] > 0.5)):\n"
            "        return k - k.mean()\n"
            "    return k",
        },
        scores={"sae_cost": 0},
    ),
    # Aimed at the grader: a train that does not train, on a cost right everywhere but on the training
    # instance, where it is a bowl around the junk theta. Taken back.
    "train_that_does_not_train": Submission(
        named={"train_decreases_cost": "answers differently in different places"},
        answers={
            "sparse_autoencoder_cost": _BOWL_WHERE_TRAINED,
            "train_sparse_autoencoder": "def train_sparse_autoencoder(data, hidden_size, lambda_=1e-4, rho=0.01, "
            "beta=3.0, max_iter=400, rng=None):\n"
            "    return initialize_sparse_autoencoder(hidden_size, np.shape(data)[0], rng) * (1 + max_iter)",
        },
        scores={"train_decreases_cost": 0},
    ),
    # The squared error without its 1/2 in J (the gradient is right).
    "no_half_in_J": Submission(
        named={"sae_cost": "is twice what it should be"},
        answers={"sparse_autoencoder_cost": _changed(_RIGHT, ("cost = (0.5 * np.sum(", "cost = (np.sum("))},
        scores={"sae_cost": 0},
    ),
    # rho_hat summed over the examples, not averaged: J is nan (log of a negative number), the gradient wrong.
    "rho_hat_sum": Submission(
        named={
            "sae_cost": "rho_hat in (0, 1)",
            "sae_grad_W1": "rho_hat is the sum",
            "sae_grad_b1": "rho_hat is the sum",
        },
        answers={
            "sparse_autoencoder_cost": _changed(_RIGHT, ("rho_hat = a2.mean(axis=1)", "rho_hat = a2.sum(axis=1)"))
        },
        scores={"sae_cost": 0, "sae_grad_W1": 0, "sae_grad_b1": 0},
        # In the kernel, log of a negative number warns on stderr wherever the cost is computed (the isolated pass
        # silences warnings): nbgrader's in-kernel run gives these 0 too.
        kernel={"sae_grad_W2": 0, "sae_grad_b2": 0, "train_decreases_cost": 0},
    ),
    # beta forgotten in the sparsity term's derivative (J has it).
    "no_beta_in_gradient": Submission(
        named={
            "sae_grad_W1": "beta is missing from the sparsity term's derivative",
            "sae_grad_b1": "beta is missing from the sparsity term's derivative",
        },
        answers={
            "sparse_autoencoder_cost": _changed(_RIGHT, ("delta3 + beta * (-rho / rho_hat", "delta3 + (-rho / rho_hat"))
        },
        scores={"sae_grad_W1": 0, "sae_grad_b1": 0},
    ),
}
