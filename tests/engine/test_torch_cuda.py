"""The torch backend's CUDA device paths (frames packed, blended and finished on the GPU by the
CUDA frame kernels) against the same backend with those paths off (packed and finished on the
CPU). They run where torch sees a GPU and the CUDA kernels are built; elsewhere they skip.
"""

from __future__ import annotations

import numpy as np
import pytest

from srstream.engine import kernels as K
from srstream.engine.models import resolve_model
from srstream.engine.upscaler import FrameUpscaler

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def backends(cuda_kernels):  # noqa: ANN001
    from srstream.engine.backends.torch_backend import TorchBackend, TorchOptions

    model = resolve_model("realtime-x2")
    device = TorchBackend(model.spec, model.path, "fp32", TorchOptions(device="cuda"))
    host = TorchBackend(model.spec, model.path, "fp32", TorchOptions(device="cuda"))
    host._kernels = False  # the same network on the GPU, packed and finished on the CPU
    yield model, device, host
    device.close()
    host.close()


def _frame(h: int, w: int, c: int, dtype=np.uint8) -> np.ndarray:
    peak = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(h * w + c)
    base = np.stack([(xx * 5 + yy * 3) % 97 / 97, (yy * 7) % 61 / 61, np.sin(xx / 9.0) * 0.5 + 0.5,
                     (xx + yy) % 13 / 13][:c], -1)
    noisy = base + rng.normal(0, 0.05, base.shape)
    return np.clip(noisy * peak, 0, peak).astype(dtype)


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


@pytest.mark.parametrize("tile", (0, 48))
@pytest.mark.parametrize("shape", ((90, 160, 3), (37, 61, 4), (64, 64, 1)))
def test_device_path_matches_host_path(backends, shape, tile):
    model, device, host = backends
    frame = _frame(*shape)
    got = FrameUpscaler(device, model.spec, tile).upscale(frame)
    want = FrameUpscaler(host, model.spec, tile).upscale(frame)
    assert got.shape == (shape[0] * 2, shape[1] * 2, shape[2])
    assert _max_diff(got, want) <= 1


def test_device_path_16_bit(backends):
    model, device, host = backends
    frame = _frame(50, 70, 3, np.uint16)
    got = FrameUpscaler(device, model.spec, 0).upscale(frame)
    want = FrameUpscaler(host, model.spec, 0).upscale(frame)
    assert got.dtype == np.uint16
    assert _max_diff(got, want) <= 257


def test_device_path_tiles_match_whole_frame(backends):
    model, device, _ = backends
    frame = _frame(120, 200, 3)
    whole = FrameUpscaler(device, model.spec, 0).upscale(frame)
    tiled = FrameUpscaler(device, model.spec, 48).upscale(frame)
    assert _max_diff(whole, tiled) <= 1


@pytest.mark.parametrize("tile", (0, 48))
def test_device_yuv420_matches_host_path(backends, tile):
    model, device, host = backends
    rgb = _frame(90, 160, 3)
    import cv2

    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)  # Y, then U, then V, each contiguous
    y, u, v = i420[:14400].reshape(90, 160), i420[14400:18000].reshape(45, 80), i420[18000:].reshape(45, 80)
    got = FrameUpscaler(device, model.spec, tile).upscale_yuv420(y, u, v, K.BT601)
    want = FrameUpscaler(host, model.spec, tile).upscale_yuv420(y, u, v, K.BT601)
    assert got.shape == (180 * 3 // 2, 320)
    assert _max_diff(got, want) <= 1


def test_fp16_device_path_close_to_fp32(backends):
    model, _, host = backends
    from srstream.engine.backends.torch_backend import TorchBackend, TorchOptions

    frame = _frame(72, 128, 3)
    with TorchBackend(model.spec, model.path, "fp16", TorchOptions(device="cuda")) as half:
        got = FrameUpscaler(half, model.spec, 0).upscale(frame)
    want = FrameUpscaler(host, model.spec, 0).upscale(frame)
    assert _max_diff(got, want) <= 3
