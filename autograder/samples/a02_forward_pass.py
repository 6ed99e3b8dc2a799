"""Sample submissions of assignment 02 (forward pass)."""

from . import Submission

ASSIGNMENT = "02_forward_pass"
NOTEBOOK = "forward_pass.ipynb"

SUBMISSIONS = {
    # epsilon used as the variance and the output layer left linear ("it's a regression output").
    "variance_and_linear_output": Submission(
        named={
            "initialize_distribution": "epsilon^2 was used as the standard deviation",
            "forward_sigmoid": "the output layer has no activation",
            "forward_tanh": "the output layer has no activation",
            "forward_deep": "the output layer has no activation",
        },
        answers={
            "initialize_parameters": "def initialize_parameters(layer_sizes, epsilon=0.01, rng=None):\n"
            "    rng = np.random.default_rng(rng)\n"
            "    W = [rng.normal(0, epsilon**2, (t, s)) for s, t in zip(layer_sizes[:-1], layer_sizes[1:])]\n"
            "    b = [rng.normal(0, epsilon**2, t) for t in layer_sizes[1:]]\n"
            "    return W, b",
            "forward_pass": "def forward_pass(W, b, X, activation='sigmoid'):\n"
            "    f = ACTIVATIONS[activation]\n"
            "    a = [X]\n"
            "    for l in range(len(W)):\n"
            "        z = W[l] @ a[-1] + b[l][:, None]\n"
            "        a.append(z if l == len(W) - 1 else f(z))\n"
            "    return a",
        },
        scores={
            "initialize_distribution": 0,
            "forward_sigmoid": 0,
            "forward_tanh": 0,
            "forward_deep": 0,
        },
    ),
    # Global NumPy seed (the seed works, a Generator is not accepted) and no bias in z.
    "global_seed_no_bias": Submission(
        named={
            "initialize_seeding": "np.random.seed(rng) takes no Generator",
            "forward_sigmoid": "the bias b^(l) is missing from z^(l+1)",
            "forward_tanh": "the bias b^(l) is missing from z^(l+1)",
            "forward_deep": "the bias b^(l) is missing from z^(l+1)",
        },
        answers={
            "initialize_parameters": "def initialize_parameters(layer_sizes, epsilon=0.01, rng=None):\n"
            "    if rng is not None:\n"
            "        np.random.seed(rng)\n"
            "    W = [np.random.randn(t, s) * epsilon for s, t in zip(layer_sizes[:-1], layer_sizes[1:])]\n"
            "    b = [np.random.randn(t) * epsilon for t in layer_sizes[1:]]\n"
            "    return W, b",
            "forward_pass": "def forward_pass(W, b, X, activation='sigmoid'):\n"
            "    a = [X]\n"
            "    for W_l in W:\n"
            "        a.append(ACTIVATIONS[activation](W_l @ a[-1]))\n"
            "    return a",
        },
        scores={
            "initialize_seeding": 0,
            "forward_sigmoid": 0,
            "forward_tanh": 0,
            "forward_deep": 0,
        },
    ),
    # Correct, other style: one example at a time with explicit loops, tuples instead of lists.
    "loops_correct": Submission(
        answers={
            "forward_pass": "def forward_pass(W, b, X, activation='sigmoid'):\n"
            "    X = np.asarray(X, dtype=float)\n"
            "    layers = [X]\n"
            "    for W_l, b_l in zip(W, b):\n"
            "        out = np.zeros((W_l.shape[0], X.shape[1]))\n"
            "        for i in range(X.shape[1]):\n"
            "            for k in range(W_l.shape[0]):\n"
            "                z = sum(W_l[k, j] * layers[-1][j, i] for j in range(W_l.shape[1])) + b_l[k]\n"
            "                out[k, i] = 1 / (1 + np.exp(-z)) if activation == 'sigmoid' else np.tanh(z)\n"
            "        layers.append(out)\n"
            "    return tuple(layers)",
        },
    ),
    # epsilon not passed on: every draw has the default scale 0.01 (the scale is what is wrong, not the mean).
    "ignores_epsilon": Submission(
        named={"initialize_distribution": "the default epsilon = 0.01 was used"},
        answers={
            "initialize_parameters": "def initialize_parameters(layer_sizes, epsilon=0.01, rng=None):\n"
            "    rng = np.random.default_rng(rng)\n"
            "    W = [rng.normal(0, 0.01, (t, s)) for s, t in zip(layer_sizes[:-1], layer_sizes[1:])]\n"
            "    b = [rng.normal(0, 0.01, t) for t in layer_sizes[1:]]\n"
            "    return W, b",
        },
        scores={"initialize_distribution": 0},
    ),
}
