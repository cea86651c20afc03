"""Headless Chromium for the browser tests: Debian's `chromium` driven by Playwright (never a
downloaded browser), with the flags this machine needs, and where screenshots go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import owncastd.webserver
from tests.syspkg import in_ci, require_binary

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
STATIC_INDEX = Path(owncastd.webserver.__file__).parent / "static" / "index.html"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def launch() -> Iterator[Any]:
    """Yield a launched browser (the `browser` fixture); skip, or fail in CI, without Chromium
    or without the built viewer page."""
    chromium = require_binary("chromium", "chromium")
    if not STATIC_INDEX.exists():
        message = (
            f"the viewer page is not built ({STATIC_INDEX} is missing): "
            "run `cd web && npm ci && npm run build` (or `make web`)"
        )
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    if in_ci():  # a test dependency: missing in CI is a broken install, not a skip
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
