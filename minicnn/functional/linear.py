"""The fully connected (Dense) layer's op."""
from ..backend import implementation
from ..tensor import Function, as_tensor


class Linear(Function):
    """y = x @ W + b.

    x: (N, in) or (..., in)    W: (in, out)    b: (out,) or None    y: (..., out)
    """
    def forward(self, x, w, b):
        self.x, self.w = x, w
        y = x @ w
        return y if b is None else y + b

    def backward(self, g):
        x2 = self.x.reshape(-1, self.x.shape[-1])     # fold any leading axes into the batch
        g2 = g.reshape(-1, g.shape[-1])
        dx = g @ self.w.T if self.needs_input_grad[0] else None        # dX = dY W^T
        dw = x2.T @ g2 if self.needs_input_grad[1] else None           # dW = X^T dY
        db = g2.sum(axis=0) if self.needs_input_grad[2] else None      # db = sum_n dY[n]
        return dx, dw, db


def linear(x, w, b=None):
    """Fully connected: y = x @ w + b.

    Shapes: x (N, in), w (in, out), b (out,) -> y (N, out). Leading axes of x beyond the
    batch are kept: (..., in) -> (..., out).
    """
    x, w = as_tensor(x), as_tensor(w)
    b = None if b is None else as_tensor(b)
    op = implementation(Linear, x.data, w.data)     # the reference above, or a kernel twin
    return op()(x, w, b)
