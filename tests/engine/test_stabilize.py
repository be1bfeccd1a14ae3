"""The temporal stabiliser: steadies what only flickers, leaves real changes alone, keeps the
frame's type and alpha."""

from __future__ import annotations

import cv2
import numpy as np

from srstream.engine.stabilize import TemporalStabilizer


def _scene(rng: np.random.Generator, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    lr = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), np.uint8), (0, 0), 2)
    lr = np.roll(lr, shift, axis=1)
    sr = cv2.resize(lr, (128, 96), interpolation=cv2.INTER_CUBIC)
    return lr, sr


def test_flicker_on_a_still_scene_is_steadied() -> None:
    rng = np.random.default_rng(0)
    lr, clean = _scene(np.random.default_rng(1))
    steady = TemporalStabilizer(2, 0.5, 6.0, base=True)
    raw, out = [], []
    for _ in range(8):  # the same input, the network's (luma) detail different every frame
        noise = rng.integers(-4, 5, (*clean.shape[:2], 1))
        noisy = np.clip(clean.astype(int) + noise, 0, 255).astype(np.uint8)
        raw.append(noisy)
        out.append(steady(lr, noisy))
    change = lambda frames: np.mean([np.abs(a.astype(int) - b.astype(int)).mean()  # noqa: E731
                                     for a, b in zip(frames[3:], frames[4:])])
    assert change(out) < 0.6 * change(raw)


def test_a_cut_is_not_blended() -> None:
    steady = TemporalStabilizer(2, 0.9, 6.0, base=True)
    lr1, sr1 = _scene(np.random.default_rng(1))
    lr2, sr2 = (np.clip(x.astype(int) + 60, 0, 255).astype(np.uint8) for x in (lr1, sr1))
    steady(lr1, sr1)
    out = steady(lr2, sr2)  # the lights went up: every pixel is 60 levels off, far above the tolerance
    assert np.array_equal(out, sr2)


def test_alpha_and_depth_are_kept() -> None:
    lr, sr = _scene(np.random.default_rng(3))
    alpha_lr, alpha_sr = np.full(lr.shape[:2], 77, np.uint8), np.full(sr.shape[:2], 77, np.uint8)
    steady = TemporalStabilizer(2, 0.5, 6.0, base=True)
    for shift in (0, 1):
        lr_s, sr_s = np.roll(lr, shift, 1), np.roll(sr, 2 * shift, 1)
        out = steady(np.dstack([lr_s, alpha_lr]), np.dstack([sr_s, alpha_sr]))
    assert out.dtype == np.uint8 and out.shape == (96, 128, 4) and (out[..., 3] == 77).all()
    deep = TemporalStabilizer(2, 0.5, 6.0, base=True)
    for shift in (0, 1):
        lr_s, sr_s = np.roll(lr, shift, 1).astype(np.uint16) * 257, np.roll(sr, 2 * shift, 1).astype(np.uint16) * 257
        out16 = deep(lr_s, sr_s)
    assert out16.dtype == np.uint16 and np.abs(out16.astype(int) // 257 - out[..., :3].astype(int)).max() <= 1


def test_the_command_line_default_is_the_engine_default() -> None:
    import argparse

    from srstream.commands.upscale import configure
    from srstream.engine.stabilize import DEFAULT_STRENGTH

    parser = argparse.ArgumentParser()
    configure(parser)
    assert parser.parse_args(["x.mp4", "--stabilize"]).stabilize == DEFAULT_STRENGTH
    assert parser.parse_args(["x.mp4"]).stabilize == "auto"
    assert parser.parse_args(["x.mp4", "--stabilize", "0"]).stabilize == 0.0


def _grey_sequence(frames: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    """A grey scene moving one pixel a frame, with different (luma) detail in every output."""
    rng = np.random.default_rng(5)
    lr0 = cv2.GaussianBlur(rng.integers(30, 220, (48, 64), np.uint8), (0, 0), 2)
    out = []
    for i in range(frames):
        lr = np.roll(lr0, i, axis=1)
        sr = cv2.resize(lr, (128, 96), interpolation=cv2.INTER_CUBIC).astype(int) + rng.integers(-4, 5, (96, 128))
        out.append((lr, np.clip(sr, 0, 255).astype(np.uint8)))
    return out


def test_the_luma_plane_path_is_the_rgb_path() -> None:
    """A 4:2:0 frame's Y' plane steadied in place gets the same change as the RGB frame whose luma
    it is: full range exactly (to rounding), limited range within a level of the rescaled RGB
    result."""
    rgb, full, limited = (TemporalStabilizer(2, 0.5, 6.0, base=True) for _ in range(3))
    for lr, sr in _grey_sequence():
        want = rgb(np.dstack([lr] * 3), np.dstack([sr] * 3))[..., 0]
        y = sr.copy()
        full.steady_luma(lr, y, full_range=True)
        assert np.abs(y.astype(int) - want.astype(int)).max() <= 1
        to_limited = lambda a: np.round(16 + a.astype(np.float32) * 219 / 255).astype(np.uint8)  # noqa: E731
        y = to_limited(sr)
        limited.steady_luma(to_limited(lr), y, full_range=False)
        assert np.abs(y.astype(int) - to_limited(want).astype(int)).max() <= 1
    assert not np.array_equal(want, sr)  # the stabiliser did change the frame


def test_the_stabilised_upscaler_keeps_the_4_2_0_path() -> None:
    from srstream.engine.kernels import BT601
    from srstream.engine.stabilize import StabilizedUpscaler

    class Plain:  # a stand-in upscaler: the 4:2:0 frame of a bicubic upscale with fresh detail
        spec = type("Spec", (), {"scale": 2})()

        def __init__(self) -> None:
            self.frames = iter(_grey_sequence())

        def takes_yuv420(self, height: int, width: int) -> bool:
            return True

        def upscale_yuv420(self, y, u, v, matrix):  # noqa: ANN001, ANN202
            _, sr = next(self.frames)
            return np.vstack([sr, np.full((48, 128), 128, np.uint8)])

    inner, reference = Plain(), TemporalStabilizer(2, 0.5, 6.0, base=True)
    steady = StabilizedUpscaler(inner)
    assert steady.takes_yuv420(48, 64)
    chroma = np.full((24, 32), 128, np.uint8)
    for lr, sr in _grey_sequence():
        frame = steady.upscale_yuv420(lr, chroma, chroma, BT601)
        want = sr.copy()
        reference.steady_luma(lr, want)
        assert frame.shape == (144, 128) and np.array_equal(frame[:96], want) and (frame[96:] == 128).all()


def test_a_frame_that_stands_still_is_held_harder_and_a_moving_one_is_not() -> None:
    """``still``: where (almost) nothing moved, the detail's flicker is damped more than at the
    strength asked; where the picture moves, even by a fraction of a pixel a frame, the output is
    the one without the rule, exactly."""
    from srstream.engine.stabilize import STILL_STRENGTH

    def run(still: float, shift: float) -> list[np.ndarray]:
        rng, steady = np.random.default_rng(0), TemporalStabilizer(2, 0.5, 12.0, base=True, still=still)
        lr0, clean0 = _scene(np.random.default_rng(1))
        out = []
        for t in range(8):  # the picture moved by ``shift`` input pixels a frame (sub-pixel: resampled)
            move = lambda image, s: cv2.warpAffine(image, np.float32([[1, 0, s], [0, 1, 0]]),  # noqa: E731
                                                   image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
            lr, clean = move(lr0, shift * t), move(clean0, 2 * shift * t)
            noise = rng.integers(-4, 5, (*clean.shape[:2], 1))
            out.append(steady(lr, np.clip(clean.astype(int) + noise, 0, 255).astype(np.uint8)))
        return out

    change = lambda frames: np.mean([np.abs(a.astype(int) - b.astype(int)).mean()  # noqa: E731
                                     for a, b in zip(frames[3:], frames[4:])])
    assert change(run(STILL_STRENGTH, 0)) < 0.75 * change(run(0.0, 0))
    for shift in (3, 0.3):  # a fast pan, and one of a third of a pixel a frame
        moving, plain = run(STILL_STRENGTH, shift), run(0.0, shift)
        assert all(np.array_equal(a, b) for a, b in zip(moving, plain))


def test_the_codes_table_rounds_as_the_float_luma_does() -> None:
    """The video path rounds its input's Y' codes to 0-255 luma through a 256-entry table: the same
    bytes as rounding the float luma, full and limited range, on planes of odd sizes."""
    from srstream.engine.stabilize import _codes_to_luma, _codes_to_luma_u8, _round_u8

    rng = np.random.default_rng(3)
    for shape in ((1, 1), (7, 13), (37, 641)):
        codes = rng.integers(0, 256, shape, np.uint8)
        for gain, offset in ((1.0, 0.0), (255.0 / 219.0, -16.0 * 255.0 / 219.0)):
            assert np.array_equal(cv2.LUT(codes, _codes_to_luma_u8(gain, offset)),
                                  _round_u8(_codes_to_luma(codes, gain, offset)))


def test_a_repeated_frame_takes_no_flow_and_the_flow_would_have_been_zero() -> None:
    """A frame identical to the one before (a still screen, a paused game) skips the optical flow:
    DIS finds no motion at all between identical frames, so the output is the one the flow would
    give."""
    rng = np.random.default_rng(4)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    text = np.full((48, 64), 230, np.uint8)
    cv2.putText(text, "Ag", (4, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    for image in (_scene(rng)[0][..., 0], text, rng.integers(0, 256, (48, 64), np.uint8)):
        assert not flow.calc(image, image.copy(), None).any()

    class Counting:
        def __init__(self) -> None:
            self.inner, self.calls = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST), 0

        def calc(self, *args):  # noqa: ANN002, ANN202
            self.calls += 1
            return self.inner.calc(*args)

    steady = TemporalStabilizer(2, 0.5, 12.0, base=True, still=0.85)
    steady.flow = Counting()
    frames = [lr for lr, _ in _grey_sequence()]
    for lr in (frames[0], frames[1], frames[1], frames[1], frames[2]):
        steady.steady_luma(lr, cv2.resize(lr, (lr.shape[1] * 2, lr.shape[0] * 2)))
    assert steady.flow.calls == 2  # frame 1 after frame 0, frame 2 after frame 1; none for the repeats


def test_an_8_bit_rgb_frame_is_steadied_as_the_float_path_steadies_a_16_bit_one() -> None:
    """8-bit RGB(A) frames take one native pass (luma read, change added to R, G and B); 16-bit ones
    the float planes. The same pictures through both agree within a level, alpha untouched."""
    eight, sixteen = TemporalStabilizer(2, 0.5, 6.0, base=True), TemporalStabilizer(2, 0.5, 6.0, base=True)
    rng = np.random.default_rng(6)
    changed, tint = 0, rng.integers(0, 40, (1, 1, 3))
    for lr, sr in _grey_sequence():
        lr3 = np.clip(np.dstack([lr] * 3).astype(int) + tint, 0, 255).astype(np.uint8)
        sr3 = np.clip(np.dstack([sr] * 3).astype(int) + tint, 0, 255).astype(np.uint8)
        alpha = rng.integers(0, 256, (*sr.shape, 1), np.uint8)
        sr4 = np.concatenate([sr3, alpha], axis=2)
        given = sr4.copy()
        got = eight(np.concatenate([lr3, np.full((*lr.shape, 1), 255, np.uint8)], axis=2), sr4)
        want = sixteen(lr3.astype(np.uint16) * 257, sr3.astype(np.uint16) * 257)
        assert np.abs(got[..., :3].astype(int) - np.round(want / 257).astype(int)).max() <= 1
        assert np.array_equal(got[..., 3], alpha[..., 0]) and np.array_equal(sr4, given)  # the caller's frame kept
        changed += int((got[..., :3] != sr3).any())
    assert changed >= 4  # every frame after the first was steadied
