"""Owncast's latency levels and the LL-HLS timing values derived from them.

A level is Owncast's segment length x playlist length; owncastd adds a part target to each.
Every hold-back value is derived from the segment and part targets, so the RFC 8216bis limits
(HOLD-BACK >= 3 x TARGETDURATION, PART-HOLD-BACK >= 3 x PART-TARGET, CAN-SKIP-UNTIL >= 6 x
TARGETDURATION) hold by construction.

Part targets, and why. hls.js in lowLatencyMode plays PART-HOLD-BACK (3 part targets) behind the
end of the playlist, and a part is listed one part target after its first frame was captured, so
glass to glass is about encoder delay (~0.2 s with x264 zerolatency) + 4 part targets + network:
  level 0 and 1: ~1/3 s -> ~1.5 s. Ten frames at 30 fps, eight at 24/25, so a part is whole
                 frames and at least 85 % of the target at every common frame rate.
  level 2:       ~1/2 s -> ~2.2 s: the default trades a few hundred ms for half the playlist
                 reloads and part requests of the lower levels.
  level 3:       ~2/3 s -> ~2.9 s;  level 4: ~1 s -> ~4.2 s (the levels for poor networks).
A shorter target than 1/3 s gives little (the encoder and RTT dominate) and multiplies requests.
Each target has 0.2 % of slack (0.334, 0.501, 0.668, 1.002 s): RTMP timestamps are whole
milliseconds (ten 30 fps frames last 333 or 334 ms) and 29.97 fps frames are 0.1 % long, and a
part may never exceed its target, so without the slack the tenth frame would not fit and parts
would drift off the keyframes (no INDEPENDENT parts, a sliver of a part before each segment end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

DEFAULT_LEVEL = 2


@dataclass(frozen=True, slots=True)
class LatencySettings:
    """Segment and part timing for one stream, in seconds.

    `segment_seconds` is the length the segmenter aims for (cut at the keyframe nearest to it);
    `playlist_segments` how many whole segments a live playlist keeps (at least 3 target
    durations' worth, whatever this says); `part_target` the LL-HLS PART-TARGET, unused when
    `parts_enabled` is false (plain HLS for old players).
    """

    segment_seconds: Fraction
    playlist_segments: int
    part_target: Fraction
    parts_enabled: bool = True

    def __post_init__(self) -> None:
        # Accept ints, floats and strings from config, but keep exact fractions inside.
        object.__setattr__(self, "segment_seconds", _exact(self.segment_seconds))
        object.__setattr__(self, "part_target", _exact(self.part_target))
        if self.segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be positive, got {self.segment_seconds}")
        if self.playlist_segments < 1:
            raise ValueError(f"playlist_segments must be >= 1, got {self.playlist_segments}")
        if not 0 < self.part_target <= self.segment_seconds:
            raise ValueError(f"part_target must be in (0, segment_seconds], got {self.part_target}")

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION: the segment length rounded up to whole seconds."""
        return math.ceil(self.segment_seconds)

    @property
    def hold_back(self) -> Fraction:
        """HOLD-BACK: the RFC minimum, 3 x TARGETDURATION, for players without LL-HLS."""
        return Fraction(3 * self.target_duration)

    @property
    def part_hold_back(self) -> Fraction | None:
        """PART-HOLD-BACK: 3 x PART-TARGET (the RFC says SHOULD, hls.js relies on it)."""
        return 3 * self.part_target if self.parts_enabled else None

    @property
    def can_skip_until(self) -> Fraction:
        """CAN-SKIP-UNTIL (the skip boundary): the RFC minimum, 6 x TARGETDURATION."""
        return Fraction(6 * self.target_duration)

    @property
    def min_playlist_seconds(self) -> Fraction:
        """A live playlist is never shorter than this (RFC 8216bis 6.2.2: 3 target durations)."""
        return Fraction(3 * self.target_duration)


def _exact(value: Fraction | int | float | str) -> Fraction:
    if isinstance(value, float):
        # 0.333 from a config file means a third as typed, not its binary approximation.
        return Fraction(str(value))
    return Fraction(value)


# Owncast release v0.0.8 to v0.2.x: (segment seconds, segments in the playlist).
_OWNCAST_LEVELS: tuple[tuple[int, int], ...] = ((1, 3), (2, 2), (3, 3), (4, 3), (5, 4))
_PART_SLACK = Fraction(1002, 1000)
_PART_TARGETS: tuple[Fraction, ...] = tuple(
    nominal * _PART_SLACK
    for nominal in (Fraction(1, 3), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(1))
)
LEVELS: tuple[int, ...] = tuple(range(len(_OWNCAST_LEVELS)))


def settings_for_level(level: int, *, parts_enabled: bool = True) -> LatencySettings:
    """The settings for Owncast latency level 0-4 (2 is Owncast's default)."""
    if level not in LEVELS:
        raise ValueError(f"latency level must be one of {LEVELS}, got {level}")
    seconds, count = _OWNCAST_LEVELS[level]
    return LatencySettings(
        segment_seconds=Fraction(seconds),
        playlist_segments=count,
        part_target=_PART_TARGETS[level],
        parts_enabled=parts_enabled,
    )
