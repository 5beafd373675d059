"""``make bench``: the pipeline against the XML parser's own limit, in one run, on data it generates.

Every measurement runs in a fresh subprocess, so wall time and memory are that run's own: the peak
of its whole process tree (PSS, parse child included) and of its largest process (RSS). Printed
side by side with ratios:

* full ``eur-pipeline run`` (Dagster start-up, collect, parse, load, messages, conversations, billing)
  on a ~570 MB archive and on a ~115 MB one (memory must stay flat), and the large one again with
  parsing in-process (``EUR_PARSE_WORKERS=0``) to show what the parse child process gains (full run and
  collect stage);
* the minimal streaming reference and ``pandas.read_xml`` (``bench/reference.py``); pandas holds the
  whole document in memory (~14x the file), so it runs on the 115 MB file and is extrapolated by
  record count — the output says so;
* incremental cost: one small new file into a warehouse of >= 10M records vs into an empty one;
* many files: 2,000 small pending files in one run, and the overhead per file;
* full-text search latency on >= 1M messages and indexing cost (``bench/search.py``).

``BENCH_SCALE`` (default 1.0) scales every data size, e.g. ``BENCH_SCALE=0.1 make bench`` for a smoke run.
Generated data is cached in ``bench/out/data`` (keyed by its parameters); warehouses are rebuilt each run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
BIG_CONVERSATIONS = max(200, int(100_000 * SCALE))  # ~570 MB, ~1.6M records at scale 1
SMALL_CONVERSATIONS = max(40, BIG_CONVERSATIONS // 5)  # ~115 MB
MANY_FILES = max(20, int(2_000 * min(SCALE, 1.0)))
MANY_CONVERSATIONS = MANY_FILES * 2
INCREMENTAL_TARGET_RECORDS = int(10_000_000 * SCALE)
NEW_FILE_CONVERSATIONS = 300

CONFIG = """\
warehouse: ./warehouse.duckdb
landing_dir: ./landing
extension_length: 5
timezone: UTC
sources:
  - name: bench
    kind: local
    format: avaya_presence_xml
    site: "Corporation 1/Avaya IM"
    path: ./incoming
    pattern: "*.xml"
    on_success: keep
    min_age_seconds: 0
"""


@dataclass(frozen=True)
class Measured:
    """One subprocess: wall seconds, peak memory in MB, and what it printed.

    ``peak_mb`` is the peak of the whole process tree (the run and its parse child together): the sum
    of each process's proportional set size (PSS: shared library pages split between the processes
    that map them), sampled every 100 ms from ``/proc``. ``top_mb`` is ``wait4``'s ``ru_maxrss``:
    the largest single process, which misses a child's memory while it overlaps the parent's."""

    wall: float
    peak_mb: float
    top_mb: float
    stdout: str


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _kids(pid: int) -> list[int]:
    """Direct children of ``pid`` (``/proc/PID/task/TID/children``: no scan of every process)."""
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids.extend(int(k) for k in handle.read().split())
    except OSError:
        pass
    return kids


def _tree_pss_kb(root: int) -> int:
    """PSS of ``root`` and all its descendants, in kB."""
    pids, total = [root], 0
    while pids:
        pid = pids.pop()
        total += _pss_kb(pid)
        pids.extend(_kids(pid))
    return total


def _sample_tree(pid: int, done: threading.Event, peak: list[int]) -> None:
    """Every 100 ms (a sample costs ~1 ms of CPU; on 2 cores a busier sampler slows what it measures)."""
    while not done.wait(0.1):
        peak[0] = max(peak[0], _tree_pss_kb(pid))


def measure(args: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> Measured:
    """Run ``args`` to completion, sampling the memory of its process tree meanwhile.
    ``env``: variables set on top of this process's environment."""
    log = OUT / "last_subprocess.log"
    with open(log, "w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env} if env else None
        )
        done, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, done, peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join(timeout=5)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed ({proc.returncode}):\n{text[-3000:]}")
    return Measured(wall, max(peak[0], 0) / 1024, usage.ru_maxrss / 1024, text)


def generate(name: str, conversations: int, *extra: str) -> Path:
    """``eur-pipeline generate`` into ``bench/out/data/NAME-PARAMS`` once; reused while the parameters match."""
    target = OUT / "data" / "-".join([name, str(conversations), *extra]).replace("--", "")
    if not (target / ".done").exists():
        shutil.rmtree(target, ignore_errors=True)
        print(f"  generating {name} ({conversations:,} conversations) ...", flush=True)
        measure([str(BIN / "eur-pipeline"), "generate", str(target), "--conversations", str(conversations), *extra])
        (target / ".done").touch()
    return target


def one_file(folder: Path) -> Path:
    (xml,) = sorted(folder.glob("*.xml"))
    return xml


def fresh_site(name: str, files: list[Path]) -> Path:
    """A working directory with eur.yaml and ``incoming/`` holding (hard links to) ``files``."""
    site = OUT / "runs" / name
    shutil.rmtree(site, ignore_errors=True)
    (site / "incoming").mkdir(parents=True)
    (site / "eur.yaml").write_text(CONFIG)
    for path in files:
        add_file(site, path)
    return site


def add_file(site: Path, path: Path) -> None:
    """Hard-link ``path`` into the site's incoming folder (every generated archive has the same name)."""
    os.link(path, site / "incoming" / f"{path.parent.name}_{path.name}")


def full_run(site: Path, env: dict[str, str] | None = None) -> Measured:
    return measure([str(BIN / "eur-pipeline"), "run", "--config", str(site / "eur.yaml")], env=env)


def stage_run(site: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """The pipeline's own work per stage, without Dagster (``python -m bench.stages``)."""
    result = measure([sys.executable, "-m", "bench.stages", str(site / "eur.yaml")], env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def reference(kind: str, xml: Path) -> tuple[int, Measured]:
    result = measure([sys.executable, "-m", "bench.reference", kind, str(xml), str(OUT / f"ref_{kind}.duckdb")])
    return int(result.stdout.strip().splitlines()[-1]), result


def records_in(site: Path) -> int:
    out = measure([sys.executable, "-m", "bench.run", "--count", str(site)]).stdout
    return int(out.strip().splitlines()[-1])


def count_records(site: Path) -> int:
    import duckdb

    con = duckdb.connect(str(site / "warehouse.duckdb"), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM message_records").fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def split_archive(xml: Path, folder: Path, files: int) -> list[Path]:
    """Cut a generated archive into ``files`` smaller archives at record boundaries (the generator
    writes one ``<message`` per line start; bodies never hold a newline)."""
    from eur_pipeline.demo.avaya_writer import ARCHIVE_HEAD, ARCHIVE_TAIL

    folder.mkdir(parents=True, exist_ok=True)
    records: list[list[str]] = []
    with open(xml, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("  <message"):
                records.append([line])
            elif records and line != ARCHIVE_TAIL:
                records[-1].append(line)
    paths = []
    for i in range(files):  # even shares: no file empty (empty ones would be duplicates of each other)
        chunk = records[i * len(records) // files : (i + 1) * len(records) // files]
        path = folder / f"IMArchive_part{i:05d}.xml"
        path.write_text(ARCHIVE_HEAD + "".join("".join(r) for r in chunk) + ARCHIVE_TAIL, encoding="utf-8")
        paths.append(path)
    return paths


def grow_warehouse(site: Path, target: int) -> int:
    """Copies of the loaded rows under new file ids and threads, shifted back one month per copy, until
    the warehouse holds ``target`` records — derived tables copied alike, so it is consistent and cheap;
    then the search index is brought in step."""
    import duckdb

    from eur_pipeline.compliance.search_index import queue_threads

    con = duckdb.connect(str(site / "warehouse.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    base = con.execute("SELECT count(*) FROM message_records").fetchone()[0]  # type: ignore[index]
    copies = max(0, -(-target // max(base, 1)) - 1)
    tables = ("archive_files", "message_records", "messages", "conversations", "billing", "billing_thread_periods")
    con.execute("BEGIN")
    for table in tables:
        con.execute(f"CREATE TEMP TABLE _orig_{table} AS SELECT * FROM {table}")
    for k in range(1, copies + 1):
        shift = f"INTERVAL {k} MONTH"
        con.execute(
            f"""INSERT INTO archive_files SELECT * REPLACE (file_id || '-{k}' AS file_id, sha256 || '-{k}' AS sha256,
                       name || '.{k}' AS name, collected_at - {shift} AS collected_at) FROM _orig_archive_files"""
        )
        con.execute(
            f"""INSERT INTO message_records SELECT * REPLACE (file_id || '-{k}' AS file_id,
                       sent_at - {shift} AS sent_at, thread_id || '-{k}' AS thread_id) FROM _orig_message_records"""
        )
        con.execute(
            f"""INSERT INTO messages SELECT * REPLACE (md5(message_id || '-{k}') AS message_id,
                       thread_id || '-{k}' AS thread_id, sent_at - {shift} AS sent_at) FROM _orig_messages"""
        )
        con.execute(
            f"""INSERT INTO conversations SELECT * REPLACE (thread_id || '-{k}' AS thread_id,
                       started_at - {shift} AS started_at, ended_at - {shift} AS ended_at) FROM _orig_conversations"""
        )
        con.execute(f"INSERT INTO billing SELECT * REPLACE (period - {shift} AS period) FROM _orig_billing")
        con.execute(
            f"""INSERT INTO billing_thread_periods SELECT * REPLACE (thread_id || '-{k}' AS thread_id,
                       period - {shift} AS period) FROM _orig_billing_thread_periods"""
        )
    # the copies' threads queued for the search index, as the messages transform would have
    queue_threads(con, "SELECT thread_id FROM messages")
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    total = con.execute("SELECT count(*) FROM message_records").fetchone()[0]  # type: ignore[index]
    con.close()
    _sync_search_index(site)
    return int(total)


def _sync_search_index(site: Path) -> None:
    """Index the copied messages as the runs that stored them would have: else the next run's sync
    finds the index behind the warehouse and rebuilds it (minutes on 5M messages), which is setup,
    not the incremental cost being measured."""
    from eur_pipeline.compliance.search_index import sync
    from eur_pipeline.config.loader import load_config
    from eur_pipeline.warehouse.connection import connect

    config = load_config(site / "eur.yaml")
    con = connect(config.warehouse)
    try:
        sync(con, config.resolved_search_index)
    finally:
        con.close()


def fmt_row(name: str, records: int, wall: float, run: Measured, ref_wall: float | None, note: str = "") -> str:
    """One table row; ``ref_wall`` None when the row is not the same input as the reference."""
    rate = records / wall if wall else 0.0
    ratio = f"{wall / ref_wall:>8.2f}x" if ref_wall else f"{'-':>9}"
    return (
        f"{name:<52} {records:>11,} {wall:>9.1f} {rate:>11,.0f} {run.peak_mb:>8.0f} {run.top_mb:>8.0f} {ratio}  {note}"
    )


def verdict(ok: bool) -> str:
    return "MET " if ok else "MISSED"


def main() -> None:
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / "runs", ignore_errors=True)
    print(f"eur-pipeline bench (BENCH_SCALE={SCALE:g}, {os.cpu_count()} CPUs)", flush=True)
    big = one_file(generate("big", BIG_CONVERSATIONS, "--one-file"))
    small = one_file(generate("small", SMALL_CONVERSATIONS, "--one-file", "--seed", "2"))
    many_src = one_file(generate("many", MANY_CONVERSATIONS, "--one-file", "--seed", "3"))
    new = one_file(generate("new", NEW_FILE_CONVERSATIONS, "--one-file", "--seed", "4", "--days", "1"))
    new2 = one_file(generate("new2", NEW_FILE_CONVERSATIONS, "--one-file", "--seed", "5", "--days", "1"))

    print("  (b) streaming reference ...", flush=True)
    ref_records, ref = reference("stream", big)
    print("  (a) eur-pipeline run, large archive ...", flush=True)
    big_site = fresh_site("big", [big])
    full = full_run(big_site)
    full_records = records_in(big_site)
    print("  (a) eur-pipeline run, large archive, parsing in-process (EUR_PARSE_WORKERS=0) ...", flush=True)
    one_core = full_run(fresh_site("big_one_core", [big]), env={"EUR_PARSE_WORKERS": "0"})
    print("  (a) eur-pipeline run, 115 MB-class archive ...", flush=True)
    small_site = fresh_site("small", [small])
    full_small = full_run(small_site)
    small_records = records_in(small_site)
    print("  (c) pandas.read_xml on the smaller archive ...", flush=True)
    pandas_records, pandas_small = reference("pandas", small)
    pandas_wall = pandas_small.wall * ref_records / pandas_records
    print("  stage timings (no Dagster), large archive ...", flush=True)
    stages = stage_run(fresh_site("stages", [big]))
    stages_one_core = stage_run(fresh_site("stages_one_core", [big]), env={"EUR_PARSE_WORKERS": "0"})

    print("  incremental: empty warehouse vs one of >= 10M records ...", flush=True)
    empty_site = fresh_site("incr_empty", [new])
    incr_empty_stages = stage_run(empty_site)
    grow = [sys.executable, "-m", "bench.run", "--grow", str(big_site), str(INCREMENTAL_TARGET_RECORDS)]
    grown = int(measure(grow).stdout.strip().splitlines()[-1])
    add_file(big_site, new)
    incr_big_stages = stage_run(big_site)
    incr_empty = full_run(fresh_site("incr_empty_run", [new2]))
    add_file(big_site, new2)
    incr_big = full_run(big_site)

    print(f"  many files: {MANY_FILES:,} pending files in one run ...", flush=True)
    split = OUT / "data" / f"many-split-{MANY_FILES}"
    measure([sys.executable, "-m", "bench.run", "--split", str(many_src), str(split), str(MANY_FILES)])
    parts = sorted(split.glob("*.xml"))
    many = full_run(fresh_site("many", parts))
    many_records = records_in(OUT / "runs" / "many")
    many_one = full_run(fresh_site("many_one", [many_src]))
    per_file_ms = (many.wall - many_one.wall) / MANY_FILES * 1000

    mb = big.stat().st_size / 1e6
    print()
    small_mb = small.stat().st_size / 1e6
    print(f"Large archive: {mb:,.0f} MB, {ref_records:,} records; smaller archive: {small_mb:,.0f} MB")
    print(f"{'':<52} {'records':>11} {'wall s':>9} {'records/s':>11} {'peak MB':>8} {'1-proc':>8} {'vs ref':>9}")
    print(f"{'':<52} {'':>11} {'':>9} {'':>11} {'tree PSS':>8} {'max RSS':>8}")
    print(fmt_row("(b) reference: lxml iterparse+clear->Arrow->DuckDB", ref_records, ref.wall, ref, ref.wall))
    print(fmt_row("(a) eur-pipeline run (everything, Dagster)", full_records, full.wall, full, ref.wall))
    print(
        fmt_row(
            "(c) pandas.read_xml + DuckDB (extrapolated)",
            ref_records,
            pandas_wall,
            pandas_small,
            ref.wall,
            f"measured {pandas_small.wall:.1f} s / {pandas_small.peak_mb:,.0f} MB on {pandas_records:,} records",
        )
    )
    print(
        fmt_row(
            "(a) the same, parsing in-process (EUR_PARSE_WORKERS=0)",
            full_records,
            one_core.wall,
            one_core,
            ref.wall,
            f"parsing with the second core saves {one_core.wall - full.wall:+.1f} s",
        )
    )
    print(fmt_row("(a) eur-pipeline run, smaller archive", small_records, full_small.wall, full_small, None))
    print("Stages of the large run without Dagster (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(
        f"  collect parsing with both cores {stages['collect']:.1f} s vs in-process "
        f"(EUR_PARSE_WORKERS=0) {stages_one_core['collect']:.1f} s: "
        f"{stages_one_core['collect'] - stages['collect']:+.1f} s from the second core"
    )
    print()
    ratio_ref = full.wall / ref.wall
    ratio_pandas = full.wall / pandas_wall
    growth = full.peak_mb / full_small.peak_mb - 1
    incr_ratio = incr_big_stages["total"] / incr_empty_stages["total"]
    print(f"Incremental: {NEW_FILE_CONVERSATIONS} conversations ({new.stat().st_size / 1e3:,.0f} kB) as a new file")
    print(
        f"  into an empty warehouse: pipeline work {incr_empty_stages['total']:.2f} s; "
        f"eur-pipeline run {incr_empty.wall:.1f} s"
    )
    print(
        f"  into {grown:,} records: pipeline work {incr_big_stages['total']:.2f} s; "
        f"eur-pipeline run {incr_big.wall:.1f} s"
    )
    print("  stages empty: " + ", ".join(f"{k} {v:.2f}" for k, v in incr_empty_stages.items()))
    print("  stages 10M+:  " + ", ".join(f"{k} {v:.2f}" for k, v in incr_big_stages.items()))
    print(
        f"Many files: {MANY_FILES:,} files / {many_records:,} records collected in 1 run: {many.wall:.1f} s, "
        f"peak {many.peak_mb:,.0f} MB; the same records as one file: {many_one.wall:.1f} s -> "
        f"{per_file_ms:.1f} ms overhead per file"
    )
    print()
    print("Targets (first stage's issue 6; issue [6 of 7] asks the full run for <= 1.2x):")
    print(f"  [{verdict(ratio_ref <= 2.0)}] full run <= 2.0x reference wall: {ratio_ref:.2f}x")
    print(f"  [{verdict(ratio_ref <= 1.2)}] full run <= 1.2x reference wall: {ratio_ref:.2f}x")
    print(f"  [{verdict(ratio_pandas <= 0.5)}] full run <= 0.5x pandas (extrapolated) wall: {ratio_pandas:.2f}x")
    print(
        f"  [{verdict(full.peak_mb <= 500)}] peak memory <= 500 MB: {full.peak_mb:,.0f} MB for the process tree "
        f"(PSS); largest process {full.top_mb:,.0f} MB (RSS)"
    )
    print(f"  [{verdict(growth < 0.2)}] peak memory < +20 % vs the smaller archive: {growth * 100:+.0f} %")
    incr_ok = grown >= INCREMENTAL_TARGET_RECORDS and incr_ratio <= 3.0
    print(f"  [{verdict(incr_ok)}] incremental (pipeline work) <= 3x: {incr_ratio:.2f}x")
    print(f"  [{verdict(many_records > 0)}] {MANY_FILES:,} pending files collected in 1 run, {per_file_ms:.1f} ms/file")
    print(f"bench took {time.perf_counter() - started:.0f} s")
    sftp_bench()
    lake_bench()
    from bench import search  # search latency and indexing cost (compliance)

    search.main()


def sftp_bench() -> None:
    """The SFTP download benchmark (bench/sftp_download.py, another issue's), when it and sshd exist."""
    try:
        from bench import sftp_download
    except ImportError:
        return
    if not Path("/usr/sbin/sshd").exists():
        print("sftp download bench skipped: /usr/sbin/sshd not installed (make system-deps)")
        return
    print()
    sftp_download.main([])


def lake_bench() -> None:
    """The DuckLake warehouse against the DuckDB file (bench/lake.py); needs the local PostgreSQL."""
    print()
    from bench import lake

    lake.main()


def helper(args: list[str]) -> None:
    """Work the bench runs in a child process: whatever memory it takes must not inflate the
    ``ru_maxrss`` of later children (Linux carries the parent's RSS at fork/exec into it)."""
    if args[0] == "--count":
        print(count_records(Path(args[1])))
    elif args[0] == "--grow":
        print(grow_warehouse(Path(args[1]), int(args[2])))
    elif args[0] == "--split":
        shutil.rmtree(args[2], ignore_errors=True)
        split_archive(Path(args[1]), Path(args[2]), int(args[3]))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        helper(sys.argv[1:])
    else:
        main()
