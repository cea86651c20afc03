"""The `owncastd` command line (click, rich output).

Commands that use the database open it directly, so they work whether or not the daemon runs
(SQLite's WAL lets both write). Known failures print one line and exit non-zero; config errors
exit 2, as `FILE:LINE: key.path: reason`.
"""

from __future__ import annotations

import dataclasses
import getpass
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
import trio
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from owncastd import __version__, credentials
from owncastd import config as cfg
from owncastd.chat import ipban, moderation
from owncastd.chat.render import plain_text
from owncastd.daemon import Daemon, Overrides, StartupError, daemon_running, load_config
from owncastd.db import DB_FILE_NAME, Database, DatabaseError
from owncastd.db.queries import chat as chat_q
from owncastd.db.queries import stream_keys as keys_q
from owncastd.logs import LEVELS
from owncastd.settings import PinnedSettingError, Settings
from owncastd.timefmt import rfc3339

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"owncastd: {message}", markup=False, soft_wrap=True)
    sys.exit(code)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Map the errors an operator causes to one line and an exit code, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except cfg.ConfigError as exc:
            fail(str(exc), 2)
        except (DatabaseError, StartupError, PinnedSettingError) as exc:
            fail(str(exc), 1)

    return wrapper


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $OWNCASTD_CONFIG, then ./owncastd.toml, else built-in defaults).",
)
data_dir_option = click.option(
    "--data-dir", type=str, default=None, help="Data directory (overrides server.data_dir)."
)


class Context:
    """The config and database a command works on."""

    def __init__(self, config_file: Path | None, data_dir: str | None) -> None:
        self.path = cfg.find_config_file(config_file)
        self.loaded = load_config(self.path, Overrides(data_dir=data_dir))
        self._db: Database | None = None

    @property
    def data_dir(self) -> Path:
        return self.loaded.config.data_path

    def db(self, *, create: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.data_dir / DB_FILE_NAME, create=create)
        return self._db

    def settings(self) -> Settings:
        return Settings(self.loaded, self.db())


def with_context(fn: Callable[..., R]) -> Callable[..., R]:
    @config_option
    @data_dir_option
    @wraps(fn)
    def wrapper(config_file: Path | None, data_dir: str | None, **kwargs: Any) -> R:
        return fn(Context(config_file, data_dir), **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="owncastd")
def main() -> None:
    """owncastd: a self-hosted live-streaming server (RTMP in, low-latency HLS out).

    Shell completion: eval "$(_OWNCASTD_COMPLETE=bash_source owncastd)" (zsh_source, fish_source).
    """


@main.command()
@config_option
@data_dir_option
@click.option(
    "--log-level", type=click.Choice(LEVELS), default=None, help="Overrides logging.level."
)
@friendly_errors
def serve(config_file: Path | None, data_dir: str | None, log_level: str | None) -> None:
    """Run the server in the foreground (systemd runs this)."""
    daemon = Daemon(
        cfg.find_config_file(config_file), Overrides(data_dir=data_dir, log_level=log_level)
    )
    sys.exit(trio.run(daemon.run))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def probe(as_json: bool) -> None:
    """Try every video encoder with a one-frame encode and say which ones work here.

    Exits 1 when no H.264 encoder works (the ladder cannot be transcoded).
    """
    from owncastd.media.probe import AUTO_ORDER, probe_all  # PyAV loads only for this command

    results = probe_all()
    auto = next((r.encoder for r in results if r.usable and r.encoder in AUTO_ORDER), None)
    if as_json:
        out.print_json(data=[dataclasses.asdict(r) for r in results])
    else:
        table = Table(title="Video encoders (one-frame trial encode)")
        for column in ("encoder", "codec", "kind", "usable", "reason"):
            table.add_column(column, overflow="fold")
        for r in results:
            table.add_row(
                r.encoder,
                r.codec,
                "hardware" if r.hardware else "software",
                "[green]yes[/]" if r.usable else "[red]no[/]",
                escape(r.reason),
            )
        out.print(table)
        out.print(f'video.encoder = "auto" picks: {auto or "nothing (no H.264 encoder works)"}')
    if auto is None:
        sys.exit(1)


# --- config --------------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Check, show and create config files."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def config_check(file: Path | None) -> None:
    """Validate a config file (default: the one serve would use)."""
    path = file or cfg.find_config_file(None)
    if path is None:
        out.print("no config file found; owncastd runs on built-in defaults")
        return
    cfg.load(path)
    out.print(f"{path}: OK", markup=False)


@config_group.command("show")
@with_context
@friendly_errors
def config_show(ctx: Context) -> None:
    """Print the effective config as TOML, each key marked with where it came from."""
    settings = ctx.settings()
    table: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, value, source in settings.annotated():
        cfg.set_path(table, key, value)
        sources[key] = source
    text = cfg.dumps(table)
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
        key = stripped.split("=", 1)[0].strip() if "=" in stripped else ""
        path = f"{section}.{key}" if section else key
        if key and path in sources:
            line = f"{line}  # {sources[path]}"
        click.echo(line)


@config_group.command("init")
@click.argument(
    "path",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(cfg.DEFAULT_FILE_NAME),
)
@friendly_errors
def config_init(path: Path) -> None:
    """Write a starter config file with every key documented (never overwrites)."""
    try:
        with path.open("x", encoding="utf-8") as f:
            f.write(cfg.example_toml())
    except FileExistsError:
        fail(f"{path}: already exists; not overwritten")
    except OSError as exc:
        fail(f"{path}: cannot write: {exc.strerror}")
    out.print(f"wrote {path}", markup=False)


# --- admin ---------------------------------------------------------------------------------


@main.group()
def admin() -> None:
    """Admin credentials."""


@admin.command("set-password")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@with_context
@friendly_errors
def admin_set_password(ctx: Context, password_stdin: bool) -> None:
    """Set a new admin password (stored hashed)."""
    if "admin.password" in ctx.loaded.pinned:
        fail(f"admin.password is set in {ctx.path}; change it there")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("Again: ") != password:
            fail("the passwords differ; nothing changed")
    if len(password) < 8:
        fail("the password must be at least 8 characters; nothing changed")
    credentials.set_admin_password(ctx.db(), password)
    out.print("admin password changed (a running daemon uses it from the next request)")


@admin.command("show-credentials")
@with_context
@friendly_errors
def admin_show_credentials(ctx: Context) -> None:
    """Print the admin user and the stream keys."""
    config = ctx.settings().current
    out.print("Admin user:  admin")
    if config.admin.password:
        out.print(f"Password:    set in {ctx.path}", markup=False)
    else:
        out.print("Password:    stored hashed; `owncastd admin set-password` sets a new one")
    for key, comment, pinned in credentials.all_stream_keys(config, ctx.db()):
        where = "config file" if pinned else "database"
        out.print(f"Stream key:  {key}   ({comment or 'no comment'}; {where})", markup=False)
    out.print(f"OBS server:  rtmp://<this host>:{config.server.rtmp_port}/live", markup=False)


# --- keys ----------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Stream keys."""


@keys.command("list")
@with_context
@friendly_errors
def keys_list(ctx: Context) -> None:
    """List every valid stream key."""
    table = Table("key", "comment", "source")
    for key, comment, pinned in credentials.all_stream_keys(ctx.loaded.config, ctx.db()):
        table.add_row(key, comment, f"config file ({ctx.path})" if pinned else "database")
    out.print(table)


@keys.command("add")
@click.argument("key", required=False)
@click.option("--comment", default="", help="What the key is for.")
@with_context
@friendly_errors
def keys_add(ctx: Context, key: str | None, comment: str) -> None:
    """Add a stream key (a random one if KEY is omitted)."""
    key = key or credentials.new_secret(18)
    try:
        cfg.build(cfg.StreamKey, {"key": key, "comment": comment}, "key")
    except cfg.ConfigError as exc:
        fail(f"{key!r}: {exc.reason}")
    if any(k.key == key for k in ctx.loaded.config.stream.keys):
        fail(f"{key}: already set in {ctx.path}")
    if not keys_q.add_key(ctx.db(), key, comment):
        fail(f"{key}: already exists")
    out.print(f"added stream key {key}", markup=False)


@keys.command("remove")
@click.argument("key")
@with_context
@friendly_errors
def keys_remove(ctx: Context, key: str) -> None:
    """Remove a stream key."""
    if any(k.key == key for k in ctx.loaded.config.stream.keys):
        fail(f"{key}: is set in {ctx.path}; remove it there")
    if not keys_q.remove_key(ctx.db(), key):
        fail(f"{key}: no such stream key")
    out.print(f"removed stream key {key}", markup=False)


# --- backup and db -------------------------------------------------------------------------


@main.group()
def backup() -> None:
    """Database backups."""


@backup.command("create")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@with_context
@friendly_errors
def backup_create(ctx: Context, path: Path | None) -> None:
    """Write a consistent copy of the database (works while the daemon runs)."""
    path = path or ctx.data_dir / "backup" / time.strftime("owncastd-%Y%m%d-%H%M%S.db")
    try:
        ctx.db(create=False).backup_to(path)
    except OSError as exc:
        fail(f"{path}: cannot write the backup: {exc.strerror}")
    out.print(f"backup written to {path}", markup=False)


@backup.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_context
@friendly_errors
def backup_restore(ctx: Context, path: Path) -> None:
    """Replace the database with a backup (the daemon must be stopped)."""
    pid = daemon_running(ctx.data_dir)
    if pid is not None:
        fail(
            f"owncastd is running on {ctx.data_dir} (pid {pid}); stop it first, nothing was changed"
        )
    if not path.is_file():
        fail(f"{path}: no such backup file")
    ctx.db().restore_from(path)
    out.print(f"restored {ctx.data_dir / DB_FILE_NAME} from {path}", markup=False)


@main.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("migrate")
@with_context
@friendly_errors
def db_migrate(ctx: Context) -> None:
    """Apply pending schema migrations (serve does this too)."""
    db = ctx.db()  # opening migrates
    out.print(f"schema version {db.schema_version()}")


# --- chat ----------------------------------------------------------------------------------


@main.group()
def chat() -> None:
    """Chat history and moderation (works with or without the daemon running; a running
    daemon applies bans and moderator changes made here within a few seconds)."""


def _chat_user(db: Database, ref: str) -> chat_q.UserRow:
    """The one user `ref` names: a user id, or a unique (part of a) display name."""
    exact = chat_q.user_by_id(db, ref)
    if exact is not None:
        return exact
    found = chat_q.find_users(db, ref)
    named = [u for u in found if u.display_name.casefold() == ref.casefold()] or found
    if not named:
        fail(f"{ref}: no such chat user (give a user id or a display name)")
    if len(named) > 1:
        listed = ", ".join(f"{u.display_name} ({u.id})" for u in named[:10])
        fail(f"{ref}: several users match: {listed}; give the user id")
    return named[0]


@chat.command("history")
@click.option("--limit", default=50, show_default=True, help="How many messages.")
@click.option("--all", "include_hidden", is_flag=True, help="Include hidden messages.")
@with_context
@friendly_errors
def chat_history(ctx: Context, limit: int, include_hidden: bool) -> None:
    """Print the newest chat messages."""
    db = ctx.db(create=False)
    limit = max(1, min(limit, 10_000))
    rows = chat_q.all_messages(db, limit) if include_hidden else chat_q.visible_history(db, limit)
    users = chat_q.users_by_ids(db, {r.user_id for r in rows if r.user_id})
    table = Table("time", "id", "from", "message")
    for row in rows:
        author = users.get(row.user_id or "")
        name = author.display_name if author else row.event_type
        if row.hidden_at is not None:
            name += " (hidden)"
        table.add_row(rfc3339(row.timestamp), row.id, name, plain_text(row.body))
    out.print(table)


@chat.command("ban")
@click.argument("user")
@with_context
@friendly_errors
def chat_ban(ctx: Context, user: str) -> None:
    """Disable a chat user (by id or name) and hide their messages."""
    db = ctx.db(create=False)
    target = _chat_user(db, user)
    result = moderation.disable_user(db, target.id, time.time())
    assert result is not None
    out.print(
        f"disabled {target.display_name} ({target.id}); {len(result.hidden_ids)} messages hidden",
        markup=False,
    )


@chat.command("unban")
@click.argument("user")
@with_context
@friendly_errors
def chat_unban(ctx: Context, user: str) -> None:
    """Enable a disabled chat user again (their hidden messages stay hidden)."""
    db = ctx.db(create=False)
    target = _chat_user(db, user)
    moderation.enable_user(db, target.id)
    out.print(f"enabled {target.display_name} ({target.id})", markup=False)


@chat.command("moderator")
@click.argument("user")
@click.option("--remove", is_flag=True, help="Take the moderator role away.")
@with_context
@friendly_errors
def chat_moderator(ctx: Context, user: str, remove: bool) -> None:
    """Make a chat user a moderator (or not, with --remove)."""
    db = ctx.db(create=False)
    target = _chat_user(db, user)
    moderation.set_moderator(db, target.id, not remove)
    state = "no longer a moderator" if remove else "a moderator"
    out.print(f"{target.display_name} ({target.id}) is {state}", markup=False)


@chat.group("ipban")
def chat_ipban() -> None:
    """IP bans (addresses or networks, IPv4 and IPv6)."""


@chat_ipban.command("list")
@with_context
@friendly_errors
def chat_ipban_list(ctx: Context) -> None:
    """List banned addresses and networks."""
    table = Table("address", "notes", "since")
    for row in chat_q.ip_bans(ctx.db(create=False)):
        table.add_row(row.ip_address, row.notes, rfc3339(row.created_at))
    out.print(table)


@chat_ipban.command("add")
@click.argument("value")
@click.option("--notes", default="added with the CLI", help="Why.")
@with_context
@friendly_errors
def chat_ipban_add(ctx: Context, value: str, notes: str) -> None:
    """Ban an address (192.0.2.7, 2001:db8::7) or a network (2001:db8::/64)."""
    try:
        canonical, added = moderation.ban_ip(ctx.db(create=False), value, notes, time.time())
    except ipban.InvalidBan as exc:
        fail(str(exc))
    out.print(f"banned {canonical}" if added else f"{canonical} was banned already", markup=False)


@chat_ipban.command("remove")
@click.argument("value")
@with_context
@friendly_errors
def chat_ipban_remove(ctx: Context, value: str) -> None:
    """Lift a ban."""
    canonical, removed = moderation.unban_ip(ctx.db(create=False), value)
    if not removed:
        fail(f"{canonical}: not banned")
    out.print(f"unbanned {canonical}", markup=False)
