#!/usr/bin/env bash
# Everything only a GPU can show, in one command for a lent NVIDIA machine (H100/H200, under
# 8 minutes): builds the package with its CUDA kernels, runs the CUDA kernel tests and the
# CUDA cases of the archs and trainer tests (carry onnxslim's wheel beside PyAV's), checks the
# torch CUDA fp16 backend (parity with CPU fp32, tiled == whole frame), times realtime-x2 from
# 1080p to 4K (plain, channels-last, channels-last + CUDA graphs), runs the TensorRT tests
# when tensorrt is importable, and times training on CUDA per precision, layout and data
# workers. Writes OUTDIR/gpu_check.json and OUTDIR/gpu_check.log.
# Elsewhere every GPU part skips and says why.
#
#   bash benchmarks/gpu_check.sh OUTDIR [--peers DIR] [--seconds S]   (PYTHON=... picks the interpreter)
set -uo pipefail
out="${1:?usage: bash benchmarks/gpu_check.sh OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
{
  echo "== build: the package with its native kernels (CUDA ones where nvcc is found)"
  start=$(date +%s)
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$py" -m pip install --no-build-isolation --no-deps -q -e . \
    && echo "build ok in $(( $(date +%s) - start )) s" || echo "build FAILED after $(( $(date +%s) - start )) s"
  echo "== checks"
  PYTHONUNBUFFERED=1 "$py" benchmarks/gpu_check.py --out "$out" "${@:2}"
} 2>&1 | tee "$out/gpu_check.log"
