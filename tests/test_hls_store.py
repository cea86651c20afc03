"""The HLS store's playlist cache: rendered once per change, never stale, waiters always woken."""

from __future__ import annotations

import trio
import trio.testing

from owncastd.hls.latency import settings_for_level
from owncastd.hls.store import HLSStore, RenditionOutput
from owncastd.media.packets import AudioCodec, AudioConfig, Packet, Track, VideoCodec, VideoConfig

VIDEO = VideoConfig(VideoCodec.H264, 640, 360, b"\x01avcC", "avc1.64001e")
AUDIO = AudioConfig(AudioCodec.AAC, 48000, 2, b"\x11\x90", "mp4a.40.2")
FRAME = 3000  # 30 fps in 90 kHz ticks


def live_store(level: int = 0) -> tuple[HLSStore, RenditionOutput]:
    store = HLSStore(settings_for_level(level))
    output = RenditionOutput(store.set_ladder([("source", None)])[0])
    output.begin(VIDEO, None)
    return store, output


def feed(output: RenditionOutput, first: int, count: int, gop: int = 30, size: int = 200) -> None:
    for i in range(first, first + count):
        output.packet(Packet(Track.VIDEO, i * FRAME, i * FRAME, i % gop == 0, b"\0" * size))


def test_playlist_and_text_are_made_once_per_change() -> None:
    store, output = live_store()
    rendition = output.rendition
    feed(output, 0, 45)
    version = store.version
    text = rendition.render_bytes(skip=False)
    assert rendition.render_bytes(skip=False) is text
    assert rendition.playlist() is rendition.playlist()
    assert rendition.render(skip=False) == text.decode()
    # A frame that completes nothing changes nothing: the cache stays.
    hint = rendition.segmenter.preload_hint  # type: ignore[union-attr]
    feed(output, 45, 1)
    if rendition.segmenter.preload_hint == hint:  # type: ignore[union-attr]
        assert store.version == version and rendition.render_bytes(skip=False) is text
    # Enough frames for another part: a new version, and the new part is listed.
    feed(output, 46, 12)
    assert store.version > version
    fresh = rendition.render_bytes(skip=False)
    assert fresh != text and f'URI="{hint}"'.encode() in fresh


def test_master_follows_the_measured_bandwidth() -> None:
    store, output = live_store()
    feed(output, 0, 31)
    first = store.master()
    assert first is not None and store.master() is first
    feed(output, 31, 200, size=2000)  # the bitrate goes up tenfold
    later = store.master()
    assert later is not None and later != first
    assert "RESOLUTION=640x360" in later


def test_end_ends_the_playlist_even_with_nothing_to_flush() -> None:
    _store, output = live_store()
    feed(output, 0, 60)
    before = output.rendition.render_bytes(skip=False)
    output.end()
    output.end()  # a second end changes nothing but must not break anything
    after = output.rendition.render_bytes(skip=False)
    assert b"#EXT-X-ENDLIST" in after and b"#EXT-X-ENDLIST" not in before


async def test_end_wakes_blocked_requests_at_once(autojump_clock: trio.testing.MockClock) -> None:
    store, output = live_store()
    feed(output, 0, 60)
    rendition = output.rendition
    start = trio.current_time()
    answered: list[float] = []

    async def blocked() -> None:
        # Waiting for a part far ahead: only the end of the stream can answer it.
        assert await store.wait_until(lambda: rendition.playlist().ended, start + 100)
        answered.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked)
        await trio.sleep(1)
        output.end()
    assert answered and answered[0] - start < 2


async def test_a_reconnect_wakes_and_refreshes(autojump_clock: trio.testing.MockClock) -> None:
    _store, output = live_store()
    feed(output, 0, 60)
    output.end()
    ended = output.rendition.render_bytes(skip=False)
    output.begin(VIDEO, AUDIO)  # a new publish with a new track set
    live = output.rendition.render_bytes(skip=False)
    assert b"#EXT-X-ENDLIST" in ended and b"#EXT-X-ENDLIST" not in live
    assert b"#EXT-X-PRELOAD-HINT" in live
