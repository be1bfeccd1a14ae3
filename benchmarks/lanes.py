"""`sr-stream CLIP` with a file's frames two at a time through the network (lanes, the default) and
one at a time (``SRSTREAM_LANES=1``), alternated: end-to-end fps and the same output.

    python benchmarks/lanes.py --data ../shared/data --out benchmarks/results/bench/lanes \
        [--clip traffic_360p30_audio.mp4 ...] [--seconds 30] [--rounds 2] [-- EXTRA sr-stream OPTIONS]

Each clip (a name under ``DATA/video`` or a path) is upscaled with every default, its first
``--seconds``, by the installed ``sr-stream`` command, once each way, in turn for ``--rounds``
rounds so that a slow spell of the machine falls on both. fps is the run's own end-to-end figure.
The outputs of every pair are compared frame by frame (FFmpeg's ``framemd5``). On the CPU the
backends give the same samples in either mode on a Zen 4; where a kernel chosen for one thread rounds
an fp32 sum otherwise, "same output" says no. Results: ``OUT/<cpu>.json`` and ``OUT/<cpu>.md``
(the CPU class as ``benchmarks/cpu_speed.py`` names it). Stop other work first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CLIPS = ("traffic_360p30_audio.mp4", "bbb_360p24_60s.mp4", "game_voxel_720p30.mp4")
WAYS = (("lanes", {}), ("one", {"SRSTREAM_LANES": "1"}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clip", action="append", help="a clip under DATA/video or a path (default: three)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="after --: more sr-stream options for both runs")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cpu_speed import cpu_class
    from region_reuse import _frame_hashes, _run

    from srstream.sysinfo import collect

    info = collect()
    clips = [Path(c) if Path(c).is_file() else args.data / "video" / c for c in (args.clip or DEFAULT_CLIPS)]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        raise SystemExit(f"not found: {', '.join(missing)} (give --data or a clip's path)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            for rnd in range(args.rounds):
                pair = {}
                for label, env in WAYS:
                    out = Path(tmp) / f"{label}.mkv"
                    pair[label] = _run(clip, out, args.seconds, args.extra, env)
                    pair[label]["hashes"] = _frame_hashes(out)
                row = {"clip": clip.name, "round": rnd + 1, "frames": len(pair["one"]["hashes"]),
                       "same_output": pair["lanes"]["hashes"] == pair["one"]["hashes"],
                       **{f"{k}_{f}": pair[k][f] for k in pair for f in ("fps", "wall_s")}, "model": pair["one"]["model"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    name = cpu_class(info)
    args.out.mkdir(parents=True, exist_ok=True)
    features = sorted(k for k, v in info.cpu.features.items() if v)
    record = {"cpu": info.cpu.model, "cpu_class": name, "features": features, "seconds": args.seconds,
              "extra": args.extra, "date": time.strftime("%Y-%m-%d"), "runs": rows}
    (args.out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = [f"# Two frames at a time through the network (lanes) against one, end to end, {name}",
             "", f"CPU: {info.cpu.model} ({name}); {time.strftime('%Y-%m-%d')}; the first {args.seconds:g} s of each "
             f"clip, every default{' plus ' + ' '.join(args.extra) if args.extra else ''}; the two runs alternated.",
             "", "| clip | round | frames | what ran | fps, lanes (default) | fps, SRSTREAM_LANES=1 | speed-up | "
             "same output |", "|---|---:|---:|---|---:|---:|---:|---|"]
    for r in rows:
        up = r["lanes_fps"] / r["one_fps"] if r["lanes_fps"] and r["one_fps"] else float("nan")
        lines.append(f"| {r['clip']} | {r['round']} | {r['frames']} | {r['model']} | {r['lanes_fps']} | "
                     f"{r['one_fps']} | {up:.2f}x | {'yes' if r['same_output'] else '**no**'} |")
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print(args.out / f"{name}.md")
    return 0 if all(r["same_output"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
