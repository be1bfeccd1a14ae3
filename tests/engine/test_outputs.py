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


def test_names_made_from_a_long_name_are_cut_to_fit_the_folder(tmp_path: Path) -> None:
    """A file system takes 255 bytes in a name. A video downloaded under its title reaches that
    (CJK characters take 3 bytes each): its default output, and the files beside an output that
    fits (lock, temporary file, kept part, job folder), were named longer and could not be made."""
    from srstream.atomic import PendingOutput, fitting_name, interrupted_path, temporary_beside
    from srstream.engine.jobs import job_folder
    from srstream.engine.sequence import listing_for

    def size(name: str) -> int:
        return len(os.fsencode(name))

    assert fitting_name(tmp_path, ".", "clip.mp4", ".lock") == ".clip.mp4.lock"  # a short name as it was
    title = "非" * 83  # 249 bytes
    made = fitting_name(tmp_path, "", title, "_x2.mp4")
    assert size(made) <= 255 and made.endswith("_x2.mp4") and "~" in made
    assert made == fitting_name(tmp_path, "", title, "_x2.mp4")  # the same name every time (a lock is found by it)
    assert made != fitting_name(tmp_path, "", title[:-1] + "是", "_x2.mp4")  # two titles cut alike still differ
    assert made.startswith("非" * 10)  # cut between characters, not inside one
    with pytest.raises(OutputError, match="shorter -o name"):
        fitting_name(tmp_path, "", "clip", "." + "x" * 252)

    source = tmp_path / f"{title}.mp4"  # 253 bytes: it exists, so a name this long fits here
    source.write_bytes(b"")
    for kind in ("video", "image"):
        out = default_output(source, 2, kind)
        out.write_bytes(b"")
        # an image whose name does not end as an image format's is written as PNG
        assert size(out.name) <= 255 and out.suffix == (".mp4" if kind == "video" else ".png")
    folder = tmp_path / ("d" * 254)
    folder.mkdir()
    assert size(default_output(folder, 4, "folder").name) <= 255
    from srstream.engine.folders import video_targets

    real_media = tmp_path / ("r" * 252 + ".rm")  # a folder run's RealMedia video is written as .mkv: 1 byte more
    [(_, into)] = video_targets(tmp_path, tmp_path / "out", [real_media])
    assert size(into.name) <= 255 and into.suffix == ".mkv" and into.parent == tmp_path / "out"

    target = tmp_path / ("v" * 251 + ".mp4")  # 255 bytes: the longest name there is
    for path in (job_folder(target), listing_for(target), interrupted_path(target), temporary_beside(target)):
        assert size(path.name) <= 255 and path.parent == tmp_path
        path.touch()
    with PendingOutput(target) as pending:
        pending.tmp.write_bytes(b"video")
        pending.commit()
    assert target.read_bytes() == b"video" and not pending.lock.exists()
    with PendingOutput(target) as pending:
        kept = pending.keep_partial()
    assert kept.exists() and size(kept.name) <= 255 and kept.name != interrupted_path(target).name


def test_a_dead_runs_temporary_file_with_a_cut_name_is_removed(tmp_path: Path) -> None:
    """The dead run's temporary file is found by how such names start, cut alike."""
    import json
    import socket

    from srstream.atomic import PendingOutput

    target = tmp_path / ("w" * 251 + ".mkv")
    first = PendingOutput(target)  # a run killed with its lock and temporary file left behind
    stale = first.tmp
    assert stale.exists() and json.loads(first.lock.read_text())["tmp"] == str(stale)
    first.lock.write_text(json.dumps({"pid": 2 ** 22 + 7, "host": socket.gethostname(), "tmp": str(stale)}))
    with PendingOutput(target) as pending:
        assert not stale.exists() and pending.tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_image_too_large_for_its_format_is_caught_before_any_work(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A 4200x600 WebP panorama at x4 was upscaled for three minutes (2-core first-generation Zen)
    and then failed with "cannot encode out.webp as .webp": WebP holds 16383 pixels a side. An
    explicit -o that cannot hold the result is now refused at once, saying why; the default
    output of such an image is PNG; a folder run lists it and goes on."""
    import cv2
    import numpy as np

    from srstream import cli
    from srstream.engine.api import plan_file
    from srstream.engine.outputs import tagged_size
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    model = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    wide = tmp_path / "wide.webp"
    assert cv2.imwrite(str(wide), np.full((4, 8200, 3), 90, np.uint8))  # 16400 pixels wide at x2
    assert cv2.imwrite(str(tmp_path / "small.webp"), np.full((4, 8, 3), 90, np.uint8))
    assert plan_file(wide, scale=2).output == tmp_path / "wide_x2.png"
    assert plan_file(tmp_path / "small.webp", scale=2).output == tmp_path / "small_x2.webp"
    code = cli.main([str(wide), "-o", str(tmp_path / "out.webp"), "--model", str(model)])
    err = capsys.readouterr().err
    assert code == 4 and "16400x8, and WEBP holds at most 16383 pixels a side; write .png" in err, err
    assert cli.main([str(wide), "--model", str(model)]) == 0, capsys.readouterr().err
    assert cv2.imread(str(tmp_path / "wide_x2.png")).shape == (8, 16400, 3)
    shots = tmp_path / "shots"
    shots.mkdir()
    wide.rename(shots / "wide.webp")
    (tmp_path / "small.webp").rename(shots / "small.webp")
    code = cli.main([str(shots), "-o", str(tmp_path / "out"), "--model", str(model)])
    out, err = capsys.readouterr()
    assert code == 3 and "1 of 2 images" in out and "WEBP holds at most 16383" in err, out + err
    assert tagged_size(2, 3, 5) == (6, 10) and tagged_size("x1.5", 100, 50) == (150, 76)
    assert tagged_size("1080p", 1280, 720) == (1920, 1080) and tagged_size("x4", 3, 2) == (12, 8)


def test_images_are_timed_once_at_one_size_and_videos_at_their_own(tmp_path: Path) -> None:
    """``auto`` timed each image at its own size: four candidates, at least four rounds, for a large
    photo many times its one upscale, and again for each new size (the 4200x600 panorama:
    about 2.7 minutes of its 3). Images now share the default timing size; a video keeps its own."""
    import cv2
    import numpy as np

    from srstream.commands.upscale import _timing_size
    from srstream.engine.api import plan_file
    from tests.conftest import write_video

    assert cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((30, 50, 3), np.uint8))
    assert _timing_size(plan_file(tmp_path / "photo.png", scale=2)) is None
    assert _timing_size(plan_file(write_video(tmp_path / "clip.mp4"), scale=2)) == (64, 48)


def test_a_folder_run_named_like_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder run's ``-o`` named like an image is refused (it made a folder of that name), and one
    named like a video where the folder holds videos too; a folder that exists under such a name is
    still written into. (A folder of images alone with ``-o out.mp4`` is upscaled into that video:
    tests/engine/test_sequence.py.)"""
    import cv2
    import numpy as np

    from srstream import cli
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2
    from tests.conftest import write_video

    model = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        assert cv2.imwrite(str(frames / f"f_{i:04d}.png"), np.full((4, 6, 3), 60 * i, np.uint8))
    code = cli.main([f"{frames}/*.png", "-o", str(tmp_path / "out.png"), "--model", str(model)])
    assert code == 2 and "name a folder with -o" in capsys.readouterr().err
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    assert cv2.imwrite(str(mixed / "a.png"), np.zeros((4, 6, 3), np.uint8))
    write_video(mixed / "clip.mp4")
    code = cli.main([str(mixed), "-o", str(tmp_path / "out.mp4"), "--model", str(model)])
    assert code == 2 and "name a folder with -o" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()
    (tmp_path / "made.mp4").mkdir()
    assert cli.main([str(frames), "-o", str(tmp_path / "made.mp4"), "--model", str(model)]) == 0
    assert len(list((tmp_path / "made.mp4").glob("*.png"))) == 3


def test_an_image_job_refuses_an_existing_output_and_a_folder(tmp_path: Path) -> None:
    """An image's job is checked as a file's, never as a folder run's (whose output folder may exist);
    an existing folder as -o takes the image under its default name, but one named like an image is
    taken for a mistake."""
    import cv2
    import numpy as np

    from srstream.engine.api import plan_file

    assert cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
    assert cv2.imwrite(str(tmp_path / "a_x2.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(OutputError, match="--overwrite"):
        plan_file(tmp_path / "a.png", scale=2)
    assert plan_file(tmp_path / "a.png", scale=2, overwrite=True).output == tmp_path / "a_x2.png"
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        plan_file(tmp_path / "a.png", tmp_path / "dir.png", scale=2, overwrite=True)
    (tmp_path / "out").mkdir()
    assert plan_file(tmp_path / "a.png", tmp_path / "out", scale=2).output == tmp_path / "out" / "a_x2.png"
    (tmp_path / "out" / "a_x2.png").mkdir()  # the default name there taken by a folder
    with pytest.raises(OutputError, match="is a folder"):
        plan_file(tmp_path / "a.png", tmp_path / "out", scale=2, overwrite=True)
