"""The ladder's rules without a codec: names, sizes, GOPs, encoder options, the worker's plan,
and the constant-frame-rate grid."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from owncastd import config as cfg
from owncastd.media.ladder import (
    FrameRateConverter,
    Ladder,
    encoder_family,
    encoder_options,
    gop_frames,
    output_size,
    owncast_variant,
    variant_name,
    worker_plan,
)
from owncastd.media.packets import TIMESCALE


def test_default_ladder_is_owncasts_single_rung() -> None:
    ladder = Ladder.from_config(cfg.VideoConfig())
    (rung,) = ladder.rungs
    assert rung.transcodes and rung.copies_audio
    v = rung.variant
    assert (v.video_bitrate, v.framerate, v.cpu_usage_level) == (1200, 24, 2)
    assert rung.name == "1.2Mbps@24fps"
    assert ladder.passthrough == ()


@pytest.mark.parametrize(
    ("variant", "name"),
    [
        (cfg.Variant(name="High"), "High"),
        (cfg.Variant(video_passthrough=True), "Source"),
        (cfg.Variant(scaled_width=1080, scaled_height=720, video_bitrate=3000), "720p @3Mbps"),
        (cfg.Variant(scaled_width=1920, scaled_height=1080, video_bitrate=6500), "1080p @6.5Mbps"),
        (cfg.Variant(scaled_height=480), "480h"),
        (cfg.Variant(scaled_width=640), "640w"),
        (cfg.Variant(video_bitrate=800, framerate=30), "800Kbps@30fps"),
    ],
)
def test_names_follow_owncast(variant: cfg.Variant, name: str) -> None:
    assert variant_name(variant) == name


def test_owncast_json_shape() -> None:
    assert owncast_variant(cfg.Variant(video_passthrough=True, framerate=30)) == {
        "name": "Source",
        "videoPassthrough": True,
        "audioPassthrough": True,
        "videoBitrate": 1200,
        "audioBitrate": 128,
        "scaledWidth": 0,
        "scaledHeight": 0,
        "framerate": 0,  # Owncast reports 0 for passthrough
        "cpuUsageLevel": 2,
    }
    assert owncast_variant(cfg.Variant(framerate=30))["framerate"] == 30


@pytest.mark.parametrize(
    ("source", "wanted", "size"),
    [
        ((1280, 720), (0, 480), (854, 480)),  # FFmpeg's scale=-2:480
        ((1280, 720), (640, 0), (640, 360)),
        ((1920, 1080), (0, 720), (1280, 720)),
        ((640, 360), (0, 240), (426, 240)),
        ((1280, 720), (0, 0), (1280, 720)),
        ((1279, 721), (0, 0), (1278, 720)),  # odd sizes round down to even
        ((1280, 720), (333, 201), (332, 200)),
        ((1280, 720), (1, 1), (2, 2)),
    ],
)
def test_output_size(
    source: tuple[int, int], wanted: tuple[int, int], size: tuple[int, int]
) -> None:
    assert output_size(*source, *wanted) == size


def test_output_size_needs_a_source() -> None:
    with pytest.raises(ValueError):
        output_size(0, 720, 0, 480)


@given(
    w=st.integers(2, 8192),
    h=st.integers(2, 8192),
    side=st.integers(2, 4096),
    by_width=st.booleans(),
)
def test_kept_aspect_is_even_and_close(w: int, h: int, side: int, by_width: bool) -> None:
    out_w, out_h = output_size(w, h, side if by_width else 0, 0 if by_width else side)
    assert out_w % 2 == 0 and out_h % 2 == 0 and out_w >= 2 and out_h >= 2
    if by_width:
        assert abs(out_h - side * h / w) <= 2
    else:
        assert abs(out_w - side * w / h) <= 2


def test_gop_is_one_segment() -> None:
    assert gop_frames(30, Fraction(3)) == 90
    assert gop_frames(24, Fraction(1)) == 24
    assert gop_frames(25, Fraction(1, 3)) == 8


@pytest.mark.parametrize(
    ("encoder", "family"),
    [
        ("libx264", "x264"),
        ("h264_nvenc", "nvenc"),
        ("h264_qsv", "qsv"),
        ("h264_amf", "amf"),
        ("h264_vaapi", "vaapi"),
        ("h264_v4l2m2m", "v4l2m2m"),
        ("libopenh264", "libopenh264"),
    ],
)
def test_encoder_family(encoder: str, family: str) -> None:
    assert encoder_family(encoder) == family


def test_x264_options_are_owncasts() -> None:
    options = encoder_options("libx264", cfg.Variant(video_bitrate=1000), 90)
    assert options == {
        "b": "1000k",
        "maxrate": "1060k",
        "bufsize": "1200k",
        "g": "90",
        "keyint_min": "90",
        "bf": "0",
        "preset": "veryfast",
        "tune": "zerolatency",
        "profile": "high",
        "x264-params": "scenecut=0:open_gop=0",
        "forced-idr": "1",
        "sc_threshold": "0",
    }


@pytest.mark.parametrize(
    ("encoder", "key", "presets"),
    [
        ("libx264", "preset", ["ultrafast", "superfast", "veryfast", "faster", "fast"]),
        ("h264_nvenc", "preset", ["p1", "p2", "p3", "p4", "p5"]),
        ("h264_qsv", "preset", ["veryfast", "fast", "medium", "slow", "veryslow"]),
        ("h264_amf", "quality", ["speed", "speed", "balanced", "balanced", "quality"]),
    ],
)
def test_cpu_usage_level_picks_the_preset(encoder: str, key: str, presets: list[str]) -> None:
    got = [
        encoder_options(encoder, cfg.Variant(cpu_usage_level=level), 48)[key] for level in range(5)
    ]
    assert got == presets


def test_hardware_families_force_idr_and_low_delay() -> None:
    nvenc = encoder_options("h264_nvenc", cfg.Variant(), 72)
    assert nvenc["tune"] == "ll" and nvenc["forced-idr"] == "1" and nvenc["no-scenecut"] == "1"
    assert encoder_options("h264_qsv", cfg.Variant(), 72)["forced_idr"] == "1"
    vaapi = encoder_options("h264_vaapi", cfg.Variant(), 72)
    assert "preset" not in vaapi and vaapi["g"] == "72"


def test_worker_plan_streams() -> None:
    video = cfg.VideoConfig(
        variants=[
            cfg.Variant(video_passthrough=True),
            cfg.Variant(scaled_height=720, framerate=30),
            cfg.Variant(scaled_height=480, framerate=30, audio_passthrough=False, audio_bitrate=96),
            cfg.Variant(scaled_height=360, framerate=24),
        ]
    )
    plan = worker_plan(Ladder.from_config(video), "libx264", Fraction(2), preview_dir="/d")
    # One video stream per transcoded rung, ids from 0; the passthrough rung is not there.
    assert [(v["id"], v["rung"], v["height"], v["gop"]) for v in plan["video"]] == [
        (0, 1, 720, 60),
        (1, 2, 480, 60),
        (2, 3, 360, 48),
    ]
    # Copied audio is one stream shared by the rungs that copy; each bitrate gets its own.
    assert plan["audio"] == [{"id": 3, "bitrate": 0}, {"id": 4, "bitrate": 96}]
    assert [v["audio"] for v in plan["video"]] == [3, 4, 3]
    assert plan["preview_dir"] == "/d" and plan["encoder"] == "libx264"


def test_nominal_bandwidth() -> None:
    ladder = Ladder.from_config(
        cfg.VideoConfig(variants=[cfg.Variant(video_passthrough=True), cfg.Variant()])
    )
    assert ladder.rungs[0].nominal_bandwidth is None
    assert ladder.rungs[1].nominal_bandwidth == int((1200 * 1.06 + 128) * 1000)


# --- the frame rate grid -------------------------------------------------------------------


def ms_timestamps(fps: float, frames: int, start: int = 0) -> list[int]:
    """Source timestamps as RTMP delivers them: whole milliseconds, in 90 kHz."""
    return [start + round(i * 1000 / fps) * 90 for i in range(frames)]


def run(converter: FrameRateConverter, stamps: list[int]) -> list[tuple[int, int, bool]]:
    out = []
    for pts in stamps:
        out += [(s.index, s.pts, s.keyframe) for s in converter.push(pts)]
    return out


def test_same_rate_passes_every_frame_with_keyframes_each_gop() -> None:
    slots = run(FrameRateConverter(30, 30), ms_timestamps(30, 90, start=12_345))
    assert [s[0] for s in slots] == list(range(90))
    assert [s[1] for s in slots] == [12_345 + 3000 * i for i in range(90)]
    assert [s[0] for s in slots if s[2]] == [0, 30, 60]


def test_faster_source_drops_frames() -> None:
    slots = run(FrameRateConverter(24, 24), ms_timestamps(30, 300))
    assert [s[0] for s in slots] == list(range(240))  # 10 s at 24 fps: one frame in 5 dropped
    assert [s[1] for s in slots if s[2]] == [i * TIMESCALE for i in range(10)]


def test_slower_source_repeats_frames() -> None:
    converter = FrameRateConverter(30, 30)
    counts = [len(converter.push(pts)) for pts in ms_timestamps(15, 30)]
    assert counts[0] == 1 and set(counts[1:]) == {2}


def test_rungs_of_different_rates_share_keyframe_instants() -> None:
    stamps = ms_timestamps(30, 600, start=90_000 * 5)
    instants = []
    for fps in (30, 25, 24, 15):
        keys = [s[1] for s in run(FrameRateConverter(fps, fps * 2), stamps) if s[2]]
        instants.append([k for k in keys if k < stamps[-1]])  # the last frame may round up
    assert all(keys == instants[0] for keys in instants)
    assert instants[0] == [90_000 * 5 + 2 * TIMESCALE * i for i in range(10)]


def test_a_long_gap_moves_the_grid_on_with_a_keyframe() -> None:
    converter = FrameRateConverter(30, 90)
    first = run(converter, ms_timestamps(30, 10))
    after = run(converter, ms_timestamps(30, 5, start=5 * TIMESCALE))  # 5 s later
    assert len(first) == 10
    assert [s[0] for s in after] == [150, 151, 152, 153, 154]  # no 140 repeated frames
    assert after[0][2] and not any(s[2] for s in after[1:])
    assert after[0][1] == 5 * TIMESCALE


def test_a_short_gap_is_filled() -> None:
    converter = FrameRateConverter(30, 90)
    run(converter, [0])
    assert [s.index for s in converter.push(15_000)] == [1, 2, 3, 4, 5]  # 1/6 s later


def test_time_going_backwards_restarts_the_grid() -> None:
    converter = FrameRateConverter(30, 90)
    run(converter, ms_timestamps(30, 100, start=10 * TIMESCALE))
    slots = converter.push(0)
    assert [(s.index, s.pts, s.keyframe) for s in slots] == [(0, 0, True)]


@given(
    source_fps=st.sampled_from([10, 15, 23.976, 24, 25, 29.97, 30, 50, 59.94, 60]),
    fps=st.sampled_from([10, 15, 24, 25, 30, 60]),
    start=st.integers(-(2**33), 2**33),
)
def test_grid_is_monotonic_and_at_the_output_rate(source_fps: float, fps: int, start: int) -> None:
    converter = FrameRateConverter(fps, fps)
    stamps = ms_timestamps(source_fps, int(source_fps * 4), start)
    slots = run(converter, stamps)
    indexes = [s[0] for s in slots]
    assert indexes == list(range(len(indexes)))  # no holes, no repeats
    assert all(b[1] > a[1] for a, b in itertools.pairwise(slots))
    duration = (stamps[-1] - stamps[0]) / TIMESCALE
    assert abs(len(slots) - duration * fps) <= 2
    assert [s[0] for s in slots if s[2]] == [i for i in indexes if i % fps == 0]
