"""OpenCV dnn_superres's models (ESPCN, FSRCNN, LapSRN: frozen TensorFlow ``GraphDef`` ``.pb``
files) as ONNX graphs the engine runs.

Their users ran them through ``cv2.dnn_superres``, on the luma of a full-range YCrCb picture in
[0, 1], the chroma resized bilinearly. ``--model FSRCNN_x2.pb`` was refused (and the way it
suggested, ``sr-stream export``, failed too: it reads PyTorch files). The graphs use a handful of
TensorFlow ops on NHWC tensors, which are written here op for op as ONNX nodes: a Conv2D as a
Conv between two Transposes, DepthToSpace likewise (TensorFlow's channel order is ONNX's ``DCR``),
the elementwise ops and their constants as they are (a per-channel constant broadcasts on NHWC's
last axis in both); ONNX Runtime's optimiser then folds the Transposes away. Neither TensorFlow
(hundreds of megabytes, for a converter such as tf2onnx) nor OpenCV is needed, and OpenCV 5.1 drops
the TensorFlow importer its users ran them with. :func:`check_against_opencv` compares the result
with OpenCV's own run of the graph where this OpenCV still has that importer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from srstream.errors import DependencyError, ModelError
from srstream.protowire import fields, values, varints

__all__ = ["OPS", "TfNode", "check_against_opencv", "read_graph", "to_onnx"]

#: The TensorFlow ops converted (what the dnn_superres models use, and their near kin).
OPS = ("Placeholder", "Const", "Identity", "Conv2D", "BiasAdd", "Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum",
       "Minimum", "Relu", "Relu6", "Abs", "Tanh", "Sigmoid", "DepthToSpace", "Transpose")
#: TensorFlow's DataType numbers of the constants read, as numpy types.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}
_ELEMENTWISE = {"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
                "Maximum": "Max", "Minimum": "Min"}
_UNARY = {"Identity": "Identity", "Relu": "Relu", "Abs": "Abs", "Tanh": "Tanh", "Sigmoid": "Sigmoid"}


@dataclass
class TfNode:
    """One ``NodeDef``: its name, op, inputs (names, without ``:0``) and attributes (``AttrValue``
    messages, undecoded)."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, bytes] = field(default_factory=dict)

    def attr(self, key: str) -> dict[int, list]:
        """The attribute's ``AttrValue`` fields by number (3: an int, 2: bytes, 1: a list, 8: a tensor)."""
        found: dict[int, list] = {}
        for number, _, value, _ in values(self.attrs.get(key, b"")):
            found.setdefault(number, []).append(value)
        return found

    def text(self, key: str, default: str = "") -> str:
        return bytes(self.attr(key).get(2, [default.encode()])[0]).decode()

    def ints(self, key: str) -> list[int]:
        """A list-of-ints attribute (``strides``, ``dilations``)."""
        listed = self.attr(key).get(1, [b""])[0]
        return [v for number, wire, value, _ in values(listed) if number == 3
                for v in ([value] if wire == 0 else varints(value))]


def read_graph(data: bytes, where: str = "the graph") -> list[TfNode]:
    """The nodes of a TensorFlow ``GraphDef`` (field 1), in the file's order.

    Raises:
        ModelError: the bytes are not a GraphDef.
    """
    nodes = []
    try:
        for number, _, payload in fields(data):
            if number != 1 or payload is None:
                continue
            node = TfNode("", "")
            for key, _, value in fields(payload):
                if value is None:
                    continue
                if key == 1:
                    node.name = value.decode()
                elif key == 2:
                    node.op = value.decode()
                elif key == 3:
                    node.inputs.append(value.decode().lstrip("^").split(":")[0])
                elif key == 5:
                    entry = {k: v for k, _, v in fields(value)}
                    node.attrs[entry.get(1, b"").decode()] = entry.get(2, b"")
            nodes.append(node)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"{where} is not a TensorFlow graph (GraphDef) sr-stream can read ({exc})") from exc
    if not nodes or not all(n.name and n.op for n in nodes):
        raise ModelError(f"{where} is not a TensorFlow graph (GraphDef): it holds no named nodes")
    return nodes


def _tensor(node: TfNode, where: str) -> np.ndarray:
    """A Const node's value (``TensorProto``: 1 dtype, 2 shape, 4 content, 5 float_val, 7 int_val,
    10 int64_val)."""
    proto = node.attr("value").get(8, [b""])[0]
    dtype, shape, content, floats, ints = 1, [], None, [], []
    for number, wire, value, _ in values(proto):
        if number == 1:
            dtype = value
        elif number == 2:  # TensorShapeProto: 2 dim {1: size}
            for dim_no, _, dim, _ in values(value):
                if dim_no == 2:
                    shape.append(next((v for n, w, v, _ in values(dim) if n == 1 and w == 0), 0))
        elif number == 4:
            content = value
        elif number == 5:
            floats += list(struct.unpack(f"<{len(value) // 4}f", value)) if wire == 2 else \
                [struct.unpack("<f", value)[0]]
        elif number in (7, 10):
            ints += varints(value) if wire == 2 else [value]
    if dtype not in _DTYPES:
        raise ModelError(f"{where}: constant {node.name} is of TensorFlow type {dtype}, which sr-stream does not read")
    size = int(np.prod(shape)) if shape else 1
    if content is not None:
        array = np.frombuffer(content, _DTYPES[dtype]).copy()
    else:
        listed = floats if dtype in (1, 2) else [v - (1 << 64) if v >= 1 << 63 else v for v in ints]
        array = np.asarray(listed or [0], _DTYPES[dtype])
        if array.size == 1 and size > 1:  # TensorFlow writes a constant filled with one value once
            array = np.full(size, array[0], _DTYPES[dtype])
    if array.size != size:
        raise ModelError(f"{where}: constant {node.name} holds {array.size} values for shape {shape}")
    return array.reshape(shape).astype(np.float32 if dtype in (1, 2) else np.int64)


def _output(nodes: list[TfNode]) -> TfNode:
    """The graph's output as OpenCV takes it: of the nodes nothing reads, the one that reads the most
    (dnn_superres's LapSRN x4 and x8 end each x2 stage in an output of its own, which the next
    stage reads on from; the last stage's is the picture at the model's scale)."""
    by_name = {n.name: n for n in nodes}
    read = {name for n in nodes for name in n.inputs}
    ends = [n for n in nodes if n.name not in read and n.op not in ("Const", "Placeholder")]
    if not ends:
        raise ModelError("the graph has no output (every node is read by another)")

    def reach(node: TfNode) -> int:
        seen, stack = set(), [node.name]
        while stack:
            name = stack.pop()
            if name not in seen and name in by_name:
                seen.add(name)
                stack.extend(by_name[name].inputs)
        return len(seen)

    return max(reversed(ends), key=reach)


def to_onnx(data: bytes, name: str, where: str = "the graph"):  # noqa: ANN201 - onnx.ModelProto
    """The ONNX graph of the TensorFlow graph ``data``: input ``input`` of shape ``(N, C, H, W)``,
    output ``output`` likewise (NCHW, the engine's layout), opset 17.

    Raises:
        DependencyError: onnx is not installed.
        ModelError: not a GraphDef, or one with an op or attribute not converted (named).
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ModuleNotFoundError as exc:
        raise DependencyError(f"{where} is a TensorFlow graph, which sr-stream turns into the ONNX graph it runs, "
                              "once; that needs onnx: pip install 'sr-stream[export]'") from exc
    nodes = read_graph(data, where)
    by_name = {n.name: n for n in nodes}
    consts = {n.name: _tensor(n, where) for n in nodes if n.op == "Const"}
    inputs = [n for n in nodes if n.op == "Placeholder"]
    if len(inputs) != 1:
        raise ModelError(f"{where} has {len(inputs)} inputs (Placeholders); sr-stream runs graphs of one picture")
    end = _output(nodes)
    order: list[TfNode] = []  # the nodes the output needs, inputs first
    seen: set[str] = set()
    stack = [(end, False)]
    while stack:
        node, ready = stack.pop()
        if ready:
            order.append(node)
            continue
        if node.name in seen:
            continue
        seen.add(node.name)
        stack.append((node, True))
        for name in node.inputs:
            if name not in by_name:
                raise ModelError(f"{where}: node {node.name} reads {name}, which the graph does not hold")
            stack.append((by_name[name], False))
    unknown = sorted({n.op for n in order if n.op not in OPS})
    if unknown:
        raise ModelError(f"{where} uses TensorFlow ops sr-stream does not convert ({', '.join(unknown)}); it converts "
                         f"{', '.join(OPS)}: OpenCV dnn_superres's ESPCN, FSRCNN and LapSRN")

    onnx_nodes: list[Any] = []
    initializers: list[Any] = []
    channels = None

    def constant(value: np.ndarray, label: str) -> str:
        initializers.append(numpy_helper.from_array(value, f"{label}_const"))
        return f"{label}_const"

    def to_nchw(x: str, label: str) -> str:
        onnx_nodes.append(helper.make_node("Transpose", [x], [f"{label}_nchw"], perm=[0, 3, 1, 2]))
        return f"{label}_nchw"

    def to_nhwc(x: str, out: str) -> None:
        onnx_nodes.append(helper.make_node("Transpose", [x], [out], perm=[0, 2, 3, 1]))

    def unit(node: TfNode, key: str) -> None:
        got = node.ints(key)
        if got and any(v != 1 for v in got):
            raise ModelError(f"{where}: {node.op} {node.name} has {key} {got}; sr-stream converts 1 only")

    layout = {}  # each tensor's layout: NHWC (TensorFlow's) or NCHW (after a Transpose to it)
    for node in order:
        if node.op == "Const":
            continue
        args = node.inputs
        if node.op == "Placeholder":
            to_nhwc("input", node.name)
            layout[node.name] = "NHWC"
            continue
        if node.op in ("Conv2D", "BiasAdd", "DepthToSpace") and node.text("data_format", "NHWC") != "NHWC":
            raise ModelError(f"{where}: {node.op} {node.name} is {node.text('data_format')}; sr-stream converts NHWC")
        if node.op in ("Conv2D", "DepthToSpace") and layout.get(args[0]) != "NHWC":
            raise ModelError(f"{where}: {node.op} {node.name} reads {args[0]}, which is not NHWC")
        if node.op == "Conv2D":
            unit(node, "strides")
            unit(node, "dilations")
            if args[1] not in consts:
                raise ModelError(f"{where}: Conv2D {node.name} takes its weights from {args[1]}, not a constant")
            weight = consts[args[1]]  # HWIO
            kh, kw = weight.shape[:2]
            same = node.text("padding") == "SAME"
            pads = [(kh - 1) // 2, (kw - 1) // 2, kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2] if same else [0] * 4
            w = constant(np.ascontiguousarray(weight.transpose(3, 2, 0, 1)), node.name)
            onnx_nodes.append(helper.make_node("Conv", [to_nchw(args[0], node.name), w], [f"{node.name}_conv"],
                                               kernel_shape=[kh, kw], pads=pads))
            to_nhwc(f"{node.name}_conv", node.name)
            if channels is None and args[0] == inputs[0].name:
                channels = int(weight.shape[2])
        elif node.op == "DepthToSpace":
            block = node.attr("block_size").get(3, [0])[0]
            onnx_nodes.append(helper.make_node("DepthToSpace", [to_nchw(args[0], node.name)], [f"{node.name}_d2s"],
                                               blocksize=int(block), mode="DCR"))
            to_nhwc(f"{node.name}_d2s", node.name)
        elif node.op == "Transpose":
            perm = [int(v) for v in consts[args[1]]]
            onnx_nodes.append(helper.make_node("Transpose", [args[0]], [node.name], perm=perm))
        elif node.op in _ELEMENTWISE:
            named = [constant(consts[a], f"{node.name}_{i}") if a in consts else a for i, a in enumerate(args[:2])]
            onnx_nodes.append(helper.make_node(_ELEMENTWISE[node.op], named, [node.name]))
        elif node.op == "Relu6":
            onnx_nodes.append(helper.make_node("Clip", [args[0], constant(np.float32(0), f"{node.name}_lo"),
                                                        constant(np.float32(6), f"{node.name}_hi")], [node.name]))
        else:
            onnx_nodes.append(helper.make_node(_UNARY[node.op], [args[0]], [node.name]))
        if node.op == "Transpose":  # from NHWC to NCHW (the graph's end), or back
            layout[node.name] = {(0, 3, 1, 2): "NCHW", (0, 2, 3, 1): "NHWC"}.get(tuple(perm), "?")
        else:  # a Conv2D's or DepthToSpace's is NHWC as its input's; an elementwise op's its input's
            layout[node.name] = next((layout[a] for a in args if a in layout), "NHWC")
    if layout.get(end.name) == "NHWC":
        onnx_nodes.append(helper.make_node("Transpose", [end.name], ["output"], perm=[0, 3, 1, 2]))
    elif layout.get(end.name) == "NCHW":
        onnx_nodes.append(helper.make_node("Identity", [end.name], ["output"]))
    else:
        raise ModelError(f"{where}: its output {end.name} is in a layout sr-stream cannot tell (neither NHWC nor NCHW)")
    c = channels or 1
    graph = helper.make_graph(onnx_nodes, name,
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, "H", "W"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", c, "H2", "W2"])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sr-stream")
    model.ir_version = 8
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{where} converted to an invalid ONNX graph ({str(exc).splitlines()[0]})") from exc
    return model


def check_against_opencv(data: bytes, model_bytes: bytes, where: str = "the graph") -> float | None:
    """The largest difference between the ONNX graph ``model_bytes`` and OpenCV's own run of the
    TensorFlow graph ``data`` on three luma pictures (odd sizes among them), in [0, 1] units;
    None where this OpenCV has no TensorFlow importer (5.1 and later).

    Raises:
        ModelError: the two differ by more than 1e-4, or OpenCV cannot run the graph.
    """
    import cv2
    import onnxruntime as ort

    from srstream.bench.opencv_sr import rename_block_size

    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        return None
    try:
        net = cv2.dnn.readNetFromTensorflow(np.frombuffer(rename_block_size(data), np.uint8))
    except cv2.error as exc:
        why = str(exc).strip().splitlines()[-1]
        raise ModelError(f"OpenCV cannot run {where} to check it against ({why})") from exc
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for h, w in ((24, 32), (17, 23), (40, 40)):
        luma = rng.random((1, 1, h, w), dtype=np.float32)
        net.setInput(luma)
        theirs = net.forward()
        ours = session.run(None, {"input": luma})[0]
        if theirs.shape != ours.shape:
            raise ModelError(f"{where}: the converted graph gives {ours.shape} for {luma.shape}, OpenCV {theirs.shape}")
        worst = max(worst, float(np.abs(theirs - ours).max()))
    if worst > 1e-4:
        raise ModelError(f"{where}: the converted graph is {worst:.2e} from OpenCV's run of it (more than 1e-4); "
                         "please report it")
    return worst
