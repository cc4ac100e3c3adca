"""VGG (Simonyan & Zisserman, 2014): stacks of 3x3 convolutions, as torchvision builds them.

    vgg11  A: 64, M, 128, M, 256x2, M, 512x2, M, 512x2, M
    vgg16  D: 64x2, M, 128x2, M, 256x3, M, 512x3, M, 512x3, M
    vgg19  E: 64x2, M, 128x2, M, 256x4, M, 512x4, M, 512x4, M

(each number a Conv2D 3x3 padding 1 + [BatchNorm] + ReLU, M a 2x2/2 max pool), then an
adaptive 7x7 average pool and the classifier Dense 4096, ReLU, Dropout, Dense 4096, ReLU,
Dropout, Dense classes. Layer names are torchvision's ('features.0', 'classifier.6').
Parameters: vgg11 132,863,336; vgg16 138,357,544 (batch_norm 138,365,992); vgg19
143,667,240; VGG-16 forward: 15,470,264,320 multiply-adds per 224x224 image.

CIFAR-sized (``cifar=True``, input (3, 32, 32)): the same features end at 512x1x1 and a
single Dense(512 -> classes) classifies them (the common CIFAR VGG). ``width`` scales
every conv's filters and the classifier's hidden units (width=0.25: 16, 32, 64, 128,
128 filters, 1024 units) for quick experiments and tests.
"""
from ..layers import (AdaptiveAveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout,
                      Flatten, Input, MaxPooling2D, ReLU)
from ..models import Model
from ._chain import TORCH_BN, Chain

CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


def vgg(depth=16, num_classes=None, input_shape=None, batch_norm=False, cifar=False, width=1.0,
        dropout=0.5, output_activation=None, dtype=None):
    """A VGG network of ``depth`` 11, 13, 16 or 19 (see the module docstring).

    num_classes defaults to 1000 (10 with cifar=True); input_shape to (3, 224, 224)
    ((3, 32, 32) with cifar=True).
    """
    if depth not in CONFIGS:
        raise ValueError(f"vgg: depth must be one of {sorted(CONFIGS)}, got {depth!r}")
    if not width > 0:
        raise ValueError(f"vgg: width must be positive, got {width!r}")
    num_classes = num_classes or (10 if cifar else 1000)
    input_shape = tuple(input_shape or ((3, 32, 32) if cifar else (3, 224, 224)))
    x = Input(input_shape, name="input")
    c = Chain("features", x, dtype)
    for item in CONFIGS[depth]:
        if item == "M":
            c.add(MaxPooling2D, 2, 2)
            continue
        c.add(Conv2D, max(1, int(round(item * width))), 3, padding=1)
        if batch_norm:
            c.add(BatchNormalization, **TORCH_BN)
        c.add(ReLU)
    if cifar:
        y = Flatten(name="flatten")(c.x)
        y = Dense(num_classes, activation=output_activation, name="classifier", dtype=dtype)(y)
    else:
        y = AdaptiveAveragePooling2D((7, 7), name="avgpool")(c.x)
        y = Flatten(name="flatten")(y)
        h = Chain("classifier", y, dtype)
        hidden = max(1, int(round(4096 * width)))
        h.add(Dense, hidden).add(ReLU).add(Dropout, dropout)
        h.add(Dense, hidden).add(ReLU).add(Dropout, dropout)
        h.add(Dense, num_classes, activation=output_activation)
        y = h.x
    name = f"vgg{depth}{'_bn' if batch_norm else ''}{'_cifar' if cifar else ''}"
    return Model(x, y, name=name)


def vgg11(**kwargs):
    """VGG-11 (configuration A); arguments as ``vgg``."""
    return vgg(11, **kwargs)


def vgg16(**kwargs):
    """VGG-16 (configuration D); arguments as ``vgg``."""
    return vgg(16, **kwargs)


def vgg19(**kwargs):
    """VGG-19 (configuration E); arguments as ``vgg``."""
    return vgg(19, **kwargs)
