"""Step through one op: its forward and backward on a tiny fixed input, with the numbers.

    from minicnn.stepthrough import step_through, STEPS
    step_through("conv2d")          # prints inputs, parameters, output, upstream gradient,
                                    # and every gradient; returns them as a dict of arrays

Each step builds a small input of fixed, mostly integer numbers, runs the minicnn op
forward, calls ``backward`` with a fixed upstream gradient ``dout`` (through autograd,
exactly as training does), and prints every array with its shape. Between them it prints
the intermediates the docs' derivations name (the im2col matrix, the batch mean, ...),
computed with the same formulas as the code. The op pages of the docs show the same
output, computed by the docs build, so the numbers in the docs are the numbers you get.

Everything runs in float64 on the reference NumPy code (the ``numpy`` backend), whichever
backend is current: the lines the docs link to are the lines that ran.
"""
import sys

import numpy as np

from . import functional as F
from .backend import use_backend
from .tensor import Tensor

PRECISION = 4          # decimals printed


class Step:
    """The record of one step-through: a title, notes, and labelled arrays in order.

    ``str(step)`` is the printed text; ``step.arrays`` maps each label to its array.
    """

    def __init__(self, name, title):
        self.name, self.title = name, title
        self.rows = []       # ("section", text) or ("array", label, array, note)
        self.arrays = {}

    def section(self, text):
        self.rows.append(("section", text))

    def show(self, label, array, note=""):
        array = np.asarray(array, dtype=np.float64)
        if label in self.arrays:
            raise ValueError(f"step {self.name!r}: label {label!r} is used twice")
        self.arrays[label] = array
        self.rows.append(("array", label, array, note))

    def __str__(self):
        lines = [self.title]
        for row in self.rows:
            if row[0] == "section":
                lines += ["", f"== {row[1]}"]
                continue
            _, label, array, note = row
            lines.append(f"{label}  {shape_text(array)}{'  ' + note if note else ''}")
            lines += ["    " + line for line in format_array(array).splitlines()]
        return "\n".join(lines) + "\n"


def shape_text(array):
    return "scalar" if array.ndim == 0 else "shape " + "x".join(str(n) for n in array.shape)


def format_array(array):
    """Fixed precision, no scientific notation, and no "-0." for a zero."""
    array = np.where(array == 0, 0.0, array)        # -0.0 prints as 0.
    return np.array2string(array, precision=PRECISION, suppress_small=True,
                           floatmode="maxprec_equal", max_line_width=100)


def _t(values, requires_grad=True):
    return Tensor(np.array(values, dtype=np.float64), requires_grad=requires_grad)


# ----------------------------------------------------------------------------- steps
def _conv2d():
    s = Step("conv2d", "conv2d: x (1, 1, 4, 4) * w (1, 1, 2, 2) + b, stride 1, padding 0 "
             "-> out (1, 1, 3, 3)")
    x = _t([[[[1, 2, 0, 1], [3, 1, 2, 0], [0, 1, 4, 2], [2, 0, 1, 3]]]])
    w = _t([[[[1, -1], [2, 0]]]])
    b = _t([0.5])
    dout = np.array([[[[1, 0, -1], [0, 2, 0], [1, 0, 1]]]], dtype=np.float64)
    out = F.conv2d(x, w, b)
    out.backward(dout)
    cols = F.im2col(x.data, (2, 2)).reshape(4, 9)            # K = C kh kw = 4, P = 3*3 = 9
    dcols = w.data.reshape(1, 4).T @ dout.reshape(1, 9)      # W^T dOut, (K, P)
    s.section("forward")
    s.show("x[0, 0]", x.data[0, 0], "input, (N, C, H, W) = (1, 1, 4, 4)")
    s.show("w[0, 0]", w.data[0, 0], "kernel, (O, C, kh, kw) = (1, 1, 2, 2)")
    s.show("b", b.data, "bias, (O,)")
    s.show("cols", cols, "im2col(x): row (c, i, j) = kernel offset, column (y, x) = output pixel")
    s.show("w row", w.data.reshape(1, 4), "w reshaped to (O, K)")
    s.show("out[0, 0]", out.data[0, 0], "(w row @ cols + b) reshaped to (H_out, W_out)")
    s.section("backward")
    s.show("dout[0, 0]", dout[0, 0], "upstream gradient d loss / d out (fixed)")
    s.show("dcols", dcols, "w row^T @ dout row: the gradient of every column entry")
    s.show("dx[0, 0]", x.grad[0, 0], "col2im(dcols): each entry added back onto its pixel")
    s.show("dw[0, 0]", w.grad[0, 0], "dout row @ cols^T, reshaped to (kh, kw)")
    s.show("db", b.grad, "sum of dout over n, y, x")
    return s


_POOL_X = [[[[1, 3, 2, 0], [3, 0, 1, 2], [0, 2, 5, 1], [1, 4, 1, 1]]]]


def _max_pool2d():
    s = Step("max_pool2d", "max_pool2d: x (1, 1, 4, 4), kernel 2, stride 2 -> out (1, 1, 2, 2)")
    x = _t(_POOL_X)
    dout = np.array([[[[1, 2], [3, 4]]]], dtype=np.float64)
    out = F.max_pool2d(x, 2)
    out.backward(dout)
    cols = F.im2col(x.data, (2, 2), stride=2).reshape(4, 4)
    s.section("forward")
    s.show("x[0, 0]", x.data[0, 0], "input (the top-left window has a tie: 3 and 3)")
    s.show("cols", cols, "im2col(x): one column per window, rows = offsets (0,0) (0,1) (1,0) (1,1)")
    s.show("argmax", cols.argmax(axis=0).reshape(2, 2),
           "row of the maximum in each column (the first one on a tie)")
    s.show("out[0, 0]", out.data[0, 0], "max of each column")
    s.section("backward")
    s.show("dout[0, 0]", dout[0, 0], "upstream gradient (fixed)")
    s.show("dx[0, 0]", x.grad[0, 0], "each dout goes to its window's arg-max pixel, zero elsewhere")
    return s


def _avg_pool2d():
    s = Step("avg_pool2d", "avg_pool2d: x (1, 1, 4, 4), kernel 2, stride 1 (overlapping "
             "windows) -> out (1, 1, 3, 3)")
    x = _t(_POOL_X)
    dout = np.array([[[[1, 2, 0], [0, 1, 2], [2, 0, 1]]]], dtype=np.float64)
    out = F.avg_pool2d(x, 2, stride=1)
    out.backward(dout)
    s.section("forward")
    s.show("x[0, 0]", x.data[0, 0], "input")
    s.show("out[0, 0]", out.data[0, 0], "mean of each 2x2 window")
    s.section("backward")
    s.show("dout[0, 0]", dout[0, 0], "upstream gradient (fixed)")
    s.show("dout / 4", dout[0, 0] / 4, "what each of a window's 4 pixels receives")
    s.show("dx[0, 0]", x.grad[0, 0], "col2im: the shares of every window that covers a pixel, added")
    return s


_ACT_X = [[-2, -0.5, 0], [0.5, 1, 3]]


def _elementwise(name, fn, formula, derivative):
    def step():
        s = Step(name, f"{name}: y = {formula}, elementwise on x (2, 3)")
        x = _t(_ACT_X)
        dout = np.ones((2, 3))
        y = fn(x)
        y.backward(dout)
        s.section("forward")
        s.show("x", x.data, "input")
        s.show("y", y.data, formula)
        s.section("backward")
        s.show("dout", dout, "upstream gradient: ones, so dx is the derivative itself")
        s.show("dx", x.grad, f"dout * ({derivative})")
        return s
    return step


def _softmax():
    s = Step("softmax", "softmax along the last axis of x (2, 3)")
    x = _t([[1, 2, 3], [0, 0, 4]])
    dout = np.array([[1, 0, 0], [0, 0, 1]], dtype=np.float64)
    y = F.softmax(x)
    y.backward(dout)
    s.section("forward")
    s.show("x", x.data, "input (logits)")
    s.show("x - max", x.data - x.data.max(axis=1, keepdims=True), "shifted: the largest is 0")
    s.show("y", y.data, "e^(x - max) / sum e^(x - max): each row sums to 1")
    s.section("backward")
    s.show("dout", dout, "upstream gradient (fixed)")
    s.show("sum dout y", (dout * y.data).sum(axis=1, keepdims=True), "sum_j dout_j y_j per row")
    s.show("dx", x.grad, "y * (dout - sum_j dout_j y_j)")
    return s


def _linear():
    s = Step("linear", "linear (Dense): x (2, 3) @ W (3, 2) + b (2,) -> y (2, 2)")
    x = _t([[1, 2, 0], [0, 1, -1]])
    w = _t([[1, 0], [-1, 2], [0.5, 1]])
    b = _t([1, -1])
    dout = np.array([[1, 2], [-1, 0]], dtype=np.float64)
    y = F.linear(x, w, b)
    y.backward(dout)
    s.section("forward")
    s.show("x", x.data, "input, (N, in)")
    s.show("W", w.data, "kernel, (in, out)")
    s.show("b", b.data, "bias, (out,)")
    s.show("y", y.data, "x @ W + b")
    s.section("backward")
    s.show("dout", dout, "upstream gradient d loss / d y (fixed)")
    s.show("dx", x.grad, "dout @ W^T")
    s.show("dW", w.grad, "x^T @ dout")
    s.show("db", b.grad, "sum of dout over the batch")
    return s


def _softmax_cross_entropy():
    s = Step("softmax_cross_entropy", "cross_entropy: logits (2, 3), labels (2,) -> "
             "the mean loss over the batch")
    x = _t([[2, 1, 0.1], [0.5, 2.5, 0.5]])
    labels = np.array([0, 2])
    loss = F.cross_entropy(x, labels)
    loss.backward()                                  # upstream gradient 1 (a scalar loss)
    m = x.data.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x.data - m).sum(axis=1, keepdims=True))
    log_p = x.data - lse
    onehot = np.eye(3)[labels]
    s.section("forward")
    s.show("x", x.data, "logits, (N, C) = (2, 3)")
    s.show("labels", labels, "the true class of each row")
    s.show("m", m, "max of each row")
    s.show("logsumexp", lse, "m + log sum_j e^(x_j - m)")
    s.show("log p", log_p, "x - logsumexp (log-softmax)")
    s.show("p", np.exp(log_p), "softmax(x) = e^(log p)")
    s.show("loss_n", -log_p[np.arange(2), labels], "-log p[n, label_n]")
    s.show("loss", loss.data, "mean over the batch")
    s.section("backward")
    s.show("dloss", 1.0, "upstream gradient of the scalar loss")
    s.show("onehot", onehot, "the target rows q")
    s.show("dx", x.grad, "(p - onehot) / N")
    return s


def _dropout():
    s = Step("dropout", "dropout: x (2, 4), p = 0.5, training, rng = numpy.random.default_rng(0)")
    x = _t(np.arange(1, 9).reshape(2, 4))
    dout = np.ones((2, 4))
    keep = np.random.default_rng(0).random((2, 4)) >= 0.5        # the draw Dropout makes
    y = F.dropout(x, 0.5, rng=np.random.default_rng(0))
    y.backward(dout)
    s.section("forward")
    s.show("x", x.data, "input")
    s.show("keep", keep, "the mask: uniform draw >= p (1 = kept)")
    s.show("scale", keep / (1 - 0.5), "keep / (1 - p)")
    s.show("y", y.data, "x * scale")
    s.section("backward")
    s.show("dout", dout, "upstream gradient (ones)")
    s.show("dx", x.grad, "dout * scale (the same mask)")
    return s


def _batch_norm():
    s = Step("batch_norm", "batch_norm: x (N=3, C=2), training, momentum 0.1, eps 1e-5; "
             "then evaluation with the updated running statistics")
    x = _t([[1, 4], [2, 0], [6, 2]])
    gamma, beta = _t([1, 0.5]), _t([0, 1])
    running_mean, running_var = np.zeros(2), np.ones(2)
    dy = np.array([[1, 0], [0, 1], [-1, 2]], dtype=np.float64)
    y = F.batch_norm(x, gamma, beta, running_mean, running_var, training=True)
    y.backward(dy)
    mean, var = x.data.mean(axis=0), x.data.var(axis=0)
    inv_std = 1 / np.sqrt(var + 1e-5)
    x_hat = (x.data - mean) * inv_std
    dx_hat = dy * gamma.data
    s.section("forward (training: batch statistics)")
    s.show("x", x.data, "input, (N, C)")
    s.show("gamma", gamma.data, "scale, (C,)")
    s.show("beta", beta.data, "shift, (C,)")
    s.show("mean", mean, "mu_c: mean over the batch")
    s.show("var", var, "var_c: biased variance over the batch (divide by m = 3)")
    s.show("inv_std", inv_std, "1 / sqrt(var + eps)")
    s.show("x_hat", x_hat, "(x - mean) * inv_std")
    s.show("y", y.data, "gamma * x_hat + beta")
    s.show("running_mean", running_mean, "0.9 * 0 + 0.1 * mean (updated in place)")
    s.show("running_var", running_var, "0.9 * 1 + 0.1 * var * m / (m - 1) (unbiased)")
    s.section("backward (training)")
    s.show("dy", dy, "upstream gradient (fixed)")
    s.show("dbeta", beta.grad, "sum of dy over the batch")
    s.show("dgamma", gamma.grad, "sum of dy * x_hat over the batch")
    s.show("dx_hat", dx_hat, "dy * gamma")
    s.show("mean dx_hat", dx_hat.mean(axis=0), "per channel")
    s.show("mean dx_hat x_hat", (dx_hat * x_hat).mean(axis=0), "per channel")
    s.show("dx", x.grad, "inv_std * (dx_hat - mean dx_hat - x_hat * mean dx_hat x_hat)")
    x_eval = _t(x.data)
    y_eval = F.batch_norm(x_eval, gamma.data, beta.data, running_mean, running_var,
                          training=False)
    y_eval.backward(dy)
    s.section("evaluation (running statistics, which are constants)")
    s.show("y eval", y_eval.data, "gamma * (x - running_mean) / sqrt(running_var + eps) + beta")
    s.show("dx eval", x_eval.grad, "dy * gamma / sqrt(running_var + eps)")
    return s


def _lrn():
    s = Step("lrn", "local_response_norm: x (1, 4, 1, 1) (4 channels), size 3, alpha 0.1, "
             "beta 0.75, k 2")
    size, alpha, beta, k = 3, 0.1, 0.75, 2.0
    x = _t(np.array([1, -2, 3, 0.5]).reshape(1, 4, 1, 1))
    dy = np.array([1, -1, 0.5, 2], dtype=np.float64).reshape(1, 4, 1, 1)
    y = F.local_response_norm(x, size, alpha, beta, k)
    y.backward(dy)
    xv, dyv = x.data.ravel(), dy.ravel()
    sq = np.pad(xv * xv, 1)
    window = sq[:-2] + sq[1:-1] + sq[2:]                 # channels c-1, c, c+1
    s_c = k + alpha * window
    t = np.pad(dyv * xv * s_c ** -beta / s_c, 1)
    s.section("forward")
    s.show("x", xv, "x[0, :, 0, 0], one value per channel")
    s.show("window sum", window, "x_{c-1}^2 + x_c^2 + x_{c+1}^2 (missing channels count 0)")
    s.show("s", s_c, "k + alpha * window sum")
    s.show("s^-beta", s_c ** -beta, "")
    s.show("y", y.data.ravel(), "x * s^-beta")
    s.section("backward")
    s.show("dy", dyv, "upstream gradient (fixed)")
    s.show("t", t[1:-1], "dy * x * s^-beta / s")
    s.show("dx", x.grad.ravel(), "dy * s^-beta - 2 alpha beta x * (t_{c-1} + t_c + t_{c+1})")
    return s


_BUILDERS = {
    "conv2d": _conv2d,
    "max_pool2d": _max_pool2d,
    "avg_pool2d": _avg_pool2d,
    "relu": _elementwise("relu", F.relu, "max(x, 0)", "[x > 0]"),
    "leaky_relu": _elementwise("leaky_relu", lambda x: F.leaky_relu(x, 0.1),
                               "x if x > 0 else 0.1 x", "1 if x > 0 else 0.1"),
    "sigmoid": _elementwise("sigmoid", F.sigmoid, "1 / (1 + e^-x)", "y (1 - y)"),
    "tanh": _elementwise("tanh", F.tanh, "tanh(x)", "1 - y^2"),
    "softmax": _softmax,
    "linear": _linear,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "dropout": _dropout,
    "batch_norm": _batch_norm,
    "lrn": _lrn,
}
STEPS = tuple(_BUILDERS)


def run_step(name):
    """Compute the step-through ``name`` (one of ``STEPS``) and return its ``Step``."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown step {name!r}; choose one of: {', '.join(STEPS)}")
    with use_backend("numpy"):
        return _BUILDERS[name]()


def step_through(name, file=None):
    """Print one op's forward and backward on a tiny fixed input, with the actual numbers.

    name: one of ``STEPS`` ("conv2d", "max_pool2d", "avg_pool2d", "relu", "leaky_relu",
    "sigmoid", "tanh", "softmax", "linear", "softmax_cross_entropy", "dropout",
    "batch_norm", "lrn").  file: where to print (default sys.stdout).
    Returns {label: float64 array} of everything printed, in order.
    """
    step = run_step(name)
    print(step, end="", file=sys.stdout if file is None else file)
    return dict(step.arrays)
