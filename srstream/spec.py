"""The model spec: everything the engine needs to know about a model, without torch.

A :class:`ModelSpec` travels with every model: inside training checkpoints, in the ONNX
metadata (:meth:`ModelSpec.to_metadata`) and as a JSON file beside every built engine. The
engine reads specs, never modules, and nobody guesses a model's scale from its file name.

The JSON form is strict: unknown keys, missing keys, wrong types and out-of-range values raise
:class:`~srstream.errors.SpecError`, so a spec written by a newer sr-stream fails loudly rather
than being half-understood.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import Any, Union

from srstream.errors import SpecError

__all__ = [
    "COLOR_SPACES",
    "METADATA_KEY",
    "PRECISIONS",
    "SPEC_VERSION",
    "FrozenMap",
    "ModelSpec",
]

#: Version of the JSON layout written by :meth:`ModelSpec.to_dict`.
SPEC_VERSION = 1
#: The ONNX ``metadata_props`` key holding the spec's JSON.
METADATA_KEY = "srstream.spec"
#: ``rgb``: 3-channel RGB in and out. ``y``: one channel, the BT.601 luma of a colour frame (the
#: engine upscales chroma cheaply) or the grey level of a grayscale image.
COLOR_SPACES = ("rgb", "y")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")

Scalar = Union[str, int, float, bool, None]
ParamValue = Union[Scalar, tuple[Scalar, ...]]


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable ``str -> value`` mapping used for spec fields that are tables."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] = ()) -> None:  # type: ignore[assignment]
        self._data = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted(self._data.items())))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)  # type: ignore[arg-type]


def _freeze_param(key: str, value: Any) -> ParamValue:
    if value is None or isinstance(value, (str, bool)) or _is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, (list, tuple)):
        items = tuple(_freeze_param(key, item) for item in value)
        if any(isinstance(item, tuple) for item in items):
            raise SpecError(f"arch_params[{key!r}]: nested lists are not allowed")
        return items
    raise SpecError(
        f"arch_params[{key!r}] = {value!r}: expected a JSON scalar or a list of scalars"
    )


@dataclass(frozen=True)
class ModelSpec:
    """The frozen, torch-free description of a super-resolution model.

    Sizes are in input pixels. A model maps an ``(N, in_channels, H, W)`` tensor with values in
    ``value_range`` to ``(N, out_channels, H * scale, W * scale)`` in the same range.

    Attributes:
        name: the model's public name, e.g. ``"realtime-x2"``.
        arch: architecture id in ``srstream.archs``' registry, e.g. ``"srresnet"``.
        arch_params: constructor hyper-parameters of ``arch`` (JSON scalars or lists).
        scale: upscaling factor, 1 to 8.
        in_channels / out_channels: 1 (``color_space="y"``) or 3 (``"rgb"``).
        color_space: ``"rgb"`` or ``"y"`` (see :data:`COLOR_SPACES`).
        value_range: ``(low, high)`` of input and output values, usually ``(0.0, 1.0)``.
        size_multiple: input height and width must be multiples of this.
        margin: receptive-field margin: an output pixel depends on input pixels at most this
            far away. Tiles overlap by at least this much for the tiled result to be exact.
        tile: recommended square tile size for tiled inference; 0 means whole frames.
        tile_overlap: recommended overlap, at least ``margin``; defaults to ``margin``.
        precisions: precisions the model was verified at, from :data:`PRECISIONS`.
        metrics: measured quality the model shipped with, e.g. ``{"set5_x2_psnr_y": 37.1}``.
        input_name / output_name: tensor names in exported graphs.
        source: provenance: the recipe that trained it, or the project it was imported from.
        license: the licence of the weights, when known.
    """

    name: str
    arch: str
    scale: int
    margin: int
    arch_params: Mapping[str, ParamValue] = field(default_factory=FrozenMap)
    in_channels: int = 3
    out_channels: int = 3
    color_space: str = "rgb"
    value_range: tuple[float, float] = (0.0, 1.0)
    size_multiple: int = 1
    tile: int = 256
    tile_overlap: int = -1
    precisions: tuple[str, ...] = ("fp32",)
    metrics: Mapping[str, float] = field(default_factory=FrozenMap)
    input_name: str = "input"
    output_name: str = "output"
    source: str = ""
    license: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise through object.__setattr__
        if not isinstance(self.arch_params, Mapping):
            raise SpecError(f"spec {self.name!r}: arch_params must be a mapping")
        set_(self, "arch_params", FrozenMap(
            {str(k): _freeze_param(str(k), v) for k, v in self.arch_params.items()}
        ))
        if not isinstance(self.metrics, Mapping):
            raise SpecError(f"spec {self.name!r}: metrics must be a mapping")
        for key, value in self.metrics.items():
            if not _is_number(value):
                raise SpecError(f"spec {self.name!r}: metrics[{key!r}] = {value!r} is not a finite number")
        set_(self, "metrics", FrozenMap({str(k): float(v) for k, v in self.metrics.items()}))
        if isinstance(self.precisions, str) or not isinstance(self.precisions, (list, tuple)):
            raise SpecError(f"spec {self.name!r}: precisions must be a list, got {self.precisions!r}")
        set_(self, "precisions", tuple(self.precisions))
        if not isinstance(self.value_range, (list, tuple)) or len(self.value_range) != 2:
            raise SpecError(f"spec {self.name!r}: value_range must be [low, high]")
        if not all(_is_number(v) for v in self.value_range):
            raise SpecError(f"spec {self.name!r}: value_range {self.value_range!r} must be numbers")
        set_(self, "value_range", (float(self.value_range[0]), float(self.value_range[1])))
        if self.tile_overlap == -1:
            set_(self, "tile_overlap", self.margin)
        self._validate()

    def _validate(self) -> None:
        def fail(what: str) -> None:
            raise SpecError(f"spec {self.name!r}: {what}")

        for key in ("name", "arch", "color_space", "input_name", "output_name", "source", "license"):
            if not isinstance(getattr(self, key), str):
                fail(f"{key} must be a string, got {getattr(self, key)!r}")
        if not self.name or not self.arch:
            fail("name and arch must not be empty")
        ints = {"scale": (1, 8), "margin": (0, 1024), "in_channels": (1, 3), "out_channels": (1, 3),
                "size_multiple": (1, 256), "tile": (0, 16384), "tile_overlap": (0, 1024)}
        for key, (low, high) in ints.items():
            value = getattr(self, key)
            if not _is_int(value) or not low <= value <= high:
                fail(f"{key} = {value!r}: expected an integer in [{low}, {high}]")
        if self.color_space not in COLOR_SPACES:
            fail(f"color_space {self.color_space!r}: expected one of {', '.join(COLOR_SPACES)}")
        channels = 3 if self.color_space == "rgb" else 1
        if (self.in_channels, self.out_channels) != (channels, channels):
            fail(f"color_space {self.color_space!r} needs {channels} input and output channels, "
                 f"got {self.in_channels} -> {self.out_channels}")
        low, high = self.value_range
        if not low < high:
            fail(f"value_range {self.value_range!r}: low must be below high")
        if self.tile_overlap < self.margin:
            fail(f"tile_overlap {self.tile_overlap} is below the receptive-field margin {self.margin}")
        if self.tile and (self.tile % self.size_multiple or self.tile <= 2 * self.tile_overlap):
            fail(f"tile {self.tile} must be a multiple of size_multiple {self.size_multiple} "
                 f"and larger than 2 x tile_overlap ({2 * self.tile_overlap})")
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown or not self.precisions or len(set(self.precisions)) != len(self.precisions):
            fail(f"precisions {list(self.precisions)!r}: expected distinct values from {PRECISIONS}")
        if self.input_name == self.output_name or not self.input_name or not self.output_name:
            fail("input_name and output_name must be distinct, non-empty names")

    # -- dict / JSON -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, including ``spec_version``; inverse of :meth:`from_dict`."""
        out: dict[str, Any] = {"spec_version": SPEC_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, FrozenMap):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Build a spec from :meth:`to_dict` output.

        Raises:
            SpecError: not a mapping, a different ``spec_version``, unknown or missing keys,
                or any invalid value.
        """
        if not isinstance(data, Mapping):
            raise SpecError(f"a model spec must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        version = data.pop("spec_version", None)
        name = data.get("name", "?")
        if version != SPEC_VERSION:
            raise SpecError(
                f"spec {name!r} has spec_version {version!r}; this sr-stream reads version "
                f"{SPEC_VERSION}. Upgrade sr-stream or re-export the model."
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"spec {name!r}: unknown keys {unknown}")
        required = {"name", "arch", "scale", "margin"}
        missing = sorted(required - set(data))
        if missing:
            raise SpecError(f"spec {name!r}: missing keys {missing}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise SpecError(f"spec {name!r}: {exc}") from exc

    def to_json(self, *, indent: int | None = None) -> str:
        """Deterministic JSON text (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSpec:
        """Parse :meth:`to_json` output. Raises :class:`SpecError` on bad JSON or content."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SpecError(f"model spec is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    # -- ONNX metadata and side-car files -------------------------------------------------------

    def to_metadata(self) -> dict[str, str]:
        """String key/value pairs for ONNX ``metadata_props``."""
        return {METADATA_KEY: self.to_json()}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], *, where: str = "model") -> ModelSpec:
        """Read the spec from ONNX metadata (``custom_metadata_map`` in ONNX Runtime).

        Raises:
            SpecError: the metadata has no sr-stream spec, or it is invalid.
        """
        if METADATA_KEY not in metadata:
            raise SpecError(
                f"{where} carries no sr-stream spec (metadata key {METADATA_KEY!r}); export it "
                "with `sr-stream export` or import it through a supported third-party loader"
            )
        return cls.from_json(metadata[METADATA_KEY])

    def save(self, path: str | PathLike[str]) -> None:
        """Write the spec as indented JSON to ``path``."""
        Path(path).write_text(self.to_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ModelSpec:
        """Read a spec JSON file. Raises :class:`SpecError` when unreadable or invalid."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"cannot read model spec {path}: {exc.strerror or exc}") from exc
        return cls.from_json(text)
