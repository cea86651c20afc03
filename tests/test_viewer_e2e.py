"""The viewer page end to end in headless Chromium (issue 6).

Real parts only: `owncastd serve` in a subprocess with a two-rung ladder (the source passed
through, plus a small transcoded rung), the ffmpeg CLI publishing over RTMP, and Debian's
Chromium driven by Playwright. One daemon and one publish are shared by the steps, in order:

1. the page opens offline: the offline card with the operator's message, no quality menu;
2. a publish starts and the same page (no reload) goes live and plays: currentTime advances;
3. the quality menu switches rendition both ways, checked by what hls.js loads (its level's
   playlist, the fragments it fetches from /hls/<index>/) and by the decoded picture's height;
4. the embeds render: /embed/video plays, /embed/chat/readonly shows the chat without a message
   box, /embed/chat/readwrite has one, and a message sent there shows up in the read-only embed;
5. the publish stops and the page (and the video embed) show the offline message again.

A screenshot of each state is kept in `test-artifacts/viewer-e2e-*.png`.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.browser import ARTIFACTS
from tests.daemon import Daemon
from tests.publishers import ffmpeg_publisher, stop
from tests.syspkg import require_binary

OFFLINE_TEXT = "Back soon, the e2e test says."
CONFIG = f"""
[instance]
name = "Viewer e2e"
offline_message = "{OFFLINE_TEXT}"

[video]
latency_level = 1

[[video.variants]]
name = "source"
video_passthrough = true

[[video.variants]]
name = "small"
scaled_height = 180
framerate = 15
cpu_usage_level = 0
video_bitrate = 300
"""
# What the ladder gives: variant index -> (menu label, decoded height).
RENDITIONS = {0: ("source", 360), 1: ("small", 180)}

# Generous but bounded: the page polls /api/status every 5 s, the machine may be busy.
TIMEOUT_MS = 30_000

HLS_PATH = re.compile(r"/hls/(\d+)/([^/?#]+)")

PLAYING_JS = """() => {
  const v = document.querySelector('video');
  return v !== null && !v.paused && v.readyState >= 3 && v.currentTime > 0.5;
}"""
ADVANCES_JS = "t => document.querySelector('video').currentTime > t"
OFFLINE_JS = """text => {
  const o = window.owncastd, card = document.querySelector('.offline-card');
  return o && o.state === 'offline' && !o.hls
    && document.querySelector('.player').dataset.state === 'offline'
    && card && !card.hidden && card.innerText.includes(text);
}"""
# A level's playlist address (hls.js keeps `url` as a list of redundant streams, and `uri`).
LEVEL_URL = "(l => l.uri || [].concat(l.url)[0] || '')"
# The hls.js level playing now, as the variant index in its playlist path (-1: not known yet).
CURRENT_VARIANT_JS = f"""() => {{
  const h = window.owncastd && window.owncastd.hls;
  if (!h || h.currentLevel < 0 || !h.levels[h.currentLevel]) return -1;
  const m = /\\/hls\\/(\\d+)\\//.exec({LEVEL_URL}(h.levels[h.currentLevel]));
  return m ? Number(m[1]) : -1;
}}"""
# What a failure report shows of a page.
SNAPSHOT_JS = f"""() => {{
  const o = window.owncastd || {{}}, v = document.querySelector('video'), h = o.hls;
  return {{
    state: o.state, chat: o.chat,
    video: v && {{ t: v.currentTime, paused: v.paused, ready: v.readyState, height: v.videoHeight }},
    hls: h && {{ current: h.currentLevel, next: h.nextLevel, levels: h.levels.map({LEVEL_URL}) }},
  }};
}}"""
ON_VARIANT_JS = f"""([index, height]) => {{
  const v = document.querySelector('video');
  return ({CURRENT_VARIANT_JS})() === index && v.videoHeight === height && !v.paused;
}}"""


class Tab:
    """A page in its own browser context, with its console, uncaught errors and HLS requests."""

    def __init__(self, browser: Any, daemon: Daemon, path: str, name: str) -> None:
        # Each new_page is a new context: its own localStorage, so its own chat identity.
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.page.set_default_timeout(TIMEOUT_MS)
        self.name = name
        self.console: list[str] = []
        self.errors: list[str] = []
        self.hls: list[tuple[int, str]] = []  # (variant index, file name) in request order
        self.failed: list[str] = []  # HTTP errors, e.g. the thumbnail before the first broadcast
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", self._on_request)
        self.page.on("response", self._on_response)
        self.page.goto(daemon.url + path)

    def _on_console(self, message: Any) -> None:
        where = message.location.get("url") or ""
        self.console.append(f"{message.type}: {message.text} ({where})")

    def _on_request(self, request: Any) -> None:
        match = HLS_PATH.search(request.url)
        if match:
            self.hls.append((int(match[1]), match[2]))

    def _on_response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def wait(self, js: str, arg: Any = None, timeout: int = TIMEOUT_MS) -> None:
        try:
            self.page.wait_for_function(js, arg=arg, timeout=timeout)
        except Exception as e:
            raise AssertionError(f"[{self.name}] waited in vain for {js} (arg {arg!r}): {e}") from e

    def eval(self, js: str, arg: Any = None) -> Any:
        return self.page.evaluate(js, arg)

    def current_time(self) -> float:
        return float(self.eval("document.querySelector('video').currentTime"))

    def assert_advancing(self, seconds: float = 2.0) -> None:
        """The video plays on: currentTime moves `seconds` further (bounded wait, not a sleep)."""
        before = self.current_time()
        self.wait(ADVANCES_JS, before + seconds)

    def screenshot(self, state: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"viewer-e2e-{state}.png"))

    def report(self) -> str:
        try:
            now = self.eval(SNAPSHOT_JS)
        except Exception as e:  # the page may be gone
            now = repr(e)
        return (
            f"[{self.name}] now={now} errors={self.errors} http errors={self.failed[-10:]}"
            f" hls requests(last 10)={self.hls[-10:]} console(last 15)={self.console[-15:]}"
        )


def test_viewer_page_offline_live_quality_embeds_and_offline_again(
    browser: Any, daemon_factory: type[Daemon]
) -> None:
    require_binary("ffmpeg", "ffmpeg")
    daemon = daemon_factory(CONFIG).start()
    tabs: list[Tab] = []
    publisher = None

    def step(what: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {what}")

    def context() -> str:
        log = daemon.log().splitlines()
        return "\n".join([t.report() for t in tabs] + ["daemon log (last 30):", *log[-30:]])

    started = time.monotonic()
    try:
        # 1. Offline: the offline card with the operator's message; no quality menu yet.
        viewer = Tab(browser, daemon, "/", "viewer")
        tabs.append(viewer)
        viewer.wait(OFFLINE_JS, OFFLINE_TEXT)
        assert viewer.page.locator(".live-badge").text_content() == "Offline"
        assert viewer.page.locator(".quality").is_hidden()
        assert viewer.page.locator(".server-name").inner_text() == "Viewer e2e"
        # The menu is already filled from /api/video/variants: Auto plus one option per rung.
        options = viewer.eval(
            "[...document.querySelectorAll('.quality-select option')].map(o => o.text)"
        )
        assert options == ["Auto", "source", "small"], options
        viewer.eval("window.__sameDocument = true")  # gone if the page reloads
        viewer.screenshot("1-offline")
        step("offline")

        # 2. A publish starts: the same document goes live and plays.
        publisher = ffmpeg_publisher(daemon.rtmp_url, None, size="640x360", preset="ultrafast")
        viewer.wait("window.owncastd.state === 'live'")
        viewer.wait(PLAYING_JS)
        viewer.assert_advancing(2.0)
        assert viewer.eval("window.__sameDocument === true"), "the page reloaded to go live"
        assert viewer.page.locator(".live-badge").text_content() == "Live"
        assert viewer.page.locator(".offline-card").is_hidden()
        assert viewer.page.locator(".quality").is_visible()
        levels = viewer.eval(f"window.owncastd.hls.levels.map(l => [{LEVEL_URL}(l), l.height])")
        assert sorted(
            (int(HLS_PATH.search(url)[1]), height)  # type: ignore[index]
            for url, height in levels
        ) == [(0, 360), (1, 180)], levels
        viewer.screenshot("2-live")
        step("live")

        # 3. The quality menu: one rung, then the other (first the one hls.js is not on, so that
        # each choice is a real switch); each time hls.js plays that level, fetches fragments
        # from its folder, and the decoded picture has that rung's height.
        first = 0 if viewer.eval(CURRENT_VARIANT_JS) == 1 else 1
        for index in (first, 1 - first):
            label, height = RENDITIONS[index]
            seen = len(viewer.hls)
            viewer.page.select_option(".quality-select", label=label)
            viewer.wait(ON_VARIANT_JS, [index, height])
            viewer.assert_advancing(1.0)
            fetched = viewer.hls[seen:]
            assert any(i == index and not name.endswith(".m3u8") for i, name in fetched), fetched
            assert viewer.eval("document.querySelector('.quality-select').value") == str(index)
            viewer.screenshot(f"3-quality-{label}")
            step(f"quality {label}")

        # 4. The embeds.
        video = Tab(browser, daemon, "/embed/video", "embed video")
        tabs.append(video)
        video.wait("window.owncastd && window.owncastd.state === 'live'")
        video.wait(PLAYING_JS)
        video.assert_advancing(1.0)
        assert video.eval("document.body.classList.contains('embed-video')")
        assert video.page.locator(".site-header, .chat-area").count() == 0  # the player alone
        assert video.page.locator(".quality").is_visible()
        video.screenshot("4-embed-video")
        step("embed video")

        readonly = Tab(browser, daemon, "/embed/chat/readonly", "embed chat readonly")
        readwrite = Tab(browser, daemon, "/embed/chat/readwrite", "embed chat readwrite")
        tabs += [readonly, readwrite]
        for tab in (readonly, readwrite):
            step(f"{tab.name} opening")
            tab.wait(
                "window.owncastd && window.owncastd.chat && window.owncastd.chat.state === 'open'"
            )
            assert tab.page.locator("h2.panel-heading").inner_text() == "Chat"
            assert tab.page.locator("video").count() == 0
        assert readonly.page.locator(".chat-input").count() == 0
        readwrite.wait("window.owncastd.chat.displayName !== undefined")
        step("chat open")
        message = "hello from the e2e test"
        readwrite.page.locator(".chat-input").fill(message)
        readwrite.page.locator(".chat-input").press("Enter")
        for tab in (readwrite, readonly):
            tab.page.locator(".chat-body", has_text=message).wait_for()
        readonly.screenshot("5-embed-chat-readonly")
        readwrite.screenshot("6-embed-chat-readwrite")
        step("embed chat")

        # 5. The publish stops: the page and the video embed show the offline message again.
        stop(publisher)
        for tab in (viewer, video):
            tab.wait(OFFLINE_JS, OFFLINE_TEXT)
        assert viewer.eval("window.__sameDocument === true"), "the page reloaded to go offline"
        assert viewer.page.locator(".live-badge").text_content() == "Offline"
        assert viewer.page.locator(".quality").is_hidden()
        viewer.screenshot("7-offline-again")
        video.screenshot("8-embed-video-offline")
        step("offline again")

        for tab in tabs:
            assert tab.errors == [], tab.report()
    except Exception as e:
        raise AssertionError(f"{e}\n{context()}") from e
    finally:
        if publisher is not None:
            stop(publisher)
        for tab in tabs:
            tab.page.context.close()
