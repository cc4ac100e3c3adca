"""ResNet (He et al., 2015), as torchvision builds it (v1.5: the stride sits in the 3x3).

    stem    conv 7x7/2, 64 -> BN -> ReLU -> max pool 3x3/2 (padding 1)
    stages  layer1..layer4 with 64, 128, 256, 512 channels (x4 for bottlenecks); the first
            block of layer2..4 halves the size (stride 2)
    head    global average pool -> Dense classes

    BasicBlock  (resnet18/34):  y = ReLU(x' + BN(conv3x3(ReLU(BN(conv3x3_s(x))))))
    Bottleneck  (resnet50):     y = ReLU(x' + BN(conv1x1_4c(ReLU(BN(conv3x3_s(ReLU(BN(conv1x1(x)))))))))

where x' = x, or BN(conv1x1_s(x)) (the 'downsample' projection) when the shape changes.
Blocks per stage: resnet18 [2, 2, 2, 2], resnet34 [3, 4, 6, 3], resnet50 [3, 4, 6, 3].
Parameters: 11,689,512 / 21,797,672 / 25,557,032; forward multiply-adds per 224x224
image: resnet18 1,814,073,344, resnet50 4,089,184,256. Layer names are torchvision's
('layer1.0.conv1', 'layer2.0.downsample.0', 'fc').

CIFAR-sized (``cifar=True``, input (3, 32, 32)): the stem is a 3x3/1 conv without the
max pool, so 32x32 images keep 32, 16, 8, 4 pixels through the four stages (the usual
CIFAR ResNet-18). ``resnet_cifar(depth)`` is the smaller family of He et al.'s CIFAR
section: 6n + 2 layers (20, 32, 44, 56, 8 for a quick run), three stages of 16, 32, 64
channels, with projection shortcuts.
"""
from ..layers import (Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input,
                      MaxPooling2D, ReLU)
from ..models import Model
from ._chain import TORCH_BN

STAGES = {18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]),
          50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]),
          152: ("bottleneck", [3, 8, 36, 3])}


def _conv(x, filters, kernel, strides, name, dtype):
    return Conv2D(filters, kernel, strides=strides, padding=kernel // 2, use_bias=False,
                  kernel_initializer="he_normal", name=name, dtype=dtype)(x)


def _bn(x, name, dtype):
    return BatchNormalization(**TORCH_BN, name=name, dtype=dtype)(x)


def basic_block(x, filters, strides, name, dtype=None):
    """Two 3x3 convs and the shortcut; ``x`` has shape (C, H, W) -> (filters, H/s, W/s)."""
    y = ReLU(name=f"{name}.relu1")(_bn(_conv(x, filters, 3, strides, f"{name}.conv1", dtype),
                                       f"{name}.bn1", dtype))
    y = _bn(_conv(y, filters, 3, 1, f"{name}.conv2", dtype), f"{name}.bn2", dtype)
    return ReLU(name=f"{name}.relu2")(Add(name=f"{name}.add")([y, _shortcut(x, filters, strides,
                                                                           name, dtype)]))


def bottleneck_block(x, filters, strides, name, dtype=None):
    """1x1 (filters) -> 3x3/s (filters) -> 1x1 (4 filters), plus the shortcut."""
    y = ReLU(name=f"{name}.relu1")(_bn(_conv(x, filters, 1, 1, f"{name}.conv1", dtype),
                                       f"{name}.bn1", dtype))
    y = ReLU(name=f"{name}.relu2")(_bn(_conv(y, filters, 3, strides, f"{name}.conv2", dtype),
                                       f"{name}.bn2", dtype))
    y = _bn(_conv(y, 4 * filters, 1, 1, f"{name}.conv3", dtype), f"{name}.bn3", dtype)
    return ReLU(name=f"{name}.relu3")(Add(name=f"{name}.add")(
        [y, _shortcut(x, 4 * filters, strides, name, dtype)]))


def _shortcut(x, filters, strides, name, dtype):
    """x itself, or the projection BN(conv1x1/s(x)) when channels or size change."""
    if strides == 1 and x.sample_shape[0] == filters:
        return x
    return _bn(_conv(x, filters, 1, strides, f"{name}.downsample.0", dtype),
               f"{name}.downsample.1", dtype)


def resnet(depth=18, num_classes=None, input_shape=None, cifar=False, output_activation=None,
           dtype=None):
    """A torchvision ResNet of ``depth`` 18, 34, 50, 101 or 152 (see the module docstring).

    num_classes defaults to 1000 (10 with cifar=True); input_shape to (3, 224, 224)
    ((3, 32, 32) with cifar=True).
    """
    if depth not in STAGES:
        raise ValueError(f"resnet: depth must be one of {sorted(STAGES)}, got {depth!r}")
    kind, blocks = STAGES[depth]
    block = basic_block if kind == "basic" else bottleneck_block
    num_classes = num_classes or (10 if cifar else 1000)
    x = Input(tuple(input_shape or ((3, 32, 32) if cifar else (3, 224, 224))), name="input")
    if cifar:
        y = ReLU(name="relu")(_bn(_conv(x, 64, 3, 1, "conv1", dtype), "bn1", dtype))
    else:
        y = ReLU(name="relu")(_bn(_conv(x, 64, 7, 2, "conv1", dtype), "bn1", dtype))
        y = MaxPooling2D(3, 2, padding=1, name="maxpool")(y)
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), blocks)):
        for i in range(count):
            strides = 2 if stage > 0 and i == 0 else 1
            y = block(y, filters, strides, f"layer{stage + 1}.{i}", dtype)
    y = GlobalAveragePooling2D(name="avgpool")(y)
    y = Dense(num_classes, activation=output_activation, name="fc", dtype=dtype)(y)
    return Model(x, y, name=f"resnet{depth}{'_cifar' if cifar else ''}")


def resnet18(**kwargs):
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]); arguments as ``resnet``."""
    return resnet(18, **kwargs)


def resnet34(**kwargs):
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]); arguments as ``resnet``."""
    return resnet(34, **kwargs)


def resnet50(**kwargs):
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]); arguments as ``resnet``."""
    return resnet(50, **kwargs)


def resnet_cifar(depth=20, num_classes=10, input_shape=(3, 32, 32), width=16,
                 output_activation=None, dtype=None):
    """He et al.'s CIFAR ResNet: 3x3 conv (width) -> three stages of n basic blocks with
    width, 2 width, 4 width channels (the 2nd and 3rd start with stride 2) -> global
    average pool -> Dense. depth = 6n + 2 (8, 14, 20, 32, 44, 56, 110). Shortcuts that
    change shape are 1x1 projections (the paper's option B)."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet_cifar: depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), "
                         f"got {depth!r}")
    n = (depth - 2) // 6
    x = Input(tuple(input_shape), name="input")
    y = ReLU(name="relu")(_bn(_conv(x, width, 3, 1, "conv1", dtype), "bn1", dtype))
    for stage in range(3):
        for i in range(n):
            strides = 2 if stage > 0 and i == 0 else 1
            y = basic_block(y, width * 2 ** stage, strides, f"layer{stage + 1}.{i}", dtype)
    y = GlobalAveragePooling2D(name="avgpool")(y)
    y = Dense(num_classes, activation=output_activation, name="fc", dtype=dtype)(y)
    return Model(x, y, name=f"resnet{depth}_cifar")
