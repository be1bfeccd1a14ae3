"""The checks of ``benchmarks/gpu_check.sh`` (run that: it builds the package first).

    python benchmarks/gpu_check.py --out OUTDIR [--seconds 10]

Each step records what it measured, or why it was skipped, into ``OUTDIR/gpu_check.json``; a
failing step is recorded and the next one still runs. Steps:

1. ``environment``: torch and its CUDA, the GPU, nvidia-smi, which frame kernels are built;
2. ``cuda_kernel_tests``: ``tests/engine/test_kernels_cuda.py`` (pack/unpack/blend on the GPU
   against the numpy references) and ``tests/engine/test_torch_cuda.py`` (the torch backend's
   device paths against its host path); ``gpu_marked_tests``: the CUDA cases of the archs' and
   the trainer's tests (``-m gpu``: ECB expansion, fp16 AMP training, ``--adapt`` on the GPU;
   ``test_adapt.py``'s model is exported through onnxslim: carry its wheel);
3. ``torch_fp16_parity``: realtime-x2 with the torch backend in fp16 on CUDA against ONNX
   Runtime fp32 on the CPU, on the bundled check crops (``srstream.engine.accuracy``);
4. ``torch_fp16_tiled``: a 640x360 frame upscaled in tiles and whole on CUDA: max difference;
5. ``torch_speed_1080p``: realtime-x2, 1920x1080 -> 3840x2160, fp16: the network alone (a
   frame already on the GPU), the whole per-frame path (uint8 RGB frame in and out) and the
   video path (a decoded 4:2:0 frame in, the encoder's 4:2:0 frame out), plain, channels-last,
   and channels-last with CUDA graphs;
6. ``tensorrt_tests``: the TensorRT tests, where ``tensorrt`` and ``pycuda`` import;
   ``train_speed_cuda``: training it/s on CUDA of realtime_x2 and the SRResNet x2 teacher in fp16
   and bf16, NCHW and channels-last, with the one batch thread and with 8 forked data workers
   (``benchmarks/train_speed.py``, on synthetic images: the candidates' ratios, not the data's
   cost). The trainer keeps NCHW on CUDA untimed, and an H200 trained the SRResNet teacher no
   faster with 12 workers than without (2026-12-04);
7. ``model_speeds``: every bundled model, and the peers' PyTorch models found under ``--peers``
   (Real-ESRGAN's realesr-animevideov3, leftthomas/SRGAN x2 and x4), all run by the torch
   backend in fp16, channels-last, one CUDA graph replayed, at the input whose output is 3840x2160;
8. ``video_e2e``: the command line on the bundled sample clip, as README's first command runs it
   (``--backend auto``, and ``--backend torch --device cuda --precision fp16``), then the
   latter on its own 1280x720 output (-> 2560x1440): end-to-end fps (decode, upscale, encode),
   frames and audio checked in the outputs. Needs PyAV (carried as a wheel; see the README of
   the device tool);
9. ``shader_speed``: the GLSL shaders of tiny-x2 and realtime-x2 in FFmpeg's libplacebo filter
   on the GPU's Vulkan device (``benchmarks/shader_speed.py``), where ffmpeg has the filter.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Skip(Exception):
    """A step that cannot run here; the message says why."""


def _cuda():  # noqa: ANN202 - the torch module, with a GPU
    if importlib.util.find_spec("torch") is None:
        raise Skip("torch is not installed")
    import torch

    if not torch.cuda.is_available():
        raise Skip("torch sees no CUDA GPU")
    return torch


def environment(args: argparse.Namespace) -> dict:
    from srstream.engine import kernels

    out = {"python": platform.python_version(), "machine": platform.machine(),
           "frame_kernels": {"cpu": kernels.active(), "cuda": kernels.cuda_status()}}
    if shutil.which("nvidia-smi"):
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        out["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    if importlib.util.find_spec("torch"):
        import torch

        out["torch"] = torch.__version__
        out["torch_cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
            out["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return out


def _pytest(paths: list[str], extra: list[str], junit: Path) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *paths, *extra]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=400)
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
    return {"command": " ".join(cmd[2:]), "exit_code": proc.returncode, "summary": tail[-1] if tail else "",
            "tail": tail}


def cuda_kernel_tests(args: argparse.Namespace) -> dict:
    _cuda()
    return _pytest(["tests/engine/test_kernels_cuda.py", "tests/engine/test_torch_cuda.py"], [],
                   args.out / "junit_cuda_kernels.xml")


def gpu_marked_tests(args: argparse.Namespace) -> dict:
    _cuda()
    return _pytest(["tests/archs/test_reparam.py", "tests/trainer/test_loop.py", "tests/trainer/test_adapt.py"],
                   ["-m", "gpu", "-rs"], args.out / "junit_gpu_marked.xml")


def _torch_upscaler(model, tile, **options):  # noqa: ANN001, ANN202
    from srstream.engine.backends import backend_def
    from srstream.engine.backends.torch_backend import TorchOptions
    from srstream.engine.upscaler import FrameUpscaler

    backend = backend_def("torch").open(model.spec, model.path, "fp16", TorchOptions(device="cuda", **options))
    return backend, FrameUpscaler(backend, model.spec, tile)


def torch_fp16_parity(args: argparse.Namespace) -> dict:
    _cuda()
    from srstream.engine.accuracy import compare
    from srstream.engine.backends import backend_def
    from srstream.engine.models import resolve_model
    from srstream.engine.upscaler import FrameUpscaler

    model = resolve_model("realtime-x2")
    # the RGB graph itself (as bytes: on the CPU a file path would run its luma-only graph)
    reference = FrameUpscaler(backend_def("ort").open(model.spec, model.path.read_bytes(), "fp32"), model.spec, 0)
    backend, gpu = _torch_upscaler(model, 0)
    with backend:
        accuracy = compare(gpu.upscale, reference.upscale, model.spec.scale)
    return {"model": model.name, **accuracy.to_dict(), "ok": accuracy.ok, "problems": accuracy.problems()}


def torch_fp16_tiled(args: argparse.Namespace) -> dict:
    _cuda()
    import numpy as np

    from srstream.engine.models import resolve_model

    model = resolve_model("realtime-x2")
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(128, 50, (360, 640, 3)), 0, 255).astype(np.uint8)
    backend, whole = _torch_upscaler(model, 0)
    with backend:
        a = whole.upscale(frame)
    backend, tiled = _torch_upscaler(model, model.spec.tile)
    with backend:
        b = tiled.upscale(frame)
    diff = int(np.abs(a.astype(int) - b.astype(int)).max())
    return {"frame": "640x360", "tile": model.spec.tile, "max_diff_levels": diff, "ok": diff <= 1}


def torch_speed_1080p(args: argparse.Namespace) -> dict:
    torch = _cuda()
    import cv2
    import numpy as np

    from srstream.engine.models import resolve_model

    model = resolve_model("realtime-x2")
    frame = np.clip(np.random.default_rng(1).normal(128, 50, (1080, 1920, 3)), 0, 255).astype(np.uint8)
    i420 = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
    yuv = (i420[:1080], i420[1080:1350].reshape(540, 960), i420[1350:].reshape(540, 960))
    results = {}
    for label, options in (("plain", {"channels_last": False, "cuda_graphs": False}),
                           ("channels_last", {"channels_last": True, "cuda_graphs": False}),
                           ("channels_last+cuda_graphs", {"channels_last": True, "cuda_graphs": True})):
        backend, upscaler = _torch_upscaler(model, 0, **options)
        with backend:
            x = torch.rand(1, 3, 1080, 1920, device="cuda").half().contiguous(memory_format=backend.layout)
            with torch.inference_mode():
                net_fps = _rate(lambda: backend._replay(x) if options["cuda_graphs"] else backend._forward(x),
                                args.seconds / 2, torch)
            frame_fps = _rate(lambda: upscaler.upscale(frame), args.seconds / 2)
            yuv_fps = _rate(lambda: upscaler.upscale_yuv420(*yuv), args.seconds / 2)
        results[label] = {"network_fps": round(net_fps, 1), "per_frame_fps": round(frame_fps, 1),
                          "per_frame_yuv420_fps": round(yuv_fps, 1)}
        print(f"  {label}: network {net_fps:.1f} fps, whole uint8 frame in/out {frame_fps:.1f} fps, "
              f"4:2:0 frame in/out {yuv_fps:.1f} fps", flush=True)
    return {"model": model.name, "input": "1920x1080", "output": "3840x2160", "precision": "fp16", **results}


def tensorrt_tests(args: argparse.Namespace) -> dict:
    missing = [m for m in ("tensorrt", "pycuda") if importlib.util.find_spec(m) is None]
    if missing:
        raise Skip(f"{', '.join(missing)} not importable (the wheels are too large to carry to the lent machine)")
    return _pytest(["tests/export/test_trt.py", "tests/engine/test_backends.py"], ["-k", "trt"],
                   args.out / "junit_tensorrt.xml")


def train_speed_cuda(args: argparse.Namespace) -> dict:
    _cuda()
    import tempfile

    import cv2
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="srstream_train_"))
    images = work / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):  # smooth noise with edges: the batch thread's work is that of real photos of this size
        noise = cv2.GaussianBlur(rng.uniform(0, 255, (480, 480, 3)).astype(np.float32), (0, 0), 1 + i % 4)
        cv2.imwrite(str(images / f"{i:02d}.png"), np.clip(noise, 0, 255).astype(np.uint8))
    results = {}
    for recipe in ("realtime_x2", "teacher_x2_srresnet"):
        for workers in (0, 8):
            out = args.out / f"train_speed_{recipe}_w{workers}.json"
            cmd = [sys.executable, "benchmarks/train_speed.py", recipe, "--data", str(images), "--cache",
                   str(work / "cache"), "--steps", "150", "--precision", "fp16", "--precision", "bf16", "--set",
                   f"data.workers={workers}", "--json", str(out)]
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(f"{recipe}, {workers} workers: {proc.stderr.strip()[-600:]}")
            results[f"{recipe} workers={workers}"] = speeds = json.loads(out.read_text())["it_s"]
            print(f"  {recipe}, {workers} data workers: {speeds}", flush=True)
    return {"steps": 150, "data": "16 synthetic 480x480 images", "it_s": results}


def _rate(step, seconds: float, torch=None) -> float:  # noqa: ANN001
    """Calls of ``step`` per second over ``seconds``, after three warm-up calls (the GPU
    synchronised around the timed calls when ``torch`` is given)."""
    for _ in range(3):
        step()
    if torch is not None:
        torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    if torch is not None:
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def model_speeds(args: argparse.Namespace) -> dict:
    torch = _cuda()
    import tempfile

    from safetensors.torch import save_file

    from srstream.engine.backends import backend_def
    from srstream.engine.backends.torch_backend import TorchOptions
    from srstream.engine.models import MODELS_DIR, resolve_model

    work = Path(tempfile.mkdtemp(prefix="srstream_peers_"))
    nets = []  # (name, spec, graph path with its .safetensors beside it), all run by the torch backend
    for onnx in sorted(MODELS_DIR.glob("*.onnx")):
        if onnx.name.count(".") == 1:  # not the .int8 variants: CPU graphs
            model = resolve_model(onnx.stem)
            nets.append((model.name, model.spec, model.path))
    if args.peers is not None:
        from srstream.export.peers import import_state, read_foreign_state

        for path in (args.peers / "realesr-animevideov3.pth", args.peers / "netG_epoch_2_100.pth",
                     args.peers / "netG_epoch_4_100.pth"):
            if path.is_file():
                spec, state = import_state(read_foreign_state(path), None, path.stem)
                save_file({k: v.contiguous() for k, v in state.items()}, str(work / f"{path.stem}.safetensors"))
                nets.append((f"peer:{path.stem}", spec, work / f"{path.stem}.onnx"))
    results = {}
    for name, spec, path in nets:
        w, h = 3840 // spec.scale, 2160 // spec.scale
        with backend_def("torch").open(spec, path, "fp16", TorchOptions(device="cuda")) as backend:
            x = torch.rand(1, spec.in_channels, h, w, device="cuda").half().contiguous(memory_format=backend.layout)
            with torch.inference_mode():
                fps = _rate(lambda: backend._replay(x), args.seconds / 4, torch)
            params = sum(p.numel() for p in backend.net.parameters())
        results[name] = {"input": f"{w}x{h}", "scale": spec.scale, "network_fps": round(fps, 1), "params": params}
        print(f"  {name}: {w}x{h} -> 3840x2160, {fps:.1f} fps", flush=True)
    return {"precision": "fp16", "layout": "channels_last", "cuda_graphs": True, "output": "3840x2160",
            "models": results}


def _sr_stream(args: list[str]) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "srstream", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    if proc.returncode != 0:
        raise RuntimeError(f"sr-stream {' '.join(args)} exited {proc.returncode}: {lines[-5:]}")
    said = [line for line in lines if "frames/s," not in line]  # not the progress lines
    return {"command": "sr-stream " + " ".join(args), "seconds": round(time.perf_counter() - started, 1),
            "summary": next((line for line in said if "end to end" in line), ""),
            "said": [line for line in said if "end to end" not in line][-3:]}


def _streams(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {"size": f"{video.width}x{video.height}", "frames": frames,
                "audio": [s.codec_context.name for s in container.streams.audio]}


def video_e2e(args: argparse.Namespace) -> dict:
    _cuda()
    if importlib.util.find_spec("av") is None:
        raise Skip("PyAV is not importable (carry its wheel: see the device tool's README)")
    import tempfile

    sample = REPO / "samples" / "traffic_4s.mp4"
    work = Path(tempfile.mkdtemp(prefix="srstream_gpu_"))
    runs = {"input": _streams(sample)}
    gpu = ["--backend", "torch", "--device", "cuda", "--precision", "fp16"]
    for label, source, extra in (("auto", sample, []), ("torch_cuda_fp16", sample, gpu),
                                 ("torch_cuda_fp16_720p", work / "torch_cuda_fp16.mp4", gpu)):
        out = work / f"{label}.mp4"
        runs[label] = {**_sr_stream([str(source), "-o", str(out), *extra]), "output": _streams(out)}
        print(f"  {label}: {runs[label]['summary']}", flush=True)
    return runs


def shader_speed(args: argparse.Namespace) -> dict:
    if shutil.which("ffmpeg") is None:
        raise Skip("no ffmpeg command (the shaders run in its libplacebo filter)")
    filters = subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True, text=True).stdout
    if "libplacebo" not in filters:
        raise Skip("this ffmpeg has no libplacebo filter")
    devices = subprocess.run(["ffmpeg", "-hide_banner", "-v", "verbose", "-init_hw_device", "vulkan", "-f", "lavfi",
                              "-i", "color=size=16x16", "-frames:v", "1", "-f", "null", "-"],
                             capture_output=True, text=True)
    if devices.returncode != 0:
        raise Skip(f"no Vulkan device for FFmpeg: {devices.stderr.strip()[-200:]}")
    device = next((line.split("selected:", 1)[1].strip() for line in devices.stderr.splitlines()
                   if "selected:" in line), "?")
    if "(software)" in device:
        raise Skip(f"FFmpeg's Vulkan device is a software one ({device}); shader_speed.py times it on its own")
    out = args.out / "shader"
    proc = subprocess.run([sys.executable, "benchmarks/shader_speed.py", "--out", str(out), "--model", "tiny-x2",
                           "--model", "realtime-x2", "--frames", "300"], cwd=REPO, capture_output=True, text=True,
                          timeout=240)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-800:])
    return {"vulkan_device": device, "results": json.loads((out / "shader_speed.json").read_text())}


STEPS = (environment, cuda_kernel_tests, gpu_marked_tests, torch_fp16_parity, torch_fp16_tiled, torch_speed_1080p,
         model_speeds, video_e2e, tensorrt_tests, train_speed_cuda, shader_speed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per speed variant")
    parser.add_argument("--peers", type=Path, help="a folder holding peers' PyTorch weights to time beside ours")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {}
    for step in STEPS:
        started = time.perf_counter()
        print(f"== {step.__name__}", flush=True)
        try:
            report[step.__name__] = {"status": "ok", **step(args)}
        except Skip as why:
            report[step.__name__] = {"status": "skipped", "why": str(why)}
        except Exception as exc:  # noqa: BLE001 - recorded; the next step still runs
            report[step.__name__] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                                     "traceback": traceback.format_exc().splitlines()[-8:]}
        report[step.__name__]["seconds"] = round(time.perf_counter() - started, 1)
        print(f"   {report[step.__name__]['status']}: "
              + json.dumps({k: v for k, v in report[step.__name__].items() if k not in ("tail", "traceback")})[:400],
              flush=True)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
