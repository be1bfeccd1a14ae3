"""Subtitle files beside a video (``film.en.srt``) are copied beside its output under the output's
name, which players load them by: in one pass, a job, a folder's videos and through the library;
never for a part of the video, never over another file."""

from __future__ import annotations

from pathlib import Path

import pytest

from srstream import Upscaler, cli
from srstream.engine.sidecars import copy_sidecars, sidecars
from tests.conftest import write_video

SRT = b"1\n00:00:00,100 --> 00:00:00,200\nHello\n"


def _film(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    film = write_video(folder / "film.mp4", frames=4)
    (folder / "film.en.srt").write_bytes(SRT)
    (folder / "film.pt-BR.forced.ass").write_bytes(b"[Script Info]\n")
    (folder / "film.idx").write_bytes(b"# VobSub index file\n")
    (folder / "film.sub").write_bytes(b"\0\0\1\xba")
    (folder / "film_commentary.srt").write_bytes(SRT)  # another video's name
    (folder / "film.en.txt").write_bytes(b"notes")  # not a subtitle file
    (folder / "film.a.b.c.srt").write_bytes(SRT)  # more tags than players match
    return film


def test_the_files_that_belong_to_a_video_are_found_by_name(tmp_path: Path) -> None:
    film = _film(tmp_path / "in")
    assert [tail for _, tail in sidecars(film)] == [".en.srt", ".idx", ".pt-BR.forced.ass", ".sub"]
    notes: list[str] = []
    copies = copy_sidecars(film, tmp_path / "out" / "film_x2.mkv", notes)
    assert sorted(p.name for p in copies) == ["film_x2.en.srt", "film_x2.idx", "film_x2.pt-BR.forced.ass",
                                              "film_x2.sub"]
    assert (tmp_path / "out" / "film_x2.en.srt").read_bytes() == SRT
    (tmp_path / "out" / "film_x2.idx").write_bytes(b"the user's own")
    notes.clear()
    assert len(copy_sidecars(film, tmp_path / "out" / "film_x2.mkv", notes)) == 3  # the same ones are there
    assert notes[-1] == "subtitle files beside the input not copied: film.idx (film_x2.idx exists)"
    assert (tmp_path / "out" / "film_x2.idx").read_bytes() == b"the user's own"
    notes.clear()
    assert copy_sidecars(film, tmp_path / "part.mkv", notes, whole=False) == []
    assert "are not copied: the output holds part of the video" in notes[0]


def test_a_videos_run_copies_its_subtitle_files_beside_the_output(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    film = _film(tmp_path / "in")
    code = cli.main([str(film), "--scale", "2", "--fast", "--preset", "ultrafast"])
    said = capsys.readouterr()
    assert code == 0, said
    assert "copied beside the output under its name: film_x2.en.srt" in said.err
    assert (tmp_path / "in" / "film_x2.en.srt").read_bytes() == SRT
    assert not (tmp_path / "in" / "film_x2_commentary.srt").exists()
    code = cli.main([str(film), "-o", str(tmp_path / "job.mkv"), "--scale", "2", "--fast", "--segments", "2"])
    assert code == 0 and (tmp_path / "job.en.srt").read_bytes() == SRT
    code = cli.main([str(film), "-o", str(tmp_path / "preview.mkv"), "--scale", "2", "--fast", "--frames", "2"])
    said = capsys.readouterr()
    assert code == 0 and "are not copied: the output holds part" in said.err
    assert not (tmp_path / "preview.en.srt").exists()


def test_a_folders_videos_take_their_subtitle_files_along(tmp_path: Path) -> None:
    _film(tmp_path / "season")
    with Upscaler(scale=2, fast=True) as up:
        result = up.upscale_file(tmp_path / "season", tmp_path / "out", crf=0)
    assert result.videos.done == [tmp_path / "season" / "film.mp4"]
    assert (tmp_path / "out" / "film.en.srt").read_bytes() == SRT
    assert (tmp_path / "out" / "film.pt-BR.forced.ass").is_file()
