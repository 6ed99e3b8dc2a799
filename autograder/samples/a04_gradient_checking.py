"""Sample submissions of assignment 04 (gradient checking)."""

from . import Submission

ASSIGNMENT = "04_gradient_checking"
NOTEBOOK = "gradient_checking.ipynb"

SUBMISSIONS = {
    # Forward differences (on a copy, so theta is unchanged); weights and biases interleaved layer by layer.
    "forward_differences_interleaved": Submission(
        named={
            "numerical_gradient_accuracy": "forward differences are used instead of central",
            "numerical_gradient_network": "forward differences are used instead of central",
            "numerical_gradient_epsilon": "forward differences are used instead of central",
            "flatten_parameters_values": "the order is W[0], b[0], W[1], b[1]",
            "unflatten_parameters_values": "theta is read in the order W[0], b[0], W[1], b[1]",
        },
        answers={
            "numerical_gradient": "def numerical_gradient(J, theta, epsilon=1e-4):\n"
            "    theta = np.array(theta, dtype=float)\n"
            "    J0 = J(theta)\n"
            "    grad = np.zeros_like(theta)\n"
            "    for i in range(len(theta)):\n"
            "        t = theta.copy()\n"
            "        t[i] += epsilon\n"
            "        grad[i] = (J(t) - J0) / epsilon\n"
            "    return grad",
            "flatten_parameters": "def flatten_parameters(W, b):\n"
            "    return np.concatenate([np.concatenate([w.ravel(), v]) for w, v in zip(W, b)])",
            "unflatten_parameters": "def unflatten_parameters(theta, layer_sizes):\n"
            "    W, b, pos = [], [], 0\n"
            "    for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:]):\n"
            "        W.append(theta[pos:pos + s_in * s_out].reshape(s_out, s_in))\n"
            "        pos += s_in * s_out\n"
            "        b.append(theta[pos:pos + s_out])\n"
            "        pos += s_out\n"
            "    return W, b",
        },
        scores={
            "numerical_gradient_accuracy": 0,
            "numerical_gradient_network": 0,
            "numerical_gradient_epsilon": 0,
            "flatten_parameters_values": 0,
            "unflatten_parameters_values": 0,
        },
    ),
    # Central differences perturbing theta in place (restored only up to rounding); no norm on the
    # denominator; weights reshaped column-major.
    "in_place_no_norm_column_major": Submission(
        named={
            "numerical_gradient_theta_unchanged": "numerical_gradient changed theta",
            "relative_difference_values": "the denominator has no norm",
            "relative_difference_matrices": "the denominator has no norm",
            "unflatten_parameters_values": "reshaped column-major",
        },
        answers={
            "numerical_gradient": "def numerical_gradient(J, theta, epsilon=1e-4):\n"
            "    grad = np.zeros(len(theta))\n"
            "    for i in range(len(theta)):\n"
            "        theta[i] += epsilon\n"
            "        j_plus = J(theta)\n"
            "        theta[i] -= 2 * epsilon\n"
            "        j_minus = J(theta)\n"
            "        theta[i] += epsilon\n"
            "        grad[i] = (j_plus - j_minus) / (2 * epsilon)\n"
            "    return grad",
            "relative_difference": "def relative_difference(a, b):\n    return np.linalg.norm(a - b) / (a + b)",
            "unflatten_parameters": "def unflatten_parameters(theta, layer_sizes):\n"
            "    W, b, pos = [], [], 0\n"
            "    for s_in, s_out in zip(layer_sizes[:-1], layer_sizes[1:]):\n"
            "        W.append(theta[pos:pos + s_in * s_out].reshape((s_out, s_in), order='F'))\n"
            "        pos += s_in * s_out\n"
            "    for s_out in layer_sizes[1:]:\n"
            "        b.append(theta[pos:pos + s_out])\n"
            "        pos += s_out\n"
            "    return W, b",
        },
        scores={
            "numerical_gradient_theta_unchanged": 0,
            "relative_difference_values": 0,
            "relative_difference_matrices": 0,
            "unflatten_parameters_values": 0,
        },
    ),
    # A fixed step instead of the epsilon argument; the matrix 2-norm for matrices.
    "fixed_step_spectral_norm": Submission(
        named={
            "numerical_gradient_epsilon": "the epsilon argument is ignored",
            "relative_difference_matrices": "the spectral norm (ord=2) is used",
        },
        answers={
            "numerical_gradient": "def numerical_gradient(J, theta, epsilon=1e-4):\n"
            "    h = 1e-4\n"
            "    return np.array([(J(theta + h * e) - J(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])",
            "relative_difference": "def relative_difference(a, b):\n"
            "    return np.linalg.norm(a - b, 2) / np.linalg.norm(a + b, 2)",
        },
        scores={"numerical_gradient_epsilon": 0, "relative_difference_matrices": 0},
    ),
    # Correct, in plain Python: lists, loops, tuples; full marks.
    "plain_python_loops": Submission(
        answers={
            "numerical_gradient": "def numerical_gradient(J, theta, epsilon=1e-4):\n"
            "    grad = []\n"
            "    for i in range(len(theta)):\n"
            "        plus = [float(x) for x in theta]\n"
            "        minus = [float(x) for x in theta]\n"
            "        plus[i] += epsilon\n"
            "        minus[i] -= epsilon\n"
            "        grad.append((J(np.array(plus)) - J(np.array(minus))) / (2 * epsilon))\n"
            "    return grad",
            "relative_difference": "def relative_difference(a, b):\n"
            "    a, b = np.ravel(a), np.ravel(b)\n"
            "    num = sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5\n"
            "    den = sum((x + y) ** 2 for x, y in zip(a, b)) ** 0.5\n"
            "    return num / den",
            "flatten_parameters": "def flatten_parameters(W, b):\n"
            "    theta = []\n"
            "    for w in W:\n"
            "        for row in w:\n"
            "            theta.extend(row)\n"
            "    for v in b:\n"
            "        theta.extend(v)\n"
            "    return theta",
            "unflatten_parameters": "def unflatten_parameters(theta, layer_sizes):\n"
            "    theta = list(theta)\n"
            "    shapes = list(zip(layer_sizes[1:], layer_sizes[:-1]))\n"
            "    W = []\n"
            "    for rows, cols in shapes:\n"
            "        W.append(np.array([[theta.pop(0) for _ in range(cols)] for _ in range(rows)]))\n"
            "    b = tuple(np.array([theta.pop(0) for _ in range(rows)]) for rows, _ in shapes)\n"
            "    return W, b",
        },
    ),
    # A fixed step of 1e-5 whatever epsilon is given (too small to show in the result: said so).
    "fixed_small_step": Submission(
        named={"numerical_gradient_epsilon": "the epsilon argument is ignored (a fixed step of 1e-5 or smaller"},
        answers={
            "numerical_gradient": "def numerical_gradient(J, theta, epsilon=1e-4):\n"
            "    g = np.zeros(len(theta))\n"
            "    for i in range(len(theta)):\n"
            "        e = np.zeros(len(theta))\n"
            "        e[i] = 1e-5\n"
            "        g[i] = (J(theta + e) - J(theta - e)) / 2e-5\n"
            "    return g",
        },
        scores={"numerical_gradient_epsilon": 0},
    ),
}
