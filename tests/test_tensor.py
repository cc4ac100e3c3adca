"""The Tensor and its autograd: arithmetic, reductions, shapes, accumulation, modes."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import minicnn as mc
from minicnn.testing import assert_matches_torch
from minicnn.testing.strategies import DTYPES, random_array, seeds

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}
pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs, seed=seeds)
def test_broadcasting_binary_ops_match_torch(name, dtype, shapes, seed):
    a_shape, b_shape = shapes.input_shapes
    a = random_array(seed, a_shape, dtype, 0.5, 2.0)       # positive: safe for / and **
    b = random_array(seed + 1, b_shape, dtype, 0.5, 2.0)
    assert_matches_torch(BINARY[name], BINARY[name], [a, b], dtype, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@given(m=st.integers(1, 5), k=st.integers(1, 5), n=st.integers(1, 5), batch=st.sampled_from(
    [(), (3,), (2, 1)]), vec=st.sampled_from([None, "left", "right"]), seed=seeds)
def test_matmul_matches_torch(dtype, m, k, n, batch, vec, seed):
    a_shape = (k,) if vec == "left" else batch + (m, k)
    b_shape = (k,) if vec == "right" else (n and (k, n))
    a, b = random_array(seed, a_shape, dtype), random_array(seed + 1, b_shape, dtype)
    assert_matches_torch(lambda a, b: a @ b, lambda a, b: a @ b, [a, b], dtype, seed=seed)


UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "exp": (lambda x: x.exp(), torch.exp),
    "log": (lambda x: (x * x + 0.5).log(), lambda x: (x * x + 0.5).log()),
    "pow_scalar": (lambda x: (x * x + 1) ** 1.5, lambda x: (x * x + 1) ** 1.5),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    "scalar_arith": (lambda x: (3 - x) / 2 + 1 * x - 0.5 / (x * x + 1),
                     lambda x: (3 - x) / 2 + 1 * x - 0.5 / (x * x + 1)),
    "sum": (lambda x: x.sum(), torch.sum),
    "sum_axis": (lambda x: x.sum(axis=0), lambda x: x.sum(0)),
    "sum_axes_keep": (lambda x: x.sum(axis=(0, -1), keepdims=True),
                      lambda x: x.sum((0, -1), keepdim=True)),
    "mean": (lambda x: x.mean(), torch.mean),
    "mean_axis": (lambda x: x.mean(axis=-1), lambda x: x.mean(-1)),
    "max": (lambda x: x.max(), torch.amax),
    "max_axis_keep": (lambda x: x.max(axis=0, keepdims=True), lambda x: x.amax(0, keepdim=True)),
    "reshape": (lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    "transpose": (lambda x: x.T, lambda x: x.permute(*reversed(range(x.ndim)))),
    "index_slice": (lambda x: x[::2], lambda x: x[::2]),
    "index_repeat": (lambda x: x[np.array([0, 0, -1])], lambda x: x[torch.tensor([0, 0, -1])]),
    "astype": (lambda x: x.astype("float64") * 2, lambda x: x.double() * 2),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=3).map(tuple), seed=seeds,
       ties=st.booleans())
def test_unary_ops_match_torch(name, dtype, shape, seed, ties):
    x = random_array(seed, shape, dtype)
    if ties:
        x = np.round(x).astype(dtype)     # max: equal maxima share the gradient, as amax
    mc_fn, torch_fn = UNARY[name]
    if name == "astype":                  # the output is float64 whatever the input
        out = mc_fn(mc.Tensor(x, requires_grad=True))
        assert out.dtype == np.float64
        return
    assert_matches_torch(mc_fn, torch_fn, [x], dtype, seed=seed)


@pytest.mark.parametrize("name", ["add", "mul", "div", "pow"])
@given(shapes=pairs, seed=seeds)
def test_binary_ops_gradcheck(name, shapes, seed):
    a_shape, b_shape = shapes.input_shapes
    mc.gradcheck(BINARY[name], [random_array(seed, a_shape, "float64", 0.5, 2.0),
                                random_array(seed + 1, b_shape, "float64", 0.5, 2.0)],
                 seed=seed % 1000)


@pytest.mark.parametrize("name", sorted(set(UNARY) - {"astype"}))
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple), seed=seeds)
def test_unary_ops_gradcheck(name, shape, seed):
    mc.gradcheck(UNARY[name][0], [random_array(seed, shape)], seed=seed % 1000)


def test_gradients_accumulate_until_zero_grad():
    x = mc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2, 3 + 4])
    x.zero_grad()
    assert x.grad is None


def test_fan_out_sums_gradients():
    x = mc.Tensor(np.array([2.0]), requires_grad=True)
    y = x * x
    (y + y * x).sum().backward()          # d/dx (x^2 + x^3) = 2x + 3x^2
    np.testing.assert_allclose(x.grad, [2 * 2 + 3 * 4])


def test_no_grad_records_nothing():
    x = mc.Tensor(np.ones(3), requires_grad=True)
    with mc.no_grad():
        y = x * 2
    assert y.creator is None and not y.requires_grad

    @mc.no_grad()
    def f(t):
        return t + 1
    assert f(x).creator is None
    assert (x + 1).creator is not None     # recording is back on


def test_graph_can_be_walked():
    x = mc.Tensor(np.ones(2), requires_grad=True, name="x")
    w = mc.Tensor(np.ones(2), requires_grad=True, name="w")
    loss = (x * w).exp().sum()
    assert loss.creator.name == "Sum"
    assert loss.creator.inputs[0].creator.name == "Exp"
    order = mc.topological_order(loss)
    names = [t.creator.name if t.creator else t.name for t in order]
    assert names[-1] == "Sum" and set(names[:2]) == {"x", "w"}
    assert names.index("Mul") < names.index("Exp") < names.index("Sum")


def test_deep_graph_does_not_hit_the_recursion_limit():
    x = mc.Tensor(np.ones(1), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1
    y.sum().backward()
    assert x.grad[0] == 1


def test_retain_grad_on_intermediate():
    x = mc.Tensor(np.array([3.0]), requires_grad=True)
    y = (x * 2).retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad, [12.0])
    np.testing.assert_allclose(x.grad, [24.0])


def test_dtypes():
    assert mc.Tensor([1.0, 2.0]).dtype == np.float32             # default
    assert mc.Tensor(np.arange(3)).dtype == np.float32           # integers become floats
    assert mc.Tensor(np.zeros(2)).dtype == np.float64            # float64 kept on request
    assert mc.Tensor([1, 2], dtype="float64").dtype == np.float64
    x = mc.Tensor(np.ones(2, np.float32))
    assert (x * 2.5 + 1).dtype == np.float32                     # numbers keep the dtype
    with pytest.raises(TypeError, match="got an array of dtype object"):
        mc.Tensor(np.array([object()]))
    mc.set_default_dtype("float64")
    try:
        assert mc.Tensor([1.0]).dtype == np.float64
    finally:
        mc.set_default_dtype("float32")


def test_backward_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mc.Tensor([1.0]).backward()
    x = mc.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"needs a single-number tensor; this one has shape \(3,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\), the tensor has shape \(3,\)"):
        (x * 2).backward(np.ones(2))


def test_ndarray_on_the_left_defers_to_tensor():
    x = mc.Tensor(np.ones(2), requires_grad=True)
    y = np.array([2.0, 3.0]) * x
    assert isinstance(y, mc.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 3])
