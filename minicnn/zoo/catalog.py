"""The architectures of the zoo as the ``minicnn`` command offers them (``minicnn models``).

Each entry names a builder that makes a whole network from ``num_classes`` and
``input_shape``, says what it is, the input the published network was designed for, and
the smallest height and width it takes: below that a pooling or convolution window no
longer fits the feature map it slides over.

    arch = ARCHITECTURES[canonical_name("vgg")]       # vgg16
    arch.fits((1, 28, 28))                            # False: it needs at least 32x32
    model = arch.build(num_classes=10, input_shape=(3, 32, 32))

The zoo's helpers (``basic_block``, ``inception_block``, ``to_torch_state_dict``, ...)
build parts of networks or move weights; they are not architectures and are not listed.
"""
from dataclasses import dataclass, field
from typing import Callable

from .alexnet import alexnet
from .googlenet import googlenet
from .lenet import lenet5
from .resnet import resnet18, resnet34, resnet50, resnet_cifar
from .vgg import vgg11, vgg16, vgg19

IMAGENET = (3, 224, 224)


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable              # build(num_classes=..., input_shape=(C, H, W)) -> model
    about: str
    designed_for: tuple          # (C, H, W) of the published network
    min_size: int                # the smallest H and W it takes
    aliases: tuple = field(default=())

    def fits(self, shape):
        """True if images of ``shape`` (C, H, W) are large enough for this network."""
        return min(shape[1:]) >= self.min_size

    def check_fits(self, shape, images="the images"):
        """Raise a ValueError, saying which input size it needs, if ``shape`` is too small."""
        if not self.fits(shape):
            c, h, w = shape
            raise ValueError(
                f"{self.name} needs images of at least {self.min_size}x{self.min_size} pixels "
                f"(it was designed for {size_text(self.designed_for)}), but {images} are "
                f"{c}x{h}x{w}. Networks that take {h}x{w}: "
                f"{', '.join(a.name for a in ARCHITECTURES.values() if a.fits(shape))}")

    @property
    def names(self):
        return (self.name,) + self.aliases

    def size_text(self):
        """'designed for 3x224x224, takes >= 63x63' (or 'any size')."""
        smallest = (f"takes >= {self.min_size}x{self.min_size}" if self.min_size > 1
                    else "takes any size")
        return f"designed for {size_text(self.designed_for)}, {smallest}"


def size_text(shape):
    return "x".join(str(n) for n in shape)


ARCHITECTURES = {a.name: a for a in [
    Architecture("lenet5", lenet5, "LeNet-5 as the course notebooks write it: conv 6, conv 16 "
                 "(5x5, ReLU, max pooling), dense 120-84", (1, 32, 32), 16, ("lenet",)),
    Architecture("alexnet", alexnet, "AlexNet, torchvision's form (other variants: "
                 "mc.zoo.alexnet(variant))", IMAGENET, 63),
    Architecture("vgg11", vgg11, "VGG-11 (mc.zoo.vgg11(batch_norm=True, cifar=True) in Python)",
                 IMAGENET, 32),
    Architecture("vgg16", vgg16, "VGG-16, torchvision's form", IMAGENET, 32, ("vgg",)),
    Architecture("vgg19", vgg19, "VGG-19", IMAGENET, 32),
    Architecture("googlenet", googlenet, "GoogLeNet (Inception v1), torchvision's form",
                 IMAGENET, 31),
    Architecture("resnet18", resnet18, "ResNet-18, torchvision's form", IMAGENET, 1,
                 ("resnet",)),
    Architecture("resnet34", resnet34, "ResNet-34", IMAGENET, 1),
    Architecture("resnet50", resnet50, "ResNet-50 (bottleneck blocks)", IMAGENET, 1),
    Architecture("resnet_cifar", resnet_cifar, "ResNet-20 for CIFAR-10 (He et al. 2016, 6n+2 "
                 "layers, n = 3)", (3, 32, 32), 1),
]}
ALIASES = {alias: a.name for a in ARCHITECTURES.values() for alias in a.aliases}


def canonical_name(name):
    """The architecture a command-line name means ('lenet' -> 'lenet5'); ValueError if none."""
    if name in ARCHITECTURES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise ValueError(f"unknown architecture {name!r}; choose one of: "
                     f"{', '.join(command_line_names())}")


def command_line_names():
    """Every name the command line accepts: each architecture's, then its aliases."""
    return [n for a in ARCHITECTURES.values() for n in a.names]
