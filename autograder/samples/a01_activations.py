"""Sample submissions of assignment 01 (activations)."""

from . import Submission

ASSIGNMENT = "01_activations"
NOTEBOOK = "activations.ipynb"

SUBMISSIONS = {
    # Correct but naive: warns (overflow in exp) yet is exact, since 1/(1+inf) = 0. Full marks for
    # sigmoid; tanh's naive formula gives inf/inf = nan at |z| = 1000, so only tanh_extremes fails.
    "naive_formulas": Submission(
        answers={
            "sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))",
            "tanh": "def tanh(z):\n    z = np.asarray(z, dtype=float)\n"
            "    return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))",
        },
        scores={"tanh_extremes": 0},
        named={"tanh_extremes": "overflow"},
    ),
    # Derivatives written in terms of z instead of f(z); Python loops (slow but fine).
    "derivative_of_z": Submission(
        named={
            "sigmoid_prime_values": "f'(z) is computed as z (1 - z) instead of f(z) (1 - f(z))",
            "tanh_prime_values": "f'(z) is computed as 1 - z^2 instead of 1 - f(z)^2",
        },
        answers={
            "sigmoid_prime": "def sigmoid_prime(z):\n    z = np.asarray(z, dtype=float)\n    return z * (1 - z)",
            "tanh_prime": "def tanh_prime(z):\n    z = np.asarray(z, dtype=float)\n"
            "    return np.array([1 - v * v for v in z.ravel()]).reshape(z.shape)",
        },
        scores={"sigmoid_prime_values": 0, "tanh_prime_values": 0},
    ),
    # tanh used for the sigmoid; sigmoid_prime right on top of it: one bug, the sigmoid's parts only.
    "tanh_for_sigmoid": Submission(
        named={
            "sigmoid_values": "tanh was used instead of the sigmoid",
            "sigmoid_extremes": "tanh was used instead of the sigmoid",
        },
        answers={
            "sigmoid": "def sigmoid(z):\n    return np.tanh(z)",
            "sigmoid_prime": "def sigmoid_prime(z):\n    s = sigmoid(z)\n    return s * (1 - s)",
        },
        scores={"sigmoid_values": 0, "sigmoid_extremes": 0},
    ),
    # Aimed at the grader (a red team's): sigmoid is right for the 9 calls of its own tests, then the
    # identity, so that the named bug z (1 - z) is "right on top of it". The isolated pass takes it back.
    "counts_its_calls": Submission(
        named={"sigmoid_prime_values": "answers differently in different places"},
        answers={
            "sigmoid": "_calls = [0]\n"
            "def sigmoid(z):\n"
            "    _calls[0] += 1\n"
            "    z = np.asarray(z, dtype=float)\n"
            "    if _calls[0] > 9:\n"
            "        return z\n"
            "    e = np.exp(-np.abs(z))\n"
            "    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
            "sigmoid_prime": "def sigmoid_prime(z):\n    z = np.asarray(z, dtype=float)\n    return z * (1 - z)",
        },
        scores={"sigmoid_prime_values": 0},
    ),
}
