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
    run,
    varies,
    yours,
)
from .attribution import Term, Terms, Variant, mean_of_entries


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


#: The ways a student's f'(z) may be computed, as _data_gradient takes them, and what each means.
FPRIME_VARIANTS = {
    "a": "f' is evaluated at a instead of z: f'(z^(l)) is a(1 - a) for the sigmoid, 1 - a^2 for tanh, "
    "where a = f(z) (not f(a)(1 - f(a)))",
    "no_bias": "f'(z^(l)) is computed without the bias: z^(l) = W^(l-1) a^(l-1) + b^(l-1)",
    "other": "the other activation's derivative is used: f'(z) is a(1 - a) for the sigmoid, 1 - a^2 for tanh",
}


def _fprime(activation: str, at: str, z, a, z_no_bias):
    """f'(z) of one layer, computed the notes' way (at "z") or one of FPRIME_VARIANTS' ways."""
    kind = activation if at != "other" else ("tanh" if activation == "sigmoid" else "sigmoid")
    if at == "a":
        a = reference.sigmoid(a) if activation == "sigmoid" else np.tanh(a)
    elif at == "no_bias":
        a = reference.sigmoid(z_no_bias) if activation == "sigmoid" else np.tanh(z_no_bias)
    return a * (1 - a) if kind == "sigmoid" else 1 - a * a


def _data_gradient(W, b, X, Y, activation, out_fprime=True, hidden_fprime=True, at="z"):
    """Gradient of the squared-error term (1/m) sum (1/2)||h - y||^2 alone, optionally without f' factors
    or with f' computed another way (``at``: see FPRIME_VARIANTS).

    Only used to compute what known bugs give; the expected values are finite differences.
    """
    a = reference.forward_pass(W, b, X, activation)
    z = [None] + [w @ x + v[:, None] for w, v, x in zip(W, b, a)]
    bare = [None] + [w @ x for w, x in zip(W, a)]

    def fp(l):
        return _fprime(activation, at, z[l], a[l], bare[l])

    m = X.shape[1]
    n = len(W)
    delta = -(Y - a[-1]) * (fp(n) if out_fprime else 1.0)
    dW, db = [None] * n, [None] * n
    for l in range(n - 1, -1, -1):
        dW[l] = delta @ a[l].T / m
        db[l] = delta.sum(axis=1) / m
        if l:
            delta = (W[l].T @ delta) * (fp(l) if hidden_fprime else 1.0)
    return dW, db


def _gradient_terms(inst: Instance, kind: str, l: int, single: bool = False) -> Terms:
    """The notes' terms of block dW[l] or db[l] (kind "W" or "b"): the error part and weight decay."""
    W, b, X, Y = inst.data()
    lam = 0.0 if single else inst.lambda_
    if single:
        X, Y = X[:, :1], Y[:, :1]
    i = 0 if kind == "W" else 1
    error = Term(f"the error term (1/m) Delta {kind}", _data_gradient(W, b, X, Y, inst.activation)[i][l])
    terms = [error]
    if lam and kind == "W":
        terms.append(Term(f"the weight decay term lambda_ * W[{l}]", lam * W[l]))
    if lam and kind == "b":
        terms.append(Term(f"lambda_ * b[{l}]", lam * b[l], 0.0, f"weight decay is applied to b[{l}] (only W decays)"))
    variants = [
        Variant({error.name: _data_gradient(W, b, X, Y, inst.activation, at=at)[i][l]}, says)
        for at, says in FPRIME_VARIANTS.items()
    ]
    other = "tanh" if inst.activation == "sigmoid" else "sigmoid"
    ignored = f"the activation argument is ignored ({other} is used on this {inst.activation} network)"
    variants.append(Variant({error.name: _data_gradient(W, b, X, Y, other)[i][l]}, ignored))
    full = _data_gradient(W, b, X, Y, inst.activation)[i]
    others = {
        f"the blocks are swapped: d{kind}[{l}] holds what d{kind}[{k}] should": full[k]
        + (lam * W[k] if kind == "W" else 0)
        for k in range(len(W))
        if k != l and full[k].shape == full[l].shape
    }
    return Terms(terms, m=X.shape[1], variants=variants, others=others)


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


def _triple(out, n_layers, W=None):
    if not isinstance(out, (list, tuple)) or len(out) != 3:
        raise CheckFailure(f"backprop should return (J, dW, db), got {type(out).__name__}")
    dW, db = _pair(out[1:], "backprop", n_layers)
    if W is not None and [np.shape(g) for g in db] == [np.shape(w) for w in W] != [np.shape(g) for g in dW]:
        raise CheckFailure("backprop returns (J, db, dW): db holds arrays of the shapes of W. It returns (J, dW, db)")
    return out[0], dW, db


def _cost_terms(inst: Instance, W, b, X, Y) -> Terms:
    """The notes' terms of J (eq. (8)): the mean squared error and the weight decay."""
    lam = inst.lambda_
    other = "tanh" if inst.activation == "sigmoid" else "sigmoid"
    error = Term(
        "the squared-error term (1/m) sum (1/2)||h(x) - y||^2",
        reference.cost(W, b, X, Y, 0.0, inst.activation),
        scales=mean_of_entries(Y.shape[0]),
    )
    terms = [error]
    if lam:
        terms.append(Term("the weight decay term (lambda/2) sum W^2", 0.5 * lam * sum(float(np.sum(w * w)) for w in W)))
        terms.append(
            Term(
                "(lambda/2) sum b^2",
                0.5 * lam * sum(float(np.sum(v * v)) for v in b),
                0.0,
                "weight decay is applied to the biases too (notes, footnote 1: only W)",
            )
        )
    ignored = f"the activation argument is ignored ({other} is used on this {inst.activation} network)"
    variants = [Variant({error.name: reference.cost(W, b, X, Y, 0.0, other)}, ignored)]
    return Terms(terms, m=X.shape[1], variants=variants)


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
        check_scalar(
            "J(W, b)",
            got,
            expected,
            tol=1e-9,
            bugs=_cost_bugs(inst, W, b, X, Y),
            what=inst.what,
            terms=functools.partial(_cost_terms, inst, W, b, X, Y),
        )


# --------------------------------------------------------------------------
# backprop_single_example
# --------------------------------------------------------------------------


def _sigmoid_instead(inst: Instance, out, single: bool) -> bool:
    """Whether a result on a tanh network is the sigmoid network's, all of it (the activation argument is
    ignored): backprop's (J, dW, db), backprop_single_example's (dW, db).

    Then one part pays for it: backprop's cost (backprop_cost) or backprop_single_example's dW, whose checks
    name the bug; the other parts of that function are judged on the sigmoid networks.
    """
    if inst.activation != "tanh":
        return False
    W, b, X, Y = inst.data()
    if single:
        expected = [*reference.backprop_single_example(W, b, X[:, 0], Y[:, 0], "sigmoid")]
        expected = [*expected[0], *expected[1]]
    else:
        J, dW, db = reference.backprop(W, b, X, Y, inst.lambda_, "sigmoid")
        expected = [J, *dW, *db]
    try:
        with quiet():
            mine = [*out[0], *out[1]] if single else [out[0], *out[1], *out[2]]
            return len(mine) == len(expected) and all(
                np.allclose(np.asarray(g, dtype=float), e, rtol=1e-7, atol=1e-12) for g, e in zip(mine, expected)
            )
    except (TypeError, ValueError, OverflowError):
        return False


def _check_single(backprop_single_example, kind):
    for inst in INSTANCES:
        W, b, X, Y = inst.data()
        n = len(W)
        out = call(
            backprop_single_example, "backprop_single_example", W, b, X[:, 0], Y[:, 0], activation=inst.activation
        )
        dW, db = _pair(out, "backprop_single_example", n)
        if kind == "b" and _sigmoid_instead(inst, (dW, db), single=True):
            lean("backprop_single_example:check_backprop_single_dW")  # that part pays for the ignored activation
            continue
        expected = _numeric(inst, single=True)
        what = f"layer sizes {list(inst.sizes)}, one example, {inst.activation}"
        got, exp = (dW, expected[0]) if kind == "W" else (db, expected[1])
        _in_order(got, exp, f"d{kind}")
        for l in range(n):
            compare(
                f"d{kind}[{l}]",
                got[l],
                exp[l],
                tol=1e-6,
                bugs=_gradient_bugs(inst, kind, l, single=True),
                what=what,
                terms=functools.partial(_gradient_terms, inst, kind, l, single=True),
            )


def _in_order(got, expected, name):
    """CheckFailure if the blocks are in reverse order (the output layer's first)."""
    shapes = [np.shape(g) for g in got]
    right = [e.shape for e in expected]
    if shapes != right and shapes == right[::-1]:
        raise CheckFailure(
            f"{name} is in reverse order: its shapes are {shapes}, expected {right}. {name}[l] is the gradient of "
            f"W[l] (the notes' layer l + 1): {name}[0] is the first layer's, even though backpropagation computes "
            "it last"
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
    return _triple(out, len(W), W)


def check_backprop_cost(backprop):
    """The J returned by backprop is eq. (8)."""
    for inst in INSTANCES:
        W, b, X, Y = inst.data()
        J, _, _ = _backprop(backprop, inst)
        expected = reference.cost(W, b, X, Y, inst.lambda_, inst.activation)
        check_scalar(
            "J(W, b)",
            J,
            expected,
            tol=1e-9,
            bugs=_cost_bugs(inst, W, b, X, Y),
            what=inst.what,
            terms=functools.partial(_cost_terms, inst, W, b, X, Y),
        )


def _check_blocks(backprop, kind, layers):
    """Blocks dW[l] (kind "W") or db[l] ("b") for l in layers (a slice), against finite differences."""
    for inst in INSTANCES:
        J, dW, db = _backprop(backprop, inst)
        if _sigmoid_instead(inst, (J, dW, db), single=False):
            lean("backprop:check_backprop_cost")  # that part pays for the ignored activation
            continue
        got = dW if kind == "W" else db
        expected = _numeric(inst)[0 if kind == "W" else 1]
        _in_order(got, expected, f"d{kind}")
        for l in range(len(expected))[layers]:
            compare(
                f"d{kind}[{l}]",
                got[l],
                expected[l],
                tol=1e-6,
                bugs=_gradient_bugs(inst, kind, l),
                what=inst.what,
                terms=functools.partial(_gradient_terms, inst, kind, l),
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


def _all_close(got, expected) -> bool:
    """Whether got is a list of arrays equal to those of expected (to 1e-10); False for what is not numbers."""
    try:
        with quiet():
            got = list(got)
            return len(got) == len(expected) and all(
                np.allclose(np.asarray(g, dtype=float), e, rtol=1e-10, atol=1e-12) for g, e in zip(got, expected)
            )
    except (TypeError, ValueError, OverflowError):
        return False


def _step(gradient_descent_step, backprop, inst: Instance):
    """The student's step on an instance: if it raises because the student's backprop raises, the step with the
    reference's backprop in its place (backprop's parts pay for the crash, not this one too)."""
    W, b, X, Y = inst.data()
    args = (W, b, X, Y, inst.lambda_, ALPHA)
    try:
        return call(gradient_descent_step, "gradient_descent_step", *args, activation=inst.activation)
    except CheckFailure:
        if backprop is None or _runs(backprop, W, b, X, Y, inst):
            raise
        on_ours = on_reference(gradient_descent_step, backprop=reference.backprop)
        if on_ours is None:
            raise
    out = call(on_ours, "gradient_descent_step", *args, activation=inst.activation)
    lean("backprop")  # taken back if backprop passed its own tests after all
    return out


def _runs(backprop, W, b, X, Y, inst: Instance) -> bool:
    """Whether the student's backprop returns on this instance (whatever its numbers)."""
    try:
        run(backprop, "backprop", W, b, X, Y, inst.lambda_, activation=inst.activation)
    except CheckFailure:
        return False
    return True


def _check_step(gradient_descent_step, kind, backprop=None):
    base = backprop  # the student's backprop, for a step that raises with it (backprop below: for the own step)
    for inst in INSTANCES:
        W, b, X, Y = inst.data()
        n = len(W)
        out = _step(gradient_descent_step, base, inst)
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            raise CheckFailure(f"gradient_descent_step should return the new (W, b), got {type(out).__name__}")
        new = out[0] if kind == "W" else out[1]
        if not isinstance(new, (list, tuple)) or len(new) != n:
            got = len(new) if isinstance(new, (list, tuple)) else type(new).__name__
            raise CheckFailure(f"gradient_descent_step: the new {kind} should be a list of {n} arrays, got {got}")
        old = W if kind == "W" else b
        grad = _numeric(inst)[0 if kind == "W" else 1]
        reference_grad = reference.backprop(W, b, X, Y, inst.lambda_, inst.activation)[1 if kind == "W" else 2]
        _, sW, sb = reference.backprop(W, b, X, Y, inst.lambda_, "sigmoid")
        sigmoid_step = [p - ALPHA * g for p, g in zip(W + b, sW + sb)]
        what = inst.what + f", alpha = {ALPHA}"
        own = _own_step(backprop, inst, kind, W, b, X, Y) if backprop is not None else None
        if own is None:
            backprop = None  # a failing (or hanging) backprop is called once, not once per instance
        on_own = own is not None and _all_close(new, own)  # then backprop's parts pay for what is wrong
        if kind == "b" and inst.activation == "tanh" and not on_own and _all_close(new, sigmoid_step[n:]):
            lean("gradient_descent_step:check_gradient_descent_W")  # that part pays for the ignored activation
            continue
        for l in range(n):
            bugs = {
                "the step goes uphill: W := W - alpha dJ/dW, with a minus": old[l] + ALPHA * reference_grad[l],
                "alpha is not applied: the step is alpha times the gradient": old[l] - reference_grad[l],
                "the parameter is not updated": old[l],
                "only the step -alpha dJ/dW is returned, not the updated parameter": -ALPHA * reference_grad[l],
            }
            if inst.activation == "tanh":
                bugs["the activation argument is ignored (sigmoid is used on this tanh network)"] = sigmoid_step[
                    l if kind == "W" else n + l
                ]
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
            payers = (
                f"backprop:check_backprop_d{kind}1,check_backprop_d{kind}2"  # they pay for what backprop gets wrong
            )
            compare(f"the new {kind}[{l}]", got, expected, 1e-8, bugs, what, also, basis=payers)


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
