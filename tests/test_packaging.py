"""The installed distribution puts everything under the srstream namespace."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import REPO

SUBPACKAGES = {"archs": "archs", "trainer": "trainer", "export": "export", "engine": "engine"}


def test_no_bare_top_level_packages_are_installed() -> None:
    files = metadata.files("sr-stream") or []
    tops = {f.parts[0] for f in files if len(f.parts) > 1 and not f.parts[0].endswith(".dist-info")}
    assert not tops & {"engine", "trainer", "export", "archs"}, sorted(tops)
    for name in ("engine", "trainer", "export"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        assert "sr-stream" not in str(getattr(module, "__file__", "")), f"bare '{name}' is importable"


@pytest.mark.parametrize(("sub", "folder"), SUBPACKAGES.items())
def test_top_level_folders_install_under_srstream(sub: str, folder: str) -> None:
    module = importlib.import_module(f"srstream.{sub}")
    source = (REPO / folder / "__init__.py").read_text()
    assert module.__doc__ and module.__doc__.strip() in source


def test_console_script_is_declared() -> None:
    scripts = [e for e in metadata.entry_points(group="console_scripts") if e.name == "sr-stream"]
    assert [e.value for e in scripts] == ["srstream.cli:main"]


@pytest.mark.slow
def test_built_wheel_has_only_the_srstream_namespace(tmp_path: Path) -> None:
    """Build the real wheel (no isolation: scikit-build-core comes with [dev]) and read it."""
    pytest.importorskip("scikit_build_core", reason="needs scikit-build-core (pip install 'sr-stream[dev]')")
    if shutil.which("cmake") is None and importlib.util.find_spec("cmake") is None:
        pytest.skip("no cmake to drive scikit-build-core")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), "--config-settings=build-dir=" + str(tmp_path / "build")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("sr_stream-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"srstream"}
    for module in ("srstream/engine/media.py", "srstream/trainer/__init__.py", "srstream/export/__init__.py",
                   "srstream/archs/__init__.py", "srstream/tiling.py", "srstream/cli.py",
                   "srstream/export/parity_images/frame030_61x47.png", "srstream/trainer/recipes/realtime_x2.yaml",
                   "srstream/engine/checks/street.png", "srstream/engine/checks/game.png", "srstream/engine/autotune.py",
                   "srstream/engine/backends/ov_backend.py"):
        assert module in names
    from srstream.engine.models import BUNDLED_MODELS

    for model in BUNDLED_MODELS.values():  # package data: every bundled model with its torch weights
        assert f"srstream/engine/models/{model}" in names
        assert f"srstream/engine/models/{model.removesuffix('.onnx')}.safetensors" in names
    shipped = [p for p in (REPO / "engine" / "models").iterdir() if p.suffix in (".onnx", ".safetensors")]
    for path in shipped:  # ... and every variant beside them (INT8 graphs)
        assert f"srstream/engine/models/{path.name}" in names
    assert sum(p.stat().st_size for p in shipped) < 30_000_000  # the budget for the model set
    assert "srstream/bench/opencv_sr.py" in names
    assert not any(n.startswith(("srstream/tests", "tests/", "samples/")) for n in names)
    assert "sr-stream = srstream.cli:main" in entry_points
    natives = [n for n in names if n.startswith("srstream/engine/_native")]
    assert any(n.startswith("srstream/engine/_native.") and n.endswith(".so") for n in natives), names
    from srstream.sysinfo import gpus

    cuda_built = any(n.startswith("srstream/engine/_native_cuda.") for n in natives)
    if shutil.which("nvcc") and gpus():  # a toolkit and a GPU: its kernels are built too
        assert cuda_built, natives
    if not gpus():  # no GPU to run them: minutes of CUDA compilation are skipped (SRSTREAM_CUDA=AUTO)
        assert not cuda_built, natives
    with zipfile.ZipFile(wheel) as zf:
        for name in natives:  # runtime-only kernels: no libtorch, no libc10
            data = zf.read(name)
            assert b"libtorch" not in data and b"libc10" not in data, name


def test_build_without_a_compiler_says_what_to_do(tmp_path: Path) -> None:
    """CMake configure with a missing C++ compiler fails with install instructions."""
    if shutil.which("cmake") is None:
        pytest.skip("no cmake")
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler")}
    proc = subprocess.run(["cmake", "-S", str(REPO), "-B", str(tmp_path / "b"), f"-DPython_EXECUTABLE={sys.executable}"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode != 0
    assert "no C++ compiler found" in proc.stderr and "SRSTREAM_NATIVE=OFF" in proc.stderr
