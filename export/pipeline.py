"""``sr-stream export``: one checkpoint -> verified ONNX files (fp32, fp16, int8) -> TensorRT engine.

Nothing is written until every requested artifact has passed its check: the fp32 and fp16
graphs their parity against PyTorch, the INT8 graph its calibration (and, with a validation
folder, its measured PSNR cost). Files are then written atomically, so a failed or interrupted
export leaves no half-written file, and the input checkpoint is never touched.

Artifacts for ``-o OUT.onnx``:

* ``OUT.onnx``: fp32, CPU-fast (PReLU decomposed, see :mod:`~srstream.export.rewrite`); the
  graph ONNX Runtime's CPU provider and TensorRT fp32 builds use;
* ``OUT.fp16.onnx`` (``--fp16``, and always with ``--trt``): fp16 inside, fp32 I/O unless
  ``fp16_io``; the graph of TensorRT fp16 engines and of ONNX Runtime on CUDA;
* ``OUT.int8.onnx`` (``--int8 --calib DIR``): QDQ INT8 for CPUs;
* for ``compact_y`` models, ``OUT.luma.onnx`` (and ``OUT.luma.int8.onnx`` with ``--int8``): the
  net alone on luma (Y in, Y out, spec colour space ``y``), which CPU backends run instead of the
  RGB graph (:func:`srstream.engine.models.luma_variant_path`); INT8 with the same convolutions
  kept in float as the RGB graph's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import onnx

from srstream.engine.accuracy import FP32_METRIC, INT8_METRIC, LIMITS  # what --precision auto reads and accepts
from srstream.engine.models import variant_name  # the names the engine looks for variants under
from srstream.engine.strength import METADATA_KEY as STRENGTH_KEY, offsets_metadata
from srstream.errors import ConfigError, OutputError
from srstream.export.fp16 import to_fp16
from srstream.export.int8 import KEEP_FLOAT_LADDER, calibration_inputs, quantize_int8
from srstream.export.parity import ParityReport, check_parity
from srstream.export.rewrite import decompose_prelu, narrow_float_convs, pad_thin_convs
from srstream.export.sources import LoadedGenerator, load_generator
from srstream.export.to_onnx import OPSET, OnnxGraph, export_onnx, save_onnx, stamp_spec
from srstream.spec import ModelSpec

__all__ = ["INT8_RANGES", "Artifact", "ExportOptions", "ExportResult", "artifact_paths", "luma_spec", "onnx_upscaler",
           "run_export"]

#: ``--int8-ranges`` choices (see :class:`ExportOptions`).
INT8_RANGES = ("auto", "trained", "calibrated")


@dataclass(frozen=True)
class ExportOptions:
    """What to produce (the CLI's flags)."""

    out: Path
    name: str | None = None
    fp16: bool = False
    fp16_io: bool = False
    int8: bool = False
    calib: Path | None = None
    calib_count: int = 64
    calib_method: str = "percentile"
    int8_keep_float: tuple[str, ...] | str = "auto"  # node list, or "auto" (needs val; see KEEP_FLOAT_LADDER)
    int8_format: str = "s8s8"
    int8_max_cost: float = 0.04  # dB on val: 0.01 under the 0.05 dB `--precision auto` accepts
    # activation ranges: "auto" takes a quantisation-aware checkpoint's trained ones (the rest
    # calibrated), "trained" insists on them, "calibrated" calibrates every tensor
    int8_ranges: str = "auto"
    val: Path | None = None  # benchmark folder for the INT8 PSNR cost (e.g. Set5)
    trt: bool = False
    trt_precision: str = "fp16"
    trt_tile: int = 0
    trt_batch: int = 4
    trt_cache: Path | None = None
    opset: int = OPSET
    simplify: bool = True
    parity_images: tuple[Path, ...] = ()
    overwrite: bool = False
    metrics: tuple[tuple[str, float], ...] = ()  # measured numbers to record in the spec
    license: str | None = None
    safetensors: bool = False  # also write OUT.safetensors: the weights as exported (blocks collapsed), for --backend torch


@dataclass(frozen=True)
class Artifact:
    kind: str  # "fp32", "fp16", "int8", "trt-fp16", ...
    path: Path
    size: int


@dataclass
class ExportResult:
    spec: ModelSpec
    source: Path
    imported: bool
    artifacts: list[Artifact] = field(default_factory=list)
    parity: list[ParityReport] = field(default_factory=list)
    int8_quality: dict[str, float] = field(default_factory=dict)
    int8_max_abs: float | None = None
    int8_keep_float: tuple[str, ...] = ()
    int8_trained_ranges: int = 0  # activation ranges taken from quantisation-aware training
    luma_int8_quality: dict[str, float] = field(default_factory=dict)
    nodes: tuple[int, int] = (0, 0)
    opset: int = OPSET


def artifact_paths(out: Path) -> dict[str, Path]:
    """Where each precision goes for ``-o out``."""
    return {p: variant_name(Path(out), p) for p in ("fp32", "fp16", "int8")}


def luma_spec(spec: ModelSpec) -> ModelSpec:
    """The spec of a ``compact_y`` model's luma-only graph: its net (``compact``) on one channel."""
    return replace(spec, arch="compact", in_channels=1, out_channels=1, color_space="y")


def _luma_targets(opts: ExportOptions, targets: dict[str, Path], source: Path) -> dict[str, Path]:
    """``OUT.luma.onnx`` (and ``OUT.luma.int8.onnx``) with the same checks as the other targets."""
    out = Path(opts.out)
    wanted = {"luma-fp32": variant_name(out, "luma")}
    if "int8" in targets:
        wanted["luma-int8"] = variant_name(out, "luma.int8")
    for kind, path in wanted.items():
        _check_target(kind, path, opts, source)
    return wanted


def _fp32_graph(module, spec: ModelSpec, opts: ExportOptions,  # noqa: ANN001 - torch module
                result: ExportResult) -> tuple[OnnxGraph, onnx.ModelProto, bytes]:
    """The exported graph, its CPU-fast fp32 form (PReLU decomposed) and that form's bytes, with
    its parity against ``module`` added to ``result``."""
    graph = export_onnx(module, spec, opset=opts.opset, simplify=opts.simplify)
    fp32 = copy.deepcopy(graph.model)
    decompose_prelu(fp32)
    fp32_bytes = fp32.SerializeToString()
    result.parity.append(check_parity(module, spec, fp32_bytes, images=opts.parity_images))
    return graph, fp32, fp32_bytes


def _luma_blobs(gen: LoadedGenerator, spec: ModelSpec, opts: ExportOptions, result: ExportResult,
                int8: bool, ranges: dict[tuple[str, int], tuple[float, float]]) -> dict[str, onnx.ModelProto]:
    """The checked luma-only graphs of a ``compact_y`` model (see the module docstring)."""
    net, lspec = gen.module.luma, luma_spec(spec)
    _, fp32, fp32_bytes = _fp32_graph(net, lspec, opts, result)
    blobs = {"luma-fp32": fp32}
    if int8:  # at the trained ranges the RGB graph took
        # the float convs the RGB graph kept, by position (named nodes are the RGB graph's own)
        keep = result.int8_keep_float if set(result.int8_keep_float) <= {"first", "last"} else ("first", "last")
        inputs = calibration_inputs(opts.calib, lspec, count=opts.calib_count)
        wide = copy.deepcopy(fp32)
        pad_thin_convs(wide)
        q = quantize_int8(wide, lspec, inputs, method=opts.calib_method, keep_float=keep, int8_format=opts.int8_format,
                          ranges=ranges)
        narrow_float_convs(q)  # the widening helps int8 kernels only
        if opts.val is not None:
            result.luma_int8_quality = _int8_quality(fp32_bytes, q.SerializeToString(), spec, opts.val, luma=lspec)
        blobs["luma-int8"] = q
    return blobs


def onnx_upscaler(model_bytes: bytes, spec: ModelSpec, precision: str = "fp32", *,
                  luma: ModelSpec | None = None):  # noqa: ANN201 - an evalset.Upscaler
    """The engine's whole-frame upscaler running ``model_bytes`` with ONNX Runtime on the CPU, so
    exported graphs are scored exactly the way ``sr-stream`` runs them (``luma``: the bytes are
    the luma-only graph of the ``compact_y`` model ``spec``, with this spec, run as CPU backends
    run it)."""
    from srstream.engine.backends.ort_backend import OrtBackend, OrtOptions
    from srstream.engine.upscaler import FrameUpscaler

    backend = OrtBackend(luma or spec, model_bytes, precision, OrtOptions(gpu=False))
    backend.luma_graph = luma is not None
    return FrameUpscaler(backend, spec, 0).upscale


def _int8_quality(fp32: bytes, int8: bytes, spec: ModelSpec, folder: Path, *,
                  luma: ModelSpec | None = None) -> dict[str, float]:
    from srstream.evalset import BenchmarkSet

    bench = BenchmarkSet(folder, spec.scale, spec.in_channels)
    p32, s32, _ = bench.evaluate(onnx_upscaler(fp32, spec, luma=luma))
    p8, s8, _ = bench.evaluate(onnx_upscaler(int8, spec, "int8", luma=luma))
    return {"psnr_y_fp32": p32, "psnr_y_int8": p8, "ssim_y_fp32": s32, "ssim_y_int8": s8,
            "psnr_cost_db": p32 - p8, "bicubic_psnr_y": bench.bicubic[0]}


def _ranges(gen: LoadedGenerator, opts: ExportOptions) -> dict[tuple[str, int], tuple[float, float]]:
    """The trained activation ranges the INT8 graphs take (see :class:`ExportOptions`).

    Raises:
        ConfigError: ``int8_ranges`` is unknown, or "trained" for weights without them.
    """
    if opts.int8_ranges not in INT8_RANGES:
        raise ConfigError(f"INT8 ranges {opts.int8_ranges!r}: expected one of {', '.join(INT8_RANGES)}")
    if opts.int8_ranges == "trained" and not gen.trained_ranges:
        raise ConfigError(f"{gen.path} has no trained activation ranges (only the checkpoint of a quant: int8 "
                          "phase has them, in the state.pt beside its model.safetensors); use --int8-ranges auto")
    return {} if opts.int8_ranges == "calibrated" else dict(gen.trained_ranges)


def _quantize(wide: onnx.ModelProto, fp32_bytes: bytes, spec: ModelSpec, inputs: Sequence, opts: ExportOptions,
              log, ranges: dict[tuple[str, int], tuple[float, float]]  # noqa: ANN001
              ) -> tuple[onnx.ModelProto, tuple[str, ...], dict[str, float]]:
    """The INT8 graph, the convs it keeps in float and its quality on ``val`` (when measured).

    ``int8_keep_float="auto"`` walks :data:`KEEP_FLOAT_LADDER` (fastest first) and keeps the
    first graph whose PSNR cost on ``val`` is within ``int8_max_cost``; past the ladder's end,
    the cheapest one in PSNR. Without ``val`` it keeps the first and last convs in float, the
    safe choice that needs no measurement.
    """
    def make(keep: tuple[str, ...]) -> onnx.ModelProto:
        q = quantize_int8(copy.deepcopy(wide), spec, inputs, method=opts.calib_method, keep_float=keep,
                          int8_format=opts.int8_format, ranges=ranges)
        narrow_float_convs(q)  # the widening helps int8 kernels only
        return q

    def measure(q: onnx.ModelProto) -> dict[str, float]:
        return _int8_quality(fp32_bytes, q.SerializeToString(), spec, opts.val) if opts.val is not None else {}

    if opts.int8_keep_float != "auto":
        keep = tuple(opts.int8_keep_float)
        q = make(keep)
        return q, keep, measure(q)
    if opts.val is None:
        log("INT8: no --val to measure on, so the first and last convs stay float")
        return make(("first", "last")), ("first", "last"), {}
    best: tuple[onnx.ModelProto, tuple[str, ...], dict[str, float]] | None = None
    for keep in KEEP_FLOAT_LADDER:
        q = make(keep)
        quality = measure(q)
        log(f"INT8 with {'+'.join(keep) or 'no'} conv(s) in float: {quality['psnr_cost_db']:.3f} dB on {opts.val.name}")
        if quality["psnr_cost_db"] <= opts.int8_max_cost:
            return q, keep, quality
        if best is None or quality["psnr_cost_db"] < best[2]["psnr_cost_db"]:
            best = (q, keep, quality)
    assert best is not None
    log(f"INT8: no variant within {opts.int8_max_cost} dB; keeping the most accurate")
    return best


def _strength_offsets(module) -> str | None:  # noqa: ANN001 - torch module
    """The metadata value with a strength-conditioned net's offsets (see
    :mod:`srstream.engine.strength`), or None for any other net. The graphs compute the net at
    strength 0; the engine adds the offsets to the biases for the strength of each stream."""
    offsets = {int(k.rsplit(".", 1)[1]): v.detach().double().numpy() for k, v in module.state_dict().items()
               if ".strength_offsets." in f".{k}"}
    return offsets_metadata(offsets) if offsets else None


def _write_weights(module, spec: ModelSpec, out: Path) -> Path:  # noqa: ANN001 - torch module
    """``OUT.safetensors`` beside ``OUT.onnx``: the exported (plain) weights with the spec, which
    the torch backend loads."""
    from safetensors.torch import save

    from srstream.atomic import write_atomic
    from srstream.spec import METADATA_KEY

    path = out.with_name(out.name.removesuffix(".onnx") + ".safetensors")
    tensors = {k: v.detach().float().contiguous() for k, v in module.state_dict().items()}
    write_atomic(path, save(tensors, metadata={METADATA_KEY: spec.to_json()}))
    return path


def _check_target(kind: str, path: Path, opts: ExportOptions, source: Path) -> None:
    """Refuse to write ``path`` over the input, over an existing file without ``overwrite``, or
    over a folder."""
    if path.resolve() == Path(source).resolve():
        raise OutputError(f"the {kind} output {path} is the input checkpoint; choose another -o")
    if path.exists() and not opts.overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace it, or choose another -o")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; -o must name an .onnx file")


def _check_targets(opts: ExportOptions, source: Path) -> dict[str, Path]:
    if not Path(opts.out).name.endswith(".onnx"):
        raise ConfigError(f"-o {opts.out}: the output must be an .onnx file name")
    paths = artifact_paths(opts.out)
    wanted = ["fp32"] + (["fp16"] if opts.fp16 or (opts.trt and opts.trt_precision == "fp16") else []) \
        + (["int8"] if opts.int8 else [])
    targets = {k: paths[k] for k in wanted}
    if opts.safetensors:
        targets["weights"] = Path(opts.out).with_name(Path(opts.out).name.removesuffix(".onnx") + ".safetensors")
    for kind, path in targets.items():
        _check_target(kind, path, opts, source)
    if opts.int8 and opts.calib is None:
        raise ConfigError("--int8 needs --calib DIR: a folder of images to calibrate the activation ranges on")
    return targets


def run_export(source: Path, opts: ExportOptions, *, log=print) -> ExportResult:  # noqa: ANN001
    """Export ``source`` as ``opts`` asks; every check passes before anything is written.

    Raises:
        InputError / ModelError: the checkpoint cannot be used.
        ExportError: tracing failed or a parity check failed (nothing written).
        OutputError: a target exists (without ``overwrite``) or cannot be written.
        DependencyError / BackendError: ``--trt`` without TensorRT or a GPU.
    """
    targets = _check_targets(opts, source)
    if opts.trt:  # fail before the export work, not after it
        from srstream.export.trt_build import gpu_identity, import_tensorrt

        import_tensorrt()
        gpu_identity()
    gen: LoadedGenerator = load_generator(source, name=opts.name)
    spec = gen.spec
    # a net on pixel phases that pads itself to them: the engine's tiles are aligned to its phases only where the
    # spec asks for its frames in multiples of them (an imported x2plus RRDB does)
    if spec.size_multiple % spec.arch_params.get("unshuffle", 1):
        raise ConfigError(f"{spec.name} runs its body on the input's pixel phases (unshuffle "
                          f"{spec.arch_params['unshuffle']}), which the engine cannot tile seamlessly yet; it is for "
                          "training studies (benchmarks/eval_checkpoint.py scores its checkpoints)")
    if spec.arch == "compact_y":
        targets.update(_luma_targets(opts, targets, source))
    log(f"{'imported' if gen.imported else 'loaded'} {spec.name}: {spec.arch} x{spec.scale} "
        f"{dict(spec.arch_params)} from {gen.path}")
    result = ExportResult(spec, gen.path, gen.imported)
    graph, fp32, fp32_bytes = _fp32_graph(gen.module, spec, opts, result)
    result.nodes, result.opset = (graph.nodes_before, graph.nodes_after), graph.opset
    blobs: dict[str, onnx.ModelProto] = {"fp32": fp32}
    precisions = ["fp32"]
    if "fp16" in targets:
        half = to_fp16(graph.model, fp16_io=opts.fp16_io)
        result.parity.append(check_parity(gen.module, spec, half.SerializeToString(), precision="fp16",
                                          images=opts.parity_images))
        blobs["fp16"] = half
        precisions.append("fp16")
    ranges: dict[tuple[str, int], tuple[float, float]] = {}  # trained activation ranges, for both INT8 graphs
    if "int8" in targets:
        inputs = calibration_inputs(opts.calib, spec, count=opts.calib_count)
        ranges = _ranges(gen, opts)
        result.int8_trained_ranges = len(ranges)
        log(f"calibrating INT8 on {len(inputs)} crops from {opts.calib} ({opts.calib_method})"
            + (f"; {len(ranges)} activation ranges as quantisation-aware training left them" if ranges else ""))
        wide = copy.deepcopy(fp32)
        pad_thin_convs(wide)  # int8 kernels run 4-channel convs poorly; same maths
        q, result.int8_keep_float, result.int8_quality = _quantize(wide, fp32_bytes, spec, inputs, opts, log, ranges)
        report = check_parity(gen.module, spec, q.SerializeToString(), precision="int8", tolerance=float("inf"),
                              images=opts.parity_images)
        result.int8_max_abs = report.max_abs
        blobs["int8"] = q
        precisions.append("int8")
    luma = _luma_blobs(gen, spec, opts, result, "int8" in targets, ranges) if spec.arch == "compact_y" else {}

    metrics = dict(spec.metrics)
    metrics.update(opts.metrics)
    if result.int8_quality and opts.val is not None:
        key = f"{opts.val.name.lower()}_x{spec.scale}_psnr_y"
        metrics[key + INT8_METRIC] = round(result.int8_quality["psnr_y_int8"], 4)
        metrics[key + FP32_METRIC] = round(result.int8_quality["psnr_y_fp32"], 4)
        if (cost := result.int8_quality["psnr_cost_db"]) > LIMITS.cost_db:
            log(f"INT8: {cost:.3f} dB on {opts.val.name} is over the {LIMITS.cost_db} dB --precision auto accepts: "
                "auto will not take this INT8 graph on any machine (the cost is stored in the spec); "
                "--precision int8 still runs it")
    spec = replace(spec, precisions=tuple(precisions), metrics=metrics,
                   license=opts.license if opts.license is not None else spec.license)
    result.spec = spec
    written: list[Path] = []
    try:
        strength = _strength_offsets(gen.module)
        for kind, model in [*blobs.items(), *luma.items()]:
            stamp_spec(model, luma_spec(spec) if kind.startswith("luma-") else spec)
            if strength is not None:
                model.metadata_props.add(key=STRENGTH_KEY, value=strength)
            size = save_onnx(model, targets[kind])
            written.append(targets[kind])
            result.artifacts.append(Artifact(kind, targets[kind], size))
        if opts.safetensors:
            path = _write_weights(gen.module, spec, Path(opts.out))
            written.append(path)
            result.artifacts.append(Artifact("weights", path, path.stat().st_size))
    except BaseException:
        for path in written:  # all or nothing: no partial set of artifacts is left behind
            path.unlink(missing_ok=True)
        raise

    if opts.trt:
        from srstream.export.trt_build import ShapeProfile, build_engine

        if opts.trt_precision not in blobs:  # the engine is built from the graph of its precision
            raise ConfigError(f"--trt-precision {opts.trt_precision} needs that graph (add --{opts.trt_precision})")
        profile = ShapeProfile.for_tiles(spec, opts.trt_tile, opts.trt_batch)
        entry = build_engine(blobs[opts.trt_precision].SerializeToString(), spec, precision=opts.trt_precision,
                             profile=profile, cache=opts.trt_cache)
        log(f"TensorRT engine {'built in %.0f s' % entry.seconds if entry.built else 'found in the cache'}: {entry.path}")
        result.artifacts.append(Artifact(f"trt-{opts.trt_precision}", entry.path, entry.path.stat().st_size))
    return result


def describe(result: ExportResult) -> Sequence[str]:
    """Human-readable lines for the CLI."""
    lines = [f"graph: {result.nodes[0]} nodes from the exporter, {result.nodes[1]} after onnxslim; opset {result.opset}, "
             "dynamic batch/height/width"]
    lines += [r.summary() for r in result.parity]
    if result.int8_max_abs is not None:
        lines.append(f"int8 ({'+'.join(result.int8_keep_float) or 'no'} conv(s) kept in float) max abs difference "
                     f"vs PyTorch fp32: {result.int8_max_abs:.3f} (informational)")
    if result.int8_quality:
        q = result.int8_quality
        lines.append(f"int8 quality: Y-PSNR {q['psnr_y_int8']:.3f} dB vs fp32 {q['psnr_y_fp32']:.3f} dB "
                     f"(cost {q['psnr_cost_db']:.3f} dB; bicubic {q['bicubic_psnr_y']:.3f} dB)")
    if result.luma_int8_quality:
        q = result.luma_int8_quality
        lines.append(f"luma-only int8 quality: Y-PSNR {q['psnr_y_int8']:.3f} dB vs fp32 {q['psnr_y_fp32']:.3f} dB "
                     f"(cost {q['psnr_cost_db']:.3f} dB)")
    for a in result.artifacts:
        lines.append(f"wrote {a.kind:8s} {a.path} ({a.size / 1024:.0f} KiB)")
    return lines
