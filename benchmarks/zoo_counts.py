"""Print every zoo model's trainable parameters and forward MACs per image (docs/zoo.md).

    PYTHONPATH=. python benchmarks/zoo_counts.py            # the table
    PYTHONPATH=. python benchmarks/zoo_counts.py resnet18   # one model's summary

Shape arithmetic only: the models are built (weights made) but nothing runs forward.
MACs count the multiply-adds of Conv2D (H_out W_out C_out C_in/groups kh kw) and Dense
(in x out) layers; everything else counts 0.
"""
import gc
import sys

import minicnn as mc

MODELS = {
    "lenet5": lambda: mc.zoo.lenet5(),
    "alexnet-keras-seed": lambda: mc.zoo.alexnet("keras-seed"),
    "alexnet-pytorch-seed-bn": lambda: mc.zoo.alexnet("pytorch-seed-bn"),
    "alexnet-torchvision": lambda: mc.zoo.alexnet("torchvision"),
    "alexnet-original": lambda: mc.zoo.alexnet("original"),
    "vgg11": lambda: mc.zoo.vgg11(),
    "vgg16": lambda: mc.zoo.vgg16(),
    "vgg19": lambda: mc.zoo.vgg19(),
    "vgg16-bn": lambda: mc.zoo.vgg16(batch_norm=True),
    "vgg16-cifar-bn": lambda: mc.zoo.vgg16(cifar=True, batch_norm=True),
    "googlenet": lambda: mc.zoo.googlenet(),
    "googlenet-aux": lambda: mc.zoo.googlenet(aux_logits=True),
    "googlenet-paper": lambda: mc.zoo.googlenet(variant="paper"),
    "resnet18": lambda: mc.zoo.resnet18(),
    "resnet34": lambda: mc.zoo.resnet34(),
    "resnet50": lambda: mc.zoo.resnet50(),
    "resnet18-cifar": lambda: mc.zoo.resnet18(cifar=True),
    "resnet20-cifar": lambda: mc.zoo.resnet_cifar(20),
    "resnet8-cifar": lambda: mc.zoo.resnet_cifar(8),
}


def main(argv):
    if argv:
        MODELS[argv[0]]().summary()
        return
    print("| model | input | trainable params | all params | forward MACs per image |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, build in MODELS.items():
        model = build()
        trainable = sum(p.size for p in model.parameters())
        shape = model.input_shape
        print(f"| `{name}` | {shape} | {trainable:,} | {model.count_params():,} | "
              f"{model.count_macs():,} |", flush=True)
        del model
        gc.collect()


if __name__ == "__main__":
    main(sys.argv[1:])
