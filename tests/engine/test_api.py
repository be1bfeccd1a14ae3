"""The Python API (`from srstream import Upscaler`): arrays, streams and files, with the command
line's guarantees; its docstring examples run here as doctests."""

from __future__ import annotations

import doctest
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import srstream
from srstream import Upscaler
from srstream.engine import api
from srstream.engine.changecap import NOISE_LEVEL
from srstream.errors import ConfigError, InputError, OutputError


def test_docstring_examples_run() -> None:
    result = doctest.testmod(api, raise_on_error=False)
    assert result.attempted >= 4 and result.failed == 0


def test_arrays_keep_their_type_and_channels() -> None:
    rng = np.random.default_rng(0)
    with Upscaler("realtime-x2") as up:
        assert (up.model, up.spec.scale) == ("realtime-x2", 2)
        assert up.backend in ("ort", "ov") and up.precision in ("fp32", "int8", "bf16") and "fastest" in up.reason
        for shape, dtype in [((10, 12), np.uint8), ((10, 12, 3), np.uint8), ((10, 12, 4), np.uint16), ((10, 12, 1), np.uint8)]:
            top = 65535 if dtype == np.uint16 else 255
            out = up.upscale(rng.integers(0, top, shape).astype(dtype))
            assert out.dtype == dtype and out.shape == (20, 24, *shape[2:])
        stream = up.frames(iter([np.zeros((4, 4, 3), np.uint8)] * 3))
        assert [f.shape for f in stream] == [(8, 8, 3)] * 3


def test_float_images_in_zero_to_one_come_back_as_floats_and_other_shapes_are_named() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (9, 11, 3)).astype(np.uint8)
    with Upscaler("realtime-x2") as up:
        want = up.upscale(image).astype(np.float64) / 255
        for dtype in (np.float32, np.float64):
            out = up.upscale(image.astype(dtype) / dtype(255))
            assert out.dtype == dtype and out.shape == (18, 22, 3)
            assert np.abs(out - want).max() <= 0.5 / 255 + 1e-6  # 16-bit inside: within the 8-bit result's rounding
        assert up.upscale(image[:, :, 0] / 255.0).shape == (18, 22)
        with pytest.raises(InputError, match="samples from [0-9.]+ to 255: .*divide 8-bit values by 255"):
            up.upscale(image.astype(np.float32) * np.float32(255 / image.max()))
        with pytest.raises(InputError, match="NaN or infinite"):
            up.upscale(np.full((4, 4), np.nan, np.float32))
        with pytest.raises(InputError, match=r"shape \(1, 9, 11, 3\).*upscale_batch"):
            up.upscale(image[None])
        with pytest.raises(InputError, match=r"shape \(11,\)"):
            up.upscale(image[0, :, 0])


def test_pil_images_come_back_as_pil_images_in_their_own_mode() -> None:
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    rgb = image_module.fromarray(rng.integers(0, 256, (9, 11, 3)).astype(np.uint8))
    rgb.info["icc_profile"] = b"a profile"
    with Upscaler("realtime-x2", backend="ort", precision="fp32") as up:
        def same(image, mode, as_array) -> None:  # noqa: ANN001
            out = up.upscale(image)
            assert isinstance(out, image_module.Image) and out.mode == mode and out.size == (22, 18)
            assert np.array_equal(np.asarray(out), as_array)

        same(rgb, "RGB", up.upscale(np.asarray(rgb)))
        assert up.upscale(rgb).info["icc_profile"] == b"a profile"  # as Image.resize carries it
        grey = rgb.convert("L")
        same(grey, "L", up.upscale(np.asarray(grey)))
        # a palette's indices are not levels: upscaled as its colours (with its transparency: RGBA)
        palette = rgb.convert("P")
        same(palette, "RGB", up.upscale(np.asarray(palette.convert("RGB"))))
        palette.info["transparency"] = 0
        same(palette, "RGBA", up.upscale(np.asarray(palette.convert("RGBA"))))
        # CMYK is not RGBA: upscaled as RGB and turned back
        cmyk = rgb.convert("CMYK")
        assert np.array_equal(np.asarray(up.upscale(cmyk).convert("RGB")), up.upscale(np.asarray(rgb)))
        with_alpha = image_module.merge("LA", (grey, grey.point(lambda v: 255 - v)))
        out = np.asarray(up.upscale(with_alpha))
        assert out.shape == (18, 22, 2) and np.array_equal(out[:, :, 0], up.upscale(np.asarray(grey)))
        deep = np.asarray(grey).astype(np.int32) * 257  # mode I: how Pillow opens a 16-bit PNG
        same(image_module.fromarray(deep), "I", up.upscale(deep.astype(np.uint16)).astype(np.int32))
        with pytest.raises(InputError, match="mode LAB: convert it to RGB"):
            up.upscale(rgb.convert("LAB"))
        # RGB with a padding byte (a 32-bit BMP) and premultiplied alpha: as RGB and RGBA, given back in their modes
        padded = up.upscale(rgb.convert("RGBX"))
        assert padded.mode == "RGBX" and np.array_equal(np.asarray(padded.convert("RGB")), up.upscale(np.asarray(rgb)))
        rgba = image_module.merge("RGBA", (*rgb.split(), grey.point(lambda v: 255 - v)))
        premultiplied = up.upscale(rgba.convert("RGBa"))
        assert premultiplied.mode == "RGBa" and premultiplied.size == (22, 18)
        straight = up.upscale(np.asarray(rgba.convert("RGBa").convert("RGBA")))
        assert np.array_equal(np.asarray(premultiplied), np.asarray(image_module.fromarray(straight).convert("RGBa")))
        assert up.upscale(with_alpha.convert("La")).mode == "La"
        with pytest.raises(InputError, match=r"empty image \(0 x 0 pixels\)"):
            up.upscale(image_module.new("RGB", (0, 0)))


def test_arrays_in_other_layouts_are_upscaled_or_named() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (9, 11, 3)).astype(np.uint8)
    up = Upscaler("realtime-x2", backend="ort", precision="fp32")
    # grey and alpha: the grey as a grey image's, the alpha bicubic (as RGBA's)
    both = np.dstack([image[:, :, 0], image[:, :, 1]])
    out = up.upscale(both)
    assert out.shape == (18, 22, 2) and np.array_equal(out[:, :, 0], up.upscale(image[:, :, 0]))
    assert np.array_equal(out[:, :, 1], up.upscale(np.dstack([image, image[:, :, 1]]))[:, :, 3])
    wide = (image.astype(np.uint16) * 257).astype(">u2")  # big-endian samples, as FITS holds them
    assert np.array_equal(up.upscale(wide), up.upscale(image.astype(np.uint16) * 257))
    with pytest.raises(InputError, match=r"channel-first .*transpose\(1, 2, 0\)"):
        up.upscale(image.transpose(2, 0, 1))
    with pytest.raises(InputError, match="upscale takes a decoded image.*upscale_file"):
        up.upscale("photo.jpg")
    with pytest.raises(InputError, match="given NoneType, not an image"):  # not "an array of shape ()"
        up.upscale(None)
    with pytest.raises(InputError, match="given bytes, not an image.*imdecode"):
        up.upscale(b"\x89PNG")
    with pytest.raises(InputError, match=r"an empty image \(5 x 0 pixels\)"):  # not the tiler's error
        up.upscale(np.zeros((0, 5, 3), np.uint8))
    import pickle

    with pytest.raises(TypeError, match="open one in each process"):  # not "cannot pickle 'Core' object"
        pickle.dumps(up)
    up.close()
    with pytest.raises(ConfigError, match="was closed: open a new one"):
        up.upscale(image)


def test_opencvs_bgr_arrays_are_upscaled_as_rgb_and_given_back_as_bgr() -> None:
    """OpenCV's frames (cv2.imread, cv2.VideoCapture) are BGR; given as they are, the luma model
    took blue for red and came out up to 16 levels off on Set5's head."""
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (9, 11, 4)).astype(np.uint8)
    with Upscaler("realtime-x2", backend="ort", precision="fp32") as rgb_up, \
            Upscaler("realtime-x2", backend="ort", precision="fp32", channels="bgr") as bgr_up:
        want = rgb_up.upscale(rgba[:, :, :3])
        assert not np.array_equal(rgb_up.upscale(rgba[:, :, 2::-1]), want[:, :, ::-1])  # the order matters
        assert np.array_equal(bgr_up.upscale(rgba[:, :, 2::-1]), want[:, :, ::-1])
        bgra = rgba[:, :, [2, 1, 0, 3]]
        assert np.array_equal(bgr_up.upscale(bgra), rgb_up.upscale(rgba)[:, :, [2, 1, 0, 3]])
        assert np.array_equal(bgr_up.upscale(rgba[:, :, 0]), rgb_up.upscale(rgba[:, :, 0]))  # grey: no order
        floats = bgr_up.upscale(rgba[:, :, 2::-1] / 255.0)
        assert np.abs(floats - rgb_up.upscale(rgba[:, :, :3] / 255.0)[:, :, ::-1]).max() < 1e-6
        assert [f.shape for f in bgr_up.frames(iter([rgba[:, :, :3]] * 2))] == [(18, 22, 3)] * 2
    with pytest.raises(ConfigError, match="'rgb', or 'bgr'"):
        Upscaler("realtime-x2", channels="rgba")


def test_cancel_stops_a_file_run_in_another_thread_as_ctrl_c_would(tmp_path: Path) -> None:
    """A GUI's Cancel button had no way in: a run in a worker thread went on to its end (Ctrl-C
    reaches the main thread only). cancel() stops it as Ctrl-C stops the command line's."""
    import threading
    import time

    from tests.conftest import write_video
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    clip = write_video(tmp_path / "clip.mp4", frames=120, audio=True)
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        assert up.cancel() is False  # nothing running
        seen, results = [], []

        def slowly(n: int) -> None:  # a frame every 20 ms: the run takes 2.4 s
            seen.append(n)
            time.sleep(0.02)

        worker = threading.Thread(target=lambda: results.append(
            up.upscale_file(clip, tmp_path / "out.mkv", progress=slowly, segments="off")))
        worker.start()
        while len(seen) < 5:
            time.sleep(0.01)
        assert up.cancel() is True
        worker.join(timeout=30)
        report = results[0].video
        assert report.interrupted and 5 <= report.frames_out < 120
        assert report.kept == tmp_path / "out.interrupted.mkv" and not (tmp_path / "out.mkv").exists()
        assert up.cancel() is False and up.upscale(np.zeros((4, 4, 3), np.uint8)).shape == (8, 8, 3)


def test_one_upscaler_shared_by_threads_gives_each_call_its_own_result() -> None:
    import threading

    pytest.importorskip("openvino")
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (24 + 4 * i, 32, 3)).astype(np.uint8) for i in range(4)]
    with Upscaler("realtime-x2", backend="ov", precision="fp32") as up:  # OpenVINO: "Infer Request is busy"
        want = [up.upscale(image) for image in images]
        got: dict[tuple[int, int], np.ndarray] = {}
        failed: list[BaseException] = []

        def work(k: int) -> None:
            for r in range(4):
                try:
                    got[k, r] = up.upscale(images[(k + r) % 4])
                except Exception as e:  # noqa: BLE001 - each thread's failure is the test's
                    failed.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failed == [] and len(got) == 16
    assert all(np.array_equal(out, want[(k + r) % 4]) for (k, r), out in got.items())


def test_files_go_through_the_same_checks_as_the_command_line(tiny_video: Path, tmp_path: Path) -> None:
    with Upscaler(scale=2, fast=True) as up:
        result = up.upscale_file(tiny_video, tmp_path / "out.mkv", crf=0)
        assert result.video.frames_out == 6 and result.job.output == tmp_path / "out.mkv"
        with av.open(str(tmp_path / "out.mkv")) as c:
            assert c.streams.video[0].codec_context.width == 128
        with pytest.raises(OutputError, match="--overwrite"):
            up.upscale_file(tiny_video, tmp_path / "out.mkv")
        with pytest.raises(ConfigError, match="--crf 99 is out of range"):
            up.upscale_file(tiny_video, tmp_path / "again.mkv", crf=99)
        # arguments of the wrong kind are named, not compared ("'<=' not supported") or taken as true
        with pytest.raises(ConfigError, match=r"crf='18': a whole number \(crf=18, not a string\)"):
            up.upscale_file(tiny_video, tmp_path / "again.mkv", crf="18")
        with pytest.raises(ConfigError, match="audio='no': True or False, not a string"):
            up.upscale_file(tiny_video, tmp_path / "again.mkv", audio="no")
        with pytest.raises(ConfigError, match=r"start='1:30': a number$"):
            up.upscale_file(tiny_video, tmp_path / "again.mkv", start="1:30")
        with pytest.raises(TypeError, match="upscale_file.. got unexpected keyword arguments frames; .*max_frames"):
            up.upscale_file(tiny_video, tmp_path / "again.mkv", frames=3)
        with pytest.raises(TypeError, match=r"arguments scale; .*Upscaler\(scale=...\)"):
            up.upscale_file(tiny_video, tmp_path / "again.mkv", scale=4)
        with pytest.raises(ConfigError, match="--crf 20 and --bitrate 2M both set a video's quality: give one"):
            up.upscale_file(tiny_video, tmp_path / "again.mkv", crf=20, bitrate="2M")  # the CRF was dropped
        # an encoder the format refuses is not called missing from FFmpeg; the outputs that hold it are named
        with pytest.raises(ConfigError, match=r"format \(mp4\) cannot hold prores_ks video .*use a \.mov or a \.mkv"):
            up.upscale_file(tiny_video, tmp_path / "again.mp4", codec="prores_ks")
        assert not (tmp_path / "again.mkv").exists() and not (tmp_path / "again.mp4").exists()


def test_encoder_defaults_depend_on_the_codec(tiny_video: Path, tmp_path: Path) -> None:
    """x264 runs at preset veryfast and CRF 16 unless told otherwise (the measured trade-off in
    DEFAULT_PRESET's comment); the other encoders keep CRF 18; a CRF or preset given is kept."""
    x264 = api.plan_file(tiny_video, tmp_path / "a.mp4", scale=2).encode
    assert (x264.codec, x264.preset, x264.crf) == ("libx264", "veryfast", 16)
    assert x264.codec_options() == {"crf": "16", "preset": "veryfast"}
    vp9 = api.plan_file(tiny_video, tmp_path / "a.webm", scale=2).encode
    assert (vp9.codec, vp9.crf) == ("libvpx-vp9", 18)
    asked = api.plan_file(tiny_video, tmp_path / "b.mp4", scale=2, crf=20, preset="medium").encode
    assert (asked.preset, asked.crf) == ("medium", 20)


def test_scale_and_fast_pick_the_bundled_model() -> None:
    with Upscaler(scale=4) as up:
        assert up.model == "realtime-x4"
    with pytest.raises(ConfigError, match="upscales x2, not x4"):
        Upscaler("realtime-x2", scale=4)
    assert "Upscaler" in srstream.__all__


def test_a_change_capped_upscaler_holds_a_still_stream_and_records_the_cap(tiny_video: Path, tmp_path: Path) -> None:
    """`change_cap`: a change in one input pixel moves the output only next to it (the network's
    own output moves further), the job manifest names the gain and noise level (a resume must match
    them), and an image job is refused."""
    frame = np.random.default_rng(1).integers(0, 255, (12, 16, 3), np.uint8)
    touched = frame.copy()
    touched[0, 0] = 255 - touched[0, 0]

    def moved(up: Upscaler) -> np.ndarray:
        step = up.upscale(frame).astype(int) - up.upscale(touched).astype(int)
        step[:4, :4] = 0  # the pixel and its neighbours (radius 1), at x2
        return step

    with Upscaler(scale=2, fast=True) as plain:
        assert np.abs(moved(plain)).max() > 0
    with Upscaler(scale=2, fast=True, change_cap=1.5) as up:
        assert up.describe().endswith(", change-capped")
        assert np.abs(moved(up)).max() == 0
        job = api.plan_file(tiny_video, tmp_path / "a.mp4", scale=2)
        assert up.job_options(job)["change_cap"] == 1.5 and up.job_options(job)["change_cap_noise"] == NOISE_LEVEL
        still = tmp_path / "still.png"
        import cv2

        cv2.imwrite(str(still), frame)
        with pytest.raises(ConfigError, match="does nothing for images"):
            up.upscale_file(still, tmp_path / "still_x2.png")
    with Upscaler(scale=2, fast=True) as plain:
        assert "change_cap" not in plain.job_options(job) and "change-capped" not in plain.describe()
        assert "stabilize_still" not in plain.job_options(job)
    from srstream.engine.stabilize import STILL_STRENGTH

    with Upscaler(scale=2, fast=True, stabilize=0.5, stabilize_still=STILL_STRENGTH) as steady:
        assert steady.job_options(job)["stabilize_still"][0] == STILL_STRENGTH  # a resume must hold them alike
    with Upscaler(scale=2, fast=True, stabilize=0.5) as steady:  # off unless asked (screen recordings)
        assert steady.job_options(job)["stabilize_still"][0] == 0.0
    with pytest.raises(ConfigError, match="change_cap=-1"):
        Upscaler(scale=2, fast=True, change_cap=-1)


@pytest.mark.parametrize(("option", "said"), [({"change_cap": float("inf")}, "change_cap=inf"),
                                             ({"threads": -1}, "threads=-1"),  # was taken
                                             ({"threads": float("nan")}, "threads=nan"),  # ORT's TypeError
                                             ({"tile": -5}, "tile=-5"), ({"tile": float("nan")}, "tile=nan"),
                                             ({"tile": True}, "tile=True"),
                                             ({"scale": float("nan")}, "scale=nan"),  # "upscales x2, not xnan"
                                             ({"size": (0, 0)}, r"size=\(0, 0\)"),  # was taken
                                             ({"size": 640}, "size=640")])  # "object of type 'int' has no len()"
def test_upscaler_settings_out_of_range_are_named(option: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        Upscaler(fast=True, backend="ort", precision="fp32", **option)  # type: ignore[arg-type]


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_one_upscaler_on_two_videos_starts_each_afresh(tiny_video: Path, tmp_path: Path) -> None:
    """The stabiliser and the change cap carried the last video's frames into the next one: the
    second video's first frame was blended with the first video's last."""
    with Upscaler(scale=2, fast=True, stabilize=0.5, change_cap=2.0) as up:
        up.upscale_file(tiny_video, tmp_path / "first.mkv", crf=0)
        up.upscale_file(tiny_video, tmp_path / "second.mkv", crf=0)
    first, second = _decoded(tmp_path / "first.mkv"), _decoded(tmp_path / "second.mkv")
    assert len(first) == len(second) == 6
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_a_folder_of_videos_runs_through_the_library_as_on_the_command_line(tmp_path: Path) -> None:
    """``Upscaler.upscale_file(folder)`` upscaled a folder's images only, and a folder of videos
    (a season of episodes) was an error ("has no images"). Now each video is written as the
    command line writes it, with this Upscaler's model and the encoder settings given; one that
    fails is listed and the others go on; a second run skips what is there."""
    from tests.conftest import write_video

    season = tmp_path / "season"
    (season / "extras").mkdir(parents=True)
    write_video(season / "e01.mp4", frames=4, audio=True)
    write_video(season / "extras" / "making of.mov", frames=3)
    (season / "e02.vob").write_bytes(b"\0\0\1\xba" + bytes(60))  # a DVD file cut short: not a video
    out = tmp_path / "out"
    with Upscaler(scale=2, fast=True) as up:
        result = up.upscale_file(season, out, recursive=True, crf=0, segments=2)
        assert result.batch is None and result.videos.total == 3
        assert result.videos.done == [season / "e01.mp4", season / "extras" / "making of.mov"]
        assert [video for video, _ in result.videos.failed] == [season / "e02.vob"]
        assert not (out / "e02.mkv").exists()  # never half-written
        done = result.videos.results[season / "e01.mp4"]
        assert done.segments is not None and done.segments.frames_out == 4  # the job settings reach each video
        assert [len(_decoded(out / "e01.mp4")), len(_decoded(out / "extras" / "making of.mov"))] == [4, 3]
        with av.open(str(out / "e01.mp4")) as container:
            assert container.streams.video[0].codec_context.width == 128 and container.streams.audio
        again = up.upscale_file(season, out, recursive=True).videos
        assert again.done == [] and len(again.kept) == 2 and len(again.failed) == 1
        assert "0 of 3 videos upscaled, 2 skipped" in again.summary(out)
        # without recursive: the subfolder left alone is named, as the command line names it
        flat = up.upscale_file(season, tmp_path / "flat")
        assert flat.videos.done == [season / "e01.mp4"]
        assert flat.notes == ["1 subfolder with images or videos not read (extras): recursive=True upscales them "
                              "too, each at its place under the output folder"]
        assert up.upscale_file(season, tmp_path / "deep", recursive=True).notes == []
        with pytest.raises(OutputError, match="is the input itself"):
            up.upscale_file(season, season, overwrite=True)
        (tmp_path / "afile").write_bytes(b"x")
        with pytest.raises(OutputError, match="is a file"):
            up.upscale_file(season, tmp_path / "afile")


def test_frames_and_duration_take_a_videos_first_frames_only(tmp_path: Path) -> None:
    """--frames and --duration stopped only live captures: on a video file they were ignored
    without a word, so a preview of a long film upscaled all of it. They now take a video's first
    frames or seconds (with its sound to there), from a video or an image sequence, into a video or
    numbered frames, in one pass; a limit for images, a resumable job's segments or workers is
    refused before any work. On one CPU (no frame threads: each frame is out as soon as its packet is
    in) the sound ended a packet early, before the demuxer had read it."""
    import os

    from tests.conftest import write_tone_clip
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    clip = write_tone_clip(tmp_path / "film.mp4", frames=50)  # 2 s at 25 fps, a tone from 0.1 s
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with Upscaler(str(nearest)) as up:
        cpus = os.sched_getaffinity(0)
        for name, allowed in (("second.mp4", cpus), ("second_one_cpu.mp4", {min(cpus)})):
            os.sched_setaffinity(0, allowed)  # the run's threads, started from here, inherit it
            try:
                second = up.run(api.plan_file(clip, tmp_path / name, scale=2, max_seconds=1))
            finally:
                os.sched_setaffinity(0, cpus)
            assert second.video.frames_out == 25 and not second.video.ended_early
            assert "the first 25 frames only (--duration)" in " ".join(second.video.notes)
            with av.open(str(tmp_path / name)) as c:
                assert c.streams.video[0].frames == 25
                last = [q for q in c.demux(c.streams.audio[0]) if q.pts is not None][-1]
                # the sound to there: to the last frame's end, within the one AAC packet (23 ms) that spans it,
                # not to where the demuxer had read ahead (1.098 s: four packets more)
                assert 1 <= (last.pts + last.duration) * last.time_base < 1 + 1024 / 44100, name
        four = up.run(api.plan_file(clip, tmp_path / "f" / "%d.png", scale=2, max_frames=4))
        assert four.video.frames_out == 4 and sorted(p.name for p in (tmp_path / "f").glob("*.png")) == [
            "1.png", "2.png", "3.png", "4.png"]
        whole = up.run(api.plan_file(clip, tmp_path / "all.mp4", scale=2, max_frames=500))  # more than it has
        assert whole.video.frames_out == 50 and not any("first" in n for n in whole.video.notes)
        seq = up.run(api.plan_file(tmp_path / "f", tmp_path / "seq.mp4", scale=2, max_frames=2))  # frames, not lost
        assert seq.video.frames_out == 2
    with pytest.raises(ConfigError, match="one pass"):  # a sequence's segments asked for
        api.plan_file(tmp_path / "f", tmp_path / "seq2.mp4", scale=2, max_frames=2, segments=2)
    for kwargs, error in (({"max_frames": 0}, "1 or more"), ({"max_seconds": float("inf")}, "above 0"),
                          ({"max_frames": 5, "segments": 10}, "one pass"),
                          ({"max_frames": 5, "workers": 2}, "one pass")):
        with pytest.raises(ConfigError, match=error):
            api.plan_file(clip, tmp_path / "refused.mp4", scale=2, **kwargs)
    import cv2

    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="images and folders are upscaled whole"):
        api.plan_file(tmp_path / "still.png", tmp_path / "still_x2.png", scale=2, max_frames=1)
    assert not (tmp_path / "refused.mp4").exists() and not (tmp_path / "still_x2.png").exists()


def _scene_film(path: Path) -> Path:
    """2 s at 25 fps (grey 40 + 3i, a keyframe every 10, each starting a cluster: a seek lands
    there), a tone from 1.2 s, four subtitle lines (0-0.5, 0.3-1.9, 0.8-1.2 and 1.5-1.7 s) and
    three chapters (0-0.6, 0.6-1.4, 1.4-2 s)."""
    from fractions import Fraction

    ms = Fraction(1, 1000)
    with av.open(str(path), "w", options={"cluster_time_limit": "100"}) as c:  # a cluster at each keyframe
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        v.options = {"g": "10", "preset": "ultrafast"}
        a = c.add_stream("aac", rate=44100)
        s = c.add_mux_stream("subrip")
        s.time_base = ms
        marks = [(0, 600, "One"), (600, 1400, "Two"), (1400, 2000, "Three")]
        c.set_chapters([{"id": i + 1, "start": t0, "end": t1, "time_base": ms, "metadata": {"title": name}}
                        for i, (t0, t1, name) in enumerate(marks)])
        for i in range(50):
            c.mux(v.encode(av.VideoFrame.from_ndarray(np.full((64, 96, 3), 40 + i * 3, np.uint8), format="rgb24")))
        c.mux(v.encode())
        wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(0.8 * 44100)) / 44100)).astype(np.float32)
        sound = av.AudioFrame.from_ndarray(wave[None], format="fltp", layout="mono")
        sound.sample_rate, sound.pts = 44100, int(1.2 * 44100)
        c.mux(a.encode(sound))
        c.mux(a.encode())
        for text, t0, t1 in ((b"Before", 0, 500), (b"Long", 300, 1900), (b"Across", 800, 1200),
                             (b"After", 1500, 1700)):
            line = av.Packet(text)
            line.stream, line.pts, line.dts, line.duration, line.time_base = s, t0, t0, t1 - t0, ms
            c.mux(line)
    return path


def test_start_takes_a_scene_from_inside_a_video_with_its_sound_subtitles_and_chapters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A preview or a scene could only be taken from a video's start (--frames, --duration): a
    film's opening credits. --start 0:00.92 now begins at frame 23 (decoded from the keyframe at
    frame 20) and the output counts its times from there: its sound 0.28 s in where the tone
    began 1.2 s into the film, the subtitles shown across the cut from 0 (one begun before that
    keyframe too), the chapters moved."""
    from srstream import cli
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    film = _scene_film(tmp_path / "film.mkv")
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    out = tmp_path / "scene.mkv"
    code = cli.main([str(film), "-o", str(out), "--start", "0:00.92", "--duration", "1", "--model", str(nearest),
                     "--backend", "ort", "--precision", "fp32", "--crf", "0"])
    text = capsys.readouterr().err
    assert code == 0 and "25 frames from 0:00.92 to 0:01.92 only" in text, text
    with av.open(str(out)) as c:
        frames = [(f.pts * f.time_base, f.to_ndarray(format="gray")) for f in c.decode(video=0)]
        assert len(frames) == 25 and frames[0][0] == 0 and frames[-1][0] == Fraction(24, 25)
        assert [round(float(np.median(g))) for _, g in frames[:3]] == [109, 112, 115]  # frames 23, 24, 25
    with av.open(str(out)) as c:
        lines = [(bytes(p), p.pts, p.duration) for p in c.demux(c.streams.subtitles[0]) if p.size]
        # "Long" began before the keyframe the pictures are decoded from (0.8 s): it was lost
        assert lines == [(b"Long", 0, 980), (b"Across", 0, 280), (b"After", 580, 200)]
        assert [(ch["metadata"]["title"], ch["start"] * ch["time_base"], ch["end"] * ch["time_base"])
                for ch in c.chapters()] == [("Two", 0, Fraction(12, 25)), ("Three", Fraction(12, 25), 1)]  # to 1 s
    with av.open(str(out)) as c:
        heard = [(f.pts * f.time_base, f.to_ndarray()[0]) for f in c.decode(audio=0)]
        rate = c.streams.audio[0].rate
    when, sound = next((t, samples) for t, samples in heard if (np.abs(samples) > 0.1).any())
    onset = when + np.argmax(np.abs(sound) > 0.1) / rate
    assert abs(onset - 0.28) < 1024 / 44100 + 0.005, onset  # the tone where it was in the film, to within a packet
    # the cut's frames are numbered files from 1; a start past the end, or for an image, is refused
    four = cli.main([str(film), "-o", str(tmp_path / "f" / "%d.png"), "--start", "1.6", "--model", str(nearest),
                     "--backend", "ort", "--precision", "fp32"])
    assert four == 0 and len(list((tmp_path / "f").glob("*.png"))) == 10
    # an image sequence from its sixth frame: not "5 of the 10 frames did not decode"
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        assert up.upscale_file(tmp_path / "f", tmp_path / "seq.mkv", fps=25, start=0.2).video.frames_out == 5
    # a transport stream seeks by time onto any packet; one keyframe in all, its decoder gave nothing after it
    from tests.conftest import remux_video, write_video

    ts = remux_video(write_video(tmp_path / "one_gop.mp4", frames=60, rate=30), tmp_path / "one_gop.ts")
    cut = api.plan_file(ts, tmp_path / "ts_cut.mkv", scale=2, start=1)
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        assert up.run(cut).video.frames_out == 30
    with pytest.raises(ConfigError, match=r"--start 0:05: .* is 0:02[.0-9]* long"):
        api.plan_file(film, tmp_path / "late.mkv", scale=2, start=5)
    with pytest.raises(ConfigError, match="one pass"):  # a scene's first frames
        api.plan_file(film, tmp_path / "late.mkv", scale=2, start=1, max_frames=5, workers=2)
    shared = api.plan_file(film, tmp_path / "late.mkv", scale=2, start=1, workers=2)  # a scene's segments, on Ray
    assert shared.segment_frames and shared.start == 1
    capsys.readouterr()
    assert cli.main([str(film), "--start", "1:75"]) == 2 and "as players show it" in capsys.readouterr().err
    for text in ("nan", "inf", "0:nan"):  # float() reads them; a traceback ("cannot convert float NaN") before
        assert cli.main([str(film), "--start", text]) == 2 and "as players show it" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--start nan: a time from the video's start"):  # the API's own check
        api.plan_file(film, tmp_path / "nan.mkv", scale=2, start=float("nan"))
    # beside an image, which is upscaled whole; a cut is no truncated file ("ended after 25 of the 50 frames")
    import cv2

    cv2.imwrite(str(tmp_path / "still.png"), np.full((8, 8, 3), 90, np.uint8))
    assert cli.main([str(film), str(tmp_path / "still.png"), "-o", str(tmp_path / "both"), "--start", "1",
                     "--model", str(nearest), "--backend", "ort", "--precision", "fp32"]) == 0
    assert (tmp_path / "both" / "still_x2.png").is_file() and len(_decoded(tmp_path / "both" / "film_x2.mkv")) == 25
    # --to: the end as a player shows it, in place of --duration
    common = ["--model", str(nearest), "--backend", "ort", "--precision", "fp32"]
    assert cli.main([str(film), "-o", str(tmp_path / "to.mkv"), "--start", "0.92", "--to", "0:01.92", *common]) == 0
    assert "25 frames from 0:00.92 to 0:01.92 only" in capsys.readouterr().err
    assert cli.main([str(film), "-o", str(tmp_path / "to2.mkv"), "--start", "1", "--to", "0.5", *common]) == 2
    assert "--to 0:00.5 is not after --start 0:01" in capsys.readouterr().err


def _streams(path: Path) -> dict[str, list]:
    """What a player gets from ``path``: each frame's time and pixels, each sound and subtitle
    packet's time and bytes (a subtitle's duration too), the chapters."""
    with av.open(str(path)) as c:
        got: dict[str, list] = {"frames": [(f.pts * f.time_base, f.to_ndarray(format="gray").tobytes())
                                           for f in c.decode(video=0)]}
    with av.open(str(path)) as c:
        got["packets"] = [(p.stream.type, p.pts * p.time_base, bytes(p)) + ((p.duration,) if p.stream.type == "subtitle"
                           else ()) for p in c.demux(*c.streams.audio, *c.streams.subtitles) if p.size]
        got["chapters"] = [(ch["metadata"]["title"], ch["start"] * ch["time_base"], ch["end"] * ch["time_base"])
                           for ch in c.chapters()]
    return got


def test_a_scene_runs_as_a_resumable_job_that_gives_the_file_of_one_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--start and --to ran in one pass: an hour cut from a film was lost to a crash or Ctrl-C
    where the whole film would have resumed. A part given by times is now cut into segments
    (from its first frame, keyframe-aligned, to its end), and the job's join cuts the sound,
    subtitles and chapters as one pass does: the same frames, times, packets and chapters. An
    interrupted scene resumes; the same output with another --start is refused, not mixed."""
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    film = _scene_film(tmp_path / "film.mkv")
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    part = {"start": 0.92, "max_seconds": 1, "crf": 0}
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        one = up.run(api.plan_file(film, tmp_path / "one.mkv", scale=2, segments="off", **part))
        assert one.video.frames_out == 25
        job = api.plan_file(film, tmp_path / "job.mkv", scale=2, segments=8, **part)
        real, calls = Upscaler.segment, []

        def stopped_after_one(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            calls.append(args[2])
            if len(calls) == 2:
                raise KeyboardInterrupt
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Upscaler, "segment", stopped_after_one)
        assert up.run(job).segments.interrupted
        monkeypatch.setattr(Upscaler, "segment", real)
        assert calls[0] == (None, 1600)  # from the cut (frame 23, decoded from frame 20) to the keyframe at 40 (1.6 s)
        with pytest.raises(ConfigError, match="the options changed"):
            up.run(api.plan_file(film, tmp_path / "job.mkv", scale=2, segments=8, **{**part, "start": 0.6}))
        done = up.run(job).segments
    assert (done.segments, done.reused, done.frames_out) == (2, 1, 25)
    assert "25 frames from 0:00.92 to 0:01.92 only" in " ".join(done.notes)
    assert not done.ended_early
    assert _streams(tmp_path / "job.mkv") == _streams(tmp_path / "one.mkv")


def test_chapters_an_output_cannot_hold_are_said_to_be_lost_not_copied(tmp_path: Path) -> None:
    """FFmpeg's .avi, .ts, .flv, .mpg and .mxf muxers take chapters and write none: a run said
    "copied: 3 chapters" of a file that held none. They are now said not to be kept."""
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    film = _scene_film(tmp_path / "film.mkv")
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        for suffix, held in ((".mpg", False), (".avi", False), (".mp4", True)):
            result = up.run(api.plan_file(film, tmp_path / f"out{suffix}", scale=2, subtitles=False))
            with av.open(str(tmp_path / f"out{suffix}")) as c:
                assert len(c.chapters()) == (3 if held else 0), suffix
            assert ("3 chapters" in result.video.copied_streams) == held, result.video.copied_streams
            assert any(n.startswith(f"3 chapters not kept: a {suffix} file") for n in result.video.notes) != held
        preview = up.run(api.plan_file(film, tmp_path / "preview.mkv", scale=2, max_seconds=0.5))
        assert "1 chapter" in preview.video.copied_streams  # not "1 chapters"
        frames = up.run(api.plan_file(film, tmp_path / "frames.mkv", scale=2, max_frames=20))
        assert "2 chapters" in frames.video.copied_streams
    with av.open(str(tmp_path / "preview.mkv")) as c:  # a preview's chapters end with it: they ran on past it
        kept = [(ch["metadata"]["title"], ch["end"] * ch["time_base"]) for ch in c.chapters()]
        assert kept == [("One", Fraction(1, 2))]
    with av.open(str(tmp_path / "frames.mkv")) as c:  # so do --frames': 20 frames at 25 fps, 0.8 s
        kept = [(ch["metadata"]["title"], ch["end"] * ch["time_base"]) for ch in c.chapters()]
        assert kept == [("One", Fraction(3, 5)), ("Two", Fraction(4, 5))]


def test_an_mp4s_chapter_track_is_not_said_to_be_lost(tmp_path: Path) -> None:
    """An .mp4 or .mov keeps its chapters in a text track its demuxer reads as the chapters and
    shows as a data stream: a run copied the chapters and said "stream #2 (data: SubtitleHandler)
    is not kept" of the same chapters."""
    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    film = _scene_film(tmp_path / "film.mkv")
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        up.run(api.plan_file(film, tmp_path / "first.mp4", scale=2, subtitles=False))
        with av.open(str(tmp_path / "first.mp4")) as c:
            assert len(c.chapters()) == 3 and len(c.streams.data) == 1  # the chapter track
        again = up.run(api.plan_file(tmp_path / "first.mp4", tmp_path / "again.mp4", scale=2))
    assert "3 chapters" in again.video.copied_streams
    assert not any("data" in n for n in again.video.notes), again.video.notes


def test_a_long_video_whose_container_counts_no_frames_runs_as_a_resumable_job() -> None:
    """Matroska, WebM and MPEG-TS declare no frame count: `--segments auto` took them as 0 frames,
    so a two-hour .mkv ran in one pass, which a crash cannot resume. They are counted from their
    duration, as the fit counts them."""
    from fractions import Fraction

    from srstream.engine.media import MediaInfo

    movie = MediaInfo(path=Path("movie.mkv"), kind="video", seconds=7200.0, rate=Fraction(24000, 1001))
    short = MediaInfo(path=Path("clip.mkv"), kind="video", seconds=10.0, rate=Fraction(30))
    assert movie.frames == 0 and api._segment_frames("auto", movie, False) == api.AUTO_SEGMENT_FRAMES
    assert api._segment_frames("auto", short, False) == 0
    assert api._segment_frames("auto", short, False, parallel=True) == 38  # about 8 segments of its 300 frames
    assert api._segment_frames("off", movie, False) == 0


def test_an_mp4_output_has_its_index_first_and_reads_from_a_pipe(tmp_path: Path) -> None:
    """An .mp4 or .mov output had its index (moov) after its data, FFmpeg's default: a browser
    streaming it waits for the end, and sr-stream itself refused its own output on standard input
    ("one whose index (moov) comes after its data cannot be read from a pipe"). It comes first now."""
    import struct
    import subprocess
    import sys

    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    def top_boxes(path: Path) -> list[bytes]:
        data, at, names = path.read_bytes(), 0, []
        while at + 8 <= len(data):
            size, name = struct.unpack(">I4s", data[at:at + 8])
            names.append(name)
            at += struct.unpack(">Q", data[at + 8:at + 16])[0] if size == 1 else size or len(data)
        return names

    film = _scene_film(tmp_path / "film.mkv")
    nearest = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())
    with Upscaler(str(nearest), backend="ort", precision="fp32") as up:
        for suffix in (".mp4", ".mov", ".m4v"):
            up.run(api.plan_file(film, tmp_path / f"out{suffix}", scale=2, subtitles=False))
            boxes = top_boxes(tmp_path / f"out{suffix}")
            assert b"moov" in boxes and boxes.index(b"moov") < boxes.index(b"mdat"), (suffix, boxes)
    r = subprocess.run([sys.executable, "-m", "srstream", "-", "-o", str(tmp_path / "again.mkv"), "--model",
                        str(nearest), "--backend", "ort", "--precision", "fp32", "--no-subtitles"],
                       input=(tmp_path / "out.mp4").read_bytes(), capture_output=True, timeout=240)
    assert r.returncode == 0, r.stderr.decode()
    with av.open(str(tmp_path / "again.mkv")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 50


def _gopro_clip(path: Path, frames: int = 50) -> list[bytes]:
    """A 25-fps clip with a GoPro camera's telemetry track (``gpmd``, handler "GoPro MET": a packet
    every half second, as GoPro's files hold one a second); returns the packets' bytes."""
    sent = []
    with av.open(str(path), "w") as c:
        video = c.add_stream("libx264", rate=25, options={"g": "10"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        data = c.add_data_stream("bin_data")
        data.metadata["handler_name"] = "GoPro MET"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 4 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                c.mux(packet)
            if i % 12 == 0 and i + 12 <= frames:
                body = b"DEVC" + bytes([i]) * 60
                packet = av.Packet(body)
                packet.stream, packet.pts, packet.dts = data, i * 40, i * 40
                packet.duration, packet.time_base = 480, Fraction(1, 1000)
                c.mux(packet)
                sent.append(body)
        for packet in video.encode(None):
            c.mux(packet)
    return sent


def _telemetry(path: Path) -> tuple[str, list[tuple[float, bytes]]]:
    with av.open(str(path)) as c:
        if not c.streams.data:
            return "", []
        data = c.streams.data[0]
        data.discard = av.stream.Discard.default
        packets = [(float(p.pts * p.time_base), bytes(p)) for p in c.demux(data) if p.size]
        return data.metadata.get("handler_name", ""), packets


def test_a_gopro_clips_telemetry_goes_into_an_mp4_or_mov_and_is_named_where_it_cannot(tmp_path: Path) -> None:
    """A GoPro's GPS and motion track (GPMF), which dashboard and stabilising tools read from the video,
    was left out of every output; an .mp4 or .mov now keeps it, in one pass, a scene and a job's join."""
    src = tmp_path / "GX010001.MP4"
    sent = _gopro_clip(src)
    with Upscaler(scale=2, fast=True) as up:
        for name, options in [("out.mp4", {}), ("out.mov", {"audio": False}), ("job.mp4", {"segments": 20})]:
            result = up.upscale_file(src, tmp_path / name, **options)
            report = result.segments if result.segments is not None else result.video
            assert (result.segments is not None) == ("segments" in options)
            assert "data stream #1 (GoPro telemetry)" in report.copied_streams, (name, report.copied_streams)
            assert not any("not kept" in n for n in report.notes), report.notes
            handler, packets = _telemetry(tmp_path / name)
            assert handler == "GoPro MET" and packets == [(0.48 * i, body) for i, body in enumerate(sent)], name
        scene = up.upscale_file(src, tmp_path / "scene.mp4", start=0.6)  # from the cut on, moved back by it
        assert [(round(t, 2), body) for t, body in _telemetry(tmp_path / "scene.mp4")[1]] == \
            [(0.36, sent[2]), (0.84, sent[3])], scene.video.notes
        mkv = up.upscale_file(src, tmp_path / "out.mkv")
        assert _telemetry(tmp_path / "out.mkv") == ("", [])
        assert any(n.startswith("stream #1 (data: GoPro telemetry: GPS, accelerometer, gyroscope) is not kept: a .mkv")
                   for n in mkv.video.notes), mkv.video.notes
