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
"""
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


def _rows(model):
    """(name (type), output shape, param count, MACs[, connected to]) for each layer."""
    if isinstance(model, GraphModel):
        rows, seen = [], set()
        for node, in_shape in model.nodes():
            first = id(node.layer) not in seen
            seen.add(id(node.layer))
            params = str(node.layer.count_params()) if first else "(shared)"
            connected = ", ".join(p.name for p in node.parents)
            rows.append((f"{node.name} ({type(node.layer).__name__})",
                         _format_shape(node.sample_shape), params,
                         f"{macs_of(node.layer, in_shape):,}", connected))
        return rows
    if isinstance(model, Sequential):
        shapes = model.layer_output_shapes()
        if shapes is None:
            raise ValueError(f"summary: {model.describe()} has not been built yet, so its "
                             f"shapes are unknown: give the first layer input_shape=(C, H, W), "
                             f"call model.build((C, H, W)), or call the model on a batch")
        rows, shape = [], model.input_shape
        for layer, out in zip(model.layers, shapes):
            rows.append((_title(layer), _format_shape(out), str(layer.count_params()),
                         f"{macs_of(layer, shape):,}"))
            shape = out
        return rows
    seen, rows = set(), []
    for _, child in model.named_children():
        if id(child) in seen:
            continue
        seen.add(id(child))
        seen_shape = getattr(child, "_last_input_shape", None)
        macs = "?" if seen_shape is None else f"{macs_of(child, seen_shape):,}"
        rows.append((_title(child), _format_shape(getattr(child, "_output_shape", None)),
                     str(child.count_params()), macs))
    return rows


def summary(model, line_length=None, print_fn=print):
    """Print the table line by line with ``print_fn`` (None: don't print); return it."""
    model._require_built("summary")
    graph = isinstance(model, GraphModel)
    header = ("Layer (type)", "Output Shape", "Param #", "MACs") + (
        ("Connected to",) if graph else ())
    base = COLUMN_WIDTHS + ((CONNECTED_WIDTH,) if graph else ())
    rows = _rows(model)
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
              f"Total MACs: {total_macs} (multiply-adds per sample, forward pass)",
              "_" * width]
    if print_fn is not None:
        for text in lines:
            print_fn(text)
    return "\n".join(lines)
