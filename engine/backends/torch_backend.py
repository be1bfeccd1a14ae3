"""PyTorch reference backend: CPU fp32 or bf16 (autocast; fast with AMX), CUDA fp16.

On CUDA the network runs in channels-last layout (what tensor-core convolutions want) and, per
input shape, as a captured CUDA graph replayed for every batch of that shape (one launch instead
of one per layer): the engine streams one tile or frame shape, so a video captures once.

Needs the weights as ``NAME.safetensors`` beside ``NAME.onnx`` (bundled models ship both;
``sr-stream export`` users can copy the checkpoint's ``model.safetensors`` there). torch and the
architectures are imported only here, only when this backend is chosen.
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

__all__ = ["BACKEND", "TorchBackend", "TorchOptions", "weights_path"]


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

    def close(self) -> None:
        self._graphs.clear()


BACKEND = BackendDef(
    name="torch", title="PyTorch reference (CPU fp32/bf16, CUDA fp16)", libraries=("torch",),
    precisions=("fp32", "bf16", "fp16"), runner="srstream.engine.backends.torch_backend:TorchBackend",
    options=TorchOptions, probe=_probe,
    install=TORCH_INSTALL,
    device_field="device",
)
