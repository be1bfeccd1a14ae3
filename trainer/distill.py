"""Distillation targets: a stronger teacher's upscale of every training image, computed once.

A student learns from the HR patch and from what a teacher makes of the same LR patch. Running
the teacher on every batch would cost far more than the student's own step on a CPU (a 410k
MAC/pixel teacher for a 10k MAC/pixel student), so :class:`TeacherBank` runs it once per
training image instead: each HR image of the :class:`~srstream.trainer.data.ImageBank` is
downscaled exactly as the patches are (MATLAB bicubic by the scale, rounded to uint8), upscaled
by the teacher (optionally with the x8 self-ensemble, which a one-off pass can afford), and
stored as uint8 in a memory-mapped file laid out like the bank. A patch's teacher target is then
the same crop of that file, flipped and rotated like the HR patch; with a teacher, patches start
on the LR grid, so the patch's LR is exactly that region of the image's LR (flipped and rotated:
exact for the x8 ensemble, which is equivariant, and close for a plain teacher).

The teacher sees whole images, so its target for a patch uses context beyond the patch: it is
what the teacher would output for that region of the full frame. Degradations apply to the
student's LR only; the teacher's target stays its upscale of the clean LR (a clean estimate of
HR), so distillation also teaches restoration.

The teacher is a checkpoint (run folder, checkpoint folder or ``model.safetensors``, read with
safetensors; re-parameterised blocks are collapsed) run by torch, or an exported ``.onnx`` run by
the engine. The cache is keyed by the bank, the teacher file's checksum, the scale and the
ensemble flag.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from srstream.errors import ConfigError
from srstream.imresize import imresize
from srstream.trainer.data import ImageBank

__all__ = ["TeacherBank", "load_teacher"]

Upscale = Callable[[np.ndarray], np.ndarray]  # uint8 RGB (h, w, 3) -> uint8 RGB (h*s, w*s, 3)


def _ensemble(upscale: Upscale) -> Upscale:
    """The x8 self-ensemble of ``upscale``: every flip/transpose, undone, averaged."""
    def run(lr: np.ndarray) -> np.ndarray:
        acc = None
        for transpose in (False, True):
            for flip_v in (False, True):
                for flip_h in (False, True):
                    x = lr.transpose(1, 0, 2) if transpose else lr
                    x = x[::-1] if flip_v else x
                    x = x[:, ::-1] if flip_h else x
                    y = upscale(np.ascontiguousarray(x)).astype(np.float32)
                    y = y[:, ::-1] if flip_h else y
                    y = y[::-1] if flip_v else y
                    y = y.transpose(1, 0, 2) if transpose else y
                    acc = y if acc is None else acc + y
        assert acc is not None
        return np.clip(np.floor(acc / 8.0 + 0.5), 0, 255).astype(np.uint8)

    return run


def load_teacher(path: Path, scale: int) -> tuple[Upscale, str]:
    """The teacher behind ``path`` as a uint8 upscaler, and a description.

    Raises:
        ConfigError: the file is missing, or the teacher's scale is not ``scale``.
        ModelError: unreadable weights.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"teacher {path} does not exist")
    if path.suffix == ".onnx":
        from srstream.engine.backends import backend_def
        from srstream.engine.models import read_onnx_spec
        from srstream.engine.upscaler import FrameUpscaler

        spec = read_onnx_spec(path)
        upscaler = FrameUpscaler(backend_def("ort").open(spec, path, "fp32"), spec, "auto")
        run, what = upscaler.upscale, f"{spec.name} (ONNX, {path})"
    else:
        import torch

        from srstream.export.sources import load_generator
        from srstream.trainer.validate import upscale_image

        loaded = load_generator(path)
        spec, device = loaded.spec, torch.device("cpu")
        run, what = (lambda lr: upscale_image(loaded.module, lr, device)), f"{spec.name} ({loaded.path})"
    if spec.scale != scale:
        raise ConfigError(f"teacher {path} upscales x{spec.scale}; the student is x{scale}")
    return run, what


class TeacherBank:
    """The teacher's uint8 upscale of every image of ``bank``, memory-mapped, laid out like it.

    Args:
        bank: the HR images. teacher: checkpoint or ``.onnx`` (see :func:`load_teacher`).
        scale: the SR factor. cache_dir: where ``teacher-<key>.u8`` is kept.
        ensemble: run the teacher with the x8 self-ensemble (8x the one-off cost, ~0.1 dB better).
    """

    def __init__(self, bank: ImageBank, teacher: Path, scale: int, cache_dir: Path, *, ensemble: bool = False,
                 log: Callable[[str], None] | None = None) -> None:
        self.bank, self.scale = bank, scale
        digest = hashlib.sha256(Path(_weights_file(teacher)).read_bytes()).hexdigest()[:16]
        key = hashlib.sha256(json.dumps([bank.path.name, digest, scale, ensemble]).encode()).hexdigest()[:16]
        self.path = Path(cache_dir) / f"teacher-{key}.u8"
        if not self.path.is_file():
            self._build(teacher, ensemble, log or (lambda text: print(text, file=sys.stderr, flush=True)))
        self.data = np.memmap(self.path, dtype=np.uint8, mode="r")

    def _build(self, teacher: Path, ensemble: bool, log: Callable[[str], None]) -> None:
        upscale, what = load_teacher(teacher, self.scale)
        if ensemble:
            upscale = _ensemble(upscale)
        log(f"sr-stream train: computing the teacher's targets once ({what}{', x8 ensemble' if ensemble else ''}, "
            f"{len(self.bank)} images, {self.bank.pixels / 1e6:.0f} MP)")
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        started, s = time.perf_counter(), self.scale
        with open(tmp, "wb") as out:
            for i in range(len(self.bank)):
                hr = self.bank.image(i)
                h, w = hr.shape[0] - hr.shape[0] % s, hr.shape[1] - hr.shape[1] % s
                lr = np.clip(np.floor(imresize(np.ascontiguousarray(hr[:h, :w]), 1 / s) + 0.5), 0, 255).astype(np.uint8)
                target = np.pad(upscale(lr), ((0, hr.shape[0] - h), (0, hr.shape[1] - w), (0, 0)), mode="edge")
                out.write(np.ascontiguousarray(target).tobytes())
                if (i + 1) % 50 == 0:
                    log(f"  teacher targets: {i + 1}/{len(self.bank)} images, {time.perf_counter() - started:.0f} s")
        os.replace(tmp, self.path)

    def image(self, i: int) -> np.ndarray:
        """The teacher's upscale of bank image ``i``, the same shape as the HR image."""
        e = self.bank.entries[i]
        return self.data[e.offset:e.offset + e.height * e.width * 3].reshape(e.height, e.width, 3)


def _weights_file(teacher: Path) -> Path:
    """The file whose bytes identify ``teacher`` (a run folder's newest checkpoint)."""
    teacher = Path(teacher)
    if teacher.suffix == ".onnx" or teacher.is_file():
        return teacher
    from srstream.export.sources import locate_weights

    return locate_weights(teacher)
