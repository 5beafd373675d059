"""The ``eur-pipeline`` command: run, demo, sql, generate (docs/design.md, "Command line")."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from eur_pipeline.errors import EurError

log = logging.getLogger("eur_pipeline")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("dagster", "paramiko", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    from eur_pipeline.runner import run_pipeline

    outcome = run_pipeline(args.config)
    print(outcome.summary)
    if not outcome.success:
        print(f"eur-pipeline run: {outcome.reason}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eur_pipeline.demo.run import run_demo

    return run_demo(Path(args.dir), conversations=args.conversations, users=args.users, days=args.days)


def cmd_sql(args: argparse.Namespace) -> int:
    from eur_pipeline.config.loader import load_config
    from eur_pipeline.warehouse.connection import connect, warehouse_exists

    config = load_config(args.config)
    if not warehouse_exists(config.warehouse):
        raise EurError(f"warehouse {config.warehouse} does not exist yet: run `eur-pipeline run` first")
    con = connect(config.warehouse, read_only=True, wait_seconds=args.wait)
    try:
        cursor = con.execute(args.query)
        if cursor.description is None:
            return 0
        headers = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    write_rows(headers, rows, args.format)
    return 0


def cmd_warehouse_copy(args: argparse.Namespace) -> int:
    from eur_pipeline.config.loader import load_config
    from eur_pipeline.warehouse.copy import copy_warehouse

    source, destination = load_config(args.config), load_config(args.to)
    report = copy_warehouse(source.warehouse, destination.warehouse)
    print(f"{source.warehouse} -> {destination.warehouse}: {report.summary()}")
    return 0


def write_rows(headers: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
    elif fmt == "json":
        json.dump([dict(zip(headers, r, strict=True)) for r in rows], sys.stdout, default=str, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        cells = [[("" if v is None else str(v)) for v in r] for r in rows]
        widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for c in cells:
            print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def cmd_generate(args: argparse.Namespace) -> int:
    from eur_pipeline.demo.generate import GenerateSpec, generate

    spec = GenerateSpec(
        conversations=args.conversations,
        users=args.users,
        days=args.days,
        seed=args.seed,
        files_per_day=args.files_per_day,
        one_file=args.one_file,
    )
    paths = generate(Path(args.out_dir), spec)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} archive file(s), {total / 1e6:.1f} MB, to {args.out_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eur-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = "eur.yaml to use (default: $EUR_CONFIG, then ./eur.yaml)"

    p = sub.add_parser("run", help="collect from every source and materialize all assets once")
    p.add_argument("--config", help=config_help)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="run the whole pipeline on generated archives (embedded default)")
    p.add_argument("--dir", default="./demo", help="working folder for the demo (default ./demo)")
    p.add_argument("--conversations", type=int, default=3000)
    p.add_argument("--users", type=int, default=150)
    p.add_argument("--days", type=int, default=30)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sql", help="run a read-only query on the warehouse")
    p.add_argument("--config", help=config_help)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a busy warehouse")
    p.add_argument("query")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("warehouse", help="warehouse administration")
    wsub = p.add_subparsers(dest="action", required=True)
    w = wsub.add_parser("copy", help="copy this DuckDB-file warehouse into the (empty) warehouse of another config")
    w.add_argument("--config", help=config_help)
    w.add_argument("--to", required=True, metavar="CONFIG", help="eur.yaml whose warehouse receives the copy")
    w.set_defaults(func=cmd_warehouse_copy)

    p = sub.add_parser("generate", help="write realistic synthetic archive files")
    p.add_argument("out_dir")
    p.add_argument("--conversations", type=int, default=2000)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--files-per-day", type=int, default=4)
    p.add_argument("--one-file", action="store_true", help="write everything into a single archive")
    p.set_defaults(func=cmd_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except EurError as exc:
        print(f"eur-pipeline {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"eur-pipeline {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, not a traceback (use -v for details)
        if args.verbose:
            raise
        print(f"eur-pipeline {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def entry() -> None:
    """The ``eur-pipeline`` console script: ``main``, then exit without Python's finalization, which
    tears down the ~1,900 modules Dagster imports (~0.5 s after every command). Everything is done by
    then: data committed and connections closed; output and log handlers are flushed first."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
