"""Peak memory of a LeNet training run (batch 128, 1x32x32, float32), each framework in
its own fresh process, and the cold start from ``import minicnn`` to the first finished
training step with and without Numba's on-disk cache.

    python benchmarks/bench_memory.py [--threads 2] [--steps 20] [--json out.json]

Memory: the process's peak resident set (VmHWM) after ``--steps`` training steps,
and the part of it that training added on top of the process after its imports and
model setup ("training" column: the peak minus that baseline; for minicnn-numba the
baseline is taken after a first step has loaded the compiled kernels, so it is the
arrays of training, not the compiler).

Cold start: wall time from before ``import minicnn`` to the end of the first training
step (forward, loss, backward, SGD step), in a fresh process: for the numba backend
once with an empty NUMBA_CACHE_DIR (everything compiles) and once more with the
cache that run left behind.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MEMORY_SCRIPT = r"""
import sys
sys.path.insert(0, {here!r})
framework, steps = sys.argv[1], int(sys.argv[2])
import numpy as np
from bench_lenet import build_minicnn, build_torch, set_threads
set_threads({threads}, with_torch=framework == "pytorch")   # minicnn runs load no torch
def status_kib(field):      # VmRSS: resident now; VmHWM: the peak of this process image
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
x = np.random.default_rng(0).random((128, 1, 32, 32), dtype=np.float32)
y = np.random.default_rng(1).integers(0, 10, 128)
if framework == "pytorch":
    import torch
    model = build_torch(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    def step():
        opt.zero_grad(); torch.nn.functional.cross_entropy(model(xt), yt).backward(); opt.step()
else:
    import minicnn as mc, minicnn.functional as F
    mc.set_backend(framework.split("-")[1])
    model = build_minicnn(1)
    opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    def step():
        opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
    if framework == "minicnn-numba":      # load the compiled kernels before the baseline
        import minicnn.backend as backend
        from minicnn.functional.conv import Conv2d
        backend.implementation(Conv2d, x)
        import minicnn.kernels.conv, minicnn.kernels.pool, minicnn.kernels.elementwise
        small = build_minicnn(1)
        F.cross_entropy(small(x[:2]), y[:2]).backward()
baseline = status_kib("VmRSS")
for _ in range(steps):
    step()
peak = status_kib("VmHWM")   # (not ru_maxrss: Linux carries that over from the parent across exec)
print(peak, peak - baseline)
"""

COLD_SCRIPT = r"""
import time
t0 = time.perf_counter()
import numpy as np
import minicnn as mc
import minicnn.functional as F
from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
model = mc.Sequential([Conv2D(6, 5, activation="relu", input_shape=(1, 32, 32)), MaxPooling2D(2),
                       Conv2D(16, 5, activation="relu"), MaxPooling2D(2), Flatten(),
                       Dense(120, activation="relu"), Dense(84, activation="relu"), Dense(10)])
opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = np.random.default_rng(0).random((128, 1, 32, 32), dtype=np.float32)
y = np.random.default_rng(1).integers(0, 10, 128)
opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
print(time.perf_counter() - t0, mc.get_backend())
"""

TORCH_COLD_SCRIPT = r"""
import time
t0 = time.perf_counter()
import torch, torch.nn as nn
model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                      nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x, y = torch.rand(128, 1, 32, 32), torch.randint(0, 10, (128,))
opt.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); opt.step()
print(time.perf_counter() - t0, "torch")
"""


def _python(code, args=(), **env):
    environ = dict(os.environ, PYTHONPATH=ROOT, **env)
    done = subprocess.run([sys.executable, "-c", code, *args], env=environ, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def memory(threads, steps=20):
    import minicnn as mc
    frameworks = ["pytorch"] + [f"minicnn-{b}" for b in mc.available_backends()]
    rows = []
    for framework in frameworks:
        peak, training = _python(MEMORY_SCRIPT.format(here=HERE, threads=threads),
                                 [framework, str(steps)])
        rows.append(dict(framework=framework, peak_rss_mib=int(peak) / 1024,
                         training_mib=int(training) / 1024))
    torch_row = rows[0]
    for row in rows:
        row["peak_ratio"] = row["peak_rss_mib"] / torch_row["peak_rss_mib"]
        row["training_ratio"] = row["training_mib"] / max(torch_row["training_mib"], 1e-9)
        print(f"{row['framework']:>14}  peak RSS {row['peak_rss_mib']:7.1f} MiB "
              f"({row['peak_ratio']:.2f}x PyTorch)   training {row['training_mib']:6.1f} MiB "
              f"({row['training_ratio']:.2f}x)")
    return rows


def cold_start(threads):
    env = dict(OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for label, backend, extra in [
                ("minicnn-numba, empty Numba cache (compiles)", "numba", dict(NUMBA_CACHE_DIR=cache)),
                ("minicnn-numba, warm Numba cache", "numba", dict(NUMBA_CACHE_DIR=cache)),
                ("minicnn-numpy", "numpy", {})]:
            seconds, used = _python(COLD_SCRIPT, MINICNN_BACKEND=backend, **env, **extra)
            rows.append(dict(case=label, seconds=float(seconds), backend=used))
    seconds, _ = _python(TORCH_COLD_SCRIPT, **env)
    rows.append(dict(case="pytorch (import torch to first step)", seconds=float(seconds)))
    for row in rows:
        print(f"{row['case']:>46}  {row['seconds']:6.2f} s")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    from bench_lenet import set_threads
    threads = set_threads(args.threads)
    result = dict(threads=threads, memory=memory(threads, args.steps),
                  cold_start=cold_start(threads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
