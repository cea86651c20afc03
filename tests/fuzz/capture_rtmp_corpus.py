"""Regenerate the RTMP seed corpus: `python -m tests.fuzz.capture_rtmp_corpus`.

Real publishers (PyAV, and the ffmpeg CLI and GStreamer when installed) publish a tiny clip to a
blocking socket server that answers with RTMPConnection; the bytes they send are split into
seeds for each target: the handshake, the chunk stream after it, the AMF0 bodies in it, and the
whole session. A few scripted sessions add what encoders rarely send (extended timestamps,
large chunk stream ids, chunk size changes, aborts).
"""

from __future__ import annotations

import array
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import av

from owncastd.ingest.rtmp import amf0
from owncastd.ingest.rtmp.chunk import ChunkReader
from owncastd.ingest.rtmp.connection import RTMPConnection
from owncastd.ingest.rtmp.errors import RemoteProtocolError
from owncastd.ingest.rtmp.events import AcceptPublish, PublishRequested
from owncastd.ingest.rtmp.messages import Message, MessageType
from tests.fuzz.rtmp_client import C0C1_SIZE, ScriptedClient
from tests.fuzz.rtmp_targets import CORPUS

HANDSHAKE_BYTES = C0C1_SIZE + 1536

PYAV_PUBLISH = """
import sys, av
with av.open(sys.argv[1]) as inp, av.open(sys.argv[2], "w", format="flv") as out:
    streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
    for packet in inp.demux():
        if packet.dts is not None:
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
"""


def tiny_clip(path: Path) -> None:
    with av.open(str(path), "w", format="flv") as out:
        video = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=22050, layout="mono")
        samples = 0
        for i in range(6):
            frame = av.VideoFrame(64, 64, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes((i * 7 + k) % 256 for k in range(plane.buffer_size)))
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
            while samples * 25 < (i + 1) * 22050:
                aframe = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                tone = (0.2 * math.sin(k / 5) for k in range(1024))
                aframe.planes[0].update(array.array("f", tone).tobytes())
                aframe.sample_rate, aframe.pts = 22050, samples
                samples += 1024
                for packet in audio.encode(aframe):
                    out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                out.mux(packet)


def capture(argv: list[str]) -> bytes:
    """Run a publisher against a one-shot server; return every byte it sent."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received = bytearray()

    def serve() -> None:
        client, _ = server.accept()
        client.settimeout(20)
        conn = RTMPConnection()
        with client:
            while True:
                try:
                    data = client.recv(65536)
                except OSError:
                    data = b""
                received.extend(data)
                conn.receive_data(data)
                try:
                    for event in conn.events():
                        if isinstance(event, PublishRequested):
                            client.sendall(conn.send(AcceptPublish()))
                    client.sendall(conn.data_to_send())
                except (RemoteProtocolError, OSError):
                    break
                if not data:
                    break

    thread = threading.Thread(target=serve)
    thread.start()
    url = f"rtmp://127.0.0.1:{port}/live/testkey"
    subprocess.run([a.replace("{url}", url) for a in argv], check=True, timeout=60)
    thread.join(timeout=30)
    server.close()
    return bytes(received)


def amf0_bodies(chunks: bytes) -> list[bytes]:
    reader = ChunkReader()
    reader.receive_data(chunks)
    bodies = []
    while (message := reader.next_message()) is not None:
        if message.type_id in (MessageType.COMMAND_AMF0, MessageType.DATA_AMF0):
            bodies.append(message.payload)
    return bodies


def scripted_sessions() -> dict[str, bytes]:
    client = ScriptedClient(digest=False)
    c2 = bytes(1536)
    head = client.c0c1() + c2 + client.connect() + client.publish_setup()
    tail = (
        client.set_chunk_size(64)
        + client.metadata({"width": 64.0, "encoder": "scripted", "list": [1.0, "x", None]})
        + client.video(0, b"\x17\x00\x00\x00\x00\x01\x64\x00\x0a")
        + client.video(0xFFFFF0, b"\x27\x01" + bytes(200))
        + client.video(0x1000010, b"\x27\x01" + bytes(200))
        + client.audio(0xFFFFFFF0, b"\xaf\x01" + bytes(100))
        + client.audio(0x10, b"\xaf\x01" + bytes(100), fmt=1)
        + client.message(Message(64, MessageType.VIDEO, 1, 40, b"\x27\x01abc"))
        + client.message(Message(320, MessageType.VIDEO, 1, 80, b"\x27\x01def"))
        + client.message(Message(2, MessageType.ABORT, 0, 0, (9).to_bytes(4, "big")))
        + client.ping_request(99)
        + client.command("FCUnpublish", 6, None, "testkey")
        + client.command("deleteStream", 7, None, 1.0)
    )
    return {"scripted_plain": head + tail}


def scripted_amf0() -> dict[str, bytes]:
    return {
        "scripted_all_types": amf0.encode(
            1.5,
            True,
            "text",
            "x" * 70_000,
            {"a": {"b": [1.0, None, amf0.UNDEFINED]}},
            amf0.ECMAArray(width=1.0),
            amf0.Date(1.7e12, 0),
        ),
    }


def main() -> None:
    sessions: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "tiny.flv"
        tiny_clip(clip)
        sessions["pyav"] = capture([sys.executable, "-c", PYAV_PUBLISH, str(clip), "{url}"])
        if ffmpeg := shutil.which("ffmpeg"):
            argv = [ffmpeg, "-loglevel", "error", "-i", str(clip), "-c", "copy", "-f", "flv"]
            sessions["ffmpeg"] = capture([*argv, "{url}"])
        if gst := shutil.which("gst-launch-1.0"):
            pipeline = (
                f"filesrc location={clip} ! flvdemux name=d d.video ! queue ! h264parse ! "
                "flvmux name=m streamable=true ! rtmp2sink location={url} "
                "d.audio ! queue ! aacparse ! m."
            )
            sessions["gstreamer"] = capture([gst, "-q", *pipeline.split()])
    sessions.update(scripted_sessions())

    seeds: dict[str, dict[str, bytes]] = {
        "handshake": {},
        "chunk": {},
        "amf0": {},
        "connection": {},
    }
    for name, data in sessions.items():
        seeds["connection"][name] = data
        seeds["handshake"][name] = data[:HANDSHAKE_BYTES]
        chunks = data[HANDSHAKE_BYTES:]
        seeds["chunk"][name] = chunks
        for i, body in enumerate(amf0_bodies(chunks)):
            seeds["amf0"][f"{name}_{i:02d}"] = body
    seeds["handshake"]["bad_version"] = b"\x06" + bytes(1536)
    seeds["amf0"].update(scripted_amf0())

    for target, files in seeds.items():
        unique: dict[bytes, str] = {}
        for name, data in files.items():  # identical seeds only slow the fuzzer down
            unique.setdefault(data, name)
        files = {name: data for data, name in unique.items()}
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.bin"):
            old.unlink()
        for name, data in files.items():
            (folder / f"{name}.bin").write_bytes(data)
        print(f"{target}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
