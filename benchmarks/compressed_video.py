"""Upscaling compressed video, scored: real frames, downscaled, encoded with H.264, upscaled back.

    python benchmarks/compressed_video.py --data ../shared/data --scale 2 --crf 23 --crf 30 \
        -m bicubic -m realtime-x2 -m realtime-x2-compressed --out benchmarks/results/bench/compressed_x2

Set5/Set14/BSD100 feed every model a clean bicubic LR image; users feed it streamed video, whose
LR frames carry the encoder's blocking and ringing. There is no ground truth for a 360p clip, so
this makes one: the first ``--seconds`` of each higher-resolution clip (the 1080p Big Buck Bunny,
the 720p game and desktop captures) are downscaled by ``--scale`` with the benchmark's
MATLAB-compatible bicubic, encoded as one H.264 stream at each ``--crf`` (libx264 ``medium``,
yuv420p, the encoder's own GOP, so P/B frames are in it as in a real file), decoded, and upscaled
by each method (``--codec libx265`` or ``libsvtav1``: the stream coded with HEVC or AV1 instead,
its quantiser read as ``sr-stream`` reads it, for ``auto``). The first ``--frames`` consecutive
frames are scored against the original frames on BT.601 Y (``scale`` border pixels cropped, as
the benchmark protocol), and so is how they change from frame to frame: the **temporal error**
of :mod:`srstream.bench.temporal` (the RMS of the output's motion-compensated change minus the
original's, along DIS optical flow of the original frames; flicker raises it, 0 is the truth's
own motion). ``clean`` is the same frames
without the encoder (the protocol's own LR).

A method named ``NAME+stabilized`` is NAME with the engine's temporal stabiliser (``sr-stream
--stabilize``, :mod:`srstream.engine.stabilize`), restarted for every clip and condition;
``NAME+capped`` is NAME with the change cap (``--change-cap``, :mod:`srstream.engine.changecap`).
``auto`` is what ``sr-stream VIDEO`` runs by default: the change cap, and on a stream compressed
hard enough to take the compressed variant, the stabiliser at ``COMPRESSED_TOLERANCE`` before it
(``--stabilize auto``).

Writes ``OUT.json`` (every score) and ``OUT.md`` (the table), and with ``--grid`` a PNG of the same
crop through every method at the highest CRF.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from srstream import __version__
from srstream.atomic import write_atomic
from srstream.bench.grid import detailed_crop, join, label
from srstream.bench.methods import open_method
from srstream.bench.results import machine, write_json
from srstream.bench.temporal import hr_flows, temporal_error
from srstream.engine.av_errors import side_data
from srstream.engine.compression import frame_qp
from srstream.engine.changecap import DEFAULT_GAIN, ChangeCap
from srstream.engine.encode import x264_params
from srstream.engine.stabilize import DEFAULT_STRENGTH, TemporalStabilizer
from srstream.engine.stabilize import setting as stabilize_setting
from srstream.engine.stabilize import still_setting
from srstream.engine.stills import write_still
from srstream.imresize import bicubic_degrade
from srstream.metrics import psnr_y, ssim_y

CLIPS = ("bbb_1080p30_5s.mp4", "game_voxel_720p30.mp4", "screen_desktop_720p60.mp4")


def read_frames(path: Path, seconds: float, multiple: int) -> list[np.ndarray]:
    """RGB frames of the first ``seconds``, cropped to a multiple of ``multiple``."""
    import av

    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                break
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            frames.append(rgb[: h - h % multiple, : w - w % multiple])
    if not frames:
        raise SystemExit(f"{path}: no frames decoded")
    return frames


def write_h264_file(frames: Iterable[np.ndarray], crf: int, path: Path, fps: int = 30) -> int:
    """Write ``frames`` (RGB, one size; read one at a time, so a generator keeps a long clip out of
    memory) to ``path`` as an H.264 MP4 (libx264 medium, yuv420p, the same file every run); how many."""
    import av

    count = 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps, 1))
        stream.options = {"crf": str(crf), "preset": "medium"}
        if params := x264_params():  # the same file every run (see x264_params)
            stream.options = {**stream.options, "x264-params": params}
        for rgb in frames:
            if count == 0:
                stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            count += 1
        out.mux(stream.encode(None))
    return count


def h264_round_trip(frames: list[np.ndarray], crf: int, fps: int = 30) -> tuple[list[np.ndarray], float]:
    """Encode ``frames`` as one H.264 stream (libx264 medium, yuv420p) and decode it back; also
    the stream's mean block quantiser over its first 30 frames, as :mod:`srstream.engine.compression`
    reads it from a file."""
    import av

    h, w = frames[0].shape[:2]
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = w, h, "yuv420p"
    encoder.time_base = Fraction(1, fps)
    encoder.framerate = Fraction(fps, 1)
    encoder.options = {"crf": str(crf), "preset": "medium"}
    if params := x264_params():  # the same stream every run (see x264_params)
        encoder.options = {**encoder.options, "x264-params": params}
    packets = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    decoder.options = {"export_side_data": "venc_params"}
    out = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    qps = [frame_qp(d) for f in out[:30] for d in side_data(f) if d.type.name == "VIDEO_ENC_PARAMS"]
    out.sort(key=lambda f: f.pts if f.pts is not None else 0)
    if len(out) != len(frames):
        raise RuntimeError(f"H.264 round trip gave {len(out)} frames for {len(frames)}")
    return [f.to_ndarray(format="rgb24") for f in out], float(np.mean(qps)) if qps else 0.0


def coded_round_trip(frames: list[np.ndarray], crf: int, codec: str) -> tuple[list[np.ndarray], float]:
    """:func:`h264_round_trip`, or with ``codec`` (libx265 medium, SVT-AV1 preset 8) through
    :func:`other_codecs_variant.rgb_round_trip`, the quantiser mapped onto H.264's scale
    (:attr:`srstream.engine.compression.Compression.h264_qp`), which the model choice reads."""
    if codec == "libx264":
        return h264_round_trip(frames, crf)
    from other_codecs_variant import rgb_round_trip  # it imports this module

    from srstream.engine.compression import Compression

    options = {"libx265": {"crf": str(crf), "preset": "medium", "x265-params": "log-level=error"},
               "libsvtav1": {"crf": str(crf), "preset": "8"}}[codec]
    decoded, qp = rgb_round_trip(frames, codec, options)
    return decoded, Compression({"libx265": "hevc", "libsvtav1": "av1"}[codec], qp, len(frames)).h264_qp


class _PerStream:
    """A method whose model depends on the stream, opened per clip and condition: ``auto``, what
    ``sr-stream VIDEO`` runs without ``--model`` (the default model, or its compressed-video
    variant when the stream's quantiser says so: :func:`srstream.engine.models.for_compression`),
    and any model with a compression-strength input, run at the strength the stream's quantiser
    gives (:func:`srstream.strength.from_qp`, as ``--compression auto`` does)."""

    def __init__(self, name: str, scale: int) -> None:
        from srstream.engine.models import DEFAULT_MODEL, MODEL_FOR_SCALE

        self.name, self.scale, self.opened = name, scale, {}
        self.default = MODEL_FOR_SCALE.get(scale, DEFAULT_MODEL)
        self.pick(0.0)

    @staticmethod
    def wanted(name: str) -> bool:
        from srstream.engine.models import resolve_model
        from srstream.engine.strength import conditioned
        from srstream.errors import SRStreamError

        if name == "auto":
            return True
        try:
            return conditioned(resolve_model(name).spec)
        except SRStreamError:  # interpolation, a peer: open_method opens (or reports) it
            return False

    def pick(self, qp: float, frames: list[np.ndarray] | None = None) -> None:
        """Open the model for a stream of quantiser ``qp`` whose LR ``frames`` (RGB) look as they do
        (every tenth of them counts, as :func:`srstream.engine.compression.measure` reads a file)."""
        from srstream.engine.models import for_content, resolve_model, screen_variant, steadied
        from srstream.engine.screen import look, mean_look
        from srstream.engine.strength import conditioned, quantise
        from srstream.strength import from_qp

        seen = mean_look(look(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in (frames or [])[:30:10])
        name = for_content(self.default, qp, seen)[0] if self.name == "auto" else self.name
        self.hard = self.name == "auto" and steadied(self.default, qp, name)  # as `--stabilize auto`
        self.screen = self.name == "auto" and screen_variant(name)  # and its still frames held harder
        level = quantise(from_qp(qp)) if conditioned(resolve_model(name).spec) else None
        if (name, level) not in self.opened:
            self.opened[name, level] = open_method(name, scale=self.scale, compression=level)
        self.current = self.opened[name, level]
        self.info = self.current.info

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.current(rgb)

    def close(self) -> None:
        for method in self.opened.values():
            method.close()


def _bare(method: str) -> str:
    """A ``-m`` method without its ``+stabilized`` / ``+capped`` suffixes."""
    while method.endswith(("+stabilized", "+capped")):
        method = method.rsplit("+", 1)[0]
    return method


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", action="append", help="clip file names in DATA/video (repeatable)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--crf", type=int, action="append", help="x264 CRF of the LR stream (repeatable; default 23 and 30)")
    parser.add_argument("--codec", default="libx264", choices=("libx264", "libx265", "libsvtav1"),
                        help="the LR stream's encoder (libx265 medium, SVT-AV1 preset 8: their quantisers read from "
                             "the headers and mapped onto H.264's scale, as a run reads them)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip used")
    parser.add_argument("--frames", type=int, default=30, help="consecutive frames scored per clip (default 30)")
    parser.add_argument("-m", "--model", action="append", required=True)
    parser.add_argument("--grid", action="store_true", help="also write OUT.png (one crop per clip at the highest CRF)")
    parser.add_argument("--crop", type=int, default=64, help="LR crop size of the grid")
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    args = parser.parse_args()
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1's banner at every stream: errors only
    crfs = args.crf or [23, 30]
    clips = args.clip or list(CLIPS)
    for clip in clips:
        if not (args.data / "video" / clip).is_file():
            raise SystemExit(f"{args.data / 'video' / clip} is not there: pass --data with the shared data folder")

    bare = [_bare(m) for m in args.model]
    stabilized = {m for m, b in zip(args.model, bare) if "+stabilized" in m[len(b):]}
    capped = {m for m, b in zip(args.model, bare) if "+capped" in m[len(b):] or m == "auto"}
    methods = [_PerStream(m, args.scale) if _PerStream.wanted(m)
               else open_method(m, scale=args.scale, peers_dir=args.data / "peers") for m in bare]
    results: list[dict] = []
    rows = []
    try:
        for clip in clips:
            hr_frames = read_frames(args.data / "video" / clip, args.seconds, 2 * args.scale)
            lr_clean = [bicubic_degrade(f, args.scale) for f in hr_frames]
            picks = list(range(min(args.frames, len(hr_frames))))
            flows = hr_flows([hr_frames[i] for i in picks])
            conditions: list[tuple[str, list[np.ndarray], float]] = [("clean", lr_clean, 0.0)]
            conditions += [(f"crf{c}", *coded_round_trip(lr_clean, c, args.codec)) for c in crfs]
            shown = picks[len(picks) // 2]  # the frame the grid shows, from the scoring pass
            for cond, lr_frames, qp in conditions:
                for method in methods:
                    if isinstance(method, _PerStream):
                        method.pick(qp, lr_frames)
                lr_psnr = float(np.mean([psnr_y(lr_frames[i], lr_clean[i], 0) for i in picks]))
                shown_sr = []
                for name, method in zip(args.model, methods):
                    t0 = time.perf_counter()
                    scores, outputs = [], []
                    hard = isinstance(method, _PerStream) and method.hard
                    strength, tolerance = stabilize_setting(DEFAULT_STRENGTH if name in stabilized else "auto", hard)
                    still = still_setting(isinstance(method, _PerStream) and method.screen)
                    steady = (TemporalStabilizer(args.scale, strength, tolerance, base=True, still=still)
                              if strength else None)
                    cap = ChangeCap(args.scale, DEFAULT_GAIN) if name in capped else None
                    for i in picks:
                        sr = method(lr_frames[i])
                        if steady is not None:
                            sr = steady(lr_frames[i], sr)
                        if cap is not None:
                            sr = cap(lr_frames[i], sr)
                        outputs.append(sr)
                        scores.append((psnr_y(sr, hr_frames[i], args.scale), ssim_y(sr, hr_frames[i], args.scale)))
                        if i == shown:
                            shown_sr.append(sr)
                    t_err = temporal_error(outputs, [hr_frames[i] for i in picks], flows, border=args.scale)
                    row = {"clip": clip, "condition": cond, "qp": round(qp, 2),
                           "method": ("auto" if isinstance(method, _PerStream) and method.name == "auto"
                                      else method.info.name)
                           + name[len(_bare(name)):], "ran": method.info.name,
                           "steadied": steady is not None, "capped": cap is not None,
                           "precision": method.info.precision, "psnr_y": float(np.mean([s[0] for s in scores])),
                           "ssim_y": float(np.mean([s[1] for s in scores])), "temporal_error": t_err,
                           "frames": len(picks), "lr_psnr_vs_clean": lr_psnr, "seconds": round(time.perf_counter() - t0, 2)}
                    results.append(row)
                    print(f"{clip:28s} {cond:6s} {row['method']:26s} {row['psnr_y']:.3f} dB  {row['ssim_y']:.4f}  "
                          f"T {t_err:.3f}", flush=True)
                if args.grid and cond == f"crf{max(crfs)}":
                    c, s = args.crop, args.scale
                    y, x = detailed_crop(lr_frames[shown], c, 1)
                    ref = np.ascontiguousarray(hr_frames[shown][y * s:(y + c) * s, x * s:(x + c) * s])
                    tiles = [label(cv2.resize(lr_frames[shown][y:y + c, x:x + c], (c * s, c * s),
                                              interpolation=cv2.INTER_NEAREST), [clip.rsplit(".", 1)[0][:22], f"input {cond}"])]
                    for method, sr in zip(methods, shown_sr):
                        crop = np.ascontiguousarray(sr[y * s:(y + c) * s, x * s:(x + c) * s])
                        tiles.append(label(crop, [method.info.name, f"{psnr_y(crop, ref, 0):.2f} dB"]))
                    rows.append(join([*tiles, label(ref, ["original", "(before downscale)"])], axis=1))
    finally:
        for method in methods:
            method.close()

    names = list(dict.fromkeys(r["method"] for r in results))
    lines = [f"Y-PSNR (dB) / temporal error (luma levels, lower is steadier; see srstream.bench.temporal), x{args.scale}; "
             f"the first {args.frames} consecutive frames of each clip; LR: MATLAB bicubic, then {args.codec} "
             f"at each CRF; `python {' '.join(['benchmarks/compressed_video.py', *sys.argv[1:]])}`",
             "", "| clip | LR | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for clip in clips:
        for cond in ["clean", *[f"crf{c}" for c in crfs]]:
            cells = []
            for name in names:
                r = next(r for r in results if r["clip"] == clip and r["condition"] == cond and r["method"] == name)
                cells.append(f"{r['psnr_y']:.2f} / T {r['temporal_error']:.2f}")
            lines.append(f"| {clip} | {cond} | " + " | ".join(cells) + " |")
    record = {"scale": args.scale, "crfs": crfs, "seconds": args.seconds, "frames": args.frames, "clips": clips,
              "results": results, "srstream": __version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out.with_suffix(".json"), record)
    write_atomic(args.out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    if rows:
        write_still(args.out.with_suffix(".png"), join(rows, axis=0))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
