"""PyTorch reference backend: CPU fp32 or bf16 (autocast; fast with AMX), CUDA fp16.

On CUDA the network runs in channels-last layout (what tensor-core convolutions want) and, per
input shape, as a captured CUDA graph replayed for every batch of that shape (one launch instead
of one per layer): the engine streams one tile or frame shape, so a video captures once.

Needs the weights as ``NAME.safetensors`` beside ``NAME.onnx`` (bundled models ship both;
``sr-stream export`` users can copy the checkpoint's ``model.safetensors`` there). torch and the
architectures are imported only here, only when this backend is chosen.

On CUDA, where sr-stream's CUDA frame kernels are built, a frame never crosses the bus as float:
its samples (or a decoded 4:2:0 frame's three planes) go up as they are, are packed into tiles,
blended and turned back into samples on the GPU, and only the finished samples come down, as in
the TensorRT backend. Without the kernels the frame is packed and finished on the CPU.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srstream.engine.backends.base import Availability, Backend, BackendDef
from srstream.errors import TORCH_INSTALL, BackendError, DependencyError, ModelError
from srstream.spec import ModelSpec
from srstream.sysinfo import SystemInfo

__all__ = ["BACKEND", "TorchBackend", "TorchOptions", "cuda_visible", "weights_path"]


def cuda_visible() -> bool:
    """Whether torch is installed and sees a CUDA GPU (imports torch when it is installed)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def weights_path(model: Path) -> Path:
    return model.with_name(f"{model.name.removesuffix('.onnx')}.safetensors")


@dataclass(frozen=True)
class TorchOptions:
    """``device``: ``auto`` (CUDA when torch sees a GPU), ``cpu`` or ``cuda``. On CUDA:
    ``channels_last`` memory layout and ``cuda_graphs`` (capture per input shape, then replay)."""

    device: str = "auto"
    channels_last: bool = True
    cuda_graphs: bool = True


def _probe(info: SystemInfo) -> Availability:
    if importlib.util.find_spec("torch") is None:
        return Availability(False, f"missing torch: {BACKEND.install}")
    amx = info.cpu.features.get("amx_bf16", False)
    return Availability(True, "CPU fp32" + (", bf16 on AMX" if amx else "") + (", CUDA fp16" if info.gpus else ""))


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, spec: ModelSpec, model: Path, precision: str = "fp32",
                 options: TorchOptions = TorchOptions()) -> None:
        super().__init__(spec, precision)
        try:
            import torch
            from safetensors.torch import load_file

            from srstream.archs import build_generator
        except ModuleNotFoundError as exc:
            raise DependencyError(f"the torch backend needs {exc.name}: {BACKEND.install}") from exc
        weights = weights_path(model)
        if not weights.is_file():
            raise ModelError(f"the torch backend needs the weights {weights} beside {model.name}")
        if options.device not in ("auto", "cpu", "cuda"):
            raise BackendError(f"torch device {options.device!r}: expected auto, cpu or cuda")
        self.torch = torch
        self.cuda = torch.cuda.is_available() and options.device != "cpu"
        if options.device == "cuda" and not self.cuda:
            raise BackendError("--device cuda: torch sees no CUDA GPU")
        if precision == "fp16" and not self.cuda:
            raise BackendError("torch fp16 needs a CUDA GPU; use --precision bf16 or fp32 on the CPU")
        if precision not in ("fp32", "bf16", "fp16"):
            raise BackendError(f"the torch backend runs fp32, bf16 or fp16, not {precision}")
        self.dev = torch.device("cuda" if self.cuda else "cpu")
        net = build_generator(spec)
        try:
            net.load_state_dict(load_file(str(weights)), strict=True)
        except RuntimeError as exc:
            raise ModelError(f"{weights} does not fit {spec.arch} {dict(spec.arch_params)}: {exc}") from exc
        self.net = net.eval().to(self.dev)
        if precision == "fp16":
            self.net = self.net.half()
        self.options = options
        self.layout = torch.channels_last if self.cuda and options.channels_last else torch.contiguous_format
        if self.layout is torch.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._graphs: dict[tuple[int, ...], tuple] = {}
        self._kernels = None  # CudaKernels once looked up; False when they cannot run here
        self._buffers: dict[tuple, dict] = {}

    @property
    def device(self) -> str:
        return self.torch.cuda.get_device_name(0) if self.cuda else "CPU"

    def _forward(self, x):  # noqa: ANN001, ANN202 - torch tensors
        torch = self.torch
        if self.precision == "bf16":
            with torch.autocast(self.dev.type, dtype=torch.bfloat16):
                return self.net(x)
        return self.net(x)

    def _replay(self, x):  # noqa: ANN001, ANN202 - torch tensors
        """``_forward(x)`` through a CUDA graph captured for ``x``'s shape (after a warm-up on a
        side stream, as torch's CUDA-graph notes require)."""
        torch = self.torch
        key = tuple(x.shape)
        if key not in self._graphs:
            static_in = x.clone(memory_format=self.layout)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._forward(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            if len(self._graphs) >= 4:  # a few shapes at most: each graph holds its own buffers
                self._graphs.pop(next(iter(self._graphs)))
            self._graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(x)
        graph.replay()
        return static_out

    def infer(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.dev)
        with torch.inference_mode():
            if self.precision == "fp16":
                x = x.half()
            x = x.contiguous(memory_format=self.layout)
            y = self._replay(x) if self.cuda and self.options.cuda_graphs else self._forward(x)
            return y.float().cpu().numpy()

    # -- the device paths (CUDA with sr-stream's CUDA frame kernels) --------------------------------

    def _device_kernels(self):  # noqa: ANN202 - CudaKernels or None
        if not self.cuda:
            return None
        if self._kernels is None:
            from srstream.engine.kernels import CudaKernels

            try:
                self._kernels = CudaKernels()
            except BackendError:
                self._kernels = False
        return self._kernels or None

    def _buffer(self, key: tuple, make):  # noqa: ANN001, ANN202
        """Device and pinned buffers for one frame size and plan, kept while that size streams."""
        if key not in self._buffers:
            if len(self._buffers) >= 8:
                self._buffers.pop(next(iter(self._buffers)))
            self._buffers[key] = make()
        return self._buffers[key]

    def _plan_buffers(self, plan) -> dict:  # noqa: ANN001
        from srstream.engine.kernels import blend_tables

        torch = self.torch

        def make() -> dict:
            half = self.precision == "fp16"
            return {"tables": [torch.from_numpy(np.array(t)).to(self.dev) for t in blend_tables(plan)],
                    "input": torch.empty((len(plan), self.spec.in_channels, *plan.tile_shape),
                                         dtype=torch.float16 if half else torch.float32, device=self.dev),
                    "real": np.float16 if half else np.float32}
        return self._buffer(("plan", plan), make)

    def _infer_tiles(self, plan, pack) -> tuple:  # noqa: ANN001
        """``pack(input_ptr, real, origins_ptr, stream)`` fills every tile of ``plan``; the network
        runs on them (``max_batch`` at a time) and the tiles are blended. Returns the ``(C, H, W)``
        planes on the device (the padded single tile when there is one: read ``output_shape``
        of it), their channel and row strides and their type. Everything is queued on torch's
        current stream, so tensors freed here are not reused before the kernels that read them."""
        from srstream.engine.kernels import BFLOAT16

        torch = self.torch
        buf = self._plan_buffers(plan)
        stream = torch.cuda.current_stream().cuda_stream
        s, n = plan.scale, len(plan)
        oh, ow = plan.output_shape
        pack(buf["input"].data_ptr(), buf["real"], buf["tables"][0].data_ptr(), stream)
        tiles = None
        with torch.inference_mode():
            for first in range(0, n, max(1, self.max_batch)):
                x = buf["input"][first:first + self.max_batch]
                y = self._replay(x) if self.options.cuda_graphs else self._forward(x.contiguous(
                    memory_format=self.layout))
                y = y.contiguous()  # NCHW planes, as the kernels read them
                if n == 1:
                    tiles = y
                    break
                if tiles is None:
                    tiles = torch.empty((n, *y.shape[1:]), dtype=y.dtype, device=self.dev)
                tiles[first:first + len(y)].copy_(y)
            real = {torch.float32: np.float32, torch.float16: np.float16, torch.bfloat16: BFLOAT16}[tiles.dtype]
            if n == 1:  # the one tile is the (padded) frame: read its planes with the tile's strides
                return tiles[0], tiles.shape[2] * tiles.shape[3], tiles.shape[3], real
            planes = torch.empty((tiles.shape[1], oh, ow), dtype=torch.float32, device=self.dev)
            self._kernels.blend_tiles(tiles.data_ptr(), real, tuple(tiles.shape),
                                      [t.data_ptr() for t in buf["tables"]], s, planes.data_ptr(), (oh, ow), stream)
            return planes, oh * ow, ow, np.float32

    def _pinned(self, key: tuple, shape: tuple[int, ...], dtype: np.dtype, device: bool = True) -> dict:
        """A pinned host buffer of ``dtype`` samples (and, with ``device``, its device twin)."""
        torch = self.torch
        storage = torch.uint8 if dtype == np.uint8 else torch.int16  # 16-bit samples travel as int16 bits

        def make() -> dict:
            host = torch.empty(shape, dtype=storage, pin_memory=True)
            return {"host": host, "dev": torch.empty(shape, dtype=storage, device=self.dev) if device else None}
        return self._buffer(key, make)

    def _download(self, result, dtype: np.dtype) -> np.ndarray:  # noqa: ANN001 - a device tensor
        host = self._pinned(("result", tuple(result.shape), dtype.str), tuple(result.shape), dtype, False)["host"]
        host.copy_(result, non_blocking=True)
        self.torch.cuda.current_stream().synchronize()
        return host.numpy().view(dtype).copy()

    def _run_frame(self, frame: np.ndarray, plan, mode: int, gain: float, bias: float,  # noqa: ANN001
                   inv: tuple[float, float] | None) -> np.ndarray | None:
        k = self._device_kernels()
        if k is None or frame.dtype not in (np.uint8, np.uint16) or frame.ndim != 3:
            return None
        torch = self.torch
        h, w, c = frame.shape
        up = self._pinned(("frame", frame.shape, frame.dtype.str), frame.shape, frame.dtype)
        up["host"].numpy().view(frame.dtype)[...] = frame
        up["dev"].copy_(up["host"], non_blocking=True)

        def pack(out: int, real, origins: int, stream: int) -> None:  # noqa: ANN001
            k.pack_tiles(up["dev"].data_ptr(), (h, w, c), frame.dtype, w * c, origins, len(plan), *plan.tile_shape,
                         mode, out, real, gain, bias, stream)

        planes, cs, rs, real = self._infer_tiles(plan, pack)
        oh, ow = plan.output_shape
        if inv is None:  # the float32 planes, finished on the CPU
            return np.ascontiguousarray(planes[:, :oh, :ow].float().cpu().numpy())
        result = torch.empty((oh, ow, c), dtype=up["dev"].dtype, device=self.dev)
        k.unpack(planes.data_ptr(), real, (self.spec.out_channels, oh, ow), cs, rs, result.data_ptr(), c, frame.dtype,
                 ow * c, *inv, torch.cuda.current_stream().cuda_stream)
        return self._download(result, frame.dtype)

    def run_frame_samples(self, frame: np.ndarray, plan, mode: int, gain: float, bias: float,  # noqa: ANN001
                          inv: tuple[float, float]) -> np.ndarray | None:
        """The tile loop on the GPU, samples up and down (see the module docstring); ``None`` on
        the CPU or without the CUDA kernels."""
        return self._run_frame(frame, plan, mode, gain, bias, inv)

    def run_frame_planes(self, frame: np.ndarray, plan, mode: int, gain: float,  # noqa: ANN001
                         bias: float) -> np.ndarray | None:
        """The tile loop on the GPU, the blended float32 planes down; ``None`` on the CPU or
        without the CUDA kernels."""
        return self._run_frame(frame, plan, mode, gain, bias, None)

    def run_frame_yuv420(self, planes, matrix, plan, gain: float, bias: float,  # noqa: ANN001
                         inv: tuple[float, float]) -> np.ndarray | None:
        """A decoded 4:2:0 frame through an RGB model: its planes go up as they are (1.5 bytes a
        pixel), are converted while packed and back while unpacked, and the encoder's yuv420p
        frame comes down."""
        k = self._device_kernels()
        if k is None or self.spec.in_channels != 3:
            return None
        torch = self.torch
        y, u, v = planes
        h, w = y.shape
        ch, cw = u.shape
        ysize, csize = h * w, ch * cw
        up = self._pinned(("yuv420", y.shape, u.shape), (ysize + 2 * csize,), np.dtype(np.uint8))
        host = up["host"].numpy()
        host[:ysize].reshape(h, w)[...] = y
        host[ysize:ysize + csize].reshape(ch, cw)[...] = u
        host[ysize + csize:].reshape(ch, cw)[...] = v
        up["dev"].copy_(up["host"], non_blocking=True)
        base = up["dev"].data_ptr()

        def pack(out: int, real, origins: int, stream: int) -> None:  # noqa: ANN001
            k.pack_tiles_yuv420((base, base + ysize, base + ysize + csize), (w, cw), (h, w), matrix, origins,
                                len(plan), *plan.tile_shape, 0, out, real, gain, bias, stream)

        rgb, cs, rs, real = self._infer_tiles(plan, pack)
        oh, ow = plan.output_shape
        result = torch.empty((oh * 3 // 2, ow), dtype=torch.uint8, device=self.dev)
        out, quarter = result.data_ptr(), (oh // 2) * (ow // 2)
        k.unpack_yuv420(rgb.data_ptr(), real, (oh, ow), cs, rs, (out, out + oh * ow, out + oh * ow + quarter),
                        (ow, ow // 2), matrix, *inv, torch.cuda.current_stream().cuda_stream)
        return self._download(result, np.dtype(np.uint8))

    def close(self) -> None:
        self._graphs.clear()
        self._buffers.clear()


BACKEND = BackendDef(
    name="torch", title="PyTorch reference (CPU fp32/bf16, CUDA fp16)", libraries=("torch",),
    precisions=("fp32", "bf16", "fp16"), runner="srstream.engine.backends.torch_backend:TorchBackend",
    options=TorchOptions, probe=_probe,
    install=TORCH_INSTALL,
    device_field="device",
)
