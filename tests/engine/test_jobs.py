"""Long videos as resumable segment jobs: killed with SIGKILL and run again, a job gives the file an
uninterrupted run gives (video packets byte for byte), with every frame, timestamp and the audio."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from srstream.engine.jobs import input_identity, job_folder, plan_segments
from tests.conftest import audio_of, write_tone_clip
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


@pytest.fixture(scope="module")
def nearest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nearest_x2(tmp_path_factory.mktemp("model") / "nearest.onnx", nearest_x2_spec())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """240 frames with a keyframe every 12 and B-frames (open GOPs, reordered timestamps), audio."""
    path = tmp_path_factory.mktemp("clip") / "gop.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(30))
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        v.options = {"g": "12", "bf": "2", "preset": "ultrafast"}
        a = c.add_stream("aac", rate=44100)
        for i in range(240):
            img = np.clip(rng.normal(128, 30, (120, 160, 3)) + (i % 9) * 8, 0, 255).astype(np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 44100 * 8), np.float32), format="fltp", layout="mono")
        sound.sample_rate = 44100
        for p in a.encode(sound):
            c.mux(p)
        for p in a.encode():
            c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "srstream", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def _video_packets(path: Path) -> list[tuple[int | None, int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(video=0) if p.size]


def _streams(path: Path) -> tuple[list[int], int]:
    with av.open(str(path)) as c:
        pts = [f.pts for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = sum(1 for p in c.demux(audio=0) if p.size)
    return pts, audio


def test_segments_start_at_keyframes_and_cover_every_frame(clip: Path) -> None:
    segments = plan_segments(clip, 50)
    assert len(segments) == 4 and segments[0].start is None and segments[-1].end is None  # cut at 60, 120, 180
    assert all(a.end == b.start for a, b in zip(segments, segments[1:]))
    assert sum(s.frames for s in segments) == 240 and all(s.frames % 12 == 0 for s in segments[:-1])
    assert input_identity(clip) == input_identity(clip) and input_identity(clip)["size"] == clip.stat().st_size


def test_a_job_keeps_every_frame_timestamp_and_the_audio(tmp_path: Path, nearest: Path, clip: Path) -> None:
    r = _cli(str(clip), "-o", "seg.mp4", "--model", str(nearest), "--segments", "50", cwd=tmp_path)
    assert r.returncode == 0 and "4 segments" in r.stdout, r.stderr
    assert _streams(tmp_path / "seg.mp4") == _streams(clip)
    assert not job_folder(tmp_path / "seg.mp4").exists()  # cleaned up after the join


def test_a_job_of_a_transport_stream_keeps_every_frame(tmp_path: Path, nearest: Path, clip: Path) -> None:
    """A transport stream seeks by time onto any packet, and its decoder then waits for the next
    keyframe: each segment after the first began a keyframe late, and a job of a .ts (a broadcast
    recording, a camera's .mts) lost 36 of 240 frames without a word (it declares no frame count
    to miss them by). Segments now seek where decoding reaches their first frame, as --start does."""
    from tests.conftest import remux_video

    ts = remux_video(clip, tmp_path / "gop.ts")
    r = _cli(str(ts), "-o", "seg.mkv", "--model", str(nearest), "--segments", "50", cwd=tmp_path)
    assert r.returncode == 0 and "4 segments" in r.stdout, r.stderr
    one = _cli(str(ts), "-o", "one.mkv", "--model", str(nearest), "--segments", "off", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    with av.open(str(tmp_path / "seg.mkv")) as c, av.open(str(tmp_path / "one.mkv")) as d:
        assert [f.pts for f in c.decode(video=0)] == [f.pts for f in d.decode(video=0)]
    with av.open(str(tmp_path / "seg.mkv")) as c:
        assert c.streams.video[0].frames in (0, 240) and sum(1 for _ in c.decode(video=0)) == 240


def test_a_job_of_24_fps_film_keeps_its_frames_times_exactly(tmp_path: Path, nearest: Path) -> None:
    """A segment that starts after 0 is timed in an MP4 by an empty edit in the movie's timescale,
    1/1000 s by default: a 24-fps film's segments (keyframes 10 frames, 0.41666 s, apart) started
    up to half a millisecond early, and the join moved every frame of them by that (a scene cut with
    --start too, however its keyframes fell). The movie is now timed in the video's time base."""
    src = tmp_path / "film.mp4"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.options = {"g": "10", "bf": "2", "preset": "ultrafast"}
        for i in range(40):
            c.mux(v.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 5 * i, np.uint8), format="rgb24")))
        c.mux(v.encode())
    for name, how in (("one.mp4", ["--segments", "off"]), ("seg.mp4", ["--segments", "10"]),
                      ("scene_one.mp4", ["--start", "0.3", "--segments", "off"]),
                      ("scene_seg.mp4", ["--start", "0.3", "--segments", "10"])):
        r = _cli(str(src), "-o", name, "--model", str(nearest), *how, cwd=tmp_path)
        assert r.returncode == 0, r.stderr

    def times(name: str) -> list[Fraction]:
        with av.open(str(tmp_path / name)) as c:
            return [f.pts * f.time_base for f in c.decode(video=0)]

    assert times("seg.mp4") == times("one.mp4") == times("film.mp4")
    assert times("scene_seg.mp4") == times("scene_one.mp4") and len(times("scene_seg.mp4")) == 32


def test_a_job_into_webm_reencodes_the_audio_it_cannot_copy(tmp_path: Path, nearest: Path) -> None:
    from srstream.engine.video import default_codec

    if default_codec(".webm") == "libx264":
        pytest.skip("this FFmpeg build has no VP9/AV1 encoder")
    src = write_tone_clip(tmp_path / "tone.mp4")  # AAC, a keyframe every 10 of its 30 frames
    r = _cli(str(src), "-o", "seg.webm", "--model", str(nearest), "--segments", "10", "--crf", "50", cwd=tmp_path)
    assert r.returncode == 0 and "3 segments" in r.stdout, r.stderr
    assert "audio stream #1 (aac) re-encoded as libopus" in r.stdout
    _, start_in, length_in, _ = audio_of(src)
    codec, start, length, peak = audio_of(tmp_path / "seg.webm")
    assert codec == "opus" and abs(start - start_in) < 0.005 and abs(length - length_in) < 0.03
    assert abs(peak - 440) < 3
    with av.open(str(tmp_path / "seg.webm")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30


@pytest.mark.parametrize(("suffix", "codec", "joined", "audio"), [
    (".avi", "libx264", True, "mp3float"),  # joined through h264_mp4toannexb; the sound, 0.1 s in, padded as MP3
    (".mxf", "mpeg2video", True, "pcm_s16le"),  # 48 kHz PCM, padded to the video's end
    (".mxf", "libx264", False, "pcm_s16le"),  # MP4's H.264 at 1/30000 cannot be joined into .mxf: one pass
])
def test_a_job_into_avi_or_mxf_keeps_every_frame_and_the_sound(tmp_path: Path, nearest: Path, suffix: str,
                                                                codec: str, joined: bool, audio: str) -> None:
    """Formats whose muxer takes the segments' MP4 packets only filtered (.avi), or not at all
    (H.264 into .mxf, found before any work): the job is joined, or run in one pass with a line
    saying why, and keeps all 30 frames. Before, the join failed after every segment was done,
    and MXF's muxer cut the video where the sound stopped (here at 0.6 s: it kept 14 of the 30)."""
    src = write_tone_clip(tmp_path / "tone.mp4", end=0.6)
    r = _cli(str(src), "-o", f"seg{suffix}", "--model", str(nearest), "--segments", "10", "--codec", codec,
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert ("3 segments" in r.stdout) == joined, r.stdout
    assert ("cannot make this output" in r.stderr) != joined, r.stderr
    with av.open(str(tmp_path / f"seg{suffix}")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 30
    _, start_in, length_in, _ = audio_of(src)
    got, start, length, peak = audio_of(tmp_path / f"seg{suffix}")
    assert got == audio and abs(peak - 440) < 3
    if suffix == ".mxf":  # in time
        assert abs(start - start_in) < 0.005 and abs(length - length_in) < 0.005, (start, length)
    else:  # .avi keeps no start time for sound: silence before it, and the MP3 encoder's 25 ms delay
        assert 0 <= start - start_in < 0.03 and abs(length - length_in) < 0.03, (start, length)
    assert not list(tmp_path.glob(".*")), list(tmp_path.glob(".*"))  # no job folder or partial file left


def test_a_gif_job_runs_in_one_pass(tmp_path: Path, nearest: Path) -> None:
    """A segment is an .mp4, which holds no GIF: a GIF job failed at its first segment (every GIF of
    3000 frames or more); it is found before any work, and the GIF made in one pass."""
    src = write_tone_clip(tmp_path / "tone.mp4", frames=20)
    r = _cli(str(src), "-o", "anim.gif", "--model", str(nearest), "--segments", "10", "--no-audio", cwd=tmp_path)
    assert r.returncode == 0 and "its segments (.mp4 files) cannot hold gif video" in r.stderr, r.stderr
    with av.open(str(tmp_path / "anim.gif")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20


def test_a_transport_stream_whose_times_jump_runs_in_one_pass(tmp_path: Path, nearest: Path) -> None:
    """Segments are cut and placed by time, which jumps in files joined end to end: such a file runs
    in one pass, saying why, before any segment is made."""
    from tests.engine.test_video import write_joined_ts

    src = write_joined_ts(tmp_path / "joined.ts")
    r = _cli(str(src), "-o", "out.mkv", "--model", str(nearest), "--segments", "10", cwd=tmp_path)
    assert r.returncode == 0 and "cannot cut this input: its timestamps jump" in r.stderr, r.stderr
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60
    assert not list(tmp_path.glob(".*")), list(tmp_path.glob(".*"))  # no job folder or partial file left
    r = _cli(str(src), "-o", "out2.mkv", "--model", str(nearest), "--workers", "2", cwd=tmp_path)
    assert r.returncode == 2 and "--ray-address share out a job's segments" in r.stderr, r.stderr
    assert "segments on" not in r.stderr  # refused before Ray started (seconds, and its own lines)


def test_pieces_joined_whose_sound_or_pictures_overlap(tmp_path: Path, nearest: Path) -> None:
    """Sound that overlaps itself at a join: the job is cut and joined, its join leaving out the audio
    packet that goes back, as one pass does (the muxer refused the join). Pictures that overlap by
    two frames: segments would hold other frames than one pass; it runs in one pass, saying why (its
    first segment lost two frames and the second decoded none)."""
    from tests.engine.test_video import write_overlapping_ts

    src = write_overlapping_ts(tmp_path / "sound.ts")
    r = _cli(str(src), "-o", "sound.mkv", "--model", str(nearest), "--segments", "10", cwd=tmp_path)
    assert r.returncode == 0 and "in 6 segments" in r.stdout, r.stdout + r.stderr
    assert "1 packet of audio stream #1 (0.02 s) that went back in time was left out" in r.stderr, r.stderr
    with av.open(str(tmp_path / "sound.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60
    parts = [write_tone_clip(tmp_path / "a.ts", frames=30), write_tone_clip(tmp_path / "b.ts", frames=30, first=28)]
    (tmp_path / "pictures.ts").write_bytes(b"".join(part.read_bytes() for part in parts))
    r = _cli("pictures.ts", "-o", "pictures.mkv", "--model", str(nearest), "--segments", "10", cwd=tmp_path)
    assert r.returncode == 0 and "cannot cut this input: its frames' times repeat" in r.stderr, r.stderr
    with av.open(str(tmp_path / "pictures.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60
    assert not list(tmp_path.glob(".*")), list(tmp_path.glob(".*"))  # no job folder or partial file left


@pytest.mark.parametrize(("name", "codec", "pix_fmt"), [
    ("in.mov", "prores_ks", "yuva444p10le"),  # a ProRes 4444 with alpha: its segments are QuickTime files
    ("in.avi", "utvideo", "yuv422p"),  # a lossless capture: NUT segments, joined with the fourcc of its layout
    ("in.mkv", "ffv1", "yuv444p"),
])
def test_an_editing_or_lossless_input_keeps_its_codec(tmp_path: Path, nearest: Path, name: str, codec: str,
                                                       pix_fmt: str) -> None:
    """A ProRes master or a lossless capture came out as H.264 4:2:0 at CRF 16 (a ProRes 4444's alpha
    dropped). The default keeps its codec and pixel layout, in one pass and as a resumable job (whose
    segments were MP4, which holds neither: such a job ran in one pass); another container takes its
    own default."""
    rng = np.random.default_rng(3)
    with av.open(str(tmp_path / name), "w") as c:
        stream = c.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        stream.codec_context.gop_size = 1  # FFV1 too codes every frame alone, as an editor's export does
        stream.metadata["language"] = "deu"
        for i in range(20):
            rgba = np.dstack([rng.integers(0, 256, (48, 64, 3), np.uint8), np.full((48, 64), 200, np.uint8)])
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format=pix_fmt)
            frame.pts = i
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    if name == "in.mov":  # (not among the MOV muxer's own codes, which wrote none: a German ProRes master's)
        from srstream.engine.isobox import write_languages

        assert write_languages(tmp_path / name, {1: "deu"}) == [1]
    decoder = {"prores_ks": "prores"}.get(codec, codec)
    for args, where in (([], "in_x2" + Path(name).suffix), (["-o", f"job{Path(name).suffix}", "--segments", "5"],
                                                             f"job{Path(name).suffix}")):
        r = _cli(name, "--model", str(nearest), *args, cwd=tmp_path)
        assert r.returncode == 0 and "an editing or lossless codec: kept" in r.stderr, r.stderr
        assert ("in 4 segments" in r.stdout) == bool(args), r.stdout + r.stderr
        with av.open(str(tmp_path / where)) as c:
            video = c.streams.video[0]
            assert video.codec_context.name == decoder
            assert video.codec_context.pix_fmt.startswith(pix_fmt[:8]), video.codec_context.pix_fmt
            assert video.metadata.get("language") == ("deu" if name == "in.mov" else video.metadata.get("language"))
            assert sum(1 for _ in c.decode(video)) == 20
    r = _cli(name, "--model", str(nearest), "-o", "other.mp4", cwd=tmp_path)
    assert r.returncode == 0 and "editing" not in r.stderr, r.stderr
    with av.open(str(tmp_path / "other.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_sigkill_then_the_same_command_gives_the_uninterrupted_file(tmp_path: Path, nearest: Path, clip: Path) -> None:
    straight = _cli(str(clip), "-o", "straight.mp4", "--model", str(nearest), "--segments", "50",
                    "--preset", "slower", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    command = [sys.executable, "-m", "srstream", str(clip), "-o", "resumed.mp4", "--model", str(nearest),
               "--segments", "50", "--preset", "slower"]
    run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONWARNINGS": "ignore"})
    manifest = job_folder(tmp_path / "resumed.mp4") / "manifest.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once two segments are done
        done = [s for s in json.loads(manifest.read_text())["segments"] if s["status"] == "done"] \
            if manifest.is_file() else []
        if len(done) >= 2 or run.poll() is not None:
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    assert not (tmp_path / "resumed.mp4").exists(), "the run finished before it could be killed"
    again = _cli(*command[3:], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already done (checksums verified)" in again.stderr
    assert _video_packets(tmp_path / "resumed.mp4") == _video_packets(tmp_path / "straight.mp4")
    assert _streams(tmp_path / "resumed.mp4") == _streams(clip)


def test_a_changed_option_is_refused_and_restart_starts_over(tmp_path: Path, nearest: Path, clip: Path) -> None:
    folder = job_folder(tmp_path / "out.mp4")
    run = subprocess.Popen([sys.executable, "-m", "srstream", str(clip), "-o", "out.mp4", "--model", str(nearest),
                            "--segments", "50", "--preset", "veryslow"], cwd=tmp_path, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    deadline = time.monotonic() + 60
    while not (folder / "manifest.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)  # Ctrl-C: the finished segments stay
    run.communicate(timeout=120)
    assert run.returncode == 130 and (folder / "manifest.json").is_file()
    other = _cli(str(clip), "-o", "out.mp4", "--model", str(nearest), "--segments", "50", "--crf", "30", cwd=tmp_path)
    assert other.returncode == 2 and "the options changed" in other.stderr and "--restart" in other.stderr
    fresh = _cli(str(clip), "-o", "out.mp4", "--model", str(nearest), "--segments", "50", "--crf", "30",
                 "--restart", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert _streams(tmp_path / "out.mp4") == _streams(clip) and not folder.exists()


def test_a_damaged_segment_is_done_again(tmp_path: Path, nearest: Path, clip: Path) -> None:
    from srstream.engine.api import Upscaler, plan_file

    job = plan_file(clip, tmp_path / "out.mp4", scale=2, segments=80)
    with Upscaler(str(nearest)) as up:
        calls: list[int] = []
        import srstream.engine.jobs as jobs

        real = jobs.run_job

        def interrupted_after_one(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            run = kwargs.pop("run_segments", None)
            assert run is None

            def first_only(todo):  # noqa: ANN001, ANN202
                path, seg = todo[0]
                calls.append(seg.index)
                yield seg, args[2](path, seg)
                raise KeyboardInterrupt

            return real(*args, run_segments=first_only, **kwargs)

        jobs.run_job = interrupted_after_one
        try:
            assert up.run(job).segments.interrupted
        finally:
            jobs.run_job = real
        folder = job_folder(tmp_path / "out.mp4")
        seg = folder / "seg_00000.mp4"
        seg.write_bytes(seg.read_bytes()[:-10] + b"x" * 10)  # damaged after it was recorded
        result = up.run(plan_file(clip, tmp_path / "out.mp4", scale=2, segments=80))
        assert result.segments.reused == 0 and result.segments.done_now == 3
    assert _streams(tmp_path / "out.mp4") == _streams(clip)


def test_a_full_disk_says_which_segments_are_kept_and_the_same_command_goes_on(
        tmp_path: Path, nearest: Path, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that filled up in a job's second segment said "nothing was kept", as a single run
    says, where the first segment was kept for the next run; in the join, nothing said that every
    segment was, or how much room the join takes."""
    import errno

    import srstream.engine.jobs as jobs
    from srstream.engine.api import Upscaler, plan_file
    from srstream.engine.av_errors import write_error
    from srstream.errors import OutputError

    full = write_error(OSError(errno.ENOSPC, "No space left on device"), tmp_path / ".seg_00001.partial.mp4")
    real_run, real_join = jobs.run_job, jobs._join

    def second_fills_the_disk(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        def runner(todo):  # noqa: ANN001, ANN202
            path, seg = todo[0]
            yield seg, args[2](path, seg)
            raise full

        return real_run(*args, **{**kwargs, "run_segments": runner})

    with Upscaler(str(nearest)) as up:
        monkeypatch.setattr(jobs, "run_job", second_fills_the_disk)
        with pytest.raises(OutputError) as caught:
            up.run(plan_file(clip, tmp_path / "out.mp4", scale=2, segments=80))
        said = str(caught.value)
        assert "the disk is full" in said and "nothing was kept" not in said, said
        assert "1 of 3 segments are done and kept" in said and "run the same command again" in said, said
        monkeypatch.setattr(jobs, "run_job", real_run)

        def join_fills_the_disk(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise write_error(OSError(errno.ENOSPC, "No space left on device"), tmp_path / ".out.partial.mp4")

        monkeypatch.setattr(jobs, "_join", join_fills_the_disk)
        with pytest.raises(OutputError) as caught:
            up.run(plan_file(clip, tmp_path / "out.mp4", scale=2, segments=80))
        said = str(caught.value)
        assert "3 of 3 segments are done and kept" in said and "the join needs about" in said, said
        monkeypatch.setattr(jobs, "_join", real_join)
        result = up.run(plan_file(clip, tmp_path / "out.mp4", scale=2, segments=80))
        assert result.segments.reused == 3 and result.segments.done_now == 0
    assert _streams(tmp_path / "out.mp4") == _streams(clip)


# -- Ray: the same file from 1 or 2 local workers, and from a 2-node cluster --------------------
def _needs_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'sr-stream[cluster]')")


@pytest.mark.slow
def test_one_and_two_local_ray_workers_give_the_same_file(tmp_path: Path, nearest: Path, clip: Path) -> None:
    _needs_ray()
    alone = _cli(str(clip), "-o", "alone.mp4", "--model", str(nearest), "--segments", "50", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    for n in (1, 2):
        r = _cli(str(clip), "-o", f"w{n}.mp4", "--model", str(nearest), "--segments", "50", "--workers", str(n),
                 cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert f"{n} worker" in r.stderr and "local Ray instance" in r.stderr
        assert _video_packets(tmp_path / f"w{n}.mp4") == _video_packets(tmp_path / "alone.mp4")
        assert _streams(tmp_path / f"w{n}.mp4") == _streams(clip)
        assert not job_folder(tmp_path / f"w{n}.mp4").exists()
    # a scene (--start, --to): its segments on two workers give the file they give here, and the frames and
    # sound of one pass
    for name, how in (("ray", ["--segments", "30", "--workers", "2"]), ("here", ["--segments", "30"]),
                      ("one", ["--segments", "off"])):
        r = _cli(str(clip), "-o", f"scene_{name}.mp4", "--model", str(nearest), "--start", "2.5", "--to", "6", *how,
                 cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert _video_packets(tmp_path / "scene_ray.mp4") == _video_packets(tmp_path / "scene_here.mp4")
    pts, audio = _streams(tmp_path / "scene_one.mp4")
    assert len(pts) == 105 and _streams(tmp_path / "scene_ray.mp4") == (pts, audio)


@pytest.mark.slow
def test_a_sequence_and_a_folders_video_run_on_ray_workers(tmp_path: Path, nearest: Path, clip: Path) -> None:
    """An image sequence with a soundtrack (its concat list read by the workers) and a folder's
    video, each on two local Ray workers: the same files as one process makes."""
    import cv2

    _needs_ray()
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(1, 41):
        assert cv2.imwrite(str(frames / f"f{n}.png"), np.full((48, 64, 3), 5 * n, np.uint8))
    write_tone_clip(tmp_path / "sound.mp4", frames=40)
    (tmp_path / "season").mkdir()
    (tmp_path / "season" / "ep1.mp4").write_bytes(clip.read_bytes())
    for name, workers in (("ray", ["--workers", "2"]), ("alone", [])):
        r = _cli("frames", "-o", f"{name}.mp4", "--model", str(nearest), "--segments", "10", "--audio", "sound.mp4",
                 *workers, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert ("2 workers" in r.stderr) == bool(workers), r.stderr[-2000:]
        r = _cli("season", "-o", f"season_{name}", "--model", str(nearest), "--segments", "50", *workers, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
    assert _video_packets(tmp_path / "ray.mp4") == _video_packets(tmp_path / "alone.mp4")
    pts, sound = _streams(tmp_path / "ray.mp4")
    assert len(pts) == 40 and sound > 0 and not list(tmp_path.glob(".*.ffconcat"))
    assert _video_packets(tmp_path / "season_ray" / "ep1.mp4") == _video_packets(tmp_path / "season_alone" / "ep1.mp4")


@pytest.mark.slow
def test_a_job_on_a_two_node_ray_cluster(tmp_path: Path, nearest: Path, clip: Path) -> None:
    """`ray start --head` plus a second node on this machine, as a user would set one up."""
    _needs_ray()
    ray = str(Path(sys.executable).with_name("ray"))
    port = 6300 + os.getpid() % 500
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONWARNINGS": "ignore", "RAY_USAGE_STATS_ENABLED": "0"}
    if not tempfile.gettempdir().isascii():  # Ray's nodes need an ASCII path for their files, as a user's would
        env["RAY_TMPDIR"] = "/tmp"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        head = subprocess.run([ray, "start", "--head", "--port", str(port), "--include-dashboard=false", *common],
                              capture_output=True, text=True, timeout=120, env=env)
        assert head.returncode == 0, head.stderr[-2000:]
        node = subprocess.run([ray, "start", "--address", f"127.0.0.1:{port}", *common], capture_output=True,
                              text=True, timeout=120, env=env)
        assert node.returncode == 0, node.stderr[-2000:]
        r = subprocess.run([sys.executable, "-m", "srstream", str(clip), "-o", "cluster.mp4", "--model", str(nearest),
                            "--segments", "50", "--ray-address", f"127.0.0.1:{port}", "--workers", "2"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "on 2 Ray nodes" in r.stderr, r.stderr[-2000:]
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, env=env)
    alone = _cli(str(clip), "-o", "alone.mp4", "--model", str(nearest), "--segments", "50", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert _video_packets(tmp_path / "cluster.mp4") == _video_packets(tmp_path / "alone.mp4")
    assert _streams(tmp_path / "cluster.mp4") == _streams(clip)


def test_a_local_ray_instance_keeps_its_files_under_an_ascii_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's core worker cannot start under a temporary folder whose path is not ASCII (a TMPDIR in a
    home folder named in another script): every --workers run failed with 'ascii' codec can't encode.
    A local instance now starts under /tmp then; a RAY_TMPDIR that is not ASCII is refused in words."""
    from srstream.engine.cluster import _ascii_ray_temp
    from srstream.errors import ConfigError

    monkeypatch.delenv("RAY_TMPDIR", raising=False)
    monkeypatch.setenv("TMPDIR", "/home/josé/tmp")
    with _ascii_ray_temp():
        assert os.environ["RAY_TMPDIR"] == "/tmp"
    assert "RAY_TMPDIR" not in os.environ
    monkeypatch.setenv("TMPDIR", "/tmp")
    with _ascii_ray_temp():
        assert "RAY_TMPDIR" not in os.environ  # nothing changed where nothing needs to
    monkeypatch.setenv("RAY_TMPDIR", "/srv/räy")
    with pytest.raises(ConfigError, match="RAY_TMPDIR=.*not ASCII"):
        with _ascii_ray_temp():
            pass


def test_a_worker_that_cannot_see_the_job_folder_sends_the_segment_back(tmp_path: Path, nearest: Path,
                                                                         clip: Path) -> None:
    """What a node without the shared folder does (called here directly, without Ray)."""
    from srstream.engine.cluster import WorkerPlan, segment_task
    from srstream.engine.encode import EncodeOptions

    segment = plan_segments(clip, 50)[1]
    plan = WorkerPlan(nearest.name, (nearest.name,), "ort", "fp32", "0", False, 0.0, 1)
    encode = EncodeOptions(copy_audio=False, copy_subtitles=False, threads=2, deterministic=True)
    target = tmp_path / "elsewhere" / "seg_00001.mp4"  # a folder this "node" does not have
    frames, blob, _ = segment_task(plan, [nearest.read_bytes()], str(clip), input_identity(clip), str(target),
                                   "token", (segment.start, segment.end), encode, None)
    assert frames == segment.frames and blob is not None and not target.parent.exists()
    (tmp_path / "back.mp4").write_bytes(blob)
    with av.open(str(tmp_path / "back.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == segment.frames
    other = tmp_path / "other.mp4"
    other.write_bytes(clip.read_bytes()[:-1000])
    with pytest.raises(Exception, match="not the job's input"):
        segment_task(plan, [nearest.read_bytes()], str(other), input_identity(clip), str(target), "token",
                     (segment.start, segment.end), encode, None)
