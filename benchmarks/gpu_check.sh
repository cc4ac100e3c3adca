#!/usr/bin/env bash
# The one prepared check for a machine with an NVIDIA GPU (no installs, nothing downloaded):
#
#     bash benchmarks/gpu_check.sh            # from anywhere; it runs in the repository root
#
# 1. nvidia-smi; the python, numpy, cupy, torch versions; whether minicnn can use the GPU
# 2. python -m pytest -m gpu tests/test_gpu.py          (the "cuda" param of the GPU suite)
# 3. python -m pytest tests/test_cuda_kernels.py tests/test_cupy_ops.py   (those present)
# 4. python benchmarks/bench_gpu.py --out ...           (minicnn vs PyTorch CUDA eager)
#
# Everything it prints also goes to one log: $OUT/gpu-results.md when $OUT is set, else
# benchmarks/gpu-results.md (LOG=... overrides); the benchmark's own table and numbers go
# beside it, as gpu-bench.md and gpu-bench.json. Each stage has a timeout; the whole run
# stays under 8 minutes (20 + 40 + 170 + 80 + 150 s at most). PYTHON=... picks the
# interpreter (default: python, else python3).
#
# Exit status: 0 when every stage passed; 1 when a test stage failed (or timed out);
# 2 when no GPU is usable: the GPU stages are skipped (the log says why) and only the
# benchmark's smoke run on the fake CuPy (--quick --fake) runs; 3 when only the benchmark
# failed.
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
if [ -n "${OUT:-}" ]; then DIR=$OUT; else DIR=benchmarks; fi
LOG=${LOG:-$DIR/gpu-results.md}
BENCH=$(dirname "$LOG")/gpu-bench.json
mkdir -p "$(dirname "$LOG")"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1

status=0
stage() { echo; echo "## $*"; echo; }
run() {     # run SECONDS command...: the command under a timeout; says how it ended
    local limit=$1; shift
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@"
    local rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "!! TIMED OUT after ${limit}s: $*"
    fi
    echo "-- exit $rc after $((SECONDS - start))s: $*"
    return "$rc"
}

echo "# minicnn GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit" \
     "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo '```'
stage "1. machine"
if command -v nvidia-smi > /dev/null; then
    run 20 nvidia-smi
else
    echo "nvidia-smi: not found (no NVIDIA driver on this machine)"
fi
run 40 "$PYTHON" - <<'EOF'
import platform
import numpy
print("python", platform.python_version(), "| numpy", numpy.__version__)
for name in ("cupy", "torch", "numba", "pytest", "hypothesis"):
    try:
        module = __import__(name)
        extra = ""
        if name == "torch":
            extra = f" (cuda {module.version.cuda}, available: {module.cuda.is_available()})"
        print(f"{name} {module.__version__}{extra}")
    except Exception as e:                         # missing, or a broken install
        print(f"{name}: cannot be imported ({type(e).__name__}: {e})")
from minicnn.backend import cupy_unavailable_reason
reason = cupy_unavailable_reason()
print("minicnn can use the GPU" if reason is None else f"minicnn cannot use a GPU: {reason}")
EOF
gpu_ok=$("$PYTHON" -c "from minicnn.backend import cupy_unavailable_reason as r; \
print('yes' if r() is None else 'no')" 2>/dev/null)

if [ "$gpu_ok" != "yes" ]; then
    echo
    echo "!! NO GPU: CuPy cannot use an NVIDIA GPU here (see above). The GPU stages 2-4"
    echo "!! are skipped; the benchmark runs once on the fake CuPy as a smoke test."
    stage "4. benchmark smoke run on the fake CuPy (not a measurement)"
    run 180 "$PYTHON" benchmarks/bench_gpu.py --quick --fake --out "$BENCH" || status=3
    echo '```'
    echo "NO GPU: GPU stages skipped (exit 2); fake benchmark smoke exit $status"
    exit 2
fi

stage "2. the GPU suite: pytest -m gpu tests/test_gpu.py"
run 170 "$PYTHON" -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider -rs || status=1

kernel_tests=()
for f in tests/test_cuda_kernels.py tests/test_cupy_ops.py; do
    [ -f "$f" ] && kernel_tests+=("$f")
done
stage "3. kernel tests: ${kernel_tests[*]:-(none present)}"
# The compile checks (nvcc for sm_80/sm_90, NVRTC with CuPy's options) need no GPU and run
# in CI; here CuPy itself compiles every kernel in stage 2, so only the host-built kernel
# checks and the launchers on the fake CuPy run (whatever compilers this machine has).
echo "(the nvcc and NVRTC build checks run in CI, which needs no GPU; here stage 2 has" \
     "CuPy compile every kernel for this GPU)"
select=(-k "not compiles_with")
if [ "${#kernel_tests[@]}" -gt 0 ]; then
    run 80 "$PYTHON" -m pytest -q -p no:cacheprovider -rs ${select[@]+"${select[@]}"} \
        "${kernel_tests[@]}" || status=1
fi

stage "4. benchmark: minicnn vs PyTorch CUDA eager"
run 150 "$PYTHON" benchmarks/bench_gpu.py --out "$BENCH" || { [ "$status" -eq 0 ] && status=3; }
echo '```'
echo
[ -f "${BENCH%.json}.md" ] && cat "${BENCH%.json}.md"
echo
echo "GPU check finished in ${SECONDS}s: exit $status" \
     "(0 passed, 1 tests failed, 3 benchmark failed)"
exit "$status"
