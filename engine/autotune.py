"""``--backend auto`` / ``--precision auto``: the fastest candidate that is correct on this machine.

Candidates:

* an NVIDIA GPU with TensorRT and pycuda: TensorRT fp16 (not measured here yet);
* ONNX Runtime with a CUDA provider (onnxruntime-gpu): fp16 when the model ships it, else fp32;
* an NVIDIA GPU that torch sees (the ``[train]`` extra installed with a CUDA build of torch): the
  torch backend in fp16 on CUDA, with the frames packed and finished on the GPU. On an H200 it
  ran the bundled sample end to end at 56-99 fps, against 33 for the best CPU candidate of that
  machine's 16 cores (``benchmarks/results/gpu``), not timed here;
* otherwise the CPU: every available backend at every precision its declaration offers on this
  CPU (:attr:`BackendDef.cpu_precisions`) for which the model has a graph.

Every CPU candidate is first checked against the fp32 graph on ONNX Runtime
(:mod:`srstream.engine.accuracy`); one that fails is never taken. The correct ones are timed on
a frame of the size in use (the check crops tiled; a part of at most :data:`TIMING_AREA` pixels
of a larger one, in its tiles, the speed scaled by area), the whole per-frame path included,
interleaved so that a busy moment of the machine slows them all alike, and the fastest wins.
``--backend X`` or ``--precision Y`` narrow the candidates; an explicit pair is opened as asked,
with a warning when its check fails.

Checks and timings are cached in ``autotune.json`` in sr-stream's cache folder, keyed by
everything that changes them: the graph's checksum, the backend and its runtime version, the
precision, the options, the CPU (model, ISA features, usable cores) and, for timings, the frame
size. The first run on a machine pays a few seconds; later runs read the cache. A timing made
while the machine was busy (its 1-minute load average above :data:`BUSY_LOAD_SHARE` of its
cores: a build, a benchmark) still ranks the candidates fairly, as they are timed interleaved,
but its frame rates are low; it is marked so, and timed again by the first selection made while
the machine is not busy (so the speeds that ``--adapt auto`` and the live tier go by are not a
busy moment's for ever).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srstream.atomic import write_atomic
from srstream.engine.accuracy import LIMITS, Accuracy, check_pairs, compare, recorded_int8_costs
from srstream.engine.backends import Choice, backend_def, definitions
from srstream.engine.backends.base import BackendDef
from srstream.engine.models import ResolvedModel, luma_variant_path, variant_path
from srstream.errors import BackendError, DependencyError, ModelError, SRStreamError
from srstream.sysinfo import SystemInfo, collect

__all__ = ["BUSY_LOAD_SHARE", "DEFAULT_SIZE", "TIMING_AREA", "Row", "Selection", "TuneCache", "choose",
           "expected_fps", "inherit_speed", "load_share", "select", "timing_size"]

log = logging.getLogger("srstream.engine")
#: Cache files this process could not write, said once each (see :meth:`TuneCache.put_many`).
_UNWRITABLE: set[Path] = set()
#: The timings (speed keys) this process made: a run header calls its numbers "cached" only when an
#: earlier run measured them (``--adapt auto``'s rule times the model before the header is written).
_TIMED_HERE: set[str] = set()

#: The frame size candidates are timed at when the caller does not know it (a 360p video frame).
DEFAULT_SIZE = (640, 360)
#: 2: timings are interleaved (those cached one after the other are measured again); 3: OpenVINO
#: runs the INT8 luma graphs' last conv in our kernel (srstream.engine.graph_tail), faster; 4: OpenVINO
#: on AMX runs INT8 graphs with uint8 activations (graph_tail.unsigned_activations): in int8, not fp32
_CACHE_VERSION = 4
#: A load average above this share of the usable cores makes the machine busy (see the module docstring).
BUSY_LOAD_SHARE = 0.5
#: Timing: seconds per candidate, and the rounds (one frame of each candidate) it takes at least / at most.
_TIMING_SECONDS = 0.8
#: Frames larger than this (pixels; 1080p) are timed on a part of them this large, in the tiles the
#: whole frame gets, and their speed scaled by area: the per-pixel work is the same, and timing each
#: candidate on whole 8K frames (a warm-up and three rounds each) took four minutes of a first run.
TIMING_AREA = 1920 * 1080
_MIN_ROUNDS = 3
_MAX_ROUNDS = 12


@dataclass
class Row:
    """One candidate: its check, its speed, whether it was chosen and why not otherwise."""

    backend: str
    precision: str
    accuracy: Accuracy | None = None
    fps: float | None = None
    note: str = ""
    chosen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "precision": self.precision, "fps": self.fps, "note": self.note,
                "chosen": self.chosen, "accuracy": self.accuracy.to_dict() if self.accuracy else None}


@dataclass(frozen=True)
class Selection:
    choice: Choice
    rows: tuple[Row, ...]
    size: tuple[int, int]
    cached: bool  # every number came from the cache


class TuneCache:
    """``autotune.json``: checks and timings per machine, written atomically."""

    def __init__(self, path: Path | None = None) -> None:
        from srstream.cache import cache_root

        self.path = path or cache_root() / "autotune.json"
        # busy: the load share (see BUSY_LOAD_SHARE) a timing was made at, for those made while busy
        self.data: dict[str, dict[str, Any]] = {"accuracy": {}, "speed": {}, "busy": {}}
        try:
            loaded = json.loads(self.path.read_text())
            if loaded.get("version") == _CACHE_VERSION:
                self.data = {table: dict(loaded.get(table, {})) for table in ("accuracy", "speed", "busy")}
        except (OSError, ValueError, AttributeError):
            pass  # missing or damaged: measure again

    def get(self, table: str, key: str) -> Any:
        return self.data[table].get(key)

    def put(self, table: str, key: str, value: Any) -> None:
        self.put_many(table, {key: value})

    def put_many(self, table: str, items: dict[str, Any]) -> None:
        """Set ``items`` in ``table`` (a None value removes its key) and write the file."""
        self.data[table].update(items)
        for key in [k for k, v in items.items() if v is None]:
            del self.data[table][key]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps({"version": _CACHE_VERSION, **self.data}, indent=1).encode())
        except OSError as exc:  # a read-only home only costs a re-measurement next time: said once
            if self.path not in _UNWRITABLE:
                _UNWRITABLE.add(self.path)
                log.warning(f"note: could not keep this machine's measurements in {self.path.parent} "
                            f"({exc.strerror or exc}): every run measures again; point SRSTREAM_CACHE at a "
                            "writable folder to measure once")


def load_share() -> float:
    """The 1-minute load average per usable core (0 where the system does not say)."""
    try:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return os.getloadavg()[0] / max(cores, 1)
    except (OSError, AttributeError):
        return 0.0


def _cpu_fingerprint(info: SystemInfo) -> str:
    flags = ",".join(sorted(f for f, ok in info.cpu.features.items() if ok))
    return f"{info.cpu.model}|{info.cpu.family}.{info.cpu.model_number}|{flags}|{info.cpu.usable_cores}"


def _graph_digest(model: ResolvedModel, precision: str) -> str:
    """The graph files a candidate may run: the precision's graph and, for compact_y models, the
    luma-only graph CPU backends take instead (:func:`~srstream.engine.models.luma_variant_path`)."""
    p = "int8" if precision == "int8" else "fp32"
    paths = [variant_path(model.path, p), luma_variant_path(model.path, p)]
    if paths[0] is None:
        return "missing"
    digest = hashlib.sha256()
    for path in filter(None, paths):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _key(model: ResolvedModel, b: BackendDef, precision: str, options: Any, info: SystemInfo) -> str:
    return "|".join([_graph_digest(model, precision), b.name, b.runtime_version(), precision, repr(options),
                     _cpu_fingerprint(info)])


def inherit_speed(copy: ResolvedModel, source: ResolvedModel, cache: TuneCache | None = None) -> int:
    """Give ``copy`` the timings ``source`` has on this machine where it has none of its own: for a
    copy whose graphs are ``source``'s but for some constants (weights, biases, quantiser scales;
    what :mod:`srstream.engine.refit` writes), whose speed does not depend on them. Its accuracy is
    still checked, as any model's. Returns how many timings it took.

    ``--adapt`` fits a copy to every video; without this, each one's first run would time every
    candidate again (several seconds at 720p on 2 cores) for the speed its source's run measured."""
    cache = cache or TuneCache()
    taken: dict[str, Any] = {}
    busy: dict[str, Any] = {}
    for precision in ("fp32", "int8"):  # the two graph digests a candidate's key can start with
        old, new = _graph_digest(source, precision), _graph_digest(copy, precision)
        if "missing" in (old, new) or old == new:
            continue
        for key, fps in cache.data["speed"].items():
            if key.startswith(old + "|") and (mine := new + key[len(old):]) not in cache.data["speed"]:
                taken[mine] = fps
                if key in cache.data["busy"]:  # a busy moment's timing stays marked as one
                    busy[mine] = cache.data["busy"][key]
    if busy:
        cache.data["busy"].update(busy)
    if taken:
        cache.put_many("speed", taken)
    return len(taken)


def _upscaler(model: ResolvedModel, b: BackendDef, precision: str, options: Any, tile: int | str):  # noqa: ANN202
    from srstream.engine.upscaler import FrameUpscaler

    backend = b.open(model.spec, model.path, precision, options)
    return backend, FrameUpscaler(backend, model.spec, tile)


def _check(model: ResolvedModel, b: BackendDef, precision: str, options: Any) -> Accuracy:
    ref_backend, reference = _upscaler(model, backend_def("ort"), "fp32", None, 0)
    with ref_backend:
        expected = {id(lr): reference.upscale(lr) for lr, _ in check_pairs(model.spec.scale)}
    backend, upscaler = _upscaler(model, b, precision, options, 0)
    with backend:
        return compare(upscaler.upscale, lambda lr: expected[id(lr)], model.spec.scale)


def _frame(size: tuple[int, int]) -> np.ndarray:
    """A ``size`` (width, height) frame tiled from the check crops: real content to time on."""
    crops = [hr for _, hr in check_pairs(1)]
    w, h = size
    row = np.concatenate(crops, axis=1)
    reps = (-(-h // row.shape[0]), -(-w // row.shape[1]), 1)
    return np.ascontiguousarray(np.tile(row, reps)[:h, :w])


def _time_together(model: ResolvedModel, candidates: list[tuple[BackendDef, str, Any]],
                   size: tuple[int, int]) -> list[float | SRStreamError]:
    """Frames per second of each candidate's whole per-frame path, or the error that stopped it.

    The candidates are timed interleaved, one frame each per round (the order reversed every
    other round), and each keeps the median of its rounds: a slow patch of the machine (another
    process, a noisy neighbour on a shared host) then slows every candidate alike instead of
    deciding the choice. Timed one after the other, a 2-core AMD EPYC Zen 4 once measured
    tiny-x2-deep's OpenVINO INT8 graph at 25.9 fps and its bf16 one at 28.3, and cached bf16;
    interleaved over 60 s they run 44.0 and 33.3 fps (``benchmarks/cpu_speed.py``).
    """
    timed_size, share = timing_size(size)
    frame = _frame(timed_size)
    results: list[float | SRStreamError] = [0.0] * len(candidates)
    runs: dict[int, list[float]] = {}
    with contextlib.ExitStack() as stack:
        upscalers = {}
        for i, (b, precision, options) in enumerate(candidates):
            try:
                backend, upscaler = _upscaler(model, b, precision, options, "auto")
                stack.enter_context(backend)
                if timed_size != size:  # the part in the tiles the whole frame gets
                    from srstream.engine.upscaler import FrameUpscaler, choose_tile

                    upscaler = FrameUpscaler(backend, model.spec, choose_tile(model.spec, backend, size[1], size[0]))
                upscaler.upscale(frame)  # warm-up: compilation, allocations, kernel selection
            except SRStreamError as exc:
                results[i] = exc
                continue
            upscalers[i] = upscaler
            runs[i] = []
        started, rounds = time.perf_counter(), 0
        budget = _TIMING_SECONDS * max(len(upscalers), 1)
        while upscalers and (rounds < _MIN_ROUNDS or (time.perf_counter() - started < budget and rounds < _MAX_ROUNDS)):
            order = list(upscalers) if rounds % 2 == 0 else list(reversed(upscalers))
            for i in order:
                t = time.perf_counter()
                try:
                    upscalers[i].upscale(frame)
                except SRStreamError as exc:
                    results[i] = exc
                    del upscalers[i], runs[i]
                    continue
                runs[i].append(time.perf_counter() - t)
            rounds += 1
    for i, times in runs.items():
        results[i] = share / statistics.median(times)
    return results


def timing_size(size: tuple[int, int]) -> tuple[tuple[int, int], float]:
    """The (width, height) a frame of ``size`` is timed at (at most :data:`TIMING_AREA` pixels, its
    shape kept), and the share of the frame that is."""
    w, h = size
    if w * h <= TIMING_AREA:
        return size, 1.0
    f = (TIMING_AREA / (w * h)) ** 0.5
    part = (max(16, int(w * f) // 2 * 2), max(16, int(h * f) // 2 * 2))
    return part, part[0] * part[1] / (w * h)


def _gpu_choice(model: ResolvedModel, info: SystemInfo, backend: str, precision: str) -> Choice | None:
    """The GPU decision (unchanged from the first version: not measured)."""
    from srstream.engine.models import available_precisions

    if backend in ("auto", "trt") and info.gpus and backend_def("trt").probe(info).available:
        return Choice("trt", "fp16" if precision == "auto" else precision, "TensorRT and an NVIDIA GPU found")
    if backend in ("auto", "ort"):
        import onnxruntime as ort

        if any(p in ort.get_available_providers() for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")):
            variants = available_precisions(model.path)
            chosen = precision if precision != "auto" else ("fp16" if "fp16" in variants else "fp32")
            return Choice("ort", chosen, "ONNX Runtime with a CUDA provider")
    if backend in ("auto", "torch") and precision in ("auto", "fp16") and info.gpus and _torch_sees_cuda():
        return Choice("torch", "fp16", "PyTorch with CUDA and an NVIDIA GPU found",
                      backend_def("torch").make_options("cuda"))
    return None


def _torch_sees_cuda() -> bool:
    """Whether torch is installed and sees a CUDA GPU (imports torch, through its backend: only
    asked where ``nvidia-smi`` listed a GPU)."""
    from srstream.engine.backends.torch_backend import cuda_visible

    return cuda_visible()


def _candidates(model: ResolvedModel, info: SystemInfo, pool: list[BackendDef], precision: str,
                device: str | None) -> list[tuple[BackendDef, str, Any, str]]:
    """``(declaration, precision, options, note)``; a note marks a candidate that cannot run."""
    out = []
    refused = _export_int8_verdict(model) if precision == "auto" else ""
    for b in pool:
        available = b.probe(info)
        wanted = b.cpu_precisions(info) if precision == "auto" else (precision,)
        for p in wanted:
            if p not in b.precisions:
                continue
            note = "" if available.available else available.detail
            if not note and p == "int8" and variant_path(model.path, "int8") is None:
                note = "the model ships no int8 graph"
            if not note and p == "int8":
                note = refused
            out.append((b, p, b.make_options(device), note))
    return out


def _export_int8_verdict(model: ResolvedModel) -> str:
    """Why ``auto`` must not take the model's INT8 graph whatever this machine's check says, or "".

    ``sr-stream export --int8 --val SET`` stores the graph's Y-PSNR beside fp32's on that whole
    set (:func:`~srstream.engine.accuracy.recorded_int8_costs`). The per-machine check runs on a few
    bundled crops and catches what a CPU's kernels get wrong, but it understates a graph that is
    lossy everywhere (tiny-x2-deep: 0.019 dB on the crops, 0.128 on Set5), so a recorded cost over
    the limit rules the graph out on every machine.
    """
    for key, cost in recorded_int8_costs(model.spec.metrics).items():
        if cost > LIMITS.cost_db:
            where = key.removesuffix("_psnr_y").replace("_", " ")
            return (f"not taken: the int8 graph cost {cost:.3f} dB against fp32 on {where} when exported "
                    f"(limit {LIMITS.cost_db})")
    return ""


def select(model: ResolvedModel, *, backend: str = "auto", precision: str = "auto",
           size: tuple[int, int] | None = None, device: str | None = None, cache: TuneCache | None = None,
           refresh: bool = False, info: SystemInfo | None = None,
           progress: Callable[[str], None] | None = None, measure: bool = False) -> Selection:
    """Resolve ``auto`` for ``model`` on this machine (see the module docstring). With ``backend``
    and ``precision`` both given, that candidate is taken unmeasured, or with ``measure`` checked
    and timed (cached) like any other, so that its row carries its speed.

    Raises:
        RegistryError: an unknown backend name.
        ConfigError: ``device`` given to a backend that takes none.
        DependencyError: the backend asked for cannot run here (the message says what to install).
        ModelError: ``int8`` asked for a model without an int8 graph.
        BackendError: no candidate can run.
    """
    info = info or collect(microarchitecture=False)
    size = size or DEFAULT_SIZE
    if precision == "int8" and variant_path(model.path, "int8") is None:
        raise ModelError(f"model {model.spec.name} has no int8 variant beside {model.path} (expected "
                         f"{model.path.name.removesuffix('.onnx')}.int8.onnx); export one with sr-stream export --int8")
    if backend != "auto":
        b = backend_def(backend)
        available = b.probe(info)
        if not available.available:
            error = DependencyError if available.detail.startswith("missing") else BackendError
            raise error(f"the {b.name} backend ({b.title}) cannot run here: {available.detail}")
        if precision != "auto" and not measure:
            return Selection(Choice(backend, precision, "chosen with --backend and --precision",
                                    b.make_options(device)), (), size, True)
    gpu = _gpu_choice(model, info, backend, precision) if device is None else None
    if gpu is not None:
        return Selection(gpu, (), size, True)
    if backend != "auto" and not b.cpu_precisions(info):  # a reference or GPU backend: its first precision
        return Selection(Choice(backend, b.precisions[0], f"chosen with --backend; {b.precisions[0]}",
                                b.make_options(device)), (), size, True)
    pool = ([b for b in definitions() if b.cpu_precisions(info) and (device is None or b.device_field)]
            if backend == "auto" else [backend_def(backend)])
    cache = cache or TuneCache()
    rows: list[tuple[Row, BackendDef, Any]] = []
    untimed: list[tuple[Row, BackendDef, str, Any, str]] = []  # timed together below
    all_cached = True
    timed_here = False  # a number from the cache that this process measured (not "cached" in the header)
    busy_note = ""
    idle: list[bool] = []

    def busy() -> bool:  # read once, and only for a cached timing made while the machine was busy
        if not idle:
            idle.append(load_share() <= BUSY_LOAD_SHARE)
        return not idle[0]

    for b, p, options, note in _candidates(model, info, pool, precision, device):
        row = Row(b.name, p, note=note)
        rows.append((row, b, options))
        if note:
            continue
        key = _key(model, b, p, options, info)
        try:
            found = None if refresh else cache.get("accuracy", key)
            if found is None:
                all_cached = False
                if progress:
                    progress(f"checking {b.name} {p} against fp32")
                row.accuracy = _check(model, b, p, options)
                cache.put("accuracy", key, row.accuracy.to_dict())
            else:
                row.accuracy = Accuracy(**found)
            if not row.accuracy.ok:
                row.note = "not taken: " + "; ".join(row.accuracy.problems())
                continue
            speed_key = f"{key}|{size[0]}x{size[1]}"
            fps = None if refresh else cache.get("speed", speed_key)
            if fps is not None and cache.get("busy", speed_key) is not None and not busy():
                fps = None  # timed while the machine was busy; it is not now: timed again
            if fps is None:
                untimed.append((row, b, p, options, speed_key))
            else:
                row.fps = float(fps)
                timed_here |= speed_key in _TIMED_HERE
        except SRStreamError as exc:
            row.note = f"failed: {exc}"
    if untimed:
        all_cached = False
        if progress:
            progress(f"timing {', '.join(f'{b.name} {p}' for _, b, p, _, _ in untimed)} at {size[0]}x{size[1]}")
        share = load_share()
        timings = _time_together(model, [(b, p, options) for _, b, p, options, _ in untimed], size)
        for (row, _, _, _, speed_key), fps in zip(untimed, timings):
            if isinstance(fps, SRStreamError):
                row.note = f"failed: {fps}"
                continue
            cache.put("speed", speed_key, fps)
            cache.put("busy", speed_key, round(share, 2) if share > BUSY_LOAD_SHARE else None)
            _TIMED_HERE.add(speed_key)
            row.fps = fps
        if share > BUSY_LOAD_SHARE:
            busy_note = f"; timed while the machine was busy (load {share:.1f} a core): timed again when it is not"
    timed = [(row, b, o) for row, b, o in rows if row.fps]
    if not timed:
        why = "; ".join(f"{r.backend} {r.precision}: {r.note}" for r, _, _ in rows) or "no backend offers it"
        raise BackendError(f"no backend can run {model.name} as asked here ({why})")
    best_row, best_b, best_options = max(timed, key=lambda t: t[0].fps or 0.0)
    best_row.chosen = True
    others = ", ".join(f"{r.backend} {r.precision} {r.fps:.1f}" for r, _, _ in timed if r is not best_row)
    part = timing_size(size)[0]
    where = f"{size[0]}x{size[1]}" + (f" (on a {part[0]}x{part[1]} part)" if part != size else "")
    reason = (f"fastest correct of {len(timed)} measured at {where}: {best_row.fps:.1f} fps"
              + (f" (then {others})" if others else "") + (", cached" if all_cached and not timed_here else "")
              + busy_note)
    rejected = [f"{r.backend} {r.precision} {r.note}" for r, _, _ in rows if r.note.startswith("not taken")]
    if rejected:
        reason += "; " + "; ".join(rejected)
    return Selection(Choice(best_row.backend, best_row.precision, reason, best_options),
                     tuple(r for r, _, _ in rows), size, all_cached)


def _note(text: str) -> None:
    print(f"sr-stream: {text} (once per machine)...", file=sys.stderr, flush=True)


def choose(model: ResolvedModel, backend: str = "auto", precision: str = "auto", *,
           size: tuple[int, int] | None = None, device: str | None = None, verify: bool = True) -> Choice:
    """The :class:`Choice` commands open: :func:`select`'s, with a note on stderr (once) while
    measuring, and a warning when an explicitly asked INT8/bf16 candidate fails its check here."""
    selection = select(model, backend=backend, precision=precision, size=size, device=device,
                       progress=_note if os.isatty(2) else None)
    choice = selection.choice
    if verify and backend != "auto" and precision in ("int8", "bf16") and not selection.rows:
        b = backend_def(backend)
        try:
            cache = TuneCache()
            key = _key(model, b, precision, choice.options, collect(microarchitecture=False))
            found = cache.get("accuracy", key)
            accuracy = Accuracy(**found) if found else _check(model, b, precision, choice.options)
            cache.put("accuracy", key, accuracy.to_dict())
        except SRStreamError:
            return choice  # opening it will say what is wrong
        if not accuracy.ok:
            print(f"sr-stream: warning: {backend} {precision} " + "; ".join(accuracy.problems())
                  + " on this machine; --precision auto would not take it", file=sys.stderr)
    return choice


def expected_fps(model: ResolvedModel, backend: str = "auto", precision: str = "auto", *,
                 size: tuple[int, int] | None = None, device: str | None = None) -> float | None:
    """The speed (network alone) of what :func:`choose` will take for ``model`` at ``size`` on this
    machine, measured now or found in the cache (which :func:`choose` then reads); with ``backend``
    and ``precision`` both given, that one's. None on a GPU, or where nothing can run (opening it
    says why)."""
    try:
        selection = select(model, backend=backend, precision=precision, size=size, device=device,
                           progress=_note if os.isatty(2) else None, measure=True)
    except SRStreamError:
        return None
    return next((row.fps for row in selection.rows if row.chosen), None)


#: Live sources need this much more than their frame rate: capture, colour conversion, the
#: window and the encoder share the cores with the network (measured: realtime-x2 INT8 took 30 ms
#: a frame alone and 40 ms live on a 2-core CPU).
LIVE_HEADROOM = 1.25


@dataclass(frozen=True)
class TierChoice:
    model: ResolvedModel
    choice: Choice
    reason: str
    measured: tuple[tuple[str, float | None], ...]  # (tier, fps of its best correct candidate)


def pick_tier(scale: int, *, fps: float, size: tuple[int, int] | None = None, backend: str = "auto",
              precision: str = "auto", device: str | None = None, cache: TuneCache | None = None) -> TierChoice:
    """For a live source: the largest bundled tier of ``scale`` (:data:`~srstream.engine.models.TIERS`)
    whose fastest correct candidate holds ``fps`` x :data:`LIVE_HEADROOM` at ``size`` here; the
    smallest tier when none does. Unmeasured (GPU) choices count as holding it.

    Raises:
        ConfigError: no bundled tier for ``scale``.
    """
    from srstream.engine.models import TIERS, resolve_model
    from srstream.errors import ConfigError

    names = TIERS.get(scale, ())
    if not names:
        raise ConfigError(f"no bundled model tiers for x{scale}; pass --model")
    need = fps * LIVE_HEADROOM
    measured: list[tuple[str, float | None]] = []
    last: tuple[ResolvedModel, Choice] | None = None
    for name in reversed(names):  # the largest first
        model = resolve_model(name)
        selection = select(model, backend=backend, precision=precision, size=size, device=device, cache=cache)
        best = next((r.fps for r in selection.rows if r.chosen), None)
        measured.append((name, best))
        last = (model, selection.choice)
        if best is None or best >= need:
            break
    assert last is not None
    model, choice = last
    w, h = size or DEFAULT_SIZE
    table = ", ".join(f"{n} {f:.1f} fps" if f else f"{n} unmeasured" for n, f in measured)
    verdict = "holds" if measured[-1][1] is None or (measured[-1][1] or 0) >= need else "is the fastest tier but misses"
    reason = f"{model.name} {verdict} {fps:g} fps x {LIVE_HEADROOM} headroom at {w}x{h} here ({table})"
    return TierChoice(model, choice, reason, tuple(measured))
