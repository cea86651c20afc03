"""The chat hub: connected clients, their rules, moderation, and fan-out that never stalls.

Fan-out: a broadcast event is serialised once and appended to a pending list; a flush (at once
when few clients are connected, else after a short coalescing window) joins the pending events
into one newline-separated chunk and appends that same string to every client's queue. Each
client has one writer task that sends everything queued as one text frame. Queues are bounded
in events: a client whose queue overflows, or whose send has been stuck for WRITE_TIMEOUT, is
dropped (its transport closed), so one slow reader never holds up the others.

Tasks: `run` is started in the daemon's root nursery (bus events, timers for part and kick
messages, a sync loop that picks up bans made by the CLI); `serve` runs one websocket's reader
and writer in a nursery opened inside the websocket handler.
"""

from __future__ import annotations

import logging
import random
import resource
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from owncastd import config as cfg
from owncastd.chat import ipban, moderation, names, render
from owncastd.chat import protocol as p
from owncastd.chat.ratelimit import FloodGuard, Verdict
from owncastd.db import Database
from owncastd.db.queries import chat as q
from owncastd.events import EventBus, StreamStarted, StreamStopped, StreamTitleChanged
from owncastd.logs import get_logger
from owncastd.timefmt import rfc3339

log = get_logger(__name__)
# markdown-it logs every rule it tries at debug level: far too much for a daemon's debug log.
logging.getLogger("markdown_it").setLevel(logging.INFO)

MAX_QUEUED_EVENTS = 256
"""Events a client may have waiting (Owncast's send buffer); more and it is dropped."""
WRITE_TIMEOUT = 10.0
"""A send stuck this long (the peer stopped reading) drops the client."""
PART_GRACE = 10.0
"""USER_PARTED waits this long after a user's last connection closes; a reconnect cancels it."""
WELCOME_DELAY = 7.0
KICK_DELAY = 2.0
"""A disabled user's clients get ERROR_USER_DISABLED, then are closed this much later."""
ESTABLISHED_SECONDS = 15 * 60.0
OFFLINE_CUTOFF = 5 * 60.0
"""Messages are refused once the stream has been offline this long (Owncast)."""
HISTORY_SIZE = 50
SYNC_INTERVAL = 2.0
"""How often the hub looks for changes another process (the CLI) committed."""
PRUNE_INTERVAL = 3600.0
MAX_COALESCE = 0.1
COALESCE_PER_CLIENT = 0.00004
"""The flush window grows with the audience (40 ms per 1,000 clients, at most MAX_COALESCE):
with few clients every event goes out at once, with thousands they share frames."""

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009


def default_max_clients() -> int:
    """Owncast's limit: a share of the open-file limit, so accept() never runs out."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 50_000
    return max(16, int(soft * 0.8) - 64)


def new_id() -> str:
    return secrets.token_urlsafe(8)


class RawTransport(Protocol):
    """Direct writes of whole websocket frames to a connection's socket (the fast path: one
    frame built per flush, one send() per client, no task switch when the socket has room)."""

    def try_write(self, frame: bytes) -> int | None:
        """Write now if nothing else is writing: the bytes written (a short count reserves the
        transport until `finish` sends the rest), or None when busy."""

    async def finish(self, rest: bytes) -> None:
        """Send the rest of a frame `try_write` started, then release the transport."""

    async def write(self, data: bytes) -> None:
        """Send whole frames, waiting for the transport."""


class Connection(Protocol):
    """What the hub needs from one websocket."""

    @property
    def raw(self) -> RawTransport | None:
        """The fast path, when the server under the websocket allows it."""

    async def send(self, text: str) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def close(self, code: int) -> None: ...

    def abort(self) -> None:
        """Close the transport now, even while a send is blocked (a peer that stopped reading)."""


class StreamStatus(Protocol):
    """The broadcaster as the hub sees it."""

    @property
    def online(self) -> bool: ...

    @property
    def last_disconnect_time(self) -> float | None: ...


class ChatSettings(Protocol):
    @property
    def current(self) -> cfg.Config: ...

    def on_change(self, listener: Callable[[cfg.Config], None]) -> None: ...


@dataclass(eq=False)
class ChatClient:
    """One websocket connection of a user."""

    id: int
    user: p.User
    ip: str
    user_agent: str
    connected_at: float
    conn: Connection
    message_count: int = 0
    guard: FloodGuard = field(default_factory=FloodGuard)
    queue: deque[bytes] = field(default_factory=deque)
    """Payloads (UTF-8 JSON lines) waiting for the writer."""
    queued_events: int = 0
    rest: bytes = b""
    """The unsent tail of a frame written directly; it goes out before anything else."""
    closing: str | None = None
    send_started: float | None = None
    cancel_scope: trio.CancelScope | None = None
    _lot: trio.lowlevel.ParkingLot = field(default_factory=trio.lowlevel.ParkingLot)

    def to_json(self) -> dict[str, Any]:
        """Owncast's Client in /api/admin/chat/clients."""
        return {
            "id": self.id,
            "connectedAt": rfc3339(self.connected_at),
            "user": self.user.to_json(),
            "geo": None,
            "userAgent": self.user_agent,
            "messageCount": self.message_count,
        }


def user_from_row(row: q.UserRow) -> p.User:
    return p.User(
        id=row.id,
        display_name=row.display_name,
        display_color=row.display_color,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        name_changed_at=row.name_changed_at,
        previous_names=list(row.previous_names),
        scopes=list(row.scopes),
        type=row.type,
        authenticated_at=row.authenticated_at,
    )


class ChatHub:
    """The chat service of one channel."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: ChatSettings,
        stream: StreamStatus,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_clients: int | None = None,
        coalesce: bool = True,
    ) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self._stream = stream
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self.max_clients = max_clients if max_clients is not None else default_max_clients()
        self._coalesce = coalesce
        self.clients: dict[int, ChatClient] = {}
        self._by_user: dict[str, set[ChatClient]] = {}
        self._users: dict[str, p.User] = {}
        self._next_client_id = 1
        self._pending: list[str] = []
        self._flush_lot = trio.lowlevel.ParkingLot()
        self._flush_due = False
        self._part_timers: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self.bans = moderation.ban_list(db)
        self._disabled_ids = q.disabled_user_ids(db)
        self._data_version = q.data_version(db)
        self._title = settings.current.instance.stream_title
        self._chat_disabled = settings.current.chat.disabled
        self.dropped_slow = 0
        self.frames_sent = 0

    # --- the service -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        events = self._bus.subscribe("chat", 256)
        self._settings.on_change(self._config_changed)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._follow_bus, events)
                nursery.start_soon(self._flusher)
                nursery.start_soon(self._sync_loop)
                task_status.started()
        finally:
            self._nursery = None
            self._bus.unsubscribe("chat")

    @property
    def config(self) -> cfg.ChatConfig:
        return self._settings.current.chat

    def now(self) -> float:
        return self._clock()

    def _spawn(self, fn: Callable[..., Awaitable[None]], *args: Any) -> bool:
        """Start a timer task in the hub's nursery; False once the hub is stopping."""
        if self._nursery is None:
            return False
        try:
            self._nursery.start_soon(fn, *args)
        except RuntimeError:  # the nursery is closing: the daemon is shutting down
            return False
        return True

    # --- registration and connection checks --------------------------------------------------

    def register(self, proposed: str | None) -> tuple[p.User, str]:
        """A new anonymous user and its access token (shown once; only its hash is stored)."""
        config = self.config
        name = names.clean_name(proposed or "")
        if not name or names.forbidden_match(name, config.forbidden_usernames):
            name = names.random_name(self._rng, config.suggested_usernames)
        now = self.now()
        user_id, token = new_id(), secrets.token_urlsafe(32)
        color = names.random_color(self._rng)
        q.create_user(self._db, user_id, name, color, token, now)
        user = p.User(user_id, name, color, now, previous_names=[name])
        return user, token

    def authenticate(self, token: str) -> p.User | None:
        """The user an access token belongs to (the live object if they are connected)."""
        if not token or len(token) > 512:
            return None
        row = q.user_by_token(self._db, token)
        if row is None:
            return None
        cached = self._users.get(row.id)
        if cached is not None:
            return cached
        return user_from_row(row)

    def banned(self, ip: str) -> bool:
        return self.bans.banned(ip)

    def refusal(self) -> str | None:
        """Why a new websocket is refused before upgrading (Owncast's plain-text bodies)."""
        if self.config.disabled:
            return p.CHAT_DISABLED
        if len(self.clients) >= self.max_clients:
            return p.ERROR_MAX_CONNECTIONS_EXCEEDED
        return None

    # --- one connection ----------------------------------------------------------------------

    async def serve(self, conn: Connection, user: p.User, ip: str, user_agent: str) -> None:
        """Run one accepted websocket until it closes or is dropped."""
        user = self._users.setdefault(user.id, user)
        client = ChatClient(self._next_client_id, user, ip, user_agent, self.now(), conn)
        self._next_client_id += 1
        first = not self._by_user.get(user.id)
        reconnect = self._cancel_part(user.id)
        self.clients[client.id] = client
        self._by_user.setdefault(user.id, set()).add(client)
        log.debug("chat client connected", client=client.id, user=user.id, ip=ip)
        try:
            async with trio.open_nursery() as nursery:
                client.cancel_scope = nursery.cancel_scope
                nursery.start_soon(self._writer, client)
                self.send_to(client, p.connected_user_info(user))
                if self._stream.online:
                    if first and not reconnect and self.config.join_messages:
                        event = p.user_event(p.USER_JOINED, new_id(), self.now(), user, client.id)
                        self.broadcast(event)
                    nursery.start_soon(self._welcome_later, client)
                await self._reader(client)
                nursery.cancel_scope.cancel()
        finally:
            self._forget(client)
        if client.closing in ("slow", "stalled"):
            return  # the transport is closed already
        with trio.move_on_after(1.0) as scope:
            scope.shield = True
            code = {"too big": CLOSE_TOO_BIG, "kicked": CLOSE_POLICY, "banned": CLOSE_POLICY}.get(
                client.closing or "", CLOSE_NORMAL
            )
            await conn.close(code)
        if scope.cancelled_caught:
            conn.abort()

    async def _reader(self, client: ChatClient) -> None:
        while True:
            frame = await client.conn.receive()
            if isinstance(frame, bytes):
                try:
                    frame = frame.decode("utf-8")
                except UnicodeDecodeError:
                    continue
            if not self.handle_frame(client, frame):
                return

    async def _writer(self, client: ChatClient) -> None:
        queue, raw = client.queue, client.conn.raw
        while True:
            if client.rest:
                rest, client.rest = client.rest, b""
                assert raw is not None
                await self._timed_send(client, raw.finish(rest))
            elif queue:
                payload = queue[0] if len(queue) == 1 else b"\n".join(queue)
                queue.clear()
                client.queued_events = 0
                if raw is not None:
                    await self._timed_send(client, raw.write(p.text_frame(payload)))
                else:
                    await self._timed_send(client, client.conn.send(payload.decode()))
            else:
                await client._lot.park()

    async def _timed_send(self, client: ChatClient, send: Awaitable[None]) -> None:
        client.send_started = trio.current_time()
        try:
            await send
        finally:
            client.send_started = None
        self.frames_sent += 1

    def _forget(self, client: ChatClient) -> None:
        self.clients.pop(client.id, None)
        if client.closing is None:
            client.closing = "gone"
        client._lot.unpark_all()
        mine = self._by_user.get(client.user.id)
        if mine is not None:
            mine.discard(client)
            if not mine:
                del self._by_user[client.user.id]
                self._start_part(client)
        log.debug("chat client gone", client=client.id, reason=client.closing)

    def drop(self, client: ChatClient, reason: str) -> None:
        """Disconnect a client now (slow, stalled, banned...)."""
        if client.closing is not None and client.closing != "kicking":
            return
        client.closing = reason
        self.clients.pop(client.id, None)
        if reason in ("slow", "stalled"):
            self.dropped_slow += 1
            log.info("chat client dropped", client=client.id, user=client.user.id, reason=reason)
            client.conn.abort()
        if client.cancel_scope is not None:
            client.cancel_scope.cancel()

    # --- inbound -----------------------------------------------------------------------------

    def handle_frame(self, client: ChatClient, frame: str) -> bool:
        """Apply one inbound frame; False when the socket must close."""
        size = len(frame) if frame.isascii() else len(frame.encode("utf-8", "surrogatepass"))
        if size > 2 * p.MAX_SOCKET_PAYLOAD_SIZE:
            client.closing = "too big"
            return False
        if size > p.MAX_SOCKET_PAYLOAD_SIZE:
            self.notice(client, p.TOO_BIG)
            return True
        verdict = client.guard.check(trio.current_time())
        if verdict is Verdict.STILL_MUTED:
            return True
        if verdict is Verdict.MUTED:
            log.info("chat client muted for flooding", client=client.id, user=client.user.id)
            self.notice(client, p.FLOODING)
            return True
        event = p.parse_inbound(frame)
        if event is None:
            return True
        user = client.user
        config = self.config
        if (
            config.established_user_mode
            and self.now() - user.created_at < ESTABLISHED_SECONDS
            and not user.is_moderator
        ):
            self.notice(client, p.NOT_ESTABLISHED)
            return True
        if isinstance(event, p.ChatSent):
            self._chat(client, event.body)
        elif isinstance(event, p.NameChangeRequested):
            self._rename(client, event.new_name)
        else:
            self._recolor(client, event.new_color)
        return True

    def _chat(self, client: ChatClient, raw: str) -> None:
        text = raw.strip()
        if not text:
            return
        limit = self.config.max_message_length
        if len(text) > limit:
            self.notice(client, f"Sorry, messages are limited to {limit} characters.")
            return
        if not self._stream.online:
            last = self._stream.last_disconnect_time
            if last is not None and self.now() - last > OFFLINE_CUTOFF:
                self.notice(client, "Chat is closed while the stream is offline.")
                return
        body = render.render(text)
        if not body:
            return
        now = self.now()
        message_id = new_id()
        self.broadcast(p.chat_message(message_id, now, client.user, body, client.id))
        client.message_count += 1
        q.save_message(self._db, message_id, client.user.id, body, p.CHAT, now)

    def _rename(self, client: ChatClient, proposed: str) -> None:
        user = client.user
        name = names.clean_name(proposed)
        if name == user.display_name:
            return
        shown = name or proposed[: names.MAX_NAME_LENGTH]
        if not name or names.forbidden_match(name, self.config.forbidden_usernames):
            self.notice(client, f"You cannot change your name to **{_md_escape(shown)}**.")
            self.send_to(client, p.connected_user_info(user))
            return
        if q.name_taken_by_authenticated(self._db, name, user.id):
            self.notice(
                client,
                f"The name **{_md_escape(name)}** has been already registered. "
                "If this is your name, please authenticate.",
            )
            self.send_to(client, p.connected_user_info(user))
            return
        now = self.now()
        old = user.display_name
        user.display_name = name
        user.previous_names = [*user.previous_names, name]
        user.name_changed_at = now
        user.changed()
        q.rename_user(self._db, user.id, name, user.previous_names, now)
        self.broadcast(p.name_change(new_id(), now, user.to_json(), old))
        self.send_to_user(user.id, p.connected_user_info(user))

    def _recolor(self, client: ChatClient, color: object) -> None:
        if not names.valid_color(color):
            return
        assert isinstance(color, int)
        user = client.user
        if color == user.display_color:
            return
        user.display_color = color
        user.changed()
        q.set_color(self._db, user.id, color)
        self.send_to_user(user.id, p.connected_user_info(user))
        self.broadcast(p.color_change(new_id(), self.now(), user))

    # --- outbound ----------------------------------------------------------------------------

    def broadcast(self, event: dict[str, Any]) -> None:
        """Send an event to every client (serialised here, once)."""
        self._pending.append(p.dumps(event))
        if not self._coalesce or len(self.clients) * COALESCE_PER_CLIENT < 0.002:
            self.flush()
        elif not self._flush_due:
            self._flush_due = True
            self._flush_lot.unpark()

    def flush(self) -> None:
        """Hand the pending broadcast events to every client as one chunk: written straight to
        the socket of each idle client that has room (one frame, built once), else queued."""
        self._flush_due = False
        pending = self._pending
        if not pending:
            return
        count = len(pending)
        payload = ("\n".join(pending) if count > 1 else pending[0]).encode()
        self._pending = []
        frame: bytes | None = None
        for client in list(self.clients.values()):
            raw = client.conn.raw
            if (
                raw is not None
                and client.closing is None
                and not client.queue
                and not client.rest
                and client.send_started is None  # its writer is not mid-send
            ):
                if frame is None:
                    frame = p.text_frame(payload)
                written = raw.try_write(frame)
                if written == len(frame):
                    self.frames_sent += 1
                    continue
                if written is not None:  # a short write: the writer sends the rest
                    client.rest = frame[written:]
                    client._lot.unpark()
                    continue
            self._push(client, payload, count)

    def _push(self, client: ChatClient, payload: bytes, count: int) -> None:
        if client.closing is not None:
            return
        if client.queued_events + count > MAX_QUEUED_EVENTS:
            self.drop(client, "slow")
            return
        client.queue.append(payload)
        client.queued_events += count
        if len(client.queue) == 1:
            client._lot.unpark()

    def send_to(self, client: ChatClient, event: dict[str, Any]) -> None:
        """A private event; pending broadcasts go first, so the client sees events in order."""
        self.flush()
        self._push(client, p.dumps(event).encode(), 1)

    def send_to_user(self, user_id: str, event: dict[str, Any]) -> None:
        for client in list(self._by_user.get(user_id, ())):
            self.send_to(client, event)

    def notice(self, client: ChatClient, markdown: str) -> None:
        """A private CHAT_ACTION."""
        self.send_to(client, p.chat_action(new_id(), self.now(), render.render(markdown)))

    def action(self, markdown: str, *, ephemeral: bool = True) -> None:
        """A CHAT_ACTION to everyone; stored in the history unless ephemeral."""
        now = self.now()
        event_id, body = new_id(), render.render(markdown)
        self.broadcast(p.chat_action(event_id, now, body))
        if not ephemeral:
            q.save_message(self._db, event_id, None, body, p.CHAT_ACTION, now)

    def system_message(self, markdown: str, *, ephemeral: bool = False) -> None:
        """A SYSTEM message from the server to everyone."""
        now = self.now()
        event_id, body = new_id(), render.render(markdown)
        self.broadcast(p.system_message(event_id, now, body, self._server_name()))
        if not ephemeral:
            q.save_message(self._db, event_id, None, body, p.SYSTEM, now)

    def _server_name(self) -> str:
        return self._settings.current.instance.name

    async def _flusher(self) -> None:
        while True:
            await self._flush_lot.park()
            window = min(MAX_COALESCE, len(self.clients) * COALESCE_PER_CLIENT)
            await trio.sleep(window)
            self.flush()

    # --- timers ------------------------------------------------------------------------------

    async def _welcome_later(self, client: ChatClient) -> None:
        await trio.sleep(WELCOME_DELAY)
        text = self._settings.current.instance.welcome_message
        if text.strip() and self._stream.online and client.closing is None:
            body = render.render(text)
            self.send_to(client, p.system_message(new_id(), self.now(), body, self._server_name()))

    def _cancel_part(self, user_id: str) -> bool:
        scope = self._part_timers.pop(user_id, None)
        if scope is None:
            return False
        scope.cancel()
        return True

    def _start_part(self, client: ChatClient) -> None:
        scope = trio.CancelScope()
        self._part_timers[client.user.id] = scope
        if not self._spawn(self._part_later, client, scope):
            del self._part_timers[client.user.id]
            self._users.pop(client.user.id, None)

    async def _part_later(self, client: ChatClient, scope: trio.CancelScope) -> None:
        user = client.user
        with scope:
            await trio.sleep(PART_GRACE)
            if self._part_timers.get(user.id) is scope:
                del self._part_timers[user.id]
            if user.id not in self._by_user:
                self._users.pop(user.id, None)
                if self.config.join_messages and self._stream.online and not user.disabled:
                    self.broadcast(
                        p.user_event(p.USER_PARTED, new_id(), self.now(), user, client.id)
                    )

    async def _close_later(self, client: ChatClient) -> None:
        await trio.sleep(KICK_DELAY)
        self.drop(client, "kicked")

    # --- the event bus and settings ----------------------------------------------------------

    async def _follow_bus(self, events: trio.MemoryReceiveChannel[object]) -> None:
        async for event in events:
            try:
                self.stream_event(event)
            except Exception:
                log.exception("chat: handling a bus event failed", event=type(event).__name__)

    def stream_event(self, event: object) -> None:
        now = self.now()
        if isinstance(event, StreamStarted):
            self.broadcast(p.simple_event(p.STREAM_STARTED, new_id(), now, streamTitle=self._title))
            self.action(p.STREAM_STARTING)
            welcome = self._settings.current.instance.welcome_message
            if welcome.strip():
                self.system_message(welcome, ephemeral=True)
        elif isinstance(event, StreamStopped):
            self.action(p.STREAM_ENDING)
            self.broadcast(p.simple_event(p.STREAM_STOPPED, new_id(), now))
        elif isinstance(event, StreamTitleChanged):
            self._title_changed(event.title)

    def _title_changed(self, title: str) -> None:
        if title == self._title:
            return
        self._title = title
        event = p.simple_event(p.STREAM_TITLE_UPDATED, new_id(), self.now(), streamTitle=title)
        self.broadcast(event)

    def _config_changed(self, config: cfg.Config) -> None:
        self._title_changed(config.instance.stream_title)
        if config.chat.disabled and not self._chat_disabled:
            log.info("chat disabled: closing every chat connection", clients=len(self.clients))
            self.broadcast(p.simple_event(p.CHAT_DISABLED, new_id(), self.now()))
            self.flush()
            for client in list(self.clients.values()):
                client.closing = "kicking"
                self._spawn(self._close_later, client)
        self._chat_disabled = config.chat.disabled

    # --- moderation --------------------------------------------------------------------------

    def set_visibility(self, ids: list[str], visible: bool) -> list[str]:
        found = q.set_visibility(self._db, ids, None if visible else self.now())
        if found:
            self.broadcast(p.visibility_update(new_id(), self.now(), found, visible))
        return found

    def set_user_enabled(self, user_id: str, enabled: bool) -> bool:
        """Owncast's setenabled: disabling hides the user's messages, kicks their clients,
        says so in chat and bans the (non-loopback) addresses they used."""
        if enabled:
            row = moderation.enable_user(self._db, user_id)
            if row is None:
                return False
            self._disabled_ids.discard(user_id)
            self._update_user(row)
            return True
        result = moderation.disable_user(self._db, user_id, self.now())
        if result is None:
            return False
        self._disabled_ids.add(user_id)
        self._user_disabled(result.user, result.hidden_ids, ban_addresses=True)
        return True

    def _user_disabled(self, row: q.UserRow, hidden_ids: list[str], *, ban_addresses: bool) -> None:
        user = self._update_user(row)
        if hidden_ids:
            self.broadcast(p.visibility_update(new_id(), self.now(), hidden_ids, False))
        clients = list(self._by_user.get(row.id, ()))
        if not clients:
            return
        for client in clients:
            if client.closing is None:
                self.send_to(
                    client,
                    p.user_event(p.ERROR_USER_DISABLED, new_id(), self.now(), user, client.id),
                )
                client.closing = "kicking"
                self._spawn(self._close_later, client)
        self.action(f"**{_md_escape(user.display_name)}** has been removed from chat.")
        if ban_addresses:
            for ip in {c.ip for c in clients}:
                addr = ipban.parse_address(ip)
                if addr is not None and not addr.is_loopback:
                    moderation.ban_ip(self._db, ip, f"Banning of {user.display_name}", self.now())
            self.bans = moderation.ban_list(self._db)

    def _update_user(self, row: q.UserRow) -> p.User:
        """Refresh a cached (connected) user from the database; tell their clients."""
        fresh = user_from_row(row)
        user = self._users.get(row.id)
        if user is None:
            return fresh
        user.display_name, user.display_color = fresh.display_name, fresh.display_color
        user.disabled_at, user.scopes = fresh.disabled_at, fresh.scopes
        user.previous_names, user.name_changed_at = fresh.previous_names, fresh.name_changed_at
        user.changed()
        if not user.disabled:
            self.send_to_user(user.id, p.connected_user_info(user))
        return user

    def set_moderator(self, user_id: str, is_moderator: bool) -> bool:
        row = moderation.set_moderator(self._db, user_id, is_moderator)
        if row is None:
            return False
        self._update_user(row)
        return True

    def ban_ip(self, value: str, notes: str = "manually added") -> str:
        """Ban an address or network (ipban.InvalidBan if neither); connected clients from it
        are closed."""
        canonical, _added = moderation.ban_ip(self._db, value, notes, self.now())
        self.bans = moderation.ban_list(self._db)
        self._close_banned()
        return canonical

    def unban_ip(self, value: str) -> bool:
        _canonical, removed = moderation.unban_ip(self._db, value)
        self.bans = moderation.ban_list(self._db)
        return removed

    def _close_banned(self) -> None:
        for client in list(self.clients.values()):
            if client.closing is None and self.bans.banned(client.ip):
                self.drop(client, "banned")

    def user_by_id(self, user_id: str) -> p.User | None:
        cached = self._users.get(user_id)
        if cached is not None:
            return cached
        row = q.user_by_id(self._db, user_id)
        return user_from_row(row) if row is not None else None

    def disabled_users(self) -> list[p.User]:
        return [user_from_row(row) for row in q.disabled_users(self._db)]

    def moderators(self) -> list[p.User]:
        return [self._users.get(row.id) or user_from_row(row) for row in q.moderators(self._db)]

    def user_clients(self, user_id: str) -> list[ChatClient]:
        return sorted(self._by_user.get(user_id, ()), key=lambda c: c.id)

    # --- history -----------------------------------------------------------------------------

    def history(
        self, *, include_hidden: bool = False, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Messages in Owncast's shape: visible ones (GET /api/chat), or all (moderation)."""
        if include_hidden:
            rows = q.all_messages(self._db, 500 if user_id is None else 100, user_id)
        else:
            rows = q.visible_history(self._db, HISTORY_SIZE)
        authors = q.users_by_ids(self._db, {r.user_id for r in rows if r.user_id})
        name = self._server_name()
        out: list[dict[str, Any]] = []
        for row in rows:
            if row.event_type == p.CHAT and row.user_id in authors:
                user = self._users.get(row.user_id) or user_from_row(authors[row.user_id])
                out.append(p.chat_message(row.id, row.timestamp, user, row.body, 0, row.hidden_at))
            elif row.event_type == p.SYSTEM:
                out.append(p.system_message(row.id, row.timestamp, row.body, name))
            elif row.event_type == p.CHAT_ACTION:
                out.append(p.chat_action(row.id, row.timestamp, row.body))
        return out

    # --- the sync loop -----------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        next_prune = trio.current_time()
        while True:
            await trio.sleep(SYNC_INTERVAL)
            try:
                self.check_stalled()
                self.sync()
                if trio.current_time() >= next_prune:
                    next_prune = trio.current_time() + PRUNE_INTERVAL
                    self.prune()
            except Exception:
                log.exception("chat: sync failed")

    def check_stalled(self) -> None:
        deadline = trio.current_time() - WRITE_TIMEOUT
        for client in list(self.clients.values()):
            if client.send_started is not None and client.send_started < deadline:
                self.drop(client, "stalled")

    def sync(self) -> None:
        """Pick up what another process (the CLI) committed: bans, disabled users, moderators."""
        version = q.data_version(self._db)
        if version == self._data_version:
            return
        self._data_version = version
        self.bans = moderation.ban_list(self._db)
        self._close_banned()
        disabled = q.disabled_user_ids(self._db)
        for user_id in disabled - self._disabled_ids:
            row = q.user_by_id(self._db, user_id)
            if row is not None:
                log.info("chat user disabled elsewhere", user=user_id)
                self._user_disabled(
                    row, q.hidden_message_ids(self._db, user_id), ban_addresses=False
                )
        self._disabled_ids = disabled
        rows = q.users_by_ids(self._db, list(self._users))
        for user_id, user in list(self._users.items()):
            row = rows.get(user_id)
            if row is not None and (
                row.scopes != user.scopes or row.disabled_at != user.disabled_at
            ):
                self._update_user(row)

    def prune(self) -> None:
        hours = self.config.message_retention_hours
        if hours > 0:
            removed = q.prune_messages(self._db, self.now() - hours * 3600)
            if removed:
                log.info("chat messages pruned", removed=removed, older_than_hours=hours)


def _md_escape(text: str) -> str:
    """A user-supplied name inside a Markdown notice: Markdown and HTML characters escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~&" else ch for ch in text)
