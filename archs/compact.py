"""Compact real-time generators for live video.

:class:`CompactNet` is a plain conv stack in the style of Real-ESRGAN's SRVGGNetCompact and
ESPCN: every conv runs at input resolution, one sub-pixel shuffle at the end, and a global skip
(nearest or bilinear upsampling of the input, or ``linear``: a learned 5x5 filter of the input
per output phase, starting as nearest) so the network only learns the residual detail.
Its cost is ``features^2 x convs`` MACs per input pixel, so it is sized by those two numbers.

:class:`CompactYNet` runs the same network on the BT.601 luma of an RGB frame only and
upsamples the chroma bilinearly, in the spirit of FSRCNN/ESPCN: the eye (and Y-PSNR) care
about luma detail, and the network costs a third of the RGB one at the same width.

Both take ``block="ecb"`` to train every 3x3 conv as an edge-oriented re-parameterisable block
(:mod:`srstream.archs.reparam`); :func:`srstream.archs.plain_generator` collapses such a net
into the plain ``block="conv"`` net with the same output, which is what ships.

Both take ``strength=True`` for one net over every compression strength: ``forward(x, s)`` with
``s`` in [0, 1] per sample (0: clean input, 1: the heaviest compression trained on; see
:mod:`srstream.strength`) adds ``s * v_k`` to the output of every conv ``k``, ``v_k`` a learned
per-channel vector (zero at first, so such a net starts as the unconditioned one). That is
FFDNet's noise-level map, which enters its first conv as an input channel, given to every layer.
For one ``s`` it is a change of biases, which the engine makes once per stream
(:mod:`srstream.engine.strength`), so inference costs what the unconditioned net costs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srstream.archs.blocks import activation
from srstream.archs.quant import Conv2d
from srstream.archs.reparam import EdgeConv
from srstream.images import LUMA_BT601

__all__ = ["BLOCKS", "SKIPS", "CompactNet", "CompactYNet", "deepen_state", "nearest_skip_kernel"]

SKIPS = ("nearest", "bilinear", "linear", "none")
BLOCKS = ("conv", "ecb")
#: Kernel of the ``linear`` skip's filter (input pixels): bicubic needs 4 taps a side, 5 centres it.
LINEAR_SKIP_KERNEL = 5


def _conv3x3(block: str, in_channels: int, out_channels: int) -> nn.Module:
    if block == "ecb":
        return EdgeConv(in_channels, out_channels)
    return Conv2d(in_channels, out_channels, 3, padding=1)  # nn.Conv2d that can take fake INT8


class CompactNet(nn.Module):
    """``conv(in->F), act, convs x [conv(F->F), act], conv(F->out*s^2), shuffle(s) + skip(x)``.

    Args:
        in_channels / out_channels: 3 or 1; equal when ``skip`` is not ``"none"``.
        scale: any integer >= 1 (one PixelShuffle).
        features: width F. convs: number of F->F convs in the body.
        act: activation (``prelu`` default). skip: global skip, one of :data:`SKIPS`.
        block: ``conv`` (plain 3x3 convs) or ``ecb`` (re-parameterisable blocks for training;
            the same state-dict positions, see :func:`srstream.archs.reparam.collapse_state`).
        strength: take a compression strength per sample (see the module docstring); its
            offsets are ``strength_offsets.K`` for the K-th conv.
        unshuffle: run the body at ``1 / unshuffle`` of the input's resolution on its
            ``unshuffle**2`` pixel phases as channels (a pixel unshuffle first; the last conv makes
            the ``(scale * unshuffle)**2`` sub-pixels): per input pixel the same MACs as a net of
            ``features / unshuffle`` channels at full resolution, with ``unshuffle**2`` times its
            weights and ``unshuffle`` times its reach. The input is padded (edges replicated) to a
            multiple of ``unshuffle`` and the output cropped back.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 2, features: int = 32,
                 convs: int = 8, act: str = "prelu", skip: str = "nearest", block: str = "conv",
                 strength: bool = False, unshuffle: int = 1) -> None:
        super().__init__()
        if unshuffle < 1 or (unshuffle > 1 and skip == "linear"):
            raise ValueError(f"unshuffle must be a whole number >= 1 (without the linear skip), got {unshuffle}")
        if skip not in SKIPS:
            raise ValueError(f"unknown skip {skip!r}; known: {', '.join(SKIPS)}")
        if block not in BLOCKS:
            raise ValueError(f"unknown block {block!r}; known: {', '.join(BLOCKS)}")
        if skip != "none" and in_channels != out_channels:
            raise ValueError("a global skip needs as many output channels as input channels")
        self.scale, self.skip, self.unshuffle = scale, skip, unshuffle
        u, shuffle = unshuffle, scale * unshuffle
        layers: list[nn.Module] = [_conv3x3(block, in_channels * u * u, features), activation(act, features)]
        for _ in range(convs):
            layers += [_conv3x3(block, features, features), activation(act, features)]
        layers += [_conv3x3(block, features, out_channels * shuffle * shuffle), nn.PixelShuffle(shuffle)]
        self.body = nn.Sequential(*layers)
        # ``linear``: a learned linear filter of the input per output phase (the nearest skip at
        # first, so such a net starts as the nearest-skip one); it takes over the interpolation
        # the body would otherwise spend channels on, for 25 s^2 MACs per input pixel and no
        # more adds than the nearest skip. Not quantised (float in the INT8 graph, like the first
        # conv, which reads the same raw input).
        self.skip_conv = (nn.Conv2d(in_channels, out_channels * scale * scale, LINEAR_SKIP_KERNEL,
                                    padding=LINEAR_SKIP_KERNEL // 2, bias=False) if skip == "linear" else None)
        if self.skip_conv is not None:
            with torch.no_grad():
                self.skip_conv.weight.copy_(nearest_skip_kernel(in_channels, scale))
        widths = [features] * (convs + 1) + [out_channels * shuffle * shuffle]
        self.strength_offsets = (nn.ParameterList(nn.Parameter(torch.zeros(w)) for w in widths)
                                 if strength else None)

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``(N, C, h, w)``; ``strength``: ``(N,)`` in [0, 1] for a ``strength=True`` net
        (None: 0, clean input), ignored otherwise."""
        u = self.unshuffle
        if u > 1 and (x.shape[-2] % u or x.shape[-1] % u):
            h, w = x.shape[-2:]
            padded = F.pad(x, (0, -w % u, 0, -h % u), mode="replicate")
            return self.forward(padded, strength)[..., :h * self.scale, :w * self.scale]
        if self.strength_offsets is not None and strength is not None:
            return self._conditioned(x, strength)
        return self._skip(x, self.body[:-1](self._low(x)))

    def _low(self, x: torch.Tensor) -> torch.Tensor:
        """What the first conv reads: ``x``, or its pixel phases as channels (``unshuffle``)."""
        return F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x

    def _skip(self, x: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """The output from the last conv's output ``pre`` (before the shuffle) and the input."""
        if self.skip_conv is not None:
            return self.body[-1](pre + self.skip_conv(x))
        if self.skip == "nearest" and x.shape[1] == 1 and self.unshuffle == 1:
            # nearest(x) == shuffle(x repeated s^2 times), and a one-channel x broadcasts to the
            # s^2 channels: the skip is added before the shuffle at input resolution (one
            # low-resolution add instead of a resize and an add at output resolution).
            return self.body[-1](pre + x)
        out = self.body[-1](pre)
        if self.skip == "nearest":
            out = out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        elif self.skip == "bilinear":
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out

    def _conditioned(self, x: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        assert self.strength_offsets is not None
        s = strength.reshape(-1, 1, 1, 1).to(x.dtype)
        out, layers = self._low(x), list(self.body)
        for k, conv in enumerate(layers[0:-1:2]):
            out = conv(out) + s * self.strength_offsets[k].reshape(1, -1, 1, 1).to(x.dtype)
            if k < len(self.strength_offsets) - 1:
                out = layers[2 * k + 1](out)
        return self._skip(x, out)

    @staticmethod
    def margin(scale: int = 2, convs: int = 8, skip: str = "nearest", unshuffle: int = 1, **_: object) -> int:
        """Receptive-field radius in input pixels: ``convs + 2`` 3x3 convs at input resolution, or at
        ``1 / unshuffle`` of it (each reaching ``unshuffle`` input pixels, plus the phase's own span)."""
        return max((convs + 2) * unshuffle + unshuffle - 1,
                   1 if skip == "bilinear" else LINEAR_SKIP_KERNEL // 2 if skip == "linear" else 0)


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
                 convs: int = 8, act: str = "prelu", skip: str = "nearest", block: str = "conv",
                 strength: bool = False, unshuffle: int = 1) -> None:
        super().__init__()
        if in_channels != 3 or out_channels != 3:
            raise ValueError("compact_y takes and returns RGB (3 channels); use compact for grey images")
        self.scale = scale
        self.luma = CompactNet(1, 1, scale, features, convs, act, skip, block, strength, unshuffle)
        self.register_buffer("luma_weights", torch.tensor(LUMA_BT601).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        y = (x * self.luma_weights).sum(1, keepdim=True)
        detail = self.luma(y, strength) - F.interpolate(y, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return up + detail

    @staticmethod
    def margin(scale: int = 2, convs: int = 8, skip: str = "nearest", unshuffle: int = 1, **_: object) -> int:
        return max(CompactNet.margin(scale, convs, skip, unshuffle), 1)  # bilinear chroma: 1 pixel


def nearest_skip_kernel(channels: int, scale: int, size: int = LINEAR_SKIP_KERNEL) -> torch.Tensor:
    """The ``linear`` skip's weights that make it the nearest skip: output channel ``c*s^2 + k``
    (phase ``k`` of channel ``c`` before the shuffle) takes input channel ``c``'s centre tap."""
    weight = torch.zeros(channels * scale * scale, channels, size, size)
    for out in range(weight.shape[0]):
        weight[out, out // (scale * scale), size // 2, size // 2] = 1.0
    return weight


def deepen_state(state: dict[str, torch.Tensor], old_convs: int, new_convs: int,
                 act: str) -> dict[str, torch.Tensor]:
    """The weights of a trained compact net with ``new_convs`` body convs instead of ``old_convs``.

    The extra ``F->F`` convs are inserted before the last conv as identities (centre tap = I,
    zero bias), with PReLU slopes of 1, so the deeper network computes exactly what the trained
    one did and training continues from its quality instead of from scratch (Net2DeeperNet,
    Chen et al. 2016). A ReLU after an identity conv is an identity too, because its input
    is the output of the previous ReLU (>= 0). Works for :class:`CompactNet` (``body.*``) and
    :class:`CompactYNet` (``luma.body.*``) state dicts.

    Raises:
        ValueError: ``new_convs < old_convs``, an activation that is no identity anywhere
            (``silu``, ``lrelu``), or a state dict that is not a compact net's.
    """
    if new_convs < old_convs:
        raise ValueError(f"cannot deepen {old_convs} convs to {new_convs}")
    if act not in ("relu", "prelu"):
        raise ValueError(f"deepening needs relu or prelu activations (identity on their inputs), not {act!r}")
    prefixes = {k.rsplit("body.", 1)[0] for k in state if "body." in k}
    if len(prefixes) != 1:
        raise ValueError("not a compact net state dict (no single body.* prefix)")
    body = prefixes.pop() + "body."
    last_old, last_new = 2 * (old_convs + 1), 2 * (new_convs + 1)
    if f"{body}{last_old}.weight" not in state or f"{body}{last_old + 2}.weight" in state:
        raise ValueError(f"state dict does not hold a compact net with {old_convs} body convs")
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not key.startswith(body):
            out[key] = value
            continue
        index, name = key[len(body):].split(".", 1)
        new_index = last_new if int(index) == last_old else int(index)
        out[f"{body}{new_index}.{name}"] = value
    weight = state[f"{body}2.weight"]  # an F->F conv: shape, dtype and F
    features = weight.shape[0]
    identity = torch.zeros_like(weight)
    identity[torch.arange(features), torch.arange(features), 1, 1] = 1.0
    for i in range(old_convs + 1, new_convs + 1):
        out[f"{body}{2 * i}.weight"] = identity.clone()
        out[f"{body}{2 * i}.bias"] = torch.zeros(features, dtype=weight.dtype)
        if act == "prelu":
            out[f"{body}{2 * i + 1}.weight"] = torch.ones(features, dtype=weight.dtype)
    return out

