"""Where a minicnn step's time goes: milliseconds per step in each Numba kernel.

    python benchmarks/profile_ops.py [CASE] [--steps 10]

CASE is one of throughput.py's minicnn cases (default ``resnet20-train-b64``); the step
is the one throughput.py times, built by its ``make_step``. Every ``forward`` and
``backward`` of the classes in ``minicnn.kernels.ops.NUMBA_KERNELS`` is wrapped with a
timer; each row is one (kernel, method, input shape) with its calls per step. The last
line compares the kernels' sum with the whole step: the rest is the autograd engine,
the optimizer and the Python between kernels. A guide to what to speed up next, not a
benchmark: the wrappers add a little time and nothing is alternated with PyTorch.
"""
import argparse
import collections
import time

import throughput


def instrument():
    """Wrap the Numba kernel classes' forward/backward; returns the (times, calls) dicts
    they fill, keyed by (class name, method, input shape or None)."""
    from minicnn.kernels import ops
    times, calls = collections.defaultdict(float), collections.Counter()

    def wrap(cls, method):
        inner = getattr(cls, method)

        def timed(self, *args, **kwargs):
            start = time.perf_counter()
            out = inner(self, *args, **kwargs)
            key = (cls.__name__, method, getattr(self, "x_shape", None))
            times[key] += time.perf_counter() - start
            calls[key] += 1
            return out
        setattr(cls, method, timed)

    for cls in set(ops.NUMBA_KERNELS.values()):
        for method in ("forward", "backward"):
            if method in cls.__dict__:
                wrap(cls, method)
    return times, calls


def main():
    cases = [c for c, (_, _, fw) in throughput.CASES.items() if "minicnn" in fw]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default="resnet20-train-b64", choices=cases)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    import minicnn as mc
    mc.set_backend("numba")        # the kernels profiled, whatever MINICNN_BACKEND says
    times, calls = instrument()
    step = throughput.make_step("minicnn", args.case)
    for _ in range(3):                                     # compile and warm the caches
        step()
    times.clear()
    calls.clear()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    total = (time.perf_counter() - start) / args.steps * 1e3
    print(f"{args.case}: ms per step in each kernel ({args.steps} steps)")
    for key, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        name, method, shape = key
        print(f"{seconds / args.steps * 1e3:9.2f} ms {calls[key] // args.steps:4d}x  "
              f"{name}.{method} {shape if shape is not None else ''}")
    kernels = sum(times.values()) / args.steps * 1e3
    print(f"kernels {kernels:.2f} ms of a {total:.2f} ms step "
          f"({total - kernels:.2f} ms outside them)")


if __name__ == "__main__":
    main()
