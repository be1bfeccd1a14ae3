"""The first hour as a new user lives it: each case runs the real command in a subprocess and
checks the exit code and the words printed (issue "The first hour")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, write_video


def _run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "srstream", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})})


def test_a_command_named_like_a_source_folder_gets_no_note(tmp_path: Path) -> None:
    quiet = _run("export", "--help")  # from the repository root, beside the export/ package folder
    assert quiet.returncode == 0 and "note:" not in quiet.stderr
    (tmp_path / "info").write_bytes(b"a file a user may want to upscale")
    noted = _run("info", cwd=tmp_path)
    assert noted.returncode == 0 and "to upscale the file 'info' run `sr-stream ./info`" in noted.stderr


def test_train_list_needs_no_torch_and_the_install_hint_is_one_instruction(tmp_path: Path) -> None:
    trap = tmp_path / "trap" / "torch"
    trap.mkdir(parents=True)
    (trap / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")  # absent
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(trap.parent), os.environ.get("PYTHONPATH")]))}
    listed = _run("train", "--list", env=env)
    assert listed.returncode == 0 and "realtime_x2 " in listed.stdout and "tiny_x2 " in listed.stdout
    assert "The default real-time x2 model" in listed.stdout  # each recipe with its first comment line
    no_torch = _run("train", "tiny", "--data", str(tmp_path), "--out", str(tmp_path / "r"), env=env)
    assert no_torch.returncode == 7
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in no_torch.stderr
    assert "then pip install 'sr-stream[train]'" in no_torch.stderr


def test_training_says_what_it_does_from_the_start(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.trainer.conftest import write_images

    data = write_images(tmp_path / "hr", count=4)
    r = _run("train", "tiny", "--data", str(data), "--out", str(tmp_path / "run"), "--cache", str(tmp_path / "cache"),
             "--set", "phases.0.steps=3", "--set", "phases.1.steps=1", "--set", "precision=auto",
             "--set", "log_every=1")
    assert r.returncode == 0, r.stderr
    assert "decoding 4 training images" in r.stderr and "step 1 done in" in r.stderr
    assert r.stderr.count(" done in ") == 1, r.stderr  # once, not at every log line


def test_bf16_is_not_timed_where_the_cpu_would_emulate_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    import dataclasses

    from srstream import sysinfo
    from srstream.trainer import runtime

    info = sysinfo.cpu_info()
    without = dataclasses.replace(info, features={**info.features, "avx512_bf16": False, "amx_bf16": False})
    monkeypatch.setattr(sysinfo, "cpu_info", lambda *a: without)
    rt = runtime.Runtime.create("cpu", "auto", "contiguous")
    calls = []
    assert rt.pick(lambda: calls.append(1)) == {} and rt.precision == "fp32" and not calls
    rt = runtime.Runtime.create("cpu", "auto", "auto")  # the layout is still timed, in fp32 only
    timings = rt.pick(lambda: calls.append(1), repeats=1)
    assert set(timings) == {"fp32 contiguous", "fp32 channels_last"} and len(calls) == 4
    assert rt.precision == "fp32" and rt.memory_format in ("contiguous", "channels_last")


def test_bench_speed_and_scales_say_what_exists(tmp_path: Path) -> None:
    bicubic = _run("bench", "speed", "--model", "bicubic", "--input", "64x48", "--runs", "3", "--warmup", "1")
    assert bicubic.returncode == 0 and "bicubic 64x48 -> 128x96" in bicubic.stdout  # x2 unless told
    x3 = _run("bench", "speed", "--model", "realtime-x2", "--scale", "3", "--runs", "3")
    assert x3.returncode == 2 and "at x3: no bundled model; peers opencv-" in x3.stderr
    peers = _run("bench", "peers", "--peers", str(tmp_path))
    assert peers.returncode == 0 and "--peers DIR or `export SRSTREAM_PEERS=DIR`" in peers.stderr


def test_the_run_header_says_when_the_ensemble_runs(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "c.mp4", frames=2)
    r = _run(str(clip), "--ensemble", "--fast", "-o", str(tmp_path / "o.mp4"), cwd=tmp_path)
    assert r.returncode == 0 and "tiny-x2 x2 on" in r.stderr and ", x8 self-ensemble" in r.stderr, r.stderr
