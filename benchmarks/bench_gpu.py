"""minicnn on an NVIDIA GPU (the cupy backend) side by side with PyTorch CUDA eager.

    PYTHONPATH=. python benchmarks/bench_gpu.py [--quick] [--out FILE] [--fake]
                                                [--rounds 5] [--seconds 1.0]

Cases (float32, the data already on the GPU, as a training loop keeps it):

    lenet-train-256 / -1024  a LeNet-5 training step (forward, cross-entropy, backward,
                             SGD with momentum): mc.zoo.lenet5() vs the same torch network
    vgg-conv                 one VGG-style convolution, 64 -> 64 channels, 3x3, padding 1,
                             32x32, batch 128: forward and backward (input, weight, bias)
    vgg16-forward            VGG-16 inference (mc.zoo.vgg16()), 224x224, batch 16

Sustained throughput: each measurement warms up (kernel builds, cuDNN's and CuPy's
caches), then runs steps for at least ``--seconds`` with the GPU synchronised at both ends
(``cupy.cuda.Device().synchronize()`` / ``torch.cuda.synchronize()``; and every ~0.1 s in
between, so the host never runs far ahead). minicnn and PyTorch alternate for ``--rounds``
rounds; the table gives each one's median images/s with the min and max over the rounds,
and the ratio of the medians minicnn / PyTorch against the targets (LeNet training
>= 0.5x, the conv layer >= 0.3x). TF32 is switched off in PyTorch (cuDNN and matmul), as
CuPy leaves it off: both compute in full float32.

``--quick``: small shapes, short rounds (a smoke run, not a measurement).
``--fake``: the NumPy-backed fake CuPy of tests/fakegpu.py and PyTorch on the CPU, for a
machine without a GPU; implies nothing about speed (the table says "fake: not a
measurement").
``--out FILE``: FILE's stem .json (every number) and .md (the table) are written.
"""
import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import minicnn as mc  # noqa: E402  (first: it sets OpenBLAS's and Numba's thread settings)
import numpy as np  # noqa: E402

TARGETS = {"lenet-train": 0.5, "vgg-conv": 0.3}


def cases(quick):
    """(name, kind, settings) of each case; --quick shrinks the shapes."""
    if quick:
        return [("lenet-train-32", "lenet-train", dict(batch=32)),
                ("lenet-train-64", "lenet-train", dict(batch=64)),
                ("vgg-conv", "vgg-conv", dict(batch=4, size=16, channels=64)),
                ("vgg16-forward", "vgg16-forward", dict(batch=1, size=32, width=0.125))]
    return [("lenet-train-256", "lenet-train", dict(batch=256)),
            ("lenet-train-1024", "lenet-train", dict(batch=1024)),
            ("vgg-conv", "vgg-conv", dict(batch=128, size=32, channels=64)),
            ("vgg16-forward", "vgg16-forward", dict(batch=16, size=224, width=1.0))]


# ----------------------------------------------------------------------------- timing
def sustained(step, sync, seconds, warmup=3):
    """Steps per second of ``step`` run back to back for >= ``seconds``, after ``warmup``
    steps; ``sync`` waits for the device (at the ends and every ~0.1 s)."""
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    step()
    sync()
    estimate = max(time.perf_counter() - t0, 1e-6)
    chunk = max(1, int(0.1 / estimate))
    count = 0
    start = time.perf_counter()
    while True:
        for _ in range(chunk):
            step()
        count += chunk
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


# ----------------------------------------------------------------------------- minicnn
def minicnn_case(kind, settings, cupy):
    """(step function, images per step) for minicnn on the GPU (the cupy backend)."""
    import minicnn.functional as F
    rng = np.random.default_rng(0)
    batch = settings["batch"]
    mc.manual_seed(0)
    if kind == "lenet-train":
        model = mc.zoo.lenet5(dtype="float32")
        assert model.device.startswith("cuda"), model.device
        opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = mc.Tensor(rng.standard_normal((batch, 1, 32, 32), dtype=np.float32), device="cuda")
        y = mc.device.to_device(rng.integers(0, 10, batch), "cuda")

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        return step
    if kind == "vgg-conv":
        c, s = settings["channels"], settings["size"]
        x = mc.Tensor(rng.standard_normal((batch, c, s, s), dtype=np.float32), device="cuda",
                      requires_grad=True)
        w = mc.Tensor(rng.standard_normal((c, c, 3, 3), dtype=np.float32) * 0.05,
                      device="cuda", requires_grad=True)
        b = mc.Tensor(np.zeros(c, np.float32), device="cuda", requires_grad=True)
        g = mc.device.to_device(rng.standard_normal((batch, c, s, s), dtype=np.float32), "cuda")

        def step():
            x.grad = w.grad = b.grad = None
            F.conv2d(x, w, b, padding=1).backward(g)
        return step
    s = settings["size"]
    model = mc.zoo.vgg16(input_shape=(3, s, s), width=settings["width"], dtype="float32")
    model.eval()
    assert model.device.startswith("cuda"), model.device
    x = mc.Tensor(rng.standard_normal((batch, 3, s, s), dtype=np.float32), device="cuda")

    def step():
        with mc.no_grad():
            model(x)
    return step


# ----------------------------------------------------------------------------- PyTorch
def torch_vgg16(width, torch):
    from minicnn.zoo.vgg import CONFIGS
    nn = torch.nn
    w = (lambda n: max(1, int(round(n * width))))
    layers, cin = [], 3
    for item in CONFIGS[16]:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers += [nn.Conv2d(cin, w(item), 3, padding=1), nn.ReLU()]
        cin = w(item)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
                         nn.Linear(cin * 49, w(4096)), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(w(4096), w(4096)), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(w(4096), 1000))


def torch_case(kind, settings, torch, dev):
    """(step function) for the same case in PyTorch eager on ``dev``."""
    nn, tf = torch.nn, torch.nn.functional
    torch.manual_seed(0)
    batch = settings["batch"]
    if kind == "lenet-train":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10)).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(batch, 1, 32, 32, device=dev)
        y = torch.randint(0, 10, (batch,), device=dev)

        def step():
            opt.zero_grad()
            tf.cross_entropy(model(x), y).backward()
            opt.step()
        return step
    if kind == "vgg-conv":
        c, s = settings["channels"], settings["size"]
        x = torch.randn(batch, c, s, s, device=dev, requires_grad=True)
        w = (torch.randn(c, c, 3, 3, device=dev) * 0.05).requires_grad_()
        b = torch.zeros(c, device=dev, requires_grad=True)
        g = torch.randn(batch, c, s, s, device=dev)

        def step():
            x.grad = w.grad = b.grad = None
            tf.conv2d(x, w, b, padding=1).backward(g)
        return step
    s = settings["size"]
    model = torch_vgg16(settings["width"], torch).to(dev).eval()
    x = torch.randn(batch, 3, s, s, device=dev)

    def step():
        with torch.no_grad():
            model(x)
    return step


# ----------------------------------------------------------------------------- the run
@contextlib.contextmanager
def gpu_module(fake):
    """The cupy module: the fake of tests/fakegpu.py, or the real one (which must see a
    GPU); minicnn's backend is "cupy" inside."""
    if fake:
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        import fakegpu
        with fakegpu.fake_cupy() as cupy, mc.use_backend("cupy"):
            yield cupy
        return
    reason = mc.backend.cupy_unavailable_reason()
    if reason:
        raise SystemExit(f"bench_gpu: no GPU to measure: {reason}\n"
                         f"(--fake runs the benchmark on the fake CuPy, as a smoke test)")
    import cupy
    with mc.use_backend("cupy"):
        yield cupy


def summary(rates):
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "rounds": rates}


def run(args, report):
    """Measure every case into ``report["results"]``, calling ``args.on_row`` after each
    (so a run cut short by a timeout still leaves its finished rows on disk)."""
    import torch
    fake = args.fake
    dev = "cuda" if (not fake and torch.cuda.is_available()) else "cpu"
    if dev == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    with_torch = fake or dev == "cuda"
    torch_sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    seconds = args.seconds if args.seconds is not None else (0.05 if args.quick else 1.0)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 5)
    results = report["results"]
    with gpu_module(fake) as cupy:
        mc_sync = cupy.cuda.Device().synchronize
        info = report["environment"] = environment(cupy, torch, dev, fake, seconds, rounds)
        print(" | ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
        for name, kind, settings in cases(args.quick):
            if args.case and not any(c in name for c in args.case):
                continue
            mc_step = minicnn_case(kind, settings, cupy)
            t_step = torch_case(kind, settings, torch, dev) if with_torch else None
            mc_rates, t_rates = [], []
            for _ in range(rounds):              # alternate, so drifts hit both alike
                mc_rates.append(settings["batch"] * sustained(mc_step, mc_sync, seconds))
                if t_step is not None:
                    t_rates.append(settings["batch"] * sustained(t_step, torch_sync, seconds))
            row = {"case": name, "settings": settings, "unit": "images/s",
                   "minicnn": summary(mc_rates),
                   "torch": summary(t_rates) if t_rates else None}
            ratio = row["minicnn"]["median"] / row["torch"]["median"] if t_rates else None
            target = TARGETS.get(kind)
            row.update(ratio=ratio, target=target,
                       met=None if fake or ratio is None or target is None else ratio >= target)
            results.append(row)
            print(format_row(row, fake), flush=True)
            args.on_row(report)
            del mc_step, t_step
            cupy.get_default_memory_pool().free_all_blocks()
            if dev == "cuda":
                torch.cuda.empty_cache()
    return report


def environment(cupy, torch, dev, fake, seconds, rounds):
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "cupy": getattr(cupy, "__version__", "?") + (" (fake)" if fake else ""),
            "torch": torch.__version__, "torch device": dev,
            "seconds per measurement": seconds, "rounds": rounds}
    if not fake:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        info["cuda runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    if dev == "cuda":
        info["torch gpu"] = torch.cuda.get_device_name()
        info["tf32"] = "off (both)"
    return info


def verdict(row, fake):
    if fake:
        return "fake: not a measurement"
    if row["ratio"] is None:
        return "no PyTorch CUDA to compare"
    if row["target"] is None:
        return "(no target)"
    return f"{'met' if row['met'] else 'NOT met'} (target >= {row['target']}x)"


def rate(s):
    return f"{s['median']:,.0f} ({s['min']:,.0f}-{s['max']:,.0f})" if s else "n/a"


def format_row(row, fake):
    ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "n/a"
    return (f"{row['case']:<18} minicnn {rate(row['minicnn'])} | torch {rate(row['torch'])} "
            f"images/s | {ratio} {verdict(row, fake)}")


def markdown(report, fake):
    lines = ["| case | shapes | minicnn images/s, median (min-max) | PyTorch images/s | "
             "minicnn / PyTorch | target |", "|---|---|---|---|---|---|"]
    for row in report["results"]:
        shapes = ", ".join(f"{k} {v}" for k, v in row["settings"].items())
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "n/a"
        lines.append(f"| {row['case']} | {shapes} | {rate(row['minicnn'])} | "
                     f"{rate(row['torch'])} | {ratio} | {verdict(row, fake)} |")
    env = "; ".join(f"{k}: {v}" for k, v in report["environment"].items())
    note = ("\n**fake: not a measurement** (the fake CuPy runs NumPy and the CUDA source on "
            "the CPU; PyTorch ran on the CPU).\n" if fake else "")
    return "\n".join(lines) + f"\n\n{env}\n{note}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, short rounds")
    parser.add_argument("--fake", action="store_true",
                        help="the fake CuPy (tests/fakegpu.py) and PyTorch on the CPU")
    parser.add_argument("--out", help="write FILE's stem .json and .md")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 5; 2 quick)")
    parser.add_argument("--seconds", type=float,
                        help="seconds per measurement (default 1; 0.05 quick)")
    parser.add_argument("--case", nargs="+", help="only the cases whose names contain these")
    args = parser.parse_args(argv)
    report = {"quick": args.quick, "fake": args.fake, "environment": {}, "results": []}

    def write(report):
        if not args.out:
            return
        stem = os.path.splitext(args.out)[0]
        os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
        with open(stem + ".json", "w") as f:
            json.dump(report, f, indent=1, default=str)
        with open(stem + ".md", "w") as f:
            f.write("# minicnn on the GPU vs PyTorch CUDA eager\n\n" + markdown(report, args.fake))
    args.on_row = write
    run(args, report)
    print("\n" + markdown(report, args.fake))
    if args.out:
        stem = os.path.splitext(args.out)[0]
        print(f"wrote {stem}.json and {stem}.md")
    missed = [r["case"] for r in report["results"] if r["met"] is False]
    if missed:
        print(f"targets not met: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
