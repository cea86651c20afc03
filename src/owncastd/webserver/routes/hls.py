"""HLS routes: the master playlist, media playlists with LL-HLS blocking reload, and media files.

Files are looked up by name in the rendition's in-memory table (names the segmenter made);
nothing here builds a path from the request. A blocked request waits for its part with a
deadline (then 503); one too far past the live edge gets 400 at once, as RFC 8216bis asks.
"""

from __future__ import annotations

import re

import trio
from quart import Blueprint, Response, request

from owncastd.hls.store import HLSStore, Rendition
from owncastd.storage.base import content_type
from owncastd.webserver.auth import services

bp = Blueprint("hls", __name__)

_NAME = re.compile(r"[A-Za-z0-9_-]{0,64}(init-\d+\.mp4|seg-\d+\.m4s|part-\d+\.m4s)")
PLAYLIST_CACHE = "no-cache"
MEDIA_CACHE = "public, max-age=3600, immutable"


def _store() -> HLSStore | None:
    store: HLSStore | None = getattr(services(), "hls", None)
    return store


def _response(body: str | bytes, name: str, cache: str, status: int = 200) -> Response:
    response = Response(body, status=status, content_type=content_type(name))
    response.headers["Cache-Control"] = cache
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _not_found() -> Response:
    return _response("not found\n", "x.txt", "no-cache", 404)


def _count_viewer() -> None:
    viewers = getattr(services(), "viewers", None)
    if viewers is not None:
        viewers.seen(request.remote_addr or "", request.headers.get("User-Agent", ""))


@bp.get("/hls/stream.m3u8")
async def master() -> Response:
    store = _store()
    text = store.master() if store else None
    if text is None:
        return _not_found()
    _count_viewer()
    return _response(text, "stream.m3u8", PLAYLIST_CACHE)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 12:
        raise ValueError(name)
    return int(value)


@bp.get("/hls/<int:index>/stream.m3u8")
async def media(index: int) -> Response:
    store = _store()
    rendition = store.rendition(index) if store else None
    if store is None or rendition is None or not rendition.live:
        return _not_found()
    try:
        msn = _int_arg("_HLS_msn")
        part = _int_arg("_HLS_part")
    except ValueError as exc:
        return _response(f"bad {exc}\n", "x.txt", "no-cache", 400)
    skip = request.args.get("_HLS_skip", "").upper() in ("YES", "V2")
    _count_viewer()
    if msn is None and part is not None:
        return _response("_HLS_part needs _HLS_msn\n", "x.txt", "no-cache", 400)
    if msn is not None:
        current = rendition.playlist()
        if current.too_far(msn, part):
            return _response("too far past the live edge\n", "x.txt", "no-cache", 400)
        if not current.ended:
            deadline = trio.current_time() + 3 * store.latency.target_duration
            ok = await store.wait_until(lambda: _answerable(rendition, msn, part), deadline)
            if not ok:
                return _response(
                    "the requested part did not appear in time\n", "x.txt", "no-cache", 503
                )
    return _response(rendition.render(skip=skip), "stream.m3u8", PLAYLIST_CACHE)


def _answerable(rendition: Rendition, msn: int, part: int | None) -> bool:
    playlist = rendition.playlist()
    return playlist.ended or playlist.contains(msn, part)


@bp.get("/hls/<int:index>/<name>")
async def media_file(index: int, name: str) -> Response:
    store = _store()
    rendition = store.rendition(index) if store else None
    if store is None or rendition is None or not _NAME.fullmatch(name):
        return _not_found()
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
        return _not_found()
    return _response(data, name, MEDIA_CACHE)
