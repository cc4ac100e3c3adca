"""model.summary(): the Keras 2 text table of layers, output shapes, parameter counts and
multiply-adds (MACs), with a "Connected to" column for graph models.

    Model: "sequential"
    ______________________________________________________________________________
    Layer (type)                 Output Shape              Param #   MACs
    ==============================================================================
    conv2d (Conv2D)              (None, 6, 28, 28)         456       352,800
    ______________________________________________________________________________
    ...
    ==============================================================================
    Total params: 62,006
    Trainable params: 62,006
    Non-trainable params: 0
    Total MACs: 416,520 (multiply-adds per sample, forward pass)
    ______________________________________________________________________________

Output shapes start with None, the batch axis. A Sequential's and a graph Model's shapes
and MACs come from shape arithmetic (``compute_output_shape``, ``count_macs``); a
subclassed model's from its last forward pass ("?" before the first one). MACs count the
products of inputs with weights only (Conv2D: H_out W_out C_out (C_in/groups) kh kw;
Dense: in x out); bias adds, normalisation, pooling, activations and merges count 0.
Columns widen to fit long names instead of cutting them.

``summary(batch_size=N)`` adds a "Memory (N=..)" column and an estimate of what one
training step needs for a batch of N (``estimate_memory``), by shape arithmetic:

    kept     = N (input + every layer's output + what its ops save for backward)
    total    = kept + weights + gradients + the largest temporary of backward

"What its ops save" is ``Layer.backward_bytes`` on the reference NumPy ops: above all
the im2col columns of each Conv2D, (C kh kw) x (H_out W_out) numbers per sample, which
the numba backend builds in chunks of samples instead of for the whole batch. The
largest temporary is the biggest im2col (backward builds its gradient, as large) or
output. Optimizer state (SGD momentum one more copy of the weights, Adam two) and
NumPy's short-lived temporaries are not counted: treat it as a lower bound.
"""
import math
from dataclasses import dataclass

from ..display import Report, show
from ..backend import get_backend
from ..tensor import get_default_dtype
from .graph import GraphModel, macs_of
from .sequential import Sequential

COLUMN_WIDTHS = (29, 26, 10, 15)      # Keras 2's positions .45, .85, 1. of 65 characters, MACs
CONNECTED_WIDTH = 30


def _format_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, str):
        return shape
    if isinstance(shape, list):                       # several outputs
        return ", ".join(_format_shape(s) for s in shape)
    return str((None,) + tuple(shape))


def _title(module):
    return f"{module.name} ({type(module).__name__})"


def _calls(model):
    """(title, layer, input shape, output shape, first use, parents) for each layer call;
    shapes are per sample (None where a subclassed model has not run yet)."""
    if isinstance(model, GraphModel):
        calls, seen = [], set()
        # rows in the order of model.layers (Keras' order in minicnn.keras), a shared
        # layer's calls together
        rank = {id(layer): i for i, layer in enumerate(model.layers)}
        for node, in_shape in sorted(model.nodes(),
                                     key=lambda call: rank.get(id(call[0].layer), -1)):
            calls.append((f"{node.name} ({type(node.layer).__name__})", node.layer, in_shape,
                          node.sample_shape, id(node.layer) not in seen,
                          ", ".join(p.name for p in node.parents)))
            seen.add(id(node.layer))
        return calls
    if isinstance(model, Sequential):
        shapes = model.layer_output_shapes()
        if shapes is None:
            raise ValueError(f"summary: {model.describe()} has not been built yet, so its "
                             f"shapes are unknown: give the first layer input_shape=(C, H, W), "
                             f"call model.build((C, H, W)), or call the model on a batch")
        ins = [model._input_sample] + shapes[:-1]
        return [(_title(layer), layer, shape, out, True, None)
                for layer, shape, out in zip(model.layers, ins, shapes)]
    seen, calls = set(), []
    for _, child in model.named_children():
        if id(child) in seen:
            continue
        seen.add(id(child))
        calls.append((_title(child), child, getattr(child, "_last_input_shape", None),
                      getattr(child, "_output_shape", None), True, None))
    return calls


def _rows(calls, graph, view=None):
    """(name (type), output shape, param count, MACs[, connected to]) for each layer;
    ``view`` turns a shape into the one shown (minicnn.keras: Keras' order)."""
    rows = []
    for title, layer, in_shape, out, first, parents in calls:
        out = out if view is None else view(out)
        params = str(layer.count_params()) if first else "(shared)"
        macs = "?" if in_shape is None else f"{macs_of(layer, in_shape):,}"
        rows.append((title, _format_shape(out), params, macs) + ((parents,) if graph else ()))
    return rows


# ----------------------------------------------------------------------------- memory
@dataclass
class MemoryEstimate:
    """What one training step needs for a batch (bytes; see the module docstring)."""
    batch_size: int
    dtype: str
    per_layer: list          # bytes kept for each layer call (output + saved), or None
    inputs: int              # the batch itself
    outputs: int             # every layer's output
    saved: int               # what the ops save for backward (im2col included)
    im2col: int              # of which im2col columns
    weights: int
    gradients: int
    temporary: int           # the largest array backward makes at once
    backend: str = "numpy"   # the backend in use when estimated
    known: bool = True       # False when some shapes are unknown (an unrun subclassed model)

    @property
    def total(self):
        return (self.inputs + self.outputs + self.saved + self.weights + self.gradients
                + self.temporary)

    def lines(self):
        """The text summary() prints."""
        lower = "" if self.known else " (layers not run yet are left out)"
        numba = ""
        if self.im2col and self.backend == "numpy":
            numba = ("; the numba backend builds them in chunks of samples instead "
                     "(mc.set_backend('numba'))")
        elif self.im2col:
            numba = (f"; the {self.backend} backend in use builds them in chunks of "
                     f"samples, so it needs less")
        return [f"Estimated memory for a training step at batch {self.batch_size} "
                f"({self.dtype}): {format_bytes(self.total)}{lower}",
                f"  activations {format_bytes(self.inputs + self.outputs)}, saved for "
                f"backward {format_bytes(self.saved)} (im2col columns "
                f"{format_bytes(self.im2col)} as the NumPy ops keep them{numba})",
                f"  weights {format_bytes(self.weights)}, gradients "
                f"{format_bytes(self.gradients)}, largest temporary "
                f"{format_bytes(self.temporary)}; optimizer state not counted"]


def format_bytes(n):
    """1536 -> '1.5 KiB', 3.7e9 -> '3.45 GiB'."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}" if unit == "GiB" else f"{n / size:.1f} {unit}"
    return f"{n} B"


def _sizes(shape):
    """Numbers per sample of a shape, or of a list of shapes (several outputs)."""
    if isinstance(shape, list):
        return sum(_sizes(s) for s in shape)
    return math.prod(shape)


def estimate_memory(model, batch_size, calls=None):
    """A MemoryEstimate of one training step of ``model`` on ``batch_size`` samples."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"summary: batch_size must be a positive integer, got {batch_size!r}")
    model._require_built("summary")
    calls = _calls(model) if calls is None else calls
    params = [p for _, p in model.named_parameters(trainable_only=False)]
    itemsize = params[0].dtype.itemsize if params else get_default_dtype().itemsize
    dtype = str(params[0].dtype if params else get_default_dtype())
    per_layer, outputs, saved, im2col, largest, known = [], 0, 0, 0, 0, True
    for _, layer, in_shape, out, _, _ in calls:
        if in_shape is None or out is None or isinstance(out, str):
            per_layer.append(None)
            known = False
            continue
        out_bytes = _sizes(out) * itemsize * batch_size
        kept = layer.backward_bytes(in_shape, itemsize) * batch_size if hasattr(
            layer, "backward_bytes") else 0
        cols = layer.im2col_bytes(in_shape, itemsize) * batch_size if hasattr(
            layer, "im2col_bytes") else 0
        per_layer.append(out_bytes + kept)
        outputs, saved, im2col = outputs + out_bytes, saved + kept, im2col + cols
        largest = max(largest, cols, out_bytes)
    first_in = next((c[2] for c in calls if c[2] is not None), None)
    inputs = _sizes(first_in) * itemsize * batch_size if first_in is not None else 0
    return MemoryEstimate(
        batch_size=batch_size, dtype=dtype, per_layer=per_layer, inputs=inputs,
        outputs=outputs, saved=saved, im2col=im2col,
        weights=sum(p.data.nbytes for p in params),
        gradients=sum(p.data.nbytes for p in params if p.trainable),
        temporary=largest, backend=get_backend(), known=known)


def summary(model, line_length=None, print_fn=print, batch_size=None):
    """Print the table line by line with ``print_fn`` (None: don't print); return it (a
    str; in Jupyter it is shown once, as a block that keeps its columns).
    ``batch_size``: add each layer's memory for a batch of that size and the estimate of
    a training step (``estimate_memory``)."""
    model._require_built("summary")
    graph = isinstance(model, GraphModel)
    header = ("Layer (type)", "Output Shape", "Param #", "MACs") + (
        ("Connected to",) if graph else ())
    base = COLUMN_WIDTHS + ((CONNECTED_WIDTH,) if graph else ())
    calls = _calls(model)
    rows = _rows(calls, graph, getattr(model, "display_shape", None))
    memory = None if batch_size is None else estimate_memory(model, batch_size, calls)
    if memory is not None:                     # the memory column goes after the MACs
        header = header[:4] + (f"Memory (N={batch_size})",) + header[4:]
        base = base[:4] + (16,) + base[4:]
        rows = [row[:4] + ("?" if m is None else format_bytes(m),) + row[4:]
                for row, m in zip(rows, memory.per_layer)]
    widths = [max([w] + [len(row[i]) + 1 for row in rows]) for i, w in enumerate(base)]
    if line_length and line_length > sum(widths):
        widths[0] += line_length - sum(widths)
    width = sum(widths)

    def line(fields):
        return "".join(f.ljust(w) for f, w in zip(fields, widths)).rstrip()

    params = [p for _, p in model.named_parameters(trainable_only=False)]
    total = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.trainable)
    lines = [f'Model: "{model.name}"', "_" * width, line(header), "=" * width]
    for i, row in enumerate(rows):
        lines += [line(row), "=" * width if i == len(rows) - 1 else "_" * width]
    if not rows:
        lines.append("=" * width)
    macs = [row[3] for row in rows]
    total_macs = ("?" if "?" in macs else
                  f"{sum(int(m.replace(',', '')) for m in macs):,}")
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}",
              f"Total MACs: {total_macs} (multiply-adds per sample, forward pass)"]
    lines += (memory.lines() if memory is not None else []) + ["_" * width]
    report = Report("\n".join(lines))
    if print_fn is print:                      # in Jupyter: one block that keeps its columns
        show(report)
    elif print_fn is not None:
        for text in lines:
            print_fn(text)
    report.printed = print_fn is not None
    return report
