"""Probing inputs: videos, images, folders, and the bad ones."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from srstream.engine.media import probe
from srstream.errors import InputError
from tests.conftest import SAMPLE_CLIP, write_video


def test_video_is_probed(tiny_video: Path) -> None:
    info = probe(tiny_video)
    assert (info.kind, info.width, info.height) == ("video", 64, 48)
    assert info.rate == 30 and info.audio_streams == 0


def test_bundled_sample_clip_has_video_and_audio() -> None:
    info = probe(SAMPLE_CLIP)
    assert (info.kind, info.width, info.height, info.frames) == ("video", 640, 360, 122)
    assert info.audio_streams == 1


def test_a_video_without_a_declared_frame_count_is_counted_from_its_duration(tmp_path: Path) -> None:
    declared = probe(write_video(tmp_path / "a.mp4", frames=30))
    assert declared.frames == declared.approx_frames == 30 and declared.seconds == pytest.approx(1.0, abs=0.05)
    matroska = probe(write_video(tmp_path / "a.mkv", frames=30))  # Matroska does not declare one
    assert matroska.frames == 0 and abs(matroska.approx_frames - 30) <= 1


def test_video_with_audio(tmp_path: Path) -> None:
    info = probe(write_video(tmp_path / "a.mp4", audio=True))
    assert info.audio_streams == 1


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".bmp", ".tiff"])
def test_images_are_probed(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"img{suffix}"
    assert cv2.imwrite(str(path), np.zeros((7, 9, 3), np.uint8))
    info = probe(path)
    assert (info.kind, info.width, info.height) == ("image", 9, 7)


def test_folder_counts_images(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    info = probe(tmp_path)
    assert (info.kind, info.frames) == ("folder", 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "does not exist"),
        (lambda d: _write(d / "notes.mp4", b"this is not a video"), "not a video or image"),
        (lambda d: _write(d / "empty.mp4", b""), "not a video or image"),
        (lambda d: _write(d / "broken.png", b"\x89PNG\r\n\x1a\n garbage"), "not a readable image"),
        (lambda d: _write(d / "empty.jpg", b""), "not a readable image"),
        (lambda d: (d / "emptydir").mkdir() or d / "emptydir", "has no images"),
    ],
)
def test_bad_inputs_raise_input_error(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(InputError, match=message):
        probe(make(tmp_path))


def test_truncated_video_raises_or_probes_honestly(tmp_path: Path) -> None:
    """Cutting a file mid-way loses its index (moov at the end): probing must fail clearly, saying so (as a
    recording that stopped before its end has no index either)."""
    whole = write_video(tmp_path / "whole.mp4", frames=10).read_bytes()
    cut = _write(tmp_path / "cut.mp4", whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"cut\.mp4 is an MP4/MOV recording that was never finished: its index"):
        probe(cut)


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    import av

    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        probe(path)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_side_data_is_read_the_same_from_every_pyav_version() -> None:
    """PyAV 19 iterates a frame's side data as a mapping, over its types (``Type`` members), where 18
    iterated the side data itself: ``d.type.name`` then failed on every video (118 tests failed on
    Python 3.12, where pip installed PyAV 19 until pyproject capped it). Both are read by position; a
    decoder's stream-wide side data (PyAV 19 keeps HDR10's content light level there) comes by name.
    PyAV 19's length counts the types, not the entries: read up to ``len``, a frame whose first type
    came twice (x265 writes two unregistered SEIs) lost its last entry, an HDR10+ clip's metadata."""
    from types import SimpleNamespace

    from av.sidedata.sidedata import Type

    from srstream.engine.av_errors import side_data, stream_side_data

    values = [SimpleNamespace(type=t) for t in (Type.SEI_UNREGISTERED, Type.SEI_UNREGISTERED,
                                                Type.MASTERING_DISPLAY_METADATA, Type.DYNAMIC_HDR_PLUS)]

    class Mapping19:  # iterates (and counts) the types; values by type or position
        def __len__(self) -> int:
            return len({v.type for v in values})

        def __iter__(self):  # noqa: ANN204
            return iter(dict.fromkeys(v.type for v in values))

        def __getitem__(self, key):  # noqa: ANN001, ANN204
            return values[key] if isinstance(key, int) else next(v for v in values if v.type == key)

    class Sequence18(Mapping19):  # iterates (and counts) the side data itself
        def __len__(self) -> int:
            return len(values)

        def __iter__(self):  # noqa: ANN204
            return iter(values)

    for container in (Mapping19(), Sequence18()):
        found = side_data(SimpleNamespace(side_data=container))
        assert [d.type.name for d in found] == ["SEI_UNREGISTERED", "SEI_UNREGISTERED", "MASTERING_DISPLAY_METADATA",
                                                "DYNAMIC_HDR_PLUS"]
    decoder = SimpleNamespace(decoded_side_data={Type.CONTENT_LIGHT_LEVEL: b"\3\350\1\220"})
    assert stream_side_data(decoder) == {"CONTENT_LIGHT_LEVEL": b"\3\350\1\220"}
    assert stream_side_data(SimpleNamespace()) == {}  # PyAV 18: none there
