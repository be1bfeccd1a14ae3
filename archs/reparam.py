"""Re-parameterisable convolutions: trained as several branches, run as one plain 3x3 conv.

:class:`EdgeConv` is the edge-oriented convolution block of ECBSR (Zhang, Zeng and Zhang,
"Edge-oriented Convolution Block for Real-time Super Resolution on Mobile Devices", ACM MM 2021):
the sum of

* a plain 3x3 conv,
* a 1x1 conv that expands to ``multiplier x out`` channels, followed by a 3x3 conv,
* three 1x1 convs, each followed by a fixed depthwise edge filter (Sobel-x, Sobel-y,
  Laplacian) with a learnt per-channel scale and bias,
* and, when the block keeps its width, the identity.

Every branch is linear, so their sum is one 3x3 conv (:meth:`EdgeConv.collapse`). The
1x1 -> 3x3 branches are exact only if the 1x1 output is padded with its own bias (what a
zero-padded input maps to), which is what :meth:`EdgeConv.forward_branches` does.

Training runs :meth:`EdgeConv.forward`, which collapses the branches *inside the graph* and runs
one conv: the same function of the same parameters (so the same gradients and optimiser
dynamics as the multi-branch form), at about a third of the multi-branch cost.
Only the collapsed weights ship: a net of these blocks exports as a plain compact net.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["EdgeConv", "collapse_state", "expand_state"]

_SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
_SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))
_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


class _EdgeBranch(nn.Module):
    """``1x1 conv (in -> out)`` then a fixed depthwise 3x3 ``mask`` scaled per channel, plus a bias."""

    def __init__(self, in_channels: int, out_channels: int, mask: tuple[tuple[float, ...], ...]) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)
        self.scale = nn.Parameter(torch.randn(out_channels, 1, 1, 1) * 1e-3)
        self.bias = nn.Parameter(torch.randn(out_channels) * 1e-3)
        self.register_buffer("mask", torch.tensor(mask).expand(out_channels, 1, 3, 3).clone(), persistent=False)

    def kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The branch as one dense 3x3 conv: ``(weight [out, in, 3, 3], bias [out])``."""
        depthwise = self.scale * self.mask  # [out, 1, 3, 3]
        weight = depthwise * self.pointwise.weight  # [out, 1, 3, 3] * [out, in, 1, 1]
        bias = self.bias + depthwise.sum((1, 2, 3)) * self.pointwise.bias
        return weight, bias

    def forward_branch(self, x: torch.Tensor) -> torch.Tensor:
        y = _pad_with_bias(self.pointwise(x), self.pointwise.bias)
        return F.conv2d(y, self.scale * self.mask, self.bias, groups=y.shape[1])


def _pad_with_bias(y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Pad a 1x1 conv's output by one pixel with the conv's bias: what a zero border maps to."""
    padded = F.pad(y, (1, 1, 1, 1))
    border = torch.ones_like(padded)
    border[:, :, 1:-1, 1:-1] = 0
    return padded + border * bias.view(1, -1, 1, 1)


class EdgeConv(nn.Module):
    """An edge-oriented convolution block (ECB), a drop-in for ``nn.Conv2d(in, out, 3, padding=1)``.

    Args:
        in_channels / out_channels: widths.
        multiplier: expansion of the 1x1 -> 3x3 branch (ECBSR uses 2).
        identity: add the input (only when ``in_channels == out_channels``; ignored otherwise).

    Input ``[N, in, H, W]`` float, output ``[N, out, H, W]``; zero padding, like the conv it replaces.
    """

    def __init__(self, in_channels: int, out_channels: int, multiplier: float = 2.0, identity: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        mid = max(1, int(round(out_channels * multiplier)))
        self.conv3x3 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.expand = nn.Conv2d(in_channels, mid, 1)
        self.squeeze = nn.Conv2d(mid, out_channels, 3)
        self.sobel_x = _EdgeBranch(in_channels, out_channels, _SOBEL_X)
        self.sobel_y = _EdgeBranch(in_channels, out_channels, _SOBEL_Y)
        self.laplacian = _EdgeBranch(in_channels, out_channels, _LAPLACIAN)
        self.identity = identity and in_channels == out_channels

    def collapse(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole block as one 3x3 conv: ``(weight [out, in, 3, 3], bias [out])``.

        Differentiable, so :meth:`forward` trains through it.
        """
        weight, bias = self.conv3x3.weight, self.conv3x3.bias
        # 1x1 (W1 [mid, in], b1) then 3x3 (W2 [out, mid, 3, 3], b2):
        # W = sum_m W2[o, m] W1[m, i]; b = b2 + sum_m,k W2[o, m, k] b1[m]
        w1 = self.expand.weight[:, :, 0, 0]
        weight = weight + torch.einsum("omhw,mi->oihw", self.squeeze.weight, w1)
        bias = bias + self.squeeze.bias + torch.einsum("omhw,m->o", self.squeeze.weight, self.expand.bias)
        for branch in (self.sobel_x, self.sobel_y, self.laplacian):
            w, b = branch.kernel()
            weight, bias = weight + w, bias + b
        if self.identity:
            eye = torch.zeros_like(weight)
            idx = torch.arange(self.out_channels, device=weight.device)
            eye[idx, idx, 1, 1] = 1.0
            weight = weight + eye
        return weight, bias

    #: set by :func:`srstream.archs.quant.attach_fake_int8`: rounds the collapsed kernel (training only)
    weight_quant: Callable[[torch.Tensor], torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.collapse()
        if self.weight_quant is not None:
            weight = self.weight_quant(weight)
        return F.conv2d(x, weight.to(x.dtype), bias.to(x.dtype), padding=1)

    def forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        """The multi-branch form, computed branch by branch (the reference :meth:`forward` equals)."""
        out = self.conv3x3(x)
        out = out + self.squeeze(_pad_with_bias(self.expand(x), self.expand.bias))
        for branch in (self.sobel_x, self.sobel_y, self.laplacian):
            out = out + branch.forward_branch(x)
        return out + x if self.identity else out


def collapse_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict with every :class:`EdgeConv` ``P`` replaced by ``P.weight``/``P.bias``.

    The result loads into the same network built with plain ``nn.Conv2d`` in place of each
    block (see :class:`~srstream.archs.compact.CompactNet`'s ``block`` argument).
    """
    state: dict[str, torch.Tensor] = {}
    blocks = {name: m for name, m in module.named_modules() if isinstance(m, EdgeConv)}
    with torch.no_grad():
        for name, block in blocks.items():
            weight, bias = block.collapse()
            state[f"{name}.weight"], state[f"{name}.bias"] = weight.detach().clone(), bias.detach().clone()
        for key, value in module.state_dict().items():
            if not any(key.startswith(f"{name}.") for name in blocks):
                state[key] = value
    return state


def expand_state(module: nn.Module, plain: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`collapse_state` for one starting point: a state dict for ``module``
    (built with :class:`EdgeConv` blocks) whose every block collapses to the plain conv of the same
    name in ``plain``, so the network starts with the plain network's output and trains on in the
    multi-branch form. Each block keeps its own random branches; only its 3x3 branch absorbs the
    difference.

    Raises:
        KeyError: ``plain`` lacks a block's ``weight``/``bias`` or another parameter of ``module``.
    """
    state = {key: value.detach().clone() for key, value in module.state_dict().items()}
    blocks = {name: m for name, m in module.named_modules() if isinstance(m, EdgeConv)}
    with torch.no_grad():
        for name, block in blocks.items():
            weight, bias = block.collapse()
            target_w, target_b = plain[f"{name}.weight"], plain[f"{name}.bias"]
            state[f"{name}.conv3x3.weight"] += target_w.to(weight) - weight  # dtype and device
            state[f"{name}.conv3x3.bias"] += target_b.to(bias) - bias
    for key in state:
        if not any(key.startswith(f"{name}.") for name in blocks):
            state[key] = plain[key].detach().to(state[key], copy=True)
    return state
