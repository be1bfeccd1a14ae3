"""SRResNet / SRGAN generator (Ledig et al., 2017), with selectable batch normalisation.

``head 9x9 conv + act -> B x [conv3x3, (BN), act, conv3x3, (BN), + skip] -> conv3x3 (BN)
+ long skip -> sub-pixel upsampling -> tail 9x9 conv``.

``norm`` chooses where BatchNorm goes: ``"all"`` (the paper: in every residual block and after
the trunk conv), ``"none-in-blocks"`` (only after the trunk conv) or ``"none"`` (the default:
no BN at all). BN normalises with batch statistics during training and running statistics at
inference, which shifts colours and contrast when test images differ from the training
batches (EDSR, ESRGAN); without it the network is also simpler to export and quantise. Our
converged ablation (``benchmarks/results/training/bn_ablation/``) measured it: equal PSNR within
0.06 dB, but twice the colour error with BN, a 5-11 dB collapse when BN sees other statistics,
and a colour cast with BN outside the blocks under GAN training.

Two options exist to host imported third-party SRGAN weights exactly: ``trunk_act`` puts the
activation after the trunk conv, and ``output="tanh"`` maps the tail through ``(tanh + 1) / 2``
(both as in leftthomas/SRGAN's generator).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from srstream.archs.blocks import SubPixelUpsampler, activation

__all__ = ["NORMS", "OUTPUTS", "ResidualBlock", "SRResNet"]

NORMS = ("none", "none-in-blocks", "all")
OUTPUTS = ("linear", "tanh")


def _bn_or_identity(enabled: bool, features: int) -> nn.Module:
    return nn.BatchNorm2d(features) if enabled else nn.Identity()


class ResidualBlock(nn.Module):
    """``x + conv(act(conv(x)))``, with optional BN after each conv."""

    def __init__(self, features: int, act: str, bn: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1, bias=not bn),
            _bn_or_identity(bn, features),
            activation(act, features),
            nn.Conv2d(features, features, 3, padding=1, bias=not bn),
            _bn_or_identity(bn, features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """The SRResNet/SRGAN generator.

    Args:
        in_channels / out_channels: 3 (RGB) or 1 (grey / luma).
        scale: 2, 3, 4 or 8.
        features: channels of the trunk (paper: 64).
        blocks: residual blocks (paper: 16).
        norm: one of :data:`NORMS` (see the module docstring).
        act: activation (``prelu`` as in the paper, ``silu``, ``lrelu``).
        trunk_act: add the activation after the trunk conv (default off, as in the paper).
        output: ``"linear"`` (the paper) or ``"tanh"``: ``(tanh(x) + 1) / 2``.

    Input ``(N, in_channels, H, W)`` in [0, 1]; output ``(N, out_channels, sH, sW)``, same range
    (not clamped: clamping belongs to the consumer).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, features: int = 64,
                 blocks: int = 16, norm: str = "none", act: str = "prelu", trunk_act: bool = False,
                 output: str = "linear") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; known: {', '.join(OUTPUTS)}")
        self.scale, self.output = scale, output
        self.head = nn.Sequential(nn.Conv2d(in_channels, features, 9, padding=4), activation(act, features))
        self.body = nn.Sequential(*[ResidualBlock(features, act, bn=norm == "all") for _ in range(blocks)])
        trunk_bn = norm != "none"
        self.trunk = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1, bias=not trunk_bn), _bn_or_identity(trunk_bn, features),
            *([activation(act, features)] if trunk_act else []),
        )
        self.upsample = SubPixelUpsampler(features, scale, act)
        self.tail = nn.Conv2d(features, out_channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.trunk(self.body(feat))
        out = self.tail(self.upsample(feat))
        return (torch.tanh(out) + 1) / 2 if self.output == "tanh" else out

    @staticmethod
    def margin(scale: int = 4, blocks: int = 16, **_: object) -> int:
        """Receptive-field radius in input pixels (9x9 head, 2 convs per block, trunk conv,
        upsampling convs, 9x9 tail at output resolution)."""
        return math.ceil(4 + 2 * blocks + 1 + SubPixelUpsampler.margin(scale) + 4 / scale)
