"""The m3u8 writer: tag syntax (rendered, then parsed back) and every LL-HLS limit it enforces."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from owncastd.hls.playlist import (
    BASE_VERSION,
    SKIP_VERSION,
    MediaPlaylist,
    OpenSegment,
    Part,
    PlaylistError,
    RenditionReport,
    Segment,
    ServerControl,
    Variant,
    format_datetime,
    format_seconds,
    media_playlist_uri,
    render_media,
    render_multivariant,
    skipped_segments,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

# -- a small reader for what we write ----------------------------------------------------------

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",]*)(?:,|$)')


def parse_attributes(text: str) -> dict[str, str]:
    """An RFC 8216bis attribute-list; quoted values keep their quotes stripped."""
    attrs: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _ATTRIBUTE.match(text, position)
        assert match is not None, f"bad attribute list at {text[position:]!r}"
        name, value = match.groups()
        assert name not in attrs, f"repeated attribute {name}"
        attrs[name] = value[1:-1] if value.startswith('"') else value
        position = match.end()
    return attrs


def parse_m3u8(text: str) -> list[tuple[str, str]]:
    """(tag, value) pairs in order; a URI line is ("URI", line)."""
    assert text.endswith("\n") and "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    entries = []
    for line in lines[1:]:
        assert line, "blank line"
        if line.startswith("#EXT"):
            tag, _, value = line.partition(":")
            entries.append((tag, value))
        else:
            assert not line.startswith("#")
            entries.append(("URI", line))
    return entries


def tags(text: str, name: str) -> list[str]:
    return [value for tag, value in parse_m3u8(text) if tag == name]


def one(text: str, name: str) -> str:
    values = tags(text, name)
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


def segments_of(text: str) -> list[dict[str, object]]:
    """Per segment (full or open): its tags, parts and URI, as a player would group them."""
    result: list[dict[str, object]] = []
    current: dict[str, object] = {"parts": [], "tags": []}
    for tag, value in parse_m3u8(text):
        if tag == "#EXT-X-PART":
            current["parts"].append(parse_attributes(value))  # type: ignore[attr-defined]
        elif tag in ("#EXT-X-DISCONTINUITY", "#EXT-X-MAP", "#EXT-X-PROGRAM-DATE-TIME"):
            assert not current["parts"], f"{tag} after a part of the same segment"
            current["tags"].append((tag, value))  # type: ignore[attr-defined]
        elif tag == "#EXTINF":
            current["duration"] = Fraction(value.rstrip(","))
        elif tag == "URI":
            current["uri"] = value
            result.append(current)
            current = {"parts": [], "tags": []}
    if current["parts"]:
        result.append(current)  # the open segment
    return result


# -- builders ----------------------------------------------------------------------------------

THIRD = Fraction(1, 3)


def parts_for(msn: int, count: int = 3, length: Fraction = THIRD) -> tuple[Part, ...]:
    return tuple(Part(f"part-{msn}.{i}.m4s", length, independent=i == 0) for i in range(count))


def segment(msn: int, duration: Fraction = Fraction(1), **kwargs: object) -> Segment:
    values: dict[str, object] = {
        "uri": f"seg-{msn}.m4s",
        "duration": duration,
        "map_uri": "init-0.mp4",
        "program_date_time": T0 + timedelta(seconds=msn),
        "parts": parts_for(msn, 3, duration / 3),
    }
    values.update(kwargs)
    return Segment(**values)  # type: ignore[arg-type]


def control(target: int = 1, part: Fraction | None = THIRD) -> ServerControl:
    return ServerControl(
        can_block_reload=True,
        hold_back=Fraction(3 * target),
        part_hold_back=None if part is None else 3 * part,
        can_skip_until=Fraction(6 * target),
    )


def live(count: int = 4, first: int = 0, **kwargs: object) -> MediaPlaylist:
    values: dict[str, object] = {
        "target_duration": 1,
        "media_sequence": first,
        "segments": tuple(segment(first + i) for i in range(count)),
        "open_segment": OpenSegment(
            "init-0.mp4",
            parts_for(first + count, 2),
            T0 + timedelta(seconds=first + count),
        ),
        "part_target": THIRD,
        "server_control": control(),
        "preload_hint": f"part-{first + count}.2.m4s",
        "rendition_reports": (RenditionReport("../1/stream.m3u8", first + count, 1),),
    }
    values.update(kwargs)
    return MediaPlaylist(**values)  # type: ignore[arg-type]


# -- multivariant ------------------------------------------------------------------------------


def test_multivariant_playlist() -> None:
    text = render_multivariant(
        [
            Variant(
                media_playlist_uri(0),
                bandwidth=2_500_000,
                average_bandwidth=2_000_000,
                codecs=("avc1.64001f", "mp4a.40.2"),
                resolution=(1280, 720),
                frame_rate=Fraction(30000, 1001),
            ),
            Variant(media_playlist_uri(1), bandwidth=128_000, codecs=("mp4a.40.2",)),
        ]
    )
    entries = parse_m3u8(text)
    assert entries[0] == ("#EXT-X-VERSION", str(BASE_VERSION))
    assert ("#EXT-X-INDEPENDENT-SEGMENTS", "") in entries
    infs = [parse_attributes(v) for v in tags(text, "#EXT-X-STREAM-INF")]
    assert infs[0] == {
        "BANDWIDTH": "2500000",
        "AVERAGE-BANDWIDTH": "2000000",
        "RESOLUTION": "1280x720",
        "CODECS": "avc1.64001f,mp4a.40.2",
        "FRAME-RATE": "29.970",
    }
    assert infs[1] == {"BANDWIDTH": "128000", "CODECS": "mp4a.40.2"}
    assert tags(text, "URI") == ["0/stream.m3u8", "1/stream.m3u8"]
    # Each EXT-X-STREAM-INF is followed by its URI.
    kinds = [tag for tag, _ in entries if tag in ("#EXT-X-STREAM-INF", "URI")]
    assert kinds == ["#EXT-X-STREAM-INF", "URI"] * 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bandwidth": 0},
        {"codecs": ()},
        {"codecs": ('avc1"',)},
        {"codecs": ("avc1,mp4a",)},
        {"uri": "a\nb"},
        {"resolution": (0, 720)},
        {"frame_rate": Fraction(0)},
        {"average_bandwidth": -1},
    ],
)
def test_bad_variants_are_refused(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"uri": "0/stream.m3u8", "bandwidth": 1, "codecs": ("a",)}
    values.update(kwargs)
    with pytest.raises(PlaylistError):
        Variant(**values)  # type: ignore[arg-type]


def test_multivariant_needs_a_variant() -> None:
    with pytest.raises(PlaylistError):
        render_multivariant([])


# -- media playlist tags -----------------------------------------------------------------------


def test_media_playlist_header_and_tags() -> None:
    text = render_media(live())
    entries = parse_m3u8(text)
    header = [tag for tag, _ in entries[:6]]
    assert header == [
        "#EXT-X-VERSION",
        "#EXT-X-TARGETDURATION",
        "#EXT-X-SERVER-CONTROL",
        "#EXT-X-PART-INF",
        "#EXT-X-MEDIA-SEQUENCE",
        "#EXT-X-DISCONTINUITY-SEQUENCE",
    ]
    assert one(text, "#EXT-X-VERSION") == "6"
    assert one(text, "#EXT-X-TARGETDURATION") == "1"
    assert parse_attributes(one(text, "#EXT-X-SERVER-CONTROL")) == {
        "CAN-BLOCK-RELOAD": "YES",
        "CAN-SKIP-UNTIL": "6",
        "HOLD-BACK": "3",
        "PART-HOLD-BACK": "1",
    }
    assert parse_attributes(one(text, "#EXT-X-PART-INF")) == {"PART-TARGET": "0.333333"}
    assert one(text, "#EXT-X-MEDIA-SEQUENCE") == "0"
    assert one(text, "#EXT-X-DISCONTINUITY-SEQUENCE") == "0"
    assert tags(text, "#EXT-X-MAP") == ['URI="init-0.mp4"']
    assert tags(text, "#EXTINF") == ["1,"] * 4
    assert tags(text, "URI") == [f"seg-{i}.m4s" for i in range(4)]
    assert tags(text, "#EXT-X-PROGRAM-DATE-TIME")[0] == "2024-05-01T12:00:00.000Z"
    assert len(tags(text, "#EXT-X-PROGRAM-DATE-TIME")) == 5
    part = parse_attributes(tags(text, "#EXT-X-PART")[0])
    assert part == {"DURATION": "0.333333", "URI": "part-1.0.m4s", "INDEPENDENT": "YES"}
    assert parse_attributes(one(text, "#EXT-X-PRELOAD-HINT")) == {
        "TYPE": "PART",
        "URI": "part-4.2.m4s",
    }
    assert parse_attributes(one(text, "#EXT-X-RENDITION-REPORT")) == {
        "URI": "../1/stream.m3u8",
        "LAST-MSN": "4",
        "LAST-PART": "1",
    }
    assert not tags(text, "#EXT-X-ENDLIST")
    assert not tags(text, "#EXT-X-SKIP")
    # The open segment's parts come after the last EXTINF, then the hint, then the reports.
    order = [tag for tag, _ in entries[-5:]]
    assert order == [
        "#EXT-X-PROGRAM-DATE-TIME",
        "#EXT-X-PART",
        "#EXT-X-PART",
        "#EXT-X-PRELOAD-HINT",
        "#EXT-X-RENDITION-REPORT",
    ]


def test_pdt_has_milliseconds_and_utc() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 0, 123_999, tzinfo=timezone(timedelta(hours=2)))
    assert format_datetime(moment) == "2024-05-01T12:00:00.123Z"
    with pytest.raises(PlaylistError):
        format_datetime(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(3), "3"),
        (Fraction(1, 3), "0.333333"),
        (Fraction(2, 3), "0.666667"),
        (Fraction(2002, 1000), "2.002"),
        (Fraction(30030, 90000), "0.333667"),
        (Fraction(45, 10), "4.5"),
    ],
)
def test_format_seconds(value: Fraction, text: str) -> None:
    assert format_seconds(value) == text


@given(st.fractions(min_value=0, max_value=100_000), st.fractions(min_value=0, max_value=100_000))
def test_format_seconds_keeps_order(a: Fraction, b: Fraction) -> None:
    if a <= b:
        assert Fraction(format_seconds(a)) <= Fraction(format_seconds(b))
    assert abs(Fraction(format_seconds(a)) - a) <= Fraction(1, 2_000_000)


def test_map_and_discontinuity_tags() -> None:
    segments = (
        segment(0),
        segment(1),
        segment(2, discontinuity=True, map_uri="init-1.mp4"),
        segment(3),
        segment(4, discontinuity=True),
    )
    segments = (*segments[:3], replace(segments[3], map_uri="init-1.mp4"), *segments[4:])
    playlist = live(0, segments=segments, discontinuity_sequence=2, preload_hint=None)
    grouped = segments_of(render_media(playlist))
    assert [s["tags"] for s in grouped][:5] == [
        [("#EXT-X-MAP", 'URI="init-0.mp4"'), ("#EXT-X-PROGRAM-DATE-TIME", pdt(0))],
        [("#EXT-X-PROGRAM-DATE-TIME", pdt(1))],
        [
            ("#EXT-X-DISCONTINUITY", ""),
            ("#EXT-X-MAP", 'URI="init-1.mp4"'),
            ("#EXT-X-PROGRAM-DATE-TIME", pdt(2)),
        ],
        [("#EXT-X-PROGRAM-DATE-TIME", pdt(3))],
        # Same init after a discontinuity: no new map.
        [("#EXT-X-DISCONTINUITY", ""), ("#EXT-X-MAP", 'URI="init-0.mp4"'), pdt_tag(4)],
    ]
    assert one(render_media(playlist), "#EXT-X-DISCONTINUITY-SEQUENCE") == "2"


def test_discontinuity_without_init_change_writes_no_map() -> None:
    segments = (segment(0), segment(1, discontinuity=True))
    text = render_media(live(0, segments=segments, open_segment=None, preload_hint=None))
    assert tags(text, "#EXT-X-MAP") == ['URI="init-0.mp4"']
    assert len(tags(text, "#EXT-X-DISCONTINUITY")) == 1


def test_open_segment_tags_come_before_its_first_part() -> None:
    open_segment = OpenSegment(
        "init-1.mp4", parts_for(2, 1), T0 + timedelta(seconds=2), discontinuity=True
    )
    text = render_media(live(2, open_segment=open_segment))
    last = segments_of(text)[-1]
    assert "uri" not in last
    assert last["tags"] == [
        ("#EXT-X-DISCONTINUITY", ""),
        ("#EXT-X-MAP", 'URI="init-1.mp4"'),
        pdt_tag(2),
    ]


def pdt(second: int) -> str:
    return format_datetime(T0 + timedelta(seconds=second))


def pdt_tag(second: int) -> tuple[str, str]:
    return ("#EXT-X-PROGRAM-DATE-TIME", pdt(second))


def test_endlist_has_no_preload_hint() -> None:
    text = render_media(live(4, open_segment=None, preload_hint=None, ended=True))
    assert parse_m3u8(text)[-1][0] == "#EXT-X-ENDLIST"
    assert not tags(text, "#EXT-X-PRELOAD-HINT")
    with pytest.raises(PlaylistError, match="ended"):
        live(4, open_segment=None, ended=True)
    with pytest.raises(PlaylistError, match="ended"):
        live(4, preload_hint=None, ended=True)


def test_parts_listed_only_within_three_target_durations() -> None:
    playlist = live(8, open_segment=None, preload_hint=f"part-{8}.0.m4s")
    grouped = segments_of(render_media(playlist))
    # Segments end 7, 6, ... 0 s before the end: parts for those ending <= 3 s before it.
    listed = [len(s["parts"]) for s in grouped]  # type: ignore[arg-type]
    assert listed == [0, 0, 0, 0, 3, 3, 3, 3]
    # An open segment's parts count towards the end of the playlist.
    open_segment = OpenSegment("init-0.mp4", parts_for(8, 2))
    grouped = segments_of(render_media(live(8, open_segment=open_segment)))
    assert [len(s["parts"]) for s in grouped] == [0, 0, 0, 0, 0, 3, 3, 3, 2]  # type: ignore[arg-type]


def test_no_parts_without_part_target() -> None:
    playlist = MediaPlaylist(
        target_duration=1,
        media_sequence=0,
        segments=tuple(segment(i, parts=()) for i in range(3)),
        server_control=control(part=None),
    )
    text = render_media(playlist)
    assert not tags(text, "#EXT-X-PART-INF")
    assert not tags(text, "#EXT-X-PART")
    assert "PART-HOLD-BACK" not in one(text, "#EXT-X-SERVER-CONTROL")
    with pytest.raises(PlaylistError, match="part target"):
        replace(playlist, segments=(segment(0),))
    with pytest.raises(PlaylistError, match="part target"):
        replace(playlist, preload_hint="part-9.m4s")


# -- the limits --------------------------------------------------------------------------------


def test_extinf_rounded_must_not_exceed_target_duration() -> None:
    ok = live(0, segments=(segment(0, Fraction(1499999, 1000000), parts=()),))
    assert one(render_media(ok), "#EXTINF") == "1.499999,"
    with pytest.raises(PlaylistError, match="target duration"):
        live(0, segments=(segment(0, Fraction(3, 2), parts=()),))
    # What counts is the value as written: 1.4999996 is written 1.5.
    with pytest.raises(PlaylistError, match="target duration"):
        live(0, segments=(segment(0, Fraction(14999996, 10000000), parts=()),))


def test_part_longer_than_part_target_is_refused() -> None:
    long_part = (Part("p0.m4s", THIRD + Fraction(1, 90000), independent=True),)
    with pytest.raises(PlaylistError, match="over the part target"):
        live(0, segments=(), open_segment=OpenSegment("init-0.mp4", long_part))
    # Independent and final parts are not exempt from the upper bound.
    with pytest.raises(PlaylistError, match="over the part target"):
        live(0, segments=(segment(0, THIRD + Fraction(1, 90000), parts=long_part),))


def test_short_parts_only_where_the_rfc_allows() -> None:
    short = THIRD * Fraction(84, 100)
    enough = THIRD * Fraction(85, 100)

    def open_with(*parts: Part) -> MediaPlaylist:
        return live(0, segments=(), open_segment=OpenSegment("init-0.mp4", tuple(parts)))

    full = Part("a.m4s", THIRD)
    with pytest.raises(PlaylistError, match="85 %"):
        open_with(full, Part("b.m4s", short), full)
    open_with(full, Part("b.m4s", enough), full)
    open_with(full, Part("b.m4s", short, independent=True), full)  # INDEPENDENT=YES
    open_with(full, Part("b.m4s", short))  # the newest may be the segment's final part
    open_with(full, Part("b.m4s", short), Part("c.m4s", THIRD, gap=True))  # before a gap
    open_with(full, Part("b.m4s", short, gap=True), full)  # a gap itself
    # The final part of a complete segment may be short.
    parts = (Part("a.m4s", THIRD, True), Part("b.m4s", THIRD), Part("c.m4s", Fraction(1, 30)))
    live(0, segments=(segment(0, sum((p.duration for p in parts), Fraction(0)), parts=parts),))


def test_gap_parts_are_marked() -> None:
    parts = (Part("a.m4s", THIRD, True), Part("b.m4s", THIRD, gap=True))
    text = render_media(live(0, segments=(), open_segment=OpenSegment("init-0.mp4", parts)))
    assert parse_attributes(tags(text, "#EXT-X-PART")[1])["GAP"] == "YES"


@pytest.mark.parametrize(
    ("server_control", "message"),
    [
        (replace(control(), hold_back=Fraction(29, 10)), "HOLD-BACK"),
        (replace(control(), part_hold_back=Fraction(99, 100)), "PART-HOLD-BACK"),
        (replace(control(), part_hold_back=None), "PART-HOLD-BACK"),
        (replace(control(), can_skip_until=Fraction(59, 10)), "CAN-SKIP-UNTIL"),
    ],
)
def test_server_control_limits(server_control: ServerControl, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        live(server_control=server_control)


def test_part_hold_back_needs_part_target() -> None:
    with pytest.raises(PlaylistError):
        MediaPlaylist(1, 0, (), server_control=ServerControl(part_hold_back=Fraction(1)))


def test_server_control_attributes_are_optional() -> None:
    playlist = MediaPlaylist(1, 0, (segment(0, parts=()),), server_control=ServerControl(False))
    assert not tags(render_media(playlist), "#EXT-X-SERVER-CONTROL")


@pytest.mark.parametrize("uri", ['a"b.m4s', "a\nb.m4s", "", "#EXTINF"])
def test_uris_that_would_break_the_playlist_are_refused(uri: str) -> None:
    with pytest.raises(PlaylistError, match="URI"):
        Part(uri, THIRD)


def test_other_construction_checks() -> None:
    with pytest.raises(PlaylistError, match="timezone"):
        segment(0, program_date_time=datetime(2024, 1, 1))
    with pytest.raises(PlaylistError, match="add up"):
        segment(0, parts=parts_for(0, 2))
    with pytest.raises(PlaylistError):
        Part("a.m4s", Fraction(0))
    with pytest.raises(PlaylistError):
        MediaPlaylist(0, 0, ())
    with pytest.raises(PlaylistError):
        MediaPlaylist(1, -1, ())
    with pytest.raises(PlaylistError):
        RenditionReport("../1/stream.m3u8", -1)


# -- delta updates -----------------------------------------------------------------------------


def test_delta_update_skips_segments_past_the_skip_boundary() -> None:
    playlist = live(10, first=100)
    full = render_media(playlist)
    delta = render_media(playlist, skip=True)
    assert one(full, "#EXT-X-VERSION") == str(BASE_VERSION)
    assert one(delta, "#EXT-X-VERSION") == str(SKIP_VERSION)
    # Ten 1 s segments, skip boundary 6 s: the four whose end is at least 6 s from the end.
    assert parse_attributes(one(delta, "#EXT-X-SKIP")) == {"SKIPPED-SEGMENTS": "4"}
    assert skipped_segments(playlist) == 4
    assert tags(delta, "URI") == [f"seg-{i}.m4s" for i in range(104, 110)]
    # The media sequence stays that of the full playlist; EXT-X-SKIP stands in for the first.
    assert one(delta, "#EXT-X-MEDIA-SEQUENCE") == "100"
    entries = parse_m3u8(delta)
    skip_at = entries.index(("#EXT-X-SKIP", "SKIPPED-SEGMENTS=4"))
    assert entries[skip_at + 1] == ("#EXT-X-MAP", 'URI="init-0.mp4"')
    # Everything after the skipped segments is exactly as in the full playlist.
    full_lines = full.splitlines()
    delta_lines = delta.splitlines()
    tail = delta_lines[skip_at + 3 :]  # after the skip, the repeated map
    assert full_lines[-len(tail) :] == tail


@given(
    durations=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=30),
    boundary=st.integers(min_value=18, max_value=40),
)
def test_delta_merge_gives_the_full_playlist(durations: list[int], boundary: int) -> None:
    # Durations in thirds of a second: any playlist, any skip boundary >= 6 x target.
    segments = tuple(
        segment(i, Fraction(d, 3), parts=(), program_date_time=None)
        for i, d in enumerate(durations)
    )
    playlist = MediaPlaylist(
        target_duration=3,
        media_sequence=7,
        segments=segments,
        server_control=ServerControl(True, Fraction(9), None, Fraction(boundary)),
    )
    skipped = skipped_segments(playlist)
    delta = render_media(playlist, skip=True)
    full_uris = tags(render_media(playlist), "URI")
    assert full_uris[:skipped] + tags(delta, "URI") == full_uris
    # Exactly the segments ending at least the skip boundary before the end are skipped.
    total = Fraction(sum(durations), 3)
    elapsed = Fraction(0)
    for index, thirds in enumerate(durations):
        elapsed += Fraction(thirds, 3)
        assert (index < skipped) == (total - elapsed >= boundary)
    if skipped:
        assert one(delta, "#EXT-X-VERSION") == "9"
    else:
        assert not tags(delta, "#EXT-X-SKIP")


def test_no_delta_update_when_ended_or_not_offered() -> None:
    ended = live(10, open_segment=None, preload_hint=None, ended=True)
    assert not tags(render_media(ended, skip=True), "#EXT-X-SKIP")
    no_skip = live(10, server_control=replace(control(), can_skip_until=None))
    assert not tags(render_media(no_skip, skip=True), "#EXT-X-SKIP")
    assert "CAN-SKIP-UNTIL" not in one(render_media(no_skip), "#EXT-X-SERVER-CONTROL")


def test_delta_update_keeps_discontinuity_sequence_and_map() -> None:
    segments = tuple(
        segment(i, discontinuity=i == 2, map_uri="init-1.mp4" if i >= 2 else "init-0.mp4")
        for i in range(10)
    )
    open_segment = OpenSegment("init-1.mp4", parts_for(10, 1))
    playlist = live(0, segments=segments, discontinuity_sequence=3, open_segment=open_segment)
    delta = render_media(playlist, skip=True)
    assert one(delta, "#EXT-X-DISCONTINUITY-SEQUENCE") == "3"
    assert not tags(delta, "#EXT-X-DISCONTINUITY")  # it was in a skipped segment
    assert tags(delta, "#EXT-X-MAP") == ['URI="init-1.mp4"']


# -- blocking-reload queries -------------------------------------------------------------------


def test_last_part_and_rendition_report() -> None:
    playlist = live(4, first=10)
    assert playlist.end_msn == 14
    assert playlist.last_part() == (14, 1)
    assert playlist.rendition_report("../0/stream.m3u8") == RenditionReport(
        "../0/stream.m3u8", 14, 1
    )
    closed = live(4, first=10, open_segment=None)
    assert closed.last_part() == (13, 2)
    plain = MediaPlaylist(1, 5, (segment(5, parts=()),), server_control=control(part=None))
    assert plain.last_part() is None
    assert plain.rendition_report("x.m3u8") == RenditionReport("x.m3u8", 5, None)


def test_contains_follows_blocking_reload_rules() -> None:
    playlist = live(4, first=10)  # segments 10-13 complete (3 parts), 14 open with 2 parts
    assert playlist.contains(13)
    assert not playlist.contains(14)  # no whole segment 14 yet
    assert playlist.contains(13, 2)
    assert playlist.contains(14, 1)
    assert not playlist.contains(14, 2)
    assert playlist.contains(13, 3)  # past the last part of 13 means 14.0, which exists
    assert not playlist.contains(15, 0)
    assert playlist.contains(2, 0)  # long gone: answer at once
    ended = live(4, first=10, open_segment=None, preload_hint=None, ended=True)
    assert ended.contains(99, 5)


def test_too_far_uses_the_advance_part_limit() -> None:
    # Last whole segment 13, newest part 14.1; part target 1/3 s: the limit is 9 parts.
    playlist = live(4, first=10)
    assert not playlist.too_far(15)
    assert playlist.too_far(16)  # more than the last segment's MSN plus two
    assert not playlist.too_far(14, 10)
    assert playlist.too_far(14, 11)
    assert not playlist.too_far(15, 8)
    assert playlist.too_far(15, 9)
    assert not playlist.too_far(12, 50)
    one_second = live(
        0,
        target_duration=3,
        segments=(),
        open_segment=OpenSegment("init-0.mp4", (Part("a.m4s", Fraction(1), True),)),
        part_target=Fraction(1),
        server_control=control(3, Fraction(1)),
    )
    assert not one_second.too_far(0, 3)
    assert one_second.too_far(0, 4)
