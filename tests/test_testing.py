"""minicnn.testing itself: the strategies yield only valid configurations and hit the edge
cases their docstrings promise; check_gradients and check_layer pass correct ops and layers
and catch planted bugs (a wrong scale, a transposed gradient, a forgotten bias gradient, a
wrong running-statistics update, a wrong output shape, a config that does not round-trip);
assert_matches_torch says what to install without PyTorch; the hypothesis profiles."""
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

import minicnn as mc
import minicnn.backend as backend
import minicnn.functional as F
from fakegpu import fake_gpu  # noqa: F401
from minicnn.functional.norm import BatchNorm
from minicnn.layers import (AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Layer,
                            MaxPooling2D, initializers)
from minicnn.testing import (LayerCheckError, assert_matches_torch, check_gradients, check_layer,
                             check_layer_once, register_profiles)
from minicnn.testing import strategies as mst
from minicnn.testing.profiles import PROFILES
from minicnn.tensor import Function

# Planted bugs are found by the first examples; shrinking them is not what is tested here.
QUICK = settings(max_examples=10, derandomize=True, database=None, deadline=None,
                 phases=[Phase.explicit, Phase.generate], print_blob=False)


# ----------------------------------------------------------------------------- strategies
def valid_image_shape(shape):
    assert len(shape) == 4 and all(isinstance(n, int) and n >= 1 for n in shape)


def valid_feature_shape(shape):
    assert len(shape) == 2 and all(isinstance(n, int) and n >= 1 for n in shape)


def valid_conv(case):
    x, w, b = mst.conv_inputs(case, 0)
    y = F.conv2d(x, w, b, **mst.conv_kwargs(case))
    assert y.shape == (case["x_shape"][0], case["w_shape"][0]) + mst.conv_output_hw(case)
    layer = Conv2D(**mst.conv_layer_kwargs(case))
    assert layer.compute_output_shape(case["x_shape"][1:]) == y.shape[1:]


def valid_pool(case):
    x = mst.random_array(0, case["x_shape"])
    if case["padding"] != "same":
        assert all(p <= k // 2 for p, k in zip(case["padding"], case["kernel_size"]))
    for op, cls in ((F.max_pool2d, MaxPooling2D), (F.avg_pool2d, AveragePooling2D)):
        y = op(x, **mst.pool_kwargs(case))
        assert y.shape[2:] > (0, 0) and np.all(np.isfinite(y.data))
        assert cls(**mst.pool_layer_kwargs(case)).compute_output_shape(
            case["x_shape"][1:]) == y.shape[1:]


def valid_dense(case):
    x, w, b = mst.dense_inputs(case, 0)
    assert F.linear(x, w, b).shape == (case["x_shape"][0], case["units"])
    layer = Dense(case["units"], use_bias=case["use_bias"])
    assert layer(x).shape == (case["x_shape"][0], case["units"])


def valid_batch_norm(case):
    shape, c = case["x_shape"], case["x_shape"][1]
    assert mst.values_per_channel(shape) >= 2
    x = mst.random_array(0, shape)
    y = F.batch_norm(x, np.ones(c), np.zeros(c), np.zeros(c), np.ones(c), case["training"],
                     momentum=1 - case["momentum"], eps=case["epsilon"])
    assert y.shape == shape and np.all(np.isfinite(y.data))
    layer = BatchNormalization(**mst.batch_norm_layer_kwargs(case)).train(case["training"])
    assert layer(x).shape == shape


STRATEGIES = {
    "image_shapes": (mst.image_shapes(), valid_image_shape),
    "feature_shapes": (mst.feature_shapes(), valid_feature_shape),
    "conv_cases": (mst.conv_cases(), valid_conv),
    "pool_cases": (mst.pool_cases(), valid_pool),
    "dense_cases": (mst.dense_cases(), valid_dense),
    "batch_norm_cases": (mst.batch_norm_cases(), valid_batch_norm),
}


def test_every_strategy_has_its_edge_cases_listed_and_tested():
    assert set(STRATEGIES) == set(mst.EDGE_CASES)
    for name, cases in mst.EDGE_CASES.items():
        doc = " ".join(getattr(mst, name).__doc__.replace("``", "").split())
        missing = [case for case in cases if case not in doc]
        assert not missing, f"{name}'s docstring does not name its edge cases {missing}"


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_yields_valid_cases_and_its_edge_cases_early(name):
    """300 examples (a few hundred): every one valid, every advertised edge case hit."""
    strategy, check = STRATEGIES[name]
    seen = set()

    @settings(max_examples=300, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(strategy)
    def run(case):
        check(case)
        seen.update(edge for edge, hit in mst.EDGE_CASES[name].items() if hit(case))

    run()
    missing = set(mst.EDGE_CASES[name]) - seen
    assert not missing, f"{name}: 300 examples never drew {sorted(missing)}"


@settings(max_examples=60)
@given(mst.pool_cases(same=True))
def test_pool_cases_with_same_padding_are_valid(case):
    valid_pool(case)
    assert not (case["padding"] == "same" and case["ceil_mode"])


@given(mst.arrays(mst.image_shapes(), mst.dtypes), mst.seeds)
def test_arrays_come_from_a_drawn_seed(a, seed):
    assert a.dtype.name in mst.DTYPES and a.ndim == 4
    b = mst.random_array(seed, (2, 3), "float32", low=-1, high=1)
    np.testing.assert_array_equal(b, mst.random_array(seed, (2, 3), "float32", low=-1, high=1))
    assert b.dtype == np.float32 and np.all((b >= -1) & (b < 1))


# ----------------------------------------------------------------------------- planted bugs
def per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class ScaleShiftFunction(Function):
    """y = gamma_c x + beta_c over axis 1; ``bug`` plants a mistake in backward."""

    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, x, gamma, beta):
        self.x, self.gamma = x, gamma
        return x * per_channel(gamma, x.ndim) + per_channel(beta, x.ndim)

    def backward(self, g):
        axes = (0,) + tuple(range(2, g.ndim))
        dx = g * per_channel(self.gamma, g.ndim)                  # dL/dx = g gamma
        if self.bug == "scale":
            dx = 2 * dx
        dgamma = (g * self.x).sum(axis=axes)                      # dL/dgamma = sum g x
        dbeta = None if self.bug == "bias" else g.sum(axis=axes)  # dL/dbeta = sum g
        return dx, dgamma, dbeta


class MatMulFunction(Function):
    """y = x @ w; ``bug='transpose'`` returns dw transposed (w is square: the shape fits)."""

    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, x, w):
        self.x, self.w = x, w
        return x @ w

    def backward(self, g):
        dw = self.x.T @ g
        return g @ self.w.T, dw.T if self.bug == "transpose" else dw


@mc.register_layer
class ScaleShift(Layer):
    """Per-channel gamma x + beta (a user's layer with two weights)."""
    has_weights = True

    def __init__(self, bug=None, name=None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        self.bug = bug

    def build(self, input_shape):
        self.add_weight("gamma", (input_shape[0],), initializers.Constant(1.0))
        self.add_weight("beta", (input_shape[0],), initializers.Constant(0.0))

    def forward(self, x):
        return ScaleShiftFunction(self.bug)(x, self.gamma, self.beta)


@mc.register_layer
class Mix(Layer):
    """y = x @ W with a square W (features -> features)."""
    has_weights = True
    input_ndim = 1

    def __init__(self, bug=None, name=None, input_shape=None):
        super().__init__(name=name, input_shape=input_shape)
        self.bug = bug

    def build(self, input_shape):
        self.add_weight("w", (input_shape[0], input_shape[0]), "glorot_uniform")

    def forward(self, x):
        return MatMulFunction(self.bug)(x, self.w)


class WrongShape(Dense):
    def compute_output_shape(self, input_shape):
        return (self.units + 1,)


class NotRegistered(ScaleShift):
    pass


def scale_shift(bug):
    return lambda x, g, b: ScaleShiftFunction(bug)(x, g, b)


# ----------------------------------------------------------------------------- check_gradients
@settings(max_examples=10)
@given(mst.arrays(mst.image_shapes()), mst.seeds)
def test_check_gradients_passes_correct_ops(x, seed):
    c = x.shape[1]
    gamma, beta = mst.random_array(seed, (c,)), mst.random_array(seed + 1, (c,))
    result = check_gradients(scale_shift(None), [x, gamma, beta], seed=seed)
    assert result.passed and result.checked > 0
    check_gradients(lambda x: F.tanh(F.avg_pool2d(x, 1)) * 3, [x], seed=seed)


@pytest.mark.parametrize("bug", ["scale", "bias"])
def test_check_gradients_catches_a_wrong_scale_and_a_forgotten_bias_gradient(bug):
    x, gamma, beta = mst.random_array(1, (2, 3, 2, 2)), np.ones(3) * 0.5, np.zeros(3)
    with pytest.raises(mc.GradcheckError) as info:
        check_gradients(scale_shift(bug), [x, gamma, beta], seed=7,
                        names=["x", "gamma", "beta"])
    message = str(info.value)
    wrong = "input 0 'x' (shape (2, 3, 2, 2))" if bug == "scale" else "input 2 'beta' (shape (3,))"
    assert f"{wrong} element" in message, message
    assert "numeric" in message and "analytic" in message and "seed=7" in message
    assert "check_gradients(fn, inputs, seed=7)" in message


def test_check_gradients_catches_a_transposed_gradient():
    x, w = mst.random_array(0, (4, 3)), mst.random_array(1, (3, 3))
    check_gradients(lambda x, w: MatMulFunction()(x, w), [x, w])
    with pytest.raises(mc.GradcheckError, match=r"input 1 \(shape \(3, 3\)\) element \(0, 1\)"):
        check_gradients(lambda x, w: MatMulFunction("transpose")(x, w), [x, w])


def test_check_gradients_reports_kinks_and_fails_when_nothing_was_checked():
    result = check_gradients(F.relu, [np.array([-1.0, 0.0, 2.0, 3.0])], directions=0)
    assert result.passed and [k[0] for k in result.kinks] == ["input 0 (shape (4,)) element (1,)"]
    with pytest.raises(mc.GradcheckError, match=r"element \(1,\)"):
        check_gradients(F.relu, [np.array([-1.0, 0.0, 2.0])], directions=0, kinks="fail")
    with pytest.raises(mc.GradcheckError, match="3 of 3 comparisons sat at kinks"):
        check_gradients(F.relu, [np.zeros(3)], directions=0)


def test_check_gradients_refuses_float32_weights():
    with pytest.raises(TypeError, match=r"float32; finite differences need float64.*double\(\)"):
        check_gradients(F.relu, [mc.Tensor(np.ones(2, np.float32))])


# ----------------------------------------------------------------------------- check_layer
def test_check_layer_passes_minicnn_layers_and_a_users():
    report = check_layer(ScaleShift, mst.image_shapes(), max_examples=8)
    assert report.examples == 8 and report.config_checked and report.gradient_checks > 0
    assert report.backends[0] == "numpy" and set(report.backends) == set(mc.available_backends())
    assert str(report).startswith("check_layer(ScaleShift): 8 examples passed")
    check_layer(lambda case: Conv2D(**mst.conv_layer_kwargs(case), activation="tanh"),
                mst.conv_cases(max_stride=3, extra_size=3), max_examples=8)
    check_layer(lambda case: Dense(case["units"], use_bias=case["use_bias"]), mst.dense_cases(),
                max_examples=8)
    check_layer(lambda case: BatchNormalization(**mst.batch_norm_layer_kwargs(case)),
                mst.batch_norm_cases(), max_examples=8)
    check_layer(lambda case: MaxPooling2D(**mst.pool_layer_kwargs(case)),
                mst.pool_cases(same=True), max_examples=8)
    check_layer(Mix, mst.feature_shapes(), max_examples=8)


@pytest.mark.parametrize("bug, where", [
    ("scale", "input 0 'input'"),
    ("bias", "input 2 'beta'"),
])
def test_check_layer_catches_a_wrong_scale_and_a_forgotten_bias_gradient(bug, where):
    with pytest.raises(LayerCheckError) as info:
        check_layer(lambda: ScaleShift(bug=bug), mst.image_shapes(), settings=QUICK)
    message = str(info.value)
    assert message.startswith("check_layer(ScaleShift, input (") and "seed=" in message
    assert "training mode: check_gradients: backward disagrees" in message and where in message
    assert "Reproduce: check_layer_once(factory, (" in message
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "check_layer_example(" in notes and "case=" in notes and "seed=" in notes, notes


def test_check_layer_catches_a_transposed_gradient():
    with pytest.raises(LayerCheckError, match=r"input 1 'w' \(shape \((\d), \1\)\)"):
        check_layer(lambda: Mix(bug="transpose"), mst.feature_shapes(), settings=QUICK)


@pytest.fixture
def broken_numba_batch_norm():
    """The numba backend's BatchNorm with a wrong running-statistics update: it keeps the
    biased batch variance (forgets m / (m - 1)), for the test below; restored after."""
    with mc.use_backend("numba"):
        backend.implementation(BatchNorm, np.zeros(2))           # the numba kernels, loaded
    original = backend._IMPLEMENTATIONS[("numba", BatchNorm)]

    class BiasedRunningVariance(original):
        def update_running(self, mean, var, m):
            super().update_running(mean, var * (m - 1) / m, m)

    backend.register_kernel("numba", BatchNorm, BiasedRunningVariance)
    yield
    backend.register_kernel("numba", BatchNorm, original)


def test_check_layer_catches_a_wrong_running_statistics_update(broken_numba_batch_norm):
    with pytest.raises(LayerCheckError) as info:
        check_layer(lambda case: BatchNormalization(**mst.batch_norm_layer_kwargs(case)),
                    mst.batch_norm_cases(), settings=QUICK)
    message = str(info.value)
    assert "training mode" in message and "backend 'numba' against numpy" in message, message
    assert "'moving_variance' after the forward pass" in message, message


def test_check_layer_catches_a_wrong_output_shape_and_a_config_that_does_not_load():
    with pytest.raises(LayerCheckError, match=r"the output has shape \(\d, \d\) but "
                                              r"compute_output_shape\(\(\d,\)\) says \(\d,\)"):
        check_layer(lambda case: WrongShape(case["units"]), mst.dense_cases(), settings=QUICK)
    with pytest.raises(LayerCheckError, match=r"unknown layer class 'NotRegistered'.*"
                                              r"mc.register_layer\(NotRegistered\)"):
        check_layer(NotRegistered, mst.image_shapes(), settings=QUICK)
    check_layer(NotRegistered, mst.image_shapes(), check_config=False, max_examples=3)


def test_check_layer_needs_a_deterministic_mode():
    with pytest.raises(LayerCheckError, match=r"not the same for the same input in training "
                                              r"mode.*training=\(False,\)"):
        check_layer(lambda: Dropout(0.5), mst.image_shapes(), settings=QUICK)
    check_layer(lambda: Dropout(0.5), mst.image_shapes(), training=(False,), max_examples=3)


def test_check_layer_explains_bad_arguments():
    with pytest.raises(TypeError, match="strategy must be a hypothesis strategy"):
        check_layer(ScaleShift, (2, 3, 4, 4))
    with pytest.raises(TypeError, match="must return a minicnn Layer"):
        check_layer_once(lambda: mc.Tensor(np.ones(2)), (2, 3))
    built = ScaleShift(input_shape=(3, 4, 4))
    built.prepare((3, 4, 4))
    with pytest.raises(ValueError, match="must make a fresh one at each call"):
        check_layer_once(lambda: built, (2, 3, 4, 4))
    with pytest.raises(TypeError, match="an input shape with the batch axis"):
        check_layer_once(ScaleShift, {"shape": (2, 3)})
    with pytest.raises(ValueError, match=r"backend\(s\) \['tpu'\] are not available"):
        check_layer_once(ScaleShift, (2, 3, 4, 4), backends=["tpu"])


@settings(max_examples=5)
@given(mst.image_shapes(max_channels=2, max_size=4), mst.seeds)
def test_check_layer_once_inside_given(shape, seed):
    report = check_layer_once(ScaleShift, shape, seed)
    assert report.examples == 1 and report.modes == ["training", "evaluation"]


def test_check_layer_leaves_the_users_random_state_alone():
    mc.manual_seed(3)
    expected = mc.rng.global_rng().integers(1000, size=4)
    mc.manual_seed(3)
    check_layer_once(ScaleShift, (2, 3, 4, 4), seed=11)
    np.testing.assert_array_equal(mc.rng.global_rng().integers(1000, size=4), expected)


def test_check_layer_runs_the_cupy_backend_when_present(fake_gpu):
    assert "cupy" in mc.available_backends()
    report = check_layer(ScaleShift, mst.image_shapes(max_size=4), max_examples=3)
    assert report.backends == ["numpy"] + [b for b in mc.available_backends() if b != "numpy"]
    assert "cupy" in report.backends
    with mc.use_backend("cupy"):          # the gradient checks run on the host twin
        check_layer(ScaleShift, mst.image_shapes(max_size=4), max_examples=2)


# ----------------------------------------------------------------------------- torch, profiles
def test_assert_matches_torch_without_torch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)              # import torch now fails
    with pytest.raises(ImportError, match="PyTorch, which is not installed: pip install torch"):
        assert_matches_torch(F.relu, lambda x: x, [np.ones(2)])


def test_assert_matches_torch_compares_forward_and_backward():
    import torch
    x = mst.random_array(0, (3, 4))
    assert_matches_torch(F.tanh, torch.tanh, [x])
    with pytest.raises(AssertionError, match=r"gradient of input 0 \(float64\): element"):
        assert_matches_torch(lambda x: ScaleShiftFunction("scale")(x, np.ones(4), np.zeros(4)),
                             lambda x: x, [x])


def test_register_profiles():
    assert register_profiles() == ["ci", "dev", "thorough"]
    ci = settings.get_profile("ci")
    assert ci.max_examples == 30 and ci.derandomize and ci.deadline is None and ci.print_blob
    assert settings.get_profile("thorough").max_examples == PROFILES["thorough"]["max_examples"]
    try:
        register_profiles(load="dev")
        assert settings.default.max_examples == 10
    finally:                                     # the profile conftest.py loaded, again
        settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    with pytest.raises(ValueError, match="unknown profile 'nightly'; choose one of ci, dev"):
        register_profiles(load="nightly")


def test_tests_keep_no_private_copy_of_the_toolkit():
    """The strategies and the torch helper live in minicnn.testing only."""
    here = os.path.dirname(os.path.abspath(__file__))
    assert not os.path.exists(os.path.join(here, "strategies.py"))
    assert not os.path.exists(os.path.join(here, "torch_check.py"))
