"""`owncastd probe` and `video.encoder`: trial encodes on this machine, the choice at start."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from owncastd.media.probe import (
    AUTO_ORDER,
    CANDIDATES,
    EncoderUnavailable,
    choose_encoder,
    probe_encoder,
)
from tests.daemon import Daemon, run_cli

HARDWARE = [name for name, _ in CANDIDATES if not name.startswith("lib")]


def has_gpu() -> bool:
    return any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/dri/renderD128"))


def test_probe_table_lists_libx264_usable_and_hardware_unusable_with_reasons(
    tmp_path: Path,
) -> None:
    result = run_cli("probe", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {
        cells[0]: cells[1:]
        for line in result.stdout.splitlines()
        if (cells := [c.strip() for c in line.split("│")[1:-1]]) and cells[0]
    }
    assert set(rows) >= {name for name, _ in CANDIDATES}
    assert rows["libx264"][:3] == ["H.264", "software", "yes"]
    assert rows["libx264"][3].startswith("trial encode OK")
    if not has_gpu():
        for name in HARDWARE:
            _codec, kind, usable, reason = rows[name]
            assert (kind, usable) == ("hardware", "no"), name
            assert reason, name
    assert 'video.encoder = "auto" picks: libx264' in result.stdout
    assert result.stderr == ""  # no encoder library chatter


def test_probe_json(tmp_path: Path) -> None:
    result = run_cli("probe", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    results = {r["encoder"]: r for r in json.loads(result.stdout)}
    assert [r for r in results] == [name for name, _ in CANDIDATES]
    assert results["libx264"]["usable"] is True
    if not has_gpu():
        assert not any(results[name]["usable"] for name in HARDWARE)
        assert all(results[name]["reason"] for name in HARDWARE)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no_such_encoder", "not in this FFmpeg build"),
        ("aac", "not a video encoder"),
        ("", "not in this FFmpeg build"),
    ],
)
def test_probe_never_raises(name: str, reason: str) -> None:
    result = probe_encoder(name)
    assert not result.usable and result.reason == reason


def test_auto_picks_the_first_usable_and_says_why() -> None:
    choice = choose_encoder("auto")
    if not has_gpu():
        assert choice.encoder == "libx264"
        assert "h264_nvenc:" in choice.reason  # which hardware encoders failed, and why
    assert choice.encoder in AUTO_ORDER


def test_a_named_encoder_must_work_and_be_h264() -> None:
    assert choose_encoder("libx264").encoder == "libx264"
    with pytest.raises(EncoderUnavailable, match=r"encodes H\.265; the ladder needs an H\.264"):
        choose_encoder("libx265")
    with pytest.raises(EncoderUnavailable, match=r"nope is not usable here: not in this FFmpeg"):
        choose_encoder("nope")
    if not has_gpu():
        with pytest.raises(EncoderUnavailable, match=r"h264_nvenc is not usable here: .+"):
            choose_encoder("h264_nvenc")


@pytest.mark.skipif(has_gpu(), reason="needs a machine without NVENC")
def test_daemon_refuses_to_start_with_an_unusable_encoder(daemon_factory: type[Daemon]) -> None:
    d = daemon_factory('[video]\nencoder = "h264_nvenc"\n')
    d.start(wait=False)
    assert d.proc is not None
    assert d.proc.wait(30) == 1
    log = d.log()
    assert "owncastd: video.encoder: h264_nvenc is not usable here:" in log
    assert "Traceback" not in log


def test_all_passthrough_needs_no_encoder(daemon_factory: type[Daemon]) -> None:
    d = daemon_factory('[video]\nencoder = "nope"\n[[video.variants]]\nvideo_passthrough = true\n')
    d.start()
    assert "video encoder chosen" not in d.log()
