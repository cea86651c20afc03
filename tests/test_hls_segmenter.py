"""The segmenter: cut points, timing, windows and removal, driven by synthetic packets.

A fake CMAF writer records the runs the segmenter asks for, so every test can check that each
sample was written once, in order, with contiguous decode times. The real writer is exercised at
the end with packets PyAV encodes, read back by PyAV.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as settings_profile
from hypothesis import strategies as st

from owncastd.hls import cmaf
from owncastd.hls.latency import LEVELS, LatencySettings, settings_for_level
from owncastd.hls.playlist import render_media
from owncastd.hls.segmenter import (
    AUDIO_TRACK_ID,
    VIDEO_TRACK_ID,
    Event,
    InitReady,
    PartReady,
    Removed,
    Segmenter,
    SegmentReady,
)
from owncastd.media.packets import (
    TIMESCALE,
    AudioCodec,
    AudioConfig,
    Packet,
    Track,
    VideoCodec,
    VideoConfig,
)
from tests.test_hls_playlist import parse_attributes, parse_m3u8, segments_of, tags

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
VIDEO = VideoConfig(VideoCodec.H264, 1280, 720, b"\x01avcC", "avc1.64001f")
VIDEO_720 = VideoConfig(VideoCodec.H264, 1920, 1080, b"\x01avcC-1080", "avc1.640028")
AUDIO = AudioConfig(AudioCodec.AAC, 48000, 2, b"\x11\x90", "mp4a.40.2")
AUDIO_44K = AudioConfig(AudioCodec.AAC, 44100, 2, b"\x12\x10", "mp4a.40.2")


# -- a fake CMAF writer ------------------------------------------------------------------------


class FakeCmaf:
    """Stands in for hls.cmaf: fragments are tokens that map back to their runs."""

    def __init__(self) -> None:
        self.runs: dict[bytes, list[cmaf.TrackRun]] = {}
        self.sequence_numbers: list[int] = []

    def init(self, specs: Sequence[cmaf.TrackSpec]) -> bytes:
        described = [f"{s.track_id}/{s.timescale}/{s.config!r}" for s in specs]
        return ("init:" + ";".join(described)).encode()

    def fragment(self, sequence_number: int, runs: Sequence[cmaf.TrackRun]) -> bytes:
        assert runs and all(run.samples for run in runs)
        self.sequence_numbers.append(sequence_number)
        token = b"[frag %d]" % sequence_number
        self.runs[token] = list(runs)
        return token


# -- synthetic streams -------------------------------------------------------------------------


def every(seconds: Fraction | int, fps: Fraction | int = 30) -> Callable[[int], bool]:
    frames = Fraction(seconds) * fps
    assert frames.denominator == 1
    return lambda index: index % int(frames) == 0


def ms_ticks(seconds: Fraction) -> int:
    """A time as RTMP carries it: whole milliseconds, in 90 kHz ticks."""
    return round(seconds * 1000) * 90


def stream(
    seconds: float | Fraction,
    *,
    fps: Fraction | int = 30,
    keyframe: Callable[[int], bool] | None = None,
    video: bool = True,
    audio: AudioConfig | None = AUDIO,
    start: Fraction | int = 0,
    milliseconds: bool = True,
    skip_video: Callable[[Fraction], bool] = lambda t: False,
    skip_audio: Callable[[Fraction], bool] = lambda t: False,
    first_frame: int = 0,
) -> Iterator[tuple[Packet, datetime]]:
    """Packets in dts order, arriving at T0 plus their dts; RTMP-style ms timestamps.

    A payload names its track and dts, so the checks can tell every sample apart.
    """
    keyframe = keyframe or every(1, fps)
    end = Fraction(seconds)
    to_ticks = ms_ticks if milliseconds else (lambda s: int(s * TIMESCALE))

    def videos() -> Iterator[tuple[int, int, Packet]]:
        for index in itertools.count(first_frame):
            t = Fraction(index, 1) / fps
            if t >= end:
                return
            if not skip_video(t):
                dts = to_ticks(start + t)
                yield dts, 0, Packet(Track.VIDEO, dts, dts, keyframe(index), b"v%d" % dts)

    def audios() -> Iterator[tuple[int, int, Packet]]:
        if audio is None:
            return
        for index in itertools.count():
            t = Fraction(1024 * index, audio.sample_rate)
            if t >= end:
                return
            if not skip_audio(t):
                dts = to_ticks(start + t)
                yield dts, 1, Packet(Track.AUDIO, dts, dts, True, b"a%d" % dts)

    sources = [videos()] if video else []
    sources.append(audios())
    import heapq

    for dts, _, packet in heapq.merge(*sources, key=lambda item: (item[0], item[1])):
        yield packet, T0 + timedelta(microseconds=dts * 100 // 9)


# -- a harness that checks as it feeds ---------------------------------------------------------


@dataclass
class Harness:
    settings: LatencySettings
    video: VideoConfig | None = VIDEO
    audio: AudioConfig | None = AUDIO
    render_every: int = 0  # render and parse the playlist every n parts (0: never)
    fake: FakeCmaf = field(default_factory=FakeCmaf)
    events: list[Event] = field(default_factory=list)
    segmenter: Segmenter = field(init=False)
    parts_seen: int = 0
    playlists: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.segmenter = Segmenter(
            self.settings,
            video=self.video,
            audio=self.audio,
            init_writer=self.fake.init,
            fragment_writer=self.fake.fragment,
        )
        self.take(self.segmenter.events())

    def feed(self, packets: Iterable[tuple[Packet, datetime]]) -> Harness:
        for packet, arrival in packets:
            self.take(self.segmenter.feed(packet, arrival))
        return self

    def take(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, PartReady):
                # Parts are numbered in order, so the preload hint always named this one.
                assert event.name == f"part-{self.parts_seen}.m4s"
                self.parts_seen += 1
                if self.render_every and self.parts_seen % self.render_every == 0:
                    self.playlists.append(render_media(self.segmenter.playlist()))
        if self.settings.parts_enabled and not self.segmenter.ended:
            assert self.segmenter.preload_hint == f"part-{self.parts_seen}.m4s"
        if any(isinstance(e, SegmentReady) for e in events):
            # Once segments leave the playlist, it never gets shorter than 3 target durations.
            playlist = self.segmenter.playlist()  # (and the model's own checks pass)
            first = self.segments[0].msn if self.segments else playlist.media_sequence
            if playlist.media_sequence > first:
                assert playlist.duration >= 3 * self.settings.target_duration
        self.events.extend(events)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def segments(self) -> list[SegmentReady]:
        return [e for e in self.events if isinstance(e, SegmentReady)]

    @property
    def parts(self) -> list[PartReady]:
        return [e for e in self.events if isinstance(e, PartReady)]

    def runs(self, track_id: int) -> list[cmaf.TrackRun]:
        """Every run of a track, in the order the segments hold them."""
        return [run for _, run in self.runs_by_segment(track_id)]

    def runs_by_segment(self, track_id: int) -> list[tuple[SegmentReady, cmaf.TrackRun]]:
        result = []
        for segment in self.segments:
            for token in _tokens(segment.data):
                result.extend((segment, r) for r in self.fake.runs[token] if r.track_id == track_id)
        return result


def _tokens(data: bytes) -> list[bytes]:
    return [piece + b"]" for piece in data.split(b"]") if piece]


def check(h: Harness) -> None:
    """The rules every output must keep, whatever the input."""
    s = h.settings
    part_target = s.part_target
    limit = s.target_duration + Fraction(1, 2)
    by_msn: dict[int, list[PartReady]] = {}
    for event in h.parts:
        by_msn.setdefault(event.msn, []).append(event)
    msns = [e.msn for e in h.segments]
    assert msns == list(range(msns[0], msns[0] + len(msns))) if msns else True
    for segment in h.segments:
        assert segment.duration < limit, f"segment {segment.msn} lasts {segment.duration}"
        assert segment.name == f"seg-{segment.msn}.m4s"
        if not s.parts_enabled:
            continue
        parts = by_msn.pop(segment.msn)
        assert [p.part_index for p in parts] == list(range(len(parts)))
        assert sum(p.duration for p in parts) == segment.duration
        assert b"".join(p.data for p in parts) == segment.data
        assert parts[0].independent == segment.independent or h.video is None
        for index, part in enumerate(parts):
            assert 0 < part.duration <= part_target
            final = index == len(parts) - 1
            before_gap = not final and parts[index + 1].gap
            if not (part.independent or part.gap or final or before_gap):
                assert part.duration >= Fraction(85, 100) * part_target
            assert part.gap == (part.data == b"")
    if s.parts_enabled:
        # Only the open segment's parts are left over.
        assert set(by_msn) <= {msns[-1] + 1 if msns else h.segmenter.playlist().media_sequence}
    # Every video sample once, in order, decode times contiguous.
    check_track(h, VIDEO_TRACK_ID, TIMESCALE)
    if h.audio is not None:
        check_track(h, AUDIO_TRACK_ID, h.audio.sample_rate, gaps_allowed=True)


def check_track(h: Harness, track_id: int, timescale: int, gaps_allowed: bool = False) -> None:
    """Samples in order, each once, decode times contiguous (or a gap, where allowed); a new
    period (a discontinuity) may leave a gap and starts its payload numbering again."""
    end = None
    numbers: list[int] = []
    period_start: SegmentReady | None = None
    for segment, run in h.runs_by_segment(track_id):
        new_period = segment.discontinuity and segment is not period_start
        if new_period:
            period_start = segment
            numbers = []
        if end is not None:
            assert run.base_decode_time >= end, "decode times must not go back"
            if not (gaps_allowed or new_period):
                assert run.base_decode_time == end, "decode times must be contiguous"
        end = run.base_decode_time + sum(sample.duration for sample in run.samples)
        for sample in run.samples:
            number = int(sample.data[1:])
            assert not numbers or number > numbers[-1], "a sample repeated or out of order"
            numbers.append(number)


def settings(level: int = 2, **kwargs: object) -> LatencySettings:
    base = settings_for_level(level)
    values = {
        "segment_seconds": base.segment_seconds,
        "playlist_segments": base.playlist_segments,
        "part_target": base.part_target,
        "parts_enabled": base.parts_enabled,
    }
    values.update(kwargs)
    return LatencySettings(**values)  # type: ignore[arg-type]


# -- cut points --------------------------------------------------------------------------------


def test_init_segment_comes_first() -> None:
    h = Harness(settings())
    assert len(h.events) == 1
    init = h.events[0]
    assert isinstance(init, InitReady) and init.name == "init-0.mp4"
    # Video on track 1 at 90 kHz, audio on track 2 at its sample rate.
    assert b"1/90000" in init.data and b"2/48000" in init.data
    assert h.segmenter.init_name == "init-0.mp4"


def test_names_carry_the_prefix() -> None:
    fake = FakeCmaf()
    segmenter = Segmenter(
        settings(0),
        video=VIDEO,
        audio=AUDIO,
        prefix="s7-",
        first_msn=40,
        init_writer=fake.init,
        fragment_writer=fake.fragment,
    )
    events = segmenter.events()
    for packet, arrival in stream(3):
        events += segmenter.feed(packet, arrival)
    names = [e.name for e in events if isinstance(e, InitReady | PartReady | SegmentReady)]
    assert names[:5] == [
        "s7-init-0.mp4",
        "s7-part-0.m4s",
        "s7-part-1.m4s",
        "s7-part-2.m4s",
        "s7-seg-40.m4s",
    ]
    assert segmenter.preload_hint is not None and segmenter.preload_hint.startswith("s7-part-")
    for bad in ("../", "a/b", "x" * 65, "é"):
        with pytest.raises(ValueError, match="prefix"):
            Segmenter(settings(0), video=VIDEO, audio=None, prefix=bad)


def test_gop_1s_level_2_gives_3s_segments_of_half_second_parts() -> None:
    h = Harness(settings(2)).feed(stream(20))
    check(h)
    assert [e.duration for e in h.segments] == [3] * 6
    assert all(e.independent for e in h.segments)
    assert [p.duration for p in h.parts[:6]] == [Fraction(1, 2)] * 6
    # Keyframes every second land on part boundaries: those parts are INDEPENDENT.
    assert [p.independent for p in h.parts[:6]] == [True, False] * 3
    assert [e.program_date_time for e in h.segments] == [
        T0 + timedelta(seconds=3 * i) for i in range(6)
    ]
    # Parts come before the segment they make up.
    kinds = [type(e).__name__ for e in h.events if not isinstance(e, InitReady | Removed)]
    assert kinds[:7] == ["PartReady"] * 6 + ["SegmentReady"]


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_every_level_with_gop_1s(level: int) -> None:
    s = settings(level)
    h = Harness(s).feed(stream(30))
    check(h)
    assert {e.duration for e in h.segments} == {s.segment_seconds}
    assert all(e.independent for e in h.segments)
    # Parts of a whole number of frames, a keyframe (every second) at the start of one.
    frames = int(s.part_target * 30)
    for part in h.parts:
        assert abs(part.duration - Fraction(frames, 30)) <= Fraction(1, 1000)
    starts = list(itertools.accumulate([Fraction(0)] + [p.duration for p in h.parts]))
    independent = {start for start, p in zip(starts, h.parts, strict=False) if p.independent}
    seconds = range(int(starts[-1]) + 1)
    assert independent == {Fraction(t) for t in seconds if t * 30 % frames == 0 and t < starts[-1]}


def test_gop_2s_at_level_2_cuts_at_2s_rather_than_overrun() -> None:
    # Waiting for the keyframe at 4 s would break the 3 s target duration.
    h = Harness(settings(2)).feed(stream(20, keyframe=every(2)))
    check(h)
    assert {e.duration for e in h.segments} == {2}
    assert all(e.independent for e in h.segments)


def test_gop_2s_at_level_0_cuts_without_keyframes_and_recovers() -> None:
    h = Harness(settings(0)).feed(stream(20, keyframe=every(2)))
    check(h)
    durations = [e.duration for e in h.segments]
    assert max(durations) < Fraction(3, 2)
    assert not all(e.independent for e in h.segments)
    check_keyframe_starts(h, Fraction(2))


@pytest.mark.parametrize(
    ("level", "gop", "shortest"),
    [(0, Fraction(3, 2), Fraction(1, 2)), (2, Fraction(8), Fraction(2)), (2, 4, 1)],
)
def test_long_gops_give_no_slivers(level: int, gop: Fraction, shortest: Fraction) -> None:
    # A GOP longer than the target duration allows: segments end at part boundaries once
    # long enough, so the piece before each keyframe is not a frame or two.
    h = Harness(settings(level)).feed(stream(40, keyframe=every(gop)))
    check(h)
    check_keyframe_starts(h, gop)
    # The first GOP's length is not known until its end, so judge from the second one on.
    durations = [e.duration for e in h.segments]
    first_known = next(i for i, e in enumerate(h.segments) if i and e.independent)
    assert min(durations[first_known:]) >= shortest, durations


def check_keyframe_starts(h: Harness, gop: Fraction) -> None:
    """Every keyframe starts a segment, and exactly those segments are independent."""
    durations = [e.duration for e in h.segments]
    starts = list(itertools.accumulate([Fraction(0), *durations]))[:-1]
    for start, segment in zip(starts, h.segments, strict=True):
        assert segment.independent == (start % gop == 0), (start, segment)
    keyframes = {gop * i for i in range(int(starts[-1] / gop) + 1)}
    assert keyframes <= set(starts)


def test_irregular_gops() -> None:
    rng = random.Random(7)
    keyframes = set(itertools.accumulate(rng.randint(5, 120) for _ in range(200)))
    for level in (0, 2, 4):
        h = Harness(settings(level)).feed(stream(40, keyframe=lambda i: i == 0 or i in keyframes))
        check(h)
        assert len(h.segments) > 5


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), 25, 24, 60, Fraction(15), 5])
def test_frame_rates(fps: Fraction) -> None:
    for level in (0, 2):
        h = Harness(settings(level)).feed(
            stream(12, fps=fps, keyframe=lambda i: i % round(fps) == 0, milliseconds=False)
        )
        check(h)


def test_audio_only() -> None:
    h = Harness(settings(0), video=None).feed(stream(10, video=False))
    check(h)
    frame = Fraction(1024, 48000)
    for segment in h.segments:
        assert abs(segment.duration - 1) <= frame
        assert segment.independent
    assert all(p.independent for p in h.parts)
    assert h.runs(VIDEO_TRACK_ID) == []


def test_packets_before_the_first_keyframe_are_dropped() -> None:
    packets = list(stream(5, keyframe=every(1), first_frame=10))  # keyframe at 1 s
    h = Harness(settings(2)).feed(packets)
    check(h)
    first = h.runs(VIDEO_TRACK_ID)[0]
    assert first.base_decode_time == 0 and first.samples[0].data == b"v90000"
    # The audio from before the keyframe (at 1 s) is gone: audio starts with the frame at
    # 1.00267 s (1003 ms over RTMP), 3 ms into the output timeline.
    audio = h.runs(AUDIO_TRACK_ID)[0]
    assert audio.samples[0].data == b"a%d" % (1003 * 90)
    assert audio.base_decode_time == 3 * 48


def test_b_frames_keep_composition_offsets() -> None:
    packets = [
        (
            Packet(Track.VIDEO, 3000 * i, 3000 * i + 6000, i % 30 == 0, b"v%d" % i),
            T0 + timedelta(seconds=i / 30),
        )
        for i in range(100)
    ]
    h = Harness(settings(2), audio=None).feed(packets)
    h.take(h.segmenter.finish())
    check(h)
    offsets = {s.composition_offset for r in h.runs(VIDEO_TRACK_ID) for s in r.samples}
    assert offsets == {6000}


def test_out_of_order_video_is_dropped() -> None:
    packets = list(stream(3, audio=None))
    packets.insert(40, packets[20])  # a repeat, out of order
    h = Harness(settings(2), audio=None).feed(packets)
    h.take(h.segmenter.finish())
    check(h)
    assert sum(len(r.samples) for r in h.runs(VIDEO_TRACK_ID)) == 90


@settings_profile(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_messy_input_gives_valid_output(data: st.DataObject) -> None:
    """Irregular GOPs, dropped frames, jittery timestamps, audio gaps, B-frames, any level."""
    level = data.draw(st.sampled_from(LEVELS), label="level")
    frame = data.draw(st.sampled_from([3000, 3003, 3600, 1500]), label="frame ticks")
    count = data.draw(st.integers(30, 500), label="frames")
    keyframes = data.draw(st.sets(st.integers(1, count)), label="keyframes") | {0}
    dropped = data.draw(st.sets(st.integers(1, count)), label="dropped frames")
    jitter = data.draw(st.lists(st.integers(-90, 90), min_size=count, max_size=count))
    b_frames = data.draw(st.booleans(), label="B-frames")
    audio_gaps = data.draw(st.sets(st.integers(0, count)), label="audio gaps")
    with_audio = data.draw(st.booleans(), label="audio")
    packets: list[tuple[int, int, Packet]] = []
    for index in range(count):
        if index in dropped:
            continue
        dts = index * frame + jitter[index] if index else 0
        pts = dts + (2 * frame if b_frames else 0)
        key = index in keyframes
        packets.append((dts, 0, Packet(Track.VIDEO, dts, pts, key, b"v%d" % index)))
    if with_audio:
        for index in range(count * frame // 1875):
            if index // 8 in audio_gaps:
                continue
            dts = ms_ticks(Fraction(index * 1024, 48000))
            packets.append((dts, 1, Packet(Track.AUDIO, dts, dts, True, b"a%d" % index)))
    packets.sort(key=lambda item: (item[0], item[1]))
    h = Harness(settings(level), audio=AUDIO if with_audio else None)
    h.feed((p, T0 + timedelta(microseconds=dts * 100 // 9)) for dts, _, p in packets)
    h.take(h.segmenter.finish())
    check(h)
    render_media(h.segmenter.playlist())


# -- audio timing ------------------------------------------------------------------------------


def test_audio_counts_samples_through_millisecond_jitter() -> None:
    h = Harness(settings(2), audio=AUDIO_44K).feed(stream(60, audio=AUDIO_44K))
    check(h)
    runs = h.runs(AUDIO_TRACK_ID)
    position = 0
    for run in runs:
        assert run.base_decode_time == position  # never resynchronised
        position += 1024 * len(run.samples)


def test_audio_gap_resynchronises() -> None:
    # 0.4 s of audio missing at 5 s: after it, audio resumes at its own time.
    gap = (Fraction(5), Fraction(54, 10))
    h = Harness(settings(2)).feed(stream(12, skip_audio=lambda t: gap[0] <= t < gap[1]))
    check(h)
    starts = [(r.base_decode_time, len(r.samples)) for r in h.runs(AUDIO_TRACK_ID)]
    jumps = [
        b - (a + 1024 * n) for (a, n), (b, _) in itertools.pairwise(starts) if b != a + 1024 * n
    ]
    assert len(jumps) == 1
    assert abs(jumps[0] - int(Fraction(4, 10) * 48000)) <= 1024


def test_audio_only_gap_longer_than_a_part_gives_gap_parts() -> None:
    gap = (Fraction(4), Fraction(52, 10))
    h = Harness(settings(2), video=None).feed(
        stream(12, video=False, skip_audio=lambda t: gap[0] <= t < gap[1])
    )
    check(h)
    gaps = [p for p in h.parts if p.gap]
    assert gaps and all(p.data == b"" for p in gaps)
    rendered = render_media(h.segmenter.playlist())
    assert any("GAP=YES" in value for value in tags(rendered, "#EXT-X-PART"))


def test_audio_only_long_gap_is_a_discontinuity() -> None:
    gap = (Fraction(4), Fraction(9))
    h = Harness(settings(0), video=None).feed(
        stream(12, video=False, skip_audio=lambda t: gap[0] <= t < gap[1])
    )
    check(h)
    flagged = [e for e in h.segments if e.discontinuity]
    assert len(flagged) == 1
    total = sum(e.duration for e in h.segments)
    assert total < 9  # the 5 s hole is not filled with empty parts


def test_video_stall_keeps_parts_coming_on_audio() -> None:
    # Video stops for 2 s at 5 s while audio goes on.
    stall = (Fraction(5), Fraction(7))
    s = settings(2)
    h = Harness(s)
    published_at: list[int] = []
    for packet, arrival in stream(14, skip_video=lambda t: stall[0] <= t < stall[1]):
        events = h.segmenter.feed(packet, arrival)
        h.take(events)
        published_at.extend(packet.dts for e in events if isinstance(e, PartReady))
    check(h)
    waits = [b - a for a, b in itertools.pairwise(published_at)]
    # At most one wait of about the stall threshold (1 s) plus a part; otherwise a part's worth.
    long_waits = [w for w in waits if w > s.part_target * TIMESCALE + 3000]
    assert len(long_waits) <= 1 and all(w <= 3 * TIMESCALE // 2 for w in long_waits)
    # The frame before the stall is shown through it.
    durations = [x.duration for r in h.runs(VIDEO_TRACK_ID) for x in r.samples]
    assert max(durations) > 2 * TIMESCALE - 6000


# -- a long run --------------------------------------------------------------------------------


def test_two_hours_exact_timing() -> None:
    s = settings(2, playlist_segments=3)
    fake = FakeCmaf()
    seg = Segmenter(
        s, video=VIDEO, audio=AUDIO_44K, init_writer=fake.init, fragment_writer=fake.fragment
    )
    seconds = 2 * 3600
    total = Fraction(0)
    count = 0
    audio_next = 0
    video_next = 0
    for packet, arrival in stream(seconds, audio=AUDIO_44K):
        for event in seg.feed(packet, arrival):
            if isinstance(event, SegmentReady):
                assert event.duration == 3
                assert event.program_date_time == T0 + timedelta(seconds=3 * event.msn)
                total += event.duration
                count += 1
                # Its parts came first: the tracks have reached its end, audio to a frame.
                assert video_next == total * TIMESCALE
                assert abs(Fraction(audio_next, 44100) - total) < Fraction(1024, 44100)
            elif isinstance(event, PartReady):
                for run in fake.runs.pop(event.data):
                    if run.track_id == AUDIO_TRACK_ID:
                        assert run.base_decode_time == audio_next
                        audio_next += 1024 * len(run.samples)
                    else:
                        assert run.base_decode_time == video_next
                        video_next += sum(x.duration for x in run.samples)
    # Audio stayed on its own sample clock for two hours (every run began where the last
    # ended: no resync) and still lines up with the video: no drift.
    assert count == seconds // 3 - 1
    assert total == count * 3
    playlist = seg.playlist()
    assert playlist.media_sequence == count - 3
    assert render_media(playlist)


# -- discontinuities, end, window ----------------------------------------------------------------


def test_discontinuity_with_same_configs() -> None:
    h = Harness(settings(2), render_every=1).feed(stream(10))
    before = h.segments[-1].msn
    events = h.segmenter.discontinuity(video=VIDEO, audio=AUDIO)
    h.take(events)
    assert not any(isinstance(e, InitReady) for e in events)
    # A new publish: timestamps start again at 0, arriving 2 s later.
    later = [(p, a + timedelta(seconds=12)) for p, a in stream(20)]
    h.feed(later[: len(later) // 4])
    grouped = segments_of(render_media(h.segmenter.playlist()))
    marked = [g for g in grouped if ("#EXT-X-DISCONTINUITY", "") in g["tags"]]  # type: ignore[operator]
    assert len(marked) == 1
    h.feed(later[len(later) // 4 :])
    check(h)
    flagged = [e for e in h.segments if e.discontinuity]
    assert [e.msn for e in flagged] == [before + 2]  # after the flushed partial segment
    assert flagged[0].program_date_time == T0 + timedelta(seconds=12)
    # The output timeline runs on across the discontinuity.
    check_track(h, VIDEO_TRACK_ID, TIMESCALE)


def test_discontinuity_with_new_configs_makes_a_new_init() -> None:
    h = Harness(settings(0)).feed(stream(5))
    events = h.segmenter.discontinuity(video=VIDEO_720, audio=AUDIO)
    h.take(events)
    inits = [e for e in events if isinstance(e, InitReady)]
    assert [e.name for e in inits] == ["init-1.mp4"]
    assert b"1080" in inits[0].data
    h.feed((p, a + timedelta(seconds=6)) for p, a in stream(4))
    text = render_media(h.segmenter.playlist())
    grouped = segments_of(text)
    new_map = ("#EXT-X-MAP", 'URI="init-1.mp4"')
    first_new = next(g for g in grouped if new_map in g["tags"])  # type: ignore[operator]
    assert ("#EXT-X-DISCONTINUITY", "") in first_new["tags"]  # type: ignore[operator]
    # Once no listed segment needs the old init, it may go.
    h.feed((p, a + timedelta(seconds=6)) for p, a in stream(30, start=4))
    check(h)
    removed = [n for e in h.of(Removed) for n in e.names]  # type: ignore[attr-defined]
    assert "init-0.mp4" in removed and "init-1.mp4" not in removed
    assert one_value(render_media(h.segmenter.playlist()), "#EXT-X-DISCONTINUITY-SEQUENCE") == "1"


def one_value(text: str, tag: str) -> str:
    values = tags(text, tag)
    assert len(values) == 1
    return values[0]


def test_timestamp_reset_without_notice_is_a_discontinuity() -> None:
    packets = list(stream(8))
    restart = [(p, a + timedelta(seconds=8)) for p, a in stream(8)]
    h = Harness(settings(2)).feed(packets + restart)
    check(h)
    assert sum(e.discontinuity for e in h.segments) == 1


def test_finish_flushes_and_ends_the_playlist() -> None:
    h = Harness(settings(2), audio=None).feed(stream(10, audio=None))
    h.take(h.segmenter.finish())
    check(h)
    # The last frame is given the length of the one before it (34 ms with RTMP timestamps).
    assert sum(e.duration for e in h.segments) == Fraction(10001, 1000)
    assert sum(len(r.samples) for r in h.runs(VIDEO_TRACK_ID)) == 300
    playlist = h.segmenter.playlist()
    text = render_media(playlist)
    assert parse_m3u8(text)[-1] == ("#EXT-X-ENDLIST", "")
    assert not tags(text, "#EXT-X-PRELOAD-HINT")
    assert h.segmenter.feed(*next(stream(1))) == []
    assert h.segmenter.finish() == []


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_window_keeps_the_level_count_but_three_target_durations(level: int) -> None:
    s = settings(level)
    h = Harness(s).feed(stream(60))
    playlist = h.segmenter.playlist()
    assert playlist.duration >= 3 * s.target_duration
    expected = max(s.playlist_segments, 3)  # 3 x target of 1 s to 5 s segments
    assert len(playlist.segments) == expected
    assert playlist.segments[-1].uri == h.segments[-1].name


def test_parts_off() -> None:
    h = Harness(settings(0, parts_enabled=False)).feed(stream(10))
    check(h)
    assert not h.parts and len(h.segments) == 9
    text = render_media(h.segmenter.playlist())
    assert not tags(text, "#EXT-X-PART-INF") and not tags(text, "#EXT-X-PART")
    assert not tags(text, "#EXT-X-PRELOAD-HINT")
    assert h.segmenter.preload_hint is None
    # Segments are still several moof+mdat chunks.
    assert len(_tokens(h.segments[0].data)) == 3


def test_rendition_report_is_the_live_edge() -> None:
    h = Harness(settings(2)).feed(stream(7.1))
    report = h.segmenter.rendition_report("../1/stream.m3u8")
    playlist = h.segmenter.playlist([report])
    assert report == playlist.rendition_report("../1/stream.m3u8")
    assert (report.last_msn, report.last_part) == (2, 1)
    line = parse_attributes(tags(render_media(playlist), "#EXT-X-RENDITION-REPORT")[0])
    assert line == {"URI": "../1/stream.m3u8", "LAST-MSN": "2", "LAST-PART": "1"}


# -- what may be deleted -------------------------------------------------------------------------


def test_removed_files_are_no_longer_reachable() -> None:
    s = settings(0)
    h = Harness(s)
    made: set[str] = set()
    removed: set[str] = set()
    last_listed: dict[str, Fraction] = {}
    clock = Fraction(0)
    longest = Fraction(0)
    for packet, arrival in stream(60, keyframe=lambda i: i % 30 == 0 or i % 47 == 0):
        events = h.segmenter.feed(packet, arrival)
        h.take(events)
        if not events:
            continue
        for event in events:
            if isinstance(event, InitReady | SegmentReady | PartReady):
                assert event.name not in made
                made.add(event.name)
            if isinstance(event, PartReady):
                clock += event.duration
            if isinstance(event, Removed):
                for name in event.names:
                    assert name in made and name not in removed
                    removed.add(name)
                    assert clock - last_listed[name] >= 3 * s.target_duration
        playlist = h.segmenter.playlist()
        longest = max(longest, playlist.duration)
        text = render_media(playlist)
        listed = set(tags(text, "URI"))
        listed |= {parse_attributes(v)["URI"] for v in tags(text, "#EXT-X-PART")}
        listed |= {parse_attributes(v)["URI"] for v in tags(text, "#EXT-X-MAP")}
        assert not listed & removed
        for name in listed:
            last_listed[name] = clock
    check(h)
    assert any(n.startswith("part-") for n in removed)
    assert any(n.startswith("seg-") for n in removed)
    # Segments stay for their duration plus the longest playlist after they leave it.
    durations = {e.name: e.duration for e in h.segments}
    for name in removed:
        if name.startswith("seg-"):
            assert durations[name] + longest <= clock - last_listed[name] + 1
    # Bounded: what is kept is a few playlists' worth, not the whole stream.
    assert len(made - removed) < 80


def test_discontinuity_sequence_counts_removed_discontinuities() -> None:
    h = Harness(settings(0))
    for round_number in range(3):
        h.feed((p, a + timedelta(seconds=10 * round_number)) for p, a in stream(8))
        h.take(h.segmenter.discontinuity(video=VIDEO, audio=AUDIO))
    h.feed((p, a + timedelta(seconds=30)) for p, a in stream(8))
    check(h)
    playlist = h.segmenter.playlist()
    assert playlist.discontinuity_sequence == 3
    assert not any(s.discontinuity for s in playlist.segments)


def test_naive_arrival_is_refused() -> None:
    h = Harness(settings(2))
    packet, _ = next(stream(1))
    with pytest.raises(ValueError, match="timezone"):
        h.segmenter.feed(packet, datetime(2024, 1, 1))


def test_a_rendition_needs_a_track() -> None:
    with pytest.raises(ValueError):
        Segmenter(settings(2), video=None, audio=None)


# -- real media through the real CMAF writer, read back by PyAV ----------------------------------


def _encode_flv(seconds: int, fps: int = 30) -> bytes:
    """Encode a test pattern (H.264, GOP 1 s, zerolatency) and a tone (AAC) into FLV."""
    av = pytest.importorskip("av")
    import io
    import math

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="flv") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        video.options = {
            "tune": "zerolatency",
            "preset": "ultrafast",
            "g": str(fps),
            "keyint_min": str(fps),
            "sc_threshold": "0",
        }
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for index in range(seconds * fps):
            frame = av.VideoFrame(160, 96, "yuv420p")
            for plane_index, plane in enumerate(frame.planes):
                plane.update(bytes([(index * 3 + 60 * plane_index) % 256]) * plane.buffer_size)
            frame.pts = index
            container.mux(video.encode(frame))
        for start in range(0, seconds * 48000, 1024):
            frame = av.AudioFrame(format="s16", layout="mono", samples=1024)
            tone = b"".join(
                int(8000 * math.sin(2 * math.pi * 440 * (start + i) / 48000)).to_bytes(
                    2, "little", signed=True
                )
                for i in range(1024)
            )
            frame.planes[0].update(tone)
            frame.sample_rate, frame.pts = 48000, start
            container.mux(audio.encode(frame))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return buffer.getvalue()


def _demux_flv(data: bytes) -> tuple[VideoConfig, AudioConfig, list[tuple[Packet, datetime]]]:
    av = pytest.importorskip("av")
    import io

    packets = []
    with av.open(io.BytesIO(data), format="flv") as container:
        video_stream, audio_stream = container.streams.video[0], container.streams.audio[0]
        record = bytes(video_stream.codec_context.extradata)
        video = VideoConfig(
            VideoCodec.H264,
            video_stream.codec_context.width,
            video_stream.codec_context.height,
            record,
            "avc1." + record[1:4].hex(),
        )
        audio = AudioConfig(
            AudioCodec.AAC,
            audio_stream.codec_context.sample_rate,
            audio_stream.codec_context.channels,
            bytes(audio_stream.codec_context.extradata),
            "mp4a.40.2",
        )
        for packet in container.demux():
            if packet.size == 0 or packet.dts is None:
                continue
            track = Track.VIDEO if packet.stream.type == "video" else Track.AUDIO
            dts, pts = packet.dts * 90, packet.pts * 90  # FLV is in milliseconds
            arrival = T0 + timedelta(milliseconds=packet.dts)
            packets.append((Packet(track, dts, pts, packet.is_keyframe, bytes(packet)), arrival))
    return video, audio, packets


def test_real_media_plays_back(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    seconds = 4
    video, audio, packets = _demux_flv(_encode_flv(seconds))
    # Level 0 with a playlist long enough to list the whole (ended) stream.
    segmenter = Segmenter(settings(0, playlist_segments=10), video=video, audio=audio)
    events = segmenter.events()
    for packet, arrival in packets:
        events += segmenter.feed(packet, arrival)
    events += segmenter.finish()
    for event in events:
        if isinstance(event, InitReady | SegmentReady | PartReady) and event.data:
            (tmp_path / event.name).write_bytes(event.data)
    playlist = render_media(segmenter.playlist())
    (tmp_path / "stream.m3u8").write_text(playlist)
    segments = [e for e in events if isinstance(e, SegmentReady)]
    assert len(segments) == seconds

    # The init segment and the segments, concatenated, are one fragmented MP4.
    whole = tmp_path / "whole.mp4"
    whole.write_bytes((tmp_path / "init-0.mp4").read_bytes() + b"".join(e.data for e in segments))
    check_playback(av, whole, seconds)

    # So is the init segment with the parts, and the HLS demuxer reads the playlist.
    parts = [e for e in events if isinstance(e, PartReady)]
    by_parts = tmp_path / "parts.mp4"
    by_parts.write_bytes((tmp_path / "init-0.mp4").read_bytes() + b"".join(p.data for p in parts))
    check_playback(av, by_parts, seconds)
    check_playback(av, tmp_path / "stream.m3u8", seconds)
    assert len(tags(playlist, "URI")) == seconds


def check_playback(av: object, path: Path, seconds: int) -> None:
    with av.open(str(path)) as container:  # type: ignore[attr-defined]
        video_times: list[Fraction] = []
        audio_samples = 0
        for frame in container.decode(container.streams.video[0], container.streams.audio[0]):
            if frame.__class__.__name__ == "VideoFrame":
                video_times.append(Fraction(frame.pts) * frame.time_base)
            else:
                audio_samples += frame.samples
    assert len(video_times) == seconds * 30
    steps = {round((b - a) * 1000) for a, b in itertools.pairwise(sorted(video_times))}
    assert steps <= {33, 34}, steps  # continuous: no gap, no repeat
    assert abs(audio_samples - seconds * 48000) <= 2 * 1024
