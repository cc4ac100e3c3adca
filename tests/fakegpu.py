"""Run minicnn's GPU code paths without a GPU: a NumPy-backed fake ``cupy``.

    from fakegpu import fake_gpu  # noqa: F401    (the fixture)

    def test_something(fake_gpu):
        cupy = fake_gpu                     # the fake module (tests/fake_cupy/cupy)
        x = cupy.asarray(np.ones(3))        # counted: transfers()["h2d"] == 1

``fake_cupy()`` (a context manager) swaps the fake in for whatever ``cupy`` is imported (a
real CuPy on a GPU machine) and puts everything back on exit; ``fake_gpu`` is the pytest
fixture around it that also zeroes the counters and restores minicnn's backend
(``fake_gpu_module``: the same for a whole module, for Hypothesis ``@given`` tests).

``transfers()`` returns the counts since ``reset_transfers()``: "h2d" (host -> device copies:
cupy.asarray/array of host data, ``a.set``, a NumPy array copied into ``a[:]`` or used as an
index), "d2h" (``a.get()``, ``cupy.asnumpy``), "sync" (scalar reads that wait for the GPU:
``float(a)``, ``int(a)``, ``bool(a)``, ``a.item()``, ``a.tolist()``) and "launches" (kernels
launched through ``cupy.RawModule``). What the fake mimics and its limits: the docstring of
tests/fake_cupy/cupy/__init__.py.
"""
import contextlib
import os
import sys

import pytest

FAKE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_cupy")
_COUNTS = {"h2d": 0, "d2h": 0, "sync": 0, "launches": 0}


def transfers():
    """The counts since the last ``reset_transfers()`` (a copy)."""
    return dict(_COUNTS)


def reset_transfers():
    for key in _COUNTS:
        _COUNTS[key] = 0


def _is_cupy(name):
    return name == "cupy" or name.startswith("cupy.")


def _forget_cupy():
    backend = sys.modules.get("minicnn.backend")
    forget = getattr(backend, "forget_cupy", None)
    if forget is not None:
        forget()


@contextlib.contextmanager
def fake_cupy():
    """Import the fake as ``cupy`` for the ``with`` block and yield it.

    Saves and removes every ``sys.modules`` entry ``cupy`` / ``cupy.*``, puts the fake's folder
    first on ``sys.path``, imports it, and calls ``minicnn.backend.forget_cupy()`` (when it
    exists) so the backend probes CuPy afresh. On exit ``sys.modules`` and ``sys.path`` are
    restored exactly and ``forget_cupy()`` runs again."""
    saved_modules = {k: v for k, v in sys.modules.items() if _is_cupy(k)}
    saved_path = list(sys.path)
    for name in saved_modules:
        del sys.modules[name]
    sys.path.insert(0, FAKE_PATH)
    try:
        import cupy
        if getattr(cupy, "FAKE", False) is not True:
            raise RuntimeError(f"import cupy found {cupy.__file__!r}, not the fake")
        cupy._counts = _COUNTS
        _forget_cupy()
        yield cupy
    finally:
        for name in [k for k in sys.modules if _is_cupy(k)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path
        sys.path_importer_cache.pop(FAKE_PATH, None)
        _forget_cupy()


def _fake_gpu():
    import minicnn
    from minicnn import backend
    before = backend._current
    reset_transfers()
    try:
        with fake_cupy() as cupy:
            yield cupy
    finally:
        backend._current = before
    if before is not None:
        assert minicnn.get_backend() == before


@pytest.fixture
def fake_gpu():
    """The fake ``cupy`` module, with zeroed counters; minicnn's backend is the same after."""
    yield from _fake_gpu()


@pytest.fixture(scope="module")
def fake_gpu_module():
    """``fake_gpu`` for a whole test module: for ``@given`` tests, where Hypothesis refuses
    function-scoped fixtures (call ``reset_transfers()`` in the test before counting)."""
    yield from _fake_gpu()
