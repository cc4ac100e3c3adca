"""GoogLeNet / Inception v1 (Szegedy et al., 2014): Inception blocks of four branches.

    Inception(in -> b1 + b3 + b5 + bp channels), all branches keep H x W:
        branch1  1x1 conv (b1)
        branch2  1x1 conv (b3red) -> 3x3 conv (b3)
        branch3  1x1 conv (b5red) -> 5x5 conv (b5)      [torchvision: 3x3, see below]
        branch4  3x3/1 max pool -> 1x1 conv (bp)
    and the four outputs are concatenated on the channel axis.

Two versions:

``googlenet()`` (variant "torchvision") follows torchvision.models.googlenet so weights
copy across: every conv is conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU; no LRN; max
pools round up (ceil_mode); the stem's last pool before inception5 is 2x2/2; and
branch3 uses a **3x3** conv where the paper has 5x5 (a long-standing quirk of the
torchvision port, kept for weight compatibility). 6,624,904 parameters and
1,498,376,192 multiply-adds per 224x224 image; 13,004,888 parameters with aux_logits.

``googlenet(variant="paper")`` is the network of the paper (and of Caffe's
bvlc_googlenet): convs with biases and ReLU, no BatchNorm, a true 5x5 branch3, local
response normalisation after the first pool and after conv3 (size 5, alpha 1e-4 over
the *mean* of the squares as Caffe computes it, i.e. LocalResponseNormalization(5,
alpha=2e-5, beta=0.75, k=1)), 3x3/2 ceil pools everywhere, a 7x7 average pool (written as a global average, the same
on the 7x7 maps of a 224 input) and dropout 0.4; the auxiliary heads pool 5x5/3 (14 -> 4).
6,998,552 parameters, 1,582,671,872 multiply-adds per 224x224 image.

With ``aux_logits=True`` the model has three outputs, [main, aux1, aux2] (aux1 after
inception4a, aux2 after inception4d), each (num_classes,) logits: train with
``compile(loss="cross_entropy", loss_weights=[1, 0.3, 0.3])`` as the paper does.
Layer names are torchvision's ('inception3a.branch2.1.conv', 'aux1.fc2').
"""
from ..layers import (AdaptiveAveragePooling2D, AveragePooling2D, BatchNormalization, Concatenate,
                      Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Input,
                      LocalResponseNormalization, MaxPooling2D, ReLU)
from ..models import Model

# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) of Table 1 of the paper
INCEPTIONS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class _Style:
    """How one conv unit is built: torchvision's conv+BN+ReLU or the paper's conv+ReLU."""

    def __init__(self, variant, dtype):
        self.paper, self.dtype = variant == "paper", dtype

    def conv(self, x, name, filters, kernel, strides=1, padding=0):
        if self.paper:
            x = Conv2D(filters, kernel, strides=strides, padding=padding,
                       kernel_initializer="glorot_uniform", name=f"{name}.conv",
                       dtype=self.dtype)(x)
        else:
            x = Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                       kernel_initializer="he_normal", name=f"{name}.conv", dtype=self.dtype)(x)
            x = BatchNormalization(momentum=0.9, epsilon=1e-3, name=f"{name}.bn",
                                   dtype=self.dtype)(x)
        return ReLU(name=f"{name}.relu")(x)


def inception_block(x, name, b1, b3red, b3, b5red, b5, pool_proj, style, five=5):
    """The four branches and their channel concatenation; ``five`` is branch3's kernel."""
    y1 = style.conv(x, f"{name}.branch1", b1, 1)
    y2 = style.conv(style.conv(x, f"{name}.branch2.0", b3red, 1), f"{name}.branch2.1", b3, 3,
                    padding=1)
    y3 = style.conv(style.conv(x, f"{name}.branch3.0", b5red, 1), f"{name}.branch3.1", b5,
                    five, padding=five // 2)
    pooled = MaxPooling2D(3, 1, padding=1, ceil_mode=True, name=f"{name}.branch4.0")(x)
    y4 = style.conv(pooled, f"{name}.branch4.1", pool_proj, 1)
    return Concatenate(axis=1, name=f"{name}.concat")([y1, y2, y3, y4])


def _aux_head(x, name, num_classes, style, output_activation, dropout):
    if style.paper:
        x = AveragePooling2D(5, 3, name=f"{name}.avgpool")(x)
    else:
        x = AdaptiveAveragePooling2D((4, 4), name=f"{name}.avgpool")(x)
    x = style.conv(x, f"{name}.conv", 128, 1)
    x = Flatten(name=f"{name}.flatten")(x)
    x = ReLU(name=f"{name}.relu")(Dense(1024, name=f"{name}.fc1", dtype=style.dtype)(x))
    x = Dropout(dropout, name=f"{name}.dropout")(x)
    return Dense(num_classes, activation=output_activation, name=f"{name}.fc2",
                 dtype=style.dtype)(x)


def googlenet(num_classes=1000, input_shape=(3, 224, 224), aux_logits=False,
              variant="torchvision", dropout=None, aux_dropout=0.7, output_activation=None,
              dtype=None):
    """GoogLeNet (see the module docstring). variant: "torchvision" or "paper".
    dropout before the classifier: 0.2 (torchvision) or 0.4 (paper) unless given;
    aux_dropout in the auxiliary heads (0.7 in both).
    Returns a graph Model; with aux_logits its outputs are [main, aux1, aux2]."""
    if variant not in ("torchvision", "paper"):
        raise ValueError(f"googlenet: variant must be 'torchvision' or 'paper', got {variant!r}")
    style = _Style(variant, dtype)
    paper = style.paper
    x = Input(tuple(input_shape), name="input")
    y = style.conv(x, "conv1", 64, 7, strides=2, padding=3)
    y = MaxPooling2D(3, 2, ceil_mode=True, name="maxpool1")(y)
    if paper:
        y = LocalResponseNormalization(5, 1e-4 / 5, 0.75, 1.0, name="lrn1")(y)
    y = style.conv(y, "conv2", 64, 1)
    y = style.conv(y, "conv3", 192, 3, padding=1)
    if paper:
        y = LocalResponseNormalization(5, 1e-4 / 5, 0.75, 1.0, name="lrn2")(y)
    y = MaxPooling2D(3, 2, ceil_mode=True, name="maxpool2")(y)
    five = 5 if paper else 3
    aux = []
    for name, spec in INCEPTIONS.items():
        if name == "inception4a":
            y = MaxPooling2D(3, 2, ceil_mode=True, name="maxpool3")(y)
        if name == "inception5a":
            y = (MaxPooling2D(3, 2, ceil_mode=True, name="maxpool4") if paper else
                 MaxPooling2D(2, 2, ceil_mode=True, name="maxpool4"))(y)
        y = inception_block(y, name, *spec[1:], style=style, five=five)
        if aux_logits and name in ("inception4a", "inception4d"):
            aux.append(_aux_head(y, f"aux{len(aux) + 1}", num_classes, style, output_activation,
                                aux_dropout))
    y = GlobalAveragePooling2D(name="avgpool")(y)      # = the paper's 7x7/1 average at 224
    y = Dropout(dropout if dropout is not None else (0.4 if paper else 0.2), name="dropout")(y)
    y = Dense(num_classes, activation=output_activation, name="fc", dtype=dtype)(y)
    name = "googlenet" + ("_paper" if paper else "") + ("_aux" if aux_logits else "")
    return Model(x, [y] + aux if aux_logits else y, name=name)
