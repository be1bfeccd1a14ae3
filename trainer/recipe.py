"""Training recipes: YAML parsed into frozen, validated dataclasses. Never executed.

A recipe names the generator, the data pipeline and one or more *phases* (PSNR-oriented
pre-training, then GAN fine-tuning initialised from it). Unknown keys are errors; command-line
overrides ``--set phases.0.steps=200`` are parsed with YAML's safe scalar rules.

Bundled recipes live beside this module (``recipes/NAME.yaml``); a path to a YAML file works too.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from srstream.errors import ConfigError

__all__ = [
    "CONTENT_KIND_NAMES", "RECIPES_DIR", "ClipConfig", "ContentConfig", "DataConfig", "DegradationConfig", "LossConfig",
    "ModelConfig", "OptimConfig", "PhaseConfig", "QUANT_MODES", "Recipe", "TeacherConfig", "apply_overrides",
    "bundled_recipes", "load_recipe", "parse",
]

RECIPES_DIR = Path(__file__).with_name("recipes")
QUANT_MODES = ("none", "int8")


@dataclass(frozen=True)
class ModelConfig:
    """The generator: a spec name, an architecture from ``srstream.archs`` and its parameters."""

    name: str
    arch: str
    scale: int
    in_channels: int = 3
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DegradationConfig:
    """One degradation step for real footage (see :mod:`srstream.trainer.degrade`).

    ``kind``: ``blur`` (Gaussian, sigma in ``range``, on HR before downscaling), ``noise``
    (Gaussian, sigma in ``range`` on the 0-255 scale), ``jpeg`` (quality in ``range``) or
    ``codec`` (H.264 intra frame, CRF in ``range``) or ``video`` (the P frame of a short H.264
    sequence of the patch moving by a pixel or two, CRF in ``range``: what streams look like).
    ``prob``: chance it is applied per sample.
    """

    kind: str
    range: tuple[float, float]
    prob: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("blur", "noise", "jpeg", "codec", "video"):
            raise ConfigError(f"degradation kind {self.kind!r}: expected blur, noise, jpeg, codec or video")
        if len(self.range) != 2 or self.range[0] > self.range[1]:
            raise ConfigError(f"degradation {self.kind}: range must be [low, high], got {self.range}")
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"degradation {self.kind}: prob must be in [0, 1], got {self.prob}")


@dataclass(frozen=True)
class ClipConfig:
    """Samples as two consecutive frames of a short moving clip, for the temporal loss.

    Each sample is ``frames`` crops of one HR image, the window moving by a whole number of HR
    pixels per frame (up to ``motion`` on each axis; not at all with probability ``still``),
    so every frame has its exact HR truth. The LR frames are degraded as one clip (``video``
    encodes them as one H.264 sequence); the last two frames are trained on, and ``batch``
    counts pairs.
    """

    frames: int = 3
    motion: int = 3
    still: float = 0.2

    def __post_init__(self) -> None:
        if self.frames < 2 or self.motion < 0 or not 0.0 <= self.still <= 1.0:
            raise ConfigError(f"data.clips: needs frames >= 2, motion >= 0 and still in [0, 1], got {self}")


#: The ``data.content`` kinds (:data:`srstream.trainer.content.CONTENT_KINDS` makes each).
CONTENT_KIND_NAMES = ("cartoon", "screen", "pixelart", "desktop", "desktop_subpixel", "desktop_cleartype")


@dataclass(frozen=True)
class ContentConfig:
    """Video-like content made from the photos (see :mod:`srstream.trainer.content`).

    ``kind``: ``cartoon`` (flat regions, clean edges, optional outlines), ``screen`` (a synthetic
    desktop: panels and lines of Hershey text), ``desktop`` (the same drawn with TrueType fonts, grids,
    icons and a pointer: :mod:`srstream.trainer.desktop`), ``desktop_subpixel`` (half of those with ClearType-like
    subpixel text), ``desktop_cleartype`` (all of them so) or ``pixelart`` (blocky magnified textures, as games show).
    ``prob``: the share of samples made so; the kinds of one recipe share the samples (their
    ``prob`` add up to at most 1), the rest stay photos.
    """

    kind: str
    prob: float

    def __post_init__(self) -> None:
        if self.kind not in CONTENT_KIND_NAMES:
            raise ConfigError(f"data.content kind {self.kind!r}: expected one of {', '.join(CONTENT_KIND_NAMES)}")
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(f"data.content {self.kind}: prob must be in [0, 1], got {self.prob}")


@dataclass(frozen=True)
class DataConfig:
    """Random HR crops of ``patch`` pixels (a multiple of the scale), flips/rot90, bicubic LR;
    with ``clips``, pairs of consecutive frames instead of single crops; with ``content``, some
    samples made into animation-, screen- or game-like content first."""

    patch: int = 96
    batch: int = 16
    flips: bool = True
    rot90: bool = True
    max_side: int = 2048  # larger images are downscaled (area) once when cached
    degradations: tuple[DegradationConfig, ...] = ()
    workers: int = 0  # forked processes making batches ahead; 0: one thread. For GPUs
    clips: ClipConfig | None = None
    content: tuple[ContentConfig, ...] = ()
    channel_order: float = 0.0  # probability of a random colour-channel order per sample

    def __post_init__(self) -> None:
        if not 0.0 <= self.channel_order <= 1.0:
            raise ConfigError(f"data.channel_order is a probability, got {self.channel_order}")
        if self.patch < 8 or self.batch < 1 or self.workers < 0 or self.max_side < 64:
            raise ConfigError(f"data: invalid patch/batch/workers/max_side in {self}")
        if sum(c.prob for c in self.content) > 1.0 + 1e-9:
            raise ConfigError(f"data.content: the kinds' prob add up to more than 1: {self.content}")


@dataclass(frozen=True)
class LossConfig:
    """Weighted sum of losses. Zero weight disables a term.

    ``pixel``: ``l1``, ``mse`` or ``charbonnier``. ``perceptual``: VGG19 feature distance
    (needs ``--vgg-weights``). ``feature_matching``: distance between discriminator features of
    SR and HR. ``adversarial``: ``none``, ``vanilla`` (SRGAN, BCE) or ``ragan`` (relativistic
    average, ESRGAN). ``temporal``: L1 between the change from one frame to the next in SR and
    in HR (needs ``data.clips``): output that flickers where the truth is steady pays for it.
    ``temporal_align``: compare each pixel with the one showing the same content in the earlier
    frame (the clip's known motion; see :func:`srstream.trainer.losses.temporal_loss`); false
    compares the same position, right for still pairs only (the recipes trained before it).
    """

    pixel: str = "l1"
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.0
    perceptual_layers: tuple[str, ...] = ("conv5_4",)
    feature_matching_weight: float = 0.0
    adversarial: str = "none"
    adversarial_weight: float = 0.0
    temporal_weight: float = 0.0
    temporal_align: bool = True

    def __post_init__(self) -> None:
        if self.temporal_weight < 0:
            raise ConfigError(f"loss.temporal_weight must be >= 0, got {self.temporal_weight}")
        if self.pixel not in ("l1", "mse", "charbonnier"):
            raise ConfigError(f"loss.pixel {self.pixel!r}: expected l1, mse or charbonnier")
        if self.adversarial not in ("none", "vanilla", "ragan"):
            raise ConfigError(f"loss.adversarial {self.adversarial!r}: expected none, vanilla or ragan")
        if self.adversarial == "none" and (self.adversarial_weight or self.feature_matching_weight):
            raise ConfigError("loss: adversarial/feature-matching weights need adversarial: vanilla or ragan")


@dataclass(frozen=True)
class OptimConfig:
    """Adam with a step or cosine schedule, optional warm-up and gradient clipping."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    schedule: str = "cosine"
    milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of the phase's steps (step schedule)
    gamma: float = 0.5
    min_lr: float = 1e-7
    warmup: int = 0
    grad_clip: float = 0.0  # max global norm; 0 disables

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "step", "constant"):
            raise ConfigError(f"optim.schedule {self.schedule!r}: expected cosine, step or constant")
        if self.lr <= 0 or self.warmup < 0 or self.grad_clip < 0:
            raise ConfigError(f"optim: invalid lr/warmup/grad_clip in {self}")


@dataclass(frozen=True)
class PhaseConfig:
    """One training phase. A phase with an adversarial loss trains the discriminator too."""

    name: str
    steps: int
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    discriminator: str = "srgan"
    discriminator_norm: str = "spectral"
    discriminator_features: int = 64
    discriminator_optim: OptimConfig = OptimConfig(lr=1e-4)
    #: ``int8``: train through the roundings of the exported INT8 graph (compact nets; see
    #: :mod:`srstream.archs.quant`), so the shipped INT8 graph loses less. ``none``: float.
    quant: str = "none"
    #: with ``quant: int8``: the convs the INT8 graph will keep float (give the export the same)
    quant_keep_float: tuple[str, ...] = ("first", "last")

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"phase {self.name!r}: steps must be >= 1")
        if self.quant not in QUANT_MODES:
            raise ConfigError(f"phase {self.name!r}: quant {self.quant!r}: expected one of {', '.join(QUANT_MODES)}")
        if not set(self.quant_keep_float) <= {"first", "last"}:
            raise ConfigError(f"phase {self.name!r}: quant_keep_float {list(self.quant_keep_float)}: "
                              "expected first and/or last")


@dataclass(frozen=True)
class TeacherConfig:
    """Distillation from a stronger model (see :mod:`srstream.trainer.distill`).

    ``path``: its checkpoint (run folder, checkpoint folder, ``model.safetensors``) or exported
    ``.onnx``; a relative path is taken from the working directory (``--teacher`` overrides it).
    ``weight``: weight of the pixel loss against the teacher's output, added to each phase's
    loss against HR. ``ensemble``: compute the teacher's targets with the x8 self-ensemble.
    """

    path: str
    weight: float = 1.0
    ensemble: bool = False

    def __post_init__(self) -> None:
        if not self.path or self.weight < 0:
            raise ConfigError(f"teacher: needs a path and a weight >= 0, got {self}")


@dataclass(frozen=True)
class Recipe:
    """A whole training run."""

    model: ModelConfig
    phases: tuple[PhaseConfig, ...]
    data: DataConfig = DataConfig()
    teacher: TeacherConfig | None = None
    seed: int = 0
    ema: float = 0.999  # 0 disables the EMA of generator weights
    val_every: int = 1000
    ckpt_every: int = 1000
    keep_weights_every: int = 0  # checkpoints at multiples of it keep their weights when pruned (0: none)
    log_every: int = 50
    precision: str = "auto"  # auto | fp32 | bf16 (CPU autocast) | fp16 (CUDA AMP)
    #: with ``precision: auto`` on a CPU where bf16 was chosen: the last fraction of each phase's
    #: steps runs in fp32 (bf16 autocast plateaued ~0.05 dB lower on a compact net; see loop.py)
    fp32_tail: float = 0.25
    device: str = "auto"  # auto | cpu | cuda
    #: activations' and weights' layout: auto (the faster of the two, timed once per run on the CPU;
    #: NCHW on CUDA) | contiguous (NCHW) | channels_last (NHWC); a resumed run keeps its own
    memory_format: str = "auto"

    def __post_init__(self) -> None:
        if not self.phases:
            raise ConfigError("recipe: needs at least one phase")
        if self.data.patch % self.model.scale:
            raise ConfigError(f"data.patch {self.data.patch} must be a multiple of scale {self.model.scale}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16") or self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"recipe: invalid precision {self.precision!r} or device {self.device!r}")
        if self.memory_format not in ("auto", "contiguous", "channels_last"):
            raise ConfigError(f"recipe: invalid memory_format {self.memory_format!r} "
                              "(auto, contiguous or channels_last)")
        if not 0.0 <= self.fp32_tail <= 1.0:
            raise ConfigError(f"recipe: fp32_tail must be in [0, 1], got {self.fp32_tail}")
        for name in ("val_every", "ckpt_every", "log_every"):
            if getattr(self, name) < 1:  # 0 divided every step's count ("integer modulo by zero" after step 1)
                raise ConfigError(f"recipe: {name} must be >= 1 (steps), got {getattr(self, name)}")
        if self.keep_weights_every < 0:
            raise ConfigError(f"recipe: keep_weights_every must be >= 0, got {self.keep_weights_every}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"recipe: ema must be in [0, 1), got {self.ema}")
        if self.data.clips is None and any(p.loss.temporal_weight for p in self.phases):
            raise ConfigError("loss.temporal_weight needs data.clips (pairs of consecutive frames)")
        if self.data.clips is not None and self.teacher is not None:
            raise ConfigError("data.clips and teacher: distillation from clips is not supported; use one or the other")
        if self.data.channel_order and self.teacher is not None:
            raise ConfigError("data.channel_order and teacher: the teacher upscaled the images in their own channel "
                              "order; use one or the other")
        if self.data.content and self.teacher is not None:
            raise ConfigError("data.content and teacher: the teacher's targets are of the photos, not of the "
                              "content made from them; use one or the other")

    @property
    def total_steps(self) -> int:
        return sum(p.steps for p in self.phases)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def parse(cls: type, data: Any, where: str = "recipe") -> Any:
    """Build dataclass ``cls`` from plain YAML data, strictly (unknown keys are errors)."""
    hints = typing.get_type_hints(cls)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    kwargs = {key: _convert(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, where)
    if origin is tuple:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_types = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(item_types) != len(value):
            raise ConfigError(f"{where}: expected {len(item_types)} items, got {len(value)}")
        return tuple(_convert(t, v, f"{where}.{i}") for i, (t, v) in enumerate(zip(item_types, value)))
    if origin in (typing.Union, types.UnionType):
        classes = [a for a in args if dataclasses.is_dataclass(a)]
        if value is not None and len(classes) == 1:  # an optional section such as ``teacher:``
            return parse(classes[0], value, where)
        return value
    if origin is not None and issubclass(origin, Mapping) or hint is Any:
        if hint is not Any and not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value) if isinstance(value, Mapping) else value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def bundled_recipes() -> tuple[str, ...]:
    """Names of the recipes shipped with sr-stream."""
    return tuple(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node: Any = data
    for key in keys[:-1]:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` strings; values use YAML's safe scalar/list syntax."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        try:
            value = yaml.safe_load(text) if text else ""
            _set_path(data, key.strip(), value)
        except (yaml.YAMLError, ValueError, IndexError, TypeError, AttributeError) as exc:
            raise ConfigError(f"--set {item!r}: {exc}") from exc
    return data


def load_recipe(name_or_path: str, overrides: Sequence[str] = ()) -> Recipe:
    """Load a bundled recipe by name, or a YAML file by path, then apply ``overrides``.

    Raises:
        ConfigError: unknown recipe, unreadable or invalid YAML, invalid values.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown recipe {name_or_path!r}; bundled: {', '.join(bundled_recipes())}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {exc}") from exc
    data = apply_overrides(data if isinstance(data, dict) else {}, overrides)
    return parse(Recipe, data, where=path.stem)
