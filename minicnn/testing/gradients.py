"""check_gradients: ``mc.gradcheck`` with what a property test needs.

    @given(mst.arrays(mst.image_shapes()), mst.seeds)
    def test_my_op_gradients(x, seed):
        check_gradients(my_op, [x], seed=seed)

* float64: array inputs are converted; a float32 Tensor (a layer's Parameter) is refused
  with a message that says to call ``.double()``.
* Kinks: ReLU at 0 or a max-pool tie has no derivative, and the central difference of a
  point within ``eps`` of one means nothing. gradcheck finds them (the one-sided slopes
  disagree) and they are skipped and reported: in the result, and inside a hypothesis
  test as a note printed with a failing example. Only when most comparisons sat at
  kinks (more than ``max_kink_fraction``) is the check meaningless, and it fails saying
  so; ``kinks="fail"`` counts every kink as a failure instead.
* A failure is a ``GradcheckError`` (an AssertionError) that names the input (by
  ``names`` when given), the element, the numeric and the analytic value and the seed;
  inside ``@given`` hypothesis adds the example that made the inputs.
"""
import numpy as np

from ..gradcheck import GradcheckError, gradcheck
from ..tensor import Tensor


def _note(text):
    """hypothesis.note inside a hypothesis test (shown with a failing example), else nothing."""
    from hypothesis import note
    from hypothesis.control import currently_in_test_context
    if currently_in_test_context():
        note(text)


def describe_inputs(inputs, names=None):
    """'0 'x' (2, 3) float64, 1 (3,) float64': what the messages say about the inputs."""
    parts = []
    for i, x in enumerate(inputs):
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        name = f" {names[i]!r}" if names is not None else ""
        parts.append(f"{i}{name} {tuple(data.shape)} {data.dtype}")
    return ", ".join(parts)


def check_gradients(fn, inputs, seed=0, eps=1e-6, atol=1e-5, rtol=1e-3, directions=3,
                    max_elements=None, kinks="skip", max_kink_fraction=0.5, names=None,
                    reproduce=None):
    """Check fn's backward against central differences in float64 (``mc.gradcheck``).

    fn             callable(*tensors) -> Tensor (or a tuple of Tensors), deterministic
    inputs         arrays (converted to float64) or float64 Tensors / Parameters
                   (perturbed in place and restored)
    seed           seeds the output projection, the directions and the sampled elements;
                   give the seed your example's data came from, so one number reproduces
    eps, atol, rtol, directions, max_elements   as ``mc.gradcheck``
    kinks          "skip" (report them) or "fail" (every kink is a failure)
    max_kink_fraction   fail when more than this fraction of the comparisons were
                   skipped as kinks: the inputs sit on kinks, draw others
    names          one name per input, for the messages
    reproduce      the failure message's last line, how to rerun it (default:
                   "Reproduce: check_gradients(fn, inputs, seed=S) with these inputs.")
    Returns the GradcheckResult; raises GradcheckError (an AssertionError) on failure.
    """
    if not 0 <= max_kink_fraction <= 1:
        raise ValueError(f"check_gradients: max_kink_fraction must be in [0, 1], got "
                         f"{max_kink_fraction!r}")
    result = gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed,
                       directions=directions, max_elements=max_elements, kinks=kinks,
                       raise_exception=False, names=names)
    where = f"inputs {describe_inputs(inputs, names)}; seed={seed}"
    if reproduce is None:
        reproduce = f"Reproduce: check_gradients(fn, inputs, seed={seed}) with these inputs."
    if result.kinks:
        shown = "; ".join(f"{w} (one-sided slopes {left:.6g} / {right:.6g})"
                          for w, left, right in result.kinks[:5])
        more = f"; ... {len(result.kinks) - 5} more" if len(result.kinks) > 5 else ""
        _note(f"check_gradients: {len(result.kinks)} comparison(s) at kinks "
              f"({'skipped' if kinks == 'skip' else 'counted as failures'}): {shown}{more}")
    if result.failures:
        shown = "\n  ".join(result.failures[:10])
        more = (f"\n  ... and {len(result.failures) - 10} more"
                if len(result.failures) > 10 else "")
        raise GradcheckError(
            f"check_gradients: backward disagrees with central differences in "
            f"{len(result.failures)} of {result.checked} comparisons ({where}):\n  {shown}{more}"
            + (f"\n{reproduce}" if reproduce else ""))
    total = result.checked + (len(result.kinks) if kinks == "skip" else 0)
    if kinks == "skip" and result.kinks and len(result.kinks) > max_kink_fraction * total:
        raise GradcheckError(
            f"check_gradients: {len(result.kinks)} of {total} comparisons sat at kinks "
            f"(non-differentiable points such as ReLU at 0 or max-pool ties) and were "
            f"skipped, more than max_kink_fraction={max_kink_fraction}: nothing was really "
            f"checked ({where}). Draw inputs away from the kinks (e.g. no exact zeros or "
            f"repeated values), or raise max_kink_fraction.")
    return result
