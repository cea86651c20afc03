"""Display names and colours: cleaning, the forbidden list, random names for new users.

Pure functions; randomness comes from a `random.Random` the caller passes.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable

MAX_NAME_LENGTH = 30
"""Owncast's MaxChatDisplayNameLength."""
MAX_COLOR = 7
"""Owncast's MaxUserColor: colours are indexes 0..7 into the page's palette."""

# Unicode categories never allowed in a name: controls, format characters (zero-width, bidi
# overrides), surrogates, private use, unassigned; and line/paragraph separators.
_BANNED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

_ADJECTIVES = (
    "Amber", "Brave", "Calm", "Clever", "Cosmic", "Curious", "Dapper", "Eager", "Fuzzy",
    "Gentle", "Happy", "Jolly", "Keen", "Lively", "Lucky", "Mellow", "Merry", "Nimble",
    "Plucky", "Quiet", "Rapid", "Rosy", "Sleepy", "Sunny", "Swift", "Tidy", "Witty", "Zesty",
)  # fmt: skip
_ANIMALS = (
    "Badger", "Beaver", "Crane", "Dolphin", "Falcon", "Ferret", "Fox", "Gecko", "Heron",
    "Koala", "Lemur", "Lynx", "Marmot", "Narwhal", "Otter", "Owl", "Panda", "Puffin", "Quokka",
    "Raven", "Seal", "Sloth", "Stoat", "Tapir", "Walrus", "Wombat", "Yak", "Zebra",
)  # fmt: skip


def clean_name(raw: str) -> str:
    """A proposed name made safe: NFC, no control or invisible format characters, whitespace
    runs collapsed to one space, trimmed, at most 30 characters. May return ""."""
    text = unicodedata.normalize("NFC", raw)
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            continue
        if unicodedata.category(ch) in _BANNED_CATEGORIES:
            continue
        out.append(ch)
    return "".join(out).strip()[:MAX_NAME_LENGTH].strip()


def forbidden_match(name: str, forbidden: Iterable[str]) -> str | None:
    """The forbidden word `name` contains (case-insensitive substring), or None."""
    folded = name.casefold()
    for word in forbidden:
        w = word.strip().casefold()
        if w and w in folded:
            return word.strip()
    return None


def random_name(rng: random.Random, suggested: Iterable[str] = ()) -> str:
    """A name for a new user: one of the operator's suggestions, else adjective + animal."""
    choices = [n for n in (clean_name(s) for s in suggested) if n]
    if choices:
        return rng.choice(choices)
    return f"{rng.choice(_ADJECTIVES)} {rng.choice(_ANIMALS)}"


def random_color(rng: random.Random) -> int:
    return rng.randint(0, MAX_COLOR)


def valid_color(value: object) -> bool:
    """A colour index a client may pick: an integer 0..MAX_COLOR (booleans are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COLOR
