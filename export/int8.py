"""INT8 ONNX for CPUs: static QDQ quantization calibrated on a folder of images.

ONNX Runtime's quantization tools do the work (``quantize_static``, QDQ format, signed int8
weights per output channel). What we decide:

* **signed int8 activations (S8S8)** by default, not the unsigned ones (U8S8) ONNX Runtime's
  tools default to. On x86 CPUs without VNNI (AVX2-only, e.g. AMD Zen 3, and AVX-512 without
  VNNI), ONNX Runtime runs U8S8 convolutions with ``vpmaddubsw``, which adds pairs of u8 x s8
  products into a saturating int16: bright areas (large activations) meeting large weights
  clip, and the output gets stripes and checker patterns. Measured on realtime-x2, Set5 x2,
  the same graph under QEMU emulating an AVX2-only EPYC (``qemu-x86_64 -cpu EPYC-Milan``): U8S8
  cost 0.87 dB against fp32, S8S8 0.05 dB; natively on an AVX-512 VNNI Zen 4 both cost 0.05 dB
  and run at the same speed. ONNX Runtime's quantization guide names this saturation.

* **what is quantized**: only convolutions (and the ReLUs ORT folds into them). The colour
  conversion, resizes and pixel shuffle are cheap and stay float, where quantizing them would
  add Quantize/Dequantize pairs for no gain.
* **which convolutions stay float**: by default the first and the last. The last one's output
  is the residual detail added to the skip, where an 8-bit step is a visible fraction of the
  detail itself; the first one sees the raw frame. Both are thin layers (a few percent of the
  work). On realtime-x2, Set5 x2, the PSNR cost was 0.21 dB (min/max calibration) and 0.15 dB
  (percentile) with every conv quantized, 0.10 and 0.05 dB with these two kept float.
* **calibration inputs**: crops of the given images as the model sees them in use (an LR
  frame), at the spec's tile size, plus whole images downscaled by the model's scale.
* **trained ranges**: a net fine-tuned through the INT8 roundings (a ``quant: int8`` phase,
  :mod:`srstream.archs.quant`) learned its weights for the activation ranges it rounded at in
  training. Those ranges are given to the quantizer as they are (``TensorQuantOverrides``), and
  calibration sets only the tensors training did not round, so the graph computes what was
  trained. tiny-x2-12 (16 x 12 convs), Set5 x2: 0.064 dB with percentile calibration, 0.042 at
  its trained ranges, which is what its training validation had measured through the roundings.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx

from srstream.errors import ConfigError, DependencyError, ExportError, InputError
from srstream.export.parity import model_input
from srstream.export.quiet import quiet
from srstream.images import list_images, load_rgb
from srstream.spec import ModelSpec

__all__ = ["CALIBRATION_METHODS", "INT8_FORMATS", "KEEP_FLOAT_LADDER", "calibration_inputs", "quantize_int8"]

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
#: Activation x weight types: ``s8s8`` (default, no saturation without VNNI), ``u8s8``, or ``u8s7``
#: (unsigned activations, weights rounded within +-64: ONNX Runtime's ``reduce_range``; a pair of
#: products, 2 x 255 x 64, stays within int16, so ``vpmaddubsw`` cannot saturate, at half the weight
#: resolution).
INT8_FORMATS = ("s8s8", "u8s8", "u8s7")
#: ``keep_float="auto"`` tries these in order (fastest first: each float conv adds
#: Quantize/Dequantize work) and keeps the first whose PSNR cost fits the budget.
KEEP_FLOAT_LADDER: tuple[tuple[str, ...], ...] = ((), ("first",), ("last",), ("first", "last"))


def calibration_inputs(folder: Path, spec: ModelSpec, *, count: int = 64, seed: int = 0) -> list[np.ndarray]:
    """``count`` float32 ``(1, C, size, size)`` model inputs cut from the images in ``folder``.

    Crops alternate between the image as stored and the image downscaled by the model's scale
    (what an LR frame looks like); ``size`` is the spec's tile (or 128). All crops share one
    shape, which the histogram calibrators need.

    Raises:
        InputError: the folder is missing or holds no image large enough.
    """
    files = list_images([folder])
    rng = np.random.default_rng(seed)
    size = max(min(spec.tile or 128, 256), 2 * spec.margin + 16)
    size -= size % spec.size_multiple
    out: list[np.ndarray] = []
    order = rng.permutation(len(files))
    for i in range(count * 4):
        if len(out) == count:
            break
        rgb = load_rgb(files[order[i % len(files)]])
        if i % 2:
            h, w = rgb.shape[:2]
            rgb = cv2.resize(rgb, (max(1, w // spec.scale), max(1, h // spec.scale)), interpolation=cv2.INTER_AREA)
        h, w = rgb.shape[:2]
        if h < size or w < size:
            continue
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        out.append(model_input(rgb[y:y + size, x:x + size], spec))
    if not out:
        raise InputError(f"no calibration image in {folder} is at least {size}x{size} pixels")
    return out


def _is_skip_conv(node: onnx.NodeProto) -> bool:
    """A compact net's ``linear`` skip filter (its weight is ``...skip_conv.weight``)."""
    return node.op_type == "Conv" and len(node.input) > 1 and "skip_conv." in node.input[1]


def _conv_names(model: onnx.ModelProto) -> list[str]:
    """The network's convs in graph order, without a linear skip's filter (always float)."""
    return [n.name for n in model.graph.node if n.op_type == "Conv" and not _is_skip_conv(n)]


def quantize_int8(model: onnx.ModelProto, spec: ModelSpec, inputs: Sequence[np.ndarray], *,
                  method: str = "percentile", keep_float: Sequence[str] = ("first", "last"),
                  int8_format: str = "s8s8",
                  ranges: Mapping[tuple[str, int], tuple[float, float]] | None = None) -> onnx.ModelProto:
    """A QDQ INT8 copy of the fp32 ``model``, calibrated on ``inputs``.

    Args:
        method: calibration method, one of :data:`CALIBRATION_METHODS`.
        keep_float: convolutions left in float: ``"first"``, ``"last"`` and/or node names.
        int8_format: activation x weight types, one of :data:`INT8_FORMATS`.
        ranges: trained activation ranges ``(lo, hi)`` by site (``("input", k)`` or
            ``("output", k)`` of the ``k``-th conv, :data:`srstream.archs.quant.Site`), used as
            they are; calibration sets the other tensors.

    Raises:
        ConfigError: unknown method, format or node.
        ExportError: ONNX Runtime's quantizer failed.
    """
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
    except ModuleNotFoundError as exc:  # pragma: no cover - part of onnxruntime
        raise DependencyError("INT8 export needs onnxruntime's quantization tools: pip install onnxruntime") from exc
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ConfigError(f"calibration method {method!r}: expected one of {', '.join(CALIBRATION_METHODS)}")
    if int8_format not in INT8_FORMATS:
        raise ConfigError(f"INT8 format {int8_format!r}: expected one of {', '.join(INT8_FORMATS)}")
    convs = _conv_names(model)
    if not convs or not all(convs):
        raise ExportError(f"{spec.name}: the graph has no named Conv nodes to quantize")
    exclude = []
    for item in keep_float:
        name = {"first": convs[0], "last": convs[-1]}.get(item, item)
        if name not in convs:
            raise ConfigError(f"keep_float: {item!r} is not a Conv node of {spec.name} (convs: {', '.join(convs)})")
        exclude.append(name)
    # a linear skip filters the raw input as the first conv does, and its output is added to the
    # picture itself: a few MACs per pixel, left float like the first conv
    exclude += [n.name for n in model.graph.node if _is_skip_conv(n)]

    nodes = {n.name: n for n in model.graph.node}
    overrides = {}
    for (kind, k), (lo, hi) in (ranges or {}).items():
        if not 0 <= k < len(convs) or kind not in ("input", "output"):
            raise ConfigError(f"trained range at {kind} {k}: {spec.name} has {len(convs)} convs")
        tensor = nodes[convs[k]].input[0] if kind == "input" else nodes[convs[k]].output[0]
        overrides[tensor] = [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {spec.input_name: x}

    with tempfile.TemporaryDirectory(prefix="srstream-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, src)
        try:
            with quiet():
                quantize_static(
                    str(src), str(dst), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=int8_format == "u8s7",
                    activation_type=QuantType.QInt8 if int8_format == "s8s8" else QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv", "Relu"], nodes_to_exclude=exclude,
                    calibrate_method=methods[method],
                    extra_options={"CalibTensorRangeSymmetric": False, "CalibMovingAverage": False,
                                   "TensorQuantOverrides": overrides},
                )
        except Exception as exc:  # ORT raises plain Exceptions from its calibrators
            raise ExportError(f"INT8 quantization of {spec.name} failed: {exc}") from exc
        quantized = onnx.load(dst)
    return quantized
