"""Fitting a model's last conv to one video by least squares, in seconds and without torch.

A ``compact_y`` net ends in one 3x3 conv whose ``scale**2`` outputs, plus the input luma (the
nearest skip), are the output's sub-pixels. With everything before it fixed, that output is
linear in the conv's weights and bias: the weights that best map the net's own last hidden
activations to a video's frames solve a small least-squares problem (``9 * C + 1`` unknowns per
sub-pixel). This fits them on pairs made from the video alone (:mod:`srstream.engine.selfpairs`:
each sampled frame, as decoded, is a target; its own bicubic downscale re-encoded with H.264 is
the input), which is what ``--adapt`` (:mod:`srstream.trainer.adapt`) trains the whole net on
for minutes with torch. Here the activations come from the fp32 luma graph in ONNX Runtime, the
normal equations are summed in numpy (float64) over random crops, and the solution, pulled
towards the shipped weights by a small ridge, is written into copies of the model's graphs (fp32
and INT8, RGB and luma; in an INT8 graph whose last conv is quantised the new weights are
quantised again, symmetric per output channel). Nothing else in the graphs changes, so the
INT8 graph's body rounds exactly as the shipped one's, whose export-time INT8 cost the copy keeps
(``--precision auto`` still checks the copy against its fp32 graph on this machine).

Which pairs. The targets are frames of the compressed stream, artefacts included. Inputs
re-encoded at the stream's own quantiser alone teach the conv to redraw those artefacts one scale
up. In a first probe (torch fp32, no stabiliser, the 30 scored frames of ``benchmarks/adapt_video.py``,
2-core AMD EPYC Zen 3; ``benchmarks/results/bench/refit_video_zen3.md``), a full step fitted on
the 720p game capture at CRF 30 took the compressed variant from 33.50 dB to 33.00 with pairs at
the stream's CRF, and to 33.60 with pairs 8 CRF steps cleaner; so the first version encoded the
inputs 8 steps under the stream's only. With the transfer check below, the stream's CRF and 4
and 8 under it together (:data:`DEFAULT_UNDER`) do better on Big Buck Bunny (CRF 30: 32.745
against 32.706 dB, CRF 23: 35.884 against 35.849, with lower temporal error) and on the game at
CRF 30 (+0.010), lose 0.032 dB on the game at CRF 23 (still 0.098 over the model as shipped),
and change nothing on the desktop capture or on clean video (INT8 through the engine, 2-core
Intel Sapphire Rapids; ``benchmarks/results/bench/refit_video_under_spr.md``). They take about
twice as long to make and fit.

How far. A fit that lowers the error on the pairs need not help one scale up: on the desktop
capture (text, one-pixel lines, which look different one scale down) the full step cut the
pairs' error by 23% and cost 0.23 dB. So :func:`fit_last_conv` makes the same fit one scale
further down and takes the step only as far as that one carries to the pairs at the video's own
scale. On the desktop capture and the game capture that is not at all (the shipped weights stay;
on the game the full step would have gained 0.09 dB, so the check is cautious); on Big Buck
Bunny three quarters of it. (Those figures are the compressed variant's, before screen recordings
had their own.) A video that looks like a screen recording, which runs a screen variant, takes a
quarter step without the check (:data:`SCREEN_STEP`): one scale down its text is a few pixels
high, and the check misjudged its step both ways.

When. ``--adapt fast`` asks for it; ``--adapt auto``, the default, fits a video file long enough
that the fit is a small part of the run, of frames large enough that the check above has seen it
hold (:func:`auto_fits`, :data:`AUTO_MIN_FRAMES`, :data:`AUTO_MIN_PIXELS`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srstream.cache import cache_root, new_entry
from srstream.engine.models import ResolvedModel, luma_variant_path, resolve_model, screen_variant, variant_path
from srstream.engine.selfpairs import pair_crfs, sample_runs, training_pairs
from srstream.errors import ConfigError, DependencyError, InputError, ModelError
from srstream.images import LUMA_BT601
from srstream.imresize import bicubic_degrade
from srstream.spec import METADATA_KEY

__all__ = ["AUTO_FIT_SECONDS", "AUTO_FIT_SHARE", "AUTO_FLOOR_FRAMES", "AUTO_MIN_FRAMES", "AUTO_MIN_PIXELS",
           "DEFAULT_UNDER", "SCREEN_STEP", "RefitOptions", "Refitted", "auto_fits", "fit_last_conv", "fit_reason",
           "fit_to_pairs", "refit_to_video", "unsupported", "write_fitted"]

#: CRF steps under the stream's at which the pairs' inputs are encoded (see the module docstring).
DEFAULT_UNDER = (0, 4, 8)
#: ``--adapt auto`` fits a video of at least this many frames. The fit's work hardly grows with the
#: video (it samples 64 frames): on 2 cores of an Intel Sapphire Rapids it took 13, 15 and 18 s on
#: 640x360, 960x540 and 1280x720 videos, and the copy's accuracy check about 1 s more (its timings
#: are the shipped model's: :func:`_fitted_copy`), as long as upscaling about 130, 80 and 60 of their
#: frames took end to end (x2, as ``auto`` runs it: 9.2, 5.0 and 3.2 fps), so there it adds 3-6.5%
#: to the run. On a 2-core AMD Zen 3 (AVX2) an earlier version of the fit took about three times as
#: long as on the Sapphire Rapids and the upscale about 1.2 times (8.4 fps end to end at 640x360 in
#: ``benchmarks/results/cpu/zen3-avx2.md``): expect up to about a seventh there (not measured).
AUTO_MIN_FRAMES = 2000
#: ... or a shorter one (of at least the frames the fit samples) that the model, at the speed
#: ``auto`` measured for it on this machine at the video's frame size, takes at least
#: ``AUTO_FIT_SECONDS / AUTO_FIT_SHARE`` seconds to upscale: on a CPU that upscales slowly the fit
#: is a small part of even a short run. The fit with pairs at 0/4/8 CRF steps under the stream's took
#: 18-29 s on the 2-core Sapphire Rapids (``benchmarks/results/bench/refit_video_under_spr.md``)
#: and 16 s for a 960x540 video on a 2-core first-generation Zen, whose upscaling there ran at
#: about 1 fps: 30 s bounds both. The measured speed is the network's alone, so the run takes
#: longer than that and the fit's share is smaller.
AUTO_FIT_SECONDS, AUTO_FIT_SHARE = 30.0, 0.1
#: ... and never one shorter than the fit samples (:class:`RefitOptions`: 8 runs of 8 frames).
AUTO_FLOOR_FRAMES = 64
#: ... and frames of at least this many pixels (640x360). Every measurement at 640x360 and above
#: scored at or above the model without the fit; at 320x180 the first 5 s of Big Buck Bunny (its
#: titles) lost 0.26 dB at CRF 23 (``benchmarks/results/bench/refit_sample_spr.md``): one scale
#: further down, where the check judges how far the fit carries, such frames are 160x90.
AUTO_MIN_PIXELS = 640 * 360
#: The step a screen variant takes (:func:`srstream.engine.models.screen_variant`: the video looks like
#: a screen recording), in place of the transfer check. One scale down, such frames' text is a few
#: pixels high and their lines vanish, so the check misjudges the step both ways: on the desktop
#: capture's first 5 s it took none where a quarter gained 0.12-0.13 dB at CRF 23 and 30, 5 s from
#: 30 s in at CRF 30 it took half where a quarter gained 0.03 dB more. A quarter scored best or within
#: 0.013 dB of the best in all eight screen cases measured (three 5-s stretches of the desktop
#: capture and the voxel game, each at CRF 23 and 30; ``benchmarks/results/bench/refit_screen_step_spr.md``),
#: and best of a quarter, a half and three quarters with the variant's third stage on the desktop's first 5 s
#: and the game (``benchmarks/results/training/realtime_x2_screen/cleartype_steps_spr.md``).
SCREEN_STEP = 0.25
#: Bumped when what this module makes from the same input and options changes.
_VERSION = 3
#: The recorded export-time INT8 cost metrics a refitted copy keeps (its body is the shipped one's).
_KEPT_METRICS = ("_psnr_y_int8", "_psnr_y_onnx_fp32")


@dataclass(frozen=True)
class RefitOptions:
    """Pairs from ``runs`` stretches of ``run_frames`` consecutive frames spread over the video,
    inputs encoded ``under`` CRF steps below the stream's; ``crops`` random ``crop``-pixel LR
    crops per frame and CRF enter the fit, whose ``ridge`` pulls the weights towards the shipped
    ones (relative to the activations' mean square). ``step``: how much of the fit to take in place
    of the transfer check (None: the check decides, or :data:`SCREEN_STEP` for a screen variant)."""

    runs: int = 8
    run_frames: int = 8
    under: tuple[int, ...] = DEFAULT_UNDER
    crop: int = 64
    crops: int = 1
    ridge: float = 1e-4
    seed: int = 0
    max_pixels: int = 150_000_000
    step: float | None = None

    def __post_init__(self) -> None:
        for name in ("runs", "run_frames", "crop", "crops"):
            if getattr(self, name) < 1:
                raise ConfigError(f"refit {name} must be at least 1, got {getattr(self, name)}")
        if not self.under or min(self.under) < 0 or self.ridge < 0:
            raise ConfigError("refit needs at least one CRF offset >= 0 and a ridge >= 0")
        if self.step is not None and not 0 <= self.step <= 1:
            raise ConfigError(f"refit step must be within 0-1, got {self.step}")


@dataclass(frozen=True)
class Refitted:
    """The refitted model, whether it came from the cache, and what made it. ``loss_change``:
    the fit's mean squared error on the pairs relative to the shipped weights' (below 1: better)."""

    model: ResolvedModel
    reused: bool
    crfs: tuple[int, ...]
    frames: int
    shrink: float
    loss_change: float
    seconds: float


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise DependencyError("--adapt fast edits the model's ONNX graphs and needs the onnx package: "
                              "pip install onnx (the openvino and export extras include it), or drop --adapt") from exc
    return onnx


def _last_conv(graph: Any) -> Any | None:
    """The graph's last Conv when it feeds the output's DepthToSpace through Add (and, in INT8
    graphs, QuantizeLinear / DequantizeLinear / Slice) only; else None."""
    convs = [n for n in graph.node if n.op_type == "Conv"]
    if not convs:
        return None
    conv = convs[-1]
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    value = conv.output[0]
    for _ in range(6):
        nxt = readers.get(value, [])
        if len(nxt) != 1 or nxt[0].op_type not in ("QuantizeLinear", "DequantizeLinear", "Slice", "Add",
                                                     "DepthToSpace"):
            return None
        if nxt[0].op_type == "DepthToSpace":
            return conv
        value = nxt[0].output[0]
    return None


def unsupported(model: ResolvedModel) -> str | None:
    """Why ``model`` cannot be refitted (None when it can): a ``compact_y`` net with a nearest skip
    and its luma graph beside it, ending in a plain conv, is needed."""
    spec = model.spec
    if spec.arch != "compact_y" or spec.arch_params.get("skip", "nearest") != "nearest":
        return f"{model.name} is not a compact luma net with a nearest skip ({spec.arch})"
    if (u := spec.arch_params.get("unshuffle", 1)) != 1:
        return f"{model.name}'s last conv makes the sub-pixels of {u}x{u} input pixels at once (unshuffle)"
    if luma_variant_path(model.path, "fp32") is None:
        return f"{model.name} has no luma graph beside it (export writes NAME.luma.onnx)"
    return None


def auto_fits(model: ResolvedModel, width: int, height: int, frames: int,
              speed: Callable[[], float | None] | None = None) -> bool:
    """Whether ``--adapt auto`` fits ``model`` to a video of ``frames`` frames of ``width`` x
    ``height`` (:func:`fit_reason`)."""
    return fit_reason(model, width, height, frames, speed) is not None


def fit_reason(model: ResolvedModel, width: int, height: int, frames: int,
               speed: Callable[[], float | None] | None = None) -> str | None:
    """Why ``--adapt auto`` fits ``model`` to a video of ``frames`` frames of ``width`` x ``height``,
    or None where it does not: a model this module can refit, frames large enough
    (:data:`AUTO_MIN_PIXELS`) and a video long enough (0 frames, a length nothing tells, is not):
    :data:`AUTO_MIN_FRAMES`, or long enough that the fit is at most :data:`AUTO_FIT_SHARE` of
    upscaling it at ``speed()``, the model's speed on this machine (called only then: it may measure)."""
    if width * height < AUTO_MIN_PIXELS or unsupported(model) is not None or frames <= 0:
        return None
    if frames >= AUTO_MIN_FRAMES:
        return "a video this long"
    if speed is None or frames < AUTO_FLOOR_FRAMES:
        return None
    fps = speed()
    if not fps or frames / fps < AUTO_FIT_SECONDS / AUTO_FIT_SHARE:
        return None
    return f"a video of {frames} frames, {frames / fps / 60:.0f} min at the {fps:.1f} fps measured for it here,"


def _features_graph(luma: Path) -> tuple[bytes, Any]:
    """The fp32 luma graph with its last conv's input as a second output, and that conv."""
    onnx = _onnx()
    model = onnx.load(str(luma))
    conv = _last_conv(model.graph)
    if conv is None:
        raise ModelError(f"{luma} does not end in a conv, skip and pixel shuffle; --adapt fast cannot refit it")
    model.graph.output.append(onnx.helper.make_tensor_value_info(conv.input[0], onnx.TensorProto.FLOAT, None))
    return model.SerializeToString(), conv


def _constants(graph: Any) -> dict[str, Any]:
    return {t.name: t for t in graph.initializer}


def _shipped(luma: Path) -> np.ndarray:
    """The last conv's weights and bias as one ``(9 * C + 1, scale**2)`` matrix."""
    onnx = _onnx()
    from onnx import numpy_helper

    model = onnx.load(str(luma))
    conv = _last_conv(model.graph)
    constants = _constants(model.graph)
    weight = numpy_helper.to_array(constants[conv.input[1]]).astype(np.float64)
    bias = numpy_helper.to_array(constants[conv.input[2]]).astype(np.float64)
    return np.concatenate([weight.reshape(weight.shape[0], -1), bias[:, None]], 1).T


def _luma(frames: list[np.ndarray]) -> np.ndarray:
    rgb = np.stack(frames).astype(np.float32) / 255
    return (rgb @ np.asarray(LUMA_BT601, np.float32))[:, None]


@dataclass(frozen=True)
class _Normal:
    """The normal equations of the last conv's least-squares fit, per pixel: ``gram`` (X'X),
    ``cross`` (X'Y) and ``square`` (Y'Y), X the conv's input neighbourhoods and a 1, Y the sub-pixels less the skip."""

    gram: np.ndarray
    cross: np.ndarray
    square: float
    sample: np.ndarray  # (rows, 9 * C + 1) float32: X's rows at random, for the outputs' range

    def growth(self, w: np.ndarray, prior: np.ndarray) -> float:
        """How much larger the conv's largest output magnitude on the sampled rows is with ``w``
        than with ``prior`` (1 when no larger)."""
        before = float(np.abs(self.sample @ prior.astype(np.float32)).max(initial=0.0))
        after = float(np.abs(self.sample @ w.astype(np.float32)).max(initial=0.0))
        return max(1.0, after / before) if before > 0 else 1.0

    def solve(self, prior: np.ndarray, ridge: float) -> np.ndarray:
        """The weights of least error plus ``ridge`` (relative to the inputs' mean square) times
        their squared distance to ``prior``."""
        lam = ridge * float(np.mean(np.diag(self.gram)[:-1]))
        return np.linalg.solve(self.gram + lam * np.eye(len(self.gram)), self.cross + lam * prior)

    def mse(self, w: np.ndarray) -> float:
        return self.square + float(np.trace(w.T @ self.gram @ w) - 2 * np.trace(w.T @ self.cross))


def _normal(session: Any, scale: int, margin: int, targets: list[np.ndarray], inputs: dict[int, list[np.ndarray]],
            opts: RefitOptions) -> _Normal:
    """:class:`_Normal` over ``opts.crops`` random crops of every pair (``session``: the luma graph
    with the last conv's input as its second output).

    Raises:
        InputError: the frames are too small for a crop with its margin.
    """
    side = opts.crop + 2 * margin
    low = next(iter(inputs.values()))[0]
    if min(low.shape[:2]) < side:
        crop = min(low.shape[:2]) - 2 * margin
        if crop < 8:
            raise InputError(f"the input's frames are under {(8 + 2 * margin) * scale} pixels on a side, too small "
                             "to adapt to")
        opts, side = dataclasses.replace(opts, crop=crop), crop + 2 * margin
    rng = np.random.default_rng(opts.seed)
    xs, ys = [], []
    for frames in inputs.values():
        for low, target in zip(frames, targets):
            for _ in range(opts.crops):
                y0, x0 = int(rng.integers(0, low.shape[0] - side + 1)), int(rng.integers(0, low.shape[1] - side + 1))
                xs.append(low[y0:y0 + side, x0:x0 + side])
                y1, x1 = scale * (y0 + margin), scale * (x0 + margin)
                ys.append(target[y1:y1 + scale * opts.crop, x1:x1 + scale * opts.crop])
    gram: np.ndarray = np.zeros(0)
    cross: np.ndarray = np.zeros(0)
    count, square = 0, 0.0
    sample: list[np.ndarray] = []
    crop, inner = opts.crop, slice(margin, margin + opts.crop)
    order: np.ndarray | None = None
    for i in range(0, len(xs), 16):
        y_low, y_high = _luma(xs[i:i + 16]), _luma(ys[i:i + 16])
        act = session.run([session.get_outputs()[1].name], {session.get_inputs()[0].name: y_low})[0]
        n, c = act.shape[:2]
        # channels last, so that each 3x3 offset's inner pixels are one contiguous block of C values:
        # a row of X is (offset, channel) ordered here and the gram permuted to the conv's weight order
        # (channel, dy, dx) below; one float32 copy per offset, no (N, C, 3, 3, crop, crop) stack.
        padded = np.pad(act.transpose(0, 2, 3, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
        x = np.empty((n, crop, crop, 9 * c + 1), np.float32)
        for k in range(9):
            dy, dx = divmod(k, 3)
            x[..., k * c:(k + 1) * c] = padded[:, margin + dy:margin + dy + crop, margin + dx:margin + dx + crop]
        x[..., -1] = 1.0
        x = x.reshape(-1, 9 * c + 1)
        if order is None:  # the column of X holding weight (channel, dy, dx), and the bias last
            order = np.append(np.arange(9 * c).reshape(9, c).T.ravel(), 9 * c)
        # the sub-pixels the conv's outputs make (DepthToSpace order), less the nearest skip
        sub = y_high.reshape(n, crop, scale, crop, scale).transpose(0, 2, 4, 1, 3).reshape(n, scale * scale, -1)
        y = (sub - y_low[:, :, inner, inner].reshape(n, 1, -1)).transpose(0, 2, 1).reshape(-1, scale * scale)
        sample.append(x[rng.choice(len(x), min(len(x), _SAMPLE_ROWS), replace=False)][:, order])
        # float32 products summed by BLAS within a batch (at most 16 crops), float64 across batches
        gram = (x.T @ x).astype(np.float64) + (gram if count else 0)
        cross = (x.T @ y).astype(np.float64) + (cross if count else 0)
        count += x.shape[0]
        square += float(np.square(y, dtype=np.float64).sum())
    assert order is not None
    gram, cross = gram[np.ix_(order, order)], cross[order]
    return _Normal(gram / count, cross / count, square / count, np.concatenate(sample))


#: Rows of the conv's input kept per batch of crops, to measure the fitted conv's output range.
_SAMPLE_ROWS = 4096
#: The shrinkages towards the shipped weights the transfer check chooses from.
_SHRINK = (0.0, 0.25, 0.5, 0.75, 1.0)


def fit_last_conv(luma: Path, scale: int, margin: int, runs: list[list[np.ndarray]], crfs: tuple[int, ...],
                  opts: RefitOptions) -> tuple[np.ndarray, float, float, float]:
    """The last conv's weights and bias, ``(9 * C + 1, scale**2)``, fitted on pairs made from
    ``runs`` at ``crfs``; how far they move from the shipped ones (0: not at all, 1: the whole
    least-squares step); the pairs' mean squared error with them relative to the shipped weights';
    and how much the conv's output range on the pairs grew (:func:`write_fitted`'s ``growth``).

    The step is taken only as far as it carries across a scale: the same fit made one scale
    further down (the frames' downscales as targets) is scored on the pairs at the video's own
    scale, and the shrinkage (:data:`_SHRINK`) that scores best there is applied to the fit.
    Where the picture at one scale does not predict the next (text, one-pixel lines), or the
    frames are too small to fit one scale further down, that keeps the shipped weights. A step
    given in ``opts`` is taken instead, without the check.

    Raises:
        InputError: the frames are too small.
    """
    import onnxruntime as ort

    head, _ = _features_graph(luma)
    session = ort.InferenceSession(head, providers=["CPUExecutionProvider"])
    shipped = _shipped(luma)
    below_runs = [[bicubic_degrade(f, scale) for f in run] for run in runs]  # also the inputs' clean downscales
    targets, inputs = training_pairs(runs, scale, crfs, below_runs)
    here = _normal(session, scale, margin, targets, inputs, opts)
    if opts.step is not None:
        shrink = opts.step
    else:
        below_targets, below_inputs = training_pairs(below_runs, scale, crfs)
        try:
            below = _normal(session, scale, margin, below_targets, below_inputs, opts).solve(shipped, opts.ridge)
        except InputError:  # frames too small to fit one scale further down: nothing shows the fit would carry
            return shipped, 0.0, 1.0, 1.0
        shrink = min(_SHRINK, key=lambda a: here.mse(shipped + a * (below - shipped)))
    fitted = shipped + shrink * (here.solve(shipped, opts.ridge) - shipped)
    return fitted, shrink, here.mse(fitted) / max(here.mse(shipped), 1e-12), here.growth(fitted, shipped)


def fit_to_pairs(model: ResolvedModel, targets: list[np.ndarray], inputs: dict[int, list[np.ndarray]],
                 opts: RefitOptions = RefitOptions()) -> tuple[np.ndarray, float]:
    """``model``'s last conv fitted to the given pairs, the whole least-squares step and no check,
    and how much its output range grew (both as :func:`write_fitted` takes them): ``inputs`` maps
    any key (a CRF) to RGB frames at ``1 / scale`` of ``targets``', pair by pair.
    :func:`refit_to_video` makes its own pairs from the video; this takes any (the benchmarks fit
    to the original frames, to see how far the last conv can reach)."""
    reason = unsupported(model)
    if reason:
        raise ModelError(f"cannot refit {model.name}: {reason}")
    luma = luma_variant_path(model.path, "fp32")
    assert luma is not None
    import onnxruntime as ort

    session = ort.InferenceSession(_features_graph(luma)[0], providers=["CPUExecutionProvider"])
    normal = _normal(session, model.spec.scale, max(1, model.spec.margin), targets, inputs, opts)
    shipped = _shipped(luma)
    fitted = normal.solve(shipped, opts.ridge)
    return fitted, normal.growth(fitted, shipped)


def write_fitted(model: ResolvedModel, fitted: np.ndarray, folder: Path, name: str, growth: float = 1.0) -> Path:
    """Copies of every graph of ``model`` with the last conv's weights and bias ``fitted`` (as
    :func:`fit_last_conv` returns them), named ``name`` and written into ``folder``; the copy's
    main graph. ``growth``: how much larger the conv's outputs can now be; an INT8 graph that
    quantises them widens its range by as much, so they are not clipped."""
    stem = model.path.name.removesuffix(".onnx")
    for source in _graphs(model):
        _write_conv(source, folder / source.name.replace(stem, name, 1), fitted, name, growth)
    return folder / f"{name}.onnx"


def _write_conv(source: Path, dest: Path, fitted: np.ndarray, name: str, growth: float = 1.0) -> None:
    """``source``'s graph with its last conv's weights and bias replaced by ``fitted`` and its spec
    renamed ``name``, written to ``dest``. A quantised weight (DequantizeLinear of int8 per output
    channel) is quantised again, symmetric, each real channel to its own largest magnitude. Where
    the conv's output is quantised (QuantizeLinear with a constant scale), a ``growth`` over 1
    widens that scale by as much (the zero point stays)."""
    onnx = _onnx()
    from onnx import numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    conv = _last_conv(graph)
    if conv is None:
        raise ModelError(f"{source} does not end in a conv, skip and pixel shuffle; --adapt fast cannot refit it")
    constants = _constants(graph)
    made_by = {out: node for node in graph.node for out in node.output}
    outputs = fitted.shape[1]
    weight = fitted[:-1].T.reshape(outputs, -1, 3, 3)

    def replace(name_: str, array: np.ndarray) -> None:
        constants[name_].CopyFrom(numpy_helper.from_array(array, name_))

    def quantised(value: str) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        """The DequantizeLinear making ``value`` from constants: the node, values, scales, zero points."""
        node = made_by.get(value)
        if (node is None or node.op_type != "DequantizeLinear" or len(node.input) < 3
                or not all(i in constants for i in node.input)):
            raise ModelError(f"{source}: the last conv's {value} is neither a constant nor a quantised constant")
        return node, *(numpy_helper.to_array(constants[i]) for i in node.input)

    bias = fitted[-1]
    if conv.input[1] in constants:
        old = numpy_helper.to_array(constants[conv.input[1]])
        new = old.copy()
        new[:outputs] = weight.astype(old.dtype)
        replace(conv.input[1], new)
        scales = None
    else:
        dequant, q, scales, zeros = quantised(conv.input[1])
        if q.dtype != np.int8 or scales.shape != (q.shape[0],) or np.any(zeros != 0):
            raise ModelError(f"{source}: the last conv's weights are not symmetric per-channel int8")
        peak = np.abs(weight).reshape(outputs, -1).max(1)
        scales = scales.copy()
        scales[:outputs] = np.where(peak > 0, peak / 127, 1.0).astype(scales.dtype)
        q = q.copy()
        q[:outputs] = np.clip(np.round(weight / scales[:outputs, None, None, None]), -127, 127).astype(np.int8)
        replace(dequant.input[0], q)
        replace(dequant.input[1], scales)
    if len(conv.input) < 3:
        raise ModelError(f"{source}: the last conv has no bias")
    if conv.input[2] in constants:
        old = numpy_helper.to_array(constants[conv.input[2]])
        new = old.copy()
        new[:outputs] = bias.astype(old.dtype)
        replace(conv.input[2], new)
    else:  # int32 at the input's scale times each channel's weight scale, as the quantiser writes it
        dequant, q, bias_scales, zeros = quantised(conv.input[2])
        act = made_by.get(conv.input[0])
        if (scales is None or q.dtype != np.int32 or np.any(zeros != 0) or act is None
                or act.op_type != "DequantizeLinear" or act.input[1] not in constants):
            raise ModelError(f"{source}: the last conv's bias is quantised in a way --adapt fast does not know")
        act_scale = float(numpy_helper.to_array(constants[act.input[1]]).reshape(()))
        bias_scales = bias_scales.copy()
        bias_scales[:outputs] = (act_scale * scales[:outputs]).astype(bias_scales.dtype)
        q = q.copy()
        q[:outputs] = np.round(bias / bias_scales[:outputs]).astype(np.int32)
        replace(dequant.input[0], q)
        replace(dequant.input[1], bias_scales)
    readers = [n for n in graph.node if conv.output[0] in n.input]
    if growth > 1 and len(readers) == 1 and readers[0].op_type == "QuantizeLinear":
        quant = readers[0]
        pair = [n for n in graph.node if n.op_type == "DequantizeLinear" and quant.output[0] in n.input]
        for scale_name in dict.fromkeys([quant.input[1], *(n.input[1] for n in pair)]):
            if scale_name not in constants:
                raise ModelError(f"{source}: the last conv's output is quantised at a scale --adapt fast cannot widen")
            replace(scale_name, numpy_helper.to_array(constants[scale_name]) * np.float32(growth))
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            spec = json.loads(prop.value)
            spec["name"] = name
            spec["metrics"] = {k: v for k, v in spec.get("metrics", {}).items() if k.endswith(_KEPT_METRICS)}
            prop.value = json.dumps(spec, sort_keys=True)
    onnx.save(model, str(dest))


def _graphs(model: ResolvedModel) -> list[Path]:
    """Every graph file of ``model``: fp32 and INT8, RGB and luma (those that exist)."""
    found = [variant_path(model.path, "fp32"), variant_path(model.path, "int8"),
             luma_variant_path(model.path, "fp32"), luma_variant_path(model.path, "int8")]
    return [p for p in found if p is not None]


def _key(video: Path, model: ResolvedModel, opts: RefitOptions) -> str:
    from srstream.engine.jobs import input_identity

    graphs = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _graphs(model)}
    text = json.dumps({"version": _VERSION, "kind": "refit", "input": input_identity(video), "graphs": graphs,
                       "options": dataclasses.asdict(opts)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def refit_to_video(video: Path, model: ResolvedModel, qp: float | None, opts: RefitOptions = RefitOptions(), *,
                   cache: Path | None = None, log: Callable[[str], None] = lambda _: None) -> Refitted:
    """``model`` with its last conv fitted to ``video`` (see the module docstring), as a model to
    open; ``model`` itself when none of the fit carries across a scale (``shrink`` 0).

    ``qp``: the input's mean H.264 quantiser (:func:`srstream.engine.compression.measure`), or
    None when unknown. ``cache``: where adapted models are kept (default: ``adapted`` in
    sr-stream's cache folder); one found there for the same input, graphs and options is reused.

    Raises:
        ModelError: the model is not one this can refit (:func:`unsupported`).
        InputError: the video has no frames, or frames too small.
        OutputError: the cache cannot be written (nothing is left there).
    """
    started = time.perf_counter()
    _onnx()  # before any work: the graphs are read and written with it
    reason = unsupported(model)
    if reason:
        raise ModelError(f"--adapt fast cannot refit {model.name}: {reason}; drop --adapt, or use --adapt STEPS "
                         "(fine-tunes the whole net with torch)")
    folder = (cache or cache_root() / "adapted") / _key(video, model, opts)
    name = f"{model.name}-fit"
    target = folder / f"{name}.onnx"
    record = folder / "refit.json"

    def kept() -> bool:  # a complete entry: the record, and the graphs unless the fit was not taken
        try:
            return record.is_file() and (target.is_file() or json.loads(record.read_text())["shrink"] == 0)
        except (OSError, ValueError, KeyError):
            return False

    if kept():
        done = json.loads(record.read_text())
        return Refitted(_fitted_copy(target, model) if done["shrink"] else model, True, tuple(done["crfs"]),
                        done["frames"], done["shrink"], done["loss_change"], 0.0)
    spec = model.spec
    runs = sample_runs(video, opts.runs, opts.run_frames, opts.max_pixels)
    crfs = pair_crfs(runs, spec.scale, qp, opts.under)
    luma = luma_variant_path(model.path, "fp32")
    assert luma is not None
    if opts.step is not None:
        fit, why = opts, "as asked"
    elif screen_variant(model.name):
        fit, why = dataclasses.replace(opts, step=SCREEN_STEP), "as for every screen recording"
    else:
        fit, why = opts, "what carried across a scale"
    fitted, shrink, change, growth = fit_last_conv(luma, spec.scale, max(1, spec.margin), runs, crfs, fit)
    frames = sum(map(len, runs))
    log(f"fitted {model.name}'s last conv to {video.name}: {frames} frames from {len(runs)} places, re-encoded "
        f"at CRF {'/'.join(map(str, crfs))}; step {shrink:g} of the fit ({why}), error on "
        f"them x{change:.3f}" + (f"; its outputs' range x{growth:.2f}" if shrink and growth > 1 else ""))
    with new_entry(folder, kept, ".refitting-") as work:
        if shrink:
            write_fitted(model, fitted, work, name, growth)
        seconds = time.perf_counter() - started
        (work / record.name).write_text(json.dumps({"source": str(video), "model": model.name, "crfs": list(crfs),
                                                    "frames": frames, "shrink": shrink, "loss_change": change,
                                                    "growth": round(growth, 4), "seconds": round(seconds, 1),
                                                    "options": dataclasses.asdict(opts)}, indent=1) + "\n")
    return Refitted(_fitted_copy(target, model) if shrink else model, False, crfs, frames, shrink, change, seconds)


def _fitted_copy(target: Path, model: ResolvedModel) -> ResolvedModel:
    """The copy at ``target``, with ``model``'s timings on this machine: the same graphs but for
    the last conv's constants run at the same speed (:func:`srstream.engine.autotune.inherit_speed`;
    ``auto`` still checks the copy's accuracy)."""
    from srstream.engine.autotune import inherit_speed

    copy = resolve_model(str(target))
    inherit_speed(copy, model)
    return copy
