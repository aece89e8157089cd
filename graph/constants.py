"""Defaults every layer agrees on; a leaf that imports nothing of the package."""

from __future__ import annotations

# The scopes a token may carry (SPEC 6).
SCOPES = ("read", "write", "admin")

# Rows older than this many days are deleted; 0 configured means this.
DEFAULT_RETENTION_DAYS = 90


def fnv1a_64(text: str) -> int:
    """FNV-1a, 64 bits, of the UTF-8 of `text`, read as a signed integer (Go's int64(h.Sum64()))."""
    digest = 0xCBF29CE484222325
    for byte in text.encode():
        digest = ((digest ^ byte) * 0x100000001B3) % 2**64
    return digest - 2**64 if digest >= 2**63 else digest


# The pg_try_advisory_lock key of the maintenance tick: the Go service's own,
# so that where both share a database each tick runs on one of them. Every
# replica of a deployment must use the same key.
MAINTENANCE_LOCK_NAME = "mcp-data-platform:audit_logs:maintenance"
DEFAULT_MAINTENANCE_LOCK_KEY = fnv1a_64(MAINTENANCE_LOCK_NAME)

# Monthly partitions kept ready ahead of the current month.
PARTITIONS_AHEAD = 2

# AUDIT_GRAPH_LOG_FORMAT: plain text lines, or one JSON object per line (graph/logs.py).
LOG_FORMATS = ("text", "json")
