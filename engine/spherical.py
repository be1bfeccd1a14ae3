"""360-degree and stereo 3D video: the projection boxes of an MP4/MOV input, written into an MP4/MOV
output.

A 360-degree camera's video (Insta360, GoPro Max, Ricoh Theta; YouTube's VR uploads) is an
equirectangular or cube-map picture that players turn into a sphere because of boxes in the
video's sample description: Google's Spherical Video V2 ``sv3d`` (with ``st3d`` for stereo
layouts) or V1's XML ``uuid`` box in the track. FFmpeg reads them into stream side data and writes
them back only from the side data of the encoder's stream, which PyAV cannot set; so the output
played as a flat, stretched panorama, without a word. Here the input's boxes are copied as they
are into the output's sample description after the muxer has written it, with the index at the
file's end (where inserting into it moves no sample), so that output is not fast-start. Other
formats (Matroska's Projection element) and Apple's spatial video (``vexu``, two views of which
one is upscaled) are named as not carried.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from srstream.engine import isobox

__all__ = ["ISO_MUXERS", "ProjectionBoxes", "add_projection", "output_projection", "projection_boxes",
           "projection_side_data", "wraps_sideways", "write_projection"]

#: Spherical Video V1's box in a track: a ``uuid`` box with this identifier, then RDF/XML.
_V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
#: The boxes of a visual sample entry that carry the projection and the stereo layout.
_ENTRY_BOXES = (b"st3d", b"sv3d")
#: Bytes of a VisualSampleEntry before its child boxes (after the box header).
_VISUAL_ENTRY = 78
#: The most of a ``moov`` read (its sample tables: about 1 MB an hour of video).
_MOOV_LIMIT = 256 << 20
#: The muxers (FFmpeg's names) of ISO files whose video sample description takes the boxes.
ISO_MUXERS = ("mp4", "mov", "ipod", "3gp", "3g2")


@dataclass(frozen=True)
class ProjectionBoxes:
    """An input's projection boxes, as they were: ``entry`` goes at the end of the video sample
    entry (``st3d``, ``sv3d``), ``track`` at the end of its track (V1's ``uuid``)."""

    entry: bytes
    track: bytes


def projection_side_data(frame) -> list[str]:  # noqa: ANN001 - an av.VideoFrame
    """The names of the projection side data on ``frame`` (``SPHERICAL``, ``STEREO3D``)."""
    from srstream.engine.av_errors import side_data

    return [data.type.name for data in side_data(frame) if data.type.name in ("SPHERICAL", "STEREO3D")]


#: FFmpeg's AVSphericalProjection for a whole equirectangular sphere, and the AVStereo3DType values
#: whose frames hold one whole panorama a row across (2D, top and bottom, frame sequence).
_EQUIRECTANGULAR = 0
_ROWS_WHOLE = (0, 2, 3)


def wraps_sideways(frame) -> bool:  # noqa: ANN001 - an av.VideoFrame
    """Whether ``frame`` is a whole equirectangular panorama (its side data says so), whose left and
    right edges meet on the sphere: one panorama a row across, not two eyes side by side."""
    from srstream.engine.av_errors import side_data

    found = {data.type.name: bytes(data) for data in side_data(frame)}
    sphere, stereo = found.get("SPHERICAL"), found.get("STEREO3D")
    if sphere is None or len(sphere) < 4 or struct.unpack("<i", sphere[:4])[0] != _EQUIRECTANGULAR:
        return False
    return stereo is None or len(stereo) < 4 or struct.unpack("<i", stereo[:4])[0] in _ROWS_WHOLE


def _child(data: bytes, parent: tuple[bytes, int, int, int], kind: bytes,
           skip: int = 0) -> tuple[bytes, int, int, int] | None:
    _, at, header, size = parent
    return next((box for box in isobox.boxes(data, at + header + skip, at + size) if box[0] == kind), None)


def _video_path(moov: bytes) -> list[tuple[bytes, int, int, int]] | None:
    """The boxes from ``moov`` down to the first video track's sample entry: moov, trak, mdia,
    minf, stbl, stsd, the entry (offsets in ``moov``)."""
    top = (b"moov", 0, *isobox.boxes(moov, 0, len(moov))[0][2:]) if moov[4:8] == b"moov" else None
    if top is None:
        return None
    for trak in (box for box in isobox.boxes(moov, top[2], top[3]) if box[0] == b"trak"):
        mdia = _child(moov, trak, b"mdia")
        hdlr = mdia and _child(moov, mdia, b"hdlr")
        if hdlr is None or moov[hdlr[1] + hdlr[2] + 8:hdlr[1] + hdlr[2] + 12] != b"vide":
            continue
        minf = _child(moov, mdia, b"minf")
        stbl = minf and _child(moov, minf, b"stbl")
        stsd = stbl and _child(moov, stbl, b"stsd")
        if stsd is None:
            return None
        entries = isobox.boxes(moov, stsd[1] + stsd[2] + 8, stsd[1] + stsd[3])
        return [top, trak, mdia, minf, stbl, stsd, entries[0]] if entries else None
    return None


def _read_moov(path: Path) -> tuple[int, bytes] | None:
    """(offset, bytes) of ``path``'s ``moov`` box, where it is no larger than :data:`_MOOV_LIMIT`."""
    with open(path, "rb") as file:
        found = isobox.find_moov(file)
        if found is None or not 8 <= found[1] <= _MOOV_LIMIT:
            return None
        file.seek(found[0])
        return found[0], file.read(found[1])


def projection_boxes(path: Path) -> ProjectionBoxes | None:
    """The projection boxes of ``path``'s first video track (an MP4 or MOV file), or None."""
    try:
        found = _read_moov(path)
    except OSError:
        return None
    if found is None:
        return None
    moov = found[1]
    chain = _video_path(moov)
    if chain is None:
        return None
    entry, trak = chain[-1], chain[1]
    in_entry = isobox.boxes(moov, entry[1] + entry[2] + _VISUAL_ENTRY, entry[1] + entry[3])
    in_track = isobox.boxes(moov, trak[1] + trak[2], trak[1] + trak[3])
    entry_boxes = b"".join(moov[at:at + size] for kind, at, _, size in in_entry if kind in _ENTRY_BOXES)
    track_boxes = b"".join(moov[at:at + size] for kind, at, header, size in in_track
                           if kind == b"uuid" and moov[at + header:at + header + 16] == _V1_UUID)
    return ProjectionBoxes(entry_boxes, track_boxes) if entry_boxes or track_boxes else None


def add_projection(path: Path, boxes: ProjectionBoxes) -> bool:
    """Write ``boxes`` into ``path`` (an MP4/MOV file whose ``moov`` is its last box, 32-bit sized
    down to the video sample entry), in place; False (and ``path`` unchanged) where it is not such
    a file."""
    found = _read_moov(path)
    if found is None or path.stat().st_size != found[0] + len(found[1]):
        return False
    offset, moov = found
    chain = _video_path(moov)
    if chain is None or any(header != 8 for _, _, header, _ in chain):
        return False
    data = bytearray(moov)
    entry, trak = chain[-1], chain[1]
    # the track's box after its sample entry's (which comes later in the track: inserted first)
    inserts = [(trak[1] + trak[3], boxes.track, chain[:2]), (entry[1] + entry[3], boxes.entry, chain)]
    for at, what, parents in inserts:
        if not what:
            continue
        data[at:at] = what
        for _, start, _, _ in parents:
            grown = struct.unpack(">I", data[start:start + 4])[0] + len(what)
            if grown >= 1 << 32:
                return False
            struct.pack_into(">I", data, start, grown)
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(data)
    return True


def output_projection(boxes: ProjectionBoxes | None, format_name: str, suffix: str,
                      notes: list[str]) -> ProjectionBoxes | None:
    """``boxes`` (an input's) for an output in the ``format_name`` muxer: kept for an ISO file
    (whose index must then be written at its end: no fast start), else None and said in ``notes``."""
    if boxes is None:
        return None
    if format_name in ISO_MUXERS:
        return boxes
    notes.append(f"the input's 360-degree / stereo 3D projection is not carried into a {suffix} file: an .mp4 or "
                 ".mov output keeps it")
    return None


def write_projection(path: Path, boxes: ProjectionBoxes, notes: list[str]) -> None:
    """:func:`add_projection`, and what came of it in ``notes``.

    Raises:
        OSError: the file could not be written (a full disk).
    """
    if add_projection(path, boxes):
        notes.append("the input's 360-degree / stereo 3D projection boxes (sv3d, st3d) are kept; the output's index "
                     "is at its end, not fast-start")
    else:
        notes.append("the input's 360-degree / stereo 3D projection could not be written into the output (its index "
                     "is not where it was expected): players will show it flat")
