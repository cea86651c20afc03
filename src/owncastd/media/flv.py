"""FLV tag bodies (the payloads of RTMP message types 8 and 9) to `Packet`s and track configs.

Owns the legacy FLV AVC/AAC/MP3 tag formats, Enhanced RTMP (`avc1`/`hvc1`/`av01`/`mp4a`/`.mp3`
FourCC tags, ModEx, multitrack), the codec configuration records a sequence starts with (parsed
far enough for the picture size and the RFC 6381 codec string), onMetaData, and a reader for the
FLV file container (tests, fuzz seeds and tools feed it). Sans-IO: bytes in, events out.

Media before its sequence header, unsupported codecs and informational tags come back as
`Dropped` events, never as exceptions; a body that is malformed raises `FLVError` (and nothing
else), so the ingest shell can drop one tag and keep the publisher connected.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from owncastd.media.packets import (
    AudioCodec,
    AudioConfig,
    Packet,
    Track,
    VideoCodec,
    VideoConfig,
)

__all__ = [
    "AV1SequenceHeader",
    "AVCSequenceParameterSet",
    "AudioConfigReceived",
    "AudioSpecificConfig",
    "DropReason",
    "Dropped",
    "EndOfSequence",
    "FLVDemuxer",
    "FLVError",
    "FLVEvent",
    "FLVTag",
    "HEVCSequenceParameterSet",
    "StreamMetadata",
    "TagType",
    "VideoConfigReceived",
    "aac_config",
    "av1_config",
    "avc_config",
    "hevc_config",
    "mp3_config",
    "parse_audio_specific_config",
    "parse_av1_sequence_header",
    "parse_avc_sps",
    "parse_hevc_sps",
    "read_flv_file",
]

MS_TICKS = 90
"""`TIMESCALE` ticks per FLV millisecond."""


class FLVError(ValueError):
    """A tag body, configuration record or FLV file that cannot be parsed."""


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoConfigReceived:
    """A video sequence header arrived; `changed` is False when it repeats the current one."""

    config: VideoConfig
    changed: bool


@dataclass(frozen=True, slots=True)
class AudioConfigReceived:
    """An audio configuration arrived; `changed` is False when it repeats the current one."""

    config: AudioConfig
    changed: bool


@dataclass(frozen=True, slots=True)
class EndOfSequence:
    """The publisher ended a track's sequence (AVC end of sequence, E-RTMP SequenceEnd)."""

    track: Track


class DropReason(enum.Enum):
    NO_SEQUENCE_HEADER = "media before its sequence header"
    UNSUPPORTED_CODEC = "codec not supported"
    UNSUPPORTED_PACKET = "packet type not supported"
    COMMAND_FRAME = "video command frame"
    METADATA = "in-band metadata frame"
    OTHER_TRACK = "not the default track of a multitrack stream"
    EMPTY = "empty tag body"


@dataclass(frozen=True, slots=True)
class Dropped:
    """A well-formed tag that produced no media; `detail` says which one, for the log."""

    track: Track
    reason: DropReason
    detail: str


FLVEvent: TypeAlias = Packet | VideoConfigReceived | AudioConfigReceived | EndOfSequence | Dropped


# --- byte and bit readers -------------------------------------------------------------------


class _Bytes:
    """A bounds-checked big-endian cursor; every overrun becomes an FLVError naming `what`."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _need(self, n: int) -> int:
        start = self.pos
        if n > len(self.data) - start:
            raise FLVError(
                f"{self.what}: truncated (needs {n} more bytes at offset {start}, "
                f"has {len(self.data) - start})"
            )
        self.pos = start + n
        return start

    def u8(self) -> int:
        return self.data[self._need(1)]

    def uint(self, n: int) -> int:
        start = self._need(n)
        return int.from_bytes(self.data[start : start + n], "big")

    def s24(self) -> int:
        value = self.uint(3)
        return value - (1 << 24) if value & 0x800000 else value

    def take(self, n: int) -> bytes:
        start = self._need(n)
        return self.data[start : start + n]

    def rest(self) -> bytes:
        start = self.pos
        self.pos = len(self.data)
        return self.data[start:]


class _Bits:
    """An MSB-first bit cursor with Exp-Golomb (H.264/H.265) and uvlc (AV1) codes."""

    __slots__ = ("pos", "size", "value", "what")

    def __init__(self, data: bytes, what: str) -> None:
        # One big int makes every read a shift and a mask; headers are tens of bytes.
        self.value = int.from_bytes(data, "big")
        self.size = len(data) * 8
        self.pos = 0
        self.what = what

    def bits(self, n: int) -> int:
        if n == 0:
            return 0
        end = self.pos + n
        if end > self.size:
            raise FLVError(f"{self.what}: truncated at bit {self.pos} (needs {n} more bits)")
        self.pos = end
        return (self.value >> (self.size - end)) & ((1 << n) - 1)

    def flag(self) -> bool:
        return self.bits(1) == 1

    def _leading_zeros(self, limit: int) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > limit:
                raise FLVError(f"{self.what}: variable-length code longer than {limit} bits")
        return zeros

    def ue(self) -> int:
        """ue(v): the specs cap values at 2^32 - 2, so more than 31 leading zeros is corrupt."""
        zeros = self._leading_zeros(31)
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)

    def uvlc(self) -> int:
        zeros = self._leading_zeros(32)
        if zeros >= 32:
            return (1 << 32) - 1
        return (1 << zeros) - 1 + self.bits(zeros)


def _rbsp(nal_payload: bytes) -> bytes:
    """Drop emulation-prevention bytes (00 00 03 -> 00 00), scanning left to right as the
    H.264/H.265 NAL syntax does; `bytes.replace` finds the same non-overlapping matches."""
    return nal_payload.replace(b"\x00\x00\x03", b"\x00\x00")


# --- H.264 ------------------------------------------------------------------------------------

# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling matrices.
_AVC_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


@dataclass(frozen=True, slots=True)
class AVCSequenceParameterSet:
    """The fields of an H.264 SPS that the server uses; `width`/`height` are after cropping."""

    profile_idc: int
    constraint_flags: int
    level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    frame_mbs_only: bool
    width: int
    height: int


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, next_ = 8, 8
    for _ in range(size):
        if next_ != 0:
            delta = bits.se()
            if not -128 <= delta <= 127:
                raise FLVError(f"{bits.what}: delta_scale {delta} out of range")
            next_ = (last + delta + 256) % 256
        last = last if next_ == 0 else next_


def parse_avc_sps(nal: bytes) -> AVCSequenceParameterSet:
    """Parse an H.264 SPS NAL unit (with its one-byte NAL header)."""
    what = "H.264 SPS"
    if len(nal) < 4:
        raise FLVError(f"{what}: {len(nal)} bytes is too short")
    if nal[0] & 0x1F != 7:
        raise FLVError(f"{what}: NAL unit type {nal[0] & 0x1F} is not 7")
    bits = _Bits(_rbsp(nal[1:]), what)
    profile_idc = bits.bits(8)
    constraint_flags = bits.bits(8)
    level_idc = bits.bits(8)
    if bits.ue() > 31:
        raise FLVError(f"{what}: seq_parameter_set_id out of range")
    chroma_format_idc = 1
    separate_colour_plane = False
    bit_depth_luma = bit_depth_chroma = 8
    if profile_idc in _AVC_HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc > 3:
            raise FLVError(f"{what}: chroma_format_idc {chroma_format_idc} out of range")
        if chroma_format_idc == 3:
            separate_colour_plane = bits.flag()
        bit_depth_luma = bits.ue() + 8
        bit_depth_chroma = bits.ue() + 8
        if bit_depth_luma > 14 or bit_depth_chroma > 14:
            raise FLVError(f"{what}: bit depth out of range")
        bits.bits(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if bits.flag():
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    if bits.ue() > 12:  # log2_max_frame_num_minus4
        raise FLVError(f"{what}: log2_max_frame_num out of range")
    poc_type = bits.ue()
    if poc_type == 0:
        if bits.ue() > 12:
            raise FLVError(f"{what}: log2_max_pic_order_cnt_lsb out of range")
    elif poc_type == 1:
        bits.bits(1)  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        cycle = bits.ue()
        if cycle > 255:
            raise FLVError(f"{what}: num_ref_frames_in_pic_order_cnt_cycle {cycle} > 255")
        for _ in range(cycle):
            bits.se()
    elif poc_type != 2:
        raise FLVError(f"{what}: pic_order_cnt_type {poc_type} out of range")
    bits.ue()  # max_num_ref_frames
    bits.bits(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    frame_mbs_only = bits.flag()
    if not frame_mbs_only:
        bits.bits(1)  # mb_adaptive_frame_field_flag
    bits.bits(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if bits.flag():  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        # Crop offsets count in chroma sample units (Table 6-1), and in field pairs
        # vertically when the picture may be coded as fields.
        chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
        if chroma_array_type == 0:
            unit_x, unit_y = 1, 2 - frame_mbs_only
        else:
            sub_width = 1 if chroma_array_type == 3 else 2
            sub_height = 2 if chroma_array_type == 1 else 1
            unit_x, unit_y = sub_width, sub_height * (2 - frame_mbs_only)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
        if width <= 0 or height <= 0:
            raise FLVError(f"{what}: cropping removes the whole picture")
    return AVCSequenceParameterSet(
        profile_idc=profile_idc,
        constraint_flags=constraint_flags,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        frame_mbs_only=frame_mbs_only,
        width=width,
        height=height,
    )


def _nal_length_size(byte: int, what: str) -> int:
    size = (byte & 0x03) + 1
    if size == 3:
        raise FLVError(f"{what}: NAL unit length size 3 is not allowed")
    return size


def avc_config(record: bytes) -> tuple[VideoConfig, int]:
    """Parse an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1).

    Returns the track config and the NAL length size the source uses; when that is not 4 the
    returned record says 4, and the demuxer rewrites each frame to match (Packet's contract).
    """
    what = "AVCDecoderConfigurationRecord"
    reader = _Bytes(record, what)
    if reader.u8() != 1:
        raise FLVError(f"{what}: configurationVersion is not 1")
    reader.take(3)  # profile, compatibility, level: the SPS below is authoritative
    length_size = _nal_length_size(reader.u8(), what)
    sps = [reader.take(reader.uint(2)) for _ in range(reader.u8() & 0x1F)]
    for _ in range(reader.u8()):
        reader.take(reader.uint(2))  # PPS: carried to the decoder inside the record
    if not sps:
        raise FLVError(f"{what}: no SPS")
    info = parse_avc_sps(sps[0])
    if length_size != 4:
        record = record[:4] + bytes([record[4] | 0x03]) + record[5:]
    config = VideoConfig(
        codec=VideoCodec.H264,
        width=info.width,
        height=info.height,
        record=bytes(record),
        codec_string=(
            f"avc1.{info.profile_idc:02x}{info.constraint_flags:02x}{info.level_idc:02x}"
        ),
    )
    return config, length_size


# --- H.265 ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HEVCSequenceParameterSet:
    """The fields of an H.265 SPS that the server uses; `width`/`height` are after the
    conformance window."""

    profile_space: int
    tier_flag: int
    profile_idc: int
    level_idc: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    width: int
    height: int


def parse_hevc_sps(nal: bytes) -> HEVCSequenceParameterSet:
    """Parse an H.265 SPS NAL unit (with its two-byte NAL header)."""
    what = "H.265 SPS"
    if len(nal) < 3:
        raise FLVError(f"{what}: {len(nal)} bytes is too short")
    if (nal[0] >> 1) & 0x3F != 33:
        raise FLVError(f"{what}: NAL unit type {(nal[0] >> 1) & 0x3F} is not 33")
    bits = _Bits(_rbsp(nal[2:]), what)
    bits.bits(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = bits.bits(3)
    bits.bits(1)  # sps_temporal_id_nesting_flag
    # profile_tier_level(1, sps_max_sub_layers_minus1)
    profile_space = bits.bits(2)
    tier_flag = bits.bits(1)
    profile_idc = bits.bits(5)
    bits.bits(32)  # general_profile_compatibility_flag[32]
    bits.bits(48)  # source flags and general constraint indicator flags
    level_idc = bits.bits(8)
    present = [(bits.flag(), bits.flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        bits.bits(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        bits.bits(88 * profile_present + 8 * level_present)
    if bits.ue() > 15:
        raise FLVError(f"{what}: sps_seq_parameter_set_id out of range")
    chroma_format_idc = bits.ue()
    if chroma_format_idc > 3:
        raise FLVError(f"{what}: chroma_format_idc {chroma_format_idc} out of range")
    separate_colour_plane = chroma_format_idc == 3 and bits.flag()
    width = bits.ue()
    height = bits.ue()
    if bits.flag():  # conformance_window_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        if separate_colour_plane or chroma_format_idc in (0, 3):
            sub_width = sub_height = 1
        else:
            sub_width, sub_height = 2, (2 if chroma_format_idc == 1 else 1)
        width -= sub_width * (left + right)
        height -= sub_height * (top + bottom)
    if width <= 0 or height <= 0:
        raise FLVError(f"{what}: picture size {width}x{height} is empty")
    bit_depth_luma = bits.ue() + 8
    bit_depth_chroma = bits.ue() + 8
    if bit_depth_luma > 16 or bit_depth_chroma > 16:
        raise FLVError(f"{what}: bit depth out of range")
    return HEVCSequenceParameterSet(
        profile_space=profile_space,
        tier_flag=tier_flag,
        profile_idc=profile_idc,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        width=width,
        height=height,
    )


def hevc_config(record: bytes) -> tuple[VideoConfig, int]:
    """Parse an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1).

    The codec string follows 14496-15 Annex E ("hvc1.1.6.L93.B0"). The picture size comes from
    the record's first SPS; a record without one gives 0x0. Returns the config and the source's
    NAL length size, normalised to 4 in the returned record as for `avc_config`.
    """
    what = "HEVCDecoderConfigurationRecord"
    reader = _Bytes(record, what)
    if reader.u8() > 1:  # some early encoders wrote 0 here; both mean this layout
        raise FLVError(f"{what}: unknown configurationVersion")
    first = reader.u8()
    profile_space, tier_flag, profile_idc = first >> 6, (first >> 5) & 1, first & 0x1F
    compatibility = reader.uint(4)
    constraints = reader.take(6)
    level_idc = reader.u8()
    reader.take(8)  # segmentation, parallelism, chroma, bit depths, frame rate
    length_size = _nal_length_size(reader.u8(), what)
    sps: list[bytes] = []
    for _ in range(reader.u8()):
        nal_type = reader.u8() & 0x3F
        for _ in range(reader.uint(2)):
            nal = reader.take(reader.uint(2))
            if nal_type == 33:
                sps.append(nal)
    width = height = 0
    if sps:
        info = parse_hevc_sps(sps[0])
        width, height = info.width, info.height
    # Annex E: compatibility flags in reverse bit order, trailing zero constraint bytes dropped.
    reversed_flags = int(f"{compatibility:032b}"[::-1], 2)
    codec_string = (
        f"hvc1.{('', 'A', 'B', 'C')[profile_space]}{profile_idc}.{reversed_flags:X}"
        f".{'H' if tier_flag else 'L'}{level_idc}"
    )
    constraint_bytes = constraints.rstrip(b"\x00")
    codec_string += "".join(f".{byte:X}" for byte in constraint_bytes)
    if length_size != 4:
        record = record[:21] + bytes([record[21] | 0x03]) + record[22:]
    config = VideoConfig(
        codec=VideoCodec.H265,
        width=width,
        height=height,
        record=bytes(record),
        codec_string=codec_string,
    )
    return config, length_size


# --- AV1 --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AV1SequenceHeader:
    """The fields of an AV1 sequence header OBU that the server uses (maximum frame size)."""

    seq_profile: int
    still_picture: bool
    max_frame_width: int
    max_frame_height: int


def parse_av1_sequence_header(payload: bytes) -> AV1SequenceHeader:
    """Parse an AV1 sequence_header_obu() payload (after the OBU header and size)."""
    bits = _Bits(payload, "AV1 sequence header")
    seq_profile = bits.bits(3)
    still_picture = bits.flag()
    if bits.flag():  # reduced_still_picture_header
        bits.bits(5)  # seq_level_idx[0]
    else:
        decoder_model_info_present = False
        if bits.flag():  # timing_info_present_flag
            bits.bits(64)  # num_units_in_display_tick, time_scale
            if bits.flag():  # equal_picture_interval
                bits.uvlc()
            decoder_model_info_present = bits.flag()
        buffer_delay_length = 0
        if decoder_model_info_present:
            buffer_delay_length = bits.bits(5) + 1
            bits.bits(32 + 5 + 5)  # decoding tick, removal/presentation time lengths
        initial_display_delay_present = bits.flag()
        for _ in range(bits.bits(5) + 1):  # operating points
            bits.bits(12)  # operating_point_idc
            if bits.bits(5) > 7:  # seq_level_idx
                bits.bits(1)  # seq_tier
            if decoder_model_info_present and bits.flag():
                bits.bits(2 * buffer_delay_length + 1)  # buffer delays, low_delay_mode_flag
            if initial_display_delay_present and bits.flag():
                bits.bits(4)
    width_bits = bits.bits(4) + 1
    height_bits = bits.bits(4) + 1
    width = bits.bits(width_bits) + 1
    height = bits.bits(height_bits) + 1
    return AV1SequenceHeader(seq_profile, still_picture, width, height)


def _leb128(reader: _Bytes) -> int:
    value = 0
    for i in range(8):
        byte = reader.u8()
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    raise FLVError(f"{reader.what}: leb128 longer than 8 bytes")


def _av1_sequence_header_obu(obus: bytes) -> bytes | None:
    reader = _Bytes(obus, "AV1 configOBUs")
    while reader.remaining:
        header = reader.u8()
        if header & 0x80:
            raise FLVError("AV1 configOBUs: forbidden bit set")
        if header & 0x04:  # obu_extension_flag
            reader.u8()
        size = _leb128(reader) if header & 0x02 else reader.remaining
        payload = reader.take(size)
        if (header >> 3) & 0x0F == 1:  # OBU_SEQUENCE_HEADER
            return payload
    return None


def av1_config(record: bytes) -> VideoConfig:
    """Parse an AV1CodecConfigurationRecord (av1C, AV1-ISOBMFF 2.3).

    The codec string is "av01.<profile>.<level><tier>.<bit depth>"; the picture size comes
    from the sequence header in configOBUs, and is 0x0 when the record carries none.
    """
    what = "AV1CodecConfigurationRecord"
    reader = _Bytes(record, what)
    if reader.u8() != 0x81:
        raise FLVError(f"{what}: marker/version is not 1/1")
    second = reader.u8()
    profile, level = second >> 5, second & 0x1F
    third = reader.u8()
    tier, high_bitdepth, twelve_bit = third >> 7, (third >> 6) & 1, (third >> 5) & 1
    reader.u8()  # initial_presentation_delay
    bit_depth = 12 if twelve_bit else 10 if high_bitdepth else 8
    width = height = 0
    sequence_header = _av1_sequence_header_obu(reader.rest())
    if sequence_header is not None:
        header = parse_av1_sequence_header(sequence_header)
        width, height = header.max_frame_width, header.max_frame_height
    return VideoConfig(
        codec=VideoCodec.AV1,
        width=width,
        height=height,
        record=bytes(record),
        codec_string=f"av01.{profile}.{level:02d}{'H' if tier else 'M'}.{bit_depth:02d}",
    )


# --- AAC and MP3 ------------------------------------------------------------------------------

_AAC_SAMPLE_RATES = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)  # fmt: skip
# channelConfiguration -> channel count (ISO/IEC 14496-3 Table 1.19); 0 means "in a PCE".
_AAC_CHANNELS = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}
# Object types whose GASpecificConfig starts with frameLengthFlag (960- vs 1024-sample frames).
_AAC_GA_TYPES = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})


@dataclass(frozen=True, slots=True)
class AudioSpecificConfig:
    """An AAC AudioSpecificConfig: `object_type` is the first (signalling) audio object type,
    `sample_rate` the core coder's rate, `samples_per_frame` 1024 or 960 (0 when unknown)."""

    object_type: int
    sample_rate: int
    channel_configuration: int
    channels: int
    samples_per_frame: int


def parse_audio_specific_config(data: bytes) -> AudioSpecificConfig:
    """Parse an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), including escaped object types,
    the explicit 24-bit sampling frequency and explicit SBR/PS signalling."""
    bits = _Bits(data, "AudioSpecificConfig")

    def object_type() -> int:
        value = bits.bits(5)
        return 32 + bits.bits(6) if value == 31 else value

    def sample_rate() -> int:
        index = bits.bits(4)
        if index == 15:
            return bits.bits(24)
        if index >= len(_AAC_SAMPLE_RATES):
            raise FLVError(f"AudioSpecificConfig: reserved samplingFrequencyIndex {index}")
        return _AAC_SAMPLE_RATES[index]

    first_type = coder_type = object_type()
    if first_type == 0:
        raise FLVError("AudioSpecificConfig: audio object type 0 is not valid")
    rate = sample_rate()
    if rate == 0:
        raise FLVError("AudioSpecificConfig: sampling frequency 0")
    channel_configuration = bits.bits(4)
    if channel_configuration not in _AAC_CHANNELS:
        raise FLVError(
            f"AudioSpecificConfig: reserved channelConfiguration {channel_configuration}"
        )
    if first_type in (5, 29):  # explicit SBR (HE-AAC) / PS (HE-AACv2): the core type follows
        sample_rate()  # extensionSamplingFrequency: the output rate, twice the core's
        coder_type = object_type()
    samples_per_frame = 0
    if coder_type in _AAC_GA_TYPES:
        samples_per_frame = 960 if bits.flag() else 1024
    return AudioSpecificConfig(
        object_type=first_type,
        sample_rate=rate,
        channel_configuration=channel_configuration,
        channels=_AAC_CHANNELS[channel_configuration],
        samples_per_frame=samples_per_frame,
    )


def aac_config(asc: bytes) -> AudioConfig:
    """An AAC track config from its AudioSpecificConfig; codec string "mp4a.40.<object type>".

    `sample_rate` is the core coder's rate (the one AAC frame durations count in), and
    `channels` is 0 when the channel layout lives in a program config element.
    """
    info = parse_audio_specific_config(asc)
    return AudioConfig(
        codec=AudioCodec.AAC,
        sample_rate=info.sample_rate,
        channels=info.channels,
        record=bytes(asc),
        codec_string=f"mp4a.40.{info.object_type}",
    )


_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_config(frame: bytes) -> AudioConfig:
    """An MP3 track config from the header of an MPEG audio frame.

    The codec string is RFC 6381's for the MP4 objectTypeIndication ("mp4a.6B" for MPEG-1,
    "mp4a.69" for MPEG-2/2.5 low sampling rates); `record` is empty (MP3 has no config).
    """
    if len(frame) < 4:
        raise FLVError("MP3 frame: shorter than its 4-byte header")
    header = int.from_bytes(frame[:4], "big")
    if header >> 21 != 0x7FF:
        raise FLVError("MP3 frame: no frame sync")
    version = (header >> 19) & 3
    layer = (header >> 17) & 3
    rate_index = (header >> 10) & 3
    if version == 1 or layer == 0 or rate_index == 3:
        raise FLVError("MP3 frame: reserved version, layer or sampling rate")
    sample_rate = _MP3_RATES[version][rate_index]
    channels = 1 if (header >> 6) & 3 == 3 else 2
    return AudioConfig(
        codec=AudioCodec.MP3,
        sample_rate=sample_rate,
        channels=channels,
        record=b"",
        codec_string="mp4a.6B" if version == 3 else "mp4a.69",
    )


# --- onMetaData -------------------------------------------------------------------------------

_TEXT_LIMIT = 256  # onMetaData strings reach the API and the logs; keep them short


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip()[:_TEXT_LIMIT])
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _positive_int(value: object) -> int | None:
    number = _number(value)
    if number is None or not 0 < number < 1 << 31:
        return None
    return round(number)


def _codec_id(value: object) -> int | str | None:
    if isinstance(value, str):
        return value.strip()[:_TEXT_LIMIT] or None
    number = _number(value)
    if number is None or not number.is_integer() or number >= 1 << 32:
        return None
    return int(number)


def _fourcc(value: int | str | None) -> str | None:
    """A codec id as its FourCC text: E-RTMP sends FourCCs as numbers ('av01' = 1635135537)."""
    if isinstance(value, int) and value >= 1 << 24:
        return value.to_bytes(4, "big").decode("latin-1")
    return value if isinstance(value, str) else None


_VIDEO_CODEC_IDS: dict[int | str, VideoCodec] = {
    7: VideoCodec.H264,
    12: VideoCodec.H265,
    "avc1": VideoCodec.H264,
    "hvc1": VideoCodec.H265,
    "hev1": VideoCodec.H265,
    "av01": VideoCodec.AV1,
}
_AUDIO_CODEC_IDS: dict[int | str, AudioCodec] = {
    10: AudioCodec.AAC,
    2: AudioCodec.MP3,
    14: AudioCodec.MP3,
    "mp4a": AudioCodec.AAC,
    ".mp3": AudioCodec.MP3,
}


@dataclass(frozen=True, slots=True)
class StreamMetadata:
    """What the publisher says about its stream in onMetaData; None where absent or unusable.

    Data rates are in kbit/s as the encoder reports them. Codec ids are kept as sent
    (legacy numbers like 7, or E-RTMP FourCCs as numbers or text); `video_codec` and
    `audio_codec` read them.
    """

    width: int | None = None
    height: int | None = None
    framerate: float | None = None
    videodatarate: float | None = None
    audiodatarate: float | None = None
    audiosamplerate: float | None = None
    audiochannels: int | None = None
    encoder: str | None = None
    videocodecid: int | str | None = None
    audiocodecid: int | str | None = None

    @classmethod
    def from_amf(cls, values: Mapping[str, object]) -> StreamMetadata:
        """Read an AMF0-decoded onMetaData object, tolerating odd types and missing keys."""
        # Encoders disagree on case ("Encoder", "videoDataRate"); first spelling wins.
        lowered: dict[str, object] = {}
        for key, value in values.items():
            if isinstance(key, str):
                lowered.setdefault(key.lower(), value)
        framerate = _number(lowered.get("framerate"))
        if not framerate:
            framerate = _number(lowered.get("fps")) or None
        encoder = lowered.get("encoder")
        encoder_text = encoder.strip()[:_TEXT_LIMIT] if isinstance(encoder, str) else ""
        channels = _positive_int(lowered.get("audiochannels"))
        if channels is None and isinstance(lowered.get("stereo"), bool):
            channels = 2 if lowered["stereo"] else 1
        return cls(
            width=_positive_int(lowered.get("width")),
            height=_positive_int(lowered.get("height")),
            framerate=framerate,
            videodatarate=_number(lowered.get("videodatarate")),
            audiodatarate=_number(lowered.get("audiodatarate")),
            audiosamplerate=_number(lowered.get("audiosamplerate")) or None,
            audiochannels=channels,
            encoder=encoder_text or None,
            videocodecid=_codec_id(lowered.get("videocodecid")),
            audiocodecid=_codec_id(lowered.get("audiocodecid")),
        )

    @property
    def video_codec(self) -> VideoCodec | None:
        codec_id = self.videocodecid
        return _VIDEO_CODEC_IDS.get(_fourcc(codec_id) or codec_id or "")

    @property
    def audio_codec(self) -> AudioCodec | None:
        codec_id = self.audiocodecid
        return _AUDIO_CODEC_IDS.get(_fourcc(codec_id) or codec_id or "")


# --- tag bodies -------------------------------------------------------------------------------

_VIDEO_KEY_FRAME_TYPES = frozenset({1, 4})  # keyframe, generated keyframe
_VIDEO_COMMAND_FRAME = 5
_LEGACY_AVC = 7
_LEGACY_HEVC = 12  # not in Adobe's spec, but widely sent (and read by FFmpeg) before E-RTMP

_SEQUENCE_START = 0
_CODED_FRAMES = 1
_SEQUENCE_END = 2
_CODED_FRAMES_X = 3
_VIDEO_METADATA = 4
_MULTITRACK_VIDEO = 6
_MULTITRACK_AUDIO = 5
_AUDIO_MULTICHANNEL_CONFIG = 4
_MOD_EX = 7

_MANY_TRACKS_MANY_CODECS = 2
_ONE_TRACK = 0

_AVC, _HEVC, _AV1 = b"avc1", b"hvc1", b"av01"
_VIDEO_FOURCCS = {_AVC: VideoCodec.H264, _HEVC: VideoCodec.H265, _AV1: VideoCodec.AV1}
_AAC_FOURCC, _MP3_FOURCC = b"mp4a", b".mp3"

_SOUND_MP3 = 2
_SOUND_EX_HEADER = 9
_SOUND_AAC = 10
_SOUND_MP3_8K = 14


def _nal_units_to_4_byte_lengths(data: bytes, length_size: int, what: str) -> bytes:
    """Check the length-prefixed NAL framing of one frame; re-prefix with 4-byte lengths
    when the source used 1 or 2 (so every Packet has the layout `packets.py` promises)."""
    if length_size == 4:
        # Walk the lengths without copying: keyframes are hundreds of kilobytes.
        pos, end = 0, len(data)
        while pos < end:
            if end - pos < 4:
                raise FLVError(f"{what}: truncated NAL unit length at offset {pos}")
            pos += 4 + int.from_bytes(data[pos : pos + 4], "big")
        if pos != end:
            raise FLVError(f"{what}: NAL unit overruns the frame by {pos - end} bytes")
        return data
    reader = _Bytes(data, what)
    out = bytearray()
    while reader.remaining:
        nal = reader.take(reader.uint(length_size))
        out += len(nal).to_bytes(4, "big")
        out += nal
    return bytes(out)


@dataclass(frozen=True, slots=True)
class _VideoState:
    config: VideoConfig
    length_size: int


class FLVDemuxer:
    """One publish's FLV tag bodies in, media events out.

    Feed it every video, audio and onMetaData message in arrival order; each call returns the
    events that tag produced (usually one). Timestamps are milliseconds, already unwrapped.
    """

    def __init__(self) -> None:
        self._video: _VideoState | None = None
        self._audio: AudioConfig | None = None
        self._metadata = StreamMetadata()

    @property
    def video_config(self) -> VideoConfig | None:
        return self._video.config if self._video else None

    @property
    def audio_config(self) -> AudioConfig | None:
        return self._audio

    @property
    def stream_metadata(self) -> StreamMetadata:
        return self._metadata

    def metadata(self, values: Mapping[str, object]) -> StreamMetadata:
        """Take an onMetaData object (from @setDataFrame or a bare onMetaData call)."""
        self._metadata = StreamMetadata.from_amf(values)
        return self._metadata

    # video

    def video(self, timestamp: int, body: bytes) -> list[FLVEvent]:
        """Take one video tag body (RTMP message type 9) stamped `timestamp` ms."""
        if not body:
            return [Dropped(Track.VIDEO, DropReason.EMPTY, "video tag without a header")]
        reader = _Bytes(body, "video tag")
        first = reader.u8()
        frame_type = (first >> 4) & 0x07
        if not first & 0x80:
            return self._legacy_video(timestamp, reader, frame_type, first & 0x0F)
        packet_type = first & 0x0F
        while packet_type == _MOD_EX:
            # ModEx carries modifiers (today: a sub-millisecond timestamp offset, which the
            # 90 kHz timeline does not need); skip them and read the real packet type.
            packet_type = self._skip_mod_ex(reader)
        if packet_type == _VIDEO_METADATA:
            return [Dropped(Track.VIDEO, DropReason.METADATA, "E-RTMP video metadata (colorInfo)")]
        if frame_type == _VIDEO_COMMAND_FRAME:
            return [Dropped(Track.VIDEO, DropReason.COMMAND_FRAME, "E-RTMP video command")]
        if packet_type != _MULTITRACK_VIDEO:
            return self._ex_video(timestamp, frame_type, packet_type, reader.take(4), reader)
        events: list[FLVEvent] = []
        for track_id, track_type, fourcc, track in self._tracks(reader, Track.VIDEO):
            if track_id != 0:
                detail = f"video track {track_id} ({fourcc.decode('latin-1')})"
                events.append(Dropped(Track.VIDEO, DropReason.OTHER_TRACK, detail))
            else:
                events += self._ex_video(timestamp, frame_type, track_type, fourcc, track)
        return events

    def _legacy_video(
        self, timestamp: int, reader: _Bytes, frame_type: int, codec_id: int
    ) -> list[FLVEvent]:
        if frame_type == _VIDEO_COMMAND_FRAME:
            return [Dropped(Track.VIDEO, DropReason.COMMAND_FRAME, "video info/command frame")]
        if codec_id not in (_LEGACY_AVC, _LEGACY_HEVC):
            detail = f"FLV video codec id {codec_id}"
            return [Dropped(Track.VIDEO, DropReason.UNSUPPORTED_CODEC, detail)]
        fourcc = _AVC if codec_id == _LEGACY_AVC else _HEVC
        packet_type = reader.u8()
        if packet_type == _SEQUENCE_START:
            reader.take(3)  # composition time, zero for a sequence header
            return [self._video_sequence_start(fourcc, reader.rest())]
        if packet_type == _CODED_FRAMES:
            cts = reader.s24()
            return self._video_frame(timestamp, cts, frame_type, fourcc, reader.rest())
        if packet_type == _SEQUENCE_END:
            return [EndOfSequence(Track.VIDEO)]
        raise FLVError(f"video tag: AVCPacketType {packet_type} is not 0, 1 or 2")

    def _ex_video(
        self, timestamp: int, frame_type: int, packet_type: int, fourcc: bytes, reader: _Bytes
    ) -> list[FLVEvent]:
        if fourcc not in _VIDEO_FOURCCS:
            detail = f"E-RTMP video FourCC {fourcc!r}"
            return [Dropped(Track.VIDEO, DropReason.UNSUPPORTED_CODEC, detail)]
        if packet_type == _SEQUENCE_START:
            return [self._video_sequence_start(fourcc, reader.rest())]
        if packet_type in (_CODED_FRAMES, _CODED_FRAMES_X):
            # CodedFrames carries a composition time for the codecs that reorder frames.
            has_cts = packet_type == _CODED_FRAMES and fourcc != _AV1
            cts = reader.s24() if has_cts else 0
            return self._video_frame(timestamp, cts, frame_type, fourcc, reader.rest())
        if packet_type == _SEQUENCE_END:
            return [EndOfSequence(Track.VIDEO)]
        if packet_type == _VIDEO_METADATA:
            return [Dropped(Track.VIDEO, DropReason.METADATA, "E-RTMP video metadata")]
        if packet_type in (_MULTITRACK_VIDEO, _MOD_EX):
            raise FLVError(f"video tag: packet type {packet_type} inside a track")
        detail = f"E-RTMP video packet type {packet_type}"
        return [Dropped(Track.VIDEO, DropReason.UNSUPPORTED_PACKET, detail)]

    def _video_sequence_start(self, fourcc: bytes, record: bytes) -> VideoConfigReceived:
        length_size = 4
        if fourcc == _AVC:
            config, length_size = avc_config(record)
        elif fourcc == _HEVC:
            config, length_size = hevc_config(record)
        else:
            config = av1_config(record)
        changed = self._video is None or self._video.config != config
        self._video = _VideoState(config, length_size)
        return VideoConfigReceived(config, changed)

    def _video_frame(
        self, timestamp: int, cts: int, frame_type: int, fourcc: bytes, data: bytes
    ) -> list[FLVEvent]:
        state = self._video
        if state is None or state.config.codec is not _VIDEO_FOURCCS[fourcc]:
            detail = f"{fourcc.decode()} frame at {timestamp} ms before its sequence header"
            return [Dropped(Track.VIDEO, DropReason.NO_SEQUENCE_HEADER, detail)]
        if fourcc == _AV1:
            # A temporal delimiter OBU (type 2, size 0) opens each temporal unit in the AV1
            # bitstream but must not be in an MP4 sample (AV1-ISOBMFF 2.4); the timestamps
            # delimit the units here.
            if data[:2] == b"\x12\x00":
                data = data[2:]
        elif data:
            data = _nal_units_to_4_byte_lengths(data, state.length_size, "video frame")
        if not data:
            return [Dropped(Track.VIDEO, DropReason.EMPTY, f"empty video frame at {timestamp} ms")]
        packet = Packet(
            track=Track.VIDEO,
            dts=timestamp * MS_TICKS,
            pts=(timestamp + cts) * MS_TICKS,
            keyframe=frame_type in _VIDEO_KEY_FRAME_TYPES,
            data=data,
        )
        return [packet]

    # audio

    def audio(self, timestamp: int, body: bytes) -> list[FLVEvent]:
        """Take one audio tag body (RTMP message type 8) stamped `timestamp` ms."""
        if not body:
            return [Dropped(Track.AUDIO, DropReason.EMPTY, "audio tag without a header")]
        reader = _Bytes(body, "audio tag")
        first = reader.u8()
        sound_format = first >> 4
        if sound_format == _SOUND_AAC:
            packet_type = reader.u8()
            if packet_type == 0:
                return [self._audio_config(aac_config(reader.rest()))]
            if packet_type == 1:
                return self._audio_frame(timestamp, AudioCodec.AAC, reader.rest())
            raise FLVError(f"audio tag: AACPacketType {packet_type} is not 0 or 1")
        if sound_format in (_SOUND_MP3, _SOUND_MP3_8K):
            return self._mp3_frame(timestamp, reader.rest())
        if sound_format != _SOUND_EX_HEADER:
            detail = f"FLV sound format {sound_format}"
            return [Dropped(Track.AUDIO, DropReason.UNSUPPORTED_CODEC, detail)]
        packet_type = first & 0x0F
        while packet_type == _MOD_EX:
            packet_type = self._skip_mod_ex(reader)
        if packet_type != _MULTITRACK_AUDIO:
            return self._ex_audio(timestamp, packet_type, reader.take(4), reader)
        events: list[FLVEvent] = []
        for track_id, track_type, fourcc, track in self._tracks(reader, Track.AUDIO):
            if track_id != 0:
                detail = f"audio track {track_id} ({fourcc.decode('latin-1')})"
                events.append(Dropped(Track.AUDIO, DropReason.OTHER_TRACK, detail))
            else:
                events += self._ex_audio(timestamp, track_type, fourcc, track)
        return events

    def _ex_audio(
        self, timestamp: int, packet_type: int, fourcc: bytes, reader: _Bytes
    ) -> list[FLVEvent]:
        if fourcc not in (_AAC_FOURCC, _MP3_FOURCC):
            detail = f"E-RTMP audio FourCC {fourcc!r}"
            return [Dropped(Track.AUDIO, DropReason.UNSUPPORTED_CODEC, detail)]
        if packet_type == _SEQUENCE_START:
            if fourcc == _MP3_FOURCC:  # MP3 has no configuration; its frames say it all
                return [Dropped(Track.AUDIO, DropReason.UNSUPPORTED_PACKET, "MP3 sequence start")]
            return [self._audio_config(aac_config(reader.rest()))]
        if packet_type == _CODED_FRAMES:
            if fourcc == _MP3_FOURCC:
                return self._mp3_frame(timestamp, reader.rest())
            return self._audio_frame(timestamp, AudioCodec.AAC, reader.rest())
        if packet_type == _SEQUENCE_END:  # E-RTMP v2: "no less than a silence message"
            return [EndOfSequence(Track.AUDIO)]
        if packet_type in (_MULTITRACK_AUDIO, _MOD_EX):
            raise FLVError(f"audio tag: packet type {packet_type} inside a track")
        detail = f"E-RTMP audio packet type {packet_type}"
        return [Dropped(Track.AUDIO, DropReason.UNSUPPORTED_PACKET, detail)]

    def _audio_config(self, config: AudioConfig) -> AudioConfigReceived:
        changed = self._audio != config
        self._audio = config
        return AudioConfigReceived(config, changed)

    def _mp3_frame(self, timestamp: int, data: bytes) -> list[FLVEvent]:
        if not data:
            return [Dropped(Track.AUDIO, DropReason.EMPTY, f"empty MP3 frame at {timestamp} ms")]
        # MP3 has no sequence header: each frame's header is its configuration.
        config = mp3_config(data)
        events: list[FLVEvent] = []
        if config != self._audio:
            events.append(self._audio_config(config))
        events += self._audio_frame(timestamp, AudioCodec.MP3, data)
        return events

    def _audio_frame(self, timestamp: int, codec: AudioCodec, data: bytes) -> list[FLVEvent]:
        if self._audio is None or self._audio.codec is not codec:
            detail = f"{codec.value} frame at {timestamp} ms before its sequence header"
            return [Dropped(Track.AUDIO, DropReason.NO_SEQUENCE_HEADER, detail)]
        if not data:
            return [Dropped(Track.AUDIO, DropReason.EMPTY, f"empty audio frame at {timestamp} ms")]
        ticks = timestamp * MS_TICKS
        return [Packet(track=Track.AUDIO, dts=ticks, pts=ticks, keyframe=True, data=data)]

    # E-RTMP framing shared by audio and video

    @staticmethod
    def _skip_mod_ex(reader: _Bytes) -> int:
        size = reader.u8() + 1
        if size == 256:
            size = reader.uint(2) + 1
        reader.take(size)
        return reader.u8() & 0x0F  # high nibble: the modifier's type; low: next packet type

    @staticmethod
    def _tracks(reader: _Bytes, kind: Track) -> list[tuple[int, int, bytes, _Bytes]]:
        """Split a multitrack body into (track id, packet type, FourCC, body) per track."""
        second = reader.u8()
        multitrack_type, packet_type = second >> 4, second & 0x0F
        if packet_type == (_MULTITRACK_VIDEO if kind is Track.VIDEO else _MULTITRACK_AUDIO):
            raise FLVError(f"{kind.value} tag: nested multitrack")
        if multitrack_type > _MANY_TRACKS_MANY_CODECS:
            raise FLVError(f"{kind.value} tag: reserved multitrack type {multitrack_type}")
        fourcc = b""
        if multitrack_type != _MANY_TRACKS_MANY_CODECS:
            fourcc = reader.take(4)
        tracks: list[tuple[int, int, bytes, _Bytes]] = []
        while reader.remaining:
            if multitrack_type == _MANY_TRACKS_MANY_CODECS:
                fourcc = reader.take(4)
            track_id = reader.u8()
            if multitrack_type == _ONE_TRACK:
                tracks.append((track_id, packet_type, fourcc, reader))
                break
            body = reader.take(reader.uint(3))
            tracks.append((track_id, packet_type, fourcc, _Bytes(body, f"{kind.value} track")))
        if not tracks:
            raise FLVError(f"{kind.value} tag: multitrack body without tracks")
        return tracks


# --- the FLV file container -------------------------------------------------------------------


class TagType(enum.IntEnum):
    AUDIO = 8
    VIDEO = 9
    SCRIPT_DATA = 18


@dataclass(frozen=True, slots=True)
class FLVTag:
    """One tag of an FLV file: its type, millisecond timestamp and body."""

    tag_type: TagType
    timestamp: int
    body: bytes


def read_flv_file(data: bytes) -> list[FLVTag]:
    """Split a whole FLV file (header, then tags with back-pointers) into its tags."""
    reader = _Bytes(data, "FLV file")
    if reader.take(3) != b"FLV":
        raise FLVError("FLV file: no FLV signature")
    reader.u8()  # version
    reader.u8()  # audio/video presence flags: unreliable, the tags say what is there
    header_size = reader.uint(4)
    if header_size < 9:
        raise FLVError(f"FLV file: header size {header_size} < 9")
    reader.take(header_size - 9)
    reader.uint(4)  # PreviousTagSize0
    tags: list[FLVTag] = []
    while reader.remaining:
        first = reader.u8()
        if first & 0x20:
            raise FLVError("FLV file: encrypted tags are not supported")
        size = reader.uint(3)
        timestamp = reader.uint(3)
        timestamp |= reader.u8() << 24  # TimestampExtended: the upper 8 bits
        reader.uint(3)  # StreamID, always 0
        body = reader.take(size)
        reader.uint(4)  # PreviousTagSize
        try:
            tag_type = TagType(first & 0x1F)
        except ValueError:
            continue  # reserved tag types are skipped, as FLV readers do
        tags.append(FLVTag(tag_type, timestamp, body))
    return tags
