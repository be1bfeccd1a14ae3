"""A transport stream's timestamps made continuous across its jumps, as FFmpeg's command line makes them.

An MPEG transport or program stream carries the clock of whatever recorded it. Files joined end to
end (``cat`` of an HLS download's segments or of a recorder's parts), a broadcast's splice or a
restarted recorder make the times jump back, or far ahead, mid-file. FFmpeg marks such formats
(``AVFMT_TS_DISCONT``) and its command line shifts everything after a jump so that the streams
go on from where they were; a muxer refuses times that go back (the run failed with "Invalid
argument" after upscaling the first part). :class:`Continuity` does the same to the packets as
they are read: one shift for all streams, grown at each jump, where a jump is an audio or video
packet more than :data:`JUMP` away from where its stream was due, or more than :data:`BACK`
before its stream's last packet. Times cut in segments would not line up with the shifted ones,
so such a file runs in one pass (:func:`srstream.engine.jobs.plan_segments`).

Written here rather than taken from a library: PyAV hands the packets as the demuxer makes them;
the shifting lives in FFmpeg's command-line tool, not in its libraries.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

__all__ = ["BACK", "JUMP", "TS_DISCONT", "Continuity", "jumps_in"]

#: FFmpeg's ``AVFMT_TS_DISCONT``: the format's timestamps may jump (MPEG-TS, MPEG-PS).
TS_DISCONT = 0x0200
#: A packet this far (seconds) from where its stream was due starts a new stretch of times
#: (FFmpeg's ``-dts_delta_threshold``, 10 by default).
JUMP = Fraction(10)
#: ... and so does one this far before its stream's last packet.
BACK = Fraction(1, 10)


def jumps_in(container: Any) -> bool:
    """Whether ``container``'s format may make its times jump (:data:`TS_DISCONT`)."""
    return bool(container.format.flags & TS_DISCONT)


class Continuity:
    """Shifts packets' times (in place, in each packet's own time base) by what the jumps seen so
    far add up to. ``jumps``: how many were found.

    After a jump the streams go on from the latest time any of them was due (the sound of the part
    before usually runs a little past its pictures), so that none goes back and the part after
    keeps its own sound and pictures in step; a stream whose first packet after the jump would
    still come before its last (its part starting with sound before pictures) moves the shift on
    by that much."""

    def __init__(self) -> None:
        self.offset = Fraction(0)  # seconds added to every time read after the jumps so far
        self.jumps = 0
        self._last: dict[int, Fraction] = {}  # per stream: its last packet's (shifted) decode time
        self._due: dict[int, Fraction] = {}  # per stream: when its next packet is due
        self._latest: Fraction | None = None  # the last decode time of any stream
        self._settling: set[int] = set()  # streams with no packet since the last jump

    def __call__(self, packet: Any) -> None:
        tb = packet.time_base
        if tb is None or (packet.dts is None and packet.pts is None):
            return
        stream = packet.stream
        if packet.dts is not None and stream.type in ("audio", "video"):
            self._follow(stream.index, packet.dts * tb, (packet.duration or 0) * tb, tb)
        shift = round(self.offset / tb)
        if shift:
            if packet.dts is not None:
                packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift

    def _follow(self, index: int, dts: Fraction, duration: Fraction, tick: Fraction) -> None:
        when = dts + self.offset
        due = self._due.get(index)
        if due is not None:
            jumped = abs(when - due) > JUMP or when + BACK < self._last[index]
        else:  # a stream's first packet: against the others
            jumped = self._latest is not None and abs(when - self._latest) > JUMP
        change = max(self._due.values(), default=self._latest) - when if jumped else Fraction(0)
        if abs(change) > BACK:  # not one stream's own gap (sound missing for a while) while the others went on
            self.offset += change
            when = dts + self.offset
            self.jumps += 1
            self._settling = set(self._due) - {index}
        elif index in self._settling:
            self._settling.discard(index)
            if when <= self._last[index]:
                self.offset += self._last[index] + tick - when
                when = dts + self.offset
        self._last[index] = when
        self._due[index] = when + duration
        self._latest = when
