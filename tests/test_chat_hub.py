"""The chat hub in-process, with in-memory connections and Trio's jumping clock: timing rules
(part grace, welcome delay, mute, offline cut-off, kick delay), fan-out and slow clients, and
changes another process commits (the CLI)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from owncastd import config as cfg
from owncastd.chat import hub as hub_mod
from owncastd.chat import moderation
from owncastd.chat import protocol as p
from owncastd.chat.hub import ChatHub
from owncastd.db import Database
from owncastd.db.queries import chat as q
from owncastd.events import EventBus, StreamStarted, StreamStopped
from owncastd.settings import Settings

T0 = 1_700_000_000.0


class FakeConn:
    """An in-memory websocket: frames the hub sends are kept; `say` feeds the reader."""

    raw = None

    def __init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel[str](100)
        self.frames: list[str] = []
        self.closed: int | None = None
        self.aborted = False
        self.stalled = False
        self.frame_event = trio.Event()

    async def send(self, text: str) -> None:
        if self.stalled:
            await trio.sleep_forever()
        self.frames.append(text)
        self.frame_event.set()
        self.frame_event = trio.Event()

    async def receive(self) -> str | bytes:
        return await self._recv.receive()

    async def close(self, code: int) -> None:
        self.closed = code

    def abort(self) -> None:
        self.aborted = True

    async def say(self, event: dict[str, Any] | str) -> None:
        await self._send.send(event if isinstance(event, str) else json.dumps(event))
        await trio.testing.wait_all_tasks_blocked()

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = [json.loads(line) for frame in self.frames for line in frame.split("\n")]
        return [e for e in out if kind is None or e["type"] == kind]


class FakeRaw:
    """A socket with `room` bytes of buffer: frames written directly land in `written`."""

    def __init__(self, conn: FakeConn, room: int = 1 << 20) -> None:
        self.conn, self.room, self.busy = conn, room, False
        self.written: list[bytes] = []

    def try_write(self, frame: bytes) -> int | None:
        if self.busy:
            return None
        n = min(len(frame), self.room)
        self.room -= n
        self.written.append(frame[:n])
        self.busy = n < len(frame)
        return n

    async def finish(self, rest: bytes) -> None:
        while self.room < len(rest):
            await trio.sleep(0.1)
        self.written.append(rest)
        self.busy = False

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    def payloads(self) -> list[dict[str, Any]]:
        data, out = b"".join(self.written), []
        while data:
            assert data[0] == 0x81
            n, start = data[1], 2
            if n == 126:
                n, start = int.from_bytes(data[2:4], "big"), 4
            elif n == 127:
                n, start = int.from_bytes(data[2:10], "big"), 10
            out += [json.loads(line) for line in data[start : start + n].decode().split("\n")]
            data = data[start + n :]
        return out


@dataclass
class Stream:
    online: bool = True
    last_disconnect_time: float | None = None


@dataclass
class Chat:
    hub: ChatHub
    db: Database
    settings: Settings
    stream: Stream
    bus: EventBus
    nursery: trio.Nursery

    async def connect(
        self, name: str = "", user: p.User | None = None
    ) -> tuple[FakeConn, p.User, trio.CancelScope]:
        if user is None:
            user, _token = self.hub.register(name)
        conn = FakeConn()
        scope = trio.CancelScope()

        async def run() -> None:
            with scope:
                await self.hub.serve(conn, user, "192.0.2.10", "test-agent")

        self.nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        return conn, user, scope


def _settings(db: Database, toml: str = "") -> Settings:
    return Settings(cfg.parse(toml), db)


@asynccontextmanager
async def running_chat(tmp_path: Path, toml: str = "", **kw: Any) -> AsyncIterator[Chat]:
    db = Database(tmp_path / "chat.db")
    settings = _settings(db, toml)
    stream = Stream()
    bus = EventBus()
    hub = ChatHub(
        db,
        bus,
        settings,
        stream,
        clock=lambda: T0 + trio.current_time(),
        rng=random.Random(1),
        **kw,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        yield Chat(hub, db, settings, stream, bus, nursery)
        nursery.cancel_scope.cancel()
    db.close()


async def settle(seconds: float = 0.0) -> None:
    if seconds:
        await trio.sleep(seconds)
    await trio.testing.wait_all_tasks_blocked()


async def test_connect_gets_user_info_then_join_is_broadcast(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        a, alice, _ = await chat.connect("alice")
        b, bob, _ = await chat.connect("bob")
        assert a.events()[0] == {"type": p.CONNECTED_USER_INFO, "user": alice.to_json()}
        joined = a.events(p.USER_JOINED)
        assert [e["user"]["displayName"] for e in joined] == ["alice", "bob"]
        assert set(joined[1]) == {"type", "id", "timestamp", "user", "clientId"}
        assert b.events(p.USER_JOINED)[0]["user"]["id"] == bob.id


async def test_no_join_message_while_offline_or_when_disabled(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path, "[chat]\njoin_messages = false\n") as chat:
        a, _, _ = await chat.connect("alice")
        await chat.connect("bob")
        assert a.events(p.USER_JOINED) == []
    async with running_chat(tmp_path / "2") as chat:
        chat.stream.online = False
        a, _, _ = await chat.connect("alice")
        await chat.connect("bob")
        assert a.events(p.USER_JOINED) == []


async def test_part_after_grace_and_a_reconnect_cancels_it(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        watcher, _, _ = await chat.connect("watcher")
        _, bob, scope = await chat.connect("bob")
        scope.cancel()
        await settle(hub_mod.PART_GRACE - 1)
        assert watcher.events(p.USER_PARTED) == []
        # Back within the grace: no part, and no second join either.
        _, _, scope = await chat.connect(user=bob)
        await settle(hub_mod.PART_GRACE + 1)
        assert watcher.events(p.USER_PARTED) == []
        assert len(watcher.events(p.USER_JOINED)) == 2
        scope.cancel()
        await settle(hub_mod.PART_GRACE + 0.5)
        parted = watcher.events(p.USER_PARTED)
        assert [e["user"]["id"] for e in parted] == [bob.id]


async def test_second_connection_of_a_user_is_not_announced(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        watcher, _, _ = await chat.connect("watcher")
        _, bob, first = await chat.connect("bob")
        _, _, second = await chat.connect(user=bob)
        assert len(watcher.events(p.USER_JOINED)) == 2
        first.cancel()
        await settle(hub_mod.PART_GRACE + 1)
        assert watcher.events(p.USER_PARTED) == []  # still connected on the other socket
        second.cancel()
        await settle(hub_mod.PART_GRACE + 1)
        assert len(watcher.events(p.USER_PARTED)) == 1


async def test_welcome_message_seven_seconds_after_joining(
    tmp_path: Path, autojump_clock: Any
) -> None:
    toml = '[instance]\nname = "My Server"\nwelcome_message = "Be **kind**"\n'
    async with running_chat(tmp_path, toml) as chat:
        a, _, _ = await chat.connect("alice")
        await settle(hub_mod.WELCOME_DELAY - 0.5)
        assert a.events(p.SYSTEM) == []
        await settle(1)
        (welcome,) = a.events(p.SYSTEM)
        assert welcome["body"] == "<p>Be <strong>kind</strong></p>"
        assert welcome["user"] == {"displayName": "My Server"}


async def test_flood_mutes_for_ten_seconds_with_one_notice(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        a, _, _ = await chat.connect("alice")
        for i in range(6):
            await a.say({"type": "CHAT", "body": f"m{i}"})
        assert [e["body"] for e in a.events(p.CHAT)] == ["<p>m0</p>", "<p>m1</p>", "<p>m2</p>"]
        (notice,) = a.events(p.CHAT_ACTION)
        assert "flooding" in notice["body"]
        await settle(9)
        await a.say({"type": "CHAT", "body": "still muted"})
        assert len(a.events(p.CHAT)) == 3
        await settle(1.5)
        await a.say({"type": "CHAT", "body": "back"})
        assert a.events(p.CHAT)[-1]["body"] == "<p>back</p>"
        assert len(a.events(p.CHAT_ACTION)) == 1


async def test_messages_refused_once_offline_for_five_minutes(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        a, _, _ = await chat.connect("alice")
        chat.stream.online = False
        # Never streamed: chat stays open (as Owncast).
        await a.say({"type": "CHAT", "body": "before any stream"})
        chat.stream.last_disconnect_time = T0 + trio.current_time()
        await settle(60)
        await a.say({"type": "CHAT", "body": "just ended"})
        await settle(hub_mod.OFFLINE_CUTOFF)
        await a.say({"type": "CHAT", "body": "too late"})
        bodies = [e["body"] for e in a.events(p.CHAT)]
        assert bodies == ["<p>before any stream</p>", "<p>just ended</p>"]
        assert "offline" in a.events(p.CHAT_ACTION)[-1]["body"]
        assert [m.body for m in q.visible_history(chat.db, 50)] == bodies


async def test_established_user_mode(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_chat(tmp_path, "[chat]\nestablished_user_mode = true\n") as chat:
        a, alice, _ = await chat.connect("alice")
        await a.say({"type": "CHAT", "body": "hi"})
        assert a.events(p.CHAT) == []
        assert "established" in a.events(p.CHAT_ACTION)[0]["body"]
        assert q.visible_history(chat.db, 50) == []  # not stored either
        # A moderator is exempt.
        chat.hub.set_moderator(alice.id, True)
        await a.say({"type": "CHAT", "body": "mod here"})
        assert len(a.events(p.CHAT)) == 1
        chat.hub.set_moderator(alice.id, False)
        # Fifteen minutes later anyone may talk.
        await settle(hub_mod.ESTABLISHED_SECONDS)
        await a.say({"type": "CHAT", "body": "now"})
        assert len(a.events(p.CHAT)) == 2


async def test_disable_user_hides_messages_kicks_and_announces(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        watcher, _, _ = await chat.connect("watcher")
        troll, user, _ = await chat.connect("troll")
        _, _, _ = await chat.connect(user=user)
        await troll.say({"type": "CHAT", "body": "spam"})
        (message,) = watcher.events(p.CHAT)
        assert chat.hub.set_user_enabled(user.id, False)
        await settle()
        (update,) = watcher.events(p.VISIBILITY_UPDATE)
        assert update["ids"] == [message["id"]] and update["visible"] is False
        assert "troll" in watcher.events(p.CHAT_ACTION)[-1]["body"]
        assert troll.events(p.ERROR_USER_DISABLED)[0]["user"]["id"] == user.id
        assert troll.closed is None  # the notice gets time to arrive
        await settle(hub_mod.KICK_DELAY + 0.1)
        assert troll.closed == hub_mod.CLOSE_POLICY
        assert user.id not in {c.user.id for c in chat.hub.clients.values()}
        assert q.visible_history(chat.db, 50) == []
        # 192.0.2.10 is not loopback: banned as Owncast does.
        assert chat.hub.banned("192.0.2.10")
        await settle(hub_mod.PART_GRACE + 1)
        assert watcher.events(p.USER_PARTED) == []  # a kicked user does not "leave"


async def test_visibility_and_history(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_chat(tmp_path) as chat:
        a, _, _ = await chat.connect("alice")
        for body in ("one", "two"):
            await a.say({"type": "CHAT", "body": body})
            await settle(1)
        first = a.events(p.CHAT)[0]["id"]
        assert chat.hub.set_visibility([first, "nope"], False) == [first]
        await settle()
        update = a.events(p.VISIBILITY_UPDATE)[-1]
        assert update["ids"] == [first] and update["visible"] is False
        assert [m["body"] for m in chat.hub.history()] == ["<p>two</p>"]
        everything = chat.hub.history(include_hidden=True)
        assert [m["visible"] for m in everything] == [False, True]
        assert "hiddenAt" in everything[0]


async def test_name_and_colour_changes(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_chat(tmp_path) as chat:
        watcher, _, _ = await chat.connect("watcher")
        a, alice, _ = await chat.connect("alice")
        await a.say({"type": "NAME_CHANGE", "newName": "  Alice\u202e\u200b  Smith "})
        (change,) = watcher.events(p.NAME_CHANGE)
        assert change["oldName"] == "alice"
        assert change["user"]["displayName"] == "Alice Smith"
        assert change["user"]["previousNames"] == ["alice", "Alice Smith"]
        assert a.events(p.CONNECTED_USER_INFO)[-1]["user"]["displayName"] == "Alice Smith"
        await settle(1)
        for bad in ("The Admin", "\x00\x01\x1b", "SYSTEM"):
            await a.say({"type": "NAME_CHANGE", "newName": bad})
            await settle(1)
        assert len(watcher.events(p.NAME_CHANGE)) == 1
        assert all("cannot change your name" in e["body"] for e in a.events(p.CHAT_ACTION))
        new_color = (alice.display_color + 1) % 8
        await a.say({"type": "COLOR_CHANGE", "newColor": 99})
        await settle(1)
        await a.say({"type": "COLOR_CHANGE", "newColor": new_color})
        (color,) = watcher.events(p.COLOR_CHANGE)
        assert color["user"]["displayColor"] == new_color
        assert a.events(p.CONNECTED_USER_INFO)[-1]["user"]["displayColor"] == new_color
        row = q.user_by_id(chat.db, alice.id)
        assert row is not None and row.display_name == "Alice Smith"
        assert row.previous_names == ["alice", "Alice Smith"]


async def test_oversize_frames(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_chat(tmp_path) as chat:
        a, _, _ = await chat.connect("alice")
        body = "x" * p.MAX_SOCKET_PAYLOAD_SIZE
        await a.say({"type": "CHAT", "body": body})
        assert "exceeded the maximum size" in a.events(p.CHAT_ACTION)[0]["body"]
        await a.say("y" * (2 * p.MAX_SOCKET_PAYLOAD_SIZE + 1))
        assert a.closed == hub_mod.CLOSE_TOO_BIG


async def test_one_serialisation_many_events_per_frame(
    tmp_path: Path, autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As with thousands of clients: broadcasts wait for the coalescing window.
    monkeypatch.setattr(hub_mod, "COALESCE_PER_CLIENT", 0.01)
    async with running_chat(tmp_path) as chat:
        conns = [(await chat.connect(f"user{i}"))[0] for i in range(3)]
        await settle(1)
        for conn in conns:
            conn.frames.clear()
        for i in range(5):
            chat.hub.system_message(f"note {i}", ephemeral=True)
        await settle(0.5)
        for conn in conns:
            assert len(conn.frames) == 1  # five events, one frame
            assert [e["body"] for e in conn.events()] == [f"<p>note {i}</p>" for i in range(5)]


async def test_direct_writes_share_one_frame_and_short_writes_finish_in_order(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        conns = [FakeConn() for _ in range(3)]
        raws = [FakeRaw(c) for c in conns]
        raws[2].room = 10  # this one's socket is nearly full
        for conn, raw in zip(conns, raws, strict=True):
            conn.raw = raw  # type: ignore[assignment]
            user, _ = chat.hub.register("u")
            chat.nursery.start_soon(chat.hub.serve, conn, user, "192.0.2.1", "ua")
        await settle(1)
        for raw in raws:
            raw.written.clear()
        raws[2].room = 10
        chat.hub.system_message("first", ephemeral=True)
        chat.hub.system_message("second", ephemeral=True)
        await settle()
        # Idle clients got the very same frame object, written directly.
        assert raws[0].written[0] is raws[1].written[0]
        assert [e["body"] for e in raws[0].payloads()] == ["<p>first</p>", "<p>second</p>"]
        # The full one got 10 bytes; the rest and the next event wait for room, in order.
        assert len(raws[2].written) == 1 and len(raws[2].written[0]) == 10
        raws[2].room = 1 << 20
        await settle(1)
        assert [e["body"] for e in raws[2].payloads()] == ["<p>first</p>", "<p>second</p>"]


async def test_a_client_that_stops_reading_is_dropped_and_others_continue(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        good, _, _ = await chat.connect("good")
        slow, _, _ = await chat.connect("slow")
        slow.stalled = True
        for i in range(hub_mod.MAX_QUEUED_EVENTS + 5):
            chat.hub.system_message(f"n{i}", ephemeral=True)
            await settle()
        assert slow.aborted
        assert chat.hub.dropped_slow == 1
        assert len(good.events(p.SYSTEM)) == hub_mod.MAX_QUEUED_EVENTS + 5
        assert len(chat.hub.clients) == 1


async def test_a_send_stuck_past_the_write_timeout_drops_the_client(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        slow, _, _ = await chat.connect("slow")
        slow.stalled = True
        chat.hub.system_message("one", ephemeral=True)
        await settle(hub_mod.WRITE_TIMEOUT + hub_mod.SYNC_INTERVAL + 1)
        assert slow.aborted
        assert chat.hub.clients == {}


async def test_stream_events_reach_chat(tmp_path: Path, autojump_clock: Any) -> None:
    toml = '[instance]\nwelcome_message = "hi all"\n'
    async with running_chat(tmp_path, toml) as chat:
        chat.settings.set("instance.stream_title", "Live coding")
        chat.stream.online = False
        a, _, _ = await chat.connect("alice")
        chat.bus.publish(StreamStarted("b1", T0))
        await settle()
        started = a.events(p.STREAM_STARTED)
        assert started[-1]["streamTitle"] == "Live coding"
        assert "starting" in a.events(p.CHAT_ACTION)[0]["body"]
        assert a.events(p.SYSTEM)[0]["body"] == "<p>hi all</p>"
        chat.settings.set("instance.stream_title", "New title")
        await settle()
        assert a.events(p.STREAM_TITLE_UPDATED)[-1]["streamTitle"] == "New title"
        chat.bus.publish(StreamStopped("b1", T0 + 5))
        await settle()
        assert len(a.events(p.STREAM_STOPPED)) == 1


async def test_disabling_chat_closes_everyone(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_chat(tmp_path) as chat:
        a, _, _ = await chat.connect("alice")
        chat.settings.set("chat.disabled", True)
        await settle()
        assert len(a.events(p.CHAT_DISABLED)) == 1
        await settle(hub_mod.KICK_DELAY + 0.5)
        assert a.closed is not None
        assert chat.hub.refusal() == p.CHAT_DISABLED


async def test_changes_committed_by_another_process_are_picked_up(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_chat(tmp_path) as chat:
        watcher, _, _ = await chat.connect("watcher")
        troll, user, _ = await chat.connect("troll")
        await troll.say({"type": "CHAT", "body": "spam"})
        cli = Database(tmp_path / "chat.db")  # what `owncastd chat ...` opens
        try:
            moderation.set_moderator(
                cli.db if hasattr(cli, "db") else cli, watcher_user_id(chat, "watcher"), True
            )
            moderation.disable_user(cli, user.id, T0)
            moderation.ban_ip(cli, "2001:db8::/64", "cli", T0)
        finally:
            cli.close()
        await settle(hub_mod.SYNC_INTERVAL + 0.5)
        assert troll.events(p.ERROR_USER_DISABLED)
        assert watcher.events(p.VISIBILITY_UPDATE)[0]["visible"] is False
        assert "MODERATOR" in watcher.events(p.CONNECTED_USER_INFO)[-1]["user"]["scopes"]
        assert chat.hub.banned("2001:db8::1234")
        assert not chat.hub.banned("2001:db8:1::1")


def watcher_user_id(chat: Chat, name: str) -> str:
    return next(c.user.id for c in chat.hub.clients.values() if c.user.display_name == name)


async def test_banning_an_address_closes_its_clients(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_chat(tmp_path) as chat:
        a, _, _ = await chat.connect("alice")
        chat.hub.ban_ip("192.0.2.0/24")
        await settle()
        assert a.closed == hub_mod.CLOSE_POLICY
        assert chat.hub.clients == {}


async def test_registration_names(tmp_path: Path, autojump_clock: Any) -> None:
    toml = '[chat]\nsuggested_usernames = ["Pixel", "Byte"]\n'
    async with running_chat(tmp_path, toml) as chat:
        names = {chat.hub.register(None)[0].display_name for _ in range(20)}
        assert names == {"Pixel", "Byte"}
        assert chat.hub.register("admin2000")[0].display_name in names  # forbidden word
        user, token = chat.hub.register("  ok\tname ")
        assert user.display_name == "ok name"
        authed = chat.hub.authenticate(token)
        assert authed is not None and authed.id == user.id
        assert chat.hub.authenticate(token + "x") is None
        # Only the hash is stored.
        rows = chat.db.execute("SELECT token FROM user_access_tokens")
        assert token not in {r[0] for r in rows}
        assert q.hash_token(token) in {r[0] for r in rows}
