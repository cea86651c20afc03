"""A sans-IO m3u8 writer: multivariant and LL-HLS media playlists (RFC 8216bis).

The data model refuses values that break the spec's limits (part and segment durations, hold-back
and skip boundaries), so anything that renders is a playlist players can rely on. Durations are
exact `Fraction`s of a second; wall-clock times are aware `datetime`s passed in by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

# EXT-X-MAP in a media playlist needs 6; EXT-X-SKIP needs 9 (RFC 8216bis section 8). The LL-HLS
# tags themselves carry no version floor, so a playlist without a skip stays readable by players
# that stop at 6 or 7.
BASE_VERSION = 6
SKIP_VERSION = 9

# Part durations below 85 % of the part target are only allowed where RFC 8216bis 4.4.4.9 says.
PART_MIN_RATIO = Fraction(85, 100)

# Parts are listed for segments ending within this many target durations of the playlist end.
PART_LISTING_TARGET_DURATIONS = 3

_DECIMAL_PLACES = 6


class PlaylistError(ValueError):
    """A playlist value that would break RFC 8216bis or what players rely on."""


@dataclass(frozen=True, slots=True)
class Part:
    """One partial segment (EXT-X-PART). A `gap` part has no media and is never fetched."""

    uri: str
    duration: Fraction
    independent: bool = False
    gap: bool = False

    def __post_init__(self) -> None:
        _check_uri(self.uri)
        if self.duration <= 0:
            raise PlaylistError(f"part {self.uri}: duration must be positive")


@dataclass(frozen=True, slots=True)
class Segment:
    """A complete media segment and the tags applied to it.

    `map_uri` is the init segment it needs; EXT-X-MAP is written wherever it changes.
    `parts` are its partial segments (listed only near the live edge).
    """

    uri: str
    duration: Fraction
    map_uri: str
    program_date_time: datetime | None = None
    discontinuity: bool = False
    parts: tuple[Part, ...] = ()

    def __post_init__(self) -> None:
        _check_uri(self.uri)
        _check_uri(self.map_uri)
        if self.duration <= 0:
            raise PlaylistError(f"segment {self.uri}: duration must be positive")
        _check_datetime(self.program_date_time)
        if self.parts and sum((p.duration for p in self.parts), Fraction(0)) != self.duration:
            raise PlaylistError(f"segment {self.uri}: part durations do not add up to it")


@dataclass(frozen=True, slots=True)
class OpenSegment:
    """The parent segment still being written at the live edge: its parts so far."""

    map_uri: str
    parts: tuple[Part, ...]
    program_date_time: datetime | None = None
    discontinuity: bool = False

    def __post_init__(self) -> None:
        _check_uri(self.map_uri)
        _check_datetime(self.program_date_time)

    @property
    def duration(self) -> Fraction:
        return sum((p.duration for p in self.parts), Fraction(0))


@dataclass(frozen=True, slots=True)
class RenditionReport:
    """EXT-X-RENDITION-REPORT: another rendition's live edge. `uri` is relative to this one."""

    uri: str
    last_msn: int
    last_part: int | None = None

    def __post_init__(self) -> None:
        _check_uri(self.uri)
        if self.last_msn < 0 or (self.last_part is not None and self.last_part < 0):
            raise PlaylistError("rendition report: negative sequence number")


@dataclass(frozen=True, slots=True)
class ServerControl:
    """EXT-X-SERVER-CONTROL. Seconds; None leaves an attribute out."""

    can_block_reload: bool = True
    hold_back: Fraction | None = None
    part_hold_back: Fraction | None = None
    can_skip_until: Fraction | None = None


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """A live (or ended) media playlist. Construction checks every RFC 8216bis limit."""

    target_duration: int
    media_sequence: int
    segments: tuple[Segment, ...]
    discontinuity_sequence: int = 0
    open_segment: OpenSegment | None = None
    part_target: Fraction | None = None
    server_control: ServerControl = field(default_factory=ServerControl)
    preload_hint: str | None = None
    rendition_reports: tuple[RenditionReport, ...] = ()
    ended: bool = False
    independent_segments: bool = False

    def __post_init__(self) -> None:
        self._check_header()
        self._check_segments()
        self._check_parts()
        self._check_server_control()

    def _check_header(self) -> None:
        if self.target_duration < 1:
            raise PlaylistError(f"target duration must be >= 1 s, got {self.target_duration}")
        if self.media_sequence < 0 or self.discontinuity_sequence < 0:
            raise PlaylistError("sequence numbers must not be negative")
        if self.ended and (self.preload_hint is not None or self.open_segment is not None):
            raise PlaylistError("an ended playlist has no preload hint and no open segment")
        if self.preload_hint is not None:
            _check_uri(self.preload_hint)
            if self.part_target is None:
                raise PlaylistError("a part preload hint needs a part target")

    def _check_segments(self) -> None:
        for segment in self.segments:
            # RFC 8216bis 4.4.3.1: each EXTINF as written, rounded to the nearest integer,
            # must not exceed the target duration.
            if _round_half_up(Fraction(format_seconds(segment.duration))) > self.target_duration:
                raise PlaylistError(
                    f"segment {segment.uri} lasts {format_seconds(segment.duration)} s, "
                    f"over the target duration {self.target_duration}"
                )

    def _check_parts(self) -> None:
        has_parts = self.open_segment is not None or any(s.parts for s in self.segments)
        if self.part_target is None:
            if has_parts:
                raise PlaylistError("parts need a part target (EXT-X-PART-INF)")
            return
        if self.part_target <= 0 or self.part_target > self.target_duration:
            raise PlaylistError(f"part target {self.part_target} out of (0, target duration]")
        if self.server_control.part_hold_back is None:
            raise PlaylistError("PART-HOLD-BACK is required with a part target")
        groups = [s.parts for s in self.segments]
        if self.open_segment is not None:
            groups.append(self.open_segment.parts)
        for parts in groups:
            for index, part in enumerate(parts):
                if part.duration > self.part_target:
                    raise PlaylistError(
                        f"part {part.uri} lasts {part.duration}, over the part target"
                    )
                last = index == len(parts) - 1
                # The open segment's newest part may yet turn out to be its final one.
                exempt = part.independent or part.gap or last
                if not exempt and parts[index + 1].gap:
                    exempt = True
                if not exempt and part.duration < PART_MIN_RATIO * self.part_target:
                    raise PlaylistError(
                        f"part {part.uri} lasts {part.duration}, under 85 % of the part target"
                    )

    def _check_server_control(self) -> None:
        control = self.server_control
        target = self.target_duration
        if control.hold_back is not None and control.hold_back < 3 * target:
            raise PlaylistError("HOLD-BACK must be at least 3 x TARGETDURATION")
        if control.can_skip_until is not None and control.can_skip_until < 6 * target:
            raise PlaylistError("CAN-SKIP-UNTIL must be at least 6 x TARGETDURATION")
        if control.part_hold_back is not None:
            if self.part_target is None:
                raise PlaylistError("PART-HOLD-BACK without a part target")
            if control.part_hold_back < 3 * self.part_target:
                raise PlaylistError("PART-HOLD-BACK must be at least 3 x PART-TARGET")

    # -- queries used by the HTTP layer (blocking reload) -------------------------------------

    @property
    def duration(self) -> Fraction:
        """Seconds of complete segments (what the 3-target-duration minimum is about)."""
        return sum((s.duration for s in self.segments), Fraction(0))

    @property
    def end_msn(self) -> int:
        """The media sequence number the open segment has (one past the last complete one)."""
        return self.media_sequence + len(self.segments)

    def last_part(self) -> tuple[int, int] | None:
        """(MSN, part index) of the newest part listed, or None without parts."""
        if self.open_segment is not None and self.open_segment.parts:
            return self.end_msn, len(self.open_segment.parts) - 1
        if self.segments and self.segments[-1].parts:
            return self.end_msn - 1, len(self.segments[-1].parts) - 1
        return None

    def rendition_report(self, uri: str) -> RenditionReport:
        """This playlist's live edge as another rendition's playlist reports it."""
        last = self.last_part()
        if last is not None:
            return RenditionReport(uri, last[0], last[1])
        return RenditionReport(uri, max(self.end_msn - 1, 0))

    def contains(self, msn: int, part: int | None = None) -> bool:
        """Whether a blocking request for `_HLS_msn`/`_HLS_part` can be answered now.

        A part index past a segment's last part means part 0 of the next segment (6.2.5.2).
        """
        if self.ended:
            return True
        if part is None:
            return msn < self.end_msn
        if msn < self.end_msn - 1:
            return True
        if msn == self.end_msn - 1:
            segment = self.segments[-1] if self.segments else None
            if segment is None or part < len(segment.parts) or not segment.parts:
                return True
            msn, part = self.end_msn, 0
        if msn == self.end_msn:
            parts = self.open_segment.parts if self.open_segment is not None else ()
            return part < len(parts)
        return False

    def too_far(self, msn: int, part: int | None = None) -> bool:
        """Whether a blocking request is so far ahead that it should get 400 (6.2.5.2)."""
        if self.ended:
            return False
        last_msn = self.end_msn - 1
        if msn > last_msn + 2:
            return True
        if part is None or self.part_target is None:
            return False
        # The Advance Part Limit.
        limit = math.floor(3 / self.part_target) if self.part_target < 1 else 3
        newest = self.last_part()
        newest_msn, newest_part = newest if newest is not None else (self.end_msn, -1)
        if msn < newest_msn:
            return False
        # Into a later segment: count only the parts of that segment (the current one's length
        # is not known yet), so a request is never refused that might be near.
        ahead = part - newest_part if msn == newest_msn else part + 1
        return ahead > limit


@dataclass(frozen=True, slots=True)
class Variant:
    """One rendition in the multivariant playlist (EXT-X-STREAM-INF)."""

    uri: str
    bandwidth: int
    codecs: tuple[str, ...]
    average_bandwidth: int | None = None
    resolution: tuple[int, int] | None = None
    frame_rate: Fraction | None = None

    def __post_init__(self) -> None:
        _check_uri(self.uri)
        if self.bandwidth <= 0:
            raise PlaylistError("BANDWIDTH must be positive")
        if self.average_bandwidth is not None and self.average_bandwidth <= 0:
            raise PlaylistError("AVERAGE-BANDWIDTH must be positive")
        if not self.codecs or any(not c or any(x in c for x in ',"\r\n') for c in self.codecs):
            raise PlaylistError(f"bad CODECS {self.codecs!r}")
        if self.resolution is not None and min(self.resolution) <= 0:
            raise PlaylistError("RESOLUTION must be positive")
        if self.frame_rate is not None and self.frame_rate <= 0:
            raise PlaylistError("FRAME-RATE must be positive")


def media_playlist_uri(index: int) -> str:
    """Where rendition `index`'s media playlist lives, relative to the multivariant one."""
    return f"{index}/stream.m3u8"


# -- rendering --------------------------------------------------------------------------------


def render_multivariant(variants: Sequence[Variant], *, independent_segments: bool = True) -> str:
    """The multivariant (master) playlist, `/hls/stream.m3u8`."""
    if not variants:
        raise PlaylistError("a multivariant playlist needs at least one variant")
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{BASE_VERSION}"]
    if independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for variant in variants:
        attrs = [f"BANDWIDTH={variant.bandwidth}"]
        if variant.average_bandwidth is not None:
            attrs.append(f"AVERAGE-BANDWIDTH={variant.average_bandwidth}")
        if variant.resolution is not None:
            attrs.append(f"RESOLUTION={variant.resolution[0]}x{variant.resolution[1]}")
        attrs.append(f'CODECS="{",".join(variant.codecs)}"')
        if variant.frame_rate is not None:
            rate = Decimal(variant.frame_rate.numerator) / Decimal(variant.frame_rate.denominator)
            attrs.append(f"FRAME-RATE={rate.quantize(Decimal('0.001'), ROUND_HALF_UP)}")
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(variant.uri)
    return "\n".join(lines) + "\n"


def skipped_segments(playlist: MediaPlaylist) -> int:
    """How many segments a delta update replaces with EXT-X-SKIP (0 if it may not skip).

    RFC 8216bis 6.2.5.1: segments further from the end of the last parent segment than the
    skip boundary. A segment counts only once all of it is that far, so a client that last
    loaded the playlist half a skip boundary ago always has what is skipped.
    """
    boundary = playlist.server_control.can_skip_until
    if boundary is None or playlist.ended:
        return 0
    remaining = playlist.duration
    count = 0
    for segment in playlist.segments:
        remaining -= segment.duration  # seconds from this segment's end to the playlist's
        if remaining < boundary:
            break
        count += 1
    return count


def render_media(playlist: MediaPlaylist, *, skip: bool = False) -> str:
    """A media playlist. `skip=True` (the `_HLS_skip=YES` directive) renders a delta update."""
    # With nothing old enough to skip, the delta update is the whole playlist, so it is
    # written as one (no EXT-X-SKIP, no version bump).
    skipped = skipped_segments(playlist) if skip else 0
    delta = skipped > 0
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{SKIP_VERSION if delta else BASE_VERSION}",
        f"#EXT-X-TARGETDURATION:{playlist.target_duration}",
    ]
    control = _server_control(playlist.server_control)
    if control:
        lines.append("#EXT-X-SERVER-CONTROL:" + control)
    if playlist.part_target is not None:
        lines.append(f"#EXT-X-PART-INF:PART-TARGET={format_seconds(playlist.part_target)}")
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{playlist.media_sequence}")
    lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{playlist.discontinuity_sequence}")
    if playlist.independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    if delta:
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")

    end = playlist.duration + (
        playlist.open_segment.duration if playlist.open_segment is not None else 0
    )
    listing_window = PART_LISTING_TARGET_DURATIONS * playlist.target_duration
    elapsed = Fraction(0)  # from the playlist's start to the current segment's end
    current_map: str | None = None
    for index, segment in enumerate(playlist.segments):
        elapsed += segment.duration
        if index < skipped:
            continue
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        # EXT-X-MAP goes on the first segment written (so a delta update stands alone too)
        # and wherever the init segment changes.
        if segment.map_uri != current_map:
            lines.append(f'#EXT-X-MAP:URI="{segment.map_uri}"')
            current_map = segment.map_uri
        if segment.program_date_time is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_datetime(segment.program_date_time)}")
        if parts_listed(end - elapsed, listing_window):
            lines.extend(_part_line(p) for p in segment.parts)
        lines.append(f"#EXTINF:{format_seconds(segment.duration)},")
        lines.append(segment.uri)

    open_segment = playlist.open_segment
    if open_segment is not None and open_segment.parts:
        if open_segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if open_segment.map_uri != current_map:
            lines.append(f'#EXT-X-MAP:URI="{open_segment.map_uri}"')
        if open_segment.program_date_time is not None:
            pdt = format_datetime(open_segment.program_date_time)
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt}")
        lines.extend(_part_line(p) for p in open_segment.parts)
    if playlist.preload_hint is not None:
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{playlist.preload_hint}"')
    for report in playlist.rendition_reports:
        attrs = [f'URI="{report.uri}"', f"LAST-MSN={report.last_msn}"]
        if report.last_part is not None:
            attrs.append(f"LAST-PART={report.last_part}")
        lines.append("#EXT-X-RENDITION-REPORT:" + ",".join(attrs))
    if playlist.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def parts_listed(seconds_from_end: Fraction, listing_window: Fraction | int) -> bool:
    """Whether a segment ending `seconds_from_end` before the playlist end lists its parts.

    RFC 8216bis 6.2.2: EXT-X-PART tags go once they are more than three target durations from
    the end. The segmenter uses the same rule to know when a part's tag has gone.
    """
    return seconds_from_end <= listing_window


def _part_line(part: Part) -> str:
    attrs = [f"DURATION={format_seconds(part.duration)}", f'URI="{part.uri}"']
    if part.independent:
        attrs.append("INDEPENDENT=YES")
    if part.gap:
        attrs.append("GAP=YES")
    return "#EXT-X-PART:" + ",".join(attrs)


def _server_control(control: ServerControl) -> str:
    attrs = []
    if control.can_block_reload:
        attrs.append("CAN-BLOCK-RELOAD=YES")
    if control.can_skip_until is not None:
        attrs.append(f"CAN-SKIP-UNTIL={format_seconds(control.can_skip_until)}")
    if control.hold_back is not None:
        attrs.append(f"HOLD-BACK={format_seconds(control.hold_back)}")
    if control.part_hold_back is not None:
        attrs.append(f"PART-HOLD-BACK={format_seconds(control.part_hold_back)}")
    return ",".join(attrs)


def format_seconds(value: Fraction) -> str:
    """A decimal-floating-point number of seconds: microsecond precision, no trailing zeros.

    Rounding is monotonic, so a part no longer than the part target never reads as longer.
    """
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    text = f"{exact.quantize(Decimal(1).scaleb(-_DECIMAL_PLACES), ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_datetime(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as EXT-X-PROGRAM-DATE-TIME wants it."""
    _check_datetime(moment)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _check_uri(uri: str) -> None:
    # URIs are quoted-strings or whole lines: a quote, CR or LF would break the playlist.
    if not uri or any(c in uri for c in '"\r\n') or uri.startswith("#"):
        raise PlaylistError(f"bad URI {uri!r}")


def _check_datetime(moment: datetime | None) -> None:
    if moment is not None and moment.utcoffset() is None:
        raise PlaylistError("program date-time must be timezone-aware")
