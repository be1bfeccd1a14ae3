"""The native frame kernels against their numpy references, for every compiled instruction set."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from srstream.engine import kernels as K
from srstream.engine import kernels_ref as R
from srstream.errors import KernelError
from srstream.tiling import blend_tiles as blend_reference
from srstream.tiling import plan_tiles

native = K._native
needs_native = pytest.mark.skipif(native is None, reason="native kernels not built (SRSTREAM_NATIVE=OFF install)")
REALS = (np.float32, np.float16, K.BFLOAT16)
SHAPES = ((1, 1), (2, 3), (7, 5), (33, 61), (64, 48), (121, 37))
MATRICES = (K.BT601, K.BT709, K.YuvMatrix(0.299, 0.114, True))


def isas() -> list[str]:
    if native is None:
        return []
    chosen = []
    for want in ("baseline", "avx2", "avx512"):
        got = native.select_isa(want)
        if got not in chosen:
            chosen.append(got)
    native.select_isa("avx512")
    return chosen


@pytest.fixture(params=isas() or ["none"])
def isa(request):
    if native is None:
        pytest.skip("native kernels not built")
    assert native.select_isa(request.param) == request.param
    yield request.param
    native.select_isa("avx512")


def test_native_is_built_unless_disabled():
    if os.environ.get("SRSTREAM_NATIVE", "").upper() == "OFF":
        pytest.skip("SRSTREAM_NATIVE=OFF: the numpy fallback is expected")
    assert native is not None, "srstream.engine._native is missing: the CMake build did not produce it"
    assert K.active().startswith("native (isa=")


def _equal(a: np.ndarray, b: np.ndarray, real) -> None:
    """float32: bit for bit; float16/bfloat16: within one unit in the last place."""
    assert a.shape == b.shape and a.dtype == b.dtype
    if real is np.float32:
        np.testing.assert_array_equal(a, b)
        return
    ai = a.view(np.int16).astype(np.int32)
    bi = b.view(np.int16).astype(np.int32)
    assert np.abs(ai - bi).max(initial=0) <= 1


def _origins(h: int, w: int, th: int, tw: int, rng) -> np.ndarray:
    ys = [0, max(0, h - th), int(rng.integers(0, h + 3))]
    xs = [0, max(0, w - tw), int(rng.integers(0, w + 3))]
    return np.array([(y, x) for y in ys for x in xs], np.int32)


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels", (1, 3, 4))
@pytest.mark.parametrize("sample", (np.uint8, np.uint16))
def test_pack_tiles_matches_reference(isa, shape, channels, sample):
    rng = np.random.default_rng(hash((shape, channels)) % 2**32)
    h, w = shape
    frame = rng.integers(0, np.iinfo(sample).max + 1, (h, w, channels), dtype=sample)
    th, tw = min(h + 5, 24), min(w + 7, 40)  # tiles reach past the border: reflect padding
    origins = _origins(h, w, th, tw, rng)
    for mode in K.PackMode:
        for real in REALS:
            for gain, bias in ((1.0, 0.0), (2.0, -1.0)):
                got = K.pack_tiles(frame, origins, th, tw, mode, real, gain, bias)
                want = K.pack_tiles_reference(frame, origins, th, tw, mode, real, gain, bias)
                _equal(got, want, real)


@needs_native
def test_pack_tiles_reads_strided_frames_and_fills_out(isa):
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (40, 90, 3), dtype=np.uint8)
    frame = big[3:35, 10:70]  # a crop: rows are strided
    out = np.empty((1, 3, 32, 60), np.float32)
    result = K.pack_tiles(frame, [(0, 0)], 32, 60, out=out)
    assert result is out
    np.testing.assert_array_equal(out, K.pack_tiles_reference(np.ascontiguousarray(frame), np.zeros((1, 2)), 32, 60,
                                                              K.PackMode.RGB))


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("matrix", MATRICES)
def test_pack_tiles_yuv420_matches_reference(isa, shape, matrix):
    rng = np.random.default_rng(2)
    h, w = shape
    y = rng.integers(0, 256, (h, w), dtype=np.uint8)
    u = rng.integers(0, 256, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8)
    v = rng.integers(0, 256, u.shape, dtype=np.uint8)
    origins = _origins(h, w, 16, 16, rng)
    for mode in (K.PackMode.RGB, K.PackMode.LUMA):
        for real in REALS:
            got = K.pack_tiles_yuv420(y, u, v, matrix, origins, 16, 16, mode, real, 1.0, 0.0)
            want = K.pack_tiles_yuv420_reference(y, u, v, matrix, origins, 16, 16, mode, real)
            _equal(got, want, real)


def test_yuv_reference_inverts_the_encoder_matrix():
    """Decoding the Y, U, V of a known colour gives it back (BT.601 limited range)."""
    rgb = np.array([0.8, 0.3, 0.1], np.float32)
    kr, kb = 0.299, 0.114
    luma = kr * rgb[0] + (1 - kr - kb) * rgb[1] + kb * rgb[2]
    cb, cr = (rgb[2] - luma) / (2 * (1 - kb)), (rgb[0] - luma) / (2 * (1 - kr))
    y = np.full((2, 2), 16 + 219 * luma, np.float64).round().astype(np.uint8)
    u = np.full((1, 1), 128 + 224 * cb).round().astype(np.uint8)
    v = np.full((1, 1), 128 + 224 * cr).round().astype(np.uint8)
    tiles = K.pack_tiles_yuv420_reference(y, u, v, K.BT601, np.zeros((1, 2)), 2, 2)
    np.testing.assert_allclose(tiles[0, :, 0, 0], rgb, atol=0.01)


def _planes(rng, c, h, w, real, lo=-0.1, hi=1.1):
    v = rng.uniform(lo, hi, (c, h, w)).astype(np.float32)
    v[:, 0, :1] = 0.5 / 255 + np.float32(2.0) ** -24  # near a rounding tie
    return R._to_real(v, R._real(real))


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels", (1, 3, 4))
@pytest.mark.parametrize("sample", (np.uint8, np.uint16))
def test_unpack_matches_reference(isa, shape, channels, sample):
    rng = np.random.default_rng(3)
    h, w = shape
    for real in REALS:
        planes = _planes(rng, channels, h, w, real)
        for gain, bias in ((1.0, 0.0), (0.5, 0.5)):
            got = K.unpack(planes, dtype=sample, real=real, inv_gain=gain, inv_bias=bias)
            want = K.unpack_reference(planes, sample, real, gain, bias)
            np.testing.assert_array_equal(got, want)


@needs_native
def test_unpack_writes_a_strided_crop_into_part_of_a_frame(isa):
    rng = np.random.default_rng(4)
    padded = rng.uniform(0, 1, (3, 50, 70)).astype(np.float32)
    crop = padded[:, :45, :63]
    frame = np.full((45, 63, 4), 7, np.uint8)
    K.unpack(crop, frame)
    np.testing.assert_array_equal(frame[..., :3], K.unpack_reference(np.ascontiguousarray(crop)))
    assert (frame[..., 3] == 7).all()  # the alpha channel is left alone


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels", (3, 4))
def test_unpack_luma_residual_matches_reference(isa, shape, channels):
    rng = np.random.default_rng(5)
    h, w = shape
    for sample in (np.uint8, np.uint16):
        base = rng.integers(0, np.iinfo(sample).max + 1, (h, w, channels), dtype=sample)
        for real in REALS:
            luma = _planes(rng, 1, h, w, real)
            got = K.unpack_luma_residual(luma, base, real=real)
            want = K.unpack_luma_residual_reference(luma, base, real)
            np.testing.assert_array_equal(got, want)
            in_place = base.copy()
            K.unpack_luma_residual(luma, in_place, in_place, real=real)
            np.testing.assert_array_equal(in_place[..., :3], want)
            np.testing.assert_array_equal(in_place[..., 3:], base[..., 3:])


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", (2, 3, 4))
def test_unpack_luma_residual_upscales_an_input_base(isa, shape, scale):
    """A base of the input's size is upscaled bilinearly in the same pass: bit for bit the reference,
    within a code of OpenCV's bilinear resize followed by the same-size kernel (which rounds the base
    to whole codes first), and the alpha of an RGBA output untouched."""
    rng = np.random.default_rng(7)
    h, w = shape
    for sample in (np.uint8, np.uint16):
        for channels in (3, 4):
            frame = rng.integers(0, np.iinfo(sample).max + 1, (h, w, channels), dtype=sample)
            luma = _planes(rng, 1, h * scale, w * scale, np.float32)
            got = K.unpack_luma_residual(luma, frame)
            np.testing.assert_array_equal(got, K.unpack_luma_residual_reference(luma, frame))
            wide = cv2.resize(frame, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)
            assert np.abs(got.astype(np.int64) - K.unpack_luma_residual(luma, wide)).max() <= 1
            out = np.full((h * scale, w * scale, 4), 7, sample)
            K.unpack_luma_residual(luma, frame, out)
            np.testing.assert_array_equal(out[..., :3], got)
            assert (out[..., 3] == 7).all()


def test_unpack_luma_residual_refuses_bases_of_other_sizes():
    luma = np.zeros((1, 8, 12), np.float32)
    for base in (np.zeros((3, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8), np.zeros((16, 24, 3), np.uint8)):
        with pytest.raises(KernelError, match="whole scale"):
            K.unpack_luma_residual(luma, base)
    buffer = np.zeros(8 * 12 * 3, np.uint8)
    with pytest.raises(KernelError, match="share memory"):
        K.unpack_luma_residual(luma, buffer[:4 * 6 * 3].reshape(4, 6, 3), buffer.reshape(8, 12, 3))


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("matrix", MATRICES)
def test_unpack_yuv420_matches_reference(isa, shape, matrix):
    rng = np.random.default_rng(6)
    h, w = shape
    for real in REALS:
        planes = _planes(rng, 3, h, w, real)
        got = K.unpack_yuv420(planes, matrix, real=real)
        want = K.unpack_yuv420_reference(planes, matrix, real)
        for g, r in zip(got, want):
            np.testing.assert_array_equal(g, r)


def test_yuv_round_trip_is_close():
    """RGB -> 4:2:0 -> RGB on a smooth image loses little (reference kernels)."""
    yy, xx = np.mgrid[0:32, 0:48] / 64.0
    rgb = np.stack([0.2 + xx, 0.3 + 0.5 * yy, 0.6 - 0.4 * xx]).astype(np.float32)
    y, u, v = K.unpack_yuv420_reference(rgb, K.BT709)
    back = K.pack_tiles_yuv420_reference(y, u, v, K.BT709, np.zeros((1, 2)), 32, 48)[0]
    assert np.abs(back - rgb).max() < 0.04


@needs_native
@pytest.mark.parametrize(("h", "w", "tile", "overlap", "scale"),
                         ((37, 53, 16, 4, 2), (64, 48, 24, 6, 4), (20, 90, 12, 2, 3), (9, 9, 16, 2, 2)))
def test_blend_matches_reference(isa, h, w, tile, overlap, scale):
    rng = np.random.default_rng(7)
    plan = plan_tiles(h, w, tile=tile, overlap=overlap, scale=scale, margin=overlap - 1)
    th, tw = plan.tile_shape
    for real in REALS:
        for channels in (1, 3):
            tiles = _planes(rng, len(plan) * channels, th * scale, tw * scale, real)
            tiles = tiles.reshape(len(plan), channels, th * scale, tw * scale)
            got = K.blend_tiles(tiles, plan, real=real)
            want = blend_reference(R._from_real(tiles, R._real(real)), plan)
            np.testing.assert_array_equal(got, want)


def _stabilizer_inputs(rng, h: int, w: int, scale: int) -> dict[str, np.ndarray]:
    """Planes of (h*scale, w*scale) and a flow of (h, w) that reaches past every border, with a
    huge and a NaN vector (pinned to the border)."""
    H, W = h * scale, w * scale
    base = rng.uniform(0, 255, (H, W)).astype(np.float32)
    flow = rng.normal(0, 3, (h, w, 2)).astype(np.float32)
    flow[0, 0], flow[-1, -1, 0] = (1e9, -1e9), np.nan
    return {"y": rng.uniform(0, 255, (H, W)).astype(np.float32), "base": base, "flow": flow,
            "prev_base": (base + rng.normal(0, 4, (H, W))).astype(np.float32),
            "prev_detail": rng.normal(0, 20, (H, W)).astype(np.float32)}


@pytest.mark.parametrize(("h", "w", "scale"), [(1, 1, 2), (7, 5, 2), (33, 61, 2), (12, 20, 4), (9, 9, 3)])
@pytest.mark.parametrize("blend_base", (False, True))
def test_stabilize_luma_matches_reference(isa, h, w, scale, blend_base):
    """Bit for bit, float planes and 8-bit codes (limited and full range) alike."""
    _check_stabilizer(_stabilizer_inputs(np.random.default_rng(h * w + scale), h, w, scale), scale, blend_base)


@pytest.mark.parametrize("blend_base", (False, True))
def test_stabilize_luma_matches_reference_on_a_smooth_flow(isa, blend_base):
    """A smooth flow, as a video's is, that reaches past every border: where a vector build takes
    its taps from a window of rows and columns instead of gathering them (the edges, where a row is
    clamped onto the next, included), the results are still the reference's bit for bit."""
    h, w, scale = 45, 70, 2
    a = _stabilizer_inputs(np.random.default_rng(5), h, w, scale)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    a["flow"] = np.stack([1.6 * np.sin(gy / 7 + gx / 11) + 0.3 * (gx / w - 0.5) * 4,
                          1.4 * np.cos(gx / 9 - gy / 13) + 0.3 * (gy / h - 0.5) * 4], axis=-1).astype(np.float32)
    _check_stabilizer(a, scale, blend_base)


def _check_stabilizer(a: dict[str, np.ndarray], scale: int, blend_base: bool) -> None:
    """The native step equals the reference bit for bit on ``a``: float planes, and 8-bit codes
    in full and limited range."""
    args = (a["base"], a["flow"], a["prev_base"], a["prev_detail"])
    got = K.stabilize_luma(a["y"], *args, scale=scale, strength=0.7, tolerance=25.0, blend_base=blend_base)
    want = R.stabilize_luma_reference(a["y"], *args, scale, 0.7, 25.0, blend_base)
    for g, r in zip(got, want):
        np.testing.assert_array_equal(g, r)
    assert np.abs(got[0]).max() > 0  # something was steadied
    codes = np.clip(a["y"], 0, 255).astype(np.uint8)
    for gain, offset in ((1.0, 0.0), (255.0 / 219.0, -16.0 * 255.0 / 219.0)):
        mine = codes.copy()
        state = K.stabilize_luma_codes(mine, *args, gain=gain, offset=offset, scale=scale, strength=0.7,
                                       tolerance=25.0, blend_base=blend_base)
        ref_codes, *ref_state = R.stabilize_luma_codes_reference(codes, gain, offset, *args, scale, 0.7, 25.0,
                                                                  blend_base)
        np.testing.assert_array_equal(mine, ref_codes)
        for g, r in zip(state, ref_state):
            np.testing.assert_array_equal(g, r)
    # an interleaved RGB and RGBA frame (rows padded), its luma read and its R, G, B updated in place
    rng = np.random.default_rng(codes.size)
    weights = (0.299, 0.587, 0.114)
    for channels in (3, 4):
        height, width = codes.shape
        image = rng.integers(0, 256, (height, width + 3, channels), np.uint8)[:, :width]
        image[..., :3] = np.clip(image[..., :3].astype(int) // 4 + codes[..., None] * 3 // 4, 0, 255)
        mine = image.copy()
        state = K.stabilize_rgb(mine, *args, weights=weights, scale=scale, strength=0.7, tolerance=25.0,
                                blend_base=blend_base)
        ref_image, *ref_state = R.stabilize_rgb_reference(image, tuple(float(np.float32(w)) for w in weights), *args,
                                                          scale, 0.7, 25.0, blend_base)
        np.testing.assert_array_equal(mine, ref_image)
        if channels == 4:
            np.testing.assert_array_equal(mine[..., 3], image[..., 3])  # alpha kept
        for g, r in zip(state, ref_state):
            np.testing.assert_array_equal(g, r)


def test_cap_plane_matches_reference(isa):
    """The change cap's clamp: saturating at both ends, through the table and the index maps, on a
    plane with padded rows; the previous output takes the result."""
    rng = np.random.default_rng(11)
    h, w, H, W = 9, 14, 27, 41
    rows = np.minimum(np.arange(H) * h // H, h - 1).astype(np.int32)
    cols = np.minimum(np.arange(W) * w // W, w - 1).astype(np.int32)
    limit = rng.integers(0, 256, (h, w + 3), np.uint8)[:, :w]  # padded rows
    lut = np.clip(np.arange(256) * 1.7, 0, 255).astype(np.uint8)
    prev = rng.integers(0, 256, (H, W), np.uint8)
    prev[:3], prev[-3:] = 0, 255  # both saturations
    frame = rng.integers(0, 256, (H, W + 5), np.uint8)
    before = frame.copy()
    out = frame[:, :W]
    want = R.cap_plane_reference(out.copy(), prev, limit, lut, rows, cols)
    assert not np.array_equal(want, before[:, :W])  # the clamp moves samples
    mine = prev.copy()
    K.cap_plane(out, mine, limit, lut, rows, cols)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(mine, want)
    np.testing.assert_array_equal(frame[:, W:], before[:, W:])  # the row padding is not written
    with pytest.raises(KernelError):
        K.cap_plane(out, mine, limit, lut, rows + h, cols)


def test_cap_plane_without_the_native_kernels(monkeypatch: pytest.MonkeyPatch):
    """A build without the extension clamps with the reference, updates the previous output the
    same way and refuses a map that reaches outside the limit plane."""
    monkeypatch.setattr(K, "_native", None)
    rng = np.random.default_rng(12)
    rows, cols = np.repeat(np.arange(4, dtype=np.int32), 2), np.repeat(np.arange(5, dtype=np.int32), 2)
    limit, lut = rng.integers(0, 30, (4, 5), np.uint8), np.arange(256, dtype=np.uint8)
    out, prev = rng.integers(0, 256, (8, 10), np.uint8), rng.integers(0, 256, (8, 10), np.uint8)
    want = R.cap_plane_reference(out, prev, limit, lut, rows, cols)
    assert not np.array_equal(want, out)
    K.cap_plane(out, prev, limit, lut, rows, cols)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(prev, want)
    with pytest.raises(KernelError, match="out of range"):
        K.cap_plane(out, prev, limit, lut, rows + 1, cols)


def test_stabilize_rgb_without_the_native_kernels(monkeypatch: pytest.MonkeyPatch):
    """A build without the extension steadies an 8-bit RGBA frame (padded rows) in place with the
    reference: R, G and B changed, alpha and the row padding not."""
    monkeypatch.setattr(K, "_native", None)
    a = _stabilizer_inputs(np.random.default_rng(13), 9, 11, 2)
    args = (a["base"], a["flow"], a["prev_base"], a["prev_detail"])
    frame = np.random.default_rng(14).integers(0, 256, (18, 25, 4), np.uint8)
    before, image = frame.copy(), frame[:, :22]
    state = K.stabilize_rgb(image, *args, weights=(0.299, 0.587, 0.114), scale=2, strength=0.7, tolerance=25.0,
                            blend_base=True)
    want, *want_state = R.stabilize_rgb_reference(before[:, :22], (float(np.float32(0.299)), float(np.float32(0.587)),
                                                                   float(np.float32(0.114))), *args, 2, 0.7, 25.0, True)
    np.testing.assert_array_equal(image, want)
    assert not np.array_equal(image[..., :3], before[:, :22, :3])
    np.testing.assert_array_equal(image[..., 3], before[:, :22, 3])
    np.testing.assert_array_equal(frame[:, 22:], before[:, 22:])
    for g, r in zip(state, want_state):
        np.testing.assert_array_equal(g, r)


def test_stabilize_luma_follows_the_flow_and_fades_with_the_mismatch():
    """What the step means, on the reference: with a flow of one input pixel to the left, the
    previous detail arrives shifted by the scale; a base that matches the warped one takes
    ``strength`` of the old detail, one off by ``tolerance`` or more keeps its own."""
    scale, h, w = 2, 6, 8
    H, W = h * scale, w * scale
    prev_detail = np.tile(np.arange(W, dtype=np.float32), (H, 1))
    base = np.full((H, W), 100, np.float32)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = -1.0  # each pixel was one input pixel (two output pixels) to the left
    y = base.copy()  # no detail of its own
    change, _, detail = R.stabilize_luma_reference(y, base, flow, base, prev_detail, scale, 0.5, 10.0, False)
    np.testing.assert_allclose(detail[:, 2:], 0.5 * prev_detail[:, :-2])
    far = R.stabilize_luma_reference(y, base, flow, base + 10, prev_detail, scale, 0.5, 10.0, False)
    assert not far[0].any() and not far[2].any()
    np.testing.assert_array_equal(change, detail)  # y - base is 0: the change is the steadied detail


def test_stabilize_luma_refuses_bad_planes():
    a = _stabilizer_inputs(np.random.default_rng(0), 4, 4, 2)
    args = dict(scale=2, strength=0.5, tolerance=6.0, blend_base=True)
    with pytest.raises(KernelError, match="flow must be"):
        K.stabilize_luma(a["y"], a["base"], a["flow"][:2], a["prev_base"], a["prev_detail"], **args)
    with pytest.raises(KernelError, match="base must be"):
        K.stabilize_luma(a["y"], a["base"].astype(np.float64), a["flow"], a["prev_base"], a["prev_detail"], **args)
    with pytest.raises(KernelError, match="none of them an input"):
        K.stabilize_luma(a["y"], a["base"], a["flow"], a["prev_base"], a["prev_detail"],
                         out=(a["prev_base"], np.empty_like(a["y"]), np.empty_like(a["y"])), **args)
    with pytest.raises(KernelError, match="codes must be"):
        K.stabilize_luma_codes(a["y"], a["base"], a["flow"], a["prev_base"], a["prev_detail"], gain=1.0,
                               offset=0.0, **args)
    with pytest.raises(KernelError, match="tolerance"):
        K.stabilize_luma(a["y"], a["base"], a["flow"], a["prev_base"], a["prev_detail"],
                         **{**args, "tolerance": 0.0})
    for image in (np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8, 3), np.uint16), np.zeros((8, 8, 3), np.uint8)[:, ::2]):
        with pytest.raises(KernelError, match="image must be"):
            K.stabilize_rgb(image, a["base"], a["flow"], a["prev_base"], a["prev_detail"], weights=(0.3, 0.6, 0.1),
                            **args)


def test_bad_arguments_raise_kernel_errors():
    frame = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(KernelError, match="uint8/uint16"):
        K.pack_tiles(frame.astype(np.float32), [(0, 0)], 8, 8)
    with pytest.raises(KernelError, match="non-negative"):
        K.pack_tiles(frame, [(-1, 0)], 8, 8)
    with pytest.raises(KernelError, match="float32, float16 or bfloat16"):
        K.pack_tiles(frame, [(0, 0)], 8, 8, real=np.float64)
    with pytest.raises(KernelError, match="out must be"):
        K.pack_tiles(frame, [(0, 0)], 8, 8, out=np.empty((1, 1, 8, 8), np.float32))
    with pytest.raises(KernelError, match="does not fit"):
        K.unpack(np.zeros((3, 4, 4), np.float32), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(KernelError, match="U, V"):
        K.pack_tiles_yuv420(np.zeros((4, 4), np.uint8), np.zeros((1, 2), np.uint8), np.zeros((2, 2), np.uint8),
                            K.BT601, [(0, 0)], 4, 4)
    plan = plan_tiles(8, 8, tile=8, overlap=0, scale=2)
    with pytest.raises(KernelError, match="do not match the plan"):
        K.blend_tiles(np.zeros((2, 3, 16, 16), np.float32), plan)


@needs_native
def test_native_module_refuses_bad_buffers_with_our_error():
    with pytest.raises(KernelError, match="origins"):
        native.pack_tiles(np.zeros((4, 4, 3), np.uint8), 0, np.zeros((1, 3), np.int32), 4, 4, 1.0, 0.0,
                          np.zeros((1, 3, 4, 4), np.float32), 0)
    with pytest.raises(KernelError, match="declared real type"):
        native.unpack(np.zeros((3, 4, 4), np.float64), 0, np.zeros((4, 4, 3), np.uint8), 1.0, 0.0)


def test_numpy_fallback_when_the_extension_is_missing(tmp_path):
    """Without _native the kernels fall back to numpy, say so once in the log, and still upscale."""
    import subprocess
    import sys

    script = """
import importlib.abc, logging, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "srstream.engine._native":
            raise ImportError("blocked for the test")
sys.meta_path.insert(0, Block())
logging.basicConfig(level=logging.WARNING, format="LOG %(message)s")
import numpy as np
from srstream.engine import kernels as K
from srstream.engine import kernels as K2
print("ACTIVE", K.active())
frame = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
tiles = K.pack_tiles(frame, [(0, 0)], 5, 7)
print("ROUNDTRIP", (K.unpack(tiles[0]) == frame).all())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ACTIVE numpy" in proc.stdout and "ROUNDTRIP True" in proc.stdout
    assert proc.stderr.count("native frame kernels unavailable") == 1


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_threads_sleep_between_kernels_unless_the_user_says_otherwise(given, expected):
    """Spinning OpenMP workers steal the cores ONNX Runtime needs right after a pack, so the
    kernels' module asks libgomp (before loading it) for passive waiting; an explicit setting wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    script = "import os, srstream.engine.kernels; print(os.environ['OMP_WAIT_POLICY'])"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


@needs_native
def test_grey_frames_with_a_zero_stride_channel_axis(isa):
    grey = np.arange(6 * 9, dtype=np.uint8).reshape(6, 9)[:, :, None]  # numpy gives the new axis stride 0
    got = K.pack_tiles(grey, [(0, 0)], 6, 9, K.PackMode.LUMA)
    np.testing.assert_array_equal(got, K.pack_tiles_reference(grey, np.zeros((1, 2)), 6, 9, K.PackMode.LUMA))
    np.testing.assert_array_equal(K.unpack(got[0]), grey)


@pytest.mark.parametrize(("sws", "matrix"), [("ITU601", K.BT601), ("ITU709", K.BT709)])
def test_yuv420_to_rgb_agrees_with_swscale(sws, matrix):
    """Our Y'CbCr -> RGB (matrix, range, chroma siting) against FFmpeg's on a real frame."""
    import av

    from srstream.engine.encode import sws_flags as _sws_flags
    from srstream.engine.pipeline import plane_view as _plane
    from tests.conftest import SAMPLE_CLIP

    with av.open(str(SAMPLE_CLIP)) as container:
        frame = next(container.decode(video=0))
        rgb = frame.to_ndarray(format="rgb24", src_colorspace=sws, interpolation=_sws_flags())
        y, u, v = (_plane(p) for p in frame.planes)
    h, w = y.shape
    ours = K.pack_tiles_yuv420(y, u, v, matrix, [(0, 0)], h, w)[0].transpose(1, 2, 0) * 255
    diff = np.abs(ours - rgb)
    assert diff.mean() < 0.3 and diff.max() < 1.0, (diff.mean(), diff.max())  # measured: 0.25, 0.51 (rounding)


def test_every_wrapper_names_the_extensions_arguments():
    """Runs wherever the CUDA extension is built, GPU or not: each CudaKernels method reaches
    the kernel's own checks (null buffers: KernelError), so every keyword it passes is one the
    extension declares. An argument passed under the wrong name fails with TypeError; this is
    how the swapped sample type and channel count of unpack would have been caught without a GPU."""
    try:
        from srstream.engine import _native_cuda
    except ImportError:
        pytest.skip("the CUDA extension is not built here")
    k = object.__new__(K.CudaKernels)  # no device needed: every call stops at the null-buffer check
    k._m = _native_cuda
    calls = [
        lambda: k.pack_tiles(0, (4, 4, 3), np.uint8, 12, 0, 1, 4, 4, K.PackMode.RGB, 0, np.float32),
        lambda: k.pack_tiles_yuv420((0, 0, 0), (4, 2), (4, 4), K.BT601, 0, 1, 4, 4, K.PackMode.RGB, 0, np.float32),
        lambda: k.unpack_yuv420(0, np.float32, (4, 4), 16, 4, (0, 0, 0), (4, 2), K.BT601),
        lambda: k.unpack(0, np.float32, (3, 4, 4), 16, 4, 0, 3, np.uint8, 12),
        lambda: k.blend_tiles(0, np.float32, (2, 3, 4, 4), (0, 0, 0, 0, 0), 2, 0, (4, 8)),
    ]
    for call in calls:
        with pytest.raises(KernelError):
            call()


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (5, 9), (23, 37)])
def test_conv_tail_matches_reference(isa, scale, dtype, shape):
    """The kernel may fuse multiply and add where the ISA has FMA: equal to the reference within
    float32 rounding of a 144-term sum, not bit for bit."""
    rng = np.random.default_rng(scale)
    h, w = shape
    if dtype is np.float32:
        act = rng.standard_normal((16, h, w)).astype(np.float32)
    else:
        info = np.iinfo(dtype)
        act = rng.integers(info.min, info.max + 1, (16, h, w)).astype(dtype)
    weight = rng.standard_normal((scale * scale, 16, 3, 3)).astype(np.float32) * 0.1
    bias = rng.standard_normal(scale * scale).astype(np.float32)
    skip = rng.random((h, w), dtype=np.float32)
    got = K.conv_tail(act, 0.02, 3, weight, bias, skip, scale)
    want = R.conv_tail_reference(act, 0.02, 3, weight, bias, skip, scale)
    assert got.shape == (h * scale, w * scale) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_tail_reference_is_conv_skip_and_depth_to_space():
    """The reference against the ONNX ops it replaces, run by ONNX Runtime: DequantizeLinear,
    a 3x3 Conv with zero padding, Add of the input, DepthToSpace."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    act = rng.integers(-128, 128, (1, 8, 6, 7)).astype(np.int8)
    lr = rng.random((1, 1, 6, 7), dtype=np.float32)
    weight = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["x"]),
         helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Add", ["c", "lr"], ["a"]),
         helper.make_node("DepthToSpace", ["a"], ["out"], blocksize=2)],
        "tail", [helper.make_tensor_value_info("q", TensorProto.INT8, act.shape),
                 helper.make_tensor_value_info("lr", TensorProto.FLOAT, lr.shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0.05, np.float32), "s"), numpy_helper.from_array(np.array(-2, np.int8), "z"),
         numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"q": act, "lr": lr})
    got = R.conv_tail_reference(act[0], 0.05, -2, weight, bias, lr[0, 0], 2)
    np.testing.assert_allclose(got, want[0, 0], rtol=1e-5, atol=1e-5)


def test_conv_tail_refuses_mismatched_arrays():
    act = np.zeros((4, 5, 6), np.int8)
    weight, bias, skip = np.zeros((4, 4, 3, 3), np.float32), np.zeros(4, np.float32), np.zeros((5, 6), np.float32)
    with pytest.raises(KernelError, match="conv_tail"):
        K.conv_tail(act.astype(np.int16), 1.0, 0, weight, bias, skip, 2)
    with pytest.raises(KernelError, match="conv_tail"):
        K.conv_tail(act, 1.0, 0, weight[:, :3], bias, skip, 2)
    with pytest.raises(KernelError, match="conv_tail"):
        K.conv_tail(act, 1.0, 0, weight, bias, skip[:4], 2)
    if native is not None:
        with pytest.raises(KernelError, match="scale of 1 to 4"):
            native.conv_tail(act, 1.0, 0, np.zeros((25, 4, 3, 3), np.float32), np.zeros(25, np.float32), skip, 5,
                             np.zeros((25, 30), np.float32))
