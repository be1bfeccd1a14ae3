"""How hard a video was compressed, read from its own bitstream: the decoder's quantiser.

FFmpeg's H.264 decoder (and its VP9, MPEG-2 and MPEG-4 ones, each on its own scale; not HEVC or
AV1) can export the quantiser of every block of every frame (``export_side_data=venc_params``). The mean over the first frames is a direct
measure of how much the encoder threw away, independent of the content: for libx264 it sits
about 4-5 above the CRF (measured on Big Buck Bunny at 960x540: CRF 18 -> 22.5, 23 -> 27.3,
30 -> 35.2). Bits per pixel, the usual stand-in, depends on the content as much as on the
encoder (our own clips span 0.007-0.08 bits per pixel at quantisers 17-30), so it is not used to
choose a model.

:func:`measure` costs one decode of the first ``frames`` frames, before any model runs. It also
takes the :class:`~srstream.engine.screen.Look` of every tenth of them (whether the video looks
like a screen recording), which costs a few milliseconds a frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from srstream.engine.screen import Look

__all__ = ["Compression", "measure"]


@dataclass(frozen=True)
class Compression:
    """``qp``: the mean block quantiser of the frames read (None when the codec does not export
    one); ``codec``: the stream's codec; ``frames``: how many frames were read; ``look``: the
    mean look of every tenth frame read (None when none could be converted)."""

    codec: str
    qp: float | None
    frames: int
    look: Look | None = None

    @property
    def h264_qp(self) -> float | None:
        """The quantiser on H.264's 0-51 scale, which the model choice was measured on; None for
        other codecs, whose scales differ (VP9's q index runs 0-255, MPEG-2's qscale 1-31)."""
        return self.qp if self.codec == "h264" else None

    def describe(self) -> str:
        if self.qp is None:
            return f"{self.codec} (its decoder exports no quantiser)"
        return f"{self.codec} at mean quantiser {self.qp:.1f} over {self.frames} frames"


def measure(path: str | Path, frames: int = 30) -> Compression | None:
    """The compression of the first video stream of ``path`` (None: not a readable video).

    Reads at most ``frames`` frames; never raises for a damaged or unusual file (the run itself
    reports what is wrong with it).
    """
    import av
    import numpy as np

    from srstream.engine.av_errors import av_failures
    from srstream.engine.media import main_video
    from srstream.engine.screen import look, mean_look

    qps: list[float] = []
    looks: list[Look] = []
    read = 0
    codec = "?"
    try:
        with av.open(str(path)) as container:
            stream = main_video(container)
            if stream is None:
                return None
            codec = stream.codec_context.name
            stream.codec_context.options = {"export_side_data": "venc_params"}
            for frame in container.decode(stream):
                read += 1
                for data in frame.side_data:
                    if data.type.name == "VIDEO_ENC_PARAMS":
                        qps.append(float(np.mean(data.qp_map())) if data.nb_blocks else float(data.qp))
                if read % 10 == 1:
                    looks.append(look(frame.to_ndarray(format="gray")))
                if read >= frames:
                    break
    except (*av_failures(), OSError, ValueError):
        return None
    if not read:
        return None
    return Compression(codec, float(np.mean(qps)) if qps else None, read, mean_look(looks))
