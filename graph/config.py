"""Configuration: environment variables (SPEC 6), overridden by command-line flags.

Every setting is parsed and checked here, once, so a bad value stops start-up
with one line naming the setting instead of failing later in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .constants import (
    DEFAULT_MAINTENANCE_LOCK_KEY,
    DEFAULT_RETENTION_DAYS,
    LOG_FORMATS,
    SCOPES,
)


class ConfigError(ValueError):
    """A setting has a value we cannot use; str() is the one line to print."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting} {problem}")
        self.setting = setting


@dataclass(frozen=True, slots=True)
class Settings:
    # Secrets stay out of repr(), so logging the settings never leaks them.
    database_url: str | None = field(default=None, repr=False)
    read_database_url: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    retention_days: int = DEFAULT_RETENTION_DAYS
    maintenance_interval: float = 86_400.0
    maintenance_lock_key: int = DEFAULT_MAINTENANCE_LOCK_KEY
    tokens: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    data_dir: Path = Path(".audit-graph")
    graphiql: bool = True
    # One log line per request costs the hot write path about a tenth of its
    # CPU; errors are logged either way, with the request id.
    access_log: bool = False
    log_format: str = "text"
    discovery_toolkit_kind: str = "datahub"
    query_toolkit_kind: str = "trino"
    pool_size: int = 10
    pool_timeout: float = 15.0
    statement_timeout: float = 30.0
    max_body_bytes: int = 8 * 1024 * 1024
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_root_fields: int = 20

    def with_overrides(self, **overrides: Any) -> Settings:
        """Apply command-line flags; None means "flag not given"."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment; raises ConfigError naming the first bad setting."""
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if value is not None and value.strip() else None

    values: dict[str, Any] = {}
    url = get("AUDIT_GRAPH_DATABASE_URL") or get("DATABASE_URL")
    if url:
        values["database_url"] = url
    if read_url := get("AUDIT_GRAPH_READ_DATABASE_URL"):
        values["read_database_url"] = read_url
    if host := get("AUDIT_GRAPH_HOST"):
        values["host"] = host
    if (port := get("AUDIT_GRAPH_PORT")) is not None:
        values["port"] = parse_int("AUDIT_GRAPH_PORT", port, 1, 65_535)
    if (workers := get("AUDIT_GRAPH_WORKERS")) is not None:
        values["workers"] = parse_int("AUDIT_GRAPH_WORKERS", workers, 1, 256)
    if (days := get("AUDIT_GRAPH_RETENTION_DAYS")) is not None:
        values["retention_days"] = (
            parse_int("AUDIT_GRAPH_RETENTION_DAYS", days, 0, 1_000_000) or DEFAULT_RETENTION_DAYS
        )
    if (interval := get("AUDIT_GRAPH_MAINTENANCE_INTERVAL")) is not None:
        values["maintenance_interval"] = parse_seconds("AUDIT_GRAPH_MAINTENANCE_INTERVAL", interval)
    if (key := get("AUDIT_GRAPH_MAINTENANCE_LOCK_KEY")) is not None:
        values["maintenance_lock_key"] = parse_int(
            "AUDIT_GRAPH_MAINTENANCE_LOCK_KEY", key, -(2**63), 2**63 - 1
        )
    if (data_dir := get("AUDIT_GRAPH_DATA_DIR")) is not None:
        values["data_dir"] = Path(data_dir)
    if (graphiql := get("AUDIT_GRAPH_GRAPHIQL")) is not None:
        values["graphiql"] = parse_bool("AUDIT_GRAPH_GRAPHIQL", graphiql)
    if (access_log := get("AUDIT_GRAPH_ACCESS_LOG")) is not None:
        values["access_log"] = parse_bool("AUDIT_GRAPH_ACCESS_LOG", access_log)
    if (log_format := get("AUDIT_GRAPH_LOG_FORMAT")) is not None:
        values["log_format"] = parse_log_format("AUDIT_GRAPH_LOG_FORMAT", log_format)
    if kind := get("AUDIT_GRAPH_DISCOVERY_TOOLKIT_KIND"):
        values["discovery_toolkit_kind"] = kind
    if kind := get("AUDIT_GRAPH_QUERY_TOOLKIT_KIND"):
        values["query_toolkit_kind"] = kind
    for setting, name, low, high in INT_LIMITS:
        if (raw := get(setting)) is not None:
            values[name] = parse_int(setting, raw, low, high)
    for setting, name in SECONDS:
        if (raw := get(setting)) is not None:
            values[name] = parse_seconds(setting, raw)
    tokens: dict[str, frozenset[str]] = {}
    if (path := get("AUDIT_GRAPH_TOKENS_FILE")) is not None:
        tokens.update(parse_tokens("AUDIT_GRAPH_TOKENS_FILE", read_secret_file(path)))
    if (spec := get("AUDIT_GRAPH_TOKENS")) is not None:
        tokens.update(parse_tokens("AUDIT_GRAPH_TOKENS", spec))
    values["tokens"] = tokens
    return Settings(**values)


# Integer settings checked the same way: (variable, Settings field, lowest, highest).
INT_LIMITS = (
    ("AUDIT_GRAPH_POOL_SIZE", "pool_size", 1, 1_000),
    ("AUDIT_GRAPH_MAX_BODY_BYTES", "max_body_bytes", 1_024, 1_073_741_824),
    ("AUDIT_GRAPH_MAX_QUERY_DEPTH", "max_query_depth", 2, 1_000),
    ("AUDIT_GRAPH_MAX_ALIASES", "max_aliases", 0, 10_000),
    ("AUDIT_GRAPH_MAX_TOKENS", "max_tokens", 10, 10_000_000),
    ("AUDIT_GRAPH_MAX_ROOT_FIELDS", "max_root_fields", 1, 1_000),
)
SECONDS = (
    ("AUDIT_GRAPH_POOL_TIMEOUT", "pool_timeout"),
    ("AUDIT_GRAPH_STATEMENT_TIMEOUT", "statement_timeout"),
)


def parse_int(setting: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(setting, f"must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(setting, f"must be between {low} and {high}, not {value}")
    return value


def parse_seconds(setting: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(setting, f"must be a number of seconds, not {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ConfigError(setting, f"must be a positive number of seconds, not {raw!r}")
    return value


def parse_bool(setting: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(setting, f"must be true or false, not {raw!r}")


def parse_log_format(setting: str, raw: str) -> str:
    if raw.lower() not in LOG_FORMATS:
        raise ConfigError(setting, f"must be one of {', '.join(LOG_FORMATS)}, not {raw!r}")
    return raw.lower()


def read_secret_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ConfigError("AUDIT_GRAPH_TOKENS_FILE", f"cannot be read ({exc.strerror})") from None


def parse_tokens(setting: str, spec: str) -> dict[str, frozenset[str]]:
    """`token:scope+scope,token:scope` (commas or newlines between entries).

    Messages never quote a token: it is a secret.
    """
    tokens: dict[str, frozenset[str]] = {}
    entries = [e.strip() for e in spec.replace("\n", ",").split(",")]
    for position, entry in enumerate((e for e in entries if e), start=1):
        token, sep, scope_list = entry.rpartition(":")
        if not sep or not token:
            raise ConfigError(
                setting,
                f"entry {position} must look like token:scope+scope (scopes: read, write, admin)",
            )
        scopes = frozenset(s.strip() for s in scope_list.split("+") if s.strip())
        unknown = sorted(scopes - set(SCOPES))
        if not scopes or unknown:
            raise ConfigError(
                setting,
                f"entry {position} has unknown scope(s) {', '.join(unknown) or '(none)'}; "
                "use read, write and admin joined by +",
            )
        tokens[token] = scopes
    return tokens
