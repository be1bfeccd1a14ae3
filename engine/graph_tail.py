"""A luma INT8 graph's last conv, skip and pixel shuffle, run by our kernel instead of the runtime.

The INT8 luma graphs whose last conv the export keeps float (tiny-x2's and tiny-x2-deep's; realtime-x2
quantises its last conv too) end the same way: the last hidden activations, quantised (QuantizeLinear,
then DequantizeLinear), a float 3x3 conv to ``scale**2`` channels, the input added to every
channel (the nearest skip) and a DepthToSpace. OpenVINO's CPU plugin runs that tail slowly: on
a 2-core AMD EPYC Zen 3, tiny-x2-deep's INT8 graph took 50.3 ms at 640x360 and the same graph
cut after the last QuantizeLinear 37.1 ms (the float conv to 4 channels, its dequantisation, the
add and the shuffle: 13 ms, a quarter of the net). :func:`~srstream.engine.kernels.conv_tail`
does that work in about 4 ms there. ONNX Runtime runs the tail fast (the cut graph was no
faster), so only the OpenVINO backend uses this.

:func:`split` recognises that ending in an ONNX file and returns the graph up to the int8
activations plus a :class:`Tail` holding the conv's weights; anything else (RGB graphs, linear
skips, other endings, no ``onnx`` package, no native kernels) returns None and the backend runs
the whole graph. The result differs from the whole graph's by float rounding only (the conv's
sums in another order): 5e-7 at most on a random 640x360 frame through tiny-x2 and tiny-x2-deep.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srstream.engine import kernels

__all__ = ["Tail", "split", "split_cached", "unsigned_activations", "unsigned_graph", "unsigned_graph_cached"]

#: ``SRSTREAM_GRAPH_TAIL=0`` runs whole graphs (for measuring one against the other).
ENV = "SRSTREAM_GRAPH_TAIL"


@dataclass(frozen=True, eq=False)
class Tail:
    """The cut-off end of a luma graph: ``act`` ``(N, C, h, w)`` and the graph's input ``(N, 1,
    h, w)`` in, the graph's output ``(N, 1, h * scale, w * scale)`` float32 out."""

    weight: np.ndarray  # (scale**2, C, 3, 3) float32
    bias: np.ndarray  # (scale**2,) float32
    scale: int
    act_scale: float
    act_zero: int

    def apply(self, act: np.ndarray, lr: np.ndarray) -> np.ndarray:
        n, _, h, w = act.shape
        out = np.empty((n, 1, h * self.scale, w * self.scale), np.float32)
        for i in range(n):
            kernels.conv_tail(act[i], self.act_scale, self.act_zero, self.weight, self.bias, lr[i, 0], self.scale,
                              out=out[i, 0])
        return out


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _plain_3x3(conv: Any) -> bool:
    a = _attrs(conv)
    return (list(a.get("kernel_shape", [3, 3])) == [3, 3] and list(a.get("pads", [0, 0, 0, 0])) == [1, 1, 1, 1]
            and list(a.get("strides", [1, 1])) == [1, 1] and list(a.get("dilations", [1, 1])) == [1, 1]
            and a.get("group", 1) == 1 and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def _head(model: Any, output: str, dtype: np.dtype, dropped: set[int]) -> bytes | None:
    """``model`` ending at ``output`` (of ``dtype``): the dropped nodes and the constants only they
    read removed; None when another node reads a dropped node's output. (``onnx.utils.Extractor``
    would do this, but it takes the new output's type from shape inference, which does not reach
    the QuantizeLinear outputs of these graphs.)"""
    import onnx

    graph = model.graph
    kept = [n for n in graph.node if id(n) not in dropped]
    gone = {o for n in graph.node if id(n) in dropped for o in n.output}
    read = {i for n in kept for i in n.input}
    if read & gone:
        return None
    head = onnx.ModelProto()
    head.CopyFrom(model)
    del head.graph.node[:], head.graph.output[:], head.graph.initializer[:], head.graph.value_info[:]
    head.graph.node.extend(kept)
    head.graph.initializer.extend(t for t in graph.initializer if t.name in read)
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    head.graph.output.append(onnx.helper.make_tensor_value_info(output, elem, None))
    return head.SerializeToString()


def unsigned_activations(model: Any) -> int:
    """Re-encode ``model``'s (an ``onnx.ModelProto``, edited in place) int8 activations of zero
    point -128 as uint8 of zero point 0; returns how many quantisers changed.

    Those are what the INT8 export writes after a ReLU (signed activations, S8S8, see
    :mod:`srstream.export.int8`): the codes -128..127 stand for ``(q + 128) * scale``, 0 to 255
    steps. As uint8 of zero point 0 the codes are ``q + 128`` and every value, rounding and
    saturation is the same, so the output is too. OpenVINO's CPU plugin needs this on AMX: on a
    2-core Intel Sapphire Rapids (OpenVINO 2026.4) it ran every conv of realtime-x2's INT8 graph
    in fp32 (``brgconv_avx512_f32``, 184 ms at 640x360) and the same graph re-encoded on AMX's
    int8 units (``brgconv_avx512_amx_I8``, 50 ms); a one-conv graph showed the same with int8
    zero point -128 alone, while zero point 0 (int8 or uint8) and uint8 128 ran in int8. A zero
    point read by anything but QuantizeLinear / DequantizeLinear pairs that only feed each other
    is left as it is."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)

    def zero_point_of_pairs(name: str, nodes: list[Any]) -> bool:
        """Read only as the zero point of QuantizeLinear / DequantizeLinear pairs feeding each other."""
        if not nodes or any(n.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(n.input) < 3
                            or n.input[2] != name for n in nodes):
            return False
        codes, pairs = {n.output[0] for n in nodes if n.op_type == "QuantizeLinear"}, {id(n) for n in nodes}
        return (all(id(r) in pairs for c in codes for r in readers.get(c, []))
                and all(n.input[0] in codes for n in nodes if n.op_type == "DequantizeLinear"))

    changed = []
    for tensor in graph.initializer:
        nodes = readers.get(tensor.name, [])
        if tensor.data_type != onnx.TensorProto.INT8 or not zero_point_of_pairs(tensor.name, nodes):
            continue
        zero = numpy_helper.to_array(tensor)
        if not np.all(zero == -128):
            continue
        tensor.CopyFrom(numpy_helper.from_array(np.zeros(zero.shape, np.uint8), tensor.name))
        changed += [n.output[0] for n in nodes if n.op_type == "QuantizeLinear"]
    if changed:  # their recorded int8 types would now be wrong
        kept = [v for v in graph.value_info if v.name not in set(changed)]
        del graph.value_info[:]
        graph.value_info.extend(kept)
    return len(changed)


def unsigned_graph(source: Path | bytes) -> bytes | None:
    """The graph at ``source`` (a path or serialised ONNX) with :func:`unsigned_activations`
    applied, serialised; None when it has none to re-encode or ``onnx`` is missing."""
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source))
    return model.SerializeToString() if unsigned_activations(model) else None


def split(path: Path, unsigned: bool = False) -> tuple[bytes, Tail] | None:
    """``(head, tail)``: the graph at ``path`` up to the int8 activations its last conv reads
    (serialised ONNX) and the rest as a :class:`Tail`; None when the graph does not end as
    described above, when ``onnx`` or the native kernels are missing, or when ``SRSTREAM_GRAPH_TAIL=0``.
    ``unsigned``: :func:`unsigned_activations` first (the head's output, and the tail's input, uint8)."""
    if os.environ.get(ENV, "1") == "0" or not kernels.has_native():
        return None
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    model = onnx.load(str(path))
    if unsigned:
        unsigned_activations(model)
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        return None
    source = graph.input[0].name
    made_by = {out: node for node in graph.node for out in node.output}
    constants = {t.name: t for t in graph.initializer}

    def producer(name: str, op: str) -> Any:
        node = made_by.get(name)
        return node if node is not None and node.op_type == op else None

    shuffle = producer(graph.output[0].name, "DepthToSpace")
    add = shuffle and producer(shuffle.input[0], "Add")
    if add is None or source not in add.input:
        return None
    conv = producer(add.input[1] if add.input[0] == source else add.input[0], "Conv")
    dequant = conv and producer(conv.input[0], "DequantizeLinear")
    quant = dequant and producer(dequant.input[0], "QuantizeLinear")
    if quant is None or len(conv.input) < 3 or not _plain_3x3(conv) or len(dequant.input) < 3:
        return None
    if not all(name in constants for name in (conv.input[1], conv.input[2], dequant.input[1], dequant.input[2])):
        return None
    scale = int(_attrs(shuffle)["blocksize"])
    weight = numpy_helper.to_array(constants[conv.input[1]])
    bias = numpy_helper.to_array(constants[conv.input[2]])
    act_scale = numpy_helper.to_array(constants[dequant.input[1]])
    act_zero = numpy_helper.to_array(constants[dequant.input[2]])
    if (weight.dtype != np.float32 or weight.ndim != 4 or weight.shape[0] != scale * scale
            or bias.shape != (scale ** 2,)
            or act_scale.size != 1 or act_zero.size != 1 or act_zero.dtype not in (np.int8, np.uint8)
            or not 1 <= scale <= 4):
        return None
    head = _head(model, quant.output[0], act_zero.dtype, dropped={id(n) for n in (dequant, conv, add, shuffle)})
    if head is None:
        return None
    tail = Tail(np.ascontiguousarray(weight), np.ascontiguousarray(bias, np.float32), scale,
                float(act_scale.reshape(())), int(act_zero.reshape(())))
    return head, tail


#: The cached form of :func:`split`'s and :func:`unsigned_graph`'s results; a change to what they
#: make changes this.
CACHE_VERSION = 1


def _kept(path: Path, tag: str, make: Any, save: Any, load: Any) -> Any:
    """``make()`` (a graph transform of the file at ``path``: a result, or None), kept in the cache
    (``graph-tail/``) by the file's contents and ``tag``: ``save(result, folder)`` writes it, ``load(folder)``
    reads it back. ``import onnx`` alone took 0.5-1 s of every OpenVINO run's start on a 2-core Zen 4, for
    the same answer each time. Where the cache cannot be written, it is made every time; a None for want
    of ``onnx`` is not kept."""
    import hashlib
    import importlib.util
    import shutil
    import tempfile

    from srstream.cache import cache_root

    try:
        key = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:32]
    except OSError:
        return make()
    folder = cache_root() / "graph-tail" / f"{key}-{tag}{CACHE_VERSION}"
    try:
        return None if (folder / "none").is_file() else load(folder)
    except Exception:  # noqa: BLE001 - not there yet, or left incomplete or damaged (a bad zip): made again
        pass
    made = make()
    if made is None and importlib.util.find_spec("onnx") is None:
        return made
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".part-", dir=folder.parent))
        try:
            if made is None:
                (work / "none").touch()
            else:
                save(made, work)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except OSError:  # a full disk or a read-only cache: made again next time
        pass
    return made


def split_cached(path: Path, unsigned: bool = False) -> tuple[bytes, Tail] | None:
    """:func:`split`, kept in the cache by the graph's contents (:func:`_kept`)."""
    if os.environ.get(ENV, "1") == "0" or not kernels.has_native():
        return None

    def save(cut: tuple[bytes, Tail], folder: Path) -> None:
        head, t = cut
        (folder / "head.onnx").write_bytes(head)
        np.savez(folder / "tail.npz", weight=t.weight, bias=t.bias, scale=t.scale, act_scale=t.act_scale,
                 act_zero=t.act_zero)

    def load(folder: Path) -> tuple[bytes, Tail]:
        with open(folder / "tail.npz", "rb") as f, np.load(f, allow_pickle=False) as z:  # (closed if not a zip)
            tail = Tail(z["weight"], z["bias"], int(z["scale"]), float(z["act_scale"]), int(z["act_zero"]))
        return (folder / "head.onnx").read_bytes(), tail

    return _kept(path, "tail-u" if unsigned else "tail-s", lambda: split(path, unsigned), save, load)


def unsigned_graph_cached(source: Path | bytes) -> bytes | None:
    """:func:`unsigned_graph`, kept in the cache by the graph's contents where ``source`` is a file."""
    if isinstance(source, bytes):
        return unsigned_graph(source)
    return _kept(source, "unsigned", lambda: unsigned_graph(source),
                 lambda graph, folder: (folder / "graph.onnx").write_bytes(graph),
                 lambda folder: (folder / "graph.onnx").read_bytes())
