"""Reading images and listing image folders (torch-free; shared by the trainer, export and the engine)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from srstream.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "LUMA_BT601", "list_images", "load_rgb", "read_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: BT.601 luma weights (R, G, B): the grey level of colour images and the Y of the luma models.
LUMA_BT601 = (0.299, 0.587, 0.114)


def list_images(folders: Sequence[Path]) -> list[Path]:
    """Image files under ``folders`` (recursively), sorted for reproducibility.

    Raises:
        InputError: a folder is missing, or no images were found.
    """
    files: list[Path] = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise InputError(f"data folder {folder} does not exist")
        files += [p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {', '.join(map(str, folders))}")
    return sorted(files)


def read_image(path: Path) -> np.ndarray:
    """A uint8 image as stored: ``(H, W)`` for grayscale files, else RGB ``(H, W, 3)``
    (alpha dropped, 16-bit reduced to 8)."""
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path} is not a readable image")
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        image = image[:, :, :3]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_rgb(path: Path) -> np.ndarray:
    """A uint8 RGB ``(H, W, 3)`` image; grayscale files are expanded to three equal channels."""
    image = read_image(path)
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image


