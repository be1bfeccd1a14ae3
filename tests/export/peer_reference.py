"""The supported third-party generators as their projects define them (layer for layer,
with their original parameter names), so tests can check our imports against the originals.

* ``SRVGGNetCompact``: Real-ESRGAN's compact video net (basicsr/archs/srvgg_arch.py):
  ``body = [conv(in, F), PReLU(F), (conv(F, F), PReLU(F)) x num_conv, conv(F, out * s^2)]``,
  pixel shuffle, plus nearest upsampling of the input.
* ``LeftthomasGenerator``: leftthomas/SRGAN's generator as in the released checkpoints
  (block7 = conv + PReLU): 9x9 conv + PReLU, 5 residual blocks (conv-BN-PReLU-conv-BN),
  conv + PReLU, long skip, (conv, pixel shuffle, PReLU) per x2, 9x9 conv, ``(tanh + 1) / 2``.
* ``TrainingSPAN``: SPAN (hongyuanyu/SPAN, as the community trains it) in its training form, every
  3x3 conv the branches ``Conv3XC`` trains (1x1 -> 3x3 -> 1x1 on the zero-padded input, plus a
  1x1), its ``eval_conv`` left as initialised (as a checkpoint saved while training has it).
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


class _BasicsrRDB(nn.Module):
    """BasicSR's ResidualDenseBlock: five convs, each on everything before it, LeakyReLU 0.2
    between, the last scaled by 0.2 and added to the input."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for i in range(5):
            setattr(self, f"conv{i + 1}", nn.Conv2d(num_feat + i * num_grow_ch, num_feat if i == 4 else num_grow_ch,
                                                    3, 1, 1))
        self.lrelu = nn.LeakyReLU(negative_slope=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(4):
            feats.append(self.lrelu(getattr(self, f"conv{i + 1}")(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class _BasicsrRRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (_BasicsrRDB(num_feat, num_grow_ch) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class BasicsrRRDBNet(nn.Module):
    """BasicSR's RRDBNet (Real-ESRGAN's x4plus) for a picture taken as it is (scale 4, or 2 and 8
    with one upsampling conv per x2): conv_first, RRDBs, conv_body with a long skip, (nearest x2,
    conv_upN, LeakyReLU) per stage, conv_hr + LeakyReLU, conv_last. ``fold``: Real-ESRGAN's x2plus
    (x1): the picture pixel-unshuffled 2x2 (4x4) into 4 (16) times the channels first, then x4."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32, fold: int = 1) -> None:
        super().__init__()
        self.fold = fold
        self.ups = int(math.log2(scale * fold))
        self.conv_first = nn.Conv2d(num_in_ch * fold * fold, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[_BasicsrRRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(self.ups):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(F.pixel_unshuffle(x, self.fold) if self.fold > 1 else x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.ups):
            feat = self.lrelu(getattr(self, f"conv_up{i + 1}")(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


def esrgan_original_names(state: dict[str, torch.Tensor], blocks: int, ups: int) -> dict[str, torch.Tensor]:
    """A BasicSR RRDBNet state under the original ESRGAN code's names: ``model.0`` the first conv,
    ``model.1.sub.N.RDBr.convc.0`` the dense blocks and ``model.1.sub.<blocks>`` the trunk conv,
    then (Upsample, conv, LeakyReLU) per stage and conv_hr, LeakyReLU, conv_last in one Sequential."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "body":
            out[f"model.1.sub.{parts[1]}.RDB{parts[2][3:]}.conv{parts[3][4:]}.0.{parts[4]}"] = value
        elif parts[0] == "conv_body":
            out[f"model.1.sub.{blocks}.{parts[1]}"] = value
    order = ["conv_first"] + [f"conv_up{i + 1}" for i in range(ups)] + ["conv_hr", "conv_last"]
    indices = [0] + [3 + 3 * i for i in range(ups)] + [2 + 3 * ups, 4 + 3 * ups]
    for name, index in zip(order, indices):
        for part in ("weight", "bias"):
            out[f"model.{index}.{part}"] = state[f"{name}.{part}"]
    return out


class _Conv3XC(nn.Module):
    def __init__(self, c_in: int, c_out: int, gain: int = 2) -> None:
        super().__init__()
        self.sk = nn.Conv2d(c_in, c_out, 1)
        self.conv = nn.Sequential(nn.Conv2d(c_in, c_in * gain, 1), nn.Conv2d(c_in * gain, c_out * gain, 3),
                                  nn.Conv2d(c_out * gain, c_out, 1))
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)  # stored, never used here

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (1, 1, 1, 1))) + self.sk(x)


class _SPAB(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.c1_r, self.c2_r, self.c3_r = (_Conv3XC(channels, channels) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out1 = F.silu(self.c1_r(x))  # SPAN's SiLU is in place: the out1 it returns is activated
        out3 = self.c3_r(F.silu(self.c2_r(out1)))
        return (out3 + x) * (torch.sigmoid(out3) - 0.5), out1


class TrainingSPAN(nn.Module):
    def __init__(self, num_in_ch: int = 3, feature_channels: int = 48, upscale: int = 4, norm: bool = True) -> None:
        super().__init__()
        self.upscale, self.norm = upscale, norm
        if not norm:
            self.register_buffer("no_norm", torch.zeros(1))
        self.conv_1 = _Conv3XC(num_in_ch, feature_channels)
        for i in range(1, 7):
            setattr(self, f"block_{i}", _SPAB(feature_channels))
        self.conv_cat = nn.Conv2d(4 * feature_channels, feature_channels, 1)
        self.conv_2 = _Conv3XC(feature_channels, feature_channels)
        self.upsampler = nn.Sequential(nn.Conv2d(feature_channels, num_in_ch * upscale ** 2, 3, padding=1),
                                       nn.PixelShuffle(upscale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = (x - torch.tensor([0.4488, 0.4371, 0.4040]).reshape(1, 3, 1, 1)) * 255.0
        feature = self.conv_1(x)
        out, outs = feature, []
        for i in range(1, 7):
            out, first = getattr(self, f"block_{i}")(out)
            outs.append(out)
        return self.upsampler(self.conv_cat(torch.cat([feature, self.conv_2(out), outs[0], first], 1)))
