"""Shared fixtures: small media generated on the fly, the repo's sample clip, shared data."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CLIP = REPO / "samples" / "traffic_4s.mp4"


def shared_data() -> Path | None:
    """``$SRSTREAM_DATA`` or ``../shared/data`` beside the checkout, when present."""
    candidate = Path(os.environ.get("SRSTREAM_DATA", REPO.parent / "shared" / "data"))
    return candidate if candidate.is_dir() else None


def remux_video(src: Path, dst: Path, format: str | None = None) -> Path:
    """``src``'s video stream copied, packet for packet, into ``dst`` (its container named by its
    extension, or ``format``): the same pictures in another container."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format=format) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


def upscale_cli(src: Path, out: Path, model: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """``sr-stream SRC -o OUT`` with ``model`` on ONNX Runtime fp32 and x264 ultrafast (a test's
    quick, exact run): the exit code and what it printed."""
    from srstream import cli

    code = cli.main([str(src), "-o", str(out), "--model", str(model), "--backend", "ort", "--precision", "fp32",
                     "--preset", "ultrafast", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def emulation_prevented(rbsp: bytes) -> bytes:
    """An H.264/H.265 NAL unit's payload with its emulation prevention bytes (a 3 after two zeros
    before a byte of 3 or less), as it is written between start codes."""
    escaped, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            escaped.append(3)
            zeros = 0
        escaped.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(escaped)


def write_video(path: Path, frames: int = 6, size: tuple[int, int] = (64, 48), audio: bool = False,
                rate: int = 30, times_ms: list[int] | None = None) -> Path:
    """A tiny H.264 (or MPEG-4 part 2 where libx264 is missing) clip of moving gradients at ``rate``
    frames a second, or with each frame at its time in ``times_ms`` (a variable frame rate)."""
    import av

    from srstream.engine.encode import x264_params

    width, height = size
    with av.open(str(path), "w") as container:
        try:
            stream = container.add_stream("libx264", rate=Fraction(rate))
            if params := x264_params():  # the same file in every test process (see x264_params)
                stream.options = {"x264-params": params}
        except Exception:  # a PyAV build without libx264
            stream = container.add_stream("mpeg4", rate=Fraction(rate))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if audio:
            astream = container.add_stream("aac", rate=44100)
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(frames):
            rgb = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio:
            samples = np.zeros((1, 1024 * 4), dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 44100
            for packet in astream.encode(frame):
                container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path


def write_tone_clip(path: Path, frames: int = 30, tone: float = 440.0, audio_codec: str = "aac",
                    start: float = 0.1, rate: int = 44100, end: float | None = None, first: int = 0,
                    audio_options: dict[str, str] | None = None, layout: str = "stereo",
                    chunk: int | None = None) -> Path:
    """A clip of ``frames`` grey frames at 25 fps (x264, a keyframe every 10) with a sine ``tone`` on
    every channel of ``layout`` in ``audio_codec`` at ``rate`` Hz, starting ``start`` seconds in and ending
    with the video (or ``end`` seconds in); ``first``: its clock starts as if that many frames came before
    (the next piece of a recording); ``audio_options``: the audio encoder's (``{"strict": "-2"}`` for
    FFmpeg's own Vorbis encoder); ``chunk``: the samples handed to the encoder at a time (PCM's packets)."""
    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        v.options = {"g": "10", "preset": "ultrafast"}
        a = c.add_stream(audio_codec, rate=rate)
        a.layout = layout
        a.codec_context.options = audio_options or {}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), 40 + i * 3, np.uint8), format="rgb24")
            frame.pts = first + i
            c.mux(v.encode(frame))
        c.mux(v.encode())
        n = int(rate * ((frames / 25 if end is None else end) - start))
        wave = (0.3 * np.sin(2 * np.pi * tone * np.arange(n) / rate)).astype(np.float32)
        channels = len(av.AudioLayout(layout).channels)
        for at in range(0, n, chunk or n):
            piece = np.stack([wave[at:at + (chunk or n)]] * channels)
            # (packed from 8 channels: PyAV lists a planar 7.1 frame's planes as 9, and from_ndarray refuses it)
            sound = av.AudioFrame.from_ndarray(piece.T.reshape(1, -1), format="flt", layout=layout) if channels >= 8 \
                else av.AudioFrame.from_ndarray(piece, format="fltp", layout=layout)
            sound.sample_rate, sound.pts = rate, int((start + first / 25) * rate) + at
            c.mux(a.encode(sound))
        c.mux(a.encode())
    return path


def ffmpeg_cli(*args: str) -> str | None:
    """Run FFmpeg's command line (``ffmpeg -y ARGS``) to make a fixture PyAV cannot encode (TrueHD);
    None when it did, else why not, for ``pytest.skip`` (no ffmpeg, or its build lacks what is asked)."""
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        return "no ffmpeg command (tests/system-deps.sh installs it)"
    done = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True,
                          text=True, timeout=120)
    return None if done.returncode == 0 else f"ffmpeg could not make the fixture: {done.stderr.strip()[-300:]}"


def audio_of(path: Path, index: int = 0) -> tuple[str, float, float, float]:
    """The audio stream ``index`` of ``path``: codec, when the sound starts and how long it lasts in
    seconds (from the first to the last sample above a tenth of full scale in the first channel, so
    an encoder's priming silence does not count), and its loudest frequency (Hz)."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.audio[index]
        frames = list(c.decode(stream))
        channels = len(frames[0].layout.channels)
        samples = np.concatenate([f.to_ndarray().reshape(channels, -1)[0] if f.format.is_planar
                                  else f.to_ndarray().reshape(-1, channels)[:, 0] for f in frames])
        rate = frames[0].sample_rate
        loud = np.flatnonzero(np.abs(samples) > 0.1 * (32768 if samples.dtype.kind == "i" else 1))
        start = float(frames[0].pts * frames[0].time_base) + loud[0] / rate
        peak = np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(np.abs(np.fft.rfft(samples))))]
        return stream.codec_context.name, float(start), float((loud[-1] - loud[0]) / rate), float(peak)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """sr-stream's cache (measured backend choices, imported peers, engines) lives in a folder of
    this test session, shared by its tests and the CLI processes they start, never in ~/.cache."""
    os.environ["SRSTREAM_CACHE"] = str(tmp_path_factory.mktemp("srstream-cache"))


@pytest.fixture(scope="session")
def cuda_kernels():  # noqa: ANN201 - (torch, srstream.engine.kernels.CudaKernels)
    """torch with a visible NVIDIA GPU and the CUDA frame kernels, or a skip saying which is missing."""
    torch = pytest.importorskip("torch", reason="the CUDA tests use torch CUDA tensors as device buffers")
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU visible to torch")
    from srstream.engine.kernels import CudaKernels
    from srstream.errors import BackendError

    try:
        return torch, CudaKernels()
    except BackendError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def tiny_video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4")


def _hypothesis_profiles() -> None:
    from hypothesis import settings

    # CI must be reproducible: same examples every run. Locally, explore new ones.
    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("dev", deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


_hypothesis_profiles()
