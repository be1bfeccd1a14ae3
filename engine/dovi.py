"""Dolby Vision and HDR10+: the per-frame HDR metadata a run cannot carry, and what that costs.

A Dolby Vision video is a base layer that decoders show as they find it, plus per-frame
metadata (the RPU) that a Dolby Vision display uses to map it. sr-stream upscales the base layer
and cannot carry the RPU (PyAV gives its encoders no frame side data to pass on), so:

* in profiles 7, 8.1, 8.2, 8.4 and 9 the base layer is plain HDR10, SDR or HLG: the output is
  that, which every player shows; the run says the Dolby Vision metadata was dropped;
* in profile 5 (and 10.0, its AV1 form) the base layer is Dolby's own IPTPQc2 colour space with no
  fallback: decoded as it is, it shows green and purple, and an upscale of it stays so. Such a
  file is refused before any work, with what to run instead.

The record (``dvcC``/``dvvC``/``dvwC``, ETSI TS 103 572 / Dolby's "Dolby Vision Streams Within
the ISO Base Media File Format") sits in an MP4/MOV sample entry or a Matroska track's block
addition mapping, and in MPEG-TS (broadcast, and Blu-ray's .m2ts) as a ``DOVI_video_stream``
descriptor (tag 0xB0) of the video's entry in the program map table. FFmpeg reads it into the
stream's coded side data, which PyAV does not expose, so it is read here from the container's
header: the ``moov`` box, Matroska's first megabytes, or a transport stream's first program map
table. Raw streams are not read (their Dolby Vision goes unnoticed).

HDR10+ (SMPTE ST 2094-40) is per-frame metadata in H.265 SEI or AV1 metadata OBUs, which FFmpeg's
decoders export as frame side data: a run says it was dropped. Its pictures are plain HDR10.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from srstream.engine.isobox import find_moov

__all__ = ["HDR10_PLUS_NOTE", "DoviConfig", "dropped_note", "dynamic_hdr_notes", "find_config", "read_config",
           "refusal", "ts_config"]

_TYPES = (b"dvcC", b"dvvC", b"dvwC")
#: the descriptor that carries the record in an MPEG-TS program map table
_TS_DOVI_DESCRIPTOR = 0xB0
#: how much of a transport stream is read for its program association and program map tables
#: (repeated every 100 ms or so: they come within its first packets)
_TS_HEAD = 2 << 20
#: the transport stream type each profile's video has: HEVC (0x24), H.264 (0x1B), AV1 (0x06, private)
_TS_STREAM_TYPES = {4: 0x24, 5: 0x24, 7: 0x24, 8: 0x24, 9: 0x1B, 10: 0x06}
#: the most of a file's header read: an MP4's ``moov`` (its sample tables: about 1 MB an hour), or
#: Matroska's start (its track entries come before the first cluster)
_MOOV_LIMIT, _MATROSKA_HEAD = 64 << 20, 4 << 20


@dataclass(frozen=True)
class DoviConfig:
    """A Dolby Vision configuration record.

    Attributes:
        profile: the Dolby Vision profile (4, 5, 7, 8, 9, 10, ...).
        level: its level (frame size and rate class).
        compatibility: ``dv_bl_signal_compatibility_id``: what the base layer is without Dolby
            Vision: 0 none (IPTPQc2), 1 HDR10, 2 SDR, 4 HLG, 6 Blu-ray HDR10.
    """

    profile: int
    level: int
    compatibility: int

    @property
    def name(self) -> str:
        """``profile 8.1``, as players and release notes call it."""
        sub = f".{self.compatibility}" if self.profile in (8, 10) else ""
        return f"profile {self.profile}{sub}"

    @property
    def displayable(self) -> bool:
        """Whether its base layer shows right without Dolby Vision (all but profile 5 and 10.0)."""
        return not (self.profile == 5 or (self.profile == 10 and self.compatibility == 0))

    @classmethod
    def parse(cls, record: bytes) -> DoviConfig | None:
        """The record's first 5 bytes: version (2), then profile (7 bits), level (6), rpu, el and
        bl present (1 each), compatibility id (4). None if too short, of an unknown version, or of
        a profile or level that does not exist."""
        if len(record) < 5 or record[0] not in (1, 2, 3):
            return None
        bits = struct.unpack(">H", record[2:4])[0]
        profile, level = bits >> 9, (bits >> 3) & 0x3F
        if profile > 10 or level > 13:  # not a record: bytes that happen to spell its type
            return None
        return cls(profile=profile, level=level, compatibility=record[4] >> 4)


def find_config(header: bytes) -> DoviConfig | None:
    """The configuration record in a container header's bytes: an ISO box (``size``, type, record)
    or a Matroska ``BlockAddIDType`` (the type as a 4-byte value) followed by its
    ``BlockAddIDExtraData`` (ID ``0x41ED``, a size, the record)."""
    for kind in _TYPES:
        at = header.find(kind)
        while at >= 4:
            size = struct.unpack(">I", header[at - 4:at])[0]
            if 8 + 5 <= size <= 8 + 64:  # an ISO box holding the record
                found = DoviConfig.parse(header[at + 4:at + size - 4])
            else:  # Matroska: the extra data element within the next bytes
                extra = header.find(b"\x41\xed", at + 4, at + 24)
                found = None
                if 0 <= extra < len(header) - 2 and header[extra + 2] & 0x80:  # a one-byte size (24 bytes)
                    length = header[extra + 2] & 0x7F
                    found = DoviConfig.parse(header[extra + 3:extra + 3 + length])
            if found is not None:
                return found
            at = header.find(kind, at + 4)
    return None


def read_config(path: str | Path) -> DoviConfig | None:
    """The Dolby Vision configuration of an MP4/MOV, Matroska/WebM or MPEG-TS (.ts, .m2ts) file;
    None where it has none, or where the container is another (or unreadable: the run reports
    what is wrong with it)."""
    try:
        with open(path, "rb") as file:
            start = file.read(12)
            if start[:1] == b"\x47" or start[4:5] == b"\x47":  # a transport stream's sync byte (.m2ts: after 4)
                head = start + file.read(_TS_HEAD)
                return ts_config(head)
            if start[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, WebM
                head = start + file.read(_MATROSKA_HEAD)
                cluster = head.find(b"\x1f\x43\xb6\x75")  # the tracks come before the first cluster: no
                return find_config(head[:cluster] if cluster > 0 else head)  # picture's bytes are searched
            if start[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
                moov = _moov(file)
                return find_config(moov) if moov else None
    except OSError:
        return None
    return None


def ts_config(head: bytes) -> DoviConfig | None:
    """The Dolby Vision record of a transport stream's first bytes: the ``DOVI_video_stream``
    descriptor in its program map table (found through the program association table), in
    188-byte packets or Blu-ray's 192 (a 4-byte time code before each). None where the bytes are
    no transport stream, or its first program map tables carry no record."""
    size = 188 if head[:1] == b"\x47" and head[188:189] in (b"\x47", b"") else 192
    skip = size - 188
    if head[skip:skip + 1] != b"\x47":
        return None
    programs: set[int] = set()
    for offset in range(skip, len(head) - 187, size):
        packet = head[offset:offset + 188]
        if packet[0] != 0x47:
            return None  # sync lost: not a transport stream after all
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        control = (packet[3] >> 4) & 3
        if not packet[1] & 0x40 or not control & 1 or (pid != 0 and pid not in programs):
            continue  # only a section's first packet, with a payload, of the tables wanted
        at = 4 + (1 + packet[4] if control & 2 else 0)
        if at >= 188:
            continue
        section = packet[at + 1 + packet[at]:]  # after the pointer field
        if len(section) < 12:
            continue
        end = min(3 + (((section[1] & 0x0F) << 8) | section[2]) - 4, len(section))  # before the CRC
        if pid == 0 and section[0] == 0x00:  # the program association table: where each map is
            programs.update(((section[e + 2] & 0x1F) << 8) | section[e + 3] for e in range(8, end - 3, 4)
                            if section[e:e + 2] != b"\0\0")
        elif section[0] == 0x02:  # a program map table: each stream's descriptors
            entry = 12 + (((section[10] & 0x0F) << 8) | section[11])
            while entry + 5 <= end:
                last = entry + 5 + (((section[entry + 3] & 0x0F) << 8) | section[entry + 4])
                at = entry + 5
                while at + 2 <= min(last, end):
                    tag, length = section[at], section[at + 1]
                    found = _descriptor(section[at + 2:at + 2 + length]) if tag == _TS_DOVI_DESCRIPTOR else None
                    if found is not None and _TS_STREAM_TYPES.get(found.profile) == section[entry]:
                        return found  # a record of the stream's own codec: no other private descriptor 0xB0
                    at += 2 + length
                entry = last
            return None
    return None


def _descriptor(body: bytes) -> DoviConfig | None:
    """A ``DOVI_video_stream`` descriptor's record: the ISO record's fields, except that a stream
    without its base layer (profile 7's enhancement layer alone) names that layer's PID first."""
    if len(body) < 5 or body[0] != 1:  # dv_version_major 1: what Dolby's descriptor defines
        return None
    bl_present = body[3] & 1
    return DoviConfig.parse(body[:4] + (body[4:5] if bl_present else body[6:7]))


def _moov(file) -> bytes | None:  # noqa: ANN001 - a binary file
    """An ISO file's ``moov`` box (its sample descriptions), at most :data:`_MOOV_LIMIT` bytes of it."""
    found = find_moov(file)
    if found is None:
        return None
    offset, size = found
    file.seek(offset)
    return file.read(_MOOV_LIMIT if size == 0 or size > _MOOV_LIMIT else size)


_BASES = {1: "HDR10", 2: "SDR", 4: "HLG", 6: "HDR10"}


def dropped_note(config: DoviConfig) -> str:
    """What a run of a displayable Dolby Vision video says it left out."""
    base = _BASES.get(config.compatibility, "base layer")
    return (f"the input is Dolby Vision {config.name}: its per-frame metadata (the RPU) is not carried, so the output "
            f"is the {base} picture it holds, which every player shows as {base}")


def refusal(path: str | Path, config: DoviConfig) -> str:
    """Why a video whose base layer is IPTPQc2 is refused, and what to run instead."""
    return (f"{path} is Dolby Vision {config.name}: its pictures are in Dolby's IPTPQc2 colour space, with no HDR10 "
            "picture beneath, so decoded without a Dolby Vision renderer they show green and purple, and upscaled "
            "they would stay so. Convert it to HDR10 first with a renderer that applies its metadata, e.g. an FFmpeg "
            "built with libplacebo (and a Vulkan GPU): ffmpeg -i IN -vf libplacebo=colorspace=bt2020nc:"
            "color_primaries=bt2020:color_trc=smpte2084:format=yuv420p10le -c:v libx265 -crf 16 -c:a copy "
            "HDR10.mkv; then upscale HDR10.mkv")


HDR10_PLUS_NOTE = ("the input's HDR10+ metadata (per-scene brightness for the display's tone mapping) is not carried: "
                   "the output is plain HDR10, which HDR players tone-map by its static metadata")


def dynamic_hdr_notes(path: str | Path, frame) -> list[str]:  # noqa: ANN001 - its first av.VideoFrame
    """What a run of a file leaves out of its per-frame HDR metadata: Dolby Vision's (from the
    file's configuration record) and HDR10+'s (from its first frame, in H.265 or AV1)."""
    notes = []
    config = read_config(path)
    if config is not None and config.displayable:
        notes.append(dropped_note(config))
    from srstream.engine.av_errors import side_data

    if any(data.type.name == "DYNAMIC_HDR_PLUS" for data in side_data(frame)):
        notes.append(HDR10_PLUS_NOTE)
    return notes
