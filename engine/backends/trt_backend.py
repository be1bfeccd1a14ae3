"""TensorRT backend: engines from export's cache, pycuda pinned buffers, copies overlapped on streams.

The engine is looked up in the engine cache by its full key (ONNX checksum, shape profile,
precision, TensorRT version, GPU name, compute capability) and built by the exporter's builder
when absent, so a stale or foreign engine is never loaded. Engines have one static tile shape
(the model's recommended tile) and a batch of 1..``max_batch`` tiles.

:meth:`TrtBackend.infer_batches` keeps two slots (pinned host buffers, device buffers, a CUDA
stream each): while one batch computes, the next one's upload is queued on the other stream,
so copies and compute overlap instead of synchronising the device per batch.

:meth:`TrtBackend.run_frame_samples` (and ``run_frame_planes``) is the GPU frame path the
upscaler takes when the CUDA kernels are built: the uint8/uint16 frame is uploaded once (not float tiles), tiles are packed on the GPU
straight into the engine's input, every batch writes its output into one device buffer, the
tiles are blended on the GPU and, for RGB models, unpacked to samples there, so only samples
cross the bus both ways (luma models download their luma plane for the CPU to recombine with
the bicubic chroma).

All ``tensorrt`` runtime calls of the engine live here. Written against TensorRT 10/11's
Python API; it runs only where tensorrt, pycuda and an NVIDIA GPU exist.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srstream.engine.backends.base import Availability, Backend, BackendDef
from srstream.engine.models import variant_path
from srstream.errors import BackendError, DependencyError, ModelError
from srstream.spec import ModelSpec
from srstream.sysinfo import SystemInfo

__all__ = ["BACKEND", "TrtBackend", "TrtOptions"]


@dataclass(frozen=True)
class TrtOptions:
    """``max_batch``: largest batch of tiles per engine call. ``cache``: the engine cache folder
    (None: ``~/.cache/sr-stream/engines``)."""

    max_batch: int = 4
    cache: Path | None = None


def _probe(info: SystemInfo) -> Availability:
    missing = [m for m in ("tensorrt", "pycuda") if importlib.util.find_spec(m) is None]
    if missing:
        return Availability(False, f"missing {', '.join(missing)}: {BACKEND.install}")
    if not info.gpus:
        return Availability(False, "no NVIDIA GPU found (nvidia-smi)")
    return Availability(True, ", ".join(BACKEND.precisions))


def _graph_bytes(model: Path, precision: str) -> bytes:
    """The ONNX graph an engine of ``precision`` is built from (fp16: converted when not shipped)."""
    path = variant_path(model, precision)
    if path is not None:
        return path.read_bytes()
    if precision != "fp16":
        raise ModelError(f"no {precision} graph beside {model}; export one with sr-stream export --{precision}")
    try:
        import onnx

        from srstream.export.fp16 import to_fp16
    except ModuleNotFoundError as exc:
        raise DependencyError(f"building an fp16 engine needs {exc.name}: pip install 'sr-stream[gpu]'") from exc
    return to_fp16(onnx.load(str(model))).SerializeToString()


class _Slot:
    """Pinned host + device buffers and a stream, sized for the largest batch."""

    def __init__(self, cuda, in_shape: tuple[int, ...], out_shape: tuple[int, ...], in_dtype, out_dtype) -> None:  # noqa: ANN001
        self.host_in = cuda.pagelocked_empty(int(np.prod(in_shape)), in_dtype)
        self.host_out = cuda.pagelocked_empty(int(np.prod(out_shape)), out_dtype)
        self.dev_in = cuda.mem_alloc(self.host_in.nbytes)
        self.dev_out = cuda.mem_alloc(self.host_out.nbytes)
        self.stream = cuda.Stream()
        self.pending: tuple[int, tuple[int, ...]] | None = None  # (batch index, output shape)


class _FrameBuffers:
    """Device and pinned buffers for one frame size and plan (kept while that size streams)."""

    def __init__(self, cuda, frame: np.ndarray, plan, tile_out: tuple[int, ...], out_dtype, result_shape,  # noqa: ANN001
                 result_dtype) -> None:
        from srstream.engine.kernels import blend_tables

        self.host_frame = cuda.pagelocked_empty(frame.shape, frame.dtype)
        self.dev_frame = cuda.mem_alloc(self.host_frame.nbytes)
        self.tables = [cuda.to_device(np.ascontiguousarray(t)) for t in blend_tables(plan)]
        self.dev_tiles = cuda.mem_alloc(int(np.prod(tile_out)) * np.dtype(out_dtype).itemsize)
        c, oh, ow = tile_out[1], *plan.output_shape
        self.dev_planes = cuda.mem_alloc(c * oh * ow * 4)
        self.host_result = cuda.pagelocked_empty(result_shape, result_dtype)
        self.dev_result = cuda.mem_alloc(self.host_result.nbytes)

    def free(self) -> None:
        for buf in (self.dev_frame, *self.tables, self.dev_tiles, self.dev_planes, self.dev_result):
            buf.free()


class _YuvBuffers(_FrameBuffers):
    """The same for 4:2:0 frames: the three planes packed into one host/device buffer, and a
    yuv420p result."""

    def __init__(self, cuda, shape: tuple[int, int], plan, tile_out: tuple[int, ...], out_dtype) -> None:  # noqa: ANN001
        h, w = shape
        self.cw, self.ch = (w + 1) // 2, (h + 1) // 2
        oh, ow = plan.output_shape
        packed = np.empty((h * w + 2 * self.ch * self.cw,), np.uint8)  # Y, then U, then V, contiguous
        super().__init__(cuda, packed[:, None, None], plan, tile_out, out_dtype, (oh * 3 // 2, ow), np.uint8)


class TrtBackend(Backend):
    name = "trt"

    def __init__(self, spec: ModelSpec, model: Path, precision: str = "fp16", options: TrtOptions = TrtOptions()) -> None:
        super().__init__(spec, precision)
        max_batch, cache = options.max_batch, options.cache
        try:
            import pycuda.driver as cuda
            import tensorrt as trt

            from srstream.export.trt_build import ShapeProfile, build_engine, gpu_identity
        except ModuleNotFoundError as exc:
            raise DependencyError(f"the TensorRT backend needs {exc.name}: {BACKEND.install}") from exc
        if precision not in ("fp16", "fp32", "int8"):
            raise BackendError(f"TensorRT runs fp16, fp32 or int8 engines, not {precision}")
        cuda.init()
        self._gpu_name = gpu_identity(0)[0]
        self._ctx = cuda.Device(0).retain_primary_context()
        self._ctx.push()
        self.cuda, self.trt = cuda, trt
        self.max_batch, self.fixed_tile = max_batch, spec.tile
        profile = ShapeProfile.for_tiles(spec, spec.tile, max_batch)
        entry = build_engine(_graph_bytes(model, precision), spec, precision=precision, profile=profile, cache=cache)
        logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(logger)
        self.engine = self.runtime.deserialize_cuda_engine(entry.path.read_bytes())
        if self.engine is None:
            raise BackendError(f"TensorRT {trt.__version__} cannot load {entry.path}; delete it to rebuild")
        self.context = self.engine.create_execution_context()
        self.in_name, self.out_name = spec.input_name, spec.output_name
        in_dtype = trt.nptype(self.engine.get_tensor_dtype(self.in_name))
        out_dtype = trt.nptype(self.engine.get_tensor_dtype(self.out_name))
        self.input_dtype = np.dtype(in_dtype)
        c, t, s = spec.in_channels, spec.tile, spec.scale
        self.slots = [_Slot(cuda, (max_batch, c, t, t), (max_batch, spec.out_channels, t * s, t * s), in_dtype, out_dtype)
                      for _ in range(2)]
        self.entry = entry
        try:
            from srstream.engine.kernels import CudaKernels

            self.kernels: CudaKernels | None = CudaKernels()
        except BackendError:
            self.kernels = None  # the CPU packs and blends; the engine still runs
        self._frames: dict[tuple, _FrameBuffers] = {}

    @property
    def device(self) -> str:
        return self._gpu_name

    def memory_budget(self) -> int:
        return 0  # always the engine's static tile

    def _submit(self, slot: _Slot, batch: np.ndarray, index: int) -> None:
        n = batch.shape[0]
        if n > self.max_batch or batch.shape[2:] != (self.fixed_tile, self.fixed_tile):
            raise BackendError(f"the engine takes up to {self.max_batch} tiles of {self.fixed_tile}x{self.fixed_tile}, "
                               f"got {tuple(batch.shape)}")
        flat = slot.host_in[: batch.size]
        flat[:] = batch.astype(slot.host_in.dtype, copy=False).ravel()
        self.cuda.memcpy_htod_async(slot.dev_in, flat, slot.stream)
        self.context.set_input_shape(self.in_name, tuple(batch.shape))
        self.context.set_tensor_address(self.in_name, int(slot.dev_in))
        self.context.set_tensor_address(self.out_name, int(slot.dev_out))
        if not self.context.execute_async_v3(stream_handle=slot.stream.handle):
            raise BackendError("TensorRT failed to enqueue inference")
        out_shape = tuple(self.context.get_tensor_shape(self.out_name))
        size = int(np.prod(out_shape))
        self.cuda.memcpy_dtoh_async(slot.host_out[:size], slot.dev_out, slot.stream)
        slot.pending = (index, out_shape)

    def _collect(self, slot: _Slot) -> tuple[int, np.ndarray]:
        slot.stream.synchronize()
        assert slot.pending is not None
        index, shape = slot.pending
        slot.pending = None
        return index, slot.host_out[: int(np.prod(shape))].reshape(shape).astype(np.float32)

    def infer_batches(self, batches: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs of ``batches`` in order, alternating two slots so uploads overlap compute."""
        results: list[np.ndarray | None] = [None] * len(batches)
        for i, batch in enumerate(batches):
            slot = self.slots[i % 2]
            if slot.pending is not None:
                j, out = self._collect(slot)
                results[j] = out
            self._submit(slot, batch, i)
        for slot in self.slots:
            if slot.pending is not None:
                j, out = self._collect(slot)
                results[j] = out
        return results  # type: ignore[return-value]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.infer_batches([batch])[0]

    def _buffers(self, key: tuple, make: Callable[[], _FrameBuffers]) -> _FrameBuffers:
        """The device buffers of the frame size and plan being streamed (the previous ones freed)."""
        if key not in self._frames:
            for old in self._frames.values():
                old.free()
            self._frames = {key: make()}
        return self._frames[key]

    def _infer_on_device(self, buf: _FrameBuffers, plan, pack: Callable[[int, int, int], None],  # noqa: ANN001
                         stream) -> tuple[int, int, int, np.dtype]:  # noqa: ANN001
        """Every batch: ``pack(first, count, origins_ptr)`` fills the engine input, the engine writes
        its outputs into ``buf.dev_tiles``; then the tiles are blended (more than one). Returns the
        planes' device pointer, channel stride, row stride and type."""
        if plan.tile_shape != (self.fixed_tile, self.fixed_tile):
            raise BackendError(f"the engine takes {self.fixed_tile}x{self.fixed_tile} tiles, the plan has "
                               f"{plan.tile_shape}")
        th, tw = plan.tile_shape
        s, n, c_out = plan.scale, len(plan), self.spec.out_channels
        out_dtype = self.slots[0].host_out.dtype
        tile_bytes = c_out * th * s * tw * s * out_dtype.itemsize
        for first in range(0, n, self.max_batch):
            count = min(self.max_batch, n - first)
            pack(first, count, int(buf.tables[0]) + first * 8)  # origins: int32 pairs
            self.context.set_input_shape(self.in_name, (count, self.spec.in_channels, th, tw))
            self.context.set_tensor_address(self.in_name, int(self.slots[0].dev_in))
            self.context.set_tensor_address(self.out_name, int(buf.dev_tiles) + first * tile_bytes)
            if not self.context.execute_async_v3(stream_handle=stream.handle):
                raise BackendError("TensorRT failed to enqueue inference")
        if n == 1:  # the one tile is the (padded) frame: read its planes with the tile's strides
            return int(buf.dev_tiles), th * s * tw * s, tw * s, out_dtype
        oh, ow = plan.output_shape
        self.kernels.blend_tiles(int(buf.dev_tiles), out_dtype, (n, c_out, th * s, tw * s),
                                 [int(t) for t in buf.tables], s, int(buf.dev_planes), (oh, ow), stream.handle)
        return int(buf.dev_planes), oh * ow, ow, np.dtype(np.float32)

    def run_frame_samples(self, frame: np.ndarray, plan, mode: int, gain: float, bias: float,  # noqa: ANN001
                          inv: tuple[float, float]) -> np.ndarray | None:
        """The whole tile loop on the GPU, samples out (see the module docstring); ``None`` when
        the CUDA kernels are not built."""
        return self._run_frame(frame, plan, mode, gain, bias, inv)

    def run_frame_planes(self, frame: np.ndarray, plan, mode: int, gain: float,  # noqa: ANN001
                         bias: float) -> np.ndarray | None:
        """The whole tile loop on the GPU, the blended float32 planes out; ``None`` when the CUDA
        kernels are not built."""
        return self._run_frame(frame, plan, mode, gain, bias, None)

    def _run_frame(self, frame: np.ndarray, plan, mode: int, gain: float, bias: float,  # noqa: ANN001
                   unpack: tuple[float, float] | None) -> np.ndarray | None:
        """Both device paths: the ``(H*s, W*s, C)`` frame when ``unpack`` gives ``(inv_gain,
        inv_bias)``, else the float32 ``(C, H*s, W*s)`` planes."""
        if self.kernels is None:
            return None
        k, cuda, slot = self.kernels, self.cuda, self.slots[0]
        th, tw = plan.tile_shape
        s, n, c_out = plan.scale, len(plan), self.spec.out_channels
        oh, ow = plan.output_shape
        result_shape, result_dtype = ((oh, ow, frame.shape[2]), frame.dtype) if unpack else ((c_out, oh, ow),
                                                                                              np.float32)
        buf = self._buffers((frame.shape, frame.dtype.str, plan, unpack is None), lambda: _FrameBuffers(
            cuda, frame, plan, (n, c_out, th * s, tw * s), slot.host_out.dtype, result_shape, result_dtype))
        stream = slot.stream
        buf.host_frame[...] = frame
        cuda.memcpy_htod_async(buf.dev_frame, buf.host_frame, stream)
        h, w, c = frame.shape

        def pack(first: int, count: int, origins: int) -> None:
            k.pack_tiles(int(buf.dev_frame), (h, w, c), frame.dtype, w * c, origins, count, th, tw, mode,
                         int(slot.dev_in), self.input_dtype, gain, bias, stream.handle)

        planes, cs, rs, real = self._infer_on_device(buf, plan, pack, stream)
        if unpack:
            k.unpack(planes, real, (c_out, oh, ow), cs, rs, int(buf.dev_result), c, frame.dtype, ow * c, *unpack,
                     stream.handle)
            cuda.memcpy_dtoh_async(buf.host_result, buf.dev_result, stream)
        elif n == 1:  # the planes of the single tile: copy it down, crop on the host
            stream.synchronize()
            whole = np.empty((c_out, th * s, tw * s), real)
            cuda.memcpy_dtoh(whole, buf.dev_tiles)
            return whole[:, :oh, :ow].astype(np.float32)
        else:
            cuda.memcpy_dtoh_async(buf.host_result, buf.dev_planes, stream)
        stream.synchronize()
        return buf.host_result.copy()

    def run_frame_yuv420(self, planes, matrix, plan, gain: float, bias: float,  # noqa: ANN001
                         inv: tuple[float, float]) -> np.ndarray | None:
        """:meth:`run_frame_samples` for a decoded 4:2:0 frame and an RGB model: the planes are uploaded
        as they are (1.5 bytes per pixel), converted while packed and converted back while
        unpacked on the GPU, and the encoder's yuv420p frame is downloaded."""
        if self.kernels is None or self.spec.in_channels != 3:
            return None
        y, u, v = planes
        h, w = y.shape
        k, cuda, slot = self.kernels, self.cuda, self.slots[0]
        th, tw = plan.tile_shape
        s, n, c_out = plan.scale, len(plan), self.spec.out_channels
        oh, ow = plan.output_shape
        buf = self._buffers(("yuv420", y.shape, plan), lambda: _YuvBuffers(
            cuda, (h, w), plan, (n, c_out, th * s, tw * s), slot.host_out.dtype))
        host = buf.host_frame.reshape(-1)
        ysize, csize = h * w, buf.ch * buf.cw
        host[:ysize].reshape(h, w)[...] = y
        host[ysize:ysize + csize].reshape(buf.ch, buf.cw)[...] = u
        host[ysize + csize:].reshape(buf.ch, buf.cw)[...] = v
        stream = slot.stream
        cuda.memcpy_htod_async(buf.dev_frame, buf.host_frame, stream)
        base = int(buf.dev_frame)

        def pack(first: int, count: int, origins: int) -> None:
            k.pack_tiles_yuv420((base, base + ysize, base + ysize + csize), (w, buf.cw), (h, w), matrix, origins,
                                count, th, tw, 0, int(slot.dev_in), self.input_dtype, gain, bias, stream.handle)

        planes_ptr, cs, rs, real = self._infer_on_device(buf, plan, pack, stream)
        out = int(buf.dev_result)
        quarter = (oh // 2) * (ow // 2)
        k.unpack_yuv420(planes_ptr, real, (oh, ow), cs, rs, (out, out + oh * ow, out + oh * ow + quarter),
                        (ow, ow // 2), matrix, *inv, stream.handle)
        cuda.memcpy_dtoh_async(buf.host_result, buf.dev_result, stream)
        stream.synchronize()
        return buf.host_result.copy()

    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            for buf in getattr(self, "_frames", {}).values():
                buf.free()
            self._frames = {}
            for slot in getattr(self, "slots", []):
                slot.dev_in.free()
                slot.dev_out.free()
            self.slots = []
            self.context = self.engine = self.runtime = None
            self._ctx.pop()
            self._ctx.detach()
            self._ctx = None


BACKEND = BackendDef(
    name="trt", title="TensorRT engines (pycuda buffers and streams)", libraries=("tensorrt", "tensorrt-cu12", "tensorrt-cu13"),
    precisions=("fp16", "fp32", "int8"), runner="srstream.engine.backends.trt_backend:TrtBackend",
    options=TrtOptions, probe=_probe, install="pip install 'sr-stream[gpu]'",
)
