"""The README's main job: the bundled sample clip, upscaled with the bundled default model."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from srstream import cli
from tests.conftest import SAMPLE_CLIP


def test_sample_clip_with_the_default_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "traffic_x2.mp4"
    code = cli.main([str(SAMPLE_CLIP), "-o", str(out), "--preset", "ultrafast"])
    _, err = capsys.readouterr()
    assert code == 0, err
    # the sample is web video (x264, mean quantiser 25): the default takes the compressed-video variant
    assert "mean quantiser 25.3 >= 22" in err and "--model realtime-x2 keeps the default" in err
    assert "realtime-x2-compressed x2 on " in err and "fastest correct" in err  # measured on this machine
    with av.open(str(SAMPLE_CLIP)) as src, av.open(str(out)) as dst:
        assert (dst.streams.video[0].codec_context.width, dst.streams.video[0].codec_context.height) == (1280, 720)
        times_in = [f.time for f in src.decode(video=0)]
        times_out = [f.time for f in dst.decode(video=0)]
        assert len(times_in) == len(times_out) == 122 and times_in == times_out  # same frames, same clock
        assert len(dst.streams.audio) == 1
