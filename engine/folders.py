"""A folder's (or a glob's) videos, upscaled one after another beside its images.

Each video goes where ``sr-stream VIDEO -o OUT/VIDEO`` would put it: into the output folder under
its own name (at the same place under it in a recursive run), with an extension FFmpeg can write
(:func:`srstream.engine.outputs.video_suffix`: a DVD's ``.vob`` becomes ``.mkv``). A video's output
appears only when it is complete, so one that is there is done: the same run again skips it
(unless ``overwrite``) and retries those that failed. A video that fails is listed and the others
go on; an interruption stops the run there.

The command line and :meth:`srstream.engine.api.Upscaler.run` both run folders this way; they
differ only in how they upscale one video (the command line picks each video's model variant).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srstream.errors import ConfigError, InputError, OutputError, SRStreamError

__all__ = ["VideosReport", "failure", "plan_folder", "run_videos", "video_targets"]


@dataclass
class VideosReport:
    """What a folder run did with its videos.

    Attributes:
        done: the videos upscaled by this run.
        kept: those skipped because their output was already there.
        failed: ``(video, why)`` for each one that failed (its output is not written, or holds
            only what decoded of a damaged input).
        interrupted: the run was stopped (Ctrl-C) in the middle of a video; those after it were not
            started.
        results: what upscaling each video returned, by video (the library's
            :class:`~srstream.engine.api.FileResult`).
    """

    total: int
    done: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    interrupted: bool = False
    results: dict[Path, Any] = field(default_factory=dict)

    def summary(self, out_dir: Path | str, noun: str = "videos") -> str:
        """One line: ``OUT: 2 of 3 videos upscaled, 1 failed``."""
        return (f"{out_dir}: {len(self.done)} of {self.total} {noun} upscaled"
                + (f", {len(self.kept)} skipped (already there; --overwrite redoes them)" if self.kept else "")
                + (f", {len(self.failed)} failed" if self.failed else ""))


def video_targets(inputs: Path, out_dir: Path, videos: list[Path], recursive: bool = False) -> list[tuple[Path, Path]]:
    """``(video, output)`` for each of a folder's or glob's ``videos``.

    Args:
        inputs: the folder (or the glob pattern) the videos come from.
        out_dir: the run's output folder.
        recursive: the videos come from ``inputs``' subfolders too; each keeps its place under
            ``out_dir``.

    Raises:
        OutputError: an output would be its own input (``out_dir`` is the videos' folder).
    """
    from srstream.atomic import fitting_name
    from srstream.engine.outputs import video_suffix

    pairs = []
    for video in videos:
        folder = out_dir / (video.parent.relative_to(inputs) if recursive else Path())
        # a longer extension (a RealMedia .rm becomes .mkv) may pass the folder's limit: cut to fit
        pairs.append((video, folder / fitting_name(folder, "", video.stem, video_suffix(video.suffix))))
    if any(os.path.realpath(target) == os.path.realpath(video) for video, target in pairs):
        raise OutputError(f"{out_dir} holds the videos themselves: the outputs would replace them; choose another "
                          "-o folder")
    return pairs


def plan_folder(media: Any, output: Path, overwrite: bool = False,
                recursive: bool = False) -> tuple[tuple[Path, Path], ...]:
    """A folder's or glob's run checked before any work (its output folder, and what it is named), and
    where each of its videos goes (:func:`video_targets`).

    Raises:
        OutputError: the output is a file, would take the input's place, or lies inside a
            recursive run's tree. ConfigError: the output is named like a file (:func:`_check_folder_name`).
    """
    from srstream.engine.outputs import check_output
    from srstream.engine.stills import continues_folder_run, folder_videos

    if output.exists() and not output.is_dir():
        raise OutputError(f"{output} is a file: a folder run writes into a folder; choose another -o path")
    _check_folder_name(media, output)
    # an earlier folder run's output folder is continued, or refused, by the run itself
    check_output(media.path, output, overwrite=overwrite or continues_folder_run(output) or not media.frames,
                 folder=True)
    inside = Path(os.path.realpath(output)).is_relative_to(os.path.realpath(media.path))
    if recursive and inside:  # the next recursive run would take the outputs for inputs
        raise OutputError(f"{output} is inside {media.path}, which a recursive run reads whole; choose an -o folder "
                          "outside it")
    if not media.videos:
        return ()
    return tuple(video_targets(media.path, output, folder_videos(media.path, recursive), recursive))


def _check_folder_name(media: Any, output: Path) -> None:
    """Refuse a folder run's output named like a file (``-o out.mp4``): it was made a folder of that
    name. (A folder or glob of images alone with ``-o VIDEO`` never comes here: it is an image
    sequence, upscaled into that video, :mod:`srstream.engine.sequence`.)

    Raises:
        ConfigError: the name ends like a video or an image, and no such folder exists yet.
    """
    from srstream.engine.outputs import VIDEO_SUFFIXES
    from srstream.images import IMAGE_SUFFIXES

    suffix = output.suffix.lower()
    if output.is_dir() or suffix not in (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES):
        return
    raise ConfigError(f"-o {output} names a file, and {media.path} is a folder run, which writes into a folder: "
                      "name a folder with -o (a folder of images alone, with -o VIDEO, is upscaled into that video)")


def run_videos(pairs: list[tuple[Path, Path]], upscale: Callable[[Path, Path], Any], *, overwrite: bool = False,
               interrupted: Callable[[Any], bool] = lambda result: False,
               announce: Callable[[int, Path, Path], None] | None = None) -> VideosReport:
    """Upscale each ``(video, output)`` of :func:`video_targets` with ``upscale(video, output)``.

    Args:
        upscale: upscales one video into its output; raises an :class:`~srstream.errors.SRStreamError`
            when it fails (the video is listed and the run goes on).
        overwrite: redo videos whose output is there (default: skip them).
        interrupted: whether ``upscale``'s result says it was interrupted (the run stops there).
        announce: called with ``(number, video, output)`` before each video is started.
    """
    report = VideosReport(total=len(pairs))
    for number, (video, target) in enumerate(pairs, 1):
        # a finished output is a file (a folder input's output folder is continued by its own run)
        if target.is_file() and not overwrite:
            report.kept.append(video)
            continue
        if announce is not None:
            announce(number, video, target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {target.parent}: {exc.strerror}; choose another -o folder") from exc
        try:
            result = upscale(video, target)
        except SRStreamError as exc:
            report.failed.append((video, str(exc)))
            continue
        report.results[video] = result
        if interrupted(result):
            report.interrupted = True
            return report
        report.done.append(video)
    return report


def failure(report: VideosReport, images: str | None = None, noun: str = "videos") -> InputError:
    """The error a folder run ends with when some of its videos (or, named by ``images``, its
    images) failed; ``noun``: what the report counts (a run of several inputs: ``"inputs"``)."""
    what = [f"{len(report.failed)} of {report.total} {noun}"] if report.failed else []
    what += [images] if images else []
    return InputError(f"{' and '.join(what)} could not be upscaled (listed above); the same command, run again, "
                      "retries only those")
