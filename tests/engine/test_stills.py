"""Images, folders and globs through the CLI: format, bit depth, channels kept; failures reported."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from srstream import cli
from srstream.engine.stills import BATCH_RECORD
from tests.onnx_models import write_conv_net


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)


@pytest.mark.parametrize(("name", "image"), [
    ("grey8.png", np.arange(35, dtype=np.uint8).reshape(5, 7)),
    ("rgb16.png", (np.arange(5 * 7 * 3).reshape(5, 7, 3) * 600).astype(np.uint16)),
    ("rgba.png", np.dstack([np.full((6, 4, 3), 90, np.uint8), np.linspace(0, 255, 24).reshape(6, 4).astype(np.uint8)])),
    ("photo.jpg", np.full((9, 11, 3), 120, np.uint8)),
    ("one.bmp", np.full((1, 1, 3), 200, np.uint8)),
    ("grey16.tiff", (np.arange(12).reshape(3, 4) * 5000).astype(np.uint16)),
    ("pic.webp", np.full((8, 8, 3), 60, np.uint8)),
])
def test_images_keep_format_depth_and_channels(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                                               name: str, image: np.ndarray) -> None:
    src = tmp_path / name
    assert cv2.imwrite(str(src), image)
    stored = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
    # the backend the expectation below uses (auto may take another one, a level apart, on some CPUs)
    code, out, err = run([str(src), "--model", str(model), "--backend", "ort", "--precision", "fp32"], capsys)
    assert code == 0, err
    result = cv2.imread(str(tmp_path / f"{src.stem}_x2{src.suffix}"), cv2.IMREAD_UNCHANGED)
    assert result.dtype == stored.dtype and result.ndim == stored.ndim
    assert result.shape[:2] == (stored.shape[0] * 2, stored.shape[1] * 2)
    if stored.ndim == 3:
        assert result.shape[2] == stored.shape[2]
    # the file holds the upscaled picture itself (not just something of the right shape): the
    # engine's own upscale of the stored image, exactly for lossless formats
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.stills import read_still
    from srstream.engine.upscaler import FrameUpscaler

    spec = read_onnx_spec(model)
    expected = FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0).upscale(read_still(src))
    written = read_still(tmp_path / f"{src.stem}_x2{src.suffix}")
    assert written.shape == expected.shape
    diff = np.abs(written.astype(np.int64) - expected.astype(np.int64))
    top = 65535 if expected.dtype == np.uint16 else 255
    assert expected.std() > 0 or expected.max() > 0  # a real picture, not a blank one
    if name.endswith((".png", ".tiff", ".bmp")):
        assert diff.max() == 0
    else:  # JPEG / lossy WebP re-encode it (chroma subsampled): the luma is close
        weights = np.array([0.299, 0.587, 0.114])
        luma = np.abs(written[..., :3].astype(float) @ weights - expected[..., :3].astype(float) @ weights)
        assert luma.mean() <= 0.02 * top, luma.mean()


def test_folder_goes_on_past_a_bad_image_and_fails_at_the_end(tmp_path: Path, model: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((6, 8, 3), 40 * i, np.uint8))
    (folder / "bad.png").write_bytes(b"\x89PNG not really")
    (folder / "._0.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
    code, out, err = run([str(folder), "--model", str(model)], capsys)
    assert code == 3 and "3 of 4 images" in out and "bad.png" in err
    assert "._0.png" not in err and "note:" not in err  # a Mac's AppleDouble file is not a picture that failed
    assert sorted(p.name for p in (tmp_path / "shots_x2").iterdir()) == [BATCH_RECORD, "0.png", "1.png", "2.png"]


def _stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir() if p.suffix == ".png"}


def test_a_folder_run_run_again_continues_with_what_is_left(tmp_path: Path, model: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """After a failed image (or Ctrl-C, or a crash) the same command does only what is missing,
    and never touches the images already written."""
    folder, out_dir = tmp_path / "shots", tmp_path / "shots_x2"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((6, 8, 3), 40 * i, np.uint8))
    (folder / "late.png").write_bytes(b"\x89PNG not yet")
    argv = [str(folder), "--model", str(model), "--backend", "ort", "--precision", "fp32"]
    assert run(argv, capsys)[0] == 3
    first = _stamps(out_dir)
    assert sorted(first) == ["0.png", "1.png", "2.png"]
    cv2.imwrite(str(folder / "late.png"), np.full((6, 8, 3), 77, np.uint8))  # the user mends the bad one

    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "1 of 4 images upscaled" in out and "3 skipped" in out
    again = _stamps(out_dir)
    assert {k: again[k] for k in first} == first and "late.png" in again
    assert run([str(folder / "late.png"), *argv[1:], "-o", str(tmp_path / "alone.png")], capsys)[0] == 0
    assert (out_dir / "late.png").read_bytes() == (tmp_path / "alone.png").read_bytes()  # the mended image, upscaled

    code, out, _ = run(argv, capsys)  # nothing left: a no-op, not an error
    assert code == 0 and "0 of 4 images upscaled" in out and "4 skipped" in out and _stamps(out_dir) == again


def test_a_full_disk_in_a_folder_run_says_the_images_done_stay(tmp_path: Path, model: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk filling up at a folder's third image said only that it could not be written: the two
    before it stay, and the same command upscales only those left; now it says so."""
    import errno

    import srstream.engine.stills as stills

    folder, out_dir = tmp_path / "shots", tmp_path / "shots_x2"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((6, 8, 3), 40 * i, np.uint8))
    real = stills.write_still

    def fills_at_the_third(path: Path, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        if len(list(out_dir.glob("*.png"))) == 2:
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError as exc:
                raise stills.OutputError(f"cannot write {path}: {exc.strerror}; check the folder and free space") \
                    from exc
        real(path, *args, **kwargs)

    argv = [str(folder), "--model", str(model), "--backend", "ort", "--precision", "fp32"]
    monkeypatch.setattr(stills, "write_still", fills_at_the_third)
    code, _, err = run(argv, capsys)
    assert code != 0 and "the 2 images done before it stay in" in err and "only those left" in err, err
    monkeypatch.setattr(stills, "write_still", real)
    code, out, err = run(argv, capsys)
    assert code == 0 and "2 of 4 images upscaled" in out and "2 skipped" in out, out + err


def test_a_folder_run_with_other_settings_is_refused_unless_overwrite(tmp_path: Path, model: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder, out_dir = tmp_path / "shots", tmp_path / "out"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((6, 8, 3), 50 * i, np.uint8))
    pinned = ["--backend", "ort", "--precision", "fp32"]  # so that only the model differs between runs
    assert run([str(folder), "-o", str(out_dir), "--model", str(model), *pinned], capsys)[0] == 0
    before = _stamps(out_dir)
    other = write_conv_net(tmp_path / "other.onnx", 2, convs=1, features=4)

    code, _, err = run([str(folder), "-o", str(out_dir), "--model", str(other), *pinned], capsys)
    assert code == 2 and "other settings" in err and "graph_sha256" in err and "--overwrite" in err
    assert _stamps(out_dir) == before

    # an --overwrite run that does not finish (here: an image it cannot read) leaves an old image behind;
    # continuing it redoes that one too, not only the missing ones
    good = (folder / "1.png").read_bytes()
    (folder / "1.png").write_bytes(b"\x89PNG broken for a while")
    code, out, err = run([str(folder), "-o", str(out_dir), "--model", str(other), "--overwrite", *pinned], capsys)
    assert code == 3 and "1 of 2 images upscaled" in out, err
    redone = _stamps(out_dir)
    assert redone["0.png"] != before["0.png"] and redone["1.png"] == before["1.png"]
    (folder / "1.png").write_bytes(good)
    code, out, err = run([str(folder), "-o", str(out_dir), "--model", str(other), *pinned], capsys)
    assert code == 0 and "1 of 2 images upscaled" in out and "1 skipped" in out, err
    assert _stamps(out_dir)["0.png"] == redone["0.png"] and _stamps(out_dir)["1.png"] != before["1.png"]
    # the record now names the new model: the new settings continue, the old ones are refused
    assert run([str(folder), "-o", str(out_dir), "--model", str(other), *pinned], capsys)[0] == 0
    assert run([str(folder), "-o", str(out_dir), "--model", str(model), *pinned], capsys)[0] == 2

    (out_dir / BATCH_RECORD).write_text("{not json")
    code, _, err = run([str(folder), "-o", str(out_dir), "--model", str(other), *pinned], capsys)
    assert code == 2 and "cannot be read" in err


def test_a_folder_run_takes_an_empty_folder_but_not_one_it_did_not_write(tmp_path: Path, model: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((6, 8, 3), 9, np.uint8))
    (tmp_path / "empty").mkdir()
    assert run([str(folder), "-o", str(tmp_path / "empty"), "--model", str(model)], capsys)[0] == 0
    assert (tmp_path / "empty" / "a.png").is_file()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "a.png").write_bytes(b"someone else's")
    code, _, err = run([str(folder), "-o", str(theirs), "--model", str(model)], capsys)
    assert code == 4 and "already exists" in err and (theirs / "a.png").read_bytes() == b"someone else's"


def test_glob_input(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"a{i}.png"), np.full((4, 4, 3), 10, np.uint8))
    cv2.imwrite(str(folder / "b.jpg"), np.full((4, 4, 3), 10, np.uint8))
    code, out, _ = run([str(folder / "a*.png"), "--model", str(model), "-o", str(tmp_path / "out")], capsys)
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == [BATCH_RECORD, "a0.png", "a1.png"]


def _av_still(path: Path, codec: str, pix_fmt: str, image: np.ndarray, source_format: str) -> Path:
    """``image`` written by FFmpeg's ``codec`` encoder as the one picture of an image file."""
    from fractions import Fraction

    import av

    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = image.shape[1], image.shape[0], pix_fmt
    encoder.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(image, format=source_format).reformat(format=pix_fmt)
    path.write_bytes(b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)]))
    return path


@pytest.mark.parametrize(("name", "codec", "pix_fmt", "image", "source_format"), [
    ("scan.ppm", "ppm", "rgb24", np.random.default_rng(1).integers(0, 256, (6, 5, 3), np.uint8), "rgb24"),
    ("deep.pgm", "pgm", "gray16be", (np.arange(30).reshape(6, 5) * 2000).astype(np.uint16), "gray16le"),
    ("sprite.tga", "targa", "bgra", np.dstack([np.full((6, 5, 3), 80, np.uint8),
                                                np.linspace(0, 255, 30).reshape(6, 5).astype(np.uint8)]), "rgba"),
    ("frame.qoi", "qoi", "rgb24", np.random.default_rng(2).integers(0, 256, (6, 5, 3), np.uint8), "rgb24"),
])
def test_stills_ffmpeg_reads_come_out_as_png(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                                             name: str, codec: str, pix_fmt: str, image: np.ndarray,
                                             source_format: str) -> None:
    """A netpbm scan, a TGA sprite, a QOI frame (and JPEG 2000, DDS textures, DPX scans, ...): FFmpeg
    reads each as a video of one frame, and each came out as a one-frame .mkv video. They are images
    now, read as stored (grey, 16-bit, alpha) and written as PNG, which holds all of that; a folder
    run of them too; a floating-point (HDR) image is refused with what to do."""
    from srstream.engine.stills import read_still

    src = _av_still(tmp_path / name, codec, pix_fmt, image, source_format)
    stored = read_still(src)
    assert np.array_equal(stored, image.reshape(stored.shape))  # read as written: its depth, channels, alpha
    code, _, err = run([str(src), "--model", str(model), "--backend", "ort", "--precision", "fp32"], capsys)
    assert code == 0, err
    written = read_still(tmp_path / f"{src.stem}_x2.png")
    assert written.dtype == stored.dtype and written.shape == (12, 10, stored.shape[2])
    assert not list(tmp_path.glob("*.mkv"))
    folder = tmp_path / "textures"
    folder.mkdir()
    src.rename(folder / name)
    code, _, err = run([str(folder), "--model", str(model)], capsys)
    assert code == 0 and (tmp_path / "textures_x2" / f"{src.stem}.png").is_file(), err
    (tmp_path / "sky.hdr").write_bytes(b"#?RADIANCE\n")
    code, _, err = run([str(tmp_path / "sky.hdr"), "--model", str(model)], capsys)
    assert code == 3 and "floating-point (HDR) image" in err and not list(tmp_path.glob("sky_x2*"))


def test_a_folder_with_a_still_written_as_png_beside_a_png_of_its_name_says_rename(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``scan.ppm`` beside ``scan.png`` would both be ``scan.png``: the run was refused with "upscale the
    folders one at a time", which they already were."""
    import cv2

    folder = tmp_path / "scans"
    folder.mkdir()
    _av_still(folder / "scan.ppm", "ppm", "rgb24", np.full((6, 5, 3), 90, np.uint8), "rgb24")
    cv2.imwrite(str(folder / "scan.png"), np.full((6, 5, 3), 30, np.uint8))
    code, _, err = run([str(folder), "-o", str(tmp_path / "out"), "--model", str(model)], capsys)
    assert code == 4 and "(a .ppm is written as .png)" in err and "rename one of them" in err, err
    assert not (tmp_path / "out").exists()


def _icon(path: Path, pictures: list[tuple[np.ndarray, str]]) -> Path:
    """A Windows icon holding ``pictures`` (RGB(A) arrays, each stored as Pillow stores it in ``"png"`` or
    ``"bmp"`` form; a 3-channel one through a 256-colour palette) in the order given."""
    import io
    import struct

    from PIL import Image

    entries, data = [], []
    for pixels, form in pictures:
        picture = Image.fromarray(pixels)
        stored = io.BytesIO()
        (picture.convert("P") if pixels.shape[2] == 3 else picture).save(stored, "ICO", sizes=[picture.size],
                                                                         bitmap_format=form)
        icon = stored.getvalue()
        size, at = struct.unpack("<II", icon[14:22])
        entries.append(icon[6:14])
        data.append(icon[at:at + size])
    at = 6 + 16 * len(pictures)
    directory = b""
    for entry, picture in zip(entries, data, strict=True):
        directory += entry + struct.pack("<II", len(picture), at)
        at += len(picture)
    path.write_bytes(struct.pack("<HHH", 0, 1, len(pictures)) + directory + b"".join(data))
    return path


def test_an_icon_is_upscaled_from_its_largest_picture(tmp_path: Path, model: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """An .ico holds one picture per size, the smallest first, and FFmpeg reads each as a stream of its
    own: a 48x48 icon was upscaled from its 16x16 picture (into a 32x32 PNG). The largest is read, and of
    two of that size, the one of more colours (a true-colour picture, not its 256-colour fallback)."""
    from srstream.engine.stills import read_still

    rng = np.random.default_rng(5)
    big = np.dstack([rng.integers(0, 256, (48, 48, 3), np.uint8), np.full((48, 48, 1), 200, np.uint8)])
    small = big[::3, ::3].copy()
    src = _icon(tmp_path / "app.ico", [(small, "png"), (big[:32, :32, :3].copy(), "bmp"), (big, "png")])
    assert np.array_equal(read_still(src), big)
    code, _, err = run([str(src), "--model", str(model)], capsys)
    assert code == 0 and read_still(tmp_path / "app_x2.png").shape == (96, 96, 4), err
    fallback = big[:32, :32].copy()
    src = _icon(tmp_path / "two.ico", [(fallback[..., :3].copy(), "bmp"), (fallback, "bmp"), (small, "bmp")])
    assert np.array_equal(read_still(src), fallback)


def test_an_image_whose_name_does_not_say_is_still_an_image(tmp_path: Path, model: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A picture without an extension (a download named by its hash, a cache's file) or with another
    name of JPEG (.jfif, as browsers on Windows save them) came out as a one-frame .mkv video; it is an
    image, written as PNG (which holds whatever it was) or, for a JFIF, as .jpg."""
    picture = np.random.default_rng(3).integers(0, 256, (10, 12, 3), np.uint8)
    ok, data = cv2.imencode(".png", picture)
    (tmp_path / "a1b2c3").write_bytes(data.tobytes())
    ok, data = cv2.imencode(".jpg", picture)
    (tmp_path / "saved.jfif").write_bytes(data.tobytes())
    for name, out in (("a1b2c3", "a1b2c3_x2.png"), ("saved.jfif", "saved_x2.jpg")):
        code, _, err = run([str(tmp_path / name), "--model", str(model)], capsys)
        assert code == 0 and cv2.imread(str(tmp_path / out)).shape == (20, 24, 3), err
    animation = cv2.Animation()  # an animated WebP without its extension: still an animation, not its first frame
    animation.frames, animation.durations, animation.loop_count = [picture, picture[::-1]], [100, 100], 0
    ok, data = cv2.imencodeanimation(".webp", animation)
    (tmp_path / "sticker").write_bytes(data.tobytes())
    code, _, err = run([str(tmp_path / "sticker"), "--model", str(model)], capsys)
    ok, back = cv2.imdecodeanimation(np.fromfile(tmp_path / "sticker_x2.png", np.uint8))
    assert code == 0 and ok and len(back.frames) == 2, err
    assert not list(tmp_path.glob("*.mkv"))


def test_a_webp_upscale_is_lossy_where_its_source_was(tmp_path: Path, model: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A lossy WebP (most on the web, stickers) was written back lossless: 4-7 times the bytes, and an
    animation's encode took 40 times as long. It follows its source now: lossy (VP8) for a lossy
    WebP or a JPEG, lossless (VP8L) for a lossless one; stills and animations alike."""
    picture = cv2.GaussianBlur(np.random.default_rng(4).integers(0, 256, (24, 32, 3), np.uint8), (0, 0), 1.0)
    cases = {"lossy.webp": [cv2.IMWRITE_WEBP_QUALITY, 80], "lossless.webp": [], "photo.jpg": []}
    for name, params in cases.items():
        ok, data = cv2.imencode(Path(name).suffix, picture, params)
        (tmp_path / name).write_bytes(data.tobytes())
    animation = cv2.Animation()
    animation.frames, animation.durations, animation.loop_count = [picture, picture[::-1].copy()], [100, 100], 0
    ok, data = cv2.imencodeanimation(".webp", animation, [cv2.IMWRITE_WEBP_QUALITY, 80])
    (tmp_path / "sticker.webp").write_bytes(data.tobytes())
    for name, lossy in (("lossy.webp", True), ("lossless.webp", False), ("photo.jpg", True), ("sticker.webp", True)):
        out = tmp_path / f"{Path(name).stem}_out.webp"
        code, _, err = run([str(tmp_path / name), "-o", str(out), "--model", str(model)], capsys)
        assert code == 0, err
        head = out.read_bytes()[:4096]
        assert (b"VP8 " in head) == lossy and (b"VP8L" in head) != lossy, (name, head[:64])


def test_a_tileable_texture_comes_out_tiling_without_seams(tmp_path: Path, model: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    texture = np.random.default_rng(3).integers(0, 256, (12, 16, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "tex.png"), texture)
    cv2.imwrite(str(tmp_path / "grid.png"), np.tile(texture, (3, 3, 1)))
    for name in ("tex.png", "grid.png"):
        assert run([str(tmp_path / name), "--model", str(model)], capsys)[0] == 0
    code, _, err = run([str(tmp_path / "tex.png"), "--tileable", "-o", str(tmp_path / "t.png"), "--model", str(model)],
                       capsys)
    assert code == 0 and ", tileable" in err, err
    middle = cv2.imread(str(tmp_path / "grid_x2.png"))[24:48, 32:64]
    assert np.abs(cv2.imread(str(tmp_path / "t.png")).astype(int) - middle).max() <= 1
    assert np.abs(cv2.imread(str(tmp_path / "tex_x2.png")).astype(int) - middle).max() > 10
    code, _, err = run([str(tmp_path / "tex.png"), "--tileable", "--scale", "1.5", "--model", str(model)], capsys)
    assert code == 2 and "keeps the model's own factor" in err and not (tmp_path / "tex_x1.5.png").exists()
    code, _, err = run(["lavfi:testsrc", "--tileable", "--no-display", "--frames", "1", "--model", str(model)], capsys)
    assert code == 2 and "not live sources" in err


def test_ext_writes_a_folders_images_in_one_format_where_it_holds_them(tmp_path: Path, model: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``--ext`` (Real-ESRGAN's): a folder of PNG, JPEG and BMP pictures comes out as JPEGs; an
    animation that a JPEG cannot hold keeps its own format, named; a single image's default output
    takes it; and what it cannot mean is refused before any work."""
    from tests.conftest import write_video

    shots = tmp_path / "shots"
    shots.mkdir()
    rng = np.random.default_rng(5)
    for name in ("a.png", "b.jpg", "c.bmp"):
        cv2.imwrite(str(shots / name), rng.integers(0, 256, (6, 8, 3)).astype(np.uint8))
    frames = [np.dstack([rng.integers(0, 256, (6, 8, 3)), np.full((6, 8), 255)]).astype(np.uint8) for _ in range(2)]
    ok, data = cv2.imencodeanimation(".webp", _animation(frames, [40, 40], 0), [cv2.IMWRITE_WEBP_QUALITY, 101])
    (shots / "d.webp").write_bytes(data.tobytes())
    code, _, err = run([str(shots), "--ext", "JPG", "--model", str(model)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "shots_x2").iterdir() if not p.name.startswith(".")) == [
        "a.jpg", "b.jpg", "c.jpg", "d.webp"]
    assert "1 image kept their own format, which --ext jpg cannot hold" in err and "d.webp" in err
    assert cv2.imread(str(tmp_path / "shots_x2" / "a.jpg")).shape == (12, 16, 3)
    # the same folder into another format is another run's settings: refused, as other settings are
    code, _, err = run([str(shots), "--ext", "png", "--model", str(model)], capsys)
    assert code == 2 and "ext .jpg -> .png" in err
    # two inputs that one format would name alike
    cv2.imwrite(str(shots / "a.jpg"), np.zeros((6, 8, 3), np.uint8))
    code, _, err = run([str(shots), "--ext", "webp", "-o", str(tmp_path / "w"), "--model", str(model)], capsys)
    assert code == 4 and "(--ext webp); rename one, or drop --ext" in err
    code, _, err = run([str(shots / "a.png"), str(shots / "a.jpg"), "--ext", "webp", "-o", str(tmp_path / "w"),
                        "--model", str(model)], capsys)  # several inputs alike
    assert code == 4 and "(--ext webp); nothing was upscaled: rename one, or drop --ext" in err
    code, _, err = run([str(shots / "a.png"), "--ext", "webp", "--model", str(model)], capsys)
    assert code == 0 and (shots / "a_x2.webp").is_file()
    code, _, err = run([str(shots / "a.png"), "--ext", "webp", "-o", str(tmp_path / "x.png"), "--model", str(model)],
                       capsys)
    assert code == 2 and "name two formats" in err
    assert run([str(shots / "a.png"), "--ext", "gif", "--model", str(model)], capsys)[0] == 2
    clip = write_video(tmp_path / "clip.mp4", frames=2)
    code, _, err = run([str(clip), "--ext", "png", "--model", str(model)], capsys)
    assert code == 2 and "is a video" in err and not (tmp_path / "clip_x2.mp4").exists()


def test_transparency_written_as_jpeg_is_laid_on_white(tmp_path: Path, model: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A sticker's transparent pixels hide colours (here noise); JPEG's encoder dropped the alpha
    plane and bared them. They are laid on white now, with a note."""
    image = np.zeros((12, 16, 4), np.uint8)
    image[..., :3] = np.random.default_rng(2).integers(0, 256, (12, 16, 3))
    image[4:8, 4:12] = (200, 0, 0, 255)  # an opaque blue patch (BGRA)
    cv2.imwrite(str(tmp_path / "sticker.png"), image)
    code, _, err = run([str(tmp_path / "sticker.png"), "--ext", "jpg", "--model", str(model)], capsys)
    assert code == 0, err
    assert "JPEG holds no transparency; its transparent parts are laid on white" in caplog.text
    out = cv2.imread(str(tmp_path / "sticker_x2.jpg")).astype(int)
    assert run([str(tmp_path / "sticker.png"), "--model", str(model)], capsys)[0] == 0
    kept = cv2.imread(str(tmp_path / "sticker_x2.png"), cv2.IMREAD_UNCHANGED).astype(float)
    laid = kept[..., :3] * kept[..., 3:] / 255 + 255 * (1 - kept[..., 3:] / 255)
    assert np.abs(out[:4] - 255).max() <= 8 and np.abs(out - laid).mean() < 8  # the PNG's, on white (JPEG's loss)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_pngs_text_and_density_are_kept(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                                          caplog: pytest.LogCaptureFixture) -> None:
    """A Stable Diffusion or ComfyUI picture's generation parameters (PNG ``tEXt``/``iTXt``) and its
    pixel density (``pHYs``) were dropped: OpenCV reads and writes neither."""
    from srstream.engine.stills import png_chunks

    ok, png = cv2.imencode(".png", np.random.default_rng(6).integers(0, 256, (6, 8, 3)).astype(np.uint8))
    data = png.tobytes()
    kept = (_png_chunk(b"tEXt", b"parameters\0a cat, Steps: 20"),
            _png_chunk(b"iTXt", b"Title\0\0\0\0\0K\xc3\xa4tzchen"),
            _png_chunk(b"pHYs", bytes.fromhex("00000ec400000ec401")))
    at = data.index(b"IDAT") - 4
    (tmp_path / "sd.png").write_bytes(data[:at] + b"".join(kept) + data[at:])
    code, _, err = run([str(tmp_path / "sd.png"), "--model", str(model)], capsys)
    assert code == 0, err
    out = (tmp_path / "sd_x2.png").read_bytes()
    assert png_chunks(out) == kept and cv2.imread(str(tmp_path / "sd_x2.png")).shape == (12, 16, 3)
    code, _, err = run([str(tmp_path / "sd.png"), "--ext", "webp", "--model", str(model)], capsys)
    assert code == 0 and "PNG text (generation parameters" in caplog.text


def test_a_pngs_colour_chunks_are_kept_and_an_hdr_png_stays_hdr(tmp_path: Path, model: Path,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """How a PNG's values are to be read as colours (gamma and primaries; an HDR screenshot's cICP
    signal, PQ in BT.2020, with its mastering display and light levels) was dropped, OpenCV writing
    none of it: a 16-bit PQ picture came out to be shown as washed-out SDR. Each is kept once."""
    from srstream.engine.stills import png_chunks

    ok, png = cv2.imencode(".png", np.random.default_rng(7).integers(0, 65536, (6, 8, 3)).astype(np.uint16))
    data = png.tobytes()
    kept = (_png_chunk(b"gAMA", (45455).to_bytes(4, "big")),
            _png_chunk(b"cHRM", bytes(32)),
            _png_chunk(b"cICP", bytes([9, 16, 0, 1])),  # BT.2020 primaries, PQ, RGB, full range
            _png_chunk(b"cLLI", (10_000_000).to_bytes(4, "big") + (4_000_000).to_bytes(4, "big")))
    at = data.index(b"IDAT") - 4
    (tmp_path / "hdr.png").write_bytes(data[:at] + b"".join(kept) + data[at:])
    code, _, err = run([str(tmp_path / "hdr.png"), "--model", str(model)], capsys)
    assert code == 0, err
    out = (tmp_path / "hdr_x2.png").read_bytes()
    assert png_chunks(out) == kept and out.index(b"cICP") < out.index(b"IDAT")
    assert cv2.imread(str(tmp_path / "hdr_x2.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    code, _, err = run([str(tmp_path / "hdr.png"), "--ext", "jpg", "--model", str(model)], capsys)
    assert code == 0 and "the input is an HDR PNG (its cICP chunk says how to show it)" in caplog.text
    assert "PNG text" not in caplog.text


_XMP = b"http://ns.adobe.com/xap/1.0/\0"


def _app1(body: bytes) -> bytes:
    import struct

    return b"\xff\xe1" + struct.pack(">H", 2 + len(body)) + body


def _ultra_hdr(path: Path, kind: int = 0) -> bytes:
    """An Ultra HDR photo as an Android phone writes one: a 16x12 JPEG whose XMP names a gain map
    of so many bytes, an MPF index, and behind it the 8x6 grey gain map JPEG with its hdrgm XMP
    (``kind``: its MP type; 0x020002, a stereo camera's second eye). Returns the gain map's bytes."""
    from srstream.engine.mpf import _mpf_segment

    ok, grey = cv2.imencode(".jpg", np.tile(np.arange(8, dtype=np.uint8) * 30, (6, 1)))
    gain = grey.tobytes()[:20] + _app1(_XMP + b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
                                       b'hdrgm:Version="1.0" hdrgm:GainMapMax="2.0"/></rdf:RDF></x:xmpmeta>') \
        + grey.tobytes()[20:]
    ok, photo = cv2.imencode(".jpg", np.random.default_rng(8).integers(0, 256, (12, 16, 3)).astype(np.uint8))
    xmp = _app1(_XMP + b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description hdrgm:Version="1.0">'
                b'<Container:Directory><rdf:Seq><rdf:li><Container:Item Item:Semantic="Primary" Item:Mime='
                b'"image/jpeg"/></rdf:li><rdf:li><Container:Item Item:Semantic="GainMap" Item:Mime="image/jpeg" '
                b'Item:Length="%d"/></rdf:li></rdf:Seq></Container:Directory></rdf:Description></rdf:RDF>'
                b'</x:xmpmeta>' % len(gain))
    first = photo.tobytes()[:20] + xmp + photo.tobytes()[20:]  # after SOI and JFIF
    at = 20 + len(xmp)
    size = len(first) + len(_mpf_segment([0x20030000, kind], [len(gain)], 0, 0))
    path.write_bytes(first[:at] + _mpf_segment([0x20030000, kind], [len(gain)], size, at + 8) + first[at:] + gain)
    return gain


def _pictures(path: Path) -> list[bytes]:
    """The pictures of a Multi-Picture JPEG, as Pillow's reading of its MPF index places them."""
    from PIL import Image

    data = path.read_bytes()
    with Image.open(path) as image:
        entries, base = image._getmp()[0xB002], image.info["mpoffset"]
    return [data[0 if e["DataOffset"] == 0 else base + e["DataOffset"]:][:e["Size"]] for e in entries]


def test_an_ultra_hdr_photos_gain_map_is_scaled_with_it(tmp_path: Path, model: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """An Ultra HDR photo (every recent Android phone's) is a JPEG with its HDR gain map behind it,
    which OpenCV does not see: the output came out SDR, its XMP naming a gain map that was gone.
    Now the gain map comes out scaled as the picture was, with its own XMP, behind a new MPF index,
    and the length the picture's XMP gives it is its new one; another format says it shows as SDR."""
    gain = _ultra_hdr(tmp_path / "PXL_1.jpg")
    assert [len(p) for p in _pictures(tmp_path / "PXL_1.jpg")][1:] == [len(gain)]  # Pillow reads the fixture
    code, _, err = run([str(tmp_path / "PXL_1.jpg"), "--model", str(model)], capsys)
    assert code == 0, err
    out = tmp_path / "PXL_1_x2.jpg"
    first, second = _pictures(out)
    assert first + second == out.read_bytes()  # the gain map right behind the picture, nothing else
    assert cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_UNCHANGED).shape == (24, 32, 3)
    scaled = cv2.imdecode(np.frombuffer(second, np.uint8), cv2.IMREAD_UNCHANGED)
    assert scaled.shape == (12, 16) and abs(int(scaled[:, -1].mean()) - 210) < 12  # the ramp, twice the size
    assert b'hdrgm:GainMapMax="2.0"' in second and b'Item:Length="%d"' % len(second) in first
    code, _, err = run([str(tmp_path / "PXL_1.jpg"), "--ext", "png", "--model", str(model)], capsys)
    assert code == 0 and "an Ultra HDR photo's HDR) is carried into a .jpg output only" in caplog.text
    # a second eye: a view of its own, not scaled up blurred (test_a_stereo_mpos_second_eye_is_upscaled_too)
    preview = _ultra_hdr(tmp_path / "DSC_1.jpg", kind=0x010002)  # a camera's large preview: goes on as it is
    caplog.clear()
    code, _, err = run([str(tmp_path / "DSC_1.jpg"), "--model", str(model)], capsys)
    assert code == 0 and _pictures(tmp_path / "DSC_1_x2.jpg")[1] == preview
    code, _, err = run([str(tmp_path / "DSC_1.jpg"), "--ext", "png", "--model", str(model)], capsys)
    assert code == 0 and "gain map" not in caplog.text  # any viewer makes its own preview


def test_a_jpegs_iptc_block_and_comment_are_kept(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A photographer's IPTC caption, keywords and copyright (APP13) and a comment (COM) were dropped;
    OpenCV keeps a JPEG's EXIF, ICC and XMP only."""
    import struct

    from srstream.engine.stills import jpeg_segments

    ok, jpeg = cv2.imencode(".jpg", np.full((6, 8, 3), 90, np.uint8))
    iptc = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">I", 13) + b"\x1c\x02\x74\x00\x08Jane Doe\0"
    kept = (b"\xff\xed" + struct.pack(">H", len(iptc) + 2) + iptc, b"\xff\xfe\x00\x0e(c) Jane Doe")
    (tmp_path / "photo.jpg").write_bytes(jpeg.tobytes()[:2] + b"".join(kept) + jpeg.tobytes()[2:])
    code, _, err = run([str(tmp_path / "photo.jpg"), "--model", str(model)], capsys)
    assert code == 0, err
    assert jpeg_segments((tmp_path / "photo_x2.jpg").read_bytes()) == kept
    assert cv2.imread(str(tmp_path / "photo_x2.jpg")).shape == (12, 16, 3)
    assert "IPTC" not in caplog.text  # kept: nothing to say
    code, _, err = run([str(tmp_path / "photo.jpg"), "--ext", "png", "--model", str(model)], capsys)
    assert code == 0 and "IPTC block and comments (caption, keywords, copyright) are JPEG's own" in caplog.text


def test_a_picture_too_large_for_memory_is_refused_before_the_work(tmp_path: Path, model: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A 30000x30000 scan at x4 (40.2 GiB) ended in numpy's ``_ArrayMemoryError`` traceback."""
    import srstream.sysinfo

    cv2.imwrite(str(tmp_path / "scan.png"), np.zeros((20, 30, 3), np.uint8))
    monkeypatch.setattr(srstream.sysinfo, "total_memory", lambda: 30_000)  # 2 x 7200 bytes: within 75% of it
    code, _, err = run([str(tmp_path / "scan.png"), "-o", str(tmp_path / "ok.png"), "--model", str(model)], capsys)
    assert code == 0, err
    monkeypatch.setattr(srstream.sysinfo, "total_memory", lambda: 15_000)  # and not of this
    code, _, err = run([str(tmp_path / "scan.png"), "--model", str(model)], capsys)
    assert code == 3 and "scan.png is 30x20; upscaled x2 it would be 60x40: 0.0 GiB, and as much again" in err
    assert "Traceback" not in err and not (tmp_path / "scan_x2.png").exists()


def test_a_grey_tiff_with_alpha_keeps_its_alpha(tmp_path: Path, model: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """OpenCV reads a grey TIFF with an alpha plane (a scanned signature, a mask) as grey: the
    transparency was dropped without a word."""
    src = tmp_path / "signature.tif"
    with av.open(str(src), "w", format="image2", options={"update": "1"}) as c:
        stream = c.add_stream("tiff", rate=1)
        stream.width, stream.height, stream.pix_fmt = 8, 6, "ya8"
        plane = np.zeros((6, 8, 2), np.uint8)
        plane[..., 0], plane[2:4, 2:6, 1] = 90, 255
        frame = av.VideoFrame(8, 6, "ya8")
        frame.planes[0].update(plane.tobytes())
        for packet in [*stream.encode(frame), *stream.encode()]:
            c.mux(packet)
    assert cv2.imread(str(src), cv2.IMREAD_UNCHANGED).ndim == 2  # what OpenCV alone gives
    code, _, err = run([str(src), "--model", str(model)], capsys)
    assert code == 0, err
    out = cv2.imread(str(tmp_path / "signature_x2.tif"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (12, 16, 4) and out[..., 3].min() == 0 and out[5:7, 6:10, 3].min() > 200


def test_quality_sets_lossy_outputs_and_is_refused_where_nothing_is_lossy(tmp_path: Path, model: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import write_video

    image = cv2.resize(np.random.default_rng(7).integers(0, 256, (8, 8, 3)).astype(np.uint8), (48, 40))
    cv2.imwrite(str(tmp_path / "shot.png"), image)
    sizes = {}
    for quality in ("30", "95"):
        out = tmp_path / f"q{quality}.jpg"
        code, _, err = run([str(tmp_path / "shot.png"), "-o", str(out), "--quality", quality, "--model", str(model)],
                           capsys)
        assert code == 0, err
        sizes[quality] = out.stat().st_size
    assert sizes["30"] < 0.7 * sizes["95"]
    code, _, err = run([str(tmp_path / "shot.png"), "--ext", "webp", "--quality", "80", "--model", str(model)], capsys)
    assert code == 0 and b"VP8 " in (tmp_path / "shot_x2.webp").read_bytes()[:64]  # lossy, from a lossless PNG
    code, _, err = run([str(tmp_path / "shot.png"), "--quality", "80", "--model", str(model)], capsys)
    assert code == 2 and ".png is lossless: drop --quality" in err
    assert run([str(tmp_path / "shot.png"), "--quality", "101", "--model", str(model)], capsys)[0] == 2
    clip = write_video(tmp_path / "clip.mp4", frames=2)
    code, _, err = run([str(clip), "--quality", "80", "--model", str(model)], capsys)
    assert code == 2 and "--crf sets a video's quality" in err
    code, _, err = run([str(clip), "-o", str(tmp_path / "f" / "%03d.jpg"), "--quality", "30", "--model", str(model)],
                       capsys)
    assert code == 0 and (tmp_path / "f" / "001.jpg").is_file(), err


def test_a_jpeg_outputs_chroma_follows_its_source(tmp_path: Path, model: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """JPEG outputs were all 4:2:0: a PNG's colours (a screenshot's red text, line art) lost half
    their resolution. A JPEG source keeps its own subsampling; a lossless one gets 4:4:4."""
    from srstream.engine.stills import jpeg_sampling

    image = np.random.default_rng(8).integers(0, 256, (8, 10, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "shot.png"), image)
    cv2.imwrite(str(tmp_path / "photo.jpg"), image)  # OpenCV's default: 4:2:0
    full = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    cv2.imwrite(str(tmp_path / "fine.jpg"), image, full)
    assert [jpeg_sampling((tmp_path / n).read_bytes()) for n in ("photo.jpg", "fine.jpg")] == ["420", "444"]
    for name in ("shot.png", "photo.jpg", "fine.jpg"):
        assert run([str(tmp_path / name), "--ext", "jpg", "--model", str(model)], capsys)[0] == 0
    made = [jpeg_sampling((tmp_path / f"{n}_x2.jpg").read_bytes()) for n in ("shot", "photo", "fine")]
    assert made == ["444", "420", "444"]


def test_heic_outputs_without_pillow_heif_are_refused_before_the_work(tmp_path: Path, model: Path,
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The run upscaled the first image and then failed on writing it."""
    import sys

    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # not installed
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
    for argv in (["-o", str(tmp_path / "a.heic")], ["--ext", "heic", "-o", str(tmp_path / "out")]):
        code, _, err = run([str(tmp_path / "a.png"), *argv, "--model", str(model)], capsys)
        assert code != 0 and "HEIC/HEIF images need pillow-heif" in err and "convnet" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "net.onnx"]


def test_unsupported_sample_type_is_an_input_error(tmp_path: Path, model: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "float.tiff"
    assert cv2.imwrite(str(src), np.zeros((4, 4, 3), np.float32))
    code, _, err = run([str(src), "--model", str(model)], capsys)
    assert code == 3 and "not supported" in err and not (tmp_path / "float_x2.tiff").exists()


def _exif(orientation: int, order: str = "little") -> bytes:
    """A minimal EXIF block (TIFF layout): IFD0 with the orientation and a camera make."""
    tag = b"II*\0" if order == "little" else b"MM\0*"
    u16, u32 = (lambda v: v.to_bytes(2, order)), (lambda v: v.to_bytes(4, order))
    entries = u16(0x0112) + u16(3) + u32(1) + u16(orientation) + b"\0\0"
    entries += u16(0x010F) + u16(2) + u32(4) + b"Cam\0"
    return tag + u32(8) + u16(2) + entries + u32(0)


@pytest.mark.parametrize("order", ["little", "big"])
def test_exif_orientation_is_read_in_both_byte_orders(order: str) -> None:
    from srstream.engine.stills import exif_orientation

    assert [exif_orientation(_exif(o, order)) for o in range(1, 9)] == list(range(1, 9))
    assert exif_orientation(b"Exif\0\0" + _exif(6, order)) == 6
    assert exif_orientation(b"junk") == 1 and exif_orientation(_exif(6, order)[:12]) == 1


def test_a_phone_photo_keeps_its_exif_orientation_and_colour_profile(tmp_path: Path, model: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """EXIF (orientation 6: shown turned 90 degrees) and ICC travel to JPEG/PNG outputs as they are;
    a BMP cannot hold them, so its pixels are turned upright and it displays the same way."""
    from srstream.engine.stills import read_still, read_still_with_metadata, upright

    image_cms = pytest.importorskip("PIL.ImageCms", reason="Pillow makes a real ICC profile for the test")
    rng = np.random.default_rng(3)
    stored = cv2.GaussianBlur((rng.random((12, 20, 3)) * 255).astype(np.uint8), (3, 3), 0)
    icc = image_cms.ImageCmsProfile(image_cms.createProfile("sRGB")).tobytes()
    src = tmp_path / "phone.jpg"
    ok, data = cv2.imencodeWithMetadata(".jpg", stored, [cv2.IMAGE_METADATA_EXIF, cv2.IMAGE_METADATA_ICCP],
                                        [np.frombuffer(_exif(6), np.uint8), np.frombuffer(icc, np.uint8)])
    assert ok
    src.write_bytes(data.tobytes())
    for out in ("same.jpg", "same.png", "turned.bmp"):
        code, _, err = run([str(src), "--model", str(model), "-o", str(tmp_path / out)], capsys)
        assert code == 0, err
    for out in ("same.jpg", "same.png"):
        image, meta = read_still_with_metadata(tmp_path / out)
        assert image.shape[:2] == (24, 40) and meta.orientation == 6  # stored as the input, shown turned
        assert dict(meta.chunks)[cv2.IMAGE_METADATA_ICCP] == icc
        assert dict(meta.chunks)[cv2.IMAGE_METADATA_EXIF] == _exif(6)
    turned = read_still(tmp_path / "turned.bmp")
    assert turned.shape[:2] == (40, 24)
    np.testing.assert_array_equal(turned, upright(read_still(tmp_path / "same.png"), 6))


def test_metadata_a_format_refuses_is_dropped_with_a_note_and_the_pixels_turned(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """A JPEG may carry an ICC profile that libpng rejects as malformed: the PNG is still written,
    upright, and the run says what it dropped."""
    from srstream.engine.stills import read_still, read_still_with_metadata

    src = tmp_path / "odd.jpg"
    ok, data = cv2.imencodeWithMetadata(".jpg", np.full((6, 10, 3), 128, np.uint8),
                                        [cv2.IMAGE_METADATA_EXIF, cv2.IMAGE_METADATA_ICCP],
                                        [np.frombuffer(_exif(8), np.uint8), np.frombuffer(bytes(300), np.uint8)])
    assert ok
    src.write_bytes(data.tobytes())
    code, _, err = run([str(src), "--model", str(model), "-o", str(tmp_path / "odd.png")], capsys)
    assert code == 0, err
    assert "does not fit a .png file" in caplog.text
    assert read_still(tmp_path / "odd.png").shape[:2] == (20, 12)
    assert read_still_with_metadata(tmp_path / "odd.png")[1].chunks == ()


def test_a_single_image_run_decodes_its_input_once(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from srstream.engine import stills

    src = tmp_path / "one.png"
    cv2.imwrite(str(src), np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3))
    decodes = []
    real = stills._decode_still
    monkeypatch.setattr(stills, "_decode_still", lambda path: decodes.append(path) or real(path))
    code, _, err = run([str(src), "--model", str(model)], capsys)
    assert code == 0, err
    assert decodes == [src] and stills._KEPT == {}
    # a file changed after the probe is decoded again, not taken from what the probe kept
    stills.read_still_with_metadata(src, keep=True)
    cv2.imwrite(str(src), np.zeros((6, 8, 3), np.uint8))
    assert stills.read_still(src).shape == (6, 8, 3)
    stills._KEPT.clear()


def _animation(frames: list[np.ndarray], durations: list[int], loop_count: int) -> cv2.Animation:
    animation = cv2.Animation()
    animation.frames, animation.durations, animation.loop_count = frames, durations, loop_count
    return animation


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_an_animated_png_or_webp_stays_an_animation(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                                                   suffix: str) -> None:
    """An APNG or animated WebP was upscaled as its first frame alone: every other frame was lost
    without a word. Now every frame is upscaled, with its duration, the loop count and alpha."""
    rng = np.random.default_rng(3)
    frames = []
    for i in range(4):
        frame = np.zeros((10, 12, 4), np.uint8)
        frame[..., :3] = rng.integers(0, 256, (10, 12, 3))
        frame[2 + i:6 + i, 2:9, 3] = 255  # a moving opaque patch on a transparent ground
        frames.append(frame)
    src = tmp_path / f"sticker{suffix}"
    ok, data = cv2.imencodeanimation(suffix, _animation(frames, [40, 50, 60, 70], 3),
                                     [cv2.IMWRITE_WEBP_QUALITY, 101] if suffix == ".webp" else [])
    assert ok
    src.write_bytes(data.tobytes())
    from srstream.engine.stills import animation_frames, read_animation

    assert animation_frames(src) == 4
    code, out, err = run([str(src), "--model", str(model), "--backend", "ort", "--precision", "fp32"], capsys)
    assert code == 0, err
    assert "an animation of 4 frames of 24x20" in out
    written, durations, loop_count = read_animation(tmp_path / f"sticker_x2{suffix}")
    assert (len(written), durations, loop_count) == (4, [40, 50, 60, 70], 3)
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.upscaler import FrameUpscaler

    spec = read_onnx_spec(model)
    upscaler = FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0)
    stored, _, _ = read_animation(src)
    for got, frame in zip(written, stored):
        expected = upscaler.upscale(frame)
        assert got.shape == expected.shape == (20, 24, 4)
        diff = np.abs(got.astype(int) - expected.astype(int))
        assert diff[..., 3].max() <= 1  # both formats written lossless (colour kept where anything shows)
        assert diff[..., :3][expected[..., 3] > 0].max() <= 1
    assert not np.array_equal(written[0], written[1])


def test_an_animation_is_refused_a_format_of_one_picture(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = [np.full((6, 6, 3), v, np.uint8) for v in (20, 200)]
    ok, data = cv2.imencodeanimation(".png", _animation(frames, [100, 100], 0))
    assert ok
    shots = tmp_path / "shots"
    shots.mkdir()
    (shots / "anim.png").write_bytes(data.tobytes())
    assert cv2.imwrite(str(shots / "still.png"), frames[0])
    code, out, err = run([str(shots / "anim.png"), "-o", str(tmp_path / "anim.jpg"), "--model", str(model)], capsys)
    assert code != 0 and "animation of 2 frames" in err and ".png or .webp" in err
    assert not (tmp_path / "anim.jpg").exists()
    code, out, err = run([str(shots), "-o", str(tmp_path / "out"), "--model", str(model)], capsys)
    assert code == 0, err
    assert "2 of 2 images" in out and "videos" not in out
    from srstream.engine.stills import animation_frames

    assert animation_frames(tmp_path / "out" / "anim.png") == 2
    assert animation_frames(tmp_path / "out" / "still.png") == 1


def _pages() -> list[np.ndarray]:
    """Three TIFF pages, as OpenCV holds them: BGR 8-bit, grey 16-bit, BGRA 8-bit, each its own size."""
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (10, 12, 3), dtype=np.uint8), rng.integers(0, 65536, (7, 9), dtype=np.uint16),
            rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)]


def test_a_multi_page_tiff_keeps_every_page(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.stills import read_pages, tiff_pages
    from srstream.engine.upscaler import FrameUpscaler

    ok, data = cv2.imencodemulti(".tif", _pages())
    assert ok
    src = tmp_path / "scan.tif"
    src.write_bytes(data.tobytes())
    assert tiff_pages(src) == 3
    code, out, err = run([str(src), "--model", str(model), "--backend", "ort", "--precision", "fp32"], capsys)
    assert code == 0, err
    assert "3 pages (the first 24x20)" in out
    written = read_pages(tmp_path / "scan_x2.tif")
    spec = read_onnx_spec(model)
    upscaler = FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0)
    stored = read_pages(src)
    assert [p.shape for p in written] == [(20, 24, 3), (14, 18, 1), (12, 10, 4)]
    assert [p.dtype for p in written] == [np.uint8, np.uint16, np.uint8]
    for got, page in zip(written, stored):
        assert np.array_equal(got, upscaler.upscale(page))  # TIFF is lossless: each page exactly as upscaled alone

    # a folder's multi-page TIFF too; a format of one picture is refused before any work
    shots = tmp_path / "shots"
    shots.mkdir()
    src.rename(shots / "scan.tiff")
    code, out, err = run([str(shots), "-o", str(tmp_path / "out"), "--model", str(model)], capsys)
    assert code == 0, err
    assert tiff_pages(tmp_path / "out" / "scan.tiff") == 3
    code, out, err = run([str(shots / "scan.tiff"), "-o", str(tmp_path / "scan.png"), "--model", str(model)], capsys)
    assert code == 2 and "TIFF of 3 pages" in err and ".tif or .tiff" in err
    assert not (tmp_path / "scan.png").exists()


def test_a_multi_page_scan_keeps_each_pages_density_profile_and_exif(tmp_path: Path, model: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A multi-page TIFF (a scanned document, a fax) lost every page's pixels per inch (which OCR
    and printing go by), colour profile, XMP and EXIF without a word, where a one-page TIFF kept
    them. Each page now keeps its own; its pixels are as before."""
    image_module = pytest.importorskip("PIL.Image")
    cms = pytest.importorskip("PIL.ImageCms")
    from srstream.engine.stills import read_pages

    profile = cms.ImageCmsProfile(cms.createProfile("sRGB")).tobytes()
    pages = []
    for number, dpi in enumerate((300, 150, 600)):
        page = image_module.fromarray(np.random.default_rng(number).integers(0, 256, (10, 12, 3), dtype=np.uint8))
        page.encoderinfo = {"dpi": (dpi, dpi)}  # each page's own, as Pillow writes it
        pages.append(page)
    exif = image_module.Exif()
    exif[0x010F] = "Fujitsu"
    pages[0].save(tmp_path / "letter.tif", save_all=True, append_images=pages[1:], dpi=(300, 300),
                  icc_profile=profile, exif=exif)
    args = ["--model", str(model), "--backend", "ort", "--precision", "fp32"]
    assert run([str(tmp_path / "letter.tif"), *args], capsys)[0] == 0
    assert run([str(tmp_path / "letter.tif"), "-o", str(tmp_path / "plain.png"), *args], capsys)[0] != 0  # one picture
    with image_module.open(tmp_path / "letter_x2.tif") as written:
        seen = []
        for number in range(written.n_frames):
            written.seek(number)
            seen.append((written.size, tuple(round(d) for d in written.info["dpi"]),
                         written.info.get("icc_profile") == profile, written.getexif().get(0x010F)))
    assert seen == [((24, 20), (300, 300), True, "Fujitsu"), ((24, 20), (150, 150), True, "Fujitsu"),
                    ((24, 20), (600, 600), True, "Fujitsu")], seen  # Pillow writes the EXIF on every page
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.upscaler import FrameUpscaler

    spec = read_onnx_spec(model)
    upscaler = FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0)
    for got, page in zip(read_pages(tmp_path / "letter_x2.tif"), read_pages(tmp_path / "letter.tif")):
        assert np.array_equal(got, upscaler.upscale(page))


def test_tiff_pages_reads_the_chain_of_directories(tmp_path: Path) -> None:
    from srstream.engine.stills import tiff_pages

    image = pytest.importorskip("PIL.Image")
    frames = [image.new("RGB", (4 + i, 3), (i, 0, 0)) for i in range(4)]
    frames[0].save(tmp_path / "big.tif", save_all=True, append_images=frames[1:], big_tiff=True)
    assert (tmp_path / "big.tif").read_bytes()[2:4] == b"\x2b\x00"  # BigTIFF: 8-byte offsets
    assert tiff_pages(tmp_path / "big.tif") == 4
    frames[0].save(tmp_path / "one.tif")
    assert tiff_pages(tmp_path / "one.tif") == 1
    data = bytearray((tmp_path / "one.tif").read_bytes())  # its one directory pointing back at itself
    first = int.from_bytes(data[4:8], "little")
    count = int.from_bytes(data[first:first + 2], "little")
    data[first + 2 + 12 * count:first + 6 + 12 * count] = first.to_bytes(4, "little")
    (tmp_path / "loop.tif").write_bytes(bytes(data))
    assert tiff_pages(tmp_path / "loop.tif") == 1
    (tmp_path / "cut.tif").write_bytes(b"II*\x00")
    assert tiff_pages(tmp_path / "cut.tif") == 1


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_an_animation_says_when_its_metadata_is_not_kept(tmp_path: Path, model: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         caplog: pytest.LogCaptureFixture, suffix: str) -> None:
    image = pytest.importorskip("PIL.Image")
    from PIL import ImageCms

    from srstream.engine.stills import _animation_header

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    frames = [image.fromarray(np.full((8, 6, 3), v, np.uint8)) for v in (20, 120, 200)]
    src, plain = tmp_path / f"icc{suffix}", tmp_path / f"plain{suffix}"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, icc_profile=profile, lossless=True)
    frames[0].save(plain, save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert _animation_header(src) == (3, True) and _animation_header(plain) == (3, False)
    code, out, err = run([str(src), "--model", str(model)], capsys)
    assert code == 0, err
    assert "an animation of 3 frames of 12x16" in out and "metadata is not kept" in caplog.text


def test_avif_stills_and_sequences_keep_their_depth_and_frames(tmp_path: Path, model: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """An AVIF was taken for a video and refused ("the output's extension is unknown"). Now it is
    an image: 8-bit stays 8-bit, 10-bit stays 10-bit (OpenCV decodes it as 0-1023, which is scaled
    to the full 16-bit range and back), and an image sequence stays a sequence."""
    if not cv2.haveImageWriter(".avif"):
        pytest.skip("this OpenCV build has no AVIF codec")
    from srstream.engine.stills import (animation_frames, read_animation, read_still, read_still_with_metadata,
                                        write_still)

    yy, xx = np.mgrid[0:24, 0:32]
    picture = np.dstack([xx * 7, yy * 9, (xx + yy) * 4]).astype(np.uint8)
    assert cv2.imwrite(str(tmp_path / "p8.avif"), picture, [cv2.IMWRITE_AVIF_QUALITY, 100])
    assert cv2.imwrite(str(tmp_path / "p10.avif"), picture.astype(np.uint16) * 4,
                       [cv2.IMWRITE_AVIF_DEPTH, 10, cv2.IMWRITE_AVIF_QUALITY, 100])
    deep, meta = read_still_with_metadata(tmp_path / "p10.avif")
    assert deep.dtype == np.uint16 and meta.bits == 10 and abs(int(deep.max()) - int(picture.max()) * 257) < 600
    frames = [np.ascontiguousarray(np.roll(picture, 4 * i, axis=1)) for i in range(3)]
    animation = cv2.Animation()
    animation.frames, animation.durations, animation.loop_count = frames, [70, 80, 90], 0
    ok, data = cv2.imencodeanimation(".avif", animation, [cv2.IMWRITE_AVIF_QUALITY, 100])
    assert ok
    (tmp_path / "seq.avif").write_bytes(data.tobytes())
    assert animation_frames(tmp_path / "seq.avif") == 3 and animation_frames(tmp_path / "p8.avif") == 1
    for name in ("p8", "p10", "seq"):
        code, out, err = run([str(tmp_path / f"{name}.avif"), "--model", str(model), "--backend", "ort",
                              "--precision", "fp32"], capsys)
        assert code == 0, err
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.upscaler import FrameUpscaler

    spec = read_onnx_spec(model)
    upscaler = FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0)
    for name in ("p8", "p10"):
        written, meta = read_still_with_metadata(tmp_path / f"{name}_x2.avif")
        source, source_meta = read_still_with_metadata(tmp_path / f"{name}.avif")
        expected = upscaler.upscale(source)
        assert written.dtype == expected.dtype and written.shape == expected.shape == (48, 64, 3)
        assert meta.bits == (10 if name == "p10" else 0)
        # the file holds the upscaled picture as the encoder gives it back (lossy: the test net's
        # output is noise-like, which no lossy codec keeps exactly)
        write_still(tmp_path / f"{name}_expected.avif", expected, metadata=source_meta)
        assert np.array_equal(written, read_still(tmp_path / f"{name}_expected.avif"))
    written, durations, _ = read_animation(tmp_path / "seq_x2.avif")
    assert len(written) == 3 and durations == [70, 80, 90] and written[0].shape == (48, 64, 3)


def _clip(path: Path, frames: int = 3) -> Path:
    """A small H.264 clip with AAC sound."""
    import av

    with av.open(str(path), "w") as out:
        video, audio = out.add_stream("libx264", rate=10), out.add_stream("aac", rate=48000)
        video.width, video.height, video.pix_fmt = 16, 12, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((12, 16, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        sound.sample_rate, sound.pts = 48000, 0
        for packet in [*audio.encode(sound), *audio.encode(None), *video.encode(None)]:
            out.mux(packet)
    return path


def test_a_folder_run_upscales_its_videos_too(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder's videos were left alone with a note to run each by hand: a season of episodes was
    one command per file. Each is now upscaled as ``sr-stream VIDEO -o OUT/VIDEO`` would, into the
    output folder beside the images; one that fails is listed and the rest go on (exit 3); the
    same command again skips what is there and retries the failure; a glob of videos runs too."""
    import av

    shots = tmp_path / "season"
    shots.mkdir()
    assert cv2.imwrite(str(shots / "poster.png"), np.full((6, 6, 3), 90, np.uint8))
    _clip(shots / "e01.mp4")
    _clip(shots / "e02.mkv", 4)
    (shots / "e03.mp4").write_bytes(b"\0\0\0\x18ftypmp42")  # a download cut short
    out_dir = tmp_path / "out"
    code, out, err = run([str(shots), "-o", str(out_dir), "--model", str(model)], capsys)
    assert code == 3, err
    assert "1 of 1 images" in out and "2 of 3 videos upscaled, 1 failed" in out and "e03.mp4" in err
    for name, frames in (("e01.mp4", 3), ("e02.mkv", 4)):
        with av.open(str(out_dir / name)) as container:
            assert container.streams.video[0].codec_context.width == 32 and container.streams.audio
            assert sum(1 for _ in container.decode(video=0)) == frames
    assert sorted(p.name for p in out_dir.iterdir() if not p.name.startswith(".")) == ["e01.mp4", "e02.mkv",
                                                                                        "poster.png"]
    code, out, err = run([str(shots), "-o", str(out_dir), "--model", str(model)], capsys)
    assert code == 3 and "0 of 3 videos upscaled, 2 skipped (already there" in out
    (shots / "e03.mp4").unlink()
    for poster in (shots / "poster.png", out_dir / "poster.png"):
        poster.unlink()
    code, out, err = run([str(shots), "-o", str(shots), "--model", str(model), "--overwrite"], capsys)
    assert code == 4 and "is the input itself" in err  # never over its own inputs
    code, out, err = run([str(shots / "*.mkv"), "-o", str(tmp_path / "glob"), "--model", str(model)], capsys)
    assert code == 0 and "1 of 1 videos upscaled" in out, err
    assert (tmp_path / "glob" / "e02.mkv").exists()


def test_a_recursive_folder_run_keeps_the_folder_tree(tmp_path: Path, model: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A photo library kept in year and trip folders was one run per folder; -r takes the whole
    tree, every image and video at the same place under the output folder (hidden folders, such as
    a job's, left out), continued by the same command; never into a folder inside the tree."""
    library = tmp_path / "photos"
    (library / "2024" / "trip").mkdir(parents=True)
    (library / ".cache").mkdir()
    for place in ("a.png", "2024/b.png", ".cache/x.png"):
        assert cv2.imwrite(str(library / place), np.full((6, 6, 3), 90, np.uint8))
    _clip(library / "2024" / "trip" / "c.mp4")
    out_dir = tmp_path / "out"
    code, out, err = run([str(library), "-r", "-o", str(out_dir), "--model", str(model)], capsys)
    assert code == 0, err
    assert "2 of 2 images" in out and "1 of 1 videos upscaled" in out
    made = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert made == ["2024/b.png", "2024/trip/c.mp4", "a.png"]
    assert cv2.imread(str(out_dir / "2024" / "b.png")).shape == (12, 12, 3)
    code, out, err = run([str(library), "-r", "-o", str(out_dir), "--model", str(model)], capsys)
    assert code == 0 and "2 skipped (already there)" in out and "1 skipped (already there" in out, err
    (library / "empty").mkdir()
    (library / "flat").mkdir()  # the output folder, with the pictures a run before wrote
    assert cv2.imwrite(str(library / "flat" / "a.png"), np.full((12, 12, 3), 90, np.uint8))
    code, out, err = run([str(library), "-o", str(library / "flat"), "--overwrite", "--model", str(model)], capsys)
    assert code == 0 and "1 of 1 images" in out and "videos" not in out  # without -r: the folder itself,
    # and a note naming the subfolders left alone that hold pictures (not the empty one, the hidden one or the output)
    assert "note: 1 subfolder with images or videos not read (2024): -r (--recursive) upscales them" in err
    code, out, err = run([str(library), "-r", "-o", str(library / "2024" / "up"), "--model", str(model)], capsys)
    assert code == 4 and "which a recursive run reads whole" in err
    code, out, err = run([str(library / "a.png"), "-r", "--model", str(model)], capsys)
    assert code == 2 and "not a folder" in err


def test_a_folder_run_upscales_its_gifs_as_gifs(tmp_path: Path, model: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """GIFs in a folder were left out without a word (they are read as videos)."""
    image = pytest.importorskip("PIL.Image")
    shots = tmp_path / "stickers"
    shots.mkdir()
    frames = [np.zeros((8, 10, 4), np.uint8) for _ in range(3)]
    for i, frame in enumerate(frames):
        frame[..., 0], frame[2:6, 2 + i:6 + i, 3] = 200, 255  # an opaque patch moving on a clear ground
    pictures = [image.fromarray(f, "RGBA") for f in frames]
    pictures[0].save(shots / "wave.gif", save_all=True, append_images=pictures[1:], duration=80, disposal=2)
    pictures[0].convert("RGB").save(shots / "logo.gif")
    code, out, err = run([str(shots), "--model", str(model)], capsys)
    assert code == 0, err
    assert "2 of 2 images" in out
    import av

    with av.open(str(tmp_path / "stickers_x2" / "wave.gif")) as container:
        decoded = [f.to_ndarray(format="rgba") for f in container.decode(video=0)]
    assert len(decoded) == 3 and decoded[0].shape == (16, 20, 4) and (decoded[0][..., 3] == 0).any()
    with av.open(str(tmp_path / "stickers_x2" / "logo.gif")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 1


def test_an_iphones_gain_map_and_depth_map_are_said_to_be_left_out(tmp_path: Path, model: Path,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    caplog: pytest.LogCaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An iPhone's HEIC holds an HDR gain map (an auxiliary image) and, for a portrait, a depth map,
    which pillow-heif reads and cannot write: they were dropped without a word. (pillow-heif writes
    no auxiliary image either, so the file's info is given them here, as libheif reports an
    iPhone's.)"""
    pillow_heif = pytest.importorskip("pillow_heif")
    from srstream.images import heif_extras

    pillow_heif.from_bytes(mode="RGB", size=(8, 6), data=bytes(8 * 6 * 3)).save(tmp_path / "IMG_1.heic")
    assert heif_extras(tmp_path / "IMG_1.heic") == []
    opened = pillow_heif.open_heif

    def iphone(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        heif = opened(path, *args, **kwargs)
        heif.info["aux"] = {"urn:com:apple:photo:2020:aux:hdrgainmap": [48]}
        heif.info["depth_images"] = [object()]
        return heif

    monkeypatch.setattr(pillow_heif, "open_heif", iphone)
    assert heif_extras(tmp_path / "IMG_1.heic") == ["an HDR gain map", "a depth map"]
    code, _, err = run([str(tmp_path / "IMG_1.heic"), "--model", str(model)], capsys)
    assert code == 0, err
    assert "IMG_1.heic: an HDR gain map and a depth map beside the picture are not carried" in caplog.text


def test_heic_photos_keep_their_depth_colour_profile_and_stay_upright(tmp_path: Path, model: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A phone's HEIC was taken for a video and refused ("the output's extension is unknown")."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from srstream.engine.stills import read_still, read_still_with_metadata, write_still

    yy, xx = np.mgrid[0:16, 0:24]
    rgb = np.dstack([xx * 10, yy * 15, (xx + yy) * 6]).astype(np.uint8)
    for name, image in (("photo.heic", rgb), ("deep.heic", rgb.astype(np.uint16) * 257),
                        ("cutout.heic", np.dstack([rgb, np.full((16, 24), 200, np.uint8)]))):
        mode = {(np.dtype(np.uint8), 3): "RGB", (np.dtype(np.uint16), 3): "RGB;16",
                (np.dtype(np.uint8), 4): "RGBA"}[(image.dtype, image.shape[2])]
        pillow_heif.from_bytes(mode=mode, size=(24, 16), data=image.tobytes()).save(tmp_path / name, quality=-1,
                                                                                     icc_profile=bytes(128))
        code, out, err = run([str(tmp_path / name), "--model", str(model), "--backend", "ort", "--precision", "fp32"],
                             capsys)
        assert code == 0, err
        written, meta = read_still_with_metadata(tmp_path / name.replace(".heic", "_x2.heic"))
        source, source_meta = read_still_with_metadata(tmp_path / name)
        assert written.shape == (32, 48, image.shape[2]) and written.dtype == image.dtype
        assert meta.bits == source_meta.bits == (10 if image.dtype == np.uint16 else 0)
        assert [k for k, _ in meta.chunks] == [cv2.IMAGE_METADATA_ICCP]  # the colour profile travels
        expected = tmp_path / name.replace(".heic", "_expected.heic")  # the upscale, as the encoder gives it back
        from srstream.engine.backends import backend_def
        from srstream.engine.models import read_onnx_spec
        from srstream.engine.upscaler import FrameUpscaler

        spec = read_onnx_spec(model)
        write_still(expected, FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0).upscale(source),
                    metadata=source_meta)
        assert np.array_equal(written, read_still(expected))
    # a JPEG whose EXIF says "turn 90 degrees" comes out as a HEIC that shows the same way
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    code, _, err = run([str(tmp_path / "turned.jpg"), "-o", str(tmp_path / "turned.heic"), "--model", str(model)],
                       capsys)
    assert code == 0, err
    shown, meta = read_still_with_metadata(tmp_path / "turned.heic")
    assert shown.shape[:2] == (48, 32) and meta.orientation == 1


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_writing_an_image_swaps_its_colours_in_place_and_back(tmp_path: Path, suffix: str, channels: int) -> None:
    """OpenCV encodes BGR: the output was copied to swap R and B (2.3 GB more for a 48-megapixel
    photo at x4). It is swapped in place and back: the file holds the colours, and the array
    handed in is as it was."""
    from srstream.engine.stills import read_still, write_still

    if suffix == ".jpg" and channels == 4:
        pytest.skip("JPEG holds no alpha")
    image = np.zeros((8, 8, channels), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 100, 30
    if channels == 4:
        image[..., 3] = 255
    kept = image.copy()
    write_still(tmp_path / f"out{suffix}", image)
    assert np.array_equal(image, kept)
    back = read_still(tmp_path / f"out{suffix}")
    assert np.abs(back[..., :3].astype(int) - kept[..., :3]).max() <= 2  # JPEG rounds
    write_still(tmp_path / f"view{suffix}", image[:, ::-1])  # a view: converted into a copy as before
    assert np.array_equal(image, kept)


def test_an_image_into_an_existing_folder_takes_its_default_name(tmp_path: Path, model: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`sr-stream photo.png -o out/` was refused ('end the output with one of .avif, ...'), though
    several inputs and a folder's images go into `-o FOLDER` under their own names."""
    assert cv2.imwrite(str(tmp_path / "photo.png"), np.full((6, 8, 3), 90, np.uint8))
    (tmp_path / "out").mkdir()
    code, out, err = run([str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"), "--model", str(model)], capsys)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["photo_x2.png"]
    code, out, err = run([str(tmp_path / "photo.png"), "-o", str(tmp_path / "nowhere"), "--model", str(model)], capsys)
    assert code == 2 and "or name an existing folder" in err


@pytest.mark.parametrize("source", ["png", "jpg", "tif"])
def test_a_scans_print_density_is_kept_in_png_jpeg_and_tiff(tmp_path: Path, model: Path, source: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A 300 dpi scan's JPEG and TIFF outputs said nothing of it (OpenCV writes a 1:1 aspect ratio
    in a JPEG and no resolution in a TIFF): the density is now carried as it was, into each."""
    image_module = pytest.importorskip("PIL.Image")
    src = tmp_path / f"scan.{source}"
    image_module.fromarray(np.full((10, 12, 3), 100, np.uint8)).save(src, dpi=(300, 300))
    for out in ("png", "jpg", "tif"):
        code, _, err = run([str(src), "-o", str(tmp_path / f"out.{out}"), "--model", str(model), "--backend", "ort",
                            "--overwrite"], capsys)
        assert code == 0, err
        with image_module.open(tmp_path / f"out.{out}") as written:
            assert [round(d) for d in written.info["dpi"]] == [300, 300], (source, out)


@pytest.mark.parametrize(("source", "out"), [("tif", "tif"), ("tif", "png"), ("png", "tif"), ("tif", "jpg")])
def test_a_tiffs_colour_profile_and_xmp_are_kept(tmp_path: Path, model: Path, source: str, out: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A TIFF's ICC profile (a scan's, a Lightroom export's in Adobe RGB or ProPhoto, whose colours
    read as sRGB without it) was dropped into every output, and a TIFF output held none from any
    input: OpenCV neither reads nor writes them in a TIFF. They are now read from the TIFF's tags
    and written into a TIFF output's, with its XMP; its pixels unchanged."""
    image_module = pytest.importorskip("PIL.Image")
    cms = pytest.importorskip("PIL.ImageCms")
    profile = cms.ImageCmsProfile(cms.createProfile("sRGB")).tobytes()
    pixels = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    src = tmp_path / f"scan.{source}"
    tags = pytest.importorskip("PIL.TiffImagePlugin").ImageFileDirectory_v2()
    tags[700], tags.tagtype[700] = xmp, 1  # XMP: BYTE
    image_module.fromarray(pixels).save(src, icc_profile=profile, **({"tiffinfo": tags} if source == "tif" else {}))
    code, _, err = run([str(src), "-o", str(tmp_path / f"out.{out}"), "--model", str(model), "--backend", "ort",
                        "--precision", "fp32"], capsys)
    assert code == 0, err
    with image_module.open(tmp_path / f"out.{out}") as written:
        assert written.info.get("icc_profile") == profile, (source, out)
        if source == out == "tif":
            assert written.tag_v2.get(700) == xmp
    if out == "tif":  # the same pixels as the TIFF OpenCV wrote
        assert run([str(src), "-o", str(tmp_path / "plain.tif"), "--model", str(model), "--backend", "ort",
                    "--precision", "fp32"], capsys)[0] == 0
        assert np.array_equal(cv2.imread(str(tmp_path / "out.tif")), cv2.imread(str(tmp_path / "plain.tif")))


def _ratio(value: object) -> float:
    """An EXIF rational as Pillow gives it: a (numerator, denominator) pair from a TIFF's
    directory, a number from an EXIF block."""
    return value[0] / value[1] if isinstance(value, tuple) else float(value)


def test_exif_goes_into_and_out_of_a_tiff(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A photo's EXIF (camera, exposure, date, GPS) was lost without a word into a TIFF output and
    out of a TIFF input: OpenCV neither reads nor writes it there. It now goes into a TIFF's own
    directory (the EXIF and GPS directories copied, their numbers in the TIFF's byte order; not the
    orientation, as the TIFF's pixels are turned upright) and is read back from one."""
    image_module = pytest.importorskip("PIL.Image")
    exif = image_module.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112], exif[0x8298] = "Canon", "EOS R5", 6, "A. Photographer"
    exif.get_ifd(0x8769).update({0x829A: (1, 250), 0x9003: "2026:12:01 10:00:00", 0x8827: 400})
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.5), 3: "E", 4: (2.0, 17.0, 40.2)})
    pixels = np.zeros((12, 20, 3), np.uint8)
    pixels[:, :5] = (255, 0, 0)  # the left edge red: upright (orientation 6) it is the top
    image_module.fromarray(pixels).save(tmp_path / "photo.jpg", exif=exif, quality=95)  # big-endian EXIF
    args = ["--model", str(model), "--backend", "ort", "--precision", "fp32"]
    assert run([str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "photo.tif"), *args], capsys)[0] == 0
    assert run([str(tmp_path / "photo.tif"), "-o", str(tmp_path / "again.png"), *args], capsys)[0] == 0
    for name, orientation in (("photo.tif", None), ("again.png", None)):
        with image_module.open(tmp_path / name) as written:
            tags = written.getexif()
            assert (tags.get(0x010F), tags.get(0x0110), tags.get(0x8298)) == ("Canon", "EOS R5", "A. Photographer")
            assert tags.get(0x0112) == orientation, name
            inner, gps = tags.get_ifd(0x8769), tags.get_ifd(0x8825)
            assert (_ratio(inner.get(0x829A)), inner.get(0x9003), inner.get(0x8827)) == (1 / 250, "2026:12:01 10:00:00",
                                                                                         400)
            assert gps.get(1) == "N" and [_ratio(v) for v in gps.get(2)] == [48.0, 51.0, 29.5]
            assert written.size == (24, 40) or written.size == (48, 80), (name, written.size)  # upright
            shown = np.asarray(written.convert("RGB"))
        assert shown[0, shown.shape[1] // 2, 0] > 200 and shown[-1, shown.shape[1] // 2, 0] < 50, name  # red on top
    assert cv2.imread(str(tmp_path / "photo.tif")) is not None

    # a TIFF saying its pixels are turned (a camera's; OpenCV reads them upright): upright, its
    # orientation not carried on to turn them again
    tiff_tags = pytest.importorskip("PIL.TiffImagePlugin").ImageFileDirectory_v2()
    tiff_tags[0x0112], tiff_tags[0x010F] = 6, "Nikon"
    image_module.fromarray(pixels).save(tmp_path / "turned.tif", tiffinfo=tiff_tags)
    for out in ("tif", "png"):
        assert run([str(tmp_path / "turned.tif"), "-o", str(tmp_path / f"turned_x2.{out}"), *args], capsys)[0] == 0
        with image_module.open(tmp_path / f"turned_x2.{out}") as written:
            assert written.getexif().get(0x010F) == "Nikon" and written.getexif().get(0x0112, 1) == 1
            shown = np.asarray(written.convert("RGB"))
        assert shown.shape[:2] == (40, 24) and shown[0, 12, 0] > 200 and shown[-1, 12, 0] < 50, out


def test_pixel_density_reads_each_format_and_its_units() -> None:
    import struct
    import zlib

    from srstream.engine.stills import pixel_density

    def png(ppm: int, unit: int) -> bytes:
        body = struct.pack(">IIB", ppm, ppm, unit)
        return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 9) + b"pHYs" + body
                + struct.pack(">I", zlib.crc32(b"pHYs" + body)) + bytes(12))

    assert [round(d) for d in pixel_density(png(11811, 1))] == [300, 300]  # pixels a metre
    assert pixel_density(png(1, 0)) is None  # an aspect ratio only
    jfif = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01"
    assert pixel_density(jfif + struct.pack(">BHH", 2, 100, 50) + b"\x00\x00\xff\xda") == (254.0, 127.0)  # per cm
    assert pixel_density(jfif + struct.pack(">BHH", 0, 1, 1) + b"\x00\x00\xff\xda") is None
    # a TIFF whose resolution is 150/1 per centimetre (ResolutionUnit 3)
    entries = [(282, 5, 1, 50), (283, 5, 1, 58), (296, 3, 1, 3)]  # the rationals after the IFD
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 3)
    tiff += b"".join(struct.pack("<HHII", *entry) for entry in entries) + struct.pack("<I", 0)
    tiff += struct.pack("<II", 150, 1) * 2
    assert pixel_density(tiff) == (381.0, 381.0)
    assert pixel_density(tiff[:30]) is None and pixel_density(b"GIF89a") is None


def _rgba_tiff(path: Path, rgba: np.ndarray) -> None:
    """An 8-bit RGBA TIFF through FFmpeg's encoder, which marks its alpha unassociated (ExtraSamples 2)."""
    with av.open(str(path), "w", format="image2", options={"update": "1"}) as c:
        stream = c.add_stream("tiff", rate=1)
        stream.width, stream.height, stream.pix_fmt = rgba.shape[1], rgba.shape[0], "rgba"
        for packet in [*stream.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")), *stream.encode()]:
            c.mux(packet)


def test_a_tiffs_alpha_keeps_its_colours_and_is_marked_as_alpha(tmp_path: Path, model: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """An 8-bit RGBA TIFF (a cut-out, a logo from an editor) came out with every partly transparent
    pixel's colour multiplied by its alpha (libtiff's RGBA reader, which OpenCV's uses, does so),
    written back as straight colour: darkened at each pass. And OpenCV's encoder writes no
    ExtraSamples, so libtiff called the fourth sample unspecified. Now read as stored, single and
    multi-page, and marked as alpha in what is written; a premultiplied alpha (ExtraSamples 1) is
    divided out."""
    from srstream.engine.stills import read_pages, read_still, write_pages, write_still

    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[..., 3] = np.array([255, 128, 64, 16, 1, 0, 200, 255], np.uint8)
    src = tmp_path / "logo.tif"
    _rgba_tiff(src, rgba)
    assert cv2.imread(str(src), cv2.IMREAD_UNCHANGED)[0, 1, 2] == 100  # what OpenCV alone gives: 200 x 128 / 255
    got = read_still(src)
    assert np.array_equal(got, rgba)
    premultiplied = rgba.copy()
    premultiplied[..., :3] = (rgba[..., :3].astype(int) * rgba[..., 3:] + 127) // 255
    _rgba_tiff(tmp_path / "associated.tif", premultiplied)
    data = (tmp_path / "associated.tif").read_bytes()
    marked = b"\x52\x01\x03\x00\x01\x00\x00\x00\x02\x00"  # ExtraSamples: one, unassociated
    assert data.count(marked) == 1
    (tmp_path / "associated.tif").write_bytes(data.replace(marked, marked[:8] + b"\x01\x00"))
    straight = read_still(tmp_path / "associated.tif")
    alpha = rgba[0, :, 3].astype(float)
    error = np.abs(straight[0, :, :3].astype(float) - rgba[0, :, :3])
    assert np.all(error[alpha > 0] <= 255 / (2 * alpha[alpha > 0])[:, None] + 0.5), error
    assert np.all(straight[0, alpha == 0, :3] == 0) and np.array_equal(straight[..., 3], rgba[..., 3])
    write_still(tmp_path / "again.tif", got)
    assert _extra_samples(tmp_path / "again.tif") == [2]
    assert np.array_equal(read_still(tmp_path / "again.tif"), got)  # a second pass loses nothing more
    write_pages(tmp_path / "pages.tif", [got.copy(), got[..., :3].copy(), (got.astype(np.uint16) * 257)])
    assert _extra_samples(tmp_path / "pages.tif") == [2, None, 2]
    pages = read_pages(tmp_path / "pages.tif")
    assert np.array_equal(pages[0], got) and np.array_equal(pages[2], got.astype(np.uint16) * 257)
    code, _, err = run([str(src), "--model", str(model)], capsys)
    assert code == 0, err
    assert _extra_samples(tmp_path / "logo_x2.tif") == [2]


def _extra_samples(path: Path) -> list[int | None]:
    """Each page's ExtraSamples value (None: it has none)."""
    import struct

    from srstream.engine.stills import _directory_chain, _tiff_directory, _tiff_value

    data = path.read_bytes()
    found = []
    for at in _directory_chain(lambda at, size: data[at:at + size]):
        order, _, entries = _tiff_directory(data, at)
        found.append(_tiff_value(order, entries, 338))
    assert struct.unpack("<H" if data[:2] == b"II" else ">H", data[2:4])[0] == 42
    return found


def test_a_cmyk_picture_comes_out_rgb_without_its_print_profile(tmp_path: Path, model: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A CMYK JPEG or TIFF (a print file, a stock photo agency's) is read as RGB by OpenCV, without
    colour management: its CMYK profile was copied into the RGB output, where colour-managed
    viewers take the RGB as inks, and a CMYK TIFF came out RGBA with an opaque alpha that was never
    there. Now: RGB, the profile left out, and a note that says the colours are approximate."""
    image_module = pytest.importorskip("PIL.Image", reason="Pillow writes the CMYK files")
    from srstream.engine.stills import read_still_with_metadata

    profile = bytearray(132)  # an ICC header for a CMYK output profile, no tags
    profile[0:4], profile[12:24], profile[36:40] = (132).to_bytes(4, "big"), b"prtrCMYKLab ", b"acsp"
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[:, :8] = (200, 30, 30)
    rgb[:, 8:] = (30, 30, 200)
    cmyk = image_module.fromarray(rgb).convert("CMYK")
    cmyk.save(tmp_path / "print.jpg", quality=95, icc_profile=bytes(profile))
    cmyk.save(tmp_path / "print.tif", icc_profile=bytes(profile))
    for name in ("print.jpg", "print.tif"):
        image, meta = read_still_with_metadata(tmp_path / name)
        assert image.shape == (12, 16, 3), name
        assert abs(image.astype(int) - rgb).max() <= 12, name  # as OpenCV turns the inks into RGB
        assert not [c for t, c in meta.chunks if t == cv2.IMAGE_METADATA_ICCP], name
        caplog.clear()
        code, _, err = run([str(tmp_path / name), "--model", str(model)], capsys)
        assert code == 0, err
        assert caplog.text.count(f"{name} is a CMYK picture") == 1, caplog.text
        assert "CMYK colour profile is not kept" in caplog.text
        out = tmp_path / name.replace(".", "_x2.")
        assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (24, 32, 3), name
        with image_module.open(out) as written:
            assert written.info.get("icc_profile") is None, name
    image_module.fromarray(rgb).save(tmp_path / "plain.jpg", icc_profile=bytes(profile))  # a profile of the wrong kind
    chunks = read_still_with_metadata(tmp_path / "plain.jpg")[1].chunks
    assert not [c for t, c in chunks if t == cv2.IMAGE_METADATA_ICCP]


def test_a_camera_raw_file_is_refused_with_what_to_do(tmp_path: Path, model: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A DNG or a CR2 is a TIFF whose photo is the sensor's mosaic, still to be developed: FFmpeg read
    one as a picture (its small preview, or the mosaic undeveloped) and it was upscaled. A raw file
    is refused with what to do; a folder run leaves its raw files alone and says so."""
    tiff = tmp_path / "scan.tif"
    cv2.imwrite(str(tiff), np.full((12, 10, 3), 90, np.uint8))
    for name in ("IMG_0001.CR2", "photo.dng"):
        (tmp_path / name).write_bytes(tiff.read_bytes())
        code, _, err = run([str(tmp_path / name), "--model", str(model)], capsys)
        assert code == 3 and "is a camera raw file" in err and "develop it first" in err, err
        assert not list(tmp_path.glob(f"{Path(name).stem}_x2*"))
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    (tmp_path / "photo.dng").rename(shoot / "photo.dng")
    code, _, err = run([str(shoot), "--model", str(model)], capsys)
    assert code == 3 and "only 1 camera raw file: develop it first" in err, err
    tiff.rename(shoot / "scan.tif")
    code, _, err = run([str(shoot), "--model", str(model), "--backend", "ort", "--precision", "fp32"], capsys)
    assert code == 0 and "1 camera raw file left alone (photo.dng): develop it first" in err, err
    assert sorted(p.name for p in (tmp_path / "shoot_x2").iterdir() if not p.name.startswith(".")) == ["scan.tif"]


@pytest.mark.parametrize("source", ["jpg", "png", "webp"])
def test_xmp_reads_the_same_in_every_output_format(tmp_path: Path, model: Path, source: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """OpenCV reads and writes a JPEG's XMP behind its APP1 namespace header and a PNG's or WebP's
    without: a JPEG's XMP went into a PNG, WebP or TIFF behind that header (Pillow read the PNG's as
    "http://ns.adobe.com/xap/1.0/"), any other's into a JPEG without it (read by nothing); a PNG's
    came out with 4 bytes after the packet, and a PNG's iTXt XMP (Pillow's, exiftool's) was not read
    at all. Read here with Pillow, as other programs read them."""
    image_module = pytest.importorskip("PIL.Image")
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description dc:format="image/x"/></rdf:RDF></x:xmpmeta>'
    src = tmp_path / f"tagged.{source}"
    text = pytest.importorskip("PIL.PngImagePlugin").PngInfo()
    text.add_itxt("XML:com.adobe.xmp", xmp.decode())  # as exiftool and Photoshop store it (Pillow's xmp= is not)
    image_module.fromarray(np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(
        src, **({"pnginfo": text} if source == "png" else {"xmp": xmp}))
    for out in ("jpg", "png", "webp", "tif"):
        code, _, err = run([str(src), "-o", str(tmp_path / f"out.{out}"), "--model", str(model)], capsys)
        assert code == 0, err
        with image_module.open(tmp_path / f"out.{out}") as written:
            found = written.tag_v2.get(700) if out == "tif" else written.info.get("xmp") or written.info.get(
                "XML:com.adobe.xmp")
        assert (found.encode() if isinstance(found, str) else found) == xmp, (source, out)
    with image_module.open(tmp_path / "out.png") as written:  # once, as an iTXt
        written.load()
        assert [k for k in written.text if k == "XML:com.adobe.xmp"] == ["XML:com.adobe.xmp"]


def test_an_avifs_rotation_boxes_and_colour_profile_are_read_and_an_avif_or_jxl_output_is_upright(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OpenCV's libavif decoder hands on an AVIF's pixels as stored, ignoring its ``irot``/``imir``
    boxes (which browsers show it by, and avifenc and Pillow write a rotated JPEG's orientation as):
    such a photo was upscaled, and came out, on its side; nor does it read an AVIF's ICC profile.
    And an AVIF output, or a JPEG XL one, whose viewers ignore EXIF orientation, held no metadata,
    or the pixels as stored with an EXIF orientation no viewer applies: now upright, orientation 1."""
    image_module = pytest.importorskip("PIL.Image")
    if not pytest.importorskip("PIL.features").check("avif"):
        pytest.skip("this Pillow writes no AVIF")
    import importlib.util

    from srstream.engine.stills import read_still_with_metadata, upright

    picture = np.random.default_rng(3).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        exif = image_module.Exif()
        exif[0x0112] = orientation
        image_module.fromarray(picture).save(tmp_path / f"o{orientation}.avif", exif=exif.tobytes(), quality=100)
        read, meta = read_still_with_metadata(tmp_path / f"o{orientation}.avif")
        with image_module.open(tmp_path / f"o{orientation}.avif") as stored:  # Pillow's decode: as stored
            shown = upright(np.asarray(stored.convert("RGB")), orientation)
        assert read.shape == shown.shape and np.abs(read.astype(int) - shown).max() <= 2, orientation
        assert meta.orientation == 1
    cms = pytest.importorskip("PIL.ImageCms")
    profile = cms.ImageCmsProfile(cms.createProfile("sRGB")).tobytes()
    exif = image_module.Exif()
    exif[0x0112], exif[0x010F] = 6, "Phone"  # shown turned a quarter clockwise
    image_module.fromarray(picture).save(tmp_path / "turned.jpg", exif=exif.tobytes(), icc_profile=profile,
                                         quality=95)
    for out in ("avif", "jxl"):
        if out == "jxl" and importlib.util.find_spec("pillow_jxl") is None:
            continue
        code, _, err = run([str(tmp_path / "turned.jpg"), "-o", str(tmp_path / f"turned.{out}"), "--model",
                            str(model)], capsys)
        assert code == 0, err
        read, meta = read_still_with_metadata(tmp_path / f"turned.{out}")
        assert read.shape[:2] == (24, 16) and meta.orientation == 1, out  # upright: 8x12 turned, x2
        with image_module.open(tmp_path / f"turned.{out}") as written:
            assert written.getexif().get(0x010F) == "Phone", out
        with image_module.open(tmp_path / "turned.jpg") as source:
            carried = source.info["icc_profile"]
        if out == "avif":  # (a JPEG XL output's colours are sRGB's, and it holds none)
            assert dict(meta.chunks)[cv2.IMAGE_METADATA_ICCP] == carried


def test_a_stereo_mpos_second_eye_is_upscaled_too(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A stereo camera's 3D photo (Fujifilm W3, Nintendo 3DS: an .mpo, a Multi-Picture JPEG with
    the other eye behind the first) was taken for a video and came out as a one-frame .mkv; named
    .jpg, its other eye was left out and it came out flat. Both eyes are upscaled by the model, into
    an .mpo. OpenCV also read every APP2 segment, the MPF index among them, as the ICC profile: the
    damaged profile went into the output (a PNG's refused it and lost all its metadata)."""
    from srstream.engine.stills import jpeg_icc, read_still_with_metadata

    eye = _ultra_hdr(tmp_path / "3D.jpg", kind=0x020002)  # its second picture: the other eye
    (tmp_path / "DSCF0001.MPO").write_bytes((tmp_path / "3D.jpg").read_bytes())
    for name in ("DSCF0001.MPO", "3D.jpg"):
        code, _, err = run([str(tmp_path / name), "--model", str(model), "--backend", "ort", "--precision", "fp32"],
                           capsys)
        assert code == 0, err
    out = tmp_path / "DSCF0001_x2.MPO"
    assert out.read_bytes() == (tmp_path / "3D_x2.jpg").read_bytes()  # a JPEG by another name
    first, second = _pictures(out)
    assert cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_UNCHANGED).shape == (24, 32, 3)
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.upscaler import FrameUpscaler

    spec = read_onnx_spec(model)
    seen = cv2.imdecode(np.frombuffer(eye, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    upscaled = FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0).upscale(np.ascontiguousarray(seen))
    written = cv2.imdecode(np.frombuffer(second, np.uint8), cv2.IMREAD_COLOR)
    encoded = cv2.imencode(".jpg", np.ascontiguousarray(upscaled[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
    assert written.shape == (12, 16, 3) and np.array_equal(written, cv2.imdecode(encoded, cv2.IMREAD_COLOR))
    assert b'hdrgm:GainMapMax="2.0"' in second  # its own XMP
    assert "views of their own" not in caplog.text
    code, _, err = run([str(tmp_path / "DSCF0001.MPO"), "-o", str(tmp_path / "flat.png"), "--model", str(model)],
                       capsys)
    assert code == 0 and "further views (a stereo camera's other eye" in caplog.text
    assert "does not fit" not in caplog.text  # the MPF index is no ICC profile
    # an MPO with a profile: the profile alone is read, not the MPF index before it
    from PIL import Image, ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "pair.mpo", save_all=True, icc_profile=profile,
                                                           append_images=[Image.new("RGB", (8, 8), (160,) * 3)])
    assert jpeg_icc((tmp_path / "pair.mpo").read_bytes()) == profile
    assert dict(read_still_with_metadata(tmp_path / "pair.mpo")[1].chunks)[cv2.IMAGE_METADATA_ICCP] == profile


def test_the_exif_size_of_the_picture_is_the_upscaled_one(tmp_path: Path, model: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A camera's EXIF records the picture's size (PixelXDimension, PixelYDimension); it came out
    saying the size before the upscale (photo managers and ExifTool showed that), in every format."""
    image_module = pytest.importorskip("PIL.Image")
    exif = image_module.Exif()
    exif[0x010F] = "Phone"
    exif.get_ifd(0x8769).update({0xA002: 24, 0xA003: 16})
    image_module.fromarray(np.zeros((16, 24, 3), np.uint8)).save(tmp_path / "photo.jpg", exif=exif.tobytes())
    for out in ("jpg", "png", "webp", "tif"):
        code, _, err = run([str(tmp_path / "photo.jpg"), "-o", str(tmp_path / f"big.{out}"), "--model", str(model)],
                           capsys)
        assert code == 0, err
        with image_module.open(tmp_path / f"big.{out}") as written:
            assert written.size == (48, 32) and written.getexif().get(0x010F) == "Phone"
            assert dict(written.getexif().get_ifd(0x8769)) == {0xA002: 48, 0xA003: 32}, out


@pytest.mark.parametrize("kind", ["MotionPhoto", "MicroVideo", "Samsung"])
def test_a_motion_photos_video_stays_behind_its_upscaled_picture(tmp_path: Path, model: Path, kind: str,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A Pixel's (or a recent Samsung's) motion photo is a JPEG with its few seconds of video behind
    it, placed by its XMP; OpenCV reads the picture alone, and the upscaled photo lost the video with
    its XMP still saying it was there. A JPEG output ends with the video as it was; another says it
    is the still picture."""
    from tests.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", frames=4).read_bytes()
    ok, photo = cv2.imencode(".jpg", np.random.default_rng(4).integers(0, 256, (12, 16, 3)).astype(np.uint8))
    if kind == "MotionPhoto":
        description = (b'GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1"><Container:Directory><rdf:Seq>'
                       b'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" '
                       b'Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li><rdf:li '
                       b'rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" '
                       b'Item:Length="%d" Item:Padding="0"/></rdf:li></rdf:Seq></Container:Directory>' % len(clip))
    elif kind == "MicroVideo":  # the older Micro Video: the video's offset from the file's end
        description = b'GCamera:MicroVideo="1" GCamera:MicroVideoOffset="%d">' % len(clip)
    else:  # a Samsung's SEF trailer: the video as a field, placed by its distance back from the SEFH directory
        import struct

        description = b'GCamera:MotionPhoto="1">'
        field = b"\0\0\x30\x0a" + struct.pack("<I", 16) + b"MotionPhoto_Data" + clip
        directory = b"SEFH" + struct.pack("<III", 106, 1, 0x0A300000) + struct.pack("<II", len(field), len(field))
        clip = field + directory + struct.pack("<I", len(directory)) + b"SEFT"
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description ' + description
           + b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    (tmp_path / "PXL_MP.jpg").write_bytes(photo.tobytes()[:20] + _app1(_XMP + xmp) + photo.tobytes()[20:] + clip)
    code, _, err = run([str(tmp_path / "PXL_MP.jpg"), "--model", str(model)], capsys)
    assert code == 0, err
    out = (tmp_path / "PXL_MP_x2.jpg").read_bytes()
    assert out.endswith(clip) and (kind == "Samsung" or b'="%d"' % len(clip) in out)  # where its XMP says
    assert cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR).shape == (24, 32, 3)
    code, _, err = run([str(tmp_path / "PXL_MP.jpg"), "--ext", "png", "--model", str(model)], capsys)
    assert code == 0 and "a motion photo, whose video is carried into a .jpg output only" in caplog.text


def test_an_ultra_hdr_photo_without_its_extension_or_piped_in_is_a_picture(tmp_path: Path, model: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """FFmpeg reads a JPEG with pictures behind it (an Ultra HDR photo's gain map, an .mpo's other
    eye) as an MJPEG stream of them: without its extension, or piped in, such a photo was taken for a
    video (refused into a .jpg: "the input is a video"). A camera's MJPEG stream stays a video."""
    import os
    import subprocess
    import sys

    _ultra_hdr(tmp_path / "PXL_1.jpg")
    (tmp_path / "PXL_1").write_bytes((tmp_path / "PXL_1.jpg").read_bytes())
    code, _, err = run([str(tmp_path / "PXL_1"), "-o", str(tmp_path / "named.jpg"), "--model", str(model)], capsys)
    assert code == 0, err
    assert len(_pictures(tmp_path / "named.jpg")) == 2  # the gain map behind it
    r = subprocess.run([sys.executable, "-m", "srstream", "-", "-o", "piped.jpg", "--model", str(model)],
                       input=(tmp_path / "PXL_1.jpg").read_bytes(), cwd=tmp_path, capture_output=True, timeout=120,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr.decode()
    assert _pictures(tmp_path / "piped.jpg") == _pictures(tmp_path / "named.jpg")
    ok, frame = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "camera").write_bytes(frame.tobytes() * 3)  # three frames of a raw MJPEG stream
    from srstream.engine.media import probe

    assert probe(tmp_path / "camera").kind == "video"


@pytest.mark.parametrize("kind", ["avif", "heic"])
def test_an_avif_or_heic_without_its_extension_is_a_picture(tmp_path: Path, model: Path, kind: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """FFmpeg opens an AVIF's or a HEIC's items with its MP4 demuxer: piped in (``curl ... | sr-stream -``)
    or saved without its extension, such a picture was taken for a video and refused into a .png. The
    ``ftyp`` brands tell it; an .mp4 under another name stays a video."""
    from srstream.engine.media import probe
    from srstream.engine.stills import read_still
    from tests.conftest import write_video

    picture = np.dstack([np.tile(np.arange(24, dtype=np.uint8) * 10, (16, 1))] * 3)
    if kind == "heic":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.from_bytes(mode="RGB", size=(24, 16), data=picture.tobytes()).save(tmp_path / "a.heic",
                                                                                      quality=-1)
    else:
        assert cv2.imwrite(str(tmp_path / "a.avif"), picture)
    (tmp_path / "download").write_bytes((tmp_path / f"a.{kind}").read_bytes())
    assert probe(tmp_path / "download").kind == "image"
    code, _, err = run([str(tmp_path / "download"), "-o", str(tmp_path / "out.png"), "--model", str(model)], capsys)
    assert code == 0, err
    code, _, err = run([str(tmp_path / f"a.{kind}"), "-o", str(tmp_path / "named.png"), "--model", str(model)],
                       capsys)
    assert code == 0, err
    assert np.array_equal(read_still(tmp_path / "out.png"), read_still(tmp_path / "named.png"))
    (tmp_path / "clip.bin").write_bytes(write_video(tmp_path / "clip.mp4").read_bytes())
    assert probe(tmp_path / "clip.bin").kind == "video"


def test_a_gif_of_one_frame_is_a_picture_into_another_format(tmp_path: Path, model: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A static GIF (a web picture, a sticker) with ``-o NAME.png`` or ``--ext png`` was refused:
    "the input is a video, and the output's extension is an image format". It is upscaled as the
    picture it is, its transparency kept where the format holds it; an animated GIF into a format of
    one picture is refused naming the formats that hold it."""
    image_module = pytest.importorskip("PIL.Image")
    from srstream.engine.stills import read_still

    index = np.ones((16, 24), np.uint8)
    index[:, :8] = 0  # transparent
    still = image_module.fromarray(index, "P")
    still.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    still.save(tmp_path / "sticker.gif", transparency=0)
    for argv, out in ((["-o", str(tmp_path / "big.png")], "big.png"), (["--ext", "png"], "sticker_x2.png"),
                      (["-o", str(tmp_path / "big.jpg")], "big.jpg")):
        code, _, err = run([str(tmp_path / "sticker.gif"), *argv, "--model", str(model)], capsys)
        assert code == 0, err
        written = read_still(tmp_path / out)
        assert written.shape == ((32, 48, 4) if out.endswith(".png") else (32, 48, 3)), out
        if out.endswith(".png"):
            assert (written[:, :14, 3] == 0).all() and (written[:, 18:, 3] == 255).all()
    frames = [image_module.fromarray(np.full((16, 24, 3), v, np.uint8)) for v in (0, 120, 240)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    code, _, err = run([str(tmp_path / "anim.gif"), "-o", str(tmp_path / "anim.png"), "--model", str(model)], capsys)
    assert code == 2 and "an animated GIF of 3 frames, and .png holds one picture" in err and ".apng" in err
    assert not (tmp_path / "anim.png").exists()


def test_a_drawing_or_document_says_to_render_it_and_an_undecodable_format_says_so(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An SVG logo was "not a readable image (empty, truncated or damaged: Decoder not found)": FFmpeg
    knows SVG and this build has no decoder. A drawing scales without loss when rendered; the run
    says how. A format FFmpeg knows and cannot decode, under any name, says that, not "damaged"."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20"/></svg>'
    (tmp_path / "logo.svg").write_bytes(svg)
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    for name, how in (("logo.svg", "rsvg-convert -w 2000 logo.svg"), ("report.pdf", "pdftoppm -r 300 -png")):
        code, _, err = run([str(tmp_path / name), "--model", str(model)], capsys)
        assert code == 3 and "is a drawing or document" in err and how in err, err
    (tmp_path / "logo").write_bytes(svg)
    code, _, err = run([str(tmp_path / "logo"), "-o", str(tmp_path / "logo.png"), "--model", str(model)], capsys)
    assert code == 3 and "in a format this FFmpeg build has no decoder for" in err and "damaged" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logo", "logo.svg", "net.onnx", "report.pdf"]
