"""The HLS fast path (webserver/fasthls.py) on raw sockets against a real daemon.

A connection's plain GET/HEAD requests under /hls/ are answered by the fast path; the first
request that is anything else hands the connection to hypercorn with the bytes already read.
The fast path writes a reason phrase ("200 OK") and h11 writes none ("200 "), which is how these
tests tell who answered.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from owncastd.chat import protocol as p
from owncastd.webserver import fasthls
from owncastd.webserver.routes import chat
from tests.daemon import Daemon
from tests.test_hls_e2e import MASTER, MEDIA, Playlist, live_daemon, parse

HOST = b"Host: 127.0.0.1\r\n"


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    @property
    def fast(self) -> bool:
        """Answered by the fast path (h11 writes no reason phrase)."""
        return self.reason != ""


class Raw:
    """One client socket: send bytes, read responses in order."""

    def __init__(self, daemon: Daemon) -> None:
        self.sock = socket.create_connection(("127.0.0.1", daemon.http_port), timeout=10)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(f"connection closed; unread: {self.buf[:200]!r}")
        self.buf += data

    def _take(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._fill()
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def response(self, *, head: bool = False) -> Response:
        version, status, reason = self._line().decode().split(" ", 2)
        assert version == "HTTP/1.1", version
        headers: dict[str, str] = {}
        while line := self._line():
            name, value = line.decode().split(":", 1)
            assert name.lower() not in headers or name.lower() == "set-cookie", line
            headers[name.lower()] = value.strip()
        body = b""
        code = int(status)
        if head or code in (101, 204, 304):
            pass
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while size := int(self._line(), 16):
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            assert self._line() == b""
        else:
            raise AssertionError(f"no length: {headers}")
        return Response(code, reason, headers, body)

    def closed(self, timeout: float = 5.0) -> bool:
        """The server closed the connection (EOF or reset) within `timeout`, nothing unread."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        assert data == b"", data[:200]
        return True


def get(path: str, *, method: str = "GET", extra: bytes = b"", version: str = "1.1") -> bytes:
    host = HOST if version == "1.1" else b""
    return f"{method} {path} HTTP/{version}\r\n".encode() + host + extra + b"\r\n"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from live_daemon(tmp_path_factory.mktemp("fasthls"), "320x180")


@pytest.fixture
def raw(live: Daemon) -> Iterator[Raw]:
    conn = Raw(live)
    yield conn
    conn.close()


def playlist(live: Daemon) -> Playlist:
    return parse(live.get(MEDIA).text)


def no_tracebacks(live: Daemon) -> None:
    assert "Traceback" not in live.log(), live.log()[-3000:]


def test_pipelined_hls_then_other_then_hls_on_one_connection(live: Daemon, raw: Raw) -> None:
    pl = playlist(live)
    init, segment = f"/hls/0/{pl.maps[-1]}", f"/hls/0/{pl.segments[-1]}"
    expected = {path: live.get(path).content for path in (init, segment)}
    raw.send(
        get(MASTER, extra=b"User-Agent: fasthls-test\r\n")
        + get(init)
        + get(MEDIA + f"?_HLS_msn={pl.media_sequence}")
        + get(segment)
        + get("/api/status")
        + get(segment)
        + get("/hls/0/nothing-here.m4s")
    )
    master = raw.response()
    assert master.fast and master.status == 200 and master.reason == "OK"
    assert master.body.startswith(b"#EXTM3U") and b"0/stream.m3u8" in master.body
    got_init = raw.response()
    assert got_init.fast and got_init.body == expected[init]
    assert got_init.headers["content-type"] == "video/mp4"
    assert "immutable" in got_init.headers["cache-control"]
    media = raw.response()
    assert media.fast and media.status == 200
    assert parse(media.body.decode()).segments
    assert media.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert media.headers["cache-control"] == "no-cache"
    got_segment = raw.response()
    assert got_segment.fast and got_segment.body == expected[segment]
    # Every HLS response carries the headers the ASGI path sends (app.py's included).
    for response in (master, got_init, media, got_segment):
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert int(response.headers["content-length"]) == len(response.body)
        assert response.headers["date"].endswith(" GMT")
        assert "connection" not in response.headers
    # The hand-over: hypercorn gets /api/status and what was pipelined after it.
    status = raw.response()
    assert not status.fast and status.status == 200
    assert "online" in json.loads(status.body)
    again = raw.response()
    assert not again.fast and again.body == expected[segment]
    missing = raw.response()
    assert not missing.fast and missing.status == 404
    # Still the same connection, served by hypercorn from now on.
    raw.send(get(MASTER))
    assert raw.response().body == master.body
    no_tracebacks(live)


def test_same_headers_as_the_asgi_path(live: Daemon, raw: Raw) -> None:
    """A percent-encoded target goes to hypercorn (which decodes it): both answers agree."""
    raw.send(get(MASTER) + get("/hls/stream%2Em3u8"))
    fast, slow = raw.response(), raw.response()
    assert fast.fast and not slow.fast
    assert fast.body == slow.body
    assert fast.headers == slow.headers | {"date": fast.headers["date"]}


def test_head_has_the_headers_and_no_body(live: Daemon, raw: Raw) -> None:
    segment = f"/hls/0/{playlist(live).segments[-1]}"
    body = live.get(segment).content
    raw.send(get(segment, method="HEAD") + get(segment))
    head = raw.response(head=True)
    assert head.fast and head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(body)
    assert head.headers["content-type"] == "video/iso.segment"
    # No body was written after the headers: the next response starts right there.
    after = raw.response()
    assert after.fast and after.body == body


def test_not_found_and_bad_queries_are_answered_fast(live: Daemon, raw: Raw) -> None:
    raw.send(get("/hls/9/stream.m3u8") + get(MEDIA + "?_HLS_msn=x") + get("/hls/0/../x"))
    for expected in (404, 400, 404):
        response = raw.response()
        assert response.fast and response.status == expected
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["access-control-allow-origin"] == "*"


def test_connection_close(live: Daemon, raw: Raw) -> None:
    raw.send(get(MASTER, extra=b"Connection: close\r\n") + get(MASTER))
    response = raw.response()
    assert response.fast and response.status == 200
    assert response.headers["connection"] == "close"
    assert raw.closed()  # the pipelined second request is not answered


def test_http_1_0(live: Daemon, raw: Raw) -> None:
    raw.send(get(MASTER, version="1.0"))
    response = raw.response()
    assert response.fast and response.status == 200 and response.body.startswith(b"#EXTM3U")
    assert response.headers["connection"] == "close"
    assert raw.closed()
    # With keep-alive asked for, still closed, as hypercorn (h11) does.
    again = Raw(live)
    try:
        again.send(get(MASTER, version="1.0", extra=b"Connection: keep-alive\r\n"))
        assert again.response().status == 200
        assert again.closed()
    finally:
        again.close()


def test_http_1_1_without_host_goes_to_hypercorn(live: Daemon, raw: Raw) -> None:
    raw.send(b"GET /hls/stream.m3u8 HTTP/1.1\r\n\r\n")
    response = raw.response()
    assert not response.fast and response.status == 400


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /hls/stream.m3u8 HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"GET /hls/stream.m3u8 HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /hls/stream.m3u8 HTTP/1.1\r\nHost: x\r\nBad\x01: y\r\n\r\n",
        b"GET /hls/stream.m3u8 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    ],
    ids=["request-line", "header-line", "control-char", "two-hosts"],
)
def test_malformed_requests_get_hypercorns_400(
    live: Daemon, raw: Raw, request_bytes: bytes
) -> None:
    raw.send(get(MASTER) + request_bytes)
    first = raw.response()
    assert first.fast and first.status == 200
    bad = raw.response()
    assert not bad.fast and bad.status == 400
    assert raw.closed()
    assert live.get(MASTER).status_code == 200


def test_oversize_header_block_gets_hypercorns_431(live: Daemon, raw: Raw) -> None:
    raw.send(get(MASTER))
    assert raw.response().fast
    raw.send(b"GET /hls/stream.m3u8 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
    response = raw.response()
    assert not response.fast and response.status == 431
    assert raw.closed()
    assert live.get(MASTER).status_code == 200
    no_tracebacks(live)


def test_lf_only_request_goes_to_hypercorn(live: Daemon, raw: Raw) -> None:
    raw.send(b"GET /hls/stream.m3u8 HTTP/1.1\nHost: x\n\n")
    response = raw.response()
    assert not response.fast and response.status == 200


@pytest.mark.parametrize(
    ("extra", "body"),
    [
        (b"Content-Length: 5\r\n", b"hello"),
        (b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
    ],
    ids=["content-length", "chunked"],
)
def test_a_request_with_a_body_goes_to_hypercorn(
    live: Daemon, raw: Raw, extra: bytes, body: bytes
) -> None:
    raw.send(get(MASTER, extra=extra) + body + get(MASTER) + get(MEDIA, method="POST"))
    with_body = raw.response()
    assert not with_body.fast and with_body.status == 200
    assert with_body.body.startswith(b"#EXTM3U")
    # The body was consumed as a body: the next request is read where it starts.
    after = raw.response()
    assert not after.fast and after.body == with_body.body
    post = raw.response()
    assert post.status == 405 and post.headers["allow"] == "GET, HEAD"


def test_content_length_zero_stays_on_the_fast_path(live: Daemon, raw: Raw) -> None:
    raw.send(get(MASTER, extra=b"Content-Length: 0\r\n"))
    assert raw.response().fast


def test_connection_close_with_a_pipelined_request_does_not_end_the_daemon(live: Daemon) -> None:
    """hypercorn answers such a connection with a 400 that can race the app's response; the
    error escaped its connection handler and ended the daemon within a few tries."""
    for method in ("OPTIONS", "GET"):
        for _ in range(40):
            conn = Raw(live)
            try:
                conn.send(get(MEDIA, method=method, extra=b"Connection: close\r\n") + get(MASTER))
                conn.closed(timeout=5)
            except (EOFError, AssertionError, ConnectionResetError):
                pass
            finally:
                conn.close()
    assert live.proc is not None and live.proc.poll() is None, live.log()[-3000:]
    assert live.get(MASTER).status_code == 200


def test_post_and_options_to_hls_go_to_the_asgi_handler(live: Daemon, raw: Raw) -> None:
    raw.send(
        get(MEDIA, method="OPTIONS") + get(MEDIA, method="POST", extra=b"Content-Length: 0\r\n")
    )
    options = raw.response()
    assert not options.fast and options.status == 204
    assert options.headers["access-control-allow-origin"] == "*"
    post = raw.response()
    assert not post.fast and post.status == 405


def test_blocking_reload_on_the_fast_path(live: Daemon, raw: Raw) -> None:
    pl = playlist(live)
    msn, part = pl.next_part()
    started = time.monotonic()
    raw.send(get(MEDIA + f"?_HLS_msn={msn}&_HLS_part={part}"))
    response = raw.response()
    assert response.fast and response.status == 200
    assert time.monotonic() - started < 3
    later = parse(response.body.decode())
    assert later.end_msn > msn or len(later.open_parts) > part


def test_the_keep_alive_timeout_closes_an_idle_connection(live: Daemon, raw: Raw) -> None:
    raw.send(get(MASTER))
    assert raw.response().fast
    started = time.monotonic()
    assert raw.closed(timeout=10)
    assert 4 < time.monotonic() - started < 7  # hypercorn's keep_alive_timeout: 5 s


def test_a_silent_new_connection_is_closed_after_the_keep_alive_timeout(
    live: Daemon, raw: Raw
) -> None:
    started = time.monotonic()
    assert raw.closed(timeout=10)
    assert 4 < time.monotonic() - started < 7


async def test_websocket_upgrade_after_hls_on_the_same_connection(live: Daemon) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        r = await client.post("/api/chat/register", json={"displayName": "Fast"})
        user = r.json()
    stream = await trio.open_tcp_stream("127.0.0.1", live.http_port)
    async with stream:
        await stream.send_all(get(MASTER))
        data = b""
        while b"#EXTM3U" not in data:
            data += await stream.receive_some()
        ws = WSConnection(ConnectionType.CLIENT)
        target = f"/ws?accessToken={user['accessToken']}"
        await stream.send_all(ws.send(Request(host="127.0.0.1", target=target)))
        events: list[Any] = []
        with trio.fail_after(10):
            while not any(isinstance(e, TextMessage) for e in events):
                ws.receive_data(await stream.receive_some())
                events += list(ws.events())
        assert isinstance(events[0], AcceptConnection)
        text = "".join(e.data for e in events if isinstance(e, TextMessage))
        info = json.loads(text.split("\n")[0])
        assert info["type"] == p.CONNECTED_USER_INFO and info["user"]["id"] == user["id"]


async def test_chat_fast_path_sees_the_socket_under_a_handed_over_connection() -> None:
    """routes/chat.py writes frames straight to the socket stream: through the hand-over
    wrapper it must find the trio.SocketStream, not give up (or write around the wrapper)."""
    a, b = trio.socket.socketpair()
    inner, peer = trio.SocketStream(a), trio.SocketStream(b)
    replay = fasthls.ReplayStream(inner, b"GET /ws HTTP/1.1\r\n")

    class TCP:
        stream: Any = replay
        send_lock = trio.Lock()

        async def protocol_send(self, event: object) -> None: ...

    class H11:
        def __init__(self, tcp: TCP) -> None:
            self.send = tcp.protocol_send

        async def stream_send(self, event: object) -> None: ...

    class WSStream:
        def __init__(self, h11: H11) -> None:
            self.send = h11.stream_send

        async def app_send(self, message: object) -> None: ...

    async def send_data(send: object, data: object) -> None: ...

    tcp = TCP()
    ws = SimpleNamespace(_send=partial(send_data, WSStream(H11(tcp)).app_send))
    assert chat._tcp_server(ws) is tcp
    raw = chat.HypercornRaw(tcp)
    assert raw.try_write(b"frame") == 5
    assert await peer.receive_some() == b"frame"
    # The replayed bytes come first, then the socket's.
    assert await replay.receive_some(4) == b"GET "
    assert await replay.receive_some() == b"/ws HTTP/1.1\r\n"
    await peer.send_all(b"more")
    assert await replay.receive_some() == b"more"
    assert not hasattr(replay, "do_handshake") and replay.socket is inner.socket
    await replay.aclose()
    await peer.aclose()


def test_shutdown_closes_idle_connections_at_once(daemon_factory: type[Daemon]) -> None:
    daemon = daemon_factory().start()
    conns = [Raw(daemon) for _ in range(3)]
    try:
        for conn in conns[:2]:
            conn.send(get(MASTER))  # offline: 404, from the fast path
            response = conn.response()
            assert response.fast and response.status == 404
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        for conn in conns:
            assert conn.closed(timeout=4)
        assert daemon.proc is not None
        assert daemon.proc.wait(timeout=10) == 0
        # Well before the 5 s keep-alive timeout (hypercorn closes idle connections at once).
        assert time.monotonic() - started < 3
    finally:
        for conn in conns:
            conn.close()


def test_install_is_idempotent_and_checks_hypercorn() -> None:
    from hypercorn.trio import run

    saved = vars(run)["TCPServer"]
    try:
        fasthls.install()
        assert vars(run)["TCPServer"] is fasthls.FastHLSServer
        fasthls.install()
        vars(run)["TCPServer"] = object
        with pytest.raises(RuntimeError, match="not hypercorn's TCPServer"):
            fasthls.install()
    finally:
        vars(run)["TCPServer"] = saved
