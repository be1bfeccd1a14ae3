"""Export (``srstream.export``): checkpoint -> ONNX (fp32/fp16/int8) -> TensorRT engine,
with parity checks against PyTorch.

Needs ``pip install 'sr-stream[export]'``.
"""
