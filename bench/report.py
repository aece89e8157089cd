"""The results as a Markdown table (for people) and JSON (for comparing runs)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .cases import CaseResult


def latency(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    return f"{seconds * 1000:,.1f} ms"


def rate(per_second: float | None) -> str:
    if per_second is None or math.isnan(per_second):
        return "-"
    return f"{per_second:,.0f}/s"


def cells(result: CaseResult) -> list[str]:
    """case | API median | API p99 | floor | floor median | floor p99 | ratio | target | result."""
    if result.error:
        return [result.name, "-", "-", result.floor_label or "-", "-", "-", "-",
                result.target or "-", f"**ERROR**: {result.error[:200]}"]  # fmt: skip
    api, floor = result.api or {}, result.floor or {}
    if result.kind == "latency":
        values = [latency(api.get("median")), latency(api.get("latency_p99"))]
        floor_values = [latency(floor.get("median")), latency(floor.get("latency_p99"))]
    else:
        values = [rate(api.get("median")), latency(api.get("latency_p99"))]
        floor_values = [rate(floor.get("median")), latency(floor.get("latency_p99"))]
    if not floor:
        floor_values = ["-", "-"]
    ratio = f"{result.ratio:.2f}x" if result.ratio is not None else "-"
    verdict = {True: "met", False: "**MISSED**", None: "-"}[result.met]
    return [result.name, *values, result.floor_label, *floor_values, ratio,
            result.target or "-", verdict]  # fmt: skip


def markdown(meta: dict[str, Any], results: list[CaseResult]) -> str:
    machine = meta["machine"]
    window = meta["window"]
    lines = [
        "# audit-graph benchmark",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Run {meta['started_at']} .. {meta['finished_at']}; "
        f"{machine['nproc']} CPUs ({machine['cpu_model'] or 'unknown model'}), "
        f"{machine['memory_gb']} GB, PostgreSQL {machine['postgresql_version']} "
        f"({machine['database']}), Python {machine['python']}; "
        f"load average at start {meta['load_average_start']}, at end "
        f"{meta['load_average_end']}.",
        "",
        f"Data: {meta['events']:,} events over {meta['days']} days ({meta['seeding']}). "
        f"Statistics window: {window['start']} .. {window['end']} "
        f"({window['rows']:,} rows). Server: `{meta['server_command']}`. "
        f"{meta['repeats']} repeats per case after one warm-up; throughput repeats run "
        f"{meta['duration']:g} s per side.",
        "",
        "Latency cases: median and p99 of the request latency, ratio = API median / floor "
        "median (lower is better). Throughput cases: median events/s over the repeats and "
        "p99 of the per-request latency, ratio = API / floor (higher is better).",
        "",
        "| case | API median | API p99 | floor | floor median | floor p99 | ratio | target | "
        "result |",
        "|---|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for result in results:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells(result)) + " |")
    notes = [(r.name, note) for r in results for note in r.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {name}: {note}" for name, note in notes]
    settings = ", ".join(f"{k}={v}" for k, v in machine["postgresql_settings"].items())
    code = meta["code"]
    changes = ", ".join(code["graph_changes"]) or "none"
    lines += [
        "",
        f"PostgreSQL settings (the floor's session): {settings}.",
        "",
        f"Code: commit {code['commit']}; uncommitted changes under graph/: {changes}.",
        "",
    ]
    return "\n".join(lines)


def write(out: Path, meta: dict[str, Any], results: list[CaseResult]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out / "latest.md", out / "latest.json"
    md_path.write_text(markdown(meta, results))
    document = {**meta, "cases": [asdict(result) for result in results]}
    json_path.write_text(json.dumps(json_safe(document), indent=2, default=str) + "\n")
    return md_path, json_path


def json_safe(value: Any) -> Any:
    """NaN (a side with no sample) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(child) for key, child in value.items()}
    if isinstance(value, list):
        return [json_safe(child) for child in value]
    return value
