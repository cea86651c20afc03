"""The public API and files in Owncast's shapes, on real daemons: field names, types, defaults,
and paths that try to leave their folder."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import Daemon

# Owncast's WebConfig (spec/openapi.yaml); streamTitle and socketHostOverride are `omitempty`.
WEB_CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "appearanceVariables": dict,
    "name": str,
    "customStyles": str,
    "offlineMessage": str,
    "logo": str,
    "version": str,
    "extraPageContent": str,
    "summary": str,
    "tags": list,
    "socialHandles": list,
    "externalActions": list,
    "notifications": dict,
    "federation": dict,
    "maxSocketPayloadSize": int,
    "hideViewerCount": bool,
    "chatDisabled": bool,
    "nsfw": bool,
    "authentication": dict,
}

CUSTOM = """
[instance]
name = "Night <Owls>"
summary = "We stream \\"late\\" & loud"
stream_title = "Building a synth"
offline_message = "Back **soon**"
extra_page_content = "## Schedule\\n\\n<script>alert(1)</script><img src=x onerror=alert(1)>\\n\\n[docs](https://example.org) [bad](javascript:alert(1))"
tags = ["music"]
nsfw = true
hide_viewer_count = true
disable_search_indexing = true
logo = "branding/logo.png"
custom_css = "body { color: red; }"
custom_javascript = "console.log('hi');"
appearance_variables = { theme-color-background = "#20232a", "--color-text" = "white" }

[[instance.social_handles]]
platform = "mastodon"
url = "https://social.example/@owls"

[[instance.social_handles]]
platform = "myblog"
url = "https://blog.example"

[[instance.external_actions]]
title = "Donate"
url = "https://donate.example"
open_externally = true

[[instance.external_actions]]
title = "About"
html = "<b>hi</b><script>x()</script>"

[[video.variants]]
video_bitrate = 800
scaled_height = 480

[[video.variants]]
video_passthrough = true

[[video.variants]]
video_bitrate = 2500
framerate = 30

[[video.variants]]
name = "Phone"
video_bitrate = 400

[chat]
disabled = true

[federation]
enabled = true
username = "owls"
"""


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("plain")).start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("custom")
    d = Daemon(tmp)
    # Sections the base file already has are extended, not repeated.
    text = d.config_path.read_text().replace(
        "[server]\n", '[server]\npublic_url = "https://live.example.org/"\n'
    )
    d.config_path.write_text(text + CUSTOM)
    d.start()
    yield d
    d.stop()


def raw_get(d: Daemon, path: str) -> tuple[int, bytes]:
    """GET exactly `path` (no client-side normalisation of `..` or `//`)."""
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_types(body: dict[str, Any], types: dict[str, type | tuple[type, ...]]) -> None:
    for key, tp in types.items():
        assert key in body, key
        assert isinstance(body[key], tp), (key, body[key])


# --- /api/config -----------------------------------------------------------------------------


def test_web_config_defaults(plain: Daemon) -> None:
    config = plain.get("/api/config").json()
    check_types(config, WEB_CONFIG_TYPES)
    assert set(config) == set(WEB_CONFIG_TYPES)  # no empty streamTitle / socketHostOverride
    assert config["logo"] == "/logo"
    assert config["name"] == "New owncastd server"
    assert config["tags"] == ["owncast", "streaming"]
    assert config["offlineMessage"] == "" and config["extraPageContent"] == ""
    assert config["appearanceVariables"] == {} and config["customStyles"] == ""
    assert config["socialHandles"] == [] and config["externalActions"] == []
    assert config["notifications"] == {"browser": {"enabled": False}}
    assert config["federation"] == {"enabled": False}
    assert config["authentication"] == {"indieAuthEnabled": False}
    assert config["maxSocketPayloadSize"] > 0
    assert (config["hideViewerCount"], config["chatDisabled"], config["nsfw"]) == (
        False,
        False,
        False,
    )
    assert config["version"].startswith("owncastd")


def test_web_config_reflects_settings_rendered_and_sanitised(custom: Daemon) -> None:
    config = custom.get("/api/config").json()
    check_types(config, WEB_CONFIG_TYPES)
    assert config["name"] == "Night <Owls>"
    assert config["streamTitle"] == "Building a synth"
    assert config["offlineMessage"] == "<p>Back <strong>soon</strong></p>"
    page = config["extraPageContent"]
    assert "<h2>Schedule</h2>" in page
    assert '<a href="https://example.org"' in page
    for bad in ("<script", "onerror", 'href="javascript'):
        assert bad not in page
    assert config["tags"] == ["music"] and config["nsfw"] is True
    assert config["customStyles"] == "body { color: red; }"
    assert config["appearanceVariables"] == {
        "theme-color-background": "#20232a",
        "--color-text": "white",
    }
    assert config["socialHandles"] == [
        {
            "platform": "mastodon",
            "url": "https://social.example/@owls",
            "icon": "/img/platformlogos/mastodon.svg",
        },
        {"platform": "myblog", "url": "https://blog.example"},  # unknown platform: no icon
    ]
    donate, about = config["externalActions"]
    assert set(donate) == {"url", "html", "title", "description", "icon", "color", "openExternally"}
    assert (donate["title"], donate["url"], donate["openExternally"]) == (
        "Donate",
        "https://donate.example",
        True,
    )
    assert about["html"] == "<b>hi</b>"
    assert config["hideViewerCount"] is True and config["chatDisabled"] is True
    assert config["federation"] == {"enabled": True, "account": "owls@live.example.org"}
    assert config["authentication"] == {"indieAuthEnabled": True}


def test_status_hides_the_viewer_count(plain: Daemon, custom: Daemon) -> None:
    assert plain.status()["viewerCount"] == 0
    assert "viewerCount" not in custom.status()


# --- variants, platforms, emoji, yp ----------------------------------------------------------


def test_video_variants(plain: Daemon, custom: Daemon) -> None:
    assert plain.get("/api/video/variants").json() == [{"index": 0, "name": "1.2Mbps@24fps"}]
    # Passthrough first, then highest bitrate first; index stays the rendition's position.
    assert custom.get("/api/video/variants").json() == [
        {"index": 1, "name": "Source"},
        {"index": 2, "name": "2.5Mbps@30fps"},
        {"index": 0, "name": "480h"},
        {"index": 3, "name": "Phone"},
    ]


def test_social_platforms_and_their_icons(plain: Daemon) -> None:
    platforms = plain.get("/api/socialplatforms").json()
    assert {"github", "mastodon", "youtube", "twitch"} <= set(platforms)
    for key, entry in platforms.items():
        assert set(entry) == {"platform", "icon"}
        assert entry["icon"] == f"/img/platformlogos/{key}.svg"
    assert platforms["github"]["platform"] == "GitHub"
    icon = plain.get(platforms["github"]["icon"])
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert plain.get("/img/platformlogos/nosuch.svg").status_code == 404


def test_emoji_builtin_and_from_the_data_dir(plain: Daemon, tmp_path: Path) -> None:
    builtin = plain.get("/api/emoji").json()
    assert builtin and all(set(e) == {"name", "url"} for e in builtin)
    names = {e["name"] for e in builtin}
    assert "smile" in names
    url = next(e["url"] for e in builtin if e["name"] == "smile")
    image = plain.get(url)
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/svg")
    assert "sandbox" in image.headers["content-security-policy"]

    emoji_dir = plain.data_dir / "emoji"
    (emoji_dir / "party").mkdir(parents=True)
    (emoji_dir / "party" / "parrot.gif").write_bytes(b"GIF89a-parrot")
    (emoji_dir / "smile.png").write_bytes(b"\x89PNG-mine")
    (emoji_dir / "notes.txt").write_text("not an emoji")
    (emoji_dir / ".hidden.png").write_bytes(b"x")
    (tmp_path / "outside.png").write_bytes(b"outside")
    os.symlink(tmp_path / "outside.png", emoji_dir / "escape.png")

    listed = {e["name"]: e["url"] for e in plain.get("/api/emoji").json()}
    assert listed["parrot"] == "/img/emoji/party/parrot.gif"
    assert listed["smile"] == "/img/emoji/smile.png"  # the operator's wins
    assert "heart" in listed  # built-ins stay
    assert not {"notes", ".hidden", "escape"} & set(listed)
    assert plain.get("/img/emoji/party/parrot.gif").content == b"GIF89a-parrot"
    for path in (
        "/img/emoji/notes.txt",
        "/img/emoji/escape.png",
        "/img/emoji/../owncastd.toml",
        "/img/emoji/%2e%2e/%2e%2e/owncastd.toml",
    ):
        status, body = raw_get(plain, path)
        assert status in (400, 404), path
        assert plain.admin_password.encode() not in body


def test_yp_is_off(plain: Daemon) -> None:
    assert plain.get("/api/yp").status_code == 404


# --- text and images -------------------------------------------------------------------------


def test_robots_txt_exact_text(plain: Daemon, custom: Daemon) -> None:
    normal = plain.get("/robots.txt")
    assert normal.headers["content-type"].startswith("text/plain")
    assert normal.text == "User-agent: *\nDisallow: /admin\nDisallow: /api"
    assert custom.get("/robots.txt").text == (
        "User-agent: *\nDisallow: /admin\nDisallow: /api\nDisallow: /"
    )


def test_custom_javascript(plain: Daemon, custom: Daemon) -> None:
    empty = plain.get("/customjavascript")
    assert empty.status_code == 200 and empty.text == ""
    assert empty.headers["content-type"].startswith("text/javascript")
    assert custom.get("/customjavascript").text == "console.log('hi');"


def test_logo_builtin_configured_and_missing(plain: Daemon, custom: Daemon) -> None:
    builtin = plain.get("/logo")
    assert builtin.status_code == 200
    assert builtin.headers["content-type"].startswith("image/svg+xml")
    assert "sandbox" in builtin.headers["content-security-policy"]
    # custom's logo file does not exist yet: the built-in one, as Owncast does.
    assert custom.get("/logo").content == builtin.content
    (custom.data_dir / "branding").mkdir()
    (custom.data_dir / "branding" / "logo.png").write_bytes(b"\x89PNG-logo")
    configured = custom.get("/logo")
    assert configured.content == b"\x89PNG-logo"
    assert configured.headers["content-type"] == "image/png"


def test_thumbnail_and_preview_appear_when_written(plain: Daemon) -> None:
    for name, ctype, data in (
        ("thumbnail.jpg", "image/jpeg", b"\xff\xd8\xff-jpeg"),
        ("preview.gif", "image/gif", b"GIF89a-preview"),
    ):
        assert plain.get(f"/{name}").status_code == 404
        (plain.data_dir / name).write_bytes(data)
        response = plain.get(f"/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == ctype
        assert response.content == data
        assert response.headers["cache-control"] == "no-cache"
        etag = response.headers["etag"]
        again = plain.get(f"/{name}", headers={"If-None-Match": etag})
        assert again.status_code == 304
        (plain.data_dir / name).unlink()


# --- /public ---------------------------------------------------------------------------------


def test_public_files_are_served_live(plain: Daemon) -> None:
    public = plain.data_dir / "public"
    assert plain.get("/public/hello.txt").status_code == 404
    public.mkdir(exist_ok=True)
    (public / "hello.txt").write_text("hello from disk")
    response = plain.get("/public/hello.txt")
    assert response.status_code == 200 and response.text == "hello from disk"
    assert response.headers["content-type"].startswith("text/plain")
    (public / "sub").mkdir()
    (public / "sub" / "a.css").write_text("p{}")
    assert plain.get("/public/sub/a.css").text == "p{}"
    (public / "hello.txt").unlink()
    assert plain.get("/public/hello.txt").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/public/../owncastd.toml",
        "/public/../../owncastd.toml",
        "/public/%2e%2e/owncastd.toml",
        "/public/%2E%2E%2Fowncastd.toml",
        "/public/..%2f..%2fowncastd.toml",
        "/public/sub/../../owncastd.toml",
        "/public//etc/passwd",
        "/public/%2fetc%2fpasswd",
        "/public/..\\owncastd.toml",
        "/public/%00",
        "/public/.secret",
        "/public/escape.txt",
        "/public/escape-dir/owncastd.toml",
        "/public/",
        "/public",
    ],
)
def test_public_paths_cannot_leave_the_folder(plain: Daemon, path: str) -> None:
    public = plain.data_dir / "public"
    public.mkdir(exist_ok=True)
    (public / ".secret").write_text("hidden")
    for name, target in (("escape.txt", plain.config_path), ("escape-dir", plain.tmp)):
        if not (public / name).is_symlink():
            os.symlink(target, public / name)
    status, body = raw_get(plain, path)
    assert status in (400, 404), (path, status)
    assert plain.admin_password.encode() not in body
    assert b"hidden" not in body and b"root:" not in body
    assert plain.status()["online"] is False  # and the daemon keeps serving


def test_a_symlink_inside_the_folder_is_fine(plain: Daemon) -> None:
    public = plain.data_dir / "public"
    public.mkdir(exist_ok=True)
    (public / "real.txt").write_text("real")
    if not (public / "alias.txt").is_symlink():
        os.symlink(public / "real.txt", public / "alias.txt")
    assert plain.get("/public/alias.txt").text == "real"
