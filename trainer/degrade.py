"""Degradations for training on real footage: blur, noise, JPEG and video-codec compression
(one H.264 intra frame, ``codec``, or the P frame of a short moving sequence, ``video``; on
consecutive frames, :meth:`Degradation.apply_clip` encodes the clip itself).

Every step splits randomness from work: ``make_params(rng)`` draws the parameters (or ``None``
when the step is skipped by its probability) and ``apply(image, params)`` is deterministic, so a
seed reproduces a sample exactly. Blur acts on the HR patch before downscaling (the camera's
optics); noise and compression act on the LR image (the sensor and the encoder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from srstream.engine.selfpairs import h264_clip as engine_h264_clip
from srstream.engine.selfpairs import h264_decoder, mean_qp
from srstream.trainer.recipe import DegradationConfig

__all__ = ["HR_STAGE", "Degradation", "build_degradations", "h264_clip"]

HR_STAGE = ("blur",)


@dataclass(frozen=True)
class Degradation:
    """One configured step. ``stage`` is ``"hr"`` for blur, ``"lr"`` otherwise."""

    config: DegradationConfig

    @property
    def stage(self) -> str:
        return "hr" if self.config.kind in HR_STAGE else "lr"

    def make_params(self, rng: np.random.Generator) -> float | None:
        """The strength for one sample, or None when the step is skipped."""
        if rng.random() >= self.config.prob:
            return None
        low, high = self.config.range
        return float(rng.uniform(low, high))

    def apply(self, image: np.ndarray, strength: float | None, rng_seed: int = 0,
              qps: list[float] | None = None) -> np.ndarray:
        """Apply to a uint8 ``(H, W, C)`` image; returns uint8 of the same shape.

        ``rng_seed`` seeds the noise pattern (noise is part of the sample, like the parameters).
        ``qps``: where the H.264 steps append the mean quantiser their decoder saw.
        """
        if strength is None:
            return image
        kind = self.config.kind
        if kind == "blur":
            return cv2.GaussianBlur(image, (0, 0), sigmaX=max(strength, 1e-3), borderType=cv2.BORDER_REFLECT)
        if kind == "noise":
            noise = np.random.default_rng(rng_seed).normal(0.0, strength, image.shape)
            return np.clip(image + noise, 0, 255).round().astype(np.uint8)
        if kind == "jpeg":
            return _jpeg(image, int(round(strength)))
        if kind == "video":
            return _h264_sequence(image, int(round(strength)), rng_seed, qps=qps)
        return _h264(image, int(round(strength)), qps)

    def apply_clip(self, frames: Sequence[np.ndarray], strength: float | None, rng_seed: int = 0,
                   qps: list[float] | None = None) -> list[np.ndarray]:
        """Apply to consecutive frames of one clip, alike: ``video`` encodes them as one H.264
        sequence; the other kinds act on each frame with the same strength (noise with a new
        pattern per frame, as a sensor's is). ``qps`` as in :meth:`apply`."""
        if strength is None:
            return list(frames)
        if self.config.kind == "video":
            return h264_clip(frames, int(round(strength)), qps)
        return [self.apply(f, strength, rng_seed + k, qps) for k, f in enumerate(frames)]


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(np.clip(quality, 1, 100))])
    if not ok:
        raise RuntimeError("OpenCV failed to JPEG-encode a training patch")
    out = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return out.reshape(image.shape)


#: The H.264 decoder and quantiser reader live in the engine, which reads streams the same way at run time.
_decoder, _mean_qp = h264_decoder, mean_qp


def _h264(image: np.ndarray, crf: int, qps: list[float] | None = None) -> np.ndarray:
    """Encode and decode ``image`` as one H.264 intra frame (yuv420p) at ``crf`` (``qps``: where
    the decoder's mean quantiser is appended)."""
    import av

    h, w = image.shape[:2]
    gray = image.ndim == 2 or image.shape[2] == 1
    rgb = np.repeat(image.reshape(h, w, 1), 3, axis=2) if gray else image
    pad_h, pad_w = h % 2, w % 2  # yuv420p needs even sizes
    rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"crf": str(int(np.clip(crf, 0, 51))), "preset": "ultrafast", "tune": "zerolatency"}
    packets = [*codec.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")), *codec.encode(None)]
    decoder = _decoder(qps is not None)
    frames = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    if qps is not None and (qp := _mean_qp(frames)) is not None:
        qps.append(qp)
    out = frames[0].to_ndarray(format="rgb24")[:h, :w]
    return out[..., :1].reshape(image.shape) if gray else out


#: The training clips' x264 settings. One thread and no macroblock-tree rate control: otherwise x264
#: gave other bits for the same sequence now and then on a busy machine (7 in 1,200 encodes), and
#: training data must repeat.
TRAINING_X264 = "keyint=60:min-keyint=60:scenecut=0:bframes=2:mbtree=0"


def h264_clip(frames: Sequence[np.ndarray], crf: int, qps: list[float] | None = None, *,
              preset: str = "veryfast", x264_params: str = TRAINING_X264) -> list[np.ndarray]:
    """:func:`srstream.engine.selfpairs.h264_clip` with the trainer's defaults: libx264
    ``veryfast``, B-frames on, no scene cuts, no macroblock tree."""
    return engine_h264_clip(frames, crf, qps, preset=preset, x264_params=x264_params)


def _h264_sequence(image: np.ndarray, crf: int, seed: int, frames: int = 3,
                   qps: list[float] | None = None) -> np.ndarray:
    """``image`` as the last frame of a short H.264 clip (:func:`h264_clip`) whose earlier
    frames are the same picture moved by up to 2 pixels (sub-pixel, drawn from ``seed``)."""
    velocity = np.random.default_rng(seed).uniform(-1.0, 1.0, 2)
    moved = []
    for t in range(frames):
        back = frames - 1 - t  # the last frame is the picture itself
        m = np.float32([[1, 0, velocity[0] * back], [0, 1, velocity[1] * back]])
        moved.append(cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT).reshape(image.shape))
    return h264_clip(moved, crf, qps)[-1]


def build_degradations(configs: Sequence[DegradationConfig]) -> list[Degradation]:
    return [Degradation(c) for c in configs]

