"""Feature maps: what every convolution layer outputs for one input image."""
import math

import numpy as np

from ..layers.activations import name_of
from ..tensor import Tensor, no_grad
from ._figure import as_numpy, conv_layers, probabilities, pyplot, save, show_image


def feature_maps(model, x, path, max_maps=32, columns=8):
    """The input image, then the output of every Conv2D layer of ``model`` for it.

    x: one input, (C, H, W) or (1, C, H, W), as the model takes it (e.g. normalised).
    Each layer's block of panels is labelled with its name, output shape (C_out, H_out,
    W_out) and activation; its maps (channels 0, 1, ... left to right, ``columns`` to a
    row, at most ``max_maps``) share one colour scale with a colour bar: a diverging map
    centred at zero when some values are negative, else viridis from 0 (after ReLU,
    dark = the unit is off). Returns ``path``."""
    fig = draw_feature_maps(model, x, max_maps, columns)
    return save(fig, path)


def conv_outputs(model, x):
    """[(Conv2D layer, its output (C_out, H_out, W_out))] for one input x (C, H, W), in
    the order the layers ran (model in eval mode, no graph recorded)."""
    return _run(model, x)[0]


def _run(model, x):
    """(conv_outputs, the model's output for x as a NumPy array with its batch axis)."""
    x = as_numpy(x)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"feature_maps: x must be one input of shape (C, H, W), got shape "
                         f"{x.shape}; for a batch pick one sample, e.g. x[0]")
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"feature_maps: {model.describe()} has no Conv2D layer, so there are "
                         f"no feature maps to draw")
    outputs = []

    def recording(conv):
        forward = type(conv).forward

        def record(inputs):
            out = forward(conv, inputs)
            outputs.append((conv, as_numpy(out.data)[0]))
            return out
        return record

    was_training = getattr(model, "training", True)
    for conv in convs:                      # record each layer's output as it runs
        conv.forward = recording(conv)
    try:
        model.eval()
        dtype = next((p.dtype for p in model.parameters()), np.float32)
        with no_grad():
            final = model(Tensor(x[None].astype(dtype)))
    finally:
        for conv in convs:
            del conv.forward
        model.train(was_training)
    return outputs, as_numpy(getattr(final, "data", final))


def draw_feature_maps(model, x, max_maps=32, columns=8):
    """The Figure that ``feature_maps`` saves (see there)."""
    if not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"feature_maps: max_maps must be a positive int, got {max_maps!r}")
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"feature_maps: columns must be a positive int, got {columns!r}")
    outputs, final = _run(model, x)
    x = as_numpy(x).reshape(as_numpy(x).shape[-3:])
    blocks = [math.ceil(min(len(maps), max_maps) / columns) for _, maps in outputs]
    plt = pyplot()
    rows = 1 + sum(blocks)
    fig = plt.figure(figsize=(1.1 * columns + 1.0, 1.3 * rows + 0.4))
    grid = fig.add_gridspec(rows, columns + 1, width_ratios=[1] * columns + [0.12],
                            hspace=0.55, wspace=0.08)
    ax = fig.add_subplot(grid[0, 0])
    if x.shape[0] in (1, 3):
        show_image(ax, x)
    else:
        ax.imshow(x[0], cmap="gray", origin="upper"), ax.set_xticks([]), ax.set_yticks([])
    title = f"input: {x.shape[0]}x{x.shape[1]}x{x.shape[2]}"
    if final.ndim == 2 and final.shape[1] > 1:            # a classifier: say what it sees
        probs = probabilities(final)[0]
        title += f"; the model predicts class {probs.argmax()} (p={probs.max():.2f})"
    ax.set_title(title, loc="left", fontsize=9, fontweight="bold")
    ax.set_label("input")
    row = 1
    for (conv, maps), height in zip(outputs, blocks):
        shown = maps[:max_maps]
        negative = float(shown.min()) < 0
        top = float(np.abs(shown).max()) or 1.0
        style = dict(cmap="RdBu_r", vmin=-top, vmax=top) if negative else \
            dict(cmap="viridis", vmin=0.0, vmax=top)
        for k, fmap in enumerate(shown):
            ax = fig.add_subplot(grid[row + k // columns, k % columns])
            image = ax.imshow(fmap, origin="upper", interpolation="nearest", **style)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_label(f"{conv.name} map {k}")
            if k == 0:
                c, h, w = maps.shape
                more = f"; the first {len(shown)} maps" if len(shown) < c else ""
                activation = name_of(conv.activation)
                after = "no activation" if activation == "linear" else f"after {activation}"
                ax.set_title(f"{conv.name}: output {c}x{h}x{w} ({after}){more}",
                             loc="left", fontsize=9, fontweight="bold")
        fig.colorbar(image, cax=fig.add_subplot(grid[row:row + height, columns]))
        row += height
    return fig
