"""A 360-degree video stays one: the Spherical Video boxes of an MP4/MOV input (V2's ``sv3d`` and
``st3d`` in the sample entry, V1's ``uuid`` in the track) are in the output's, in one pass and a
job's join, so FFmpeg (and a VR player) reads the projection back; a format that cannot take them
says so. Inputs are generated here with PyAV; the model is an ONNX nearest-neighbour x2."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from srstream.engine.av_errors import side_data
from srstream.engine.spherical import projection_boxes
from tests.conftest import upscale_cli
from tests.onnx_models import nearest_x2_spec, write_nearest_x2

_V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")


@pytest.fixture(scope="module")
def nearest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nearest_x2(tmp_path_factory.mktemp("model") / "nearest.onnx", nearest_x2_spec())


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, body: bytes) -> bytes:
    return _box(kind, bytes(4) + body)  # version 0, no flags


#: A mono equirectangular projection (Spherical Video V2), yawed 90 degrees, as a camera writes it.
SV3D = _box(b"sv3d", _full(b"svhd", b"a camera\0") + _box(b"proj", _full(b"prhd", struct.pack(">iii", 90 << 16, 0, 0))
                                                                + _full(b"equi", bytes(16))))
ST3D = _full(b"st3d", bytes([0]))
V1 = _box(b"uuid", _V1_UUID + b"<rdf:SphericalVideo xmlns:GSpherical='http://ns.google.com/videos/1.0/spherical/'>"
          b"<GSpherical:Spherical>true</GSpherical:Spherical><GSpherical:Stitched>true</GSpherical:Stitched>"
          b"<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType></rdf:SphericalVideo>")


def _spherical_mp4(path: Path, frames: int = 8, st3d: bytes = ST3D) -> Path:
    """An equirectangular H.264 .mp4 (a keyframe every 4 frames) with :data:`SV3D` and ``st3d`` in its
    sample entry and :data:`V1` in its track, the ``moov`` last (PyAV's default)."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(30))
        v.width, v.height, v.pix_fmt = 64, 32, "yuv420p"
        v.options = {"g": "4", "preset": "ultrafast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 64, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    data = bytearray(path.read_bytes())
    parents, start, end = [], 0, len(data)
    for kind, fixed in ((b"moov", 0), (b"trak", 0), (b"mdia", 0), (b"minf", 0), (b"stbl", 0), (b"stsd", 8),
                        (b"avc1", 78)):
        at = start
        while data[at + 4:at + 8] != kind:
            at += struct.unpack(">I", data[at:at + 4])[0]
            assert at < end, kind
        parents.append(at)
        start, end = at + 8 + fixed, at + struct.unpack(">I", data[at:at + 4])[0]
    trak_end = parents[1] + struct.unpack(">I", data[parents[1]:parents[1] + 4])[0]
    data[trak_end:trak_end] = V1  # after the sample entry: put in first, nothing before it moves
    data[end:end] = st3d + SV3D
    for at in parents:
        grown = len(V1) * (at in parents[:2]) + len(st3d + SV3D)
        struct.pack_into(">I", data, at, struct.unpack(">I", data[at:at + 4])[0] + grown)
    path.write_bytes(bytes(data))
    return path


def _projection_read(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    return sorted(d.type.name for d in side_data(frame) if d.type.name in ("SPHERICAL", "STEREO3D"))


@pytest.fixture(scope="module")
def spherical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = _spherical_mp4(tmp_path_factory.mktemp("vr") / "pano.mp4")
    assert _projection_read(path) == ["SPHERICAL", "STEREO3D"]  # FFmpeg reads the fixture as a camera's file
    return path


@pytest.mark.parametrize(("suffix", "segments"), [(".mp4", "off"), (".mov", "off"), (".mp4", "4")])
def test_a_360_degree_video_keeps_its_projection(tmp_path: Path, nearest: Path, spherical: Path, suffix: str,
                                                 segments: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"out{suffix}"
    code, said = upscale_cli(spherical, out, nearest, capsys, "--segments", segments)
    assert code == 0, said
    assert "projection boxes (sv3d, st3d) are kept" in said
    assert "equirectangular panorama: each frame is upscaled wrapped around from left to right" in said
    assert segments == "off" or "2 segments" in said
    boxes = projection_boxes(out)
    assert boxes is not None and boxes.entry == ST3D + SV3D and boxes.track == V1
    assert _projection_read(out) == ["SPHERICAL", "STEREO3D"]
    with av.open(str(out)) as c:
        assert c.streams.video[0].width == 128 and len(list(c.decode(video=0))) == 8


def test_a_format_without_the_boxes_says_the_projection_is_lost(tmp_path: Path, nearest: Path, spherical: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, said = upscale_cli(spherical, tmp_path / "out.mkv", nearest, capsys)
    assert code == 0, said
    assert "projection is not carried into a .mkv file: an .mp4 or .mov output keeps it" in said


def test_an_input_without_a_projection_is_left_fast_start(tmp_path: Path, nearest: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "flat.mp4"
    with av.open(str(_spherical_mp4(tmp_path / "pano.mp4"))) as c, av.open(str(src), "w") as out:
        stream = out.add_stream_from_template(c.streams.video[0])  # the same pictures, no boxes
        for packet in c.demux(c.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    assert _projection_read(src) == []
    code, said = upscale_cli(src, tmp_path / "out.mp4", nearest, capsys)
    assert code == 0 and "projection" not in said, said
    head = (tmp_path / "out.mp4").read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")


def test_two_eyes_side_by_side_are_not_wrapped_as_one_panorama(tmp_path: Path, nearest: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A stereo panorama with the eyes side by side (``st3d`` left-right) has each eye's edges meet,
    not the frame's: it is not wrapped around whole (its boxes are still kept)."""
    src = _spherical_mp4(tmp_path / "vr180.mp4", st3d=_full(b"st3d", bytes([2])))
    code, said = upscale_cli(src, tmp_path / "out.mp4", nearest, capsys)
    assert code == 0 and "projection boxes (sv3d, st3d) are kept" in said, said
    assert "wrapped around" not in said
