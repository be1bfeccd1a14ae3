"""Video runs: every frame and timestamp kept, audio copied, bad input and interruptions lose nothing."""

from __future__ import annotations

import errno
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from srstream.engine import video as video_mod
from srstream.engine.backends.ort_backend import OrtBackend
from srstream.engine.models import read_onnx_spec
from srstream.engine.upscaler import FrameUpscaler
from srstream.engine.video import EncodeOptions, default_codec, upscale_video
from srstream.errors import InputError, OutputError
from tests.conftest import audio_of, ffmpeg_cli, write_tone_clip, write_video
from tests.onnx_models import write_conv_net

FAST = EncodeOptions(preset="ultrafast", crf=30)


@pytest.fixture
def upscaler(tmp_path: Path) -> FrameUpscaler:
    path = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    spec = read_onnx_spec(path)
    backend = OrtBackend(spec, path, "fp32")
    yield FrameUpscaler(backend, spec, "auto")
    backend.close()


def _frames(path: Path) -> tuple[list[int], tuple[int, int], Fraction, list[str], int]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        pts = [f.pts for f in c.decode(v)]
        size = (v.codec_context.width, v.codec_context.height)
        time_base = v.time_base
        audio_packets = 0
        types = [s.type for s in c.streams]
    if "audio" in types:
        with av.open(str(path)) as c:
            audio_packets = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
    return pts, size, time_base, types, audio_packets


def test_every_frame_timestamp_and_the_audio_survive(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    src = write_video(tmp_path / "in.mp4", frames=15, audio=True)
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    pts_in, size_in, tb_in, _, audio_in = _frames(src)
    pts_out, size_out, tb_out, types, audio_out = _frames(tmp_path / "out.mp4")
    assert report.frames_in == report.frames_out == len(pts_in) == len(pts_out) == 15
    assert [p * tb_in for p in pts_in] == [p * tb_out for p in pts_out]  # same timestamps, same order
    assert size_out == (size_in[0] * 2, size_in[1] * 2)
    assert types.count("audio") == 1 and audio_out == audio_in > 0 and report.packets_copied == audio_in
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("audio_codec", ["aac", "pcm_s16le"])
def test_audio_a_webm_cannot_hold_is_reencoded_in_time_and_in_tune(tmp_path: Path, upscaler: FrameUpscaler,
                                                                   audio_codec: str) -> None:
    """AAC or PCM audio into .webm, which holds neither: encoded again as Opus (what FFmpeg's
    command line does), starting when it started, as long and at the same pitch; the run says so."""
    if default_codec(".webm") == "libx264":
        pytest.skip("this FFmpeg build has no VP9/AV1 encoder")
    src = write_tone_clip(tmp_path / f"in.{'mp4' if audio_codec == 'aac' else 'mkv'}", audio_codec=audio_codec)
    report = upscale_video(src, tmp_path / "out.webm", upscaler, EncodeOptions(codec="libvpx-vp9", crf=50))
    codec_in, start_in, length_in, _ = audio_of(src)
    codec, start, length, peak = audio_of(tmp_path / "out.webm")
    assert codec == "opus" and abs(start - start_in) < 0.005 and abs(length - length_in) < 0.03, (start, length)
    assert abs(peak - 440) < 3
    assert report.copied_streams == [f"audio stream #1 ({codec_in}) re-encoded as libopus at 128 kbit/s "
                                     f"(a .webm file cannot hold {codec_in})"]
    assert report.packets_copied > 0 and not report.notes


def test_surround_sound_in_side_layout_is_reencoded_into_webm(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A DVD's or Blu-ray's AC-3 or DTS 5.1 is "5.1(side)" to FFmpeg, which libopus refuses (it takes
    Vorbis's layouts): such a film into .webm stopped before any work ("Invalid channel layout").
    It is encoded as Opus 5.1, the resampler moving the side channels to the back."""
    if default_codec(".webm") == "libx264":
        pytest.skip("this FFmpeg build has no VP9/AV1 encoder")
    src = write_tone_clip(tmp_path / "film.mkv", frames=10, audio_codec="ac3", start=0, rate=48000,
                          layout="5.1(side)")
    report = upscale_video(src, tmp_path / "out.webm", upscaler, EncodeOptions(codec="libvpx-vp9", crf=50))
    codec, _, length, peak = audio_of(tmp_path / "out.webm")
    assert codec == "opus" and abs(length - audio_of(src)[2]) < 0.03 and abs(peak - 440) < 3
    with av.open(str(tmp_path / "out.webm")) as c:
        assert c.streams.audio[0].layout.name == "5.1"
    assert report.copied_streams[0].startswith("audio stream #1 (ac3) re-encoded as libopus")


def test_audio_a_header_refuses_is_reencoded_before_any_work(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """The .mov muxer accepts an Opus stream and refuses it only when it writes the header, which
    stopped a run after its first frame; the copy is now tried on a header in memory first, and the
    audio encoded again as AAC, the format's own codec."""
    src = write_tone_clip(tmp_path / "in.mkv", audio_codec="libopus", rate=48000)
    report = upscale_video(src, tmp_path / "out.mov", upscaler, FAST)
    codec, start, length, peak = audio_of(tmp_path / "out.mov")
    _, start_in, length_in, _ = audio_of(src)
    assert codec == "aac" and abs(start - start_in) < 0.005 and abs(length - length_in) < 0.03 and abs(peak - 440) < 3
    assert report.copied_streams == ["audio stream #1 (opus) re-encoded as aac at 192 kbit/s "
                                     "(a .mov file cannot hold opus)"]


def test_vorbis_into_an_mp4_is_encoded_as_aac_and_kept_in_mkv(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """FFmpeg's .mp4 muxer writes Vorbis, which browsers, QuickTime and Windows do not play from an
    .mp4: a Matroska or Ogg film's sound went silent there. It is encoded as AAC, in time and in tune,
    said; an .mkv keeps it as it is."""
    src = write_tone_clip(tmp_path / "in.mkv", audio_codec="vorbis", audio_options={"strict": "-2"})
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    _, start_in, length_in, _ = audio_of(src)
    codec, start, length, peak = audio_of(tmp_path / "out.mp4")
    assert codec == "aac" and abs(start - start_in) < 0.03 and abs(length - length_in) < 0.03 and abs(peak - 440) < 3
    assert report.copied_streams == ["audio stream #1 (vorbis) re-encoded as aac at 192 kbit/s (Vorbis in a .mp4 "
                                     "file plays in few players; an .mkv or .webm output keeps it as it is)"]
    kept = upscale_video(src, tmp_path / "out.mkv", upscaler, FAST)
    assert kept.copied_streams == ["audio stream #1 (vorbis)"] and audio_of(tmp_path / "out.mkv")[0] == "vorbis"


def _sound_times(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [p.dts for p in c.demux(c.streams.audio[0]) if p.size]


def test_sound_frames_shorter_than_a_millisecond_are_all_kept(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A Blu-ray remux's TrueHD (40-sample frames: 1/1200 s at 48 kHz) in Matroska's milliseconds has
    one frame in six at the time of the one before; those were left out as "going back in time", and
    the sound broke up, copied and encoded again alike. Here PCM in 40-sample packets stands for it
    (no TrueHD encoder here): every packet is kept into .mkv, and the AAC made of it for .mp4 is whole."""
    src = write_tone_clip(tmp_path / "remux.mkv", frames=10, audio_codec="pcm_s16le", start=0, rate=48000,
                          chunk=40)

    sent = _sound_times(src)
    assert len(sent) == 480 and sum(a == b for a, b in zip(sent, sent[1:])) == 80  # one in six shares a time
    report = upscale_video(src, tmp_path / "out.mkv", upscaler, FAST)
    assert len(_sound_times(tmp_path / "out.mkv")) == 480 and not report.notes, report.notes
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    codec, _, length, peak = audio_of(tmp_path / "out.mp4")
    assert codec == "aac" and abs(length - 0.4) < 0.03 and abs(peak - 440) < 3 and not report.notes, report.notes


@pytest.mark.parametrize("suffix", [".ts", ".m2ts"])
def test_truehd_from_matroska_is_copied_whole_into_mpeg_ts(tmp_path: Path, upscaler: FrameUpscaler,
                                                          suffix: str) -> None:
    """A Blu-ray remux's TrueHD in Matroska's milliseconds has one frame in six at the time of the one
    before; MPEG-TS (.ts, and Blu-ray's own .m2ts) takes a stream's frames only in order, and those were
    left out of the copy (400 of 2,400 in 2 s, "went back in time"). Timed to the sample in the output's
    90 kHz clock, as FFmpeg's command line does, every frame is kept, 1/1200 s apart. (FFmpeg's command
    line makes the TrueHD; PyAV has no TrueHD encoder.)"""
    src = tmp_path / "remux.mkv"
    made = ffmpeg_cli("-f", "lavfi", "-i", "color=c=gray:s=96x64:r=25:d=2", "-f", "lavfi", "-i",
                   "sine=frequency=440:sample_rate=48000:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
                   "-c:a", "truehd", "-strict", "-2", str(src))
    if made:
        pytest.skip(made)
    sent = _sound_times(src)
    assert len(sent) == 2400 and sum(a == b for a, b in zip(sent, sent[1:])) == 400
    report = upscale_video(src, tmp_path / f"out{suffix}", upscaler, FAST)
    out = _sound_times(tmp_path / f"out{suffix}")
    assert report.copied_streams == ["audio stream #1 (truehd)"] and not report.notes, report.notes
    assert len(out) == 2400 and {b - a for a, b in zip(out, out[1:])} == {75}  # 1/1200 s at 90 kHz


def test_aac_from_matroska_keeps_its_frame_lengths_in_mp4(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """Matroska rounds each AAC frame's time (1024 samples, 23.2 ms at 44.1 kHz) to the millisecond;
    copied into an .mp4, whose clock counts samples, the frames were 1,014 to 1,059 samples long, as the
    rounding fell. Each now starts where the one before ends, as in the input's encoder."""
    src = write_tone_clip(tmp_path / "in.mkv", frames=25, start=0)
    sent = _sound_times(src)
    assert {b - a for a, b in zip(sent, sent[1:])} == {23, 24}  # milliseconds
    upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    out = _sound_times(tmp_path / "out.mp4")
    assert len(out) == len(sent) and {b - a for a, b in zip(out, out[1:])} == {1024}
    (codec, start, length, peak), (_, start_in, length_in, peak_in) = audio_of(tmp_path / "out.mp4"), audio_of(src)
    assert codec == "aac" and abs(start - start_in) < 0.003 and abs(length - length_in) < 0.003
    assert abs(peak - peak_in) < 1


def _sound_seconds(path: Path) -> tuple[str, str, float]:
    """The first audio stream's codec, layout and decoded length in seconds."""
    with av.open(str(path)) as c:
        sound = c.streams.audio[0]
        return sound.codec_context.name, sound.layout.name, sum(f.samples for f in c.decode(sound)) / sound.rate


@pytest.mark.parametrize(("audio_codec", "layout", "made"), [("flac", "stereo", "ac3"), ("pcm_s16le", "5.1", "ac3"),
                                                             ("flac", "6.1", "aac")])
def test_sound_mpeg_ts_does_not_name_is_encoded_again(tmp_path: Path, upscaler: FrameUpscaler, audio_codec: str,
                                                      layout: str, made: str) -> None:
    """FFmpeg's MPEG-TS muxer writes FLAC, ALAC, Vorbis and PCM as a private stream that players and
    FFmpeg read as data, not sound: the run said "copied" and the .ts or .m2ts had no sound. Such sound
    is encoded as AC-3 (AAC above 5.1, which AC-3 cannot carry), said, at its length."""
    src = write_tone_clip(tmp_path / "in.mkv", frames=25, audio_codec=audio_codec, layout=layout, start=0)
    report = upscale_video(src, tmp_path / "out.ts", upscaler, FAST)
    assert report.copied_streams[0].startswith(f"audio stream #1 ({audio_codec}) re-encoded as {made} at ")
    assert "a .ts file holds" in report.copied_streams[0]
    codec, out_layout, seconds = _sound_seconds(tmp_path / "out.ts")
    assert codec == made and len(av.AudioLayout(out_layout).channels) == len(av.AudioLayout(layout).channels)
    assert abs(seconds - _sound_seconds(src)[2]) < 0.05


def test_sound_packets_of_no_length_keep_their_end_in_mp4(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """Matroska gives ALAC's frames no length; an .mp4 muxer takes a packet's length from the packet, and
    left the last one out (FFmpeg's command line too): the end of the sound was lost. Each copied packet's
    length is found by decoding it where the container does not give it."""
    src = write_tone_clip(tmp_path / "in.mkv", frames=25, audio_codec="alac", start=0, rate=48000)
    upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    assert len(_sound_times(tmp_path / "out.mp4")) == len(_sound_times(src))
    assert _sound_seconds(tmp_path / "out.mp4") == pytest.approx(_sound_seconds(src))


def test_pcm_from_matroska_is_copied_into_mov(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """Matroska declares PCM's channels in no order; the .mp4 muxer refused that at the first audio
    packet, mid-run (PCM into an .mp4 is now encoded as AAC: the next test), as the .mov muxer does.
    The copy takes the usual stereo layout, as FFmpeg's command line does."""
    src = write_tone_clip(tmp_path / "in.mkv", audio_codec="pcm_s16le")
    report = upscale_video(src, tmp_path / "out.mov", upscaler, FAST)
    assert audio_of(tmp_path / "out.mov") == pytest.approx(audio_of(src)) and audio_of(src)[0] == "pcm_s16le"
    assert report.copied_streams == ["audio stream #1 (pcm_s16le)"]
    with av.open(str(tmp_path / "out.mov")) as c:
        assert c.streams.audio[0].layout.name == "stereo"


@pytest.mark.parametrize(("audio_codec", "container"), [("pcm_s16le", "mov"), ("pcm_s24le", "mov"),
                                                         ("pcm_s16le", "mkv")])
def test_pcm_into_an_mp4_is_encoded_as_aac_said_with_where_it_is_kept(tmp_path: Path, upscaler: FrameUpscaler,
                                                                     audio_codec: str, container: str) -> None:
    """FFmpeg's .mp4 muxer takes PCM and writes it as ISO/IEC 23003-5 'ipcm', which browsers,
    QuickTime and Windows do not play and FFmpeg 5.1 (Debian 12's) read as 16-bit samples: a
    camera's 24-bit sound played as noise. It is encoded as AAC, in time and in tune, and the run
    says that a .mov or .mkv keeps it as it is. From Matroska, whose PCM channels are in no declared
    order, the AAC encoder refused the stream ("Unsupported channel layout") and nothing was written."""
    src = write_tone_clip(tmp_path / f"in.{container}", audio_codec=audio_codec)
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    _, start_in, length_in, _ = audio_of(src)
    codec, start, length, peak = audio_of(tmp_path / "out.mp4")
    assert codec == "aac" and abs(start - start_in) < 0.005 and abs(length - length_in) < 0.03 and abs(peak - 440) < 3
    assert report.copied_streams == [f"audio stream #1 ({audio_codec}) re-encoded as aac at 192 kbit/s (PCM in a "
                                     ".mp4 file plays in few players; a .mov or .mkv output keeps it as it is)"]


def _write_vfr(path: Path, pts_ms: list[int]) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 48, 32, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(pts_ms):
            f = av.VideoFrame.from_ndarray(np.full((32, 48, 3), i * 15, np.uint8), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_a_transport_stream_too_short_to_probe_is_written(tmp_path: Path) -> None:
    """A preview of three small frames into .ts was deleted as "the .ts muxer refused it": the
    check that reads the finished file back could not open it, FFmpeg's format probe needing more
    of a transport stream than it holds. It is read as the format its name says, and kept."""
    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as c:  # flat grey: a few bytes a frame
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), 90, np.uint8), format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode())
    from srstream import Upscaler
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        assert up.upscale_file(src, tmp_path / "out.ts").video.frames_out == 3
    with av.open(str(tmp_path / "out.ts"), format="mpegts") as back:
        assert sum(1 for _ in back.decode(video=0)) == 3


def test_variable_frame_rate_timestamps_are_kept(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    src = _write_vfr(tmp_path / "vfr.mkv", [0, 33, 50, 120, 121, 400, 433])
    upscale_video(src, tmp_path / "vfr_x2.mkv", upscaler, FAST)
    pts_in, _, tb_in, _, _ = _frames(src)
    pts_out, _, tb_out, _, _ = _frames(tmp_path / "vfr_x2.mkv")
    assert [p * tb_in for p in pts_in] == [p * tb_out for p in pts_out] and len(pts_out) == 7


def write_b_frame_avi(path: Path, frames: int = 30) -> Path:
    """H.264 with B-frames in AVI, which stores no presentation times: FFmpeg's demuxer gives the
    packets times in file (decoding) order."""
    rng = np.random.default_rng(2)
    pictures = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(frames)]
    return _write_coded(path, "libx264", "yuv420p", pictures, rate=30, options={"preset": "ultrafast", "bf": "2",
                                                                                "g": "10"})


def test_an_avi_of_b_frames_keeps_its_frames_in_time(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """Its frames came out of the decoder with the packets' times, out of order (1, 4, 3, 5, 2, ...),
    and were 'given the next free one': the output's frames sat at the wrong times. They are timed by
    their decoding times now, as FFmpeg's best-effort timestamp (and ffprobe) times them."""
    src = write_b_frame_avi(tmp_path / "in.avi")
    with av.open(str(src)) as c:
        v = c.streams.video[0]
        assert v.codec_context.has_b_frames
        decoded = [(f.pts, f.dts) for f in c.decode(v)]
        tb_in = v.time_base
    assert [pts for pts, _ in decoded] != sorted(pts for pts, _ in decoded)  # what the decoder hands out
    report = upscale_video(src, tmp_path / "out.mkv", upscaler, FAST)
    pts_out, _, tb_out, _, _ = _frames(tmp_path / "out.mkv")
    times = [p * tb_out for p in pts_out]
    assert len(times) == report.frames_out == 30 and times == sorted(set(times))
    known = [round(dts * tb_in * 1000) for _, dts in decoded if dts is not None]  # the last few carry none: the
    assert [round(t * 1000) for t in times[:len(known)]] == known and len(known) >= 25  # next free time (ms in .mkv)
    assert not any("timestamps" in note for note in report.notes) and not report.ended_early


def test_an_avi_with_empty_chunks_is_not_called_short_and_one_cut_short_is(tmp_path: Path,
                                                                            upscaler: FrameUpscaler) -> None:
    """A variable-rate AVI holds empty chunks where its frames pause (the player repeats the frame
    before), which its header counts as frames: the run said it 'ended after 8 of the 14 frames it
    declares' and exited 3. Its index counts the pictures; an AVI cut short has lost the index (it
    comes last), and the header's count still tells."""
    src = tmp_path / "gaps.avi"
    shown = [0, 1, 2, 6, 7, 8, 12, 13]
    rng = np.random.default_rng(3)
    with av.open(str(src), "w") as c:
        s = c.add_stream("mjpeg", rate=Fraction(30))
        s.width, s.height, s.pix_fmt = 64, 48, "yuvj420p"
        for t in shown:
            f = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 30)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 14
    report = upscale_video(src, tmp_path / "out.mkv", upscaler, FAST)
    pts_out, _, tb_out, _, _ = _frames(tmp_path / "out.mkv")
    assert [p * tb_out for p in pts_out] == [round(Fraction(t, 30), 3) for t in shown] and not report.ended_early
    cut = tmp_path / "cut.avi"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size * 2 // 3])
    report = upscale_video(cut, tmp_path / "cut_out.mkv", upscaler, FAST)
    assert "frames it declares" in report.ended_early and report.frames_out < 8


def write_joined_ts(path: Path) -> Path:
    """Two MPEG-TS clips with sound (30 frames each, their clocks both starting at 1.4 s) joined end
    to end, as ``cat`` joins an HLS download's segments."""
    parts = [write_tone_clip(path.with_name(f"part{i}.ts"), frames=30, tone=tone) for i, tone in enumerate((440, 880))]
    path.write_bytes(b"".join(part.read_bytes() for part in parts))
    return path


def test_sound_that_switches_between_stereo_and_5_1_is_encoded_again_whole(tmp_path: Path,
                                                                           upscaler: FrameUpscaler) -> None:
    """A broadcast recording's AC-3 is stereo in the adverts and 5.1 in the programme. Encoded again
    (into .webm, as Opus) the run ended in a traceback at the switch, after upscaling to there ("Frame
    does not match AudioResampler setup"): the 5.1 is now mixed to the first frames' stereo, said, and
    the sound runs to its end."""
    parts = [write_tone_clip(tmp_path / f"part{i}.ts", frames=25, audio_codec="ac3", rate=48000, first=25 * i,
                             layout="5.1" if i % 2 else "stereo", tone=660 if i % 2 else 440) for i in range(4)]
    src = tmp_path / "recording.ts"  # adverts, the programme, adverts, the programme
    src.write_bytes(b"".join(part.read_bytes() for part in parts))
    report = upscale_video(src, tmp_path / "out.mkv", upscaler, FAST)  # copied as it is
    assert report.copied_streams == ["audio stream #1 (ac3)"] and not report.notes, report.notes
    if default_codec(".webm") == "libx264":
        pytest.skip("this FFmpeg build has no VP9/AV1 encoder: no .webm output")
    report = upscale_video(src, tmp_path / "again.webm", upscaler, EncodeOptions(codec=default_codec(".webm")))
    assert report.frames_out == 100 and "re-encoded as libopus" in report.copied_streams[0], report.copied_streams
    assert any(" frames of audio stream #1 (ac3) came in another layout or rate than its first (stereo, 48000 Hz) "
               "and were mixed to it" in note for note in report.notes), report.notes
    with av.open(str(tmp_path / "again.webm")) as c:
        sound = c.streams.audio[0]
        frames = list(c.decode(sound))
    assert {f.layout.name for f in frames} == {"stereo"}
    assert abs(sum(f.samples for f in frames) / sound.rate - _sound_seconds(src)[2]) < 0.05


def test_aac_that_switches_rate_and_channels_is_not_copied_where_it_is_described_once(
        tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A recording's .ts whose AAC is 44.1 kHz stereo in the adverts and 48 kHz 5.1 in the programme (a DVB
    channel's, a streaming service's with adverts spliced in): each ADTS frame says its own shape, and an
    .mp4, .mov or .mkv says one for the whole track. Copied there, every frame after the switch failed to
    decode ("Invalid data"), and the run said it had copied the sound. It is encoded again in its
    longest-running shape, whole and said; a .ts output, which keeps the frames' own headers, copies it."""
    parts = [write_tone_clip(tmp_path / "advert.ts", frames=25, rate=44100, layout="stereo"),
             write_tone_clip(tmp_path / "programme.ts", frames=50, rate=48000, layout="5.1", tone=660, first=25)]
    src = tmp_path / "recording.ts"
    src.write_bytes(b"".join(part.read_bytes() for part in parts))
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    assert report.copied_streams[0].startswith("audio stream #1 (aac) re-encoded as aac at 576 kbit/s (its sound "
                                               "switches between 44.1 kHz stereo and 48 kHz 5.1 (first 1."), report
    with av.open(str(tmp_path / "out.mp4")) as c:
        sound = c.streams.audio[0]
        frames = list(c.decode(sound))  # every frame decodes
    assert {(f.layout.name, f.sample_rate) for f in frames} == {("5.1", 48000)}
    assert abs(sum(f.samples for f in frames) / 48000 - 3.0) < 0.1
    assert any("came in another layout or rate than its longest-running (5.1, 48000 Hz)" in note
               for note in report.notes), report.notes
    report = upscale_video(src, tmp_path / "out.ts", upscaler, FAST)
    assert report.copied_streams == ["audio stream #1 (aac)"]
    with av.open(str(tmp_path / "out.ts")) as c:
        shapes = {(f.layout.name, f.sample_rate) for f in c.decode(c.streams.audio[0])}
    assert shapes == {("stereo", 44100), ("5.1", 48000)}
    # a preview of the adverts, or the programme from 1.5 s on, holds one shape: copied as it is
    for part in ({"limit": (15, None)}, {"start": 1.5}):
        report = upscale_video(src, tmp_path / "part.mp4", upscaler, FAST, **part)
        assert report.copied_streams == ["audio stream #1 (aac)"], (part, report.copied_streams)


def test_a_transport_stream_of_joined_files_keeps_every_frame_and_its_sound(tmp_path: Path,
                                                                            upscaler: FrameUpscaler) -> None:
    """Its times start again at the join: the run failed ('Invalid argument') once the first part was
    upscaled. What follows the jump now goes on from where the streams were, as FFmpeg's command
    line makes it, its sound in step with its pictures."""
    src = write_joined_ts(tmp_path / "joined.ts")
    with av.open(str(src)) as c:
        sound_in = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    assert report.frames_out == 60 and any("timestamps jump 1 time" in note for note in report.notes)
    with av.open(str(tmp_path / "out.mp4")) as c:
        video = [f.time for f in c.decode(c.streams.video[0])]
    with av.open(str(tmp_path / "out.mp4")) as c:
        sound = [p.dts * p.time_base for p in c.demux(c.streams.audio[0]) if p.size]
    assert len(video) == 60 and video == sorted(set(video)) and len(sound) == sound_in and sound == sorted(set(sound))
    gap = video[30] - video[29]  # the second part right after the first (its sound ran a little longer)
    assert 0.03 < gap < 0.2, gap


def write_overlapping_ts(path: Path) -> Path:
    """Two pieces of one MPEG-TS recording joined end to end (30 frames each, the second's clock
    going on from the first's), whose sound overlaps by an AAC encoder's priming: the second's first
    audio packet starts 15 ms before the first's last one."""
    parts = [write_tone_clip(path.with_name("part0.ts"), frames=30, tone=440),
             write_tone_clip(path.with_name("part1.ts"), frames=30, tone=880, start=0.0, first=30)]
    path.write_bytes(b"".join(part.read_bytes() for part in parts))
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_sound_that_overlaps_itself_leaves_out_what_goes_back(tmp_path: Path, upscaler: FrameUpscaler,
                                                              suffix: str) -> None:
    """The muxer refused the whole output ('writing ... failed (Invalid argument)') once every frame
    was upscaled: the second piece's first audio packet went back in time. It is left out and
    named; every frame and every other packet is kept, at its own time."""
    src = write_overlapping_ts(tmp_path / "pieces.ts")
    with av.open(str(src)) as c:
        times = [p.dts for p in c.demux(c.streams.audio[0]) if p.size]
    back = sum(1 for i, t in enumerate(times) if t <= max(times[:i], default=-1))
    assert back == 1  # what the input is made to show
    report = upscale_video(src, tmp_path / f"out{suffix}", upscaler, FAST)
    assert report.frames_out == 60
    assert any(note.startswith("1 packet of audio stream #1 (0.02 s) that went back in time was left out")
               for note in report.notes), report.notes
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        sound = [p.dts for p in c.demux(c.streams.audio[0]) if p.size]
    assert len(sound) == len(times) - 1 and sound == sorted(set(sound))


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_subtitle_events_that_start_together_are_both_kept(tmp_path: Path, upscaler: FrameUpscaler,
                                                           suffix: str) -> None:
    """Two subtitle events at one time (a sign and a line of dialogue) are not 'back in time': the
    second was left out once packets going back were."""
    from fractions import Fraction

    src = tmp_path / "two.mkv"
    with av.open(str(src), "w") as c:
        video = c.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        text = c.add_mux_stream("subrip")
        text.time_base = Fraction(1, 1000)
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            c.mux(video.encode(frame))
        for words in (b"A sign", b"A line"):
            line = av.Packet(words)
            line.stream, line.pts, line.dts, line.duration, line.time_base = text, 40, 40, 100, Fraction(1, 1000)
            c.mux(line)
        c.mux(video.encode(None))
    report = upscale_video(src, tmp_path / f"out{suffix}", upscaler, FAST)
    assert not any("back in time" in note for note in report.notes), report.notes
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        assert sum(1 for p in c.demux(c.streams.subtitles[0]) if p.size > 2) == 2  # mov_text: 2 bytes of length


def test_zero_frame_video_is_an_error_and_writes_nothing(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A file whose video track is declared (size, codec) but holds no packets: only audio."""
    with_audio = write_video(tmp_path / "av.mp4", frames=5, audio=True)
    src = tmp_path / "empty.mkv"
    with av.open(str(with_audio)) as inp, av.open(str(src), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux(inp.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    with av.open(str(src)) as check:
        assert check.streams.video and check.streams.video[0].codec_context.width == 64
    with pytest.raises(InputError, match="no decodable frames"):
        upscale_video(src, tmp_path / "out.mkv", upscaler, FAST)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".mkv") == ["empty.mkv"]


def test_corrupt_stream_stops_with_a_clear_error_or_keeps_every_decodable_frame(
        tmp_path: Path, upscaler: FrameUpscaler) -> None:
    whole = write_video(tmp_path / "whole.mkv", frames=30, size=(64, 48))
    data = bytearray(whole.read_bytes())
    cut = len(data) // 2
    data[cut:cut + 400] = bytes(400)  # garbage in the middle of the stream
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(bytes(data))
    out = tmp_path / "broken_x2.mkv"
    try:
        report = upscale_video(broken, out, upscaler, FAST)
    except InputError as exc:
        assert "corrupt" in str(exc) and not out.exists()
    else:
        assert report.frames_out == report.frames_in == len(_frames(out)[0])
    assert not list(tmp_path.glob(".*partial*"))


class _FullDisk:
    """An output container whose disk fills up after a few packets."""

    def __init__(self, real, after: int) -> None:  # noqa: ANN001
        self._real, self._left = real, after

    def mux(self, packet) -> None:  # noqa: ANN001
        self._left -= 1
        if self._left < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._real.mux(packet)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._real, name)


def test_full_disk_leaves_no_half_written_file(tmp_path: Path, upscaler: FrameUpscaler,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_video(tmp_path / "in.mp4", frames=20)
    real_open = av.open

    def fake_open(path, mode="r", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        container = real_open(path, mode, *args, **kwargs)
        return _FullDisk(container, after=3) if mode == "w" else container

    monkeypatch.setattr(video_mod.av if hasattr(video_mod, "av") else av, "open", fake_open)
    with pytest.raises(OutputError, match="the disk is full"):
        upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".*partial*"))


class _Interrupting:
    def __init__(self, inner: FrameUpscaler, at: int) -> None:
        self.inner, self.at, self.n = inner, at, 0
        self.spec = inner.spec

    def _tick(self) -> None:
        self.n += 1
        if self.n == self.at:
            raise KeyboardInterrupt

    def takes_yuv420(self, height: int, width: int) -> bool:
        return self.inner.takes_yuv420(height, width)

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        self._tick()
        return self.inner.upscale(frame)

    def upscale_yuv420(self, *planes: np.ndarray, **kwargs: object) -> np.ndarray:
        self._tick()
        return self.inner.upscale_yuv420(*planes, **kwargs)


def test_ctrl_c_keeps_the_frames_done_without_replacing_the_output(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    src = write_video(tmp_path / "in.mp4", frames=20, audio=True)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"a previous, complete output")
    report = upscale_video(src, out, _Interrupting(upscaler, at=6), FAST)  # type: ignore[arg-type]
    assert report.interrupted and report.frames_out == 5
    assert report.kept == tmp_path / "out.interrupted.mp4" and len(_frames(report.kept)[0]) == 5
    assert out.read_bytes() == b"a previous, complete output"
    assert not list(tmp_path.glob(".*partial*")) and not list(tmp_path.glob(".*.lock"))
    again = upscale_video(src, out, _Interrupting(upscaler, at=3), FAST)  # type: ignore[arg-type]
    assert again.kept == tmp_path / "out.interrupted-2.mp4"  # an earlier part is not replaced either


def _size_change(path: Path) -> Path:
    """An MPEG-TS H.264 stream whose frames go from 64x48 to 32x32 (another aspect) after 6 frames
    (a broadcast's SD break in HD, an adaptive stream's recording): its parameters say 32x32."""
    encoded = []
    for (w, h), count, start in (((64, 48), 6, 0), ((32, 32), 4, 6)):
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = w, h, "yuv420p", Fraction(1, 25)
        encoder.options = {"preset": "ultrafast", "repeat-headers": "1", "bframes": "0"}
        encoder.open()
        for i in range(count):
            rgb = np.full((h, w, 3), 60 + 20 * i, np.uint8)
            rgb[:, : w // 4] = 250
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = start + i
            encoded += list(encoder.encode(frame))
        encoded += list(encoder.encode(None))
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("h264", rate=25)
        stream.width, stream.height = 64, 48
        for packet in encoded:
            packet.stream, packet.time_base = stream, Fraction(1, 25)
            out.mux(packet)
    return path


def test_a_frame_size_change_mid_stream_is_fitted_not_fatal(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A video whose frame size changes mid-stream stopped with 'split the file at the change', its
    output deleted; and the output took the size its stream parameters gave (here the last
    frames'). Now the output has the first frame's size, and frames of another size are fitted
    into it, their aspect kept (black bars), said once; in one pass and in segments alike."""
    src = _size_change(tmp_path / "tv.ts")
    from srstream.engine.media import probe

    assert (probe(src).width, probe(src).height) == (64, 48)
    reports = []
    for name, span in (("out.mp4", (None, None)), ("late.mp4", (6 * 3600, None))):  # a segment after the change
        report = upscale_video(src, tmp_path / name, upscaler, FAST, span=span)
        with av.open(str(tmp_path / name)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == report.frames_out == (10 if span[0] is None else 4)
        assert all(f.shape == (96, 128, 3) for f in frames)
        last = frames[-1].astype(int).mean(axis=(0, 2))  # 32x32 in 64x48: 8-pixel bars each side, x2
        assert last[:10].max() < 12 and last[-10:].max() < 12 and last[20:30].min() > 100  # (a random net's colours)
        reports.append(report)
    assert any("the frame size changes at frame 6 (64x48 -> 32x32)" in n and "(4 frames)" in n
               for n in reports[0].notes)


def test_unknown_codec_is_a_clear_error(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    from srstream.errors import ConfigError

    src = write_video(tmp_path / "in.mp4", frames=3)
    with pytest.raises(ConfigError, match="not available"):
        upscale_video(src, tmp_path / "out.mp4", upscaler, EncodeOptions(codec="no-such-codec"))
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".*partial*"))


def test_nvenc_without_its_gpu_is_refused_before_any_work_saying_what_it_needs(tmp_path: Path,
                                                                                upscaler: FrameUpscaler) -> None:
    """PyAV's wheels hold NVIDIA's encoders; where no GPU with one is (no driver here), the
    rehearsal says so and what to do, and nothing is written."""
    from srstream.errors import OutputError

    src = write_video(tmp_path / "in.mp4", frames=3)
    try:
        upscale_video(src, tmp_path / "out.mp4", upscaler, EncodeOptions(codec="h264_nvenc", crf=18))
    except OutputError as exc:
        assert "h264_nvenc needs an NVIDIA GPU that has the hardware encoder" in str(exc)
        assert "leave out --codec" in str(exc)
        assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".*partial*"))
    else:  # a GPU with NVENC: the frames are in the file
        with av.open(str(tmp_path / "out.mp4")) as c:
            assert c.streams.video[0].codec_context.name == "h264" and sum(1 for _ in c.decode(video=0)) == 3


def test_odd_output_size_is_encoded_without_losing_pixels(tmp_path: Path) -> None:
    src = tmp_path / "odd.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 33, 25, "yuv444p"
        for i in range(4):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((25, 33, 3), 40 * i, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    path = write_conv_net(tmp_path / "x3.onnx", 3, convs=2, features=4)
    spec = read_onnx_spec(path)
    with OrtBackend(spec, path, "fp32") as backend:
        report = upscale_video(src, tmp_path / "odd_x3.mkv", FrameUpscaler(backend, spec), FAST)
    pts, size, _, _, _ = _frames(tmp_path / "odd_x3.mkv")
    assert size == (99, 75) and len(pts) == 4 and report.notes and "yuv444p" in report.notes[0]


class _Capture:
    """An x2 'upscaler' that records the RGB frames the pipeline decodes (nearest upscale)."""

    def __init__(self, spec) -> None:  # noqa: ANN001
        self.spec, self.frames = spec, []

    def takes_yuv420(self, height: int, width: int) -> bool:
        return False  # this test is about the swscale RGB path

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        self.frames.append(frame)
        return np.repeat(np.repeat(frame, 2, 0), 2, 1)


def test_colour_conversion_is_unbiased(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """The BT.601 luma of the RGB the pipeline decodes equals the stored Y plane on average
    (swscale's default YUV -> RGB path came out 1.1 levels dark)."""
    yy, xx = np.mgrid[0:48, 0:64]
    image = np.stack([xx * 3 + 20, yy * 4 + 20, (xx + yy) * 2 + 20], -1).astype(np.uint8)
    src = tmp_path / "grad.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"qp": "0"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    capture = _Capture(upscaler.spec)
    upscale_video(src, tmp_path / "grad_x2.mkv", capture, FAST)  # type: ignore[arg-type]
    with av.open(str(src)) as c:
        stored_y = np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)]).astype(float)
    rgb = np.stack(capture.frames).astype(float)
    luma = 16 + 219 * (rgb @ np.array([0.299, 0.587, 0.114])) / 255
    assert abs(float((luma - stored_y).mean())) < 0.6  # 0.37 here; 1.44 with swscale defaults


@pytest.mark.parametrize("matrix", [None, "bt709"])
def test_the_yuv420_path_keeps_levels_and_colours(tmp_path: Path, matrix: str | None) -> None:
    """The bundled model through the no-conversion 4:2:0 path: the output, shrunk back, has the
    source's Y, U and V levels (no bias from a matrix or range mix-up)."""
    import cv2

    from srstream.engine.models import BUNDLED_MODELS, MODELS_DIR

    yy, xx = np.mgrid[0:64, 0:96]
    image = np.stack([xx * 2 + 30, yy * 3 + 20, 200 - xx - yy], -1).astype(np.uint8)
    src = tmp_path / "grad.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"qp": "0"})
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        if matrix:
            s.codec_context.colorspace = 1
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709" if matrix else "ITU601")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    path = MODELS_DIR / BUNDLED_MODELS["realtime-x2"]
    spec = read_onnx_spec(path)
    with OrtBackend(spec, path, "fp32") as backend:
        up = FrameUpscaler(backend, spec, "auto")
        assert up.takes_yuv420(64, 96)
        upscale_video(src, tmp_path / "grad_x2.mkv", up, FAST)

    def planes(p: Path) -> list[np.ndarray]:
        with av.open(str(p)) as c:
            f = next(c.decode(video=0)).to_ndarray()  # yuv420p: (H * 3/2, W)
        h = f.shape[0] * 2 // 3
        return [f[:h].astype(float), f[h:].reshape(2, h // 2, -1).astype(float)]

    (y_in, c_in), (y_out, c_out) = planes(src), planes(tmp_path / "grad_x2.mkv")
    y_back = cv2.resize(y_out, (96, 64), interpolation=cv2.INTER_AREA)
    c_back = np.stack([cv2.resize(c, (48, 32), interpolation=cv2.INTER_AREA) for c in c_out])
    assert abs((y_back - y_in)[4:-4, 4:-4].mean()) < 0.5 and np.abs(y_back - y_in)[4:-4, 4:-4].mean() < 1.5
    assert np.abs(c_back - c_in)[:, 2:-2, 2:-2].mean() < 1.0


def test_stabilized_video_keeps_every_frame_and_steadies_static_detail(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A still scene with fresh noise in every frame: the stabiliser lowers the output's
    frame-to-frame change and keeps every frame and timestamp."""
    from srstream.engine.stabilize import StabilizedUpscaler

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3)).astype(np.uint8), (5, 5), 1.5)
    src = tmp_path / "noisy.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("ffv1", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv444p"
        for _ in range(8):
            grain = rng.normal(0, 2, base.shape[:2])[..., None]  # luma-like noise, new in every frame
            noisy = np.clip(base.astype(int) + grain, 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24").reformat(format="yuv444p")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    lossless = EncodeOptions(codec="ffv1", pix_fmt="yuv444p", crf=None)
    plain = upscale_video(src, tmp_path / "plain.mkv", upscaler, lossless)
    steady = upscale_video(src, tmp_path / "steady.mkv", StabilizedUpscaler(upscaler, 0.7), lossless)  # type: ignore[arg-type]
    assert plain.frames_out == steady.frames_out == 8

    def decoded(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    a, b = decoded(tmp_path / "plain.mkv"), decoded(tmp_path / "steady.mkv")

    def change(frames: list[np.ndarray]) -> float:  # mean frame-to-frame change of the luma
        y = [f.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) for f in frames]
        return float(np.mean([np.abs(p - q).mean() for p, q in zip(y[1:], y[:-1])]))

    assert change(b) < 0.85 * change(a), (change(b), change(a))


@pytest.mark.parametrize(("codec", "suffix", "pix_fmt"), [
    ("prores_ks", ".mov", "yuv422p10le"),  # ProRes takes no 4:2:0 and no 8 bits
    ("qtrle", ".mov", "rgb24"),  # QuickTime Animation: RGB only
    ("mpeg2video", ".mxf", "yuv420p"),  # a time base of one tick a frame; 44.1 kHz AAC as 48 kHz PCM
])
def test_an_encoder_gets_what_it_takes_and_every_frame_is_kept(tmp_path: Path, upscaler: FrameUpscaler, codec: str,
                                                                suffix: str, pix_fmt: str) -> None:
    """Encoders that refused the defaults only when they opened, at the first frame (4:2:0, the
    input's 1/12800 time base): each gets the nearest pixel format it takes, with a note, and the
    right time base; every frame and the sound, in time, are in the file."""
    src = write_tone_clip(tmp_path / "in.mp4")
    report = upscale_video(src, tmp_path / f"out{suffix}", upscaler, EncodeOptions(codec=codec))
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == pix_fmt
        assert sum(1 for _ in c.decode(video=0)) == report.frames_out == 30
    _, start_in, length_in, _ = audio_of(src)
    _, start, length, peak = audio_of(tmp_path / f"out{suffix}")
    assert abs(start - start_in) < 0.005 and abs(length - length_in) < 0.03 and abs(peak - 440) < 3, (start, length)
    assert (f"{codec} does not take yuv420p: encoded as {pix_fmt}" in report.notes) == (pix_fmt != "yuv420p")


def test_a_7_1_sound_padded_with_silence_is_written_not_a_crash(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A 7.1 film's sound starting after its video, into .mxf (whose sound runs from the video's start):
    the silence before it is written plane by plane, and PyAV lists 9 planes for a planar frame of 8
    channels, the ninth pointing nowhere. The run died of a segmentation fault, leaving its lock and a
    partial file behind; the sound now starts with its silence, 8 channels to the video's end."""
    src = write_tone_clip(tmp_path / "film.mp4", frames=25, layout="7.1", start=0.4, rate=48000)
    report = upscale_video(src, tmp_path / "out.mxf", upscaler, EncodeOptions(codec="mpeg2video"))
    assert "padded with silence" in report.copied_streams[0], report.copied_streams
    with av.open(str(tmp_path / "out.mxf")) as c:
        sound = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(sound))
    assert sound.channels == 8 and abs(samples / 48000 - 1.0) < 0.05, (sound.channels, samples)


def test_a_5_1_sound_encoded_again_for_avi_stays_5_1(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """An .avi keeps no start time for sound, so a broadcast's 5.1 that starts after its picture is encoded
    again with silence before it, in the format's own MP3, which holds two channels at most: the run was
    refused ("libmp3lame: stereo"). Such sound is AC-3 now, as a DVD's, 5.1 and whole."""
    src = write_tone_clip(tmp_path / "broadcast.ts", frames=25, audio_codec="ac3", rate=48000, layout="5.1",
                          start=0.5)
    report = upscale_video(src, tmp_path / "out.avi", upscaler, FAST)
    assert report.copied_streams[0].startswith("audio stream #1 (ac3) re-encoded as ac3 at 576 kbit/s (a .avi file "
                                               "keeps no start time for sound"), report.copied_streams
    assert _sound_seconds(tmp_path / "out.avi")[1:] == ("5.1(side)", pytest.approx(1.0, abs=0.05))


def test_sound_no_encoder_of_the_format_takes_is_refused_naming_the_sound(tmp_path: Path,
                                                                           upscaler: FrameUpscaler) -> None:
    """A 24-channel master's PCM (22.2) into .mp4, whose AAC encoder takes 8 channels at most: refused before any
    work, as before, but the run told the user to try another --codec or --pix-fmt, which are the picture's. It
    names the sound now, and the outputs that keep it."""
    src = write_tone_clip(tmp_path / "master.mkv", frames=10, audio_codec="pcm_s16le", layout="22.2", rate=48000)
    with pytest.raises(OutputError, match=r"its sound cannot be encoded for it \(aac: .*\); nothing was written. "
                                          r"Use an \.mkv output, which keeps the sound as it is, or --no-audio"):
        upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))
    assert upscale_video(src, tmp_path / "out.mkv", upscaler, FAST).copied_streams == ["audio stream #1 (pcm_s16le)"]


def test_an_output_that_reads_back_without_its_video_is_refused_not_a_traceback(tmp_path: Path,
                                                                               upscaler: FrameUpscaler) -> None:
    """MPEG-1 Layer II sound in an .mp4 (FFmpeg reads it as "mp3"), copied into .flv, is written as MP3;
    the .flv reads back as dozens of sound streams, found one by one as it is read, and the check of
    the frames kept ended in a traceback (PyAV's IndexError). It is refused as a muxer that kept none
    of the frames, and nothing is left behind."""
    src = tmp_path / "layer2.mp4"
    made = ffmpeg_cli("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25:duration=2", "-f", "lavfi", "-i",
                      "sine=frequency=440:sample_rate=48000:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
                      "-c:a", "mp2", str(src))
    if made:
        pytest.skip(made)
    with pytest.raises(OutputError, match="the .flv muxer kept 0 of the 50 frames it was given"):
        upscale_video(src, tmp_path / "out.flv", upscaler, FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer2.mp4", "net.onnx"]


def _write_coded(path: Path, codec: str, pix_fmt: str, pictures: list[np.ndarray],
                 container_format: str | None = None, rate: int = 25, options: dict[str, str] | None = None) -> Path:
    """A ``rate``-fps video of ``pictures`` (RGB, 8-bit or 16-bit) in ``codec`` and ``pix_fmt``, with the
    encoder's ``options``."""
    with av.open(str(path), "w", format=container_format) as c:
        v = c.add_stream(codec, rate=rate)
        v.height, v.width = pictures[0].shape[:2]
        v.pix_fmt = pix_fmt
        v.options = options or {}
        for i, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb48le" if picture.dtype == np.uint16 else "rgb24")
            frame.pts = i
            for packet in v.encode(frame):
                c.mux(packet)
        for packet in v.encode():
            c.mux(packet)
    return path


def test_a_raw_dv_tape_capture_keeps_its_frame_rate(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """FFmpeg 8 reads a raw DV file (``.dv``: a camcorder tape captured with dvgrab or a capture card)
    at an average of 60,000 frames a second, its clock's tick rate: an .mp4 output's timecode track
    refused that rate ("fps 60000 is too large") after the work, and an .mkv said 30,000 fps. The
    stream's guessed rate, 25, is taken where the average is above any camera's."""
    src = _write_coded(tmp_path / "tape.dv", "dvvideo", "yuv420p",
                       [np.full((576, 720, 3), 60 * (i + 1), np.uint8) for i in range(3)], container_format="dv")
    with av.open(str(src)) as c:
        assert c.streams.video[0].average_rate > 1000 and c.metadata.get("timecode")  # what FFmpeg 8 says
    for suffix in (".mp4", ".mkv"):
        report = upscale_video(src, tmp_path / f"out{suffix}", upscaler, FAST)
        assert report.frames_out == 3
        with av.open(str(tmp_path / f"out{suffix}")) as c:
            assert c.streams.video[0].average_rate == 25, suffix


def test_frames_with_side_data_pyav_has_no_name_for_upscale_in_a_fresh_process(tmp_path: Path) -> None:
    """FFmpeg's TIFF decoder (a film scan or an editor's 16-bit TIFF-in-MOV intermediate) attaches the
    frame's EXIF as side data of a type PyAV 18 has no name for. The closed-caption check read
    ``frame.side_data`` before the reader that names such types had run, and a fresh process ended in
    a traceback ("31 is not a valid Type") on the first frame; a test process that had named them
    earlier could not see it."""
    import subprocess
    import sys

    src = _write_coded(tmp_path / "scan.mov", "tiff", "rgb48le",
                       [np.full((24, 32, 3), 4000 * (i + 1), np.uint16) for i in range(3)])
    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    r = subprocess.run([sys.executable, "-m", "srstream", str(src), "-o", "out.mkv", "--model", str(net)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3


@pytest.mark.parametrize(("suffix", "start", "codec", "src_name"), [
    (".avi", 0.4, "mp3float", "in.mp4"), (".avi", 0.0, "aac", "in.mp4"), (".ogv", 0.4, "flac", "in.mp4"),
    (".ogv", 0.0, "flac", "in.mp4"),
    # Matroska times its sound in milliseconds: the silence (timed in samples) and the sound went through
    # the encoder's resampler in one time base, 0.4 s became 400 samples, and the muxer refused the times
    (".avi", 0.4, "mp3float", "in.mkv"), (".ogv", 0.4, "flac", "in.mkv")])
def test_sound_that_begins_late_keeps_its_time_in_an_avi_or_ogv(tmp_path: Path, upscaler: FrameUpscaler, suffix: str,
                                                                start: float, codec: str, src_name: str) -> None:
    """FFmpeg's AVI and Ogg muxers keep no start time for sound: sound that began 0.4 s in played at 0,
    0.4 s before its picture. It is encoded again (.avi: the format's MP3) with silence before it;
    sound that begins with the file is still copied. The MP3 encoder's own delay, 1105 samples
    (25 ms), stays: sound that late is not seen (lip sync is seen from about 45 ms early, 125 ms late)."""
    src = write_tone_clip(tmp_path / src_name, frames=50, start=start)
    report = upscale_video(src, tmp_path / f"out{suffix}", upscaler, EncodeOptions(codec=default_codec(suffix)))
    assert report.frames_out == 50
    _, start_in, length_in, _ = audio_of(src)
    got, start_out, length, peak = audio_of(tmp_path / f"out{suffix}")
    assert got == codec and abs(length - length_in) < 0.03 and abs(peak - 440) < 3
    assert -1e-6 <= start_out - start_in < 0.03, (start_in, start_out)
    said = [line for line in report.copied_streams if line.startswith("audio")]
    # an .mp4's stream starts with the AAC encoder's 1024 samples of priming, 23 ms before the sound
    padded = f"keeps no start time for sound, which begins {0.38 if src_name == 'in.mp4' else 0.4:.2f} s in, " \
        "padded with silence" in said[0]
    assert padded == (start > 0), said
    if suffix == ".ogv" and not start:  # Ogg holds no AAC: said in words, not FFmpeg's "'<none>' returned 22"
        assert "(a .ogv file cannot hold aac" in said[0], said


def test_what_an_encoder_refuses_is_said_before_any_work(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """MPEG-2 has no code for 11 frames a second: said in FFmpeg's words before the first frame is
    upscaled, with nothing written (before, the encoder failed at the first frame, after the model
    had loaded, and the message said only 'Invalid argument')."""
    src = write_video(tmp_path / "in.mkv", frames=4, rate=11)
    with pytest.raises(OutputError, match=r"a \.mpg output with mpeg2video cannot be written \(mpeg2video: MPEG-1/2 "
                                          r"does not support 11/1 fps\); nothing was written"):
        upscale_video(src, tmp_path / "out.mpg", upscaler, EncodeOptions(codec="mpeg2video"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "net.onnx"]


def test_a_two_frame_video_encodes_with_x265(tmp_path: Path) -> None:
    """libx265 gave the packets of a stream of fewer than three frames decode times from memory it
    never wrote (-5.9e11 for a pts of 0, in a fresh process's second encoder: the rehearsal makes the
    first), which the .mp4 muxer refused; such times are now set to the presentation time."""
    import subprocess
    import sys

    try:
        av.codec.Codec("libx265", "w")
    except Exception:  # noqa: BLE001 - not in this FFmpeg build
        pytest.skip("no libx265 in this FFmpeg build")
    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    src = write_video(tmp_path / "in.mp4", frames=2, size=(160, 120))  # 64x48 did not show it
    r = subprocess.run([sys.executable, "-m", "srstream", str(src), "-o", "out.mp4", "--model", str(net), "--codec",
                        "libx265", "--crf", "30"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _frames(tmp_path / "out.mp4")[0] == _frames(src)[0]


@pytest.mark.parametrize("leftover", [-512, 10**11])
def test_decode_times_from_x265s_unset_delay_are_replaced_before_the_muxer_sees_them(tmp_path: Path,
                                                                                    leftover: int) -> None:
    """x265 subtracts a delay it never set from the decode times of a stream of fewer than three
    frames (its issue #781): whatever the heap held. A leftover far above zero gave -5.9e11
    (above); one below zero puts the decode time after the presentation time, which the .mp4
    muxer refuses as well (a two-frame segment failed so in one full test run). Such a stream's
    decode times are now its presentation times. A longer stream's reordering is kept, however far
    apart its frames (the next two tests)."""
    from srstream.engine.encode import plausible_dts

    with av.open(str(tmp_path / "in.mp4"), "w") as c:
        v = c.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt, v.codec_context.time_base = 64, 48, "yuv420p", Fraction(1, 25)
        frames = [av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24") for i in range(2)]
        packets = [p for f in frames for p in v.encode(f.reformat(format="yuv420p"))] + list(v.encode())
        for packet in packets:
            packet.dts = packet.pts - leftover  # what x265 gives
        with pytest.raises(av.error.FFmpegError):
            c.mux(packets[0])
        fixed = plausible_dts(packets, short=True)
        assert [p.dts for p in fixed] == [p.pts for p in fixed] == [0, 1]
        for packet in fixed:
            c.mux(packet)
    with av.open(str(tmp_path / "in.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 2
    reordered = av.Packet(b"\0")
    reordered.pts, reordered.dts = 90_000, 1  # a B-frame after a stall of many frames
    assert plausible_dts([reordered])[0].dts == 1
    reordered.dts = 90_001
    assert plausible_dts([reordered])[0].dts == 90_000  # never decoded after it is shown


def test_a_pause_in_a_variable_rate_video_keeps_its_b_frames_in_decode_order(tmp_path: Path,
                                                                             upscaler: FrameUpscaler) -> None:
    """A video that pauses for 3 s (a phone's or a screen recorder's variable rate) failed with
    "Invalid argument": x264 decodes the frames coded across the pause long before they are shown,
    and a bound of 16 frames at the average rate rewrote those decode times out of order."""
    times = [i * 33 for i in range(10)] + [3000 + i * 33 for i in range(10)]
    src = write_video(tmp_path / "paused.mp4", frames=len(times), times_ms=times)
    upscale_video(src, tmp_path / "out.mp4", upscaler, EncodeOptions())
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert [round(f.pts * f.time_base * 1000) for f in c.decode(video=0)] == times


def test_a_variable_rate_concat_list_encodes_with_b_frames(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A concat list of frames at their own times (what a video upscaled into numbered frames
    writes beside them) has its clock as its average rate (1/16000 s here): x264's B-frames then
    decode hundreds of ticks before they are shown, which the old 16-frame bound rewrote into
    decode times out of order ("Invalid argument" from the .mp4 muxer)."""
    import cv2

    times = [0, 33, 50, 117, 133, 300, 317, 350]
    lines = ["ffconcat version 1.0"]
    yy, xx = np.mgrid[0:48, 0:64]
    for n, ms in enumerate(times):  # a slowly moving gradient: x264 codes B-frames
        picture = np.stack([(xx * 4 + n * 8) % 256, (yy * 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"{n}.png"), picture)
        end = times[n + 1] if n + 1 < len(times) else ms + 33
        lines += [f"file '{n}.png'", "option framerate 16000", f"duration {(end - ms) / 1000:.6f}"]
    (tmp_path / "frames.ffconcat").write_text("\n".join(lines) + "\n")
    report = upscale_video(tmp_path / "frames.ffconcat", tmp_path / "out.mp4", upscaler, EncodeOptions())
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert [round(f.pts * f.time_base * 1000) for f in c.decode(video=0)] == times == times[:report.frames_out]


@pytest.mark.parametrize(("suffix", "codec"), [(".y4m", None), (".mpg", "mpeg2video")])
def test_a_variable_rate_input_keeps_every_frame_where_the_output_has_a_frame_a_tick(
        tmp_path: Path, upscaler: FrameUpscaler, suffix: str, codec: str | None) -> None:
    """MPEG-2 and .y4m count time in frames; frames 10-15 ms apart in the input fell on one tick and
    were refused as out of order. Each takes the next free tick instead."""
    gaps = [(40, 10, 15, 80)[i % 4] for i in range(12)]
    src = write_video(tmp_path / "vfr.mkv", frames=12, times_ms=[sum(gaps[:i]) for i in range(12)])
    options = EncodeOptions(codec=codec) if codec else video_mod.EncodeOptions(codec=default_codec(suffix))
    report = upscale_video(src, tmp_path / f"out{suffix}", upscaler, options)
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        assert sum(1 for _ in c.decode(video=0)) == report.frames_out == 12


def test_a_data_stream_left_behind_is_named(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A data stream (a GoPro's GPMF telemetry, a broadcast's data) was dropped without a word; a
    .mov's timecode track, which the output keeps as the video's timecode tag, is not named."""
    from fractions import Fraction

    src = tmp_path / "data.ts"
    with av.open(str(src), "w") as c:
        video = c.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        data = c.add_data_stream()
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            c.mux(video.encode(frame))
            packet = av.Packet(b"telemetry %d" % i)
            packet.stream, packet.pts, packet.dts, packet.time_base = data, i * 3600, i * 3600, Fraction(1, 90000)
            c.mux(packet)
        c.mux(video.encode(None))
    report = upscale_video(src, tmp_path / "out.mkv", upscaler, FAST)
    assert report.frames_out == 5
    assert any(n.startswith("stream #1 (data: bin_data) is not kept") for n in report.notes), report.notes
    timed = write_video(tmp_path / "tc.mp4", frames=3)
    with av.open(str(timed)) as inp, av.open(str(tmp_path / "tc.mov"), "w") as out:
        out.metadata["timecode"] = "01:00:00:00"  # the .mov muxer writes a timecode track for it
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    with av.open(str(tmp_path / "tc.mov")) as c:
        assert c.streams.data  # the timecode track
    report = upscale_video(tmp_path / "tc.mov", tmp_path / "tc_out.mov", upscaler, FAST)
    assert not any("is not kept" in n for n in report.notes), report.notes


def test_the_video_stream_is_the_one_ffmpeg_takes_never_a_cover_picture(tmp_path: Path,
                                                                          upscaler: FrameUpscaler) -> None:
    """A one-picture stream stored before the video (a thumbnail) was taken for the video, and an
    .mp3's album art made a one-frame video: the video is the stream FFmpeg's command line takes,
    the other is named in a note, and a file with only a cover picture is refused with what to do."""
    src = tmp_path / "thumb_first.mkv"
    with av.open(str(src), "w") as c:
        thumb = c.add_stream("mjpeg", rate=1)
        thumb.width, thumb.height, thumb.pix_fmt = 32, 32, "yuvj420p"
        video = c.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
        picture = picture.reformat(format="yuvj420p")
        picture.pts = 0
        c.mux([*thumb.encode(picture), *thumb.encode(None)])
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * i, np.uint8), format="rgb24")
            frame.pts = i
            c.mux(video.encode(frame))
        c.mux(video.encode())
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    assert report.frames_out == 6 and _frames(tmp_path / "out.mp4")[1] == (128, 96)
    assert "stream #0 (mjpeg, video) is not kept: sr-stream upscales one video stream, #1" in report.notes
    song = tmp_path / "song.mp3"
    with av.open(str(song), "w") as c:
        sound = c.add_stream("libmp3lame", rate=44100)
        sound.layout = "mono"
        art = c.add_stream("mjpeg", rate=1)
        art.width, art.height, art.pix_fmt = 32, 32, "yuvj420p"
        art.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
        picture = picture.reformat(format="yuvj420p")
        picture.pts = 0
        c.mux([*art.encode(picture), *art.encode(None)])
        tone = av.AudioFrame.from_ndarray(np.zeros((1, 44100), np.float32), format="fltp", layout="mono")
        tone.sample_rate, tone.pts = 44100, 0
        c.mux([*sound.encode(tone), *sound.encode(None)])
    with pytest.raises(InputError, match="has no video stream, only a cover picture; to upscale the picture"):
        upscale_video(song, tmp_path / "song.mp4", upscaler, FAST)
    assert not (tmp_path / "song.mp4").exists()


def test_svt_av1_says_only_what_went_wrong(tmp_path: Path) -> None:
    """SVT-AV1 printed its version and configuration, about 20 lines, for the rehearsal and again for
    the run; it now prints errors only, unless SVT_LOG asks for more."""
    import os
    import subprocess
    import sys

    try:
        av.codec.Codec("libsvtav1", "w")
    except Exception:  # noqa: BLE001 - not in this FFmpeg build
        pytest.skip("no libsvtav1 in this FFmpeg build")
    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    src = write_video(tmp_path / "in.mp4", frames=4, size=(160, 120))
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    command = [sys.executable, "-m", "srstream", str(src), "--model", str(net), "--codec", "libsvtav1"]
    quiet = subprocess.run([*command, "-o", "quiet.mkv"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env=env)
    assert quiet.returncode == 0 and "Svt[info]" not in quiet.stderr, quiet.stderr
    told = subprocess.run([*command, "-o", "told.mkv"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**env, "SVT_LOG": "3"})
    assert told.returncode == 0 and "Svt[info]" in told.stderr, told.stderr
    assert len(_frames(tmp_path / "quiet.mkv")[0]) == 4


def _write_interlaced(path: Path, frames: int = 10) -> Path:
    """An interlaced H.264 clip whose two fields show a patch at different places (combing)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"flags": "+ildct+ilme", "x264-params": "tff=1"}
        yy, xx = np.mgrid[0:48, 0:64]
        for i in range(frames):  # each field a moment of a disc moving 3 pixels a field
            rgb = np.zeros((48, 64, 3), np.uint8)
            for field in (0, 1):
                disc = (xx - 12 - 3 * (2 * i + field)) ** 2 + (yy - 24) ** 2 < 100
                rgb[field::2][disc[field::2]] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _film(frames: int = 40) -> list[np.ndarray]:
    """Film frames (24 fps): a disc moving 4 pixels a frame over a gradient."""
    yy, xx = np.mgrid[0:48, 0:64]
    out = []
    for i in range(frames):
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[..., 2] = (xx * 3).astype(np.uint8)
        rgb[(xx - 8 - 4 * i % 48) ** 2 + (yy - 24) ** 2 < 80] = 255
        out.append(rgb)
    return out


def _write_telecined(path: Path, film: list[np.ndarray], gop: int = 250,
                     each: Callable[[av.Packet], av.Packet] = lambda packet: packet) -> Path:
    """``film`` (24 fps) hard-telecined to 30 fps by FFmpeg's telecine filter (3:2 pulldown: two
    of every five frames woven from two film frames), losslessly encoded as interlaced H.264 with a
    keyframe every ``gop`` frames: a DVD or broadcast of a film or an anime. ``each``: what each
    packet (one picture, in display order: no B-frames) is muxed as."""
    import av.filter

    graph = av.filter.Graph()
    source = graph.add("buffer", "video_size=64x48:pix_fmt=yuv420p:time_base=1/24:frame_rate=24/1:pixel_aspect=1/1")
    telecine, sink = graph.add("telecine", "first_field=top:pattern=23"), graph.add("buffersink")
    source.link_to(telecine)
    telecine.link_to(sink)
    graph.configure()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"qp": "0", "preset": "ultrafast", "flags": "+ildct+ilme", "x264-params": "tff=1",
                          "g": str(gop), "keyint_min": str(gop)}
        count = 0
        for i, rgb in enumerate([*film, None]):
            if rgb is None:
                source.push(None)
            else:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts, frame.time_base = i, Fraction(1, 24)
                source.push(frame)
            for woven in video_mod._drain(sink):
                woven.pts, woven.time_base = count, Fraction(1, 30)
                count += 1
                for packet in stream.encode(woven):
                    out.mux(each(packet))
        for packet in stream.encode(None):
            out.mux(each(packet))
    return path


def test_telecined_film_is_rebuilt_into_its_own_frames(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A telecined DVD (film or anime at 24 fps carried as 30 interlaced) was deinterlaced frame by
    frame: two of every five frames were interpolated from one field, softer and shimmering, and
    the film's judder kept. Its fields now go back together into the film's frames (fieldmatch,
    decimate): 40 frames out of 50, each the film frame it came from, at the film's times. Video
    that is truly interlaced still gets bwdif."""
    film = _film()
    src = _write_telecined(tmp_path / "dvd.mp4", film)
    assert video_mod.telecined(src, 0) == "tff"
    assert video_mod.telecined(_write_interlaced(tmp_path / "tv.mp4", 30), 0) is None
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, FAST)
    assert any("telecined film" in n for n in report.notes) and not report.ended_early
    assert report.frames_decoded == 50 and report.frames_in == report.frames_out == 40
    pts, _, time_base, _, _ = _frames(tmp_path / "out.mp4")
    assert np.allclose(np.diff(pts) * float(time_base), 1 / 24, atol=0.002)
    with av.open(str(src)) as container:  # what the upscaler gets: the film's frames again
        stream = container.streams.video[0]
        rebuilt = video_mod.InverseTelecine(stream, "tff")
        frames = [f for frame in container.decode(stream) for f in rebuilt.push(frame)] + rebuilt.flush()
        container.seek(0)
        bwdif = video_mod.Deinterlacer(stream)
        smooth = [f for frame in container.decode(stream) for f in bwdif.push(frame)] + bwdif.flush()
    truth = [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p").to_ndarray()[:48] for f in film]
    lumas = [f.to_ndarray()[:48] for f in frames]
    assert len(lumas) == 40 and all(np.array_equal(a, b) for a, b in zip(lumas, truth))  # every film frame, exactly

    def error(outs: list) -> float:  # each frame against the film frame nearest to it
        return float(np.mean([min(np.abs(f.to_ndarray()[:48].astype(int) - t).mean() for t in truth) for f in outs]))

    assert error(smooth) > 1.0 > error(frames) == 0.0


def _combing(frames: list) -> float:
    """How much every other line departs from the mean of its neighbours, over decoded frames."""
    grey = [f.to_ndarray(format="gray").astype(float) for f in frames]
    return float(np.mean([np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean() for g in grey]))


def test_an_interlaced_video_is_deinterlaced_frame_for_frame(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """Interlaced input (DVD, TV captures) was upscaled field lines and all, its combing enlarged,
    with a note telling the user to deinterlace first. Now ``auto`` deinterlaces it (bwdif),
    one frame out for each frame in, at the same times."""
    src = _write_interlaced(tmp_path / "tv.mp4")
    report = upscale_video(src, tmp_path / "auto.mp4", upscaler, FAST)
    kept = upscale_video(src, tmp_path / "off.mp4", upscaler, FAST, deinterlace="off")
    assert report.frames_in == report.frames_out == kept.frames_out == 10
    assert any("deinterlaced" in n for n in report.notes) and any("--deinterlace off" in n for n in kept.notes)
    assert _frames(tmp_path / "auto.mp4")[0] == _frames(tmp_path / "off.mp4")[0] == _frames(src)[0]  # the same times
    with av.open(str(src)) as container:  # what the upscaler gets: the fields woven, or deinterlaced
        deinterlacer = video_mod.Deinterlacer(container.streams.video[0])
        woven = list(container.decode(video=0))
        smooth = [f for frame in woven for f in deinterlacer.push(frame)] + deinterlacer.flush()
    assert [f.pts for f in smooth] == [f.pts for f in woven] and len(smooth) == 10
    assert _combing(smooth) < 0.5 * _combing(woven)
    progressive = write_video(tmp_path / "p.mp4", frames=4)
    assert not any("interlaced" in n for n in upscale_video(progressive, tmp_path / "p2.mp4", upscaler, FAST).notes)


def test_double_makes_a_frame_of_each_field_at_twice_the_rate(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """Video shot interlaced (sport, news: 50i/60i) moves a field at a time, 50 or 60 times a second;
    deinterlaced a frame for each frame, half of that motion was lost. ``double`` makes a frame of
    each field, at twice the rate, each showing its field's moment; telecined film is still rebuilt
    into its own frames, and a time base of a tick a frame (no time between frames) keeps one."""
    src = _write_interlaced(tmp_path / "tv.mp4")
    shown: list[int] = []  # a run's progress, in the input's frames (its bar's total): it went on to 200%
    report = upscale_video(src, tmp_path / "double.mp4", upscaler, FAST, deinterlace="double", progress=shown.append)
    assert report.frames_decoded == 10 and report.frames_in == report.frames_out == 20 and not report.ended_early
    assert sum(shown) == 10
    assert any("a frame made of each field" in n for n in report.notes)
    pts, _, time_base, _, _ = _frames(tmp_path / "double.mp4")
    assert np.allclose(np.diff(pts) * float(time_base), 1 / 50, atol=0.001)
    with av.open(str(tmp_path / "double.mp4")) as container:
        assert container.streams.video[0].average_rate == 50
    with av.open(str(src)) as container:  # each field's moment once: the disc 3 pixels further each field
        fields = video_mod.Deinterlacer(container.streams.video[0], fields=True)
        frames = [f for frame in container.decode(video=0) for f in fields.push(frame)] + fields.flush()
    # each pair in the order its frame is flagged (this libx264 flags them bottom field first, FFmpeg's
    # showinfo says, where the fixture drew the top field first); the first 12, while the disc is whole
    centres = [np.nonzero(f.to_ndarray(format="gray")[8:40] > 128)[1].mean() for f in frames[:12]]
    assert len(frames) == 20 and np.allclose(sorted(centres), 12 + 3 * np.arange(12), atol=0.75)
    assert np.allclose(np.abs(np.diff(centres)), [3, 9] * 5 + [3], atol=0.75)  # two moments a frame, in pairs
    shown.clear()
    film = upscale_video(_write_telecined(tmp_path / "dvd.mp4", _film()), tmp_path / "film.mp4", upscaler, FAST,
                         deinterlace="double", progress=shown.append)
    assert film.frames_out == 40 and any("telecined film" in n for n in film.notes)
    assert sum(shown) == 50  # (it stopped at 80%)

    class Ticks:  # a .y4m's stream: a frame a tick
        average_rate, guessed_rate, time_base = Fraction(25), None, Fraction(1, 25)

    assert not video_mod.fields_fit(Ticks()) and video_mod.fields_fit(av.open(str(src)).streams.video[0])


def test_telecined_film_in_segments_is_the_film_of_one_pass(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """A telecined video ran in one pass only, so a long DVD film lost all its work to a crash: a
    segment's own start shifted the five-frame cycle (frames lost or doubled). Each segment now
    starts the rebuild a whole five before its own five, counted from the file's first frame, and
    drops what belongs to the segment before: cut at keyframes 7 frames apart (never on a five),
    the segments give the same 40 film frames, pixel for pixel and tick for tick, as one pass."""
    src = _write_telecined(tmp_path / "dvd.mp4", _film(), gop=7)
    with av.open(str(src)) as container:
        keyframes = [p.pts for p in container.demux(video=0) if p.size and p.is_keyframe]
    assert len(keyframes) >= 7
    lossless = EncodeOptions(preset="ultrafast", crf=0)
    whole = upscale_video(src, tmp_path / "whole.mp4", upscaler, lossless)
    assert whole.frames_out == 40

    def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
        with av.open(str(path)) as container:
            return [(f.pts, f.to_ndarray(format="gray")) for f in container.decode(video=0)]

    expected = decoded(tmp_path / "whole.mp4")
    cuts = [None, *keyframes[1:-1:2], None]  # two keyframe intervals (14 frames) each, cut at frames 7, 21, 35
    pieces = []
    for n, span in enumerate(zip(cuts, cuts[1:])):
        report = upscale_video(src, tmp_path / f"seg{n}.mp4", upscaler, lossless, span=span)
        assert not report.ended_early
        pieces += decoded(tmp_path / f"seg{n}.mp4")
    assert len(pieces) == len(expected) == 40
    # tick for tick, but for MP4's edit list, which gives a file's start in milliseconds (10880 ticks of
    # 1/15360 s, 708.3 ms, come back as 10875)
    assert all(abs(t - u) <= 15360 // 1000 for (t, _), (u, _) in zip(pieces, expected))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(pieces, expected))


def test_a_telecined_video_runs_as_a_resumable_job(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    """The job of segments (what a long video runs as, resumable after a crash) was refused for
    telecined film and ran in one pass; it now runs, and its joined film is the one pass's."""
    from srstream import Upscaler

    src = _write_telecined(tmp_path / "dvd.mp4", _film(), gop=7)
    with Upscaler(tmp_path / "net.onnx", backend="ort", precision="fp32") as up:
        one = up.upscale_file(src, tmp_path / "one.mp4", crf=0, preset="ultrafast", segments="off")
        job = up.upscale_file(src, tmp_path / "job.mp4", crf=0, preset="ultrafast", segments=10)
    assert one.video.frames_out == 40 and any("telecined film" in n for n in one.video.notes)
    assert job.segments is not None and job.segments.segments >= 3, job
    assert job.segments.frames_out == 40 and not job.segments.ended_early

    def decoded(path: Path) -> list[tuple[float, np.ndarray]]:
        with av.open(str(path)) as container:
            return [(float(f.pts * f.time_base), f.to_ndarray(format="gray")) for f in container.decode(video=0)]

    pairs = list(zip(decoded(tmp_path / "job.mp4"), decoded(tmp_path / "one.mp4")))
    assert len(pairs) == 40 and all(abs(t - u) <= 0.001 and np.array_equal(a, b) for (t, a), (u, b) in pairs)
