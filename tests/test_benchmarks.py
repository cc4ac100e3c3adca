"""The user-view benchmark runs (its numbers are not checked here: timings belong in
benchmarks/, never in pass/fail tests). Each case starts its own fresh process with the
tuning variables stripped, as the benchmark does."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_throughput_benchmark_runs_each_framework_in_its_own_process(tmp_path):
    out = tmp_path / "throughput.json"
    cases = ["lenet-train-1x32-b32", "lenet-train-1x32-b128-numpy", "resnet20-train-b64"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MINICNN_BACKEND="numpy")   # stripped
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "throughput.py"), "--rounds", "2",
         "--seconds", "0.01", "--warmup", "0", "--cases", *cases, "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert len(runs) == 2 * 2 * len(cases)                 # rounds x frameworks x cases
    first = [r["framework"] for r in runs if r["round"] == 0 and r["case"] == cases[0]]
    second = [r["framework"] for r in runs if r["round"] == 1 and r["case"] == cases[0]]
    assert first == second[::-1] == ["minicnn", "pytorch"]        # rounds alternate
    assert {r["framework"] for r in runs if r["case"] == cases[1]} == {"minicnn-numpy",
                                                                       "pytorch"}
    cores = len(os.sched_getaffinity(0))
    for r in runs:
        assert r["steps"] >= 3 and r["images_per_s"] > 0
        assert 0 < r["step_min_ms"] <= r["step_median_ms"] <= r["step_p90_ms"]
        expected = {"minicnn": "minicnn numba", "minicnn-numpy": "minicnn numpy",
                    "pytorch": "torch"}[r["framework"]]
        assert r["backend"].startswith(expected), r       # MINICNN_BACKEND was stripped
        if r["framework"] == "minicnn":                   # and OMP_NUM_THREADS: defaults
            assert r["backend"].endswith(f", {cores} threads"), r
    assert [row["case"] for row in result["summary"]] == cases
    assert "| case | minicnn img/s | PyTorch img/s | ratio (min-max) |" in done.stdout


def test_profile_ops_accounts_a_step_to_its_kernels():
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "profile_ops.py"),
         "lenet-train-1x32-b32", "--steps", "2"], capture_output=True, text=True,
        timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any("Conv2dNumba.backward (32, 1, 32, 32)" in line for line in lines), done.stdout
    assert any("LinearNumba.forward" in line for line in lines), done.stdout
    assert lines[-1].startswith("kernels ") and " ms step " in lines[-1], done.stdout
