"""minicnn — a convolutional-network engine you can read line by line.

    import minicnn as mc
    import minicnn.functional as F
    from minicnn.layers import Conv2D, MaxPooling2D, Flatten, Dense

See README.md for the two commands that set it up and test it.
"""
from . import functional
from .backend import (available_backends, get_backend, get_num_threads, set_backend,
                      set_num_threads, use_backend)
from .rng import manual_seed
from .tensor import (Function, OutOfMemoryError, Parameter, Tensor, detect_anomaly, enable_grad,
                     get_default_dtype, is_grad_enabled, no_grad, set_default_dtype,
                     topological_order)

# -- layers, models, optimisers, training (one import line per module; keep this order)
from . import layers, models
from .layers import Module, activations, initializers
from .models import Model, Sequential
from . import data, losses, metrics, optim
from .train import History, TrainingAPI
from .gradcheck import GradcheckError, GradcheckResult, gradcheck
from . import zoo
from . import callbacks
from .checkpoint import CheckpointError, load, load_weights, save, save_weights
from .layers.config import register_layer, register_serializable
from .train import NonFiniteError, NonFiniteLossError, NonFiniteWeightsError
from .files import SaveError
# (exports-issue4)
from .models import GraphModel, Input
from .zoo import to_torch_state_dict, load_torch_state_dict

__version__ = "0.1.0"
