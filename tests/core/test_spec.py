"""The model spec: validation, JSON and ONNX-metadata round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srstream.errors import SpecError
from srstream.spec import METADATA_KEY, SPEC_VERSION, ModelSpec


def make_spec(**overrides: object) -> ModelSpec:
    fields: dict[str, object] = dict(
        name="realtime-x2", arch="compact", scale=2, margin=6,
        arch_params={"features": 32, "convs": 6, "act": "prelu", "skip": "bilinear", "dims": [3, 5]},
        tile=128, tile_overlap=8, precisions=("fp32", "int8"),
        metrics={"set5_x2_psnr_y": 37.12}, source="recipe realtime-x2.yaml",
    )
    fields.update(overrides)
    return ModelSpec(**fields)  # type: ignore[arg-type]


def test_json_round_trip_is_exact_and_deterministic() -> None:
    spec = make_spec()
    text = spec.to_json()
    again = ModelSpec.from_json(text)
    assert again == spec and hash(again) == hash(spec)
    assert again.to_json() == text
    assert json.loads(text)["spec_version"] == SPEC_VERSION
    assert again.arch_params["dims"] == (3, 5)  # lists come back frozen


def test_spec_is_frozen_and_hashable() -> None:
    spec = make_spec()
    with pytest.raises(AttributeError):
        spec.scale = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.arch_params["features"] = 64  # type: ignore[index]
    assert len({spec, make_spec()}) == 1


def test_defaults() -> None:
    spec = ModelSpec(name="m", arch="srresnet", scale=4, margin=10)
    assert spec.tile_overlap == 10 and spec.color_space == "rgb" and spec.value_range == (0.0, 1.0)
    assert spec.precisions == ("fp32",) and dict(spec.metrics) == {}


@given(
    scale=st.integers(1, 8), margin=st.integers(0, 20), extra=st.integers(0, 10),
    y=st.booleans(), metric=st.floats(-1e6, 1e6, allow_nan=False),
    params=st.dictionaries(st.text(min_size=1, max_size=8),
                           st.one_of(st.integers(-1000, 1000), st.booleans(), st.text(max_size=8),
                                     st.floats(allow_nan=False, allow_infinity=False)), max_size=5),
)
def test_round_trip_property(scale: int, margin: int, extra: int, y: bool, metric: float,
                             params: dict) -> None:
    channels = 1 if y else 3
    overlap = margin + extra
    spec = ModelSpec(name="m", arch="a", scale=scale, margin=margin, tile_overlap=overlap,
                     tile=2 * overlap + 1, in_channels=channels, out_channels=channels,
                     color_space="y" if y else "rgb", arch_params=params, metrics={"psnr": metric})
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_metadata(spec.to_metadata()) == spec


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scale": 0}, "scale"),
        ({"scale": True}, "scale"),
        ({"scale": 2.0}, "scale"),
        ({"color_space": "bgr"}, "color_space"),
        ({"color_space": "y"}, "needs 1 input"),
        ({"tile_overlap": 3}, "below the receptive-field margin"),
        ({"tile": 100, "size_multiple": 8}, "multiple of size_multiple"),
        ({"tile": 16}, "larger than 2 x tile_overlap"),
        ({"precisions": ("fp8",)}, "precisions"),
        ({"precisions": "fp32"}, "precisions"),
        ({"precisions": ()}, "precisions"),
        ({"value_range": (1.0, 0.0)}, "low must be below high"),
        ({"metrics": {"psnr": float("nan")}}, "finite"),
        ({"arch_params": {"x": {"nested": 1}}}, "JSON scalar"),
        ({"arch_params": {"x": [[1]]}}, "nested lists"),
        ({"output_name": "input"}, "distinct"),
        ({"name": ""}, "empty"),
    ],
)
def test_invalid_specs_raise(overrides: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        make_spec(**overrides)


def test_from_dict_is_strict() -> None:
    good = make_spec().to_dict()
    with pytest.raises(SpecError, match="unknown keys"):
        ModelSpec.from_dict({**good, "colour": "rgb"})
    with pytest.raises(SpecError, match="spec_version"):
        ModelSpec.from_dict({**good, "spec_version": SPEC_VERSION + 1})
    missing = dict(good)
    del missing["scale"]
    with pytest.raises(SpecError, match="missing keys"):
        ModelSpec.from_dict(missing)
    with pytest.raises(SpecError, match="JSON object"):
        ModelSpec.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="not valid JSON"):
        ModelSpec.from_json("{nope")


def test_metadata_without_spec_says_how_to_fix() -> None:
    with pytest.raises(SpecError, match="sr-stream export"):
        ModelSpec.from_metadata({"producer": "x"}, where="peer.onnx")


def test_save_and_load(tmp_path: Path) -> None:
    spec = make_spec()
    spec.save(tmp_path / "m.json")
    assert ModelSpec.load(tmp_path / "m.json") == spec
    with pytest.raises(SpecError, match="cannot read"):
        ModelSpec.load(tmp_path / "missing.json")


def test_spec_survives_real_onnx_metadata(tmp_path: Path) -> None:
    """The spec fits ONNX metadata_props and ONNX Runtime reads it back unchanged."""
    onnx = pytest.importorskip("onnx", reason="needs onnx (pip install 'sr-stream[dev]')")
    import onnxruntime as ort
    from onnx import TensorProto, helper

    spec = make_spec()
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "h", "w"])],
    )
    # onnx may default to a newer IR version than onnxruntime reads; opset 17 needs IR 8.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, spec.to_metadata())
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert ModelSpec.from_metadata(meta.custom_metadata_map) == spec
    assert METADATA_KEY in meta.custom_metadata_map
