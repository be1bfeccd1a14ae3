"""The CUDA frame kernels against the numpy references (device buffers from torch CUDA tensors).

They run where the CUDA kernels were built, torch has CUDA and a GPU is visible; elsewhere they
skip with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from srstream.engine import kernels as K
from srstream.engine import kernels_ref as R
from srstream.tiling import blend_tiles as blend_reference
from srstream.tiling import plan_tiles

pytestmark = pytest.mark.gpu


@pytest.fixture
def cuda(cuda_kernels):  # noqa: ANN001, ANN201 - the shared fixture (tests/conftest.py) under this file's name
    return cuda_kernels


REALS = (np.float32, np.float16, K.BFLOAT16)


def _device(torch, array: np.ndarray):
    return torch.from_numpy(np.array(array, order="C")).cuda()  # a writable copy: torch warns on read-only arrays


def _close(got: np.ndarray, want: np.ndarray, real) -> None:
    if real is np.float32:  # the GPU may round a product differently only through FMA; we forbid it
        np.testing.assert_array_equal(got, want)
    else:
        assert np.abs(got.view(np.int16).astype(np.int32) - want.view(np.int16).astype(np.int32)).max() <= 1


@pytest.mark.parametrize("shape", ((1, 1), (7, 5), (37, 61), (64, 48)))
@pytest.mark.parametrize("channels", (1, 3, 4))
@pytest.mark.parametrize("sample", (np.uint8, np.uint16))
def test_cuda_pack_matches_reference(cuda, shape, channels, sample):
    torch, k = cuda
    rng = np.random.default_rng(0)
    h, w = shape
    frame = rng.integers(0, np.iinfo(sample).max + 1, (h, w, channels), dtype=sample)
    origins = np.array([(0, 0), (max(0, h - 8), max(0, w - 8)), (h, w + 1)], np.int32)
    dev_frame = _device(torch, frame.view(np.int16) if sample == np.uint16 else frame)
    dev_origins = _device(torch, origins)
    for mode in K.PackMode:
        for real in REALS:
            want = K.pack_tiles_reference(frame, origins, 12, 20, mode, real, 2.0, -1.0)
            out = torch.empty(want.shape, dtype={np.float32: torch.float32, np.float16: torch.float16}.get(
                real, torch.int16), device="cuda")
            k.pack_tiles(dev_frame.data_ptr(), frame.shape, sample, w * channels, dev_origins.data_ptr(),
                         len(origins), 12, 20, mode, out.data_ptr(), real, 2.0, -1.0)
            torch.cuda.synchronize()
            got = out.cpu().numpy()
            _close(got.view(want.dtype), want, real)


@pytest.mark.parametrize("shape", ((1, 1), (7, 5), (37, 61)))
@pytest.mark.parametrize("channels", (1, 3))
def test_cuda_unpack_matches_reference(cuda, shape, channels):
    torch, k = cuda
    rng = np.random.default_rng(1)
    h, w = shape
    for real in REALS:
        planes = R._to_real(rng.uniform(-0.1, 1.1, (channels, h, w)).astype(np.float32), R._real(real))
        dev = _device(torch, planes.view(np.int16) if planes.dtype == np.uint16 else planes)
        for sample in (np.uint8, np.uint16):
            want = K.unpack_reference(planes, sample, real, 0.5, 0.25)
            out = torch.zeros((h, w, channels), dtype=torch.uint8 if sample == np.uint8 else torch.int16,
                              device="cuda")
            k.unpack(dev.data_ptr(), real, planes.shape, h * w, w, out.data_ptr(), channels, sample, w * channels,
                     0.5, 0.25)
            torch.cuda.synchronize()
            np.testing.assert_array_equal(out.cpu().numpy().view(sample), want)


def test_cuda_blend_matches_reference(cuda):
    torch, k = cuda
    rng = np.random.default_rng(2)
    plan = plan_tiles(37, 53, tile=16, overlap=4, scale=2, margin=3)
    th, tw = plan.tile_shape
    tiles = rng.uniform(0, 1, (len(plan), 3, th * 2, tw * 2)).astype(np.float32)
    tables = [_device(torch, t) for t in K.blend_tables(plan)]
    out = torch.empty((3, *plan.output_shape), dtype=torch.float32, device="cuda")
    dev_tiles = _device(torch, tiles)
    k.blend_tiles(dev_tiles.data_ptr(), np.float32, tiles.shape, [t.data_ptr() for t in tables], 2, out.data_ptr(),
                  plan.output_shape)
    torch.cuda.synchronize()
    np.testing.assert_array_equal(out.cpu().numpy(), blend_reference(tiles, plan))


@pytest.mark.parametrize("shape", ((1, 1), (7, 5), (37, 61)))
@pytest.mark.parametrize("matrix", (K.BT601, K.BT709))
def test_cuda_yuv420_kernels_match_reference(cuda, shape, matrix):
    torch, k = cuda
    rng = np.random.default_rng(3)
    h, w = shape
    ch, cw = (h + 1) // 2, (w + 1) // 2
    y = rng.integers(0, 256, (h, w), dtype=np.uint8)
    u, v = (rng.integers(0, 256, (ch, cw), dtype=np.uint8) for _ in range(2))
    origins = np.array([(0, 0), (h, w + 1)], np.int32)
    dev = [_device(torch, p) for p in (y, u, v)]
    dev_origins = _device(torch, origins)
    for mode in (K.PackMode.RGB, K.PackMode.LUMA):
        want = K.pack_tiles_yuv420_reference(y, u, v, matrix, origins, 9, 11, mode)
        out = torch.empty(want.shape, dtype=torch.float32, device="cuda")
        k.pack_tiles_yuv420([p.data_ptr() for p in dev], (w, cw), (h, w), matrix, dev_origins.data_ptr(), 2, 9, 11,
                            mode, out.data_ptr(), np.float32)
        torch.cuda.synchronize()
        np.testing.assert_array_equal(out.cpu().numpy(), want)
    planes = rng.uniform(-0.1, 1.1, (3, h, w)).astype(np.float32)
    want = K.unpack_yuv420_reference(planes, matrix)
    outs = [torch.zeros(p.shape, dtype=torch.uint8, device="cuda") for p in want]
    k.unpack_yuv420(_device(torch, planes).data_ptr(), np.float32, (h, w), h * w, w, [o.data_ptr() for o in outs],
                    (w, cw), matrix)
    torch.cuda.synchronize()
    for got, exp in zip(outs, want):
        np.testing.assert_array_equal(got.cpu().numpy(), exp)

