"""Losses: pixel (L1, MSE, Charbonnier), VGG19 perceptual, discriminator feature matching,
and adversarial (SRGAN's vanilla BCE and ESRGAN's relativistic average).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from srstream.errors import ConfigError, InputError, unreadable_weights

__all__ = [
    "VGG19_LAYERS", "PerceptualLoss", "charbonnier", "discriminator_loss", "feature_matching",
    "generator_adversarial_loss", "pair_motion", "pixel_loss", "temporal_loss",
]


def charbonnier(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """``mean(sqrt((sr - hr)^2 + eps^2))``: L1 that is smooth at zero."""
    return torch.sqrt((sr - hr) ** 2 + eps * eps).mean()


def pixel_loss(kind: str, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    if kind == "l1":
        return F.l1_loss(sr, hr)
    if kind == "mse":
        return F.mse_loss(sr, hr)
    if kind == "charbonnier":
        return charbonnier(sr, hr)
    raise ConfigError(f"unknown pixel loss {kind!r}")


def _along(later: torch.Tensor, earlier: torch.Tensor, dy: int, dx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The overlap of two ``(C, H, W)`` frames whose window moved by ``(dy, dx)``: ``later[:, y, x]``
    beside ``earlier[:, y + dy, x + dx]``, where both exist."""
    h, w = later.shape[-2:]
    return (later[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)],
            earlier[:, max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)])


def pair_motion(hr: torch.Tensor, max_shift: int) -> list[tuple[int, int]]:
    """Each frame pair's motion ``(dy, dx)``: the second HR frame is the first moved by it, i.e.
    ``hr[2k + 1][:, y, x] == hr[2k][:, y + dy, x + dx]`` wherever both exist (clips move their
    window by whole HR pixels, so the match is exact). Found by trying every shift up to
    ``max_shift`` on each axis, smallest first: where several fit (a flat or periodic picture),
    the HR content agrees under each, and the smallest is taken; where none fits, ``(0, 0)``.
    """
    shifts = sorted(((dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)),
                    key=lambda d: (abs(d[0]) + abs(d[1]), d))
    pairs = hr.detach().unflatten(0, (-1, 2))
    h, w = hr.shape[-2:]
    found = []
    for first, second in pairs:
        for dy, dx in shifts:
            if abs(dy) >= h or abs(dx) >= w:
                continue
            if torch.equal(*_along(second, first, dy, dx)):
                found.append((dy, dx))
                break
        else:
            found.append((0, 0))
    return found


def temporal_loss(sr: torch.Tensor, hr: torch.Tensor, max_shift: int = 0) -> torch.Tensor:
    """L1 between SR's and HR's change from one frame to the next along the motion, for batches
    of consecutive frame pairs laid out ``(2 * pairs, C, H, W)`` (each pair's earlier frame first).

    Both frames of a pair are crops of one moving picture with exact HR truth, so the motion is
    known (:func:`pair_motion`, shifts up to ``max_shift`` HR pixels): each pixel of the later
    frame is compared with the pixel of the earlier one that shows the same content, as the
    benchmark's motion-compensated temporal error does with flow. SR whose error changes along
    the motion pays: compression noise sharpened anew every frame, and detail reconstructed
    differently at each sampling phase (content moving by an odd number of HR pixels at x2).
    ``max_shift=0`` compares the same position in both frames, which is right for still pairs
    only: for moving ones it charges the error's change across space, not time (how the recipes
    before ``loss.temporal_align`` trained).
    """
    if sr.shape != hr.shape or sr.shape[0] % 2:
        raise InputError(f"temporal loss: needs equal shapes with an even batch (frame pairs), got "
                         f"{tuple(sr.shape)} and {tuple(hr.shape)}")
    error = (sr - hr).unflatten(0, (-1, 2))
    if max_shift == 0:
        return F.l1_loss(error[:, 1], error[:, 0])
    total, count = sr.new_zeros(()), 0
    for (first, second), (dy, dx) in zip(error, pair_motion(hr, max_shift)):
        a, b = _along(second, first, dy, dx)
        total = total + (a - b).abs().sum()
        count += a.numel()
    return total / count


# torchvision's vgg19().features layout: conv (c), relu, maxpool (M). Layer names follow the
# paper's convI_J; the perceptual loss takes features *before* the ReLU (ESRGAN).
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _vgg19_layer_names() -> dict[str, int]:
    names, block, conv, index = {}, 1, 0, 0
    for item in _VGG19_CFG:
        if item == "M":
            block, conv, index = block + 1, 0, index + 1
            continue
        conv += 1
        names[f"conv{block}_{conv}"] = index
        index += 2  # conv, relu
    return names


VGG19_LAYERS = _vgg19_layer_names()


def _vgg19_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
            channels = int(item)
    return nn.Sequential(*layers)


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise InputError(f"VGG19 weights {path} do not exist; pass --vgg-weights with a local "
                         "torchvision-format vgg19 file (.pth or .safetensors); nothing is downloaded")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/format errors of many kinds
        raise InputError(f"cannot load the VGG19 weights: {unreadable_weights(path, exc)}") from exc


class PerceptualLoss(nn.Module):
    """L1 distance of VGG19 features (before ReLU) of SR and HR, ImageNet-normalised inputs.

    Args:
        weights: a torchvision-format VGG19 state dict file (keys ``features.N.weight`` ...).
        layers: names from :data:`VGG19_LAYERS`, e.g. ``("conv5_4",)`` (ESRGAN).

    Raises:
        InputError: the file is missing or cannot be loaded safely.
        ConfigError: unknown layer names, or the file is not a VGG19.
    """

    def __init__(self, weights: Path, layers: Sequence[str] = ("conv5_4",)) -> None:
        super().__init__()
        unknown = [n for n in layers if n not in VGG19_LAYERS]
        if unknown:
            raise ConfigError(f"unknown VGG19 layers {unknown}; known: {', '.join(VGG19_LAYERS)}")
        self.indices = sorted(VGG19_LAYERS[n] for n in layers)
        features = _vgg19_features()
        state = {k.removeprefix("features."): v for k, v in _load_state(Path(weights)).items()
                 if k.startswith("features.")}
        try:
            features.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"{weights} is not a torchvision VGG19: {exc}") from exc
        self.features = features[: self.indices[-1] + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.indices:
                out.append(x)
        return out

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            targets = self._feats(hr)
        return sum(F.l1_loss(a, b) for a, b in zip(self._feats(sr), targets))  # type: ignore[return-value]


def feature_matching(fake_maps: Sequence[torch.Tensor], real_maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean L1 distance between discriminator activations of SR and (detached) HR."""
    return sum(F.l1_loss(f, r.detach()) for f, r in zip(fake_maps, real_maps)) / len(fake_maps)  # type: ignore[return-value]


def generator_adversarial_loss(kind: str, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial term from discriminator logits of SR (``fake``) and HR."""
    ones, zeros = torch.ones_like(fake), torch.zeros_like(fake)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, ones)
    if kind == "ragan":
        real = real.detach()
        return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), zeros)
                      + F.binary_cross_entropy_with_logits(fake - real.mean(), ones))
    raise ConfigError(f"unknown adversarial loss {kind!r}")


def discriminator_loss(kind: str, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss from logits of (detached) SR and HR."""
    ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
    if kind == "vanilla":
        return 0.5 * (F.binary_cross_entropy_with_logits(real, ones) + F.binary_cross_entropy_with_logits(fake, zeros))
    if kind == "ragan":
        return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), ones)
                      + F.binary_cross_entropy_with_logits(fake - real.mean(), zeros))
    raise ConfigError(f"unknown adversarial loss {kind!r}")
