"""keras.optimizers: SGD, Adam, AdamW, RMSprop, Adagrad with Keras' arguments and Keras'
update rules (keras/src/optimizers, Keras 3), so a Keras recipe gives Keras' numbers.
minicnn.optim keeps PyTorch's rules; the two differ where the docstrings say.

Notation: p a weight, g its gradient, lr the learning rate, t the step (1 first).
Every step, before the rule (Keras' order): the gradients are clipped if asked
(``clipnorm``: each to norm <= clipnorm; ``global_clipnorm``: all together;
``clipvalue``: each entry to [-clipvalue, clipvalue]), then with ``weight_decay`` wd
every weight shrinks, decoupled from the gradient: p <- p - lr wd p.

    compile(optimizer="adam")                  # Keras' Adam, epsilon 1e-7
    keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
"""
import math

import numpy as np

from .. import optim
from ..arguments import finite_number
from ..backend import array_module


class KerasOptimizer(optim.Optimizer):
    """What Keras' optimisers share: learning_rate, weight_decay, clipnorm, clipvalue,
    global_clipnorm (only one of the three), and the step order above. A subclass sets
    ``defaults`` (minicnn's ``lr`` is Keras' learning_rate) and ``update``."""
    shared = dict(weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None)

    def __init__(self, learning_rate, name=None, **hyper):
        unsupported = {k: v for k, v in hyper.items() if k in UNSUPPORTED and v not in
                       UNSUPPORTED[k]}
        if unsupported:
            raise TypeError(f"{type(self).__name__}: {sorted(unsupported)} are not supported by "
                            f"minicnn; leave them at Keras' defaults")
        hyper = {k: v for k, v in hyper.items() if k not in UNSUPPORTED}
        self.name = name or type(self).__name__.lower()
        super().__init__(None, lr=learning_rate, **hyper)

    def check_hyperparameters(self, hyper):
        checked = dict(hyper)
        checked["lr"] = self._real("learning_rate", hyper["lr"], low=0)
        for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            value = hyper[key]
            checked[key] = None if value is None else self._real(key, value, low=0)
        if sum(checked[k] is not None for k in ("clipnorm", "clipvalue", "global_clipnorm")) > 1:
            raise ValueError(f"{type(self).__name__}: only one of clipnorm, clipvalue and "
                             f"global_clipnorm can be set")
        return checked

    def _real(self, key, value, low=None, below=None):
        return finite_number(value, f"{type(self).__name__}: {key}", low=low, below=below)

    def _bool(self, key, value):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{type(self).__name__}: {key} must be True or False, got {value!r}")
        return bool(value)

    def hyperparameters(self):
        return {name: getattr(self, name) for name in self.defaults}

    def prepare_step(self, params, grads):
        """Keras' order: clip the gradients, then decay the weights (decoupled)."""
        if self.clipnorm:
            grads = [g * (self.clipnorm / max(_norm([g]), self.clipnorm)) for g in grads]
        elif self.global_clipnorm:
            norm = _norm(grads)
            grads = [g * (self.global_clipnorm * min(1 / norm if norm else math.inf,
                                                     1 / self.global_clipnorm))
                     for g in grads]
        elif self.clipvalue:
            grads = [array_module(g).clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.weight_decay:
            for p in params:
                p.data -= p.data * (self.weight_decay * self.lr)       # p = p - lr wd p
        return grads

    def _buffer(self, state, key, p, fill=0.0):
        if key not in state:
            state[key] = array_module(p.data).full_like(p.data, fill)
        return state[key]

    def __repr__(self):
        hyper = ", ".join(f"{'learning_rate' if k == 'lr' else k}={v!r}"
                          for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hyper}, {len(self.params)} parameters)"


def _norm(arrays):
    """sqrt(sum of squares) over every entry of every array, as a float."""
    return math.sqrt(sum(float((a.astype(np.float64) ** 2).sum()) for a in arrays))


# Keras arguments whose features minicnn does not build: allowed only at their defaults
UNSUPPORTED = {"use_ema": (False,), "ema_momentum": (0.99,),
               "ema_overwrite_frequency": (None,), "loss_scale_factor": (None,),
               "gradient_accumulation_steps": (None,)}


class SGD(KerasOptimizer):
    """Keras' SGD (a velocity that holds the learning rate):

        m <- momentum m - lr g
        p <- p + m                                  (nesterov: p <- p + momentum m - lr g)
        (momentum 0: p <- p - lr g)

    SGD(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
        clipvalue=None, global_clipnorm=None, name='SGD'). PyTorch's (mc.optim.SGD) keeps
    b = momentum b + g and steps lr b: the same steps while lr is constant.
    """
    defaults = dict(lr=0.01, momentum=0.0, nesterov=False, **KerasOptimizer.shared)
    state_arrays = ("momentum",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate, name, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, **kwargs)

    def check_hyperparameters(self, hyper):
        checked = super().check_hyperparameters(hyper)
        checked["momentum"] = self._real("momentum", hyper["momentum"], low=0, below=1 + 1e-12)
        checked["nesterov"] = self._bool("nesterov", hyper["nesterov"])
        return checked

    def update(self, p, g, state):
        state["step"] = state.get("step", 0) + 1
        if not self.momentum:
            p.data -= self.lr * g                                   # p = p - lr g
            return
        m = self._buffer(state, "momentum", p)
        m *= self.momentum                                          # m = momentum m - lr g
        m -= self.lr * g
        if self.nesterov:
            p.data += self.momentum * m - self.lr * g              # p = p + momentum m - lr g
        else:
            p.data += m                                             # p = p + m


class Adam(KerasOptimizer):
    """Keras' Adam: epsilon is added to sqrt(v), the moment *before* bias correction.

        m <- m + (1 - beta_1) (g - m)           v <- v + (1 - beta_2) (g^2 - v)
        (amsgrad: v_max <- max(v_max, v), used for v)
        alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
        p <- p - alpha m / (sqrt(v) + epsilon)

    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
         weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name='adam').
    PyTorch's (mc.optim.Adam, eps 1e-8) adds eps to sqrt(v_hat) = sqrt(v / (1 - beta_2^t)):
    Keras' epsilon is that eps times sqrt(1 - beta_2^t) -- at step 1 with the defaults an
    effective 3.2e-6 against 1e-8, which matters where v is small.
    """
    defaults = dict(lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                    **KerasOptimizer.shared)
    state_arrays = ("momentum", "velocity", "velocity_hat")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, name, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, **kwargs)

    def check_hyperparameters(self, hyper):
        checked = super().check_hyperparameters(hyper)
        for key in ("beta_1", "beta_2"):
            checked[key] = self._real(key, hyper[key], low=0, below=1)
        checked["epsilon"] = self._real("epsilon", hyper["epsilon"], low=0)
        checked["amsgrad"] = self._bool("amsgrad", hyper["amsgrad"])
        return checked

    def update(self, p, g, state):
        xp = array_module(p.data)
        state["step"] = t = state.get("step", 0) + 1
        m, v = self._buffer(state, "momentum", p), self._buffer(state, "velocity", p)
        m += (1 - self.beta_1) * (g - m)                            # m = m + (1 - b1)(g - m)
        v += (1 - self.beta_2) * (g * g - v)                        # v = v + (1 - b2)(g^2 - v)
        if self.amsgrad:
            v_max = self._buffer(state, "velocity_hat", p)
            xp.maximum(v_max, v, out=v_max)                         # v_max = max(v_max, v)
            v = v_max
        alpha = self.lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        p.data -= alpha * m / (xp.sqrt(v) + self.epsilon)           # p = p - alpha m / (sqrt v + eps)


class AdamW(Adam):
    """Keras' AdamW: Adam with weight_decay=0.004 by default (decoupled: p <- p - lr wd p
    before the Adam step, as every Keras optimiser applies weight_decay).

    AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
          amsgrad=False, ...). PyTorch's AdamW (mc.optim.AdamW) defaults to 1e-2.
    """
    defaults = dict(Adam.defaults, weight_decay=0.004)

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adamw", **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm, name, **kwargs)


class RMSprop(KerasOptimizer):
    """Keras' RMSprop: epsilon inside the square root.

        v <- rho v + (1 - rho) g^2
        (centered: a <- rho a + (1 - rho) g, and v - a^2 for v below)
        step = lr g / sqrt(v + epsilon)
        p <- p - step                 (momentum > 0: b <- momentum b + step; p <- p - b)

    RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
            weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
            name='rmsprop'). (PyTorch's RMSprop: alpha=0.99, eps=1e-8 outside the root.)
    """
    defaults = dict(lr=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                    **KerasOptimizer.shared)
    state_arrays = ("velocity", "momentum", "average_gradient")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, name, rho=rho, momentum=momentum, epsilon=epsilon,
                         centered=centered, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, **kwargs)

    def check_hyperparameters(self, hyper):
        checked = super().check_hyperparameters(hyper)
        checked["rho"] = self._real("rho", hyper["rho"], low=0, below=1)
        checked["momentum"] = self._real("momentum", hyper["momentum"], low=0, below=1 + 1e-12)
        checked["epsilon"] = self._real("epsilon", hyper["epsilon"], low=0)
        checked["centered"] = self._bool("centered", hyper["centered"])
        return checked

    def update(self, p, g, state):
        xp = array_module(p.data)
        state["step"] = state.get("step", 0) + 1
        v = self._buffer(state, "velocity", p)
        v *= self.rho                                               # v = rho v + (1 - rho) g^2
        v += (1 - self.rho) * g * g
        denominator = v + self.epsilon
        if self.centered:
            a = self._buffer(state, "average_gradient", p)
            a *= self.rho                                           # a = rho a + (1 - rho) g
            a += (1 - self.rho) * g
            denominator = denominator - a * a                       # v - a^2 + eps
        step = self.lr * g / xp.sqrt(denominator)                   # lr g / sqrt(v + eps)
        if self.momentum > 0:
            b = self._buffer(state, "momentum", p)
            b *= self.momentum                                      # b = momentum b + step
            b += step
            step = b
        p.data -= step


class Adagrad(KerasOptimizer):
    """Keras' Adagrad: the accumulator starts at initial_accumulator_value, epsilon
    inside the square root.

        acc <- acc + g^2
        p <- p - lr g / sqrt(acc + epsilon)

    Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
            weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
            name='adagrad'). (PyTorch's: lr=0.01, accumulator from 0, eps=1e-10 outside.)
    """
    defaults = dict(lr=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                    **KerasOptimizer.shared)
    state_arrays = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate, name,
                         initial_accumulator_value=initial_accumulator_value, epsilon=epsilon,
                         weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, **kwargs)

    def check_hyperparameters(self, hyper):
        checked = super().check_hyperparameters(hyper)
        checked["initial_accumulator_value"] = self._real(
            "initial_accumulator_value", hyper["initial_accumulator_value"], low=0)
        checked["epsilon"] = self._real("epsilon", hyper["epsilon"], low=0)
        return checked

    def update(self, p, g, state):
        xp = array_module(p.data)
        state["step"] = state.get("step", 0) + 1
        acc = self._buffer(state, "accumulator", p, self.initial_accumulator_value)
        acc += g * g                                                # acc = acc + g^2
        p.data -= self.lr * g / xp.sqrt(acc + self.epsilon)         # p = p - lr g / sqrt(acc + eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier):
    """An optimizer from Keras' names ('sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'; Keras'
    rules and defaults), a class or an instance (minicnn.optim's work too)."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {identifier!r}; valid names are "
                             f"{sorted(OPTIMIZERS)}, or pass an object such as "
                             f"keras.optimizers.SGD(learning_rate=0.01)")
        return OPTIMIZERS[key]()
    return optim.get(identifier)
