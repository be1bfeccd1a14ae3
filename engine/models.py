"""Finding a model and its spec: a bundled name, or a path to an exported ``.onnx`` file.

The engine never guesses a model's properties: they come from the spec stored in the ONNX
metadata by ``sr-stream export`` (see :class:`srstream.spec.ModelSpec`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from srstream.engine.screen import Look
from srstream.errors import ModelError
from srstream.spec import METADATA_KEY, ModelSpec

__all__ = ["BUNDLED_MODELS", "COMPRESSED_VARIANTS", "DEFAULT_MODEL", "FAST_MODEL", "MODELS_DIR", "MODEL_FOR_SCALE", "TIERS", "ResolvedModel",
           "SCREEN_VARIANTS", "available_precisions", "cpu_luma_graph", "for_compression", "for_content", "screen_variant", "steadied", "luma_variant_path", "pick_model", "read_onnx_spec", "resolve_model", "variant_name", "variant_path"]

#: The model ``sr-stream INPUT`` uses when ``--model`` is not given.
DEFAULT_MODEL = "realtime-x2"
#: ... and with ``--fast``.
FAST_MODEL = "tiny-x2"
#: Where bundled models live inside the installed package.
MODELS_DIR = Path(__file__).with_name("models")
#: Bundled model name -> file name in :data:`MODELS_DIR` (variants ``NAME.int8.onnx`` etc. and the
#: torch backend's ``NAME.safetensors`` sit beside it). See ``engine/models/README.md``.
#: The models that ship as package data (engine/models/README.md: how each was made and measured).
BUNDLED_MODELS: dict[str, str] = {"realtime-x2": "realtime-x2.onnx", "realtime-x2-compressed": "realtime-x2-compressed.onnx",
                                   "realtime-x4": "realtime-x4.onnx", "quality-x4": "quality-x4.onnx",
                                   "gan-x4": "gan-x4.onnx", "tiny-x2": "tiny-x2.onnx",
                                   "tiny-x2-deep": "tiny-x2-deep.onnx", "realtime-x2-screen": "realtime-x2-screen.onnx",
                                   "realtime-x4-compressed": "realtime-x4-compressed.onnx"}
#: The bundled tiers per scale, cheapest first (each a PSNR-trained net of more compute than the one
#: before): what live sources pick from by measured speed. Variants trained for other inputs
#: (realtime-x2-compressed) or another look (gan-x4) are not tiers.
TIERS: dict[int, tuple[str, ...]] = {2: ("tiny-x2", "tiny-x2-deep", "realtime-x2"), 4: ("realtime-x4", "quality-x4")}
#: Bundled models with a variant of the same graph (and speed) trained for compressed video, and the
#: mean block quantiser (:mod:`srstream.engine.compression`) from which a video run without
#: ``--model`` takes the variant. Where the variant wins (x264 at CRF 10-30, 30 frames scored
#: against the original frames, INT8, ``benchmarks/results/bench/compressed_threshold_30f.md``): on
#: natural footage from the lowest quantisers on (Big Buck Bunny: +0.15 dB at 14.2, +0.32 at 27.4);
#: on a game capture only from about 32 (-0.30 dB at 22.7, -0.05 at 31.9, +0.26 at 39.2); on a
#: desktop capture (text) within 0.07 dB either way. 22 takes the variant where natural footage
#: gains most; the best single threshold on those three clips (27) would drop the natural-footage
#: sample clip (25) back to the clean model, so the split is by content, not quantiser.
#: x4 (``realtime-x4-compressed``, the same graph as realtime-x4 trained as the x2 variant first was) at the same 22,
#: measured alike (x264 CRF 10-30, 12 frames, ``benchmarks/results/bench/compressed_threshold_x4.md``): natural
#: footage gains from QP 23 (+0.04 dB, -0.02 at 19), the game capture from the lowest (+0.13 at 19.4), text loses
#: 0.04-0.09 until about 34; on the lossy stills benchmark JPEG, AVIF and HEIC cross zero gain at the same 22.
COMPRESSED_VARIANTS: dict[str, tuple[str, float]] = {"realtime-x2": ("realtime-x2-compressed", 22.0),
                                                     "realtime-x4": ("realtime-x4-compressed", 22.0)}
#: Bundled models with a variant of the same graph (and speed) trained on screen content: synthetic
#: desktops drawn with TrueType fonts, clean and through H.264 (``trainer/recipes/realtime_x2_screen.yaml``, then
#: ``realtime_x2_screen_subpixel.yaml`` and ``realtime_x2_screen_cleartype.yaml``: text as ClearType draws it).
#: A video run without ``--model`` takes it when its first frames look like a screen
#: (:mod:`srstream.engine.screen`), whatever its quantiser; so does a live screen or window capture.
SCREEN_VARIANTS: dict[str, str] = {"realtime-x2": "realtime-x2-screen"}
#: ``--scale N`` without ``--model``: the bundled model for that scale.
MODEL_FOR_SCALE: dict[int, str] = {2: "realtime-x2", 4: "realtime-x4"}


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to open: where its ONNX file is and what its spec says."""

    name: str
    path: Path
    spec: ModelSpec


def read_onnx_spec(path: Path) -> ModelSpec:
    """The spec stored in an ONNX file's metadata, or for a graph from elsewhere (no spec), the one
    measured by running it (:func:`srstream.engine.foreign.foreign_spec`).

    Raises:
        ModelError: the file is missing, not a loadable ONNX model, or a foreign graph the engine
            cannot run as a super-resolution model.
        SpecError: an invalid sr-stream spec.
    """
    import onnxruntime as ort  # base dependency; imported here to keep `--help` fast

    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if path.suffix.lower() in (".pth", ".pt", ".safetensors", ".ckpt", ".pb"):
        raise ModelError(f"{path} is a {path.suffix} file, not an ONNX model: pass it to --model as it is (sr-stream "
                         f"imports it once), or convert it with `sr-stream export {path} -o "
                         f"{path.with_suffix('.onnx').name}` and pass the .onnx")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own unexported exception types
        raise ModelError(f"{path} is not a loadable ONNX model ({str(exc)[:200]}); --model takes a bundled name or an "
                         ".onnx file") from exc
    metadata = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in metadata:  # a graph from elsewhere: its spec measured by running it
        from srstream.engine.foreign import foreign_spec

        return foreign_spec(path, session)
    return ModelSpec.from_metadata(metadata, where=str(path))


def resolve_model(name_or_path: str) -> ResolvedModel:
    """Resolve ``--model``: a bundled name, a path to an ``.onnx`` file, or to a weights file from
    elsewhere (``.pth``, ``.pt``, ``.safetensors``) that sr-stream's exporter imports, or OpenCV
    dnn_superres's ``.pb`` graphs: its graph, exported and verified into the cache on first use
    (:func:`srstream.imported.imported_onnx`, which needs torch then, or onnx for a ``.pb``; what it
    does is said on standard error).

    Raises:
        ModelError: unknown name (the message lists the bundled ones), a missing file, a weights
            file of no format sr-stream imports, or a bundled file missing from the installation.
        DependencyError: a weights file not yet in the cache, and no torch to export it with.
    """
    from srstream.imported import imported_onnx, is_weight_file

    path = Path(name_or_path)
    if is_weight_file(path):
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        graph = imported_onnx(path, log=lambda line: print(f"sr-stream: {line}", file=sys.stderr))
        return ResolvedModel(path.stem, graph, read_onnx_spec(graph))
    if path.suffix.lower() == ".onnx" or path.exists():
        return ResolvedModel(path.stem, path, read_onnx_spec(path))
    if name_or_path not in BUNDLED_MODELS:
        bundled = ", ".join(BUNDLED_MODELS) or (
            "none yet: the trained default models (realtime-x2, realtime-x4, quality-x4, gan-x4) "
            "have not shipped in this version"
        )
        raise ModelError(
            f"unknown model {name_or_path!r}; bundled models: {bundled}. "
            "Pass --model PATH.onnx: a model written by `sr-stream export`, or another project's super-resolution "
            "ONNX graph (its scale, value range and reach are measured)."
        )
    bundled_path = MODELS_DIR / BUNDLED_MODELS[name_or_path]
    if not bundled_path.is_file():
        raise ModelError(
            f"bundled model {name_or_path!r} is missing from this installation ({bundled_path}); "
            "reinstall sr-stream"
        )
    return ResolvedModel(name_or_path, bundled_path, read_onnx_spec(bundled_path))


def variant_name(model: Path, precision: str) -> Path:
    """Where the graph of ``precision`` lives for ``model`` (``NAME.onnx``): ``NAME.onnx`` itself for
    fp32, ``NAME.PRECISION.onnx`` beside it otherwise. The exporter writes these names."""
    model = Path(model)
    stem = model.name.removesuffix(".onnx")
    return model.with_name(f"{stem}.onnx" if precision == "fp32" else f"{stem}.{precision}.onnx")


def variant_path(model: Path, precision: str) -> Path | None:
    """The existing graph file of ``precision`` for ``model``; None when absent (or unsupported)."""
    if precision == "fp32":
        return model
    if precision not in ("int8", "fp16"):
        return None
    candidate = variant_name(model, precision)
    return candidate if candidate.is_file() else None


def luma_variant_path(model: Path, precision: str) -> Path | None:
    """The existing luma-only graph of ``precision`` (``NAME.luma.onnx``, ``NAME.luma.int8.onnx``)
    beside a ``compact_y`` model, or None.

    A ``compact_y`` graph takes and returns RGB: it computes the luma, runs the net on it and
    carries the chroma with two bilinear resizes at output size. The exporter also writes the net
    alone (Y in, Y out), which CPU backends run instead: the engine's luma path does the colour
    work once per frame (or none at all on the 4:2:0 video path), 8-29% faster end to end on
    the bundled clip (``benchmarks/results/bench/luma_graph_2026-11-30.md``)."""
    if precision not in ("fp32", "int8"):
        return None
    candidate = variant_name(Path(model), "luma" if precision == "fp32" else "luma.int8")
    return candidate if candidate.is_file() else None


def cpu_luma_graph(spec: ModelSpec, model: Path | bytes, precision: str) -> Path | None:
    """What a CPU backend runs instead of ``model``'s graph: its luma-only graph of ``precision``
    (``int8``, else ``fp32``, the graph bf16 runs from) when ``spec`` is a ``compact_y`` model
    with one beside it; None for anything else, and for a graph given as bytes (run as given)."""
    if isinstance(model, bytes) or spec.arch != "compact_y":
        return None
    return luma_variant_path(model, "int8" if precision == "int8" else "fp32")


def available_precisions(model: Path) -> tuple[str, ...]:
    """Precisions with a graph file for ``model`` (fp32 always)."""
    return tuple(p for p in ("fp32", "fp16", "int8") if variant_path(model, p) is not None)


def pick_model(name: str | None = None, scale: int | None = None, *, fast: bool = False) -> ResolvedModel:
    """``--model`` / ``--scale`` / ``--fast``: the named model, the bundled one for ``scale``
    (``fast``: the cheapest tier), or the default.

    Raises:
        ConfigError: ``fast`` with a name, no tier for the scale, or a model of another scale.
        ModelError: an unknown name or a missing file.
    """
    from srstream.errors import ConfigError

    if fast and name:
        raise ConfigError("--fast picks the cheapest bundled model; drop it or --model")
    if fast:
        chosen = TIERS.get(scale or 2, (None,))[0]
        if chosen is None:
            raise ConfigError(f"no bundled x{scale} model tiers; pass --model")
    else:
        chosen = name or (MODEL_FOR_SCALE.get(scale, DEFAULT_MODEL) if scale else DEFAULT_MODEL)
    model = resolve_model(chosen)
    if scale and model.spec.scale != scale:
        raise ConfigError(f"model {model.name} upscales x{model.spec.scale}, not x{scale}; "
                          f"drop --scale or pick a x{scale} model with --model")
    return model


def for_compression(name: str, qp: float | None) -> tuple[str, str]:
    """The model a video whose mean quantiser is ``qp`` (None: unknown) runs with when ``name`` was
    picked by default, and why (``""`` when it stays ``name``)."""
    variant, threshold = COMPRESSED_VARIANTS.get(name, (None, 0.0))
    if variant is None or variant not in BUNDLED_MODELS or qp is None or qp < threshold:
        return name, ""
    return variant, (f"the input was compressed hard (mean quantiser {qp:.1f} >= {threshold:g}): {variant}, "
                     f"trained for compressed video; --model {name} keeps the default")


def for_content(name: str, qp: float | None, look: Look | None) -> tuple[str, str]:
    """As :func:`for_compression`, but a video whose first frames look like a screen recording
    (``look``, :mod:`srstream.engine.screen`) takes the screen variant first."""
    variant = SCREEN_VARIANTS.get(name)
    if variant is not None and variant in BUNDLED_MODELS and look is not None and look.screen:
        return variant, (f"the input looks like a screen recording ({look.describe()}): {variant}, trained on "
                         f"desktops and text; --model {name} keeps the default")
    return for_compression(name, qp)


def screen_variant(chosen: str) -> bool:
    """Whether ``chosen`` (:func:`for_content`'s pick) is a screen variant: the video is a screen
    recording, steadied at any quantiser and its still frames held harder
    (:func:`srstream.engine.stabilize.still_setting`)."""
    return chosen in SCREEN_VARIANTS.values()


def steadied(name: str, qp: float | None, chosen: str) -> bool:
    """Whether ``--stabilize auto`` steadies a video that ``name`` was picked for by default and
    that runs ``chosen`` (:func:`for_content`'s pick): a stream its quantiser says was compressed
    hard, and every screen recording, at :data:`srstream.engine.stabilize.COMPRESSED_TOLERANCE`."""
    return for_compression(name, qp)[0] != name or screen_variant(chosen)
