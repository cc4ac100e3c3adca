"""minicnn.zoo — the classic architectures, built from minicnn layers.

Each builder takes ``num_classes`` and ``input_shape`` (C, H, W) and returns an untrained
model whose layers, parameter counts and output shapes follow the published network:

    lenet5()                         LeNet-5, the seed notebooks' version (Sequential)
    alexnet(variant)                 "torchvision", "original", "keras-seed", "pytorch-seed-bn"
    vgg11/vgg16/vgg19(batch_norm=, cifar=)
    googlenet(aux_logits=, variant=) "torchvision" (weight-compatible) or "paper"
    resnet18/resnet34/resnet50(cifar=), resnet_cifar(depth)

All but LeNet are graph Models whose layers carry PyTorch's module paths as names, so
``to_torch_state_dict`` / ``load_torch_state_dict`` move weights to and from PyTorch.
See docs/zoo.md for the counts and how they were checked.
"""
from .alexnet import alexnet
from .googlenet import googlenet, inception_block
from .interop import load_torch_state_dict, to_torch_state_dict, torch_parameter_map
from .lenet import lenet5
from .resnet import (basic_block, bottleneck_block, resnet, resnet18, resnet34, resnet50,
                     resnet_cifar)
from .vgg import vgg, vgg11, vgg16, vgg19

__all__ = ["lenet5", "alexnet", "vgg", "vgg11", "vgg16", "vgg19", "googlenet",
           "inception_block", "resnet", "resnet18", "resnet34", "resnet50", "resnet_cifar",
           "basic_block", "bottleneck_block", "to_torch_state_dict", "load_torch_state_dict",
           "torch_parameter_map"]
