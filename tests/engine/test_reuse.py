"""Running the network only where a frame changed (srstream.engine.reuse) gives the frames it
gives whole: blocks at every edge and corner, changes at a block's border, frames identical to the
one before, and a whole video through the command line."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from srstream.engine import reuse
from srstream.engine.backends.base import Lane
from srstream.engine.backends.ort_backend import OrtBackend
from srstream.engine.changecap import CappedUpscaler
from srstream.engine.models import read_onnx_spec
from srstream.engine.reuse import BLOCK, RegionReuse, ReuseStats
from srstream.engine.stabilize import StabilizedUpscaler
from srstream.engine.upscaler import FrameUpscaler, OutputSize, ResizedUpscaler, TileableUpscaler, in_lane, lanes_of
from tests.conftest import SAMPLE_CLIP, upscale_cli
from tests.onnx_models import conv_net_spec, write_conv_net


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    """Two real frames of the bundled clip, cropped to 150x230 (neither a multiple of the block)."""
    with av.open(str(SAMPLE_CLIP)) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(12), container.decode(video=0))]
    return [np.ascontiguousarray(f[90:240, 180:410]) for f in (frames[0], frames[11])]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> OrtBackend:
    spec = conv_net_spec(2, convs=5)  # margin 5
    path = write_conv_net(tmp_path_factory.mktemp("reuse") / "net.onnx", 2, convs=5, spec=spec)
    with OrtBackend(read_onnx_spec(path), path, "fp32") as opened:
        yield opened


def _edited(frame: np.ndarray, top: int, left: int, size: int = 3, value: int = 255) -> np.ndarray:
    out = frame.copy()
    out[top:top + size, left:left + size] = value
    return out


def _sequence(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Still frames, small changes at the corners, at block borders (on either side: the block
    beside sees them within its margin) and inside one block, a moving square, a new scene."""
    first, second = frames
    h, w = first.shape[:2]
    seq = [first, first.copy()]
    for top, left in ((0, 0), (h - 3, w - 3), (0, w - 3), (h - 3, 0), (BLOCK - 3, BLOCK - 3), (BLOCK, BLOCK),
                      (BLOCK + 2, 2 * BLOCK - 4), (70, 100)):
        seq.append(_edited(seq[-1], top, left))
    for step in range(4):
        seq.append(_edited(first, 40 + 9 * step, 60 + 13 * step, size=12, value=30 * step))
    seq += [second, second.copy(), _edited(second, 100, 5, size=20, value=0)]
    return seq


def test_frames_computed_in_part_equal_frames_computed_whole(backend: OrtBackend, clip_frames: list[np.ndarray],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RegionReuse, "_cheaper", lambda self, blocks, pixels: True)  # windows whatever they cost
    whole = FrameUpscaler(backend, backend.spec, 0)
    part = FrameUpscaler(backend, backend.spec, 0, reuse=True)
    assert whole.reuse_stats is None
    seq = _sequence(clip_frames)
    for i, frame in enumerate(seq):
        expected, got = whole.upscale(frame), part.upscale(frame)
        diff = np.abs(expected.astype(int) - got.astype(int))
        # the same arithmetic on each pixel: at most an fp32 rounding apart where a CPU's kernel for
        # the windows' shape sums in another order (none on the CPUs measured)
        assert diff.max() <= 1, f"frame {i}: {np.argwhere(diff > 1)[:5]}"
        assert (diff == 0).mean() > 0.999, f"frame {i}"
    stats = part.reuse_stats
    assert stats.frames == len(seq)
    assert stats.still_frames == 2  # the copies of each scene's first frame
    assert stats.window_frames == len(seq) - 3  # all but the first and the two stills (the new scene too: forced)
    assert 0 < stats.share_run < 1
    assert "the network ran on" in stats.describe()


def test_a_tiled_frame_recomputes_only_its_changed_tiles(backend: OrtBackend, clip_frames: list[np.ndarray]) -> None:
    plain = FrameUpscaler(backend, backend.spec, 48)
    part = FrameUpscaler(backend, backend.spec, 48, reuse=True)
    tiles = len(plain.plan(*clip_frames[0].shape[:2]))
    assert tiles > 4  # more than one batch
    seq = _sequence(clip_frames)
    for i, frame in enumerate(seq):
        diff = np.abs(plain.upscale(frame).astype(int) - part.upscale(frame).astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999, f"frame {i}"
    stats = part.reuse_stats
    assert (stats.frames, stats.still_frames) == (len(seq), 2)
    assert stats.window_frames == len(seq) - 3  # the new scene too: counted as a later frame
    assert stats.share_run < 0.8  # the small changes ran a batch of tiles, not the frame's


def test_the_yuv420_path_reuses_exactly_too(backend: OrtBackend, clip_frames: list[np.ndarray],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RegionReuse, "_cheaper", lambda self, blocks, pixels: True)
    whole = FrameUpscaler(backend, backend.spec, 0)
    part = FrameUpscaler(backend, backend.spec, 0, reuse=True)
    for frame in _sequence(clip_frames)[:8]:
        picture = av.VideoFrame.from_ndarray(frame[:148, :228], format="rgb24").reformat(format="yuv420p")
        y, u, v = _planes(picture)
        diff = np.abs(whole.upscale_yuv420(y, u, v).astype(int) - part.upscale_yuv420(y, u, v).astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999
    assert part.reuse_stats.window_frames > 0


def _planes(picture: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = picture.height, picture.width
    flat = picture.to_ndarray()
    return (np.ascontiguousarray(flat[:h]), np.ascontiguousarray(flat[h:h + h // 4].reshape(h // 2, w // 2)),
            np.ascontiguousarray(flat[h + h // 4:].reshape(h // 2, w // 2)))


def test_each_frame_takes_the_cheaper_way_by_measured_rates() -> None:
    r = RegionReuse(margin=8, scale=2, max_batch=4)
    frame = 640 * 360
    r._rate_whole = 1e-7
    # unmeasured windows are taken as 1.3x the whole frame's rate per pixel: 4 windows of 48x48
    assert r._cheaper(4, frame)
    assert not r._cheaper(80, frame)  # 80 windows of 48x48 = 184k pixels, x1.3: more than 0.9 of the frame
    r._rate_window = 5e-7  # measured slow (a tiny net's small pictures)
    assert r._cheaper(4, frame) and not r._cheaper(24, frame)
    assert r._pixels(5) == 8 * 48 * 48  # whole batches: the backend compiles one batch shape


def test_noise_everywhere_runs_whole_frames_without_a_block_map(monkeypatch: pytest.MonkeyPatch) -> None:
    r = RegionReuse(margin=4, scale=2, max_batch=4)
    calls = []
    monkeypatch.setattr(RegionReuse, "_changed_blocks", lambda self, changed: calls.append(1) or [])
    rng = np.random.default_rng(0)
    runs = []

    def infer(batch: np.ndarray) -> np.ndarray:
        runs.append(batch.shape)
        return np.repeat(np.repeat(batch, 2, axis=2), 2, axis=3)

    for _ in range(3):
        r.run(rng.random((1, 1, 90, 160), np.float32), infer)
    assert runs == [(1, 1, 90, 160)] * 3 and not calls
    assert r.stats.describe() is None


def test_stats_add_up_over_a_ladder() -> None:
    a = ReuseStats(frames=3, still_frames=1, window_frames=1, pixels_run=50, pixels_total=300)
    b = ReuseStats(frames=2, pixels_run=200, pixels_total=200)
    total = ReuseStats.total([a, None, b])
    assert (total.frames, total.still_frames, total.window_frames) == (5, 1, 1)
    assert total.share_run == pytest.approx(0.5)
    assert reuse.ReuseStats.total([]).describe() is None


def _screen_like_video(path: Path, frames: int = 24) -> Path:
    """A lossless 256x160 clip: a still picture with a square moving over it, then a still stretch."""
    rng = np.random.default_rng(3)
    base = (rng.random((160, 256, 3)) * 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 256, 160, "rgb24"
        stream.options = {"qp": "0", "preset": "ultrafast"}
        for i in range(frames):
            rgb = base.copy()
            k = min(i, frames // 2)
            rgb[20 + 3 * k:36 + 3 * k, 30 + 5 * k:46 + 5 * k] = (250, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize("lanes", ["1", "auto"])
def test_a_video_upscaled_in_part_is_the_video_upscaled_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch, lanes: str) -> None:
    """With the frames one at a time, and two at a time (lanes: each lane's frames reuse the
    frame that lane ran before, so which frames count as identical depends on which lane was free)."""
    monkeypatch.setattr(RegionReuse, "_cheaper", lambda self, blocks, pixels: True)
    if lanes == "1":
        monkeypatch.setenv("SRSTREAM_LANES", "1")
    src = _screen_like_video(tmp_path / "screen.mkv")
    net = write_conv_net(tmp_path / "net.onnx", 2, convs=4, spec=conv_net_spec(2, convs=4))
    code, said = upscale_cli(src, tmp_path / "part.mkv", net, capsys, "--crf", "0", "--stabilize", "0",
                             "--change-cap", "off")
    assert code == 0, said
    assert "the network ran on" in said and ("11 frames identical" in said or lanes != "1"), said
    code, said_whole = upscale_cli(src, tmp_path / "whole.mkv", net, capsys, "--crf", "0", "--stabilize", "0",
                                   "--change-cap", "off", "--no-reuse")
    assert code == 0, said_whole
    assert "the network ran on" not in said_whole
    part, whole = _decoded(tmp_path / "part.mkv"), _decoded(tmp_path / "whole.mkv")
    assert len(part) == len(whole) == 24
    for a, b in zip(part, whole):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_a_failed_frame_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend that fails half-way through a frame's windows leaves the kept output part new,
    part old: the next frame then runs whole, not against that mixture."""
    monkeypatch.setattr(RegionReuse, "_cheaper", lambda self, blocks, pixels: True)
    r = RegionReuse(margin=2, scale=2, max_batch=1)
    calls = {"n": 0, "fail_at": None}

    def infer(batch: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == calls["fail_at"]:
            raise RuntimeError("the backend failed")
        return np.repeat(np.repeat(batch, 2, axis=2), 2, axis=3)

    first = np.zeros((1, 1, 96, 96), np.float32)
    r.run(first, infer)
    second = first.copy()
    second[0, 0, 5, 5] = second[0, 0, 70, 70] = 1.0  # two blocks apart: two windows
    calls["fail_at"] = calls["n"] + 2
    with pytest.raises(RuntimeError):
        r.run(second, infer)
    calls["fail_at"] = None
    out = r.run(first, infer)  # back to the first frame: must not keep the failed frame's first window
    assert not out.any()


@pytest.mark.parametrize("change", [{"tile": 0}, {"arch": "foreign"}])
def test_no_reuse_where_the_margin_is_no_bound(backend: OrtBackend, change: dict) -> None:
    """A net whose spec says whole frames only (tile 0: a GroupNorm reaches the whole picture, an
    imported RealPLKSR's) or a foreign graph's measured margin bounds nothing exactly: no reuse."""
    import dataclasses

    spec = dataclasses.replace(backend.spec, **change)
    assert FrameUpscaler(backend, spec, 0, reuse=True).reuse_stats is None
    assert FrameUpscaler(backend, backend.spec, 0, reuse=True).reuse_stats is not None


class _TwoLanes:
    """``backend`` as one that runs two lanes, each a view counting its own calls."""

    def __init__(self, backend: OrtBackend) -> None:
        self.backend, self.views = backend, []

    def lanes(self) -> int:
        return 2

    def lane(self) -> Lane:
        class View(Lane):
            calls = 0

            def infer(self, batch: np.ndarray) -> np.ndarray:
                self.calls += 1
                return self.backend.infer(batch)

        self.views.append(View(self.backend))
        return self.views[-1]

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.backend, name)


def test_each_lane_runs_on_its_own_copy_and_reuses_its_own_frames(backend: OrtBackend,
                                                                  clip_frames: list[np.ndarray]) -> None:
    """In a lane (a file's frames two at a time), an upscaler runs each frame on the copy for that
    lane, with the backend's lane view and region reuse of its own, and gives the frames it gives
    outside one; the reuse it reports counts every lane's frames."""
    whole = FrameUpscaler(backend, backend.spec, 0)
    laned = FrameUpscaler(_TwoLanes(backend), backend.spec, 0, reuse=True)
    assert laned.lanes == 2 and FrameUpscaler(_TwoLanes(backend), backend.spec, 0, ensemble=True).lanes == 1
    frames = _sequence(clip_frames)
    for i, frame in enumerate(frames):
        with in_lane(i % 2):
            out = laned.upscale(frame)
        diff = np.abs(whole.upscale(frame).astype(int) - out.astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.999
    views = laned.backend.views
    # lanes reach through every wrapper that splits its frames: the change cap, the stabiliser, a
    # resize, a tileable texture's padding
    chain = TileableUpscaler(ResizedUpscaler(StabilizedUpscaler(CappedUpscaler(laned)), OutputSize(scale=1.5)))
    assert lanes_of(chain) == 2 and lanes_of(FrameUpscaler(backend, backend.spec, 0, ensemble=True)) == 1
    assert len(views) == 2 and all(view.calls > 0 for view in views)
    stats = laned.reuse_stats
    assert stats.frames == len(frames) and stats.still_frames + stats.window_frames > 0
