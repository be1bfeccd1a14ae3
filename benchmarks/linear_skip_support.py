"""How much of x2 super-resolution a linear filter does, by support: the case for ``skip: linear``.

    python benchmarks/linear_skip_support.py --train ../shared/data/train/bsds400 \
        --val ../shared/data/val/Set5 [--kernel 1 --kernel 3 --kernel 5 --kernel 7] [--fit-images 80]

For each kernel size k, the least-squares linear x2 upscaler of luma with k x k support (one filter
per output phase, as a compact net's ``linear`` skip computes before its pixel shuffle) is fitted
on ``--fit-images`` training images (MATLAB-bicubic LR, luma, borders dropped) and scored on
``--val`` with the bench protocol's Y-PSNR (output rounded to 8 bits, ``scale`` border pixels
cropped). k = 1 is the nearest skip's family. The net's body only has to learn what the
filter leaves; the gap between sizes is what a skip of that size leaves to the body.
Prints one line per size and, with ``--json``, writes them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from srstream.images import list_images, load_rgb
from srstream.imresize import imresize
from srstream.metrics import psnr_y, rgb_to_y

SCALE = 2
PHASES = [(a, b) for a in range(SCALE) for b in range(SCALE)]


def _pair(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(LR luma float64, HR uint8 RGB) with the HR cropped to a multiple of the scale."""
    hr = load_rgb(path)
    hr = hr[: hr.shape[0] // SCALE * SCALE, : hr.shape[1] // SCALE * SCALE]
    lr = np.clip(np.round(imresize(hr, 1 / SCALE)), 0, 255).astype(np.uint8)
    return rgb_to_y(lr), hr


def _taps(lr: np.ndarray, k: int) -> np.ndarray:
    """(h, w, k*k): every LR pixel's k x k neighbourhood (edges replicated)."""
    r = k // 2
    padded = np.pad(lr, r, mode="edge")
    h, w = lr.shape
    return np.stack([padded[i:i + h, j:j + w] for i in range(k) for j in range(k)], -1)


def fit(train: list[Path], k: int, border: int = 4) -> list[np.ndarray]:
    """One k*k filter per output phase, least squares over the training images' interiors."""
    rows, targets = [], [[] for _ in PHASES]
    for path in train:
        lr, hr = _pair(path)
        y = rgb_to_y(hr)
        rows.append(_taps(lr, k)[border:-border, border:-border].reshape(-1, k * k))
        for n, (a, b) in enumerate(PHASES):
            targets[n].append(y[a::SCALE, b::SCALE][border:-border, border:-border].reshape(-1))
    design = np.concatenate(rows)
    return [np.linalg.lstsq(design, np.concatenate(t), rcond=None)[0] for t in targets]


def score(val: list[Path], filters: list[np.ndarray], k: int) -> float:
    """Mean Y-PSNR of the filters' upscale on ``val`` (bench protocol)."""
    values = []
    for path in val:
        lr, hr = _pair(path)
        taps = _taps(lr, k)
        out = np.zeros(hr.shape[:2])
        for (a, b), w in zip(PHASES, filters):
            out[a::SCALE, b::SCALE] = taps @ w
        values.append(psnr_y(np.clip(np.round(out), 0, 255).astype(np.uint8), hr, SCALE))
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="HR images to fit the filters on")
    parser.add_argument("--val", type=Path, required=True, help="HR images to score them on")
    parser.add_argument("--kernel", type=int, action="append", help="odd support sizes (default 1 3 5 7)")
    parser.add_argument("--fit-images", type=int, default=80)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    train = list_images([args.train])[: args.fit_images]
    val = list_images([args.val])
    if not train or not val:
        parser.error("no images in --train or --val")
    results = {}
    for k in args.kernel or [1, 3, 5, 7]:
        if k < 1 or k % 2 == 0:
            parser.error(f"--kernel {k}: odd sizes only")
        results[k] = score(val, fit(train, k), k)
        print(f"{k}x{k} linear x{SCALE} upscaler: {args.val.name} Y-PSNR {results[k]:.3f} dB", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"train": str(args.train), "fit_images": len(train), "val": str(args.val),
                                         "psnr_y": {str(k): v for k, v in results.items()}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
