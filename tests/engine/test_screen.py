"""Screen recordings are told from footage by their first frames (srstream.engine.screen), and
a video run without --model then takes the screen variant (srstream.engine.models.for_content)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from srstream.engine.compression import measure
from srstream.engine.models import COMPRESSED_VARIANTS, SCREEN_VARIANTS, for_compression, for_content
from srstream.engine.screen import Look, look, mean_look

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "traffic_4s.mp4"


def _desktop(i: int = 0, size: tuple[int, int] = (360, 640)) -> np.ndarray:
    """An editor-like RGB frame: a dark flat ground, a sidebar rule, lines of small text."""
    h, w = size
    rgb = np.full((h, w, 3), 30, np.uint8)
    cv2.line(rgb, (120, 0), (120, h - 1), (80, 80, 80), 1)
    for row, y in enumerate(range(14, h, 16)):
        code = ("x := draw(y)", f"for k := {row + i}; k < n; k++ {{", "}", "")[row % 4]
        cv2.putText(rgb, code, (140 + 20 * (row % 3), y), cv2.FONT_HERSHEY_PLAIN, 0.8, (220, 220, 200), 1,
                    cv2.LINE_AA)
        cv2.putText(rgb, f"file{row}.go", (8, y), cv2.FONT_HERSHEY_PLAIN, 0.8, (180, 200, 255), 1, cv2.LINE_AA)
    return rgb


def _footage(frames: int = 3) -> list[np.ndarray]:
    with av.open(str(SAMPLE)) as container:
        out = [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), container.decode(video=0))]
    return out


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def test_a_desktop_looks_like_a_screen_and_footage_does_not() -> None:
    desk = look(_gray(_desktop()))
    assert desk.screen and desk.flat > 0.6, desk
    for frame in _footage():
        seen = look(_gray(frame))
        assert not seen.screen, seen
        # black bars are cut off first: a letterboxed film is not flat ground
        boxed = np.zeros((frame.shape[0] * 2, frame.shape[1], 3), np.uint8)
        boxed[frame.shape[0] // 2: frame.shape[0] // 2 + frame.shape[0]] = frame
        assert not look(_gray(boxed)).screen and abs(look(_gray(boxed)).flat - seen.flat) < 0.02
    # ... and so is a letterboxed desktop still a desktop
    boxed = np.zeros((720, 640, 3), np.uint8)
    boxed[180:540] = _desktop()
    assert look(_gray(boxed)).screen
    assert look(np.zeros((48, 64), np.uint8)) == Look(0.0, 0.0)  # a blank frame says nothing
    assert mean_look([]) is None and mean_look([Look(0.0, 0.0)]) is None
    assert mean_look([Look(0.0, 0.0), Look(0.6, 0.02)]) == Look(0.6, 0.02)  # a black first frame says nothing
    both = mean_look([Look(0.4, 0.01), Look(0.8, 0.02)])
    assert both is not None and (both.flat, both.edges) == pytest.approx((0.6, 0.015))


def _write(path: Path, frames: list[np.ndarray], crf: int, keyint: int = 250) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(keyint)}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def test_the_probe_reads_the_look_of_a_file(tmp_path: Path) -> None:
    """Every tenth of the first frames counts, through H.264 at a streaming CRF."""
    desk = measure(_write(tmp_path / "desk.mp4", [_desktop(i) for i in range(21)], crf=30))
    assert desk is not None and desk.look is not None and desk.look.screen, desk
    film = measure(SAMPLE)
    assert film is not None and film.look is not None and not film.look.screen, film


def test_a_film_that_opens_on_titles_is_not_a_screen_recording(tmp_path: Path) -> None:
    """Its first frames look like a screen (flat ground, sharp letters); the rest, spread over the
    file, do not. Before, the first 30 frames alone decided: the 60-s Big Buck Bunny clip took the
    screen variant. A desktop recording as long still looks like one throughout."""
    footage = _footage(40)
    titles = [_desktop() for _ in range(40)]
    film = [*titles, *footage, *footage, *footage]  # a keyframe a second, as streamed video has
    seen = measure(_write(tmp_path / "film.mp4", film, crf=23, keyint=30))
    assert seen is not None and seen.look is not None and not seen.look.screen, seen
    one_keyframe = measure(_write(tmp_path / "one.mp4", film, crf=23))  # nowhere else to look: the start decides
    assert one_keyframe is not None and one_keyframe.look is not None and one_keyframe.look.screen, one_keyframe
    titles_only = [look(_gray(f)) for f in titles[:30:10]]
    assert mean_look(titles_only).screen  # what the first frames alone said
    desk = measure(_write(tmp_path / "desk.mp4", [_desktop(i) for i in range(160)], crf=23))
    assert desk is not None and desk.look is not None and desk.look.screen, desk


def test_a_screen_recording_takes_the_screen_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    import srstream.engine.models as models

    screen, film = Look(0.7, 0.02), Look(0.75, 0.003)  # the desktop capture; the flat bottles clip
    variant = SCREEN_VARIANTS["realtime-x2"]
    compressed, threshold = COMPRESSED_VARIANTS["realtime-x2"]
    monkeypatch.setitem(models.BUNDLED_MODELS, compressed, f"{compressed}.onnx")
    monkeypatch.delitem(models.BUNDLED_MODELS, variant, raising=False)
    assert for_content("realtime-x2", threshold + 1, screen) == for_compression("realtime-x2", threshold + 1)
    monkeypatch.setitem(models.BUNDLED_MODELS, variant, f"{variant}.onnx")
    for qp in (None, threshold - 1, threshold + 1):  # whatever the quantiser says
        name, why = for_content("realtime-x2", qp, screen)
        assert name == variant and "screen recording" in why and "--model realtime-x2 keeps" in why
        assert for_content("realtime-x2", qp, film) == for_compression("realtime-x2", qp)
        assert for_content("realtime-x2", qp, None) == for_compression("realtime-x2", qp)
    assert for_content("quality-x4", 30.0, screen) == ("quality-x4", "")


def test_a_video_run_takes_the_screen_variant_and_steadies_it(tmp_path: Path) -> None:
    """What ``sr-stream VIDEO`` without --model runs: a screen recording takes the screen variant
    whatever its quantiser, and is steadied (``hard``); footage follows its quantiser."""
    from srstream.commands.upscale import _for_content
    from srstream.engine.models import BUNDLED_MODELS, resolve_model

    variant = SCREEN_VARIANTS["realtime-x2"]
    if variant not in BUNDLED_MODELS:
        pytest.skip(f"{variant} is not bundled in this checkout")
    default = resolve_model("realtime-x2")
    soft = _write(tmp_path / "soft.mp4", [_desktop(i) for i in range(11)], crf=12)
    hard = _write(tmp_path / "hard.mp4", [_desktop(i) for i in range(11)], crf=40)
    film = _write(tmp_path / "film.mp4", _footage(11), crf=12)
    assert [(m.name, h) for m, h in (_for_content(default, soft), _for_content(default, hard))] == \
        [(variant, True), (variant, True)]
    assert _for_content(default, film) == (default, False)
    assert _for_content(default, SAMPLE) == (resolve_model(COMPRESSED_VARIANTS["realtime-x2"][0]), True)
