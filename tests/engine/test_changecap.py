"""The change cap: what stands still in the input stands still in the output; what changes in
the input is the model's own; every frame keeps its type, channels and size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from srstream.engine.changecap import CappedUpscaler, ChangeCap
from srstream.errors import ConfigError


def _scene(seed: int, shape: tuple[int, ...] = (48, 64, 3)) -> np.ndarray:
    return cv2.GaussianBlur(np.random.default_rng(seed).integers(0, 256, shape, np.uint8), (0, 0), 2)


def _up(lr: np.ndarray, detail: np.ndarray | None = None) -> np.ndarray:
    """A stand-in network: bicubic, plus (luma) detail that changes from call to call."""
    sr = cv2.resize(lr, (lr.shape[1] * 2, lr.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    if detail is None:
        return sr
    detail = detail if sr.ndim == 2 else detail[..., None]
    return np.clip(sr.astype(int) + detail, 0, 255).astype(np.uint8)


def test_a_still_input_gives_a_still_output_whatever_the_network_does() -> None:
    rng = np.random.default_rng(0)
    lr = _scene(1)
    cap = ChangeCap(2)
    first = cap(lr, _up(lr, rng.integers(-6, 7, (96, 128))))
    for _ in range(4):  # the same input; the network's detail moves with changes out of sight
        raw = _up(lr, rng.integers(-6, 7, (96, 128)))
        assert np.array_equal(cap(lr, raw), first)


@pytest.mark.parametrize("gain, radius", [(1.0, 0), (2.0, 0), (1.5, 1)])
def test_each_output_pixel_moves_at_most_gain_times_its_input_neighbourhood(gain: float, radius: int) -> None:
    rng = np.random.default_rng(2)
    lr0 = _scene(3)
    lr1 = lr0.copy()
    lr1[10:20, 30:40] = np.clip(lr1[10:20, 30:40].astype(int) + 3, 0, 255)  # a small change in one patch
    cap = ChangeCap(2, gain, radius)
    out0 = cap(lr0, _up(lr0, rng.integers(-9, 10, (96, 128))))
    out1 = cap(lr1, _up(lr1, rng.integers(-9, 10, (96, 128))))
    step = np.abs(out1.astype(int) - out0.astype(int))
    moved = np.abs(lr1.astype(int) - lr0.astype(int)).max(axis=2).astype(np.uint8)
    moved = cv2.dilate(moved, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    limit = cv2.resize(moved, (128, 96), interpolation=cv2.INTER_NEAREST)
    assert (step <= np.floor(gain * limit + 0.5)[..., None]).all()
    assert step[20:40, 60:80].max() > 0  # where the input changed, the output followed
    assert step[:20 - 2 * radius].max() == 0 and step[40 + 2 * radius:].max() == 0  # elsewhere it held


@pytest.mark.parametrize("noise", [4, 0])
def test_a_neighbours_noise_does_not_move_a_pixel_but_its_motion_does(noise: int) -> None:
    rng = np.random.default_rng(12)
    lr = _scene(13)
    cap = ChangeCap(2, 2.0, 1, noise)
    before = cap(lr, _up(lr, rng.integers(-6, 7, (96, 128))))
    ring = np.zeros((96, 128), bool)
    ring[38:44, 58:64] = True  # the output of input pixel (20, 30) and its 8 neighbours...
    ring[40:42, 60:62] = False  # ...less its own
    outside = np.ones((96, 128), bool)
    outside[38:44, 58:64] = False
    for step, moves in ((3, noise == 0), (20, True)):  # a change of 3 levels (noise), then of 20 (motion)
        changed = lr.copy()
        changed[20, 30] = np.clip(changed[20, 30].astype(int) + step, 0, 255)
        out = cap(changed, _up(changed, rng.integers(-6, 7, (96, 128))))
        moved = np.abs(out.astype(int) - before.astype(int)).max(axis=2)
        assert moved[40:42, 60:62].max() > 0  # its own output follows its own change either way
        assert (moved[ring].max() > 0) == moves
        assert moved[outside].max() == 0  # nothing further away moves
        before, lr = out, changed


def test_a_new_window_is_the_networks_own_wherever_the_input_changed_as_much() -> None:
    rng = np.random.default_rng(4)
    cap = ChangeCap(2, 1.0, 0)
    lr = _scene(5)
    before = cap(lr, _up(lr))
    cut = lr.copy()
    cut[8:32, 8:40] = _scene(6)[8:32, 8:40]  # a window opens over a quarter of the picture
    raw = _up(cut, rng.integers(-2, 3, (96, 128)))
    out = cap(cut, raw.copy())
    moved = cv2.resize(np.abs(cut.astype(int) - lr.astype(int)).max(axis=2).astype(np.uint8), (128, 96),
                       interpolation=cv2.INTER_NEAREST)[..., None]
    free = np.abs(raw.astype(int) - before.astype(int)) <= moved
    assert free[16:64, 16:80].mean() > 0.5  # most of the window
    assert np.array_equal(out[free], raw[free])
    capped = ~free  # the rest moved exactly as far as the cap lets it
    step = np.abs(out.astype(int) - before.astype(int))
    assert np.array_equal(step[capped], np.broadcast_to(moved, out.shape)[capped])


def test_types_channels_and_sizes_are_kept() -> None:
    lr = _scene(7, (48, 64, 4))
    for frame, out in ((lr, _up(lr)), (lr[..., :1], _up(lr[..., :1].copy())[..., None]),
                       (lr.astype(np.uint16) * 257, _up(lr).astype(np.uint16) * 257)):
        cap = ChangeCap(2)
        first = cap(frame, out.copy())
        again = cap(frame, np.zeros_like(out))  # a network gone mad on a still frame: held
        assert again.dtype == out.dtype and again.shape == out.shape and np.array_equal(again, first)
    cap = ChangeCap(2)
    cap(lr, _up(lr))
    small = lr[:24, :32].copy()  # a new size starts over: nothing to compare with
    assert np.array_equal(cap(small, _up(small)), _up(small))
    cap.reset()
    assert np.array_equal(cap(lr, np.zeros_like(_up(lr))), np.zeros_like(_up(lr)))


def test_the_4_2_0_planes_are_capped_as_the_rgb_frame() -> None:
    """A grey picture: its Y' plane and the RGB frame get the same cap; a chroma sample moves
    only where the luma under it did (an RGB model mixes them)."""
    rng = np.random.default_rng(8)
    rgb_cap, plane_cap = ChangeCap(2, 1.0, 0), ChangeCap(2, 1.0, 0)
    base = _scene(9, (48, 64))
    chroma = np.full((24, 32), 128, np.uint8)
    previous_v, last_lr = None, base
    for shift in (0, 0, 1, 1):
        lr = np.roll(base, shift, axis=1)
        sr = _up(lr, rng.integers(-5, 6, (96, 128)))
        want = rgb_cap(np.dstack([lr] * 3), np.dstack([sr] * 3))[..., 0]
        frame = np.vstack([sr, np.full((48, 128), 128, np.uint8)])
        v = frame[96:].reshape(2, 48, 64)[1]
        v[:] = 100 + 20 * (shift % 2) + rng.integers(0, 2)  # the output's V moves; its input's does not
        plane_cap.planes(lr, chroma, chroma, frame)
        assert np.array_equal(frame[:96], want)
        assert (frame[96:].reshape(2, 48, 64)[0] == 128).all()
        if previous_v is not None:
            moved = (lr != last_lr).reshape(24, 2, 32, 2).any(axis=(1, 3))  # per input chroma sample
            luma_moved = moved.repeat(2, 0).repeat(2, 1)  # per output chroma sample
            assert np.array_equal(v[~luma_moved], previous_v[~luma_moved])
            assert not luma_moved.any() or (v[luma_moved] != previous_v[luma_moved]).any()
        previous_v, last_lr = v.copy(), lr


@pytest.mark.parametrize(("h", "w", "scale"), [(24, 32, 2), (23, 31, 2), (16, 20, 3), (11, 13, 4)])
@pytest.mark.parametrize(("gain", "radius", "noise"), [(2.0, 1, 4), (1.0, 0, 0), (1.5, 2, 0), (2.7, 1, 4)])
def test_the_native_clamp_equals_the_opencv_passes(h, w, scale, gain, radius, noise,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The 4:2:0 path clamps each 8-bit plane in one native pass; frame after frame it gives what
    the OpenCV passes give (the RGB path's), odd sizes and a cut included."""
    from srstream.engine import kernels

    if not kernels.has_native():
        pytest.skip("the native kernels are not built here")
    rng = np.random.default_rng(h * w + scale)
    H, W = h * scale, w * scale
    base = _scene(3, (h, w, 3))
    inputs = []
    for k, shift in enumerate((0, 0, 1, 1, 2, 2)):
        lr = np.roll(base, shift, axis=1) if k != 4 else _scene(4, (h, w, 3))  # frame 4: a cut
        y, u, v = (np.clip(lr[..., c].astype(int) + rng.integers(-3, 4, (h, w)), 0, 255).astype(np.uint8)
                   for c in range(3))
        u, v = (cv2.resize(p, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA) for p in (u, v))
        frame = rng.integers(0, 256, (H * 3 // 2, W), np.uint8)
        inputs.append((y, u, v, frame))
    results = {}
    for native in (True, False):
        if not native:
            monkeypatch.setattr(kernels, "has_native", lambda: False)
        cap, got = ChangeCap(scale, gain, radius, noise), []
        for y, u, v, frame in inputs:
            out = frame.copy()
            cap.planes(y, u, v, out)
            got.append(out)
        results[native] = got
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(results[True][1], inputs[1][3])  # the cap did change something


@pytest.mark.parametrize(("h", "w", "scale"), [(24, 32, 2), (23, 31, 3)])
@pytest.mark.parametrize("channels", (3, 4))
@pytest.mark.parametrize(("gain", "radius", "noise"), [(2.0, 1, 4), (1.5, 0, 0)])
def test_an_8_bit_rgb_frame_takes_the_native_clamp_with_the_opencv_result(h, w, scale, channels, gain, radius, noise,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An interleaved 8-bit RGB(A) frame is clamped as one plane of its samples by the native pass
    (each sample taking its pixel's cap, alpha too, as the OpenCV passes cap every channel); frame
    after frame, a cut included, it gives what the OpenCV passes give."""
    from srstream.engine import kernels

    if not kernels.has_native():
        pytest.skip("the native kernels are not built here")
    rng = np.random.default_rng(h * w * channels)
    base, patch = _scene(5, (h, w, channels)), _scene(7, (5, 6, channels))
    inputs = []
    for k, x in enumerate((3, 3, 5, 9, 0, 14)):  # a small patch moving over a still picture; frame 4: a cut
        lr = base.copy() if k != 4 else _scene(6, (h, w, channels))
        lr[4:9, x:x + 6] = patch
        inputs.append((lr, rng.integers(0, 256, (h * scale, w * scale, channels), np.uint8)))
    results = {}
    for native in (True, False):
        if not native:
            monkeypatch.setattr(kernels, "has_native", lambda: False)
        cap = ChangeCap(scale, gain, radius, noise)
        results[native] = [cap(lr, sr.copy()).copy() for lr, sr in inputs]
    for a, b in zip(results[True], results[False]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(results[True][1], inputs[1][1])  # the cap did change something


def test_the_capped_upscaler_wraps_both_paths() -> None:
    class Plain:
        spec = type("Spec", (), {"scale": 2, "name": "plain"})()

        def upscale(self, frame: np.ndarray) -> np.ndarray:
            return _up(frame, np.random.default_rng().integers(-5, 6, (96, 128)))

        def takes_yuv420(self, height: int, width: int) -> bool:
            return True

        def upscale_yuv420(self, y, u, v, matrix=None):  # noqa: ANN001, ANN202
            return np.vstack([self.upscale(y), np.full((48, 128), 128, np.uint8)])

    capped = CappedUpscaler(Plain())
    lr = _scene(10)
    assert np.array_equal(capped.upscale(lr), capped.upscale(lr)) and capped.spec.name == "plain"
    y, c = lr[..., 0].copy(), np.full((24, 32), 128, np.uint8)
    assert capped.takes_yuv420(48, 64)
    assert np.array_equal(capped.upscale_yuv420(y, c, c), capped.upscale_yuv420(y, c, c))


@pytest.mark.parametrize("args", [(0, 1.0, 0), (2, 0.0, 0), (2, -1.0, 0), (2, 1.0, -1), (2, 1.0, 1, -1)])
def test_bad_settings_are_refused(args: tuple) -> None:
    with pytest.raises(ConfigError, match="change cap"):
        ChangeCap(*args)


def test_the_command_line_setting() -> None:
    import argparse

    from srstream.commands.upscale import cap_setting, configure
    from srstream.engine.changecap import DEFAULT_GAIN

    parser = argparse.ArgumentParser()
    configure(parser)
    assert parser.parse_args(["x.mp4"]).change_cap == "auto"
    assert cap_setting("auto", True) == DEFAULT_GAIN and cap_setting("auto", False) == 0.0
    assert parser.parse_args(["x.mp4", "--change-cap", "off"]).change_cap == 0.0
    assert parser.parse_args(["x.mp4", "--change-cap", "1.5"]).change_cap == 1.5
    with pytest.raises(SystemExit):
        parser.parse_args(["x.mp4", "--change-cap", "0"])


def test_a_new_picture_is_not_capped_at_all() -> None:
    """A cut changes most of the input: no pixel of the new picture keeps the old one's detail,
    not even one whose own value happened to stay the same."""
    cap = ChangeCap(2)
    lr = _scene(11)
    cap(lr, _up(lr, np.full((96, 128), 5)))
    cut = 255 - lr
    cut[:4, :4] = lr[:4, :4]  # a corner that reads the same in both pictures
    raw = _up(cut, np.full((96, 128), -5))
    assert np.array_equal(cap(cut, raw.copy()), raw)
