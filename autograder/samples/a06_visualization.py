"""Sample submissions of assignment 06 (visualization)."""

from . import Submission

ASSIGNMENT = "06_visualization"
NOTEBOOK = "visualization.ipynb"

SUBMISSIONS = {
    # Normalizes the columns of W1 (axis=0) and reshapes patches column-major (MATLAB habit).
    "axis_and_order": Submission(
        named={
            "max_activation_values": "each column of W1 is normalized instead of each row",
            "display_network_values": "reshaped column-major",
        },
        answers={
            "max_activation_inputs": "def max_activation_inputs(W1):\n"
            "    return W1 / np.linalg.norm(W1, axis=0, keepdims=True)",
            "display_network": "def display_network(A, cols=None):\n"
            "    A = np.asarray(A, dtype=float)\n"
            "    n, M = A.shape\n"
            "    sz = int(round(np.sqrt(n)))\n"
            "    cols = cols or int(np.ceil(np.sqrt(M)))\n"
            "    rows = int(np.ceil(M / cols))\n"
            "    A = A - A.mean()\n"
            "    image = -np.ones((1 + rows * (sz + 1), 1 + cols * (sz + 1)))\n"
            "    for k in range(M):\n"
            "        r, c = k // cols, k % cols\n"
            "        patch = A[:, k].reshape(sz, sz, order='F')\n"
            "        patch = patch / np.max(np.abs(patch))\n"
            "        image[1 + r * (sz + 1):1 + r * (sz + 1) + sz, 1 + c * (sz + 1):1 + c * (sz + 1) + sz] = patch\n"
            "    return image",
        },
        scores={"max_activation_values": 0, "display_network_values": 0},
    ),
    # Border of zeros (np.zeros canvas) and one scale for all patches; row norm written as a loop (correct).
    "zero_border_global_scale": Submission(
        named={
            "display_network_layout": "the border and the unused grid cells are 0 instead of -1",
            "display_network_values": "scaled by the largest absolute value of all patches",
        },
        answers={
            "max_activation_inputs": "def max_activation_inputs(W1):\n"
            "    out = []\n"
            "    for row in W1:\n"
            "        out.append([w / np.sqrt(np.sum(np.square(row))) for w in row])\n"
            "    return out",
            "display_network": "def display_network(A, cols=None):\n"
            "    A = np.asarray(A, dtype=float)\n"
            "    n, M = A.shape\n"
            "    sz = int(np.sqrt(n))\n"
            "    if cols is None:\n"
            "        cols = int(np.ceil(np.sqrt(M)))\n"
            "    rows = int(np.ceil(M / cols))\n"
            "    A = A - A.mean()\n"
            "    A = A / np.abs(A).max()\n"
            "    image = np.zeros((1 + rows * (sz + 1), 1 + cols * (sz + 1)))\n"
            "    for k in range(M):\n"
            "        r, c = divmod(k, cols)\n"
            "        image[1 + r * (sz + 1):1 + r * (sz + 1) + sz, 1 + c * (sz + 1):1 + c * (sz + 1) + sz] = "
            "A[:, k].reshape(sz, sz)\n"
            "    return image",
        },
        scores={"display_network_layout": 0, "display_network_values": 0},
    ),
    # A port without the cols argument: the layout's part pays (the cols instance), the values are judged apart.
    "no_cols_argument": Submission(
        named={"display_network_layout": "it takes the number of grid columns as cols"},
        answers={
            "display_network": "def display_network(A):\n"
            "    A = np.asarray(A, dtype=float)\n"
            "    n, M = A.shape\n"
            "    sz = int(np.sqrt(n))\n"
            "    cols = int(np.ceil(np.sqrt(M)))\n"
            "    rows = int(np.ceil(M / cols))\n"
            "    A = A - A.mean()\n"
            "    image = -np.ones((1 + rows * (sz + 1), 1 + cols * (sz + 1)))\n"
            "    for k in range(M):\n"
            "        r, c = divmod(k, cols)\n"
            "        patch = A[:, k].reshape(sz, sz)\n"
            "        image[1 + r * (sz + 1):1 + r * (sz + 1) + sz, 1 + c * (sz + 1):1 + c * (sz + 1) + sz] = "
            "patch / np.abs(patch).max()\n"
            "    return image",
        },
        scores={"display_network_layout": 0},
    ),
}
