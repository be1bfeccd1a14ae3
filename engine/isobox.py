"""Boxes of ISO base media files (MP4, MOV): the top-level walk to the ``moov`` box, and the boxes
inside a span of it. For what FFmpeg reads but PyAV does not hand on (a Dolby Vision configuration,
:mod:`srstream.engine.dovi`) or does not write (360-degree projections, :mod:`srstream.engine.spherical`).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

__all__ = ["boxes", "find_moov"]


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
