"""Tiled upscaling equals whole-frame upscaling on real content; colour, depth and alpha handling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
import pytest

from srstream.engine import kernels
from srstream.engine.backends.ort_backend import OrtBackend
from srstream.engine.models import BUNDLED_MODELS, MODELS_DIR, read_onnx_spec
from srstream.engine.upscaler import (FrameUpscaler, OutputSize, ResizedUpscaler, TileableUpscaler, choose_tile,
                                     wrapped_sideways)
from tests.conftest import SAMPLE_CLIP
from tests.onnx_models import conv_net_spec, write_conv_net


@pytest.fixture(scope="module")
def real_frame() -> np.ndarray:
    """A real 640x360 frame of the bundled clip, cropped to 200x136 to keep the test fast."""
    with av.open(str(SAMPLE_CLIP)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return np.ascontiguousarray(frame[100:236, 200:400])


def _backend(tmp_path: Path, scale: int, overlap: int | None = None, tile: int = 32) -> OrtBackend:
    spec = conv_net_spec(scale, convs=3, tile=tile, overlap=overlap)
    path = write_conv_net(tmp_path / f"net{scale}_{overlap}.onnx", scale, spec=spec)
    return OrtBackend(read_onnx_spec(path), path, "fp32")


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize(("tile", "overlap"), [(24, 3), (32, 3), (40, 7), (64, 5), (37, 4)])
def test_tiled_equals_whole_frame_on_real_content(tmp_path: Path, real_frame: np.ndarray, scale: int, tile: int,
                                                  overlap: int) -> None:
    with _backend(tmp_path, scale, overlap) as backend:
        spec = backend.spec
        whole = FrameUpscaler(backend, spec, 0).upscale(real_frame)
        tiled_up = FrameUpscaler(backend, spec, tile)
        tiled = tiled_up.upscale(real_frame)
    assert len(tiled_up.plan(*real_frame.shape[:2])) > 1
    assert whole.shape == tiled.shape == (136 * scale, 200 * scale, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1  # <= 1/255


@pytest.mark.parametrize("name", sorted(BUNDLED_MODELS))
def test_bundled_models_are_seamless_too(real_frame: np.ndarray, name: str) -> None:
    path = MODELS_DIR / BUNDLED_MODELS[name]
    spec = read_onnx_spec(path)
    with OrtBackend(spec, path, "fp32") as backend:
        whole = FrameUpscaler(backend, spec, 0).upscale(real_frame)
        for tile in (48, 64):
            tiled = FrameUpscaler(backend, spec, tile).upscale(real_frame)
            assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_tile_auto_tiles_frames_too_big_for_memory(tmp_path: Path) -> None:
    with _backend(tmp_path, 2) as backend:
        assert choose_tile(backend.spec, backend, 360, 640) == 0  # whole frames fit
        assert choose_tile(backend.spec, backend, 8640, 15360) == backend.spec.tile  # 16K does not
        assert choose_tile(backend.spec, backend, 360, 640, 48) == 48


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 5, 3), (7, 2, 1), (33, 17, 4)])
def test_odd_and_tiny_sizes_grey_and_alpha(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    with _backend(tmp_path, 2) as backend:
        out = FrameUpscaler(backend, backend.spec, "auto").upscale(frame)
    assert out.shape == (shape[0] * 2, shape[1] * 2, shape[2]) and out.dtype == np.uint8
    if shape[2] == 4:  # alpha is upscaled separately (bicubic), not run through the model
        assert abs(float(out[..., 3].mean()) - float(frame[..., 3].mean())) < 25


def test_sixteen_bit_stays_sixteen_bit(tmp_path: Path) -> None:
    frame = (np.linspace(0, 65535, 20 * 30 * 3).reshape(20, 30, 3)).astype(np.uint16)
    with _backend(tmp_path, 2) as backend:
        out = FrameUpscaler(backend, backend.spec, "auto").upscale(frame)
    assert out.dtype == np.uint16 and out.shape == (40, 60, 3) and out.max() > 255


def test_luma_models_change_luma_only(tmp_path: Path, real_frame: np.ndarray) -> None:
    """A one-channel ('y') model sees the BT.601 luma; chroma stays the bicubic upscale's, so the
    output differs from bicubic by the same amount in R, G and B."""
    import cv2
    from onnx import TensorProto, helper, save

    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])
    graph = helper.make_graph(
        [helper.make_node("Resize", ["input", "", "scales"], ["output"], mode="nearest")], "y_nearest",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 1, "h2", "w2"])], initializer=[scales])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    spec = dataclasses.replace(conv_net_spec(2, convs=0), color_space="y", in_channels=1, out_channels=1, name="y")
    helper.set_model_props(model, spec.to_metadata())
    save(model, str(tmp_path / "y.onnx"))
    with OrtBackend(spec, tmp_path / "y.onnx", "fp32") as backend:
        out = FrameUpscaler(backend, spec, 0).upscale(real_frame).astype(np.float64)
    h, w = real_frame.shape[:2]
    bicubic = cv2.resize(real_frame.astype(np.float32), (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)
    delta = out - bicubic
    unclipped = np.all((out > 0) & (out < 255) & (bicubic > 0) & (bicubic < 255), axis=2)
    assert unclipped.mean() > 0.5
    assert np.abs(delta[..., 0] - delta[..., 1])[unclipped].max() <= 2.0
    assert np.abs(delta[..., 1] - delta[..., 2])[unclipped].max() <= 2.0
    assert np.abs(delta).max() > 5  # the model did change luma (nearest != bicubic)


class _DevicePathBackend(OrtBackend):
    """An ORT backend with the two device paths (``run_frame_samples``, ``run_frame_planes``)
    built from the CPU kernels, recording which way each frame went: the upscaler must give the
    same frames through them."""

    def _planes(self, frame, plan, mode, gain, bias):  # noqa: ANN001, ANN202
        from srstream.engine import kernels as K

        tiles = K.pack_tiles(frame, plan.tiles, *plan.tile_shape, mode, np.float32, gain, bias)
        out = self.infer(tiles)
        oh, ow = plan.output_shape
        return np.ascontiguousarray(out[0, :, :oh, :ow] if len(plan) == 1 else K.blend_tiles(out, plan))

    def run_frame_planes(self, frame, plan, mode, gain, bias):  # noqa: ANN001, ANN201
        self.calls.append("planes")
        return self._planes(frame, plan, mode, gain, bias)

    def run_frame_samples(self, frame, plan, mode, gain, bias, inv):  # noqa: ANN001, ANN201
        from srstream.engine import kernels as K

        self.calls.append("unpack")
        planes = self._planes(frame, plan, mode, gain, bias)
        result = np.zeros((*plan.output_shape, frame.shape[2]), frame.dtype)
        return K.unpack(planes, result, inv_gain=inv[0], inv_bias=inv[1])


@pytest.mark.parametrize("tile", [0, 32])
def test_a_backend_device_path_gives_the_same_frames(tmp_path: Path, real_frame: np.ndarray, tile: int) -> None:
    spec = conv_net_spec(2, convs=3, tile=32)
    path = write_conv_net(tmp_path / "net.onnx", 2, spec=spec)
    rgba = np.concatenate([real_frame, real_frame[:, :, :1]], axis=2)
    with OrtBackend(read_onnx_spec(path), path, "fp32") as cpu, _DevicePathBackend(read_onnx_spec(path), path) as dev:
        dev.calls = []
        for frame in (real_frame, rgba, real_frame[:, :, 0]):
            want = FrameUpscaler(cpu, cpu.spec, tile).upscale(frame)
            got = FrameUpscaler(dev, dev.spec, tile).upscale(frame)
            np.testing.assert_array_equal(got, want)
    assert dev.calls == ["unpack", "unpack", "planes"]  # grey frames come back as planes (luma kept on the CPU)


@pytest.mark.parametrize("graph", ["rgb", "luma"])
@pytest.mark.parametrize(("sws_matrix", "matrix"), [("ITU601", "BT601"), ("ITU709", "BT709")])
def test_the_yuv420_path_agrees_with_the_rgb_path(sws_matrix: str, matrix: str, graph: str) -> None:
    """The bundled model on a decoded frame's Y'CbCr planes gives what the swscale RGB path gives,
    up to rounding and chroma resampling: same luma, same colours. ``rgb``: the model's RGB graph
    (given as bytes); ``luma``: its luma-only graph, which the CPU backends take from the file."""
    from srstream.engine.encode import sws_flags as _sws_flags
    from srstream.engine.pipeline import plane_view as _plane

    with av.open(str(SAMPLE_CLIP)) as container:
        decoded = next(container.decode(video=0))
        rgb = decoded.to_ndarray(format="rgb24", src_colorspace=sws_matrix, interpolation=_sws_flags())
        planes = [_plane(p) for p in decoded.planes]
    path = MODELS_DIR / BUNDLED_MODELS["realtime-x2"]
    spec = read_onnx_spec(path)
    with OrtBackend(spec, path if graph == "luma" else path.read_bytes(), "fp32") as backend:
        assert backend.luma_graph == (graph == "luma")
        up = FrameUpscaler(backend, spec, 0)
        assert up.takes_yuv420(*planes[0].shape)
        yuv = up.upscale_yuv420(*planes, matrix=getattr(kernels, matrix))
        via_rgb = up.upscale(rgb)
    h, w = via_rgb.shape[:2]
    assert yuv.shape == (h * 3 // 2, w)
    frame = av.VideoFrame.from_ndarray(via_rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=sws_matrix, interpolation=_sws_flags())
    expected = frame.to_ndarray()
    luma_diff = np.abs(yuv[:h].astype(int) - expected[:h].astype(int))
    chroma_diff = np.abs(yuv[h:].astype(int) - expected[h:].astype(int))
    assert luma_diff.mean() < 0.25 and np.percentile(luma_diff, 99.9) <= 1, luma_diff.mean()
    assert chroma_diff.mean() < 0.25, chroma_diff.mean()
    if graph == "rgb":  # measured: luma mean 0.08 levels (max 2), chroma mean 0.07 (max 4)
        assert luma_diff.max() <= 3 and chroma_diff.max() <= 4, (luma_diff.max(), chroma_diff.max())
    else:
        # measured: luma mean 0.08 (99.9th percentile 1), chroma mean 0.12. The 4:2:0 path writes
        # the net's luma as it is, where the RGB path clips R, G or B of saturated colours and so
        # moves their luma: about 90 of the 921,600 pixels differ by 4-14 levels
        assert (luma_diff > 3).mean() < 2e-4, (luma_diff > 3).sum()


def test_the_yuv420_path_needs_even_outputs(tmp_path: Path) -> None:
    with _backend(tmp_path, 2) as backend:
        up = FrameUpscaler(backend, backend.spec, 0)
        assert up.takes_yuv420(36, 64) and not FrameUpscaler(backend, dataclasses.replace(backend.spec, scale=3),
                                                            0).takes_yuv420(35, 64)


class _YuvDevicePathBackend(OrtBackend):
    """``run_frame_yuv420`` emulated with the CPU kernels (what TensorRT does with the CUDA ones)."""

    def run_frame_yuv420(self, planes, matrix, plan, gain, bias, inv):  # noqa: ANN001, ANN201
        from srstream.engine import kernels as K

        self.calls += 1
        tiles = K.pack_tiles_yuv420(*planes, matrix, plan.tiles, *plan.tile_shape, K.PackMode.RGB, np.float32, gain,
                                    bias)
        out = self.infer(tiles)
        oh, ow = plan.output_shape
        rgb = out[0, :, :oh, :ow] if len(plan) == 1 else K.blend_tiles(out, plan)
        frame = np.empty((oh * 3 // 2, ow), np.uint8)
        chroma = frame[oh:].reshape(2, oh // 2, ow // 2)
        K.unpack_yuv420(rgb, matrix, inv_gain=inv[0], inv_bias=inv[1], out=(frame[:oh], chroma[0], chroma[1]))
        return frame


@pytest.mark.parametrize("tile", [0, 32])
def test_a_backend_yuv420_device_path_gives_the_same_frames(tmp_path: Path, tile: int) -> None:
    from srstream.engine.pipeline import plane_view as _plane

    with av.open(str(SAMPLE_CLIP)) as container:
        planes = [np.ascontiguousarray(_plane(p)[:68, :100] if i == 0 else _plane(p)[:34, :50])
                  for i, p in enumerate(next(container.decode(video=0)).planes)]
    spec = conv_net_spec(2, convs=3, tile=32)
    path = write_conv_net(tmp_path / "net.onnx", 2, spec=spec)
    with OrtBackend(read_onnx_spec(path), path, "fp32") as cpu, _YuvDevicePathBackend(read_onnx_spec(path), path) as dev:
        dev.calls = 0
        want = FrameUpscaler(cpu, cpu.spec, tile).upscale_yuv420(*planes, matrix=kernels.BT709)
        got = FrameUpscaler(dev, dev.spec, tile).upscale_yuv420(*planes, matrix=kernels.BT709)
    assert dev.calls == 1
    np.testing.assert_array_equal(got, want)


def test_self_ensemble_averages_the_eight_orientations(real_frame: np.ndarray) -> None:
    path = MODELS_DIR / BUNDLED_MODELS["realtime-x2"]
    with OrtBackend(read_onnx_spec(path), path, "fp32") as backend:
        plain = FrameUpscaler(backend, backend.spec)
        ens = FrameUpscaler(backend, backend.spec, ensemble=True)
        frame = np.ascontiguousarray(real_frame[:40, :56])
        out = ens.upscale(frame)
        assert out.shape == (80, 112, 3) and out.dtype == np.uint8
        wide = frame.astype(np.uint16) * 257
        total = np.zeros(out.shape, np.float64)
        for k in range(8):
            turned = np.rot90(wide, k % 4)
            turned = turned[:, ::-1] if k >= 4 else turned
            up = plain.upscale(np.ascontiguousarray(turned)).astype(np.float64)
            total += np.rot90(up[:, ::-1] if k >= 4 else up, -(k % 4))
        expected = np.clip(np.rint(total / (8 * 257)), 0, 255)
        assert np.abs(out.astype(int) - expected).max() <= 1  # float32 vs float64 sums at .5 ties
        # the group is closed under rotation: the ensemble commutes with it (up to rounding ties)
        turned = ens.upscale(np.ascontiguousarray(np.rot90(frame)))
        assert np.abs(turned.astype(int) - np.rot90(out).astype(int)).max() <= 1
        # and it is not the plain result (it averages 8 different ones)
        assert np.abs(out.astype(int) - plain.upscale(frame).astype(int)).mean() > 0.05
        assert not ens.takes_yuv420(40, 56)
        grey16 = ens.upscale((frame[:, :, :1].astype(np.uint16) * 257))
        assert grey16.shape == (80, 112, 1) and grey16.dtype == np.uint16


@pytest.mark.parametrize("name", ["realtime-x2", "quality-x4"])
def test_a_tileable_texture_upscales_to_the_middle_of_its_upscaled_grid(real_frame: np.ndarray, name: str) -> None:
    """``--tileable``: a texture that repeats edge to edge comes out as the middle of its 3x3 grid
    upscaled whole, so it tiles without seams; a plain upscale mirrors its edges and does not."""
    path = MODELS_DIR / BUNDLED_MODELS[name]
    with OrtBackend(read_onnx_spec(path), path, "fp32") as backend:
        s, plain = backend.spec.scale, FrameUpscaler(backend, backend.spec, 0)
        texture = np.ascontiguousarray(real_frame[:30, :44])
        grid = plain.upscale(np.tile(texture, (3, 3, 1)))[30 * s:60 * s, 44 * s:88 * s]
        for tile in (0, 2 * backend.spec.tile_overlap + 20):  # whole, and in tiles
            wrapped = TileableUpscaler(FrameUpscaler(backend, backend.spec, tile))
            assert len(wrapped.plan(30 + 2 * wrapped.pad, 44 + 2 * wrapped.pad)) > (1 if tile else 0)
            out = wrapped.upscale(texture)
            assert out.shape == grid.shape and not wrapped.takes_yuv420(30, 44)
            assert np.abs(out.astype(int) - grid).max() <= 1
        assert np.abs(plain.upscale(texture).astype(int) - grid).max() > 10  # the mirrored edges
        grey = TileableUpscaler(plain).upscale(texture[:, :, :1])
        assert grey.shape == (30 * s, 44 * s, 1)


def test_a_panorama_wraps_from_left_to_right_only(real_frame: np.ndarray) -> None:
    """A 360-degree equirectangular frame's left and right edges are one meridian: upscaled plainly,
    each edge was mirrored and a seam showed where they meet (3.6 levels mean on Set14's baboon at
    realtime-x2, 40 at most). Wrapped from left to right only, it is the middle of three copies laid
    side by side, upscaled whole; its top and bottom (the poles) are padded as any frame's."""
    path = MODELS_DIR / BUNDLED_MODELS["realtime-x2"]
    with OrtBackend(read_onnx_spec(path), path, "fp32") as backend:
        s, plain = backend.spec.scale, FrameUpscaler(backend, backend.spec, 0)
        panorama = np.ascontiguousarray(real_frame[:30, :44])
        row = plain.upscale(np.tile(panorama, (1, 3, 1)))[:, 44 * s:88 * s]
        wrapped = wrapped_sideways(plain)
        assert wrapped.sides_only and wrapped_sideways(wrapped) is wrapped
        assert wrapped.tile_label(30, 44).endswith("wrapped around left to right")
        out = wrapped.upscale(panorama)
        assert out.shape == row.shape and np.abs(out.astype(int) - row).max() <= 1
        assert np.abs(plain.upscale(panorama).astype(int) - row).max() > 10  # the mirrored sides
        resized = wrapped_sideways(ResizedUpscaler(plain, OutputSize(scale=1.5)))
        assert isinstance(resized, ResizedUpscaler) and resized.inner.sides_only


@pytest.mark.parametrize("name", ["realtime-x2", "realtime-x4"])
def test_a_large_frame_upscaled_in_bands_equals_it_whole(real_frame: np.ndarray, name: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A large photo's whole-frame buffers (float planes twice over, a 16-bit base) took 3.6 GB at
    12 megapixels x4 and would not fit a 16 GB machine at 50; it now runs in bands of rows, each
    with the model's margin of context, whose outputs equal the whole frame's exactly: colour (the
    luma graph and its bilinear base), RGBA, grey and 16 bits; bands as short as the tiles allow,
    and a last band shorter than a tile (padded up to the tile, it once saw the padding at the
    frame's bottom)."""
    from srstream.engine import upscaler as module

    path = MODELS_DIR / BUNDLED_MODELS[name]
    spec = read_onnx_spec(path)
    frame = real_frame[:60]
    frames = [frame, np.dstack([frame, frame[:, :, 1]]), frame[:, :, 0], frame.astype(np.uint16) * 257]
    with OrtBackend(spec, path, "fp32") as backend:
        up = FrameUpscaler(backend, spec, 48)
        wholes = [up.upscale(f) for f in frames]
        monkeypatch.setattr(module, "BAND_FROM_BYTES", 0)
        bands = []
        whole_frame = up._upscale_whole
        monkeypatch.setattr(up, "_upscale_whole", lambda f: bands.append(f.shape[0]) or whole_frame(f))
        for rows in (1, 13):  # bands of that many rows asked, as many as the tiles allow given
            monkeypatch.setattr(module, "BAND_BYTES", rows * 200 * spec.scale ** 2 * 17)
            for f, whole in zip(frames if rows > 1 else frames[:1], wholes):
                bands.clear()
                banded = up.upscale(f)
                assert len(bands) >= 2 and max(bands) < 60
                assert banded.shape == whole.shape and banded.dtype == whole.dtype
                assert np.array_equal(banded, whole)
