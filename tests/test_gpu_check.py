"""benchmarks/gpu_check.py, the GPU machine's one command, runs end to end anywhere: on a GPU
machine every step runs; here the GPU steps skip with their reason and none fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_gpu_check_runs_and_says_why_it_skips(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path),
                           "--seconds", "1"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert list(report) == ["environment", "cuda_kernel_tests", "gpu_marked_tests", "torch_fp16_parity",
                            "torch_fp16_tiled", "torch_speed_1080p", "model_speeds", "video_e2e", "tensorrt_tests",
                            "train_speed_cuda", "shader_speed"]
    assert report["environment"]["status"] == "ok" and "frame_kernels" in report["environment"]
    assert not [name for name, step in report.items() if step["status"] == "failed"], report
    for step in report.values():
        assert step["status"] == "ok" or step["why"]
