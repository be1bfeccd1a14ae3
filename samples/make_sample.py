"""Cut the bundled sample clip from the shared data set (stream copy: no re-encoding).

    python samples/make_sample.py ../shared/data/video/traffic_360p30_audio.mp4 samples/traffic_4s.mp4

Keeps every stream (video and audio). Packets are kept by decode timestamp, so every kept
video frame still has the frames it references; the source starts on a keyframe.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av


def cut(source: Path, target: Path, seconds: float) -> None:
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        mapping = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        for packet in src.demux(*[src.streams[i] for i in mapping]):
            if packet.dts is None:
                continue
            if packet.dts * packet.time_base >= seconds:
                continue
            packet.stream = mapping[packet.stream.index]
            dst.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    cut(args.source, args.target, args.seconds)


if __name__ == "__main__":
    main()
