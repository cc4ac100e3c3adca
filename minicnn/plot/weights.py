"""Learned convolution filters: each kernel W[o] of a Conv2D layer drawn as a small image."""
import math

import numpy as np

from ._figure import as_numpy, conv_layers, pyplot, save


def filters(model, path, layer=None, mode=None, max_filters=64):
    """Draw the kernels of a Conv2D layer (the model's first one by default) as a grid.

    The weights W have shape (O, C, kh, kw): O filters over C input channels.

    mode "channels" (the default unless C = 3): one panel per (filter, channel), a
        diverging colour map centred at zero (blue negative, white 0, red positive) on
        one scale for the whole layer, with a colour bar: the panels can be compared and
        the sign is readable. With C = 1 (MNIST) that is one panel per filter.
    mode "rgb" (the default when C = 3): one colour panel per filter, the three channels
        as red, green and blue, all scaled by the layer's largest |w| so that mid-grey is
        a zero weight and a colour means "this filter responds to this colour".

    layer: a Conv2D layer of the model or its name.  max_filters: draw at most this many
    (the first ones).  Returns ``path``."""
    fig = draw_filters(model, layer, mode, max_filters)
    return save(fig, path)


def draw_filters(model, layer=None, mode=None, max_filters=64):
    """The Figure that ``filters`` saves (see there)."""
    conv = _pick_layer(model, layer)
    weights = as_numpy(conv.kernel.data).astype(np.float32)
    o, c, kh, kw = weights.shape
    if mode is None:
        mode = "rgb" if c == 3 else "channels"
    if mode not in ("rgb", "channels"):
        raise ValueError(f"filters: mode must be 'rgb' or 'channels', got {mode!r}")
    if mode == "rgb" and c != 3:
        raise ValueError(f"filters: mode='rgb' needs 3 input channels; {conv.describe()} has "
                         f"{c}; use mode='channels'")
    if not isinstance(max_filters, int) or max_filters < 1:
        raise ValueError(f"filters: max_filters must be a positive int, got {max_filters!r}")
    shown = weights[:max_filters]
    scale = float(np.abs(weights).max()) or 1.0
    which = f"{conv.name}: {o} filters of {c}x{kh}x{kw}"
    if len(shown) < o:
        which += f" (the first {len(shown)})"
    if mode == "rgb":
        return _rgb_grid(shown, scale, which)
    if c == 1:
        return _grid(shown, scale, which)
    return _channel_rows(shown, scale, which)


def _pick_layer(model, layer):
    convs = conv_layers(model)
    if layer is None:
        if not convs:
            raise ValueError(f"filters: {model.describe()} has no Conv2D layer, so there are no "
                             f"convolution filters to draw")
        return convs[0]
    if isinstance(layer, str):
        for conv in convs:
            if conv.name == layer:
                return conv
        raise ValueError(f"filters: {model.describe()} has no Conv2D layer named {layer!r}; "
                         f"its Conv2D layers are {[c.name for c in convs]}")
    if layer in convs:
        return layer
    raise ValueError(f"filters: layer must be one of the model's Conv2D layers or its name "
                     f"({[c.name for c in convs]}), got {layer!r}")


def _grid_shape(n):
    columns = min(n, 8)
    return math.ceil(n / columns), columns


def _filter_panels(n, width, extra_height):
    """A figure with a grid of n panels (8 a row), and (filter index, axes) for each one;
    the grid's unused panels are hidden."""
    plt = pyplot()
    rows, columns = _grid_shape(n)
    fig, axes = plt.subplots(rows, columns, squeeze=False, layout="constrained",
                             figsize=(1.2 * columns + width, 1.25 * rows + extra_height))
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes, list(enumerate(axes.flat[:n]))


def _grid(weights, scale, which):
    """One panel per single-channel filter, on the diverging scale [-scale, scale]."""
    fig, axes, panels = _filter_panels(len(weights), 1.2, 0.7)
    for k, ax in panels:
        image = ax.imshow(weights[k, 0], cmap="RdBu_r", vmin=-scale, vmax=scale,
                          origin="upper", interpolation="nearest")
        ax.set_title(f"filter {k}", fontsize=9)
        ax.set_label(f"filter {k}")
    fig.colorbar(image, ax=axes, label="weight", shrink=0.8, aspect=30)
    fig.suptitle(which)
    return fig


def _channel_rows(weights, scale, which):
    """One row per filter, one column per input channel, on one diverging scale."""
    plt = pyplot()
    o, c = weights.shape[:2]
    columns = min(c, 16)
    fig, axes = plt.subplots(o, columns, figsize=(0.75 * columns + 2.2, 0.75 * o + 0.9),
                             squeeze=False, layout="constrained")
    for k in range(o):
        for ch in range(columns):
            ax = axes[k, ch]
            image = ax.imshow(weights[k, ch], cmap="RdBu_r", vmin=-scale, vmax=scale,
                              origin="upper", interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if ch == 0:
                ax.set_ylabel(f"filter {k}", rotation=0, ha="right", va="center", fontsize=8)
                ax.set_label(f"filter {k}")
            if k == 0:
                ax.set_title(f"channel {ch}", fontsize=8)
    fig.colorbar(image, ax=axes, label="weight", shrink=0.8, aspect=30)
    more = f"; channels 0-{columns - 1} of {c}" if columns < c else ""
    fig.suptitle(f"{which}\nrows: filters, columns: input channels{more}")
    return fig


def _rgb_grid(weights, scale, which):
    """One colour panel per 3-channel filter: 0.5 + w / (2 max|w|), mid-grey = 0."""
    fig, _, panels = _filter_panels(len(weights), 0.0, 0.9)
    for k, ax in panels:
        rgb = np.clip(0.5 + weights[k].transpose(1, 2, 0) / (2 * scale), 0, 1)
        ax.imshow(rgb, origin="upper", interpolation="nearest")
        ax.set_title(f"filter {k}", fontsize=9)
        ax.set_label(f"filter {k}")
    fig.suptitle(f"{which}\nRGB = channels 0, 1, 2; mid-grey = weight 0, brighter = positive "
                 f"(scaled by max |w| = {scale:.3g})", fontsize=10)
    return fig
