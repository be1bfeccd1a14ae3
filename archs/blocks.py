"""Building blocks shared by the generators: activations and sub-pixel upsampling."""

from __future__ import annotations

import math

from torch import nn

__all__ = ["ACTIVATIONS", "SubPixelUpsampler", "activation", "upsample_steps"]

ACTIVATIONS = ("prelu", "silu", "lrelu", "relu")


def activation(name: str, channels: int) -> nn.Module:
    """A fresh activation module.

    ``prelu`` learns one slope per channel (as SRGAN and Real-ESRGAN's compact net);
    ``lrelu`` has slope 0.2 (ESRGAN); ``silu`` is Swish.

    Raises:
        ValueError: unknown name (lists the known ones).
    """
    if name == "prelu":
        return nn.PReLU(num_parameters=channels, init=0.25)
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")


def upsample_steps(scale: int) -> list[int]:
    """Factors of the upsampling stages: x4 -> [2, 2], x8 -> [2, 2, 2], x3 -> [3], x2 -> [2]."""
    if scale == 1:
        return []
    if scale & (scale - 1) == 0:
        return [2] * int(math.log2(scale))
    if scale == 3:
        return [3]
    raise ValueError(f"scale {scale} is not supported; use 1, 2, 3, 4 or 8")


class SubPixelUpsampler(nn.Sequential):
    """SRGAN-style upsampling: per stage ``conv3x3 -> PixelShuffle(f) -> activation``."""

    def __init__(self, features: int, scale: int, act: str) -> None:
        layers: list[nn.Module] = []
        for factor in upsample_steps(scale):
            layers += [
                nn.Conv2d(features, features * factor * factor, 3, padding=1),
                nn.PixelShuffle(factor),
                activation(act, features),
            ]
        super().__init__(*layers)

    @staticmethod
    def margin(scale: int) -> float:
        """Receptive-field radius in input pixels: one 3x3 conv per stage at its resolution."""
        radius, resolution = 0.0, 1
        for factor in upsample_steps(scale):
            radius += 1 / resolution
            resolution *= factor
        return radius
