"""RealPLKSR (Lee and others, "Partial Large Kernel CNNs for Efficient Super-Resolution", 2024, in
the form neosr and the community train it), for the community's RealPLKSR models (OpenModelDB's
``4xNomos2_realplksr_dysample`` and the like), which :mod:`srstream.export.peers` imports.

``head: conv3x3 (3 -> D)`` -> blocks, each ``x + refine(attn(large(mix(norm(x)))))``:

* ``norm``: a LayerNorm over the channels of each pixel (the models trained with ``layer_norm``);
  or none here, and a GroupNorm (4 groups) at the block's end instead (the others: RealPLKSR's first
  form), whose statistics are the whole picture's, so that such a net runs on whole frames;
* ``mix``: conv3x3 (D -> 2D), Mish, conv3x3 (2D -> D);
* ``large``: a ``kernel x kernel`` conv (17 in the published models) over the first ``partial``
  channels, the rest passed on;
* ``attn``: ``x * sigmoid(conv3x3(x))`` (without ``attention``, nothing);
* ``refine``: conv1x1;

-> ``tail: conv3x3 (D -> 3 s^2)`` plus the input repeated ``s^2`` times per channel, -> a pixel
shuffle (the nearest-upsampled input plus the detail), or DySample (Liu and others, "Learning to
Upsample by Learning to Sample", ICCV 2023): each output pixel bilinearly samples the ``3 s^2``
maps near its own place at a learnt offset, in ``groups`` groups of channels, and a 1x1 conv
makes the picture.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DySample", "RealPLKSRNet"]

#: How far (input pixels) DySample's learnt offsets are taken to reach, on top of the bilinear
#: sample's own pixel: what the tiles overlap for it. Its offsets are
#: ``0.5 * sigmoid(.) * conv1x1(x)``, small in trained models but not bounded by the network.
DYSAMPLE_REACH = 3
#: The groups of a ``norm="group"`` block's GroupNorm (4 in RealPLKSR's code; its weights do not say).
GROUPS = 4
#: The blocks' normalisations: see the module docstring.
NORMS = ("layer", "group")


class _ChannelNorm(nn.Module):
    """LayerNorm over the channels of each pixel (``(x - mean) / sqrt(var + eps)``, then an affine)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(1, keepdim=True)
        scaled = centred / torch.sqrt(centred.pow(2).mean(1, keepdim=True) + self.eps)
        return scaled * self.weight[:, None, None] + self.bias[:, None, None]


class _Block(nn.Module):
    def __init__(self, dim: int, kernel: int, partial: int, attention: bool, norm: str) -> None:
        super().__init__()
        self.norm = _ChannelNorm(dim) if norm == "layer" else None
        self.group_norm = nn.GroupNorm(GROUPS, dim) if norm == "group" else None
        self.mix = nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, padding=1), nn.Mish(),
                                 nn.Conv2d(2 * dim, dim, 3, padding=1))
        self.large = nn.Conv2d(partial, partial, kernel, padding=kernel // 2)
        self.attn = nn.Conv2d(dim, dim, 3, padding=1) if attention else None
        self.refine = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.mix(self.norm(x) if self.norm is not None else x)
        p = self.large.in_channels
        out = torch.cat([self.large(out[:, :p]), out[:, p:]], 1)
        if self.attn is not None:
            out = out * torch.sigmoid(self.attn(out))
        out = self.refine(out)
        return x + (self.group_norm(out) if self.group_norm is not None else out)


class DySample(nn.Module):
    """DySample (see the module docstring) of ``channels`` maps into ``out_channels``, ``scale`` times.
    ``offsets`` holds its sampling places' starting offsets (input pixels, ``(1, 2 G s^2, 1, 1)``: the
    x ones, then the y ones), which its weight files carry."""

    def __init__(self, channels: int, out_channels: int, scale: int, groups: int) -> None:
        super().__init__()
        self.scale, self.groups = scale, groups
        self.offset = nn.Conv2d(channels, 2 * groups * scale * scale, 1)
        self.scope = nn.Conv2d(channels, 2 * groups * scale * scale, 1, bias=False)
        self.end = nn.Conv2d(channels, out_channels, 1)
        self.register_buffer("offsets", torch.zeros(1, 2 * groups * scale * scale, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        s, g = self.scale, self.groups
        shift = self.offset(x) * torch.sigmoid(self.scope(x)) * 0.5 + self.offsets
        # where each output sub-pixel samples, in input pixels from the top-left corner (the centre
        # of pixel (i, j) is at (j + 0.5, i + 0.5)), as grid_sample's [-1, 1] of the whole input
        cols = (torch.arange(w, dtype=x.dtype, device=x.device) + 0.5).reshape(1, 1, 1, 1, w)
        rows = (torch.arange(h, dtype=x.dtype, device=x.device) + 0.5).reshape(1, 1, 1, h, 1)
        shift = shift.reshape(n, 2, g * s * s, h, w)
        across = 2 * (cols + shift[:, :1]) / w - 1
        down = 2 * (rows + shift[:, 1:]) / h - 1
        grid = F.pixel_shuffle(torch.cat([across, down], 1).reshape(n, 2 * g * s * s, h, w), s)
        grid = grid.reshape(n, 2, g, s * h, s * w).permute(0, 2, 3, 4, 1).reshape(n * g, s * h, s * w, 2)
        sampled = F.grid_sample(x.reshape(n * g, c // g, h, w), grid, mode="bilinear", padding_mode="border",
                                align_corners=False)
        return self.end(sampled.reshape(n, c, s * h, s * w))


class RealPLKSRNet(nn.Module):
    """RealPLKSR at inference (see the module docstring); RGB in and out.

    Args:
        scale: 2 to 8. dim: the width D (64 in the published models). blocks: 28 in them.
        kernel: the large kernel's size (17). partial: the channels it convolves (D / 4).
        attention: the element-wise attention (on in the published models).
        dysample: DySample instead of the pixel shuffle.
        norm: ``layer`` (a LayerNorm first in each block) or ``group`` (a GroupNorm last).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, dim: int = 64, blocks: int = 28,
                 kernel: int = 17, partial: int = 16, attention: bool = True, dysample: bool = False,
                 norm: str = "layer") -> None:
        super().__init__()
        if in_channels != 3 or out_channels != 3:
            raise ValueError("RealPLKSR takes and returns RGB (3 channels)")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
        self.scale = scale
        self.head = nn.Conv2d(3, dim, 3, padding=1)
        self.blocks = nn.Sequential(*(_Block(dim, kernel, partial, attention, norm) for _ in range(blocks)))
        self.tail = nn.Conv2d(dim, 3 * scale * scale, 3, padding=1)
        self.dysample = DySample(3 * scale * scale, 3, scale, 3 if scale % 2 else 4) if dysample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.tail(self.blocks(self.head(x))) + torch.repeat_interleave(x, self.scale * self.scale, dim=1)
        return self.dysample(out) if self.dysample is not None else F.pixel_shuffle(out, self.scale)

    @staticmethod
    def margin(scale: int = 4, blocks: int = 28, kernel: int = 17, attention: bool = True, dysample: bool = False,
               **_: object) -> int:
        """Receptive-field radius in input pixels of its convolutions: per block two 3x3 convs, the large
        kernel's half and the attention's 3x3; the head and the tail; DySample's bilinear pixel and its
        offsets' :data:`DYSAMPLE_REACH`. (A ``norm="group"`` net reaches the whole picture through its
        GroupNorms: its spec says whole frames.)"""
        return blocks * (2 + kernel // 2 + (1 if attention else 0)) + 2 + (1 + DYSAMPLE_REACH if dysample else 0)
