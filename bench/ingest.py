"""CPU per stream-second while receiving a 6 Mbit/s 1080p30 RTMP publish: owncastd vs nginx-rtmp.

Both servers receive the same file, published in real time by two `ffmpeg -re -c copy`
processes started together. CPU time comes from /proc/<pid>/stat (user + system) over the
publish. owncastd also packages the stream into LL-HLS (it always does); nginx is measured
twice: receiving only (`live on`), and receiving plus its own HLS (`hls on`, 1 s fragments).

    .venv/bin/python bench/ingest.py [--seconds 30]

Needs the Debian packages ffmpeg, nginx and libnginx-mod-rtmp.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon import Daemon, free_port

CACHE = Path(__file__).resolve().parent / ".cache"
NGINX_RTMP = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def make_source(seconds: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"src-1080p30-6M-{seconds}s.flv"
    if not path.exists():
        print(
            f"encoding the {seconds} s 1080p30 6 Mbit/s source once (cached in {CACHE})...",
            flush=True,
        )
        subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency=440:duration={seconds}",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                "6M",
                "-maxrate",
                "6M",
                "-bufsize",
                "12M",
                "-g",
                "60",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                "-f",
                "flv",
                str(path),
            ],
            check=True,
        )
    return path


def start_nginx(tmp: Path, hls: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (tmp / "hls").mkdir(exist_ok=True)
    hls_conf = (
        f"hls on; hls_path {tmp}/hls; hls_fragment 1s; hls_playlist_length 3s;" if hls else ""
    )
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
load_module {NGINX_RTMP};
daemon off;
master_process off;
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{ live on; record off; {hls_conf} }}
    }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)], stderr=subprocess.PIPE)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise SystemExit(
            f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
    return proc, port


def publish(source: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-i",
            str(source),
            "-c",
            "copy",
            "-f",
            "flv",
            url,
        ],
        stderr=subprocess.PIPE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    for tool in ("ffmpeg", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (apt-get install ffmpeg nginx libnginx-mod-rtmp)")
    if not Path(NGINX_RTMP).exists():
        raise SystemExit("needs nginx's RTMP module (apt-get install libnginx-mod-rtmp)")
    source = make_source(args.seconds)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "owncastd").mkdir()
        (tmp / "nginx-live").mkdir()
        (tmp / "nginx-hls").mkdir()
        # The source passed through (the default ladder would transcode in a worker process,
        # whose CPU is not the ingest's), and info logs, set before the daemon starts.
        daemon = Daemon(
            tmp / "owncastd",
            '\n[video]\nlow_latency_parts = true\n\n[[video.variants]]\nname = "source"\n'
            "video_passthrough = true\n",
        )
        daemon.config_path.write_text(
            daemon.config_path.read_text().replace('level = "debug"', 'level = "info"')
        )
        daemon.start()
        nginx_live, live_port = start_nginx(tmp / "nginx-live", hls=False)
        nginx_hls, hls_port = start_nginx(tmp / "nginx-hls", hls=True)
        servers = {
            "owncastd (ingest + LL-HLS)": (daemon.proc.pid if daemon.proc else 0, daemon.rtmp_url),
            "nginx-rtmp (live only)": (nginx_live.pid, f"rtmp://127.0.0.1:{live_port}/live/bench"),
            "nginx-rtmp (live + HLS)": (nginx_hls.pid, f"rtmp://127.0.0.1:{hls_port}/live/bench"),
        }
        try:
            before = {name: cpu_seconds(pid) for name, (pid, _) in servers.items()}
            started = time.monotonic()
            pubs = [publish(source, url) for _, url in servers.values()]
            for p in pubs:
                p.wait()
            wall = time.monotonic() - started
            time.sleep(0.5)
            after = {name: cpu_seconds(pid) for name, (pid, _) in servers.items()}
            failed = [p.stderr.read().decode() for p in pubs if p.returncode and p.stderr]
            if failed:
                raise SystemExit("a publish failed: " + " | ".join(failed))
        finally:
            daemon.stop()
            for proc in (nginx_live, nginx_hls):
                proc.terminate()
                proc.wait()
    print(
        f"\nreceiving {args.seconds} s of 1080p30 at 6 Mbit/s (published in {wall:.1f} s of wall time)\n"
    )
    print(f"{'server':32} {'CPU s':>8} {'CPU s per stream-s':>20}")
    per = {}
    for name in servers:
        used = after[name] - before[name]
        per[name] = used / args.seconds
        print(f"{name:32} {used:8.2f} {per[name]:20.4f}")
    ours = per["owncastd (ingest + LL-HLS)"]
    for ref in ("nginx-rtmp (live only)", "nginx-rtmp (live + HLS)"):
        if per[ref] > 0:
            print(f"owncastd / {ref}: {ours / per[ref]:.2f}x")
    print("goal: owncastd at most 1.5x nginx")


if __name__ == "__main__":
    main()
