"""What ``fit``, ``evaluate``, ``predict`` and ``minicnn predict --input`` accept as x and y.

The one rule for integer images (the docstring of ``fit`` and docs/training.md say it too):

    uint8 x is pixel bytes: it is scaled to float32 0..1 by 1/255, batch by batch, as
    ``ToFloat`` does; float x is used as it is; any other integer or bool x is refused with
    an error that says how to convert it (``x.astype(np.uint8)`` for pixels 0..255,
    ``x.astype(np.float32)`` for numbers to use as they are).

The dtype alone decides, never the values, so integer features such as 0/1 are never
silently divided by 255. ``model(x)`` itself takes floats only, as a PyTorch module does.

Labels y may be integers (class indices), floats (one-hot rows or regression targets);
bool labels are refused (``y.astype(np.int64)`` says what is meant).
"""
import os

import numpy as np

PIXEL_MAX = 255


def describe_values(x):
    """'values 0..255' (the range of a non-empty numeric array), for error messages."""
    if not getattr(x, "size", 0):
        return "no values"
    return f"values {x.min()}..{x.max()}"


def check_images(x, where, name="x", verb="pass"):
    """x itself if its dtype is uint8 or float; otherwise a ValueError that states the rule.

    ``where`` names the caller ('fit', 'predict', '--input images.npy') for the message;
    ``verb`` starts its advice ('pass x.astype(...)', or 'save' for a file)."""
    if x.ndim == 0:
        raise ValueError(f"{where}: {name} must be an array with one row per sample, got a "
                         f"single number")
    kind = np.dtype(x.dtype).kind
    if kind == "f" or x.dtype == np.uint8:
        return x
    if kind in "iu":
        as_float = f"{name}.astype(np.float32) to use the numbers as they are"
        pixels = x.size and 0 <= x.min() and x.max() <= PIXEL_MAX
        hint = (f"{name}.astype(np.uint8) if they are pixels 0..255, "
                f"or {as_float}" if pixels else as_float)
        raise ValueError(f"{where}: {name} is {x.dtype} ({describe_values(x)}); minicnn scales "
                         f"only uint8 images (by 1/255) and takes floats as they are: {verb} "
                         f"{hint}")
    if kind == "b":
        raise ValueError(f"{where}: {name} is bool; images must be uint8 pixels 0..255 or "
                         f"floats: {verb} {name}.astype(np.float32)")
    raise ValueError(f"{where}: {name} has dtype {x.dtype}; images must be uint8 pixels 0..255 "
                     f"or floats")


def to_float_images(x):
    """A batch ready for the model: uint8 -> float32 / 255, anything else unchanged."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(PIXEL_MAX)
    return x


def check_labels(y, where, name="y"):
    """y itself if it holds usable labels or targets (integers or floats)."""
    kind = np.dtype(y.dtype).kind
    if kind == "b":
        raise ValueError(f"{where}: labels {name} are bool; labels must be integers (class "
                         f"indices 0, 1, ...) or float targets, got bool: pass "
                         f"{name}.astype(np.int64)")
    if kind not in "iuf":
        raise ValueError(f"{where}: labels {name} have dtype {y.dtype}; labels must be integers "
                         f"(class indices 0, 1, ...) or float targets")
    return y


def check_xy(x, y, where):
    """x and y as arrays, one row per sample each, of dtypes fit and evaluate accept."""
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{where}: x and y must be arrays with one row per sample, got "
                         f"shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) != len(y):
        raise ValueError(f"{where}: x has {len(x)} samples but y has {len(y)}; they must "
                         f"have the same number of samples (the first dimension)")
    if len(x) == 0:
        raise ValueError(f"{where}: x and y have no samples")
    return check_images(x, where), check_labels(y, where)


def check_same_samples(train, validation, where="fit"):
    """The validation data's images and labels have the training data's sizes."""
    (x, y), (xv, yv) = train, validation
    if tuple(x.shape[1:]) != tuple(xv.shape[1:]):
        raise ValueError(f"{where}: images of the training data are {tuple(x.shape[1:])} but the "
                         f"validation data's are {tuple(xv.shape[1:])}; validation images must "
                         f"have the training images' size")
    if tuple(y.shape[1:]) != tuple(yv.shape[1:]):
        raise ValueError(f"{where}: labels of the training data have shape "
                         f"(N{''.join(', ' + str(n) for n in y.shape[1:])}) but the validation "
                         f"data's have (N{''.join(', ' + str(n) for n in yv.shape[1:])}); give "
                         f"both in the same form (class indices or one-hot rows)")


def check_pixels(x, who, not_integers):
    """Raise ValueError unless ``x`` holds pixels to scale by 1/255: uint8, or integers
    0..255. ``who`` names the array; ``not_integers`` is what to say of any other dtype."""
    if x.dtype == np.uint8:
        return
    if x.dtype.kind not in "iu":
        raise ValueError(f"{who} {not_integers}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"{who} holds values {x.min()}..{x.max()}; pixels are 0..255")


def check_data_file(path, what="a data file"):
    """A ValueError naming ``path`` if it is a folder where a file should be (open()
    would raise IsADirectoryError, a bare OSError, deep inside a reader)."""
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, but {what} should be there: move the folder "
                         f"away and put the file in its place (or give the right path)")
