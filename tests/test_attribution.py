"""Diagnosis by attribution (autograder/checks/attribution.py): a wrong result explained as the notes' terms,
the checks naming bugs that no catalogue lists, a crash naming its line, and one bug costing one part."""

from functools import partial

import numpy as np
import pytest

from autograder import reference
from autograder.checks import CheckFailure
from autograder.checks import backprop as B
from autograder.checks import sparse as S
from autograder.checks.attribution import Term, Terms, Variant

rng = np.random.default_rng(0)
E, D, Bb = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
TERMS = Terms(
    [Term("the error term", E), Term("the decay term", D), Term("decay of b", Bb, 0.0, "decay is applied to b")],
    m=5,
    variants=[Variant({"the error term": E * 1.3 + 0.1}, "f' is taken at a")],
    others={"the blocks are swapped": rng.normal(size=(3, 4))},
)


@pytest.mark.parametrize(
    "got, words",
    [
        (E, "the decay term is missing"),
        (2 * E + D, "the error term is twice what it should be"),
        (E + 0.5 * D, "the decay term is half what it should be"),
        (5 * E + D, "the error term is not divided by m = 5 (the 1/m is missing)"),
        (E + D / 5, "the decay term is divided by m = 5 once too often"),
        (-E - D, "the whole result has the wrong sign"),
        (E + D + Bb, "decay is applied to b"),
        (E * 1.3 + 0.1 + D, "f' is taken at a"),
        (E * 1.3 + 0.1, "f' is taken at a; and the decay term is missing"),
        (5 * E, "the error term is not divided by m = 5 (the 1/m is missing); and the decay term is missing"),
        (TERMS.others["the blocks are swapped"], "the blocks are swapped"),
    ],
)
def test_a_combination_of_terms_is_named(got, words):
    assert (TERMS.explain(got) or "").startswith(words)


@pytest.mark.parametrize("got", [E + D, E + 1.7 * D, E + D + 1e-3, E + 3 * D + Bb / 2, np.full((3, 4), np.nan)])
def test_what_is_right_or_no_simple_combination_is_not_named(got):
    assert TERMS.explain(got) is None


def test_explanations_as_simple_as_each_other_are_said_together_or_not_at_all():
    terms = Terms([Term("x", np.ones(3)), Term("y", np.ones(3))])
    both = "one of these (they give the same numbers here): x is missing; or y is missing"
    assert terms.explain(np.ones(3)) == both
    many = Terms([Term(name, np.ones(3)) for name in "abcd"])
    assert many.explain(3 * np.ones(3)) is None  # any of four missing: a guess


# ------------------------------------------------------------------ 03: a backprop written with one bug


def _backprop(at="z", sigmoid_only=False, reverse=False):
    """A loop-style backprop of §2.2 whose f' is taken at "z" (right), "a", "no_bias" or "sigmoid" (a(1-a) for any
    activation); sigmoid_only ignores the activation argument; reverse returns dW output layer first."""

    def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
        act = "sigmoid" if sigmoid_only else activation
        f = reference.sigmoid if act == "sigmoid" else np.tanh
        a, bare = [X], [None]
        for w, v in zip(W, b):
            bare.append(w @ a[-1])
            a.append(f(bare[-1] + v[:, None]))

        def fp(l):
            s = {"z": a[l], "a": f(a[l]), "no_bias": f(bare[l]), "sigmoid": a[l]}[at]
            return s * (1 - s) if act == "sigmoid" or at == "sigmoid" else 1 - s * s

        m, n = X.shape[1], len(W)
        d = -(Y - a[-1]) * fp(n)
        dW, db = [None] * n, [None] * n
        for l in range(n - 1, -1, -1):
            dW[l], db[l] = d @ a[l].T / m + lambda_ * W[l], d.sum(axis=1) / m
            if l:
                d = (W[l].T @ d) * fp(l)
        J = 0.5 * np.sum((a[-1] - Y) ** 2) / m + lambda_ / 2 * sum(np.sum(w * w) for w in W)
        return J, dW[::-1] if reverse else dW, db

    return backprop


def _said(check, function) -> str:
    """The message of check's failure on function; one the feedback shows (no line of the grader's code in it)."""
    from autograder.feedback import Secrets, grader_lines

    with pytest.raises(CheckFailure) as failure:
        check(function)
    said = str(failure.value)
    assert not Secrets(grader_lines()).found_in(said), f"the feedback would withhold: {said}"
    return said


@pytest.mark.parametrize(
    "at, words",
    [
        ("a", "f' is evaluated at a instead of z"),
        ("no_bias", "f'(z^(l)) is computed without the bias"),
        ("sigmoid", "the other activation's derivative is used"),
    ],
)
def test_backprop_with_f_prime_taken_elsewhere_is_told_so(at, words):
    for check in (B.check_backprop_dW1, B.check_backprop_dW2, B.check_backprop_db1):
        assert words in _said(check, _backprop(at))
    B.check_backprop_cost(_backprop(at))  # its J is right


def test_an_ignored_activation_costs_backprops_cost_part_only():
    from autograder.checks import leaning

    sigmoid_only = _backprop(sigmoid_only=True)
    assert "the activation argument is ignored (sigmoid is used" in _said(B.check_backprop_cost, sigmoid_only)
    with leaning() as leaned:
        for check in (B.check_backprop_dW1, B.check_backprop_dW2, B.check_backprop_db1, B.check_backprop_db2):
            check(sigmoid_only)  # judged on the sigmoid networks
    assert leaned == {"backprop:check_backprop_cost"}  # taken back by the isolated pass if that part passed


def test_an_ignored_activation_costs_backprop_single_examples_dW_part_only():
    def single(W, b, x, y, activation="sigmoid"):
        return reference.backprop_single_example(W, b, x, y, "sigmoid")

    assert "the activation argument is ignored (sigmoid is used on this tanh network)" in _said(
        B.check_backprop_single_dW, single
    )
    B.check_backprop_single_db(single)


def test_a_gradient_wrong_on_tanh_alone_is_not_excused():
    assert "the other activation's derivative" in _said(B.check_backprop_dW2, _backprop("sigmoid"))


def test_blocks_in_reverse_order_are_told_so():
    assert "dW is in reverse order" in _said(B.check_backprop_dW1, _backprop(reverse=True))


# ------------------------------------------------------------------ 05: a sparse autoencoder cost with one bug


def _sae(bug):
    def cost(theta, v, h, lam, rho, beta, data):
        W1, W2, b1, b2 = (np.array(x) for x in reference._unpack_autoencoder(theta, v, h))
        m = data.shape[1]
        a2 = reference.sigmoid(W1 @ data + b1[:, None])
        a3 = reference.sigmoid(W2 @ a2 + b2[:, None])
        rho_hat = a2.sum(axis=1) if bug == "rho_hat sum" else a2.mean(axis=1)
        with np.errstate(all="ignore"):
            kl = reference.kl_divergence(*((rho_hat, rho) if bug == "kl swapped" else (rho, rho_hat)))
        half = 1.0 if bug == "no half" else 0.5
        error = 0.5 * np.mean((a3 - data) ** 2) if bug == "mean of entries" else half * np.sum((a3 - data) ** 2) / m
        sparsity = {"no beta in J": np.sum(kl), "kl mean": beta * np.mean(kl)}.get(bug, beta * np.sum(kl))
        J = error + lam / 2 * (np.sum(W1**2) + np.sum(W2**2)) + sparsity
        s = reference.sigmoid if bug == "f' at a" else (lambda a: a)
        d3 = (a3 - data) * (1 if bug == "no f' on delta3" else s(a3) * (1 - s(a3)))
        sp = (1.0 if bug == "no beta" else beta) * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
        d2 = (W2.T @ d3 + sp[:, None]) * s(a2) * (1 - s(a2))
        decay2 = 2 if bug == "decay twice" else 1
        grads = [d2 @ data.T / m + lam * W1, d3 @ a2.T / m + decay2 * lam * W2, d2.sum(1) / m, d3.sum(1) / m]
        if bug == "W blocks swapped":
            grads = [grads[1], grads[0], grads[2], grads[3]]
        return J, np.concatenate([g.ravel() for g in grads])

    return cost


@pytest.mark.parametrize(
    "bug, failing, words",
    [
        ("no half", {"cost"}, "the squared-error term (1/m) sum (1/2)||a3 - x||^2 is twice what it should be"),
        ("kl swapped", {"cost"}, "the arguments of KL are swapped"),
        ("rho_hat sum", {"cost", "W1", "b1"}, "rho_hat"),
        ("f' at a", {"W1", "W2", "b1", "b2"}, "f' is evaluated at a instead of z"),
        ("no beta", {"W1", "b1"}, "beta is missing from the sparsity term's derivative"),
        ("decay twice", {"W2"}, "the weight decay term lambda W2 is twice what it should be"),
        ("mean of entries", {"cost"}, "the squared error is averaged over all m x 7 entries (np.mean)"),
        ("no beta in J", {"cost"}, "beta is missing from the sparsity term"),
        ("kl mean", {"cost"}, "the KL divergences are averaged over the 5 hidden units"),
        ("no f' on delta3", {"W1", "W2", "b1", "b2"}, "delta3 is not multiplied by f'(z3) = a3 (1 - a3)"),
        ("W blocks swapped", {"W1", "W2"}, "dJ/dW1 and dJ/dW2 are swapped in grad"),
    ],
)
def test_sparse_autoencoder_bugs_fail_their_parts_and_are_named(bug, failing, words):
    checks = {
        "cost": S.check_sae_cost,
        "W1": S.check_sae_grad_W1,
        "W2": S.check_sae_grad_W2,
        "b1": S.check_sae_grad_b1,
        "b2": S.check_sae_grad_b2,
    }
    for part, check in checks.items():
        if part in failing:
            assert words in _said(check, _sae(bug)), part
        else:
            check(_sae(bug))


def test_a_nan_or_inf_cost_from_a_rho_hat_outside_0_1_says_so():
    said = _said(S.check_sae_cost, _sae("rho_hat sum"))
    assert "contains" in said and "rho_hat in (0, 1)" in said and "overflow" not in said


# ------------------------------------------------------------------ one bug, one part


def _passes(check, function):
    from autograder.checks import leaning

    with leaning() as leaned:
        check(function)
    return leaned


def test_a_forward_pass_that_ignores_its_activation_costs_the_tanh_part_only():
    from autograder.checks import forward as F

    def sigmoid_only(W, b, X, activation="sigmoid"):
        return reference.forward_pass(W, b, X, "sigmoid")

    assert "the activation argument is ignored" in _said(F.check_forward_tanh, sigmoid_only)
    assert _passes(F.check_forward_deep, sigmoid_only) == {"forward_pass:check_forward_tanh"}


def test_a_gradient_step_that_ignores_its_activation_costs_the_W_part_only():
    def step(W, b, X, Y, lambda_, alpha, activation="sigmoid"):
        _, dW, db = reference.backprop(W, b, X, Y, lambda_, "sigmoid")
        return [w - alpha * g for w, g in zip(W, dW)], [v - alpha * g for v, g in zip(b, db)]

    assert "the activation argument is ignored" in _said(B.check_gradient_descent_W, step)
    assert _passes(B.check_gradient_descent_b, step) == {"gradient_descent_step:check_gradient_descent_W"}


def test_display_network_values_are_judged_apart_from_the_layout():
    from autograder.checks import visualization as V

    def no_cols(A):
        return reference.display_network(A)

    def float_grid(A, cols=None):  # ceil(sqrt(M)) left a float: raises where M is no square
        if cols is None and not np.sqrt(np.shape(A)[1]).is_integer():
            raise TypeError("'numpy.float64' object cannot be interpreted as an integer")
        return reference.display_network(A, cols)

    assert "it takes the number of grid columns as cols" in _said(V.check_display_network_layout, no_cols)
    assert "cannot be interpreted as an integer" in _said(V.check_display_network_layout, float_grid)
    for function in (no_cols, float_grid):
        assert _passes(V.check_display_network_values, function) == {"display_network:check_display_network_layout"}

    def float_grid_always(A, cols=None):
        raise TypeError("'numpy.float64' object cannot be interpreted as an integer")

    def raises(A, cols=None):  # not a layout's failure: the values' part fails too
        raise ValueError("no")

    assert "could be judged on 0 image(s) only" in _said(V.check_display_network_values, float_grid_always)
    assert "display_network raised ValueError: no" in _said(V.check_display_network_values, raises)


def test_an_initializer_of_the_wrong_scale_is_told_about_its_scale_first():
    from autograder.checks import forward as F

    def scale(sd):
        def initialize_parameters(layer_sizes, epsilon=0.01, rng=None):
            rng = np.random.default_rng(rng)
            pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
            return [rng.normal(0, sd, (t, s)) for s, t in pairs], [rng.normal(0, sd, t) for _, t in pairs]

        return initialize_parameters

    assert "standard deviation 1: the draws are not scaled by epsilon" in _said(
        F.check_initialize_distribution, scale(1.0)
    )
    assert "the default epsilon = 0.01 was used" in _said(F.check_initialize_distribution, scale(0.01))


@pytest.mark.parametrize("h, words", [(1e-4, "a fixed step of 0.0001"), (1e-5, "a fixed step of 1e-5 or smaller")])
def test_a_fixed_step_is_told_as_it_is(h, words):
    from autograder.checks import gradcheck as G

    def numerical_gradient(J, theta, epsilon=1e-4):
        return np.array([(J(theta + h * e) - J(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])

    assert f"the epsilon argument is ignored ({words}" in _said(G.check_numerical_gradient_epsilon, numerical_gradient)


def test_per_row_normalization_is_named():
    def normalize_patches(P):
        d = P - P.mean(axis=1, keepdims=True)
        s = 3 * P.std(axis=1, keepdims=True)
        return (np.clip(d, -s, s) / s + 1) * 0.4 + 0.1

    assert "each row's mean and sigma are used" in _said(S.check_normalize_patches, normalize_patches)


# ------------------------------------------------------------------ a crash names its line and shapes

_MISSING_TRANSPOSE = """
def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
    a = forward_pass(W, b, X, activation)
    m = X.shape[1]
    delta = (a[-1] - Y) * a[-1] * (1 - a[-1])
    dW, db = [None] * len(W), [None] * len(W)
    for l in reversed(range(len(W))):
        dW[l] = delta @ a[l].T / m + lambda_ * W[l]
        db[l] = delta.sum(axis=1) / m
        if l:
            delta = (W[l] @ delta) * a[l] * (1 - a[l])
    return 0.0, dW, db
"""


def _crash_said(backprop) -> str:
    said = _said(B.check_backprop_dW1, backprop)
    assert "at line 11 of your cell: delta = (W[l] @ delta) * a[l] * (1 - a[l])" in said
    assert "W[l] has shape (2, 3)" in said and "delta has shape (2, 5)" in said
    assert "did you mean W[l].T @ delta?" in said
    return said


def test_a_crash_names_the_line_and_the_shapes_that_do_not_fit(tmp_path):
    import linecache

    cell = str(tmp_path / "ipykernel_cell.py")  # as IPython names a cell's code: no library's file
    linecache.cache[cell] = (len(_MISSING_TRANSPOSE), None, _MISSING_TRANSPOSE.splitlines(True), cell)
    namespace = {"np": np, "forward_pass": reference.forward_pass}
    exec(compile(_MISSING_TRANSPOSE, cell, "exec"), namespace)
    _crash_said(namespace["backprop"])


@pytest.mark.slow  # a sandbox
def test_a_crash_in_the_sandbox_names_the_line_and_the_shapes_too():
    from autograder.sandbox import Limits, Sandbox

    given = (
        "import numpy as np\n"
        "def forward_pass(W, b, X, activation='sigmoid'):\n"
        "    a = [X]\n"
        "    for w, v in zip(W, b):\n"
        "        a.append(1 / (1 + np.exp(-(w @ a[-1] + v[:, None]))))\n"
        "    return a\n"
    )
    with Sandbox(Limits(call_seconds=30)) as box:
        errors = box.run_cells(
            [
                {"id": "given", "source": given, "student": False},
                {"id": "answer", "source": _MISSING_TRANSPOSE, "student": True},
            ]
        )
        assert not errors
        _crash_said(box.function("backprop"))


# ------------------------------------------------------------------ a crash in a base function costs its own parts only

_CRASHING_BACKPROP = """
import numpy as np

def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
    raise ValueError("not written yet")

def gradient_descent_step(W, b, X, Y, lambda_, alpha, activation="sigmoid"):
    _, dW, db = backprop(W, b, X, Y, lambda_, activation=activation)
    return [w - alpha * g for w, g in zip(W, dW)], [v - alpha * g for v, g in zip(b, db)]
"""


def _kernel_and_sandbox(source, names):
    """{name: function} defined by source in this process, then the same in a sandbox (yielded in turn)."""
    from autograder.sandbox import Limits, Sandbox

    namespace = {}
    exec(source, namespace)
    yield {n: namespace[n] for n in names}
    with Sandbox(Limits(call_seconds=60)) as box:
        assert not box.run_cells([{"id": "answer", "source": source, "student": True}])
        yield {n: box.function(n) for n in names}


@pytest.mark.slow  # a sandbox
def test_a_step_on_a_backprop_that_raises_is_judged_on_the_reference():
    for f in _kernel_and_sandbox(_CRASHING_BACKPROP, ["backprop", "gradient_descent_step"]):
        for check in (B.check_gradient_descent_W, B.check_gradient_descent_b):
            assert _passes(partial(check, backprop=f["backprop"]), f["gradient_descent_step"]) == {"backprop"}
        assert "not written yet" in _said(B.check_backprop_dW1, f["backprop"])


@pytest.mark.slow  # a sandbox
def test_a_wrong_step_on_a_backprop_that_raises_still_fails():
    source = _CRASHING_BACKPROP.replace("w - alpha * g", "w + alpha * g")
    for f in _kernel_and_sandbox(source, ["backprop", "gradient_descent_step"]):
        said = _said(partial(B.check_gradient_descent_W, backprop=f["backprop"]), f["gradient_descent_step"])
        assert "the step goes uphill" in said


_NAN_COST = """
import numpy as np
import scipy.optimize

def sparse_autoencoder_cost(theta, v, h, lambda_, rho, beta, data):
    return float("nan"), np.full(theta.shape, np.nan)

def train_sparse_autoencoder(data, hidden_size, lambda_, rho, beta, max_iter=400, rng=None):
    v = data.shape[0]
    r = np.sqrt(6) / np.sqrt(hidden_size + v + 1)
    rng = np.random.default_rng(rng)
    theta = np.concatenate([rng.uniform(-r, r, 2 * hidden_size * v), np.zeros(hidden_size + v)])
    args = (v, hidden_size, lambda_, rho, beta, data)
    options = {"maxiter": max_iter}
    return scipy.optimize.minimize(sparse_autoencoder_cost, theta, args, "L-BFGS-B", jac=True, options=options).x
"""


@pytest.mark.slow  # a sandbox
def test_training_on_a_cost_that_gives_nan_is_judged_with_the_reference_cost():
    for f in _kernel_and_sandbox(_NAN_COST, ["train_sparse_autoencoder", "sparse_autoencoder_cost"]):
        check = partial(S.check_train, sparse_autoencoder_cost=f["sparse_autoencoder_cost"])
        judged = _passes(check, f["train_sparse_autoencoder"])
        assert judged == {"sparse_autoencoder_cost"}


def test_backprop_returning_db_before_dW_is_told_so():
    def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
        J, dW, db = reference.backprop(W, b, X, Y, lambda_, activation)
        return J, db, dW

    assert "backprop returns (J, db, dW)" in _said(B.check_backprop_dW1, backprop)


def test_a_cost_averaged_over_every_entry_is_named():
    def cost(W, b, X, Y, lambda_, activation="sigmoid"):
        h = reference.forward_pass(W, b, X, activation)[-1]
        return 0.5 * np.mean((h - Y) ** 2) + 0.5 * lambda_ * sum(np.sum(w**2) for w in W)

    assert "averaged over all m x" in _said(B.check_cost, cost)


def test_the_sparse_autoencoders_initializer_is_told_how_its_range_is_wrong():
    def initialize(bound):
        def initialize_sparse_autoencoder(h, v, rng=None):
            r = np.sqrt(6) / np.sqrt(h + v + 1)
            sqrt6 = np.sqrt(6) / (h + v + 1)
            low, high = {"0 to r": (0, r), "no sqrt": (-r * r, r * r), "sqrt(6)/(h+v+1)": (-sqrt6, sqrt6)}[bound]
            W = np.random.default_rng(rng).uniform(low, high, 2 * h * v)
            return np.concatenate([W, np.zeros(h + v)])

        return initialize_sparse_autoencoder

    assert "all weights lie in [0, " in _said(S.check_initialize, initialize("0 to r"))
    assert "that is r without its square root" in _said(S.check_initialize, initialize("no sqrt"))
    assert "the square root of h + v + 1 is missing" in _said(S.check_initialize, initialize("sqrt(6)/(h+v+1)"))


def test_display_networks_ignored_cols_and_max_without_abs_are_named():
    from autograder.checks import visualization as V

    def ignores_cols(A, cols=None):
        return reference.display_network(A)

    def by_max(A, cols=None):  # the reference's image, each patch rescaled from max |value| to max value
        return V._by_max(np.asarray(A, dtype=float), cols)

    assert "cols is ignored" in _said(V.check_display_network_layout, ignores_cols)
    assert "divided by its largest value, not its largest absolute value" in _said(
        V.check_display_network_values, by_max
    )


def test_sample_patches_that_ignore_patch_size_are_told_so():
    def sample_patches(images, patch_size=8, num_patches=10000, rng=None):
        rng = np.random.default_rng(rng)
        k, height, width = np.shape(images)
        cols = []
        for _ in range(num_patches):
            i, r, c = rng.integers(k), rng.integers(height - 7), rng.integers(width - 7)
            cols.append(np.asarray(images)[i, r : r + 8, c : c + 8].ravel())
        return reference.normalize_patches(np.array(cols).T)

    assert "patch_size is ignored" in _said(S.check_sample_patches_shape, sample_patches)


def test_a_value_right_but_for_its_sign_is_told_so():
    from autograder.checks import activations as A

    def tanh(z):
        e = np.exp(-2 * np.abs(np.asarray(z, dtype=float)))
        return (1 - e) / (1 + e)  # |tanh(z)|: the sign of z is lost

    said = _said(A.check_tanh_values, tanh)
    assert "have the wrong sign (where the expected value is negative)" in said


@pytest.mark.slow  # a sandbox
def test_a_substituted_function_refuses_large_arguments():
    """The student's code calls the reference's function in our place (on_reference): huge arrays would make the
    grader compute for long."""
    source = _CRASHING_BACKPROP.replace(
        "    _, dW, db = backprop(W, b, X, Y, lambda_, activation=activation)\n",
        "    big = np.ones((200, 200))\n"
        "    backprop([big, big], [np.ones(200)] * 2, big, big, lambda_)\n"
        "    _, dW, db = backprop(W, b, X, Y, lambda_, activation=activation)\n",
    )
    for f in _kernel_and_sandbox(source, ["backprop", "gradient_descent_step"]):
        said = _said(partial(B.check_gradient_descent_W, backprop=f["backprop"]), f["gradient_descent_step"])
        assert "is given more than 10000 numbers here" in said


def test_where_a_crash_happened_runs_none_of_the_students_code():
    """A function's globals may be a dict subclass: looking names up in it would run the student's methods."""
    import types

    from autograder.sandbox_child import where

    called = []

    class Spy(dict):
        def get(self, *args):
            called.append(args)
            return dict.get(self, *args)

        def __contains__(self, key):
            called.append(key)
            return dict.__contains__(self, key)

        def __getitem__(self, key):
            called.append(key)
            return dict.__getitem__(self, key)

    import linecache

    source = "def f(W, x):\n    return W @ x\n"
    linecache.cache["<cell spy>"] = (len(source), None, source.splitlines(True), "<cell spy>")
    namespace = Spy(np=np, __builtins__=__builtins__)
    exec(compile(source, "<cell spy>", "exec"), namespace)
    f = types.FunctionType(namespace["f"].__code__, namespace)
    called.clear()
    try:
        f(np.ones((2, 3)), np.ones(2))
    except ValueError as error:
        said = where(error, lambda filename: filename == "<cell spy>")
    assert "at line 2 of your cell" in said and "W has shape (2, 3)" in said
    assert called == []
