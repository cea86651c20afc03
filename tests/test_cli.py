"""The CLI through real subprocesses: keys, admin, config show, backup, db."""

from __future__ import annotations

import shutil
from pathlib import Path

from owncastd.db import Database
from tests.daemon import Daemon, run_cli


def write_config(tmp: Path, extra: str = "") -> Path:
    path = tmp / "owncastd.toml"
    path.write_text(f'[server]\ndata_dir = "{tmp / "data"}"\n{extra}')
    return path


def test_keys_add_list_remove(tmp_path: Path) -> None:
    write_config(tmp_path, '[stream]\nkeys = [{ key = "pinned-key", comment = "from file" }]\n')
    assert run_cli("keys", "add", "extra-key", "--comment", "laptop", cwd=tmp_path).returncode == 0
    listed = run_cli("keys", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert (
        "pinned-key" in listed.stdout and "extra-key" in listed.stdout and "laptop" in listed.stdout
    )

    refused = run_cli("keys", "remove", "pinned-key", cwd=tmp_path)
    assert refused.returncode == 1
    assert "pinned-key: is set in owncastd.toml; remove it there" in refused.stderr

    assert run_cli("keys", "add", "extra-key", cwd=tmp_path).returncode == 1
    bad = run_cli("keys", "add", "has space", cwd=tmp_path)
    assert bad.returncode == 1 and "must not contain spaces" in bad.stderr

    assert run_cli("keys", "remove", "extra-key", cwd=tmp_path).returncode == 0
    assert "extra-key" not in run_cli("keys", "list", cwd=tmp_path).stdout
    gone = run_cli("keys", "remove", "extra-key", cwd=tmp_path)
    assert gone.returncode == 1 and "no such stream key" in gone.stderr

    generated = run_cli("keys", "add", cwd=tmp_path)
    assert generated.returncode == 0
    key = generated.stdout.split()[-1]
    assert len(key) >= 20 and key in run_cli("keys", "list", cwd=tmp_path).stdout


def test_admin_password(tmp_path: Path) -> None:
    write_config(tmp_path)
    result = run_cli("admin", "set-password", "--password-stdin", cwd=tmp_path, input="short\n")
    assert result.returncode == 1 and "at least 8 characters" in result.stderr
    result = run_cli(
        "admin", "set-password", "--password-stdin", cwd=tmp_path, input="a-long-password\n"
    )
    assert result.returncode == 0, result.stderr

    from owncastd import config as cfg
    from owncastd import credentials

    db = Database(tmp_path / "data" / "owncastd.db")
    assert credentials.check_admin_password(cfg.Config(), db, "a-long-password")
    assert not credentials.check_admin_password(cfg.Config(), db, "wrong-password")

    write_config(tmp_path, '[admin]\npassword = "from-the-file"\n')
    pinned = run_cli(
        "admin", "set-password", "--password-stdin", cwd=tmp_path, input="another-password\n"
    )
    assert pinned.returncode == 1 and "admin.password is set in owncastd.toml" in pinned.stderr


def test_first_start_credentials_then_show_credentials(
    daemon_factory: type[Daemon], tmp_path: Path
) -> None:
    d = daemon_factory()
    d.config_path.write_text(
        d.base_toml()
        .replace('password = "test-admin-password"', 'password = ""')
        .replace(f'keys = [{{ key = "{d.stream_key}", comment = "test" }}]', "keys = []")
    )
    d.start()
    log = d.wait_for_log("generated now; shown once")
    assert d.stop() == 0
    key_line = next(line for line in log.splitlines() if "Stream key:" in line)
    key = key_line.split()[2]
    password = (
        next(line for line in log.splitlines() if "Admin:" in line).split("password ")[1].split()[0]
    )

    shown = run_cli("admin", "show-credentials", "--config", str(d.config_path), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert key in shown.stdout
    assert password not in shown.stdout  # stored hashed, never shown again

    # A second start generates nothing new.
    d.start()
    assert d.get("/api/admin/status", auth=("admin", password)).status_code == 200
    assert d.get("/api/admin/status", auth=("admin", "not-it")).status_code == 401
    assert d.stop() == 0
    assert d.log().count("generated now") == 2  # the two lines of the first start only


def test_config_show_marks_sources(tmp_path: Path) -> None:
    write_config(tmp_path, "[video]\nlatency_level = 1\n")
    result = run_cli("config", "show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "latency_level = 1  # file" in result.stdout
    assert "http_port = 8080  # default" in result.stdout


def test_backup_create_and_restore(tmp_path: Path) -> None:
    write_config(tmp_path)
    assert run_cli("keys", "add", "before-backup", cwd=tmp_path).returncode == 0
    made = run_cli("backup", "create", str(tmp_path / "b.db"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert run_cli("keys", "add", "after-backup", cwd=tmp_path).returncode == 0
    restored = run_cli("backup", "restore", str(tmp_path / "b.db"), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    listed = run_cli("keys", "list", cwd=tmp_path).stdout
    assert "before-backup" in listed and "after-backup" not in listed

    default_place = run_cli("backup", "create", cwd=tmp_path)
    assert default_place.returncode == 0
    assert list((tmp_path / "data" / "backup").glob("owncastd-*.db"))


def test_restore_refused_while_the_daemon_runs(daemon: Daemon, tmp_path: Path) -> None:
    backup = tmp_path / "b.db"
    assert (
        run_cli(
            "backup", "create", str(backup), "--config", str(daemon.config_path), cwd=tmp_path
        ).returncode
        == 0
    )
    result = run_cli(
        "backup", "restore", str(backup), "--config", str(daemon.config_path), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "owncastd is running" in result.stderr and "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_migrate_and_newer_or_corrupt_database(tmp_path: Path) -> None:
    write_config(tmp_path)
    first = run_cli("db", "migrate", cwd=tmp_path)
    assert first.returncode == 0 and "schema version" in first.stdout
    db_file = tmp_path / "data" / "owncastd.db"
    import apsw

    conn = apsw.Connection(str(db_file))
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    newer = run_cli("keys", "list", cwd=tmp_path)
    assert newer.returncode == 1 and "schema version 999 is newer" in newer.stderr
    assert "Traceback" not in newer.stderr

    shutil.rmtree(tmp_path / "data")
    (tmp_path / "data").mkdir()
    db_file.write_bytes(b"not a database" * 300)
    corrupt = run_cli("serve", cwd=tmp_path)
    assert corrupt.returncode == 1 and "not a SQLite database" in corrupt.stderr
    assert db_file.read_bytes() == b"not a database" * 300
