"""How hard a video was compressed, read from its own bitstream: the decoder's quantiser.

FFmpeg's H.264 decoder (and its VP9, MPEG-1/2 and MPEG-4 part 2 ones, each on its own scale, which
:data:`SCALES` maps onto H.264's) can export the quantiser of every block of every frame
(``export_side_data=venc_params``). Its HEVC and AV1 decoders export none; their streams' headers
carry each slice's or frame's base quantiser, which :class:`HeaderTrace` reads through FFmpeg's own
header parsers; an MJPEG frame carries its quantisation tables (:func:`jpeg_quantiser`), a VP8
frame its quantiser index (:func:`vp8_quantiser`). The mean over the first frames is a direct
measure of how much the encoder threw away, independent of the content: for libx264 it sits
about 4-5 above the CRF (measured on Big Buck Bunny at 960x540: CRF 18 -> 22.5, 23 -> 27.3,
30 -> 35.2). Bits per pixel, the usual stand-in, depends on the content as much as on the
encoder (our own clips span 0.007-0.08 bits per pixel at quantisers 17-30), so it is not used to
choose a model.

:func:`measure` costs one decode of the first ``frames`` frames, before any model runs. It also
takes the :class:`~srstream.engine.screen.Look` of every tenth of them (whether the video looks
like a screen recording), which costs a few milliseconds a frame, and, in a longer file, of the
keyframe before each of :data:`SPREAD_LOOKS` places spread over it (a seek and a frame's decode
each), which decide alone where at least half of them are distinct keyframes: a film that opens
on titles (flat ground, sharp letters) looked like a screen recording from its first frames alone
(the 60-s Big Buck Bunny clip: 56% flat, 1.5% sharp edges there; 9% and 3.1% over the whole clip).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from srstream.engine.av_errors import open_av, side_data
from srstream.engine.screen import Look
from srstream.engine.sequence import open_input

__all__ = ["HEADER_CODECS", "SCALES", "SPREAD_LOOKS", "Compression", "HeaderTrace", "frame_qp", "jpeg_quantiser",
           "measure", "PICTURE_OFFSETS", "picture_quantiser", "read_compression", "vp8_quantiser", "webp_quantiser"]

#: Places spread over a video longer than the frames read, whose looks join those of its first frames.
SPREAD_LOOKS = 8

#: Other codecs' quantisers on H.264's scale: (offset, slope, whether the slope is of
#: 6 log2 of the quantiser), fitted at equal Y-PSNR against libx264 medium on four shared clips
#: (``benchmarks/quantiser_scales.py``; results/bench/quantiser_scales.md). VP9's q index (0-255)
#: maps linearly (rms error 1.2 of H.264's steps); the MPEG decoders export twice the qscale (a
#: linear step size, where H.264's doubles every 6 steps): MPEG-2's fit serves MPEG-1 too, which
#: quantises alike, and MPEG-4 part 2 (Xvid, DivX) has its own. HEVC's slice QP and AV1's base q index, which
#: :class:`HeaderTrace` reads from the headers (their decoders export none), map linearly too (rms 1.7 and 2.2);
#: both leave out the blocks' own offsets, which the fitted offset takes in at x265's and SVT-AV1's usual mean.
#: MJPEG's is the mean step of each frame's luma quantisation table (:func:`jpeg_quantiser`), VP8's its luma AC
#: step (:func:`vp8_quantiser`), both logarithmic as the MPEG quantisers' (rms 2.9 and 2.3).
SCALES = {"vp9": (11.37, 0.1299, False), "mpeg2video": (15.02, 0.8395, True), "mpeg1video": (15.02, 0.8395, True),
          "mpeg4": (14.07, 0.9065, True), "hevc": (-2.84, 0.9728, False), "av1": (11.63, 0.1133, False),
          "mjpeg": (10.95, 0.8221, True), "vp8": (5.41, 0.8571, True)}

#: What an AVIF's AV1 q index and a HEIC's HEVC slice QP (one intra picture, :func:`picture_quantiser`) add
#: on H.264's scale to their video fits in :data:`SCALES`, measured not derived: ``realtime-x2-compressed``
#: begins to gain over ``realtime-x2`` (the mean of Set5's, Set14's and BSD100's gains) at libaom's q index
#: 42 and x265's slice QP 19, which the video fits put at 16.4 and 15.7, under the threshold of 22 a video's
#: quantiser is held to (benchmarks/lossy_stills_variant.py; results/bench/avif_stills_variant.md,
#: heic_stills_variant.md). JPEG's and WebP's pictures need none: theirs cross at 22-24 on the MJPEG and VP8 fits.
#: SVT-AV1's AVIFs, read with the same offset, cross at 20.2 (avif_svt_stills_variant.md): it holds there too.
PICTURE_OFFSETS = {"av1": 5.6, "hevc": 6.25}


@dataclass(frozen=True)
class Compression:
    """``qp``: the mean block quantiser of the frames read (None when the codec does not export
    one); ``codec``: the stream's codec; ``frames``: how many frames were read; ``look``: the
    mean look of the keyframes spread over a longer video (:data:`SPREAD_LOOKS`), or where too
    few could be reached, of those and every tenth frame read (None when none could be converted)."""

    codec: str
    qp: float | None
    frames: int
    look: Look | None = None

    @property
    def h264_qp(self) -> float | None:
        """The quantiser on H.264's 0-51 scale, which the model choice was measured on: H.264's
        own, or another codec's mapped onto it (:data:`SCALES`: VP9's q index, the MPEG
        decoders' qscale, HEVC's slice QP, AV1's base q index, MJPEG's mean luma step, VP8's luma
        AC step); None where none was read."""
        if self.qp is None or self.codec == "h264":
            return self.qp
        if self.codec not in SCALES:
            return None
        offset, slope, logarithmic = SCALES[self.codec]
        return offset + slope * (6 * math.log2(max(self.qp, 1.0)) if logarithmic else self.qp)

    def describe(self) -> str:
        if self.qp is None:
            return f"{self.codec} (its decoder exports no quantiser)"
        said = f"{self.codec} at mean quantiser {self.qp:.1f} over {self.frames} frames"
        mapped = self.h264_qp
        return said if self.codec == "h264" or mapped is None else f"{said} (H.264's {mapped:.1f})"


def measure(path: str | Path, frames: int = 30) -> Compression | None:
    """The compression of the first video stream of ``path`` (None: not a readable video).

    Reads at most ``frames`` frames; never raises for a damaged or unusual file (the run itself
    reports what is wrong with it).
    """
    from srstream.engine.av_errors import av_failures
    from srstream.engine.media import main_video

    try:
        with open_input(path) as container:
            stream = main_video(container)
            return None if stream is None else read_compression(container, stream, frames)
    except (*av_failures(), OSError, ValueError):
        return None


def picture_quantiser(source) -> tuple[str, float] | None:  # noqa: ANN001 - a path or a binary file
    """The codec (``av1`` or ``hevc``) and base quantiser of the picture an AVIF or HEIC/HEIF file
    holds (an AV1 or HEVC intra frame in an ISO BMFF image item, which FFmpeg's demuxer opens as a
    one-frame stream; a tiled phone picture as a stream per tile, the first read), from its headers
    alone (:class:`HeaderTrace`: AV1's ``base_q_idx``, HEVC's slice QP), without decoding it. None
    for anything else or unreadable; never raises."""
    from srstream.engine.av_errors import av_failures
    from srstream.engine.media import main_video

    try:
        with open_av(str(source) if isinstance(source, Path) else source) as container:
            stream = main_video(container)
            codec = stream.codec_context.codec.canonical_name if stream is not None else None
            trace = HeaderTrace.of(stream) if codec in HEADER_CODECS else None
            if trace is None:
                return None
            for packet in container.demux(stream):
                trace.feed(packet)
                if packet.size:
                    break
            found = trace.quantisers()
    except (*av_failures(), OSError, ValueError):
        return None
    return (codec, sum(found) / len(found)) if found else None


def read_compression(container, stream, frames: int = 30, spread: bool = True) -> Compression | None:  # noqa: ANN001
    """:func:`measure` of ``stream`` in an open ``container`` that has not been decoded yet (a file,
    or a network stream opened for it): its first ``frames`` frames, and with ``spread`` the
    keyframes spread over a longer file. None when no frame decoded.

    Raises:
        av.error.FFmpegError, OSError, ValueError: the container failed before ``frames`` were read.
    """
    import numpy as np

    from srstream.engine.screen import look, mean_look

    qps: list[float] = []
    looks: list[Look] = []
    read = 0
    codec = stream.codec_context.codec.canonical_name  # "av1" whichever decoder (libdav1d) reads it
    trace = HeaderTrace.of(stream) if codec in HEADER_CODECS else None
    stream.codec_context.options = {"export_side_data": "venc_params"}
    reader = _FRAME_QUANTISERS.get(codec)
    headers: list[float] = []  # what each frame's own header says (MJPEG's table, VP8's index)
    for packet in container.demux(stream):
        if trace is not None:
            trace.feed(packet)
        elif reader is not None and packet.size and (found := reader(memoryview(packet))) is not None:
            headers.append(found)
        for frame in packet.decode():
            read += 1
            for data in side_data(frame):
                if data.type.name == "VIDEO_ENC_PARAMS":
                    qps.append(frame_qp(data))
            if read % 10 == 1:
                looks.append(look(frame.to_ndarray(format="gray")))
            if read >= frames:
                break
        if read >= frames:
            break
    if trace is not None:
        qps = trace.quantisers()
    elif reader is not None:
        qps = headers
    more = _spread_looks(container, stream) if spread and read >= frames else []
    # the whole video decides where it shows enough of itself; else its start does too
    looks = more if more and len(more) >= SPREAD_LOOKS // 2 else looks + more
    if not read:
        return None
    return Compression(codec, float(np.mean(qps)) if qps else None, read, mean_look(looks))


def frame_qp(params) -> float:  # noqa: ANN001 - an av VideoEncParams side data
    """A frame's mean block quantiser from its ``VIDEO_ENC_PARAMS`` side data: the frame's base
    quantiser plus the mean of its blocks' deltas, read from the side data's own block table (each
    block's ``delta_qp`` at byte 16 of its ``AVVideoBlockParams``), or the base alone where it lists
    no blocks. Not PyAV's ``qp_map``, which expects exactly one block per 16x16 macroblock of the
    frame: an interlaced H.264 frame coded as field pairs (MBAFF) lists its macroblock pairs to a
    height rounded up to 32 lines (320x240: 320 blocks for 300 macroblocks), and ``qp_map`` raised
    RuntimeError for it, which ended a broadcast recording's run in a traceback."""
    import numpy as np

    if not params.nb_blocks:
        return float(params.qp)
    table = np.frombuffer(memoryview(params), dtype=np.uint8)
    start, size = params.blocks_offset, params.block_size
    blocks = table[start:start + params.nb_blocks * size].reshape(params.nb_blocks, size)
    return float(params.qp) + float(np.mean(blocks[:, 16:20].copy().view(np.int32)))


def jpeg_quantiser(data: bytes | memoryview) -> float | None:
    """The mean step of a JPEG picture's luma quantisation table (its ``DQT`` segment's table 0,
    8- or 16-bit entries), as an MJPEG frame (a webcam's, an old camera's) carries it in its own
    header; None where it has none. What any encoder's quality setting comes down to: libjpeg's
    quality 75 gives 29, 90 gives 11.5; FFmpeg's encoder scales its tables by its qscale."""
    import numpy as np

    from srstream.engine.stills import jpeg_segments

    for segment in jpeg_segments(data, (0xDB,)):
        at, end = 4, len(segment)
        while at < end:
            wide, table = segment[at] >> 4, segment[at] & 15
            size = 128 if wide else 64
            if at + 1 + size > end:
                break
            if table == 0:
                return float(np.frombuffer(segment[at + 1:at + 1 + size], ">u2" if wide else "u1").mean())
            at += 1 + size
    return None


class _BoolDecoder:
    """VP8's boolean entropy decoder (RFC 6386, section 7), enough to read a frame header's fields."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 2
        self.value = (data[0] << 8) | data[1] if len(data) >= 2 else 0
        self.range, self.count = 255, 0

    def bit(self, probability: int = 128) -> int:
        split = 1 + (((self.range - 1) * probability) >> 8)
        if self.value >= split << 8:
            self.range -= split
            self.value -= split << 8
            got = 1
        else:
            self.range = split
            got = 0
        while self.range < 128:
            self.value, self.range, self.count = self.value << 1, self.range << 1, self.count + 1
            if self.count == 8:
                self.count = 0
                if self.at < len(self.data):
                    self.value |= self.data[self.at]
                self.at += 1
        return got

    def number(self, bits: int) -> int:
        value = 0
        for _ in range(bits):
            value = (value << 1) | self.bit()
        return value

    def signed(self, bits: int) -> int:
        """A flagged, signed field: 0 where its flag is not set."""
        if not self.bit():
            return 0
        value = self.number(bits)
        return -value if self.bit() else value


#: VP8's luma AC quantiser step for each quantiser index 0-127 (RFC 6386, section 14.1): 4 to 58 by 1,
#: to 116 by 2, to 173 by 3, to 229 by 4, then by 4-6 to 284.
_VP8_AC_STEPS = (*range(4, 59), *range(60, 117, 2), *range(119, 174, 3), *range(177, 230, 4),
                 234, 239, 245, 249, 254, 259, 264, 269, 274, 279, 284)


def vp8_quantiser(frame: bytes | memoryview) -> float | None:
    """The luma quantiser step of a VP8 frame (a WebM VP8 video's packet, a WebRTC call's, a lossy
    WebP's ``VP8`` chunk), read from its header (RFC 6386, sections 9.3-9.6 and 19.2): the AC step
    (:data:`_VP8_AC_STEPS`) of the frame's ``y_ac_qi``, or where segments carry their own quantisers
    (libwebp's four), the mean of theirs (absolute, or added to the frame's). None where it is no
    VP8 frame. FFmpeg's VP8 decoder exports none; written by hand, as no parser of FFmpeg's (its
    ``trace_headers`` has none for VP8) or other library at hand reads it."""
    data = bytes(frame[:64])  # the fields up to the quantiser take a few bytes
    if len(data) < 11:
        return None
    key = not data[0] & 1
    if key and data[3:6] != b"\x9d\x01\x2a":
        return None
    bits = _BoolDecoder(data[10:] if key else data[3:])
    if key:
        bits.number(2)  # colour space, clamping
    segments: list[int] = []
    absolute = False
    if bits.bit():  # segmentation
        update_map, update_data = bits.bit(), bits.bit()
        if update_data:
            absolute = bool(bits.bit())
            segments = [bits.signed(7) for _ in range(4)]
            for _ in range(4):
                bits.signed(6)  # loop filter levels
        if update_map:
            for _ in range(3):
                if bits.bit():
                    bits.number(8)
    bits.number(1 + 6 + 3)  # filter type, level, sharpness
    if bits.bit() and bits.bit():  # loop filter deltas, updated
        for _ in range(8):
            bits.signed(6)
    bits.number(2)  # token partitions
    base = bits.number(7)
    indices = [q if absolute else base + q for q in segments] or [base]
    return float(sum(_VP8_AC_STEPS[min(127, max(0, q))] for q in indices) / len(indices))


def webp_quantiser(data: bytes | memoryview) -> float | None:
    """:func:`vp8_quantiser` of a lossy WebP's (first) picture; None for a lossless one (``VP8L``)
    or anything else."""
    import struct

    if bytes(data[:4]) != b"RIFF" or bytes(data[8:12]) != b"WEBP":
        return None
    at = 12
    while at + 8 <= len(data):
        kind, size = bytes(data[at:at + 4]), struct.unpack("<I", data[at + 4:at + 8])[0]
        if kind == b"VP8 ":
            return vp8_quantiser(data[at + 8:at + 8 + size])
        if kind == b"ANMF":  # an animation's first frame: its own chunks after 16 bytes of placement
            at += 8 + 16
            continue
        if kind == b"VP8L":
            return None
        at += 8 + size + (size & 1)
    return None


#: The codecs whose every frame (one packet) carries its own quantiser in a header read here, by their readers.
_FRAME_QUANTISERS = {"mjpeg": jpeg_quantiser, "vp8": vp8_quantiser}

#: The codecs whose quantisers :class:`HeaderTrace` reads from their headers (their decoders export none).
HEADER_CODECS = ("hevc", "av1")

#: Held while FFmpeg's log is turned up for a trace (its level is one setting for the whole process).
_LOG_SETTINGS = threading.Lock()

#: A line of FFmpeg's trace_headers log: bit position, syntax element, its bits, ``=``, its value.
_TRACED = re.compile(r"^\s*\d+\s+(\S+)\s+[01]*\s*=\s*(-?\d+)\s*$")


class HeaderTrace:
    """The base quantiser of every coded picture in the packets :meth:`feed` is given, read from
    their headers by FFmpeg's ``trace_headers`` bitstream filter: its coded-bitstream readers parse
    the parameter sets and slice or frame headers and write each syntax element to FFmpeg's log,
    which is captured here (a packet at a time, from this thread only). HEVC: each slice's QP,
    26 + its picture parameter set's ``init_qp_minus26`` + its ``slice_qp_delta``, averaged over a
    picture's slices; AV1: each coded frame's ``base_q_idx`` (not a shown frame's repeat). Neither
    holds the blocks' own offsets, which sit in the entropy-coded data no header parser reads.
    Written on FFmpeg's parsers rather than by hand: an HEVC slice header alone takes most of the
    sequence and picture parameter sets (reference picture sets, scaling lists, weighted
    prediction) to reach its QP."""

    def __init__(self, filter_context) -> None:  # noqa: ANN001 - an av BitStreamFilterContext
        self._filter = filter_context
        self._initial: dict[int, int] = {}  # HEVC: picture parameter set -> its initial QP
        self._pps = self._slice_pps = 0
        self._picture: list[int] = []
        self._quantisers: list[float] = []

    @classmethod
    def of(cls, stream) -> HeaderTrace | None:  # noqa: ANN001 - an av video stream
        """A trace of ``stream``'s packets, its parameter sets read from its extradata; None where
        FFmpeg's filter cannot be made for it."""
        from av.bitstream import BitStreamFilterContext

        from srstream.engine.av_errors import av_failures

        trace = cls(None)
        try:
            trace._filter = trace._logged(lambda: BitStreamFilterContext("trace_headers", stream))
        except (*av_failures(), ValueError):
            return None
        return trace

    def feed(self, packet) -> None:  # noqa: ANN001 - an av Packet
        """Read ``packet``'s headers (a copy of it: the filter empties what it is given). Where the
        parsers refuse a unit, what they read of it counts (a slice's header, whose data they
        refused: x265's slices of a small picture) and the next packet is read as usual."""
        import av

        from srstream.engine.av_errors import av_failures

        if self._filter is None or not packet.size:
            return
        copy = av.Packet(bytes(packet))
        try:
            self._logged(lambda: self._filter.filter(copy))
        except (*av_failures(), ValueError):
            pass

    def quantisers(self) -> list[float]:
        """The base quantiser of each picture read so far, in coding order."""
        self._close_picture()
        return list(self._quantisers)

    def _logged(self, call):  # noqa: ANN001, ANN202 - a call and its result
        """``call()``, the syntax elements FFmpeg logs meanwhile (in this thread) read into the
        quantisers. FFmpeg's log level and its folding of repeated lines are restored after it."""
        import av.logging

        logs: list = []
        try:
            with _LOG_SETTINGS:  # two threads' traces: neither turns the log off under the other
                level, folded = av.logging.get_level(), av.logging.get_skip_repeated()
                av.logging.set_level(av.logging.INFO)  # the level trace_headers writes at
                av.logging.set_skip_repeated(False)  # two pictures' equal slice_qp_delta lines are two lines
                try:
                    with av.logging.Capture() as logs:
                        return call()
                finally:
                    av.logging.set_level(level)
                    av.logging.set_skip_repeated(folded)
        finally:  # what was read before a failure counts too
            for _, name, text in logs:
                if name == "trace_headers" and (found := _TRACED.match(text)):
                    self._element(found.group(1), int(found.group(2)))

    def _element(self, name: str, value: int) -> None:
        if name == "pps_pic_parameter_set_id":
            self._pps = value
        elif name == "init_qp_minus26":
            self._initial[self._pps] = 26 + value
        elif name == "first_slice_segment_in_pic_flag" and value:
            self._close_picture()
        elif name == "slice_pic_parameter_set_id":
            self._slice_pps = value
        elif name == "slice_qp_delta":
            self._picture.append(self._initial.get(self._slice_pps, 26) + value)
        elif name == "base_q_idx":
            self._quantisers.append(float(value))

    def _close_picture(self) -> None:
        if self._picture:
            self._quantisers.append(sum(self._picture) / len(self._picture))
            self._picture = []


def _spread_looks(container, stream) -> list[Look]:  # noqa: ANN001 - an open av container and its video stream
    """The looks of the keyframes before :data:`SPREAD_LOOKS` places spread evenly over ``stream``,
    each once and none at its start (none where its length is unknown, it cannot seek or its only
    keyframe is the first: the first frames' looks then decide)."""
    from srstream.engine.av_errors import av_failures
    from srstream.engine.screen import look

    if stream.duration is not None and stream.time_base is not None:
        start, length = stream.start_time or 0, stream.duration
    elif container.duration:  # in microseconds (AV_TIME_BASE)
        start = stream.start_time or 0
        length = int(container.duration / 1_000_000 / stream.time_base) if stream.time_base else 0
    else:
        return []
    looks, seen = [], set()
    try:
        for k in range(SPREAD_LOOKS):
            container.seek(start + int(length * (k + 0.5) / SPREAD_LOOKS), stream=stream)
            frame = next(container.decode(stream), None)
            # a keyframe reached from two places (or the first one, when keyframes are far apart) counts once
            if frame is not None and frame.pts not in seen and (frame.pts or 0) > start:
                seen.add(frame.pts)
                looks.append(look(frame.to_ndarray(format="gray")))
    except (*av_failures(), OSError, ValueError, StopIteration):
        pass  # a file that will not seek keeps the looks it gave
    return looks
