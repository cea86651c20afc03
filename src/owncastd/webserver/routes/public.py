"""Public API routes in Owncast's shapes: status and ping (which marks the viewer active)."""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint

from owncastd import __version__
from owncastd.timefmt import rfc3339
from owncastd.webserver.auth import services
from owncastd.webserver.routes.viewer_api import mark_viewer_active

bp = Blueprint("public", __name__)


@bp.get("/api/status")
async def status() -> dict[str, Any]:
    svc = services()
    b = svc.broadcaster
    config = svc.settings.current
    body: dict[str, Any] = {
        "online": b.online,
        "viewerCount": svc.viewers.stats.count,
        "serverTime": rfc3339(time.time()),
        "lastConnectTime": rfc3339(b.last_connect_time),
        "lastDisconnectTime": rfc3339(b.last_disconnect_time),
        "versionNumber": __version__,
        "streamTitle": config.instance.stream_title,
    }
    if config.instance.hide_viewer_count:
        del body["viewerCount"]  # Owncast leaves it out entirely (its test expects undefined)
    return body


@bp.get("/api/ping")
async def ping() -> tuple[str, int]:
    mark_viewer_active()
    return "", 200
