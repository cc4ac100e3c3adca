"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) in the four forms the notebooks meet.

    variant            input        what it is
    "original"         (3,227,227)  the paper: 96-256-384-384-256 filters, conv2/4/5 split
                                    into two groups (the two GPUs), LRN after conv1 and
                                    conv2 (size 5, alpha 1e-4, beta 0.75, k 2), overlapping
                                    3x3/2 max pools, dropout 0.5 before fc6 and fc7
    "torchvision"      (3,224,224)  torchvision.models.alexnet: the "one weird trick"
                                    64-192-384-256-256 network, no LRN, adaptive 6x6 pool
    "keras-seed"       (3,224,224)  the Keras seed notebook: 64-192-384-256, four convs,
                                    11x11/4 'valid' then 'same', 3x3/2 pools
    "pytorch-seed-bn"  (3,227,227)  the PyTorch seed notebook: the paper's filter counts
                                    without groups or LRN, BatchNorm after every conv,
                                    10 classes

Parameters (trainable) and forward multiply-adds per image (conv and dense only):
original 60,965,224; torchvision 61,100,840 / 714,188,480; keras-seed 48,976,424 /
545,452,800 (1000 classes); pytorch-seed-bn 58,325,066 / 1,131,201,056 (10 classes).
Layers are named by the module paths of the matching PyTorch network ('features.0',
'classifier.1'; 'layer1.0', 'fc.1' for pytorch-seed-bn).
"""
from ..layers import (AdaptiveAveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout,
                      Flatten, Input, LocalResponseNormalization, MaxPooling2D, ReLU)
from ..models import Model
from ._chain import TORCH_BN, Chain

VARIANTS = {"original": ((3, 227, 227), 1000), "torchvision": ((3, 224, 224), 1000),
            "keras-seed": ((3, 224, 224), 1000), "pytorch-seed-bn": ((3, 227, 227), 10)}


def alexnet(variant="torchvision", num_classes=None, input_shape=None, dropout=0.5,
            output_activation=None, width=1.0, dtype=None):
    """An AlexNet of the given ``variant`` (see the module docstring).

    num_classes, input_shape: default to the variant's (1000 classes, or 10 for
    pytorch-seed-bn; 224 or 227 pixels). output_activation: None for logits, 'softmax'
    for probabilities. width scales every layer's filters and hidden units (width=1/8
    for a quick test network of the same shape). Returns a graph Model named
    'alexnet_<variant>'.
    """
    if variant not in VARIANTS:
        raise ValueError(f"alexnet: unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    default_shape, default_classes = VARIANTS[variant]
    input_shape = tuple(input_shape or default_shape)
    num_classes = num_classes or default_classes
    if not width > 0:
        raise ValueError(f"alexnet: width must be positive, got {width!r}")
    w = _Width(width)
    x = Input(input_shape, name="input")
    build = {"original": _original, "torchvision": _torchvision, "keras-seed": _keras_seed,
             "pytorch-seed-bn": _pytorch_seed_bn}[variant]
    y = build(x, num_classes, dropout, output_activation, dtype, w)
    return Model(x, y, name=f"alexnet_{variant.replace('-', '_')}")


class _Width:
    """n -> round(n * width), at least 1 (the filter and unit counts of a scaled network)."""

    def __init__(self, width):
        self.width = width

    def __call__(self, n):
        return max(1, int(round(n * self.width)))


def _classifier(x, prefix, num_classes, dropout, output_activation, dtype, w,
                dropout_first=True):
    """Dropout, Dense 4096, ReLU, Dropout, Dense 4096, ReLU, Dense classes (torchvision's
    order; the paper's dropout sits before fc6 and fc7 the same way)."""
    c = Chain(prefix, x, dtype)
    if dropout_first:
        c.add(Dropout, dropout)
    c.add(Dense, w(4096)).add(ReLU)
    if dropout_first:
        c.add(Dropout, dropout)
    c.add(Dense, w(4096)).add(ReLU)
    c.add(Dense, num_classes, activation=output_activation)
    return c.x


def _original(x, num_classes, dropout, output_activation, dtype, w):
    c = Chain("features", x, dtype)
    c.add(Conv2D, w(96), 11, strides=4).add(ReLU).add(LocalResponseNormalization, 5, 1e-4, 0.75, 2.0)
    c.add(MaxPooling2D, 3, 2)
    c.add(Conv2D, w(256), 5, padding=2, groups=2).add(ReLU)
    c.add(LocalResponseNormalization, 5, 1e-4, 0.75, 2.0).add(MaxPooling2D, 3, 2)
    c.add(Conv2D, w(384), 3, padding=1).add(ReLU)
    c.add(Conv2D, w(384), 3, padding=1, groups=2).add(ReLU)
    c.add(Conv2D, w(256), 3, padding=1, groups=2).add(ReLU)
    c.add(MaxPooling2D, 3, 2)
    x = Flatten(name="flatten")(c.x)
    return _classifier(x, "classifier", num_classes, dropout, output_activation, dtype, w)


def _torchvision(x, num_classes, dropout, output_activation, dtype, w):
    c = Chain("features", x, dtype)
    c.add(Conv2D, w(64), 11, strides=4, padding=2).add(ReLU).add(MaxPooling2D, 3, 2)
    c.add(Conv2D, w(192), 5, padding=2).add(ReLU).add(MaxPooling2D, 3, 2)
    c.add(Conv2D, w(384), 3, padding=1).add(ReLU)
    c.add(Conv2D, w(256), 3, padding=1).add(ReLU)
    c.add(Conv2D, w(256), 3, padding=1).add(ReLU)
    c.add(MaxPooling2D, 3, 2)
    x = AdaptiveAveragePooling2D((6, 6), name="avgpool")(c.x)
    x = Flatten(name="flatten")(x)
    return _classifier(x, "classifier", num_classes, dropout, output_activation, dtype, w)


def _keras_seed(x, num_classes, dropout, output_activation, dtype, w):
    c = Chain("features", x, dtype)
    c.add(Conv2D, w(64), 11, strides=4, padding="valid").add(ReLU).add(MaxPooling2D, 3, 2)
    c.add(Conv2D, w(192), 5, padding="same").add(ReLU).add(MaxPooling2D, 3, 2)
    c.add(Conv2D, w(384), 3, padding="same").add(ReLU)
    c.add(Conv2D, w(256), 3, padding="same").add(ReLU)
    c.add(MaxPooling2D, 3, 2)
    x = Flatten(name="flatten")(c.x)
    return _classifier(x, "classifier", num_classes, dropout, output_activation, dtype, w,
                       dropout_first=False)


def _pytorch_seed_bn(x, num_classes, dropout, output_activation, dtype, w):
    specs = [("layer1", 96, 11, 4, 0, True), ("layer2", 256, 5, 1, 2, True),
             ("layer3", 384, 3, 1, 1, False), ("layer4", 384, 3, 1, 1, False),
             ("layer5", 256, 3, 1, 1, True)]
    for name, filters, k, s, p, pool in specs:
        c = Chain(name, x, dtype)
        c.add(Conv2D, w(filters), k, strides=s, padding=p).add(BatchNormalization, **TORCH_BN)
        c.add(ReLU)
        if pool:
            c.add(MaxPooling2D, 3, 2)
        x = c.x
    x = Flatten(name="flatten")(x)
    for name in ("fc", "fc1"):
        x = Chain(name, x, dtype).add(Dropout, dropout).add(Dense, w(4096)).add(ReLU).x
    return Dense(num_classes, activation=output_activation, name="fc2", dtype=dtype)(x)
