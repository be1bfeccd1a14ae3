"""What an input path is: a video, an image or a folder of images, probed before any work.

Probing translates PyAV's and OpenCV's failures into :class:`~srstream.errors.InputError`
with a message that names the file and says what to do.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any
from fractions import Fraction
from pathlib import Path

from srstream.engine.av_errors import open_av
from srstream.engine.sequence import open_input
from srstream.errors import InputError
from srstream.images import (AV_STILL_SUFFIXES, FLOAT_STILL_SUFFIXES, FOLDER_SUFFIXES, IMAGE_ALIASES, IMAGE_SUFFIXES,
                             RAW_STILL_SUFFIXES, VECTOR_SUFFIXES, develop_first, picture_kind, render_first)

__all__ = ["IMAGE_SUFFIXES", "MediaInfo", "carried_streams", "has_clear_pixels", "main_video", "no_video", "probe",
           "probe_video", "video_rate"]


#: Frames a second above which FFmpeg's average rate of a stream is taken for its clock's tick rate, where
#: its guessed rate is a frame rate (the fastest phones' slow motion is 960 frames a second).
_MAX_RATE = 1000


def video_rate(video) -> Fraction | None:  # noqa: ANN001 - an av video stream
    """``video``'s frames a second: FFmpeg's average rate, or its guessed rate where the average is the
    stream's clock instead. FFmpeg 8 reads a raw DV file (a camcorder tape's capture, ``.dv``) at
    60,000 frames a second on a 1/60,000-s clock: an .mp4 output's timecode track refused that rate after
    the work was done ("fps 60000 is too large"), and an .mkv output said 30,000 frames a second."""
    average, guessed = video.average_rate, video.guessed_rate
    if average and guessed and average > _MAX_RATE >= guessed:
        return guessed
    return average


def main_video(container):  # noqa: ANN001, ANN201 - an av input container and its stream
    """The video stream of ``container`` that FFmpeg's command line takes (``av_find_best_stream``:
    the one with frames before a one-picture stream, then the larger bit rate), never a cover picture
    (an ``attached_pic`` stream: the album art of an .mp3 or .m4a, a video's thumbnail); None when
    there is none. ``streams.video[0]`` took a cover stored before the video, or made a one-frame
    video of an .mp3's album art."""
    import av

    def cover(stream) -> bool:  # noqa: ANN001
        return bool(stream.disposition & av.stream.Disposition.attached_pic)

    try:
        best = container.streams.best("video")
    except (ValueError, av.error.FFmpegError):
        best = None
    if best is not None and not cover(best):
        return best
    return next((s for s in container.streams.video if not cover(s)), None)


def cut_pts(container, video, start: float) -> int:  # noqa: ANN001 - an av input container and its video stream
    """``start`` seconds from the file's start (``--start``, as FFmpeg's ``-ss`` counts them: from
    the container's start time, rounded to a microsecond) on ``video``'s clock: the first pts a run
    from there keeps, wherever it is computed (one pass, or each segment of a job and its join)."""
    import math

    origin = round(Fraction(container.start_time or 0, 1_000_000) / video.time_base)
    return origin + math.ceil(Fraction(start).limit_denominator(1_000_000) / video.time_base)


def stream_seconds(container, stream) -> float:  # noqa: ANN001 - an av input container and one of its streams
    """How long ``stream`` runs, in seconds, as it says, else as ``container`` says (0 where neither does)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else 0.0  # (AV_TIME_BASE: microseconds)


def carried_streams(container, audio: bool = True, subtitles: bool = True) -> dict:  # noqa: ANN001
    """The streams of ``container`` a run carries into its output, by index: its sound (``audio``) and
    subtitles (``subtitles``), those in a codec this FFmpeg build knows (no muxer takes one it does not:
    :class:`srstream.engine.video.FileSource` names them), and with either, a camera's GoPro telemetry
    (:func:`is_gpmf`: an .mp4 or .mov output keeps it, :func:`srstream.engine.encode.copy_streams`; a run
    of the video alone, as a job's segments are, carries none). One pass and a job's join take the same."""
    carried = {}
    for s in container.streams:
        if is_gpmf(s) and (audio or subtitles):
            s.discard = 0  # AVDISCARD_DEFAULT: the MP4 demuxer leaves some data tracks out of what it reads
            carried[s.index] = s
        elif s.codec_context is not None and ((s.type == "audio" and audio) or (s.type == "subtitle" and subtitles)):
            carried[s.index] = s
    return carried


def is_gpmf(stream) -> bool:  # noqa: ANN001 - an av stream
    """A GoPro camera's telemetry track (GPMF: GPS, accelerometer, gyroscope; the ``gpmd`` track its
    MP4 files carry, by its handler's name "GoPro MET", which FFmpeg's remuxes keep), which mapping and
    stabilising tools read from the video."""
    if stream.type != "data":
        return False
    tags = {k.lower(): v for k, v in (stream.metadata or {}).items()}  # (PyAV gives a data stream no codec tag)
    return "gopro met" in tags.get("handler_name", "").lower()


#: MPEG-TS packet layouts: (packet size, offset of the 0x47 sync byte in it): plain (188), Blu-ray and
#: AVCHD's .m2ts with a 4-byte time before each packet (192), and with Reed-Solomon bytes after it (204).
_TS_LAYOUTS = ((188, 0), (192, 4), (204, 0))


def ts_cut_short(path: Path | str) -> bool:
    """Whether the MPEG-TS file ``path`` ends inside a packet: every recorder writes whole ones, so a
    file that does not (a download or copy that did not finish, a recording whose writer was killed)
    was cut, which FFmpeg reads up to there without a word. False where its first packets do not show
    one of the layouts (:data:`_TS_LAYOUTS`) or it cannot be read."""
    try:
        with open(path, "rb") as f:
            head = f.read(5 * 204)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    for packet, sync in _TS_LAYOUTS:
        if len(head) >= 4 * packet + sync and all(head[sync + i * packet] == 0x47 for i in range(4)):
            return size % packet != 0
    return False


def flv_cut_short(path: Path | str) -> bool:
    """Whether the FLV file ``path`` ends inside a tag: each of its tags is followed by the tag's size
    (its last four bytes), which must lead back to the last tag's header (an audio, video or script
    tag of that size). A download or copy that did not finish ends elsewhere, and FFmpeg reads up to
    there without a word. False where it cannot be read or is no FLV."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(3) != b"FLV" or size < 13 + 15:  # header and the first size: no tag at all
                return False
            f.seek(size - 4)
            last = int.from_bytes(f.read(4), "big")
            if not 11 <= last <= size - 13 - 4:
                return True
            f.seek(size - 4 - last)
            tag = f.read(4)
    except OSError:
        return False
    return tag[0] & 0x1F not in (8, 9, 18) or int.from_bytes(tag[1:4], "big") != last - 11


def _ps_walk(data: bytes, pos: int) -> bool | None:
    """From the pack header at ``data[pos:]``, the packs and PES packets of an MPEG program stream
    followed to the end of ``data``: True where the last runs past it (cut), False where they end at it
    (or at the end code), None where the bytes stop following the layout (a false start, padding) or
    too few were followed to tell (a start code's bytes inside a packet's data are no pack)."""
    steps = 0  # pack headers and packets followed
    while pos < len(data):
        if len(data) - pos < 4:
            return True if steps > 2 and data[pos:] == b"\0\0\1"[:len(data) - pos] else None
        if data[pos:pos + 3] != b"\0\0\1":
            return None
        code = data[pos + 3]
        if code == 0xBA:  # a pack header: MPEG-1's (12 bytes) or MPEG-2's (14 and its stuffing)
            if len(data) - pos < 5:
                return True if steps > 2 else None
            if data[pos + 4] & 0xF0 == 0x20:
                pos += 12
            elif data[pos + 4] & 0xC0 == 0x40:
                if len(data) - pos < 14:  # the stuffing's length is in its last byte
                    return True if steps > 2 else None
                pos += 14 + (data[pos + 13] & 7)
            else:
                return None
        elif code == 0xB9:  # the program's end
            pos += 4
        elif code >= 0xBB:  # the system header, a PES packet: a length of its own
            if len(data) - pos < 6:
                return True if steps > 2 else None
            pos += 6 + int.from_bytes(data[pos + 4:pos + 6], "big")
        else:
            return None
        steps += 1
    if pos == len(data):
        return False
    return True if steps > 2 else None


def ps_cut_short(path: Path | str, tail: int = 1 << 18) -> bool:
    """Whether the MPEG program stream ``path`` (.mpg, .vob, a camcorder's .mod/.tod) ends inside a pack:
    its last ``tail`` bytes are followed pack by pack from the first pack header whose packets lead on
    to the file's end, and the last packet runs past it. A DVD's files and every muxer end on a whole
    pack; a copy or download that did not finish does not (unless cut at a pack's edge), and FFmpeg reads
    up to there without a word. False where that cannot be told."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - tail))
            data = f.read(tail)
    except OSError:
        return False
    pos = data.find(b"\0\0\1\xba")
    while pos >= 0:
        found = _ps_walk(data, pos)
        if found is not None:
            return found
        pos = data.find(b"\0\0\1\xba", pos + 4)
    return False


def no_video(path, container) -> str:  # noqa: ANN001
    """Why ``container`` (``path``) gives no video stream to upscale, and what to do."""
    if container.streams.video:  # only cover pictures
        return (f"{path} has no video stream, only a cover picture; to upscale the picture, take it out first "
                f"(ffmpeg -i {path} -an -frames:v 1 cover.png) and pass that")
    return f"{path} has no video stream; pass a video file, an image or a folder"


@dataclass(frozen=True)
class MediaInfo:
    """A probed input.

    Attributes:
        kind: ``"video"``, ``"image"``, ``"folder"`` or ``"glob"`` (a pattern such as ``shots/*.png``).
        width / height: frame size in pixels (0 for folders).
        frames: frame count the container declares, as its index counts them where it has one
            (:func:`shown_frames`; 0 when it does not say; video only), an
            animated PNG's or WebP's frames or a TIFF's pages (0 for a still image), or the number of
            images in a folder.
        rate: average frame rate (video only).
        audio_streams / subtitle_streams: counts of streams to carry over (video only).
        seconds: the video's duration as the container gives it (0 when it does not say).
        transparent: a GIF with transparent pixels (its default output stays a GIF, which keeps them,
            as does a GIF of one frame's).
        deep: more than 8 bits a sample (10-bit and deeper).
        hdr: a PQ or HLG transfer (its default encoder is :data:`srstream.engine.encode.HDR_CODEC`).
        hdr10: a PQ video's HDR10 metadata (:class:`srstream.engine.encode.Hdr10`), read from its
            first frame; None for others, and where it has none.
        recursive: a folder whose subfolders' images are its images too.
        dolby_vision: a Dolby Vision video's configuration (:class:`srstream.engine.dovi.DoviConfig`,
            read from an MP4/MOV or Matroska header); None for others.
        videos: the number of videos in a folder or glob (each upscaled by a run of its own:
            :mod:`srstream.engine.folders`).
        codec / pix_fmt: a video's codec and pixel format, as its decoder names them ("" where unknown).
    """

    path: Path
    kind: str
    width: int = 0
    height: int = 0
    frames: int = 0
    rate: Fraction | None = None
    audio_streams: int = 0
    subtitle_streams: int = 0
    seconds: float = 0.0
    transparent: bool = False
    deep: bool = False
    hdr: bool = False
    hdr10: Any = None
    recursive: bool = False
    dolby_vision: Any = None
    videos: int = 0
    codec: str = ""
    pix_fmt: str = ""

    @property
    def approx_frames(self) -> int:
        """``frames``, or where the container does not declare a count, its duration times the
        frame rate (0 when it says neither)."""
        return self.frames or int(self.seconds * float(self.rate or 0))


def probe_video(path: Path) -> MediaInfo:
    """``path`` probed as the video FFmpeg reads it as, whatever its name says (an animated PNG,
    which :func:`probe` takes for an image, upscaled into a video)."""
    return _probe_video(path)


def _probe_video(path: Path) -> MediaInfo:
    from srstream.engine.av_errors import av_failures, read_error
    from srstream.engine.dovi import read_config
    from srstream.engine.encode import HDR_TRANSFERS, is_deep

    try:
        with open_input(path) as container:
            video = main_video(container)
            if video is None:
                raise InputError(no_video(path, container))
            if video.codec_context is None:  # a codec FFmpeg has no decoder for (an odd AVI's fourcc)
                raise InputError(f"{path}: its video is in a codec this FFmpeg build cannot decode; convert it with "
                                 "the software that made it (or one that plays it) into a common codec first")
            if not video.codec_context.width or not video.codec_context.height:
                raise InputError(f"{path}: the video stream has no frame size; the file may be corrupt")
            rate = video_rate(video)
            seconds = stream_seconds(container, video)
            cc = video.codec_context
            deep = is_deep(cc.pix_fmt)
            try:  # its first frame: its size (a stream's parameters can be its last size's), GIF alpha, HDR10
                first = next(container.decode(video), None)
            except av_failures():  # the run reports what is wrong with it
                first = None
            return MediaInfo(
                path=path,
                kind="video",
                width=first.width if first is not None else cc.width,
                height=first.height if first is not None else cc.height,
                frames=shown_frames(path, video) or _gif_frames(path, video),
                rate=Fraction(rate) if rate else None,
                audio_streams=len(container.streams.audio),
                subtitle_streams=len(container.streams.subtitles),
                seconds=seconds,
                transparent=cc.name == "gif" and first is not None and has_clear_pixels(first),
                deep=deep,
                hdr=cc.color_trc in HDR_TRANSFERS,
                hdr10=_hdr10(video, first),
                dolby_vision=read_config(path),
                codec=cc.name or "",
                pix_fmt=cc.pix_fmt or "",
            )
    except av_failures() as exc:
        from srstream.engine.isobox import unfinished

        if unfinished(path):
            raise InputError(f"{path} is an MP4/MOV recording that was never finished: its index (the moov box), "
                             "which a camera or phone writes when the recording stops, is missing (the battery ran "
                             "out, the app crashed, the card filled), so nothing in it can be read; rebuild the index "
                             "first with a tool such as untrunc, given a whole recording from the same device; "
                             "nothing was written") from exc
        raise read_error(exc, f"{path} is not a video or image sr-stream can read") from exc


def shown_frames(path: Path, video) -> int:  # noqa: ANN001 - an av stream of an open container
    """The frames a video's container declares, as its index counts them where it has one (0 when
    it declares none). A clip cut without re-encoding (``ffmpeg -ss 5 -i in.mp4 -c copy``, an
    editor's trim) keeps samples before the cut back to a keyframe, which its edit list hides:
    FFmpeg's MP4/MOV demuxer leaves out of its index those before the last keyframe it needs and
    marks the rest *discard* (decoded for reference, never shown, as in every player). An AVI's
    header counts among its frames the empty chunks a variable frame rate leaves in it (the
    player repeats the frame before); its index holds the pictures, where the file is whole (an
    AVI cut short has lost its index, which comes last, and FFmpeg rebuilds one from what is
    there: then the header's count says how many frames are missing). The index is in memory once
    the file is open (about 0.5 us an entry to count)."""
    declared = int(video.frames or 0)
    kind = video.container.format.name.split(",")[0]
    if not declared or kind not in ("mov", "avi") or (kind == "avi" and not _riff_whole(path)):
        return declared
    entries = video.index_entries
    if not len(entries):
        return declared
    return min(declared, sum(1 for entry in entries if not entry.is_discard))


def tagged_seconds(video) -> float | None:  # noqa: ANN001 - an av stream
    """The length a Matroska or WebM file's ``DURATION`` tag gives ``video`` (FFmpeg's muxer and mkvmerge
    write one for each track, near the file's start, from what they wrote), in seconds; None where there is
    none. A Matroska file declares no frame count: this is what tells a truncated one (a download cut off)."""
    text = (video.metadata or {}).get("DURATION") or ""
    hours, _, rest = text.partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        value = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
    return value if value > 0 else None


def short_of_declared(declared: float | None, read: float | None) -> str:
    """A note where a video's frames end well before the seconds its container declares (more than half
    a second, and 2%), else ``""``."""
    if not declared or read is None or declared - read <= max(0.5, declared / 50):
        return ""
    return (f"the input's video ends {read:.2f} s in, of the {declared:.2f} s its container declares: the input "
            "looks truncated or damaged (a download cut off?); the output holds every frame that decoded")


def declared_and_written(src: Path, out: Path) -> tuple[float | None, float | None]:
    """(the seconds ``src``'s Matroska tag declares for its video (:func:`tagged_seconds`), those of the video
    written to ``out``), each None where unknown: for a run whose frames went by segments (a resumable job)."""
    import av

    found: list[float | None] = []
    for path, tagged in ((src, True), (out, False)):
        try:
            with open_av(str(path)) as container:
                video = main_video(container)
                if video is None:
                    found.append(None)
                elif tagged:
                    found.append(tagged_seconds(video))
                else:
                    found.append(tagged_seconds(video) or (float(video.duration * video.time_base)
                                                           if video.duration and video.time_base else None))
        except (av.error.FFmpegError, OSError):
            found.append(None)
        if found[0] is None:
            return None, None
    return found[0], found[1]


def _riff_whole(path: Path) -> bool:
    """Whether a RIFF file (AVI; an OpenDML AVI over 1 GB is several RIFF chunks in a row) holds
    every byte its chunks' sizes say: their ends fall on the file's end."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            at = 0
            while at + 8 <= size:
                f.seek(at)
                head = f.read(8)
                if head[:4] != b"RIFF":
                    break
                at += 8 + int.from_bytes(head[4:8], "little")
                at += at & 1  # chunks are padded to an even size
            return 0 < at <= size
    except OSError:
        return False


#: Packets :func:`decode_order_times` reads.
_TIMES_READ = 64


def decode_order_times(path: Path, video) -> bool:  # noqa: ANN001 - an av stream
    """Whether a video's packets carry times that rise in decoding order while its decoder reorders frames:
    H.264 or HEVC with B-frames in AVI, a format that stores no presentation times (FFmpeg's
    demuxer numbers the packets in file order, so the times its frames come out with go back and
    forth). Such frames are timed by their decoding times instead (each frame's ``dts``, as FFmpeg's
    best-effort timestamp takes them). An MPEG-4 with packed B-frames (Xvid) in AVI gets proper
    times from FFmpeg and is not such a video; nor is any other container's, whose packets hold
    presentation times. Reads the first :data:`_TIMES_READ` packets (not pictures)."""
    if not video.codec_context.has_b_frames or video.container.format.name != "avi":
        return False
    last = None
    with open_input(path) as container:
        for n, packet in enumerate(container.demux(container.streams[video.index])):
            if n >= _TIMES_READ or packet.size == 0:
                break
            if packet.pts is None or (last is not None and packet.pts <= last):
                return False  # none, or presentation times of their own (out of decoding order)
            last = packet.pts
    return last is not None


def _hdr10(video, frame):  # noqa: ANN001, ANN202 - av stream and its first frame (or None) -> Hdr10 | None
    """A PQ video's HDR10 metadata, from its first frame's side data and its decoder's stream-wide
    side data (None for other videos)."""
    from srstream.engine.encode import PQ_TRANSFER, Hdr10

    if video.codec_context.color_trc != PQ_TRANSFER or frame is None:
        return None
    from srstream.engine.av_errors import side_data, stream_side_data

    found = stream_side_data(video.codec_context) | {data.type.name: bytes(data) for data in side_data(frame)}
    return Hdr10.from_side_data(found.get("MASTERING_DISPLAY_METADATA"), found.get("CONTENT_LIGHT_LEVEL"))


def _gif_frames(path: Path, video) -> int:  # noqa: ANN001 - an av stream
    """A GIF's frame count (its container declares none), from its packets: no decoding."""
    if video.codec_context.name != "gif":
        return 0
    with open_input(path) as container:
        return sum(1 for packet in container.demux(container.streams[video.index]) if packet.size)


def has_clear_pixels(frame) -> bool:  # noqa: ANN001 - av.VideoFrame
    """Whether a decoded frame has pixels less than fully opaque (what makes a GIF transparent)."""
    return frame.format.name in ("bgra", "rgba") and bool(frame.to_ndarray(format="rgba")[:, :, 3].min() < 255)


def _probe_image(path: Path) -> MediaInfo:
    from srstream.engine.stills import image_frames, read_still_with_metadata

    frames = image_frames(path)
    # a still is kept for the upscale (decoded once per run); an animation's first frame (a TIFF's first page)
    # gives its size
    image, _ = read_still_with_metadata(path, keep=frames == 1)
    return MediaInfo(path=path, kind="image", width=image.shape[1], height=image.shape[0],
                     frames=frames if frames > 1 else 0)


def is_pipe(path: Path) -> bool:
    """Whether ``path`` is a pipe (a named one, or a shell's process substitution ``<(ffmpeg ...)``,
    ``/dev/fd/63``): read once, its data is gone, so it cannot be probed and then read again."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def probe(path: str | Path, recursive: bool = False) -> MediaInfo:
    """Probe ``path`` (``-``: a video on standard input); a folder's images with ``recursive``
    include its subfolders'.

    Raises:
        InputError: missing, unreadable, not media, or a folder with no images or videos.
    """
    path = Path(path)
    if str(path) == "-":  # standard input: a video stream, known once the pipeline opens it
        return MediaInfo(path=path, kind="video")
    if not path.exists() and any(c in str(path) for c in "*?["):
        import glob

        from srstream.engine.stills import videos_among

        found = [Path(p) for p in glob.glob(str(path))]  # read once: for the images and the videos
        matches = [p for p in found if p.suffix.lower() in FOLDER_SUFFIXES]
        videos = len(videos_among(found))
        if not matches and not videos:
            raise InputError(f"no images or videos match {path}")
        return MediaInfo(path=path, kind="glob", frames=len(matches), videos=videos)
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    if is_pipe(path):
        raise InputError(f"{path} is a pipe, which can be read only once (and a run reads its input more than once); "
                         "pass the stream on standard input: `... | sr-stream - -o OUT.mkv`")
    if path.is_dir():
        from srstream.engine.stills import folder_files, videos_among

        files = folder_files(path, recursive)  # walked once: for the images and the videos
        images = [p for p in files if p.suffix.lower() in FOLDER_SUFFIXES]
        videos = len(videos_among(files))
        if not images and not videos:
            raws = sum(p.suffix.lower() in RAW_STILL_SUFFIXES for p in files)
            raise InputError(f"folder {path} has no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos"
                             + (f", only {raws} camera raw file{'s' if raws > 1 else ''}: {develop_first(raws)}"
                                if raws else "")
                             + ("" if recursive or raws else ", and without -r its subfolders are not read"))
        return MediaInfo(path=path, kind="folder", frames=len(images), recursive=recursive, videos=videos)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix.lower() in FLOAT_STILL_SUFFIXES:
        raise InputError(f"{path} is a floating-point (HDR) image; sr-stream's models take 8- and 16-bit pictures: "
                         "tone-map or convert it to a 16-bit PNG or TIFF first")
    if path.suffix.lower() in VECTOR_SUFFIXES:
        raise InputError(render_first(path))
    if path.suffix.lower() in RAW_STILL_SUFFIXES:
        raise InputError(f"{path} is a camera raw file: the photo in it is the sensor's mosaic, still to be "
                         "developed (white balance, colours), and what could be read of it here is a small preview "
                         f"or that mosaic undeveloped; {develop_first()}")
    if path.suffix.lower() in (*IMAGE_SUFFIXES, *AV_STILL_SUFFIXES, *IMAGE_ALIASES) or _is_still(path):
        return _probe_image(path)
    return _probe_video(path)


def _is_still(path: Path) -> bool:
    """Whether a file whose name does not say what it is (no extension, an unknown one) is a still
    image, as FFmpeg finds by its content (a picture demuxer: ``png_pipe``, ``jpeg_pipe``, ...). Such a
    file came out as a one-frame .mkv video."""
    from srstream.engine.outputs import INPUT_VIDEO_SUFFIXES

    if path.suffix.lower() in (*INPUT_VIDEO_SUFFIXES, ".gif") or not path.is_file():
        return False
    import av

    try:
        with open_av(str(path)) as container:
            name = container.format.name
            if name == "mjpeg":  # JPEGs one after another: a Multi-Picture JPEG, or a camera's MJPEG stream
                return _multi_picture(path)
            if name.startswith("mov,"):  # an AVIF's or a HEIC's items, which FFmpeg's MP4 demuxer opens as streams
                with open(path, "rb") as f:
                    return bool(picture_kind(f.read(4096)))
            return name.endswith("_pipe") and len(container.streams.video) == 1 and not container.streams.audio
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def _multi_picture(path: Path) -> bool:
    """Whether the JPEG at ``path`` lists pictures behind it in an MPF index (an Ultra HDR photo with its
    gain map, a stereo camera's .mpo), which FFmpeg reads as an MJPEG stream of them: piped in, or without
    its extension, such a photo came out as a video."""
    from srstream.engine.stills import jpeg_segments

    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return any(segment[4:8] == b"MPF\0" for segment in jpeg_segments(head, (0xE2,)))
