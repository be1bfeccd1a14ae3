"""Every generator builds at every scale and channel count, with the right shapes, a margin
that bounds its real receptive field, and tiles that blend back to the whole-frame result."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")

from srstream.archs import DISCRIMINATORS, GENERATORS, build_generator, generator_spec  # noqa: E402
from srstream.errors import RegistryError, SpecError  # noqa: E402
from srstream.tiling import blend_tiles, extract_tiles, plan_for_spec  # noqa: E402

TINY = {
    "srresnet": {"features": 8, "blocks": 2},
    "srresnet_bn": {"features": 8, "blocks": 2, "norm": "all"},
    "srresnet_bn_trunk": {"features": 8, "blocks": 1, "norm": "none-in-blocks", "act": "silu"},
    "rrdb": {"features": 8, "blocks": 1, "growth": 4},
    "compact": {"features": 8, "convs": 2},
    "compact_bilinear": {"features": 8, "convs": 2, "skip": "bilinear", "act": "lrelu"},
    "compact_linear": {"features": 8, "convs": 1, "skip": "linear"},
    "compact_y": {"features": 8, "convs": 2},
    "compact_unshuffle": {"features": 8, "convs": 1, "unshuffle": 2},
    "compact_y_unshuffle": {"features": 8, "convs": 2, "unshuffle": 2, "block": "ecb"},
    "span": {"features": 4},
    "span_no_norm": {"features": 4, "norm": False},
    "realplksr": {"dim": 8, "blocks": 2, "kernel": 5, "partial": 2},
    "realplksr_dysample": {"dim": 8, "blocks": 2, "kernel": 7, "partial": 2, "attention": False, "dysample": True},
}
#: Whose margin is a bound, not the reach itself: DySample's learnt offsets are taken to reach up to
#: :data:`srstream.archs.plksr.DYSAMPLE_REACH` pixels, which a random net's do not.
LOOSE_MARGINS = {"realplksr_dysample"}


def arch_of(key: str) -> str:
    if key.startswith("compact_y"):
        return "compact_y"
    if key.startswith(("span", "realplksr")):
        return key.split("_")[0]
    return "srresnet" if key.startswith("srresnet") else "compact" if key.startswith("compact_") else key


def cases() -> list[tuple[str, int, int]]:
    out = []
    for key, scale, channels in itertools.product(TINY, (2, 3, 4), (1, 3)):
        if key in ("compact_y", "compact_y_unshuffle", "span", "realplksr", "realplksr_dysample") and channels == 1:
            continue
        out.append((key, scale, channels))
    return out


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize(("key", "scale", "channels"), cases())
def test_generator_output_shape(key: str, scale: int, channels: int) -> None:
    spec = generator_spec("t", arch_of(key), scale, in_channels=channels, params=TINY[key])
    net = build_generator(spec).eval()
    with torch.no_grad():
        out = net(torch.rand(2, channels, 13, 9))
    assert out.shape == (2, channels, 13 * scale, 9 * scale)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("key", list(TINY))
def test_margin_bounds_the_real_receptive_field(key: str) -> None:
    scale = 2
    spec = generator_spec("t", arch_of(key), scale, params=TINY[key])
    net = build_generator(spec).eval().double()
    size = 2 * spec.margin + 9
    x = torch.rand(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    c = size // 2
    net(x)[0, :, c * scale, c * scale].sum().backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(1)[0] > 0, as_tuple=True)
    reach = int(max((rows - c).abs().max(), (cols - c).abs().max()))
    assert reach <= spec.margin
    if key not in LOOSE_MARGINS:
        assert reach >= spec.margin - 2  # the formula is tight, not a blanket over-estimate


@pytest.mark.parametrize("key", ["srresnet", "rrdb", "compact", "compact_bilinear", "compact_linear", "compact_y",
                                 "span", "realplksr", "realplksr_dysample"])
def test_tiled_inference_equals_whole_frame(key: str) -> None:
    spec = generator_spec("t", arch_of(key), 2, params=TINY[key])
    net = build_generator(spec).eval()
    tile = 2 * spec.tile_overlap + 8
    h, w = tile + 13, 2 * tile + 5
    image = np.random.default_rng(1).random((3, h, w), dtype=np.float32)
    plan = plan_for_spec(spec, h, w, tile=tile)
    assert len(plan) > 1
    with torch.no_grad():
        tiles = net(torch.from_numpy(extract_tiles(image, plan))).numpy()
        whole = net(torch.from_numpy(image)[None]).numpy()[0]
    np.testing.assert_allclose(blend_tiles(tiles, plan), whole, atol=2e-5)


@pytest.mark.parametrize("norm", ["bn", "spectral", "none"])
@pytest.mark.parametrize("patch", [32, 96])
def test_discriminator_accepts_its_patch_size(norm: str, patch: int) -> None:
    disc = DISCRIMINATORS.load("srgan")(in_channels=3, patch=patch, features=8, norm=norm)
    logits = disc(torch.rand(2, 3, patch, patch))
    assert logits.shape == (2, 1)
    assert len(disc.feature_maps(torch.rand(1, 3, patch, patch))) == 8
    with pytest.raises(ValueError, match="built for"):
        disc(torch.rand(2, 3, patch + 16, patch + 16))


def test_discriminator_layout_follows_srgan() -> None:
    disc = DISCRIMINATORS.load("srgan")(patch=96)
    convs = [m for m in disc.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert disc.classifier[1].in_features == 512 * 6 * 6 and disc.classifier[1].out_features == 1024
    with pytest.raises(ValueError, match="multiple of 16"):
        DISCRIMINATORS.load("srgan")(patch=100)


def test_srresnet_paper_configuration() -> None:
    spec = generator_spec("srresnet", "srresnet", 4)
    net = build_generator(spec)
    assert len(net.body) == 16 and net.head[0].kernel_size == (9, 9) and net.tail.kernel_size == (9, 9)
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in net.modules()) == 2
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # default: no BN
    with_bn = build_generator(generator_spec("b", "srresnet", 4, params={"norm": "all"}))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules()) == 2 * 16 + 1


@pytest.mark.parametrize("shape", [(12, 16), (13, 9), (1, 1)])
def test_unshuffled_compact_net_pads_to_its_phases_and_starts_from_the_skip(shape: tuple[int, int]) -> None:
    """With ``unshuffle`` the body reads the input's 2x2 phases; an input of odd size is padded
    (edges replicated) and its output cropped back, so it equals the padded input's output there,
    and a zeroed net is the nearest upscale (the skip), as without it."""
    from srstream.archs.compact import CompactNet

    net = CompactNet(1, 1, 2, features=8, convs=1, act="relu", unshuffle=2).eval()
    h, w = shape
    x = torch.rand(1, 1, h, w)
    with torch.no_grad():
        out = net(x)
        padded = net(torch.nn.functional.pad(x, (0, w % 2, 0, h % 2), mode="replicate"))
    torch.testing.assert_close(out, padded[..., :2 * h, :2 * w])
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        torch.testing.assert_close(net(x), torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    with pytest.raises(ValueError, match="unshuffle"):
        CompactNet(1, 1, 2, features=8, convs=1, skip="linear", unshuffle=2)


def test_compact_y_keeps_chroma_of_flat_colour() -> None:
    """With a zeroed network the luma is nearest-upscaled and chroma bilinear: a flat colour
    stays exactly that colour (the colour conversion round-trips)."""
    net = build_generator(generator_spec("y", "compact_y", 2, params={"features": 4, "convs": 1})).eval()
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    x = torch.tensor([0.8, 0.3, 0.1]).view(1, 3, 1, 1).expand(1, 3, 5, 6).contiguous()
    with torch.no_grad():
        out = net(x)
    torch.testing.assert_close(out, x.repeat_interleave(2, 2).repeat_interleave(2, 3), atol=1e-6, rtol=0)


def test_bad_parameters_and_names() -> None:
    with pytest.raises(SpecError, match="cannot build"):
        build_generator(generator_spec("x", "srresnet", 2, params={"norm": "group"}))
    with pytest.raises(SpecError, match="cannot build"):
        build_generator(generator_spec("x", "compact", 2, params={"featurez": 3}))
    with pytest.raises(RegistryError, match="known: srresnet, rrdb, compact, compact_y, span, realplksr"):
        generator_spec("x", "edsr", 2)


@pytest.mark.parametrize(("arch", "channels"), [("compact", 1), ("compact", 3), ("compact_y", 3)])
def test_linear_skip_is_nearest_plus_a_learned_filter(arch: str, channels: int) -> None:
    """The nearest skip at first (so a trained nearest-skip net converts to it), and a learned
    filter per output phase after; it widens the receptive field by its own radius."""
    params = {"features": 6, "convs": 1}
    nearest = build_generator(generator_spec("n", arch, 2, in_channels=channels, params=params)).eval()
    linear = build_generator(generator_spec("l", arch, 2, in_channels=channels,
                                            params={**params, "skip": "linear"})).eval()
    missing = linear.load_state_dict(nearest.state_dict(), strict=False).missing_keys
    assert [k.rsplit("skip_conv.", 1)[1] for k in missing] == ["weight"]
    x = torch.rand(2, channels, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(linear(x), nearest(x), rtol=0, atol=0)
        inner = linear.luma if arch == "compact_y" else linear
        start = inner.skip_conv.weight.clone()
        torch.nn.init.normal_(inner.skip_conv.weight, std=0.2)
        delta = linear(x) - nearest(x)
    if arch == "compact":
        expected = torch.nn.functional.pixel_shuffle(torch.nn.functional.conv2d(
            x, inner.skip_conv.weight - start, padding=inner.skip_conv.padding), 2)
        torch.testing.assert_close(delta, expected, rtol=0, atol=1e-6)
    else:  # the luma's change, added to every channel
        torch.testing.assert_close(delta[:, 0], delta[:, 2], rtol=0, atol=1e-6)
        assert delta.abs().max() > 1e-3
    spec = generator_spec("m", "compact", 2, params={"features": 4, "convs": 0, "skip": "linear"})
    assert spec.margin == 2


@pytest.mark.parametrize("act", ["relu", "prelu"])
@pytest.mark.parametrize("arch", ["compact", "compact_y"])
def test_deepen_state_keeps_the_function(arch: str, act: str) -> None:
    from srstream.archs.compact import deepen_state

    params = {"features": 6, "convs": 2, "act": act}
    shallow = build_generator(generator_spec("s", arch, 2, params=params))
    for p in shallow.parameters():  # trained-looking weights, negative PReLU inputs included
        torch.nn.init.normal_(p, std=0.3)
    deep = build_generator(generator_spec("d", arch, 2, params={**params, "convs": 5}))
    deep.load_state_dict(deepen_state(shallow.state_dict(), 2, 5, act))
    x = torch.rand(2, 3, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(deep(x), shallow(x), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="relu or prelu"):
        deepen_state(shallow.state_dict(), 2, 5, "silu")
    with pytest.raises(ValueError, match="cannot deepen"):
        deepen_state(shallow.state_dict(), 2, 1, act)
    with pytest.raises(ValueError, match="3 body convs"):
        deepen_state(shallow.state_dict(), 3, 5, act)


@pytest.mark.parametrize("block", ["conv", "ecb"])
@pytest.mark.parametrize("arch", ["compact", "compact_y"])
def test_a_strength_conditioned_net_is_the_plain_net_with_other_biases(arch: str, block: str) -> None:
    """At any one strength, the conditioned net is the unconditioned net with its biases moved by
    the offsets times the strength (what the engine does per stream); with no strength (or
    offsets still zero) it is the unconditioned net; blocks collapse with the offsets kept."""
    from srstream.archs import plain_generator

    params = {"features": 6, "convs": 2, "block": block}
    spec = generator_spec("c", arch, 2, params={**params, "strength": True})
    net = build_generator(spec).eval()
    x = torch.rand(2, 3, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(net(x, torch.tensor([0.3, 0.8])), net(x), rtol=0, atol=0)  # zero offsets
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.3)
        plain_spec, collapsed = plain_generator(spec, net)
        for s in (0.0, 0.4, 1.0):
            state = {k: v.clone() for k, v in collapsed.state_dict().items()}
            for key in [k for k in state if "strength_offsets." in k]:
                prefix, index = key.rsplit("strength_offsets.", 1)
                state[f"{prefix}body.{2 * int(index)}.bias"] += s * state.pop(key)
            plain = build_generator(generator_spec("p", arch, 2, params={k: v for k, v in plain_spec.arch_params.items()
                                                                      if k != "strength"})).eval()
            plain.load_state_dict(state)
            conditioned = net(x, torch.full((2,), s))
            torch.testing.assert_close(plain(x), conditioned, rtol=1e-5, atol=1e-4)  # ECB: another sum order
            torch.testing.assert_close(collapsed(x, torch.full((2,), s)), conditioned, rtol=1e-5, atol=1e-4)
        mixed = net(x, torch.tensor([0.0, 1.0]))  # per sample
        torch.testing.assert_close(mixed[1:], net(x[1:], torch.ones(1)), rtol=1e-5, atol=1e-4)
        assert not torch.allclose(net(x, torch.ones(2)), net(x))
