"""Transparency through video runs: kept where the output holds alpha, said where it is dropped."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from srstream import cli
from srstream.engine.backends.ort_backend import OrtBackend
from srstream.engine.encode import options_for
from srstream.engine.models import read_onnx_spec
from srstream.engine.upscaler import FrameUpscaler
from srstream.engine.video import upscale_video
from tests.onnx_models import write_conv_net


@pytest.fixture
def net(tmp_path: Path) -> Path:
    return write_conv_net(tmp_path / "net.onnx", 2, convs=2, features=4)


@pytest.fixture
def upscaler(net: Path) -> FrameUpscaler:
    spec = read_onnx_spec(net)
    backend = OrtBackend(spec, net, "fp32")
    yield FrameUpscaler(backend, spec, 0)
    backend.close()


def _sticker(i: int, size: tuple[int, int] = (24, 16)) -> np.ndarray:
    """An RGBA frame: an opaque patch that moves, on a transparent ground."""
    width, height = size
    rgba = np.zeros((height, width, 4), np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = (xx * 9 + i * 20) % 256, (yy * 13) % 256, 90
    rgba[3:11, 2 + 3 * i:12 + 3 * i, 3] = 255
    return rgba


def _write(path: Path, codec: str, pix_fmt: str, frames: int = 4) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 24, 16, pix_fmt
        if codec == "libvpx-vp9":
            stream.options = {"crf": "10", "b": "0"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_sticker(i), format="rgba")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _rgba(path: Path) -> tuple[str, list[np.ndarray]]:
    """The output's pixel format and its frames as RGBA (VP9's alpha read by libvpx, as a player does)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        vp9_alpha = video.codec_context.name == "vp9" and any(
            k.lower() == "alpha_mode" and v == "1" for k, v in (video.metadata or {}).items())
        decoder = av.CodecContext.create("libvpx-vp9", "r") if vp9_alpha else None
        frames = [f.to_ndarray(format="rgba") for p in container.demux(video)
                  for f in (decoder.decode(p) if decoder else p.decode())]
        return ("yuva420p" if vp9_alpha else video.codec_context.pix_fmt), frames


@pytest.mark.parametrize(("src_name", "src_codec", "src_fmt", "out_name", "codec", "kept_as", "exact"), [
    ("in.webm", "libvpx-vp9", "yuva420p", "out.webm", None, "yuva420p", False),  # VP9 with alpha, libvpx only
    ("in.mov", "qtrle", "argb", "out.mov", "qtrle", "argb", True),  # QuickTime Animation, lossless
    ("in.mov", "png", "rgba", "out.mov", "prores_ks", "yuva444p10le", False),  # ProRes 4444
    ("in.mov", "qtrle", "argb", "out.mkv", "ffv1", "yuva420p", False),
])
def test_transparency_is_kept_where_the_output_holds_alpha(tmp_path: Path, upscaler: FrameUpscaler, src_name: str,
                                                            src_codec: str, src_fmt: str, out_name: str,
                                                            codec: str | None, kept_as: str, exact: bool) -> None:
    """A video with alpha was upscaled as RGB: the transparency was lost without a word."""
    src = _write(tmp_path / src_name, src_codec, src_fmt)
    options = options_for(Path(out_name).suffix, codec, None)
    report = upscale_video(src, tmp_path / out_name, upscaler, options)
    assert report.frames_in == report.frames_out == 4
    assert not any("transparency" in n for n in report.notes), report.notes
    pix_fmt, written = _rgba(tmp_path / out_name)
    assert pix_fmt.startswith(kept_as[:4]) and len(written) == 4
    _, stored = _rgba(src)
    expected_all = [upscaler.upscale(frame)[..., 3].astype(int) for frame in stored]
    errors = [round(float(np.abs(got[..., 3].astype(int) - want).mean()), 3)
              for got, want in zip(written, expected_all)]
    for i, (got, expected) in enumerate(zip(written, expected_all)):
        alpha = got[..., 3].astype(int)
        assert alpha.shape == expected.shape == (32, 48)
        if exact:
            assert np.array_equal(alpha, expected)
        else:  # a lossy or 4:2:0 alpha plane: the same shape to within a few levels
            # (VP9 once, in two full CI runs under load, 4.71 on one frame, 0.19 otherwise: said in full when it comes)
            error, agree = np.abs(alpha - expected).mean(), ((alpha > 127) == (expected > 127)).mean()
            assert error < 4 and agree > 0.97, (i, error, agree, errors, [f[..., 3].mean() for f in stored])
    assert (written[0][..., 3] < 128).mean() > 0.5  # the ground stays transparent


def test_transparency_an_output_cannot_hold_is_dropped_with_a_note(tmp_path: Path, upscaler: FrameUpscaler) -> None:
    src = _write(tmp_path / "in.mov", "qtrle", "argb")
    report = upscale_video(src, tmp_path / "out.mp4", upscaler, options_for(".mp4", None, None))
    assert report.frames_out == 4
    assert any("transparency is dropped" in n and ".webm" in n for n in report.notes), report.notes
    assert _rgba(tmp_path / "out.mp4")[0] == "yuv420p"


def test_a_transparent_gif_stays_a_transparent_gif(tmp_path: Path, net: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """FFmpeg decodes every GIF as bgra; one whose first frame has transparent pixels keeps them, and
    its default output is a GIF (an .mp4 has no alpha), as is a GIF of one frame's. An opaque
    animated GIF still becomes an .mp4."""
    image = pytest.importorskip("PIL.Image")
    sticker, opaque = tmp_path / "sticker.gif", tmp_path / "opaque.gif"
    frames = [image.fromarray(_sticker(i), "RGBA") for i in range(4)]
    frames[0].save(sticker, save_all=True, append_images=frames[1:], duration=100, disposal=2)
    with av.open(str(opaque), "w") as container:
        stream = container.add_stream("gif", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 24, 16, "rgb8"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(_sticker(i)[..., :3]), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame.reformat(format="rgb8")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    still = tmp_path / "still.gif"  # a GIF of one frame: a picture, which stays a GIF
    frames[0].convert("RGB").save(still)
    assert (_rgba(sticker)[1][0][..., 3] == 0).any()
    for src, out in ((sticker, "sticker_x2.gif"), (opaque, "opaque_x2.mp4"), (still, "still_x2.gif")):
        code = cli.main([str(src), "--model", str(net), "--backend", "ort", "--precision", "fp32"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert (tmp_path / out).exists(), err
    _, written = _rgba(tmp_path / "sticker_x2.gif")
    assert len(written) == 4
    for i, got in enumerate(written):
        want = np.kron(_sticker(i)[..., 3], np.ones((2, 2), np.uint8))
        assert ((got[..., 3] > 127) == (want > 127)).mean() > 0.95  # the patch opaque, the ground clear


def test_a_job_of_a_transparent_video_runs_in_one_pass(tmp_path: Path, net: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A job's segments are .mp4 files, which hold no alpha: the run says so and keeps it in one pass."""
    src = _write(tmp_path / "in.webm", "libvpx-vp9", "yuva420p", frames=6)
    code = cli.main([str(src), "-o", str(tmp_path / "out.webm"), "--model", str(net), "--segments", "2"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "cannot hold the input's transparency" in err and "one pass" in err
    pix_fmt, written = _rgba(tmp_path / "out.webm")
    assert pix_fmt == "yuva420p" and len(written) == 6
