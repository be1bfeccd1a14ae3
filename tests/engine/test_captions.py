"""Closed captions in the video's pictures (CEA-608 in ATSC A/53 SEI, as a US broadcast recording
carries them) come out as a subtitle stream with each line at its time: in one pass, in a job's
segments, in a preview, through the deinterlacer. Inputs are generated here with PyAV; the model
is an ONNX nearest-neighbour x2."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import emulation_prevented, upscale_cli
from tests.onnx_models import nearest_x2_spec, write_nearest_x2

RATE = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def nearest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nearest_x2(tmp_path_factory.mktemp("model") / "nearest.onnx", nearest_x2_spec())


def _pair(a: int, b: int) -> bytes:
    """A CEA-608 byte pair, each byte with its odd parity bit."""
    return bytes(x | (0x80 if bin(x).count("1") % 2 == 0 else 0) for x in (a, b))


def _text(line: str) -> list[bytes]:
    line += "\0" * (len(line) % 2)
    return [_pair(ord(line[i]), ord(line[i + 1])) for i in range(0, len(line), 2)]


def _command(hi: int, lo: int) -> list[bytes]:
    return [_pair(hi, lo)] * 2  # control codes are sent twice


#: Pop-on captions: load (RCL), write, show at the end-of-caption code (EOC), erase (EDM).
_RCL, _EOC, _EDM = (0x14, 0x20), (0x14, 0x2F), (0x14, 0x2C)
#: (frame, text or None: erase): what each caption's codes do, and from which frame on screen
LINES = [(2, "HELLO WORLD"), (40, None), (50, "SECOND LINE")]


def _schedule(frames: int, lines: list = LINES) -> list[bytes]:
    """A byte pair for each frame (field 1): HELLO WORLD on screen from frame 10 to 40, SECOND LINE
    from 58 on (still on screen when a video of 90 frames ends); or ``lines``."""
    pairs = [_pair(0, 0)] * frames
    for at, line in lines:
        codes = _command(*_EDM) if line is None else _command(*_RCL) + _text(line) + _command(*_EOC)
        pairs[at:at + len(codes)] = codes
    return pairs


def _sei(pair: bytes) -> bytes:
    """An H.264 SEI NAL unit with one A/53 cc_data triple (field 1, valid)."""
    payload = bytes([0xB5, 0x00, 0x31]) + b"GA94" + bytes([0x03, 0x40 | 1, 0xFF, 0xFC]) + pair + b"\xff"
    return b"\0\0\0\1" + emulation_prevented(bytes([0x06, 4, len(payload)]) + payload + b"\x80")


def _with_sei(packet: av.Packet, sei: bytes) -> av.Packet:
    data = bytes(packet)
    at = next(i for i in range(len(data) - 3) if data[i:i + 3] == b"\0\0\1" and data[i + 3] & 0x1F in (1, 5))
    at -= 1 if at and data[at - 1] == 0 else 0
    out = av.Packet(data[:at] + sei + data[at:])
    out.pts, out.dts, out.time_base, out.stream, out.is_keyframe = (packet.pts, packet.dts, packet.time_base,
                                                                    packet.stream, packet.is_keyframe)
    return out


def _captioned_ts(path: Path, frames: int = 90, gop: int = 15, interlaced: bool = False, first: int = 0,
                  lines: list = LINES) -> Path:
    """An MPEG-TS recording, H.264 at 29.97 fps with a keyframe every ``gop`` and no B-frames (each
    packet is one picture, in display order), whose pictures from the ``first`` on carry
    :func:`_schedule`'s captions of ``lines`` (those before carry none)."""
    pairs = _schedule(frames, lines)
    with av.open(str(path), "w", format="mpegts") as c:
        v = c.add_stream("libx264", rate=RATE)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.options = {"g": str(gop), "bf": "0", "preset": "ultrafast", **({"flags": "+ildct+ilme"} if interlaced else {})}
        yy, xx = np.mgrid[0:48, 0:64]
        sent = 0
        for i in range(frames):
            rgb = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                c.mux(_with_sei(p, _sei(pairs[sent])) if sent >= first else p)
                sent += 1
        for p in v.encode():
            c.mux(_with_sei(p, _sei(pairs[sent])))
            sent += 1
    return path


def _lines(path: Path) -> list[tuple[str, float, float]]:
    """(text, start, end) of each line of ``path``'s subtitle stream, in seconds from the video's start."""
    with av.open(str(path)) as c:
        sub = c.streams.subtitles[0]
        video = c.streams.video[0]
        origin = (video.start_time or 0) * video.time_base
        out = []
        for packet in c.demux(sub):
            if packet.pts is None or not packet.size:
                continue
            text = b"".join(rect.ass for rect in sub.decode(packet)).decode()  # ASS dialogue: 8 fields, then text
            start = packet.pts * packet.time_base - origin
            if text:  # not the empty samples an .mp4 fills the gaps with
                out.append((text.split(",", 8)[-1].split("}")[-1].strip(), round(float(start), 3),
                            round(float(start + packet.duration * packet.time_base), 3)))
    return out


def _at(frame: int) -> float:
    return round(float(frame / RATE), 3)


#: The lines of a whole :func:`_captioned_ts` of 90 frames: each from its EOC to its erase (the
#: second erased by the video's end).
WHOLE = [("HELLO WORLD", _at(10), _at(40)), ("SECOND LINE", _at(58), _at(90))]


@pytest.fixture(scope="module")
def captioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _captioned_ts(tmp_path_factory.mktemp("cc") / "recording.ts")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_closed_captions_become_a_subtitle_stream_with_each_line_at_its_time(
        tmp_path: Path, nearest: Path, captioned: Path, capsys: pytest.CaptureFixture[str], suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    code, said = upscale_cli(captioned, out, nearest, capsys, "--segments", "off")
    assert code == 0, said
    assert "closed captions (CEA-608, in the video) as a subtitle stream" in said
    assert _lines(out) == WHOLE
    with av.open(str(out)) as c:
        assert c.streams.subtitles[0].disposition & av.stream.Disposition.hearing_impaired


def test_a_jobs_segments_keep_the_captions_as_one_pass_does(tmp_path: Path, nearest: Path, captioned: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "job.mkv"
    code, said = upscale_cli(captioned, out, nearest, capsys, "--segments", "30")
    assert code == 0, said
    assert "3 segments" in said and "closed captions" in said
    assert _lines(out) == WHOLE


@pytest.mark.parametrize("segments", ["off", "30"])
def test_captions_that_begin_after_the_first_picture_are_kept(tmp_path: Path, nearest: Path, segments: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A recording that begins before its captions do (an advert, a channel's ident) kept none: only
    its first picture was looked at, and a note said they were lost (a job said nothing). The first
    seconds' packets are looked at too; the first line's codes went by before the captions began."""
    src = _captioned_ts(tmp_path / "late.ts", first=20)
    out = tmp_path / "out.mkv"
    code, said = upscale_cli(src, out, nearest, capsys, "--segments", segments)
    assert code == 0, said
    assert "closed captions (CEA-608, in the video) as a subtitle stream" in said and "not kept" not in said
    assert _lines(out) == WHOLE[1:]


@pytest.mark.parametrize("segments", ["off", "300"])
def test_captions_that_begin_minutes_into_a_recording_are_kept(tmp_path: Path, nearest: Path, segments: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A recorder's padding before a programme (adverts, the channel's ident) runs minutes without
    captions: only the first 20 seconds were looked at, and the captions after them were lost (with a
    note). Places spread over the rest are looked at too."""
    src = _captioned_ts(tmp_path / "padded.ts", frames=1200, gop=60, first=900,
                        lines=[(910, "PROGRAMME"), (1000, None)])
    out = tmp_path / "out.mkv"
    code, said = upscale_cli(src, out, nearest, capsys, "--segments", segments)
    assert code == 0, said
    assert "closed captions (CEA-608, in the video) as a subtitle stream" in said and "not kept" not in said
    assert [text for text, _, _ in _lines(out)] == ["PROGRAMME"]
    assert _lines(out)[0][1:] == pytest.approx((_at(917), _at(1000)), abs=0.002)


def test_a_preview_ends_the_line_on_screen_with_its_last_frame(tmp_path: Path, nearest: Path, captioned: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "preview.mp4"
    code, said = upscale_cli(captioned, out, nearest, capsys, "--frames", "30")
    assert code == 0, said
    assert _lines(out) == [("HELLO WORLD", _at(10), _at(30))]


def test_captions_pass_through_the_deinterlacer_whole(tmp_path: Path, nearest: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = _captioned_ts(tmp_path / "interlaced.ts", interlaced=True)
    out = tmp_path / "out.mkv"
    code, said = upscale_cli(src, out, nearest, capsys, "--deinterlace", "on", "--segments", "off")
    assert code == 0, said
    assert _lines(out) == WHOLE


def test_telecined_film_keeps_every_letter_of_its_captions(tmp_path: Path, nearest: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Inverse telecine drops one picture in five (the repeated fields), which carries two letters of
    the captions: they are read from the pictures as decoded, before that."""
    from tests.engine.test_video import _film, _write_telecined

    pairs = _schedule(50)
    sent = iter(range(50))
    src = _write_telecined(tmp_path / "dvd.ts", _film(), each=lambda p: _with_sei(p, _sei(pairs[next(sent)])))
    out = tmp_path / "film.mkv"
    code, said = upscale_cli(src, out, nearest, capsys, "--segments", "off")
    assert code == 0, said
    assert "telecined film" in said and "40 frames (50 decoded)" in said
    assert _lines(out) == [("HELLO WORLD", round(10 / 30, 3), round(40 / 30, 3))]


def test_a_format_without_text_subtitles_says_the_captions_are_not_kept(
        tmp_path: Path, nearest: Path, captioned: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.ts"
    code, said = upscale_cli(captioned, out, nearest, capsys)
    assert code == 0, said
    assert "closed captions are not kept: a .ts file holds no text subtitles" in said
    code, said = upscale_cli(captioned, tmp_path / "none.mp4", nearest, capsys, "--no-subtitles")
    assert code == 0 and "captions" not in said, said
    with av.open(str(tmp_path / "none.mp4")) as c:
        assert not c.streams.subtitles


def test_lines_whose_times_go_back_are_left_out_not_fatal() -> None:
    """A damaged recording's times can jump back; a caption line timed before the one written last
    would have the muxer refuse the file: it is counted as undecodable and left out."""
    import io

    from srstream.engine.captions import CaptionData, Captions

    with av.open(io.BytesIO(), "w", format="matroska") as out:
        captions = Captions(out, "ass", Fraction(1, 90000))
        packets = []
        for i, pair in enumerate(_schedule(90)):
            pts = (i if i < 45 else i - 50) * 3003  # back 50 frames from the 45th on
            packets += captions.packets(CaptionData(b"\xfc" + pair, pts))
        packets += captions.packets(None, Fraction(45, 30))
        assert [bytes(p).decode().rsplit("}", 1)[-1] for p in packets] == ["HELLO WORLD"]
        assert captions.bad == 1 and packets[0].pts == round(10 * 3003 / 90)  # ms
