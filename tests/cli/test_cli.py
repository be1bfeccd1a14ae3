"""The sr-stream command line: dispatch, help, info, exit codes and messages."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from srstream import __version__, cli
from srstream.commands import Command
from srstream.errors import Interrupted, interrupted_exit_code
from srstream.registry import Entry, Registry
from tests.conftest import SAMPLE_CLIP
from tests.onnx_models import nearest_x2_spec, write_nearest_x2


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for name in ("upscale", "train", "export", "bench", "info"):
        assert f"\n  {name} " in out
    assert "sr-stream INPUT [-o OUTPUT]" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"], capsys)[:2] == (0, f"sr-stream {__version__}\n")


def test_no_arguments_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([], capsys)
    assert code == 2 and "usage:" in err and out == ""


@pytest.mark.parametrize("command", ["upscale", "train", "export", "bench", "info"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and f"usage: sr-stream {command}" in out


def test_info_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info"], capsys)
    assert code == 0
    for heading in ("CPU:", "CPU features:", "GPUs:", "packages:", "backends:", "frame kernels: CPU "):
        assert heading in out
    assert "  ort    yes" in out


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["srstream"] == __version__
    assert "amx_bf16" in data["cpu"]["features"] and isinstance(data["gpus"], list)
    assert {b["name"] for b in data["backends"]} == {"ort", "ov", "trt", "torch"}
    assert data["frame_kernels"]["cpu"].startswith(("native (isa=", "numpy")) and data["frame_kernels"]["cuda"]


def test_command_name_wins_over_a_file_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("info").write_text("not a video")
    code, out, err = run(["info"], capsys)
    assert code == 0 and "backends:" in out
    assert "to upscale the file 'info' run `sr-stream ./info`" in err
    code, _, err = run(["./info"], capsys)  # the path spelling means the file
    assert code == 3 and "info is not a video or image" in err


def test_typo_of_a_command_suggests_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["infoo"], capsys)
    assert code == 2 and "did you mean `sr-stream info`" in err


def test_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([str(tmp_path / "nope.mp4")], capsys)
    assert code == 3 and "does not exist" in err


def test_a_file_named_like_an_option_is_pointed_to(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``sr-stream -clip.mp4`` said "the following arguments are required: input" of a file that is there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-clip.mp4").write_bytes(b"")
    code, _, err = run(["-clip.mp4"], capsys)
    assert code == 2 and "-clip.mp4 is read as an option; to upscale the file -clip.mp4, write ./-clip.mp4" in err


def test_live_options_for_a_file_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--size, --no-display, --report and the other live-only options were ignored without a word
    for a file (--size 1920x1080 upscaled by the model's factor); they are now refused before any
    work, and a missing file is still said to be missing."""
    code, _, err = run([str(SAMPLE_CLIP), "-o", str(tmp_path / "o.mp4"), "--size", "1920x1080"], capsys)
    assert code == 2 and "--size: for live sources" in err and "--scale or --height" in err
    code, _, err = run([str(SAMPLE_CLIP), "-o", str(tmp_path / "o.mp4"), "--no-display", "--report", "r.json"], capsys)
    assert code == 2 and "--no-display, --report: for live sources" in err and "drop them" in err
    assert not (tmp_path / "o.mp4").exists()
    code, _, err = run([str(tmp_path / "nope.mp4"), "--no-display"], capsys)
    assert code == 3 and "does not exist" in err


def test_video_options_for_images_or_frames_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--crf, --codec, --segments and the other options of a video output did nothing for an image,
    and the encoder's did nothing for a video's numbered frames, without a word; they are refused
    there, and a folder of images and videos still takes them for its videos."""
    import cv2
    import numpy as np

    from tests.conftest import write_video

    model = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    (tmp_path / "mixed").mkdir()
    cv2.imwrite(str(tmp_path / "mixed" / "photo.png"), np.full((8, 8, 3), 90, np.uint8))
    code, _, err = run([str(tmp_path / "mixed" / "photo.png"), "--model", str(model), "--crf", "20"], capsys)
    assert code == 2 and "--crf: for a video" in err and "is an image" in err
    code, _, err = run([str(SAMPLE_CLIP), "--model", str(model), "-o", str(tmp_path / "f" / "%d.png"), "--codec",
                        "libx265", "--preset", "slow"], capsys)
    assert code == 2 and "--codec, --preset: set a video encoder" in err and not (tmp_path / "f").exists()
    write_video(tmp_path / "mixed" / "clip.mp4", frames=3)
    code, _, err = run([str(tmp_path / "mixed"), "--model", str(model), "-o", str(tmp_path / "out"), "--crf", "20",
                        "--no-audio"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["clip.mp4",
                                                                                                 "photo.png"]


def test_bad_tile_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([str(SAMPLE_CLIP), "--tile", "big"], capsys)
    assert code == 2 and "expected 'auto' or a number of pixels" in err


@pytest.mark.parametrize("args", [["lavfi:testsrc2", "--fps", "nan"], ["lavfi:testsrc2", "--fps", "inf"],
                                  ["lavfi:testsrc2", "--fps", "0"], ["lavfi:testsrc2", "--max-latency", "-1"],
                                  ["lavfi:testsrc2", "--max-latency", "nan"], ["info", "--tune", "--fps", "nan"],
                                  ["info", "--tune", "--fps", "-5"]])
def test_a_rate_or_budget_that_is_not_a_number_above_0_is_a_usage_error(
        args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``float`` reads ``nan`` and ``inf``: a live run took ``--fps nan`` and ``--max-latency nan`` / ``-1``
    (it stepped down at once, "median latency 13 ms > --max-latency nan ms"), and ``info --tune`` ``--fps -5``."""
    code, _, err = run(args, capsys)
    assert code == 2 and "expected a number above 0" in err


def test_a_capture_size_of_0_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--size 0x0`` was taken (and a camera would have been asked for no picture)."""
    code, _, err = run(["lavfi:testsrc2", "--size", "0x0", "--frames", "1", "--no-display"], capsys)
    assert code == 2 and "--size '0x0': expected WIDTHxHEIGHT" in err


def test_existing_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    code, _, err = run([str(SAMPLE_CLIP), "--model", str(model), "-o", str(out)], capsys)
    assert code == 4 and "--overwrite" in err and out.read_bytes() == b"precious"


def test_video_with_a_model_path_writes_the_default_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", frames=8, audio=True)
    model = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    code, out, err = run([str(clip), "--model", str(model), "--preset", "ultrafast"], capsys)
    assert code == 0, err
    assert (tmp_path / "clip_x2.mp4").is_file() and "8 frames (8 decoded)" in out and "audio" in out
    assert re.search(r"nearest-x2 x2 on (ort|ov) (fp32|bf16) on .*fastest correct of \d measured at 64x48", err), err


def test_scale_must_match_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    code, _, err = run([str(SAMPLE_CLIP), "--model", str(model), "--scale", "4", "-o", str(tmp_path / "o.mp4")], capsys)
    assert code == 2 and "not x4" in err and not (tmp_path / "o.mp4").exists()


def test_unknown_bench_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["bench", "anything", "--flag"], capsys)
    assert code == 2 and "invalid choice" in err


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    table = Registry("subcommand", [Entry("info", "tests.cli.test_cli:INTERRUPTED")])
    monkeypatch.setattr(cli, "COMMANDS", table)
    monkeypatch.setattr(sys.modules[__name__], "INTERRUPTED", Command(lambda p: None, interrupted), raising=False)
    code, _, err = run(["info"], capsys)
    assert code == 130 and "interrupted" in err


def test_python_dash_m_and_console_script() -> None:
    proc = subprocess.run([sys.executable, "-m", "srstream", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"sr-stream {__version__}"
    script = Path(sys.executable).with_name("sr-stream")
    if script.exists():
        proc = subprocess.run([str(script), "bench", "quality", "--data", "/nonexistent", "--scale", "2",
                               "--model", "bicubic"], capture_output=True, text=True)
        assert proc.returncode == 3 and proc.stderr.startswith("sr-stream: error:")


def test_fast_takes_the_cheapest_tier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", frames=3)
    code, _, err = run([str(clip), "--fast", "-o", str(tmp_path / "o.mp4"), "--preset", "ultrafast"], capsys)
    assert code == 0 and "tiny-x2 x2 on " in err, err
    code, _, err = run([str(clip), "--fast", "--model", "realtime-x2", "-o", str(tmp_path / "p.mp4")], capsys)
    assert code == 2 and "--fast picks the cheapest bundled model" in err


def test_compression_needs_a_model_with_a_strength_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", frames=2)
    model = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    code, _, err = run([str(clip), "--model", str(model), "--compression", "0.5"], capsys)
    assert code == 2 and "has no compression-strength input" in err and not (tmp_path / "clip_x2.mp4").exists()
    code, _, err = run([str(clip), "--model", str(model), "--compression", "strong"], capsys)
    assert code == 2 and "auto, or a number from 0 (clean) to 1" in err


@pytest.mark.parametrize(("qp", "flag", "steadied", "screen"),
                         [(40.0, [], True, False), (40.0, ["--stabilize", "0"], False, False),
                          (12.0, [], False, False), (12.0, ["--stabilize"], True, False), (12.0, [], True, True)])
def test_a_stream_compressed_hard_is_steadied_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    qp: float, flag: list[str], steadied: bool, screen: bool,
) -> None:
    """`--stabilize auto` (the default) steadies a video whose own quantiser takes the compressed
    variant, at the tolerance measured for such streams, and a screen recording at any quantiser,
    its frames that stand still held harder; `--stabilize 0` turns it off, and a clean stream
    stays unsteadied unless asked."""
    import types

    import srstream.engine.compression as compression
    import srstream.engine.stabilize as stabilize
    from srstream.engine.models import BUNDLED_MODELS, SCREEN_VARIANTS
    from srstream.engine.screen import Look
    from tests.conftest import write_video

    if screen and SCREEN_VARIANTS["realtime-x2"] not in BUNDLED_MODELS:
        pytest.skip("the screen variant is not bundled in this checkout")
    seen: list[tuple[float, float]] = []
    real = stabilize.StabilizedUpscaler.__init__

    def spy(self, upscaler, strength=stabilize.DEFAULT_STRENGTH, tolerance=stabilize.DEFAULT_TOLERANCE,  # noqa: ANN001
            still=0.0):
        seen.append((tolerance, still))
        real(self, upscaler, strength, tolerance, still)

    look = Look(flat=0.6, edges=0.03) if screen else None
    monkeypatch.setattr(stabilize.StabilizedUpscaler, "__init__", spy)
    monkeypatch.setattr(compression, "measure", lambda path: types.SimpleNamespace(h264_qp=qp, look=look))
    clip = write_video(tmp_path / "clip.mp4", frames=3)
    code, _, err = run([str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "ultrafast", *flag], capsys)
    assert code == 0, err
    assert (", stabilized" in err) == steadied and ("steadying the output" in err) == (steadied and not flag)
    tolerance = stabilize.COMPRESSED_TOLERANCE if qp > 30 or screen else stabilize.DEFAULT_TOLERANCE
    assert seen == ([(tolerance, stabilize.STILL_STRENGTH if screen else 0.0)] if steadied else [])
    code, _, err = run([str(clip), "-o", str(tmp_path / "p.mp4"), "--stabilize", "2"], capsys)
    assert code == 2 and "the strength runs from 0 (off) to 1" in err


def test_video_is_change_capped_by_default_and_images_refuse_it(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`--change-cap auto` (the default) caps a video, `off` does not; an image given a gain is
    refused before any work, with what to do."""
    import cv2
    import numpy as np

    from tests.conftest import write_video

    clip = write_video(tmp_path / "clip.mp4", frames=3)
    code, _, err = run([str(clip), "--fast", "-o", str(tmp_path / "o.mp4"), "--preset", "ultrafast"], capsys)
    assert code == 0 and ", change-capped" in err, err
    code, _, err = run([str(clip), "--fast", "-o", str(tmp_path / "p.mp4"), "--preset", "ultrafast",
                        "--change-cap", "off"], capsys)
    assert code == 0 and "change-capped" not in err, err
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), np.full((16, 16, 3), 90, np.uint8))
    code, _, err = run([str(image), "--fast", "--change-cap", "1"], capsys)
    assert code == 2 and "does nothing for images" in err and not (tmp_path / "still_x2.png").exists()


def test_several_inputs_are_each_upscaled_as_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`sr-stream *.mp4 *.png`, a shell's unquoted glob, was refused as "unrecognized arguments"."""
    import cv2
    import numpy as np

    from tests.conftest import write_video

    model = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    clips = tmp_path / "clips"
    clips.mkdir()
    a = write_video(clips / "a.mp4", frames=4, audio=True)
    b = write_video(clips / "b.mp4", frames=3)
    cv2.imwrite(str(clips / "c.png"), np.full((20, 30, 3), 90, np.uint8))
    bad = clips / "d.mp4"
    bad.write_bytes(b"not a video")
    argv = [str(a), str(b), str(clips / "c.png"), "--model", str(model), "--preset", "ultrafast"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "3 of 3 inputs upscaled" in out and "input 2 of 3" in err
    assert (clips / "a_x2.mp4").is_file() and (clips / "b_x2.mp4").is_file()
    assert cv2.imread(str(clips / "c_x2.png")).shape == (40, 60, 3)
    stamp = (clips / "a_x2.mp4").stat().st_mtime_ns
    code, out, err = run([*argv, str(bad)], capsys)  # the finished ones skipped, the damaged one listed
    assert code == 3 and "0 of 4 inputs upscaled, 3 skipped" in out and "1 failed" in out, err
    assert f"failed: {bad}" in err and (clips / "a_x2.mp4").stat().st_mtime_ns == stamp
    # `sr-stream clips/*` again: the shell now names the outputs too; they are left out, not upscaled again
    again = [*argv, str(clips / "a_x2.mp4"), str(clips / "b_x2.mp4"), str(clips / "c_x2.png")]
    code, out, err = run(again, capsys)
    assert code == 0 and "0 of 3 inputs upscaled, 3 skipped" in out, err
    assert f"leaving out {clips / 'a_x2.mp4'}: it is {a}'s output" in err and not (clips / "a_x2_x2.mp4").exists()
    # a name that starts like an option, after `--` (intermixed parsing lost it in Python 3.11)
    (clips / "-d.png").write_bytes((clips / "c.png").read_bytes())
    monkeypatch.chdir(clips)
    code, out, err = run(["--model", str(model), "-o", str(tmp_path / "dashed.png"), "--", "-d.png"], capsys)
    assert code == 0 and (tmp_path / "dashed.png").is_file(), err
    # into a folder, made if missing, each under its own name
    code, out, err = run([*argv, "-o", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x2.mp4", "b_x2.mp4", "c_x2.png"]


def test_several_inputs_are_checked_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import write_video

    model = write_nearest_x2(tmp_path / "n.onnx", nearest_x2_spec())
    a = write_video(tmp_path / "a.mp4", frames=3)
    (tmp_path / "other").mkdir()
    b = write_video(tmp_path / "other" / "a.mp4", frames=3)
    first = write_video(tmp_path / "a_x2.mp4", frames=3)
    before = first.read_bytes()
    junk, junk2 = tmp_path / "junk.mp4", tmp_path / "junk2.mp4"  # every input refused alike: said once
    junk.write_bytes(b"not a video")
    junk2.write_bytes(b"nor this")
    cases = [([str(a), str(first), "--overwrite"], 4, "a.mp4's output .*a_x2.mp4 is one of the inputs"),
             ([str(a), str(b), "-o", str(tmp_path / "o")], 4, "would both be written to"),
             ([str(a), str(tmp_path / "." / "a.mp4")], 2, "given twice"),
             ([str(a), str(tmp_path / "missing.mp4")], 3, "missing.mp4: no such file or folder; nothing was upscaled"),
             ([str(a), str(b), "-o", str(tmp_path / "x.mp4")], 2, "names a file; several inputs go into a folder"),
             ([str(a), "camera:0"], 2, "camera:0 is a live source, which is upscaled alone"),
             (["-", str(a)], 2, "standard input is upscaled alone: run `sr-stream - -o OUT` by itself"),
             ([str(a), str(b), "--crf", "99", "-o", str(tmp_path / "o")], 2,
              "^sr-stream: error: --crf 99 is out of range"),
             ([str(junk), str(junk2)], 3, "^sr-stream: error: .*junk.mp4 is not a video or image sr-stream can read")]
    for argv, want, message in cases:
        code, _, err = run([*argv, "--model", str(model)], capsys)
        assert code == want and re.search(message, err, re.M) and "listed above" not in err, (argv, err)
    assert first.read_bytes() == before and not (tmp_path / "a_x2_x2.mp4").exists()
    assert not (tmp_path / "o").exists()  # the folder made for a run refused before any work goes too


def test_quiet_says_only_what_went_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scheduled job's log had every run's model line, progress, notes and summary; --quiet
    keeps errors, a folder's failed files and what to do next, and the exit codes."""
    import cv2
    import numpy as np

    from tests.conftest import write_video

    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    common = ["--model", str(nearest), "--backend", "ort", "--precision", "fp32", "-q"]
    clip = write_video(tmp_path / "clip.mp4", frames=4, audio=True)
    assert run([str(clip), "-o", str(tmp_path / "out.mkv"), *common], capsys) == (0, "", "")
    code, out, err = run([str(clip), "-o", str(tmp_path / "out.mkv"), *common], capsys)
    assert code == 4 and out == "" and err == f"sr-stream: error: output {tmp_path / 'out.mkv'} already exists; pass " \
        "--overwrite or choose another -o path\n"
    folder = tmp_path / "shots"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.full((8, 8, 3), 90, np.uint8))
    (folder / "bad.png").write_bytes(b"not a png")
    code, out, err = run([str(folder), *common], capsys)
    assert code == 3 and out == "" and err.splitlines()[0].startswith(f"  failed: {folder / 'bad.png'}: ")
    assert len(err.splitlines()) == 2 and "1 of 2 images could not be upscaled" in err
    assert (tmp_path / "shots_x2" / "good.png").is_file()


def test_a_lossy_jpeg_takes_the_compressed_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A JPEG or a lossy WebP (the web's, a chat's, an old collection's) ran with the clean-input
    model however coarsely it was stored, where the compressed variant scores 0.15-0.74 dB more on Set5, Set14
    and BSD100 at JPEG qualities 30-90 (benchmarks/results/bench/jpeg_stills_variant.md). Its own
    quantisation table now decides, on the threshold a video's quantiser has; a camera's 98 and
    anything not a JPEG keep the default."""
    import cv2
    import numpy as np

    from srstream.commands.upscale import _for_lossy_stills
    from srstream.engine.models import resolve_model

    default = resolve_model("realtime-x2")
    picture = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 256, (24, 32, 3), np.uint8), (0, 0), 1.0)
    for quality, expected in ((50, "realtime-x2-compressed"), (95, "realtime-x2-compressed"), (98, "realtime-x2")):
        cv2.imwrite(str(tmp_path / f"q{quality}.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert _for_lossy_stills(default, [tmp_path / f"q{quality}.jpg"]).name == expected, quality
    cv2.imwrite(str(tmp_path / "clean.png"), picture)
    (tmp_path / "png_named.jpg").write_bytes((tmp_path / "clean.png").read_bytes())
    for other in ("clean.png", "png_named.jpg", "missing.jpg"):
        assert _for_lossy_stills(default, [tmp_path / other]) is default, other
    capsys.readouterr()
    code, out, err = run([str(tmp_path / "q50.jpg"), "-o", str(tmp_path / "q50_x2.png"), "--backend", "ort",
                          "--precision", "fp32"], capsys)
    assert code == 0 and "the picture was stored as a lossy JPEG (mean luma quantiser step 57.6" in err, err
    assert "realtime-x2-compressed x2 on ort fp32" in err
    assert cv2.imread(str(tmp_path / "q50_x2.png")).shape == (48, 64, 3)
    code, out, err = run([str(tmp_path / "q50.jpg"), "-o", str(tmp_path / "kept.png"), "--model", "realtime-x2",
                          "--backend", "ort", "--precision", "fp32"], capsys)
    assert code == 0 and "lossy JPEG" not in err and "realtime-x2 x2 on ort fp32" in err, err
    # a folder: the variant where every picture is such a JPEG, the default where one is not
    album = tmp_path / "album"
    album.mkdir()
    for quality in (50, 95):
        (album / f"q{quality}.jpg").write_bytes((tmp_path / f"q{quality}.jpg").read_bytes())
    code, out, err = run([str(album), "-o", str(tmp_path / "album_x2"), "--backend", "ort", "--precision", "fp32"],
                         capsys)
    assert code == 0 and "the 2 pictures were stored as lossy JPEGs (mean luma quantiser steps 5.8-57.6" in err, err
    assert "realtime-x2-compressed x2 on ort fp32" in err
    (album / "q98.jpg").write_bytes((tmp_path / "q98.jpg").read_bytes())
    assert _for_lossy_stills(default, sorted(album.iterdir())) is default
    # a lossy WebP (VP8 inside) the same way, by its VP8 quantiser; a lossless WebP keeps the default
    cv2.imwrite(str(tmp_path / "q50.webp"), picture, [cv2.IMWRITE_WEBP_QUALITY, 50])
    cv2.imwrite(str(tmp_path / "lossless.webp"), picture, [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert _for_lossy_stills(default, [tmp_path / "q50.webp"]).name == "realtime-x2-compressed"
    assert "the picture was stored as a lossy WebP (VP8 quantiser step" in capsys.readouterr().err
    assert _for_lossy_stills(default, [tmp_path / "lossless.webp"]) is default
    assert _for_lossy_stills(default, [tmp_path / "q50.webp", album / "q50.jpg"]).name == "realtime-x2-compressed"
    assert "the 2 pictures were stored as lossy JPEGs and WebPs (H.264's" in capsys.readouterr().err


def test_a_coarse_avif_or_heic_takes_the_compressed_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An AVIF (the web's newer pictures) or a HEIC (a phone's, libheif's) ran with the clean-input
    model however coarsely it was stored, where the compressed variant gains from libaom's q index
    60 and x265's slice QP 22 on (Set5, Set14 and BSD100: avif_stills_variant.md,
    heic_stills_variant.md). Its own quantiser now decides, mapped onto H.264's scale by its
    video fit and :data:`srstream.engine.compression.PICTURE_OFFSETS`; a fine one keeps the default."""
    import cv2
    import numpy as np

    from srstream.commands.upscale import _for_lossy_stills
    from srstream.engine.models import resolve_model

    default = resolve_model("realtime-x2")
    picture = cv2.GaussianBlur(np.random.default_rng(3).integers(0, 256, (24, 32, 3), np.uint8), (0, 0), 1.0)
    for quality, expected in ((40, "realtime-x2-compressed"), (75, "realtime-x2-compressed"), (95, "realtime-x2")):
        cv2.imwrite(str(tmp_path / f"q{quality}.avif"), picture, [cv2.IMWRITE_AVIF_QUALITY, quality])
        assert _for_lossy_stills(default, [tmp_path / f"q{quality}.avif"]).name == expected, quality
    (tmp_path / "cut.avif").write_bytes((tmp_path / "q40.avif").read_bytes()[:200])
    assert _for_lossy_stills(default, [tmp_path / "cut.avif"]) is default
    capsys.readouterr()
    code, out, err = run([str(tmp_path / "q40.avif"), "-o", str(tmp_path / "q40_x2.png"), "--backend", "ort",
                          "--precision", "fp32"], capsys)
    assert code == 0 and "the picture was stored as a lossy AVIF (AV1 q index" in err, err
    assert "realtime-x2-compressed x2 on ort fp32" in err
    assert cv2.imread(str(tmp_path / "q40_x2.png")).shape == (48, 64, 3)
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC pictures are written with pillow-heif")
    rgb = np.ascontiguousarray(picture[:, :, ::-1])
    for quality, expected in ((30, "realtime-x2-compressed"), (50, "realtime-x2-compressed"), (70, "realtime-x2")):
        pillow_heif.from_bytes(mode="RGB", size=(32, 24), data=rgb.tobytes()).save(tmp_path / f"q{quality}.heic",
                                                                                   quality=quality)
        assert _for_lossy_stills(default, [tmp_path / f"q{quality}.heic"]).name == expected, quality
    assert "the picture was stored as a lossy HEIC (HEVC slice QP" in capsys.readouterr().err
    assert _for_lossy_stills(default, [tmp_path / "q30.heic", tmp_path / "q40.avif"]).name == "realtime-x2-compressed"
    assert "the 2 pictures were stored as lossy AVIFs and HEICs (H.264's" in capsys.readouterr().err
    assert _for_lossy_stills(default, [tmp_path / "q30.heic", tmp_path / "q95.avif"]) is default
    # a video in a folder of pictures (an AV1 .mp4: ISO BMFF as an AVIF is) is no lossy picture
    import av

    with av.open(str(tmp_path / "clip.mp4"), "w") as out:
        stream = out.add_stream("libsvtav1", rate=10, options={"crf": "55", "preset": "12"})
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for t in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * t, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert _for_lossy_stills(default, [tmp_path / "q40.avif", tmp_path / "clip.mp4"]) is default
    # x4 (--scale 4) the same way, to its own variant
    x4 = _for_lossy_stills(resolve_model("realtime-x4"), [tmp_path / "q40.avif"])
    assert x4.name == "realtime-x4-compressed" and x4.spec.scale == 4


def test_stop_signals_after_the_first_are_let_by_twice_and_the_fourth_stops_at_once(
        capfd: pytest.CaptureFixture[str]) -> None:
    """The first raises (the run stops and keeps what it did); the next two only say so, as the run
    finishes writing; a fourth raises again, for a run that does not finish."""
    previous = cli._stop_signals()
    try:
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(2):
            os.kill(os.getpid(), signal.SIGINT)  # handled here, raising nothing
        with pytest.raises(Interrupted) as fourth:
            os.kill(os.getpid(), signal.SIGINT)
        assert fourth.value.signum == signal.SIGINT and interrupted_exit_code() == 143  # the first says the code
        err = capfd.readouterr().err
        assert "Ctrl-C 2 more times quits at once" in err and "Ctrl-C 1 more time quits at once" in err, err
        cli._stop_signals()  # the next run starts counting again
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
