"""HLS end to end: a real daemon, real RTMP publishers (PyAV, the ffmpeg CLI), FFmpeg as the player.

What a player sees: every published frame comes back with continuous timestamps, LL-HLS
blocking reloads and preload hints answer as soon as their part exists, the spec's refusals
(400, 503) happen, headers are right, nothing but the segmenter's names is served, a reconnect
continues the playlist after a discontinuity, the disk copy stays bounded, and a full disk
only costs the disk copy.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trio

from tests.daemon import Daemon
from tests.publishers import ffmpeg_publish, ffmpeg_publisher, pyav_publish, stop
from tests.syspkg import in_ci, require_binary

MASTER = "/hls/stream.m3u8"
MEDIA = "/hls/0/stream.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


def video_toml(level: int = 2) -> str:
    """A latency level and one rung that passes the source through: these tests are about the
    segmenter and the serving, so every published frame must come back as it was sent."""
    return (
        f"\n[video]\nlatency_level = {level}\n\n"
        '[[video.variants]]\nname = "source"\nvideo_passthrough = true\n'
    )


LEVEL_0 = video_toml(0)
# Level 0: 1 s target duration, parts of a third of a second (with 0.2 % slack).
PART_TARGET_0 = 0.334


@pytest.fixture
def source_daemon(daemon_factory: type[Daemon]) -> Daemon:
    """A daemon at the default latency level that passes the source through."""
    return daemon_factory(extra_toml=video_toml()).start()


# -- reading playlists ----------------------------------------------------------------------


@dataclass
class Playlist:
    """What a test needs from a media playlist's text."""

    text: str
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    segments: list[str] = field(default_factory=list)  # URIs of complete segments
    open_parts: list[str] = field(default_factory=list)  # parts after the last segment
    parts: list[str] = field(default_factory=list)  # every EXT-X-PART listed
    maps: list[str] = field(default_factory=list)
    preload_hint: str | None = None
    discontinuities: int = 0
    ended: bool = False
    skip: int | None = None
    version: int = 0

    @property
    def end_msn(self) -> int:
        """The MSN of the open segment (one past the last complete one)."""
        return self.media_sequence + (self.skip or 0) + len(self.segments)

    def next_part(self) -> tuple[int, int]:
        """(_HLS_msn, _HLS_part) of the part being written now (the preload hint's)."""
        return self.end_msn, len(self.open_parts)


def _attr(line: str, name: str) -> str:
    match = re.search(rf'{name}=("[^"]*"|[^,]*)', line)
    assert match, (name, line)
    return match.group(1).strip('"')


def parse(text: str) -> Playlist:
    assert text.startswith("#EXTM3U\n"), text
    pl = Playlist(text)
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            pl.media_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            pl.discontinuity_sequence = int(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            pl.discontinuities += 1
        elif line.startswith("#EXT-X-VERSION:"):
            pl.version = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-SKIP:"):
            pl.skip = int(_attr(line, "SKIPPED-SEGMENTS"))
        elif line.startswith("#EXT-X-MAP:"):
            pl.maps.append(_attr(line, "URI"))
        elif line.startswith("#EXT-X-PART:"):
            uri = _attr(line, "URI")
            pl.parts.append(uri)
            pl.open_parts.append(uri)
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            pl.preload_hint = _attr(line, "URI")
        elif line == "#EXT-X-ENDLIST":
            pl.ended = True
        elif line and not line.startswith("#"):
            pl.segments.append(line)
            pl.open_parts = []
    return pl


def lists_part(text: str, name: str) -> bool:
    return any(
        line.startswith("#EXT-X-PART:") and f'URI="{name}"' in line for line in text.splitlines()
    )


def wait_playlist(
    daemon: Daemon, ready: object = None, timeout: float = 20.0, path: str = MEDIA
) -> Playlist:
    """Poll the media playlist until it is served (and `ready(playlist)` if given)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        response = daemon.get(path)
        if response.status_code == 200:
            last = response.text
            pl = parse(last)
            if ready is None or ready(pl):  # type: ignore[operator]
                return pl
        time.sleep(0.05)
    raise AssertionError(f"playlist not ready after {timeout}s:\n{last}\n{daemon.log()[-3000:]}")


# -- reading media back with FFmpeg -----------------------------------------------------------


@dataclass
class Probe:
    streams: list[dict[str, object]]
    video: list[dict[str, object]]
    audio: list[dict[str, object]]


def ffprobe(url: str) -> Probe:
    """Decode everything behind `url` (the master playlist) with ffprobe: streams and frames."""
    result = subprocess.run(
        [
            require_binary("ffprobe", "ffmpeg"),
            *("-v", "error", "-of", "json"),
            "-show_entries",
            "stream=index,codec_type,codec_name,time_base,width,height,sample_rate"
            ":frame=media_type,pts,width,height,key_frame,nb_samples",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout)
    frames = data["frames"]
    return Probe(
        streams=data["streams"],
        video=[f for f in frames if f["media_type"] == "video"],
        audio=[f for f in frames if f["media_type"] == "audio"],
    )


def check_read_back(
    probe: Probe, *, frames: int, fps: int, size: tuple[int, int], seconds: float
) -> None:
    """Every frame, continuous and monotonic video and audio timestamps, the right picture size."""
    video_streams = [s for s in probe.streams if s["codec_type"] == "video"]
    audio_streams = [s for s in probe.streams if s["codec_type"] == "audio"]
    assert len(video_streams) == 1 and len(audio_streams) == 1, probe.streams
    assert (video_streams[0]["width"], video_streams[0]["height"]) == size
    assert video_streams[0]["time_base"] == "1/90000"

    assert len(probe.video) == frames
    assert all((f["width"], f["height"]) == size for f in probe.video)
    pts = [int(f["pts"]) for f in probe.video]  # type: ignore[call-overload]
    steps = [b - a for a, b in itertools.pairwise(pts)]
    # RTMP carries milliseconds: a 30 fps frame lasts 33 or 34 ms, never more, never a gap.
    step = 90_000 / fps
    assert all(step - 90 <= s <= step + 90 for s in steps), sorted(set(steps))
    assert abs((pts[-1] - pts[0]) - (frames - 1) * step) <= 90, (pts[0], pts[-1])

    rate = int(audio_streams[0]["sample_rate"])  # type: ignore[call-overload]
    assert audio_streams[0]["time_base"] == f"1/{rate}"
    audio_pts = [int(f["pts"]) for f in probe.audio]  # type: ignore[call-overload]
    # Audio is continuous: each AAC frame starts where the previous one (1024 samples) ended.
    assert all(b - a == 1024 for a, b in itertools.pairwise(audio_pts)), audio_pts
    expected = seconds * rate / 1024
    assert expected - 3 <= len(probe.audio) <= expected + 3, (len(probe.audio), expected)
    # Audio and video start together (within a frame or two of each other).
    assert abs(audio_pts[0] / rate - pts[0] / 90_000) < 0.2


def test_pyav_publish_reads_back_frame_exact(source_daemon: Daemon) -> None:
    daemon = source_daemon
    """PyAV (libx264 with B-frames, AAC) publishes 150 frames; FFmpeg reads all 150 back."""
    require_binary("ffprobe", "ffmpeg")
    pyav_publish(daemon.rtmp_url, 150, fps=30, gop=30, size=(640, 360), b_frames=2)
    pl = wait_playlist(daemon, lambda p: p.ended)
    assert pl.preload_hint is None and not pl.open_parts
    check_read_back(ffprobe(daemon.url + MASTER), frames=150, fps=30, size=(640, 360), seconds=5.0)
    master = daemon.get(MASTER).text
    assert "RESOLUTION=640x360" in master and 'CODECS="avc1.' in master and "mp4a.40.2" in master


def test_ffmpeg_cli_publish_reads_back_frame_exact(source_daemon: Daemon) -> None:
    daemon = source_daemon
    """The ffmpeg CLI publishes 5 s at 30 fps in real time; FFmpeg reads 150 frames back."""
    require_binary("ffmpeg", "ffmpeg")
    ffmpeg_publish(daemon.rtmp_url, 5, realtime=True, size="426x240")
    pl = wait_playlist(daemon, lambda p: p.ended)
    assert len(pl.segments) >= 2
    check_read_back(ffprobe(daemon.url + MASTER), frames=150, fps=30, size=(426, 240), seconds=5.0)


# -- a live stream shared by the LL-HLS behaviour tests ---------------------------------------


def live_daemon(tmp: Path, size: str) -> Iterator[Daemon]:
    """A daemon at latency level 0 with the ffmpeg CLI publishing in real time (for a fixture)."""
    require_binary("ffmpeg", "ffmpeg")
    daemon = Daemon(tmp, LEVEL_0).start()
    publisher = ffmpeg_publisher(daemon.rtmp_url, 120, realtime=True, size=size)
    try:
        # Wait for two complete segments, so every kind of file exists.
        wait_playlist(daemon, lambda p: len(p.segments) >= 2 and p.open_parts)
        yield daemon
    finally:
        stop(publisher)
        daemon.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from live_daemon(tmp_path_factory.mktemp("live"), "426x240")


async def test_blocking_reload_answers_within_a_part_of_the_part_appearing(live: Daemon) -> None:
    """Block for the next part while polling the plain playlist every 20 ms: the blocked
    request returns no later than one part duration after the part shows up."""
    lags = []
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        for _ in range(6):
            pl = parse((await client.get(MEDIA)).text)
            hint = pl.preload_hint
            assert hint is not None
            msn, part = pl.next_part()
            times: dict[str, float] = {}

            async def blocked(
                msn: int = msn, part: int = part, hint: str = hint, times: dict[str, float] = times
            ) -> None:
                response = await client.get(MEDIA, params={"_HLS_msn": msn, "_HLS_part": part})
                times["answered"] = trio.current_time()
                assert response.status_code == 200
                assert lists_part(response.text, hint), response.text

            async def poll(hint: str = hint, times: dict[str, float] = times) -> None:
                while True:
                    response = await client.get(MEDIA)
                    if lists_part(response.text, hint):
                        times["appeared"] = trio.current_time()
                        return
                    await trio.sleep(0.02)

            started = trio.current_time()
            with trio.fail_after(5):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(blocked)
                    nursery.start_soon(poll)
            # It really was held: the part did not exist when the request came.
            assert times["appeared"] > started
            lags.append(times["answered"] - times["appeared"])
    assert max(lags) <= PART_TARGET_0, lags


def test_blocking_reload_refusals(live: Daemon) -> None:
    pl = parse(live.get(MEDIA).text)
    # RFC 8216bis 6.2.5.2: an _HLS_msn more than two segments past the last one is refused.
    far = live.get(MEDIA, params={"_HLS_msn": pl.end_msn + 10})
    assert far.status_code == 400
    assert far.headers["content-type"].startswith("text/plain"), far.headers
    assert "live edge" in far.text
    assert live.get(MEDIA, params={"_HLS_msn": pl.end_msn + 3, "_HLS_part": 0}).status_code == 400
    # Too many parts ahead in the open segment (the Advance Part Limit: 3 s of parts).
    ahead = live.get(MEDIA, params={"_HLS_msn": pl.end_msn, "_HLS_part": 40})
    assert ahead.status_code == 400
    # _HLS_part without _HLS_msn, and junk values.
    assert live.get(MEDIA, params={"_HLS_part": 1}).status_code == 400
    assert live.get(MEDIA, params={"_HLS_msn": "x"}).status_code == 400
    assert live.get(MEDIA, params={"_HLS_msn": "-1"}).status_code == 400
    # A request for what already exists is answered at once.
    started = time.monotonic()
    old = live.get(MEDIA, params={"_HLS_msn": pl.media_sequence, "_HLS_part": 0})
    assert old.status_code == 200 and time.monotonic() - started < 0.2


def test_skip_request_is_a_full_playlist_while_too_short_to_skip(live: Daemon) -> None:
    """Level 0 keeps ~3 s; the skip boundary is 6 s (6 x target): `_HLS_skip=YES` gets the
    whole playlist (no EXT-X-SKIP, version 6), which RFC 8216bis allows and players accept.
    EXT-X-SKIP rendering itself is covered by the playlist writer's unit tests."""
    text = live.get(MEDIA, params={"_HLS_skip": "YES"}).text
    pl = parse(text)
    assert "CAN-SKIP-UNTIL=6," in text
    assert pl.skip is None and pl.version == 6 and pl.segments
    assert pl.media_sequence <= pl.end_msn - len(pl.segments)


def test_preload_hint_is_held_until_the_part_is_complete(live: Daemon) -> None:
    pl = parse(live.get(MEDIA).text)
    hint = pl.preload_hint
    assert hint is not None and not lists_part(pl.text, hint)
    # Only the hinted part is held: one further ahead is simply not there.
    number = int(hint.rsplit("-", 1)[1].split(".")[0])
    beyond = hint.replace(f"part-{number}.", f"part-{number + 2}.")
    started = time.monotonic()
    assert live.get(f"/hls/0/{beyond}").status_code == 404
    assert time.monotonic() - started < 0.2
    held = live.get(f"/hls/0/{hint}")
    assert held.status_code == 200
    assert held.headers["content-type"] == "video/iso.segment"
    assert held.content[4:8] in (b"styp", b"moof")
    # By the time it was answered, the part was complete and listed.
    assert lists_part(live.get(MEDIA).text, hint)
    assert live.get(f"/hls/0/{hint}").content == held.content


def test_headers_content_types_cache_and_cors(live: Daemon) -> None:
    pl = parse(live.get(MEDIA).text)
    checks = {
        MASTER: (PLAYLIST_TYPE, "no-cache"),
        MEDIA: (PLAYLIST_TYPE, "no-cache"),
        f"/hls/0/{pl.maps[-1]}": ("video/mp4", "max-age"),
        f"/hls/0/{pl.segments[-1]}": ("video/iso.segment", "max-age"),
        f"/hls/0/{pl.parts[-1]}": ("video/iso.segment", "max-age"),
    }
    for path, (kind, cache) in checks.items():
        response = live.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].split(";")[0] == kind, path
        assert cache in response.headers["cache-control"], path
        assert response.headers["access-control-allow-origin"] == "*", path
        assert response.headers["x-content-type-options"] == "nosniff", path
    blocked = live.get(MEDIA, params={"_HLS_msn": pl.end_msn, "_HLS_part": 0})
    assert blocked.headers["cache-control"] == "no-cache"
    assert blocked.headers["access-control-allow-origin"] == "*"
    # HEAD has the headers without the body; other methods are refused; preflight is allowed.
    head = httpx.head(live.url + f"/hls/0/{pl.segments[-1]}", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(live.get(f"/hls/0/{pl.segments[-1]}").content)
    assert httpx.post(live.url + MEDIA, timeout=10).status_code == 405
    options = httpx.options(live.url + MEDIA, timeout=10)
    assert options.status_code == 204 and options.headers["access-control-allow-origin"] == "*"
    # The init segment is a real CMAF header; media files are immutable (unique names).
    init = live.get(f"/hls/0/{pl.maps[-1]}").content
    assert init[4:8] == b"ftyp" and b"moov" in init
    assert "immutable" in live.get(f"/hls/0/{pl.segments[-1]}").headers["cache-control"]


def raw_get(daemon: Daemon, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (no client-side dot-segment removal or quoting)."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_only_the_segmenters_names_are_served(live: Daemon) -> None:
    pl = parse(live.get(MEDIA).text)
    unprefixed = re.sub(r"^[0-9a-f]+-", "", pl.segments[-1])
    for path in (
        "/hls/0/../owncastd.db",
        "/hls/0/../../owncastd.db",
        "/hls/0/%2e%2e%2fowncastd.db",
        "/hls/0/%2E%2E/%2E%2E/owncastd.db",
        "/hls/0/..%2f..%2fowncastd.db",
        "/hls/0/owncastd.pid",
        "/hls/0/owncastd.db",
        "/hls/owncastd.db",
        "/hls/0/stream.m3u8%00.m4s",
        "/hls/0/.stream.m3u8.tmp",
        f"/hls/0/{unprefixed}",
        "/hls/9/stream.m3u8",
        f"/hls/9/{pl.segments[-1]}",
        "/hls/-1/stream.m3u8",
        "/hls/0/seg-99999999.m4s",
    ):
        status, body = raw_get(live, path)
        assert status in (400, 404), (path, status)
        assert b"SQLite" not in body and b"ftyp" not in body and b"moof" not in body, path


# -- a publisher that stalls ------------------------------------------------------------------


def test_blocked_request_gets_503_when_the_part_never_comes(daemon_factory: type[Daemon]) -> None:
    require_binary("ffmpeg", "ffmpeg")
    daemon = daemon_factory(extra_toml=LEVEL_0).start()
    publisher = ffmpeg_publisher(daemon.rtmp_url, 60, realtime=True, size="320x180")
    try:
        wait_playlist(daemon, lambda p: len(p.segments) >= 1 and p.open_parts)
        publisher.send_signal(signal.SIGSTOP)  # the publisher's network stalls
        time.sleep(0.5)
        pl = parse(daemon.get(MEDIA).text)
        msn, part = pl.next_part()
        started = time.monotonic()
        response = daemon.get(MEDIA, params={"_HLS_msn": msn, "_HLS_part": part})
        waited = time.monotonic() - started
        assert response.status_code == 503, response.text
        # The deadline is 3 target durations (3 s at level 0): not sooner, not much later.
        assert 2.5 <= waited <= 4.5, waited
        assert response.headers["access-control-allow-origin"] == "*"
        # A held preload-hint request also gives up at the deadline.
        assert pl.preload_hint is not None
        started = time.monotonic()
        assert daemon.get(f"/hls/0/{pl.preload_hint}").status_code == 404
        assert 2.5 <= time.monotonic() - started <= 4.5
        # The publisher comes back: the same request is answered.
        publisher.send_signal(signal.SIGCONT)
        again = daemon.get(MEDIA, params={"_HLS_msn": msn, "_HLS_part": part})
        assert again.status_code == 200 and lists_part(again.text, pl.preload_hint)
    finally:
        with contextlib.suppress(ProcessLookupError):
            publisher.send_signal(signal.SIGCONT)
        stop(publisher)


def test_the_first_playlist_fetch_waits_for_something_to_play(
    daemon_factory: type[Daemon],
) -> None:
    """hls.js gives up on a media playlist without a complete segment (levelEmptyError); a
    player that asks before the first segment is complete gets a playlist with it instead."""
    require_binary("ffmpeg", "ffmpeg")
    daemon = daemon_factory(extra_toml=LEVEL_0).start()
    publisher = ffmpeg_publisher(daemon.rtmp_url, 30, realtime=True, size="320x180")
    try:
        deadline = time.monotonic() + 20
        while daemon.get(MEDIA).status_code == 404:
            assert time.monotonic() < deadline, "no media playlist"
            time.sleep(0.01)
        # Asked as early as it exists, and again at once: never without a segment to play.
        for _ in range(3):
            pl = parse(daemon.get(MEDIA).text)
            assert pl.segments, pl.text
    finally:
        stop(publisher)


# -- stream end and reconnect -----------------------------------------------------------------


def test_end_writes_endlist_and_a_reconnect_continues_after_a_discontinuity(
    source_daemon: Daemon,
) -> None:
    daemon = source_daemon
    require_binary("ffprobe", "ffmpeg")
    # The same encoder settings both times, so both publishes share one init segment: FFmpeg's
    # HLS reader (5.1) drops frames where EXT-X-MAP changes (other players do not).
    ffmpeg_publish(daemon.rtmp_url, 3, realtime=False, size="320x180")
    first = wait_playlist(daemon, lambda p: p.ended)
    assert first.discontinuities == 0 and first.preload_hint is None
    on_disk = (daemon.data_dir / "hls" / "0" / "stream.m3u8").read_text()
    assert on_disk.rstrip().endswith("#EXT-X-ENDLIST")

    # The same key publishes again: no ENDLIST while live, a discontinuity, sequence goes on.
    publisher = ffmpeg_publisher(daemon.rtmp_url, 3, realtime=True, size="320x180")
    try:
        live = wait_playlist(daemon, lambda p: not p.ended and p.open_parts)
        # Level 2 keeps 9 s: the first publish's segments are all still listed, in order.
        assert live.media_sequence == first.media_sequence
        assert live.segments == first.segments
        assert live.discontinuities == 1 and live.discontinuity_sequence == 0
        assert live.text.index("\n#EXT-X-DISCONTINUITY\n") > live.text.index(first.segments[-1])
        assert live.preload_hint is not None
        assert publisher.wait(20) == 0
    finally:
        stop(publisher)
    second = wait_playlist(daemon, lambda p: p.ended)
    assert second.segments[: len(first.segments)] == first.segments
    assert second.end_msn > first.end_msn and second.discontinuities == 1
    # Both publishes play back to back: 90 + 90 frames, one timeline across the discontinuity.
    probe = ffprobe(daemon.url + MASTER)
    assert len(probe.video) == 180
    pts = [int(f["pts"]) for f in probe.video]  # type: ignore[call-overload]
    assert all(b > a for a, b in itertools.pairwise(pts))


# -- the disk copy ----------------------------------------------------------------------------


def hls_files(daemon: Daemon) -> list[Path]:
    root = daemon.data_dir / "hls" / "0"
    with contextlib.suppress(FileNotFoundError):
        return [p for p in root.iterdir() if p.is_file()]
    return []


def test_files_on_disk_stay_bounded_and_stale_files_go_at_start(
    daemon_factory: type[Daemon],
) -> None:
    """Two minutes of media, published faster than real time at level 0 (1 s segments)."""
    require_binary("ffmpeg", "ffmpeg")
    daemon = daemon_factory(extra_toml=LEVEL_0).start()
    publisher = ffmpeg_publisher(
        daemon.rtmp_url, 120, realtime=False, size="320x180", preset="ultrafast"
    )
    counts = []
    try:
        while publisher.poll() is None:
            counts.append(len(hls_files(daemon)))
            time.sleep(0.05)
    finally:
        stop(publisher)
    assert publisher.returncode == 0
    pl = wait_playlist(daemon, lambda p: p.ended)
    assert pl.end_msn >= 100, pl.end_msn  # two minutes of 1 s segments went through
    counts.append(len(hls_files(daemon)))
    # The window (3 segments, never under 3 s), segments kept for their duration plus the
    # longest playlist after they leave it (RFC 8216bis 6.2.2), the init segment, the media
    # playlist, and a write in flight: parts are never written to disk.
    bound = 3 + 5 + 1 + 1 + 1
    assert max(counts) <= bound, (max(counts), sorted(p.name for p in hls_files(daemon)))
    assert len(counts) > 20
    names = {p.name for p in hls_files(daemon)}
    assert "stream.m3u8" in names and not any("part-" in n for n in names)
    assert (daemon.data_dir / "hls" / "stream.m3u8").exists()
    daemon.stop()

    # A restart on the same data dir: what the earlier run left is removed before serving.
    left = {p.name for p in hls_files(daemon)}
    assert left
    stale = daemon.data_dir / "hls" / "0" / "leftover-seg-7.m4s"
    stale.write_bytes(b"old")
    daemon.start()
    assert not any(p.name in left or p == stale for p in hls_files(daemon))
    assert not stale.exists()
    assert daemon.get(MEDIA).status_code == 404


# -- a disk that fails ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 kB tmpfs: the disk fills with the first segment (needs root, as in CI)."""
    mount = tmp_path / "data" / "hls"
    mount.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        message = f"cannot mount a tmpfs here: {result.stderr.strip()}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_logged_and_players_are_served_from_memory(
    daemon_factory: type[Daemon], small_disk: Path
) -> None:
    require_binary("ffmpeg", "ffmpeg")
    daemon = daemon_factory(extra_toml=LEVEL_0).start()
    assert daemon.data_dir / "hls" == small_disk
    publisher = ffmpeg_publisher(daemon.rtmp_url, 30, realtime=True, size="640x360")
    try:
        first = wait_playlist(daemon, lambda p: len(p.segments) >= 2)
        log = daemon.wait_for_log("storage write failed", timeout=10)
        assert "No space left on device" in log
        # The playlist goes on advancing, and every file it names is served from memory.
        later = wait_playlist(daemon, lambda p: p.end_msn >= first.end_msn + 3)
        for name in (later.maps[-1], later.segments[-1], later.parts[-1]):
            response = daemon.get(f"/hls/0/{name}")
            assert response.status_code == 200 and len(response.content) > 0, name
        assert publisher.poll() is None
        # One line per kind of failure, not one per segment.
        assert daemon.log().count("No space left on device") == 1
    finally:
        stop(publisher)
        daemon.stop()
