"""Peak memory of VGG-16 forward + backward at 224x224, batch 2 (float32), and its time.

    PYTHONPATH=. python benchmarks/bench_vgg16_memory.py [--batch 2] [--size 224]

Reports the process's peak resident memory (ru_maxrss: weights, gradients, the saved
im2col columns and activations, and NumPy's temporaries) and the tracemalloc peak of the
NumPy allocations made during the step, as JSON. docs/zoo.md quotes the numbers.
"""
import argparse
import json
import resource
import sys
import time
import tracemalloc

import numpy as np

import minicnn as mc
import minicnn.functional as F


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--limit-gib", type=float, default=8.0)
    args = parser.parse_args()
    mc.manual_seed(0)
    model = mc.zoo.vgg16(input_shape=(3, args.size, args.size))
    x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size))
    x = x.astype(np.float32)
    labels = np.arange(args.batch) % 1000
    weights_gib = sum(p.size * p.dtype.itemsize for p in model.parameters()) / 2**30
    tracemalloc.start()
    start = time.perf_counter()
    loss = F.cross_entropy(model(x), labels)
    forward_s = time.perf_counter() - start
    loss.backward()
    total_s = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    scale = 1 if sys.platform == "darwin" else 1024          # ru_maxrss: KiB on Linux
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30
    report = {"model": "vgg16", "batch": args.batch, "size": args.size,
              "backend": mc.get_backend(), "weights_gib": round(weights_gib, 3),
              "peak_rss_gib": round(peak_gib, 3),
              "traced_peak_during_step_gib": round(traced_peak / 2**30, 3),
              "forward_s": round(forward_s, 1), "forward_backward_s": round(total_s, 1),
              "within_limit": peak_gib <= args.limit_gib, "limit_gib": args.limit_gib}
    print(json.dumps(report))
    return 0 if report["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
