"""The settings layer: defaults < database < file, and pinned keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from owncastd import config as cfg
from owncastd.db import Database
from owncastd.settings import PinnedSettingError, Settings


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "owncastd.db")


def test_layers(db: Database, tmp_path: Path) -> None:
    loaded = cfg.parse('[instance]\nname = "From file"\n')
    loaded = cfg.LoadedConfig(
        path=tmp_path / "o.toml", values=loaded.values, config=loaded.config, pinned=loaded.pinned
    )
    settings = Settings(loaded, db)
    assert settings.current.instance.summary == cfg.InstanceConfig().summary
    assert settings.source("instance.summary") == "default"

    settings.set("instance.summary", "From the database")
    assert settings.current.instance.summary == "From the database"
    assert settings.source("instance.summary") == "database"
    assert Settings(loaded, db).current.instance.summary == "From the database"  # persisted

    assert settings.current.instance.name == "From file"
    with pytest.raises(
        PinnedSettingError, match=r"instance.name is set in .*o.toml; change it there"
    ):
        settings.set("instance.name", "x")

    settings.reset("instance.summary")
    assert settings.current.instance.summary == cfg.InstanceConfig().summary


def test_values_are_validated(db: Database) -> None:
    settings = Settings(cfg.load(None), db)
    with pytest.raises(cfg.ConfigError, match=r"video\.latency_level: must be at most 4"):
        settings.set("video.latency_level", 7)
    with pytest.raises(KeyError):
        settings.set("video.nope", 1)
    settings.set("video.variants", [{"name": "720p", "scaled_height": 720}])
    assert settings.current.video.variants[0].scaled_height == 720
    with pytest.raises(cfg.ConfigError, match="must have at least one variant"):
        settings.set("video.variants", [])


def test_file_wins_over_database_after_reload(db: Database) -> None:
    settings = Settings(cfg.load(None), db)
    settings.set("video.latency_level", 0)
    seen: list[int] = []
    settings.on_change(lambda c: seen.append(c.video.latency_level))
    settings.reload(cfg.parse("[video]\nlatency_level = 3\n"))
    assert settings.current.video.latency_level == 3
    assert seen == [3]
    settings.reload(cfg.load(None))
    assert settings.current.video.latency_level == 0


def test_a_stale_stored_value_is_ignored(db: Database) -> None:
    db.execute(
        "INSERT INTO settings VALUES ('video.latency_level', '\"high\"', 0), ('gone.key', '1', 0)"
    )
    settings = Settings(cfg.load(None), db)
    assert settings.current.video.latency_level == 2
