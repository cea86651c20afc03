from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import browser as _browser
from tests.daemon import Daemon


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[Daemon]]:
    """Make real daemons in this test's tmp dir; all are stopped at the end."""
    made: list[Daemon] = []

    class _Factory(Daemon):
        def __init__(
            self, extra_toml: str = "", env: dict[str, str] | None = None, tmp: Path | None = None
        ) -> None:
            super().__init__(tmp or tmp_path, extra_toml, env)
            made.append(self)

    yield _Factory
    for d in made:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


@pytest.fixture
def daemon(daemon_factory: type[Daemon]) -> Daemon:
    """A started daemon with a known admin password and stream key."""
    return daemon_factory().start()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright (tests/browser.py)."""
    yield from _browser.launch()
