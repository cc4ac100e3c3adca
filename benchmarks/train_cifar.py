"""Train a CIFAR-sized zoo model on CIFAR-10 with minicnn and report test accuracy and time.

    PYTHONPATH=. python benchmarks/train_cifar.py --data ../shared/data/cifar-10-batches-bin \
        --model resnet8 --epochs 4 --train-batches 1

Reads the binary batches (data_batch_<i>.bin, test_batch.bin) with minicnn.data's loader
when it is there, else with the few lines below (1 label byte + 3,072 pixel bytes per
record). Inputs are scaled to [0, 1] and normalised per channel with the training mean and
standard deviation; training uses random horizontal flips and 4-pixel-padded random
crops, SGD with momentum 0.9, weight decay 5e-4 and a cosine learning-rate decay.
Prints one line per epoch and a final JSON line with the figures docs/zoo.md quotes.
"""
import argparse
import json
import os
import time

import numpy as np

import minicnn as mc
import minicnn.functional as F

RECORD = 1 + 3 * 32 * 32


def read_batch(path):
    """(x uint8 (N, 3, 32, 32), y int64 (N,)) from one CIFAR-10 binary batch file."""
    try:
        from minicnn.data.cifar import read_cifar_bin
    except ImportError:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % RECORD:
            raise ValueError(f"{path}: not a whole number of {RECORD}-byte CIFAR-10 records")
        records = raw.reshape(-1, RECORD)
        return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)
    return read_cifar_bin(path)


def build(name, num_classes=10):
    if name.startswith("resnet") and name[6:].isdigit() and (int(name[6:]) - 2) % 6 == 0:
        return mc.zoo.resnet_cifar(int(name[6:]), num_classes=num_classes)
    if name == "resnet18":
        return mc.zoo.resnet18(cifar=True, num_classes=num_classes)
    if name.startswith("vgg"):                      # e.g. vgg11-0.25: width 0.25
        depth, _, width = name[3:].partition("-")
        return mc.zoo.vgg(int(depth), cifar=True, batch_norm=True, num_classes=num_classes,
                          width=float(width or 1.0))
    raise SystemExit(f"unknown model {name!r}: resnet8, resnet20, resnet18, vgg11-0.25, ...")


def augment(x, rng):
    """Random horizontal flips and random 32x32 crops of the 4-pixel zero-padded images."""
    n = len(x)
    flip = rng.random(n) < 0.5
    x = np.where(flip[:, None, None, None], x[:, :, :, ::-1], x)
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
    out = np.empty_like(x)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
    return out


def accuracy(model, x, y, batch_size=500):
    model.eval()
    correct = 0
    with mc.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(mc.Tensor(x[start:start + batch_size]))
            correct += int((logits.data.argmax(axis=1) == y[start:start + batch_size]).sum())
    return correct / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join("..", "shared", "data",
                                                       "cifar-10-batches-bin"))
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--train-batches", type=int, nargs="+", default=[1])
    parser.add_argument("--limit", type=int, default=None, help="use only this many training images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    mc.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    parts = [read_batch(os.path.join(args.data, f"data_batch_{i}.bin")) for i in args.train_batches]
    x_train = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = read_batch(os.path.join(args.data, "test_batch.bin"))
    x_test = x_test.astype(np.float32) / 255
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    model = build(args.model)
    params = model.parameters()
    opt = mc.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    total_steps = args.epochs * steps_per_epoch
    print(f"{args.model}: {sum(p.size for p in params):,} parameters, "
          f"{model.count_macs():,} MACs per image; {len(x_train)} training images, "
          f"backend {mc.get_backend()}", flush=True)
    start, step = time.perf_counter(), 0
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(x_train))
        seen, loss_sum, correct = 0, 0.0, 0
        for first in range(0, len(order), args.batch_size):
            index = order[first:first + args.batch_size]
            xb, yb = augment(x_train[index], rng), y_train[index]
            opt.lr = args.lr * 0.5 * (1 + np.cos(np.pi * step / total_steps))   # cosine decay
            opt.zero_grad()
            logits = model(mc.Tensor(xb))
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            step += 1
            seen += len(index)
            loss_sum += loss.item() * len(index)
            correct += int((logits.data.argmax(axis=1) == yb).sum())
        test_acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / seen:.4f}, train accuracy "
              f"{correct / seen:.4f}, test accuracy {test_acc:.4f}, "
              f"{time.perf_counter() - start:.0f}s", flush=True)
    seconds = time.perf_counter() - start
    print(json.dumps({"model": args.model, "epochs": args.epochs, "train_images": len(x_train),
                      "test_images": len(x_test), "test_accuracy": test_acc,
                      "seconds": round(seconds, 1), "backend": mc.get_backend()}), flush=True)


if __name__ == "__main__":
    main()
