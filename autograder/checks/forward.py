"""Hidden-test checks of assignment 02 (forward pass, notes §2.1 and §2.2's initialization)."""

from __future__ import annotations

import numpy as np

from . import CheckFailure, as_floats, call, compare, lean, reference

# --------------------------------------------------------------------------
# initialize_parameters
# --------------------------------------------------------------------------


def _init_result(initialize_parameters, layer_sizes, generator_seed=None, **kwargs):
    """(W, b) from the student's initialize_parameters, with list lengths and shapes checked.

    generator_seed: pass rng=np.random.default_rng(generator_seed), made inside the call (a Generator
    changes state when drawn from, which ``call`` would take for an argument modified in place).
    """
    if generator_seed is not None and callable(initialize_parameters):

        def student(sizes):
            return initialize_parameters(sizes, rng=np.random.default_rng(generator_seed))
    else:
        student = initialize_parameters
    out = call(student, "initialize_parameters", list(layer_sizes), **kwargs)
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        raise CheckFailure(
            f"initialize_parameters({layer_sizes}) should return a pair (W, b), got {type(out).__name__}"
        )
    W, b = out
    nl = len(layer_sizes)
    for name, seq in (("W", W), ("b", b)):
        if not isinstance(seq, (list, tuple)) or len(seq) != nl - 1:
            got = len(seq) if isinstance(seq, (list, tuple)) else type(seq).__name__
            raise CheckFailure(
                f"for layer_sizes = {layer_sizes}, {name} should be a list of {nl - 1} arrays "
                f"(one per pair of adjacent layers), got {got}"
            )
    W = [as_floats(w, f"W[{l}]", (s_next, s)) for l, (w, s, s_next) in enumerate(zip(W, layer_sizes, layer_sizes[1:]))]
    b = [as_floats(v, f"b[{l}]", (s_next,)) for l, (v, s_next) in enumerate(zip(b, layer_sizes[1:]))]
    return W, b


def check_initialize_shapes(initialize_parameters):
    """W[l]: (s_{l+2}, s_{l+1}) and b[l]: (s_{l+2},), one per pair of adjacent layers."""
    for sizes in ([3, 3, 1], [5, 3, 2], [4, 7, 3, 1], [2, 1], [6, 4, 5, 3, 2]):
        W, b = _init_result(initialize_parameters, sizes, rng=0)
        for l, (w, v) in enumerate(zip(W, b)):
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(v))):
                raise CheckFailure(f"W[{l}] or b[{l}] for layer_sizes = {sizes} contains inf or nan")


def _check_normal(values, epsilon, name, default=None):
    """values look like independent N(0, epsilon^2) draws (standard deviation, mean, tails, not all equal).

    The scale is judged first: draws of the wrong scale also have a mean far from 0 in units of epsilon.
    default: the epsilon the function uses when none is given (a function that ignores epsilon uses it).
    """
    x = values.ravel()
    n = x.size
    mean, std = float(x.mean()), float(x.std())
    # 6 standard errors: a correct sampler fails with probability ~1e-9.
    if abs(std / epsilon - 1) > 6 / np.sqrt(2 * n):
        hint = ""
        if std == 0:
            hint = " (all entries are equal: the notes' random initialization breaks symmetry)"
        elif default is not None and default != epsilon and abs(std / default - 1) < 0.1:
            hint = f" (the default epsilon = {default} was used: pass epsilon on, it is ignored)"
        elif abs(std - 1) < 0.1:
            hint = (
                " (standard deviation 1: the draws are not scaled by epsilon, or epsilon is ignored; "
                "rng.normal(0, epsilon, shape) draws N(0, epsilon^2))"
            )
        elif abs(std / epsilon**2 - 1) < 0.1:
            hint = " (epsilon^2 was used as the standard deviation: N(0, epsilon^2) has standard deviation epsilon)"
        elif abs(std / (epsilon / np.sqrt(3)) - 1) < 0.1:
            hint = " (uniform draws in [-epsilon, epsilon]? the notes ask for the normal distribution N(0, epsilon^2))"
        raise CheckFailure(
            f"{name}: the standard deviation of {n} entries is {std:.4g}, expected epsilon = {epsilon}{hint}"
        )
    if abs(mean) > 6 * epsilon / np.sqrt(n):
        raise CheckFailure(f"{name}: the mean of {n} entries is {mean:.3g}, expected about 0 (N(0, epsilon^2))")
    # Normal tails: about 4.55% of draws lie beyond 2 standard deviations; uniform draws never do.
    tail = float(np.mean(np.abs(x) > 2 * epsilon))
    if abs(tail - 0.0455) > 6 * np.sqrt(0.0455 * 0.9545 / n):
        raise CheckFailure(
            f"{name}: {100 * tail:.2f}% of the entries lie beyond 2 epsilon, expected about 4.55% for N(0, epsilon^2)"
        )


def check_initialize_distribution(initialize_parameters):
    """Every entry of W and b is drawn from N(0, epsilon^2), with epsilon = 0.01 by default."""
    W, b = _init_result(initialize_parameters, [300, 200], rng=7)
    _check_normal(W[0], 0.01, "W[0] with the default epsilon, layer_sizes = [300, 200]")
    W, b = _init_result(initialize_parameters, [20, 4000, 30], epsilon=0.5, rng=8)
    _check_normal(W[0], 0.5, "W[0] with epsilon = 0.5, layer_sizes = [20, 4000, 30]", default=0.01)
    _check_normal(W[1], 0.5, "W[1] with epsilon = 0.5, layer_sizes = [20, 4000, 30]", default=0.01)
    _check_normal(b[0], 0.5, "b[0] with epsilon = 0.5, layer_sizes = [20, 4000, 30]", default=0.01)


def _same_params(p, q):
    return all(np.array_equal(x, y) for x, y in zip(p[0] + p[1], q[0] + q[1]))


def check_initialize_seeding(initialize_parameters):
    """rng: an int seed gives reproducible draws, different seeds differ, a Generator and None are accepted."""
    sizes = [4, 5, 3]
    first = _init_result(initialize_parameters, sizes, rng=42)
    again = _init_result(initialize_parameters, sizes, rng=42)
    if not _same_params(first, again):
        raise CheckFailure(
            "two calls with rng=42 gave different parameters: build the generator from the seed "
            "with np.random.default_rng(rng)"
        )
    other = _init_result(initialize_parameters, sizes, rng=43)
    if _same_params(first, other):
        raise CheckFailure("rng=42 and rng=43 gave the same parameters: the seed is ignored")
    if np.array_equal(first[0][0].ravel()[:3], first[1][0][:3]) and first[0][0].size > 3:
        raise CheckFailure("W[0] and b[0] start with the same numbers: a generator is re-seeded for every array")
    try:
        from_gen = _init_result(initialize_parameters, sizes, generator_seed=5)
    except CheckFailure as failure:
        raise CheckFailure(
            f"{failure}\n  with rng a Generator (rng=np.random.default_rng(5)), as the notebook allows: "
            "np.random.default_rng(rng) accepts None, an int or a Generator; np.random.seed(rng) takes no Generator"
        ) from None
    from_gen_again = _init_result(initialize_parameters, sizes, generator_seed=5)
    if not _same_params(from_gen, from_gen_again):
        raise CheckFailure(
            "two Generators with the same state gave different parameters: draw from the Generator passed as rng"
        )
    if _same_params(from_gen, _init_result(initialize_parameters, sizes, generator_seed=6)):
        raise CheckFailure(
            "rng=np.random.default_rng(5) and default_rng(6) gave the same parameters: the Generator is ignored"
        )
    a = _init_result(initialize_parameters, sizes)
    c = _init_result(initialize_parameters, sizes, rng=None)
    if _same_params(a, c):
        raise CheckFailure("two calls without rng gave the same parameters: rng=None should use fresh entropy")


# --------------------------------------------------------------------------
# forward_pass
# --------------------------------------------------------------------------


def _network(sizes, m, seed, scale=1.0):
    """(W, b, X) of a random network whose units are neither linear nor saturated."""
    rng = np.random.default_rng(seed)
    W = [rng.normal(0, scale / np.sqrt(s), (s_next, s)) for s, s_next in zip(sizes[:-1], sizes[1:])]
    b = [rng.normal(0, 0.5, s_next) for s_next in sizes[1:]]
    X = rng.normal(0, 1.5, (sizes[0], m))
    return W, b, X


def _layers(a, name, expected):
    """The student's list of activations as float arrays, length and shapes checked."""
    if not isinstance(a, (list, tuple)):
        raise CheckFailure(f"{name} should return a list [a1, a2, ..., a_nl], got {type(a).__name__}")
    if len(a) != len(expected):
        hint = " (a1 = X belongs at the front of the list)" if len(a) == len(expected) - 1 else ""
        raise CheckFailure(
            f"{name} should return {len(expected)} arrays [a1 = X, ..., a{len(expected)}], got {len(a)}{hint}"
        )
    return [as_floats(x, f"a{k + 1}", e.shape) for k, (x, e) in enumerate(zip(a, expected))]


def _buggy_forward(W, b, X, activation, *, last_linear=False, transpose=False, no_bias=False, bias_rows=False):
    """The activations a known bug produces (None where the bug cannot run on these shapes)."""
    f = reference.sigmoid if activation == "sigmoid" else reference.tanh
    a = [np.asarray(X, dtype=float)]
    try:
        for l, (w, v) in enumerate(zip(W, b)):
            w = w.T if transpose else w
            z = w @ a[-1]
            if not no_bias:
                z = z + (v if bias_rows else v[:, None])
            a.append(z if (last_linear and l == len(W) - 1) else f(z))
    except ValueError:
        return None
    return a


def _forward_bugs(W, b, X, activation):
    """{bug description: list of activations it gives}, for the bugs that run on these shapes."""
    other = "tanh" if activation == "sigmoid" else "sigmoid"
    candidates = {
        "the output layer has no activation: a_nl must be f(z_nl), not z_nl": _buggy_forward(
            W, b, X, activation, last_linear=True
        ),
        "W.T is used: z^(l+1) = W^(l) a^(l) + b^(l) with W[l] of shape (s_{l+1}, s_l)": _buggy_forward(
            W, b, X, activation, transpose=True
        ),
        "the bias b^(l) is missing from z^(l+1)": _buggy_forward(W, b, X, activation, no_bias=True),
        "b is added along the wrong axis: use b[:, None] (one column per example)": _buggy_forward(
            W, b, X, activation, bias_rows=True
        ),
        f"the activation argument is ignored ({other} is used instead of {activation})": reference.forward_pass(
            W, b, X, other
        ),
    }
    return {bug: a for bug, a in candidates.items() if a is not None}


def _check_forward(forward_pass, instances, tanh_elsewhere=False):
    """The activations of every layer on each instance. tanh_elsewhere: a result that is the sigmoid's on a tanh
    network (the activation argument ignored) is check_forward_tanh's to pay for, not this part's too."""
    for sizes, m, activation, seed in instances:
        W, b, X = _network(sizes, m, seed)
        what = f"layer sizes {sizes}, m = {m}, activation = {activation!r}"
        expected = reference.forward_pass(W, b, X, activation)
        kwargs = {} if activation == "sigmoid" and seed % 2 else {"activation": activation}
        got = _layers(call(forward_pass, "forward_pass", W, b, X, **kwargs), "forward_pass", expected)
        if tanh_elsewhere and activation == "tanh":
            sigmoid = reference.forward_pass(W, b, X, "sigmoid")
            if all(np.allclose(g, e, rtol=1e-10, atol=1e-12) for g, e in zip(got, sigmoid)):
                lean("forward_pass:check_forward_tanh")  # taken back if that part passed after all
                continue
        bugs = _forward_bugs(W, b, X, activation)
        compare("a1", got[0], expected[0], tol=0, what=what + " (a1 is X itself)")
        for k in range(1, len(expected)):
            layer_bugs = {bug: a[k] for bug, a in bugs.items() if len(a) > k}
            compare(f"a{k + 1}", got[k], expected[k], tol=1e-10, bugs=layer_bugs, what=what)


def check_forward_structure(forward_pass):
    """forward_pass returns [a1 = X, a2, ..., a_nl], a_{l+1} of shape (s_{l+1}, m)."""
    for sizes, m in (([3, 3, 1], 4), ([5, 2, 3], 1), ([4, 6, 5, 2], 7)):
        W, b, X = _network(sizes, m, 11)
        expected = reference.forward_pass(W, b, X)
        got = _layers(call(forward_pass, "forward_pass", W, b, X), "forward_pass", expected)
        compare("a1", got[0], X, tol=0, what=f"layer sizes {sizes}, m = {m} (a1 is X itself)")


def check_forward_sigmoid(forward_pass):
    """Eqs. (6)-(7) with the sigmoid: square and non-square layers, m = 1 and m > 1."""
    _check_forward(
        forward_pass,
        [
            ([3, 3, 3], 3, "sigmoid", 1),
            ([5, 3, 2], 6, "sigmoid", 2),
            ([2, 4, 3], 1, "sigmoid", 3),
            ([4, 2, 4], 2, "sigmoid", 5),
        ],
    )


def check_forward_tanh(forward_pass):
    """Eqs. (6)-(7) with activation="tanh" in every layer, output included."""
    _check_forward(
        forward_pass,
        [([3, 3, 3], 3, "tanh", 4), ([5, 3, 2], 6, "tanh", 6), ([2, 4, 3], 1, "tanh", 8)],
    )


def check_forward_deep(forward_pass):
    """Eqs. (6)-(7) through three and four weight layers, both activations (an ignored activation is the tanh
    part's to pay for)."""
    _check_forward(
        forward_pass,
        [
            ([4, 4, 4, 4], 3, "sigmoid", 9),
            ([3, 5, 4, 2], 5, "sigmoid", 10),
            ([6, 3, 5, 4, 2], 2, "tanh", 12),
            ([2, 3, 4, 1], 1, "tanh", 14),
        ],
        tanh_elsewhere=True,
    )
