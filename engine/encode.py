"""The encoder side of a video job: settings (``--codec``, ``--crf``, ...), checked before any work;
the output stream set up like the input (colour matrix and tags, bit depth, pixel aspect, stream
tags and dispositions); RGB frames converted for the encoder; write failures in words.

Shared by the file pipeline (:mod:`srstream.engine.video`) and the live recorder
(:mod:`srstream.engine.live_sinks`).
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from srstream.engine.av_errors import open_av
from srstream.errors import ConfigError, OutputError, SRStreamError

__all__ = ["AudioReencode", "BT601", "CopiedOrder", "CoverPicture", "EncodeOptions", "GifPalette", "HDR10_CODECS",
           "HDR_CODEC", "HDR_TRANSFERS", "Hdr10", "KEPT_CODECS", "MATRICES", "MP4_FAMILY", "PQ_TRANSFER",
           "SubtitleReencode",
           "X264_PRESETS", "add_video_stream", "choose_pix_fmt", "copy_container_metadata", "copy_packet",
           "copy_stream_tags", "copy_streams", "default_codec", "encodable_pix_fmt", "encoder_frame", "finish_probe",
           "first_packets", "format_for", "frame_converter", "frame_ticks", "frames_kept", "has_alpha", "is_deep",
           "kept_codec", "kept_note", "mux_copied", "output_pix_fmt", "plausible_dts", "rehearse", "sws_flags",
           "tag_hevc", "undecodable", "web_ready", "x264_params"]

#: AVColorSpace values we convert with as declared (anything else is treated as BT.601): the
#: swscale name of each matrix, and its (Kr, Kb) for the kernels' own Y'CbCr conversions.
MATRICES = {1: ("ITU709", 0.2126, 0.0722), 5: ("ITU601", 0.299, 0.114), 6: ("SMPTE170M", 0.299, 0.114),
             7: ("SMPTE240M", 0.212, 0.087), 9: ("BT2020", 0.2627, 0.0593)}
BT601 = 6
#: swscale flags for every RGB <-> YUV conversion: accurate rounding and full chroma
#: interpolation. With the defaults, YUV -> RGB came out 1.1 levels too dark on average.
_SWS_FLAGS = "BILINEAR|ACCURATE_RND|FULL_CHR_H_INT"
#: The same for 4:2:0 -> 16-bit RGB (rgb48le, rgba64le: every source of more than 8 bits): the
#: swscale of FFmpeg 8 (PyAV 18.1's) turns such a picture's colours wrong with a bilinear or area
#: chroma filter beside full chroma interpolation (mean error 57 of 255 levels on a natural frame,
#: green bars black; 4:2:2 and 8-bit RGB are right; FFmpeg 5.1 was right). Bicubic chroma is right
#: in every version measured (0.08 levels on a 10-bit round trip) and costs about 9 ms more on a
#: 1080p frame (AMX Xeon), on deep sources only.
_SWS_DEEP_FLAGS = "BICUBIC|ACCURATE_RND|FULL_CHR_H_INT"
_SUBSAMPLED = ("yuv420p", "yuvj420p", "nv12", "yuv422p", "yuv420p10le", "yuv422p10le")
#: Containers that hold only some video codecs: the codecs (the default is the first this FFmpeg build
#: has), and how the refusal of another one names them.
_HELD_CODECS = {".webm": (("libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1", "librav1e"), "a .webm file holds VP8, "
                          "VP9 or AV1 video"),
                ".ogv": (("libtheora", "libvpx"), "an .ogv file holds Theora or VP8 video"),
                ".y4m": (("wrapped_avframe", "rawvideo"), "a .y4m file holds raw video (--codec rawvideo)")}
#: The DNxHR profile for each pixel format the dnxhd encoder takes (:meth:`EncodeOptions.codec_options`).
_DNXHR_PROFILES = {"yuv422p": "dnxhr_hq", "yuv422p10le": "dnxhr_hqx", "yuv444p10le": "dnxhr_444",
                   "gbrp10le": "dnxhr_444"}
#: Frames :func:`rehearse` encodes: enough for an encoder to reorder them (B-frames), as a run's would.
REHEARSAL_FRAMES = 3
#: Encoders that take only a time base of one tick a frame (MPEG-1/2 video refuses the input's 1/15360),
#: and muxers that write the time base as the frame rate (a .y4m said 12800 frames a second, an .ogv
#: 15360); FFmpeg's command line gives every encoder that time base.
_FRAME_TICKS = ("mpeg1video", "mpeg2video", "yuv4mpegpipe", "ogv", "ogg")


@functools.cache
def _has_avx512() -> bool:
    """Whether this CPU runs AVX-512 (numpy's runtime dispatch table: CPUID and the OS's saved state)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__
    return bool(__cpu_features__.get("AVX512F"))


def x264_params(*params: str) -> str:
    """An ``x264-params`` value: ``params`` (``"key=value"``, empty ones left out), and on a CPU
    with AVX-512 ``asm=AVX2`` too, for encodes whose bits must repeat with x264's macroblock-tree
    rate control on (the self-pairs' round trips). With it on, libx264's AVX-512 code (in PyAV's
    wheels) reads memory it never wrote: on Sapphire Rapids the same frames gave other bits from
    one process or thread to the next at frame widths such as 32, 96, 320 and 720 (not 128, 256
    or 1280), and other bits for each glibc ``MALLOC_PERTURB_`` byte; x264's AVX2, SSE and C code
    gave the same bits every time, and the same as each other.

    The output encoder keeps x264's own choice: its AVX2 code took 2-7% longer per 720p frame at
    ``veryfast`` (the medians of two runs of six alternating pairs; ``benchmarks/results/bench/x264_avx512.md``).
    Segment jobs, whose bits must repeat, turn macroblock-tree off (``deterministic``): that gave
    the same bits with the AVX-512 code as with the AVX2 code, on the traffic clip at 640x360 to
    1920x1080."""
    out = [p for p in params if p]
    if _has_avx512():
        out.append("asm=AVX2")
    return ":".join(out)


#: The SMPTE ST 2084 (PQ) transfer: HDR10, whose static metadata (:class:`Hdr10`) is kept.
PQ_TRANSFER = 16


@dataclass(frozen=True)
class Hdr10:
    """HDR10's static metadata, read from an input's decoded frames (FFmpeg's side data): the
    mastering display's primaries (R, G, B) and white point as CIE 1931 xy, its luminance range in
    cd/m² (each None where the input does not say), and the content light levels (MaxCLL,
    MaxFALL, cd/m²; None where it does not say). HDR players tone-map by them: without them a
    PQ video is shown as if mastered for a 1000- or 4000-nit display, brighter or darker than made.
    Written by x265 and SVT-AV1 (as they are given on their command lines); x264 has no such
    option here, so an H.264 output drops them (and says so)."""

    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] | None = None
    white: tuple[float, float] | None = None
    luminance: tuple[float, float] | None = None  # (max, min)
    light: tuple[int, int] | None = None  # (MaxCLL, MaxFALL)

    @classmethod
    def from_side_data(cls, mastering: bytes | None, light: bytes | None) -> Hdr10 | None:
        """From FFmpeg's ``AVMasteringDisplayMetadata`` (22 ints: 8 rationals, then
        has_primaries and has_luminance) and ``AVContentLightMetadata`` (2 unsigned ints) as bytes;
        None when neither says anything."""
        import struct

        primaries = white = luminance = cll = None
        if mastering is not None and len(mastering) >= 88:
            v = struct.unpack("<22i", mastering[:88])
            ratio = [v[i] / v[i + 1] if v[i + 1] else 0.0 for i in range(0, 20, 2)]
            if v[20]:
                primaries = ((ratio[0], ratio[1]), (ratio[2], ratio[3]), (ratio[4], ratio[5]))
                white = (ratio[6], ratio[7])
            if v[21]:
                luminance = (ratio[9], ratio[8])
        if light is not None and len(light) >= 8:
            cll = struct.unpack("<2I", light[:8])
            cll = cll if any(cll) else None
        if primaries is None and luminance is None and cll is None:
            return None
        return cls(primaries, white, luminance, cll)

    def x265(self) -> str:
        """x265's ``master-display`` / ``max-cll`` parameters (xy in 0.00002, luminance in 0.0001 cd/m²)."""
        out = ["hdr10=1"]
        if self.primaries and self.white and self.luminance:
            (r, g, b), w = self.primaries, self.white
            xy = "".join(f"{name}({round(x * 50000)},{round(y * 50000)})"
                         for name, (x, y) in (("G", g), ("B", b), ("R", r), ("WP", w)))
            out.append(f"master-display={xy}L({round(self.luminance[0] * 10000)},{round(self.luminance[1] * 10000)})")
        if self.light:
            out.append(f"max-cll={self.light[0]},{self.light[1]}")
        return ":".join(out)

    def svtav1(self) -> str:
        """SVT-AV1's ``mastering-display`` / ``content-light`` parameters (decimal xy and cd/m²)."""
        out = []
        if self.primaries and self.white and self.luminance:
            (r, g, b), w = self.primaries, self.white
            xy = "".join(f"{name}({x:.5f},{y:.5f})" for name, (x, y) in (("G", g), ("B", b), ("R", r), ("WP", w)))
            out.append(f"mastering-display={xy}L({self.luminance[0]:.4f},{self.luminance[1]:.4f})")
        if self.light:
            out.append(f"content-light={self.light[0]},{self.light[1]}")
        return ":".join(out)


#: Encoders that write :class:`Hdr10`.
HDR10_CODECS = ("libx265", "libsvtav1")
#: The encoder of an HDR video (PQ or HLG: a phone's, a camera's or a disc's 10-bit HDR) when
#: ``--codec`` is not given, for the containers that take it: HEVC Main 10, which phones, TVs,
#: browsers and hardware decoders play as HDR, and which carries HDR10's metadata. x264's High 10
#: profile, the default before, plays almost nowhere in hardware and carries no HDR10 metadata
#: here. It costs encoder time: at 720p, 10-bit, on a 2-core first-generation Zen, x265 veryfast
#: took 89.8 ms a frame against x264's 15.5, for 45% fewer bits
#: (``benchmarks/results/bench/deep_encoders.md``), so 10-bit SDR video (an anime encode, played on
#: a computer) keeps x264 High 10.
HDR_CODEC = "libx265"
#: The transfers of HDR video: SMPTE ST 2084 (PQ) and ARIB STD-B67 (HLG).
HDR_TRANSFERS = (16, 18)


def default_codec(suffix: str, deep: bool = False, hdr: bool = False) -> str:
    """The encoder when ``--codec`` is not given: libx264, or for an ``hdr`` input :data:`HDR_CODEC`
    where this FFmpeg build has it; VP9 for a .webm output (for a ``deep`` input, of more than 8
    bits a sample, the first of its encoders that keeps them: AV1), Theora or VP8 for an .ogv one,
    raw frames for a .y4m one (what those containers hold), the first this FFmpeg build has."""
    if suffix.lower() in (".gif", ".apng"):
        return suffix.lower()[1:]
    if suffix.lower() in _HELD_CODECS:
        import av

        held = []
        for name in _HELD_CODECS[suffix.lower()][0]:
            try:
                held.append(av.codec.Codec(name, "w"))
            except Exception:  # noqa: BLE001 - not in this FFmpeg build
                continue
        # a deep input takes the first that encodes more than 8 bits (PyAV's libvpx-vp9 encodes 8 only)
        deeper = [c for c in held if any(is_deep(f.name) for f in c.video_formats or ())] if deep else []
        if deeper or held:
            return (deeper or held)[0].name
    if hdr:
        import av

        try:
            av.codec.Codec(HDR_CODEC, "w")
            return HDR_CODEC
        except Exception:  # noqa: BLE001 - not in this FFmpeg build
            pass
    return "libx264"


#: x264's and x265's presets, fastest first.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


#: NVIDIA's hardware encoders, in PyAV's wheels as in FFmpeg's: they need an NVIDIA GPU that has the
#: encoder (GeForce and RTX cards, L4/L40; not the A100, H100 or H200) and its driver's
#: libnvidia-encode. The rehearsal (:func:`rehearse`) finds out before any work.
NVENC_CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
#: NVENC's presets, fastest first, and the one each x264 preset name stands for (``--preset``
#: takes either; the default, veryfast, is p3).
NVENC_PRESETS = ("p1", "p2", "p3", "p4", "p5", "p6", "p7")
NVENC_FOR_X264 = dict(zip(X264_PRESETS, ("p1", "p2", "p3", "p3", "p4", "p4", "p5", "p6", "p7", "p7")))


#: libvpx's VP9 speed for each x264 preset name (``--preset``): (deadline, cpu-used). libvpx's own
#: default (good, speed 0-1) coded Big Buck Bunny at 720p at 2.6 fps on 2 cores of the AMX Xeon, the
#: whole run's pace for a .webm output; good at speed 4 with row threading (``row-mt``, which
#: changes no bit of quality) at 5.6 fps, 1% more bytes, 0.33 dB below it (45.22 dB; 2.3 dB below
#: on a desktop capture, at 51 dB), as x264's veryfast stands to its medium; realtime at speed 6,
#: 35 fps for 36% more bytes (``benchmarks/results/bench/vp9_speed.md``; bytes and dB do not
#: depend on the CPU).
LIBVPX_FOR_X264 = dict(zip(X264_PRESETS, (("realtime", 8), ("realtime", 6), ("good", 4), ("good", 4), ("good", 3),
                                          ("good", 2), ("good", 1), ("good", 0), ("good", 0), ("good", 0))))
#: The x264 preset sr-stream encodes with unless told otherwise. On sr-stream's output (four clips
#: at 720p and 1440p) veryfast at CRF 16 stays within 0.3 dB of medium at CRF 18 in what the
#: encoder loses on camera footage, and 0.9-1.9 dB below it (at 46.5 dB and more) on game and
#: desktop captures, for -9% to +24% bits, and costs 1.7-2.7x less encoder time; end to end on a
#: 2-core Zen 4 that is 20.6 fps instead of 17.4 (``benchmarks/results/bench/encoder_presets/``).
#: A real-time upscaler should not spend a third of its CPU on motion search.
DEFAULT_PRESET = "veryfast"


def frame_ticks(rate: Fraction | int | None, time_base: Fraction | None) -> int:
    """One frame at ``rate`` (30 where it is not known) in ticks of ``time_base``; at least 1."""
    if not time_base:
        return 1
    return max(1, round(1 / (Fraction(rate or 30) * time_base)))


#: Encoders with no CRF, whose quality is a fixed quantiser scale (FFmpeg's ``-q:v``, 1-31, lower
#: better): MPEG-1/2 (DVD, an .mpg), MPEG-4 part 2 and Xvid (an old player's .avi), the Windows
#: Media and Flash ones, H.263 and Motion JPEG. ``--crf`` sets that scale for them; without one they
#: ran at FFmpeg's default average bitrate (200 kbit/s): the traffic clip's first 30 frames upscaled
#: to 1280x720 came out of MPEG-2 at 39.9 dB Y-PSNR against the frames it was given (130 kB), and
#: at :data:`DEFAULT_QSCALE` at 50.3 dB (650 kB; MPEG-4 part 2: 38.9 and 49.7 dB; x264 at its
#: default CRF 16: 48.3 dB, 323 kB). Bytes and dB do not depend on the CPU.
QSCALE_CODECS = ("mpeg1video", "mpeg2video", "mpeg4", "libxvid", "msmpeg4v2", "msmpeg4", "wmv1", "wmv2", "h263",
                 "h263p", "flv", "mjpeg")
#: Their quantiser scale when ``--crf`` is not given (FFmpeg's ``-q:v 2``: near transparent).
DEFAULT_QSCALE = 2
#: FFmpeg's ``FF_QP2LAMBDA``: a quantiser scale as the ``global_quality`` an encoder takes.
_QP2LAMBDA = 118


def default_crf(codec: str) -> int:
    """sr-stream's CRF for ``codec`` when none is given: 16 for x264 (at :data:`DEFAULT_PRESET`),
    18 for the other encoders (x265, VP9, AV1), :data:`DEFAULT_QSCALE` for those with a quantiser
    scale instead (:data:`QSCALE_CODECS`)."""
    return 16 if codec == "libx264" else DEFAULT_QSCALE if codec in QSCALE_CODECS else 18


#: The frame rates MPEG-2 video has codes for (FFmpeg's encoder refuses others).
MPEG2_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(50),
               Fraction(60000, 1001), Fraction(60))
#: The largest picture of MPEG-2's High level (what its players and DVD tools are made for).
MPEG2_MOST = (1920, 1152)
#: Outputs that are MPEG program streams: the files DVD tools, old players and editors take as MPEG-2.
MPEG_PS_SUFFIXES = (".mpg", ".mpeg")


def mpeg_ps_codec(deep: bool, hdr: bool, picture: tuple[Fraction | None, int, int] | None) -> tuple[str, str]:
    """The video codec of an .mpg output when ``--codec`` is not given, and the note that says why
    it is not MPEG-2 where it is not: MPEG-2 (what the players, editors and DVD tools that ask for
    an .mpg read; FFmpeg's command line writes MPEG-1) where it holds the video as it is
    (``picture``: the frame rate and the output's width and height), else H.264 (which FFmpeg's
    MPEG program streams hold too): for a ``deep`` or ``hdr`` input (MPEG-2 has 8 bits, SDR), a
    frame rate MPEG-2 has no code for (:data:`MPEG2_RATES`), a picture larger than its High level."""
    rate, width, height = picture or (None, 0, 0)
    why = ("the input has more than 8 bits a sample or is HDR" if deep or hdr
           else "its frame rate is not known before the run" if rate is None
           else f"its frame rate ({float(rate):.4g} fps) is none of MPEG-2's 23.976-60" if rate not in MPEG2_RATES
           else f"{width}x{height} is larger than MPEG-2's High level (1920x1152)"
           if width > MPEG2_MOST[0] or height > MPEG2_MOST[1] else "")
    if not why:
        return "mpeg2video", ""
    return "libx264", (f"the .mpg holds H.264, not MPEG-2 (what players and DVD tools that take .mpg files "
                       f"expect): {why}; --codec mpeg2video tries MPEG-2 anyway, or write .mp4 or .mkv")


def options_for(suffix: str, codec: str | None, crf: int | None, deep: bool = False, hdr: bool = False,
                source: tuple[str, str, str] | None = None, picture: tuple[Fraction | None, int, int] | None = None,
                **settings) -> EncodeOptions:  # noqa: ANN003
    """The encoder settings for an output ending in ``suffix``: ``codec``, or the input's own where it
    is an editing or lossless one (:func:`kept_codec`; ``source``: the input's suffix, codec and
    pixel format), or the container's default for an input that is, or is not, ``deep`` or ``hdr``
    (:func:`default_codec`; an .mpg's: :func:`mpeg_ps_codec`, with ``picture``, the frame rate and
    the output's size); ``crf`` or that codec's (:func:`default_crf`), the rest as given
    (``bitrate``, ``preset``, ``pix_fmt``, ``hdr10``, ...)."""
    if codec is None and source is not None and (kept := kept_codec(suffix, *source[:2])) is not None:
        codec, settings["kept_from"] = kept, source[1]
        if source[2] and not settings.get("pix_fmt"):  # its own, or the nearest the encoder takes
            settings["pix_fmt"] = encodable_pix_fmt(kept, source[2], 2, 2)
    if codec is None and suffix.lower() in MPEG_PS_SUFFIXES:
        codec, settings["note"] = mpeg_ps_codec(deep, hdr, picture)
    codec = codec or default_codec(suffix, deep, hdr)
    return EncodeOptions(codec=codec, crf=default_crf(codec) if crf is None else crf, **settings)


#: Editing (intermediate) and lossless codecs, and the encoder that writes each. An input in one of
#: them is a master, a mezzanine or a lossless capture (ProRes and DNxHR from cameras and editors,
#: FFV1 archives, UT Video and MagicYUV from OBS's and game recorders' lossless settings): its upscale
#: was written as H.264 at CRF 16, 4:2:0, which dropped a ProRes 4444's alpha and 4:4:4 and a lossless
#: capture's every bit, where an editor or a second pass expects what it gave. Kept where the output is
#: the same kind of file as the input (the default output's name is): another extension chooses its
#: container's default, and ``--codec`` any.
KEPT_CODECS = {"prores": "prores_ks", "dnxhd": "dnxhd", "ffv1": "ffv1", "utvideo": "utvideo", "huffyuv": "huffyuv",
               "ffvhuff": "ffvhuff", "magicyuv": "magicyuv", "qtrle": "qtrle", "png": "png"}


#: The names :data:`KEPT_CODECS`' codecs go by.
_CODEC_NAMES = {"prores": "ProRes", "dnxhd": "DNxHD/DNxHR", "ffv1": "FFV1", "utvideo": "UT Video", "huffyuv": "HuffYUV",
                "ffvhuff": "FFVHuff", "magicyuv": "MagicYUV", "qtrle": "QuickTime Animation", "png": "PNG video"}


def kept_note(options: EncodeOptions, pix_fmt: str) -> str:
    """What a run whose ``options`` keep the input's codec (:func:`options_for`) says of it."""
    name = _CODEC_NAMES.get(options.kept_from or "", options.kept_from)
    return (f"the input is {name}, an editing or lossless codec: kept ({options.codec}, {pix_fmt}); --codec libx264 "
            "makes a far smaller file")


def kept_codec(suffix: str, input_suffix: str, input_codec: str) -> str | None:
    """The encoder that keeps an input's editing or lossless codec (:data:`KEPT_CODECS`) in an output
    ending in ``suffix``: None for other codecs, another extension than the input's, or an encoder
    this FFmpeg build does not have."""
    encoder = KEPT_CODECS.get(input_codec)
    if encoder is None or suffix.lower() != input_suffix.lower():
        return None
    import av

    try:
        av.codec.Codec(encoder, "w")
    except Exception:  # noqa: BLE001 - not in this FFmpeg build
        return None
    return encoder


@dataclass(frozen=True)
class EncodeOptions:
    """Video encoder settings (``--codec``, ``--crf``, ``--bitrate``, ``--preset``, ``--pix-fmt``)."""

    codec: str = "libx264"
    crf: int | None = 16  # default_crf(codec); None: no CRF (the encoder's own rate control)
    bitrate: str | None = None
    preset: str = DEFAULT_PRESET
    pix_fmt: str | None = None  # None: 4:2:0 at the input's depth (yuv420p, or yuv420p10le above 8 bits)
    copy_audio: bool = True
    copy_subtitles: bool = True
    threads: int = 0  # encoder threads (0: the encoder's choice; jobs fix it so bits never depend on the machine)
    deterministic: bool = False  # the same bits for the same frames, every time (segmented jobs; see codec_options)
    hdr10: Hdr10 | None = None  # the input's HDR10 metadata, written where the encoder takes it (HDR10_CODECS)
    kept_from: str | None = None  # the input's codec, which ``codec`` keeps (KEPT_CODECS; a note says so)
    note: str = ""  # why the default codec is not the container's own (mpeg_ps_codec), said by the run

    def validate(self, suffix: str = "") -> None:
        """Check the settings before any work (the encoder would otherwise fail mid-run, or
        accept a value it then ignores), for an output file ending in ``suffix``.

        Raises:
            ConfigError: an unknown or non-video codec, one the container cannot hold, a CRF out
                of the codec's range, an unknown x264/x265 preset or pixel format, a malformed
                bitrate.
        """
        import av

        try:
            codec = av.codec.Codec(self.codec, "w")
        except Exception:  # PyAV raises its own UnknownCodecError / ValueError
            raise ConfigError(f"--codec {self.codec!r} is not an encoder in this FFmpeg build; try libx264, "
                              "libx265, libvpx-vp9, libsvtav1 or mpeg4") from None
        if codec.type != "video":
            raise ConfigError(f"--codec {self.codec!r} encodes {codec.type}, not video; audio is copied as it is "
                              "(or dropped with --no-audio)")
        held, words = _HELD_CODECS.get(suffix.lower(), (None, ""))
        if held and self.codec not in held:
            fit = default_codec(suffix)  # none of them in this build: libx264, which the container cannot hold either
            raise ConfigError(f"{words}, not {self.codec}; use " + (f"--codec {fit} or " if fit in held else "")
                              + "an .mp4/.mkv output")
        if self.crf is not None and self.codec in NVENC_CODECS:
            if not 1 <= self.crf <= 51:  # NVENC's constant quality: 0 there is "automatic", not lossless
                raise ConfigError(f"--crf {self.crf} is out of range for {self.codec}: 1 (best) to 51")
        elif self.crf is not None and self.codec in QSCALE_CODECS:
            if not 1 <= self.crf <= 31:
                raise ConfigError(f"--crf {self.crf}: {self.codec} has no CRF, and --crf sets its quantiser scale "
                                  f"(FFmpeg's -q:v): 1 (best) to 31, {DEFAULT_QSCALE} unless given")
        elif self.crf is not None:
            top = 51 if self.codec in ("libx264", "libx265") else 63
            if not 0 <= self.crf <= top:
                raise ConfigError(f"--crf {self.crf} is out of range for {self.codec}: 0 (lossless) to {top}")
        if self.codec in ("libx264", "libx265", "libvpx-vp9") and self.preset not in X264_PRESETS:
            raise ConfigError(f"--preset {self.preset!r}: expected one of {', '.join(X264_PRESETS)}")
        if self.codec in NVENC_CODECS and self.preset not in NVENC_PRESETS + X264_PRESETS:
            raise ConfigError(f"--preset {self.preset!r}: expected one of {', '.join(NVENC_PRESETS)} (or an x264 "
                              "preset name, taken as the nearest of them)")
        try:
            if self.pix_fmt is not None:
                av.VideoFormat(self.pix_fmt)
        except (ValueError, TypeError):
            raise ConfigError(f"--pix-fmt {self.pix_fmt!r} is not a pixel format FFmpeg knows; e.g. yuv420p, "
                              "yuv444p, yuv420p10le") from None
        takes = [f.name for f in codec.video_formats or ()]
        if self.pix_fmt is not None and takes and self.pix_fmt not in takes:
            raise ConfigError(f"--pix-fmt {self.pix_fmt}: the {self.codec} encoder takes {', '.join(takes)}")
        if self.bitrate:
            _parse_bitrate(self.bitrate)

    def codec_options(self, pix_fmt: str | None = None) -> dict[str, str]:
        """The encoder's options; ``pix_fmt``: the pixel format it encodes (a DNxHR profile takes some only)."""
        opts: dict[str, str] = {}
        if self.codec in ("libx264", "libx265", "libsvtav1", "libaom-av1", "libvpx-vp9"):
            if self.bitrate is None and self.crf is not None:
                opts["crf"] = str(self.crf)
            if self.codec in ("libx264", "libx265") and self.preset:
                opts["preset"] = self.preset
            if self.codec == "libvpx-vp9" and self.preset in LIBVPX_FOR_X264:
                deadline, speed = LIBVPX_FOR_X264[self.preset]
                opts |= {"deadline": deadline, "cpu-used": str(speed), "row-mt": "1"}
            if self.codec == "libx265":
                # x265 prints its whole configuration otherwise
                opts["x265-params"] = "log-level=error" + (f":{self.hdr10.x265()}" if self.hdr10 else "")
            if self.codec == "libsvtav1" and self.hdr10 and self.hdr10.svtav1():
                opts["svtav1-params"] = self.hdr10.svtav1()
            if self.codec == "libsvtav1":
                # SVT-AV1 printed its version and configuration (20 lines) for the rehearsal and again for
                # the run; it takes its log level from the environment only (0 fatal ... 3 info, its
                # default), when an encoder opens. Errors still show; a level the user set stays.
                os.environ.setdefault("SVT_LOG", "1")
            if self.codec == "libx264" and self.deterministic:
                # x264's macroblock-tree rate control gave different bits for the same frames from one
                # encode to the next (run-to-run, with 1 or 2 threads, presets medium and slower);
                # without it the output repeats exactly, for a few percent more bits at the same CRF
                opts["x264-params"] = "mbtree=0"
        if self.codec in NVENC_CODECS:
            opts["preset"] = NVENC_FOR_X264.get(self.preset, self.preset)
            opts["tune"] = "hq"
            if self.bitrate is None and self.crf is not None:
                # constant quality, as --crf means: with FFmpeg's default average bitrate (2 Mb/s) the
                # variable rate control would hold a 4K stream to it
                opts |= {"rc": "vbr", "cq": str(self.crf), "b": "0"}
        if self.codec in QSCALE_CODECS and self.bitrate is None and self.crf is not None:
            # a fixed quantiser scale (FFmpeg's -q:v), as --crf means: FFmpeg's default average bitrate,
            # 200 kbit/s, starved an upscaled picture. The scale is each frame's quality, which FFmpeg's
            # command line sets from global_quality and PyAV's frames leave at 0, so the encoder took
            # its least, 2, whatever --crf said; held between equal bounds, it is the one asked for
            opts |= {"flags": "+qscale", "global_quality": str(self.crf * _QP2LAMBDA), "qmin": str(self.crf),
                     "qmax": str(self.crf)}
        if self.codec == "dnxhd" and not self.bitrate:
            # DNxHR: any size; plain DNxHD takes a few broadcast sizes at fixed bitrates. Its profiles
            # each take some pixel formats: HQ 8-bit 4:2:2, HQX 10-bit 4:2:2, 444 10-bit 4:4:4 or RGB
            # (a 10-bit input, or --pix-fmt yuv444p10le, was refused with HQ alone)
            opts["profile"] = _DNXHR_PROFILES.get(pix_fmt or "", "dnxhr_hq")
        if self.threads:
            opts["threads"] = str(self.threads)
        return opts


def _parse_bitrate(text: str) -> int:
    """``--bitrate 8M`` in bits per second: at least 1k (FFmpeg's encoders count in kbit/s: libx264
    took ``--bitrate 100`` as none, "bitrate not specified"), finite (``infk`` failed as "cannot
    convert float infinity to integer") and not 0 (which was taken)."""
    units = {"k": 1_000, "m": 1_000_000}
    try:
        value = float(text[:-1]) * units[text[-1].lower()] if text[-1].lower() in units else int(text)
    except (ValueError, IndexError):
        raise ConfigError(f"--bitrate {text!r}: expected a number like 8M or 2500k") from None
    if not (1_000 <= value < float("inf")):
        raise ConfigError(f"--bitrate {text!r}: a rate of 1k (1000 bits/s) or more, like 8M or 2500k")
    return int(value)


def output_pix_fmt(requested: str | None, input_pix_fmt: str | None) -> str:
    """``--pix-fmt``, or 4:2:0 at the input's depth: yuv420p10le for inputs of more than 8 bits
    (10-bit HDR stays 10-bit), yuv420p otherwise."""
    if requested:
        return requested
    import av

    try:
        deep = input_pix_fmt is not None and max(c.bits for c in av.VideoFormat(input_pix_fmt).components) > 8
    except (ValueError, TypeError):
        deep = False
    return "yuv420p10le" if deep else "yuv420p"


#: Pixel formats an encoder lists but refuses unless told to break its standard (``strict``):
#: Motion JPEG's limited-range YUV ("Non full-range YUV is non-standard"); its full-range yuvj go.
_NON_STANDARD = {"mjpeg": ("yuv420p", "yuv422p", "yuv444p")}


def encodable_pix_fmt(codec: str, pix_fmt: str, width: int, height: int) -> str:
    """``pix_fmt``, or the pixel format nearest to it that the ``codec`` encoder takes, as FFmpeg's
    command line would pick one: every colour channel kept, then the bit depth, then no subsampling
    across an odd size, then the same family (YUV or RGB), no alpha, limited range, and the fewest
    bits (DNxHD and ProRes take no 4:2:0: yuv422p, yuv422p10le; QuickTime Animation: rgb24). For a
    ``pix_fmt`` with alpha, a format with alpha comes before all that, where the codec takes one
    (ProRes: yuva444p10le; QuickTime Animation: argb; VP9 and FFV1: yuva420p)."""
    import av

    takes = [f.name for f in av.codec.Codec(codec, "w").video_formats or ()
             if f.name not in _NON_STANDARD.get(codec, ())]
    if not takes or pix_fmt in takes:
        return pix_fmt
    want = av.VideoFormat(pix_fmt)
    alpha = has_alpha(pix_fmt)

    def cost(name: str) -> tuple:
        fmt = av.VideoFormat(name)
        colours = [c for c in fmt.components if not c.is_alpha]
        odd = (width % 2 and fmt.chroma_width(2) < 2) or (height % 2 and fmt.chroma_height(2) < 2)
        return (fmt.has_palette or fmt.is_bayer or fmt.is_bit_stream, alpha and len(colours) == len(fmt.components),
                len(colours) < len([c for c in want.components if not c.is_alpha]),
                max(c.bits for c in fmt.components) < max(c.bits for c in want.components), bool(odd),
                fmt.is_rgb != want.is_rgb, not alpha and len(colours) < len(fmt.components), name.startswith("yuvj"),
                fmt.bits_per_pixel)

    return min(takes, key=cost)


@functools.cache  # asked for every RGBA frame an encoder gets
def has_alpha(pix_fmt: str) -> bool:
    """Whether FFmpeg's pixel format ``pix_fmt`` has an alpha component."""
    import av

    try:
        return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, TypeError):
        return False


def _with_alpha(pix_fmt: str) -> str:
    """The format like ``pix_fmt`` with an alpha plane (yuv420p -> yuva420p, rgb24 -> rgba,
    gbrp10le -> gbrap10le), or ``pix_fmt`` where FFmpeg has none."""
    import av

    names = {"rgb24": "rgba", "bgr24": "bgra", "rgb48le": "rgba64le", "rgb48be": "rgba64be", "gray": "ya8",
             "gray16le": "ya16le"}
    name = names.get(pix_fmt) or (f"yuva{pix_fmt[3:]}" if pix_fmt.startswith("yuv") and not pix_fmt.startswith("yuvj")
                                  else f"gbra{pix_fmt[3:]}" if pix_fmt.startswith("gbrp") else pix_fmt)
    try:
        av.VideoFormat(name)
    except (ValueError, TypeError):
        return pix_fmt
    return name


def plausible_dts(packets, short: bool = False) -> list:  # noqa: ANN001 - av.Packets
    """``packets`` with decode times a muxer takes; ``short``: they are what the encoder gave at
    the end of a stream of fewer than three frames.

    libx265 (through FFmpeg) gives the packets of a stream of fewer than three frames the
    presentation time less a delay it never set, whatever the heap held (x265 issue #781, fixed by
    its pull request #936 in August 2026; PyAV 18.1's wheels carry x265 4.2+1, which still does it):
    -5.9e11 for a pts of 0 here, and a leftover below zero puts the decode time after the
    presentation time (what fits a two-frame segment the .mp4 muxer refused, "Invalid argument", in
    one full test run). Such a stream has nothing to reorder (a B-frame needs a frame on each
    side), so the decode times x265 gives at its end, where it gives them all, are made its
    presentation times. Only there: an encoder that gives each packet at once (MPEG-2) has given
    its first ones already, and rewriting those alone put its decode times out of order. No packet
    of any stream decodes after it is shown. Reordering is kept otherwise, however long a
    variable frame rate's pauses (an earlier bound, 16 frames at the average rate, rewrote the
    decode times of the frames coded across a 3-second pause in a phone-like video, and of a
    variable-rate concat list, whose average rate is its clock: out of order, "Invalid argument"
    from the .mp4 muxer)."""
    packets = list(packets)
    for packet in packets:
        if packet.pts is not None and (short or packet.dts is None or packet.dts > packet.pts):
            packet.dts = packet.pts
    return packets


def choose_pix_fmt(options: EncodeOptions, input_pix_fmt: str | None, width: int, height: int,
                   alpha: bool = False) -> tuple[str, str | None]:
    """The encoder's pixel format for :func:`add_video_stream` (``--pix-fmt``, or 4:2:0 at the
    input's depth, 4:4:4 across an odd size, with alpha for ``alpha`` frames, as near as the codec
    takes; a GIF's ``pal8``), and the note that says what differs from what was asked."""
    pix_fmt = output_pix_fmt(options.pix_fmt, input_pix_fmt)
    note = None
    if options.codec == "gif" and not options.pix_fmt:
        pix_fmt = "pal8"  # a palette made for each frame (GifPalette)
        note = "GIF output: 256 colours a frame (each frame's own palette, dithered); an .mp4 or .webm output keeps all"
    elif options.codec == "apng" and not options.pix_fmt:
        pix_fmt = "rgb48be" if is_deep(pix_fmt) else "rgb24"  # lossless RGB, as deep as the input
    if (width % 2 or height % 2) and pix_fmt in _SUBSAMPLED:
        wanted = pix_fmt
        pix_fmt = "yuv444p10le" if "10" in pix_fmt else "yuv444p"  # keep every pixel instead of cropping
        note = f"{width}x{height} is odd-sized: encoded as {pix_fmt} instead of {wanted}"
    if alpha and not options.pix_fmt and pix_fmt != "pal8":
        pix_fmt = _with_alpha(pix_fmt)
    if not options.pix_fmt:
        wanted = pix_fmt
        pix_fmt = encodable_pix_fmt(options.codec, pix_fmt, width, height)
        if pix_fmt != wanted and not (alpha and pix_fmt == wanted.replace("yuva", "yuv", 1)):
            note = (f"{note}; " if note else "") + f"{options.codec} does not take {wanted}: encoded as {pix_fmt}"
    if alpha and pix_fmt != "pal8" and not has_alpha(pix_fmt):
        note = (f"{note}; " if note else "") + (
            f"the input's transparency is dropped: {options.codec} {pix_fmt} has no alpha; for transparency write "
            ".webm (VP9), .gif, or .mov with --codec prores_ks, qtrle or png")
    return pix_fmt, note


def _formats_holding(codec: str) -> list[str]:
    """The outputs among .mov, .mkv and .mp4 whose muxer takes a stream of the encoder ``codec`` (tried
    in memory); none where this FFmpeg build has no such encoder."""
    import io

    import av

    held = []
    for suffix, name in ((".mov", "mov"), (".mkv", "matroska"), (".mp4", "mp4")):
        try:
            with av.open(io.BytesIO(), "w", format=name) as probe:
                probe.add_stream(codec, rate=25)
        except (av.error.FFmpegError, ValueError):
            continue
        held.append(f"a {suffix}")
    return held


#: The most pixels a picture has at the highest level of H.264 (6.2), HEVC (6.2) and AV1 (6.3): 8192x4352.
LEVEL_PICTURE_LIMIT = 35_651_584
#: Encoders whose streams have levels that decoders are built to (a 4K video taken x4 went beyond them).
LEVELLED_CODECS = frozenset({"libx264", "libx265", "h264_nvenc", "hevc_nvenc", "av1_nvenc", "libsvtav1", "libaom-av1",
                             "librav1e", "libvpx-vp9"})


def add_video_stream(container, options: EncodeOptions, rate: Fraction | int, width: int, height: int,  # noqa: ANN001
                     time_base: Fraction, matrix: int = BT601, *, like=None,  # noqa: ANN001
                     alpha: bool = False):  # noqa: ANN201
    """Add the encoder stream for ``options`` to an output ``container``: its size, pixel format
    (4:4:4 instead of a subsampled one for odd sizes, with a note saying so), time base, colour
    tags (``matrix``, limited range), bitrate or CRF and preset. With ``like`` (the input video
    stream) it also takes the input's colour primaries and transfer (HDR PQ/HLG tags), sample
    aspect ratio, field order, stream tags (language, title) and dispositions. ``alpha``: the
    frames carry transparency, kept where the codec takes a format with alpha (a GIF's
    transparent colour; see :func:`encodable_pix_fmt`) and otherwise dropped with a note saying
    what would keep it. Returns (stream, pix_fmt, note): ``pix_fmt`` has alpha (or is a GIF's
    ``pal8``) when the stream keeps it.

    Raises:
        ConfigError: the codec is not in this FFmpeg build, or a bad ``--bitrate``.
    """
    import av

    try:
        stream = container.add_stream(options.codec, rate=rate)
    except (av.error.FFmpegError, ValueError) as exc:
        holders = _formats_holding(options.codec)
        if holders:  # the encoder is there; the format refuses it (ProRes into .mp4 or .avi)
            raise ConfigError(f"this output's format ({container.format.name}) cannot hold {options.codec} video "
                              f"({exc}); use {' or '.join(holders)} output, or another --codec such as "
                              "libx264") from exc
        raise ConfigError(f"video codec {options.codec!r} is not available in this FFmpeg "
                          f"build ({exc}); try --codec libx264 or mpeg4") from exc
    pix_fmt, note = choose_pix_fmt(options, like.codec_context.pix_fmt if like is not None else None, width, height,
                                   alpha)
    if options.codec in _FRAME_TICKS or container.format.name in _FRAME_TICKS:
        time_base = 1 / Fraction(rate)
    if options.codec == "libx265" and min(width, height) < 16:
        raise ConfigError(f"libx265 cannot encode {width}x{height} frames (it needs 16x16 or more); use --codec "
                          "libx264")
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.codec_context.time_base = time_base
    stream.time_base = time_base
    stream.codec_context.colorspace = matrix
    stream.codec_context.color_range = 1  # limited ("tv"), what yuv420p players expect
    if like is not None:
        _copy_video_properties(like, stream)
    if options.bitrate:
        stream.bit_rate = _parse_bitrate(options.bitrate)
    stream.options = options.codec_options(pix_fmt)
    if options.kept_from:
        note = (f"{note}; " if note else "") + kept_note(options, pix_fmt)
    if options.note:
        note = (f"{note}; " if note else "") + options.note
    tag_hevc(container, stream, "hevc" if options.codec == "libx265" else options.codec)
    if options.hdr10 is not None and options.codec not in HDR10_CODECS:
        note = (f"{note}; " if note else "") + (
            f"the input's HDR10 metadata (mastering display, light levels) is not kept by {options.codec}: HDR "
            "players tone-map without it; --codec libx265 (.mp4, .mkv, .mov) or libsvtav1 keeps it")
    if width * height > LEVEL_PICTURE_LIMIT and options.codec in LEVELLED_CODECS:
        note = (f"{note}; " if note else "") + (
            f"{width}x{height} is beyond the largest picture of every {options.codec} level (35.7 million "
            "pixels, 8192x4352): software players (mpv, VLC, FFmpeg) play it, hardware decoders, browsers and "
            "phones do not; a smaller --height, or frames (-o frames/%06d.png), for pictures this large")
    return stream, pix_fmt, note


def tag_hevc(container, stream, codec: str) -> None:  # noqa: ANN001 - an av output container and its stream
    """Tag an HEVC ``stream`` in an .mp4 or .mov ``container`` ``hvc1``, what Apple's players
    (QuickTime, Safari, iOS) take; FFmpeg's default, ``hev1``, they refuse."""
    if codec == "hevc" and any(name in container.format.name.split(",") for name in ("mp4", "mov")):
        stream.codec_tag = "hvc1"


def _copy_video_properties(src, dst) -> None:  # noqa: ANN001 - av VideoStreams
    """What changes how the video plays or is labelled, from the input stream to the output's."""
    cin, cout = src.codec_context, dst.codec_context
    for attr in ("color_primaries", "color_trc"):
        value = getattr(cin, attr, None)
        if value not in (None, 0, 2):  # 0 reserved, 2 unspecified
            setattr(cout, attr, value)
    sar = cin.sample_aspect_ratio
    if sar and sar.numerator and sar != 1:
        cout.sample_aspect_ratio = sar  # both sides scale alike: the same pixel shape
    copy_stream_tags(src, dst)


def copy_stream_tags(src, dst) -> None:  # noqa: ANN001 - av Streams
    """Stream tags (language, title, ...) and dispositions (default, forced, ...). Not Matroska's
    ``alpha_mode``: the muxer sets it from the output's own pixel format, which may have no alpha."""
    for key, value in (src.metadata or {}).items():
        if key.lower() not in ("handler_name", "vendor_id", "encoder", "duration", "alpha_mode"):
            dst.metadata[key] = value
    try:
        dst.disposition = src.disposition
    except (AttributeError, TypeError, ValueError):  # an older PyAV: no dispositions to copy
        pass


def track_languages(container) -> dict[int, str]:  # noqa: ANN001 - an av output container, before it is closed
    """Track ID -> language of each stream of a .mov output that has one (FFmpeg numbers a file's tracks from 1
    in its streams' order), for :func:`srstream.engine.isobox.write_languages` once it is written: FFmpeg's MOV
    muxer writes only the old Macintosh language codes. Empty for any other format."""
    if container.format.name != "mov":
        return {}
    return {stream.index + 1: stream.metadata["language"] for stream in container.streams
            if stream.metadata.get("language")}


def encoder_frame(rgb: np.ndarray, pix_fmt: str, matrix: int = BT601):  # noqa: ANN201 - av.VideoFrame
    """An ``(H, W, 3)`` uint8 (or uint16) RGB array, or ``(H, W, 4)`` RGBA, as a frame in the
    encoder's ``pix_fmt``, converted with ``matrix`` and accurate rounding (see :data:`_SWS_FLAGS`)."""
    import av

    deep = rgb.dtype == np.uint16
    if rgb.shape[2] == 4 and not has_alpha(pix_fmt):
        rgb = rgb[:, :, :3]  # the stream keeps no alpha
    kind = ("rgba64le" if deep else "rgba") if rgb.shape[2] == 4 else ("rgb48le" if deep else "rgb24")
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=kind)
    return frame.reformat(format=pix_fmt, dst_colorspace=MATRICES[matrix][0], interpolation=sws_flags())


class GifPalette:
    """RGB frames as ``pal8`` frames for FFmpeg's GIF encoder, each with a palette of its own: the
    256 colours FFmpeg's ``palettegen`` picks for the frame (``stats_mode=single``) and its
    ``paletteuse`` mapping the frame onto them with error-diffusion dithering, what FFmpeg's own
    recipe for good GIFs does, one frame at a time so a stream never waits for its end. swscale's
    only way into a GIF is a fixed 3-3-2 palette, which bands every gradient. With ``alpha``, the
    frames are RGBA and one palette entry is kept for transparency: pixels less than half opaque
    are transparent, as a GIF has no partial transparency."""

    def __init__(self, width: int, height: int, alpha: bool = False) -> None:
        import av.filter

        graph = av.filter.Graph()
        self.format = "rgba" if alpha else "rgb24"
        source = graph.add_buffer(width=width, height=height, format=self.format, time_base=Fraction(1, 1000))
        split = graph.add("split")
        make = graph.add("palettegen", f"stats_mode=single:reserve_transparent={int(alpha)}")
        use = graph.add("paletteuse", "new=1:dither=sierra2_4a" + (":alpha_threshold=128" if alpha else ""))
        sink = graph.add("buffersink")
        source.link_to(split)
        split.link_to(make, 0, 0)
        split.link_to(use, 1, 0)
        make.link_to(use, 0, 1)
        use.link_to(sink)
        graph.configure()
        self.graph, self.pts = graph, 0

    def __call__(self, rgb: np.ndarray):  # noqa: ANN204 - av.VideoFrame
        import av

        if rgb.dtype == np.uint16:  # a deep source: GIF has 8 bits a channel
            rgb = ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)
        channels = 4 if self.format == "rgba" else 3
        if rgb.shape[2] != channels:
            rgb = rgb[:, :, :3] if channels == 3 else np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=self.format)
        frame.pts, frame.time_base = self.pts, Fraction(1, 1000)
        self.pts += 1
        self.graph.push(frame)
        return self.graph.pull()  # palettegen's single mode gives each frame's palette at once


def frame_converter(pix_fmt: str, matrix: int = BT601, size: tuple[int, int] = (0, 0),  # noqa: ANN201
                    alpha: bool = False):
    """What turns an RGB(A) array into a frame for the encoder: :class:`GifPalette` for ``pal8`` (a
    GIF of ``size``, width and height, with a transparent colour for ``alpha``), else
    :func:`encoder_frame` with ``matrix``."""
    if pix_fmt == "pal8":
        return GifPalette(*size, alpha=alpha)
    return functools.partial(encoder_frame, pix_fmt=pix_fmt, matrix=matrix)


@functools.cache
def sws_flags(deep: bool = False) -> int:
    """:data:`_SWS_FLAGS` (with ``deep``, for YUV -> 16-bit RGB: :data:`_SWS_DEEP_FLAGS`) as the int
    PyAV takes (resolved once, not per frame)."""
    from av.video.reformatter import Interpolation

    flags = 0
    for name in (_SWS_DEEP_FLAGS if deep else _SWS_FLAGS).split("|"):
        flags |= int(Interpolation[name])
    return flags


def is_deep(pix_fmt: str | None) -> bool:
    """More than 8 bits per sample (10-bit HDR and deeper)."""
    import av

    try:
        return pix_fmt is not None and max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    except (ValueError, TypeError):
        return False


#: FFmpeg's default channel layout for each channel count (av_channel_layout_default).
_USUAL_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


#: The channel layouts libopus takes for each channel count (Vorbis's order; it refuses any other):
#: a DVD's or Blu-ray's AC-3 or DTS 5.1, "5.1(side)" to FFmpeg, into .webm refused the whole run.
_VORBIS_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def usual_layout(layout):  # noqa: ANN001, ANN201 - an av AudioLayout, and it or a layout's name
    """``layout``, or where its channels are in no declared order (PCM from Matroska or WAV: FFmpeg says
    "1 channels") the usual layout for that many (:data:`_USUAL_LAYOUTS`), as FFmpeg's command line
    guesses it: the .mp4 muxer refused such a stream at the first packet, and the AAC encoder a
    re-encode of it ("Unsupported channel layout")."""
    count = len(layout.channels)
    if count in _USUAL_LAYOUTS and all(c.name == "NONE" for c in layout.channels):
        return _USUAL_LAYOUTS[count]
    return layout


def _hush(frame) -> None:  # noqa: ANN001 - a new av.AudioFrame
    """Fill ``frame`` with silence: unsigned 8-bit samples at 128, every other format at 0. Only its
    channels' planes (one, packed): PyAV lists more planes than a planar frame of 8 or more channels has
    (9 for 7.1, 52 for 22.2), the rest pointing nowhere, and writing them crashed the run (a 7.1 film's
    sound padded with silence into .mxf)."""
    planes = frame.planes[:len(frame.layout.channels) if frame.format.is_planar else 1]
    for plane in planes:
        plane.update(bytes([128 if frame.format.name.startswith("u8") else 0]) * plane.buffer_size)


class AudioReencode:
    """An audio stream that the output format cannot hold as it is (AAC, MP3, FLAC or PCM into
    .webm), decoded and encoded again with the format's own audio codec (Opus for .webm) at the
    input's sample rate where that codec takes it (else the nearest above) and channel layout:
    what FFmpeg's command line does with such a stream. Its packets are fed from the input as the
    copied streams' are; PyAV resamples and re-chunks the frames for the encoder and carries their
    timestamps. A packet that does not decode is left out and counted (``bad``)."""

    #: Bits per second per channel: Opus is near transparent at 64k, AAC (FFmpeg's) at about 96k.
    RATES = {"libopus": 64_000}
    DEFAULT_RATE = 96_000

    def __init__(self, in_stream, out_container, codec: str,  # noqa: ANN001 - av streams
                 shape: tuple[int, int] | None = None) -> None:
        """``shape``: the (rate, channels) to encode in, and convert every frame to, in place of the
        first frame's."""
        import av

        self.decoder = in_stream.codec_context
        self.pads = out_container.format.name in _PADDED_AUDIO  # padded to the video's end too
        self.end: Fraction | None = None  # where the audio encoded so far ends, in seconds
        self.last = None  # the last decoded frame: the format, layout and rate of the padding
        from srstream.engine.media import main_video

        video = main_video(in_stream.container)
        first = None if video is None else video.start_time
        video_start = Fraction(0) if first is None else first * video.time_base
        #: where silence before the sound starts, in seconds: the video's start (.mxf), the file's (.avi, .ogv), or none
        self.pad_from: Fraction | None = (video_start if self.pads else
                                          Fraction(0) if out_container.format.name in _STARTLESS_AUDIO else None)
        rates = av.codec.Codec(codec, "w").audio_rates or _FORMAT_AUDIO_RATES.get(out_container.format.name)
        rate = (shape[0] if shape else in_stream.rate) or 48000
        if rates and rate not in rates:
            rate = min((r for r in rates if r >= rate), default=max(rates))
        self.stream = out_container.add_stream(codec, rate=rate)
        count = shape[1] if shape else len(in_stream.layout.channels)
        layout = _USUAL_LAYOUTS.get(count, f"{count}c") if shape else usual_layout(in_stream.layout)
        # (libopus: PyAV's resampler maps the channels across)
        self.stream.layout = _VORBIS_LAYOUTS[count] if codec == "libopus" and count in _VORBIS_LAYOUTS else layout
        depth = "".join(c for c in codec.split("_")[-1] if c.isdigit()) if codec.startswith("pcm_") else ""
        # (PCM: its own rate, as said in the run's line; 16-bit 48 kHz 7.1 is 6,144 kbit/s, not the 768 of AAC)
        self.stream.bit_rate = int(depth) * rate * max(1, count) if depth else \
            self.RATES.get(codec, self.DEFAULT_RATE) * max(1, count)
        #: the (layout, rate) every frame is converted to (``shape``), else the first frame's
        self.target = (self.stream.layout.name, self.stream.rate) if shape else None
        self.what = f"audio stream #{in_stream.index} ({in_stream.codec_context.name})"
        self.bad = 0
        self.first: tuple[str, str, int] | None = None  # the first decoded frame's format, layout and rate
        self.convert = None  # an av.AudioResampler to those, from ``self.converting``
        self.converting: tuple[str, str, int] | None = None
        self.changed = 0  # frames decoded in another layout or rate than the first, converted to it

    def _as_first(self, frame) -> list:  # noqa: ANN001 - a decoded av.AudioFrame, or None: what is held back
        """``frame`` in the first frame's sample format, layout and rate, which the encoder's resampler
        was set up with and holds to. A broadcast recording's AC-3 switches between stereo (the adverts)
        and 5.1 (the programme) mid-stream: re-encoded (into .webm, or an .avi for a late start), the run
        ended in a traceback there ("Frame does not match AudioResampler setup"). Such frames are mixed
        down or up to the first's layout, as FFmpeg's command line does."""
        import av

        shape = None if frame is None else (frame.format.name, frame.layout.name, frame.sample_rate)
        held = []
        if self.convert is not None and shape != self.converting:  # what the last conversion holds, then a new one
            held = list(self.convert.resample(None))
            self.convert = self.converting = None
        if frame is None:
            return held
        self.first = self.first or (shape if self.target is None else (shape[0], *self.target))
        if shape == self.first:
            return [*held, frame]
        self.changed += 1
        if self.convert is None:
            self.convert = av.AudioResampler(format=self.first[0], layout=self.first[1], rate=self.first[2])
            self.converting = shape
        return [*held, *self.convert.resample(frame)]

    def silence(self) -> list:
        """The packets of a frame of silence and the encoder's end (for :func:`rehearse`, on its own stream)."""
        import av

        frame = av.AudioFrame(format="s16", layout=self.stream.layout, samples=1024)
        _hush(frame)
        frame.sample_rate, frame.pts = self.stream.rate, 0
        return [*self.stream.encode(frame), *self.stream.encode(None)]

    def packets(self, packet, until: Fraction | None = None) -> list:  # noqa: ANN001 - an input av.Packet
        """The output packets that ``packet`` completes; with None, all that are left, and (for a
        format in :data:`_PADDED_AUDIO`) silence up to ``until`` seconds, the video's end."""
        import av

        try:
            frames = self.decoder.decode(packet)
        except av.error.InvalidDataError:
            self.bad += 1
            return []
        padded = []
        for decoded in frames:
            if decoded.pts is not None and decoded.sample_rate and decoded.time_base \
                    and decoded.time_base != Fraction(1, decoded.sample_rate):
                # one time base for every frame: the encoder's resampler times all of them in its
                # first frame's (the silence's, 1/rate), and a Matroska sound's milliseconds
                # then counted as samples (1.2 s as 1200 samples: the muxer's times went back)
                decoded.pts = round(decoded.pts * decoded.time_base * decoded.sample_rate)
                decoded.time_base = Fraction(1, decoded.sample_rate)
            padded += self._timed(self._as_first(decoded))
        if packet is None:
            padded += self._timed(self._as_first(None))
        if packet is None and self.pads and until is not None and self.last is not None and self.end is not None:
            padded += self._silence(self.last, self.end, until)
        out = [q for frame in padded for q in self.stream.encode(frame)]
        return out + list(self.stream.encode(None)) if packet is None else out

    def _timed(self, frames: list) -> list:
        """``frames`` (in the first frame's shape), after the silence before the first of all where the
        format plays sound from the file's start; notes where the sound ends."""
        padded = []
        for frame in frames:
            if frame.pts is not None:
                if self.pad_from is not None and self.end is None:  # the first: silence before it
                    padded += self._silence(frame, self.pad_from, frame.pts * frame.time_base)
                self.end = frame.pts * frame.time_base + Fraction(frame.samples, frame.sample_rate)
            self.last = frame
            padded.append(frame)
        return padded

    @staticmethod
    def _silence(like, start: Fraction, until: Fraction) -> list:  # noqa: ANN001 - an av.AudioFrame
        """Frames of silence in ``like``'s format, layout and rate, from ``start`` to ``until`` seconds."""
        import av

        frames = []
        rate = like.sample_rate
        start = round(start * rate)
        left = int(-(-(until * rate - start) // 1))
        while left > 0:
            frame = av.AudioFrame(format=like.format.name, layout=like.layout, samples=min(left, 1024))
            _hush(frame)
            frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), start
            frames.append(frame)
            start += frame.samples
            left -= frame.samples
        return frames


class SubtitleReencode:
    """A text subtitle stream that the output format cannot hold as it is (SubRip or ASS into .mp4:
    mov_text; into .webm: WebVTT), each event decoded and encoded again at its own time and length,
    as FFmpeg's command line does. Styling beyond what the target format knows is lost; picture
    subtitles (Blu-ray PGS, DVD) have no text to carry and are refused by the caller."""

    def __init__(self, in_stream, out_container, codec: str) -> None:  # noqa: ANN001 - av streams
        self.decoder = in_stream.codec_context
        if not self.decoder.is_open:
            self.decoder.open()  # which makes its ASS header, the one the encoder needs to open
        self.stream = out_container.add_stream(codec)
        self.stream.codec_context.time_base = in_stream.time_base
        self.stream.codec_context.subtitle_header = self.decoder.subtitle_header
        self.what = f"subtitle stream #{in_stream.index} ({in_stream.codec_context.name})"
        self.bad = 0

    def packets(self, packet) -> list:  # noqa: ANN001 - an input av.Packet (or None: the end)
        """The output packet for ``packet``'s event (none for the end, or an empty event)."""
        import av

        if packet is None:
            return []
        try:
            events = self.decoder.decode2(packet)
            if events is None:
                return []
            out = self.stream.codec_context.encode_subtitle(events)
        except av.error.FFmpegError:
            self.bad += 1
            return []
        if out is None:
            return []
        out.stream = self.stream
        out.pts, out.dts, out.duration, out.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
        return [out]


_REENCODERS = (AudioReencode, SubtitleReencode)


class CoverPicture:
    """A video's cover picture (an ``attached_pic`` stream: an .mp4's or .m4v's ``covr`` atom, a
    Matroska cover attachment shown as a stream) in an .mp4 or .m4v output: a stream marked as
    the cover, whose one packet goes in at the end (:func:`mux_copied` with no packet; the MP4
    muxer writes it into the file's index then). Made by :func:`copy_container_metadata`."""

    def __init__(self, stream, packet) -> None:  # noqa: ANN001 - its av output stream, the picture's av Packet
        self.stream, self._packet = stream, packet

    def packets(self, packet=None) -> list:  # noqa: ANN001 - an input packet: none come (it is not demuxed)
        """The picture's packet, once, when asked for what is left (``packet`` None)."""
        if packet is not None or self._packet is None:
            return []
        out, self._packet = self._packet, None
        out.stream = self.stream
        return [out]


#: The cover pictures a Matroska output holds as attachments (any image) and an MP4 one as its
#: ``covr`` (FFmpeg's MP4 muxer takes these codecs: a QuickTime .mov gets none from it).
_MP4_COVERS = {"mjpeg": "image/jpeg", "png": "image/png", "bmp": "image/bmp"}
_COVER_SUFFIXES = {"mjpeg": "jpg", "png": "png", "bmp": "bmp", "webp": "webp", "gif": "gif", "tiff": "tif"}
#: Formats that hold audio only at some sample rates (FFmpeg's MXF muxer: 48 kHz).
_FORMAT_AUDIO_RATES = {"mxf": (48000,)}
#: Formats whose audio is always encoded again and padded with silence from the video's start to its
#: end: FFmpeg's MXF muxer writes the video only as far as the audio reaches (a clip whose sound
#: stopped 1 frame early lost its last frame; one with half the sound, half its frames), and keeps
#: no start time for the audio (sound that began 0.1 s in played at 0).
_PADDED_AUDIO = ("mxf",)
#: Formats whose muxer keeps no start time for sound and plays it from the file's start, while the
#: video keeps its own (FFmpeg's AVI muxer fills a video's late start with empty frames): sound that
#: began 0.4 s in played at 0, 0.4 s before its picture, in .avi and .ogv alike. Such sound is encoded
#: again with silence before it when it begins more than :data:`STARTLESS_TOLERANCE` seconds in.
_STARTLESS_AUDIO = ("avi", "ogv")
#: Formats whose muxer takes PCM sound that few players read from it: FFmpeg writes it into an .mp4 as
#: ISO/IEC 23003-5 ``ipcm``, which browsers, QuickTime and Windows do not play and FFmpeg before 6.1
#: (Debian 12's 5.1) reads as 16-bit samples: 24-bit 5.1 sound came out as noise. PCM is encoded again
#: there (a .mov or .mkv output keeps it as it is). So is Vorbis, which the muxer writes and browsers,
#: QuickTime and Windows do not play from an .mp4 (an .mkv or .webm keeps it).
_PCM_SHY = ("mp4", "ipod")


def _shy_sound(codec: str) -> tuple[str, str] | None:
    """(its name, the outputs that keep it) for a sound codec few players read from a :data:`_PCM_SHY` format."""
    if codec.startswith("pcm_"):
        return "PCM", "a .mov or .mkv"
    return ("Vorbis", "an .mkv or .webm") if codec == "vorbis" else None
#: The sound an MPEG transport stream (.ts, .m2ts, .mts) names to its readers. FFmpeg's muxer writes any
#: other (FLAC, ALAC, Vorbis, PCM but Blu-ray's) as a private stream that no player, nor FFmpeg, reads back
#: as sound: a run said it had copied it, and the output was silent. Such sound is encoded again as AC-3
#: (what Blu-ray, ATSC and DVB carry, up to 5.1; AAC above), not as the muxer's default MP2 (stereo only).
_TS_SOUND = frozenset({"mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m",
                       "pcm_bluray"})
#: Sound may come this much early and still be copied as it is: half the 40 ms by which EBU R37
#: lets sound lead its picture at the end of a broadcast chain (lip sync is seen from about 45 ms).
STARTLESS_TOLERANCE = 0.02
#: Subtitle codecs with text to carry from one format to another.
_TEXT_SUBTITLES = ("subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text")
#: FFmpeg's MP4-family muxers (.mp4, .mov, .m4v, .3gp, .3g2, .psp, .ismv): text subtitles go in as mov_text.
MP4_FAMILY = ("mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv")
#: The subtitles an MPEG transport stream names to its readers (DVB, teletext, ARIB, Blu-ray's PGS and
#: text in .m2ts); FFmpeg's muxer wrote text subtitles (SubRip, ASS, WebVTT, mov_text) into a .ts as a data
#: stream no player shows, and a run said it had copied them; into .m2ts it refused them mid-run.
_TS_SUBTITLES = frozenset({"dvb_subtitle", "dvb_teletext", "arib_caption", "hdmv_pgs_subtitle",
                           "hdmv_text_subtitle"})
#: What a transport stream names, by stream type, and what players do not do with the rest.
_TS_NAMED = {"audio": (_TS_SOUND, "read as sound; an .mkv output keeps it as it is"),
             "subtitle": (_TS_SUBTITLES, "show")}


#: AAC's sample rates by the index an ADTS header gives (ISO/IEC 14496-3, 1.6.3.4).
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
#: The formats whose demuxers give AAC as ADTS frames, each with a header saying its own rate and channels
#: (a broadcast's or a streaming service's .ts, a bare .aac), and the muxers that keep those headers.
_ADTS_FORMATS = ("mpegts", "aac")


def _sound_shape(rate: int, channels: int) -> str:
    """``48 kHz 5.1``: a rate and a channel count as a user reads them."""
    layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(channels, f"{channels} channels")
    return f"{rate / 1000:g} kHz {layout}"


@functools.lru_cache(maxsize=8)
def _adts_shapes(path: str, index: int, stamp: tuple[int, int], start: float | None = None,
                 end: float | None = None) -> tuple[tuple[int, int, int, float], ...]:
    """(rate, channels, samples, first seconds) of each shape the ADTS frames of stream ``index`` of the
    file at ``path`` (of size and mtime ``stamp``) come in, in order of appearance, from ``start`` to ``end``
    seconds on the stream's clock where given (a preview's, a scene's: not the whole film); () where it
    cannot be read. Read from the frames' 7-byte headers, not decoded: a 77-minute .ts of 346 MB in 2.1 s on
    a 2-core Xeon."""
    import av

    from srstream.engine.sequence import open_input

    shapes: dict[tuple[int, int], list] = {}
    try:
        with open_input(path) as container:
            stream = container.streams[index]
            if start:
                container.seek(max(0, int((start - 1) * 1_000_000)))  # (microseconds; a second early: every frame)
            for packet in container.demux(stream):
                at = float(packet.pts * packet.time_base) if packet.pts is not None else None
                if at is not None and ((start is not None and at < start) or (end is not None and at >= end)):
                    if end is not None and at >= end:
                        break
                    continue
                head = bytes(packet)[:7] if packet.size >= 7 else b""
                if len(head) < 7 or head[0] != 0xFF or head[1] & 0xF6 != 0xF0:
                    continue  # not an ADTS frame (or a flush)
                rate_index, config = (head[2] >> 2) & 0xF, ((head[2] & 1) << 2) | (head[3] >> 6)
                if rate_index >= len(_ADTS_RATES) or not config:  # a reserved rate; channels set in the frame
                    continue
                shape = (_ADTS_RATES[rate_index], 8 if config == 7 else config)
                shapes.setdefault(shape, [0, at or 0.0])[0] += 1024 * ((head[6] & 3) + 1)
    except (av.error.FFmpegError, OSError, IndexError):  # the run reads it and says what is wrong
        return ()
    return tuple((rate, channels, samples, first) for (rate, channels), (samples, first) in shapes.items())


def _switching_sound(in_stream, out_format: str, suffix: str,  # noqa: ANN001 - an av stream
                     span: tuple[Fraction | None, Fraction | None] = (None, None)) -> None:
    """Refuse to copy AAC whose ADTS frames switch rate or channels mid-stream (a DVB recording's adverts in
    stereo and its programme in 5.1, a streaming service's .ts with adverts spliced in at 44.1 kHz) into a
    format that describes the sound once, for all of it (.mp4, .mov, .mkv, ...): the frames after the switch
    did not decode there ("Invalid data", or noise in other players), and a run said it had copied them.

    Raises:
        _Reencode: with the shapes, and the longest-running one, which the sound is encoded in throughout.
    """
    container = in_stream.container
    if in_stream.codec_context.name != "aac" or container.format.name not in _ADTS_FORMATS \
            or out_format in _ADTS_FORMATS:
        return
    try:
        found = os.stat(container.name)
    except OSError:  # standard input, a stream's address: read once, not scanned
        return
    if not stat.S_ISREG(found.st_mode):  # a pipe, a device
        return
    start = float(span[0]) if span[0] is not None else None
    origin = start if start is not None else (container.start_time or 0) / 1_000_000
    end = origin + float(span[1]) if span[1] is not None else None
    shapes = _adts_shapes(container.name, in_stream.index, (found.st_size, found.st_mtime_ns), start, end)
    if len(shapes) < 2:
        return
    longest = max(shapes, key=lambda shape: shape[2])
    switch = shapes[1][3] - shapes[0][3]
    raise _Reencode(f"its sound switches between {' and '.join(_sound_shape(*shape[:2]) for shape in shapes)} "
                    f"(first {switch:.2f} s in), which a {suffix} file describes once for all of it; encoded in "
                    f"its longest-running shape, {_sound_shape(*longest[:2])}, throughout",
                    shape=longest[:2])


def _reencoder(in_stream, out_container,  # noqa: ANN001 - av streams
               shape: tuple[int, int] | None = None) -> AudioReencode | SubtitleReencode | None:
    """A re-encoder for a stream the output cannot hold as it is, in the output format's own codec
    (audio: the format's default, in ``shape`` (rate, channels) where given; text subtitles: mov_text for
    .mp4/.mov, the default elsewhere); None where there is none to take (the caller then says so)."""
    import av

    if in_stream.type == "audio":
        default = out_container.default_audio_codec
        channels = shape[1] if shape else len(in_stream.layout.channels)
        # (.ts: see _TS_SOUND; MPEG audio, .avi's, .flv's and .mpg's own, is stereo at most, and a 5.1 film's sound
        # into them was refused: AC-3, as a DVD's, or AAC above 5.1 and in .flv, which holds no AC-3)
        if out_container.format.name == "mpegts" or (default in ("mp3", "mp2") and channels > 2):
            default = "ac3" if channels <= 6 and out_container.format.name != "flv" else "aac"
        codec = {"opus": "libopus", "vorbis": "libvorbis"}.get(default, default)
        kind = AudioReencode
    elif in_stream.type == "subtitle" and in_stream.codec_context.name in _TEXT_SUBTITLES:
        if out_container.format.name == "mpegts":  # none a transport stream names takes text (_TS_SUBTITLES)
            return None
        mp4 = any(name in out_container.format.name.split(",") for name in MP4_FAMILY)
        codec = "mov_text" if mp4 else out_container.default_subtitle_codec
        kind = SubtitleReencode
    else:
        return None
    if not codec or codec == "none":
        return None
    try:
        return kind(in_stream, out_container, codec, shape) if shape else kind(in_stream, out_container, codec)
    except (av.error.FFmpegError, ValueError, LookupError):  # no such encoder here, or a layout it cannot take
        return None


@functools.cache
def format_for(suffix: str) -> str:
    """The name of the muxer FFmpeg picks for a file ending in ``suffix`` (``.mxf`` -> ``mxf``), found by
    opening an empty file of that name in the temporary folder.

    Raises:
        OutputError: no muxer takes that extension.
    """
    import tempfile

    import av

    with tempfile.TemporaryDirectory() as folder:
        try:
            with av.open(f"{folder}/probe{suffix}", "w") as probe:
                return probe.format.name
        except ValueError as exc:
            raise OutputError(f"no output format for {suffix!r} files; use .mp4, .mkv, .mov or .webm") from exc


def first_packets(path: str | Path | None, indices, limit: int = 2000) -> dict:  # noqa: ANN001
    """A copy of the first packet of each stream ``indices`` of the file at ``path``, opened anew
    (None, standard input: none), from its first ``limit`` packets: what a probe muxes into the
    copied streams (:func:`finish_probe`)."""
    import av

    from srstream.engine.sequence import open_input

    wanted = set(indices)
    if not wanted or path is None or str(path) == "-":
        return {}
    found: dict = {}
    try:
        with open_input(path) as container:
            for count, packet in enumerate(container.demux(*[container.streams[i] for i in sorted(wanted)])):
                index = packet.stream.index
                if packet.size and packet.dts is not None and index not in found:
                    found[index] = copy_packet(packet)
                if len(found) == len(wanted) or count >= limit:
                    break
    except (av.error.FFmpegError, OSError):  # the run reads it and says what is wrong
        return found
    return found


def copy_packet(packet):  # noqa: ANN001, ANN202 - av.Packet
    """A packet of its own (muxing empties the one muxed)."""
    import av

    copy = av.Packet(bytes(packet))
    copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
    copy.time_base, copy.is_keyframe = packet.time_base, packet.is_keyframe
    return copy


def finish_probe(probe, copied: dict, samples: dict) -> None:  # noqa: ANN001 - an av output container in memory
    """Mux into a probe's other streams (:func:`copy_streams`' ``copied``) what a run would: a frame of
    silence into each re-encoded audio stream, the ``samples`` (:func:`first_packets`) into the copied
    ones; then write the trailer. A trailer can fail for a stream that got no packet (.mxf's does, and
    .avi's muxer only checks a packet when it writes it, which with a silent stream is at the end):
    with one such stream, that says nothing about a run, and is let pass."""
    import av

    empty = False
    for index, target in copied.items():
        if isinstance(target, AudioReencode):
            for packet in target.silence():
                probe.mux(packet)
        elif isinstance(target, CoverPicture):
            for packet in target.packets(None):
                probe.mux(packet)
        elif index in samples and not isinstance(target, _REENCODERS):
            packet = copy_packet(samples[index])
            packet.stream = target
            probe.mux(packet)
        else:
            empty = True
    try:
        probe.close()
    except (av.error.FFmpegError, ValueError):
        if not empty:
            raise


#: Muxers that cannot write into memory, and the format :func:`rehearse` and :func:`_header_takes` try
#: their streams in instead: RTSP's sends RTP packets over its own connection (tried in memory it
#: said "Invalid data found": no live run could send to an RTSP server, and a stream's AAC was
#: encoded again for it, "a .mp4 file cannot hold aac").
STAND_INS = {"rtsp": "mp4"}


def rehearse(format_name: str, options: EncodeOptions, build, size: tuple[int, int], what: str,  # noqa: ANN001
             samples: dict | None = None) -> bytes:
    """Write a whole output into memory before any work, and return it: ``build(container, options)``
    adds its streams (and returns the video stream, its RGB-to-frame converter and
    :func:`copy_streams`' result), then :data:`REHEARSAL_FRAMES` black frames of ``size`` go through
    the encoder, a frame of silence through each re-encoded audio stream, ``samples``
    (:func:`first_packets`) into the copied ones, and the header and trailer are written.

    Encoders and muxers accept settings they refuse only when they open or write: MPEG-2 at a frame
    rate it has no code for, DNxHD without a profile for the size, 44.1 kHz audio into .mxf. In a run
    that was after the model had loaded, at the first frame; here it costs an encoder opening and
    three frames (on a 2-core Sapphire Rapids, x264: 51-72 ms at 720p, 0.4 s at 2160p; x265: 0.3 and
    2.2 s; ``benchmarks/results/bench/rehearsal_cost.md``). A refusal is tried again with one encoder
    thread and FFmpeg's log on, to say FFmpeg's own reason (the log stays off otherwise: PyAV turns
    it off because its callback can deadlock against FFmpeg's threads).

    Raises:
        OutputError: ``what`` (e.g. "a .mxf output with mpeg2video") cannot be written, FFmpeg's
            reason, and what to try; nothing was written anywhere.
        ConfigError: as ``build`` raises it.
    """
    import dataclasses
    import io

    import av
    import av.logging

    def attempt(opts: EncodeOptions) -> bytes:
        memory = io.BytesIO()
        probe = av.open(memory, "w", format=STAND_INS.get(format_name, format_name))
        try:
            stream, convert, copied = build(probe, opts)
            tick = stream.codec_context.time_base
            step = frame_ticks(stream.average_rate, tick)
            packets = []
            for index in range(REHEARSAL_FRAMES):
                frame = convert(np.zeros((size[1], size[0], 3), np.uint8))
                frame.pts, frame.time_base = index * step, tick
                packets += stream.encode(frame)
            for packet in [*plausible_dts(packets), *plausible_dts(stream.encode(None), short=REHEARSAL_FRAMES < 3)]:
                probe.mux(packet)
            finish_probe(probe, copied, samples or {})
        except BaseException:
            try:
                probe.close()
            except (av.error.FFmpegError, ValueError):  # already failing; the memory is dropped
                pass
            raise
        return memory.getvalue()

    def sound_encoder(name: str) -> bool:
        try:
            return av.codec.Codec(name, "w").type == "audio"
        except (ValueError, av.error.FFmpegError):  # a muxer's or a filter's name, not an encoder's
            return False

    def refused(reason: object, sound: bool = False) -> OutputError:
        if sound:  # the sound encoded again for the format, not the picture (a 24-channel master into .mp4)
            return OutputError(f"{what} cannot be written: its sound cannot be encoded for it ({reason}); nothing "
                               "was written. Use an .mkv output, which keeps the sound as it is, or --no-audio")
        if options.codec in NVENC_CODECS:
            return OutputError(f"{what} cannot be written ({reason}); nothing was written. {options.codec} needs an "
                               "NVIDIA GPU that has the hardware encoder (GeForce/RTX, L4/L40; not A100/H100/H200) "
                               "and its driver; leave out --codec for libx264 on the CPU")
        return OutputError(f"{what} cannot be written ({reason}); nothing was written. Try another --codec or "
                           "--pix-fmt, --no-audio / --no-subtitles, or an .mkv output")

    try:
        return attempt(options)
    except SRStreamError:  # said already (ConfigError is a ValueError too)
        raise
    except (av.error.FFmpegError, ValueError) as exc:
        first = exc
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs:
            attempt(dataclasses.replace(options, threads=1))
    except (av.error.FFmpegError, ValueError) as exc:
        said = [(name, text.strip()) for lvl, name, text in logs if lvl <= av.logging.ERROR and text.strip()]
        # the last: what stopped it (DNxHD lists its profiles first)
        raise refused(": ".join(said[-1]) if said else exc, bool(said) and sound_encoder(said[-1][0])) from exc
    finally:
        av.logging.set_level(level)
    raise refused(first) from first  # refused with the encoder's threads only: so would the run be


def _header_takes(format_name: str, in_stream) -> None:  # noqa: ANN001 - an av stream
    """Write a ``format_name`` header holding a copy of ``in_stream`` into memory. Some muxers accept
    the stream and refuse it only when the header is written (Opus into .mov), which in a run would be
    mid-way; this finds out before any work.

    Raises:
        av.error.FFmpegError, ValueError: the format cannot hold the stream as it is.
    """
    import io

    import av

    probe = av.open(io.BytesIO(), "w", format=STAND_INS.get(format_name, format_name))
    try:
        probe.add_stream_from_template(in_stream)
        probe.start_encoding()
    finally:
        try:
            probe.close()
        except (av.error.FFmpegError, ValueError):  # a probe that failed half-way; nothing was written anywhere
            pass


class _Reencode(ValueError):
    """A stream the output could hold as it is, but that is encoded again for a reason said here (sound in
    ``shape``, (rate, channels), where that is given)."""

    def __init__(self, why: str, shape: tuple[int, int] | None = None) -> None:
        super().__init__(why)
        self.shape = shape


def copy_streams(out_container, in_streams: dict, suffix: str, copied: list[str],  # noqa: ANN001
                 span: tuple[Fraction | None, Fraction | None] = (None, None), notes: list[str] | None = None) -> dict:
    """Add a stream-copy output stream for each input stream (audio, subtitles), with its tags and
    dispositions; returns input index -> output stream, or ->
    :class:`AudioReencode` / :class:`SubtitleReencode` for an audio or text subtitle stream the
    format cannot hold as it is (and for all audio into .mxf, :data:`_PADDED_AUDIO`), and appends
    what was copied (or re-encoded) to ``copied``. ``span``: (where the output starts, in seconds on the input's
    clock, and how long it runs) where it is a part (a preview, a scene): what is looked at in the sound.
    A camera's telemetry track (:func:`srstream.engine.media.is_gpmf`) is copied into an .mp4 or .mov, and
    left out of other formats with a note in ``notes``.

    Raises:
        OutputError: the output format cannot hold one of them (with what to use instead).
    """
    import av

    out = {}
    for index, in_stream in in_streams.items():
        if in_stream.type == "data":  # a camera's telemetry (media.is_gpmf): copied where the format holds it
            telemetry = _copy_telemetry(out_container, in_stream, suffix, copied, notes)
            if telemetry is not None:
                out[index] = telemetry
            continue
        what = f"{in_stream.type} stream #{index} ({in_stream.codec_context.name})"
        try:
            if in_stream.type == "audio" and out_container.format.name in _PADDED_AUDIO:
                raise _Reencode(f"the sound of a {suffix} file runs from the video's start to its end")
            shy = _shy_sound(in_stream.codec_context.name) if in_stream.type == "audio" else None
            if shy is not None and out_container.format.name in _PCM_SHY:
                raise _Reencode(f"{shy[0]} in a {suffix} file plays in few players; {shy[1]} output keeps it as it is")
            named, verb = _TS_NAMED.get(in_stream.type, (None, ""))
            if (named is not None and out_container.format.name == "mpegts"
                    and in_stream.codec_context.codec.canonical_name not in named):
                raise _Reencode(f"a {suffix} file holds {in_stream.codec_context.name} as data that players do not "
                                f"{verb}")
            late = _sound_start(in_stream) if in_stream.type == "audio" else 0.0
            if out_container.format.name in _STARTLESS_AUDIO and late > STARTLESS_TOLERANCE:
                raise _Reencode(f"a {suffix} file keeps no start time for sound, which begins {late:.2f} s in")
            if in_stream.type == "audio":
                _switching_sound(in_stream, out_container.format.name, suffix, span)
            _header_takes(out_container.format.name, in_stream)
            out[index] = out_container.add_stream_from_template(in_stream)
        except (av.error.FFmpegError, ValueError) as exc:
            again = _reencoder(in_stream, out_container, getattr(exc, "shape", None))
            if again is None:
                raise OutputError(f"cannot copy {what} into {suffix} ({exc}); use an .mkv output, or "
                                  "--no-audio / --no-subtitles") from exc
            out[index] = again
            copy_stream_tags(in_stream, again.stream)
            rate = f" at {again.stream.bit_rate // 1000} kbit/s" if isinstance(again, AudioReencode) else ""
            # our reason, or the format's refusal in words (FFmpeg's said "Invalid argument: '<none>'
            # returned 22" for AAC into .ogv)
            held = f"a {suffix} file cannot hold {in_stream.codec_context.name}"
            why = str(exc) if isinstance(exc, _Reencode) else held
            why += ", padded with silence" if getattr(again, "pad_from", None) is not None else ""
            copied.append(f"{what} re-encoded as {again.stream.codec_context.name}{rate} ({why})")
            continue
        if out[index].type != in_stream.type:  # e.g. mov_text into .ts becomes a data stream
            raise OutputError(f"a {suffix} file cannot hold the {what}; use an .mkv or .mp4 output, "
                              "or --no-subtitles / --no-audio")
        if in_stream.type == "audio":  # (the .mp4 muxer refuses channels in no order at the first packet)
            out[index].layout = usual_layout(in_stream.layout)
        copy_stream_tags(in_stream, out[index])
        copied.append(what)
    return out


#: The formats that hold a GoPro camera's telemetry track as GoPro's own files do (``gpmd``)
TELEMETRY_FORMATS = ("mp4", "mov")


def _copy_telemetry(out_container, in_stream, suffix: str, copied: list[str],  # noqa: ANN001, ANN202
                    notes: list[str] | None):
    """The output stream copying the GoPro telemetry ``in_stream`` into an .mp4 or .mov (appended to
    ``copied``), or None, with a note in ``notes``, for a format that would not keep it as such (Matroska
    and WebM refuse it; MPEG-TS would write it as a private stream nothing reads as GPMF): its packets
    are then dropped (:func:`mux_copied`)."""
    import av

    what = f"data stream #{in_stream.index} (GoPro telemetry)"
    if out_container.format.name in TELEMETRY_FORMATS:
        try:
            stream = out_container.add_stream_from_template(in_stream)
        except (av.error.FFmpegError, ValueError):
            stream = None
        if stream is not None:
            copy_stream_tags(in_stream, stream)
            copied.append(what)
            return stream
    if notes is not None:
        notes.append(f"stream #{in_stream.index} (data: GoPro telemetry: GPS, accelerometer, gyroscope) is not kept: a "
                     f"{suffix} file does not hold it; an .mp4 or .mov output keeps it, as the camera's own file does")
    return None


def _sound_start(in_stream) -> float:  # noqa: ANN001 - an av stream
    """When ``in_stream`` starts, in seconds (0 when its container does not say)."""
    start = in_stream.start_time
    return 0.0 if start is None or in_stream.time_base is None else float(start * in_stream.time_base)


#: FFmpeg's AVFMT_TS_NONSTRICT: the muxer takes packets of one stream at the same decode time (Matroska,
#: WebM, Ogg); the others (MP4, MOV, MPEG-TS, AVI) refuse them.
_TS_NONSTRICT = 0x20000


class CopiedOrder:
    """The packets of each copied stream (audio, subtitles) that go back in time, left out.

    Two recordings joined end to end (``cat a.ts b.ts``, a capture's pieces) overlap in their
    sound: the second's first audio packets start before the first's last ones end (an AAC
    encoder's priming alone puts them 21-23 ms early; here they were 110 ms). Muxed as they came,
    their decode times went backwards and the muxer refused the whole output ("writing ...
    failed (Invalid argument)") after every frame was upscaled. FFmpeg's command line moves such a
    packet to just after the one before, which plays the overlap late and the sound after it out
    of step with the pictures; here it is left out, so every packet kept plays at its own time, and
    the notes say how many and how long."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}  # input stream index -> the latest decode time muxed
        self.left_out: dict[int, tuple[str, int, float]] = {}  # index -> (what, packets, seconds)
        self.clock: dict[int, Fraction | None] = {}  # index -> where its next sound frame starts (s), when retimed

    def retime(self, packet, out_time_base: Fraction) -> None:  # noqa: ANN001 - an av.Packet of a copied stream
        """Time a copied sound ``packet`` to the sample in ``out_time_base``, where that is finer than the
        input's clock, as FFmpeg's command line does (``av_rescale_delta``): each frame starts where the one
        before ends, so long as that is within one of the input's ticks of its own time (else at its own).
        Matroska keeps times in milliseconds: a Blu-ray remux's TrueHD frames (1/1200 s) came out of it in
        pairs at the same time, which an MPEG-TS (.ts, .m2ts) or .mp4 muxer takes only in order, and one in
        six was left out; an AAC or AC-3 copy into an .mp4 got frames 1 ms longer or shorter than they are.
        A time never moves by more than the input's own rounding."""
        stream, index = packet.stream, packet.stream.index
        tick = packet.time_base
        if (packet.dts is None or stream.type != "audio" or tick is None or out_time_base is None
                or not out_time_base < tick):
            return
        ctx = stream.codec_context
        rate, size = ctx.sample_rate, ctx.frame_size
        length = (Fraction(size, rate) if size and rate else
                  packet.duration * tick if packet.duration else _decoded_length(packet))
        own = packet.dts * tick
        expected = self.clock.get(index)
        at = expected if expected is not None and abs(own - expected) < tick else own
        self.clock[index] = None if length is None else at + length
        dts = round(at / out_time_base)
        pts = None if packet.pts is None else dts + round((packet.pts - packet.dts) * tick / out_time_base)
        duration = round(length / out_time_base) if length is not None else 0
        packet.time_base = out_time_base
        packet.dts, packet.pts, packet.duration = dts, pts, duration

    def keeps(self, packet, together: bool = False) -> bool:  # noqa: ANN001 - an av.Packet of a copied stream
        """Whether ``packet`` goes out: its decode time is after the last one's, or the same where two may
        share one: subtitles (an ASS file's sign and dialogue start together), and sound where
        ``together`` (it is decoded again, or its muxer takes equal times: Matroska, WebM, Ogg): frames
        shorter than its time base's tick. TrueHD's 1/1200-s frames in Matroska's milliseconds share a
        time every sixth frame: one in six of a Blu-ray remux's TrueHD frames was left out, and the sound
        broke up, in the copy and in the AAC made of it. (A strict muxer's copy still leaves them out.)"""
        index, dts = packet.stream.index, packet.dts
        if dts is None:
            return True
        last = self.last.get(index)
        if last is None or dts > last or (dts == last and (packet.stream.type != "audio" or together)):
            self.last[index] = dts
            return True
        what, count, seconds = self.left_out.get(index, (f"{packet.stream.type} stream #{index}", 0, 0.0))
        length = float(packet.duration * packet.time_base) if packet.duration and packet.time_base else 0.0
        self.left_out[index] = what, count + 1, seconds + length
        return False

    def notes(self) -> list[str]:
        return [f"{count} packet{'s' if count > 1 else ''} of {what} ({seconds:.2f} s) that went back in time "
                f"{'were' if count > 1 else 'was'} left out: the input's {what.split()[0]} overlaps itself there, as "
                "where two recordings are joined end to end"
                for what, count, seconds in self.left_out.values()]


def _decoded_length(packet) -> Fraction | None:  # noqa: ANN001 - an av.Packet of a sound stream
    """How long a sound ``packet`` whose container gives no length plays, in seconds, found by decoding it
    (Matroska's ALAC and FLAC, an .avi's FLAC): an .mp4 muxer takes the last packet's length from the
    packet, and one of none was left out of the file, the end of the sound with it. None where it does
    not decode."""
    import av

    try:
        frames = packet.decode()
    except (av.error.FFmpegError, ValueError):
        return None
    samples, rate = sum(f.samples for f in frames), frames[0].sample_rate if frames else 0
    return Fraction(samples, rate) if samples and rate else None


def mux_copied(out_container, copied: dict, packet, until: Fraction | None = None,  # noqa: ANN001
               order: CopiedOrder | None = None) -> int:
    """Mux an input ``packet`` of another stream into its output stream from :func:`copy_streams`:
    as it is, or re-encoded; with ``packet`` None, what each re-encoded stream still holds (audio
    padded to ``until`` seconds, the video's end, where the format needs it). ``order``: where a
    packet that goes back in time is left out (:class:`CopiedOrder`). Returns how many packets
    went out."""
    if packet is not None and order is not None:
        target = copied.get(packet.stream.index)
        if target is not None and not isinstance(target, (*_REENCODERS, CoverPicture)):
            out_container.start_encoding()  # the muxer's time bases are set with its header
            order.retime(packet, target.time_base)
        if not order.keeps(packet, isinstance(target, _REENCODERS)
                           or bool(out_container.format.flags & _TS_NONSTRICT)):
            return 0
    if packet is None:
        ends = [q for target in copied.values() if isinstance(target, (*_REENCODERS, CoverPicture))
                for q in (target.packets(None, until) if isinstance(target, AudioReencode) else target.packets(None))]
        for q in ends:
            out_container.mux(q)
        return len(ends)
    target = copied.get(packet.stream.index)
    if target is None:  # a telemetry track the format does not keep (_copy_telemetry)
        return 0
    if isinstance(target, _REENCODERS):
        out = target.packets(packet)
        for q in out:
            out_container.mux(q)
        return len(out)
    packet.stream = target
    out_container.mux(packet)
    return 1


def _chapters_from(chapters: list[dict], cut: Fraction | None, until: Fraction | None = None) -> list[dict]:
    """``chapters`` (PyAV's) of an output that starts ``cut`` seconds in (None: at the start) and
    runs ``until`` seconds (None: to the input's end): those that end after its start and begin
    before its end, each moved back by the cut (the one it falls in then starting at 0) and ended
    at the output's end at the latest."""
    moved = []
    for chapter in chapters:
        tb = chapter["time_base"]
        shift = round((cut or 0) / tb)
        start, end = chapter["start"] - shift, chapter["end"] - shift
        last = round(until / tb) if until is not None else None
        if end > 0 and (last is None or start < last):
            moved.append({**chapter, "start": max(0, start), "end": end if last is None else min(end, last)})
    return moved


#: The muxers that time a track starting after 0 by an empty edit in the movie's timescale.
_EDIT_LIST_MUXERS = frozenset({"mp4", "mov", "ipod", "3gp", "3g2", "ismv", "psp", "f4v"})


def exact_start(container, stream) -> None:  # noqa: ANN001 - an av output container and its video stream
    """Time ``container``'s movie in ``stream``'s time base, where the muxer keeps a track's start
    in the movie's timescale (MP4, MOV): FFmpeg's default, 1000 a second, rounded a video that
    starts after 0 (a job's segment, a scene) to the millisecond, so a segment of 24-fps film
    started up to half a millisecond off its first frame's time, and the join moved its frames by
    that. Set before the header is written."""
    if container.format.name in _EDIT_LIST_MUXERS and stream.time_base:
        container.options["movie_timescale"] = str(stream.time_base.denominator)


#: The muxers that write chapters (FFmpeg's others take them and write nothing: .avi, .ts, .flv,
#: .mpg, .mxf, a video-only .ogv, which were said to be copied).
CHAPTER_MUXERS = frozenset({"mp4", "mov", "ipod", "3gp", "3g2", "ismv", "psp", "f4v", "matroska", "webm", "asf",
                            "asf_stream", "nut"})


#: Muxers whose index (``moov``) FFmpeg writes after the data unless told: an .mp4, .m4v or .mov output
#: is written with it first (``faststart``, moved there as the file is closed), so that a browser or a
#: player streaming it over HTTP starts at once and a pipe can read it (``cat out.mp4 | sr-stream -``
#: refused sr-stream's own outputs: "one whose index (moov) comes after its data cannot be read").
_FASTSTART_MUXERS = frozenset({"mp4", "mov", "ipod"})


def web_ready(out_container) -> None:  # noqa: ANN001 - an av output container, before its header is written
    """Ask ``out_container`` (of :data:`_FASTSTART_MUXERS`) for its index first. For an output file
    as it is opened: the muxer moves the index by reading the file again, which a rehearsal in
    memory or a pipe cannot be."""
    if out_container.format.name in _FASTSTART_MUXERS:
        flags = out_container.options.get("movflags", "")
        if "faststart" not in flags:
            out_container.options["movflags"] = f"{flags}+faststart" if flags else "+faststart"


#: FFmpeg's muxers that write no stream's language: an .avi's, .flv's, .mpg's or .mxf's French and German sound
#: tracks came out unnamed, though the run said it had kept the tags.
_NO_LANGUAGES = ("avi", "flv", "mpeg", "vob", "dvd", "svcd", "vcd", "mxf", "mxf_d10", "mxf_opatom")


def copy_container_metadata(src, out_container, suffix: str, copied: list[str], notes: list[str],  # noqa: ANN001
                            cut: Fraction | None = None, until: Fraction | None = None) -> dict:
    """Container tags (title, ...), chapters, attachments (Matroska fonts) and cover pictures,
    where the output format can hold them; what it cannot hold is named in ``notes``, never
    silently lost. ``cut``: the output starts this many seconds into ``src`` (``--start``): the
    chapters that end before it are left out, the others moved to count from it; ``until``: it
    runs this many seconds (``--duration``, ``--to``): those that begin after are left out, the
    last ended there. Returns the cover pictures an .mp4 output takes, by input stream index
    (:class:`CoverPicture`), for the caller's copied streams: :func:`mux_copied` muxes them at the end."""
    for key, value in (src.metadata or {}).items():
        if key.lower() not in ("encoder", "major_brand", "minor_version", "compatible_brands", "duration"):
            out_container.metadata[key] = value
    keys = [key for key in (src.metadata or {}) if "." in key]  # com.apple.quicktime.make, com.android.version
    if keys and suffix.lower() in (".mov", ".mp4", ".m4v"):
        # a phone's own tags (make, model, the local capture time, where it was taken) are QuickTime
        # metadata keys ("mdta"), which FFmpeg's muxer writes only when asked, dropping them otherwise
        flags = out_container.options.get("movflags", "")
        out_container.options["movflags"] = f"{flags}+use_metadata_tags" if flags else "use_metadata_tags"
    elif keys and suffix.lower() != ".mkv":
        notes.append(f"{len(keys)} QuickTime tags ({', '.join(keys[:2])}{', ...' if len(keys) > 2 else ''}) not "
                     f"kept: a {suffix} file holds none (.mov, .mp4 and .mkv do)")
    spoken = [stream.metadata.get("language") for stream in out_container.streams
              if stream.type in ("audio", "subtitle") and stream.metadata.get("language") not in (None, "", "und")]
    if spoken and out_container.format.name in _NO_LANGUAGES:
        notes.append(f"the language{'s' if len(spoken) > 1 else ''} of its sound and subtitles ({', '.join(spoken)}) "
                     f"not kept: a {suffix} file holds none (.mkv, .mp4, .mov and .ts do)")
    chapters = src.chapters()
    if cut is not None or until is not None:
        chapters = _chapters_from(chapters, cut, until)
    many = f"{len(chapters)} chapter{'s' if len(chapters) != 1 else ''}"
    if chapters and out_container.format.name not in CHAPTER_MUXERS:
        notes.append(f"{many} not kept: a {suffix} file holds none (.mkv, .mp4 and .mov do)")
    elif chapters:
        try:
            out_container.set_chapters(chapters)
            copied.append(many)
        except Exception as exc:  # noqa: BLE001 - a format without chapters
            notes.append(f"{many} not kept: {exc}")
    for att in (st for st in src.streams if st.type == "attachment"):
        name = att.metadata.get("filename") or getattr(att, "name", None) or f"attachment{att.index}"
        if suffix.lower() not in (".mkv", ".mka"):  # FFmpeg's WebM muxer drops them without a word
            notes.append(f"attachment {name} not kept: only .mkv outputs hold attachments")
            continue
        out_container.add_attachment(name, att.metadata.get("mimetype") or getattr(att, "mimetype", None)
                                     or "application/octet-stream", bytes(att.data))
        copied.append(f"attachment {name}")
    return _copy_covers(src, out_container, suffix, copied, notes)


def _copy_covers(src, out_container, suffix: str, copied: list[str], notes: list[str]) -> dict:  # noqa: ANN001
    """:func:`copy_container_metadata`'s cover pictures: into a Matroska output as attachments
    (named and typed as the input's own, else ``cover.jpg``, ``cover.png``, as players look them
    up), into an .mp4 or .m4v as a cover stream (:class:`CoverPicture`); any other output says it
    holds none. The picture is read from a second opening of the input (the run's own reads the
    video from its start, or from a cut)."""
    import av

    from srstream.engine.sequence import open_input

    covers = [s for s in src.streams.video if s.disposition & av.stream.Disposition.attached_pic and s.codec_context]
    found: dict = {}
    for cover in covers:
        codec = cover.codec_context.name
        what = f"the cover picture (stream #{cover.index}, {codec})"
        matroska = suffix.lower() in (".mkv", ".mka")
        if not matroska and not (suffix.lower() in (".mp4", ".m4v") and codec in _MP4_COVERS):
            notes.append(f"{what} not kept: FFmpeg writes none into a {suffix} file (.mkv and .mp4 take it)")
            continue
        try:
            with open_input(src.name) as again:
                packet = next((p for p in again.demux(again.streams[cover.index]) if p.size), None)
                data = bytes(packet) if packet is not None else b""
        except (av.error.FFmpegError, OSError, ValueError, IndexError):
            data = b""
        if not data:
            piped = " from a pipe" if src.name.startswith("pipe") else ""
            notes.append(f"{what} not kept: it could not be read again{piped}")
            continue
        if matroska:
            name = cover.metadata.get("filename") or f"cover.{_COVER_SUFFIXES.get(codec, 'bin')}"
            mime = cover.metadata.get("mimetype") or _MP4_COVERS.get(codec) or f"image/{codec}"
            out_container.add_attachment(name, mime, data)
            copied.append(f"cover picture {name}")
            continue
        stream = out_container.add_stream_from_template(cover)
        stream.disposition = av.stream.Disposition.attached_pic  # the mark alone: FFmpeg's muxer wants no other
        found[cover.index] = CoverPicture(stream, av.Packet(data))
        copied.append(f"cover picture ({codec})")
    return found


def frames_kept(path: Path, given: int) -> None:
    """Check that the finished file at ``path`` holds the ``given`` video frames its muxer was handed:
    its index's count where it has one (.mp4, .mov), else its video packets, read without decoding.
    A muxer can drop frames without an error: FFmpeg's MXF muxer wrote the video only as far as the
    audio reached. A file too short for FFmpeg to tell its format by (a transport stream of a few
    small frames: "End of file") is read as the format its extension names.

    Raises:
        OutputError: it holds fewer (the caller deletes it).
    """
    import av

    try:
        opened = open_av(str(path))
    except av.error.FFmpegError:
        opened = open_av(str(path), format=format_for(path.suffix))
    with opened as container:
        video = container.streams.video[0] if container.streams.video else None
        try:
            kept = 0 if video is None else video.frames or sum(1 for packet in container.demux(video) if packet.size)
        except IndexError:  # FFmpeg's FLV muxer wrote an .mp4's MPEG-1 Layer II sound as MP3, and the file read
            kept = 0  # back as dozens of sound streams, found as it was read (PyAV's demux then raised)
    if kept < given:
        raise OutputError(f"the {path.suffix} muxer kept {kept} of the {given} frames it was given; nothing was "
                          "written: choose an .mkv or .mp4 output (and please report this)")


def undecodable(copied: dict) -> list[str]:
    """Notes for the packets of re-encoded streams (audio, subtitles) that did not decode and were left out,
    and for sound whose layout or rate changed mid-stream, encoded in its first's."""
    bad = [f"{target.bad} packets of {target.what} did not decode and were left out"
           for target in copied.values() if isinstance(target, _REENCODERS) and target.bad]
    return bad + [f"{target.changed} frames of {target.what} came in another layout or rate than its "
                  f"{'first' if target.target is None else 'longest-running'} ({target.first[1]}, "
                  f"{target.first[2]} Hz) and were mixed to it, as a broadcast's sound switching between stereo and "
                  f"5.1 is; {'an .mkv or' if target.target is None else 'a'} .ts output copies it as it is"
                  for target in copied.values() if isinstance(target, AudioReencode) and target.changed]
