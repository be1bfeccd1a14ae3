"""Subtitle files beside a video (``film.srt``, ``film.en.srt``, ``film.en.forced.ass``: what
yt-dlp, a fansub release or a film's download puts there), copied beside its output under its name.

Players (mpv, VLC, Plex, Jellyfin, Kodi) load such files by the video's name; after an upscale,
``film_x2.mkv`` had none, and the subtitles seemed lost. They are copied as they are (byte for
byte: styling, fonts named in an .ass, a VobSub's .idx/.sub pair) rather than muxed into the
output, so a subtitle file stays the one the user had and can keep editing, and any output format
plays with it. A run that takes a part of the video (``--start``, ``--frames``, ``--duration``)
copies none, as their times would not match its output; a file already there with other contents
is never overwritten. Each copy is said in the run's notes.
"""

from __future__ import annotations

import re
from pathlib import Path

from srstream.atomic import write_atomic
from srstream.errors import OutputError

__all__ = ["SUBTITLE_SUFFIXES", "copy_sidecars", "sidecars"]

#: Subtitle files that players load beside a video by its name.
SUBTITLE_SUFFIXES = (".srt", ".ass", ".ssa", ".vtt", ".sub", ".idx", ".sup", ".smi", ".ttml", ".dfxp")
#: What may come between the video's name and the extension: up to two tags of a language, region
#: or kind (``en``, ``pt-BR``, ``forced``, ``sdh``, ``English``), as players match them.
_TAGS = re.compile(r"(\.[A-Za-z0-9_-]{1,24}){0,2}")
#: The most bytes a subtitle file is copied at (a film's PGS .sup runs to tens of MB).
_LARGEST = 512 << 20


def sidecars(video: Path) -> list[tuple[Path, str]]:
    """The subtitle files beside ``video`` that belong to it: (path, what follows the video's name,
    ``.en.srt``), by name."""
    stem = video.stem
    found = []
    try:
        entries = sorted(video.parent.iterdir())
    except OSError:
        return []
    for path in entries:
        name = path.name
        if not name.startswith(stem) or path.suffix.lower() not in SUBTITLE_SUFFIXES or path == video:
            continue
        tail = name[len(stem):]
        if _TAGS.fullmatch(tail[:-len(path.suffix)]) and path.is_file():
            found.append((path, tail))
    return found


def copy_sidecars(video: Path, output: Path, notes: list[str], whole: bool = True) -> list[Path]:
    """Copy :func:`sidecars` of ``video`` beside ``output`` under its name (``film.en.srt`` ->
    ``film_x2.en.srt``); ``whole``: the output holds the whole video (else none is copied, and
    ``notes`` says why). What was copied, and what was not, goes to ``notes``; returns the copies."""
    found = sidecars(video)
    if not found:
        return []
    names = ", ".join(path.name for path, _ in found)
    if not whole:
        notes.append(f"subtitle files beside the input ({names}) are not copied: the output holds part of the "
                     "video, and their times would not match it")
        return []
    copied, kept = [], []
    for path, tail in found:
        target = output.with_name(output.stem + tail)
        if target == path:
            continue
        try:
            if path.stat().st_size > _LARGEST:
                kept.append(f"{path.name} (too large to copy here)")
                continue
            data = path.read_bytes()
            if target.exists():  # a run before this one copied it; another file is never replaced
                if target.read_bytes() != data:
                    kept.append(f"{path.name} ({target.name} exists)")
                    continue
            else:
                write_atomic(target, data)
        except (OSError, OutputError) as exc:
            kept.append(f"{path.name} ({getattr(exc, 'strerror', None) or exc})")
            continue
        copied.append(target)
    if copied:
        notes.append(f"subtitle files beside the input copied beside the output under its name: "
                     f"{', '.join(p.name for p in copied)}")
    if kept:
        notes.append(f"subtitle files beside the input not copied: {', '.join(kept)}")
    return copied
