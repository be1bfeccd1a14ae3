"""A super-resolution ONNX graph from elsewhere, its spec measured by running it.

sr-stream's own graphs carry their :class:`~srstream.spec.ModelSpec` in their metadata. A graph
exported by another project (a Real-ESRGAN or SwinIR export, a model zoo's download, what vs-mlrt
users keep) carries none, and ``--model it.onnx`` was refused. What the engine needs from a spec
can be found by running the graph on a few small pictures on the CPU (ONNX Runtime), about a
second for the usual nets:

- its tensors: one input of shape ``(N, 3, H, W)`` (or ``(N, 1, H, W)``: a net on the luma, which
  the engine runs as its own luma models, carrying the colour), float or half, with ``H`` and ``W``
  left free or fixed to one square size (a TensorRT-minded export: the engine then cuts every frame
  into tiles of that size, padding a smaller one), and its first output;
- the sizes it takes: odd ones, or only multiples of 2, 4, ... 64 (window attention wants 8 or
  16), the smallest that runs (:func:`_size_multiple`);
- its scale, from the output's size;
- its value range: ``[0, 1]``, ``[0, 255]`` or ``[-1, 1]``, whichever gives back the picture it was
  given, shrunk (a super-resolution net's output, averaged down, is close to its input);
- its margin: how far a change of one input pixel reaches in the output, which sets how much the
  engine's tiles overlap for the tiled frame to equal the whole one; where the change reaches the
  probe's edges (a deep net's receptive field spans hundreds of pixels), how far it moves the output
  by more than half an 8-bit level, so that tiles blend to within that of the whole frame. A change
  that moves the probe's edges that much (global attention, a whole-image statistic) means no tile
  size is close: such a graph runs on whole frames.

It runs in fp32 (its own graph) and, where the CPU has them, the precisions the backends derive
from it (OpenVINO bf16); no INT8 graph comes with it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from srstream.errors import ModelError
from srstream.spec import ModelSpec

__all__ = ["PROBE", "foreign_spec"]

#: The side of the picture the margin is probed on (input pixels). A change reaching its edges
#: means a receptive field wider than half of it, taken as global.
PROBE = 96
#: Value ranges tried, in this order: (input low, input high), the output read in the same range.
_RANGES = ((0.0, 1.0), (0.0, 255.0), (-1.0, 1.0))
#: How close (mean absolute difference, as a share of the range) the output shrunk back to the
#: input's size must come to the input for a range to be the graph's.
_RANGE_TOLERANCE = 0.06
#: An output sample moved by more than this share of the range counts as reached by the change.
_REACHED = 1e-4
#: ... and where that reaches the probe's edges (a deep net's receptive field is hundreds of pixels,
#: though what reaches far is tiny), by more than this: half of one 8-bit level. Tiles that overlap
#: that far blend to within it of the whole frame.
_VISIBLE = 0.5 / 255


def _picture(size: tuple[int, int], seed: int = 0, channels: int = 3) -> np.ndarray:
    """A smooth natural-ish test picture in [0, 1], ``(1, channels, H, W)`` float32: gradients and
    blurred noise, which every super-resolution net gives back close to itself, one scale up (one
    channel: its luma)."""
    import cv2

    h, w = size
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), (xx + yy) / max(h + w - 2, 1)], axis=-1)
    picture = np.clip(0.05 + 0.9 * (0.3 * noise + 0.7 * ramp), 0.0, 1.0)
    if channels == 1:
        picture = picture @ np.array([[0.299], [0.587], [0.114]], np.float32)
    return np.ascontiguousarray(picture.transpose(2, 0, 1)[None])


def _run(session: Any, name: str, batch: np.ndarray, dtype: np.dtype) -> np.ndarray | None:
    try:
        return np.asarray(session.run(None, {name: batch.astype(dtype)})[0], np.float32)
    except Exception:  # noqa: BLE001 - ORT's own exception types: the graph refused that shape
        return None


def _size_multiple(session: Any, name: str, dtype: np.dtype, channels: int, where: str) -> int:
    """The smallest of 1, 2, 4, ... 64 whose multiples the graph takes as its height and width."""
    for multiple in (1, 2, 4, 8, 16, 32, 64):
        side = multiple * math.ceil(37 / multiple) if multiple > 1 else 37
        if _run(session, name, _picture((side, side + multiple), channels=channels), dtype) is not None:
            return multiple
    raise ModelError(f"{where} runs on none of the sizes tried (37x38 to 64x128 pixels); --model takes a "
                     "super-resolution graph of shape (N, 3, H, W) or (N, 1, H, W) with H and W free")


def _value_range(session: Any, name: str, dtype: np.dtype, picture: np.ndarray, scale: int,
                 where: str) -> tuple[float, float]:
    import cv2

    errors = {}
    for low, high in _RANGES:
        out = _run(session, name, picture * (high - low) + low, dtype)
        if out is None:
            continue
        back = (out[0].transpose(1, 2, 0) - low) / (high - low)
        shrunk = cv2.resize(back, (picture.shape[3], picture.shape[2]), interpolation=cv2.INTER_AREA)
        shrunk = shrunk.reshape(picture.shape[2], picture.shape[3], -1)  # one channel: OpenCV drops its axis
        errors[low, high] = float(np.abs(shrunk - picture[0].transpose(1, 2, 0)).mean())
    for value_range, error in errors.items():  # the usual one first: a graph linear in its input fits all
        if error < _RANGE_TOLERANCE:
            return value_range
    raise ModelError(f"{where}: its output, shrunk x{scale}, is not the picture it was given in any of the value "
                     "ranges tried ([0, 1], [0, 255], [-1, 1]); is it a super-resolution model?")


def _margin(session: Any, name: str, dtype: np.dtype, multiple: int, scale: int, value_range: tuple[float, float],
            channels: int, fixed: int = 0) -> int | None:
    """How far (input pixels) a change of the centre pixels reaches in the output; None where it
    reaches the probe's edges (no tile size is exact). ``fixed``: the graph's one picture size, the
    probe's (no tile of another size can be checked against it)."""
    side = fixed or multiple * math.ceil(PROBE / multiple)
    low, high = value_range
    base = _picture((side, side), seed=1, channels=channels)
    changed = base.copy()
    centre = side // 2
    block = changed[:, :, centre - 1:centre + 1, centre - 1:centre + 1]  # 2x2 pixels moved by a quarter of the range
    block += np.where(block < 0.5, 0.25, -0.25).astype(np.float32)
    first = _run(session, name, base * (high - low) + low, dtype)
    second = _run(session, name, changed * (high - low) + low, dtype)
    if first is None or second is None:
        return None
    moved = (np.abs(second - first) / (high - low)).max(axis=(0, 1))
    for threshold in (_REACHED, _VISIBLE):
        reached = np.argwhere(moved > threshold)
        if reached.size == 0:
            margin = 1
            break
        lowest, highest = reached.min(axis=0), reached.max(axis=0)
        if lowest.min() > 0 and highest.max() < side * scale - 1:
            first_row, last_row = (centre - 1) * scale, (centre + 1) * scale - 1  # the changed pixels, one scale up
            reach = max(first_row - lowest.min(), highest.max() - last_row)
            margin = int(math.ceil(max(reach, 0) / scale)) + 1
            break
    else:
        return None
    # What one pixel's change reaches is not all: many far pixels together (a statistic of the whole
    # picture) move a tile's output though each moves it by nothing. So the picture's top left corner
    # is run as a tile of that margin beyond 16 pixels, and those 16 compared with the whole picture's
    # (twice the margin, ... while it fits).
    if fixed:
        return margin
    inner = multiple * math.ceil(16 / multiple)
    while margin < side - inner:
        size = inner + multiple * math.ceil(margin / multiple)
        out = _run(session, name, base[:, :, :size, :size] * (high - low) + low, dtype)
        if out is not None:
            part, whole = out[:, :, :inner * scale, :inner * scale], first[:, :, :inner * scale, :inner * scale]
            if float(np.abs(part - whole).max()) / (high - low) <= _VISIBLE:
                return margin
        margin *= 2
    return None


def foreign_spec(path: Path, session: Any) -> ModelSpec:
    """The spec of the ONNX graph at ``path`` (``session``: it, opened in ONNX Runtime on the CPU),
    measured by running it (see the module docstring).

    Raises:
        ModelError: not a graph the engine can run as a super-resolution model, and why.
    """
    where = f"{path} (an ONNX graph without an sr-stream spec)"
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ModelError(f"{where} takes {len(inputs)} inputs of shapes {[i.shape for i in inputs]}; --model takes one "
                         "picture of shape (N, 3, H, W) or (N, 1, H, W)")
    tensor = inputs[0]
    _, channels, height, width = tensor.shape
    if channels not in (1, 3) and not (channels is None or isinstance(channels, str)):
        raise ModelError(f"{where} takes {channels} channels; --model takes graphs of RGB (N, 3, H, W) or luma "
                         "(N, 1, H, W) pictures")
    channels = channels if channels in (1, 3) else 3
    fixed = 0  # the one picture size of a graph exported for it (a TensorRT-minded export): tiles of that size
    if isinstance(height, int) or isinstance(width, int):
        if height != width or not isinstance(height, int) or height < 16:
            raise ModelError(f"{where} was exported for {height}x{width} pictures only; sr-stream tiles frames in "
                             "squares: export it for a square size of 16 or more, or with height and width free "
                             "(dynamic axes)")
        fixed = height
    if tensor.type not in ("tensor(float)", "tensor(float16)"):
        raise ModelError(f"{where} takes {tensor.type}; --model takes float or half pictures")
    dtype = np.dtype(np.float16 if tensor.type == "tensor(float16)" else np.float32)
    multiple = 1 if fixed else _size_multiple(session, tensor.name, dtype, channels, where)
    side = multiple * math.ceil(40 / multiple)
    picture = _picture((fixed, fixed) if fixed else (side, side + multiple), channels=channels)
    out = _run(session, tensor.name, picture, dtype)
    if out is None or out.ndim != 4 or out.shape[1] != channels:
        raise ModelError(f"{where} gives {None if out is None else out.shape} for a {picture.shape} picture; --model "
                         f"takes graphs whose output is a (N, {channels}, H * scale, W * scale) picture")
    scale = out.shape[2] / picture.shape[2]
    if scale != out.shape[3] / picture.shape[3] or scale != int(scale) or not 1 <= scale <= 8:
        raise ModelError(f"{where} turns {picture.shape[2]}x{picture.shape[3]} into {out.shape[2]}x{out.shape[3]}: "
                         "not one whole scale from 1 to 8")
    scale = int(scale)
    value_range = _value_range(session, tensor.name, dtype, picture, scale, where)
    margin = _margin(session, tensor.name, dtype, multiple, scale, value_range, channels, fixed)
    tile, overlap = 0, 0  # whole frames where no tile size is exact
    if fixed:  # tiles of its size, overlapping by the margin measured, or a quarter of it where that is wider
        margin = min(fixed // 4 if margin is None else margin, fixed // 2 - 1)
        tile, overlap = fixed, max(margin, min(4, fixed // 2 - 1))
    elif margin is not None:
        overlap = multiple * math.ceil(max(margin, 4) / multiple)
        tile = max(256, 4 * overlap)
        tile = multiple * math.ceil(tile / multiple)
    reach = "reaches the whole picture (whole frames, no tiles)" if margin is None else f"margin {margin}"
    if fixed:
        reach += f", {fixed}x{fixed} tiles only"
    luma = channels == 1  # a net on the luma (Y) alone: the engine carries the colour around it
    return ModelSpec(name=path.stem, arch="foreign", scale=scale, margin=margin or 0, value_range=value_range,
                     in_channels=channels, out_channels=channels, color_space="y" if luma else "rgb",
                     size_multiple=multiple, tile=tile, tile_overlap=overlap, precisions=("fp32",),
                     arch_params={"input_size": fixed} if fixed else {},
                     input_name=tensor.name, output_name=outputs[0].name,
                     source=f"{path.name}: ONNX graph from elsewhere, spec measured by sr-stream (x{scale}"
                            f"{', luma' if luma else ''}, values "
                            f"{value_range[0]:g} to {value_range[1]:g}, sizes a multiple of {multiple}, {reach})")
