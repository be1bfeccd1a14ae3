"""TensorRT engine cache and builder. Cache logic runs everywhere; building needs tensorrt + a GPU."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from srstream.archs import generator_spec
from srstream.errors import ConfigError, DependencyError
from srstream.export import trt_build
from srstream.export.trt_build import EngineKey, ShapeProfile, find_engine
from srstream.sysinfo import gpus

SPEC = generator_spec("tiny", "compact", 2, params={"features": 8, "convs": 2})
KEY = EngineKey("ab" * 32, "1x3x128x128_4x3x128x128_4x3x128x128", "fp16", "10.13.0", "NVIDIA H100 80GB HBM3", "9.0")


def test_profile_for_static_tiles() -> None:
    p = ShapeProfile.for_tiles(SPEC, 96, batch=8)
    assert p.min == (1, 3, 96, 96) and p.opt == p.max == (8, 3, 96, 96)
    with pytest.raises(ConfigError):
        ShapeProfile((1, 3, 64, 64), (1, 3, 32, 32), (1, 3, 64, 64))


def test_every_key_field_changes_the_digest() -> None:
    digests = {KEY.digest}
    for name, value in [("onnx_sha256", "cd" * 32), ("profile", "x"), ("precision", "fp32"), ("tensorrt", "10.14.0"),
                        ("gpu", "NVIDIA L4"), ("compute_capability", "8.9")]:
        digests.add(dataclasses.replace(KEY, **{name: value}).digest)
    assert len(digests) == 7


def _write_entry(cache: Path, key: EngineKey, blob: bytes) -> Path:
    engine, record = trt_build._entry_paths(cache, SPEC, key)
    cache.mkdir(parents=True, exist_ok=True)
    engine.write_bytes(blob)
    record.write_text(json.dumps({"key": dataclasses.asdict(key), "spec": SPEC.to_dict(), "size": len(blob),
                                  "sha256": hashlib.sha256(blob).hexdigest()}))
    return engine


def test_cache_finds_only_intact_entries_for_the_same_key(tmp_path: Path) -> None:
    engine = _write_entry(tmp_path, KEY, b"engine-bytes")
    hit = find_engine(tmp_path, SPEC, KEY)
    assert hit is not None and hit.path == engine and not hit.built and hit.spec == SPEC
    assert find_engine(tmp_path, SPEC, dataclasses.replace(KEY, gpu="NVIDIA L4")) is None  # foreign GPU
    assert find_engine(tmp_path, SPEC, dataclasses.replace(KEY, tensorrt="11.0.0")) is None  # other TensorRT
    engine.write_bytes(b"engine-bytes-truncated-or-edited")
    assert find_engine(tmp_path, SPEC, KEY) is None  # damaged: rebuilt, never loaded


def test_missing_tensorrt_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(DependencyError, match=r"pip install 'sr-stream\[gpu\]'"):
        trt_build.build_engine(b"", SPEC)


HAVE_TRT = importlib.util.find_spec("tensorrt") is not None
HAVE_GPU = bool(gpus())


@pytest.mark.gpu
@pytest.mark.skipif(not (HAVE_TRT and HAVE_GPU), reason="needs the tensorrt package and an NVIDIA GPU")
def test_build_then_reuse_an_fp16_engine(tmp_path: Path) -> None:
    import tensorrt as trt

    from srstream.archs import build_generator
    from srstream.export.fp16 import to_fp16
    from srstream.export.to_onnx import export_onnx

    module = build_generator(SPEC).eval()
    half = to_fp16(export_onnx(module, SPEC).model).SerializeToString()
    profile = ShapeProfile.for_tiles(SPEC, 64, batch=2)
    first = trt_build.build_engine(half, SPEC, profile=profile, cache=tmp_path)
    again = trt_build.build_engine(half, SPEC, profile=profile, cache=tmp_path)
    assert first.built and not again.built and again.path == first.path
    assert list(tmp_path.glob("timing-*.cache"))
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(first.path.read_bytes())
    assert engine is not None and engine.get_tensor_shape(SPEC.input_name)[-1] == 64
