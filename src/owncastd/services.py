"""The running daemon's shared services, handed to the web layer and to each other by value."""

from __future__ import annotations

from dataclasses import dataclass

from owncastd.broadcast import Broadcaster
from owncastd.chat.hub import ChatHub
from owncastd.db import Database
from owncastd.events import EventBus
from owncastd.hls.store import HLSStore
from owncastd.settings import Settings
from owncastd.viewers import ViewerService


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    broadcaster: Broadcaster
    viewers: ViewerService
    hls: HLSStore
    chat: ChatHub
