"""The viewer's pages on real daemons: which file each address serves, the link-preview tags put
into its head, the assets' caching, and the page that says the viewer is not built."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from owncastd import config as cfg
from owncastd.webserver.routes.pages import BUILTIN_WEB, head_tags
from tests.daemon import Daemon

PAGE = """<!doctype html>
<html><head>
<meta charset="utf-8" />
<!--OWNCASTD_HEAD-->
<script type="module" src="/assets/{name}-abc123.js"></script>
</head><body>{name}</body></html>
"""


def fake_build(root: Path) -> Path:
    """What `npm run build` writes, in miniature."""
    (root / "assets").mkdir(parents=True)
    for name in ("index", "embed-video", "embed-chat"):
        (root / f"{name}.html").write_text(PAGE.format(name=name))
        (root / "assets" / f"{name}-abc123.js").write_text(f"console.log('{name}')")
    (root / "assets" / "style-abc123.css").write_text("body{}")
    (root / "secret.txt").write_text("not an asset")
    return root


def with_server(d: Daemon, extra: str) -> None:
    """Add keys to the [server] table of the daemon's config file."""
    text = d.config_path.read_text().replace("[server]\n", "[server]\n" + extra, 1)
    d.config_path.write_text(text)


INSTANCE = """
[instance]
name = "Ana's <b>\\"Live\\"</b> & co"
summary = "Synths,\\n  modular   and loud."
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("site")
    d = Daemon(tmp, extra_toml=INSTANCE)
    with_server(d, f'web_dir = "{fake_build(tmp / "web")}"\n')
    d.start()
    yield d
    d.stop()


def meta(page: str, key: str) -> str:
    m = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)" />', page)
    assert m, key
    return html.unescape(m.group(1))


def test_pages_are_served_with_preview_tags(site: Daemon) -> None:
    response = site.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    page = response.text
    assert "<!--OWNCASTD_HEAD-->" not in page and "<body>index</body>" in page
    name = 'Ana\'s <b>"Live"</b> & co'
    # Escaped in the markup: no tag from the config reaches the page.
    assert "<b>" not in page.split("<body>")[0]
    assert f"<title>{html.escape(name)}</title>" in page
    assert meta(page, "og:title") == name
    assert meta(page, "og:site_name") == name
    assert meta(page, "twitter:title") == name
    assert meta(page, "og:description") == "Synths, modular and loud."
    assert meta(page, "description") == "Synths, modular and loud."
    assert meta(page, "og:url") == f"{site.url}/"
    # No thumbnail yet: the logo, with a small card.
    assert meta(page, "og:image") == f"{site.url}/logo"
    assert meta(page, "twitter:card") == "summary"

    (site.data_dir / "thumbnail.jpg").write_bytes(b"\xff\xd8\xff")
    try:
        page = site.get("/embed/video").text
        assert "<body>embed-video</body>" in page
        assert meta(page, "og:image") == f"{site.url}/thumbnail.jpg"
        assert meta(page, "twitter:image") == f"{site.url}/thumbnail.jpg"
        assert meta(page, "twitter:card") == "summary_large_image"
        assert meta(page, "og:url") == f"{site.url}/embed/video"
    finally:
        (site.data_dir / "thumbnail.jpg").unlink()


def test_chat_embeds_and_the_redirect(site: Daemon) -> None:
    for path in ("/embed/chat/readonly", "/embed/chat/readwrite"):
        page = site.get(path).text
        assert "<body>embed-chat</body>" in page and "<title>" in page
    for path in ("/embed/chat", "/embed/chat/"):
        redirect = site.get(path)
        assert redirect.status_code == 307
        assert redirect.headers["location"] == "/embed/chat/readonly"


def test_assets_are_immutable_and_confined(site: Daemon) -> None:
    asset = site.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.text == "console.log('index')"
    assert asset.headers["content-type"].startswith("text/javascript")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert site.get("/assets/style-abc123.css").headers["content-type"].startswith("text/css")
    for path in ("/assets/missing.js", "/assets/../secret.txt", "/assets/%2e%2e/secret.txt"):
        response = httpx.get(site.url + path)
        assert response.status_code == 404, path
        assert "not an asset" not in response.text


def test_public_url_makes_the_absolute_links(tmp_path: Path, daemon_factory: type[Daemon]) -> None:
    d = daemon_factory(tmp=tmp_path)
    with_server(
        d,
        f'public_url = "https://live.example.org/"\nweb_dir = "{fake_build(tmp_path / "w")}"\n',
    )
    d.start()
    page = d.get("/").text
    assert meta(page, "og:url") == "https://live.example.org/"
    assert meta(page, "og:image") == "https://live.example.org/logo"


def test_not_built_says_so(tmp_path: Path, daemon_factory: type[Daemon]) -> None:
    d = daemon_factory(tmp=tmp_path)
    (tmp_path / "empty").mkdir()
    with_server(d, f'web_dir = "{tmp_path / "empty"}"\n')
    d.start()
    for path in ("/", "/embed/video", "/embed/chat/readonly"):
        response = d.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "viewer page is not built" in response.text
        assert "make serve" in response.text
    assert d.get("/assets/index.js").status_code == 404
    assert d.get("/api/status").status_code == 200
    assert "Traceback" not in d.log()


def test_head_tags_while_live() -> None:
    config = cfg.Config()
    tags = head_tags(
        config,
        live_title="Night <session>",
        base="http://h",
        path="/",
        image="http://h/thumbnail.jpg",
    )
    assert "<title>Night &lt;session&gt; · New owncastd server</title>" in tags


@pytest.mark.skipif(
    not (BUILTIN_WEB / "index.html").exists(), reason="the viewer page is not built (npm)"
)
def test_the_shipped_build_loads_with_all_its_assets(daemon: Daemon) -> None:
    for path, page_file in (
        ("/", "index.html"),
        ("/embed/video", "embed-video.html"),
        ("/embed/chat/readwrite", "embed-chat.html"),
    ):
        page = daemon.get(path).text
        assert "<!--OWNCASTD_HEAD-->" not in page and "<title>" in page, path
        assert "og:image" in page
        referenced = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page)
        assert referenced, page_file
        for asset in referenced:
            response = daemon.get(asset)
            assert response.status_code == 200, asset
            assert "immutable" in response.headers["cache-control"]
