"""Admin API routes (HTTP Basic `admin:<password>`), in Owncast's shapes."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from owncastd import __version__
from owncastd.timefmt import rfc3339
from owncastd.webserver.auth import require_admin, services

bp = Blueprint("admin", __name__)


@bp.get("/api/admin/status")
@require_admin
async def status() -> dict[str, Any]:
    svc = services()
    config = svc.settings.current
    broadcast = svc.broadcaster.current
    broadcaster = None
    if broadcast is not None:
        broadcaster = {
            "remoteAddr": broadcast.remote_addr,
            "time": rfc3339(broadcast.started_at),
            "streamDetails": broadcast.stream_details(),
        }
    return {
        "broadcaster": broadcaster,
        "currentBroadcast": {"latencyLevel": config.video.latency_level, "outputSettings": []}
        if broadcast
        else None,
        "health": health.to_json() if (health := svc.viewers.health(config.video)) else None,
        "online": svc.broadcaster.online,
        "viewerCount": svc.viewers.stats.count,
        "overallPeakViewerCount": svc.viewers.stats.overall_max,
        "sessionPeakViewerCount": svc.viewers.stats.session_max,
        "streamTitle": config.instance.stream_title,
        "versionNumber": __version__,
    }


@bp.get("/api/admin/disconnect")
@require_admin
async def disconnect() -> dict[str, Any]:
    svc = services()
    publisher = svc.broadcaster.publisher
    if publisher is None:
        return {"success": False, "message": "no stream is live"}
    publisher.disconnect()
    return {"success": True, "message": "inbound stream disconnected"}
