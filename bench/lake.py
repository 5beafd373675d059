"""``make bench`` (lake part; alone: ``python -m bench.lake``): the DuckLake warehouse against the DuckDB
file, in one run, on the same generated data (``bench.run``'s cache), each run in a fresh process.

* full ``eur-pipeline run`` of the large archive into a lake vs into a DuckDB file (target <= 1.5x);
* one small new file into a lake of >= 10M records (the grown file warehouse, moved in with
  ``eur-pipeline warehouse copy``) vs into an empty lake (pipeline work, target <= 3x);
* an analyst's read-only session querying billing every 0.2 s during the large lake run: latency
  median and max (a DuckDB file refuses that session while the run holds its lock);
* two sources into one lake: two runs in parallel vs one after the other;
* a month of hourly files (``BENCH_SCALE`` shortens it): data files and snapshots before and after
  the maintenance jobs' compaction and expiry.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth); each lake is a database of its own, dropped after.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench.run import (
    BIG_CONVERSATIONS,
    BIN,
    CONFIG,
    INCREMENTAL_TARGET_RECORDS,
    NEW_FILE_CONVERSATIONS,
    OUT,
    SCALE,
    Measured,
    add_file,
    fresh_site,
    full_run,
    generate,
    measure,
    one_file,
    split_archive,
    stage_run,
    verdict,
)

PG = "host=127.0.0.1 port=5432 user=postgres"
HOURS = int(os.environ.get("BENCH_LAKE_HOURS", max(48, int(720 * min(SCALE, 1.0)))))  # a month at scale 1
GROWN_RECORDS = max(INCREMENTAL_TARGET_RECORDS, 10_000_000)  # the size, whatever the scale


@contextmanager
def lake_db() -> Iterator[str]:
    import psycopg2

    admin = psycopg2.connect(f"dbname=postgres {PG}")
    admin.autocommit = True
    name = f"eur_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def lake_site(name: str, db: str, files: list[Path], sources: int = 1) -> Path:
    """Like ``bench.run.fresh_site`` but the warehouse is a lake in ``db``; ``sources`` > 1 gives one
    folder and one config per source (``eur-<i>.yaml``), all on the same lake."""
    site = OUT / "runs" / name
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    raw = yaml.safe_load(CONFIG)
    raw["warehouse"] = {"ducklake": f"postgres:dbname={db} {PG}", "data_path": "./lake/"}
    for i in range(sources):
        folder = site / ("incoming" if sources == 1 else f"incoming-{i}")
        folder.mkdir()
        for path in files[i::sources]:
            os.link(path, folder / f"{path.parent.name}_{path.name}")
        # one source keeps bench.run's name: a lake moved in by warehouse copy then has the same billing
        # inputs, so its next run bills incrementally (a renamed source changes them: a full rebuild)
        name = raw["sources"][0]["name"] + (str(i) if sources > 1 else "")
        config = {**raw, "sources": [{**raw["sources"][0], "name": name, "path": f"./{folder.name}"}]}
        (site / ("eur.yaml" if sources == 1 else f"eur-{i}.yaml")).write_text(yaml.safe_dump(config))
    return site


class Reader(threading.Thread):
    """An analyst: their own DuckDB, the lake attached READ_ONLY, one billing query every 0.2 s."""

    def __init__(self, db: str) -> None:
        super().__init__(daemon=True)
        self.db, self.latencies, self.stop, self.errors = db, [], threading.Event(), []

    def run(self) -> None:
        import duckdb

        from eur_pipeline.warehouse.lake import load_extensions

        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        load_extensions(con)
        attached = False
        while not self.stop.is_set():
            try:
                if not attached:
                    con.execute(f"ATTACH 'ducklake:postgres:dbname={self.db} {PG}' AS lake (READ_ONLY)")
                    attached = True
                began = time.perf_counter()
                con.execute("SELECT count(*), sum(total_cost) FROM lake.billing").fetchall()
                self.latencies.append(time.perf_counter() - began)
            except duckdb.Error as exc:  # the lake (or its billing table) is not created yet at the start
                self.errors.append(str(exc).splitlines()[0])
            self.stop.wait(0.2)
        con.close()


def run_parallel(configs: list[Path]) -> float:
    began = time.perf_counter()
    procs = [
        subprocess.Popen(
            [str(BIN / "eur-pipeline"), "run", "--config", str(c)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in configs
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"bench: parallel run failed: {err[-2000:]}")
    return time.perf_counter() - began


def month_of_hourly_files(db: str, small: Path) -> tuple[int, dict[str, object]]:
    """HOURS hourly files, collected a day (24 files) per pass in one process, then maintenance."""
    parts = split_archive(small, OUT / "data" / f"hourly-{HOURS}", HOURS)
    site = lake_site("hourly", db, [])
    script = f"""
import json, os, sys, time
from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.config.loader import load_config
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline.warehouse.maintenance import compact, expire, lake_shape
from eur_pipeline.warehouse.migrations import open_warehouse
parts = sys.argv[1:]
config = load_config({str(site / "eur.yaml")!r})
con = open_warehouse(config.warehouse)
began = time.perf_counter()
for day in range(0, len(parts), 24):
    for p in parts[day:day + 24]:
        os.link(p, os.path.join({str(site / "incoming")!r}, os.path.basename(p)))
    collect_source(con, config, config.sources[0])
    refresh_messages(con); refresh_conversations(con); refresh_billing(con, config)
ingest = time.perf_counter() - began
shape = lake_shape(con)
c = compact(con)
e = expire(con, keep_days=0, file_grace_hours=0)
print(json.dumps({{"ingest_s": ingest, "before": vars(shape), "compacted": vars(c.after), "expired": vars(e.after)}}))
"""
    out = measure([sys.executable, "-c", script, *map(str, parts)]).stdout.strip().splitlines()[-1]
    import json

    return len(parts), json.loads(out)


def say(text: str) -> None:
    """Each figure as soon as it is measured (a long bench stopped half-way still reports)."""
    print(text, flush=True)


def main() -> None:
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    say(f"eur-pipeline lake bench (BENCH_SCALE={SCALE:g}, {os.cpu_count()} CPUs)")
    big = one_file(generate("big", BIG_CONVERSATIONS, "--one-file"))
    small = one_file(generate("small", max(40, BIG_CONVERSATIONS // 5), "--one-file", "--seed", "2"))
    new = one_file(generate("new", NEW_FILE_CONVERSATIONS, "--one-file", "--seed", "4", "--days", "1"))
    second = one_file(generate("second", max(40, BIG_CONVERSATIONS // 5), "--one-file", "--seed", "6"))
    verdicts: list[str] = []

    say("  full run, DuckDB file ...")
    file_full = full_run(fresh_site("lake_file_full", [big]))
    with lake_db() as db:
        say("  full run, lake (with an analyst querying meanwhile) ...")
        reader = Reader(db)
        reader.start()
        lake_full = full_run(lake_site("lake_full", db, [big]))
        reader.stop.set()
        reader.join(timeout=30)
    ratio = lake_full.wall / file_full.wall
    say(
        f"Full run of the large archive ({big.stat().st_size / 1e6:,.0f} MB): DuckDB file {file_full.wall:.1f} s "
        f"(peak {file_full.peak_mb:,.0f} MB), lake {lake_full.wall:.1f} s (peak {lake_full.peak_mb:,.0f} MB): "
        f"{ratio:.2f}x"
    )
    verdicts.append(f"  [{verdict(ratio <= 1.5)}] lake full run <= 1.5x the DuckDB file: {ratio:.2f}x")
    lat = sorted(reader.latencies)
    if lat:
        say(
            f"Reader during the lake run: {len(lat)} queries, median {statistics.median(lat) * 1000:.0f} ms, "
            f"max {lat[-1] * 1000:.0f} ms ({len(reader.errors)} before the lake existed)"
        )
    verdicts.append(
        f"  [{verdict(bool(lat) and lat[-1] < 5)}] readers never wait: max {lat[-1] * 1000 if lat else 0:.0f} ms"
    )

    if os.environ.get("BENCH_LAKE_INCREMENTAL", "1") == "1":
        verdicts.append(incremental(big, new))

    say("  two sources into one lake: parallel vs one after the other ...")
    with lake_db() as db:
        site = lake_site("lake_seq", db, [small, second], sources=2)
        sequential = run_parallel([site / "eur-0.yaml"]) + run_parallel([site / "eur-1.yaml"])
    with lake_db() as db:
        site = lake_site("lake_par", db, [small, second], sources=2)
        parallel = run_parallel([site / "eur-0.yaml", site / "eur-1.yaml"])
    say(
        f"Two sources: one after the other {sequential:.1f} s, in parallel {parallel:.1f} s "
        f"({sequential / parallel:.2f}x)"
    )
    verdicts.append(
        f"  [{verdict(parallel < sequential)}] two sources in parallel faster than one after the other: "
        f"{sequential / parallel:.2f}x"
    )

    say(f"  {HOURS} hourly files, then maintenance ...")
    with lake_db() as db:
        hours, shape = month_of_hourly_files(db, small)
    say(
        f"{hours} hourly files: ingest {shape['ingest_s']:.0f} s; data files / inlined rows / snapshots: "
        f"before maintenance {shape['before']}, after compaction {shape['compacted']}, after expiry {shape['expired']}"
    )
    say("")
    say("Targets (issue [6 of 7]):")
    for line in verdicts:
        say(line)
    say(f"lake bench took {time.perf_counter() - started:.0f} s")


def incremental(big: Path, new: Path) -> str:
    """One small file into an empty lake vs into a lake of >= 10M records (moved in with warehouse copy)."""
    say("  incremental: one small file into an empty lake vs into >= 10M records ...")
    with lake_db() as db:
        incr_empty = stage_run(lake_site("lake_incr_empty", db, [new]))
    grown_site = fresh_site("lake_grown_file", [big])
    full_run(grown_site)
    grow = [sys.executable, "-m", "bench.run", "--grow", str(grown_site), str(GROWN_RECORDS)]
    grown = int(measure(grow).stdout.strip().splitlines()[-1])
    with lake_db() as db:
        site = lake_site("lake_incr_big", db, [])
        copy = measure(
            [
                str(BIN / "eur-pipeline"),
                "warehouse",
                "copy",
                "--config",
                str(grown_site / "eur.yaml"),
                "--to",
                str(site / "eur.yaml"),
            ]
        )
        # the search index moves with the warehouse (docs/operations.md), or the next sync rebuilds it
        shutil.copytree(grown_site / "search-index", site / "search-index")
        add_file(site, new)
        incr_big = stage_run(site)
        rebuild = full_billing_rebuild(site)
    ratio = incr_big["total"] / incr_empty["total"]
    say(
        f"Incremental ({NEW_FILE_CONVERSATIONS} conversations): empty lake {incr_empty['total']:.2f} s, lake of "
        f"{grown:,} records {incr_big['total']:.2f} s (moved in by warehouse copy in {copy.wall:.0f} s)"
    )
    say("  stages empty: " + ", ".join(f"{k} {v:.2f}" for k, v in incr_empty.items()))
    say("  stages 10M+:  " + ", ".join(f"{k} {v:.2f}" for k, v in incr_big.items()))
    say(
        f"Full billing rebuild of that lake (what a rates or directory change triggers), writers' memory cap: "
        f"{rebuild.wall:.1f} s, peak {rebuild.peak_mb:,.0f} MB, {rebuild.stdout.strip().splitlines()[-1]} passes"
    )
    ok = grown >= 10_000_000 and ratio <= 3.0
    return f"  [{verdict(ok)}] one small file into a >= 10M-record lake <= 3x into an empty one: {ratio:.2f}x"


def full_billing_rebuild(site: Path) -> Measured:
    """``refresh_billing(full=True)`` in a fresh process at the default memory cap; prints its passes."""
    script = f"""
from eur_pipeline.billing.compute import _rebuild_passes, refresh_billing
from eur_pipeline.config.loader import load_config
from eur_pipeline.warehouse.migrations import open_warehouse
config = load_config({str(site / "eur.yaml")!r})
con = open_warehouse(config.warehouse)
refresh_billing(con, config, full=True)
print(len(_rebuild_passes(con, config.timezone)))
"""
    return measure([sys.executable, "-c", script])


if __name__ == "__main__":
    main()
