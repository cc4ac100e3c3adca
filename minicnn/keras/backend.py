"""keras.backend: the image layout new layers take, and clear_session.

    keras.backend.image_data_format()                  # 'channels_last', Keras' default
    keras.backend.set_image_data_format("channels_first")
    keras.backend.clear_session()                      # layer names start again

The layout is read when a layer is made (as Keras does); minicnn's own layers
(minicnn.layers) are channels-first whatever it says.
"""
import contextlib

from ..layers.module import reset_names
from ..tensor import get_default_dtype

FORMATS = ("channels_last", "channels_first")
_FORMAT = ["channels_last"]


def image_data_format():
    """'channels_last' (N, H, W, C), Keras' default, or 'channels_first' (N, C, H, W)."""
    return _FORMAT[0]


def set_image_data_format(data_format):
    """Set the layout that layers made from now on take when given no data_format."""
    _FORMAT[0] = standardize_data_format(data_format, default=False)


def standardize_data_format(data_format, default=True):
    """'channels_last' or 'channels_first' from a layer's data_format (None: the global
    image_data_format()), else a ValueError that names the two."""
    if data_format is None and default:
        return image_data_format()
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in FORMATS:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    return value


@contextlib.contextmanager
def data_format_scope(data_format):
    """Within the block, image_data_format() is ``data_format`` (rebuilding saved layers)."""
    saved = _FORMAT[0]
    _FORMAT[0] = standardize_data_format(data_format, default=False)
    try:
        yield
    finally:
        _FORMAT[0] = saved


def clear_session():
    """Keras' clear_session: the automatic layer names start again from 'conv2d', 'dense'."""
    reset_names()


def floatx():
    """The default float type of new weights ('float32')."""
    return get_default_dtype().name


def epsilon():
    """Keras' fuzz factor, 1e-7 (the optimisers' and losses' default epsilon)."""
    return 1e-7
