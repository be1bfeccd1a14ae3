"""Sinks for live sources besides the window: a recorded video file and a virtual camera (the
:class:`srstream.engine.pipeline.Sink` contract)."""

from __future__ import annotations

import queue
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

from srstream.atomic import PendingOutput
from srstream.engine.av_errors import av_failures, write_error, writing
from srstream.engine.encode import add_video_stream, frame_converter, frames_kept, plausible_dts, rehearse
from srstream.engine.messages import Passthrough, Report, Upscaled
from srstream.errors import DependencyError, OutputError

__all__ = ["Recorder", "VirtualCamera"]


class Recorder:
    """Upscaled frames -> a video file, on its own thread, written like the file pipeline.

    The file opens on the first frame (its size is the frame's). Timestamps come from the capture
    clock (milliseconds since the first frame), so the file plays at the pace the source was
    captured, dropped frames included. The encoder gets a bounded queue: when it cannot keep up,
    the frame is dropped and counted. The file is locked from the start (a second run recording
    to it is refused) and written to an exclusive temporary file; a recording ends when the user
    stops it, so Ctrl-C keeps it under its name.
    """

    def __init__(self, path: Path, options: Any, report: Report, queue_size: int = 16) -> None:
        self.pending = PendingOutput(Path(path))
        self.path, self.tmp, self.options, self.report = Path(path), self.pending.tmp, options, report
        self.q: queue.Queue = queue.Queue(queue_size)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.container = None
        self.t0: float | None = None
        self.last_pts = -1

    def _open(self, width: int, height: int) -> None:
        import av

        options = self.options
        with writing(self.tmp, options.codec):
            self.container = av.open(str(self.tmp), "w")
        # the file pipeline's stream set-up, tried in memory first (an unknown codec is a ConfigError, a
        # refusal an OutputError; close() then deletes the file)
        rehearse(self.container.format.name, options, lambda box, opts: self._streams(box, opts, width, height)[:2]
                 + ({},), (width, height), f"a {self.tmp.suffix} recording with {options.codec}")
        self.stream, self.convert, self.pix_fmt, note = self._streams(self.container, options, width, height)
        if note:
            self.report.notes.append(note)
        self.thread = threading.Thread(target=self._run, name="record", daemon=True)
        self.thread.start()

    @staticmethod
    def _streams(container, options: Any, width: int, height: int) -> tuple:  # noqa: ANN001 - an av container
        """The recording's video stream in ``container`` (the file's, or :func:`rehearse`'s in memory):
        (stream, RGB-to-frame converter, pix_fmt, note)."""
        stream, pix_fmt, note = add_video_stream(container, options, 30, width, height, Fraction(1, 1000))
        if options.codec in ("libx264", "libx265"):  # a live encoder must not buffer frames
            stream.options = {**options.codec_options(), "tune": "zerolatency"}
        return stream, frame_converter(pix_fmt, size=(width, height)), pix_fmt, note

    def send(self, frame: Upscaled, abort: object = None) -> bool:
        if self.error is not None:
            raise self.error
        if self.container is None:
            self._open(frame.rgb.shape[1], frame.rgb.shape[0])
        try:
            self.q.put_nowait(frame)
        except queue.Full:
            self.report.dropped_by_encoder += 1
        return True

    def passthrough(self, packet: Passthrough, abort: object = None) -> bool:
        return True  # a live source has no other streams

    def _run(self) -> None:
        try:
            while True:
                item = self.q.get()
                if item is None:
                    break
                if self.t0 is None:
                    self.t0 = item.src.t
                pts = max(int(round((item.src.t - self.t0) * 1000)), self.last_pts + 1)
                self.last_pts = pts
                frame = self.convert(item.rgb)
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                for packet in plausible_dts(self.stream.encode(frame), 33):  # 30 fps in milliseconds
                    self.container.mux(packet)
                self.report.frames_out += 1
            for packet in plausible_dts(self.stream.encode(None), 33):
                self.container.mux(packet)
        except av_failures() as exc:
            self.error = write_error(exc, self.tmp, self.options.codec)
        except BaseException as exc:  # noqa: BLE001 - re-raised by send()/close() on the caller's thread
            self.error = exc

    def close(self, outcome: str) -> None:
        """Flush and finalise; keep the file (renamed into place) unless the run ``failed``, when it
        has frames: a recording ends when the user stops it, so an interruption keeps it too."""
        keep = outcome != "failed"
        if self.thread is not None:
            while self.thread.is_alive():
                try:
                    self.q.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
            self.thread.join()
        if self.container is not None:
            try:
                self.container.close()
            except Exception as exc:  # noqa: BLE001
                self.error = self.error or OutputError(f"finalising {self.tmp} failed: {exc}")
        if keep and self.error is None and self.report.frames_out:
            self.report.output = self.pending.commit()
            try:
                frames_kept(self.report.output, self.report.frames_out)
            except OutputError as exc:  # a live moment cannot be recorded again: what there is stays
                raise OutputError(f"{exc.args[0].split(';')[0]}; the recording is kept as {self.report.output}, "
                                  "without them (an .mkv or .mp4 recording keeps all)") from exc
            return
        self.pending.discard()
        if self.error is not None:
            raise self.error


class VirtualCamera:
    """Upscaled frames -> a virtual webcam (pyvirtualcam: v4l2loopback, OBS, Unity Capture),
    opened on the first frame at its size."""

    def __init__(self, fps: float, device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise DependencyError("--virtual-camera needs pyvirtualcam: pip install pyvirtualcam (on Linux also the "
                                  "v4l2loopback kernel module: sudo modprobe v4l2loopback)") from exc
        self.module, self.fps, self.device, self.cam = pyvirtualcam, fps, device, None

    def send(self, frame: Upscaled, abort: object = None) -> bool:
        if self.cam is None:
            h, w = frame.rgb.shape[:2]
            try:
                self.cam = self.module.Camera(w, h, self.fps, fmt=self.module.PixelFormat.RGB, device=self.device)
            except RuntimeError as exc:
                raise OutputError(f"no virtual camera could be opened: {exc}") from exc
        self.cam.send(frame.rgb)
        return True

    def passthrough(self, packet: Passthrough, abort: object = None) -> bool:
        return True

    def close(self, outcome: str) -> None:
        if self.cam is not None:
            self.cam.close()
