"""``model.explain(x)``: what every layer costs, and what one training step does inside it.

    result = model.explain(x)            # prints the tables, returns an Explanation
    result.layers[0].forward_ms          # one LayerReport per layer call
    json.dumps(result.to_dict())

How the numbers are made (see docs/explain.md for how to read them):

1. The model runs one layer call at a time (trace.run_pass), in training mode, on the
   batch ``x``: each layer's output shape and bytes are read off the real tensors,
   parameters and multiply-adds come from the layer (``macs_of``, as ``summary()``).
2. Times: ``minicnn.tensor.time_ops`` times every op's forward and backward and each
   op is charged to the layer call that created it. ``warmup`` passes run first and are
   not counted (the very first one may include Numba's compilation, reported as
   ``first_pass_ms``); then ``repeats`` passes are timed and each time is the least
   of them (as ``timeit`` advises: other programs only ever add time). The least of
   each layer adds up to no more than the least whole pass, so the table's total and
   the whole-pass lines agree.
3. The training step (``train_step=True``): forward, loss (the compiled loss, or
   cross-entropy with the labels ``y`` or random labels), backward keeping dL/d(output)
   of every layer, one plain SGD step with learning rate ``lr``, and the loss again.
   Statistics are of that forward and backward; |dW|/|W| is of the step.
4. Everything is put back: the weights and BatchNorm's running statistics (in place),
   the gradients, every module's training/eval mode and minicnn's random generator.
   Only an unbuilt model stays built (as calling it would).
"""
import numpy as np

from .. import functional as F
from ..backend import array_module, get_backend
from ..functional.conv import Conv2d
from ..layers.conv import Conv2D
from ..models.graph import macs_of
from ..models.summary import estimate_memory
from ..rng import new_rng
from ..tensor import Tensor, no_grad
from . import trace
from .report import DEAD_ZEROS, VANISHING_RATIO, Explanation, Im2col, LayerReport, Stats

__all__ = ["explain", "Explanation", "LayerReport", "Stats", "Im2col"]


def explain(model, x, y=None, train_step=True, lr=0.01, warmup=1, repeats=5, seed=0,
            input_source="given"):
    """Measure every layer of ``model`` on the batch ``x`` (N, C, H, W); see the module
    docstring. ``y``: labels for the training step (random ones from ``seed`` if None).
    Returns an Explanation (print it, or ``to_dict()`` for JSON)."""
    for what, value, least in (("warmup", warmup, 0), ("repeats", repeats, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"explain: {what} must be an integer >= {least}, got {value!r}")
    if not lr > 0:
        raise ValueError(f"explain: lr must be positive, got {lr!r}")
    calls = trace.plan(model)
    inputs = trace.as_inputs(model, x)
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with no_grad():                       # model(x) checks the input (and builds the model)
            model(*(Tensor(t.data[:1]) for t in inputs))
        calls = trace.plan(model)
        saved = trace.SavedState(model)
        try:
            return _measure(model, calls, inputs, y, train_step, lr, warmup, repeats, seed,
                            input_source)
        finally:
            saved.restore()
    finally:
        for module, training in modes:
            module.training = training


def _measure(model, calls, inputs, y, train_step, lr, warmup, repeats, seed, input_source):
    model.train()
    outputs_at = trace.output_indices(model, calls)
    loss = {}

    def loss_of(outs):
        """The loss of the model's output(s); the loss function is chosen on first use."""
        picked = [outs[i] for i in outputs_at]
        if not loss:
            loss.update(zip(("fn", "name", "labels"),
                            _loss(model, picked, y, seed, stand_in=not train_step)))
        return loss["fn"](picked[0] if len(picked) == 1 else picked, loss["labels"])

    first = trace.run_pass(calls, inputs, loss_of, keep_ops=True)
    rows = _rows(calls, inputs, first)
    passes = [first]
    for _ in range(warmup + repeats - 1):
        passes[-1].drop_graph()                # keep the times, free the arrays
        model.zero_grad()
        passes.append(trace.run_pass(calls, inputs, loss_of))
    passes[-1].drop_graph()
    timed = passes[warmup:]
    least = lambda values: float(np.min(values)) * 1e3
    for i, row in enumerate(rows):
        row.forward_ms = least([p.forward[i] for p in timed])
        row.backward_ms = least([p.backward[i] for p in timed])
        row.first_forward_ms = first.forward[i] * 1e3
        row.first_backward_ms = first.backward[i] * 1e3
    result = Explanation(
        model_name=model.name, model_type=type(model).__name__, backend=get_backend(),
        batch_size=inputs[0].shape[0], input_shape=_shape([t.shape[1:] for t in inputs]),
        dtype=str(inputs[0].dtype), input_source=input_source, warmup=warmup,
        repeats=repeats, layers=rows,
        forward_ms=least([p.forward_wall for p in timed]),
        backward_ms=least([p.backward_wall for p in timed]),
        first_pass_ms=(first.forward_wall + first.backward_wall) * 1e3,
        outside_forward_ms=least([p.outside_forward for p in timed]),
        outside_backward_ms=least([p.outside_backward for p in timed]),
        loss_name=loss["name"], labels="given" if y is not None else "random")
    estimate = estimate_memory(model, int(inputs[0].shape[0]))
    result.memory_estimate = {"total_bytes": int(estimate.total), "lines": estimate.lines()}
    del passes, timed, first
    if train_step:
        _training_step(model, calls, inputs, loss_of, lr, result)
    return result


# ----------------------------------------------------------------------------- rows
def _shape(shapes):
    shapes = [tuple(int(n) for n in s) for s in shapes]
    return shapes[0] if len(shapes) == 1 else shapes


def _rows(calls, inputs, run):
    """A LayerReport for each call: shapes, params, MACs, output bytes, im2col."""
    rows = []
    for i, call in enumerate(calls):
        out = run.outputs[i]
        parents = [inputs[p[1]] if isinstance(p, tuple) else run.outputs[p]
                   for p in call.parents]
        in_shape = ([tuple(t.shape[1:]) for t in parents] if call.multi_input
                    else tuple(parents[0].shape[1:]))
        params = [p for _, p in call.layer.named_parameters(trainable_only=False)]
        trainable = sum(p.size for p in params if p.trainable) if call.first_call else 0
        frozen = sum(p.size for p in params if not p.trainable) if call.first_call else 0
        outs = out if isinstance(out, (list, tuple)) else [out]
        is_view = all(any(array_module(o.data).may_share_memory(o.data, t.data)
                          for t in parents) for o in outs)
        rows.append(LayerReport(
            name=call.name, type=type(call.layer).__name__, input_shape=in_shape,
            output_shape=_shape([o.shape[1:] for o in outs]), params=trainable,
            non_trainable_params=frozen, macs=macs_of(call.layer, in_shape),
            output_bytes=int(sum(o.data.nbytes for o in outs)), output_is_view=is_view,
            im2col=_im2col(call.layer, [fn for j, fn in run.ops if j == i], out.shape[1:]),
            shared=not call.first_call))
    return rows


def _im2col(layer, ops, output_shape):
    """The im2col matrix of a Conv2D call, from the Conv2d op that really ran: the
    reference (functional/conv.py) keeps cols (N, g, K, P); the Numba kernel
    (kernels/ops.py) builds (C kh kw, n L) for chunks of n samples (L = P, or a few more
    columns in the wide layout of stride-1 convolutions) in each thread's piece of the
    batch, keeps them for backward when each piece was one chunk, and the stride-1
    convolutions that take the direct loops (few channels, or few output channels on
    large planes) build none."""
    conv = next((fn for fn in ops if isinstance(fn, Conv2d)), None)
    if not isinstance(layer, Conv2D) or conv is None:
        return None
    _, c_g, kh, kw = conv.w.shape if hasattr(conv, "w") else conv.w_shape
    g, k, p = conv.groups, c_g * kh * kw, output_shape[1] * output_shape[2]
    if not hasattr(conv, "x_pad"):                     # the reference
        cols = getattr(conv, "cols", None)
        if cols is None:
            return Im2col(k, p, g, None, 0, False, f"built inside {type(conv).__name__}")
        return Im2col(k, p, g, tuple(cols.shape), int(cols.nbytes), True,
                      "cols (N, groups, K, P) for the whole batch, kept for backward "
                      "(functional/conv.py)")
    if getattr(conv, "direct", False):
        return Im2col(k, p, g, None, 0, False, "none: direct loops (kernels/conv_direct.py)")
    length = conv._length(*output_shape[1:])
    if conv.cols is not None:
        pieces = len(conv.cols)
        return Im2col(k, p, g, (conv.cols[0].shape[0], sum(c.shape[1] for c in conv.cols)),
                      int(sum(c.nbytes for c in conv.cols)), True,
                      "cols (C*kh*kw, N*L) for the whole batch" +
                      (f", in {pieces} pieces (one per thread)" if pieces > 1 else "") +
                      ", kept for backward (kernels/ops.py)")
    rows, itemsize = c_g * g * kh * kw, conv.x_pad.itemsize
    start, stop = conv._chunks(*conv.pieces[0], *output_shape[1:], itemsize)[0]
    return Im2col(k, p, g, (rows, (stop - start) * length),
                  rows * (stop - start) * length * itemsize,
                  False, f"cols (C*kh*kw, n*L) for chunks of n = {stop - start} samples, "
                  f"rebuilt in backward (kernels/ops.py)")


# ----------------------------------------------------------------------------- loss
def _loss(model, outputs, y, seed, stand_in=False):
    """(loss_fn(y_pred, labels), its name, labels): the compiled loss if there is one,
    else cross-entropy on each output (from the logits, or through a softmax). With
    ``stand_in`` (no training step, only times) outputs that are not class scores get
    the sum of the outputs: backward costs the same whatever the gradient's values."""
    compiled = getattr(model, "_loss_fn", None) is not None
    classes = [o.shape[1] if o.ndim == 2 else None for o in outputs]
    if stand_in and y is None and not compiled and (None in classes or len(set(classes)) != 1):
        def total(y_pred, _):
            parts = [o.sum() for o in (y_pred if isinstance(y_pred, list) else [y_pred])]
            return sum(parts[1:], parts[0])
        return total, "the sum of the outputs (a stand-in that times backward)", None
    if y is None:
        if None in classes or len(set(classes)) != 1:
            raise ValueError(
                f"explain: {model.describe()} outputs shape(s) "
                f"{[o.shape for o in outputs]}, not class scores (N, classes), so random "
                f"labels cannot be drawn; pass the targets y (and compile the model with "
                f"its loss), or use train_step=False")
        labels = new_rng(seed).integers(0, classes[0], size=outputs[0].shape[0])
        if compiled and model._loss_name == "categorical_crossentropy":
            labels = np.eye(classes[0], dtype=outputs[0].dtype)[labels]
    else:
        labels = y.data if isinstance(y, Tensor) else np.asarray(y)
        if len(labels) != outputs[0].shape[0]:
            raise ValueError(f"explain: y has {len(labels)} labels for a batch of "
                             f"{outputs[0].shape[0]} samples")
    if compiled:
        return model.compute_loss, model._loss_name, labels
    if None in classes:
        raise ValueError(f"explain: the outputs {[o.shape for o in outputs]} are not class "
                         f"scores (N, classes); compile the model with its loss "
                         f"(model.compile(loss=...)) so explain can take a training step")

    def cross_entropy(y_pred, y_true):
        total = None
        for out in (y_pred if isinstance(y_pred, list) else [y_pred]):
            term = (F.nll_of_probabilities(out, y_true) if out.softmax_logits is not None
                    else F.cross_entropy(out, y_true))
            total = term if total is None else total + term
        return total
    probabilities = [o.softmax_logits is not None for o in outputs]
    name = "cross_entropy" + (" (through the softmax)" if any(probabilities) else "")
    return cross_entropy, name + (f", summed over {len(outputs)} outputs"
                                  if len(outputs) > 1 else ""), labels


# ----------------------------------------------------------------------------- the step
def _training_step(model, calls, inputs, loss_of, lr, result):
    """Forward, backward (keeping each layer's output gradient), SGD step, loss again."""
    model.zero_grad()
    kept = []

    def keep_gradients(outputs, loss):
        for out in outputs:
            for t in (out if isinstance(out, (list, tuple)) else [out]):
                if t.requires_grad:
                    t.retain_grad()
                if t.softmax_logits is not None and t.softmax_logits[0].requires_grad:
                    t.softmax_logits[0].retain_grad()
        kept.extend(outputs)

    step = trace.run_pass(calls, inputs, loss_of, before_backward=keep_gradients)
    result.train_step, result.lr = True, float(lr)
    result.loss_before = float(step.loss.item())
    weights = {}
    for row, call, out in zip(result.layers, calls, kept):
        outs = out if isinstance(out, (list, tuple)) else [out]
        row.activation = Stats.of([o.data for o in outs])
        grads = [o.grad for o in outs]
        if any(g is None for g in grads) and len(outs) == 1 and outs[0].softmax_logits:
            grads, row.gradient_of = [outs[0].softmax_logits[0].grad], "logits"
        if all(g is not None for g in grads):
            row.gradient = Stats.of(grads)
        params = [p for _, p in call.layer.named_parameters() if p.grad is not None]
        if params and call.first_call:
            grad_sq = sum(float(np.sum(np.square(p.grad, dtype=np.float64))) for p in params)
            size = sum(p.size for p in params)
            row.weight_grad_norm = grad_sq ** 0.5
            row.weight_grad_mean_abs = sum(float(np.abs(p.grad).sum(dtype=np.float64))
                                           for p in params) / size
            weights[id(row)] = [(p, p.data.copy()) for p in params]
    for _, p in model.named_parameters():                  # plain SGD: W <- W - lr dL/dW
        if p.grad is not None:
            p.data -= lr * p.grad
    for row in result.layers:
        if id(row) in weights:
            before = sum(float(np.sum(np.square(w, dtype=np.float64)))
                         for _, w in weights[id(row)])
            change = sum(float(np.sum(np.square(p.data - w, dtype=np.float64)))
                         for p, w in weights[id(row)])
            row.update_ratio = (change / before) ** 0.5 if before > 0 else float("inf")
    with no_grad():
        after = trace.run_pass(calls, inputs, loss_of, backward=False)
    result.loss_after = float(after.loss.item())
    _flag(result.layers)


def _flag(rows):
    """dead? / vanishing? / no grad, from the statistics of the step."""
    largest_after = 0.0
    for row in reversed(rows):
        if row.activation is not None and row.activation.zeros > DEAD_ZEROS:
            row.flags.append("dead?")
        if row.gradient is not None:
            std = row.gradient.std
            if row.gradient.zeros == 1.0:
                row.flags.append("no grad")
            elif std < VANISHING_RATIO * largest_after:
                row.flags.append("vanishing?")
            largest_after = max(largest_after, std)
