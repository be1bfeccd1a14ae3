"""Fake INT8 for quantisation-aware training: the compact nets trained as the exporter quantises them.

The INT8 graphs shipped for CPUs (:mod:`srstream.export.int8`) round every quantised conv's
weights and input to 8 bits. A net trained in float alone loses what those roundings cost
(tiny-x2-deep, 8 body convs: 0.128 dB on Set5 x2, against 0.05 ``--precision auto`` accepts).
:func:`attach_fake_int8` makes a :class:`~srstream.archs.compact.CompactNet` (or the luma net of a
``CompactYNet``) compute its forward pass with the same roundings, so training learns weights
that lose little when quantised. Gradients pass the roundings straight through (and are zero
where an activation clips), as in torch's own fake-quantize ops: those round the weights; the
activations, full-size tensors, go through a leaner op of the same maths (:class:`_RoundToGrid`).

What is rounded follows the exporter's defaults exactly:

* **weights**: signed int8 per output channel, symmetric: ``scale = max|w| / 127``, values in
  [-127, 127] (ONNX Runtime's range for symmetric int8). For an edge-oriented block, the
  collapsed 3x3 kernel is what gets rounded, as it is what ships.
* **activations**: signed int8 per tensor (S8S8), asymmetric over a range that includes 0:
  ``scale = (hi - lo) / 255``, ``zero_point = round(-128 - lo / scale)``. The range is a running
  average of each batch's (min, max), where the exporter calibrates on crops; the first batch
  sets it.
* **where**: the first and the last conv stay float (``keep_float=("first", "last")``, the
  exporter's default; ``("first",)`` as realtime-x2 ships), every other conv has its weights and
  its input rounded, and so does the input of a float conv after a quantised one (that one
  writes 8-bit output; ONNX Runtime fuses each ReLU into its conv), and a quantised last conv's
  output.

Nothing here touches the state dict: the running ranges live beside the net, so checkpoints and
the shipped weights are those of the float net, and :func:`attach_fake_int8` returns the function
that removes the roundings again. Each range names its site (which conv's input or output it
rounds, :func:`rounding_sites`): the trainer saves ranges and sites in its checkpoints, and the
exporter quantises at these trained ranges instead of calibrating afresh, so the shipped INT8
graph rounds as the net was trained to (tiny-x2-12: 0.042 dB on Set5 x2 instead of 0.064 with
percentile calibration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["ActivationRange", "Conv2d", "Site", "attach_fake_int8", "fake_int8_weight", "rounded_as", "rounding_sites"]

#: Where an activation rounding sits: ``("input", k)`` or ``("output", k)`` of the net's ``k``-th conv
#: (graph order, the linear skip's filter not counted).
Site = tuple[str, int]


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same state dict) whose weight passes through ``weight_quant`` when set."""

    weight_quant: Callable[[torch.Tensor], torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight_quant is None:
            return super().forward(x)
        return self._conv_forward(x, self.weight_quant(self.weight), self.bias)


def fake_int8_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` ``[out, in, kh, kw]`` rounded to symmetric int8 per output channel (see module doc)."""
    absmax = weight.detach().float().abs().amax(dim=tuple(range(1, weight.ndim))).clamp_min(1e-12)
    scale = absmax / 127.0
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(weight.float(), scale, zero, 0, -127, 127).to(weight.dtype)


class _RoundToGrid(torch.autograd.Function):
    """``round(clamp(x, lo, hi) / scale) * scale`` with the straight-through gradient (zero where
    ``x`` clips). What ``torch.fake_quantize_per_tensor_affine`` computes, in place where it can:
    about a third of its time on a CPU, where training is bound by these full-size passes."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lo: float, hi: float, scale: float) -> torch.Tensor:  # noqa: ANN001
        inside = (x >= lo) & (x <= hi)
        ctx.save_for_backward(inside)
        return torch.clamp(x.float(), lo, hi).div_(scale).round_().mul_(scale).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # noqa: ANN001
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None


class ActivationRange:
    """A per-tensor int8 activation rounding whose range follows the batches it sees in training.

    Args:
        site: which conv's input or output it rounds (:func:`rounding_sites`).
        momentum: weight of each new batch's (min, max) in the running range; the first batch
            sets it.
    """

    def __init__(self, site: Site, momentum: float = 0.01) -> None:
        self.site, self.momentum = site, momentum
        self.lo: torch.Tensor | None = None
        self.hi: torch.Tensor | None = None

    def observe(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            lo, hi = torch.aminmax(x.detach().float())
            lo, hi = lo.clamp(max=0.0), hi.clamp(min=0.0)
            if self.lo is None or self.hi is None:
                self.lo, self.hi = lo, hi
            else:
                self.lo = torch.lerp(self.lo, lo, self.momentum)
                self.hi = torch.lerp(self.hi, hi, self.momentum)

    def grid(self) -> tuple[float, float, float]:
        """``(lo, hi, scale)`` of the 256 int8 levels: ``scale = (hi - lo) / 255`` and a zero point
        ``round(-128 - lo / scale)`` clamped to int8, so 0 is a level, as ONNX Runtime computes them."""
        assert self.lo is not None and self.hi is not None
        lo, hi = float(self.lo), float(self.hi)
        scale = max((hi - lo) / 255.0, 1e-12)
        zero = min(max(round(-128.0 - lo / scale), -128), 127)
        return (-128 - zero) * scale, (127 - zero) * scale, scale

    def __call__(self, x: torch.Tensor, *, train: bool) -> torch.Tensor:
        if train:
            self.observe(x)
        if self.lo is None or self.hi is None:
            return x
        return _RoundToGrid.apply(x, *self.grid())


def _luma_net(net: nn.Module) -> nn.Module:
    from srstream.archs.compact import CompactNet, CompactYNet

    inner = net.luma if isinstance(net, CompactYNet) else net
    if not isinstance(inner, CompactNet):
        raise TypeError(f"fake INT8 is for compact nets (compact, compact_y), not {type(net).__name__}")
    return inner


def _quantised(convs: int, keep_float: Sequence[str]) -> set[int]:
    """Which of ``convs`` convs have their weights rounded when ``keep_float`` ones stay float."""
    if not set(keep_float) <= {"first", "last"}:
        raise ValueError(f"keep_float: {tuple(keep_float)!r}: expected 'first' and/or 'last'")
    return {k for k in range(convs) if not (k == 0 and "first" in keep_float)
            and not (k == convs - 1 and "last" in keep_float)}


def rounding_sites(convs: int, keep_float: Sequence[str] = ("first", "last")) -> list[Site]:
    """The activation roundings of a net with ``convs`` convs whose ``keep_float`` convs stay float,
    in the order they run (the order of the INT8 graph's QuantizeLinear nodes): the input of every
    quantised conv and of a float conv after one, and a quantised last conv's output."""
    quantised = _quantised(convs, keep_float)
    sites: list[Site] = [("input", k) for k in range(convs) if k in quantised or k - 1 in quantised]
    return sites + [("output", convs - 1)] if convs - 1 in quantised else sites


def attach_fake_int8(net: nn.Module, keep_float: tuple[str, ...] = ("first", "last"),
                     momentum: float = 0.01) -> tuple[Callable[[], None], list[ActivationRange]]:
    """Make ``net`` (a compact net) round as its exported INT8 graph does (see the module doc).

    Args:
        keep_float: which of ``"first"`` / ``"last"`` convs stay float (the exporter's default: both;
            give what the graph will be exported with).
        momentum: see :class:`ActivationRange`.

    Returns:
        ``(detach, ranges)``: ``detach()`` restores the float forward; ``ranges`` are the
        activation roundings in the order they run (the order of the graph's QuantizeLinear nodes).

    Raises:
        TypeError: ``net`` is not a compact net, or a conv cannot take a weight rounding.
    """
    from srstream.archs.reparam import EdgeConv

    body = _luma_net(net)
    convs = [m for m in body.body if isinstance(m, (nn.Conv2d, EdgeConv))]
    quantised, sites = _quantised(len(convs), keep_float), rounding_sites(len(convs), keep_float)
    handles, ranges, weighted = [], [], []
    for k in sorted(quantised):
        if not isinstance(convs[k], (Conv2d, EdgeConv)):
            raise TypeError(f"conv {k} ({type(convs[k]).__name__}) cannot round its weights; build the net anew")
        convs[k].weight_quant = fake_int8_weight
        weighted.append(convs[k])
    for kind, k in sites:
        rounding = ActivationRange((kind, k), momentum)
        ranges.append(rounding)
        if kind == "input":  # its input is the output of a quantised conv, or it is one
            handles.append(convs[k].register_forward_pre_hook(
                lambda module, args, r=rounding: (r(args[0], train=module.training), *args[1:])))
        else:  # a quantised last conv writes 8-bit output too
            handles.append(convs[k].register_forward_hook(
                lambda module, args, out, r=rounding: r(out, train=module.training)))

    def detach() -> None:
        for handle in handles:
            handle.remove()
        for conv in weighted:
            conv.weight_quant = None

    return detach, ranges


@contextmanager
def rounded_as(net: nn.Module, ranges: Sequence[ActivationRange],
               keep_float: tuple[str, ...] = ("first", "last")) -> Iterator[nn.Module]:
    """``net`` (a float compact net) rounding as a quantisation-aware net does, at that net's
    activation ``ranges`` (from :func:`attach_fake_int8` on a net of the same shape), for the
    ``with`` block: how its weights score through the INT8 graph's roundings, e.g. the EMA
    weights of a QAT phase. The ranges are read, never moved (``net`` should be in eval mode).

    Raises:
        ValueError: ``ranges`` does not fit ``net`` (another shape or ``keep_float``), or a range
            has seen no batch yet.
    """
    detach, own = attach_fake_int8(net, keep_float)
    try:
        if len(own) != len(ranges) or any(r.lo is None or r.hi is None for r in ranges):
            raise ValueError(f"{len(ranges)} activation ranges (some unset?) for a net that rounds {len(own)}")
        for mine, theirs in zip(own, ranges):
            mine.lo, mine.hi = theirs.lo, theirs.hi
        yield net
    finally:
        detach()
