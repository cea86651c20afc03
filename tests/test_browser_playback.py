"""A browser smoke test: the viewer page in headless Chromium plays a live stream with hls.js.

Playwright drives Debian's Chromium (never a downloaded browser). The page sets
`window.owncastd = {state, hls}`; the test waits for `live`, then checks that the video's
currentTime advances and that hls.js runs in low-latency mode. A screenshot is kept in
`test-artifacts/` for a human to look at.
"""

from __future__ import annotations

import time

from tests.browser import ARTIFACTS
from tests.daemon import Daemon
from tests.publishers import ffmpeg_publisher, stop
from tests.syspkg import require_binary

# The source passed through: this test is about hls.js and LL-HLS, and a transcode competing
# for two cores with the browser would only make it slower.
PASSTHROUGH = '\n[[video.variants]]\nname = "source"\nvideo_passthrough = true\n'


def test_viewer_page_plays_the_live_stream_with_hls_js(
    browser: object, daemon_factory: type[Daemon]
) -> None:
    require_binary("ffmpeg", "ffmpeg")
    daemon = daemon_factory(PASSTHROUGH).start()
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.goto(daemon.url + "/")
    page.wait_for_function("window.owncastd && window.owncastd.state === 'offline'")

    publisher = ffmpeg_publisher(daemon.rtmp_url, 60, realtime=True, size="640x360")
    try:
        # The page polls /api/status every 5 s; then hls.js loads and plays.
        page.wait_for_function("window.owncastd.state === 'live'", timeout=20_000)
        page.wait_for_function(
            "() => { const v = document.querySelector('video');"
            " return v && v.currentTime > 0.5 && !v.paused; }",
            timeout=20_000,
        )
        before = page.evaluate("document.querySelector('video').currentTime")
        time.sleep(3)
        after = page.evaluate("document.querySelector('video').currentTime")
        assert after - before >= 2.0, (before, after, console[-20:])

        hls = page.evaluate(
            "() => { const h = window.owncastd.hls; return h && {"
            " lowLatencyMode: h.lowLatencyMode, latency: h.latency,"
            " partTarget: h.latestLevelDetails ? h.latestLevelDetails.partTarget : null,"
            " canBlockReload: h.latestLevelDetails ? h.latestLevelDetails.canBlockReload : null"
            " }; }"
        )
        assert hls is not None, console[-20:]
        assert hls["lowLatencyMode"] is True
        # hls.js read the LL-HLS tags: parts and blocking reload at the default level.
        assert hls["partTarget"] and 0.4 < hls["partTarget"] < 0.6, hls
        assert hls["canBlockReload"] is True, hls
        assert 0 < hls["latency"] < 6, hls

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-playback.png"))
    finally:
        stop(publisher)
