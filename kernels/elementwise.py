"""Numba kernels for ReLU, bias + activation, and softmax cross-entropy."""
import numpy as np

from ._jit import kernel


@kernel
def relu_forward(x, y):
    """Fills y = x * [x > 0] elementwise over a flat array (NaN stays NaN, as in the reference).
    Reference twin: functional.activation.ReLU.forward.

    As plain loops:   for k: y[k] = x[k] * [x[k] > 0]
    """
    for k in range(x.shape[0]):
        v = x[k]
        y[k] = v * (v > 0)             # (a bool factor keeps the dtype; 0.0 would not)


@kernel
def relu_backward(g, y, dx):
    """Fills dx = g * [y > 0] (y = relu(x) is positive exactly where x is).
    Reference twin: functional.activation.ReLU.backward.

    As plain loops:   for k: dx[k] = g[k] * [y[k] > 0]
    """
    for k in range(g.shape[0]):
        dx[k] = g[k] * (y[k] > 0)


@kernel
def bias_activation(y, bias, activation):
    """y[n, o] = act(y[n, o] + bias[o]) in place on a 2-D (N, O) array; activation 0 is
    the identity, 1 is ReLU (fused bias + activation). Reference twin: ``x @ w + b``
    in functional.linear.Linear.forward followed by functional.activation.ReLU.

    As plain loops:   for n, o: y[n, o] = act(y[n, o] + bias[o])
    """
    for r in range(y.shape[0]):
        for o in range(y.shape[1]):
            v = y[r, o] + bias[o]
            if activation == 1:
                v = v * (v > 0)
            y[r, o] = v


@kernel
def softmax_cross_entropy(x, q, loss, p):
    """Fills the per-sample loss (N,) and the softmax p (N, C) of logits x against target
    rows q.
    Reference twin: functional.loss.CrossEntropy.forward.

    As plain loops:
        for n:
            m = max_c x[n, c];  s = sum_c exp(x[n, c] - m)
            log_p[c] = x[n, c] - m - log s;  p[n, c] = exp(log_p[c])
            loss[n] = -sum_c q[n, c] log_p[c]
    """
    n, c = x.shape
    for r in range(n):
        m = x[r, 0]
        for k in range(1, c):
            if x[r, k] > m:
                m = x[r, k]
        s = 0.0                                # accumulated in float64
        for k in range(c):
            s += np.exp(x[r, k] - m)
        log_s = np.log(s)
        total = 0.0
        for k in range(c):
            log_p = x[r, k] - m - log_s
            p[r, k] = np.exp(log_p)
            total -= q[r, k] * log_p
        loss[r] = total
