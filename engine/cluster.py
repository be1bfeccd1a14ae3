"""A job's segments as Ray tasks: ``--workers N`` on a local Ray instance, ``--ray-address`` on a cluster.

Ray (``pip install 'sr-stream[cluster]'``) does the scheduling, the retries and the cluster; this
module only says what a task is. A task opens the same model with the same backend and
precision that the driver chose (the model's files travel with the task, so nodes need
sr-stream but not its models), with its share of the cores as threads, upscales one segment
(:meth:`srstream.engine.api.Upscaler.segment`) and hands it back:

* written straight into the job folder when the node sees it at the same path (a shared
  filesystem, or the same machine): a marker file with a token of this run tells;
* otherwise returned as bytes through Ray's object store, and written by the driver.

The input must be readable at the same path on every node (checked by its identity, size and
sampled hash: a different file at that path is refused). At most ``workers`` tasks run at a
time; a task whose worker process or node dies is retried (``max_retries``); a task that fails
with an error of ours (a corrupt input, a full disk) is not, since it would fail the same way.
Frames done are summed over the workers by a small actor and reported to the driver's progress
bar, so its rate and ETA cover all of them. Ctrl-C cancels the tasks in flight; finished
segments stay in the manifest (:mod:`srstream.engine.jobs`).

Security: whoever can reach a Ray cluster's ports can run code on it unless its token
authentication is on (CVE-2023-48022, "ShadowRay"). The local instance starts with no dashboard
and with Ray's token authentication (on by default in the Ray versions sr-stream[cluster] takes;
this module refuses to start a local instance with it switched off). Ray 2.60 binds its services
to all of the machine's addresses, not to loopback only (measured with ``ss -ltnp``; it resolves
127.0.0.1 to the node's address), so keep such machines on a trusted network or firewalled.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srstream.atomic import write_atomic
from srstream.errors import ConfigError, DependencyError, InputError, SRStreamError

__all__ = ["RayRunner", "WorkerPlan"]

_MARKER = ".ray-run"
#: Retries of a task whose worker process or node died (not of one that raised our errors).
MAX_RETRIES = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DependencyError("--workers and --ray-address run on Ray, which is not installed: "
                              "pip install 'sr-stream[cluster]'") from None
    return ray


@contextmanager
def _ascii_ray_temp() -> Iterator[None]:
    """A local Ray instance keeps its sockets, logs and objects under ``RAY_TMPDIR``, else ``TMPDIR``,
    else ``/tmp``, and fails to start (``UnicodeEncodeError`` in its core worker, Ray 2.60) when that
    path is not ASCII: a ``TMPDIR`` under a home folder named in another script broke every
    ``--workers`` run. Such a ``TMPDIR`` is passed over for ``/tmp`` while the instance starts; a
    ``RAY_TMPDIR`` that is not ASCII, or no writable ``/tmp``, is refused with what to set."""
    chosen, tmp = os.environ.get("RAY_TMPDIR"), os.environ.get("TMPDIR", "/tmp")
    if chosen is not None and not chosen.isascii():
        raise ConfigError(f"RAY_TMPDIR={chosen}: Ray cannot keep its files under a path that is not ASCII; "
                          "point RAY_TMPDIR at another folder")
    if chosen is not None or tmp.isascii():
        yield
        return
    if not (os.path.isdir("/tmp") and os.access("/tmp", os.W_OK)):
        raise ConfigError(f"TMPDIR={tmp}: Ray cannot keep its files under a path that is not ASCII, and /tmp is "
                          "not writable; set RAY_TMPDIR to a writable folder whose path is ASCII")
    os.environ["RAY_TMPDIR"] = "/tmp"
    try:
        yield
    finally:
        os.environ.pop("RAY_TMPDIR", None)


@dataclass(frozen=True)
class WorkerPlan:
    """What a task needs to open the upscaler the driver chose."""

    model_name: str  # the ONNX file's name among ``files``
    files: tuple[str, ...]  # the model's files (graph and its variants), sent by value
    backend: str
    precision: str
    tile: str
    ensemble: bool
    stabilize: float
    threads: int
    stabilize_tolerance: float | None = None
    change_cap: float = 0.0
    stabilize_still: float = 0.0
    output: tuple[float | None, int | None] | None = None  # an OutputSize's (scale, height), when resized
    deinterlace: str = "auto"
    reuse: bool = True


def _model_files(path: Path) -> list[Path]:
    """The graph and its variants beside it (``NAME.int8.onnx``, ``NAME.fp16.onnx``, ``.safetensors``)."""
    stem = path.name.removesuffix(".onnx")
    return [p for p in (path, *(path.with_name(f"{stem}{ext}") for ext in (".int8.onnx", ".fp16.onnx", ".safetensors")))
            if p.is_file()]


# -- on a worker ------------------------------------------------------------------------------
_opened: dict[tuple[Any, ...], Any] = {}  # a worker process keeps its upscaler from task to task


def _open(plan: WorkerPlan, blobs: list[bytes]) -> Any:
    import hashlib

    from srstream.engine.api import Upscaler
    from srstream.engine.upscaler import OutputSize

    digest = hashlib.sha256(b"".join(blobs)).hexdigest()[:16]
    key = (plan, digest)
    if key not in _opened:
        folder = Path(tempfile.gettempdir()) / f"srstream-ray-models-{os.getuid()}" / digest
        folder.mkdir(parents=True, exist_ok=True)
        for name, blob in zip(plan.files, blobs, strict=True):
            if not (folder / name).is_file():
                write_atomic(folder / name, blob)
        tile: int | str = int(plan.tile) if plan.tile.isdigit() else plan.tile
        _opened.clear()  # one model per worker process
        _opened[key] = Upscaler(str(folder / plan.model_name), backend=plan.backend, precision=plan.precision,
                                tile=tile, ensemble=plan.ensemble, stabilize=plan.stabilize,
                                stabilize_tolerance=plan.stabilize_tolerance, threads=plan.threads,
                                change_cap=plan.change_cap, stabilize_still=plan.stabilize_still,
                                output=OutputSize(*plan.output) if plan.output else None, deinterlace=plan.deinterlace,
                                reuse=plan.reuse)
    return _opened[key]


def _node() -> str:
    """This Ray node's id (the host name outside Ray). Outside Ray, asking Ray for its runtime
    context would start a whole local instance (Ray's auto-init) just to answer."""
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - no usable Ray here
        pass
    return socket.gethostname()


class _Reporter:
    """A worker's frames, sent to the progress actor at most twice a second."""

    def __init__(self, actor: Any) -> None:
        self.actor, self.pending, self.sent = actor, 0, time.monotonic()

    def __call__(self, frames: int) -> None:
        self.pending += frames
        if time.monotonic() - self.sent > 0.5:
            self.flush()

    def flush(self) -> None:
        if self.pending and self.actor is not None:
            self.actor.add.remote(self.pending)
        self.pending, self.sent = 0, time.monotonic()


def segment_task(plan: WorkerPlan, blobs: list[bytes], src: str, identity: dict[str, Any], target: str, token: str,
                 span: tuple[int | None, int | None], encode: Any, actor: Any,
                 start: float | None = None) -> tuple[int, bytes | None, str]:
    """One segment on a worker: ``(frames, the file's bytes unless written in place, node)``;
    ``start``: the job's ``--start``, see :meth:`srstream.engine.api.Upscaler.segment`."""
    from srstream.engine.jobs import input_identity

    node = _node()
    source = Path(src)
    if not source.is_file() or input_identity(source) != identity:
        raise InputError(f"{src} is not the job's input on node {node}: every node must read the input at the same "
                         "path (a shared filesystem)")
    out = Path(target)
    marker = out.parent / _MARKER
    in_place = marker.is_file() and marker.read_text() == token
    scratch = None
    if not in_place:
        scratch = Path(tempfile.mkdtemp(prefix="srstream-segment-"))
        out = scratch / out.name
    report = _Reporter(actor)
    try:
        frames = _open(plan, blobs).segment(source, out, span, encode, report, start)
        report.flush()
        return frames, (None if in_place else out.read_bytes()), node
    finally:
        if scratch is not None:
            for p in scratch.iterdir():
                p.unlink()
            scratch.rmdir()


class _Progress:
    """Frames done, summed over the workers (a Ray actor)."""

    def __init__(self) -> None:
        self.frames = 0

    def add(self, frames: int) -> None:
        self.frames += frames

    def take(self) -> int:
        frames, self.frames = self.frames, 0
        return frames


# -- on the driver ----------------------------------------------------------------------------
class RayRunner:
    """Runs a job's segments on Ray (the ``run_segments`` of :func:`srstream.engine.jobs.run_job`).

    Args:
        upscaler: the driver's :class:`~srstream.engine.api.Upscaler`: its model, backend,
            precision, tiling, ensemble and stabiliser are what the workers open.
        src: the input video. encode: the segments' encoder settings.
        workers: tasks at a time (0 with an address: one per 2 CPUs of the cluster).
        address: an existing cluster (``HOST:PORT``, ``auto``); None: start a local instance
            with this machine's usable cores, and stop it when done.
        progress: told the frames done, summed over the workers.
        start: the job's ``--start`` (seconds; None: none), which each segment is told.

    Raises:
        DependencyError: Ray is not installed. ConfigError: the cluster cannot be reached, or
            token authentication is switched off for a local instance.
    """

    def __init__(self, upscaler: Any, src: Path, encode: Any, *, workers: int = 0, address: str | None = None,
                 progress: Callable[[int], None] | None = None, start: float | None = None) -> None:
        self.ray = ray = _ray()
        self.src, self.encode, self.progress, self.start = Path(src).resolve(), encode, progress, start
        self.local = address is None
        if self.local and os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
            raise ConfigError("RAY_AUTH_MODE=disabled: sr-stream starts its local Ray instance only with Ray's token "
                              "authentication on; unset RAY_AUTH_MODE")
        cores = len(os.sched_getaffinity(0))
        try:
            if self.local:
                with _ascii_ray_temp():
                    ray.init(address="local", num_cpus=cores, include_dashboard=False, configure_logging=False,
                             log_to_driver=False, object_store_memory=256 << 20)
            else:
                ray.init(address=address, configure_logging=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            what = "start a local Ray instance" if self.local else f"reach the Ray cluster at {address}"
            hint = ""
            if isinstance(exc, UnicodeEncodeError):
                hint = ("; Ray cannot keep its files under a path that is not ASCII: start every node with RAY_TMPDIR "
                        "set to a folder whose path is ASCII")
            elif "auth" in repr(exc.__cause__).lower() or "auth" in str(exc).lower():
                hint = ("; the cluster uses token authentication: set RAY_AUTH_MODE=token and give its token "
                        "(RAY_AUTH_TOKEN, or the file ~/.ray/auth_token copied from the head node)")
            raise ConfigError(f"cannot {what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                              f"{hint}") from exc
        total = int(ray.cluster_resources().get("CPU", cores))
        self.workers = workers or max(1, total // 2)
        self.threads = max(1, (cores if self.local else total) // self.workers)  # each worker's share
        resolved = upscaler.resolved
        files = _model_files(resolved.path)
        frames = upscaler.frame_upscaler
        stabilizer = getattr(frames, "stabilizer", None)
        cap = getattr(frames, "change_cap", None)
        self.plan = WorkerPlan(resolved.path.name, tuple(p.name for p in files), upscaler.backend, upscaler.precision,
                               str(frames.tile), bool(frames.ensemble), stabilizer.strength if stabilizer else 0.0,
                               self.threads, stabilizer.tolerance if stabilizer else None, cap.gain if cap else 0.0,
                               stabilizer.still if stabilizer else 0.0,
                               (upscaler.output.scale, upscaler.output.height) if upscaler.output else None,
                               upscaler.deinterlace, frames.reuse_stats is not None)
        self.blobs = ray.put([p.read_bytes() for p in files])
        self.token = secrets.token_hex(16)
        self.task = ray.remote(segment_task).options(num_cpus=min(self.threads, max(total, 1)),
                                                     max_retries=MAX_RETRIES, retry_exceptions=False)
        self.actor = ray.remote(_Progress).options(num_cpus=0).remote()
        self.nodes: dict[str, int] = {}  # segments done per Ray node

    def describe(self) -> str:
        where = "a local Ray instance" if self.local else "the Ray cluster"
        return f"{self.workers} workers on {where}, {self.threads} thread{'s' if self.threads > 1 else ''} each"

    def __call__(self, todo: list[tuple[Path, Any]]) -> Iterator[tuple[Any, int]]:
        from srstream.engine.jobs import input_identity

        ray = self.ray
        if todo:
            write_atomic(todo[0][0].parent / _MARKER, self.token.encode())
        identity = input_identity(self.src)
        queue = list(todo)
        running: dict[Any, tuple[Path, Any]] = {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    path, seg = queue.pop(0)
                    ref = self.task.remote(self.plan, self.blobs, str(self.src), identity, str(path), self.token,
                                           (seg.start, seg.end), self.encode, self.actor, self.start)
                    running[ref] = (path, seg)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                self._report()
                for ref in ready:
                    path, seg = running.pop(ref)
                    frames, blob, node = self._result(ref, seg)
                    self.nodes[node] = self.nodes.get(node, 0) + 1
                    if blob is not None:
                        write_atomic(path, blob)
                    yield seg, frames
            self._report()
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def _report(self) -> None:
        if self.progress is not None:
            frames = self.ray.get(self.actor.take.remote())
            if frames:
                self.progress(frames)

    def _result(self, ref: Any, seg: Any) -> tuple[int, bytes | None, str]:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, (SRStreamError, KeyboardInterrupt)):
                raise cause from None
            raise SRStreamError(f"segment {seg.index + 1} failed on a Ray worker: {str(exc).strip()[-500:]}") from None
        except ray.exceptions.RayError as exc:
            raise SRStreamError(f"segment {seg.index + 1} failed on Ray after {MAX_RETRIES} retries: "
                                f"{type(exc).__name__}: {str(exc).strip()[:300]}") from None

    def close(self) -> None:
        """Disconnect (and stop the local instance)."""
        if self.ray.is_initialized():
            self.ray.shutdown()
