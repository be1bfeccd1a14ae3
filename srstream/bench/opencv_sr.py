"""OpenCV's super-resolution models (``dnn_superres``: ESPCN, FSRCNN, LapSRN) run as their users run them.

These TensorFlow ``.pb`` graphs see the luma of a full-range YCrCb image scaled to [0, 1];
the chroma is resized bilinearly and the result converted back to BGR, as
``cv::dnn_superres::DnnSuperResImpl::upsample`` does. With opencv-contrib installed
(``cv2.dnn_superres``) that class itself runs. Without it (the base install carries
opencv-python-headless), the same graph runs through ``cv2.dnn`` with the preprocessing
reproduced here. Recent OpenCV (4.12, 4.14 and 5.0 checked) has a built-in ``DepthToSpace`` layer that looks for
a ``blocksize`` attribute where TensorFlow writes ``block_size`` (dnn_superres registers its own
layer instead), so the graph's attribute is renamed in memory before OpenCV reads it
(:func:`rename_block_size`); nothing else in the graph changes. Both routes give identical
images (checked; see ``benchmarks/results/bench/README.md``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from srstream.errors import DependencyError, ModelError
from srstream.protowire import field as _field
from srstream.protowire import fields as _fields

__all__ = ["OpenCvSuperRes", "rename_block_size"]


def _rename_in_node(node: bytes) -> bytes:
    # NodeDef: 2 = op, 5 = attr map entries {1: key, 2: value}.
    parts = list(_fields(node))
    if next((p for n, _, p in parts if n == 2), b"") != b"DepthToSpace":
        return node
    out = []
    for number, raw, payload in parts:
        if number == 5 and payload is not None:
            entry = list(_fields(payload))
            if any(n == 1 and p == b"block_size" for n, _, p in entry):
                raw = _field(5, b"".join(_field(1, b"blocksize") if n == 1 else r for n, r, _ in entry))
        out.append(raw)
    return b"".join(out)


def rename_block_size(graph: bytes) -> bytes:
    """A TensorFlow GraphDef with each ``DepthToSpace`` node's ``block_size`` attribute renamed
    ``blocksize`` (GraphDef field 1 holds the nodes); every other byte is kept."""
    return b"".join(_field(1, _rename_in_node(p)) if n == 1 and p is not None else raw
                    for n, raw, p in _fields(graph))


class OpenCvSuperRes:
    """One dnn_superres ``.pb`` model: ``uint8 RGB (h, w, 3) -> uint8 RGB (h*s, w*s, 3)``.

    Args:
        path: the ``.pb`` file.
        algo: dnn_superres's algorithm name (``espcn``, ``fsrcnn``, ``lapsrn``; they share one path).
        scale: the model's factor; checked against the graph's output on a probe image.

    Raises:
        ModelError: the file is missing or not a graph OpenCV can run, or its factor is not ``scale``.
        DependencyError: this OpenCV cannot read TensorFlow graphs (5.1 and later, without contrib).
    """

    def __init__(self, path: Path, algo: str, scale: int) -> None:
        self.path, self.algo, self.scale = Path(path), algo, scale
        if not self.path.is_file():
            raise ModelError(f"OpenCV model {self.path} does not exist")
        self.contrib = hasattr(cv2, "dnn_superres")
        if not self.contrib and not hasattr(cv2.dnn, "readNetFromTensorflow"):
            raise DependencyError(f"OpenCV {cv2.__version__} cannot read {self.path.name}: its dnn module has no "
                                  "TensorFlow importer (dropped in OpenCV 5.1); pip install "
                                  "'opencv-python-headless>=4.8,<5.1'")
        try:
            if self.contrib:
                self._sr = cv2.dnn_superres.DnnSuperResImpl_create()
                self._sr.readModel(str(self.path))
                self._sr.setModel(algo, scale)
            else:
                graph = rename_block_size(self.path.read_bytes())
                self._net = cv2.dnn.readNetFromTensorflow(np.frombuffer(graph, np.uint8))
            probe = self(np.full((8, 10, 3), 128, np.uint8))
        except (cv2.error, ValueError, IndexError) as exc:  # IndexError/ValueError: not a protobuf file
            raise ModelError(f"OpenCV cannot run {self.path} ({str(exc).strip().splitlines()[-1]})") from exc
        if probe.shape[:2] != (8 * scale, 10 * scale):
            raise ModelError(f"{self.path} upscales 8x10 to {probe.shape[1]}x{probe.shape[0]}, not x{scale}")

    @property
    def runtime(self) -> str:
        route = "opencv-contrib dnn_superres" if self.contrib else "cv2.dnn (dnn_superres preprocessing)"
        return f"OpenCV {cv2.__version__} {route}"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        if self.contrib:
            return self._sr.upsample(bgr)[..., ::-1]
        ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(np.float32) * np.float32(1 / 255)
        self._net.setInput(cv2.dnn.blobFromImage(ycrcb[..., 0], 1.0))
        y = self._net.forward()[0, 0]
        size = (y.shape[1], y.shape[0])
        cr = cv2.resize(ycrcb[..., 1], size)  # INTER_LINEAR, as dnn_superres resizes chroma
        cb = cv2.resize(ycrcb[..., 2], size)
        merged = cv2.merge([y, cr, cb])
        merged = _to_u8(merged)
        return cv2.cvtColor(merged, cv2.COLOR_YCrCb2BGR)[..., ::-1]


def _to_u8(image: np.ndarray) -> np.ndarray:
    """``Mat::convertTo(CV_8U, 255.0)``: scale, round half to even, saturate."""
    return np.clip(np.rint(image * np.float32(255.0)), 0, 255).astype(np.uint8)
