"""``sr-stream VIDEO --adapt``, scored: the default run against the same run adapted to the video.

    python benchmarks/adapt_video.py --data ../shared/data --crf 23 --crf 30 --steps 50 --steps 100 \
        --out benchmarks/results/bench/adapt_video_zen3

Each clip of ``DATA/video`` (default: the 1080p Big Buck Bunny, the 720p game and desktop
captures), its first ``--seconds``, is downscaled by 2 (MATLAB bicubic) and written as an H.264
file (libx264 ``medium``) at each ``--crf``: the video a user has. On that file:

* ``bicubic``;
* ``auto``: what ``sr-stream VIDEO`` runs by default on a video under 2000 frames: the model the
  file's quantiser picks, the stabiliser where that is the compressed variant, the change cap (a
  longer video is also fitted, as ``fit`` below);
* ``adapted-N``: the same, with that model adapted to the file (``--adapt N``,
  :mod:`srstream.trainer.adapt`: N steps on pairs made from the file alone), exported and run as
  ``auto`` runs it on this machine;
* ``fit`` (with ``--fit``): the same, with that model's last conv fitted to the file by least
  squares (``--adapt fast``, :mod:`srstream.engine.refit`); ``fit-0.4.8`` and the like (with
  ``--fit-under 0,4,8``) with its pairs' inputs encoded at those CRF steps under the stream's,
  ``fit-4x4`` and the like (with ``--fit-sample 4x4``) with its pairs sampled as 4 runs of 4 frames,
  ``fit-step0.5`` and the like (with ``--fit-step 0.5``) taking that much of the step, whatever the
  transfer check (or the screen recordings' fixed step) would take;
* ``oracle`` (with ``--oracle``): that model's last conv fitted, the whole step, to the original
  frames (every other frame of the clip's first ``--seconds``, the scored ones among them) from
  the file's own decoded frames. No user's run can make it (it needs the originals): it is how
  far the last conv alone can take this file, the ceiling of ``fit``.

``--precision`` runs every model at one precision (default ``auto``, as ``sr-stream`` picks it on
this machine, which can differ between a model and its refitted copy); a copy whose graph at that
precision fails ``auto``'s accuracy check runs as ``auto`` runs it (the row names what ran).

The first ``--frames`` frames are scored against the original frames as ``compressed_video.py``
scores them (Y-PSNR; temporal error of :mod:`srstream.bench.temporal`). Adaptation samples the
whole file, so the scored frames are among the ones it may have seen as targets, one scale down
and without the original: the same as for a user's run. Writes ``OUT.json`` and ``OUT.md``;
``--adapt-cache`` keeps the adapted models (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compressed_video import CLIPS, read_frames, write_h264_file
from srstream import __version__
from srstream.atomic import write_atomic
from srstream.bench.methods import open_method
from srstream.bench.results import machine, write_json
from srstream.bench.temporal import hr_flows, temporal_error
from srstream.engine.changecap import DEFAULT_GAIN, ChangeCap
from srstream.engine.compression import measure
from srstream.engine.models import DEFAULT_MODEL, for_content, resolve_model, screen_variant, steadied
from srstream.engine.refit import DEFAULT_UNDER, RefitOptions, fit_to_pairs, refit_to_video, write_fitted
from srstream.engine.stabilize import TemporalStabilizer
from srstream.engine.stabilize import setting as stabilize_setting
from srstream.engine.stabilize import still_setting
from srstream.errors import BackendError
from srstream.imresize import bicubic_degrade
from srstream.metrics import psnr_y
from srstream.trainer.adapt import AdaptOptions, adapt_to_video


def write_h264(frames: list[np.ndarray], crf: int, path: Path, fps: int = 30) -> list[np.ndarray]:
    """Write ``frames`` as an H.264 MP4 (libx264 medium, yuv420p) and return them as decoded."""
    import av

    write_h264_file(frames, crf, path, fps)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if len(decoded) != len(frames):
        raise SystemExit(f"{path}: wrote {len(frames)} frames, read back {len(decoded)}")
    return decoded


def crf_steps(text: str) -> tuple[int, ...]:
    """``--fit-under``: comma-separated CRF steps, each >= 0."""
    try:
        steps = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: comma-separated whole numbers, e.g. 0,4,8") from None
    if min(steps) < 0:
        raise argparse.ArgumentTypeError(f"{text}: CRF steps under the stream's are 0 or more")
    return steps


def sample_size(text: str) -> tuple[int, int]:
    """``--fit-sample``: RUNSxFRAMES, e.g. 4x4."""
    try:
        runs, frames = (int(t) for t in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: RUNSxFRAMES, e.g. 4x4") from None
    if min(runs, frames) < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least one run of one frame")
    return runs, frames


def score(method, lr: list[np.ndarray], hr: list[np.ndarray], flows, scale: int, hard: bool,  # noqa: ANN001
          screen: bool = False) -> tuple[float, float]:
    """Mean Y-PSNR and temporal error of ``method`` with the stabiliser and change cap ``auto`` uses
    (``screen``: a screen recording's, its still frames held harder)."""
    strength, tolerance = stabilize_setting("auto", hard)
    still = still_setting(screen)
    steady = TemporalStabilizer(scale, strength, tolerance, base=True, still=still) if strength else None
    cap = ChangeCap(scale, DEFAULT_GAIN)
    outputs = []
    for low in lr:
        sr = method(low)
        sr = steady(low, sr) if steady is not None else sr
        outputs.append(cap(low, sr))
    psnr = float(np.mean([psnr_y(o, h, scale) for o, h in zip(outputs, hr)]))
    return psnr, temporal_error(outputs, hr, flows, border=scale)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", action="append", help="clip file names in DATA/video (repeatable)")
    parser.add_argument("--crf", type=int, action="append", help="CRF of the user's file (repeatable; default 30)")
    parser.add_argument("--steps", type=int, action="append", help="--adapt budgets to compare (default 100; 0: none)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each clip used (default 5)")
    parser.add_argument("--frames", type=int, default=30, help="frames scored from the start (default 30)")
    parser.add_argument("--fit", action="store_true", help="also score --adapt fast (the least-squares refit)")
    parser.add_argument("--fit-under", action="append", type=crf_steps,
                        help="score the refit with its pairs' inputs encoded at these CRF steps under the stream's, "
                        "comma-separated (repeatable, one `fit-...` row each; implies --fit; default: the refit's "
                        f"own, {','.join(map(str, DEFAULT_UNDER))})")
    parser.add_argument("--fit-sample", action="append", type=sample_size, metavar="RUNSxFRAMES",
                        help="score the refit with its pairs sampled as this many runs of this many frames "
                        "(repeatable, one `fit-RxF` row each; implies --fit; default: the refit's own, "
                        f"{RefitOptions().runs}x{RefitOptions().run_frames})")
    parser.add_argument("--fit-step", action="append", type=float, metavar="STEP",
                        help="also score fits that take this much of the step (0-1) in place of the transfer check "
                        "(repeatable; rows fit-stepSTEP)")
    parser.add_argument("--oracle", action="store_true",
                        help="also score the last conv fitted to the original frames (the ceiling of --fit)")
    parser.add_argument("--precision", default="auto",
                        help="precision the models run at (default auto: as `sr-stream` picks on this machine)")
    parser.add_argument("--adapt-cache", type=Path, help="keep the adapted models here")
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    args = parser.parse_args()
    scale, crfs, budgets = 2, args.crf or [30], [] if args.steps == [0] else args.steps or [100]
    clips = args.clip or list(CLIPS)
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.adapt_cache or Path(tmp) / "adapted"
        for clip in clips:
            hr_all = read_frames(args.data / "video" / clip, args.seconds, 2 * scale)
            lr_clean = [bicubic_degrade(f, scale) for f in hr_all]
            hr = hr_all[: args.frames]
            flows = hr_flows(hr)
            for crf in crfs:
                video = Path(tmp) / f"{Path(clip).stem}_crf{crf}.mp4"
                decoded = write_h264(lr_clean, crf, video)
                lr = decoded[: args.frames]
                found = measure(video)
                qp = found.h264_qp if found else None
                name = for_content(DEFAULT_MODEL, qp, found.look if found else None)[0]
                hard = steadied(DEFAULT_MODEL, qp, name)
                screen = screen_variant(name)
                runs: list[tuple[str, str, float]] = [("bicubic", "bicubic", 0.0), ("auto", name, 0.0)]
                for steps in budgets:
                    t0 = time.perf_counter()
                    adapted = adapt_to_video(video, resolve_model(name), qp, AdaptOptions(steps=steps), cache=cache,
                                             log=lambda text: print(text, flush=True))
                    runs.append((f"adapted-{steps}", str(adapted.model.path), time.perf_counter() - t0))
                fits = [("fit", RefitOptions())] if args.fit else []
                fits += [("fit-" + ".".join(map(str, u)), RefitOptions(under=u)) for u in args.fit_under or ()]
                fits += [(f"fit-{r}x{f}", RefitOptions(runs=r, run_frames=f)) for r, f in args.fit_sample or ()]
                fits += [(f"fit-step{s:g}", RefitOptions(step=s)) for s in args.fit_step or ()]
                for label, opts in fits:
                    t0 = time.perf_counter()
                    fitted = refit_to_video(video, resolve_model(name), qp, opts, cache=cache,
                                            log=lambda text: print(text, flush=True))
                    runs.append((label, str(fitted.model.path), time.perf_counter() - t0))
                if args.oracle:
                    t0 = time.perf_counter()
                    model = resolve_model(name)
                    weights, growth = fit_to_pairs(model, hr_all[::2], {crf: decoded[::2]}, RefitOptions(crops=4))
                    folder = Path(tempfile.mkdtemp(dir=tmp))
                    runs.append(("oracle", str(write_fitted(model, weights, folder, f"{name}-oracle", growth)),
                                 time.perf_counter() - t0))
                for label, model, seconds in runs:
                    try:
                        method = open_method(model, scale=scale,
                                             precision="auto" if label == "bicubic" else args.precision)
                    except BackendError:  # that precision is not accurate for this copy here: as auto runs it
                        if args.precision == "auto":
                            raise
                        method = open_method(model, scale=scale, precision="auto")
                    try:
                        psnr, t_err = score(method, lr, hr, flows, scale, hard and label != "bicubic",
                                            screen and label != "bicubic")
                    finally:
                        method.close()
                    row = {"clip": clip, "crf": crf, "qp": qp, "method": label, "model": name,
                           "ran": f"{method.info.backend} {method.info.precision}", "psnr_y": psnr,
                           "temporal_error": t_err, "adapt_s": round(seconds, 1)}
                    results.append(row)
                    print(f"{clip:28s} crf{crf} {label:12s} {psnr:.3f} dB  T {t_err:.3f}  ({row['ran']}"
                          + (f"; adapted in {seconds:.0f} s" if seconds else "") + ")", flush=True)
    names = list(dict.fromkeys(r["method"] for r in results))
    lines = [f"Y-PSNR (dB) / temporal error, x{scale}, the first {args.frames} frames of each clip's first "
             f"{args.seconds:g} s written as H.264 (libx264 medium); every method with the stabiliser and change cap "
             f"as `auto` sets them; `python benchmarks/adapt_video.py {' '.join(sys.argv[1:])}`", "",
             "| clip | CRF | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for clip in clips:
        for crf in crfs:
            cells = [next(f"{r['psnr_y']:.2f} / T {r['temporal_error']:.2f}" for r in results
                          if r["clip"] == clip and r["crf"] == crf and r["method"] == n) for n in names]
            lines.append(f"| {clip} | {crf} | " + " | ".join(cells) + " |")
    lines += ["", "Adapting took (s): " + "; ".join(f"{r['clip']} CRF {r['crf']} {r['method']} {r['adapt_s']:.0f}"
                                                for r in results if r["adapt_s"])]
    record = {"scale": scale, "crfs": crfs, "steps": budgets, "seconds": args.seconds, "frames": args.frames,
              "clips": clips, "results": results, "srstream": __version__,
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out.with_suffix(".json"), record)
    write_atomic(args.out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
