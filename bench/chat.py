"""Chat fan-out benchmark: N websocket clients in worker processes, M messages a second in.

Starts a real `owncastd serve`, registers N chat users, and splits them over `--procs` worker
processes (trio-websocket). Every client reads everything; `ceil(M)` of them also send, each
once a second (under the 3-per-2-seconds flood limit), so M messages a second go in and
N x M deliveries a second should come out. A message carries its send time (wall clock; all
processes share the machine), so each delivery's send-to-receive latency is measured.

Reports deliveries per second, p50/p99/max latency, drops (deliveries missing at clients
still connected), clients the server disconnected, and the daemon's CPU use. One client reads
alone in its own process; its latency is given apart: it is what a viewer on their own machine
sees, while the others' includes waiting for the rest of their worker process (on two cores the
bench's own clients need more CPU than the server).

    .venv/bin/python bench/chat.py --clients 2000 --rate 20 --seconds 30 --procs 2
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing as mp
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import trio
from trio_websocket import ConnectionClosed, open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Owncastd, cpu_seconds, percentile

senders = [1]
MARK = re.compile(r"bench~(\d+)~(\d+)~(\d+\.\d+)~")


def register(url: str, n: int) -> list[str]:
    tokens = []
    for i in range(n):
        req = urllib.request.Request(
            url + "/api/chat/register",
            data=json.dumps({"displayName": f"bench{i}"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            tokens.append(json.loads(response.read())["accessToken"])
    return tokens


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.received: dict[int, int] = {}  # client -> bench messages received in the window
        self.closed = 0
        self.frames = 0
        self.sent = 0
        self.cpu = 0.0


async def client(
    ws_url: str,
    token: str,
    index: int,
    sender: int | None,
    stats: Stats,
    connected: trio.Semaphore,
    ready: list[int],
    start: list[float],
    stop_at: list[float],
) -> None:
    stats.received[index] = 0
    try:
        async with open_websocket_url(
            f"{ws_url}?accessToken={token}",
            max_message_size=1 << 22,
            message_queue_size=64,
            receive_buffer_size=1 << 16,
        ) as ws:
            ready[0] += 1
            connected.release()
            async with trio.open_nursery() as nursery:
                if sender is not None:
                    nursery.start_soon(send_loop, ws, sender, stats, start, stop_at)
                while True:
                    text = await ws.get_message()
                    now = time.time()
                    stats.frames += 1
                    if "bench~" not in text:
                        continue
                    for m in MARK.finditer(text):
                        sent_at = float(m.group(3))
                        if start[0] <= sent_at < stop_at[0]:
                            stats.received[index] += 1
                            stats.latencies.append(now - sent_at)
    except ConnectionClosed:
        stats.closed += 1
        stats.received.pop(index, None)
    except OSError:
        stats.closed += 1
        stats.received.pop(index, None)


async def send_loop(
    ws: Any, sender: int, stats: Stats, start: list[float], stop_at: list[float]
) -> None:
    while not start[0]:
        await trio.sleep(0.05)
    # Spread the senders over the second so M messages a second arrive evenly.
    first = start[0] + sender / senders[0]
    seq = 0
    next_at = first
    while True:
        delay = next_at - time.time()
        if delay > 0:
            await trio.sleep(delay)
        now = time.time()
        if now >= stop_at[0]:
            return
        body = f"bench~{sender}~{seq}~{now:.6f}~ hello from a benchmark"
        await ws.send_message(json.dumps({"type": "CHAT", "body": body}))
        if start[0] <= now < stop_at[0]:
            stats.sent += 1
        seq += 1
        next_at += 1.0


async def worker_main(
    ws_url: str, tokens: list[tuple[int, str, int | None]], pipe: Connection
) -> None:
    stats = Stats()
    ready = [0]
    start = [0.0]
    stop_at = [math.inf]
    connected = trio.Semaphore(0)
    async with trio.open_nursery() as nursery:
        limiter = trio.CapacityLimiter(50)

        async def launch(index: int, token: str, sender: int | None) -> None:
            async with limiter:
                nursery.start_soon(
                    client, ws_url, token, index, sender, stats, connected, ready, start, stop_at
                )
                with trio.move_on_after(30):
                    await connected.acquire()

        async with trio.open_nursery() as launching:
            for index, token, sender in tokens:
                launching.start_soon(launch, index, token, sender)
        # The connected clients' objects live to the end: keep the cyclic GC from walking them
        # on every full collection (a pause there shows up as latency).
        gc.collect()
        gc.freeze()
        pipe.send(("connected", ready[0]))
        message = await trio.to_thread.run_sync(pipe.recv)
        start[0], stop_at[0], end, senders[0] = message
        await trio.sleep(max(0.0, start[0] - time.time()))
        cpu0 = time.process_time()
        await trio.sleep(max(0.0, stop_at[0] - time.time()))
        stats.cpu = time.process_time() - cpu0
        await trio.sleep(max(0.0, end - time.time()))
        nursery.cancel_scope.cancel()
    pipe.send(
        (
            "done",
            {
                "latencies": stats.latencies,
                "received": list(stats.received.values()),
                "closed": stats.closed,
                "frames": stats.frames,
                "sent": stats.sent,
                "cpu": stats.cpu,
            },
        )
    )


def worker(ws_url: str, tokens: list[tuple[int, str, int | None]], pipe: Connection) -> None:
    trio.run(worker_main, ws_url, tokens, pipe)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=20.0, help="messages per second in")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured duration")
    ap.add_argument("--procs", type=int, default=2, help="client worker processes")
    ap.add_argument("--url", default="", help="an already running server (default: start one)")
    ap.add_argument(
        "--pid", type=int, default=0, help="the --url server's pid (for CPU and --py-spy)"
    )
    ap.add_argument(
        "--py-spy", default="", help="record a py-spy profile of the measured window here"
    )
    args = ap.parse_args()

    daemon = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        daemon = Owncastd(Path(tempfile.mkdtemp(prefix="bench-chat-")), log_level="warning")
        daemon.start()
        url = daemon.url
    ws_url = url.replace("http://", "ws://") + "/ws"
    try:
        t0 = time.time()
        tokens = register(url, args.clients)
        print(f"registered {args.clients} users in {time.time() - t0:.1f}s", flush=True)
        senders = max(1, math.ceil(args.rate))
        rate_each = args.rate / senders
        if rate_each > 1.0 + 1e-9:
            sys.exit("more than one message a second per sender")
        # The last client reads alone in its own process: what a viewer on their own machine
        # sees, without the wait for the bench's other clients in the same process.
        plan: list[list[tuple[int, str, int | None]]] = [[] for _ in range(args.procs + 1)]
        for i, token in enumerate(tokens):
            sender = i if i < senders else None
            plan[args.procs if i == len(tokens) - 1 else i % args.procs].append((i, token, sender))
        ctx = mp.get_context("spawn")
        pipes, procs = [], []
        for part in plan:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker, args=(ws_url, part, theirs), daemon=True)
            proc.start()
            pipes.append(mine)
            procs.append(proc)
        connected = sum(pipe.recv()[1] for pipe in pipes)
        print(f"{connected} clients connected in {time.time() - t0:.1f}s", flush=True)
        warmup = 3.0
        start = time.time() + warmup
        stop_at = start + args.seconds
        end = stop_at + 3.0  # drain
        cpu_before = cpu_seconds(daemon.pid) if daemon else None
        for pipe in pipes:
            pipe.send((start, stop_at, end, senders))
        pid = daemon.pid if daemon else args.pid
        time.sleep(max(0.0, start - time.time()))
        cpu_start = cpu_seconds(pid) if pid else None
        spy = None
        if args.py_spy and pid:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-p",
                    str(pid),
                    "-r",
                    "100",
                    "-d",
                    str(int(args.seconds)),
                    "-f",
                    "raw",
                    "-o",
                    args.py_spy,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(max(0.0, stop_at - time.time()))
        cpu_stop = cpu_seconds(pid) if pid else None
        if spy is not None:
            spy.wait(30)
        results = [pipe.recv()[1] for pipe in pipes]
        for proc in procs:
            proc.join(10)
        del cpu_before
    finally:
        if daemon is not None:
            daemon.stop()

    latencies = [x for r in results for x in r["latencies"]]
    received = [x for r in results for x in r["received"]]
    sent = sum(r["sent"] for r in results)
    closed = sum(r["closed"] for r in results)
    frames = sum(r["frames"] for r in results)
    expected = sent * len(received)
    delivered = sum(received)
    drops = expected - delivered
    print(f"clients {args.clients} ({connected} connected, {closed} disconnected by the server)")
    print(f"messages in: {sent} in {args.seconds:.0f}s ({sent / args.seconds:.1f}/s)")
    print(
        f"deliveries:  {delivered} ({delivered / args.seconds:,.0f}/s); expected {expected}; drops {drops}"
    )
    print(
        f"frames:      {frames} ({frames / (args.seconds + 6):,.0f}/s, {delivered / max(frames, 1):.2f} deliveries per frame)"
    )
    print(
        f"latency:     p50 {percentile(latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.1f} ms, max {max(latencies, default=0) * 1000:.1f} ms"
    )
    lone = results[-1]["latencies"]
    print(
        f"lone client: p50 {percentile(lone, 50) * 1000:.1f} ms, "
        f"p99 {percentile(lone, 99) * 1000:.1f} ms (one client in its own process)"
    )
    client_cpu = ", ".join(f"{r['cpu'] / args.seconds * 100:.0f}%" for r in results[:-1])
    print(f"client CPU:  {client_cpu} of one core per worker process")
    if cpu_start is not None and cpu_stop is not None:
        print(f"daemon CPU:  {(cpu_stop - cpu_start) / args.seconds * 100:.0f}% of one core")


if __name__ == "__main__":
    main()
