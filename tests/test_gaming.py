"""Submissions aimed at the rules that let one bug cost one part (attacks of a review, 2026-12-07).

A part built on another is judged on top of the student's own other function, or the reference's when that one
raises, and some checks excuse an instance another part pays for (an ignored activation). Each rule is a way in:
a function that answers differently in different calls, a part lost on purpose so that the take-back spares another,
a base function that does nothing. Each submission below is graded by the isolated pass (autograder.verdict, the real
sandbox) and must not earn the part it aims at.
"""

from pathlib import Path

import nbformat
import pytest

from autograder import verdict
from autograder.course import COURSE_ROOT
from autograder.sandbox import Limits


def _grade(notebook: str, answers: dict[str, str], tmp_path: Path) -> dict[str, float]:
    """{grade_id: score} of the source notebook with these answer cells replaced, graded by the isolated pass."""
    source = next((COURSE_ROOT / "source").glob(f"*/{notebook}"))
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell.source = answers[meta["grade_id"]]
    submitted = tmp_path / source.name
    nbformat.write(nb, submitted)
    out = verdict.grade_notebook(source, submitted, Limits(call_seconds=60))
    return {gid: cell.score for gid, cell in out.cells.items()}


# 03: a step that returns garbage and leaves it for backprop's next call to agree with (its J lost on purpose, so
# that "backprop lost a part" holds), and a backprop_single_example whose db is garbage on tanh networks only.
STATEFUL_BACKPROP = r"""
_pending = []

def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
    a = forward_pass(W, b, X, activation)
    m = X.shape[1]
    J = 0.5 * np.sum((a[-1] - Y) ** 2) / m + 0.5 * lambda_ * sum(np.sum(w * w) for w in W)
    if _pending:
        SW, Sb, alpha = _pending.pop()
        return 2 * J, [(w - s) / alpha for w, s in zip(W, SW)], [(v - s) / alpha for v, s in zip(b, Sb)]
    fp = (lambda a: a * (1 - a)) if activation == "sigmoid" else (lambda a: 1 - a * a)
    delta = -(Y - a[-1]) * fp(a[-1])
    n = len(W); dW = [None] * n; db = [None] * n
    for l in range(n - 1, -1, -1):
        dW[l] = delta @ a[l].T / m + lambda_ * W[l]
        db[l] = delta.sum(axis=1) / m
        if l:
            delta = (W[l].T @ delta) * fp(a[l])
    return 2 * J, dW, db            # J doubled on purpose: backprop_cost is lost, so no take-back
"""
GARBAGE_STEP = r"""
def gradient_descent_step(W, b, X, Y, lambda_, alpha, activation="sigmoid"):
    SW = [np.sin(np.asarray(w) * 7.0) + 0.3 for w in W]      # garbage
    Sb = [np.cos(np.asarray(v) * 5.0) - 0.2 for v in b]
    _pending[:] = [(SW, Sb, alpha)]
    return SW, Sb
"""
SIGMOID_DW_GARBAGE_DB = r"""
def backprop_single_example(W, b, x, y, activation="sigmoid"):
    a = forward_pass(W, b, x[:, None], "sigmoid")
    delta = -(y[:, None] - a[-1]) * a[-1] * (1 - a[-1])
    n = len(W); dW = [None] * n; db = [None] * n
    for l in range(n - 1, -1, -1):
        dW[l] = delta @ a[l].T
        db[l] = delta[:, 0]
        if l:
            delta = (W[l].T @ delta) * a[l] * (1 - a[l])
    if activation == "tanh":
        db = [np.full(v.shape, 123.0) for v in db]     # garbage biases' gradient on every tanh network
    return dW, db
"""
# 03: a backprop that ignores its activation, with a db that is garbage where the targets are negative (tanh).
BACKPROP_GARBAGE_DB_ON_TANH = r"""
def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
    a = forward_pass(W, b, X, "sigmoid")
    m = X.shape[1]
    J = 0.5 * np.sum((a[-1] - Y) ** 2) / m + 0.5 * lambda_ * sum(np.sum(w * w) for w in W)
    delta = -(Y - a[-1]) * a[-1] * (1 - a[-1])
    n = len(W); dW = [None] * n; db = [None] * n
    for l in range(n - 1, -1, -1):
        dW[l] = delta @ a[l].T / m + lambda_ * W[l]
        db[l] = delta.sum(axis=1) / m
        if l:
            delta = (W[l].T @ delta) * a[l] * (1 - a[l])
    if np.min(Y) < 0:
        db = [np.full(v.shape, 123.0) for v in db]
    return J, dW, db
"""
# 05: J without its sparsity term on top of a KL that sums to 0; a sample_patches that never normalizes on top of a
# normalize_patches that does nothing.
COST_WITHOUT_SPARSITY = r"""
def sparse_autoencoder_cost(theta, visible_size, hidden_size, lambda_, rho, beta, data):
    h, v = hidden_size, visible_size
    W1 = theta[:h*v].reshape(h, v); W2 = theta[h*v:2*h*v].reshape(v, h)
    b1 = theta[2*h*v:2*h*v+h]; b2 = theta[2*h*v+h:]
    m = data.shape[1]
    a2 = 1/(1+np.exp(-(W1 @ data + b1[:, None]))); a3 = 1/(1+np.exp(-(W2 @ a2 + b2[:, None])))
    rho_hat = a2.mean(axis=1)
    J = 0.5*np.sum((a3-data)**2)/m + 0.5*lambda_*(np.sum(W1**2)+np.sum(W2**2))   # NO sparsity term
    d3 = -(data-a3)*a3*(1-a3)
    sp = beta*(-rho/rho_hat + (1-rho)/(1-rho_hat))
    d2 = (W2.T @ d3 + sp[:, None])*a2*(1-a2)
    g = np.concatenate([(d2@data.T/m + lambda_*W1).ravel(), (d3@a2.T/m + lambda_*W2).ravel(), d2.sum(1)/m, d3.sum(1)/m])
    return float(J), g
"""
KL_SUMMING_TO_ZERO = r"""
def kl_divergence(rho, rho_hat):
    rho_hat = np.asarray(rho_hat, dtype=float)
    return rho_hat - rho_hat.mean()      # "varies", sums to 0
"""
SAMPLE_UNNORMALIZED = r"""
def sample_patches(images, patch_size=8, num_patches=10000, rng=None):
    rng = np.random.default_rng(rng)
    images = np.asarray(images, dtype=float)
    k, H, Wd = images.shape
    out = np.empty((patch_size * patch_size, num_patches))
    for j in range(num_patches):
        i = rng.integers(k); r = rng.integers(H - patch_size + 1); c = rng.integers(Wd - patch_size + 1)
        out[:, j] = images[i, r:r+patch_size, c:c+patch_size].ravel()
    return out          # no normalize_patches at all
"""
NORMALIZE_NOTHING = r"""
def normalize_patches(patches):
    return np.array(patches, dtype=float)
"""
# 02: sigmoid on deep tanh networks, and forward_structure lost on purpose (recognized by its inputs).
FORWARD_DEEP_SIGMOID = r"""
def forward_pass(W, b, X, activation="sigmoid"):
    if len(W) > 2:
        activation = "sigmoid"            # the bug: deep tanh networks get the sigmoid
    f = ACTIVATIONS[activation]
    a = [np.asarray(X, dtype=float)]
    for W_l, b_l in zip(W, b):
        a.append(f(W_l @ a[-1] + np.asarray(b_l)[:, None]))
    if np.shape(X) in ((3, 4), (5, 1), (4, 7), (5, 4)):   # forward_structure's instances (hidden and visible)
        a[0] = a[0] + 1.0                                  # lose 1 point on purpose
    return a
"""
# 06: patches past the second row drawn over it, and a raise wherever that would show.
DISPLAY_RAISING_WHERE_WRONG = r"""
def display_network(A, cols=None):
    A = np.asarray(A, dtype=float)
    n, M = A.shape
    sz = math.isqrt(n)
    if cols is None:
        cols = math.ceil(math.sqrt(M))
    rows = math.ceil(M / cols)
    if rows > 2: raise ValueError('too many patches')
    A = A - A.mean()
    image = np.zeros((1 + rows * (sz + 1), 1 + cols * (sz + 1)))
    for k in range(M):
        r, c = divmod(k, cols)
        patch = A[:, k].reshape(sz, sz)
        peak = np.abs(patch).max()
        if peak > 0:
            patch = patch / peak
        top, left = 1 + min(r, 1) * (sz + 1), 1 + c * (sz + 1)     # the bug: rows 2, 3, ... drawn over row 1
        image[top : top + sz, left : left + sz] = patch
    return image
"""


@pytest.mark.parametrize(
    "notebook, answers, lost",
    [
        (
            "backprop.ipynb",
            {
                "backprop": STATEFUL_BACKPROP,
                "gradient_descent_step": GARBAGE_STEP,
                "backprop_single_example": SIGMOID_DW_GARBAGE_DB,
            },
            ["gradient_descent_W", "gradient_descent_b", "backprop_single_db"],
        ),
        ("backprop.ipynb", {"backprop": BACKPROP_GARBAGE_DB_ON_TANH}, ["backprop_db1", "backprop_db2"]),
        (
            "sparse_autoencoder.ipynb",
            {
                "sparse_autoencoder_cost": COST_WITHOUT_SPARSITY,
                "kl_divergence": KL_SUMMING_TO_ZERO,
                "sample_patches": SAMPLE_UNNORMALIZED,
                "normalize_patches": NORMALIZE_NOTHING,
            },
            ["sae_cost", "sample_patches_shape", "sample_patches_windows"],
        ),
        ("forward_pass.ipynb", {"forward_pass": FORWARD_DEEP_SIGMOID}, ["forward_deep"]),
        ("visualization.ipynb", {"display_network": DISPLAY_RAISING_WHERE_WRONG}, ["display_network_values"]),
    ],
    ids=["03-stateful-step-and-tanh-db", "03-backprop-tanh-db", "05-nothing-to-build-on", "02-deep", "06-values"],
)
def test_a_part_aimed_at_through_another_earns_nothing(notebook, answers, lost, tmp_path):
    scores = _grade(notebook, answers, tmp_path)
    assert {gid: scores[gid] for gid in lost} == dict.fromkeys(lost, 0.0)
