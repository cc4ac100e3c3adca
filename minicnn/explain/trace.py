"""Running a model one layer call at a time, with every op's time attributed to its call.

A *call* is one row of the explanation: a layer of a Sequential, or a node of a graph
Model (a shared layer called twice is two calls). ``run_pass`` evaluates the calls in
order, as ``Sequential.forward`` and ``GraphModel.forward`` do, while
``minicnn.tensor.time_ops`` reports the time of every Function:

    forward   the op ran while call i was being evaluated  ->  op belongs to call i
    backward  the op's backward ran                        ->  added to that op's call

so backward time needs no layer names at all: each Function is remembered by the call
that created it. Ops outside every call (the loss) are counted as "outside".
"""
import time
from dataclasses import dataclass, field

import numpy as np

from ..layers.input import InputLayer
from ..models.graph import GraphModel
from ..models.sequential import Sequential
from ..rng import global_rng
from ..tensor import Tensor, time_ops

OUTSIDE = -1       # the call index of ops that ran outside every layer call (the loss)


@dataclass
class Call:
    """One layer call: ``layer`` applied to the outputs of the calls in ``parents``
    (indices into the plan; None stands for the model's input)."""
    name: str
    layer: object
    parents: list
    multi_input: bool = False
    first_call: bool = True           # False for the second call of a shared layer


def plan(model):
    """The calls of ``model`` in evaluation order (InputLayers are not calls)."""
    if isinstance(model, GraphModel):
        calls, index, inputs = [], {}, {id(t): i for i, t in enumerate(model.inputs)}
        seen = set()
        for node, _ in model.nodes():
            if isinstance(node.layer, InputLayer):
                index[id(node)] = ("input", inputs[id(node)])
                continue
            index[id(node)] = len(calls)
            calls.append(Call(node.name, node.layer, [index[id(p)] for p in node.parents],
                              node.multi_input, id(node.layer) not in seen))
            seen.add(id(node.layer))
        return calls
    if isinstance(model, Sequential):
        if not model.layers:
            raise ValueError(f"explain: {model.describe()} has no layers; add some with "
                             f"model.add(layer)")
        return [Call(layer.name, layer, [("input", 0) if i == 0 else i - 1])
                for i, layer in enumerate(model.layers)]
    raise TypeError(f"explain steps through a Sequential or a graph Model (Model(inputs, "
                    f"outputs)) one layer at a time; {model.describe()} is a "
                    f"{type(model).__name__} whose forward it cannot see into. Build it as "
                    f"a Sequential or with Input(...) and Model(inputs, outputs)")


def output_indices(model, calls):
    """Which calls give the model's output(s) (a list, in the model's output order)."""
    if isinstance(model, Sequential):
        return [len(calls) - 1]
    by_node = {}
    i = 0
    for node, _ in model.nodes():
        if not isinstance(node.layer, InputLayer):
            by_node[id(node)] = i
            i += 1
    return [by_node[id(t)] for t in model.outputs]


@dataclass
class Pass:
    """What one forward (and backward) pass measured. Times are in seconds."""
    outputs: list                                    # the Tensor each call returned
    forward: np.ndarray                              # op time per call, forward
    backward: np.ndarray                             # op time per call, backward
    outside_forward: float = 0.0                     # ops outside every call (the loss)
    outside_backward: float = 0.0
    forward_wall: float = 0.0                        # the whole forward, loss included
    backward_wall: float = 0.0                       # the whole backward walk
    ops: list = field(default_factory=list)          # (call index, Function) of the forward
    loss: object = None                              # the loss Tensor (None without loss_fn)

    def drop_graph(self):
        """Forget the tensors and ops (and so the arrays they hold); keep the times."""
        self.outputs, self.ops, self.loss = [], [], None


def run_pass(calls, inputs, loss_fn=None, backward=True, keep_ops=False, before_backward=None):
    """Evaluate the calls on ``inputs`` (a list of Tensors, one per model input); with a
    ``loss_fn(outputs) -> scalar Tensor`` compute the loss and (``backward``) run the
    backward walk. ``before_backward(outputs, loss)`` runs between the two (retain_grad
    goes there). ``keep_ops``: keep (call index, Function) of every op in ``.ops``, with
    the arrays they saved (backward runs with retain_graph=True, so explain can read the
    im2col columns afterwards)."""
    n = len(calls)
    result = Pass([None] * n, np.zeros(n), np.zeros(n))
    owner = {}                                       # id(Function) -> call index
    current = [OUTSIDE]

    def on_op(fn, phase, seconds):
        if phase == "forward":
            owner[id(fn)] = current[0]
            if keep_ops:
                result.ops.append((current[0], fn))
            times = result.forward
        else:
            times = result.backward
        i = owner.get(id(fn), OUTSIDE)
        if i == OUTSIDE:
            if phase == "forward":
                result.outside_forward += seconds
            else:
                result.outside_backward += seconds
        else:
            times[i] += seconds

    with time_ops(on_op):
        start = time.perf_counter()
        for i, call in enumerate(calls):
            args = [inputs[p[1]] if isinstance(p, tuple) else result.outputs[p]
                    for p in call.parents]
            current[0] = i
            try:
                result.outputs[i] = call.layer(args if call.multi_input else args[0])
            finally:
                current[0] = OUTSIDE
        loss = result.loss = loss_fn(result.outputs) if loss_fn is not None else None
        result.forward_wall = time.perf_counter() - start
        if loss is not None and backward:
            if before_backward is not None:
                before_backward(result.outputs, loss)
            start = time.perf_counter()
            loss.backward(retain_graph=keep_ops)
            result.backward_wall = time.perf_counter() - start
    return result


# ----------------------------------------------------------------------------- state
class SavedState:
    """Everything explain may touch, to put back afterwards: each Parameter's values (in
    place, so arrays the caller holds stay valid; BatchNorm's running statistics are
    Parameters too) and gradient, each module's training flag, and minicnn's global
    random generator (Dropout draws from it)."""

    def __init__(self, model):
        self.params = [(p, p.data.copy(), p.grad)
                       for _, p in model.named_parameters(trainable_only=False)]
        self.modes = [(m, m.training) for m in model.modules()]
        self.rng = global_rng()
        self.rng_state = self.rng.bit_generator.state

    def restore(self):
        for p, data, grad in self.params:
            if p.data.shape == data.shape and p.data.dtype == data.dtype:
                p.data[...] = data
            else:
                p.data = data
            p.grad = grad
        for module, training in self.modes:
            module.training = training
        self.rng.bit_generator.state = self.rng_state


def as_inputs(model, x):
    """The batch as a list of Tensors in the dtype of the model's weights, one per input."""
    many = isinstance(model, GraphModel) and len(model.inputs) > 1
    xs = list(x) if many else [x]
    if many and len(xs) != len(model.inputs):
        raise ValueError(f"explain: {model.describe()} has {len(model.inputs)} inputs; pass a "
                         f"list of {len(model.inputs)} batches")
    return [model._input_tensor(v.data if isinstance(v, Tensor) else v) for v in xs]
