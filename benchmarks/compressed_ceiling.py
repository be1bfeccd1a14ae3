"""How far a net of a given graph can get on one compressed clip: fine-tune it on real H.264 frames
and watch the benchmark's score.

    python benchmarks/compressed_ceiling.py --data ../shared/data --source clip --steps 750 \
        --out benchmarks/results/bench/compressed_ceiling_clip_zen3

A study for issue 20's CRF 30 gap, not a way to make a model. ``compressed_video.py`` scores the
first 30 frames of a clip's first ``--seconds``, downscaled (MATLAB bicubic) and encoded as one
H.264 stream (libx264 ``medium``) at ``--crf``. This script starts from ``--model``'s weights and
fine-tunes them (L1 on RGB, Adam) on pairs of real encoded frames, scoring those 30 frames (torch,
fp32, Y-PSNR as the benchmark) every ``--every`` steps. The training frames come from:

- ``--source clip``: the same clip after ``--seconds``, encoded as one stream at each
  ``--train-crf``. The same shot as the scored frames, so what it reaches is a **ceiling** for
  this graph on this clip with the codec's real degradation: nothing a shippable model could use.
  With ``--train-clip NAME`` (repeatable), other clips of ``DATA/video`` instead, whole.
- ``--source pans``: ``--pans`` sequences panned over the training images (``DATA/train``:
  pexels and div2k_resized18), 1280x720 windows moving by whole pixels, downscaled and encoded at
  each ``--train-crf`` with the benchmark's own encoder settings. The real codec at full frame
  size, but none of the clip's content: whether the codec's real P/B-frame degradation, which the
  trainer imitates with 48-pixel clips and ``veryfast``, is what the models lack.
  ``--content KIND`` first turns each panned region into the trainer's synthetic content
  (:mod:`srstream.trainer.content`, e.g. ``cartoon``).
- ``--source self``: the scored stream itself, as a user has it, with no original frame: each
  decoded frame of the segment is the target, and its own downscale, encoded at each
  ``--train-crf``, the input (internal learning, as ZSSR does for one image). Nothing but the
  input is used, so unlike ``clip`` this is something the engine could do with a user's video.

``--train-last N`` trains only the net's last N convs, the others frozen
(``results/bench/adapt_tail_spr.md``).

Writes ``OUT.json`` (the curve, with the seconds spent in training steps; the settings; the
machine) and ``OUT.md``. The JSON files of 2026-12-02 record ``wall_s`` instead: the time since
the first step, scoring included.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from compressed_video import h264_round_trip, read_frames
from srstream.archs import build_generator
from srstream.atomic import write_atomic
from srstream.bench.methods import open_method
from srstream.bench.results import machine, write_json
from srstream.images import list_images, load_rgb
from srstream.imresize import bicubic_degrade
from srstream.metrics import psnr_y
from srstream.trainer.checkpoint import load_model_weights, save_checkpoint
from srstream.trainer.validate import upscale_image

CPU = torch.device("cpu")
PAN_SIZE = (1280, 720)  # HR window (width, height): a 640x360 LR stream, as streamed video
PAN_FRAMES = 24  # per sequence; the first 4 (the encoder's start-up) are not trained on
PAN_WIDTH = (2000, 3000)  # photos wider than this are first area-downscaled to a width in this range


def _pans(train_dir: Path, count: int, crfs: list[int], content: str | None, scale: int,
          rng: random.Random) -> tuple[list[np.ndarray], dict[int, list[np.ndarray]]]:
    """HR frames and, per CRF, their decoded LR frames from ``count`` pans over training photos."""
    from srstream.trainer.content import make_content

    files = [f for sub in ("pexels", "div2k_resized18") for f in list_images([train_dir / sub])]
    rng.shuffle(files)
    content_rng = np.random.default_rng(rng.randrange(2**32))
    width, height = PAN_SIZE
    hr_frames: list[np.ndarray] = []
    lr_frames: dict[int, list[np.ndarray]] = {crf: [] for crf in crfs}
    for path in files[:count]:
        image = load_rgb(path)
        if image.shape[1] > PAN_WIDTH[1]:
            factor = rng.uniform(*PAN_WIDTH) / image.shape[1]
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        vx, vy = rng.randint(-4, 4), rng.randint(-3, 3)
        span_x, span_y = width + abs(vx) * PAN_FRAMES, height + abs(vy) * PAN_FRAMES
        if image.shape[1] < span_x or image.shape[0] < span_y:
            continue
        left, top = rng.randrange(image.shape[1] - span_x + 1), rng.randrange(image.shape[0] - span_y + 1)
        region = np.ascontiguousarray(image[top:top + span_y, left:left + span_x])
        if content:
            region = make_content(content, region, content_rng)
        x0, y0 = (abs(vx) * PAN_FRAMES if vx < 0 else 0), (abs(vy) * PAN_FRAMES if vy < 0 else 0)
        seq = [np.ascontiguousarray(region[y0 + vy * t:y0 + vy * t + height, x0 + vx * t:x0 + vx * t + width])
               for t in range(PAN_FRAMES)]
        lr = [bicubic_degrade(frame, scale) for frame in seq]
        for crf in crfs:
            lr_frames[crf] += h264_round_trip(lr, crf)[0][4:]
        hr_frames += seq[4:]
    if not hr_frames:
        raise SystemExit(f"{train_dir}: no training photo is large enough for a {width}x{height} pan")
    return hr_frames, lr_frames


def _score(net: torch.nn.Module, lr: list[np.ndarray], hr: list[np.ndarray], border: int) -> float:
    net.eval()
    return float(np.mean([psnr_y(upscale_image(net, a, CPU), b, border) for a, b in zip(lr, hr)]))


def _batch(hr: list[np.ndarray], lr: dict[int, list[np.ndarray]], size: int, patch: int, scale: int,
           rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(size):
        crf, i = rng.choice(list(lr)), rng.randrange(len(hr))
        low = lr[crf][i]
        y0, x0 = rng.randrange(low.shape[0] - patch), rng.randrange(low.shape[1] - patch)
        xs.append(low[y0:y0 + patch, x0:x0 + patch])
        ys.append(hr[i][scale * y0:scale * (y0 + patch), scale * x0:scale * (x0 + patch)])
    return _tensor(xs), _tensor(ys)


def _tensor(patches: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(patches)).permute(0, 3, 1, 2).float() / 255


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", default="bbb_1080p30_5s.mp4", help="clip file name in DATA/video")
    parser.add_argument("--crf", type=int, default=30, help="CRF of the scored stream (default 30)")
    parser.add_argument("--seconds", type=float, default=2.0, help="scored segment, as compressed_video.py")
    parser.add_argument("--frames", type=int, default=30, help="frames scored (default 30)")
    parser.add_argument("--source", choices=("clip", "pans", "self"), required=True)
    parser.add_argument("--train-crf", type=int, action="append", help="CRFs trained on (default 26, 30, 34)")
    parser.add_argument("--train-clip", action="append",
                        help="clips of DATA/video that --source clip trains on (default: the scored clip's rest)")
    parser.add_argument("--pans", type=int, default=20, help="pan sequences for --source pans")
    parser.add_argument("--content", help="synthetic content for --source pans (srstream.trainer.content kinds)")
    parser.add_argument("--model", type=Path, default=Path("engine/models/realtime-x2-compressed.safetensors"))
    parser.add_argument("--steps", type=int, default=750)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=64, help="LR patch size")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-last", type=int, default=0,
                        help="train only the last N convs, the rest frozen (default 0: the whole net)")
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    parser.add_argument("--save", type=Path, help="keep the tuned weights as a checkpoint of run folder DIR "
                        "(named NAME-tuned; `sr-stream export DIR` makes an ONNX graph of them)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    crfs = args.train_crf or [26, 30, 34]
    spec, state = load_model_weights(args.model)
    net = build_generator(spec)
    net.load_state_dict(state)
    if args.train_last:
        convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        if not 0 < args.train_last <= len(convs):
            raise SystemExit(f"--train-last {args.train_last}: the net has {len(convs)} convs")
        net.requires_grad_(False)
        for conv in convs[-args.train_last:]:
            conv.requires_grad_(True)
    scale = spec.scale

    scored = read_frames(args.data / "video" / args.clip, args.seconds, scale)
    test_hr = scored[: args.frames]
    stream = h264_round_trip([bicubic_degrade(f, scale) for f in scored], args.crf)[0]  # what a user has
    test_lr = stream[: args.frames]
    if args.source == "clip":
        train_hr, train_lr = [], {crf: [] for crf in crfs}
        for name in args.train_clip or [args.clip]:
            frames = read_frames(args.data / "video" / name, 1e9, scale)
            frames = frames[len(scored):] if name == args.clip else frames
            clean = [bicubic_degrade(f, scale) for f in frames]
            for crf in crfs:
                train_lr[crf] += h264_round_trip(clean, crf)[0]
            train_hr += frames
        if not train_hr:
            raise SystemExit(f"{args.clip}: nothing after the first {args.seconds} s to train on")
    elif args.source == "self":  # the decoded input is the target; its own downscale, re-encoded, the input
        train_hr = [f[: f.shape[0] - f.shape[0] % scale, : f.shape[1] - f.shape[1] % scale]
                    for f in stream]
        clean = [bicubic_degrade(f, scale) for f in train_hr]
        train_lr = {crf: h264_round_trip(clean, crf)[0] for crf in crfs}
    else:
        train_hr, train_lr = _pans(args.data / "train", args.pans, crfs, args.content, scale, rng)
    if min(min(f.shape[:2]) for f in train_lr[crfs[0]]) <= args.patch:
        raise SystemExit(f"a training frame is no larger than --patch {args.patch} LR pixels: pass a smaller --patch")
    print(f"{len(train_hr)} training frames x {len(crfs)} CRFs; {len(test_lr)} scored frames", flush=True)

    bicubic = open_method("bicubic", scale=scale)
    base = float(np.mean([psnr_y(bicubic(a), b, scale) for a, b in zip(test_lr, test_hr)]))
    bicubic.close()
    curve = [{"step": 0, "psnr_y": _score(net, test_lr, test_hr, scale), "train_s": 0.0}]
    print(f"bicubic {base:.3f}; step 0 {curve[0]['psnr_y']:.3f}", flush=True)
    optim = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=args.lr)
    trained = 0.0  # seconds in training steps (batches included), scoring left out
    for step in range(1, args.steps + 1):
        start = time.perf_counter()
        x, y = _batch(train_hr, train_lr, args.batch, args.patch, scale, rng)
        net.train()
        loss = (net(x) - y).abs().mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        trained += time.perf_counter() - start
        if step % args.every == 0 or step == args.steps:
            curve.append({"step": step, "psnr_y": _score(net, test_lr, test_hr, scale), "train_s": round(trained, 1)})
            print(f"step {step}: {curve[-1]['psnr_y']:.3f} ({trained:.0f} s of training)", flush=True)

    if args.save:
        tuned = dataclasses.replace(spec, name=f"{spec.name}-tuned")
        save_checkpoint(args.save, args.steps, tuned, net.state_dict(), {"step": args.steps})
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["train_crf"] = crfs
    write_json(args.out.with_suffix(".json"), {"settings": settings, "bicubic_psnr_y": base, "curve": curve,
                                              "training_frames": len(train_hr), "machine": machine()})
    if args.source == "pans":
        source = f"{args.pans} pans over DATA/train" + (f" as {args.content}" if args.content else "")
    elif args.source == "self":
        source = f"{args.clip}'s own scored segment at CRF {args.crf}, downscaled again (no original frame)"
    elif args.train_clip:
        source = ", ".join(args.train_clip)
    else:
        source = f"{args.clip} after {args.seconds:g} s (the same shot: a ceiling)"
    lines = [f"Fine-tuning `{args.model}` on real H.264 frames of {source}, CRFs {crfs}; "
             f"scored on {args.clip}'s first {len(test_lr)} frames at CRF {args.crf} (torch fp32, Y-PSNR dB). "
             f"`{' '.join(sys.argv)}`", "", "| step | Y-PSNR | over bicubic |", "|---:|---:|---:|"]
    lines += [f"| {p['step']} | {p['psnr_y']:.3f} | {p['psnr_y'] - base:+.3f} |" for p in curve]
    lines += ["", f"bicubic (the benchmark's): {base:.3f} dB"]
    write_atomic(args.out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
