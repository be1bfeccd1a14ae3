"""Other codecs' quantisers on H.264's scale: equal damage, measured on the shared clips.

    python benchmarks/quantiser_scales.py --video ../shared/data/video \
        --out benchmarks/results/bench/quantiser_scales

``auto`` picks the compressed variant, the stabiliser and the compression strength from a video's
mean H.264 quantiser (:mod:`srstream.engine.compression`). FFmpeg's VP9, MPEG-1/2 and MPEG-4
part 2 decoders export theirs too, on their own scales (VP9's q index 0-255; the MPEG ones twice
the qscale 1-31), so a YouTube VP9 download, a DVD or an old Xvid file ran as clean video however
hard it was compressed. This codes ``--frames`` frames of each clip (from a third in) with libx264
medium at several CRFs (mean decoder quantiser, Y-PSNR against the frames coded), with libvpx-vp9
at several CRFs, with FFmpeg's MPEG-2 and MPEG-4 at several qscales, and with libx265 (medium) and
SVT-AV1 (preset 8) at several CRFs, FFmpeg's MJPEG and libvpx's VP8 at several fixed quantisers
(their quantisers read from the headers as ``sr-stream`` reads them:
:class:`srstream.engine.compression.HeaderTrace`, ``jpeg_quantiser``, ``vp8_quantiser``), reads
each one's equivalent H.264 quantiser off the same clip's x264 curve at equal Y-PSNR, and fits the
mapping :data:`srstream.engine.compression.SCALES` holds: linear in VP9's and AV1's q index and in
HEVC's slice QP, linear in 6 log2 of the MPEG quantisers, of MJPEG's mean luma step and of VP8's
luma AC step (linear step sizes, where H.264's doubles every 6). Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from srstream.bench.results import machine, write_json
from srstream.engine.av_errors import side_data
from srstream.engine.compression import frame_qp, read_compression

CLIPS = ("traffic_360p30_audio.mp4", "bottles_360p30.mp4", "bbb_360p24_60s.mp4", "game_voxel_720p30.mp4")
X264_CRFS = (14, 18, 23, 28, 33, 38, 43, 48)
VP9_CRFS = (15, 25, 35, 45, 55, 63)
MPEG2_QSCALES = (2, 3, 5, 8, 12, 18, 31)
X265_CRFS = (14, 20, 26, 32, 38, 44)
SVTAV1_CRFS = (20, 30, 40, 50, 58, 63)
#: The codecs coded through a container and read back as a file is (their quantisers are in their headers).
MUXED = {"libx265": "hevc", "libsvtav1": "av1", "mjpeg": "mjpeg", "libvpx": "vp8"}
MJPEG_QSCALES = (1, 2, 3, 5, 8, 12, 18, 31)
VP8_QUANTISERS = (4, 10, 20, 30, 40, 50, 63)  # libvpx's 0-63: index 0-127 in the headers, AC step 4-284


def _frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames from a third into ``path`` (a film's opening titles are no sample of it) as
    yuv420p arrays, 640 pixels wide at most."""
    import av

    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            container.seek((stream.start_time or 0) + stream.duration // 3, stream=stream)
        for frame in container.decode(stream):
            if frame.width > 640:
                frame = frame.reformat(width=640, height=round(frame.height * 640 / frame.width / 2) * 2,
                                       format="yuv420p", interpolation="AREA")
            out.append(frame.to_ndarray(format="yuv420p"))
            if len(out) == count:
                break
    return out


def round_trip(frames: list[np.ndarray], codec: str, options: dict[str, str]) -> tuple[list[np.ndarray], float]:
    """``frames`` (yuv420p arrays) coded as one stream with ``codec`` (``options``; ``qscale``: a
    fixed MPEG quantiser) and decoded: the decoded yuv420p arrays in display order, and the
    decoder's mean quantiser on its own scale."""
    import av

    if codec in MUXED:
        return _muxed_round_trip(frames, codec, options)
    h, w = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.framerate = Fraction(30)
    if "qscale" in options:  # a fixed MPEG qscale: its rate control held between equal bounds
        enc.qmin = enc.qmax = int(options["qscale"])
        enc.bit_rate = 50_000_000
    else:
        enc.options = options
    packets = []
    for t, planes in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = t
        packets += enc.encode(frame)
    packets += enc.encode(None)
    dec = av.CodecContext.create({"libx264": "h264", "libvpx-vp9": "vp9"}.get(codec, codec), "r")
    dec.options = {"export_side_data": "venc_params"}
    if codec in ("mpeg2video", "mpeg4"):
        dec.extradata = enc.extradata
    decoded, qps = [], []
    for packet in [*packets, None]:
        for frame in dec.decode(packet):
            decoded.append((frame.pts or 0, frame.to_ndarray(format="yuv420p")))
            qps += [frame_qp(d) for d in side_data(frame) if d.type.name == "VIDEO_ENC_PARAMS"]
    decoded.sort(key=lambda item: item[0])
    return [planes for _, planes in decoded], float(np.mean(qps))


def _muxed_round_trip(frames: list[np.ndarray], codec: str, options: dict[str, str]) -> tuple[list[np.ndarray], float]:
    """:func:`round_trip` through a Matroska file in memory: its quantiser read by
    :func:`~srstream.engine.compression.read_compression` from the file's headers, as a run reads it."""
    import io

    import av

    memory = io.BytesIO()
    with av.open(memory, "w", format="matroska") as out:
        stream = out.add_stream(codec, rate=30, options={k: v for k, v in options.items() if k != "qscale"})
        # MJPEG takes full-range 4:2:0 only: the same samples, so labelled (not converted) both ways
        layout = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.height, stream.width, stream.pix_fmt = frames[0].shape[0] * 2 // 3, frames[0].shape[1], layout
        if "qscale" in options:  # as round_trip holds it
            stream.codec_context.qmin = stream.codec_context.qmax = int(options["qscale"])
            stream.codec_context.bit_rate = 50_000_000
        for t, planes in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(planes, format=layout)
            frame.pts = t
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(io.BytesIO(memory.getvalue())) as container:
        found = read_compression(container, container.streams.video[0], len(frames), spread=False)
    with av.open(io.BytesIO(memory.getvalue())) as container:
        decoded = [frame.to_ndarray() for frame in container.decode(video=0)]
    return decoded, float(np.mean(found.qp))


def _code(frames: list[np.ndarray], codec: str, options: dict[str, str]) -> tuple[float, float]:
    """``frames`` through :func:`round_trip`: the decoder's mean quantiser and the mean Y-PSNR."""
    h = frames[0].shape[0] * 2 // 3
    decoded, qp = round_trip(frames, codec, options)
    psnrs = []
    for got, want in zip(decoded, frames):
        mse = np.mean((got[:h].astype(np.float64) - want[:h].astype(np.float64)) ** 2)
        psnrs.append(10 * math.log10(255 ** 2 / max(mse, 1e-10)))
    return qp, float(np.mean(psnrs))


def _equivalent(curve: list[tuple[float, float]], psnr: float) -> float | None:
    """The H.264 quantiser of ``psnr`` on a clip's (quantiser, PSNR) curve; None outside it."""
    points = sorted(curve, key=lambda p: p[1])
    psnrs, qps = [p[1] for p in points], [p[0] for p in points]
    if not psnrs[0] <= psnr <= psnrs[-1]:
        return None
    return float(np.interp(psnr, psnrs, qps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path("../shared/data/video"))
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench/quantiser_scales"))
    args = parser.parse_args(argv)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1's banner at every stream: errors only
    clips = [args.video / name for name in CLIPS if (args.video / name).exists()]
    if not clips:
        print(f"no clips in {args.video}; pass --video", file=sys.stderr)
        return 2
    rows: dict[str, list[dict]] = {"vp9": [], "mpeg2video": [], "mpeg4": [], "hevc": [], "av1": [], "mjpeg": [],
                                   "vp8": []}
    curves = {}
    for clip in clips:
        frames = _frames(clip, args.frames)
        curve = [_code(frames, "libx264", {"crf": str(c), "preset": "medium"}) for c in X264_CRFS]
        curves[clip.name] = curve
        print(clip.name, "x264", [(round(q, 1), round(p, 2)) for q, p in curve], flush=True)
        for codec, settings in (("vp9", [{"crf": str(c), "b": "0", "deadline": "good", "cpu-used": "4"}
                                         for c in VP9_CRFS]),
                                ("mpeg2video", [{"qscale": str(q)} for q in MPEG2_QSCALES]),
                                ("mpeg4", [{"qscale": str(q)} for q in MPEG2_QSCALES]),
                                ("hevc", [{"crf": str(c), "preset": "medium", "x265-params": "log-level=error"}
                                          for c in X265_CRFS]),
                                ("av1", [{"crf": str(c), "preset": "8", "svtav1-params": "svt-log-level=1"}
                                         for c in SVTAV1_CRFS]),
                                ("mjpeg", [{"qscale": str(q)} for q in MJPEG_QSCALES]),
                                ("vp8", [{"qscale": str(q)} for q in VP8_QUANTISERS])):
            encoder = {"vp9": "libvpx-vp9", "hevc": "libx265", "av1": "libsvtav1", "vp8": "libvpx"}.get(codec, codec)
            for options in settings:
                qp, psnr = _code(frames, encoder, options)
                eq = _equivalent(curve, psnr)
                rows[codec].append({"clip": clip.name, "options": options, "quantiser": qp, "psnr": psnr,
                                    "h264_qp": eq})
                print(clip.name, codec, options.get("crf", options.get("qscale")), round(qp, 1), round(psnr, 2),
                      None if eq is None else round(eq, 1), flush=True)
    fits = {}
    for codec, scale in (("vp9", lambda q: q), ("mpeg2video", lambda q: 6 * math.log2(q)),
                         ("mpeg4", lambda q: 6 * math.log2(q)), ("hevc", lambda q: q), ("av1", lambda q: q),
                         ("mjpeg", lambda q: 6 * math.log2(q)), ("vp8", lambda q: 6 * math.log2(q))):
        points = [(scale(r["quantiser"]), r["h264_qp"]) for r in rows[codec] if r["h264_qp"] is not None]
        x, y = np.array([p[0] for p in points]), np.array([p[1] for p in points])
        slope, offset = np.polyfit(x, y, 1) if len(set(x)) > 1 else (0.0, float(np.mean(y)))
        residual = y - (offset + slope * x)
        fits[codec] = {"offset": float(offset), "slope": float(slope), "points": len(points),
                       "rms_error": float(np.sqrt(np.mean(residual ** 2))), "max_error": float(np.abs(residual).max())}
        print(codec, fits[codec], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out.with_suffix(".json"), {"machine": machine(), "frames": args.frames, "x264": curves,
                                                "rows": rows, "fits": fits})
    cpu = machine()["cpu"]
    lines = [f"# Other codecs' quantisers on H.264's scale ({args.frames} frames of each clip from a third in; "
             f"{cpu['model']}, {cpu['microarchitecture']}; the fit does not depend on the CPU)",
             "", "Equivalent H.264 quantiser = offset + slope * x, x = VP9's or AV1's q index (0-255), HEVC's slice QP",
             "(from the headers: blocks' offsets left out), or 6 log2 of the MPEG decoders' quantiser (twice the",
             "qscale), of MJPEG's mean luma quantisation step or of VP8's luma AC step;",
             "read at equal Y-PSNR off each clip's libx264 medium curve.", "",
             "| codec | offset | slope | points | rms error | max error |", "|---|---:|---:|---:|---:|---:|"]
    for codec, fit in fits.items():
        lines.append(f"| {codec} | {fit['offset']:.2f} | {fit['slope']:.4f} | {fit['points']} | "
                     f"{fit['rms_error']:.2f} | {fit['max_error']:.2f} |")
    lines += ["", "| clip | codec | setting | mean quantiser | Y-PSNR | H.264 equivalent |",
              "|---|---|---:|---:|---:|---:|"]
    for codec, items in rows.items():
        for r in items:
            setting = r["options"].get("crf", r["options"].get("qscale"))
            eq = "-" if r["h264_qp"] is None else f"{r['h264_qp']:.1f}"
            lines.append(f"| {r['clip']} | {codec} | {setting} | {r['quantiser']:.1f} | {r['psnr']:.2f} | {eq} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
