"""Run every benchmark, each in a fresh process with the same thread count for PyTorch,
Numba and BLAS, write the results as JSON and print them as the Markdown tables of
benchmarks/README.md.

    python benchmarks/run_all.py --threads 2 [--min-time 1.0] [--json benchmarks/results.json]

Absolute numbers on a shared machine are noise; the ratios to PyTorch, measured in the
same process a few seconds apart, are the figures to read. Re-run when a row looks
disturbed (another job on the machine shows up as one framework's sudden slowdown).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(script, threads, extra=()):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads),
               PYTHONPATH=os.path.dirname(HERE))
    subprocess.run([sys.executable, os.path.join(HERE, script), "--threads", str(threads),
                    "--json", path, *extra], env=env, check=True)
    with open(path) as f:
        result = json.load(f)
    os.unlink(path)
    return result


def markdown(results):
    lines = ["LeNet-5 (float32, SGD momentum), images per second; ratio = minicnn / PyTorch:", "",
             "| input | batch | PyTorch train | numpy train | numba train | numpy ratio | numba ratio "
             "| PyTorch infer | numpy infer | numba infer | numpy ratio | numba ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    table = {}
    for r in results["lenet"]["results"]:
        table.setdefault((r["channels"], r["batch"]), {})[r["framework"]] = r
    for (channels, batch), row in table.items():
        t, np_, nb = row["pytorch"], row.get("minicnn-numpy"), row.get("minicnn-numba")
        cells = [f"{channels}x32x32", str(batch)]
        for key in ("train", "infer"):
            cells += [f"{t[key + '_images_per_s']:.0f}"]
            cells += [f"{r[key + '_images_per_s']:.0f}" if r else "-" for r in (np_, nb)]
            cells += [f"{r[key + '_ratio']:.2f}x" if r else "-" for r in (np_, nb)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Per layer, milliseconds (forward / backward); ratio = PyTorch time / minicnn "
              "time for forward + backward:", "",
              "| layer | PyTorch | numpy | numba | numpy ratio | numba ratio |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    layers = {}
    for r in results["layers"]["results"]:
        layers.setdefault(r["layer"], {})[r["framework"]] = r
    for name, row in layers.items():
        cell = lambda r: f"{r['forward_ms']:.2f} / {r['backward_ms']:.2f}" if r else "-"
        np_, nb = row.get("minicnn-numpy"), row.get("minicnn-numba")
        lines.append(f"| {name} | {cell(row['pytorch'])} | {cell(np_)} | {cell(nb)} | "
                     + " | ".join(f"{r['total_ratio']:.2f}x" if r else "-" for r in (np_, nb))
                     + " |")
    lines += ["", "Peak memory of a LeNet training run (batch 128, 20 steps), each in a fresh "
              "process; 'training' = peak minus the process after imports and setup:", "",
              "| framework | peak RSS MiB | ratio | training MiB | ratio |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for r in results["memory"]["memory"]:
        lines.append(f"| {r['framework']} | {r['peak_rss_mib']:.0f} | {r['peak_ratio']:.2f}x | "
                     f"{r['training_mib']:.1f} | {r['training_ratio']:.2f}x |")
    lines += ["", "Cold start, from `import` to the first finished LeNet training step "
              "(batch 128), fresh process:", "", "| case | seconds |", "| --- | ---: |"]
    for r in results["memory"]["cold_start"]:
        lines.append(f"| {r['case']} | {r['seconds']:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"))
    args = parser.parse_args()
    results = dict(machine=dict(cpu_count=os.cpu_count(), processor=platform.processor(),
                                python=platform.python_version()), threads=args.threads)
    results["lenet"] = run("bench_lenet.py", args.threads, ["--min-time", str(args.min_time)])
    results["layers"] = run("bench_layers.py", args.threads,
                            ["--min-time", str(args.min_time / 2)])
    results["memory"] = run("bench_memory.py", args.threads)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    print()
    print(markdown(results))


if __name__ == "__main__":
    main()
