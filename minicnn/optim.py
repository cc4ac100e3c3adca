"""Optimisers: SGD (momentum, Nesterov, weight decay), Adam and AdamW.

Each follows PyTorch's update rule exactly (the tests compare with torch.optim to 1e-12),
so a recipe from a paper or a PyTorch script gives the same numbers here.

Two ways to use one::

    opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)   # PyTorch style
    opt.zero_grad(); loss.backward(); opt.step()

    model.compile(optimizer=mc.optim.SGD(lr=0.01), loss=...)        # Keras style:
                                                                    # compile binds the params

``opt.state_dict()`` / ``opt.load_state_dict(state)`` save and restore the
hyper-parameters, the per-parameter buffers (NumPy arrays) and the step counts:
training resumed from a saved state gives the same weights as never stopping.
``opt.lr`` may be changed between steps (a learning-rate schedule).

Hyper-parameters are checked where they come in, the constructor and
``load_state_dict`` (whose state may come from a file): each must be a finite number
in its range (NaN, infinity and strings are refused, naming the argument); a saved
state may hold only the optimiser's own hyper-parameters and buffers, each checked.
``step()`` holds back Ctrl-C until every parameter is updated (minicnn.files.defer_sigint),
so an interrupted run never keeps half a step.

Notation in the docstrings: p a parameter, g its gradient, lr the learning rate, t the
step count (1 for the first step). Parameters whose ``grad`` is None (not reached by the
last backward) are skipped and their buffers are left alone. Updates are made in place
on ``p.data`` and keep its dtype.
"""
import abc
import math
import numbers

import numpy as np

from .arguments import finite_number
from .backend import array_module
from .device import device_of, is_device_array, to_device, to_host
from .files import defer_sigint
from .tensor import Tensor


class Optimizer(abc.ABC):
    """Base class: holds the parameters, the hyper-parameters and per-parameter state.

    A subclass lists its hyper-parameters in ``defaults``, the arrays it keeps per
    parameter in ``state_arrays`` (besides the step count "step"), checks its
    hyper-parameters in ``check_hyperparameters(hyper)`` and implements
    ``update(p, g, state)``, which changes ``p.data`` in place and keeps its buffers in
    the dict ``state`` (one dict per parameter, created empty).
    """
    defaults = {}
    state_arrays = ()

    def __init__(self, params=None, **hyper):
        """hyper: the subclass's hyper-parameters; None (or left out) means the default."""
        learning_rate = hyper.pop("learning_rate", None)     # Keras' name for lr
        if isinstance(params, numbers.Real):                 # Keras' SGD(0.01): the rate
            params, learning_rate = None, params if learning_rate is None else learning_rate
        if learning_rate is not None:
            if hyper.get("lr") is not None:
                raise TypeError(f"{type(self).__name__}: give lr or learning_rate, not both")
            hyper["lr"] = learning_rate
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown argument(s) {sorted(unknown)}; "
                            f"it takes {sorted(self.defaults)} (and learning_rate, an alias "
                            f"of lr)")
        values = {name: default if hyper.get(name) is None else hyper[name]
                  for name, default in self.defaults.items()}
        for name, value in self.check_hyperparameters(values).items():
            setattr(self, name, value)
        self.params = []
        self.state = []
        if params is not None:
            self.bind(params)

    # -- hyper-parameters
    @property
    def learning_rate(self):
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value):
        self.lr = value

    def hyperparameters(self):
        return {name: getattr(self, name) for name in self.defaults}

    def check_hyperparameters(self, hyper):
        """A checked copy of ``hyper`` ({name: value} for every name in ``defaults``);
        a value of the wrong type, NaN, infinite or out of range raises a ValueError
        that names it. Subclasses check their own names after calling this."""
        checked = dict(hyper)
        checked["lr"] = _number(self, "lr", hyper["lr"], low=0)
        if "weight_decay" in hyper:
            checked["weight_decay"] = _number(self, "weight_decay", hyper["weight_decay"], low=0)
        return checked

    # -- parameters
    @property
    def is_bound(self):
        return bool(self.params)

    def bind(self, params):
        """Use these parameters from now on, with fresh state (or the state given to
        ``load_state_dict`` before any parameters were bound)."""
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Parameters "
                            f"(e.g. model.parameters()), not a single Tensor; wrap it in a list")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a "
                                f"{type(p).__name__}, not a Parameter/Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: the same parameter appears twice in params")
        self.params = params
        self.state = [{} for _ in params]
        saved, self._saved_state = getattr(self, "_saved_state", None), None
        if saved is not None:                   # load_state_dict came before the params
            self.state = self._restore(saved, params)
        return self

    def zero_grad(self):
        """Forget the gradients (``p.grad = None``), as before each backward."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient."""
        if not self.params:
            raise RuntimeError(f"{type(self).__name__} has no parameters: pass them, "
                               f"{type(self).__name__}(model.parameters(), ...), or give the "
                               f"optimizer to model.compile(optimizer=...) which binds them")
        with defer_sigint():                    # Ctrl-C waits: never half a step
            active = [(p, state) for p, state in zip(self.params, self.state)
                      if p.grad is not None]
            grads = [p.grad if p.grad.dtype == p.data.dtype else p.grad.astype(p.data.dtype)
                     for p, _ in active]
            grads = self.prepare_step([p for p, _ in active], grads)
            for (p, state), g in zip(active, grads):
                for key, value in state.items():        # the model moved (model.to(...)):
                    if hasattr(value, "shape") and type(value) is not type(p.data):
                        state[key] = to_device(value, device_of(p.data))    # buffers follow
                self.update(p, g, state)

    def prepare_step(self, params, grads):
        """The gradients the updates use, from all of this step's at once (the
        parameters that have one, and theirs); PyTorch's optimisers use them as they
        are. minicnn.keras' clip them and apply weight decay here, as Keras does."""
        return grads

    @classmethod
    def saved_name(cls):
        """The name a saved state gives this class: 'SGD', or 'keras.SGD' for the
        optimisers of minicnn.keras (Keras' rules under the same names)."""
        keras = cls.__module__.startswith("minicnn.keras")
        return f"keras.{cls.__name__}" if keras else cls.__name__

    @abc.abstractmethod
    def update(self, p, g, state):
        """Change p.data in place from its gradient g, keeping buffers in ``state``."""

    # -- saving and restoring
    def state_dict(self):
        """Hyper-parameters and per-parameter buffers (NumPy copies) and step counts.

        {"optimizer": "SGD", "hyperparameters": {...},
         "state": [{"step": 3, "momentum_buffer": array}, ...]}   (one dict per parameter)
        """
        def copy(v):
            return _to_numpy(v) if hasattr(v, "shape") else v
        return {"optimizer": self.saved_name(),
                "hyperparameters": self.hyperparameters(),
                "state": [{k: copy(v) for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict`` saved; continuing then matches never stopping.

        The state may come from a file, so everything is checked before anything
        changes: only this optimizer's hyper-parameters (``defaults``), each valid; per
        parameter only "step" (a whole number >= 0) and this optimizer's buffers
        (``state_arrays``: finite numeric arrays of the parameter's shape). Anything else
        raises a ValueError that names the key."""
        name = self.saved_name()
        if not isinstance(state_dict, dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict (from state_dict()), "
                             f"got {type(state_dict).__name__}")
        saved_by = state_dict.get("optimizer")
        if saved_by != name:
            raise ValueError(f"this state was saved by a {saved_by} optimizer; it cannot be "
                             f"loaded into {name}")
        hyper = state_dict.get("hyperparameters", {})
        if not isinstance(hyper, dict):
            raise ValueError(f"{name}.load_state_dict: 'hyperparameters' must be a dict, got "
                             f"{type(hyper).__name__}")
        unknown = sorted(str(k) for k in hyper if k not in self.defaults)
        if unknown:
            raise ValueError(f"{name}.load_state_dict: the saved hyper-parameter(s) {unknown} "
                             f"are not {name}'s; it has {sorted(self.defaults)}")
        merged = dict(self.hyperparameters(),
                      **{k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()})
        try:
            checked = self.check_hyperparameters(merged)
        except ValueError as error:
            raise ValueError(f"{name}.load_state_dict: the saved hyper-parameters are not "
                             f"valid: {error}") from None
        per_param = state_dict.get("state", [])
        if not isinstance(per_param, list) or not all(isinstance(s, dict) for s in per_param):
            raise ValueError(f"{name}.load_state_dict: 'state' must be a list with one dict "
                             f"per parameter")
        saved = [self.check_state(i, dict(s)) for i, s in enumerate(per_param)]
        restored = self._restore(saved, self.params) if self.params else None
        for key in self.defaults:               # only now: nothing changes on an error
            setattr(self, key, checked[key])
        if restored is not None:
            self.state = restored
        else:                                   # not bound yet: bind() restores it
            self._saved_state = saved

    def check_state(self, i, entry):
        """Check one parameter's saved state: only "step" and ``state_arrays`` keys, a
        step count >= 0, finite numeric arrays. Returns it (shapes: ``_restore``)."""
        name = type(self).__name__
        for key, value in entry.items():
            where = f"{name}.load_state_dict: parameter {i}'s saved {key!r}"
            if key == "step":
                if not isinstance(value, (int, np.integer)) or isinstance(value, bool) \
                        or value < 0:
                    raise ValueError(f"{where} must be a whole number >= 0, got {value!r}")
                entry[key] = int(value)
            elif key in self.state_arrays:
                if not (hasattr(value, "shape") and hasattr(value, "dtype")):
                    raise ValueError(f"{where} must be an array, got {type(value).__name__}")
                if np.dtype(value.dtype).kind not in "fiu":
                    raise ValueError(f"{where} must hold numbers, not {value.dtype}")
                if not bool(array_module(value).isfinite(value).all()):
                    raise ValueError(f"{where} holds NaN or infinity")
            else:
                raise ValueError(f"{name}.load_state_dict: parameter {i}'s saved state has "
                                 f"the key {str(key)!r}, which {name} does not keep; it keeps "
                                 f"{sorted(('step',) + tuple(self.state_arrays))}")
        return entry

    def _restore(self, saved, params):
        """Per-parameter state from saved NumPy copies, in each parameter's array type."""
        name = type(self).__name__
        if len(saved) != len(params):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved)} "
                             f"parameters, this optimizer has {len(params)}")
        state = []
        for i, (p, s) in enumerate(zip(params, saved)):
            xp = array_module(p.data)
            for key, v in s.items():
                if hasattr(v, "shape") and tuple(v.shape) != p.shape:
                    raise ValueError(f"{name}.load_state_dict: parameter {i} has shape "
                                     f"{p.shape} but its saved {key!r} has shape "
                                     f"{tuple(v.shape)}")
            state.append({k: (xp.array(v, dtype=p.data.dtype) if hasattr(v, "shape") else v)
                          for k, v in s.items()})
        return state

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hyper}, {len(self.params)} parameters)"


def _to_numpy(a):
    """A host copy of a buffer (from the GPU when it is there)."""
    return to_host(a).copy() if is_device_array(a) else np.array(a)


def _number(optimizer, key, value, low=None, below=None):
    """``value`` as a float if it is a finite real number in [low, below), else a
    ValueError naming the optimizer and ``key``."""
    return finite_number(value, f"{type(optimizer).__name__}: {key}", low=low, below=below)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (PyTorch's rule).

        g <- g + weight_decay * p                    (L2 penalty, if weight_decay > 0)
        b <- g                                       (first step)
        b <- momentum * b + (1 - dampening) * g      (later steps)
        d <- g + momentum * b    if nesterov, else   d <- b     (if momentum > 0; else d = g)
        p <- p - lr * d

    SGD(params=None, lr=0.01, momentum=0, dampening=0, weight_decay=0, nesterov=False)
    """
    defaults = dict(lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)
    state_arrays = ("momentum_buffer",)

    def __init__(self, params=None, lr=None, momentum=None, dampening=None, weight_decay=None,
                 nesterov=None, *, learning_rate=None):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov,
                         learning_rate=learning_rate)

    def check_hyperparameters(self, hyper):
        checked = super().check_hyperparameters(hyper)
        checked["momentum"] = _number(self, "momentum", hyper["momentum"], low=0)
        checked["dampening"] = _number(self, "dampening", hyper["dampening"])
        if not isinstance(hyper["nesterov"], (bool, np.bool_)):
            raise ValueError(f"SGD: nesterov must be True or False, got {hyper['nesterov']!r}")
        checked["nesterov"] = bool(hyper["nesterov"])
        if checked["nesterov"] and (checked["momentum"] <= 0 or checked["dampening"] != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        return checked

    def update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()           # b = g
            else:
                buf *= self.momentum                                 # b = mu b + (1 - damp) g
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        state["step"] = state.get("step", 0) + 1
        p.data -= self.lr * g                                        # p = p - lr d


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule, with optional L2 weight decay.

        g <- g + weight_decay * p                  (L2 penalty, coupled to the gradient)
        m <- beta1 m + (1 - beta1) g               (first moment)
        v <- beta2 v + (1 - beta2) g^2             (second moment)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)   (bias correction)
        p <- p - lr m_hat / (sqrt(v_hat) + eps)

    Adam(params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    """
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    state_arrays = ("exp_avg", "exp_avg_sq")
    decoupled_weight_decay = False

    def __init__(self, params=None, lr=None, betas=None, eps=None, weight_decay=None, *,
                 learning_rate=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         learning_rate=learning_rate)

    def check_hyperparameters(self, hyper):
        checked = super().check_hyperparameters(hyper)
        betas = hyper["betas"]
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, numbers.Real) and not isinstance(b, bool)
                           and 0 <= b < 1 for b in betas)):
            raise ValueError(f"{type(self).__name__}: betas must be two numbers in [0, 1), "
                             f"got {betas!r}")
        checked["betas"] = tuple(float(b) for b in betas)
        checked["eps"] = _number(self, "eps", hyper["eps"], low=0)
        return checked

    def check_state(self, i, entry):
        """Adam keeps the step count and both moments together: all three, or none."""
        entry = super().check_state(i, entry)
        keys = {"step", "exp_avg", "exp_avg_sq"}
        if entry and set(entry) != keys:
            raise ValueError(f"{type(self).__name__}.load_state_dict: parameter {i}'s saved "
                             f"state has {sorted(entry)}; it needs all of {sorted(keys)} "
                             f"(or none)")
        return entry

    def update(self, p, g, state):
        xp = array_module(p.data)
        beta1, beta2 = self.betas
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
        state["step"] += 1
        t = state["step"]
        if self.weight_decay:
            if self.decoupled_weight_decay:
                p.data *= 1 - self.lr * self.weight_decay           # AdamW: p = p - lr wd p
            else:
                g = g + self.weight_decay * p.data                  # Adam: g = g + wd p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1                                                  # m = b1 m + (1 - b1) g
        m += (1 - beta1) * g
        v *= beta2                                                  # v = b2 v + (1 - b2) g^2
        v += (1 - beta2) * g * g
        step_size = self.lr / (1 - beta1 ** t)                      # lr / (1 - b1^t)
        denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps   # sqrt(v_hat) + eps
        p.data -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's rule.

        p <- p - lr * weight_decay * p             (shrink, apart from the gradient)
        then the Adam step without any L2 term in g.

    AdamW(params=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)
    """
    defaults = dict(Adam.defaults, weight_decay=1e-2)
    decoupled_weight_decay = True


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def by_saved_name(name):
    """The optimizer class a saved state names ('SGD', 'keras.Adam'), or None."""
    if not isinstance(name, str):
        return None
    if name.startswith("keras."):
        from .keras import optimizers
        cls = optimizers.OPTIMIZERS.get(name[len("keras."):].lower())
    else:
        cls = OPTIMIZERS.get(name.lower())
    return cls if cls is not None and cls.saved_name() == name else None


def get(identifier):
    """An optimizer from a name ('sgd', 'adam', 'adamw'), a class, or an instance."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {identifier!r}; valid names are "
                             f"{sorted(OPTIMIZERS)}, or pass an object such as "
                             f"mc.optim.SGD(lr=0.01)")
        return OPTIMIZERS[key]()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, Optimizer):
        return identifier
    raise TypeError(f"optimizer must be a name ({sorted(OPTIMIZERS)}) or an Optimizer object; "
                    f"got {identifier!r}")
