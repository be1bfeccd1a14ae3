"""``sr-stream bench speed``: latency and throughput of one method at one input size, on this machine.

Per-frame mode times the whole call a user pays for: uint8 RGB frame in, uint8 RGB frame out
(for sr-stream models: pack, inference, blend and unpack; for OpenCV peers ``upsample``).
Warm-up runs first; then at least ``runs`` timed calls (and at least three) within
``max_seconds``. End-to-end mode upscales a real clip with the file pipeline (decode thread,
upscale, encode thread) and reports frames per second of the whole job.

Results carry the machine (CPU model, cores, ISA features, GPUs, library versions), so a file
read later says where its numbers were measured. Nothing here asserts on time.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from srstream.bench.methods import Method

if TYPE_CHECKING:
    from srstream.engine.encode import EncodeOptions

__all__ = ["SpeedSettings", "end_to_end", "limit_threads", "peak_rss_mib", "per_frame", "reset_peak_rss",
           "sample_frame"]


@dataclass(frozen=True)
class SpeedSettings:
    warmup: int = 5
    runs: int = 50
    max_seconds: float = 20.0


def limit_threads(threads: int) -> int:
    """Restrict this process to its first ``threads`` usable cores (0: keep all) so that every
    runtime (ONNX Runtime, OpenCV, BLAS, torch), which sizes its pool from the affinity mask,
    uses that many. Returns the number of usable cores afterwards."""
    cores = sorted(os.sched_getaffinity(0))
    if 0 < threads < len(cores):
        import cv2  # OpenCV's pool is sized once at import; tell it too

        os.sched_setaffinity(0, cores[:threads])
        cv2.setNumThreads(threads)
    return len(os.sched_getaffinity(0))


def reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark of this process (Linux); False elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float | None:
    """Peak resident memory of this process since the last :func:`reset_peak_rss`, in MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def sample_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic uint8 RGB frame with edges, gradients and texture (timings of these
    networks do not depend on content; the frame only has to be a plausible image)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    base = np.stack([xx / max(width, 1) * 200, yy / max(height, 1) * 200,
                     128 + 60 * np.sin(xx / 7.0) * np.cos(yy / 11.0)], -1)
    base[(xx // 32 + yy // 32) % 2 == 0] += 40
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "mean": round(float(a.mean()), 3),
            "min": round(float(a.min()), 3), "max": round(float(a.max()), 3)}


def per_frame(method: Method, width: int, height: int, settings: SpeedSettings = SpeedSettings()) -> dict[str, object]:
    """Latency of ``method`` on one ``width x height`` frame, repeated.

    Returns the JSON fields ``fps`` (1000 / median latency), ``latency_ms`` (p50/p95/p99/mean/
    min/max), ``output_mpix_per_s``, ``runs``, ``warmup`` and ``seconds``.
    """
    frame = sample_frame(width, height)
    for _ in range(settings.warmup):
        method(frame)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max(3, settings.runs):
        t0 = time.perf_counter()
        out = method(frame)
        times.append((time.perf_counter() - t0) * 1000.0)
        if len(times) >= 3 and time.perf_counter() - start >= settings.max_seconds:
            break
    lat = _percentiles(times)
    out_pixels = out.shape[0] * out.shape[1]
    return {"fps": round(1000.0 / lat["p50"], 2), "latency_ms": lat,
            "output_mpix_per_s": round(out_pixels / 1e6 * 1000.0 / lat["p50"], 2),
            "output": f"{out.shape[1]}x{out.shape[0]}", "runs": len(times), "warmup": settings.warmup,
            "seconds": round(time.perf_counter() - start, 2)}


def end_to_end(method: Method, clip: Path, encode: EncodeOptions | None = None) -> dict[str, object]:
    """Decode + upscale + encode ``clip`` with the file pipeline into a temporary file (deleted),
    with ``encode`` (default: sr-stream's own defaults).

    Raises:
        ConfigError: ``method`` is not run by the engine (interpolation or OpenCV peers).
        InputError, OutputError: as :func:`srstream.engine.video.upscale_video`.
    """
    from srstream.engine.video import EncodeOptions, upscale_video
    from srstream.errors import ConfigError

    upscaler = method.upscaler
    if upscaler is None:
        raise ConfigError(f"end-to-end mode runs sr-stream's file pipeline; {method.info.name} is not an "
                          "sr-stream or imported model")
    default = EncodeOptions()
    encode = encode or default
    with tempfile.TemporaryDirectory(prefix="sr-stream-bench-") as tmp:
        out = Path(tmp) / f"{clip.stem}_x{method.info.scale}.mp4"
        report = upscale_video(clip, out, upscaler, encode)
    lat = _percentiles(report.upscale_ms or [0.0])
    fps = report.frames_out / report.seconds if report.seconds else 0.0
    return {"clip": str(clip), "frames_in": report.frames_in, "frames_out": report.frames_out,
            "seconds": round(report.seconds, 2), "fps": round(fps, 2), "latency_ms": lat,
            "encoder": f"{encode.codec} preset {encode.preset} crf {encode.crf}"
                       + (" (sr-stream's default)" if encode == default else ""),
            "copied_streams": report.copied_streams}
