"""Live sources: what ``camera``, ``screen``, ``window:TITLE``, ``lavfi:GRAPH`` and a network
stream's URL (``rtsp://``, ``srt://``, ...) mean on each platform, and opening them with PyAV (v4l2 /
dshow / avfoundation cameras, x11grab / gdigrab screens and windows, lavfi generators, FFmpeg's
network protocols) with errors that say what to do."""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace

from srstream.engine.av_errors import av_failures, open_av, read_error
from srstream.engine.media import video_rate
from srstream.errors import ConfigError, DependencyError, InputError

__all__ = ["PROBE_FRAMES", "STREAM_SCHEMES", "HeldStream", "LiveSource", "is_stream_url", "listens", "open_capture",
           "parse_audio_input", "parse_live", "probe_camera", "probe_screen", "probe_stream", "pushed", "shown_url",
           "timed_by_arrival"]

#: Frames of a network stream read before its run (:func:`probe_stream`): a second at 30 fps.
PROBE_FRAMES = 30
#: The frame rate a camera is wanted at where ``--fps`` does not say: under it, :func:`probe_camera`
#: tries the camera's MJPEG.
CAMERA_RATE = 24.0
#: URL schemes read as live network streams (IP cameras, RTMP/SRT feeds, HLS): FFmpeg's protocols.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "rist", "udp", "rtp", "tcp", "http", "https")
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
#: What an http(s) URL ending so names: a file (upscaled whole once downloaded), not a live stream.
_FILE_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ogv", ".3gp",
                  ".gif", ".png", ".jpg", ".jpeg", ".webp", ".avif", ".bmp", ".tif", ".tiff")

_REGION = re.compile(r"^(\d+),(\d+),(\d+),(\d+)$")
_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class LiveSource:
    """What to open with PyAV: ``av.open(url, format=fmt, options=options)``."""

    kind: str  # camera | screen | window | lavfi | stream
    fmt: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    label: str = ""
    paced: bool = False  # a generator that runs as fast as it is read: the capture stage paces it
    #: a network stream's frame size and rate, read by :func:`probe_stream` (None: not probed)
    found_size: tuple[int, int] | None = None
    rate: float | None = None
    #: the probe's connection, kept for the run (:class:`HeldStream`; None: the run opens its own)
    held: HeldStream | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.label or f"{self.kind} {self.url}"

    @property
    def size(self) -> tuple[int, int] | None:
        """The frame size (width, height) when it is known before capture: ``--size``, a screen
        region, or a generator's ``size=``, or a probed stream's; None when the device decides."""
        if self.found_size:
            return self.found_size
        text = self.options.get("video_size") or (re.search(r"size=(\d+x\d+)", self.url) or [None, None])[1]
        match = _SIZE.match(text or "")
        return (int(match[1]), int(match[2])) if match else None


def is_stream_url(text: str) -> bool:
    """Whether ``text`` is a URL of a network stream (:data:`STREAM_SCHEMES`)."""
    match = _URL.match(text)
    return bool(match) and match[1].lower() in STREAM_SCHEMES


def listens(url: str) -> bool:
    """Whether opening ``url`` makes sr-stream the server a sender connects to (``rtmp://...?listen=1``,
    ``tcp://...?listen``, ``srt://...?mode=listener``): such a sender comes once, and goes if its
    connection is closed."""
    params = _query(url)
    return params.get("listen", "0") != "0" or params.get("mode", "").lower() == "listener"


def pushed(url: str) -> bool:
    """Whether ``url``'s stream is sent to sr-stream, not fetched from a server: one sr-stream serves
    (:func:`listens`), or UDP or RTP, received on a port of this machine. Such a stream comes when
    its sender starts, as a player (ffplay, VLC) waits for it, and ends when its sender stops."""
    return listens(url) or url.split(":", 1)[0].lower() in ("udp", "rtp")


def _query(url: str) -> dict[str, str]:
    """``url``'s query parameters, their names in lower case (``?listen`` gives ``{"listen": ""}``)."""
    query = url.split("?", 1)[1] if "?" in url else ""
    return {name.lower(): value for name, _, value in (part.partition("=") for part in query.split("&") if part)}


#: How long FFmpeg's RTSP server waits for a sender (seconds): its "for ever", -1, fails at once in
#: FFmpeg 8 ("Numerical result out of range"), so the longest it takes (its TCP wait, in ms, is an int).
RTSP_LISTEN_SECONDS = (2**31 - 1) // 1000


def _served(url: str, options: dict[str, str]) -> tuple[str, dict[str, str]]:
    """What FFmpeg is given to be the server of ``url``: RTMP and RTSP take ``listen`` as an option, not
    from the URL (``rtmp://0.0.0.0/live?listen=1`` connected to a server there, refused, as did
    ``rtsp://0.0.0.0:8554/live?listen``); TCP and SRT read theirs from the URL's query."""
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("rtmp", "rtmps", "rtsp") or not listens(url):
        return url, options
    base, query = url.split("?", 1)
    kept = [part for part in query.split("&") if part.partition("=")[0].lower() != "listen"]
    served = {"rtsp_flags": "listen", "listen_timeout": str(RTSP_LISTEN_SECONDS)} if scheme == "rtsp" else \
        {"listen": "1"}
    return base + ("?" + "&".join(kept) if kept else ""), options | served


def shown_url(url: str) -> str:
    """``url`` without the password it may carry (``rtsp://user:secret@cam`` -> ``rtsp://user:***@cam``),
    for messages and logs."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url, flags=re.IGNORECASE)


def _fps_size(fps: float | None, size: str | None) -> dict[str, str]:
    options: dict[str, str] = {}
    if fps is not None:
        if fps <= 0:
            raise ConfigError(f"--fps must be positive, got {fps}")
        options["framerate"] = f"{fps:g}"
    if size is not None:
        match = _SIZE.match(size)
        if not match or not (int(match[1]) >= 1 and int(match[2]) >= 1):  # 0x0 was taken
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
      its frame rate like a camera (for tests and demos);
    * a network stream's URL (:data:`STREAM_SCHEMES`): an IP camera's ``rtsp://`` (over TCP, which
      loses no packets on a busy network), an ``rtmp://`` / ``udp://`` / ``tcp://`` feed (``srt://``
      where FFmpeg has it; ``?listen``: pushed to sr-stream), an HTTP live stream (HLS) or MJPEG
      camera. Read as it arrives, like a camera.

    ``fps`` and ``size`` become the device's ``framerate`` / ``video_size`` options (not a
    stream's: it sends what it sends).

    Raises:
        ConfigError: a malformed region or option, or a source this platform cannot open.
    """
    platform = platform or sys.platform
    if is_stream_url(text):
        if fps is not None or size is not None:
            raise ConfigError("--fps and --size set a camera's or screen's capture; a network stream sends its own "
                              "frame rate and size: drop them")
        scheme = text.split(":", 1)[0].lower()
        suffix = os.path.splitext(text.split("?", 1)[0].split("#", 1)[0])[1].lower()
        if scheme in ("http", "https") and suffix in _FILE_SUFFIXES:
            raise ConfigError(f"{shown_url(text)} is a file on a server: a network stream is read live, dropping the "
                              "frames the upscaler cannot keep up with; download it first (curl -LO URL) and "
                              "upscale the file, which keeps every frame and its sound")
        options = {"rtsp_transport": "tcp"} if scheme in ("rtsp", "rtsps") else {}
        return LiveSource("stream", "", text, options, f"stream {shown_url(text)}")
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
        # its rate, for the tier that holds it (it was taken as 30): a generator's ``rate=`` or ``r=``, else
        # FFmpeg's 25
        given = re.search(r"(?:^|[=:])(?:rate|r)=(\d+(?:\.\d+)?)(?:/([1-9]\d*))?(?=[:,;]|$)", rest.split(",")[0])
        rate = float(given[1]) / int(given[2] or 1) if given else 25.0
        return LiveSource("lavfi", "lavfi", rest, {}, f"lavfi {rest}", paced=True, rate=rate or None)
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


def parse_audio_input(text: str, platform: str | None = None) -> LiveSource:
    """``--audio-input``: the sound device recorded beside a camera, screen or window (their capture
    carries none). ``default`` (PulseAudio's, else ALSA's default on Linux; the first device on
    macOS), ``alsa:NAME`` / ``pulse:NAME`` (``alsa:hw:1``, ``pulse:alsa_input.usb-...``), ``N`` on
    macOS, ``NAME`` on Windows (dshow), or ``lavfi:GRAPH`` (a generator such as ``sine``, paced).

    Raises:
        ConfigError: a device this platform cannot name.
    """
    import av

    platform = platform or sys.platform
    kind, _, rest = text.partition(":")
    if kind == "lavfi" and rest:
        return LiveSource("audio", "lavfi", rest, {}, f"sound lavfi {rest}", paced=True)
    if platform.startswith("linux"):
        if kind in ("alsa", "pulse") and rest:
            return LiveSource("audio", kind, rest, {}, f"sound {kind} {rest}")
        if text == "default":
            fmt = "pulse" if "pulse" in av.formats_available else "alsa"
            return LiveSource("audio", fmt, "default", {}, f"sound {fmt} default")
        raise ConfigError(f"--audio-input {text}: on Linux give default, alsa:NAME (arecord -L lists them) or "
                          "pulse:NAME (pactl list short sources)")
    if platform == "darwin":
        device = "0" if text == "default" else text
        return LiveSource("audio", "avfoundation", f"none:{device}", {}, f"sound device {device}")
    if platform.startswith("win"):
        if text == "default":
            raise ConfigError("--audio-input on Windows: give the device's name (ffmpeg -list_devices true -f dshow "
                              "-i dummy lists them)")
        return LiveSource("audio", "dshow", f"audio={text}", {}, f"sound {text}")
    raise ConfigError(f"sound capture is not supported on {platform}")


def open_capture(source: LiveSource, wait: float | None = None,  # noqa: ANN201 - av InputContainer | None
                 stop: threading.Event | None = None):
    """Open ``source`` with PyAV, turning the device errors into ones that say what to do. A stream
    sent to sr-stream (:func:`pushed`) is open once its sender sends: within ``wait`` seconds (None:
    however long that takes), a wait that Ctrl-C or ``stop`` ends (None is returned for ``stop``).
    Anything else answers within :data:`OPEN_TIMEOUT`.

    Raises:
        InputError: no such camera / display / window, permission denied, an unusable format, a
            protocol this FFmpeg lacks, or nothing within the time.
    """
    import av

    if source.fmt and not any(source.fmt in name.split(",") for name in av.formats_available):  # "video4linux2,v4l2"
        raise InputError(f"this PyAV/FFmpeg build has no {source.fmt!r} input, needed for {source}; "
                         "install PyAV from its wheels (pip install av) or capture another way")
    awaited = source.kind == "stream" and pushed(source.url)
    try:
        if source.kind == "stream":  # waited for on a thread, heeding Ctrl-C
            return _open_stream(source, wait if awaited else OPEN_TIMEOUT, stop)
        return _open_at_a_rate(source)
    except av.error.ProtocolNotFoundError as exc:
        scheme = source.url.split(":", 1)[0].lower()
        raise InputError(f"cannot open {source}: the FFmpeg that PyAV brings has no {scheme}:// protocol; relay the "
                         f"stream to one it has, e.g. ffmpeg -i {scheme}://... -c copy -f mpegts "
                         "udp://127.0.0.1:9000 with an ffmpeg built with it, and read udp://127.0.0.1:9000") from exc
    except av.error.ExitError as exc:  # PyAV's own timeout
        if awaited and wait is not None:
            raise InputError(f"no sender sent {source} a stream within {wait:g} s") from exc
        hint = ("did the sender start sending?" if awaited else
                "is the address right, the stream running and reachable from here (firewall, login)?")
        raise InputError(f"cannot open {source}: nothing came within {OPEN_TIMEOUT:g} s; {hint}") from exc
    except PermissionError as exc:
        raise InputError(f"permission denied opening {source}: {exc}; on Linux add yourself to the 'video' "
                         "group (sudo usermod -aG video $USER) and log in again") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{source}: no such device ({exc.filename or source.url}); list cameras with "
                         "v4l2-ctl --list-devices, or pick another with camera:N") from exc
    except av_failures() as exc:
        hint = {"x11grab": "is an X server running there? check DISPLAY and the region (it must fit the screen)",
                "v4l2": "is the camera connected and not in use by another program?",
                "lavfi": "check the filter graph"}.get(source.fmt, "check the device name") if source.fmt else \
            "is the address right, the stream running and reachable from here (firewall, login)?"
        raise read_error(exc, f"cannot open {source}", hint) from exc


#: The frame rates a macOS camera is tried at when ``--fps`` does not say, after FFmpeg's own 29.97:
#: its AVFoundation input takes a rate only within 0.01 fps of one the camera offers, so a webcam
#: that offers 30 fps refused the default ("Selected framerate (29.970030) is not supported by the
#: device"), as one that offers 29.97 alone refuses 30.
AVFOUNDATION_RATES = ("30", "60", "25", "24", "20", "15", "10")


#: How long opening a stream, camera or screen waits for an answer (seconds), and each read after
#: for the next packet: PyAV's timeouts. A stream sent to sr-stream (:func:`pushed`) waits for its
#: sender as long as it is asked to (:func:`open_capture`).
OPEN_TIMEOUT = 10.0
READ_TIMEOUT = 10.0


def _open_stream(source: LiveSource, wait: float | None, stop: threading.Event | None):  # noqa: ANN202
    """A network stream, open once it answers within ``wait`` seconds (None: however long that takes;
    :func:`open_capture`). FFmpeg waits for it heeding nothing but its own timeout (Ctrl-C was held
    until it: 10 s for a camera that does not answer, for ever for a sender), so it waits on a
    thread of its own; Ctrl-C or ``stop`` ends the wait, and where sr-stream serves the stream,
    FFmpeg's too, by connecting to the port from here (another's wait stays, its thread ending with
    the process, at its timeout or at the stream's first packet)."""
    url, options = _served(source.url, dict(source.options))
    done: dict = {}
    abandoned = threading.Event()

    def connect() -> None:
        try:
            done["container"] = open_av(url, format=source.fmt or None, options=options,
                                        timeout=(wait, READ_TIMEOUT))
        except BaseException as exc:  # noqa: BLE001 - raised where the wait is
            done["error"] = exc
        else:
            if abandoned.is_set():  # a stream that came after the wait was given up
                done.pop("container").close()

    thread = threading.Thread(target=connect, name="opening-stream", daemon=True)
    ended = True  # by Ctrl-C (KeyboardInterrupt, raised on) or stop
    try:
        thread.start()
        while thread.is_alive() and not (stop is not None and stop.is_set()):
            thread.join(0.1)
        ended = thread.is_alive()
    finally:
        if ended:
            abandoned.set()
        if ended and listens(source.url):  # (knocked again while FFmpeg may not listen yet, for up to 5 s)
            for _ in range(25):
                _knock(url)
                thread.join(0.2)
                if not thread.is_alive():
                    break
        late = done.pop("container", None) if ended else None
        if late is not None:
            late.close()
    if ended:
        return None
    if "error" in done:
        raise done["error"]
    return done["container"]


def _knock(url: str) -> None:
    """Connect to the port ``url`` listens on and leave at once, which ends FFmpeg's wait for a
    sender there (in vain where the port cannot be reached from here; the wait's thread then stays
    until the process ends)."""
    import socket
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or {"rtmp": 1935, "rtmps": 443, "rtsp": 554}.get(parts.scheme.lower())
        host = parts.hostname or ""
    except ValueError:
        return
    if port is None:
        return
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        pass


def _open_at_a_rate(source: LiveSource):  # noqa: ANN202 - av.container.InputContainer
    """``av.open`` of ``source``; a macOS camera without ``--fps`` at the first of FFmpeg's default
    and :data:`AVFOUNDATION_RATES` that it takes (where none is taken, the default's failure is
    raised: FFmpeg's error does not say whether the rate was what it refused)."""
    rates: tuple[str | None, ...] = (None,)
    if source.fmt == "avfoundation" and source.kind == "camera" and "framerate" not in source.options:
        rates += AVFOUNDATION_RATES
    first = None
    for rate in rates:
        options = dict(source.options) | ({"framerate": rate} if rate else {})
        try:
            return open_av(source.url, format=source.fmt or None, options=options,
                           timeout=(OPEN_TIMEOUT, READ_TIMEOUT))
        except av_failures() as exc:
            first = first or exc
    raise first


def _recording(container, url: str) -> bool:  # noqa: ANN001 - an av InputContainer
    """Whether the opened network stream has an end: a recording on a server, not a live stream.
    FFmpeg gives such streams a duration. From the FFmpeg of PyAV 19 on, a live HLS playlist of
    type EVENT (segments only ever added) has one too, the length so far; so an HLS stream over
    HTTP is a recording only when its media playlist says it ends (``#EXT-X-ENDLIST``), as
    FFmpeg's own demuxer decides. Where that playlist cannot be read here, the duration decides."""
    if not container.duration:
        return False
    if container.format.name != "hls" or not url.lower().startswith(("http://", "https://")):
        return True
    return _hls_ends(url) is not False  # an unreadable playlist (None): the duration decides


#: The most of an HLS playlist :func:`_hls_ends` reads (a 10-hour recording in 2-s segments lists
#: about 1 MB); a longer one is not judged from its start.
_PLAYLIST_BYTES = 16 << 20


def _hls_ends(url: str, depth: int = 2) -> bool | None:
    """Whether the HLS media playlist at ``url`` (or, for a master playlist, its first variant's)
    has an end; None when it cannot be read whole."""
    import http.client
    import urllib.parse
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - the user's own http(s) URL
            data = reply.read(_PLAYLIST_BYTES + 1)
    except (OSError, ValueError, http.client.HTTPException):  # URLError is an OSError
        return None
    if len(data) > _PLAYLIST_BYTES:
        return None
    text = data.decode("utf-8", "replace")
    if "#EXT-X-STREAM-INF" not in text:
        return "#EXT-X-ENDLIST" in text
    lines = [line.strip() for line in text.splitlines()]
    for tag, following in zip(lines, lines[1:]):
        if tag.startswith("#EXT-X-STREAM-INF") and following and not following.startswith("#") and depth > 0:
            return _hls_ends(urllib.parse.urljoin(url, following), depth - 1)
    return None


#: Seconds of a held stream's sound kept from before the picture the run starts at (sound is muxed
#: ahead of its pictures, and an AAC frame that holds a picture's first sound starts before it).
SOUND_AHEAD = 1.0
#: The most bytes of packets a :class:`HeldStream` keeps (a stream without keyframes, refreshed
#: within its frames, never clears them): the oldest go first.
HELD_BYTES = 64 << 20


class HeldStream:
    """A network stream's connection, kept from its probe for its run: opening it again waited for a
    keyframe and FFmpeg's stream analysis a second time (a 640x360 stream with a keyframe every 5 s
    showed its first frame 10.2-10.4 s after the start, 6.4-6.7 s with the connection kept; 2-core
    AMX Xeon, two runs each). Until the run takes it (:meth:`take`), a thread
    reads on, keeping the packets from the latest video keyframe on (:data:`HELD_BYTES` at most), so
    that the run decodes from there and is at the live edge as soon as they are decoded, not behind
    by the time the model took to prepare."""

    def __init__(self, container, limit: int = HELD_BYTES) -> None:  # noqa: ANN001 - an av InputContainer
        self.container, self.limit = container, limit
        self.video = container.streams.video[0]
        self.streams = [self.video, *container.streams.audio[:1]]
        self.packets: collections.deque = collections.deque()
        self.size = 0
        self.halt = threading.Event()
        self.taken = False
        #: what ended the stream while it was held (None: nothing); the run decodes what was kept, then fails so
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._drain, name="held-stream", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        try:
            for packet in self.container.demux(*self.streams):
                if packet.stream is self.video and packet.is_keyframe:  # decoding starts here: what is before
                    at = _seconds(packet)  # it goes, bar the sound of the second before it (muxed ahead of it)
                    kept = [p for p in self.packets if p.stream is not self.video and at is not None
                            and (t := _seconds(p)) is not None and t >= at - SOUND_AHEAD]
                    self.packets = collections.deque(kept)
                    self.size = sum(p.size for p in kept)
                self.packets.append(packet)  # (the packet read as the run took over is kept too)
                self.size += packet.size
                while self.size > self.limit and len(self.packets) > 1:
                    self.size -= self.packets.popleft().size
                if self.halt.is_set():
                    return
        except (*av_failures(), OSError, ValueError) as exc:  # the run decodes what was kept, then fails so
            self.failed = OSError(str(exc)) if isinstance(exc, ValueError) else exc

    def take(self, wait: float = 15.0):  # noqa: ANN201 - (av InputContainer, [av Packet]) | None
        """The connection and the packets kept, the thread stopped (it stops at its next packet);
        None where the stream sent nothing for ``wait`` seconds (the run then opens its own
        connection). Where it failed meanwhile (:attr:`failed`), what it kept until then: a stream
        pushed to sr-stream whose sender left while the model was prepared was opened again,
        waiting for a sender that had gone."""
        self.halt.set()
        self.thread.join(wait)
        if self.thread.is_alive():
            self.close()
            return None
        self.taken = True
        return self.container, list(self.packets)

    def close(self) -> None:
        """Give the connection up, where no run took it (one that never started); a reading thread
        still blocked keeps it until its next packet."""
        self.halt.set()
        if not self.taken and not self.thread.is_alive():
            self.container.close()


def _seconds(packet) -> float | None:  # noqa: ANN001 - an av Packet
    """A packet's presentation time in seconds (None: it has none)."""
    return float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else None


def timed_by_arrival(container) -> bool:  # noqa: ANN001 - an av InputContainer
    """Whether a stream's frames carry no times of their own, so that they are timed as they arrive:
    an IP camera's or ESP32-CAM's MJPEG over HTTP (``multipart/x-mixed-replace``), or JPEGs one after
    another, to which FFmpeg gives invented times at 25 fps (a camera sending 15 was recorded to play
    1.7x too fast) and no frame rate (the run said "0 fps")."""
    name = container.format.name
    return name in ("mpjpeg", "mjpeg") or name.endswith("_pipe")


class _Arrivals:
    """A container whose packets' arrival times are noted as they are read (:func:`timed_by_arrival`)."""

    def __init__(self, container) -> None:  # noqa: ANN001 - an av InputContainer
        self.container, self.times = container, []

    def __getattr__(self, name: str):  # noqa: ANN204 - the container's own
        return getattr(self.container, name)

    def demux(self, *streams):  # noqa: ANN002, ANN202 - av streams; av packets
        for packet in self.container.demux(*streams):
            self.times.append(time.perf_counter())
            yield packet

    def rate(self) -> float | None:
        """The frame rate they came at: the median gap between the later half's arrivals (the first
        come at once from what FFmpeg read while it opened the stream); None where all came so."""
        import statistics

        later = self.times[len(self.times) // 2:]
        gap = statistics.median(b - a for a, b in zip(later, later[1:])) if len(later) > 2 else 0.0
        return round(1 / gap, 1) if gap > 0.002 else None


def probe_stream(source: LiveSource, frames: int = PROBE_FRAMES, hold: bool = False):  # noqa: ANN201
    """A network stream opened before its run, for its first ``frames`` frames: the source with its
    frame size and rate (the tier that holds them is picked for them), and how hard it was compressed
    and whether it looks like a screen (:class:`srstream.engine.compression.Compression`: the model
    variant for it; None when no frame decoded). With ``hold`` the connection is kept for the run
    (the source's ``held``, :class:`HeldStream`); else it is closed again.

    Raises:
        InputError: the stream cannot be opened, carries no video, or has an end (a recording).
    """
    from srstream.engine.compression import read_compression

    container = open_capture(source)
    kept = False
    try:  # (what is pushed to sr-stream is live, whatever duration its sender wrote)
        if not listens(source.url) and _recording(container, source.url):  # duration in microseconds
            raise InputError(f"{source} is a recording {container.duration / 1e6:.0f} s long, not a live stream: "
                             "read live, it would lose the frames the upscaler cannot keep up with; download it "
                             "first (ffmpeg -i URL -c copy clip.mp4) and upscale the file, which keeps every frame")
        if not container.streams.video:
            kinds = ", ".join(s.type for s in container.streams) or "nothing"
            raise InputError(f"{source} carries no video (only {kinds}); sr-stream upscales pictures")
        stream = container.streams.video[0]
        arrivals = _Arrivals(container) if timed_by_arrival(container) else None
        try:
            found = read_compression(arrivals or container, stream, frames, spread=False)
        except (*av_failures(), OSError, ValueError):  # the run reads it again and says what fails
            found = None
        cc = stream.codec_context
        size = (cc.width, cc.height) if cc.width and cc.height else None
        rate = arrivals.rate() if arrivals is not None else float(video_rate(stream) or 0) or None
        # (not HLS: it opens without waiting for a keyframe, and a player starts it segments behind the edge)
        held = HeldStream(container) if hold and container.format.name != "hls" else None
        kept = held is not None
    finally:
        if not kept:
            container.close()
    return replace(source, found_size=size, rate=rate, held=held), found


def probe_screen(source: LiveSource) -> LiveSource:
    """A whole screen's or a window's capture (no region given) with its frame size: the capture is
    opened once and closed, as the run would open it. The live tier is picked at the size it will
    upscale; unprobed, a 1280x720 screen was taken for 640x360, where tiny-x2-deep ran at 53 fps on a
    2-core Zen 4 (14.5 at 1280x720), so it was picked over tiny-x2 (22.5 at 1280x720). Other sources,
    and captures whose size is known, are returned as they are.

    Raises:
        InputError: the display or window cannot be captured (as the run would say).
    """
    if source.kind not in ("screen", "window") or source.size is not None:
        return source
    container = open_capture(source)
    try:
        cc = container.streams.video[0].codec_context
        size = (cc.width, cc.height) if cc.width and cc.height else None
    finally:
        container.close()
    return replace(source, found_size=size) if size else source


def probe_camera(source: LiveSource, frames: int = PROBE_FRAMES):  # noqa: ANN201 - (LiveSource, Compression, str)
    """A Linux (V4L2) camera opened before its run, which FFmpeg opens in the camera's first
    uncompressed format at the size asked, at whatever rate that format has there: a UVC webcam's
    YUYV at 1920x1080 comes at 5 fps over USB 2, where its MJPEG comes at 30. Where the rate so
    given is under the one asked (``--fps``; :data:`CAMERA_RATE` where none is), the camera is
    opened again for MJPEG (``input_format``), which is taken where it comes faster at the same
    size. An MJPEG camera's first ``frames`` frames then say how hard it compresses (each frame's
    own quantisation table), for the model variant, as a network stream's do.

    Returns the source (with its size, rate and, where MJPEG was taken, its ``input_format``), how
    hard it compresses (None for uncompressed frames, where nothing was read), and a line saying
    what was found. Other cameras (another platform's, or one whose format is given) are returned as
    they are, with None and an empty line.

    Raises:
        InputError: the camera cannot be opened (as the run would say).
    """
    from srstream.engine.compression import read_compression

    if source.kind != "camera" or source.fmt != "v4l2" or "input_format" in source.options:
        return source, None, ""
    wanted = float(source.options.get("framerate") or CAMERA_RATE)

    def facts(container):  # noqa: ANN001, ANN202 - the opened camera: (codec, size, rate, pixel format)
        stream = container.streams.video[0]
        cc = stream.codec_context
        return (cc.name, (cc.width, cc.height) if cc.width and cc.height else None,
                float(video_rate(stream) or 0), cc.pix_fmt or "?")

    container = open_capture(source)
    codec, size, rate, pix_fmt = facts(container)
    shown = "x".join(map(str, size)) if size else "size unknown"
    line = f"{source}: {shown}, {codec} at {rate:g} fps"
    if codec == "rawvideo" and rate < wanted - 0.5:
        container.close()  # a V4L2 camera streams to one opener at a time
        faster = replace(source, options={**source.options, "input_format": "mjpeg"})
        try:
            container = open_capture(faster)
        except InputError:  # no MJPEG: the uncompressed frames it is
            container = None
        else:
            mjpeg = facts(container)
            if mjpeg[0] == "mjpeg" and mjpeg[1] == size and mjpeg[2] > rate:
                line = (f"{source}: {shown} uncompressed ({pix_fmt}) comes at {rate:g} fps only; its MJPEG, at "
                        f"{mjpeg[2]:g} fps, is taken")
                source, codec, rate = faster, "mjpeg", mjpeg[2]
    found = None
    try:
        if container is not None and codec != "rawvideo":
            try:
                found = read_compression(container, container.streams.video[0], frames, spread=False)
            except (*av_failures(), OSError, ValueError):  # the run reads it again and says what fails
                found = None
            if found is not None:  # a camera is a camera: its look is no screen recording's
                found = replace(found, look=None)
    finally:
        if container is not None:
            container.close()
    if found is not None:
        line += f"; {found.describe()}"
    return replace(source, found_size=size, rate=rate or None), found, line
