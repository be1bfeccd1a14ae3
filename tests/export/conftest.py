"""Export tests need torch and onnx (the [train] and [export] extras)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")
pytest.importorskip("onnx", reason="needs onnx (pip install 'sr-stream[export]')")
pytest.importorskip("onnxscript", reason="needs onnxscript (pip install 'sr-stream[export]')")
