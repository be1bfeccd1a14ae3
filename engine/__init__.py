"""The streaming runtime (``srstream.engine``): backends, sources, sinks and the pipeline.

Never imports torch: upscaling with the ONNX Runtime backend works in an environment without
it. Optional runtimes (tensorrt, pycuda, onnxruntime-gpu, torch) are imported lazily inside the
backend that needs them.
"""
