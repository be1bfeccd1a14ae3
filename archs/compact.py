"""Compact real-time generators for live video.

:class:`CompactNet` is a plain conv stack in the style of Real-ESRGAN's SRVGGNetCompact and
ESPCN: every conv runs at input resolution, one sub-pixel shuffle at the end, and a global skip
(nearest or bilinear upsampling of the input) so the network only learns the residual detail.
Its cost is ``features^2 x convs`` MACs per input pixel, so it is sized by those two numbers.

:class:`CompactYNet` runs the same network on the BT.601 luma of an RGB frame only and
upsamples the chroma bilinearly, in the spirit of FSRCNN/ESPCN: the eye (and Y-PSNR) care
about luma detail, and the network costs a third of the RGB one at the same width.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srstream.archs.blocks import activation
from srstream.images import LUMA_BT601

__all__ = ["SKIPS", "CompactNet", "CompactYNet"]

SKIPS = ("nearest", "bilinear", "none")


class CompactNet(nn.Module):
    """``conv(in->F), act, convs x [conv(F->F), act], conv(F->out*s^2), shuffle(s) + skip(x)``.

    Args:
        in_channels / out_channels: 3 or 1; equal when ``skip`` is not ``"none"``.
        scale: any integer >= 1 (one PixelShuffle).
        features: width F. convs: number of F->F convs in the body.
        act: activation (``prelu`` default). skip: global skip, one of :data:`SKIPS`.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 2, features: int = 32,
                 convs: int = 8, act: str = "prelu", skip: str = "nearest") -> None:
        super().__init__()
        if skip not in SKIPS:
            raise ValueError(f"unknown skip {skip!r}; known: {', '.join(SKIPS)}")
        if skip != "none" and in_channels != out_channels:
            raise ValueError("a global skip needs as many output channels as input channels")
        self.scale, self.skip = scale, skip
        layers: list[nn.Module] = [nn.Conv2d(in_channels, features, 3, padding=1), activation(act, features)]
        for _ in range(convs):
            layers += [nn.Conv2d(features, features, 3, padding=1), activation(act, features)]
        layers += [nn.Conv2d(features, out_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.skip == "nearest" and x.shape[1] == 1:
            # nearest(x) == shuffle(x repeated s^2 times), and a one-channel x broadcasts to the
            # s^2 channels: the skip is added before the shuffle at input resolution (one
            # low-resolution add instead of a resize and an add at output resolution).
            return self.body[-1](self.body[:-1](x) + x)
        out = self.body(x)
        if self.skip == "nearest":
            out = out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        elif self.skip == "bilinear":
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out

    @staticmethod
    def margin(scale: int = 2, convs: int = 8, skip: str = "nearest", **_: object) -> int:
        """Receptive-field radius in input pixels: ``convs + 2`` 3x3 convs at input resolution."""
        return max(convs + 2, 1 if skip == "bilinear" else 0)


class CompactYNet(nn.Module):
    """RGB in, RGB out; a :class:`CompactNet` upscales the luma, chroma is upscaled bilinearly.

    ``in_channels``/``out_channels`` must be 3 (a grey model is a plain ``CompactNet`` with one
    channel). The colour handling is inside the graph, so exported models take RGB.

    Converting to full-range BT.601 YCbCr, upscaling Cb/Cr bilinearly and converting back is
    affine, and the inverse transform's luma column is all ones, so it equals
    ``bilinear(rgb) + (net(Y) - bilinear(Y))`` added to every channel (bilinear resizing is
    linear, so ``bilinear(Y)`` is the luma of ``bilinear(rgb)``). That is what runs: two resizes
    and one weighted sum at input resolution instead of a chain of per-channel slices, which is
    cheaper in every runtime.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 2, features: int = 32,
                 convs: int = 8, act: str = "prelu", skip: str = "nearest") -> None:
        super().__init__()
        if in_channels != 3 or out_channels != 3:
            raise ValueError("compact_y takes and returns RGB (3 channels); use compact for grey images")
        self.scale = scale
        self.luma = CompactNet(1, 1, scale, features, convs, act, skip)
        self.register_buffer("luma_weights", torch.tensor(LUMA_BT601).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        y = (x * self.luma_weights).sum(1, keepdim=True)
        detail = self.luma(y) - F.interpolate(y, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return up + detail

    @staticmethod
    def margin(scale: int = 2, convs: int = 8, skip: str = "nearest", **_: object) -> int:
        return max(CompactNet.margin(scale, convs, skip), 1)  # bilinear chroma: 1 pixel
