"""The viewer page's chat in headless Chromium, talking to a trio-websocket client through the
real daemon.

Playwright drives Debian's Chromium (as in test_browser_playback); the websocket client runs
Trio on a thread of its own, since Playwright's sync API owns the test's thread. The page's
debug hook `window.owncastd.chat = {state, messages, userId, displayName, moderator}` says when
the page is connected and who it is. Steps, on one daemon:

1. the page sends a message from its chat box and the websocket client gets it; the websocket
   client's Markdown message shows up formatted in the page;
2. script payloads from another websocket user run nothing in the page (no handler survives, a
   broken emoji image does not fire onerror, no dialog);
3. the operator makes the page's user a moderator: its Hide button hides a message for the
   websocket client too, and its Ban button (two clicks) removes the other user;
4. /embed/chat/readwrite, a new identity, shows the history and sends a message of its own.

A screenshot of the page after step 2 is kept in `test-artifacts/chat-browser.png`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from owncastd.chat import protocol as p
from tests.browser import ARTIFACTS
from tests.daemon import Daemon

Event = dict[str, Any]
TIMEOUT_MS = 15_000

OPEN_JS = "() => { const c = window.owncastd && window.owncastd.chat;"
OPEN_JS += " return !!(c && c.state === 'open' && c.userId); }"
INERT_JS = """() => {
  const log = document.querySelector('.chat-log');
  const bad = [];
  for (const el of log.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) bad.push(el.tagName + ' ' + a.name);
      if (/script:/i.test(a.value.replace(/\\s/g, ''))) bad.push(el.tagName + ' ' + a.name);
    }
    if (['SCRIPT', 'IFRAME', 'SVG', 'OBJECT', 'EMBED', 'STYLE'].includes(el.tagName))
      bad.push(el.tagName);
  }
  for (const img of log.querySelectorAll('img'))
    if (!new URL(img.src).pathname.startsWith('/img/emoji/')) bad.push('img ' + img.src);
  return bad;
}"""


class ThreadChatter:
    """A trio-websocket chat client running Trio on its own thread; the test thread waits on
    the events it has received (bounded) and sends through it."""

    def __init__(self, d: Daemon, name: str) -> None:
        r = httpx.post(d.url + "/api/chat/register", json={"displayName": name}, timeout=10)
        assert r.status_code == 200, r.text
        self.user: Event = r.json()
        self.id = str(self.user["id"])
        self.url = d.url.replace("http://", "ws://", 1) + "/ws?accessToken="
        self.url += self.user["accessToken"]
        self.events: list[Event] = []
        self.closed = False
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ws: WebSocketConnection | None = None
        self._stop: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread = threading.Thread(target=self._run, name=f"ws {name}", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the websocket client did not connect"
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the test thread
            self._error = exc
        finally:
            self._ready.set()
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    async def _main(self) -> None:
        async with open_websocket_url(self.url) as ws:
            self._ws, self._stop = ws, trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read, ws)
                await self._stop.wait()
                nursery.cancel_scope.cancel()

    async def _read(self, ws: WebSocketConnection) -> None:
        while True:
            message = await ws.get_message()
            assert isinstance(message, str)
            with self._cond:
                self.events.extend(json.loads(line) for line in message.split("\n"))
                self._cond.notify_all()

    def send(self, event: Event) -> None:
        assert self._ws is not None and self._token is not None
        trio.from_thread.run(self._ws.send_message, json.dumps(event), trio_token=self._token)

    def wait_for(self, match: Callable[[Event], bool], what: str, timeout: float = 10) -> Event:
        with self._cond:
            found: list[Event] = []

            def ready() -> bool:
                found[:] = [e for e in self.events if match(e)]
                return bool(found) or self.closed

            self._cond.wait_for(ready, timeout)
            assert found, (
                f"{what}: not among {self.events} (closed: {self.closed}, {self._error!r})"
            )
            return found[0]

    def close(self) -> None:
        if self._stop is not None and self._token is not None and not self.closed:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)


def chat_from(user_id: str, body: str | None = None) -> Callable[[Event], bool]:
    return lambda e: (
        e["type"] == p.CHAT and e["user"]["id"] == user_id and (body is None or e["body"] == body)
    )


def test_viewer_page_chat_with_a_websocket_client(browser: Any, daemon: Daemon) -> None:
    wes = ThreadChatter(daemon, "Wes")
    mallory: ThreadChatter | None = None
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        page.goto(daemon.url + "/")
        page.wait_for_function(OPEN_JS)
        me = page.evaluate("window.owncastd.chat")
        assert me["moderator"] is False and me["displayName"]

        # 1. Page -> websocket client, and back.
        box = page.locator(".chat-input")
        box.fill("Hello from **Chromium**")
        box.press("Enter")
        got = wes.wait_for(chat_from(me["userId"]), "the page's message")
        assert got["body"] == "<p>Hello from <strong>Chromium</strong></p>"
        assert got["user"]["displayName"] == me["displayName"]

        wes.send({"type": "CHAT", "body": "Hello from the websocket, _page_"})
        from_wes = wes.wait_for(chat_from(wes.id), "its own message")
        message = page.locator(".chat-msg.chat-user", has_text="Hello from the websocket, page")
        message.wait_for()
        assert message.locator(".chat-author").inner_text() == "Wes"
        assert message.locator(".chat-body em").inner_text() == "page"
        assert message.get_attribute("data-id") == from_wes["id"]
        page.wait_for_function("window.owncastd.chat.messages === 2")

        # 2. Script payloads, from another user, run nothing here.
        mallory = ThreadChatter(daemon, "Mallory")
        payloads = [
            '<img src="/img/emoji/missing.png" onerror="window.__xss=1">',
            '<a href="https://example.com/" onclick="window.__xss=1">a link</a> and'
            " [js](javascript:window.__xss=1)",
            '"><img src=x onerror=window.__xss=1><script>window.__xss=1</script> after',
        ]
        for body in payloads:
            mallory.send({"type": "CHAT", "body": body})
        page.wait_for_function("window.owncastd.chat.messages === 5")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.chat-log img')].every(i => i.complete)"
        )
        assert page.evaluate(INERT_JS) == []
        assert page.evaluate("window.__xss") is None
        assert dialogs == []
        link = page.locator(".chat-log a", has_text="a link")
        assert link.get_attribute("href") == "https://example.com/"
        assert "noreferrer" in (link.get_attribute("rel") or "")
        assert link.get_attribute("target") == "_blank"
        assert page.locator(".chat-log img").count() == 1  # the emoji, without its handler
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "chat-browser.png"))

        # 3. The operator makes the page's user a moderator; it hides and bans from the page.
        r = httpx.post(
            daemon.url + "/api/admin/chat/users/setmoderator",
            json={"userId": me["userId"], "isModerator": True},
            auth=daemon.admin_auth,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        page.wait_for_function("window.owncastd.chat.moderator === true")
        message.get_by_role("button", name="Hide message from Wes").click()
        update = wes.wait_for(lambda e: e["type"] == p.VISIBILITY_UPDATE, "VISIBILITY-UPDATE")
        assert update["ids"] == [from_wes["id"]] and update["visible"] is False
        message.wait_for(state="hidden")

        mallorys = page.locator(f".chat-msg.chat-user[data-user-id='{mallory.id}']")
        mallorys.first.get_by_role("button", name="Ban Mallory").click()
        mallorys.first.get_by_role("button", name="Confirm ban of Mallory").click()
        kicked = mallory.wait_for(lambda e: e["type"] == p.ERROR_USER_DISABLED, "the ban")
        assert kicked["user"]["id"] == mallory.id
        removed = wes.wait_for(lambda e: e["type"] == p.CHAT_ACTION, "the removal notice")
        assert removed["body"] == "<p><strong>Mallory</strong> has been removed from chat.</p>"
        page.wait_for_function("window.owncastd.chat.messages === 1")

        # 4. The read-write embed: a new identity, the history, and a message of its own.
        embed = browser.new_page(viewport={"width": 400, "height": 600})
        embed.set_default_timeout(TIMEOUT_MS)
        embed.on("pageerror", lambda e: errors.append(f"embed: {e}"))
        embed.goto(daemon.url + "/embed/chat/readwrite")
        embed.wait_for_function(OPEN_JS)
        embed_user = embed.evaluate("window.owncastd.chat.userId")
        assert embed_user != me["userId"]
        embed.locator(".chat-body", has_text="Hello from Chromium").wait_for()
        embed.locator(".chat-input").fill("from the embed")
        embed.locator(".chat-input").press("Enter")
        wes.wait_for(chat_from(embed_user, "<p>from the embed</p>"), "the embed's message")
        page.locator(".chat-body", has_text="from the embed").wait_for()
        embed.close()

        assert errors == []
    finally:
        page.close()
        wes.close()
        if mallory is not None:
            mallory.close()
