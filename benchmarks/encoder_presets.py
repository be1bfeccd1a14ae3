"""What the output encoder costs beside the network, and what each x264 preset buys for it.

    python benchmarks/encoder_presets.py --clip ../shared/data/video/traffic_360p30_audio.mp4 \
        --out benchmarks/results/bench/encoder_presets [--frames 300] [--preset medium --preset veryfast ...] \
        [--crf 16 --crf 18 ...] [--end-to-end medium --end-to-end veryfast]

1. The clip's first ``--frames`` go through sr-stream's file pipeline (``--model`` as `auto` runs
   it) into a lossless x264 file: those frames are exactly what the encoder of a normal run
   receives (4:2:0; 8-bit BT.601/709 inputs, which is what the shared clips are).
2. They are encoded again with each preset x CRF, alone on the
   machine (x264's own threads, as in a run): milliseconds per frame, kbit/s at the clip's
   frame rate, and the Y-PSNR of the decoded result against the lossless frames (what the
   encoder loses; the network's own error is not in it).
3. ``--end-to-end`` runs the whole pipeline (decode + upscale + encode) with those presets,
   interleaved, and reports fps.

Results: ``OUT.json`` and ``OUT.md``. Stop other work first: nothing here corrects for a busy
machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def lossless_reference(method, clip: Path, tmp: Path,  # noqa: ANN001 - a bench Method
                       frames: int) -> tuple[list[np.ndarray], Fraction, dict]:
    import av

    from srstream.engine.video import EncodeOptions, upscale_video

    head = tmp / "head.mkv"  # the clip's first frames, losslessly: the same pixels in, a shorter run
    with av.open(str(clip)) as c, av.open(str(head), "w") as o:
        src = c.streams.video[0]
        s = o.add_stream("libx264", rate=src.average_rate or Fraction(30))
        s.width, s.height, s.pix_fmt = src.codec_context.width, src.codec_context.height, "yuv420p"
        s.options = {"crf": "0", "preset": "ultrafast"}
        for i, f in enumerate(c.decode(src)):
            if i >= frames:
                break
            frame = av.VideoFrame.from_ndarray(f.to_ndarray(format="yuv420p"), format="yuv420p")
            frame.pts = i
            for packet in s.encode(frame):
                o.mux(packet)
        for packet in s.encode(None):
            o.mux(packet)
    out = tmp / "lossless.mkv"
    report = upscale_video(head, out, method.upscaler, EncodeOptions(crf=0, preset="ultrafast"))
    planes: list[np.ndarray] = []
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        rate = stream.average_rate or Fraction(30)
        for f in c.decode(stream):
            planes.append(f.to_ndarray(format="yuv420p"))
            if len(planes) >= frames:
                break
    return planes, rate, {"model": method.info.name, "frames_upscaled": report.frames_in}


def _psnr_y(a: np.ndarray, b: np.ndarray, height: int) -> float:
    d = a[:height].astype(np.float64) - b[:height].astype(np.float64)
    mse = float(np.mean(d * d))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def encode(planes: list[np.ndarray], rate: Fraction, preset: str, crf: int, tmp: Path) -> dict[str, float]:
    import av

    height = planes[0].shape[0] * 2 // 3
    width = planes[0].shape[1]
    path = tmp / f"{preset}_{crf}.mp4"
    with av.open(str(path), "w") as o:
        s = o.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": str(crf), "preset": preset}
        frames = [av.VideoFrame.from_ndarray(p, format="yuv420p") for p in planes]
        t = time.perf_counter()
        for f in frames:
            for packet in s.encode(f):
                o.mux(packet)
        for packet in s.encode(None):
            o.mux(packet)
        seconds = time.perf_counter() - t
    size = path.stat().st_size
    scores = []
    with av.open(str(path)) as c:
        for ref, f in zip(planes, c.decode(c.streams.video[0])):
            scores.append(_psnr_y(ref, f.to_ndarray(format="yuv420p"), height))
    path.unlink()
    n = len(planes)
    return {"preset": preset, "crf": crf, "ms_per_frame": round(seconds / n * 1000, 2),
            "kbit_s": round(size * 8 / 1000 / (n / float(rate)), 0), "psnr_y": round(float(np.mean(scores)), 3),
            "psnr_y_min": round(float(np.min(scores)), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="results stem: OUT.json and OUT.md")
    parser.add_argument("--model", default="realtime-x2", help="bundled model, run as `auto` runs it")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--preset", action="append", help="x264 presets (default: medium, faster, veryfast, superfast)")
    parser.add_argument("--crf", type=int, action="append", help="CRFs (default: 14, 16, 18, 20)")
    parser.add_argument("--end-to-end", action="append", default=[], metavar="PRESET:CRF",
                        help="also time the whole pipeline on the clip with these settings (repeatable; interleaved)")
    parser.add_argument("--rounds", type=int, default=2, help="end-to-end rounds per preset")
    args = parser.parse_args()
    if not args.clip.is_file():
        print(f"{args.clip}: no such clip (the shared data is not here?)", file=sys.stderr)
        return 2
    import av

    from srstream.bench import speed
    from srstream.bench.methods import open_method
    from srstream.bench.results import machine

    with av.open(str(args.clip)) as c:
        size = (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height)
    method = open_method(args.model, size=size)
    presets = args.preset or ["medium", "faster", "veryfast", "superfast"]
    crfs = args.crf or [14, 16, 18, 20]
    with tempfile.TemporaryDirectory(prefix="sr-stream-enc-") as tmp:
        planes, rate, ref = lossless_reference(method, args.clip, Path(tmp), args.frames)
        rows = []
        for preset in presets:
            for crf in crfs:
                rows.append(encode(planes, rate, preset, crf, Path(tmp)))
                print(json.dumps(rows[-1]), flush=True)
    e2e: dict[str, list[float]] = {p: [] for p in args.end_to_end}
    if e2e:
        from srstream.engine.encode import EncodeOptions

        for _ in range(args.rounds):
            for setting in e2e:
                preset, crf = setting.split(":")
                options = EncodeOptions(preset=preset, crf=int(crf))
                e2e[setting].append(speed.end_to_end(method, args.clip, options)["fps"])
                print(f"end to end, {setting}: {e2e[setting][-1]} fps", flush=True)
    method.close()
    m = machine()["cpu"]
    cpu = (f"{m['model']} ({', '.join(k for k, v in m['features'].items() if v)}), "
           f"{m['usable_cores']} cores")
    result = {"cpu": cpu, "clip": args.clip.name, "frames": len(planes), "size": list(planes[0].shape),
              "machine": machine(), "reference": ref, "encodes": rows, "end_to_end_fps": e2e,
              "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    h = planes[0].shape[0] * 2 // 3
    lines = [f"# x264 presets on sr-stream's output: {args.clip.name}, {len(planes)} frames "
             f"{planes[0].shape[1]}x{h} ({ref['model']})", "",
             f"{cpu}; {result['date']}. Encoder alone on the machine, x264's own threads. Y-PSNR of the "
             "decoded encode against the lossless frames the encoder was given (the encoder's loss only).", "",
             "| preset | CRF | ms / frame | kbit/s | Y-PSNR dB | min |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['preset']} | {r['crf']} | {r['ms_per_frame']} | {r['kbit_s']:.0f} | {r['psnr_y']} | "
              f"{r['psnr_y_min']} |" for r in rows]
    if e2e:
        lines += ["", "End to end (decode + upscale + encode, preset:CRF), rounds interleaved:", ""]
        lines += [f"- {p}: {', '.join(f'{v:.1f}' for v in fps)} fps" for p, fps in e2e.items()]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
