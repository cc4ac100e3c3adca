"""LeNet training and inference throughput: minicnn backends and PyTorch, side by side.

    python benchmarks/bench_lenet.py [--batch 32 128 256] [--channels 1 3] [--threads 2]
                                     [--json out.json]

Each configuration times a full training step (forward, cross-entropy, backward, SGD
momentum step) and an inference forward pass, for every available minicnn backend and
for PyTorch on the CPU, in the same process with the same thread count, and prints
images per second and the ratio minicnn / PyTorch. Absolute times on a shared machine
are noise; the ratio is the figure to read.
"""
import argparse
import json
import os
import time

import numpy as np


def set_threads(threads=None, with_torch=True):
    """Give PyTorch, minicnn's numba backend and BLAS the same number of threads; returns it.

    BLAS reads OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when numpy loads it, so run_all.py
    also sets them in the environment of each benchmark process. (throughput.py measures
    with no such settings at all, as a user runs.)
    """
    threads = threads or int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    if with_torch:
        import torch
        torch.set_num_threads(threads)
    import minicnn as mc
    if "numba" in mc.available_backends():
        mc.set_num_threads(threads)
    return threads


def build_minicnn(channels, dtype="float32"):
    import minicnn as mc
    from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
    mc.manual_seed(0)
    return mc.Sequential([
        Conv2D(6, 5, activation="relu", input_shape=(channels, 32, 32), dtype=dtype),
        MaxPooling2D(2),
        Conv2D(16, 5, activation="relu", dtype=dtype),
        MaxPooling2D(2),
        Flatten(),
        Dense(120, activation="relu", dtype=dtype),
        Dense(84, activation="relu", dtype=dtype),
        Dense(10, dtype=dtype),
    ])


def build_torch(channels):
    import torch.nn as nn
    return nn.Sequential(
        nn.Conv2d(channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def best_time(fn, min_time):
    """Seconds of the fastest of several timed repeats (after a warm-up), repeating for at
    least ``min_time`` seconds and 5 times."""
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_rate(fn, batch, min_time):
    """Images per second of the fastest timed repeat."""
    return batch / best_time(fn, min_time)


def bench_minicnn(backend, channels, batch, min_time):
    import minicnn as mc
    import minicnn.functional as F
    x = np.random.default_rng(0).random((batch, channels, 32, 32), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, batch)
    with mc.use_backend(backend):
        model = build_minicnn(channels)
        opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train_step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        def infer():
            with mc.no_grad():
                model(x)

        model.train()
        train = best_rate(train_step, batch, min_time)
        model.eval()
        return train, best_rate(infer, batch, min_time)


def bench_torch(channels, batch, min_time):
    import torch
    x = torch.rand(batch, channels, 32, 32)
    y = torch.randint(0, 10, (batch,))
    torch.manual_seed(0)
    model = build_torch(channels)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train_step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    return best_rate(train_step, batch, min_time), best_rate(infer, batch, min_time)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for PyTorch, Numba and BLAS (default: $OMP_NUM_THREADS "
                             "or the number of cores)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    import minicnn as mc
    import torch
    print(f"threads: {threads}   torch {torch.__version__}   minicnn {mc.__version__}   "
          f"backends: {mc.available_backends()}")
    print(f"{'input':>9} {'batch':>5} {'framework':>16} {'train img/s':>12} {'ratio':>6} "
          f"{'infer img/s':>12} {'ratio':>6}")
    results = []
    for channels in args.channels:
        for batch in args.batch:
            t_train, t_infer = bench_torch(channels, batch, args.min_time)
            rows = [("pytorch", t_train, t_infer)]
            for backend in mc.available_backends():
                rows.append((f"minicnn-{backend}",)
                            + bench_minicnn(backend, channels, batch, args.min_time))
            for name, train, infer in rows:
                print(f"{channels:>3}x32x32 {batch:>5} {name:>16} {train:>12.0f} "
                      f"{train / t_train:>6.2f} {infer:>12.0f} {infer / t_infer:>6.2f}")
                results.append(dict(channels=channels, batch=batch, framework=name,
                                    train_images_per_s=train, infer_images_per_s=infer,
                                    train_ratio=train / t_train, infer_ratio=infer / t_infer))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(threads=threads, results=results), f, indent=2)


if __name__ == "__main__":
    main()
