"""`sr-stream CLIP` with and without `--no-reuse`, alternated: end-to-end fps and the same output.

    python benchmarks/region_reuse.py --data ../shared/data --out benchmarks/results/bench/region_reuse \
        [--clip screen_desktop_720p60.mp4 --clip game_voxel_720p30.mp4 ...] [--seconds 10] [--rounds 2]
        [-- EXTRA sr-stream OPTIONS]

Each clip (a name under ``DATA/video`` or a path) is upscaled with every default, its first
``--seconds`` only, by the installed ``sr-stream`` command: once as it runs by default (the network
run only where a frame changed, ``srstream.engine.reuse``) and once with ``--no-reuse``, the two in
turn for ``--rounds`` rounds so that a machine's slow spell falls on both. fps is the run's own
end-to-end figure (decode, upscale, stabiliser and change cap where the defaults take them, x264
encode); the share of the frames' area the network ran on is the run's summary line. Every pair's
outputs are compared frame by frame (FFmpeg's ``framemd5`` of the decoded video): they must be the
same pictures. Results: ``OUT/<cpu>.json`` and ``OUT/<cpu>.md`` (the CPU class as
``benchmarks/cpu_speed.py`` names it). Stop other work first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_CLIPS = ("screen_desktop_720p60.mp4", "game_voxel_720p30.mp4", "traffic_360p30_audio.mp4",
                 "bbb_360p24_60s.mp4")


def _run(clip: Path, out: Path, seconds: float, extra: list[str], env: dict[str, str] | None = None) -> dict:
    """One ``sr-stream`` run (with ``env`` added to the environment): its fps, wall time, the share of
    the frames' area the network ran on and what ran."""
    command = [shutil.which("sr-stream") or "sr-stream", str(clip), "-o", str(out), "--overwrite",
               "--duration", str(seconds), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    said = done.stdout + done.stderr
    fps = re.search(r"([\d.]+) fps end to end", said)
    share = re.search(r"the network ran on (\d+)% of the frames' area", said)
    model = re.search(r"sr-stream: (\S+ x\d on \S+ \S+)", said)
    return {"fps": float(fps.group(1)) if fps else None, "wall_s": round(wall, 2),
            "network_share": int(share.group(1)) / 100 if share else 1.0, "model": model.group(1) if model else None}


def _frame_hashes(path: Path) -> list[str]:
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
                          capture_output=True, text=True, check=True)
    return [line.rsplit(",", 1)[-1].strip() for line in done.stdout.splitlines() if line and not line.startswith("#")]


def options(doc: str, seconds: float) -> argparse.Namespace:
    """The command line of an alternated comparison (this one's and ``lanes.py``'s)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clip", action="append", help="a clip under DATA/video or a path (default: the script's)")
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="after --: more sr-stream options for both runs")
    return parser.parse_args()


def alternate(args: argparse.Namespace, default_clips: tuple[str, ...],
              ways: tuple[tuple[str, list[str], dict[str, str]], ...]) -> list[dict]:
    """Each clip, ``args.rounds`` times, run once each way (``(label, sr-stream options, environment)``)
    in turn; a row per round: each way's fps, wall time and network share (``LABEL_fps``, ...), the
    frames, what ran and whether every way gave the same decoded frames."""
    clips = [Path(c) if Path(c).is_file() else args.data / "video" / c for c in (args.clip or default_clips)]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        raise SystemExit(f"not found: {', '.join(missing)} (give --data or a clip's path)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            for rnd in range(args.rounds):
                runs = {}
                for label, extra, env in ways:
                    out = Path(tmp) / f"{label}.mkv"
                    runs[label] = _run(clip, out, args.seconds, extra + args.extra, env)
                    runs[label]["hashes"] = _frame_hashes(out)
                last = runs[ways[-1][0]]
                row = {"clip": clip.name, "round": rnd + 1, "frames": len(last["hashes"]),
                       "same_output": all(r["hashes"] == last["hashes"] for r in runs.values()),
                       **{f"{k}_{f}": runs[k][f] for k in runs for f in ("fps", "wall_s", "network_share")},
                       "model": last["model"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def record(args: argparse.Namespace, rows: list[dict], title: str, header: str, line: Callable[[dict], str]) -> int:
    """``OUT/<cpu>.json`` and ``.md`` (``title``, the CPU and the run, then ``header`` and a ``line`` per
    row); 0 when every row gave the same output."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cpu_speed import cpu_class

    from srstream.sysinfo import collect

    info = collect()
    name = cpu_class(info)
    args.out.mkdir(parents=True, exist_ok=True)
    features = sorted(k for k, v in info.cpu.features.items() if v)
    data = {"cpu": info.cpu.model, "cpu_class": name, "features": features,
            "seconds": args.seconds, "extra": args.extra, "date": time.strftime("%Y-%m-%d"), "runs": rows}
    (args.out / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    lines = [f"# {title}, {name}", "", f"CPU: {info.cpu.model} ({name}); {time.strftime('%Y-%m-%d')}; the first "
             f"{args.seconds:g} s of each clip, every default{' plus ' + ' '.join(args.extra) if args.extra else ''}; "
             "the two runs alternated.", "", header, *(line(r) for r in rows)]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print(args.out / f"{name}.md")
    return 0 if all(r["same_output"] for r in rows) else 1


def speedup(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "nan"


def main() -> int:
    args = options(__doc__, 10.0)
    rows = alternate(args, DEFAULT_CLIPS, (("reuse", [], {}), ("whole", ["--no-reuse"], {})))
    header = ("| clip | round | frames | what ran | fps, reuse (default) | fps, --no-reuse | speed-up | "
              "network ran on | same output |\n|---|---:|---:|---|---:|---:|---:|---:|---|")
    def line(r: dict) -> str:
        return (f"| {r['clip']} | {r['round']} | {r['frames']} | {r['model']} | {r['reuse_fps']} | {r['whole_fps']} | "
                f"{speedup(r['reuse_fps'], r['whole_fps'])} | {100 * r['reuse_network_share']:.0f}% | "
                f"{'yes' if r['same_output'] else '**no**'} |")

    return record(args, rows, "Running the network only where frames changed: `sr-stream CLIP` against `--no-reuse`",
                  header, line)


if __name__ == "__main__":
    sys.exit(main())
