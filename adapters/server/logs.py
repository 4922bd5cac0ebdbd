"""Log output of the ``tfa`` command: readable text, or one JSON object per line
(``TFA_LOG_FORMAT=json``) for every record, audit records with their fields.

A JSON line can never be split or forged by what a record holds: JSON escapes line breaks
and every other control character, tracebacks included.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, ``process``, the fields of an audit or access record, ``exception`` if
    any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,  # which worker, when several serve
        }
        for fields in ("audit", "access"):
            extra = getattr(record, fields, None)
            if isinstance(extra, dict):
                entry.update({k: v for k, v in extra.items() if v is not None})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (it may be replaced)."""

    tfa_handler = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every record of ``level`` and above to stderr in ``log_format``; called once
    by a ``tfa`` command before it works (a second call replaces the first's handler)."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        if getattr(old, "tfa_handler", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
