"""The settings layer: one typed view over embedded defaults < database < the TOML file.

Keys set in the TOML file are pinned: changing them at run time (admin API, CLI) is refused with
a message naming the file. Every other key is runtime state in SQLite. Services read `current`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, Literal

from owncastd import config as cfg
from owncastd.db import Database
from owncastd.db.queries import settings as q

log = logging.getLogger(__name__)

Source = Literal["default", "database", "file"]


class PinnedSettingError(Exception):
    """A key set in the TOML file was to be changed at run time."""


class Settings:
    """The effective configuration, and the only way to change it at run time."""

    def __init__(self, loaded: cfg.LoadedConfig, db: Database) -> None:
        self._loaded = loaded
        self._db = db
        self._listeners: list[Callable[[cfg.Config], None]] = []
        self.current = self._compute()

    @property
    def file(self) -> cfg.LoadedConfig:
        return self._loaded

    def _db_values(self) -> dict[str, Any]:
        """Stored values that still fit the schema; a stale one is logged and ignored."""
        good: dict[str, Any] = {}
        for key, value in q.all_settings(self._db).items():
            try:
                tp, f = cfg.field_of(key)
                cfg.convert(tp, value, key, f.metadata)
            except (KeyError, cfg.ConfigError) as exc:
                log.warning("ignoring stored setting key=%s reason=%s", key, exc)
                continue
            good[key] = value
        return good

    def _compute(self) -> cfg.Config:
        table: dict[str, Any] = {}
        for key, value in self._db_values().items():
            if key not in self._loaded.pinned:
                cfg.set_path(table, key, value)
        table = cfg.merge(table, self._loaded.values)
        try:
            config: cfg.Config = cfg.build(cfg.Config, table)
        except cfg.ConfigError as exc:  # a stored value breaks a cross-field rule: file wins
            log.warning("stored settings ignored reason=%s", exc)
            config = self._loaded.config
        return config

    def source(self, key: str) -> Source:
        if key in self._loaded.pinned:
            return "file"
        return "database" if key in q.all_settings(self._db) else "default"

    def pinned_message(self, key: str) -> str:
        where = self._loaded.path or "the config file"
        return (
            f"{key} is set in {where}; change it there (keys in the file are read-only at run time)"
        )

    def set(self, key: str, value: Any) -> cfg.Config:
        """Validate and store a runtime value; PinnedSettingError if the file sets it."""
        tp, f = cfg.field_of(key)  # KeyError for an unknown key
        if key in self._loaded.pinned:
            raise PinnedSettingError(self.pinned_message(key))
        cfg.to_plain(cfg.convert(tp, value, key, f.metadata))
        table = cfg.to_plain(self.current)
        cfg.set_path(table, key, value)
        cfg.build(cfg.Config, table)  # cross-field rules
        q.put_setting(self._db, key, value)
        return self._changed()

    def reset(self, key: str) -> cfg.Config:
        """Forget a runtime value (back to the default)."""
        cfg.field_of(key)
        if key in self._loaded.pinned:
            raise PinnedSettingError(self.pinned_message(key))
        q.delete_setting(self._db, key)
        return self._changed()

    def reload(self, loaded: cfg.LoadedConfig) -> cfg.Config:
        """Take a newly loaded file (SIGHUP)."""
        self._loaded = loaded
        return self._changed()

    def on_change(self, listener: Callable[[cfg.Config], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> cfg.Config:
        self.current = self._compute()
        for listener in self._listeners:
            listener(self.current)
        return self.current

    def annotated(self) -> list[tuple[str, Any, Source]]:
        """(key, effective value, where it came from) for every leaf key."""
        plain = cfg.to_plain(self.current)
        stored = q.all_settings(self._db)
        out: list[tuple[str, Any, Source]] = []
        for key in cfg.leaf_paths():
            src: Source = (
                "file" if key in self._loaded.pinned else "database" if key in stored else "default"
            )
            out.append((key, cfg.get_path(plain, key), src))
        return out


def replace_data_dir(loaded: cfg.LoadedConfig, data_dir: str) -> cfg.LoadedConfig:
    """The `--data-dir` override: it wins over the file and is pinned for this run."""
    values = cfg.merge(loaded.values, {"server": {"data_dir": data_dir}})
    config = dataclasses.replace(
        loaded.config, server=dataclasses.replace(loaded.config.server, data_dir=data_dir)
    )
    return dataclasses.replace(
        loaded, values=values, config=config, pinned=loaded.pinned | {"server.data_dir"}
    )
