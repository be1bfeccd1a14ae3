"""PyAV / FFmpeg failures, translated into sr-stream's errors in one place.

Every call into PyAV that can fail goes through :func:`reading` (an input: a file, a pipe, a
device) or :func:`writing` (an output container: opening, muxing, the trailer), or has its
exception turned by :func:`read_error` / :func:`write_error` where it is collected on a worker
thread. The messages name the object and say what to do; the original exception stays chained.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from srstream.errors import InputError, OutputError

__all__ = ["av_failures", "open_av", "read_error", "reading", "side_data", "stream_side_data", "write_error", "writing"]


def open_av(target, **kwargs):  # noqa: ANN001, ANN003, ANN201 - what av.open takes and returns
    """``av.open`` of an input (a path, a URL, a file object), whose tags are read whatever their bytes: one
    that is not UTF-8 (a title or an artist in Latin-1, as an old Windows tagger wrote it) is read with U+FFFD
    in its place. PyAV reads tags strictly by default and raised UnicodeDecodeError on opening such a file:
    the run ended in a traceback before any work."""
    import av

    kwargs.setdefault("metadata_errors", "replace")
    return av.open(target, **kwargs)


def av_failures() -> tuple[type[BaseException], ...]:
    """What PyAV raises when FFmpeg fails (plus the OS errors of files and devices)."""
    import av

    return av.error.FFmpegError, OSError


def side_data(frame) -> list:  # noqa: ANN001 - an av.VideoFrame
    """A decoded frame's side data (PyAV's ``frame.side_data``), where a type PyAV has no name for
    is named ``UNKNOWN_<n>``. PyAV 18 names FFmpeg's types up to ``VIDEO_HINT``; the FFmpeg it bundles
    also attaches newer ones (a JPEG's EXIF block, type 31, beside its orientation), and one of
    them made ``frame.side_data`` raise ValueError for the whole frame: a camera's MJPEG video or
    a JPEG image sequence ended in a traceback. (PyAV-Org/PyAV#2392 made its stream-level tables
    skip such types; the frame's is what is read here.) Read by position, which every PyAV version
    takes: PyAV 19 iterates the container as a mapping, over its types, where 18 iterated the side
    data itself. Up to the first missing position, not ``len``: PyAV 19 counts the types, so a frame
    with two entries of one type (x265's two unregistered SEIs) hid its last entry, an HDR10+ clip's
    ``DYNAMIC_HDR_PLUS`` among them."""
    _name_unknown_side_data()
    container = frame.side_data
    found: list = []
    while True:
        try:
            found.append(container[len(found)])
        except IndexError:
            return found


def stream_side_data(codec_context) -> dict[str, bytes]:  # noqa: ANN001 - an av CodecContext
    """A decoder's stream-wide side data by type name: PyAV 19's ``CodecContext.decoded_side_data``,
    where the FFmpeg it bundles keeps what older ones attached to every frame (an HDR10 video's
    content light level, for one); empty with older PyAV, whose frames carry it."""
    _name_unknown_side_data()
    found = getattr(codec_context, "decoded_side_data", None) or {}
    return {getattr(kind, "name", str(kind)): bytes(data) for kind, data in found.items()}


def _name_unknown_side_data() -> None:
    """Let PyAV's side data ``Type`` enum take values it does not list (``Enum._missing_``), each
    once, as ``UNKNOWN_<n>``."""
    from av.sidedata.sidedata import Type

    if getattr(Type, "_srstream_unknown", None) is not None:
        return
    made: dict[int, Type] = {}

    def missing(cls, value):  # noqa: ANN001, ANN202
        if not isinstance(value, int):
            return None
        if value not in made:
            member = object.__new__(cls)
            member._name_, member._value_ = f"UNKNOWN_{value}", value
            made[value] = member
        return made[value]

    Type._missing_ = classmethod(missing)
    Type._srstream_unknown = made


def _why(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def read_error(exc: BaseException, what: str, hint: str = "") -> InputError:
    """An input that FFmpeg cannot read, in words."""
    if isinstance(exc, PermissionError):
        return InputError(f"permission denied reading {what}: {_why(exc)}")
    return InputError(f"{what}: {_why(exc)}; " + (hint or "check that it is complete and in a format FFmpeg supports"))


def write_error(exc: BaseException, path: Path, codec: str = "") -> OutputError:
    """What went wrong while writing ``path``: a full disk, a file-size limit, or the encoder or
    muxer refusing (with what to try instead)."""
    code = getattr(exc, "errno", None)
    why = _why(exc)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"the disk is full while writing {path.name} ({why}); free some space or choose another -o; "
                           "nothing was kept")
    if code == errno.EFBIG:
        return OutputError(f"{path.name} grew beyond what this file system allows ({why}); choose another -o")
    if code == errno.EPIPE:  # a pipe or socket whose reader went away (`sr-stream in.mp4 -o - | head -c 1000`)
        return OutputError(f"the program reading {'standard output' if path.stem == '<stdout>' else path.name} "
                           f"closed it ({why}): the output stopped there")
    import av

    if isinstance(exc, PermissionError) and not (code == errno.EPERM and isinstance(exc, av.error.FFmpegError)):
        # FFmpeg's muxers return -1 for "I cannot do that" (44.1 kHz audio into .mxf), which reads as
        # EPERM: a file the OS refuses is EACCES, or an OSError from open()
        return OutputError(f"permission denied writing {path} ({why}); choose another -o")
    encoder = f"the {codec} encoder or " if codec else ""
    return OutputError(f"writing {path.name} failed ({why}): {encoder}the {path.suffix or 'output'} muxer refused it; "
                       "check the file extension, or try another --codec or output format")


@contextlib.contextmanager
def reading(what: str, hint: str = "") -> Iterator[None]:
    """FFmpeg failures inside the block become :class:`InputError` about ``what``."""
    try:
        yield
    except av_failures() as exc:
        raise read_error(exc, what, hint) from exc


@contextlib.contextmanager
def writing(path: Path, codec: str = "") -> Iterator[None]:
    """FFmpeg / OS failures inside the block become :class:`OutputError` about ``path`` (ValueError
    too: PyAV raises it when no muxer matches the file's extension)."""
    try:
        yield
    except (*av_failures(), ValueError) as exc:
        raise write_error(exc, path, codec) from exc
