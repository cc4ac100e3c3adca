"""Tensor, Function and the autograd graph (define-by-run).

Every differentiable op is a small ``Function``: ``forward`` computes the output from
plain arrays and keeps what ``backward`` needs; ``backward`` maps the gradient of the
output to one gradient per input. Calling a Function on Tensors records it as the
``creator`` of the output, so the graph can be walked from any result back to its
leaves:

    loss.creator              -> the Function that made ``loss`` (None for a leaf)
    loss.creator.inputs       -> the Tensors it was applied to
    topological_order(loss)   -> every Tensor of the graph, inputs before outputs

``loss.backward()`` walks that order in reverse and adds each gradient into the
``.grad`` of the leaves, as PyTorch does (gradients accumulate until ``zero_grad``).
Each op's saved arrays are freed once its backward has used them, so a graph can be
walked once; ``backward(retain_graph=True)`` keeps them for another walk, and walking
a freed graph raises ``RuntimeError`` naming the op (PyTorch's rule: a second walk
would otherwise add the same gradients again).
An op that runs out of memory raises ``OutOfMemoryError`` (a MemoryError) naming the
layer, the op, the array it could not allocate and what to change.
``time_ops(callback)`` reports the time of every op's forward and backward (what
``model.explain`` charges to the layers).
This is the design of Chainer and PyTorch, kept small enough to read in one sitting.
"""
import contextlib
import time

import numpy as np

from .arguments import check_bool
from .backend import array_module
from .device import device_of, mixed_devices_message, normalize_device, to_device, to_host

# ----------------------------------------------------------------------------- modes
_DEFAULT_DTYPE = [np.dtype(np.float32)]
_GRAD_ENABLED = [True]
_ANOMALY = [False]
_LAYER_STACK = []          # names of the layers being called, innermost last
_OP_TIMERS = []            # callbacks fn(function, phase, seconds), see time_ops


def get_default_dtype():
    """The float dtype given to Tensors made from Python numbers and integer arrays."""
    return _DEFAULT_DTYPE[0]


def set_default_dtype(dtype):
    """Set the default float dtype ("float32" or "float64")."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"the default dtype must be a float type, got {dtype}")
    _DEFAULT_DTYPE[0] = dtype


def is_grad_enabled():
    return _GRAD_ENABLED[0]


class no_grad(contextlib.ContextDecorator):
    """Turn graph recording off inside a ``with`` block or a decorated function."""

    def __enter__(self):
        self._previous = _GRAD_ENABLED[0]
        _GRAD_ENABLED[0] = False

    def __exit__(self, *exc):
        _GRAD_ENABLED[0] = self._previous
        return False


class enable_grad(contextlib.ContextDecorator):
    """Turn graph recording back on inside a ``no_grad`` block."""

    def __enter__(self):
        self._previous = _GRAD_ENABLED[0]
        _GRAD_ENABLED[0] = True

    def __exit__(self, *exc):
        _GRAD_ENABLED[0] = self._previous
        return False


class detect_anomaly(contextlib.ContextDecorator):
    """Opt-in check (like ``torch.autograd.detect_anomaly``): the first op whose forward
    or backward produces NaN or infinity raises ``FloatingPointError`` naming the op and
    the layer it ran in. Costs one ``isfinite`` pass per op, so it is off by default."""

    def __enter__(self):
        self._previous = _ANOMALY[0]
        _ANOMALY[0] = True

    def __exit__(self, *exc):
        _ANOMALY[0] = self._previous
        return False


@contextlib.contextmanager
def layer_scope(name):
    """Record that ops run inside layer ``name`` (used by error and anomaly messages)."""
    _LAYER_STACK.append(name)
    try:
        yield
    finally:
        _LAYER_STACK.pop()


def current_layer():
    return _LAYER_STACK[-1] if _LAYER_STACK else None


@contextlib.contextmanager
def time_ops(callback):
    """Inside the block, call ``callback(fn, phase, seconds)`` after every Function's
    ``forward`` (phase "forward") and ``backward`` (phase "backward") with the wall time
    it took. ``fn.layer`` names the layer the op ran in; ``model.explain`` adds the
    times up per layer this way."""
    _OP_TIMERS.append(callback)
    try:
        yield
    finally:
        _OP_TIMERS.remove(callback)


def _report_time(fn, phase, start):
    """Hand the time since ``start`` to the time_ops callbacks."""
    seconds = time.perf_counter() - start
    for callback in list(_OP_TIMERS):
        callback(fn, phase, seconds)


# ----------------------------------------------------------------------------- Function
class Function:
    """Base class of every differentiable op.

    A subclass implements::

        forward(self, *arrays)   -> array        (saves on self what backward needs)
        backward(self, grad_out) -> tuple        (one gradient per input, or None)

    and is used as ``MyOp(**params)(x, y, ...)``. Inputs may be Tensors, arrays or None
    (an absent optional input such as a bias); forward receives the underlying arrays.
    ``self.needs_input_grad[i]`` tells backward which gradients are wanted, and
    ``self.recording`` tells forward whether backward can be called at all (grad mode on
    and some input wants a gradient): a kernel may skip saving what backward needs.
    """
    inputs = ()
    needs_input_grad = ()
    recording = True          # (set per call by __call__)
    released = False          # True once backward has freed the arrays forward saved
    _freed_names = ()         # the attributes release() dropped

    def __call__(self, *inputs):
        tensors = tuple(x if x is None or isinstance(x, Tensor) else Tensor(x) for x in inputs)
        self.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
        self.recording = _GRAD_ENABLED[0] and any(self.needs_input_grad)
        self.layer = current_layer()
        self.released, self._freed_names = False, ()
        arrays = tuple(None if t is None else t.data for t in tensors)
        if len(arrays) > 1 and not all(a is None or type(a) is np.ndarray for a in arrays):
            mixed = mixed_devices_message(self.describe(), arrays)
            if mixed:
                raise ValueError(mixed)
        start = time.perf_counter()
        try:
            out = self.forward(*arrays)
        except MemoryError as error:
            raise out_of_memory(self, "forward", arrays, error) from error
        if _OP_TIMERS:
            _report_time(self, "forward", start)
        if _ANOMALY[0]:
            _check_finite(out, f"the forward output of {self.describe()}")
        result = Tensor(out, requires_grad=self.recording)
        if self.recording:
            self.inputs = tensors
            result.creator = self
        return result

    def release(self):
        """Free what forward saved for backward: every attribute that holds an array (or
        a tuple/list of arrays). Shapes and settings stay. ``Tensor.backward`` calls it
        after the op's backward unless ``retain_graph=True``; afterwards the op cannot
        be walked again, and reading a freed attribute raises RuntimeError."""
        freed = tuple(name for name, value in vars(self).items()
                      if name not in ("inputs", "needs_input_grad") and _holds_array(value))
        for name in freed:
            delattr(self, name)
        self.released, self._freed_names = True, freed

    def freed_message(self, attr=None):
        """The error for using this op after release() (PyTorch's words, naming the op)."""
        what = (f"read the saved array '{attr}' of {self.describe()} after it was freed"
                if attr else f"backward through the graph a second time: {self.describe()} "
                             f"already ran its backward, which freed the arrays it saved")
        return (f"Trying to {what}. A graph is walked once, so that the same gradients are "
                f"not added twice. Specify retain_graph=True in the first backward() to walk "
                f"it again, or run the forward pass again (call the model) for a new graph")

    def __getattr__(self, attr):
        # Reached only when normal lookup fails: say so plainly for a freed saved array.
        if attr in self.__dict__.get("_freed_names", ()):
            raise RuntimeError(self.freed_message(attr))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    @property
    def name(self):
        return type(self).__name__

    def describe(self):
        where = f" in layer '{self.layer}'" if getattr(self, "layer", None) else ""
        return f"op '{self.name}'{where}"

    def __repr__(self):
        return f"<{self.name} at {id(self):#x}>"


_NOT_ARRAYS = (type(None), bool, int, float, str)


def _is_array(value):
    if type(value) is np.ndarray:
        return True
    if isinstance(value, _NOT_ARRAYS):          # (the common settings: no lookups)
        return False
    return hasattr(value, "__array_interface__") or hasattr(value, "__cuda_array_interface__")


def _holds_array(value):
    """An array, or a tuple/list with an array in it (what release() frees)."""
    if isinstance(value, (tuple, list)):
        return any(_is_array(v) for v in value)
    return _is_array(value)


class OutOfMemoryError(MemoryError):
    """An op could not allocate an array; the message names the layer, the op, the
    array and what to change (see ``out_of_memory``)."""


def _gib(nbytes):
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def out_of_memory(fn, phase, arrays, error):
    """An OutOfMemoryError for ``fn`` failing in ``phase`` ('forward' or 'backward').

    NumPy's own error (``_ArrayMemoryError``) carries the shape and dtype of the array it
    could not allocate, and so does its message ("Unable to allocate 3.45 GiB for an
    array with shape (32, 64, 3, 3, 224, 224) and data type float32"); both are kept.
    ``arrays`` are the op's inputs (forward) or its output gradient (backward)."""
    if isinstance(error, OutOfMemoryError):
        return error                            # already explained by an inner op
    from .backend import get_backend
    shape, dtype = getattr(error, "shape", None), getattr(error, "dtype", None)
    what = str(error) or "could not allocate memory"
    if shape is not None and dtype is not None:
        nbytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
        what = (f"could not allocate an array of shape {tuple(shape)} "
                f"({np.dtype(dtype).name}, {_gib(nbytes)})")
        if str(error):
            what += f" [{error}]"
    given = [a for a in arrays if a is not None and hasattr(a, "shape")]
    inputs = ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in given)
    batch = given[0].shape[0] if given and given[0].ndim else None
    where = f"layer '{fn.layer}', " if getattr(fn, "layer", None) else ""
    advice = "use a smaller batch size"
    if batch:
        advice += (f" (the arrays grow with it: this batch has {batch} samples; "
                   f"half the batch needs about half the memory)")
    if get_backend() == "numpy":
        advice += ("; or the numba backend (mc.set_backend('numba') or MINICNN_BACKEND="
                   "numba), whose convolution builds its im2col columns in chunks of "
                   "samples instead of for the whole batch")
    return OutOfMemoryError(
        f"out of memory in {where}op '{fn.name}' ({phase}): {what}; the op's "
        f"{'inputs' if phase == 'forward' else 'output gradient'}: {inputs or 'none'}. "
        f"To fit in memory, {advice}. model.summary(batch_size=N) estimates the memory "
        f"a training step needs for a batch of N")


def _check_finite(array, what):
    xp = array_module(array)
    if not bool(xp.all(xp.isfinite(array))):
        kind = "NaN" if bool(xp.any(xp.isnan(array))) else "infinity"
        raise FloatingPointError(f"anomaly: {what} contains {kind} (shape {tuple(array.shape)})")


# ----------------------------------------------------------------------------- Tensor
def _to_array(data, dtype=None):
    """Turn data into a float array. Float arrays keep their dtype (and memory) unless
    ``dtype`` is given; Python numbers, lists, bools and integers get the default dtype."""
    if isinstance(data, Tensor):
        data = data.data
    xp = array_module(data)
    from_python = not hasattr(data, "dtype")
    if from_python:
        data = np.asarray(data)
    if data.dtype.kind in "OUSVMmc":
        raise TypeError(f"a Tensor holds real numbers; got an array of dtype {data.dtype}")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"a Tensor holds floats; got dtype={dtype}")
        return xp.asarray(data, dtype=dtype)
    if from_python or data.dtype.kind != "f":
        return xp.asarray(data, dtype=get_default_dtype())
    return data


class Tensor:
    """An n-dimensional float array that remembers how it was made.

    Tensor(data, requires_grad=False, dtype=None, name=None, device=None)

    data           array-like; float arrays keep their dtype and share memory,
                   other data becomes the default dtype (float32)
    requires_grad  track operations on it so ``backward`` can fill ``.grad``
    device         'cpu' or 'cuda' ('cuda:N', 'gpu'): copy the data there (default: leave
                   it where it is; NumPy data is on the host, CuPy data on its GPU)
    .grad          an array of the same shape (None until a backward reaches it)
    .creator       the Function that produced it (None for a leaf)
    """
    __array_priority__ = 1000   # ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, data, requires_grad=False, dtype=None, name=None, device=None):
        self.data = _to_array(data, dtype)
        if device is not None:
            self.data = to_device(self.data, device)
        self.requires_grad = check_bool(requires_grad, "Tensor: requires_grad")
        self.grad = None
        self.creator = None
        self.name = name
        self._retains_grad = False
        self.softmax_logits = None   # set by F.softmax: (logits, axis) behind these probabilities

    # -- what it is
    shape = property(lambda self: tuple(self.data.shape))
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: int(self.data.size))
    dtype = property(lambda self: self.data.dtype)
    grad_fn = property(lambda self: self.creator)    # PyTorch's name for the creator
    is_leaf = property(lambda self: self.creator is None)

    @property
    def device(self):
        """'cpu' (a NumPy array in host memory) or 'cuda:N' (a CuPy array on GPU N)."""
        return device_of(self.data)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = f", creator={self.creator.name}" if self.creator else (
            ", requires_grad=True" if self.requires_grad else "")
        body = np.array2string(self.numpy(), precision=4, threshold=20, prefix="Tensor(")
        device = f", device='{self.device}'" if self.device != "cpu" else ""
        return f"Tensor({body}, dtype={self.dtype}{device}{grad})"

    def numpy(self):
        """The data as a NumPy array in host memory (no copy on the CPU, a copy from a GPU)."""
        return to_host(self.data)

    def to(self, device):
        """This tensor on ``device`` ('cpu', 'cuda', 'cuda:N', 'gpu'): itself when it is
        already there, else a copy that stays in the graph (its gradient is copied back)."""
        device = normalize_device(device)
        if device == self.device:
            return self
        return ToDevice(device)(self)

    def cpu(self): return self.to("cpu")
    def cuda(self): return self.to("cuda")

    def item(self):
        """The single number this tensor holds, as a Python float (read from a GPU)."""
        return to_host(self.data).item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    def requires_grad_(self, flag=True):
        self.requires_grad = check_bool(flag, "requires_grad_")
        return self

    # -- backward
    def backward(self, grad=None, retain_graph=False):
        """Add d(self)/d(leaf) * grad into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is the gradient of some scalar with respect to this tensor; it may be
        left out when this tensor holds a single number (it is then 1).
        Each op frees the arrays it saved once its backward has run, so the graph can be
        walked only once (PyTorch's rule); ``retain_graph=True`` keeps them, for a second
        ``backward`` through the same graph. Walking a freed graph raises RuntimeError
        before any gradient is added.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() was called on a tensor that does not require grad: "
                               "none of its inputs had requires_grad=True, or it was computed "
                               "under no_grad()")
        xp = array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a single-number tensor; "
                                   f"this one has shape {self.shape}: pass backward(grad) "
                                   f"with an array of that shape, or reduce it with .sum()")
            grad = xp.ones_like(self.data)
        else:
            grad = _to_array(grad, self.dtype)
            if device_of(grad) != self.device:
                grad = to_device(grad, self.device)
            if tuple(grad.shape) != self.shape:
                raise ValueError(f"backward(grad): grad has shape {tuple(grad.shape)}, "
                                 f"the tensor has shape {self.shape}")
        order = topological_order(self)
        for t in order:                  # check first, so a refused walk adds nothing
            if t.creator is not None and t.creator.released:
                raise RuntimeError(t.creator.freed_message())
        grads = {id(self): grad}
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if t.creator is None or t._retains_grad:
                t.grad = g.copy() if t.grad is None else t.grad + g
            if t.creator is None:
                continue
            fn = t.creator
            start = time.perf_counter()
            try:
                input_grads = fn.backward(g)
            except MemoryError as error:
                raise out_of_memory(fn, "backward", (g,), error) from error
            if _OP_TIMERS:
                _report_time(fn, "backward", start)
            if not retain_graph:
                fn.release()
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for i, (x, gx, needed) in enumerate(zip(fn.inputs, input_grads, fn.needs_input_grad)):
                if not needed or gx is None:
                    continue
                if tuple(gx.shape) != x.shape:
                    raise RuntimeError(f"{fn.describe()} returned a gradient of shape "
                                       f"{tuple(gx.shape)} for input {i} of shape {x.shape}")
                if _ANOMALY[0]:
                    _check_finite(gx, f"the backward of {fn.describe()} (gradient for input {i})")
                gx = gx.astype(x.dtype, copy=False)
                grads[id(x)] = gx if id(x) not in grads else grads[id(x)] + gx

    # -- arithmetic (broadcasting like NumPy)
    def _lift(self, other):
        if isinstance(other, Tensor):
            return other
        device = None
        if self.device != "cpu" and getattr(other, "ndim", 0) == 0:
            device = self.device                     # numbers join this tensor on its GPU
        if hasattr(other, "dtype") and np.dtype(other.dtype).kind == "f":
            return Tensor(other, device=device)
        return Tensor(other, dtype=self.dtype, device=device)   # numbers keep this dtype

    def __add__(self, other): return Add()(self, self._lift(other))
    def __radd__(self, other): return Add()(self._lift(other), self)
    def __sub__(self, other): return Sub()(self, self._lift(other))
    def __rsub__(self, other): return Sub()(self._lift(other), self)
    def __mul__(self, other): return Mul()(self, self._lift(other))
    def __rmul__(self, other): return Mul()(self._lift(other), self)
    def __truediv__(self, other): return Div()(self, self._lift(other))
    def __rtruediv__(self, other): return Div()(self._lift(other), self)
    def __matmul__(self, other): return MatMul()(self, self._lift(other))
    def __rmatmul__(self, other): return MatMul()(self._lift(other), self)
    def __neg__(self): return Neg()(self)
    def __pos__(self): return self

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return PowTensor()(self, exponent)
        return Pow(exponent)(self)

    def __rpow__(self, base):
        return PowTensor()(self._lift(base), self)

    # -- elementwise and reductions
    def exp(self): return Exp()(self)
    def log(self): return Log()(self)
    def sqrt(self): return Pow(0.5)(self)
    def sum(self, axis=None, keepdims=False): return Sum(axis, keepdims)(self)
    def mean(self, axis=None, keepdims=False): return Mean(axis, keepdims)(self)
    def max(self, axis=None, keepdims=False): return Max(axis, keepdims)(self)

    def argmax(self, axis=None):
        """Index of the largest value (an integer array; not differentiable)."""
        return self.data.argmax(axis=axis)

    # -- shape
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape(shape)(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return Transpose(axes or None)(self)

    T = property(lambda self: self.transpose())

    def __getitem__(self, index):
        return GetItem(index)(self)

    def astype(self, dtype):
        """A copy in another float dtype; gradients flow back in this tensor's dtype."""
        return Cast(dtype)(self)

    def float(self): return self.astype(np.float32)
    def double(self): return self.astype(np.float64)


class Parameter(Tensor):
    """A Tensor that a layer owns and an optimiser updates (``requires_grad=True``)."""

    def __init__(self, data, requires_grad=True, dtype=None, name=None, trainable=True):
        trainable = check_bool(trainable, f"Parameter {name!r}: trainable")
        requires_grad = check_bool(requires_grad, f"Parameter {name!r}: requires_grad")
        super().__init__(data, requires_grad=requires_grad and trainable, dtype=dtype, name=name)
        self.trainable = trainable

    def __repr__(self):
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"


def topological_order(root):
    """Every Tensor that ``root`` depends on and that requires grad, each after its inputs.

    An iterative depth-first walk (deep networks would overflow Python's recursion):
    a tensor is emitted once all the tensors it was computed from have been emitted.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t.creator is not None:
            for x in t.creator.inputs:
                if x is not None and x.requires_grad and id(x) not in visited:
                    stack.append((x, False))
    return order


def as_tensor(x, dtype=None):
    """x itself if it is a Tensor (cast if dtype differs), else a new constant Tensor."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == np.dtype(dtype) else x.astype(dtype)
    return Tensor(x, dtype=dtype)


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``.

    If y = x + b with b of shape (C,) broadcast to (N, C), then dL/db = sum_n dL/dy[n].
    """
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


# ----------------------------------------------------------------------------- basic ops
class Add(Function):
    """y = a + b (broadcasting)."""
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        # dy/da = dy/db = 1, summed over broadcast axes
        return unbroadcast(g, self.shapes[0]), unbroadcast(g, self.shapes[1])


class Sub(Function):
    """y = a - b (broadcasting)."""
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.shapes[0]), unbroadcast(-g, self.shapes[1])


class Mul(Function):
    """y = a * b (broadcasting)."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        da = unbroadcast(g * self.b, self.a.shape) if self.needs_input_grad[0] else None  # dy/da = b
        db = unbroadcast(g * self.a, self.b.shape) if self.needs_input_grad[1] else None  # dy/db = a
        return da, db


class Div(Function):
    """y = a / b (broadcasting)."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        da = unbroadcast(g / self.b, self.a.shape) if self.needs_input_grad[0] else None
        # dy/db = -a / b^2
        db = unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if self.needs_input_grad[1] else None
        return da, db


class Neg(Function):
    """y = -x."""
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Pow(Function):
    """y = x ** p for a constant number p."""
    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.x = x
        return x ** self.p

    def backward(self, g):
        return g * self.p * self.x ** (self.p - 1)        # dy/dx = p x^(p-1)


class PowTensor(Function):
    """y = a ** b with both a tensor (a > 0 where b's gradient is wanted)."""
    def forward(self, a, b):
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, g):
        xp = array_module(g)
        da = unbroadcast(g * self.b * self.a ** (self.b - 1), self.a.shape) \
            if self.needs_input_grad[0] else None           # dy/da = b a^(b-1)
        db = unbroadcast(g * self.y * xp.log(self.a), self.b.shape) \
            if self.needs_input_grad[1] else None           # dy/db = a^b ln a
        return da, db


class MatMul(Function):
    """y = a @ b with NumPy's matmul rules (1-D operands, batched broadcasting)."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        xp = array_module(g)
        a, b = self.a, self.b
        # view 1-D operands as matrices: a as a row (1, k), b as a column (k, 1)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        da = db = None
        if self.needs_input_grad[0]:
            da = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)  # dA = G B^T
        if self.needs_input_grad[1]:
            db = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)  # dB = A^T G
        return da, db


class Exp(Function):
    """y = e^x."""
    def forward(self, x):
        self.y = array_module(x).exp(x)
        return self.y

    def backward(self, g):
        return g * self.y                                   # dy/dx = e^x = y


class Log(Function):
    """y = ln x."""
    def forward(self, x):
        self.x = x
        return array_module(x).log(x)

    def backward(self, g):
        return g / self.x                                   # dy/dx = 1/x


def _expand_reduced(g, shape, axis, keepdims):
    """Give a reduced gradient back the reduced axes (size 1), so it broadcasts to shape."""
    if axis is None:
        return g.reshape((1,) * len(shape))
    if not keepdims:
        axes = (axis,) if isinstance(axis, int) else axis
        axes = sorted(a % len(shape) for a in axes)
        for a in axes:
            g = array_module(g).expand_dims(g, a)
    return g


class Sum(Function):
    """y = sum of x over ``axis`` (all axes when None)."""
    def __init__(self, axis=None, keepdims=False):
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = keepdims

    def forward(self, x):
        self.shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):
        # every summed element receives the gradient of the sum
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        return array_module(g).broadcast_to(g, self.shape).copy()


class Mean(Function):
    """y = mean of x over ``axis`` (all axes when None)."""
    def __init__(self, axis=None, keepdims=False):
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = keepdims

    def forward(self, x):
        self.shape = x.shape
        y = x.mean(axis=self.axis, keepdims=self.keepdims)
        self.count = x.size // max(y.size, 1) if x.size else 1
        return y

    def backward(self, g):
        # dy/dx_i = 1/n for each of the n averaged elements
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims) / self.count
        return array_module(g).broadcast_to(g, self.shape).copy()


class Max(Function):
    """y = max of x over ``axis``. Where several elements tie for the maximum the
    gradient is shared equally between them (as ``torch.amax`` does)."""
    def __init__(self, axis=None, keepdims=False):
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = keepdims

    def forward(self, x):
        self.x = x
        self.y = x.max(axis=self.axis, keepdims=True)
        return self.y if self.keepdims else self.y.reshape(
            x.max(axis=self.axis, keepdims=False).shape)

    def backward(self, g):
        g = _expand_reduced(g, self.x.shape, self.axis, self.keepdims)
        mask = (self.x == self.y)
        count = mask.sum(axis=self.axis, keepdims=True)
        return g * mask / count                              # dy/dx_i = [x_i is a max] / #maxes


class Reshape(Function):
    """y = x viewed with another shape of the same size."""
    def __init__(self, shape):
        self.new_shape = shape

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(self.new_shape)

    def backward(self, g):
        return g.reshape(self.shape)


class Transpose(Function):
    """y = x with its axes permuted (reversed when ``axes`` is None)."""
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        self.axes = self.axes or tuple(reversed(range(x.ndim)))
        return x.transpose(self.axes)

    def backward(self, g):
        inverse = tuple(int(i) for i in np.argsort(self.axes))
        return g.transpose(inverse)


class GetItem(Function):
    """y = x[index] (basic or advanced indexing)."""
    def __init__(self, index):
        self.index = _plain_index(index)

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, g):
        xp = array_module(g)
        dx = xp.zeros(self.shape, dtype=g.dtype)
        xp.add.at(dx, self.index, g)          # repeated indices add up
        return dx


def _plain_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


class Cast(Function):
    """y = x converted to another float dtype; the gradient is converted back."""
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"astype: a Tensor holds floats; got dtype={self.dtype}")

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, g):
        return g.astype(self.in_dtype)



class ToDevice(Function):
    """y = x on another device (a copy); the gradient is copied back to x's device."""
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = device_of(x)
        return to_device(x, self.device)

    def backward(self, g):
        return to_device(g, self.source)
