"""Images, folders and globs: read in their own bit depth and channels, written in the same format.

8- and 16-bit PNG/TIFF, JPEG, WebP, BMP; grey, RGB and RGBA (alpha upscaled separately). Each
output is written to an exclusive hidden temporary file under a lock and renamed
(:class:`srstream.atomic.PendingOutput`); a folder run keeps going past a bad image and lists the
failures in its summary (and exits non-zero). Before any work, every planned output is checked
against every input, however the input was named (folder, glob, symlink): a run never writes
over its own inputs. A folder run records what its images depend on (the model's graph, backend,
precision, tiling) in a hidden file in the output folder, :data:`BATCH_RECORD`: the same command
run again after Ctrl-C, a crash or a failed image continues it, skipping the images already
written (each one was renamed into place whole), and a run with other settings is refused rather
than mixing two kinds of result in one folder.

What changes how an image looks is kept: its EXIF block (with the orientation a phone camera
records instead of turning the pixels), ICC colour profile and XMP travel to JPEG, PNG and WebP
outputs unchanged (OpenCV's ``imdecodeWithMetadata`` / ``imencodeWithMetadata``); an output
format that cannot hold them (BMP, TIFF through OpenCV) gets the pixels turned upright instead,
so it displays the same way. A TIFF's ICC profile and XMP, which OpenCV neither reads nor writes
there, are read from its tags and written into a TIFF output's (:func:`tiff_blocks`).

An animated PNG (APNG) or WebP is upscaled frame by frame into an animation of the same kind, with
its frame durations, loop count and alpha (OpenCV's ``imdecodeanimation`` / ``imencodeanimation``;
FFmpeg, which reads GIFs as video, reads no animated WebP): never flattened to its first frame.
A multi-page TIFF (a scanned document, a fax, a microscope's stack) is upscaled page by page into
a TIFF of as many pages, each in its own size, bit depth and channels (OpenCV's
``imdecodemulti`` / ``imencodemulti``): never cut to its first page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from srstream.atomic import PendingOutput, write_atomic
from srstream.engine.av_errors import open_av
from srstream.engine.outputs import check_image_size, still_suffix
from srstream.engine.upscaler import FrameUpscaler, output_size
from srstream.errors import ConfigError, InputError, OutputError
from srstream.images import (AV_STILL_SUFFIXES, FOLDER_SUFFIXES, HEIF_SUFFIXES, IMAGE_SUFFIXES, JXL_SUFFIXES, avif_bits,
                             full_range, heif_extras, is_jxl, picture_kind, read_heif, read_jxl)

__all__ = ["ANIMATION_SUFFIXES", "BATCH_RECORD", "BatchReport", "PAGED_SUFFIXES", "StillMetadata",
           "animation_frames", "check_not_inputs", "continues_folder_run", "exif_orientation", "expand_inputs",
           "folder_files", "folder_videos", "image_frames", "is_glob", "page_metadata", "read_animation", "read_pages",
           "read_still", "read_still_with_metadata", "tiff_blocks", "tiff_density", "tiff_pages", "upright",
           "upscale_folder", "upscale_image", "videos_among", "write_animation", "write_pages", "write_still"]

log = logging.getLogger("srstream.engine")

#: The hidden file in a folder run's output folder that records the settings its images were made with.
BATCH_RECORD = ".sr-stream-batch.json"
_BATCH_RECORD_VERSION = 1

_EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".mpo", ".webp", ".bmp")
#: Output formats whose OpenCV encoder writes EXIF, ICC and XMP chunks (measured with OpenCV 5.0).
_KEEPS_METADATA = (".jpg", ".jpeg", ".mpo", ".png", ".webp", ".avif", *HEIF_SUFFIXES, *JXL_SUFFIXES)
#: Of those, the formats whose viewers turn a picture by its container (an AVIF's ``irot``/``imir``
#: boxes, a JPEG XL's codestream header) and not by its EXIF orientation, which their encoders here
#: cannot set: the pixels are written upright and the EXIF block carried says orientation 1.
_UPRIGHT_METADATA = (".avif", *JXL_SUFFIXES)
_KEPT_TYPES = (cv2.IMAGE_METADATA_EXIF, cv2.IMAGE_METADATA_ICCP, cv2.IMAGE_METADATA_XMP)
#: AVIF quality: OpenCV's default (an encoder quantiser for about 34 dB on Set14's coastguard)
#: visibly blurs; 95 gives files about the size of the JPEG quality 95 that .jpg outputs get, at
#: the same or higher PSNR on Set14 (measured with OpenCV 5.0's libavif).
AVIF_QUALITY = 95
#: HEIC quality (libheif's x265): over Set14, 75 makes 3% more bytes than JPEG quality 95 at
#: 1.7 dB higher PSNR (39.80 against 38.12 dB; pillow-heif 1.9, libheif 1.23).
HEIF_QUALITY = 75
#: JPEG XL quality (libjxl at its default effort, 7): over Set14, 95 makes 14% fewer bytes than JPEG
#: quality 95 at 1.1 dB higher RGB PSNR (39.24 against 38.12 dB; pillow-jxl-plugin 1.3.8); ``--quality 100``
#: writes it losslessly. It takes its time: 6.3 s for a 24-megapixel picture, where JPEG takes 0.1 s and
#: PNG 0.7 (effort 3 took 0.6 s for as many bytes, without libjxl's perceptual tuning; 2-core AMX Xeon).
JXL_QUALITY = 95
#: Image formats whose files may hold an animation, which is read and written as one.
ANIMATION_SUFFIXES = (".png", ".webp", ".avif")
#: Image formats whose files may hold several pages (pictures of their own sizes, not an animation).
PAGED_SUFFIXES = (".tif", ".tiff")
#: The most of this machine's memory an animation's upscaled frames may take (they are encoded
#: together, so they are all held at once).
ANIMATION_MEMORY_SHARE = 0.5
#: The most of this machine's memory one upscaled picture and its encoded file may take (their
#: bytes, counted as two pictures' worth: the encoder's output can be as large as the picture).
STILL_MEMORY_SHARE = 0.75


@dataclass(frozen=True)
class StillMetadata:
    """The metadata chunks of an image file, as OpenCV reads them (type, bytes), and the bits per
    sample an AVIF of more than 8 was stored in (0: the array's own depth)."""

    chunks: tuple[tuple[int, bytes], ...] = ()
    bits: int = 0
    lossy: bool = False  # the picture was stored lossily (a JPEG, a lossy WebP: :func:`lossy_source`)
    #: what OpenCV neither reads nor writes, whole as stored: a PNG's text and resolution chunks
    #: (:func:`png_chunks`: a Stable Diffusion or ComfyUI picture's generation parameters, a title),
    #: a JPEG's IPTC block and comments (:func:`jpeg_segments`: a photographer's caption, keywords,
    #: copyright); into an output of the same format (``stored_in``: ``".png"``, ``".jpg"``)
    stored: tuple[bytes, ...] = ()
    stored_in: str = ""
    #: a JPEG's chroma subsampling (``"420"``, ``"422"``, ``"444"``, ...; :func:`jpeg_sampling`)
    chroma: str = ""
    #: the pixels per inch (x, y) a PNG, JPEG or TIFF says it prints at (:func:`pixel_density`);
    #: written into a PNG, JPEG or TIFF output as it was (the upscaled picture prints larger)
    density: tuple[float, float] | None = None
    #: a Multi-Picture JPEG's pictures behind its first (an Ultra HDR photo's gain map:
    #: :class:`srstream.engine.mpf.MpfSet`), and the first's (height, width) as stored, which
    #: they are scaled with into a JPEG output
    further: Any = None
    shape: tuple[int, int] = (0, 0)
    #: a motion photo's video (:func:`motion_video`: a Pixel's or a Samsung's MP4 behind the JPEG), which a
    #: JPEG output ends with as it was
    motion: bytes = b""

    @property
    def orientation(self) -> int:
        """The EXIF orientation (1-8; 1 when absent or unreadable)."""
        for kind, data in self.chunks:
            if kind == cv2.IMAGE_METADATA_EXIF:
                return exif_orientation(data)
        return 1


def exif_orientation(exif: bytes) -> int:
    """Tag 0x0112 of an EXIF block's first IFD (TIFF layout, optionally after ``Exif\\0\\0``).

    One tag of a fixed layout; Pillow reads it too, but is not otherwise a dependency.
    """
    if exif.startswith(b"Exif\0\0"):
        exif = exif[6:]
    if len(exif) < 8 or exif[:2] not in (b"II", b"MM"):
        return 1
    order = "little" if exif[:2] == b"II" else "big"
    ifd = int.from_bytes(exif[4:8], order)
    if ifd + 2 > len(exif):
        return 1
    for i in range(int.from_bytes(exif[ifd:ifd + 2], order)):
        entry = exif[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
        if len(entry) < 12:
            break
        if int.from_bytes(entry[:2], order) == 0x0112:
            value = int.from_bytes(entry[8:10], order)
            return value if 1 <= value <= 8 else 1
    return 1


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as a viewer shows an image with this EXIF orientation (1-8)."""
    steps = {2: (None, 1), 3: (cv2.ROTATE_180, None), 4: (None, 0), 5: (cv2.ROTATE_90_CLOCKWISE, 1),
             6: (cv2.ROTATE_90_CLOCKWISE, None), 7: (cv2.ROTATE_90_COUNTERCLOCKWISE, 1),
             8: (cv2.ROTATE_90_COUNTERCLOCKWISE, None)}
    rotate, flip = steps.get(orientation, (None, None))
    out = image if rotate is None else cv2.rotate(image, rotate)
    out = out if flip is None else cv2.flip(out, flip)
    return out if out.ndim == image.ndim else out[:, :, None]


def is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _apple_double(name: str) -> bool:
    """A macOS AppleDouble file (``._photo.jpg``: the Finder's metadata of ``photo.jpg``, which a Mac
    writes beside each file it copies onto a USB stick or network share): never a picture."""
    return name.startswith("._")


def folder_files(path: Path, recursive: bool = False) -> list[Path]:
    """The files of a folder, sorted; with ``recursive``, of its subfolders too (hidden ones, such
    as a run's ``.job`` folders, left out); a Mac's AppleDouble files (:func:`_apple_double`) left out."""
    if not recursive:
        return sorted(p for p in path.iterdir() if p.is_file() and not _apple_double(p.name))
    found = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [Path(folder) / name for name in names
                  if not _apple_double(name) and (Path(folder) / name).is_file()]
    return sorted(found)


def unread_subfolders(path: Path, output: Path | None = None, limit: int = 10_000) -> list[Path]:
    """The subfolders of the folder ``path`` (hidden ones and the run's ``output`` left out, sorted)
    that hold an image or a video at any depth, which a run without ``-r`` does not read; each
    searched until its first such file, and all of them through at most ``limit`` files (a huge tree
    is not walked whole to say so)."""
    from srstream.engine.outputs import INPUT_VIDEO_SUFFIXES

    wanted = {*FOLDER_SUFFIXES, *INPUT_VIDEO_SUFFIXES}
    held, seen = [], 0
    mine = output.resolve() if output is not None else None
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                      and p.resolve() != mine):
        for folder, subfolders, names in os.walk(sub):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")]
            seen += len(names)
            if any(Path(n).suffix.lower() in wanted and not _apple_double(n) for n in names):
                held.append(sub)
                break
            if seen > limit:
                return held
    return held


def unread_subfolders_note(path: Path, output: Path | None = None, option: str = "-r (--recursive)") -> str | None:
    """The note naming :func:`unread_subfolders` of ``path`` and the ``option`` that reads them (None:
    there are none)."""
    subs = unread_subfolders(path, output)
    if not subs:
        return None
    names = ", ".join(p.name for p in subs[:3]) + (", ..." if len(subs) > 3 else "")
    return (f"{len(subs)} subfolder{'s' if len(subs) > 1 else ''} with images or videos not read ({names}): "
            f"{option} upscales them too, each at its place under the output folder")


def expand_inputs(path: Path, recursive: bool = False) -> list[Path]:
    """The images and GIFs of a folder (sorted; with ``recursive``, its subfolders' too) or of a
    glob pattern.

    Raises:
        InputError: nothing matches.
    """
    if path.is_dir():
        files = [p for p in folder_files(path, recursive) if p.suffix.lower() in FOLDER_SUFFIXES]
    else:
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).suffix.lower() in FOLDER_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) match {path}")
    return files


def folder_videos(path: Path, recursive: bool = False) -> list[Path]:
    """The videos of a folder (with ``recursive``, of its subfolders too) or glob (sorted), which a
    run of its images leaves alone: each is upscaled by a run of its own (:mod:`srstream.engine.folders`;
    GIFs are not among them: a folder run upscales them as GIFs)."""
    return videos_among(_folder_or_glob(path, recursive))


def folder_raws(path: Path, recursive: bool = False) -> list[Path]:
    """The camera raw files of a folder (with ``recursive``, of its subfolders too) or glob, which
    a run leaves alone (:data:`srstream.images.RAW_STILL_SUFFIXES`: to be developed first)."""
    from srstream.images import RAW_STILL_SUFFIXES

    return sorted(p for p in _folder_or_glob(path, recursive) if p.suffix.lower() in RAW_STILL_SUFFIXES)


def _folder_or_glob(path: Path, recursive: bool) -> Iterable[Path]:
    """The files of the folder ``path`` (:func:`folder_files`) or that the glob pattern ``path`` matches."""
    return folder_files(path, recursive) if path.is_dir() else map(Path, glob.glob(str(path)))


def videos_among(files: Iterable[Path]) -> list[Path]:
    """The videos among ``files`` (sorted; GIFs left to the images), as :func:`folder_videos` finds them."""
    from srstream.engine.outputs import INPUT_VIDEO_SUFFIXES

    return sorted(p for p in files
                  if p.suffix.lower() in INPUT_VIDEO_SUFFIXES and p.suffix.lower() not in FOLDER_SUFFIXES
                  and p.is_file())


def read_still(path: Path) -> np.ndarray:
    """``(H, W, C)`` RGB(A) or grey, uint8 or uint16, as stored (EXIF orientation not applied).

    Raises:
        InputError: unreadable, or an unsupported sample type (e.g. float TIFF).
    """
    return read_still_with_metadata(path)[0]


#: The image a probe decoded, for the upscale that follows it: ``(path, mtime_ns, size) -> result``.
#: One entry, so a run holds at most one extra decoded image.
_KEPT: dict[tuple[str, int, int], tuple[np.ndarray, StillMetadata]] = {}


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.path.realpath(path), st.st_mtime_ns, st.st_size


def read_still_with_metadata(path: Path, *, keep: bool = False) -> tuple[np.ndarray, StillMetadata]:
    """:func:`read_still` and the file's EXIF, ICC and XMP chunks.

    ``keep``: hold the result for the next read of the same unchanged file (the probe of a
    single-image run keeps what it decoded for the upscale, so the file is decoded once, however
    often it is probed first); a read without ``keep`` takes it."""
    key = _file_key(path)
    if key is not None and key in _KEPT:
        return _KEPT[key] if keep else _KEPT.pop(key)
    result = _decode_still(path)
    if keep and key is not None:
        _KEPT.clear()
        _KEPT[key] = result
    return result


def _decode_heif(path: Path) -> tuple[np.ndarray, StillMetadata]:
    """An HEIC/HEIF through pillow-heif: its pixels upright (libheif applies the file's rotation and
    mirroring), so the EXIF block it carries on says orientation 1."""
    image, bits, blocks = read_heif(path)
    extras = heif_extras(path)
    if extras:  # pillow-heif writes no auxiliary or depth images
        verb = "are" if len(extras) > 1 else "is"
        sdr = ": the output shows as SDR" if "an HDR gain map" in extras else ""
        log.warning(f"note: {path.name}: {' and '.join(extras)} beside the picture {verb} not carried (pillow-heif "
                    f"writes no auxiliary images){sdr}")
    return image, StillMetadata(_named_chunks(blocks), bits if image.dtype == np.uint16 else 0)


def _named_chunks(blocks: dict[str, bytes]) -> tuple[tuple[int, bytes], ...]:
    """``{"exif", "icc", "xmp"}`` blocks (pillow-heif's, pillow-jxl-plugin's) as OpenCV's metadata chunks, the
    EXIF saying orientation 1: those libraries hand the pixels on upright."""
    kinds = {"exif": cv2.IMAGE_METADATA_EXIF, "icc": cv2.IMAGE_METADATA_ICCP, "xmp": cv2.IMAGE_METADATA_XMP}
    return _with_exif(tuple((kinds[k], bytes(v)) for k, v in blocks.items()), _exif_upright)


def _with_exif(chunks: tuple[tuple[int, bytes], ...],
               change: Callable[[bytes], bytes]) -> tuple[tuple[int, bytes], ...]:
    """``chunks`` with ``change`` made to the EXIF block among them."""
    return tuple((t, change(c) if t == cv2.IMAGE_METADATA_EXIF else c) for t, c in chunks)


def _exif_sized(exif: bytes, width: int, height: int) -> bytes:
    """``exif`` with the picture's size its EXIF directory records (PixelXDimension 0xA002,
    PixelYDimension 0xA003) made ``width`` x ``height``: the upscaled picture's, where the input's
    said (photo managers and ExifTool showed the size before the upscale). A SHORT field that cannot
    hold the new size, or a block that does not parse, is left as it was."""
    data = bytearray(exif)
    try:
        order, _, entries = _tiff_directory(data)
        pointer = next((value for tag, kind, many, value in entries if tag == 0x8769 and kind in (4, 13)), None)
        if pointer is None:
            return exif
        at = struct.unpack(order + "I", pointer)[0]
        _, _, inner = _tiff_directory(data, at)
    except (ValueError, struct.error, IndexError):
        return exif
    for number, (tag, kind, many, _) in enumerate(inner):
        size = {0xA002: width, 0xA003: height}.get(tag)
        field = at + 2 + 12 * number + 8
        if size is None or many != 1 or field + 4 > len(data):
            continue
        if kind == 4:
            data[field:field + 4] = struct.pack(order + "I", size)
        elif kind == 3 and size <= 0xFFFF:
            data[field:field + 2] = struct.pack(order + "H", size)
    return bytes(data)


def _exif_upright(exif: bytes) -> bytes:
    """``exif`` with its orientation tag (0x0112), where it has one, set to 1 (upright)."""
    data = bytearray(exif)
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return bytes(data)
    order = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    for i in range(int.from_bytes(data[ifd:ifd + 2], order) if ifd + 2 <= len(data) else 0):
        at = ifd + 2 + 12 * i
        if at + 12 <= len(data) and int.from_bytes(data[at:at + 2], order) == 0x0112:
            data[at + 8:at + 10] = (1).to_bytes(2, order)
    return bytes(data)


def _decode_av_still(path: Path) -> tuple[np.ndarray, StillMetadata]:
    """A still that FFmpeg reads and OpenCV does not (:data:`AV_STILL_SUFFIXES`), decoded with PyAV:
    ``(H, W, C)`` grey, RGB or RGBA (with or without alpha as stored), uint8, or uint16 for samples
    of more than 8 bits (a 10-bit DPX scan, a 16-bit netpbm)."""
    from srstream.engine.av_errors import av_failures
    from srstream.engine.encode import has_alpha, is_deep
    from srstream.engine.media import main_video

    try:
        with open_av(str(path)) as container:
            video = _largest_picture(container) if container.format.name == "ico" else main_video(container)
            frame = next(container.decode(video), None) if video is not None else None
            if frame is not None:
                name = frame.format.name
                grey = name.startswith(("gray", "mono"))
                deep = is_deep(name)
                if has_alpha(name) or name == "pal8":  # a palette can hold transparent colours
                    target = "rgba64le" if deep else "rgba"
                elif grey:
                    target = "gray16le" if deep else "gray"
                else:
                    target = "rgb48le" if deep else "rgb24"
                image = frame.to_ndarray(format=target)
    except av_failures() as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        if "decoder not found" in why.lower():  # FFmpeg knows the format, and this build cannot decode it
            raise InputError(f"{path} is in a format this FFmpeg build has no decoder for; convert it to PNG "
                             "first") from exc
        raise InputError(f"{path} is not a readable image (empty, truncated or damaged: {why})") from exc
    if frame is None:
        raise InputError(f"{path} is not a readable image (empty, truncated or not really {path.suffix})")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 4 and (image[:, :, 3] == image[:, :, 3].max()).all() and image[0, 0, 3] in (255, 65535):
        image = image[:, :, :3]  # every pixel opaque (a palette's, or an alpha plane stored full): RGB
    return np.ascontiguousarray(image), StillMetadata()


def _largest_picture(container):  # noqa: ANN001, ANN202 - an av input container and its stream
    """A Windows icon's largest picture, of its deepest colours where it holds several of one size
    (16-colour and true-colour 32x32 pictures). FFmpeg reads each picture in an .ico as a stream of its own,
    the smallest first (as icon tools write them), and takes that first: a 256x256 icon was upscaled from its
    16x16 picture."""
    def size(stream) -> tuple[int, int]:  # noqa: ANN001
        context = stream.codec_context
        bits = sum(c.bits for c in context.format.components) if context.format is not None else 0
        return context.width * context.height, bits

    return max(container.streams.video, key=size, default=None)


#: WebP's quality for an output whose source was stored lossily, as JPEG outputs get 95.
WEBP_LOSSY_QUALITY = 95
#: The image formats ``--quality`` sets (the others are lossless).
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".mpo", ".webp", ".avif", *HEIF_SUFFIXES, *JXL_SUFFIXES)


def lossy_source(path: Path, head: bytes | None = None) -> bool:
    """Whether the picture at ``path`` (``head``: its first bytes, if read already) was stored lossily:
    a JPEG, or a WebP whose (first) picture is VP8 rather than lossless VP8L. A WebP upscale of it is
    then written lossy at :data:`WEBP_LOSSY_QUALITY`: written lossless, a lossy WebP's upscale came out
    4.3-7.3 times the bytes of its lossy one (a 10-frame animation, two stills; what the input's own
    coding had already thrown away, kept exactly), and the animation's encode took 5.2 s for ten
    320x240 frames against 0.13 s (OpenCV's encoder, 2-core AMX Xeon)."""
    if head is None:
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError:
            return False
    if head[:3] == b"\xff\xd8\xff":  # JPEG, whatever its name
        return True
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return False
    lossless, lossy = head.find(b"VP8L"), head.find(b"VP8 ")
    return lossy >= 0 and (lossless < 0 or lossy < lossless)


def _decode_jxl(path: Path) -> tuple[np.ndarray, StillMetadata]:
    """A JPEG XL through pillow-jxl-plugin (:func:`srstream.images.read_jxl`), upright, so the EXIF block it
    carries on says orientation 1; a JPEG stored in it losslessly as that JPEG."""
    found = read_jxl(path)
    if found.image is None:
        return _decode_cv_still(path, np.frombuffer(found.jpeg, np.uint8))
    return found.image, StillMetadata(_named_chunks(found.blocks), shape=found.image.shape[:2])


def _decode_still(path: Path) -> tuple[np.ndarray, StillMetadata]:
    head = _head(path, 4096)
    if path.suffix.lower() in HEIF_SUFFIXES or picture_kind(head) == ".heic":  # a HEIC by any name (a pipe's)
        return _decode_heif(path)
    if is_jxl(head):  # a JPEG XL by any name (and a file named .jxl that is not one, by what it is)
        return _decode_jxl(path)
    if path.suffix.lower() in AV_STILL_SUFFIXES:
        return _decode_av_still(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:  # a name that does not say (.jfif, none): OpenCV, else FFmpeg
        try:
            return _decode_cv_still(path)
        except InputError:
            return _decode_av_still(path)
    return _decode_cv_still(path)


#: PNG chunks copied from a PNG input to its PNG output as stored: text (``tEXt``, ``zTXt``,
#: ``iTXt``), the pixel density (``pHYs``) and how its values are to be read as colours (gamma,
#: primaries, ``sRGB``, and an HDR picture's ``cICP`` signal with its mastering display and light
#: levels, ``mDCV``/``cLLI``: without them a PQ screenshot came out shown as washed-out SDR); none
#: of them depends on the pixels' number. OpenCV reads and writes none of them (it keeps ``iCCP``).
PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
PNG_COLOUR_CHUNKS = (b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCV", b"cLLI")
PNG_KEPT_CHUNKS = (*PNG_TEXT_CHUNKS, b"pHYs", *PNG_COLOUR_CHUNKS)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_walk(data: bytes | memoryview) -> Iterator[tuple[int, bytes, int]]:
    """``(start, type, end)`` of each chunk of a PNG file's bytes up to ``IEND``; none for anything
    else, and none past where the chunk list breaks off."""
    at = len(PNG_SIGNATURE) if bytes(data[:len(PNG_SIGNATURE)]) == PNG_SIGNATURE else len(data)
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if end > len(data) or kind == b"IEND":
            return
        yield at, kind, end
        at = end


def png_chunks(data: bytes | memoryview, kinds: tuple[bytes, ...] = PNG_KEPT_CHUNKS) -> tuple[bytes, ...]:
    """The chunks of these ``kinds`` in a PNG file's bytes, each whole (length, type, data, CRC);
    () for anything else."""
    return tuple(bytes(data[start:end]) for start, kind, end in _png_walk(data) if kind in kinds)


#: What an XMP packet follows in a JPEG's APP1 segment. OpenCV's metadata calls read and write a
#: JPEG's XMP with it and a PNG's or WebP's without, so a JPEG's XMP went into a PNG, WebP or TIFF
#: output behind it (read there as "http://ns.adobe.com/xap/1.0/" and no packet), and any other
#: picture's into a JPEG's APP1 without it (read by nothing). :attr:`StillMetadata.chunks` hold the
#: packet alone.
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\0"
#: The keyword of a PNG text chunk holding XMP (an ``iTXt`` in the XMP specification; OpenCV reads and
#: writes a ``tEXt``).
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"


def bare_xmp(packet: bytes) -> bytes:
    """An XMP packet as read from any format: without a JPEG's namespace header and the NULs OpenCV ends a
    PNG's with."""
    return (packet[len(XMP_JPEG_HEADER):] if packet.startswith(XMP_JPEG_HEADER) else packet).rstrip(b"\0")


def png_xmp(chunks: tuple[bytes, ...]) -> bytes | None:
    """The XMP packet in a PNG's text chunks (whole, as :func:`png_chunks` gives them): an ``iTXt`` (Pillow's,
    exiftool's, Photoshop's; compressed or not) or a ``tEXt`` with the XMP keyword; None where there is none."""
    for chunk in chunks:
        kind, body = chunk[4:8], chunk[8:-4]
        keyword, _, rest = body.partition(b"\0")
        if keyword != PNG_XMP_KEYWORD:
            continue
        if kind == b"tEXt":
            return rest
        if kind == b"iTXt" and len(rest) >= 2:
            text = rest[2:].split(b"\0", 2)[-1]  # after the language tag and the translated keyword
            try:
                return zlib.decompress(text) if rest[0] else text
            except zlib.error:
                return None
    return None


def png_xmp_chunk(packet: bytes) -> bytes:
    """A PNG ``iTXt`` chunk holding the XMP ``packet``, uncompressed, as the XMP specification puts it."""
    body = PNG_XMP_KEYWORD + b"\0\0\0\0\0" + packet
    return struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body))


#: JPEG segments copied from a JPEG input to its JPEG output as stored: APP13 (Photoshop's
#: resource block, which holds IPTC captions, keywords and copyright) and COM (comments).
JPEG_KEPT_MARKERS = (0xED, 0xFE)


def _jpeg_walk(data: bytes | memoryview) -> Iterator[tuple[int, int, int]]:
    """``(start, marker, end)`` of each segment of a JPEG file's bytes before its picture data
    (``SOS``); none for anything else, and none past where the segments break off."""
    at = 2 if bytes(data[:2]) == b"\xff\xd8" else len(data)
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xDA, 0xD9):
            return
        end = at + 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
        if end > len(data):
            return
        yield at, marker, end
        at = end


def jpeg_segments(data: bytes | memoryview, markers: tuple[int, ...] = JPEG_KEPT_MARKERS) -> tuple[bytes, ...]:
    """The segments with these ``markers`` in a JPEG file's bytes, each whole (marker, length,
    data); () for anything else."""
    return tuple(bytes(data[start:end]) for start, marker, end in _jpeg_walk(data) if marker in markers)


def samsung_trailer(data: bytes | memoryview) -> bytes:
    """The trailer a Samsung phone ends its JPEG file's bytes ``data`` with (SEF: a motion photo's
    video, ``MotionPhoto_Data``, and what its camera records beside: capture times, a portrait's depth
    map), whole: from its first field to its ``SEFH`` directory (the length before the ``SEFT`` tail
    gives where it starts), each field placed by its distance back from the directory, so it reads
    the same behind any picture; b"" where there is none, or it does not parse."""
    if len(data) < 20 or bytes(data[-4:]) != b"SEFT":
        return b""
    size = struct.unpack("<I", data[-8:-4])[0]
    head = len(data) - size - 8
    if head < 0 or bytes(data[head:head + 4]) != b"SEFH":
        return b""
    count = struct.unpack("<I", data[head + 8:head + 12])[0]
    if 12 + 12 * count > size:
        return b""
    back = max((struct.unpack("<I", data[head + 12 + 12 * i + 4:head + 12 + 12 * i + 8])[0] for i in range(count)),
               default=0)
    return bytes(data[head - back:]) if 0 <= back <= head else b""


def motion_video(data: bytes | memoryview, xmp: bytes | None) -> bytes:
    """The video a motion photo carries at the end of its JPEG file's bytes ``data``: a Samsung phone's
    trailer that holds it (:func:`samsung_trailer`), or as its ``xmp`` places it: Google's Motion Photo
    (Pixel phones: ``GCamera:MotionPhoto``, a ``Container:Directory`` item of semantic ``MotionPhoto``
    and its length) or the older Micro Video (``GCamera:MicroVideoOffset``, counted from the file's
    end); b"" where it names none, or what it names is no MP4 or QuickTime file. OpenCV reads the
    picture alone, and an upscaled motion photo lost its video with its XMP still saying it was there."""
    samsung = samsung_trailer(data)
    if samsung:
        return samsung
    if not xmp or (b"MotionPhoto" not in xmp and b"MicroVideo" not in xmp):
        return b""
    import re

    length = 0
    for item in re.findall(rb"<Container:Item\b[^>]*>", xmp):
        if re.search(rb'Item:Semantic="MotionPhoto"', item) and (found := re.search(rb'Item:Length="(\d+)"', item)):
            length = int(found.group(1))
            padding = re.search(rb'Item:Padding="(\d+)"', item)
            length += int(padding.group(1)) if padding else 0
    if not length and (found := re.search(rb'MicroVideoOffset="(\d+)"', xmp)):
        length = int(found.group(1))
    video = bytes(data[len(data) - length:]) if 8 < length < len(data) else b""
    return video if video[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") else b""


def _further_pictures(data: np.ndarray) -> Any:  # noqa: ANN401 - srstream.engine.mpf.MpfSet | None
    """A JPEG's pictures behind its first, where its MPF index lists any (:mod:`srstream.engine.mpf`)."""
    view = memoryview(data)
    if bytes(view[:2]) != b"\xff\xd8":
        return None
    walk = list(_jpeg_walk(view))
    if not any(marker == 0xE2 and bytes(view[start + 4:start + 8]) == b"MPF\0" for start, marker, _ in walk):
        return None
    from srstream.engine.mpf import further_pictures

    return further_pictures(data.tobytes(), walk)


def _with_jpeg_segments(data: bytes, segments: tuple[bytes, ...]) -> bytes:
    """An encoded JPEG with ``segments`` put after its application segments (JFIF, EXIF, ICC)."""
    first = next((start for start, marker, _ in _jpeg_walk(data) if not 0xE0 <= marker <= 0xEF), None)
    if not segments or first is None:
        return data
    return data[:first] + b"".join(segments) + data[first:]


def jpeg_sampling(data: bytes | memoryview) -> str:
    """A colour JPEG's chroma subsampling as ``"420"``, ``"422"``, ``"444"``, ``"440"`` or ``"411"``
    (from its frame header: the luma's sampling factors over the chroma's); "" for a grey one, any
    other layout, or anything else."""
    for start, marker, end in _jpeg_walk(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and end - start >= 19 and data[start + 9] == 3:
            factors = [(data[at] >> 4, data[at] & 15) for at in (start + 11, start + 14, start + 17)]
            (yh, yv), (ch, cv) = factors[0], factors[1]
            if factors[1] != factors[2] or not ch or not cv or yh % ch or yv % cv:
                return ""
            return {(1, 1): "444", (2, 1): "422", (2, 2): "420", (1, 2): "440", (4, 1): "411"}.get(
                (yh // ch, yv // cv), "")
    return ""


def _stored(data: memoryview) -> tuple[tuple[bytes, ...], str, str, tuple[float, float] | None]:
    """:attr:`StillMetadata.stored`, ``stored_in``, ``chroma`` and ``density`` of an image file's
    bytes (read in place: a large PNG is not copied to find its text)."""
    density = pixel_density(data)
    if bytes(data[:len(PNG_SIGNATURE)]) == PNG_SIGNATURE:
        return png_chunks(data), ".png", "", density
    if bytes(data[:2]) == b"\xff\xd8":
        return jpeg_segments(data), ".jpg", jpeg_sampling(data), density
    return (), "", "", density


#: Inches in a metre (PNG's unit) and in a centimetre (JPEG's and TIFF's other unit).
_INCH_M, _INCH_CM = 0.0254, 2.54


def pixel_density(data: bytes | memoryview) -> tuple[float, float] | None:
    """The pixels per inch (x, y) a PNG (``pHYs``), JPEG (JFIF's ``APP0``) or TIFF (``XResolution``,
    ``YResolution``, ``ResolutionUnit`` of its first page) says it prints at; None where it says
    none, only an aspect ratio, or is none of these. Scanners and print work keep it there; OpenCV
    neither reads nor writes it (a JPEG's or TIFF's output lost it), so the few bytes are read here."""
    head = bytes(data[:8])
    try:
        if head == PNG_SIGNATURE:
            for start, kind, end in _png_walk(data):
                if kind == b"pHYs" and end - start == 21:
                    x, y, unit = struct.unpack(">IIB", data[start + 8:start + 17])
                    return (x * _INCH_M, y * _INCH_M) if unit == 1 and x and y else None
                if kind == b"IDAT":
                    return None
            return None
        if head[:2] == b"\xff\xd8":
            for start, marker, end in _jpeg_walk(data):
                if marker == 0xE0 and end - start >= 18 and bytes(data[start + 4:start + 9]) == b"JFIF\0":
                    unit, x, y = struct.unpack(">BHH", data[start + 11:start + 16])
                    factor = {1: 1.0, 2: _INCH_CM}.get(unit)
                    return (x * factor, y * factor) if factor and x and y else None
            return None
        if head[:4] in (b"II*\0", b"MM\0*"):
            return tiff_density(data)
    except (struct.error, ValueError, IndexError):  # a file cut short or damaged: no density
        return None
    return None


def tiff_density(data: bytes | memoryview, at: int | None = None) -> tuple[float, float] | None:
    """:func:`pixel_density` of a TIFF's page (the first, or the one whose directory is ``at``)."""
    try:
        order, _, entries = _tiff_directory(data, at)
        tags = {tag: (kind, value) for tag, kind, _, value in entries}

        def rational(tag: int) -> float:
            kind, value = tags.get(tag, (0, b""))
            if kind != 5:  # RATIONAL: an offset to two 32-bit numbers
                return 0.0
            where = struct.unpack(order + "I", value)[0]
            num, den = struct.unpack(order + "II", data[where:where + 8])
            return num / den if den else 0.0

        kind, value = tags.get(296, (3, struct.pack(order + "H", 2) + bytes(2)))  # default: inches
        unit = struct.unpack(order + "H", value[:2])[0] if kind == 3 else 0
        factor = {2: 1.0, 3: _INCH_CM}.get(unit)
        x, y = rational(282), rational(283)
        return (x * factor, y * factor) if factor and x > 0 and y > 0 else None
    except (struct.error, ValueError, IndexError):  # a file cut short or damaged: no density
        return None


def _tiff_directory(data: bytes | memoryview,
                    at: int | None = None) -> tuple[str, int, list[tuple[int, int, int, bytes]]]:
    """A classic TIFF's byte order (``"<"``, ``">"``), the offset of an image file directory (the
    first page's, or the one ``at`` that offset) and that directory's entries: (tag, type, count,
    the 4 bytes of value or offset).

    Raises:
        ValueError: not a classic TIFF (a BigTIFF's directories are laid out otherwise).
        struct.error / IndexError: cut short.
    """
    head = bytes(data[:4])
    if head not in (b"II*\0", b"MM\0*"):
        raise ValueError("not a classic TIFF")
    order = "<" if head[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0] if at is None else at
    count = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
    entries = []
    for first in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind, many = struct.unpack(order + "HHI", data[first:first + 8])
        entries.append((tag, kind, many, bytes(data[first + 8:first + 12])))
    return order, ifd, entries


#: What a TIFF holds of how its picture looks or is described that OpenCV neither reads nor writes
#: there, by tag: its ICC colour profile (34675; a scan's, or Lightroom's Adobe RGB or ProPhoto
#: export's, whose colours read as sRGB without it) and its XMP packet (700), as OpenCV's metadata
#: types, which carry them to and from the other formats.
_TIFF_BLOCKS = {34675: cv2.IMAGE_METADATA_ICCP, 700: cv2.IMAGE_METADATA_XMP}


#: The tags of a TIFF's first directory that describe the photo, which an EXIF block's first
#: directory holds alike (EXIF is laid out as a TIFF): description, camera make and model,
#: software, date, artist, copyright, Windows' rating and its XP title, comment, author, keywords
#: and subject, and the pointers to the EXIF (exposure, lens, dates) and GPS directories. What
#: lays out the picture (size, strips, compression) is the encoder's own; not the orientation
#: either, as a TIFF's pixels are upright both ways (OpenCV turns them as it reads a TIFF, and a
#: TIFF output is written turned).
_EXIF_TAGS = frozenset((0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x4746, 0x8298, 0x8769, 0x8825,
                        0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F))
#: Tags whose value is where another directory begins: EXIF, GPS, and the EXIF's interoperability.
_DIRECTORY_TAGS = (0x8769, 0x8825, 0xA005)
#: Each TIFF field type's struct code (a value of that type) and byte size.
_TIFF_TYPES = {1: ("B", 1), 2: ("B", 1), 3: ("H", 2), 4: ("I", 4), 5: ("II", 8), 6: ("b", 1), 7: ("B", 1),
               8: ("h", 2), 9: ("i", 4), 10: ("ii", 8), 11: ("f", 4), 12: ("d", 8), 13: ("I", 4)}


def _copied_entries(src: bytes | memoryview, order: str, at: int, out: bytearray, out_order: str,
                    keep: frozenset[int] | None = None, depth: int = 0) -> list[tuple[int, int, int, bytes]]:
    """The entries of the directory at ``at`` in ``src`` (a TIFF, or an EXIF block, whose offsets
    count from its first byte), those of ``keep``'s tags where given, for a directory in ``out``:
    the values too long for an entry, and the directories that :data:`_DIRECTORY_TAGS` point to
    (with theirs), are appended to ``out`` and pointed at there, every number in ``out_order``.
    Entries of an unknown type, or whose value lies past the end, are left out. Each entry is
    (tag, type, count, its 4 bytes of value or offset), as :func:`_tiff_directory` gives them. A
    camera's maker note is copied as it is: one whose own offsets count from the file's start (as
    Canon's do) points amiss in its new place, as after most tools but ExifTool. Written by hand:
    OpenCV neither reads nor writes a TIFF's EXIF, and Pillow (not a base dependency) writes none
    of its EXIF and GPS directories into a TIFF."""
    count = struct.unpack(order + "H", src[at:at + 2])[0]
    entries = []
    for first in range(at + 2, at + 2 + 12 * count, 12):
        tag, kind, many = struct.unpack(order + "HHI", src[first:first + 8])
        if (keep is not None and tag not in keep) or kind not in _TIFF_TYPES:
            continue
        code, size = _TIFF_TYPES[kind]
        length = size * many
        where = first + 8 if length <= 4 else struct.unpack(order + "I", src[first + 8:first + 12])[0]
        raw = bytes(src[where:where + length])
        if len(raw) < length or many > 1 << 26:
            continue
        if tag in _DIRECTORY_TAGS and kind in (4, 13) and many == 1:
            if depth >= 2:
                continue
            inner = _copied_entries(src, order, struct.unpack(order + "I", raw)[0], out, out_order, None, depth + 1)
            raw = struct.pack(out_order + "I", _write_directory(out, out_order, inner))
        elif code != "B" and order != out_order:  # the numbers written in the output's byte order
            raw = struct.pack(out_order + code * many, *struct.unpack(order + code * many, raw))
        if length <= 4:
            entries.append((tag, kind, many, raw.ljust(4, b"\0")))
        else:
            if len(out) % 2:
                out += b"\0"  # TIFF offsets are word-aligned
            entries.append((tag, kind, many, struct.pack(out_order + "I", len(out))))
            out += raw
    return entries


def _write_directory(out: bytearray, order: str, entries: list[tuple[int, int, int, bytes]],
                     following: bytes = b"\0\0\0\0") -> int:
    """Append a directory of ``entries`` (sorted by tag, as TIFF wants) and the offset of the next
    one (``following``) to ``out``; returns where it begins."""
    if len(out) % 2:
        out += b"\0"
    where = len(out)
    out += struct.pack(order + "H", len(entries))
    for tag, kind, many, value in sorted(entries):
        out += struct.pack(order + "HHI", tag, kind, many) + value
    out += following
    return where


def tiff_blocks(data: bytes | memoryview, at: int | None = None) -> tuple[tuple[int, bytes], ...]:
    """The ICC profile and XMP packet of a TIFF's page (the first, or the one whose directory is
    ``at``; :data:`_TIFF_BLOCKS`), and its description, camera and EXIF and GPS directories
    (:data:`_EXIF_TAGS`) as an EXIF block, as (OpenCV's metadata type, bytes); none for another
    file, or one cut short."""
    try:
        order, ifd, entries = _tiff_directory(data, at)
        blocks = []
        for tag, kind, many, value in entries:
            if tag in _TIFF_BLOCKS and kind in (1, 2, 7) and many:  # BYTE, ASCII, UNDEFINED: a byte each
                where = 0 if many <= 4 else struct.unpack(order + "I", value)[0]
                block = value[:many] if many <= 4 else bytes(data[where:where + many])
                if len(block) == many:
                    blocks.append((_TIFF_BLOCKS[tag], block))
        exif = bytearray((b"II*\0" if order == "<" else b"MM\0*") + b"\0\0\0\0")
        described = _copied_entries(data, order, ifd, exif, order, _EXIF_TAGS)
        if described:
            exif[4:8] = struct.pack(order + "I", _write_directory(exif, order, described))
            blocks.append((cv2.IMAGE_METADATA_EXIF, bytes(exif)))
        return tuple(blocks)
    except (struct.error, ValueError, IndexError):
        return ()


def _exif_entries(exif: bytes, out: bytearray, out_order: str) -> list[tuple[int, int, int, bytes]]:
    """An EXIF block's description, camera and EXIF and GPS directories (:data:`_EXIF_TAGS`) as
    entries of a directory in ``out`` (see :func:`_copied_entries`); none for a block cut short or
    not laid out as a TIFF."""
    if exif.startswith(b"Exif\0\0"):
        exif = exif[6:]
    try:
        order, ifd, _ = _tiff_directory(exif)
        return _copied_entries(exif, order, ifd, out, out_order, _EXIF_TAGS)
    except (struct.error, ValueError, IndexError):
        return []


def _with_tiff_blocks(data: bytes, chunks: tuple[tuple[int, bytes], ...]) -> bytes:
    """:func:`_with_tiff_pages` for a TIFF's first page."""
    return _with_tiff_pages(data, [(chunks, None)])


def _tiff_value(order: str, entries: list[tuple[int, int, int, bytes]], tag: int) -> int | None:
    """The first value of a directory's SHORT or LONG ``tag`` held in its entry (a count of one, or
    two SHORTs), or None."""
    for found, kind, many, value in entries:
        if found == tag and (kind == 3 and many <= 2 or kind == 4 and many == 1):
            return struct.unpack(order + ("H" if kind == 3 else "I"), value[:2 if kind == 3 else 4])[0]
    return None


def _alpha_entry(order: str, entries: list[tuple[int, int, int, bytes]]) -> tuple[int, int, int, bytes] | None:
    """The ``ExtraSamples`` entry (338: one unassociated alpha, 2) that a directory of OpenCV's
    encoder lacks where its page has an alpha channel (RGB and one more sample, or grey and one),
    as TIFF requires; without it libtiff calls the fourth sample unspecified and GIMP asks what it
    is. None where the directory has one, or no extra sample."""
    photometric, samples = _tiff_value(order, entries, 262), _tiff_value(order, entries, 277)
    colours = 3 if photometric == 2 else 1 if photometric in (0, 1) else 0
    if not colours or samples != colours + 1 or any(tag == 338 for tag, *_ in entries):
        return None
    return 338, 3, 1, struct.pack(order + "H", 2) + bytes(2)


_ICC_APP2 = b"ICC_PROFILE\0"


def jpeg_icc(data: bytes | memoryview) -> bytes:
    """The ICC profile in a JPEG file's bytes: its ``ICC_PROFILE`` APP2 segments' bodies in their
    sequence numbers' order; b"" where it has none. OpenCV joins every APP2 segment into the profile it
    reads, an MPF index among them (an Ultra HDR phone photo's, a stereo camera's .mpo): the profile
    carried into an output was damaged (libpng refused it; a JPEG output held it so)."""
    parts = []
    for start, marker, end in _jpeg_walk(data):
        body = bytes(data[start + 4:end])
        if marker == 0xE2 and body.startswith(_ICC_APP2) and len(body) > len(_ICC_APP2) + 2:
            parts.append((body[len(_ICC_APP2)], body[len(_ICC_APP2) + 2:]))
    return b"".join(part for _, part in sorted(parts, key=lambda p: p[0]))


def _jpeg_cmyk(data: bytes | memoryview) -> bool:
    """Whether a JPEG file's bytes hold four components (a CMYK picture: Adobe's print files)."""
    return bytes(data[:2]) == b"\xff\xd8" and any(
        0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and end - start > 9 and data[start + 9] == 4
        for start, marker, end in _jpeg_walk(data))


def _unmark_alpha(data: np.ndarray) -> list[tuple[int | None, bool]]:
    """Each page of a classic TIFF in ``data`` (a file's bytes, changed in place): its alpha's kind
    (``ExtraSamples`` 1, premultiplied, or 2, straight; None: no alpha) and whether it is a CMYK
    page (photometric 5, four inks); [] for anything else. The alpha is marked unspecified (0) in
    ``data``: libtiff's RGBA reader, which OpenCV's takes for 8-bit pages, multiplies each colour by
    a marked alpha, and a TIFF's straight alpha came out darkened where it is not opaque; unmarked,
    the samples come through as stored (:func:`_as_stored`)."""
    view = memoryview(data)
    pages = []
    try:
        for at in _directory_chain(lambda at, size: bytes(view[at:at + size])):
            order, _, entries = _tiff_directory(view, at)
            alpha = _tiff_value(order, entries, 338)
            for number, (tag, kind, many, _) in enumerate(entries):
                if tag == 338 and kind == 3 and many == 1 and alpha in (1, 2):
                    value = at + 2 + 12 * number + 8
                    data[value:value + 2] = 0
            cmyk = _tiff_value(order, entries, 262) == 5 and _tiff_value(order, entries, 277) == 4
            pages.append((alpha if alpha in (1, 2) else None, cmyk))
    except (struct.error, ValueError, IndexError):
        pass
    return pages


def _as_stored(image: np.ndarray, page: tuple[int | None, bool]) -> np.ndarray:
    """A page OpenCV decoded from a TIFF whose alpha :func:`_unmark_alpha` unmarked, as its file
    means it: a premultiplied alpha's colours divided by it (each within 255 / (2 alpha) of the
    straight one, and exact where composited); a CMYK page without the opaque alpha the reader gives
    it as it turns the inks into RGB. Anything else as it is."""
    alpha, cmyk = page
    if image.ndim != 3 or image.shape[2] != 4:
        return image
    if cmyk:
        return np.ascontiguousarray(image[:, :, :3])
    if alpha != 1:
        return image
    top = 65535 if image.dtype == np.uint16 else 255
    rows, cols = np.nonzero(image[:, :, 3] < top)
    weight = image[rows, cols, 3:4].astype(np.uint64)
    colour = (image[rows, cols, :3].astype(np.uint64) * top + weight // 2) // np.maximum(weight, 1)
    image[rows, cols, :3] = np.where(weight > 0, np.minimum(colour, top), 0).astype(image.dtype)
    return image


#: An ICC profile's colour space (bytes 16-19 of its header) that describes the pixels a picture is
#: read into: RGB or grey; a CMYK or Lab profile describes none of them.
_PIXEL_PROFILES = (b"RGB ", b"GRAY")


def _without_foreign_profile(path: Path, chunks: tuple[tuple[int, bytes], ...],
                             cmyk: bool) -> tuple[tuple[int, bytes], ...]:
    """``chunks`` without an ICC profile of another colour space than the decoded pixels' (a CMYK
    picture's print profile, with which colour-managed viewers and editors read the RGB output as
    inks); with a note where the picture was CMYK, which OpenCV turns into RGB without colour
    management."""
    foreign = next((bytes(c[16:20]).decode("latin-1").strip() for t, c in chunks if _foreign_profile(t, c)), None)
    if cmyk:
        kept, using = (f"; its {foreign} colour profile is not kept", " with its profile") if foreign else ("", "")
        log.warning(f"note: {path.name} is a CMYK picture (print inks): read as RGB without colour management, so "
                    f"its colours are approximate{kept}; convert it to RGB{using} in an image editor for exact ones")
    elif foreign:
        log.warning(f"note: {path.name}: its colour profile describes {foreign}, not the RGB it is read as; not kept")
    return tuple((t, c) for t, c in chunks if not _foreign_profile(t, c))


def _foreign_profile(kind: int, block: bytes) -> bool:
    """Whether a metadata block is an ICC profile (its header's signature at byte 36) of neither RGB
    nor grey (:data:`_PIXEL_PROFILES`)."""
    return (kind == cv2.IMAGE_METADATA_ICCP and bytes(block[36:40]) == b"acsp"
            and bytes(block[16:20]) not in _PIXEL_PROFILES)


def _with_tiff_pages(data: bytes,
                     pages: list[tuple[tuple[tuple[int, bytes], ...], tuple[float, float] | None]]) -> bytes:
    """An encoded classic TIFF with each of ``pages``' (chunks, density) in its page's directory,
    in page order: the chunks' ICC profile and XMP packet (OpenCV's metadata types;
    :data:`_TIFF_BLOCKS`) and their EXIF block's tags (:func:`_exif_entries`), and the pixels per
    inch where given; and every page with an alpha channel saying so (:func:`_alpha_entry`). The
    blocks and the directories, their entries and those, are put at the file's end and the header
    pointed at the first (the old directories stay, unreferenced). ``data`` unchanged where there
    is nothing to add, or it is not a classic TIFF (a BigTIFF: over 4 GB)."""
    tags = {kind: tag for tag, kind in _TIFF_BLOCKS.items()}
    try:
        order = _tiff_directory(data)[0]
        chain = _directory_chain(lambda at, size: data[at:at + size])
        directories = [_tiff_directory(data, at)[2] for at in chain]
    except (struct.error, ValueError, IndexError):
        return data
    out = bytearray(data)
    changed = False
    for number, entries in enumerate(directories):
        alpha = _alpha_entry(order, entries)
        if alpha is not None:
            directories[number] = [*entries, alpha]
            changed = True
    for number, (chunks, density) in enumerate(pages[:len(chain)]):
        wanted = {tags[kind]: block for kind, block in chunks if kind in tags and block}
        exif = next((block for kind, block in chunks if kind == cv2.IMAGE_METADATA_EXIF), None)
        added = _exif_entries(exif, out, order) if exif else []
        for tag, block in sorted(wanted.items()):
            if len(out) % 2:
                out += b"\0"  # TIFF offsets are word-aligned
            added.append((tag, 7 if tag == 34675 else 1, len(block), struct.pack(order + "I", len(out))
                          if len(block) > 4 else block.ljust(4, b"\0")))
            if len(block) > 4:
                out += block
        if density is not None:  # inches (ResolutionUnit 2), as RATIONALs of whole pixels
            for tag, value in ((282, density[0]), (283, density[1])):
                if len(out) % 2:
                    out += b"\0"
                added.append((tag, 5, 1, struct.pack(order + "I", len(out))))
                out += struct.pack(order + "II", max(1, round(value)), 1)
            added.append((296, 3, 1, struct.pack(order + "H", 2) + bytes(2)))
        if added:
            replaced = {entry[0] for entry in added}
            directories[number] = [e for e in directories[number] if e[0] not in replaced] + added
            changed = True
    if not changed:
        return data
    following = b"\0\0\0\0"
    for entries in reversed(directories):  # the last first: each points at the next one's new place
        following = struct.pack(order + "I", _write_directory(out, order, entries, following))
    out[4:8] = following
    return bytes(out)


def _with_density(suffix: str, data: bytes, density: tuple[float, float] | None) -> bytes:
    """An encoded PNG or JPEG saying it prints at ``density`` pixels per inch: a PNG's ``pHYs``
    put before its first ``IDAT`` (where the encoder wrote none), a JPEG's JFIF ``APP0`` set to it
    (OpenCV writes an aspect ratio of 1:1 there), or one put after ``SOI`` where it has none."""
    if density is None:
        return data
    x, y = density
    if suffix == ".png":
        ppm = struct.pack(">IIB", round(x / _INCH_M), round(y / _INCH_M), 1)
        chunk = struct.pack(">I", 9) + b"pHYs" + ppm + struct.pack(">I", zlib.crc32(b"pHYs" + ppm))
        return _with_png_chunks(data, (chunk,))
    if suffix == ".jpg":
        dots = struct.pack(">BHH", 1, min(65535, round(x)), min(65535, round(y)))
        for start, marker, end in _jpeg_walk(data):
            if marker == 0xE0 and end - start >= 18 and data[start + 4:start + 9] == b"JFIF\0":
                return data[:start + 11] + dots + data[start + 16:]
        return data[:2] + b"\xff\xe0\x00\x10JFIF\x00\x01\x01" + dots + b"\x00\x00" + data[2:]
    return data


def _with_png_chunks(data: bytes, chunks: tuple[bytes, ...]) -> bytes:
    """An encoded PNG with ``chunks`` put before its first ``IDAT`` (one that the PNG holds once, a
    ``pHYs`` or a colour chunk, only where the encoder wrote none)."""
    walk = list(_png_walk(data))
    have = {kind for _, kind, _ in walk}
    chunks = tuple(chunk for chunk in chunks if chunk[4:8] in PNG_TEXT_CHUNKS or chunk[4:8] not in have)
    first = next((start for start, kind, _ in walk if kind == b"IDAT"), None)
    if not chunks or first is None:
        return data
    return data[:first] + b"".join(chunks) + data[first:]


def _head(path: Path, size: int = 12) -> bytes:
    """A file's first ``size`` bytes; b"" where it cannot be read (its decoder then says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _avif_profile(head: bytes) -> bytes:
    """The ICC profile in an AVIF's first bytes (``head``): its ``colr`` box of type ``prof`` (the
    picture's; where there are several, the first); b"" where it has none (an ``nclx`` box names its
    colours instead) or the box is damaged."""
    at = head.find(b"colrprof")
    if at < 4:
        return b""
    size = struct.unpack(">I", head[at - 4:at])[0]
    return head[at + 8:at - 4 + size] if 12 < size and at - 4 + size <= len(head) else b""


#: The EXIF orientation (1-8) of FFmpeg's display matrix for a picture, by its top-left 2x2 (a, b, c, d) signs.
_MATRIX_ORIENTATIONS = {(1, 0, 0, 1): 1, (-1, 0, 0, 1): 2, (-1, 0, 0, -1): 3, (1, 0, 0, -1): 4, (0, 1, 1, 0): 5,
                        (0, 1, -1, 0): 6, (0, -1, -1, 0): 7, (0, -1, 1, 0): 8}


def _container_orientation(path: Path, data: np.ndarray) -> int:
    """The EXIF orientation (1-8) an AVIF's ``irot``/``imir`` boxes give its picture (what Chrome and
    Firefox show, and what avifenc and Pillow write a rotated JPEG's orientation as): OpenCV's libavif
    decoder hands on the pixels as stored, so a photo was upscaled, and came out, on its side. Read
    from FFmpeg's display matrix for the picture, where the boxes are in the file's first 64 KiB (its
    ``meta`` box); 1 otherwise, or where FFmpeg cannot tell."""
    head = data[:65536].tobytes()
    if b"irot" not in head and b"imir" not in head:
        return 1
    from srstream.engine.av_errors import av_failures, side_data
    from srstream.engine.media import main_video

    try:
        with open_av(str(path)) as container:
            video = _largest_picture(container) if container.format.name == "ico" else main_video(container)
            frame = next(container.decode(video), None) if video is not None else None
    except (*av_failures(), OSError, ValueError):
        return 1
    found = [bytes(sd) for sd in side_data(frame) if sd.type.name == "DISPLAYMATRIX"] if frame is not None else []
    if not found or len(found[0]) < 36:
        return 1
    a, b, _, c, d = struct.unpack("<5i", found[0][:20])
    return _MATRIX_ORIENTATIONS.get(tuple(int(np.sign(v)) for v in (a, b, c, d)), 1)


def _decode_cv_still(path: Path, data: np.ndarray | None = None) -> tuple[np.ndarray, StillMetadata]:
    """The picture at ``path`` (or, where given, in ``data``, its bytes: a JPEG XL's JPEG) through OpenCV."""
    try:
        data = np.fromfile(path, dtype=np.uint8) if data is None else data
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    tiff = _unmark_alpha(data)
    image, types, chunks = cv2.imdecodeWithMetadata(data, cv2.IMREAD_UNCHANGED) if data.size else (None, (), ())
    avif = path.suffix.lower() == ".avif" or picture_kind(data[:4096].tobytes()) == ".avif"  # (a pipe's: by content)
    head = data[:65536].tobytes() if avif else b""  # only an AVIF's depth is in it
    image = full_range(image, head, ".avif" if avif else path.suffix)
    if image is None or image.size == 0:
        raise InputError(f"{path} is not a readable image (empty, truncated or not really {path.suffix})")
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: {image.dtype} samples are not supported; convert to 8- or 16-bit")
    read = tuple((int(t), np.asarray(c, np.uint8).tobytes()) for t, c in zip(np.asarray(types).ravel(), chunks)
                 if int(t) in _KEPT_TYPES)
    read = tuple((t, bare_xmp(c) if t == cv2.IMAGE_METADATA_XMP else c) for t, c in read)
    if bytes(data[:2]) == b"\xff\xd8" and cv2.IMAGE_METADATA_ICCP in dict(read):  # its own, not every APP2's
        profile = jpeg_icc(memoryview(data))
        read = tuple((t, profile if t == cv2.IMAGE_METADATA_ICCP else c) for t, c in read
                     if t != cv2.IMAGE_METADATA_ICCP or profile)
    read += tuple(b for b in tiff_blocks(memoryview(data)) if b[0] not in {t for t, _ in read})  # OpenCV reads none
    read = _without_foreign_profile(path, read, tiff[0][1] if tiff else _jpeg_cmyk(memoryview(data)))
    if tiff:
        image = _as_stored(image, tiff[0])
    profile = _avif_profile(head) if head and cv2.IMAGE_METADATA_ICCP not in dict(read) else b""
    if profile:  # which OpenCV does not read from an AVIF (a P3 phone photo's, an Adobe RGB export's)
        read += ((cv2.IMAGE_METADATA_ICCP, profile),)
    turned = _container_orientation(path, data) if head else 1
    if turned != 1:  # as libheif turns a HEIC, and browsers an AVIF; its EXIF, where it has one, then says 1
        image = upright(image, turned)
        read = _with_exif(read, _exif_upright)
    stored = _stored(memoryview(data))
    found = png_xmp(stored[0]) if stored[1] == ".png" and cv2.IMAGE_METADATA_XMP not in dict(read) else None
    if found:  # an iTXt's, which OpenCV does not read: into another format's output (a PNG's copies the chunk)
        read += ((cv2.IMAGE_METADATA_XMP, bare_xmp(found)),)
    meta = StillMetadata(read,
                         avif_bits(head) if image.dtype == np.uint16 and avif else 0,
                         lossy_source(path, data[:4096].tobytes()), *stored,
                         further=_further_pictures(data), shape=image.shape[:2],
                         motion=motion_video(memoryview(data), dict(read).get(cv2.IMAGE_METADATA_XMP))
                         if stored[1] == ".jpg" else b"")
    if image.ndim == 2 and path.suffix.lower() in PAGED_SUFFIXES:
        # OpenCV reads a grey TIFF with alpha (a scanned signature, a mask) as grey, its alpha dropped;
        # FFmpeg keeps it
        with contextlib.suppress(InputError):  # a TIFF FFmpeg cannot read: OpenCV's grey
            with_alpha = _decode_av_still(path)[0]
            if with_alpha.shape[2] == 4:
                return with_alpha, meta
    if image.ndim == 2:
        return image[:, :, None], meta
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), meta
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA), meta
    raise InputError(f"{path}: {image.shape[2]} channels are not supported")


def write_still(path: Path, image: np.ndarray, *, png_compression: int | None = None,
                metadata: StillMetadata | None = None, quality: int | None = None) -> None:
    """Write atomically (temporary file + rename), in the format ``path``'s extension names.
    ``png_compression`` (0-9) overrides OpenCV's default zlib level for PNG files. ``metadata``
    (from :func:`read_still_with_metadata`) is written where the format holds it; elsewhere the
    pixels are turned as its EXIF orientation says. ``quality`` (1-100, ``--quality``): a JPEG's,
    WebP's (then lossy), AVIF's or HEIC's, in place of sr-stream's (:data:`LOSSY_SUFFIXES`);
    nothing to the lossless formats.

    Raises:
        OutputError: the encoder refuses, or the disk is full / the folder not writable.
    """
    chunks = metadata.chunks if metadata is not None else ()
    if chunks and path.suffix.lower() not in _KEEPS_METADATA:
        image, chunks = upright(image, metadata.orientation), ()
    elif chunks and path.suffix.lower() in _UPRIGHT_METADATA and metadata.orientation != 1:
        image = upright(image, metadata.orientation)
        chunks = _with_exif(chunks, _exif_upright)
    chunks = _with_exif(chunks, lambda exif: _exif_sized(exif, image.shape[1], image.shape[0]))
    if path.suffix.lower() in HEIF_SUFFIXES:
        return _write_heif(path, image, chunks, metadata.bits if metadata is not None else 0, quality)
    if path.suffix.lower() in JXL_SUFFIXES:
        return _write_jxl(path, image, chunks, quality)
    swap = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(image.shape[2])
    if swap is not None and image.flags.c_contiguous and image.flags.writeable:
        # OpenCV encodes BGR: R and B swapped in place and back after, not copied (a 48-megapixel
        # photo at x4 is a 2.3 GB output)
        cv2.cvtColor(image, swap, dst=image)
        try:
            return _encode_bgr(path, image, chunks, metadata, png_compression, quality)
        finally:
            cv2.cvtColor(image, swap, dst=image)
    if swap is not None:
        image = cv2.cvtColor(image, swap)
    return _encode_bgr(path, image, chunks, metadata, png_compression, quality)


def _encode_bgr(path: Path, image: np.ndarray, chunks: tuple[tuple[int, bytes], ...],
                metadata: StillMetadata | None, png_compression: int | None, quality: int | None = None) -> None:
    """:func:`write_still` of an image already in OpenCV's channel order."""
    # the format it is written in: a JPEG by any of its names (a stereo camera's .mpo is one)
    suffix = ".jpg" if path.suffix.lower() in (".jpeg", ".mpo") else path.suffix.lower()
    if image.dtype == np.uint16 and suffix in _EIGHT_BIT_ONLY:
        image = (image / 257.0 + 0.5).astype(np.uint8)
    if suffix == ".jpg" and image.shape[2] == 4:
        image = _flattened(path, image)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality or 95] if suffix == ".jpg" else []
    turned = False  # the pixels were turned upright here: pictures stored behind them would not fit
    if params and image.shape[2] == 3:
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _JPEG_SAMPLING[_chroma(metadata)]]
    if suffix == ".webp" and (quality or (metadata is not None and metadata.lossy)):
        params = [cv2.IMWRITE_WEBP_QUALITY, quality or WEBP_LOSSY_QUALITY]  # else OpenCV's default: lossless
    if suffix == ".avif":
        image, params = _avif(image, metadata.bits if metadata is not None else 0, quality)
    if png_compression is not None and suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
    density = metadata.density if metadata is not None else None
    if density is not None and suffix in (".tif", ".tiff"):  # OpenCV wrote no resolution at all
        params = [*params, cv2.IMWRITE_TIFF_RESUNIT, 2, cv2.IMWRITE_TIFF_XDPI, max(1, round(density[0])),
                  cv2.IMWRITE_TIFF_YDPI, max(1, round(density[1]))]
    ok = False
    kept, kind = (metadata.stored, metadata.stored_in) if metadata is not None else ((), "")
    xmp = dict(chunks).get(cv2.IMAGE_METADATA_XMP)
    if xmp is not None and suffix in (".jpg", ".png"):  # OpenCV's JPEG XMP is behind its header; a PNG's is spliced
        chunks = tuple((t, XMP_JPEG_HEADER + c) if t == cv2.IMAGE_METADATA_XMP else (t, c) for t, c in chunks
                       if suffix == ".jpg" or t != cv2.IMAGE_METADATA_XMP)
        # OpenCV writes a PNG's XMP with 4 bytes of whatever follows the packet; it goes in as an iTXt, where
        # the input's own text chunks (copied as they were) hold none
        xmp = png_xmp_chunk(xmp) if suffix == ".png" and not (kind == ".png" and png_xmp(kept)) else None
    else:
        xmp = None
    if chunks:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # the failure is reported below
        try:
            ok, data = cv2.imencodeWithMetadata(suffix, image, [t for t, _ in chunks],
                                                [np.frombuffer(c, np.uint8) for _, c in chunks], params)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not ok:  # e.g. libpng refuses a malformed ICC profile that a JPEG carried
            log.warning(f"note: {path.name}: the input's metadata (EXIF/ICC/XMP) does not fit a {path.suffix} "
                        "file; written without it, turned upright")
            image = upright(image, metadata.orientation) if metadata is not None else image
            turned = metadata is not None and metadata.orientation != 1
            xmp = None
    if not ok:
        ok, data = cv2.imencode(suffix, image, params)
    if not ok:
        raise OutputError(f"cannot encode {path.name} as {path.suffix}")
    spliced = None  # the encoded file's bytes with what OpenCV does not write, copied out of its array once
    if suffix in (".tif", ".tiff") and (image.shape[2] in (2, 4) or metadata is not None and any(
            t in _TIFF_BLOCKS.values() or t == cv2.IMAGE_METADATA_EXIF for t, _ in metadata.chunks)):
        spliced = _with_tiff_blocks(data.tobytes(), _with_exif(
            metadata.chunks, lambda exif: _exif_sized(exif, image.shape[1], image.shape[0]))
            if metadata is not None else ())
    if density is not None and suffix in (".png", ".jpg") and not suffix == kind == ".png":  # a PNG's pHYs is kept
        spliced = _with_density(suffix, data.tobytes(), density)
    if kept and suffix == kind:
        insert = _with_png_chunks if kind == ".png" else _with_jpeg_segments
        spliced = insert(data.tobytes() if spliced is None else spliced, kept)
    elif kind == ".png" and any(chunk[4:8] in PNG_TEXT_CHUNKS for chunk in kept):
        log.warning(f"note: {path.name}: the input's PNG text (generation parameters, a title, ...) has no place in "
                    f"a {path.suffix} file; write .png to keep it")
    elif kind == ".jpg" and kept:
        log.warning(f"note: {path.name}: the input's IPTC block and comments (caption, keywords, copyright) are "
                    f"JPEG's own; not kept in a {path.suffix} file (EXIF and XMP are)")
    if xmp is not None:  # a PNG's XMP, as an iTXt chunk
        spliced = _with_png_chunks(data.tobytes() if spliced is None else spliced, (xmp,))
    if kind == ".png" and suffix != kind and any(chunk[4:8] == b"cICP" for chunk in kept):
        log.warning(f"note: {path.name}: the input is an HDR PNG (its cICP chunk says how to show it), which a "
                    f"{path.suffix} file written here does not say: it will be shown as SDR; write .png to keep it")
    further = metadata.further if metadata is not None else None
    if further is not None:
        spliced = _with_further(path, data.tobytes() if spliced is None else spliced, further, image.shape,
                                metadata.shape, suffix == ".jpg" and not turned)
    if metadata is not None and metadata.motion:  # last in the file, where its XMP places it
        if suffix == ".jpg" and not turned:
            spliced = (data.tobytes() if spliced is None else spliced) + metadata.motion
        else:
            log.warning(f"note: {path.name}: the input is a motion photo, whose video is carried into a .jpg output "
                        "only: this one is the still picture")
    _write_encoded(path, data if spliced is None else np.frombuffer(spliced, np.uint8))


def _with_further(path: Path, encoded: bytes, further: Any,  # noqa: ANN401 - srstream.engine.mpf.MpfSet
                  shape: tuple[int, ...], stored: tuple[int, int], fits: bool) -> bytes:
    """``encoded`` (a JPEG output) with the input's pictures behind its first, scaled as the picture
    was (:func:`srstream.engine.mpf.with_further_pictures`); as it was, with a note, where they do
    not decode or the output cannot hold them (``fits`` False: not a JPEG, or turned upright)."""
    from srstream.engine.mpf import carried, is_view, scaled_with_it, with_further_pictures

    what = "HDR gain map or depth map (a Multi-Picture JPEG's further pictures"
    if not fits:  # a camera's preview alone goes without a word: any viewer makes its own
        if scaled_with_it(further) and path.suffix.lower() in (".jpg", ".jpeg"):
            log.warning(f"note: {path.name}: the input's {what}) is left out: the picture was turned upright, its "
                        "metadata not fitting; it shows as SDR")
        elif scaled_with_it(further):
            log.warning(f"note: {path.name}: the input's {what}, an Ultra HDR photo's HDR) is carried into a .jpg "
                        "output only: this one shows as SDR")
        elif any(is_view(picture) for picture in further.pictures):
            log.warning(f"note: {path.name}: the input's further views (a stereo camera's other eye, a panorama's "
                        "parts) are carried into a .jpg or .mpo output only: this one holds the first view")
        return encoded
    if len(carried(further).pictures) < len(further.pictures):
        log.warning(f"note: {path.name}: the input's further pictures that are views of their own (a stereo "
                    "camera's second eye, a panorama's parts) are left out: the output is the first view")
    joined = with_further_pictures(encoded, further, (shape[1] / stored[1], shape[0] / stored[0]), _jpeg_walk)
    if joined is None:
        log.warning(f"note: {path.name}: the input's {what}) did not decode and is left out: it shows as SDR")
        return encoded
    return joined


_JPEG_SAMPLING = {"411": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411, "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
                  "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422, "440": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440,
                  "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444}


def _chroma(metadata: StillMetadata | None) -> str:
    """A JPEG output's chroma subsampling: a JPEG source's own; 4:2:0 for another lossy one (a
    lossy WebP's colours are stored so) and for a video's frames (no ``metadata``); 4:4:4 for a
    lossless one (a PNG, a TIFF), whose colours 4:2:0 halved: over Set14 upscaled x2, JPEG quality
    95 at 4:4:4 is 1.95 dB closer to the upscale than at 4:2:0, for 22% more bytes."""
    if metadata is None:
        return "420"
    return metadata.chroma or ("420" if metadata.lossy else "444")


def _flattened(path: Path, image: np.ndarray) -> np.ndarray:
    """An image with alpha (BGRA, 8-bit) for a JPEG, which holds none: its colours where it is
    opaque, laid on white where it is not (as GIMP, Photoshop and ImageMagick's ``-flatten`` save
    one), with a note. JPEG's encoder dropped the alpha plane instead, baring whatever colours the
    transparent pixels hid (often noise, or black)."""
    alpha = image[:, :, 3]
    if alpha.min() == 255:
        return image[:, :, :3]
    log.warning(f"note: {path.name}: JPEG holds no transparency; its transparent parts are laid on white (write .png "
                "or .webp to keep them)")
    weight = alpha.astype(np.float32)[:, :, None] * np.float32(1 / 255)
    flat = image[:, :, :3] * weight + np.float32(255) * (1 - weight)
    return np.rint(flat).astype(np.uint8)


def _write_encoded(path: Path, data: np.ndarray) -> None:
    """An encoded file's bytes to ``path``: a temporary file under a lock, renamed when whole.

    Raises:
        OutputError: the disk is full or the folder not writable.
    """
    with PendingOutput(path) as pending:
        try:
            pending.tmp.write_bytes(data)  # the encoder's buffer as it is, not a copy
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}; check the folder and free space") from exc
        pending.commit()


def animation_frames(path: Path) -> int:
    """How many frames an animated PNG (its ``acTL`` chunk), WebP (its ``ANMF`` chunks) or AVIF
    image sequence (brand ``avis``: its track's ``stsz`` count) holds, read from the file's
    headers; 1 for a still image, another format, or a file whose header cannot be read (the
    decoder reports what is wrong with it)."""
    return _animation_header(path)[0]


def tiff_pages(path: Path) -> int:
    """How many pages (images in its chain of image file directories) a TIFF or BigTIFF holds,
    read from its headers without decoding; 1 for a file that is not a TIFF or whose header cannot
    be read (the decoder reports what is wrong with it).

    Read by hand: a chain of offsets, and neither OpenCV (``imcount`` decodes every page) nor
    Pillow (not a dependency of the engine) counts pages without reading them."""
    try:
        with open(path, "rb") as f:
            def read(at: int, size: int) -> bytes:
                f.seek(at)
                return f.read(size)

            return max(1, len(_directory_chain(read)))
    except OSError:
        return 1


def _directory_chain(read: Callable[[int, int], bytes]) -> list[int]:
    """Where each directory of a TIFF or BigTIFF begins, in page order, through ``read(offset,
    size)``; none for a file that is not a TIFF. A chain that loops, or runs past the end, stops
    there (a damaged file)."""
    head = read(0, 16)
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return []
    order = "little" if head[:2] == b"II" else "big"
    big = int.from_bytes(head[2:4], order) == 43  # BigTIFF: 8-byte counts and offsets
    count_size, entry_size, offset_size = (8, 20, 8) if big else (2, 12, 4)
    ifd = int.from_bytes(head[8:16] if big else head[4:8], order)
    chain: list[int] = []
    seen: set[int] = set()
    while ifd and ifd not in seen and len(chain) < 100_000:
        seen.add(ifd)
        count = read(ifd, count_size)
        if len(count) < count_size:
            break
        following = read(ifd + count_size + int.from_bytes(count, order) * entry_size, offset_size)
        chain.append(ifd)
        ifd = int.from_bytes(following, order) if len(following) == offset_size else 0
    return chain


def _unnamed(path: Path) -> bool:
    """Whether ``path``'s name does not say what kind of picture it holds (no extension, an unknown
    one, ``.jfif``): its content then says whether it is an animation or a TIFF of pages."""
    return path.suffix.lower() not in (*IMAGE_SUFFIXES, *AV_STILL_SUFFIXES, ".gif")


def image_frames(path: Path) -> int:
    """An image file's pictures: an animation's frames (:func:`animation_frames`), a TIFF's pages
    (:func:`tiff_pages`), else 1."""
    suffix = path.suffix.lower()
    unnamed = _unnamed(path)
    if suffix in ANIMATION_SUFFIXES or unnamed:
        if (frames := animation_frames(path)) > 1 or not unnamed:
            return frames
    return tiff_pages(path) if suffix in PAGED_SUFFIXES or unnamed else 1


def _animation_header(path: Path) -> tuple[int, bool]:
    """:func:`animation_frames`, and whether the file says it holds EXIF, ICC or XMP metadata (a
    PNG's ``eXIf``/``iCCP``/``iTXt`` chunks before its pictures, a WebP's ``VP8X`` flags)."""
    frames, metadata = 1, False
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:8] == b"\x89PNG\r\n\x1a\n":
                f.seek(8)
                while True:  # acTL, iCCP and eXIf come before the first IDAT
                    chunk = f.read(8)
                    if len(chunk) < 8 or chunk[4:] in (b"IDAT", b"IEND"):
                        return frames, metadata
                    size = int.from_bytes(chunk[:4], "big")
                    metadata |= chunk[4:] in (b"eXIf", b"iCCP", b"iTXt")
                    if chunk[4:] == b"acTL":
                        frames = max(1, int.from_bytes(f.read(4), "big"))
                        size -= 4
                    f.seek(size + 4, os.SEEK_CUR)
            if head[4:8] == b"ftyp":  # ISO BMFF: an AVIF still (avif) or image sequence (avis)
                size = int.from_bytes(head[:4], "big")
                brands = head[8:12] + f.read(max(0, size - 12))
                if b"avis" not in [brands[i:i + 4] for i in range(0, len(brands), 4)]:
                    return frames, metadata
                f.seek(0)
                data = f.read(1 << 20)
                at = data.find(b"stsz")  # sample size table: version/flags, size, count
                if at >= 0 and len(data) >= at + 16:
                    return max(1, int.from_bytes(data[at + 12:at + 16], "big")), metadata
                ok, animation = cv2.imdecodeanimation(np.fromfile(path, np.uint8))
                return (max(1, len(animation.frames)) if ok else 1), metadata
            if head[:4] == b"RIFF" and head[8:] == b"WEBP":
                count = 0
                while True:
                    chunk = f.read(8)
                    if len(chunk) < 8:
                        return max(1, count), metadata
                    size = int.from_bytes(chunk[4:], "little")
                    skip = size + (size & 1)  # chunks are padded to an even size
                    if chunk[:4] == b"VP8X":
                        metadata = bool(f.read(1)[0] & 0x2C)  # ICC, EXIF, XMP
                        skip -= 1
                    count += chunk[:4] == b"ANMF"
                    f.seek(skip, os.SEEK_CUR)
    except (OSError, IndexError):
        pass
    return frames, metadata


def _check_memory(src: Path, image: np.ndarray, scale: int) -> None:
    """Refuse, before the work, a picture whose upscale and its encoded file (at worst as large,
    held at once) would take more than :data:`STILL_MEMORY_SHARE` of this machine's memory: it
    failed with numpy's traceback (a 30000x30000 scan at x4: 40.2 GiB), or took the machine into
    swap. A large picture's working memory is bounded apart from that (in bands:
    :data:`srstream.engine.upscaler.BAND_BYTES`).

    Raises:
        InputError: the upscaled picture would take more.
    """
    from srstream.sysinfo import total_memory

    height, width = image.shape[:2]
    picture = height * width * scale * scale * image.shape[2] * image.itemsize
    if 2 * picture > total_memory() * STILL_MEMORY_SHARE:
        raise InputError(f"{src} is {width}x{height}; upscaled x{scale} it would be {width * scale}x"
                         f"{height * scale}: {picture / 2**30:.1f} GiB, and as much again to encode, more than this "
                         f"machine's {total_memory() / 2**30:.1f} GiB hold; upscale it by a smaller factor (--scale 2, "
                         "--height), or cut it into parts first")


def _animation_memory() -> int:
    from srstream.sysinfo import total_memory

    return int(total_memory() * ANIMATION_MEMORY_SHARE)


def read_animation(path: Path) -> tuple[list[np.ndarray], list[int], int]:
    """An animated PNG or WebP: its frames as :func:`read_still` gives an image (each one whole,
    as a viewer shows it), their durations in ms, and the loop count (0: for ever).

    Raises:
        InputError: unreadable or truncated.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    ok, animation = cv2.imdecodeanimation(data) if data.size else (False, None)
    if not ok or not animation.frames:
        raise InputError(f"{path} is not a readable animation (empty, truncated or not really {path.suffix})")
    frames, head = list(animation.frames), data[:65536].tobytes()
    for i, frame in enumerate(frames):
        if frame.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{path}: {frame.dtype} samples are not supported; convert to 8- or 16-bit")
        frames[i] = _rgb(full_range(frame, head, path.suffix))
    return frames, [int(d) for d in animation.durations], int(animation.loop_count)


def read_pages(path: Path) -> list[np.ndarray]:
    """A multi-page TIFF's pages, each as :func:`read_still` gives an image (its own size, depth
    and channels).

    Raises:
        InputError: unreadable, or a page of an unsupported sample type (e.g. float).
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    tiff = _unmark_alpha(data)
    ok, pages = cv2.imdecodemulti(data, cv2.IMREAD_UNCHANGED) if data.size else (False, ())
    if not ok or not pages:
        raise InputError(f"{path} is not a readable image (empty, truncated or not really {path.suffix})")
    out = []
    for number, page in enumerate(pages, 1):
        if page.dtype not in (np.uint8, np.uint16):
            raise InputError(f"{path}: page {number} has {page.dtype} samples, which are not supported; convert to "
                             "8- or 16-bit")
        if page.ndim == 3 and page.shape[2] not in (1, 3, 4):
            raise InputError(f"{path}: page {number} has {page.shape[2]} channels, which are not supported")
        if number <= len(tiff):
            page = _as_stored(page, tiff[number - 1])
        out.append(_rgb(page))
    return out


def page_metadata(path: Path) -> list[tuple[tuple[tuple[int, bytes], ...], tuple[float, float] | None]]:
    """Each page's metadata of a multi-page TIFF, in page order: its ICC profile, XMP and EXIF
    (:func:`tiff_blocks`) and pixels per inch (:func:`tiff_density`); none for a file that cannot
    be read so (a BigTIFF)."""
    try:
        data = memoryview(np.fromfile(path, dtype=np.uint8))
        _tiff_directory(data)
        return [(tuple(b for b in tiff_blocks(data, at) if not _foreign_profile(*b)), tiff_density(data, at))
                for at in _directory_chain(lambda at, size: bytes(data[at:at + size]))]
    except (OSError, struct.error, ValueError, IndexError):
        return []


def write_pages(path: Path, pages: list[np.ndarray],
                metadata: list[tuple[tuple[tuple[int, bytes], ...], tuple[float, float] | None]] | None = None) -> None:
    """Write RGB(A) or grey ``pages`` (uint8 or uint16, each its own size) as one multi-page TIFF,
    atomically, with each page's ``metadata`` where given (:func:`page_metadata`: a scan's pixels
    per inch, ICC profile, XMP, EXIF). The pages are converted for the encoder in place, one at a
    time.

    Raises:
        OutputError: the encoder refuses, or the disk is full / the folder not writable.
    """
    swaps = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}
    for i, page in enumerate(pages):
        pages[i] = cv2.cvtColor(page, swaps[page.shape[2]]) if page.shape[2] in swaps else page[:, :, 0]
    ok, data = cv2.imencodemulti(path.suffix, pages)
    if not ok:
        raise OutputError(f"cannot encode {path.name} as a {path.suffix} of {len(pages)} pages")
    if metadata or any(page.ndim == 3 and page.shape[2] == 4 for page in pages):
        data = np.frombuffer(_with_tiff_pages(data.tobytes(), metadata or []), np.uint8)
    _write_encoded(path, data)


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image[:, :, None]
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def _bgr(image: np.ndarray, suffix: str) -> np.ndarray:
    if image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)  # the animation encoders take colour frames
    elif image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    if image.dtype == np.uint16 and suffix in _EIGHT_BIT_ONLY:
        image = (image / 257.0 + 0.5).astype(np.uint8)
    return image


def write_animation(path: Path, frames: list[np.ndarray], durations: list[int], loop_count: int,
                    lossy: bool = False, quality: int | None = None) -> None:
    """Write RGB(A) or grey ``frames`` as one animated PNG or WebP (``path``'s extension), atomically.
    The frames are converted for the encoder in place, one at a time (the list then holds them in
    its order). ``lossy``: a WebP is written lossy (:func:`lossy_source`), else lossless;
    ``quality``: a WebP's (lossy) or AVIF's, as :func:`write_still` takes it.

    Raises:
        OutputError: the encoder refuses, or the disk is full / the folder not writable.
    """
    suffix = path.suffix.lower()
    # WebP lossless, as OpenCV writes a still WebP (its animation encoder's default is lossy, at quality 75),
    # or lossy at the quality a still of a lossy source gets
    webp = quality or (WEBP_LOSSY_QUALITY if lossy else 101)
    params = [cv2.IMWRITE_WEBP_QUALITY, webp] if suffix == ".webp" else []
    for i, frame in enumerate(frames):
        frames[i] = _bgr(frame, suffix)
        if suffix == ".avif":
            frames[i], params = _avif(frames[i], 0, quality)
    animation = cv2.Animation()
    animation.frames, animation.durations, animation.loop_count = frames, list(durations), loop_count
    ok, data = cv2.imencodeanimation(suffix, animation, params)
    if not ok:
        raise OutputError(f"cannot encode {path.name} as an animated {suffix}")
    _write_encoded(path, data)


def _avif(image: np.ndarray, bits: int, quality: int | None = None) -> tuple[np.ndarray, list[int]]:
    """An image and the encoder parameters for an AVIF file (at ``quality``, or :data:`AVIF_QUALITY`):
    8-bit as it is, 16-bit samples in ``bits`` (10 or 12; an AVIF holds no more: 12 for deeper
    sources) over their full range."""
    params = [cv2.IMWRITE_AVIF_QUALITY, quality or AVIF_QUALITY]
    if image.dtype != np.uint16:
        return image, params
    bits = bits if bits in (10, 12) else 12
    top = (1 << bits) - 1
    return ((image.astype(np.uint32) * top + 32767) // 65535).astype(np.uint16), params + [cv2.IMWRITE_AVIF_DEPTH, bits]


def _upscale_animation(src: Path, dst: Path, upscaler: FrameUpscaler, quality: int | None = None) -> tuple[int, int]:
    if dst.suffix.lower() not in ANIMATION_SUFFIXES:
        raise ConfigError(f"{src} is an animation; {dst.suffix or 'a file without extension'} holds one picture: "
                          f"write {' or '.join(ANIMATION_SUFFIXES)}")
    frames, durations, loop_count = read_animation(src)
    check_image_size(dst, *output_size(upscaler, frames[0].shape[1], frames[0].shape[0]))
    scale = upscaler.spec.scale
    needed = sum(f.shape[0] * f.shape[1] * max(3, f.shape[2]) * f.itemsize for f in frames) * scale * scale
    if needed > _animation_memory():
        height, width = frames[0].shape[:2]
        raise InputError(f"{src} is an animation of {len(frames)} frames of {width}x{height}; upscaled x{scale}, its "
                         f"frames would take {needed / 2**30:.1f} GiB, more than half of this machine's memory "
                         "(they are encoded together); split it into shorter animations first")
    previous = None
    for i, frame in enumerate(frames):
        if previous is not None and np.array_equal(frame, previous[0]):
            out = previous[1]  # a frame that repeats the one before: the same output
        else:
            out = upscaler.upscale(frame)
        previous = frame, out
        frames[i] = out
    width, height = frames[0].shape[1], frames[0].shape[0]
    write_animation(dst, frames, durations, loop_count, lossy=lossy_source(src), quality=quality)
    if _animation_header(src)[1]:  # OpenCV reads an animation's metadata no more than it writes it
        log.warning(f"note: {src.name}: the animation's EXIF/ICC/XMP metadata is not kept (OpenCV writes animations "
                    "without it)")
    return width, height


def _upscale_pages(src: Path, dst: Path, upscaler: FrameUpscaler, count: int) -> tuple[int, int]:
    """A multi-page TIFF into a TIFF of as many pages; returns the first page's output size."""
    if dst.suffix.lower() not in PAGED_SUFFIXES:
        raise ConfigError(f"{src} is a TIFF of {count} pages; {dst.suffix or 'a file without extension'} holds one "
                          f"picture: write {' or '.join(PAGED_SUFFIXES)}")
    pages = read_pages(src)
    for page in pages:
        check_image_size(dst, *output_size(upscaler, page.shape[1], page.shape[0]))
    scale = upscaler.spec.scale
    needed = sum(p.shape[0] * p.shape[1] * p.shape[2] * p.itemsize for p in pages) * scale * scale
    if needed > _animation_memory():
        raise InputError(f"{src} holds {len(pages)} pages; upscaled x{scale}, they would take "
                         f"{needed / 2**30:.1f} GiB, more than half of this machine's memory (they are encoded "
                         "together); split it into smaller files first")
    for i, page in enumerate(pages):
        pages[i] = upscaler.upscale(page)
    width, height = pages[0].shape[1], pages[0].shape[0]
    metadata = page_metadata(src)  # each page's own, where OpenCV read every page of the chain
    write_pages(dst, pages, metadata if len(metadata) == len(pages) else None)
    return width, height


def _upscale_gif(src: Path, dst: Path, upscaler: FrameUpscaler, quality: int | None = None) -> tuple[int, int]:
    """A GIF of a folder run, into a GIF through the video pipeline (every frame at its time, a
    palette for each, its transparency kept), as ``sr-stream clip.gif -o out.gif`` makes it, or
    into an animated WebP (``--ext webp``; :mod:`srstream.engine.animated`, at ``quality``).

    Raises:
        InputError: unreadable, or it ended early. KeyboardInterrupt: Ctrl-C (a partial output
        is kept as ``NAME.interrupted.gif``, never under the output's name).
    """
    from srstream.engine.encode import options_for
    from srstream.engine.video import upscale_video

    check_image_size(dst, *output_size(upscaler, *_gif_size(src)))
    if dst.suffix.lower() == ".webp":
        from srstream.engine.animated import upscale_to_animation

        report = upscale_to_animation(src, dst, upscaler, memory=_animation_memory(), quality=quality)
    else:
        options = options_for(dst.suffix, None, None, copy_audio=False, copy_subtitles=False)
        report = upscale_video(src, dst, upscaler, options)
    if report.interrupted:
        raise KeyboardInterrupt
    if report.decode_error:
        raise InputError(f"{src}: {report.decode_error} ({report.frames_out} frames written)")
    return output_size(upscaler, *_gif_size(src))


def _gif_size(path: Path) -> tuple[int, int]:
    """A GIF's logical screen (width, height): its header's bytes 6-9."""
    with open(path, "rb") as f:
        head = f.read(10)
    return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")


def _write_heif(path: Path, image: np.ndarray, chunks: tuple[tuple[int, bytes], ...], bits: int,
                quality: int | None = None) -> None:
    """An HEIC/HEIF through pillow-heif at ``quality`` or :data:`HEIF_QUALITY`, with the EXIF, ICC and XMP blocks;
    16-bit samples as 12 bits where the source had 12, else 10 (what HEIC holds)."""
    try:
        import pillow_heif
    except ImportError as exc:
        from srstream.errors import DependencyError

        raise DependencyError(f"{path.name}: HEIC/HEIF images need pillow-heif: pip install 'sr-stream[heif]'") from exc
    deep = image.dtype == np.uint16
    mode = {1: "I;16" if deep else "L", 3: "RGB;16" if deep else "RGB",
            4: "RGBA;16" if deep else "RGBA"}[image.shape[2]]
    heif = pillow_heif.from_bytes(mode=mode, size=(image.shape[1], image.shape[0]),
                                  data=np.ascontiguousarray(image).tobytes())
    blocks = {kind: data for kind, data in chunks}
    extra = {"exif": b"Exif\0\0" + blocks[cv2.IMAGE_METADATA_EXIF] if cv2.IMAGE_METADATA_EXIF in blocks else None,
             "icc_profile": blocks.get(cv2.IMAGE_METADATA_ICCP), "xmp": blocks.get(cv2.IMAGE_METADATA_XMP)}
    twelve, pillow_heif.options.SAVE_HDR_TO_12_BIT = pillow_heif.options.SAVE_HDR_TO_12_BIT, bits == 12
    with PendingOutput(path) as pending:
        try:
            heif.save(pending.tmp, quality=quality or HEIF_QUALITY, **{k: v for k, v in extra.items() if v})
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}; check the folder and free space") from exc
        except (ValueError, RuntimeError) as exc:
            raise OutputError(f"cannot encode {path.name} as HEIC: {exc}") from exc
        finally:
            pillow_heif.options.SAVE_HDR_TO_12_BIT = twelve
        pending.commit()


def _write_jxl(path: Path, image: np.ndarray, chunks: tuple[tuple[int, bytes], ...],
               quality: int | None = None) -> None:
    """A JPEG XL through pillow-jxl-plugin at ``quality`` or :data:`JXL_QUALITY` (100: lossless), with the EXIF
    and XMP blocks. The plugin writes no ICC profile: a colour picture with one not sRGB's is converted to sRGB
    (Pillow's LittleCMS), so it shows as it did, and said; 16-bit colour pictures are written in 8 bits (it
    takes 16 for grey only), and said."""
    try:
        from pillow_jxl import Encoder
    except ImportError as exc:
        from srstream.errors import DependencyError

        raise DependencyError(f"{path.name}: JPEG XL images need pillow-jxl-plugin: pip install 'sr-stream[jxl]'") \
            from exc
    blocks = {kind: data for kind, data in chunks}
    if image.dtype == np.uint16 and image.shape[2] > 1:
        log.warning(f"note: {path.name}: written in 8 bits a sample (pillow-jxl-plugin writes 16 for grey pictures "
                    "only); a PNG or TIFF output keeps 16")
        image = (image / 257.0).round().astype(np.uint8)
    profile = blocks.get(cv2.IMAGE_METADATA_ICCP)
    if profile and image.shape[2] >= 3:
        image = _in_srgb(path, image, profile)
    mode = {1: "I;16" if image.dtype == np.uint16 else "L", 3: "RGB", 4: "RGBA"}[image.shape[2]]
    exif = blocks.get(cv2.IMAGE_METADATA_EXIF)
    lossless = quality == 100
    try:
        encoder = Encoder(mode, lossless=lossless, quality=100 if lossless else quality or JXL_QUALITY)
        data = encoder(np.ascontiguousarray(image).astype("<u2" if mode == "I;16" else np.uint8).tobytes(),
                       image.shape[1], image.shape[0], False,
                       exif=b"\0\0\0\0" + exif if exif else None,  # the box's offset to its TIFF header: none
                       xmp=blocks.get(cv2.IMAGE_METADATA_XMP) or None)
    except (ValueError, RuntimeError, OSError) as exc:
        raise OutputError(f"cannot encode {path.name} as JPEG XL: {exc}") from exc
    write_atomic(path, data)


def _in_srgb(path: Path, image: np.ndarray, profile: bytes) -> np.ndarray:
    """``image`` (RGB or RGBA, uint8) converted from the colours of the ICC ``profile`` to sRGB; as it is where the
    profile gives sRGB's colours (within a level, on a grid of colours) or cannot be read (said)."""
    import io

    from PIL import Image, ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        name = (ImageCms.getProfileDescription(source) or "").strip() or "unnamed"
        into = ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "RGB", "RGB",
                                       ImageCms.Intent.RELATIVE_COLORIMETRIC)
    except (OSError, ImageCms.PyCMSError) as exc:
        log.warning(f"note: {path.name}: its ICC profile is left out (it cannot be read: {exc}; pillow-jxl-plugin "
                    "writes none), so its colours show as sRGB")
        return image
    levels = np.linspace(0, 255, 6).round().astype(np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels), axis=-1).reshape(1, -1, 3)
    shown = np.asarray(ImageCms.applyTransform(Image.fromarray(grid), into))
    if np.abs(shown.astype(np.int16) - grid).max() <= 1:  # sRGB's own (libjxl names it "RGB_D65_SRG_Rel_SRG")
        return image
    log.warning(f"note: {path.name}: its colours are converted from its ICC profile ({name}) to sRGB, which "
                "pillow-jxl-plugin writes them in (it writes no profile); a PNG, JPEG or TIFF output keeps the profile")
    converted = np.asarray(ImageCms.applyTransform(Image.fromarray(np.ascontiguousarray(image[:, :, :3])), into))
    return converted if image.shape[2] == 3 else np.dstack([converted, image[:, :, 3]])


def upscale_image(src: Path, dst: Path, upscaler: FrameUpscaler, quality: int | None = None) -> tuple[int, int]:
    """Upscale one image file, an animated PNG or WebP into an animation (:func:`animation_frames`),
    or a multi-page TIFF into one of as many pages; returns the output ``(width, height)`` (a
    TIFF's first page's). ``quality``: a lossy output's (:func:`write_still`).

    Raises:
        ConfigError: an animation or a multi-page TIFF written to a format of one picture. OutputError: an image too
            large for its output's format (:func:`srstream.engine.outputs.check_image_size`).
    """
    unnamed = _unnamed(src)
    if (src.suffix.lower() in ANIMATION_SUFFIXES or unnamed) and animation_frames(src) > 1:
        return _upscale_animation(src, dst, upscaler, quality)
    if (src.suffix.lower() in PAGED_SUFFIXES or unnamed) and (pages := tiff_pages(src)) > 1:
        return _upscale_pages(src, dst, upscaler, pages)
    if src.suffix.lower() == ".gif" and dst.suffix.lower() in (".gif", ".webp"):
        return _upscale_gif(src, dst, upscaler, quality)  # (a GIF of one frame into another format: a picture)
    image, metadata = read_still_with_metadata(src)
    check_image_size(dst, *output_size(upscaler, image.shape[1], image.shape[0]))  # before the work, not after
    _check_memory(src, image, upscaler.spec.scale)
    out = upscaler.upscale(image)
    if metadata.further is not None and dst.suffix.lower() in (".jpg", ".jpeg", ".mpo"):
        metadata = _with_views_upscaled(src, metadata, upscaler, quality)
    write_still(dst, out, metadata=metadata, quality=quality)
    return out.shape[1], out.shape[0]


def _with_views_upscaled(src: Path, metadata: StillMetadata, upscaler: FrameUpscaler,
                         quality: int | None) -> StillMetadata:
    """``metadata`` with the further pictures of a Multi-Picture JPEG that are views of their own (a
    stereo camera's other eye: a Fujifilm W3's or a Nintendo 3DS's .mpo, a panorama's parts) upscaled
    as its first picture was, so a JPEG output holds them all; they were left out, and a 3D photo came
    out flat. One that does not decode is left out (said when the output is written)."""
    from srstream.engine.mpf import MpfPicture, MpfSet, is_view, with_app_segments

    pictures = []
    for picture in metadata.further.pictures:
        if is_view(picture):
            view = cv2.imdecode(np.frombuffer(picture.data, np.uint8), cv2.IMREAD_COLOR)
            if view is not None:
                up = upscaler.upscale(np.ascontiguousarray(view[:, :, ::-1]))
                ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(up[:, :, ::-1]),
                                           [cv2.IMWRITE_JPEG_QUALITY, quality or 95])
                if ok:
                    log.info(f"{src.name}: its further view ({view.shape[1]}x{view.shape[0]}) upscaled too")
                    picture = MpfPicture(picture.attribute, with_app_segments(encoded.tobytes(), picture.data,
                                                                             _jpeg_walk), ready=True)
        pictures.append(picture)
    further = MpfSet(metadata.further.attribute, tuple(pictures), metadata.further.blocks)
    return dataclasses.replace(metadata, further=further)


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
    #: images written in their own format, which the one asked for cannot hold (an animation, a GIF)
    own_format: list[Path] = field(default_factory=list)


def continues_folder_run(out_dir: Path) -> bool:
    """Whether an existing ``out_dir`` may take a folder run without ``--overwrite``: an empty
    folder, or one an earlier folder run wrote (its :data:`BATCH_RECORD` is there; whether that
    run's settings match is checked when the run starts, by :func:`upscale_folder`)."""
    if not out_dir.is_dir():
        return False
    if (out_dir / BATCH_RECORD).is_file():
        return True
    try:
        return next(out_dir.iterdir(), None) is None
    except OSError:
        return False


def _shown(value: object) -> str:
    text = str(value)
    return f"{text[:12]}..." if len(text) > 24 else text


def _record_settings(out_dir: Path, settings: dict, overwrite: bool) -> int | None:
    """Refuse to continue a folder run made with other settings; record this run's. Returns the
    time (ns) before which an existing output is not this run's to keep: set by an ``overwrite``
    run, which redoes every image, so that continuing it after Ctrl-C redoes those it had not
    reached yet; None when every existing output was made with these settings."""
    record = out_dir / BATCH_RECORD
    settings = json.loads(json.dumps(settings))  # as it reads back (tuples as lists)
    if record.exists() and not overwrite:
        try:
            earlier = json.loads(record.read_text())
            redo_before, earlier_settings = earlier.get("redo_before"), earlier["settings"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{record} cannot be read ({exc}), so whether the images in {out_dir} were made with "
                              "these settings is unknown; add --overwrite to redo every image, or choose another "
                              "-o folder") from exc
        changed = [f"{key} {_shown(earlier_settings.get(key))} -> {_shown(settings.get(key))}"
                   for key in sorted({*earlier_settings, *settings}) if earlier_settings.get(key) != settings.get(key)]
        if changed:
            raise ConfigError(f"{out_dir} holds images an earlier run made with other settings ({'; '.join(changed)}); "
                              "run it with the same settings to continue it, add --overwrite to redo every image, "
                              "or choose another -o folder")
        return redo_before
    redo_before = time.time_ns() if overwrite else None
    entry = {"version": _BATCH_RECORD_VERSION, "settings": settings, "redo_before": redo_before}
    write_atomic(record, (json.dumps(entry, indent=1) + "\n").encode())
    return redo_before


def _kept(dst: Path, redo_before: int | None) -> bool:
    """An existing output a continued run keeps."""
    try:
        return redo_before is None or dst.stat().st_mtime_ns >= redo_before
    except OSError:
        return False


def output_suffix(src: Path, wanted: str | None) -> str:
    """The extension of ``src``'s upscaled image in a folder run: ``wanted`` (``--ext``), except
    where that cannot hold it: an animation into a format of one picture, a TIFF's pages into
    anything but TIFF, and a GIF into anything but WebP (an animated one); those, and every image
    when ``wanted`` is None, take their own (:func:`~srstream.engine.outputs.still_suffix`)."""
    own = still_suffix(src.suffix)
    if src.suffix.lower() == ".gif":
        return ".webp" if wanted == ".webp" else own  # an animated WebP holds a GIF whole
    if wanted is None or wanted == own:
        return own
    if image_frames(src) == 1:
        return wanted
    paged = src.suffix.lower() in PAGED_SUFFIXES or (_unnamed(src) and animation_frames(src) <= 1)
    return wanted if wanted in (PAGED_SUFFIXES if paged else ANIMATION_SUFFIXES) else own


def upscale_folder(files: list[Path], out_dir: Path, upscaler: FrameUpscaler, *, overwrite: bool = False,
                   progress: Callable[[int], None] | None = None, settings: dict | None = None,
                   root: Path | None = None, suffix: str | None = None, quality: int | None = None) -> BatchReport:
    """Upscale ``files`` into ``out_dir`` (same names; with ``root``, the folder they were found in
    with its subfolders, at the same places under ``out_dir``). Existing outputs are skipped unless
    ``overwrite``; a bad image is recorded and the batch goes on; Ctrl-C stops after the current
    image (finished images stay). ``settings``: what the images depend on (JSON-able), recorded
    in :data:`BATCH_RECORD` so that a later run continues only with the same. ``suffix``: the
    outputs' format (``".png"``; None: each input's), where an image can be written in it
    (:func:`output_suffix`; the others are listed in the report's ``own_format``). ``quality``: the
    lossy outputs' (:func:`write_still`).

    Raises:
        ConfigError: ``out_dir`` records other ``settings`` (and not ``overwrite``).
        OutputError: two inputs of the same name, an output that is an input, a folder that
            cannot be written, a full disk.
    """
    report = BatchReport()
    start = time.perf_counter()
    targets = {src: out_dir / (src.relative_to(root) if root is not None else Path(src.name)).with_suffix(
        output_suffix(src, suffix)) for src in files}  # a .tga or a .dds texture is written as PNG
    if suffix is not None:
        report.own_format = [src for src, dst in targets.items() if dst.suffix != suffix]
        settings = None if settings is None else {**settings, "ext": suffix}
    if quality is not None and settings is not None:
        settings = {**settings, "quality": quality}
    names: dict[Path, Path] = {}
    for src, dst in targets.items():  # a glob over several folders can name two inputs alike
        if dst in names and names[dst].with_suffix("") == src.with_suffix("") and suffix is not None:
            raise OutputError(f"{names[dst]} and {src} would both be written to {dst} (--ext "
                              f"{suffix.lstrip('.')}); rename one, or drop --ext")
        if dst in names and names[dst].with_suffix("") == src.with_suffix(""):  # x.png beside x.tga, written as PNG
            moved = [f"a {p.suffix}" for p in (names[dst], src) if p.suffix.lower() != dst.suffix.lower()]
            raise OutputError(f"{names[dst]} and {src} would both be written to {dst} ({' and '.join(moved)} "
                              f"{'are' if len(moved) > 1 else 'is'} written as {dst.suffix}); nothing was upscaled: "
                              "rename one of them")
        if dst in names:
            raise OutputError(f"{names[dst]} and {src} would both be written to {dst}; upscale the folders one "
                              "at a time")
        names[dst] = src
    check_not_inputs(list(targets.values()), files)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    redo_before = _record_settings(out_dir, settings, overwrite) if settings is not None else None
    try:
        for src in files:
            dst = targets[src]
            if dst.exists() and not overwrite and _kept(dst, redo_before):
                report.skipped.append(src)
            else:
                try:
                    if dst.parent != out_dir:  # a subfolder's place (a recursive run)
                        try:
                            dst.parent.mkdir(parents=True, exist_ok=True)
                        except OSError as exc:
                            raise OutputError(f"cannot create {dst.parent}: {exc.strerror or exc}") from exc
                    upscale_image(src, dst, upscaler, quality)
                    report.done.append(src)
                except (InputError, OutputError) as exc:
                    if isinstance(exc, OutputError) and isinstance(exc.__cause__, OSError):  # disk or folder: all would fail
                        kept = len(report.done) + len(report.skipped)
                        if not kept:
                            raise
                        raise OutputError(f"{exc}; the {kept} images done before it stay in {out_dir}: the same "
                                          "command upscales only those left") from exc
                    report.failed.append((src, str(exc)))
            if progress:
                progress(1)
    except KeyboardInterrupt:
        report.interrupted = True
    report.seconds = time.perf_counter() - start
    return report
