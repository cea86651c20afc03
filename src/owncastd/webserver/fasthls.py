"""A lean HTTP/1.1 path for the HLS requests, in front of hypercorn on the same connections.

Every LL-HLS viewer makes two requests per part (a blocking playlist reload, then the part) on a
keep-alive connection. Through hypercorn each costs h11 event objects, a task, idle-timer tasks
and several socket writes, which capped a daemon at about 250 viewers. `FastHLSServer` is
hypercorn's `TCPServer` with a front: while a connection sends plain `GET`/`HEAD /hls/...`
requests (HTTP/1.1 or 1.0, no body, no upgrade), it parses them itself, asks the app's
`HLSHandler.handle` (the same code the ASGI path runs) and writes each response, headers and
body, with one `send_all`. At the first request that is anything else (another path or method, a
body, malformed, headers over hypercorn's `h11_max_incomplete_size`) the connection goes to
hypercorn's own `TCPServer.run` with every byte read and not answered yet replayed first, so
hypercorn answers it exactly as if it had read them itself (its 400/431 included). A connection
never comes back from hypercorn.

`install()` points hypercorn's trio worker at this class (the daemon calls it before serving).
"""

from __future__ import annotations

import contextlib
import re
from http import HTTPStatus
from math import inf
from time import time
from typing import Any
from wsgiref.handlers import format_date_time

import trio
from hypercorn.trio import run as hypercorn_run
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.utils import parse_socket_addr, wrap_app

from owncastd.logs import get_logger
from owncastd.webserver.routes.hls import HLSHandler, Reply, handler_of, reply_headers

log = get_logger(__name__)

# Origin-form targets under /hls/ in visible ASCII, without "%" (the ASGI path gets the target
# percent-decoded from hypercorn; such rare requests go there) or "#".
_REQUEST_LINE = re.compile(rb"(GET|HEAD) (/hls/[\x21\x22\x24\x26-\x7e]*) HTTP/1\.([01])")
# RFC 9110 field: a token name, optional whitespace around a value without control characters.
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
# Requests with these go to hypercorn: a body, 100-continue, a protocol switch.
_HANDED_OVER = frozenset((b"transfer-encoding", b"expect", b"upgrade"))
_SERVER_ERROR = Reply(500, b"internal server error\n", "x.txt")


class _Request:
    __slots__ = ("close", "head", "headers", "path", "query")

    def __init__(
        self, head: bool, path: str, query: bytes, headers: list[tuple[bytes, bytes]], close: bool
    ) -> None:
        self.head = head
        self.path = path
        self.query = query
        self.headers = headers
        self.close = close


def _parse(block: bytes) -> _Request | None:
    """The request of a header block (without its final blank line) if the fast path answers
    it, else None (hypercorn will)."""
    lines = block.split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        return None
    http10 = match[3] == b"0"
    close = http10  # h11 keeps no HTTP/1.0 connection alive; neither do we
    hosts = 0
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        field = _HEADER.fullmatch(line)
        if field is None:
            return None
        name, value = field[1].lower(), field[2]
        if name in _HANDED_OVER:
            return None
        if name == b"content-length":
            if value != b"0":
                return None
        elif name == b"host":
            hosts += 1
        elif name == b"connection":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"upgrade" in tokens:
                return None
            if b"close" in tokens:
                close = True
        headers.append((name, value))
    if hosts > 1 or (hosts == 0 and not http10):
        return None  # h11 answers 400
    path, _, query = match[2].partition(b"?")
    return _Request(match[1] == b"HEAD", path.decode("ascii"), query, headers, close)


_status_lines: dict[int, bytes] = {}
_date: tuple[int, bytes] = (0, b"")


def _status_line(status: int) -> bytes:
    line = _status_lines.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        line = _status_lines[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")
    return line


def _date_header() -> bytes:
    global _date
    now = int(time())
    if now != _date[0]:
        _date = (now, f"date: {format_date_time(now)}\r\n".encode("ascii"))
    return _date[1]


def response(reply: Reply, *, head: bool, close: bool) -> bytes:
    """Status line, headers (those of the ASGI path, plus date) and body of `reply`."""
    parts = [_status_line(reply.status)]
    parts += [name + b": " + value + b"\r\n" for name, value in reply_headers(reply)]
    parts.append(_date_header())
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(reply.body)
    return b"".join(parts)


class ReplayStream(trio.abc.HalfCloseableStream):
    """The connection's socket stream, with the bytes the fast path read but did not answer
    received first. No `do_handshake`: hypercorn takes it for the plain TCP stream it is."""

    def __init__(self, inner: trio.SocketStream, data: bytes) -> None:
        self.inner = inner  # routes/chat.py unwraps it for its websocket fast path
        self.socket = inner.socket
        self._data = data

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if not self._data:
            return await self.inner.receive_some(max_bytes)
        await trio.lowlevel.checkpoint()
        size = len(self._data) if max_bytes is None else max_bytes
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


class FastHLSServer(TCPServer):
    """hypercorn's connection handler, answering the HLS requests that open a connection."""

    _idle: trio.CancelScope | None = None

    async def run(self) -> None:
        try:
            await self._run()
        except* Exception:
            # One connection must not end the server. hypercorn 0.18 lets errors escape: a
            # request with `Connection: close` and another pipelined behind it can make h11's
            # 400 race the app's response (BusyResourceError), which ended the whole daemon.
            log.exception("web connection failed")
            with contextlib.suppress(Exception):
                await self.stream.aclose()

    async def _run(self) -> None:
        stream: Any = self.stream
        handler = handler_of(getattr(self.app, "app", None))
        if handler is None or type(stream) is not trio.SocketStream or self.config.server_names:
            await super().run()
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_shutdown)
            rest = await self._serve(handler, stream)
            nursery.cancel_scope.cancel()
        if rest is None:
            await self._close()
            return
        # hypercorn types its stream as an SSLStream; it checks for do_handshake at run time.
        self.stream = ReplayStream(stream, rest)  # type: ignore[assignment]
        await super().run()

    async def _watch_shutdown(self) -> None:
        # hypercorn closes idle connections at shutdown; a request being answered is finished.
        await self.context.terminated.wait()
        if self._idle is not None:
            self._idle.cancel()

    async def _serve(self, handler: HLSHandler, stream: trio.SocketStream) -> bytes | None:
        """Answer HLS requests until one is something else: then return the bytes read and not
        answered, for hypercorn. None when the connection is to be closed."""
        try:
            sock = stream.socket
            client = parse_socket_addr(sock.family, sock.getpeername())
        except OSError:
            return None
        config = self.config
        limit = config.h11_max_incomplete_size
        read_timeout = config.read_timeout or inf
        terminated = self.context.terminated
        buf = bytearray()
        served = 0
        idle_deadline = trio.current_time() + config.keep_alive_timeout
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > limit or b"\n\n" in buf or b"\n\r\n" in buf:
                    return bytes(buf)  # oversize, or bare LF line ends: hypercorn's to judge
                if terminated.is_set():
                    return None
                data = b""  # stays empty on a timeout or shutdown: the connection closes
                deadline = min(idle_deadline, trio.current_time() + read_timeout)
                with (
                    trio.CancelScope(deadline=deadline) as self._idle,
                    contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
                ):
                    data = await stream.receive_some(MAX_RECV)
                self._idle = None
                if not data:
                    return None
                buf += data
                continue
            if end > limit:
                return bytes(buf)
            request = _parse(bytes(buf[:end]))
            if request is None:
                return bytes(buf)
            del buf[: end + 4]
            scope = {
                "type": "http",
                "method": "HEAD" if request.head else "GET",
                "path": request.path,
                "query_string": request.query,
                "headers": request.headers,
                "client": client,
            }
            try:
                reply = await handler.handle(scope, request.path)
            except Exception:
                log.exception("HLS request failed", path=request.path)
                reply, request.close = _SERVER_ERROR, True
            served += 1
            close = request.close or served >= config.keep_alive_max_requests or terminated.is_set()
            try:
                await stream.send_all(response(reply, head=request.head, close=close))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            await self.context.mark_request()
            if close:
                return None
            idle_deadline = trio.current_time() + config.keep_alive_timeout


def install() -> None:
    """Make hypercorn's trio worker build its connections with FastHLSServer. Raises
    RuntimeError if hypercorn no longer works the way this relies on."""
    current = vars(hypercorn_run).get("TCPServer")
    if current is FastHLSServer:
        return
    problems = []
    if current is not TCPServer:
        problems.append("hypercorn.trio.run.TCPServer is not hypercorn's TCPServer")
    if "TCPServer" not in hypercorn_run.worker_serve.__code__.co_names:
        problems.append("worker_serve no longer uses the module's TCPServer")
    missing = [name for name in ("run", "_close") if not hasattr(TCPServer, name)]
    stored = TCPServer.__init__.__code__.co_names  # the attributes __init__ sets
    missing += [name for name in ("stream", "app", "config", "context") if name not in stored]
    if missing:
        problems.append(f"TCPServer has no {', '.join(missing)}")
    marker = object()
    if getattr(wrap_app(marker, 0, "asgi"), "app", None) is not marker:  # type: ignore[arg-type]
        problems.append("hypercorn's ASGI wrapper does not keep the app as .app")
    if problems:
        raise RuntimeError("the HLS fast path cannot be installed: " + "; ".join(problems))
    hypercorn_run.TCPServer = FastHLSServer  # type: ignore[attr-defined]
