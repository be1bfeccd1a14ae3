"""Closed captions carried inside the video's pictures (CEA-608 in ATSC A/53 user data: US
broadcast and cable recordings, DVDs, many .ts files), kept as a text subtitle stream.

FFmpeg hands a decoded picture's captions on as its side data, and its H.264/HEVC encoders write
them again only from the side data of the frames they are given; the upscaled frames are new, and
PyAV cannot attach side data to them, so the captions were lost without a word. Here they are
decoded by FFmpeg's own caption decoder (``cc_dec``, the one ``ffmpeg -i movie=IN[out0+subcc]``
uses) into timed lines and written as the output's subtitle stream: mov_text in .mp4/.mov, ASS in
.mkv (with the decoder's position on screen), WebVTT in .webm. A format without a text subtitle
codec (.ts, .avi, .mxf) keeps none, and the run says so. Field 1 (CC1, the main service) is read;
CEA-708 services have no decoder in FFmpeg.

The captions are read from the decoded pictures before any deinterlacing or inverse telecine
(:class:`srstream.engine.video.FileSource`), so no byte pair is lost with a dropped repeat field;
a job's join reads them in a pass of its own over the source (:func:`caption_packets`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from srstream.engine.encode import MP4_FAMILY
from srstream.engine.media import stream_seconds, video_rate

__all__ = ["CaptionData", "Captions", "caption_bytes", "caption_packets", "caption_track", "captions_ahead",
           "has_captions", "starts_with_captions"]

#: The caption stream's tick: a millisecond, the unit of subtitle durations.
_TICK = Fraction(1, 1000)
#: CEA-608 "erase displayed memory" on field 1, as an A/53 cc_data triple (marker 0xFC, the byte pair
#: with odd parity): fed at the end so that a caption still on screen is written, ending there.
_ERASE = bytes([0xFC, 0x94, 0x2C])
#: Subtitle encoders that take the caption decoder's text.
_TEXT_ENCODERS = ("ass", "ssa", "subrip", "srt", "webvtt", "mov_text", "text")


@dataclass(frozen=True)
class CaptionData:
    """One decoded picture's A/53 cc_data (triples of a marker byte and a byte pair), at ``pts``
    in the video's time base, counted as the output counts (from a cut)."""

    data: bytes
    pts: int


def caption_bytes(frame: Any) -> bytes | None:  # noqa: ANN401 - an av.VideoFrame
    """``frame``'s closed-caption side data, or None (read as :func:`srstream.engine.av_errors.side_data`
    reads it: a frame with a type of side data PyAV has no name for made ``frame.side_data`` raise)."""
    from av.sidedata.sidedata import Type

    from srstream.engine.av_errors import side_data

    try:  # (not ``getattr(frame, "side_data")`` first: that read raised before side_data named the new types)
        entries = side_data(frame)
    except AttributeError:  # not a decoded frame
        return None
    return next((bytes(data) for data in entries if data.type == Type.A53_CC), None)


def has_captions(frame: Any) -> bool:  # noqa: ANN401 - an av.VideoFrame
    return caption_bytes(frame) is not None


class Captions:
    """The output's caption stream, made from cc_data fed in display order (:meth:`packets`).

    FFmpeg's decoder writes a line once it leaves the screen (erased or replaced), with the time it
    came on and how long it stayed, so each packet comes out after its start: the muxer interleaves
    it, as it does a subtitle stream that FFmpeg's command line makes the same way."""

    def __init__(self, out_container: Any, codec: str, time_base: Fraction) -> None:  # noqa: ANN401
        import av

        self.time_base = time_base
        self.decoder = av.CodecContext.create("cc_dec", "r")
        # the decoder times its lines from the packets' times only when it knows their time base; PyAV
        # sets that for a demuxed stream's decoder alone, and takes it here as an option
        self.decoder.options = {"pkt_timebase": f"{time_base.numerator}/{time_base.denominator}"}
        self.decoder.open()
        self.stream = out_container.add_stream(codec)
        self.stream.codec_context.time_base = _TICK
        self.stream.codec_context.subtitle_header = self.decoder.subtitle_header
        self.stream.metadata["title"] = self.stream.metadata["handler_name"] = "Closed captions (CC1)"
        self.stream.disposition = av.stream.Disposition.hearing_impaired
        self.what = f"the closed captions ({codec})"
        self.last: int | None = None  # the latest pts fed
        self.written: int | None = None  # the latest line's start, in ticks
        self.lines = 0
        self.bad = 0

    def packets(self, data: CaptionData | None, until: Fraction | None = None) -> list:
        """The output packets for one picture's cc_data (none while a line is still on screen), or,
        with ``data`` None, for the line on screen at the end, ``until`` seconds (the video's end)."""
        import av

        if data is None:
            if until is None or self.last is None:
                return []
            end = max(round(until / self.time_base), self.last + 1)
            data = CaptionData(_ERASE, end)
        packet = av.Packet(data.data)
        packet.pts, packet.time_base = data.pts, self.time_base
        self.last = data.pts
        try:
            events = self.decoder.decode2(packet)
            if not events:
                return []
            out = self.stream.codec_context.encode_subtitle(events)
        except av.error.FFmpegError:
            self.bad += 1
            return []
        if out is None or events.pts is None or events.pts < 0:
            return []
        start = round((Fraction(events.pts, 1_000_000) + Fraction(events.start_display_time, 1000)) / _TICK)
        if self.written is not None and start < self.written:  # times that went back (a damaged stream's)
            self.bad += 1
            return []
        start = start if self.written is None else max(start, self.written + 1)  # a muxer takes each time once
        out.stream, out.time_base = self.stream, _TICK
        out.pts = out.dts = self.written = start
        out.duration = max(1, events.end_display_time - events.start_display_time)
        self.lines += 1
        return [out]


def caption_track(out_container: Any, suffix: str, time_base: Fraction,  # noqa: ANN401 - an av output container
                  copied: list[str], notes: list[str]) -> Captions | None:
    """The caption stream of an output whose input carries closed captions, in the format's text
    subtitle codec, said in ``copied``; None (said in ``notes``) where the format has none."""
    import av

    names = out_container.format.name.split(",")
    codec = "mov_text" if any(n in MP4_FAMILY for n in names) else out_container.default_subtitle_codec
    if codec not in _TEXT_ENCODERS:
        notes.append(f"the input's closed captions are not kept: a {suffix} file holds no text subtitles; an .mkv "
                     "or .mp4 output keeps them as a subtitle stream")
        return None
    try:
        track = Captions(out_container, codec, time_base)
    except (av.error.FFmpegError, ValueError, LookupError) as exc:  # no such decoder or encoder in this build
        notes.append(f"the input's closed captions are not kept ({exc})")
        return None
    copied.append(f"closed captions (CEA-608, in the video) as a subtitle stream ({codec})")
    return track


def starts_with_captions(src: Path, index: int) -> bool:
    """Whether the pictures of video stream ``index`` of ``src`` carry closed captions: its first, or those
    of its first seconds (:func:`captions_ahead`), as :class:`srstream.engine.video.FileSource` decides for
    one pass."""
    import av

    from srstream.engine.sequence import open_input

    try:
        with open_input(src) as container:
            frame = next(container.decode(container.streams[index]), None)
    except av.error.FFmpegError:
        return False
    return frame is not None and (has_captions(frame) or captions_ahead(src, index))


#: What marks closed captions in a picture's bytes: ATSC A/53 user data with cc_data (``GA94``, then
#: type 3), in an H.264 or HEVC SEI or MPEG-2 user data, and a DVD's MPEG-2 caption user data.
_CAPTION_MARKS = (b"GA94\x03", b"CC\x01\xf8")
#: The codecs whose pictures FFmpeg's decoder reads such captions from.
_CAPTION_CODECS = ("h264", "hevc", "mpeg2video", "mpeg1video")


def captions_ahead(src: Path, index: int, seconds: float = 20.0, budget: int = 8 << 20, samples: int = 8,
                   window: float = 4.0) -> bool:
    """Whether the pictures of video stream ``index`` of ``src`` carry closed captions, by their packets'
    bytes (:data:`_CAPTION_MARKS`): demuxed, not decoded. Those of its first ``seconds`` are looked at (at
    most ``budget`` bytes of them), then ``window`` seconds at each of ``samples`` places spread over the
    rest (a quarter of the budget each). A recording that begins before its captions do (in an advert, a
    channel's ident) kept none: only its first picture was looked at, and a note said they were lost; one
    that begins with minutes of them (a recorder's padding before a programme) kept none either while
    only its first 20 seconds were."""
    from srstream.engine.av_errors import av_failures
    from srstream.engine.sequence import open_input

    try:
        with open_input(src) as container:
            video = container.streams[index]
            if video.codec_context is None or video.codec_context.name not in _CAPTION_CODECS:
                return False
            if _marked(container, video, seconds, budget):
                return True
            tb, length = video.time_base, Fraction(stream_seconds(container, video))
            if tb is None or length <= seconds + window:
                return False
            origin = Fraction(container.start_time or 0, 1_000_000)
            for k in range(1, samples + 1):
                at = origin + seconds + (length - seconds - window) * k / (samples + 1)
                try:
                    container.seek(int(at / tb), stream=video, backward=True)
                except av_failures():
                    return False
                if _marked(container, video, window, budget // 4):
                    return True
    except (*av_failures(), OSError):
        return False
    return False


def _marked(container: Any, video: Any, seconds: float, budget: int) -> bool:  # noqa: ANN401
    """Whether a packet of ``video`` in ``container``'s next ``seconds`` (at most ``budget`` bytes, from
    where it was left or sought to) holds a caption mark."""
    read, first = 0, None
    for packet in container.demux(video):
        if not packet.size:
            continue
        if any(mark in bytes(packet) for mark in _CAPTION_MARKS):
            return True
        read += packet.size
        first = packet.dts if first is None else first
        if read > budget or (packet.dts is not None and first is not None
                             and (packet.dts - first) * video.time_base > seconds):
            return False
    return False


def caption_packets(src: Path, index: int, captions: Captions, cut: int | None,
                    until: Fraction | None) -> Iterator[tuple[float, Any]]:
    """The caption packets of video stream ``index`` of ``src`` from pts ``cut`` (None: the start;
    times then count from it) to ``until`` seconds of the output (None: the end), read in a pass of
    their own (a job's join: its segments keep only pictures), as (start in seconds, packet) in
    order. The pictures are decoded without the deblocking filter (their side data is all that is
    read): 242 against 227 frames a second for 1080p H.264 on two cores (AMX Xeon), where the
    segments were upscaled at a few frames a second."""
    from srstream.engine.sequence import open_input

    with open_input(src) as container:
        video = container.streams[index]
        video.thread_type = "AUTO"
        video.codec_context.options = {"skip_loop_filter": "all"}
        if cut is not None:
            container.seek(cut, stream=video, backward=True, any_frame=False)
        tb = video.time_base
        last = None
        for frame in container.decode(video):
            if frame.pts is None or (cut is not None and frame.pts < cut):
                continue
            pts = frame.pts - (cut or 0)
            if until is not None and pts * tb >= until:
                break
            last = pts
            data = caption_bytes(frame)
            if data is not None:
                for packet in captions.packets(CaptionData(data, pts)):
                    yield float(packet.pts * packet.time_base), packet
        if last is not None:
            end = until if until is not None else last * tb + 1 / (video_rate(video) or 30)
            for packet in captions.packets(None, end):
                yield float(packet.pts * packet.time_base), packet
