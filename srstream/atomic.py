"""Writing files so that nobody ever sees half of one, and nothing already there is lost.

Every output is written to a temporary file created *exclusively* beside its target (a fresh
name no file had, so an input that happens to be named like a temporary file is never opened
for writing), then renamed over the target in one step. Outputs that take long (videos, live
recordings, images in a folder run) also hold a lock beside the target for as long as they are
written (:class:`PendingOutput`): a second run writing the same output is refused at start and
told which process holds it; the lock of a process that died (SIGKILL, power cut) is taken over,
and its temporary file removed.

A run that stops early never replaces the target: :meth:`PendingOutput.keep_partial` keeps what
was written under ``NAME.interrupted.EXT`` (the target, if any, stays as it was).

Every name made from a target's (these, a job's folder, a default output) is cut to what its
folder holds (:func:`fitting_name`): a file system takes at most 255 bytes in a name, which a
downloaded video's title in UTF-8 (3 bytes to a CJK character) reaches, and a target that fits
must not fail because a file beside it is named longer.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from srstream.errors import OutputError

__all__ = ["PendingOutput", "fitting_name", "interrupted_path", "temporary_beside", "write_atomic"]

#: The longest name (bytes) assumed where the folder cannot be asked: Linux's, macOS's and Windows'.
NAME_MAX = 255


def _name_max(folder: Path) -> int:
    """The longest name, in bytes, that ``folder`` (or the nearest folder above it that exists) holds."""
    for place in (folder, *folder.parents):
        try:
            return min(NAME_MAX, os.pathconf(place, "PC_NAME_MAX"))
        except (OSError, ValueError):
            continue
    return NAME_MAX


def fitting_name(folder: Path, head: str, body: str, tail: str = "", reserve: int = 0) -> str:
    """``head + body + tail``, or, where that (and ``reserve`` more bytes) is longer than a name in
    ``folder`` may be, ``body`` cut at a character and followed by ``~`` and 8 hex digits of its hash,
    so that the name fits and two long bodies cut alike still differ. The same arguments give the
    same name (a lock is found again by it).

    Raises:
        OutputError: ``head`` and ``tail`` alone leave no room.
    """
    room = _name_max(Path(folder)) - reserve - len(os.fsencode(head + tail))
    if len(os.fsencode(body)) <= room:
        return head + body + tail
    mark = "~" + hashlib.sha256(os.fsencode(body)).hexdigest()[:8]
    room -= len(mark)
    if room < 1:
        raise OutputError(f"a name ending in {tail!r} does not fit in {folder}; choose a shorter -o name")
    cut = body
    while len(os.fsencode(cut)) > room:
        cut = cut[:-1]
    return head + cut + mark + tail


def temporary_beside(path: Path) -> Path:
    """A new, empty, hidden file beside ``path`` with the same extension (encoders pick the
    format from it), e.g. ``out/.clip_x2.k3j9x1.partial.mp4``. Created exclusively: never an
    existing file.

    Raises:
        OutputError: the folder is missing or not writable.
    """
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=f".partial{path.suffix}",
                                    dir=path.parent or ".")
    except OSError as exc:
        raise OutputError(f"cannot create a file in {path.parent or '.'}: {exc.strerror or exc}; check the folder "
                          "and free space") from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; a finished output gets the usual mode
    finally:
        os.close(fd)
    return Path(name)


def _temporary_prefix(path: Path) -> str:
    """How :func:`temporary_beside`'s names for ``path`` start (room kept for mkstemp's 8 characters)."""
    return fitting_name(path.parent, ".", path.stem, ".", reserve=8 + len(os.fsencode(f".partial{path.suffix}")))


def _umask() -> int:
    """The process umask (read by setting it, so read once and remembered)."""
    if "value" not in _UMASK:
        mask = os.umask(0o022)
        os.umask(mask)
        _UMASK["value"] = mask
    return _UMASK["value"]


_UMASK: dict[str, int] = {}


def interrupted_path(path: Path) -> Path:
    """Where the part of an interrupted ``path`` is kept: ``clip_x2.interrupted.mp4``, or
    ``clip_x2.interrupted-2.mp4`` ... when that exists."""
    path = Path(path)
    candidate = path.with_name(fitting_name(path.parent, "", path.stem, f".interrupted{path.suffix}"))
    n = 2
    while candidate.exists():
        candidate = path.with_name(fitting_name(path.parent, "", path.stem, f".interrupted-{n}{path.suffix}"))
        n += 1
    return candidate


def write_atomic(path: Path, data: bytes) -> int:
    """Write ``data`` to ``path`` (creating its folder) through an exclusive temporary file and
    one rename; returns the size.

    Raises:
        OutputError: the folder is not writable or the disk is full; nothing is left behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
    tmp = temporary_beside(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; check the folder and free space") from exc
    return len(data)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class PendingOutput:
    """An output being written: a lock beside ``target`` naming this run, and an exclusive
    temporary file (:attr:`tmp`) to write into. End it with :meth:`commit` (rename over the
    target), :meth:`keep_partial` or :meth:`discard`; leaving the ``with`` block on an
    exception discards.

    Raises:
        OutputError: another live process is writing ``target`` (exit code 4), or the folder
            cannot be written.
    """

    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.lock = self.target.with_name(fitting_name(self.target.parent, ".", self.target.name, ".lock"))
        self._acquire()
        try:
            self.tmp = temporary_beside(self.target)
            self._write_lock()
        except BaseException:
            self.lock.unlink(missing_ok=True)
            raise
        self.done = False

    def _info(self, **extra: str) -> bytes:
        return json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)[:300],
                           **extra}).encode()

    def _acquire(self) -> None:
        for _ in range(10):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                try:
                    os.write(fd, self._info())
                finally:
                    os.close(fd)
                return
            except FileExistsError:
                holder = self._holder()
                if holder and holder.get("host") != socket.gethostname():
                    raise OutputError(  # a shared folder: its process cannot be checked from here
                        f"{self.target} is being written by an sr-stream run on {holder.get('host')} (pid "
                        f"{holder.get('pid')}, started {holder.get('started', '?')}); if that run is gone, delete "
                        f"{self.lock}") from None
                if holder and _alive(int(holder.get("pid", 0))):
                    raise OutputError(
                        f"{self.target} is being written by another sr-stream run (pid {holder['pid']}, started "
                        f"{holder.get('started', '?')}: {holder.get('command', '?')}); wait for it or choose "
                        "another -o") from None
                if holder is None and time.time() - self._lock_age() < 5:
                    time.sleep(0.2)  # another run is creating it right now: look again
                    continue
                self._clear_stale(holder or {})
            except OSError as exc:
                raise OutputError(f"cannot write in {self.target.parent}: {exc.strerror or exc}; choose another -o "
                                  "path") from exc
        raise OutputError(f"cannot lock {self.target} for writing ({self.lock} keeps reappearing)")

    def _holder(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.lock.read_text())
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    def _lock_age(self) -> float:
        try:
            return self.lock.stat().st_mtime
        except OSError:
            return 0.0

    def _clear_stale(self, holder: dict[str, object]) -> None:
        """A dead run's lock: remove its temporary file (only a file it named, beside the target)."""
        tmp = holder.get("tmp")
        if isinstance(tmp, str):
            stale = Path(tmp)
            if (stale.resolve().parent == self.target.resolve().parent and ".partial" in stale.name
                    and stale.name.startswith(_temporary_prefix(self.target))):
                stale.unlink(missing_ok=True)
        self.lock.unlink(missing_ok=True)

    def _write_lock(self) -> None:
        self.lock.write_bytes(self._info(tmp=str(self.tmp)))

    def _release(self) -> None:
        self.done = True
        self.lock.unlink(missing_ok=True)

    def commit(self) -> Path:
        """Replace the target with the finished file."""
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot move the finished output to {self.target}: {exc.strerror or exc}") from exc
        self._release()
        return self.target

    def keep_partial(self) -> Path:
        """Keep what was written as ``NAME.interrupted.EXT``; the target is left as it was."""
        kept = interrupted_path(self.target)
        try:
            os.replace(self.tmp, kept)
        except OSError:
            self.discard()
            raise
        self._release()
        return kept

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)
        self._release()

    def __enter__(self) -> PendingOutput:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.done:
            self.discard()
