"""minicnn.layers — Keras-style layers that own Parameters and call minicnn.functional.

    base.py          Module (PyTorch-style subclassing), Layer (lazy Keras-style build)
    conv.py          Conv2D
    pool.py          MaxPooling2D (MaxPool2D), AveragePooling2D (AvgPool2D),
                     GlobalAveragePooling2D, AdaptiveAveragePooling2D
    norm.py          BatchNormalization, LocalResponseNormalization
    merge.py         Concatenate, Add (several inputs)
    padding.py       ZeroPadding2D
    input.py         Input, InputLayer (the entry of a graph Model; symbolic.py)
    core.py          Dense, Flatten, Dropout, Activation, ReLU, Softmax
    initializers.py  glorot_uniform, he_normal, ... (Keras' names and fan rules)
    activations.py   'relu', 'softmax', ... -> functional ops

Data is NCHW; ``input_shape`` is one sample's shape, channels first: (C, H, W).
"""
from . import activations, initializers
from .base import Layer
from .module import Module, reset_names
from .conv import Conv2D
from .core import Activation, Dense, Dropout, Flatten, ReLU, Softmax
from .pool import (AdaptiveAveragePooling2D, AveragePooling2D, AvgPool2D,
                   GlobalAveragePooling2D, GlobalAvgPool2D, MaxPool2D, MaxPooling2D)
from .norm import BatchNormalization, LocalResponseNormalization
from .merge import Add, Concatenate
from .padding import ZeroPadding2D
from .input import Input, InputLayer
from .symbolic import SymbolicTensor

__all__ = ["Module", "Layer", "reset_names", "Conv2D", "MaxPooling2D", "MaxPool2D",
           "AveragePooling2D", "AvgPool2D", "Dense", "Flatten", "Dropout", "Activation",
           "ReLU", "Softmax", "activations", "initializers", "GlobalAveragePooling2D",
           "GlobalAvgPool2D", "AdaptiveAveragePooling2D", "BatchNormalization",
           "LocalResponseNormalization", "Concatenate", "Add", "ZeroPadding2D", "Input",
           "InputLayer", "SymbolicTensor"]
