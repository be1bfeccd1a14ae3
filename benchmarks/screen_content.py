"""Which inputs look like a screen recording (:mod:`srstream.engine.screen`): the shared clips and
every still image, as ``sr-stream VIDEO`` would see them.

    python benchmarks/screen_content.py --data ../shared/data --out benchmarks/results/bench/screen_content

Clips: the first 30 frames' every tenth (as :func:`srstream.engine.compression.measure` reads a
file), at their own size, as the benchmarks' LR (MATLAB bicubic x2 down for clips over 400 lines)
and that LR through x264 medium at CRF 23 and 30. Stills (``train/`` and ``val/``): each image
area-downscaled so its short side is 360 and 720 pixels where it is larger, else at its own size.
Writes ``OUT.md`` and ``OUT.json``. Independent of the CPU (integer image statistics).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compressed_video import h264_round_trip, read_frames  # noqa: E402

from srstream.engine.screen import EDGE_SHARE, FLAT_SHARE, look, mean_look  # noqa: E402
from srstream.imresize import bicubic_degrade  # noqa: E402

CLIPS = ("screen_desktop_720p60.mp4", "game_voxel_720p30.mp4", "bbb_1080p30_5s.mp4", "traffic_360p30_audio.mp4",
         "bottles_360p30.mp4", "bbb_360p24_60s.mp4")


def _seen(frames: list[np.ndarray]):  # noqa: ANN202 - Look
    return mean_look(look(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in frames[:30:10])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    args = parser.parse_args()
    rows: list[dict] = []
    for clip in CLIPS:
        path = args.data / "video" / clip
        if not path.is_file():
            print(f"skipped {clip}: not in {args.data / 'video'}")
            continue
        seconds = 60.0 if clip.startswith("bbb_360") else 1.0  # that clip opens on a black title
        frames = read_frames(path, seconds, 4)[-30:]
        lr = [bicubic_degrade(f, 2) for f in frames] if frames[0].shape[0] > 400 else frames
        for cond, shown in (("own size", frames), ("LR", lr), ("LR, CRF 23", h264_round_trip(lr, 23)[0]),
                            ("LR, CRF 30", h264_round_trip(lr, 30)[0])):
            seen = _seen(shown)
            rows.append({"input": clip, "as": cond, "flat": seen.flat, "edges": seen.edges, "screen": seen.screen})
            print(f"{clip:28s} {cond:12s} {seen.describe():30s} screen={seen.screen}", flush=True)
    stills = sorted(p for p in (args.data / "train").glob("*/*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    stills += sorted(p for p in (args.data / "val").glob("*/*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    judged = []
    for path in stills:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            continue
        h, w = image.shape
        sizes = [t for t in (360, 720) if min(h, w) > t] or [min(h, w)]
        for short in sizes:
            s = short / min(h, w)
            small = image if s == 1 else cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            seen = look(small)
            judged.append({"image": str(path.relative_to(args.data)), "short_side": short, "flat": seen.flat,
                           "edges": seen.edges, "screen": seen.screen})
    screens = [j for j in judged if j["screen"]]
    flattest = sorted(judged, key=lambda j: j["flat"])[-3:]
    edgiest_flat = sorted((j for j in judged if j["flat"] >= 0.3), key=lambda j: j["edges"])[-3:]
    lines = [f"# Which inputs look like a screen recording (`srstream.engine.screen`: at least {FLAT_SHARE:.0%} of "
             f"pixels flat and at least {EDGE_SHARE:.1%} sharp steps)", "",
             f"`python benchmarks/screen_content.py --data {args.data} --out {args.out}`. Integer image statistics: "
             "the same on every CPU.", "", "## Clips (every tenth of the first 30 frames)", "",
             "| clip | as | flat | sharp edges | screen |", "|---|---|---:|---:|---|"]
    lines += [f"| {r['input']} | {r['as']} | {r['flat']:.1%} | {r['edges']:.2%} | {'yes' if r['screen'] else 'no'} |"
              for r in rows]
    lines += ["", f"## Stills: {len(screens)} of {len(judged)} judged a screen", ""]
    lines += [f"- {j['image']} at {j['short_side']} px: {j['flat']:.1%} flat, {j['edges']:.2%} edges" for j in screens]
    lines += ["", "Flattest stills: " + "; ".join(f"{j['image']} at {j['short_side']} px {j['flat']:.1%} flat, "
                                                 f"{j['edges']:.2%} edges" for j in flattest),
              "", "Most sharp edges among stills at least 30% flat: "
              + "; ".join(f"{j['image']} at {j['short_side']} px {j['flat']:.1%} flat, {j['edges']:.2%} edges"
                          for j in edgiest_flat), ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({"clips": rows, "stills": judged}, indent=1))
    print("\n".join(lines[-8:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
