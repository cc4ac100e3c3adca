"""minicnn — a convolutional-network engine you can read line by line.

    import minicnn as mc
    import minicnn.functional as F
    from minicnn.layers import Conv2D, MaxPooling2D, Flatten, Dense

See README.md for the two commands that set it up and test it.
"""
import os

# OpenBLAS's idle workers spin for ~2^28 cycles after each matrix product, holding a core
# the next Numba kernel wants: LeNet training at 2 threads ran at 0.77-0.89x PyTorch with
# the default and 1.13-1.15x with 4 (benchmarks/bench_lenet.py). OpenBLAS reads this when
# NumPy loads it, so it holds when minicnn is imported before numpy (the minicnn command
# always is); an explicit setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import functional  # noqa: E402  (after the environment above)
from .backend import available_backends, get_backend, set_backend, use_backend
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
