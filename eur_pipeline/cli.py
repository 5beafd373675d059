"""The ``eur-pipeline`` command: run, demo, sql, generate, mail-reports, reprocess, rebuild; search, export,
hold, purge (compliance) (docs/design.md, "Command line"; docs/privacy.md; docs/mail.md).

Exit codes: 0 done, 1 failed with a one-line reason, 2 configuration or usage error. Expected failures
print their cause once, without a traceback (``-v`` shows it)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from eur_pipeline.errors import ConfigError, EurError, UsageError, WarehouseError
from eur_pipeline.names import shown

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
    from eur_pipeline.config.loader import load_config, require_source_secrets
    from eur_pipeline.output import CollectProgress
    from eur_pipeline.pipeline.progress import watching
    from eur_pipeline.runner import run_pipeline

    require_source_secrets(load_config(args.config))  # exit 2 before anything is listed or moved

    with watching(CollectProgress()):  # a bar on a terminal, one line per source otherwise
        outcome = run_pipeline(args.config, log_level="DEBUG" if args.verbose else "WARNING")
    print(outcome.summary)
    if not outcome.success:
        print(f"eur-pipeline run: {outcome.reason}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eur_pipeline.demo.run import run_demo
    from eur_pipeline.output import CollectProgress
    from eur_pipeline.pipeline.progress import watching

    with watching(CollectProgress()):
        return run_demo(Path(args.dir), conversations=args.conversations, users=args.users, days=args.days)


def _warehouse_exists(target: object) -> bool:
    from eur_pipeline.warehouse.connection import warehouse_exists

    return warehouse_exists(target)  # type: ignore[arg-type]


def cmd_sql(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from eur_pipeline.config.loader import load_config
    from eur_pipeline.output import write_rows
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
    write_rows(headers, rows, args.format, tz=None if args.utc else ZoneInfo(config.timezone))
    return 0


def cmd_warehouse_copy(args: argparse.Namespace) -> int:
    from eur_pipeline.config.loader import load_config
    from eur_pipeline.warehouse.copy import copy_warehouse

    source, destination = load_config(args.config), load_config(args.to)
    report = copy_warehouse(source.warehouse, destination.warehouse)
    print(f"{source.warehouse} -> {destination.warehouse}: {report.summary()}")
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from eur_pipeline.config.loader import load_config
    from eur_pipeline.pipeline.recovery import reprocess
    from eur_pipeline.warehouse.migrations import open_warehouse

    config = load_config(args.config)
    con = open_warehouse(config.warehouse, wait_seconds=args.wait)
    try:
        report = reprocess(con, config, file_ids=args.file_id, quarantined=args.quarantined, actor=args.actor)
    finally:
        con.close()
    for file_id, name, outcome, detail in report.files:
        print(f"{file_id}  {shown(name)}: {outcome} ({detail})")
    print(report.summary("reprocessed"))
    return 1 if report.failed else 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from eur_pipeline.config.loader import load_config
    from eur_pipeline.pipeline.recovery import rebuild

    config = load_config(args.config)
    report = rebuild(config, Path(args.into), actor=args.actor)
    for file_id, name, _, detail in report.failed:
        print(f"{file_id}  {shown(name)}: {detail}", file=sys.stderr)
    print(report.summary(f"rebuilt {args.into} from {config.landing_dir}:"))
    return 1 if report.failed else 0


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


def _period_arg(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a period YYYY-MM: {text!r}") from None


def cmd_mail_reports(args: argparse.Namespace) -> int:
    from eur_pipeline.billing.mail import MailDeliveryError, send_reports
    from eur_pipeline.config.loader import find_config_path, load_config
    from eur_pipeline.warehouse.migrations import open_warehouse

    config = load_config(args.config)
    if config.mail is None:
        raise ConfigError(f"{find_config_path(args.config)}: no mail: block (smtp_host, sender, recipients)")
    if not _warehouse_exists(config.warehouse):
        raise EurError(f"warehouse {config.warehouse} does not exist yet: run `eur-pipeline run` first")
    con = open_warehouse(config.warehouse, wait_seconds=args.wait)
    try:
        outcomes = send_reports(con, config, args.period, dry_run=args.dry_run, force=args.force)
    except MailDeliveryError as exc:
        print(f"eur-pipeline mail-reports: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    for outcome in outcomes:
        print(outcome.line())
    if not outcomes:
        print("no recipients configured (mail.recipients)")
    return 0


def _compliance_warehouse(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """(config, connection) for a compliance command: the warehouse must exist already."""
    from eur_pipeline.compliance.store import open_private_warehouse
    from eur_pipeline.config.loader import load_config

    config = load_config(args.config)
    if not _warehouse_exists(config.warehouse):
        raise EurError(f"warehouse {config.warehouse} does not exist yet: run `eur-pipeline run` first")
    return config, open_private_warehouse(config, wait_seconds=args.wait, actor=args.actor)


def cmd_search(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from eur_pipeline.compliance.dates import parse_day
    from eur_pipeline.compliance.search import COLUMNS, search
    from eur_pipeline.output import write_rows

    start, end = parse_day(args.from_date, "--from"), parse_day(args.to_date, "--to")
    config, con = _compliance_warehouse(args)
    try:
        rows = search(con, config.resolved_search_index, args.query, args.user, start, end, actor=args.actor)
    finally:
        con.close()
    write_rows(COLUMNS, rows, args.format, tz=ZoneInfo(config.timezone))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from eur_pipeline.compliance.dates import parse_day
    from eur_pipeline.compliance.export import Selection, export, validate_selection

    selection = validate_selection(
        Selection(
            thread=args.thread,
            user=args.user,
            start=parse_day(args.from_date, "--from"),
            end=parse_day(args.to_date, "--to"),
            query=args.query,
        )
    )
    config, con = _compliance_warehouse(args)
    try:
        report = export(con, selection, Path(args.out), config.resolved_search_index, actor=args.actor)
    finally:
        con.close()
    print(f"exported {report.conversations} conversation(s), {report.messages} message(s) to {report.out_dir}")
    return 0


def cmd_hold(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from eur_pipeline.compliance import holds
    from eur_pipeline.compliance.dates import parse_day
    from eur_pipeline.output import write_rows

    start = parse_day(getattr(args, "from_date", None), "--from")
    end = parse_day(getattr(args, "to_date", None), "--to")
    config, con = _compliance_warehouse(args)
    try:
        if args.hold_command == "add":
            hold = holds.add_hold(con, args.user, args.reason, start, end, actor=args.actor)
            print(f"hold {hold.hold_id} placed on {hold.user_jid} ({hold.from_date or '…'} to {hold.to_date or '…'})")
        elif args.hold_command == "release":
            hold = holds.release_hold(con, args.hold_id, actor=args.actor)
            print(f"hold {hold.hold_id} on {hold.user_jid} released")
        else:
            headers = [
                "hold_id",
                "user_jid",
                "from_date",
                "to_date",
                "reason",
                "created_at",
                "created_by",
                "released_at",
                "released_by",
            ]
            rows = [tuple(vars(h).values()) for h in holds.list_holds(con, include_released=args.all)]
            write_rows(headers, rows, args.format, tz=ZoneInfo(config.timezone))
    finally:
        con.close()
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from eur_pipeline.compliance.store import run_purge
    from eur_pipeline.config.loader import load_config

    config = load_config(args.config)
    if not _warehouse_exists(config.warehouse):
        raise EurError(f"warehouse {config.warehouse} does not exist yet: run `eur-pipeline run` first")
    report, synced = run_purge(config, wait_seconds=args.wait, actor=args.actor)
    counts = {k: v for k, v in report.counts().items() if isinstance(v, int)}
    print("purge: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; index holds {synced.documents}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _compliance_options(p: argparse.ArgumentParser, config_help: str) -> None:
    p.add_argument("--config", help=config_help)
    p.add_argument("--actor", help="who is acting, for the audit log (default: the OS user)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a busy warehouse")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eur-pipeline")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eur-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
    p.add_argument("--utc", action="store_true", help="show instants in UTC (default: the configured timezone)")
    p.add_argument("query")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("warehouse", help="warehouse administration")
    wsub = p.add_subparsers(dest="action", required=True)
    w = wsub.add_parser("copy", help="copy this DuckDB-file warehouse into the (empty) warehouse of another config")
    w.add_argument("--config", help=config_help)
    w.add_argument("--to", required=True, metavar="CONFIG", help="eur.yaml whose warehouse receives the copy")
    w.set_defaults(func=cmd_warehouse_copy)

    p = sub.add_parser("mail-reports", help="mail each mail.recipients entry its scope's report for a period")
    p.add_argument("--config", help=config_help)
    p.add_argument("--period", type=_period_arg, help="YYYY-MM (default: the previous month in `timezone`)")
    p.add_argument("--dry-run", action="store_true", help="compose and list the mails; send and record nothing")
    p.add_argument("--force", action="store_true", help="send again what was already sent for the period")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a busy warehouse")
    p.set_defaults(func=cmd_mail_reports)
    p = sub.add_parser("reprocess", help="parse collected files again from their landing backups")
    p.add_argument("--config", help=config_help)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--file-id", action="append", help="archive_files.file_id (repeatable)")
    which.add_argument("--quarantined", action="store_true", help="every quarantined file")
    p.add_argument("--actor", help="who to record in audit_log (default: the OS user)")
    p.add_argument("--wait", type=float, default=600.0, help="seconds to wait for a busy warehouse")
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser("rebuild", help="build a new warehouse from the landing backups alone")
    p.add_argument("--config", help=config_help)
    p.add_argument("--into", required=True, help="the new warehouse file (must not exist)")
    p.add_argument("--actor", help="who to record in audit_log (default: the OS user)")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("generate", help="write realistic synthetic archive files")
    p.add_argument("out_dir")
    p.add_argument("--conversations", type=int, default=2000)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--files-per-day", type=int, default=4)
    p.add_argument("--one-file", action="store_true", help="write everything into a single archive")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("search", help="audited full-text search over stored message bodies")
    _compliance_options(p, config_help)
    p.add_argument("--user", help="only messages this JID sent or received")
    p.add_argument("--from", dest="from_date", metavar="DATE", help="first UTC day (YYYY-MM-DD)")
    p.add_argument("--to", dest="to_date", metavar="DATE", help="last UTC day, inclusive")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("query", help='words (all must match) and "quoted phrases"')
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("export", help="eDiscovery export: one .eml per conversation and manifest.csv")
    _compliance_options(p, config_help)
    p.add_argument("--thread", help="one conversation, by thread id")
    p.add_argument("--user", help="a JID's conversations between --from and --to")
    p.add_argument("--from", dest="from_date", metavar="DATE")
    p.add_argument("--to", dest="to_date", metavar="DATE")
    p.add_argument("--query", help="the conversations holding this search's matches")
    p.add_argument("--out", required=True, help="new or empty folder for the export")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("hold", help="legal holds: add, list, release")
    hold = p.add_subparsers(dest="hold_command", required=True)
    h = hold.add_parser("add", help="hold a user's messages (sent or received) in a date range")
    _compliance_options(h, config_help)
    h.add_argument("--user", required=True)
    h.add_argument("--from", dest="from_date", metavar="DATE", help="first UTC day (default: no limit)")
    h.add_argument("--to", dest="to_date", metavar="DATE", help="last UTC day, inclusive (default: no limit)")
    h.add_argument("--reason", required=True)
    h = hold.add_parser("list", help="holds in force (--all: released ones too)")
    _compliance_options(h, config_help)
    h.add_argument("--all", action="store_true")
    h.add_argument("--format", choices=["table", "csv", "json"], default="table")
    h = hold.add_parser("release", help="release a hold: retention applies again to what it covered")
    _compliance_options(h, config_help)
    h.add_argument("hold_id", type=int)
    p.set_defaults(func=cmd_hold)

    p = sub.add_parser("purge", help="apply eur.yaml's retention now (also a daily Dagster schedule)")
    _compliance_options(p, config_help)
    p.set_defaults(func=cmd_purge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from eur_pipeline.compliance.at_rest import owner_only_umask

    owner_only_umask()  # everything this process writes (warehouse, landing, index, exports) is owner-only
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # the reader went away (`eur-pipeline sql ... | head`): not an error, and nothing more to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except EurError as exc:
        log.debug("details", exc_info=True)
        print(f"eur-pipeline {args.command}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError | WarehouseError | UsageError) else 1
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
