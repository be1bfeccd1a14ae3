"""What ``sr-stream bench --model`` can name, each opened as one callable:
``uint8 RGB (h, w, 3) -> uint8 RGB (h * s, w * s, 3)``.

* ``bicubic``, ``lanczos``: MATLAB-compatible interpolation (``--scale`` says the factor);
* a bundled sr-stream model name, or an exported ``.onnx``: the engine, on the chosen backend,
  precision and tiling, exactly as ``sr-stream INPUT`` runs it;
* a peer from :data:`PEERS` (found under the peers folder) or a peer file:
  OpenCV dnn_superres ``.pb`` graphs run by OpenCV (:mod:`.opencv_sr`); third-party PyTorch
  weights (Real-ESRGAN compact, leftthomas/SRGAN) are imported by ``sr-stream export`` into an
  ONNX file once (cached) and then run by the engine like our own models.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from srstream.errors import ConfigError, InputError
from srstream.imresize import bicubic_upscale, lanczos_upscale

__all__ = ["INTERPOLATIONS", "PEERS", "Method", "MethodInfo", "Peer", "default_peers_dir", "open_method"]

#: name -> uint8 upscaler taking (image, scale).
INTERPOLATIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "bicubic": bicubic_upscale,
    "lanczos": lanczos_upscale,
}


@dataclass(frozen=True)
class Peer:
    """Another project's trained model, as stored in the peers folder."""

    name: str
    path: str  # relative to the peers folder
    scale: int
    project: str
    algo: str = ""  # dnn_superres's algorithm name (.pb files)


def _opencv_peers() -> list[Peer]:
    table = [("espcn", "opencv_ESPCN/ESPCN_x{s}.pb", (2, 3, 4), "ESPCN (fannymonori/TF-ESPCN)"),
             ("fsrcnn", "opencv_FSRCNN/FSRCNN_x{s}.pb", (2, 3, 4), "FSRCNN (Saafke/FSRCNN_Tensorflow)"),
             ("fsrcnn-small", "opencv_FSRCNN/FSRCNN-small_x{s}.pb", (2, 3, 4), "FSRCNN-small (Saafke/FSRCNN_Tensorflow)"),
             ("lapsrn", "opencv_LapSRN/LapSRN_x{s}.pb", (2, 4, 8), "LapSRN (fannymonori/TF-LapSRN)")]
    return [Peer(f"opencv-{algo}-x{s}", path.format(s=s), s, f"{project}, OpenCV dnn_superres", algo.split("-")[0])
            for algo, path, scales, project in table for s in scales]


#: Every peer model the benchmarks know by name.
PEERS: dict[str, Peer] = {p.name: p for p in [
    *_opencv_peers(),
    Peer("realesr-animevideov3-x4", "realesr-animevideov3/realesr-animevideov3.pth", 4,
         "Real-ESRGAN SRVGGNetCompact (xinntao/Real-ESRGAN)"),
    *(Peer(f"srgan-leftthomas-x{s}", f"SRGAN_leftthomas/netG_epoch_{s}_100.pth", s, "SRGAN (leftthomas/SRGAN, VOC2012)")
      for s in (2, 4, 8)),
]}


def default_peers_dir() -> Path:
    """``$SRSTREAM_PEERS``, else ``$SRSTREAM_DATA/peers``, else ``../shared/data/peers`` (the
    developers' layout, relative to the working directory)."""
    if os.environ.get("SRSTREAM_PEERS"):
        return Path(os.environ["SRSTREAM_PEERS"])
    if os.environ.get("SRSTREAM_DATA"):
        return Path(os.environ["SRSTREAM_DATA"]) / "peers"
    return Path("..") / "shared" / "data" / "peers"


@dataclass(frozen=True)
class MethodInfo:
    """What ran: written into every result file."""

    name: str
    kind: str  # "interpolation" | "sr-stream" | "peer"
    scale: int
    backend: str  # "numpy" | "opencv" | an engine backend name ("ort", "trt", "torch")
    precision: str
    runtime: str  # library and route, e.g. "ort int8 on CPU (onnxruntime 1.23.2)" or "OpenCV 5.0.0 cv2.dnn ..."
    source: str = ""  # the file it came from
    project: str = ""  # whose model it is (peers)


class Method:
    """A context-managed upscaler with its :class:`MethodInfo`; ``close`` releases the runtime."""

    def __init__(self, info: MethodInfo, run: Callable[[np.ndarray], np.ndarray],
                 close: Callable[[], None] = lambda: None, upscaler: object = None) -> None:
        self.info, self._run, self._close = info, run, close
        #: the engine's FrameUpscaler for sr-stream and imported models (end-to-end runs use it).
        self.upscaler = upscaler

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self._run(rgb)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Method:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_method(name: str, *, scale: int | None = None, backend: str = "auto", precision: str = "auto",
                tile: int | str = "auto", peers_dir: Path | None = None, cache_dir: Path | None = None,
                ensemble: bool = False, device: str | None = None, size: tuple[int, int] | None = None,
                compression: float | None = None) -> Method:
    """Resolve ``--model`` and open it.

    Args:
        name: ``bicubic``/``lanczos``, a bundled model, a peer name, or a ``.onnx``/``.pb``/
            ``.pth``/``.safetensors`` path.
        scale: required for interpolation; for models, checked against the model's own factor.
        backend, precision, tile, device: for models run by the engine (ignored by OpenCV peers
            and interpolation, which have one route each).
        size: the frame size (width, height) ``auto`` times its candidates at (default 640x360).
        peers_dir: where peer names are looked up (default :func:`default_peers_dir`).
        cache_dir: where imported peers' ONNX files are kept (default ``~/.cache/sr-stream/peers``).
        ensemble: x8 self-ensemble for models run by the engine (the name gets ``+ensemble``).
        compression: the strength a model with a compression-strength input runs at (see
            :class:`srstream.engine.api.Upscaler`; None: 0); ignored by other methods.

    Raises:
        ConfigError: an unknown name or a scale that does not match.
        InputError: a peer file that is not there.
        ModelError, DependencyError: the model cannot be opened.
    """
    if ensemble and (name in INTERPOLATIONS or Path(name).suffix == ".pb" or (name in PEERS and PEERS[name].path.endswith(".pb"))):
        raise ConfigError(f"--ensemble applies to models run by the engine, not to {name}")
    if name in INTERPOLATIONS:
        if not scale:
            raise ConfigError(f"--model {name} needs --scale")
        upscale = INTERPOLATIONS[name]
        kernel = "bicubic (a = -0.5)" if name == "bicubic" else "Lanczos-3"
        info = MethodInfo(name, "interpolation", scale, "numpy", "fp64", f"numpy float64, MATLAB-compatible {kernel}")
        return Method(info, lambda rgb: upscale(rgb, scale))
    path, peer = _peer_file(name, peers_dir)
    if path is not None and path.suffix == ".pb":
        method = _open_opencv(path, peer, scale)
    elif path is not None and path.suffix in (".pth", ".pt", ".safetensors"):
        from srstream.imported import imported_onnx

        onnx_path = imported_onnx(path, peer.name if peer else path.stem, cache_dir, log=print)
        method = _open_engine(str(onnx_path), backend, precision, tile, kind="peer", source=path,
                              project=peer.project if peer else "", ensemble=ensemble, device=device, size=size)
    else:
        _check_engine_name(name)
        method = _open_engine(name, backend, precision, tile, ensemble=ensemble, device=device, size=size,
                              compression=compression)
    if scale and method.info.scale != scale:
        method.close()
        raise ConfigError(f"{method.info.name} upscales x{method.info.scale}, not x{scale}; {_what_runs_at(scale)}")
    return method


def _what_runs_at(scale: int) -> str:
    """Which methods exist at ``scale``, for a message: the bundled models, peers, interpolation."""
    from srstream.engine.models import TIERS

    ours = ", ".join(TIERS.get(scale, ())) or "no bundled model"
    peers = [p.name for p in PEERS.values() if p.scale == scale][:4]
    return (f"at x{scale}: {ours}; peers {', '.join(peers) or 'none'}; and bicubic or lanczos "
            f"(bundled models exist at x{' and x'.join(str(k) for k in sorted(TIERS))})")


def _peer_file(name: str, peers_dir: Path | None) -> tuple[Path | None, Peer | None]:
    if name in PEERS:
        peer = PEERS[name]
        folder = peers_dir or default_peers_dir()
        path = folder / peer.path
        if not path.is_file():
            raise InputError(f"peer model {name} is not at {path}; pass --peers DIR (a folder holding "
                             f"{peer.path}) or set SRSTREAM_PEERS")
        return path, peer
    path = Path(name)
    if path.suffix in (".pb", ".pth", ".pt", ".safetensors"):
        if not path.is_file():
            raise InputError(f"model file {path} does not exist")
        return path, None
    return None, None


def _check_engine_name(name: str) -> None:
    """Unknown names fail here with every kind of name ``--model`` takes (and a close match)."""
    import difflib

    from srstream.engine.models import BUNDLED_MODELS

    if name in BUNDLED_MODELS or Path(name).suffix == ".onnx" or Path(name).exists():
        return
    known = [*INTERPOLATIONS, *BUNDLED_MODELS, *PEERS]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown model {name!r}.{hint} --model takes {', '.join(INTERPOLATIONS)}, a bundled model "
                      f"({', '.join(BUNDLED_MODELS)}), an exported .onnx, a peer name (`sr-stream bench peers` "
                      "lists them) or a peer file (.pb, .pth, .safetensors)")


def _open_opencv(path: Path, peer: Peer | None, scale: int | None) -> Method:
    from srstream.bench.opencv_sr import OpenCvSuperRes

    if peer is None and not scale:
        scale = _graph_scale(path)
    sr = OpenCvSuperRes(path, peer.algo if peer else "fsrcnn", peer.scale if peer else scale)
    info = MethodInfo(peer.name if peer else path.stem, "peer", sr.scale, "opencv", "fp32", sr.runtime, str(path),
                      peer.project if peer else "")
    return Method(info, sr)


def _graph_scale(path: Path) -> int:
    """The factor of an OpenCV ``.pb`` model that is no known peer, from its spec as ``--model`` imports
    it (:func:`srstream.imported.imported_onnx`: converted once into the cache; dnn_superres itself
    is told the factor)."""
    from srstream.engine.models import read_onnx_spec
    from srstream.errors import DependencyError
    from srstream.imported import imported_onnx

    try:
        return read_onnx_spec(imported_onnx(path, log=lambda line: None)).scale
    except DependencyError as exc:
        raise ConfigError(f"{path}: an OpenCV .pb model needs --scale where onnx is not installed to read its "
                          "factor from its graph") from exc


def _open_engine(name: str, backend: str, precision: str, tile: int | str, *, kind: str = "sr-stream",
                 source: Path | None = None, project: str = "", ensemble: bool = False, device: str | None = None,
                 size: tuple[int, int] | None = None, compression: float | None = None) -> Method:
    from srstream.engine.autotune import choose
    from srstream.engine.backends import backend_def, open_backend
    from srstream.engine.models import resolve_model
    from srstream.engine.strength import for_stream
    from srstream.engine.upscaler import FrameUpscaler

    model = resolve_model(name)
    model, _ = for_stream(model, compression)
    choice = choose(model, backend, precision, size=size, device=device)
    opened = open_backend(model, choice)
    upscaler = FrameUpscaler(opened, model.spec, tile, ensemble=ensemble)
    runtime = f"{opened.describe()} ({backend_def(opened.name).runtime_version()})"
    label = (model.spec.name if kind == "peer" else model.name) + ("+ensemble" if ensemble else "")
    info = MethodInfo(label, kind, model.spec.scale, opened.name, choice.precision,
                      runtime + (", x8 self-ensemble" if ensemble else ""), str(source or model.path),
                      project or model.spec.source)
    return Method(info, upscaler.upscale, opened.close, upscaler)
