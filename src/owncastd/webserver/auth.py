"""HTTP Basic auth for the admin routes (user `admin`, as Owncast), with Owncast's 401 reply."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import trio
from quart import Response, current_app, request

from owncastd import credentials
from owncastd.services import Services

REALM = 'Basic realm="Owncast Authenticated Request"'

P = ParamSpec("P")
R = TypeVar("R")


def services() -> Services:
    svc: Services = current_app.config["SERVICES"]
    return svc


def unauthorized() -> Response:
    # Connection: close, as the body of a refused request may be left unread on the connection.
    return Response(
        "Unauthorized",
        status=401,
        headers={"WWW-Authenticate": REALM, "Connection": "close"},
        content_type="text/plain",
    )


def _basic_password(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = (
            base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if hmac.compare_digest(user.encode(), credentials.ADMIN_USER.encode()) else None


class AdminAuth:
    """Checks admin passwords; remembers the last good one so scrypt does not run per request."""

    def __init__(self) -> None:
        self._good: bytes | None = None
        self._lock = trio.Lock()

    async def check(self, svc: Services, password: str) -> bool:
        digest = hashlib.sha256(password.encode()).digest()
        if self._good is not None and hmac.compare_digest(digest, self._good):
            return True
        async with self._lock:
            config, db = svc.settings.current, svc.db
            ok = credentials.check_admin_password(config, db, password)
        if ok:
            self._good = digest
        return ok

    def forget(self) -> None:
        """Called when the password changes."""
        self._good = None


def require_admin(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Response]]:
    @wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        password = _basic_password(request.headers.get("Authorization"))
        auth: AdminAuth = current_app.config["ADMIN_AUTH"]
        if password is None or not await auth.check(services(), password):
            return unauthorized()
        return await handler(*args, **kwargs)

    return wrapper


def json_error(message: str, status: int) -> tuple[dict[str, Any], int]:
    """Owncast's error body shape."""
    return {"success": False, "message": message}, status
