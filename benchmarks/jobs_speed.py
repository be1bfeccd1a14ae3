"""Long-video jobs on this machine: one pass vs segments vs 1..N local Ray workers.

    python benchmarks/jobs_speed.py --clip ../shared/data/video/traffic_360p30_audio.mp4 \
        --out benchmarks/results/jobs [--model realtime-x2] [--segments 150] [--workers 1 --workers 2]

Each configuration runs the command line as a user would (a fresh process: model open, Ray
start-up and the join included) and is timed wall clock, start to exit:

* ``one pass``: ``--segments off`` (the pipeline of one process, decode/upscale/encode threads);
* ``segments``: ``--segments N`` in this process (what a resumable job costs over one pass);
* ``N workers``: ``--segments N --workers K`` on a local Ray instance.

The segmented runs must give the same video packets (checked, reported); the one pass differs
(its encoder is not pinned to 2 threads and mbtree). Results go to ``OUT/<cpu>.json`` and
``.md``, named after the CPU class as in ``cpu_speed.py``. Stop other work first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_speed import cpu_class  # noqa: E402


def _packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def _run(clip: Path, out: Path, model: str, extra: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "srstream", str(clip), "-o", str(out), "--model", model, *extra],
                       capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(extra)} failed ({r.returncode}): {r.stderr[-1500:]}")
    return seconds, r.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="realtime-x2")
    parser.add_argument("--segments", type=int, default=150)
    parser.add_argument("--workers", type=int, action="append")
    args = parser.parse_args()
    if not args.clip.is_file():
        print(f"skipped: {args.clip} not found (pass --clip)")
        return 0
    from srstream.engine.jobs import plan_segments
    from srstream.sysinfo import collect

    info = collect()
    workers = args.workers or [1, 2]
    configs = [("one pass", ["--segments", "off"]), ("segments", ["--segments", str(args.segments)])]
    configs += [(f"{k} worker{'s' if k > 1 else ''}", ["--segments", str(args.segments), "--workers", str(k)])
                for k in workers]
    import av

    with av.open(str(args.clip)) as c:
        frames = sum(1 for p in c.demux(video=0) if p.size)
    plan = plan_segments(args.clip, args.segments)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        reference = None
        for name, extra in configs:
            out = Path(tmp) / f"{name.replace(' ', '_')}.mp4"
            seconds, log = _run(args.clip, out, args.model, extra)
            packets = _packets(out)
            same = None
            if name != "one pass":
                reference = reference or packets
                same = packets == reference
            rows.append({"config": name, "args": " ".join(extra), "seconds": round(seconds, 2),
                         "fps": round(frames / seconds, 2), "same_packets_as_segments": same})
            print(f"{name:>12}: {seconds:6.1f} s, {frames / seconds:5.1f} fps" + ("" if same is None else
                                                                                  f", same packets: {same}"))
    base = rows[0]["seconds"]
    for row in rows:
        row["vs_one_pass"] = round(base / row["seconds"], 3)
    result = {"cpu": info.cpu.model, "cpu_class": cpu_class(info), "usable_cores": info.cpu.usable_cores,
              "clip": args.clip.name, "frames": frames, "model": args.model, "segment_frames": args.segments,
              "segments": len(plan), "segment_sizes": [s.frames for s in plan],
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    name = cpu_class(info)
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# Long-video jobs: {args.clip.name} ({frames} frames), {args.model}, {info.cpu.model}, "
             f"{info.cpu.usable_cores} cores ({name})", "",
             f"{len(plan)} segments of `--segments {args.segments}` (cut at keyframes: {result['segment_sizes']}); "
             f"wall clock of the whole command, {result['date']}.", "",
             "| configuration | arguments | seconds | fps | vs one pass | same packets as `segments` |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['config']} | `{r['args']}` | {r['seconds']} | {r['fps']} | {r['vs_one_pass']}x | "
              f"{'-' if r['same_packets_as_segments'] is None else r['same_packets_as_segments']} |" for r in rows]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / name}.json/.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
