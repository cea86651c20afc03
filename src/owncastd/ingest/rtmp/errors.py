"""The two ways an RTMP exchange can go wrong: the peer broke the protocol, or we misused the core."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class; catch a subclass, never this, unless you handle both sides the same way."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol or our limits forbid; the connection cannot continue."""


class LocalProtocolError(ProtocolError):
    """The caller asked the core for something the current state does not allow."""
