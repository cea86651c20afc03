"""A blocking RTMP publisher over a real socket, for driving the daemon step by step.

Built on `tests.fuzz.rtmp_client.ScriptedClient` (client bytes) and `ServerOutput` (reading
the server's replies), so hostile tests can send exactly the bytes they mean.
"""

from __future__ import annotations

import socket
import time

from owncastd.ingest.rtmp import amf0
from tests.fuzz.rtmp_client import S0S1S2_SIZE, ScriptedClient, ServerOutput


class RawPublisher:
    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.client = ScriptedClient()
        self.server = ServerOutput()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, until: float = 1.0) -> bytes:
        """Read whatever arrives within `until` seconds (b"" once the server closed)."""
        self.sock.settimeout(until)
        chunks = []
        deadline = time.monotonic() + until
        try:
            while time.monotonic() < deadline:
                data = self.sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
                self.server.feed(data)
        except TimeoutError:
            pass
        return b"".join(chunks)

    def closed_by_server(self, within: float = 5.0) -> bool:
        self.sock.settimeout(within)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def handshake(self) -> None:
        self.send(self.client.c0c1())
        self.sock.settimeout(5)
        while len(self.server.handshake) < S0S1S2_SIZE:
            data = self.sock.recv(65536)
            assert data, "server closed during the handshake"
            self.server.feed(data)
        self.send(self.client.c2(bytes(self.server.handshake)))

    def publish(self, key: str, app: str = "live") -> dict[str, amf0.Value]:
        """Handshake, connect, publish; return the onStatus info object the server answered."""
        self.handshake()
        self.send(self.client.connect(app))
        self.send(self.client.publish_setup(key))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.receive(0.2)
            for command in self.server.commands():
                if command[0] == "onStatus" and isinstance(command[3], dict):
                    code = str(command[3].get("code", ""))
                    if code.startswith("NetStream.Publish"):
                        return command[3]
        raise AssertionError(f"no publish status; got {self.server.commands()}")

    def close(self) -> None:
        self.sock.close()
