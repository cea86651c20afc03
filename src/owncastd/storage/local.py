"""Local directory storage: `<data_dir>/hls`, atomic writes (temporary file, then rename)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import trio

from owncastd.storage.base import check_name


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        path = (self.root / check_name(name)).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{name!r} leaves the storage root")
        return path

    async def start(self) -> None:
        await trio.to_thread.run_sync(self._clear)

    def _clear(self) -> None:
        """Files from an earlier run would be served as if live: remove them.

        The root itself stays: it may be a mount point (a tmpfs for HLS is common).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        for entry in self.root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)

    async def put(self, name: str, data: bytes) -> None:
        await trio.to_thread.run_sync(self._write, self._path(name), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with tmp.open("wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    async def delete(self, names: list[str]) -> None:
        paths = [self._path(n) for n in names]
        await trio.to_thread.run_sync(self._unlink, paths)

    @staticmethod
    def _unlink(paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())
