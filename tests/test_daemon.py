"""The daemon as systemd runs it: start, status, signals, sd_notify, and start-up failures."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from tests.daemon import Daemon, run_cli


def test_start_status_and_sigterm(daemon: Daemon) -> None:
    status = daemon.status()
    assert set(status) >= {
        "online",
        "viewerCount",
        "serverTime",
        "lastConnectTime",
        "lastDisconnectTime",
        "versionNumber",
        "streamTitle",
    }
    assert status["online"] is False
    assert daemon.get("/api/ping").status_code == 200
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in daemon.log()


def test_sigint_is_graceful_too(daemon: Daemon) -> None:
    daemon.signal(signal.SIGINT)
    assert daemon.proc is not None
    assert daemon.proc.wait(5) == 0


def test_sighup_reloads_and_keeps_old_config_on_error(daemon: Daemon) -> None:
    good = daemon.config_path.read_text() + '\n[instance]\nstream_title = "Reloaded title"\n'
    daemon.config_path.write_text(good)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("config reloaded")
    assert daemon.status()["streamTitle"] == "Reloaded title"

    daemon.config_path.write_text(
        good.replace('stream_title = "Reloaded title"', "stream_title = 42")
    )
    daemon.signal(signal.SIGHUP)
    log = daemon.wait_for_log("config reload failed")
    assert "instance.stream_title: must be a string" in log
    assert daemon.status()["streamTitle"] == "Reloaded title"
    assert daemon.stop() == 0


def test_sd_notify(daemon_factory: type[Daemon], tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(10)
        d = daemon_factory(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}).start()

        def receive_until(prefix: str) -> list[str]:
            seen = []
            while True:
                msg = sock.recv(4096).decode()
                seen.append(msg)
                if msg.startswith(prefix):
                    return seen

        assert any(m.startswith("READY=1") for m in receive_until("READY=1"))
        watchdogs = [
            m
            for m in receive_until("WATCHDOG=1") + receive_until("WATCHDOG=1")
            if m == "WATCHDOG=1"
        ]
        assert len(watchdogs) >= 2
        d.signal(signal.SIGHUP)
        seen = receive_until("RELOADING=1")
        assert "MONOTONIC_USEC=" in seen[-1]
        receive_until("READY=1")
        d.signal(signal.SIGTERM)
        receive_until("STOPPING=1")
        assert d.proc is not None and d.proc.wait(5) == 0


def test_port_in_use(daemon: Daemon, daemon_factory: type[Daemon], tmp_path: Path) -> None:
    (tmp_path / "second").mkdir()
    second = daemon_factory(tmp=tmp_path / "second")
    second.config_path.write_text(
        second.base_toml().replace(
            f"http_port = {second.http_port}", f"http_port = {daemon.http_port}"
        )
    )
    result = run_cli("serve", "--config", str(second.config_path), cwd=tmp_path / "second")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"owncastd: cannot listen on 127.0.0.1:{daemon.http_port} (server.http_port): address already in use"
    )
    assert daemon.status()["online"] is False  # the first one keeps serving


def test_second_daemon_on_the_same_data_dir(daemon: Daemon, tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(daemon.config_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "another owncastd" in result.stderr and "is using this data directory" in result.stderr


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli("serve", "--data-dir", str(blocker / "data"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        f"owncastd: {blocker / 'data'}: the data directory is not writable"
    )
    assert "Traceback" not in result.stderr
