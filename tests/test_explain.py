"""model.explain(x) and `minicnn explain`: counts against summary() and LeNet's known
numbers, im2col shapes on each backend, op timing, the training step's statistics on
cases whose answer is known, the model left untouched, graph models, the CLI."""
import json

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
from minicnn.cli import main
from minicnn.layers import (Add, BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input,
                            MaxPooling2D, ReLU)
from minicnn.layers.initializers import Constant
from minicnn.tensor import time_ops


def batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def explain(model, x, **kwargs):
    kwargs.setdefault("repeats", 1)
    return model.explain(x, print_fn=None, **kwargs)


@pytest.fixture(scope="module")
def lenet_result():
    mc.manual_seed(0)
    model = mc.zoo.lenet5()
    return model, explain(model, batch((4, 1, 32, 32)), repeats=2)


# ----------------------------------------------------------------------------- time_ops
def test_time_ops_reports_every_forward_and_backward():
    seen = []
    a = mc.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    with time_ops(lambda fn, phase, seconds: seen.append((fn.name, phase, seconds))):
        loss = (F.relu(a) * 2.0).sum()
        loss.backward()
    assert [(name, phase) for name, phase, _ in seen] == [
        ("ReLU", "forward"), ("Mul", "forward"), ("Sum", "forward"),
        ("Sum", "backward"), ("Mul", "backward"), ("ReLU", "backward")]
    assert all(seconds >= 0 for *_, seconds in seen)
    count = len(seen)
    (a * 3.0).sum().backward()                       # outside the block: nothing reported
    assert len(seen) == count


# ----------------------------------------------------------------------------- counts
def test_lenet_params_macs_and_shapes_agree_with_summary(lenet_result):
    model, result = lenet_result
    assert result.total_params == 61_706 == model.count_params()
    assert result.total_macs == 416_520 == model.count_macs()
    assert [r.name for r in result.layers] == [layer.name for layer in model.layers]
    assert [r.output_shape for r in result.layers] == model.layer_output_shapes()
    shape = (1, 32, 32)
    for row, layer in zip(result.layers, model.layers):
        assert row.input_shape == shape
        assert row.params == layer.count_params()
        assert row.macs == layer.count_macs(shape)
        shape = row.output_shape
    table = model.summary(print_fn=None)
    for row in result.layers:                        # the same MACs as summary's column
        assert f"{row.macs:,}" in table.split(row.name + " (")[1].splitlines()[0]
    assert result.layers[0].macs == 28 * 28 * 6 * 25 and result.layers[0].params == 156


def test_output_memory_counts_the_batch_and_views(lenet_result):
    _, result = lenet_result
    conv = result.layers[0]
    assert conv.output_bytes == 4 * 6 * 28 * 28 * 4 and not conv.output_is_view
    flatten = next(r for r in result.layers if r.type == "Flatten")
    assert flatten.output_is_view
    assert result.total_output_bytes == sum(r.output_bytes for r in result.layers
                                            if r.type != "Flatten")


def test_times_are_positive_and_the_first_pass_is_reported(lenet_result):
    _, result = lenet_result
    for row in result.layers:
        assert row.forward_ms > 0 and row.backward_ms > 0, row.name
        assert row.first_forward_ms > 0
    # the least of each layer adds up to no more than the least whole pass
    for phase in ("forward", "backward"):
        parts = sum(getattr(r, f"{phase}_ms") for r in result.layers)
        parts += getattr(result, f"outside_{phase}_ms")
        assert parts <= getattr(result, f"{phase}_ms") + 1e-9
    assert result.first_pass_ms > 0 and result.outside_forward_ms > 0   # the loss's ops


@pytest.mark.parametrize("backend", mc.available_backends())
def test_im2col_shape_is_the_matrix_the_backend_built(backend):
    mc.manual_seed(1)
    model = mc.Sequential([Conv2D(4, (3, 5), strides=2, padding=1, groups=2,
                                  input_shape=(6, 11, 13)), Flatten(), Dense(3)])
    with mc.use_backend(backend):
        result = explain(model, batch((3, 6, 11, 13)), train_step=False)
    im2col = result.layers[0].im2col
    h_out, w_out = (11 + 2 - 3) // 2 + 1, (13 + 2 - 5) // 2 + 1
    assert result.layers[0].output_shape == (4, h_out, w_out)
    assert (im2col.rows, im2col.columns, im2col.groups) == (3 * 3 * 5, h_out * w_out, 2)
    if backend == "numpy":          # functional/conv.py: cols (N, g, K, P), kept for backward
        assert im2col.built_shape == (3, 2, 45, h_out * w_out) and im2col.kept_for_backward
    else:                           # kernels/ops.py: (C kh kw, n P) for the batch (stride 2)
        assert im2col.built_shape == (6 * 3 * 5, 3 * h_out * w_out)
        assert im2col.kept_for_backward
    assert im2col.built_bytes == np.prod(im2col.built_shape) * 4
    assert result.layers[2].im2col is None


# ----------------------------------------------------------------------------- the step
def dead_relu_model():
    mc.manual_seed(2)
    return mc.Sequential([Dense(16, activation="relu", input_shape=(8,)),
                          Dense(16, activation="relu", bias_initializer=Constant(-100.0)),
                          Dense(4)])


def test_a_dead_relu_is_reported_and_flagged():
    model = dead_relu_model()
    result = explain(model, batch((10, 8)))
    first, dead, out = result.layers
    assert dead.activation.zeros == 1.0 and "dead?" in dead.flags
    assert first.gradient.zeros == 1.0 and "no grad" in first.flags   # nothing flows below
    assert first.weight_grad_norm == 0 and first.update_ratio == 0
    assert "dead?" not in first.flags and 0 < first.activation.zeros < 0.9
    text = result.to_text()
    assert "dead?" in text and "no grad" in text


def test_statistics_are_those_of_the_outputs_and_gradients():
    model = dead_relu_model()
    x, y = batch((10, 8), seed=3), np.arange(10) % 4
    w1, b1 = model[0].kernel.data.copy(), model[0].bias.data.copy()
    result = explain(model, x, y=y)
    h = np.maximum(x.astype(np.float64) @ w1 + b1, 0)
    assert result.layers[0].activation.mean == pytest.approx(h.mean(), rel=1e-5)
    assert result.layers[0].activation.std == pytest.approx(h.std(), rel=1e-5)
    assert result.layers[0].activation.zeros == np.mean(h == 0)
    logits = np.full((10, 4), model[2].bias.data, np.float64)   # its input is all zeros
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = (p - np.eye(4)[y]) / 10                           # d cross_entropy / d logits
    assert result.layers[2].gradient.std == pytest.approx(dlogits.std(), rel=1e-5)
    assert result.loss_before == pytest.approx(-np.log(p[np.arange(10), y]).mean(), rel=1e-5)
    assert result.labels == "given"


def test_update_ratio_is_the_sgd_step_relative_to_the_weights():
    mc.manual_seed(4)
    model = mc.Sequential([Dense(5, input_shape=(3,), bias_initializer=Constant(0.5)), Dense(2)])
    weights = [p.data.copy() for p in model.parameters()]
    result = explain(model, batch((6, 3)), lr=0.1)
    norm = np.sqrt(sum(np.sum(w.astype(np.float64) ** 2) for w in weights[:2]))
    row = result.layers[0]
    assert row.update_ratio == pytest.approx(0.1 * row.weight_grad_norm / norm, rel=1e-4)
    assert result.loss_after < result.loss_before


def test_vanishing_gradients_are_flagged_in_a_deep_sigmoid_stack():
    mc.manual_seed(5)
    model = mc.Sequential([Dense(32, activation="sigmoid", input_shape=(16,))] +
                          [Dense(32, activation="sigmoid") for _ in range(9)] + [Dense(10)])
    result = explain(model, batch((16, 16)))
    stds = [r.gradient.std for r in result.layers]
    assert stds[0] < 1e-3 * max(stds[1:])                       # it did vanish
    assert "vanishing?" in result.layers[0].flags
    assert "vanishing?" not in result.layers[-1].flags


# ----------------------------------------------------------------------------- untouched
def test_the_model_is_left_as_it_was():
    mc.manual_seed(6)
    model = mc.Sequential([Conv2D(4, 3, activation="relu", input_shape=(2, 6, 6)),
                           BatchNormalization(), Dropout(0.5), Flatten(), Dense(3)])
    x = batch((5, 2, 6, 6))
    arrays = [p.data for _, p in model.named_parameters(trainable_only=False)]
    values = [a.copy() for a in arrays]
    model[0].kernel.grad = np.ones_like(model[0].kernel.data)   # a gradient the user kept
    model.eval()
    model[2].train()                                            # a mixed mode survives too
    state = mc.rng.global_rng().bit_generator.state
    explain(model, x)
    after = [p.data for _, p in model.named_parameters(trainable_only=False)]
    assert all(a is b for a, b in zip(arrays, after))           # the same arrays, in place
    assert all(np.array_equal(a, v) for a, v in zip(after, values))  # BN running stats too
    assert np.array_equal(model[0].kernel.grad, np.ones_like(model[0].kernel.data))
    assert [m.training for m in model.modules()] == [False, False, False, True, False, False]
    assert mc.rng.global_rng().bit_generator.state == state


def test_explain_refuses_what_it_cannot_step_through():
    class Net(mc.Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(TypeError, match="Sequential or a graph Model"):
        Net().explain(batch((2, 3)), print_fn=None)
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        explain(dead_relu_model(), batch((2, 8)), repeats=0)
    regression = mc.Sequential([Conv2D(1, 1, input_shape=(1, 4, 4))])
    with pytest.raises(ValueError, match="not class scores"):
        explain(regression, batch((2, 1, 4, 4)))
    assert explain(regression, batch((2, 1, 4, 4)), train_step=False).layers[0].activation is None


# ----------------------------------------------------------------------------- graphs
def test_a_residual_graph_model_with_a_shared_layer():
    mc.manual_seed(7)
    x = Input((3, 6, 6))
    h = Conv2D(3, 3, padding="same", activation="relu", name="conv1")(x)
    h = BatchNormalization(name="bn")(Conv2D(3, 3, padding="same", name="conv2")(h))
    h = ReLU(name="relu")(Add(name="residual")([x, h]))
    shared = Dense(4, name="shared")
    z = Flatten()(MaxPooling2D(2)(h))
    model = mc.Model(x, Dense(2)(Add()([shared(z), shared(z)])))
    result = explain(model, batch((4, 3, 6, 6)))
    names = [r.name for r in result.layers]
    assert names[:5] == ["conv1", "conv2", "bn", "residual", "relu"]
    assert "shared[1]" in names and result.layers[names.index("shared[1]")].shared
    add = result.layers[3]
    assert add.input_shape == [(3, 6, 6), (3, 6, 6)] and add.output_shape == (3, 6, 6)
    trainable = sum(p.size for p in model.parameters())
    assert result.total_params == trainable and result.total_macs == model.count_macs()
    assert all(r.gradient is not None for r in result.layers)
    assert all(r.forward_ms > 0 for r in result.layers)
    text = result.to_text()
    assert "(shared)" in text and "2 x (3, 6, 6)" in text


def test_the_tables_are_aligned(lenet_result):
    _, result = lenet_result
    lines = result.to_text().splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("----")]
    table = lines[rules[0] - 1:rules[1]] + [lines[rules[1] + 1]]      # header, rows, total
    assert len({len(line) for line in table}) == 1
    header, rows = lines[rules[2] - 1], lines[rules[2] + 1:rules[2] + 1 + len(result.layers)]
    for column in ("zeros", "|dL/dW|", "|dW|/|W|"):                   # right-aligned numbers
        end = header.rindex(column) + len(column)
        assert all(row[end - 1] != " " and row[end:end + 1] in ("", " ") for row in rows)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data and len(data["layers"]) == len(result.layers)


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture
def keep_backend():
    backend = mc.get_backend()
    yield backend
    mc.set_backend(backend)


def test_cli_explains_lenet_and_writes_json(tmp_path, capsys, keep_backend):
    path = tmp_path / "explain.json"
    assert main(["explain", "lenet", "--batch", "3", "--repeats", "1", "--backend",
                 keep_backend, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    # the LeNet that `minicnn train lenet` trains: 28x28 digits, 24 x 24 = 576 windows
    assert 'Explain "lenet5"' in out and "random normal input (1x28x28, as `minicnn train " \
        "lenet` builds it)" in out and "25 x 576" in out
    data = json.loads(path.read_text())
    assert data["total_params"] == 44_426 and data["total_macs"] == 281_640
    assert main(["explain", "alexnet", "--batch", "1", "--no-train-step", "--repeats", "1",
                 "--warmup", "0", "--backend", keep_backend]) == 0
    assert "(3x224x224, alexnet's own input: it needs at least 63x63)" in capsys.readouterr().out
    assert data["batch_size"] == 3 and data["train_step"] and data["backend"] == keep_backend


def test_cli_explains_a_checkpoint_on_real_images(tmp_path, capsys, keep_backend):
    mc.manual_seed(8)
    model = mc.zoo.lenet5(input_shape=(1, 28, 28))
    path = tmp_path / "lenet.npz"
    mc.save(model, path)
    out_json = tmp_path / "out.json"
    assert main(["explain", str(path), "--dataset", "mnist-sample", "--batch", "5", "--repeats", "1",
                 "--backend", keep_backend, "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "5 mnist-sample images from the embedded sample" in out and "given labels" in out
    data = json.loads(out_json.read_text())
    assert data["layers"][0]["input_shape"] == [1, 28, 28]
    assert data["total_params"] == model.count_params()


def test_cli_bad_model_names_list_the_choices(tmp_path, capsys, keep_backend):
    assert main(["explain", "lenet6", "--backend", keep_backend]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'lenet6'" in err and "lenet" in err and "resnet18" in err
    assert "checkpoint" in err and "basic_block" not in err
    assert main(["explain", str(tmp_path / "missing.npz"), "--backend", keep_backend]) == 1
    assert "no checkpoint file" in capsys.readouterr().err
    assert main(["explain", "lenet", "--input-shape", "1x28x28", "--backend", keep_backend]) == 1
    assert "--input-shape must be C,H,W" in capsys.readouterr().err


def test_im2col_of_a_direct_convolution_and_of_the_wide_layout():
    """Under numba a few-channel stride-1 conv builds no columns (direct loops); a
    stride-1 conv with more channels builds wide columns: L = (H_out - 1) W_pad + W_out
    per sample."""
    mc.manual_seed(2)
    model = mc.Sequential([Conv2D(6, 5, activation="relu", input_shape=(1, 16, 16)),
                           Conv2D(4, 3, input_shape=(6, 12, 12)), Flatten(), Dense(3)])
    with mc.use_backend("numba"):
        result = explain(model, batch((2, 1, 16, 16)), train_step=False)
    first, second = result.layers[0].im2col, result.layers[1].im2col
    assert (first.rows, first.columns) == (25, 144) and first.built_shape is None
    assert "direct" in first.layout
    assert (second.rows, second.columns) == (54, 100)
    assert second.built_shape == (54, 2 * (9 * 12 + 10)) and second.kept_for_backward


@pytest.mark.parametrize("op", ["conv2d", "max_pool2d", "batch_norm"])
def test_cli_step_prints_the_docs_worked_example(op, capsys):
    """`minicnn explain --step OP` prints exactly the step-through the op's docs page shows."""
    from minicnn.stepthrough import run_step
    assert main(["explain", "--step", op]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == str(run_step(op)).strip()
    assert "backward" in printed


def test_cli_step_needs_a_model_or_a_step(capsys):
    assert main(["explain"]) != 0
    assert "give a MODEL" in capsys.readouterr().err
    assert main(["explain", "lenet", "--step", "relu"]) != 0
    assert "not both" in capsys.readouterr().err


def test_explain_shows_the_estimated_memory_of_a_training_step():
    model = mc.Sequential([Conv2D(2, 3, input_shape=(1, 8, 8)), Flatten(), Dense(3)])
    result = model.explain(np.zeros((4, 1, 8, 8), np.float32), print_fn=None, repeats=1,
                           train_step=False)
    from minicnn.models.summary import estimate_memory
    assert result.memory_estimate["total_bytes"] == estimate_memory(model, 4).total
    assert "Estimated memory for a training step at batch 4 (float32)" in result.to_text()
