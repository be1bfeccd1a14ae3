"""Losses: values, the GAN formulations, and VGG19 loading from local files only."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")

from srstream.errors import ConfigError, InputError  # noqa: E402
from srstream.trainer import losses  # noqa: E402


def test_pixel_losses() -> None:
    a, b = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    assert float(losses.pixel_loss("l1", a, b)) == pytest.approx(0.5)
    assert float(losses.pixel_loss("mse", a, b)) == pytest.approx(0.25)
    assert float(losses.pixel_loss("charbonnier", a, b)) == pytest.approx((0.25 + 1e-6) ** 0.5)
    assert float(losses.charbonnier(a, a)) == pytest.approx(1e-3)
    with pytest.raises(ConfigError):
        losses.pixel_loss("l3", a, b)


@pytest.mark.parametrize("kind", ["vanilla", "ragan"])
def test_gan_losses_reward_the_right_side(kind: str) -> None:
    confident_real, confident_fake = torch.full((4, 1), 5.0), torch.full((4, 1), -5.0)
    # A discriminator that separates well has a small loss; the generator then has a large one.
    d_good = losses.discriminator_loss(kind, confident_fake, confident_real)
    d_bad = losses.discriminator_loss(kind, confident_real, confident_fake)
    assert float(d_good) < 0.01 < float(d_bad)
    g_losing = losses.generator_adversarial_loss(kind, confident_fake, confident_real)
    g_winning = losses.generator_adversarial_loss(kind, confident_real, confident_fake)
    assert float(g_winning) < 0.01 < float(g_losing)


def test_ragan_generator_gets_gradient_through_fake_only() -> None:
    fake = torch.zeros(3, 1, requires_grad=True)
    real = torch.ones(3, 1, requires_grad=True)
    losses.generator_adversarial_loss("ragan", fake, real).backward()
    assert fake.grad is not None and real.grad is None


def test_feature_matching_detaches_real() -> None:
    fake = [torch.zeros(2, 3, requires_grad=True)]
    real = [torch.ones(2, 3, requires_grad=True)]
    value = losses.feature_matching(fake, real)
    value.backward()
    assert float(value.detach()) == pytest.approx(1.0) and real[0].grad is None


def _fake_vgg19(path: Path) -> Path:
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in losses._vgg19_features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier too
    torch.save(state, path)
    return path


def test_perceptual_loss_from_a_local_torchvision_file(tmp_path: Path) -> None:
    loss = losses.PerceptualLoss(_fake_vgg19(tmp_path / "vgg19.pth"), ["conv2_2", "conv5_4"])
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    assert float(loss(x, x).detach()) == 0.0
    value = loss(x, torch.rand(2, 3, 32, 32))
    value.backward()
    assert float(value.detach()) > 0 and x.grad is not None
    assert not any(p.requires_grad for p in loss.parameters())
    assert float(loss(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))) > 0  # grey input


def test_perceptual_loss_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing is downloaded"):
        losses.PerceptualLoss(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ConfigError, match="not a torchvision VGG19"):
        losses.PerceptualLoss(wrong)
    with pytest.raises(ConfigError, match="unknown VGG19 layers"):
        losses.PerceptualLoss(_fake_vgg19(tmp_path / "v.pth"), ["conv9_9"])
    pickled = tmp_path / "evil.pth"
    torch.save({"features.0.weight": object()}, pickled)
    with pytest.raises(InputError, match="never unpickles arbitrary objects"):
        losses.PerceptualLoss(pickled)


def test_temporal_loss_counts_change_that_the_truth_does_not_have() -> None:
    from srstream.trainer.losses import temporal_loss

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(4, 1, 8, 8, generator=g)  # two pairs
    assert temporal_loss(hr, hr) == 0
    assert temporal_loss(hr + 0.1, hr) < 1e-6  # the same error in both frames is steady
    flicker = hr.clone()
    flicker[1::2] += 0.05  # the later frame of each pair brighter: a change the truth does not have
    assert temporal_loss(flicker, hr) == pytest.approx(0.05, abs=1e-6)
    with pytest.raises(InputError, match="even"):
        temporal_loss(hr[:3], hr[:3])


def _moving_pair(picture: torch.Tensor, dy: int, dx: int, size: int = 16) -> torch.Tensor:
    """Two ``size`` crops of ``picture`` ``(C, H, W)``, the second's window moved by ``(dy, dx)``."""
    y, x = 4, 4
    return torch.stack([picture[:, y:y + size, x:x + size], picture[:, y + dy:y + dy + size, x + dx:x + dx + size]])


def test_the_aligned_temporal_loss_follows_the_pairs_motion() -> None:
    """With the clip's motion found from the HR pair, output that moves with its content (the
    error moving along) is steady, while error that stays put on moving content (what a loss
    at fixed positions wants) or that changes with the sampling phase pays."""
    from srstream.trainer.losses import pair_motion, temporal_loss

    g = torch.Generator().manual_seed(1)
    picture, error = torch.rand(1, 32, 32, generator=g), 0.1 * torch.rand(1, 32, 32, generator=g)
    hr = torch.cat([_moving_pair(picture, 2, -3), _moving_pair(picture, 0, 0), _moving_pair(picture, -1, 1)])
    assert pair_motion(hr, 3) == [(2, -3), (0, 0), (-1, 1)]
    assert pair_motion(hr, 1)[0] == (0, 0)  # beyond the search: none found
    flat = torch.full((2, 1, 16, 16), 0.5)
    assert pair_motion(flat, 3) == [(0, 0)]  # every shift fits a flat picture: the smallest is taken
    moving_error = torch.cat([_moving_pair(error, 2, -3), _moving_pair(error, 0, 0), _moving_pair(error, -1, 1)])
    sr = hr + moving_error
    assert temporal_loss(sr, hr, 3) < 1e-6
    assert temporal_loss(sr, hr) > 0.02  # the fixed-position loss charges it
    fixed_error = hr + error[:, :16, :16]  # the same error at the same place in both frames
    assert temporal_loss(fixed_error, hr) < 1e-6
    assert temporal_loss(fixed_error, hr, 3) > 0.02
    flicker = sr.clone()
    flicker[1::2] += 0.05
    assert temporal_loss(flicker, hr, 3) == pytest.approx(0.05, abs=1e-6)
