"""Times as Owncast's API writes them (RFC 3339 in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
