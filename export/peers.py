"""Importing other projects' trained generators into our architectures, by explicit weight maps.

Supported (recognised from the state dict's keys and shapes, never from the file name):

* **Real-ESRGAN SRVGGNetCompact** (``realesr-animevideov3``, ``realesr-general-x4v3``): the same
  layer sequence as our :class:`~srstream.archs.compact.CompactNet` (conv, PReLU per channel, ...,
  conv to ``3 * s^2``, pixel shuffle, nearest skip), so the keys map one to one.
* **ESRGAN RRDBNet** (``RealESRGAN_x4plus``, ``RealESRGAN_x4plus_anime_6B``, ESRGAN, and the community's
  ESRGAN models, 4x-UltraSharp and the like): our :class:`~srstream.archs.rrdb.RRDBNet` is the same
  network (nearest x2 and a conv per stage, ``conv_hr``, ``conv_last``), so BasicSR's names map one
  to one; the original ESRGAN code's (``model.0``, ``model.1.sub.N.RDBr.convc.0``, ...) are renamed
  to them first. Width, growth, depth and scale are read from the shapes; Real-ESRGAN's x2plus,
  which folds the picture 2x2 into 12 channels first (pixel unshuffle), runs so (``unshuffle``).
  Its x1 model (folded 4x4, no upscale) is refused: sr-stream upscales.
* **SPAN** (Wan et al. 2024, the NTIRE 2024 efficient-SR winner; the community's SPAN models,
  OpenModelDB's ``2xHFA2kSPAN``, ``4xNomos8k_span_otf_*``, upscayl's): every 3x3 conv of it is
  trained as branches (``Conv3XC``: 1x1 -> 3x3 -> 1x1 beside a 1x1), which are collapsed into the
  one plain conv SPAN itself runs at inference (:class:`~srstream.archs.span.SPANNet`). The file's
  ``eval_conv`` is used only where the branches are absent: SPAN recomputes it from them before
  every inference, and a checkpoint saved while training holds it as initialised.
* **RealPLKSR** (partial large-kernel CNN, as neosr and the community train it; OpenModelDB's
  ``4xNomos2_realplksr_dysample`` and the like), with a pixel shuffle or DySample, onto
  :class:`~srstream.archs.plksr.RealPLKSRNet`: those trained with ``layer_norm`` (a LayerNorm per
  pixel) run in tiles like any conv net; the others end each block with a GroupNorm, whose
  statistics are the whole picture's, so their spec says whole frames (tile 0), as they were run.
* **leftthomas/SRGAN generators** (x2/x4/x8, trained on VOC2012): SRResNet with 5 residual
  blocks whose BatchNorm we fold into the convolutions (inference statistics, exact up to
  rounding), one-parameter PReLUs broadcast to per-channel ones, an activated trunk conv and a
  ``(tanh + 1) / 2`` output: our :class:`~srstream.archs.srresnet.SRResNet` with
  ``trunk_act=True, output="tanh"``.

Files are read with ``torch.load(weights_only=True)`` (tensors and plain containers only) or
safetensors; nothing is unpickled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from srstream.archs import generator_spec
from srstream.errors import ModelError, unreadable_weights
from srstream.spec import ModelSpec

__all__ = ["IMPORTERS", "Importer", "import_state", "read_foreign_state"]

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Importer:
    """One supported third-party format: how to recognise it and how to map it."""

    name: str
    description: str
    detect: Callable[[Mapping[str, torch.Tensor]], bool]
    convert: Callable[[Mapping[str, torch.Tensor], str | None, str], tuple[ModelSpec, State]]


def read_foreign_state(path: Path) -> State:
    """A third-party weight file as a flat ``name -> tensor`` dict.

    Unwraps the usual containers (``params_ema``, ``params``, ``state_dict``, ``model``).

    Raises:
        ModelError: unreadable, not a weights-only file, or not a dict of tensors.
    """
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: object = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelError(f"checkpoint {path} does not exist") from exc
    except Exception as exc:  # pickle.UnpicklingError for non-weights objects, RuntimeError for corrupt files
        raise ModelError(unreadable_weights(path, exc)) from exc
    for key in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return {str(k).removeprefix("module."): v.float() for k, v in obj.items()}


# -- Real-ESRGAN SRVGGNetCompact -------------------------------------------------------------------

def _is_srvgg(state: Mapping[str, torch.Tensor]) -> bool:
    return bool(state) and all(re.fullmatch(r"body\.\d+\.(weight|bias)", k) for k in state) \
        and "body.0.weight" in state and state["body.0.weight"].ndim == 4


def _convert_srvgg(state: Mapping[str, torch.Tensor], name: str | None, stem: str) -> tuple[ModelSpec, State]:
    name = name or stem
    indices = sorted({int(k.split(".")[1]) for k in state})
    last = indices[-1]
    first_w, last_w = state["body.0.weight"], state[f"body.{last}.weight"]
    features, in_ch = first_w.shape[:2]
    convs = (last - 2) // 2  # body: conv, act, convs x (conv, act), conv
    scale = round((last_w.shape[0] / in_ch) ** 0.5)
    expected = {0, last} | {2 * i + 1 for i in range(convs + 1)} | {2 * i + 2 for i in range(convs)}
    if set(indices) != expected or scale * scale * in_ch != last_w.shape[0]:
        raise ModelError(f"{name}: SRVGGNetCompact layout not recognised (layers {indices})")
    act = "prelu" if f"body.{1}.weight" in state else "lrelu"
    spec = generator_spec(name, "compact", scale, in_channels=int(in_ch), params={
        "features": int(features), "convs": int(convs), "act": act, "skip": "nearest"},
        source="Real-ESRGAN SRVGGNetCompact (xinntao/Real-ESRGAN), imported by sr-stream",
        license="BSD-3-Clause")
    return spec, {k: v.clone() for k, v in state.items()}


# -- leftthomas/SRGAN ----------------------------------------------------------------------------

def _is_leftthomas(state: Mapping[str, torch.Tensor]) -> bool:
    return {"block1.0.weight", "block7.0.weight", "block2.conv1.weight", "block2.bn1.running_var"} <= set(state)


def _fold_bn(state: Mapping[str, torch.Tensor], conv: str, bn: str, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """``bn(conv(x))`` (inference statistics) as one conv's weight and bias."""
    w, b = state[f"{conv}.weight"].double(), state[f"{conv}.bias"].double()
    gamma, beta = state[f"{bn}.weight"].double(), state[f"{bn}.bias"].double()
    mean, var = state[f"{bn}.running_mean"].double(), state[f"{bn}.running_var"].double()
    k = gamma / torch.sqrt(var + eps)
    return (w * k[:, None, None, None]).float(), ((b - mean) * k + beta).float()


def _convert_leftthomas(state: Mapping[str, torch.Tensor], name: str | None, stem: str) -> tuple[ModelSpec, State]:
    features = state["block1.0.weight"].shape[0]
    blocks = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"block(\d+)\.conv1\.weight", k)))
    ups = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"block8\.(\d+)\.conv\.weight", k)))
    if blocks != list(range(2, 2 + len(blocks))) or ups != list(range(len(ups))) or not ups:
        raise ModelError(f"{stem}: leftthomas/SRGAN layout not recognised")
    name = name or f"srgan-leftthomas-x{2 ** len(ups)}"

    def prelu(key: str) -> torch.Tensor:  # one shared slope -> the same slope per channel
        return state[key].reshape(-1).expand(features).clone()

    out: State = {
        "head.0.weight": state["block1.0.weight"], "head.0.bias": state["block1.0.bias"],
        "head.1.weight": prelu("block1.1.weight"),
        "trunk.0.weight": state["block7.0.weight"], "trunk.0.bias": state["block7.0.bias"],
        "trunk.2.weight": prelu("block7.1.weight"),
        "tail.weight": state[f"block8.{len(ups)}.weight"], "tail.bias": state[f"block8.{len(ups)}.bias"],
    }
    for i, b in enumerate(blocks):
        out[f"body.{i}.body.0.weight"], out[f"body.{i}.body.0.bias"] = _fold_bn(state, f"block{b}.conv1", f"block{b}.bn1")
        out[f"body.{i}.body.2.weight"] = prelu(f"block{b}.prelu.weight")
        out[f"body.{i}.body.3.weight"], out[f"body.{i}.body.3.bias"] = _fold_bn(state, f"block{b}.conv2", f"block{b}.bn2")
    for i in ups:
        out[f"upsample.{3 * i}.weight"] = state[f"block8.{i}.conv.weight"]
        out[f"upsample.{3 * i}.bias"] = state[f"block8.{i}.conv.bias"]
        out[f"upsample.{3 * i + 2}.weight"] = prelu(f"block8.{i}.prelu.weight")
    spec = generator_spec(name, "srresnet", 2 ** len(ups), params={
        "features": int(features), "blocks": len(blocks), "norm": "none", "act": "prelu",
        "trunk_act": True, "output": "tanh"},
        source="leftthomas/SRGAN generator (VOC2012), BatchNorm folded, imported by sr-stream", license="MIT")
    return spec, {k: v.contiguous() for k, v in out.items()}


# -- ESRGAN RRDBNet (BasicSR / Real-ESRGAN, and the original ESRGAN layout) --------------------------

#: The original ESRGAN code's names (``model.0``, ``model.1.sub.N.RDBr.convc.0``, ...), as most
#: community models (OpenModelDB's 4x-UltraSharp, ...) are saved: one BasicSR name for each.
_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)")
_OLD_CONV = re.compile(r"model\.(\d+)\.(weight|bias)")


def _is_rrdb(state: Mapping[str, torch.Tensor]) -> bool:
    return ({"conv_first.weight", "conv_body.weight", "conv_last.weight", "body.0.rdb1.conv1.weight"} <= set(state)
            or {"model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"} <= set(state))


def _basicsr_names(state: Mapping[str, torch.Tensor]) -> State:
    """An original-layout ESRGAN state renamed to BasicSR's names (a BasicSR one as it is): after
    the trunk, its convs in order are the upsampling ones, then ``conv_hr``, then ``conv_last``."""
    if "conv_first.weight" in state:
        return dict(state)
    blocks = 1 + max(int(m.group(1)) for k in state if (m := _OLD_RDB.fullmatch(k)))
    out: State = {}
    for key, value in state.items():
        if m := _OLD_RDB.fullmatch(key):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
        elif key.startswith(f"model.1.sub.{blocks}."):
            out[f"conv_body.{key.rsplit('.', 1)[1]}"] = value
    tail = sorted({int(m.group(1)) for k in state if (m := _OLD_CONV.fullmatch(k)) and int(m.group(1)) >= 2})
    names = ["conv_first"] + [f"conv_up{i + 1}" for i in range(len(tail) - 2)] + ["conv_hr", "conv_last"]
    for index, name in zip([0, *tail], names):
        for part in ("weight", "bias"):
            if f"model.{index}.{part}" in state:
                out[f"{name}.{part}"] = state[f"model.{index}.{part}"]
    return out


def _convert_rrdb(state: Mapping[str, torch.Tensor], name: str | None, stem: str) -> tuple[ModelSpec, State]:
    name = name or stem
    state = _basicsr_names(state)
    head = state["conv_first.weight"]
    features, in_ch = int(head.shape[0]), int(head.shape[1])
    ups = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"conv_up(\d+)\.weight", k)))
    blocks = 1 + max(int(m.group(1)) for k in state if (m := re.fullmatch(r"body\.(\d+)\.rdb1\.conv1\.weight", k)))
    growth = int(state["body.0.rdb1.conv1.weight"].shape[0])
    out_ch = int(state["conv_last.weight"].shape[0])
    # 12 or 48 channels in: the picture folded 2x2 or 4x4 first (pixel unshuffle: x2plus, x1 models)
    unshuffle = {out_ch: 1, 4 * out_ch: 2, 16 * out_ch: 4}.get(in_ch, 0)
    if out_ch not in (1, 3) or not unshuffle or ups != list(range(1, len(ups) + 1)) or 2 ** len(ups) <= unshuffle:
        raise ModelError(f"{name}: an RRDBNet with {in_ch} input channels, {out_ch} output channels and {len(ups)} "
                         "upsampling convs is not one sr-stream imports (x2, x4 and x8, of the picture as it is "
                         "or folded 2x2 first as Real-ESRGAN's x2plus)")
    in_ch = out_ch
    out: State = {"head.weight": head, "head.bias": state["conv_first.bias"],
                  "trunk.weight": state["conv_body.weight"], "trunk.bias": state["conv_body.bias"],
                  "hr.0.weight": state["conv_hr.weight"], "hr.0.bias": state["conv_hr.bias"],
                  "tail.weight": state["conv_last.weight"], "tail.bias": state["conv_last.bias"]}
    for i in ups:
        out[f"up_convs.{i - 1}.weight"], out[f"up_convs.{i - 1}.bias"] = (state[f"conv_up{i}.weight"],
                                                                           state[f"conv_up{i}.bias"])
    for b in range(blocks):
        for r in range(3):
            for c in range(5):
                for part in ("weight", "bias"):
                    out[f"body.{b}.blocks.{r}.convs.{c}.{part}"] = state[f"body.{b}.rdb{r + 1}.conv{c + 1}.{part}"]
    folded = {"unshuffle": unshuffle, "size_multiple": unshuffle} if unshuffle > 1 else {}
    spec = generator_spec(name, "rrdb", 2 ** len(ups) // unshuffle, in_channels=in_ch, params={
        "features": features, "blocks": blocks, "growth": growth, "res_scale": 0.2, "act": "lrelu",
        **{k: v for k, v in folded.items() if k == "unshuffle"}},
        source="ESRGAN RRDBNet (xinntao/ESRGAN, BasicSR, Real-ESRGAN layouts), imported by sr-stream",
        **{k: v for k, v in folded.items() if k == "size_multiple"})
    return spec, {k: v.contiguous() for k, v in out.items()}


# -- SPAN (Wan et al. 2024: the community's SPAN models, in the layout of SPAN's own code) ---------

#: One of SPAN's re-parameterisable 3x3 convs (``Conv3XC``): ``conv_1``, ``block_K.cN_r``, ``conv_2``.
_SPAN_CONVS = ("conv_1", *(f"block_{b}.c{c}_r" for b in range(1, 7) for c in range(1, 4)), "conv_2")


def _is_span(state: Mapping[str, torch.Tensor]) -> bool:
    return {"conv_1.sk.weight", "block_1.c1_r.sk.weight", "block_6.c3_r.sk.weight", "conv_cat.weight",
            "conv_2.sk.weight", "upsampler.0.weight"} <= set(state) or \
        {"conv_1.eval_conv.weight", "block_6.c3_r.eval_conv.weight", "conv_cat.weight",
         "upsampler.0.weight"} <= set(state)


def _collapse_conv3xc(state: Mapping[str, torch.Tensor], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """SPAN's ``Conv3XC`` at ``name`` as the one 3x3 conv it runs at inference: ``1x1 -> 3x3 -> 1x1``
    (computed in double: ``w3 . w2 . w1``, the biases carried through) plus the 1x1 ``sk`` at the
    centre tap. SPAN recomputes its stored ``eval_conv`` from these branches before every inference
    forward, so the branches, not a possibly stale ``eval_conv``, are the model; a file with only
    ``eval_conv`` (saved collapsed) gives that."""
    if f"{name}.sk.weight" not in state:
        return state[f"{name}.eval_conv.weight"], state[f"{name}.eval_conv.bias"]
    w1, b1, w2, b2, w3, b3 = (state[f"{name}.conv.{i}.{part}"].double()
                              for i in range(3) for part in ("weight", "bias"))
    weight = torch.einsum("on,nmij,mc->ocij", w3[:, :, 0, 0], w2, w1[:, :, 0, 0])
    bias = w3[:, :, 0, 0] @ (w2.sum((2, 3)) @ b1 + b2) + b3
    weight[:, :, 1, 1] += state[f"{name}.sk.weight"].double()[:, :, 0, 0]
    return weight.float(), (bias + state[f"{name}.sk.bias"].double()).float()


def _convert_span(state: Mapping[str, torch.Tensor], name: str | None, stem: str) -> tuple[ModelSpec, State]:
    name = name or stem
    missing = [c for c in _SPAN_CONVS if f"{c}.sk.weight" not in state and f"{c}.eval_conv.weight" not in state]
    if missing:
        raise ModelError(f"{name}: a SPAN layout without {', '.join(missing[:3])}: not one sr-stream imports")
    convs = {c: _collapse_conv3xc(state, c) for c in _SPAN_CONVS}
    head = convs["conv_1"][0]
    features, in_ch = int(head.shape[0]), int(head.shape[1])
    up = state["upsampler.0.weight"]
    scale = round((up.shape[0] / in_ch) ** 0.5)
    if scale * scale * in_ch != up.shape[0] or in_ch not in (1, 3) or state["conv_cat.weight"].shape[:2] != (
            features, 4 * features):
        raise ModelError(f"{name}: a SPAN of {in_ch} input channels and {up.shape[0]} upsampling channels is not "
                         "one sr-stream imports (x1 to x8 of RGB or grey, output as input)")
    if scale < 2:
        raise ModelError(f"{name}: a x1 SPAN (restoration, no upscale) is not one sr-stream runs: sr-stream upscales")
    out: State = {"head.weight": head, "head.bias": convs["conv_1"][1],
                  "last.weight": convs["conv_2"][0], "last.bias": convs["conv_2"][1],
                  "mix.weight": state["conv_cat.weight"], "mix.bias": state["conv_cat.bias"],
                  "up.weight": up, "up.bias": state["upsampler.0.bias"]}
    for b in range(6):
        for c in range(3):
            out[f"blocks.{b}.convs.{c}.weight"], out[f"blocks.{b}.convs.{c}.bias"] = convs[f"block_{b + 1}.c{c + 1}_r"]
    norm = "no_norm" not in state  # SPAN's code keeps this buffer in a model trained without the mean shift
    if norm and in_ch != 3:
        raise ModelError(f"{name}: a grey SPAN that shifts its input by the RGB mean is not one sr-stream imports")
    spec = generator_spec(name, "span", scale, in_channels=in_ch, params={"features": features, "norm": norm},
                          source="SPAN (hongyuanyu/SPAN, Wan et al. 2024), re-parameterised convs collapsed, "
                                 "imported by sr-stream")
    return spec, {k: v.contiguous() for k, v in out.items()}


# -- RealPLKSR (neosr's, as the community trains it) ------------------------------------------------

def _is_realplksr(state: Mapping[str, torch.Tensor]) -> bool:
    return {"feats.0.weight", "feats.1.lk.conv.weight", "feats.1.refine.weight",
            "feats.1.channel_mixer.0.weight"} <= set(state)


def _convert_realplksr(state: Mapping[str, torch.Tensor], name: str | None, stem: str) -> tuple[ModelSpec, State]:
    name = name or stem
    norm = "layer" if "feats.1.layer_norm.weight" in state else "group" if "feats.1.norm.weight" in state else None
    if norm is None:
        raise ModelError(f"{name}: a RealPLKSR with neither a LayerNorm nor a GroupNorm in its blocks is not one "
                         "sr-stream imports")
    blocks = max(int(m.group(1)) for k in state if (m := re.fullmatch(r"feats\.(\d+)\.refine\.weight", k)))
    tail = state.get(f"feats.{blocks + 2}.weight")
    head = state["feats.0.weight"]
    dim, large = int(head.shape[0]), state["feats.1.lk.conv.weight"]
    scale = round((tail.shape[0] / 3) ** 0.5) if tail is not None else 0
    if head.shape[1] != 3 or tail is None or 3 * scale * scale != tail.shape[0] or scale < 2:
        raise ModelError(f"{name}: a RealPLKSR layout sr-stream does not import (RGB, x2 and up)")
    attention = "feats.1.attn.f.0.weight" in state
    dysample = "to_img.init_pos" in state
    out: State = {"head.weight": head, "head.bias": state["feats.0.bias"],
                  "tail.weight": tail, "tail.bias": state[f"feats.{blocks + 2}.bias"]}
    parts = {("layer_norm" if norm == "layer" else "norm"): ("norm" if norm == "layer" else "group_norm"),
             "channel_mixer.0": "mix.0", "channel_mixer.2": "mix.2", "lk.conv": "large",
             "refine": "refine", **({"attn.f.0": "attn"} if attention else {})}
    for b in range(blocks):
        for theirs, ours in parts.items():
            for part in ("weight", "bias"):
                out[f"blocks.{b}.{ours}.{part}"] = state[f"feats.{b + 1}.{theirs}.{part}"]
    if dysample:
        for theirs, ours in (("offset.weight", "offset.weight"), ("offset.bias", "offset.bias"),
                             ("scope.weight", "scope.weight"), ("end_conv.weight", "end.weight"),
                             ("end_conv.bias", "end.bias"), ("init_pos", "offsets")):
            out[f"dysample.{ours}"] = state[f"to_img.{theirs}"]
    # a GroupNorm's statistics are the whole picture's: whole frames (tile 0), as the net was run
    whole = {"tile": 0} if norm == "group" else {}
    spec = generator_spec(name, "realplksr", scale, params={
        "dim": dim, "blocks": blocks, "kernel": int(large.shape[-1]), "partial": int(large.shape[0]),
        "attention": attention, "dysample": dysample, **({"norm": norm} if norm == "group" else {})},
        source="RealPLKSR (dslisleedh/PLKSR, neosr), imported by sr-stream", **whole)
    return spec, {k: v.contiguous() for k, v in out.items()}


IMPORTERS: tuple[Importer, ...] = (
    Importer("realesrgan-compact", "Real-ESRGAN SRVGGNetCompact (realesr-animevideov3, realesr-general)",
             _is_srvgg, _convert_srvgg),
    Importer("leftthomas-srgan", "leftthomas/SRGAN generator (x2/x4/x8)", _is_leftthomas, _convert_leftthomas),
    Importer("esrgan-rrdb", "ESRGAN RRDBNet x2/x4/x8 (RealESRGAN_x4plus and x2plus, community ESRGAN models; BasicSR "
             "or original layout)", _is_rrdb, _convert_rrdb),
    Importer("span", "SPAN x2/x3/x4 (the community's SPAN models, e.g. 2xHFA2kSPAN, 4xNomos8k_span_otf)",
             _is_span, _convert_span),
    Importer("realplksr", "RealPLKSR x2/x3/x4, with or without DySample, LayerNorm or GroupNorm (the community's "
             "models, e.g. 4xNomos2_realplksr_dysample)", _is_realplksr, _convert_realplksr),
)


def import_state(state: Mapping[str, torch.Tensor], name: str | None, stem: str) -> tuple[ModelSpec, State]:
    """Spec and our-architecture weights for a recognised third-party ``state``.

    ``name`` names the model; without it the importer picks one (``stem`` is the file's stem).

    Raises:
        ModelError: no importer recognises it (the message lists the supported formats).
    """
    for importer in IMPORTERS:
        if importer.detect(state):
            return importer.convert(state, name, stem)
    known = "; ".join(i.description for i in IMPORTERS)
    raise ModelError(f"{stem}: not an sr-stream checkpoint and not a supported third-party format ({known})")
