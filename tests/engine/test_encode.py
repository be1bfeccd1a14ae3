"""libx264 where its bits must repeat (the self-pairs, segment jobs): the same frames give the
same bits, whatever the CPU and whatever memory x264 is handed."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from srstream.engine import encode

#: Encodes frames of a moving gradient at widths where libx264's AVX-512 code gave other bits
#: from one process to the next, through the self-pairs' round trip and through a segment job's
#: output stream (add_video_stream, deterministic), and prints a digest of each; a segment's digest
#: only where x264's AVX2 code (a CPU without AVX-512) gives the same bits, as segment jobs claim.
_ENCODE = r"""
import hashlib, io
from fractions import Fraction
import av, numpy as np
from srstream.engine.encode import add_video_stream, options_for
from srstream.engine.selfpairs import h264_clip
def frames(w, h, n=12):
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
            for i in range(n)]
digests = []
for w, h in ((32, 24), (96, 48)):
    digests.append(hashlib.md5(np.stack(h264_clip(frames(w, h), 23)).tobytes()).hexdigest())
    segment = []
    for avx2 in (False, True):  # as this CPU encodes a segment job's stream, and as one without AVX-512 does
        buf = io.BytesIO()
        with av.open(buf, "w", format="h264") as out:
            options = options_for(".mp4", None, 23, deterministic=True)
            stream, _, _ = add_video_stream(out, options, 30, w, h, Fraction(1, 30))
            if avx2:
                stream.options = {**stream.options, "x264-params": "mbtree=0:asm=AVX2"}
            for i, rgb in enumerate(frames(w, h)):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        segment.append(hashlib.md5(buf.getvalue()).hexdigest())
    digests.append(segment[0] if segment[0] == segment[1] else "segment-differs-on-avx2")
print(" ".join(digests))
"""


def test_x264_params_keep_x264_off_avx512_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encode, "_has_avx512", lambda: True)
    assert encode.x264_params() == "asm=AVX2"
    assert encode.x264_params("mbtree=0", "") == "mbtree=0:asm=AVX2"
    monkeypatch.setattr(encode, "_has_avx512", lambda: False)
    assert encode.x264_params() == ""
    assert encode.x264_params("bframes=2", "mbtree=0") == "bframes=2:mbtree=0"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="MALLOC_PERTURB_ is glibc's")
def test_x264_gives_the_same_bits_whatever_memory_it_is_handed() -> None:
    """glibc's MALLOC_PERTURB_ fills memory with a given byte as it is handed out and freed: code
    that reads memory it never wrote then gives other results for each byte. On Sapphire Rapids
    libx264's AVX-512 code did, for the self-pairs' round trips at these sizes before they kept x264
    off it (see encode.x264_params)."""
    pytest.importorskip("av")
    runs = []
    for byte in ("85", "170"):
        env = {**os.environ, "MALLOC_PERTURB_": byte}
        done = subprocess.run([sys.executable, "-c", _ENCODE], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        runs.append(done.stdout.split())
    assert "segment-differs-on-avx2" not in runs[0]
    assert len(runs[0]) == 4 and runs[0] == runs[1]


def test_a_gif_gets_a_palette_for_each_frame() -> None:
    """Smooth gradients of another hue in each frame: each frame's own 256 colours, dithered, stay
    within 5 levels of it (3,072 colours in the first); swscale's fixed 3-3-2 palette (the route before)
    is 7-20 levels off."""
    import io
    from fractions import Fraction

    import av
    import numpy as np

    yy, xx = np.mgrid[0:48, 0:64]
    frames = [np.stack([xx * 4, yy * 5, np.full_like(xx, 40 * i)], -1).astype(np.uint8)[..., [i % 3, (i + 1) % 3, 2]]
              for i in range(3)]

    def round_trip(convert, pix_fmt: str) -> list[float]:
        buf = io.BytesIO()
        with av.open(buf, "w", format="gif") as out:
            stream = out.add_stream("gif", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
            for i, rgb in enumerate(frames):
                frame = convert(rgb)
                frame.pts, frame.time_base = i, Fraction(1, 10)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        buf.seek(0)
        with av.open(buf) as c:
            back = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(back) == len(frames)
        return [float(np.abs(b.astype(int) - f).mean()) for b, f in zip(back, frames)]

    assert max(round_trip(encode.frame_converter("pal8", size=(64, 48)), "pal8")) < 5
    assert min(round_trip(lambda rgb: encode.encoder_frame(rgb, "rgb8"), "rgb8")) > 7


@pytest.mark.parametrize(("codec", "wanted", "size", "nearest"), [
    ("libx264", "yuv420p", (64, 48), "yuv420p"),  # taken as it is
    ("dnxhd", "yuv420p", (64, 48), "yuv422p"),  # the same depth, the fewest bits
    ("dnxhd", "yuv420p10le", (64, 48), "yuv422p10le"),  # a 10-bit input stays 10-bit
    ("dnxhd", "yuv444p", (65, 49), "yuv444p10le"),  # an odd size: no subsampling, then depth
    ("prores_ks", "yuv420p", (64, 48), "yuv422p10le"),
    ("qtrle", "yuv420p", (64, 48), "rgb24"),  # every colour kept: not gray, which has fewer bits
    ("prores_ks", "yuva420p", (64, 48), "yuva444p10le"),  # alpha asked: a format with alpha first (4444)
    ("qtrle", "yuva420p", (64, 48), "argb"),
    ("png", "yuva420p", (64, 48), "rgba"),
    ("libx264", "yuva420p", (64, 48), "yuv420p"),  # none with alpha: the nearest without
    ("mjpeg", "yuv420p", (64, 48), "yuvj420p"),  # listed, but "non full-range YUV is non-standard"
])
def test_an_encoder_gets_the_nearest_pixel_format_it_takes(codec: str, wanted: str, size: tuple[int, int],
                                                          nearest: str) -> None:
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - not in this FFmpeg build
        pytest.skip(f"no {codec} encoder in this FFmpeg build")
    assert encode.encodable_pix_fmt(codec, wanted, *size) == nearest


@pytest.mark.parametrize(("pix_fmt", "profile"), [(None, "DNXHR HQ"), ("yuv422p10le", "DNXHR HQX"),
                                               ("yuv444p10le", "DNXHR 444")])
def test_dnxhr_takes_the_profile_of_its_pixel_format(pix_fmt: str | None, profile: str) -> None:
    """--codec dnxhd always asked for DNxHR HQ, which takes 8-bit 4:2:2 only: a 10-bit input (encoded
    as yuv422p10le, the nearest it takes) or --pix-fmt yuv444p10le was refused ('pixel format is
    incompatible'). Each is now encoded in the profile that takes it."""
    import io
    from fractions import Fraction

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mov") as out:
        stream, chosen, _ = encode.add_video_stream(out, encode.EncodeOptions(codec="dnxhd", pix_fmt=pix_fmt), 25,
                                                    320, 180, Fraction(1, 25))
        convert = encode.frame_converter(chosen, size=(320, 180))
        for i in range(2):
            frame = convert(np.full((180, 320, 3), 60 * i, np.uint8))
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    buf.seek(0)
    with av.open(buf) as back:
        assert back.streams.video[0].codec_context.profile == profile


def test_a_pixel_format_the_encoder_does_not_take_is_refused_before_any_work() -> None:
    from srstream.errors import ConfigError

    with pytest.raises(ConfigError, match="--pix-fmt yuv420p: the dnxhd encoder takes yuv422p, "):
        encode.EncodeOptions(codec="dnxhd", pix_fmt="yuv420p").validate(".mov")


def test_nvenc_takes_crf_as_constant_quality_and_x264_presets_as_its_own() -> None:
    """--crf on NVENC is its constant quality (FFmpeg's default 2 Mb/s average would otherwise hold
    the stream to it), x264 preset names become the nearest NVENC preset, and what NVENC cannot
    take is refused before any work."""
    from srstream.errors import ConfigError

    opts = encode.options_for(".mp4", "hevc_nvenc", None)
    assert opts.codec_options() == {"preset": "p3", "tune": "hq", "rc": "vbr", "cq": "18", "b": "0"}
    assert encode.EncodeOptions(codec="h264_nvenc", crf=18, preset="slow").codec_options()["preset"] == "p5"
    rate = encode.EncodeOptions(codec="av1_nvenc", crf=18, bitrate="8M", preset="p7").codec_options()
    assert rate == {"preset": "p7", "tune": "hq"}  # the bitrate is the stream's, its own rate control
    for bad, match in ((dict(crf=0), "1 \\(best\\) to 51"), (dict(crf=52), "1 \\(best\\) to 51"),
                       (dict(preset="p9"), "p1, p2, p3, p4, p5, p6, p7")):
        with pytest.raises(ConfigError, match=match):
            encode.EncodeOptions(codec="h264_nvenc", **{"crf": 18, **bad}).validate(".mp4")


def test_encoders_without_crf_take_it_as_their_quantiser_scale(tmp_path) -> None:  # noqa: ANN001
    """MPEG-2 (an .mpg for a DVD), MPEG-4 part 2 (an old player's .avi) and the like have no CRF:
    they ran at FFmpeg's default 200 kbit/s, starving an upscaled picture. --crf is now their
    quantiser scale (FFmpeg's -q:v), 2 unless given."""
    import av
    import numpy as np

    from srstream.errors import ConfigError

    opts = encode.options_for(".mpg", "mpeg2video", None)
    assert opts.crf == encode.DEFAULT_QSCALE == 2
    assert opts.codec_options() == {"flags": "+qscale", "global_quality": "236", "qmin": "2", "qmax": "2"}
    assert encode.EncodeOptions(codec="mpeg4", crf=5, bitrate="4M").codec_options() == {}  # a bitrate: its own
    with pytest.raises(ConfigError, match="quantiser scale .* 1 \\(best\\) to 31"):
        encode.EncodeOptions(codec="mpeg4", crf=40).validate(".avi")
    rng = np.random.default_rng(0)
    # grey noise (no chroma for 4:2:0 to halve): every bit counts
    frames = [np.repeat(rng.integers(0, 256, (240, 320, 1), dtype=np.uint8), 3, axis=2) for _ in range(5)]
    with av.open(str(tmp_path / "noise.mpg"), "w") as out:
        stream = out.add_stream("mpeg2video", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = opts.codec_options()
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(tmp_path / "noise.mpg")) as back:
        got = [f.to_ndarray(format="rgb24").astype(float) for f in back.decode(video=0)]
    psnr = 10 * np.log10(255 ** 2 / np.mean([(g - f) ** 2 for g, f in zip(got, frames)]))
    assert len(got) == 5 and psnr > 30, psnr  # 37.4 dB; at 200 kbit/s 22.0


@pytest.mark.parametrize("codec", ["mpeg2video", "mpeg4", "mjpeg"])
def test_the_quantiser_scale_asked_for_is_the_one_coded(tmp_path, codec: str) -> None:  # noqa: ANN001
    """``--crf 12`` into an .mpg or an Xvid .avi gave the same file as ``--crf 2``: the encoder takes
    each frame's quality, which PyAV's frames leave at 0, and coded every frame at its least
    quantiser, 2. Each --crf now gives its own scale (the decoder reads back twice the qscale)."""
    import av
    import numpy as np

    from srstream.engine.compression import measure

    base = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    sizes = {}
    for crf in (2, 12):
        path = tmp_path / f"q{crf}.avi"
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=25)
            stream.width, stream.height = 128, 96
            stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            stream.options = encode.EncodeOptions(codec=codec, crf=crf).codec_options()
            for i in range(5):
                frame = av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame.reformat(format=stream.pix_fmt)))
            out.mux(stream.encode(None))
        sizes[crf] = path.stat().st_size
        if codec != "mjpeg":  # its decoder exports no quantiser
            assert measure(path).qp == 2 * crf, (codec, crf, measure(path).qp)
    assert sizes[12] < sizes[2] * 0.6, sizes


def test_an_mpg_output_is_mpeg2_where_mpeg2_holds_the_video(tmp_path) -> None:  # noqa: ANN001
    """An .mpg (MPEG program stream) held H.264, which the players, editors and DVD tools that ask
    for an .mpg do not read. It is now MPEG-2 where MPEG-2 holds the video as it is (a frame rate it
    has a code for, 8 bits, up to 1920x1152), else H.264 with a note saying why and what to do."""
    from fractions import Fraction

    import av

    from srstream import Upscaler
    from srstream.engine.api import plan_file
    from tests.conftest import write_video
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    ntsc = Fraction(30000, 1001)
    assert encode.options_for(".mpg", None, None, picture=(ntsc, 1280, 720)).codec == "mpeg2video"
    assert encode.options_for(".MPEG", None, None, picture=(Fraction(25), 1920, 1080)).codec == "mpeg2video"
    for why, args, picture in (("13 fps", (), (Fraction(13), 640, 480)), ("8 bits", (True,), (ntsc, 1280, 720)),
                               ("3840x2160", (), (Fraction(30), 3840, 2160))):
        opts = encode.options_for(".mpg", None, None, *args, picture=picture)
        assert opts.codec == "libx264" and why in opts.note and "--codec mpeg2video" in opts.note, opts
    assert encode.options_for(".mpg", "libx264", None, picture=(ntsc, 64, 48)).note == ""  # asked for
    assert encode.options_for(".ts", None, None, picture=(ntsc, 64, 48)).codec == "libx264"
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        for rate, codec in ((25, "mpeg2video"), (13, "h264")):
            clip = write_video(tmp_path / f"c{rate}.mp4", frames=8, rate=rate)
            result = up.run(plan_file(clip, tmp_path / f"c{rate}.mpg", scale=2))
            with av.open(str(tmp_path / f"c{rate}.mpg")) as back:
                assert back.streams.video[0].codec_context.name == codec
                assert sum(1 for _ in back.decode(video=0)) == 8
            assert ("holds H.264" in " ".join(result.video.notes)) == (codec == "h264")


def test_a_muxer_that_says_no_is_not_called_a_permission_problem(tmp_path) -> None:  # noqa: ANN001
    """FFmpeg's muxers return -1 for 'I cannot do that' (44.1 kHz audio into .mxf), which reads as
    EPERM; it was reported as 'permission denied writing ...'. EACCES still is one."""
    import errno

    import av

    from srstream.engine.av_errors import write_error

    muxer = write_error(av.error.PermissionError(errno.EPERM, "Operation not permitted"), tmp_path / "o.mxf")
    assert "permission denied" not in str(muxer) and "the .mxf muxer refused it" in str(muxer)
    denied = write_error(PermissionError(errno.EACCES, "Permission denied"), tmp_path / "o.mp4")
    assert str(denied).startswith("permission denied writing")


def test_a_file_missing_frames_is_found(tmp_path) -> None:  # noqa: ANN001
    from srstream.errors import OutputError
    from tests.conftest import write_video

    for name in ("six.mp4", "six.mkv"):  # an index's count, and packets counted
        path = write_video(tmp_path / name, frames=6)
        encode.frames_kept(path, 6)
        with pytest.raises(OutputError, match=r"muxer kept 6 of the 7 frames it was given"):
            encode.frames_kept(path, 7)


def test_vp9_takes_the_preset_as_libvpx_speed() -> None:
    """A .webm output was coded at libvpx's own default speed (3 fps at 720p on 2 cores: the
    whole run's pace) and ``--preset`` was ignored for it. The preset now picks libvpx's deadline
    and speed, with row threading; the default (veryfast) codes 2.4x faster for the same bytes."""
    from srstream.errors import ConfigError

    default = encode.options_for(".webm", None, None).codec_options()
    assert default["deadline"] == "good" and default["cpu-used"] == "4" and default["row-mt"] == "1", default
    slow = encode.EncodeOptions(codec="libvpx-vp9", crf=18, preset="slow").codec_options()
    assert (slow["deadline"], slow["cpu-used"]) == ("good", "1")
    fastest = encode.EncodeOptions(codec="libvpx-vp9", crf=18, preset="ultrafast").codec_options()
    assert fastest["deadline"] == "realtime"
    with pytest.raises(ConfigError, match="--preset 'p4'"):
        encode.EncodeOptions(codec="libvpx-vp9", crf=18, preset="p4").validate(".webm")


def test_a_picture_beyond_every_codec_level_is_said() -> None:
    """A 4K video taken x4 was written as 15360x8640 H.264 flagged level 6.2 without a word: no
    hardware decoder, browser or phone plays it. The run says so, and what to do; within the levels
    nothing is said."""
    import io
    from fractions import Fraction

    import av

    for size, said in (((15360, 8640), True), ((8192, 4352), False), ((7680, 4320), False)):
        with av.open(io.BytesIO(), "w", format="matroska") as box:
            _, _, note = encode.add_video_stream(box, encode.options_for(".mkv", None, None), 30, *size,
                                                 Fraction(1, 30))
        assert ("beyond the largest picture of every libx264 level" in (note or "")) == said, (size, note)


def test_a_stream_sent_over_rtsp_keeps_its_sound_as_it_is() -> None:
    """RTSP's muxer sends over its own connection and cannot write into memory: tried there, every live run
    sent to an RTSP server failed ("a .mp4 recording with libx264 cannot be written") and a camera's AAC
    was encoded again for it ("a .mp4 file cannot hold aac"). Its streams are tried in MP4 instead."""
    import io

    import av
    import numpy as np

    memory = io.BytesIO()
    with av.open(memory, "w", format="mp4") as made:
        stream = made.add_stream("aac", rate=48000, layout="stereo")
        for index in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, index * 1024
            for packet in stream.encode(frame):
                made.mux(packet)
        for packet in stream.encode(None):
            made.mux(packet)
    memory.seek(0)
    with av.open(memory) as source:
        sent = av.open("rtsp://127.0.0.1:9/live", "w", format="rtsp")  # connects only as its header is written
        copied: list[str] = []
        kept = encode.copy_streams(sent, {0: source.streams.audio[0]}, ".mp4", copied)[0]
    assert copied == ["audio stream #0 (aac)"] and isinstance(kept, av.audio.stream.AudioStream), copied
