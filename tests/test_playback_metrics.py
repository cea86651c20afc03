"""Playback metrics: validation of POST /api/metrics/playback and the health overview they make.

The end-to-end path (a live stream, a report, `health` in /api/admin/status) is in test_viewers.
"""

from __future__ import annotations

import http.client
import json
import math

import pytest

from owncastd.config import Variant, VideoConfig
from owncastd.viewers import (
    METRICS_WINDOW_SECONDS,
    PlaybackReport,
    ViewerStats,
    valid_number,
)
from tests.daemon import Daemon

T0 = 1_700_000_000.0
VIDEO = VideoConfig()  # one 1200 kbit/s rung


def watching(n: int) -> ViewerStats:
    stats = ViewerStats()
    stats.stream_started()
    for i in range(n):
        stats.seen(f"10.0.0.{i}", "ua", T0)
    return stats


def report(stats: ViewerStats, i: int, **values: float) -> bool:
    return stats.report(f"10.0.0.{i}", "ua", PlaybackReport(**values), T0 + 1)


def test_no_health_without_viewers_or_reports() -> None:
    assert ViewerStats().health(VIDEO, T0) is None
    stats = watching(2)
    assert stats.health(VIDEO, T0) is None
    assert not stats.report("192.0.2.9", "stranger", PlaybackReport(bandwidth=1), T0)
    assert stats.health(VIDEO, T0) is None


def test_healthy_overview_and_representation() -> None:
    stats = watching(4)
    assert report(stats, 0, bandwidth=5000, latency=2)
    health = stats.health(VIDEO, T0 + 2)
    assert health is not None
    assert health.to_json() == {
        "healthy": True,
        "healthPercentage": 100,
        "message": "",
        "representation": 25,
    }


def test_errors_lower_the_percentage_and_name_the_cause() -> None:
    stats = watching(4)
    report(stats, 0, bandwidth=5000, errors=2)
    for i in (1, 2, 3):
        report(stats, i, bandwidth=5000)
    health = stats.health(VIDEO, T0 + 2)
    assert health is not None
    assert (health.health_percentage, health.healthy) == (75, False)  # Owncast: healthy is > 75
    assert health.message == "1 of 4 viewers (25%) may be experiencing some issues."

    low_latency = VideoConfig(latency_level=1)
    health = stats.health(low_latency, T0 + 2)
    assert health is not None and "increase your latency buffer" in health.message

    passthrough = VideoConfig(variants=[Variant(video_passthrough=True)])
    health = stats.health(passthrough, T0 + 2)
    assert health is not None and "video passthrough" in health.message


def test_error_details_need_three_reporting_viewers() -> None:
    stats = watching(2)
    report(stats, 0, bandwidth=5000, errors=1)
    report(stats, 1, bandwidth=5000)
    health = stats.health(VIDEO, T0 + 2)
    assert health is not None
    assert (health.health_percentage, health.message) == (50, "")


def test_slow_viewers_are_named_against_the_lowest_rung() -> None:
    video = VideoConfig(variants=[Variant(video_bitrate=3000), Variant(video_bitrate=800)])
    stats = watching(2)
    report(stats, 0, bandwidth=850)  # under 800 x 1.1
    report(stats, 1, bandwidth=9000)
    health = stats.health(video, T0 + 2)
    assert health is not None
    assert health.message == (
        "1 of 2 viewers (50%) are consuming video slower than, or too close to your bitrate "
        "of 800 kbps."
    )


def test_old_reports_and_gone_viewers_do_not_count() -> None:
    stats = watching(1)
    report(stats, 0, bandwidth=5000)
    assert stats.health(VIDEO, T0 + 1 + METRICS_WINDOW_SECONDS + 1) is None
    report(stats, 0, bandwidth=5000)
    stats.prune(T0 + 60)
    assert stats.health(VIDEO, T0 + 61) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (2.5, 2.5),
        (100, 100.0),
        (101, None),
        (-1, None),
        (True, None),
        ("1", None),
        (None, None),
        (math.nan, None),
        (math.inf, None),
        ([1], None),
    ],
)
def test_valid_number(value: object, expected: float | None) -> None:
    assert valid_number(value, 100) == expected


# --- the route -------------------------------------------------------------------------------


def post(d: Daemon, body: bytes, *, chunked: bool = False) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=10)
    try:
        conn.request(
            "POST",
            "/api/metrics/playback",
            body=iter([body[i : i + 1000] for i in range(0, len(body), 1000)]) if chunked else body,
            headers={"Content-Type": "application/json"},
            encode_chunked=chunked,
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


GOOD = {
    "bandwidth": 2400.5,
    "latency": 2.25,
    "errors": 0,
    "downloadDuration": 0.4,
    "qualityVariantChanges": 1,
}


def test_route_accepts_good_reports_and_refuses_bad_ones(daemon: Daemon) -> None:
    assert post(daemon, json.dumps(GOOD).encode())[0] == 200
    assert post(daemon, b"{}")[0] == 200  # nothing measured yet is fine, as in Owncast
    assert post(daemon, json.dumps({**GOOD, "latency": None}).encode())[0] == 200

    bad_bodies = [
        b"{not json",
        b"",
        b"[1, 2]",
        b'"text"',
        b'{"bandwidth": NaN}',
        b'{"latency": Infinity}',
        json.dumps({**GOOD, "bandwidth": "fast"}).encode(),
        json.dumps({**GOOD, "errors": True}).encode(),
        json.dumps({**GOOD, "latency": -1}).encode(),
        json.dumps({**GOOD, "downloadDuration": [1]}).encode(),
        json.dumps({**GOOD, "qualityVariantChanges": {"n": 1}}).encode(),
        json.dumps({**GOOD, "bandwidth": 1e12}).encode(),
    ]
    for body in bad_bodies:
        status, text = post(daemon, body)
        assert status == 400, body
        answer = json.loads(text)
        assert answer["success"] is False and answer["message"], body

    oversize = b'{"bandwidth": 1, "pad": "' + b"x" * 10_000 + b'"}'
    assert post(daemon, oversize)[0] == 413
    assert post(daemon, oversize, chunked=True)[0] == 413
    assert post(daemon, json.dumps(GOOD).encode(), chunked=True)[0] == 200
    assert daemon.status()["online"] is False  # still serving
