"""Graph rewrites that keep the maths and make the graph faster on real runtimes.

:func:`pad_thin_convs` widens convolutions with very few output channels (the real-time
generators' last conv has ``scale^2`` of them) to 16 with zero filters and slices the real ones
back out. ONNX Runtime's int8 convolution kernels are poorly filled by 4 output channels: on
realtime-x2 at 640x360 the padded INT8 graph ran 29.7 ms instead of 33.6 ms (fp32 unchanged).
:func:`narrow_float_convs` undoes that for the convs quantisation left in float (the compact nets'
last conv): there the padding only quadruples a float conv's work and adds a copy. On tiny-x2's
luma INT8 graph at 640x360 on a 2-core AMD EPYC Zen 4 (AVX-512 VNNI), one interleaved run: OpenVINO
23.3 -> 19.9 ms, ONNX Runtime 23.5 -> 22.2 ms; tiny-x2-deep's 26.6 -> 24.9 and 32.7 -> 31.7 ms.

ONNX Runtime's CPU ``PRelu`` kernel is a generic broadcasting loop that also breaks its blocked
(NCHWc) convolution layout: in the real-time generator it took more time than all the
convolutions together (90 of 172 ms at 640x360 on our 2-core CPU). :func:`decompose_prelu`
replaces each ``PRelu`` whose slopes are constants with plain element-wise ops:

* ``Max(x, a * x)`` when every slope is in [0, 1] (then it equals PReLU exactly), else
* ``a * x + (1 - a) * Relu(x)`` (equal up to one rounding).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["decompose_prelu", "narrow_float_convs", "pad_thin_convs"]


def decompose_prelu(model: onnx.ModelProto) -> int:
    """Rewrite ``model``'s constant-slope ``PRelu`` nodes in place; returns how many were rewritten."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in graph.node:
        slope_name = node.input[1] if node.op_type == "PRelu" and node.domain in ("", "ai.onnx") else None
        if slope_name not in inits:
            nodes.append(node)
            continue
        slope = numpy_helper.to_array(inits[slope_name]).astype(np.float32)
        x, y = node.input[0], node.output[0]
        tag = f"{node.name or y}_prelu"  # an unnamed node is tagged by its output
        if slope.min() >= 0.0 and slope.max() <= 1.0:
            nodes += [helper.make_node("Mul", [x, slope_name], [f"{tag}_ax"], name=f"{tag}_mul"),
                      helper.make_node("Max", [x, f"{tag}_ax"], [y], name=f"{tag}_max")]
        else:
            keep = f"{tag}_one_minus_slope"
            graph.initializer.append(numpy_helper.from_array((1.0 - slope).astype(np.float32), keep))
            nodes += [helper.make_node("Relu", [x], [f"{tag}_relu"], name=f"{tag}_relu"),
                      helper.make_node("Mul", [f"{tag}_relu", keep], [f"{tag}_pos"], name=f"{tag}_mulpos"),
                      helper.make_node("Mul", [x, slope_name], [f"{tag}_ax"], name=f"{tag}_mul"),
                      helper.make_node("Add", [f"{tag}_pos", f"{tag}_ax"], [y], name=f"{tag}_add")]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def pad_thin_convs(model: onnx.ModelProto, width: int = 16) -> int:
    """Give every plain ``Conv`` (group 1, constant weights) with fewer than ``width`` output
    channels ``width`` of them (zero filters) followed by a ``Slice`` back to the real ones.
    In place; returns how many were widened. The output is bit-identical."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    count = 0
    for node in graph.node:
        nodes.append(node)
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node.op_type != "Conv" or group != 1 or len(node.input) < 2 or node.input[1] not in inits:
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        channels = weight.shape[0]
        if channels >= width:
            continue
        pad = ((0, width - channels),) + ((0, 0),) * (weight.ndim - 1)
        tag = f"{node.name or node.output[0]}_wide"
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(np.pad(weight, pad), node.input[1]))
        if len(node.input) > 2 and node.input[2] in inits:
            bias = numpy_helper.to_array(inits[node.input[2]])
            inits[node.input[2]].CopyFrom(numpy_helper.from_array(np.pad(bias, (0, width - channels)), node.input[2]))
        graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), f"{tag}_start"),
                                  numpy_helper.from_array(np.array([channels], np.int64), f"{tag}_end"),
                                  numpy_helper.from_array(np.array([1], np.int64), f"{tag}_axis")])
        real = node.output[0]
        node.output[0] = f"{tag}_out"
        nodes.append(helper.make_node("Slice", [f"{tag}_out", f"{tag}_start", f"{tag}_end", f"{tag}_axis"], [real],
                                      name=f"{tag}_slice"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def narrow_float_convs(model: onnx.ModelProto) -> int:
    """Undo :func:`pad_thin_convs` for every widened ``Conv`` whose weights are still a float
    constant (quantisation kept it float), so it computes only its real output channels again.
    In place; returns how many were narrowed. The output is bit-identical."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {node.output[0]: node for node in graph.node if node.output}
    nodes: list[onnx.NodeProto] = []
    dropped: set[str] = set()
    count = 0
    for node in graph.node:
        conv = producers.get(node.input[0]) if node.op_type == "Slice" and node.input else None
        if (conv is None or conv.op_type != "Conv" or not node.name.endswith("_wide_slice")
                or conv.input[1] not in inits or inits[conv.input[1]].data_type != onnx.TensorProto.FLOAT):
            nodes.append(node)
            continue
        channels = int(numpy_helper.to_array(inits[node.input[2]]).reshape(-1)[0])
        for name in conv.input[1:3]:
            if name in inits:
                inits[name].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(inits[name])[:channels], name))
        conv.output[0] = node.output[0]
        dropped.update(node.input[1:])
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    dropped -= {name for node in graph.node for name in node.input}  # the slice bounds, if nothing else uses them
    kept = [t for t in graph.initializer if t.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return count
