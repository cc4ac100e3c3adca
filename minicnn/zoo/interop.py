"""Weights to and from PyTorch: ``to_torch_state_dict`` / ``load_torch_state_dict``.

A minicnn model's weights become a PyTorch ``state_dict`` by module path (the path of
each layer in ``model.named_modules()``: its name in a graph Model, its index in a
Sequential) and by PyTorch's weight names:

    minicnn                                    PyTorch
    Conv2D.kernel  (O, C/g, kh, kw)            <path>.weight  (same layout)
    Conv2D.bias    (O,)                        <path>.bias
    Dense.kernel   (in, out)                   <path>.weight  (out, in): transposed
    Dense.bias     (out,)                      <path>.bias
    BatchNormalization gamma, beta             <path>.weight, <path>.bias
      moving_mean, moving_variance             <path>.running_mean, <path>.running_var
                                               <path>.num_batches_tracked (0; ignored on load)

The zoo names its layers by torchvision's module paths, so
``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in
to_torch_state_dict(model).items()})`` fills a torchvision-shaped network.
"""
from collections import OrderedDict

import numpy as np

from ..layers import BatchNormalization, Conv2D, Dense


def _torch_entries(layer):
    """(torch suffix, minicnn attribute, transpose?) for each weight of a layer."""
    if isinstance(layer, Conv2D):
        return [("weight", "kernel", False)] + ([("bias", "bias", False)] if layer.use_bias else [])
    if isinstance(layer, Dense):
        return [("weight", "kernel", True)] + ([("bias", "bias", False)] if layer.use_bias else [])
    if isinstance(layer, BatchNormalization):
        entries = [("weight", "gamma", False)] if layer.scale else []
        entries += [("bias", "beta", False)] if layer.center else []
        return entries + [("running_mean", "moving_mean", False),
                          ("running_var", "moving_variance", False)]
    return []


def _weighted_layers(model):
    model._require_built("to_torch_state_dict")
    for path, module in model.named_modules():
        entries = _torch_entries(module)
        if entries:
            yield path, module, entries


def torch_parameter_map(model):
    """OrderedDict PyTorch name -> (minicnn Parameter, transposed?), e.g.
    'classifier.1.weight' -> (the Dense kernel, True). Useful to compare gradients."""
    return OrderedDict((f"{path}.{suffix}", (getattr(layer, attr), transpose))
                       for path, layer, entries in _weighted_layers(model)
                       for suffix, attr, transpose in entries)


def to_torch_state_dict(model):
    """An OrderedDict of NumPy arrays keyed by PyTorch's names (see the module docstring);
    wrap the values with torch.from_numpy to load them into a torch.nn.Module."""
    state = OrderedDict()
    for key, (p, transpose) in torch_parameter_map(model).items():
        value = np.asarray(p.numpy())
        state[key] = (value.T if transpose else value).copy()
        if key.endswith(".running_var"):               # a BatchNorm's last entry
            state[key[:-len("running_var")] + "num_batches_tracked"] = np.array(0, np.int64)
    return state


def _to_numpy(value):
    if hasattr(value, "detach"):                        # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def load_torch_state_dict(model, state_dict, strict=True):
    """Copy a PyTorch state_dict (torch tensors or arrays) into the model's weights.

    Every key and shape is checked before anything is written; with ``strict`` the keys
    must match exactly (``num_batches_tracked`` is ignored). Returns (missing, unexpected).
    """
    plan, expected = [], set()
    for key, (p, transpose) in torch_parameter_map(model).items():
        expected.add(key)
        if key not in state_dict:
            continue
        value = _to_numpy(state_dict[key])
        value = value.T if transpose else value
        if tuple(value.shape) != p.shape:
            hint = " (transposed: PyTorch stores Linear weights as (out, in))" if transpose else ""
            raise ValueError(f"load_torch_state_dict: '{key}' has shape "
                             f"{tuple(_to_numpy(state_dict[key]).shape)} in the state dict but "
                             f"minicnn's {p.name} is {p.shape}{hint}")
        plan.append((p, value))
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(k for k in state_dict if k not in expected
                        and not k.endswith("num_batches_tracked"))
    if strict and (missing or unexpected):
        raise ValueError(f"load_torch_state_dict: the state dict does not fit "
                         f"{model.describe()}: missing keys {missing}, unexpected keys "
                         f"{unexpected}")
    for p, value in plan:
        p.data = np.array(value, dtype=p.dtype)
    return missing, unexpected
