"""What every resolver receives: the store and who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graph.store import Store


@dataclass(slots=True)
class Context:
    """`scopes` is None for a caller without a valid token (a websocket may still send one)."""

    store: Store
    request_id: str
    scopes: frozenset[str] | None
    connection_params: Any = None  # a websocket's connection_init payload
