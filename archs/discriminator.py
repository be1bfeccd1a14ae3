"""The SRGAN discriminator: a VGG-style classifier of HR patches (Ledig et al., 2017).

Eight 3x3 convs, 64 -> 512 features, doubling the features every second conv and halving the
resolution with stride 2 whenever they do not double (k3n64s1, k3n64s2, k3n128s1, k3n128s2,
... k3n512s2), LeakyReLU(0.2), then dense 1024 -> LeakyReLU -> dense 1 (a logit).

``norm="bn"`` is the paper's BatchNorm (not after the first conv); ``"spectral"`` wraps every
conv and dense layer in spectral normalisation instead, which keeps the discriminator
Lipschitz-bounded and training stabler with small batches.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["DISCRIMINATOR_NORMS", "SRGANDiscriminator"]

DISCRIMINATOR_NORMS = ("bn", "spectral", "none")


class SRGANDiscriminator(nn.Module):
    """Classifies ``(N, in_channels, patch, patch)`` images; returns ``(N, 1)`` logits.

    Args:
        patch: the training HR patch size this instance is built for; must be a multiple of 16.
        features: width of the first conv (paper: 64); doubled three times.
        norm: one of :data:`DISCRIMINATOR_NORMS`.

    Raises:
        ValueError: a patch size that is not a positive multiple of 16, or an unknown norm.
    """

    def __init__(self, in_channels: int = 3, patch: int = 96, features: int = 64, norm: str = "bn") -> None:
        super().__init__()
        if norm not in DISCRIMINATOR_NORMS:
            raise ValueError(f"unknown discriminator norm {norm!r}; known: {', '.join(DISCRIMINATOR_NORMS)}")
        if patch < 16 or patch % 16:
            raise ValueError(f"discriminator patch size must be a positive multiple of 16, got {patch}")
        self.patch = patch
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(8):
            out = features * 2 ** (i // 2)
            stride = 2 if i % 2 else 1
            layers.append(sn(nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=norm != "bn" or i == 0)))
            if norm == "bn" and i > 0:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels = out
        self.features = nn.Sequential(*layers)
        side = patch // 16
        self.classifier = nn.Sequential(
            nn.Flatten(),
            sn(nn.Linear(channels * side * side, 1024)),
            nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Linear(1024, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the activations after every LeakyReLU of the conv stack, from one pass
        (the feature-matching loss needs both; a second pass would double the cost)."""
        if x.shape[-2:] != (self.patch, self.patch):
            raise ValueError(
                f"discriminator built for {self.patch}x{self.patch} patches got {tuple(x.shape[-2:])}"
            )
        maps = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                maps.append(x)
        return self.classifier(x), maps

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after every LeakyReLU of the conv stack (for feature-matching loss)."""
        return self.forward_with_features(x)[1]
