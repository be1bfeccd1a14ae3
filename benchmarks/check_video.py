"""Compare an upscaled video with its source: size, frame count, frame timestamps, duration, audio.

    python benchmarks/check_video.py ../shared/data/video/traffic_360p30_audio.mp4 out.mp4 [--json OUT.json]

Decodes both files completely; prints one JSON object per pair and exits 1 when the frame
timestamps differ (count or values) or an audio stream went missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def describe(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        times = [frame.time for frame in container.decode(video)]
        return {"size": [video.codec_context.width, video.codec_context.height], "frames": len(times),
                "times": times, "duration_s": (container.duration or 0) / 1e6,
                "audio_streams": len(container.streams.audio), "rate": float(video.average_rate or 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    src, out = describe(args.source), describe(args.output)
    same_times = src.pop("times") == out.pop("times")
    ok = same_times and out["audio_streams"] >= src["audio_streams"]
    result = {"source": str(args.source), "output": str(args.output), "in": src, "out": out,
              "timestamps_identical": same_times, "ok": ok}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
