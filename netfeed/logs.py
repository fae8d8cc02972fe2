"""Log output of the ``netfeed`` command: text for a person, or JSON lines.

JSON: one object per line with ``ts`` (ISO-8601 UTC), ``level``, ``logger``,
``message``, and ``network`` / ``device`` / ``dataset`` wherever the line is
about one (:mod:`bus.logctx`), plus ``exc`` with the traceback of an
exception.  Keys never hold secrets: messages are the same as the text
format's, which never log them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from bus import logctx

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "netfeed_context", None) or logctx.current())
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class _Context(logging.Filter):
    """Captures the context where the line is emitted (a handler may format it later)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.netfeed_context = logctx.current()
        return True


def setup(level: int, fmt: str = "text") -> None:
    """Log to stderr at ``level`` in ``fmt`` (``text`` | ``json``); may be called again."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Context())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
