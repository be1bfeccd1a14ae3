"""Edge-oriented re-parameterisable blocks: the multi-branch block, its in-graph collapse and
the plain net it ships as compute the same function."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")

from srstream.archs import build_generator, generator_spec, plain_generator  # noqa: E402
from srstream.archs.reparam import EdgeConv  # noqa: E402


def _randomise(module: torch.nn.Module) -> None:
    """Give every parameter a non-trivial value (the edge branches start near zero)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)


@pytest.mark.parametrize(("cin", "cout"), [(1, 8), (8, 8), (8, 4)])
def test_edge_conv_collapse_equals_branches(cin: int, cout: int) -> None:
    torch.manual_seed(0)
    block = EdgeConv(cin, cout).double()
    _randomise(block)
    x = torch.rand(2, cin, 11, 7, dtype=torch.float64)
    branches = block.forward_branches(x)
    plain = torch.nn.Conv2d(cin, cout, 3, padding=1).double()
    with torch.no_grad():
        plain.weight.copy_(block.collapse()[0])
        plain.bias.copy_(block.collapse()[1])
        assert torch.allclose(block(x), branches, atol=1e-10)
        assert torch.allclose(plain(x), branches, atol=1e-10)
    assert block.identity == (cin == cout)


def test_edge_conv_gradients_equal_the_multi_branch_form() -> None:
    """Training through the in-graph collapse is the multi-branch block's training."""
    torch.manual_seed(1)
    block = EdgeConv(4, 4).double()
    _randomise(block)
    x = torch.rand(1, 4, 9, 9, dtype=torch.float64)
    block(x).square().sum().backward()
    fused = {n: p.grad.clone() for n, p in block.named_parameters()}
    block.zero_grad()
    block.forward_branches(x).square().sum().backward()
    for name, p in block.named_parameters():
        assert torch.allclose(fused[name], p.grad, atol=1e-9), name


@pytest.mark.parametrize(("arch", "scale"), [("compact_y", 2), ("compact_y", 4), ("compact", 3)])
def test_collapsed_net_equals_multi_branch_net(arch: str, scale: int) -> None:
    """The issue's check: within 1e-5 on random input, in float32, at the size the engine runs."""
    torch.manual_seed(2)
    params = {"features": 16, "convs": 4, "act": "relu", "block": "ecb"}
    spec = generator_spec("t", arch, scale, params=params)
    net = build_generator(spec).eval()
    with torch.no_grad():  # default init, but every branch of every block non-trivial
        for name, p in net.named_parameters():
            if name.endswith(("scale", "sobel_x.bias", "sobel_y.bias", "laplacian.bias")) or "expand" in name:
                p.copy_(torch.randn_like(p) * 0.1)
    plain_spec, plain = plain_generator(spec, net)
    assert "block" not in plain_spec.arch_params
    assert not any(isinstance(m, EdgeConv) for m in plain.modules())
    x = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        reference = _branch_forward(net, x)
        out = plain.eval()(x)
    assert reference.abs().max() > 0.1  # a real signal, not a vanishing one
    assert (out - reference).abs().max() < 1e-5


def _branch_forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``net`` with every block run branch by branch (the reference form)."""
    originals = {}
    for m in net.modules():
        if isinstance(m, EdgeConv):
            originals[m] = m.forward
            m.forward = m.forward_branches  # type: ignore[method-assign]
    try:
        return net(x)
    finally:
        for m, fwd in originals.items():
            m.forward = fwd  # type: ignore[method-assign]


def test_plain_generator_leaves_plain_nets_alone() -> None:
    spec = generator_spec("t", "compact_y", 2, params={"features": 8, "convs": 2})
    net = build_generator(spec)
    assert plain_generator(spec, net) == (spec, net)


def test_unknown_block_is_refused() -> None:
    from srstream.errors import SpecError

    with pytest.raises(SpecError, match="unknown block"):
        build_generator(generator_spec("t", "compact_y", 2, params={"features": 8, "convs": 2, "block": "rep"}))


def test_a_plain_net_expands_into_blocks_with_the_same_output() -> None:
    """``--init`` of an ECB recipe from a plain net (a shipped model): every block collapses to the
    plain conv, so training in the multi-branch form starts from the plain net's output."""
    from srstream.archs.reparam import expand_state

    torch.manual_seed(3)
    plain_spec = generator_spec("p", "compact_y", 2, params={"features": 8, "convs": 2, "act": "relu"})
    plain = build_generator(plain_spec).eval()
    ecb_spec = generator_spec("e", "compact_y", 2, params={"features": 8, "convs": 2, "act": "relu", "block": "ecb"})
    ecb = build_generator(ecb_spec).eval()
    ecb.load_state_dict(expand_state(ecb, plain.state_dict()))
    x = torch.rand(1, 3, 16, 12)
    with torch.no_grad():
        want = plain(x)
        assert (ecb(x) - want).abs().max() < 1e-5
        assert (_branch_forward(ecb, x) - want).abs().max() < 1e-5
    # the blocks keep branches of their own (not all zero): training moves them, not only conv3x3
    block = next(m for m in ecb.modules() if isinstance(m, EdgeConv))
    assert block.expand.weight.abs().sum() > 0


@pytest.mark.parametrize("device", ["meta", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_expanded_state_lives_on_the_module_device(device: str) -> None:
    """``--init`` on a GPU: the plain weights come from a file (CPU tensors), the net is on the
    device. The expanded state must be on the net's device; mixing the two used to fail inside
    the 3x3 branch's update (seen on a lent H200). ``meta`` stands in for a GPU elsewhere."""
    from srstream.archs.reparam import expand_state

    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    plain = build_generator(generator_spec("p", "compact_y", 2, params={"features": 8, "convs": 2}))
    ecb = build_generator(generator_spec("e", "compact_y", 2, params={"features": 8, "convs": 2, "block": "ecb"}))
    state = expand_state(ecb.to(device), plain.state_dict())
    assert {v.device.type for v in state.values()} == {device}
    assert state.keys() == ecb.state_dict().keys()
