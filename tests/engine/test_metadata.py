"""What changes how an output plays or is labelled survives the upscale: tags, dispositions,
chapters, attachments, subtitles, bit depth and HDR colour tags, the display rotation, the pixel
aspect ratio. Inputs are generated here with PyAV; the model is an ONNX nearest-neighbour x2."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from srstream.engine.av_errors import side_data, stream_side_data
from tests.conftest import emulation_prevented, remux_video, upscale_cli
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


@pytest.fixture(scope="module")
def nearest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nearest_x2(tmp_path_factory.mktemp("model") / "nearest.onnx", nearest_x2_spec())


def _labelled_mkv(path: Path) -> Path:
    """Tags, dispositions, audio, subtitles, chapters and a font attachment, as a film's MKV has."""
    with av.open(str(path), "w") as c:
        c.metadata["title"] = "A film"
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.metadata["language"] = "fra"
        a = c.add_stream("aac", rate=44100)
        a.metadata["language"] = "ger"
        s = c.add_mux_stream("subrip")
        s.time_base = Fraction(1, 1000)
        s.metadata["language"] = "eng"
        s.metadata["title"] = "Forced English"
        s.disposition = av.stream.Disposition.forced
        c.set_chapters([{"id": 1, "start": 0, "end": 100, "time_base": Fraction(1, 1000), "metadata": {"title": "Opening"}},
                        {"id": 2, "start": 100, "end": 200, "time_base": Fraction(1, 1000), "metadata": {"title": "End"}}])
        c.add_attachment("font.ttf", "application/x-truetype-font", b"\x00\x01\x00\x00 a font")
        for i in range(5):
            img = np.full((48, 64, 3), 40 * i, np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
        sound.sample_rate = 44100
        for p in a.encode(sound):
            c.mux(p)
        for p in a.encode():
            c.mux(p)
        line = av.Packet(b"Bonjour")
        line.stream, line.pts, line.dts, line.duration, line.time_base = s, 0, 0, 80, Fraction(1, 1000)
        c.mux(line)
        for p in v.encode():
            c.mux(p)
    return path


def test_tags_chapters_attachments_and_subtitles_are_kept(tmp_path: Path, nearest: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = _labelled_mkv(tmp_path / "film.mkv")
    code, text = upscale_cli(src, tmp_path / "out.mkv", nearest, capsys)
    assert code == 0, text
    assert "2 chapters" in text and "attachment font.ttf" in text and "subtitle" in text
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.metadata.get("title") == "A film"
        kinds = {s.type: s for s in c.streams}
        assert kinds["video"].metadata.get("language") == "fra" and kinds["video"].codec_context.width == 128
        assert kinds["audio"].metadata.get("language") == "ger"
        assert kinds["subtitle"].metadata.get("language") == "eng"
        assert kinds["subtitle"].metadata.get("title") == "Forced English"
        assert kinds["subtitle"].disposition & av.stream.Disposition.forced
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Opening", "End"]
        att = kinds["attachment"]
        assert att.metadata.get("filename") == "font.ttf" and bytes(att.data) == b"\x00\x01\x00\x00 a font"
        lines = [bytes(p) for p in c.demux(kinds["subtitle"]) if p.size]
        assert lines == [b"Bonjour"]


def test_every_tracks_language_is_kept_in_a_mov(tmp_path: Path, nearest: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """FFmpeg's MOV muxer writes a track's language only as one of about a hundred old Macintosh codes
    ("ger", not "deu", which an .mp4 and every phone writes; no "swe", "nld", "zho" at all): a German and a
    Swedish sound track came out of a .mov without their languages, said to be copied. They are written as
    the ISO codes QuickTime reads there too."""
    src = tmp_path / "film.mp4"
    languages = ["nld", "deu", "swe", "fra"]
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        sounds = [c.add_stream("aac", rate=44100) for _ in languages[1:]]
        for stream, language in zip([v, *sounds], languages, strict=True):
            stream.metadata["language"] = language
        for i in range(5):
            for p in v.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")):
                c.mux(p)
        for a in sounds:
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
            sound.sample_rate = 44100
            for p in [*a.encode(sound), *a.encode()]:
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    for name in ("out.mov", "out.mp4"):
        code, text = upscale_cli(src, tmp_path / name, nearest, capsys)
        assert code == 0, text
        with av.open(str(tmp_path / name)) as c:
            assert [s.metadata.get("language") for s in c.streams] == languages, name
            assert sum(1 for p in c.demux(c.streams.audio[2]) if p.size) > 3
    # FFmpeg's .avi muxer writes no language at all: said, not lost without a word
    code, text = upscale_cli(src, tmp_path / "out.avi", nearest, capsys)
    assert code == 0 and "the languages of its sound and subtitles (deu, swe, fra) not kept: a .avi file" in text, text


def test_tags_that_are_not_utf_8_are_read_not_a_traceback(tmp_path: Path, nearest: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A title in Latin-1, as old Windows taggers wrote them: PyAV reads tags strictly as UTF-8 and raised
    UnicodeDecodeError on opening the file, so the run ended in a traceback before any work. The tag is read
    with U+FFFD for the byte that is not UTF-8, and the film upscaled with its sound."""
    src = tmp_path / "old.mp4"
    with av.open(str(src), "w") as c:
        c.metadata["title"] = "Caf\u00e9 Noir"
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=44100)
        for i in range(5):
            for p in v.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")):
                c.mux(p)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
        sound.sample_rate = 44100
        for p in [*a.encode(sound), *a.encode(), *v.encode()]:
            c.mux(p)
    data = src.read_bytes()
    assert data.count("Caf\u00e9".encode()) == 1
    src.write_bytes(data.replace("Caf\u00e9 ".encode(), b"Caf\xe9  "))  # Latin-1, as long
    code, text = upscale_cli(src, tmp_path / "out.mp4", nearest, capsys)
    assert code == 0 and "Traceback" not in text, text
    with av.open(str(tmp_path / "out.mp4"), metadata_errors="replace") as c:
        assert c.metadata.get("title") == "Caf\ufffd  Noir" and len(c.streams.audio) == 1
        assert sum(1 for _ in c.decode(video=0)) == 5


def test_a_phones_quicktime_tags_are_kept(tmp_path: Path, nearest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An iPhone's make, model, local capture time and place are QuickTime metadata keys
    (``com.apple.quicktime.*``), which FFmpeg's MOV/MP4 muxer dropped without a word."""
    tags = {"com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 15",
            "com.apple.quicktime.creationdate": "2025-06-01T12:00:00+0200",
            "com.apple.quicktime.location.ISO6709": "+48.8577+002.2950+035.000/", "title": "Trip"}
    src = tmp_path / "IMG_0001.MOV"
    with av.open(str(src), "w", format="mov", options={"movflags": "use_metadata_tags"}) as c:
        c.metadata.update(tags)
        v = c.add_stream("libx264", rate=Fraction(10))
        v.width, v.height, v.pix_fmt = 32, 32, "yuv420p"
        for p in [*v.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")), *v.encode()]:
            c.mux(p)
    for name in ("out.mov", "out.mp4"):
        code, text = upscale_cli(src, tmp_path / name, nearest, capsys)
        assert code == 0, text
        with av.open(str(tmp_path / name)) as c:
            assert {key: c.metadata.get(key) for key in tags} == tags, name
    code, text = upscale_cli(src, tmp_path / "out.avi", nearest, capsys)
    assert code == 0 and "4 QuickTime tags (com.apple.quicktime.make, com.apple.quicktime.model, ...) not kept" in text


def test_what_the_container_cannot_hold_is_said_not_lost_silently(tmp_path: Path, nearest: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = _labelled_mkv(tmp_path / "film.mkv")
    code, text = upscale_cli(src, tmp_path / "out.avi", nearest, capsys)  # no subtitle goes into AVI
    assert code == 4 and "--no-subtitles" in text and not (tmp_path / "out.avi").exists()
    for name in ("out.ts", "out.m2ts"):  # a transport stream names no text subtitles: a .ts held them as data,
        code, text = upscale_cli(src, tmp_path / name, nearest, capsys)  # and a .m2ts refused them mid-run
        assert code == 4 and "holds srt as data that players do not show" in text and "--no-subtitles" in text, text
        assert not (tmp_path / name).exists()
    code, text = upscale_cli(src, tmp_path / "out.m4v", nearest, capsys)  # .m4v and .3gp take mov_text as .mp4 does
    assert code == 0 and "subtitle stream #2 (srt) re-encoded as mov_text (a .m4v file cannot hold srt)" in text, text
    code, text = upscale_cli(src, tmp_path / "out.mp4", nearest, capsys)  # SubRip does not go into MP4 as it is
    assert code == 0 and "attachment font.ttf not kept: only .mkv outputs hold attachments" in text, text
    assert "subtitle stream #2 (srt) re-encoded as mov_text (a .mp4 file cannot hold srt)" in text, text
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Opening", "End"]
        sub = c.streams.subtitles[0]
        assert sub.codec_context.name == "mov_text" and sub.metadata.get("language") == "eng"
        assert sub.disposition & av.stream.Disposition.forced
        events = [(p.pts * p.time_base, p.duration * p.time_base, bytes(p)[2:]) for p in c.demux(sub) if p.size > 2]
        assert events == [(0, Fraction(80, 1000), b"Bonjour")]  # mov_text: a 2-byte length, then the text
    from srstream.engine.video import default_codec

    if default_codec(".webm") == "libx264":
        return  # this FFmpeg build has no VP9/AV1 encoder: no .webm output
    code, text = upscale_cli(src, tmp_path / "out.webm", nearest, capsys)  # neither AAC nor SubRip goes into WebM
    assert code == 0 and "re-encoded as libopus" in text and "re-encoded as webvtt" in text, text
    # FFmpeg's WebM muxer drops attachments without a word (WebM holds none): the font was said to be copied
    assert "attachment font.ttf not kept: only .mkv outputs hold attachments" in text, text
    with av.open(str(tmp_path / "out.webm")) as c:
        assert not [st for st in c.streams if st.type == "attachment"]
        sub = c.streams.subtitles[0]
        assert c.streams.audio[0].codec_context.name == "opus" and sub.codec_context.name == "webvtt"
        assert [(p.pts * p.time_base, bytes(p)) for p in c.demux(sub) if p.size] == [(0, b"Bonjour")]


def test_teletext_that_cannot_be_copied_is_named_with_how_to_keep_it(tmp_path: Path, nearest: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A European broadcast's .ts carries its subtitles as DVB teletext, which PyAV's FFmpeg has no
    decoder for and so cannot copy: it was called "a codec this FFmpeg build does not know". The
    note now says what it may be and the FFmpeg command that keeps it apart; --no-subtitles says
    nothing."""
    src = tmp_path / "dvb.ts"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        teletext = c.add_mux_stream("dvb_teletext")
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
            packet = av.Packet(bytes([0x10]) + bytes(46 * 4))  # data identifier, then four empty data units
            packet.pts = packet.dts = i * 3600
            packet.time_base, packet.stream = Fraction(1, 90000), teletext
            c.mux(packet)
        c.mux(v.encode(None))
    code, text = upscale_cli(src, tmp_path / "out.mkv", nearest, capsys)
    assert code == 0 and ("stream #1 (subtitle, in a codec this FFmpeg build has no decoder for, such as DVB "
                          "teletext) is not kept; FFmpeg's command line copies it apart: ffmpeg -i INPUT -map 0:1 "
                          "-c copy subtitles.ts") in text, text
    code, text = upscale_cli(src, tmp_path / "quiet.mkv", nearest, capsys, "--no-subtitles")
    assert code == 0 and "stream #1" not in text, text


def _covered(path: Path, picture: bytes) -> Path:
    """Twenty frames of video with a JPEG cover picture (an ``attached_pic`` stream), as a music
    video or a podcast's .mp4 holds its artwork."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        cover = c.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        packet = av.Packet(picture)
        packet.stream = cover
        c.mux(packet)
        for i in range(20):
            c.mux(v.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")))
        c.mux(v.encode())
    return path


def _cover_of(path: Path) -> bytes | None:
    with av.open(str(path)) as c:
        covers = [s for s in c.streams.video if s.disposition & av.stream.Disposition.attached_pic]
        return bytes(next(p for p in c.demux(covers[0]) if p.size)) if covers else None


def test_a_cover_picture_is_kept(tmp_path: Path, nearest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A video's cover picture (an .mp4's artwork, a Matroska cover.jpg) was dropped ("stream #1
    (mjpeg, a cover picture) is not kept"). It goes into an .mp4 as its cover and into an .mkv as
    a cover.jpg attachment, the picture's bytes as they were, in one pass and in a resumable job;
    a format FFmpeg writes none into says so."""
    import cv2

    picture = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8))[1].tobytes()
    src = _covered(tmp_path / "clip.mp4", picture)
    assert _cover_of(src) == picture
    job = ("--segments", "2")
    for name, extra in (("out.mp4", ()), ("out.mkv", ()), ("job.mp4", job), ("job.mkv", job)):
        code, text = upscale_cli(src, tmp_path / name, nearest, capsys, *extra)
        assert code == 0 and "cover picture" in text.split("copied:")[1] and "not kept" not in text, (name, text)
        assert _cover_of(tmp_path / name) == picture, name
        with av.open(str(tmp_path / name)) as c:
            assert c.streams.video[0].frames in (0, 20) and len(list(c.decode(video=0))) == 20, name
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.video[1].metadata.get("filename") == "cover.jpg"
        assert c.streams.video[1].metadata.get("mimetype") == "image/jpeg"
    code, text = upscale_cli(tmp_path / "out.mkv", tmp_path / "again.mp4", nearest, capsys)  # a Matroska cover into MP4
    assert code == 0 and _cover_of(tmp_path / "again.mp4") == picture, text
    code, text = upscale_cli(src, tmp_path / "out.mov", nearest, capsys)
    assert code == 0 and "the cover picture (stream #1, mjpeg) not kept: FFmpeg writes none into a .mov" in text, text


def _ten_bit_hdr(path: Path, transfer: int = 16) -> Path:
    """A 10-bit BT.2020 PQ clip (another ``transfer``: BT.709's 1, SDR) whose luma ramp needs more
    than 256 levels."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p10le"
        v.codec_context.color_primaries, v.codec_context.color_trc, v.codec_context.colorspace = 9, transfer, 9
        v.options = {"crf": "0", "preset": "ultrafast"}
        ramp = np.tile(np.linspace(4096, 61440, 64, dtype=np.uint16), (48, 1))
        rgb = np.stack([ramp] * 3, axis=-1)
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(format="yuv420p10le", dst_colorspace="BT2020")
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def test_ten_bit_hdr_stays_ten_bit_with_its_colour_tags(tmp_path: Path, nearest: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    src = _ten_bit_hdr(tmp_path / "hdr.mkv")
    code, text = upscale_cli(src, tmp_path / "out.mkv", nearest, capsys, "--crf", "0")
    assert code == 0, text
    with av.open(str(tmp_path / "out.mkv")) as c:
        v = c.streams.video[0]
        assert v.codec_context.pix_fmt == "yuv420p10le"
        assert (v.codec_context.color_primaries, v.codec_context.color_trc, v.codec_context.colorspace) == (9, 16, 9)
        luma = np.frombuffer(next(c.decode(v)).planes[0], np.uint16)
    assert len(np.unique(luma)) > 64  # the 10-bit ramp, not 8-bit steps scaled up
    assert (np.unique(luma) % 4 != 0).any()


def _planes(path: Path) -> list[np.ndarray]:
    """The first frame's Y, U and V planes (10-bit samples as uint16)."""
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    return [np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2)[:, :p.width] for p in frame.planes]


def test_ten_bit_colours_stay_the_colours_they_were(tmp_path: Path, nearest: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A 10-bit 4:2:0 video (a phone's HDR clip, an HEVC rip) came out in other colours: green
    black, yellow orange, cyan blue (FFmpeg 8's swscale converts 4:2:0 to 16-bit RGB wrongly with
    the bilinear chroma filter the 8-bit path takes). The grey ramp above could not show it. Bars
    of saturated and mid colours, lossless in and out, upscaled by a nearest-neighbour net: every
    sample inside a bar is the input's (at their edges, chroma is interpolated)."""
    src = tmp_path / "bars.mkv"
    colours = [(0, 255, 0), (255, 255, 0), (0, 255, 255), (255, 0, 255), (200, 40, 40), (40, 40, 200),
               (128, 160, 90), (250, 250, 250)]
    rgb = np.zeros((48, 64, 3), np.uint16)
    for i, colour in enumerate(colours):
        rgb[:, 8 * i:8 * i + 8] = np.array(colour, np.uint16) * 257
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p10le"
        v.options = {"crf": "0", "preset": "ultrafast"}
        for _ in range(2):
            for p in v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(format="yuv420p10le")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    code, text = upscale_cli(src, tmp_path / "bars_x2.mkv", nearest, capsys, "--crf", "0")
    assert code == 0, text
    for plane, (before, after) in zip("YUV", zip(_planes(src), _planes(tmp_path / "bars_x2.mkv"))):
        error = np.abs(after[::2, ::2].astype(int) - before.astype(int))
        inside = error[:, [x for x in range(error.shape[1]) if 2 <= x * 64 // error.shape[1] % 8 <= 5]]
        # of 1023 levels; inside a bar within 10 (the chroma filter's overshoot, clipped in RGB: 7 on
        # the luma of the saturated bars), where the wrong conversion missed by up to 516
        assert inside.max() <= 10 and error.mean() < 3, (plane, inside.max(), error.mean())


#: An HDR10 grade's metadata as x265 takes it: a P3 mastering display (R, G, B, white), 1000 to
#: 0.0001 cd/m²; MaxCLL 1000, MaxFALL 400.
_MASTERING = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"


def _hdr10_clip(path: Path, sei: bytes = b"") -> Path:
    """A 10-bit HEVC PQ clip with HDR10 metadata, as a phone or a disc gives; ``sei``: an SEI NAL
    unit (Annex B) put in each frame before its picture."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx265", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p10le"
        v.codec_context.color_primaries, v.codec_context.color_trc, v.codec_context.colorspace = 9, 16, 9
        v.options = {"crf": "10", "preset": "ultrafast", "g": "1",  # every frame a keyframe: segments can cut anywhere
                     "x265-params": f"log-level=error:hdr10=1:master-display={_MASTERING}:max-cll=1000,400"}
        ramp = np.tile(np.linspace(4096, 61440, 64, dtype=np.uint16), (48, 1))
        for i in range(4):  # two segments of two (a last segment of one joins the one before)
            frame = av.VideoFrame.from_ndarray(np.stack([ramp] * 3, axis=-1), format="rgb48le")
            frame = frame.reformat(format="yuv420p10le", dst_colorspace="BT2020")
            frame.pts = i
            for p in v.encode(frame):
                c.mux(_with_nal(p, sei))
        for p in v.encode():
            c.mux(_with_nal(p, sei))
    return path


def _with_nal(packet: av.Packet, nal: bytes) -> av.Packet:
    """``packet`` (H.265, Annex B) with ``nal`` put before its first picture NAL unit."""
    if not nal:
        return packet
    data = bytes(packet)
    at = next(i for i in range(len(data) - 3) if data[i:i + 3] == b"\0\0\1" and (data[i + 3] >> 1) & 0x3F < 32)
    at -= 1 if at and data[at - 1] == 0 else 0  # a 4-byte start code
    out = av.Packet(data[:at] + nal + data[at:])
    out.pts, out.dts, out.time_base, out.stream, out.is_keyframe = (packet.pts, packet.dts, packet.time_base,
                                                                    packet.stream, packet.is_keyframe)
    return out


def _hdr10_plus_sei() -> bytes:
    """An H.265 prefix SEI with HDR10+ metadata (ST 2094-40 in ITU-T T.35, as Samsung registered
    it): one window, a 400-nit target display, MaxSCL 1000, no curves."""
    fields = [(8, 1), (2, 1), (27, 400), (1, 0), (17, 1000), (17, 1000), (17, 1000), (17, 100), (4, 0), (10, 0),
              (1, 0), (1, 0), (1, 0)]  # version, windows, target, ..., bright pixels, three flags off
    bits = "".join(format(value, f"0{n}b") for n, value in fields)
    bits += "0" * (-len(bits) % 8)
    t35 = bytes([0xB5, 0x00, 0x3C, 0x00, 0x01, 0x04]) + bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    rbsp = bytes([0x4E, 0x01, 4, len(t35)]) + t35 + b"\x80"  # NAL type 39, payload type 4, its size
    return b"\0\0\0\1" + emulation_prevented(rbsp)


def _with_dolby_vision(path: Path, profile: int, compatibility: int) -> Path:
    """``path`` (an .mp4 with its ``moov`` last) with a Dolby Vision configuration record in its
    HEVC sample entry, as a streaming service's file has."""
    bits = (profile << 9) | (6 << 3) | 0b101  # level 6, RPU and base layer present
    record = bytes([1, 0]) + struct.pack(">H", bits) + bytes([compatibility << 4]) + bytes(19)
    box = struct.pack(">I4s", 8 + len(record), b"dvcC") + record
    data = bytearray(path.read_bytes())
    parents, start, end = [], 0, len(data)
    for kind, fixed in ((b"moov", 0), (b"trak", 0), (b"mdia", 0), (b"minf", 0), (b"stbl", 0), (b"stsd", 8),
                        (b"hvc1", 78)):
        at = start
        while struct.unpack(">4s", data[at + 4:at + 8])[0] not in (kind, b"hev1" if kind == b"hvc1" else kind):
            at += struct.unpack(">I", data[at:at + 4])[0]
            assert at < end, kind
        parents.append(at)
        start, end = at + 8 + fixed, at + struct.unpack(">I", data[at:at + 4])[0]
    data[end:end] = box  # the sample entry's last child; the moov follows the media: no offset moves
    for at in parents:
        struct.pack_into(">I", data, at, struct.unpack(">I", data[at:at + 4])[0] + len(box))
    path.write_bytes(bytes(data))
    return path


def test_dynamic_hdr_metadata_that_cannot_be_carried_is_named_and_profile_5_refused(
        tmp_path: Path, nearest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """HDR10+ and Dolby Vision's per-frame metadata were dropped without a word, and a Dolby Vision
    profile 5 file (streaming services' and their rips: no HDR10 picture beneath, decoded as it is
    it shows green and purple) came out green and purple. The run now names what it drops (the
    output is the HDR10 picture they carry) and refuses profile 5 before any work, in MP4 and
    Matroska alike, with what to run instead."""
    from srstream.engine.dovi import DoviConfig, find_config, read_config

    plus = _hdr10_clip(tmp_path / "plus.mp4", _hdr10_plus_sei())
    with av.open(str(plus)) as c:
        assert "DYNAMIC_HDR_PLUS" in [d.type.name for d in side_data(next(c.decode(video=0)))]
    code, text = upscale_cli(plus, tmp_path / "plus_x2.mp4", nearest, capsys)
    assert code == 0 and "HDR10+ metadata" in text and "Dolby" not in text, text
    assert _hdr10_of(tmp_path / "plus_x2.mp4").light == (1000, 400)  # the static HDR10 metadata stays
    code, text = upscale_cli(_hdr10_clip(tmp_path / "plain.mp4"), tmp_path / "plain_x2.mp4", nearest, capsys)
    assert code == 0 and "HDR10+" not in text and "Dolby" not in text, text

    web = _with_dolby_vision(_hdr10_clip(tmp_path / "web.mp4"), 8, 1)
    assert read_config(web) == DoviConfig(8, 6, 1)
    code, text = upscale_cli(web, tmp_path / "web_x2.mp4", nearest, capsys)
    assert code == 0 and "Dolby Vision profile 8.1" in text and "the HDR10 picture" in text, text
    with av.open(str(tmp_path / "web_x2.mp4")) as c:
        assert c.streams.video[0].frames == 4

    five = _with_dolby_vision(_hdr10_clip(tmp_path / "p5.mp4"), 5, 0)
    # FFmpeg carries the record into Matroska's block addition mapping
    matroska = remux_video(five, tmp_path / "p5.mkv")
    for source in (five, matroska):
        assert read_config(source) == DoviConfig(5, 6, 0) and not read_config(source).displayable
        code, text = upscale_cli(source, tmp_path / f"{source.stem}_x2{source.suffix}", nearest, capsys)
        assert code == 3 and "Dolby Vision profile 5" in text and "libplacebo" in text, text
        assert not (tmp_path / f"{source.stem}_x2{source.suffix}").exists()
    av1 = find_config(b"\0\0\0\x1fdvvC" + bytes([2, 0]) + struct.pack(">H", 10 << 9) + bytes(20))
    assert av1.name == "profile 10.0" and not av1.displayable  # AV1's form of profile 5
    assert find_config(b"dvcC without a record") is None and read_config(tmp_path / "missing.mp4") is None
    record = b"\x41\xed\x98" + bytes([1, 0]) + struct.pack(">H", (5 << 9) | (6 << 3)) + bytes(20)
    assert find_config(b"\0\0\0\x1fdvcC" + bytes([1, 0]) + struct.pack(">H", 99 << 9) + bytes(20)) is None
    (tmp_path / "picture.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(8) + b"\x1f\x43\xb6\x75dvcC" + record)
    assert find_config(b"\xa0\x41\xe7\x84dvcC" + record).profile == 5  # a track entry
    assert read_config(tmp_path / "picture.mkv") is None  # bytes that spell it in a cluster


def _hdr10_of(path: Path):  # noqa: ANN202 - Hdr10 | None
    from srstream.engine.encode import Hdr10

    with av.open(str(path)) as c:
        first = next(c.decode(video=0))
        found = stream_side_data(c.streams.video[0].codec_context) | {d.type.name: bytes(d) for d in side_data(first)}
    return Hdr10.from_side_data(found.get("MASTERING_DISPLAY_METADATA"), found.get("CONTENT_LIGHT_LEVEL"))


def test_hdr10_video_becomes_hevc_main_10_with_its_mastering_metadata(tmp_path: Path, nearest: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A 10-bit HDR video came out as H.264 High 10, which phones, TVs and browsers do not play, and
    without its HDR10 metadata, so HDR players tone-mapped it as they guessed. It now comes out as
    HEVC Main 10 (tagged hvc1 for Apple's players) with the input's mastering display and light
    levels; AV1 in a .webm; an encoder that cannot carry them says so. 10-bit SDR keeps x264's
    High 10 (a computer's players play it; x265 took 5.8x its encoder time)."""
    src = _hdr10_clip(tmp_path / "phone.mp4")
    given = _hdr10_of(src)
    assert given is not None and given.light == (1000, 400) and given.primaries[0] == (0.68, 0.32)
    assert given.x265() == f"hdr10=1:master-display={_MASTERING}:max-cll=1000,400"  # the same words back
    code, text = upscale_cli(src, tmp_path / "out.mp4", nearest, capsys)
    assert code == 0 and "HDR10" not in text, text
    with av.open(str(tmp_path / "out.mp4")) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.profile, v.codec_context.codec_tag) == ("hevc", "Main 10", "hvc1")
        assert v.codec_context.pix_fmt == "yuv420p10le" and v.codec_context.color_trc == 16
    assert _hdr10_of(tmp_path / "out.mp4") == given
    code, text = upscale_cli(src, tmp_path / "joined.mp4", nearest, capsys, "--segments", "2")  # a job's segments, joined
    assert code == 0 and "2 segments" in text, text
    with av.open(str(tmp_path / "joined.mp4")) as c:
        assert c.streams.video[0].codec_context.codec_tag == "hvc1" and c.streams.video[0].frames == 4
    assert _hdr10_of(tmp_path / "joined.mp4") == given
    if "libsvtav1" in av.codecs_available:  # PyAV's wheels have it (their libvpx-vp9 encodes 8 bits only)
        code, text = upscale_cli(src, tmp_path / "out.webm", nearest, capsys)
        assert code == 0, text
        with av.open(str(tmp_path / "out.webm")) as c:
            cc = c.streams.video[0].codec_context
            assert cc.name in ("av1", "libdav1d") and cc.pix_fmt == "yuv420p10le"
        assert _hdr10_of(tmp_path / "out.webm").light == (1000, 400)
    code, text = upscale_cli(src, tmp_path / "h264.mp4", nearest, capsys, "--codec", "libx264")
    assert code == 0 and "HDR10 metadata (mastering display, light levels) is not kept by libx264" in text, text
    sdr = _ten_bit_hdr(tmp_path / "anime.mkv", transfer=1)  # 10-bit SDR (an anime encode): x264 High 10, faster
    code, text = upscale_cli(sdr, tmp_path / "anime_x2.mkv", nearest, capsys)
    assert code == 0, text
    with av.open(str(tmp_path / "anime_x2.mkv")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.name, cc.profile, cc.pix_fmt) == ("h264", "High 10", "yuv420p10le")


def _rotated(path: Path) -> Path:
    """A landscape-stored clip with a red corner that phones would display rotated 90 degrees
    clockwise: the track header's display matrix is set as a phone writes it."""
    img = np.zeros((48, 64, 3), np.uint8)
    img[:8, :8] = (255, 0, 0)
    plain = path.with_name("plain.mp4")
    with av.open(str(plain), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv444p"
        v.options = {"crf": "0", "preset": "ultrafast"}
        for _ in range(2):
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    data = bytearray(plain.read_bytes())
    matrix = data.find(b"tkhd") + 4 + 40  # version-0 tkhd: the matrix follows 40 bytes of fields
    struct.pack_into(">9i", data, matrix, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


def test_a_rotated_input_plays_the_same_way_after_upscaling(tmp_path: Path, nearest: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    src = _rotated(tmp_path / "phone.mp4")
    with av.open(str(src)) as c:
        assert next(c.decode(video=0)).rotation == -90  # the player turns it 90 degrees clockwise
    code, text = upscale_cli(src, tmp_path / "out.mp4", nearest, capsys, "--pix-fmt", "yuv444p", "--crf", "0")
    assert code == 0 and "rotated by 90 degrees" in text, text
    with av.open(str(tmp_path / "out.mp4")) as c:
        frame = next(c.decode(video=0))
        assert frame.rotation == 0 and (frame.width, frame.height) == (96, 128)  # upright, portrait
        rgb = frame.to_ndarray(format="rgb24")
    assert rgb[:12, -12:, 0].mean() > 200 and rgb[:12, :12, 0].mean() < 60  # the red corner is now top-right


def test_pixel_aspect_ratio_is_kept(tmp_path: Path, nearest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "anamorphic.mkv"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for _ in range(2):
            for p in v.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    code, text = upscale_cli(src, tmp_path / "out.mkv", nearest, capsys)
    assert code == 0, text
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.video[0].codec_context.sample_aspect_ratio == Fraction(4, 3)


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _ts_with_dolby_vision(mp4: Path, ts: Path, profile: int | None, compatibility: int = 0) -> Path:
    """``mp4``'s video remuxed into MPEG-TS (by FFmpeg), with a ``DOVI_video_stream`` descriptor
    added to its stream's entry in the program map table (length, CRC and all), as a broadcaster's
    or a Blu-ray's stream has it."""
    remux_video(mp4, ts, "mpegts")
    if profile is None:  # the remux as FFmpeg writes it: no descriptor
        return ts
    data = bytearray(ts.read_bytes())
    bits = (profile << 9) | (6 << 3) | 0b101  # level 6, RPU and base layer present
    descriptor = bytes([0xB0, 5, 1, 0]) + struct.pack(">H", bits) + bytes([compatibility << 4])
    patched = 0
    for offset in range(0, len(data), 188):
        packet = data[offset:offset + 188]
        section_at = 5 + packet[4]  # payload start, pointer field 0 (FFmpeg writes no adaptation field here)
        if not packet[1] & 0x40 or packet[section_at] != 0x02:
            continue
        section = packet[section_at:]
        length = ((section[1] & 0x0F) << 8) | section[2]
        entry = 12 + (((section[10] & 0x0F) << 8) | section[11])
        es_length = ((section[entry + 3] & 0x0F) << 8) | section[entry + 4]
        body = bytearray(section[:entry + 5 + es_length] + descriptor + section[entry + 5 + es_length:3 + length - 4])
        struct.pack_into(">H", body, 1, 0xB000 | (length + len(descriptor)))
        struct.pack_into(">H", body, entry + 3, 0xF000 | (es_length + len(descriptor)))
        body += struct.pack(">I", _crc32_mpeg(bytes(body)))
        data[offset + section_at:offset + 188] = (body + b"\xff" * 188)[:188 - section_at]
        patched += 1
    assert patched, "no program map table found"
    ts.write_bytes(bytes(data))
    return ts


def test_dolby_vision_in_a_transport_stream_is_found(tmp_path: Path, nearest: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Dolby Vision in MPEG-TS (broadcast, a Blu-ray's .m2ts) went unnoticed: profile 5 came out green
    and purple, profile 8.1's metadata was dropped without a word. Its descriptor in the program map
    table is now read, in 188- and 192-byte packets alike; FFmpeg reads the patched tables (the
    run decodes every frame)."""
    from srstream.engine.dovi import DoviConfig, read_config

    clip = _hdr10_clip(tmp_path / "clip.mp4")
    five = _ts_with_dolby_vision(clip, tmp_path / "p5.ts", 5, 0)
    assert read_config(five) == DoviConfig(5, 6, 0)
    code, text = upscale_cli(five, tmp_path / "p5_x2.mkv", nearest, capsys)
    assert code == 3 and "Dolby Vision profile 5" in text and not (tmp_path / "p5_x2.mkv").exists(), text
    eight = _ts_with_dolby_vision(clip, tmp_path / "p8.ts", 8, 1)
    code, text = upscale_cli(eight, tmp_path / "p8_x2.mkv", nearest, capsys)
    assert code == 0 and "Dolby Vision profile 8.1" in text, text
    with av.open(str(tmp_path / "p8_x2.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 4
    packets = eight.read_bytes()  # Blu-ray's .m2ts: a 4-byte time code before each packet
    m2ts = tmp_path / "p8.m2ts"
    m2ts.write_bytes(b"".join(b"\0\0\0\0" + packets[i:i + 188] for i in range(0, len(packets), 188)))
    assert read_config(m2ts) == DoviConfig(8, 6, 1)
    assert read_config(_ts_with_dolby_vision(clip, tmp_path / "plain.ts", None)) is None
    # a private descriptor 0xB0 that is no record of this HEVC stream's (profile 9 is H.264's): not read as one
    assert read_config(_ts_with_dolby_vision(clip, tmp_path / "other.ts", 9, 2)) is None
