"""Tests that need a Debian package: skip with the package's name locally, fail in CI (CI=true)."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binary(binary: str, package: str) -> str:
    """Return the path of `binary`, or skip (fail in CI) naming the Debian package that has it."""
    path = shutil.which(binary)
    if path is None:
        message = f"needs `{binary}` from the Debian package {package} (apt-get install {package})"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path
