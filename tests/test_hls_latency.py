"""Latency levels: Owncast's table, the part targets, and the derived LL-HLS limits."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from owncastd.hls.latency import DEFAULT_LEVEL, LEVELS, LatencySettings, settings_for_level

# Encoder delay (x264 zerolatency, capture) plus network, as assumed in latency.py's reasoning.
ENCODER_AND_NETWORK = Fraction(3, 10)


def test_owncast_levels_are_kept() -> None:
    table = {
        level: (s.segment_seconds, s.playlist_segments)
        for level in LEVELS
        for s in [settings_for_level(level)]
    }
    assert table == {0: (1, 3), 1: (2, 2), 2: (3, 3), 3: (4, 3), 4: (5, 4)}
    assert DEFAULT_LEVEL == 2


def test_part_targets_per_level() -> None:
    targets = [settings_for_level(level).part_target for level in LEVELS]
    assert [str(t) for t in targets] == ["167/500", "167/500", "501/1000", "167/250", "501/500"]
    assert [float(t) for t in targets] == [0.334, 0.334, 0.501, 0.668, 1.002]
    assert targets == sorted(targets)


@pytest.mark.parametrize("level", LEVELS)
def test_part_targets_hold_whole_frames_at_common_rates(level: int) -> None:
    # Parts fit the nominal number of frames at exact 30 and 29.97 fps and with RTMP's
    # millisecond timestamps (frames of 33 and 34 ms).
    target = settings_for_level(level).part_target
    nominal = {0: Fraction(1, 3), 1: Fraction(1, 3), 2: Fraction(1, 2), 3: Fraction(2, 3)}
    frames = int(nominal.get(level, Fraction(1)) * 30)
    assert frames * Fraction(1, 30) <= target
    assert frames * Fraction(1001, 30000) <= target
    assert Fraction(round(frames * 1000 / 30) + 1, 1000) <= target


@pytest.mark.parametrize(
    ("level", "low", "high"),
    [(0, Fraction(13, 10), Fraction(17, 10)), (2, Fraction(2), Fraction(5, 2))],
)
def test_expected_glass_to_glass(level: int, low: Fraction, high: Fraction) -> None:
    # hls.js lowLatencyMode sits PART-HOLD-BACK behind the playlist end, which itself trails
    # capture by one part: about 1.5 s at level 0 and 2 to 2.5 s at the default level.
    settings = settings_for_level(level)
    assert settings.part_hold_back is not None
    estimate = ENCODER_AND_NETWORK + settings.part_target + settings.part_hold_back
    assert low <= estimate <= high


@pytest.mark.parametrize("level", LEVELS)
def test_derived_values_meet_rfc_limits(level: int) -> None:
    s = settings_for_level(level)
    assert s.target_duration == s.segment_seconds
    assert s.hold_back == 3 * s.target_duration
    assert s.part_hold_back == 3 * s.part_target
    assert s.can_skip_until == 6 * s.target_duration
    assert s.min_playlist_seconds == 3 * s.target_duration
    # Parts are whole frames at 24, 25, 30 and 60 fps and at least 85 % of the target.
    for fps in (24, 25, 30, 60):
        frames = math.floor(s.part_target * fps)
        assert Fraction(frames, fps) >= Fraction(85, 100) * s.part_target


def test_parts_can_be_switched_off() -> None:
    s = settings_for_level(0, parts_enabled=False)
    assert not s.parts_enabled
    assert s.part_hold_back is None
    assert s.hold_back == 3


@given(
    segment=st.fractions(min_value=Fraction(1, 10), max_value=30),
    count=st.integers(min_value=1, max_value=50),
    ratio=st.fractions(min_value=Fraction(1, 100), max_value=1),
)
def test_any_settings_satisfy_the_limits(segment: Fraction, count: int, ratio: Fraction) -> None:
    s = LatencySettings(segment, count, segment * ratio)
    assert s.target_duration >= s.segment_seconds > s.target_duration - 1
    assert s.hold_back >= 3 * s.target_duration
    assert s.part_hold_back is not None and s.part_hold_back >= 3 * s.part_target
    assert s.can_skip_until >= 6 * s.target_duration


def test_fractional_segment_rounds_target_up() -> None:
    assert LatencySettings(Fraction(5, 2), 3, Fraction(1, 2)).target_duration == 3


def test_floats_from_config_are_read_as_typed() -> None:
    s = LatencySettings(1, 3, 0.333)  # type: ignore[arg-type]
    assert s.part_target == Fraction(333, 1000)
    assert isinstance(s.segment_seconds, Fraction)


@pytest.mark.parametrize("level", [-1, 5, 100])
def test_unknown_level_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match="latency level"):
        settings_for_level(level)


@pytest.mark.parametrize(
    ("segment", "count", "part"),
    [(0, 3, Fraction(1, 3)), (3, 0, Fraction(1, 3)), (3, 3, 0), (1, 3, 2)],
)
def test_bad_settings_are_refused(segment: int, count: int, part: Fraction) -> None:
    with pytest.raises(ValueError):
        LatencySettings(Fraction(segment), count, Fraction(part))


def test_settings_are_frozen() -> None:
    s = settings_for_level(2)
    with pytest.raises(AttributeError):
        s.playlist_segments = 5  # type: ignore[misc]
