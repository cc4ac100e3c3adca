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

Notation in the docstrings: p a parameter, g its gradient, lr the learning rate, t the
step count (1 for the first step). Parameters whose ``grad`` is None (not reached by the
last backward) are skipped and their buffers are left alone. Updates are made in place
on ``p.data`` and keep its dtype.
"""
import abc
import math
import numbers

import numpy as np

from .backend import array_module
from .tensor import Tensor


class Optimizer(abc.ABC):
    """Base class: holds the parameters, the hyper-parameters and per-parameter state.

    A subclass lists its hyper-parameters in ``defaults`` and implements
    ``update(p, g, state)``, which changes ``p.data`` in place and keeps its buffers in
    the dict ``state`` (one dict per parameter, created empty).
    """
    defaults = {}

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
        for name, default in self.defaults.items():
            value = hyper.get(name)
            setattr(self, name, default if value is None else value)
        self.check_hyperparameters()
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

    def check_hyperparameters(self):
        if not self.lr >= 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {self.lr}")
        if getattr(self, "weight_decay", 0) < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, "
                             f"got {self.weight_decay}")

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
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad if p.grad.dtype == p.data.dtype else p.grad.astype(p.data.dtype)
            self.update(p, g, state)

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
        return {"optimizer": type(self).__name__,
                "hyperparameters": self.hyperparameters(),
                "state": [{k: copy(v) for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict`` saved; continuing then matches never stopping."""
        name = state_dict.get("optimizer")
        if name != type(self).__name__:
            raise ValueError(f"this state was saved by a {name} optimizer; it cannot be loaded "
                             f"into {type(self).__name__}")
        for key, value in state_dict["hyperparameters"].items():
            setattr(self, key, tuple(value) if isinstance(value, list) else value)
        saved = [dict(s) for s in state_dict["state"]]
        if self.params:
            self.state = self._restore(saved, self.params)
        else:                                   # not bound yet: bind() restores it
            self._saved_state = saved

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
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.array(a)


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

    def __init__(self, params=None, lr=None, momentum=None, dampening=None, weight_decay=None,
                 nesterov=None, *, learning_rate=None):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov,
                         learning_rate=learning_rate)

    def check_hyperparameters(self):
        super().check_hyperparameters()
        if self.momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {self.momentum}")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")

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
    decoupled_weight_decay = False

    def __init__(self, params=None, lr=None, betas=None, eps=None, weight_decay=None, *,
                 learning_rate=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         learning_rate=learning_rate)

    def check_hyperparameters(self):
        super().check_hyperparameters()
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"{type(self).__name__}: betas must be two numbers in [0, 1), "
                             f"got {self.betas}")
        if self.eps < 0:
            raise ValueError(f"{type(self).__name__}: eps must be >= 0, got {self.eps}")

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
