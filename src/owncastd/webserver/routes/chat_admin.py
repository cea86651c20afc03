"""Admin chat routes (HTTP Basic `admin`), in Owncast's shapes.

GET `/api/admin/chat/clients`, `/messages`, `/users/disabled`, `/users/moderators`,
`/users/ipbans`; POST `/messagevisibility`, `/users/setenabled`, `/users/setmoderator`,
`/users/ipbans/create`, `/users/ipbans/remove`; and the chat settings
`/api/admin/config/chat/{disable,joinmessagesenabled,establishedusermode,forbiddenusernames,
suggestedusernames}` and `/api/admin/config/welcomemessage` (a key pinned in the TOML file
answers 400 saying so).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from owncastd import config as cfg
from owncastd.chat import ipban
from owncastd.db.queries import chat as q
from owncastd.settings import PinnedSettingError
from owncastd.timefmt import rfc3339
from owncastd.webserver.auth import require_admin, services
from owncastd.webserver.routes.chat import (
    hub,
    json_body,
    json_response,
    simple,
    update_user_enabled,
    update_visibility,
    user_details,
)

bp = Blueprint("chat_admin", __name__)


@bp.get("/api/admin/chat/clients")
@require_admin
async def clients() -> Response:
    chat = hub()
    return json_response([c.to_json() for c in sorted(chat.clients.values(), key=lambda c: c.id)])


@bp.get("/api/admin/chat/messages")
@require_admin
async def messages() -> Response:
    return json_response(hub().history(include_hidden=True))


@bp.get("/api/admin/chat/users/disabled")
@require_admin
async def disabled_users() -> Response:
    return json_response([u.to_json() for u in hub().disabled_users()])


@bp.get("/api/admin/chat/users/moderators")
@require_admin
async def moderators() -> Response:
    return json_response([u.to_json() for u in hub().moderators()])


@bp.get("/api/admin/chat/users/ipbans")
@require_admin
async def ip_bans() -> Response:
    rows = q.ip_bans(services().db)
    return json_response(
        [
            {"ipAddress": r.ip_address, "notes": r.notes, "createdAt": rfc3339(r.created_at)}
            for r in rows
        ]
    )


@bp.post("/api/admin/chat/messagevisibility")
@require_admin
async def message_visibility() -> Response:
    return await update_visibility()


@bp.post("/api/admin/chat/users/setenabled")
@require_admin
async def set_enabled() -> Response:
    return await update_user_enabled()


@bp.post("/api/admin/chat/users/setmoderator")
@require_admin
async def set_moderator() -> Response:
    body, error = await json_body()
    if error is not None:
        return error
    assert body is not None
    user_id, flag = body.get("userId"), body.get("isModerator")
    if not isinstance(user_id, str) or not user_id or not isinstance(flag, bool):
        return simple(False, "must provide userId and isModerator")
    if not hub().set_moderator(user_id, flag):
        return simple(False, f"user {user_id} not found")
    return simple(True, f"{user_id} is moderator: {str(flag).lower()}")


async def _ban_value() -> tuple[str | None, Response | None]:
    body, error = await json_body()
    if error is not None:
        return None, error
    assert body is not None
    value = body.get("value")
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None, simple(False, "value must be an IP address or network")
    return value, None


@bp.post("/api/admin/chat/users/ipbans/create")
@require_admin
async def ban_create() -> Response:
    value, error = await _ban_value()
    if error is not None:
        return error
    assert value is not None
    try:
        hub().ban_ip(value)
    except ipban.InvalidBan as exc:
        return simple(False, str(exc))
    return simple(True, "IP address banned")


@bp.post("/api/admin/chat/users/ipbans/remove")
@require_admin
async def ban_remove() -> Response:
    value, error = await _ban_value()
    if error is not None:
        return error
    assert value is not None
    hub().unban_ip(value)
    return simple(True, "IP address unbanned")


@bp.get("/api/admin/moderation/chat/user/<user_id>")
@require_admin
async def admin_user_details(user_id: str) -> Response:
    return user_details(user_id)


# --- chat settings -----------------------------------------------------------------------------

_SETTINGS: dict[str, tuple[str, str]] = {
    "chat/disable": ("chat.disabled", "chat disabled status updated"),
    "chat/joinmessagesenabled": ("chat.join_messages", "chat join messages updated"),
    "chat/establishedusermode": (
        "chat.established_user_mode",
        "chat established users only mode updated",
    ),
    "chat/forbiddenusernames": ("chat.forbidden_usernames", "forbidden usernames updated"),
    "chat/suggestedusernames": ("chat.suggested_usernames", "suggested usernames updated"),
    "welcomemessage": ("instance.welcome_message", "welcome message updated"),
}


async def _set(name: str) -> Response:
    key, message = _SETTINGS[name]
    body, error = await json_body()
    if error is not None:
        return error
    assert body is not None
    if "value" not in body:
        return simple(False, "missing value")
    value: Any = body["value"]
    try:
        services().settings.set(key, value)
    except PinnedSettingError as exc:
        return simple(False, str(exc))
    except cfg.ConfigError as exc:
        return simple(False, f"{key}: {exc.reason}")
    return simple(True, message)


def _setter(name: str) -> None:
    async def handler() -> Response:
        return await _set(name)

    handler.__name__ = "set_" + name.replace("/", "_")
    bp.post(f"/api/admin/config/{name}")(require_admin(handler))


for _name in _SETTINGS:
    _setter(_name)
