"""The media values that flow between ingest, the encoder and the segmenter.

Everything here is plain data: ingest produces it, the segmenter and the encoder consume it.
Timestamps are integers in `TIMESCALE` units (90 kHz), so milliseconds from RTMP convert exactly
(x90) and common frame rates have exact frame durations.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

TIMESCALE = 90_000
"""Ticks per second of every `Packet` timestamp."""


class Track(enum.Enum):
    VIDEO = "video"
    AUDIO = "audio"


class VideoCodec(enum.Enum):
    """Video codecs by the names Owncast reports in `streamDetails.videoCodec`."""

    H264 = "H.264"
    H265 = "H.265"
    AV1 = "AV1"


class AudioCodec(enum.Enum):
    """Audio codecs by the names Owncast reports in `streamDetails.audioCodec`."""

    AAC = "AAC"
    MP3 = "MP3"


@dataclass(frozen=True, slots=True)
class VideoConfig:
    """A video track's decoder configuration.

    `record` is the codec's ISO-BMFF configuration record exactly as the source sent it
    (AVCDecoderConfigurationRecord for H.264, HEVCDecoderConfigurationRecord for H.265,
    AV1CodecConfigurationRecord for AV1): it becomes avcC/hvcC/av1C in the init segment.
    `codec_string` is the RFC 6381 string for the HLS CODECS attribute (e.g. "avc1.64001f").
    """

    codec: VideoCodec
    width: int
    height: int
    record: bytes
    codec_string: str


@dataclass(frozen=True, slots=True)
class AudioConfig:
    """An audio track's decoder configuration; `record` is the AAC AudioSpecificConfig."""

    codec: AudioCodec
    sample_rate: int
    channels: int
    record: bytes
    codec_string: str


@dataclass(frozen=True, slots=True)
class Packet:
    """One compressed access unit.

    Video data is in length-prefixed form (4-byte big-endian NAL unit lengths, as in FLV and MP4,
    or AV1 OBUs as in FLV/MP4); audio data is one raw AAC frame (no ADTS header).
    `dts` and `pts` are in `TIMESCALE` units and monotonic for a track within one publish.
    """

    track: Track
    dts: int
    pts: int
    keyframe: bool
    data: bytes
