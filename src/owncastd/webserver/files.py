"""Serving files from a fixed root without letting a request path leave it.

Every file route names its root (the viewer build, `<data_dir>/public`, the emoji folders) and
passes the request's sub-path through `confined`, which refuses empty, `.`/`..` and hidden
segments, backslashes and NUL, then resolves symlinks and checks the result is still inside the
root. Refusals and missing files are the same 404, so a probe learns nothing.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from quart import Response, send_file

BUILTIN_ASSETS = Path(__file__).resolve().parent / "assets"
"""Files shipped in the package: the default logo and emoji."""

# Explicit types for what we serve, so the answer does not depend on the host's mime.types
# (send_file adds the charset to text types).
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".txt": "text/plain",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}
IMAGE_SUFFIXES = frozenset({".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"})

NO_CACHE = "no-cache"
"""Revalidate every time (with the ETag): the file may change at any moment."""
IMMUTABLE = "public, max-age=31536000, immutable"
"""For content-hashed names."""
# Images that operators upload (an SVG can carry script) must not run as a page on our origin.
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def content_type(path: Path) -> str:
    return (
        _TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


def confined(root: Path, subpath: str) -> Path | None:
    """The regular file `subpath` names inside `root`, or None if it is missing or escapes."""
    if not subpath or len(subpath) > 1024 or "\x00" in subpath or "\\" in subpath:
        return None
    parts = subpath.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None  # also refuses absolute paths ("" first) and "//"
    try:
        base = root.resolve(strict=True)
        target = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


async def file_response(
    path: Path, cache_control: str = NO_CACHE, *, csp: str | None = None
) -> Response:
    """Send `path` (already confined) with its type, an ETag, conditional GET and ranges."""
    response = await send_file(path, mimetype=content_type(path), conditional=True)
    response.headers["Cache-Control"] = cache_control
    response.headers.pop("Expires", None)
    if csp:
        response.headers["Content-Security-Policy"] = csp
    return response


def not_found() -> Response:
    return Response("404 page not found\n", status=404, content_type="text/plain; charset=utf-8")
