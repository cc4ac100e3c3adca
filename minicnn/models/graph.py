"""The graph Model (Keras' functional API): layers wired by calling them on symbolic tensors.

    x = Input((3, 32, 32))
    a = Conv2D(8, 1, activation="relu")(x)
    b = Conv2D(8, 3, padding="same", activation="relu")(x)      # x fans out
    y = Concatenate()([a, b])                                   # and fans back in
    model = Model(x, Dense(10)(Flatten()(y)))

``Model(inputs, outputs)`` walks back from the outputs and orders the nodes so that each
comes after the nodes it reads (a topological order). ``forward`` evaluates them in that
order on real Tensors; the autograd graph then has the same shape as the layer graph, so
``backward`` adds up the gradients of a tensor read by several layers (fan-out) and
splits the gradient of a join (fan-in) by itself. Shapes and weights are known as soon
as the graph is drawn: no forward pass is needed for ``summary`` or ``count_params``.

Several outputs (GoogLeNet's auxiliary heads) come back as a list, in the order given;
``compile(loss=[...], loss_weights=[...])`` trains on their weighted sum.
"""
import numpy as np

from .. import losses as _losses
from ..tensor import no_grad
from ..layers.input import InputLayer, input_node
from ..layers.symbolic import SymbolicTensor, call_symbolic, is_symbolic
from .model import Model


class GraphModel(Model):
    """A Model made from ``Input`` placeholders and the outputs of layers called on them.

    GraphModel(inputs, outputs, name=None) — also reached as ``Model(inputs, outputs)``.
    inputs: one SymbolicTensor from ``Input`` or a list; outputs: one or a list.
    Parameter paths are '<layer name>.<weight>', e.g. 'conv2d_3.kernel'.
    """

    def __init__(self, inputs, outputs, name=None):
        super().__init__(name=name)
        self._single_input = isinstance(inputs, SymbolicTensor)
        self._single_output = isinstance(outputs, SymbolicTensor)
        self.inputs = [inputs] if self._single_input else list(inputs)
        self.outputs = [outputs] if self._single_output else list(outputs)
        for what, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not tensors or not all(isinstance(t, SymbolicTensor) for t in tensors):
                raise TypeError(f"{self.describe()}: {what} must be symbolic tensors (from "
                                f"Input(...) and layers called on them), got {tensors!r}")
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(f"{self.describe()}: every input must come from Input(...); "
                                 f"{t!r} does not")
        self._nodes = self._topological_nodes()
        layers, seen = [], set()
        for node in self._nodes:                  # each layer once, in evaluation order
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                layers.append(node.layer)
        names = [layer.name for layer in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1}) if len(
            set(names)) < len(names) else []
        if duplicates:
            raise ValueError(f"{self.describe()}: layer names must be unique, {duplicates} "
                             f"are used by different layers")
        self._graph_layers = layers
        shapes = [t.sample_shape for t in self.inputs]
        self._input_sample = shapes[0] if self._single_input else shapes
        out_shapes = [t.sample_shape for t in self.outputs]
        self._output_sample = out_shapes[0] if self._single_output else out_shapes

    # one sample's input and output shapes (a list of them for several)
    input_shape = property(lambda self: self._input_sample)
    output_shape = property(lambda self: self._output_sample)

    def _topological_nodes(self):
        """Every node the outputs depend on, each after its parents (iterative DFS)."""
        order, done, stack = [], set(), [(t, False) for t in reversed(self.outputs)]
        inputs = {id(t) for t in self.inputs}
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                if id(node) not in done:
                    done.add(id(node))
                    order.append(node)
                continue
            if id(node) in done:
                continue
            if isinstance(node.layer, InputLayer) and id(node) not in inputs:
                raise ValueError(f"{self.describe()}: the outputs depend on the Input "
                                 f"'{node.layer.name}' {node.shape}, which is not among the "
                                 f"model's inputs {[t.layer.name for t in self.inputs]}")
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(node.parents) if id(p) not in done)
        return order

    # -- the tree of modules: the layers, named by their names
    def named_children(self):
        for layer in self._graph_layers:
            yield layer.name, layer

    @property
    def layers(self):
        return list(self._graph_layers)

    # -- running
    def __call__(self, *args, **kwargs):
        if args and is_symbolic(args[0]):               # a model used as a layer of a graph
            return call_symbolic(self, args[0])
        return super().__call__(*args, **kwargs)

    def forward(self, *xs):
        """Evaluate the graph on real data: one batch per Input (positional, or one list)."""
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)) and not self._single_input:
            xs = tuple(xs[0])
        if len(xs) != len(self.inputs):
            raise ValueError(f"{self.describe()}: expected {len(self.inputs)} input batch(es) "
                             f"for the Inputs {[t.layer.name for t in self.inputs]}, got {len(xs)}")
        values = {id(t): t.layer(x) for t, x in zip(self.inputs, xs)}
        for node in self._nodes:
            if id(node) in values:
                continue
            args = [values[id(p)] for p in node.parents]
            values[id(node)] = node.layer(args if node.multi_input else args[0])
        outs = [values[id(t)] for t in self.outputs]
        return outs[0] if self._single_output else outs

    def prepare(self, input_shape):
        """The output shape(s); the shapes are fixed by the Inputs, so this only checks."""
        expected = self._input_sample
        given = ([tuple(s) for s in input_shape] if not self._single_input
                 else tuple(input_shape))
        if given != expected:
            raise ValueError(f"{self.describe()}: built for inputs of shape {expected}, got "
                             f"{given}")
        return self._output_sample

    def build(self, input_shape=None):
        """Nothing to do: a graph model's weights are made when the graph is drawn."""
        if input_shape is not None:
            self.prepare(input_shape if not self._single_input or input_shape[0] is not None
                         else input_shape[1:])
        return self

    # -- shapes, MACs and the summary's rows
    def nodes(self):
        """(node, input shape(s)) for every layer call, in evaluation order (Inputs too)."""
        return [(node, [p.sample_shape for p in node.parents] if node.multi_input else
                 (node.parents[0].sample_shape if node.parents else node.sample_shape))
                for node in self._nodes]

    def count_macs(self, input_shape=None):
        """Multiply-adds of one forward pass per sample (see Layer.count_macs)."""
        if input_shape is not None:
            self.prepare(input_shape)
        return sum(macs_of(node.layer, shape) for node, shape in self.nodes())

    # -- the architecture as data (for checkpoints: minicnn.layers.config.serialize)
    def get_config(self):
        """{'name', 'layers': the layer objects, 'nodes': [[layer index, [parent node
        indices], multi_input], ...] in evaluation order, 'inputs'/'outputs': node indices}.
        The layers are stored by their own configs; the wiring by indices."""
        layer_index = {id(layer): i for i, layer in enumerate(self._graph_layers)}
        node_index = {id(node): i for i, node in enumerate(self._nodes)}
        return {"name": self.name, "layers": list(self._graph_layers),
                "nodes": [[layer_index[id(node.layer)], [node_index[id(p)] for p in node.parents],
                           node.multi_input] for node in self._nodes],
                "inputs": [node_index[id(t)] for t in self.inputs] if not self._single_input
                else node_index[id(self.inputs[0])],
                "outputs": [node_index[id(t)] for t in self.outputs] if not self._single_output
                else node_index[id(self.outputs[0])]}

    @classmethod
    def from_config(cls, config):
        """Redraw the graph: call the (new, unbuilt) layers on symbolic tensors again.
        The wiring is checked first (it may come from a file): every index in range,
        every parent an earlier node."""
        _check_graph_config(config)
        layers, nodes = config["layers"], []
        for layer_i, parents, multi in config["nodes"]:
            layer = layers[layer_i]
            if isinstance(layer, InputLayer):
                nodes.append(input_node(layer))
                continue
            args = [nodes[i] for i in parents]
            nodes.append(layer(args if multi else args[0]))
        pick = (lambda ix: nodes[ix] if isinstance(ix, int) else [nodes[i] for i in ix])
        return cls(pick(config["inputs"]), pick(config["outputs"]), name=config.get("name"))

    # -- several outputs, several losses
    def compile(self, optimizer="adam", loss=None, metrics=None, loss_weights=None):
        """As Model.compile; with several outputs ``loss`` may be one loss for all of them,
        a list (one per output) or a dict by output layer name, and ``loss_weights`` a
        list or dict of factors (default 1): the training loss is sum_i w_i loss_i.
        Metrics are computed on the first output."""
        per_output = loss if isinstance(loss, (list, tuple, dict)) else [loss] * len(self.outputs)
        if isinstance(per_output, dict):
            names = [t.layer.name for t in self.outputs]
            unknown = sorted(set(per_output) - set(names))
            if unknown:
                raise ValueError(f"compile: no outputs named {unknown}; the outputs are {names}")
            per_output = [per_output.get(n) for n in names]
        if len(per_output) != len(self.outputs):
            raise ValueError(f"compile: {self.describe()} has {len(self.outputs)} outputs but "
                             f"{len(per_output)} losses were given")
        weights = loss_weights if loss_weights is not None else [1.0] * len(self.outputs)
        if isinstance(weights, dict):
            weights = [weights.get(t.layer.name, 1.0) for t in self.outputs]
        if len(weights) != len(self.outputs):
            raise ValueError(f"compile: {len(self.outputs)} outputs but {len(weights)} "
                             f"loss_weights")
        first = next((item for item in per_output if item is not None), None)
        super().compile(optimizer=optimizer, loss=first, metrics=metrics)
        self._output_losses = [None if item is None else _losses.get(item)[0]
                               for item in per_output]
        self._loss_weights = [float(w) for w in weights]
        return self

    def compute_loss(self, y_pred, y_true):
        """sum_i w_i loss_i(output_i, target_i); y_true is one target for every output
        (GoogLeNet's heads share the labels) or a list with one per output."""
        if self._single_output:
            parent = getattr(super(), "compute_loss", None) or super()._compute_loss
            return parent(y_pred, y_true)
        targets = (list(y_true) if isinstance(y_true, (list, tuple))
                   else [y_true] * len(y_pred))
        total = None
        for fn, weight, pred, target in zip(self._output_losses, self._loss_weights,
                                            y_pred, targets):
            if fn is None or weight == 0:
                continue
            term = fn(pred, target) * weight
            total = term if total is None else total + term
        return total

    _compute_loss = compute_loss          # the name TrainingAPI used before compute_loss

    def predict(self, x, batch_size=32, verbose=0):
        """As Model.predict; with several outputs, a list of arrays, one per output."""
        if self._single_output:
            return super().predict(x, batch_size=batch_size, verbose=verbose)
        was_training = self.training
        self.eval()
        try:
            parts = [[] for _ in self.outputs]
            with no_grad():
                for start in range(0, len(x), batch_size):
                    outs = self(self._input_tensor(x[start:start + batch_size]))
                    for part, out in zip(parts, outs):
                        part.append(out.numpy())
        finally:
            self.train(was_training)
        if not parts[0]:
            raise ValueError("predict: x has no samples")
        return [np.concatenate(part, axis=0) for part in parts]

    def compute_metrics(self, y_pred, y_true):
        """The compiled metrics of the first output (the main head)."""
        if not self._single_output:
            y_pred = y_pred[0]
            y_true = y_true[0] if isinstance(y_true, (list, tuple)) else y_true
        return super().compute_metrics(y_pred, y_true)


def macs_of(module, input_shape):
    """A layer's or model's multiply-adds for one sample of ``input_shape`` (0 if it has
    no count_macs)."""
    count = getattr(module, "count_macs", None)
    return int(count(input_shape)) if count is not None else 0


__all__ = ["GraphModel", "macs_of"]


def _check_graph_config(config):
    """Raise ValueError unless ``config`` is GraphModel.get_config's shape: layers, nodes
    [layer index, [earlier node indices], multi_input], inputs and outputs node indices."""
    def index(value, limit):
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit
    from ..layers.module import Module
    allowed = {"name", "layers", "nodes", "inputs", "outputs"}
    if not (isinstance(config, dict) and allowed - {"name"} <= set(config) <= allowed):
        raise ValueError(f"a graph Model's config has the keys {sorted(allowed)}")
    layers, nodes = config["layers"], config["nodes"]
    if not (isinstance(layers, list) and all(isinstance(layer, Module) for layer in layers)):
        raise ValueError("a graph Model's 'layers' must be a list of layers")
    if not isinstance(nodes, list):
        raise ValueError("a graph Model's 'nodes' must be a list")
    for i, node in enumerate(nodes):
        if not (isinstance(node, list) and len(node) == 3 and index(node[0], len(layers))
                and isinstance(node[1], list) and all(index(p, i) for p in node[1])
                and isinstance(node[2], bool)
                and (isinstance(layers[node[0]], InputLayer) or node[1])):
            raise ValueError(f"a graph Model's node {i} is not [layer index, [earlier node "
                             f"indices], multi_input]: {str(node)[:80]}")
    for key in ("inputs", "outputs"):
        ends = config[key] if isinstance(config[key], list) else [config[key]]
        if not ends or not all(index(n, len(nodes)) for n in ends):
            raise ValueError(f"a graph Model's '{key}' must be node indices below {len(nodes)}")
