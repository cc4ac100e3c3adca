"""The printout of an Explanation: a header, the cost table, the training-step table and
a short legend. Text columns are left-aligned, numbers right-aligned; every column is as
wide as its longest entry."""
import textwrap


def render(result, legend=True, cost=True):
    """The printout; ``cost=False`` leaves out the first table (shapes, costs, times)."""
    lines = [_title(result), ""]
    if cost:
        lines += _table(*_cost_table(result))
        lines += _whole_pass(result)
        if result.memory_estimate:
            lines += result.memory_estimate["lines"]
    if result.train_step:
        lines += ([""] if cost else []) + textwrap.wrap(
            _step_title(result), 100, subsequent_indent="  ") + [""]
        lines += _table(*_step_table(result))
    if legend:
        lines += [""] + _legend(result)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- formats
def _bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _shape(shape):
    if isinstance(shape, list):
        if len(set(shape)) == 1:
            return f"{len(shape)} x {_shape(shape[0])}"
        return " + ".join(_shape(s) for s in shape)
    return str(tuple(int(n) for n in shape))


def _ms(seconds_ms):
    return f"{seconds_ms:.3f}" if seconds_ms < 100 else f"{seconds_ms:.1f}"


def _num(v):
    """3 significant digits; scientific notation outside 0.001 .. 10,000."""
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    return f"{v:#.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"


def _percent(v):
    return "-" if v is None else f"{100 * v:.1f}%"


# ----------------------------------------------------------------------------- tables
RIGHT = "r"


def _table(header, rows, align, groups=None, total=None):
    """Lines of a table: header, a rule, rows (and a rule and a total row)."""
    everything = [header] + rows + ([total] if total else [])
    widths = [max(len(r[i]) for r in everything) for i in range(len(header))]

    def line(cells):
        out = [c.rjust(w) if a == RIGHT else c.ljust(w) for c, w, a in zip(cells, widths, align)]
        return "  ".join(out).rstrip()

    lines = []
    if groups:                              # a title over a run of columns: (first, last, text)
        top = [""] * len(header)
        for first, last, text in groups:
            span = sum(widths[first:last + 1]) + 2 * (last - first)
            top[first] = text.center(span, "-")
        merged, i = [], 0
        while i < len(header):
            group = next((g for g in groups if g[0] == i), None)
            if group:
                merged.append(top[i])
                i = group[1] + 1
            else:
                merged.append(" " * widths[i])
                i += 1
        lines.append("  ".join(merged).rstrip())
    rule = "  ".join("-" * w for w in widths)
    lines += [line(header), rule] + [line(r) for r in rows]
    if total:
        lines += [rule, line(total)]
    return lines


def _title(result):
    shape = result.input_shape
    shape = (" + ".join(f"{result.batch_size} x {_shape(s)}" for s in shape)
             if isinstance(shape, list) else f"{result.batch_size} x {_shape(shape)}")
    first = (f"the first pass took {_ms(result.first_pass_ms)} ms" + (
        " (Numba compiles its kernels then, or loads them from its cache)"
        if result.backend == "numba" else ""))
    source = "" if result.input_source == "given" else f" ({result.input_source})"
    return (f'Explain "{result.model_name}" ({result.model_type}): a batch of {shape} '
            f"{result.dtype}{source}, backend {result.backend}\n"
            f"Times: the fastest of {result.repeats} forward+backward passes after "
            f"{result.warmup} warm-up pass{'es' if result.warmup != 1 else ''}; {first}")


def _cost_table(result):
    header = ["Layer (type)", "Input shape", "Output shape", "Params", "MACs/sample",
              "Output mem", "im2col K x P", "Fwd ms", "Bwd ms"]
    align = ["l", "l", "l", RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT]
    rows = []
    for r in result.layers:
        im2col = ""
        if r.im2col is not None:
            im2col = f"{r.im2col.rows} x {r.im2col.columns}"
            if r.im2col.groups > 1:
                im2col = f"{r.im2col.groups} x {im2col}"
        rows.append([f"{r.name} ({r.type})", _shape(r.input_shape), _shape(r.output_shape),
                     "(shared)" if r.shared else f"{r.params:,}", f"{r.macs:,}",
                     "view" if r.output_is_view else _bytes(r.output_bytes), im2col,
                     _ms(r.forward_ms), _ms(r.backward_ms)])
    layers = result.layers
    total = ["Total", "", "", f"{result.total_params:,}", f"{result.total_macs:,}",
             _bytes(result.total_output_bytes), "",
             _ms(sum(r.forward_ms for r in layers)), _ms(sum(r.backward_ms for r in layers))]
    return header, rows, align, None, total


def _whole_pass(result):
    fwd_layers = sum(r.forward_ms for r in result.layers)
    bwd_layers = sum(r.backward_ms for r in result.layers)
    return [f"Whole forward pass  {_ms(result.forward_ms)} ms: the layers' ops {_ms(fwd_layers)}, "
            f"the loss {_ms(result.outside_forward_ms)}, the rest is Python between the ops",
            f"Whole backward pass {_ms(result.backward_ms)} ms: the layers' ops {_ms(bwd_layers)}, "
            f"the loss {_ms(result.outside_backward_ms)}, the rest is the walk and gradient sums"]


def _step_title(result):
    return (f"One training step: loss {result.loss_name} with {result.labels} labels, "
            f"{result.loss_before:.4f} -> {result.loss_after:.4f} after plain SGD "
            f"(lr {result.lr:g}); statistics of that step's forward and backward")


def _step_table(result):
    header = ["Layer", "mean", "std", "zeros", "mean", "std", "zeros", "|dL/dW|",
              "mean |dL/dW|", "|dW|/|W|", "flags"]
    align = ["l"] + [RIGHT] * 9 + ["l"]
    rows = []
    for r in result.layers:
        a, g = r.activation, r.gradient
        flags = list(r.flags) + (["(grad of the logits)"] if r.gradient_of == "logits" else [])
        rows.append([r.name,
                     _num(a and a.mean), _num(a and a.std), _percent(a and a.zeros),
                     _num(g and g.mean), _num(g and g.std), _percent(g and g.zeros),
                     _num(r.weight_grad_norm), _num(r.weight_grad_mean_abs),
                     _num(r.update_ratio), " ".join(flags)])
    groups = [(1, 3, " output "), (4, 6, " dL/d(output) "), (7, 9, " weights ")]
    return header, rows, align, groups, None


def _legend(result, width=100):
    """Short notes under the tables (docs/explain.md says more)."""
    notes = [
        "Shapes and MACs (multiply-adds, as in summary()) are per sample; Params are the "
        "trainable weights. Output mem: bytes of the layer's output for the whole batch "
        "('view': it shares its input's memory, and the total counts it once); arrays the "
        "ops keep for backward (masks, im2col columns) and the weights are not included."]
    convs = [r.im2col for r in result.layers if r.im2col is not None]
    if convs:
        text = ("im2col K x P: the matrix a convolution multiplies, per sample and group: "
                "K = C/groups*kh*kw rows (kernel taps) by P = H_out*W_out columns (output "
                "pixels). ")
        built = [c for c in convs if c.built_shape is not None]
        if any("functional/conv.py" in c.layout for c in convs):
            text += (f"The numpy backend builds cols (N, groups, K, P) for the whole batch "
                     f"and keeps it for backward: {_bytes(sum(c.built_bytes for c in convs))} "
                     f"here.")
        else:
            text += ("The numba backend runs few-channel stride-1 convolutions by direct "
                     "loops (no columns) and builds cols (C*kh*kw, n*L) for the others, in "
                     "chunks of n samples (L = P, or W_pad - W_out more per image row in the "
                     "wide layout of stride 1), kept for backward when one chunk held the "
                     "batch")
            text += (f": largest {_bytes(max(c.built_bytes for c in built))} here."
                     if built else ".")
        notes.append(text)
    notes.append("Fwd/Bwd ms: time in the layer's ops (Function.forward / backward), charged "
                 "to the layer that ran them.")
    if result.train_step:
        notes.append("Flags: dead? = over 90% of the outputs are exactly 0 (layers after a "
                     "dead one inherit it); vanishing? = the std of dL/d(output) is under "
                     "1/1000 of the largest one after it; no grad = dL/d(output) is exactly 0.")
        if any(r.type == "MaxPooling2D" for r in result.layers):
            notes.append("A layer followed by a 2x2 max pool has at least 75% zero output "
                         "gradients by design: only the maximum of each window gets one.")
    lines = []
    for note in notes:
        lines += textwrap.wrap(note, width, subsequent_indent="  ")
    return lines
