"""The compressed-video variant against the default on lossy JPEG, WebP, AVIF and HEIC stills: where it wins.

    python benchmarks/lossy_stills_variant.py --data ../shared/data --format jpeg \
        --out benchmarks/results/bench/jpeg_stills_variant

Pictures met on the web, in chats and in old photo collections are JPEGs, lossy WebPs or AVIFs,
most of them well below the quality a camera stores; phones store HEICs. Each Set5, Set14 and
BSD100 image is downscaled x2 (``--scale 4``: x4) as the benchmark protocol does (MATLAB bicubic), stored at each
``--quality`` (OpenCV's libjpeg, 4:2:0, as most JPEGs are; its libwebp; its libavif on libaom;
``avif-svt``: FFmpeg's AVIF muxer on SVT-AV1, each ``--quality`` its CRF; or pillow-heif's libheif
on x265), decoded, upscaled by ``realtime-xS`` and ``realtime-xS-compressed``
(fp32 ONNX Runtime) and scored on Y against the HR image (the protocol's border). Beside each
quality: the picture's own quantiser (a JPEG's mean luma quantisation step,
:func:`srstream.engine.compression.jpeg_quantiser`; a WebP's VP8 luma AC step,
:func:`~srstream.engine.compression.webp_quantiser`; an AVIF's AV1 q index or a HEIC's slice QP,
:func:`~srstream.engine.compression.picture_quantiser`) and what it maps to on H.264's scale
(:data:`srstream.engine.compression.SCALES`, fitted on MJPEG, VP8, AV1 and HEVC video, and for an
AVIF or a HEIC :data:`~srstream.engine.compression.PICTURE_OFFSETS`, fitted on this benchmark's
AVIF and HEIC results), the number ``auto`` compares with the variant's threshold. Writes
``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from srstream.bench.methods import open_method
from srstream.bench.results import machine, write_json
from srstream.engine.compression import PICTURE_OFFSETS, Compression, jpeg_quantiser, picture_quantiser, webp_quantiser
from srstream.evalset import BenchmarkSet

SETS = ("Set5", "Set14", "BSD100")
QUALITIES = (30, 50, 70, 80, 90, 95)
#: AVIF's and HEIC's: their quantisers cross the variant's threshold at higher qualities than JPEG's.
PICTURE_QUALITIES = (20, 30, 40, 50, 60, 70, 80, 90, 95)
#: SVT-AV1's CRFs (0-63, lower is finer) for ``--format avif-svt``.
SVT_CRFS = (5, 10, 15, 20, 25, 30, 40, 50)


def _picture(data: bytes) -> float | None:
    found = picture_quantiser(io.BytesIO(data))
    return None if found is None else found[1]


#: --format: OpenCV's suffix and quality flag (None: pillow-heif's), the quantiser read from the
#: file, the codec its fit is of, the quantiser's name.
FORMATS = {"jpeg": (".jpg", cv2.IMWRITE_JPEG_QUALITY, jpeg_quantiser, "mjpeg", "mean luma step"),
           "webp": (".webp", cv2.IMWRITE_WEBP_QUALITY, webp_quantiser, "vp8", "VP8 luma AC step"),
           "avif": (".avif", cv2.IMWRITE_AVIF_QUALITY, _picture, "av1", "AV1 q index"),
           "avif-svt": (".avif", None, _picture, "av1", "AV1 q index"),
           "heic": (".heic", None, _picture, "hevc", "HEVC slice QP")}


def lossy_round_trip(rgb: np.ndarray, quality: int, kind: str) -> tuple[np.ndarray, float | None]:
    """``rgb`` stored as a ``kind`` picture at ``quality`` and decoded; and its own quantiser."""
    suffix, flag, quantiser, _, _ = FORMATS[kind]
    if kind == "avif-svt":  # FFmpeg's AVIF muxer on SVT-AV1 (PyAV's own FFmpeg), ``quality`` its CRF
        import av

        os.environ.setdefault("SVT_LOG", "1")  # errors only
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="avif") as out:
            stream = out.add_stream("libsvtav1", rate=1)
            stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
            stream.options = {"crf": str(quality), "preset": "8"}
            for packet in [*stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")), *stream.encode(None)]:
                out.mux(packet)
        data = buffer.getvalue()
        with av.open(io.BytesIO(data)) as coded:
            return next(coded.decode(video=0)).to_ndarray(format="rgb24"), quantiser(data)
    if flag is None:  # HEIC: libheif's x265 through pillow-heif, 4:2:0
        import pillow_heif

        heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=rgb.tobytes())
        buffer = io.BytesIO()
        heif.save(buffer, quality=quality)
        data = buffer.getvalue()
        return np.asarray(pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False))[:, :, :3], quantiser(data)
    data = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [flag, quality])[1].tobytes()
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return decoded, quantiser(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--format", choices=tuple(FORMATS), default="jpeg")
    parser.add_argument("--scale", type=int, choices=(2, 4), default=2)
    parser.add_argument("--quality", type=int, action="append",
                        help=f"qualities (default {QUALITIES}; AVIF, HEIC: {PICTURE_QUALITIES}; avif-svt: its CRFs, "
                             f"{SVT_CRFS})")
    parser.add_argument("--out", type=Path, help="default benchmarks/results/bench/FORMAT_stills_variant[_x4]")
    args = parser.parse_args(argv)
    out = args.out or Path(f"benchmarks/results/bench/{args.format}_stills_variant{'_x4' if args.scale == 4 else ''}")
    codec = FORMATS[args.format][3]
    offset = PICTURE_OFFSETS[codec] if args.format in ("avif", "avif-svt", "heic") else 0.0
    sets = [name for name in SETS if (args.data / "val" / name).is_dir()]
    if not sets:
        print(f"no benchmark sets in {args.data / 'val'}; pass --data", file=sys.stderr)
        return 2
    default, variant = models = (f"realtime-x{args.scale}", f"realtime-x{args.scale}-compressed")
    methods = {m: open_method(m, scale=args.scale, backend="ort", precision="fp32") for m in models}
    rows = []
    try:
        for name in sets:
            bench = BenchmarkSet(args.data / "val" / name, args.scale)
            qualities = args.quality or {"avif": PICTURE_QUALITIES, "heic": PICTURE_QUALITIES,
                                         "avif-svt": SVT_CRFS}.get(args.format, QUALITIES)
            for quality in [0, *qualities]:  # 0: the protocol's own LR, no JPEG
                coded = [lossy_round_trip(p.lr, quality, args.format) if quality else (p.lr, None)
                         for p in bench.pairs]
                steps = [s for _, s in coded if s is not None]
                step = float(np.mean(steps)) if steps else None
                row = {"set": name, "quality": quality or None, "quantiser": step,
                       "h264_qp": Compression(codec, step, 1).h264_qp + offset if step is not None else None}
                for model, run in methods.items():
                    row[model] = bench.score([run(lr) for lr, _ in coded])[0]
                rows.append(row)
                print(name, quality or "clean", None if step is None else round(step, 1),
                      None if row["h264_qp"] is None else round(row["h264_qp"], 1),
                      " ".join(f"{m} {row[m]:.3f}" for m in models), flush=True)
    finally:
        for run in methods.values():
            run.close()
    cpu = machine()["cpu"]
    what = {"jpeg": "JPEG (OpenCV's libjpeg, 4:2:0)", "webp": "lossy WebP (OpenCV's libwebp)",
            "avif": "AVIF (OpenCV's libavif on libaom)", "avif-svt": "AVIF (FFmpeg's muxer on SVT-AV1 preset 8)",
            "heic": "HEIC (pillow-heif's libheif on x265, 4:2:0)"}[args.format]
    article = "an" if args.format.startswith("avif") else "a"
    lines = [f"# The compressed variant on {what.split(' (')[0]} stills (x{args.scale}, fp32 ONNX Runtime; "
             f"{cpu['model']}, {cpu['microarchitecture']}; the scores do not depend on the CPU)", "",
             f"LR: the protocol's MATLAB-bicubic x{args.scale}, stored as {article} {what} at each "
             f"{'CRF' if args.format == 'avif-svt' else 'quality'}; Y-PSNR "
             "(dB) against HR.", "", f"| set | {'CRF' if args.format == 'avif-svt' else 'quality'} | "
             f"{FORMATS[args.format][4]} | H.264 equivalent | {default} | {variant} | gain |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        step = "-" if r["quantiser"] is None else f"{r['quantiser']:.1f}"
        qp = "-" if r["h264_qp"] is None else f"{r['h264_qp']:.1f}"
        gain = r[variant] - r[default]
        lines.append(f"| {r['set']} | {r['quality'] or 'none'} | {step} | {qp} | {r[default]:.2f} | "
                     f"{r[variant]:.2f} | {gain:+.2f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out.with_suffix(".json"), {"machine": machine(), "format": args.format, "scale": args.scale,
                                          "rows": rows})
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
