"""ONNX -> TensorRT engine, built once per (graph, shapes, precision, TensorRT, GPU) and cached.

Written against NVIDIA's official ``tensorrt`` Python API (10.x and 11.x). Precision lives in
the graph (strong typing, the only mode TensorRT 11 has and the recommended one in 10.x): an
``fp16`` engine is built from our fp16 ONNX (fp32 I/O, fp16 inside), ``fp32`` from the fp32
ONNX, ``int8`` from the QDQ ONNX (explicit quantization).

The engine cache is a folder of ``NAME-KEY.engine`` files with a ``.json`` beside each one
holding the model spec and every field of the key. The key hashes the ONNX bytes, the shape
profile, the precision, the TensorRT version, the GPU name and its compute capability, so an
engine built for another graph, GPU or TensorRT is never found, let alone loaded: it is
rebuilt. A damaged entry (size or checksum differs from its record) is rebuilt too. Builds
share a persistent timing cache per TensorRT version and GPU, which makes rebuilds fast.

All ``tensorrt`` calls of the export side live here (the runtime's are in the engine).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from srstream.atomic import write_atomic
from srstream.errors import BackendError, ConfigError, DependencyError, ExportError
from srstream.spec import ModelSpec

__all__ = ["EngineEntry", "EngineKey", "ShapeProfile", "build_engine", "default_cache_dir", "engine_key", "import_tensorrt",
           "find_engine", "gpu_identity"]

PRECISIONS = ("fp16", "fp32", "int8")


def default_cache_dir() -> Path:
    """``engines/`` in sr-stream's cache folder (:func:`srstream.cache.cache_root`)."""
    from srstream.cache import cache_root

    return cache_root() / "engines"


@dataclass(frozen=True)
class ShapeProfile:
    """The input shapes the engine accepts: ``(N, C, H, W)`` min / opt / max.

    The engine runs static tiles, so by default only the batch varies: ``for_tiles``.
    """

    min: tuple[int, int, int, int]
    opt: tuple[int, int, int, int]
    max: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        if not all(len(s) == 4 for s in (self.min, self.opt, self.max)) or not all(
            0 < a <= b <= c for a, b, c in zip(self.min, self.opt, self.max)
        ):
            raise ConfigError(f"shape profile min {self.min} <= opt {self.opt} <= max {self.max} does not hold")

    @classmethod
    def for_tiles(cls, spec: ModelSpec, tile: int = 0, batch: int = 4) -> ShapeProfile:
        """Static ``tile x tile`` input (the spec's tile by default), batch 1 to ``batch``."""
        t = tile or spec.tile
        if t <= 0 or t % spec.size_multiple:
            raise ConfigError(f"TensorRT tile {t} must be positive and a multiple of {spec.size_multiple}")
        c = spec.in_channels
        return cls((1, c, t, t), (batch, c, t, t), (batch, c, t, t))

    def label(self) -> str:
        return "_".join("x".join(map(str, s)) for s in (self.min, self.opt, self.max))


@dataclass(frozen=True)
class EngineKey:
    """Everything that makes an engine valid for a machine; its digest names the cache entry."""

    onnx_sha256: str
    profile: str
    precision: str
    tensorrt: str
    gpu: str
    compute_capability: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class EngineEntry:
    """A built engine in the cache."""

    path: Path
    key: EngineKey
    spec: ModelSpec
    built: bool  # True when this call built it, False when it came from the cache
    seconds: float


def import_tensorrt():  # noqa: ANN202 - the module
    try:
        import tensorrt as trt
    except ModuleNotFoundError as exc:
        raise DependencyError("TensorRT is not installed: pip install 'sr-stream[gpu]' "
                              "(needs an NVIDIA GPU and driver)") from exc
    except (ImportError, OSError) as exc:  # wheel present but its CUDA libraries are not loadable
        raise DependencyError(f"TensorRT is installed but cannot load ({exc}); check the NVIDIA driver and "
                              "that the tensorrt wheel matches your CUDA version") from exc
    return trt


def gpu_identity(device: int = 0) -> tuple[str, str]:
    """``(GPU name, compute capability)`` of GPU ``device``, from nvidia-smi.

    Raises:
        BackendError: no NVIDIA GPU is visible.
    """
    from srstream.sysinfo import gpus

    found = {g.index: g for g in gpus()}
    if device not in found:
        raise BackendError(f"TensorRT needs an NVIDIA GPU; nvidia-smi reports none at index {device}")
    return found[device].name, found[device].compute_capability


def engine_key(onnx_bytes: bytes, profile: ShapeProfile, precision: str, device: int = 0) -> EngineKey:
    """The cache key of an engine for ``onnx_bytes`` on this machine."""
    if precision not in PRECISIONS:
        raise ConfigError(f"TensorRT precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    trt = import_tensorrt()
    name, cc = gpu_identity(device)
    return EngineKey(hashlib.sha256(onnx_bytes).hexdigest(), profile.label(), precision, trt.__version__, name, cc)


def _entry_paths(cache: Path, spec: ModelSpec, key: EngineKey) -> tuple[Path, Path]:
    stem = f"{spec.name}-{key.precision}-{key.digest}"
    return cache / f"{stem}.engine", cache / f"{stem}.json"


def find_engine(cache: Path, spec: ModelSpec, key: EngineKey) -> EngineEntry | None:
    """The cached engine for ``key``, or None when absent, foreign or damaged (then it is rebuilt)."""
    engine, record = _entry_paths(cache, spec, key)
    try:
        meta = json.loads(record.read_text())
        blob = engine.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("key") != asdict(key) or meta.get("size") != len(blob) or \
            meta.get("sha256") != hashlib.sha256(blob).hexdigest():
        return None
    return EngineEntry(engine, key, ModelSpec.from_dict(meta["spec"]), built=False, seconds=0.0)


def _progress_monitor(trt, stream):  # noqa: ANN001, ANN202
    """A build progress printer (TensorRT >= 10 has IProgressMonitor), or None."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class Monitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.steps[phase_name] = num_steps
            if parent_phase is None:
                print(f"  TensorRT: {phase_name} ({num_steps} steps)", file=stream, flush=True)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            self.steps.pop(phase_name, None)

    return Monitor()


def build_engine(onnx_bytes: bytes, spec: ModelSpec, *, precision: str = "fp16", profile: ShapeProfile | None = None,
                 cache: Path | None = None, device: int = 0, workspace_gib: float = 4.0, rebuild: bool = False,
                 log=sys.stderr) -> EngineEntry:  # noqa: ANN001
    """The engine for ``onnx_bytes`` (the graph of ``precision``) from the cache, building it if needed.

    Raises:
        DependencyError: tensorrt missing or not loadable.
        BackendError: no GPU.
        ExportError: the parser rejects the graph (the unsupported node and op are named) or
            the build fails.
        OutputError: the cache folder is not writable (from :func:`~srstream.atomic.write_atomic`).
    """
    trt = import_tensorrt()
    profile = profile or ShapeProfile.for_tiles(spec)
    cache = Path(cache or default_cache_dir())
    key = engine_key(onnx_bytes, profile, precision, device)
    if not rebuild and (hit := find_engine(cache, spec, key)) is not None:
        return hit

    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    network = builder.create_network(1 << int(typed) if typed is not None else 0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        problems = []
        for i in range(parser.num_errors):
            err = parser.get_error(i)
            node = getattr(err, "node_name", lambda: "")() or str(err.node())
            op = getattr(err, "node_operator", lambda: "")() or "?"
            problems.append(f"node {node} ({op}): {err.desc()}")
        raise ExportError(f"TensorRT {trt.__version__} cannot parse {spec.name}: " + "; ".join(problems)
                          + ". Re-export with a supported opset or report the unsupported op.")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(spec.input_name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(opt_profile)
    timing_path = cache / f"timing-{trt.__version__}-{key.gpu.replace(' ', '_')}-sm{key.compute_capability}.cache"
    timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    monitor = _progress_monitor(trt, log)
    if monitor is not None:
        config.progress_monitor = monitor
    print(f"building a TensorRT {precision} engine for {spec.name} ({profile.label()}) on {key.gpu}; "
          "this takes a while once, then it is cached", file=log, flush=True)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT could not build an engine for {spec.name}; the log above says why")
    blob = bytes(serialized)
    engine, record = _entry_paths(cache, spec, key)
    meta = {"key": asdict(key), "spec": spec.to_dict(), "size": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    # the record last: an engine counts as cached only once its record (size, checksum) is there
    write_atomic(engine, blob)
    write_atomic(record, json.dumps(meta, indent=1).encode())
    write_atomic(timing_path, bytes(config.get_timing_cache().serialize()))
    return EngineEntry(engine, key, spec, built=True, seconds=time.perf_counter() - start)
