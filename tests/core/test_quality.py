"""MATLAB-compatible bicubic and the Y-channel PSNR/SSIM protocol, pinned to published numbers."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from srstream.imresize import bicubic_degrade, bicubic_upscale, cubic, imresize, resize_matrix
from srstream.metrics import crop_border, psnr, psnr_y, rgb_to_y, ssim, ssim_y
from tests.conftest import shared_data


def test_cubic_kernel_values() -> None:
    np.testing.assert_allclose(cubic(np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])),
                               [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0])


@pytest.mark.parametrize(("n", "scale"), [(10, 0.5), (9, 0.25), (7, 2.0), (5, 3.0), (33, 1 / 3)])
def test_resize_rows_are_normalised_and_constants_survive(n: int, scale: float) -> None:
    m = resize_matrix(n, int(np.ceil(n * scale - 1e-9)), scale)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(imresize(np.full((n, n, 3), 77.0), scale), 77.0)


def test_resize_is_mirror_symmetric() -> None:
    ramp = np.arange(20, dtype=np.float64)[None, :].repeat(4, 0) ** 1.5
    down = imresize(ramp, 0.5)
    np.testing.assert_allclose(imresize(ramp[:, ::-1], 0.5), down[:, ::-1], atol=1e-9)


def test_upscale_by_one_is_identity() -> None:
    image = np.random.default_rng(0).random((6, 5, 3)) * 255
    np.testing.assert_allclose(imresize(image, 1.0), image, atol=1e-9)


@pytest.mark.parametrize("shape, scale, kernel", [((300, 260), 0.5, "cubic"), ((200, 130, 3), 1 / 3, "cubic"),
                                                  ((70, 150), 2.0, "cubic"), ((90, 40, 3), 4.0, "lanczos3")])
def test_banded_resize_equals_the_dense_matrix_product(shape: tuple[int, ...], scale: float, kernel: str) -> None:
    """Each axis is multiplied block by block over its band of weights; the result must be the
    dense product's, at the borders (mirrored) too."""
    image = np.random.default_rng(5).uniform(0, 255, shape)
    dense = image
    for axis in (0, 1):
        n = dense.shape[axis]
        m = resize_matrix(n, math.ceil(n * scale - 1e-9), scale, True, kernel)
        dense = np.moveaxis(np.tensordot(m, np.moveaxis(dense, axis, 0), axes=1), 0, axis)
    np.testing.assert_allclose(imresize(image, scale, kernel=kernel), dense, rtol=0, atol=1e-9)


def test_downscale_antialiases() -> None:
    """Stripes at 0.4 cycles/pixel are above the Nyquist limit of a x0.5 image: MATLAB's
    widened kernel mostly removes them, a plain cubic kernel aliases them into the output."""
    stripes = np.cos(2 * np.pi * 0.4 * np.arange(64))[None, :].repeat(8, 0) * 100 + 128
    smooth = imresize(stripes, 0.5)[:, 4:-4]
    aliased = imresize(stripes, 0.5, antialias=False)[:, 4:-4]
    assert smooth.std() < 0.3 * aliased.std()


def test_degrade_crops_to_a_multiple_and_rounds() -> None:
    hr = np.random.default_rng(0).integers(0, 256, (35, 22, 3), dtype=np.uint8)
    lr = bicubic_degrade(hr, 4)
    assert lr.shape == (8, 5, 3) and lr.dtype == np.uint8
    assert bicubic_upscale(lr, 4).shape == (32, 20, 3)


def test_psnr_ssim_basics() -> None:
    a = np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8).astype(np.float64)
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255**2))
    assert ssim(a, 255 - a) < 0.1
    with pytest.raises(ValueError, match="differently shaped"):
        psnr(a, a[1:])


def test_y_channel_matches_bt601_and_rounds() -> None:
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [10, 200, 30]]], dtype=np.uint8)
    expected = np.floor(16 + rgb / 255.0 @ np.array([65.481, 128.553, 24.966]) + 0.5)
    np.testing.assert_array_equal(rgb_to_y(rgb), expected[0] if expected.ndim == 3 else expected)
    np.testing.assert_array_equal(rgb_to_y(rgb)[0, :2], [235, 16])
    with pytest.raises(ValueError, match="uint8"):
        rgb_to_y(rgb.astype(np.float32))
    assert crop_border(np.zeros((10, 12)), 2).shape == (6, 8)


def _load_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


PUBLISHED = [  # dataset, scale, bicubic Y-PSNR, Y-SSIM (README of the shared data set; x2 of Set14 and
    # BSD100 from VDSR, Kim et al. 2016, Table 2)
    ("Set5", 2, 33.66, 0.9299),
    ("Set5", 4, 28.42, 0.8104),
    ("Set14", 2, 30.24, 0.8688),
    ("Set14", 4, 26.00, 0.7027),
    ("BSD100", 2, 29.56, 0.8431),
    ("BSD100", 4, 25.96, 0.6675),
]


@pytest.mark.data
@pytest.mark.parametrize(("dataset", "scale", "psnr_ref", "ssim_ref"), PUBLISHED)
def test_bicubic_reproduces_published_numbers(dataset: str, scale: int, psnr_ref: float, ssim_ref: float) -> None:
    root = shared_data()
    if root is None or not (root / "val" / dataset).is_dir():
        pytest.skip(f"benchmark set {dataset} not found (set SRSTREAM_DATA or ../shared/data)")
    psnrs, ssims = [], []
    for path in sorted((root / "val" / dataset).iterdir()):
        hr = _load_rgb(path)
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        sr = bicubic_upscale(bicubic_degrade(hr, scale), scale)
        psnrs.append(psnr_y(sr, hr, scale))
        ssims.append(ssim_y(sr, hr, scale))
    assert abs(np.mean(psnrs) - psnr_ref) <= 0.02
    assert abs(np.mean(ssims) - ssim_ref) <= 0.001
