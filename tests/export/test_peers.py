"""Third-party generators import into our architectures and compute what the originals do."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srstream.errors import InputError, ModelError
from srstream.export.parity import check_parity
from srstream.export.sources import load_generator
from srstream.export.to_onnx import export_onnx
from tests.conftest import shared_data
from tests.export.peer_reference import (BasicsrRRDBNet, LeftthomasGenerator, SRVGGNetCompact, TrainingSPAN,
                                         esrgan_original_names, randomise_bn)


def _compare(reference: torch.nn.Module, ours: torch.nn.Module, size: tuple[int, int] = (23, 17)) -> float:
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float((reference.eval()(x) - ours.eval()(x)).abs().max())


def test_realesrgan_compact_maps_one_to_one(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = SRVGGNetCompact(num_feat=16, num_conv=3, upscale=4)
    randomise_bn(ref)
    path = tmp_path / "realesr-tiny.pth"
    torch.save({"params": ref.state_dict()}, path)
    loaded = load_generator(path)
    assert loaded.imported and loaded.spec.arch == "compact" and loaded.spec.scale == 4
    assert dict(loaded.spec.arch_params) == {"features": 16, "convs": 3, "act": "prelu", "skip": "nearest"}
    assert loaded.spec.name == "realesr-tiny" and loaded.spec.license == "BSD-3-Clause"
    assert _compare(ref, loaded.module) < 1e-6


@pytest.mark.parametrize("scale", [2, 4])
def test_leftthomas_srgan_with_batchnorm_folded(tmp_path: Path, scale: int) -> None:
    torch.manual_seed(0)
    ref = LeftthomasGenerator(scale)
    randomise_bn(ref)
    path = tmp_path / f"netG_epoch_{scale}_100.pth"
    torch.save(ref.state_dict(), path)
    loaded = load_generator(path)
    assert loaded.spec.name == f"srgan-leftthomas-x{scale}" and loaded.spec.scale == scale
    assert dict(loaded.spec.arch_params)["norm"] == "none"  # BN folded away
    assert _compare(ref, loaded.module) < 1e-5


@pytest.mark.parametrize(("scale", "layout"), [(4, "basicsr"), (4, "original"), (2, "original"), (8, "basicsr")])
def test_esrgan_rrdbnet_in_either_layout_maps_one_to_one(tmp_path: Path, scale: int, layout: str) -> None:
    """RealESRGAN_x4plus and the community's ESRGAN models (OpenModelDB's 4x-UltraSharp, saved in
    the original ESRGAN code's layout) were refused as "not a supported third-party format"."""
    torch.manual_seed(scale)
    ref = BasicsrRRDBNet(scale=scale, num_feat=8, num_block=2, num_grow_ch=4)
    state = ref.state_dict()
    if layout == "original":
        state = esrgan_original_names(state, blocks=2, ups={2: 1, 4: 2, 8: 3}[scale])
    path = tmp_path / f"{scale}x-Tiny.pth"
    torch.save({"params_ema": state} if layout == "basicsr" else state, path)
    loaded = load_generator(path)
    assert loaded.spec.arch == "rrdb" and loaded.spec.scale == scale and loaded.spec.name == f"{scale}x-Tiny"
    assert dict(loaded.spec.arch_params) == {"features": 8, "blocks": 2, "growth": 4, "res_scale": 0.2,
                                             "act": "lrelu"}
    assert _compare(ref, loaded.module) < 1e-5


def test_realesrgan_x2plus_folds_the_picture_first_and_x1_is_refused(tmp_path: Path) -> None:
    """Real-ESRGAN's x2plus takes the picture pixel-unshuffled 2x2 into 12 channels, then runs x4."""
    torch.manual_seed(1)
    ref = BasicsrRRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4, fold=2)
    torch.save({"params_ema": ref.state_dict()}, tmp_path / "RealESRGAN_x2plus.pth")
    loaded = load_generator(tmp_path / "RealESRGAN_x2plus.pth")
    assert loaded.spec.scale == 2 and loaded.spec.arch_params["unshuffle"] == 2 and loaded.spec.size_multiple == 2
    assert _compare(ref, loaded.module, (24, 18)) < 1e-5
    # exported and upscaled by the engine: a texture's wrap padding keeps to the fold (it was 7 levels off)
    import numpy as np

    from srstream import Upscaler, cli

    assert cli.main(["export", str(tmp_path / "RealESRGAN_x2plus.pth"), "-o", str(tmp_path / "x2plus.onnx")]) == 0
    texture = np.random.default_rng(2).integers(0, 256, (20, 26, 3)).astype(np.uint8)
    with Upscaler(str(tmp_path / "x2plus.onnx"), backend="ort", precision="fp32", tileable=True) as tiling, \
            Upscaler(str(tmp_path / "x2plus.onnx"), backend="ort", precision="fp32") as plain:
        grid = plain.upscale(np.tile(texture, (3, 3, 1)))[40:80, 52:104]
        assert np.abs(tiling.upscale(texture).astype(int) - grid).max() == 0
    one = BasicsrRRDBNet(scale=1, num_feat=8, num_block=1, num_grow_ch=4, fold=4)
    torch.save({"params_ema": one.state_dict()}, tmp_path / "RealESRGAN_x1.pth")
    with pytest.raises(ModelError, match="48 input channels"):
        load_generator(tmp_path / "RealESRGAN_x1.pth")


@pytest.mark.parametrize(("scale", "norm", "saved"), [(4, True, "pth"), (2, False, "safetensors"), (3, True, "pth")])
def test_span_collapses_its_branches_and_computes_what_it_trains(tmp_path: Path, scale: int, norm: bool,
                                                                  saved: str) -> None:
    """The community's SPAN models (OpenModelDB's 2xHFA2kSPAN, 4xNomos8k_span_otf, upscayl's) were
    refused as "not a supported third-party format". Every 3x3 conv is collapsed from the branches
    it was trained as; the file's ``eval_conv`` (random here, as in a checkpoint saved while
    training) is not what runs."""
    from safetensors.torch import save_file

    torch.manual_seed(scale)
    ref = TrainingSPAN(feature_channels=6, upscale=scale, norm=norm)
    randomise_bn(ref)
    with torch.no_grad():  # weights spread as a trained net's are, every bias and branch non-zero
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * (0.8 / max(1, p[0].numel()) ** 0.5))
    path = tmp_path / f"{scale}xTiny_span.{saved}"
    if saved == "pth":
        torch.save({"params_ema": ref.state_dict()}, path)
    else:
        save_file(ref.state_dict(), str(path))
    loaded = load_generator(path)
    assert loaded.imported and loaded.spec.arch == "span" and loaded.spec.scale == scale
    assert dict(loaded.spec.arch_params) == {"features": 6, "norm": norm} and loaded.spec.margin == 21
    assert sum(p.numel() for p in loaded.module.parameters()) < sum(p.numel() for p in ref.parameters()) / 2
    with torch.no_grad():
        size = float(ref.eval()(torch.rand(1, 3, 8, 8)).abs().max())  # random weights: far from [0, 1]
    assert _compare(ref, loaded.module) < 1e-5 * size


@pytest.mark.parametrize("saved", ["span_x2_tiny", "span_x2_tiny_collapsed"])
def test_span_matches_spandrels_span(saved: str) -> None:
    """Against an implementation not ours: a SPAN of random weights, saved and run by spandrel 0.4.2
    (chaiNNer's and ComfyUI's loader; ``make_peer_golden.py`` wrote the files), as trained (branches,
    a stale ``eval_conv``) and as saved collapsed (``eval_conv`` only)."""
    import numpy as np

    golden = Path(__file__).parent / "golden"
    loaded = load_generator(golden / f"{saved}.safetensors")
    case = np.load(golden / "span_x2_tiny.npz")
    with torch.no_grad():
        out = loaded.module.eval()(torch.from_numpy(case["input"])).numpy()
    assert out.shape == case["output"].shape
    assert np.abs(out - case["output"]).max() < 1e-5 * np.abs(case["output"]).max()


@pytest.mark.parametrize(("saved", "params"), [
    ("realplksr_x2_dysample", {"dim": 8, "blocks": 2, "kernel": 17, "partial": 2, "attention": True,
                               "dysample": True}),
    ("realplksr_x3", {"dim": 8, "blocks": 2, "kernel": 17, "partial": 2, "attention": False, "dysample": False}),
    ("realplksr_x2_groupnorm", {"dim": 8, "blocks": 2, "kernel": 17, "partial": 2, "attention": True,
                                "dysample": False, "norm": "group"}),
])
def test_realplksr_matches_spandrels(saved: str, params: dict) -> None:
    """The community's RealPLKSR models (OpenModelDB's 4xNomos2_realplksr_dysample, ...) were refused as
    "not a supported third-party format". Against spandrel 0.4.2's RealPLKSR, with DySample and the
    attention, without either, and with RealPLKSR's first normalisation, a GroupNorm at each block's
    end (``make_peer_golden.py`` wrote the files)."""
    import numpy as np

    golden = Path(__file__).parent / "golden"
    loaded = load_generator(golden / f"{saved}.safetensors")
    assert loaded.spec.arch == "realplksr" and dict(loaded.spec.arch_params) == params
    case = np.load(golden / f"{saved}.npz")
    with torch.no_grad():
        out = loaded.module.eval()(torch.from_numpy(case["input"])).numpy()
    assert out.shape == case["output"].shape
    assert np.abs(out - case["output"]).max() < 1e-5 * np.abs(case["output"]).max()


def test_a_realplksr_with_groupnorm_runs_on_whole_frames(tmp_path: Path) -> None:
    """A GroupNorm's statistics are the whole picture's: tiles of it would each be normalised on
    their own and not join. Its spec says whole frames, which ``auto`` runs even where it would tile
    another net, and the engine's frame is the PyTorch net's."""
    import numpy as np

    from srstream import Upscaler, cli

    source = Path(__file__).parent / "golden" / "realplksr_x2_groupnorm.safetensors"
    loaded = load_generator(source)
    assert loaded.spec.tile == 0
    assert cli.main(["export", str(source), "-o", str(tmp_path / "net.onnx")]) == 0
    frame = np.random.default_rng(5).integers(0, 256, (70, 90, 3)).astype(np.uint8)
    with Upscaler(str(tmp_path / "net.onnx"), backend="ort", precision="fp32") as up:
        assert up.spec.tile == 0 and up.frame_upscaler.tile_label(4000, 6000) == "whole frame"
        with torch.no_grad():
            ref = loaded.module.eval()(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255)[0]
        expected = (ref.clamp(0, 1) * 255).round().permute(1, 2, 0).numpy()
        assert np.abs(up.upscale(frame).astype(float) - expected).max() <= 1


@pytest.mark.parametrize(("saved", "tile", "levels"), [("span_x2_tiny", 48, 0), ("realplksr_x2_dysample", 64, 1)])
def test_an_imported_net_upscales_seamlessly_in_tiles(tmp_path: Path, saved: str, tile: int, levels: int) -> None:
    """Exported (with the export's parity check) and run by the engine: the net's reach (SPAN's 21
    pixels; RealPLKSR's 11 per block, DySample's few) is what the tiles overlap, so a tiled frame is
    the whole frame's result (RealPLKSR's LayerNorm and sampling round differently at another size,
    by 3e-6 here, which can move a pixel by a level)."""
    import numpy as np

    from srstream import Upscaler, cli

    assert cli.main(["export", str(Path(__file__).parent / "golden" / f"{saved}.safetensors"),
                     "-o", str(tmp_path / "net.onnx")]) == 0
    frame = np.random.default_rng(3).integers(0, 256, (70, 90, 3)).astype(np.uint8)
    with Upscaler(str(tmp_path / "net.onnx"), backend="ort", precision="fp32", tile=0) as whole, \
            Upscaler(str(tmp_path / "net.onnx"), backend="ort", precision="fp32", tile=tile) as tiled:
        assert tiled.frame_upscaler.tile_label(70, 90).endswith("per frame")  # tiles, not the whole frame
        assert np.abs(tiled.upscale(frame).astype(int) - whole.upscale(frame)).max() <= levels
        assert whole.upscale(frame).shape == (140, 180, 3)


class Arbitrary:
    """Any class: a weights-only load must refuse to construct it."""


def test_unknown_and_unsafe_files_are_refused(tmp_path: Path) -> None:
    graph = tmp_path / "model.onnx"  # said as what it is, not "not a PyTorch checkpoint ... Unsupported operand"
    graph.write_bytes(b"\x08\x08\x12\x07pytorch")
    with pytest.raises(InputError, match="is an ONNX graph already, which sr-stream runs as it is"):
        load_generator(graph)
    unknown = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, unknown)
    with pytest.raises(ModelError, match="not a supported third-party format"):
        load_generator(unknown)
    pickled = tmp_path / "pickled.pth"
    torch.save({"params": {"body.0.weight": torch.zeros(1)}, "opt": Arbitrary()}, pickled)
    with pytest.raises(ModelError, match="never unpickles") as refused:
        load_generator(pickled)
    assert "Arbitrary" in str(refused.value) and "weights_only" not in str(refused.value)
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    # the reason, without PyTorch's advice to load it again with weights_only=False (which runs what it holds)
    with pytest.raises(ModelError, match="not a PyTorch checkpoint sr-stream can read") as refused:
        load_generator(corrupt)
    assert "weights_only" not in str(refused.value) and "\n" not in str(refused.value)


PEERS = shared_data() / "peers" if shared_data() else None


@pytest.mark.data
@pytest.mark.skipif(PEERS is None, reason="needs ../shared/data (peers/)")
@pytest.mark.parametrize("relpath, reference", [
    ("realesr-animevideov3/realesr-animevideov3.pth", lambda: SRVGGNetCompact(num_feat=64, num_conv=16, upscale=4)),
    ("SRGAN_leftthomas/netG_epoch_4_100.pth", lambda: LeftthomasGenerator(4)),
])
def test_real_peer_weights_import_and_export(relpath: str, reference, tmp_path: Path) -> None:  # noqa: ANN001
    path = PEERS / relpath
    original = reference()
    state = torch.load(path, map_location="cpu", weights_only=True)
    original.load_state_dict(state.get("params", state), strict=True)  # the file fits the original architecture
    loaded = load_generator(path)
    assert _compare(original, loaded.module, (40, 36)) < 1e-4  # our import computes what the original does
    graph = export_onnx(loaded.module, loaded.spec).model
    report = check_parity(original, loaded.spec, graph.SerializeToString())  # ONNX vs their PyTorch model
    assert report.passed, report.summary()


def test_the_command_line_takes_a_weights_file_and_exports_it_once(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``sr-stream clip.mp4 --model 2xHFA2kSPAN.pth`` (and ``Upscaler("2xHFA2kSPAN.pth")``) was refused
    ("convert it once with sr-stream export"). The file is now exported (and verified) into the cache
    once, keyed by its bytes, and run; the next run takes the cached graph; a file no importer knows is
    refused, caching nothing."""
    import shutil

    import cv2
    import numpy as np

    from srstream import cli
    from srstream.cache import cache_root

    weights = tmp_path / "2xTiny_span.safetensors"
    shutil.copy(Path(__file__).parent / "golden" / "span_x2_tiny.safetensors", weights)
    assert cv2.imwrite(str(tmp_path / "in.png"), np.random.default_rng(4).integers(0, 256, (20, 30, 3), np.uint8))
    cached = sorted((cache_root() / "peers").glob("2xTiny_span-*.onnx"))
    for run in range(2):
        code = cli.main([str(tmp_path / "in.png"), "-o", str(tmp_path / f"out{run}.png"), "--model", str(weights)])
        err = capsys.readouterr().err
        assert code == 0, err
        assert cv2.imread(str(tmp_path / f"out{run}.png")).shape == (40, 60, 3)
        assert ("imported 2xTiny_span: span x2" in err and "parity vs PyTorch" in err) == (run == 0), err
        now = sorted((cache_root() / "peers").glob("2xTiny_span-*.onnx"))
        assert len(now) == len(cached) + 1 and now[-1].stat().st_size > 0
    assert np.array_equal(cv2.imread(str(tmp_path / "out0.png")), cv2.imread(str(tmp_path / "out1.png")))
    from srstream import Upscaler

    with Upscaler(str(weights)) as up:  # the library takes it too, from the cache
        assert up.model == "2xTiny_span" and up.spec.arch == "span"
        rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "in.png")), cv2.COLOR_BGR2RGB)
        assert up.upscale(rgb).shape == (40, 60, 3)
    unknown = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, unknown)
    before = sorted((cache_root() / "peers").iterdir())
    assert cli.main([str(tmp_path / "in.png"), "-o", str(tmp_path / "out2.png"), "--model", str(unknown)]) != 0
    assert "not a supported third-party format" in capsys.readouterr().err
    assert sorted((cache_root() / "peers").iterdir()) == before and not (tmp_path / "out2.png").exists()
