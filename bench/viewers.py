"""How many LL-HLS viewers one owncastd serves on this machine: ramp N, report the largest N
with no viewer stalling, and the daemon's CPU.

Each simulated viewer does what hls.js does in low-latency mode, on its own keep-alive HTTP/1.1
connection: a blocking playlist reload for the next part (`_HLS_msn`/`_HLS_part`), then a GET of
that part, and again. Viewers run in client processes (trio, a minimal HTTP/1.1 client over
trio sockets), so the daemon's CPU is its own. A viewer stalls when it falls more than
`--stall-parts` part durations behind the live edge (wall time since it started minus media
fetched, against its best), or when a request fails.

    .venv/bin/python bench/viewers.py [--levels 2] [--steps 100,250,500,1000,1500,2000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from _common import (
    Owncastd,
    cpu_seconds,
    free_port,
    need,
    percentile,
    stop_process,
    video_toml,
    wait_http,
    warn_if_busy,
)

MEDIA = "/hls/0/stream.m3u8"


# -- the client side (runs in a subprocess: `viewers.py --client ...`) ---------------------------


class HTTPError(Exception):
    pass


class Connection:
    """A keep-alive HTTP/1.1 client for GETs with Content-Length answers (what owncastd sends)."""

    def __init__(self, host: str, port: int, agent: str) -> None:
        self.host, self.port, self.agent = host, port, agent
        self.stream: object = None
        self.buffer = bytearray()

    async def get(self, path: str) -> tuple[int, bytes]:
        import trio

        if self.stream is None:
            self.stream = await trio.open_tcp_stream(self.host, self.port)
            self.buffer.clear()
        stream: trio.SocketStream = self.stream  # type: ignore[assignment]
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {self.agent}\r\n\r\n"
        await stream.send_all(request.encode())
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            await self._fill(stream)
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        status = int(head[9:12])
        match = re.search(r"(?im)^content-length:\s*(\d+)", head)
        if match is None:
            raise HTTPError(f"no Content-Length in {head!r}")
        length = int(match.group(1))
        while len(buffer) < length:
            await self._fill(stream)
        body = bytes(buffer[:length])
        del buffer[:length]
        if re.search(r"(?im)^connection:\s*close", head):
            await self.close()
        return status, body

    async def _fill(self, stream: object) -> None:
        data = await stream.receive_some(256 * 1024)  # type: ignore[attr-defined]
        if not data:
            await self.close()
            raise HTTPError("connection closed")
        self.buffer += data

    async def close(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await stream.aclose()  # type: ignore[attr-defined]


@dataclass
class Segment:
    parts: list[tuple[str, float]] = field(default_factory=list)
    complete: bool = False
    program_date_time: float | None = None  # epoch seconds


def parse_playlist(text: str) -> tuple[dict[int, Segment], float]:
    """MSN -> its listed parts (URI, duration) and whether it is complete; the part target."""
    segments: dict[int, Segment] = {}
    msn = 0
    part_target = 1.0
    current = Segment()
    for line in text.splitlines():
        if line.startswith("#EXT-X-PART:"):
            uri = line.split('URI="', 1)[1].split('"', 1)[0]
            duration = float(line.split("DURATION=", 1)[1].split(",", 1)[0])
            current.parts.append((uri, duration))
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line[22:])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            when = datetime.fromisoformat(line[25:].replace("Z", "+00:00"))
            current.program_date_time = when.timestamp()
        elif line.startswith("#EXT-X-PART-INF:"):
            part_target = float(line.split("PART-TARGET=", 1)[1])
        elif line and not line.startswith("#"):
            current.complete = True
            segments[msn] = current
            msn += 1
            current = Segment()
    segments[msn] = current
    return segments, part_target


def find_part(
    segments: dict[int, Segment], msn: int, part: int
) -> tuple[int, int, str, float, float | None]:
    """The part a blocking request for (msn, part) asked for (past a complete segment's last
    part means part 0 of the next, RFC 8216bis 6.2.5.2)."""
    segment = segments.get(msn)
    if segment is not None and segment.complete and part >= len(segment.parts):
        msn, part = msn + 1, 0
        segment = segments.get(msn)
    if segment is None or part >= len(segment.parts):
        raise HTTPError(f"part {msn}.{part} not in the playlist")
    uri, duration = segment.parts[part]
    end = None
    if segment.program_date_time is not None:
        end = segment.program_date_time + sum(d for _, d in segment.parts[: part + 1])
    return msn, part, uri, duration, end


@dataclass
class ViewerStats:
    parts: int = 0
    requests: int = 0
    errors: int = 0
    worst_excess: float = 0.0  # seconds behind its best position relative to the live edge
    # Wall clock when the part was in hand minus the ingest time of its end (its PDT plus its
    # offset): how late the server handed out what it had.
    served_lag: list[float] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)


async def run_viewer(
    index: int, host: str, port: int, start_at: float, measure_from: float, stop_at: float
) -> ViewerStats:
    import trio

    stats = ViewerStats()
    await trio.sleep_until(start_at)
    conn = Connection(host, port, f"bench-viewer/{index}")
    msn = part = -1
    started = media = 0.0
    best: float | None = None
    while trio.current_time() < stop_at:
        try:
            with trio.fail_after(15):
                if msn < 0:
                    status, body = await conn.get(MEDIA)
                    stats.requests += 1
                    if status != 200:
                        raise HTTPError(f"playlist {status}")
                    segments, _ = parse_playlist(body.decode())
                    msn = max(segments)
                    part = len(segments[msn].parts)  # the part being written now
                    started, media, best = trio.current_time(), 0.0, None
                status, body = await conn.get(f"{MEDIA}?_HLS_msn={msn}&_HLS_part={part}")
                stats.requests += 1
                if status != 200:
                    raise HTTPError(f"blocking reload {status}")
                segments, _ = parse_playlist(body.decode())
                msn, part, uri, duration, media_end = find_part(segments, msn, part)
                status, data = await conn.get(f"/hls/0/{uri}")
                stats.requests += 1
                if status != 200 or not data:
                    raise HTTPError(f"part {status}")
        except (HTTPError, OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
            kind = type(exc).__name__ + (f": {exc}" if isinstance(exc, HTTPError) else "")
            kind = re.sub(r"\d+\.\d+", "N", kind)
            if trio.current_time() >= measure_from:
                stats.errors += 1
                stats.error_kinds[kind] = stats.error_kinds.get(kind, 0) + 1
            await conn.close()
            msn = -1  # start again from the live edge
            await trio.sleep(0.5)
            continue
        stats.parts += 1
        part += 1
        media += duration
        now = trio.current_time()
        # Behind the live edge by (time since start - media fetched) plus a constant offset;
        # against the viewer's best, that is how far it fell behind.
        lag = (now - started) - media
        best = lag if best is None else min(best, lag)
        if now >= measure_from:
            stats.worst_excess = max(stats.worst_excess, lag - best)
            if media_end is not None:
                stats.served_lag.append(time.time() - media_end)
    await conn.close()
    return stats


async def client_main(args: argparse.Namespace) -> None:
    import trio

    now = trio.current_time()
    first, count = args.first, args.viewers
    spread = args.spread
    measure_from = now + spread + args.warmup
    stop_at = measure_from + args.seconds
    results: list[ViewerStats] = []

    async def one(i: int) -> None:
        start_at = now + spread * (i - first) / max(count, 1)
        results.append(await run_viewer(i, args.host, args.port, start_at, measure_from, stop_at))

    async with trio.open_nursery() as nursery:
        for i in range(first, first + count):
            nursery.start_soon(one, i)
    out = {
        "cpu_seconds": time.process_time(),
        "viewers": [
            {
                "parts": s.parts,
                "requests": s.requests,
                "errors": s.errors,
                "worst_excess": s.worst_excess,
                "served_lag": [round(x, 4) for x in s.served_lag],
                "error_kinds": s.error_kinds,
            }
            for s in results
        ],
    }
    Path(args.out).write_text(json.dumps(out))


# -- the coordinator -----------------------------------------------------------------------------


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else need("py-spy", "py-spy (pip install py-spy)")


def publish(url: str, size: str, bitrate: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            need("ffmpeg", "ffmpeg"),
            *("-hide_banner", "-nostdin", "-loglevel", "error"),
            *("-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30"),
            *("-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"),
            *("-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate),
            *("-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "96k", "-f", "flv", url),
        ],
        stdout=subprocess.DEVNULL,
    )


PROXY_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp-body;
    proxy_temp_path {root}/tmp-proxy;
    fastcgi_temp_path {root}/tmp-fastcgi;
    uwsgi_temp_path {root}/tmp-uwsgi;
    scgi_temp_path {root}/tmp-scgi;
    proxy_cache_path {root}/cache levels=1:2 keys_zone=hls:10m max_size=256m inactive=60s
                     use_temp_path=off;
    upstream owncastd {{ server 127.0.0.1:{upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        keepalive_requests 1000000;
        location /hls/ {{
            proxy_pass http://owncastd;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 30s;
            proxy_cache hls;
            proxy_cache_key $request_uri;
            # Identical requests (every viewer's blocking reload for the same part, then the
            # part itself) wait for one upstream request and share its answer.
            proxy_cache_lock on;
            proxy_cache_lock_timeout 20s;
            proxy_cache_lock_age 20s;
            # Playlists say no-cache (right for players); a blocking reload's answer is what
            # every viewer asking for that part should get, so it is cached for a second.
            proxy_ignore_headers Cache-Control Expires;
            proxy_cache_valid 200 1s;
        }}
    }}
}}
"""


class CachingProxy:
    """nginx as a caching reverse proxy with request collapsing in front of owncastd."""

    def __init__(self, root: Path, upstream: int) -> None:
        root.mkdir(parents=True)
        self.root = root
        self.port = free_port()
        self.conf = root / "nginx.conf"
        self.conf.write_text(PROXY_CONF.format(root=root, upstream=upstream, port=self.port))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CachingProxy:
        self.proc = subprocess.Popen(
            [
                need("nginx", "nginx"),
                "-p",
                str(self.root),
                "-c",
                str(self.conf),
                "-e",
                str(self.root / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self


def run_step(
    daemon: Owncastd, n: int, processes: int, args: argparse.Namespace, work: Path
) -> dict[str, float]:
    per = math.ceil(n / processes)
    clients = []
    outs = []
    for p in range(processes):
        count = min(per, n - p * per)
        if count <= 0:
            break
        out = work / f"client-{n}-{p}.json"
        outs.append(out)
        clients.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--client",
                    *("--port", str(args.serve_port), "--first", str(p * per)),
                    *("--viewers", str(count), "--seconds", str(args.seconds)),
                    *("--warmup", str(args.warmup), "--spread", str(args.spread)),
                    *("--out", str(out)),
                ]
            )
        )
    time.sleep(args.spread + args.warmup)
    cpu_before, wall_before = cpu_seconds(daemon.pid), time.monotonic()
    time.sleep(args.seconds)
    cpu = (cpu_seconds(daemon.pid) - cpu_before) / (time.monotonic() - wall_before) * 100
    for client in clients:
        client.wait(args.seconds + 60)
    reports = [json.loads(out.read_text()) for out in outs]
    viewers = [v for report in reports for v in report["viewers"]]
    client_wall = args.spread + args.warmup + args.seconds
    client_cpu = sum(r["cpu_seconds"] for r in reports) / client_wall * 100
    excess = [v["worst_excess"] for v in viewers]
    served = [x for v in viewers for x in v["served_lag"]]
    limit = args.stall_parts * args.part_target
    stalled = sum(1 for v in viewers if v["errors"] or v["worst_excess"] > limit)
    requests = sum(v["requests"] for v in viewers)
    kinds: dict[str, int] = {}
    for v in viewers:
        for kind, count in v["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    return {
        "n": n,
        "stalled": stalled,
        "errors": sum(v["errors"] for v in viewers),
        "excess_p50": percentile(excess, 50),
        "excess_p99": percentile(excess, 99),
        "excess_max": max(excess, default=float("nan")),
        "served_p50": percentile(served, 50),
        "served_p99": percentile(served, 99),
        "parts_per_viewer": sum(v["parts"] for v in viewers) / max(len(viewers), 1),
        "requests_per_s": requests / (args.seconds + args.warmup + args.spread),
        "cpu": cpu,
        "client_cpu": client_cpu,
        "kinds": kinds,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--viewers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--steps", default="100,250,500,1000,1500,2000")
    parser.add_argument("--level", type=int, default=2, help="latency level (default 2)")
    parser.add_argument("--seconds", type=float, default=20, help="measured time per step")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--spread", type=float, default=5, help="seconds over which viewers join")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--stall-parts", type=float, default=2.0)
    parser.add_argument("--bitrate", default="1200k", help="video bitrate (Owncast's default)")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--keep-going", action="store_true", help="run every step")
    parser.add_argument("--profile", type=Path, help="py-spy the daemon into this .svg/.txt")
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="viewers go through nginx as a caching proxy with request collapsing",
    )
    args = parser.parse_args()
    if args.client:
        import trio

        trio.run(client_main, args)
        return

    from owncastd.hls.latency import settings_for_level

    warn_if_busy()
    args.part_target = float(settings_for_level(args.level).part_target)
    work = Path(tempfile.mkdtemp(prefix="owncastd-viewers-"))
    daemon = Owncastd(work / "daemon", video_toml(args.level), "warning")
    daemon.start()
    publisher = publish(daemon.rtmp_url, args.size, args.bitrate)
    profiler = None
    proxy = None
    rows = []
    try:
        wait_http(daemon.url + MEDIA, 20)
        args.serve_port = daemon.http_port
        if args.proxy:
            proxy = CachingProxy(work / "nginx", daemon.http_port).start()
            wait_http(f"http://127.0.0.1:{proxy.port}{MEDIA}", 10, proxy.proc)
            args.serve_port = proxy.port
        time.sleep(3)
        if args.profile:
            profiler = subprocess.Popen(
                [
                    py_spy(),
                    *("record", "--pid", str(daemon.pid), "--rate", "50"),
                    *("--format", "raw" if args.profile.suffix == ".txt" else "flamegraph"),
                    *("--output", str(args.profile), "--nonblocking"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        print(
            f"level {args.level}: part target {args.part_target:.3f} s, stall = more than "
            f"{args.stall_parts:g} parts behind or a failed request; {args.processes} client "
            f"processes; {args.seconds:g} s measured per step"
            + ("; through an nginx caching proxy" if args.proxy else "")
        )
        header = (
            f"{'viewers':>7} {'stalled':>7} {'errors':>6} {'behind p50':>10} {'p99':>6} "
            f"{'max':>6} {'served p50':>10} {'p99':>6} {'parts/viewer':>12} {'req/s':>7} "
            f"{'daemon CPU':>10} {'clients':>7}"
        )
        print(header)
        for n in (int(s) for s in args.steps.split(",")):
            row = run_step(daemon, n, args.processes, args, work)
            rows.append(row)
            print(
                f"{n:7d} {row['stalled']:7d} {row['errors']:6d} {row['excess_p50']:10.2f} "
                f"{row['excess_p99']:6.2f} {row['excess_max']:6.2f} "
                f"{row['served_p50']:10.3f} {row['served_p99']:6.3f} "
                f"{row['parts_per_viewer']:12.1f} {row['requests_per_s']:7.0f} "
                f"{row['cpu']:9.0f}% {row['client_cpu']:6.0f}%"
                + (f"  {row['kinds']}" if row["kinds"] else ""),
                flush=True,
            )
            if (
                publisher.poll() is not None
                or daemon.proc is None
                or daemon.proc.poll() is not None
            ):
                print("the publisher or the daemon stopped")
                break
            if row["stalled"] and not args.keep_going:
                break
    finally:
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(30)
        stop_process(publisher)
        if proxy is not None:
            stop_process(proxy.proc)
        daemon.stop()
    ok = [r["n"] for r in rows if not r["stalled"]]
    print(f"\nlargest N with no viewer stalling: {max(ok) if ok else 0} (work dir {work})")
    print(f"cores: {os.cpu_count()}; the client processes share them with the daemon")


if __name__ == "__main__":
    main()
