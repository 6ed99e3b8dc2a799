"""The diagrams of the lecture notebooks, drawn with Matplotlib; imported by notebooks/ and notebooks/zh/ alike.

Every label is language-neutral — mathtext such as ``$x_1$``, ``$a^{(2)}_1$``, ``$\\hat\\rho$`` or ``+1`` — so
one figure serves both editions with the fonts that ship inside Matplotlib (DejaVu has no CJK glyphs; the
words belong in the notebooks' Markdown, in the reader's language).

Layer ``l`` of a diagram is the notes' layer ``L_{l+1}``; unit ``j`` of a layer is drawn ``j``-th from the top,
and its bias unit ``+1`` (when drawn) below the others.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection

NODE_RADIUS = 0.28
LAYER_GAP = 2.2
UNIT_GAP = 0.9
EDGE_COLOR = "0.55"
HIGHLIGHT_COLOR = "tab:red"


def _unit_positions(layers, bias):
    """{(layer, unit): (x, y)}; unit index len(layer) is the bias unit "+1" of that layer."""
    counts = [len(units) + (1 if bias and l < len(layers) - 1 else 0) for l, units in enumerate(layers)]
    top = (max(counts) - 1) * UNIT_GAP / 2
    positions = {}
    for l, count in enumerate(counts):
        offset = top - (max(counts) - count) * UNIT_GAP / 2
        for j in range(count):
            positions[l, j] = (l * LAYER_GAP, offset - j * UNIT_GAP)
    return positions


def draw_network(
    layers,
    bias=True,
    outputs=None,
    layer_names=True,
    edge_labels=None,
    ax=None,
    figsize=None,
):
    """Draw a feedforward network; return the Axes.

    layers: one list of unit labels per layer, input layer first (``""`` for an unlabelled unit).
    bias: draw a bias unit ``+1`` under every layer but the output layer, connected to the next layer.
    outputs: labels written at the end of an arrow leaving each output unit (``None``: no arrows;
        a list shorter than the output layer labels the first units only).
    layer_names: write ``L_1``, ``L_2``, ... under the layers.
    edge_labels: ``{(l, j, i): label}`` highlights the connection from unit ``j`` of layer ``l`` to unit ``i``
        of layer ``l + 1`` (0-based, as ``W[l][i, j]``; ``j == len(layers[l])`` is the bias unit).
    """
    edge_labels = edge_labels or {}
    positions = _unit_positions(layers, bias)
    if ax is None:
        width = 1.6 + LAYER_GAP * (len(layers) - 1) + (1.4 if outputs else 0)
        height = 1.0 + UNIT_GAP * max(len(u) + 1 for u in layers)
        _, ax = plt.subplots(figsize=figsize or (width * 0.75, height * 0.75))

    segments, highlighted = [], []
    for l in range(len(layers) - 1):
        sources = len(layers[l]) + (1 if bias else 0)
        for j in range(sources):
            for i in range(len(layers[l + 1])):
                (x0, y0), (x1, y1) = positions[l, j], positions[l + 1, i]
                segment = [(x0 + NODE_RADIUS, y0), (x1 - NODE_RADIUS, y1)]
                label = edge_labels.get((l, j, i))
                (highlighted if label else segments).append(segment)
                if label:
                    ax.text(
                        x0 + 0.5 * (x1 - x0),
                        y0 + 0.5 * (y1 - y0) + 0.12,
                        label,
                        color=HIGHLIGHT_COLOR,
                        ha="center",
                        va="bottom",
                        fontsize=11,
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
                        zorder=4,
                    )
    ax.add_collection(LineCollection(segments, colors=EDGE_COLOR, linewidths=0.8, zorder=1))
    ax.add_collection(LineCollection(highlighted, colors=HIGHLIGHT_COLOR, linewidths=2.0, zorder=2))

    for (l, j), (x, y) in positions.items():
        is_bias = j == len(layers[l])
        ax.add_patch(
            plt.Circle(
                (x, y),
                NODE_RADIUS,
                facecolor="0.92" if is_bias else "white",
                edgecolor="0.35" if is_bias else "black",
                lw=1.2,
                zorder=3,
            )
        )
        ax.text(x, y, "+1" if is_bias else layers[l][j], ha="center", va="center", fontsize=10, zorder=4)

    last = len(layers) - 1
    for i, label in enumerate(outputs or []):
        x, y = positions[last, i]
        ax.annotate(
            "",
            xy=(x + NODE_RADIUS + 0.8, y),
            xytext=(x + NODE_RADIUS, y),
            arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.0, "shrinkA": 0, "shrinkB": 0},
        )
        ax.text(x + NODE_RADIUS + 0.9, y, label, ha="left", va="center", fontsize=11)

    bottom = min(y for _, y in positions.values()) - 0.75
    if layer_names:
        for l in range(len(layers)):
            ax.text(l * LAYER_GAP, bottom, f"$L_{{{l + 1}}}$", ha="center", va="center", fontsize=12)
    right = last * LAYER_GAP + (NODE_RADIUS + 2.3 if outputs else 0.6)
    top = max(y for _, y in positions.values()) + 0.6
    ax.set_xlim(-0.6, right)
    ax.set_ylim(bottom - 0.35, top)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def _labels(symbol, count):
    return [f"${symbol}_{{{i + 1}}}$" for i in range(count)]


def single_neuron(ax=None):
    """The notes' single neuron: inputs x1, x2, x3 and +1, one unit, output h_{W,b}(x)."""
    return draw_network([_labels("x", 3), [""]], outputs=["$h_{W,b}(x)$"], layer_names=False, ax=ax)


def network_331(ax=None, edge_labels=None):
    """The notes' first network: 3 inputs, 3 hidden units, 1 output unit (layers L1, L2, L3)."""
    layers = [_labels("x", 3), _labels("a^{(2)}", 3), ["$a^{(3)}_1$"]]
    return draw_network(layers, outputs=["$h_{W,b}(x)$"], edge_labels=edge_labels, ax=ax)


def network_3322(ax=None):
    """The notes' deeper network: two hidden layers (L2, L3) and two output units (L4)."""
    layers = [_labels("x", 3), _labels("a^{(2)}", 3), _labels("a^{(3)}", 2), _labels("a^{(4)}", 2)]
    return draw_network(layers, outputs=["$h_{W,b}(x)_1$", "$h_{W,b}(x)_2$"], ax=ax)


def autoencoder(ax=None, visible=6, hidden=3):
    """The notes' autoencoder: inputs x1..x6, 3 hidden units, outputs x̂1..x̂6 that should reproduce x."""
    layers = [_labels("x", visible), _labels("a^{(2)}", hidden), _labels(r"\hat{x}", visible)]
    return draw_network(layers, outputs=[f"$\\approx x_{{{i + 1}}}$" for i in range(visible)], ax=ax)


def backprop_flow(ax=None):
    """Backpropagation on one example of a 3-layer network (the UFLDL translation's figure 1.6): the forward pass in
    black, the backward pass in red, dotted what note 1.2.3 proves (delta is dJ/dz). Returns the Axes."""
    forward = {"boxstyle": "round,pad=0.35", "facecolor": "white", "edgecolor": "black", "lw": 1.0}
    backward = {**forward, "edgecolor": "tab:red"}
    boxes = {  # name: (x, y, lines of the label, style), for one example on a network with n_l = 3 layers
        "a1": (0.4, 3.4, [r"$a^{(1)} = x$"], forward),
        "z2": (2.25, 3.4, [r"$z^{(2)} = W^{(1)} a^{(1)} + b^{(1)}$"], forward),
        "a2": (4.3, 3.4, [r"$a^{(2)} = f(z^{(2)})$"], forward),
        "z3": (6.35, 3.4, [r"$z^{(3)} = W^{(2)} a^{(2)} + b^{(2)}$"], forward),
        "a3": (8.55, 3.4, [r"$a^{(3)} = f(z^{(3)})$"], forward),
        "J": (8.55, 1.85, [r"$J(W,b;x,y)$", r"$= \frac{1}{2}\Vert y - a^{(3)} \Vert^2$"], forward),
        "d3": (6.35, 1.85, [r"$\delta^{(3)}$", r"$= -(y - a^{(3)}) \bullet f'(z^{(3)})$"], backward),
        "d2": (2.25, 1.85, [r"$\delta^{(2)}$", r"$= ((W^{(2)})^T \delta^{(3)}) \bullet f'(z^{(2)})$"], backward),
        "g2": (
            6.35,
            0.3,
            [r"$\nabla_{W^{(2)}} J = \delta^{(3)} (a^{(2)})^T$", r"$\nabla_{b^{(2)}} J = \delta^{(3)}$"],
            backward,
        ),
        "g1": (
            2.25,
            0.3,
            [r"$\nabla_{W^{(1)}} J = \delta^{(2)} (a^{(1)})^T$", r"$\nabla_{b^{(1)}} J = \delta^{(2)}$"],
            backward,
        ),
    }
    arrows = [("a1", "z2"), ("z2", "a2"), ("a2", "z3"), ("z3", "a3"), ("a3", "J")]  # forward pass
    arrows += [("J", "d3"), ("d3", "d2"), ("d3", "g2"), ("d2", "g1")]  # backward pass

    if ax is None:
        _, ax = plt.subplots(figsize=(9.6, 4.2))
    label = {
        name: ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=10, linespacing=1.6, bbox=style)
        for name, (x, y, lines, style) in boxes.items()
    }

    def connect(start, end, **line):
        patches = {"patchA": label[start].get_bbox_patch(), "patchB": label[end].get_bbox_patch()}
        ax.annotate(
            "",
            xy=(0.5, 0.5),
            xycoords=label[end],
            xytext=(0.5, 0.5),
            textcoords=label[start],
            arrowprops={**line, **patches},
        )

    for start, end in arrows:
        connect(start, end, arrowstyle="-|>", lw=1.2, color="black" if boxes[end][3] is forward else "tab:red")
    for l in (2, 3):  # dotted: what note 1.2.3 proves, delta is the derivative of J with respect to z
        connect(f"z{l}", f"d{l}", arrowstyle="-", ls=":", lw=1.2, color="0.6")
        ax.text(boxes[f"z{l}"][0] + 0.08, 2.68, rf"$\delta^{{({l})}} = \partial J / \partial z^{{({l})}}$", color="0.4")
    ax.set_xlim(-0.3, 9.6)
    ax.set_ylim(-0.3, 3.8)
    ax.axis("off")
    return ax


def show_patches(patches, cols=None, size=0.6, fig=None, limits=None):
    """Show each column of ``patches: (sz*sz, M)`` as an sz×sz grey image, in a grid filled row by row.

    Each patch gets its own contrast (black and white are ± its largest absolute value, grey is 0), so
    multiplying a patch by a positive number does not change its picture — or, with ``limits=(lo, hi)``,
    one scale for all (black lo, white hi: patches and their reconstructions side by side). ``fig`` draws
    into an existing figure or subfigure (``plt.figure().subfigures(1, 2)``). Returns the figure.
    """
    patches = np.asarray(patches, dtype=float)
    sz = int(round(np.sqrt(patches.shape[0])))
    count = patches.shape[1]
    cols = cols or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    if fig is None:
        fig = plt.figure(figsize=(cols * size, rows * size))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < count:
            patch = patches[:, k].reshape(sz, sz)
            scale = np.abs(patch).max() or 1.0
            lo, hi = limits or (-scale, scale)
            ax.imshow(patch, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1, wspace=0.08, hspace=0.08)
    return fig
