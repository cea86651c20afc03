"""Security defaults across the HTTP surface: admin auth, no CORS on admin data, confined paths,
bounded bodies."""

from __future__ import annotations

import httpx
import pytest

from tests.daemon import Daemon

ADMIN_GETS = [
    "/api/admin/status",
    "/api/admin/disconnect",
    "/api/admin/viewers",
    "/api/admin/viewersOverTime",
]


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_admin_routes_need_auth(daemon: Daemon, path: str) -> None:
    response = daemon.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    # The refused request's body may be unread: the connection is not reused.
    assert response.headers["Connection"] == "close"
    assert "online" not in response.text


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_a_cross_origin_page_cannot_read_admin_data(daemon: Daemon, path: str) -> None:
    evil = {"Origin": "https://evil.example"}
    preflight = httpx.options(
        daemon.url + path,
        headers={
            **evil,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    # Even with the right credentials, no CORS header lets a browser hand the body to the page.
    response = daemon.get(path, headers=evil, auth=daemon.admin_auth)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/public/../owncastd.db",
        "/public/%2e%2e/owncastd.db",
        "/public/..%2fowncastd.db",
        "/hls/0/../../owncastd.db",
        "/hls/0/%2e%2e%2fowncastd.db",
        "/hls/0/owncastd.pid",
        "/img/emoji/../../owncastd.db",
        "/assets/../../../owncastd.db",
        "/assets/%2e%2e/%2e%2e/db/__init__.py",
    ],
)
def test_paths_never_leave_their_folder(daemon: Daemon, path: str) -> None:
    # httpx would normalise the dots away: send the raw target.
    with httpx.Client() as client:
        request = client.build_request("GET", daemon.url + "/")
        request.url = request.url.copy_with(raw_path=path.encode())
        response = client.send(request)
    assert response.status_code in (400, 404), path
    assert b"SQLite format" not in response.content
    assert b"import" not in response.content


def test_oversize_and_chunked_bodies_are_refused(daemon: Daemon) -> None:
    big = b"{" + b" " * (2 << 20) + b"}"
    response = httpx.post(
        daemon.url + "/api/metrics/playback",
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(64):
            yield b" " * 65536

    chunked = httpx.post(
        daemon.url + "/api/metrics/playback",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    assert daemon.status()["online"] is False  # still serving
