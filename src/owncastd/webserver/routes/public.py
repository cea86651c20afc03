"""Public API routes in Owncast's shapes: status and ping."""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint

from owncastd import __version__
from owncastd.timefmt import rfc3339
from owncastd.webserver.auth import services

bp = Blueprint("public", __name__)


@bp.get("/api/status")
async def status() -> dict[str, Any]:
    svc = services()
    b = svc.broadcaster
    config = svc.settings.current
    return {
        "online": b.online,
        "viewerCount": 0,
        "serverTime": rfc3339(time.time()),
        "lastConnectTime": rfc3339(b.last_connect_time),
        "lastDisconnectTime": rfc3339(b.last_disconnect_time),
        "versionNumber": __version__,
        "streamTitle": config.instance.stream_title,
    }


@bp.get("/api/ping")
async def ping() -> tuple[str, int]:
    return "", 200
