"""The GPU path (issue 12): every op, layer and training loop on a device against the CPU.

Each test takes the module fixture ``gpu``, which has two params:

* "cuda": the real CuPy on a real NVIDIA GPU (marked ``gpu``: ``pytest -m gpu`` runs only
  these). Without CuPy or a GPU it skips, saying why (``cupy_unavailable_reason()``).
* "fake": the NumPy-backed fake CuPy of tests/fakegpu.py, so the same tests run in CI on
  the CPU. The fake refuses host arrays beside device arrays as CuPy does, runs the very
  CUDA source of kernels/cuda/ (compiled for the host), and counts copies and syncs.

The reference is always the NumPy backend on host arrays (``use_backend("numpy")``), the
math of minicnn.functional that the CPU tests check against PyTorch.

Tolerances (``assert_close``), elementwise |a - b| <= rtol |b| + atol max(1, max|b|):

* float64: rtol 1e-9, atol 1e-12 * max(1, K / 1000), K the longest sum in the op
  (forward or backward). The kernels and NumPy add in another order; a K-term float64
  sum moves by ~K 1e-16 relative at worst, far below 1e-9; a wrong index or scale is not.
* float32: rtol 1e-4, atol 1e-5 * max(1, K / 1000). The unit roundoff is 6e-8; a sum of
  K terms carries an error up to ~K u of the sum of |terms| (6e-5 for K = 1000, typically
  sqrt(K) u), so the bound grows with K past 1000. The atol term covers results that cancel
  to near zero; it scales with the largest magnitude (at least 1, the scale of the data).
"""
import contextlib
import sys
import traceback
import types
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fakegpu
import minicnn as mc
import minicnn.functional as F
from minicnn import backend, device
from minicnn.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
from minicnn.testing.strategies import (DTYPES, conv_cases, conv_kwargs, pool_cases, random_array,
                                        seeds)

# hypothesis examples per op test: the fake runs the kernels on the CPU in milliseconds,
# the real GPU pays launches and a read back per comparison (each kernel is built once)
EXAMPLES = {"fake": 60, "cuda": 15}
TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-4, 1e-5)}


# ----------------------------------------------------------------------------- the fixture
class Gpu:
    """What a test needs of the device under test: its name ("cuda" or "fake"), the cupy
    module, moving arrays, waiting for the GPU and a guard against hidden syncs."""

    def __init__(self, name, cupy):
        self.name, self.cupy = name, cupy

    def __repr__(self):
        return f"Gpu({self.name!r})"

    @property
    def fake(self):
        return self.name == "fake"

    def to(self, a):
        """A device copy of a host array (counted by minicnn.device)."""
        return device.to_device(np.array(a, order="C"), "cuda")

    @staticmethod
    def host(a):
        """A host copy of a device array (host arrays as they are)."""
        return device.to_host(a)

    def synchronize(self):
        self.cupy.cuda.Device().synchronize()

    @contextlib.contextmanager
    def backend(self, name="cupy"):
        """The cupy backend (or ``name``) for the block; the previous one after."""
        with mc.use_backend(name):
            yield self

    @contextlib.contextmanager
    def no_sync(self):
        """Fail if the block waits for the GPU. On "fake" the fake's sync counter must not
        move (float(a), a.item(), bool(a), ... on a device array); on "cuda" CuPy's
        ``cupyx.allow_synchronize(False)`` raises ``cupyx.DeviceSynchronized`` at a
        synchronising call (an API deprecated since CuPy 10: where a CuPy has dropped it,
        the copy counts of the tests still hold and only this guard is missing)."""
        if self.fake:
            where, count = [], self.cupy._count

            def record(kind, n=1):           # the fake counts through its module's _count
                if kind == "sync":
                    frames = [f for f in traceback.extract_stack()[:-1]
                              if "fake_cupy" not in f.filename]
                    where.append(f"{frames[-1].filename}:{frames[-1].lineno}")
                count(kind, n)
            self.cupy._count = record
            try:
                yield
            finally:
                self.cupy._count = count
            assert not where, f"{len(where)} reads of a device value (syncs) inside the " \
                              f"block, at {', '.join(sorted(set(where)))}"
            return
        try:
            import cupyx
        except ImportError:                  # a CuPy without cupyx: no guard
            cupyx = None
        guard = getattr(cupyx, "allow_synchronize", None)
        if guard is None:
            yield
            return
        self.synchronize()
        with contextlib.ExitStack() as stack:
            with warnings.catch_warnings():      # its deprecation (or experimental) warning
                warnings.simplefilter("ignore")
                stack.enter_context(guard(False))
            yield

    def has_sync_guard(self):
        """True on "fake" and where CuPy still has cupyx.allow_synchronize."""
        if self.fake:
            return True
        try:
            import cupyx
        except ImportError:
            return False
        return hasattr(cupyx, "allow_synchronize")


@pytest.fixture(scope="module", params=[pytest.param("cuda", marks=pytest.mark.gpu), "fake"])
def gpu(request):
    """The device under test: the real CuPy on a GPU ("cuda") or the fake one ("fake")."""
    if request.param == "fake":
        with fakegpu.fake_cupy() as cupy:
            yield Gpu("fake", cupy)
        return
    backend.forget_cupy()
    reason = backend.cupy_unavailable_reason()
    if reason:
        pytest.skip(f"GPU tests need an NVIDIA GPU with CuPy: {reason}")
    import cupy
    yield Gpu("cuda", cupy)
    cupy.get_default_memory_pool().free_all_blocks()


real_gpu_only = pytest.mark.parametrize(
    "gpu", [pytest.param("cuda", marks=pytest.mark.gpu)], indirect=True)


# ----------------------------------------------------------------------------- helpers
def assert_close(actual, expected, dtype, what, k=1):
    """|a - b| <= rtol |b| + atol max(1, K / 1000) max(1, max|b|) (module docstring);
    both arrays on the host, ``actual`` in ``dtype``."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    scale = max(float(np.abs(expected).max()) if expected.size else 0.0, 1.0)
    err = np.abs(actual - expected)
    bound = rtol * np.abs(expected) + atol * max(1.0, k / 1000) * scale
    if not np.all(err <= bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(f"{what} ({np.dtype(dtype)}): element {tuple(int(j) for j in i)} "
                             f"GPU {actual[i]!r} vs CPU {expected[i]!r} (|diff| {err[i]:.3g}, "
                             f"allowed {bound[i]:.3g}; max |diff| {err.max():.3g})")


@contextlib.contextmanager
def cupy_made(monkeypatch, module):
    """``import cupy`` gives ``module`` in the block (None: CuPy is not installed); what
    minicnn.backend learnt about CuPy is forgotten before and after."""
    backend.forget_cupy()
    try:
        with monkeypatch.context() as m:
            m.setitem(sys.modules, "cupy", module)
            yield
    finally:
        backend.forget_cupy()


def run_op(fn, arrays, consts, place, seed, requires_grad):
    """fn(*Tensors, *consts) with every array put by ``place``; backward of a random
    output gradient. Returns (output Tensor, input Tensors, placed consts)."""
    inputs = [mc.Tensor(place(a), requires_grad=r) for a, r in zip(arrays, requires_grad)]
    consts = [place(c) for c in consts]
    y = fn(*inputs, *consts)
    y.backward(place(random_array(seed, y.shape, y.dtype)))
    return y, inputs, consts


def check_op(gpu, fn, arrays, dtype, k, consts=(), requires_grad=None, seed=7, twin=None,
             launches=True):
    """Run ``fn`` on the device (cupy backend) and on the host (numpy backend); compare the
    output, every input gradient and the consts afterwards (running statistics, updated in
    place). ``twin``: the class name the op's Function must have on the device; with
    ``launches`` it must also have launched a kernel of kernels/cuda (counted on "fake").
    Returns the device output."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    requires_grad = requires_grad or [True] * len(arrays)
    with gpu.backend("numpy"):
        ref, ref_inputs, ref_consts = run_op(fn, arrays, [c.copy() for c in consts],
                                             np.array, seed, requires_grad)
    launched = fakegpu.transfers()["launches"]
    with gpu.backend("cupy"):
        out, inputs, dev_consts = run_op(fn, arrays, consts, gpu.to, seed, requires_grad)
    if gpu.fake and twin is not None and launches:
        assert fakegpu.transfers()["launches"] > launched, f"{twin} launched no CUDA kernel"
    assert out.device == "cuda:0", f"the output is on {out.device}, not on the GPU"
    if twin is not None:
        assert type(out.creator).__name__ == twin, \
            f"{type(out.creator).__name__} ran on device arrays, not the CUDA twin {twin}"
    assert_close(gpu.host(out.data), ref.data, dtype, "forward", k)
    for i, (t, r) in enumerate(zip(inputs, ref_inputs)):
        if r.grad is None:
            continue
        assert device.is_device_array(t.grad), f"the gradient of input {i} is not on the GPU"
        assert_close(gpu.host(t.grad), r.grad, dtype, f"gradient of input {i}", k)
    for i, (c, r) in enumerate(zip(dev_consts, ref_consts)):
        if hasattr(c, "dtype") and c.dtype.kind == "f":
            assert_close(gpu.host(c), r, dtype, f"const {i} after the op", k)
    return out


def conv_reduction(case, out_shape):
    """The longest sum of conv2d and its gradients: (C/g) kh kw, (O/g) kh kw or N H' W'."""
    o, c_g, kh, kw = case["w_shape"]
    n, _, h_out, w_out = out_shape
    return max(c_g * kh * kw, o // case["groups"] * kh * kw, n * h_out * w_out)


# ----------------------------------------------------------------------------- ops
def test_conv2d_matches_cpu(gpu):
    """conv2d and the fused conv2d_relu (stride, padding incl. 'same', dilation, groups)
    run the CUDA twin on device arrays and give the CPU reference's output and x, w, b
    gradients."""
    @settings(max_examples=EXAMPLES[gpu.name])
    @given(case=conv_cases(), seed=seeds, dtype=st.sampled_from(DTYPES), fused=st.booleans())
    def check(case, seed, dtype, fused):
        check_conv(gpu, case, seed, dtype, fused)
    check()


def check_conv(gpu, case, seed, dtype, fused):
    op, twin = (F.conv2d_relu, "Conv2dReLUCuPy") if fused else (F.conv2d, "Conv2dCuPy")
    arrays = [random_array(seed, case["x_shape"]), random_array(seed + 1, case["w_shape"]),
              random_array(seed + 2, (case["w_shape"][0],))]
    with gpu.backend("numpy"):
        out_shape = F.conv2d(arrays[0], arrays[1], **conv_kwargs(case)).shape
    check_op(gpu, lambda x, w, b: op(x, w, b, **conv_kwargs(case)), arrays, dtype,
             conv_reduction(case, out_shape), seed=seed + 3, twin=twin)


def test_conv2d_fixed_cases(gpu):
    """A few hand-picked convolutions hypothesis might miss: no bias, 'same' with stride 2,
    depthwise (groups = channels), a 7x7 kernel, VGG's 3x3 pad 1 on 64 channels."""
    cases = [dict(x=(2, 3, 9, 9), w=(4, 3, 3, 3), stride=1, padding="same", dilation=1,
                  groups=1, bias=False),
             dict(x=(1, 2, 10, 7), w=(2, 2, 3, 3), stride=2, padding="same", dilation=1,
                  groups=1, bias=True),
             dict(x=(2, 4, 8, 8), w=(4, 1, 3, 3), stride=1, padding=1, dilation=2,
                  groups=4, bias=True),
             dict(x=(1, 3, 15, 15), w=(5, 3, 7, 7), stride=2, padding=3, dilation=1,
                  groups=1, bias=True),
             dict(x=(2, 64, 8, 8), w=(64, 64, 3, 3), stride=1, padding=1, dilation=1,
                  groups=1, bias=True)]
    for i, c in enumerate(cases):
        kwargs = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                      groups=c["groups"])
        arrays = [random_array(i, c["x"]), random_array(i + 1, c["w"])]
        if c["bias"]:
            arrays.append(random_array(i + 2, (c["w"][0],)))
        k = max(c["w"][1] * c["w"][2] * c["w"][3], c["x"][0] * c["x"][2] * c["x"][3])
        for dtype in DTYPES:
            check_op(gpu, lambda *t: F.conv2d(*t, **kwargs), arrays, dtype, k,
                     twin="Conv2dCuPy")


def test_pooling_matches_cpu(gpu):
    """max_pool2d and avg_pool2d (ceil_mode, padding, count_include_pad=False) run their
    CUDA twins and match the CPU output and input gradient."""
    @settings(max_examples=EXAMPLES[gpu.name])
    @given(case=pool_cases(), seed=seeds, dtype=st.sampled_from(DTYPES),
           average=st.booleans(), count_include_pad=st.booleans())
    def check(case, seed, dtype, average, count_include_pad):
        check_pool(gpu, case, seed, dtype, average, count_include_pad)
    check()


def check_pool(gpu, case, seed, dtype, average, count_include_pad):
    kwargs = dict(kernel_size=case["kernel_size"], stride=case["stride"],
                  padding=case["padding"], ceil_mode=case["ceil_mode"])
    if average:
        fn, twin = (lambda x: F.avg_pool2d(x, count_include_pad=count_include_pad, **kwargs),
                    "AvgPool2dCuPy")
    else:
        fn, twin = (lambda x: F.max_pool2d(x, **kwargs)), "MaxPool2dCuPy"
    k = case["kernel_size"][0] * case["kernel_size"][1]
    check_op(gpu, fn, [random_array(seed, case["x_shape"])], dtype, k, seed=seed + 1,
             twin=twin)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_linear_softmax_match_cpu(gpu, dtype):
    """relu and linear run their CUDA twins; softmax runs the reference math on device
    arrays; all three match the CPU output and gradients (linear: x, w and b)."""
    x = random_array(1, (6, 33))
    check_op(gpu, F.relu, [random_array(0, (3, 4, 5, 7))], dtype, 1, twin="ReLUCuPy")
    check_op(gpu, F.linear, [x, random_array(2, (33, 17)), random_array(3, (17,))], dtype,
             33, twin="LinearCuPy")
    check_op(gpu, F.linear, [x, random_array(4, (33, 5))], dtype, 33, twin="LinearCuPy",
             launches=False)                    # no bias: one cuBLAS product, no kernel
    check_op(gpu, lambda t: F.softmax(t, axis=-1), [x], dtype, 33)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_matches_cpu(gpu, dtype, label_smoothing):
    """cross_entropy (mean, sum and per-sample; integer labels and probability targets,
    with and without label smoothing) runs its CUDA twin and matches the CPU loss and the
    logits' gradient."""
    logits = random_array(0, (9, 11)) * 3
    labels = np.random.default_rng(1).integers(0, 11, 9)
    for reduction in ("mean", "sum", "none"):
        check_op(gpu, lambda z, y: F.cross_entropy(z, y, label_smoothing=label_smoothing,
                                                   reduction=reduction),
                 [logits], dtype, 11 * 9, consts=[labels], twin="CrossEntropyCuPy")
    probs = np.random.default_rng(2).dirichlet(np.ones(11), 9).astype(dtype)
    check_op(gpu, lambda z, q: F.cross_entropy(z, q, label_smoothing=label_smoothing),
             [logits], dtype, 11 * 9, consts=[probs], twin="CrossEntropyCuPy")


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_matches_cpu(gpu, dtype):
    """batch_norm in training (batch statistics; the running mean and variance updated in
    place on the device) and in evaluation (running statistics), 4-D and 2-D, match the
    CPU output, the x, gamma and beta gradients and the running statistics after."""
    for shape in [(4, 3, 5, 6), (7, 5)]:
        c = shape[1]
        arrays = [random_array(0, shape) * 2 + 1, random_array(1, (c,)), random_array(2, (c,))]
        stats = [random_array(3, (c,)).astype(dtype),
                 random_array(4, (c,), low=0.5, high=2).astype(dtype)]
        m = int(np.prod(shape)) // c
        for training in (True, False):
            check_op(gpu, lambda x, g, b, rm, rv: F.batch_norm(x, g, b, rm, rv, training,
                                                               momentum=0.2),
                     arrays, dtype, m, consts=stats)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_same_seed_same_mask(gpu, dtype):
    """dropout with one seed keeps the same units on the device as on the host (the mask
    is drawn on the host), so output and gradient equal the CPU's exactly."""
    x = random_array(0, (5, 4, 3, 3))
    out = check_op(gpu, lambda t: F.dropout(t, p=0.4, seed=11), [x], dtype, 1)
    with gpu.backend("numpy"):
        ref = F.dropout(mc.Tensor(x.astype(dtype)), p=0.4, seed=11)
    np.testing.assert_array_equal(gpu.host(out.data) == 0, ref.data == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lrn_adaptive_pool_and_shape_ops_match_cpu(gpu, dtype):
    """local_response_norm, adaptive_avg_pool2d (even and uneven bins), concatenate, add and
    flatten run the reference math on device arrays and match the CPU forward and every
    input's gradient."""
    x = random_array(0, (2, 7, 5, 6))
    for size in (3, 5):
        check_op(gpu, lambda t: F.local_response_norm(t, size=size, alpha=1e-2), [x], dtype,
                 size)
    for out_size in [(1, 1), (3, 2), (5, 6), (4, 4)]:
        check_op(gpu, lambda t: F.adaptive_avg_pool2d(t, out_size), [x], dtype, 30)
    parts = [random_array(1, (2, 3, 4, 4)), random_array(2, (2, 1, 4, 4)),
             random_array(3, (2, 2, 4, 4))]
    check_op(gpu, lambda *t: F.concatenate(list(t), axis=1), parts, dtype, 1)
    check_op(gpu, lambda *t: F.concatenate(list(t), axis=-1),
             [parts[0], random_array(4, (2, 3, 4, 2))], dtype, 1)
    same = [random_array(5 + i, (2, 3, 4, 4)) for i in range(3)]
    check_op(gpu, lambda *t: F.add(list(t)), same, dtype, 3)
    check_op(gpu, F.flatten, [x], dtype, 1)
    check_op(gpu, lambda a, b: (a * b + a) / (b * b + 1) - 2 * b, same[:2], dtype, 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_match_cpu(gpu, dtype):
    """A Sequential of Conv2D (same padding, fused relu), BatchNormalization, MaxPooling2D,
    Flatten and Dense built with one seed on the CPU and on the GPU (weights made there by
    the cupy backend) gives the same output, input gradient and parameter gradients."""
    def build():
        mc.manual_seed(3)
        return mc.Sequential([
            Conv2D(4, 3, padding="same", activation="relu", input_shape=(2, 8, 8),
                   dtype=dtype),
            BatchNormalization(dtype=dtype), MaxPooling2D(2), Flatten(),
            Dense(5, dtype=dtype)])
    x = random_array(0, (3, 2, 8, 8)).astype(dtype)
    g = random_array(1, (3, 5)).astype(dtype)
    with gpu.backend("numpy"):
        ref_model = build()
        ref_x = mc.Tensor(x, requires_grad=True)
        ref = ref_model(ref_x)
        ref.backward(g)
    with gpu.backend("cupy"):
        model = build()
        assert model.device == "cuda:0"
        dev_x = mc.Tensor(x, requires_grad=True, device="cuda")
        out = model(dev_x)
        out.backward(gpu.to(g))
    assert_close(gpu.host(out.data), ref.data, dtype, "forward", 36)
    assert_close(gpu.host(dev_x.grad), ref_x.grad, dtype, "input gradient", 36)
    for (name, p), (_, r) in zip(model.named_parameters(trainable_only=False),
                                 ref_model.named_parameters(trainable_only=False)):
        assert p.device == "cuda:0", f"{name} is on {p.device}"
        assert_close(gpu.host(p.data), r.data, dtype, name, 3 * 64)
        if r.grad is not None:
            assert_close(gpu.host(p.grad), r.grad, dtype, f"gradient of {name}", 3 * 64)


def test_cuda_twins_run_on_device_arrays(gpu):
    """Under the cupy backend the seven CUDA twins are the classes chosen for device
    arrays (backend.implementation) and the ones that made the outputs (y.creator); under
    use_backend("numpy") the reference classes run on the very same device arrays."""
    from minicnn.functional.activation import ReLU
    from minicnn.functional.conv import Conv2d, Conv2dReLU
    from minicnn.functional.linear import Linear
    from minicnn.functional.loss import CrossEntropy
    from minicnn.functional.pool import AvgPool2d, MaxPool2d
    x, w, z, wl = [mc.Tensor(gpu.to(random_array(i, shape)), requires_grad=True)
                   for i, shape in enumerate([(2, 3, 8, 8), (4, 3, 3, 3), (2, 6), (6, 4)])]
    labels = gpu.to(np.array([1, 3]))
    ops = {"Conv2d": lambda: F.conv2d(x, w), "Conv2dReLU": lambda: F.conv2d_relu(x, w),
           "MaxPool2d": lambda: F.max_pool2d(x, 2), "AvgPool2d": lambda: F.avg_pool2d(x, 2),
           "ReLU": lambda: F.relu(x), "Linear": lambda: F.linear(z, wl),
           "CrossEntropy": lambda: F.cross_entropy(z, labels)}
    references = {"Conv2d": Conv2d, "Conv2dReLU": Conv2dReLU, "MaxPool2d": MaxPool2d,
                  "AvgPool2d": AvgPool2d, "ReLU": ReLU, "Linear": Linear,
                  "CrossEntropy": CrossEntropy}
    with gpu.backend("cupy"):
        for name, reference in references.items():
            chosen = backend.implementation(reference, x.data)
            assert chosen.__name__ == name + "CuPy" and issubclass(chosen, reference)
            out = ops[name]()
            assert type(out.creator).__name__ == name + "CuPy", name
            assert out.device == "cuda:0"
    with gpu.backend("numpy"):
        for name, reference in references.items():
            assert backend.implementation(reference, x.data) is reference
            out = ops[name]()
            assert type(out.creator) is reference, f"{type(out.creator).__name__} ran"
            assert out.device == "cuda:0"


def test_tensor_and_model_moves(gpu):
    """Tensor(device=), .to() ('cuda', 'gpu', 'cpu'), .device and .numpy(): the copy is in
    the graph (the gradient comes back to the host tensor); model.to('gpu') and back to
    'cpu' moves every weight and gradient, keeps the values, and model.device follows."""
    x = random_array(0, (3, 4))
    with gpu.backend("cupy"):
        host = mc.Tensor(x, requires_grad=True)
        assert host.device == "cpu"
        on_gpu = host.to("gpu")
        assert on_gpu.device == "cuda:0" and on_gpu.to("cuda:0") is on_gpu
        assert "device='cuda:0'" in repr(on_gpu)
        back = (on_gpu * on_gpu).to("cpu")
        assert back.device == "cpu" and type(back.data) is np.ndarray
        back.backward(np.ones((3, 4)))
        assert type(host.grad) is np.ndarray
        np.testing.assert_allclose(host.grad, 2 * x, rtol=1e-12)
        made = mc.Tensor(x, device="cuda")
        assert made.device == "cuda:0" and type(made.numpy()) is np.ndarray
        np.testing.assert_array_equal(made.numpy(), x)
    with gpu.backend("numpy"):
        mc.manual_seed(1)
        model = mc.zoo.lenet5(dtype="float64")
    before = [p.data.copy() for p in model.parameters()]
    assert model.device == "cpu"
    assert model.to("gpu") is model and model.device == "cuda:0"
    with gpu.backend("cupy"):
        model(mc.Tensor(random_array(1, (2, 1, 32, 32)), device="cuda")).sum().backward()
    assert all(device.is_device_array(p.data) and device.is_device_array(p.grad)
               for p in model.parameters())
    model.to("cpu")
    assert model.device == "cpu"
    assert all(type(p.data) is np.ndarray and type(p.grad) is np.ndarray
               for p in model.parameters())
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)


# ----------------------------------------------------------------------------- PyTorch
@real_gpu_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_pytorch_on_cuda(gpu, dtype):
    """conv2d (forward and backward, strided, padded, grouped), max pooling and
    cross-entropy on the GPU against PyTorch's CUDA kernels (cuDNN; TF32 off)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch cannot see a CUDA GPU (torch.cuda.is_available() is False)")
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        check_against_torch_cuda(gpu, torch, dtype)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags


def check_against_torch_cuda(gpu, torch, dtype):
    tdtype = torch.float64 if dtype == "float64" else torch.float32

    def compare(mc_fn, torch_fn, arrays, k, consts=()):
        arrays = [np.asarray(a, dtype=dtype) for a in arrays]
        with gpu.backend("cupy"):
            ins = [mc.Tensor(gpu.to(a), requires_grad=True) for a in arrays]
            out = mc_fn(*ins, *[gpu.to(c) for c in consts])
            g = random_array(9, out.shape, dtype)
            out.backward(gpu.to(g))
        tins = [torch.tensor(a, device="cuda", requires_grad=True) for a in arrays]
        tout = torch_fn(*tins, *[torch.as_tensor(c, device="cuda") for c in consts])
        tout.backward(torch.as_tensor(g, device="cuda", dtype=tdtype))
        assert_close(gpu.host(out.data), tout.detach().cpu().numpy(), dtype, "forward", k)
        for i, (a, t) in enumerate(zip(ins, tins)):
            assert_close(gpu.host(a.grad), t.grad.cpu().numpy(), dtype, f"grad {i}", k)

    tf = torch.nn.functional
    for stride, padding, groups in [(1, 1, 1), (2, 0, 1), (1, 2, 2)]:
        arrays = [random_array(0, (4, 4, 12, 12)), random_array(1, (6, 4 // groups, 3, 3)),
                  random_array(2, (6,))]
        compare(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding,
                                         groups=groups),
                lambda x, w, b: tf.conv2d(x, w, b, stride=stride, padding=padding,
                                          groups=groups), arrays, 4 * 144)
    compare(lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True),
            lambda x: tf.max_pool2d(x, 3, 2, padding=1, ceil_mode=True),
            [random_array(3, (2, 3, 11, 10))], 9)
    labels = np.random.default_rng(4).integers(0, 10, 16)
    compare(lambda z, y: F.cross_entropy(z, y, label_smoothing=0.1),
            lambda z, y: tf.cross_entropy(z, y, label_smoothing=0.1),
            [random_array(5, (16, 10)) * 4], 160, consts=[labels])


# ----------------------------------------------------------------------------- training
def lenet_data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 32, 32)), rng.integers(0, 10, n)


def lenet_twins(dtype="float64", seed=0):
    """Two LeNets with the same weights, both built on the CPU; the second moved to the
    GPU with model.to("cuda")."""
    models = []
    with mc.use_backend("numpy"):
        for _ in range(2):
            mc.manual_seed(seed)
            models.append(mc.zoo.lenet5(dtype=dtype))
    return models[0], models[1].to("cuda")


def test_lenet_sgd_steps_match_cpu(gpu):
    """Four SGD-momentum steps of LeNet in float64 on the GPU (model.to('cuda'), the cupy
    backend) equal the CPU steps: the loss and every weight after each step to 1e-9."""
    cpu_model, gpu_model = lenet_twins()
    assert gpu_model.device == "cuda:0" and cpu_model.device == "cpu"
    x, y = lenet_data(16)
    cpu_opt = mc.optim.SGD(cpu_model.parameters(), lr=0.05, momentum=0.9)
    gpu_opt = mc.optim.SGD(gpu_model.parameters(), lr=0.05, momentum=0.9)
    for step in range(4):
        batch = slice(4 * step, 4 * step + 4)
        with gpu.backend("numpy"):
            cpu_opt.zero_grad()
            cpu_loss = F.cross_entropy(cpu_model(x[batch]), y[batch])
            cpu_loss.backward()
            cpu_opt.step()
        with gpu.backend("cupy"):
            gpu_opt.zero_grad()
            gpu_loss = F.cross_entropy(gpu_model(mc.Tensor(x[batch], device="cuda")),
                                       gpu.to(y[batch]))
            gpu_loss.backward()
            gpu_opt.step()
        assert_close(gpu.host(gpu_loss.data), cpu_loss.data, "float64", f"loss {step}", 400)
        for (name, p), r in zip(gpu_model.named_parameters(), cpu_model.parameters()):
            assert p.device == "cuda:0"
            assert_close(gpu.host(p.data), r.data, "float64", f"step {step}: {name}", 400)


def test_lenet_fit_adam_history_matches_cpu(gpu):
    """fit with Adam and metrics=['accuracy'] (2 epochs, a validation set, a last batch
    smaller than the others) gives on the GPU the History of the CPU run, and the same
    weights, evaluate and predict."""
    cpu_model, gpu_model = lenet_twins()
    x, y = lenet_data(14)
    xv, yv = lenet_data(6, seed=1)
    results = []
    for model, name in ((cpu_model, "numpy"), (gpu_model, "cupy")):
        with gpu.backend(name):
            model.compile(mc.optim.Adam(lr=1e-3), loss="cross_entropy", metrics=["accuracy"])
            history = model.fit(x, y, epochs=2, batch_size=4, validation_data=(xv, yv),
                                verbose=0, seed=5)
            results.append((history, model.evaluate(xv, yv, batch_size=4),
                            model.predict(xv, batch_size=4)))
    (cpu_h, cpu_eval, cpu_pred), (gpu_h, gpu_eval, gpu_pred) = results
    assert gpu_model.device == "cuda:0"
    assert gpu_h.epoch == cpu_h.epoch and sorted(gpu_h.history) == sorted(cpu_h.history)
    for key, values in cpu_h.history.items():
        assert all(type(v) is float for v in gpu_h.history[key]), key
        assert_close(np.array(gpu_h.history[key]), values, "float64", key, 400)
    assert_close(np.array(gpu_eval), cpu_eval, "float64", "evaluate", 400)
    assert isinstance(gpu_pred, np.ndarray) and not device.is_device_array(gpu_pred)
    assert_close(gpu_pred, cpu_pred, "float64", "predict", 400)
    for p, r in zip(gpu_model.parameters(), cpu_model.parameters()):
        assert_close(gpu.host(p.data), r.data, "float64", p.name, 400)


def optimizer_buffers(model):
    """The optimiser's per-parameter state as host arrays and numbers."""
    return [{k: device.to_host(v) if hasattr(v, "shape") else v for k, v in s.items()}
            for s in model.optimizer.state]


def assert_same_training_state(model, other, what, exact=True):
    """The same weights and optimiser state: bit for bit (copies), or with ``exact=False``
    to float64's tolerance (two runs of the same steps)."""
    def same(a, b, message):
        if exact or not hasattr(a, "dtype") or a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b, err_msg=message)
        else:
            assert_close(a, b, a.dtype, message, 400)
    for p, q in zip(model.parameters(), other.parameters()):
        same(device.to_host(p.data), device.to_host(q.data), f"{what}: {p.name}")
    mine, theirs = optimizer_buffers(model), optimizer_buffers(other)
    assert len(mine) == len(theirs) and mine, f"{what}: optimiser states differ in length"
    for i, (s, t) in enumerate(zip(mine, theirs)):
        assert sorted(s) == sorted(t), f"{what}: optimiser state {i} keys"
        for key in s:
            same(np.asarray(s[key]), np.asarray(t[key]), f"{what}: state {i} {key}")


def test_checkpoint_round_trip_gpu_cpu_gpu(gpu, tmp_path, monkeypatch):
    """mc.save of a GPU model writes host copies and leaves the model on the GPU;
    mc.load(device='cpu') and then mc.load(device='cuda') give the same weights and Adam
    state; the file loads on a machine where CuPy cannot be imported; training the reloaded
    GPU model continues exactly as the original."""
    _, model = lenet_twins()
    x, y = lenet_data(8)
    with gpu.backend("cupy"):
        model.compile(mc.optim.Adam(lr=1e-3), loss="cross_entropy", metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, seed=1)
        first = tmp_path / "gpu.mcnn"
        mc.save(model, first)
        assert model.device == "cuda:0", "mc.save moved the model"
        on_cpu = mc.load(first, device="cpu")
        assert on_cpu.device == "cpu"
        assert all(type(p.data) is np.ndarray for p in on_cpu.parameters())
        assert_same_training_state(model, on_cpu, "GPU -> CPU")
        second = tmp_path / "cpu.mcnn"
        mc.save(on_cpu, second)
        back = mc.load(second, device="cuda")
        assert back.device == "cuda:0"
        assert all(device.is_device_array(p.data) for p in back.parameters())
        assert_same_training_state(model, back, "CPU -> GPU")
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, seed=2)
        back.fit(x, y, epochs=1, batch_size=4, verbose=0, seed=2)
        assert_same_training_state(model, back, "one more epoch", exact=False)
    with cupy_made(monkeypatch, None), mc.use_backend("numpy"):    # a machine without CuPy
        assert backend.cupy_unavailable_reason() is not None
        plain = mc.load(first)
        assert plain.device == "cpu"
        assert_same_training_state(plain, on_cpu, "loaded without CuPy")


def test_sync_guard_catches_a_read(gpu):
    """The guard the next test relies on works: reading one number of a device array
    inside gpu.no_sync() fails (the fake's count; CuPy's DeviceSynchronized on a GPU)."""
    if not gpu.has_sync_guard():
        pytest.skip("this CuPy has no cupyx.allow_synchronize (removed after CuPy 10's "
                    "deprecation): only the copy counts guard the training step")
    value = gpu.to(np.ones((2,)))
    try:
        with gpu.no_sync():
            float(value.sum())
    except (AssertionError, RuntimeError) as e:
        assert "sync" in str(e).lower() or type(e).__name__ == "DeviceSynchronized", repr(e)
        return
    if gpu.fake:
        pytest.fail("the fake's sync count missed float(a)")
    pytest.skip(f"CuPy {gpu.cupy.__version__}: cupyx.allow_synchronize(False) let a read "
                f"through (deprecated, it no longer detects): only the copy counts guard "
                f"the training step")


def test_training_step_copies_nothing_but_the_batch(gpu):
    """With the data already on the GPU, a whole step (zero_grad, forward, cross-entropy,
    backward, SGD-momentum step) makes no host<->GPU copy and never waits for the GPU."""
    _, model = lenet_twins()
    x, y = lenet_data(8)
    opt = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with gpu.backend("cupy"):
        xd, yd = mc.Tensor(x, device="cuda"), gpu.to(y)
        for step in range(3):                   # step 0 makes the momentum buffers
            device.copy_counts(reset=True)
            fakegpu.reset_transfers()
            with gpu.no_sync():
                opt.zero_grad()
                loss = F.cross_entropy(model(xd), yd)
                loss.backward()
                opt.step()
            assert device.copy_counts() == {"to_device": 0, "to_host": 0}, f"step {step}"
            if gpu.fake:
                moved = fakegpu.transfers()
                assert moved["h2d"] == moved["d2h"] == 0, f"step {step}: {moved}"
                assert moved["launches"] > 0, "no CUDA kernel ran"
        gpu.synchronize()


def test_fit_copies_each_batch_once(gpu):
    """fit over N batches copies x and y of each batch to the GPU once (2 N copies); what it
    reads back (the logs, the check for non-finite weights, pending label checks) is read
    per epoch, never per batch: as many copies back and waits for the GPU with 3 batches an
    epoch as with 1, and at most 2 copies an epoch. On "fake" no copy bypasses
    minicnn.device either (an index array, a stray cupy.asarray)."""
    _, model = lenet_twins()
    x, y = lenet_data(12)
    counts = {}
    with gpu.backend("cupy"):
        model.compile(mc.optim.SGD(lr=0.05, momentum=0.9), loss="cross_entropy",
                      metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, seed=0)   # momentum buffers made
        for batch_size in (12, 4):
            device.copy_counts(reset=True)
            fakegpu.reset_transfers()
            model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, seed=1)
            batches = 2 * (12 // batch_size)
            copies, moved = device.copy_counts(), fakegpu.transfers()
            assert copies["to_device"] == 2 * batches, f"{batches} batches: {copies}"
            assert 1 <= copies["to_host"] <= 2 * 2, f"2 epochs: {copies}"
            if gpu.fake:
                assert (moved["h2d"], moved["d2h"]) == \
                    (copies["to_device"], copies["to_host"]), f"{moved} vs {copies}"
            counts[batches] = copies["to_host"], moved["sync"]
    assert counts[6][0] == counts[2][0], f"copies back (1, 3 batches an epoch): {counts}"
    if gpu.fake:
        assert counts[6][1] == counts[2][1], \
            f"waits for the GPU with 1 and 3 batches an epoch: {counts[2][1]}, {counts[6][1]}"


# ----------------------------------------------------------------------------- errors
def test_mixing_host_and_device_tensors_says_how_to_fix(gpu):
    """An op given a host and a device tensor raises a ValueError naming both devices and
    the .to() call that fixes it (elementwise, conv2d, a GPU model fed a host tensor)."""
    host = mc.Tensor(random_array(0, (2, 3, 8, 8)))
    with gpu.backend("cupy"):
        dev = mc.Tensor(random_array(1, (2, 3, 8, 8)), device="cuda")
        w = mc.Tensor(random_array(2, (4, 3, 3, 3)), device="cuda")
        for attempt in (lambda: host + dev, lambda: dev * host, lambda: F.conv2d(host, w),
                        lambda: F.add([dev, host])):
            with pytest.raises(ValueError) as info:
                attempt()
            text = str(info.value)
            assert "cpu" in text and "cuda:0" in text and ".to(" in text, text
        _, model = lenet_twins()
        with pytest.raises(ValueError, match=r"cuda:0.*\.to\(|\.to\(.*cuda:0"):
            model(mc.Tensor(random_array(3, (1, 1, 32, 32))))


def test_bad_label_on_the_gpu_is_reported_at_the_next_read(gpu):
    """A label out of range on the GPU does not make cross_entropy wait for the GPU: the
    ValueError comes at the next read to the host (loss.item(), fit's log line), once. (-1
    is used: NumPy and CuPy both wrap it when indexing, so only the check can catch it.)"""
    labels = np.array([0, 1, -1, 2])
    with gpu.backend("cupy"):
        z = mc.Tensor(random_array(0, (4, 5)), device="cuda", requires_grad=True)
        with gpu.no_sync():
            loss = F.cross_entropy(z, gpu.to(labels))
        with pytest.raises(ValueError, match="out of range for 5 classes"):
            loss.item()
        assert isinstance(loss.item(), float)            # reported once, then forgotten
        _, model = lenet_twins()
        model.compile(mc.optim.SGD(lr=0.01), loss="cross_entropy")
        x, y = lenet_data(8)
        y[5] = -1
        with pytest.raises(ValueError, match="out of range for 10 classes"):
            model.fit(x, y, epochs=1, batch_size=4, verbose=0, seed=0)


def test_set_backend_cupy_without_cupy_names_the_install(monkeypatch):
    """Without CuPy, mc.set_backend('cupy'), Tensor(device='cuda') and model.to('cuda')
    raise a RuntimeError with the install command; the backend in use does not change."""
    before = mc.get_backend()
    with cupy_made(monkeypatch, None):
        with pytest.raises(RuntimeError, match=r'pip install -e "\.\[gpu\]"'):
            mc.set_backend("cupy")
        assert mc.get_backend() == before
        assert "cupy" not in mc.available_backends()
        with pytest.raises(RuntimeError, match=r'pip install -e "\.\[gpu\]"'):
            mc.Tensor(np.ones(3), device="cuda")
        with mc.use_backend("numpy"):
            model = mc.zoo.lenet5()
        with pytest.raises(RuntimeError, match=r'pip install -e "\.\[gpu\]"'):
            model.to("cuda")


class CUDARuntimeError(RuntimeError):
    pass


def stand_in_cupy(get_device_count):
    """A tiny module that looks like CuPy to minicnn.backend's probe."""
    cupy = types.ModuleType("cupy")
    cupy.__version__ = "14.0.0"
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    cupy.cuda = types.SimpleNamespace(runtime=runtime)
    return cupy


@pytest.mark.parametrize("count, expected", [
    (CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient "
                      "for CUDA runtime version"),
     r"CuPy 14\.0\.0 is installed but cannot use a GPU: CUDARuntimeError: "
     r"cudaErrorInsufficientDriver.*driver \(>= 580"),
    (OSError("libcuda.so.1: cannot open shared object file"),
     r"cannot use a GPU: OSError: libcuda\.so\.1"),
    (0, r"found no CUDA GPU")])
def test_cupy_without_a_usable_gpu_says_why(monkeypatch, count, expected):
    """CuPy that imports but whose getDeviceCount raises (no driver, an old driver) or
    finds no GPU: set_backend('cupy') raises a RuntimeError that says so in words."""
    def get_device_count():
        if isinstance(count, Exception):
            raise count
        return count
    with cupy_made(monkeypatch, stand_in_cupy(get_device_count)):
        with pytest.raises(RuntimeError, match=expected):
            mc.set_backend("cupy")
        assert backend.cupy_unavailable_reason() is not None
