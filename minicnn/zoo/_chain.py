"""Helpers the zoo builders share: a run of layers named like PyTorch's modules.

Every zoo model is a graph Model whose layer names are the module paths of the
torchvision (or hand-written PyTorch) network it follows, e.g. 'features.0' or
'layer1.0.conv1', so ``to_torch_state_dict`` maps weights by name alone and
``model.get_layer('features.0')`` finds what a PyTorch user expects.
"""
from ..layers import BatchNormalization, Conv2D, Dense, ReLU

TORCH_BN = dict(momentum=0.9, epsilon=1e-5)     # nn.BatchNorm2d(momentum=0.1, eps=1e-5)


class Chain:
    """Apply layers one after another to ``x``, naming them '<prefix>.0', '<prefix>.1', ...
    as the slots of an nn.Sequential (a ReLU or a Dropout takes a slot too)."""

    def __init__(self, prefix, x, dtype=None):
        self.prefix, self.x, self.dtype, self.index = prefix, x, dtype, 0

    def add(self, layer_class, *args, **kwargs):
        if getattr(layer_class, "has_weights", False):
            kwargs.setdefault("dtype", self.dtype)
        layer = layer_class(*args, name=f"{self.prefix}.{self.index}", **kwargs)
        self.x = layer(self.x)
        self.index += 1
        return self

    def skip(self):
        """Leave a slot empty (a torch module that has no minicnn counterpart here)."""
        self.index += 1
        return self


def conv_bn_relu(x, name, filters, kernel_size, strides=1, padding=0, bn=TORCH_BN, dtype=None,
                 conv="conv", norm="bn"):
    """torchvision's BasicConv2d: conv (no bias) -> BatchNorm -> ReLU, as '<name>.conv',
    '<name>.bn' (and '<name>.relu', no weights)."""
    x = Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
               kernel_initializer="he_normal", name=f"{name}.{conv}", dtype=dtype)(x)
    x = BatchNormalization(**bn, name=f"{name}.{norm}", dtype=dtype)(x)
    return ReLU(name=f"{name}.relu")(x)


def dense(units, name, dtype=None, **kwargs):
    return Dense(units, name=name, dtype=dtype, **kwargs)
