"""Transport streams' times made continuous across jumps (srstream.engine.timeline)."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

from srstream.engine.timeline import Continuity

TB = Fraction(1, 90000)
VIDEO, AUDIO, SUBS = (SimpleNamespace(index=i, type=t) for i, t in enumerate(("video", "audio", "subtitle")))


def _packet(stream: SimpleNamespace, seconds: float, duration: float) -> SimpleNamespace:
    ticks = round(Fraction(seconds) / TB)
    return SimpleNamespace(stream=stream, time_base=TB, dts=ticks, pts=ticks, duration=round(Fraction(duration) / TB))


def _part(start: float, frames: int, sound_lead: float = 0.0) -> list[SimpleNamespace]:
    """25 fps pictures from ``start`` and 1024-sample AAC frames at 48 kHz from ``start - sound_lead``,
    interleaved by time, the sound running a little past the pictures."""
    pictures = [_packet(VIDEO, start + i / 25, 1 / 25) for i in range(frames)]
    sound = [_packet(AUDIO, start - sound_lead + i * 1024 / 48000, 1024 / 48000)
             for i in range(int((frames / 25 + 0.05 + sound_lead) * 48000 / 1024))]
    return sorted(pictures + sound, key=lambda p: p.dts)


def _seconds(packets: list[SimpleNamespace], stream: SimpleNamespace) -> list[Fraction]:
    return [p.dts * TB for p in packets if p.stream is stream]


def test_a_join_going_back_goes_on_from_where_every_stream_was_with_its_sound_in_step() -> None:
    for lead in (0.0, 0.06):  # the second part's sound starting with its pictures, or before them
        first, second = _part(1.4, 50), _part(1.4, 50, sound_lead=lead)
        times = Continuity()
        for packet in first + second:
            times(packet)
        assert times.jumps == 1
        for stream in (VIDEO, AUDIO):
            seconds = _seconds(first + second, stream)
            assert seconds == sorted(set(seconds)), stream.type  # no stream goes back
        video, audio = _seconds(second, VIDEO), _seconds(second, AUDIO)
        assert abs(video[0] - audio[0] - Fraction(lead)) < Fraction(1, 1000)  # the part's sync kept
        assert Fraction(3.4) <= video[0] <= Fraction(3.4) + Fraction(0.1) + Fraction(lead)  # right after the first


def test_a_jump_far_ahead_is_closed_and_small_unevenness_or_sparse_subtitles_are_not_jumps() -> None:
    first, second = _part(0.0, 25), _part(60.0, 25)
    subtitles = [_packet(SUBS, 0.5, 2.0), _packet(SUBS, 30.0, 2.0)]
    times = Continuity()
    for packet in first + subtitles + second:
        times(packet)
    assert times.jumps == 1 and _seconds(second, VIDEO)[0] < 1.2  # not a minute later
    steady = _part(5.0, 100)
    steady[10].dts += round(Fraction(0.03) / TB)  # a packet a little late: not a jump
    times = Continuity()
    for packet in steady:
        times(packet)
    assert times.jumps == 0 and times.offset == 0


def test_one_streams_gap_while_the_others_go_on_is_not_a_jump() -> None:
    """Sound missing for 15 s of a broadcast whose pictures go on: FFmpeg's rule would shift every
    stream back by the gap (the pictures then going back); nothing moves."""
    pictures = [_packet(VIDEO, i / 25, 1 / 25) for i in range(25 * 20)]
    sound = [_packet(AUDIO, t, 0.02) for t in [i * 0.02 for i in range(100)] + [17 + i * 0.02 for i in range(50)]]
    times = Continuity()
    for packet in sorted(pictures + sound, key=lambda p: p.dts):
        times(packet)
    assert times.jumps == 0 and times.offset == 0
