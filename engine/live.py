"""Live sources: a camera, a screen region or a window, upscaled as it happens.

Three stages on their own threads, joined by one-slot mailboxes where the newest frame wins:

``capture`` (PyAV device input: v4l2 / dshow / avfoundation cameras, x11grab / gdigrab screens,
or a lavfi generator paced to its own rate) -> ``upscale`` (the same :class:`FrameUpscaler` as
files) -> ``display`` (a window, on the main thread) plus the optional recorder and virtual camera.

* **Latency, not completeness**: a live source never waits for us. When the upscaler is still
  busy with the previous frame, the newer capture replaces the waiting one and the drop is
  counted (``dropped before upscale``); the display likewise shows only the newest upscaled
  frame (``dropped before display``). Every frame carries its capture time, so the report gives
  capture-to-display latency per frame (p50/p99) and the fps actually shown.
* **Budget**: with ``max_latency_ms`` the upscale stage watches the capture-to-output latency of
  the last frames and steps down a ladder of cheaper configurations (INT8, then a faster bundled
  model) when its median misses the budget, saying which.
* **Recording** follows the file pipeline's rules: a hidden temporary file renamed at the end,
  timestamps from the capture clock, and on Ctrl-C or a disconnected device the frames already
  written are finalised into a valid file (the report says why it stopped). Frames the encoder
  cannot keep up with are counted, not silently lost.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from srstream.atomic import partial_path
from srstream.errors import ConfigError, DependencyError, InputError, OutputError, SRStreamError

__all__ = ["LatestFrame", "LiveReport", "LiveSource", "Recorder", "Rung", "VirtualCamera", "open_capture",
           "parse_live", "run_live"]

_REGION = re.compile(r"^(\d+),(\d+),(\d+),(\d+)$")
_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class LiveSource:
    """What to open with PyAV: ``av.open(url, format=fmt, options=options)``."""

    kind: str  # camera | screen | window | lavfi
    fmt: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    label: str = ""
    paced: bool = False  # a generator that runs as fast as it is read: the capture stage paces it

    def __str__(self) -> str:
        return self.label or f"{self.kind} {self.url}"


def _fps_size(fps: float | None, size: str | None) -> dict[str, str]:
    options: dict[str, str] = {}
    if fps is not None:
        if fps <= 0:
            raise ConfigError(f"--fps must be positive, got {fps}")
        options["framerate"] = f"{fps:g}"
    if size is not None:
        if not _SIZE.match(size):
            raise ConfigError(f"--size {size!r}: expected WIDTHxHEIGHT, e.g. 640x360")
        options["video_size"] = size
    return options


def _region(text: str, where: str) -> tuple[int, int, int, int]:
    m = _REGION.match(text)
    if not m:
        raise ConfigError(f"{where}: region {text!r} must be x,y,width,height (e.g. @0,0,640,360)")
    x, y, w, h = (int(v) for v in m.groups())
    if w <= 0 or h <= 0:
        raise ConfigError(f"{where}: region {text!r} has an empty size")
    return x, y, w, h


def _find_window(title: str) -> tuple[str, int, int]:
    """Id, width and height of the X11 window whose title is ``title`` (xwininfo)."""
    tool = shutil.which("xwininfo")
    if tool is None:
        raise DependencyError("window capture by title needs xwininfo (Debian/Ubuntu: apt install x11-utils)")
    proc = subprocess.run([tool, "-name", title], capture_output=True, text=True, timeout=10, check=False)
    if proc.returncode != 0:
        raise InputError(f"no window titled {title!r} on display {os.environ.get('DISPLAY', '(unset)')}: "
                         f"{proc.stderr.strip() or 'xwininfo failed'}; check the exact title (xwininfo -root -tree)")
    values = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        values[key] = value.strip()
    match = re.search(r"Window id: (0x[0-9a-fA-F]+)", proc.stdout)
    try:
        return match.group(1), int(values["Width"]), int(values["Height"])
    except (AttributeError, KeyError, ValueError):
        raise InputError(f"xwininfo gave no id or size for window {title!r}") from None


def parse_live(text: str, *, fps: float | None = None, size: str | None = None,
               platform: str | None = None) -> LiveSource | None:
    """The live source ``text`` names, or None when it names none (a file path).

    * ``camera`` / ``camera:N`` / ``camera:/dev/videoN`` / ``camera:NAME`` (dshow on Windows);
    * ``screen`` / ``screen:DISPLAY`` / ``screen@x,y,w,h`` / ``screen:DISPLAY@x,y,w,h``;
    * ``window:TITLE`` (X11: found with xwininfo and grabbed by window id, so it is followed when
      it moves; gdigrab's ``title=`` on Windows);
    * ``lavfi:GRAPH``: an FFmpeg generator such as ``testsrc2=size=640x360:rate=30``, paced to
      its frame rate like a camera (for tests and demos).

    ``fps`` and ``size`` become the device's ``framerate`` / ``video_size`` options.

    Raises:
        ConfigError: a malformed region or option, or a source this platform cannot open.
    """
    platform = platform or sys.platform
    kind, sep, rest = text.partition(":")
    at = None
    if kind.startswith("screen@"):
        kind, at = "screen", kind[len("screen@"):]
        if sep:
            raise ConfigError(f"{text!r}: write screen:DISPLAY@x,y,w,h")
    elif kind == "screen" and "@" in rest:
        rest, at = rest.split("@", 1)
    if kind not in ("camera", "screen", "window", "lavfi"):
        return None
    options = _fps_size(fps, size)
    if kind == "lavfi":
        if not rest:
            raise ConfigError("lavfi: needs a filter graph, e.g. lavfi:testsrc2=size=640x360:rate=30")
        return LiveSource("lavfi", "lavfi", rest, {}, f"lavfi {rest}", paced=True)
    if kind == "camera":
        if platform.startswith("linux"):
            device = rest if rest.startswith("/") else f"/dev/video{rest or 0}"
            if not (rest.isdigit() or rest == "" or rest.startswith("/")):
                raise ConfigError(f"camera:{rest}: on Linux give a number or a /dev/video path")
            return LiveSource("camera", "v4l2", device, options, f"camera {device}")
        if platform == "darwin":
            return LiveSource("camera", "avfoundation", f"{rest or 0}:none", options, f"camera {rest or 0}")
        if platform.startswith("win"):
            if not rest or rest.isdigit():
                raise ConfigError("camera on Windows: give the device name, e.g. camera:\"USB Camera\" "
                                  "(ffmpeg -list_devices true -f dshow -i dummy lists them)")
            return LiveSource("camera", "dshow", f"video={rest}", options, f"camera {rest}")
        raise ConfigError(f"camera capture is not supported on {platform}")
    if kind == "window":
        if not rest:
            raise ConfigError("window: needs a title, e.g. window:\"My Game\"")
        if platform.startswith("win"):
            return LiveSource("window", "gdigrab", f"title={rest}", options, f"window {rest!r}")
        if not platform.startswith("linux"):
            raise ConfigError(f"window capture by title is not supported on {platform}; use screen@x,y,w,h")
        window, w, h = _find_window(rest)
        display = os.environ.get("DISPLAY", ":0")
        # x11grab follows the window itself (moves included) rather than a fixed screen region
        options.pop("video_size", None)
        return LiveSource("window", "x11grab", display, {**options, "window_id": window, "draw_mouse": "0"},
                          f"window {rest!r} ({w}x{h}, {window} on {display})")
    # screen
    region = _region(at, text) if at else None
    if platform.startswith("linux"):
        display = rest or os.environ.get("DISPLAY") or ":0"
        if not display.startswith(":") and ":" not in display:
            display = f":{display}"
        url = display + (f"+{region[0]},{region[1]}" if region else "")
        if region:
            options["video_size"] = f"{region[2]}x{region[3]}"
        options.setdefault("draw_mouse", "0")
        where = f"{region[2]}x{region[3]} at {region[0]},{region[1]}" if region else "whole screen"
        return LiveSource("screen", "x11grab", url, options, f"screen {display} ({where})")
    if platform.startswith("win"):
        if region:
            options.update(offset_x=str(region[0]), offset_y=str(region[1]), video_size=f"{region[2]}x{region[3]}")
        return LiveSource("screen", "gdigrab", "desktop", options, "screen (desktop)")
    if platform == "darwin":
        if region:
            raise ConfigError("a screen region is not supported on macOS yet; capture the whole screen")
        return LiveSource("screen", "avfoundation", f"Capture screen {rest or 0}:none", options, "screen")
    raise ConfigError(f"screen capture is not supported on {platform}")


def open_capture(source: LiveSource):  # noqa: ANN201 - av.container.InputContainer
    """Open ``source`` with PyAV, turning the device errors into ones that say what to do.

    Raises:
        InputError: no such camera / display / window, permission denied, or an unusable format.
    """
    import av

    if not any(source.fmt in name.split(",") for name in av.formats_available):  # e.g. "video4linux2,v4l2"
        raise InputError(f"this PyAV/FFmpeg build has no {source.fmt!r} input, needed for {source}; "
                         "install PyAV from its wheels (pip install av) or capture another way")
    try:
        return av.open(source.url, format=source.fmt, options=dict(source.options), timeout=10)
    except PermissionError as exc:
        raise InputError(f"permission denied opening {source}: {exc}; on Linux add yourself to the 'video' "
                         "group (sudo usermod -aG video $USER) and log in again") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{source}: no such device ({exc.filename or source.url}); list cameras with "
                         "v4l2-ctl --list-devices, or pick another with camera:N") from exc
    except av.error.FFmpegError as exc:
        hint = {"x11grab": "is an X server running there? check DISPLAY and the region (it must fit the screen)",
                "v4l2": "is the camera connected and not in use by another program?",
                "lavfi": "check the filter graph"}.get(source.fmt, "check the device name")
        raise InputError(f"cannot open {source}: {exc.strerror or exc}; {hint}") from exc


class LatestFrame:
    """A one-slot mailbox: ``put`` replaces a waiting item (counted as a drop), ``get`` blocks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has = False
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._has = item, True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        """The newest item, or None after ``timeout`` or once closed and empty."""
        with self._cond:
            if not self._has and not self._closed:
                self._cond.wait(timeout)
            if not self._has:
                return None
            item, self._item, self._has = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed and not self._has


@dataclass
class Captured:
    index: int  # the source's frame number (counting every frame read, dropped ones too)
    t: float  # perf_counter() when the frame was read
    rgb: np.ndarray


@dataclass
class Upscaled:
    src: Captured
    rgb: np.ndarray
    t_done: float
    rung: str


@dataclass
class LiveReport:
    source: str = ""
    captured: int = 0
    upscaled: int = 0
    shown: int = 0
    recorded: int = 0
    dropped_before_upscale: int = 0
    dropped_before_display: int = 0
    dropped_by_recorder: int = 0
    upscale_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)  # capture -> display (or -> output without one)
    seconds: float = 0.0
    stopped_by: str = ""  # frames | duration | user | interrupt | source-ended | disconnected | error
    switches: list[str] = field(default_factory=list)
    output: Path | None = None
    notes: list[str] = field(default_factory=list)
    mailboxes: tuple[LatestFrame, ...] = field(default=(), repr=False)

    def dropped_live(self) -> int:
        """Frames dropped so far (while running, from the mailboxes' counters)."""
        if self.mailboxes:
            return sum(box.dropped for box in self.mailboxes)
        return self.dropped_before_upscale + self.dropped_before_display

    def percentile(self, values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def fps(self) -> float:
        done = self.shown or self.upscaled
        return done / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        lat, up = self.latency_ms, self.upscale_ms
        shown = f"{self.shown} shown, " if self.shown else ""
        rec = f", {self.recorded} recorded ({self.dropped_by_recorder} dropped by the encoder)" \
            if self.output is not None else ""
        return (f"{self.source}: {self.captured} frames captured, {self.upscaled} upscaled, {shown}"
                f"{self.fps:.1f} fps over {self.seconds:.1f} s; capture-to-{'display' if self.shown else 'output'} "
                f"latency p50 {self.percentile(lat, 50):.1f} ms, p99 {self.percentile(lat, 99):.1f} ms; upscale "
                f"p50 {self.percentile(up, 50):.1f} ms; dropped {self.dropped_before_upscale} before upscale"
                + (f", {self.dropped_before_display} before display" if self.shown else "")
                + f"{rec}; stopped: {self.stopped_by}")

    def to_dict(self) -> dict[str, Any]:
        lat, up = self.latency_ms, self.upscale_ms
        return {"source": self.source, "captured": self.captured, "upscaled": self.upscaled, "shown": self.shown,
                "recorded": self.recorded, "dropped_before_upscale": self.dropped_before_upscale,
                "dropped_before_display": self.dropped_before_display,
                "dropped_by_recorder": self.dropped_by_recorder, "seconds": round(self.seconds, 3),
                "fps": round(self.fps, 2), "latency_ms_p50": round(self.percentile(lat, 50), 2),
                "latency_ms_p99": round(self.percentile(lat, 99), 2),
                "upscale_ms_p50": round(self.percentile(up, 50), 2),
                "upscale_ms_p99": round(self.percentile(up, 99), 2), "stopped_by": self.stopped_by,
                "switches": self.switches}


class Sink(Protocol):
    """Something that takes every upscaled frame (recorder, virtual camera)."""

    def send(self, frame: Upscaled) -> None: ...

    def close(self, keep: bool) -> None: ...


class Recorder:
    """Upscaled frames -> a video file, on its own thread, written like the file pipeline.

    The file opens on the first frame (its size is the frame's). Timestamps come from the capture
    clock (milliseconds since the first frame), so the file plays at the pace the source was
    captured, dropped frames included. The encoder gets a bounded queue: when it cannot keep up,
    the frame is dropped and counted.
    """

    def __init__(self, path: Path, options: Any, report: LiveReport, queue_size: int = 16) -> None:
        self.path, self.tmp, self.options, self.report = Path(path), partial_path(Path(path)), options, report
        self.q: queue.Queue = queue.Queue(queue_size)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.container = None
        self.t0: float | None = None
        self.last_pts = -1

    def _open(self, width: int, height: int) -> None:
        import av

        options = self.options
        try:
            self.container = av.open(str(self.tmp), "w")
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot create {self.tmp}: {exc}; check the folder and the file extension") from exc
        try:
            self.stream = self.container.add_stream(options.codec, rate=30)
        except (av.error.FFmpegError, ValueError) as exc:
            raise ConfigError(f"video codec {options.codec!r} is not available ({exc}); try --codec libx264") from exc
        pix_fmt = options.pix_fmt
        if (width % 2 or height % 2) and pix_fmt in ("yuv420p", "yuv422p", "nv12"):
            pix_fmt = "yuv444p"  # subsampled formats need even sizes; keep every pixel
        self.pix_fmt = pix_fmt
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
        self.stream.time_base = Fraction(1, 1000)
        self.stream.codec_context.time_base = Fraction(1, 1000)
        extra = {"tune": "zerolatency"} if options.codec in ("libx264", "libx265") else {}
        self.stream.options = {**options.codec_options(), **extra}
        self.thread = threading.Thread(target=self._run, name="record", daemon=True)
        self.thread.start()

    def send(self, frame: Upscaled) -> None:
        if self.error is not None:
            raise self.error
        if self.container is None:
            self._open(frame.rgb.shape[1], frame.rgb.shape[0])
        try:
            self.q.put_nowait(frame)
        except queue.Full:
            self.report.dropped_by_recorder += 1

    def _run(self) -> None:
        import av

        try:
            while True:
                item = self.q.get()
                if item is None:
                    break
                if self.t0 is None:
                    self.t0 = item.src.t
                pts = max(int(round((item.src.t - self.t0) * 1000)), self.last_pts + 1)
                self.last_pts = pts
                frame = av.VideoFrame.from_ndarray(item.rgb, format="rgb24").reformat(format=self.pix_fmt)
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                for packet in self.stream.encode(frame):
                    self.container.mux(packet)
                self.report.recorded += 1
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            self.error = OutputError(f"writing {self.tmp} failed ({getattr(exc, 'strerror', None) or exc}); "
                                     "check free disk space")
        except BaseException as exc:  # noqa: BLE001 - re-raised by send()/close() on the caller's thread
            self.error = exc

    def close(self, keep: bool) -> None:
        """Flush and finalise; keep the file (renamed into place) when ``keep`` and it has frames."""
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
        if keep and self.error is None and self.report.recorded:
            os.replace(self.tmp, self.path)
            self.report.output = self.path
            return
        self.tmp.unlink(missing_ok=True)
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

    def send(self, frame: Upscaled) -> None:
        if self.cam is None:
            h, w = frame.rgb.shape[:2]
            try:
                self.cam = self.module.Camera(w, h, self.fps, fmt=self.module.PixelFormat.RGB, device=self.device)
            except RuntimeError as exc:
                raise OutputError(f"no virtual camera could be opened: {exc}") from exc
        self.cam.send(frame.rgb)

    def close(self, keep: bool) -> None:
        if self.cam is not None:
            self.cam.close()


@dataclass
class Rung:
    """One configuration of the latency ladder: a label and how to get its upscaler."""

    label: str
    make: Callable[[], Any]  # -> FrameUpscaler (opened lazily, closed by the caller's ExitStack)


class _Live:
    def __init__(self, source: LiveSource, ladder: list[Rung], sinks: list[Sink], report: LiveReport, *,
                 max_frames: int | None, max_seconds: float | None, max_latency_ms: float | None,
                 has_display: bool, window: int = 8) -> None:
        self.source, self.ladder, self.sinks, self.report = source, ladder, sinks, report
        self.max_frames, self.max_seconds, self.max_latency_ms = max_frames, max_seconds, max_latency_ms
        self.window, self.has_display = window, has_display
        self.captured = LatestFrame()
        self.upscaled = LatestFrame()
        report.mailboxes = (self.captured, self.upscaled)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.rung = 0
        self.upscaler = ladder[0].make()

    def _stop(self, why: str) -> None:
        if not self.stop.is_set():
            self.report.stopped_by = self.report.stopped_by or why
            self.stop.set()

    def capture(self, container) -> None:  # noqa: ANN001
        import av

        stream = container.streams.video[0]
        rate = float(stream.average_rate or 30)
        start = time.perf_counter()
        try:
            for frame in container.decode(stream):
                if self.stop.is_set():
                    return
                if self.source.paced:  # a generator: release each frame at its own time, like a device
                    due = start + (float(frame.time) if frame.time is not None else self.report.captured / rate)
                    delay = due - time.perf_counter()
                    if delay > 0 and self.stop.wait(delay):
                        return
                rgb = frame.to_ndarray(format="rgb24")
                self.captured.put(Captured(self.report.captured, time.perf_counter(), rgb))
                self.report.captured += 1
                if self.max_frames is not None and self.report.captured >= self.max_frames:
                    self._stop("frames")
                    return
            self._stop("source-ended" if self.source.kind == "lavfi" else "disconnected")
            if self.source.kind != "lavfi":
                self.errors.append(InputError(f"{self.source} stopped sending frames after {self.report.captured} "
                                              "(disconnected?); what was recorded is kept"))
        except av.error.FFmpegError as exc:
            self._stop("disconnected")
            self.errors.append(InputError(f"{self.source} failed after {self.report.captured} frames "
                                          f"({exc.strerror or exc}): the device was disconnected or closed; "
                                          "what was recorded is kept"))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._stop("error")
            self.errors.append(exc)
        finally:
            self.captured.close()

    def _maybe_step_down(self, recent: list[float]) -> None:
        if self.max_latency_ms is None or len(recent) < self.window or self.rung + 1 >= len(self.ladder):
            return
        p50 = float(np.median(recent[-self.window:]))
        if p50 <= self.max_latency_ms:
            return
        before = self.ladder[self.rung].label
        self.rung += 1
        self.upscaler = self.ladder[self.rung].make()
        recent.clear()
        self.report.switches.append(f"{before} -> {self.ladder[self.rung].label} (median latency {p50:.0f} ms > "
                                    f"--max-latency {self.max_latency_ms:g} ms)")

    def upscale(self) -> None:
        recent: list[float] = []
        try:
            while True:
                item = self.captured.get(timeout=0.1)
                if item is None:
                    if self.captured.closed:
                        return
                    continue
                t = time.perf_counter()
                out = self.upscaler.upscale(item.rgb)
                done = time.perf_counter()
                self.report.upscale_ms.append((done - t) * 1000)
                up = Upscaled(item, out, done, self.ladder[self.rung].label)
                self.report.upscaled += 1
                for sink in self.sinks:
                    sink.send(up)
                self.upscaled.put(up)
                recent.append((done - item.t) * 1000)
                if not self.has_display:
                    self.report.latency_ms.append(recent[-1])
                self._maybe_step_down(recent)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._stop("error")
            self.errors.append(exc)
        finally:
            self.upscaled.close()

    def frames(self, deadline: float | None) -> Iterator[Upscaled | None]:
        """Upscaled frames for the display as they come (None when nothing new within 50 ms)."""
        while True:
            if deadline is not None and time.perf_counter() >= deadline:
                self._stop("duration")
            item = self.upscaled.get(timeout=0.05)
            if item is None and self.upscaled.closed:
                return
            yield item


class Display(Protocol):
    def show(self, frame: Upscaled, report: LiveReport) -> bool: ...  # False: the user closed the window

    def idle(self) -> bool: ...  # pump events; False: the user closed the window

    def close(self) -> None: ...


def run_live(source: LiveSource, ladder: list[Rung], *, display: Display | None = None,
             sinks: list[Sink] | None = None, report: LiveReport | None = None, max_frames: int | None = None,
             max_seconds: float | None = None, max_latency_ms: float | None = None,
             on_shown: Callable[[Upscaled], None] | None = None) -> LiveReport:
    """Capture ``source``, upscale with ``ladder[0]`` (stepping down under ``max_latency_ms``),
    show on ``display`` and feed ``sinks`` until ``max_frames``/``max_seconds``, the window is
    closed, Ctrl-C, or the source ends.

    Sinks are closed here: kept when the run ended normally or by Ctrl-C or a disconnect,
    deleted on other errors, which are raised after that. A disconnected device is no exception:
    the report says ``stopped_by == "disconnected"`` with the reason in its notes.
    """
    report = report or LiveReport(source=str(source))
    sinks = list(sinks or [])
    container = open_capture(source)
    live = None
    threads: list[threading.Thread] = []
    start = time.perf_counter()
    deadline = start + max_seconds if max_seconds else None
    failure: BaseException | None = None
    try:
        live = _Live(source, ladder, sinks, report, max_frames=max_frames, max_seconds=max_seconds,
                     max_latency_ms=max_latency_ms, has_display=display is not None)
        threads = [threading.Thread(target=live.capture, args=(container,), name="capture", daemon=True),
                   threading.Thread(target=live.upscale, name="upscale", daemon=True)]
        for t in threads:
            t.start()
        for item in live.frames(deadline):
            if item is None:
                if display is not None and not display.idle():
                    live._stop("user")
                continue
            if display is not None:
                if not display.show(item, report):
                    live._stop("user")
                    continue
                report.shown += 1
                report.latency_ms.append((time.perf_counter() - item.src.t) * 1000)
            if on_shown is not None:
                on_shown(item)
    except KeyboardInterrupt:
        if live is not None:
            live._stop("interrupt")
        report.stopped_by = report.stopped_by or "interrupt"
    except BaseException as exc:  # noqa: BLE001 - raised below once everything is closed
        failure = exc
        report.stopped_by = report.stopped_by or "error"
    finally:
        if live is not None:
            live.stop.set()
            live.captured.close()
        for t in threads:
            t.join(timeout=10)
        container.close()
        report.seconds = time.perf_counter() - start
        if live is not None:
            report.dropped_before_upscale = live.captured.dropped
            report.dropped_before_display = live.upscaled.dropped if display is not None else 0
            report.mailboxes = ()
            failure = failure or next((e for e in live.errors if not isinstance(e, InputError)), None)
        keep = failure is None
        for sink in sinks:
            try:
                sink.close(keep)
            except SRStreamError as exc:
                failure = failure or exc
        if display is not None:
            display.close()
    if failure is not None:
        raise failure
    if live is not None and live.errors:  # a device that disconnected: the caller reports it (and exits 1)
        report.notes.append(str(live.errors[0]))
    if report.upscaled == 0 and report.stopped_by not in ("interrupt", "user"):
        raise InputError(f"{source} delivered no frames; nothing was written")
    return report
