"""Reading images and listing image folders (torch-free; shared by the trainer, export and the engine)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from srstream.errors import InputError

__all__ = ["AVIF_BRANDS", "AV_STILL_SUFFIXES", "FLOAT_STILL_SUFFIXES", "FOLDER_SUFFIXES", "HEIF_BRANDS",
           "HEIF_SUFFIXES", "IMAGE_ALIASES", "IMAGE_SUFFIXES", "JXL_SUFFIXES", "LUMA_BT601", "RAW_STILL_SUFFIXES",
           "VECTOR_SUFFIXES", "JxlPicture", "avif_bits", "develop_first", "full_range", "heif_extras", "is_jxl",
           "list_images", "load_rgb", "picture_kind", "read_heif", "read_image", "read_jxl", "render_first"]

#: HEIC/HEIF (a phone's photos): read and written with pillow-heif (libheif), which OpenCV has no codec for.
HEIF_SUFFIXES = (".heic", ".heif")
#: JPEG XL: read and written with pillow-jxl-plugin (libjxl), which neither OpenCV nor PyAV's FFmpeg
#: (no libjxl) has a codec for: FFmpeg found the file and no decoder, and the run said it was damaged.
JXL_SUFFIXES = (".jxl",)
#: ``.mpo``: a Multi-Picture JPEG (a stereo camera's 3D photo: Fujifilm's W1/W3, Nintendo's 3DS), written
#: as one under its own name; it was taken for a video and came out as a one-frame .mkv.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".mpo", ".bmp", ".webp", ".tif", ".tiff", ".avif", *HEIF_SUFFIXES,
                  *JXL_SUFFIXES)
#: Still images the engine reads through FFmpeg (PyAV), which OpenCV reads not at all or in some
#: layouts only (a .ppm in RGB alone, a .pgm in grey alone), and writes as PNG: netpbm, JPEG 2000,
#: TGA, DDS textures, PCX, SGI, QOI, X11 dumps, DPX film scans, Sun raster, icons, Photoshop's
#: composite. FFmpeg reads each as a video of one frame: they came out as a one-frame .mkv video.
AV_STILL_SUFFIXES = (".ppm", ".pgm", ".pbm", ".pnm", ".pam", ".jp2", ".j2k", ".tga", ".dds", ".pcx", ".sgi", ".qoi",
                     ".xwd", ".xbm", ".dpx", ".ras", ".sun", ".ico", ".psd")
#: Other names of formats in :data:`IMAGE_SUFFIXES`, and the extension their upscale is written with:
#: a JPEG a browser saved on Windows (``.jfif``), ``.jpe``; decoded by their content.
IMAGE_ALIASES = {".jfif": ".jpg", ".jpe": ".jpg", ".pjpeg": ".jpg", ".pjp": ".jpg"}
#: Floating-point (HDR) stills: refused with what to do (the models take 8- and 16-bit pictures).
FLOAT_STILL_SUFFIXES = (".exr", ".hdr", ".pfm", ".phm")
#: Camera raw files (Adobe DNG, Canon, Nikon, Sony, Fujifilm, Olympus, Panasonic, Pentax, Samsung,
#: Hasselblad, Phase One, Sigma, Leica): refused with what to do. The photo is a sensor mosaic still to
#: be developed; FFmpeg read a DNG or CR2 as a picture (its preview or the mosaic) and it was upscaled.
RAW_STILL_SUFFIXES = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
                      ".rw2", ".pef", ".srw", ".3fr", ".fff", ".iiq", ".x3f", ".rwl", ".mrw", ".kdc", ".erf", ".mos")


#: Drawings and documents (SVG, PDF, PostScript, Illustrator, Windows metafiles): refused with what to do.
#: Their shapes scale without loss when rendered at the size wanted; a super-resolution model has no
#: pixels to work on (FFmpeg found an SVG and no decoder, and the run called it damaged).
VECTOR_SUFFIXES = {".svg": "rsvg-convert -w 2000 {name} -o picture.png, or Inkscape's export",
                   ".svgz": "rsvg-convert -w 2000 {name} -o picture.png, or Inkscape's export",
                   ".pdf": "pdftoppm -r 300 -png {name} page, a PNG a page",
                   ".eps": "gs -sDEVICE=png16m -r300 -o picture.png {name}",
                   ".ps": "gs -sDEVICE=png16m -r300 -o page%d.png {name}",
                   ".ai": "Illustrator's or Inkscape's export at that size",
                   ".emf": "Inkscape's or LibreOffice's export at that size",
                   ".wmf": "Inkscape's or LibreOffice's export at that size"}


def render_first(path: Path) -> str:
    """What to do with a drawing or document (:data:`VECTOR_SUFFIXES`), as the run says it."""
    how = VECTOR_SUFFIXES[path.suffix.lower()].format(name=path.name)
    return (f"{path} is a drawing or document ({path.suffix.lstrip('.').upper()}), whose shapes scale without loss: "
            f"render it at the size you want instead ({how}); a scan in it is upscaled once rendered")


def develop_first(count: int = 1) -> str:
    """What to do with ``count`` camera raw files (:data:`RAW_STILL_SUFFIXES`), as the runs say it."""
    many = count > 1
    return (f"develop {'them' if many else 'it'} first (darktable, RawTherapee, Lightroom or the camera maker's "
            f"software) to 16-bit {'TIFFs or PNGs' if many else 'TIFF or PNG'}, and upscale "
            f"{'those' if many else 'that'}")


#: What a folder or glob run of the engine upscales: images, and GIFs (as GIFs, through the video pipeline).
FOLDER_SUFFIXES = (*IMAGE_SUFFIXES, *AV_STILL_SUFFIXES, *IMAGE_ALIASES, ".gif")
#: BT.601 luma weights (R, G, B): the grey level of colour images and the Y of the luma models.
LUMA_BT601 = (0.299, 0.587, 0.114)


def list_images(folders: Sequence[Path]) -> list[Path]:
    """Image files under ``folders`` (recursively), sorted for reproducibility.

    Raises:
        InputError: a folder is missing, or no images were found.
    """
    files: list[Path] = []
    for folder in folders:
        if Path(folder).is_file():
            raise InputError(f"data folder {folder} is a file: pass the folder that holds the images")
        if not Path(folder).is_dir():
            raise InputError(f"data folder {folder} does not exist")
        files += [p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {', '.join(map(str, folders))}")
    return sorted(files)


def avif_bits(data: bytes) -> int:
    """The bits per channel an AVIF file's ``pixi`` property records (8, 10 or 12; 0 when not
    found): OpenCV decodes 10- and 12-bit AVIF as uint16 in that many bits, not the full range."""
    at = data.find(b"pixi")
    return data[at + 9] if at >= 0 and len(data) > at + 9 and data[at + 8] else 0


def full_range(image: np.ndarray | None, head: bytes, suffix: str) -> np.ndarray | None:
    """A decoded image with its 16-bit samples over the full 0-65535 range: a 10- or 12-bit AVIF
    (``head``, the start of its file, holds its ``pixi``) is scaled up; any other image (or None,
    a failed decode) is returned as it is."""
    if image is None or image.dtype != np.uint16 or suffix.lower() != ".avif":
        return image
    bits = avif_bits(head) or (10 if int(image.max()) < 1024 else 12)
    top = (1 << bits) - 1
    return ((image.astype(np.uint32) * 65535 + top // 2) // top).astype(np.uint16)


def read_heif(path: Path) -> tuple[np.ndarray, int, dict[str, bytes]]:
    """An HEIC/HEIF file's primary picture as stored: ``(H, W, C)`` RGB(A) or grey, uint8, or
    uint16 over the full range for 10- and 12-bit files, turned upright as libheif does (its
    rotation and mirroring); its bits per sample; its ``exif`` (without the ``Exif\\0\\0``
    header, as OpenCV gives a JPEG's), ``icc`` and ``xmp`` blocks where present.

    Raises:
        DependencyError: pillow-heif is not installed. InputError: unreadable.
    """
    try:
        import pillow_heif
    except ImportError as exc:
        from srstream.errors import DependencyError

        raise DependencyError(f"{path}: HEIC/HEIF images need pillow-heif: pip install 'sr-stream[heif]'") from exc
    try:
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
        image = np.asarray(heif)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path} is not a readable HEIC/HEIF image ({exc})") from exc
    bits = int(heif.info.get("bit_depth") or 8)
    if image.dtype == np.uint16 and bits < 16:  # libheif puts 10 or 12 bits at the top of 16
        top = (1 << bits) - 1
        image = ((image.astype(np.uint32) >> (16 - bits)) * 65535 + top // 2) // top
        image = image.astype(np.uint16)
    exif = heif.info.get("exif") or b""
    blocks = {"exif": exif[6:] if exif.startswith(b"Exif\0\0") else exif, "icc": heif.info.get("icc_profile") or b"",
              "xmp": heif.info.get("xmp") or b""}
    return (image[:, :, None] if image.ndim == 2 else image), bits, {k: v for k, v in blocks.items() if v}


def heif_extras(path: Path) -> list[str]:
    """What an HEIC/HEIF holds beside its picture that is not written again: ``"an HDR gain map"``
    (an iPhone photo's, an auxiliary image), ``"a depth map"`` (a portrait's); [] where it holds
    neither, or cannot be read (reading it says why)."""
    try:
        import pillow_heif

        info = pillow_heif.open_heif(path).info
    except (ImportError, OSError, ValueError, RuntimeError):
        return []
    kinds = [str(kind).lower() for kind in (info.get("aux") or {})]
    found = ["an HDR gain map"] if any("gainmap" in kind for kind in kinds) else []
    if info.get("depth_images") or any("depth" in kind or "disparity" in kind for kind in kinds):
        found.append("a depth map")
    return found


#: The brands of an ISO BMFF file (its ``ftyp`` box's major and compatible ones) that say it holds an
#: AVIF picture (or sequence), and those that say a HEIF one (Apple's HEIC, the generic image brand).
AVIF_BRANDS = (b"avif", b"avis")
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


def picture_kind(head: bytes) -> str:
    """``".avif"`` or ``".heic"`` for a file whose first bytes (``head``) are an AVIF's or a HEIF's
    ``ftyp`` box, by its brands (an AVIF also says ``mif1``); "" for anything else (an .mp4 says
    ``isom``, ``mp42``; a .mov ``qt  ``). A picture piped in or without its extension was read as a
    video by FFmpeg's MP4 demuxer."""
    if head[4:8] != b"ftyp" or len(head) < 16:
        return ""
    size = int.from_bytes(head[:4], "big")
    brands = [head[8:12]] + [head[at:at + 4] for at in range(16, min(size, len(head)) - 3, 4)]
    if any(brand in AVIF_BRANDS for brand in brands):
        return ".avif"
    return ".heic" if any(brand in HEIF_BRANDS for brand in brands) else ""


def is_jxl(head: bytes) -> bool:
    """Whether a file's first 12 bytes are a JPEG XL's: a bare codestream or the ISO BMFF container's signature."""
    return head[:2] == b"\xff\x0a" or head[:12] == b"\0\0\0\x0cJXL \r\n\x87\n"


@dataclass(frozen=True)
class JxlPicture:
    """What :func:`read_jxl` found in a JPEG XL file."""

    #: ``(H, W, C)`` RGB(A) or grey, uint8, or uint16 grey; None where the file holds a JPEG
    image: np.ndarray | None
    #: a JPEG stored in it losslessly (``cjxl photo.jpg``), rebuilt bit for bit; b"" otherwise
    jpeg: bytes
    #: its ``exif`` (the TIFF block, as OpenCV gives a JPEG's), ``icc`` and ``xmp`` blocks where present
    blocks: dict[str, bytes]


def read_jxl(path: Path) -> JxlPicture:
    """A JPEG XL file's picture, upright (libjxl applies its orientation), through pillow-jxl-plugin.
    Its pictures of more than 8 bits come as 8 (the plugin's decoder gives colour pictures in 8 bits,
    grey ones in 16).

    Raises:
        DependencyError: pillow-jxl-plugin is not installed. InputError: unreadable, an animation
            (whose first frame alone the plugin decodes), or floating-point samples.
    """
    try:
        from pillow_jxl import Decoder
    except ImportError as exc:
        from srstream.errors import DependencyError

        raise DependencyError(f"{path}: JPEG XL images need pillow-jxl-plugin: pip install 'sr-stream[jxl]'") from exc
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if _animated_jxl(path):
        raise InputError(f"{path} is an animated JPEG XL, whose frames after the first are not read here: convert it "
                         "to an animated PNG or WebP first (djxl anim.jxl anim.apng) and upscale that")
    try:
        jpeg, info, pixels, icc, boxes = Decoder()(data)
    except (OSError, ValueError, RuntimeError) as exc:  # the plugin's text asks for a debug build of libjxl
        raise InputError(f"{path} is not a readable JPEG XL image (truncated or damaged: libjxl says "
                         f"{str(exc).split('.')[0].strip() or 'nothing more'})") from exc
    blocks = {"icc": bytes(icc or b"")}
    for box in boxes:
        if box.box_type == b"Exif" and "exif" not in blocks:  # a 4-byte offset to the TIFF header first
            tiff = bytes(box.data)
            if tiff[:4] not in (b"II*\0", b"MM\0*"):  # (some writers leave the offset out)
                tiff = tiff[4 + int.from_bytes(tiff[:4], "big"):] if len(tiff) >= 8 else b""
            blocks["exif"] = tiff
        elif box.box_type == b"xml " and "xmp" not in blocks:
            blocks["xmp"] = bytes(box.data)
    if jpeg:
        return JxlPicture(None, bytes(pixels), {})  # the JPEG's own blocks are in it
    mode = info.mode
    if mode == "F":
        raise InputError(f"{path} is a floating-point (HDR) JPEG XL; sr-stream's models take 8- and 16-bit pictures: "
                         "tone-map or convert it to a 16-bit PNG first")
    deep = mode == "I;16"
    channels = {"L": 1, "I;16": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(mode)
    if channels is None:
        raise InputError(f"{path}: JPEG XL pictures in mode {mode} are not supported; convert it to PNG first")
    image = np.frombuffer(pixels, "<u2" if deep else np.uint8).reshape(info.height, info.width, channels)
    if channels == 2:  # grey with alpha: as OpenCV gives such a PNG, RGBA
        image = np.concatenate([image[:, :, :1].repeat(3, axis=2), image[:, :, 1:]], axis=2)
    return JxlPicture(np.ascontiguousarray(image, np.uint16 if deep else np.uint8), b"",
                      {k: v for k, v in blocks.items() if v})


def _animated_jxl(path: Path) -> bool:
    """Whether FFmpeg finds a JPEG XL animation at ``path`` (its ``jpegxl_anim`` demuxer reads the header's
    animation flag; a still is ``jpegxl_pipe``)."""
    try:
        from srstream.engine.av_errors import open_av

        with open_av(str(path)) as container:
            return container.format.name == "jpegxl_anim"
    except Exception:  # noqa: BLE001 - any FFmpeg or import failure: the decoder says what is wrong
        return False


def read_image(path: Path) -> np.ndarray:
    """A uint8 image as stored: ``(H, W)`` for grayscale files, else RGB ``(H, W, 3)``
    (alpha dropped, 16-bit reduced to 8)."""
    suffix = Path(path).suffix.lower()
    jxl = read_jxl(Path(path)) if suffix in JXL_SUFFIXES else None
    if suffix in HEIF_SUFFIXES or (jxl is not None and jxl.image is not None):
        rgb = jxl.image if jxl is not None else read_heif(Path(path))[0]
        image = rgb[:, :, 0] if rgb.shape[2] == 1 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if rgb.shape[2] == 3
                                                                     else cv2.COLOR_RGBA2BGRA)
    elif jxl is not None:
        image = cv2.imdecode(np.frombuffer(jxl.jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        data = np.fromfile(path, np.uint8)
        image = full_range(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), data[:65536].tobytes(), Path(path).suffix) \
            if data.size else None
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


