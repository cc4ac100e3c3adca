"""keras.layers: the layers minicnn has, under Keras' names, arguments and defaults.

    image.py   Conv2D, MaxPooling2D (MaxPool2D), AveragePooling2D (AvgPool2D),
               GlobalAveragePooling2D (GlobalAvgPool2D), ZeroPadding2D
    core.py    Dense, Flatten, Dropout, Activation, ReLU, Softmax, BatchNormalization,
               Concatenate, Add, Input, InputLayer; concatenate(inputs), add(inputs)

Channels-last by default (``keras.backend.image_data_format()``); the math is minicnn's
NCHW layers' (minicnn.keras.layout says how the two meet).
"""
from .core import (Activation, Add, BatchNormalization, Concatenate, Dense, Dropout, Flatten,
                   Input, InputLayer, ReLU, Softmax, add, concatenate)
from .image import (AveragePooling2D, AvgPool2D, Conv2D, GlobalAveragePooling2D,
                    GlobalAvgPool2D, MaxPool2D, MaxPooling2D, ZeroPadding2D)
from ...layers.base import Layer

__all__ = ["Activation", "Add", "BatchNormalization", "Concatenate", "Dense", "Dropout",
           "Flatten", "Input", "InputLayer", "ReLU", "Softmax", "AveragePooling2D", "AvgPool2D",
           "Conv2D", "GlobalAveragePooling2D", "GlobalAvgPool2D", "MaxPool2D", "MaxPooling2D",
           "ZeroPadding2D", "Layer", "add", "concatenate"]
