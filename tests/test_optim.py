"""Optimisers against torch.optim: same parameters, same gradients, same updates.

Each case runs several steps with a fresh random gradient per step (float64) and asserts
the parameters agree to 1e-12 relative: the rules are the same to the last few bits,
only the order of floating-point operations differs.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn.optim import SGD, Adam, AdamW

SHAPES = [(3, 4), (5,), (2, 1, 3, 3)]

# (minicnn class, torch class, keyword arguments shared by both)
CASES = {
    "sgd": (SGD, torch.optim.SGD, dict(lr=0.1)),
    "sgd-momentum": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    "sgd-nesterov": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    "sgd-weight-decay": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, weight_decay=0.01)),
    "sgd-dampening": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3)),
    "adam": (Adam, torch.optim.Adam, dict(lr=0.01)),
    "adam-betas-eps": (Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    "adam-weight-decay": (Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.05)),
    "adamw": (AdamW, torch.optim.AdamW, dict(lr=0.01)),
    "adamw-weight-decay": (AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
}


def make_params(seed, dtype="float64"):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def gradient_sequence(seed, steps, dtype="float64"):
    rng = np.random.default_rng(seed + 1000)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def run_minicnn(opt, params, grads):
    for step_grads in grads:
        opt.zero_grad()
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()


def run_torch(cls, kwargs, arrays, grads):
    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = cls(params, **kwargs)
    for step_grads in grads:
        opt.zero_grad()
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in params]


def assert_same(actual, expected, rtol=1e-12):
    for i, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * np.abs(e).max(),
                                   err_msg=f"parameter {i}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_optim(case):
    mc_cls, torch_cls, kwargs = CASES[case]
    arrays, grads = make_params(0), gradient_sequence(0, steps=6)
    params = [mc.Parameter(a.copy()) for a in arrays]
    run_minicnn(mc_cls(params, **kwargs), params, grads)
    expected = run_torch(torch_cls, kwargs, arrays, grads)
    assert_same([p.data for p in params], expected)
    assert all(p.data.dtype == np.float64 for p in params)


@settings(max_examples=15)
@given(case=st.sampled_from(sorted(CASES)), seed=st.integers(0, 2**31), steps=st.integers(1, 8),
       lr=st.floats(1e-4, 0.5))
def test_matches_torch_optim_random(case, seed, steps, lr):
    mc_cls, torch_cls, kwargs = CASES[case]
    kwargs = dict(kwargs, lr=lr)
    arrays, grads = make_params(seed), gradient_sequence(seed, steps)
    params = [mc.Parameter(a.copy()) for a in arrays]
    run_minicnn(mc_cls(params, **kwargs), params, grads)
    assert_same([p.data for p in params], run_torch(torch_cls, kwargs, arrays, grads))


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_resume_equals_uninterrupted(case):
    mc_cls, _, kwargs = CASES[case]
    arrays, grads = make_params(1), gradient_sequence(1, steps=7)

    straight = [mc.Parameter(a.copy()) for a in arrays]
    run_minicnn(mc_cls(straight, **kwargs), straight, grads)

    first = [mc.Parameter(a.copy()) for a in arrays]
    opt = mc_cls(first, **kwargs)
    run_minicnn(opt, first, grads[:3])
    saved = opt.state_dict()
    saved_weights = [p.data.copy() for p in first]
    run_minicnn(opt, first, grads[3:4])          # the saved state must not change with this

    resumed = [mc.Parameter(w) for w in saved_weights]
    opt2 = mc_cls(resumed, lr=123.0)             # hyper-parameters come from the state
    opt2.load_state_dict(saved)
    run_minicnn(opt2, resumed, grads[3:])
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_holds_numpy_buffers_and_steps():
    params = [mc.Parameter(a) for a in make_params(2)]
    opt = Adam(params, lr=0.01)
    run_minicnn(opt, params, gradient_sequence(2, 2))
    state = opt.state_dict()
    assert state["optimizer"] == "Adam"
    assert state["hyperparameters"]["lr"] == 0.01
    assert [s["step"] for s in state["state"]] == [2, 2, 2]
    for s, p in zip(state["state"], params):
        assert isinstance(s["exp_avg"], np.ndarray) and s["exp_avg"].shape == p.shape
        assert s["exp_avg"] is not opt.state[0]["exp_avg"]


def test_state_loaded_before_binding_is_used_when_bound():
    arrays, grads = make_params(3), gradient_sequence(3, 5)
    straight = [mc.Parameter(a.copy()) for a in arrays]
    run_minicnn(SGD(straight, lr=0.1, momentum=0.9), straight, grads)

    first = [mc.Parameter(a.copy()) for a in arrays]
    opt = SGD(first, lr=0.1, momentum=0.9)
    run_minicnn(opt, first, grads[:2])
    unbound = SGD()
    unbound.load_state_dict(opt.state_dict())
    unbound.bind(first)
    run_minicnn(unbound, first, grads[2:])
    for a, b in zip(first, straight):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_errors():
    params = [mc.Parameter(a) for a in make_params(4)]
    opt = SGD(params, lr=0.1, momentum=0.9)
    run_minicnn(opt, params, gradient_sequence(4, 1))
    with pytest.raises(ValueError, match="saved by a SGD optimizer.*into Adam"):
        Adam(params).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="saved state has 3 parameters, this optimizer has 2"):
        SGD(params[:2]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(5,\)"):
        SGD(params[1:] + params[:1]).load_state_dict(opt.state_dict())


def test_parameters_without_grad_are_skipped():
    a, b = mc.Parameter(np.ones(3)), mc.Parameter(np.ones(2))
    opt = SGD([a, b], lr=0.5, momentum=0.9)
    a.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(a.data, 0.5 * np.ones(3))
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert "momentum_buffer" not in opt.state[1]


def test_updates_in_place_and_keep_dtype():
    for cls in (SGD, Adam, AdamW):
        p = mc.Parameter(np.ones((2, 3), dtype=np.float32))
        array = p.data
        opt = cls([p], lr=0.1)
        p.grad = np.full((2, 3), 0.5, dtype=np.float64)     # a gradient of another dtype
        opt.step()
        assert p.data is array and p.data.dtype == np.float32
        assert np.all(p.data < 1)


def test_zero_grad_clears_gradients():
    p = mc.Parameter(np.ones(3))
    opt = SGD([p])
    p.grad = np.ones(3)
    opt.zero_grad()
    assert p.grad is None


def test_learning_rate_alias_and_change_between_steps():
    p = mc.Parameter(np.zeros(1))
    opt = SGD([p], learning_rate=0.5)
    assert opt.lr == 0.5 and opt.learning_rate == 0.5
    p.grad = np.ones(1)
    opt.step()
    opt.lr = 0.25
    opt.step()
    np.testing.assert_array_equal(p.data, [-0.75])
    opt.learning_rate = 1.0
    assert opt.lr == 1.0


def test_params_positional_or_keyword_and_generator():
    p = mc.Parameter(np.zeros(2))
    assert SGD([p], 0.3).lr == 0.3
    assert SGD(params=(q for q in [p]), lr=0.3).params == [p]
    assert SGD(0.2).lr == 0.2 and not SGD(0.2).is_bound      # Keras: the first argument is the rate
    assert Adam(learning_rate=0.2).lr == 0.2


def test_defaults_follow_pytorch():
    assert (SGD().lr, SGD().momentum, SGD().nesterov) == (0.01, 0.0, False)
    assert (Adam().lr, Adam().betas, Adam().eps, Adam().weight_decay) == (1e-3, (0.9, 0.999),
                                                                          1e-8, 0.0)
    assert AdamW().weight_decay == 1e-2


def test_argument_errors():
    p = mc.Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="lr or learning_rate, not both"):
        SGD([p], lr=0.1, learning_rate=0.1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentun'"):
        SGD([p], momentun=0.9)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        Adam([p], lr=-1)
    with pytest.raises(ValueError, match="betas must be two numbers in"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="not a single Tensor; wrap it in a list"):
        SGD(p)
    with pytest.raises(ValueError, match="appears twice"):
        SGD([p, p])
    with pytest.raises(RuntimeError, match=r"has no parameters.*model.compile"):
        SGD(lr=0.01).step()


def test_optimizer_names():
    assert isinstance(mc.optim.get("SGD"), SGD)
    assert isinstance(mc.optim.get("adamw"), AdamW)
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'.*\['adam', 'adamw', 'sgd'\]"):
        mc.optim.get("rmsprop")
