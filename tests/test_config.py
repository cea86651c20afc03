"""The TOML config: the example file, the search order, and each kind of error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from owncastd import config as cfg
from tests.daemon import run_cli

ROOT = Path(__file__).resolve().parent.parent
KEY_LINE = re.compile(r"^# ((?:[A-Za-z_]\w* = .*)|(?:\[.*\]))$")


def uncomment(text: str) -> str:
    return "\n".join(KEY_LINE.sub(r"\1", line) for line in text.splitlines())


def test_example_file_is_current_and_loads_to_defaults() -> None:
    text = (ROOT / "owncastd.toml.example").read_text(encoding="utf-8")
    assert text == cfg.example_toml(), "run `make regen` to rewrite owncastd.toml.example"
    assert cfg.parse(text).config == cfg.Config()


def test_every_documented_value_is_the_real_default() -> None:
    """Uncommenting every key of the example pins every key, and still gives the defaults."""
    loaded = cfg.parse(uncomment(cfg.example_toml()))
    assert loaded.config == cfg.Config()
    assert loaded.pinned == frozenset(cfg.leaf_paths())


def test_every_key_has_documentation() -> None:
    for path in cfg.leaf_paths():
        _, f = cfg.field_of(path)
        assert f.metadata.get("doc"), path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[server]\nhttp_port = 70000\n",
            "f.toml:2: server.http_port: must be at most 65535, not 70000",
        ),
        ("[server]\nhttp_port = 0\n", "f.toml:2: server.http_port: must be at least 1, not 0"),
        (
            '\n[server]\nhttp_port = "80"\n',
            'f.toml:3: server.http_port: must be an integer, not "80"',
        ),
        ("[server]\nhttp_prt = 1\n", "f.toml:2: server.http_prt: unknown key"),
        ("[srv]\nx = 1\n", "f.toml:1: srv: unknown key"),
        (
            '[storage]\nbackend = "ftp"\n',
            'f.toml:2: storage.backend: must be one of "local", "s3", not "ftp"',
        ),
        ("[video]\nlatency_level = 9\n", "f.toml:2: video.latency_level: must be at most 4, not 9"),
        (
            "[[video.variants]]\nname = 'a'\n[[video.variants]]\nframerate = 'x'\n",
            "f.toml:4: video.variants[1].framerate: must be an integer",
        ),
        (
            '[stream]\nkeys = [{ key = "a b" }]\n',
            "f.toml:2: stream.keys[0].key: must not contain spaces",
        ),
        (
            '[storage]\nbackend = "s3"\n',
            'f.toml:2: storage.backend: is "s3" but storage.s3.bucket is not set',
        ),
        ("[server]\nhttp_port = [\n", "f.toml:2: not valid TOML"),
        ("a = 1\nb = = 2\n", "f.toml:2: not valid TOML"),
    ],
)
def test_errors_name_file_line_key_and_reason(text: str, expected: str) -> None:
    with pytest.raises(cfg.ConfigError) as info:
        cfg.parse(text, "f.toml")
    assert str(info.value).startswith(expected)


def test_check_command_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[server]\nhttp_port = 8081\n")
    result = run_cli("config", "check", str(good), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nhttp_port = 8081\nbogus = true\n")
    result = run_cli("config", "check", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"owncastd: {bad}:3: server.bogus: unknown key (known here: data_dir, http_address, http_port, public_url, rtmp_address, rtmp_port, web_dir)"
    )
    assert "Traceback" not in result.stderr

    result = run_cli("config", "check", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "missing.toml: no such file" in result.stderr


def test_serve_with_a_bad_file_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\nhttp_port = "eighty"\n')
    result = run_cli("serve", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f'owncastd: {bad}:3: server.http_port: must be an integer, not "eighty"'
    )
    assert not (tmp_path / "data").exists()


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(cfg.CONFIG_ENV, raising=False)
    assert cfg.find_config_file(None) is None
    (tmp_path / "owncastd.toml").write_text("")
    assert cfg.find_config_file(None) == Path("owncastd.toml")
    monkeypatch.setenv(cfg.CONFIG_ENV, "/etc/env.toml")
    assert cfg.find_config_file(None) == Path("/etc/env.toml")
    assert cfg.find_config_file("explicit.toml") == Path("explicit.toml")


def test_config_init_writes_the_example_and_never_overwrites(tmp_path: Path) -> None:
    result = run_cli("config", "init", "new.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new.toml").read_text() == cfg.example_toml()
    (tmp_path / "new.toml").write_text("# mine\n")
    result = run_cli("config", "init", "new.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists; not overwritten" in result.stderr
    assert (tmp_path / "new.toml").read_text() == "# mine\n"


def test_configuration_doc_lists_every_key() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    start, end = "<!-- keys:start -->\n", "<!-- keys:end -->"
    section = text[text.index(start) + len(start) : text.index(end)]
    assert section == cfg.reference_markdown(), "run `make regen` to rewrite the key table"
