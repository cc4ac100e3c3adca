"""Numerical gradient check: central differences in float64 against backward().

Any output is turned into a scalar with a fixed random projection,

    L(x) = sum_k y_k(x) r_k,      r ~ N(0, 1)   (seeded),

so that one backward pass (with grad_output = r) gives dL/dx for every input while
every output element still takes part. Two kinds of comparison follow:

* along random directions d (all inputs at once): the directional derivative
  (L(x + e d) - L(x - e d)) / 2e against sum_i <dL/dx_i, d_i>;
* per element: (L(x + e u_j) - L(x - e u_j)) / 2e against dL/dx_j.

Kinks. ReLU at 0 or a max-pool tie has no derivative, and a point within e of one
gives a meaningless central difference. They show up as one-sided slopes that
disagree, (L(x) - L(x - e u)) / e != (L(x + e u) - L(x)) / e; such elements are skipped
and listed in the result (or counted as failures with ``kinks="fail"``).

A failure names the input, the element, the numeric and analytic values, and the seed.
"""
from dataclasses import dataclass, field

import numpy as np

from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """Raised by gradcheck when numeric and analytic gradients disagree."""


@dataclass
class GradcheckResult:
    passed: bool
    seed: int
    checked: int = 0                       # comparisons made
    max_error: float = 0.0                 # largest |numeric - analytic| among them
    kinks: list = field(default_factory=list)      # (input, element, left slope, right slope)
    failures: list = field(default_factory=list)   # messages

    def __bool__(self):
        return self.passed


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, directions=3,
              max_elements=None, kinks="skip", raise_exception=True, names=None):
    """Compare the gradients backward() computes with central differences in float64.

    fn            callable(*tensors) -> Tensor (or a tuple of Tensors); deterministic
    inputs        arrays (wrapped as float64 Tensors) or float64 Tensors such as a
                  layer's Parameters (perturbed in place and restored)
    eps           finite-difference step
    atol, rtol    pass when |numeric - analytic| <= atol + rtol * |numeric|
    seed          seeds the output projection, the directions and element sampling
    directions    how many random-direction checks
    max_elements  per input, check at most this many elements (chosen at random);
                  None checks every element
    kinks         "skip" (report them in the result) or "fail"
    names         optional, one name per input for the messages ("input 1 'kernel' ...")
    Returns a GradcheckResult (truthy when passed); raises GradcheckError on failure
    unless raise_exception=False.
    """
    if kinks not in ("skip", "fail"):
        raise ValueError(f"gradcheck: kinks must be 'skip' or 'fail', got {kinks!r}")
    if names is not None and len(names) != len(inputs):
        raise ValueError(f"gradcheck: {len(inputs)} inputs but {len(names)} names")
    tensors = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.dtype != np.float64:
                raise TypeError(f"gradcheck: input {i} is {x.dtype}; finite differences need "
                                f"float64 (use .double() on the tensor or model)")
            x.requires_grad = True
            tensors.append(x)
        else:
            tensors.append(Tensor(np.array(x, dtype=np.float64), requires_grad=True))
    # A stream of its own: test data are often drawn as default_rng(seed) too, and a
    # projection r equal to the input x (an op that keeps the shape) would hide a
    # transposed gradient, since x^T r would be symmetric.
    rng = np.random.default_rng((seed, 0x6763))
    result = GradcheckResult(passed=True, seed=seed)

    # analytic gradients of L = sum(y * r)
    saved_grads = [t.grad for t in tensors]
    for t in tensors:
        t.grad = None
    outputs = _as_tuple(fn(*tensors))
    projections = [rng.standard_normal(y.shape) for y in outputs]
    total = sum((y * r).sum() for y, r in zip(outputs, projections))
    total.backward()
    analytic = [t.grad if t.grad is not None else np.zeros(t.shape) for t in tensors]
    for t, g in zip(tensors, saved_grads):
        t.grad = g

    def loss():
        with no_grad():
            ys = _as_tuple(fn(*tensors))
        return float(sum((y.data * r).sum() for y, r in zip(ys, projections)))

    base = loss()

    def compare(numeric, exact, left, right, where):
        err = abs(numeric - exact)
        allowed = atol + rtol * abs(numeric)
        # The central difference is the mean of the one-sided slopes; if they differ by
        # more than the tolerance it cannot be trusted to that tolerance: a kink.
        if abs(left - right) > 2 * (atol + rtol * max(abs(left), abs(right))):
            result.kinks.append((where, left, right))
            if kinks == "skip":
                return
        result.checked += 1
        result.max_error = max(result.max_error, err)
        if err > allowed or not np.isfinite(exact):
            result.failures.append(
                f"{where}: numeric {numeric:.10g} vs analytic {exact:.10g} "
                f"(|diff| {err:.3g} > allowed {allowed:.3g}; one-sided slopes "
                f"{left:.6g} / {right:.6g}), seed={seed}")

    # 1. along random directions through all inputs at once
    for k in range(directions):
        d = [rng.standard_normal(t.shape) for t in tensors]
        norm = np.sqrt(sum((di ** 2).sum() for di in d)) or 1.0
        d = [di / norm for di in d]
        plus, minus = _perturbed(tensors, d, eps, loss)
        exact = float(sum((g * di).sum() for g, di in zip(analytic, d)))
        compare((plus - minus) / (2 * eps), exact, (base - minus) / eps, (plus - base) / eps,
                f"random direction {k}")

    # 2. element by element
    for i, t in enumerate(tensors):
        if not t.data.flags.c_contiguous:
            t.data = np.ascontiguousarray(t.data)
        flat = t.data.reshape(-1)          # a view: writing it perturbs the input
        elements = np.arange(flat.size)
        if max_elements is not None and flat.size > max_elements:
            elements = np.sort(rng.choice(flat.size, max_elements, replace=False))
        for j in elements:
            old = flat[j]
            flat[j] = old + eps
            plus = loss()
            flat[j] = old - eps
            minus = loss()
            flat[j] = old
            index = tuple(int(v) for v in np.unravel_index(j, t.shape))
            name = f" {names[i]!r}" if names is not None else ""
            compare((plus - minus) / (2 * eps), float(analytic[i].reshape(-1)[j]),
                    (base - minus) / eps, (plus - base) / eps,
                    f"input {i}{name} (shape {t.shape}) element {index}")

    result.passed = not result.failures
    if not result.passed and raise_exception:
        shown = "\n  ".join(result.failures[:10])
        more = f"\n  ... and {len(result.failures) - 10} more" if len(result.failures) > 10 else ""
        raise GradcheckError(f"gradcheck failed ({len(result.failures)} of {result.checked} "
                             f"checks, seed={seed}):\n  {shown}{more}")
    return result


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _perturbed(tensors, direction, eps, loss):
    """L(x + eps d) and L(x - eps d), restoring x afterwards."""
    originals = [t.data.copy() for t in tensors]
    values = []
    for sign in (1, -1):
        for t, x0, d in zip(tensors, originals, direction):
            t.data[...] = x0 + sign * eps * d
        values.append(loss())
    for t, x0 in zip(tensors, originals):
        t.data[...] = x0
    return values
