"""A video upscaled into numbered image files: ``sr-stream clip.mp4 -o 'frames/%04d.png'``
(:mod:`srstream.engine.framefiles`)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from srstream.engine.api import Upscaler, plan_file
from srstream.engine.encode import BT601
from srstream.engine.pipeline import picture_rgb
from srstream.errors import ConfigError, OutputError
from tests.conftest import write_video
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


@pytest.fixture()
def nearest(tmp_path: Path) -> Path:
    return write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def test_every_frame_becomes_a_numbered_file(tmp_path: Path, nearest: Path) -> None:
    """Each decoded frame, upscaled, is one PNG numbered from 1 in display order; the same command
    again keeps them all and upscales nothing."""
    clip = write_video(tmp_path / "clip.mp4", frames=12)
    with Upscaler(str(nearest)) as up:
        result = up.run(plan_file(clip, tmp_path / "frames" / "f%04d.png", scale=2))
        assert result.video.frames_out == 12
        names = sorted(p.name for p in (tmp_path / "frames").iterdir())
        assert names == [".sr-stream-batch.json", "f.ffconcat"] + [f"f{n:04d}.png" for n in range(1, 13)]
        with av.open(str(clip)) as container:  # nearest x2: each pixel of the frame as a video run sees it, twice
            for n, frame in enumerate(container.decode(video=0), 1):
                rgb = picture_rgb(frame, BT601)
                assert np.array_equal(_read(tmp_path / "frames" / f"f{n:04d}.png"), rgb.repeat(2, 0).repeat(2, 1))
        again = up.run(plan_file(clip, tmp_path / "frames" / "f%04d.png", scale=2))
    assert again.video.frames_out == 0 and "12 frames an earlier run wrote were kept" in again.video.notes


def test_an_interrupted_run_is_continued_into_the_same_files(tmp_path: Path, nearest: Path) -> None:
    """Ctrl-C after five frames leaves whole files only; the same command writes the rest, and the
    folder then holds the bytes an uninterrupted run writes."""
    clip = write_video(tmp_path / "clip.mp4", frames=12)
    seen = []

    def interrupt_after_five(n: int) -> None:
        seen.append(n)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with Upscaler(str(nearest)) as up:
        whole = up.run(plan_file(clip, tmp_path / "whole" / "%03d.png", scale=2))
        cut = up.run(plan_file(clip, tmp_path / "cut" / "%03d.png", scale=2), progress=interrupt_after_five)
        assert cut.video.interrupted and 5 <= cut.video.frames_out < 12
        assert not (tmp_path / "cut" / "frames.ffconcat").exists()  # the times of every frame, or none
        for path in (tmp_path / "cut").glob("*.png"):
            assert _read(path).shape == (96, 128, 3)  # whole files, or none
        done = up.run(plan_file(clip, tmp_path / "cut" / "%03d.png", scale=2))
    assert whole.video.frames_out == 12 and done.video.frames_out == 12 - cut.video.frames_out
    for n in range(1, 13):
        assert (tmp_path / "cut" / f"{n:03d}.png").read_bytes() == (tmp_path / "whole" / f"{n:03d}.png").read_bytes()
    assert (tmp_path / "cut" / "frames.ffconcat").read_bytes() == (tmp_path / "whole" / "frames.ffconcat").read_bytes()


def test_a_full_disk_says_the_frames_before_it_stay_for_the_same_command(tmp_path: Path, nearest: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk filling up at the fifth frame file said only that it could not be written: the four
    before it are whole and the same command goes on from them, as after Ctrl-C, and now it says so."""
    import srstream.engine.stills as stills

    clip = write_video(tmp_path / "clip.mp4", frames=12)
    real = stills.write_still
    written: list[Path] = []

    def fills_at_the_fifth(path: Path, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if len(written) == 4:
            raise OutputError(f"cannot write {path}: No space left on device; check the folder and free space")
        real(path, *args, **kwargs)
        written.append(path)

    with Upscaler(str(nearest)) as up:
        monkeypatch.setattr(stills, "write_still", fills_at_the_fifth)
        with pytest.raises(OutputError, match="the 4 frames before it are whole and stay in .*the same command "
                                              "continues from there"):
            up.run(plan_file(clip, tmp_path / "frames" / "%03d.png", scale=2))
        monkeypatch.setattr(stills, "write_still", real)
        done = up.run(plan_file(clip, tmp_path / "frames" / "%03d.png", scale=2))
    assert done.video.frames_out == 8 and len(list((tmp_path / "frames").glob("*.png"))) == 12


def test_the_frames_times_are_written_beside_them_as_a_concat_list(tmp_path: Path, nearest: Path) -> None:
    """A picture file has no time: a variable-rate video's frames came out as if evenly spaced. A
    done run writes FFmpeg's concat list beside them, each file with its duration to the next
    frame, so FFmpeg (and sr-stream) read the frames back as a video at the input's own times, and
    the folder given as a sequence says so; a list of the same name that sr-stream did not write is
    left as it was, and said."""
    from srstream.engine.sequence import open_input, plan_sequence

    times = [0, 33, 50, 117, 133, 300, 317]  # ms: a phone's variable rate, with a stall
    clip = write_video(tmp_path / "phone.mp4", frames=len(times), times_ms=times)
    with av.open(str(clip)) as c:
        shown = [f.pts * f.time_base for f in c.decode(video=0)]
    with Upscaler(str(nearest)) as up:
        up.run(plan_file(clip, tmp_path / "frames" / "phone_%04d.png", scale=2))
        listing = tmp_path / "frames" / "phone.ffconcat"
        text = listing.read_text()
        assert text.count("file '") == len(times) and "file 'phone_0001.png'" in text
        with open_input(listing) as c:  # FFmpeg's concat demuxer: the files at the list's times
            read = [(f.pts * f.time_base, f.width) for f in c.decode(video=0)]
        assert [t for t, _ in read] == [t - shown[0] for t in shown] and {w for _, w in read} == {128}
        note = f"{listing} holds these frames' own times"  # the folder as a sequence: at 25 fps, said
        assert any(note in n for n in plan_sequence(tmp_path / "frames", tmp_path / "film.mp4").notes)
        assert not any(note in n for n in plan_sequence(tmp_path / "frames", tmp_path / "film.mp4", fps=30).notes)
        even = write_video(tmp_path / "even.mp4", frames=4, rate=30)  # an even rate is the list's clock
        up.run(plan_file(even, tmp_path / "even" / "%d.png", scale=2))
        with open_input(tmp_path / "even" / "frames.ffconcat") as c:
            assert c.streams.video[0].average_rate == 30
            assert [f.pts * f.time_base for f in c.decode(video=0)] == [Fraction(n, 30) for n in range(4)]
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "phone.ffconcat").write_text("ffconcat version 1.0\n# my own cut\n")
        result = up.run(plan_file(clip, tmp_path / "mine" / "phone_%04d.png", scale=2))
    assert (tmp_path / "mine" / "phone.ffconcat").read_text() == "ffconcat version 1.0\n# my own cut\n"
    assert any("times are not written" in note and "did not write it" in note for note in result.video.notes)


def test_deep_and_transparent_frames_keep_their_bits_and_alpha(tmp_path: Path, nearest: Path) -> None:
    """A 10-bit video gives 16-bit PNGs (JPEG frames: 8 bits, said); a video with alpha gives RGBA PNGs."""
    deep = tmp_path / "deep.mkv"
    with av.open(str(deep), "w") as out:
        stream = out.add_stream("ffv1", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv444p10le"
        ramp = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (16, 1))
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.dstack([ramp] * 3), format="rgb48le")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    alpha = tmp_path / "alpha.mov"
    with av.open(str(alpha), "w") as out:
        stream = out.add_stream("qtrle", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 32, 16, "argb"
        rgba = np.zeros((16, 32, 4), np.uint8)
        rgba[..., 1], rgba[..., 3] = 200, np.linspace(0, 255, 32).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with Upscaler(str(nearest)) as up:
        up.run(plan_file(deep, tmp_path / "d" / "%d.png", scale=2))
        jpeg = up.run(plan_file(deep, tmp_path / "j" / "%d.jpg", scale=2))
        up.run(plan_file(alpha, tmp_path / "a" / "%d.png", scale=2))
    sixteen = _read(tmp_path / "d" / "1.png")
    assert sixteen.dtype == np.uint16 and sixteen.shape == (32, 64, 3) and np.any(sixteen % 257)  # not 8 bits widened
    assert _read(tmp_path / "j" / "1.jpg").dtype == np.uint8 and any("hold 8" in n for n in jpeg.video.notes)
    transparent = _read(tmp_path / "a" / "1.png")
    assert transparent.shape == (32, 64, 4)  # the alpha upscaled on its own, smoothly
    assert np.abs(transparent[0, ::2, 3].astype(int) - rgba[0, :, 3]).max() <= 8


def test_names_and_what_is_refused(tmp_path: Path, nearest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A name with one number takes the frames; a name with two numbers, a format of animations,
    --workers and a file no run wrote are refused before any work, and the sound is said to stay
    behind (the command line). An existing folder takes the video under its default name, as it
    takes an image's output and several inputs' (it took numbered frames, unlike them)."""
    from srstream import cli
    from tests.conftest import write_tone_clip

    clip = write_tone_clip(tmp_path / "clip.mp4", frames=3)
    (tmp_path / "out").mkdir()
    assert cli.main([str(clip), "-o", str(tmp_path / "out" / "clip_%06d.png"), "--model", str(nearest)]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [f"clip_{n:06d}.png" for n in (1, 2, 3)]
    assert "3 frames written" in captured.out and "the input's audio is not in numbered frames" in captured.err
    assert f"the frames' times are in {tmp_path / 'out' / 'clip.ffconcat'}" in captured.err
    (tmp_path / "videos").mkdir()
    assert cli.main([str(clip), "-o", str(tmp_path / "videos"), "--model", str(nearest)]) == 0
    assert [p.name for p in (tmp_path / "videos").iterdir()] == ["clip_x2.mp4"]
    assert plan_file(clip, tmp_path / "videos", scale=2, overwrite=True).output == tmp_path / "videos" / "clip_x2.mp4"
    for name, error in (("%d_%d.png", "one %d"), ("%d.gif", "frames are written as"), ("100%.png", "one %d")):
        with pytest.raises(ConfigError, match=error):
            plan_file(clip, tmp_path / "x" / name, scale=2)
    with pytest.raises(ConfigError, match="in one pass"):
        plan_file(clip, tmp_path / "x" / "%d.png", scale=2, workers=2)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "0001.png").write_bytes(b"someone's")
    with pytest.raises(OutputError, match="no sr-stream run wrote it"):
        plan_file(clip, tmp_path / "mine" / "%04d.png", scale=2)
    assert not (tmp_path / "x").exists() and (tmp_path / "mine" / "0001.png").read_bytes() == b"someone's"
    assert plan_file(clip, tmp_path / "x" / "100%%_%d.png", scale=2).frames.path(0).name == "100%_1.png"
