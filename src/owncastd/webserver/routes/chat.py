"""Chat over HTTP and the websocket, in Owncast's shapes.

POST `/api/chat/register`, GET `/ws?accessToken=` (the websocket), GET `/api/chat` (history),
and the moderator routes (a user token with the MODERATOR scope): POST
`/api/chat/messagevisibility`, POST `/api/chat/users/setenabled`,
GET `/api/moderation/chat/user/{userId}`.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import trio
from quart import Blueprint, Response, request, websocket

from owncastd.chat import protocol as p
from owncastd.chat.hub import WRITE_TIMEOUT, ChatHub
from owncastd.logs import get_logger
from owncastd.webserver.auth import json_error, services

log = get_logger(__name__)

bp = Blueprint("chat", __name__)

MAX_JSON_BODY = 64 * 1024
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Forwarded-User",
}


def hub() -> ChatHub:
    chat: ChatHub = services().chat
    return chat


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


def user_unauthorized() -> Response:
    """Owncast's 401 for a bad, disabled or banned user: plain text."""
    return Response(
        "Unauthorized", status=401, content_type="text/plain", headers={"Connection": "close"}
    )


async def json_body() -> tuple[dict[str, Any] | None, Response | None]:
    """The request's JSON object, or the 400 to answer with."""
    if (request.content_length or 0) > MAX_JSON_BODY:
        return None, Response(*json_error("request body too large", 413))
    raw = await request.get_data(cache=False)
    if len(raw) > MAX_JSON_BODY:
        return None, Response(*json_error("request body too large", 413))
    if not raw.strip():
        return {}, None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None, json_response({"success": False, "message": "invalid JSON"}, 400)
    if not isinstance(body, dict):
        return None, json_response({"success": False, "message": "expected a JSON object"}, 400)
    return body, None


def simple(success: bool, message: str) -> Response:
    """Owncast's `{success, message}` reply: 200, or 400 when it failed."""
    return json_response({"success": success, "message": message}, 200 if success else 400)


# --- registration and history ----------------------------------------------------------------


@bp.route("/api/chat/register", methods=["OPTIONS"])
async def register_options() -> Response:
    return Response("", status=204, headers=CORS_HEADERS)


@bp.post("/api/chat/register")
async def register() -> Response:
    body, error = await json_body()
    if error is not None:
        return error
    assert body is not None
    proposed = request.headers.get("X-Forwarded-User", "")
    name = body.get("displayName")
    if isinstance(name, str) and name.strip():
        proposed = name
    user, token = hub().register(proposed)
    response = json_response(
        {
            "id": user.id,
            "accessToken": token,
            "displayName": user.display_name,
            "displayColor": user.display_color,
        }
    )
    response.headers.update(CORS_HEADERS)
    return response


def _token_user() -> p.User | None:
    """The enabled user of `?accessToken=`, unless their address is banned."""
    chat = hub()
    if chat.banned(request.remote_addr or ""):
        return None
    user = chat.authenticate(request.args.get("accessToken", ""))
    if user is None or user.disabled:
        return None
    return user


@bp.get("/api/chat")
async def history() -> Response:
    if _token_user() is None:
        return user_unauthorized()
    return json_response(hub().history())


# --- the websocket ---------------------------------------------------------------------------


class HypercornRaw:
    """Direct frame writes to the socket under a hypercorn HTTP/1.1 websocket.

    hypercorn writes through `TCPServer.protocol_send`, which holds `send_lock` around each
    write. That lock is swapped for a semaphore (same `async with` use, no owner), so a frame
    can be started by whichever task flushes and finished by the client's writer task, and
    hypercorn's own writes (a pong, the close frame) never land inside one of ours.
    """

    def __init__(self, tcp: Any) -> None:
        self._stream: trio.SocketStream = _socket_stream(tcp)
        self._lock = trio.Semaphore(1)
        tcp.send_lock = self._lock

    def try_write(self, frame: bytes) -> int | None:
        if self._lock.value == 0:
            return None
        # Asked each time: once the socket is closed its number may already belong to
        # another connection, and the closed socket answers -1.
        fd = self._stream.socket.fileno()
        if fd < 0:
            return len(frame)
        self._lock.acquire_nowait()
        try:
            written = os.write(fd, frame)
        except BlockingIOError:
            written = 0
        except OSError:  # the peer is gone; the reader sees the close
            written = len(frame)
        if written == len(frame):
            self._lock.release()
        return written

    async def finish(self, rest: bytes) -> None:
        try:
            await self._send_whole(rest)
        finally:
            self._lock.release()

    async def write(self, data: bytes) -> None:
        async with self._lock:
            await self._send_whole(data)

    async def _send_whole(self, data: bytes) -> None:
        # Shielded: a frame cut short by a kick or a ban would leave the close frame that
        # follows inside its payload. A peer that takes no bytes for WRITE_TIMEOUT is cut off.
        with trio.move_on_after(WRITE_TIMEOUT, shield=True) as scope:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self._stream.send_all(data)
        if scope.cancelled_caught:
            self.abort()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.socket.close()


class QuartConnection:
    """A quart websocket as the hub's Connection, with the raw fast path when available."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._closed = False
        tcp = _tcp_server(ws)
        self.raw: HypercornRaw | None = None
        if tcp is not None and not tcp.send_lock.locked():
            self.raw = HypercornRaw(tcp)

    async def send(self, text: str) -> None:
        await self._ws.send(text)

    async def receive(self) -> str | bytes:
        data: str | bytes = await self._ws.receive()
        return data

    async def close(self, code: int) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):  # closed by the server already
            await self._ws.close(code)

    def abort(self) -> None:
        """Close the TCP stream under the websocket, so a send blocked on a peer that stopped
        reading fails now (hypercorn shields its socket writes from cancellation). Without
        hypercorn's objects (another server, HTTP/2) the kernel ends the connection in time."""
        self._closed = True
        if self.raw is not None:
            self.raw.abort()
            return
        tcp = _tcp_server(self._ws)
        if tcp is None:
            log.debug("chat: no transport to abort; relying on TCP to end the connection")
            return
        with contextlib.suppress(OSError):
            tcp.stream.socket.close()


def _tcp_server(ws: Any) -> Any:
    """hypercorn's TCPServer under a quart websocket served over HTTP/1.1 (not TLS), or None."""
    try:
        asgi_send = ws._send.args[0]  # quart: partial(send_data, asgi_send)
        ws_stream = asgi_send.__self__  # hypercorn WSStream.app_send
        h11 = ws_stream.send.__self__  # H11Protocol.stream_send
        tcp = h11.send.__self__  # TCPServer.protocol_send
        stream, lock = _socket_stream(tcp), tcp.send_lock
    except AttributeError:
        return None
    if not isinstance(stream, trio.SocketStream) or not isinstance(lock, trio.Lock):
        return None
    return tcp


def _socket_stream(tcp: Any) -> Any:
    # A connection the HLS fast path handed to hypercorn has it wrapped (webserver/fasthls.py).
    stream = tcp.stream
    return getattr(stream, "inner", stream)


@bp.websocket("/ws")
async def chat_socket() -> Response | None:
    chat = hub()
    ip = websocket.remote_addr or ""
    refusal = chat.refusal()
    if refusal == p.CHAT_DISABLED:
        return Response(p.CHAT_DISABLED, status=200, content_type="text/plain")
    if chat.banned(ip):
        return Response("", status=403)
    if refusal is not None:
        log.warning("chat: refusing a connection over the limit", limit=chat.max_clients)
        return Response(refusal, status=200, content_type="text/plain")
    token = websocket.args.get("accessToken", "")
    await websocket.accept()
    conn = QuartConnection(websocket._get_current_object())  # type: ignore[attr-defined]
    if not token:
        await conn.close(1008)
        return None
    user = chat.authenticate(token)
    if user is None or user.disabled:
        kind = p.ERROR_NEEDS_REGISTRATION if user is None else p.ERROR_USER_DISABLED
        await websocket.send(p.dumps(p.error_event(kind)))
        await conn.close(1008)
        return None
    await chat.serve(conn, user, ip, websocket.headers.get("User-Agent", ""))
    return None


# --- moderators --------------------------------------------------------------------------------


def _moderator() -> p.User | None:
    user = _token_user()
    return user if user is not None and user.is_moderator else None


async def update_visibility() -> Response:
    body, error = await json_body()
    if error is not None:
        return error
    assert body is not None
    ids, visible = body.get("idArray"), body.get("visible")
    if (
        not isinstance(ids, list)
        or not all(isinstance(i, str) for i in ids)
        or not isinstance(visible, bool)
    ):
        return simple(False, "missing required fields: idArray and visible are required")
    if len(ids) > 10_000:
        return simple(False, "too many ids")
    hub().set_visibility(ids, visible)
    return simple(True, "changed")


async def update_user_enabled() -> Response:
    body, error = await json_body()
    if error is not None:
        return error
    assert body is not None
    user_id, enabled = body.get("userId"), body.get("enabled")
    if not isinstance(user_id, str) or not user_id or not isinstance(enabled, bool):
        return simple(False, "must provide userId and enabled state")
    if not hub().set_user_enabled(user_id, enabled):
        return simple(False, f"user {user_id} not found")
    return simple(True, f"{user_id} enabled: {str(enabled).lower()}")


def user_details(user_id: str) -> Response:
    """Owncast's ModerationUserDetails: the user, their connected clients, their messages."""
    chat = hub()
    found = chat.user_by_id(user_id)
    if found is None:
        return json_response({"success": False, "message": "user not found"}, 404)
    clients = [
        {
            "id": c.id,
            "messageCount": c.message_count,
            "userAgent": c.user_agent,
            "connectedAt": c.to_json()["connectedAt"],
        }
        for c in chat.user_clients(user_id)
    ]
    messages = chat.history(include_hidden=True, user_id=user_id)
    return json_response(
        {"user": found.to_json(), "connectedClients": clients, "messages": messages}
    )


@bp.post("/api/chat/messagevisibility")
async def moderator_visibility() -> Response:
    if _moderator() is None:
        return user_unauthorized()
    return await update_visibility()


@bp.post("/api/chat/users/setenabled")
async def moderator_set_enabled() -> Response:
    if _moderator() is None:
        return user_unauthorized()
    return await update_user_enabled()


@bp.get("/api/moderation/chat/user/<user_id>")
async def moderator_user_details(user_id: str) -> Response:
    if _moderator() is None:
        return user_unauthorized()
    return user_details(user_id)
