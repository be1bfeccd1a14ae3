"""An image sequence upscaled into a video: ``sr-stream frames/ -o film.mp4 --fps 24``
(:mod:`srstream.engine.sequence`)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from srstream.engine.api import Upscaler, plan_file
from srstream.engine.sequence import ImageSequence, frame_rate, listing_for
from srstream.errors import ConfigError, InputError
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


@pytest.fixture()
def nearest(tmp_path: Path) -> Path:
    return write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())


def _frames(folder: Path, numbers: list[int], name: str = "f{}.png") -> Path:
    """Grey frames numbered as given (not zero-padded: f2 sorts before f10 only by its number),
    frame ``n`` at level ``10 * n + 20``."""
    folder.mkdir(exist_ok=True)
    for n in numbers:
        assert cv2.imwrite(str(folder / name.format(n)), np.full((12, 16, 3), 10 * n + 20, np.uint8))
    return folder


def _levels(video: Path) -> tuple[list[float], list[float], Fraction]:
    """Each frame's mean level, its time in seconds, and the stream's rate."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return ([float(f.to_ndarray(format="gray").mean()) for f in frames],
                [float(f.pts * f.time_base) for f in frames], stream.average_rate)


def test_a_folder_of_frames_becomes_a_video_in_their_numbers_order(tmp_path: Path, nearest: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``sr-stream frames/ -o out.mkv --fps 24``: every frame once, in its number's order (f10 after
    f9, not after f1), each at n/24 s, upscaled; a gap in the numbering is said; the concat list
    that stood for the sequence is gone once the run ends."""
    from srstream import cli

    frames = _frames(tmp_path / "frames", [n for n in range(1, 13) if n != 7])
    out = tmp_path / "out.mkv"
    code = cli.main([str(frames), "-o", str(out), "--model", str(nearest), "--fps", "24", "--codec", "ffv1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "11 frames (f1.png ... f12.png) as a video at 24 fps" in captured.err
    assert "1 frame number is missing" in captured.err and "(7)" in captured.err
    levels, times, rate = _levels(out)
    expected = [10 * n + 20 for n in range(1, 13) if n != 7]
    assert np.allclose(levels, expected, atol=2), levels
    assert rate == 24 and np.allclose(times, [k / 24 for k in range(11)], atol=1e-3), times
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (32, 24)
    assert not listing_for(out).exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "frames", "nearest.onnx", "out.mkv"]
    # the same command again: the finished output is kept, and nothing is left behind
    assert cli.main([str(frames), "-o", str(out), "--model", str(nearest), "--fps", "24"]) != 0
    assert "--overwrite" in capsys.readouterr().err and not listing_for(out).exists()


def test_an_interrupted_sequence_job_resumes_into_the_one_pass_file(tmp_path: Path, nearest: Path) -> None:
    """A long sequence runs as a resumable job like a long video: the list written again by the
    second run is the same file, so the finished segment is reused, and the output equals one
    pass's."""
    import srstream.engine.jobs as jobs

    frames = _frames(tmp_path / "frames", list(range(1, 21)), "shot_{:04d}.png")
    with Upscaler(str(nearest)) as up:
        whole = up.run(plan_file(frames, tmp_path / "whole.mp4", scale=2, segments="off"))
        assert whole.video.frames_out == 20
        real = jobs.run_job

        def interrupted_after_one(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            assert kwargs.pop("run_segments", None) is None

            def first_only(todo):  # noqa: ANN001, ANN202
                path, seg = todo[0]
                yield seg, args[2](path, seg)
                raise KeyboardInterrupt

            return real(*args, run_segments=first_only, **kwargs)

        jobs.run_job = interrupted_after_one
        try:
            assert up.run(plan_file(frames, tmp_path / "out.mp4", scale=2, segments=8)).segments.interrupted
        finally:
            jobs.run_job = real
        assert not listing_for(tmp_path / "out.mp4").exists()
        result = up.run(plan_file(frames, tmp_path / "out.mp4", scale=2, segments=8))
    assert result.segments.reused == 1 and result.segments.frames_out == 20
    assert _levels(tmp_path / "out.mp4") == _levels(tmp_path / "whole.mp4")
    assert not listing_for(tmp_path / "out.mp4").exists()


def test_names_with_quotes_and_spaces_and_a_glob(tmp_path: Path, nearest: Path) -> None:
    """Frames whose names hold a quote and spaces (the list quotes them as FFmpeg reads them), chosen
    by a glob from a folder that holds other images too."""
    folder = _frames(tmp_path / "it's a folder", [1, 2, 3], "it's frame {}.png")
    assert cv2.imwrite(str(folder / "poster.jpg"), np.zeros((12, 16, 3), np.uint8))
    with Upscaler(str(nearest)) as up:
        result = up.run(plan_file(f"{folder}/*.png", tmp_path / "out.mkv", scale=2, codec="ffv1"))
    assert result.video.frames_out == 3
    assert np.allclose(_levels(tmp_path / "out.mkv")[0], [30, 40, 50], atol=2)
    # a concat list of the user's own, its paths relative to it, timed by its own lines
    own = folder / "mine.ffconcat"
    own.write_text("ffconcat version 1.0\nfile 'it'\\''s frame 3.png'\noption framerate 10\nduration 0.2\n"
                   "file 'it'\\''s frame 1.png'\noption framerate 10\nduration 0.1\n")
    with Upscaler(str(nearest)) as up:
        assert up.run(plan_file(own, tmp_path / "mine.mkv", scale=2, codec="ffv1")).video.frames_out == 2
    levels, times, _ = _levels(tmp_path / "mine.mkv")
    assert np.allclose(levels, [50, 30], atol=2) and np.allclose(times, [0, 0.2]), (levels, times)


def test_what_a_sequence_refuses(tmp_path: Path, nearest: Path) -> None:
    """Images of several formats (which to take?), frames FFmpeg cannot read one a file, -r, and
    --fps where there is no sequence: refused before any work, saying what to do; nothing written."""
    mixed = _frames(tmp_path / "mixed", [1, 2])
    assert cv2.imwrite(str(mixed / "f3.jpg"), np.zeros((12, 16, 3), np.uint8))
    with pytest.raises(InputError, match=r"several formats \(2 \.png, 1 \.jpg\).*\*\.png"):
        plan_file(mixed, tmp_path / "out.mp4", scale=2)
    gifs = tmp_path / "gifs"
    gifs.mkdir()
    for i in range(2):
        assert cv2.imwrite(str(gifs / f"g{i}.gif"), np.zeros((12, 16, 3), np.uint8))
    with pytest.raises(InputError, match="convert them first"):
        plan_file(gifs, tmp_path / "out.mp4", scale=2)
    with pytest.raises(ConfigError, match="drop -r"):
        plan_file(mixed, tmp_path / "out.mp4", scale=2, recursive=True)
    with pytest.raises(ConfigError, match="a video keeps its own rate"):
        plan_file(mixed, tmp_path / "out_folder", scale=2, fps=24)
    with pytest.raises(ConfigError, match="at most 1000"):
        plan_file(_frames(tmp_path / "ok", [1]), tmp_path / "out.mp4", scale=2, fps=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gifs", "mixed", "nearest.onnx", "ok"]


def test_frame_times_never_drift_at_ntsc_rates(tmp_path: Path) -> None:
    """``--fps 23.976`` is 24000/1001, and over 100,000 frames (77 minutes) each frame starts at
    round(n * 1001/24000 s) to the microsecond: the concat demuxer's clock adds durations, and
    durations rounded alike drifted a whole frame (duplicate timestamps) within an hour."""
    assert frame_rate(23.976) == Fraction(24000, 1001) and frame_rate(29.97) == Fraction(30000, 1001)
    assert frame_rate(None) == 25 and frame_rate(12.5) == Fraction(25, 2)
    frame = tmp_path / "f.png"
    assert cv2.imwrite(str(frame), np.zeros((2, 2), np.uint8))
    n = 100_000
    text = ImageSequence(tmp_path, (frame,) * n, Fraction(24000, 1001), tmp_path / "l.ffconcat").text()
    durations = [round(float(line.split()[1]) * 1e6) for line in text.splitlines() if line.startswith("duration")]
    starts = np.cumsum([0] + durations)
    assert len(durations) == n and all(starts == [round(k * 1_000_000 * 1001 / 24000) for k in range(n + 1)])


def test_a_changed_frame_changes_the_list(tmp_path: Path) -> None:
    """What a resumed job compares (:func:`srstream.engine.jobs.input_identity` of the list) changes
    when a frame does, so a job never joins segments of old frames to new ones."""
    import os

    frames = _frames(tmp_path / "frames", [1, 2])
    seq = ImageSequence(frames, tuple(sorted(frames.iterdir())), Fraction(25), tmp_path / "l.ffconcat")
    before = seq.text()
    os.utime(frames / "f2.png", ns=(0, 10**18))
    assert seq.text() != before


def test_a_sequence_takes_a_soundtrack(tmp_path: Path, nearest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--audio FILE``: the first audio stream of an audio file (or of a video) is the sequence's
    sound, muxed by the job's join (a short sequence runs as a one-segment job, so an interrupted
    run never leaves a video without its sound), re-encoded where the container cannot hold it
    (AAC into .webm: Opus); a sound whose length differs from the frames' says which --fps fits."""
    from srstream import cli
    from tests.conftest import audio_of, write_tone_clip

    frames = _frames(tmp_path / "frames", list(range(1, 11)))
    sound = write_tone_clip(tmp_path / "sound.mp4", frames=25, tone=1000.0, start=0.0)  # 1 s of 1 kHz in AAC
    out = tmp_path / "out.webm"
    code = cli.main([str(frames), "-o", str(out), "--model", str(nearest), "--fps", "10", "--audio", str(sound)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "1 segment of 10 frames" in err and "the sound runs" not in err
    codec, start, seconds, tone = audio_of(out)
    assert codec == "opus" and start < 0.05 and abs(seconds - 1.0) < 0.05 and abs(tone - 1000) < 20
    levels, times, _ = _levels(out)
    assert len(levels) == 10 and np.allclose(times, [k / 10 for k in range(10)], atol=2e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "nearest.onnx", "out.webm", "sound.mp4"]
    # at 25 fps the 10 frames last 0.4 s, the sound 1 s: said, with the rate that makes them one length
    code = cli.main([str(frames), "-o", str(tmp_path / "fast.mkv"), "--model", str(nearest), "--audio", str(sound)])
    err = capsys.readouterr().err
    assert code == 0 and "the sound runs 1.00 s, the 10 frames 0.40 s at 25 fps" in err and "--fps 10.000" in err, err
    assert audio_of(tmp_path / "fast.mkv")[0] == "aac"  # copied as it is


def test_what_a_soundtrack_refuses(tmp_path: Path) -> None:
    """A missing sound, a file without one, --audio with --no-audio or --segments off, and --audio for
    a video (which keeps its own): refused before any work, and nothing left behind."""
    from tests.conftest import write_video

    frames = _frames(tmp_path / "frames", [1, 2])
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="no such file"):
        plan_file(frames, out, scale=2, sound=tmp_path / "missing.wav")
    with pytest.raises(InputError, match="holds no audio stream"):
        plan_file(frames, out, scale=2, sound=frames / "f1.png")
    clip = write_video(tmp_path / "clip.mp4", audio=True)
    with pytest.raises(ConfigError, match="drop one"):
        plan_file(frames, out, scale=2, sound=clip, audio=False)
    with pytest.raises(ConfigError, match="drop --segments off"):
        plan_file(frames, out, scale=2, sound=clip, segments="off")
    assert not listing_for(out).exists()
    with pytest.raises(ConfigError, match="a video keeps its own sound"):
        plan_file(clip, out, scale=2, sound=clip)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "frames"]


def test_a_frame_that_does_not_decode_is_named(tmp_path: Path, nearest: Path) -> None:
    """A damaged file among the frames: the video holds the others (the frame before shown in its
    place), and the run ends with an error that names the file, in one pass and as a job alike."""
    frames = _frames(tmp_path / "frames", list(range(1, 9)))
    (frames / "f5.png").write_bytes((frames / "f5.png").read_bytes()[:60])
    with Upscaler(str(nearest)) as up:
        for segments, out in (("off", tmp_path / "one.mkv"), (4, tmp_path / "job.mkv")):
            with pytest.raises(InputError, match=r"1 of the 8 frames did not decode \(f5\.png\)"):
                up.run(plan_file(frames, out, scale=2, codec="ffv1", segments=segments))
            levels, times, _ = _levels(out)
            assert np.allclose(levels, [10 * n + 20 for n in (1, 2, 3, 4, 6, 7, 8)], atol=2), (segments, levels)
            assert np.allclose(times, [k / 25 for k in (0, 1, 2, 3, 5, 6, 7)], atol=1e-3), (segments, times)
            assert not listing_for(out).exists()


def test_phone_jpegs_with_an_orientation_come_out_upright(tmp_path: Path, nearest: Path) -> None:
    """JPEG frames with an EXIF block (a phone's, a camera's time-lapse): FFmpeg attaches the block
    to each decoded frame as side data PyAV 18 has no name for, which made every video run on them
    end in a ValueError traceback (srstream.engine.av_errors.side_data). Their orientation (6: turn
    90 degrees clockwise) is applied, as for a phone's video."""
    from PIL import Image

    folder = tmp_path / "phone"
    folder.mkdir()
    stored = np.zeros((24, 48, 3), np.uint8)
    stored[:, :24] = 255  # the left half white, as stored; upright, the top half
    for n in range(3):
        image = Image.fromarray(stored)
        exif = image.getexif()
        exif[0x0112] = 6
        image.save(folder / f"IMG_{n:04d}.jpg", exif=exif.tobytes(), quality=95)
    with Upscaler(str(nearest)) as up:
        result = up.run(plan_file(folder, tmp_path / "out.mkv", scale=2, codec="ffv1"))
    assert result.video.frames_out == 3 and any("rotated by 90" in n for n in result.video.notes)
    with av.open(str(tmp_path / "out.mkv")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="gray")
    assert frame.shape == (96, 48) and frame[:40].mean() > 240 and frame[56:].mean() < 15


def test_a_stray_image_among_numbered_frames_is_refused(tmp_path: Path, nearest: Path) -> None:
    """A preview beside a render's numbered frames would have played after them (or another shot's
    frames between them): a folder whose images are numbered alike but for some is refused, naming
    them and the globs that say which to take; a glob's files are taken as given."""
    frames = _frames(tmp_path / "render", [1, 2, 3], "shot_{:04d}.png")
    assert cv2.imwrite(str(frames / "preview.png"), np.zeros((12, 16, 3), np.uint8))
    with pytest.raises(InputError, match=r"preview\.png is not numbered like the 3 frames shot_N\.png.*shot_\*\.png"):
        plan_file(frames, tmp_path / "out.mkv", scale=2)
    with Upscaler(str(nearest)) as up:
        assert up.run(plan_file(f"{frames}/shot_*.png", tmp_path / "out.mkv", scale=2)).video.frames_out == 3
        assert up.run(plan_file(f"{frames}/*.png", tmp_path / "all.mkv", scale=2)).video.frames_out == 4
    _frames(tmp_path / "two", [1, 2])  # even beside two frames
    assert cv2.imwrite(str(tmp_path / "two" / "cover.png"), np.zeros((12, 16, 3), np.uint8))
    with pytest.raises(InputError, match="cover.png is not numbered like the 2 frames fN.png"):
        plan_file(tmp_path / "two", tmp_path / "p.mkv", scale=2)
    named = tmp_path / "named"  # names without numbers: no question, their names' order
    named.mkdir()
    for name in ("a.png", "b.png"):
        assert cv2.imwrite(str(named / name), np.zeros((12, 16, 3), np.uint8))
    job = plan_file(named, tmp_path / "n.mkv", scale=2)
    assert [p.name for p in job.sequence.frames] == ["a.png", "b.png"]
    job.sequence.remove()
