"""The compressed-video variant against the default on VP9, MPEG-2, HEVC, AV1, MJPEG and VP8 streams, with the truth.

    python benchmarks/other_codecs_variant.py --video ../shared/data/video

What ``auto`` gains now that these codecs' quantisers are read on H.264's scale
(:data:`srstream.engine.compression.SCALES`): the first second of each higher-resolution clip is
downscaled x2 (MATLAB bicubic), coded as one stream (libvpx-vp9 at two CRFs, FFmpeg's MPEG-2 at two
fixed qscales, libx265 medium and SVT-AV1 preset 8 at two CRFs each, FFmpeg's MJPEG and libvpx's
VP8 at two fixed quantisers each, libx264 medium CRF 23 beside them), decoded, upscaled by
bicubic, ``realtime-x2`` and ``realtime-x2-compressed`` (fp32 ONNX Runtime) and scored on Y against
the original frames (30 frames, ``scale`` border pixels cropped). Prints one line per clip and
coding.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from compressed_video import read_frames
from quantiser_scales import round_trip
from srstream.bench.methods import open_method
from srstream.imresize import bicubic_degrade
from srstream.metrics import psnr_y

CODINGS = (("libvpx-vp9", {"crf": "35", "b": "0", "deadline": "good", "cpu-used": "4"}),
           ("libvpx-vp9", {"crf": "50", "b": "0", "deadline": "good", "cpu-used": "4"}),
           ("mpeg2video", {"qscale": "3"}), ("mpeg2video", {"qscale": "6"}),
           ("libx265", {"crf": "28", "preset": "medium", "x265-params": "log-level=error"}),
           ("libx265", {"crf": "34", "preset": "medium", "x265-params": "log-level=error"}),
           ("libsvtav1", {"crf": "35", "preset": "8"}), ("libsvtav1", {"crf": "50", "preset": "8"}),
           ("mjpeg", {"qscale": "3"}), ("mjpeg", {"qscale": "8"}),
           ("libvpx", {"qscale": "20"}), ("libvpx", {"qscale": "40"}),
           ("libx264", {"crf": "23", "preset": "medium"}))


def rgb_round_trip(frames: list[np.ndarray], codec: str, options: dict[str, str]) -> tuple[list[np.ndarray], float]:
    """RGB ``frames`` through :func:`quantiser_scales.round_trip` (yuv420p, BT.601 as FFmpeg's
    default conversion): the decoded frames as RGB, and the decoder's mean quantiser."""
    import av

    planes = [av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()
              for rgb in frames]
    decoded, qp = round_trip(planes, codec, options)
    return [av.VideoFrame.from_ndarray(p, format="yuv420p").to_ndarray(format="rgb24") for p in decoded], qp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path("../shared/data/video"))
    parser.add_argument("--clip", action="append", help="clip names in VIDEO (default: the 1080p and 720p ones)")
    parser.add_argument("--codec", action="append", help="only the codings with these encoders (repeatable)")
    args = parser.parse_args()
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1's banner at every stream: errors only
    clips = [args.video / c for c in (args.clip or ["bbb_1080p30_5s.mp4", "game_voxel_720p30.mp4"])]
    if not all(c.exists() for c in clips):
        print(f"clips missing in {args.video}; pass --video", file=sys.stderr)
        return 2
    methods = {m: open_method(m, scale=2, backend="ort", precision="fp32")
               for m in ("realtime-x2", "realtime-x2-compressed")}
    methods["bicubic"] = open_method("bicubic", scale=2)
    for clip in clips:
        truth = read_frames(clip, 1.0, 2)[:30]
        small = [bicubic_degrade(f, 2) for f in truth]
        for codec, options in (c for c in CODINGS if not args.codec or c[0] in args.codec):
            decoded, qp = rgb_round_trip(small, codec, options)
            scores = {m: float(np.mean([psnr_y(run(x), y, 2) for x, y in zip(decoded, truth)]))
                      for m, run in methods.items()}
            print(clip.name, codec, options.get("crf", options.get("qscale")), f"quantiser {qp:.1f}",
                  " ".join(f"{m} {v:.2f}" for m, v in scores.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
