"""sd_notify without libsystemd: READY, RELOADING, STOPPING and the watchdog, as AF_UNIX datagrams."""

from __future__ import annotations

import os
import socket
import time

import trio


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    # A leading '@' names an abstract-namespace socket.
    return "\0" + addr[1:] if addr.startswith("@") else addr


def notify(message: str) -> bool:
    """Send one sd_notify message; False when not run under a notify socket."""
    addr = _address()
    if addr is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(addr)
            sock.sendall(message.encode())
        except OSError:
            return False
    return True


def ready() -> bool:
    return notify("READY=1\nSTATUS=serving")


def reloading() -> bool:
    # systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 to match the reload to this message.
    return notify(
        f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
    )


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """Half of WATCHDOG_USEC (in seconds), if the watchdog is on for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2 / 1e6, 0.01)
    except ValueError:
        return None


async def watchdog(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Ping the watchdog at half its interval; the pings stop if the event loop stalls."""
    interval = watchdog_interval()
    task_status.started()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await trio.sleep(interval)
