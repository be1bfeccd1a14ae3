"""Network architectures (``srstream.archs``): torch ``nn.Module`` generators and discriminators.

Imported only by ``srstream.trainer``, ``srstream.export`` and the optional torch reference
backend; never by the core or the engine.

Generators are built from a :class:`~srstream.spec.ModelSpec`: its ``arch`` names a row of
:data:`GENERATORS` and its ``arch_params`` are the constructor's keyword arguments (besides
``in_channels``, ``out_channels`` and ``scale``, which are spec fields). Every generator class
has a static ``margin(scale, **arch_params)``: its receptive-field radius in input pixels,
which the spec records so tiles overlap enough to be seamless.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srstream.errors import SpecError
from srstream.registry import Entry, Registry
from srstream.spec import ModelSpec

__all__ = ["DISCRIMINATORS", "GENERATORS", "build_generator", "generator_spec", "margin", "plain_generator"]

GENERATORS: Registry[Any] = Registry("architecture", [
    Entry("srresnet", "srstream.archs.srresnet:SRResNet", "SRResNet / SRGAN generator (Ledig et al.)"),
    Entry("rrdb", "srstream.archs.rrdb:RRDBNet", "ESRGAN RRDB generator (Wang et al.)"),
    Entry("compact", "srstream.archs.compact:CompactNet", "plain conv stack + sub-pixel + global skip"),
    Entry("compact_y", "srstream.archs.compact:CompactYNet", "compact net on luma, bilinear chroma"),
    Entry("span", "srstream.archs.span:SPANNet", "SPAN (Wan et al.), inference form, for imported models"),
    Entry("realplksr", "srstream.archs.plksr:RealPLKSRNet", "RealPLKSR (partial large kernels), for imported models"),
])

DISCRIMINATORS: Registry[Any] = Registry("discriminator", [
    Entry("srgan", "srstream.archs.discriminator:SRGANDiscriminator", "SRGAN VGG-style patch classifier"),
])


def margin(arch: str, scale: int, params: Mapping[str, Any]) -> int:
    """Receptive-field radius, in input pixels, of generator ``arch`` with ``params``."""
    return int(GENERATORS.load(arch).margin(scale=scale, **params))


def generator_spec(name: str, arch: str, scale: int, *, in_channels: int = 3,
                   params: Mapping[str, Any] | None = None, **fields: Any) -> ModelSpec:
    """A spec for a new generator: the margin is computed, the colour space follows the channels.

    ``fields`` are any other :class:`ModelSpec` fields (tile, precisions, metrics, ...).
    """
    params = dict(params or {})
    m = margin(arch, scale, params)
    overlap = fields.pop("tile_overlap", m)
    tile = fields.pop("tile", max(128, 2 * overlap + 64))
    tile += -tile % fields.get("size_multiple", 1)
    return ModelSpec(
        name=name, arch=arch, scale=scale, margin=m, arch_params=params,
        in_channels=in_channels, out_channels=in_channels,
        color_space="rgb" if in_channels == 3 else "y",
        tile=tile, tile_overlap=overlap, **fields,
    )


def build_generator(spec: ModelSpec) -> Any:
    """Instantiate the generator ``spec`` describes (untrained weights).

    Raises:
        RegistryError: unknown architecture.
        SpecError: the parameters do not fit the architecture's constructor.
    """
    cls = GENERATORS.load(spec.arch)
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in spec.arch_params.items()}
    try:
        return cls(in_channels=spec.in_channels, out_channels=spec.out_channels, scale=spec.scale, **params)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"spec {spec.name!r}: cannot build {spec.arch!r} with {params}: {exc}") from exc


def plain_generator(spec: ModelSpec, module: Any) -> tuple[ModelSpec, Any]:
    """The inference form of a trained generator: re-parameterisable blocks collapsed.

    A compact net trained with ``block: ecb`` becomes the plain compact net (``block`` dropped
    from the spec) whose 3x3 convs hold the collapsed weights: the same function, at a plain
    net's cost, and exported, quantised and shipped like any compact net. Any other generator
    is returned unchanged.
    """
    if spec.arch_params.get("block", "conv") == "conv":
        return spec, module
    from srstream.archs.reparam import collapse_state

    params = {k: v for k, v in spec.arch_params.items() if k != "block"}
    plain_spec = ModelSpec.from_dict({**spec.to_dict(), "arch_params": params})
    plain = build_generator(plain_spec)
    plain.load_state_dict(collapse_state(module), strict=True)
    return plain_spec, plain.train(module.training)
