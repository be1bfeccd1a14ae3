"""``--adapt``: a model fine-tuned on pairs made from one video alone, exported, cached and reused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from srstream import cli
from srstream.archs import build_generator, generator_spec
from srstream.engine.models import resolve_model
from srstream.errors import ModelError
from srstream.export.pipeline import ExportOptions, run_export
from srstream.trainer import adapt
from srstream.trainer.adapt import AdaptOptions, adapt_to_video, sample_runs, training_pairs, tune
from srstream.trainer.checkpoint import load_model_weights, save_checkpoint
from tests.conftest import write_video

QUICK = AdaptOptions(steps=3, batch=2, runs=2, run_frames=3)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny compact_y net exported with its weights beside the graph, as the bundled models are."""
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    spec = generator_spec("tiny", "compact_y", 2, params={"features": 8, "convs": 2})
    run = save_checkpoint(folder / "run", 1, spec, build_generator(spec).state_dict(), {"step": 1})
    out = folder / "model" / "tiny.onnx"
    run_export(run, ExportOptions(out=out, safetensors=True), log=lambda *_: None)
    return out


def _frame_index(rgb: np.ndarray) -> int:
    """The index write_video drew into a frame: its red ramp moves 8 levels a frame."""
    return int(round((int(rgb[2, 0, 0]) % 256) / 8))


def test_runs_are_consecutive_frames_spread_over_the_video(tmp_path: Path) -> None:
    video = write_video(tmp_path / "long.mp4", frames=30, size=(64, 48))
    runs = sample_runs(video, runs=3, run_frames=4, max_pixels=10**9)
    starts = [_frame_index(run[0]) for run in runs]
    assert [len(run) for run in runs] == [4, 4, 4]
    assert starts == sorted(starts) and starts[0] < 10 < starts[1] < 20 < starts[2], starts
    for run in runs:
        assert [_frame_index(f) - _frame_index(run[0]) for f in run] == [0, 1, 2, 3]
    few = sample_runs(video, runs=3, run_frames=4, max_pixels=3 * 64 * 48 * 2)  # room for 2 frames a run
    assert [len(run) for run in few] == [2, 2, 2]


def test_a_video_of_unknown_length_is_read_through_and_a_matroska_one_sought_into(tmp_path: Path) -> None:
    """A stream that says no length is read once and still gives runs of consecutive frames
    from all over it; a Matroska file (no stream duration, only the container's) is sought into."""
    from srstream.engine.selfpairs import _runs_read_through

    class Frame:
        def __init__(self, index: int) -> None:
            self.index = index

        def to_ndarray(self, format: str) -> int:  # noqa: A002 - PyAV's name
            return self.index

    for n, count in ((10, 2), (1000, 3), (50000, 3)):
        runs = _runs_read_through((Frame(i) for i in range(n)), 3, 4)
        assert len(runs) == count
        assert all(run == list(range(run[0], run[0] + 4)) for run in runs)
        assert runs[-1][0] >= n // 2 or n < 24, (n, runs)
    mkv = write_video(tmp_path / "v.mkv", frames=30, size=(64, 48))
    import av

    with av.open(str(mkv)) as container:
        assert not container.streams.video[0].duration and container.duration  # what this test is about
    starts = [_frame_index(run[0]) for run in sample_runs(mkv, runs=3, run_frames=4, max_pixels=10**9)]
    assert len(starts) == 3 and starts == sorted(starts) and starts[-1] >= 15, starts


def test_pairs_are_the_frames_and_their_own_downscale_reencoded(tmp_path: Path) -> None:
    runs = sample_runs(write_video(tmp_path / "v.mp4", frames=6, size=(66, 50)), 1, 6, 10**9)
    targets, inputs = training_pairs(runs, 2, (20, 40))
    assert len(targets) == 6 and targets[0].shape == (50, 66, 3)
    assert set(inputs) == {20, 40} and all(f.shape == (25, 33, 3) for f in inputs[40])
    from srstream.imresize import bicubic_degrade

    clean = bicubic_degrade(targets[3], 2).astype(float)
    err = {crf: np.abs(inputs[crf][3] - clean).mean() for crf in inputs}
    assert err[20] < err[40]  # the higher CRF lost more


def test_pairs_keep_their_order_whichever_thread_encodes_them(tmp_path: Path) -> None:
    """The streams are encoded on a thread per core: each input must still sit beside its own
    target, run after run, and the caller's own downscales give the very same pairs."""
    from srstream.imresize import bicubic_degrade

    runs = sample_runs(write_video(tmp_path / "v.mp4", frames=24, size=(64, 48)), 3, 3, 10**9)
    targets, inputs = training_pairs(runs, 2, (18, 26))
    assert len(targets) == len(inputs[18]) == len(inputs[26]) == 9
    for crf in (18, 26):
        for i, low in enumerate(inputs[crf]):
            errors = [np.abs(low.astype(float) - bicubic_degrade(t, 2)).mean() for t in targets]
            assert int(np.argmin(errors)) == i
    # the caller's downscales: the very same pairs in the same order (x264 kept off its AVX-512 code,
    # which gave other bits from one thread to the next: encode.x264_params)
    again = training_pairs(runs, 2, (18, 26), [[bicubic_degrade(f, 2) for f in run] for run in runs])
    for crf in (18, 26):
        assert all(np.array_equal(a, b) for a, b in zip(again[1][crf], inputs[crf], strict=True))


def test_tuning_fits_the_pairs(tmp_path: Path, tiny_model: Path) -> None:
    runs = sample_runs(write_video(tmp_path / "v.mp4", frames=8, size=(96, 64)), 2, 4, 10**9)
    targets, inputs = training_pairs(runs, 2, (23,))
    spec, state = load_model_weights(tiny_model.with_suffix(".safetensors"))
    net = build_generator(spec)
    net.load_state_dict(state)

    def loss() -> float:
        with torch.no_grad():
            x = torch.from_numpy(np.stack(inputs[23])).permute(0, 3, 1, 2).float() / 255
            y = torch.from_numpy(np.stack(targets)).permute(0, 3, 1, 2).float() / 255
            return float((net(x) - y).abs().mean())

    before = loss()
    tune(net, targets, inputs, 2, AdaptOptions(steps=40, batch=4, lr=1e-3))
    assert loss() < before * 0.9


@pytest.mark.parametrize("device", ["meta", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_tuning_trains_where_the_weights_are(tmp_path: Path, tiny_model: Path, device: str) -> None:
    """``--adapt STEPS`` trains on a GPU where torch sees one: the batches (made on the CPU) go to
    the net's device. ``meta`` stands in for a GPU elsewhere (a CPU batch there fails)."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    runs = sample_runs(write_video(tmp_path / "v.mp4", frames=4, size=(96, 64)), 1, 4, 10**9)
    targets, inputs = training_pairs(runs, 2, (23,))
    spec, state = load_model_weights(tiny_model.with_suffix(".safetensors"))
    net = build_generator(spec)
    net.load_state_dict(state)
    tuned = tune(net.to(device), targets, inputs, 2, AdaptOptions(steps=3, batch=2))
    assert {p.device.type for p in tuned.parameters()} == {device}


def test_adapted_model_is_exported_cached_and_reused(tmp_path: Path, tiny_model: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    video = write_video(tmp_path / "v.mp4", frames=10, size=(96, 64))
    base = resolve_model(str(tiny_model))
    first = adapt_to_video(video, base, 30.0, QUICK, cache=tmp_path / "cache")
    assert not first.reused and first.model.spec.name == "tiny-adapted" and first.frames == 6
    assert len(first.crfs) == 3 and first.crfs[2] - first.crfs[1] == first.crfs[1] - first.crfs[0] == 4
    folder = first.model.path.parent
    assert {p.name for p in folder.iterdir()} >= {"tiny-adapted.onnx", "tiny-adapted.int8.onnx",
                                                  "tiny-adapted.luma.onnx", "tiny-adapted.safetensors", "adapt.json"}
    assert not list((tmp_path / "cache").glob(".adapting-*"))  # the work folder went
    _, tuned = load_model_weights(folder / "tiny-adapted.safetensors")
    _, start = load_model_weights(tiny_model.with_suffix(".safetensors"))
    assert any(not torch.equal(tuned[k], start[k]) for k in start)
    monkeypatch.setattr(adapt, "tune", lambda *a, **k: pytest.fail("a cached adaptation was trained again"))
    again = adapt_to_video(video, base, 30.0, QUICK, cache=tmp_path / "cache")
    assert again.reused and again.model.path == first.model.path and again.crfs == first.crfs


def test_a_cache_that_cannot_be_written_is_an_output_error(tmp_path: Path, tiny_model: Path) -> None:
    from srstream.errors import OutputError

    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(OutputError, match="SRSTREAM_CACHE"):
        adapt_to_video(write_video(tmp_path / "v.mp4", size=(96, 64)), resolve_model(str(tiny_model)), None,
                       AdaptOptions(steps=1, batch=1, runs=1, run_frames=2), cache=blocked / "adapted")


def test_a_model_without_weights_beside_it_says_how_to_get_them(tmp_path: Path, tiny_model: Path) -> None:
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(tiny_model.read_bytes())
    with pytest.raises(ModelError, match="--safetensors"):
        adapt_to_video(write_video(tmp_path / "v.mp4"), resolve_model(str(bare)), None, QUICK, cache=tmp_path / "c")


def test_cli_adapts_a_video_and_refuses_other_inputs(tmp_path: Path, tiny_model: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import av

    video = write_video(tmp_path / "v.mp4", frames=8, size=(96, 64))
    out = tmp_path / "up.mp4"
    code = cli.main([str(video), "-m", str(tiny_model), "--adapt", "2", "-o", str(out), "--backend", "ort",
                     "--precision", "fp32"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "adapted tiny in" in err and "tiny-adapted" in err
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 8
    assert cli.main([str(video), "-m", str(tiny_model), "--adapt", "2", "-o", str(tmp_path / "b.mp4"), "--backend",
                     "ort", "--precision", "fp32"]) == 0
    assert "adapted to this video by an earlier run" in capsys.readouterr().err
    image = tmp_path / "i.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((20, 20, 3), np.uint8))
    assert cli.main([str(image), "-m", str(tiny_model), "--adapt"]) != 0
    assert "--adapt tunes the model to one video file" in capsys.readouterr().err
    assert cli.main(["camera:0", "--adapt"]) != 0
    assert "a live source has no file to learn from" in capsys.readouterr().err
    assert not (tmp_path / "i_x2.png").exists()


def test_help_default_matches_the_trainer() -> None:
    import argparse

    from srstream.commands.upscale import configure

    parser = argparse.ArgumentParser()
    configure(parser)
    assert parser.parse_args(["x.mp4", "--adapt"]).adapt == adapt.DEFAULT_STEPS
    assert parser.parse_args(["x.mp4"]).adapt == "auto"  # the fast fit, for long video files
