"""Network faults through a TCP relay in front of the real sshd (reset, blackhole, slow link) during a
full collector run, and the plain-SQL integrity checks catching a tampered warehouse."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from eur_pipeline.config.loader import load_config
from eur_pipeline.pipeline.integrity import CHECKS, check_integrity, run_scoped, watermark
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.conftest import archive_text, chat
from eur_pipeline_tests.reliability.conftest import (
    Sshd,
    core_run,
    loaded_hashes,
    make_inputs,
    read_only,
    sftp_source,
    sha256_of,
    snapshot,
    write_config,
    write_remote,
)


def big_archive(megabytes: int) -> bytes:
    body = "z" * (1 << 20)
    records = [r for i in range(megabytes) for r in chat(f"BIG{i}", "2017-06-02T15:00:00Z", "a@x", ["b@x"], body)[:1]]
    return archive_text(records).encode()


@pytest.mark.slow
@pytest.mark.sshd
@pytest.mark.parametrize("mode", ["reset", "blackhole", "slow"])
def test_network_fault_mid_transfer_then_next_run_completes(
    sshd: Sshd, remote_dir: Path, tmp_path: Path, tcp_relay, mode: str
) -> None:
    inputs = make_inputs(remote_dir, seed=3, conversations=30, days=1, files_per_day=2)
    big = big_archive(24)
    write_remote(remote_dir, "ZZ_big.xml", big, age_seconds=10)  # newest: collected last
    inputs["ZZ_big.xml"] = sha256_of(big)
    relay = tcp_relay(sshd.port, mode=mode, after_bytes=20 << 20, rate=256 * 1024)
    # Through the relay the host is [127.0.0.1]:relay_port, not in known_hosts: pin the fingerprint.
    source = sftp_source(sshd, remote_dir, port=relay.port, known_hosts=None, host_key_fingerprint=sshd.fingerprint())
    source.update(timeout_seconds=3, connect_retries=1)
    config = load_config(write_config(tmp_path, source))
    started = time.monotonic()
    try:
        [report] = core_run(config)
    finally:
        relay.close()
    elapsed = time.monotonic() - started
    outcomes = {f.name: f.outcome for f in report.files}
    print(
        f"\n{mode}: first run {elapsed:.1f}s, outcomes {sorted(set(outcomes.values()))}, "
        f"big: {outcomes.get('ZZ_big.xml')}"
    )
    assert relay.tripped.is_set()
    if mode == "slow":  # slow but alive: completes, in time proportional to the size
        assert outcomes["ZZ_big.xml"] == "parsed" and elapsed < 60
    else:
        assert outcomes["ZZ_big.xml"] == "failed" and elapsed < 30
        assert sha256_of(big) not in loaded_hashes(config.warehouse)  # nothing partial loaded
        assert (remote_dir / "ZZ_big.xml").read_bytes() == big  # remote untouched
    assert all(o == "parsed" for n, o in outcomes.items() if n != "ZZ_big.xml")
    # the network is back: the next run (direct) completes, nothing lost, nothing twice
    direct = write_config(tmp_path, sftp_source(sshd, remote_dir))
    [again] = core_run(load_config(direct))
    assert again.error is None
    assert loaded_hashes(config.warehouse) == set(inputs.values())
    assert list(remote_dir.iterdir()) == []
    con = read_only(config.warehouse)
    try:
        assert check_integrity(con) == []
        assert con.execute("SELECT count(*) FROM message_records WHERE thread_id LIKE 'BIG%'").fetchone() == (24,)
    finally:
        con.close()
    assert snapshot(direct)["pending_threads"] == []


# ---------------------------------------------------------------------------------------------
# Integrity checks


@pytest.fixture
def loaded(make_config, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    config = make_config()
    incoming = Path(config.sources[0].options["path"])
    (incoming / "a.xml").write_text(archive_text(chat("T1", "2017-06-02T14:57:28Z", "a@x", ["b@x", "c@x"], "hi")))
    (incoming / "b.xml").write_text(archive_text(chat("T1", "2017-06-02T14:58:28Z", "b@x", ["a@x"], "yo")))
    core_run(config)
    return config.warehouse


def test_integrity_passes_after_a_normal_run(loaded: Path) -> None:
    con = read_only(loaded)
    try:
        assert check_integrity(con) == []
    finally:
        con.close()


@pytest.mark.parametrize(
    ("tamper", "check"),
    [
        ("DELETE FROM message_records WHERE record_no = 1", "ledger_matches_loaded_rows"),
        ("INSERT INTO message_records SELECT * FROM message_records LIMIT 1", "ledger_matches_loaded_rows"),
        ("UPDATE archive_files SET record_count = record_count + 1", "ledger_matches_loaded_rows"),
        ("UPDATE messages SET record_count = record_count + 1", "records_match_messages"),
        ("UPDATE conversations SET message_count = 99", "messages_match_conversations"),
        ("DELETE FROM conversations", "messages_match_conversations"),
        ("UPDATE billing SET messages_sent = messages_sent + 1", "billing_matches_messages"),
        ("UPDATE billing SET total_cost = total_cost + 1", "billing_matches_messages"),
    ],
)
def test_integrity_catches_tampering(loaded: Path, tamper: str, check: str) -> None:
    con = open_warehouse(loaded)
    try:
        con.execute(tamper)
        findings = check_integrity(con)
    finally:
        con.close()
    assert check in {f.check for f in findings}, findings
    assert all(f.message and "\n" not in f.message for f in findings)


def test_pending_threads_are_not_reported_as_broken(loaded: Path) -> None:
    """Mid-pipeline (records loaded, transforms not yet run) is not an integrity failure."""
    con = open_warehouse(loaded)
    try:
        con.execute("DELETE FROM messages")
        con.execute("INSERT INTO pending_threads VALUES ('T1', 'messages')")
        assert check_integrity(con) == []
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Scoped integrity checks (what the Dagster checks run after each materialization)

OLD = ("T1", "a.xml", "2017-06-01")  # collected before the watermark
NEW = ("T2", "c.xml", "2017-07-01")  # collected by the latest run


@pytest.fixture
def watermarked(loaded: Path, make_config) -> Path:  # type: ignore[no-untyped-def]
    """``loaded`` collected two days ago and checked since; then c.xml (thread T2, July) arrives."""
    con = open_warehouse(loaded)
    try:
        con.execute("UPDATE archive_files SET collected_at = collected_at - INTERVAL 2 DAY")
        for name in CHECKS:
            con.execute(
                "INSERT INTO eur_settings VALUES (?, (now() - INTERVAL 1 DAY)::VARCHAR)",
                [f"integrity.{name}.checked_to"],
            )
    finally:
        con.close()
    config = make_config()
    incoming = Path(config.sources[0].options["path"])
    (incoming / "c.xml").write_text(archive_text(chat("T2", "2017-07-03T10:00:00Z", "d@x", ["e@x"], "new")))
    core_run(config)
    return config.warehouse


def _tampers(thread: str, file: str, period: str) -> list[tuple[str, str]]:
    f = f"(SELECT file_id FROM archive_files WHERE name = '{file}')"
    return [
        (f"DELETE FROM message_records WHERE file_id = {f} AND record_no = 1", "ledger_matches_loaded_rows"),
        (
            f"INSERT INTO message_records SELECT * FROM message_records WHERE file_id = {f} LIMIT 1",
            "ledger_matches_loaded_rows",
        ),
        (
            f"UPDATE archive_files SET record_count = record_count + 1 WHERE name = '{file}'",
            "ledger_matches_loaded_rows",
        ),
        (f"UPDATE messages SET record_count = record_count + 1 WHERE thread_id = '{thread}'", "records_match_messages"),
        (f"UPDATE conversations SET message_count = 99 WHERE thread_id = '{thread}'", "messages_match_conversations"),
        (f"DELETE FROM conversations WHERE thread_id = '{thread}'", "messages_match_conversations"),
        (f"UPDATE billing SET messages_sent = messages_sent + 1 WHERE period = '{period}'", "billing_matches_messages"),
        (f"UPDATE billing SET total_cost = total_cost + 1 WHERE period = '{period}'", "billing_matches_messages"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_scoped_checks_catch_tampering_in_what_the_latest_run_touched(watermarked: Path, case: int) -> None:
    tamper, check = _tampers(*NEW)[case]
    con = open_warehouse(watermarked)
    try:
        assert all(run_scoped(con, name)[0] == [] for name in CHECKS)  # untampered: passes, scoped
        con.execute(tamper)
        findings, since = run_scoped(con, check)
        assert since is not None  # scoped, not a full sweep
        assert check in {f.check for f in findings}, findings
        assert run_scoped(con, check)[0], "a failed check keeps its watermark: it fails again"
    finally:
        con.close()


@pytest.mark.parametrize("case", range(8))
def test_tampering_outside_the_scope_is_left_to_the_full_sweep(watermarked: Path, case: int) -> None:
    tamper, check = _tampers(*OLD)[case]
    con = open_warehouse(watermarked)
    try:
        con.execute(tamper)
        assert run_scoped(con, check)[0] == []  # rows no run since the watermark touched
        assert check in {f.check for f in run_scoped(con, check, full=True)[0]}
        assert check in {f.check for f in check_integrity(con)}
    finally:
        con.close()


def test_watermark_waits_for_queued_threads(watermarked: Path) -> None:
    con = open_warehouse(watermarked)
    try:
        before = watermark(con, "messages_match_conversations")
        con.execute("INSERT INTO pending_threads VALUES ('T2', 'conversations')")
        assert run_scoped(con, "messages_match_conversations")[0] == []
        assert watermark(con, "messages_match_conversations") == before
        con.execute("DELETE FROM pending_threads")
        run_scoped(con, "messages_match_conversations")
        assert watermark(con, "messages_match_conversations") > before  # type: ignore[operator]
    finally:
        con.close()
