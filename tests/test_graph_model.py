"""The graph Model (Keras' functional API): topological forward, backward through fan-out
and fan-in against PyTorch, gradchecks of a tiny Inception block and tiny residual
blocks, the summary's "Connected to" and MACs columns, several outputs with per-output
losses, and errors that say what is wrong."""
import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.functional as F
from minicnn.layers import (Add, BatchNormalization, Concatenate, Conv2D, Dense, Flatten,
                            GlobalAveragePooling2D, Input, MaxPooling2D, ReLU)
from minicnn.zoo import basic_block, bottleneck_block, inception_block
from minicnn.zoo.googlenet import _Style
from minicnn.testing import assert_close, assert_matches_torch
from minicnn.testing.strategies import random_array


def diamond(dtype="float64"):
    """x -> (a: 1x1 conv, b: 3x3 conv) -> concat -> 1x1 conv -> + x -> pool -> dense."""
    x = Input((3, 6, 6), name="x")
    a = Conv2D(2, 1, activation="relu", name="a", dtype=dtype)(x)
    b = Conv2D(4, 3, padding="same", activation="relu", name="b", dtype=dtype)(x)
    c = Conv2D(3, 1, name="c", dtype=dtype)(Concatenate(name="cat")([a, b]))
    y = Add(name="add")([x, c])                         # x is read three times (fan-out)
    y = Dense(5, name="head", dtype=dtype)(GlobalAveragePooling2D(name="gap")(y))
    return mc.Model(x, y, name="diamond")


class TorchDiamond(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.weights = {n: torch.tensor(model.get_layer(n).kernel.data, requires_grad=True)
                        for n in ("a", "b", "c", "head")}
        self.biases = {n: torch.tensor(model.get_layer(n).bias.data, requires_grad=True)
                       for n in ("a", "b", "c", "head")}

    def forward(self, x):
        conv = torch.nn.functional.conv2d
        a = torch.relu(conv(x, self.weights["a"], self.biases["a"]))
        b = torch.relu(conv(x, self.weights["b"], self.biases["b"], padding=1))
        c = conv(torch.cat([a, b], 1), self.weights["c"], self.biases["c"])
        y = (x + c).mean(dim=(2, 3))
        return y @ self.weights["head"] + self.biases["head"]


def test_fan_out_and_fan_in_match_pytorch():
    model = diamond()
    assert isinstance(model, mc.GraphModel) and model.output_shape == (5,)
    assert [n for n, _ in model.named_children()] == ["x", "a", "b", "cat", "c", "add", "gap",
                                                      "head"]
    reference = TorchDiamond(model)
    assert_matches_torch(model, reference, [random_array(0, (2, 3, 6, 6))])
    for name in ("a", "b", "c", "head"):
        layer = model.get_layer(name)
        assert_close(layer.kernel.grad, reference.weights[name].grad.numpy(), "float64",
                     f"gradient of {name}.kernel")
        assert_close(layer.bias.grad, reference.biases[name].grad.numpy(), "float64",
                     f"gradient of {name}.bias")


def test_graph_model_gradcheck_input_and_every_weight():
    model = diamond()
    mc.gradcheck(lambda x, *weights: model(x), [random_array(1, (2, 3, 6, 6))] + model.parameters(),
                 max_elements=20)


def test_tiny_inception_block_gradcheck():
    x = Input((4, 5, 5))
    style = _Style("torchvision", "float64")
    y = inception_block(x, "mixed", 2, 2, 3, 1, 2, 2, style=style, five=5)
    model = mc.Model(x, y)
    assert model.output_shape == (2 + 3 + 2 + 2, 5, 5)
    for training in (True, False):
        model.train(training)
        mc.gradcheck(lambda x, *weights: model(x), [random_array(2, (2, 4, 5, 5))] +
                     model.parameters(), max_elements=12, seed=int(training))


@pytest.mark.parametrize("block, strides, filters", [(basic_block, 1, 3), (basic_block, 2, 4),
                                                     (bottleneck_block, 2, 2)])
def test_tiny_residual_blocks_gradcheck(block, strides, filters):
    x = Input((3, 4, 4))
    model = mc.Model(x, block(x, filters, strides, "block", dtype="float64"))
    projection = strides != 1 or (block is basic_block and filters != 3) or block is bottleneck_block
    assert any(".downsample." in n for n, _ in model.named_children()) == projection
    mc.gradcheck(lambda x, *weights: model(x), [random_array(3, (3, 3, 4, 4))] +
                 model.parameters(), max_elements=12)


def test_summary_has_connected_to_and_macs_columns():
    model = diamond("float32")
    text = model.summary(print_fn=None)
    lines = text.splitlines()
    header = lines[2]
    assert header.split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "MACs",
                              "Connected", "to"]
    row = next(line for line in lines if line.startswith("add (Add)"))
    assert row.endswith("x, c") and "(None, 3, 6, 6)" in row
    row = next(line for line in lines if line.startswith("b (Conv2D)"))
    assert "112" in row and f"{6 * 6 * 4 * 3 * 9:,}" in row
    macs = 6 * 6 * 2 * 3 + 6 * 6 * 4 * 3 * 9 + 6 * 6 * 3 * 6 + 3 * 5
    assert model.count_macs() == macs and f"Total MACs: {macs:,}" in text
    assert f"Total params: {model.count_params():,}" in text


def test_shared_layer_and_nested_models():
    x = Input((4,))
    shared = Dense(4, name="shared")
    y = shared(ReLU(name="r")(shared(x)))               # the same weights twice
    inner = mc.Model(x, y, name="inner")
    assert inner.count_params() == 20
    text = inner.summary(print_fn=None)
    assert "shared[1] (Dense)" in text and "(shared)" in text
    z = Input((4,))
    stack = mc.Sequential([Dense(3, name="d3"), ReLU(name="r3")])
    outer = mc.Model(z, Dense(2, name="out")(stack(inner(z))))
    data = random_array(4, (5, 4)).astype("float32")
    expected = outer.get_layer("out")(stack(inner(data)))
    np.testing.assert_allclose(outer(data).data, expected.data, rtol=1e-6)
    assert outer.count_macs() == 16 + 16 + 12 + 6


def test_several_outputs_with_per_output_losses():
    mc.manual_seed(0)
    x = Input((6,))
    h = Dense(8, activation="relu", name="body")(x)
    main = Dense(3, name="main")(h)
    aux = Dense(3, name="aux")(x)
    model = mc.Model(x, [main, aux])
    assert model.output_shape == [(3,), (3,)]
    data = random_array(5, (10, 6)).astype("float32")
    labels = np.arange(10) % 3
    model.compile(optimizer=mc.optim.SGD(lr=0.1), loss="cross_entropy", loss_weights=[1.0, 0.3])
    out_main, out_aux = model(data)
    expected = F.cross_entropy(out_main, labels).item() + 0.3 * F.cross_entropy(out_aux, labels).item()
    assert np.isclose(model.compute_loss([out_main, out_aux], labels).item(), expected)
    history = model.fit(data, labels, epochs=3, batch_size=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.compile(optimizer=mc.optim.SGD(lr=0.1), loss="cross_entropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(data, labels)
    main_only = (model(data)[0].data.argmax(axis=1) == labels).mean()
    assert np.isclose(accuracy, main_only) and loss > 0
    predicted = model.predict(data, batch_size=4)
    assert [p.shape for p in predicted] == [(10, 3), (10, 3)]
    np.testing.assert_allclose(predicted[1], model(data)[1].data, rtol=1e-6)
    model.compile(optimizer="sgd", loss={"main": "cross_entropy", "aux": None})
    assert np.isclose(model.compute_loss(model(data), labels).item(),
                      F.cross_entropy(model(data)[0], labels).item())
    with pytest.raises(ValueError, match=r"no outputs named \['head'\]"):
        model.compile(loss={"head": "cross_entropy"})
    with pytest.raises(ValueError, match="has 2 outputs but 3 losses"):
        model.compile(loss=["mse"] * 3)


def test_graph_errors_say_what_is_wrong():
    x, other = Input((3,), name="x"), Input((3,), name="other")
    y = Add()([Dense(3)(x), Dense(3)(other)])
    with pytest.raises(ValueError, match=r"depend on the Input 'other' \(None, 3\), which is "
                                         r"not among the model's inputs \['x'\]"):
        mc.Model(x, y)
    two = mc.Model([x, other], y)
    assert two([np.ones((2, 3), "float32"), np.ones((2, 3), "float32")]).shape == (2, 3)
    with pytest.raises(ValueError, match="expected 2 input batch"):
        two(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="must come from Input"):
        mc.Model(Dense(2)(x), y)
    with pytest.raises(ValueError, match=r"layer names must be unique, \['d'\]"):
        mc.Model(x, Dense(2, name="d")(Dense(2, name="d")(x)))
    model = mc.Model(x, Dense(2)(x))
    with pytest.raises(ValueError, match=r"InputLayer 'x': expected samples of shape \(3,\), got \(4,\)"):
        model(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="looks channels-last"):
        Input((32, 32, 3))
    with pytest.raises(ValueError, match=r"Conv2D 'conv_in_graph'.*expected a 4-D input|"
                                         r"Conv2D 'conv_in_graph': expected one sample's shape"):
        Conv2D(2, 3, name="conv_in_graph")(x)
    with pytest.raises(TypeError, match="placeholder of a graph Model, not data"):
        np.asarray(x)


def test_graph_model_state_dict_and_train_eval_reach_every_layer():
    x = Input((2, 4, 4))
    y = BatchNormalization(name="bn")(Conv2D(2, 3, padding=1, name="conv")(x))
    y = Flatten(name="flat")(MaxPooling2D(2, name="pool")(y))
    model = mc.Model(x, y)
    assert list(model.state_dict()) == ["conv.kernel", "conv.bias", "bn.gamma", "bn.beta",
                                        "bn.moving_mean", "bn.moving_variance"]
    model.eval()
    assert not model.get_layer("bn").training
    model.train()
    assert model.get_layer("bn").training


def test_graph_architecture_round_trips_through_its_config():
    import json

    from minicnn.layers import config
    model = diamond("float32")
    data = json.loads(json.dumps(config.serialize(model)))
    again = config.deserialize(data)
    assert isinstance(again, mc.GraphModel) and again is not model
    assert [n for n, _ in again.named_children()] == [n for n, _ in model.named_children()]
    again.load_state_dict(model.state_dict())
    x = random_array(6, (2, 3, 6, 6)).astype("float32")
    np.testing.assert_array_equal(again(x).data, model(x).data)
    assert again.get_config()["nodes"] == model.get_config()["nodes"]
