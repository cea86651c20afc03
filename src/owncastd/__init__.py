"""owncastd: a self-hosted live-streaming server (RTMP in, LL-HLS out), Owncast-compatible."""

__version__ = "0.1.0"
