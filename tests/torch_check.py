"""The one helper that runs a computation in minicnn and in PyTorch and compares them.

    check_against_torch(lambda x, w: F.conv2d(x, w, stride=2),
                        lambda x, w: torch.nn.functional.conv2d(x, w, stride=2),
                        [x, w], dtype="float64")

Both functions get the same input arrays (as minicnn Tensors / torch tensors that
require grad). The helper compares the forward outputs, then back-propagates the same
random output gradient through both and compares every input's gradient.

Tolerances (``TOLERANCES``), elementwise |a - b| <= rtol |b| + atol max(1, max|b|):

* float64: rtol 1e-9, atol 1e-12. Both libraries sum in a different order; for the
  sums of at most a few thousand terms used here that moves results by ~1e-15 relative,
  so 1e-9 is a loose bound that still catches any real mistake (a wrong index or scale).
* float32: rtol 1e-4, atol 1e-5. Unit roundoff is 6e-8; a sum of K terms carries an
  error up to ~K u of the sum of |terms| (about 6e-5 for K = 1000, typically sqrt(K) u).
  The atol term covers results that cancel to near zero (a saturated softmax's
  gradient, a sum of terms of both signs): they carry the rounding error of the O(1)
  numbers they came from, so it scales with the largest magnitude and at least with 1,
  the scale of the test data.
"""
import numpy as np
import torch

import minicnn as mc

TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-4, 1e-5)}


def assert_close(actual, expected, dtype, what):
    """Elementwise closeness with the tolerance of ``dtype``; the message says what differed."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    err = np.abs(actual - expected)
    bound = rtol * np.abs(expected) + atol * max(scale, 1.0)
    if not np.all(err <= bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(f"{what} ({np.dtype(dtype)}): element {tuple(int(k) for k in i)} "
                             f"minicnn {actual[i]!r} vs torch {expected[i]!r} "
                             f"(|diff| {err[i]:.3g}, allowed {bound[i]:.3g}; "
                             f"max |diff| {err.max():.3g})")


def check_against_torch(mc_fn, torch_fn, inputs, dtype="float64", requires_grad=None, seed=0):
    """Compare mc_fn(*Tensors) with torch_fn(*torch tensors): output and input gradients.

    inputs: arrays (cast to ``dtype``). requires_grad: one bool per input (default all).
    Returns the minicnn output Tensor.
    """
    dtype = np.dtype(dtype)
    arrays = [np.asarray(a, dtype=dtype) for a in inputs]
    requires_grad = requires_grad or [True] * len(arrays)
    mc_inputs = [mc.Tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, requires_grad)]
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
