"""Admin API routes (HTTP Basic `admin:<password>`), in Owncast's shapes."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from owncastd import __version__
from owncastd.media.ladder import owncast_variant
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
    current = None
    if broadcast is not None:
        current = {
            "latencyLevel": config.video.latency_level,
            "outputSettings": [owncast_variant(v) for v in config.video.variants],
        }
    encoder = (
        broadcast.encoder_status()
        if broadcast is not None and broadcast.encoder_status is not None
        else None
    )
    # Owncast's playback health overview, with the transcoder's own health (speed against
    # real time, dropped frames, restarts) beside it under `encoder`: an owncastd addition,
    # also given at the top level; Owncast shows ffmpeg's state only in its log.
    health: dict[str, Any] | None = None
    if (playback := svc.viewers.health(config.video)) is not None:
        health = playback.to_json()
    if encoder is not None:
        health = {**(health or {}), "encoder": encoder}
    return {
        "broadcaster": broadcaster,
        "currentBroadcast": current,
        "health": health,
        "encoder": encoder,
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
