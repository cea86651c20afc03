"""Glass-to-glass latency in hls.js: owncastd at the default level (2) and the lowest (0), beside
nginx's RTMP module HLS, all fed by one ffmpeg publish (`-f tee`) and played at the same time.

Latency is (wall clock now - the wall-clock time of the frame on screen), sampled every 250 ms
in each page once playback has warmed up. For owncastd that time is hls.js's `playingDate`,
from EXT-X-PROGRAM-DATE-TIME (the time the segment's first frame reached ingest). nginx writes
no program date-time, so it is named the same way: `hls_fragment_naming system` names each
fragment by the system time (ms) at which its first frame arrived, and the page adds the
position inside the playing fragment. Both clocks start at the server's ingest (encoder delay
is not counted, for either) and everything runs on one machine, so no clock offset applies.

    .venv/bin/python bench/latency.py [--seconds 30] [--warmup 10] [--levels 2,0] [--no-nginx]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _common import (
    CHROMIUM_ARGS,
    ROOT,
    Owncastd,
    free_port,
    need,
    percentile,
    stop_process,
    video_toml,
    wait_http,
    warn_if_busy,
)

PLAYER_HTML = """<!doctype html>
<meta charset="utf-8">
<title>latency</title>
<video id="v" muted autoplay playsinline width="640" height="360"></video>
<script src="hls.js"></script>
<script>
const query = new URLSearchParams(location.search);
const mode = query.get("mode");  // "pdt": owncastd; "name": nginx, fragments named by ms
const video = document.getElementById("v");
// The viewer page's hls.js settings (web/src/player.ts).
// --catch-up sets maxLiveSyncPlaybackRate (the page's 1.2; hls.js's default 1 never catches up).
const rate = Number(query.get("rate") || "1.2");
const hls = new Hls({lowLatencyMode: true, enableWorker: false, liveDurationInfinity: true,
                     backBufferLength: 30, maxLiveSyncPlaybackRate: rate});
window.samples = [];
window.hlsLatency = [];  // hls.js's own figure: seconds behind the playlist's live edge
window.errors = [];
window.stalls = 0;
window.sampling = false;
window.hls = hls;
let frag = null;
hls.on(Hls.Events.FRAG_CHANGED, (_, data) => { frag = data.frag; });
hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
hls.on(Hls.Events.ERROR, (_, data) => {
  window.errors.push(data.details + (data.fatal ? " (fatal)" : ""));
  if (data.fatal && data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
  else if (data.fatal) setTimeout(() => hls.loadSource(query.get("src")), 1000);
});
video.addEventListener("waiting", () => { if (window.sampling) window.stalls += 1; });
hls.loadSource(query.get("src"));
hls.attachMedia(video);
setInterval(() => {
  if (!window.sampling || video.paused || video.readyState < 3) return;
  let shown = null;
  if (mode === "pdt") {
    const date = hls.playingDate;
    if (date) shown = date.getTime();
  } else if (frag) {
    const match = /(\\d+)\\.ts$/.exec(frag.relurl || frag.url);
    if (match) shown = Number(match[1]) + (video.currentTime - frag.start) * 1000;
  }
  if (shown !== null) window.samples.push((Date.now() - shown) / 1000);
  if (hls.latency) window.hlsLatency.push(hls.latency);
}, 250);
</script>
"""

NGINX_CONF = """
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp_port};
        chunk_size 4096;
        application live {{
            live on;
            record off;
            hls on;
            hls_path {root}/hls;
            hls_fragment 1s;
            hls_playlist_length 3s;
            hls_fragment_naming system;
        }}
    }}
}}
http {{
    access_log off;
    client_body_temp_path {root}/tmp-body;
    proxy_temp_path {root}/tmp-proxy;
    fastcgi_temp_path {root}/tmp-fastcgi;
    uwsgi_temp_path {root}/tmp-uwsgi;
    scgi_temp_path {root}/tmp-scgi;
    server {{
        listen 127.0.0.1:{http_port};
        location /hls/ {{
            root {root};
            types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}
        location = /ping {{ return 200 "ok"; }}
    }}
}}
"""


class Nginx:
    """nginx with the RTMP module: HLS with 1 s fragments and a 3 s playlist."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "hls").mkdir(parents=True)
        self.rtmp_port = free_port()
        self.http_port = free_port()
        self.conf = root / "nginx.conf"
        self.conf.write_text(
            NGINX_CONF.format(root=root, rtmp_port=self.rtmp_port, http_port=self.http_port)
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
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
        wait_http(f"http://127.0.0.1:{self.http_port}/ping", 10, self.proc)
        return self

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/stream"

    @property
    def playlist(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/hls/stream.m3u8"


def serve_player(root: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    """The measuring page and hls.js (from web/node_modules) on a loopback port."""
    dist = ROOT / "web" / "node_modules" / "hls.js" / "dist"
    script = dist / "hls.light.min.js"
    if not script.exists():
        raise SystemExit(f"{script} is missing: run `cd web && npm ci` first")
    root.mkdir(parents=True)
    (root / "player.html").write_text(PLAYER_HTML)
    shutil.copy(script, root / "hls.js")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/player.html", server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def publish_tee(urls: list[str], size: str, fps: int) -> subprocess.Popen[bytes]:
    """One real-time encode (x264 zerolatency, 1 s GOP, AAC) sent to every RTMP URL."""
    outputs = "|".join(f"[f=flv:onfail=ignore]{url}" for url in urls)
    return subprocess.Popen(
        [
            need("ffmpeg", "ffmpeg"),
            *("-hide_banner", "-nostdin", "-loglevel", "error"),
            *("-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"),
            *("-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-map", "0:v", "-map", "1:a"),
            *("-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"),
            *("-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0"),
            *("-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k"),
            *("-flags", "+global_header", "-f", "tee", outputs),
        ],
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="sampling time")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of play before it")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--levels", default="2,0", help="owncastd latency levels to measure")
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument(
        "--transcode",
        action="store_true",
        help="owncastd's default ladder (a transcoded rung) instead of passing the source through",
    )
    parser.add_argument(
        "--catch-up",
        type=float,
        default=1.2,
        help="hls.js maxLiveSyncPlaybackRate (1.2: the viewer page's setting; 1: never catch up)",
    )
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of each player here")
    args = parser.parse_args()
    chromium = need("chromium", "chromium")
    warn_if_busy()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="owncastd-latency-"))
    processes: list[Owncastd] = []
    nginx: Nginx | None = None
    publisher = None
    try:
        targets = []
        urls = []
        for level in (int(v) for v in args.levels.split(",")):
            toml = video_toml(level, passthrough=not args.transcode)
            daemon = Owncastd(work / f"level{level}", toml)
            processes.append(daemon.start())
            name = f"owncastd level {level}" + {2: " (default)", 0: " (lowest)"}.get(level, "")
            targets.append((name, daemon.url + "/hls/stream.m3u8", "pdt"))
            urls.append(daemon.rtmp_url)
        if not args.no_nginx:
            nginx = Nginx(work / "nginx").start()
            targets.append(("nginx-rtmp HLS (1 s fragments)", nginx.playlist, "name"))
            urls.append(nginx.rtmp_url)
        page_url, server = serve_player(work / "www")
        publisher = publish_tee(urls, args.size, args.fps)
        for _, playlist, _ in targets:
            wait_http(playlist, 20)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            pages = []
            for _, playlist, mode in targets:
                page = browser.new_context(viewport={"width": 700, "height": 400}).new_page()
                page.goto(f"{page_url}?mode={mode}&rate={args.catch_up}&src={playlist}")
                pages.append(page)
            print(f"warming up for {args.warmup:.0f} s, then sampling for {args.seconds:.0f} s")
            time.sleep(args.warmup)
            for page in pages:
                page.evaluate("window.sampling = true")
            time.sleep(args.seconds)
            results = [
                page.evaluate(
                    "({samples, errors, stalls, hlsLatency, target: hls.targetLatency,"
                    " rate: hls.config.maxLiveSyncPlaybackRate})"
                ) for page in pages
            ]  # fmt: skip
            if args.screenshot:
                args.screenshot.mkdir(parents=True, exist_ok=True)
                for index, page in enumerate(pages):
                    page.screenshot(path=str(args.screenshot / f"latency-{index}.png"))
            browser.close()
        server.shutdown()
    finally:
        stop_process(publisher)
        for daemon in processes:
            daemon.stop()
        if nginx is not None:
            stop_process(nginx.proc)

    print()
    print(f"{'target':32} {'p50 (s)':>8} {'p95 (s)':>8} {'min':>6} {'max':>6} "
          f"{'samples':>8} {'stalls':>7} {'behind edge':>12} {'target':>7}  errors")  # fmt: skip
    for (name, _, _), result in zip(targets, results, strict=True):
        samples = result["samples"]
        errors = sorted(set(result["errors"]))
        target = result["target"]
        print(
            f"{name:32} {percentile(samples, 50):8.2f} {percentile(samples, 95):8.2f} "
            f"{min(samples, default=float('nan')):6.2f} {max(samples, default=float('nan')):6.2f} "
            f"{len(samples):8d} {result['stalls']:7d} "
            f"{percentile(result['hlsLatency'], 50):12.2f} "
            f"{target if target is not None else float('nan'):7.2f}  {', '.join(errors) or '-'}"
        )
    print("(behind edge, target: hls.js's own latency to the playlist's live edge, p50, and its")
    print(" target latency; the p50/p95 columns are wall clock minus the frame's ingest time)")
    print(
        f"\n(source {args.size} at {args.fps} fps, x264 zerolatency, 1 s GOP; "
        f"{'transcoded' if args.transcode else 'passed through'}; "
        f"hls.js maxLiveSyncPlaybackRate {args.catch_up}; work dir {work})"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
