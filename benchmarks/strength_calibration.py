"""What a training clip's quantiser means for a real stream: damage against quantiser, both ways.

    python benchmarks/strength_calibration.py --data ../shared/data/train/div2k_resized18 \
        --out benchmarks/results/training/realtime_x2_strength/calibration

A strength-conditioned net (:mod:`srstream.strength`) learns ``s`` from the quantiser that the
H.264 decoder reports for each training clip: 52-pixel LR crops moving over three frames, coded by
libx264 veryfast without macroblock tree (:func:`srstream.trainer.degrade.h264_clip`). At run
time ``s`` comes from a real stream's quantiser: whole 540p-1080p frames, usually libx264 medium
with its defaults. This measures, on the same training images (never the test clips), how much
each way of coding damages the LR frames (Y-PSNR of decoded against clean) at each quantiser, so
a real stream's quantiser can be mapped to the training clips' quantiser of equal damage.

Each image is downscaled x2 (MATLAB bicubic) to the LR frame; the real-stream way codes that whole
frame and two copies moved by sub-pixel steps as one libx264 medium stream; the training way codes
``--crops`` moving crops of it as the trainer does. Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from srstream.bench.results import machine, write_json
from srstream.engine.encode import x264_params
from srstream.images import list_images, load_rgb
from srstream.imresize import imresize
from srstream.metrics import psnr_y
from srstream.trainer.degrade import _decoder, _mean_qp, h264_clip


def moved(image: np.ndarray, frames: int, step: tuple[float, float]) -> list[np.ndarray]:
    """``image`` as the last of ``frames`` frames, the earlier ones moved by ``step`` per frame."""
    out = []
    for t in range(frames):
        back = frames - 1 - t
        m = np.float32([[1, 0, step[0] * back], [0, 1, step[1] * back]])
        out.append(cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


def real_stream(frames: list[np.ndarray], crf: int) -> tuple[list[np.ndarray], float | None]:
    """``frames`` coded as one libx264 medium stream with its defaults (macroblock tree on)."""
    import av

    h, w = frames[0].shape[:2]
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = w, h, "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"crf": str(crf), "preset": "medium"}
    if params := x264_params():  # the same stream every run (see x264_params)
        codec.options = {**codec.options, "x264-params": params}
    packets = []
    for t, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = t
        packets += codec.encode(frame)
    packets += codec.encode(None)
    decoder = _decoder(True)
    decoded = sorted((f for p in [*packets, None] for f in decoder.decode(p)), key=lambda f: f.pts)
    return [f.to_ndarray(format="rgb24") for f in decoded], _mean_qp(decoded)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="HR training images")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--crops", type=int, default=12, help="training-style crops per image and CRF")
    parser.add_argument("--real-crf", type=int, nargs="+", default=[6, 10, 14, 18, 23, 27, 30, 34, 38])
    parser.add_argument("--train-crf", type=int, nargs="+", default=[12, 16, 20, 24, 28, 32, 36, 40, 44, 50])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    files = list_images([args.data])[: args.images]
    if not files:
        raise SystemExit(f"no images in {args.data}")
    rng = np.random.default_rng(0)
    rows: list[dict] = []
    for path in files:
        hr = load_rgb(path)
        hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
        lr = np.floor(np.clip(imresize(hr, 0.5), 0, 255) + 0.5).astype(np.uint8)
        lr = lr[: lr.shape[0] // 2 * 2, : lr.shape[1] // 2 * 2]
        clean = moved(lr, 3, (0.7, 0.4))
        for crf in args.real_crf:
            coded, qp = real_stream(clean, crf)
            loss = float(np.mean([psnr_y(c, d, 0) for c, d in zip(clean, coded)]))
            rows.append({"way": "real", "image": path.name, "crf": crf, "qp": qp, "psnr_y": loss})
        size = 52 + 2 * 3  # the trainer's LR clip (96-px HR patch, 2 x scale context) plus its motion
        for crf in args.train_crf:
            for _ in range(args.crops):
                y, x = (int(rng.integers(0, lr.shape[k] - size - 6)) for k in (0, 1))
                v = rng.integers(-1, 2, 2)  # LR pixels per frame (the trainer moves 0-3 HR pixels)
                crops = [np.ascontiguousarray(lr[y + 3 + t * v[0]:y + 3 + t * v[0] + size, x + 3 + t * v[1]:x + 3 + t * v[1] + size])
                         for t in range(3)]
                qps: list[float] = []
                coded = h264_clip(crops, crf, qps)
                loss = float(np.mean([psnr_y(c, d, 0) for c, d in zip(crops[-2:], coded[-2:])]))
                rows.append({"way": "train", "image": path.name, "crf": crf, "qp": qps[0] if qps else None,
                             "psnr_y": loss})
        print(f"{path.name}: done", file=sys.stderr, flush=True)
    table = summarise(rows, args)
    write_json(args.out.with_suffix(".json"), {"machine": machine(), "rows": rows, "summary": table})
    lines = [f"LR damage against quantiser, the trainer's clips and real streams, on {len(files)} training images "
             f"of {args.data.name} (`python benchmarks/strength_calibration.py --data {args.data} --out {args.out}`)", "",
             "| way | CRF | mean quantiser | LR Y-PSNR vs clean (dB) | training-clip quantiser of equal damage |",
             "|---|---:|---:|---:|---:|"]
    for r in table:
        equal = f"{r['train_qp']:.1f}" if r.get("train_qp") is not None else ""
        lines.append(f"| {r['way']} | {r['crf']} | {r['qp']:.1f} | {r['psnr_y']:.2f} | {equal} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def summarise(rows: list[dict], args: argparse.Namespace) -> list[dict]:
    """Per way and CRF: the mean quantiser and damage; for real streams, the training-clip
    quantiser whose damage is the same (linear interpolation along the training curve)."""
    table = []
    for way, crfs in (("train", args.train_crf), ("real", args.real_crf)):
        for crf in crfs:
            sel = [r for r in rows if r["way"] == way and r["crf"] == crf and r["qp"] is not None]
            table.append({"way": way, "crf": crf, "qp": float(np.mean([r["qp"] for r in sel])),
                          "psnr_y": float(np.mean([r["psnr_y"] for r in sel]))})
    train = sorted((r for r in table if r["way"] == "train"), key=lambda r: -r["psnr_y"])
    damage, qp = np.array([r["psnr_y"] for r in train]), np.array([r["qp"] for r in train])
    for r in table:
        if r["way"] == "real" and damage.min() <= r["psnr_y"] <= damage.max():
            r["train_qp"] = float(np.interp(-r["psnr_y"], -damage, qp))
    return table


if __name__ == "__main__":
    raise SystemExit(main())
