"""Writes ``golden/span_x2_tiny.safetensors`` and ``golden/span_x2_tiny.npz``: a small SPAN of random
weights as spandrel (the model loader of chaiNNer and ComfyUI) builds it, saved while training (its
``eval_conv`` as initialised, as the community's training checkpoints have it), and what spandrel's
SPAN computes from an input in eval mode; and ``golden/span_x2_tiny_collapsed.safetensors``, the same
model with only the ``eval_conv`` that spandrel's inference computed. ``test_peers`` checks sr-stream's import against them, an
implementation of SPAN that is not ours. Not run by the tests: it needs ``pip install spandrel==0.4.2``
(and torchvision).

    python tests/export/make_span_golden.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from spandrel.architectures.SPAN import SPAN

HERE = Path(__file__).parent / "golden"


def main() -> None:
    torch.manual_seed(18)
    model = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=4, upscale=2, norm=True)
    with torch.no_grad():  # spread the weights so that every branch and bias matters
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * (0.8 / max(1, p[0].numel()) ** 0.5))
        model.conv_1.sk.weight /= 255  # the input is (x - mean) * 255: values of a trained net's size
        model.conv_1.conv[0].weight /= 255
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    x = torch.rand(1, 3, 13, 11, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y = model.eval()(x)
    print(f"output in [{float(y.min()):.3f}, {float(y.max()):.3f}]")
    HERE.mkdir(exist_ok=True)
    save_file(state, str(HERE / "span_x2_tiny.safetensors"))
    # the same model saved after spandrel's inference, its branches dropped: eval_conv only, as a
    # model saved collapsed (the community's "no_update_params" files) holds it
    collapsed = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
                 if k.split(".")[-2] not in ("sk", "0", "1", "2") or k.startswith("upsampler")}
    save_file(collapsed, str(HERE / "span_x2_tiny_collapsed.safetensors"))
    np.savez_compressed(HERE / "span_x2_tiny.npz", input=x.numpy(), output=y.numpy())


if __name__ == "__main__":
    main()
