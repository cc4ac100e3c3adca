"""Sequential, Model and Module: composition, registration of parameters, modes, dtypes,
state_dict, and the Keras training methods on top."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from minicnn.testing.strategies import random_array


def small_layers(channels=2):
    return [Conv2D(4, 3, activation="relu", input_shape=(channels, 8, 8)), MaxPooling2D(2),
            Flatten(), Dropout(0.5), Dense(5, activation="softmax")]


class SubclassedNet(mc.Model):
    """The same network as small_layers(), written Keras-subclass style."""

    def __init__(self):
        super().__init__()
        self.conv = Conv2D(4, 3, activation="relu")
        self.pool = MaxPooling2D(2)
        self.flatten = Flatten()
        self.drop = Dropout(0.5)
        self.out = Dense(5, activation="softmax")

    def call(self, x):
        return self.out(self.drop(self.flatten(self.pool(self.conv(x)))))


class TorchStyleNet(mc.Module):
    """PyTorch style: a list and a dict of modules, a direct Parameter, forward."""

    def __init__(self):
        super().__init__()
        self.features = [Conv2D(3, 3, input_shape=(1, 6, 6)), MaxPooling2D(2)]
        self.heads = {"logits": Dense(4, input_shape=(12,))}
        self.scale = mc.Parameter(np.ones(4, np.float32))

    def forward(self, x):
        for layer in self.features:
            x = layer(x)
        return self.heads["logits"](F.flatten(x)) * self.scale


def test_sequential_and_subclass_give_identical_results():
    x = random_array(0, (3, 2, 8, 8), "float32")
    sequential = mc.Sequential(small_layers())
    subclassed = SubclassedNet()
    subclassed.build((2, 8, 8))
    subclassed.load_state_dict(dict(zip(["conv.kernel", "conv.bias", "out.kernel", "out.bias"],
                                        sequential.get_weights())))
    sequential.eval(), subclassed.eval()
    np.testing.assert_array_equal(sequential(x).data, subclassed(x).data)
    # and gradients agree too
    sequential.train(), subclassed.train()
    sequential[3].rng = np.random.default_rng(0)            # the same dropout masks
    subclassed.drop.rng = np.random.default_rng(0)
    grads = []
    for model in (sequential, subclassed):
        model.zero_grad()
        F.cross_entropy(model(x), [0, 1, 4]).backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_add_builds_each_layer_from_the_shape_before():
    model = mc.Sequential()
    model.add(Conv2D(4, 3, input_shape=(2, 8, 8)))
    model.add(Flatten())
    model.add(Dense(3))
    assert model.input_shape == (2, 8, 8) and model.output_shape == (3,)
    assert model[2].kernel.shape == (144, 3) and len(model) == 3
    last = model[2]
    assert model.pop() is last
    assert model.output_shape == (144,) and len(model) == 2


def test_lazy_sequential_builds_on_first_call_or_build():
    model = mc.Sequential([Conv2D(3, 3), Flatten(), Dense(2)])
    with pytest.raises(ValueError, match="has no weights yet"):
        model.count_params()
    y = model(random_array(0, (2, 1, 5, 5), "float32"))
    assert y.shape == (2, 2) and model.input_shape == (1, 5, 5)
    assert model.count_params() == (3 * 9 + 3) + (27 * 2 + 2)
    other = mc.Sequential([Conv2D(3, 3), Flatten(), Dense(2)]).build((None, 1, 5, 5))
    assert other.count_params() == model.count_params()


def test_models_accept_numpy_arrays_and_tensors():
    model = mc.Sequential(small_layers()).eval()
    x = random_array(1, (2, 2, 8, 8), "float32")
    np.testing.assert_array_equal(model(x).data, model(mc.Tensor(x)).data)
    np.testing.assert_allclose(model.predict(x), model(x).data)


def test_parameters_are_trainable_in_definition_order_without_duplicates():
    shared = Dense(4, input_shape=(4,))
    model = mc.Sequential([shared, Dense(4), shared])
    assert [id(p) for p in model.parameters()] == [id(shared.kernel), id(shared.bias),
                                                    id(model[1].kernel), id(model[1].bias)]
    assert [n for n, _ in model.named_parameters()] == ["0.kernel", "0.bias", "1.kernel",
                                                         "1.bias"]
    frozen = mc.Parameter(np.zeros(3), trainable=False)
    model[1].running = frozen
    assert all(p is not frozen for p in model.parameters())
    assert "1.running" in model.state_dict() and model.count_params() == 40 + 3


def test_module_registers_lists_dicts_and_parameters():
    net = TorchStyleNet()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "features.0.kernel", "features.0.bias", "heads.logits.kernel",
                     "heads.logits.bias"]
    assert [type(m).__name__ for m in net.children()] == ["Conv2D", "MaxPooling2D", "Dense"]
    y = net(random_array(0, (2, 1, 6, 6), "float32"))
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_reach_every_module():
    model = mc.Sequential(small_layers())
    x = random_array(2, (4, 2, 8, 8), "float32")
    model.eval()
    assert not any(m.training for m in model.modules())
    np.testing.assert_array_equal(model(x).data, model(x).data)        # no dropout
    model.train()
    assert all(m.training for m in model.modules())
    assert not np.array_equal(model(x).data, model(x).data)            # dropout masks differ


def test_state_dict_round_trip_and_clear_mismatch_errors():
    mc.manual_seed(0)
    a = mc.Sequential(small_layers())
    b = mc.Sequential(small_layers())
    state = a.state_dict()
    assert list(state) == ["0.kernel", "0.bias", "4.kernel", "4.bias"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    b.load_state_dict(state)
    a.eval(), b.eval()
    x = random_array(3, (2, 2, 8, 8), "float32")
    np.testing.assert_array_equal(a(x).data, b(x).data)
    state["0.kernel"][...] = 0                   # a copy: the model is unchanged
    assert a[0].kernel.data.any()
    wrong = mc.Sequential(small_layers(channels=1))
    with pytest.raises(ValueError, match=r"'0.kernel' has shape \(4, 1, 3, 3\) in the model "
                                         r"but \(4, 2, 3, 3\) in the state dict"):
        wrong.load_state_dict(a.state_dict())
    del state["4.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['4.bias'\]"):
        b.load_state_dict(state)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(b[4].bias.data, a[4].bias.data)


def test_double_and_float_convert_every_parameter():
    model = mc.Sequential(small_layers()).double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model(random_array(0, (1, 2, 8, 8), "float32")).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    state = model.state_dict()
    model.double().load_state_dict(state)                     # cast to the model's dtype
    assert model[0].kernel.dtype == np.float64


def test_count_params():
    model = mc.Sequential([Conv2D(6, 5, input_shape=(3, 32, 32)), Flatten(),
                           Dense(10, use_bias=False)])
    assert model.count_params() == (6 * 3 * 25 + 6) + 6 * 28 * 28 * 10
    assert model[0].count_params() == 456 and model[1].count_params() == 0


def test_standalone_layer_with_input_shape_builds_when_its_weights_are_asked_for():
    layer = Dense(3, input_shape=(4,))
    assert layer.kernel.shape == (4, 3) and layer.built
    with pytest.raises(AttributeError, match="Dense 'dense.*' has no attribute 'kernel' yet"):
        Dense(3).kernel


def test_model_needs_call_or_forward():
    with pytest.raises(TypeError, match="must define call"):
        mc.Model()(np.zeros((1, 2)))
    assert isinstance(mc.Sequential(), mc.train.TrainingAPI)
    assert isinstance(SubclassedNet(), mc.train.TrainingAPI)


def test_get_layer_and_repr():
    model = mc.Sequential([Dense(2, name="hidden", input_shape=(3,)), Dense(1, name="out")])
    assert model.get_layer("out") is model[1]
    with pytest.raises(ValueError, match="no layer named 'missing'"):
        model.get_layer("missing")
    assert "(1): Dense(1, activation='linear', name='out')" in repr(model)


def test_fit_trains_a_sequential_model():
    mc.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 6, 6)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    model = mc.Sequential([Conv2D(4, 3, activation="relu", input_shape=(1, 6, 6)), Flatten(),
                           Dense(2, activation="softmax")])
    model.compile(optimizer=mc.optim.Adam(lr=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x, y)[1] > 0.8


def test_subclassed_model_trains():
    model = SubclassedNet()
    assert model.parameters() == []                  # lazy: no weights before the first input
    model.build((2, 8, 8)).compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert len(model.parameters()) == 4
    before = model.get_weights()
    model.fit(random_array(0, (8, 2, 8, 8), "float32"), np.arange(8) % 5, epochs=1,
              batch_size=4, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
