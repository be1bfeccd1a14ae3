"""Native frame kernels vs their numpy references, and the whole per-frame overhead of the upscaler.

    python benchmarks/kernels_speed.py [--runs 20] [--json benchmarks/results/kernels/kernels_speed.json]

One variable per row: the implementation (``native``: ``srstream.engine._native``; ``numpy``: the
references in ``srstream.engine.kernels``), at 1080p and 4K output of a x2 model (inputs
960x540 and 1920x1080), with 1 and 2 threads (OpenMP threads for the kernels and OpenCV's
threads; numpy runs on one). Times are medians of ``--runs`` runs after one warm-up.

* ``pack``: uint8 RGB frame -> float32 NCHW (whole frame as one tile), RGB and luma;
* ``pack tiles``: the same frame cut into 256-pixel tiles (overlap 8) -> a (N, 3, 256, 256) batch;
* ``unpack``: float32 (3, H, W) planes -> uint8 (H, W, 3);
* ``pack yuv420 -> rgb`` / ``unpack rgb -> yuv420``: the same with the conversion to and from a
  decoded / encoder 4:2:0 frame folded in (BT.709, limited range), which replaces swscale;
* ``blend``: 256-pixel tile outputs -> the float32 frame;
* ``overhead``: ``FrameUpscaler.upscale`` around a backend that returns a ready output at once,
  i.e. everything a frame costs outside the network: for the luma model (the bundled default:
  pack luma, bicubic upscale of the frame, luma replacement) and for an RGB model;
* ``stabilise 4:2:0``: the temporal stabiliser's step on a video frame's luma
  (``TemporalStabilizer.steady_luma``: its optical flow, bicubic base and the warp-compare-blend
  kernel), frame after frame on a textured picture that pans by a fraction of a pixel;
* ``change cap 4:2:0``: ``ChangeCap.planes`` on the same frames' three planes; its ``numpy``
  column is the OpenCV passes the cap runs without the native clamp.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from srstream.engine import kernels as K
from srstream.engine.backends.base import Backend
from srstream.engine.upscaler import FrameUpscaler
from srstream.spec import ModelSpec
from srstream.sysinfo import cpu_info
from srstream.tiling import plan_tiles


class ReadyBackend(Backend):
    """Returns a precomputed output of the right shape: the network costs nothing."""

    name = "ready"

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec, "fp32")
        self._out: dict[tuple[int, ...], np.ndarray] = {}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        n, _, h, w = batch.shape
        s = self.spec.scale
        key = (n, h, w)
        if key not in self._out:
            self._out[key] = np.full((n, self.spec.out_channels, h * s, w * s), 0.5, np.float32)
        return self._out[key]


def timed(fn: Callable[[], object], runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def spec_for(color_space: str) -> ModelSpec:
    channels = 1 if color_space == "y" else 3
    return ModelSpec(name=f"bench-{color_space}", arch="compact", scale=2, in_channels=channels,
                     out_channels=channels, color_space=color_space, arch_params={"features": 32}, margin=8,
                     tile=256, tile_overlap=8)


def measure(width: int, height: int, threads: int, runs: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    planes = rng.uniform(-0.05, 1.05, (3, 2 * height, 2 * width)).astype(np.float32)
    plan = plan_tiles(height, width, tile=256, overlap=8, scale=2, margin=8)
    tile_out = rng.uniform(0, 1, (len(plan), 3, 512, 512)).astype(np.float32)
    origins = np.array(plan.tiles, np.int32)
    rows: dict[str, dict[str, float]] = {}

    def both(label: str, native: Callable[[], object], reference: Callable[[], object]) -> None:
        rows[label] = {"native_ms": timed(native, runs), "numpy_ms": timed(reference, max(3, runs // 4))}

    whole = np.zeros((1, 2), np.int32)
    both("pack rgb", lambda: K.pack_tiles(frame, whole, height, width, K.PackMode.RGB),
         lambda: K.pack_tiles_reference(frame, whole, height, width, K.PackMode.RGB))
    both("pack luma", lambda: K.pack_tiles(frame, whole, height, width, K.PackMode.LUMA),
         lambda: K.pack_tiles_reference(frame, whole, height, width, K.PackMode.LUMA))
    both("pack tiles rgb", lambda: K.pack_tiles(frame, origins, 256, 256, K.PackMode.RGB),
         lambda: K.pack_tiles_reference(frame, origins, 256, 256, K.PackMode.RGB))
    both("unpack rgb", lambda: K.unpack(planes), lambda: K.unpack_reference(planes))
    y = rng.integers(16, 236, (height, width), dtype=np.uint8)
    u, v = (rng.integers(16, 241, ((height + 1) // 2, (width + 1) // 2), dtype=np.uint8) for _ in range(2))
    both("pack yuv420 -> rgb", lambda: K.pack_tiles_yuv420(y, u, v, K.BT709, whole, height, width),
         lambda: K.pack_tiles_yuv420_reference(y, u, v, K.BT709, whole, height, width))
    both("unpack rgb -> yuv420", lambda: K.unpack_yuv420(planes, K.BT709),
         lambda: K.unpack_yuv420_reference(planes, K.BT709))
    both("blend", lambda: K.blend_tiles(tile_out, plan), lambda: _blend_reference(tile_out, plan))
    for color_space in ("y", "rgb"):
        spec = spec_for(color_space)
        up = FrameUpscaler(ReadyBackend(spec), spec, tile=0)
        native = timed(lambda: up.upscale(frame), runs)
        saved, K._native = K._native, None
        try:
            reference = timed(lambda: up.upscale(frame), max(3, runs // 4))
        finally:
            K._native = saved
        rows[f"overhead {color_space} model"] = {"native_ms": native, "numpy_ms": reference}
    rows.update(_temporal_rows(width, height, runs))
    for row in rows.values():
        row["speedup"] = row["numpy_ms"] / row["native_ms"]
        for key in ("native_ms", "numpy_ms", "speedup"):
            row[key] = round(row[key], 3 if key != "speedup" else 1)
    return rows


def _temporal_rows(width: int, height: int, runs: int) -> dict[str, dict[str, float]]:
    """The stabiliser's step and the change cap on x2 4:2:0 frames of a picture panning 0.4
    pixels a frame, each timed over a run of consecutive frames (their state carried)."""
    from srstream.engine.changecap import ChangeCap
    from srstream.engine.stabilize import TemporalStabilizer

    rng = np.random.default_rng(1)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (height + 8, width + 40), np.uint8), (0, 0), 1.5)
    frames = []
    for k in range(8):
        shift = np.float32([[1, 0, -0.4 * k], [0, 1, -0.2 * k]])
        y = cv2.warpAffine(texture, shift, (width, height), flags=cv2.INTER_LINEAR)
        u = v = cv2.resize(y, ((width + 1) // 2, (height + 1) // 2), interpolation=cv2.INTER_AREA)  # grey chroma
        out_y = cv2.resize(y, (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC)
        out_uv = cv2.resize(u, (width, height)).reshape(-1, 2 * width)
        out = np.vstack([out_y, out_uv, out_uv])
        out[:2 * height] = np.clip(out[:2 * height].astype(np.int16) + rng.integers(-3, 4, out_y.shape), 16, 235)
        frames.append((y, u, v, out))

    def stabilise() -> None:
        stabilizer = TemporalStabilizer(2, 0.5, 12.0, base=True)
        for y, _, _, out in frames:
            stabilizer.steady_luma(y, out[:2 * height].copy())

    def cap() -> None:
        capper = ChangeCap(2)
        for y, u, v, out in frames:
            capper.planes(y, u, v, out.copy())

    per_frame = len(frames)
    saved = K._native
    rows = {"stabilise 4:2:0": {"native_ms": timed(stabilise, max(3, runs // 4)) / per_frame}}
    K._native = None
    try:
        rows["stabilise 4:2:0"]["numpy_ms"] = timed(stabilise, 2) / per_frame
    finally:
        K._native = saved
    native_cap = K.has_native
    rows["change cap 4:2:0"] = {"native_ms": timed(cap, max(3, runs // 4)) / per_frame}
    K.has_native = lambda: False
    try:
        rows["change cap 4:2:0"]["numpy_ms"] = timed(cap, max(3, runs // 4)) / per_frame
    finally:
        K.has_native = native_cap
    return rows


def _blend_reference(tiles: np.ndarray, plan) -> np.ndarray:  # noqa: ANN001
    from srstream.tiling import blend_tiles

    return blend_tiles(tiles, plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if K._native is None:
        raise SystemExit("the native kernels are not built; reinstall sr-stream with a C++ compiler present")
    results = {"machine": {"cpu": str(cpu_info()), "python": platform.python_version(), "numpy": np.__version__,
                           "opencv": cv2.__version__, "kernels": K.active()}, "runs": {}}
    for threads in (1, 2):
        K._native.set_threads(threads)
        cv2.setNumThreads(threads)
        for (w, h), label in (((960, 540), "1080p output"), ((1920, 1080), "4K output")):
            rows = measure(w, h, threads, args.runs)
            results["runs"][f"{label}, {threads} thread(s)"] = rows
            print(f"\n{label} (input {w}x{h}), {threads} thread(s)")
            for name, row in rows.items():
                print(f"  {name:22s} native {row['native_ms']:8.2f} ms   numpy {row['numpy_ms']:8.2f} ms   "
                      f"{row['speedup']:6.1f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
