"""Logging: one line per event with key=value context; rich on a terminal, plain otherwise.

Plain lines carry a syslog priority prefix (`<6>`) when stderr is the journal, so journald keeps
the level; elsewhere they start with a timestamp. Named `logs` so it never shadows stdlib logging.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

LEVELS = ("debug", "info", "warning", "error")
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def format_context(ctx: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_quote(v)}" for k, v in ctx.items())


class EventLogger(logging.LoggerAdapter[logging.Logger]):
    """`log.info("stream started", key="...", remote="1.2.3.4")` -> `stream started key=... remote=...`."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        reserved = {"exc_info", "stack_info", "stacklevel", "extra"}
        ctx = {k: kwargs.pop(k) for k in list(kwargs) if k not in reserved}
        if ctx:
            kwargs.setdefault("extra", {})["ctx"] = ctx
        return msg, kwargs


def get_logger(name: str) -> EventLogger:
    return EventLogger(logging.getLogger(name), {})


class PlainFormatter(logging.Formatter):
    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        ctx = getattr(record, "ctx", None)
        text = record.getMessage()
        if ctx:
            text += " " + format_context(ctx)
        if record.exc_info:
            text += " exc=" + _quote(self.formatException(record.exc_info))
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{record.name}: {text}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        return f"{stamp} {record.levelname.lower():7} {record.name}: {text}"


def setup(level: str = "info", fmt: Literal["auto", "plain", "rich"] = "auto") -> None:
    """Configure the root logger; safe to call again (SIGHUP changes the level)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    use_rich = fmt == "rich" or (fmt == "auto" and sys.stderr.isatty())
    handler: logging.Handler
    if use_rich:
        from rich.highlighter import NullHighlighter
        from rich.logging import RichHandler

        class _RichContext(RichHandler):
            def emit(self, record: logging.LogRecord) -> None:
                ctx = getattr(record, "ctx", None)
                if ctx:
                    record.msg = f"{record.getMessage()}  {format_context(ctx)}"
                    record.args = None
                super().emit(record)

        handler = _RichContext(
            show_path=False, markup=False, rich_tracebacks=False, highlighter=NullHighlighter()
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PlainFormatter(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Library chatter below warning adds nothing an operator acts on.
    for noisy in (
        "hypercorn.access",
        "hypercorn.error",
        "quart.app",
        "quart.serving",
        "botocore",
        "aiobotocore",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
