"""Where results go: default output names, and the checks made before anything is written.

Never overwrite the input; refuse an existing output without ``--overwrite``; fail before any
work when the output folder cannot be written.
"""

from __future__ import annotations

import os
from pathlib import Path

from srstream.atomic import fitting_name
from srstream.errors import OutputError

__all__ = ["IMAGE_SIDE_LIMITS", "INPUT_VIDEO_SUFFIXES", "VIDEO_SUFFIXES", "check_image_size", "check_kind",
           "check_output", "default_output", "image_fits", "image_format", "still_suffix", "tagged_size",
           "video_suffix"]

#: Output extensions FFmpeg's muxers are picked by (what `-o` may end with for a video).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".m2ts", ".mts", ".flv", ".mpg", ".mpeg",
                  ".ogv", ".gif", ".apng", ".wmv", ".asf", ".3gp", ".mxf", ".nut", ".y4m")
#: Video outputs that are animated pictures, a frame a packet: no sound or subtitles in them, and
#: a loop count (a GIF's palette frames; an animated PNG's lossless RGB(A) frames).
PICTURE_VIDEO_SUFFIXES = (".gif", ".apng")
#: Videos a folder run takes: those, and formats FFmpeg reads but does not write (their outputs are
#: .mkv, :func:`video_suffix`).
INPUT_VIDEO_SUFFIXES = VIDEO_SUFFIXES + (".vob", ".mod", ".tod", ".vro", ".evo", ".m2v", ".rm", ".rmvb", ".divx",
                                         ".f4v", ".ogm", ".dv", ".qt", ".3g2", ".h264", ".264", ".hevc", ".h265",
                                         ".ivf", ".wtv", ".mk3d")


def default_output(source: Path, scale: int | str, kind: str, transparent: bool = False, frames: int = 0) -> Path:
    """``clip.mp4 -> clip_x2.mp4`` (beside the input; an animated ``anim.gif -> anim_x2.mp4``, or
    ``anim_x2.gif`` for a ``transparent`` one or a still GIF of one frame); a folder
    ``shots -> shots_x2``; a glob ``shots/*.png -> shots_x2`` (its folder's name). A ``scale`` given as
    a string is the tag itself: ``"1080p"`` makes ``clip_1080p.mp4``."""
    tag = scale if isinstance(scale, str) else f"x{scale}"
    if kind == "folder":
        return source.with_name(fitting_name(source.parent, "", source.name, f"_{tag}"))
    if kind == "glob":
        parent = source.parent.resolve()
        return parent.with_name(fitting_name(parent.parent, "", parent.name, f"_{tag}"))
    if kind == "video" and source.suffix.lower() == ".gif" and not transparent and frames != 1:
        # GIF holds 256 colours: an upscaled animation is written as H.264 unless -o asks for .gif
        suffix = ".mp4"
    else:
        suffix = video_suffix(source.suffix) if kind == "video" else still_suffix(source.suffix)
    # cut to fit the folder (:func:`fitting_name`): an input named near the limit gets an output that can be made
    return source.with_name(fitting_name(source.parent, "", source.stem, f"_{tag}{suffix}"))


def still_suffix(suffix: str) -> str:
    """The extension of an image output named after an input ending in ``suffix``: the same; ``.jpg``
    for another name of JPEG (``.jfif``); ``.png`` for a still that FFmpeg reads and OpenCV cannot
    write (a .tga, a .dds texture, a netpbm file: :data:`srstream.images.AV_STILL_SUFFIXES`) or one
    whose name does not say its format (none, an unknown one): PNG holds alpha and 16 bits."""
    from srstream.images import IMAGE_ALIASES, IMAGE_SUFFIXES

    if suffix.lower() in IMAGE_ALIASES:
        return IMAGE_ALIASES[suffix.lower()]
    return suffix if suffix.lower() in (*IMAGE_SUFFIXES, ".gif") else ".png"  # a folder's GIFs stay GIFs


def image_format(text: str | None) -> str | None:
    """The extension ``--ext`` names (``png``, ``.JPG``, ``webp``) as a suffix (``.png``), or None.

    Raises:
        ConfigError: a format sr-stream does not write images in.
    """
    if text is None:
        return None
    from srstream.errors import ConfigError
    from srstream.images import IMAGE_SUFFIXES

    suffix = "." + text.lower().lstrip(".")
    if suffix not in IMAGE_SUFFIXES:
        raise ConfigError(f"--ext {text}: images are written as one of "
                          f"{', '.join(s.lstrip('.') for s in IMAGE_SUFFIXES)}")
    _writable(f"--ext {text}", suffix)
    return suffix


def _writable(name: str, suffix: str) -> None:
    """Refuse, before any work, an image format whose writer is not installed (HEIC: pillow-heif; JPEG XL:
    pillow-jxl-plugin).

    Raises:
        DependencyError: it is not.
    """
    from srstream.images import HEIF_SUFFIXES, JXL_SUFFIXES

    needed = {**dict.fromkeys(HEIF_SUFFIXES, ("pillow_heif", "HEIC/HEIF", "pillow-heif", "heif")),
              **dict.fromkeys(JXL_SUFFIXES, ("pillow_jxl", "JPEG XL", "pillow-jxl-plugin", "jxl"))}.get(suffix.lower())
    if needed is not None:
        import importlib

        module, kind, package, extra = needed
        try:
            importlib.import_module(module)
        except ImportError as exc:
            from srstream.errors import DependencyError

            raise DependencyError(f"{name}: {kind} images need {package}: pip install 'sr-stream[{extra}]'") from exc


def video_suffix(suffix: str) -> str:
    """The extension of a video output named after an input ending in ``suffix``: the same, where
    FFmpeg writes that format (:data:`VIDEO_SUFFIXES`); else ``.mkv``, which holds any codec: a
    DVD's ``.vob`` (MPEG-2, AC-3, DVD subtitles), a camcorder's ``.mod`` / ``.tod``, RealMedia,
    raw ``.h264`` streams, which FFmpeg reads but cannot write."""
    return suffix if suffix.lower() in VIDEO_SUFFIXES else ".mkv"


def check_output(source: Path, output: Path, *, overwrite: bool, folder: bool = False) -> None:
    """Refuse outputs that would destroy data or cannot be written.

    Args:
        folder: the output is a folder (folder and glob runs), not a file.

    Raises:
        OutputError: ``output`` is the input itself; it exists and ``overwrite`` is False; a
            file output names an existing folder; its folder does not exist or is not writable.
    """
    if output.exists() and source.exists() and os.path.samefile(output, source):
        raise OutputError(f"output {output} is the input itself; choose another -o path")
    if not folder and output.is_dir():
        raise OutputError(f"output {output} is a folder; name a file with -o (e.g. {output / 'out'}{source.suffix})")
    if output.exists() and not overwrite:
        raise OutputError(f"output {output} already exists; pass --overwrite or choose another -o path")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {folder} is not writable; choose another -o path")


def check_kind(kind: str, output: Path, frames: int = 0, source: Path | None = None) -> None:
    """Refuse an output whose extension cannot hold what the input is, before any work.
    ``frames``: an image input's frames (more than one: an animated PNG or WebP, or the pages of a
    TIFF, the input ``source``).

    Raises:
        ConfigError: a video written to an image (but an animated WebP) or unknown extension, an
            image to a video or unknown one, an animation or a multi-page TIFF to a format of one
            picture. DependencyError: an image format whose writer is not installed (HEIC).
    """
    from srstream.engine.animated import ANIMATED_SUFFIXES
    from srstream.errors import ConfigError
    from srstream.images import IMAGE_SUFFIXES

    suffix = output.suffix.lower()
    if kind == "video" and suffix not in (*VIDEO_SUFFIXES, *ANIMATED_SUFFIXES):
        what = "an image format" if suffix in IMAGE_SUFFIXES else ("no extension" if not suffix else f"unknown ({suffix})")
        raise ConfigError(f"-o {output}: the input is a video, and the output's extension is {what}; end it with "
                          f"one of {', '.join(VIDEO_SUFFIXES[:6])} ..., or name an existing folder (the output goes "
                          "there under its default name)")
    if kind == "image":
        _writable(f"-o {output}", suffix)
    if kind == "image" and suffix not in IMAGE_SUFFIXES:
        raise ConfigError(f"-o {output}: the input is an image; end the output with one of "
                          f"{', '.join(sorted(IMAGE_SUFFIXES))}, or name an existing folder (the output goes there "
                          "under its default name)")
    if kind == "image" and frames > 1:
        from srstream.engine.stills import ANIMATION_SUFFIXES, PAGED_SUFFIXES

        if source is not None and source.suffix.lower() in PAGED_SUFFIXES:
            if suffix not in PAGED_SUFFIXES:
                raise ConfigError(f"-o {output}: the input is a TIFF of {frames} pages, and {suffix or 'no extension'} "
                                  f"holds one picture; end the output with {' or '.join(PAGED_SUFFIXES)}")
        elif suffix not in ANIMATION_SUFFIXES:
            raise ConfigError(f"-o {output}: the input is an animation of {frames} frames, and {suffix} holds one "
                              f"picture; end the output with {' or '.join(ANIMATION_SUFFIXES)}")


#: The longest side each image format's encoder writes, in pixels (measured through the encoders
#: sr-stream uses: libwebp 16383, libjpeg 65500, GIF's 16-bit sizes 65535, libavif 65536); PNG,
#: TIFF, BMP and HEIC (libheif tiles a large image) have no limit a run reaches.
IMAGE_SIDE_LIMITS = {".webp": 16383, ".jpg": 65500, ".jpeg": 65500, ".gif": 65535, ".avif": 65536}


def image_fits(suffix: str, width: int, height: int) -> bool:
    """Whether an image of ``width`` x ``height`` can be written as ``suffix``."""
    return max(width, height) <= IMAGE_SIDE_LIMITS.get(suffix.lower(), 1 << 31)


def check_image_size(output: Path, width: int, height: int) -> None:
    """Refuse, before any work, an image output its format cannot hold.

    Raises:
        OutputError: ``output``'s format holds fewer pixels a side than ``width`` x ``height`` has (a
        folder run lists the image and goes on).
    """
    if not image_fits(output.suffix, width, height):
        limit = IMAGE_SIDE_LIMITS[output.suffix.lower()]
        raise OutputError(f"-o {output}: the upscaled image would be {width}x{height}, and "
                          f"{output.suffix.lower().lstrip('.').upper()} holds at most {limit} pixels a side; write "
                          ".png or .tif (no such limit), or ask for a smaller --scale or --height")


def tagged_size(scale: int | str, width: int, height: int, even: bool = True) -> tuple[int, int]:
    """The output size a scale or an output name's tag (:func:`default_output`'s ``x2``, ``x1.5``,
    ``1080p``) gives an input of ``width`` x ``height``: a video's (``even`` sides), or a picture's."""
    from srstream.engine.upscaler import OutputSize

    if isinstance(scale, int):
        return width * scale, height * scale
    if scale.endswith("p"):
        return OutputSize(height=int(scale[:-1]), even=even)(width, height)
    factor = float(scale.lstrip("x"))
    if factor == int(factor):
        return width * int(factor), height * int(factor)
    return OutputSize(scale=factor, even=even)(width, height)
