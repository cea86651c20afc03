"""The viewer's pages and the files around them, at Owncast's addresses.

Pages: `/`, `/embed/video`, `/embed/chat/readonly|readwrite` from the Vite build (`static/`, or
`server.web_dir`), with `<!--OWNCASTD_HEAD-->` replaced by the title and link-preview tags, and
the build's `/assets/*`. Files: `/public/*` (live from `<data_dir>/public`), `/img/emoji/*`,
`/logo`, `/thumbnail.jpg`, `/preview.gif`, `/img/platformlogos/*`. Text: `/robots.txt`,
`/customjavascript`. Every path from a request goes through `files.confined`.
"""

from __future__ import annotations

import html
from pathlib import Path

import trio
from quart import Blueprint, Response, request

from owncastd import config as cfg
from owncastd.webserver import files
from owncastd.webserver.auth import services

bp = Blueprint("pages", __name__)

BUILTIN_WEB = Path(__file__).resolve().parent.parent / "static"
HEAD_MARKER = "<!--OWNCASTD_HEAD-->"
PAGES = {
    "index": "index.html",
    "embed-video": "embed-video.html",
    "embed-chat": "embed-chat.html",
}
SOCIAL_PLATFORMS: dict[str, str] = {
    "bandcamp": "Bandcamp",
    "discord": "Discord",
    "facebook": "Facebook",
    "github": "GitHub",
    "gitlab": "GitLab",
    "instagram": "Instagram",
    "keyoxide": "Keyoxide",
    "kofi": "Ko-Fi",
    "linkedin": "LinkedIn",
    "mastodon": "Mastodon",
    "patreon": "Patreon",
    "paypal": "Paypal",
    "snapchat": "Snapchat",
    "soundcloud": "Soundcloud",
    "spotify": "Spotify",
    "tiktok": "TikTok",
    "twitch": "Twitch",
    "twitter": "Twitter",
    "youtube": "YouTube",
    "odysee": "Odysee",
    "lbry": "LBRY",
    "liberapay": "LiberaPay",
    "donate": "Donations",
    "follow": "Follow",
}
"""Owncast's known platforms (`GET /api/socialplatforms`), key to display name."""

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>owncastd</title></head>
<body>
<h1>The viewer page is not built</h1>
<p>owncastd is running, but this copy has no viewer page. Build it with <code>make serve</code>,
or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload.</p>
<p>The API (<a href="/api/status">/api/status</a>) and the streams under <code>/hls/</code> work
without it.</p>
</body></html>
"""


def platform_icon(platform: str) -> str | None:
    return f"/img/platformlogos/{platform}.svg" if platform in SOCIAL_PLATFORMS else None


def web_root(config: cfg.Config) -> Path:
    return Path(config.server.web_dir) if config.server.web_dir else BUILTIN_WEB


def data_path(config: cfg.Config) -> Path:
    return config.data_path


# --- pages -----------------------------------------------------------------------------------


def public_base(config: cfg.Config) -> str:
    """Where links in previews point: server.public_url, else this request's scheme and host."""
    if config.server.public_url:
        return config.server.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def head_tags(config: cfg.Config, *, live_title: str, base: str, path: str, image: str) -> str:
    """`<title>` plus OpenGraph and Twitter-card tags, every value HTML-escaped."""
    inst = config.instance
    name = inst.name.strip() or "owncastd"
    title = f"{live_title} · {name}" if live_title else name
    summary = " ".join(inst.summary.split())[:300]

    def esc(value: str) -> str:
        return html.escape(value, quote=True)

    card = "summary_large_image" if image.endswith("/thumbnail.jpg") else "summary"
    meta = [
        ("name", "description", summary),
        ("property", "og:type", "video.other"),
        ("property", "og:site_name", name),
        ("property", "og:title", title),
        ("property", "og:description", summary),
        ("property", "og:url", base + path),
        ("property", "og:image", image),
        ("name", "twitter:card", card),
        ("name", "twitter:title", title),
        ("name", "twitter:description", summary),
        ("name", "twitter:image", image),
    ]
    lines = [f"<title>{esc(title)}</title>"]
    lines += [f'<meta {attr}="{esc(key)}" content="{esc(value)}" />' for attr, key, value in meta]
    return "\n    ".join(lines)


async def _page(page: str) -> Response:
    svc = services()
    config = svc.settings.current
    path = files.confined(web_root(config), PAGES[page])
    if path is None:
        return Response(
            NOT_BUILT,
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )
    text = await trio.Path(path).read_text(encoding="utf-8")
    base = public_base(config)
    # A link preview wants the live picture; before the first thumbnail exists, the logo.
    has_thumbnail = files.confined(data_path(config), "thumbnail.jpg") is not None
    image = base + ("/thumbnail.jpg" if has_thumbnail else "/logo")
    live_title = config.instance.stream_title.strip() if svc.broadcaster.online else ""
    tags = head_tags(config, live_title=live_title, base=base, path=request.path, image=image)
    return Response(
        text.replace(HEAD_MARKER, tags, 1),
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@bp.get("/")
async def index() -> Response:
    return await _page("index")


@bp.get("/embed/video")
async def embed_video() -> Response:
    return await _page("embed-video")


@bp.get("/embed/chat/readonly")
@bp.get("/embed/chat/readwrite")
async def embed_chat() -> Response:
    return await _page("embed-chat")


@bp.get("/embed/chat")
@bp.get("/embed/chat/")
async def embed_chat_default() -> Response:
    return Response("", status=307, headers={"Location": "/embed/chat/readonly"})


@bp.get("/assets/<path:name>", merge_slashes=False)
async def assets(name: str) -> Response:
    config = services().settings.current
    path = files.confined(web_root(config) / "assets", name)
    if path is None:
        return files.not_found()
    return await files.file_response(path, files.IMMUTABLE)


# --- files -----------------------------------------------------------------------------------


@bp.get("/public/<path:name>", merge_slashes=False)
async def public_file(name: str) -> Response:
    """`<data_dir>/public`, read live from disk (Owncast's API test writes a file and fetches it)."""
    path = files.confined(data_path(services().settings.current) / "public", name)
    if path is None:
        return files.not_found()
    return await files.file_response(path)


@bp.get("/img/emoji/<path:name>", merge_slashes=False)
async def emoji_image(name: str) -> Response:
    config = services().settings.current
    path = files.confined(data_path(config) / "emoji", name) or files.confined(
        files.BUILTIN_ASSETS / "emoji", name
    )
    if path is None or path.suffix.lower() not in files.IMAGE_SUFFIXES:
        return files.not_found()
    return await files.file_response(path, "public, max-age=3600", csp=files.IMAGE_CSP)


@bp.get("/logo")
async def logo() -> Response:
    config = services().settings.current
    path = None
    if config.instance.logo:
        path = files.confined(data_path(config), config.instance.logo)
        if path is not None and path.suffix.lower() not in files.IMAGE_SUFFIXES:
            path = None
    # A configured logo that is missing falls back to the built-in one, as Owncast does.
    path = path or files.BUILTIN_ASSETS / "logo.svg"
    return await files.file_response(path, csp=files.IMAGE_CSP)


@bp.get("/thumbnail.jpg")
async def thumbnail() -> Response:
    path = files.confined(data_path(services().settings.current), "thumbnail.jpg")
    return await files.file_response(path) if path else files.not_found()


@bp.get("/preview.gif")
async def preview() -> Response:
    path = files.confined(data_path(services().settings.current), "preview.gif")
    return await files.file_response(path) if path else files.not_found()


@bp.get("/img/platformlogos/<name>")
async def platform_logo(name: str) -> Response:
    """A plain monogram badge per known platform (we ship no third-party brand artwork)."""
    platform = name.removesuffix(".svg")
    if not name.endswith(".svg") or platform not in SOCIAL_PLATFORMS:
        return files.not_found()
    letter = html.escape(SOCIAL_PLATFORMS[platform][0])
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        '<circle cx="16" cy="16" r="16" fill="#5a6478"/>'
        '<text x="16" y="21.5" font-family="sans-serif" font-size="16" font-weight="700" '
        f'fill="#fff" text-anchor="middle">{letter}</text></svg>'
    )
    return Response(
        svg,
        content_type="image/svg+xml",
        headers={
            "Cache-Control": "public, max-age=86400",
            "Content-Security-Policy": files.IMAGE_CSP,
        },
    )


# --- text ------------------------------------------------------------------------------------


@bp.get("/robots.txt")
async def robots() -> Response:
    """Owncast's exact text: lines joined by newlines, no trailing newline."""
    lines = ["User-agent: *", "Disallow: /admin", "Disallow: /api"]
    if services().settings.current.instance.disable_search_indexing:
        lines.append("Disallow: /")
    return Response("\n".join(lines), content_type="text/plain")


@bp.get("/customjavascript")
async def custom_javascript() -> Response:
    script = services().settings.current.instance.custom_javascript
    return Response(
        script,
        content_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )
