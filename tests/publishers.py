"""Real RTMP publishers for end-to-end tests: the ffmpeg CLI and PyAV, each in a subprocess.

A subprocess keeps a blocked libavformat call from hanging the suite (each runs under a
deadline), and lets a test pause a publisher (SIGSTOP) to play a network stall.
"""

from __future__ import annotations

import subprocess
import sys

# Publish `frames` frames of a moving test pattern with 440 Hz AAC over RTMP with PyAV
# (argv: url, frames, fps, gop, width, height, b_frames). No pacing: as fast as it encodes.
PYAV_PUBLISH = """
import math, sys, av
url, frames, fps, gop, width, height, b_frames = sys.argv[1], *map(int, sys.argv[2:])
rate = 48000
with av.open(url, "w", format="flv") as out:
    video = out.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.codec_context.gop_size = gop
    video.codec_context.max_b_frames = b_frames
    video.codec_context.options = {"sc_threshold": "0", "keyint_min": str(gop)}
    audio = out.add_stream("aac", rate=rate, layout="mono")
    samples = 0
    for i in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        y = frame.planes[0]
        row = bytes((x + 4 * i) % 220 + 16 for x in range(y.line_size))
        y.update(row * height)
        for plane in frame.planes[1:]:
            plane.update(bytes([128 + (i % 64)]) * plane.buffer_size)
        frame.pts = i
        for packet in video.encode(frame):
            out.mux(packet)
        while samples * fps < (i + 1) * rate:
            aframe = av.AudioFrame(format="s16", layout="mono", samples=1024)
            tone = bytearray()
            for k in range(1024):
                v = int(8000 * math.sin(2 * math.pi * 440 * (samples + k) / rate))
                tone += v.to_bytes(2, "little", signed=True)
            aframe.planes[0].update(bytes(tone))
            aframe.sample_rate = rate
            aframe.pts = samples
            samples += 1024
            for packet in audio.encode(aframe):
                out.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            out.mux(packet)
"""


def pyav_publish(
    url: str,
    frames: int,
    *,
    fps: int = 30,
    gop: int = 30,
    size: tuple[int, int] = (640, 360),
    b_frames: int = 2,
    timeout: float = 60,
) -> None:
    """Publish `frames` video frames (and matching audio) with PyAV, and wait for the end."""
    args = [str(v) for v in (frames, fps, gop, size[0], size[1], b_frames)]
    result = subprocess.run(
        [sys.executable, "-c", PYAV_PUBLISH, url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def ffmpeg_args(
    url: str,
    seconds: float | None,
    *,
    realtime: bool = True,
    fps: int = 30,
    gop: int | None = None,
    size: str = "640x360",
    preset: str = "veryfast",
) -> list[str]:
    """The ffmpeg CLI publishing a test pattern and a sine tone (x264 zerolatency, AAC)."""
    gop = gop or fps
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error"]
    if realtime:
        args.append("-re")
    args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
    if realtime:
        args.append("-re")
    args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    if seconds is not None:
        args += ["-t", str(seconds)]
    args += [
        *("-c:v", "libx264", "-preset", preset, "-tune", "zerolatency"),
        *("-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "96k", "-f", "flv", url),
    ]
    return args


def ffmpeg_publisher(url: str, seconds: float | None, **kw: object) -> subprocess.Popen[bytes]:
    """Start publishing with the ffmpeg CLI; the caller waits for it (or stops it)."""
    return subprocess.Popen(
        ffmpeg_args(url, seconds, **kw),  # type: ignore[arg-type]
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def ffmpeg_publish(url: str, seconds: float, *, timeout: float = 60, **kw: object) -> None:
    proc = ffmpeg_publisher(url, seconds, **kw)
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a publisher now (it may be paused)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()
