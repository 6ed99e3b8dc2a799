"""Hidden-test checks of assignment 03 (backpropagation, notes §2.2).

Every gradient is compared with central finite differences of the *reference* cost
(eq. (8)), on small networks (a few units per layer, a few examples); the
reference's own gradient is used only to compute what known bugs produce, so the
failure message can name the bug.

One module per assignment, as the hidden tests import them: its length is one check
per graded part, each with the bugs it can name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from . import CheckFailure, as_floats, call, check_scalar, compare, finite_differences, reference, varies, yours


@dataclass(frozen=True)
class Instance:
    sizes: tuple[int, ...]
    m: int
    activation: str
    lambda_: float
    seed: int

    @property
    def what(self) -> str:
        return f"layer sizes {list(self.sizes)}, m = {self.m}, {self.activation}, lambda_ = {self.lambda_}"

    def data(self):
        """(W, b, X, Y): fresh arrays of a network whose units are neither linear nor saturated."""
        rng = np.random.default_rng([303, self.seed])
        sizes = self.sizes
        W = [rng.normal(0, 1.2 / np.sqrt(s), (t, s)) for s, t in zip(sizes[:-1], sizes[1:])]
        b = [rng.normal(0, 0.5, t) for t in sizes[1:]]
        X = rng.normal(0, 1.0, (sizes[0], self.m))
        low = 0.05 if self.activation == "sigmoid" else -0.9
        Y = rng.uniform(low, 0.95, (sizes[-1], self.m))
        return W, b, X, Y


#: Two weight layers (the notes' network shape), square and not, m = 1, both activations, lambda_ > 0 ...
SHALLOW = (
    Instance((4, 3, 2), 5, "sigmoid", 0.1, 1),
    Instance((3, 3, 3), 3, "sigmoid", 0.2, 2),
    Instance((3, 4, 2), 1, "tanh", 0.05, 3),
    Instance((2, 5, 3), 4, "tanh", 0.3, 4),
)
#: ... and three or four weight layers.
DEEP = (
    Instance((3, 4, 3, 2), 4, "sigmoid", 0.1, 5),
    Instance((2, 3, 3, 2, 2), 3, "tanh", 0.05, 6),
)
INSTANCES = SHALLOW + DEEP


def _cost_of_theta(inst: Instance, X, Y, lambda_):
    def J(theta):
        W, b = reference.unflatten_parameters(theta, inst.sizes)
        return reference.cost(W, b, X, Y, lambda_, inst.activation)

    return J


@functools.cache
def _numeric(inst: Instance, single: bool = False):
    """(dW, db) by central differences of the reference cost (example 0 only and lambda_ = 0 if single)."""
    W, b, X, Y = inst.data()
    lambda_ = inst.lambda_
    if single:
        X, Y, lambda_ = X[:, :1], Y[:, :1], 0.0
    grad = finite_differences(_cost_of_theta(inst, X, Y, lambda_), reference.flatten_parameters(W, b))
    dW, db = reference.unflatten_parameters(grad, inst.sizes)
    return dW, db


def _data_gradient(W, b, X, Y, activation, out_fprime=True, hidden_fprime=True):
    """Gradient of the squared-error term (1/m) sum (1/2)||h - y||^2 alone, optionally without f' factors.

    Only used to compute what known bugs give; the expected values are finite differences.
    """
    a = reference.forward_pass(W, b, X, activation)
    fp = (lambda v: v * (1 - v)) if activation == "sigmoid" else (lambda v: 1 - v * v)
    m = X.shape[1]
    delta = -(Y - a[-1]) * (fp(a[-1]) if out_fprime else 1.0)
    dW, db = [None] * len(W), [None] * len(W)
    for l in range(len(W) - 1, -1, -1):
        dW[l] = delta @ a[l].T / m
        db[l] = delta.sum(axis=1) / m
        if l:
            delta = (W[l].T @ delta) * (fp(a[l]) if hidden_fprime else 1.0)
    return dW, db


def _gradient_bugs(inst: Instance, kind: str, l: int, single: bool = False):
    """{bug description: the value of block dW[l] or db[l] (kind "W" or "b") that the bug gives}."""
    W, b, X, Y = inst.data()
    lam = 0.0 if single else inst.lambda_
    if single:
        X, Y = X[:, :1], Y[:, :1]
    m = X.shape[1]
    G = _data_gradient(W, b, X, Y, inst.activation)
    no_out = _data_gradient(W, b, X, Y, inst.activation, out_fprime=False)
    no_hidden = _data_gradient(W, b, X, Y, inst.activation, hidden_fprime=False)
    i = 0 if kind == "W" else 1
    g, decay = G[i][l], (lam * W[l] if kind == "W" else 0.0 * b[l])
    bugs = {}
    if kind == "W" and lam:
        bugs[f"the weight decay term lambda_ * W[{l}] is missing from dW[{l}]"] = g
        bugs[f"the weight decay gradient is (lambda_/2) W[{l}]: the derivative of (lambda/2) W^2 is lambda W"] = (
            g + decay / 2
        )
        if m > 1:
            bugs["the weight decay gradient is divided by m too: only Delta W is averaged"] = g + decay / m
    if kind == "b" and lam:
        bugs[f"weight decay is applied to the biases: db[{l}] gets no lambda_ term (notes, footnote 1)"] = (
            g + lam * b[l]
        )
    if m > 1:
        bugs["the 1/m is missing: Delta W and Delta b are sums over examples, the gradient is their mean"] = (
            m * g + decay
        )
    bugs["the error term is twice too large (a factor of 2: the cost's 1/2 cancels the 2 of the square)"] = (
        2 * g + decay
    )
    bugs["delta^(nl) is not multiplied by f'(z^(nl)): delta^(nl) = -(y - a^(nl)) * f'(z^(nl))"] = no_out[i][l] + decay
    if l < len(W) - 1:
        bugs["delta^(l) is not multiplied by f'(z^(l)): delta^(l) = ((W^(l))^T delta^(l+1)) * f'(z^(l))"] = (
            no_hidden[i][l] + decay
        )
    bugs["the sign is flipped: delta^(nl) = -(y - a^(nl)) * f'(z^(nl)), with the minus"] = -g + decay
    bugs["the whole gradient has the wrong sign (it is the gradient of -J)"] = -(g + decay)
    if kind == "W":
        full = g + decay
        bugs[f"dW[{l}] is transposed: it is delta^({l + 2}) (a^({l + 1}))^T, of the shape of W[{l}]"] = full.T
    return bugs


def _pair(out, name, n_layers):
    """(dW, db) lists from a student's result, lengths checked."""
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        raise CheckFailure(f"{name} should return a pair (dW, db), got {type(out).__name__}")
    dW, db = out
    for label, seq in (("dW", dW), ("db", db)):
        if not isinstance(seq, (list, tuple)) or len(seq) != n_layers:
            got = len(seq) if isinstance(seq, (list, tuple)) else type(seq).__name__
            raise CheckFailure(f"{name}: {label} should be a list of {n_layers} arrays (one per W[l]), got {got}")
    return dW, db


def _triple(out, n_layers):
    if not isinstance(out, (list, tuple)) or len(out) != 3:
        raise CheckFailure(f"backprop should return (J, dW, db), got {type(out).__name__}")
    dW, db = _pair(out[1:], "backprop", n_layers)
    return out[0], dW, db


def _cost_bugs(inst: Instance, W, b, X, Y):
    data = reference.cost(W, b, X, Y, 0.0, inst.activation)
    lam, m = inst.lambda_, X.shape[1]
    decay = 0.5 * lam * sum(float(np.sum(w * w)) for w in W)
    bugs = {}
    if lam:
        bugs["the weight decay term (lambda/2) sum W^2 is missing"] = data
        bugs["weight decay is applied to the biases too (notes, footnote 1: only W)"] = (
            data + decay + 0.5 * lam * sum(float(np.sum(v * v)) for v in b)
        )
        bugs["the weight decay term lacks its 1/2: it is (lambda/2) sum W^2"] = data + 2 * decay
        if m > 1:
            bugs["the weight decay term is divided by m too"] = data + decay / m
    if m > 1:
        bugs["the 1/m is missing: the first term is the mean over examples, not the sum"] = m * data + decay
    bugs["the squared error lacks its 1/2: J(W,b;x,y) = (1/2) ||h(x) - y||^2"] = 2 * data + decay
    other = "tanh" if inst.activation == "sigmoid" else "sigmoid"
    bugs[f"the activation argument is ignored ({other} is used)"] = reference.cost(W, b, X, Y, lam, other)
    return bugs


# --------------------------------------------------------------------------
# cost
# --------------------------------------------------------------------------


def check_cost(cost):
    """J(W, b) of eq. (8): mean of (1/2)||h(x) - y||^2 plus (lambda/2) times the sum of squared weights."""
    for inst in INSTANCES:
        W, b, X, Y = inst.data()
        got = call(cost, "cost", W, b, X, Y, inst.lambda_, activation=inst.activation)
        expected = reference.cost(W, b, X, Y, inst.lambda_, inst.activation)
        check_scalar("J(W, b)", got, expected, tol=1e-9, bugs=_cost_bugs(inst, W, b, X, Y), what=inst.what)


# --------------------------------------------------------------------------
# backprop_single_example
# --------------------------------------------------------------------------


def _check_single(backprop_single_example, kind):
    for inst in INSTANCES:
        W, b, X, Y = inst.data()
        n = len(W)
        out = call(
            backprop_single_example, "backprop_single_example", W, b, X[:, 0], Y[:, 0], activation=inst.activation
        )
        dW, db = _pair(out, "backprop_single_example", n)
        expected = _numeric(inst, single=True)
        what = f"layer sizes {list(inst.sizes)}, one example, {inst.activation}"
        got, exp = (dW, expected[0]) if kind == "W" else (db, expected[1])
        for l in range(n):
            compare(
                f"d{kind}[{l}]",
                got[l],
                exp[l],
                tol=1e-6,
                bugs=_gradient_bugs(inst, kind, l, single=True),
                what=what,
            )


def check_backprop_single_dW(backprop_single_example):
    """dW[l] = delta^(l+1) (a^(l))^T for one example, against finite differences of J(W,b;x,y)."""
    _check_single(backprop_single_example, "W")


def check_backprop_single_db(backprop_single_example):
    """db[l] = delta^(l+1) for one example, against finite differences of J(W,b;x,y)."""
    _check_single(backprop_single_example, "b")


# --------------------------------------------------------------------------
# backprop
# --------------------------------------------------------------------------


def _backprop(backprop, inst: Instance):
    W, b, X, Y = inst.data()
    out = call(backprop, "backprop", W, b, X, Y, inst.lambda_, activation=inst.activation)
    return _triple(out, len(W))


def check_backprop_cost(backprop):
    """The J returned by backprop is eq. (8)."""
    for inst in INSTANCES:
        W, b, X, Y = inst.data()
        J, _, _ = _backprop(backprop, inst)
        expected = reference.cost(W, b, X, Y, inst.lambda_, inst.activation)
        check_scalar("J(W, b)", J, expected, tol=1e-9, bugs=_cost_bugs(inst, W, b, X, Y), what=inst.what)


def _check_blocks(backprop, kind, layers):
    """Blocks dW[l] (kind "W") or db[l] ("b") for l in layers (a slice), against finite differences."""
    for inst in INSTANCES:
        _, dW, db = _backprop(backprop, inst)
        got = dW if kind == "W" else db
        expected = _numeric(inst)[0 if kind == "W" else 1]
        for l in range(len(expected))[layers]:
            compare(
                f"d{kind}[{l}]",
                got[l],
                expected[l],
                tol=1e-6,
                bugs=_gradient_bugs(inst, kind, l),
                what=inst.what,
            )


def check_backprop_dW1(backprop):
    """dW[0] = (1/m) Delta W^(1) + lambda W^(1) (the notes' layer 1), against finite differences of the cost."""
    _check_blocks(backprop, "W", slice(0, 1))


def check_backprop_dW2(backprop):
    """dW[l] for l >= 1 (every later layer of deeper networks too), against finite differences."""
    _check_blocks(backprop, "W", slice(1, None))


def check_backprop_db1(backprop):
    """db[0] = (1/m) Delta b^(1) (no weight decay; the notes' layer 1), against finite differences of the cost."""
    _check_blocks(backprop, "b", slice(0, 1))


def check_backprop_db2(backprop):
    """db[l] for l >= 1 (every later layer of deeper networks too), against finite differences."""
    _check_blocks(backprop, "b", slice(1, None))


# --------------------------------------------------------------------------
# gradient_descent_step
# --------------------------------------------------------------------------

ALPHA = 0.7


def _own_step(backprop, inst: Instance, kind: str, W, b, X, Y) -> list | None:
    """The new W or b that the student's own backprop gives (None if it fails or has the wrong form)."""
    out = yours(backprop, "backprop", W, b, X, Y, inst.lambda_, activation=inst.activation)
    try:
        grads = out[1 if kind == "W" else 2]
        if not all(varies(g) for g in grads):
            return None  # a gradient of zeros (or constant) would make a step that changes nothing pass
        old = W if kind == "W" else b
        return [
            np.asarray(p, dtype=float) - ALPHA * np.asarray(g, dtype=float) for p, g in zip(old, grads, strict=True)
        ]
    except (TypeError, ValueError, OverflowError, IndexError, KeyError):
        return None


def _check_step(gradient_descent_step, kind, backprop=None):
    for inst in INSTANCES:
        W, b, X, Y = inst.data()
        n = len(W)
        out = call(
            gradient_descent_step,
            "gradient_descent_step",
            W,
            b,
            X,
            Y,
            inst.lambda_,
            ALPHA,
            activation=inst.activation,
        )
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            raise CheckFailure(f"gradient_descent_step should return the new (W, b), got {type(out).__name__}")
        new = out[0] if kind == "W" else out[1]
        if not isinstance(new, (list, tuple)) or len(new) != n:
            got = len(new) if isinstance(new, (list, tuple)) else type(new).__name__
            raise CheckFailure(f"gradient_descent_step: the new {kind} should be a list of {n} arrays, got {got}")
        old = W if kind == "W" else b
        grad = _numeric(inst)[0 if kind == "W" else 1]
        reference_grad = reference.backprop(W, b, X, Y, inst.lambda_, inst.activation)[1 if kind == "W" else 2]
        what = inst.what + f", alpha = {ALPHA}"
        own = _own_step(backprop, inst, kind, W, b, X, Y) if backprop is not None else None
        if own is None:
            backprop = None  # a failing (or hanging) backprop is called once, not once per instance
        for l in range(n):
            bugs = {
                "the step goes uphill: W := W - alpha dJ/dW, with a minus": old[l] + ALPHA * reference_grad[l],
                "alpha is not applied: the step is alpha times the gradient": old[l] - reference_grad[l],
                "the parameter is not updated": old[l],
                "only the step -alpha dJ/dW is returned, not the updated parameter": -ALPHA * reference_grad[l],
            }
            if kind == "W" and inst.lambda_:
                bugs["the weight decay term lambda W is missing from the update"] = old[l] - ALPHA * (
                    reference_grad[l] - inst.lambda_ * W[l]
                )
            if kind == "b" and inst.lambda_:
                bugs["weight decay is applied to the biases (notes, footnote 1)"] = old[l] - ALPHA * (
                    reference_grad[l] + inst.lambda_ * b[l]
                )
            expected = old[l] - ALPHA * grad[l]
            also = own[l] if own is not None else None  # right on top of a wrong backprop: backprop's parts pay
            got = as_floats(new[l], f"{kind}[{l}]")
            compare(f"the new {kind}[{l}]", got, expected, 1e-8, bugs, what, also, basis="backprop")


def check_gradient_descent_W(gradient_descent_step, backprop=None):
    """W^(l) := W^(l) - alpha dJ/dW^(l) for every layer (the batch gradient descent of §2.2).

    With backprop given, the step computed from the student's own backprop is accepted too.
    """
    _check_step(gradient_descent_step, "W", backprop)


def check_gradient_descent_b(gradient_descent_step, backprop=None):
    """b^(l) := b^(l) - alpha dJ/db^(l) for every layer (the batch gradient descent of §2.2).

    With backprop given, the step computed from the student's own backprop is accepted too.
    """
    _check_step(gradient_descent_step, "b", backprop)
