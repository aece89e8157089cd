"""Summaries of repeated measurements, and the loops that take them.

Latency cases interleave the two sides (API, floor, floor, API, ...) so that
whatever else the shared machine is doing at a moment lands on both; the
first round of each case is a warm-up and is not counted. Throughput cases
run the sides one after the other within each repeat, for the same time.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation (PostgreSQL's percentile_cont)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Side:
    """One side of a comparison: per-repeat values, and per-request latencies if any.

    For a latency case `values` are the request latencies (s) themselves; for a
    throughput case they are events/s of each repeat and `latencies` holds the
    latency of every request of every repeat.
    """

    values: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    def add_cpu(self, spent: dict[str, float]) -> None:
        for name, seconds in spent.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds

    def cpu_per_request_us(self) -> dict[str, float]:
        """CPU microseconds per request of each process group (client, server, postgres)."""
        requests = len(self.latencies or self.values)
        if not requests:
            return {}
        return {name: seconds / requests * 1e6 for name, seconds in self.cpu.items()}

    def summary(self) -> dict[str, Any]:
        lat = self.latencies or self.values
        return {
            "cpu_per_request_us": self.cpu_per_request_us(),
            "median": statistics.median(self.values) if self.values else math.nan,
            "min": min(self.values, default=math.nan),
            "max": max(self.values, default=math.nan),
            "n": len(self.values),
            "latency_p50": percentile(lat, 0.5),
            "latency_p99": percentile(lat, 0.99),
            "requests": len(lat),
            "values": self.values,
        }


async def interleaved(
    sides: dict[str, Callable[[], Awaitable[Any]]], repeats: int, warmup: int = 1
) -> dict[str, Side]:
    """Time each side `repeats` times, alternating which goes first in each round."""
    names = list(sides)
    result = {name: Side() for name in names}
    for round_number in range(warmup + repeats):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            started = time.perf_counter()
            await sides[name]()
            elapsed = time.perf_counter() - started
            if round_number >= warmup:
                result[name].values.append(elapsed)
    return result


@dataclass
class Load:
    """What a closed-loop load of N clients for a while achieved."""

    completed: int
    elapsed: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0


Worker = Callable[[int, Callable[[], bool]], Awaitable[list[float]]]


async def closed_loop(clients: int, duration: float, worker: Worker) -> Load:
    """Run `clients` workers until `duration` has passed; each returns its latencies.

    A worker gets its number and a `running()` predicate and sends one request
    after another while it is true; the time counted runs until the last
    answer came back, so requests still in flight at the deadline count fully.
    """
    deadline = time.perf_counter() + duration

    def running() -> bool:
        return time.perf_counter() < deadline

    started = time.perf_counter()
    per_worker = await asyncio.gather(*(worker(number, running) for number in range(clients)))
    elapsed = time.perf_counter() - started
    latencies = [value for values in per_worker for value in values]
    return Load(completed=len(latencies), elapsed=elapsed, latencies=latencies)
