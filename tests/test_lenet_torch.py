"""End to end against PyTorch: the seed LeNet, built in both, trained for 3 steps.

minicnn's LeNet (Keras-style Sequential) and a hand-written torch.nn.Sequential start
from the same weights (conv kernels share the layout (out, in, kh, kw); a minicnn Dense
kernel (in, out) is torch's Linear weight transposed). Each step compares the loss and
every gradient, and after 3 steps of SGD with momentum 0.9 the weights, with
tests/torch_check.assert_close (float64 and float32 tolerances).
"""
import numpy as np
import pytest
import torch
from minicnn.testing import assert_close

import minicnn as mc
import minicnn.functional as F
from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D

BATCH, STEPS, LR, MOMENTUM = 4, 3, 0.05, 0.9


def lenet_minicnn():
    return mc.Sequential([
        Conv2D(6, 5, activation="relu", input_shape=(1, 32, 32)), MaxPooling2D(2),
        Conv2D(16, 5, activation="relu"), MaxPooling2D(2),
        Flatten(),
        Dense(120, activation="relu"), Dense(84, activation="relu"), Dense(10),
    ])


def lenet_torch():
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def as_torch_layout(array):
    """A minicnn parameter array in torch's layout (Dense kernels are transposed)."""
    return array.T if array.ndim == 2 else array


def twin_models(dtype, seed=0):
    """A minicnn LeNet and a torch LeNet with the same (minicnn-initialised) weights."""
    mc.manual_seed(seed)
    model = lenet_minicnn().to(dtype)
    reference = lenet_torch().to(torch.float64 if dtype == "float64" else torch.float32)
    mc_params, torch_params = model.parameters(), list(reference.parameters())
    assert [as_torch_layout(p.data).shape for p in mc_params] == \
        [tuple(t.shape) for t in torch_params]
    with torch.no_grad():
        for p, t in zip(mc_params, torch_params):
            t.copy_(torch.from_numpy(np.ascontiguousarray(as_torch_layout(p.data))))
    return model, reference


def batch(dtype, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((BATCH, 1, 32, 32)).astype(dtype), rng.integers(0, 10, BATCH)


def compare_weights(model, reference, dtype, when):
    for i, (p, t) in enumerate(zip(model.parameters(), reference.parameters())):
        assert p.dtype == np.dtype(dtype)
        assert_close(as_torch_layout(p.data), t.detach().numpy(), dtype,
                     f"{when}: weight {i} {p.name}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lenet_pytorch_style_loop_matches_torch(dtype):
    model, reference = twin_models(dtype)
    x, y = batch(dtype)
    opt = mc.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    torch_opt = torch.optim.SGD(reference.parameters(), lr=LR, momentum=MOMENTUM)
    for step in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch_opt.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)),
                                                       torch.from_numpy(y))
        torch_loss.backward()
        assert loss.dtype == np.dtype(dtype)
        assert_close(loss.data, torch_loss.detach().numpy(), dtype, f"step {step}: loss")
        for i, (p, t) in enumerate(zip(model.parameters(), reference.parameters())):
            assert p.grad is not None and p.grad.dtype == np.dtype(dtype)
            assert_close(as_torch_layout(p.grad), t.grad.numpy(), dtype,
                         f"step {step}: gradient of weight {i} {p.name}")
        opt.step()
        torch_opt.step()
    compare_weights(model, reference, dtype, f"after {STEPS} steps")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lenet_fit_matches_torch(dtype):
    """compile/fit with one batch per epoch and no shuffling is the same 3 steps."""
    model, reference = twin_models(dtype)
    x, y = batch(dtype)
    model.compile(optimizer=mc.optim.SGD(lr=LR, momentum=MOMENTUM), loss="cross_entropy")
    history = model.fit(x, y, epochs=STEPS, batch_size=BATCH, shuffle=False, verbose=0)

    torch_opt = torch.optim.SGD(reference.parameters(), lr=LR, momentum=MOMENTUM)
    torch_losses = []
    for _ in range(STEPS):
        torch_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)),
                                                 torch.from_numpy(y))
        loss.backward()
        torch_opt.step()
        torch_losses.append(loss.item())
    assert_close(history.history["loss"], torch_losses, dtype, "losses per epoch")
    compare_weights(model, reference, dtype, f"after fit({STEPS} epochs)")
