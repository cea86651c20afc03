"""Viewer counting: the clock-free core, the Trio service around it, and the routes on a live daemon."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trio

from owncastd import viewers
from owncastd.db import Database
from owncastd.events import EventBus, StreamStarted, StreamStopped
from owncastd.viewers import ViewerService, ViewerStats, client_id
from tests.daemon import Daemon
from tests.syspkg import require_binary

T0 = 1_700_000_000.0


def live_stats() -> ViewerStats:
    stats = ViewerStats()
    stats.stream_started()
    return stats


def test_a_viewer_is_ip_plus_user_agent() -> None:
    stats = live_stats()
    stats.seen("10.0.0.1", "Firefox", T0)
    stats.seen("10.0.0.1", "Firefox", T0 + 1)
    assert stats.count == 1
    stats.seen("10.0.0.1", "Chrome", T0 + 2)
    stats.seen("10.0.0.2", "Firefox", T0 + 3)
    assert stats.count == 3
    assert client_id("10.0.0.1", "Firefox") != client_id("10.0.0.2", "Firefox")
    assert client_id("10.0.0.1", "Firefox") == stats.active()[0].client_id
    assert [v.first_seen for v in stats.active()] == [T0, T0 + 2, T0 + 3]


def test_pings_while_offline_are_not_counted() -> None:
    stats = ViewerStats()
    stats.seen("10.0.0.1", "ua", T0)
    assert stats.count == 0
    assert stats.session_max == 0


def test_dropped_after_fifteen_seconds_of_silence() -> None:
    stats = live_stats()
    stats.seen("10.0.0.1", "a", T0)
    stats.seen("10.0.0.2", "b", T0)
    stats.seen("10.0.0.2", "b", T0 + 10)  # b keeps pinging
    assert stats.prune(T0 + viewers.ACTIVE_SECONDS) == 0  # exactly 15 s: still there
    assert stats.prune(T0 + viewers.ACTIVE_SECONDS + 0.1) == 1
    assert [v.user_agent for v in stats.active()] == ["b"]
    assert stats.active()[0].first_seen == T0  # first_seen is kept across pings


def test_peaks_session_resets_on_start_overall_stays() -> None:
    stats = ViewerStats(overall_max=5, session_max=3)
    stats.stream_started()
    assert (stats.session_max, stats.overall_max) == (0, 5)
    for i in range(7):
        stats.seen(f"10.0.0.{i}", "ua", T0)
    assert (stats.count, stats.session_max, stats.overall_max) == (7, 7, 7)
    stats.prune(T0 + 60)
    assert (stats.count, stats.session_max, stats.overall_max) == (0, 7, 7)
    stats.stream_stopped()
    stats.stream_started()
    stats.seen("10.0.0.1", "ua", T0 + 100)
    assert (stats.session_max, stats.overall_max) == (1, 7)


def test_stop_forgets_viewers() -> None:
    stats = live_stats()
    stats.seen("10.0.0.1", "ua", T0)
    stats.stream_stopped()
    assert stats.count == 0
    stats.seen("10.0.0.1", "ua", T0 + 1)
    assert stats.count == 0


def test_samples_only_while_live_and_bounded() -> None:
    stats = ViewerStats()
    stats.sample(T0)
    assert list(stats.samples) == []
    stats.stream_started()
    stats.seen("10.0.0.1", "ua", T0)
    stats.sample(T0 + 60)
    stats.sample(T0 + 120)
    assert stats.samples_since(T0 + 61) == [(T0 + 120, 1)]
    assert stats.samples.maxlen == viewers.MAX_SAMPLES


def test_table_is_bounded_and_user_agents_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viewers, "MAX_VIEWERS", 3)
    stats = live_stats()
    for i in range(10):
        stats.seen("10.0.0.1", f"agent {i}", T0)
    assert stats.count == 3
    stats.prune(T0 + 60)
    stats.seen("10.0.0.1", "x" * 5000, T0 + 61)
    assert stats.active()[0].user_agent == "x" * viewers.MAX_USER_AGENT


# --- the service -----------------------------------------------------------------------------


async def test_service_follows_the_bus_prunes_samples_and_saves(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    db = Database(tmp_path / "o.db")
    bus = EventBus()
    service = ViewerService(db, bus, clock=lambda: T0 + trio.current_time())
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        service.seen("10.0.0.1", "ua")  # offline: ignored
        bus.publish(StreamStarted("b1", T0))
        await trio.sleep(0.1)
        service.seen("10.0.0.1", "ua")
        service.seen("10.0.0.2", "ua")
        assert service.stats.count == 2
        await trio.sleep(viewers.SAMPLE_SECONDS + viewers.PRUNE_SECONDS)
        assert service.stats.count == 0  # pruned, nobody pinged
        assert [v for _, v in service.stats.samples] == [0]
        bus.publish(StreamStopped("b1", T0 + 100))
        await trio.sleep(0.1)
        assert not service.stats.online
        nursery.cancel_scope.cancel()
    again = ViewerService(db, EventBus())
    assert (again.stats.overall_max, again.stats.session_max) == (2, 2)
    db.close()


# --- on a real daemon ------------------------------------------------------------------------


@contextmanager
def publishing(d: Daemon) -> Iterator[None]:
    """An ffmpeg test pattern published to the daemon; yields once /api/status says online."""
    ffmpeg = require_binary("ffmpeg", "ffmpeg")
    source = ["-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-f", "flv"]
    proc = subprocess.Popen(
        [ffmpeg, "-loglevel", "error", *source, *encode, d.rtmp_url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: d.status()["online"] is True, "online")
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not {what} after {timeout}s")


def test_live_counts_pings_peaks_and_health(daemon: Daemon) -> None:
    admin = httpx.Client(base_url=daemon.url, auth=daemon.admin_auth, timeout=10)
    assert admin.get("/api/admin/viewers").json() == []
    assert admin.get("/api/admin/status").json()["health"] is None
    with publishing(daemon):
        for agent in ("viewer-a", "viewer-b", "viewer-b"):
            assert daemon.get("/api/ping", headers={"User-Agent": agent}).status_code == 200
        assert daemon.status()["viewerCount"] == 2

        listed = admin.get("/api/admin/viewers").json()
        assert sorted(v["userAgent"] for v in listed) == ["viewer-a", "viewer-b"]
        for v in listed:
            assert set(v) == {"firstSeen", "userAgent", "ipAddress", "clientID", "geo"}
            assert v["ipAddress"] == "127.0.0.1"
            assert isinstance(v["clientID"], str) and v["clientID"]
            assert v["firstSeen"].endswith("Z") and v["geo"] is None

        report = {
            "bandwidth": 5000,
            "latency": 2.1,
            "errors": 0,
            "downloadDuration": 0.2,
            "qualityVariantChanges": 0,
        }
        posted = httpx.post(
            daemon.url + "/api/metrics/playback", json=report, headers={"User-Agent": "viewer-a"}
        )
        assert posted.status_code == 200

        status = admin.get("/api/admin/status").json()
        assert status["viewerCount"] == 2
        assert status["sessionPeakViewerCount"] == 2
        assert status["overallPeakViewerCount"] == 2
        # The default ladder transcodes: the worker's health sits beside the viewers'.
        assert status["health"] == {
            "healthy": True,
            "healthPercentage": 100,
            "message": "",
            "representation": 50,  # one of the two viewers reported
            "encoder": status["encoder"],
        }
        assert status["encoder"]["encoder"] == "libx264"
        over_time = admin.get("/api/admin/viewersOverTime", params={"windowStart": 0})
        assert over_time.status_code == 200 and isinstance(over_time.json(), list)
    wait_for(lambda: daemon.status()["online"] is False, "offline")
    assert daemon.status()["viewerCount"] == 0
    assert daemon.stop() == 0

    # The peaks survive a restart.
    daemon.start()
    status = admin.get("/api/admin/status").json()
    assert (status["overallPeakViewerCount"], status["sessionPeakViewerCount"]) == (2, 2)
    assert status["viewerCount"] == 0


def test_admin_viewer_routes_need_auth(daemon: Daemon) -> None:
    for path in ("/api/admin/viewers", "/api/admin/viewersOverTime"):
        response = daemon.get(path)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    bad = daemon.get("/api/admin/viewersOverTime?windowStart=soon", auth=daemon.admin_auth)
    assert bad.status_code == 400 and bad.json()["success"] is False
