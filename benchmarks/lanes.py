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
(the CPU class as ``benchmarks/cpu_speed.py`` names it). The harness is ``region_reuse.py``'s.
Stop other work first.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from region_reuse import speedup, alternate, options, record  # noqa: E402

DEFAULT_CLIPS = ("traffic_360p30_audio.mp4", "bbb_360p24_60s.mp4", "game_voxel_720p30.mp4")


def main() -> int:
    args = options(__doc__, 30.0)
    rows = alternate(args, DEFAULT_CLIPS, (("lanes", [], {}), ("one", [], {"SRSTREAM_LANES": "1"})))
    header = ("| clip | round | frames | what ran | fps, lanes (default) | fps, SRSTREAM_LANES=1 | speed-up | "
              "same output |\n|---|---:|---:|---|---:|---:|---:|---|")
    return record(args, rows, "Two frames at a time through the network (lanes) against one, end to end", header,
                  lambda r: f"| {r['clip']} | {r['round']} | {r['frames']} | {r['model']} | {r['lanes_fps']} | "
                            f"{r['one_fps']} | {speedup(r['lanes_fps'], r['one_fps'])} | "
                            f"{'yes' if r['same_output'] else '**no**'} |")


if __name__ == "__main__":
    sys.exit(main())
