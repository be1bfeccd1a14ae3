"""ESRGAN's RRDB generator (Wang et al., 2018): residual-in-residual dense blocks, no BN.

``conv3x3 -> B x RRDB -> conv3x3 + long skip -> (nearest x2 -> conv3x3 -> lrelu) per stage
(nearest x3 once for x3) -> conv3x3 -> lrelu -> conv3x3``. Each RRDB is three 5-conv dense
blocks; every residual branch is scaled by ``res_scale`` (0.2) before it is added.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from srstream.archs.blocks import activation, upsample_steps

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock"]


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; ``x + res_scale * out``."""

    def __init__(self, features: int, growth: int, res_scale: float, act: str) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(features + i * growth, growth if i < 4 else features, 3, padding=1) for i in range(5)
        )
        self.acts = nn.ModuleList(activation(act, growth) for _ in range(4))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv, act in zip(self.convs[:4], self.acts):
            feats.append(act(conv(torch.cat(feats, 1))))
        return x + self.res_scale * self.convs[4](torch.cat(feats, 1))


class RRDB(nn.Module):
    """Three dense blocks with an outer scaled residual."""

    def __init__(self, features: int, growth: int, res_scale: float, act: str) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[ResidualDenseBlock(features, growth, res_scale, act) for _ in range(3)])
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.blocks(x)


class RRDBNet(nn.Module):
    """The ESRGAN generator.

    Args:
        in_channels / out_channels: 3 or 1.
        scale: 2, 3, 4 or 8.
        features: trunk width (ESRGAN: 64). growth: dense-block growth (32).
        blocks: number of RRDBs (ESRGAN: 23). res_scale: residual scaling (0.2).
        act: activation (ESRGAN: ``lrelu``).
        unshuffle: 1, or 2 (4): the picture is first folded into 4 (16) times the channels at half
            (a quarter of) its size (``pixel_unshuffle``), and upsampled by that much more, as
            Real-ESRGAN's x2plus (x1) model runs; its sides must then be even (multiples of 4).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, features: int = 64,
                 blocks: int = 23, growth: int = 32, res_scale: float = 0.2, act: str = "lrelu",
                 unshuffle: int = 1) -> None:
        super().__init__()
        self.unshuffle = unshuffle
        self.steps = upsample_steps(scale * unshuffle)
        self.head = nn.Conv2d(in_channels * unshuffle * unshuffle, features, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(features, growth, res_scale, act) for _ in range(blocks)])
        self.trunk = nn.Conv2d(features, features, 3, padding=1)
        self.up_convs = nn.ModuleList(nn.Conv2d(features, features, 3, padding=1) for _ in self.steps)
        self.up_acts = nn.ModuleList(activation(act, features) for _ in self.steps)
        self.hr = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), activation(act, features))
        self.tail = nn.Conv2d(features, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.head(x)
        feat = feat + self.trunk(self.body(feat))
        for factor, conv, act in zip(self.steps, self.up_convs, self.up_acts):
            feat = act(conv(F.interpolate(feat, scale_factor=factor, mode="nearest")))
        return self.tail(self.hr(feat))

    @staticmethod
    def margin(scale: int = 4, blocks: int = 23, unshuffle: int = 1, **_: object) -> int:
        """Receptive-field radius in input pixels: head, 15 convs per RRDB, trunk, one conv
        per upsampling stage at its resolution, two convs at output resolution; with
        ``unshuffle``, those counted at the folded resolution, ``unshuffle`` input pixels each,
        and the fold's own cell."""
        radius, resolution = 1 + 15 * blocks + 1, 1
        if unshuffle > 1:  # each finer stage's conv can reach a whole folded pixel (nearest's rounding); the fold
            return unshuffle * (radius + len(upsample_steps(scale * unshuffle)) + 1) + unshuffle - 1
        for factor in upsample_steps(scale):
            resolution *= factor
            radius += 1 / resolution
        return math.ceil(radius + 2 / scale)
