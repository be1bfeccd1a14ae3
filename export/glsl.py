"""Our compact luma nets as mpv / libplacebo user shaders (GLSL), for any GPU a player runs on.

mpv (``--glsl-shaders=FILE``), libplacebo and FFmpeg's ``libplacebo`` filter
(``custom_shader_path=FILE``) run ``//!HOOK`` passes on the video's planes. A compact net is
exactly that shape: 3x3 convolutions at input resolution, ReLU, one sub-pixel shuffle and a
skip, all on luma. Each layer becomes one pass per four output channels (a texture holds four),
reading every texture of the layer before at nine taps; the weights are constants in the shader.
A learned linear skip (``skip: linear``, a 5x5 filter of the input per output channel) is added
in the last conv's passes, reading the luma at 25 taps. The last pass hooks ``LUMA`` at
``scale`` times its size and picks each output pixel's channel (the pixel shuffle), adding the
input pixel for a nearest skip; the player then upscales the chroma as it always does.

Taps outside the picture read 0, as the network's zero padding does, so the shader computes
what the ONNX graph computes (checked by a test through FFmpeg's ``libplacebo`` filter on Mesa's
software Vulkan: the luma plane within 2/255).

Precision: the feature maps and their arithmetic are declared ``mediump`` by default. On GPUs
with fast half precision (mobile, integrated, recent desktop parts) the driver may then run them
in fp16 (SPIR-V RelaxedPrecision); elsewhere they stay fp32. Texture coordinates stay highp.
What fp16 would cost was measured by running the shader's arithmetic in numpy float16 (each
tap's product and sum rounded; :func:`run_net`) on crops of Set5 + Set14: at most 0.60 of 255
levels on the x2 nets, 2.0 on realtime-x4 and 1.1-1.4 on the twenty-layer quality-x4 and gan-x4,
65.7 dB PSNR or more against fp32 (``benchmarks/glsl_fp16.py``).
``precision="highp"`` writes fp32 everywhere.

Which nets: :func:`glsl_support` says, with the reason for the others. Reads the fp32 ONNX graph
(the weights as exported, re-parameterised blocks already collapsed); needs ``onnx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srstream.errors import ConfigError, DependencyError, ModelError
from srstream.spec import ModelSpec

__all__ = ["PRECISIONS", "ShaderNet", "glsl_support", "read_net", "run_net", "write_glsl"]


@dataclass(frozen=True)
class ShaderNet:
    """The convolutions of a compact luma net: ``(weight [out, in, 3, 3], bias [out])`` each."""

    spec: ModelSpec
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    #: ``skip: linear``: the skip filter ``(weight [s*s, 1, k, k], bias [s*s])``; None: the nearest skip
    skip: tuple[np.ndarray, np.ndarray] | None = None


def glsl_support(spec: ModelSpec) -> str:
    """``""`` when ``spec``'s architecture can be written as a shader, else the reason."""
    params = dict(spec.arch_params)
    if spec.arch not in ("compact_y", "compact"):
        return f"{spec.arch} is not a compact net (plain 3x3 convs at input resolution); only compact nets export to GLSL"
    if spec.arch == "compact" and spec.in_channels != 1:
        return "an RGB compact net; shaders run on the luma plane (compact_y or a 1-channel compact net)"
    if params.get("act", "prelu") != "relu":
        return f"activation {params.get('act', 'prelu')}; the shader writer supports relu"
    if params.get("skip", "nearest") not in ("nearest", "linear"):
        return f"skip {params.get('skip')}; the shader writer supports the nearest and linear skips"
    if params.get("block", "conv") != "conv":
        return "re-parameterisable blocks: export the collapsed net (sr-stream export) first"
    return ""


def read_net(path: Path) -> ShaderNet:
    """The spec and the convolutions of an exported fp32 ONNX graph.

    Raises:
        ConfigError: an architecture shaders cannot run (the reason says why).
        ModelError: the graph is not the compact net its spec describes.
        DependencyError: onnx is missing.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ModuleNotFoundError as exc:
        raise DependencyError("GLSL export reads the ONNX graph with onnx: pip install 'sr-stream[export]'") from exc
    model = onnx.load(str(path))
    spec = ModelSpec.from_metadata({p.key: p.value for p in model.metadata_props}, where=str(path))
    why = glsl_support(spec)
    if why:
        raise ConfigError(f"{spec.name} cannot be written as a shader: {why}")
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    layers, skips = [], []
    linear = spec.arch_params.get("skip", "nearest") == "linear"
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        w = weights.get(node.input[1])
        b = weights.get(node.input[2]) if len(node.input) > 2 else None
        if w is None:
            raise ModelError(f"{path}: conv {node.name} has no constant weights")
        pair = (w.astype(np.float32), (b if b is not None else np.zeros(w.shape[0])).astype(np.float32))
        if linear and w.shape[1] == 1 and w.shape[2] == w.shape[3] and w.shape[2] > 3:
            skips.append(pair)  # the linear skip: the only conv wider than 3x3
        elif w.shape[2:] == (3, 3):
            layers.append(pair)
        else:
            raise ModelError(f"{path}: conv {node.name} is not a 3x3 conv")
    features, convs, s = int(spec.arch_params.get("features", 0)), int(spec.arch_params.get("convs", 0)), spec.scale
    shapes = [tuple(w.shape[:2]) for w, _ in layers]
    want = [(features, 1)] + [(features, features)] * convs + [(s * s, features)]
    if shapes != want or len(skips) != int(linear) or any(w.shape[0] != s * s for w, _ in skips):
        found = shapes + [tuple(w.shape) for w, _ in skips]
        raise ModelError(f"{path}: convs {found} are not those of {spec.arch} {dict(spec.arch_params)} ({want}"
                         + (" and a linear skip)" if linear else ")"))
    return ShaderNet(spec, tuple(layers), skips[0] if skips else None)


def run_net(net: ShaderNet, luma: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """What the shader computes, in numpy: ``luma`` [H, W] in 0-1 -> [H*s, W*s], every tap's
    product and running sum rounded to ``dtype`` (``np.float16``: what a GPU running the
    ``mediump`` feature maps in half precision computes, up to its FMA rounding)."""
    x = luma.astype(dtype)[None]
    height, width = luma.shape

    def conv(x: np.ndarray, w: np.ndarray, acc: np.ndarray) -> np.ndarray:
        k = w.shape[2]
        w, padded = w.astype(dtype), np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2)))
        for ky in range(k):
            for kx in range(k):
                tap = padded[:, ky:ky + height, kx:kx + width]
                acc += np.tensordot(w[:, :, ky, kx], tap, axes=(1, 0)).astype(dtype)
        return acc

    last = len(net.layers) - 1
    for index, (w, b) in enumerate(net.layers):
        acc = conv(x, w, np.broadcast_to(b.astype(dtype)[:, None, None], (w.shape[0], height, width)).copy())
        if index == last and net.skip is not None:  # the shader adds the skip in the last conv's passes
            acc = conv(luma.astype(dtype)[None], net.skip[0], acc + net.skip[1].astype(dtype)[:, None, None])
        x = acc if index == last else np.maximum(acc, dtype(0))
    s = net.spec.scale
    detail = x.reshape(s, s, height, width).transpose(2, 0, 3, 1).reshape(height * s, width * s)
    if net.skip is not None:
        return detail.astype(np.float32)
    base = np.repeat(np.repeat(luma.astype(dtype), s, axis=0), s, axis=1)
    return (base + detail).astype(np.float32)


def _f(x: float) -> str:
    return f"{float(x):.8g}"


def _vec4(values: np.ndarray) -> str:
    v = list(values) + [0.0] * (4 - len(values))
    return "vec4(" + ",".join(_f(x) for x in v) + ")"


def _mat4(block: np.ndarray) -> str:
    """``block`` [out<=4, in<=4] as a GLSL mat4 M with ``M * in == block @ in`` (column-major)."""
    m = np.zeros((4, 4), np.float32)
    m[: block.shape[0], : block.shape[1]] = block
    return "mat4(" + ",".join(_f(x) for x in m.T.reshape(-1)) + ")"


_TAPS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _header(net: ShaderNet, name: str, license_: str | None, precision: str) -> str:
    spec = net.spec
    how = ("mediump: fp16 where the GPU runs half precision fast, else fp32 (sr-stream's benchmarks/glsl_fp16.py)"
           if precision == "mediump" else "highp: fp32 arithmetic")
    return "\n".join([
        f"// sr-stream {name}: {spec.arch} x{spec.scale} {dict(spec.arch_params)}, as an mpv/libplacebo user shader.",
        f"// Licence of the weights: {license_ or spec.license or 'not stated'}. Written by `sr-stream export --glsl`.",
        "// mpv: --glsl-shaders=THIS_FILE; FFmpeg: -vf libplacebo=custom_shader_path=THIS_FILE (Vulkan).",
        "// Runs on the luma plane; taps outside the picture read 0 (the network's zero padding).",
        f"// Feature maps: {how}.",
        "",
    ])


def _tap(texture: str, dy: int, dx: int) -> str:
    return f"tap_{texture}(ivec2({dx}, {dy}))"


PRECISIONS = ("mediump", "highp")


def _tap_function(texture: str, plane: str, precision: str) -> str:
    """``tap_T(off)``: texture T at this pixel + ``off`` texels, 0 outside the picture."""
    return "\n".join([
        f"{precision} vec4 tap_{texture}(ivec2 off) {{",
        f"    vec2 p = floor({plane}_pos * {plane}_size) + vec2(off);",
        f"    if (any(lessThan(p, vec2(0.0))) || any(greaterThanEqual(p, {plane}_size))) return vec4(0.0);",
        f"    return {texture}_tex((p + vec2(0.5)) * {plane}_pt);",
        "}",
    ])


#: Every pass runs only when the player upscales by more than 1.2x (mpv's RPN: both sides).
_WHEN = "//!WHEN OUTPUT.w HOOKED.w 1.200 * > OUTPUT.h HOOKED.h 1.200 * > *"


def _pass(desc: str, binds: list[str], save: str, body: list[str], precision: str) -> str:
    lines = ["//!HOOK LUMA", f"//!DESC {desc}", "//!BIND HOOKED", _WHEN]
    lines += [f"//!BIND {b}" for b in binds if b != "HOOKED"]
    lines += [f"//!SAVE {save}", "//!COMPONENTS 4", "//!WIDTH HOOKED.w", "//!HEIGHT HOOKED.h", ""]
    taps = [_tap_function(b, "HOOKED", precision) for b in binds]
    return "\n".join(lines + taps + ["vec4 hook() {", *body, "}", "", ""])


def write_glsl(net: ShaderNet, out: Path, *, name: str | None = None, license_: str | None = None,
               precision: str = "mediump") -> int:
    """Write the shader for ``net`` to ``out`` (atomically); returns its size in bytes.
    ``precision``: ``mediump`` (fp16 where the GPU runs it fast) or ``highp`` (fp32)."""
    from srstream.atomic import write_atomic

    if precision not in PRECISIONS:
        raise ConfigError(f"shader precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    name = name or net.spec.name
    s = net.spec.scale
    parts = [_header(net, name, license_, precision)]
    inputs = ["HOOKED"]  # the textures the next layer reads, four channels each
    last = len(net.layers) - 1
    for index, (w, b) in enumerate(net.layers):
        groups = (w.shape[0] + 3) // 4
        outputs = [f"srs{index}_{g}" for g in range(groups)]
        skip = net.skip if index == last else None
        for g, save in enumerate(outputs):
            lo, hi = 4 * g, min(4 * g + 4, w.shape[0])
            bias = b[lo:hi] + (skip[1][lo:hi] if skip is not None else 0)
            body = [f"    {precision} vec4 acc = {_vec4(bias)};"]
            for (dy, dx) in _TAPS:
                ky, kx = dy + 1, dx + 1
                if index == 0:  # one input channel: the luma, in .x
                    body.append(f"    acc += {_vec4(w[lo:hi, 0, ky, kx])} * {_tap('HOOKED', dy, dx)}.x;")
                    continue
                for j, texture in enumerate(inputs):
                    block = w[lo:hi, 4 * j:4 * j + 4, ky, kx]
                    body.append(f"    acc += {_mat4(block)} * {_tap(texture, dy, dx)};")
            binds = inputs
            if skip is not None:  # the linear skip: a k x k filter of the luma, one per output channel
                k = skip[0].shape[2]
                for ky in range(k):
                    for kx in range(k):
                        body.append(f"    acc += {_vec4(skip[0][lo:hi, 0, ky, kx])} * "
                                    f"{_tap('HOOKED', ky - k // 2, kx - k // 2)}.x;")
                binds = [*inputs, "HOOKED"]
            body.append("    return acc;" if index == last else "    return max(acc, vec4(0.0));")
            parts.append(_pass(f"sr-stream {name} conv {index + 1}/{len(net.layers)} ch {lo}-{hi - 1}",
                               binds, save, body, precision))
        inputs = outputs
    final = ["//!HOOK LUMA", f"//!DESC sr-stream {name} x{s}: pixel shuffle + skip", "//!BIND HOOKED"]
    final += [f"//!BIND {t}" for t in inputs]
    final += [f"//!WIDTH HOOKED.w {s} *", f"//!HEIGHT HOOKED.h {s} *", "//!COMPONENTS 1",
              _WHEN, "",
              "vec4 hook() {",
              f"    vec2 hr = floor(HOOKED_pos * HOOKED_size * {s}.0);",
              f"    vec2 lr = floor(hr / {s}.0);",
              f"    ivec2 sub = ivec2(hr - lr * {s}.0);",
              f"    int c = sub.y * {s} + sub.x;  // torch's PixelShuffle: channel = row offset * s + column offset",
              "    vec2 at = (lr + vec2(0.5)) * HOOKED_pt;",
              f"    {precision} vec4 texels[" + str(len(inputs)) + "];"]
    final += [f"    texels[{g}] = {t}_tex(at);" for g, t in enumerate(inputs)]
    final += [f"    {precision} float detail = texels[c / 4][c % 4];",
              "    return vec4(detail, 0.0, 0.0, 0.0);  // the linear skip is in the detail already"
              if net.skip is not None else "    return vec4(HOOKED_tex(at).x + detail, 0.0, 0.0, 0.0);", "}", ""]
    parts.append("\n".join(final))
    return write_atomic(Path(out), "\n".join(parts).encode())
