"""The one pipeline: typed messages, packets that never wait for the network, the drop policy of
the source, one colour conversion for files and live sources, and how sinks are closed."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from srstream.engine.compression import measure
from srstream.engine.encode import BT601
from srstream.engine.live import CaptureSource
from srstream.engine.models import COMPRESSED_VARIANTS, for_compression
from srstream.engine.messages import Frame, InOrder, Passthrough, Upscaled
from srstream.engine.pipeline import Rung, UpscaleStage, run
from srstream.engine.sources import parse_live
from srstream.engine.video import FileSource
from srstream.errors import InputError

GEN = "testsrc2=size=64x48:rate=30"


class _Nearest:
    """A stand-in upscaler: nearest x2, optionally slow, counting its calls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.calls = delay, 0

    def upscale(self, rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(self.delay)
        return np.repeat(np.repeat(rgb, 2, 0), 2, 1)


class _ListSource:
    """Frames (and packets) from a list; ``live`` as asked."""

    matrix, deep, turns = BT601, False, 0

    def __init__(self, items: list, live: bool = False, gap: float = 0.0) -> None:
        self.items, self.live, self.gap, self.closed = items, live, gap, False

    def read(self, emit, stop, report) -> str:  # noqa: ANN001
        for item in self.items:
            if stop.is_set():
                return ""
            if isinstance(item, Frame):
                report.frames_in += 1
            emit(item)
            time.sleep(self.gap)
        return "end"

    def close(self) -> None:
        self.closed = True


class _ListSink:
    def __init__(self) -> None:
        self.got: list = []
        self.outcome = ""

    def send(self, frame: Upscaled, abort: threading.Event) -> bool:
        self.got.append(("frame", frame.src.index, time.perf_counter()))
        return True

    def passthrough(self, packet: Passthrough, abort: threading.Event) -> bool:
        self.got.append(("packet", packet.packet, time.perf_counter()))
        return True

    def close(self, outcome: str) -> None:
        self.outcome = outcome


def _frames(n: int) -> list[Frame]:
    rng = np.random.default_rng(0)
    return [Frame(i, i, time.perf_counter(), rng.integers(0, 256, (8, 8, 3), np.uint8)) for i in range(n)]


def test_a_file_source_loses_nothing_and_packets_pass_the_network_by() -> None:
    """Back-pressure for files (every frame upscaled, in order) while the audio packets reach the
    sink without waiting for the (slow) upscale stage."""
    items: list = []
    for frame in _frames(6):
        items += [frame, Passthrough(f"audio{frame.index}")]
    source, sink, net = _ListSource(items), _ListSink(), _Nearest(delay=0.05)
    report = run(source, UpscaleStage([Rung("nearest", lambda: net)]), [sink])
    frames = [g for g in sink.got if g[0] == "frame"]
    packets = [g for g in sink.got if g[0] == "packet"]
    assert [f[1] for f in frames] == list(range(6)) and net.calls == 6
    assert report.frames_in == report.upscaled == 6 and report.dropped_before_upscale == 0
    assert report.stopped_by == "end" and sink.outcome == "done" and source.closed
    # the last packet arrived long before the last frame was upscaled (6 x 50 ms)
    assert len(packets) == 6 and packets[-1][2] < frames[-1][2] - 0.1


def test_a_live_source_never_waits_and_counts_its_drops() -> None:
    source, sink = _ListSource(_frames(40), live=True, gap=0.005), _ListSink()
    report = run(source, UpscaleStage([Rung("slow", lambda: _Nearest(delay=0.05))]), [sink])
    assert report.frames_in == 40 and report.upscaled < 20
    assert report.upscaled + report.dropped_before_upscale == 40
    indices = [g[1] for g in sink.got]
    assert indices == sorted(indices) and indices[-1] == 39  # the newest frame always wins


def test_an_error_fails_every_sink_and_is_raised() -> None:
    class Broken(_Nearest):
        def upscale(self, rgb: np.ndarray) -> np.ndarray:
            if self.calls == 2:
                raise InputError("the third frame is bad")
            return super().upscale(rgb)

    sink = _ListSink()
    with pytest.raises(InputError, match="third frame"):
        run(_ListSource(_frames(5)), UpscaleStage([Rung("b", Broken)]), [sink])
    assert sink.outcome == "failed"


def test_ctrl_c_in_the_network_is_an_interruption() -> None:
    class Interrupted(_Nearest):
        def upscale(self, rgb: np.ndarray) -> np.ndarray:
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().upscale(rgb)

    sink = _ListSink()
    report = run(_ListSource(_frames(8)), UpscaleStage([Rung("i", Interrupted)]), [sink])
    assert report.interrupted and sink.outcome == "interrupted" and len(sink.got) == 3


def test_no_frame_is_shown_after_the_window_was_closed() -> None:
    """The window is closed (its events, read while no frame waits) while the network still works
    on a frame: that frame is not shown, nor counted as shown, once it comes out. (Found as an
    intermittent failure of the live window test under load: a seventh frame shown after Q.)"""

    class Window:
        def __init__(self) -> None:
            self.shown: list[int] = []

        def show(self, frame: Upscaled, report) -> bool:  # noqa: ANN001
            self.shown.append(frame.src.index)
            return True

        def idle(self) -> bool:  # the user closes the window once a frame was shown
            return not self.shown

        def close(self) -> None:
            pass

    window, net = Window(), _Nearest(delay=0.3)  # the conductor reads the events while the net works
    report = run(_ListSource(_frames(20), live=True, gap=0.1), UpscaleStage([Rung("slow", lambda: net)]), [],
                 display=window)
    assert report.stopped_by == "user" and len(window.shown) == 1 == report.shown
    assert net.calls == 2  # the frame the network was working on when the window closed came out unseen


def test_ctrl_c_after_the_source_ended_is_still_an_interruption() -> None:
    """The source has read every frame (and said "end") while five still wait for the network:
    a Ctrl-C then must not be taken for a complete run, or the file sink would commit an output
    missing its last frames. (Found as an intermittent failure of the test above under load.)"""
    source = _ListSource(_frames(8))
    read = source.read
    ended = threading.Event()

    def read_then_say_so(emit, stop, report):  # noqa: ANN001, ANN202
        why = read(emit, stop, report)
        ended.set()
        return why

    source.read = read_then_say_so

    class Interrupted(_Nearest):
        def upscale(self, rgb: np.ndarray) -> np.ndarray:
            if self.calls == 3:
                assert ended.wait(5)  # every frame is read and queued
                raise KeyboardInterrupt
            return super().upscale(rgb)

    sink = _ListSink()
    report = run(source, UpscaleStage([Rung("i", Interrupted)]), [sink])
    assert report.stopped_by == "interrupt" and sink.outcome == "interrupted" and len(sink.got) == 3


def test_files_and_live_sources_convert_colour_the_same_way(tmp_path: Path) -> None:
    """The same yuv420p pictures, read as a file and captured live, reach the network as the same
    RGB: there is one conversion (the declared matrix, the measured swscale flags)."""
    clip = tmp_path / "gen.mkv"
    with av.open(GEN, format="lavfi") as src, av.open(str(clip), "w") as out:
        stream = out.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 5:
                break
            assert frame.format.name == "yuv420p"
            frame.pts, frame.time_base = i, Fraction(1, 30)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    def first_inputs(source) -> list[np.ndarray]:  # noqa: ANN001
        seen: list[np.ndarray] = []
        stage = UpscaleStage([Rung("nearest", _Nearest)])
        run(source, stage, [], watch=lambda up: seen.append(up.input))
        return seen

    from_file = first_inputs(FileSource(clip))
    captured = CaptureSource(parse_live(f"lavfi:{GEN}"), max_frames=5)
    captured.source = type(captured.source)(**{**captured.source.__dict__, "paced": False})
    from_live = first_inputs(captured)
    assert from_file and from_live
    assert np.array_equal(from_file[-1], from_live[-1])  # the newest frame wins on both sides: the fifth


# -- compression: the input's own quantiser ------------------------------------------------------
def _h264(path: Path, crf: int, height: int = 96, x264_params: str = "") -> Path:
    rng = np.random.default_rng(1)
    base = cv2_blur(rng.integers(0, 256, (height, 128, 3), np.uint8))
    options = {"crf": str(crf), "preset": "veryfast", **({"x264-params": x264_params} if x264_params else {})}
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = 128, height, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def cv2_blur(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), 2.0)


def test_the_quantiser_is_read_from_the_bitstream(tmp_path: Path) -> None:
    light, hard = measure(_h264(tmp_path / "light.mp4", 12)), measure(_h264(tmp_path / "hard.mp4", 38))
    assert light.codec == "h264" and light.frames == 10 and hard.qp is not None
    assert 5 < light.qp < 22 < 35 < hard.qp  # about CRF + 4 for x264
    assert "mean quantiser" in hard.describe() and hard.h264_qp == hard.qp
    (tmp_path / "x.png").write_bytes(b"not a video")
    assert measure(tmp_path / "x.png") is None and measure(tmp_path / "missing.mp4") is None


def _coded(path: Path, codec: str, options: dict[str, str], qscale: int = 0, pix_fmt: str = "yuv420p") -> Path:
    """Ten moving frames of detail coded with ``codec`` (``qscale``: a fixed MPEG quantiser)."""
    base = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 128, 96, pix_fmt
        stream.options = options
        if qscale:
            stream.codec_context.qmin = stream.codec_context.qmax = qscale
            stream.codec_context.bit_rate = 50_000_000
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_other_codecs_quantisers_are_read_on_h264s_scale(tmp_path: Path) -> None:
    """A VP9 video (a YouTube download), an MPEG-2 one (a DVD) or an MPEG-4 part 2 one (an Xvid
    file) was taken for clean however hard it was compressed: only H.264's quantiser was compared
    with the compressed variant's threshold. Their decoders' quantisers are now mapped onto
    H.264's scale (fitted at equal damage: benchmarks/quantiser_scales.py); HEVC's and AV1's,
    which their decoders do not export, are read from their headers (the next test)."""
    light = measure(_coded(tmp_path / "light.webm", "libvpx-vp9", {"crf": "10", "b": "0"}))
    hard = measure(_coded(tmp_path / "hard.webm", "libvpx-vp9", {"crf": "60", "b": "0"}))
    assert light.codec == hard.codec == "vp9" and light.h264_qp < 22 < 35 < hard.h264_qp, (light, hard)
    assert "H.264's" in hard.describe()
    for codec, suffix in (("mpeg2video", ".mpg"), ("mpeg4", ".avi")):
        fine = measure(_coded(tmp_path / f"fine{suffix}", codec, {}, qscale=2))
        coarse = measure(_coded(tmp_path / f"coarse{suffix}", codec, {}, qscale=12))
        assert fine.qp == 4 and coarse.qp == 24  # twice the qscale
        assert 20 < fine.h264_qp < 28 < 35 < coarse.h264_qp < 40, (codec, fine.h264_qp, coarse.h264_qp)


def test_hevc_and_av1_quantisers_are_read_from_their_headers(tmp_path: Path) -> None:
    """An HEVC video (every phone's, most downloads of films and series) or an AV1 one (YouTube,
    streaming services) ran as clean however hard it was compressed: FFmpeg's decoders for them
    export no quantiser. Their slice and frame headers carry it, read now through FFmpeg's own
    header parsers (the trace_headers filter). x265 at a constant QP with no offsets between
    frame types or blocks puts that QP in every slice, whichever way the picture is cut."""
    import av.logging

    fixed = "qp=30:ipratio=1:pbratio=1:aq-mode=0:cutree=0:log-level=error"
    for slices in (1, 3):
        hevc = measure(_coded(tmp_path / f"qp30_{slices}.mkv", "libx265", {"x265-params": f"{fixed}:slices={slices}"}))
        assert hevc.codec == "hevc" and hevc.frames == 10 and hevc.qp == 30, (slices, hevc)
    assert "H.264's" in hevc.describe() and 25 < hevc.h264_qp < 30
    light = measure(_coded(tmp_path / "light.mkv", "libx265", {"crf": "14", "x265-params": "log-level=error"}))
    hard = measure(_coded(tmp_path / "hard.mp4", "libx265", {"crf": "38", "x265-params": "log-level=error"}))
    assert light.h264_qp < 22 < 35 < hard.h264_qp, (light, hard)
    light = measure(_coded(tmp_path / "light_av1.mkv", "libsvtav1", {"crf": "20", "preset": "12"}))
    hard = measure(_coded(tmp_path / "hard_av1.webm", "libsvtav1", {"crf": "58", "preset": "12"}))
    assert light.codec == hard.codec == "av1" and light.h264_qp < 22 < 30 < hard.h264_qp, (light, hard)
    # FFmpeg's log is left as it was: off (PyAV's default), and its repeats folded
    assert av.logging.get_level() is None and av.logging.get_skip_repeated()


def test_an_mjpeg_videos_quantiser_is_read_from_its_tables(tmp_path: Path) -> None:
    """A webcam's MJPEG stream (most USB webcams send MJPEG at 720p and 1080p), an old camera's
    AVI or a JPEG image sequence ran as clean however coarse its JPEG quality: FFmpeg's decoder
    exports no quantiser. Each frame's own quantisation table says it (its mean luma step),
    mapped onto H.264's scale as the MPEG quantisers are (benchmarks/quantiser_scales.py)."""
    import cv2

    from srstream.engine.compression import jpeg_quantiser

    fine = measure(_coded(tmp_path / "fine.avi", "mjpeg", {}, qscale=1, pix_fmt="yuvj420p"))
    coarse = measure(_coded(tmp_path / "coarse.mkv", "mjpeg", {}, qscale=12, pix_fmt="yuvj420p"))
    assert fine.codec == coarse.codec == "mjpeg" and fine.frames == 10 and 0 < fine.qp < coarse.qp
    assert fine.h264_qp < 22 < 35 < coarse.h264_qp, (fine, coarse)
    # libjpeg's tables at quality 75 (OpenCV's JPEG writer, most cameras' "normal"): their mean step
    picture = np.random.default_rng(2).integers(0, 256, (16, 16, 3), np.uint8)
    assert jpeg_quantiser(cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()) == 29.03125
    assert jpeg_quantiser(b"\xff\xd8\xff\xdb\x00") is None and jpeg_quantiser(b"not a picture") is None
    wide = bytes([0x11]) + b"\x00\x05" * 64 + bytes([0x10]) + b"\x01\x2c" * 64  # 16-bit tables: 1 (chroma), 0
    assert jpeg_quantiser(b"\xff\xd8\xff\xdb" + (len(wide) + 2).to_bytes(2, "big") + wide + b"\xff\xda") == 300


def test_an_avif_or_heic_pictures_quantiser_is_read_from_its_headers(tmp_path: Path) -> None:
    """An AVIF (the web's newer pictures) or a HEIC (a phone's) is one AV1 or HEVC intra frame in
    an ISO BMFF image item: FFmpeg's demuxer opens it as a one-frame stream and its header parsers
    give the picture's q index or slice QP, read without decoding it (a path or an open file);
    coarser quality, larger quantiser. Anything else, or a damaged file, gives None."""
    import io

    import cv2

    from srstream.engine.compression import picture_quantiser

    picture = cv2.GaussianBlur(np.random.default_rng(5).integers(0, 256, (64, 96, 3), np.uint8), (0, 0), 1.5)
    found = []
    for quality in (30, 60, 90):
        cv2.imwrite(str(tmp_path / f"q{quality}.avif"), picture, [cv2.IMWRITE_AVIF_QUALITY, quality])
        found.append(picture_quantiser(tmp_path / f"q{quality}.avif"))
    assert [codec for codec, _ in found] == ["av1"] * 3 and found[0][1] > found[1][1] > found[2][1] > 0, found
    data = (tmp_path / "q60.avif").read_bytes()
    assert picture_quantiser(io.BytesIO(data)) == found[1]
    with_alpha = np.dstack([picture, np.full(picture.shape[:2], 200, np.uint8)])  # its alpha is a second item
    cv2.imwrite(str(tmp_path / "alpha.avif"), with_alpha, [cv2.IMWRITE_AVIF_QUALITY, 60])
    assert picture_quantiser(tmp_path / "alpha.avif") == found[1]
    cv2.imwrite(str(tmp_path / "clean.png"), picture)
    cv2.imwrite(str(tmp_path / "q50.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 50])
    (tmp_path / "cut.avif").write_bytes(data[:len(data) // 2])
    for other in ("clean.png", "q50.jpg", "cut.avif", "missing.avif"):
        assert picture_quantiser(tmp_path / other) is None, other
    assert picture_quantiser(io.BytesIO(b"\0\0\0\x18ftypavif" + bytes(40))) is None
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC pictures are written with pillow-heif")
    qps = []
    for quality in (20, 50, 90):
        rgb = np.ascontiguousarray(picture[:, :, ::-1])
        pillow_heif.from_bytes(mode="RGB", size=(96, 64), data=rgb.tobytes()).save(tmp_path / f"q{quality}.heic",
                                                                                   quality=quality)
        qps.append(picture_quantiser(tmp_path / f"q{quality}.heic"))
    assert [codec for codec, _ in qps] == ["hevc"] * 3 and qps[0][1] > qps[1][1] > qps[2][1] >= 0, qps
    # a phone's picture is a grid of tiles (512 wide on an iPhone), which FFmpeg opens as a stream each
    wide = np.ascontiguousarray(np.tile(picture, (1, 2, 1))[:, :, ::-1])
    pillow_heif.from_bytes(mode="RGB", size=(192, 64), data=wide.tobytes()).save(tmp_path / "grid.heic", quality=20,
                                                                                 tile_size=64)
    assert picture_quantiser(tmp_path / "grid.heic") == qps[0]


def test_a_vp8_videos_quantiser_is_read_from_its_frame_headers(tmp_path: Path) -> None:
    """VP8 (older WebM video, WebRTC calls and their recordings) ran as clean however coarse:
    FFmpeg's decoder exports no quantiser. Each frame's header holds its index, read by hand
    (RFC 6386's boolean decoder) and taken as its luma AC step: libvpx at a fixed quantiser q writes
    its index table's entry for q in every frame (4 -> index 4, step 8; 20 -> 25, 29; 40 -> 59, 68),
    key and inter frames alike; a lossy WebP is a VP8 key frame in a RIFF file, with libwebp's four
    segment quantisers."""
    import cv2

    from srstream.engine.compression import vp8_quantiser, webp_quantiser

    found = {q: measure(_coded(tmp_path / f"q{q}.webm", "libvpx", {}, qscale=q)) for q in (4, 20, 40)}
    assert {q: (c.codec, c.frames, c.qp) for q, c in found.items()} == {4: ("vp8", 10, 8), 20: ("vp8", 10, 29),
                                                                       40: ("vp8", 10, 68)}
    assert found[4].h264_qp < 22 < 30 < found[40].h264_qp, found
    picture = cv2.GaussianBlur(np.random.default_rng(4).integers(0, 256, (64, 64, 3), np.uint8), (0, 0), 1.5)
    indices = [webp_quantiser(cv2.imencode(".webp", picture, [cv2.IMWRITE_WEBP_QUALITY, q])[1].tobytes())
               for q in (20, 50, 80, 95)]
    assert all(0 < a > b >= 0 for a, b in zip(indices, indices[1:])), indices  # finer quality, smaller index
    lossless = cv2.imencode(".webp", picture, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    assert webp_quantiser(lossless) is None and webp_quantiser(b"RIFF\x04\x00\x00\x00WEBP") is None
    assert vp8_quantiser(b"\x00" * 8) is None and vp8_quantiser(b"\x10\x02\x00\x00\x00\x00" * 4) is None


def test_the_quantiser_of_interlaced_h264(tmp_path: Path) -> None:
    """An interlaced H.264 stream (a broadcast recording, a camcorder's 1080i) coded as field pairs
    lists its macroblock pairs to a height rounded up to 32 lines: 80 lines, 5 macroblock rows, come
    as 6. Reading its quantiser ended the run in a traceback (PyAV's ``qp_map`` wants one block per
    macroblock); it is read like a progressive stream's."""
    interlaced = measure(_h264(tmp_path / "tff.mp4", 30, height=80, x264_params="interlaced=1:tff=1"))
    progressive = measure(_h264(tmp_path / "p.mp4", 30, height=80))
    assert interlaced is not None and interlaced.frames == 10 and interlaced.qp is not None
    assert abs(interlaced.qp - progressive.qp) < 4  # the same CRF: about the same quantiser


def test_the_default_model_follows_the_quantiser(monkeypatch: pytest.MonkeyPatch) -> None:
    import srstream.engine.models as models

    variant, threshold = COMPRESSED_VARIANTS["realtime-x2"]
    monkeypatch.setitem(models.BUNDLED_MODELS, variant, f"{variant}.onnx")
    assert for_compression("realtime-x2", None) == ("realtime-x2", "")
    assert for_compression("realtime-x2", threshold - 0.5)[0] == "realtime-x2"
    name, why = for_compression("realtime-x2", threshold + 0.5)
    assert name == variant and "--model realtime-x2 keeps the default" in why
    assert for_compression("quality-x4", 40.0) == ("quality-x4", "")
    # x4 (``--scale 4``) has its own, bundled: a compressed video or picture taken x4 ran realtime-x4 however
    # hard it was compressed, below bicubic on Big Buck Bunny at CRF 30 (compressed_auto_x4.md)
    assert for_compression("realtime-x4", 30.0)[0] == "realtime-x4-compressed"
    assert for_compression("realtime-x4", 21.0)[0] == "realtime-x4"
    assert models.resolve_model("realtime-x4-compressed").spec.scale == 4


def test_a_paced_window_shows_frames_at_the_pace_they_were_captured() -> None:
    """Captured every 33 ms, upscaled in 5 or 25 ms by turns: shown as soon as upscaled, the
    window's intervals swing by 20 ms (judder); paced (:class:`Pacer`, the default of a live run),
    each frame is shown at its capture time plus the upscale time's 90th percentile, the same
    interval every time, at about 20 ms more latency on the fast frames only."""
    from srstream.engine.pipeline import Pacer

    class Captured(_ListSource):  # a frame's clock is when it was read, as a capture's is
        def read(self, emit, stop, report) -> str:  # noqa: ANN001
            rgb = np.zeros((8, 8, 3), np.uint8)
            for i in range(30):
                if stop.is_set():
                    return ""
                report.frames_in += 1
                emit(Frame(i, None, time.perf_counter(), rgb))
                time.sleep(0.033)
            return "end"

    class Jittery(_Nearest):
        def upscale(self, rgb: np.ndarray) -> np.ndarray:
            self.delay = 0.005 if self.calls % 2 == 0 else 0.025
            return super().upscale(rgb)

    class Window:
        def __init__(self) -> None:
            self.at: list[tuple[int, float]] = []

        def show(self, frame: Upscaled, report) -> bool:  # noqa: ANN001
            self.at.append((frame.src.index, time.perf_counter()))
            return True

        def idle(self) -> bool:
            return True

        def close(self) -> None:
            pass

    swing = {}
    for pace in (False, True):
        window = Window()
        run(Captured([], live=True), UpscaleStage([Rung("j", Jittery)]), [], display=window, pace=pace)
        steps = [(tb - ta) / (ib - ia) for (ia, ta), (ib, tb) in zip(window.at, window.at[1:])]
        assert len(window.at) >= 25, (pace, len(window.at))
        swing[pace] = float(np.std(steps[5:]))  # after the pacer has seen a few frames
    assert swing[False] > 0.008 and swing[True] < swing[False] / 2, swing

    pacer = Pacer(window=4)  # captured every 33 ms: the 90th percentile of 10 and 30 ms
    for i, delay in enumerate((0.01, 0.03, 0.01, 0.03)):
        due = pacer.due(Upscaled(Frame(i, None, 100.0 + i * 0.033, None), None, 100.0 + i * 0.033 + delay))
    assert due == pytest.approx(100.0 + 3 * 0.033 + float(np.percentile([0.01, 0.03, 0.01, 0.03], 90)))
    slow = Pacer(window=4)  # captured every 10 ms, upscaled in 50 to 150 ms: at most 10 ms over the median
    for i, delay in enumerate((0.05, 0.15, 0.05, 0.15)):
        due = slow.due(Upscaled(Frame(2 * i, None, 100.0 + i * 0.02, None), None, 100.0 + i * 0.02 + delay))
    assert due == pytest.approx(100.0 + 3 * 0.02 + 0.10 + 0.01)


class _Lanes(_Nearest):
    """A stand-in upscaler that runs two frames at once (``lanes``), each for a time of its own so
    that they come back out of order, with a step after the network that keeps the frame before
    as its state (as the stabiliser does), split off by ``upscale_later``."""

    lanes = 2

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.finished: list[int] = []

    def upscale_later(self, rgb: np.ndarray):  # noqa: ANN201
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.03 if int(rgb[0, 0, 0]) % 2 else 0.005)  # frames of odd value take longer
        out = super().upscale(rgb)
        with self.lock:
            self.running -= 1

        def finish() -> np.ndarray:
            self.finished.append(int(rgb[0, 0, 1]))
            return out
        return finish


def test_lanes_run_two_frames_at_once_and_finish_them_in_order() -> None:
    """A file's frames go through the network two at a time where the upscaler says it runs two
    lanes: every frame arrives, in order, the steps after the network see the frames in order, and
    a live source keeps one frame at a time."""
    frames = _frames(12)
    for frame in frames:
        frame.picture[0, 0, 0], frame.picture[0, 0, 1] = frame.index * 7 % 5, frame.index
    net, sink = _Lanes(), _ListSink()
    report = run(_ListSource(frames), UpscaleStage([Rung("lanes", lambda: net)]), [sink])
    assert [g[1] for g in sink.got] == list(range(12)) and report.upscaled == 12
    assert net.finished == list(range(12)) and net.most == 2
    assert len(report.upscale_ms) == 12 and min(report.upscale_ms) > 0 and report.lanes == 2
    class Plain:  # a wrapper that does not split its frames: its step would run in the lanes, out of order
        def __init__(self, inner: _Lanes) -> None:
            self.inner = inner

        def upscale(self, rgb: np.ndarray) -> np.ndarray:
            return self.inner.upscale(rgb)

    assert UpscaleStage([Rung("plain", lambda: Plain(_Lanes()))]).lanes(_ListSource([])) == 1
    big = _ListSource([])
    big.shape = (720, 1280)  # a file's frames larger than LANE_PIXELS: one at a time
    assert UpscaleStage([Rung("lanes", _Lanes)]).lanes(big) == 1
    live, sink = _Lanes(), _ListSink()
    report = run(_ListSource(_frames(12), live=True, gap=0.01), UpscaleStage([Rung("lanes", lambda: live)]), [sink])
    assert live.most == 1 and report.lanes == 1 and [g[1] for g in sink.got] == sorted(g[1] for g in sink.got)


def test_an_error_in_one_lane_fails_the_run() -> None:
    class Broken(_Lanes):
        def upscale_later(self, rgb: np.ndarray):  # noqa: ANN201
            if int(rgb[0, 0, 1]) == 5:
                raise InputError("the sixth frame is bad")
            return super().upscale_later(rgb)

    frames = _frames(10)
    for frame in frames:
        frame.picture[0, 0, 1] = frame.index
    sink = _ListSink()
    with pytest.raises(InputError, match="sixth frame"):
        run(_ListSource(frames), UpscaleStage([Rung("b", Broken)]), [sink])
    assert sink.outcome == "failed" and [g[1] for g in sink.got] == list(range(len(sink.got)))


def test_in_order_hands_items_over_by_number_and_holds_producers_back() -> None:
    channel, stop = InOrder(producers=2, size=2), threading.Event()
    assert channel.put(1, "b", stop) and channel.get(timeout=0.01) is None  # 0 is due first
    assert channel.put(0, "a", stop)
    assert channel.get(timeout=0.01) == "a" and channel.get(timeout=0.01) == "b"
    assert channel.put(3, "d", stop)
    held = threading.Thread(target=channel.put, args=(4, "e", stop))  # 2 ahead of the next due (2): waits
    held.start()
    time.sleep(0.15)
    assert held.is_alive()
    assert channel.put(2, "c", stop) and channel.get(timeout=0.01) == "c"
    held.join(timeout=1)
    assert not held.is_alive() and channel.get(timeout=0.01) == "d" and channel.get(timeout=0.01) == "e"
    channel.close()
    assert not channel.closed
    channel.close()
    assert channel.closed and channel.get(timeout=0.01) is None
    stop.set()
    assert not InOrder(1, 1).put(1, "x", stop)  # waiting for room gives up once told to stop
