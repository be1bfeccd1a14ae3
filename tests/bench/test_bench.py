"""sr-stream bench: metrics, methods, OpenCV peers, quality, speed, grids and the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from srstream import cli
from srstream.bench.methods import PEERS, open_method
from srstream.bench.opencv_sr import OpenCvSuperRes, rename_block_size
from srstream.bench.quality import evaluate
from srstream.errors import ConfigError, InputError, ModelError
from srstream.evalset import BenchmarkSet
from srstream.imresize import imresize, lanczos3
from srstream.metrics import mse, vif_p
from tests.conftest import shared_data, write_video
from tests.onnx_models import nearest_x2_spec, write_nearest_x2

GOLDEN = Path(__file__).with_name("golden") / "dnn_superres.npz"


def _images(folder: Path, count: int = 2, size: tuple[int, int] = (52, 44)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    for i in range(count):
        img = np.stack([(xx * (3 + i)) % 256, (yy * 5) % 256, 128 + 50 * np.sin(xx / 3.0)], -1)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img{i}.png"), img)
    return folder


# -- metrics -------------------------------------------------------------------------------------

def test_vif_matches_the_reference_implementation() -> None:
    """Golden values from sewar 0.4.10's ``vifp`` (an independent port of vifp_mscale.m)."""
    rng = np.random.default_rng(0)
    ref = np.clip(rng.normal(128, 40, (200, 230)), 0, 255)
    noisy = ref + rng.normal(0, 10, ref.shape)
    assert vif_p(ref, noisy) == pytest.approx(0.4614171808369921, abs=1e-9)
    assert vif_p(ref, cv2.GaussianBlur(ref, (5, 5), 1.5)) == pytest.approx(0.09608380761865906, abs=1e-9)
    assert vif_p(ref, ref) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="VIF"):
        vif_p(ref, ref[1:])


def test_mse() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    assert mse(a, a + 2) == 4.0


def test_lanczos3_kernel_and_resize() -> None:
    np.testing.assert_allclose(lanczos3(np.array([0.0, 1.0, 2.0, 3.0, 3.5])), [1, 0, 0, 0, 0], atol=1e-12)
    assert lanczos3(np.array([0.5]))[0] == pytest.approx(3 * math.sin(math.pi / 6) / (math.pi**2 * 0.25))
    np.testing.assert_allclose(imresize(np.full((9, 7), 50.0), 2, kernel="lanczos3"), 50.0)
    with pytest.raises(KeyError):
        imresize(np.zeros((4, 4)), 2, kernel="nope")


# -- methods -------------------------------------------------------------------------------------

def test_interpolation_needs_a_scale_and_unknown_names_list_the_choices() -> None:
    with pytest.raises(ConfigError, match="needs --scale"):
        open_method("bicubic")
    with pytest.raises(ConfigError, match="Did you mean 'bicubic'.*sr-stream bench peers"):
        open_method("bicubc", scale=2)


def test_engine_model_runs_and_checks_its_scale(tmp_path: Path) -> None:
    model = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with open_method(str(model), scale=2) as method:
        assert method.info.kind == "sr-stream" and method.info.backend in ("ort", "ov") and method.info.scale == 2
        out = method(np.full((5, 7, 3), 9, np.uint8))
        assert out.shape == (10, 14, 3) and (out == 9).all()
        assert method.upscaler is not None
    with pytest.raises(ConfigError, match="not x4"):
        open_method(str(model), scale=4)


def test_peer_names_need_their_files(tmp_path: Path) -> None:
    assert {"opencv-fsrcnn-x2", "opencv-lapsrn-x8", "realesr-animevideov3-x4", "srgan-leftthomas-x4"} <= set(PEERS)
    with pytest.raises(InputError, match="--peers DIR"):
        open_method("opencv-espcn-x3", peers_dir=tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        open_method(str(tmp_path / "missing.pth"))


# -- OpenCV peers --------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _node(op: bytes, key: bytes) -> bytes:
    attr_value = _varint(3 << 3 | 0) + _varint(2)  # AttrValue.i = 2
    return _ld(1, b"n") + _ld(2, op) + _ld(5, _ld(1, key) + _ld(2, attr_value))


def test_block_size_is_renamed_only_in_depth_to_space_nodes() -> None:
    graph = _ld(1, _node(b"Conv2D", b"block_size")) + _ld(1, _node(b"DepthToSpace", b"block_size")) \
        + _varint(4 << 3 | 0) + _varint(27)  # a varint field after the nodes (GraphDef.version-like)
    fixed = rename_block_size(graph)
    assert fixed == _ld(1, _node(b"Conv2D", b"block_size")) + _ld(1, _node(b"DepthToSpace", b"blocksize")) \
        + _varint(4 << 3 | 0) + _varint(27)
    assert rename_block_size(fixed) == fixed


def test_opencv_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        OpenCvSuperRes(tmp_path / "none.pb", "fsrcnn", 2)
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\x0a\xff\xff\xff not a graph")
    with pytest.raises(ModelError, match="cannot run"):
        OpenCvSuperRes(junk, "fsrcnn", 2)


def _peers_dir() -> Path:
    root = shared_data()
    if root is None or not (root / "peers" / "opencv_FSRCNN").is_dir():
        pytest.skip("peer models not found (set SRSTREAM_DATA or ../shared/data)")
    return root / "peers"


@pytest.mark.data
def test_opencv_peers_equal_dnn_superres_bit_for_bit() -> None:
    """The golden outputs were made by opencv-contrib 5.0's ``DnnSuperResImpl.upsample``."""
    peers = _peers_dir()
    golden = np.load(GOLDEN)
    for key, name in (("FSRCNN-small_x2", "opencv-fsrcnn-small-x2"), ("ESPCN_x3", "opencv-espcn-x3"),
                      ("LapSRN_x4", "opencv-lapsrn-x4")):
        with open_method(name, peers_dir=peers) as method:
            assert method.info.backend == "opencv" and method.info.kind == "peer"
            np.testing.assert_array_equal(method(golden["input_rgb"]), golden[key], err_msg=name)


@pytest.mark.data
def test_opencv_peer_scale_is_checked() -> None:
    peers = _peers_dir()
    with pytest.raises(ModelError, match="not x3"):
        OpenCvSuperRes(peers / "opencv_FSRCNN" / "FSRCNN_x2.pb", "fsrcnn", 3)


def test_an_opencv_without_the_tensorflow_importer_says_which_to_install(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenCV 5.1 dropped cv2.dnn.readNetFromTensorflow: a peer .pb then asks for an OpenCV that has it."""
    import cv2

    from srstream.errors import DependencyError

    monkeypatch.delattr(cv2.dnn, "readNetFromTensorflow", raising=False)
    if hasattr(cv2, "dnn_superres"):
        monkeypatch.delattr(cv2, "dnn_superres")
    graph = tmp_path / "FSRCNN_x2.pb"
    graph.write_bytes(b"\x0a\x00")
    with pytest.raises(DependencyError, match="opencv-python-headless>=4.8,<5.1"):
        OpenCvSuperRes(graph, "fsrcnn", 2)


# -- quality -------------------------------------------------------------------------------------

def test_quality_of_bicubic_equals_the_sets_own_baseline(tmp_path: Path) -> None:
    bench = BenchmarkSet(_images(tmp_path / "hr"), 2)
    with open_method("bicubic", scale=2) as method:
        result = evaluate(method, bench)
    assert result.images == 2 and result.dataset == "hr"
    assert result.psnr_y == pytest.approx(bench.bicubic[0]) and result.ssim_y == pytest.approx(bench.bicubic[1])
    assert 0 < result.vifp_y < 1 and result.mse_y > 0 and math.isfinite(result.psnr_rgb)


def test_quality_of_an_oracle_is_perfect(tmp_path: Path) -> None:
    bench = BenchmarkSet(_images(tmp_path / "hr"), 2)
    answers = {p.lr.tobytes(): p.hr for p in bench.pairs}

    class Oracle:
        info = type("Info", (), {"name": "oracle"})()

        def __call__(self, lr: np.ndarray) -> np.ndarray:
            return answers[lr.tobytes()]

    result = evaluate(Oracle(), bench)  # type: ignore[arg-type]
    assert math.isinf(result.psnr_y) and result.ssim_y == pytest.approx(1.0) and result.vifp_y == pytest.approx(1.0)


def test_quality_command_writes_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hr = _images(tmp_path / "hr", count=3)
    out = tmp_path / "res" / "q.json"
    assert cli.main(["bench", "quality", "--data", str(hr), "--scale", "2", "--model", "lanczos",
                     "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {"dataset", "scale", "model", "images", "psnr_y", "ssim_y", "mse_y", "psnr_rgb", "vifp_y",
            "bicubic_psnr_y", "per_image", "machine", "method", "protocol"} <= set(data)
    assert data["images"] == 3 and data["model"] == "lanczos" and len(data["per_image"]) == 3
    rows = out.with_suffix(".csv").read_text().splitlines()
    assert rows[0].startswith("image,psnr_y,ssim_y") and len(rows) == 4
    assert "Y-PSNR" in capsys.readouterr().out


def test_quality_takes_a_models_own_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--scale` was required even for a model that has one; interpolation still needs it."""
    hr = _images(tmp_path / "hr", count=2)
    model = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    out = tmp_path / "q.json"
    assert cli.main(["bench", "quality", "--data", str(hr), "--model", str(model), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scale"] == 2 and "x2" in capsys.readouterr().out
    assert cli.main(["bench", "quality", "--data", str(hr), "--model", "bicubic"]) == 2
    assert "give --scale" in capsys.readouterr().err


@pytest.mark.data
@pytest.mark.parametrize(("scale", "published"), [(2, 33.66), (4, 28.42)])
def test_bicubic_through_the_bench_command_reproduces_published_set5(
        tmp_path: Path, scale: int, published: float) -> None:
    root = shared_data()
    if root is None or not (root / "val" / "Set5").is_dir():
        pytest.skip("Set5 not found (set SRSTREAM_DATA or ../shared/data)")
    out = tmp_path / "set5.json"
    assert cli.main(["bench", "quality", "--data", str(root / "val" / "Set5"), "--scale", str(scale),
                     "--model", "bicubic", "--json", str(out)]) == 0
    assert abs(json.loads(out.read_text())["psnr_y"] - published) <= 0.02


# -- speed, grid, report -------------------------------------------------------------------------

def test_speed_command_and_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    clip = write_video(tmp_path / "clip.mp4", frames=5)
    out = tmp_path / "speed.json"
    assert cli.main(["bench", "speed", "--model", str(model), "--input", "64x36", "--runs", "4", "--warmup", "1",
                     "--clip", str(clip), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {"model", "backend", "precision", "input", "scale", "fps", "latency_ms"} <= set(data)
    lat = data["latency_ms"]
    assert lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] and data["fps"] > 0
    assert data["input"] == "64x36" and data["output"] == "128x72" and data["runs"] >= 4
    assert data["end_to_end"]["frames_out"] == data["end_to_end"]["frames_in"] == 5
    assert data["machine"]["cpu"]["usable_cores"] >= 1


def test_a_missing_clip_is_said_before_the_speed_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--clip`` naming no file was said only after the whole per-frame benchmark had run."""
    model = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    assert cli.main(["bench", "speed", "--model", str(model), "--input", "32x18", "--runs", "1", "--warmup", "0",
                     "--clip", str(tmp_path / "none.mp4")]) == 3
    captured = capsys.readouterr()
    assert "--clip" in captured.err and "no such file" in captured.err and "fps" not in captured.out


@pytest.mark.parametrize(("option", "said"), [(["--max-seconds", "nan"], "expected a number above 0"),
                                             (["--max-seconds", "-1"], "expected a number above 0"),
                                             (["--threads", "-1"], "--threads >= 0")])
def test_speed_settings_out_of_range_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 option: list[str], said: str) -> None:
    """They were taken: ``--max-seconds nan`` timed all 50 runs, ``-1`` three, ``--threads -1`` every core."""
    model = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    assert cli.main(["bench", "speed", "--model", str(model), "--input", "32x18", *option]) == 2
    captured = capsys.readouterr()
    assert said in captured.err and "fps" not in captured.out


def test_speed_end_to_end_needs_an_engine_model(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4", frames=2)
    assert cli.main(["bench", "speed", "--model", "bicubic", "--scale", "2", "--input", "32x18", "--runs", "1",
                     "--warmup", "0", "--clip", str(clip)]) == 2  # ConfigError


def test_grid_and_report(tmp_path: Path) -> None:
    hr = _images(tmp_path / "hr", count=2, size=(64, 48))
    results = tmp_path / "results"
    for model in ("bicubic", "lanczos"):
        assert cli.main(["bench", "quality", "--data", str(hr), "--scale", "2", "--model", model,
                         "--json", str(results / f"q_{model}.json")]) == 0
        assert cli.main(["bench", "speed", "--model", model, "--scale", "2", "--input", "640x360", "--runs", "3",
                         "--warmup", "0", "--json", str(results / f"s_{model}.json")]) == 0
    # another script's record in the folder (its own machine field) is read past, not a crash
    (results / "other.json").write_text('{"results": [], "machine": "x86_64"}')
    grid_png = tmp_path / "grid.png"
    assert cli.main(["bench", "grid", "--data", str(hr), "--scale", "2", "--model", "bicubic", "--model", "lanczos",
                     "--images", "2", "--crop", "32", "--out", str(grid_png)]) == 0
    grid = cv2.imread(str(grid_png))
    assert grid is not None and grid.shape[1] > 4 * 32  # LR, bicubic, lanczos, HR columns
    assert cli.main(["bench", "report", str(results)]) == 0
    report = (results / "report.md").read_text()
    assert "| bicubic | interpolation |" in report and "640x360 -> x2" in report
    assert (results / "pareto.png").is_file() and (results / "latency.png").is_file()


def test_counts_out_of_range_are_refused_not_sliced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``quality --limit -1`` scored all but the last image and still named the set ("Set5 x2 ... 37.386
    dB" of 4 images); ``grid --images 0`` drew every image, ``-2`` all but two, ``--crop -5`` crashed."""
    from srstream.bench.grid import comparison_grid
    from srstream.evalset import BenchmarkSet

    hr = _images(tmp_path / "hr", count=2, size=(64, 48))
    for args in (["quality", "--data", str(hr), "--scale", "2", "--model", "bicubic", "--limit", "-1"],
                 ["grid", "--data", str(hr), "--scale", "2", "--model", "bicubic", "--images", "0", "--out",
                  str(tmp_path / "g.png")],
                 ["grid", "--data", str(hr), "--scale", "2", "--model", "bicubic", "--crop", "-5", "--out",
                  str(tmp_path / "g.png")]):
        assert cli.main(["bench", *args]) == 2
        assert "expected a whole number of" in capsys.readouterr().err and not (tmp_path / "g.png").exists()
    with pytest.raises(ConfigError, match="limit -1"):
        BenchmarkSet(hr, 2, limit=-1)
    with pytest.raises(ConfigError, match="images=0"):
        comparison_grid(hr, 2, [], tmp_path / "g.png", images=0)


def test_peers_are_listed_with_where_they_are_looked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "peers", "--peers", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(PEERS) and all("missing" in line for line in out)
    assert any(line.startswith("opencv-fsrcnn-x2 ") and str(tmp_path) in line for line in out)


def test_report_of_an_empty_folder_fails(tmp_path: Path) -> None:
    assert cli.main(["bench", "report", str(tmp_path)]) == 3


def test_macs_per_pixel_follow_the_architectures() -> None:
    pytest.importorskip("onnx")
    from srstream.bench.macs import PEER_MACS, onnx_macs_per_pixel
    from srstream.engine.models import resolve_model

    # compact_y 32 features x 6 convs at x2: (1->32, 6 x 32->32, 32->4) 3x3 convs at LR resolution
    assert onnx_macs_per_pixel(resolve_model("realtime-x2").path) == 9 * (32 + 32 * 32 * 6 + 32 * 4)
    assert onnx_macs_per_pixel(resolve_model("realtime-x2").path, size=(37, 23)) == pytest.approx(56736, rel=0.02)
    assert PEER_MACS["opencv-fsrcnn-small-x2"] == 3937 and PEER_MACS["opencv-fsrcnn-x2"] == 12464


def test_temporal_error_is_zero_for_the_truth_and_grows_with_flicker() -> None:
    from srstream.bench.temporal import hr_flows, temporal_error

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (80, 96, 3)).astype(np.uint8), (7, 7), 2)
    frames = [np.roll(base, 2 * t, axis=1) for t in range(5)]  # a pan: 2 px a frame
    flows = hr_flows(frames)
    assert all(p.mask.mean() > 0.8 for p in flows)  # a clean pan is consistent almost everywhere
    assert temporal_error(frames, frames, flows) == 0.0
    steady = [np.roll(np.clip(base.astype(int) + 3, 0, 255).astype(np.uint8), 2 * t, axis=1) for t in range(5)]
    flicker = [np.clip(f.astype(int) + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert temporal_error(steady, frames, flows, border=4) < 0.5  # an error that moves with the content
    assert temporal_error(flicker, frames, flows, border=4) > 2.0  # fresh noise: ~sqrt(2) x its luma sigma
