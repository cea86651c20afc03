"""Viewer counting and playback health, as Owncast does them.

A viewer is a hash of IP address and User-Agent. It is active while it pings `/api/ping` or fetches
a playlist, and dropped after 15 s of silence. Viewers count only while a stream is live; the
session peak resets when a stream starts, and both peaks persist. Players report playback metrics
(`/api/metrics/playback`); the latest report of each active viewer makes the health overview.

`ViewerStats` is the clock-free core (every call takes `now`, wall-clock seconds); `ViewerService`
runs it in the daemon: it follows stream start and stop on the event bus, prunes, samples the
count each minute for `/api/admin/viewersOverTime`, and saves the peaks.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from owncastd.config import VideoConfig
from owncastd.db import Database
from owncastd.db.queries import settings as q
from owncastd.events import EventBus, StreamStarted, StreamStopped
from owncastd.logs import get_logger

log = get_logger(__name__)

ACTIVE_SECONDS = 15.0
"""A viewer silent for longer is dropped (Owncast: activeViewerPurgeTimeout)."""
PRUNE_SECONDS = 5.0
SAMPLE_SECONDS = 60.0
"""How often the viewer count is sampled for viewersOverTime, and the peaks saved."""
MAX_SAMPLES = 7 * 24 * 60
"""A week of one-minute samples."""
MAX_VIEWERS = 50_000
"""Beyond this many distinct clients new ones are not tracked (a flood of made-up User-Agents)."""
MAX_USER_AGENT = 512
METRICS_WINDOW_SECONDS = 120.0
"""A playback report counts towards health this long (Owncast polls every 2 minutes)."""

# Owncast's health thresholds (metrics/healthOverview.go).
HEALTHY_PERCENTAGE_MIN = 75
MIN_CLIENTS_FOR_DETAILS = 3

_OVERALL_MAX_KEY = "viewers.overall_max"
_SESSION_MAX_KEY = "viewers.session_max"


def client_id(ip: str, user_agent: str) -> str:
    """Owncast's viewer identity: a hash of the address and the User-Agent."""
    return hashlib.sha256(f"{ip}\n{user_agent}".encode(errors="replace")).hexdigest()[:32]


def int_percentage(part: int, total: int) -> int:
    return int(part / total * 100) if total else 0


@dataclass(slots=True)
class Viewer:
    client_id: str
    ip: str
    user_agent: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class PlaybackReport:
    """One POST /api/metrics/playback: kbit/s, seconds, counts over the player's last interval."""

    bandwidth: float = 0.0
    latency: float = 0.0
    errors: float = 0.0
    download_duration: float = 0.0
    quality_variant_changes: float = 0.0


@dataclass(frozen=True, slots=True)
class HealthOverview:
    """Owncast's StreamHealthOverview."""

    healthy: bool
    health_percentage: int
    message: str
    representation: int

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "healthPercentage": self.health_percentage,
            "message": self.message,
            "representation": self.representation,
        }


class ViewerStats:
    """Active viewers, peaks, the count over time and the latest playback reports. No clock, no I/O."""

    def __init__(self, overall_max: int = 0, session_max: int = 0) -> None:
        self.online = False
        self.viewers: dict[str, Viewer] = {}
        self.overall_max = overall_max
        self.session_max = session_max
        self.samples: deque[tuple[float, int]] = deque(maxlen=MAX_SAMPLES)
        self.reports: dict[str, tuple[float, PlaybackReport]] = {}
        self.dirty = False
        """The peaks changed since they were last saved."""
        self._full_logged = False

    @property
    def count(self) -> int:
        return len(self.viewers)

    def stream_started(self) -> None:
        self.online = True
        self.viewers.clear()
        self.reports.clear()
        self.session_max = 0
        self.dirty = True

    def stream_stopped(self) -> None:
        self.online = False
        self.viewers.clear()
        self.reports.clear()

    def seen(self, ip: str, user_agent: str, now: float) -> None:
        """A ping or a playlist fetch from this client. Ignored while offline, as Owncast does."""
        if not self.online:
            return
        user_agent = user_agent[:MAX_USER_AGENT]
        cid = client_id(ip, user_agent)
        viewer = self.viewers.get(cid)
        if viewer is not None:
            viewer.last_seen = now
            return
        if len(self.viewers) >= MAX_VIEWERS:
            if not self._full_logged:
                log.warning("viewer table full; new viewers are not counted", limit=MAX_VIEWERS)
                self._full_logged = True
            return
        self.viewers[cid] = Viewer(cid, ip, user_agent, now, now)
        if len(self.viewers) > self.session_max:
            self.session_max = len(self.viewers)
            self.dirty = True
        if self.session_max > self.overall_max:
            self.overall_max = self.session_max
            self.dirty = True

    def prune(self, now: float) -> int:
        """Drop viewers silent for more than ACTIVE_SECONDS, and stale reports; how many left."""
        cutoff = now - ACTIVE_SECONDS
        gone = [cid for cid, v in self.viewers.items() if v.last_seen < cutoff]
        for cid in gone:
            del self.viewers[cid]
        if len(self.viewers) < MAX_VIEWERS:
            self._full_logged = False
        report_cutoff = now - METRICS_WINDOW_SECONDS
        for cid in [c for c, (at, _) in self.reports.items() if at < report_cutoff]:
            del self.reports[cid]
        return len(gone)

    def sample(self, now: float) -> None:
        """Record the count for viewersOverTime; only while live, as Owncast does."""
        if self.online:
            self.samples.append((now, self.count))

    def samples_since(self, start: float) -> list[tuple[float, int]]:
        return [(t, v) for t, v in self.samples if t >= start]

    def report(self, ip: str, user_agent: str, report: PlaybackReport, now: float) -> bool:
        """Keep a player's latest report; only active viewers' reports count (bounded, and a
        report needs the same client to be watching). False when it was not kept."""
        cid = client_id(ip, user_agent[:MAX_USER_AGENT])
        if cid not in self.viewers:
            return False
        self.reports[cid] = (now, report)
        return True

    def health(self, video: VideoConfig, now: float) -> HealthOverview | None:
        """Owncast's overview from the reports of the last window; None without viewers or reports."""
        if not self.online or not self.viewers:
            return None
        cutoff = now - METRICS_WINDOW_SECONDS
        reports = [
            r for cid, (at, r) in self.reports.items() if at >= cutoff and cid in self.viewers
        ]
        if not reports:
            return None
        with_errors = sum(1 for r in reports if r.errors > 0)
        percentage = 100 - int_percentage(with_errors, len(reports))
        bandwidths = [r.bandwidth for r in reports if r.bandwidth > 0]
        message = _network_message(bandwidths, video) or _error_message(
            with_errors, len(reports), video
        )
        return HealthOverview(
            healthy=percentage > HEALTHY_PERCENTAGE_MIN,
            health_percentage=percentage,
            message=message,
            representation=int_percentage(len(bandwidths), len(self.viewers)),
        )

    def active(self) -> list[Viewer]:
        return sorted(self.viewers.values(), key=lambda v: v.first_seen)


def _lowest_bitrate(video: VideoConfig) -> int:
    """The slowest rung a player can fall back to (passthrough rungs sort first, as Owncast)."""
    ordered = sorted(video.variants, key=lambda v: (not v.video_passthrough, -v.video_bitrate))
    return ordered[-1].video_bitrate


def _network_message(bandwidths: list[float], video: VideoConfig) -> str:
    if not bandwidths:
        return ""
    lowest = _lowest_bitrate(video)
    slow = sum(1 for kbps in bandwidths if kbps < lowest * 1.1)
    if not slow:
        return ""
    pct = int_percentage(slow, len(bandwidths))
    return (
        f"{slow} of {len(bandwidths)} viewers ({pct}%) are consuming video slower than, "
        f"or too close to your bitrate of {lowest} kbps."
    )


def _error_message(with_errors: int, total: int, video: VideoConfig) -> str:
    # One viewer of one with errors says little; Owncast waits for a few.
    if not with_errors or total < MIN_CLIENTS_FOR_DETAILS:
        return ""
    pct = int_percentage(with_errors, total)
    head = f"{with_errors} of {total} viewers ({pct}%)"
    if any(v.video_passthrough for v in video.variants):
        return (
            f"{head} are experiencing errors. You're currently using a video passthrough "
            "output, often known for causing playback issues for people. It is suggested "
            "you turn it off."
        )
    if video.latency_level <= 1:  # segments shorter than 3 s
        return (
            f"{head} may be experiencing some issues. You may want to increase your latency "
            "buffer level in your video configuration to see if it helps."
        )
    return f"{head} may be experiencing some issues."


def valid_number(value: object, upper: float) -> float | None:
    """A JSON number in [0, upper], else None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if not math.isfinite(number) or number < 0 or number > upper:
        return None
    return number


class ViewerService:
    """The daemon's viewer counter: the core plus its clock, the bus and the database."""

    def __init__(self, db: Database, bus: EventBus, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self.stats = ViewerStats(
            overall_max=int(q.get_state(db, _OVERALL_MAX_KEY, 0) or 0),
            session_max=int(q.get_state(db, _SESSION_MAX_KEY, 0) or 0),
        )

    def seen(self, ip: str, user_agent: str, now: float | None = None) -> None:
        """Mark the client at `ip` with `user_agent` active (GET /api/ping, playlist fetches)."""
        self.stats.seen(ip, user_agent, self._clock() if now is None else now)

    def report(self, ip: str, user_agent: str, report: PlaybackReport) -> bool:
        return self.stats.report(ip, user_agent, report, self._clock())

    def health(self, video: VideoConfig) -> HealthOverview | None:
        return self.stats.health(video, self._clock())

    def save(self) -> None:
        if not self.stats.dirty:
            return
        q.put_state(self._db, _OVERALL_MAX_KEY, self.stats.overall_max)
        q.put_state(self._db, _SESSION_MAX_KEY, self.stats.session_max)
        self.stats.dirty = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        events = self._bus.subscribe("viewers", 64)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_stream, events)
                task_status.started()
                await self._tick()
        finally:
            self._bus.unsubscribe("viewers")
            self.save()  # synchronous, so it completes even while being cancelled

    async def _follow_stream(self, events: trio.MemoryReceiveChannel[object]) -> None:
        async for event in events:
            if isinstance(event, StreamStarted):
                self.stats.stream_started()
                self.save()
            elif isinstance(event, StreamStopped):
                self.stats.stream_stopped()
                self.save()

    async def _tick(self) -> None:
        next_sample = self._clock() + SAMPLE_SECONDS
        while True:
            await trio.sleep(PRUNE_SECONDS)
            now = self._clock()
            self.stats.prune(now)
            if now >= next_sample:
                next_sample = now + SAMPLE_SECONDS
                self.stats.sample(now)
                try:
                    self.save()
                except Exception as exc:  # a full disk must not stop the counting
                    log.error("saving viewer peaks failed", error=str(exc))
