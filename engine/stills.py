"""Images, folders and globs: read in their own bit depth and channels, written in the same format.

8- and 16-bit PNG/TIFF, JPEG, WebP, BMP; grey, RGB and RGBA (alpha upscaled separately). Each
output is written to an exclusive hidden temporary file under a lock and renamed
(:class:`srstream.atomic.PendingOutput`); a folder run keeps going past a bad image and lists the
failures in its summary (and exits non-zero). Before any work, every planned output is checked
against every input, however the input was named (folder, glob, symlink): a run never writes
over its own inputs.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from srstream.atomic import PendingOutput
from srstream.engine.upscaler import FrameUpscaler
from srstream.errors import InputError, OutputError
from srstream.images import IMAGE_SUFFIXES

__all__ = ["BatchReport", "check_not_inputs", "expand_inputs", "is_glob", "read_still", "upscale_folder", "upscale_image",
           "write_still"]

_EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".webp", ".bmp")


def is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_inputs(path: Path) -> list[Path]:
    """The images of a folder (sorted, not recursive) or of a glob pattern.

    Raises:
        InputError: nothing matches.
    """
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    else:
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) match {path}")
    return files


def read_still(path: Path) -> np.ndarray:
    """``(H, W, C)`` RGB(A) or grey, uint8 or uint16, as stored.

    Raises:
        InputError: unreadable, or an unsupported sample type (e.g. float TIFF).
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(f"{path} is not a readable image (empty, truncated or not really {path.suffix})")
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: {image.dtype} samples are not supported; convert to 8- or 16-bit")
    if image.ndim == 2:
        return image[:, :, None]
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    raise InputError(f"{path}: {image.shape[2]} channels are not supported")


def write_still(path: Path, image: np.ndarray, *, png_compression: int | None = None) -> None:
    """Write atomically (temporary file + rename), in the format ``path``'s extension names.
    ``png_compression`` (0-9) overrides OpenCV's default zlib level for PNG files.

    Raises:
        OutputError: the encoder refuses, or the disk is full / the folder not writable.
    """
    if image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    if image.dtype == np.uint16 and path.suffix.lower() in _EIGHT_BIT_ONLY:
        image = (image / 257.0 + 0.5).astype(np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if png_compression is not None and path.suffix.lower() == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
    ok, data = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise OutputError(f"cannot encode {path.name} as {path.suffix}")
    with PendingOutput(path) as pending:
        try:
            pending.tmp.write_bytes(data.tobytes())
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}; check the folder and free space") from exc
        pending.commit()


def upscale_image(src: Path, dst: Path, upscaler: FrameUpscaler) -> tuple[int, int]:
    """Upscale one image file; returns the output ``(width, height)``."""
    out = upscaler.upscale(read_still(src))
    write_still(dst, out)
    return out.shape[1], out.shape[0]


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    """``(real path, (device, inode))`` of ``path``; the inode part is None when it does not exist."""
    try:
        st = os.stat(path)
        return os.path.realpath(path), (st.st_dev, st.st_ino)
    except OSError:
        return os.path.realpath(path), None


def check_not_inputs(outputs: list[Path], inputs: list[Path]) -> None:
    """Refuse a run whose outputs include any of its inputs (same real path, or the same file
    through a hard or symbolic link).

    Raises:
        OutputError: naming the first clash and what to do.
    """
    by_path, by_inode = {}, {}
    for src in inputs:
        real, inode = _identity(src)
        by_path[real] = src
        if inode is not None:
            by_inode[inode] = src
    for dst in outputs:
        real, inode = _identity(dst)
        src = by_path.get(real) or (by_inode.get(inode) if inode is not None else None)
        if src is not None:
            raise OutputError(f"output {dst} would replace the input {src}; choose an -o folder that holds none of "
                              "the inputs")


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


def upscale_folder(files: list[Path], out_dir: Path, upscaler: FrameUpscaler, *, overwrite: bool = False,
                   progress: Callable[[int], None] | None = None) -> BatchReport:
    """Upscale ``files`` into ``out_dir`` (same names). Existing outputs are skipped unless
    ``overwrite``; a bad image is recorded and the batch goes on; Ctrl-C stops after the current
    image (finished images stay)."""
    report = BatchReport()
    start = time.perf_counter()
    names: dict[str, Path] = {}
    for src in files:  # a glob over several folders can name two inputs alike
        if src.name in names:
            raise OutputError(f"{names[src.name]} and {src} would both be written to {out_dir / src.name}; "
                              "upscale the folders one at a time")
        names[src.name] = src
    check_not_inputs([out_dir / src.name for src in files], files)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    try:
        for src in files:
            dst = out_dir / src.name
            if dst.exists() and not overwrite:
                report.skipped.append(src)
            else:
                try:
                    upscale_image(src, dst, upscaler)
                    report.done.append(src)
                except (InputError, OutputError) as exc:
                    if isinstance(exc, OutputError) and isinstance(exc.__cause__, OSError):  # disk or folder: all would fail
                        raise
                    report.failed.append((src, str(exc)))
            if progress:
                progress(1)
    except KeyboardInterrupt:
        report.interrupted = True
    report.seconds = time.perf_counter() - start
    return report
