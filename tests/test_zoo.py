"""The zoo against the reference: exact parameter and MAC counts at full size (shape
arithmetic only, no forward pass), per-layer output shapes, and — with the weights
copied into a hand-written PyTorch network — equal eval-mode outputs (float64, 1e-9
relative) and equal gradients and running statistics after one training step, on small
inputs and reduced widths where the full size would be slow.

Gradients are compared relative to the largest entry of each gradient tensor
(max |minicnn - torch| <= 1e-9 max |torch|): in training mode BatchNorm's backward,
dx = (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)) / std, cancels to small entries
whose rounding noise is set by the large ones (measured ~1e-11 of the maximum here). The
inputs are large enough that every BatchNorm sees at least 8 values per channel: with
2 values (a 1x1 map, batch 2) the batch variance is ill-conditioned and both libraries'
float64 results drift apart by ~1e-8 in the last stage. A gradient that vanishes
mathematically (a conv's bias before a training-mode BatchNorm, ~1e-16 in both) is held
to 1e-13 absolute (the scale is at least 1e-4)."""
import gc

import numpy as np
import pytest
import torch

import minicnn as mc
import minicnn.functional as F
from minicnn.zoo import load_torch_state_dict, to_torch_state_dict, torch_parameter_map
from minicnn.testing import assert_close
import torch_zoo


def trainable(model):
    return sum(p.size for p in model.parameters())


# ----------------------------------------------------------------------------- counts
COUNTS = [  # builder, trainable parameters, forward MACs per image (None: not in the table)
    (lambda: mc.zoo.lenet5(), 61_706, 416_520),
    (lambda: mc.zoo.alexnet("keras-seed"), 48_976_424, 545_452_800),
    (lambda: mc.zoo.alexnet("pytorch-seed-bn"), 58_325_066, 1_131_201_056),
    (lambda: mc.zoo.alexnet("torchvision"), 61_100_840, 714_188_480),
    (lambda: mc.zoo.alexnet("original"), 60_965_224, None),
    (lambda: mc.zoo.vgg11(), 132_863_336, None),
    (lambda: mc.zoo.vgg16(), 138_357_544, 15_470_264_320),
    (lambda: mc.zoo.vgg19(), 143_667_240, None),
    (lambda: mc.zoo.vgg16(batch_norm=True), 138_365_992, 15_470_264_320),
    (lambda: mc.zoo.googlenet(), 6_624_904, 1_498_376_192),
    (lambda: mc.zoo.googlenet(aux_logits=True), 13_004_888, None),
    (lambda: mc.zoo.resnet18(), 11_689_512, 1_814_073_344),
    (lambda: mc.zoo.resnet34(), 21_797_672, None),
    (lambda: mc.zoo.resnet50(), 25_557_032, 4_089_184_256),
]


@pytest.fixture
def cheap_weights(monkeypatch):
    """Full-size models only for counting: fill weights with zeros instead of drawing
    138M random numbers (the counts and shapes do not depend on the values)."""
    from minicnn.layers import initializers
    real_get = initializers.get
    monkeypatch.setattr(initializers, "get", lambda identifier, **kw: (
        lambda shape, dtype, rng: np.zeros(shape, dtype)) if identifier is not None else real_get(identifier, **kw))


@pytest.mark.parametrize("index", range(len(COUNTS)))
def test_parameter_and_mac_counts_equal_the_reference(index, cheap_weights, monkeypatch):
    def no_ops(*args, **kwargs):
        raise AssertionError("counting must not run any op")
    monkeypatch.setattr(mc.Function, "__call__", no_ops)
    build, params, macs = COUNTS[index]
    model = build()
    assert trainable(model) == params
    if macs is not None:
        assert model.count_macs() == macs
        assert f"Total MACs: {macs:,}" in model.summary(print_fn=None)
    del model
    gc.collect()


def test_full_size_shapes_follow_the_papers(cheap_weights):
    shape = lambda model, name: model.get_layer(name)._output_shape        # noqa: E731
    g = mc.zoo.googlenet()
    # GoogLeNet, Table 1: output sizes of the Inception blocks at 224x224
    assert [shape(g, f"inception{n}.concat") for n in
            ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")] == [
        (256, 28, 28), (480, 28, 28), (512, 14, 14), (512, 14, 14), (512, 14, 14),
        (528, 14, 14), (832, 14, 14), (832, 7, 7), (1024, 7, 7)]
    assert shape(g, "maxpool1") == (64, 56, 56) and shape(g, "maxpool2") == (192, 28, 28)
    r = mc.zoo.resnet50()
    assert [shape(r, f"layer{i}.{n}.relu3") for i, n in ((1, 2), (2, 3), (3, 5), (4, 2))] == [
        (256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]
    a = mc.zoo.alexnet("original")
    assert [shape(a, f"features.{i}") for i in (0, 3, 4, 7, 8, 10, 12, 14)] == [
        (96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13), (384, 13, 13),
        (384, 13, 13), (256, 13, 13), (256, 6, 6)]
    v = mc.zoo.vgg16(cifar=True)
    assert v.get_layer("features.30")._output_shape == (512, 1, 1) and v.output_shape == (10,)
    assert mc.zoo.resnet18(cifar=True).get_layer("layer4.1.relu2")._output_shape == (512, 4, 4)


# ----------------------------------------------------------------------------- vs PyTorch
def randomize_batch_norms(model, seed=0):
    """Give every BatchNormalization non-trivial gamma, beta and running statistics."""
    rng = np.random.default_rng(seed)
    for layer in model.modules():
        if isinstance(layer, mc.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.data[:] = rng.uniform(0.5, 1.5, c)
            layer.beta.data[:] = rng.normal(0, 0.2, c)
            layer.moving_mean.data[:] = rng.normal(0, 0.2, c)
            layer.moving_variance.data[:] = rng.uniform(0.5, 1.5, c)


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def torch_output_shapes(torch_model, x):
    """name -> per-sample output shape of every torch submodule with weights."""
    shapes, hooks = {}, []
    for name, module in torch_model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)):
            hooks.append(module.register_forward_hook(
                lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:]))))
    with torch.no_grad():
        torch_model(x)
    for h in hooks:
        h.remove()
    return shapes


def check_against_torch_model(model, torch_model, x_shape, num_classes, seed=0):
    """Copy the weights over, then compare shapes, eval outputs, and one training step."""
    model.double()
    torch_model.double()
    randomize_batch_norms(model, seed)
    state = to_torch_state_dict(model)
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    labels = rng.integers(0, num_classes, x_shape[0])

    # per-layer output shapes (every conv, BN and dense layer, matched by name)
    torch_shapes = torch_output_shapes(torch_model.eval(), torch.from_numpy(x))
    for name, module in model.named_modules():
        if name in {k.rsplit(".", 1)[0] for k in state}:
            assert module._output_shape == torch_shapes[name], name

    # eval mode: running statistics, no dropout
    model.eval()
    torch_model.eval()
    with mc.no_grad():
        outs = as_list(model(x))
    with torch.no_grad():
        refs = as_list(torch_model(torch.from_numpy(x)))
    assert len(outs) == len(refs)
    for i, (o, r) in enumerate(zip(outs, refs)):
        assert_close(o.data, r.numpy(), "float64", f"eval output {i}")

    # one training step: batch statistics, gradients of every weight, new running stats
    model.train()
    torch_model.train()
    outs = as_list(model(x))
    loss = sum((F.cross_entropy(o, labels) for o in outs[1:]), F.cross_entropy(outs[0], labels))
    loss.backward()
    refs = as_list(torch_model(torch.from_numpy(x)))
    ref_loss = sum(torch.nn.functional.cross_entropy(r, torch.from_numpy(labels)) for r in refs)
    ref_loss.backward()
    assert_close(loss.data, ref_loss.detach().numpy(), "float64", "training loss")
    torch_params = dict(torch_model.named_parameters())
    torch_buffers = dict(torch_model.named_buffers())
    for name, (p, transposed) in torch_parameter_map(model).items():
        if name in torch_params:
            grad = torch_params[name].grad.numpy()
            grad = grad.T if transposed else grad
            assert p.grad.shape == grad.shape, name
            error, scale = np.abs(p.grad - grad).max(), max(np.abs(grad).max(), 1e-4)
            assert error <= 1e-9 * scale, (f"gradient of {name}: max |diff| {error:.3g}, "
                                           f"{error / scale:.3g} of max |grad| {scale:.3g}")
        else:
            assert_close(p.data, torch_buffers[name].numpy(), "float64", f"updated {name}")
    return model


ALEXNETS = [("torchvision", (2, 3, 63, 63)), ("original", (2, 3, 67, 67)),
            ("keras-seed", (2, 3, 67, 67)), ("pytorch-seed-bn", (2, 3, 67, 67))]


@pytest.mark.parametrize("variant, x_shape", ALEXNETS)
def test_alexnet_matches_pytorch(variant, x_shape):
    model = mc.zoo.alexnet(variant, num_classes=7, input_shape=x_shape[1:], width=1 / 8,
                           dropout=0.0)
    flat = model.get_layer("flatten")._output_shape[0]
    check_against_torch_model(model, torch_zoo.AlexNet(variant, 7, 1 / 8, flat), x_shape, 7)


@pytest.mark.parametrize("depth, batch_norm, cifar, width", [
    (11, True, False, 1 / 16), (16, True, True, 1 / 8), (19, False, False, 1 / 16)])
def test_vgg_matches_pytorch(depth, batch_norm, cifar, width):
    model = mc.zoo.vgg(depth, num_classes=5, input_shape=(3, 32, 32), batch_norm=batch_norm,
                       cifar=cifar, width=width, dropout=0.0)
    reference = torch_zoo.VGG(mc.zoo.vgg.__globals__["CONFIGS"][depth], batch_norm, width,
                              cifar, 5)
    check_against_torch_model(model, reference, (2, 3, 32, 32), 5)


def test_googlenet_torchvision_with_aux_heads_matches_pytorch():
    model = mc.zoo.googlenet(num_classes=6, input_shape=(3, 64, 64), aux_logits=True,
                             dropout=0.0, aux_dropout=0.0)
    assert model.output_shape == [(6,), (6,), (6,)]
    check_against_torch_model(model, torch_zoo.GoogLeNet(6, True, paper=False), (2, 3, 64, 64), 6)


def test_googlenet_paper_version_matches_pytorch():
    model = mc.zoo.googlenet(num_classes=4, input_shape=(3, 80, 80), aux_logits=True,
                             variant="paper", dropout=0.0, aux_dropout=0.0)
    assert model.get_layer("inception3a.branch3.1.conv").kernel_size == (5, 5)
    check_against_torch_model(model, torch_zoo.GoogLeNet(4, True, paper=True, aux_flat=128),
                              (2, 3, 80, 80), 4)


@pytest.mark.parametrize("depth, block, blocks", [
    (18, torch_zoo.BasicBlock, [2, 2, 2, 2]), (34, torch_zoo.BasicBlock, [3, 4, 6, 3]),
    (50, torch_zoo.Bottleneck, [3, 4, 6, 3])])
def test_resnet_matches_pytorch(depth, block, blocks):
    model = mc.zoo.resnet(depth, num_classes=5, input_shape=(3, 64, 64))
    check_against_torch_model(model, torch_zoo.ResNet(block, blocks, 5), (2, 3, 64, 64), 5)


def test_cifar_resnets_match_pytorch():
    model = mc.zoo.resnet18(cifar=True, input_shape=(3, 16, 16))
    check_against_torch_model(model, torch_zoo.ResNet(torch_zoo.BasicBlock, [2, 2, 2, 2], 10,
                                                      cifar=True), (2, 3, 16, 16), 10)
    model = mc.zoo.resnet_cifar(14, input_shape=(3, 12, 12))
    reference = torch_zoo.ResNet(torch_zoo.BasicBlock, [2, 2, 2], 10, cifar=True,
                                 widths=(16, 32, 64))
    check_against_torch_model(model, reference, (3, 3, 12, 12), 10)


# ----------------------------------------------------------------------------- interop
def test_torch_state_dict_round_trip():
    source = mc.zoo.resnet_cifar(8)
    randomize_batch_norms(source, seed=3)
    state = to_torch_state_dict(source)
    assert state["fc.weight"].shape == (10, 64)                 # PyTorch's (out, in)
    assert "bn1.num_batches_tracked" in state
    target = mc.zoo.resnet_cifar(8)
    missing, unexpected = load_torch_state_dict(
        target, {k: torch.from_numpy(v) for k, v in state.items()})
    assert missing == [] and unexpected == []
    for (k, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    again = to_torch_state_dict(target)
    assert list(again) == list(state)


def test_load_torch_state_dict_names_what_does_not_fit():
    model = mc.zoo.resnet_cifar(8)
    state = to_torch_state_dict(model)
    state["fc.weight"] = np.zeros((64, 10))
    with pytest.raises(ValueError, match=r"'fc.weight' has shape \(64, 10\).*\(out, in\)"):
        load_torch_state_dict(model, state)
    del state["fc.weight"]
    state["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"missing keys \['fc.weight'\], unexpected keys "
                                         r"\['extra.weight'\]"):
        load_torch_state_dict(model, state)
    assert load_torch_state_dict(model, state, strict=False) == (["fc.weight"], ["extra.weight"])


def test_zoo_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown variant 'alex'"):
        mc.zoo.alexnet("alex")
    with pytest.raises(ValueError, match="depth must be one of"):
        mc.zoo.vgg(12)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        mc.zoo.resnet_cifar(10)
    with pytest.raises(ValueError, match="variant must be 'torchvision' or 'paper'"):
        mc.zoo.googlenet(variant="v3")
