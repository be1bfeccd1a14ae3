"""The two supported third-party generators as their projects define them (layer for layer,
with their original parameter names), so tests can check our imports against the originals.

* ``SRVGGNetCompact``: Real-ESRGAN's compact video net (basicsr/archs/srvgg_arch.py):
  ``body = [conv(in, F), PReLU(F), (conv(F, F), PReLU(F)) x num_conv, conv(F, out * s^2)]``,
  pixel shuffle, plus nearest upsampling of the input.
* ``LeftthomasGenerator``: leftthomas/SRGAN's generator as in the released checkpoints
  (block7 = conv + PReLU): 9x9 conv + PReLU, 5 residual blocks (conv-BN-PReLU-conv-BN),
  conv + PReLU, long skip, (conv, pixel shuffle, PReLU) per x2, 9x9 conv, ``(tanh + 1) / 2``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class SRVGGNetCompact(nn.Module):
    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4) -> None:
        super().__init__()
        self.upscale = upscale
        self.body = nn.ModuleList([nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)])
        for _ in range(num_conv):
            self.body.append(nn.Conv2d(num_feat, num_feat, 3, 1, 1))
            self.body.append(nn.PReLU(num_parameters=num_feat))
        self.body.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class _UpsampleBlock(nn.Module):
    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * factor ** 2, kernel_size=3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(factor)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.pixel_shuffle(self.conv(x)))


class LeftthomasGenerator(nn.Module):
    def __init__(self, scale_factor: int = 4) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 64, kernel_size=9, padding=4), nn.PReLU())
        self.block2, self.block3, self.block4, self.block5, self.block6 = (_ResidualBlock(64) for _ in range(5))
        self.block7 = nn.Sequential(nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.PReLU())
        ups = [_UpsampleBlock(64, 2) for _ in range(int(math.log(scale_factor, 2)))]
        self.block8 = nn.Sequential(*ups, nn.Conv2d(64, 3, kernel_size=9, padding=4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block1 = self.block1(x)
        trunk = self.block6(self.block5(self.block4(self.block3(self.block2(block1)))))
        return (torch.tanh(self.block8(block1 + self.block7(trunk))) + 1) / 2


def randomise_bn(module: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial inference statistics and affine terms (so folding is tested)."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
        if isinstance(m, nn.PReLU):
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) * 0.5)
