"""media.flv under mutated input: seeds from tests/fuzz/corpus/flv/, mutated deterministically
(random.Random(iteration)) for a few seconds; only FLVError may come out.

Each seed is a small FLV file; the test splits it into tags with `read_flv_file` and mutates tag
bodies (so the mutations reach the codec parsers rather than the file framing), and separately
mutates whole files for `read_flv_file` itself. A failure names the iteration to replay it:
`replay(iteration)`. Regenerate the seeds with `python -m tests.test_flv_fuzz`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from pathlib import Path

import av

from owncastd.media.flv import FLVDemuxer, FLVError, FLVTag, TagType, read_flv_file
from tests.test_flv import (
    AudioSpec,
    VideoSpec,
    _mod_ex,
    _multitrack,
    encode_clip,
    legacy_to_enhanced,
    write_flv_file,
)

CORPUS = Path(__file__).parent / "fuzz" / "corpus" / "flv"
BUDGET_SECONDS = 3.0
_INTERESTING = (0x00, 0x01, 0x03, 0x07, 0x0F, 0x1F, 0x7F, 0x80, 0xFF)


def load_seeds() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(CORPUS.glob("*.flv"))}


def mutate(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes:
    """One to three byte-level mutations, biased to the headers at the front of a body."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        size = len(out)
        front = rng.random() < 0.6
        pos = rng.randrange(min(size, 48) if front else size) if size else 0
        op = rng.randrange(8)
        if op == 0 and size:
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and size:
            out[pos] = rng.choice(_INTERESTING)
        elif op == 2:
            del out[pos:]
        elif op == 3:
            out[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 4 and size:
            del out[pos : pos + rng.randint(1, 32)]
        elif op == 5 and size:
            out[pos:pos] = out[pos : pos + rng.randint(1, 32)]
        elif op == 6 and donors:
            donor = rng.choice(donors)
            out[pos:] = donor[rng.randrange(len(donor) + 1) :]
        elif op == 7 and size:
            # Length and count fields: the largest values of their widths.
            width = rng.choice((1, 2, 3, 4))
            out[pos : pos + width] = b"\xff" * width
    return bytes(out)


def run_iteration(iteration: int, seeds: list[list[FLVTag]], files: list[bytes]) -> None:
    rng = random.Random(iteration)
    if rng.random() < 0.1:
        with contextlib.suppress(FLVError):
            read_flv_file(mutate(rng, rng.choice(files), files))
        return
    tags = rng.choice(seeds)
    donors = [tag.body for tag in tags]
    demuxer = FLVDemuxer()
    for tag in tags:
        body = mutate(rng, tag.body, donors) if rng.random() < 0.35 else tag.body
        feed: Callable[[int, bytes], object]
        feed = demuxer.video if tag.tag_type is TagType.VIDEO else demuxer.audio
        with contextlib.suppress(FLVError):
            feed(tag.timestamp, body)


def _seed_tags() -> tuple[list[list[FLVTag]], list[bytes]]:
    files = list(load_seeds().values())
    seeds = [
        [t for t in read_flv_file(data) if t.tag_type is not TagType.SCRIPT_DATA] for data in files
    ]
    return seeds, files


def replay(iteration: int) -> None:
    seeds, files = _seed_tags()
    run_iteration(iteration, seeds, files)


def test_corpus_seeds_demux_cleanly() -> None:
    seeds = load_seeds()
    assert len(seeds) >= 5
    for name, data in seeds.items():
        demuxer = FLVDemuxer()
        for tag in read_flv_file(data):
            if tag.tag_type is TagType.VIDEO:
                demuxer.video(tag.timestamp, tag.body)
            elif tag.tag_type is TagType.AUDIO:
                demuxer.audio(tag.timestamp, tag.body)
        assert demuxer.video_config or demuxer.audio_config, name


def test_mutated_tags_raise_only_flv_error() -> None:
    seeds, files = _seed_tags()
    deadline = time.monotonic() + BUDGET_SECONDS
    iteration = 0
    while time.monotonic() < deadline:
        try:
            run_iteration(iteration, seeds, files)
        except Exception as error:
            raise AssertionError(f"replay({iteration}) raises {error!r}") from error
        iteration += 1
    assert iteration > 100


# --- the seed corpus -----------------------------------------------------------------------------


def _video_tags(data: bytes) -> list[FLVTag]:
    return [t for t in read_flv_file(data) if t.tag_type is not TagType.SCRIPT_DATA]


def build_corpus() -> dict[str, bytes]:
    """Small FLV files covering each tag format the demuxer reads."""
    small = VideoSpec(width=64, height=48, frames=6, gop=4, profile="high")
    corpus = {"x264-aac.flv": encode_clip(small, AudioSpec(layout="mono")).flv}
    if "libx265" in av.codecs_available:
        hevc = VideoSpec(codec="libx265", width=64, height=64, frames=4, gop=2)
        corpus["x265-ertmp.flv"] = encode_clip(hevc).flv
    if "libsvtav1" in av.codecs_available:
        av1 = VideoSpec(codec="libsvtav1", width=64, height=64, frames=3, b_frames=0, gop=2)
        corpus["av1-ertmp.flv"] = encode_clip(av1).flv
    if "libmp3lame" in av.codecs_available:
        mp3 = AudioSpec(codec="libmp3lame", rate=22050, layout="stereo")
        corpus["mp3.flv"] = write_flv_file(read_flv_file(encode_clip(None, mp3).flv)[:8])

    # E-RTMP re-wraps of the x264/AAC seed: FourCC tags, ModEx, multitrack, CodedFramesX,
    # metadata and command frames, and enhanced audio.
    tags = _video_tags(corpus["x264-aac.flv"])
    enhanced: list[FLVTag] = []
    for i, tag in enumerate(tags):
        if tag.tag_type is TagType.AUDIO:
            body = bytes([0x90 | tag.body[1]]) + b"mp4a" + tag.body[2:]
            enhanced.append(FLVTag(tag.tag_type, tag.timestamp, body))
            continue
        body = legacy_to_enhanced(tag.body, use_x=i % 2 == 0)
        if i % 3 == 1:
            body = _mod_ex(body)
        elif i % 3 == 2 and body[0] & 0x0F in (0, 1, 3):
            body = _multitrack({1: body, 0: body})
        enhanced.append(FLVTag(tag.tag_type, tag.timestamp, body))
    enhanced.insert(1, FLVTag(TagType.VIDEO, 0, b"\x94avc1\x02\x00\x09colorInfo\x03\x00\x00\x09"))
    enhanced.insert(2, FLVTag(TagType.VIDEO, 0, b"\xd1\x00"))
    corpus["x264-ertmp.flv"] = write_flv_file(enhanced)
    return corpus


if __name__ == "__main__":
    CORPUS.mkdir(parents=True, exist_ok=True)
    for name, data in build_corpus().items():
        (CORPUS / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
