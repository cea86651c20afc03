"""The output ladder: Owncast's StreamOutputVariant rungs turned into encoder settings.

Pure data and arithmetic, so the rules are unit-tested without a process or a codec: a rung's
name (Owncast's GetName), its output size (one side 0 keeps the aspect, as FFmpeg's `-2`),
its GOP (frame rate x segment seconds, so every segment starts on a keyframe), the encoder's
options per family (Owncast's preset tables, maxrate and bufsize), the worker's plan (the JSON
both ends of the worker pipe share) and `FrameRateConverter` (constant frame rate by dropping
and repeating frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from owncastd import config as cfg
from owncastd.media.packets import TIMESCALE

__all__ = [
    "FrameRateConverter",
    "Ladder",
    "Rung",
    "Slot",
    "encoder_family",
    "encoder_options",
    "gop_frames",
    "output_size",
    "owncast_variant",
    "variant_name",
    "worker_plan",
]

# Owncast's presets per cpuUsageLevel 0..4, by encoder family (core/transcoder/*.go).
PRESETS: dict[str, tuple[str, ...]] = {
    "x264": ("ultrafast", "superfast", "veryfast", "faster", "fast"),
    "nvenc": ("p1", "p2", "p3", "p4", "p5"),
    "qsv": ("veryfast", "fast", "medium", "slow", "veryslow"),
    "amf": ("speed", "speed", "balanced", "balanced", "quality"),
}
MAXRATE_FACTOR = 1.06
"""Owncast's `-maxrate` (release): 6 % over the target, under Apple's +10 % validator limit."""
BUFSIZE_FACTOR = 1.2
"""Owncast's `-bufsize` (release): the rate control's window, 1.2 x the target."""
MAX_GAP_SECONDS = 1
"""A longer hole in the source is not filled with repeated frames: the output jumps too."""


def encoder_family(encoder: str) -> str:
    """x264, nvenc, qsv, amf, vaapi, v4l2m2m, or the encoder's own name."""
    if encoder == "libx264":
        return "x264"
    for family in ("nvenc", "qsv", "amf", "vaapi", "v4l2m2m"):
        if encoder.endswith("_" + family):
            return family
    return encoder


# --- naming and the API shape --------------------------------------------------------------------


def _bitrate_text(kbps: int) -> str:
    if kbps <= 0:
        return ""
    if kbps < 1000:
        return f"{kbps}Kbps"
    if kbps % 1000 == 0:
        return f"{kbps // 1000}Mbps"
    return f"{kbps / 1000:.1f}Mbps"


def variant_name(variant: cfg.Variant) -> str:
    """Owncast's StreamOutputVariant.GetName: the configured name, else one made from the rung."""
    if variant.name:
        return variant.name
    bitrate = _bitrate_text(variant.video_bitrate)
    w, h = variant.scaled_width, variant.scaled_height
    if variant.video_passthrough:
        return "Source"
    if (w, h) == (1080, 720):  # sic: Owncast's own test for "720p"
        return f"720p @{bitrate}"
    if (w, h) == (1920, 1080):
        return f"1080p @{bitrate}"
    if h:
        return f"{h}h"
    if w:
        return f"{w}w"
    return f"{bitrate}@{variant.framerate}fps"


def owncast_variant(variant: cfg.Variant) -> dict[str, Any]:
    """The StreamOutputVariant JSON Owncast's admin API uses (framerate 0 when passthrough)."""
    return {
        "name": variant_name(variant),
        "videoPassthrough": variant.video_passthrough,
        "audioPassthrough": variant.audio_passthrough,
        "videoBitrate": variant.video_bitrate,
        "audioBitrate": variant.audio_bitrate,
        "scaledWidth": variant.scaled_width,
        "scaledHeight": variant.scaled_height,
        "framerate": 0 if variant.video_passthrough else variant.framerate,
        "cpuUsageLevel": variant.cpu_usage_level,
    }


# --- rungs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rung:
    """One rung: its HLS rendition index (= position in `video.variants`) and its settings."""

    index: int
    name: str
    variant: cfg.Variant

    @property
    def transcodes(self) -> bool:
        return not self.variant.video_passthrough

    @property
    def copies_audio(self) -> bool:
        return self.variant.audio_passthrough

    @property
    def nominal_bandwidth(self) -> int | None:
        """BANDWIDTH for the master playlist until segments are measured (bits per second);
        None for passthrough, whose rate only the source knows."""
        if not self.transcodes:
            return None
        audio = self.variant.audio_bitrate  # for copied audio: a typical source rate
        return int((self.variant.video_bitrate * MAXRATE_FACTOR + audio) * 1000)


@dataclass(frozen=True, slots=True)
class Ladder:
    rungs: tuple[Rung, ...]

    @classmethod
    def from_config(cls, video: cfg.VideoConfig) -> Ladder:
        return cls(tuple(Rung(i, variant_name(v), v) for i, v in enumerate(video.variants)))

    @property
    def transcoded(self) -> tuple[Rung, ...]:
        return tuple(r for r in self.rungs if r.transcodes)

    @property
    def passthrough(self) -> tuple[Rung, ...]:
        return tuple(r for r in self.rungs if not r.transcodes)


def output_size(source_width: int, source_height: int, width: int, height: int) -> tuple[int, int]:
    """The picture size of a rung: both set is exact, one 0 keeps the source's aspect (rounded
    to the nearest even number, as FFmpeg's `scale=-2:H`), both 0 is the source size. 4:2:0
    encoders need even sizes, so odd ones are rounded down."""
    if source_width <= 0 or source_height <= 0:
        raise ValueError(f"no source size ({source_width}x{source_height})")
    if width and not height:
        height = 2 * _round_half_up(width * source_height, 2 * source_width)
    elif height and not width:
        width = 2 * _round_half_up(height * source_width, 2 * source_height)
    elif not width and not height:
        width, height = source_width, source_height
    return max(2, width - width % 2), max(2, height - height % 2)


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def gop_frames(framerate: int, segment_seconds: Fraction) -> int:
    """Frames from keyframe to keyframe: one GOP per segment (Owncast: fps x segment length)."""
    return max(1, round(framerate * segment_seconds))


def encoder_options(encoder: str, variant: cfg.Variant, gop: int) -> dict[str, str]:
    """FFmpeg codec options for one rung (what Owncast puts on its ffmpeg command line).

    Every family gets a fixed GOP, no B-frames (the segmenter wants dts = pts and low delay)
    and forced keyframes that are IDR frames, so the worker's forced keyframe at each segment
    boundary is a place a player can start.
    """
    family = encoder_family(encoder)
    kbps = variant.video_bitrate
    options = {
        "b": f"{kbps}k",
        "maxrate": f"{int(kbps * MAXRATE_FACTOR)}k",
        "bufsize": f"{int(kbps * BUFSIZE_FACTOR)}k",
        "g": str(gop),
        "keyint_min": str(gop),
        "bf": "0",
    }
    presets = PRESETS.get(family)
    preset = presets[variant.cpu_usage_level] if presets else None
    if family == "x264":
        options |= {
            "preset": str(preset),
            "tune": "zerolatency",
            "profile": "high",
            "x264-params": "scenecut=0:open_gop=0",
            "forced-idr": "1",
            "sc_threshold": "0",
        }
    elif family == "nvenc":
        options |= {
            "preset": str(preset),
            "tune": "ll",
            "profile": "high",
            "forced-idr": "1",
            "no-scenecut": "1",
            "zerolatency": "1",
        }
    elif family == "qsv":
        options |= {"preset": str(preset), "forced_idr": "1", "look_ahead": "0"}
    elif family == "amf":
        options |= {"quality": str(preset), "usage": "lowlatency", "forced_idr": "1"}
    return options


# --- the worker's plan ---------------------------------------------------------------------------


def worker_plan(
    ladder: Ladder,
    encoder: str,
    segment_seconds: Fraction,
    *,
    preview_dir: str | None,
    thumbnail_interval: float = 20.0,
) -> dict[str, Any]:
    """The `Plan` the worker gets: one video stream per transcoded rung (ids from 0, in ladder
    order), then one audio stream per distinct audio treatment (bitrate 0: copied)."""
    video: list[dict[str, Any]] = []
    audio_ids: dict[int, int] = {}
    rungs = ladder.transcoded
    for rung in rungs:
        audio_ids.setdefault(0 if rung.copies_audio else rung.variant.audio_bitrate, 0)
    for stream, bitrate in enumerate(sorted(audio_ids), start=len(rungs)):
        audio_ids[bitrate] = stream
    for stream, rung in enumerate(rungs):
        v = rung.variant
        gop = gop_frames(v.framerate, segment_seconds)
        video.append(
            {
                "id": stream,
                "rung": rung.index,
                "width": v.scaled_width,
                "height": v.scaled_height,
                "fps": v.framerate,
                "gop": gop,
                "options": encoder_options(encoder, v, gop),
                "audio": audio_ids[0 if rung.copies_audio else v.audio_bitrate],
            }
        )
    return {
        "encoder": encoder,
        "video": video,
        "audio": [{"id": stream, "bitrate": bitrate} for bitrate, stream in audio_ids.items()],
        "preview_dir": preview_dir,
        "thumbnail_interval": thumbnail_interval,
    }


# --- frame rate --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """One output frame: its place on the grid, its time (90 kHz), and whether it must be a
    keyframe (a segment boundary, or the first frame after the grid restarted)."""

    index: int
    pts: int
    keyframe: bool


class FrameRateConverter:
    """Maps decoded frames onto a constant-rate grid: each frame fills the grid slots up to the
    one nearest its time, so a faster source loses frames and a slower one repeats them.

    Slot 0 is the first frame's time, so rungs of any frame rate put keyframes at the same
    instants (multiples of the segment length). A gap longer than `MAX_GAP_SECONDS` moves the
    grid on instead of repeating a frame for it; time running backwards restarts the grid.
    """

    def __init__(self, fps: int, gop: int) -> None:
        if fps <= 0 or gop <= 0:
            raise ValueError("fps and gop must be positive")
        self.fps = fps
        self.gop = gop
        self.origin: int | None = None
        self._next = 0
        self._restart = True
        self._max_gap = fps * MAX_GAP_SECONDS

    def slot_pts(self, index: int) -> int:
        assert self.origin is not None
        return self.origin + (index * TIMESCALE * 2 + self.fps) // (2 * self.fps)

    def push(self, pts: int) -> list[Slot]:
        """The slots a frame stamped `pts` (90 kHz) fills; empty when it is dropped."""
        if self.origin is None:
            self.origin, self._next, self._restart = pts, 0, True
        last = math.floor((pts - self.origin) * self.fps / TIMESCALE + 0.5)
        if last < self._next - self._max_gap:
            self.origin, self._next, self._restart = pts, 0, True
            last = 0
        if last < self._next:
            return []
        if last - self._next > self._max_gap:
            self._next, self._restart = last, True
        slots = []
        for index in range(self._next, last + 1):
            keyframe = index % self.gop == 0 or (self._restart and index == self._next)
            slots.append(Slot(index, self.slot_pts(index), keyframe))
        self._next = last + 1
        self._restart = False
        return slots
