"""Plot a ``compressed_video.py`` record: Y-PSNR against temporal error, one panel per clip.

    python benchmarks/compressed_plot.py benchmarks/results/bench/compressed_auto.json \
        benchmarks/results/bench/compressed_auto_plot.png

Each method is a line through its conditions (clean -> the highest CRF); up and to the left is
better (sharper and steadier). Bicubic's points mark issue 20's bar: a method should sit above
bicubic's PSNR and at or left of its temporal error at each CRF.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", type=Path, help="OUT.json written by benchmarks/compressed_video.py")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = json.loads(args.record.read_text())
    rows = record["results"]
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    conditions = ["clean", *[f"crf{c}" for c in record["crfs"]]]
    fig, axes = plt.subplots(1, len(clips), figsize=(5.2 * len(clips), 4.6), squeeze=False)
    for ax, clip in zip(axes[0], clips):
        for method in methods:
            points = [next((r for r in rows if r["clip"] == clip and r["method"] == method and r["condition"] == c),
                           None) for c in conditions]
            points = [p for p in points if p is not None]
            xs, ys = [p["temporal_error"] for p in points], [p["psnr_y"] for p in points]
            style = {"color": "black", "linestyle": "--"} if method == "bicubic" else {}
            ax.plot(xs, ys, marker="o", markersize=3, label=method, **style)
            for p in points:
                ax.annotate(p["condition"].replace("crf", ""), (p["temporal_error"], p["psnr_y"]), fontsize=6,
                            xytext=(2, 2), textcoords="offset points")
        ax.set_title(clip.rsplit(".", 1)[0], fontsize=9)
        ax.set_xlabel("temporal error (luma levels; lower is steadier)")
        ax.set_ylabel("Y-PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"x{record['scale']}, first {record['frames']} frames; points: clean, then x264 CRF "
                 + ", ".join(str(c) for c in record["crfs"]), fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
