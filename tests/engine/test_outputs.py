"""Output naming and the checks that keep inputs and existing files safe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from srstream.engine.outputs import check_output, default_output
from srstream.errors import OutputError


def test_default_names() -> None:
    assert default_output(Path("a/clip.mp4"), 2, "video") == Path("a/clip_x2.mp4")
    assert default_output(Path("shot.png"), 4, "image") == Path("shot_x4.png")
    assert default_output(Path("a/shots"), 3, "folder") == Path("a/shots_x3")
    # formats FFmpeg reads but does not write: a DVD's VOB ("the output's extension is unknown (.vob)"
    # for an output the user never named), a camcorder's MOD, a raw stream
    for name in ("VTS_01_1.VOB", "tape.mod", "cam.h264"):
        assert default_output(Path(name), 2, "video") == Path(name).with_name(f"{Path(name).stem}_x2.mkv")


def test_a_dvd_vob_is_upscaled_into_matroska_alone_and_in_a_folder(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import av
    import numpy as np

    from srstream import cli
    from tests.onnx_models import write_conv_net

    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    disc = tmp_path / "disc"
    disc.mkdir()
    with av.open(str(disc / "VTS_01_1.VOB"), "w", format="vob") as out:  # MPEG-2 and MPEG audio, as a DVD holds
        video, audio = out.add_stream("mpeg2video", rate=25), out.add_stream("mp2", rate=48000)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio.layout = "stereo"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 2304), np.int16), format="s16", layout="stereo")
        sound.sample_rate, sound.pts = 48000, 0
        for packet in [*audio.encode(sound), *video.encode(None), *audio.encode(None)]:
            out.mux(packet)
    assert cli.main([str(disc), "-o", str(tmp_path / "out"), "--model", str(net)]) == 0, capsys.readouterr().err
    assert cli.main([str(disc / "VTS_01_1.VOB"), "--model", str(net)]) == 0, capsys.readouterr().err
    for made in (disc / "VTS_01_1_x2.mkv", tmp_path / "out" / "VTS_01_1.mkv"):
        with av.open(str(made)) as container:
            assert container.streams.video[0].codec_context.width == 128 and container.streams.audio


def test_input_is_never_the_output(tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"x")
    with pytest.raises(OutputError, match="is the input itself"):
        check_output(src, src, overwrite=True)
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    with pytest.raises(OutputError, match="is the input itself"):
        check_output(src, link, overwrite=True)


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    src.write_bytes(b"x")
    out.write_bytes(b"y")
    with pytest.raises(OutputError, match="--overwrite"):
        check_output(src, out, overwrite=False)
    check_output(src, out, overwrite=True)
    assert out.read_bytes() == b"y"  # checking never touches files


def test_missing_or_readonly_folder(tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    with pytest.raises(OutputError, match="does not exist"):
        check_output(src, tmp_path / "nope" / "out.mp4", overwrite=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): permission checks are moot")
        with pytest.raises(OutputError, match="not writable"):
            check_output(src, locked / "out.mp4", overwrite=False)
    finally:
        locked.chmod(0o700)


def test_unwritable_folder_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same check as above, where the OS would refuse (simulated for root)."""
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    monkeypatch.setattr("srstream.engine.outputs.os.access", lambda path, mode: False)
    with pytest.raises(OutputError, match="not writable"):
        check_output(src, tmp_path / "out.mp4", overwrite=False)


def test_a_lock_from_another_machine_is_not_taken_over(tmp_path: Path) -> None:
    """On a shared folder the other run's process cannot be checked: refuse, and say which file to
    delete if that run is gone."""
    import json
    import socket

    from srstream.atomic import PendingOutput

    target = tmp_path / "out.mp4"
    lock = tmp_path / ".out.mp4.lock"
    lock.write_text(json.dumps({"pid": 1, "host": "render-node-7", "started": "yesterday"}))
    with pytest.raises(OutputError, match=f"on render-node-7 .*delete {lock}"):
        PendingOutput(target)
    lock.write_text(json.dumps({"pid": 2 ** 22 + 7, "host": socket.gethostname()}))  # no such process here
    with PendingOutput(target) as pending:  # taken over
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        pending.discard()
    assert not lock.exists()
