"""JPEG XL pictures (pillow-jxl-plugin): read and written with their metadata, a JPEG inside kept
as that JPEG, animations and missing packages refused before any work.

Before: FFmpeg found the file (its ``jpegxl_pipe`` demuxer) and no decoder, and the run said the
picture was "empty, truncated or damaged"; ``-o out.jxl`` was an unknown extension."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.onnx_models import write_conv_net

pillow_jxl = pytest.importorskip("pillow_jxl", reason="JPEG XL is read and written with pillow-jxl-plugin")

#: An animated JPEG XL of three 80x64 frames (libjxl through imagecodecs 2026.3.6, lossless): 67 bytes.
ANIMATION = bytes.fromhex(
    "ff0a8f054d002026080401001c004b188b158203000804010044004b188b15801dfeff000010ca00ace6220108040500"
    "44004b188b15805dfeff000012ca00c48e4202")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)


def upscale_cli(src: Path, out: Path, model: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """``sr-stream SRC -o OUT`` with ``model`` on ONNX Runtime fp32: the exit code and what it printed."""
    from srstream import cli

    code = cli.main([str(src), "-o", str(out), "--model", str(model), "--backend", "ort", "--precision", "fp32",
                     *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _exif(orientation: int) -> bytes:
    """A minimal EXIF block (little-endian TIFF): IFD0 holding the orientation alone."""
    return b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0" + orientation.to_bytes(2, "little") + bytes(6)


def _jxl(path: Path, image: np.ndarray, **metadata: bytes) -> Path:
    mode = {(1, "uint16"): "I;16", (1, "uint8"): "L", (3, "uint8"): "RGB", (4, "uint8"): "RGBA"}[
        (image.shape[2], image.dtype.name)]
    path.write_bytes(pillow_jxl.Encoder(mode, lossless=True)(image.astype("<u2" if image.dtype == np.uint16 else
                                                                          np.uint8).tobytes(),
                                                             image.shape[1], image.shape[0], False, **metadata))
    return path


def _expected(model: Path, picture: np.ndarray) -> np.ndarray:
    """The engine's own upscale of ``picture`` (ONNX Runtime fp32, as :func:`upscale_cli` runs it)."""
    from srstream.engine.backends import backend_def
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.upscaler import FrameUpscaler

    spec = read_onnx_spec(model)
    return FrameUpscaler(backend_def("ort").open(spec, model, "fp32"), spec, 0).upscale(picture)


def _gradient(channels: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[0:16, 0:24]
    planes = [xx * 10, yy * 15, (xx + yy) * 6, np.full_like(xx, 180)]
    return np.dstack(planes[:channels]).astype(np.uint8)


def test_jpeg_xl_pictures_are_upscaled_into_jpeg_xl_with_their_exif_and_xmp(tmp_path: Path, model: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from srstream.engine.stills import read_still_with_metadata, write_still

    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    exif = b"\0\0\0\0" + _exif(1)  # the Exif box: its offset to the TIFF header, then the header
    for name, image in (("photo", _gradient()), ("cutout", _gradient(4)),
                        ("scan", (_gradient(1).astype(np.uint16) * 257 + 3))):
        src = _jxl(tmp_path / f"{name}.jxl", image, exif=exif, xmp=xmp)
        read, meta = read_still_with_metadata(src)
        assert np.array_equal(read, image)
        expected = _expected(model, read)
        code, said = upscale_cli(src, tmp_path / f"{name}_x2.jxl", model, capsys)
        assert code == 0, said
        written, kept = read_still_with_metadata(tmp_path / f"{name}_x2.jxl")
        assert written.shape == expected.shape and written.dtype == image.dtype
        write_still(tmp_path / "expected.jxl", expected, metadata=meta)  # the upscale as the encoder gives it back
        assert np.array_equal(written, read_still_with_metadata(tmp_path / "expected.jxl")[0])
        chunks = dict(kept.chunks)
        assert chunks[cv2.IMAGE_METADATA_EXIF] == _exif(1) and chunks[cv2.IMAGE_METADATA_XMP] == xmp
        # into a PNG: exactly the upscale, the EXIF and XMP as they were
        code, said = upscale_cli(src, tmp_path / f"{name}_x2.png", model, capsys)
        assert code == 0, said
        png, kept = read_still_with_metadata(tmp_path / f"{name}_x2.png")
        assert np.array_equal(png, expected)
        assert dict(kept.chunks)[cv2.IMAGE_METADATA_EXIF] == _exif(1)
        assert dict(kept.chunks)[cv2.IMAGE_METADATA_XMP] == xmp
    # --quality 100: lossless, the upscale exactly
    code, said = upscale_cli(tmp_path / "scan.jxl", tmp_path / "exact.jxl", model, capsys, "--quality", "100")
    assert code == 0, said
    assert np.array_equal(read_still_with_metadata(tmp_path / "exact.jxl")[0],
                          read_still_with_metadata(tmp_path / "scan_x2.png")[0])


def test_a_jpeg_kept_in_a_jpeg_xl_is_read_as_that_jpeg_and_any_name_is_read_by_content(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``cjxl photo.jpg photo.jxl`` stores the JPEG losslessly: it is read back bit for bit, with
    what the JPEG said (stored lossily); a JPEG XL without the extension is still one."""
    from srstream.engine.stills import read_still_with_metadata

    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(_gradient(), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
    src = tmp_path / "photo.jxl"
    src.write_bytes(pillow_jxl.Encoder("RGB", lossless=True)(jpeg.tobytes(), 24, 16, True))
    read, meta = read_still_with_metadata(src)
    assert np.array_equal(read, cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    assert meta.lossy
    (tmp_path / "download").write_bytes(_jxl(tmp_path / "plain.jxl", _gradient()).read_bytes())
    code, said = upscale_cli(tmp_path / "download", tmp_path / "download.png", model, capsys)
    assert code == 0, said
    assert np.array_equal(read_still_with_metadata(tmp_path / "download.png")[0], _expected(model, _gradient()))


def test_a_wide_gamut_jpeg_xl_output_is_converted_to_srgb_as_the_plugin_writes_no_profile(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """pillow-jxl-plugin writes no ICC profile: a picture in another profile's colours is converted
    into sRGB (here a profile with red and green swapped: red becomes green); sRGB's is left as it is."""
    from PIL import Image, ImageCms

    from srstream.engine.stills import read_still_with_metadata

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    swapped = bytearray(srgb.replace(b"\0s\0R\0G\0B", b"\0w\0i\0d\0e"))  # its name, "wide built-in"
    swapped[460:480], swapped[500:520] = swapped[500:520], swapped[460:480]  # its rXYZ and gXYZ tags' values
    red = np.zeros((16, 24, 3), np.uint8)
    red[..., 0] = 255
    for name, profile in (("wide", bytes(swapped)), ("plain", srgb)):
        caplog.clear()
        Image.fromarray(red).save(tmp_path / f"{name}.png", icc_profile=profile)
        code, said = upscale_cli(tmp_path / f"{name}.png", tmp_path / f"{name}.jxl", model, capsys, "--quality", "100")
        assert code == 0, said
        shown, upscaled = read_still_with_metadata(tmp_path / f"{name}.jxl")[0], _expected(model, red)
        if name == "wide":
            assert "converted from its ICC profile (wide built-in) to sRGB" in caplog.text
            assert np.array_equal(shown, upscaled[..., [1, 0, 2]])  # its red shown as sRGB's green, and so on
        else:
            assert "converted" not in caplog.text and np.array_equal(shown, upscaled)
    with Image.open(io.BytesIO((tmp_path / "wide.png").read_bytes())) as kept:  # the input is as it was
        assert kept.info["icc_profile"] == bytes(swapped)


def test_animated_jpeg_xl_and_missing_pillow_jxl_are_refused_before_the_work(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin decodes an animation's first frame alone: refused, not upscaled into a still."""
    (tmp_path / "anim.jxl").write_bytes(ANIMATION)
    code, said = upscale_cli(tmp_path / "anim.jxl", tmp_path / "anim.png", model, capsys)
    assert code == 3 and "is an animated JPEG XL" in said and "djxl anim.jxl anim.apng" in said
    _jxl(tmp_path / "a.jxl", _gradient())
    cv2.imwrite(str(tmp_path / "a.png"), _gradient())
    monkeypatch.setitem(sys.modules, "pillow_jxl", None)  # not installed
    for src, out in (("a.jxl", "b.png"), ("a.png", "b.jxl")):
        code, said = upscale_cli(tmp_path / src, tmp_path / out, model, capsys)
        assert code != 0 and "JPEG XL images need pillow-jxl-plugin: pip install 'sr-stream[jxl]'" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jxl", "a.png", "anim.jxl", "net.onnx"]


def test_a_truncated_jpeg_xl_is_an_input_error_that_says_so(tmp_path: Path, model: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The plugin's error asked the user to build libjxl from source in debug mode."""
    data = _jxl(tmp_path / "whole.jxl", np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    (tmp_path / "cut.jxl").write_bytes(data.read_bytes()[:len(data.read_bytes()) // 2])
    code, said = upscale_cli(tmp_path / "cut.jxl", tmp_path / "cut.png", model, capsys)
    assert code == 3 and "cut.jxl is not a readable JPEG XL image (truncated or damaged" in said
    assert "build" not in said and not (tmp_path / "cut.png").exists()
