"""``--adapt fast``: a compact_y model's last conv refitted to one video by least squares, written
into copies of every graph, cached and reused; torch-free."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from srstream import cli
from srstream.engine import refit
from srstream.engine.models import resolve_model, screen_variant
from srstream.engine.refit import RefitOptions, refit_to_video
from srstream.errors import ConfigError, ModelError, OutputError
from tests.conftest import write_video

QUICK = RefitOptions(runs=2, run_frames=3, crop=16, under=(8,))  # one CRF: quick


def _copy(name: str, folder: Path) -> Path:
    """The bundled model ``name``'s graphs copied into ``folder`` (so the test may edit them)."""
    source = resolve_model(name).path
    stem = source.name.removesuffix(".onnx")
    for path in source.parent.glob(f"{stem}.*onnx"):
        if path.name.removeprefix(stem).count(".") <= 3 and path.name.split(".")[0] == stem:
            shutil.copy(path, folder / path.name)
    return folder / source.name


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _conv_shuffle(act: np.ndarray, w: np.ndarray, scale: int) -> np.ndarray:
    """``(9 * C + 1, s*s)`` weights applied as a padded 3x3 conv to ``act`` (N, C, h, w), then DepthToSpace."""
    n, c, h, wd = act.shape
    weight, bias = w[:-1].T.reshape(-1, c, 3, 3), w[-1]
    padded = np.pad(act, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, weight.shape[0], h, wd))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nchw,oc->nohw", padded[:, :, dy:dy + h, dx:dx + wd], weight[:, :, dy, dx])
    out += bias[None, :, None, None]
    return out.reshape(n, scale, scale, h, wd).transpose(0, 3, 1, 4, 2).reshape(n, 1, h * scale, wd * scale)


@pytest.mark.parametrize("name", ["tiny-x2", "realtime-x2"])
def test_written_graphs_compute_the_fitted_conv(tmp_path: Path, name: str) -> None:
    model = _copy(name, tmp_path)
    luma = model.with_name(model.name.replace(".onnx", ".luma.onnx"))
    shipped = refit._shipped(luma)
    fitted = shipped + np.random.default_rng(0).normal(0, 0.02, shipped.shape)
    out = tmp_path / "out"
    out.mkdir()
    assert refit.write_fitted(resolve_model(str(model)), fitted, out, "fit") == out / "fit.onnx"
    assert sorted(p.name for p in out.iterdir()) == ["fit.int8.onnx", "fit.luma.int8.onnx", "fit.luma.onnx",
                                                     "fit.onnx"]

    y = np.random.default_rng(1).random((1, 1, 24, 32), np.float32)
    head, _ = refit._features_graph(luma)
    act = ort.InferenceSession(head, providers=["CPUExecutionProvider"]).run(None, {"input": y})[1]
    want = _conv_shuffle(act.astype(np.float64), fitted, 2) + np.kron(y, np.ones((1, 1, 2, 2)))
    got = _run(out / "fit.luma.onnx", y)
    assert np.abs(got - want).max() < 1e-4
    # the INT8 graph follows the new weights (within its rounding), not the shipped ones
    int8 = _run(out / "fit.luma.int8.onnx", y)
    shipped_int8 = _run(model.with_name(model.name.replace(".onnx", ".luma.int8.onnx")), y)
    assert np.abs(int8 - got).mean() < 0.5 * np.abs(shipped_int8 - got).mean()
    rgb = np.random.default_rng(2).random((1, 3, 24, 32), np.float32)
    fp32 = _run(out / "fit.onnx", rgb)
    shipped_rgb = _run(model.with_name(model.name.replace(".onnx", ".int8.onnx")), rgb)
    assert np.abs(_run(out / "fit.int8.onnx", rgb) - fp32).mean() < 0.5 * np.abs(shipped_rgb - fp32).mean()
    spec = resolve_model(str(out / "fit.int8.onnx")).spec
    assert spec.name == "fit"
    assert set(spec.metrics) <= {k for k in resolve_model(name).spec.metrics if k.endswith(refit._KEPT_METRICS)}


def test_an_int8_graph_widens_the_range_of_the_fitted_conv_outputs(tmp_path: Path) -> None:
    model = resolve_model(str(_copy("realtime-x2", tmp_path)))
    fitted = 4 * refit._shipped(model.path.with_name("realtime-x2.luma.onnx"))  # outputs four times as large
    import cv2

    img = cv2.GaussianBlur(np.random.default_rng(1).random((48, 64)).astype(np.float32), (0, 0), 1.0)
    y = ((img - img.min()) / (img.max() - img.min()))[None, None]
    errors = []
    for growth in (1.0, 4.0):
        folder = tmp_path / f"growth{growth:g}"
        folder.mkdir()
        refit.write_fitted(model, fitted, folder, "fit", growth)
        fp32 = _run(folder / "fit.luma.onnx", y)
        errors.append(np.abs(_run(folder / "fit.luma.int8.onnx", y) - fp32).max())
    assert np.array_equal(fp32, _run(tmp_path / "growth1" / "fit.luma.onnx", y))  # the float graph has no range
    assert errors[1] < 0.5 * errors[0], errors


def test_fit_to_pairs_finds_the_conv_that_made_them(tmp_path: Path) -> None:
    """Targets made by a copy whose last conv was moved: fitted to them, the shipped model's copy
    computes what that copy does (the weights themselves may differ where no input reaches)."""
    import cv2

    model = resolve_model("tiny-x2")
    shipped = refit._shipped(model.path.with_name("tiny-x2.luma.onnx"))
    truth = refit.write_fitted(model, shipped + np.random.default_rng(0).normal(0, 0.02, shipped.shape), tmp_path,
                               "truth")
    rng = np.random.default_rng(1)

    def smooth(*shape: int) -> np.ndarray:
        img = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 1.5)
        return (img - img.min()) / (img.max() - img.min()) * 0.8 + 0.1

    lows = [np.round(smooth(48, 64, 3) * 255).astype(np.uint8) for _ in range(12)]
    highs = [np.clip(np.round(_run(truth, (low.astype(np.float32) / 255).transpose(2, 0, 1)[None])[0]
                              .transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8) for low in lows]
    fitted, growth = refit.fit_to_pairs(model, highs, {0: lows}, RefitOptions(crop=32, crops=8))
    assert growth >= 1
    got = refit.write_fitted(model, fitted, tmp_path, "got", growth)
    y = smooth(40, 40)[None, None]
    want = _run(tmp_path / "truth.luma.onnx", y)
    assert np.abs(_run(got.with_name("got.luma.onnx"), y) - want).mean() < 0.1 * np.abs(
        _run(model.path.with_name("tiny-x2.luma.onnx"), y) - want).mean()
    with pytest.raises(ModelError, match="no luma graph"):
        refit.fit_to_pairs(resolve_model("quality-x4"), highs, {0: lows})


def test_the_shipped_weights_written_back_change_nothing(tmp_path: Path) -> None:
    model = _copy("realtime-x2", tmp_path)
    luma = model.with_name("realtime-x2.luma.onnx")
    shipped = model.with_name("realtime-x2.luma.int8.onnx")
    refit._write_conv(shipped, tmp_path / "same.onnx", refit._shipped(luma), "same")
    y = np.random.default_rng(3).random((1, 1, 20, 20), np.float32)
    assert np.abs(_run(tmp_path / "same.onnx", y) - _run(shipped, y)).max() < 2e-3


def test_refit_to_a_video_is_kept_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = write_video(tmp_path / "v.mp4", frames=8, size=(128, 96))
    model = resolve_model(str(_copy("tiny-x2", tmp_path)))
    logged: list[str] = []
    monkeypatch.setattr(refit, "_SHRINK", (1.0,))  # the whole step, whatever the check would say
    first = refit_to_video(video, model, 30.0, QUICK, cache=tmp_path / "cache", log=logged.append)
    assert not first.reused and first.model.name == "tiny-x2-fit" and first.model.spec.name == "tiny-x2-fit"
    assert first.shrink == 1.0 and first.loss_change <= 1.0 + 1e-9
    assert first.frames == 6 and len(first.crfs) == 1 and logged
    folder = first.model.path.parent
    assert {p.name for p in folder.iterdir()} == {"tiny-x2-fit.onnx", "tiny-x2-fit.int8.onnx", "tiny-x2-fit.luma.onnx",
                                                   "tiny-x2-fit.luma.int8.onnx", "refit.json"}
    assert json.loads((folder / "refit.json").read_text())["shrink"] == first.shrink
    again = refit_to_video(video, model, 30.0, QUICK, cache=tmp_path / "cache")
    assert again.reused and again.model.path == first.model.path
    assert not list((tmp_path / "cache").glob(".refitting-*"))


def test_a_fit_that_does_not_carry_keeps_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = write_video(tmp_path / "v.mp4", frames=8, size=(128, 96))
    model = resolve_model(str(_copy("tiny-x2", tmp_path)))
    monkeypatch.setattr(refit, "_SHRINK", (0.0,))
    first = refit_to_video(video, model, None, QUICK, cache=tmp_path / "cache")
    assert first.shrink == 0 and first.model == model and first.loss_change == pytest.approx(1.0)
    (entry,) = (tmp_path / "cache").iterdir()
    assert [p.name for p in entry.iterdir()] == ["refit.json"]  # the decision is kept, no copy of the graphs
    again = refit_to_video(video, model, None, QUICK, cache=tmp_path / "cache")
    assert again.reused and again.model == model


def test_a_screen_recording_takes_a_quarter_step_without_the_check(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A screen variant's fit takes :data:`refit.SCREEN_STEP` where the check would take none, and
    the pairs one scale further down (the check's) are not made."""
    video = write_video(tmp_path / "v.mp4", frames=8, size=(128, 96))
    model = resolve_model(str(_copy("realtime-x2-screen", tmp_path)))
    assert screen_variant(model.name)
    monkeypatch.setattr(refit, "_SHRINK", (0.0,))
    made: list[int] = []
    pairs = refit.training_pairs
    monkeypatch.setattr(refit, "training_pairs", lambda *a, **k: made.append(1) or pairs(*a, **k))
    logged: list[str] = []
    result = refit_to_video(video, model, 30.0, QUICK, cache=tmp_path / "cache", log=logged.append)
    assert result.shrink == refit.SCREEN_STEP == 0.25 and result.model.name == "realtime-x2-screen-fit"
    assert len(made) == 1 and "as for every screen recording" in logged[0]
    assert 0 < result.loss_change < 1  # a quarter of the least-squares step lowers the pairs' error
    asked = refit_to_video(video, model, 30.0, dataclasses.replace(QUICK, step=0.0), cache=tmp_path / "cache")
    assert asked.shrink == 0 and asked.model == model  # a step asked for is taken, for any model
    with pytest.raises(ConfigError, match="within 0-1"):
        RefitOptions(step=1.5)


def test_the_fit_moves_towards_pairs_it_can_learn(tmp_path: Path) -> None:
    """Pairs whose targets are the shipped net's output shifted by a constant: the least-squares
    step is exactly that bias, and it carries across a scale, so the whole step is taken."""
    model = resolve_model(str(_copy("tiny-x2", tmp_path)))
    luma = model.path.with_name("tiny-x2.luma.onnx")
    rng = np.random.default_rng(4)
    lows = [rng.integers(0, 200, (40, 40, 3), dtype=np.uint8) for _ in range(3)]
    targets = []
    for low in lows:
        y = (low.astype(np.float32) / 255 @ np.asarray(refit.LUMA_BT601, np.float32))[None, None]
        up = _run(luma, y)[0, 0] + 0.05
        targets.append(np.repeat((np.clip(up, 0, 1) * 255)[..., None], 3, -1))  # grey: its luma is itself
    head, _ = refit._features_graph(luma)
    session = ort.InferenceSession(head, providers=["CPUExecutionProvider"])
    normal = refit._normal(session, 2, model.spec.margin, targets, {0: lows}, RefitOptions(crop=16, crops=2))
    shipped = refit._shipped(luma)
    fitted = normal.solve(shipped, 1e-6)
    assert normal.mse(fitted) < 0.1 * normal.mse(shipped)
    assert np.allclose(fitted[-1] - shipped[-1], 0.05, atol=0.01)


def test_a_fitted_copy_takes_its_sources_timings_but_is_checked(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Its graphs differ from the source's only in the last conv's constants, so ``auto`` times
    it no more (the source's timings are copied), and still checks its accuracy."""
    from srstream.engine import autotune

    model = resolve_model(str(_copy("tiny-x2", tmp_path)))
    cache = autotune.TuneCache(tmp_path / "autotune.json")
    first = autotune.select(model, size=(96, 64), cache=cache)
    timed = {r.backend + r.precision: r.fps for r in first.rows if r.fps}
    assert timed
    shipped = refit._shipped(model.path.with_name("tiny-x2.luma.onnx"))
    out = tmp_path / "fit"
    out.mkdir()
    copy = resolve_model(str(refit.write_fitted(model, shipped * 1.01, out, "tiny-x2-fit")))
    assert autotune.inherit_speed(copy, model, cache) == len(timed)
    assert autotune.inherit_speed(copy, model, cache) == 0  # what the copy has already is kept

    def no_timing(*_args: object) -> list[float]:
        raise AssertionError("the copy was timed again")

    monkeypatch.setattr(autotune, "_time_together", no_timing)
    checked = []
    real_check = autotune._check
    monkeypatch.setattr(autotune, "_check", lambda m, *a: checked.append(m.name) or real_check(m, *a))
    again = autotune.select(copy, size=(96, 64), cache=autotune.TuneCache(tmp_path / "autotune.json"))
    assert {r.backend + r.precision: r.fps for r in again.rows if r.fps} == timed
    assert checked and set(checked) == {"tiny-x2-fit"}


def test_models_it_cannot_refit_are_refused(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", frames=4, size=(128, 96))
    with pytest.raises(ModelError, match="--adapt fast cannot refit gan-x4"):
        refit_to_video(video, resolve_model("gan-x4"), None, QUICK, cache=tmp_path / "c")
    bare = tmp_path / "bare"
    bare.mkdir()
    only = bare / "tiny-x2.onnx"
    shutil.copy(resolve_model("tiny-x2").path, only)
    with pytest.raises(ModelError, match="no luma graph"):
        refit_to_video(video, resolve_model(str(only)), None, QUICK, cache=tmp_path / "c")
    assert not (tmp_path / "c").exists()
    tiny = resolve_model("tiny-x2")  # a net whose last conv makes 2x2 input pixels' sub-pixels at once
    phased = dataclasses.replace(tiny, spec=dataclasses.replace(tiny.spec, arch_params={**tiny.spec.arch_params,
                                                                                        "unshuffle": 2}))
    assert refit.unsupported(tiny) is None and "unshuffle" in (refit.unsupported(phased) or "")


@pytest.fixture
def quick_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An 8-frame 128x96 video, fitted with :data:`QUICK` options and the whole step, in a
    temporary cache: the command-line tests' setup."""
    monkeypatch.setenv("SRSTREAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(refit.refit_to_video, "__defaults__", (QUICK,))
    monkeypatch.setattr(refit, "_SHRINK", (1.0,))
    return write_video(tmp_path / "v.mp4", frames=8, size=(128, 96))


def test_cli_adapt_fast_upscales_with_the_refitted_model(tmp_path: Path, quick_video: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import av

    video = quick_video
    out = tmp_path / "up.mp4"
    code = cli.main([str(video), "--fast", "--adapt", "fast", "-o", str(out), "--backend", "ort",
                     "--precision", "fp32"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "fitted tiny-x2 in" in err and "tiny-x2-fit" in err
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 8
    assert cli.main([str(video), "--fast", "--adapt", "fast", "-o", str(tmp_path / "b.mp4"), "--backend", "ort",
                     "--precision", "fp32"]) == 0
    assert "fitted to this video by an earlier run" in capsys.readouterr().err


def test_auto_fits_long_videos_of_models_it_can_refit() -> None:
    tiny = resolve_model("tiny-x2")
    assert refit.auto_fits(tiny, 640, 360, refit.AUTO_MIN_FRAMES)
    assert not refit.auto_fits(tiny, 640, 360, refit.AUTO_MIN_FRAMES - 1)
    assert not refit.auto_fits(tiny, 640, 360, 0)  # the container does not say how long it is
    assert refit.auto_fits(tiny, 1920, 1080, refit.AUTO_MIN_FRAMES)
    assert not refit.auto_fits(tiny, 320, 180, 10 * refit.AUTO_MIN_FRAMES)  # small frames: however long
    assert not refit.auto_fits(tiny, 639, 360, refit.AUTO_MIN_FRAMES)
    assert not refit.auto_fits(resolve_model("quality-x4"), 640, 360, 10 * refit.AUTO_MIN_FRAMES)  # no luma graph


def test_a_shorter_video_is_fitted_where_upscaling_it_takes_long_here() -> None:
    """Under AUTO_MIN_FRAMES, the fit is made where this machine's measured speed makes it at most a
    tenth of the upscaling; the speed is asked for only then (measuring it may take seconds)."""
    tiny = resolve_model("tiny-x2")
    asked: list[int] = []

    def speed(fps: float):  # noqa: ANN202
        def measured() -> float:
            asked.append(1)
            return fps
        return measured

    enough = refit.AUTO_FIT_SECONDS / refit.AUTO_FIT_SHARE  # seconds of upscaling
    said = refit.fit_reason(tiny, 640, 360, 300, speed(300 / enough))
    assert said == "a video of 300 frames, 5 min at the 1.0 fps measured for it here,"
    assert refit.fit_reason(tiny, 640, 360, 300, speed(1.01 * 300 / enough)) is None  # a little faster: not worth it
    assert refit.fit_reason(tiny, 640, 360, 300, speed(0.0)) is None  # nothing measured
    assert len(asked) == 3
    assert refit.fit_reason(tiny, 640, 360, refit.AUTO_MIN_FRAMES, speed(1e6)) == "a video this long"
    assert refit.fit_reason(tiny, 640, 360, refit.AUTO_FLOOR_FRAMES - 1, speed(1e-6)) is None  # fewer than it samples
    assert refit.fit_reason(tiny, 320, 180, 300, speed(1e-6)) is None  # small frames: however slow
    assert refit.fit_reason(tiny, 640, 360, 0, speed(1e-6)) is None
    assert refit.fit_reason(tiny, 640, 360, 300) is None  # no speed known: the length alone decides
    assert len(asked) == 3


def test_cli_fits_long_videos_by_default(tmp_path: Path, quick_video: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    video = quick_video  # 8 frames of 128x96
    monkeypatch.setattr(refit, "AUTO_MIN_PIXELS", 128 * 96)

    def upscale(name: str, *extra: str) -> str:
        code = cli.main([str(video), "--fast", "-o", str(tmp_path / name), "--backend", "ort", "--precision", "fp32",
                         *extra])
        err = capsys.readouterr().err
        assert code == 0, err
        return err

    monkeypatch.setattr(refit, "AUTO_MIN_FRAMES", 8)
    err = upscale("a.mp4")
    assert "gets tiny-x2's last conv fitted to it first" in err and "tiny-x2-fit x2 on ort fp32" in err
    assert "tiny-x2-fit" not in upscale("off.mp4", "--adapt", "off")
    monkeypatch.setattr(refit, "AUTO_MIN_FRAMES", 9)
    err = upscale("short.mp4")
    assert "fitted to it first" not in err and "tiny-x2-fit" not in err
    monkeypatch.setattr(refit, "AUTO_FLOOR_FRAMES", 8)  # ... unless upscaling it takes long on this machine
    monkeypatch.setattr(refit, "AUTO_FIT_SECONDS", 1e-6)
    err = upscale("slow.mp4")
    assert "a video of 8 frames, 0 min at the " in err, err
    assert "fps measured for it here, gets tiny-x2's last conv" in err, err
    assert "tiny-x2-fit x2 on ort fp32" in err
    monkeypatch.setattr(refit, "AUTO_FIT_SECONDS", 1e6)
    assert "tiny-x2-fit" not in upscale("fast.mp4")
    monkeypatch.setattr(refit, "AUTO_MIN_FRAMES", 8)
    monkeypatch.setattr(refit, "AUTO_MIN_PIXELS", 128 * 96 + 1)
    assert "tiny-x2-fit" not in upscale("small.mp4")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OutputError("no space left in the cache")

    monkeypatch.setattr(refit, "AUTO_MIN_PIXELS", 128 * 96)
    monkeypatch.setattr(refit, "refit_to_video", broken)
    err = upscale("b.mp4")
    assert "could not fit tiny-x2 to this video (no space left in the cache); upscaling with it as it is" in err
    assert "tiny-x2 x2 on ort fp32" in err
    assert cli.main([str(video), "--fast", "-o", str(tmp_path / "c.mp4"), "--adapt", "fast"]) != 0  # asked for


def test_adapt_takes_fast_or_a_number_of_steps() -> None:
    import argparse

    from srstream.commands.upscale import configure

    parser = argparse.ArgumentParser()
    configure(parser)
    assert parser.parse_args(["x.mp4"]).adapt == "auto"
    assert parser.parse_args(["x.mp4", "--adapt"]).adapt == 200
    assert parser.parse_args(["x.mp4", "--adapt", "off"]).adapt == "off"
    assert parser.parse_args(["x.mp4", "--adapt", "fast"]).adapt == "fast"
    assert parser.parse_args(["x.mp4", "--adapt", "50"]).adapt == 50
    with pytest.raises(SystemExit):
        parser.parse_args(["x.mp4", "--adapt", "quick"])


def test_frames_too_small_to_check_keep_the_model(tmp_path: Path) -> None:
    """x4 on a 192x128 video: the pairs one scale further down have 12x8-pixel inputs, too small to fit."""
    video = write_video(tmp_path / "v.mp4", frames=4, size=(192, 128))
    model = resolve_model(str(_copy("realtime-x4", tmp_path)))
    result = refit_to_video(video, model, None, QUICK, cache=tmp_path / "cache")
    assert result.shrink == 0 and result.model == model
