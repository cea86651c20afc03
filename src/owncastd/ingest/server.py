"""The RTMP ingest service: the Trio shell around the sans-IO RTMP connection.

One task per TCP connection in the service's nursery. It moves bytes between the socket and
`RTMPConnection`, checks the stream key (constant time, against the file's and the database's
keys), admits one publisher at a time, and feeds demuxed media to the `Broadcaster`. Every wait
has a deadline: the handshake and publish must finish in `handshake_timeout`; a publisher that
sends nothing for `idle_timeout` is dropped, and one silent for `takeover_after` yields to a
reconnect with the same key (OBS reconnecting after a network drop).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from owncastd import credentials
from owncastd.broadcast import Broadcast, Broadcaster
from owncastd.ingest.rtmp import (
    AcceptPublish,
    AudioData,
    ConnectionClosed,
    Metadata,
    PublishRequested,
    RejectPublish,
    RemoteProtocolError,
    RTMPConnection,
    Unpublished,
    VideoData,
)
from owncastd.logs import get_logger
from owncastd.media.flv import FLVDemuxer, FLVError
from owncastd.services import Services

log = get_logger(__name__)

READ_SIZE = 256 * 1024
# While publishing, pause this long between reads so one wakeup handles several messages: a
# large CPU saving for a delay far below one LL-HLS part.
COALESCE_SECONDS = 0.04


@dataclass(frozen=True, slots=True)
class IngestLimits:
    handshake_timeout: float = 10.0
    idle_timeout: float = 30.0
    takeover_after: float = 3.0
    max_connections: int = 32
    max_message_size: int = 8 << 20
    max_buffer: int = 16 << 20
    failed_keys_allowed: int = 5
    failed_keys_window: float = 60.0


@dataclass
class FailedKeyThrottle:
    """Counts wrong stream keys per address; past the limit the address waits out the window."""

    allowed: int
    window: float
    failures: dict[str, list[float]] = field(default_factory=dict)

    def _recent(self, addr: str, now: float) -> list[float]:
        times = [t for t in self.failures.get(addr, []) if now - t < self.window]
        if times:
            self.failures[addr] = times
        else:
            self.failures.pop(addr, None)
        return times

    def blocked(self, addr: str, now: float) -> bool:
        return len(self._recent(addr, now)) >= self.allowed

    def record(self, addr: str, now: float) -> None:
        self._recent(addr, now)
        self.failures.setdefault(addr, []).append(now)
        if len(self.failures) > 10_000:  # bound memory under a spray of addresses
            oldest = min(self.failures, key=lambda a: self.failures[a][-1])
            del self.failures[oldest]


class IngestServer:
    def __init__(
        self, services: Services, sock: socket.socket, limits: IngestLimits | None = None
    ) -> None:
        self.services = services
        self.sock = sock
        self.limits = limits or IngestLimits()
        self.connections = 0
        self.throttle = FailedKeyThrottle(
            self.limits.failed_keys_allowed, self.limits.failed_keys_window
        )
        self._clock: Callable[[], float] = trio.current_time

    @property
    def broadcaster(self) -> Broadcaster:
        return self.services.broadcaster

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self.sock))
        async with trio.open_nursery() as nursery:
            task_status.started()
            await trio.serve_listeners(self._accepted, [listener], handler_nursery=nursery)

    async def _accepted(self, stream: trio.SocketStream) -> None:
        try:
            peer = stream.socket.getpeername()
            addr = str(peer[0])
        except OSError:
            await stream.aclose()
            return
        if self.connections >= self.limits.max_connections:
            log.warning(
                "rtmp connection refused: too many connections",
                remote=addr,
                limit=self.limits.max_connections,
            )
            await stream.aclose()
            return
        if self.throttle.blocked(addr, self._clock()):
            log.warning("rtmp connection refused: too many wrong stream keys", remote=addr)
            await stream.aclose()
            return
        self.connections += 1
        try:
            await _Session(self, stream, addr).run()
        except Exception:
            # One connection's bug must never take the service down.
            log.exception("rtmp connection failed", remote=addr)
        finally:
            self.connections -= 1
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()


class _Session:
    """One RTMP connection, from handshake to close."""

    def __init__(self, server: IngestServer, stream: trio.SocketStream, addr: str) -> None:
        self.server = server
        self.stream = stream
        self.addr = addr
        limits = server.limits
        self.conn = RTMPConnection(
            max_message_size=limits.max_message_size, max_buffer=limits.max_buffer
        )
        self.scope = trio.CancelScope()
        self.broadcast: Broadcast | None = None
        self.demuxer = FLVDemuxer()
        self.bad_tags = 0
        self.close_reason = "timeout"
        self.outgoing = bytearray()
        self.deadline_moved = 0.0

    async def run(self) -> None:
        server = self.server
        self.scope.deadline = trio.current_time() + server.limits.handshake_timeout
        try:
            with self.scope:
                await self._loop()
            if self.scope.cancelled_caught:
                log.info(
                    "rtmp connection closed",
                    remote=self.addr,
                    reason=self.close_reason,
                    publishing=self.broadcast is not None,
                )
        finally:
            if self.broadcast is not None:
                server.broadcaster.stop(self.broadcast, time.time())
                self.broadcast = None

    async def _loop(self) -> None:
        while True:
            try:
                data = await self.stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            now = trio.current_time()
            if self.broadcast is not None:
                # Moving a deadline costs Trio a recalculation: once a second is precise enough.
                if now - self.deadline_moved > 1.0:
                    self.scope.deadline = now + self.server.limits.idle_timeout
                    self.deadline_moved = now
                publisher = self.server.broadcaster.publisher
                if publisher is not None and publisher.broadcast is self.broadcast:
                    publisher.last_data = now
            try:
                self.conn.receive_data(data)
                closed = await self._events()
            except RemoteProtocolError as exc:
                log.warning("rtmp protocol error", remote=self.addr, error=str(exc))
                await self._flush()
                return
            await self._flush()
            if closed or not data:
                return
            if self.broadcast is not None:
                await trio.sleep(COALESCE_SECONDS)

    async def _flush(self) -> None:
        # Bytes from send() come first: they already include what was queued before them.
        out = bytes(self.outgoing) + self.conn.data_to_send()
        self.outgoing.clear()
        if out:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.send_all(out)

    async def _events(self) -> bool:
        """Handle what the core parsed; True when the connection should close."""
        for event in self.conn.events():
            if isinstance(event, VideoData | AudioData):
                self._media(event)
            elif isinstance(event, PublishRequested):
                if not await self._publish(event):
                    return True
            elif isinstance(event, Metadata):
                md = self.demuxer.metadata(event.values)
                if self.broadcast is not None:
                    self.broadcast.set_metadata(md)
            elif isinstance(event, Unpublished):
                log.info("publisher unpublished", remote=self.addr)
                return True
            elif isinstance(event, ConnectionClosed):
                return True
        return False

    def _media(self, event: VideoData | AudioData) -> None:
        if self.broadcast is None:
            return
        try:
            if isinstance(event, VideoData):
                results = self.demuxer.video(event.timestamp, event.data)
            else:
                results = self.demuxer.audio(event.timestamp, event.data)
        except FLVError as exc:
            self.bad_tags += 1
            if self.bad_tags <= 10 or self.bad_tags % 1000 == 0:
                log.warning(
                    "malformed media tag dropped",
                    remote=self.addr,
                    error=str(exc),
                    count=self.bad_tags,
                )
            return
        for result in results:
            self.broadcast.handle(result)

    async def _publish(self, event: PublishRequested) -> bool:
        server = self.server
        now = trio.current_time()
        key = event.name
        if not credentials.stream_key_valid(
            server.services.settings.current, server.services.db, key
        ):
            server.throttle.record(self.addr, now)
            log.warning("publish refused: wrong stream key", remote=self.addr, app=event.app)
            self.outgoing += self.conn.send(RejectPublish(description="wrong stream key"))
            return False
        publisher = server.broadcaster.publisher
        if publisher is not None:
            silent = now - publisher.last_data
            if publisher.broadcast.key == key and silent >= server.limits.takeover_after:
                log.info(
                    "publisher taking over a silent connection",
                    remote=self.addr,
                    silent_seconds=round(silent, 1),
                    old_remote=publisher.broadcast.remote_addr,
                )
                publisher.disconnect()
                server.broadcaster.stop(publisher.broadcast, time.time())
            else:
                log.warning("publish refused: a stream is already live", remote=self.addr)
                self.outgoing += self.conn.send(
                    RejectPublish(description="a stream is already running")
                )
                return False
        self.broadcast = server.broadcaster.start(
            key, self.addr, time.time(), now, self._disconnect
        )
        if self.demuxer.stream_metadata != self.broadcast.metadata:
            self.broadcast.set_metadata(self.demuxer.stream_metadata)
        self.outgoing += self.conn.send(AcceptPublish())
        self.scope.deadline = now + server.limits.idle_timeout
        return True

    def _disconnect(self) -> None:
        """Called from outside (a takeover, the admin API); the session's `finally` stops the broadcast."""
        self.close_reason = "disconnected"
        self.scope.cancel()
