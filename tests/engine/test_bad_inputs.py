"""Lose nothing: inputs, previous outputs, partial work. Each case runs the real command line in
a subprocess on inputs generated here, and checks the exit code, the message, the inputs' bytes,
and exactly what is left on disk."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import write_video
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str, cwd: Path, timeout: float = 240, one_cpu: bool = False) -> subprocess.CompletedProcess[str]:
    """``one_cpu``: the run may use one CPU only (as ``taskset -c N`` or a one-CPU container allows), so
    FFmpeg's decoders run without frame threads."""
    return subprocess.run([sys.executable, "-m", "srstream", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                          preexec_fn=(lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) if one_cpu
                          else None)


def _start(*args: str, cwd: Path, sigint_ignored: bool = False) -> subprocess.Popen[str]:
    """``sigint_ignored``: start it as a shell starts a background job, with SIGINT ignored."""
    return subprocess.Popen([sys.executable, "-m", "srstream", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None)


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _leftovers(folder: Path) -> list[str]:
    """Hidden temporary files and locks: a run must never leave any behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and (".partial" in p.name
                                                                              or p.name.endswith(".lock")))


@pytest.fixture(scope="module")
def nearest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nearest_x2(tmp_path_factory.mktemp("model") / "nearest.onnx", nearest_x2_spec())


@pytest.fixture(scope="module")
def slow_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that a run is still writing when another process acts (with --preset veryslow)."""
    return write_video(tmp_path_factory.mktemp("slow") / "slow.mp4", frames=240, size=(320, 240), audio=True)


def _wait_for_lock(folder: Path, proc: subprocess.Popen[str], seconds: float = 60) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        locks = list(folder.glob(".*.lock"))
        if locks and any(folder.glob(".*.partial*")):
            return locks[0]
        if proc.poll() is not None:
            pytest.fail(f"the run ended before writing: {proc.communicate()}")
        time.sleep(0.05)
    pytest.fail("the run never started writing")


def _make_pngs(folder: Path, count: int = 3) -> list[Path]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"shot{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
        paths.append(path)
    return paths


# -- data loss ------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["folder", "symlink"])
def test_a_glob_run_never_writes_over_its_inputs(tmp_path: Path, nearest: Path, how: str) -> None:
    shots = _make_pngs(tmp_path / "shots")
    before = {p: _sha(p) for p in shots}
    out = "shots"
    if how == "symlink":
        (tmp_path / "link").symlink_to(tmp_path / "shots")
        out = "link"
    r = _cli("shots/*.png", "-o", out, "--overwrite", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 4 and "would replace the input" in r.stderr, r.stderr
    assert {p: _sha(p) for p in shots} == before and _leftovers(tmp_path / "shots") == []


def test_an_input_named_like_a_temporary_file_is_never_opened_for_writing(tmp_path: Path, nearest: Path) -> None:
    src = write_video(tmp_path / ".out.partial.mp4", frames=8)
    digest = _sha(src)
    r = _cli(".out.partial.mp4", "-o", "out.mp4", "--model", str(nearest), "--preset", "ultrafast", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _sha(src) == digest and _frames(tmp_path / "out.mp4") == 8 and _leftovers(tmp_path) == [".out.partial.mp4"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "out.mp4").stat().st_mode & 0o777 == 0o666 & ~umask  # not the temporary file's 0600


def test_a_second_run_on_the_same_output_is_refused_and_the_first_finishes(tmp_path: Path, nearest: Path,
                                                                            slow_clip: Path) -> None:
    first = _start(str(slow_clip), "-o", "out.mp4", "--model", str(nearest), "--preset", "veryslow", cwd=tmp_path)
    try:
        lock = _wait_for_lock(tmp_path, first)
        holder = json.loads(lock.read_text())
        second = _cli(str(slow_clip), "-o", "out.mp4", "--model", str(nearest), "--overwrite", cwd=tmp_path)
        assert second.returncode == 4, second.stderr
        assert f"being written by another sr-stream run (pid {first.pid}" in second.stderr
        assert holder["pid"] == first.pid
    finally:
        out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert _frames(tmp_path / "out.mp4") == 240 and _leftovers(tmp_path) == []


@pytest.mark.parametrize(("sig", "ignored"), [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False),
                                           (signal.SIGHUP, False)])
def test_a_stopped_run_keeps_its_part_and_never_replaces_a_complete_output(tmp_path: Path, nearest: Path,
                                                                           slow_clip: Path, sig: int,
                                                                           ignored: bool) -> None:
    """Also `kill -INT` on a run started with SIGINT ignored (a background job, some CI runners)."""
    (tmp_path / "out.mp4").write_bytes(b"the previous, complete output")
    run = _start(str(slow_clip), "-o", "out.mp4", "--overwrite", "--model", str(nearest), "--preset", "veryslow",
                 cwd=tmp_path, sigint_ignored=ignored)
    _wait_for_lock(tmp_path, run)
    time.sleep(1.5)
    run.send_signal(sig)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 128 + sig, err
    kept = tmp_path / "out.interrupted.mp4"
    assert f"are in {kept.name}" in err or f"are in {kept}" in err, err
    assert "out.mp4 was left as it was" in err
    assert (tmp_path / "out.mp4").read_bytes() == b"the previous, complete output"
    assert 0 < _frames(kept) < 240 and _leftovers(tmp_path) == []


def test_a_second_and_third_ctrl_c_while_a_stopped_run_finishes_lose_nothing(tmp_path: Path, nearest: Path,
                                                                            slow_clip: Path) -> None:
    """Ctrl-C pressed again while the run writes what it has (or ``timeout``'s signal sent to the process
    and then to its group) raised a second time in the middle of that and lost the whole output: a live
    recording of a stream served over RTSP was deleted with its temporary file."""
    run = _start(str(slow_clip), "-o", "out.mp4", "--model", str(nearest), "--preset", "veryslow", cwd=tmp_path)
    _wait_for_lock(tmp_path, run)
    time.sleep(1.5)
    for _ in range(3):  # the encoder's lookahead (veryslow) still being written when the last comes
        run.send_signal(signal.SIGINT)
        time.sleep(0.15)
    _, err = run.communicate(timeout=120)
    kept = tmp_path / "out.interrupted.mp4"
    assert run.returncode == 130 and (f"are in {kept.name}" in err or f"are in {kept}" in err), err
    assert 0 < _frames(kept) < 240 and _leftovers(tmp_path) == [] and not (tmp_path / "out.mp4").exists()
    assert "Ctrl-C 1 more time quits at once" in err, err


def test_a_killed_run_leaves_a_lock_the_next_run_takes_over(tmp_path: Path, nearest: Path, slow_clip: Path) -> None:
    run = _start(str(slow_clip), "-o", "out.mp4", "--model", str(nearest), "--preset", "veryslow", cwd=tmp_path)
    _wait_for_lock(tmp_path, run)
    run.kill()
    run.communicate(timeout=60)
    assert _leftovers(tmp_path)  # SIGKILL cannot be caught: a lock and a temporary file remain
    r = _cli(str(slow_clip), "-o", "out.mp4", "--model", str(nearest), "--preset", "ultrafast", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _frames(tmp_path / "out.mp4") == 240 and _leftovers(tmp_path) == []  # the dead run's files are gone


def _clip(full: Path, frames: int = 60) -> Path:
    """An mp4 of random frames with its index first (faststart), a keyframe every 10 frames."""
    with av.open(str(full), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=Fraction(30))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"preset": "ultrafast", "g": "10"}
        rng = np.random.default_rng(0)
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return full


def _truncated(tmp_path: Path, frames: int = 60) -> Path:
    """An mp4 with its index first (faststart), cut in the middle of its frame data."""
    data = _clip(tmp_path / "full.mp4", frames).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    return cut


@pytest.mark.parametrize("one_cpu", [False, True], ids=["all-cpus", "one-cpu"])
def test_a_truncated_input_says_so_keeps_what_decoded_and_exits_3(tmp_path: Path, nearest: Path, one_cpu: bool) -> None:
    """On one CPU the decoder, without frame threads, also fails on the packet the cut split in two,
    which was counted as a damaged packet skipped: the run said so and exited 0 with half the film."""
    src = _truncated(tmp_path)
    digest = _sha(src)
    r = _cli(str(src), "-o", "out.mp4", "--model", str(nearest), "--preset", "ultrafast", cwd=tmp_path,
             one_cpu=one_cpu)
    assert r.returncode == 3, r.stderr
    got = _frames(tmp_path / "out.mp4")
    assert 0 < got < 60 and "of the 60 frames it declares" in r.stderr and f"holds the {got} frames" in r.stderr
    assert _sha(src) == digest and _leftovers(tmp_path) == []
    # a resumable job of segments said nothing and exited 0 with the part that decoded
    r = _cli(str(src), "-o", "job.mp4", "--model", str(nearest), "--preset", "ultrafast", "--segments", "20",
             cwd=tmp_path, one_cpu=one_cpu)
    assert r.returncode == 3 and "of the 60 frames it declares" in r.stderr, r.stderr
    assert _frames(tmp_path / "job.mp4") == got and _leftovers(tmp_path) == []


def test_a_recording_never_finished_is_said_to_be_so(tmp_path: Path, nearest: Path) -> None:
    """A phone's or a camera's MP4 whose recording stopped before its end (the battery, a crash, a full card)
    has its frames but not the index written last, and nothing reads it: the run said it was not a video
    sr-stream can read and to check that it is complete. It now says what happened and what rebuilds it."""
    from srstream.engine.isobox import unfinished

    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w") as c:  # the index after the frames, as a camera writes it
        s = c.add_stream("libx264", rate=Fraction(30))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")))
        c.mux(s.encode())
    data = whole.read_bytes()
    (tmp_path / "VID_0001.mp4").write_bytes(data[: len(data) // 3])  # within its frames
    assert not unfinished(whole) and unfinished(tmp_path / "VID_0001.mp4")
    r = _cli("VID_0001.mp4", "-o", "out.mp4", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 3 and "recording that was never finished: its index (the moov box)" in r.stderr, r.stderr
    assert "untrunc" in r.stderr and not (tmp_path / "out.mp4").exists() and _leftovers(tmp_path) == []


def test_a_truncated_matroska_input_is_said_to_be_so(tmp_path: Path, nearest: Path) -> None:
    """A Matroska film cut off (a download stopped half-way) declares no frame count, so a run, in one pass or
    as a resumable job, wrote the half that was there and said nothing. Its tag's length (FFmpeg's and
    mkvmerge's muxers write one per track, near the start) now tells it: a note says so. A whole one says
    nothing."""
    whole = _clip(tmp_path / "whole.mkv", 60)
    data = whole.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    for args in ([], ["--segments", "20"]):
        r = _cli("cut.mkv", "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--overwrite", *args,
                 cwd=tmp_path)
        got = _frames(tmp_path / "out.mkv")
        assert r.returncode == 0 and 0 < got < 60, r.stderr
        assert "of the 2.00 s its container declares: the input looks truncated or damaged" in r.stderr, r.stderr
        r = _cli("whole.mkv", "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--overwrite", *args,
                 cwd=tmp_path)
        assert r.returncode == 0 and _frames(tmp_path / "out.mkv") == 60 and "truncated" not in r.stderr, r.stderr
    assert _leftovers(tmp_path) == []


def test_a_transport_stream_cut_inside_a_packet_is_said_to_be_so(tmp_path: Path, nearest: Path) -> None:
    """A .ts or .m2ts (a broadcast recording, a camcorder's AVCHD) cut off declares no frame count or
    length, so a run wrote what was there and said nothing. Recorders write whole packets (188 bytes,
    192 in an .m2ts); a file that ends inside one was cut, and a note now says so, in one pass and as a
    job. A whole one, and one cut on a packet's boundary, say nothing."""
    from srstream.engine.media import ts_cut_short

    mp4 = _clip(tmp_path / "src.mp4", 60)
    for name, options in (("whole.ts", {}), ("whole.m2ts", {"mpegts_m2ts_mode": "1"})):
        with av.open(str(mp4)) as i, av.open(str(tmp_path / name), "w", format="mpegts", options=options) as o:
            out = o.add_stream_from_template(i.streams.video[0])
            for packet in i.demux(i.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = out
                    o.mux(packet)
    for name, size in (("whole.ts", 188), ("whole.m2ts", 192)):
        data = (tmp_path / name).read_bytes()
        assert len(data) % size == 0 and not ts_cut_short(tmp_path / name)
        for cut in (len(data) // 2 // size * size, len(data) // 2 // size * size + 77):  # on a boundary, inside
            (tmp_path / f"cut{name[5:]}").write_bytes(data[:cut])
            assert ts_cut_short(tmp_path / f"cut{name[5:]}") == (cut % size != 0)
    for args in ([], ["--segments", "20"]):
        r = _cli("cut.m2ts", "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--overwrite", *args,
                 cwd=tmp_path)
        assert r.returncode == 0 and 0 < _frames(tmp_path / "out.mkv") < 60, r.stderr
        assert "cut.m2ts ends inside a transport-stream packet" in r.stderr and "cut short" in r.stderr, r.stderr
    r = _cli("cut.ts", "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--overwrite", cwd=tmp_path)
    assert r.returncode == 0 and "cut.ts ends inside a transport-stream packet" in r.stderr, r.stderr
    r = _cli("whole.ts", "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--overwrite",
             cwd=tmp_path)
    assert r.returncode == 0 and _frames(tmp_path / "out.mkv") == 60 and "cut short" not in r.stderr, r.stderr
    assert _leftovers(tmp_path) == []


def _muxed(path: Path, fmt: str, video: str, audio: str, frames: int = 60) -> bytes:
    """A clip of random frames and a tone written by FFmpeg's ``fmt`` muxer; its bytes."""
    with av.open(str(path), "w", format=fmt) as c:
        v = c.add_stream(video, rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream(audio, rate=44100)
        rng = np.random.default_rng(1)
        for i in range(frames):
            for p in v.encode(av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), np.uint8), format="rgb24")):
                c.mux(p)
        tone = (np.sin(np.arange(44100 * frames // 25) / 9) * 8000).astype(np.int16)[None]
        for i in range(0, tone.shape[1], 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, i:i + 1152]), format="s16", layout="mono")
            frame.sample_rate = 44100
            for p in a.encode(frame):
                c.mux(p)
        for stream in (v, a):
            for p in stream.encode():
                c.mux(p)
    return path.read_bytes()


def test_an_flv_or_mpeg_program_stream_cut_short_is_said_to_be_so(tmp_path: Path, nearest: Path) -> None:
    """An FLV (an old web video's download) or an .mpg/.vob (a DVD's, a camcorder's) cut off was
    upscaled to the cut without a word: neither declares what FFmpeg would check. An FLV ends with
    its last tag's size, which leads back to that tag; a program stream's packs and packets each say
    their length, and a muxer ends on a whole one. A file that ends elsewhere was cut; a whole one, and
    one cut on a pack's edge, say nothing."""
    from srstream.engine.media import flv_cut_short, ps_cut_short

    rng = np.random.default_rng(7)
    for name, fmt, video, audio, check in (("whole.flv", "flv", "flv", "mp3", flv_cut_short),
                                           ("whole.mpg", "mpeg", "mpeg2video", "mp2", ps_cut_short),
                                           ("whole.vob", "vob", "mpeg2video", "ac3", ps_cut_short)):
        data = _muxed(tmp_path / name, fmt, video, audio)
        assert not check(tmp_path / name) and not (ps_cut_short if check is flv_cut_short else flv_cut_short)(
            tmp_path / name)
        for cut in rng.integers(len(data) // 10, len(data) - 1, 25):
            (tmp_path / "piece").write_bytes(data[:cut])
            assert check(tmp_path / "piece") or (fmt != "flv" and cut % 2048 == 0), (name, cut)
        (tmp_path / f"cut{name[5:]}").write_bytes(data[:len(data) * 3 // 5 + 11])
    for name in ("cut.flv", "cut.vob"):
        r = _cli(name, "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--overwrite", cwd=tmp_path)
        assert r.returncode == 0 and 0 < _frames(tmp_path / "out.mkv") < 60, r.stderr
        assert f"{name} ends inside an" in r.stderr and "cut short" in r.stderr, r.stderr
    r = _cli("whole.mpg", "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--overwrite",
             cwd=tmp_path)
    assert r.returncode == 0 and _frames(tmp_path / "out.mkv") == 60 and "cut short" not in r.stderr, r.stderr
    assert _leftovers(tmp_path) == []


def test_a_reader_that_closes_standard_output_early_is_said_as_such(tmp_path: Path, nearest: Path) -> None:
    """`sr-stream in.mp4 -o - | head -c 1000`: the error blamed the encoder or the muxer and said to
    check the file extension."""
    src = _clip(tmp_path / "in.mp4", 60)
    run = subprocess.Popen([sys.executable, "-m", "srstream", str(src), "-o", "-", "--model", str(nearest)],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert len(run.stdout.read(1000)) == 1000
    run.stdout.close()
    _, err = run.communicate(timeout=120)
    assert run.returncode == 4 and b"the program reading standard output closed it" in err, err
    assert b"Traceback" not in err and b"muxer refused" not in err


def test_an_mp4_with_its_index_last_on_standard_input_says_what_to_do(tmp_path: Path, nearest: Path) -> None:
    """`cat clip.mp4 | sr-stream - -o out.mkv` with the index (moov) after the data, as most MP4s
    are written: 'has a video stream but no decodable frames (... Invalid data ...)'."""
    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as c:  # the index last, as PyAV and most tools write an MP4
        s = c.add_stream("libx264", rate=Fraction(30))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(60):
            picture = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        c.mux(s.encode())
    r = subprocess.run([sys.executable, "-m", "srstream", "-", "-o", "out.mkv", "--model", str(nearest)], cwd=tmp_path,
                       input=src.read_bytes(), capture_output=True, timeout=120,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 3 and b"index (moov) comes after its data" in r.stderr and b"faststart" in r.stderr, r.stderr
    assert not (tmp_path / "out.mkv").exists() and _leftovers(tmp_path) == []


def test_a_clip_cut_without_re_encoding_is_not_called_truncated(tmp_path: Path, nearest: Path) -> None:
    """A clip cut without re-encoding (``ffmpeg -ss 0.4 -i in.mp4 -c copy``, an editor's trim) keeps
    packets before the cut, which its edit list hides (FFmpeg marks them discard: decoded, never
    shown). Its container declares them all, so the run said the input "ended after 7 of the 20
    frames it declares" and exited 3, in one pass and in a job, with every frame a player shows
    written."""
    from srstream.engine.media import probe

    full = _clip(tmp_path / "full.mp4", 20)  # keyframes every 10 frames
    src = tmp_path / "trimmed.mp4"
    with av.open(str(full)) as i, av.open(str(src), "w") as o:
        video = i.streams.video[0]
        out = o.add_stream_from_template(video)
        cut = round(Fraction(13, 30) / video.time_base)  # frame 13: the cut-away packets span two keyframes
        for packet in i.demux(video):
            if packet.dts is not None:
                packet.pts, packet.dts, packet.stream = packet.pts - cut, packet.dts - cut, out
                o.mux(packet)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 20
    shown = _frames(src)
    assert shown == 7 and probe(src).frames == 7
    for args in ([], ["--segments", "5"]):
        r = _cli(str(src), "-o", f"out{len(args)}.mp4", "--model", str(nearest), "--preset", "ultrafast", *args,
                 cwd=tmp_path)
        assert r.returncode == 0 and "declares" not in r.stderr, r.stderr
        assert _frames(tmp_path / f"out{len(args)}.mp4") == shown


def test_an_avi_of_b_frames_asked_for_segments_runs_in_one_pass(tmp_path: Path, nearest: Path) -> None:
    """Its frames are timed by their decoding times (they have no others), which keyframe cuts by
    time do not line up with: its job's join failed after every segment was upscaled ('writing ...
    failed (Invalid argument)'). It runs in one pass, saying so."""
    from tests.engine.test_video import write_b_frame_avi

    src = write_b_frame_avi(tmp_path / "in.avi", 40)
    r = _cli(str(src), "-o", "out.mkv", "--model", str(nearest), "--preset", "ultrafast", "--segments", "10",
             cwd=tmp_path)
    assert r.returncode == 0 and "in one pass instead" in r.stderr and "B-frames in AVI" in r.stderr, r.stderr
    with av.open(str(tmp_path / "out.mkv")) as c:
        times = [f.time for f in c.decode(video=0)]
    assert len(times) == 40 and times == sorted(set(times))
    assert _leftovers(tmp_path) == []


def test_codecs_ffmpeg_does_not_know_are_said_not_a_traceback(tmp_path: Path, nearest: Path) -> None:
    """An AVI whose fourcc FFmpeg has no decoder for ended in a traceback ('NoneType' object has no
    attribute 'width'); so did one whose sound is in an unknown codec. The video is refused with
    what to do; the sound is left out, named, and the pictures upscaled."""
    src = tmp_path / "plain.avi"
    with av.open(str(src), "w") as c:
        video = c.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = c.add_stream("pcm_s16le", rate=8000)
        sound.layout = "mono"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            c.mux(video.encode(frame))
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), format="s16", layout="mono")
        samples.sample_rate, samples.pts = 8000, 0
        c.mux(sound.encode(samples))
        c.mux(sound.encode(None))
        c.mux(video.encode(None))
    data = src.read_bytes()
    assert b"FMP4" in data
    (tmp_path / "odd_video.avi").write_bytes(data.replace(b"FMP4", b"ZZZZ"))
    tag = data.index(b"strf", data.index(b"auds")) + 8  # WAVEFORMATEX's wFormatTag
    (tmp_path / "odd_sound.avi").write_bytes(data[:tag] + b"\x99\x99" + data[tag + 2:])
    r = _cli("odd_video.avi", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 3 and "in a codec this FFmpeg build cannot decode" in r.stderr, r.stderr
    r = _cli("odd_sound.avi", "-o", "out.mkv", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 0 and "stream #1 (audio, in a codec this FFmpeg build does not know) is not kept" in r.stderr
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 5 and not c.streams.audio


@pytest.mark.parametrize("one_cpu", [False, True], ids=["all-cpus", "one-cpu"])
def test_a_damaged_packet_is_skipped_and_the_rest_upscaled(tmp_path: Path, nearest: Path, one_cpu: bool) -> None:
    """One damaged packet in the middle of a file (a bad download, a scratched disc) ended the run
    there: 34 of a clip's 122 frames came out, with an error, where FFmpeg's players skip the
    packet and play the rest. It is skipped now, and said so, in one pass and in a job alike."""
    src = _clip(tmp_path / "in.mp4")
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    with open(src, "r+b") as f:  # packet 25 (not a keyframe): its NAL length prefix ruined
        f.seek(packets[25][0])
        f.write(b"\xff\xff\xff\xff")
    kept = []
    for name, extra in (("out.mp4", ()), ("job.mp4", ("--segments", "20"))):
        r = _cli(str(src), "-o", name, "--model", str(nearest), "--preset", "ultrafast", *extra, cwd=tmp_path,
                 one_cpu=one_cpu)
        assert r.returncode == 0 and "1 damaged packets of the input's video did not decode and were skipped" in \
            r.stderr, r.stderr
        kept.append(_frames(tmp_path / name))
    assert kept[0] == kept[1] == 59 and _leftovers(tmp_path) == []


# -- bad requests: a clear message, the right exit code, nothing written ------------------------------

def test_a_file_output_that_is_a_folder_is_refused_before_any_work(tmp_path: Path, nearest: Path) -> None:
    src = write_video(tmp_path / "in.mp4", frames=4)
    (tmp_path / "existing_dir.mp4").mkdir()
    r = _cli(str(src), "-o", "existing_dir.mp4", "--overwrite", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 4 and "is a folder" in r.stderr and (tmp_path / "existing_dir.mp4").is_dir()
    assert _leftovers(tmp_path) == []


def test_a_glob_over_folders_with_the_same_names_is_refused(tmp_path: Path, nearest: Path) -> None:
    _make_pngs(tmp_path / "a", 1)
    _make_pngs(tmp_path / "b", 1)
    r = _cli("*/*.png", "-o", "out", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 4 and "would both be written to" in r.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("option", "words"), [
    (["--crf", "-5"], "--crf -5 is out of range"), (["--crf", "99"], "--crf 99 is out of range"),
    (["--preset", "bogus"], "--preset 'bogus': expected one of"), (["--pix-fmt", "bogus"], "not a pixel format"),
    (["--codec", "aac"], "encodes audio, not video"), (["--codec", "nope264"], "not an encoder"),
    (["--bitrate", "fast"], "expected a number like 8M"),
    # 0 was taken, infk crashed ("cannot convert float infinity"), 100 failed in libx264 ("bitrate not specified")
    (["--bitrate", "0"], "a rate of 1k"), (["--bitrate", "infk"], "a rate of 1k"),
    (["--bitrate", "100"], "a rate of 1k"),
])
def test_bad_encoder_settings_are_usage_errors_before_any_work(tmp_path: Path, nearest: Path, option: list[str],
                                                                words: str) -> None:
    src = write_video(tmp_path / "in.mp4", frames=4)
    r = _cli(str(src), "-o", "out.mp4", "--model", str(nearest), *option, cwd=tmp_path)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert not (tmp_path / "out.mp4").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(("suffix", "words"), [(".webm", "a .webm file holds VP8, VP9 or AV1"),
                                              (".ogv", "an .ogv file holds Theora or VP8 video"),
                                              (".y4m", "a .y4m file holds raw video")])
def test_a_container_gets_a_codec_it_can_hold(tmp_path: Path, nearest: Path, suffix: str, words: str) -> None:
    """.webm, .ogv and .y4m hold only some codecs: another is refused before any work, and the default
    is one they hold, at the input's frame rate (an .ogv output took libx264 before, which the Ogg
    muxer refused after a frame; a .y4m took libx264, and then said 12800 frames a second)."""
    from srstream.engine.video import default_codec

    src = write_video(tmp_path / "in.mp4", frames=4)
    r = _cli(str(src), "-o", f"out{suffix}", "--model", str(nearest), "--codec", "libx264", cwd=tmp_path)
    assert r.returncode == 2 and words in r.stderr
    if default_codec(suffix) == "libx264":
        pytest.skip(f"this FFmpeg build has no encoder a {suffix} file holds")
    r = _cli(str(src), "-o", f"out{suffix}", "--model", str(nearest), "--crf", "40", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _frames(tmp_path / f"out{suffix}") == 4
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        assert c.streams.video[0].guessed_rate == 30


def test_model_errors_name_the_model_and_what_to_do(tmp_path: Path, nearest: Path) -> None:
    from srstream.spec import ModelSpec

    src = write_video(tmp_path / "in.mp4", frames=2)
    (tmp_path / "weights.pth").write_bytes(b"\x80\x02not really")
    r = _cli(str(src), "-o", "a.mp4", "--model", "weights.pth", cwd=tmp_path)  # imported as a model: it is none
    assert r.returncode == 5 and "weights.pth is not a PyTorch checkpoint sr-stream can read (damaged" in r.stderr, \
        r.stderr
    assert not (tmp_path / "a.mp4").exists()
    lying = ModelSpec(name="liar-x4", arch="nearest", scale=4, margin=0, tile=64)  # the graph is x2
    write_nearest_x2(tmp_path / "liar.onnx", lying)
    r = _cli(str(src), "-o", "b.mp4", "--model", "liar.onnx", "--backend", "ort", "--precision", "fp32", cwd=tmp_path)
    assert r.returncode == 5 and "model liar-x4 returned" in r.stderr and "re-export" in r.stderr, r.stderr
    assert _leftovers(tmp_path) == [] and not (tmp_path / "b.mp4").exists()


def test_a_tile_larger_than_the_frame_is_the_whole_frame(tmp_path: Path, nearest: Path) -> None:
    src = write_video(tmp_path / "in.mp4", frames=3)
    r = _cli(str(src), "-o", "out.mp4", "--model", str(nearest), "--tile", "100000", cwd=tmp_path, timeout=60)
    assert r.returncode == 0 and "whole frame" in r.stderr, r.stderr


@pytest.fixture
def small_disk(tmp_path: Path):  # noqa: ANN201
    """A 300 KiB tmpfs (root, and a kernel that lets this container mount one), unmounted after."""
    mount = tmp_path / "small"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here to fill ({r.stderr.strip() or 'not root'})")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_is_an_output_error_and_leaves_nothing(tmp_path: Path, nearest: Path, small_disk: Path) -> None:
    src = write_video(tmp_path / "big.mp4", frames=40, size=(320, 240))
    r = _cli(str(src), "-o", str(small_disk / "out.mp4"), "--model", str(nearest), "--crf", "0", cwd=tmp_path)
    assert r.returncode == 4 and "the disk is full" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert list(small_disk.iterdir()) == []


def test_an_animated_gif_is_upscaled_as_a_video(tmp_path: Path, nearest: Path) -> None:
    with av.open(str(tmp_path / "anim.gif"), "w") as c:
        s = c.add_stream("gif", rate=Fraction(10))
        s.width, s.height, s.pix_fmt = 32, 24, "rgb8"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 60 * i, np.uint8), format="rgb24")
            for p in s.encode(frame.reformat(format="rgb8")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    r = _cli("anim.gif", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 0 and _frames(tmp_path / "anim_x2.mp4") == 4, r.stderr  # H.264 by default
    r = _cli("anim.gif", "-o", "again.gif", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 0 and "256 colours a frame" in r.stderr and _frames(tmp_path / "again.gif") == 4


def test_x265_refuses_frames_it_cannot_encode(tmp_path: Path, nearest: Path) -> None:
    src = write_video(tmp_path / "tiny.mp4", frames=2, size=(4, 4))
    r = _cli(str(src), "-o", "out.mp4", "--model", str(nearest), "--codec", "libx265", cwd=tmp_path)
    assert r.returncode == 2 and "libx265 cannot encode 8x8 frames" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out.mp4").exists() and _leftovers(tmp_path) == []


def test_progress_without_a_terminal_is_a_line_every_few_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    from srstream.commands.upscale import _LineProgress

    now = [0.0]
    bar = _LineProgress(100, "frame", every=5.0, clock=lambda: now[0])
    for _ in range(30):
        now[0] += 0.5
        bar.update(2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3  # at 5, 10 and 15 s
    assert lines[0] == "sr-stream: 20/100 frames, 4.0 frames/s, 20 s left"
    bar = _LineProgress(10, "frame", every=5.0, clock=lambda: now[0])  # two frames out for each in (double)
    now[0] += 5.0
    bar.update(20)
    assert capsys.readouterr().err.strip() == "sr-stream: 20 frames, 4.0 frames/s"  # no "-2 s left"


def test_progress_counts_the_frames_a_preview_takes_not_the_whole_input() -> None:
    from types import SimpleNamespace

    from srstream.commands.upscale import _frames_wanted

    media = SimpleNamespace(frames=1000, rate=25.0)

    def wanted(info, limit, start=None) -> int:  # noqa: ANN001
        return _frames_wanted(info, SimpleNamespace(limit=limit, start=start))

    assert wanted(media, (None, None)) == 1000
    assert wanted(media, (30, None)) == 30  # --frames 30
    assert wanted(media, (None, 2.0)) == 50  # --duration 2
    assert wanted(media, (5000, None)) == 1000
    assert wanted(media, (None, None), 10.0) == 750  # --start 10: what is left
    assert wanted(media, (None, 2.0), 10.0) == 50
    unknown = SimpleNamespace(frames=0, rate=0.0)  # a container that counts no frames
    assert wanted(unknown, (None, 2.0)) == 0
    assert wanted(unknown, (7, None)) == 7


def test_the_fit_is_judged_by_the_frames_a_run_takes_not_the_whole_film() -> None:
    """--adapt auto fitted the model to a 2-hour film before a 100-frame preview of it (13-29 s for a
    few seconds' run): the fit's worth was judged by the film's length."""
    from fractions import Fraction
    from types import SimpleNamespace

    from srstream.commands.upscale import _frames_taken
    from srstream.engine.media import MediaInfo

    film = MediaInfo(path=Path("film.mkv"), kind="video", seconds=7200.0, rate=Fraction(24))  # counts no frames
    counted = MediaInfo(path=Path("film.mp4"), kind="video", frames=5000, rate=Fraction(25))

    def taken(media: MediaInfo, limit: tuple = (None, None), start: float | None = None) -> int:
        return _frames_taken(media, SimpleNamespace(limit=limit, start=start))

    assert taken(film) == 172800 and taken(counted) == 5000
    assert taken(film, (100, None)) == 100 and taken(film, (None, 10.0)) == 240
    assert taken(film, start=3600.0) == 86400 and taken(counted, start=100.0) == 2500


def test_pipes_in_and_out(tmp_path: Path, nearest: Path) -> None:
    """``ffmpeg ... -f matroska - | sr-stream - -o out.mp4`` and ``sr-stream in -o - | player -``."""
    src = write_video(tmp_path / "in.mkv", frames=10, audio=True)
    common = [sys.executable, "-m", "srstream", "--model", str(nearest), "--preset", "ultrafast"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with open(src, "rb") as stdin:
        r = subprocess.run([*common, "-", "-o", "piped.mp4"], stdin=stdin, cwd=tmp_path, capture_output=True, env=env,
                           timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert _frames(tmp_path / "piped.mp4") == 10
    r = subprocess.run([*common, str(src), "-o", "-"], cwd=tmp_path, capture_output=True, env=env, timeout=120)
    assert r.returncode == 0 and b"10 frames" in r.stderr, r.stderr.decode()
    streamed = tmp_path / "streamed.mkv"
    streamed.write_bytes(r.stdout)  # stdout held the video and nothing else
    with av.open(str(streamed)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"] and sum(1 for _ in c.decode(video=0)) == 10
    r = _cli("-", "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 2 and "name the output with -o" in r.stderr
    assert _leftovers(tmp_path) == []


def test_a_picture_piped_in_is_upscaled_as_its_file_would_be(tmp_path: Path, nearest: Path) -> None:
    """``convert photo.jpg png:- | sr-stream - -o big.png`` was read as a video and refused ("the
    input is a video, and the output's extension is an image format")."""
    import cv2

    picture = np.random.default_rng(4).integers(0, 256, (6, 9, 3)).astype(np.uint8)
    ok, png = cv2.imencode(".png", picture)
    run = [sys.executable, "-m", "srstream", "-", "--model", str(nearest), "-o"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([*run, "big.png"], input=png.tobytes(), cwd=tmp_path, capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "big.png")), np.repeat(np.repeat(picture, 2, 0), 2, 1))
    r = subprocess.run([*run, "bad.png"], input=b"\x89PNG not quite", cwd=tmp_path, capture_output=True, env=env,
                       timeout=120)
    assert r.returncode == 3 and b"error: standard input is not a video or image" in r.stderr, r.stderr.decode()
    r = subprocess.run([*run, "none.png"], input=b"", cwd=tmp_path, capture_output=True, env=env, timeout=120)
    assert r.returncode == 3 and b"standard input was empty" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]
    # and out again: `... | sr-stream - -o - --ext png > big.png`, `sr-stream photo.png -o - | ...`
    r = subprocess.run([*run, "-", "--ext", "png"], input=png.tobytes(), cwd=tmp_path, capture_output=True, env=env,
                       timeout=120)
    assert r.returncode == 0 and b"standard output: 18x12" in r.stderr, r.stderr.decode()
    assert r.stdout == (tmp_path / "big.png").read_bytes()
    r = subprocess.run([*run[:3], "big.png", *run[4:], "-"], cwd=tmp_path, capture_output=True, env=env, timeout=120)
    assert r.returncode == 0 and cv2.imdecode(np.frombuffer(r.stdout, np.uint8), 1).shape == (24, 36, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_named_pipe_is_read_once_as_standard_input_is(tmp_path: Path, nearest: Path) -> None:
    """``sr-stream <(ffmpeg ... -f matroska -) -o out.mp4``: the probe read the pipe's start, and the
    run then failed on what was left ("Invalid data found when processing input")."""
    import threading

    src = write_video(tmp_path / "in.mkv", frames=10, audio=True)
    fifo = tmp_path / "stream"

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as pipe:  # blocks until the run opens it
            pipe.write(src.read_bytes())

    os.mkfifo(fifo)
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    r = _cli(str(fifo), "-o", "out.mp4", "--model", str(nearest), "--preset", "ultrafast", cwd=tmp_path, timeout=120)
    writer.join(30)
    assert r.returncode == 0, r.stderr
    assert _frames(tmp_path / "out.mp4") == 10
    r = _cli(str(fifo), "--model", str(nearest), cwd=tmp_path, timeout=60)  # nothing opens it: no writer needed
    assert r.returncode == 2 and "is a pipe, with no name to make the output's from: name it with -o" in r.stderr
    from srstream.engine.api import plan_file
    from srstream.errors import InputError

    with pytest.raises(InputError, match="is a pipe, which can be read only once"):  # the library says how
        plan_file(fifo, tmp_path / "lib.mp4", scale=2)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("source", "out", "words"), [
    ("clip", "out.xyz", "output's extension is unknown (.xyz)"), ("clip", "out", "output's extension is no extension"),
    ("clip", "out.png", "output's extension is an image format"), ("image", "out.mp4", "the input is an image"),
])
def test_an_output_that_cannot_hold_the_input_is_a_usage_error(tmp_path: Path, nearest: Path, source: str, out: str,
                                                                words: str) -> None:
    src = write_video(tmp_path / "clip.mp4", frames=2) if source == "clip" else _make_pngs(tmp_path, 1)[0]
    r = _cli(str(src), "-o", out, "--model", str(nearest), cwd=tmp_path)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / out).exists() and _leftovers(tmp_path) == []
