"""A video upscaled into an animated WebP (``-o sticker.webp``): every frame at its time, alpha
kept, looping; refused where its frames would not fit in memory, and nothing left by a failed run."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from srstream import cli
from srstream.engine.animated import apng_plays, gif_cut_short, gif_repeats, webp_loop_count
from tests.conftest import remux_video, write_video
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


@pytest.fixture(scope="module")
def nearest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nearest_x2(tmp_path_factory.mktemp("model") / "nearest.onnx", nearest_x2_spec())


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main([*argv, "--backend", "ort", "--precision", "fp32"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_clip_becomes_an_animated_webp_at_its_own_times(tmp_path: Path, nearest: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """It was refused ("the input is a video, and the output's extension is an image format")."""
    src = write_video(tmp_path / "clip.mp4", frames=5, audio=True, times_ms=[0, 40, 80, 200, 240])
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "sticker.webp"), "--model", str(nearest))
    assert code == 0, text
    assert "audio has no place in an animated WebP" in text
    ok, animation = cv2.imreadanimation(str(tmp_path / "sticker.webp"))
    assert ok and len(animation.frames) == 5 and animation.loop_count == 0
    assert list(animation.durations) == [40, 40, 120, 40, 40]  # to the next frame; the last its own
    assert animation.frames[0].shape[:2] == (96, 128)
    with av.open(str(src)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    near = np.kron(first, np.ones((2, 2, 1), np.uint8)).astype(int)
    assert np.abs(animation.frames[0][..., :3].astype(int) - near).mean() < 6  # lossy, at quality 95
    small = tmp_path / "small.webp"
    code, text = _run(capsys, str(src), "-o", str(small), "--model", str(nearest), "--quality", "10")
    assert code == 0 and small.stat().st_size < (tmp_path / "sticker.webp").stat().st_size


def test_a_transparent_gif_becomes_a_transparent_webp(tmp_path: Path, nearest: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    image = pytest.importorskip("PIL.Image")
    frames = []
    for i in range(3):
        rgba = np.zeros((16, 24, 4), np.uint8)
        rgba[2 + i:8 + i, 4:20] = (255, 40, 0, 255)
        frames.append(image.fromarray(rgba, "RGBA"))
    frames[0].save(tmp_path / "emote.gif", save_all=True, append_images=frames[1:], duration=[100, 200, 50],
                   disposal=2, loop=0)
    code, text = _run(capsys, str(tmp_path / "emote.gif"), "-o", str(tmp_path / "emote.webp"), "--model",
                      str(nearest))
    assert code == 0, text
    ok, animation = cv2.imreadanimation(str(tmp_path / "emote.webp"))
    assert ok and list(animation.durations) == [100, 200, 50]
    alpha = animation.frames[1][..., 3]
    assert alpha[0, 0] == 0 and alpha[8, 16] == 255
    # a folder's GIFs with --ext webp: animated WebPs too (other formats leave a GIF a GIF)
    folder = tmp_path / "emotes"
    folder.mkdir()
    (tmp_path / "emote.gif").rename(folder / "emote.gif")
    code, text = _run(capsys, str(folder), "--ext", "webp", "--model", str(nearest))
    assert code == 0 and "kept their own format" not in text, text
    ok, animation = cv2.imreadanimation(str(tmp_path / "emotes_x2" / "emote.webp"))
    assert ok and list(animation.durations) == [100, 200, 50]
    # and one alone: it was refused ("--ext: for image outputs; emote.gif is a video"), -o had to name it
    for ext, name in (("webp", "emote_x2.webp"), ("png", "emote_x2.apng")):
        code, text = _run(capsys, str(folder / "emote.gif"), "--ext", ext, "--model", str(nearest))
        ok, animation = cv2.imreadanimation(str(folder / name))
        assert code == 0 and ok and len(animation.frames) == 3, text
    code, text = _run(capsys, str(folder / "emote.gif"), "--ext", "jpg", "--model", str(nearest))
    assert code != 0 and "holds one picture" in text and not list(folder.glob("*.jpg")), text


@pytest.mark.parametrize("loop", [None, 0, 2])
def test_a_gif_plays_as_often_as_its_loop_block_says_as_webp_and_as_gif(tmp_path: Path, nearest: Path, loop: int | None,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Every GIF came out looping for ever: one made to play once (no loop block) or twice more did not."""
    image = pytest.importorskip("PIL.Image")
    frames = [image.fromarray(np.full((8, 12, 3), 60 * i, np.uint8)) for i in range(3)]
    src = tmp_path / "once.gif"
    looping = {} if loop is None else {"loop": loop}
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, **looping)
    assert gif_repeats(src) == loop
    for out in ("out.webp", "out.gif", "out.apng"):
        code, text = _run(capsys, str(src), "-o", str(tmp_path / out), "--model", str(nearest))
        assert code == 0, text
    ok, animation = cv2.imreadanimation(str(tmp_path / "out.webp"))
    assert ok and animation.loop_count == {None: 1, 0: 0, 2: 3}[loop]  # WebP counts every play
    assert apng_plays(tmp_path / "out.apng") == {None: 1, 0: 0, 2: 3}[loop]  # so does APNG
    assert gif_repeats(tmp_path / "out.gif") == loop
    with image.open(tmp_path / "out.gif") as gif:  # as Pillow reads it
        assert gif.info.get("loop") == loop


def test_a_gifs_loop_block_is_found_after_its_first_picture(tmp_path: Path) -> None:
    """The NETSCAPE block after a picture with its own colour table and two LZW sub-blocks."""
    def gif_repeats_bytes(data: bytes) -> int | None:
        (tmp_path / "a.gif").write_bytes(data)
        return gif_repeats(tmp_path / "a.gif")

    picture = b"\x2c" + bytes(8) + b"\x81" + bytes(12) + b"\x02" + b"\x02ab\x01c\x00"
    block = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x07\x00\x00"
    screen = b"GIF89a" + bytes([4, 0, 4, 0, 0, 0, 0])
    assert webp_loop_count(gif_repeats_bytes(screen + picture + block + b"\x3b")) == 8
    assert gif_repeats_bytes(screen + picture + b"\x3b") is None
    assert gif_repeats_bytes(screen + picture[:14]) is None  # cut short
    assert gif_repeats_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20)) is None
    whole = screen + picture + block + b"\x3b"
    for n in range(14, len(whole)):  # cut at any byte after the screen descriptor, up to the closing byte
        gif_repeats_bytes(whole[:n])
        assert gif_cut_short(tmp_path / "a.gif"), n
    for kept in (whole, whole + bytes(3), screen + picture + b"\x99\x3b"):  # whole, padded, damaged: not cut short
        gif_repeats_bytes(kept)
        assert not gif_cut_short(tmp_path / "a.gif")


def test_a_gif_cut_short_is_upscaled_as_far_as_it_goes_and_said_to_be(tmp_path: Path, nearest: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A GIF whose download or copy did not finish was upscaled up to the cut without a word."""
    image = pytest.importorskip("PIL.Image")
    frames = [image.fromarray(np.full((8, 12, 3), 20 * i, np.uint8)) for i in range(10)]
    frames[0].save(tmp_path / "whole.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    data = (tmp_path / "whole.gif").read_bytes()
    (tmp_path / "cut.gif").write_bytes(data[:len(data) * 2 // 3])
    for name, out in [("cut.gif", "a.gif"), ("cut.gif", "b.webp"), ("whole.gif", "c.gif")]:
        code, text = _run(capsys, str(tmp_path / name), "-o", str(tmp_path / out), "--model", str(nearest))
        assert code == 0, text
        assert ("stops before its end (a GIF's closing byte): the file was cut short" in text) == (name == "cut.gif"), \
            text


@pytest.mark.parametrize("suffix", [".webp", ".png"])
def test_an_animated_webp_or_png_becomes_a_video_at_its_own_times(tmp_path: Path, nearest: Path, suffix: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A sticker (animated WebP) or an animated PNG into -o NAME.mp4 was refused ("the input is an
    image"): FFmpeg reads an animated PNG as a video, and an animated WebP not at all (its frames
    now go through an animated PNG beside the output, removed after)."""
    animation = cv2.Animation()
    animation.frames = [np.full((16, 24, 4), (40 * i, 90, 200, 255), np.uint8) for i in range(3)]
    animation.durations, animation.loop_count = [100, 200, 50], 2  # plays twice
    ok, data = cv2.imencodeanimation(suffix, animation, [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else [])
    src = tmp_path / f"sticker{suffix}"
    src.write_bytes(data.tobytes())
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "sticker.mp4"), "--model", str(nearest), "--crf", "0")
    assert code == 0, text
    with av.open(str(tmp_path / "sticker.mp4")) as container:
        frames = [(f.time, f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]
    assert [round(t, 2) for t, _ in frames] == [0, 0.1, 0.3]  # each frame at its time
    assert frames[2][1].shape == (32, 48, 3) and abs(int(frames[2][1][8, 8, 0]) - 80) <= 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # the stand-in is gone
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "sticker.gif"), "--model", str(nearest))
    assert code == 0 and gif_repeats(tmp_path / "sticker.gif") == 1, text  # twice, as the animation played


def test_a_clip_with_sound_becomes_a_gif_without_it_and_says_so(tmp_path: Path, nearest: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A GIF of a clip with sound stopped the run ("cannot copy audio stream #1 (aac) into .gif"),
    asking for --no-audio every time; the sound is now left out with a note, as an animated WebP's is."""
    src = write_video(tmp_path / "clip.mp4", frames=4, audio=True)
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "clip.gif"), "--model", str(nearest))
    assert code == 0 and "the input's audio has no place in a GIF" in text, text
    with av.open(str(tmp_path / "clip.gif")) as container:
        assert [s.type for s in container.streams] == ["video"] and container.streams.video[0].frames in (0, 4)


def test_an_animation_too_large_for_memory_is_refused_and_nothing_is_left(tmp_path: Path, nearest: Path,
                                                                          capsys: pytest.CaptureFixture[str],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from srstream.engine import stills

    src = write_video(tmp_path / "clip.mp4", frames=6)
    monkeypatch.setattr(stills, "_animation_memory", lambda: 4 * 128 * 96 * 4)  # four frames' worth
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "long.webp"), "--model", str(nearest))
    assert code == 4 and "6 frames of 128x96 would take" in text and "--duration" in text
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "short.webp"), "--model", str(nearest), "--frames", "4")
    assert code == 0, text
    # a container that does not count its frames: stopped when they fill the memory
    monkeypatch.setattr(stills, "_animation_memory", lambda: 4 * 128 * 96 * 3)
    unknown = remux_video(src, tmp_path / "clip.ts")
    code, text = _run(capsys, str(unknown), "-o", str(tmp_path / "ts.webp"), "--model", str(nearest))
    assert code != 0 and "encoded whole, and after 4 frames" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.ts", "short.webp"]
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "x.webp"), "--model", str(nearest), "--workers", "2")
    assert code == 2 and "encoded whole, in one pass" in text


def test_rates_without_times_fall_back_to_the_frame_rate() -> None:
    from srstream.engine.animated import AnimationSink
    from srstream.engine.messages import Report

    sink = AnimationSink(Path("x.webp"), Report(), Fraction(1, 90000), Fraction(25), 1 << 20)
    sink.frames = [(0, None, np.zeros(1)), (1, None, np.zeros(1)), (2, 3600 * 3, np.zeros(1))]
    assert sink.durations() == [40, 80, 40]  # 0, 40 (one frame on), 120 ms (its own time); the last 1 / 25 s


def test_an_interrupted_or_failed_run_writes_nothing(tmp_path: Path) -> None:
    from srstream.engine.animated import AnimationSink
    from srstream.engine.messages import Frame, Report, Upscaled

    for outcome in ("interrupted", "failed"):
        sink = AnimationSink(tmp_path / "x.webp", Report(), Fraction(1, 1000), Fraction(25), 1 << 20)
        sink.send(Upscaled(Frame(0, 0, 0.0, None), np.zeros((4, 4, 3), np.uint8), 0.0), None)
        sink.close(outcome)
        assert not sink.frames and list(tmp_path.iterdir()) == []
    sink.send(Upscaled(Frame(0, 0, 0.0, None), np.zeros((4, 4, 3), np.uint8), 0.0), None)
    sink.close("done")
    assert [p.name for p in tmp_path.iterdir()] == ["x.webp"]


def test_a_clip_becomes_an_animated_png_lossless_looping_with_its_depth_and_alpha(
        tmp_path: Path, nearest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o NAME.apng was refused ("the output's extension is unknown"): an animated PNG is the
    lossless animated picture browsers show. Every frame at its time, exact RGB, looping for ever
    (FFmpeg's APNG muxer plays once unless told), the sound left out and said; 10-bit video as
    16-bit RGB and transparency as RGBA."""
    src = write_video(tmp_path / "clip.mp4", frames=4, audio=True, times_ms=[0, 40, 80, 200])
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "clip.apng"), "--model", str(nearest))
    assert code == 0 and "the input's audio has no place in an animated PNG" in text, text
    assert "does not take" not in text  # RGB is what it is written in, not a fallback
    assert apng_plays(tmp_path / "clip.apng") == 0
    code, text = _run(capsys, str(src), "-o", str(tmp_path / "frames" / "%03d.png"), "--model", str(nearest))
    assert code == 0, text
    with av.open(str(tmp_path / "clip.apng")) as container:
        assert container.format.name == "apng" and [s.type for s in container.streams] == ["video"]
        frames = [(round(f.time, 2), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert [t for t, _ in frames] == [0, 0.04, 0.08, 0.2]
    for i, (_, frame) in enumerate(frames):  # the very pixels of the run's own PNG frames
        assert np.array_equal(frame, cv2.cvtColor(cv2.imread(str(tmp_path / "frames" / f"{i + 1:03d}.png")),
                                                  cv2.COLOR_BGR2RGB))

    deep = tmp_path / "deep.mkv"
    with av.open(str(deep), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "yuv420p10le"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((16, 24, 3), 3000 + 9000 * i, np.uint16), format="rgb48le")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    sticker = tmp_path / "sticker.mov"
    with av.open(str(sticker), "w") as container:
        stream = container.add_stream("qtrle", rate=10)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "argb"
        rgba = np.zeros((16, 24, 4), np.uint8)
        rgba[:, 12:] = (200, 30, 60, 255)
        frame = av.VideoFrame.from_ndarray(rgba, format="rgba")
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    for name, pix_fmt in (("deep", "rgb48be"), ("sticker", "rgba")):
        out = tmp_path / f"{name}.apng"
        code, text = _run(capsys, str(tmp_path / f"{name}{'.mkv' if name == 'deep' else '.mov'}"), "-o", str(out),
                          "--model", str(nearest))
        assert code == 0, text
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.pix_fmt == pix_fmt
            picture = next(container.decode(video=0)).to_ndarray(format="rgba")
        if name == "sticker":
            assert picture[:, :20, 3].max() == 0 and picture[:, 28:, 3].min() == 255
