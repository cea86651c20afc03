"""Flood control for one chat client: at most 3 messages in any 2 seconds, else a 10 second mute.

A pure state machine; the caller passes the time (monotonic seconds) to every call.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

MESSAGES = 3
WINDOW_SECONDS = 2.0
MUTE_SECONDS = 10.0


class Verdict(enum.Enum):
    ALLOW = "allow"
    MUTED = "muted"
    """The message is over the limit: a mute starts now (tell the client once)."""
    STILL_MUTED = "still_muted"
    """A mute is running: drop the message silently."""


@dataclass
class FloodGuard:
    """Counts one client's messages; a message over the limit starts a mute."""

    messages: int = MESSAGES
    window: float = WINDOW_SECONDS
    mute: float = MUTE_SECONDS
    muted_until: float = float("-inf")
    _times: deque[float] = field(default_factory=deque)

    def check(self, now: float) -> Verdict:
        """Account a message sent at `now`."""
        if now < self.muted_until:
            return Verdict.STILL_MUTED
        times = self._times
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.messages:
            times.clear()
            self.muted_until = now + self.mute
            return Verdict.MUTED
        times.append(now)
        return Verdict.ALLOW

    def is_muted(self, now: float) -> bool:
        return now < self.muted_until
