"""Video files: decode thread -> upscale -> encode thread, with bounded queues and every frame kept.

* **Frames**: every decoded frame is upscaled and encoded with its own timestamp, in the input's
  time base, so frame count, frame rate and timing (variable frame rate included) survive. The
  counts are checked at the end; a mismatch is an error, never a silent drop.
* **Other streams**: audio and subtitle packets are copied untouched (no re-encoding) in demux
  order, interleaved with the video by the muxer.
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
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from srstream.atomic import PendingOutput
from srstream.engine.encode import (
    BT601,
    MATRICES,
    EncodeOptions,
    add_video_stream,
    copy_container_metadata,
    copy_streams,
    default_codec,
    encoder_frame,
    is_deep,
    sws_flags,
)
from srstream.engine.av_errors import av_failures, read_error, reading, write_error, writing
from srstream.engine.kernels import YuvMatrix
from srstream.engine.upscaler import FrameUpscaler
from srstream.errors import InputError, SRStreamError

__all__ = ["PIPE", "EncodeOptions", "VideoReport", "default_codec", "upscale_video"]

_END = ("end", None, None)


@dataclass
class VideoReport:
    frames_in: int = 0
    frames_out: int = 0
    packets_copied: int = 0
    copied_streams: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    timestamp_fixes: int = 0
    notes: list[str] = field(default_factory=list)
    frames_declared: int = 0  # what the container says (0: it does not say)
    decode_error: str = ""  # the error that ended decoding early, if any
    kept: Path | None = None  # where an interrupted run's frames are (the target is untouched)

    @property
    def ended_early(self) -> str:
        """Why the input gave fewer frames than it should have, or ``""``."""
        if self.decode_error:
            return f"decoding stopped after {self.frames_in} frames: {self.decode_error}"
        if self.frames_declared and self.frames_in < self.frames_declared and not self.interrupted:
            return f"the input ended after {self.frames_in} of the {self.frames_declared} frames it declares"
        return ""


class _Pipeline:
    def __init__(self, src: Path, tmp: Path, upscaler: FrameUpscaler, options: EncodeOptions,
                 progress: Callable[[int], None] | None, queue_size: int) -> None:
        self.src, self.tmp, self.upscaler, self.options = src, tmp, upscaler, options
        self.progress = progress
        self.q_in: queue.Queue = queue.Queue(queue_size)
        self.q_out: queue.Queue = queue.Queue(queue_size)
        self.halt = threading.Event()  # the reader must stop (Ctrl-C or an error)
        self.writer_dead = threading.Event()  # the writer failed: nobody drains q_out any more
        self.report = VideoReport()
        self.errors: list[BaseException] = []
        self.ready = threading.Event()  # the output container is open (or failed to open)
        self.in_streams: dict[int, object] = {}
        self.in_container = None  # set by upscale_video: container tags, chapters, attachments
        self.turns = 0  # quarter turns counter-clockwise that display the input upright (np.rot90's k)
        self.deep = False  # more than 8 bits per sample: frames go through 16-bit RGB
        self.span: tuple[int | None, int | None] = (None, None)  # only frames with start <= pts < end

    # -- reader -----------------------------------------------------------------------------
    @staticmethod
    def _put(q: queue.Queue, item: tuple, abort: threading.Event) -> bool:
        """Put with back-pressure; gives up (False) once ``abort`` is set."""
        while not abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read(self, container) -> None:  # noqa: ANN001
        import av

        video = container.streams.video[0]
        extra = [s for s in container.streams if s.index in self.in_streams and s.index != video.index]
        tb = video.time_base
        last_pts: int | None = None
        step = int(round(1 / (video.average_rate or 30) / tb)) if tb else 1
        start, end = self.span
        done = False
        try:
            if start is not None:  # decode from the keyframe at or before the span's start
                container.seek(start, stream=video, backward=True, any_frame=False)
            for packet in container.demux(video, *extra):
                if self.halt.is_set() or done:
                    break
                if packet.stream.index != video.index:
                    if packet.dts is not None and not self._put(self.q_in, ("packet", packet, None), self.halt):
                        break
                    continue
                for frame in packet.decode():
                    pts = frame.pts
                    if start is not None or end is not None:  # a segment: the stream's own timestamps
                        if pts is None:
                            raise InputError(f"{self.src}: frames without timestamps cannot be cut into segments; "
                                             "run it in one pass (--segments off)")
                        if start is not None and pts < start:
                            continue  # decoded only as a reference for what follows
                        if end is not None and pts >= end:
                            done = True  # frames come in display order: the span is complete
                            break
                    if pts is None or (last_pts is not None and pts <= last_pts):
                        pts = step if last_pts is None else last_pts + max(step, 1)
                        self.report.timestamp_fixes += frame.pts is not None
                    last_pts = pts
                    self.report.frames_in += 1
                    if not self._put(self.q_in, ("frame", frame, pts), self.halt):
                        break
        except av_failures() as exc:  # what decoded is kept; the caller reports it
            self.report.decode_error = str(read_error(exc, "decoding"))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.errors.append(exc)
        finally:
            self._put(self.q_in, _END, self.halt)

    # -- writer -----------------------------------------------------------------------------
    def _open_streams(self, out_container, video_in, width: int, height: int, matrix: int):  # noqa: ANN001, ANN202
        """The output video stream and the copied streams (input index -> output stream).

        Raises:
            ConfigError: the codec is not available. OutputError: a stream cannot be copied.
        """
        stream, self.pix_fmt, note = add_video_stream(out_container, self.options, video_in.average_rate or Fraction(30),
                                                      width, height, video_in.time_base, matrix, like=video_in)
        if note:
            self.report.notes.append(note)
        copied = copy_streams(out_container, self.in_streams, self.tmp.suffix, self.report.copied_streams)
        if self.in_container is not None:
            copy_container_metadata(self.in_container, out_container, self.tmp.suffix, self.report.copied_streams,
                                    self.report.notes)
        return stream, copied

    def write(self, out_container, video_in, width: int, height: int, matrix: int) -> None:  # noqa: ANN001
        import av

        try:
            stream, copied = self._open_streams(out_container, video_in, width, height, matrix)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which must not wait forever
            self.errors.append(exc)
            self.writer_dead.set()
            return
        finally:
            self.ready.set()
        try:
            while True:
                kind, payload, pts = self.q_out.get()
                if kind == "end":
                    break
                if kind == "packet":
                    payload.stream = copied[payload.stream.index]
                    out_container.mux(payload)
                    self.report.packets_copied += 1
                    continue
                if kind == "yuv":  # already the encoder's yuv420p, in the input's matrix and range
                    frame = av.VideoFrame.from_ndarray(payload, format="yuv420p")
                else:
                    frame = encoder_frame(payload, self.pix_fmt, matrix)
                frame.pts, frame.time_base = pts, video_in.time_base
                for packet in stream.encode(frame):
                    out_container.mux(packet)
                    self.report.frames_out += 1
            for packet in stream.encode(None):
                out_container.mux(packet)
                self.report.frames_out += 1
        except av_failures() as exc:
            self.errors.append(write_error(exc, self.tmp, self.options.codec))
        except BaseException as exc:  # noqa: BLE001
            self.errors.append(exc)
        finally:
            if self.errors:
                self.writer_dead.set()
                self.halt.set()

    # -- main ------------------------------------------------------------------------------
    def upscale_loop(self, matrix: int) -> None:
        """Until the reader's end: frames -> upscaled frames, packets passed through in order."""
        colorspace, kr, kb = MATRICES[matrix]
        yuv_matrix = YuvMatrix(kr, kb, False)  # the kernels' 4:2:0 path takes limited-range frames only
        size = None
        yuv = self.pix_fmt == "yuv420p" and not self.turns and not self.deep
        while True:
            try:
                kind, payload, pts = self.q_in.get(timeout=0.1)
            except queue.Empty:
                if self.writer_dead.is_set():
                    return
                continue
            if kind == "end":
                return
            if kind == "packet":
                if not self._put(self.q_out, (kind, payload, pts), self.writer_dead):
                    return
                continue
            start = time.perf_counter()
            shape = (payload.height, payload.width)
            if size is None:
                size = shape
            elif shape != size:
                raise InputError(f"{self.src}: the frame size changes mid-stream ({size[1]}x{size[0]} -> "
                                 f"{shape[1]}x{shape[0]}); split the file at the change")
            if yuv and payload.format.name == "yuv420p" and payload.color_range != 2 \
                    and self.upscaler.takes_yuv420(*shape):
                # 4:2:0 in and out (limited range): the kernels convert while packing and
                # unpacking, so no swscale pass runs on either side
                up = self.upscaler.upscale_yuv420(*(_plane(p) for p in payload.planes),
                                                  matrix=yuv_matrix)
                kind = "yuv"
            else:
                rgb = payload.to_ndarray(format="rgb48le" if self.deep else "rgb24", src_colorspace=colorspace,
                                         interpolation=sws_flags())
                if self.turns:  # shown upright, as FFmpeg's autorotate does; the output has no rotation flag
                    rgb = np.ascontiguousarray(np.rot90(rgb, self.turns))
                up = self.upscaler.upscale(rgb)
            self.report.latencies_ms.append((time.perf_counter() - start) * 1000)
            if not self._put(self.q_out, (kind, up, pts), self.writer_dead):
                return
            if self.progress:
                self.progress(1)


def _plane(plane) -> np.ndarray:  # noqa: ANN001
    """A decoded frame's plane as a (height, width) uint8 view (rows keep their padding stride)."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, :plane.width]


#: ``-`` as the input or the output: standard input / output (streamed Matroska out).
PIPE = Path("-")


class _Stdout:
    """``-o -``: the video streams to standard output as Matroska; nothing to lock or rename."""

    tmp = Path("<stdout>.mkv")

    def commit(self) -> Path:
        return PIPE

    def keep_partial(self) -> Path:
        return PIPE

    def discard(self) -> None:
        pass


def _first_frame_facts(src: Path, pipe: _Pipeline) -> None:
    """What only a decoded frame tells: the display rotation and interlacing (read from the first
    frame, in a second pass over the file's start)."""
    import av

    try:
        with av.open(str(src)) as container:
            frame = next(container.decode(video=0), None)
    except av_failures():
        return  # the main pass reports what is wrong with the file
    if frame is None:
        return
    turns = round((frame.rotation or 0) / 90) % 4
    if turns:
        pipe.turns = turns
        pipe.report.notes.append(f"the input is shown rotated by {-90 * turns % 360} degrees: the frames are turned "
                                 "upright before upscaling (as FFmpeg does), so the output plays the same way")
    if frame.interlaced_frame:
        pipe.report.notes.append("the input is interlaced: frames are upscaled as progressive, which keeps combing "
                                 "artefacts; deinterlace first (e.g. ffmpeg -vf bwdif) for a clean result")


def upscale_video(src: Path, dst: Path, upscaler: FrameUpscaler, options: EncodeOptions = EncodeOptions(), *,
                  progress: Callable[[int], None] | None = None, queue_size: int = 8,
                  span: tuple[int | None, int | None] = (None, None)) -> VideoReport:
    """Upscale the first video stream of ``src`` into ``dst`` (written via a temporary file).

    ``span``: only the frames with ``start <= pts < end`` (in the video stream's time base; None:
    from the first / to the last), decoded from the keyframe before ``start``: one segment of a
    job (:mod:`srstream.engine.jobs`), written with the video stream alone.

    Raises:
        InputError: no frames, a corrupt stream, a mid-stream size change.
        OutputError: the output cannot be written (full disk, unsupported stream copy).
        ConfigError: an unavailable codec or a bad option.
        KeyboardInterrupt is not raised: an interrupted run returns a report with
        ``interrupted=True`` and a valid, shorter output.
    """
    import av

    start = time.perf_counter()
    where = "standard input" if src == PIPE else str(src)
    with reading(where, "a pipe needs a streamable format such as Matroska or MPEG-TS (ffmpeg ... -f matroska -)"
                 if src == PIPE else ""):
        in_container = av.open("pipe:0" if src == PIPE else str(src))
    if not in_container.streams.video:
        in_container.close()
        raise InputError(f"{src} has no video stream")
    try:
        pending = _Stdout() if dst == PIPE else PendingOutput(dst)
    except BaseException:
        in_container.close()
        raise
    tmp = pending.tmp
    pipe = _Pipeline(src, tmp, upscaler, options, progress, queue_size)
    pipe.span = span
    threads: list[threading.Thread] = []
    out_container = None
    try:
        video = in_container.streams.video[0]
        video.thread_type = "AUTO"
        pipe.report.frames_declared = int(video.frames or 0) if span == (None, None) else 0
        for s in in_container.streams:
            if (s.type == "audio" and options.copy_audio) or (s.type == "subtitle" and options.copy_subtitles):
                pipe.in_streams[s.index] = s
        matrix = video.codec_context.colorspace if video.codec_context.colorspace in MATRICES else BT601
        pipe.in_container = in_container
        pipe.deep = is_deep(video.codec_context.pix_fmt)
        if src != PIPE:  # a pipe cannot be read twice: no rotation flags or interlacing notes from one
            _first_frame_facts(src, pipe)
        width, height = video.codec_context.width * upscaler.spec.scale, video.codec_context.height * upscaler.spec.scale
        if pipe.turns % 2:
            width, height = height, width
        with writing(tmp, options.codec):
            out_container = av.open("pipe:1", "w", format="matroska") if dst == PIPE else av.open(str(tmp), "w")
        threads = [threading.Thread(target=pipe.read, args=(in_container,), name="decode", daemon=True),
                   threading.Thread(target=pipe.write, args=(out_container, video, width, height, matrix),
                                    name="encode", daemon=True)]
        for t in threads:
            t.start()
        pipe.ready.wait()
        try:
            if not pipe.errors:
                pipe.upscale_loop(matrix)
        except KeyboardInterrupt:
            pipe.report.interrupted = True  # keep what is done: the writer finishes the file
        except BaseException as exc:  # noqa: BLE001 - raised below, once the threads have stopped
            pipe.errors.append(exc)
        pipe.halt.set()  # the reader stops (it already has, after a normal end)
        pipe._put(pipe.q_out, _END, pipe.writer_dead)  # the writer drains, flushes the encoder, stops
        threads[1].join()
        threads[0].join(timeout=10)
        closing, out_container = out_container, None
        try:
            closing.close()  # writes the trailer (the moov of an .mp4): a full disk shows here
        except av_failures() as exc:
            pipe.errors.append(write_error(exc, tmp, options.codec))
        if pipe.errors:
            raise pipe.errors[0]
        report = pipe.report
        if report.frames_in == 0:
            why = f" ({report.decode_error})" if report.decode_error else ""
            raise InputError(f"{src} has a video stream but no decodable frames{why}; nothing was written")
        if not report.interrupted and report.frames_out != report.frames_in:
            raise SRStreamError(f"the encoder wrote {report.frames_out} frames for {report.frames_in} decoded; "
                                "nothing was written (please report this)")
        if report.interrupted:
            if report.frames_out:
                report.kept = pending.keep_partial()
            else:
                pending.discard()
        else:
            pending.commit()
        if report.timestamp_fixes:
            report.notes.append(f"{report.timestamp_fixes} frames had missing or repeated timestamps and were given "
                                "the next free one")
        report.seconds = time.perf_counter() - start
        return report
    except BaseException:
        pipe.halt.set()
        pipe.writer_dead.set()
        if out_container is not None:
            try:
                out_container.close()
            except Exception:  # noqa: BLE001 - already failing; the file is deleted anyway
                pass
        pending.discard()
        raise
    finally:
        for t in threads:
            t.join(timeout=5)
        in_container.close()
