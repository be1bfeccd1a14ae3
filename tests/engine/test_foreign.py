"""ONNX graphs from elsewhere (no sr-stream spec): their spec measured by running them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from srstream.engine.models import read_onnx_spec
from srstream.errors import ModelError
from tests.onnx_models import write_conv_net

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _without_spec(path: Path) -> Path:
    """The graph at ``path`` as another project exports it: the same, without sr-stream's metadata."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    return path


def _graph(path: Path, nodes: list, inits: list | None = None, shape: tuple = ("n", 3, "h", "w")) -> Path:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits or [])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _scales(factor: float) -> list:
    return [helper.make_tensor("s", TensorProto.FLOAT, [4], [1.0, 1.0, factor, factor])]


def test_a_conv_net_without_spec_is_measured_as_its_own_spec_says(tmp_path: Path) -> None:
    """Its scale, range and margin found by running it, and the tiled frame equal to the whole one."""
    from srstream.engine.backends import backend_def
    from srstream.engine.upscaler import FrameUpscaler

    own = write_conv_net(tmp_path / "own.onnx", 3, convs=4, features=6)
    foreign = _without_spec(write_conv_net(tmp_path / "foreign.onnx", 3, convs=4, features=6))
    expected, spec = read_onnx_spec(own), read_onnx_spec(foreign)
    assert spec.arch == "foreign" and spec.scale == 3 and spec.value_range == (0.0, 1.0)
    assert expected.margin <= spec.margin <= expected.margin + 2 and spec.size_multiple == 1
    assert spec.tile_overlap >= spec.margin and "measured by sr-stream" in spec.source
    frame = np.random.default_rng(0).integers(0, 256, (70, 90, 3), np.uint8)
    whole = FrameUpscaler(backend_def("ort").open(spec, foreign, "fp32"), spec, 0).upscale(frame)
    tiled = FrameUpscaler(backend_def("ort").open(spec, foreign, "fp32"), spec, 32).upscale(frame)
    ours = FrameUpscaler(backend_def("ort").open(expected, own, "fp32"), expected, 0).upscale(frame)
    assert np.array_equal(whole, tiled) and np.array_equal(whole, ours)


def test_range_size_multiple_and_reach_are_measured(tmp_path: Path) -> None:
    """A graph that wants 0-255 (values under 2 are lost), one that takes multiples of 8 only, and one
    whose every output pixel depends on the whole picture (no tile size is exact: whole frames)."""
    two = [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])]
    bytes_in = _graph(tmp_path / "bytes.onnx", [helper.make_node("Max", ["x", "two"], ["m"]),
                                                 helper.make_node("Resize", ["m", "", "s"], ["y"], mode="nearest")],
                      _scales(2.0) + two)
    assert read_onnx_spec(bytes_in).value_range == (0.0, 255.0)
    blocks = _graph(tmp_path / "blocks.onnx", [helper.make_node("SpaceToDepth", ["x"], ["d"], blocksize=8),
                                               helper.make_node("DepthToSpace", ["d"], ["u"], blocksize=8),
                                               helper.make_node("Resize", ["u", "", "s"], ["y"], mode="nearest")],
                    _scales(4.0))
    spec = read_onnx_spec(blocks)
    assert spec.size_multiple == 8 and spec.scale == 4 and spec.tile % 8 == 0 and spec.tile_overlap % 8 == 0
    half = [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])]
    wide = _graph(tmp_path / "global.onnx", [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=1),
                                             helper.make_node("Sub", ["m", "half"], ["t"]),  # the mean's offset
                                             helper.make_node("Resize", ["x", "", "s"], ["r"], mode="nearest"),
                                             helper.make_node("Add", ["r", "t"], ["y"])], _scales(2.0) + half)
    spec = read_onnx_spec(wide)
    assert spec.tile == 0 and "whole picture" in spec.source


def test_a_graph_of_one_picture_size_runs_in_tiles_of_that_size(tmp_path: Path) -> None:
    """A graph exported for 32x32 pictures only (as TensorRT-minded exports are): every frame is cut
    into 32x32 tiles, a smaller one padded, and the result is the whole frame's; another --tile is
    refused with what to pass."""
    from srstream.engine.backends import backend_def
    from srstream.engine.upscaler import FrameUpscaler
    from srstream.errors import ConfigError

    free = _without_spec(write_conv_net(tmp_path / "free.onnx", 2, convs=3, features=6))
    model = onnx.load(str(free))
    for axis, size in ((2, 32), (3, 32)):
        model.graph.input[0].type.tensor_type.shape.dim[axis].dim_value = size
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    spec = read_onnx_spec(tmp_path / "fixed.onnx")
    assert spec.tile == 32 and dict(spec.arch_params) == {"input_size": 32} and 3 <= spec.margin < 16
    free_spec = read_onnx_spec(free)
    for frame in (np.random.default_rng(0).integers(0, 256, (50, 70, 3), np.uint8),
                  np.random.default_rng(1).integers(0, 256, (20, 12, 3), np.uint8)):  # smaller than a tile
        tiled = FrameUpscaler(backend_def("ort").open(spec, tmp_path / "fixed.onnx", "fp32"), spec).upscale(frame)
        whole = FrameUpscaler(backend_def("ort").open(free_spec, free, "fp32"), free_spec, 0).upscale(frame)
        assert tiled.shape == whole.shape
        # a frame smaller than a tile is padded (reflected) at its bottom and right, whose borders then differ
        edge = 0 if frame.shape[0] >= 32 else -2 * spec.margin
        assert np.array_equal(tiled[:edge or None, :edge or None], whole[:edge or None, :edge or None])
    with pytest.raises(ConfigError, match="--tile 16: fixed takes 32x32 pictures only"):
        FrameUpscaler(backend_def("ort").open(spec, tmp_path / "fixed.onnx", "fp32"), spec, 16).upscale(frame)


def test_a_luma_graph_runs_on_the_luma(tmp_path: Path) -> None:
    """A graph of one channel (the ONNX model zoo's super-resolution net takes Y) is a luma model: the
    engine upscales the Y plane with it and carries the colour."""
    from srstream.engine.backends import backend_def
    from srstream.engine.upscaler import FrameUpscaler

    path = _graph(tmp_path / "y.onnx", [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")],
                  _scales(2.0), ("n", 1, "h", "w"))
    spec = read_onnx_spec(path)
    assert (spec.color_space, spec.in_channels, spec.out_channels, spec.scale) == ("y", 1, 1, 2)
    frame = np.full((8, 10, 3), (200, 40, 90), np.uint8)
    out = FrameUpscaler(backend_def("ort").open(spec, path, "fp32"), spec, 0).upscale(frame)
    assert out.shape == (16, 20, 3) and np.abs(out.astype(int) - (200, 40, 90)).max() <= 2  # the colour carried


@pytest.mark.parametrize(("shape", "nodes", "why"), [
    ((1, 3, 64, 48), [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")], "exported for 64x48"),
    (("n", 3, "h", "w"), [helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")], "not one whole scale"),
    (("n", 3, "h", "w"), [helper.make_node("Neg", ["x"], ["n"]),
                          helper.make_node("Resize", ["n", "", "s"], ["y"], mode="nearest")], "value ranges tried"),
])
def test_graphs_that_are_not_super_resolution_models_are_refused(tmp_path: Path, shape: tuple, nodes: list,
                                                                 why: str) -> None:
    scales = [helper.make_tensor("s", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 3.0 if why.startswith("not") else 2.0])]
    path = _graph(tmp_path / "g.onnx", nodes, scales, shape)
    with pytest.raises(ModelError, match=why):
        read_onnx_spec(path)


def test_the_command_line_runs_one_and_says_what_it_measured(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    from srstream import cli

    model = _without_spec(write_conv_net(tmp_path / "their.onnx", 2, convs=4, features=6))
    cv2.imwrite(str(tmp_path / "in.png"), np.random.default_rng(1).integers(0, 256, (20, 30, 3), np.uint8))
    assert cli.main([str(tmp_path / "in.png"), "--model", str(model)]) == 0
    err = capsys.readouterr().err
    assert "their.onnx: ONNX graph from elsewhere, spec measured by sr-stream (x2, values 0 to 1" in err, err
    assert cv2.imread(str(tmp_path / "in_x2.png")).shape == (40, 60, 3)
