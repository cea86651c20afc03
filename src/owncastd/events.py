"""The in-process event bus: services publish, others subscribe; a slow subscriber never stalls.

Each subscriber gets a bounded Trio memory channel. Publishing never blocks: when a subscriber's
channel is full the event is dropped for that subscriber only, and the drop is counted and logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio

from owncastd.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StreamStarted:
    broadcast_id: str
    started_at: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamStopped:
    broadcast_id: str
    stopped_at: float


@dataclass(frozen=True, slots=True)
class StreamTitleChanged:
    title: str


@dataclass(frozen=True, slots=True)
class ConfigReloaded:
    pass


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, trio.MemorySendChannel[object]] = {}
        self.dropped: dict[str, int] = {}

    def subscribe(self, name: str, size: int = 256) -> trio.MemoryReceiveChannel[object]:
        send, receive = trio.open_memory_channel[object](size)
        self._subscribers[name] = send
        self.dropped[name] = 0
        return receive

    def unsubscribe(self, name: str) -> None:
        send = self._subscribers.pop(name, None)
        if send is not None:
            send.close()

    def publish(self, event: object) -> None:
        for name, send in list(self._subscribers.items()):
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                self.dropped[name] += 1
                log.warning(
                    "event dropped for slow subscriber", subscriber=name, event=type(event).__name__
                )
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._subscribers.pop(name, None)
