"""Build hook: the wheel ships the viewer page, built from web/ with npm when it is not built yet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ViewerPageHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "viewer-page"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        static = root / "src" / "owncastd" / "webserver" / "static"
        web = root / "web"
        if (static / "index.html").exists() or not (web / "package.json").exists():
            return
        npm = shutil.which("npm")
        if npm is None:
            self.app.display_warning("npm not found: the wheel ships without the viewer page (install Node.js)")
            return
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=web, check=True)
        subprocess.run([npm, "run", "--silent", "build"], cwd=web, check=True)
