"""SPAN, the Swift Parameter-free Attention Network (Wan et al., "Swift Parameter-free Attention
Network for Efficient Super-Resolution", CVPR 2024 workshops; NTIRE 2024 efficient SR winner), in
its inference form, for the community's trained SPAN models (OpenModelDB's ``2xHFA2kSPAN``,
``4xNomos8k_span_otf`` and the like), which :mod:`srstream.export.peers` imports.

Every 3x3 conv of a trained SPAN is a re-parameterisable block (1x1 -> 3x3 -> 1x1 beside a 1x1);
the importer collapses each into the one plain 3x3 conv that SPAN itself runs at inference, so
this net has plain convs only:

``head: conv3x3 (in -> F)`` -> six blocks, each ``c1 -> SiLU -> c2 -> SiLU -> c3`` (3x3 convs)
whose output is ``(c3 + x) * (sigmoid(c3) - 0.5)`` (the parameter-free attention) ->
``mix: conv1x1 over [head, conv3x3(block 6), block 1, block 6's SiLU(c1)]`` -> ``up: conv3x3 (F -> out
s^2)`` -> pixel shuffle. With ``norm`` (the published models' default) the input is first moved
to ``(x - mean) * 255`` (the DIV2K RGB mean); the output is the picture itself, in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SPAN_MEAN", "SPANNet"]

#: The RGB mean a ``norm`` SPAN subtracts from its input (DIV2K's, as SPAN's code has it).
SPAN_MEAN = (0.4488, 0.4371, 0.4040)
#: The blocks of a SPAN.
SPAN_BLOCKS = 6


class _Block(nn.Module):
    """Three 3x3 convs and SPAN's parameter-free attention; also returns the first conv's output after
    its SiLU (SPAN's code applies that SiLU in place, so the output it passes on is the activated one,
    which its models were trained with)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(features, features, 3, padding=1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = F.silu(self.convs[0](x))
        out = self.convs[2](F.silu(self.convs[1](first)))
        return (out + x) * (torch.sigmoid(out) - 0.5), first


class SPANNet(nn.Module):
    """SPAN at inference (see the module docstring).

    Args:
        in_channels / out_channels: 3 (or 1 for a grey model; ``norm`` needs 3).
        scale: the pixel shuffle's factor (1 to 8).
        features: the width F (48 in the published models).
        norm: subtract the DIV2K mean and multiply by 255 first (models trained without it keep a
            ``no_norm`` buffer in their weights).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, features: int = 48,
                 norm: bool = True) -> None:
        super().__init__()
        if norm and in_channels != 3:
            raise ValueError("a SPAN with norm takes RGB (3 channels)")
        self.scale, self.norm = scale, norm
        self.head = nn.Conv2d(in_channels, features, 3, padding=1)
        self.blocks = nn.ModuleList(_Block(features) for _ in range(SPAN_BLOCKS))
        self.last = nn.Conv2d(features, features, 3, padding=1)
        self.mix = nn.Conv2d(4 * features, features, 1)
        self.up = nn.Conv2d(features, out_channels * scale * scale, 3, padding=1)
        self.register_buffer("mean", torch.tensor(SPAN_MEAN).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = (x - self.mean.to(x.dtype)) * 255.0
        head = self.head(x)
        out, first = head, head
        outs = []
        for block in self.blocks:
            out, first = block(out)
            outs.append(out)
        mixed = self.mix(torch.cat([head, self.last(out), outs[0], first], 1))
        return F.pixel_shuffle(self.up(mixed), self.scale)

    @staticmethod
    def margin(scale: int = 4, **_: object) -> int:
        """Receptive-field radius in input pixels: the longest path runs through 21 3x3 convs (the
        head, the blocks' 18, the conv after them and the upsampling conv)."""
        return 3 * SPAN_BLOCKS + 3
