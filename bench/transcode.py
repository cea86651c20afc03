"""CPU per stream-second for a 720p30 source made into a 720p + 480p ladder: owncastd vs ffmpeg.

owncastd receives the source over RTMP (`ffmpeg -re -c copy`, not counted) and transcodes it in
its worker with two rungs at cpu_usage_level 2 (x264 veryfast), both 30 fps with copied audio,
into LL-HLS. The reference is one bare `ffmpeg -re` process reading the same file and writing the
same two encodes (same x264 options, the 480p rung scaled with a bilinear `scale=-2:480`) to two
fMP4 HLS outputs. Both run in the same invocation, one after the other (two cores cannot run
both in real time at once), `--rounds` times, alternating; the median is reported.

CPU is user + system time: for owncastd the daemon's own plus its reaped children's (the
worker), from /proc/<pid>/stat before and after the publish; for ffmpeg from wait4().

    .venv/bin/python bench/transcode.py [--seconds 30] [--rounds 3]

Needs the Debian package ffmpeg (the CLI; owncastd uses PyAV's own FFmpeg and x264 builds).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon import Daemon

CACHE = Path(__file__).resolve().parent / ".cache"
TICKS = os.sysconf("SC_CLK_TCK")
SEGMENT_SECONDS = 3  # latency level 2, Owncast's default
FPS = 30
RUNGS = ((720, 2500), (480, 1200))  # (height, kbit/s)


def make_source(seconds: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"src-720p30-{seconds}s.flv"
    if not path.exists():
        print(f"encoding the {seconds} s 720p30 source once (cached in {CACHE})...", flush=True)
        subprocess.run(
            [
                *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y"),
                *("-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}:duration={seconds}"),
                *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
                *("-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-g", str(2 * FPS)),
                *("-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)),
            ],
            check=True,
        )
    return path


def proc_cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children) CPU seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])  # utime, stime
    children = int(fields[13]) + int(fields[14])  # cutime, cstime
    return own / TICKS, children / TICKS


def run_owncastd(source: Path, seconds: int, workdir: Path) -> tuple[float, float]:
    """(daemon CPU s, worker CPU s) for one real-time publish of `source`."""
    variants = "".join(
        f"""
[[video.variants]]
scaled_height = {height}
framerate = {FPS}
video_bitrate = {kbps}
cpu_usage_level = 2
"""
        for height, kbps in RUNGS
    )
    workdir.mkdir(parents=True)
    daemon = Daemon(workdir, f'\n[video]\nencoder = "libx264"\n{variants}')
    daemon.config_path.write_text(
        daemon.config_path.read_text().replace('level = "debug"', 'level = "info"')
    )
    daemon.start()
    assert daemon.proc is not None
    pid = daemon.proc.pid
    try:
        time.sleep(1)
        before = proc_cpu(pid)
        publisher = subprocess.run(
            [
                *("ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", str(source)),
                *("-c", "copy", "-f", "flv", daemon.rtmp_url),
            ],
            capture_output=True,
            timeout=seconds * 3 + 30,
        )
        if publisher.returncode:
            raise SystemExit(f"the publish failed: {publisher.stderr.decode()[-2000:]}")
        daemon.wait_for_log("encoder done", timeout=60)  # the worker exited and was reaped
        after = proc_cpu(pid)
        log = daemon.log()
    finally:
        daemon.stop()
    dropped = re.findall(r"encoder done .*droppedFrames=(\d+)", log)
    if dropped and dropped[-1] != "0":
        print(f"  warning: owncastd dropped {dropped[-1]} frames (behind real time)")
    return after[0] - before[0], after[1] - before[1]


def ffmpeg_command(source: Path, out: Path) -> list[str]:
    gop = str(FPS * SEGMENT_SECONDS)
    command = [
        *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", str(source)),
        "-filter_complex",
        f"[0:v]split=2[v0][v1];[v1]scale=-2:{RUNGS[1][0]}:flags=bilinear[v1s]",
    ]
    for index, (label, (_height, kbps)) in enumerate(zip(("[v0]", "[v1s]"), RUNGS, strict=True)):
        (out / str(index)).mkdir(parents=True)
        command += [
            *("-map", label, "-map", "0:a", "-c:a", "copy"),
            *("-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"),
            *("-profile:v", "high", "-x264-params", "scenecut=0:open_gop=0", "-forced-idr", "1"),
            *("-b:v", f"{kbps}k", "-maxrate", f"{int(kbps * 1.06)}k"),
            *("-bufsize", f"{int(kbps * 1.2)}k", "-g", gop, "-keyint_min", gop, "-bf", "0"),
            *("-sc_threshold", "0", "-r", str(FPS), "-pix_fmt", "yuv420p"),
            *("-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_segment_type", "fmp4"),
            *("-hls_list_size", "4", "-hls_flags", "delete_segments"),
            str(out / str(index) / "stream.m3u8"),
        ]
    return command


def run_ffmpeg(source: Path, out: Path) -> float:
    proc = subprocess.Popen(ffmpeg_command(source, out), stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"ffmpeg failed: {error[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("needs the ffmpeg CLI (apt-get install ffmpeg)")
    source = make_source(args.seconds)
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for n in range(args.rounds):
            runs = ("owncastd", "ffmpeg") if n % 2 == 0 else ("ffmpeg", "owncastd")
            for which in runs:
                if which == "owncastd":
                    daemon_cpu, worker_cpu = run_owncastd(source, args.seconds, tmp / f"o{n}")
                    ours.append((daemon_cpu + worker_cpu) / args.seconds)
                    print(
                        f"round {n + 1} owncastd: daemon {daemon_cpu:.2f} s + worker "
                        f"{worker_cpu:.2f} s = {ours[-1]:.3f} CPU s per stream-s",
                        flush=True,
                    )
                else:
                    theirs.append(run_ffmpeg(source, tmp / f"f{n}") / args.seconds)
                    print(
                        f"round {n + 1} ffmpeg:   {theirs[-1]:.3f} CPU s per stream-s", flush=True
                    )
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    print(
        f"\n{args.seconds} s of 1280x720p30 into 720p30 (2500k) + 480p30 (1200k), x264 veryfast,"
        f" zerolatency, GOP {FPS * SEGMENT_SECONDS}; median of {args.rounds} rounds"
    )
    print(f"ffmpeg CLI: {version.splitlines()[0]}")
    median_ours, median_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"{'owncastd (daemon + worker)':28} {median_ours:.3f} CPU s per stream-s")
    print(f"{'ffmpeg CLI (one process)':28} {median_theirs:.3f} CPU s per stream-s")
    print(f"ratio owncastd / ffmpeg: {median_ours / median_theirs:.3f} (goal: at most 1.10)")


if __name__ == "__main__":
    main()
