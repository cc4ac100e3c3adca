"""What every picture shares: matplotlib on demand, saving, and images made displayable.

matplotlib is imported only when a picture is drawn (``pyplot()``), with the Agg backend
(files, no window), so ``import minicnn`` and ``import minicnn.plot`` work without it.
"""
import base64
import io
import os

import numpy as np

from ..device import to_host
from ..files import atomic_write
from ..tensor import Tensor

INSTALL_HINT = "pip install 'minicnn[plot]'"
FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


def pyplot():
    """matplotlib.pyplot with the Agg backend; an ImportError that says what to install."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(f"minicnn.plot draws with matplotlib, which is not installed; "
                          f"{INSTALL_HINT}") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path, dpi=100):
    """Write ``fig`` to ``path`` and close it; return ``path``.

    path: a file name (str or Path; written atomically: a temporary file renamed over
    the target, so a reader never sees half a picture) or a binary file object such as
    io.BytesIO (written as PNG). The format follows the suffix (.png, .svg, .pdf, .jpg);
    a name without one gets PNG."""
    plt = pyplot()
    try:
        if hasattr(path, "write"):
            fig.savefig(path, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15)
            return path
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file name (str or Path) or a binary file object "
                            f"such as io.BytesIO, got {type(path).__name__}")
        suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
        if suffix and suffix not in FORMATS:
            raise ValueError(f"{os.fspath(path)}: cannot write a .{suffix} picture; end the "
                             f"name with .png (or .svg, .pdf, .jpg)")
        atomic_write(path, lambda f: fig.savefig(f, format=suffix or "png", dpi=dpi,
                                                bbox_inches="tight", pad_inches=0.15))
        return path
    finally:
        plt.close(fig)


def html_img(picture, *args, alt="", **kwargs):
    """An inline ``<img src="data:image/png;base64,...">`` of ``picture(*args, path=...)``:
    how the docs build embeds the pictures it draws (markdown-exec, ``html="1"``).

        print(minicnn.plot.html_img(minicnn.plot.filters, model, alt="LeNet's filters"))
    """
    buffer = io.BytesIO()
    picture(*args, path=buffer, **kwargs)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = alt.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}" style="max-width:100%">'


def as_numpy(a):
    """A NumPy array from a Tensor, a CuPy array or anything array-like."""
    if isinstance(a, Tensor):
        a = a.data
    return to_host(a)


def display_image(image):
    """One (C, H, W) image (C = 1 or 3) as something imshow draws the right way up.

    Returns (array, cmap, vmin, vmax): (H, W) with the gray colour map for one channel,
    (H, W, 3) for three. uint8 images are read as 0..255, float images already in [0, 1]
    are shown as they are, anything else (e.g. normalised to mean 0, std 1) is rescaled
    to [0, 1] by its own minimum and maximum."""
    image = as_numpy(image)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected one image of shape (C, H, W) with C = 1 or 3 (NCHW data, "
                         f"one sample), got shape {image.shape}")
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255
    else:
        image = image.astype(np.float32)
        low, high = float(image.min()), float(image.max())
        if low < 0 or high > 1:
            image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if image.shape[0] == 1:
        return image[0], "gray", 0.0, 1.0
    return image.transpose(1, 2, 0), None, None, None


def show_image(ax, image):
    """Draw one (C, H, W) image on ``ax`` with origin upper (row 0 at the top), no ticks."""
    array, cmap, vmin, vmax = display_image(image)
    ax.imshow(array, cmap=cmap, vmin=vmin, vmax=vmax, origin="upper", interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])


def conv_layers(model):
    """The model's Conv2D layers, in the order they were defined."""
    from ..layers import Conv2D
    return [m for m in model.modules() if isinstance(m, Conv2D)]


def probabilities(outputs):
    """Class probabilities from a model's outputs: kept when every row is already a
    distribution (a softmax output layer), else softmax of the logits."""
    outputs = as_numpy(outputs).astype(np.float64)
    if outputs.min() >= 0 and np.allclose(outputs.sum(axis=1), 1, atol=1e-4):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
