"""Compare two computations elementwise, and minicnn against PyTorch (forward and backward).

    assert_matches_torch(lambda x, w: F.conv2d(x, w, stride=2),
                         lambda x, w: torch.nn.functional.conv2d(x, w, stride=2),
                         [x, w], dtype="float64")

Both functions get the same input arrays (as minicnn Tensors / torch tensors that
require grad). The outputs are compared, then the same random output gradient is
back-propagated through both and every input's gradient is compared.

Tolerances (``TOLERANCES``), elementwise |a - b| <= rtol |b| + atol max(1, max|b|):

* float64: rtol 1e-9, atol 1e-12. Two implementations sum in a different order; for the
  sums of at most a few thousand terms used here that moves results by ~1e-15 relative,
  so 1e-9 is a loose bound that still catches any real mistake (a wrong index or scale).
* float32: rtol 1e-4, atol 1e-5. Unit roundoff is 6e-8; a sum of K terms carries an
  error up to ~K u of the sum of |terms| (about 6e-5 for K = 1000, typically sqrt(K) u).
  The atol term covers results that cancel to near zero (a saturated softmax's
  gradient, a sum of terms of both signs): they carry the rounding error of the O(1)
  numbers they came from, so it scales with the largest magnitude and at least with 1,
  the scale of the test data.

The same table holds minicnn's backends to each other and float32 to float64 in
``check_layer``. PyTorch is needed only by ``assert_matches_torch`` (it is not a
dependency of minicnn): without it, that function raises an ImportError saying how to
install it.
"""
import numpy as np

from ..device import to_host
from ..tensor import Tensor

TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-4, 1e-5)}


def tolerance(dtype):
    """(rtol, atol) of ``TOLERANCES`` for a float dtype (a clear error for any other)."""
    dtype = np.dtype(dtype)
    if dtype not in TOLERANCES:
        raise ValueError(f"no tolerance for {dtype}: compare float32 or float64 results")
    return TOLERANCES[dtype]


def assert_close(actual, expected, dtype, what, names=("minicnn", "torch")):
    """Elementwise closeness with the tolerance of ``dtype``; the message says what differed.

    actual, expected: arrays (host or GPU) of the same shape. ``names`` label the two in
    the message ("minicnn 0.5 vs torch 0.7")."""
    actual = np.asarray(to_host(actual), dtype=np.float64)
    expected = np.asarray(to_host(expected), dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    rtol, atol = tolerance(dtype)
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    err = np.abs(actual - expected)
    bound = rtol * np.abs(expected) + atol * max(scale, 1.0)
    if not np.all(err <= bound):                    # a NaN fails too, and argmax finds it
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(f"{what} ({np.dtype(dtype)}): element {tuple(int(k) for k in i)} "
                             f"{names[0]} {actual[i]!r} vs {names[1]} {expected[i]!r} "
                             f"(|diff| {err[i]:.3g}, allowed {bound[i]:.3g}; "
                             f"max |diff| {err.max():.3g})")


def import_torch(who="assert_matches_torch"):
    """The torch module, or an ImportError that says how to get it."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"{who} compares with PyTorch, which is not installed: "
                          f"pip install torch (a CPU build is enough); minicnn itself does "
                          f"not need it") from error
    return torch


def assert_matches_torch(mc_fn, torch_fn, inputs, dtype="float64", requires_grad=None, seed=0):
    """Compare mc_fn(*Tensors) with torch_fn(*torch tensors): output and input gradients.

    inputs: arrays (cast to ``dtype``). requires_grad: one bool per input (default all).
    seed: seeds the random output gradient both backward passes get. Tolerances:
    ``TOLERANCES`` (module docstring). Raises AssertionError naming the output or the
    input gradient, the element and both values. Returns the minicnn output Tensor.
    """
    torch = import_torch()
    dtype = np.dtype(dtype)
    arrays = [np.asarray(a, dtype=dtype) for a in inputs]
    requires_grad = requires_grad or [True] * len(arrays)
    if len(requires_grad) != len(arrays):
        raise ValueError(f"assert_matches_torch: {len(arrays)} inputs but "
                         f"{len(requires_grad)} requires_grad flags")
    mc_inputs = [Tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, requires_grad)]
    torch_inputs = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, requires_grad)]

    out = mc_fn(*mc_inputs)
    ref = torch_fn(*torch_inputs)
    assert out.dtype == dtype, f"minicnn output dtype {out.dtype}, expected {dtype}"
    assert_close(out.data, ref.detach().numpy(), dtype, "forward output")

    grad_out = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(grad_out)
    ref.backward(torch.tensor(grad_out))
    for i, (x, t) in enumerate(zip(mc_inputs, torch_inputs)):
        if not t.requires_grad:
            continue
        expected = t.grad.numpy() if t.grad is not None else np.zeros_like(arrays[i])
        assert x.grad is not None, f"input {i}: minicnn computed no gradient"
        assert x.grad.dtype == dtype, f"input {i}: gradient dtype {x.grad.dtype}, expected {dtype}"
        assert_close(x.grad, expected, dtype, f"gradient of input {i}")
    return out
