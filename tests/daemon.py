"""Run a real `owncastd serve` process for a test: its own data dir, free ports, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """`owncastd serve` in a subprocess, configured through a TOML file in `tmp`."""

    def __init__(self, tmp: Path, extra_toml: str = "", env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.http_port = free_port()
        self.rtmp_port = free_port()
        self.data_dir = tmp / "data"
        self.config_path = tmp / "owncastd.toml"
        self.admin_password = "test-admin-password"
        self.stream_key = "test-stream-key"
        self.config_path.write_text(self.base_toml() + extra_toml, encoding="utf-8")
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = tmp / "daemon.log"

    def base_toml(self) -> str:
        return f"""
[server]
http_address = "127.0.0.1"
http_port = {self.http_port}
rtmp_address = "127.0.0.1"
rtmp_port = {self.rtmp_port}
data_dir = "{self.data_dir}"

[admin]
password = "{self.admin_password}"

[stream]
keys = [{{ key = "{self.stream_key}", comment = "test" }}]

[logging]
level = "debug"
format = "plain"
"""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{self.stream_key}"

    @property
    def admin_auth(self) -> tuple[str, str]:
        return ("admin", self.admin_password)

    def start(self, wait: bool = True, timeout: float = 20.0) -> Daemon:
        self._log = self.log_path.open("a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "owncastd", "serve", "--config", str(self.config_path)],
            cwd=self.tmp,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/api/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"daemon not ready after {timeout}s:\n{self.log()}")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=kw.pop("timeout", 10), **kw)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.get("/api/status").json()
        return data

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"daemon did not stop within {timeout}s:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the daemon's log after {timeout}s:\n{self.log()}")


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "owncastd", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
