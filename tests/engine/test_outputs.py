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
