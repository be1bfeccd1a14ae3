"""Sinks for live sources besides the window: a recorded video file and a virtual camera (the
:class:`srstream.engine.pipeline.Sink` contract)."""

from __future__ import annotations

import collections
import functools
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from srstream.atomic import PendingOutput
from srstream.engine.av_errors import av_failures, write_error, writing
from srstream.engine.encode import (BT601, AudioReencode, CopiedOrder, add_video_stream, choose_pix_fmt, copy_streams,
                                    frame_converter, frames_kept, mux_copied, plausible_dts, rehearse, web_ready)
from srstream.engine.messages import Passthrough, Report, Upscaled
from srstream.errors import DependencyError, OutputError

__all__ = ["SENT_FORMATS", "NetworkOutput", "Recorder", "VirtualCamera", "sent_format"]

#: What a live run's upscaled frames are sent to a server in (``-o URL``), by the URL's scheme: the
#: muxer, and the file suffix whose encoder settings it takes (FLV for RTMP: H.264 and AAC, what
#: YouTube's, Twitch's and nginx-rtmp's ingest take; MPEG-TS over UDP, TCP and SRT, as ffmpeg sends).
SENT_FORMATS = {"rtmp": ("flv", ".flv"), "rtmps": ("flv", ".flv"), "udp": ("mpegts", ".ts"),
                "tcp": ("mpegts", ".ts"), "srt": ("mpegts", ".ts"), "rist": ("mpegts", ".ts"),
                "rtp": ("rtp_mpegts", ".ts"), "rtsp": ("rtsp", ".mp4")}


def sent_format(url: str) -> tuple[str, str]:
    """(muxer, suffix) for sending to ``url`` (:data:`SENT_FORMATS`).

    Raises:
        ConfigError: a scheme nothing is sent over (http: HLS is written as files).
    """
    from srstream.errors import ConfigError

    scheme = url.split(":", 1)[0].lower()
    if scheme not in SENT_FORMATS:
        raise ConfigError(f"-o {url}: sr-stream sends a live run's frames over {', '.join(SENT_FORMATS)}; for HLS, "
                          "record to a file or send to a server that makes HLS of it (nginx-rtmp, MediaMTX)")
    return SENT_FORMATS[scheme]


#: How long a server that ``-o`` sends to and that fails (restarted, a dropped connection) is
#: connected to again, a second apart, before the run ends for it (exit 4); the frames upscaled
#: meanwhile are dropped and counted, as an encoder that cannot keep up drops them.
RESEND_SECONDS = 30.0
#: How long each of those attempts waits for an answer (seconds): PyAV holds Python's lock while it
#: connects, so the capture and the window wait as long.
RESEND_TIMEOUT = 3.0


class NetworkOutput:
    """``-o rtmp://...`` (or udp://, tcp://, srt://, rtsp://): a live run's frames sent to a server
    as they are upscaled; nothing to lock or rename (in place of
    :class:`srstream.atomic.PendingOutput`). ``tmp`` names it in messages, its suffix the format's."""

    def __init__(self, url: str) -> None:
        from srstream.engine.sources import shown_url

        self.url = url
        self.tmp = Path(f"{shown_url(url).split('?', 1)[0].replace('/', '_')}{sent_format(url)[1]}")

    def __enter__(self) -> NetworkOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def commit(self) -> str:
        return self.url

    def keep_partial(self) -> str:
        return self.url

    def discard(self) -> None:
        pass


class Recorder:
    """Upscaled frames -> a video file, on its own thread, written like the file pipeline.

    The file opens on the first frame (its size is the frame's). Timestamps come from the capture
    clock (milliseconds since the first frame), or a network stream's own (:attr:`Frame.clock`), so
    the file plays at the pace the source was captured, dropped frames included. A network stream's
    sound, or a sound device's (:attr:`sound`, set before the first frame), is recorded beside it on
    that clock, copied, or encoded again where the format cannot hold it (a device's PCM into
    .mp4: AAC), from the first recorded picture on. Frames come as RGB, or, where the encoder takes
    4:2:0 (:attr:`takes_yuv`), as the kernels' yuv420p planes in the source's :attr:`matrix` (a
    headless run skips two colour conversions a frame). The encoder
    gets up to ``queue_size`` frames: when it cannot keep up, the frame is dropped and counted
    (sound is never dropped). The file is locked from the start (a second run recording to it is
    refused) and written to an exclusive temporary file; a recording ends when the user stops it,
    so Ctrl-C keeps it under its name.
    """

    #: Sound packets kept from before the first upscaled frame (about a minute of AAC at 48 kHz).
    EARLY_PACKETS = 3000

    def __init__(self, path: Path, options: Any, report: Report, queue_size: int = 16) -> None:
        from srstream.engine.video import PIPE, StdoutOutput

        from srstream.engine.sources import is_stream_url

        #: ``-o rtmp://...``: sent to a server (given as text: a Path folds the URL's "//")
        self.url = path if isinstance(path, str) and is_stream_url(path) else None
        #: ``-o -``: Matroska on standard output (another program's input)
        self.stdout = self.url is None and Path(path) == PIPE
        self.pending = NetworkOutput(self.url) if self.url else StdoutOutput() if self.stdout else \
            PendingOutput(Path(path))
        self.tmp, self.options, self.report = self.pending.tmp, options, report
        self.q: queue.Queue = queue.Queue()  # frames (at most queue_size, self.room), sound packets, None: the end
        self.room = threading.Semaphore(queue_size)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.container = None
        self.t0: float | None = None  # the first recorded frame's capture time and stream time
        self.clock0: float | None = None
        self.last_pts = -1
        #: the source's sound stream to record (an av stream; None: none)
        self.sound = None
        self.sound_out = None  # its output stream, or the AudioReencode that writes it
        self.order = CopiedOrder()  # its packets that go back in time, left out
        self.early: collections.deque = collections.deque(maxlen=self.EARLY_PACKETS)
        self.lock = threading.Lock()  # the file's opening against sound packets arriving from the reader
        self.closing = threading.Event()  # the run has ended: a server that failed is not waited for
        self.tried_again = False  # a server that failed was connected to again for RESEND_SECONDS, in vain
        self.size: tuple[int, int] = (0, 0)  # the frames' (width, height)
        #: the source's YUV matrix (a MATRICES key): the recording's colour tags, what its RGB frames are
        #: converted with and what planes given as they are (an Upscaled's ``yuv``) are in
        self.matrix = BT601
        self.pix_fmt = ""

    def _open(self, first: Upscaled) -> None:
        import av

        options = self.options
        height, width = first.rgb.shape[:2] if first.rgb is not None else (first.yuv.shape[0] * 2 // 3,
                                                                            first.yuv.shape[1])
        self.size = (width, height)
        self.t0, self.clock0 = first.src.t, first.src.clock
        if self.clock0 is not None:  # a stream's sound: the file starts with the packet that holds the first
            for packet in self.early:  # picture's moment (it was left out, the picture's sound 21 ms late)
                if packet.pts is not None and packet.duration and packet.time_base:
                    start = float(packet.pts * packet.time_base)
                    if start < self.clock0 < start + float(packet.duration * packet.time_base):
                        self.clock0 = start
        if self.url is not None:
            self.container = self._send()
        else:
            with writing(self.tmp, options.codec):
                self.container = av.open("pipe:1", "w", format="matroska") if self.stdout else \
                    av.open(str(self.tmp), "w")
        web_ready(self.container)
        # the file pipeline's stream set-up, tried in memory first (an unknown codec is a ConfigError, a
        # refusal an OutputError; close() then deletes the file)
        rehearse(self.container.format.name, options, lambda box, opts: self._streams(box, opts, width, height)[:2]
                 + ({},), (width, height), f"a {self.tmp.suffix} recording with {options.codec}")
        self.stream, self.convert, self.pix_fmt, note = self._streams(self.container, options, width, height)
        if note:
            self.report.notes.append(note)
        if self.sound is not None:
            self._add_sound()
        if self.url is not None:  # the connection, made as the header is sent: refused here, not at a frame
            try:
                self.container.start_encoding()
            except (*av_failures(), ValueError) as exc:
                raise self._unsent(exc) from exc
        self.thread = threading.Thread(target=self._run, name="record", daemon=True)
        self.thread.start()

    def _send(self, wait: float | None = None):  # noqa: ANN202 - an av OutputContainer
        """The container sent to the server ``-o`` names, in its format (:func:`sent_format`); the
        connection is made as its header is written, waiting ``wait`` seconds for an answer
        (:data:`~srstream.engine.sources.OPEN_TIMEOUT` where None).

        Raises:
            OutputError: an unusable URL.
        """
        import av

        from srstream.engine.sources import OPEN_TIMEOUT, READ_TIMEOUT

        try:
            muxer = sent_format(self.url)[0]
            # RTSP over TCP, as a camera is read: FFmpeg's default, UDP, loses packets, and a firewall drops it
            return av.open(self.url, "w", format=muxer, options={"rtsp_transport": "tcp"} if muxer == "rtsp" else {},
                           timeout=(OPEN_TIMEOUT if wait is None else wait, READ_TIMEOUT))
        except (*av_failures(), ValueError) as exc:
            raise self._unsent(exc) from exc

    def _unsent(self, exc: BaseException) -> OutputError:
        """What a failure to reach the server ``-o`` names, or to go on sending to it, says."""
        import av

        from srstream.engine.sources import OPEN_TIMEOUT, shown_url

        where = shown_url(self.url)
        if isinstance(exc, av.error.ProtocolNotFoundError):
            scheme = self.url.split(":", 1)[0]
            return OutputError(f"cannot send to {where}: the FFmpeg that PyAV brings has no {scheme}:// protocol; "
                               "send to udp://HOST:PORT and relay it, or -o - | ffmpeg -i - -c copy ... "
                               f"{scheme}://...")
        why = f"no answer within {OPEN_TIMEOUT:g} s" if isinstance(exc, av.error.ExitError) else \
            getattr(exc, "strerror", None) or str(exc)
        if self.report.frames_out:
            again = f" and it could not be reached again within {RESEND_SECONDS:g} s" if self.tried_again else ""
            return OutputError(f"sending to {where} failed after {self.report.frames_out} frames ({why}){again}: the "
                               "server closed the connection or could no longer be reached")
        return OutputError(f"cannot send to {where} ({why}): is the server running there, and the address and "
                           "stream key right?")

    def _streams(self, container, options: Any, width: int, height: int) -> tuple:  # noqa: ANN001 - an av container
        """The recording's video stream in ``container`` (the file's, or :func:`rehearse`'s in memory):
        (stream, RGB-to-frame converter, pix_fmt, note)."""
        stream, pix_fmt, note = add_video_stream(container, options, 30, width, height, Fraction(1, 1000), self.matrix)
        if options.codec in ("libx264", "libx265"):  # a live encoder must not buffer frames
            stream.options = {**options.codec_options(pix_fmt), "tune": "zerolatency"}
        return stream, frame_converter(pix_fmt, self.matrix, size=(width, height)), pix_fmt, note

    @functools.cached_property
    def takes_yuv(self) -> bool:
        """Whether the encoder takes the kernels' planes as they are (8-bit limited-range 4:2:0): its
        pixel format at an even size is yuv420p."""
        return choose_pix_fmt(self.options, None, 16, 16)[0] == "yuv420p"

    def _add_sound(self) -> None:
        """The sound's output stream (copied, or encoded again); a format that holds neither records
        without it, and says so (a live moment is not refused for its sound)."""
        done: list[str] = []
        try:
            self.sound_out = self._sound_stream(self.container, done)
        except (OutputError, ValueError, *av_failures()) as exc:
            self.report.notes.append(f"the sound ({self.sound.codec_context.name}) is not recorded: {exc}")
            self.sound, self.early = None, collections.deque()
            return
        self.report.copied_streams += [d if d.startswith("the sound device") else f"the stream's {d}" for d in done]
        for packet in self.early:  # what came before the first picture, in order before it
            self.q.put(Passthrough(packet))
        self.early.clear()

    def _sound_stream(self, container, done: list[str]):  # noqa: ANN001, ANN202 - av containers and streams
        """The sound's output stream in ``container``: copied, or a device's PCM encoded (an
        :class:`AudioReencode`); what it is is appended to ``done``."""
        if self.sound.codec_context.name.startswith("pcm_"):  # a sound device's raw samples: compressed
            webm = any(n in container.format.name.split(",") for n in ("webm", "ogg"))
            out = AudioReencode(self.sound, container, "libopus" if webm else "aac")
            done.append(f"the sound device's {self.sound.codec_context.name} encoded as "
                        f"{out.stream.codec_context.name} at {out.stream.bit_rate // 1000} kbit/s")
            return out
        return copy_streams(container, {self.sound.index: self.sound}, self.tmp.suffix, done)[self.sound.index]

    def _resent(self, exc: BaseException) -> bool:
        """After sending to the server failed (``exc``): connected to again, a second apart, for up to
        :data:`RESEND_SECONDS` (a server restarting, a dropped connection; OBS reconnects likewise),
        the run going on meanwhile. True once it is back, with a note; False when it is not, or the
        run ended meanwhile."""
        from srstream.engine.sources import shown_url

        why = getattr(exc, "strerror", None) or str(exc)
        sent, began = self.report.frames_out, time.perf_counter()
        try:
            self.container.close()
        except (*av_failures(), ValueError, OSError):  # the connection is gone already
            pass
        while time.perf_counter() - began < RESEND_SECONDS and not self.closing.wait(1.0):
            container = None
            try:
                container = self._send(RESEND_TIMEOUT)
                stream, convert = self._streams(container, self.options, *self.size)[:2]
                sound_out = self._sound_stream(container, []) if self.sound is not None else None
                container.start_encoding()
            except (*av_failures(), ValueError, OutputError):
                if container is not None:
                    try:
                        container.close()
                    except (*av_failures(), ValueError, OSError):
                        pass
                continue
            self.container, self.stream, self.convert, self.sound_out = container, stream, convert, sound_out
            self.report.notes.append(f"sending to {shown_url(self.url)} failed after {sent} frames ({why}) and was "
                                     f"connected again {time.perf_counter() - began:.0f} s later")
            return True
        self.tried_again = time.perf_counter() - began >= RESEND_SECONDS  # (said by _unsent)
        return False

    def send(self, frame: Upscaled, abort: object = None) -> bool:
        if self.error is not None:
            raise self.error
        if self.container is None:
            with self.lock:
                self._open(frame)
        if self.room.acquire(blocking=False):
            self.q.put(frame)
        else:
            self.report.dropped_by_encoder += 1
        return True

    def switch_sound(self, stream) -> None:  # noqa: ANN001 - an av stream, or None
        """The network stream's sound after it was opened again (None: none, or another kind, which is
        not recorded): taken before the old connection closes, as its stream must not be read after."""
        with self.lock:
            if self.sound is not None:
                self.sound = stream
                if stream is None:
                    self.early.clear()

    def passthrough(self, packet: Passthrough, abort: object = None) -> bool:
        """A packet of the stream's sound: kept until the file opens, then queued with the frames."""
        if self.sound is not None and self.error is None:
            with self.lock:
                if self.container is None:
                    self.early.append(packet.packet)
                elif self.sound is not None:
                    self.q.put(packet)
        return True

    def _run(self) -> None:
        given = 0  # frames given to the encoder
        try:
            while True:
                item = self.q.get()
                if item is None:
                    break
                if not isinstance(item, Passthrough):
                    self.room.release()
                try:
                    given += self._write(item)
                except av_failures() as exc:  # a server that failed: connected to again (its item is lost)
                    if self.url is None or not self._resent(exc):
                        raise
                    given = 0  # (a new encoder)
            for packet in plausible_dts(self.stream.encode(None), short=given < 3):
                self.container.mux(packet)
            if self.sound_out is not None:
                mux_copied(self.container, {0: self.sound_out}, None)  # what an encoder still holds
            self.report.notes.extend(self.order.notes())
        except av_failures() as exc:
            self.error = self._unsent(exc) if self.url else write_error(exc, self.tmp, self.options.codec)
        except BaseException as exc:  # noqa: BLE001 - re-raised by send()/close() on the caller's thread
            self.error = exc

    def _write(self, item: Upscaled | Passthrough) -> int:
        """Encode and mux a frame, or mux a sound packet; the frames given to the encoder (1 or 0)."""
        import av

        if isinstance(item, Passthrough):
            self._mux_sound(item.packet)
            return 0
        since = (item.src.t - self.t0 if item.src.clock is None or self.clock0 is None
                 else item.src.clock - self.clock0)
        pts = max(int(round(since * 1000)), self.last_pts + 1)
        self.last_pts = pts
        if item.yuv is None:
            frame = self.convert(item.rgb)
        elif self.pix_fmt == "yuv420p":  # the kernels' planes, in self.matrix
            frame = av.VideoFrame.from_ndarray(item.yuv, format="yuv420p")
        else:  # (not given where takes_yuv is False)
            raise ValueError(f"a {self.pix_fmt} recording was given yuv420p planes")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        for packet in plausible_dts(self.stream.encode(frame)):
            self.container.mux(packet)
        self.report.frames_out += 1
        return 1

    def _mux_sound(self, packet) -> None:  # noqa: ANN001 - an av.Packet of the source's sound
        """Mux a sound packet, its times moved to start at the first recorded picture; one from before
        that picture is left out. A network stream's sound is on its clock; a sound device's on the
        capture clock (:class:`srstream.engine.live.SoundCapture`)."""
        zero = self.clock0 if self.clock0 is not None else self.t0
        step = round(Fraction(zero or 0.0) / packet.time_base)
        if packet.dts - step < 0:
            return
        packet.pts, packet.dts = packet.pts - step, packet.dts - step
        if not isinstance(self.sound_out, AudioReencode):  # a copy: its packets are the output stream's
            packet.stream = self.sound_out  # from here, as one from before a reconnection has a closed input's
        mux_copied(self.container, {packet.stream.index: self.sound_out}, packet, order=self.order)

    def close(self, outcome: str) -> None:
        """Flush and finalise; keep the file (renamed into place) unless the run ``failed``, when it
        has frames: a recording ends when the user stops it, so an interruption keeps it too."""
        keep = outcome != "failed"
        if self.thread is not None:
            self.closing.set()  # (a server being connected to again is not waited for)
            self.q.put(None)
            self.thread.join()
        if self.container is not None:
            try:
                self.container.close()
            except Exception as exc:  # noqa: BLE001
                self.error = self.error or OutputError(f"finalising {self.tmp} failed: {exc}")
        if keep and self.error is None and self.report.frames_out:
            self.report.output = self.pending.commit()
            if self.stdout or self.url:  # nothing to read back
                return
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
