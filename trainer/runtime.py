"""Where and how training runs: device, precision (bf16 autocast on CPU, fp16 AMP on CUDA),
memory layout, and multi-process DDP under ``torchrun``.

``precision="auto"`` and ``memory_format="auto"`` are resolved once per run, on the CPU, by timing
a few forward/backward passes of the real model on a real batch in each candidate (fp32 and, where
the CPU has native bf16, bf16; NCHW and channels-last) and keeping the fastest. On CUDA precision
auto is fp16 and the layout NCHW.

Why time the layout rather than fix it: on a 2-core Zen 3, oneDNN's channels-last (NHWC)
convolutions ran the probe step of most edge-oriented compact nets 1.10-1.16x faster and of
SRResNet 1.49x faster than NCHW, but realtime-x4's at the same speed and quality-x4's plain
48-wide net 8% slower (``benchmarks/results/training/memory_format/``): the answer depends on the
net and the CPU.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from srstream.errors import ConfigError

__all__ = ["MEMORY_FORMATS", "Runtime"]

#: ``memory_format`` values of a recipe (``auto``: the faster of the two, timed on the CPU)
MEMORY_FORMATS = ("auto", "contiguous", "channels_last")


def cpu_has_fast_bf16() -> bool:
    """Native bf16 arithmetic on this CPU (AVX512-BF16 or AMX): where bf16 autocast can be faster.
    Elsewhere torch emulates it (a step took 20 s on an AVX2-only Zen 3)."""
    from srstream.sysinfo import cpu_info

    features = cpu_info().features
    return bool(features.get("avx512_bf16") or features.get("amx_bf16"))


def _limit_threads() -> None:
    """torch gets the cores (shared among local DDP processes); numpy's BLAS gets one thread.

    The data pipeline's small matrix products run beside torch's kernels: a multi-threaded
    OpenBLAS there oversubscribes the cores and made training 3x slower on 2 cores.
    """
    from threadpoolctl import threadpool_limits

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if "OMP_NUM_THREADS" not in os.environ:  # an explicit setting wins
        torch.set_num_threads(max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    threadpool_limits(1, user_api="blas")


@dataclass
class Runtime:
    """Device, precision and process group of one training process."""

    device: torch.device
    precision: str
    memory_format: str = "auto"  # auto | contiguous (NCHW) | channels_last (NHWC)
    rank: int = 0
    world: int = 1
    scalers: dict[int, Any] = field(default_factory=dict, repr=False)  # one GradScaler per optimiser
    init_scale: float = 2.0**16  # fp16's first loss scale (torch's default)

    @classmethod
    def create(cls, device: str = "auto", precision: str = "auto", memory_format: str = "auto") -> Runtime:
        """Resolve ``device``; join the process group when launched by ``torchrun``."""
        if memory_format not in MEMORY_FORMATS:
            raise ConfigError(f"memory_format must be one of {', '.join(MEMORY_FORMATS)}, got {memory_format!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but torch sees no CUDA GPU")
        if precision == "fp16" and device != "cuda":
            raise ConfigError("fp16 training needs a CUDA GPU; use bf16 or fp32 on the CPU")
        _limit_threads()
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        dev = torch.device(device)
        if world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if device == "cuda" else "gloo")
            if device == "cuda":
                dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(dev)
        rt = cls(dev, precision, memory_format, rank, world)
        if device == "cuda":
            rt.precision = "fp16" if precision == "auto" else precision
            rt.memory_format = "contiguous" if memory_format == "auto" else memory_format  # not timed on GPUs
        return rt

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.precision == "fp16":
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    @property
    def torch_memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.memory_format == "channels_last" else torch.contiguous_format

    def laid_out(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` in this run's layout (only 4-D tensors have one)."""
        return tensor.contiguous(memory_format=self.torch_memory_format) if tensor.dim() == 4 else tensor

    def lay_out(self, module: nn.Module) -> nn.Module:
        """``module``'s 4-D parameters and buffers in this run's layout (in place; returns it)."""
        return module.to(memory_format=self.torch_memory_format)

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP-wrap ``module`` when running with several processes."""
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def scaler(self, opt: torch.optim.Optimizer) -> Any | None:
        """The fp16 gradient scaler of ``opt`` (made at its first use), or None in other precisions."""
        if self.precision != "fp16":
            return None
        scaler = self.scalers.get(id(opt))
        if scaler is None:
            scaler = self.scalers[id(opt)] = torch.amp.GradScaler(self.device.type, init_scale=self.init_scale)
        return scaler

    def backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params: Iterator[nn.Parameter],
                      clip: float) -> bool:
        """``zero_grad -> backward -> (unscale) -> clip -> step``; fp16 uses a GradScaler per
        optimiser (the generator and the discriminator each step once per iteration).

        Returns whether the optimiser stepped: fp16's scaler skips a step whose gradients
        overflowed, and halves its scale (often the first few steps of a run). The caller steps
        the schedule only after a step, as torch expects (it warns otherwise)."""
        opt.zero_grad(set_to_none=True)
        scaler = self.scaler(opt)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(list(params), clip)
            scale = scaler.get_scale()
            scaler.step(opt)
            scaler.update()
            return scaler.get_scale() >= scale  # lowered only where it skipped
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(list(params), clip)
        opt.step()
        return True

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def pick(self, step: Callable[[], None], repeats: int = 3) -> dict[str, float]:
        """Resolve ``auto`` precision and memory layout on the CPU by timing ``step``.

        ``step`` runs one forward+backward pass in the runtime's current precision and layout (it
        lays the model and its batch out with :meth:`lay_out` / :meth:`laid_out`). bf16 is a
        candidate only where the CPU has it natively; elsewhere it is emulated, several times slower,
        and not worth timing. Returns the seconds per step of each candidate timed (``"fp32
        channels_last"`` ...; empty when there was one candidate) and keeps the fastest.
        """
        precisions = [self.precision]
        if self.precision == "auto":
            precisions = ["fp32", "bf16"] if cpu_has_fast_bf16() else ["fp32"]
        layouts = [self.memory_format] if self.memory_format != "auto" else ["contiguous", "channels_last"]
        if len(precisions) * len(layouts) == 1:
            self.precision, self.memory_format = precisions[0], layouts[0]
            return {}
        if self.is_main:
            print(f"sr-stream train: timing {' and '.join(precisions)} x {' and '.join(layouts)} on one batch "
                  "(a few seconds, once)...", file=sys.stderr, flush=True)
        timings = {}
        for precision in precisions:
            for layout in layouts:
                self.precision, self.memory_format = precision, layout
                step()  # warm-up: one-off allocations and kernel selection
                start = time.perf_counter()
                for _ in range(repeats):
                    step()
                timings[f"{precision} {layout}"] = (time.perf_counter() - start) / repeats
        self.precision, self.memory_format = min(timings, key=timings.__getitem__).split()
        if self.world > 1:  # every process takes the first one's choice, so the ranks train alike
            import torch.distributed as dist

            choice = [self.precision, self.memory_format]
            dist.broadcast_object_list(choice, src=0)
            self.precision, self.memory_format = choice
        return timings
