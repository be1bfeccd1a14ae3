"""Output sizes other than a model's factor: ``--scale 1.5``, ``--scale 3``, ``--height 1080``."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from srstream import cli
from srstream.engine.upscaler import OutputSize
from srstream.errors import ConfigError
from tests.conftest import write_video
from tests.onnx_models import write_conv_net


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_output_sizes_are_even_and_keep_the_aspect_ratio() -> None:
    assert OutputSize(scale=1.5)(1280, 720) == (1920, 1080)
    assert OutputSize(height=1080)(640, 360) == (1920, 1080)
    assert OutputSize(height=1080)(854, 480) == (1922, 1080)  # 854 x 2.25 = 1921.5: the even one nearest
    assert OutputSize(scale=3)(5, 3) == (16, 10)
    # a picture's (for_pictures): to the pixel, the height asked exactly
    assert OutputSize(height=1081, even=False)(854, 480) == (1923, 1081)
    assert OutputSize(scale=3, even=False)(5, 3) == (15, 9) and OutputSize(scale=1.5, even=False)(3, 1) == (5, 2)
    assert (OutputSize(scale=1.5).label, OutputSize(height=720).label) == ("x1.5", "720p")
    assert [OutputSize(scale=s).model_scale() for s in (1, 1.5, 2, 2.5, 4, 6)] == [2, 2, 2, 4, 4, 4]
    for bad in ({"scale": 0.5}, {"height": 1}, {}, {"scale": 2.0, "height": 1080}):
        with pytest.raises(ConfigError):
            OutputSize(**bad)


def test_an_image_at_one_and_a_half_times_is_the_x2_result_shrunk(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``--scale`` took only 2, 3, 4 or 8, and 3 and 8 failed for want of a model. An image comes out at
    the size asked to the pixel (30 x 1.5 = 45 wide): it was rounded to even sides as a video's are (46),
    which only 4:2:0 video needs."""
    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    yy, xx = np.mgrid[0:20, 0:30]
    picture = np.dstack([xx * 8, yy * 12, (xx + yy) * 5]).astype(np.uint8)
    src = tmp_path / "pic.png"
    assert cv2.imwrite(str(src), picture)
    code, out, err = run([str(src), "--model", str(net), "--scale", "1.5", "--backend", "ort", "--precision", "fp32"],
                         capsys)
    assert code == 0, err
    assert "resized to x1.5" in err and "pic_x1.5.png: 45x30" in out
    code, _, err = run([str(src), "--model", str(net), "-o", str(tmp_path / "x2.png"), "--backend", "ort",
                        "--precision", "fp32"], capsys)
    assert code == 0, err
    x2 = cv2.imread(str(tmp_path / "x2.png"))
    expected = cv2.resize(x2, (45, 30), interpolation=cv2.INTER_AREA)
    assert np.array_equal(cv2.imread(str(tmp_path / "pic_x1.5.png")), expected)


def test_a_video_to_a_height_keeps_every_frame_and_the_sound(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    src = write_video(tmp_path / "clip.mp4", frames=8, size=(64, 36), audio=True)
    code, out, err = run([str(src), "--model", str(net), "--height", "54"], capsys)
    assert code == 0, err
    assert "64x36 -> 96x54" in err
    with av.open(str(tmp_path / "clip_54p.mp4")) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (96, 54)
        assert len(container.streams.audio) == 1
        assert sum(1 for _ in container.decode(video)) == 8


def test_output_size_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "pic.png"
    assert cv2.imwrite(str(src), np.full((20, 30, 3), 100, np.uint8))
    for argv, says in ((["--height", "10"], "below the input's 20"),
                       (["--height", "40", "--scale", "2"], "give one"),
                       (["--scale", "0.5"], "does not shrink"),
                       (["--scale", "1.5x"], "a factor such as"),
                       (["--scale", "inf"], "a factor such as"),  # "cannot convert float infinity to integer"
                       (["--scale", "6"], "not x6")):
        code, _, err = run([str(src), *argv], capsys)
        assert code != 0 and says in err, (argv, err)
    assert not list(tmp_path.glob("pic_*"))
    code, _, err = run(["lavfi:testsrc2=size=32x32:rate=30", "--scale", "1.5", "--frames", "1", "--no-display"],
                       capsys)
    assert code != 0 and "for files and images" in err
    from srstream.engine.upscaler import OutputSize
    from srstream.errors import ConfigError

    with pytest.raises(ConfigError, match="--scale inf: a factor such as"):  # the API's Upscaler(output=...)
        OutputSize(scale=float("inf"))


def test_pictures_come_out_at_the_size_asked_and_videos_at_even_sides(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``--height 35`` gave an image 36 rows and ``--scale 1.5`` of a 30x18 array 46x28: both sides were
    rounded to even numbers for every output, which only a 4:2:0 video needs. An image, an array, a
    GIF or animated PNG or WebP now has the size asked to the pixel; a video keeps even sides."""
    from PIL import Image

    from srstream import Upscaler

    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    assert cv2.imwrite(str(tmp_path / "pic.png"), np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8))
    code, out, err = run([str(tmp_path / "pic.png"), "--model", str(net), "--height", "35"], capsys)
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "pic_35p.png")).shape == (35, 53, 3)  # 30 x 1.75 = 52.5: the nearest
    src = write_video(tmp_path / "clip.mp4", frames=4, size=(30, 18))
    for name, size in (("out.gif", (45, 27)), ("out.apng", (45, 27)), ("out.webp", (45, 27)), ("out.mp4", (46, 28))):
        code, out, err = run([str(src), "--model", str(net), "--scale", "1.5", "-o", str(tmp_path / name)], capsys)
        assert code == 0, err
        assert f"30x18 -> {size[0]}x{size[1]}" in err or name == "out.webp", err
        if name == "out.mp4":
            with av.open(str(tmp_path / name)) as container:
                cc = container.streams.video[0].codec_context
                assert (cc.width, cc.height) == size
        else:
            with Image.open(tmp_path / name) as picture:
                assert picture.size == size and picture.n_frames == 4, name
    with Upscaler(str(net), backend="ort", precision="fp32", output=OutputSize(scale=1.5)) as up:
        assert up.upscale(np.zeros((18, 30, 3), np.uint8)).shape == (27, 45, 3)
        assert up.output_size(30, 18) == (46, 28) and up.output_size(30, 18, picture=True) == (45, 27)


def test_a_folder_run_records_its_output_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)
    shots = tmp_path / "shots"
    shots.mkdir()
    for i in range(2):
        assert cv2.imwrite(str(shots / f"{i}.png"), np.full((10, 14, 3), 40 * i, np.uint8))
    code, out, err = run([str(shots), "--model", str(net), "--scale", "1.5"], capsys)
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "shots_x1.5" / "0.png")).shape == (15, 21, 3)  # 10x14 x 1.5, to the pixel
    code, _, err = run([str(shots), "--model", str(net), "-o", str(tmp_path / "shots_x1.5")], capsys)
    assert code != 0 and "other settings" in err and "output" in err  # never two sizes in one folder


def test_a_resized_video_takes_the_4_2_0_path_and_matches_the_rgb_one(tmp_path: Path) -> None:
    """Resizing after the model no longer sends 8-bit 4:2:0 video through RGB: its planes are
    resized alike, and the frames match the RGB path's to within the conversions' rounding."""
    from srstream.engine.backends.ort_backend import OrtBackend
    from srstream.engine.encode import BT601
    from srstream.engine.models import read_onnx_spec
    from srstream.engine.pipeline import picture_rgb
    from srstream.engine.upscaler import FrameUpscaler, ResizedUpscaler
    from srstream.engine.video import EncodeOptions, upscale_video

    from tests.onnx_models import nearest_x2_spec, write_nearest_x2

    net = write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())  # a smooth picture: the paths comparable
    spec = read_onnx_spec(net)
    backend = OrtBackend(spec, net, "fp32")
    try:
        resized = ResizedUpscaler(FrameUpscaler(backend, spec, 0), OutputSize(scale=1.5))
        assert resized.takes_yuv420(36, 64)
        src = write_video(tmp_path / "clip.mp4", frames=4, size=(64, 36))
        report = upscale_video(src, tmp_path / "out.mkv", resized, EncodeOptions(crf=0, preset="ultrafast"))
        assert report.frames_out == 4
        with av.open(str(src)) as a, av.open(str(tmp_path / "out.mkv")) as b:
            pairs = list(zip(a.decode(video=0), b.decode(video=0)))
        for before, after in pairs:
            got = after.to_ndarray(format="rgb24").astype(float)
            want = resized.upscale(picture_rgb(before, BT601)).astype(float)
            assert got.shape == want.shape == (54, 96, 3)
            assert np.abs(got - want).mean() < 3  # 4:2:0 against RGB, chroma resized at half size
    finally:
        backend.close()
