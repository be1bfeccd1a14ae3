"""Boxes of ISO base media files (MP4, MOV): the top-level walk to the ``moov`` box, and the boxes
inside a span of it. For what FFmpeg reads but PyAV does not hand on (a Dolby Vision configuration,
:mod:`srstream.engine.dovi`) or does not write (360-degree projections, :mod:`srstream.engine.spherical`;
a .mov track's language, :func:`write_languages`).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["boxes", "find_moov", "unfinished", "write_languages"]


def find_moov(file: BinaryIO) -> tuple[int, int] | None:
    """(offset, size) of the ``moov`` box of an open ISO file, found by walking its top-level boxes;
    size 0: it runs to the end of the file. None where there is none, or a box size is damaged."""
    offset = 0
    while True:
        file.seek(offset)
        head = file.read(16)
        if len(head) < 8:
            return None
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1 and len(head) == 16:  # a 64-bit size
            size, header = struct.unpack(">Q", head[8:16])[0], 16
        if kind == b"moov":
            return offset, size
        if size < header:  # 0: the box runs to the end of the file; below its header: damaged
            return None
        offset += size


def unfinished(path: str | Path) -> bool:
    """Whether the file at ``path`` is an ISO file (MP4, MOV) that was never finished: it begins with a
    ``ftyp`` box and holds sample data (``mdat``) but no index (``moov``), which a camera or phone writes
    when its recording stops, so no player can read what is there."""
    kinds = set()
    try:
        with open(path, "rb") as file:
            size_of_file = file.seek(0, 2)
            offset = 0
            while offset + 8 <= size_of_file:
                file.seek(offset)
                head = file.read(16)
                size, kind = struct.unpack(">I4s", head[:8])
                kinds.add(kind)
                if not offset and kind != b"ftyp":
                    return False
                header = 8
                if size == 1 and len(head) == 16:
                    size, header = struct.unpack(">Q", head[8:16])[0], 16
                if size < header:  # 0: to the end of the file (an mdat whose size was never written), or damaged
                    break
                offset += size
    except (OSError, struct.error):
        return False
    return b"moov" not in kinds and b"mdat" in kinds


def boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """The boxes in ``data[start:end]``: (kind, offset, header size, size), up to a damaged size."""
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1 and start + 16 <= end:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            return found
        found.append((kind, start, header, size))
        start += size
    return found


#: The most of a ``moov`` read to write languages into (its sample tables: about 1 MB an hour of video).
_MOOV_LIMIT = 256 << 20


def _packed_language(code: str) -> int | None:
    """An ISO 639-2 code as an ``mdhd`` box packs it (three 5-bit letters); None where it is not three
    lower-case letters."""
    if len(code) != 3 or not all("a" <= c <= "z" for c in code):
        return None
    return (ord(code[0]) - 0x60) << 10 | (ord(code[1]) - 0x60) << 5 | (ord(code[2]) - 0x60)


def write_languages(path: str | Path, languages: dict[int, str]) -> list[int]:
    """Write ``languages`` (track ID -> ISO 639-2 code) into the ``mdhd`` boxes of the MOV file at ``path``, in
    place (two bytes each: nothing moves); returns the track IDs written.

    FFmpeg's MOV muxer writes a track's language only as one of the old Macintosh codes, of which there are
    about a hundred ("ger" and "fra" but not "deu", "swe", "nld", "zho", "hrv"); it wrote any other as none,
    and a German or Swedish sound track came out of a .mov without its language. QuickTime, as the .mp4
    muxer does, reads a packed ISO code there as well."""
    written: list[int] = []
    with open(path, "r+b") as file:
        found = find_moov(file)
        if found is None or not 8 <= found[1] <= _MOOV_LIMIT:
            return written
        offset = found[0]
        file.seek(offset)
        moov = file.read(found[1])
        for kind, at, header, size in boxes(moov, 8, len(moov)):
            if kind != b"trak":
                continue
            inside = {k: (a, h, n) for k, a, h, n in boxes(moov, at + header, at + size)}
            if b"tkhd" not in inside or b"mdia" not in inside:
                continue
            tkhd_at, tkhd_header, _ = inside[b"tkhd"]
            version = moov[tkhd_at + tkhd_header]
            track = struct.unpack(">I", moov[tkhd_at + tkhd_header + (20 if version == 1 else 12):][:4])[0]
            code = _packed_language(languages.get(track, ""))
            mdia_at, mdia_header, mdia_size = inside[b"mdia"]
            mdhd = next(((a, h) for k, a, h, _ in boxes(moov, mdia_at + mdia_header, mdia_at + mdia_size)
                         if k == b"mdhd"), None)
            if code is None or mdhd is None:
                continue
            language_at = mdhd[0] + mdhd[1] + (32 if moov[mdhd[0] + mdhd[1]] == 1 else 20)
            file.seek(offset + language_at)
            file.write(struct.pack(">H", code))
            written.append(track)
    return written
