"""The per-frame steps around the network, timed alone: the temporal stabiliser and the change cap,
on a clip's own frames, through the RGB path (live windows and screens, image sequences) and the
4:2:0 path (video files).

    python benchmarks/frame_steps.py --data ../shared/data [--clip game_voxel_720p30.mp4 ...]
        [--frames 40] [--rounds 3] [--out benchmarks/results/bench/frame_steps]

The upscaled frame is a stand-in (each input frame Lanczos-upscaled x2 with a fixed noise added, so
the steps see detail that flickers as a network's does), which leaves the steps' cost as it is with
the real network and keeps the network's time out. Each step runs on the first ``--frames`` frames in
order, ``--rounds`` times; the fastest round's mean per frame is reported, with an md5 of its outputs,
so that a change meant to keep the output can be checked against an earlier build (run this at both).
The stabiliser runs as a screen recording's (strength 0.5, tolerance 12, the still-frame rule on);
the cap as every video's (gain 2, radius 1). Results: ``OUT/<cpu>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

DEFAULT_CLIPS = ("game_voxel_720p30.mp4", "traffic_360p30_audio.mp4")


def _frames(clip: Path, count: int) -> list[tuple]:
    """(rgb, yuv420p planes, upscaled rgb, upscaled yuv420p frame) for the clip's first frames."""
    import av
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            if len(out) == count:
                break
            rgb = frame.to_ndarray(format="rgb24")
            yuv = frame.to_ndarray(format="yuv420p")
            h, w = frame.height, frame.width
            planes = (yuv[:h], yuv[h:h + h // 4].reshape(h // 2, w // 2), yuv[h + h // 4:].reshape(h // 2, w // 2))
            big = cv2.resize(rgb, (w * 2, h * 2), interpolation=cv2.INTER_LANCZOS4)
            big = np.clip(big.astype(np.int16) + rng.integers(-4, 5, big.shape[:2])[..., None], 0, 255).astype(np.uint8)
            big_yuv = cv2.cvtColor(big, cv2.COLOR_RGB2YUV_I420)  # (H*3/2, W): Y rows, then U and V
            out.append((rgb, planes, big, big_yuv))
    return out


def _time(step, frames: list[tuple], rounds: int) -> tuple[float, str]:  # noqa: ANN001
    """The fastest round's mean ms per frame of the runner ``step()`` makes, and the md5 of that round's outputs."""
    best, digest = float("inf"), ""
    for _ in range(rounds):
        run = step()
        md5, seconds = hashlib.md5(), 0.0
        for item in frames:
            start = time.perf_counter()
            out = run(item)
            seconds += time.perf_counter() - start
            md5.update(out.tobytes())  # outside the timing
        seconds /= len(frames)
        if seconds < best:
            best, digest = seconds, md5.hexdigest()
    return best * 1000, digest


def _steps() -> dict:
    from srstream.engine.changecap import ChangeCap
    from srstream.engine.stabilize import STILL_STRENGTH, TemporalStabilizer

    def stabilise_rgb():
        steady = TemporalStabilizer(2, 0.5, 12.0, base=True, still=STILL_STRENGTH)
        return lambda item: steady(item[0], item[2])

    def stabilise_yuv():
        steady = TemporalStabilizer(2, 0.5, 12.0, base=True, still=STILL_STRENGTH)

        def run(item):  # noqa: ANN001, ANN202
            out = item[3].copy()
            steady.steady_luma(item[1][0], out[:item[2].shape[0]])
            return out
        return run

    def cap_rgb():
        cap = ChangeCap(2)
        return lambda item: cap(item[0], item[2].copy())

    def cap_yuv():
        cap = ChangeCap(2)

        def run(item):  # noqa: ANN001, ANN202
            out = item[3].copy()
            cap.planes(*item[1], out)
            return out
        return run

    return {"stabiliser, RGB": stabilise_rgb, "stabiliser, 4:2:0": stabilise_yuv, "change cap, RGB": cap_rgb,
            "change cap, 4:2:0": cap_yuv}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", action="append", help="a clip under DATA/video or a path (default: two)")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write OUT/<cpu>.md and .json (default: print only)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cpu_speed import cpu_class

    from srstream.sysinfo import collect

    clips = [Path(c) if Path(c).is_file() else args.data / "video" / c for c in (args.clip or DEFAULT_CLIPS)]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        raise SystemExit(f"not found: {', '.join(missing)} (give --data or a clip's path)")
    info = collect()
    name = cpu_class(info)
    rows = []
    for clip in clips:
        frames = _frames(clip, args.frames)
        size = f"{frames[0][0].shape[1]}x{frames[0][0].shape[0]}"
        for step, make in _steps().items():
            ms, md5 = _time(make, frames, args.rounds)
            rows.append({"clip": clip.name, "size": size, "step": step, "ms": round(ms, 2), "md5": md5})
            print(json.dumps(rows[-1]), flush=True)
    lines = [f"# The steps around the network, alone: {name}", "",
             f"CPU: {info.cpu.model} ({name}); {time.strftime('%Y-%m-%d')}; the first {args.frames} frames x2, the "
             f"fastest of {args.rounds} rounds (`benchmarks/frame_steps.py`).", "",
             "| clip | input | step | ms a frame | md5 of the outputs |", "|---|---|---|---:|---|"]
    lines += [f"| {r['clip']} | {r['size']} | {r['step']} | {r['ms']:.2f} | `{r['md5'][:12]}` |" for r in rows]
    print("\n".join(lines))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {"cpu": info.cpu.model, "cpu_class": name, "date": time.strftime("%Y-%m-%d"), "frames": args.frames,
                  "rounds": args.rounds, "rows": rows}
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
