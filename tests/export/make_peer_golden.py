"""Writes the ``golden/`` files ``test_peers`` checks sr-stream's imports against: small models of
random weights as spandrel (the model loader of chaiNNer and ComfyUI; an implementation not ours)
builds them, and what spandrel's networks compute from an input.

* ``span_x2_tiny.safetensors``: a SPAN saved while training (its ``eval_conv`` as initialised, as
  the community's training checkpoints have it); ``span_x2_tiny_collapsed.safetensors``: the same
  model with only the ``eval_conv`` spandrel's inference computed (the community's
  "no_update_params" files); ``span_x2_tiny.npz``: input and output.
* ``realplksr_x2_dysample.safetensors`` / ``.npz``: a RealPLKSR with LayerNorm, the published
  models' 17x17 large kernel and DySample; ``realplksr_x3.safetensors`` / ``.npz``: one with a pixel
  shuffle, without the attention; ``realplksr_x2_groupnorm.safetensors`` / ``.npz``: one with
  RealPLKSR's first normalisation, a GroupNorm ending each block.

Not run by the tests: it needs ``pip install spandrel==0.4.2`` (and torchvision).

    python tests/export/make_peer_golden.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from spandrel.architectures.PLKSR import RealPLKSR
from spandrel.architectures.SPAN import SPAN

HERE = Path(__file__).parent / "golden"


def _spread(model: torch.nn.Module, seed: int) -> None:
    """Random weights of a trained net's size, so that every branch and bias matters."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * (0.8 / max(1, p[0].numel()) ** 0.5))


def _state(model: torch.nn.Module, keep=lambda key: True) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if keep(k)}


def _case(model: torch.nn.Module, name: str, size: tuple[int, int], seed: int) -> None:
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        y = model.eval()(x)
    print(f"{name}: output in [{float(y.min()):.3f}, {float(y.max()):.3f}]")
    np.savez_compressed(HERE / f"{name}.npz", input=x.numpy(), output=y.numpy())


def main() -> None:
    HERE.mkdir(exist_ok=True)
    span = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=4, upscale=2, norm=True)
    _spread(span, 18)
    with torch.no_grad():  # the input is (x - mean) * 255: values of a trained net's size
        span.conv_1.sk.weight /= 255
        span.conv_1.conv[0].weight /= 255
    save_file(_state(span), str(HERE / "span_x2_tiny.safetensors"))
    _case(span, "span_x2_tiny", (13, 11), 5)
    save_file(_state(span, lambda k: k.split(".")[-2] not in ("sk", "0", "1", "2") or k.startswith("upsampler")),
              str(HERE / "span_x2_tiny_collapsed.safetensors"))

    for name, scale, dysample, attention, layer_norm in [("realplksr_x2_dysample", 2, True, True, True),
                                                         ("realplksr_x3", 3, False, False, True),
                                                         ("realplksr_x2_groupnorm", 2, False, True, False)]:
        model = RealPLKSR(dim=8, n_blocks=2, upscaling_factor=scale, kernel_size=17, split_ratio=0.25,
                          use_ea=attention, dysample=dysample, layer_norm=layer_norm)
        _spread(model, scale)
        with torch.no_grad():  # a trained net's output: the (resampled) input plus a little detail, in [0, 1]
            model.feats[-1].weight *= 0.05
            model.feats[-1].bias *= 0.05
            if dysample:
                end = model.to_img.end_conv
                end.weight.copy_(1 / end.weight.shape[1] + 0.05 * torch.randn_like(end.weight))
                end.bias.zero_()
        save_file(_state(model), str(HERE / f"{name}.safetensors"))
        _case(model, name, (12, 10), scale)


if __name__ == "__main__":
    main()
