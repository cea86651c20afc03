"""`owncastd serve`: pre-flight checks, then the root nursery that starts every service.

Everything that can fail because of the operator's set-up (config, data dir, a second daemon,
the database, ports) is checked before any service starts, and fails with one line naming the
cause. Then each service is started with `nursery.start`, so READY=1 means really ready.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from owncastd import __version__, credentials, logs, systemd
from owncastd import config as cfg
from owncastd.broadcast import Broadcast, Broadcaster
from owncastd.chat.hub import ChatHub
from owncastd.chat.protocol import MAX_SOCKET_PAYLOAD_SIZE
from owncastd.db import DB_FILE_NAME, Database
from owncastd.events import ConfigReloaded, EventBus
from owncastd.hls.latency import settings_for_level
from owncastd.hls.store import HLSStore, RenditionOutput
from owncastd.ingest.server import IngestServer
from owncastd.media.encoder import EncoderService
from owncastd.media.ladder import Ladder
from owncastd.media.probe import EncoderUnavailable, choose_encoder
from owncastd.media.thumbnails import ThumbnailService
from owncastd.services import Services
from owncastd.settings import Settings, replace_data_dir
from owncastd.storage.base import StorageWriter
from owncastd.storage.local import LocalStorage
from owncastd.viewers import ViewerService
from owncastd.webserver import fasthls
from owncastd.webserver.app import create_app

log = logs.get_logger("owncastd.daemon")

SHUTDOWN_SECONDS = 5.0
LOCK_FILE_NAME = "owncastd.pid"


class StartupError(Exception):
    """The daemon cannot start; the message names the cause."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line values that win over the file."""

    data_dir: str | None = None
    log_level: str | None = None


def load_config(path: Path | None, overrides: Overrides) -> cfg.LoadedConfig:
    loaded = cfg.load(path)
    if overrides.data_dir:
        loaded = replace_data_dir(loaded, overrides.data_dir)
    return loaded


class DataDirLock:
    """An exclusive lock on the data dir, so two daemons (or a restore) never share it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            f.close()
            raise StartupError(
                f"{self.path.parent}: another owncastd (pid {pid}) is using this data directory"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def daemon_running(data_dir: Path) -> int | None:
    """The pid of a daemon holding `data_dir`, or None."""
    path = data_dir / LOCK_FILE_NAME
    if not path.exists():
        return None
    with path.open("r", encoding="utf-8") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = f.read().strip()
            return int(text) if text.isdigit() else -1
    return None


def prepare_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StartupError(
            f"{path}: the data directory is not writable: {reason} (server.data_dir)"
        ) from None


def bind(address: str, port: int, key: str) -> socket.socket:
    """Bind a listening TCP socket now, so a taken port fails before anything starts."""
    try:
        infos = socket.getaddrinfo(
            address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {address}:{port} ({key}): {exc.strerror}") from None
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise StartupError(f"cannot listen on {address}:{port} ({key}): {reason}") from None
    return sock


def _url_host(address: str) -> str:
    if address in ("", "0.0.0.0", "::"):  # noqa: S104
        return "localhost"
    return f"[{address}]" if ":" in address else address


def banner(
    config: cfg.Config, first: credentials.FirstStart, keys: list[str], show_keys: bool
) -> str:
    host = _url_host(config.server.http_address)
    rtmp_host = _url_host(config.server.rtmp_address)
    viewer = config.server.public_url or f"http://{host}:{config.server.http_port}/"
    lines = [
        f"owncastd {__version__} is serving",
        f"  Viewer page:   {viewer}",
        f"  OBS server:    rtmp://{rtmp_host}:{config.server.rtmp_port}/live",
    ]
    if first.stream_key:
        lines.append(f"  Stream key:    {first.stream_key}   (generated now)")
    elif show_keys:
        lines += [f"  Stream key:    {k}" for k in keys]
    else:
        lines.append("  Stream key:    `owncastd admin show-credentials` prints it")
    if first.admin_password:
        lines.append(
            f"  Admin:         user admin, password {first.admin_password}   (generated now; shown once)"
        )
    elif config.admin.password:
        lines.append("  Admin:         user admin, password as set in the config file")
    else:
        lines.append(
            "  Admin:         user admin; `owncastd admin set-password` sets a new password"
        )
    return "\n".join(lines)


def build_hls(config: cfg.Config, broadcaster: Broadcaster) -> HLSStore:
    """The HLS renditions, their storage, and the broadcaster output that feeds them."""
    latency = settings_for_level(
        config.video.latency_level, parts_enabled=config.video.low_latency_parts
    )
    writer = StorageWriter(LocalStorage(config.data_path / "hls"))
    store = HLSStore(latency, writer)
    # One rendition per `[[video.variants]]`, in config order: the index /api/video/variants
    # reports. Passthrough rungs take the source's packets; the encoder feeds the others.
    ladder = Ladder.from_config(config.video)
    renditions = store.set_ladder([(r.name, r.nominal_bandwidth) for r in ladder.rungs])
    for rung in ladder.passthrough:
        broadcaster.add_output_factory(_fixed_output(RenditionOutput(renditions[rung.index])))
    return store


def _fixed_output(output: RenditionOutput) -> Callable[[Broadcast], RenditionOutput]:
    """An output factory that gives every broadcast the same rendition."""
    return lambda _broadcast: output


def video_encoder(config: cfg.Config) -> str | None:
    """The encoder for the transcoded rungs (probed now), or None when every rung passes the
    source through; a named encoder that does not work here stops the start."""
    if not Ladder.from_config(config.video).transcoded:
        return None
    try:
        choice = choose_encoder(config.video.encoder)
    except EncoderUnavailable as exc:
        raise StartupError(str(exc)) from None
    log.info("video encoder chosen", encoder=choice.encoder, why=choice.reason)
    return choice.encoder


def build_encoder(
    config: cfg.Config, store: HLSStore, encoder: str | None
) -> EncoderService | None:
    """The supervisor of the transcoding worker, when some rung transcodes."""
    if encoder is None:
        return None
    return EncoderService(
        Ladder.from_config(config.video),
        store.renditions,
        encoder,
        store.latency.segment_seconds,
        preview_dir=config.data_path.resolve(),
    )


class Daemon:
    def __init__(self, config_path: Path | None, overrides: Overrides) -> None:
        self.config_path = config_path
        self.overrides = overrides
        self.shutdown = trio.Event()
        self.encoder: EncoderService | None = None

    def preflight(
        self,
    ) -> tuple[Services, DataDirLock, socket.socket, socket.socket, credentials.FirstStart]:
        loaded = load_config(self.config_path, self.overrides)
        config = loaded.config
        logs.setup(self.overrides.log_level or config.logging.level, config.logging.format)
        data_dir = config.data_path
        prepare_data_dir(data_dir)
        lock = DataDirLock(data_dir)
        lock.acquire()
        try:
            db = Database(data_dir / DB_FILE_NAME)
            settings = Settings(loaded, db)
            first = credentials.ensure_credentials(settings.current, db)
            config = settings.current
            http = bind(config.server.http_address, config.server.http_port, "server.http_port")
            try:
                rtmp = bind(config.server.rtmp_address, config.server.rtmp_port, "server.rtmp_port")
            except StartupError:
                http.close()
                raise
            try:  # after the ports, so a port in use is reported before a probe ran
                encoder = video_encoder(config)
            except StartupError:
                http.close()
                rtmp.close()
                raise
        except BaseException:
            lock.release()
            raise
        bus = EventBus()
        broadcaster = Broadcaster(db, bus)
        services = Services(
            settings=settings,
            db=db,
            bus=bus,
            broadcaster=broadcaster,
            viewers=ViewerService(db, bus),
            hls=build_hls(settings.current, broadcaster),
            chat=ChatHub(db, bus, settings, broadcaster),
        )
        self.encoder = build_encoder(settings.current, services.hls, encoder)
        return services, lock, http, rtmp, first

    async def run(self) -> int:
        services, lock, http_sock, rtmp_sock, first = self.preflight()
        try:
            config = services.settings.current
            keys = [k for k, _, _ in credentials.all_stream_keys(config, services.db)]
            text = banner(config, first, keys, show_keys=sys.stdout.isatty())
            print(text, flush=True)
            if first.admin_password or first.stream_key:
                log.warning("generated credentials at first start; they are printed once above")
            async with trio.open_nursery() as nursery:
                await nursery.start(self._signals, services)
                await nursery.start(systemd.watchdog)
                await nursery.start(services.viewers.run)
                if self.encoder is not None:
                    # Its worker writes the thumbnail and preview.gif from the pictures it decodes.
                    services.broadcaster.add_output_factory(self.encoder.output_for)
                    await nursery.start(self.encoder.run)
                else:
                    thumbnails = ThumbnailService(config.data_path)
                    services.broadcaster.add_output_factory(thumbnails.output_for)
                    await nursery.start(thumbnails.run)
                if services.hls.writer is not None:
                    await nursery.start(services.hls.writer.run)
                await nursery.start(services.chat.run)
                await nursery.start(IngestServer(services, rtmp_sock).run)
                await nursery.start(self._web, services, http_sock)
                systemd.ready()
                log.info(
                    "ready",
                    http=f"{config.server.http_address}:{config.server.http_port}",
                    rtmp=f"{config.server.rtmp_address}:{config.server.rtmp_port}",
                    data_dir=config.server.data_dir,
                    version=__version__,
                )
                await self.shutdown.wait()
                systemd.stopping()
                log.info("shutting down")
                nursery.cancel_scope.deadline = trio.current_time() + SHUTDOWN_SECONDS
                await self._web_done.wait()
                nursery.cancel_scope.cancel()
        finally:
            rtmp_sock.close()
            services.db.close()
            lock.release()
        log.info("stopped")
        return 0

    async def _web(
        self,
        services: Services,
        sock: socket.socket,
        *,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self._web_done = trio.Event()
        hc = HypercornConfig()
        hc.bind = [f"fd://{sock.detach()}"]
        hc.graceful_timeout = SHUTDOWN_SECONDS - 1
        hc.accesslog = None
        hc.errorlog = logging.getLogger("hypercorn.error")
        hc.include_server_header = False
        # Chat: a frame over twice the payload limit closes the socket (as Owncast does).
        hc.websocket_max_message_size = 2 * MAX_SOCKET_PAYLOAD_SIZE
        app = create_app(services)
        # hypercorn builds connections with its module-global TCPServer: ours answers HLS itself.
        fasthls.install()  # raises if hypercorn's layout changed
        try:
            await hypercorn_serve(
                app, hc, shutdown_trigger=self.shutdown.wait, task_status=task_status
            )
        finally:
            self._web_done.set()

    async def _signals(
        self, services: Services, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    self.reload(services)
                else:
                    log.info("signal received", signal=signal.Signals(signum).name)
                    self.shutdown.set()

    def reload(self, services: Services) -> None:
        systemd.reloading()
        try:
            loaded = load_config(self.config_path, self.overrides)
        except cfg.ConfigError as exc:
            log.error("config reload failed; keeping the running config", error=str(exc))
            systemd.ready()
            return
        old = services.settings.current
        new = services.settings.reload(loaded)
        logs.setup(self.overrides.log_level or new.logging.level, new.logging.format)
        for key in ("http_address", "http_port", "rtmp_address", "rtmp_port", "data_dir"):
            if getattr(old.server, key) != getattr(new.server, key):
                log.warning("setting needs a restart to apply", key=f"server.{key}")
        for key in ("variants", "encoder", "latency_level"):  # the ladder is built at start
            if getattr(old.video, key) != getattr(new.video, key):
                log.warning("setting needs a restart to apply", key=f"video.{key}")
        services.bus.publish(ConfigReloaded())
        log.info("config reloaded", file=str(self.config_path or "(defaults)"), at=time.time())
        systemd.ready()
