"""Live sources: parsing, the latest-frame-wins stages, recording, the latency ladder, errors,
and (under Xvfb) a moving pattern captured from a virtual screen, upscaled and shown in a window
whose screenshot must equal the upscaled frame."""

from __future__ import annotations

import os
import shutil
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import av
import numpy as np
import pytest

from srstream.cli import main
from srstream.commands.live import build_ladder
from srstream.engine.autotune import choose
from srstream.engine.backends import open_backend
from srstream.engine.live import CaptureSource, Rung, run_live
from srstream.engine.messages import LatestFrame, Passthrough, Report
from srstream.engine.pipeline import UpscaleStage
from srstream.engine.live_sinks import Recorder
from srstream.engine.sources import LiveSource, open_capture, parse_live, probe_screen
from srstream.engine.models import resolve_model
from srstream.engine.pattern import draw, read_counter
from srstream.engine.upscaler import FrameUpscaler
from srstream.engine.video import EncodeOptions
from srstream.engine.encode import BT601
from srstream.errors import ConfigError, InputError

GEN = "testsrc2=size=96x64:rate=30"


# -- parsing -------------------------------------------------------------------------------------
def test_parse_live_sources_per_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":5")
    assert parse_live("clip.mp4") is None and parse_live("shots/a.png") is None
    cam = parse_live("camera", fps=30, size="640x480", platform="linux")
    assert (cam.fmt, cam.url, cam.options) == ("v4l2", "/dev/video0", {"framerate": "30", "video_size": "640x480"})
    assert parse_live("camera:2", platform="linux").url == "/dev/video2"
    assert parse_live("camera:/dev/video7", platform="linux").url == "/dev/video7"
    assert parse_live("camera:1", platform="darwin").fmt == "avfoundation"
    assert parse_live("camera:USB Cam", platform="win32").url == "video=USB Cam"
    scr = parse_live("screen", platform="linux")
    assert (scr.fmt, scr.url, scr.options) == ("x11grab", ":5", {"draw_mouse": "0"})
    region = parse_live("screen:1@10,20,640,360", platform="linux")
    assert region.url == ":1+10,20" and region.options["video_size"] == "640x360"
    assert parse_live("screen@0,0,32,16", platform="linux").url == ":5+0,0"
    win = parse_live("screen@5,6,70,80", platform="win32")
    assert win.options == {"offset_x": "5", "offset_y": "6", "video_size": "70x80"}
    assert parse_live("window:Game", platform="win32").url == "title=Game"
    gen = parse_live(f"lavfi:{GEN}")
    assert gen.paced and gen.fmt == "lavfi" and gen.url == GEN
    # its rate picks the tier (taken as 30 whatever it was): rate= or r=, a fraction too; else FFmpeg's 25
    assert (gen.rate, parse_live("lavfi:testsrc2=s=64x48:r=30000/1001,format=gray").rate,
            parse_live("lavfi:color=c=red").rate) == (30, pytest.approx(29.97, abs=0.01), 25)
    for bad, why in [("screen@1,2,3", "x,y,width,height"), ("screen@0,0,0,5", "empty size"),
                     ("camera:front", "number or a /dev/video"), ("lavfi:", "filter graph")]:
        with pytest.raises(ConfigError, match=why):
            parse_live(bad, platform="linux")
    with pytest.raises(ConfigError, match="WIDTHxHEIGHT"):
        parse_live("camera", size="big")
    with pytest.raises(ConfigError, match="positive"):
        parse_live("camera", fps=0)


def test_latest_frame_keeps_the_newest_and_counts_drops() -> None:
    box = LatestFrame()
    assert box.get(timeout=0.01) is None
    for i in range(5):
        box.put(i)
    assert box.get() == 4 and box.dropped == 4
    box.put(5)
    assert box.get() == 5 and box.dropped == 4
    box.close()
    assert box.closed and box.get(timeout=0.01) is None


# -- helpers -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return resolve_model("realtime-x2")


def _rung(model, precision: str, stack: ExitStack) -> Rung:  # noqa: ANN001
    def make() -> FrameUpscaler:
        return FrameUpscaler(stack.enter_context(open_backend(model, choose(model, "ort", precision))), model.spec)

    return Rung(f"{model.spec.name} {precision}", make)


def _generated(n: int, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """The generator's frames as the pipeline converts every source's pictures (BT.601, the
    measured swscale flags)."""
    import av

    from srstream.engine.encode import BT601
    from srstream.engine.pipeline import picture_rgb

    with av.open(f"testsrc2=size={size[0]}x{size[1]}:rate=30", format="lavfi") as c:
        out = []
        for frame in c.decode(video=0):
            out.append(picture_rgb(frame, BT601))
            if len(out) == n:
                return out
    return out


def _decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# -- the camera path, with a generated live source --------------------------------------------
def test_generated_camera_is_recorded_losslessly_in_order(model, tmp_path: Path) -> None:  # noqa: ANN001
    """lavfi goes through open_capture -> capture thread -> upscale -> recorder, as a v4l2
    camera would: every recorded frame is the upscaled version of a source frame, in order."""
    out = tmp_path / "live.mkv"
    source = parse_live(f"lavfi:{GEN}")
    report = Report(source=str(source))
    with ExitStack() as stack:
        rec = Recorder(out, EncodeOptions(codec="ffv1", pix_fmt="bgr0"), report)
        report = run_live(source, [_rung(model, "int8", stack)], sinks=[rec], report=report, max_frames=24)
        expected = [FrameUpscaler(stack.enter_context(open_backend(model, choose(model, "ort", "int8"))),
                                  model.spec).upscale(f) for f in _generated(24)]
    assert report.stopped_by == "frames" and report.frames_in == 24
    assert report.upscaled + report.dropped_before_upscale == 24
    assert report.frames_out == report.upscaled and report.output == out and out.is_file()
    assert not list(tmp_path.glob(".*partial*"))
    frames = _decode(out)
    assert len(frames) == report.frames_out and frames[0].shape == (128, 192, 3)
    position = -1
    for frame in frames:  # each one is an upscaled source frame, later than the previous one
        matches = [i for i, e in enumerate(expected) if np.array_equal(frame, e)]
        assert matches and matches[0] > position
        position = matches[0]
    assert len(report.latency_ms) == report.upscaled and min(report.latency_ms) > 0
    # paced like a device: 24 frames at 30 fps take ~0.8 s, not the few ms a generator needs
    assert report.seconds > 0.5


def test_cli_live_records_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, js = tmp_path / "cam.mp4", tmp_path / "report.json"
    rc = main([f"lavfi:{GEN}", "--frames", "15", "--no-display", "-o", str(out), "--report", str(js)])
    assert rc == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "15 frames captured" in text and "latency p50" in text and "dropped" in text
    import json

    data = json.loads(js.read_text())
    assert data["frames_in"] == 15 and data["frames_out"] == len(_decode(out)) > 0
    assert {"latency_ms_p50", "latency_ms_p99", "dropped_before_upscale", "fps"} <= set(data)
    # what ran, on what machine, into what: the counters alone did not say (as the bench's records do)
    ran = re.search(r" -> (.+?); recording to ", captured.err)
    assert data["model"] == ran[1] and data["output"] == str(out), (data, captured.err)
    assert data["machine"]["cpu"]["usable_cores"] >= 1 and data["srstream"] and data["date"]
    assert main([f"lavfi:{GEN}", "--frames", "3", "--no-display", "-o", str(out)]) == 2  # exists: no overwrite


def test_a_live_recording_streams_to_standard_output(tmp_path: Path) -> None:
    """-o - (to pipe a camera into ffmpeg and on to an RTMP server) wrote a file named "-" and failed
    at its first frame ("writing .-.partial failed"). It streams Matroska to standard output, as a
    file run's -o - does, and the summary goes to standard error."""
    r = subprocess.run([sys.executable, "-m", "srstream", f"lavfi:{GEN}", "--frames", "6", "--no-display", "-o", "-",
                        "--backend", "ort", "--precision", "fp32"], cwd=tmp_path, capture_output=True, timeout=240)
    assert r.returncode == 0, r.stderr.decode()
    assert b"6 frames captured" in r.stderr and b"standard output: 6 frames" in r.stderr
    assert not list(tmp_path.iterdir())  # no file named "-", nothing partial
    (tmp_path / "piped.mkv").write_bytes(r.stdout)
    assert r.stdout[:4] == b"\x1a\x45\xdf\xa3" and len(_decode(tmp_path / "piped.mkv")) == 6
    assert _decode(tmp_path / "piped.mkv")[0].shape[:2] == (128, 192)


@pytest.mark.parametrize("screen", [True, False])
def test_a_screen_capture_is_steadied_as_a_screen_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], screen: bool) -> None:
    """A capture that took the screen variant (as a screen or window capture without --model does) is
    steadied by default, its still frames held harder as a screen recording's in a file are, at the
    clean stream's tolerance; another live source only on --stabilize, without the still rule."""
    import srstream.commands.live as live
    import srstream.engine.stabilize as stabilize

    seen = []
    real = stabilize.StabilizedUpscaler.__init__

    def spy(self, upscaler, strength=0.5, tolerance=stabilize.DEFAULT_TOLERANCE, still=0.0):  # noqa: ANN001
        seen.append((strength, tolerance, still))
        real(self, upscaler, strength, tolerance, still)

    monkeypatch.setattr(stabilize.StabilizedUpscaler, "__init__", spy)
    monkeypatch.setattr(live, "live_model", lambda args, source, found: (resolve_model("realtime-x2-screen"), False))
    flags = [] if screen else ["--model", "tiny-x2", "--stabilize"]
    rc = main([f"lavfi:{GEN}", "--frames", "4", "--no-display", "-o", str(tmp_path / "s.mkv"), *flags])
    assert rc == 0 and seen
    want = (stabilize.DEFAULT_STRENGTH, stabilize.DEFAULT_TOLERANCE, stabilize.STILL_STRENGTH if screen else 0.0)
    assert set(seen) == {want}
    assert ("as for every screen recording" in capsys.readouterr().err) == screen
    seen.clear()
    assert main([f"lavfi:{GEN}", "--frames", "2", "--no-display", "-o", str(tmp_path / "o.mkv"), "--stabilize", "0",
                 *flags[:2]]) == 0
    assert not seen  # --stabilize 0 turns it off


def test_disconnected_device_keeps_the_recording(model, tmp_path: Path) -> None:  # noqa: ANN001
    """A camera that stops sending mid-stream: the run stops, says so, and the file is valid."""
    out = tmp_path / "cut.mp4"
    source = LiveSource("camera", "lavfi", f"{GEN}:d=0.5", label="camera (unplugged after 0.5 s)", paced=True)
    report = Report(source=str(source))
    with ExitStack() as stack:
        rec = Recorder(out, EncodeOptions(preset="veryfast"), report)
        run_live(source, [_rung(model, "int8", stack)], sinks=[rec], report=report)
    assert report.stopped_by == "disconnected" and "stopped sending frames after 15" in report.notes[0]
    assert out.is_file() and len(_decode(out)) == report.frames_out > 0


def test_interrupt_finalises_the_recording(model, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "stopped.mp4"
    report = Report()
    seen = []

    def ctrl_c_after_five(frame) -> None:  # noqa: ANN001
        seen.append(frame)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with ExitStack() as stack:
        rec = Recorder(out, EncodeOptions(preset="veryfast"), report)
        run_live(parse_live(f"lavfi:{GEN}"), [_rung(model, "int8", stack)], sinks=[rec], report=report,
                 on_shown=ctrl_c_after_five)
    assert report.stopped_by == "interrupt" and out.is_file() and len(_decode(out)) == report.frames_out >= 5


def test_a_headless_recording_takes_the_decoders_planes_in_the_sources_matrix(
        model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Without a window, a 4:2:0 source goes to a 4:2:0 encoder without RGB between, as a file's does (on a
    2-core Zen 4 the stage took 19-20 ms a frame for tiny-x2-deep against 26-31 through RGB): the recording
    holds the kernels' planes as they are (x264 lossless here), tagged with the source's matrix."""
    from srstream.engine.pipeline import _limited_range, plane_view

    gen = "testsrc2=size=96x64:rate=30,trim=end_frame=1,loop=loop=-1:size=1,setpts=N/30/TB,format=yuv420p"
    out = tmp_path / "rec.mp4"
    source = parse_live(f"lavfi:{gen}")
    report = Report(source=str(source))
    monkeypatch.setattr(UpscaleStage, "to_rgb", lambda *a, **k: pytest.fail("converted to RGB"))
    with ExitStack() as stack:
        rec = Recorder(out, EncodeOptions(codec="libx264", crf=0, preset="ultrafast"), report)
        rung = _rung(model, "int8", stack)
        run_live(source, [rung], sinks=[rec], report=report, max_frames=5)
        with av.open(gen, format="lavfi") as c:  # every frame is the first
            first = next(c.decode(video=0))
        expected = rung.make().upscale_yuv420(*(plane_view(p) for p in first.planes), matrix=_limited_range(BT601))
    assert report.frames_out > 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.colorspace == rec.matrix == BT601  # what the generator says
        for frame in c.decode(video=0):
            assert np.array_equal(frame.to_ndarray(format="yuv420p"), expected)


def test_a_recording_the_encoder_refuses_stops_at_the_first_frame(model, tmp_path: Path) -> None:  # noqa: ANN001
    """DNxHR takes nothing under 256x120: said at the first frame, from a rehearsal in memory,
    with no file left (before, the recorder's thread failed with 'Invalid argument')."""
    from srstream.errors import OutputError

    out = tmp_path / "rec.mov"
    report = Report()
    with ExitStack() as stack, pytest.raises(OutputError, match="dnxhd: Input dimensions too small"):
        rec = Recorder(out, EncodeOptions(codec="dnxhd"), report)
        stack.enter_context(rec.pending)
        run_live(parse_live(f"lavfi:{GEN}"), [_rung(model, "int8", stack)], sinks=[rec], report=report, max_frames=5)
    assert not list(tmp_path.iterdir())


def test_max_latency_steps_down_the_ladder(model, tmp_path: Path) -> None:  # noqa: ANN001
    labels = []
    with ExitStack() as stack:
        ladder = [_rung(model, "fp32", stack), _rung(model, "int8", stack)]
        report = run_live(parse_live(f"lavfi:{GEN}"), ladder, max_frames=40, max_latency_ms=0.01,
                          on_shown=lambda f: labels.append(f.label))
        assert len(report.switches) == 1 and "fp32 -> realtime-x2 int8" in report.switches[0]
        assert labels[0].endswith("fp32") and labels[-1].endswith("int8")
        # the CLI's ladder for the default model: INT8 first when fp32 was asked for
        # (the INT8 rung is the fastest INT8 backend that is accurate on this machine: ort or ov)
        # (then the smaller tiers, tiny-x2-deep and tiny-x2, largest first)
        cli = [r.label for r in build_ladder(model, "ort", "fp32", "auto", stack)]
        assert cli[0] == "realtime-x2 x2 ort/fp32" and len(cli) == 4
        assert cli[1].startswith("realtime-x2 x2 ") and cli[1].endswith("/int8")
        assert cli[2].startswith("tiny-x2-deep x2 ") and cli[3].startswith("tiny-x2 x2 ")
        # a variant of the same graph is no faster, so it is no rung; a smaller same-scale model is
        variant = [r.label for r in build_ladder(resolve_model("realtime-x2-compressed"), "ort", "fp32", "auto", stack)]
        assert variant[0] == "realtime-x2-compressed x2 ort/fp32" and len(variant) == 4
        assert variant[1].startswith("realtime-x2-compressed x2 ") and variant[1].endswith("/int8")
        assert variant[2].startswith("tiny-x2-deep x2 ") and variant[3].startswith("tiny-x2 x2 ")
        quality = [r.label for r in build_ladder(resolve_model("quality-x4"), "ort", "fp32", "auto", stack)]
        assert quality[0] == "quality-x4 x4 ort/fp32" and len(quality) == 2 and quality[1].startswith("realtime-x4 x4 ")


def test_missing_devices_are_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="camera /dev/video57"):
        open_capture(parse_live("camera:57", platform="linux"))
    with pytest.raises(InputError, match="X server"):
        open_capture(parse_live("screen::93@0,0,32,32", platform="linux"))
    assert main(["camera:57", "--no-display", "--frames", "2"]) != 0
    assert "camera /dev/video57" in capsys.readouterr().err


def test_display_without_a_screen_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    monkeypatch.setenv("DISPLAY", ":94")
    from srstream.engine.display import WindowDisplay

    with pytest.raises(InputError, match="--no-display"):
        WindowDisplay()


def test_display_on_linux_without_a_desktop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    """No DISPLAY, no WAYLAND_DISPLAY (a server, an SSH session): SDL's Wayland probe printed 'error:
    XDG_RUNTIME_DIR is invalid or not set', then its offscreen driver took the window, and the run
    'showed' every frame to nobody."""
    pytest.importorskip("pygame")
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux's display variables")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    from srstream.engine.display import WindowDisplay

    try:
        window = WindowDisplay()
    except InputError as exc:
        assert "--no-display" in str(exc)
    else:  # a machine whose console SDL can draw on (KMS/DRM): a real screen
        assert window.pg.display.get_driver() == "kmsdrm"
        window.pg.display.quit()
    assert "XDG_RUNTIME_DIR" not in capfd.readouterr().err
    assert "SDL_VIDEODRIVER" not in os.environ


def test_window_modes_and_keys_headless(model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """The window's A/B toggle and overlay, with SDL's dummy video driver (no screen needed)."""
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from srstream.engine.display import WindowDisplay

    shown = []
    window = WindowDisplay(overlay=True)
    with ExitStack() as stack:

        def watch(frame) -> None:  # noqa: ANN001
            shown.append((window.original, window.last.copy(), frame))
            if len(shown) == 3:
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_TAB))
            if len(shown) == 6:
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q))

        report = run_live(parse_live(f"lavfi:{GEN}"), [_rung(model, "int8", stack)], display=window,
                          max_frames=200, on_shown=watch)
    assert report.stopped_by == "user" and report.shown == 6 == len(report.latency_ms)
    # a stop leaves frames waiting between the stages: they count as dropped, every frame accounted for
    assert report.frames_in == report.upscaled + report.dropped_before_upscale
    assert report.upscaled == report.shown + report.dropped_before_display
    for original, picture, frame in shown:
        if original:  # nearest-neighbour enlargement of the captured frame
            assert np.array_equal(picture, np.repeat(np.repeat(frame.input, 2, 0), 2, 1))
        else:
            assert picture is not None and np.array_equal(picture, frame.rgb)
    assert [s[0] for s in shown] == [False] * 3 + [True] * 3


# -- under Xvfb: a real window on a virtual screen -------------------------------------------------
@pytest.fixture(scope="module")
def xvfb():
    """A private Xvfb display (':N'), or a skip saying how to get one."""
    pytest.importorskip("pygame")
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("needs Xvfb (bash tests/system-deps.sh, or apt install xvfb)")
    read, write = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=10)


def _pattern(display: str, size: str, pos: str, seconds: float, log: Path | None = None) -> subprocess.Popen:
    """The test-pattern window, returned once it is on screen and drawing (its log has frames):
    on a loaded machine that can take several seconds, so nothing waits a fixed time."""
    import tempfile

    if log is None:
        log = Path(tempfile.mkdtemp()) / "pattern.tsv"
    cmd = [sys.executable, "-m", "srstream.engine.pattern", "--size", size, "--pos", pos, "--seconds", str(seconds),
           "--log", str(log)]
    proc = subprocess.Popen(cmd, env={**os.environ, "DISPLAY": display, "SDL_VIDEODRIVER": "x11"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 3:
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the test pattern window did not start drawing within 60 s (exit {proc.poll()})")


def _grab(display: str, x: int, y: int, w: int, h: int) -> np.ndarray:
    import av

    with av.open(f"{display}+{x},{y}", format="x11grab", options={"video_size": f"{w}x{h}", "draw_mouse": "0"}) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


@pytest.mark.parametrize("overlay", [False, True])
def test_screen_capture_is_upscaled_and_shown(xvfb: str, model, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                              overlay: bool) -> None:
    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    import pygame

    from srstream.engine.display import WindowDisplay

    painter = _pattern(xvfb, "160x96", "0,0", 30)
    try:
        source = parse_live(f"screen:{xvfb}@0,0,160,96", fps=30)
        window = WindowDisplay(overlay=overlay, position=(200, 0))
        shots, counters = [], []

        def check(frame) -> None:  # noqa: ANN001
            counters.append(read_counter(frame.input))
            if len(counters) in (5, 12):  # the window's pixels on the screen, right after the flip
                shots.append((_grab(xvfb, 200, 0, 320, 192), window.last.copy(), frame))
            if len(counters) == 12:  # stop by the frames shown, not captured: a slow CPU drops most
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q))

        with ExitStack() as stack:
            report = run_live(source, [_rung(model, "int8", stack)], display=window, max_frames=600, on_shown=check)
            fresh = FrameUpscaler(stack.enter_context(open_backend(model, choose(model, "ort", "int8"))), model.spec)
            for screen, shown, frame in shots:
                assert np.array_equal(shown, frame.rgb)  # the window shows the upscaled frame
                assert np.array_equal(fresh.upscale(frame.input), frame.rgb)  # ... of what was captured
                diff = np.any(screen != shown, axis=2)
                if overlay:  # only the overlay box (top left) differs, and it does
                    ys, xs = np.nonzero(diff)
                    assert diff.any() and ys.max() < 80 and xs.max() < 300
                else:
                    assert not diff.any()
    finally:
        painter.terminate()
        painter.wait(timeout=10)
    assert len(shots) == 2
    # the pattern moved: captured frames carry increasing frame numbers drawn by the painter
    assert counters == sorted(counters) and counters[-1] > counters[0]
    src = shots[0][2].input
    assert np.array_equal(src, draw(counters[4], 160, 96))  # x11grab gives the painter's pixels
    assert report.stopped_by == "user" and report.shown == len(report.latency_ms) == 12
    assert report.frames_in == report.upscaled + report.dropped_before_upscale
    assert np.isfinite(report.percentile(report.latency_ms, 99))


def test_cli_shows_a_screen_region(xvfb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    painter = _pattern(xvfb, "160x96", "0,0", 15)
    try:
        js, rec = tmp_path / "live.json", tmp_path / "rec.mkv"
        rc = main([f"screen:{xvfb}@0,0,160,96", "--fps", "30", "--frames", "30", "--window-pos", "200,0",
                   "-o", str(rec), "--report", str(js)])
    finally:
        painter.terminate()
        painter.wait(timeout=10)
    assert rc == 0
    data = json.loads(js.read_text())
    assert data["frames_in"] == 30 and data["shown"] > 0 and data["latency_ms_p99"] >= data["latency_ms_p50"] > 0
    frames = _decode(rec)
    assert len(frames) == data["frames_out"] and frames[0].shape == (192, 320, 3)
    assert "capture-to-display latency" in capsys.readouterr().out


def test_a_whole_screen_is_sized_before_its_tier_is_picked(xvfb: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole screen's capture says no size until opened: its tier was picked at 640x360 whatever
    the screen, too slow a tier for a larger one. It is opened once first, and the tier picked at its
    own size; a region and a camera are left as they are (nothing opened)."""
    from srstream.engine import autotune

    screen = parse_live(f"screen:{xvfb}", platform="linux")
    assert screen.size is None and probe_screen(screen).size == (1280, 720)
    for known in (parse_live("screen::93@0,0,32,32", platform="linux"), parse_live("camera:0", platform="linux")):
        assert probe_screen(known) is known

    seen = []

    def pick_tier(scale, *, fps, size=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.append(size)
        raise ConfigError("stop here: the tier's size is what this test wants")

    monkeypatch.setenv("DISPLAY", xvfb)
    monkeypatch.setattr(autotune, "pick_tier", pick_tier)
    assert main([f"screen:{xvfb}", "--frames", "3", "--no-display", "-o", str(tmp_path / "rec.mp4")]) != 0
    assert seen == [(1280, 720)] and not (tmp_path / "rec.mp4").exists()


def test_window_by_title(xvfb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("xwininfo") is None:
        pytest.skip("needs xwininfo (apt install x11-utils)")
    monkeypatch.setenv("DISPLAY", xvfb)
    painter = _pattern(xvfb, "128x48", "30,40", 10)
    try:
        source = parse_live("window:sr-stream test pattern", platform="linux")
        assert source.url == xvfb and source.options["window_id"].startswith("0x") and "128x48" in source.label
        container = open_capture(source)
        try:
            frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
        finally:
            container.close()
        assert frame.shape == (48, 128, 3) and read_counter(frame) > 0  # the window's own pixels
        assert source.size is None and probe_screen(source).size == (128, 48)  # its size, for the tier
    finally:
        painter.terminate()
        painter.wait(timeout=10)
    with pytest.raises(InputError, match="no window titled"):
        parse_live("window:no such window here", platform="linux")


def test_a_slow_upscaler_never_holds_up_the_capture(model) -> None:  # noqa: ANN001
    """The stages are decoupled: with an upscaler far slower than the 30 fps source, capture keeps
    its pace and the frames the upscaler cannot take are dropped and counted, not queued."""
    import time as _time

    class Slow:
        def __init__(self, inner: FrameUpscaler) -> None:
            self.inner, self.spec = inner, inner.spec

        def upscale(self, frame: np.ndarray) -> np.ndarray:
            _time.sleep(0.15)
            return self.inner.upscale(frame)

        def takes_yuv420(self, height: int, width: int) -> bool:
            return self.inner.takes_yuv420(height, width)

        def upscale_yuv420(self, *planes: np.ndarray, **how: object) -> np.ndarray:  # a run without a window's path
            _time.sleep(0.15)
            return self.inner.upscale_yuv420(*planes, **how)

    with ExitStack() as stack:
        rung = _rung(model, "int8", stack)
        slow = Rung("slow", lambda: Slow(rung.make()))
        report = run_live(parse_live(f"lavfi:{GEN}"), [slow], max_seconds=1.5)
    assert report.frames_in >= 25  # about 45 at 30 fps; the capture never waited for the upscaler
    assert report.upscaled <= 12 and report.dropped_before_upscale >= report.frames_in - report.upscaled - 2


# -- network streams -----------------------------------------------------------------------------
def test_parse_network_streams() -> None:
    """A stream's URL was taken for a file path (and its "//" folded): "input rtsp:/cam does not exist"."""
    from srstream.engine.sources import is_stream_url, shown_url

    cam = parse_live("rtsp://admin:s3cret@192.168.1.20:554/Streaming/Channels/101")
    assert (cam.kind, cam.fmt, cam.options) == ("stream", "", {"rtsp_transport": "tcp"})  # TCP: no lost packets
    assert cam.url.endswith("/Channels/101") and "s3cret" not in str(cam) and "admin:***@" in str(cam)
    feed = parse_live("udp://127.0.0.1:1234?fifo_size=100000")
    assert (feed.kind, feed.options) == ("stream", {}) and not feed.paced
    assert is_stream_url("SRT://host:9000") and is_stream_url("https://example.com/live.m3u8")
    assert not is_stream_url("ftp://host/clip.mp4") and not is_stream_url("clip.mp4")
    assert parse_live("ftp://host/clip.mp4") is None
    assert shown_url("rtmp://live.example.com/app/key") == "rtmp://live.example.com/app/key"
    with pytest.raises(ConfigError, match="network stream sends its own"):
        parse_live("rtsp://cam/stream", fps=30)
    with pytest.raises(ConfigError, match="download it first"):  # read live, it would lose frames
        parse_live("https://example.com/films/clip.MP4?token=1")
    assert parse_live("https://example.com/live/index.m3u8").kind == "stream"
    assert parse_live("http://192.168.1.5/video.mjpg").kind == "stream"


def _send_udp(port: int, stop, delay: float = 0.5, sound: bool = False, crf: int | None = None,  # noqa: ANN001
              url: str | None = None, fmt: str = "mpegts", seconds: float = 60) -> None:
    """An MPEG-TS stream of moving frames at 25 fps to 127.0.0.1:``port``, as a network camera
    sends, until ``stop`` is set (at most ``seconds``). With ``sound``, AAC beside it, silent but for a
    tone during every tenth frame, which is white (the clap a recording is synchronised by). With
    ``crf``, H.264 at that CRF of a textured scene panning (a camera's picture) instead of MPEG-2.
    ``url``: another destination (a server to connect to, tried until it listens), in ``fmt``."""
    import av

    time.sleep(delay)
    texture = np.random.default_rng(0).integers(0, 256, (48, 160, 3), dtype=np.uint8)
    texture = ((texture.astype(np.float32) + np.roll(texture, 1, 1) + np.roll(texture, 1, 0)) / 3).astype(np.uint8)
    target = url or f"udp://127.0.0.1:{port}?pkt_size=1316"
    for _ in range(150):  # a server may not listen yet: PyAV connects when the header is written
        out = av.open(target, "w", format=fmt)
        stream = out.add_stream("mpeg2video" if crf is None else "libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "5"} if crf is None else {"g": "5", "crf": str(crf), "tune": "zerolatency"}
        if sound:
            audio = out.add_stream("aac", rate=48000)
            audio.layout = "mono"
            sent = 0  # samples
        try:
            out.start_encoding()
            break
        except (av.error.ConnectionRefusedError, av.error.ExitError):  # (RTMP's handshake, with none there)
            if stop.wait(0.2):
                return
    try:  # (a server that has its frames hangs up: the sending ends there)
        with out:
            start = time.perf_counter()
            for i in range(round(25 * seconds)):
                if stop.is_set():
                    break
                rgb = np.zeros((48, 64, 3), np.uint8)
                rgb[10:30, i % 40:i % 40 + 10] = 255
                if crf is not None:
                    rgb = np.ascontiguousarray(texture[:, i % 96:i % 96 + 64])
                if sound and i % 10 == 0:
                    rgb[:] = 255
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                for packet in stream.encode(frame):
                    out.mux(packet)
                while sound and sent < (i + 1) * 48000 // 25:  # the sound up to the frame's end
                    t = (sent + np.arange(1024)) / 48000
                    wave = np.where((t * 25).astype(int) % 10 == 0, 0.5 * np.sin(2 * np.pi * 1000 * t), 0)
                    samples = av.AudioFrame.from_ndarray(wave.astype(np.float32)[None], format="fltp", layout="mono")
                    samples.sample_rate, samples.pts = 48000, sent
                    for packet in audio.encode(samples):
                        out.mux(packet)
                    sent += 1024
                time.sleep(max(0.0, start + (i + 1) / 25 - time.perf_counter()))
    except (BrokenPipeError, ConnectionResetError):
        pass


def _streamed(args: list[str], scheme: str = "udp", **send: object) -> tuple[int, str]:
    """``main`` on a stream :func:`_send_udp` sends (``send``: its options) to a free local port, the sender
    stopped after: (the exit code, the URL). ``scheme``: udp (MPEG-TS sent to sr-stream), or tcp (MPEG-TS),
    rtmp (FLV) or rtsp (RTP) pushed to sr-stream as its server."""
    import socket
    import threading

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url, send = {"udp": (f"udp://127.0.0.1:{port}", send),
                 "tcp": (f"tcp://127.0.0.1:{port}?listen", {"url": f"tcp://127.0.0.1:{port}"} | send),
                 "rtmp": (f"rtmp://127.0.0.1:{port}/live?listen=1",
                          {"url": f"rtmp://127.0.0.1:{port}/live/key", "fmt": "flv"} | send),
                 "rtsp": (f"rtsp://127.0.0.1:{port}/live?listen", {"url": f"rtsp://127.0.0.1:{port}/live",
                                                                    "fmt": "rtsp"} | send)}[scheme]
    stop = threading.Event()
    sender = threading.Thread(target=_send_udp, args=(port, stop), kwargs=send, daemon=True)
    sender.start()
    try:
        return main([url, *args]), url
    finally:
        stop.set()  # the sender goes on until the reader has its frames, however slow the machine
        sender.join(timeout=10)


def test_cli_upscales_and_records_a_network_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec.mkv"
    rc, url = _streamed(["--frames", "12", "--no-display", "-o", str(out), "--model", "tiny-x2", "--backend", "ort",
                        "--precision", "fp32"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "12 frames captured" in captured.out and f"stream {url}" in captured.out
    frames = _decode(out)
    assert len(frames) > 0 and frames[0].shape[:2] == (96, 128)


def test_a_network_streams_sound_is_recorded_in_step_with_its_pictures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A recording of an IP camera's or a live channel's stream had no sound: the stream's audio was
    never read. Now it is recorded beside the pictures, on the stream's clock: each tone starts
    with its white frame. With --no-audio, none."""
    import av

    def record(out: Path, *extra: str) -> None:
        rc, _ = _streamed(["--frames", "45", "--no-display", "-o", str(out), "--model", "tiny-x2", "--backend",
                          "ort", "--precision", "fp32", *extra], sound=True)
        assert rc == 0, capsys.readouterr().err

    out = tmp_path / "rec.mp4"
    record(out)
    assert "45 frames; with the stream's audio stream #1 (aac)" in capsys.readouterr().out
    with av.open(str(out)) as container:
        flashes = [float(f.time) for f in container.decode(video=0) if f.to_ndarray(format="gray").mean() > 200]
        container.seek(0)
        tones, level = [], 0.0
        for f in container.decode(audio=0):
            loud = np.abs(f.to_ndarray()).max() > 0.2
            if loud and level <= 0.2:  # a tone starts in this frame of 1024 samples: where exactly
                at = int(np.argmax(np.abs(f.to_ndarray()[0]) > 0.2))
                tones.append(float(f.time) + at / f.sample_rate)
            level = np.abs(f.to_ndarray()).max()
    assert len(flashes) >= 3 and len(tones) >= 3
    for flash in flashes:  # each white frame has its tone, within a frame (AAC adds 21 ms of priming)
        assert min(abs(flash - tone) for tone in tones) < 0.045, (flashes, tones)
    quiet = tmp_path / "quiet.mkv"
    record(quiet, "--no-audio")
    with av.open(str(quiet)) as container:
        assert not container.streams.audio and container.streams.video


def test_a_network_stream_is_probed_and_gets_the_model_its_compression_calls_for(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A network stream ran the default tier, timed at 640x360 and 30 fps whatever it sent, and
    never its compressed variant: only files were measured. Its first second is now read first:
    its size, rate and quantiser pick the tier and the variant (and the stabiliser), as for a file."""
    rc, url = _streamed(["--frames", "6", "--no-display", "-o", str(tmp_path / "r.mkv"), "--backend", "ort",
                        "--precision", "fp32"], crf=40)
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"stream {url}: 64x48, 25 fps, h264 at mean quantiser" in err
    assert "at 64x48 here" in err and "holds 25 fps" in err  # the tier, timed at the stream's size and rate
    assert "compressed hard" in err and "-> realtime-x2-compressed x2" in err and "steadying" in err
    assert len(_decode(tmp_path / "r.mkv")) >= 1


def test_a_network_stream_is_opened_once_for_its_probe_and_its_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's connection was closed and the run opened its own, waiting for a keyframe and FFmpeg's
    analysis again (about 4 s more before the first frame, for a stream with a keyframe every 5 s). It
    is kept for the run: one connection, its pictures from the live edge on, every one recorded."""
    from srstream.engine import live, sources

    opened = []
    real = sources.open_capture

    def counted(source, **waiting):  # noqa: ANN001, ANN003, ANN202
        opened.append(str(source))
        return real(source, **waiting)

    monkeypatch.setattr(sources, "open_capture", counted)
    monkeypatch.setattr(live, "open_capture", counted)
    rc, url = _streamed(["--frames", "12", "--no-display", "-o", str(tmp_path / "r.mkv"), "--model", "tiny-x2",
                        "--backend", "ort", "--precision", "fp32", "--stabilize", "0"], crf=30)
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert opened == [f"stream {url}"], opened
    assert "12 frames captured" in out and len(_decode(tmp_path / "r.mkv")) == 12


@pytest.mark.parametrize("scheme", ["tcp", "rtmp", "rtsp"])
def test_a_stream_pushed_to_sr_stream_as_its_server_is_waited_for_and_probed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    """OBS or a camera pushing to sr-stream (``tcp://...?listen``, ``rtmp://...?listen=1``,
    ``rtsp://...?listen``) connects once. Such a stream was not probed (the probe's connection, closed, took
    the sender with it), so it ran the default tier and never the compressed variant; sr-stream gave up on
    its sender after 10 s (FFmpeg's "Immediate exit requested"); and RTMP's and RTSP's ``listen`` in the URL,
    which FFmpeg does not read there, connected to a server instead ("Connection refused"). The sender is
    now waited for however long it takes, and its stream probed on the one connection the run goes on with."""
    from srstream.engine import sources

    monkeypatch.setattr(sources, "OPEN_TIMEOUT", 1.0)  # the sender comes after the time anything else gets
    rc, url = _streamed(["--frames", "10", "--no-display", "-o", str(tmp_path / "r.mkv"), "--backend", "ort",
                        "--precision", "fp32"], scheme, delay=2.5, crf=40)
    captured = capsys.readouterr()
    assert rc == 0 and "10 frames captured" in captured.out, captured.err
    assert f"waiting for a sender to connect to {url}" in captured.err
    assert f"stream {url}: 64x48, 25 fps, h264 at mean quantiser" in captured.err
    assert "-> realtime-x2-compressed x2" in captured.err
    assert len(_decode(tmp_path / "r.mkv")) >= 1


def test_a_stream_pushed_to_sr_stream_ends_when_its_sender_leaves(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An RTMP sender that stops (OBS's "Stop Streaming", ffmpeg at the end of its input) fails as a dropped
    connection does: the run waited 30 s for it and exited 3, "could not reconnect". Its sender not coming
    back is the end of a pushed stream: the run ends as a stream that ends does, and says so."""
    from srstream.engine import live as live_mod

    monkeypatch.setattr(live_mod, "RECONNECT_SECONDS", 2.0)
    rc, url = _streamed(["--no-display", "-o", str(tmp_path / "r.mkv"), "--model", "tiny-x2", "--backend", "ort",
                        "--precision", "fp32"], "rtmp", crf=30, seconds=10)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "its sender left after" in captured.err and "did not come back within 2 s; the stream ends there" \
        in captured.err
    assert "stopped: source-ended" in captured.out
    assert len(_decode(tmp_path / "r.mkv")) >= 10


def test_a_sender_that_leaves_before_the_run_begins_is_not_waited_for_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A pushed stream whose sender left after the probe, while the model was prepared: the held
    connection's failure dropped what it had kept and the run listened again, for ever, for a sender
    that had gone. The run now takes the failed connection, and the wait for the sender's return
    is the one any failure gets."""
    import _thread
    import threading

    from srstream.engine import live as live_mod

    monkeypatch.setattr(live_mod, "RECONNECT_SECONDS", 2.0)
    watchdog = threading.Timer(40, _thread.interrupt_main)  # the old way never ended
    watchdog.start()
    try:
        rc, _ = _streamed(["--no-display", "-o", str(tmp_path / "r.mkv"), "--model", "tiny-x2", "--backend", "ort",
                          "--precision", "fp32"], "rtmp", crf=30, seconds=1.4)
    finally:
        watchdog.cancel()
    err = capsys.readouterr().err
    assert rc != 130, err
    assert rc == 3 and "delivered no frames (stream rtmp://" in err and not (tmp_path / "r.mkv").exists()
    assert "its sender left after 0 frames and did not come back within 2 s; the stream ends there)" in err


def test_a_udp_stream_is_waited_for_and_ends_when_its_sender_stops(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A UDP stream is sent to sr-stream, as to a player: started before its sender, sr-stream gave up
    after 10 s ("Immediate exit requested"), where ffplay and VLC wait. It now waits, and the sender
    stopping ends the run as a stream's end does (it exited 3, "could not reconnect", 30 s later)."""
    from srstream.engine import live as live_mod
    from srstream.engine import sources

    monkeypatch.setattr(sources, "OPEN_TIMEOUT", 1.0)  # the sender comes after the time a server gets
    monkeypatch.setattr(sources, "READ_TIMEOUT", 2.0)
    monkeypatch.setattr(live_mod, "RECONNECT_SECONDS", 2.0)
    rc, url = _streamed(["--no-display", "-o", str(tmp_path / "r.mkv"), "--model", "tiny-x2", "--backend", "ort",
                        "--precision", "fp32"], delay=2.5, seconds=5)
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"waiting for the stream sent to {url}" in err
    assert "its sender left after" in err and "stopped: source-ended" in out
    assert len(_decode(tmp_path / "r.mkv")) >= 10


def test_ctrl_c_while_a_stream_is_opened_ends_the_run_at_once(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A camera or server that takes the connection and sends nothing held Ctrl-C for FFmpeg's 10 s, after
    which the run failed ("Immediate exit requested"). Ctrl-C now ends it at once (exit 130)."""
    import _thread
    import socket
    import threading

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        accepted = []

        def interrupt() -> None:  # Ctrl-C once sr-stream is connected and waiting
            connection, _ = server.accept()
            accepted.append((connection, time.perf_counter()))
            time.sleep(0.5)
            _thread.interrupt_main()

        threading.Thread(target=interrupt, daemon=True).start()
        rc = main([f"tcp://127.0.0.1:{port}", "--frames", "10", "--no-display", "-o", str(tmp_path / "r.mkv")])
        assert accepted, "it never connected"
        took = time.perf_counter() - accepted[0][1]
        accepted[0][0].close()
    assert rc == 130 and took < 4, (rc, took, capsys.readouterr().err)
    assert not (tmp_path / "r.mkv").exists()


def test_a_server_that_fails_is_sent_to_again(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A server sent to that restarted, or a connection that dropped, ended the run (exit 4, "sending to ...
    failed after N frames"). The server is now connected to again, a second apart, for up to 30 s, as OBS
    does, and the run goes on; the frames upscaled meanwhile are dropped and counted."""
    import socket
    import subprocess
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"rtmp://127.0.0.1:{port}/live/key"

    def server(frames: int | None) -> subprocess.Popen:  # an RTMP server that leaves after ``frames``
        # (one that leaves stops at once, as a server that restarts: closing the connection waits on the sender)
        code = (f"import av, os\nn = 0\ntry:\n    with av.open({url!r}, options={{'listen': '1'}}, timeout=30) as c:\n"
                "        for f in c.decode(video=0):\n            n += 1\n"
                f"            if n == {frames or 0}:\n                print(n, flush=True)\n"
                "                os._exit(0)\n"
                "except av.error.FFmpegError:\n    pass\nprint(n)\n")
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)

    got: list[int] = []

    def servers(again: bool) -> None:  # the first leaves after 10 frames; the second comes up once it has gone
        first = server(10)
        got.append(int(first.communicate(timeout=60)[0]))
        if again:
            second = server(None)
            got.append(int(second.communicate(timeout=60)[0]))

    def run(again: bool = True) -> int:
        got.clear()
        serving = threading.Thread(target=servers, args=(again,), daemon=True)
        serving.start()
        time.sleep(1.0)
        # (noise, whose frames are big: small ones fill the socket's buffers for seconds before a write fails)
        # (7 s: on a loaded machine the failure shows 3-4 s in, and the second server gets what comes after)
        rc = main(["lavfi:nullsrc=size=320x180:rate=25,geq=lum='random(1)*255':cb=128:cr=128", "--frames", "175",
                   "--no-display", "-o", url, "--model", "tiny-x2", "--backend", "ort", "--precision", "fp32"])
        serving.join(timeout=60)
        return rc

    rc = run()
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert re.search(rf"sending to {re.escape(url)} failed after \d+ frames \(.+\) and was connected again \d+ s "
                     "later", captured.err), captured.err
    sent = int(re.search(rf"{re.escape(url)}: (\d+) frames", captured.out)[1])
    assert got[0] == 10 and got[1] >= 20 and sent >= got[1], (got, sent, captured.out)
    assert "dropped by the encoder" in captured.out
    from srstream.engine import live_sinks

    monkeypatch.setattr(live_sinks, "RESEND_SECONDS", 1.0)  # one that does not come back: the run fails for it
    assert run(again=False) == 4
    err = capsys.readouterr().err
    assert re.search(rf"error: sending to {re.escape(url)} failed after \d+ frames \(.+\) and it could not be "
                     "reached again within 1 s", err), err


def test_a_live_runs_output_is_refused_before_its_source_is_opened(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A live run's ``-o`` ending in a picture's extension or none failed at the first frame, after the model
    had loaded (exit 4, "writing .rec.p_1k83_2.partial failed"); an HLS playlist was written naming the
    recording's temporary file as its one segment; an output that exists was said only after a pushed
    stream's sender, waited for however long, had come. Each is refused first now (exit 2)."""
    import _thread
    import threading

    for name, said in (("rec.png", "a live run records a video; end it with one of .mp4"),
                       ("rec", "a live run records a video"), ("live.m3u8", "a server that makes HLS of it")):
        assert main(["lavfi:testsrc2=size=64x48:rate=25", "--frames", "3", "--no-display", "-o",
                     str(tmp_path / name), "--model", "tiny-x2"]) == 2
        err = capsys.readouterr().err
        assert said in err and "->" not in err, err  # (the run's header: the model was not prepared)
    assert not list(tmp_path.iterdir())
    (tmp_path / "rec.mp4").write_bytes(b"kept")
    watchdog = threading.Timer(20, _thread.interrupt_main)  # a sender waited for: the old way never ended
    watchdog.start()
    try:
        rc = main(["rtmp://127.0.0.1:9/live?listen=1", "--no-display", "-o", str(tmp_path / "rec.mp4")])
    finally:
        watchdog.cancel()
    err = capsys.readouterr().err
    assert rc == 2 and "rec.mp4 exists; pass --overwrite" in err and "waiting" not in err, err
    assert (tmp_path / "rec.mp4").read_bytes() == b"kept"


@pytest.mark.parametrize("scheme", ["rtmp", "udp", "rtsp"])
def test_a_live_run_is_sent_to_a_server(tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str) -> None:
    """``-o rtmp://server/live/KEY`` (YouTube's, Twitch's or one's own ingest) or ``-o udp://HOST:PORT`` was
    taken for a file path, its "//" folded ("rtmp:/127.0.0.1:1940/live is not a folder"). The upscaled
    frames are now sent there as they come: FLV over RTMP, MPEG-TS over UDP, RTP over RTSP's TCP
    connection (to MediaMTX, say; its muxer was tried in memory, which it cannot write to, and every
    run failed, "a .mp4 recording with libx264 cannot be written"). A server that is not there says so,
    before any frame; a file input is refused (it is upscaled into a file)."""
    import socket
    import subprocess
    import sys

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = {"rtmp": f"rtmp://127.0.0.1:{port}/live/key", "udp": f"udp://127.0.0.1:{port}?pkt_size=1316",
           "rtsp": f"rtsp://127.0.0.1:{port}/live"}[scheme]
    # the server (RTMP; RTSP, as FFmpeg takes a stream sent to it) or the receiving end (UDP), in a process of
    # its own (PyAV holds the GIL while it connects, so a receiver beside it in this process waits on it as
    # it waits on the receiver)
    # (RTSP's wait is its own option: its default, for ever, fails at once in FFmpeg 8, "Numerical result out of range")
    served = {"rtmp": {"listen": "1"}, "rtsp": {"rtsp_flags": "listen", "listen_timeout": "30"}}.get(scheme, {})
    receive = (f"import av\nwith av.open({url.split('?')[0]!r}, options={served!r}, "
               f"timeout={None if scheme == 'rtsp' else 30}) as c:\n    for i, f in enumerate(c.decode(video=0)):\n"
               # an RTSP server reads to the sender's end (its leaving first broke the sender's pipe)
               f"        print(f.width, f.height, flush=True)\n        if i == 9 and {scheme != 'rtsp'}: break\n")
    receiver = subprocess.Popen([sys.executable, "-c", receive], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        rc = main(["lavfi:testsrc2=size=64x48:rate=25", "--frames", "30", "--no-display", "-o", url, "--model",
                   "tiny-x2", "--backend", "ort", "--precision", "fp32"])
        got = receiver.communicate(timeout=30)[0].split("\n")
    finally:
        receiver.kill()
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"sending to {url}" in captured.err and f"{url}: " in captured.out
    sent = int(re.search(rf"{re.escape(url)}: (\d+) frames", captured.out)[1])
    assert len([line for line in got if line == "128 96"]) == (sent if scheme == "rtsp" else 10) >= 10, got
    if scheme == "rtmp":
        assert main(["lavfi:testsrc2=size=64x48:rate=25", "--frames", "5", "--no-display", "-o", url, "--model",
                     "tiny-x2"]) == 4
        assert "(Connection refused): is the server running there" in capsys.readouterr().err
        assert main([str(tmp_path / "x.mp4"), "-o", url]) == 2
        assert "a file is upscaled into a file" in capsys.readouterr().err


def test_waiting_for_a_sender_ends_on_ctrl_c(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """FFmpeg's wait for a connection heeded no Ctrl-C: the run went on waiting until its 10-s timeout,
    and failed then. Ctrl-C now ends the wait at once, as any run's (exit 130), and frees the port."""
    import _thread
    import socket
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def listening() -> bool:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
        return any(row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A" for row in rows)

    waited = []

    def interrupt() -> None:  # Ctrl-C once sr-stream waits on the port
        for _ in range(600):
            if listening():
                waited.append(time.perf_counter())
                time.sleep(0.5)
                return _thread.interrupt_main()
            time.sleep(0.05)

    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc/net/tcp to see when the port listens")
    threading.Thread(target=interrupt, daemon=True).start()
    rc = main([f"tcp://127.0.0.1:{port}?listen", "--frames", "10", "--no-display", "-o", str(tmp_path / "r.mkv")])
    assert waited, "it never listened"
    took = time.perf_counter() - waited[0]
    assert rc == 130 and took < 4, (rc, took, capsys.readouterr().err)
    assert not (tmp_path / "r.mkv").exists()
    for _ in range(20):  # the port is free for the next run (FFmpeg's wait ends on its thread, busy CI: 2 s)
        with socket.socket() as again:
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                again.bind(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
    else:
        pytest.fail(f"port {port} still taken 2 s after the run")


def test_a_protocol_the_ffmpeg_of_pyav_lacks_is_named_with_a_way_round() -> None:
    """PyAV's FFmpeg has no SRT: ``srt://`` failed with "Protocol not found; is the address right, the stream
    running and reachable from here?", which sent the user looking at the network."""
    with pytest.raises(InputError) as info:
        open_capture(parse_live("srt://127.0.0.1:9"))
    if "Protocol not found" not in str(info.value.__cause__):
        pytest.skip(f"this PyAV's FFmpeg reads SRT ({info.value})")
    assert "the FFmpeg that PyAV brings has no srt:// protocol" in str(info.value)
    assert "-f mpegts udp://127.0.0.1:9000" in str(info.value)


def test_an_hls_playlist_is_played_at_its_pace_and_a_recorded_one_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An HLS segment arrives whole: its frames were read in a burst and all but a few dropped
    before the upscaler. They are now released at their own times. A playlist with an end (a
    recording, not a live channel) is refused, with how to keep every frame."""
    import functools
    import http.server
    import threading

    import av

    with av.open(str(tmp_path / "vod.m3u8"), "w", format="hls",
                 options={"hls_time": "1", "hls_playlist_type": "vod"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 4, np.uint8), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    playlist = (tmp_path / "vod.m3u8").read_text()
    (tmp_path / "live.m3u8").write_text(playlist.replace("#EXT-X-ENDLIST\n", "").replace("VOD", "EVENT"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            assert main([f"{url}/vod.m3u8", "--no-display", "--frames", "5", "--model", "tiny-x2"]) != 0
            assert "is a recording 2 s long, not a live stream" in capsys.readouterr().err
            report = tmp_path / "report.json"
            rc = main([f"{url}/live.m3u8", "--no-display", "--frames", "20", "-o", str(tmp_path / "r.mkv"),
                       "--model", "tiny-x2", "--backend", "ort", "--precision", "fp32", "--report", str(report)])
        finally:
            server.shutdown()
    assert rc == 0, capsys.readouterr().err
    import json

    done = json.loads(report.read_text())
    assert done["frames_in"] == 20 and done["dropped_before_upscale"] == 0 and done["frames_out"] == 20


def test_a_damaged_packet_of_a_stream_is_skipped_not_a_disconnection(
        model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """A packet that did not decode (RTP over UDP loses some) ended the connection: the run
    reconnected, or stopped. It is skipped now, as a player skips it, and counted."""
    import av

    from srstream.engine import live as live_mod

    real_open = live_mod.open_capture

    class Bad:  # a packet damaged on the way
        size, pts, dts = 100, None, None

        def __init__(self, stream) -> None:  # noqa: ANN001
            self.stream = stream

        def decode(self) -> list:
            raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    class Lossy:
        def __init__(self, container) -> None:  # noqa: ANN001
            self.container, self.streams, self.format = container, container.streams, container.format

        def demux(self, *streams):  # noqa: ANN001, ANN002, ANN202
            for i, packet in enumerate(self.container.demux(*streams)):
                if i in (5, 6, 12):
                    yield Bad(packet.stream)
                yield packet

        def close(self) -> None:
            self.container.close()

    monkeypatch.setattr(live_mod, "open_capture", lambda source: Lossy(real_open(parse_live(f"lavfi:{GEN}"))))
    source = LiveSource("stream", "", "rtsp://cam/stream", label="stream rtsp://cam/stream", paced=True)
    with ExitStack() as stack:
        report = run_live(source, [_rung(model, "int8", stack)], max_frames=20)
    assert report.frames_in == 20 and report.damaged_packets == 3 and report.stopped_by == "frames"
    assert not any("reconnected" in n or "failed" in n for n in report.notes)


def test_a_sound_device_is_recorded_beside_a_camera(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A camera's recording had no sound: its microphone is a device of its own. --audio-input
    records one beside it (a generator here, paced like a device), on the capture clock,
    encoded as the container's sound (AAC in .mp4), from the first recorded frame to the last."""
    import av

    from srstream.engine.sources import parse_audio_input

    out = tmp_path / "cam.mp4"
    assert main([f"lavfi:{GEN}", "--frames", "45", "--no-display", "-o", str(out), "--model", "tiny-x2",
                 "--backend", "ort", "--precision", "fp32", "--audio-input", "lavfi:sine=frequency=440"]) == 0
    assert "45 frames; with the sound device's pcm_s16le encoded as aac" in capsys.readouterr().out
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        video_span = float(video.duration * video.time_base)
        start, span = float(audio.start_time * audio.time_base), float(audio.duration * audio.time_base)
    assert abs(start) < 0.1 and abs(span - video_span) < 0.25, (start, span, video_span)
    assert main([f"lavfi:{GEN}", "--frames", "2", "--no-display", "--audio-input", "default"]) == 2
    assert "give -o FILE" in capsys.readouterr().err
    assert parse_audio_input("alsa:hw:1", "linux").fmt == "alsa" and parse_audio_input("2", "darwin").url == "none:2"
    assert parse_audio_input("Microphone (USB)", "win32").url == "audio=Microphone (USB)"
    with pytest.raises(ConfigError, match="arecord -L"):
        parse_audio_input("mic", "linux")


def test_a_jump_in_a_streams_timestamps_is_neither_a_wait_nor_a_burst(model, tmp_path: Path,  # noqa: ANN001
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream's frames are released at their times: a jump in its timestamps (a splice, a wrap)
    would have held the next frame back 100 s, or let everything after a jump back out at once.
    The clock goes on from where it was."""
    from srstream.engine import live as live_mod

    real_open = live_mod.open_capture

    class Jumping:
        def __init__(self, container) -> None:  # noqa: ANN001
            self.container, self.streams, self.format = container, container.streams, container.format

        def demux(self, *streams):  # noqa: ANN001, ANN002, ANN202
            for i, packet in enumerate(self.container.demux(*streams)):
                if packet.pts is not None and i >= 10:  # 100 s on, from the eleventh frame
                    packet.pts += round(100 / packet.time_base)
                yield packet

        def close(self) -> None:
            self.container.close()

    monkeypatch.setattr(live_mod, "open_capture", lambda source: Jumping(real_open(parse_live(f"lavfi:{GEN}"))))
    source = LiveSource("stream", "", "rtsp://cam/stream", label="stream rtsp://cam/stream")
    out = tmp_path / "rec.mkv"
    report = Report(source=str(source))
    began = time.perf_counter()
    with ExitStack() as stack:
        rec = Recorder(out, EncodeOptions(preset="veryfast"), report)
        run_live(source, [_rung(model, "int8", stack)], sinks=[rec], report=report, max_frames=20)
    assert report.frames_in == 20 and time.perf_counter() - began < 20
    import av

    with av.open(str(out)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    assert max(np.diff(times)) < 0.5  # no 100-s hole in the recording either


def test_a_stream_that_cannot_be_reached_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rtsp://127.0.0.1:9/none", "--no-display", "--frames", "2", "--model", "tiny-x2"]) != 0
    err = capsys.readouterr().err
    assert "stream rtsp://127.0.0.1:9/none" in err and "reachable" in err


def test_a_network_stream_that_fails_is_reconnected_and_the_recording_goes_on(
        model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """An IP camera that reboots or a dropped connection ended the run; a stream is now opened
    again (for up to RECONNECT_SECONDS) and the same recording goes on."""
    import av

    from srstream.engine import live as live_mod

    opened: list[int] = []
    real_open = live_mod.open_capture

    class Failing:  # the first connection: 10 frames, then the network fails
        def __init__(self, container) -> None:  # noqa: ANN001
            self.container, self.streams, self.format = container, container.streams, container.format

        def demux(self, *streams):  # noqa: ANN001, ANN002, ANN202
            for i, packet in enumerate(self.container.demux(*streams)):  # a packet a frame
                if i == 10:
                    raise av.error.ConnectionResetError(104, "Connection reset by peer")
                yield packet

        def close(self) -> None:
            self.container.close()

    def open_capture(source, **waiting):  # noqa: ANN001, ANN003, ANN202
        opened.append(1)
        container = real_open(LiveSource("lavfi", "lavfi", GEN, paced=True))
        return Failing(container) if len(opened) == 1 else container

    monkeypatch.setattr(live_mod, "open_capture", open_capture)
    source = LiveSource("stream", "", "rtsp://cam/stream", label="stream rtsp://cam/stream", paced=True)
    out = tmp_path / "rec.mkv"
    report = Report(source=str(source))
    with ExitStack() as stack:
        rec = Recorder(out, EncodeOptions(preset="veryfast"), report)
        run_live(source, [_rung(model, "int8", stack)], sinks=[rec], report=report, max_frames=25)
    assert len(opened) == 2 and report.frames_in == 25 and report.stopped_by == "frames"
    assert any("reconnected" in n for n in report.notes) and not any("is kept" in n for n in report.notes)
    assert len(_decode(out)) == report.frames_out > 10
    with av.open(str(out)) as container:  # the second connection's times start afresh; the recording's
        times = [float(f.time) for f in container.decode(video=0)]  # follow the first's, a second later
    gaps = np.diff(times)
    assert (gaps > 0).all() and 0.9 < gaps.max() < 3 and np.median(gaps) == pytest.approx(1 / 30, abs=0.005)
    monkeypatch.setattr(live_mod, "RECONNECT_SECONDS", 0.0)  # never back: the run ends as a disconnect does
    opened.clear()
    report = Report(source=str(source))
    with ExitStack() as stack:
        run_live(source, [_rung(model, "int8", stack)], report=report, max_frames=25)
    assert report.stopped_by == "disconnected" and "failed after 10 frames" in report.notes[0]


def test_a_live_rtsp_stream_that_ends_is_opened_again(model, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """RTSP over TCP ends as a stream does when its camera or server restarts (the connection closes, and
    FFmpeg says "end of file"): the run ended there, as for a broadcast's end, where a failure is opened
    again. A live stream read from a server that ends is now opened again as a failed one is; one that
    does not come back ends the run as before (exit 0), saying so; a recording served over RTSP (it has
    a duration) ends at its end."""
    from srstream.engine import live as live_mod

    opened: list[int | None] = []
    real_open = live_mod.open_capture

    class Ending:  # a connection that ends after 10 frames
        def __init__(self, container, duration: int | None) -> None:  # noqa: ANN001
            self.container, self.streams, self.format = container, container.streams, container.format
            self.duration = duration

        def demux(self, *streams):  # noqa: ANN001, ANN002, ANN202
            for i, packet in enumerate(self.container.demux(*streams)):  # a packet a frame
                if i == 10:
                    return
                yield packet

        def close(self) -> None:
            self.container.close()

    def opening(duration: int | None, back: bool):  # noqa: ANN202
        def open_capture(source, **waiting):  # noqa: ANN001, ANN003, ANN202
            if opened and not back:
                raise InputError("cannot open stream rtsp://cam/stream: Connection refused")
            opened.append(duration)
            return Ending(real_open(LiveSource("lavfi", "lavfi", GEN, paced=True)), duration)
        return open_capture

    def run(duration: int | None, back: bool = True, seconds: float | None = None) -> Report:
        opened.clear()
        monkeypatch.setattr(live_mod, "open_capture", opening(duration, back))
        source = LiveSource("stream", "", "rtsp://cam/stream", label="stream rtsp://cam/stream", paced=True)
        report = Report(source=str(source))
        with ExitStack() as stack:
            run_live(source, [_rung(model, "int8", stack)], report=report, max_frames=25, max_seconds=seconds)
        return report

    report = run(None)
    assert len(opened) == 3 and report.frames_in == 25 and report.stopped_by == "frames", report.notes
    assert "stream rtsp://cam/stream ended after 10 frames and was reconnected 1 s later" in report.notes
    monkeypatch.setattr(live_mod, "RECONNECT_SECONDS", 2.5)
    report = run(None, back=False)
    assert report.stopped_by == "source-ended" and report.frames_in == 10, report.notes
    assert report.notes[0] == ("stream rtsp://cam/stream ended after 10 frames and did not come back within 2.5 s; "
                               "the stream ends there")
    # stopped (Ctrl-C, --duration) while it waited for the stream: it was not given the time to come back
    monkeypatch.setattr(live_mod, "RECONNECT_SECONDS", 30.0)
    report = run(None, back=False, seconds=1.5)
    assert report.stopped_by == "duration" and report.seconds < 5, report.notes
    assert report.notes[0] == ("stream rtsp://cam/stream ended after 10 frames; the run was stopped while it was "
                               "being opened again")
    report = run(4_000_000)  # 4 s long: a recording, which ends
    assert len(opened) == 1 and report.stopped_by == "source-ended" and report.frames_in == 10, report.notes
    assert not report.notes


def test_a_recording_that_opens_after_its_stream_was_opened_again_copies_the_new_sound(
        model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """A recording opens at its first picture and copies the stream's sound then. Where the connection
    that was read when the run started ended before that (a camera restarting as sr-stream starts, or a
    server closing a stream that had sent its pictures ahead), the sound copied was the closed
    connection's: the process crashed (a segmentation fault in FFmpeg), and the recording was lost."""
    from srstream.engine import live as live_mod
    from tests.conftest import SAMPLE_CLIP

    opened: list[object] = []

    class Connection:  # the sample clip as a stream's connection; the first sends 20 sound packets, then ends
        def __init__(self) -> None:
            self.container = av.open(str(SAMPLE_CLIP))
            self.streams, self.format, self.duration = self.container.streams, self.container.format, None
            self.first = not opened

        def demux(self, *streams):  # noqa: ANN002, ANN202
            sent = 0
            for packet in self.container.demux(*streams):
                if self.first and (packet.stream.type == "video" or sent == 20):
                    if sent == 20:
                        return
                    continue
                sent += packet.stream.type == "audio"
                yield packet

        def close(self) -> None:
            self.container.close()

    def open_capture(source, **waiting):  # noqa: ANN001, ANN003, ANN202
        opened.append(Connection())
        return opened[-1]

    monkeypatch.setattr(live_mod, "open_capture", open_capture)
    source = LiveSource("stream", "", "rtsp://cam/stream", label="stream rtsp://cam/stream")
    out = tmp_path / "rec.mp4"
    report = Report(source=str(source))
    with ExitStack() as stack:
        rec = Recorder(out, EncodeOptions(codec="libx264", preset="ultrafast"), report)
        run_live(source, [_rung(model, "int8", stack)], sinks=[rec], report=report, max_frames=60)
    assert len(opened) == 2 and any("ended after 0 frames and was reconnected" in n for n in report.notes), report.notes
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"] and c.streams.audio[0].codec_context.name == "aac"
        kinds = [p.stream.type for p in c.demux() if p.size]
    assert kinds.count("video") == report.frames_out > 0 and kinds.count("audio") > 40  # the sound of most of 2 s


def test_pictures_a_stream_times_out_of_order_are_released_at_an_even_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """An RTSP server that times B-frames with their decode times (aio-rtsp-toolkit's) gives the decoded
    pictures times out of order (18018, 15015, 21021, 12012, ...): each was released at its time, so they
    came in pairs a millisecond apart, and a recording of a 30-fps stream with tiny-x2-deep kept 22 fps
    (a quarter dropped; 28.6 fps now, on a 2-core Zen 4). A picture timed at or before the one before it
    now follows it by a frame's time."""
    import threading

    from srstream.engine import live as live_mod
    from tests.conftest import SAMPLE_CLIP

    class DecodeTimed:  # the sample clip (with B-frames) as such a server sends it: presentation time = decode time
        def __init__(self) -> None:
            self.container = av.open(str(SAMPLE_CLIP))
            self.streams, self.format, self.duration = self.container.streams, self.container.format, None

        def demux(self, *streams):  # noqa: ANN002, ANN202
            for packet in self.container.demux(*streams):
                if packet.stream.type == "video" and packet.dts is not None:
                    packet.pts = packet.dts
                yield packet

        def close(self) -> None:
            self.container.close()

    monkeypatch.setattr(live_mod, "open_capture", lambda source, **waiting: DecodeTimed())
    capture = CaptureSource(LiveSource("stream", "", "rtsp://cam/stream", label="stream rtsp://cam/stream"),
                            max_frames=40)
    clocks = []

    def emit(item) -> bool:  # noqa: ANN001
        if not isinstance(item, Passthrough):
            clocks.append(item.clock)
        return True

    try:
        capture.read(emit, threading.Event(), Report(source="x"))
    finally:
        capture.close()
    steps = np.diff(clocks)  # each released at its time: not each other one a millisecond after the one before
    assert len(clocks) == 40 and steps.min() > 0 and np.median(steps) == pytest.approx(1 / 29.97, abs=1e-3), steps
    # a rate taken too low (15 fps) moves them by too much: never more than REORDER frames past the latest
    # time given, or the stream would be released ever later than it comes (here 1.3 s late after 40 frames)
    monkeypatch.setattr(live_mod, "video_rate", lambda stream: 15)
    capture = CaptureSource(LiveSource("stream", "", "rtsp://cam/stream", label="stream rtsp://cam/stream"),
                            max_frames=40)
    clocks.clear()
    try:
        capture.read(emit, threading.Event(), Report(source="x"))
    finally:
        capture.close()
    assert clocks[-1] - clocks[0] < 42 / 29.97 + live_mod.REORDER / 15, clocks  # (the times given run 2 ahead)


def test_a_stream_from_an_rtsp_server_is_recorded_across_its_restarts(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Read from a real RTSP server, not FFmpeg's own listening end: aio-rtsp-toolkit's (its own RTSP and
    RTP over TCP, interleaved), serving the sample clip with its AAC sound and closing the connection at
    the clip's end, as a camera or server that restarts does. The recording goes on across that, with
    the sound; sr-stream was never run against a server before."""
    import socket

    pytest.importorskip("aio_rtsp_toolkit.server", reason="pip install aio-rtsp-toolkit (a dev dependency)")
    from tests.conftest import SAMPLE_CLIP

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(SAMPLE_CLIP, served / "clip.mp4")
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    server = subprocess.Popen([sys.executable, "-c", "from server_demo import main; main()", "-d", str(served),
                               "-H", "127.0.0.1", "-p", str(ports[0]), "-cp", str(ports[1])],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = tmp_path / "rec.mp4"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", ports[0])) == 0:
                    break
            time.sleep(0.1)
        url = f"rtsp://127.0.0.1:{ports[0]}/clip.mp4"
        rc = main([url, "--no-display", "--frames", "150", "-o", str(out), "--model", "tiny-x2"])
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    err = "".join(capsys.readouterr())
    assert rc == 0, err + log
    assert re.search(r"ended after \d+ frames and was reconnected \d s later", err), err
    recorded = int(re.search(r"(\d+) recorded", err).group(1))
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"] and c.streams.audio[0].codec_context.name == "aac"
        assert (c.streams.video[0].width, c.streams.video[0].height) == (1280, 720)
        assert sum(1 for _ in c.decode(video=0)) == recorded > 30
        seconds = float(c.duration / 1e6)
    assert seconds > 4.5, seconds  # more than the clip: the part after the server's restart is in it


def test_an_mjpeg_camera_over_http_is_timed_as_its_frames_arrive(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An IP camera's or ESP32-CAM's MJPEG over HTTP carries no times: FFmpeg invents them at 25 fps, so a
    camera sending 10 fps was recorded to play 2.5x too fast, and the run said "0 fps". Its frames are now
    timed as they arrive, and its rate measured so."""
    import http.server
    import threading

    import cv2

    boundary = "123456789000000000000987654321"  # an ESP32-CAM's

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={boundary}")
            self.end_headers()
            start = time.perf_counter()
            try:
                noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), np.uint8)  # a camera's frame size
                for i in range(150):
                    jpeg = cv2.imencode(".jpg", np.roll(noise, i, 1))[1].tobytes()
                    self.wfile.write(f"\r\n--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                                     "\r\n\r\n".encode() + jpeg)
                    time.sleep(max(0.0, start + (i + 1) / 10 - time.perf_counter()))  # 10 fps
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    out = tmp_path / "rec.mkv"
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/stream"
        try:
            rc = main([url, "--frames", "15", "--no-display", "-o", str(out), "--model", "tiny-x2", "--backend",
                       "ort", "--precision", "fp32"])
        finally:
            server.shutdown()
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rate = float(re.search(rf"stream {re.escape(url)}: 320x240, ([\d.]+) fps, mjpeg", captured.err)[1])
    assert 8 < rate <= 10.5, captured.err
    with av.open(str(out)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    assert len(times) >= 10 and np.median(np.diff(times)) == pytest.approx(0.1, abs=0.02), times


def test_an_hls_stream_is_a_recording_only_when_its_playlist_ends(tmp_path: Path) -> None:
    """The FFmpeg of PyAV 19 gives a live HLS playlist of type EVENT a duration, its length so far,
    which had made every such live stream a "recording". An HLS stream over HTTP with a duration is
    now one only when its media playlist (a master playlist's first variant's) ends; where the
    playlist cannot be read, the duration decides as before, and other streams are unchanged."""
    import functools
    import http.server
    import threading
    from types import SimpleNamespace

    from srstream.engine.sources import _recording

    media = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nseg0.ts\n"
    (tmp_path / "vod.m3u8").write_text(media.replace("#EXT-X-VERSION:3\n", "#EXT-X-PLAYLIST-TYPE:VOD\n")
                                       + "#EXT-X-ENDLIST\n")
    (tmp_path / "event.m3u8").write_text(media.replace("#EXT-X-VERSION:3\n", "#EXT-X-PLAYLIST-TYPE:EVENT\n"))
    for name, variant in (("master_live", "event.m3u8"), ("master_vod", "sub/../vod.m3u8")):
        (tmp_path / f"{name}.m3u8").write_text(f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n{variant}\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None

    def opened(duration: int | None, fmt: str = "hls") -> SimpleNamespace:
        return SimpleNamespace(duration=duration, format=SimpleNamespace(name=fmt))

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            found = {name: _recording(opened(2_000_000), f"{url}/{name}.m3u8")
                     for name in ("vod", "event", "master_live", "master_vod", "missing")}
            assert not _recording(opened(None), f"{url}/vod.m3u8")  # no duration: live, whatever the playlist
        finally:
            server.shutdown()
    assert found == {"vod": True, "event": False, "master_live": False, "master_vod": True, "missing": True}
    assert _recording(opened(2_000_000, "dash"), "http://127.0.0.1:9/x.mpd")  # not HLS: the duration decides
    assert _recording(opened(2_000_000), "/tmp/local.m3u8") and not _recording(opened(0), "/tmp/local.m3u8")


# -- a V4L2 camera's format ----------------------------------------------------------------------

def _camera_files(tmp_path: Path, raw_rate: int = 5) -> dict[str, Path]:
    """What a UVC webcam sends at one size: uncompressed YUYV at ``raw_rate`` fps, MJPEG at 30 (at
    FFmpeg's qscale 12, a hard-compressed one)."""
    frames = _generated(8, (64, 48))
    files = {"": tmp_path / "yuyv.nut", "mjpeg": tmp_path / "mjpeg.avi"}
    for (fmt, path), (codec, pix, rate) in zip(files.items(), (("rawvideo", "yuyv422", raw_rate),
                                                                 ("mjpeg", "yuvj422p", 30))):
        with av.open(str(path), "w") as c:
            s = c.add_stream(codec, rate=rate)
            s.width, s.height, s.pix_fmt = 64, 48, pix
            if codec == "mjpeg":
                s.codec_context.qmin = s.codec_context.qmax = 12
                s.codec_context.bit_rate = 50_000_000
            for i, frame in enumerate(frames):
                f = av.VideoFrame.from_ndarray(frame, format="rgb24")
                f.pts = i
                c.mux(s.encode(f))
            c.mux(s.encode())
    return files


def _fake_camera(files: dict[str, Path], opened: list[str]):  # noqa: ANN202
    """open_capture for "camera /dev/video0": the file of the format asked (None: no such format)."""
    def open_capture(source: LiveSource):  # noqa: ANN202
        fmt = source.options.get("input_format", "")
        opened.append(fmt or "default")
        if files.get(fmt) is None:
            raise InputError(f"cannot open {source}: The V4L2 driver changed the pixel format")
        return av.open(str(files[fmt]))
    return open_capture


def test_a_camera_whose_uncompressed_frames_are_slow_is_read_as_mjpeg(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """FFmpeg opens a V4L2 camera in its first uncompressed format: a UVC webcam asked for 1080p
    sent YUYV at 5 fps, where its MJPEG comes at 30, and the run upscaled 5 fps. The MJPEG is now
    taken where the uncompressed frames come slower than asked, and its quantisation tables pick
    the model's variant as a network stream's do."""
    from srstream.engine import sources

    files, opened = _camera_files(tmp_path), []
    monkeypatch.setattr(sources, "open_capture", _fake_camera(files, opened))
    camera = parse_live("camera:0", size="64x48", platform="linux")
    source, found, line = sources.probe_camera(camera)
    assert opened == ["default", "mjpeg"]
    assert source.options["input_format"] == "mjpeg" and source.rate == 30 and source.size == (64, 48)
    assert found is not None and found.codec == "mjpeg" and found.h264_qp > 22 and found.look is None
    assert "64x48 uncompressed (yuyv422) comes at 5 fps only; its MJPEG, at 30 fps, is taken" in line
    assert "mjpeg at mean quantiser" in line

    opened.clear()  # asked for 5 fps: the uncompressed frames are read, nothing else tried or read
    source, found, line = sources.probe_camera(parse_live("camera:0", fps=5, platform="linux"))
    assert opened == ["default"] and "input_format" not in source.options and found is None
    assert line == "camera /dev/video0: 64x48, rawvideo at 5 fps"

    opened.clear()  # a camera without MJPEG: its uncompressed frames, however slow
    files["mjpeg"] = None
    source, found, line = sources.probe_camera(camera)
    assert opened == ["default", "mjpeg"] and "input_format" not in source.options and found is None
    assert source.rate == 5 and line.endswith("rawvideo at 5 fps")


def test_cli_runs_a_slow_uncompressed_camera_as_mjpeg_with_the_variant_it_calls_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from srstream.engine import live as live_mod, sources

    files, opened = _camera_files(tmp_path), []
    fake = _fake_camera(files, opened)
    monkeypatch.setattr(sources, "open_capture", fake)
    monkeypatch.setattr(live_mod, "open_capture", fake)
    rc = main(["camera:0", "--size", "64x48", "--frames", "4", "--no-display", "-o", str(tmp_path / "r.mkv"),
               "--backend", "ort", "--precision", "fp32"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert opened == ["default", "mjpeg", "mjpeg"]  # the run reads the MJPEG the probe took
    assert "its MJPEG, at 30 fps, is taken" in err and "holds 30 fps" in err
    assert "compressed hard" in err and "-> realtime-x2-compressed x2" in err
    assert len(_decode(tmp_path / "r.mkv")) >= 1


def test_a_mac_camera_is_opened_at_a_rate_it_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    """FFmpeg's AVFoundation input asks a camera for 29.97 fps unless told and takes a rate only
    within 0.01 of one offered: a webcam offering 30 alone refused it ("Selected framerate
    (29.970030) is not supported by the device"). Without --fps the usual rates are tried after
    the default; with --fps only that; where none is taken, the default's error is said."""
    import av

    from srstream.engine import sources

    asked: list[str | None] = []

    def fake_open(url, format=None, options=None, timeout=None, metadata_errors="strict"):  # noqa: ANN001, ANN202, A002
        assert metadata_errors == "replace"  # a camera's tags read whatever their bytes (av_errors.open_av)
        asked.append((options or {}).get("framerate"))
        if (options or {}).get("framerate") != offered:
            raise av.error.OSError(5, "Input/output error")
        return "opened"

    monkeypatch.setattr(av, "open", fake_open)
    monkeypatch.setattr(av, "formats_available", {*av.formats_available, "avfoundation"})  # as on a Mac
    camera = parse_live("camera:0", platform="darwin")
    offered = "30"
    assert open_capture(camera) == "opened" and asked == [None, "30"]
    asked.clear()
    offered = None  # the default taken: nothing else tried
    assert open_capture(camera) == "opened" and asked == [None]
    asked.clear()
    offered = "15"
    with pytest.raises(InputError, match="cannot open camera 0"):  # --fps 30 asked: only 30
        open_capture(parse_live("camera:0", fps=30, platform="darwin"))
    assert asked == ["30"]
    asked.clear()
    offered = "7"  # none offered: all tried, the default's failure said
    with pytest.raises(InputError, match="cannot open camera 0"):
        open_capture(camera)
    assert asked == [None, *sources.AVFOUNDATION_RATES]
    asked.clear()
    with pytest.raises(InputError):  # a Linux camera: one try, as before
        open_capture(parse_live("camera:0", platform="linux"))
    assert asked == [None]
