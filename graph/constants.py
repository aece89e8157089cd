"""Defaults every layer agrees on; a leaf that imports nothing of the package."""

from __future__ import annotations

# The scopes a token may carry (SPEC 6).
SCOPES = ("read", "write", "admin")

# Rows older than this many days are deleted; 0 configured means this.
DEFAULT_RETENTION_DAYS = 90

# "audit_mt" in ASCII: the pg_try_advisory_lock key of the maintenance tick.
# Every replica must use the same key; it only has to differ from other
# applications' advisory locks in the same database (migrations use "audit_mg").
DEFAULT_MAINTENANCE_LOCK_KEY = 0x61756469745F6D74

# Monthly partitions kept ready ahead of the current month.
PARTITIONS_AHEAD = 2
