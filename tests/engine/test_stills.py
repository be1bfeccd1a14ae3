"""Images, folders and globs through the CLI: format, bit depth, channels kept; failures reported."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from srstream import cli
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
    code, out, err = run([str(src), "--model", str(model)], capsys)
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
    code, out, err = run([str(folder), "--model", str(model)], capsys)
    assert code == 3 and "3 of 4 images" in out and "bad.png" in err
    assert sorted(p.name for p in (tmp_path / "shots_x2").iterdir()) == ["0.png", "1.png", "2.png"]


def test_glob_input(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"a{i}.png"), np.full((4, 4, 3), 10, np.uint8))
    cv2.imwrite(str(folder / "b.jpg"), np.full((4, 4, 3), 10, np.uint8))
    code, out, _ = run([str(folder / "a*.png"), "--model", str(model), "-o", str(tmp_path / "out")], capsys)
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a0.png", "a1.png"]


def test_unsupported_sample_type_is_an_input_error(tmp_path: Path, model: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "float.tiff"
    assert cv2.imwrite(str(src), np.zeros((4, 4, 3), np.float32))
    code, _, err = run([str(src), "--model", str(model)], capsys)
    assert code == 3 and "not supported" in err and not (tmp_path / "float_x2.tiff").exists()
