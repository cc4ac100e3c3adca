"""minicnn.models — Model (Keras-style subclassing, with compile/fit; or a graph,
Model(inputs, outputs)), Sequential, summary."""
from .model import Model
from .sequential import Sequential
from .graph import GraphModel
from ..layers.input import Input

__all__ = ["Model", "Sequential", "GraphModel", "Input"]
