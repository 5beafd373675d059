"""``eur-pipeline demo``: a generated month of archives on an embedded SFTP server → the whole pipeline."""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import yaml

from eur_pipeline.billing.reports.pdf import find_chromium
from eur_pipeline.demo.generate import GenerateSpec, generate, generated_users
from eur_pipeline.demo.sample_billing import write_sample_billing_inputs
from eur_pipeline.demo.sftp_server import EmbeddedSftpServer
from eur_pipeline.runner import run_pipeline
from eur_pipeline.warehouse.connection import connect

DEMO_PASSWORD_VAR = "EUR_DEMO_SFTP_PASSWORD"


RERUN_HEADER = """\
# Written by `eur-pipeline demo`. Its embedded SFTP server stopped when the demo ended, so the source
# is now the local folder ./incoming: drop more archives there, then `eur-pipeline run --config` this
# file, or browse everything in the Dagster UI with `make ui-demo` (EUR_CONFIG=demo/eur.yaml).
"""


def write_demo_config(work: Path, source: dict[str, object], users: list[str], header: str = "") -> Path:
    """eur.yaml for the demo, with a sample directory and rate plans so billing shows real costs."""
    directory, rates = write_sample_billing_inputs(work, users)
    config = {
        "warehouse": "./warehouse.duckdb",
        "landing_dir": "./landing",
        "timezone": "Europe/Paris",
        "directory": f"./{directory.name}",
        "rates": f"./{rates.name}",
        "report_pdf": find_chromium() is not None,  # a PDF of every report when a Chromium is installed
        "sources": [source],
    }
    path = work / "eur.yaml"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def write_rerunnable_config(work: Path, site: str, users: list[str]) -> Path:
    """The demo's eur.yaml once its server is gone: the same source name (the ledger's ``source``) and
    warehouse, reading the local folder ``./incoming`` instead, so every command runs on it again."""
    (work / "incoming").mkdir(exist_ok=True)
    source = {"name": "presence-demo", "kind": "local", "site": site, "path": "./incoming", "pattern": "*.xml"}
    source |= {"on_success": "move", "move_to": "collected", "min_age_seconds": 10}
    return write_demo_config(work, source, users, header=RERUN_HEADER)


def top_users(warehouse: Path, limit: int = 5) -> list[tuple]:
    """The busiest users over the whole demo, by messages sent + received (as the report and top_talkers)."""
    con = connect(warehouse, read_only=True, wait_seconds=30)
    try:
        return con.execute(
            """SELECT user_jid, coalesce(any_value(name), '(not in directory)'), sum(messages_sent),
                      sum(messages_received), sum(total_cost), any_value(currency)
               FROM billing GROUP BY user_jid
               ORDER BY sum(messages_sent + messages_received) DESC, sum(messages_sent) DESC, user_jid LIMIT ?""",
            [limit],
        ).fetchall()
    finally:
        con.close()


def run_demo(work: Path, conversations: int = 3000, users: int = 150, days: int = 30) -> int:
    """Serve a generated month of archives from an embedded SFTP server (loopback, pinned host key,
    password from the environment) and collect it exactly as production would: ``on_success: delete``."""
    work = work.resolve()
    remote = work / "sftp-root" / "backup2"
    started = time.monotonic()
    spec = GenerateSpec(conversations=conversations, users=users, days=days)
    files = generate(remote, spec)
    print(f"generated {len(files)} archive files into {remote}", file=sys.stderr)
    password = secrets.token_urlsafe(18)
    os.environ[DEMO_PASSWORD_VAR] = password
    with EmbeddedSftpServer(work / "sftp-root", users={"eur": password}) as server:
        print(f"embedded SFTP server on 127.0.0.1:{server.port} (host key {server.fingerprint})", file=sys.stderr)
        config_path = write_demo_config(
            work,
            {
                "name": "presence-demo",
                "kind": "sftp",
                "site": "Corporation 1/Avaya IM",
                "host": "127.0.0.1",
                "port": server.port,
                "username": "eur",
                "password": f"${{{DEMO_PASSWORD_VAR}:-}}",
                "known_hosts": str(server.known_hosts),
                "remote_path": "backup2",
                "on_success": "delete",
                "min_age_seconds": 0,
            },
            generated_users(spec),
        )
        outcome = run_pipeline(str(config_path), log_level="WARNING")  # the caller shows progress
        left = sorted(p.name for p in remote.iterdir())
    config_path = write_rerunnable_config(work, "Corporation 1/Avaya IM", generated_users(spec))
    print(outcome.summary)
    if not outcome.success:
        print(f"eur-pipeline demo: {outcome.reason}", file=sys.stderr)
        return 1
    print(f"remote folder after collection: {len(left)} file(s) left (on_success: delete)")
    print(f"top users:\n  {'user':30} {'name':20} {'sent':>6} {'received':>9} {'cost':>9}")
    for jid, name, sent, received, cost, currency in top_users(work / "warehouse.duckdb"):
        print(f"  {jid:30} {name:20} {sent:6} {received:9} {cost:9.2f} {currency}")
    reports = sorted((work / "reports").glob("report-*.html"))
    if reports:
        print(f"report:    {reports[-1]}")
    print(f"config:    {config_path}   (re-runnable: its source is now {work / 'incoming'}; `make ui-demo` browses it)")
    print(f"backup:    {work / 'landing'}")
    print(
        f"warehouse: {work / 'warehouse.duckdb'}   (try: eur-pipeline sql --config {config_path} "
        f'"SELECT * FROM conversations LIMIT 5")'
    )
    print(f"done in {time.monotonic() - started:.1f} s")
    return 0
