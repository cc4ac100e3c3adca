"""check_layer: property-test a Layer of yours in one call.

    from minicnn.testing import check_layer, strategies as mst

    def test_my_layer():                          # a plain pytest test, no @given
        check_layer(MyLayer, mst.image_shapes())

For every example hypothesis draws (a case from ``strategy`` and a seed for the data),
``check_layer_once`` checks, in this order:

1. shape: the output's shape is ``compute_output_shape`` of the input's (after the batch
   axis), and its dtype is the layer's (float64 here);
2. gradients: of the input and of every trainable parameter, by central differences in
   float64 (``check_gradients``), in training and in evaluation mode, under the backend
   in use (its host twin, numba or numpy, when that is cupy);
3. float32: the float32 layer with the same weights gives the float64 numbers within
   float32's tolerance: the output, every gradient, and the state the forward pass moves
   (running statistics);
4. backends: the same numbers (output, gradients, state) under every available backend,
   numpy (the reference), numba, and cupy when a GPU is there, in float64 and float32;
5. config: the ``get_config`` round trip, serialize -> JSON -> deserialize, gives a
   layer with the same config that computes the same output from the same weights (your
   class must be registered, ``mc.register_layer``, as ``mc.load`` needs).

Cases. The strategy draws either an input shape with the batch axis, (N, C, H, W) or
(N, F), or a dict with the key "x_shape" and whatever the factory needs (the cases of
minicnn.testing.strategies). The factory makes a fresh, unbuilt layer: it is called with
the case when it takes an argument (``lambda case: Conv2D(**conv_layer_kwargs(case))``)
and without one when it takes none (a Layer class whose arguments all have defaults).

Weights. A layer is built with minicnn's random generator seeded from the example's seed
(and restored afterwards); its trainable weights are then moved by ``perturb`` N(0, 1),
so a gradient that is right only at the initial values (gamma = 1, bias = 0) is caught;
one training-mode forward pass on another batch moves its running statistics off their
initial values. Every other layer of the example (float32, other backends, the one
rebuilt from its config) gets these weights through ``load_state_dict``.

Inside your own ``@given`` test, call ``check_layer_once(factory, case, seed)``: it is one
example's checks (hypothesis does not nest ``@given``).
"""
import inspect
import json
from dataclasses import dataclass, field

import numpy as np
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis.strategies import SearchStrategy

from ..backend import available_backends, get_backend, use_backend
from ..device import default_device, to_device, to_host
from ..gradcheck import GradcheckError
from ..layers.base import Layer
from ..layers.config import deserialize, serialize
from ..rng import seeded
from ..tensor import Tensor, no_grad
from .compare import assert_close
from .gradients import check_gradients
from .strategies import random_array, seeds

FLOAT64, FLOAT32 = np.dtype(np.float64), np.dtype(np.float32)


class LayerCheckError(AssertionError):
    """Raised by check_layer: which check failed, for which layer, input shape and seed."""


@dataclass
class LayerCheckReport:
    """What check_layer ran: ``str(report)`` is a one-line summary."""
    layer: str
    examples: int = 0
    backends: list = field(default_factory=list)
    modes: list = field(default_factory=list)
    gradient_checks: int = 0          # comparisons of numeric with analytic gradients
    kinks: int = 0                    # comparisons skipped at kinks
    config_checked: bool = False

    def __str__(self):
        kinks = f", {self.kinks} skipped at kinks" if self.kinks else ""
        config = ", get_config round trip" if self.config_checked else ""
        return (f"check_layer({self.layer}): {self.examples} examples passed: output shapes, "
                f"{self.gradient_checks} gradient comparisons{kinks} ({' and '.join(self.modes)} "
                f"mode), float32 against float64, backends {', '.join(self.backends)}{config}")


def check_layer(layer_factory, strategy, training=(True, False), backends=None,
                check_config=True, perturb=0.5, max_elements=12, directions=2,
                max_examples=None, settings=None):
    """Property-test the layer ``layer_factory`` makes on the cases ``strategy`` draws.

    layer_factory  makes a fresh, unbuilt Layer: called with the drawn case if it takes
                   an argument, else with none (module docstring)
    strategy       a hypothesis strategy of cases: input shapes (N, ...) or dicts with
                   "x_shape" (minicnn.testing.strategies)
    training       the modes to check: (True, False) both; (False,) for a layer that is
                   random in training (Dropout)
    backends       names to compare with the numpy reference (default: all available)
    check_config   check the get_config round trip (needs the class registered)
    perturb        the spread of the noise added to the trainable weights (0: none)
    max_elements   per input and parameter, the elements checked one by one (chosen at
                   random; every element takes part in the random-direction checks)
    directions     random-direction checks per gradient check
    max_examples   examples to run (default: the current hypothesis profile's, say the
                   ``ci`` profile of ``register_profiles``)
    settings       a hypothesis ``settings`` object to run under instead of the profile
    Returns a LayerCheckReport; a failure raises LayerCheckError (an AssertionError),
    hypothesis adding the shrunk example (``case=..., seed=...``) that reproduces it.
    """
    if not isinstance(strategy, SearchStrategy):
        raise TypeError(f"check_layer: strategy must be a hypothesis strategy of input shapes "
                        f"or cases (e.g. minicnn.testing.strategies.image_shapes()), got "
                        f"{strategy!r}")
    report = LayerCheckReport(layer=getattr(layer_factory, "__name__", repr(layer_factory)))
    options = dict(training=training, backends=backends, check_config=check_config,
                   perturb=perturb, max_elements=max_elements, directions=directions)

    @given(case=strategy, seed=seeds)
    def check_layer_example(case, seed):
        done = check_layer_once(layer_factory, case, seed, **options)
        report.examples += 1
        report.gradient_checks += done.gradient_checks
        report.kinks += done.kinks
        report.layer, report.backends, report.modes = done.layer, done.backends, done.modes
        report.config_checked = done.config_checked

    parent = settings if settings is not None else hypothesis_settings.default
    run = hypothesis_settings(parent, deadline=None,     # the first example pays for compiles
                              max_examples=max_examples or parent.max_examples)
    run(check_layer_example)()
    return report


def check_layer_once(layer_factory, case, seed=0, training=(True, False), backends=None,
                     check_config=True, perturb=0.5, max_elements=12, directions=2):
    """The checks of check_layer for one case and one seed (its docstring has the
    arguments). Returns a LayerCheckReport of this example; raises LayerCheckError."""
    x_shape = input_shape_of(case)
    training = tuple(bool(t) for t in training)
    if not training:
        raise ValueError("check_layer: training must name at least one mode, e.g. (True, False)")
    backends = list(available_backends() if backends is None else backends)
    unknown = [b for b in backends if b not in available_backends()]
    if unknown:
        raise ValueError(f"check_layer: backend(s) {unknown} are not available here (available: "
                         f"{', '.join(available_backends())})")
    with seeded(seed):                  # nothing drawn here moves the user's generator
        return _check(LayerMaker(layer_factory, case, x_shape, seed), backends, training,
                      check_config, perturb, max_elements, directions)


def host_backend():
    """The backend in use, or under "cupy" the one its host arrays run on (numba if it
    imports, else numpy): the finite differences perturb host arrays."""
    name = get_backend()
    if name != "cupy":
        return name
    return "numba" if "numba" in available_backends() else "numpy"


def _check(maker, backends, training, check_config, perturb, max_elements, directions):
    x = random_array(maker.seed, maker.x_shape)
    with use_backend(host_backend()):
        maker.build_reference(perturb)
        check_output_shape(maker, x)
        report = LayerCheckReport(layer=maker.class_name, examples=1,
                                  backends=["numpy"] + [b for b in backends if b != "numpy"],
                                  modes=[mode_name(t) for t in training])
        for mode in training:
            result = check_layer_gradients(maker, x, mode, max_elements, directions)
            report.gradient_checks += result.checked
            report.kinks += len(result.kinks)
        if check_config:
            check_config_round_trip(maker, x, training[0])
            report.config_checked = True
    runs = {(b, dtype, mode): maker.run(x, dtype, mode, b)
            for b in report.backends for dtype in (FLOAT64, FLOAT32) for mode in training}
    for mode in training:
        compare_runs(maker, runs[("numpy", FLOAT32, mode)], runs[("numpy", FLOAT64, mode)],
                     FLOAT32, f"{mode_name(mode)} mode, float32 against float64",
                     ("float32", "float64"))
        for b in report.backends[1:]:
            for dtype in (FLOAT64, FLOAT32):
                compare_runs(maker, runs[(b, dtype, mode)], runs[("numpy", dtype, mode)], dtype,
                             f"{mode_name(mode)} mode, {dtype}, backend {b!r} against numpy",
                             (b, "numpy"))
    return report


def mode_name(training):
    return "training" if training else "evaluation"


def input_shape_of(case):
    """The input shape (with the batch axis) of a drawn case: the case itself, or its
    "x_shape"."""
    shape = case.get("x_shape") if isinstance(case, dict) else case
    if not (isinstance(shape, (tuple, list)) and len(shape) >= 2 and all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0
            for n in shape)):
        raise TypeError(f"check_layer: a drawn case must be an input shape with the batch axis "
                        f"such as (2, 3, 8, 8), or a dict with 'x_shape'; got {case!r}")
    return tuple(int(n) for n in shape)


def _takes_case(factory):
    """True when the factory has a positional parameter without a default."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):            # a builtin without a signature: pass the case
        return True
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in parameters)


class LayerMaker:
    """Makes the layers of one example: fresh from the factory, in a dtype, with the
    example's weights (``state``), on the device of the backend in use."""

    def __init__(self, factory, case, x_shape, seed):
        self.factory, self.case, self.x_shape, self.seed = factory, case, x_shape, seed
        self.takes_case = _takes_case(factory)
        self.state = None
        self.class_name = getattr(factory, "__name__", "layer")

    @property
    def who(self):
        return f"check_layer({self.class_name}, input {self.x_shape}, seed={self.seed})"

    def fail(self, message):
        raise LayerCheckError(f"{self.who}: {message}\nReproduce: check_layer_once(factory, "
                              f"{self.case!r}, seed={self.seed}) with the same factory.")

    def make(self, dtype):
        """A new layer from the factory, in ``dtype``, built, with the example's weights."""
        with seeded(self.seed):
            layer = self.factory(self.case) if self.takes_case else self.factory()
            if not isinstance(layer, Layer):
                raise TypeError(f"check_layer: the factory must return a minicnn Layer (a "
                                f"subclass of minicnn.layers.Layer), got {type(layer).__name__}")
            if layer.built:
                raise ValueError(f"check_layer: the factory returned a built layer "
                                 f"({layer.describe()}); it must make a fresh one at each call, "
                                 f"since each dtype and backend gets its own")
            self.class_name = type(layer).__name__
            layer.to(dtype)
            layer.prepare(self.x_shape[1:])
        if self.state is not None:
            layer.load_state_dict(self.state)
        return layer

    def build_reference(self, perturb):
        """The example's weights: initialised (seeded), trainable ones perturbed, running
        statistics moved by one training-mode forward pass on another batch."""
        layer = self.make(FLOAT64)
        for k, (_, p) in enumerate(layer.named_parameters()):
            p.data = p.data + perturb * random_array(self.seed + 100 + k, p.shape)
        layer.train(True)
        with no_grad():
            layer(random_array(self.seed + 1, self.x_shape))
        self.state = layer.host_state_dict()

    def run(self, x, dtype, training, backend):
        """Output, gradients (of a seeded output gradient) and moved state of one forward and
        backward pass under ``backend``, as host arrays by name."""
        with use_backend(backend):
            layer = self.make(dtype).train(training)
            device = default_device()
            xt = Tensor(to_device(x.astype(dtype), device), requires_grad=True)
            y = layer(xt)
            if y.dtype != dtype:
                self.fail(f"{mode_name(training)} mode, backend {backend!r}: the output is "
                          f"{y.dtype} for {dtype} weights")
            y.backward(to_device(random_array(self.seed + 2, y.shape, dtype), device))
            out = {"output": to_host(y.data), "gradient of the input": xt.grad}
            for name, p in layer.named_parameters(trainable_only=False):
                if p.trainable:
                    out[f"gradient of {name!r}"] = p.grad
                else:
                    out[f"{name!r} after the forward pass"] = p.data
        return {k: None if v is None else to_host(v) for k, v in out.items()}


def check_output_shape(maker, x):
    layer = maker.make(FLOAT64)
    sample = maker.x_shape[1:]
    expected = tuple(layer.compute_output_shape(sample))
    y = layer(x)
    if not isinstance(y, Tensor):
        maker.fail(f"the layer returned {type(y).__name__}, not a Tensor")
    if tuple(y.shape[1:]) != expected:
        maker.fail(f"the output has shape {tuple(y.shape)} but compute_output_shape({sample}) "
                   f"says {expected} per sample")
    if y.dtype != FLOAT64:
        maker.fail(f"the output is {y.dtype} for float64 weights")


def check_layer_gradients(maker, x, training, max_elements, directions):
    layer = maker.make(FLOAT64).train(training)
    with no_grad():
        first, second = layer(x).data, layer(x).data
    try:
        assert_close(second, first, FLOAT64, "output", names=("second call", "first call"))
    except AssertionError as error:
        maker.fail(f"the output is not the same for the same input in {mode_name(training)} "
                   f"mode ({error}); gradients cannot be checked by finite differences. A layer "
                   f"that is random in training (Dropout) is checked with training=(False,)")
    named = list(layer.named_parameters())
    try:
        return check_gradients(lambda x, *weights: layer(x), [x] + [p for _, p in named],
                               seed=maker.seed, names=["input"] + [n for n, _ in named],
                               max_elements=max_elements, directions=directions, reproduce="")
    except GradcheckError as error:
        maker.fail(f"{mode_name(training)} mode: {error}")


def compare_runs(maker, actual, expected, dtype, what, names):
    for key, reference in expected.items():
        value = actual[key]
        if (value is None) != (reference is None):
            missing = names[0] if value is None else names[1]
            maker.fail(f"{what}: {key}: {missing} computed none")
        if value is None:
            continue
        try:
            assert_close(value, reference, dtype, f"{what}: {key}", names=names)
        except AssertionError as error:
            maker.fail(str(error))


def check_config_round_trip(maker, x, training):
    layer = maker.make(FLOAT64)
    hint = (f"minicnn stores a layer of yours by its class's registered name: "
            f"mc.register_layer({maker.class_name}) (as mc.save and mc.load need), or pass "
            f"check_config=False")
    try:
        data = serialize(layer)
        again = deserialize(json.loads(json.dumps(data)))
    except (TypeError, ValueError) as error:
        maker.fail(f"the get_config round trip failed: {error}. {hint}")
    if type(again) is not type(layer):
        maker.fail(f"the config rebuilt a {type(again).__name__}, not a {type(layer).__name__}. "
                   f"{hint}")
    again.to(FLOAT64)
    again.prepare(maker.x_shape[1:])
    again.load_state_dict(maker.state)
    rebuilt = serialize(again)
    if rebuilt != data:
        maker.fail(f"the rebuilt layer has another config:\n  {rebuilt}\nnot\n  {data}")
    layer.train(training)
    again.train(training)
    try:
        assert_close(again(x).data, layer(x).data, FLOAT64,
                     f"{mode_name(training)} mode: output of the layer rebuilt from its config",
                     names=("rebuilt", "original"))
    except AssertionError as error:
        maker.fail(str(error))
