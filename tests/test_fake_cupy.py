"""The NumPy-backed fake cupy (tests/fake_cupy, tests/fakegpu.py) behaves as CuPy does where
the GPU code paths depend on it: mixing with host arrays raises, copies and syncs are counted,
results are device arrays, and swapping it in and out leaves the interpreter as it was."""
import pickle
import sys
import types

import numpy as np
import pytest

import fakegpu
from fakegpu import fake_gpu, fake_gpu_module  # noqa: F401


def host(*shape, dtype=np.float32):
    return np.arange(np.prod(shape), dtype=dtype).reshape(shape)


# ----------------------------------------------------------------------------- the array type
def test_array_type_looks_like_cupy(fake_gpu):
    cupy = fake_gpu
    a = cupy.asarray(host(2, 3))
    assert type(a) is cupy.ndarray and type(a).__module__ == "cupy"
    assert type(a).__name__ == "ndarray" and cupy.ndarray.__module__.startswith("cupy")
    assert a.device.id == 0 and a.device == cupy.cuda.Device(0)
    assert a.shape == (2, 3) and a.dtype == np.float32 and len(a) == 2
    face = a.__cuda_array_interface__
    assert face["shape"] == (2, 3) and face["typestr"] == "<f4" and face["version"] == 3
    assert face["data"][0] == a.data.ptr


def test_array_module_of_minicnn_picks_the_fake(fake_gpu):
    from minicnn.backend import array_module
    from minicnn.device import device_of, is_device_array
    a = fake_gpu.asarray(host(3))
    assert array_module(a) is fake_gpu and array_module(host(3)) is np
    assert is_device_array(a) and device_of(a) == "cuda:0"
    assert fake_gpu.get_array_module(a) is fake_gpu and fake_gpu.get_array_module(1) is np


@pytest.mark.parametrize("make", [
    lambda c, a: a.copy(), lambda c, a: a.astype(np.float64), lambda c, a: a.reshape(6),
    lambda c, a: a[:, 1:], lambda c, a: a.T, lambda c, a: a[0, 0], lambda c, a: a.sum(),
    lambda c, a: a.mean(axis=0), lambda c, a: a.max(), lambda c, a: a.std(),
    lambda c, a: a.argmax(axis=1), lambda c, a: a + 1, lambda c, a: -a, lambda c, a: a @ a.T,
    lambda c, a: a > 2, lambda c, a: abs(a), lambda c, a: a ** 2, lambda c, a: 2.0 * a,
    lambda c, a: a * np.float32(3), lambda c, a: np.exp(a), lambda c, a: np.sum(a),
    lambda c, a: np.concatenate([a, a]), lambda c, a: c.exp(a), lambda c, a: c.sum(a),
    lambda c, a: c.maximum(a, 0), lambda c, a: c.where(a > 1, a, 0.0),
    lambda c, a: c.pad(a, ((0, 0), (1, 1))), lambda c, a: c.zeros((2, 2)),
    lambda c, a: c.zeros_like(a), lambda c, a: c.empty((3,), np.float32),
    lambda c, a: c.full((2,), 3.0), lambda c, a: c.arange(4), lambda c, a: c.ones_like(a),
    lambda c, a: c.broadcast_to(a[0], (4, 3)), lambda c, a: c.matmul(a, a.T),
    lambda c, a: c.take_along_axis(a, c.argmax(a, axis=1)[:, None], axis=1),
    lambda c, a: c.log(a + 1), lambda c, a: c.stack([a, a]), lambda c, a: c.expand_dims(a, 0),
    lambda c, a: c.swapaxes(a, 0, 1), lambda c, a: c.ascontiguousarray(a.T),
    lambda c, a: c.sqrt(a), lambda c, a: c.isfinite(a).all(), lambda c, a: c.linalg.norm(a),
    lambda c, a: c.random.default_rng(0).standard_normal((2, 2), dtype=np.float32),
    lambda c, a: c.random.RandomState(0).randn(3), lambda c, a: c.random.rand(2),
])
def test_operations_return_device_arrays(fake_gpu, make):
    a = fake_gpu.asarray(host(2, 3))
    fakegpu.reset_transfers()
    result = make(fake_gpu, a)
    assert type(result) is fake_gpu.ndarray, type(result)
    assert fakegpu.transfers() == {"h2d": 0, "d2h": 0, "sync": 0, "launches": 0}


def test_results_are_numpys(fake_gpu):
    x = host(2, 3)
    a = fake_gpu.asarray(x)
    np.testing.assert_array_equal(fake_gpu.asnumpy(fake_gpu.exp(a) + a), np.exp(x) + x)
    np.testing.assert_array_equal((a.sum(axis=1) * 2).get(), x.sum(axis=1) * 2)
    out = fake_gpu.empty((2, 3), np.float32)
    assert fake_gpu.multiply(a, 2, out=out) is out
    np.testing.assert_array_equal(out.get(), x * 2)
    a += 1
    np.testing.assert_array_equal(a.get(), x + 1)
    g = fake_gpu.zeros(4)
    fake_gpu.add.at(g, fake_gpu.asarray(np.array([0, 0, 3])), 1.0)
    np.testing.assert_array_equal(g.get(), [2, 0, 0, 1])
    assert list(fake_gpu.arange(3)) == [0, 1, 2] and type(list(fake_gpu.arange(3))[0]) \
        is fake_gpu.ndarray
    assert fake_gpu.float32 is np.float32 and fake_gpu.inf == np.inf and fake_gpu.newaxis is None
    assert fake_gpu.exp is fake_gpu.exp and fake_gpu.dtype is np.dtype


# ----------------------------------------------------------------------------- mixing
MIXES = [
    lambda c, a, h: a + h, lambda c, a, h: h + a, lambda c, a, h: a * h[0, 0, ...],
    lambda c, a, h: a == h, lambda c, a, h: np.add(a, h), lambda c, a, h: c.add(a, h),
    lambda c, a, h: c.exp(h), lambda c, a, h: c.maximum(a, h), lambda c, a, h: a @ h.T,
    lambda c, a, h: np.concatenate([a, h]), lambda c, a, h: c.concatenate([a, h]),
    lambda c, a, h: c.where(a > 0, h, a), lambda c, a, h: c.zeros_like(h),
    lambda c, a, h: c.take_along_axis(a, np.zeros((2, 1), np.int64), axis=1),
    lambda c, a, h: c.sum(h), lambda c, a, h: c.ascontiguousarray(h),
    lambda c, a, h: a.dot(h.T), lambda c, a, h: np.multiply(a, 2, out=h),
    lambda c, a, h: c.add.at(h, [0], 1.0), lambda c, a, h: c.add(a, [1.0, 2.0, 3.0]),
]


@pytest.mark.parametrize("mix", MIXES)
def test_mixing_with_host_arrays_raises_like_cupy(fake_gpu, mix):
    a, h = fake_gpu.asarray(host(2, 3)), host(2, 3)
    with pytest.raises(TypeError, match="Unsupported type"):
        mix(fake_gpu, a, h)


def test_scalars_mix_freely(fake_gpu):
    a = fake_gpu.asarray(host(3))
    for scalar in (2, 2.5, True, np.float32(2), np.int64(3), np.float64(0.5)):
        assert type(a * scalar) is fake_gpu.ndarray and type(scalar - a) is fake_gpu.ndarray


def test_setitem_copies_host_arrays_only_into_a_whole_slice(fake_gpu):
    a = fake_gpu.zeros((2, 3), np.float32)
    fakegpu.reset_transfers()
    a[:] = host(2, 3)                       # CuPy allows this one (a host -> device copy)
    a[...] = host(2, 3)
    assert fakegpu.transfers()["h2d"] == 2
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        a[0] = host(3)
    a[0] = np.float32(7)
    a[1, :] = fake_gpu.ones(3)
    a[0, 0] = np.array(5.0)                 # 0-d: a scalar for CuPy's fill
    np.testing.assert_array_equal(a.get(), [[5, 7, 7], [1, 1, 1]])


def test_host_index_arrays_are_counted_copies(fake_gpu):
    a = fake_gpu.asarray(host(4))
    fakegpu.reset_transfers()
    assert a[np.array([1, 3])].get().tolist() == [1, 3]
    assert fakegpu.transfers()["h2d"] == 1
    assert a[fake_gpu.asarray(np.array([0]))].shape == (1,)
    fake_gpu.add.at(a, np.array([0, 0]), 1.0)      # an index for CuPy: copied, counted
    assert fakegpu.transfers()["h2d"] == 3 and a.get().tolist() == [2, 1, 2, 3]
    with pytest.raises(TypeError, match="Unsupported type"):
        fake_gpu.add.at(a, [0], np.ones(1))        # the values are an operand: refused


def test_limits_documented_implicit_conversion_is_not_intercepted(fake_gpu):
    # Real CuPy raises "Implicit conversion to a NumPy array is not allowed" here; a subclass
    # of numpy.ndarray cannot stop it (numpy never calls __array__ for one). The host array
    # it leaks is caught as soon as it meets a device array again:
    a = fake_gpu.asarray(host(3))
    leaked = np.asarray(a)
    assert type(leaked) is np.ndarray and type(np.ascontiguousarray(a)) is np.ndarray
    with pytest.raises(TypeError, match="Unsupported type"):
        a + leaked


# ----------------------------------------------------------------------------- counting
def test_transfers_and_syncs_are_counted_exactly(fake_gpu):
    cupy = fake_gpu
    assert fakegpu.transfers() == {"h2d": 0, "d2h": 0, "sync": 0, "launches": 0}
    a = cupy.asarray(host(2, 3))            # h2d
    assert cupy.asarray(a) is a             # already there: no copy, no count
    assert cupy.asarray(a, dtype=np.float32) is a
    b = cupy.array(a)                       # a device copy: not a transfer
    cupy.array([1.0, 2.0])                  # h2d (host data)
    cupy.asarray(3.0)                       # h2d
    assert fakegpu.transfers() == {"h2d": 3, "d2h": 0, "sync": 0, "launches": 0}
    h = a.get()                             # d2h
    assert type(h) is np.ndarray and not np.shares_memory(h, a.view(np.ndarray))
    assert type(cupy.asnumpy(b)) is np.ndarray    # d2h
    assert cupy.asnumpy(h) is h             # a host array: nothing to copy
    assert fakegpu.transfers()["d2h"] == 2
    s = a.sum()
    float(s), int(s), bool(s), s.item(), a.tolist(), a[0, 1].item()
    if s > 3:                               # bool() again
        pass
    assert fakegpu.transfers() == {"h2d": 3, "d2h": 2, "sync": 7, "launches": 0}
    repr(a), str(a), len(a), a.shape       # none of these count
    assert fakegpu.transfers()["sync"] == 7
    a.set(host(2, 3))
    assert fakegpu.transfers()["h2d"] == 4
    fakegpu.reset_transfers()
    assert fakegpu.transfers() == {"h2d": 0, "d2h": 0, "sync": 0, "launches": 0}


def test_device_to_host_through_minicnn_device(fake_gpu):
    from minicnn import device
    a = device.to_device(host(3), "cuda")
    assert type(a) is fake_gpu.ndarray and fakegpu.transfers()["h2d"] == 1
    assert device.to_device(a, "cuda:0") is a
    assert type(device.to_host(a)) is np.ndarray and fakegpu.transfers()["d2h"] == 1


def test_pickle_round_trip_stays_on_the_device(fake_gpu):
    a = fake_gpu.asarray(host(2, 2))
    b = pickle.loads(pickle.dumps(a))
    assert type(b) is fake_gpu.ndarray and b.get().tolist() == a.get().tolist()


# ----------------------------------------------------------------------------- cupy.cuda etc.
def test_cuda_runtime_and_device(fake_gpu):
    cuda = fake_gpu.cuda
    assert fake_gpu.__version__ == "14.0.0+fake"
    assert cuda.runtime.getDeviceCount() == 1
    props = cuda.runtime.getDeviceProperties(0)
    assert isinstance(props["name"], bytes) and props["totalGlobalMem"] > 0
    free, total = cuda.runtime.memGetInfo()
    assert 0 < free <= total
    assert cuda.runtime.runtimeGetVersion() == 13000 == cuda.runtime.driverGetVersion()
    assert issubclass(cuda.runtime.CUDARuntimeError, Exception)
    assert issubclass(cuda.memory.OutOfMemoryError, MemoryError)
    with cuda.Device(0) as d:
        assert d.id == 0 and d.compute_capability == "90"
        d.synchronize()
    with pytest.raises(cuda.runtime.CUDARuntimeError):
        with cuda.Device(1):
            pass
    with pytest.raises(cuda.runtime.CUDARuntimeError):
        cuda.runtime.getDeviceProperties(1)
    cuda.get_current_stream().synchronize()
    start, end = cuda.Event(), cuda.Event()
    start.record()
    end.record()
    end.synchronize()
    assert cuda.get_elapsed_time(start, end) >= 0.0
    pool = fake_gpu.get_default_memory_pool()
    assert pool.used_bytes() >= 0 and pool.total_bytes() >= 0
    pool.free_all_blocks()


def test_minicnn_sees_a_usable_cupy_backend(fake_gpu):
    import minicnn
    from minicnn import backend
    assert backend.cupy_unavailable_reason() is None
    assert "cupy" in minicnn.available_backends()


# ----------------------------------------------------------------------------- the swap
def test_fake_cupy_restores_sys_modules_and_path():
    sentinel = types.ModuleType("cupy")
    sub = types.ModuleType("cupy.cuda")
    before_path = list(sys.path)
    had = {k: sys.modules[k] for k in ("cupy", "cupy.cuda") if k in sys.modules}
    sys.modules["cupy"], sys.modules["cupy.cuda"] = sentinel, sub
    try:
        with fakegpu.fake_cupy() as cupy:
            assert cupy is sys.modules["cupy"] and cupy is not sentinel and cupy.FAKE
            assert sys.modules["cupy.cuda"] is cupy.cuda
            import cupy as again
            assert again is cupy
        assert sys.modules["cupy"] is sentinel and sys.modules["cupy.cuda"] is sub
        assert not [k for k in sys.modules if k.startswith("cupy.") and k != "cupy.cuda"]
        assert sys.path == before_path
    finally:
        del sys.modules["cupy"], sys.modules["cupy.cuda"]
        sys.modules.update(had)


def test_fake_cupy_restores_on_error_and_when_nothing_was_there():
    assert not any(k == "cupy" or k.startswith("cupy.") for k in sys.modules) or True
    before = {k: v for k, v in sys.modules.items() if k == "cupy" or k.startswith("cupy.")}
    with pytest.raises(KeyError):
        with fakegpu.fake_cupy():
            raise KeyError("boom")
    after = {k: v for k, v in sys.modules.items() if k == "cupy" or k.startswith("cupy.")}
    assert after == before


def test_fixture_restores_the_backend():
    import minicnn
    from minicnn import backend
    before = minicnn.get_backend()
    gen = fakegpu.fake_gpu.__wrapped__()
    next(gen)
    minicnn.set_backend("cupy")
    assert minicnn.get_backend() == "cupy"
    with pytest.raises(StopIteration):
        next(gen)
    assert minicnn.get_backend() == before and backend._current == before


def test_each_swap_imports_afresh(fake_gpu):
    with fakegpu.fake_cupy() as inner:
        assert inner is not fake_gpu
    assert sys.modules["cupy"] is fake_gpu


# ----------------------------------------------------------------------------- RawModule
class _StandInModule:
    def __init__(self, code, options=(), name_expressions=()):
        self.args = (code, options, name_expressions)

    def get_function(self, name):
        def kernel(grid, block, args, shared_mem=0):
            kernel.calls.append((grid, block, args, shared_mem))
        kernel.calls = []
        return kernel


def test_raw_module_delegates_to_cuda_host(fake_gpu, monkeypatch):
    from minicnn.backend import import_kernels
    kernels = import_kernels()
    monkeypatch.setattr(kernels, "cuda_host", types.SimpleNamespace(HostModule=_StandInModule),
                        raising=False)
    module = fake_gpu.RawModule(code="src", options=("-std=c++17",),
                                name_expressions=("scale<float>",))
    assert module._module.args == ("src", ("-std=c++17",), ("scale<float>",))
    kernel = module.get_function("scale<float>")
    a = fake_gpu.zeros(4, np.float32)
    kernel((1,), (128,), (a, np.int64(4)))
    kernel((2,), (64,), (a, np.int64(4)), shared_mem=16)
    assert kernel._kernel.calls[1] == ((2,), (64,), (a, np.int64(4)), 16)
    assert fakegpu.transfers()["launches"] == 2
    with pytest.raises(TypeError):
        kernel(1, (128,), (a,))              # CuPy wants tuples
    assert fakegpu.transfers()["launches"] == 2
    with pytest.raises(TypeError, match="Unsupported type"):
        kernel((1,), (128,), (np.zeros(4, np.float32), np.int64(4)))   # a host array
    assert fakegpu.transfers()["launches"] == 2


SCALE = r"""
#include "common.cuh"
template <typename T>
__global__ void scale(const T *__restrict__ x, T *__restrict__ y, T factor, long long n) {
    MC_GRID_STRIDE_LOOP(i, n) { y[i] = x[i] * factor; }
}
"""


def test_raw_module_runs_a_kernel_through_cuda_host(fake_gpu):
    import os
    from minicnn.backend import import_kernels
    folder = os.path.join(os.path.dirname(import_kernels().__file__), "cuda")
    module = fake_gpu.RawModule(code=SCALE, options=("-std=c++17", "-I" + folder),
                                name_expressions=("scale<float>", "scale<double>"))
    x = fake_gpu.asarray(np.arange(1000, dtype=np.float32))
    y = fake_gpu.empty_like(x)
    fakegpu.reset_transfers()
    module.get_function("scale<float>")((4,), (256,), (x, y, np.float32(3), np.int64(x.size)))
    assert fakegpu.transfers() == {"h2d": 0, "d2h": 0, "sync": 0, "launches": 1}
    np.testing.assert_array_equal(y.get(), np.arange(1000, dtype=np.float32) * 3)
    x64 = x.astype(np.float64)
    y64 = fake_gpu.zeros_like(x64)
    module.get_function("scale<double>")((1,), (32,), (x64, y64, np.float64(0.5), np.int64(7)))
    np.testing.assert_array_equal(y64.get()[:8], [0, 0.5, 1, 1.5, 2, 2.5, 3, 0])
    with pytest.raises(TypeError, match="Python int"):
        module.get_function("scale<float>")((1,), (32,), (x, y, np.float32(1), 1000))


def test_module_fixture(fake_gpu_module):     # last: the fake stays in until the module ends
    assert sys.modules["cupy"] is fake_gpu_module and fake_gpu_module.FAKE
    with fakegpu.fake_cupy() as inner:
        assert inner is not fake_gpu_module
    assert sys.modules["cupy"] is fake_gpu_module
