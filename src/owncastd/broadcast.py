"""The live session: who publishes, what the stream carries, and where its packets go.

`Broadcaster` is the channel: at most one `Broadcast` at a time, connect and disconnect times
(persisted, for `/api/status`), start and stop events on the bus. `Broadcast` takes demuxed FLV
events from ingest and hands packets to its outputs (the HLS renditions, the encoder). Outputs
are called synchronously and must not block: they are pure or queue with a bound.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from owncastd.db import Database
from owncastd.db.queries import settings as q
from owncastd.events import EventBus, StreamStarted, StreamStopped
from owncastd.logs import get_logger
from owncastd.media.flv import (
    AudioConfigReceived,
    Dropped,
    EndOfSequence,
    FLVEvent,
    StreamMetadata,
    VideoConfigReceived,
)
from owncastd.media.packets import AudioConfig, Packet, Track, VideoConfig

log = get_logger(__name__)

_LAST_CONNECT = "broadcast.last_connect_time"
_LAST_DISCONNECT = "broadcast.last_disconnect_time"


class MediaOutput(Protocol):
    """Where a broadcast's packets go (an HLS rendition, the encoder)."""

    def begin(self, video: VideoConfig | None, audio: AudioConfig | None) -> None:
        """A new sequence: first call, a reconnect or a codec change (a discontinuity)."""

    def packet(self, packet: Packet) -> None: ...

    def end(self) -> None:
        """The publisher stopped."""


@dataclass
class RateMeter:
    """Bytes per track over the last few seconds, for bitrates the encoder did not report."""

    window: float = 5.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, now: float, size: int) -> None:
        self.samples.append((now, size))
        cutoff = now - self.window
        while self.samples and self.samples[0][0] < cutoff:
            self.samples.pop(0)

    def kbps(self) -> int:
        if len(self.samples) < 2:
            return 0
        span = self.samples[-1][0] - self.samples[0][0]
        total = sum(size for _, size in self.samples[:-1])
        return int(total * 8 / span / 1000) if span > 0 else 0


class Broadcast:
    """One publish, from accept to disconnect."""

    def __init__(
        self,
        key: str,
        remote_addr: str,
        started_at: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = secrets.token_hex(8)
        self.key = key
        self.remote_addr = remote_addr
        self.started_at = started_at
        self.metadata = StreamMetadata()
        self.video: VideoConfig | None = None
        self.audio: AudioConfig | None = None
        self.outputs: list[MediaOutput] = []
        self.packets = {Track.VIDEO: 0, Track.AUDIO: 0}
        self.dropped = 0
        self._clock = clock
        self._begun = False
        self._meters = {Track.VIDEO: RateMeter(), Track.AUDIO: RateMeter()}
        self.first_packet_wallclock: float | None = None
        # Set by the encoder's output factory: its health, for /api/admin/status.
        self.encoder_status: Callable[[], dict[str, Any]] | None = None

    def set_metadata(self, metadata: StreamMetadata) -> None:
        self.metadata = metadata

    def handle(self, event: FLVEvent) -> None:
        if isinstance(event, Packet):
            self._packet(event)
        elif isinstance(event, VideoConfigReceived):
            self.video = event.config
            if event.changed and self._begun:
                self._begin()
        elif isinstance(event, AudioConfigReceived):
            self.audio = event.config
            if event.changed and self._begun:
                self._begin()
        elif isinstance(event, Dropped):
            self.dropped += 1
            log.debug(
                "tag dropped",
                broadcast=self.id,
                track=event.track.value,
                reason=event.reason.value,
                detail=event.detail,
            )
        elif isinstance(event, EndOfSequence):
            log.info("end of sequence", broadcast=self.id, track=event.track.value)

    def _packet(self, packet: Packet) -> None:
        self.packets[packet.track] += 1
        self._meters[packet.track].add(self._clock(), len(packet.data))
        if not self._begun:
            # Start at the first video keyframe; an audio-only publish starts at its first frame.
            starts_video = (
                packet.track is Track.VIDEO and packet.keyframe and self.video is not None
            )
            audio_only = (
                packet.track is Track.AUDIO
                and self.video is None
                and self.metadata.video_codec is None
            )
            if not (starts_video or audio_only):
                return
            self._begin()
        for output in self.outputs:
            output.packet(packet)

    def _begin(self) -> None:
        self._begun = True
        for output in self.outputs:
            output.begin(self.video, self.audio)

    def add_output(self, output: MediaOutput) -> None:
        self.outputs.append(output)
        if self._begun:
            output.begin(self.video, self.audio)

    def end(self) -> None:
        for output in self.outputs:
            output.end()

    def stream_details(self) -> dict[str, Any]:
        """Owncast's `streamDetails`: what the source sends, from the sequence headers first."""
        md = self.metadata
        video_codec = self.video.codec if self.video else md.video_codec
        audio_codec = self.audio.codec if self.audio else md.audio_codec
        return {
            "width": self.video.width if self.video else md.width or 0,
            "height": self.video.height if self.video else md.height or 0,
            "framerate": md.framerate or 0,
            "videoBitrate": int(md.videodatarate)
            if md.videodatarate
            else self._meters[Track.VIDEO].kbps(),
            "videoCodec": video_codec.value if video_codec else "Unknown",
            "audioBitrate": int(md.audiodatarate)
            if md.audiodatarate
            else self._meters[Track.AUDIO].kbps(),
            "audioCodec": audio_codec.value if audio_codec else "No audio",
            "encoder": md.encoder or "",
        }


@dataclass
class Publisher:
    """The connection behind the current broadcast, as ingest sees it."""

    broadcast: Broadcast
    last_data: float
    disconnect: Callable[[], None]


class Broadcaster:
    """The channel: at most one live broadcast, and its history."""

    def __init__(self, db: Database, bus: EventBus | None = None) -> None:
        self._db = db
        self._bus = bus or EventBus()
        self.publisher: Publisher | None = None
        self.last_connect_time: float | None = q.get_state(db, _LAST_CONNECT)
        self.last_disconnect_time: float | None = q.get_state(db, _LAST_DISCONNECT)
        self._output_factories: list[Callable[[Broadcast], MediaOutput | None]] = []

    @property
    def online(self) -> bool:
        return self.publisher is not None

    @property
    def current(self) -> Broadcast | None:
        return self.publisher.broadcast if self.publisher else None

    def add_output_factory(self, factory: Callable[[Broadcast], MediaOutput | None]) -> None:
        """Outputs every new broadcast gets (the HLS renditions, the encoder)."""
        self._output_factories.append(factory)

    def start(
        self,
        key: str,
        remote_addr: str,
        now: float,
        last_data: float,
        disconnect: Callable[[], None],
    ) -> Broadcast:
        if self.publisher is not None:
            raise RuntimeError("a broadcast is already live")
        broadcast = Broadcast(key, remote_addr, now)
        for factory in self._output_factories:
            output = factory(broadcast)
            if output is not None:
                broadcast.add_output(output)
        self.publisher = Publisher(broadcast, last_data, disconnect)
        self.last_connect_time = now
        q.put_state(self._db, _LAST_CONNECT, now)
        self._bus.publish(StreamStarted(broadcast.id, now))
        log.info("stream started", broadcast=broadcast.id, remote=remote_addr)
        return broadcast

    def stop(self, broadcast: Broadcast, now: float) -> None:
        if self.publisher is None or self.publisher.broadcast is not broadcast:
            return
        self.publisher = None
        try:
            broadcast.end()
        finally:
            self.last_disconnect_time = now
            q.put_state(self._db, _LAST_DISCONNECT, now)
            self._bus.publish(StreamStopped(broadcast.id, now))
            log.info(
                "stream stopped",
                broadcast=broadcast.id,
                video_packets=broadcast.packets[Track.VIDEO],
                audio_packets=broadcast.packets[Track.AUDIO],
            )
