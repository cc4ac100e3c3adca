"""minicnn.functional — every op as a forward/backward pair in plain array code.

One file per op family:

    conv.py        conv2d (im2col + matmul), conv2d_relu (fused), im2col, col2im
    pool.py        max_pool2d, avg_pool2d
    linear.py      linear (Dense)
    activation.py  relu, leaky_relu, elu, gelu, sigmoid, tanh, softmax, log_softmax
    dropout.py     dropout (inverted)
    loss.py        cross_entropy (fused with log-softmax), mse_loss
    shape.py       flatten, concatenate, add, zero_pad2d
    norm.py        batch_norm, local_response_norm
    adaptive.py    adaptive_avg_pool2d, global_avg_pool2d
"""
from .activation import elu, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import col2im, conv2d, conv2d_relu, im2col
from .dropout import dropout
from .linear import linear
from .loss import cross_entropy, mse_loss, nll_of_probabilities
from .pool import avg_pool2d, max_pool2d
from .shape import add, concatenate, flatten, zero_pad2d
from .norm import batch_norm, local_response_norm
from .adaptive import adaptive_avg_pool2d, global_avg_pool2d

__all__ = ["conv2d", "conv2d_relu", "im2col", "col2im", "max_pool2d", "avg_pool2d", "linear", "relu",
           "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout",
           "cross_entropy", "mse_loss", "nll_of_probabilities", "flatten", "concatenate", "add",
           "zero_pad2d", "batch_norm", "local_response_norm", "adaptive_avg_pool2d",
           "global_avg_pool2d"]
