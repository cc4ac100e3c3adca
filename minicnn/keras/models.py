"""keras.models: Sequential, Model (subclassed, or drawn from Input), load_model.

They are minicnn's models with Keras' view on top (KerasModel): data in Keras' layout
at the edges (one transpose where a batch comes in and where an image batch goes out),
Keras' shapes in ``summary``, ``input_shape`` and ``output_shape``, Keras' weight
layouts in ``get_weights``/``set_weights``, Keras' signatures for compile / fit /
evaluate / predict, and Keras' names in compile (``'adam'`` is Keras' Adam).
"""
from .. import checkpoint
from ..models import graph as _graph
from ..models import model as _model
from ..models import sequential as _sequential
from ..models.model import sample_shape
from ..layers.symbolic import is_symbolic
from ..tensor import current_layer
from . import optimizers
from .backend import image_data_format
from .layout import KerasLayer, KerasTensor, keras_shape, minicnn_shape, to_keras, to_minicnn


def _auto(verbose):
    """Keras' verbose: 'auto' and 2 (one line per epoch) print, 0 is silent."""
    return 1 if verbose == "auto" else int(verbose)


def _unsupported(where, **values):
    """Keras arguments minicnn does not build: each must keep its default."""
    for name, (value, default) in values.items():
        if value is not default and (default is None or value != default):
            raise TypeError(f"{where}: {name}={value!r} is not supported by minicnn; leave "
                            f"it at {default!r}")


class KerasModel:
    """Keras' view of a minicnn model (mixed in before Sequential, Model, GraphModel)."""
    channels_first = False

    def _keras_layers(self):
        return [m for m in self.modules()[1:] if isinstance(m, KerasLayer)]

    @property
    def data_format(self):
        """The model's layout: its first layer with a data_format of its own decides
        (Conv2D, the poolings...); else its input's, its first keras layer's, or the
        global default."""
        layers = self._keras_layers()
        declared = [layer for layer in layers if not layer.follows_input]
        if declared:
            return declared[0].data_format
        given = vars(self).get("_input_format")
        return given or (layers[0].data_format if layers else image_data_format())

    def _check_layouts(self, layers):
        declared = [layer for layer in layers
                    if isinstance(layer, KerasLayer) and not layer.follows_input]
        if len({layer.data_format for layer in declared}) > 1:
            mixed = ", ".join(f"{layer.name}: {layer.data_format}" for layer in declared)
            raise ValueError(f"{self.describe()}: minicnn runs one image layout per model, but "
                             f"its layers mix them ({mixed}); give them all the same "
                             f"data_format (or keras.backend.set_image_data_format)")

    def display_shape(self, shape):
        """One sample's shape as Keras shows it (summary)."""
        return keras_shape(shape, self.data_format)

    # -- the edges: Keras' layout in and out
    def __call__(self, *args, **kwargs):
        if (args and is_symbolic(args[0])) or current_layer() is not None \
                or self.data_format != "channels_last":
            return super().__call__(*args, **kwargs)
        return to_keras(super().__call__(*to_minicnn(args), **kwargs))

    # -- Keras' shapes and weights
    @property
    def input_shape(self):
        shape = vars(self).get("_input_sample") or vars(self).get("_sample_shape")
        if shape is None:
            raise AttributeError(f"{self.describe()} has no input shape yet: give the first "
                                 f"layer input_shape=, start with keras.Input(shape), or "
                                 f"call model.build(...)")
        shape = keras_shape(shape, self.data_format)
        return [(None,) + s for s in shape] if isinstance(shape, list) else (None,) + shape

    @property
    def output_shape(self):
        shape = vars(self).get("_output_sample") or vars(self).get("_output_shape")
        if shape is None:
            raise AttributeError(f"{self.describe()} has no output shape yet (not built)")
        shape = keras_shape(shape, self.data_format)
        return [(None,) + s for s in shape] if isinstance(shape, list) else (None,) + shape

    def build(self, input_shape=None):
        """Make the weights for Keras' input shape, e.g. (None, 32, 32, 3)."""
        if input_shape is None:
            return super().build(input_shape) if isinstance(self, GraphModel) else self
        shape = sample_shape(input_shape)
        if isinstance(self, (_sequential.Sequential, _graph.GraphModel)):
            shape = minicnn_shape(shape, self.data_format)    # their shape arithmetic
        return super().build(shape)       # (a subclassed model runs zeros through __call__)

    def _layers_once(self):
        seen, layers = set(), []
        for layer in self.layers:
            if id(layer) not in seen:
                seen.add(id(layer))
                layers.append(layer)
        return layers

    def get_weights(self):
        """Every layer's weights in Keras' layouts and order (Keras' model.get_weights)."""
        self._require_built("get_weights")
        return [w for layer in self._layers_once() for w in layer.get_weights()]

    def set_weights(self, weights):
        """Load Keras' model.get_weights() (its layouts and order) layer by layer."""
        self._require_built("set_weights")
        weights, start = list(weights), 0
        counts = [len(layer.get_weights()) for layer in self._layers_once()]
        if sum(counts) != len(weights):
            raise ValueError(f"set_weights: {self.describe()} has {sum(counts)} weight arrays, "
                             f"got {len(weights)}")
        for layer, count in zip(self._layers_once(), counts):
            layer.set_weights(weights[start:start + count])
            start += count

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None, batch_size=None):
        """Print the table of layers with Keras' output shapes (returns None, as Keras)."""
        _unsupported("summary", positions=(positions, None), expand_nested=(expand_nested, False),
                     show_trainable=(show_trainable, False), layer_range=(layer_range, None))
        super().summary(line_length=line_length, print_fn=print_fn or print,
                        batch_size=batch_size)

    # -- training with Keras' signatures and names
    get_optimizer = staticmethod(optimizers.get)

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Keras' compile: optimizer names mean Keras' optimisers ('rmsprop' by default),
        losses and metrics as in minicnn.losses / minicnn.metrics. minicnn always runs
        eagerly, so run_eagerly, jit_compile and auto_scale_loss change nothing."""
        _unsupported("compile", loss_weights=(loss_weights, None),
                     weighted_metrics=(weighted_metrics, None),
                     steps_per_execution=(steps_per_execution, 1))
        return super().compile(optimizer=optimizer, loss=loss, metrics=metrics)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, **minicnn_options):
        """Keras' fit (its argument order: x, y, batch_size, epochs). minicnn's own
        options (seed, transform, resume) may follow as keywords."""
        _unsupported("fit", class_weight=(class_weight, None),
                     sample_weight=(sample_weight, None), initial_epoch=(initial_epoch, 0),
                     validation_steps=(validation_steps, None),
                     validation_batch_size=(validation_batch_size, None),
                     validation_freq=(validation_freq, 1))
        return super().fit(x, y, epochs=epochs, batch_size=batch_size or 32,
                           validation_data=validation_data, shuffle=shuffle,
                           verbose=_auto(verbose), validation_split=validation_split,
                           callbacks=callbacks, steps_per_epoch=steps_per_epoch,
                           **minicnn_options)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Keras' evaluate: the loss, or [loss, metrics...], or a dict."""
        _unsupported("evaluate", sample_weight=(sample_weight, None), steps=(steps, None),
                     callbacks=(callbacks, None))
        return super().evaluate(x, y, batch_size=batch_size or 32, verbose=_auto(verbose),
                                return_dict=return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Keras' predict: the outputs as a NumPy array (Keras' layout)."""
        _unsupported("predict", steps=(steps, None), callbacks=(callbacks, None))
        return super().predict(x, batch_size=batch_size or 32)

    # -- files (minicnn's checkpoint format, whatever the name ends in)
    def save(self, filepath, overwrite=True):
        """Architecture, weights, optimiser and compile settings in one file (minicnn's
        .npz checkpoint, also under a '.keras' name); keras.models.load_model reads it."""
        checkpoint.save(self, filepath)

    def save_weights(self, filepath, overwrite=True):
        checkpoint.save_weights(self, filepath)

    def load_weights(self, filepath):
        checkpoint.load_weights(self, filepath)
        return self


class Sequential(KerasModel, _sequential.Sequential):
    """Keras' Sequential(layers=None, name=None): keras.Input(shape) may come first."""

    def add(self, layer):
        if isinstance(layer, KerasTensor):                 # keras.Input(shape) first
            self._input_format = layer.data_format
        elif isinstance(layer, KerasLayer):
            if layer.follows_input and (self._layers or vars(self).get("_input_format")):
                layer.data_format = self.data_format       # runs in the model's layout
            self._check_layouts(self._layers + [layer])
            given = vars(self).get("_input_format")
            if not self._layers and given not in (None, layer.data_format):
                shape = keras_shape(self._input_sample, given)    # read in the layer's layout
                self._input_sample = self._output_sample = minicnn_shape(shape,
                                                                          layer.data_format)
                self._input_format = layer.data_format
        super().add(layer)


class Model(KerasModel, _model.Model):
    """Keras' Model: subclass it (define ``call``), or Model(inputs, outputs) from
    keras.Input placeholders (a graph)."""

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return object.__new__(GraphModel)
        return object.__new__(cls)


class GraphModel(Model, _graph.GraphModel):
    """Model(inputs, outputs) drawn from keras.Input (see minicnn.models.graph)."""

    def __init__(self, inputs, outputs, name=None, **kwargs):
        from ..layers.module import unique_name
        super().__init__(inputs, outputs, name=name or unique_name("functional"), **kwargs)
        self._graph_layers = keras_layer_order(self.outputs)
        self._check_layouts(self.layers)


def keras_layer_order(outputs):
    """The layers of a graph in Keras' order (its ``model.layers``, hence the order of
    ``get_weights`` and of ``summary``), as keras.src.ops.function.map_graph sorts them:

    - a node's depth is its longest path to an output (a layer's: the most of its nodes');
    - layers go deepest first (the Input, then what reads it, ...);
    - layers of one depth go in the order a depth-first walk from the outputs (each
      node's parents in the order given) first meets them.

    minicnn evaluates the graph in an order of its own (GraphModel._nodes); only the
    listing follows Keras', so that Keras' weights transplant layer by layer.
    """
    first_seen, finished, walk = {}, set(), []       # walk: each node after its parents
    for output in outputs:
        stack = [(output, None)]
        while stack:
            node, parents = stack.pop()
            if parents is None:
                if id(node) in finished:
                    continue
                first_seen.setdefault(id(node.layer), len(first_seen))
                parents = iter(node.parents)
            parent = next(parents, None)
            if parent is None:
                finished.add(id(node))
                walk.append(node)
                continue
            stack.append((node, parents))
            if id(parent) not in finished:
                stack.append((parent, None))
    node_depth, layer_depth, layers = {}, {}, {}
    for node in reversed(walk):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        node_depth[id(node)] = layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        for parent in node.parents:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)],
                                                      first_seen[id(layer)]))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """The model ``model.save`` (or mc.save) wrote: rebuilt, weights loaded, compiled.
    A file is data: nothing in it is imported or run (safe_mode is always on)."""
    return checkpoint.load(filepath, custom_objects=custom_objects, compile=compile)
