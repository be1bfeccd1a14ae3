"""Parity: an exported ONNX graph, run by ONNX Runtime, must compute what the PyTorch model does.

Every export runs this (not only the tests). The cases are random inputs and real image crops
(bundled with the package, cut from the sample clip) at several sizes, odd ones and a batch of
two included, so the dynamic height/width/batch axes are exercised as well as the arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from srstream.errors import ExportError
from srstream.images import LUMA_BT601, load_rgb
from srstream.spec import ModelSpec

if TYPE_CHECKING:  # torch only where a module is checked: the INT8 quantiser reads model_input without it
    import torch

__all__ = ["PARITY_IMAGES", "TOLERANCES", "ParityCase", "ParityReport", "check_parity", "model_input", "parity_inputs"]

PARITY_IMAGES = Path(__file__).with_name("parity_images")
#: Max abs error allowed against the fp32 PyTorch output, on [0, 1] values. fp16 carries 11
#: significant bits: through a deep net that is a few 1e-3; fp16 must stay within two 8-bit
#: output levels (2/255).
TOLERANCES = {"fp32": 1e-4, "fp16": 2 / 255}
#: Random-input shapes (height, width, batch): odd, rectangular, batched.
RANDOM_SHAPES = ((17, 23, 1), (32, 48, 2), (41, 30, 1))


@dataclass(frozen=True)
class ParityCase:
    """One input run through both models."""

    label: str
    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float


@dataclass(frozen=True)
class ParityReport:
    precision: str
    tolerance: float
    cases: tuple[ParityCase, ...]

    @property
    def max_abs(self) -> float:
        return max(c.max_abs for c in self.cases)

    @property
    def passed(self) -> bool:
        return self.max_abs <= self.tolerance

    def summary(self) -> str:
        worst = max(self.cases, key=lambda c: c.max_abs)
        return (f"{self.precision} parity vs PyTorch: max abs error {self.max_abs:.2e} "
                f"(tolerance {self.tolerance:.1e}) over {len(self.cases)} inputs; worst {worst.label} {worst.shape}")


def _fit(x: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Crop ``(N, C, H, W)`` to the spec's size multiple and map [0, 1] to its value range."""
    m = spec.size_multiple
    h, w = x.shape[2] - x.shape[2] % m, x.shape[3] - x.shape[3] % m
    low, high = spec.value_range
    return (x[:, :, :h, :w] * (high - low) + low).astype(np.float32)


def model_input(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """A uint8 ``(H, W, 3)`` RGB image as the model's float32 ``(1, C, H', W')`` input: BT.601 grey
    for one-channel models, cropped to the size multiple, mapped to the value range."""
    x = rgb.astype(np.float32) / 255.0
    if spec.in_channels == 1:
        x = x @ np.array(LUMA_BT601, np.float32)[:, None]
    return _fit(x.transpose(2, 0, 1)[None], spec)


def parity_inputs(spec: ModelSpec, images: Sequence[Path] = (), seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Labelled float32 ``(N, C, H, W)`` inputs: random ones and real crops (bundled + ``images``)."""
    rng = np.random.default_rng(seed)
    cases = [(f"random{h}x{w}", _fit(rng.random((n, spec.in_channels, h, w)), spec))
             for h, w, n in RANDOM_SHAPES]
    for path in [*sorted(PARITY_IMAGES.glob("*.png")), *images]:
        cases.append((path.stem, model_input(load_rgb(path)[:96, :96], spec)))
    return cases


def check_parity(module: torch.nn.Module, spec: ModelSpec, onnx_bytes: bytes, *, precision: str = "fp32",
                 images: Sequence[Path] = (), tolerance: float | None = None, raise_on_fail: bool = True) -> ParityReport:
    """Compare ONNX Runtime (CPU) running ``onnx_bytes`` with ``module`` in fp32 on :func:`parity_inputs`.

    Raises:
        ExportError: the graph cannot be loaded, or an error exceeds the tolerance (with
            ``raise_on_fail``).
    """
    import onnxruntime as ort
    import torch

    tol = TOLERANCES[precision] if tolerance is None else tolerance
    try:
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's own exception types are not exported
        raise ExportError(f"ONNX Runtime cannot load the {precision} graph of {spec.name}: {exc}") from exc
    cases = []
    module = module.eval()
    io_dtype = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
    for label, x in parity_inputs(spec, images):
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        got = session.run([spec.output_name], {spec.input_name: x.astype(io_dtype)})[0].astype(np.float32)
        if got.shape != expected.shape:
            raise ExportError(f"{spec.name}: ONNX output {got.shape} != PyTorch output {expected.shape} for {label}")
        err = np.abs(got - expected)
        cases.append(ParityCase(label, tuple(x.shape), float(err.max()), float(err.mean())))
    report = ParityReport(precision, tol, tuple(cases))
    if raise_on_fail and not report.passed:
        raise ExportError(f"{spec.name}: {report.summary()}: the exported graph does not compute what the "
                          "PyTorch model does; nothing was written")
    return report
