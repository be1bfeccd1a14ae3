"""`--precision auto` is right on this machine, whatever its CPU: candidates are checked against
fp32 on the bundled crops, timed, cached; broken ones are never taken. And the same check on an
emulated AVX2 CPU without VNNI (QEMU), where ONNX Runtime's U8S8 kernels saturate."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srstream import cli
from srstream.engine import autotune
from srstream.engine.accuracy import LIMITS, Accuracy, check_pairs, compare
from srstream.engine.backends import backend_def
from srstream.engine.models import ResolvedModel, read_onnx_spec, resolve_model
from srstream.engine.upscaler import FrameUpscaler
from srstream.errors import ConfigError, ModelError
from srstream.imresize import bicubic_upscale
from srstream.sysinfo import gpus
from tests.conftest import REPO
from tests.onnx_models import write_conv_net

pytestmark = pytest.mark.skipif(bool(gpus()), reason="a GPU machine picks a GPU backend without CPU candidates")


def _upscale(model: ResolvedModel, backend: str, precision: str, options=None):  # noqa: ANN001, ANN202
    b = backend_def(backend)
    return FrameUpscaler(b.open(model.spec, model.path, precision, options), model.spec, 0).upscale


@pytest.mark.parametrize("name", ["realtime-x2", "realtime-x4"])
def test_auto_is_within_005_db_of_fp32_on_this_machine(name: str) -> None:
    """The issue's target, checked on whatever CPU runs the tests: what `auto` takes, run again
    here, costs at most 0.05 dB against the fp32 graph on the bundled crops, with no pattern."""
    model = resolve_model(name)
    choice = autotune.choose(model)
    accuracy = compare(_upscale(model, choice.backend, choice.precision, choice.options),
                       _upscale(model, "ort", "fp32"), model.spec.scale)
    assert accuracy.cost_db <= LIMITS.cost_db and accuracy.ok, (choice, accuracy)


def test_selection_table_checks_times_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = resolve_model("realtime-x2")
    cache = autotune.TuneCache(tmp_path / "autotune.json")
    first = autotune.select(model, size=(160, 96), cache=cache)
    rows = {(r.backend, r.precision): r for r in first.rows}
    assert ("ort", "fp32") in rows and ("ort", "int8") in rows
    chosen = [r for r in first.rows if r.chosen]
    assert len(chosen) == 1 and chosen[0].fps == max(r.fps or 0 for r in first.rows)
    assert (first.choice.backend, first.choice.precision) == (chosen[0].backend, chosen[0].precision)
    assert all(r.accuracy is not None for r in first.rows if not r.note.startswith(("missing", "failed")))
    assert rows[("ort", "fp32")].accuracy.cost_db == pytest.approx(0.0, abs=1e-9)  # the reference itself
    assert not first.cached and "measured at 160x96" in first.choice.reason
    saved = json.loads((tmp_path / "autotune.json").read_text())
    assert saved["accuracy"] and saved["speed"]
    again = autotune.select(model, size=(160, 96), cache=autotune.TuneCache(tmp_path / "autotune.json"))
    # from the cache, but measured by this process a moment ago (as --adapt auto's rule does before a
    # run's header): the header does not call that "cached"; a later run (process) does
    assert again.cached and "cached" not in again.choice.reason
    monkeypatch.setattr(autotune, "_TIMED_HERE", set())
    again = autotune.select(model, size=(160, 96), cache=autotune.TuneCache(tmp_path / "autotune.json"))
    assert again.cached and "cached" in again.choice.reason
    assert (again.choice.backend, again.choice.precision) == (first.choice.backend, first.choice.precision)
    other = autotune.select(model, size=(96, 64), cache=autotune.TuneCache(tmp_path / "autotune.json"))
    assert not other.cached  # a new frame size is timed again; its checks came from the cache


def test_expected_fps_is_what_opening_will_take(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed ``--adapt auto`` weighs the fit against: the chosen candidate's, from the same cache
    opening reads (so it is not timed twice), or, with backend and precision given, that one's."""
    monkeypatch.setenv("SRSTREAM_CACHE", str(tmp_path))
    model = resolve_model("tiny-x2")
    fps = autotune.expected_fps(model, size=(160, 96))
    chosen = [r for r in autotune.select(model, size=(160, 96)).rows if r.chosen]
    assert fps and chosen[0].fps == fps
    timed: list[int] = []
    real = autotune._time_together
    monkeypatch.setattr(autotune, "_time_together", lambda *a: timed.append(1) or real(*a))
    assert autotune.select(model, size=(160, 96)).cached and not timed
    one = autotune.expected_fps(model, "ort", "fp32", size=(160, 96))
    assert one and one == autotune.expected_fps(model, "ort", "fp32", size=(160, 96))
    assert len(timed) <= 1  # from the cache when select had timed ort fp32; else timed once, then cached
    assert autotune.expected_fps(model, "ort", "int4", size=(160, 96)) is None  # cannot run: opening says why


def test_candidates_are_timed_interleaved_so_a_busy_moment_slows_them_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """One frame of each candidate per round (the order reversed every other round), each keeping
    its median: a busy stretch as long as one candidate's whole sequential timing no longer
    decides the choice. A candidate that fails while timed is reported without stopping the rest."""
    import contextlib
    import time

    calls: list[str] = []
    busy_until = time.perf_counter() + 0.15  # the machine is busy at first, for every candidate alike

    class Fake:
        def __init__(self, name: str, seconds: float, fail_at: int | None = None) -> None:
            self.name, self.seconds, self.fail_at, self.count = name, seconds, fail_at, 0

        def upscale(self, frame: np.ndarray) -> np.ndarray:
            self.count += 1
            if self.count == self.fail_at:
                raise autotune.BackendError(f"{self.name} crashed")
            calls.append(self.name)
            time.sleep(self.seconds * (4 if time.perf_counter() < busy_until else 1))
            return frame

    fakes = {"fast": Fake("fast", 0.004), "slow": Fake("slow", 0.006), "flaky": Fake("flaky", 0.001, fail_at=3)}
    monkeypatch.setattr(autotune, "_upscaler", lambda model, b, precision, options, tile: (
        contextlib.nullcontext(), fakes[precision]))
    monkeypatch.setattr(autotune, "_TIMING_SECONDS", 0.1)
    results = autotune._time_together(resolve_model("tiny-x2"), [(None, "fast", None), (None, "slow", None),
                                                                 (None, "flaky", None)], (32, 24))
    fast, slow, flaky = results
    assert isinstance(flaky, autotune.BackendError) and "flaky crashed" in str(flaky)
    assert fast > slow  # the first (busy) rounds slowed both
    timed = [c for c in calls[3:] if c != "flaky"]  # after the warm-up frames
    assert timed[:4] == ["fast", "slow", "slow", "fast"]  # round 1, then round 2 reversed
    assert abs(timed.count("fast") - timed.count("slow")) <= 1 and len(timed) >= 2 * autotune._MIN_ROUNDS


def test_a_failing_candidate_is_never_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever its speed: here every int8 candidate 'saturates' (its check is made to fail)."""
    real = autotune._check

    def check(model, b, precision, options):  # noqa: ANN001, ANN202
        if precision == "int8":
            return Accuracy(0.53, 29.0, 4.35)
        return real(model, b, precision, options)

    monkeypatch.setattr(autotune, "_check", check)
    selection = autotune.select(resolve_model("realtime-x2"), size=(160, 96),
                                cache=autotune.TuneCache(tmp_path / "a.json"))
    assert selection.choice.precision != "int8"
    int8 = [r for r in selection.rows if r.precision == "int8"]
    assert int8 and all(r.fps is None and "not taken: costs 0.53 dB" in r.note and "stripes" in r.note for r in int8)
    assert "ort int8 not taken" in selection.choice.reason  # the run header says so


def test_an_int8_graph_lossy_at_export_is_never_taken_by_auto(tmp_path: Path) -> None:
    """The crops of the per-machine check can understate a graph that is lossy everywhere; the
    whole-set cost export recorded in the spec rules it out (here: tiny-x2 made to look 0.128 dB
    worse on Set5, as tiny-x2-deep's INT8 graph measured)."""
    from dataclasses import replace

    real = resolve_model("tiny-x2")
    assert autotune._export_int8_verdict(real) == ""  # 0.046 dB when exported: within the limit
    metrics = dict(real.spec.metrics)
    metrics["set5_x2_psnr_y_int8"] = metrics["set5_x2_psnr_y_onnx_fp32"] - 0.128
    lossy = ResolvedModel(real.name, real.path, replace(real.spec, metrics=metrics))
    cache = autotune.TuneCache(tmp_path / "a.json")
    selection = autotune.select(lossy, size=(96, 64), cache=cache)
    assert selection.choice.precision != "int8"
    int8 = [r for r in selection.rows if r.precision == "int8"]
    assert int8 and all(r.fps is None and "cost 0.128 dB against fp32 on set5 x2 when exported" in r.note for r in int8)
    assert "int8 not taken" in selection.choice.reason
    asked = autotune.select(lossy, precision="int8", size=(96, 64), cache=cache)  # asked for: it runs
    assert asked.choice.precision == "int8"


def test_an_explicit_failing_choice_runs_with_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SRSTREAM_CACHE", str(tmp_path))  # the fake verdict must not reach the session's cache
    monkeypatch.setattr(autotune, "_check", lambda *a: Accuracy(0.9, 30.0, 2.0))
    choice = autotune.choose(resolve_model("realtime-x2"), "ort", "int8")
    assert (choice.backend, choice.precision) == ("ort", "int8")
    assert "warning: ort int8 costs 0.90 dB" in capsys.readouterr().err


def test_int8_without_a_graph_and_unknown_devices_are_clear(tmp_path: Path) -> None:
    path = write_conv_net(tmp_path / "net.onnx", 2)
    model = ResolvedModel("net", path, read_onnx_spec(path))
    with pytest.raises(ModelError, match="no int8 variant"):
        autotune.select(model, precision="int8")
    with pytest.raises(ConfigError, match="--device is not an option of the ort backend"):
        autotune.select(model, backend="ort", device="GPU")
    fp = autotune.select(model, cache=autotune.TuneCache(tmp_path / "c.json"), size=(64, 48))
    assert fp.choice.precision in ("fp32", "bf16") and not any(r.precision == "int8" and r.fps for r in fp.rows)


def test_the_check_sees_what_saturation_does() -> None:
    """Calibrated on the failure it exists for: identical output passes; stripes in bright
    areas, a large tail or a PSNR loss each fail, and say which."""
    def bicubic(lr: np.ndarray) -> np.ndarray:
        return bicubic_upscale(lr, 2)

    assert compare(bicubic, bicubic, 2) == Accuracy(0.0, 0.0, 0.0)

    def striped(lr: np.ndarray) -> np.ndarray:
        out = bicubic(lr).astype(np.int16)
        bright = out.mean(axis=2) > 150
        rows = (np.arange(out.shape[0]) % 2 == 0)[:, None]
        out[bright & rows] -= 6  # saturated bright rows, every other line
        return np.clip(out, 0, 255).astype(np.uint8)

    bad = compare(striped, bicubic, 2)
    assert not bad.ok and bad.pattern_levels > LIMITS.pattern_levels and any("stripes" in p for p in bad.problems())

    def noisy(lr: np.ndarray) -> np.ndarray:
        out = bicubic(lr).astype(np.float32) + np.random.default_rng(0).normal(0, 6, (lr.shape[0] * 2, lr.shape[1] * 2, 3))
        return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)

    loud = compare(noisy, bicubic, 2)
    assert loud.cost_db > LIMITS.cost_db and loud.tail_levels > LIMITS.tail_levels and not loud.ok


def test_check_crops_are_bundled_at_every_scale() -> None:
    for scale in (2, 3, 4, 8):
        pairs = check_pairs(scale)
        assert len(pairs) == 4
        for lr, hr in pairs:
            assert hr.shape[0] == lr.shape[0] * scale and hr.dtype == np.uint8 and hr.std() > 10


def test_info_tune_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info", "--tune", "--input", "160x96"]) == 0
    out = capsys.readouterr().out
    assert "auto-selection for realtime-x2 at 160x96" in out and "chosen" in out and "PSNR cost" in out
    assert cli.main(["info", "--tune", "--json", "--model", "realtime-x4", "--input", "96x64"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tune"]["model"] == "realtime-x4" and sum(c["chosen"] for c in data["tune"]["candidates"]) == 1


_QEMU = shutil.which("qemu-x86_64")
_EMULATED = '''
import importlib.util, json, sys
from pathlib import Path
from srstream.engine.accuracy import compare
from srstream.engine.backends import backend_def
from srstream.engine.models import resolve_model
from srstream.engine.upscaler import FrameUpscaler
model = resolve_model("realtime-x2")
def up(backend, precision, graph=None):
    source = Path(graph).read_bytes() if graph else model.path
    return FrameUpscaler(backend_def(backend).open(model.spec, source, precision), model.spec, 0).upscale
ref = up("ort", "fp32")
out = {"ort-int8": compare(up("ort", "int8"), ref, 2).to_dict(),
       "ort-u8s8": compare(up("ort", "int8", sys.argv[1]), ref, 2).to_dict()}
if importlib.util.find_spec("openvino"):
    out["ov-int8"] = compare(up("ov", "int8"), ref, 2).to_dict()
print(json.dumps(out))
'''


@pytest.mark.slow
@pytest.mark.timeout(900)  # the emulation took 355-385 s on a 2-core 2.0 GHz Sapphire Rapids VM, under 280 on a Zen 3
@pytest.mark.skipif(platform.machine() != "x86_64" or _QEMU is None,
                    reason="needs qemu-x86_64 (bash tests/system-deps.sh installs qemu-user)")
def test_int8_on_an_emulated_avx2_cpu_without_vnni(tmp_path: Path) -> None:
    """QEMU emulating an AMD EPYC Zen 3 (AVX2 + FMA, no AVX-512, no VNNI): the shipped S8S8 graph
    passes the check there, and a U8S8 quantization of the same net (ONNX Runtime's default
    format) is caught by it, as a user saw on a real Zen 3 (stripes in bright areas)."""
    pytest.importorskip("onnx")
    import onnx

    from srstream.export.int8 import calibration_inputs, quantize_int8
    from srstream.export.rewrite import pad_thin_convs

    model = resolve_model("realtime-x2")
    fp32 = onnx.load(str(model.path))
    pad_thin_convs(fp32)
    inputs = calibration_inputs(REPO / "engine" / "checks", model.spec, count=8)
    u8s8 = tmp_path / "u8s8.onnx"
    onnx.save(quantize_int8(fp32, model.spec, inputs, keep_float=(), int8_format="u8s8"), str(u8s8))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([_QEMU, "-cpu", "EPYC-Milan", sys.executable, "-c", _EMULATED, str(u8s8)],
                            capture_output=True, text=True, timeout=840, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = {k: Accuracy(**v) for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items()}
    assert scores["ort-int8"].ok, scores
    assert not scores["ort-u8s8"].ok and scores["ort-u8s8"].pattern_levels > LIMITS.pattern_levels, scores
    if "ov-int8" in scores:
        assert scores["ov-int8"].ok, scores


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


_FLAGS = _cpu_flags()


@pytest.mark.skipif("avx2" not in _FLAGS or any("vnni" in f for f in _FLAGS),
                    reason="needs an x86 CPU with AVX2 and no VNNI, where ONNX Runtime's U8S8 kernels add pairs of "
                           "products in int16 (the emulated test above covers the rest)")
def test_u8s8_saturates_natively_without_vnni_and_u8s7_does_not() -> None:
    """On a real AVX2 CPU without VNNI (first measured on a first-generation Zen): realtime-x2 with
    every conv in U8S8 costs 0.37 dB with a 32-level tail, which the check refuses; with 7-bit
    weights (U8S7) it costs 0.02 dB, as S8S8 does."""
    pytest.importorskip("onnx")
    import onnx

    from srstream.export.int8 import calibration_inputs, quantize_int8
    from srstream.export.rewrite import pad_thin_convs

    model = resolve_model("realtime-x2")
    fp32 = onnx.load(str(model.path))
    pad_thin_convs(fp32)
    inputs = calibration_inputs(REPO / "engine" / "checks", model.spec, count=8)

    def up(graph: bytes | Path, precision: str):  # noqa: ANN202
        return FrameUpscaler(backend_def("ort").open(model.spec, graph, precision), model.spec, 0).upscale

    ref = up(model.path, "fp32")
    scores = {fmt: compare(up(quantize_int8(fp32, model.spec, inputs, keep_float=(), int8_format=fmt)
                              .SerializeToString(), "int8"), ref, 2) for fmt in ("u8s8", "u8s7")}
    assert not scores["u8s8"].ok and scores["u8s8"].pattern_levels > LIMITS.pattern_levels, scores
    assert scores["u8s7"].ok, scores


def test_live_takes_the_largest_tier_that_holds_the_frame_rate(tmp_path: Path) -> None:
    cache = autotune.TuneCache(tmp_path / "t.json")
    slow_source = autotune.pick_tier(2, fps=0.5, size=(96, 64), cache=cache)
    assert slow_source.model.name == "realtime-x2" and "holds 0.5 fps" in slow_source.reason
    assert [name for name, _ in slow_source.measured] == ["realtime-x2"]  # the largest was enough
    impossible = autotune.pick_tier(2, fps=1e6, size=(96, 64), cache=cache)
    assert impossible.model.name == "tiny-x2" and "is the fastest tier but misses" in impossible.reason
    assert [name for name, _ in impossible.measured] == ["realtime-x2", "tiny-x2-deep", "tiny-x2"]
    with pytest.raises(ConfigError, match="no bundled model tiers for x3"):
        autotune.pick_tier(3, fps=30)


def test_the_cache_key_covers_the_luma_only_graph(tmp_path: Path) -> None:
    """CPU backends run a compact_y model's luma-only graph when it is beside the model, so a new
    or changed one must be measured again; a model without one keeps its old key."""
    import hashlib

    from srstream.engine.models import MODELS_DIR

    _graph_digest = autotune._graph_digest
    shutil.copy(MODELS_DIR / "tiny-x2.onnx", tmp_path / "m.onnx")
    model = resolve_model(str(tmp_path / "m.onnx"))
    plain = _graph_digest(model, "fp32")
    assert plain == hashlib.sha256((tmp_path / "m.onnx").read_bytes()).hexdigest()[:16]
    shutil.copy(MODELS_DIR / "tiny-x2.luma.onnx", tmp_path / "m.luma.onnx")
    assert _graph_digest(model, "fp32") != plain
    assert _graph_digest(model, "int8") == "missing"


def test_a_timing_made_while_busy_is_timed_again_when_the_machine_is_not(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A timing made during a build or a benchmark ranked the candidates fairly but kept its low
    frame rates for ever: the speeds the fit rule and the live tier go by."""
    model = resolve_model("tiny-x2")
    timed: list[int] = []
    real = autotune._time_together
    monkeypatch.setattr(autotune, "_time_together", lambda *a: timed.append(1) or real(*a))
    cache = autotune.TuneCache(tmp_path / "a.json")
    monkeypatch.setattr(autotune, "load_share", lambda: 1.6)  # busy
    first = autotune.select(model, size=(64, 48), cache=cache)
    assert len(timed) == 1 and "timed while the machine was busy (load 1.6" in first.choice.reason
    assert autotune.select(model, size=(64, 48), cache=cache).cached
    assert len(timed) == 1  # still busy: the busy timing stands (nothing better to be had)
    monkeypatch.setattr(autotune, "load_share", lambda: 0.1)  # idle
    again = autotune.select(model, size=(64, 48),
                            cache=autotune.TuneCache(tmp_path / "a.json"))
    assert len(timed) == 2 and not again.cached and "busy" not in again.choice.reason
    assert autotune.select(model, size=(64, 48), cache=autotune.TuneCache(tmp_path / "a.json")).cached
    assert len(timed) == 2 and not autotune.TuneCache(tmp_path / "a.json").data["busy"]


def test_a_cache_that_cannot_be_written_is_said_once_and_the_run_goes_on(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A service user without a home (HOME=/nonexistent) had every run measure the backends again
    without a word on why; the run goes on as before, and now says once what to set."""
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cache = autotune.TuneCache(blocker / "sr-stream" / "autotune.json")  # its folder cannot be made
    with caplog.at_level("WARNING", logger="srstream.engine"):
        cache.put("speed", "k", 1.0)
        cache.put("speed", "k2", 2.0)
    notes = [r.getMessage() for r in caplog.records if "could not keep this machine's measurements" in r.getMessage()]
    assert len(notes) == 1 and "SRSTREAM_CACHE" in notes[0], notes
    assert cache.get("speed", "k") == 1.0 and cache.get("speed", "k2") == 2.0  # kept for this run


def test_a_large_frame_is_timed_on_a_part_of_it_in_its_own_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each candidate was timed on whole frames of the size in use (a warm-up and three rounds
    each): on 8K video the first run spent four minutes timing. A frame larger than TIMING_AREA is
    timed on a part of that area, in the tiles the whole frame gets, and its speed scaled by area."""
    from srstream.engine import upscaler as upscaler_mod

    assert autotune.timing_size((640, 360)) == ((640, 360), 1.0)
    part, share = autotune.timing_size((7680, 4320))
    assert part == (1920, 1080) and share == 1 / 16
    monkeypatch.setattr(autotune, "TIMING_AREA", 64 * 36)
    monkeypatch.setattr(autotune, "_TIMING_SECONDS", 0.05)
    seen: list[tuple[tuple[int, ...], int | str]] = []
    real_upscale = upscaler_mod.FrameUpscaler.upscale
    monkeypatch.setattr(upscaler_mod.FrameUpscaler, "upscale",
                        lambda self, frame: seen.append((frame.shape[:2], self.tile)) or real_upscale(self, frame))
    monkeypatch.setattr(upscaler_mod, "choose_tile", lambda spec, backend, height, width, requested="auto": 24)
    (fps,) = autotune._time_together(resolve_model("tiny-x2"), [(autotune.backend_def("ort"), "fp32", None)],
                                     (256, 144))
    assert isinstance(fps, float) and fps > 0
    assert seen and all(shape == (36, 64) and tile == 24 for shape, tile in seen)  # the part, the frame's tiles
