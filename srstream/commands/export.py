"""``sr-stream export CHECKPOINT -o OUT.onnx [--fp16] [--int8 --calib DIR] [--trt]``: checkpoint -> ONNX -> TensorRT.

CHECKPOINT is a training run folder, a checkpoint folder, a ``model.safetensors``, or a
supported third-party file (Real-ESRGAN's compact video models, leftthomas/SRGAN generators).
Every graph is checked against PyTorch before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srstream.commands import Command, non_negative_number, whole_number


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="run folder, checkpoint folder, model.safetensors or peer .pth "
                                                      "(with --glsl: a bundled model name or an exported .onnx)")
    parser.add_argument("-o", "--out", type=Path, help="output .onnx (fp32); variants go beside it")
    parser.add_argument("--glsl", type=Path, metavar="OUT.glsl",
                        help="write the model as an mpv/libplacebo user shader instead (compact luma nets)")
    parser.add_argument("--glsl-precision", default="mediump", choices=("mediump", "highp"),
                        help="with --glsl: mediump (default) lets GPUs with fast half precision run the feature "
                             "maps in fp16 (measured: under 1/255 from fp32 on the real-time nets); highp keeps fp32")
    parser.add_argument("--name", help="model name stored in the spec (default: the checkpoint's)")
    parser.add_argument("--fp16", action="store_true", help="also write OUT.fp16.onnx (fp16 inside, fp32 I/O)")
    parser.add_argument("--fp16-io", action="store_true", help="with --fp16: fp16 input and output too")
    parser.add_argument("--int8", action="store_true", help="also write OUT.int8.onnx (QDQ, for CPUs); needs --calib")
    parser.add_argument("--calib", type=Path, help="folder of images to calibrate INT8 on")
    parser.add_argument("--calib-count", type=whole_number(1), default=64, help="calibration crops (default 64)")
    parser.add_argument("--calib-method", default="percentile", choices=("minmax", "percentile", "entropy"))
    parser.add_argument("--int8-keep-float", default="auto", metavar="LIST",
                        help="convs left in float in the INT8 graph: auto (default: the fewest that keep the "
                             "PSNR cost on --val within --int8-max-cost; first,last without --val), "
                             "first,last, first, last, or none")
    parser.add_argument("--int8-max-cost", type=non_negative_number, default=0.04, metavar="DB",
                        help="PSNR budget of --int8-keep-float auto, in dB on --val (default 0.04)")
    parser.add_argument("--int8-format", default="s8s8", choices=("s8s8", "u8s8", "u8s7"),
                        help="activation x weight types (default s8s8: u8s8 saturates on CPUs without VNNI; "
                             "u8s7 rounds weights to 7 bits so that it cannot)")
    parser.add_argument("--int8-ranges", default="auto", choices=("auto", "trained", "calibrated"),
                        help="activation ranges: auto (default) takes those a quantisation-aware checkpoint "
                             "(quant: int8 phase) trained at and calibrates the rest; trained insists on them; "
                             "calibrated calibrates every tensor")
    parser.add_argument("--val", type=Path, help="benchmark folder (e.g. Set5) to measure the INT8 PSNR cost on")
    parser.add_argument("--trt", action="store_true", help="build (or find cached) a TensorRT engine; needs a GPU")
    parser.add_argument("--trt-precision", default="fp16", choices=("fp16", "fp32", "int8"))
    parser.add_argument("--trt-tile", type=whole_number(0), default=0,
                        help="static tile size of the engine (default: the spec's)")
    parser.add_argument("--trt-batch", type=whole_number(1), default=4, help="largest batch of tiles (default 4)")
    parser.add_argument("--trt-cache", type=Path, help="engine cache folder (default ~/.cache/sr-stream/engines)")
    parser.add_argument("--metric", action="append", default=[], metavar="KEY=VALUE",
                        help="a measured number to record in the spec, e.g. bsd100_x2_psnr_y=31.71 (repeatable)")
    parser.add_argument("--license", help="licence of the weights, recorded in the spec")
    parser.add_argument("--safetensors", action="store_true",
                        help="also write OUT.safetensors: the exported weights (re-parameterised blocks collapsed) "
                             "with the spec, for --backend torch")
    parser.add_argument("--no-simplify", action="store_true", help="skip onnxslim")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _glsl(args: argparse.Namespace) -> int:
    from srstream.engine.models import resolve_model
    from srstream.export.glsl import read_net, write_glsl

    model = resolve_model(str(args.checkpoint))
    net = read_net(model.path)
    size = write_glsl(net, args.glsl, name=args.name, license_=args.license, precision=args.glsl_precision)
    print(f"wrote {args.glsl} ({size / 1024:.0f} KiB): {model.name}, {len(net.layers)} convs, x{net.spec.scale}; "
          f"mpv --glsl-shaders={args.glsl}, or ffmpeg -vf libplacebo=custom_shader_path={args.glsl}")
    return 0


def run(args: argparse.Namespace) -> int:
    from srstream.errors import ConfigError, DependencyError

    if args.glsl is not None:
        if args.out is not None:
            raise ConfigError("--glsl writes a shader from an exported model; drop -o (or export the checkpoint first)")
        if args.glsl.exists() and not args.overwrite:
            from srstream.errors import OutputError

            raise OutputError(f"{args.glsl} exists; pass --overwrite to replace it")
        return _glsl(args)
    if args.out is None:
        raise ConfigError("sr-stream export needs -o OUT.onnx (or --glsl OUT.glsl for a shader)")

    if args.fp16_io and not args.fp16:
        raise ConfigError("--fp16-io needs --fp16")
    if args.calib and not args.int8:
        raise ConfigError("--calib is for --int8; add --int8 or drop --calib")
    metrics = []
    for item in args.metric:
        key, sep, value = item.partition("=")
        try:
            metrics.append((key.strip(), float(value)))
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ConfigError(f"--metric {item!r}: expected KEY=NUMBER")
    if args.checkpoint.suffix.lower() == ".pb":
        return _tf_graph(args)
    try:
        from srstream.export.pipeline import ExportOptions, describe, run_export
    except ModuleNotFoundError as exc:
        raise DependencyError(f"export needs {exc.name}: pip install 'sr-stream[export,train]'") from exc
    opts = ExportOptions(
        out=args.out, name=args.name, fp16=args.fp16, fp16_io=args.fp16_io, int8=args.int8, calib=args.calib,
        calib_count=args.calib_count, calib_method=args.calib_method, val=args.val, trt=args.trt,
        int8_keep_float=("auto" if args.int8_keep_float == "auto"
                         else tuple(x for x in args.int8_keep_float.split(",") if x and x != "none")),
        int8_format=args.int8_format, int8_max_cost=args.int8_max_cost, int8_ranges=args.int8_ranges,
        trt_precision=args.trt_precision, trt_tile=args.trt_tile, trt_batch=args.trt_batch, trt_cache=args.trt_cache,
        simplify=not args.no_simplify, overwrite=args.overwrite, metrics=tuple(metrics), license=args.license,
        safetensors=args.safetensors,
    )
    result = run_export(args.checkpoint, opts)
    for line in describe(result):
        print(line)
    return 0


def _tf_graph(args: argparse.Namespace) -> int:
    """``sr-stream export FSRCNN_x2.pb -o fsrcnn.onnx``: an OpenCV dnn_superres graph converted
    (:func:`srstream.imported.imported_graph`), its fp32 graph only."""
    from srstream.errors import ConfigError, InputError, OutputError
    from srstream.imported import imported_graph

    asked = [flag for flag, on in (("--fp16", args.fp16), ("--int8", args.int8), ("--trt", args.trt),
                                   ("--safetensors", args.safetensors)) if on]
    if asked:
        raise ConfigError(f"{args.checkpoint} is an OpenCV dnn_superres graph: export converts it to its fp32 ONNX "
                          f"graph only, without {', '.join(asked)} (`auto` runs it in bf16 where the CPU has it)")
    if not args.checkpoint.is_file():
        raise InputError(f"{args.checkpoint} does not exist")
    if args.out.suffix.lower() != ".onnx":
        raise ConfigError(f"-o {args.out}: the converted graph is an .onnx file")
    if args.out.exists() and not args.overwrite:
        raise OutputError(f"{args.out} exists; pass --overwrite to replace it")
    imported_graph(args.checkpoint, args.name or args.checkpoint.stem, args.out, log=print)
    return 0


COMMAND = Command(configure, run, __doc__.splitlines()[0] if __doc__ else "")
