"""Resolving --model: bundled names and exported ONNX files with their spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from srstream.engine.models import DEFAULT_MODEL, resolve_model
from srstream.errors import ModelError
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


def test_onnx_file_with_spec(tmp_path: Path) -> None:
    path = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    model = resolve_model(str(path))
    assert model.spec == nearest_x2_spec() and model.path == path and model.name == "n"


def test_onnx_without_spec_is_measured(tmp_path: Path) -> None:
    """A graph from elsewhere is taken, its spec measured (tests/engine/test_foreign.py); it was refused."""
    path = write_nearest_x2(tmp_path / "bare.onnx")
    spec = resolve_model(str(path)).spec
    assert spec.arch == "foreign" and spec.scale == 2 and spec.name == "bare"


def test_corrupt_and_missing_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        resolve_model(str(bad))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "missing.onnx"))


def test_unknown_name_lists_bundled_models() -> None:
    with pytest.raises(ModelError, match="unknown model 'no-such-model'.*--model PATH.onnx"):
        resolve_model("no-such-model")


def test_default_model_is_bundled_with_its_variants() -> None:
    from srstream.engine.models import available_precisions

    model = resolve_model(DEFAULT_MODEL)
    assert model.spec.scale == 2 and model.spec.metrics["set5_x2_psnr_y"] > 37.0
    assert available_precisions(model.path) == ("fp32", "int8") and "int8" in model.spec.precisions
    assert model.path.with_name("realtime-x2.safetensors").is_file()  # the torch backend's weights


def test_realtime_x4_is_bundled_with_its_variants() -> None:
    from srstream.engine.models import available_precisions

    model = resolve_model("realtime-x4")
    assert model.spec.scale == 4 and model.spec.metrics["set5_x4_psnr_y"] > 30.7
    assert available_precisions(model.path) == ("fp32", "int8")
    assert model.path.with_name("realtime-x4.safetensors").is_file()
