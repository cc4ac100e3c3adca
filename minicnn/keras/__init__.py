"""minicnn.keras: minicnn laid out like Keras, so a Keras notebook runs with only its
imports changed:

    import minicnn.keras as keras                    # was: import keras
    from minicnn.keras import layers                 # was: from keras import layers
    from minicnn.keras.models import Sequential      # was: from keras.models import ...

Keras' names, argument names and defaults (keras.layers, keras.models,
keras.optimizers with Keras' update rules, keras.losses, keras.callbacks,
keras.backend, keras.utils), Keras' image layout (channels-last by default), Keras'
shapes in summaries and Keras' weight layouts in get_weights / set_weights. The math
is minicnn's: the same NCHW ops as minicnn.layers (layout.py says how the two meet).
docs/tutorials/keras.md lists what differs and why.
"""
from . import backend, callbacks, layers, losses, models, optimizers, utils
from .layers import Input
from .models import Model, Sequential, load_model

__all__ = ["backend", "callbacks", "layers", "losses", "models", "optimizers", "utils",
           "Input", "Model", "Sequential", "load_model"]
