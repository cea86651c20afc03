"""The TOML configuration: schema (typed frozen dataclasses), defaults, validation, pinned keys.

The schema is the dataclasses below; every field carries its documentation, so the example file,
`config init` and docs/configuration.md come from one place. Errors name the file, the line, the
dotted key and the reason: `owncastd.toml:12: server.http_port: must be at most 65535`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli_w

CONFIG_ENV = "OWNCASTD_CONFIG"
DEFAULT_FILE_NAME = "owncastd.toml"


def _f(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None) -> Any:
    """A schema field: its default, one line of documentation and an optional range."""
    meta = {"doc": doc, "min": lo, "max": hi}
    if isinstance(default, list | dict):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """[server]: where owncastd listens and keeps its files."""

    http_address: str = _f("0.0.0.0", "Address the web server (viewer page, API, HLS) listens on.")  # noqa: S104
    http_port: int = _f(8080, "Port of the web server.", lo=1, hi=65535)
    rtmp_address: str = _f("0.0.0.0", "Address the RTMP ingest listens on.")  # noqa: S104
    rtmp_port: int = _f(
        1935, "Port streamers publish to (rtmp://HOST:PORT/live/KEY).", lo=1, hi=65535
    )
    data_dir: str = _f(
        "data",
        "Directory for the database, HLS files and uploads (relative to the working directory).",
    )
    public_url: str = _f(
        "",
        "The public URL viewers use, e.g. https://live.example.org (federation and link previews need it).",
    )
    web_dir: str = _f(
        "",
        "Directory of a viewer page build to serve (index.html, embed-*.html, assets/); empty: the page shipped with owncastd.",
    )


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """[admin]: the admin API's credentials (HTTP Basic, user `admin`)."""

    password: str = _f(
        "",
        "Admin password. Empty: a random one is generated at first start, stored hashed and printed once.",
    )


@dataclass(frozen=True, slots=True)
class SocialHandle:
    """A link on the page (Owncast's SocialHandle)."""

    platform: str = _f(
        "", "Platform key as listed by /api/socialplatforms (github, mastodon, ...)."
    )
    url: str = _f("", "The link (http or https).")


@dataclass(frozen=True, slots=True)
class ExternalAction:
    """A button on the page that opens a link or shows HTML (Owncast's ExternalAction)."""

    title: str = _f("", "The button's label.")
    url: str = _f("", "Page the button opens (http or https); empty when html is set.")
    html: str = _f("", "HTML shown instead of a page (sanitised).")
    description: str = _f("", "Longer description (tooltip).")
    icon: str = _f("", "URL of an icon for the button.")
    color: str = _f("", "Button colour (CSS colour).")
    open_externally: bool = _f(False, "Open the link in a new tab instead of a modal.")


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """[instance]: what viewers see about this server (Owncast's server config)."""

    name: str = _f("New owncastd server", "Server name shown on the page and in link previews.")
    summary: str = _f(
        "This is a new live video streaming server powered by owncastd.",
        "One-paragraph description.",
    )
    stream_title: str = _f("", "Title of the current stream.")
    tags: list[str] = _f(["owncast", "streaming"], "Tags shown on the page.")
    offline_message: str = _f("", "Message shown while offline (Markdown).")
    welcome_message: str = _f("", "Chat welcome message (Markdown).")
    extra_page_content: str = _f("", "Extra page content under the player (Markdown, sanitised).")
    nsfw: bool = _f(False, "Mark the stream as not safe for work.")
    hide_viewer_count: bool = _f(False, "Hide the viewer count on the page.")
    disable_search_indexing: bool = _f(
        False, "Ask search engines not to index the page (robots.txt)."
    )
    logo: str = _f(
        "",
        "Logo image, relative to the data directory (SVG, PNG, JPEG, GIF or WebP); empty: the built-in logo.",
    )
    social_handles: list[SocialHandle] = _f(
        [], "Links shown on the page: tables with platform and url."
    )
    external_actions: list[ExternalAction] = _f([], "Buttons shown on the page.")
    custom_css: str = _f("", "CSS applied after the page's own styles (Owncast's customStyles).")
    custom_javascript: str = _f("", "JavaScript served at /customjavascript.")
    appearance_variables: dict[str, str] = _f(
        {},
        'CSS custom properties set on the page, e.g. { theme-color-background = "#20232a" }.',
    )


@dataclass(frozen=True, slots=True)
class StreamKey:
    key: str = _f("", "The secret streamers put in OBS's 'Stream Key' field.")
    comment: str = _f("", "What this key is for.")


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """[stream]: who may publish."""

    keys: list[StreamKey] = _f(
        [],
        "Stream keys pinned here; `owncastd keys add` adds more. Empty and none added: one is generated at first start.",
    )


@dataclass(frozen=True, slots=True)
class Variant:
    """One rung of the output ladder (Owncast's StreamOutputVariant)."""

    name: str = _f("", "Name shown in the quality menu.")
    video_passthrough: bool = _f(False, "Send the source video as is (no re-encode).")
    audio_passthrough: bool = _f(True, "Send the source audio as is.")
    video_bitrate: int = _f(1200, "Video bitrate in kbit/s.", lo=100, hi=100_000)
    audio_bitrate: int = _f(128, "Audio bitrate in kbit/s when audio is re-encoded.", lo=16, hi=512)
    scaled_width: int = _f(
        0,
        "Output width; 0 keeps the aspect from scaled_height (both 0: source size).",
        lo=0,
        hi=8192,
    )
    scaled_height: int = _f(
        0, "Output height; 0 keeps the aspect from scaled_width.", lo=0, hi=8192
    )
    framerate: int = _f(24, "Output frame rate.", lo=1, hi=120)
    cpu_usage_level: int = _f(
        2, "Encoder speed/quality trade-off, 0 (least CPU) to 4 (best quality).", lo=0, hi=4
    )


@dataclass(frozen=True, slots=True)
class VideoConfig:
    """[video]: latency and the output ladder."""

    latency_level: int = _f(
        2,
        "Owncast latency level 0 (lowest) to 4 (most buffering); LL-HLS parts on top.",
        lo=0,
        hi=4,
    )
    low_latency_parts: bool = _f(
        True, "Serve LL-HLS partial segments; turn off for players that cannot use them."
    )
    encoder: str = _f(
        "auto",
        "Video encoder: auto, libx264, h264_nvenc, h264_qsv, h264_vaapi, ... (`owncastd probe` lists them).",
    )
    variants: list[Variant] = _f(
        [Variant()], "The output ladder; default: one 1200 kbit/s 24 fps rung as Owncast."
    )


@dataclass(frozen=True, slots=True)
class S3Config:
    endpoint: str = _f("", "S3 endpoint URL, e.g. https://s3.eu-central-1.amazonaws.com.")
    region: str = _f("", "S3 region.")
    bucket: str = _f("", "Bucket name.")
    access_key: str = _f("", "Access key id.")
    secret: str = _f("", "Secret access key.")
    acl: str = _f("", "Canned ACL for uploaded objects (empty: bucket default).")
    path_prefix: str = _f("", "Key prefix inside the bucket.")
    serving_endpoint: str = _f(
        "", "Public base URL players fetch segments from (a CDN); empty: the endpoint."
    )
    force_path_style: bool = _f(False, "Use path-style URLs (MinIO and most self-hosted S3).")


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """[storage]: where HLS segments go."""

    backend: Literal["local", "s3"] = _f("local", "Where segments are stored: local or s3.")
    s3: S3Config = field(
        default_factory=S3Config, metadata={"doc": 'S3 settings (backend = "s3").'}
    )


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """[chat]: the chat's rules."""

    disabled: bool = _f(False, "Turn chat off.")
    join_messages: bool = _f(True, "Announce users joining and leaving.")
    established_user_mode: bool = _f(
        False, "Only users registered at least 15 minutes ago (and moderators) may chat."
    )
    forbidden_usernames: list[str] = _f(
        ["owncast", "operator", "admin", "system"],
        "Words no display name may contain (case-insensitive).",
    )
    suggested_usernames: list[str] = _f(
        [], "Names new chat users get at random; empty: a random adjective and animal."
    )
    max_message_length: int = _f(500, "Longest chat message body in characters.", lo=1, hi=100_000)
    message_retention_hours: int = _f(
        168, "Chat messages older than this are deleted; 0 keeps them forever.", lo=0, hi=876_000
    )


@dataclass(frozen=True, slots=True)
class FederationConfig:
    """[federation]: the stream's fediverse (ActivityPub) account."""

    enabled: bool = _f(False, "Publish an ActivityPub actor and notify followers when live.")
    username: str = _f("streamer", "The account name (@username@host).")
    go_live_message: str = _f("I've gone live!", "Post sent to followers when the stream starts.")
    private: bool = _f(False, "Followers must be approved.")
    show_engagement: bool = _f(True, "Show fediverse likes and boosts in chat.")
    blocked_domains: list[str] = _f([], "Domains whose servers may not follow or interact.")
    allow_private_addresses: bool = _f(
        False, "Allow fetching from loopback and private networks (testing only)."
    )


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """[logging]: how much the daemon says and how."""

    level: Literal["debug", "info", "warning", "error"] = _f("info", "Least severe level logged.")
    format: Literal["auto", "plain", "rich"] = _f(
        "auto", "auto: rich on a terminal, plain key=value lines (journald) otherwise."
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    instance: InstanceConfig = field(default_factory=InstanceConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)


class ConfigError(Exception):
    """A configuration problem, with where it is and why: `FILE:LINE: key.path: reason`."""

    def __init__(self, reason: str, *, key: str = "", file: str = "", line: int | None = None):
        self.reason, self.key, self.file, self.line = reason, key, file, line
        where = file + (f":{line}" if line is not None else "") if file else ""
        super().__init__(": ".join(part for part in (where, key, reason) if part))


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A parsed config file: the effective values it sets, and which keys it pins."""

    path: Path | None
    values: dict[str, Any]
    """The file's table, validated (nested dicts as in TOML)."""
    config: Config
    """Defaults overlaid with the file."""
    pinned: frozenset[str]
    """Leaf key paths set in the file (lists count as one leaf, e.g. `stream.keys`)."""


# --- schema walking ------------------------------------------------------------------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def is_section(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def leaf_paths(cls: type = Config, prefix: str = "") -> list[str]:
    """Every settable key path of the schema, e.g. `server.http_port`, `video.variants`."""
    paths: list[str] = []
    for name, tp in _hints(cls).items():
        path = f"{prefix}{name}"
        if is_section(tp):
            paths.extend(leaf_paths(tp, path + "."))
        else:
            paths.append(path)
    return paths


def field_of(path: str) -> tuple[Any, dataclasses.Field[Any]]:
    """The type and dataclass field of a leaf key path; KeyError for an unknown path."""
    cls: Any = Config
    parts = path.split(".")
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            raise KeyError(path)
        tp = _hints(cls)[part]
        if i == len(parts) - 1:
            return tp, fields[part]
        if not is_section(tp):
            raise KeyError(path)
        cls = tp
    raise KeyError(path)


def to_plain(value: Any) -> Any:
    """A config value as plain TOML/JSON data (dicts, lists, scalars)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin is list:
        inner = typing.get_args(tp)[0]
        plural = {str: "strings", int: "integers", bool: "booleans", float: "numbers"}
        return (
            "an array of tables"
            if is_section(inner)
            else f"an array of {plural.get(inner, str(inner))}"
        )
    if origin is dict:
        inner = _type_name(typing.get_args(tp)[1]).removeprefix("a ").removeprefix("an ")
        return f"a table of {inner}s"
    if is_section(tp):
        return "a table"
    return {str: "a string", int: "an integer", bool: "true or false", float: "a number"}.get(
        tp, str(tp)
    )


def convert(tp: Any, value: Any, path: str, meta: Mapping[str, Any] | None = None) -> Any:
    """Check `value` against the schema type `tp`; raise ConfigError(key=path) naming the reason."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(
                f"must be {_type_name(tp)}, not {json.dumps(value, default=str)}", key=path
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"must be {_type_name(tp)}", key=path)
        (inner,) = typing.get_args(tp)
        return [convert(inner, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"must be {_type_name(tp)}", key=path)
        key_tp, inner = typing.get_args(tp)
        if key_tp is not str:
            raise TypeError(f"only str keys are supported in the schema: {path}")
        return {k: convert(inner, v, f"{path}.{k}") for k, v in value.items()}
    if origin in (types.UnionType, typing.Union):
        raise TypeError(f"unions are not supported in the schema: {path}")
    if is_section(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"must be {_type_name(tp)}", key=path)
        return build(tp, value, path)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp)
    if ok is None:
        raise TypeError(f"unsupported schema type {tp!r} at {path}")
    if not ok:
        raise ConfigError(
            f"must be {_type_name(tp)}, not {json.dumps(value, default=str)}", key=path
        )
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"must be at least {meta['min']}, not {value}", key=path)
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"must be at most {meta['max']}, not {value}", key=path)
    return float(value) if tp is float else value


def build(cls: type, table: Mapping[str, Any], prefix: str = "") -> Any:
    """Build the dataclass `cls` from a TOML table, refusing unknown keys and wrong types."""
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key (known here: {known})", key=path)
        kwargs[key] = convert(hints[key], value, path, fields[key].metadata)
    obj = cls(**kwargs)
    _check_section(obj, prefix)
    return obj


def _check_section(obj: Any, prefix: str) -> None:
    """Rules across fields that one field's type cannot say."""
    if isinstance(obj, StreamKey):
        if not obj.key.strip():
            raise ConfigError("must not be empty", key=f"{prefix}.key")
        if any(c.isspace() or ord(c) < 32 or c == "/" for c in obj.key):
            raise ConfigError(
                "must not contain spaces, control characters or '/'", key=f"{prefix}.key"
            )
        if len(obj.key) > 256:
            raise ConfigError("must be at most 256 characters", key=f"{prefix}.key")
    if isinstance(obj, VideoConfig) and not obj.variants:
        raise ConfigError("must have at least one variant", key=f"{prefix}.variants")
    if isinstance(obj, StorageConfig) and obj.backend == "s3" and not obj.s3.bucket:
        raise ConfigError('is "s3" but storage.s3.bucket is not set', key=f"{prefix}.backend")
    if isinstance(obj, SocialHandle):
        if not obj.platform.strip():
            raise ConfigError("must not be empty", key=f"{prefix}.platform")
        if not _is_web_url(obj.url):
            raise ConfigError("must be an http:// or https:// URL", key=f"{prefix}.url")
    if isinstance(obj, ExternalAction):
        if not obj.title.strip():
            raise ConfigError("must not be empty", key=f"{prefix}.title")
        if obj.url and not _is_web_url(obj.url):
            raise ConfigError("must be an http:// or https:// URL", key=f"{prefix}.url")
        if not obj.url and not obj.html:
            raise ConfigError("needs a url or html", key=prefix)
    if isinstance(obj, InstanceConfig):
        _check_instance(obj, prefix)


def _is_web_url(url: str) -> bool:
    return re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url, flags=re.IGNORECASE) is not None


def _check_instance(obj: InstanceConfig, prefix: str) -> None:
    for name, value in obj.appearance_variables.items():
        # The page sets these with style.setProperty; a name or value that could end the
        # declaration or open a block is refused here already.
        if not re.fullmatch(r"(--)?[A-Za-z0-9_-]+", name):
            raise ConfigError(
                "must be a CSS custom property name (letters, digits, - and _)",
                key=f"{prefix}.appearance_variables.{name}",
            )
        if any(c in value for c in ";{}<>") or any(ord(c) < 32 for c in value):
            raise ConfigError(
                "must not contain ; { } < > or control characters",
                key=f"{prefix}.appearance_variables.{name}",
            )
    logo = obj.logo
    if logo and (logo.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", logo)):
        raise ConfigError(
            "must be a path inside the data directory (relative, without '..')",
            key=f"{prefix}.logo",
        )


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two TOML-shaped dicts; lists and scalars in `overlay` replace those in `base`."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def set_path(table: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        table = table.setdefault(part, {})
    table[parts[-1]] = value


def get_path(table: Mapping[str, Any], path: str) -> Any:
    node: Any = table
    for part in path.split("."):
        node = node[part]
    return node


def _pinned_paths(table: Mapping[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in table.items():
        path = f"{prefix}{key}"
        try:
            tp, _ = field_of(path)
        except KeyError:
            continue
        if isinstance(value, dict) and is_section(tp):
            out |= _pinned_paths(value, path + ".")
        else:
            out.add(path)
    return out


# --- files ---------------------------------------------------------------------------------


def locate_line(text: str, key_path: str) -> int | None:
    """Best-effort line number of `key_path` (e.g. `video.variants[1].framerate`) in TOML text.

    tomllib keeps no positions, so this follows table headers and keys line by line; it is
    only used to point at an error.
    """
    target = [p for p in re.split(r"\.(?![^\[]*\])", key_path) if p]
    parts: list[tuple[str, int | None]] = []
    for p in target:
        m = re.fullmatch(r"([^\[]+)(?:\[(\d+)\])?", p)
        if m:
            parts.append((m.group(1), int(m.group(2)) if m.group(2) else None))
    names = [n for n, _ in parts]
    counts: dict[str, int] = {}
    table: list[str] = []
    best: int | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"(\[\[?)\s*([^\]]+?)\s*\]\]?(\s*#.*)?", line)
        if header:
            table = [s.strip().strip('"') for s in header.group(2).split(".")]
            if header.group(1) == "[[":
                name = ".".join(table)
                counts[name] = counts.get(name, -1) + 1
            if _table_matches(table, parts, counts) and len(table) == len(names):
                return lineno
            continue
        m = re.match(r"([A-Za-z0-9_\-\".]+)\s*=", line)
        if not m:
            continue
        key = [s.strip().strip('"') for s in m.group(1).split(".")]
        full = table + key
        if _table_matches(table, parts, counts) and full[: len(names)] == names[: len(full)]:
            best = lineno
            if full[: len(names)] == names:
                return lineno
    return best


def _table_matches(
    table: list[str], parts: list[tuple[str, int | None]], counts: dict[str, int]
) -> bool:
    names = [n for n, _ in parts]
    if table != names[: len(table)]:
        return False
    for depth, (_name, index) in enumerate(parts[: len(table)]):
        if index is not None and counts.get(".".join(names[: depth + 1]), -1) != index:
            return False
    return True


def find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    """`--config FILE`, then $OWNCASTD_CONFIG, then ./owncastd.toml, else None (embedded defaults)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path(DEFAULT_FILE_NAME)
    return local if local.is_file() else None


def parse(text: str, file: str = "<config>") -> LoadedConfig:
    """Parse and validate TOML text; ConfigError carries file, line, key and reason."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        line = int(m.group(1)) if m else max(1, len(text.splitlines()))
        raise ConfigError(f"not valid TOML: {reason}", file=file, line=line) from None
    try:
        config = build(Config, table)
    except ConfigError as exc:
        raise ConfigError(
            exc.reason, key=exc.key, file=file, line=locate_line(text, exc.key)
        ) from None
    return LoadedConfig(
        path=None, values=table, config=config, pinned=frozenset(_pinned_paths(table))
    )


def load(path: Path | None) -> LoadedConfig:
    """Load a config file, or the embedded defaults when `path` is None."""
    if path is None:
        return LoadedConfig(path=None, values={}, config=Config(), pinned=frozenset())
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(path)) from None
    loaded = parse(text, str(path))
    return dataclasses.replace(loaded, path=path)


def dumps(table: Mapping[str, Any]) -> str:
    return tomli_w.dumps(dict(table))


# --- the example file ----------------------------------------------------------------------

_EXAMPLE_HEAD = """\
# owncastd configuration file.
#
# owncastd looks for it at --config FILE, then $OWNCASTD_CONFIG, then ./owncastd.toml; with no
# file it runs on these defaults. Every key below is commented out and shows its default value.
# A key you uncomment is pinned: the admin API and the CLI then refuse to change it and say that
# it is set in this file. Keys left commented can be changed at run time (stored in the database).
# Check a file with `owncastd config check FILE`; see the effective values with `config show`.
"""


def example_toml() -> str:
    """The documented example config: every key, commented out, at its default."""
    out = [_EXAMPLE_HEAD]
    for name, tp in _hints(Config).items():
        out.append("")
        out.extend(_example_section(tp, name))
    return "\n".join(out) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, list) and not any(isinstance(v, dict) for v in value):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, so it stays one commented-out line
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return tomli_w.dumps({"x": value}).strip()[len("x = ") :]


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _example_section(
    cls: type, name: str, array: bool = False, commented_header: bool = False
) -> list[str]:
    lines: list[str] = []
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    if doc and not doc.startswith(cls.__name__ + "("):
        doc = re.sub(r"^\[[\w.]+\]:\s*", "", doc)
        lines.append(f"# {doc[:1].upper()}{doc[1:]}")
    header = f"[[{name}]]" if array else f"[{name}]"
    lines.append(f"# {header}" if commented_header else header)
    nested: list[str] = []
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        doc = f.metadata.get("doc", "")
        if is_section(tp):
            nested.append("")
            nested.extend(
                _example_section(tp, f"{name}.{f.name}", commented_header=commented_header)
            )
            continue
        origin_args = typing.get_args(tp) if typing.get_origin(tp) is list else ()
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
        if origin_args and is_section(origin_args[0]):
            lines.append(f"# {doc}")
            if not default:
                lines.append(f"# {f.name} = []")
            for item in default:
                nested.append("")
                nested.extend(_example_item(origin_args[0], f"{name}.{f.name}", item))
            continue
        lines.append(f"# {doc}")
        lines.append(f"# {f.name} = {_toml_value(to_plain(default))}")
    return lines + nested


def _example_item(cls: type, name: str, item: Any) -> list[str]:
    lines = [f"# [[{name}]]"]
    for f in dataclasses.fields(cls):
        lines.append(f"#   {f.metadata.get('doc', '')}")
        lines.append(f"# {f.name} = {_toml_value(to_plain(getattr(item, f.name)))}")
    return lines


def reference_markdown() -> str:
    """The key reference for docs/configuration.md: every key, its type, default and meaning."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    tables: list[tuple[str, type]] = []
    for path in leaf_paths():
        tp, f = field_of(path)
        missing = f.default is dataclasses.MISSING
        default = f.default_factory() if missing else f.default  # type: ignore[operator]
        plain = to_plain(default)
        text = json.dumps(plain) if isinstance(plain, list | dict) else _toml_value(plain)
        value = text.replace("|", "\\|")
        kind = _type_name(tp).replace("|", "\\|")
        doc = str(f.metadata.get("doc", "")).replace("|", "\\|")
        rows.append(f"| `{path}` | {kind} | `{value}` | {doc} |")
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
        if inner is not None and is_section(inner):
            tables.append((path, inner))
    for path, cls in tables:
        rows += [
            "",
            f"Each table in `{path}`:",
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
            doc = str(f.metadata.get("doc", "")).replace("|", "\\|")
            rows.append(
                f"| `{f.name}` | {_type_name(_hints(cls)[f.name])} | `{_toml_value(default)}` | {doc} |"
            )
    return "\n".join(rows) + "\n"
