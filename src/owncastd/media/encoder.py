"""The encoder supervisor: runs the worker process for each broadcast and feeds its renditions.

`EncoderService` is one Trio service for the daemon's life; it takes broadcasts one at a time.
The broadcast's packet path reaches it only through `EncoderInput`, a `MediaOutput` that does a
`send_nowait` into a bounded channel and never waits: when the channel is full (the worker is
behind), packets are dropped up to the next video keyframe and the drop is counted. The feeder
also skips to the next keyframe when what it takes out is older than `max_lag`, so a slow
encoder costs frames, never memory or ever-growing latency.

A worker that dies mid-stream is restarted with backoff; its renditions continue after an
EXT-X-DISCONTINUITY (`Rendition.begin` again, once the new worker says its configurations).
When the stream ends the worker drains, exits, and the renditions get `end()` (EXT-X-ENDLIST).
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import trio

from owncastd.hls.store import Rendition
from owncastd.logs import get_logger
from owncastd.media import framing as fr
from owncastd.media.flv import FLVError, aac_config, avc_config
from owncastd.media.ladder import Ladder, Rung, worker_plan
from owncastd.media.packets import AudioConfig, Packet, Track, VideoConfig

log = get_logger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "owncastd.media.worker")
EXIT_PROTOCOL, EXIT_UNSUPPORTED = 2, 3
QUEUE_ITEMS = 1024
"""Packets between the packet path and the worker: about 13 s of 30 fps video with AAC."""
QUEUE_BYTES = 64 * 1024 * 1024
MAX_LAG = 3.0
"""Seconds a packet may wait for the worker before the feeder skips to a newer keyframe."""
BATCH_BYTES = 1 << 20
EXIT_GRACE = 10.0
"""Seconds a worker gets to flush and exit after its input ended."""
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET_AFTER = 0.5, 10.0, 30.0
HEALTH_LOG_INTERVAL = 60.0
SKIP_LOG_INTERVAL = 10.0
STDERR_LINES = 20


class Broadcast(Protocol):
    """What the encoder needs of a broadcast: its id, and where its health can be read."""

    id: str
    encoder_status: Callable[[], dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class _Begin:
    video: VideoConfig | None
    audio: AudioConfig | None


_Item = tuple[float, Packet] | _Begin


@dataclass
class EncoderHealth:
    """How the encoding keeps up: for the log and `/api/admin/status` (`encoder`)."""

    encoder: str
    running: bool = False
    speed: float | None = None
    """Stream seconds encoded per second of the worker's work: below 1 it cannot keep up."""
    cpu_per_second: float | None = None
    """The worker's CPU seconds per stream second (all its threads)."""
    lag: float = 0.0
    dropped_frames: int = 0
    skips: int = 0
    restarts: int = 0
    decode_errors: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "running": self.running,
            "speed": self.speed,
            "cpuPerStreamSecond": self.cpu_per_second,
            "lagSeconds": round(self.lag, 3),
            "droppedFrames": self.dropped_frames,
            "skips": self.skips,
            "restarts": self.restarts,
            "decodeErrors": self.decode_errors,
            "lastError": self.last_error,
        }


class EncoderInput:
    """The broadcast's `MediaOutput` for the encoder: queue or drop, never wait."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._send = session.send
        self._skipping = False
        self._pending_begin: _Begin | None = None

    def begin(self, video: VideoConfig | None, audio: AudioConfig | None) -> None:
        self._pending_begin = _Begin(video, audio)
        self._skipping = True  # the new sequence starts at its next keyframe
        self._flush_begin()

    def _flush_begin(self) -> bool:
        if self._pending_begin is None:
            return True
        try:
            self._send.send_nowait(self._pending_begin)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._pending_begin = None
        return True

    def packet(self, packet: Packet) -> None:
        session = self._session
        video = packet.track is Track.VIDEO
        if self._skipping:
            room = session.items() < QUEUE_ITEMS // 2 and session.queued_bytes < QUEUE_BYTES // 2
            if not (video and packet.keyframe and room and self._flush_begin()):
                if video and self._pending_begin is None:
                    session.health.dropped_frames += 1
                return
            self._skipping = False
        if session.queued_bytes + len(packet.data) > QUEUE_BYTES:
            self._start_skipping(video)
            return
        try:
            self._send.send_nowait((trio.current_time(), packet))
        except trio.WouldBlock:
            self._start_skipping(video)
            return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the session is over (a newer broadcast, or the service stopped)
        session.queued_bytes += len(packet.data)

    def _start_skipping(self, video: bool) -> None:
        self._skipping = True
        session = self._session
        session.health.skips += 1
        if video:
            session.health.dropped_frames += 1
        session.note_skip("the encoder queue is full")

    def end(self) -> None:
        self._send.close()


class Session:
    """One broadcast's encoding: the queue from its packet path and the health of its worker."""

    def __init__(self, broadcast_id: str, encoder: str) -> None:
        self.broadcast_id = broadcast_id
        self.send, self.receive = trio.open_memory_channel[_Item](QUEUE_ITEMS)
        self.queued_bytes = 0
        self.health = EncoderHealth(encoder)
        self.input = EncoderInput(self)
        self._last_skip_log = -SKIP_LOG_INTERVAL
        self._skips_logged = 0

    def items(self) -> int:
        return self.send.statistics().current_buffer_used

    def taken(self, item: _Item) -> None:
        if not isinstance(item, _Begin):
            self.queued_bytes -= len(item[1].data)

    def note_skip(self, why: str) -> None:
        now = trio.current_time()
        if now - self._last_skip_log >= SKIP_LOG_INTERVAL:
            self._last_skip_log = now
            log.warning(
                "encoder behind realtime: skipping to the next keyframe",
                broadcast=self.broadcast_id,
                why=why,
                skips=self.health.skips,
                dropped_frames=self.health.dropped_frames,
                speed=self.health.speed,
            )


@dataclass
class _Run:
    """One worker process's view of the ladder: which renditions it has begun."""

    begin: _Begin
    carry: list[_Item] = field(default_factory=list)  # queued after `begin`, for this run
    next_begin: _Begin | None = None
    input_ended: bool = False
    audio_configs: dict[int, AudioConfig] = field(default_factory=dict)
    video_configs: dict[int, VideoConfig] = field(default_factory=dict)
    active: set[int] = field(default_factory=set)  # rendition indexes begun by this run
    errors: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


class EncoderService:
    """Transcodes each broadcast into the ladder's transcoded rungs, one broadcast at a time."""

    def __init__(
        self,
        ladder: Ladder,
        renditions: Sequence[Rendition],
        encoder: str,
        segment_seconds: Fraction,
        *,
        preview_dir: Path | None,
        command: Sequence[str] = WORKER_COMMAND,
        max_lag: float = MAX_LAG,
    ) -> None:
        self.ladder = ladder
        self.encoder = encoder
        self.command = list(command)
        self.max_lag = max_lag
        self.plan = worker_plan(
            ladder,
            encoder,
            segment_seconds,
            preview_dir=str(preview_dir) if preview_dir is not None else None,
        )
        self._renditions = {r.index: renditions[r.index] for r in ladder.transcoded}
        self._rungs: dict[int, Rung] = {r.index: r for r in ladder.transcoded}
        self._video_streams = {int(v["id"]): int(v["rung"]) for v in self.plan["video"]}
        self._rung_audio = {int(v["rung"]): int(v["audio"]) for v in self.plan["video"]}
        self._audio_streams = {int(a["id"]): int(a["bitrate"]) for a in self.plan["audio"]}
        self._next: Session | None = None
        self._wakeup = trio.Event()
        self.current: Session | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._last_health_log = -HEALTH_LOG_INTERVAL

    # -- the broadcaster's side ---------------------------------------------------------------

    def output_for(self, broadcast: Broadcast) -> EncoderInput:
        """The broadcaster's output factory: a new session, handled once the last one is done."""
        session = Session(broadcast.id, self.encoder)
        if self._next is not None:
            self._next.receive.close()  # never started: a newer broadcast replaced it
        self._next = session
        self._wakeup.set()
        broadcast.encoder_status = session.health.to_json
        return session.input

    def health(self) -> dict[str, Any] | None:
        return self.current.health.to_json() if self.current else None

    # -- the service --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        log.info(
            "encoder ready",
            encoder=self.encoder,
            rungs=",".join(f"{r.index}:{r.name}" for r in self.ladder.transcoded),
        )
        task_status.started()
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            session, self._next = self._next, None
            if session is None:
                continue
            self.current = session
            self._last_health_log = trio.current_time()
            try:
                await self._serve(session)
            except Exception as exc:  # a broken broadcast never takes the service down
                log.exception("encoder session failed", broadcast=session.broadcast_id)
                session.health.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                session.health.running = False
                session.receive.close()  # whatever the packet path still sends is dropped
                log.info("encoder done", broadcast=session.broadcast_id, **session.health.to_json())

    async def _serve(self, session: Session) -> None:
        ended, begin = await self._drain(session, until_begin=True)
        begun: set[int] = set()
        backoff = BACKOFF_FIRST
        carry: list[_Item] = []
        try:
            while begin is not None and not ended:
                run = _Run(begin, carry)
                started = trio.current_time()
                code = await self._run_worker(session, run)
                begun |= run.active
                if run.next_begin is not None:
                    begin, carry = run.next_begin, run.carry  # new source configs: new worker
                    continue
                carry = []
                if run.input_ended:
                    if code:
                        log.error(
                            "encoder worker failed while finishing",
                            broadcast=session.broadcast_id,
                            exit_code=code,
                            stderr=" | ".join(self.stderr_tail),
                        )
                    return
                if code == EXIT_UNSUPPORTED:
                    log.error(
                        "this stream cannot be transcoded; its transcoded renditions wait for "
                        "new source settings or the next stream",
                        broadcast=session.broadcast_id,
                        error=session.health.last_error,
                    )
                    ended, begin = await self._drain(session, until_begin=True)
                    continue
                session.health.restarts += 1
                if trio.current_time() - started >= BACKOFF_RESET_AFTER:
                    backoff = BACKOFF_FIRST
                log.error(
                    "encoder worker died; restarting",
                    broadcast=session.broadcast_id,
                    exit_code=code,
                    restarts=session.health.restarts,
                    after_seconds=backoff,
                    stderr=" | ".join(self.stderr_tail),
                )
                ended, newer = await self._drain(session, seconds=backoff)
                begin = newer or begin
                backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            for index in sorted(begun):
                self._renditions[index].end()

    async def _drain(
        self, session: Session, *, until_begin: bool = False, seconds: float = math.inf
    ) -> tuple[bool, _Begin | None]:
        """Drop queued input for `seconds`, or until a Begin (`until_begin`) or the end of the
        input. Returns (the input ended, the newest Begin seen)."""
        newest: _Begin | None = None
        with trio.move_on_after(seconds):
            while True:
                try:
                    item = await session.receive.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return True, newest
                session.taken(item)
                if isinstance(item, _Begin):
                    newest = item
                    if until_begin:
                        break
                elif item[1].track is Track.VIDEO and not until_begin:
                    session.health.dropped_frames += 1
        return False, newest

    # -- one worker process -------------------------------------------------------------------

    async def _run_worker(self, session: Session, run: _Run) -> int | None:
        self.stderr_tail.clear()
        async with trio.open_nursery() as nursery:
            try:
                process: trio.Process = await nursery.start(
                    partial(
                        trio.run_process,
                        self.command,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        check=False,
                    )
                )
            except OSError as exc:
                session.health.last_error = f"cannot start the worker: {exc}"
                log.error("cannot start the encoder worker", error=str(exc))
                return None
            session.health.running = True
            log.info(
                "encoder worker started",
                broadcast=session.broadcast_id,
                pid=process.pid,
                encoder=self.encoder,
            )
            nursery.start_soon(self._feed, process, session, run)
            nursery.start_soon(self._read_stderr, process)
            self._begin_ready(run)  # an audio-only source with copied audio needs no config
            await self._read(process, session, run)
            with trio.move_on_after(EXIT_GRACE):
                await process.wait()
            nursery.cancel_scope.cancel()
        session.health.running = False
        code = process.returncode
        log.info("encoder worker exited", pid=process.pid, exit_code=code)
        return code

    async def _feed(self, process: trio.Process, session: Session, run: _Run) -> None:
        stdin = process.stdin
        assert stdin is not None
        head: list[fr.Message] = [fr.Plan(self.plan)]
        if run.begin.video is not None:
            v = run.begin.video
            head.append(fr.SourceConfig(Track.VIDEO, v.codec.value, v.record))
        if run.begin.audio is not None:
            a = run.begin.audio
            head.append(
                fr.SourceConfig(Track.AUDIO, a.codec.value, a.record, a.sample_rate, a.channels)
            )
        skipping = True  # a decoder starts at a keyframe
        pending, run.carry = run.carry, []
        try:
            await stdin.send_all(b"".join(fr.encode_frame(fr.encode_message(m)) for m in head))
            while True:
                items, pending = pending, []
                if not items:
                    try:
                        items.append(await session.receive.receive())
                    except (trio.EndOfChannel, trio.ClosedResourceError):
                        run.input_ended = True
                        break
                    session.taken(items[0])
                size = 0
                while size < BATCH_BYTES and len(items) < 256:  # what is queued, in one write
                    try:
                        item = session.receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                        break
                    session.taken(item)
                    items.append(item)
                    size += 0 if isinstance(item, _Begin) else len(item[1].data)
                out: list[bytes] = []
                now = trio.current_time()
                for position, item in enumerate(items):
                    if isinstance(item, _Begin):
                        if item != run.begin:
                            run.next_begin, run.carry = item, items[position + 1 :]
                            break
                        continue
                    arrival, packet = item
                    video = packet.track is Track.VIDEO
                    lag = now - arrival
                    session.health.lag = lag
                    if skipping:
                        if not (video and packet.keyframe and lag <= self.max_lag):
                            if video:
                                session.health.dropped_frames += 1
                            continue
                        skipping = False
                    elif lag > self.max_lag:
                        skipping = True
                        session.health.skips += 1
                        if video:
                            session.health.dropped_frames += 1
                        session.note_skip(f"packets waited {lag:.1f} s for the worker")
                        continue
                    out.append(fr.packet_frame(0, packet))
                if out:
                    await stdin.send_all(b"".join(out))
                if run.next_begin is not None:
                    break
            await stdin.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the worker is gone; the reader sees that too

    async def _read(self, process: trio.Process, session: Session, run: _Run) -> None:
        stdout = process.stdout
        assert stdout is not None
        decoder = fr.FrameDecoder()
        try:
            while chunk := await stdout.receive_some(1 << 18):
                for payload in decoder.feed(bytes(chunk)):
                    self._apply(fr.decode_message(payload), session, run)
            decoder.close()
        except (fr.FramingError, FLVError) as exc:
            session.health.last_error = f"bad output from the worker: {exc}"
            log.error("bad output from the encoder worker", error=str(exc))
            process.kill()

    async def _read_stderr(self, process: trio.Process) -> None:
        stderr = process.stderr
        assert stderr is not None
        pending = b""
        while chunk := await stderr.receive_some(1 << 16):
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > 4096:
                lines.append(pending)
                pending = b""
            for line in lines:
                text = line.decode(errors="replace").rstrip()[:500]
                if text:
                    self.stderr_tail.append(text)
                    log.debug("encoder worker stderr", line=text)

    # -- the worker's output ------------------------------------------------------------------

    def _apply(self, message: fr.Message, session: Session, run: _Run) -> None:
        if isinstance(message, fr.MediaPacket):
            stream = message.stream
            rung = self._video_streams.get(stream)
            if rung is not None:
                if rung in run.active:
                    self._renditions[rung].packet(message.packet)
                return
            for index in run.active:
                if self._rung_audio[index] == stream:
                    self._renditions[index].packet(message.packet)
        elif isinstance(message, fr.StreamConfig):
            if message.stream in self._audio_streams:
                run.audio_configs[message.stream] = aac_config(message.record)
            elif message.stream in self._video_streams:
                run.video_configs[message.stream] = avc_config(message.record)[0]
            self._begin_ready(run)
        elif isinstance(message, fr.Stats):
            self._stats(message.data, session, run)
        elif isinstance(message, fr.Log):
            session.health.last_error = message.text
            if message.level == "error":
                log.error("encoder worker: " + message.text, broadcast=session.broadcast_id)
            else:
                log.warning("encoder worker: " + message.text, broadcast=session.broadcast_id)

    def _begin_ready(self, run: _Run) -> None:
        """Begin each rendition whose configurations are all known (a discontinuity when its
        segmenter already runs: a restart or a new source)."""
        by_rung = {rung: stream for stream, rung in self._video_streams.items()}
        for index, rendition in self._renditions.items():
            if index in run.active:
                continue
            video: VideoConfig | None = None
            if run.begin.video is not None:
                video = run.video_configs.get(by_rung[index])
                if video is None:
                    continue
            audio: AudioConfig | None = None
            if run.begin.audio is not None:
                stream = self._rung_audio[index]
                if self._audio_streams[stream] == 0:
                    audio = run.begin.audio
                else:
                    audio = run.audio_configs.get(stream)
                    if audio is None:
                        continue
            if video is None and audio is None:
                continue
            rendition.begin(video, audio)
            run.active.add(index)

    def _stats(self, data: dict[str, Any], session: Session, run: _Run) -> None:
        previous, run.stats = run.stats, data
        health = session.health
        health.decode_errors += int(data.get("decode_errors", 0)) - int(
            previous.get("decode_errors", 0)
        )
        media = float(data.get("media", 0)) - float(previous.get("media", 0))
        busy = float(data.get("busy", 0)) - float(previous.get("busy", 0))
        cpu = float(data.get("cpu", 0)) - float(previous.get("cpu", 0))
        if media > 0.5:  # a window long enough to say something
            health.speed = round(media / busy, 2) if busy > 0 else None
            health.cpu_per_second = round(cpu / media, 3)
        now = trio.current_time()
        if now - self._last_health_log >= HEALTH_LOG_INTERVAL:
            self._last_health_log = now
            log.info("encoder health", broadcast=session.broadcast_id, **health.to_json())
