"""The HLS service: live renditions in memory, blocking-reload waits, and the storage mirror.

Each rendition wraps a `Segmenter`; the broadcast feeds it through `RenditionOutput` (a
`MediaOutput`). Everything the segmenter made is kept in memory while any playlist may list it,
so the HTTP routes serve from here and never from a path built from a request. Every change
wakes the requests blocked on `_HLS_msn`/`_HLS_part` or a preload hint. Storage (local or S3)
gets a copy through a bounded queue, so a slow disk never holds up the packet path.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction

import trio

from owncastd.hls import playlist as pl
from owncastd.hls.latency import LatencySettings
from owncastd.hls.segmenter import Event, InitReady, PartReady, Removed, Segmenter, SegmentReady
from owncastd.logs import get_logger
from owncastd.media.packets import TIMESCALE, AudioConfig, Packet, Track, VideoConfig
from owncastd.storage.base import StorageWriter

log = get_logger(__name__)

DEFAULT_BANDWIDTH = 2_000_000


@dataclass
class RenditionStats:
    """What the master playlist says about a rendition, measured from what was published."""

    segment_bits: deque[tuple[int, Fraction]] = field(default_factory=lambda: deque(maxlen=32))
    first_video_dts: int | None = None
    last_video_dts: int | None = None
    video_frames: int = 0

    def add_segment(self, size: int, duration: Fraction) -> None:
        if duration > 0:
            self.segment_bits.append((size * 8, duration))

    def peak_bandwidth(self) -> int | None:
        rates = [bits / float(d) for bits, d in self.segment_bits]
        return int(max(rates)) if rates else None

    def average_bandwidth(self) -> int | None:
        total = sum(bits for bits, _ in self.segment_bits)
        seconds = sum(float(d) for _, d in self.segment_bits)
        return int(total / seconds) if seconds else None

    def frame_rate(self) -> float | None:
        if self.first_video_dts is None or self.last_video_dts is None or self.video_frames < 10:
            return None
        span = self.last_video_dts - self.first_video_dts
        return round((self.video_frames - 1) * TIMESCALE / span, 3) if span > 0 else None


class Rendition:
    """One rung of the ladder as players see it: `/hls/<index>/stream.m3u8` and its files."""

    def __init__(
        self, store: HLSStore, index: int, name: str, nominal_bandwidth: int | None
    ) -> None:
        self.store = store
        self.index = index
        self.name = name
        self.nominal_bandwidth = nominal_bandwidth
        self.segmenter: Segmenter | None = None
        self.video: VideoConfig | None = None
        self.audio: AudioConfig | None = None
        self.files: dict[str, bytes] = {}
        self.stats = RenditionStats()
        # The playlist and its renderings, made once per store version: every request (and
        # every blocked request's check after a change) reads these instead of re-rendering.
        self._cached_version = -1
        self._cached_playlist: pl.MediaPlaylist | None = None
        self._cached_text: dict[bool, bytes] = {}

    # -- fed by the broadcast ------------------------------------------------------------------

    def begin(self, video: VideoConfig | None, audio: AudioConfig | None) -> None:
        if video is None and audio is None:
            return
        self.video, self.audio = video, audio
        if self.segmenter is None:
            self.segmenter = Segmenter(
                self.store.latency, video=video, audio=audio, prefix=self.store.prefix
            )
            self._apply(self.segmenter.events())
        else:
            self._apply(self.segmenter.discontinuity(video=video, audio=audio), force=True)
        self.stats.first_video_dts = None
        self.stats.video_frames = 0

    def packet(self, packet: Packet) -> None:
        if self.segmenter is None:
            return
        if packet.track is Track.VIDEO:
            if self.stats.first_video_dts is None:
                self.stats.first_video_dts = packet.dts
            self.stats.last_video_dts = packet.dts
            self.stats.video_frames += 1
        self._apply(self.segmenter.feed(packet, datetime.now(UTC)))

    def end(self) -> None:
        if self.segmenter is not None:
            # Even with nothing left to flush, the playlist now ends: always a change.
            self._apply(self.segmenter.finish(), force=True)

    def _apply(self, events: list[Event], *, force: bool = False) -> None:
        if not events and not force:
            return
        self.store.invalidate()  # what is rendered below sees the segmenter's new state
        writer = self.store.writer
        for event in events:
            if isinstance(event, InitReady | PartReady | SegmentReady):
                if isinstance(event, PartReady) and event.gap:
                    continue
                self.files[event.name] = event.data
                if writer is not None and not isinstance(event, PartReady):
                    writer.put_nowait(f"{self.index}/{event.name}", event.data)
                if isinstance(event, SegmentReady):
                    self.stats.add_segment(len(event.data), event.duration)
                    self.store.invalidate()  # the master playlist's bandwidth changed
                    master = self.store.master()
                    if writer is not None and master is not None:
                        writer.put_nowait("stream.m3u8", master.encode())
                    if not event.independent:
                        log.warning(
                            "segment without a keyframe at its start: the keyframe interval is longer than the segment length",
                            rendition=self.index,
                            msn=event.msn,
                        )
            elif isinstance(event, Removed):
                for name in event.names:
                    self.files.pop(name, None)
                if writer is not None:
                    writer.delete_nowait(
                        [f"{self.index}/{n}" for n in event.names if not _is_part(n)]
                    )
        if (
            writer is not None
            and self.segmenter is not None
            and any(isinstance(e, SegmentReady) for e in events)
        ):
            writer.put_nowait(f"{self.index}/stream.m3u8", self.render_for_storage().encode())
        self.store.changed()

    # -- read by the HTTP routes ---------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self.segmenter is not None

    def playlist(self) -> pl.MediaPlaylist:
        """The live playlist as of the store's current version (built once per version)."""
        assert self.segmenter is not None
        if self._cached_playlist is None or self._cached_version != self.store.version:
            reports = [
                other.segmenter.rendition_report(f"../{pl.media_playlist_uri(other.index)}")
                for other in self.store.renditions
                if other is not self and other.segmenter is not None
            ]
            self._cached_playlist = self.segmenter.playlist(rendition_reports=reports)
            self._cached_text = {}
            self._cached_version = self.store.version
        return self._cached_playlist

    def render(self, *, skip: bool) -> str:
        return self.render_bytes(skip=skip).decode()

    def render_bytes(self, *, skip: bool) -> bytes:
        """The media playlist (a delta update with `skip`), rendered once per version."""
        playlist = self.playlist()
        text = self._cached_text.get(skip)
        if text is None:
            text = self._cached_text[skip] = pl.render_media(playlist, skip=skip).encode()
        return text

    def render_for_storage(self) -> str:
        """The playlist storage keeps: whole segments only (parts are served from memory), so a
        CDN or a plain web server in front of the storage can serve it as classic HLS."""
        live = self.playlist()
        plain = dataclasses.replace(
            live,
            segments=tuple(dataclasses.replace(s, parts=()) for s in live.segments),
            open_segment=None,
            part_target=None,
            preload_hint=None,
            rendition_reports=(),
            server_control=pl.ServerControl(
                can_block_reload=False, hold_back=live.server_control.hold_back
            ),
        )
        return pl.render_media(plain)

    def codecs(self) -> tuple[str, ...]:
        return tuple(c.codec_string for c in (self.video, self.audio) if c is not None)

    def variant(self) -> pl.Variant | None:
        if self.segmenter is None:
            return None
        peak = self.stats.peak_bandwidth() or self.nominal_bandwidth or DEFAULT_BANDWIDTH
        average = self.stats.average_bandwidth()
        resolution = (
            (self.video.width, self.video.height) if self.video and self.video.width else None
        )
        rate = self.stats.frame_rate()
        return pl.Variant(
            uri=pl.media_playlist_uri(self.index),
            bandwidth=peak,
            codecs=self.codecs(),
            average_bandwidth=average,
            resolution=resolution,
            frame_rate=Fraction(rate).limit_denominator(1001) if rate else None,
        )


def _is_part(name: str) -> bool:
    # Parts live only in memory: storage gets whole segments (a CDN serves those).
    return "part-" in name


class RenditionOutput:
    """The `MediaOutput` a broadcast feeds: one rendition's share of the broadcast."""

    def __init__(self, rendition: Rendition) -> None:
        self.rendition = rendition

    def begin(self, video: VideoConfig | None, audio: AudioConfig | None) -> None:
        self.rendition.begin(video, audio)

    def packet(self, packet: Packet) -> None:
        self.rendition.packet(packet)

    def end(self) -> None:
        self.rendition.end()


class HLSStore:
    """All renditions of the channel, and the wake-up for blocked requests."""

    def __init__(self, latency: LatencySettings, writer: StorageWriter | None = None) -> None:
        self.latency = latency
        self.writer = writer
        # Names unique to this run, so files cached by a CDN from an earlier run never collide.
        self.prefix = secrets.token_hex(3) + "-"
        self.renditions: list[Rendition] = []
        self._changed = trio.Event()
        # Bumped on every change: playlists rendered for an older version are stale.
        self.version = 0
        self._master: tuple[int, str | None] = (-1, None)

    def set_ladder(self, names: list[tuple[str, int | None]]) -> list[Rendition]:
        """(name, nominal bandwidth) per rung; a new ladder replaces the renditions."""
        self.renditions = [Rendition(self, i, name, bw) for i, (name, bw) in enumerate(names)]
        self.changed()
        return self.renditions

    def rendition(self, index: int) -> Rendition | None:
        if 0 <= index < len(self.renditions):
            return self.renditions[index]
        return None

    def invalidate(self) -> None:
        """Cached playlists are stale from now on (without waking anyone yet)."""
        self.version += 1

    def changed(self) -> None:
        """Something changed: cached playlists are stale; blocked requests check again."""
        self.version += 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, ready: Callable[[], bool], deadline: float) -> bool:
        """Wait until `ready()` (checked after every change) or the trio-clock `deadline`."""
        with trio.move_on_at(deadline):
            while not ready():
                await self._changed.wait()
            return True
        return ready()

    def master(self) -> str | None:
        """The multivariant playlist, rendered once per version (None before any rendition)."""
        version, text = self._master
        if version != self.version:
            variants = [v for v in (r.variant() for r in self.renditions) if v is not None]
            text = pl.render_multivariant(variants) if variants else None
            self._master = (self.version, text)
        return text
