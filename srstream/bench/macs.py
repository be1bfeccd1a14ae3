"""Compute cost of a model: multiply-accumulates per input (LR) pixel.

For our ONNX graphs the count comes from ONNX shape inference on the graph itself (every Conv and
ConvTranspose: output elements x input channels per group x kernel area), at a fixed input size,
divided by the input's pixel count; resizes, activations and the pixel shuffle are not counted
(they are a few operations per pixel). OpenCV's dnn_superres peers are TensorFlow graphs, so their
cost is computed from their published architectures (:data:`PEER_MACS`).
"""

from __future__ import annotations

from pathlib import Path

from srstream.errors import DependencyError

__all__ = ["PEER_MACS", "fsrcnn_macs", "onnx_macs_per_pixel"]


def fsrcnn_macs(d: int, s: int, m: int) -> int:
    """FSRCNN(d, s, m) per LR pixel (Dong et al. 2016): 5x5 feature extraction (1 -> d), 1x1
    shrink (d -> s), m 3x3 maps (s -> s), 1x1 expand (s -> d), a 9x9 transposed conv (d -> 1)
    whose every input pixel feeds 81 outputs (whatever its stride, the scale)."""
    return 25 * d + d * s + 9 * s * s * m + s * d + 81 * d


#: OpenCV dnn_superres peers: MACs per LR pixel from their architectures.
PEER_MACS: dict[str, int] = {
    **{f"opencv-fsrcnn-small-x{k}": fsrcnn_macs(32, 5, 1) for k in (2, 3, 4)},
    **{f"opencv-fsrcnn-x{k}": fsrcnn_macs(56, 12, 4) for k in (2, 3, 4)},
    # ESPCN (Shi et al. 2016): 5x5 1 -> 64, 3x3 64 -> 32, 3x3 32 -> s^2, then a pixel shuffle
    **{f"opencv-espcn-x{k}": 25 * 64 + 9 * 64 * 32 + 9 * 32 * k * k for k in (2, 3, 4)},
}


def onnx_macs_per_pixel(path: Path, size: tuple[int, int] = (64, 64)) -> float:
    """MACs per input pixel of the ONNX graph at ``path``, counted at ``size`` (width, height).

    Raises:
        DependencyError: onnx is not installed.
    """
    try:
        import onnx
        from onnx import shape_inference
    except ModuleNotFoundError as exc:
        raise DependencyError("counting MACs needs onnx: pip install 'sr-stream[export]'") from exc
    model = onnx.load(str(path))
    graph_input = model.graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    w, h = size
    for dim, value in zip(dims, (1, dims[1].dim_value or 3, h, w)):
        dim.ClearField("dim_param")
        dim.dim_value = value
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)}
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose") or node.input[1] not in weights:
            continue
        kernel = weights[node.input[1]]
        if node.op_type == "Conv":
            out = shapes[node.output[0]]  # (N, Co, H, W): each output element sums Ci/g x kh x kw
            total += out[1] * out[2] * out[3] * kernel[1] * kernel[2] * kernel[3]
        else:
            inp = shapes[node.input[0]]  # every input element feeds Co/g x kh x kw outputs
            total += inp[1] * inp[2] * inp[3] * kernel[1] * kernel[2] * kernel[3]
    return total / (w * h)
