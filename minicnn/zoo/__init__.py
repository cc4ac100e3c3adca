"""minicnn.zoo — the classic architectures, built from minicnn layers.

Each builder takes ``num_classes`` and ``input_shape`` (C, H, W) and returns an untrained
model whose layers, parameter counts and output shapes follow the published network.
"""
from .lenet import lenet5

__all__ = ["lenet5"]
