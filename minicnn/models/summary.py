"""model.summary(): the Keras 2 text table of layers, output shapes and parameter counts.

    Model: "sequential"
    _________________________________________________________________
    Layer (type)                 Output Shape              Param #
    =================================================================
    conv2d (Conv2D)              (None, 6, 28, 28)         456
    _________________________________________________________________
    ...
    =================================================================
    Total params: 62,006
    Trainable params: 62,006
    Non-trainable params: 0
    _________________________________________________________________

Output shapes start with None, the batch axis. A Sequential's shapes come from shape
arithmetic (``compute_output_shape``); a subclassed model's from its last forward pass
("?" before the first one). Columns widen to fit long names instead of cutting them.
"""
from .sequential import Sequential

COLUMN_WIDTHS = (29, 26, 10)      # Keras 2's positions .45, .85, 1. of 65 characters


def _format_shape(shape):
    if shape is None:
        return "?"
    return shape if isinstance(shape, str) else str((None,) + tuple(shape))


def _rows(model):
    """(name (type), output shape, param count) for each layer of the model."""
    if isinstance(model, Sequential):
        shapes = model.layer_output_shapes()
        if shapes is None:
            raise ValueError(f"summary: {model.describe()} has not been built yet, so its "
                             f"shapes are unknown: give the first layer input_shape=(C, H, W), "
                             f"call model.build((C, H, W)), or call the model on a batch")
        children = list(zip(model.layers, shapes))
    else:
        seen, children = set(), []
        for _, child in model.named_children():
            if id(child) not in seen:
                seen.add(id(child))
                children.append((child, getattr(child, "_output_shape", None)))
    return [(f"{child.name} ({type(child).__name__})", _format_shape(shape),
             str(child.count_params())) for child, shape in children]


def summary(model, line_length=None, print_fn=print):
    """Print the table line by line with ``print_fn`` (None: don't print); return it."""
    model._require_built("summary")
    header = ("Layer (type)", "Output Shape", "Param #")
    rows = _rows(model)
    widths = [max([w] + [len(row[i]) + 1 for row in rows]) for i, w in enumerate(COLUMN_WIDTHS)]
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
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * width]
    if print_fn is not None:
        for text in lines:
            print_fn(text)
    return "\n".join(lines)
