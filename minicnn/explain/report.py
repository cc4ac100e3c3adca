"""The result of ``model.explain(x)``: one ``LayerReport`` per layer call, gathered in an
``Explanation`` that prints as two tables (``to_text``) and converts to JSON-able data
(``to_dict``).

Table 1, the cost of each layer:

    Input / Output shape   one sample's shape (no batch axis)
    Params                 trainable numbers in the layer's weights
    MACs/sample            multiply-adds of the forward pass for one sample (as summary())
    Output mem             bytes of the layer's output for the whole batch ('view': it
                           shares its input's memory, e.g. Flatten)
    im2col K x P           a convolution's unrolled input per sample and group: K = C/g kh kw
                           rows (one per kernel tap), P = H_out W_out columns (one per pixel)
    Fwd ms / Bwd ms        time in the layer's ops, forward and backward (the fastest pass)

Table 2, one training step:

    mean, std, zeros       of the layer's output, and of dL/d(output)
    |dL/dW|, mean |dL/dW|  the norm and the mean absolute value of its weights' gradients
    |dW|/|W|               how much the step changed the weights, relative to their size
    flags                  dead? (more than 90% of the outputs are exactly 0), vanishing?
                           (the output gradient's std is below 1/1000 of the largest one
                           of the layers after it), no grad (it is exactly 0)
"""
from dataclasses import asdict, dataclass, field

import numpy as np

DEAD_ZEROS = 0.9          # flag "dead?" above this fraction of zero outputs
VANISHING_RATIO = 1e-3    # flag "vanishing?" below this fraction of the largest gradient std after


@dataclass
class Stats:
    """mean, standard deviation and fraction of exact zeros of an array."""
    mean: float
    std: float
    zeros: float

    @classmethod
    def of(cls, arrays):
        """The statistics of all the numbers in ``arrays`` (one array or a list), in float64
        on the host (CuPy arrays are copied over)."""
        arrays = arrays if isinstance(arrays, (list, tuple)) else [arrays]
        a = np.concatenate([np.asarray(x.get() if hasattr(x, "get") else x,
                                       dtype=np.float64).ravel() for x in arrays])
        if a.size == 0:
            return cls(0.0, 0.0, 0.0)
        return cls(float(a.mean()), float(a.std()), float(np.count_nonzero(a == 0) / a.size))


@dataclass
class Im2col:
    """The im2col matrix of a convolution: K x P per sample and group, and the array the
    backend really built for the batch (``built_shape``, ``built_bytes``)."""
    rows: int                 # K = C/g kh kw
    columns: int              # P = H_out W_out
    groups: int
    built_shape: tuple        # numpy: (N, g, K, P); numba: (C kh kw, n L) per chunk of n
    built_bytes: int          #   (L = P, or more in the wide layout); None: not built
    kept_for_backward: bool   # numpy keeps it; numba when the batch was one chunk
    layout: str               # a sentence saying which array this is


@dataclass
class LayerReport:
    """Everything explain measured about one layer call."""
    name: str
    type: str
    input_shape: object               # one sample's shape; a list for merge layers
    output_shape: object
    params: int                       # trainable; 0 for the second call of a shared layer
    non_trainable_params: int
    macs: int                         # per sample, forward
    output_bytes: int                 # the whole batch
    output_is_view: bool
    im2col: Im2col = None
    forward_ms: float = 0.0           # the least over the timed passes
    backward_ms: float = 0.0
    first_forward_ms: float = 0.0     # the first pass (may include Numba's compilation)
    first_backward_ms: float = 0.0
    shared: bool = False              # a later call of a layer already listed
    activation: Stats = None          # of the output, in the training step
    gradient: Stats = None            # of dL/d(output), in the training step
    gradient_of: str = "output"       # "logits" when a softmax output got no gradient itself
    weight_grad_norm: float = None    # sqrt(sum of dL/dW^2) over the layer's weights
    weight_grad_mean_abs: float = None
    update_ratio: float = None        # |W_after - W_before| / |W_before|
    flags: list = field(default_factory=list)


@dataclass
class Explanation:
    """What ``model.explain(x)`` returns: ``layers`` (LayerReports) and the run's setting."""
    model_name: str
    model_type: str
    backend: str
    batch_size: int
    input_shape: object
    dtype: str
    input_source: str
    warmup: int
    repeats: int
    layers: list
    forward_ms: float                 # the whole forward pass (loss included), least
    backward_ms: float                # the whole backward walk, least
    first_pass_ms: float              # forward + backward of the first pass
    outside_forward_ms: float         # ops outside every layer (the loss), least
    outside_backward_ms: float
    train_step: bool = False
    loss_name: str = None
    labels: str = None                # "given" or "random"
    lr: float = None
    loss_before: float = None
    loss_after: float = None
    memory_estimate: dict = None      # summary(batch_size=N)'s estimate: total_bytes, lines

    # -- totals
    @property
    def total_params(self):
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self):
        return sum(layer.macs for layer in self.layers)

    @property
    def total_output_bytes(self):
        return sum(layer.output_bytes for layer in self.layers if not layer.output_is_view)

    def to_dict(self):
        """JSON-able data: the setting, the totals and one dict per layer."""
        data = asdict(self)
        data.update(total_params=self.total_params, total_macs=self.total_macs,
                    total_output_bytes=self.total_output_bytes)
        return _jsonable(data)

    def to_text(self, legend=True, cost=True):
        """The tables as text; ``legend``: the notes under them; ``cost=False``: only the
        training step's table."""
        from .text import render
        return render(self, legend=legend, cost=cost)

    def __str__(self):
        return self.to_text()

    def _ipython_display_(self):
        """In Jupyter: the tables (once: not again after ``model.explain`` printed them)."""
        if not getattr(self, "printed", False):
            from ..display import rich
            from IPython.display import display
            display(rich(self.to_text()), raw=True)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):              # NumPy scalars
        return value.item()
    return value
