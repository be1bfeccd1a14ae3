"""A whole clip as a user has it, upscaled by ``sr-stream`` as the user runs it, its first frames scored.

    python benchmarks/whole_video.py --data ../shared/data --clip screen_desktop_720p60.mp4 --crf 23 \
        --out benchmarks/results/bench/whole_desktop_crf23

``compressed_video.py`` and ``adapt_video.py`` score a clip's first seconds, and fit a model to those
seconds only. A user's file is the whole recording, and what ``sr-stream`` does by default depends on
it: ``--adapt auto`` fits a long video, sampling frames from all of it. Here every frame of the clip is
downscaled by 2 (MATLAB bicubic) and written as one H.264 file (libx264 ``medium`` at ``--crf``, 30 fps
as those benchmarks write theirs), then ``sr-stream FILE -o OUT.mkv --frames N --crf 0`` runs on it
as a separate process (``python -m srstream``) with ``--arg`` options added (none: the defaults). Its
first ``--frames`` output frames and bicubic's of the same decoded frames are scored against the
original frames (Y-PSNR and temporal error, as ``compressed_video.py`` scores them). ``sr-stream``'s
own log is kept in the JSON. A fit kept by an earlier run on the same file is reused, as for a user
(``~/.cache/sr-stream/adapted``; the file is the same every run). Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from compressed_video import write_h264_file
from srstream import __version__
from srstream.atomic import write_atomic
from srstream.bench.methods import open_method
from srstream.bench.results import machine, write_json
from srstream.bench.temporal import hr_flows, temporal_error
from srstream.imresize import bicubic_degrade
from srstream.metrics import psnr_y


def write_low(clip: Path, crf: int, path: Path, keep: int) -> tuple[list[np.ndarray], int]:
    """Every frame of ``clip`` (cropped to a multiple of 4) downscaled by 2 and written to ``path`` as
    H.264 at ``crf``, one frame in memory at a time; the first ``keep`` original frames, and the count."""
    import av

    originals: list[np.ndarray] = []

    def lows(container) -> Iterator[np.ndarray]:  # noqa: ANN001 - a PyAV container
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            rgb = rgb[: rgb.shape[0] - rgb.shape[0] % 4, : rgb.shape[1] - rgb.shape[1] % 4]
            if len(originals) < keep:
                originals.append(rgb)
            yield bicubic_degrade(rgb, 2)

    with av.open(str(clip)) as source:
        count = write_h264_file(lows(source), crf, path)
    if count == 0:
        raise SystemExit(f"{clip}: no frames decoded")
    return originals, count


def first_frames(path: Path, count: int) -> list[np.ndarray]:
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", required=True, help="a clip file name in DATA/video")
    parser.add_argument("--crf", type=int, action="append", help="CRF of the user's file (repeatable; default 23)")
    parser.add_argument("--frames", type=int, default=30, help="frames upscaled and scored from the start (default 30)")
    parser.add_argument("--arg", action="append", default=[], help="an option added to the sr-stream command "
                        "(repeatable; write --arg=--adapt=off for one that starts with a dash)")
    parser.add_argument("--out", type=Path, required=True, help="output path without extension")
    args = parser.parse_args()
    clip = args.data / "video" / args.clip
    if not clip.is_file():
        print(f"{clip}: not found (pass --data)", file=sys.stderr)
        return 2
    rows, crfs, bicubic = [], args.crf or [23], open_method("bicubic", scale=2)
    with tempfile.TemporaryDirectory() as tmp:
        for crf in crfs:
            low_path, sr_path = Path(tmp) / f"{clip.stem}_crf{crf}.mp4", Path(tmp) / f"sr_crf{crf}.mkv"
            originals, count = write_low(clip, crf, low_path, args.frames)
            cmd = [sys.executable, "-m", "srstream", str(low_path), "-o", str(sr_path), "--frames", str(args.frames),
                   "--crf", "0", *args.arg]
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode:
                print(run.stderr, file=sys.stderr)
                return run.returncode
            low = first_frames(low_path, args.frames)
            outputs = {"bicubic": [bicubic(f) for f in low], "sr-stream": first_frames(sr_path, args.frames)}
            flows = hr_flows(originals)
            for method, frames in outputs.items():
                row = {"clip": args.clip, "crf": crf, "input_frames": count, "method": method,
                       "psnr_y": float(np.mean([psnr_y(o, h, 2) for o, h in zip(frames, originals)])),
                       "temporal_error": temporal_error(frames, originals, flows, border=2)}
                if method == "sr-stream":
                    row["log"] = run.stderr.splitlines()
                rows.append(row)
                print(f"{args.clip:28s} crf{crf:<3d} {method:10s} {row['psnr_y']:.3f} dB  "
                      f"T {row['temporal_error']:.4f}", flush=True)
    command = "python benchmarks/whole_video.py " + " ".join(sys.argv[1:])
    write_json(args.out.with_suffix(".json"), {"command": command, "machine": machine(), "srstream": __version__,
                                                "frames": args.frames, "results": rows})
    lines = [f"Y-PSNR (dB) / temporal error, x2, the first {args.frames} frames of the whole clip upscaled by "
             f"`sr-stream` {' '.join(args.arg) or '(defaults)'}; `{command}`", "",
             "| clip | CRF | frames in the file | bicubic | sr-stream |", "|---|---|---:|---:|---:|"]
    for crf in crfs:
        pair = [r for r in rows if r["crf"] == crf]
        cells = [f"{r['psnr_y']:.3f} / T {r['temporal_error']:.3f}" for r in pair]
        lines.append(f"| {args.clip} | {crf} | {pair[0]['input_frames']} | {' | '.join(cells)} |")
    write_atomic(args.out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
