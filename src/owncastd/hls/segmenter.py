"""The per-rendition segmenter: packets in, CMAF init segments, LL-HLS parts and segments out.

Pure logic (h11 style): `feed`, `discontinuity` and `finish` return events; wall-clock arrival
times are passed in. All media times are integers on one output timeline in 90 kHz ticks that
starts at 0 and stays continuous across discontinuities, so durations add up exactly for hours.

How media is cut:
- Segments start at video keyframes: at the one nearest the segment length, or earlier when the
  next is not expected in time (the GOP is longer than the target duration allows). With no
  keyframe in time a segment is cut anyway (not independent), so EXTINF never breaks the target.
- Parts are cut on the primary track (video, or audio in an audio-only rendition): at a sample
  boundary between 85 % and 100 % of the part target when there is one, else at exactly the part
  target (a long sample then spans two parts). A part without samples is a GAP part.
- Each sample's duration is the next sample's dts minus its own, so one video sample is held
  back; audio durations are fixed (1024 samples for AAC) and counted in samples, resynchronised
  only on a real gap.
- If video stalls while audio flows, audio drives the part clock (behind by `video_stall`), so
  the playlist keeps moving; the held video frame is written when video resumes.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

from owncastd.hls import cmaf
from owncastd.hls.latency import LatencySettings
from owncastd.hls.playlist import (
    PART_LISTING_TARGET_DURATIONS,
    PART_MIN_RATIO,
    MediaPlaylist,
    OpenSegment,
    Part,
    RenditionReport,
    Segment,
    ServerControl,
)
from owncastd.media.packets import (
    TIMESCALE,
    AudioCodec,
    AudioConfig,
    Packet,
    Track,
    VideoConfig,
)

VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2

_SAFE_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,64}")


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitReady:
    """A new init segment (EXT-X-MAP) to store under `name`."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PartReady:
    """A partial segment, ready to serve. A `gap` part has no data and must answer 404."""

    msn: int
    part_index: int
    name: str
    data: bytes
    duration: Fraction
    independent: bool
    gap: bool = False


@dataclass(frozen=True, slots=True)
class SegmentReady:
    """A complete segment: its parts' bytes in order."""

    msn: int
    name: str
    data: bytes
    duration: Fraction
    program_date_time: datetime
    independent: bool
    discontinuity: bool


@dataclass(frozen=True, slots=True)
class Removed:
    """Names no playlist lists any more and no client may still fetch: storage may delete."""

    names: tuple[str, ...]


Event = InitReady | PartReady | SegmentReady | Removed

InitWriter = Callable[[Sequence[cmaf.TrackSpec]], bytes]
FragmentWriter = Callable[[int, Sequence[cmaf.TrackRun]], bytes]


# -- internal records --------------------------------------------------------------------------


@dataclass(slots=True)
class _VideoSample:
    dts: int  # output ticks
    data: bytes
    keyframe: bool
    composition_offset: int
    arrival: datetime
    duration: int = 0  # known once the next sample arrives


@dataclass(slots=True)
class _AudioSample:
    start: int  # in samples (the audio timescale)
    start_ticks: int
    data: bytes
    arrival: datetime


@dataclass(slots=True)
class _PartRecord:
    index: int
    name: str
    duration: int  # ticks
    independent: bool
    gap: bool


@dataclass(slots=True)
class _SegmentRecord:
    msn: int
    name: str
    start: int
    duration: int
    program_date_time: datetime
    discontinuity: bool
    map_name: str
    independent: bool
    parts: list[_PartRecord]
    parts_delisted_at: int | None = None
    parts_deleted: bool = False
    removed_at: int | None = None

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass(slots=True)
class _OpenSegment:
    msn: int
    start: int
    program_date_time: datetime
    independent: bool
    discontinuity: bool
    map_name: str
    parts: list[_PartRecord] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)


def _ticks(seconds: Fraction) -> int:
    return math.floor(seconds * TIMESCALE)


def _seconds(ticks: int) -> Fraction:
    return Fraction(ticks, TIMESCALE)


def _timedelta(ticks: int) -> timedelta:
    return timedelta(microseconds=ticks * 1_000_000 // TIMESCALE)


def _samples_per_frame(config: AudioConfig) -> int:
    if config.codec is AudioCodec.MP3:
        # MPEG-1 Layer III frames hold 1152 samples; the MPEG-2/2.5 low rates hold 576.
        return 1152 if config.sample_rate >= 32000 else 576
    return 1024


class Segmenter:
    """Cuts one rendition's packets into CMAF parts and segments and keeps its playlist window.

    `video`/`audio` are the rendition's track configurations (at least one). Names are made
    here only: `<prefix>init-<n>.mp4`, `<prefix>seg-<msn>.m4s`, `<prefix>part-<n>.m4s` (parts
    count up across segments, so the preload hint always names the part that comes next). A
    `prefix` unique to the stream keeps a new stream's names from colliding with cached ones.
    """

    def __init__(
        self,
        settings: LatencySettings,
        *,
        video: VideoConfig | None,
        audio: AudioConfig | None,
        first_msn: int = 0,
        prefix: str = "",
        video_stall: Fraction = Fraction(1),
        init_writer: InitWriter = cmaf.init_segment,
        fragment_writer: FragmentWriter = cmaf.media_fragment,
    ) -> None:
        if not _SAFE_PREFIX.fullmatch(prefix):
            raise ValueError(f"name prefix {prefix!r} must be letters, digits, '-' or '_'")
        if first_msn < 0:
            raise ValueError("first_msn must not be negative")
        self._prefix = prefix
        self._settings = settings
        self._write_init = init_writer
        self._write_fragment = fragment_writer
        self._events: list[Event] = []

        target = settings.target_duration
        self._part_ticks = _ticks(settings.part_target)
        self._min_part_ticks = math.ceil(PART_MIN_RATIO * settings.part_target * TIMESCALE)
        self._segment_ticks = _ticks(settings.segment_seconds)
        # EXTINF rounded to the nearest integer must not exceed the target (RFC 8216bis 4.4.3.1).
        self._max_segment_ticks = target * TIMESCALE + TIMESCALE // 2 - 1
        self._min_window_ticks = _ticks(settings.min_playlist_seconds)
        self._listing_ticks = PART_LISTING_TARGET_DURATIONS * target * TIMESCALE
        self._stall_ticks = _ticks(video_stall)
        # A jump bigger than a target duration is a restart, not a gap to fill with parts.
        self._max_jump_ticks = target * TIMESCALE

        self._video: VideoConfig | None = None
        self._audio: AudioConfig | None = None
        self._init_count = 0
        self._init_name = ""
        self._init_data = b""
        # Init segment name -> how many kept segments use it (it is deleted when unused).
        self._live_inits: dict[str, int] = {}
        self._set_tracks(video, audio)

        self._ended = False
        self._started = False
        self._discontinuity_pending = False
        self._offset = 0  # output ticks = input dts + offset
        self._period_start = 0
        self._clock = 0  # end of everything published, in output ticks
        self._part_number = 0
        self._open = _OpenSegment(
            msn=first_msn,
            start=0,
            program_date_time=datetime.min,
            independent=True,
            discontinuity=False,
            map_name=self._init_name,
        )
        self._part_start = 0
        self._pending: _VideoSample | None = None
        self._video_queue: deque[_VideoSample] = deque()
        self._last_video_duration: int | None = None
        # Recent frame durations: millisecond timestamps make them jitter (33, 34, 33 ms).
        self._recent_durations: deque[int] = deque(maxlen=8)
        self._last_keyframe: int | None = None
        self._gop: int | None = None
        self._audio_queue: deque[_AudioSample] = deque()
        self._audio_next: int | None = None  # in samples

        self._window: deque[_SegmentRecord] = deque()
        self._retired: deque[_SegmentRecord] = deque()
        self._longest_window = 0
        self._discontinuity_sequence = 0

    # -- public API ----------------------------------------------------------------------------

    @property
    def settings(self) -> LatencySettings:
        return self._settings

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def init_name(self) -> str:
        """The init segment the next media uses."""
        return self._init_name

    @property
    def preload_hint(self) -> str | None:
        """The name of the part being written now (EXT-X-PRELOAD-HINT), if parts are on."""
        if self._ended or not self._settings.parts_enabled:
            return None
        return self._part_name(self._part_number)

    def events(self) -> list[Event]:
        """Events not yet collected (the first InitReady, before any media is fed)."""
        events, self._events = self._events, []
        return events

    def feed(self, packet: Packet, arrival: datetime) -> list[Event]:
        """Take one packet of this rendition; `arrival` is when ingest received it."""
        if arrival.utcoffset() is None:
            raise ValueError("arrival must be a timezone-aware datetime")
        if self._ended:
            return self.events()
        if packet.track is Track.VIDEO and self._video is not None:
            self._feed_video(packet, arrival)
        elif packet.track is Track.AUDIO and self._audio is not None:
            self._feed_audio(packet, arrival)
        return self.events()

    def discontinuity(self, *, video: VideoConfig | None, audio: AudioConfig | None) -> list[Event]:
        """Close the current segment and start a new period (a new publish, an encoder restart).

        Media restarts at the next keyframe with its own timestamps; a new init segment is made
        when the configurations changed.
        """
        # A publisher that comes back after the stream ended resumes the same playlist: players
        # that have not seen ENDLIST yet carry on across the discontinuity.
        self._ended = False
        self._restart()
        self._set_tracks(video, audio)
        return self.events()

    def finish(self) -> list[Event]:
        """The stream ended: flush what is buffered; the playlist gets EXT-X-ENDLIST."""
        if not self._ended:
            self._flush()
            self._ended = True
        return self.events()

    def playlist(self, rendition_reports: Sequence[RenditionReport] = ()) -> MediaPlaylist:
        """The media playlist as of now, for `render_media` (skip is the renderer's option)."""
        settings = self._settings
        parts_on = settings.parts_enabled
        segments = tuple(
            Segment(
                uri=record.name,
                duration=_seconds(record.duration),
                map_uri=record.map_name,
                program_date_time=record.program_date_time,
                discontinuity=record.discontinuity,
                parts=self._parts(record.parts) if parts_on else (),
            )
            for record in self._window
        )
        open_segment = None
        if parts_on and self._open.parts and not self._ended:
            open_segment = OpenSegment(
                map_uri=self._open.map_name,
                parts=self._parts(self._open.parts),
                program_date_time=self._open.program_date_time,
                discontinuity=self._open.discontinuity,
            )
        return MediaPlaylist(
            target_duration=settings.target_duration,
            media_sequence=self._window[0].msn if self._window else self._open.msn,
            discontinuity_sequence=self._discontinuity_sequence,
            segments=segments,
            open_segment=open_segment,
            part_target=settings.part_target if parts_on else None,
            server_control=ServerControl(
                can_block_reload=True,
                hold_back=settings.hold_back,
                part_hold_back=settings.part_hold_back,
                can_skip_until=settings.can_skip_until,
            ),
            preload_hint=self.preload_hint,
            rendition_reports=tuple(rendition_reports),
            ended=self._ended,
        )

    def rendition_report(self, uri: str) -> RenditionReport:
        """This rendition's live edge, for the other renditions' playlists (`uri` relative)."""
        if self._settings.parts_enabled:
            if self._open.parts:
                return RenditionReport(uri, self._open.msn, len(self._open.parts) - 1)
            if self._window and self._window[-1].parts:
                last = self._window[-1]
                return RenditionReport(uri, last.msn, len(last.parts) - 1)
        return RenditionReport(uri, max(self._open.msn - 1, 0))

    # -- tracks and periods --------------------------------------------------------------------

    def _set_tracks(self, video: VideoConfig | None, audio: AudioConfig | None) -> None:
        if video is None and audio is None:
            raise ValueError("a rendition needs a video or an audio track")
        specs = []
        if video is not None:
            specs.append(cmaf.TrackSpec(VIDEO_TRACK_ID, TIMESCALE, video))
        if audio is not None:
            specs.append(cmaf.TrackSpec(AUDIO_TRACK_ID, audio.sample_rate, audio))
        data = self._write_init(specs)
        self._video, self._audio = video, audio
        if data != self._init_data:
            name = f"{self._prefix}init-{self._init_count}.mp4"
            self._init_count += 1
            self._init_name, self._init_data = name, data
            self._live_inits[name] = 0
            self._events.append(InitReady(name, data))

    def _restart(self) -> None:
        self._flush()
        if self._part_number > 0:
            self._discontinuity_pending = True

    def _start_period(self, start: int, dts: int, arrival: datetime) -> None:
        """Map input time `dts` to output `start` (>= the clock) from now on."""
        self._started = True
        self._offset = start - dts
        self._period_start = start
        # The open segment starts at the clock even if the media starts a tick later, so
        # segment durations add up to the clock, as the playlist's part-listing rule assumes.
        self._part_start = self._clock
        self._open.start = self._clock
        self._open.program_date_time = arrival
        self._open.independent = True
        self._open.discontinuity = self._discontinuity_pending
        self._open.map_name = self._init_name
        self._discontinuity_pending = False

    def _flush(self) -> None:
        """End the period: write out everything held back and close the open segment."""
        if not self._started:
            return
        edge = self._clock
        if self._pending is not None:
            pending = self._pending
            pending.duration = self._last_video_duration or TIMESCALE // 30
            self._video_queue.append(pending)
            self._pending = None
            edge = max(edge, pending.dts + pending.duration)
        audio_end = self._audio_end()
        if audio_end is not None:
            edge = max(edge, audio_end)
        self._advance(edge, cut_at=edge, flush=True)
        self._started = False
        self._video_queue.clear()
        self._audio_queue.clear()
        self._audio_next = None
        self._last_video_duration = None
        self._recent_durations.clear()
        self._last_keyframe = None
        self._gop = None

    # -- packets ---------------------------------------------------------------------------------

    def _feed_video(self, packet: Packet, arrival: datetime) -> None:
        if not self._started:
            if not packet.keyframe:
                return  # a period starts at a keyframe
            self._start_period(self._clock, packet.dts, arrival)
        sample = _VideoSample(
            dts=packet.dts + self._offset,
            data=packet.data,
            keyframe=packet.keyframe,
            composition_offset=packet.pts - packet.dts,
            arrival=arrival,
        )
        pending = self._pending
        if pending is None:
            self._pending = sample
            self._note_keyframe(sample)
            return
        step = sample.dts - pending.dts
        if abs(step) > self._max_jump_ticks:
            # The encoder restarted or its clock jumped: begin a new period at this keyframe.
            self._restart()
            self._feed_video(packet, arrival)
            return
        if step <= 0:
            return  # out of order or repeated: decode times must increase
        pending.duration = step
        self._video_queue.append(pending)
        self._last_video_duration = step
        self._recent_durations.append(step)
        self._pending = sample
        self._note_keyframe(sample)
        edge, boundary = sample.dts, True
        audio_edge = self._audio_stall_edge()
        if audio_edge is not None and audio_edge > edge:
            edge, boundary = audio_edge, False
        self._advance(edge, cut_at=sample.dts if sample.keyframe else None, boundary=boundary)

    def _note_keyframe(self, sample: _VideoSample) -> None:
        if not sample.keyframe:
            return
        if self._last_keyframe is not None:
            self._gop = sample.dts - self._last_keyframe
        self._last_keyframe = sample.dts

    def _feed_audio(self, packet: Packet, arrival: datetime) -> None:
        assert self._audio is not None
        rate = self._audio.sample_rate
        frame = _samples_per_frame(self._audio)
        audio_only = self._video is None
        if not self._started:
            if not audio_only:
                return  # audio waits for the first video keyframe
            # Start on a whole audio sample so every audio boundary is a whole tick.
            start = self._to_ticks(-(-self._clock * rate // TIMESCALE))
            self._start_period(start, packet.dts, arrival)
        position = packet.dts + self._offset
        if position < self._period_start:
            return
        if self._audio_next is None:
            self._audio_next = -(-position * rate // TIMESCALE)
        else:
            drift = Fraction(position - self._to_ticks(self._audio_next))
            frame_ticks = Fraction(frame * TIMESCALE, rate)
            if audio_only and abs(drift) > self._max_jump_ticks:
                self._restart()
                self._feed_audio(packet, arrival)
                return
            if drift <= -frame_ticks:
                return  # overlaps audio already written
            if drift >= frame_ticks:
                # A real gap: resume at this packet's time. Smaller differences are timestamp
                # rounding (RTMP has milliseconds), so counting samples keeps the audio exact.
                self._audio_next = -(-position * rate // TIMESCALE)
        start = self._audio_next
        start_ticks = self._to_ticks(start)
        self._audio_queue.append(_AudioSample(start, start_ticks, packet.data, arrival))
        self._audio_next = start + frame
        if audio_only:
            self._advance(start_ticks, cut_at=start_ticks)
            return
        edge = self._audio_stall_edge()
        if edge is not None and edge > self._part_start:
            self._advance(edge, boundary=False)

    def _to_ticks(self, samples: int) -> int:
        assert self._audio is not None
        return samples * TIMESCALE // self._audio.sample_rate

    def _audio_end(self) -> int | None:
        return None if self._audio_next is None else self._to_ticks(self._audio_next)

    def _audio_stall_edge(self) -> int | None:
        """Where audio moves the clock to when video has fallen `video_stall` behind it."""
        audio_end = self._audio_end()
        if audio_end is None or self._pending is None:
            return None
        edge = audio_end - self._stall_ticks
        return edge if edge > self._pending.dts else None

    # -- cutting ---------------------------------------------------------------------------------

    def _wants_cut(self, position: int) -> bool:
        """Whether the open segment should end at this keyframe (or audio frame)."""
        elapsed = position - self._open.start
        if elapsed <= 0:
            return False
        if not self._open.independent:
            return True  # it began without a keyframe: end it at the first one
        if self._video is None:
            assert self._audio is not None
            frame_ticks = Fraction(
                _samples_per_frame(self._audio) * TIMESCALE, self._audio.sample_rate
            )
            return elapsed + frame_ticks / 2 >= self._segment_ticks
        frame = self._last_video_duration or 0
        if 2 * elapsed + frame >= 2 * self._segment_ticks:
            return True  # the keyframe nearest the segment length
        # Waiting for the next keyframe would overrun the target duration: cut early.
        return (
            self._gop is not None
            and 2 * elapsed >= self._segment_ticks
            and elapsed + self._gop > self._max_segment_ticks
        )

    def _advance(
        self, edge: int, *, cut_at: int | None = None, boundary: bool = True, flush: bool = False
    ) -> None:
        """Publish every part (and segment) that media complete up to `edge` allows.

        `cut_at` is a keyframe position where the segment may end; `boundary` says whether
        `edge` is a sample boundary of the primary track (so a part may end there now).
        """
        part = self._part_ticks
        while True:
            start = self._part_start
            limit = self._open.start + self._max_segment_ticks
            if (
                cut_at is not None
                and cut_at >= start
                and cut_at - start <= part
                and cut_at <= limit
                and (flush or self._wants_cut(cut_at))
            ):
                if cut_at > start:
                    self._close_part(cut_at)
                if self._open.parts:
                    self._close_segment()
                return
            if edge > limit and limit < start + part:
                # No keyframe in time: end the segment without one (RFC 8216bis 4.4.3.1), at
                # the last part boundary if it has parts, else at the last sample before it.
                if start == self._open.start:
                    end = self._boundary(start + 1, limit)
                    self._close_part(limit if end is None else end)
                self._close_segment()
                continue
            if edge - start >= part:
                end = self._boundary(start + self._min_part_ticks, start + part)
                self._close_part(start + part if end is None else end)
                if self._keyframe_too_late():
                    self._close_segment()
                continue
            estimate = self._next_duration()
            if boundary and edge - start >= self._min_part_ticks and edge - start + estimate > part:
                # The next sample cannot fit: publish now rather than one frame later.
                self._close_part(edge)
                if self._keyframe_too_late():
                    self._close_segment()
            return

    def _keyframe_too_late(self) -> bool:
        """Whether a segment that is long enough should end at this part boundary, because the
        next keyframe (as the GOP so far predicts it) would come after the segment limit.

        Cutting here rather than at the limit avoids a sliver of a segment before a keyframe
        that lands just past the limit.
        """
        if self._video is None or self._gop is None or self._last_keyframe is None:
            return False
        if self._part_start - self._open.start < self._segment_ticks:
            return False
        expected = self._last_keyframe + self._gop
        return expected > self._open.start + self._max_segment_ticks

    def _next_duration(self) -> int:
        if self._video is not None:
            # The shortest recent one, so a part is only closed early when nothing can fit.
            return min(self._recent_durations, default=0)
        assert self._audio is not None
        return -(-_samples_per_frame(self._audio) * TIMESCALE // self._audio.sample_rate)

    def _boundary(self, low: int, high: int) -> int | None:
        """The latest primary-track sample start in [low, high], if any."""
        if self._video is not None:
            if self._pending is not None and low <= self._pending.dts <= high:
                return self._pending.dts
            for video in reversed(self._video_queue):
                if video.dts < low:
                    return None
                if video.dts <= high:
                    return video.dts
            return None
        for audio in reversed(self._audio_queue):
            if audio.start_ticks < low:
                return None
            if audio.start_ticks <= high:
                return audio.start_ticks
        return None

    def _close_part(self, end: int) -> None:
        start = self._part_start
        videos: list[_VideoSample] = []
        while self._video_queue and self._video_queue[0].dts < end:
            videos.append(self._video_queue.popleft())
        audios: list[_AudioSample] = []
        while self._audio_queue and self._audio_queue[0].start_ticks < end:
            audios.append(self._audio_queue.popleft())
        runs = []
        if videos:
            samples = [
                cmaf.Sample(v.data, v.duration, v.keyframe, v.composition_offset) for v in videos
            ]
            runs.append(cmaf.TrackRun(VIDEO_TRACK_ID, videos[0].dts, samples))
        if audios:
            assert self._audio is not None
            frame = _samples_per_frame(self._audio)
            samples = [cmaf.Sample(a.data, frame, True) for a in audios]
            runs.append(cmaf.TrackRun(AUDIO_TRACK_ID, audios[0].start, samples))
        if self._video is None:
            independent = bool(audios)
        else:
            independent = bool(videos) and videos[0].dts == start and videos[0].keyframe
        number = self._part_number
        self._part_number += 1
        data = self._write_fragment(number + 1, runs) if runs else b""
        record = _PartRecord(
            index=len(self._open.parts),
            name=self._part_name(number),
            duration=end - start,
            independent=independent,
            gap=not runs,
        )
        self._open.parts.append(record)
        self._open.data.append(data)
        self._part_start = end
        self._clock = max(self._clock, end)
        if self._settings.parts_enabled:
            self._events.append(
                PartReady(
                    msn=self._open.msn,
                    part_index=record.index,
                    name=record.name,
                    data=data,
                    duration=_seconds(record.duration),
                    independent=independent,
                    gap=record.gap,
                )
            )
        self._collect()

    def _close_segment(self) -> None:
        current = self._open
        end = self._part_start
        record = _SegmentRecord(
            msn=current.msn,
            name=f"{self._prefix}seg-{current.msn}.m4s",
            start=current.start,
            duration=end - current.start,
            program_date_time=current.program_date_time,
            discontinuity=current.discontinuity,
            map_name=current.map_name,
            independent=current.independent,
            parts=current.parts,
        )
        self._events.append(
            SegmentReady(
                msn=record.msn,
                name=record.name,
                data=b"".join(current.data),
                duration=_seconds(record.duration),
                program_date_time=record.program_date_time,
                independent=record.independent,
                discontinuity=record.discontinuity,
            )
        )
        self._window.append(record)
        self._live_inits[record.map_name] = self._live_inits.get(record.map_name, 0) + 1
        first = self._sample_at(end)
        self._open = _OpenSegment(
            msn=current.msn + 1,
            start=end,
            program_date_time=(
                first.arrival
                if first is not None
                else current.program_date_time + _timedelta(record.duration)
            ),
            independent=self._video is None or (isinstance(first, _VideoSample) and first.keyframe),
            discontinuity=False,
            map_name=self._init_name,
        )
        self._trim_window()
        self._collect()

    def _sample_at(self, position: int) -> _VideoSample | _AudioSample | None:
        """The primary-track sample starting exactly at `position`, if it is held here."""
        if self._video is not None:
            if self._pending is not None and self._pending.dts == position:
                return self._pending
            return next((v for v in self._video_queue if v.dts == position), None)
        return next((a for a in self._audio_queue if a.start_ticks == position), None)

    # -- the window and what may be deleted -------------------------------------------------------

    def _trim_window(self) -> None:
        """Drop the oldest segments beyond the playlist length, never below 3 target durations."""
        total = sum(s.duration for s in self._window)
        while (
            len(self._window) > self._settings.playlist_segments
            and total - self._window[0].duration >= self._min_window_ticks
        ):
            record = self._window.popleft()
            total -= record.duration
            record.removed_at = self._clock
            if record.discontinuity:
                self._discontinuity_sequence += 1
            self._retired.append(record)
        self._longest_window = max(self._longest_window, total)

    def _collect(self) -> None:
        """Emit Removed for files no client can still be sent to."""
        now = self._clock
        names: list[str] = []
        for record in (*self._retired, *self._window):
            if record.parts_delisted_at is None and (
                record.removed_at is not None or now - record.end > self._listing_ticks
            ):
                record.parts_delisted_at = now
            # RFC 8216bis 6.2.2: a part stays downloadable 3 target durations after its tag goes.
            if (
                record.parts_delisted_at is not None
                and not record.parts_deleted
                and now - record.parts_delisted_at >= self._listing_ticks
            ):
                record.parts_deleted = True
                if self._settings.parts_enabled:
                    names.extend(p.name for p in record.parts if not p.gap)
        # RFC 8216bis 6.2.2: a removed segment stays available for its duration plus the
        # longest playlist that held it.
        while self._retired:
            record = self._retired[0]
            assert record.removed_at is not None
            if not record.parts_deleted or (
                now - record.removed_at < record.duration + self._longest_window
            ):
                break
            self._retired.popleft()
            names.append(record.name)
            self._live_inits[record.map_name] -= 1
        for name, users in list(self._live_inits.items()):
            if users <= 0 and name not in (self._init_name, self._open.map_name):
                del self._live_inits[name]
                names.append(name)
        if names:
            self._events.append(Removed(tuple(names)))

    # -- helpers -----------------------------------------------------------------------------------

    def _part_name(self, number: int) -> str:
        return f"{self._prefix}part-{number}.m4s"

    @staticmethod
    def _parts(records: Sequence[_PartRecord]) -> tuple[Part, ...]:
        return tuple(
            Part(uri=p.name, duration=_seconds(p.duration), independent=p.independent, gap=p.gap)
            for p in records
        )
