"""Video files: the file source and the file sink of the one pipeline (:mod:`srstream.engine.pipeline`).

* **Frames**: every decoded frame is upscaled and encoded with its own timestamp, in the input's
  time base, so frame count, frame rate and timing (variable frame rate included) survive. A file
  source never drops: the pipeline waits for the upscale stage. The counts are checked at the end;
  a mismatch is an error, never a silent drop.
* **Other streams**: audio and subtitle packets are copied untouched (no re-encoding) in demux
  order, straight from the source to the sink (they never pass through the upscale stage), and
  interleaved with the video by the muxer.
* **Files**: the output is written to a hidden temporary file beside the target (created
  exclusively, under a lock naming this run: see :class:`srstream.atomic.PendingOutput`) and
  renamed over the target only when complete; on an error it is deleted. Ctrl-C (or SIGTERM /
  SIGHUP, see the CLI) stops reading, finishes the frames in flight, closes the file properly and
  keeps it as ``NAME.interrupted.EXT``: a previous output is only ever replaced by a complete one.
* **Inputs that end early** (a truncated download, a decoder error mid-stream): what decoded is
  upscaled and written, and the report says how many frames of how many declared, so the caller
  can exit non-zero.
* **Colour**: frames are converted to RGB with the matrix the input declares (BT.601 when it
  declares none, as FFmpeg does) and encoded back with the same matrix, tagged in the output.
* **Transparency**: a stream with alpha (ProRes 4444, QuickTime Animation, PNG, FFV1, VP9 with
  alpha, which only libvpx decodes, a GIF whose first frame has transparent pixels) is upscaled as
  RGBA where the output keeps alpha (:func:`~srstream.engine.encode.add_video_stream`); elsewhere
  the run says that it is dropped and what would keep it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

from srstream.atomic import PendingOutput
from srstream.engine.av_errors import av_failures, open_av, read_error, reading, write_error, writing
from srstream.engine.captions import CaptionData, caption_bytes, caption_track, captions_ahead, has_captions
from srstream.engine.dovi import dynamic_hdr_notes
from srstream.engine.encode import (
    BT601,
    MATRICES,
    CopiedOrder,
    EncodeOptions,
    add_video_stream,
    copy_container_metadata,
    copy_streams,
    default_codec,
    exact_start,
    first_packets,
    frame_converter,
    frame_ticks,
    frames_kept,
    has_alpha,
    is_deep,
    mux_copied,
    plausible_dts,
    rehearse,
    track_languages,
    undecodable,
    web_ready,
)
from srstream.engine.isobox import write_languages
from srstream.engine.media import (carried_streams, cut_pts, decode_order_times, flv_cut_short, has_clear_pixels,
                                   is_gpmf, main_video, no_video, ps_cut_short, short_of_declared, shown_frames,
                                   tagged_seconds, ts_cut_short, video_rate)
from srstream.engine.messages import Channel, Frame, Passthrough, Report, Upscaled
from srstream.engine.pipeline import Rung, UpscaleStage, run
from srstream.engine.sequence import open_input
from srstream.engine.spherical import (ISO_MUXERS, output_projection, projection_boxes, projection_side_data,
                                       wraps_sideways, write_projection)
from srstream.engine.timeline import Continuity, jumps_in
from srstream.engine.upscaler import FrameUpscaler, output_size, wrapped_sideways
from srstream.errors import ConfigError, InputError, OutputError, SRStreamError

__all__ = ["DEINTERLACED_NOTE", "PIPE", "Deinterlacer", "EncodeOptions", "FileSink", "FileSource", "StdoutOutput",
           "default_codec", "end_of_input", "keeps_alpha", "part_note", "rehearse_output", "upscale_video"]

#: ``-`` as the input or the output: standard input / output (streamed Matroska out).
PIPE = Path("-")


DEINTERLACED_NOTE = ("the input is interlaced: each frame deinterlaced (FFmpeg's bwdif, one frame out for each "
                     "frame in, at its own time) before upscaling; --deinterlace double makes a frame of each field "
                     "(twice the frame rate and the work), off upscales the fields as they are")
DOUBLED_NOTE = ("the input is interlaced: a frame made of each field (FFmpeg's bwdif, --deinterlace double), at twice "
                "its frame rate, before upscaling")


#: Damaged video packets in a row that are skipped before the decoding counts as failed (a
#: stream that does not decode at all, rather than damage here and there: a bad download, a
#: scratched disc, a dropped network packet in a recording).
DAMAGED_RUN = 250
IVTC_NOTE = ("the input is telecined film (3:2 pulldown: its fields repeat in a five-frame cadence): its film frames "
             "are rebuilt from their fields and the repeats dropped (FFmpeg's fieldmatch and decimate, bwdif where a "
             "frame has no match), four frames out for every five in, at the film's own times, before upscaling; "
             "--deinterlace on deinterlaces every frame instead, off upscales the fields as they are")
#: Frames of an interlaced video's start that :func:`telecined` reads (about 7 s at 29.97 fps).
TELECINE_PROBE_FRAMES = 200


def telecined(path: Path, index: int, frames: int = TELECINE_PROBE_FRAMES) -> str | None:
    """The field order (``tff`` / ``bff``) of the video stream ``index`` of ``path`` when it is
    telecined film, else None: FFmpeg's ``idet`` finds a repeated field in 30-50% of its first
    ``frames`` frames (3:2 pulldown repeats two fields in every five frames), top and bottom alike,
    and four fifths of them at the same two places of a five-frame cycle (the cadence; a still
    scene repeats fields anywhere). The order is the one ``idet`` sees in most frames: matching
    fields in the wrong order rebuilt a film frame from the wrong pair (one in four lost, another
    doubled), and a decoded frame's own flag is not to be trusted."""
    repeated: list[tuple[int, str]] = []
    count = 0
    order = {}
    try:
        with open_input(path) as container:
            stream = container.streams[index]
            graph, source, sink = _graph(stream, [("idet", "")])
            for frame in container.decode(stream):
                source.push(frame)
                for out in _drain(sink):
                    facts = out.metadata or {}
                    kind = facts.get("lavfi.idet.repeated.current_frame", "neither")
                    if kind != "neither":
                        repeated.append((count, kind))
                    order = {k: float(facts.get(f"lavfi.idet.multiple.{k}", 0)) for k in ("tff", "bff")}
                    count += 1
                if count >= frames:
                    break
    except (*av_failures(), ValueError):
        return None
    if count < 20 or not 0.3 <= len(repeated) / count <= 0.5:
        return None
    tops = sum(kind == "top" for _, kind in repeated)
    if min(tops, len(repeated) - tops) < 0.3 * len(repeated):
        return None
    places = sorted(Counter(i % 5 for i, _ in repeated).values(), reverse=True)
    if sum(places[:2]) < 0.8 * len(repeated):
        return None
    return "bff" if order.get("bff", 0) > order.get("tff", 0) else "tff"


#: bwdif as both deinterlacing paths run it: a frame out for each frame in, only frames marked interlaced.
_BWDIF = "mode=send_frame:parity=auto:deint=interlaced"
#: bwdif at the field rate (``--deinterlace double``): a frame out for each field of a frame marked interlaced.
_BWDIF_FIELDS = "mode=send_field:parity=auto:deint=interlaced"


def _graph(video, chain: list[tuple[str, str]]) -> tuple:  # noqa: ANN001 - av VideoStream
    """A filter graph from ``video``'s frames through ``chain`` ((filter, arguments), ...): (graph,
    buffer source, buffersink). The source is told the stream's frame rate, which ``decimate`` needs."""
    import av.filter

    cc = video.codec_context
    rate = video_rate(video) or video.guessed_rate or Fraction(30000, 1001)
    sar = cc.sample_aspect_ratio if cc.sample_aspect_ratio and cc.sample_aspect_ratio.numerator else Fraction(1)
    graph = av.filter.Graph()
    source = graph.add("buffer", f"video_size={cc.width}x{cc.height}:pix_fmt={cc.pix_fmt}:time_base={video.time_base}"
                                 f":frame_rate={rate}:pixel_aspect={sar.numerator}/{sar.denominator}")
    last = source
    for name, args in chain:
        node = graph.add(name, args)
        last.link_to(node)
        last = node
    sink = graph.add("buffersink")
    last.link_to(sink)
    graph.configure()
    return graph, source, sink


def _drain(sink) -> list:  # noqa: ANN001 - a buffersink
    """The frames a filter graph's sink holds now."""
    import av

    out = []
    while True:
        try:
            out.append(sink.pull())
        except (av.error.BlockingIOError, BlockingIOError, av.error.EOFError, EOFError):
            return out


class InverseTelecine:
    """Telecined film back to its frames: FFmpeg's ``fieldmatch`` (each frame's fields matched
    with their partners), ``bwdif`` for a frame that stays combed (a cadence break, a video
    overlay), ``decimate`` (the repeat in each five dropped), as FFmpeg's own documentation
    chains them, the fields taken in ``order`` (:func:`telecined`'s). Four frames out for every five
    in, in the stream's time base. :class:`Deinterlacer`'s interface.

    Film frame ``n`` after the first frame pushed, ``first``, is timed ``first + n * 5/4`` of the
    stream's frame duration (in whole ticks, rounded down): the film's clock, whichever frame of a
    five decimate drops. So a job's segment that starts pushing at a frame a whole number of
    fives after the stream's first frame (:meth:`FileSource.read` does) times its film frames as
    one pass over the whole stream times them."""

    def __init__(self, video, order: str = "tff") -> None:  # noqa: ANN001 - av VideoStream
        self.tb = video.time_base
        self.step = frame_ticks(video_rate(video), self.tb)
        self.first: int | None = None  # the first pushed frame's pts
        self.made = 0  # film frames given so far
        self.graph, self.source, self.sink = _graph(video, [
            ("fieldmatch", f"order={order}:combmatch=full"), ("bwdif", _BWDIF), ("decimate", "")])

    def push(self, frame) -> list:  # noqa: ANN001 - av.VideoFrame
        if self.first is None:
            self.first = frame.pts
        self.source.push(frame)
        return self._pull()

    def flush(self) -> list:
        self.source.push(None)
        return self._pull()

    def _pull(self) -> list:
        out = _drain(self.sink)
        for frame in out:  # on the film's clock, in the stream's time base
            if self.first is None:
                frame.pts = round(frame.pts * frame.time_base / self.tb)
            else:
                frame.pts = self.first + self.made * 5 * self.step // 4
            frame.time_base = self.tb
            self.made += 1
        return out


def _inverse_telecine(video, order: str) -> InverseTelecine | None:  # noqa: ANN001 - av VideoStream
    """:class:`InverseTelecine` for ``video``, or None where FFmpeg's filters refuse it (the frames are
    then deinterlaced as any interlaced video's)."""
    try:
        return InverseTelecine(video, order)
    except (*av_failures(), ValueError):
        return None


class Deinterlacer(InverseTelecine):
    """FFmpeg's ``bwdif`` (motion-adaptive, from the fields before and after) over a video
    stream's frames: one frame out for each frame in (``send_frame``), only frames marked
    interlaced changed, each with the timestamp it came in with (bwdif halves the time base for
    field rates; the frames keep the stream's). ``fields``: a frame out for each field
    (``send_field``) of a frame marked interlaced, the second half a frame's time after the first,
    in the stream's time base (which must have two ticks a frame at least: :func:`fields_fit`).
    Written as a filter graph of PyAV's, not by hand: FFmpeg's is the deinterlacer its command line
    users know."""

    def __init__(self, video, fields: bool = False) -> None:  # noqa: ANN001 - av VideoStream
        self.graph, self.source, self.sink = _graph(video, [("bwdif", _BWDIF_FIELDS if fields else _BWDIF)])
        self.times: list[tuple[int | None, Fraction | None]] = []
        self.fields, self.tb = fields, video.time_base

    def push(self, frame) -> list:  # noqa: ANN001 - av.VideoFrame
        self.times.append((frame.pts, frame.time_base))
        self.source.push(frame)
        return self._pull()

    def _pull(self) -> list:
        out = _drain(self.sink)
        for frame in out:
            if self.fields:  # on bwdif's clock (half the stream's tick), back in the stream's time base
                frame.pts = None if frame.pts is None else round(frame.pts * frame.time_base / self.tb)
                frame.time_base = self.tb
            else:
                frame.pts, frame.time_base = self.times.pop(0)
        return out


def fields_fit(video) -> bool:  # noqa: ANN001 - av VideoStream
    """Whether ``video``'s time base holds a time between two frames' (two ticks a frame at least):
    a frame a tick (an .y4m, an .ogv) has none, and ``--deinterlace double`` deinterlaces a frame for
    each frame there."""
    rate = video_rate(video) or video.guessed_rate
    return bool(rate and video.time_base and 1 / (rate * video.time_base) >= 2)


#: How far past a preview's end (``--frames``, ``--duration``) its other streams' packets are looked
#: for, in seconds: FFmpeg's muxers interleave streams within 10 s (``max_interleave_delta``).
PREVIEW_INTERLEAVE = 10


def packet_start(packet) -> Fraction | None:  # noqa: ANN001 - av.Packet
    """When ``packet`` starts, in seconds (its presentation time, or its decode time), if it says."""
    when = packet.pts if packet.pts is not None else packet.dts
    return None if when is None or packet.time_base is None else when * packet.time_base


def from_cut(packet, cut_at: Fraction, across: bool = True) -> bool:  # noqa: ANN001 - av.Packet
    """Whether a copied stream's ``packet`` is kept by a run that starts ``cut_at`` seconds into
    the file (``--start``), its times then made to count from there: one that starts before it is
    left out (a sound packet too: its samples before the cut cannot be cut off without decoding
    it, and the next one starts within a packet's time of the pictures), but for a subtitle still
    shown at the cut, which is shown from the cut to its own end (unless not ``across``: such
    lines were taken by :func:`subtitles_across`)."""
    begins, tb = packet_start(packet), packet.time_base
    if begins is None or tb is None:
        return False
    if begins < cut_at:
        ends = begins + (packet.duration or 0) * tb
        if packet.stream.type != "subtitle" or ends <= cut_at or not across:
            return False
        packet.duration = max(1, round((ends - cut_at) / tb))
        packet.pts = packet.dts = round(cut_at / tb)
    shift = round(cut_at / tb)
    if packet.pts is not None:
        packet.pts -= shift
    if packet.dts is not None:
        packet.dts -= shift
    return True


#: How long before ``--start`` a subtitle line still on screen there may have begun (a film's lines
#: last seconds): the reading of the pictures starts at the keyframe before the start, which can
#: come after such a line began, so lines are looked for in a second opening of the file from this
#: far back (:func:`subtitles_across`)
SUBTITLE_LOOKBACK = 30


def subtitles_across(src: Path, indices: list[int], cut_at: Fraction) -> tuple[object, list] | None:
    """The lines of ``src``'s subtitle streams ``indices`` still on screen at ``cut_at`` seconds
    (begun before it, ending after), each moved to show from it to its own end (:func:`from_cut`):
    read from a second opening of the file, from :data:`SUBTITLE_LOOKBACK` seconds before the cut
    to :data:`PREVIEW_INTERLEAVE` seconds after it (demuxed, not decoded). Returns (that opening,
    which its packets belong to: the caller closes it; the lines), or None where it cannot be
    read so (a pipe, a seek that fails): the reading from the keyframe then finds what it can."""
    if not indices or src == PIPE:
        return None
    try:
        container = open_input(src)
    except (*av_failures(), OSError):
        return None
    lines = []
    try:
        first = Fraction(container.start_time or 0, 1_000_000)
        if cut_at - SUBTITLE_LOOKBACK > first:
            container.seek(int((cut_at - SUBTITLE_LOOKBACK) * 1_000_000), backward=True)
        for packet in container.demux():
            begins = packet_start(packet)
            if begins is None or packet.dts is None:
                continue
            if begins >= cut_at + PREVIEW_INTERLEAVE:
                break
            if packet.stream.index in indices and packet.size and begins < cut_at and from_cut(packet, cut_at):
                lines.append(packet)
    except av_failures():
        container.close()
        return None
    return container, lines


def _shifted(packets: Iterator, continuity: Continuity) -> Iterator:
    """``packets``, each with its times made continuous by ``continuity`` as it is read."""
    for packet in packets:
        continuity(packet)
        yield packet


class FileSource:
    """The video stream of a file (or standard input) that FFmpeg takes
    (:func:`~srstream.engine.media.main_video`), decoded in display order, with the audio and
    subtitle streams it carries passed through.

    ``span``: only the frames with ``start <= pts < end`` (the stream's time base; None: from the
    first / to the last), decoded from the keyframe at or before ``start``. ``limit``: (frames,
    seconds), the most of either to read from the start (``--frames``/``--duration``: a preview);
    the read then ends as ``"frames"`` or ``"duration"``. ``start``: seconds from the file's start
    (``--start``, as FFmpeg's ``-ss`` counts them) where the read begins (decoded from the keyframe
    at or before it); every time handed on then counts from there, so that an output starts at
    0; the other streams' packets before it are left out (a sound packet that spans it too: the
    sound starts within one packet of the pictures), a subtitle shown across it is shown from it.

    Raises (on construction):
        InputError: unreadable, or no video stream.
    """

    live = False

    def __init__(self, src: Path, *, copy_audio: bool = True, copy_subtitles: bool = True,
                 span: tuple[int | None, int | None] = (None, None), deinterlace: str = "auto",
                 limit: tuple[int | None, float | None] = (None, None), start: float | None = None) -> None:
        import av

        self.limit = limit
        if deinterlace not in ("auto", "on", "off", "double"):
            raise ConfigError(f"--deinterlace {deinterlace!r}: auto, on, off or double")
        self.src, self.span, self.deinterlace = src, span, deinterlace
        self.copy_subtitles = copy_subtitles
        #: its pictures carry closed captions (its first one, or those of its first seconds), which the output
        #: keeps as subtitles
        self.captions = False
        #: the 360-degree / stereo 3D boxes of an MP4 or MOV input, which an MP4 or MOV output is given
        self.projection = None
        #: an equirectangular panorama, whose frames are upscaled wrapped around from left to right
        self.wraps = False
        self.bwdif: Deinterlacer | InverseTelecine | None = None
        self.ivtc = False  # telecined film, rebuilt (InverseTelecine): four frames out for five in
        self.doubled = False  # interlaced video deinterlaced a frame a field (--deinterlace double): two out for one
        self._origin: int | None = None  # the pts of the file's first frame: where the fives of telecine count from
        self._looked_back = None  # the second opening of the file subtitles_across read lines from
        self._ivtc_from: int | None = None  # a segment's first frame pushed into the InverseTelecine
        self._deinterlace_decided = self._deinterlace_noted = False
        where = "standard input" if src == PIPE else str(src)
        with reading(where, "a pipe needs a streamable format such as Matroska or MPEG-TS (ffmpeg ... -f matroska -)"
                     if src == PIPE else ""):
            self.container = open_av("pipe:0") if src == PIPE else open_input(src)
        video = main_video(self.container)
        if video is None:
            why = no_video(src, self.container)
            self.container.close()
            raise InputError(why)
        self.video = video
        self.turns, self.notes = 0, []
        #: ``start`` on the video's clock (the first pts kept) and in seconds: where the output's times count from
        self.cut: int | None = None
        self.cut_at: Fraction | None = None
        if start is not None:
            self.cut = cut_pts(self.container, video, start)
            self.cut_at = self.cut * video.time_base
        #: (height, width) of its pictures as stored, its first frame's where that can be read (a
        #: stream's parameters can be its last size's): what the output is sized for, in every
        #: segment alike (a frame of another size is fitted into it, :class:`srstream.engine.pipeline.UpscaleStage`)
        self.shape = (video.codec_context.height, video.codec_context.width)
        video.thread_type = "AUTO"
        self.copied = carried_streams(self.container, copy_audio, copy_subtitles)
        for unknown in (s for s in self.container.streams if s.codec_context is None and (
                s.type == "video" or (s.type == "audio" and copy_audio) or (s.type == "subtitle" and copy_subtitles))):
            # a codec this FFmpeg does not know, or has no decoder for: PyAV copies no stream without one
            if unknown.type == "subtitle":  # DVB teletext in a European broadcast's .ts (no libzvbi in PyAV's FFmpeg)
                self.notes.append(f"stream #{unknown.index} (subtitle, in a codec this FFmpeg build has no decoder "
                                  "for, such as DVB teletext) is not kept; FFmpeg's command line copies it apart: "
                                  f"ffmpeg -i INPUT -map 0:{unknown.index} -c copy subtitles.ts")
            else:
                self.notes.append(f"stream #{unknown.index} ({unknown.type}, in a codec this FFmpeg build does not "
                                  "know) is not kept")
        self.matrix = video.codec_context.colorspace if video.codec_context.colorspace in MATRICES else BT601
        self.deep = is_deep(video.codec_context.pix_fmt)
        # what the container counts, to tell a truncated file by (a segment's or a --start's frames are fewer)
        self.frames_declared = shown_frames(src, video) if span == (None, None) and src != PIPE and start is None \
            else 0
        #: the seconds a Matroska video's tag declares (:func:`tagged_seconds`), where it declares no frame count
        self.seconds_declared = tagged_seconds(video) if span == (None, None) and start is None \
            and not self.frames_declared else None
        self.read_until: Fraction | None = None  # where the last frame read ends, in seconds from the video's start
        #: its frames are timed by their decoding times (:func:`srstream.engine.media.decode_order_times`)
        self.decode_times = src != PIPE and decode_order_times(src, video)
        #: a transport stream's times made continuous across jumps (:mod:`srstream.engine.timeline`)
        self.continuity = Continuity() if jumps_in(self.container) else None
        # transparency: a format with alpha (a GIF's is always bgra: its first frame decides), or
        # VP9 with alpha, whose alpha plane only libvpx's decoder reads (FFmpeg's own drops it)
        self.decoder = None
        name = video.codec_context.name
        if name == "vp9" and any(k.lower() == "alpha_mode" and v == "1" for k, v in (video.metadata or {}).items()):
            try:
                self.decoder = av.CodecContext.create("libvpx-vp9", "r")
                self.decoder.thread_type = "AUTO"
            except (av.error.FFmpegError, ValueError):
                self.notes.append("the input's VP9 alpha (transparency) is not read: this FFmpeg build has no libvpx")
        self.alpha = self.decoder is not None or (has_alpha(video.codec_context.pix_fmt or "") and name != "gif")
        for other in (s for s in self.container.streams.video if s.index != video.index and s.codec_context
                      and not s.disposition & av.stream.Disposition.attached_pic):  # covers: the output's metadata
            self.notes.append(f"stream #{other.index} ({other.codec_context.name}, video) is not kept: sr-stream "
                              f"upscales one video stream, #{video.index}")
        for data in self.container.streams.data:
            tags = data.metadata or {}
            if is_gpmf(data):  # a camera's telemetry: carried with the sound or subtitles (the output's format says
                continue  # whether it keeps it); a run of the video alone, as a job's segment, keeps none
            if "timecode" in tags:  # a timecode track: kept as the video's timecode tag (a .mov writes it again)
                continue
            if data.discard == av.stream.Discard.all and self.container.chapters():
                continue  # an .mp4's or .mov's chapter track, which its demuxer reads as the chapters (copied)
            name = tags.get("handler_name", "").strip() or (data.name or "")
            self.notes.append(f"stream #{data.index} (data{': ' + name if name else ''}) is not kept: sr-stream copies "
                              "sound, subtitles and GoPro telemetry; other data stays in the input")
        if src != PIPE and self.container.format.name == "gif":
            from srstream.engine.animated import gif_cut_short

            if gif_cut_short(src):  # FFmpeg decodes up to the cut without a word
                self.notes.append(f"{src} stops before its end (a GIF's closing byte): the file was cut short, as an "
                                  "unfinished download or copy is; the frames it holds are upscaled, the rest are "
                                  "not in it")
        if src != PIPE:  # FFmpeg reads each of these up to a cut without a word
            unit = {"mpegts": ("a transport-stream packet", ts_cut_short), "flv": ("an FLV tag", flv_cut_short),
                    "mpeg": ("an MPEG program-stream pack", ps_cut_short)}.get(self.container.format.name)
            if unit is not None and unit[1](src):
                self.notes.append(f"{src} ends inside {unit[0]}, which no recorder writes: the file was cut short "
                                  "(an unfinished download or copy, a recording stopped abruptly); what it holds is "
                                  "upscaled, and anything after the cut is not in it")
        if src != PIPE:  # a pipe cannot be read twice: no rotation flags or interlacing notes from one
            self._first_frame_facts()

    def __str__(self) -> str:
        return "standard input" if self.src == PIPE else str(self.src)

    @property
    def rate(self) -> Fraction:
        """The frame rate of what it hands on: the video's (30 where it says none), four fifths of it for
        telecined film rebuilt, twice it deinterlaced a frame a field."""
        return (video_rate(self.video) or Fraction(30)) * (Fraction(4, 5) if self.ivtc else 2 if self.doubled else 1)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the pictures, upright."""
        h, w = self.shape
        return (h, w) if self.turns % 2 else (w, h)

    def _projection_facts(self, frame) -> None:  # noqa: ANN001 - the first av.VideoFrame
        """Its 360-degree or stereo 3D projection: the boxes an MP4/MOV output is given, or a note."""
        found = projection_side_data(frame)
        if not found:
            return
        self.wraps = wraps_sideways(frame)
        if self.wraps and self.span == (None, None):
            self.notes.append("the input is a 360-degree equirectangular panorama: each frame is upscaled wrapped "
                              "around from left to right, so no seam shows where its edges meet")
        if any(name in ISO_MUXERS for name in self.container.format.name.split(",")):
            self.projection = projection_boxes(self.src)
        if self.projection is None and self.span == (None, None):
            self.notes.append(f"the input is a 360-degree or stereo 3D video ({', '.join(found).lower()} side data) "
                              "whose projection is not carried: sr-stream copies Google's sv3d/st3d boxes from an "
                              "MP4 or MOV input only; players will show the output flat")

    def _first_frame_facts(self) -> None:
        """What only a decoded frame tells: the display rotation and interlacing (read from the
        first frame, in a second pass over the file's start)."""
        try:
            with open_input(self.src) as container:
                frame = next(container.decode(container.streams[self.video.index]), None)
        except av_failures():
            return  # the main pass reports what is wrong with the file
        if frame is None:
            return
        self.shape, self._origin = (frame.height, frame.width), frame.pts
        self.captions = self.copy_subtitles and (has_captions(frame) or captions_ahead(self.src, self.video.index))
        self._projection_facts(frame)
        if self.video.codec_context.name == "gif":  # decoded as bgra whether transparent or not
            self.alpha = has_clear_pixels(frame)
        self.turns = round((frame.rotation or 0) / 90) % 4
        if self.span == (None, None):  # a job's segments: the job said it once, from the whole file's source
            self.notes += dynamic_hdr_notes(self.src, frame)
        if self.turns:
            self.notes.append(f"the input is shown rotated by {-90 * self.turns % 360} degrees: the frames are turned "
                              "upright before upscaling (as FFmpeg does), so the output plays the same way")
        self._deinterlace_decided = True  # by the file's first frame, for every segment alike
        if self.deinterlace == "off" and frame.interlaced_frame:
            self.notes.append("the input is interlaced: frames are upscaled as progressive (--deinterlace off), "
                              "which keeps combing artefacts")
        elif (self.deinterlace in ("auto", "double") and frame.interlaced_frame
              and (order := telecined(self.src, self.video.index))
              and (rebuilt := _inverse_telecine(self.video, order)) is not None):
            self.notes.append(IVTC_NOTE)
            self._deinterlace_noted = self.ivtc = True
            self.bwdif = rebuilt
        elif self.deinterlace == "on" or frame.interlaced_frame:
            self.bwdif = self._deinterlacer(self.notes)
            self._deinterlace_noted = True

    def read(self, emit: Callable[[Frame | Passthrough], bool], stop: threading.Event, report: Report) -> str:
        import av

        video = self.video
        extra = [s for s in self.container.streams if s.index in self.copied]
        tb = video.time_base
        step = int(round(1 / (video_rate(video) or 30) / tb)) if tb else 1
        start, end = self.span
        if self.cut is not None:  # --start: a segment's frames, from the cut on
            start = self.cut if start is None else max(start, self.cut)
        shift = self.cut or 0
        last_pts: int | None = None
        first_pts: int | None = None  # of the first frame read: where --duration counts from
        most_frames, most_seconds = self.limit
        # A preview's other streams: its packets wait until a frame shows that the output reaches
        # them (a packet starting before the end of a frame that is kept), and what is left when the
        # preview ends is dropped, so its sound stops with its pictures, not where the demuxer had
        # read ahead to (up to a second of interleaving); at most one packet (an AAC frame: 21-23
        # ms) starts before the last frame's end and runs past it.
        held: deque | None = deque() if self.limit != (None, None) else None
        kept_until: Fraction | None = None  # the last kept frame's end, in seconds (a preview's)
        damaged_run = 0  # damaged packets in a row
        # closed captions of the decoded pictures, (pts, cc_data), read before any deinterlacing or inverse
        # telecine (which drops a picture in five, and its captions with it) and handed on with the frames
        captions: deque | None = deque() if self.captions else None
        unread_captions = False  # captions that began after the first picture (or come from a pipe)
        look_for_captions = self.captions or self.copy_subtitles  # per picture: kept, or said once to be lost

        looked_back = None
        if self.cut_at is not None:  # the subtitle lines on screen at the cut, however long before its keyframe
            looked_back = subtitles_across(self.src, [s.index for s in extra if s.type == "subtitle"], self.cut_at)
            if looked_back is not None:
                self._looked_back = looked_back[0]
                for line in looked_back[1]:
                    if not emit(Passthrough(line)):
                        return ""

        def pass_on(packet) -> bool:  # noqa: ANN001 - av.Packet of a copied stream: handed on, from the cut on
            if self.cut_at is not None and not from_cut(packet, self.cut_at, across=looked_back is None):
                return True
            return emit(Passthrough(packet))

        def release(until: Fraction | None) -> bool:  # the held packets starting before ``until`` seconds (all: None)
            while held:
                begins = None if until is None else packet_start(held[0])
                if begins is not None and begins >= until:
                    break
                if not pass_on(held.popleft()):
                    return False
            return True

        def caption_lines(upto: int | None) -> bool:  # the captions of the pictures up to pts ``upto`` (None: all)
            while captions:
                pts, data = captions[0]
                if upto is not None and pts > upto:
                    break
                captions.popleft()
                if (start is None or pts >= start) and (end is None or pts < end) and \
                        not emit(Passthrough(CaptionData(data, pts - shift))):
                    return False
            return True

        def handle(frame) -> str | None:  # noqa: ANN001 - av.VideoFrame; a reason to stop, or None
            nonlocal last_pts, first_pts, kept_until
            pts = frame.pts
            if start is not None or end is not None:  # a segment: the stream's own timestamps
                if pts is None and self.cut is not None:
                    raise InputError(f"{self.src}: its frames carry no timestamps, so --start cannot find its "
                                     "time in them; cut it with --frames from the start instead")
                if pts is None:
                    raise InputError(f"{self.src}: frames without timestamps cannot be cut into segments; "
                                     "run it in one pass (--segments off)")
                if start is not None and pts < start:
                    return None  # decoded only as a reference for what follows
                if end is not None and pts >= end:
                    return "end"  # frames come in display order: the span is complete
            if pts is None or (last_pts is not None and pts <= last_pts):
                pts = step if last_pts is None else last_pts + max(step, 1)
                report.timestamp_fixes += frame.pts is not None
            last_pts = pts
            first_pts = pts if first_pts is None else first_pts
            if most_frames is not None and report.frames_in >= most_frames:
                return "frames"
            if most_seconds is not None and (pts - first_pts) * tb >= most_seconds:
                return "duration"
            if captions and not caption_lines(frame.pts):
                return ""
            if not emit(Frame(report.frames_in, pts - shift, time.perf_counter(), frame)):
                return ""
            report.frames_in += 1
            if self.seconds_declared:  # (per frame: only where a truncation is looked for)
                self.read_until = (pts + (frame.duration or step) - (video.start_time or 0)) * tb
            if held is not None:
                kept_until = (pts + (frame.duration or step)) * tb
                if not release(kept_until):
                    return ""
            return None

        def finish(outcome: str) -> str:
            """``outcome``; where a preview's limit ended the run, first the other streams' packets that
            start before the last kept frame's end and were not read yet: a decoder that hands each
            frame out as soon as its packet is in (one thread: one CPU) had the demuxer stop short of
            them, and the sound ended a packet early. Demuxed only (no frame decodes), until every
            audio stream is past that end or :data:`PREVIEW_INTERLEAVE` seconds more were read (not
            for subtitles alone: sparse, they could have it read all of that, from a network too)."""
            if outcome not in ("frames", "duration") or held is None or kept_until is None:
                return outcome
            if not release(kept_until):
                return ""
            waiting = {s.index for s in extra if s.type == "audio"}
            if not waiting:
                return outcome
            try:
                for packet in packets:
                    if stop.is_set():
                        return ""
                    begins = packet_start(packet)
                    if packet.dts is None or begins is None:
                        continue
                    if begins >= kept_until + PREVIEW_INTERLEAVE:
                        break
                    if packet.stream.index == video.index:
                        continue
                    if begins >= kept_until:
                        waiting.discard(packet.stream.index)
                        if not waiting:
                            break
                    elif not pass_on(packet):
                        return ""
            except av_failures():  # the frames and sound so far are kept, as at a damaged end
                pass
            return outcome

        try:
            # a segment's span or --start: decoded from where decoding reaches its first frame (a transport
            # stream's seek lands on any packet, and its decoder then waits for the next keyframe: a job's
            # segments of one lost their first keyframe's frames, 36 of 240 in all)
            if start is not None and (point := self._seek_point(self._preroll(start))) is not None:
                self.container.seek(point, stream=video, backward=True, any_frame=False)
            packets = self.container.demux(video, *extra)
            if self.continuity is not None:
                packets = _shifted(packets, self.continuity)
            for packet in packets:
                if stop.is_set():
                    return ""
                if packet.stream.index != video.index:
                    if packet.dts is None:
                        continue
                    if held is not None:
                        held.append(packet)
                    elif not pass_on(packet):
                        return ""
                    continue
                try:
                    pictures = self.decoder.decode(packet) if self.decoder is not None else packet.decode()
                except av.error.FFmpegError:  # a damaged packet: skipped, as FFmpeg's command line does
                    report.damaged_packets += 1
                    damaged_run += 1
                    if damaged_run > DAMAGED_RUN:  # not damage here and there: a stream that does not decode
                        raise
                    continue
                damaged_run = 0
                for decoded in pictures:
                    if self.decode_times:
                        decoded.pts = decoded.dts  # None for the last few: each gets the next free time
                    if look_for_captions and (data := caption_bytes(decoded)) is not None and decoded.pts is not None:
                        if captions is not None:
                            captions.append((decoded.pts, data))
                        else:  # noted once at the end; no need to look again
                            unread_captions, look_for_captions = True, False
                    for frame in self._deinterlaced(decoded, report):
                        if (outcome := handle(frame)) is not None:
                            return finish(outcome)
        except av_failures() as exc:  # what decoded is kept; the caller reports it
            report.decode_error = str(read_error(exc, "decoding"))
        if self.bwdif is not None:  # the frames the deinterlacer still holds
            try:
                for frame in self.bwdif.flush():
                    if (outcome := handle(frame)) is not None:
                        return outcome
            except av_failures() as exc:
                report.decode_error = report.decode_error or str(read_error(exc, "deinterlacing"))
        if not release(None) or not caption_lines(None):  # the file ended inside the preview's limit: all of its sound
            return ""
        if unread_captions:
            report.notes.append("closed captions that appear only late in the video (past its first 20 seconds and "
                                "the places sampled after them) or in a pipe are not kept: sr-stream looks for them "
                                "there before the run")
        return "end"

    def _seek_point(self, target: int) -> int | None:
        """Where to seek so that decoding reaches the frame at ``target`` (a segment's first, or
        ``--start``'s): ``target`` itself where the format's seek lands on a keyframe at or before
        it (an indexed MP4 or MKV), else earlier: a transport stream seeks by time onto any packet,
        and its decoder then waits for the next keyframe, past the target (tried 1, 3, 10 and 60 s
        before, each with a first frame decoded on a second opening of the file); None: decode
        from the file's start (a pipe too)."""
        if self.src == PIPE:
            return None
        tb, first_pts = self.video.time_base, self.video.start_time or 0
        for back in (0, 1, 3, 10, 60):
            point = target - round(back / tb)
            if point <= first_pts:
                return None
            try:
                with open_input(self.src) as container:
                    video = container.streams[self.video.index]
                    container.seek(point, stream=video, backward=True, any_frame=False)
                    first = next(iter(container.decode(video)), None)
            except av_failures():
                return None
            if first is not None and first.pts is not None and first.pts <= target:
                return point
        return None

    def _preroll(self, start: int) -> int:
        """Where a segment starting at ``start`` decodes from: for telecined film, a whole five of
        frames before the five that holds ``start``, counted from the file's first frame, so that
        fieldmatch and decimate see around the segment's first frames what one pass sees, and the
        film frames are timed as one pass times them (:class:`InverseTelecine`); the frames it
        rebuilds before ``start`` belong to the segment before and are dropped."""
        if not self.ivtc or self._origin is None:
            return start
        step = self.bwdif.step
        five = max(0, (start - self._origin) // step // 5 - 1)
        self._ivtc_from = self._origin + five * 5 * step
        return min(start, self._ivtc_from)

    def _deinterlacer(self, notes: list[str]) -> Deinterlacer:
        """bwdif for this video, a frame a field with ``--deinterlace double`` where its time base
        holds field times (:func:`fields_fit`); what it does said in ``notes``."""
        self.doubled = self.deinterlace == "double" and fields_fit(self.video)
        if self.deinterlace == "double" and not self.doubled:
            notes.append("the input is interlaced, and its time base has no time between two frames (a frame a "
                         "tick): each frame deinterlaced into one (FFmpeg's bwdif), not a frame a field "
                         "(--deinterlace double)")
        else:
            notes.append(DOUBLED_NOTE if self.doubled else DEINTERLACED_NOTE)
        return Deinterlacer(self.video, fields=self.doubled)

    def _deinterlaced(self, frame, report: Report) -> list:  # noqa: ANN001 - av.VideoFrame
        """``frame``, or what the deinterlacer gives back for it (the frame before, once it has
        the one after). ``--deinterlace auto`` decides at the first frame: on where it is interlaced."""
        if self.bwdif is None and self.deinterlace != "off" and not self._deinterlace_decided:
            self._deinterlace_decided = True
            if self.deinterlace == "on" or frame.interlaced_frame:
                self.bwdif = self._deinterlacer([] if self._deinterlace_noted else report.notes)
        if self.ivtc and self._ivtc_from is not None and frame.pts is not None \
                and frame.pts < self._ivtc_from - self.bwdif.step // 2:
            return []  # before the segment's first five: not pushed, so the fives fall as in one pass
        if self.ivtc or self.doubled:  # four frames (or two) go on for one decoded: the input's end is judged by
            report.frames_decoded = (report.frames_decoded or 0) + 1  # what decoded
        return self.bwdif.push(frame) if self.bwdif is not None else [frame]

    def close(self) -> None:
        self.container.close()
        if self._looked_back is not None:  # subtitles_across's opening, whose lines the sink has muxed by now
            self._looked_back.close()


def _output_streams(container, options: EncodeOptions, source: FileSource,  # noqa: ANN001 - av container
                    size: tuple[int, int], suffix: str, copied: list[str], notes: list[str]) -> tuple:
    """The output's streams in ``container`` (the file's, or :func:`rehearse`'s in memory): the
    encoder's at ``size``, like the input's video, and the copied or re-encoded audio and subtitles,
    with the container's metadata, and a caption stream for the closed captions in its pictures. Returns
    (video stream, RGB-to-frame converter, copied streams, pix_fmt, :class:`~srstream.engine.captions.Captions`
    or None)."""
    video = source.video
    rate = source.rate
    stream, pix_fmt, note = add_video_stream(container, options, rate, *size, video.time_base, source.matrix,
                                             like=video, alpha=source.alpha)
    exact_start(container, stream)
    if note:
        notes.append(note)
    convert = frame_converter(pix_fmt, source.matrix, size, alpha=keeps_alpha(source, pix_fmt))
    # a part's end (--duration, --to; --frames at the video's rate, the chapters being written first): the
    # chapters end there
    frames, seconds = source.limit
    until = Fraction(seconds).limit_denominator(1_000_000) if seconds else None
    rate = video_rate(video)
    if frames and rate:
        until = min(until, frames / rate) if until is not None else frames / rate
    streams = copy_streams(container, source.copied, suffix, copied, (source.cut_at, until), notes)
    streams.update(copy_container_metadata(source.container, container, suffix, copied, notes, cut=source.cut_at,
                                           until=until))
    captions = caption_track(container, suffix, video.time_base, copied, notes) if source.captions else None
    return stream, convert, streams, pix_fmt, captions


def keeps_alpha(source: FileSource, pix_fmt: str) -> bool:
    """Whether an output stream in ``pix_fmt`` keeps the transparency ``source`` carries."""
    return source.alpha and (pix_fmt == "pal8" or has_alpha(pix_fmt))


def rehearse_output(source: FileSource, format_name: str, suffix: str, size: tuple[int, int],
                    options: EncodeOptions) -> bytes:
    """:func:`rehearse` the output of ``source`` upscaled to ``size``, into the ``format_name``
    muxer (a ``suffix`` file), before any work; returns what it wrote.

    Raises:
        OutputError: the encoder or the muxer refuses it (FFmpeg's reason, and what to try).
    """
    return rehearse(format_name, options,
                    lambda box, opts: _output_streams(box, opts, source, size, suffix, [], [])[:3], size,
                    f"a {suffix} output with {options.codec}",
                    first_packets(None if source.src == PIPE else source.src, source.copied))


def _gif_loop(source: FileSource, path: Path) -> dict[str, str]:
    """The GIF muxer's ``loop`` (the APNG muxer's ``plays``) for a GIF or an animated PNG out of a
    GIF or an animated PNG (an animated WebP's too, read through one): as often as the input's own
    loop block or ``acTL`` says (a GIF without one plays once); for ever out of a video (FFmpeg's
    GIF default; its APNG muxer's is once)."""
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".apng"):
        return {}
    plays = 0  # for ever
    if source.src != PIPE and source.container.format.name in ("gif", "apng"):
        from srstream.engine.animated import apng_plays, gif_repeats

        if source.container.format.name == "apng":
            plays = apng_plays(source.src)
            if plays is None:
                return {}
        else:
            repeats = gif_repeats(source.src)
            plays = 1 if repeats is None else 0 if repeats == 0 else repeats + 1
    if suffix == ".apng":
        return {"plays": str(plays)}
    return {"loop": str(0 if plays == 0 else -1 if plays == 1 else plays - 1)}


class FileSink:
    """Upscaled frames and passed-through packets -> one output file (or Matroska on stdout),
    encoded on its own thread behind a bounded queue (it waits: nothing is dropped).

    ``close("done")`` checks that every frame sent was encoded and renames the file into place;
    ``close("interrupted")`` keeps what was written as ``NAME.interrupted.EXT``; ``close("failed")``
    deletes it.
    """

    def __init__(self, dst: Path, source: FileSource, size: tuple[int, int], options: EncodeOptions, report: Report,
                 queue_size: int = 8, rehearsed: bool = False) -> None:
        import av

        self.options, self.report, self.source = options, report, source
        self.pending = StdoutOutput() if dst == PIPE else PendingOutput(dst)
        self.tmp = self.pending.tmp
        self.q = Channel(queue_size)
        self.sent = 0
        self.error: BaseException | None = None
        self.dead = threading.Event()  # the writer failed: nobody drains the queue any more
        self.container = None
        try:
            with writing(self.tmp, options.codec):
                self.container = av.open("pipe:1", "w", format="matroska") if dst == PIPE \
                    else av.open(str(self.tmp), "w", options=_gif_loop(source, self.tmp))
            #: the input's projection boxes, added once the muxer wrote the index at the end (not fast-start)
            self.projection = output_projection(source.projection, self.container.format.name, self.tmp.suffix,
                                                report.notes)
            if self.projection is None:
                web_ready(self.container)
            self.size = size  # (width, height) of the output frames
            if not rehearsed:  # a job's segments: once for them all, before the first (Upscaler._joinable)
                rehearse_output(source, self.container.format.name, self.tmp.suffix, self.size, options)
            self.stream, self.convert, self.copied, self.pix_fmt, self.captions = _output_streams(
                self.container, options, source, self.size, self.tmp.suffix, report.copied_streams, report.notes)
            self.alpha = keeps_alpha(source, self.pix_fmt)
        except BaseException:
            self._abandon()
            raise
        self.thread = threading.Thread(target=self._write, name="encode", daemon=True)
        self.thread.start()

    @property
    def takes_yuv(self) -> bool:
        """The encoder takes the kernels' planes as they are: 8-bit limited-range 4:2:0, upright."""
        return self.pix_fmt == "yuv420p" and not self.source.turns and not self.source.deep

    def send(self, frame: Upscaled, abort: threading.Event) -> bool:
        if self.dead.is_set():
            return False
        self.sent += 1
        return self.q.put(frame, self.dead)

    def passthrough(self, packet: Passthrough, abort: threading.Event) -> bool:
        return not self.dead.is_set() and self.q.put(packet, self.dead)

    def _write(self) -> None:
        import av

        tb = self.source.video.time_base
        last = None  # the latest frame's pts
        rate = self.source.rate
        ticks = self.stream.codec_context.time_base
        given = 0  # frames given to the encoder
        last_tick = None
        order = CopiedOrder()
        try:
            for item in self.q.drain():
                if isinstance(item, Passthrough) and isinstance(item.packet, CaptionData):
                    for packet in self.captions.packets(item.packet) if self.captions is not None else ():
                        self.container.mux(packet)
                    continue
                if isinstance(item, Passthrough):
                    mux_copied(self.container, self.copied, item.packet, order=order)
                    self.report.packets_copied += 1
                    continue
                if item.yuv is not None:  # already the encoder's yuv420p, in the input's matrix and range
                    frame = av.VideoFrame.from_ndarray(item.yuv, format="yuv420p")
                else:
                    frame = self.convert(item.rgb)
                frame.pts, frame.time_base = item.src.pts, tb
                if ticks != tb:  # a frame a tick (MPEG-2, .y4m, .ogv): the next free tick, for a variable rate
                    tick = round(item.src.pts * tb / ticks)
                    frame.pts, frame.time_base = tick if last_tick is None else max(tick, last_tick + 1), ticks
                    last_tick = frame.pts
                last = item.src.pts if last is None else max(last, item.src.pts)
                given += 1
                for packet in plausible_dts(self.stream.encode(frame)):
                    self.container.mux(packet)
                    self.report.frames_out += 1
            for packet in plausible_dts(self.stream.encode(None), short=given < 3):
                self.container.mux(packet)
                self.report.frames_out += 1
            end = None if last is None else last * tb + 1 / rate
            mux_copied(self.container, self.copied, None, end)  # what the re-encoded streams still hold
            self.report.notes.extend(undecodable(self.copied) + order.notes())
            if self.captions is not None:
                for packet in self.captions.packets(None, end):  # the line still on screen at the end
                    self.container.mux(packet)
                if self.captions.bad:
                    self.report.notes.append(f"{self.captions.bad} pictures' closed captions did not decode and "
                                             "were left out")
        except av_failures() as exc:
            self.error = write_error(exc, self.tmp, self.options.codec)
        except BaseException as exc:  # noqa: BLE001 - raised by close() on the caller's thread
            self.error = exc
        finally:
            if self.error is not None:
                self.dead.set()

    def _abandon(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # noqa: BLE001 - already failing; the file is deleted anyway
                pass
            self.container = None
        self.pending.discard()

    def close(self, outcome: str) -> None:
        self.q.close()
        self.thread.join()
        if outcome == "failed":
            self._abandon()
            return
        closing, self.container = self.container, None
        languages = track_languages(closing)
        try:
            closing.close()  # writes the trailer (the moov of an .mp4): a full disk shows here
            if languages and self.error is None:
                write_languages(self.tmp, languages)
            if self.projection is not None and self.error is None:
                write_projection(self.tmp, self.projection, self.report.notes)
        except av_failures() as exc:
            self.error = self.error or write_error(exc, self.tmp, self.options.codec)
        if self.error is not None:
            self.pending.discard()
            raise self.error
        report = self.report
        if outcome == "interrupted":
            if report.frames_out:
                report.kept = self.pending.keep_partial()
            else:
                self.pending.discard()
            return
        if report.frames_in and report.frames_out != self.sent:
            self.pending.discard()
            raise SRStreamError(f"the encoder wrote {report.frames_out} frames for {self.sent} decoded; "
                                "nothing was written (please report this)")
        if report.frames_in:
            if not isinstance(self.pending, StdoutOutput):
                try:
                    frames_kept(self.tmp, report.frames_out)
                except OutputError:
                    self.pending.discard()
                    raise
                except av_failures() as exc:
                    self.pending.discard()
                    raise write_error(exc, self.tmp) from exc
            report.output = self.pending.commit()
        else:
            self.pending.discard()


class StdoutOutput:
    """``-o -``: the video streams to standard output as Matroska; nothing to lock or rename (a file
    run's and a live recording's, in place of :class:`srstream.atomic.PendingOutput`)."""

    tmp = Path("<stdout>.mkv")

    def __enter__(self) -> StdoutOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> Path:
        return PIPE

    def keep_partial(self) -> Path:
        return PIPE

    def discard(self) -> None:
        pass


def clock(seconds: float) -> str:
    """``seconds`` as a player shows a time: ``"1:02:03.5"``, ``"12:30"``, ``"0:07.25"``."""
    whole, part = divmod(round(seconds * 1000), 1000)
    hours, rest = divmod(whole, 3600)
    text = (f"{hours}:{rest // 60:02d}" if hours else f"{rest // 60}") + f":{rest % 60:02d}"
    return text + (f".{part:03d}".rstrip("0") if part else "")


def part_note(frames: int, stopped_by: str, start: float | None = None, seconds: float | None = None) -> str:
    """What a run of part of a video says it kept: ``frames`` frames, where it stopped at ``--frames``
    or ``--duration`` (``stopped_by``; "end": the input's end), from ``start`` (``--start``);
    ``seconds``: the duration asked, said as the scene's end, which ``--to`` gives too."""
    many = "1 frame" if frames == 1 else f"{frames} frames"
    if stopped_by not in ("frames", "duration"):
        return f"from {clock(start or 0)} on (--start): the output's times count from there"
    if start:
        if stopped_by == "duration" and seconds:
            return f"{many} from {clock(start)} to {clock(start + seconds)} only: the rest of the input was not read"
        return f"{many} from {clock(start)} only (--start, --{stopped_by}): the rest of the input was not read"
    first = "the first frame" if frames == 1 else f"the first {frames} frames"
    return f"{first} only (--{stopped_by}): the rest of the input was not read"


def end_of_input(src: Path, report: Report, start: float | None = None, seconds: float | None = None) -> None:
    """What a file run (into a video, numbered frames or an animation) says when its input is read:
    that it stopped at ``--frames`` or ``--duration`` (:func:`part_note`), or started at ``start``.

    Raises:
        InputError: no frame decoded (and the run was not interrupted); none at or after ``start``.
    """
    if report.frames_in == 0 and not report.interrupted:
        why = f" ({report.decode_error})" if report.decode_error else ""
        if start and not report.decode_error:
            raise InputError(f"{src} has no frames from {clock(start)} on (--start): it ends before; nothing was "
                             "written")
        raise InputError(f"{src} has a video stream but no decodable frames{why}; nothing was written")
    if report.stopped_by in ("frames", "duration") or start:
        report.notes.append(part_note(report.frames_in, report.stopped_by, start, seconds))


def _as_input_frames(progress: Callable[[int], None] | None, source: FileSource) -> Callable[[int], None] | None:
    """``progress`` counted in the input's frames, the count a run's progress bar is sized by: two frames
    written for one field-doubled (``--deinterlace double``: the bar went on to 200%), four for five of
    telecined film rebuilt (it stopped at 80%)."""
    if progress is None:
        return None
    counted = [Fraction(0), 0]  # the input frames written, and those reported

    def advance(n: int) -> None:
        counted[0] += n * (Fraction(1, 2) if source.doubled else Fraction(5, 4) if source.ivtc else 1)
        whole = int(counted[0]) - counted[1]
        if whole > 0:
            counted[1] += whole
            progress(whole)

    return advance


def upscale_video(src: Path, dst: Path, upscaler: FrameUpscaler, options: EncodeOptions = EncodeOptions(), *,
                  progress: Callable[[int], None] | None = None, queue_size: int = 8,
                  span: tuple[int | None, int | None] = (None, None), rehearsed: bool = False,
                  deinterlace: str = "auto", limit: tuple[int | None, float | None] = (None, None),
                  start: float | None = None) -> Report:
    """Upscale the video stream of ``src`` (:func:`~srstream.engine.media.main_video`) into ``dst``
    (written via a temporary file): a :class:`FileSource` through the pipeline into a :class:`FileSink`.

    ``span``: one segment of a job (:mod:`srstream.engine.jobs`), see :class:`FileSource`.
    ``rehearsed``: these settings were already tried in memory (:func:`rehearse_output`; a job does
    that once before its first segment), so the sink does not try them again. ``deinterlace``:
    ``auto`` deinterlaces a video whose first frame is interlaced (:class:`Deinterlacer`), ``on``
    every frame marked interlaced, ``off`` none. ``limit``: (frames, seconds), the most of either
    taken from the start; ``start``: the seconds into the file it starts at (see :class:`FileSource`).

    Raises:
        InputError: no frames, a corrupt stream, a mid-stream size change.
        OutputError: the output cannot be written (full disk, unsupported stream copy).
        ConfigError: an unavailable codec or a bad option.
        KeyboardInterrupt is not raised: an interrupted run returns a report with
        ``interrupted=True`` and a valid, shorter output.
    """
    source = FileSource(src, copy_audio=options.copy_audio, copy_subtitles=options.copy_subtitles, span=span,
                        deinterlace=deinterlace, limit=limit, start=start)
    upscaler = wrapped_sideways(upscaler) if source.wraps else upscaler
    report = Report(source=str(source), frames_declared=source.frames_declared, notes=list(source.notes))
    try:
        sink = FileSink(dst, source, output_size(upscaler, *source.size), options, report, queue_size, rehearsed)
    except BaseException:
        source.close()
        raise
    source.alpha = sink.alpha  # decoded as RGBA only where the output keeps the transparency
    stage = UpscaleStage([Rung("", lambda: upscaler)], yuv=sink.takes_yuv)
    run(source, stage, [sink], report=report, queue_size=queue_size, progress=_as_input_frames(progress, source))
    if report.frames_in == 0 and not report.interrupted and src == PIPE \
            and source.container.format.name.startswith("mov,"):  # its index after its data
        raise InputError("the MP4/MOV on standard input gave no frames: one whose index (moov) comes after its "
                         "data cannot be read from a pipe; pass the file itself, or remux it first with "
                         "ffmpeg -i IN -c copy -movflags faststart OUT.mp4 (or send Matroska: -f matroska -)")
    end_of_input(src, report, start, limit[1])
    short = short_of_declared(source.seconds_declared, None if source.read_until is None else float(source.read_until))
    if short and report.stopped_by == "end":
        report.notes.append(short)
    if source.continuity is not None and source.continuity.jumps:
        jumps = source.continuity.jumps
        report.notes.append(f"the input's timestamps jump {jumps} time{'s' if jumps > 1 else ''} (files joined end to "
                            "end, a recorder restarted): what follows each jump is moved on to go on from where the "
                            "streams were, its sound and pictures in step")
    if report.timestamp_fixes:
        report.notes.append(f"{report.timestamp_fixes} frames had missing or repeated timestamps and were given "
                            "the next free one")
    if report.damaged_packets:
        short = (f"; the input declares {report.frames_declared} frames, {report.frames_in} decoded"
                 if report.frames_declared > report.frames_in else "")
        report.notes.append(f"{report.damaged_packets} damaged packets of the input's video did not decode and were "
                            f"skipped, as FFmpeg's players skip them{short}: the output holds every frame that "
                            "decoded, each at its own time (the sound stays in step)")
    return report
