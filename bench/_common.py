"""Shared helpers for the benchmarks: a real `owncastd serve`, free ports, CPU time, percentiles.

Benchmarks run from the repository root with the project's venv (`.venv/bin/python bench/...`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM_ARGS as TEST_CHROMIUM_ARGS  # noqa: E402

# The tests' flags, plus: pages in the background keep their timers and rendering at full rate
# (the latency bench plays several at once).
CHROMIUM_ARGS = [
    *TEST_CHROMIUM_ARGS,
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]


def video_toml(level: int, *, passthrough: bool = True) -> str:
    """`[video]` at a latency level; with `passthrough`, one rung that sends the source as is
    (what nginx-rtmp does, and what isolates serving from transcoding)."""
    text = f"\n[video]\nlatency_level = {level}\n"
    if passthrough:
        text += '\n[[video.variants]]\nname = "source"\nvideo_passthrough = true\n'
    return text


def warn_if_busy() -> None:
    """Benchmarks want the machine to themselves: say so when something else is running."""
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"warning: load average {load:.2f} before the start: other processes are running, "
            "so the figures will be worse than the machine can do",
            file=sys.stderr,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        sys.exit(f"needs `{binary}` (Debian package {package})")
    return path


class Owncastd:
    """`owncastd serve` in a subprocess with its own data dir and ports."""

    def __init__(self, workdir: Path, extra_toml: str = "", log_level: str = "info") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.http_port = free_port()
        self.rtmp_port = free_port()
        self.key = "bench-key"
        self.config = workdir / "owncastd.toml"
        self.config.write_text(
            f"""
[server]
http_address = "127.0.0.1"
http_port = {self.http_port}
rtmp_address = "127.0.0.1"
rtmp_port = {self.rtmp_port}
data_dir = "{workdir / "data"}"

[admin]
password = "bench-admin-password"

[stream]
keys = [{{ key = "{self.key}", comment = "bench" }}]

[logging]
level = "{log_level}"
format = "plain"
{extra_toml}
""",
            encoding="utf-8",
        )
        self.log_path = workdir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{self.key}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20) -> Owncastd:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "owncastd", "serve", "--config", str(self.config)],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_http(self.url + "/api/ping", timeout, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
