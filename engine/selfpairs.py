"""Pairs made from one video alone, for fitting a model to it: each sampled frame, as decoded, is a
target; its own MATLAB-bicubic downscale, encoded as one H.264 stream, is the input.

No original frame is needed, so a user's run can make them (:mod:`srstream.engine.refit`, and
``--adapt`` through :mod:`srstream.trainer.adapt`). The H.264 round trip is also what the
trainer's ``video`` degradation runs (:mod:`srstream.trainer.degrade`); it lives here, beside the
engine's other readers of quantisers (:mod:`srstream.engine.compression`), because the engine
uses it without the training stack. Torch-free: PyAV (libx264, FFmpeg's H.264 decoder) and numpy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from srstream.engine import encode
from srstream.engine.av_errors import side_data
from srstream.engine.compression import frame_qp
from srstream.engine.media import video_rate
from srstream.engine.sequence import open_input
from srstream.errors import InputError
from srstream.imresize import bicubic_degrade

__all__ = ["FALLBACK_CRF", "QP_OVER_CRF", "h264_clip", "h264_decoder", "mean_qp", "pair_crfs", "sample_runs",
           "training_pairs"]

#: libx264 on a 960x540 stream lands about this far above its CRF (engine.compression).
QP_OVER_CRF = 4.5
#: When the input's quantiser cannot be read (another codec), the CRF pairs are matched to: what
#: downloaded and streamed video typically uses.
FALLBACK_CRF = 23


def h264_decoder(measure: bool):  # noqa: ANN201 - an av CodecContext
    """An H.264 decoder; ``measure``: it exports every frame's block quantisers (see
    :mod:`srstream.engine.compression`, which reads streams the same way at run time)."""
    import av

    decoder = av.CodecContext.create("h264", "r")
    if measure:
        decoder.options = {"export_side_data": "venc_params"}
    return decoder


def mean_qp(frames: Sequence) -> float | None:  # noqa: ANN001 - av VideoFrames
    """The mean block quantiser over ``frames`` (decoded with :func:`h264_decoder` ``(True)``)."""
    qps = [frame_qp(d) for f in frames for d in side_data(f) if d.type.name == "VIDEO_ENC_PARAMS"]
    return float(np.mean(qps)) if qps else None


def h264_clip(frames: Sequence[np.ndarray], crf: int, qps: list[float] | None = None, *,
              preset: str = "medium", x264_params: str = "") -> list[np.ndarray]:
    """``frames`` (uint8 ``(H, W, C)``, one size) encoded as one H.264 sequence (libx264 at
    ``preset`` with ``x264_params``, "" for x264's own defaults) and decoded, in display order:
    the first is an intra frame, the later ones P and B frames predicted from their neighbours,
    with the blocking, ringing and drift that real streams show and one intra frame does not.
    ``qps``: where the mean quantiser over the clip's frames is appended."""
    import av

    h, w = frames[0].shape[:2]
    gray = frames[0].ndim == 2 or frames[0].shape[2] == 1
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = w + w % 2, h + h % 2, "yuv420p"  # yuv420p needs even sizes
    codec.time_base = Fraction(1, 30)
    codec.options = {"crf": str(int(np.clip(crf, 0, 51))), "preset": preset, "threads": "1"}
    if params := encode.x264_params(x264_params):  # the same bits every time, on every CPU
        codec.options = {**codec.options, "x264-params": params}
    packets = []
    for t, image in enumerate(frames):
        rgb = np.repeat(image.reshape(h, w, 1), 3, axis=2) if gray else image
        frame = av.VideoFrame.from_ndarray(np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"), format="rgb24")
        frame.pts = t
        packets += codec.encode(frame)
    packets += codec.encode(None)
    decoder = h264_decoder(qps is not None)
    decoded = sorted((f for p in [*packets, None] for f in decoder.decode(p)), key=lambda f: f.pts)
    if len(decoded) != len(frames):
        raise RuntimeError(f"H.264 round trip of a clip gave {len(decoded)} frames for {len(frames)}")
    if qps is not None and (qp := mean_qp(decoded)) is not None:
        qps.append(qp)
    outs = [f.to_ndarray(format="rgb24")[:h, :w] for f in decoded]
    return [o[..., :1].reshape(frames[0].shape) if gray else o for o in outs]


def sample_runs(path: Path, runs: int, run_frames: int, max_pixels: int) -> list[list[np.ndarray]]:
    """Up to ``runs`` lists of ``run_frames`` consecutive decoded RGB frames, spread evenly over
    the first video stream of ``path`` (a short video gives fewer, or shorter, runs). Memory stays
    bounded whatever the video's length: a long one is sought into, and one whose length the
    container does not say is read through, holding at most ``2 * runs`` runs at a time.

    Raises:
        InputError: no video stream, or no frame decodes.
    """
    from srstream.engine.av_errors import reading
    from srstream.engine.media import main_video, stream_seconds

    with reading(str(path)), open_input(path) as container:
        stream = main_video(container)
        if stream is None:
            raise InputError(f"{path} has no video stream to adapt to")
        width, height = stream.codec_context.width, stream.codec_context.height
        per_run = max(1, min(run_frames, max_pixels // max(1, runs * width * height)))
        seconds = stream_seconds(container, stream)
        rate = float(video_rate(stream) or 0)
        frames = stream.frames or int(seconds * rate)
        if frames > 2 * runs * per_run and seconds and stream.time_base:
            out = [_run_at(container, stream, seconds * (i + 0.5) / runs, per_run) for i in range(runs)]
        else:
            out = _runs_read_through(container.decode(stream), runs, per_run)
    out = [run for run in out if run]
    if not out:
        raise InputError(f"{path}: no video frame decodes, so there is nothing to adapt to")
    return out


def _run_at(container, stream, second: float, count: int) -> list[np.ndarray]:  # noqa: ANN001 - PyAV objects
    """``count`` frames from ``second`` into ``stream`` on: seek to the keyframe before, decode on."""
    target = (stream.start_time or 0) + int(second / stream.time_base)
    container.seek(target, stream=stream)
    run: list[np.ndarray] = []
    for frame in container.decode(stream):
        if frame.pts is not None and frame.pts < target:
            continue
        run.append(frame.to_ndarray(format="rgb24"))
        if len(run) == count:
            break
    return run


def _runs_read_through(frames, runs: int, per_run: int) -> list[list[np.ndarray]]:  # noqa: ANN001 - PyAV frames
    """``runs`` evenly spaced runs of ``per_run`` frames out of ``frames``, read once: runs start
    every ``stride`` frames, and when more than ``2 * runs`` are held, every other one goes and the
    stride doubles, so those held stay spread over all that was read."""
    held: list[list[np.ndarray]] = []
    stride = per_run
    for i, frame in enumerate(frames):
        if i % stride >= per_run:
            continue
        if i % stride == 0:
            if len(held) == 2 * runs:
                held, stride = held[::2], stride * 2
                if i % stride:
                    continue
            held.append([])
        held[-1].append(frame.to_ndarray(format="rgb24"))
    full = [run for run in held if len(run) == per_run] or held[:1]
    if len(full) <= runs:
        return full
    return [full[int(len(full) * (k + 0.5) / runs)] for k in range(runs)]


def _cropped(frames: list[np.ndarray], scale: int) -> list[np.ndarray]:
    return [f[: f.shape[0] - f.shape[0] % scale, : f.shape[1] - f.shape[1] % scale] for f in frames]


def training_pairs(runs: list[list[np.ndarray]], scale: int, crfs: tuple[int, ...],
                   downscaled: list[list[np.ndarray]] | None = None
                   ) -> tuple[list[np.ndarray], dict[int, list[np.ndarray]]]:
    """Targets (the decoded frames, cropped to a multiple of ``scale``) and, per CRF, their
    inputs: each run downscaled and encoded as one H.264 stream (libx264 medium).
    ``downscaled``: the runs' :func:`bicubic_degrade` where the caller has made it already.

    The streams are encoded on as many threads as the process may use cores (PyAV lets go of
    the GIL while libx264 works, and each stream runs x264 on one thread)."""
    hrs = [_cropped(run, scale) for run in runs]
    lows = downscaled if downscaled is not None else [[bicubic_degrade(f, scale) for f in hr] for hr in hrs]
    jobs = [(i, crf) for i in range(len(hrs)) for crf in crfs]
    pool = ThreadPoolExecutor(max(1, min(len(jobs), len(os.sched_getaffinity(0)))))
    try:
        clips = dict(zip(jobs, pool.map(lambda job: h264_clip(lows[job[0]], job[1]), jobs)))
    finally:  # on Ctrl-C or a failed stream, the streams not yet started are dropped, not encoded first
        pool.shutdown(wait=True, cancel_futures=True)
    targets = [f for hr in hrs for f in hr]
    return targets, {crf: [f for i in range(len(hrs)) for f in clips[i, crf]] for crf in crfs}


def pair_crfs(runs: list[list[np.ndarray]], scale: int, qp: float | None, under: Sequence[int]) -> tuple[int, ...]:
    """The CRFs ``under`` (each >= 0) below the one whose re-encoded stream lands at the input's
    quantiser ``qp`` (libx264's offset measured on the first run; :data:`FALLBACK_CRF` when
    ``qp`` is None), sorted, within 0-51."""
    if qp is None:
        middle = FALLBACK_CRF
    else:
        guess = int(round(qp - QP_OVER_CRF))
        qps: list[float] = []
        h264_clip([bicubic_degrade(f, scale) for f in _cropped(runs[0], scale)], guess, qps)
        middle = guess + int(round(qp - qps[0])) if qps else guess
    return tuple(sorted({int(np.clip(middle - d, 0, 51)) for d in under}))
