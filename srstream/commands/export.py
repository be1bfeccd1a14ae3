"""``sr-stream export``: checkpoint -> ONNX -> TensorRT (implemented by ``srstream.export``)."""

from srstream.commands._pending import pending

COMMAND = pending("the exporter (sr-stream export)",
                  "Export a checkpoint to ONNX (fp32/fp16/int8) and a TensorRT engine.")
