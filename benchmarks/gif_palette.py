"""How a GIF output's 256 colours a frame are made: FFmpeg's recipe against Pillow's quantisers.

    python benchmarks/gif_palette.py --data ../shared/data --out benchmarks/results/bench/gif_palette_spr

A GIF output (``sr-stream anim.gif -o out.gif``) runs each upscaled frame through FFmpeg's
``palettegen`` (``stats_mode=single``) and ``paletteuse`` (``new=1``, sierra2_4a error diffusion):
:class:`srstream.engine.encode.GifPalette`. That is most of the run's time. This times it per frame
beside two cheaper ways, on the first ``--frames`` frames of each clip scaled to 640x360:

* ``pillow-octree``: Pillow's fast octree palette, then Floyd-Steinberg dithering onto it;
* ``ffmpeg+pillow``: FFmpeg's ``palettegen`` palette, Pillow's Floyd-Steinberg mapping onto it.

Scored by RGB PSNR against the frame before quantising, and by how much pixels that
do not change in the source change in the output from one frame to the next (mean absolute
difference, levels; a dither that crawls over still content raises it). Needs Pillow
(``pip install pillow``, in the ``train`` extra). Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from srstream.atomic import write_atomic
from srstream.bench.results import machine, write_json
from srstream.engine.encode import GifPalette

CLIPS = ("traffic_360p30_audio.mp4", "bbb_1080p30_5s.mp4", "screen_desktop_720p60.mp4")
SIZE = (640, 360)


def frames_of(path: Path, count: int) -> list[np.ndarray]:
    import av
    import cv2

    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(cv2.resize(frame.to_ndarray(format="rgb24"), SIZE, interpolation=cv2.INTER_AREA))
            if len(out) == count:
                break
    return out


class _PaletteOnly:
    """FFmpeg's ``palettegen`` alone: a frame's 256 colours, as (256, 3) uint8."""

    def __init__(self) -> None:
        import av.filter

        graph = av.filter.Graph()
        source = graph.add_buffer(width=SIZE[0], height=SIZE[1], format="rgb24", time_base=Fraction(1, 1000))
        make, sink = graph.add("palettegen", "stats_mode=single"), graph.add("buffersink")
        source.link_to(make)
        make.link_to(sink)
        graph.configure()
        self.graph, self.pts = graph, 0

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import av

        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = self.pts, Fraction(1, 1000)
        self.pts += 1
        self.graph.push(frame)
        return self.graph.pull().to_ndarray(format="rgb24").reshape(-1, 3)


def methods() -> dict:
    from PIL import Image

    ffmpeg = GifPalette(*SIZE)
    palettes = _PaletteOnly()

    def octree(rgb: np.ndarray) -> np.ndarray:
        image = Image.fromarray(rgb)
        palette = image.quantize(256, method=Image.Quantize.FASTOCTREE)
        return np.asarray(image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB"))

    def hybrid(rgb: np.ndarray) -> np.ndarray:
        palette = Image.new("P", (1, 1))
        palette.putpalette(palettes(rgb).ravel().tolist())
        return np.asarray(Image.fromarray(rgb).quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
                          .convert("RGB"))

    return {"ffmpeg (shipped)": lambda rgb: ffmpeg(rgb).to_ndarray(format="rgb24"), "pillow-octree": octree,
            "ffmpeg+pillow": hybrid}


def score(frames: list[np.ndarray], quantised: list[np.ndarray]) -> tuple[float, float]:
    """Mean RGB PSNR, and the mean change of pixels the source holds still, frame to frame."""
    psnr = np.mean([10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b) ** 2))
                    for a, b in zip(frames, quantised)])
    changes = []
    for a, b, qa, qb in zip(frames, frames[1:], quantised, quantised[1:]):
        still = (a == b).all(2)
        if still.any():
            changes.append(float(np.abs(qa.astype(np.int16) - qb)[still].mean()))
    return float(psnr), float(np.mean(changes)) if changes else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (its video/ clips)")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True, help="OUT.json and OUT.md are written")
    args = parser.parse_args()
    if importlib.util.find_spec("PIL") is None:
        print("gif_palette.py needs Pillow: pip install pillow", file=sys.stderr)
        return 2
    rows = []
    for clip in CLIPS:
        path = args.data / "video" / clip
        if not path.is_file():
            print(f"skipping {clip}: not in {args.data / 'video'}", file=sys.stderr)
            continue
        frames = frames_of(path, args.frames)
        for name, quantise in methods().items():
            quantise(frames[0])  # warm up (graphs configured, caches made)
            started = time.perf_counter()
            quantised = [quantise(f) for f in frames]
            ms = 1000 * (time.perf_counter() - started) / len(frames)
            psnr, change = score(frames, quantised)
            rows.append({"clip": clip, "method": name, "ms_per_frame": round(ms, 1), "psnr_rgb": round(psnr, 2),
                         "still_change": round(change, 3)})
            print(rows[-1], file=sys.stderr)
    write_json(args.out.with_suffix(".json"), {"machine": machine(), "frames": args.frames, "size": SIZE, "rows": rows})
    lines = [f"GIF palettes, {args.frames} frames of each clip at {SIZE[0]}x{SIZE[1]}: ms per frame (one thread), RGB "
             "PSNR (dB) against the frame before quantising, and the frame-to-frame change of pixels the source "
             "holds still (levels). `python benchmarks/gif_palette.py --data ../shared/data --out ...`", "",
             "| clip | method | ms / frame | PSNR | still-pixel change |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['clip']} | {r['method']} | {r['ms_per_frame']} | {r['psnr_rgb']} | {r['still_change']} |"
              for r in rows]
    write_atomic(args.out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
