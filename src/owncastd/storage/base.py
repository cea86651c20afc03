"""The storage interface HLS output writes through (local directory or S3), and name confinement.

Names are relative, slash-separated and made by the segmenter (`0/seg-12.m4s`), never by a
request; `check_name` still refuses anything that could leave the storage root.
"""

from __future__ import annotations

import math
import re
from typing import Protocol

import trio

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}){0,3}")


ERROR_LOG_INTERVAL = 60.0
"""Seconds between repeated log lines about the same kind of storage failure."""


class StorageError(Exception):
    pass


def check_name(name: str) -> str:
    """Return `name` if it is a safe relative object name, else raise StorageError."""
    if not _NAME.fullmatch(name) or any(part in ("", ".", "..") for part in name.split("/")):
        raise StorageError(f"refused object name {name!r}")
    return name


def content_type(name: str) -> str:
    if name.endswith(".m3u8"):
        return "application/vnd.apple.mpegurl"
    if name.endswith((".m4s", ".mp4")):
        return "video/mp4" if name.endswith(".mp4") else "video/iso.segment"
    if name.endswith(".jpg"):
        return "image/jpeg"
    if name.endswith(".gif"):
        return "image/gif"
    if name.endswith(".txt"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


class Storage(Protocol):
    """Where HLS files go. Calls never block the packet path: callers queue (see `StorageWriter`)."""

    name: str

    async def start(self) -> None:
        """Prepare the destination and remove stale files from an earlier run."""

    async def put(self, name: str, data: bytes) -> None: ...

    async def delete(self, names: list[str]) -> None: ...


class StorageWriter:
    """A bounded queue in front of a Storage, drained by one task.

    `put_nowait`/`delete_nowait` never block: a full queue drops the write (and counts it), so a
    slow disk or an S3 outage can never stall the broadcast. Playlists are rewritten constantly,
    so a dropped playlist write heals on the next one.
    """

    def __init__(self, storage: Storage, size: int = 512) -> None:
        self.storage = storage
        self._send, self._receive = trio.open_memory_channel[tuple[str, str, bytes | list[str]]](
            size
        )
        self.dropped = 0
        self.failed = 0
        self.written = 0

    def put_nowait(self, name: str, data: bytes) -> bool:
        return self._offer(("put", check_name(name), data))

    def delete_nowait(self, names: list[str]) -> bool:
        return self._offer(("delete", "", [check_name(n) for n in names]))

    def _offer(self, item: tuple[str, str, bytes | list[str]]) -> bool:
        try:
            self._send.send_nowait(item)
            return True
        except trio.WouldBlock:
            self.dropped += 1
            return False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        from owncastd.logs import get_logger

        log = get_logger("owncastd.storage")
        await self.storage.start()
        task_status.started()
        # One line per kind of failure (then at most one a minute), not one per segment: on a
        # full disk the small playlist writes still succeed between the failing segments.
        last_kind, last_logged = "", -math.inf
        async for op, name, payload in self._receive:
            try:
                if op == "put":
                    assert isinstance(payload, bytes)
                    await self.storage.put(name, payload)
                    self.written += 1
                else:
                    assert isinstance(payload, list)
                    await self.storage.delete(payload)
            except (OSError, StorageError) as exc:
                self.failed += 1
                kind = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                now = trio.current_time()
                if kind != last_kind or now - last_logged >= ERROR_LOG_INTERVAL:
                    log.error(
                        "storage write failed; players are still served from memory",
                        storage=self.storage.name,
                        object=name,
                        error=str(exc),
                        failed_so_far=self.failed,
                    )
                    last_kind, last_logged = kind, now
