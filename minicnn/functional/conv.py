"""2-D convolution through im2col + matrix multiply (NCHW, PyTorch semantics).

The idea (Chellapilla et al. 2006; CS231n; Chainer's ``conv.py``): copy every
receptive field of the input into a column, so the convolution becomes one matrix
product per group (output pixel (u, v), kernel tap (i, j), stride s, dilation d):

    cols[n, c, i, j, u, v] = x_pad[n, c, u*s_h + i*d_h, v*s_w + j*d_w]
    out[n, o, u, v]        = sum_{c, i, j} W[o, c, i, j] * cols[n, c, i, j, u, v] + b[o]

Backward is the same two products read the other way, and ``col2im`` adds every
column's gradient back onto the pixel it was copied from.
"""
from ..backend import array_module, implementation
from ..tensor import Function, as_tensor
from .utils import normalize_padding, pair, positive_pair, window_output_shape


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, pad_value=0):
    """Unroll every receptive field of x into columns.

    x: (N, C, H, W) array.  padding: ((top, bottom), (left, right)) or anything
    ``normalize_padding`` accepts.  Returns cols of shape (N, C, kh, kw, H_out, W_out)
    with H_out = (H + p_top + p_bottom - d_h (kh - 1) - 1) // s_h + 1 (same for W):

        cols[n, c, i, j, u, v] = x_pad[n, c, u*s_h + i*d_h, v*s_w + j*d_w]
    """
    xp = array_module(x)
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = pair(stride, "stride")
    d_h, d_w = pair(dilation, "dilation")
    (pt, pb), (pl, pr) = normalize_padding(padding, (kh, kw), (sh, sw), (d_h, d_w), x.shape[2:])
    n, c, h_in, w_in = x.shape
    h_out, w_out = window_output_shape((h_in, w_in), (kh, kw), (sh, sw), ((pt, pb), (pl, pr)),
                                       (d_h, d_w))
    x_pad = xp.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=pad_value)
    cols = xp.empty((n, c, kh, kw, h_out, w_out), dtype=x.dtype)
    for i in range(kh):                   # one strided slice per kernel offset (i, j)
        top = i * d_h
        for j in range(kw):
            left = j * d_w
            cols[:, :, i, j] = x_pad[:, :, top:top + sh * (h_out - 1) + 1:sh,
                                     left:left + sw * (w_out - 1) + 1:sw]
    return cols


def col2im(cols, x_shape, stride=1, padding=0, dilation=1):
    """The adjoint of im2col: add each column entry back onto the pixel it came from.

    cols: (N, C, kh, kw, H_out, W_out).  Returns an array of shape x_shape = (N, C, H, W):

        x[n, c, u*s_h + i*d_h - p_top, v*s_w + j*d_w - p_left] += cols[n, c, i, j, u, v]

    (entries that land in the padding are dropped). Overlapping windows add up.
    """
    xp = array_module(cols)
    n, c, kh, kw, h_out, w_out = cols.shape
    sh, sw = pair(stride, "stride")
    d_h, d_w = pair(dilation, "dilation")
    (pt, pb), (pl, pr) = normalize_padding(padding, (kh, kw), (sh, sw), (d_h, d_w), x_shape[2:])
    h_in, w_in = x_shape[2:]
    x_pad = xp.zeros((n, c, h_in + pt + pb, w_in + pl + pr), dtype=cols.dtype)
    for i in range(kh):
        top = i * d_h
        for j in range(kw):
            left = j * d_w
            x_pad[:, :, top:top + sh * (h_out - 1) + 1:sh,
                  left:left + sw * (w_out - 1) + 1:sw] += cols[:, :, i, j]
    return x_pad[:, :, pt:pt + h_in, pl:pl + w_in]


class Conv2d(Function):
    """out = conv2d(x, W) + b through im2col, for ``groups`` independent channel groups.

    x (N, C, H, W), W (O, C/g, kh, kw), b (O,) or None -> out (N, O, H_out, W_out).
    With K = (C/g) kh kw and P = H_out W_out, per group g:

        out_g (O/g, P) = W_g (O/g, K) @ cols_g (K, P)          for each sample
    """
    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, w, b):
        n = x.shape[0]
        o, c_g, kh, kw = w.shape
        g = self.groups
        cols = im2col(x, (kh, kw), self.stride, self.padding, self.dilation)
        h_out, w_out = cols.shape[-2:]
        self.x_shape, self.w = x.shape, w
        self.cols = cols.reshape(n, g, c_g * kh * kw, h_out * w_out)      # (N, g, K, P)
        w_g = w.reshape(g, o // g, c_g * kh * kw)                          # (g, O/g, K)
        out = (w_g @ self.cols).reshape(n, o, h_out, w_out)                # (N, g, O/g, P)
        if b is not None:
            out += b.reshape(1, o, 1, 1)
        return out

    def backward(self, dout):
        n, o, h_out, w_out = dout.shape
        g = self.groups
        w = self.w
        dout_g = dout.reshape(n, g, o // g, h_out * w_out)                 # (N, g, O/g, P)
        dx = dw = db = None
        if self.needs_input_grad[0]:
            w_g = w.reshape(g, o // g, -1)
            dcols = w_g.swapaxes(-1, -2) @ dout_g                          # dcols = W_g^T dOut_g
            dcols = dcols.reshape(n, self.x_shape[1], w.shape[2], w.shape[3], h_out, w_out)
            dx = col2im(dcols, self.x_shape, self.stride, self.padding, self.dilation)
        if self.needs_input_grad[1]:
            dw = (dout_g @ self.cols.swapaxes(-1, -2)).sum(axis=0)        # dW_g = sum_n dOut_g cols_g^T
            dw = dw.reshape(w.shape)
        if self.needs_input_grad[2]:
            db = dout.sum(axis=(0, 2, 3))                                  # db[o] = sum_{n,u,v} dOut
        return dx, dw, db


class Conv2dReLU(Conv2d):
    """out = relu(conv2d(x, W) + b) as one op: Conv2d's math with the ReLU lines added.

        forward   y  = max(conv(x, W) + b, 0)
        backward  dZ = dY * [y > 0]               (the ReLU's gradient, as in ReLU.backward)
                  then Conv2d's backward on dZ

    The same numbers as ``relu(conv2d(...))``; being one op lets a kernel add the bias and
    clip in the pass that writes the output, and mask dY in the pass that reads it.
    """
    def forward(self, x, w, b):
        z = super().forward(x, w, b)
        self.positive = z > 0
        return z * self.positive

    def backward(self, dout):
        return super().backward(dout * self.positive)      # dZ = dY [y > 0]


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in every deep-learning library).

    x: (N, C, H, W)     w: (O, C/groups, kh, kw)     b: (O,) or None
    stride, dilation: int or (sh, sw); padding: int, (ph, pw), ((top, bottom), (left,
    right)), 'valid' or 'same' (output size ceil(H / stride), as Keras; for stride 1 the
    same as PyTorch's padding='same').
    Returns (N, O, H_out, W_out) with

        H_out = (H + p_top + p_bottom - dilation_h (kh - 1) - 1) // stride_h + 1
        W_out = (W + p_left + p_right - dilation_w (kw - 1) - 1) // stride_w + 1
    """
    return _convolve(Conv2d, x, w, b, stride, padding, dilation, groups)


def conv2d_relu(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """relu(conv2d(x, w, b, ...)) as one fused op (``Conv2dReLU``); same arguments and
    output shape as ``conv2d``. ``Conv2D(..., activation='relu')`` uses it."""
    return _convolve(Conv2dReLU, x, w, b, stride, padding, dilation, groups)


def _convolve(reference, x, w, b, stride, padding, dilation, groups):
    """Check conv2d's arguments, then run ``reference`` (or its kernel twin)."""
    x, w = as_tensor(x), as_tensor(w)
    if x.ndim != 4:
        raise ValueError(f"conv2d: input must have shape (N, C, H, W), got {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: weight must have shape (O, C/groups, kh, kw), got {w.shape}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    stride = positive_pair(stride, "conv2d: stride")
    dilation = positive_pair(dilation, "conv2d: dilation")
    o, c_g, kh, kw = w.shape
    c = x.shape[1]
    if c % groups or o % groups:
        raise ValueError(f"conv2d: groups={groups} must divide both the input channels ({c}) "
                         f"and the output channels ({o})")
    if c_g * groups != c:
        raise ValueError(f"conv2d: the input has {c} channels but the weight {w.shape} expects "
                         f"{c_g} x groups={groups} = {c_g * groups}")
    if b is not None:
        b = as_tensor(b)
        if b.shape != (o,):
            raise ValueError(f"conv2d: bias must have shape ({o},), got {b.shape}")
    pads = normalize_padding(padding, (kh, kw), stride, dilation, x.shape[2:])
    window_output_shape(x.shape[2:], (kh, kw), stride, pads, dilation, op="conv2d")
    op = implementation(reference, x.data, w.data)  # the reference above, or a kernel twin
    return op(stride, pads, dilation, groups)(x, w, b)
