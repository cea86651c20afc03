"""The viewer-facing API in Owncast's shapes, and the admin views of viewers.

GET `/api/config` (WebConfig), `/api/video/variants`, `/api/emoji`, `/api/socialplatforms`,
`/api/yp`; POST `/api/metrics/playback`; admin GET `/api/admin/viewersOverTime` and
`/api/admin/viewers`. `mark_viewer_active()` is what `/api/ping` and the playlist routes call.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import trio
from quart import Blueprint, Response, request

from owncastd import __version__
from owncastd import config as cfg
from owncastd.media.ladder import variant_name
from owncastd.timefmt import rfc3339
from owncastd.viewers import PlaybackReport, valid_number
from owncastd.webserver import files, render
from owncastd.webserver.auth import json_error, require_admin, services
from owncastd.webserver.routes.pages import SOCIAL_PLATFORMS, data_path, platform_icon

bp = Blueprint("viewer_api", __name__)

MAX_SOCKET_PAYLOAD_SIZE = 2048
"""Owncast's chat frame limit (config.MaxSocketPayloadSize), announced in the WebConfig."""
MAX_METRICS_BODY = 4096
MAX_EMOJI = 2000
"""An emoji folder larger than this is listed only this far."""

# Each metric's upper bound; the page reports kbit/s, seconds and counts per minute.
_METRIC_FIELDS: dict[str, tuple[str, float]] = {
    "bandwidth": ("bandwidth", 10_000_000.0),
    "latency": ("latency", 3600.0),
    "errors": ("errors", 1_000_000.0),
    "downloadDuration": ("download_duration", 3600.0),
    "qualityVariantChanges": ("quality_variant_changes", 1_000_000.0),
}


def client_address() -> str:
    """The viewer's address: the TCP peer (a forwarded-for header is not trusted)."""
    return request.remote_addr or ""


def mark_viewer_active() -> None:
    """This request's client is watching (Owncast: GenerateViewerFromRequest + SetViewerActive)."""
    services().viewers.seen(client_address(), request.headers.get("User-Agent", ""))


# --- WebConfig -------------------------------------------------------------------------------


def web_config(config: cfg.Config) -> dict[str, Any]:
    inst = config.instance
    social = []
    for handle in inst.social_handles:
        item = {"platform": handle.platform, "url": handle.url}
        icon = platform_icon(handle.platform)
        if icon:
            item["icon"] = icon
        social.append(item)
    federation: dict[str, Any] = {"enabled": config.federation.enabled}
    if config.federation.enabled and config.server.public_url:
        host = config.server.public_url.split("://", 1)[-1].split("/", 1)[0]
        federation["account"] = f"{config.federation.username}@{host}"
    body: dict[str, Any] = {
        "appearanceVariables": dict(inst.appearance_variables),
        "name": inst.name,
        "customStyles": inst.custom_css,
        "offlineMessage": render.simple(inst.offline_message),
        "logo": "/logo",
        "version": f"owncastd v{__version__}",
        "extraPageContent": render.page_content(inst.extra_page_content),
        "summary": inst.summary,
        "tags": list(inst.tags),
        "socialHandles": social,
        "externalActions": [
            {
                "url": a.url,
                "html": render.clean_html(a.html) if a.html else "",
                "title": a.title,
                "description": a.description,
                "icon": a.icon,
                "color": a.color,
                "openExternally": a.open_externally,
            }
            for a in inst.external_actions
        ],
        "notifications": {"browser": {"enabled": False}},
        "federation": federation,
        "maxSocketPayloadSize": MAX_SOCKET_PAYLOAD_SIZE,
        "hideViewerCount": inst.hide_viewer_count,
        "chatDisabled": config.chat.disabled,
        "nsfw": inst.nsfw,
        "authentication": {"indieAuthEnabled": bool(config.server.public_url)},
    }
    # Owncast omits an empty stream title (`omitempty`).
    if inst.stream_title:
        body["streamTitle"] = inst.stream_title
    return body


@bp.get("/api/config")
async def get_config() -> Response:
    response = Response(
        json.dumps(web_config(services().settings.current), separators=(",", ":")),
        content_type="application/json",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/video/variants")
async def video_variants() -> list[dict[str, Any]]:
    """`[{index, name}]`: passthrough first, then by bitrate, highest first; index = rendition."""
    variants = services().settings.current.video.variants
    order = sorted(
        range(len(variants)),
        key=lambda i: (not variants[i].video_passthrough, -variants[i].video_bitrate),
    )
    return [{"index": i, "name": variant_name(variants[i])} for i in order]


@bp.get("/api/socialplatforms")
async def social_platforms() -> dict[str, Any]:
    return {
        key: {"platform": name, "icon": platform_icon(key)}
        for key, name in SOCIAL_PLATFORMS.items()
    }


@bp.get("/api/yp")
async def yp() -> Response:
    """There is no directory (YP) support, so always what Owncast says when it is off."""
    return files.not_found()


# --- emoji -----------------------------------------------------------------------------------


def list_emoji(root: Path, limit: int = MAX_EMOJI) -> dict[str, str]:
    """name -> relative path of each image under `root` (sub-folders too); hidden files and
    symlinks that lead out are skipped."""
    found: dict[str, str] = {}
    try:
        base = root.resolve(strict=True)
    except OSError:
        return found
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            rel = (Path(dirpath) / filename).relative_to(base).as_posix()
            path = Path(filename)
            if path.suffix.lower() not in files.IMAGE_SUFFIXES:
                continue
            if files.confined(base, rel) is None:
                continue
            found.setdefault(path.stem, rel)
            if len(found) >= limit:
                return found
    return found


@bp.get("/api/emoji")
async def emoji() -> list[dict[str, str]]:
    """`[{name, url}]`: the built-in set, with the operator's `<data_dir>/emoji` on top."""
    user_dir = data_path(services().settings.current) / "emoji"

    def collect() -> dict[str, str]:
        merged = list_emoji(files.BUILTIN_ASSETS / "emoji")
        merged.update(list_emoji(user_dir))
        return merged

    found = await trio.to_thread.run_sync(collect)
    return [{"name": name, "url": f"/img/emoji/{rel}"} for name, rel in sorted(found.items())]


# --- playback metrics ------------------------------------------------------------------------


@bp.post("/api/metrics/playback")
async def playback_metrics() -> Response | tuple[dict[str, Any], int]:
    """A player's report for its last interval; zeros and missing numbers mean "not measured"."""
    if (request.content_length or 0) > MAX_METRICS_BODY:
        return json_error("request body too large", 413)
    raw = await request.get_data(cache=False)
    if len(raw) > MAX_METRICS_BODY:
        return json_error("request body too large", 413)
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return json_error("request body is not valid JSON", 400)
    if not isinstance(body, dict):
        return json_error("request body must be a JSON object", 400)
    values: dict[str, float] = {}
    for field, (attr, upper) in _METRIC_FIELDS.items():
        if field not in body or body[field] is None:
            continue
        number = valid_number(body[field], upper)
        if number is None:
            return json_error(f"{field} must be a number from 0 to {upper:g}", 400)
        values[attr] = number
    services().viewers.report(
        client_address(), request.headers.get("User-Agent", ""), PlaybackReport(**values)
    )
    return Response("", status=200)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


# --- admin -----------------------------------------------------------------------------------


@bp.get("/api/admin/viewersOverTime")
@require_admin
async def viewers_over_time() -> Response | tuple[dict[str, Any], int]:
    """`[{time, value}]` since `?windowStart=<unix seconds>` (all kept samples without it)."""
    start = 0.0
    raw = request.args.get("windowStart")
    if raw:
        try:
            start = float(raw)
        except ValueError:
            return json_error("windowStart must be a unix time in seconds", 400)
        if not math.isfinite(start):
            return json_error("windowStart must be a unix time in seconds", 400)
    samples = services().viewers.stats.samples_since(start)
    body = [{"time": rfc3339(t), "value": value} for t, value in samples]
    return Response(json.dumps(body, separators=(",", ":")), content_type="application/json")


@bp.get("/api/admin/viewers")
@require_admin
async def active_viewers() -> Response:
    """Owncast's Viewer list; `geo` is null (no GeoIP database is used)."""
    body = [
        {
            "firstSeen": rfc3339(v.first_seen),
            "userAgent": v.user_agent,
            "ipAddress": v.ip,
            "clientID": v.client_id,
            "geo": None,
        }
        for v in services().viewers.stats.active()
    ]
    return Response(json.dumps(body, separators=(",", ":")), content_type="application/json")
