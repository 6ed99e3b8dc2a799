"""Sample submissions of assignment 03 (backpropagation)."""

from . import Submission

ASSIGNMENT = "03_backprop"
NOTEBOOK = "backprop.ipynb"

_VECTORIZED = """def backprop(W, b, X, Y, lambda_, activation="sigmoid"):
    a = forward_pass(W, b, X, activation)
    fp = (lambda v: v * (1 - v)) if activation == "sigmoid" else (lambda v: 1 - v**2)
    m = X.shape[1]
    J = 0.5 * np.sum((a[-1] - Y) ** 2) / m + 0.5 * lambda_ * sum(np.sum(w**2) for w in W)
    dW, db = [None] * len(W), [None] * len(W)
    delta = -(Y - a[-1]) * fp(a[-1])
    for l in reversed(range(len(W))):
        dW[l] = {dW} + lambda_ * W[l]
        db[l] = {db}
        if l > 0:
            delta = (W[l].T @ delta) * fp(a[l])
    return J, dW, db
"""

SUBMISSIONS = {
    # Weight decay forgotten in the cost, and applied to the biases in backprop.
    "decay_on_biases": Submission(
        named={
            "cost_value": "the weight decay term (lambda/2) sum W^2 is missing",
            "backprop_db1": "weight decay is applied to the biases",
            "backprop_db2": "weight decay is applied to the biases",
        },
        answers={
            "cost": "def cost(W, b, X, Y, lambda_, activation='sigmoid'):\n"
            "    h = forward_pass(W, b, X, activation)[-1]\n"
            "    return 0.5 * np.sum((h - Y) ** 2) / X.shape[1]",
            "backprop": _VECTORIZED.format(dW="delta @ a[l].T / m", db="delta.sum(axis=1) / m + lambda_ * b[l]"),
        },
        # gradient_descent_step is right on top of this backprop: one bug, backprop's parts only.
        scores={"cost_value": 0, "backprop_db1": 0, "backprop_db2": 0},
    ),
    # delta^(nl) without f'(z) in the single-example version; Delta W summed, not averaged, in backprop.
    "no_fprime_and_sum": Submission(
        named={
            "backprop_single_dW": "delta^(nl) is not multiplied by f'(z^(nl))",
            "backprop_single_db": "delta^(nl) is not multiplied by f'(z^(nl))",
            "backprop_dW1": "the 1/m is missing",
            "backprop_dW2": "the 1/m is missing",
        },
        answers={
            "backprop_single_example": "def backprop_single_example(W, b, x, y, activation='sigmoid'):\n"
            "    a = [v[:, 0] for v in forward_pass(W, b, x[:, None], activation)]\n"
            "    fp = (lambda v: v * (1 - v)) if activation == 'sigmoid' else (lambda v: 1 - v**2)\n"
            "    delta = a[-1] - y\n"
            "    dW, db = [], []\n"
            "    for l in range(len(W) - 1, -1, -1):\n"
            "        dW.insert(0, np.outer(delta, a[l]))\n"
            "        db.insert(0, delta)\n"
            "        delta = (W[l].T @ delta) * fp(a[l])\n"
            "    return dW, db",
            "backprop": _VECTORIZED.format(dW="delta @ a[l].T", db="delta.sum(axis=1) / m"),
        },
        scores={
            "backprop_single_dW": 0,
            "backprop_single_db": 0,
            "backprop_dW1": 0,
            "backprop_dW2": 0,
        },
    ),
    # Correct, other style: backprop loops over the examples, reusing backprop_single_example; tuples.
    "loop_over_examples": Submission(
        answers={
            "backprop": "def backprop(W, b, X, Y, lambda_, activation='sigmoid'):\n"
            "    m = X.shape[1]\n"
            "    dW = [np.zeros(np.shape(w)) for w in W]\n"
            "    db = [np.zeros(np.shape(v)) for v in b]\n"
            "    for i in range(m):\n"
            "        gW, gb = backprop_single_example(W, b, X[:, i], Y[:, i], activation)\n"
            "        for l in range(len(W)):\n"
            "            dW[l] = dW[l] + gW[l]\n"
            "            db[l] = db[l] + gb[l]\n"
            "    J = cost(W, b, X, Y, lambda_, activation)\n"
            "    return J, tuple(g / m + lambda_ * w for g, w in zip(dW, W)), tuple(g / m for g in db)",
        },
    ),
    # f'(z) computed from a as if a were z: sigmoid(a) * (1 - sigmoid(a)), 1 - tanh(a)**2.
    "fprime_of_a": Submission(
        named={
            "backprop_dW1": "f' is evaluated at a instead of z",
            "backprop_dW2": "f' is evaluated at a instead of z",
            "backprop_db1": "f' is evaluated at a instead of z",
            "backprop_db2": "f' is evaluated at a instead of z",
        },
        answers={
            "backprop": _VECTORIZED.format(dW="delta @ a[l].T / m", db="delta.sum(axis=1) / m").replace(
                'fp = (lambda v: v * (1 - v)) if activation == "sigmoid" else (lambda v: 1 - v**2)',
                'fp = (lambda v: sigmoid(v) * (1 - sigmoid(v))) if activation == "sigmoid" else '
                "(lambda v: 1 - np.tanh(v) ** 2)",
            ),
        },
        scores={"backprop_dW1": 0, "backprop_dW2": 0, "backprop_db1": 0, "backprop_db2": 0},
    ),
    # The sigmoid's derivative a(1 - a) for both activations: right on sigmoid networks only.
    "sigmoid_prime_for_tanh": Submission(
        named={
            "backprop_dW1": "the other activation's derivative is used",
            "backprop_dW2": "the other activation's derivative is used",
            "backprop_db1": "the other activation's derivative is used",
            "backprop_db2": "the other activation's derivative is used",
        },
        answers={
            "backprop": _VECTORIZED.format(dW="delta @ a[l].T / m", db="delta.sum(axis=1) / m").replace(
                'fp = (lambda v: v * (1 - v)) if activation == "sigmoid" else (lambda v: 1 - v**2)',
                "fp = lambda v: v * (1 - v)",
            ),
        },
        scores={"backprop_dW1": 0, "backprop_dW2": 0, "backprop_db1": 0, "backprop_db2": 0},
    ),
    # Written for the sigmoid only (as public ports of the exercise are): the activation argument is ignored.
    # One part of each function pays: cost's, backprop's J and backprop_single_example's dW.
    "sigmoid_only": Submission(
        named={
            "cost_value": "the activation argument is ignored",
            "backprop_single_dW": "the activation argument is ignored",
            "backprop_cost": "the activation argument is ignored",
        },
        answers={
            "cost": "def cost(W, b, X, Y, lambda_, activation='sigmoid'):\n"
            "    h = forward_pass(W, b, X)[-1]\n"
            "    return 0.5 * np.sum((h - Y) ** 2) / X.shape[1] + 0.5 * lambda_ * sum(np.sum(w**2) for w in W)",
            "backprop_single_example": "def backprop_single_example(W, b, x, y, activation='sigmoid'):\n"
            "    a = [v[:, 0] for v in forward_pass(W, b, x[:, None])]\n"
            "    delta = -(y - a[-1]) * a[-1] * (1 - a[-1])\n"
            "    dW, db = [None] * len(W), [None] * len(W)\n"
            "    for l in range(len(W) - 1, -1, -1):\n"
            "        dW[l], db[l] = np.outer(delta, a[l]), delta\n"
            "        delta = (W[l].T @ delta) * a[l] * (1 - a[l])\n"
            "    return dW, db",
            "backprop": _VECTORIZED.format(dW="delta @ a[l].T / m", db="delta.sum(axis=1) / m")
            .replace("forward_pass(W, b, X, activation)", "forward_pass(W, b, X)")
            .replace(
                'fp = (lambda v: v * (1 - v)) if activation == "sigmoid" else (lambda v: 1 - v**2)',
                "fp = lambda v: v * (1 - v)",
            ),
        },
        scores={"cost_value": 0, "backprop_single_dW": 0, "backprop_cost": 0},
    ),
}

# backprop_single_example calls backprop, which is defined in a later cell (Part C): run top to bottom,
# as nbgrader does, its test cells meet a NameError.
# Right functions, full marks; the feedback says why Restart & Run All fails.
SUBMISSIONS["calls_a_later_cell"] = Submission(
    named={"backprop_single_dW": "move the definition of backprop above this cell"},
    kernel={"backprop_single_dW": 0.0, "backprop_single_db": 0.0},
    answers={
        "backprop_single_example": "def backprop_single_example(W, b, x, y, activation='sigmoid'):\n"
        "    _, dW, db = backprop(W, b, np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[:, None],\n"
        "                         0.0, activation)\n"
        "    return dW, db",
    },
)
