"""The CUDA kernels of kernels/cuda/, without a GPU.

Two kinds of check, both run in CI on any machine with nvcc and g++:

* every .cu compiles for the GPU: with nvcc for sm_80 and sm_90 (every instantiation the
  launchers use forced by the same appended translation unit the host build uses), and,
  when libnvrtc is found, with NVRTC itself and CuPy's options and name expressions (the
  path cupy.RawModule really takes, which has no system headers);
* every kernel, built for the host by kernels/cuda_host.HostModule (g++ and common.cuh's
  shim: one block of one thread runs the very __global__ function), against the NumPy
  reference in minicnn.functional, on the shapes of tests/strategies.py.

The launchers (kernels/cuda_ops.py) are checked in tests/test_cupy_ops.py.
"""
import ctypes
import ctypes.util
import glob
import importlib.util
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.backend import import_kernels
from minicnn.functional.conv import col2im, im2col
from minicnn.functional.utils import normalize_padding, pair, window_output_shape
from minicnn.testing.strategies import (DTYPES, conv_cases, conv_inputs, pool_cases, random_array,
                                        seeds)

kernels = import_kernels()
from minicnn.kernels import cuda_host, cuda_ops  # noqa: E402  (after import_kernels)

CUDA_DIR = cuda_ops.CUDA_DIR
SOURCES = sorted(cuda_ops.KERNELS)
ARCHS = ["sm_80", "sm_90"]
TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (2e-5, 2e-6)}
C_TYPE = {"float32": "float", "float64": "double"}


def test_every_source_file_is_listed():
    """Each .cu in kernels/cuda/ has its kernels listed in cuda_ops.KERNELS (so the tests
    below and the launchers cover it), and each listed kernel is defined in its file."""
    on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(CUDA_DIR, "*.cu")))
    assert on_disk == SOURCES
    for filename, names in cuda_ops.KERNELS.items():
        text = open(os.path.join(CUDA_DIR, filename)).read()
        for name in names:
            assert re.search(rf"__global__ void {name}\(", text), f"{filename}: no {name}"


def _source(filename):
    with open(os.path.join(CUDA_DIR, filename)) as f:
        return f.read()


_HOST = {}


def host(filename):
    """The HostModule of a source file with every name expression the launchers use."""
    if filename not in _HOST:
        _HOST[filename] = cuda_host.HostModule(_source(filename), cuda_ops.OPTIONS,
                                               cuda_ops.name_expressions(filename))
    return _HOST[filename]


def run(filename, name, dtype, *args):
    """Run kernel name<T> once on the host (the launch shape does not matter)."""
    host(filename).get_function(f"{name}<{C_TYPE[np.dtype(dtype).name]}>")((1,), (256,), args)


def i32(*values):
    return tuple(np.int32(v) for v in values)


def assert_close(actual, expected, dtype, what):
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.abs(expected).max()) if expected.size else 0.0, 1.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def mangled(name):
    """The Itanium-mangled stem of a name expression: im2col<float> -> 6im2colIfE."""
    base, t = re.fullmatch(r"(\w+)<(float|double)>", name).groups()
    return f"{len(base)}{base}I{'f' if t == 'float' else 'd'}E"


# --------------------------------------------------------------------------- GPU builds
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("filename", SOURCES)
def test_compiles_with_nvcc(filename, arch, tmp_path):
    """nvcc -cubin for the arch, warnings as errors, every launcher's instantiation forced;
    the cubin must hold each kernel."""
    nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    assert os.path.exists(nvcc), "nvcc is needed to check the CUDA kernels (CUDA toolkit)"
    names = cuda_ops.name_expressions(filename)
    unit = tmp_path / filename          # the file itself (errors name its own lines) + exports
    unit.write_text(f'#include "{os.path.join(CUDA_DIR, filename)}"\n' +
                    cuda_host.export_source(names))
    cubin = tmp_path / (filename + ".cubin")
    command = [nvcc, "-cubin", f"-arch={arch}", "-std=c++17", "-Werror", "all-warnings",
               "-I", CUDA_DIR, str(unit), "-o", str(cubin)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, (f"nvcc failed on kernels/cuda/{filename} for {arch}:\n"
                                    f"{' '.join(command)}\n{result.stdout}{result.stderr}")
    binary = cubin.read_bytes()
    for name in names:
        assert mangled(name).encode() in binary, f"{filename} ({arch}): no kernel {name}"


def _nvrtc_library():
    """libnvrtc: $MINICNN_NVRTC, the nvidia-cuda-nvrtc wheel, or the system's; else None."""
    if os.environ.get("MINICNN_NVRTC"):
        return os.environ["MINICNN_NVRTC"]
    spec = importlib.util.find_spec("nvidia")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(glob.glob(os.path.join(folder, "cu*", "lib", "libnvrtc.so*")) +
                       glob.glob(os.path.join(folder, "cuda_nvrtc", "lib", "libnvrtc.so*")))
        found = [f for f in found if "builtins" not in f and ".alt." not in f]
        if found:
            return found[0]
    for path in glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"):
        return path
    return ctypes.util.find_library("nvrtc")


def nvrtc_compile(lib, source, options, names):
    """Compile with NVRTC (as cupy.RawModule does); returns (ok, log, lowered names)."""
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"kernel.cu", 0,
                                  None, None) == 0
    try:
        for name in names:
            assert lib.nvrtcAddNameExpression(prog, name.encode()) == 0
        opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        status = lib.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        lowered = {}
        if status == 0:
            for name in names:
                out = ctypes.c_char_p()
                assert lib.nvrtcGetLoweredName(prog, name.encode(), ctypes.byref(out)) == 0
                lowered[name] = out.value.decode()
        return status == 0, log.value.decode(errors="replace"), lowered
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("filename", SOURCES)
def test_compiles_with_nvrtc(filename, arch):
    """NVRTC with CuPy's options (cupy/cuda/compiler.py adds -arch=sm_XX and -ftz=true to
    the module's own "-std=c++17" and "-I<kernels/cuda>") and its name expressions: no
    system headers, exactly what cupy.RawModule compiles on a GPU machine."""
    path = _nvrtc_library()
    if path is None:
        pytest.fail("libnvrtc not found: the dev extra installs it (pip install -e '.[dev]', "
                    "or pip install 'nvidia-cuda-nvrtc==13.0.*'), or set MINICNN_NVRTC to a "
                    "libnvrtc.so; this check needs no GPU, so it must not skip")
    for builtins in glob.glob(os.path.join(os.path.dirname(path), "libnvrtc-builtins.so*")):
        if ".alt." not in builtins:          # (a wheel's lib folder is on no search path)
            ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(path)
    options = [f"-arch={arch}", *cuda_ops.OPTIONS, "-ftz=true"]
    names = cuda_ops.name_expressions(filename)
    ok, log, lowered = nvrtc_compile(lib, _source(filename), options, names)
    assert ok, f"NVRTC failed on kernels/cuda/{filename} ({' '.join(options)}):\n{log}"
    for name in names:
        assert mangled(name) in lowered[name], (name, lowered[name])


# --------------------------------------------------------------------------- the host build
def test_host_module_errors(tmp_path):
    module = host("elementwise.cu")
    relu = module.get_function("relu_forward<float>")
    x = np.arange(-3, 3, dtype=np.float32)
    y = np.empty_like(x)
    with pytest.raises(KeyError, match="name_expressions"):
        module.get_function("relu_forward<int>")
    with pytest.raises(TypeError, match="numpy.int64"):
        relu((1,), (256,), (x, y, 6))
    with pytest.raises(ValueError, match="argument 0 must be a C-contiguous"):
        relu((1,), (256,), (np.zeros(12, np.float32)[::2], y, np.int64(6)))
    with pytest.raises(ValueError, match="block"):
        relu((1,), (32, 64), (x, y, np.int64(6)))
    with pytest.raises(ValueError, match="grid"):
        relu((0,), (256,), (x, y, np.int64(6)))
    with pytest.raises(ValueError, match="grid"):
        relu((1, 1, 1, 1), 256, (x, y, np.int64(6)))
    relu(2, (16, 2, 1), (x, y, np.int64(6)))                  # ints and 3-tuples are fine
    np.testing.assert_array_equal(y, x * (x > 0))


def test_host_module_reports_compile_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICNN_CUDA_HOST_CACHE", str(tmp_path))
    code = '#include "common.cuh"\ntemplate <typename T> __global__ void k(T *a) {\n' \
           '    a[0] = undefined_name;\n}\n'
    with pytest.raises(cuda_host.HostCompileError, match=r"\.cu:3:\d+: error"):
        cuda_host.HostModule(code, ("-I" + CUDA_DIR,), ["k<float>"])
    assert not glob.glob(str(tmp_path / "*.so"))           # nothing half-written is left


def test_host_module_is_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICNN_CUDA_HOST_CACHE", str(tmp_path))
    code = _source("elementwise.cu")
    cuda_host.HostModule(code, cuda_ops.OPTIONS, ["relu_forward<double>"])
    built = glob.glob(str(tmp_path / "*.so"))
    assert len(built) == 1 and not glob.glob(str(tmp_path / "*.tmp"))
    stamp = os.path.getmtime(built[0])
    again = cuda_host.HostModule(code, cuda_ops.OPTIONS, ["relu_forward<double>"])
    assert glob.glob(str(tmp_path / "*.so")) == built and os.path.getmtime(built[0]) == stamp
    x = np.array([-1.0, 2.0])
    y = np.empty_like(x)
    again.get_function("relu_forward<double>")((1,), (1,), (x, y, np.int64(2)))
    np.testing.assert_array_equal(y, [0.0, 2.0])


# --------------------------------------------------------------------------- conv.cu
def _conv_geometry(case, x_shape):
    kh, kw = case["w_shape"][2:]
    stride, dilation = pair(case["stride"]), pair(case["dilation"])
    pads = normalize_padding(case["padding"], (kh, kw), stride, dilation, x_shape[2:])
    h_out, w_out = window_output_shape(x_shape[2:], (kh, kw), stride, pads, dilation)
    return (kh, kw), stride, pads, dilation, (h_out, w_out)


def _im2col_kernel(x, kernel, stride, pads, dilation, out_hw):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw), (h_out, w_out) = \
        kernel, stride, pads, dilation, out_hw
    cols = np.full((c * kh * kw, n * h_out * w_out), np.nan, dtype=x.dtype)
    run("conv.cu", "im2col", x.dtype, x, cols,
        *i32(n, c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, h_out, w_out))
    return cols


def _rows_layout(cols6):
    """(N, C, kh, kw, H_out, W_out) -> the kernels' (C kh kw, N L)."""
    n, c, kh, kw, h_out, w_out = cols6.shape
    return cols6.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * h_out * w_out)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(), seed=seeds, relu=st.booleans(), bias=st.booleans())
def test_conv_kernels_match_conv2d(dtype, case, seed, relu, bias):
    """im2col -> W_g @ cols_g (NumPy) -> rows_to_nchw equals F.conv2d (and conv2d_relu)."""
    x, w, b = conv_inputs(case, seed, dtype)
    kernel, stride, pads, dilation, (h_out, w_out) = _conv_geometry(case, x.shape)
    cols = _im2col_kernel(x, kernel, stride, pads, dilation, (h_out, w_out))
    expected_cols = _rows_layout(im2col(x, kernel, stride, pads, dilation))
    np.testing.assert_array_equal(cols, expected_cols)                   # copies: exact
    n, o, g = x.shape[0], case["w_shape"][0], case["groups"]
    k = cols.shape[0] // g
    rows = (w.reshape(g, o // g, k) @ cols.reshape(g, k, -1)).reshape(o, -1)
    out = np.full((n, o, h_out, w_out), np.nan, dtype=dtype)
    bias_arg = b if bias else np.empty(0, dtype=dtype)
    run("conv.cu", "rows_to_nchw", dtype, rows, bias_arg, out,
        *i32(n, o, h_out * w_out, bias, relu))
    conv = F.conv2d_relu if relu else F.conv2d
    with mc.use_backend("numpy"):
        expected = conv(x, w, b if bias else None, stride=case["stride"],
                        padding=case["padding"], dilation=case["dilation"], groups=g).data
    assert_close(out, expected, dtype, "conv2d output")


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(), seed=seeds)
def test_col2im_kernel_matches_reference(dtype, case, seed):
    """col2im (gather, padding dropped inside the kernel) equals functional.conv.col2im."""
    x_shape = case["x_shape"]
    kernel, stride, pads, dilation, (h_out, w_out) = _conv_geometry(case, x_shape)
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw) = kernel, stride, pads, dilation
    cols6 = random_array(seed, (n, c, kh, kw, h_out, w_out), dtype)
    dx = np.full(x_shape, np.nan, dtype=dtype)
    run("conv.cu", "col2im", dtype, np.ascontiguousarray(_rows_layout(cols6)), dx,
        *i32(n, c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, h_out, w_out))
    assert_close(dx, col2im(cols6, x_shape, stride, pads, dilation), dtype, "col2im")


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 3), o=st.integers(1, 4), plane=st.integers(1, 30), seed=seeds,
       relu=st.booleans())
def test_nchw_to_rows_kernel(dtype, n, o, plane, seed, relu):
    """rows[o, n L + p] = dOut[n, o, p] (times [y > 0] for the fused ReLU)."""
    dout = random_array(seed, (n, o, plane), dtype)
    y = random_array(seed + 1, (n, o, plane), dtype) * (seed % 3 > 0)    # zeros sometimes
    y = np.maximum(y, 0).astype(dtype)
    rows = np.full((o, n * plane), np.nan, dtype=dtype)
    run("conv.cu", "nchw_to_rows", dtype, dout, y, rows, *i32(n, o, plane, relu))
    masked = dout * (y > 0) if relu else dout
    np.testing.assert_array_equal(rows, masked.transpose(1, 0, 2).reshape(o, n * plane))


# --------------------------------------------------------------------------- pool.cu
def _pool_reference(op, x, case, **kw):
    """The reference op's output, input gradient (for a random dOut) and the op itself."""
    with mc.use_backend("numpy"):
        t = mc.Tensor(x.copy(), requires_grad=True)
        y = op(t, case["kernel_size"], case["stride"], case["padding"], case["ceil_mode"],
               **kw)
        dout = random_array(7, y.shape, x.dtype)
        creator = y.creator
        y.backward(dout, retain_graph=True)       # (keeps the arg-max to read)
    return y.data, t.grad, dout, creator


def _pool_args(creator, x_shape, out_hw):
    (kh, kw), (sh, sw), ((pt, _), (pl, _)) = creator.kernel, creator.stride, creator.padding
    return i32(*x_shape, kh, kw, sh, sw, pt, pl, *out_hw)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, ties=st.booleans())
def test_max_pool_kernels_match_reference(dtype, case, seed, ties):
    """Forward, int32 arg-max and the gathered backward equal F.max_pool2d's; with ties
    (values rounded to a few levels) the first maximum in row-major order wins."""
    x = random_array(seed, case["x_shape"], dtype)
    if ties:
        x = np.round(x).astype(dtype)
    expected, expected_dx, dout, creator = _pool_reference(F.max_pool2d, x, case)
    out = np.full(expected.shape, np.nan, dtype=dtype)
    argmax = np.full(expected.shape, -7, dtype=np.int32)
    args = _pool_args(creator, x.shape, expected.shape[2:])
    run("pool.cu", "max_pool2d_forward", dtype, x, out, argmax, *args, np.int32(1))
    np.testing.assert_array_equal(out, expected)
    # the arg-max is the flat index yy W + xx of the reference's winner (-1 for padding)
    kw, w = creator.kernel[1], x.shape[3]
    (sh, sw), ((pt, _), (pl, _)) = creator.stride, creator.padding
    y_idx, x_idx = np.indices(expected.shape[2:])
    win = creator.argmax[:, :, 0]                                       # i kw + j
    yy = y_idx * sh + win // kw - pt
    xx = x_idx * sw + win % kw - pl
    inside = (yy >= 0) & (yy < x.shape[2]) & (xx >= 0) & (xx < w)
    np.testing.assert_array_equal(argmax, np.where(inside, yy * w + xx, -1))
    dx = np.full(x.shape, np.nan, dtype=dtype)
    run("pool.cu", "max_pool2d_backward", dtype, dout, argmax, dx, *args)
    assert_close(dx, expected_dx, dtype, "max_pool2d dx")
    unused = np.full(expected.shape, np.nan, dtype=dtype)               # inference: no argmax
    run("pool.cu", "max_pool2d_forward", dtype, x, unused, np.empty(0, np.int32), *args,
        np.int32(0))
    np.testing.assert_array_equal(unused, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds, count_include_pad=st.booleans())
def test_avg_pool_kernels_match_reference(dtype, case, seed, count_include_pad):
    """Forward and the gathered backward equal F.avg_pool2d's, with its divisor array."""
    x = random_array(seed, case["x_shape"], dtype)
    expected, expected_dx, dout, creator = _pool_reference(
        F.avg_pool2d, x, case, count_include_pad=count_include_pad)
    divisor = np.ascontiguousarray(creator.divisor, dtype=dtype)
    assert divisor.shape == expected.shape[2:]
    args = _pool_args(creator, x.shape, expected.shape[2:])
    out = np.full(expected.shape, np.nan, dtype=dtype)
    run("pool.cu", "avg_pool2d_forward", dtype, x, divisor, out, *args)
    assert_close(out, expected, dtype, "avg_pool2d output")
    dx = np.full(x.shape, np.nan, dtype=dtype)
    run("pool.cu", "avg_pool2d_backward", dtype, dout, divisor, dx, *args)
    assert_close(dx, expected_dx, dtype, "avg_pool2d dx")


# --------------------------------------------------------------------------- elementwise.cu
@pytest.mark.parametrize("dtype", DTYPES)
@given(size=st.integers(0, 300), seed=seeds)
def test_relu_kernels(dtype, size, seed):
    x = random_array(seed, size, dtype)
    x[::7] = 0                                              # the gradient at 0 is 0
    g = random_array(seed + 1, size, dtype)
    y, dx = np.full_like(x, np.nan), np.full_like(x, np.nan)
    run("elementwise.cu", "relu_forward", dtype, x, y, np.int64(size))
    run("elementwise.cu", "relu_backward", dtype, g, y, dx, np.int64(size))
    with mc.use_backend("numpy"):
        t = mc.Tensor(x.copy(), requires_grad=True)
        ref = F.relu(t)
        ref.backward(g)
    np.testing.assert_array_equal(y, ref.data)
    np.testing.assert_array_equal(dx, t.grad)


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.integers(1, 9), i=st.integers(1, 7), o=st.integers(1, 9), seed=seeds,
       activation=st.sampled_from([0, 1]))
def test_bias_activation_kernel(dtype, m, i, o, seed, activation):
    """y = act(x @ W + b) in place, against F.linear (then F.relu)."""
    x, w = random_array(seed, (m, i), dtype), random_array(seed + 1, (i, o), dtype)
    b = random_array(seed + 2, o, dtype)
    y = np.ascontiguousarray(x @ w)
    run("elementwise.cu", "bias_activation", dtype, y, b, np.int64(m), *i32(o, activation))
    with mc.use_backend("numpy"):
        ref = F.linear(x, w, b)
        ref = F.relu(ref) if activation else ref
    assert_close(y, ref.data, dtype, "bias_activation")


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 6), c=st.integers(1, 40), seed=seeds,
       reduction=st.sampled_from(["mean", "sum", "none"]), smoothing=st.sampled_from([0, 0.1]),
       spread=st.sampled_from([1.0, 30.0]))
def test_softmax_cross_entropy_kernels(dtype, n, c, seed, reduction, smoothing, spread):
    """Per-sample loss, softmax p and (p - q) g / divisor against F.cross_entropy."""
    x = random_array(seed, (n, c), dtype) * dtype_type(dtype)(spread)
    labels = np.random.default_rng(seed).integers(0, c, n)
    with mc.use_backend("numpy"):
        t = mc.Tensor(x.copy(), requires_grad=True)
        loss = F.cross_entropy(t, labels, label_smoothing=smoothing, reduction=reduction)
        g = random_array(seed + 1, loss.shape, dtype)
        creator = loss.creator
        q, p_ref = creator.target, creator.p
        loss.backward(g)
    per_sample, p = np.full(n, np.nan, dtype=dtype), np.full((n, c), np.nan, dtype=dtype)
    run("elementwise.cu", "softmax_cross_entropy_forward", dtype, x, q, per_sample, p,
        *i32(n, c))
    assert_close(p, p_ref, dtype, "softmax")
    total = per_sample if reduction == "none" else per_sample.sum() / (
        n if reduction == "mean" else 1)
    assert_close(np.asarray(total, dtype=dtype), np.asarray(loss.data), dtype, "loss")
    dx = np.full((n, c), np.nan, dtype=dtype)
    divisor = dtype_type(dtype)(n if reduction == "mean" else 1)
    run("elementwise.cu", "softmax_cross_entropy_backward", dtype, p, q,
        np.ascontiguousarray(g, dtype=dtype).reshape(-1), dx,
        *i32(n, c, reduction == "none"), divisor)
    assert_close(dx, t.grad, dtype, "cross_entropy dx")


def dtype_type(dtype):
    return np.dtype(dtype).type
