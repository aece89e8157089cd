"""What every resolver receives: the store and who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.store import Store


@dataclass(slots=True)
class Context:
    store: Store
    request_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)
