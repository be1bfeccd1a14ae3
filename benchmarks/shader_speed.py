"""The exported GLSL shaders' speed in FFmpeg's libplacebo filter, beside ONNX Runtime, on this machine.

    python benchmarks/shader_speed.py --out benchmarks/results/shader [--model tiny-x2 --model realtime-x2]

For each model: its shader (``sr-stream export --glsl``) runs on ``--frames`` 640x360 frames through
``ffmpeg -init_hw_device vulkan ... libplacebo=w=...:h=...:custom_shader_path=...``; the same
filter chain without the shader (libplacebo's own scaling) is timed too, and the shader's time is
the difference. On this project's machines the Vulkan device is Mesa's lavapipe (software, on
the CPU), so the figure says what a machine without a GPU gets; on a real GPU the same shader is
far faster (gpu_check.sh can time it there). The shader runs once first so Mesa's compiled-shader
cache is warm. ONNX Runtime's figure is `auto`'s choice at the same size (sr-stream's per-frame
path). Writes ``shader_speed.json`` and ``shader_speed.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _ffmpeg(src: Path, vf: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-init_hw_device", "vulkan", "-i", str(src),
                           "-vf", vf, "-f", "null", "-"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-1500:])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", action="append")
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    from srstream.bench.results import machine
    from srstream.engine.autotune import select
    from srstream.engine.models import resolve_model
    from srstream.export.glsl import read_net, write_glsl

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src.mkv"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=640x360:rate=30", "-frames:v", str(args.frames), "-pix_fmt", "yuv420p", "-c:v",
                        "ffv1", str(src)], check=True)
        for name in args.model or ["tiny-x2", "realtime-x2"]:
            model = resolve_model(name)
            s = model.spec.scale
            shader = Path(tmp) / f"{name}.glsl"
            write_glsl(read_net(model.path), shader)
            chain = f"hwupload,libplacebo=w={640 * s}:h={360 * s}:format=yuv420p{{}},hwdownload,format=yuv420p"
            _ffmpeg(src, chain.format(f":custom_shader_path={shader}"))  # compile once (Mesa caches it)
            with_shader = _ffmpeg(src, chain.format(f":custom_shader_path={shader}"))
            without = _ffmpeg(src, chain.format(""))
            ort = next(r for r in select(model, size=(640, 360)).rows if r.chosen)
            rows.append({"model": name, "frames": args.frames, "shader_s": round(with_shader, 3), "plain_s": round(without, 3),
                         "shader_fps": round(args.frames / max(with_shader - without, 1e-9), 2),
                         "pipeline_fps": round(args.frames / with_shader, 2),
                         "engine": f"{ort.backend} {ort.precision}", "engine_fps": round(ort.fps or 0, 2)})
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    cpu = machine()["cpu"]
    (args.out / "shader_speed.json").write_text(json.dumps({"rows": rows, "machine": machine()}, indent=1) + "\n")
    lines = [f"640x360 frames, {cpu['model']} ({', '.join(f for f, ok in cpu['features'].items() if ok)}), "
             "Vulkan: Mesa lavapipe (software). `python benchmarks/shader_speed.py`", "",
             "| model | shader alone (fps) | whole libplacebo chain (fps) | sr-stream engine, auto (fps) |", "|---|---:|---:|---|"]
    lines += [f"| {r['model']} | {r['shader_fps']:.1f} | {r['pipeline_fps']:.1f} | {r['engine_fps']:.1f} ({r['engine']}) |" for r in rows]
    (args.out / "shader_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
