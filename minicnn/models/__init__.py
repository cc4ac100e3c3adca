"""minicnn.models — Model (Keras-style subclassing, with compile/fit), Sequential, summary."""
from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
