"""HLS routes: the master playlist, media playlists with LL-HLS blocking reload, and media files.

Files are looked up by name in the rendition's in-memory table (names the segmenter made);
nothing here builds a path from the request. A blocked request waits for its part with a
deadline (then 503); one too far past the live edge gets 400 at once, as RFC 8216bis asks.

These are the requests every viewer makes twice per part, so they are answered by a small ASGI
handler that sits in front of Quart (installed when the blueprint is registered): no routing
table, request context or response object per request, and playlists rendered once per change
by the store. Everything else goes on to Quart. Most of them do not even reach ASGI: hypercorn's
connections start in webserver/fasthls.py, which answers plain GET/HEAD requests under /hls/
with `HLSHandler.handle` and `reply_headers` itself; this handler answers the rest (OPTIONS,
405, and whatever that front hands over to hypercorn).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import trio
from quart import Blueprint, Quart
from quart.blueprints import BlueprintSetupState

from owncastd.hls.store import HLSStore, Rendition
from owncastd.storage.base import content_type

bp = Blueprint("hls", __name__)

_NAME = re.compile(r"[A-Za-z0-9_-]{0,64}(init-\d+\.mp4|seg-\d+\.m4s|part-\d+\.m4s)")
_MEDIA_PATH = re.compile(r"/hls/(\d{1,4})/([^/]{1,128})")
MASTER_PATH = "/hls/stream.m3u8"
PLAYLIST_NAME = "stream.m3u8"
PLAYLIST_CACHE = "no-cache"
MEDIA_CACHE = "public, max-age=3600, immutable"
EXTENSION = "owncastd.hls"  # the app.extensions key of the installed HLSHandler
# What app.py's after_request adds to every Quart response; this handler bypasses it.
_COMMON_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    name: str  # what the content type is taken from
    cache: str = PLAYLIST_CACHE


def _text(status: int, message: str) -> Reply:
    return Reply(status, message.encode(), "x.txt")


NOT_FOUND = _text(404, "not found\n")


def _headers(headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    return [*headers, (b"content-length", str(len(body)).encode()), *_COMMON_HEADERS]


def reply_headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    """The response headers of `reply` (both the ASGI handler and webserver/fasthls.py send
    these; the server adds `date`)."""
    return _headers(
        [
            (b"content-type", content_type(reply.name).encode()),
            (b"cache-control", reply.cache.encode()),
        ],
        reply.body,
    )


class BadQuery(ValueError):
    pass


def _int_arg(args: dict[str, str], name: str) -> int | None:
    value = args.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 12:
        raise BadQuery(name)
    return int(value)


class HLSHandler:
    """Answers GET/HEAD under /hls/ from the HLS store; anything else goes to `app`."""

    def __init__(self, app: ASGIApp, services: Callable[[], Any]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/hls/"):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "OPTIONS":
            headers = _headers([(b"allow", b"GET, HEAD, OPTIONS")], b"")
            await self._send(send, 204, b"", headers, head=True)
            return
        if method not in ("GET", "HEAD"):
            body = b"method not allowed\n"
            await self._send(send, 405, body, _headers([(b"allow", b"GET, HEAD")], body))
            return
        reply = await self.handle(scope, path)
        await self._send(
            send, reply.status, reply.body, reply_headers(reply), head=method == "HEAD"
        )

    @staticmethod
    async def _send(
        send: Send,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        *,
        head: bool = False,
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def handle(self, scope: Scope, path: str) -> Reply:
        services = self.services()
        store: HLSStore | None = getattr(services, "hls", None)
        if store is None:
            return NOT_FOUND
        if path == MASTER_PATH:
            text = store.master()
            if text is None:
                return NOT_FOUND
            self._count_viewer(services, scope)
            return Reply(200, text.encode(), PLAYLIST_NAME)
        match = _MEDIA_PATH.fullmatch(path)
        if match is None:
            return NOT_FOUND
        rendition = store.rendition(int(match.group(1)))
        if rendition is None:
            return NOT_FOUND
        name = match.group(2)
        if name == PLAYLIST_NAME:
            return await self._media_playlist(services, scope, store, rendition)
        if _NAME.fullmatch(name):
            return await _media_file(store, rendition, name)
        return NOT_FOUND

    async def _media_playlist(
        self, services: Any, scope: Scope, store: HLSStore, rendition: Rendition
    ) -> Reply:
        if not rendition.live:
            return NOT_FOUND
        query = scope.get("query_string", b"").decode("latin-1")
        args: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            args.setdefault(key, value)
        try:
            msn = _int_arg(args, "_HLS_msn")
            part = _int_arg(args, "_HLS_part")
        except BadQuery as exc:
            return _text(400, f"bad {exc}\n")
        skip = args.get("_HLS_skip", "").upper() in ("YES", "V2")
        self._count_viewer(services, scope)
        if msn is None and part is not None:
            return _text(400, "_HLS_part needs _HLS_msn\n")
        if msn is not None:
            current = rendition.playlist()
            if current.too_far(msn, part):
                return _text(400, "too far past the live edge\n")
            if not current.ended:
                deadline = trio.current_time() + 3 * store.latency.target_duration
                ok = await store.wait_until(lambda: _answerable(rendition, msn, part), deadline)
                if not ok:
                    return _text(503, "the requested part did not appear in time\n")
        elif _empty(rendition):
            # Just after a publish starts: hls.js needs a complete segment in the playlist (open
            # parts alone give levelEmptyError, fatal after a few retries), so a fetch before
            # the first segment is complete waits for it, within the deadline.
            deadline = trio.current_time() + 3 * store.latency.target_duration
            await store.wait_until(lambda: not _empty(rendition), deadline)
        if rendition.segmenter is None:
            return NOT_FOUND
        return Reply(200, rendition.render_bytes(skip=skip), PLAYLIST_NAME)

    @staticmethod
    def _count_viewer(services: Any, scope: Scope) -> None:
        # A playlist fetch counts the viewer as active, as Owncast does.
        viewers = getattr(services, "viewers", None)
        if viewers is None:
            return
        client = scope.get("client")
        agent = b""
        for key, value in scope.get("headers", ()):
            if key == b"user-agent":
                agent = value
                break
        viewers.seen(client[0] if client else "", agent.decode("latin-1"))


def _empty(rendition: Rendition) -> bool:
    if rendition.segmenter is None:
        return False
    playlist = rendition.playlist()
    return not playlist.segments and not playlist.ended


def _answerable(rendition: Rendition, msn: int, part: int | None) -> bool:
    if rendition.segmenter is None:
        return True  # the ladder changed under the request: answer (with 404) now
    playlist = rendition.playlist()
    return playlist.ended or playlist.contains(msn, part)


async def _media_file(store: HLSStore, rendition: Rendition, name: str) -> Reply:
    data = rendition.files.get(name)
    if (
        data is None
        and rendition.segmenter is not None
        and name == rendition.segmenter.preload_hint
    ):
        # A preload-hint request is held until the part is complete.
        deadline = trio.current_time() + 3 * store.latency.target_duration
        await store.wait_until(
            lambda: (
                name in rendition.files or rendition.segmenter is None or rendition.segmenter.ended
            ),
            deadline,
        )
        data = rendition.files.get(name)
    if data is None:
        return NOT_FOUND
    return Reply(200, data, name, MEDIA_CACHE)


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    """Put the HLS handler in front of the app (Quart calls `app.asgi_app` per request)."""
    app = state.app
    assert isinstance(app, Quart)
    handler = HLSHandler(app.asgi_app, lambda: app.config["SERVICES"])
    app.asgi_app = handler  # type: ignore[method-assign,assignment]
    app.extensions[EXTENSION] = handler  # webserver/fasthls.py answers with it too


def handler_of(app: Any) -> HLSHandler | None:
    """The HLSHandler installed on the Quart `app`, or None."""
    handler = getattr(app, "extensions", {}).get(EXTENSION)
    return handler if isinstance(handler, HLSHandler) else None
