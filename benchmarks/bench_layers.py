"""Per-layer forward and backward times: minicnn backends and PyTorch, side by side.

    python benchmarks/bench_layers.py [--threads 2] [--json out.json]

Layers (float32): LeNet's two convolutions (with their bias), a VGG-style 3x3 conv
64->64 on 32x32 (padding 1, batch 32), max-pool 2x2 and Dense 400->120 (batch 128).
Forward is timed on its own; backward is one ``backward`` through a fresh forward
(its time minus the forward's). The ratio is PyTorch's time / minicnn's (above 1 means
minicnn is faster).
"""
import argparse
import json

import minicnn  # noqa: F401  (before numpy: minicnn sets OpenBLAS's thread timeout)
import numpy as np

from bench_lenet import best_time, set_threads

LAYERS = {   # name: (input shape, what to build)
    "conv1 1->6 5x5 (LeNet), N=128": ((128, 1, 32, 32), ("conv", 6, 5, 0)),
    "conv2 6->16 5x5 (LeNet), N=128": ((128, 6, 14, 14), ("conv", 16, 5, 0)),
    "VGG conv 64->64 3x3 pad 1, N=32": ((32, 64, 32, 32), ("conv", 64, 3, 1)),
    "max-pool 2x2 on 6x28x28, N=128": ((128, 6, 28, 28), ("pool",)),
    "Dense 400->120, N=128": ((128, 400), ("dense", 120)),
}



def minicnn_layer(spec, shape, backend, min_time):
    import minicnn as mc
    import minicnn.functional as F
    rng = np.random.default_rng(0)
    x = mc.Tensor(rng.random(shape, dtype=np.float32), requires_grad=True)
    if spec[0] == "conv":
        _, o, k, p = spec
        w = mc.Tensor(rng.standard_normal((o, shape[1], k, k)).astype(np.float32) * 0.1,
                      requires_grad=True)
        b = mc.Tensor(np.zeros(o, np.float32), requires_grad=True)
        fn = lambda: F.conv2d(x, w, b, padding=p)
    elif spec[0] == "pool":
        fn = lambda: F.max_pool2d(x, 2)
    else:
        w = mc.Tensor(rng.standard_normal((shape[1], spec[1])).astype(np.float32) * 0.1,
                      requires_grad=True)
        b = mc.Tensor(np.zeros(spec[1], np.float32), requires_grad=True)
        fn = lambda: F.linear(x, w, b)
    with mc.use_backend(backend):
        y = fn()
        g = np.ones(y.shape, np.float32)

        def forward():
            with mc.no_grad():
                fn()

        def forward_backward():
            fn().backward(g)
        fwd = best_time(forward, min_time)
        return fwd, best_time(forward_backward, min_time) - fwd


def torch_layer(spec, shape, min_time):
    import torch
    x = torch.rand(shape, requires_grad=True)
    if spec[0] == "conv":
        _, o, k, p = spec
        layer = torch.nn.Conv2d(shape[1], o, k, padding=p)
    elif spec[0] == "pool":
        layer = torch.nn.MaxPool2d(2)
    else:
        layer = torch.nn.Linear(shape[1], spec[1])
    g = torch.ones(layer(x).shape)

    def forward():
        with torch.no_grad():
            layer(x)

    def forward_backward():
        layer(x).backward(g)
    fwd = best_time(forward, min_time)
    return fwd, best_time(forward_backward, min_time) - fwd


def run(min_time=0.5):
    import minicnn as mc
    rows = []
    print(f"{'layer':>33} {'framework':>14} {'fwd ms':>8} {'bwd ms':>8} "
          f"{'fwd x':>6} {'bwd x':>6} {'f+b x':>6}")
    for name, (shape, spec) in LAYERS.items():
        t_fwd, t_bwd = torch_layer(spec, shape, min_time)
        results = [("pytorch", t_fwd, t_bwd)]
        for backend in mc.available_backends():
            results.append((f"minicnn-{backend}",) + minicnn_layer(spec, shape, backend, min_time))
        for framework, fwd, bwd in results:
            row = dict(layer=name, framework=framework, forward_ms=fwd * 1e3,
                       backward_ms=bwd * 1e3, forward_ratio=t_fwd / fwd,
                       backward_ratio=t_bwd / bwd, total_ratio=(t_fwd + t_bwd) / (fwd + bwd))
            rows.append(row)
            print(f"{name:>33} {framework:>14} {fwd * 1e3:>8.2f} {bwd * 1e3:>8.2f} "
                  f"{row['forward_ratio']:>6.2f} {row['backward_ratio']:>6.2f} "
                  f"{row['total_ratio']:>6.2f}")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--json")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    print(f"threads: {threads}")
    rows = run(args.min_time)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(threads=threads, results=rows), f, indent=2)


if __name__ == "__main__":
    main()
