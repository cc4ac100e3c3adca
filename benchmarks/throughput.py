"""Training and inference throughput as a user gets it: minicnn against PyTorch on the CPU.

    python benchmarks/throughput.py [--rounds 5] [--seconds 3] [--cases lenet-train ...]
                                    [--json benchmarks/throughput.json] [--markdown FILE]
    python benchmarks/throughput.py --cold          # the first `minicnn train lenet`

How it measures (the way a training script runs):

* each framework runs alone in its own fresh Python process, started with the environment
  this script was started with minus every threading or tuning variable (``OMP_*``,
  ``OPENBLAS_*``, ``MKL_*``, ``NUMBA_*``, ``MINICNN_*``): default threads, default
  settings, and ``import numpy`` before ``import minicnn`` or ``import torch``;
* a case warms up (``--warmup`` seconds; minicnn's kernels load from Numba's cache or
  compile), then runs steps back to back for at least ``--seconds``: the throughput is the
  images of those steps over their wall time (what an epoch gets), and each step's time is
  kept for the spread (median and p90);
* rounds alternate the frameworks' order (A B, B A, ...); the table gives the median over
  rounds of each framework's throughput and the median of the per-round ratios
  minicnn / PyTorch, with their min-max across rounds.

Absolute times on a shared machine are noise; the ratios, measured seconds apart, are the
figures to read. ``--cold`` times the README's ``minicnn train lenet`` in a fresh process
with an empty Numba cache (NUMBA_CACHE_DIR set to a new folder: the only variable set, and
only to empty the cache) and again with the cache that run left, next to PyTorch's
``import torch`` to the end of its first LeNet training step.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TUNING_PREFIXES = ("OMP_", "OPENBLAS_", "MKL_", "NUMBA_", "MINICNN_", "GOTO", "KMP_")

# name -> (description, images per step, frameworks)
CASES = {
    **{f"lenet-train-{c}x32-b{b}": (f"LeNet-5 training, {c}x32x32, batch {b}", b,
                                     ("minicnn", "pytorch"))
       for c in (1, 3) for b in (32, 128, 256)},
    **{f"lenet-infer-{c}x32-b128": (f"LeNet-5 inference, {c}x32x32, batch 128", 128,
                                     ("minicnn", "pytorch")) for c in (1, 3)},
    "lenet-train-1x32-b128-numpy": ("LeNet-5 training, 1x32x32, batch 128, numpy backend",
                                    128, ("minicnn-numpy", "pytorch")),
    "vgg-conv-b32": ("VGG conv 64->64 3x3 pad 1, 32x32, batch 32, forward + backward", 32,
                     ("minicnn", "pytorch")),
    "resnet20-train-b64": ("CIFAR ResNet-20 training, batch 64", 64, ("minicnn", "pytorch")),
}


# ----------------------------------------------------------------------------- one worker
def lenet_minicnn(mc, channels):
    from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
    return mc.Sequential([
        Conv2D(6, 5, activation="relu", input_shape=(channels, 32, 32)), MaxPooling2D(2),
        Conv2D(16, 5, activation="relu"), MaxPooling2D(2), Flatten(),
        Dense(120, activation="relu"), Dense(84, activation="relu"), Dense(10)])


def lenet_torch(nn, channels):
    return nn.Sequential(
        nn.Conv2d(channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def resnet20_torch():
    """The network of mc.zoo.resnet_cifar(20) in PyTorch: the ResNet of the tests' torch
    zoo (tests/torch_zoo.py, which the zoo tests hold equal to minicnn's, weights
    transplanted): 3x3 conv-BN-ReLU, three stages of three basic blocks (16, 32, 64
    channels; 1x1 conv + BN projections where the shape changes), average pool, Dense."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import torch_zoo
    return torch_zoo.ResNet(torch_zoo.BasicBlock, [3, 3, 3], 10, cifar=True, widths=(16, 32, 64))


def make_step(framework, case):
    """The step function of one case, built the way a user writes it."""
    import numpy as np                      # first, as in most scripts
    rng = np.random.default_rng(0)
    kind = case.split("-")[0] + "-" + case.split("-")[1]
    channels = 3 if "-3x32" in case or kind in ("resnet20-train",) else 1
    batch = CASES[case][1]
    if kind == "vgg-conv":
        x = rng.standard_normal((batch, 64, 32, 32), dtype=np.float32)
    else:
        x = rng.random((batch, channels, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    if framework == "pytorch":
        import torch
        nn, F = torch.nn, torch.nn.functional
        torch.manual_seed(0)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        if kind == "vgg-conv":
            conv = nn.Conv2d(64, 64, 3, padding=1)
            xt.requires_grad_(True)

            def step():
                conv.zero_grad()
                xt.grad = None
                conv(xt).sum().backward()
            return step
        model = lenet_torch(nn, channels) if kind.startswith("lenet") else resnet20_torch()
        if kind == "lenet-infer":
            model.eval()

            def step():
                with torch.no_grad():
                    model(xt)
            return step
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(xt), yt).backward()
            opt.step()
        return step

    import minicnn as mc
    import minicnn.functional as F
    if framework == "minicnn-numpy":
        mc.set_backend("numpy")
    mc.manual_seed(0)
    if kind == "vgg-conv":
        conv = mc.layers.Conv2D(64, 3, padding=1, input_shape=(64, 32, 32))
        xt = mc.Tensor(x, requires_grad=True)

        def step():
            conv.zero_grad()
            xt.grad = None
            conv(xt).sum().backward()
        return step
    model = lenet_minicnn(mc, channels) if kind.startswith("lenet") else mc.zoo.resnet_cifar(20)
    if kind == "lenet-infer":
        model.eval()

        def step():
            with mc.no_grad():
                model(x)
        return step
    opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def worker(framework, case, warmup, seconds):
    """Runs in a fresh process: builds the case, warms up, times steps; prints one JSON line."""
    step = make_step(framework, case)
    start = time.perf_counter()
    steps = 0
    while steps < 2 or time.perf_counter() - start < warmup:
        step()
        steps += 1
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    images = CASES[case][1]
    times.sort()
    if framework == "pytorch":
        import torch
        backend = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    else:
        import minicnn as mc
        backend = f"minicnn {mc.get_backend()}, {mc.get_num_threads()} threads"
    print(json.dumps(dict(
        framework=framework, case=case, backend=backend, steps=len(times), wall_s=wall,
        images_per_s=images * len(times) / wall, step_median_ms=1e3 * statistics.median(times),
        step_p90_ms=1e3 * times[int(0.9 * (len(times) - 1))], step_min_ms=1e3 * times[0])))


# ----------------------------------------------------------------------------- the driver
def user_environment(**extra):
    """This process's environment without threading or tuning variables (plus ``extra``),
    and with the source tree importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(TUNING_PREFIXES)}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "") if env.get(
        "PYTHONPATH") else ROOT
    env.update(extra)
    return env


def run_worker(framework, case, args):
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", framework, case,
         "--warmup", str(args.warmup), "--seconds", str(args.seconds)],
        env=user_environment(), capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise SystemExit(f"{framework} {case} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_spread(values):
    return statistics.median(values), min(values), max(values)


def summarize(runs, cases):
    """Per case: each framework's median images/s and step times, the median ratio."""
    rows = []
    for case in cases:
        mine, torch_fw = CASES[case][2]
        by = {fw: [r for r in runs if r["case"] == case and r["framework"] == fw]
              for fw in (mine, torch_fw)}
        ratios = [a["images_per_s"] / b["images_per_s"] for a, b in zip(by[mine], by[torch_fw])]
        row = dict(case=case, what=CASES[case][0], minicnn=mine, rounds=len(ratios),
                   ratio=median_spread(ratios))
        for fw, key in ((mine, "minicnn"), (torch_fw, "pytorch")):
            row[key + "_images_per_s"] = statistics.median(r["images_per_s"] for r in by[fw])
            row[key + "_step_median_ms"] = statistics.median(r["step_median_ms"] for r in by[fw])
            row[key + "_step_p90_ms"] = statistics.median(r["step_p90_ms"] for r in by[fw])
        rows.append(row)
    return rows


def markdown(rows):
    lines = ["| case | minicnn img/s | PyTorch img/s | ratio (min-max) | minicnn step median / p90 ms "
             "| PyTorch step median / p90 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratio, lo, hi = r["ratio"]
        lines.append(
            f"| {r['what']} | {r['minicnn_images_per_s']:.0f} | {r['pytorch_images_per_s']:.0f} "
            f"| **{ratio:.2f}x** ({lo:.2f}-{hi:.2f}) "
            f"| {r['minicnn_step_median_ms']:.2f} / {r['minicnn_step_p90_ms']:.2f} "
            f"| {r['pytorch_step_median_ms']:.2f} / {r['pytorch_step_p90_ms']:.2f} |")
    return "\n".join(lines)


def cold_start():
    """Seconds of the first `minicnn train lenet` with an empty Numba cache and
    with the cache it left; PyTorch's import to the end of its first LeNet step."""
    result = {}
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as workdir:
        for label in ("empty cache", "warm cache"):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "minicnn", "train", "lenet", "--out",
                                  os.path.join(workdir, "run")],
                                 env=user_environment(NUMBA_CACHE_DIR=cache), cwd=workdir,
                                 capture_output=True, text=True, timeout=900)
            if out.returncode:
                raise SystemExit(f"minicnn train lenet failed:\n{out.stderr}")
            result[f"minicnn train lenet, {label}"] = time.perf_counter() - start
    result["compile (empty minus warm)"] = (result["minicnn train lenet, empty cache"]
                                            - result["minicnn train lenet, warm cache"])
    first_step = ("import time; t = time.perf_counter(); import numpy as np; import torch; "
                  "import torch.nn as nn; import sys; sys.path.insert(0, %r); "
                  "from throughput import lenet_torch; m = lenet_torch(nn, 1); "
                  "o = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9); "
                  "x = torch.rand(128, 1, 32, 32); y = torch.randint(0, 10, (128,)); "
                  "o.zero_grad(); nn.functional.cross_entropy(m(x), y).backward(); o.step(); "
                  "print(time.perf_counter() - t)" % HERE)
    out = subprocess.run([sys.executable, "-c", first_step], env=user_environment(),
                         capture_output=True, text=True, check=True)
    result["PyTorch: import torch to the end of the first LeNet step (batch 128)"] = float(
        out.stdout.split()[-1])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds per run")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES),
                        metavar="CASE", help="default: all of " + ", ".join(CASES))
    parser.add_argument("--json", help="write the runs and the summary to this file")
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--cold", action="store_true", help="time the cold start instead")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker, args.warmup, args.seconds)
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.cold:
        result = cold_start()
        table = ["| cold start | seconds |", "| --- | ---: |"]
        table += [f"| {k} | {v:.1f} |" for k, v in result.items()]
        print("\n".join(table))
        summary = dict(cold_start=result)
    else:
        runs = []
        for r in range(args.rounds):
            for case in args.cases:
                frameworks = CASES[case][2]
                for fw in (frameworks if r % 2 == 0 else frameworks[::-1]):
                    run = run_worker(fw, case, args)
                    runs.append(dict(run, round=r))
                    print(f"round {r + 1}/{args.rounds} {case:28s} {fw:14s} "
                          f"{run['images_per_s']:8.0f} img/s  step median "
                          f"{run['step_median_ms']:.2f} ms, p90 {run['step_p90_ms']:.2f} ms",
                          flush=True)
        rows = summarize(runs, args.cases)
        table = markdown(rows)
        print(table)
        summary = dict(rounds=args.rounds, seconds=args.seconds, warmup=args.warmup,
                       cores=os.cpu_count(), runs=runs, summary=rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table if not args.cold else "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
