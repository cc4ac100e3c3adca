"""Helpers the zoo builders share: a run of layers named like PyTorch's modules.

Every zoo model is a graph Model whose layer names are the module paths of the
torchvision (or hand-written PyTorch) network it follows, e.g. 'features.0' or
'layer1.0.conv1', so ``to_torch_state_dict`` maps weights by name alone and
``model.get_layer('features.0')`` finds what a PyTorch user expects.
"""
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
