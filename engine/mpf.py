"""The further pictures of a Multi-Picture Format JPEG (CIPA DC-007), carried into a JPEG output,
scaled with the picture: an Ultra HDR photo's gain map (Android phones since 2023, Chrome and
Google Photos show it as HDR), an iPhone's HDR gain map, a depth map.

OpenCV decodes and writes a JPEG's first picture only; the others (appended after it, found
through the MPF index in an APP2 segment) were dropped, and an Ultra HDR photo came out SDR, its
XMP still naming a gain map that was gone. Here each further picture is decoded, resized by the
factor the main picture was (bicubic: a gain map is smooth, and a quarter of the picture's size),
encoded again as JPEG with its own APP segments (the gain map's hdrgm XMP, its ISO 21496-1 block),
and appended behind the output with a new MPF index; the ``Item:Length`` the main picture's XMP
gives each (Ultra HDR's container directory) is made the new one's.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MpfPicture", "MpfSet", "carried", "further_pictures", "is_view", "scaled_with_it", "with_app_segments",
           "with_further_pictures"]

_MPF = b"MPF\0"
_ISO_GAIN_MAP = b"urn:iso:std:iso:ts:21496:-1\0"  # ISO 21496-1's APP2 block: the main picture's says its version
#: The quality the further pictures are encoded at (their content is metadata-like: a gain map).
_QUALITY = 95


@dataclass(frozen=True)
class MpfPicture:
    """A picture behind a JPEG's first: its MP entry's attribute (kind and flags) and its bytes."""

    attribute: int
    data: bytes
    #: encoded at the output's size already (a view upscaled as the first picture was): goes on as it is
    ready: bool = False


@dataclass(frozen=True)
class MpfSet:
    """What a JPEG's first picture carries of the others: its own MP entry's attribute, the
    pictures behind it, and its APP2 blocks that belong to them (ISO 21496-1's version block)."""

    attribute: int
    pictures: tuple[MpfPicture, ...]
    blocks: tuple[bytes, ...] = ()


def _index(data: bytes, at: int, end: int) -> list[tuple[int, int, int]] | None:
    """The MP entries (attribute, size, offset from the file's start; 0 for the first picture) of the
    MPF APP2 segment at ``data[at:end]``, or None where it is not one the reader understands."""
    tiff = at + 4 + len(_MPF)  # the marker, the length, "MPF\0"
    order = {b"MM": ">", b"II": "<"}.get(bytes(data[tiff:tiff + 2]))
    if order is None or data[at + 4:tiff] != _MPF:
        return None
    try:
        ifd = tiff + struct.unpack(order + "I", data[tiff + 4:tiff + 8])[0]
        count = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
        entries = {}
        for i in range(count):
            tag, kind, n, value = struct.unpack(order + "HHII", data[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
            entries[tag] = (kind, n, value)
        _, size, offset = entries[0xB002]
        found = []
        for i in range(size // 16):
            attribute, length, start, _, _ = struct.unpack(order + "IIIHH", data[tiff + offset + 16 * i:
                                                                                 tiff + offset + 16 * (i + 1)])
            found.append((attribute, length, 0 if start == 0 else tiff + start))
    except (KeyError, struct.error):
        return None
    return found


def further_pictures(data: bytes, segments: Iterable[tuple[int, int, int]]) -> MpfSet | None:
    """The pictures behind the first of a JPEG's bytes ``data`` whose segments ``segments`` ((start,
    marker, end), as :func:`srstream.engine.stills._jpeg_walk` walks them) hold an MPF index; None
    where there is none, or it points outside the file or at anything but a JPEG."""
    segments = list(segments)
    blocks = tuple(bytes(data[s:e]) for s, m, e in segments
                   if m == 0xE2 and bytes(data[s + 4:s + 4 + len(_ISO_GAIN_MAP)]) == _ISO_GAIN_MAP)
    for start, marker, end in segments:
        if marker != 0xE2 or bytes(data[start + 4:start + 8]) != _MPF:
            continue
        entries = _index(data, start, end)
        if not entries:
            return None
        first, pictures = 0x20030000, []  # a baseline primary picture, unless its entry says otherwise
        for attribute, length, offset in entries:
            if offset == 0:
                first = attribute
                continue
            picture = bytes(data[offset:offset + length])
            if len(picture) != length or picture[:2] != b"\xff\xd8":
                return None
            pictures.append(MpfPicture(attribute, picture))
        return MpfSet(first, tuple(pictures), blocks) if pictures else None
    return None


def _app_segments(data: bytes, walk: Iterable[tuple[int, int, int]]) -> list[bytes]:
    """``data``'s APP1-APP15 segments but an MPF index (an XMP, an ISO 21496-1 block, an ICC profile)."""
    return [data[s:e] for s, m, e in walk if 0xE1 <= m <= 0xEF and data[s + 4:s + 8] != _MPF]


#: MP types (the low 24 bits of an entry's attribute) whose picture is the photo's in another form,
#: scaled with it: "undefined" (Ultra HDR's and Apple's gain maps, depth maps). A large thumbnail
#: (0x01000x) goes on as it is; a view of its own (a stereo camera's second eye, a panorama's part:
#: 0x02000x) is not the photo's data and is left out, said by the caller.
_SCALED_TYPES = (0x000000,)
_THUMBNAIL_TYPES = (0x010001, 0x010002)


def scaled_with_it(found: MpfSet) -> bool:
    """Whether ``found`` holds a picture that is the photo's in another form (a gain map, a depth
    map), not only a camera's preview (:data:`_SCALED_TYPES`)."""
    return any(p.attribute & 0xFFFFFF in _SCALED_TYPES for p in found.pictures)


def is_view(picture: MpfPicture) -> bool:
    """Whether ``picture`` is a view of its own (MP type 0x02000x: a stereo camera's other eye, a
    panorama's part, a multi-angle shot's angle), upscaled as the first picture is."""
    return picture.attribute & 0xFFFF00 == 0x020000


def carried(found: MpfSet) -> MpfSet:
    """``found`` without the pictures that are views of their own (:func:`is_view`), but those upscaled already."""
    kept = tuple(p for p in found.pictures
                 if p.ready or p.attribute & 0xFFFFFF in (*_SCALED_TYPES, *_THUMBNAIL_TYPES))
    return MpfSet(found.attribute, kept, found.blocks)


def with_app_segments(encoded: bytes, source: bytes, walk) -> bytes:  # noqa: ANN001 - the walk function
    """``encoded`` (a JPEG OpenCV wrote) with ``source``'s APP1-APP15 segments but an MPF index (its
    EXIF, XMP, ISO 21496-1 block) after its JFIF segment."""
    apps = _app_segments(source, walk(source))
    at = 2 + (2 + struct.unpack(">H", encoded[4:6])[0] if encoded[2:4] == b"\xff\xe0" else 0)  # after JFIF
    return encoded[:at] + b"".join(apps) + encoded[at:]


def _scaled(picture: MpfPicture, factor: tuple[float, float], walk) -> bytes | None:  # noqa: ANN001
    """``picture`` resized by ``factor`` (x, y) and encoded again, with its own APP segments (a
    large thumbnail as it is)."""
    import cv2
    import numpy as np

    if picture.ready or picture.attribute & 0xFFFFFF in _THUMBNAIL_TYPES:
        return picture.data

    image = cv2.imdecode(np.frombuffer(picture.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    size = (max(1, round(image.shape[1] * factor[0])), max(1, round(image.shape[0] * factor[1])))
    ok, encoded = cv2.imencode(".jpg", cv2.resize(image, size, interpolation=cv2.INTER_CUBIC),
                               [cv2.IMWRITE_JPEG_QUALITY, _QUALITY])
    if not ok:
        return None
    return with_app_segments(encoded.tobytes(), picture.data, walk)


def _mpf_segment(attributes: list[int], sizes: list[int], first_size: int, tiff_at: int) -> bytes:
    """An MPF APP2 segment (big-endian) for pictures of ``sizes`` behind a first of ``first_size``
    bytes whose TIFF header starts at byte ``tiff_at`` of it."""
    count = len(sizes) + 1
    ifd = struct.pack(">H", 3) + struct.pack(">HHI4s", 0xB000, 7, 4, b"0100") \
        + struct.pack(">HHII", 0xB001, 4, 1, count) + struct.pack(">HHII", 0xB002, 7, 16 * count, 8 + 2 + 36 + 4) \
        + struct.pack(">I", 0)
    entries = struct.pack(">IIIHH", attributes[0], first_size, 0, 0, 0)
    offset = first_size - tiff_at
    for attribute, size in zip(attributes[1:], sizes):
        entries += struct.pack(">IIIHH", attribute, size, offset, 0, 0)
        offset += size
    body = _MPF + b"MM\0\x2a" + struct.pack(">I", 8) + ifd + entries
    return b"\xff\xe2" + struct.pack(">H", 2 + len(body)) + body


def with_further_pictures(first: bytes, found: MpfSet, factor: tuple[float, float],
                          walk) -> bytes | None:  # noqa: ANN001 - the walk function
    """The encoded JPEG ``first`` (the upscaled picture, with its metadata) with ``found``'s
    pictures scaled by ``factor`` behind it, its blocks and an MPF index in it, and the lengths its
    XMP names made the new ones'; None where a picture does not decode (the caller says they are
    left out). ``walk``: the JPEG segment walk (:func:`srstream.engine.stills._jpeg_walk`)."""
    found = carried(found)
    pictures = found.pictures
    if not pictures:
        return first
    scaled = [_scaled(picture, factor, walk) for picture in pictures]
    if any(data is None for data in scaled):
        return None
    segments = list(walk(first))
    for start, marker, end in reversed(segments):  # an MPF index OpenCV wrote (none), and lengths to update
        if marker == 0xE2 and first[start + 4:start + 8] == _MPF:
            first = first[:start] + first[end:]
    for old, new in zip(pictures, scaled):  # Ultra HDR's container directory: Item:Length="<bytes>"
        first = _xmp_length(first, walk, len(old.data), len(new))
    insert = max((end for _, marker, end in walk(first) if 0xE0 <= marker <= 0xEF), default=2)
    blocks = b"".join(found.blocks)
    sizes, attributes = [len(data) for data in scaled], [found.attribute] + [p.attribute for p in pictures]
    first_size = len(first) + len(blocks) + len(_mpf_segment(attributes, sizes, 0, 0))
    segment = _mpf_segment(attributes, sizes, first_size, insert + len(blocks) + 4 + len(_MPF))
    return first[:insert] + blocks + segment + first[insert:] + b"".join(scaled)


def _xmp_length(data: bytes, walk, old: int, new: int) -> bytes:  # noqa: ANN001
    """``data`` (a JPEG) with ``Item:Length="old"`` in its XMP made ``new`` (the segment's length too)."""
    for start, marker, end in walk(data):
        body = data[start + 4:end]
        if marker != 0xE1 or not body.startswith(b"http://ns.adobe.com/xap/1.0/\0"):
            continue
        changed = re.sub(rb'(Item:Length=")%d(")' % old, rb"\g<1>%d\g<2>" % new, body, count=1)
        if changed == body:
            return data
        return data[:start] + b"\xff\xe1" + struct.pack(">H", 2 + len(changed)) + changed + data[end:]
    return data
