"""Which video encoders work on this machine, and which one `video.encoder` means.

Each candidate gets a one-frame trial encode through PyAV with the options the worker would use,
so "usable" means usable by the worker, not merely compiled in: FFmpeg's hardware wrappers are
in PyAV's wheel whether or not a GPU and its driver are present. Every failure (an encoder not in
this FFmpeg, a device that will not open, a driver library that is missing) becomes a reason,
with FFmpeg's own error line when it logged one; the probe itself never raises.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av
import av.logging

from owncastd import config as cfg
from owncastd.media.ladder import encoder_family, encoder_options, gop_frames

__all__ = [
    "AUTO_ORDER",
    "CANDIDATES",
    "EncoderChoice",
    "EncoderUnavailable",
    "ProbeResult",
    "choose_encoder",
    "pixel_format",
    "probe_all",
    "probe_encoder",
]

# name, codec: every encoder Owncast knows of and their HEVC/AV1 siblings, hardware first.
CANDIDATES: tuple[tuple[str, str], ...] = (
    ("h264_nvenc", "H.264"),
    ("h264_qsv", "H.264"),
    ("h264_amf", "H.264"),
    ("h264_vaapi", "H.264"),
    ("h264_v4l2m2m", "H.264"),
    ("libx264", "H.264"),
    ("hevc_nvenc", "H.265"),
    ("hevc_qsv", "H.265"),
    ("hevc_amf", "H.265"),
    ("hevc_vaapi", "H.265"),
    ("hevc_v4l2m2m", "H.265"),
    ("libx265", "H.265"),
    ("av1_nvenc", "AV1"),
    ("av1_qsv", "AV1"),
    ("av1_amf", "AV1"),
    ("av1_vaapi", "AV1"),
    ("libsvtav1", "AV1"),
    ("libaom-av1", "AV1"),
)
AUTO_ORDER = tuple(name for name, codec in CANDIDATES if codec == "H.264")
"""`video.encoder = "auto"`: the first usable of these. The ladder is H.264 (what every HLS
player decodes), so HEVC and AV1 encoders are listed by the probe but not chosen."""
TRIAL_SIZE = (320, 240)
_CODEC_NAMES = {"h264": "H.264", "hevc": "H.265", "av1": "AV1"}
# Library chatter that bypasses FFmpeg's logger during a trial.
_QUIET_OPTIONS = {"libx265": {"x265-params": "log-level=error"}}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    encoder: str
    codec: str
    hardware: bool
    usable: bool
    reason: str


@dataclass(frozen=True, slots=True)
class EncoderChoice:
    encoder: str
    reason: str


class EncoderUnavailable(Exception):
    """`video.encoder` names an encoder that cannot drive the ladder here."""


def pixel_format(formats: list[str]) -> str:
    """The picture format to feed an encoder: planar 4:2:0, or NV12 for those that want it."""
    return next((f for f in ("yuv420p", "nv12") if f in formats), "yuv420p")


@contextmanager
def _ffmpeg_errors() -> Iterator[list[str]]:
    """FFmpeg's error lines while the block runs (PyAV keeps FFmpeg's log off by default)."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    lines: list[str] = []
    try:
        with av.logging.Capture() as captured:
            yield lines
    finally:
        av.logging.set_level(previous)
    lines += [f"{text.strip()}" for _level, _name, text in captured if text.strip()]


def probe_encoder(name: str) -> ProbeResult:
    """Encode one small frame with `name`; never raises."""
    codec_name = dict(CANDIDATES).get(name, "")
    hardware = encoder_family(name) not in ("x264", name)
    try:
        codec = av.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        return ProbeResult(name, codec_name or "?", hardware, False, "not in this FFmpeg build")
    codec_name = _CODEC_NAMES.get(codec.canonical_name, codec_name or codec.canonical_name)
    if codec.type != "video":
        return ProbeResult(name, codec_name, hardware, False, "not a video encoder")
    started = time.perf_counter()
    error = ""
    with _ffmpeg_errors() as logged:
        try:
            packets = _trial(codec)
        except (av.FFmpegError, ValueError, TypeError, OSError, RuntimeError) as exc:
            packets = -1
            error = str(exc).split("; last error log:")[0]
    if packets > 0:
        ms = (time.perf_counter() - started) * 1000
        return ProbeResult(name, codec_name, hardware, True, f"trial encode OK ({ms:.0f} ms)")
    reason = logged[0] if logged else (error or "the trial encode gave no packet")
    return ProbeResult(name, codec_name, hardware, False, reason)


def _trial(codec: av.Codec) -> int:
    context = av.CodecContext.create(codec)
    assert isinstance(context, av.VideoCodecContext)
    formats = [f.name for f in codec.video_formats or ()]
    width, height = TRIAL_SIZE
    context.width, context.height = width, height
    context.pix_fmt = pixel_format(formats)
    context.time_base = Fraction(1, 30)
    context.framerate = Fraction(30)
    options = {"b": "500k"}
    if codec.canonical_name == "h264":
        options = encoder_options(codec.name, cfg.Variant(), gop_frames(30, Fraction(2)))
    context.options = options | _QUIET_OPTIONS.get(codec.name, {})
    context.open()
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes([128]) * plane.buffer_size)
    frame = frame.reformat(format=context.pix_fmt)
    frame.pts = 0
    return len([*context.encode(frame), *context.encode(None)])


def probe_all() -> list[ProbeResult]:
    """Every candidate, in CANDIDATES order."""
    # SVT-AV1 prints its banner itself unless told not to; the variable is read when it opens.
    os.environ.setdefault("SVT_LOG", "1")
    return [probe_encoder(name) for name, _ in CANDIDATES]


def choose_encoder(setting: str) -> EncoderChoice:
    """The encoder `video.encoder` means here; EncoderUnavailable says why there is none."""
    if setting == "auto":
        tried: list[str] = []
        for name in AUTO_ORDER:
            result = probe_encoder(name)
            if result.usable:
                passed = "; ".join(tried)
                why = "the first usable of " + ", ".join(AUTO_ORDER)
                return EncoderChoice(name, why + (f" (not usable: {passed})" if passed else ""))
            tried.append(f"{name}: {result.reason}")
        raise EncoderUnavailable(
            "video.encoder: no H.264 encoder is usable here (" + "; ".join(tried) + ")"
        )
    result = probe_encoder(setting)
    if result.usable and result.codec != "H.264":
        raise EncoderUnavailable(
            f"video.encoder: {setting} encodes {result.codec}; the ladder needs an H.264 "
            f"encoder ({', '.join(AUTO_ORDER)})"
        )
    if not result.usable:
        raise EncoderUnavailable(
            f"video.encoder: {setting} is not usable here: {result.reason} "
            "(`owncastd probe` lists the encoders that are)"
        )
    return EncoderChoice(setting, "set in video.encoder")
