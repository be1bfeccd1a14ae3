"""``sr-stream bench quality|speed|grid|report``: quality and speed, side by side with bicubic and peers.

* ``quality --data DIR --scale S --model M [--json OUT.json] [--csv OUT.csv]``: the SR
  literature's protocol on one benchmark folder (Y-PSNR/SSIM, MSE, RGB PSNR, VIF-pixel).
* ``speed --model M --input WxH [--backend B --precision P --tile T] [--clip FILE] [--json OUT]``:
  per-frame latency (p50/p95/p99), fps, output megapixels/s, peak memory; ``--clip`` adds the
  end-to-end fps of decode + upscale + encode on a real clip.
* ``grid --data DIR --scale S --model M ... --out GRID.png``: crops of LR | each model | HR.
* ``report RESULTS_DIR``: markdown tables and plots from the JSON files in a folder.

``--model`` takes ``bicubic``, ``lanczos``, a bundled model, an exported ``.onnx``, a peer name
(``sr-stream bench peers`` lists them) or a peer file (``.pb``, ``.pth``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srstream.commands import Command, add_backend_arguments, frame_size, positive_number, whole_number
from srstream.commands.upscale import tile_size
from srstream.errors import ConfigError, InputError


def _model_options(parser: argparse.ArgumentParser, repeat: bool = False) -> None:
    if repeat:
        parser.add_argument("-m", "--model", action="append", required=True,
                            help="bicubic, lanczos, a bundled model, a .onnx, a peer name or file (repeatable)")
    else:
        parser.add_argument("-m", "--model", required=True,
                            help="bicubic, lanczos, a bundled model, a .onnx, a peer name or a peer file")
    add_backend_arguments(parser, "backend for sr-stream and imported models (default: the fastest one that is "
                                  "accurate here)")
    parser.add_argument("--tile", type=tile_size, default="auto", help="tile size, 0 for whole frames, or auto")
    parser.add_argument("--ensemble", action="store_true",
                        help="x8 self-ensemble (flips and rotations averaged) for models run by the engine")
    parser.add_argument("--peers", type=Path, help="folder of peer models (default: $SRSTREAM_PEERS, "
                        "$SRSTREAM_DATA/peers or ../shared/data/peers)")
    parser.add_argument("--cache", type=Path, help="where imported peers' ONNX files are kept "
                        "(default ~/.cache/sr-stream/peers)")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = sub.add_parser("quality", help="PSNR/SSIM/VIF on a benchmark folder")
    q.add_argument("--data", type=Path, required=True, help="folder of HR images (Set5, Set14, BSD100, ...)")
    q.add_argument("--scale", type=int, choices=(2, 3, 4, 8),
                   help="the factor (default: the model's own; bicubic/lanczos need it)")
    _model_options(q)
    q.add_argument("--limit", type=whole_number(0), default=0, help="only the first N images (0: all)")
    q.add_argument("--json", type=Path, help="write the summary and per-image scores here")
    q.add_argument("--csv", type=Path, help="write per-image scores here (default: beside --json)")
    s = sub.add_parser("speed", help="latency and throughput per frame, or end to end on a clip")
    _model_options(s)
    s.add_argument("--input", type=frame_size, help="input frame size WIDTHxHEIGHT (default 640x360)")
    s.add_argument("--scale", type=int, choices=(2, 3, 4, 8),
                   help="the factor for bicubic/lanczos (default 2); checked against a model's own")
    s.add_argument("--threads", type=int, default=0, help="use only N cores (default: all usable)")
    s.add_argument("--warmup", type=int, default=5)
    s.add_argument("--runs", type=int, default=50, help="timed calls (at least 3; fewer when --max-seconds passes)")
    s.add_argument("--max-seconds", type=positive_number, default=20.0,
                   help="stop timing after this long, once 3 calls are timed (default 20)")
    s.add_argument("--clip", type=Path, help="also run the file pipeline end to end on this video")
    s.add_argument("--json", type=Path)
    g = sub.add_parser("grid", help="a PNG of crops: LR | each model | HR")
    g.add_argument("--data", type=Path, required=True)
    g.add_argument("--scale", type=int, required=True, choices=(2, 3, 4, 8))
    _model_options(g, repeat=True)
    g.add_argument("--images", type=whole_number(1), default=3,
                   help="how many images (the first N, most detailed crop each)")
    g.add_argument("--crop", type=whole_number(0), default=0,
                   help="HR crop size in pixels (default 48 * scale, at most 192)")
    g.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="tables and plots from a folder of result JSON files")
    r.add_argument("results", type=Path)
    pe = sub.add_parser("peers", help="list the peer models known by name, and whether their files are there")
    pe.add_argument("--peers", type=Path, help="folder of peer models (default as for the other actions)")


def _open(args: argparse.Namespace, name: str, scale: int | None):  # noqa: ANN202 - Method
    from srstream.bench.methods import open_method

    return open_method(name, scale=scale, backend=args.backend, precision=args.precision, tile=args.tile,
                       peers_dir=args.peers, cache_dir=args.cache, ensemble=args.ensemble, device=args.device,
                       size=getattr(args, "input", None))


def _quality(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from srstream.bench.methods import INTERPOLATIONS
    from srstream.bench.quality import evaluate, write_result
    from srstream.evalset import BenchmarkSet

    if args.scale is None and args.model in INTERPOLATIONS:
        raise ConfigError(f"{args.model} upscales by any factor: give --scale 2, 3, 4 or 8")
    with _open(args, args.model, args.scale) as method:
        scale = args.scale or method.info.scale  # a model's own, where not given (and checked against it where given)
        bench = BenchmarkSet(args.data, scale, limit=args.limit)
        print(f"sr-stream bench: {method.info.name} x{scale} on {bench.folder.name} ({len(bench.pairs)} images), "
              f"{method.info.runtime}", file=sys.stderr)
        with tqdm(total=len(bench.pairs), unit="image", file=sys.stderr, disable=None, leave=False) as bar:
            result = evaluate(method, bench, bar.update)
    summary = result.summary()
    print(f"{result.dataset} x{result.scale} {result.model}: Y-PSNR {summary['psnr_y']:.3f} dB, "
          f"Y-SSIM {summary['ssim_y']:.4f}, VIF-p {summary['vifp_y']:.4f}, RGB-PSNR {summary['psnr_rgb']:.3f} dB "
          f"(bicubic {summary['bicubic_psnr_y']:.3f} / {summary['bicubic_ssim_y']:.4f}); "
          f"{summary['seconds_per_image']:.3f} s per image")
    write_result(result, method.info, str(args.data), args.json, args.csv)
    return 0


def _speed(args: argparse.Namespace) -> int:
    from srstream.bench import speed
    from srstream.bench.results import record, write_json

    if args.runs < 1 or args.warmup < 0 or args.threads < 0:
        raise ConfigError("--runs must be >= 1, --warmup >= 0 and --threads >= 0 (0: every usable core)")
    cores = speed.limit_threads(args.threads)
    width, height = args.input or (640, 360)
    if args.clip and not args.clip.is_file():  # (said after the whole per-frame benchmark had run)
        raise InputError(f"--clip {args.clip}: no such file" if not args.clip.exists() else
                         f"--clip {args.clip}: not a file; name a video")
    speed.reset_peak_rss()
    from srstream.bench.methods import INTERPOLATIONS

    scale = args.scale or (2 if args.model in INTERPOLATIONS else None)  # interpolation: x2 unless told
    with _open(args, args.model, scale) as method:
        print(f"sr-stream bench: {method.info.name} {width}x{height} x{method.info.scale}, {method.info.runtime}, "
              f"{cores} core(s)", file=sys.stderr)
        fields: dict[str, object] = {
            "model": method.info.name, "backend": method.info.backend, "precision": method.info.precision,
            "input": f"{width}x{height}", "scale": method.info.scale, "tile": str(args.tile), "threads": cores}
        settings = speed.SpeedSettings(args.warmup, args.runs, args.max_seconds)
        fields.update(speed.per_frame(method, width, height, settings))
        fields["peak_rss_mib"] = speed.peak_rss_mib()
        lat = fields["latency_ms"]
        print(f"{method.info.name} {width}x{height} -> {fields['output']}: {fields['fps']:.1f} fps, latency p50 "
              f"{lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} ms, "
              f"{fields['output_mpix_per_s']:.1f} output MP/s, peak RSS {fields['peak_rss_mib']} MiB "
              f"({fields['runs']} runs)")
        if args.clip:
            e2e = speed.end_to_end(method, args.clip)
            fields["end_to_end"] = e2e
            print(f"end to end on {args.clip.name}: {e2e['frames_out']} frames in {e2e['seconds']} s = "
                  f"{e2e['fps']:.1f} fps (decode + upscale + {e2e['encoder']})")
        if args.json:
            write_json(args.json, record(fields, method.info))
    return 0


def _grid(args: argparse.Namespace) -> int:
    from srstream.bench.grid import comparison_grid

    methods = []
    try:
        for name in args.model:
            methods.append(_open(args, name, args.scale))
        comparison_grid(args.data, args.scale, methods, args.out, images=args.images, crop=args.crop)
    finally:
        for m in methods:
            m.close()
    print(f"{args.out}: {args.images} crops x {len(methods) + 2} columns")
    return 0


def _report(args: argparse.Namespace) -> int:
    from srstream.bench.report import write_report

    for path in write_report(args.results):
        print(path)
    return 0


def _peers(args: argparse.Namespace) -> int:
    from srstream.bench.methods import PEERS, default_peers_dir

    folder = args.peers or default_peers_dir()
    found = 0
    for peer in PEERS.values():
        there = (folder / peer.path).is_file()
        found += there
        print(f"{peer.name:<26} x{peer.scale}  {peer.project}  [{'found' if there else 'missing'}: {folder / peer.path}]")
    if not found:
        print(f"\nNo peer model is in {folder}. Point sr-stream at the folder that holds them (opencv_FSRCNN/, "
              "realesr-animevideov3/, ...) with --peers DIR or `export SRSTREAM_PEERS=DIR`; their sources are in "
              "srstream/bench/methods.py. Nothing is downloaded.", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    return {"quality": _quality, "speed": _speed, "grid": _grid, "report": _report, "peers": _peers}[args.action](args)


COMMAND = Command(configure, run, "Quality (PSNR/SSIM/VIF) and speed benchmarks against bicubic and peers.")
