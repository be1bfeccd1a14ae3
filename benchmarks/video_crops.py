"""Real video, no ground truth: the same crop of a real frame through each method, side by side.

    python benchmarks/video_crops.py --data ../shared/data --scale 4 \
        -m bicubic -m realtime-x4 -m quality-x4 -m gan-x4 --out benchmarks/results/bench/grids/video_x4.png

For each clip in ``--clip`` (default: the real camera clips of the shared data), one frame
(``--at`` seconds in) is upscaled whole by every method, and the most detailed ``--crop``-pixel
square of the input (most gradient energy) is shown enlarged: the input pixels (nearest), then
each method. Compressed camera footage is what users feed the models, unlike the clean bicubic
LR of Set5/Set14/BSD100, so this is where blur, ringing, compression noise amplified into
texture, or colour fringes show.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from srstream.bench.grid import detailed_crop, join, label
from srstream.bench.methods import open_method
from srstream.engine.stills import write_still

CLIPS = ("traffic_360p30_audio.mp4", "bottles_360p30.mp4", "bbb_360p24_60s.mp4")


def frame_at(path: Path, seconds: float) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                return frame.to_ndarray(format="rgb24")
    raise SystemExit(f"{path} is shorter than {seconds} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", action="append", help="clip file names in DATA/video (repeatable)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("-m", "--model", action="append", required=True)
    parser.add_argument("--at", type=float, default=2.0, help="seconds into each clip")
    parser.add_argument("--crop", type=int, default=48, help="input crop size in pixels")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    methods = [open_method(m, scale=args.scale, peers_dir=args.data / "peers") for m in args.model]
    rows = []
    try:
        for clip in args.clip or CLIPS:
            lr = frame_at(args.data / "video" / clip, args.at)
            y, x = detailed_crop(lr, args.crop, 1)
            c, s = args.crop, args.scale
            tiles = [label(cv2.resize(lr[y:y + c, x:x + c], (c * s, c * s), interpolation=cv2.INTER_NEAREST),
                           [clip.rsplit(".", 1)[0][:22], "input (nearest)"])]
            for method in methods:
                up = method(lr)
                tiles.append(label(np.ascontiguousarray(up[y * s:(y + c) * s, x * s:(x + c) * s]),
                                   [method.info.name, method.info.precision]))
            rows.append(join(tiles, axis=1))
            print(f"{clip}: crop {c}x{c} at ({x}, {y})", flush=True)
    finally:
        for method in methods:
            method.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_still(args.out, join(rows, axis=0))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
