"""Training data: HR image folders -> a decoded cache -> seeded (LR, HR) patch pairs.

Decoding large JPEGs on every step would starve two CPU cores, so :class:`ImageBank` decodes
every HR image once (downscaling anything larger than ``max_side`` with area averaging) into a
single uint8 file that is memory-mapped afterwards; the cache is keyed by the file list, sizes,
modification times and ``max_side``, and rebuilt when any of them changes.

:class:`PairDataset` makes sample ``i`` from ``numpy.random.default_rng((seed, i))`` alone: the
image (weighted by area), crop position, flips/rot90 and degradation parameters. Any worker
count, any resume point and any DDP rank therefore see exactly the same samples for the same
indices. LR is made with MATLAB-compatible bicubic on a crop with ``2 * scale`` pixels of
context on every side, so patch borders are downscaled like the interior of a full image. For
clean pairs (no degradations, clips or made content: the tiers' recipes) that is the same as
cutting the patch's LR from the whole image's, which :class:`_LowRes` makes once per image and
sampling phase and keeps beside the bank for later runs: the batches are the same (bit for bit
in the tests). On a 2-core Zen 3, tiny-x2-deep then trained at 4.8-5.4 it/s against 4.7 with
every crop downscaled on its own, after about 90 s making the LR images in the first run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from srstream.errors import InputError
from srstream.images import IMAGE_SUFFIXES, LUMA_BT601, list_images, load_rgb, read_image
from srstream.imresize import bicubic_degrade, imresize
from srstream.strength import from_qp as strength_from_qp
from srstream.trainer.content import choose as choose_content
from srstream.trainer.content import make_content
from srstream.trainer.degrade import Degradation
from srstream.trainer.recipe import ClipConfig, ContentConfig

__all__ = ["IMAGE_SUFFIXES", "ImageBank", "PairDataset", "list_images", "load_rgb", "prefetched", "read_image"]

@dataclass(frozen=True)
class _Entry:
    offset: int
    height: int
    width: int


class ImageBank:
    """All HR images decoded into one memory-mapped uint8 file.

    Args:
        folders: HR image folders.
        cache_dir: where ``bank-<key>.u8`` and its index are kept.
        max_side: images with a longer side are downscaled (INTER_AREA) to it.
        min_side: images smaller than this on either side are skipped.
    """

    def __init__(self, folders: Sequence[Path], cache_dir: Path, *, max_side: int = 2048, min_side: int = 16,
                 log: Callable[[str], None] | None = None) -> None:
        files = list_images([Path(f) for f in folders])
        stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        key = hashlib.sha256(json.dumps([stats, max_side, min_side]).encode()).hexdigest()[:16]
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f"bank-{key}.u8"
        index_path = cache_dir / f"bank-{key}.json"
        if not (self.path.is_file() and index_path.is_file()):
            if log:
                log(f"decoding {len(files)} training images into {self.path.parent} (once; later runs reuse it)")
            self._build(files, index_path, max_side, min_side, log)
        index = json.loads(index_path.read_text())
        self.entries = [_Entry(*row) for row in index["entries"]]
        self.sources = index["sources"]
        #: the files that did not decode (damaged, truncated, not images), left out
        self.unreadable: list[str] = index.get("unreadable", [])
        if self.unreadable and log:
            names = ", ".join(Path(p).name for p in self.unreadable[:5]) + (", ..." if len(self.unreadable) > 5 else "")
            log(f"{len(self.unreadable)} of {len(files)} files did not decode and are left out ({names})")
        self.data = np.memmap(self.path, dtype=np.uint8, mode="r")

    def _build(self, files: list[Path], index_path: Path, max_side: int, min_side: int,
               log: Callable[[str], None] | None = None) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        entries, sources, unreadable, offset = [], [], [], 0
        with open(tmp, "wb") as out:
            for n, path in enumerate(files, 1):
                if log and n % 100 == 0:
                    log(f"  {n}/{len(files)} images decoded")
                try:  # a scraped or downloaded set has a damaged file or two: left out, said, not the end
                    image = load_rgb(path)
                except InputError:
                    unreadable.append(str(path))
                    continue
                h, w = image.shape[:2]
                if min(h, w) < min_side:
                    continue
                if max(h, w) > max_side:
                    f = max_side / max(h, w)
                    image = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
                out.write(np.ascontiguousarray(image).tobytes())
                entries.append((offset, image.shape[0], image.shape[1]))
                sources.append(str(path))
                offset += image.size
        if not entries:
            tmp.unlink(missing_ok=True)
            if len(unreadable) == len(files):
                raise InputError(f"none of the {len(files)} training images decodes ({Path(unreadable[0]).name}, ...)")
            raise InputError(f"no training image is at least {min_side}x{min_side} pixels")
        # Both files appear atomically and the index last, so a half-built bank is never read,
        # even when several DDP ranks build the same bank at once.
        os.replace(tmp, self.path)
        tmp_index = index_path.with_suffix(f".tmp{os.getpid()}")
        tmp_index.write_text(json.dumps({"entries": entries, "sources": sources, "unreadable": unreadable}))
        os.replace(tmp_index, index_path)

    def __len__(self) -> int:
        return len(self.entries)

    def image(self, i: int) -> np.ndarray:
        e = self.entries[i]
        return self.data[e.offset:e.offset + e.height * e.width * 3].reshape(e.height, e.width, 3)

    @property
    def pixels(self) -> int:
        return sum(e.height * e.width for e in self.entries)


class _LowRes:
    """Every bank image's MATLAB-bicubic LR (uint8), once per sampling phase, made on first use.

    A crop whose top-left HR pixel is ``(y, x)`` downscales to rows ``(y - py) / s`` onwards of
    the LR of the image cut at ``(py, px) = (y % s, x % s)``: the same kernel weights on the same
    pixels as downscaling the crop with its context (``PairDataset.context`` covers the kernel),
    so the patch's LR is that crop of the cached image, bar float rounding of the sums (a value
    within 1e-12 of a half level can round the other way).

    With ``folder`` (beside the bank's file), each LR image is also kept there as ``.npy`` and
    memory-mapped by later runs, resumes and forked data workers, so only the first run on a bank
    pays for making them and they take the bank's size again on disk (489 MB for the 534 training
    images at x2), not in every process. On a 2-core Zen 3 (one thread), tiny-x2-deeper's first
    100 batches took 104 s to make in a first run and 1.8 s in a later one; 2,000 took 137 s and 24 s. Files
    appear atomically (written aside, then renamed), so concurrent writers are safe; where the
    folder cannot be written the images stay in memory. Thread-safe: two threads may make the same
    image at once; either result is kept.
    """

    #: bump when ``bicubic_degrade``'s output changes, so stale files are not read
    VERSION = 1

    def __init__(self, bank: ImageBank, scale: int, folder: Path | None = None) -> None:
        self.bank, self.scale, self.folder = bank, scale, folder
        self.made: dict[tuple[int, int, int], np.ndarray] = {}

    @classmethod
    def beside(cls, bank: ImageBank, scale: int) -> _LowRes:
        """Kept in ``bank-<key>-lowres-v<N>-x<scale>/`` next to the bank's file."""
        path = getattr(bank, "path", None)
        folder = path.with_name(f"{path.stem}-lowres-v{cls.VERSION}-x{scale}") if path is not None else None
        return cls(bank, scale, folder)

    def crop(self, which: int, y: int, x: int, size: int) -> np.ndarray:
        """The ``size`` x ``size`` LR of the HR crop at ``(y, x)`` (``size * scale`` HR pixels)."""
        s = self.scale
        py, px = y % s, x % s
        lr = self.made.get((which, py, px))
        if lr is None:
            lr = self.made[which, py, px] = self._load_or_make(which, py, px)
        return lr[(y - py) // s:(y - py) // s + size, (x - px) // s:(x - px) // s + size]

    def _load_or_make(self, which: int, py: int, px: int) -> np.ndarray:
        path = self.folder / f"{which}-{py}-{px}.npy" if self.folder is not None else None
        if path is not None and path.is_file():
            try:
                return np.load(path, mmap_mode="r")
            except (OSError, ValueError):  # unreadable: make it again (and replace it below)
                pass
        lr = bicubic_degrade(self.bank.image(which)[py:, px:], self.scale)  # cropped to a multiple of s
        if path is not None:
            tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}-{threading.get_ident()}.npy")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(tmp, lr)
                os.replace(tmp, path)
            except OSError:  # read-only, full or not a folder: this run keeps it in memory
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
        return lr


class PairDataset:
    """Seeded (LR, HR) float32 CHW patch pairs in [0, 1], and the teacher's target when given.

    Args:
        bank: the HR images.
        scale: the SR factor. patch: HR patch size (multiple of ``scale``).
        channels: 3 (RGB) or 1 (BT.601 luma, full range, as :class:`CompactYNet` sees it).
        flips / rot90: augmentations. degradations: steps applied in order (blur on HR).
        channel_order: the probability that a sample's colour channels are put in a random order
            (the same for all its crops, with the flips and turns, before any degradation): a luma
            net then sees another grey rendering of the same scene (its blue, say, weighted as
            green usually is).
        seed: the run's seed; sample ``i`` depends on ``(seed, i)`` only.
        teacher: images laid out like ``bank`` (a :class:`~srstream.trainer.distill.TeacherBank`):
            each sample then also carries the same crop of the teacher's image, flipped alike.
        clips: samples are then two consecutive frames of a moving clip (see
            :class:`~srstream.trainer.recipe.ClipConfig`), as ``(2, C, h, w)`` LR and HR arrays.
        strength: each sample also carries its compression strength (:mod:`srstream.strength`,
            from the quantiser the H.264 decoder saw; 0 when no H.264 step ran), as a float32
            ``(1,)`` array (``(2,)`` for a clip's pair), last in the tuple.
        content: video-like content kinds (:mod:`~srstream.trainer.content`): a sample drawn to
            be one has its HR region (every frame's window, for clips) made into it before the
            crops are taken, from a generator of its own, so the other draws stay as without.
    """

    def __init__(self, bank: ImageBank, *, scale: int, patch: int, channels: int = 3, flips: bool = True,
                 rot90: bool = True, degradations: Sequence[Degradation] = (), seed: int = 0,
                 teacher: object | None = None, clips: ClipConfig | None = None, strength: bool = False,
                 content: Sequence[ContentConfig] = (), channel_order: float = 0.0) -> None:
        if patch % scale:
            raise ValueError(f"patch {patch} is not a multiple of scale {scale}")
        if clips is not None and teacher is not None:
            raise ValueError("clips and a teacher cannot be combined")
        if content and teacher is not None:
            raise ValueError("content and a teacher cannot be combined")
        if channel_order and teacher is not None:  # the teacher saw the image's own channel order
            raise ValueError("channel_order and a teacher cannot be combined")
        if not 0.0 <= channel_order <= 1.0:
            raise ValueError(f"channel_order is a probability, got {channel_order}")
        self.channel_order = channel_order
        self.bank, self.scale, self.patch, self.channels, self.teacher = bank, scale, patch, channels, teacher
        self.flips, self.rot90, self.degradations, self.seed = flips, rot90, list(degradations), seed
        self.clips, self.strength, self.content = clips, strength, tuple(content)
        self.context = 2 * scale
        need = patch + 2 * self.context + (clips.motion * (clips.frames - 1) if clips is not None else 0)
        usable = [(i, e) for i, e in enumerate(bank.entries) if e.height >= need and e.width >= need]
        if not usable:
            raise InputError(f"no training image is at least {need}x{need} pixels for patch {patch}")
        self.images = np.array([i for i, _ in usable])
        # clean bicubic pairs (the tiers' recipes): each image's LR is made once, not per crop
        plain = clips is None and not self.degradations and not self.content
        self.low_res = _LowRes.beside(bank, scale) if plain else None
        weights = np.array([(e.height - need + 1) * (e.width - need + 1) for _, e in usable], np.float64)
        self.cumulative = np.cumsum(weights / weights.sum())

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng((self.seed, int(index)))
        which = int(self.images[min(np.searchsorted(self.cumulative, rng.random()), len(self.images) - 1)])
        image = self.bank.image(which)
        kind, content_rng = None, None
        if self.content:  # a generator of its own, so every other draw stays as without content
            content_rng = np.random.default_rng((self.seed, int(index), 1))
            kind = choose_content(self.content, content_rng)
        if self.clips is not None:
            return self._clip(rng, image, kind, content_rng)
        c, s = self.context, self.scale
        size = self.patch + 2 * c
        # with a teacher, crops start on the LR grid (multiples of the scale), so the patch's LR is
        # exactly that region of the whole image's LR, which the teacher upscaled
        step = s if self.teacher is not None else 1
        y = step * int(rng.integers(0, (image.shape[0] - size) // step + 1))
        x = step * int(rng.integers(0, (image.shape[1] - size) // step + 1))
        crops = [image[y:y + size, x:x + size]]
        if kind is not None:
            assert content_rng is not None
            crops = [make_content(kind, crops[0], content_rng)]
        if self.teacher is not None:
            crops.append(self.teacher.image(which)[y:y + size, x:x + size])  # type: ignore[attr-defined]
        if self.low_res is not None:  # the patch's LR, cut from its image's (flipped and turned with it)
            crops.append(self.low_res.crop(which, y + c, x + c, self.patch // s))
        crops = self._augment(rng, crops)
        crop = np.ascontiguousarray(crops[0])
        qps: list[float] = []
        if self.low_res is not None:
            lr, hr = np.ascontiguousarray(crops.pop()), crop[c:-c, c:-c]
        else:
            (lr,) = self._degrade(rng, [crop], clip=False, qps=qps)
            m = c // s
            lr, hr = lr[m:-m, m:-m], crop[c:-c, c:-c]
        out = (self._tensor(lr), self._tensor(hr))
        if self.teacher is not None:
            out += (self._tensor(crops[1][c:-c, c:-c]),)
        return out + (self._strength(qps, 1),) if self.strength else out

    def _clip(self, rng: np.random.Generator, image: np.ndarray, kind: str | None = None,
              content_rng: np.random.Generator | None = None) -> tuple[np.ndarray, ...]:
        """Two consecutive frames: ``(2, C, h, w)`` LR and ``(2, C, H, W)`` HR (see ``clips``);
        ``kind``: the content the whole region the window travels over is made into first."""
        assert self.clips is not None
        frames, c, s = self.clips.frames, self.context, self.scale
        size = self.patch + 2 * c
        still = rng.random() < self.clips.still
        velocity = np.zeros(2, int) if still else rng.integers(-self.clips.motion, self.clips.motion + 1, 2)
        travel = np.abs(velocity) * (frames - 1)
        # the first frame's corner, so that every frame's window lies inside the image
        start = [int(rng.integers(0, image.shape[k] - size - travel[k] + 1)) + (travel[k] if velocity[k] < 0 else 0)
                 for k in (0, 1)]
        if kind is not None:
            assert content_rng is not None
            top = [start[k] - (travel[k] if velocity[k] < 0 else 0) for k in (0, 1)]
            region = image[top[0]:top[0] + size + travel[0], top[1]:top[1] + size + travel[1]]
            image, start = make_content(kind, region, content_rng), [start[k] - top[k] for k in (0, 1)]
        crops = [image[start[0] + t * velocity[0]:start[0] + t * velocity[0] + size,
                       start[1] + t * velocity[1]:start[1] + t * velocity[1] + size] for t in range(frames)]
        crops = self._augment(rng, crops)
        qps: list[float] = []
        lr = self._degrade(rng, [np.ascontiguousarray(a) for a in crops], clip=True, qps=qps)
        m = c // s
        pair_lr = np.stack([self._tensor(a[m:-m, m:-m]) for a in lr[-2:]])
        pair_hr = np.stack([self._tensor(np.ascontiguousarray(a[c:-c, c:-c])) for a in crops[-2:]])
        return (pair_lr, pair_hr, self._strength(qps, 2)) if self.strength else (pair_lr, pair_hr)

    @staticmethod
    def _strength(qps: list[float], frames: int) -> np.ndarray:
        """The strength of a sample whose H.264 steps saw ``qps`` (the largest; none: clean, 0)."""
        return np.full(frames, strength_from_qp(max(qps)) if qps else 0.0, np.float32)

    def _augment(self, rng: np.random.Generator, crops: list[np.ndarray]) -> list[np.ndarray]:
        """The same random flips and 90-degree turn on every crop (views, no copies), and channel
        order (``channel_order``; drawn only where it is on, so that other runs draw as before)."""
        if self.channel_order and rng.random() < self.channel_order:
            order = rng.permutation(3)
            crops = [a[..., order] for a in crops]
        if self.flips and rng.random() < 0.5:
            crops = [a[:, ::-1] for a in crops]
        if self.flips and rng.random() < 0.5:
            crops = [a[::-1] for a in crops]
        if self.rot90 and rng.random() < 0.5:
            crops = [a.transpose(1, 0, 2) for a in crops]
        return crops

    def _degrade(self, rng: np.random.Generator, frames: list[np.ndarray], *, clip: bool,
                 qps: list[float] | None = None) -> list[np.ndarray]:
        """The uint8 LR of each HR frame: HR-stage degradations, MATLAB-bicubic downscale, then
        the LR-stage ones, with one draw of parameters for all. ``clip``: the frames are one clip
        (:meth:`~srstream.trainer.degrade.Degradation.apply_clip`), else one picture. ``qps``:
        where H.264 steps append the quantiser they saw."""
        params = [step.make_params(rng) for step in self.degradations]
        noise_seed = int(rng.integers(0, 2**31))

        def run(stage: str, images: list[np.ndarray]) -> list[np.ndarray]:
            for step, p in zip(self.degradations, params):
                if step.stage == stage:
                    images = (step.apply_clip(images, p, noise_seed, qps) if clip
                              else [step.apply(images[0], p, noise_seed, qps)])
            return images

        hr = run("hr", frames)
        return run("lr", [np.floor(np.clip(imresize(a, 1 / self.scale), 0, 255) + 0.5).astype(np.uint8) for a in hr])

    def _tensor(self, image: np.ndarray) -> np.ndarray:
        x = image.astype(np.float32) / 255.0
        if self.channels == 1:
            x = x @ np.array(LUMA_BT601, np.float32)
            return x[None]
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def batch(self, step: int, batch: int, *, rank: int = 0, world: int = 1) -> tuple[np.ndarray, ...]:
        """The samples of global ``step`` that belong to DDP ``rank`` (the batch is per rank):
        ``(lr, hr)``, or ``(lr, hr, teacher)`` with a teacher, then the ``(batch,)`` strengths
        when asked for. With ``clips``, ``batch`` pairs as ``2 * batch`` frames, each pair's two
        frames next to each other."""
        first = (step * world + rank) * batch
        samples = [self[first + j] for j in range(batch)]
        stacked = (np.stack([sample[k] for sample in samples]) for k in range(len(samples[0])))
        if self.clips is not None:
            return tuple(a.reshape(-1, *a.shape[2:]) for a in stacked)
        return tuple(stacked)


_WORKER_FETCH: Callable[[int], tuple[np.ndarray, ...]] | None = None  # set before the worker processes fork


def _fetch_in_worker(step: int) -> tuple[np.ndarray, ...]:
    assert _WORKER_FETCH is not None
    return _WORKER_FETCH(step)


def prefetched(fetch: Callable[[int], tuple[np.ndarray, ...]], start: int, total: int, *, workers: int = 0,
               log: Callable[[str], None] | None = None) -> Iterator[tuple[Any, ...]]:
    """``fetch(step)`` for steps ``start`` to ``total - 1`` as CPU torch tensors, each batch made
    ahead of the step that uses it; close the iterator to stop the helpers early.

    ``workers == 0``: one thread makes the next batch while this one trains (numpy and torch
    release the GIL in their heavy parts). ``workers > 0``: that many forked processes make the
    next ``2 * workers`` batches (for a GPU, which one thread cannot keep fed). They inherit
    ``fetch`` with its memory-mapped image and teacher caches instead of receiving it pickled, so
    only step numbers go out and finished batches come back. (Not torch's DataLoader: the SIGCHLD
    handler it leaves installed in the parent crashed a later subprocess call in the test run.)
    A batch depends only on its step, so every ``workers`` gives the same batches in the same order.
    Where processes cannot be forked, ``log`` is told and the one thread is used.
    """
    import torch

    global _WORKER_FETCH
    if workers and "fork" not in multiprocessing.get_all_start_methods():
        if log:
            log(f"data.workers: {workers} needs fork-started processes, which this platform lacks; "
                "making batches in one thread")
        workers = 0
    pool: Executor
    if workers:
        _WORKER_FETCH = fetch
        pool, run, ahead = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")),
                            _fetch_in_worker, 2 * workers)
    else:
        pool, run, ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srstream-data"), fetch, 1
    try:
        pending = deque(pool.submit(run, step) for step in range(start, min(start + ahead, total)))
        for step in range(start, total):
            arrays = pending.popleft().result()
            if step + ahead < total:
                pending.append(pool.submit(run, step + ahead))
            yield tuple(torch.from_numpy(a) for a in arrays)
    finally:
        pool.shutdown(cancel_futures=True)
        _WORKER_FETCH = None
