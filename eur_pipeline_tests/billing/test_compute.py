"""billing with hand-worked figures: plans, precedence, fee, markup then tax, periods, incrementality."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from eur_pipeline.billing import compute
from eur_pipeline.billing.compute import billing_totals, refresh_billing

from .helpers import Warehouse, jid, make_config

DIRECTORY = """handle,name,department,cost_center,site
alice@im.example.com,Alice Archer,Sales,CC-100,Corporation 1/Paris
10002,Bob Brown,Engineering,CC-200,Corporation 1/Paris
carol@im.example.com,Carol Chen,Finance,CC-300,Corporation 2/London
erin@im.example.com,Erin Idle,Sales,CC-100,Corporation 1/Paris
"""

RATES = """currency: EUR
default_plan: standard
plans:
  standard: {per_message_sent: 0.01, per_conversation_started: 0.05, monthly_fee_per_active_user: 1.00}
  premium: {per_message_sent: 0.025, per_conversation_started: 0.10, monthly_fee_per_active_user: 2.50}
assign:
  site: {"Corporation 1/Paris": premium}
  department: {Engineering: standard}
markup_percent: 10
tax_percent: 20
"""

ALICE, BOB, CAROL, DAVE = jid("alice"), jid("5510002"), jid("carol"), jid("dave")


def march(wh: Warehouse) -> None:
    """T1 Alice↔Bob (3 messages), T2 Carol+Alice+Dave (2), T3 Dave→Carol (1); all March 2024 UTC."""
    wh.message("T1", ALICE, [BOB], "2024-03-01 09:00:00+00")
    wh.message("T1", BOB, [ALICE], "2024-03-01 09:01:00+00")
    wh.message("T1", ALICE, [BOB], "2024-03-01 09:02:00+00")
    wh.message("T2", CAROL, [ALICE, DAVE], "2024-03-05 10:00:00+00")
    wh.message("T2", DAVE, [ALICE, CAROL], "2024-03-05 10:05:00+00")
    wh.message("T3", DAVE, [CAROL], "2024-03-10 12:00:00+00")
    wh.settle()


def d(text: str) -> Decimal:
    return Decimal(text)


def test_hand_worked_month(warehouse: Warehouse, tmp_path: Path) -> None:
    march(warehouse)
    config = make_config(tmp_path, directory=DIRECTORY, rates=RATES)
    assert refresh_billing(warehouse.con, config) == 4
    rows = warehouse.billing()
    assert set(rows) == {("2024-03", u) for u in ("alice", "5510002", "carol", "dave")}

    alice = rows["2024-03", "alice"]
    # counts: sent T1×2; received T1 09:01 + T2 ×2; conversations T1, T2; started T1
    assert (alice["messages_sent"], alice["messages_received"]) == (2, 3)
    assert (alice["conversations"], alice["conversations_started"]) == (2, 1)
    # premium by site: usage 2×0.025 + 1×0.10 = 0.15; fee 2.50; markup 10% of 2.65 = 0.265;
    # tax 20% of (2.65 + 0.265) = 0.583; total 3.498
    assert alice["rate_plan"] == "premium"
    assert (alice["usage_cost"], alice["fee"], alice["markup"], alice["tax"], alice["total_cost"]) == (
        d("0.1500"),
        d("2.5000"),
        d("0.2650"),
        d("0.5830"),
        d("3.4980"),
    )
    assert (alice["name"], alice["department"], alice["cost_center"], alice["site"]) == (
        "Alice Archer",
        "Sales",
        "CC-100",
        "Corporation 1/Paris",
    )
    assert alice["currency"] == "EUR"
    assert alice["extension"] is None  # "alice" is not numeric

    bob = rows["2024-03", "5510002"]
    # matched by extension (rightmost 5 digits of 5510002); Engineering → standard beats the Paris site plan
    assert (bob["name"], bob["extension"], bob["site"], bob["rate_plan"]) == (
        "Bob Brown",
        "10002",
        "Corporation 1/Paris",
        "standard",
    )
    assert (bob["messages_sent"], bob["messages_received"], bob["conversations"], bob["conversations_started"]) == (
        1,
        2,
        1,
        0,
    )
    # usage 0.01; fee 1.00; markup 0.101; tax 20% of 1.111 = 0.2222; total 1.3332
    assert (bob["usage_cost"], bob["fee"], bob["markup"], bob["tax"], bob["total_cost"]) == (
        d("0.0100"),
        d("1.0000"),
        d("0.1010"),
        d("0.2222"),
        d("1.3332"),
    )

    carol = rows["2024-03", "carol"]
    assert (carol["messages_sent"], carol["messages_received"], carol["conversations"]) == (1, 2, 2)
    assert carol["conversations_started"] == 1
    # London has no assignment → default standard: usage 0.01 + 0.05; markup 0.106; tax 0.2332
    assert carol["rate_plan"] == "standard"
    assert carol["total_cost"] == d("1.3992")

    dave = rows["2024-03", "dave"]
    # not in the directory: the site of the source his records came from, no name/department
    assert (dave["name"], dave["department"], dave["cost_center"]) == (None, None, None)
    assert dave["site"] == "Corporation 1/Avaya IM"
    assert (dave["messages_sent"], dave["messages_received"], dave["conversations"]) == (2, 1, 2)
    assert dave["conversations_started"] == 1
    assert (dave["usage_cost"], dave["markup"], dave["tax"], dave["total_cost"]) == (
        d("0.0700"),
        d("0.1070"),
        d("0.2354"),
        d("1.4124"),
    )

    # Erin is in the directory but idle: no row, so no monthly fee.
    assert not any(user == "erin" for _, user in rows)

    # The money total reconciles exactly with the per-user rows (and with the hand-worked sum).
    totals = billing_totals(warehouse.con)
    assert totals["total_cost"] == d("3.4980") + d("1.3332") + d("1.3992") + d("1.4124") == d("7.6428")
    assert totals["total_cost"] == totals["usage_cost"] + totals["fee"] + totals["markup"] + totals["tax"]
    for row in rows.values():
        assert row["total_cost"] == row["usage_cost"] + row["fee"] + row["markup"] + row["tax"]
    assert isinstance(totals["total_cost"], Decimal)


def test_fee_only_in_months_the_user_was_active(warehouse: Warehouse, tmp_path: Path) -> None:
    march(warehouse)
    warehouse.message("T4", CAROL, [DAVE], "2024-04-02 08:00:00+00")
    warehouse.settle()
    refresh_billing(warehouse.con, make_config(tmp_path, directory=DIRECTORY, rates=RATES))
    rows = warehouse.billing()
    april = {user for period, user in rows if period == "2024-04"}
    assert april == {"carol", "dave"}  # Alice and Bob were idle in April: no row, no fee
    # Dave only received in April: still active → fee 1.00, no usage; markup 0.10, tax 0.22
    dave = rows["2024-04", "dave"]
    assert (dave["messages_sent"], dave["messages_received"]) == (0, 1)
    assert (dave["usage_cost"], dave["fee"], dave["total_cost"]) == (d("0"), d("1.0000"), d("1.3200"))


def test_no_rates_file_means_zero_cost_in_usd(warehouse: Warehouse, tmp_path: Path) -> None:
    march(warehouse)
    refresh_billing(warehouse.con, make_config(tmp_path))
    rows = warehouse.billing()
    assert len(rows) == 4
    for row in rows.values():
        assert row["currency"] == "USD"
        assert row["rate_plan"] is None
        assert row["total_cost"] == d("0")
        assert row["site"] == "Corporation 1/Avaya IM"  # no directory: everyone falls into the source's site


def test_timezone_period_boundary(warehouse: Warehouse, tmp_path: Path) -> None:
    # 23:30 UTC on 31 January is 00:30 on 1 February in Paris (UTC+1); 22:30 UTC is still January.
    warehouse.message("TZ1", ALICE, [BOB], "2024-01-31 22:30:00+00")
    warehouse.message("TZ2", CAROL, [DAVE], "2024-01-31 23:30:00+00")
    warehouse.settle()
    refresh_billing(warehouse.con, make_config(tmp_path, timezone="Europe/Paris"))
    assert set(warehouse.billing()) == {
        ("2024-01", "alice"),
        ("2024-01", "5510002"),
        ("2024-02", "carol"),
        ("2024-02", "dave"),
    }
    # In UTC both are January: a timezone change rebuilds every period without anything queued.
    assert warehouse.con.execute("SELECT count(*) FROM pending_threads").fetchone() == (0,)
    refresh_billing(warehouse.con, make_config(tmp_path, timezone="UTC"))
    assert {p for p, _ in warehouse.billing()} == {"2024-01"}
    # the views read the same timezone
    assert warehouse.con.execute("SELECT eur_timezone()").fetchone() == ("UTC",)


def test_incremental_recomputes_only_touched_periods(warehouse: Warehouse, tmp_path: Path) -> None:
    config = make_config(tmp_path, directory=DIRECTORY, rates=RATES)
    warehouse.message("F1", ALICE, [CAROL], "2024-02-10 10:00:00+00")
    march(warehouse)
    refresh_billing(warehouse.con, config)
    assert warehouse.con.execute("SELECT count(*) FROM pending_threads").fetchone() == (0,)
    assert refresh_billing(warehouse.con, config) == 0  # nothing queued, nothing changed

    # Mark the February rows and March's Carol and Dave (not in T1): untouched rows must not be rewritten.
    warehouse.con.execute(
        "UPDATE billing SET name = 'SENTINEL' WHERE period = DATE '2024-02-01' "
        "OR (period = DATE '2024-03-01' AND split_part(user_jid, '@', 1) IN ('carol', 'dave'))"
    )
    # T1 continues in April; T1's March rows (Alice, Bob) are recomputed with it (its earlier month).
    warehouse.message("T1", BOB, [ALICE], "2024-04-01 07:00:00+00")
    warehouse.settle()
    written = refresh_billing(warehouse.con, config)
    rows = warehouse.billing()
    assert written == 2 + 2  # March (Alice, Bob: T1's participants) + April (Alice, Bob)
    assert {r["name"] for (p, _), r in rows.items() if p == "2024-02"} == {"SENTINEL"}
    assert {u for (p, u), r in rows.items() if p == "2024-03" and r["name"] == "SENTINEL"} == {"carol", "dave"}
    assert rows["2024-03", "alice"]["conversations"] == 2  # T1 and T2: the whole month of Alice, still exact
    assert rows["2024-04", "5510002"]["messages_sent"] == 1
    assert rows["2024-04", "alice"]["conversations"] == 1
    assert rows["2024-04", "alice"]["conversations_started"] == 0  # T1 started in March
    assert warehouse.con.execute("SELECT count(*) FROM pending_threads").fetchone() == (0,)

    # The incremental result equals a full rebuild (apart from the sentinel we planted).
    warehouse.con.execute(
        "UPDATE billing SET name = CASE WHEN user_jid LIKE 'alice@%' THEN 'Alice Archer' "
        "WHEN user_jid LIKE 'carol@%' THEN 'Carol Chen' END WHERE name = 'SENTINEL'"
    )
    before = warehouse.billing()
    refresh_billing(warehouse.con, config, full=True)
    assert warehouse.billing() == before


def test_thread_starting_earlier_moves_conversations_started(warehouse: Warehouse, tmp_path: Path) -> None:
    """A later file can hold a thread's earliest message: the old start month is recomputed too."""
    config = make_config(tmp_path)
    warehouse.message("T9", ALICE, [BOB], "2024-03-03 10:00:00+00")
    warehouse.settle()
    refresh_billing(warehouse.con, config)
    assert warehouse.billing()["2024-03", "alice"]["conversations_started"] == 1
    warehouse.message("T9", BOB, [ALICE], "2024-02-28 10:00:00+00")
    warehouse.settle()
    refresh_billing(warehouse.con, config)
    rows = warehouse.billing()
    assert rows["2024-03", "alice"]["conversations_started"] == 0
    assert rows["2024-02", "5510002"]["conversations_started"] == 1


def test_rates_change_rebuilds_everything(warehouse: Warehouse, tmp_path: Path) -> None:
    march(warehouse)
    refresh_billing(warehouse.con, make_config(tmp_path, directory=DIRECTORY, rates=RATES))
    cheaper = RATES.replace("monthly_fee_per_active_user: 2.50", "monthly_fee_per_active_user: 0")
    refresh_billing(warehouse.con, make_config(tmp_path, directory=DIRECTORY, rates=cheaper))
    # Alice: 0.15 + 0 fee, markup 0.015, tax 0.033 → 0.198
    assert warehouse.billing()["2024-03", "alice"]["total_cost"] == d("0.1980")


def test_failure_rolls_back_and_keeps_the_queue(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    march(warehouse)
    config = make_config(tmp_path)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(compute, "billing_rows", boom)
    with pytest.raises(RuntimeError):
        refresh_billing(warehouse.con, config)
    assert warehouse.con.execute("SELECT count(*) FROM billing").fetchone() == (0,)
    assert warehouse.con.execute("SELECT count(*) FROM pending_threads WHERE stage = 'billing'").fetchone() == (3,)
    monkeypatch.undo()
    assert refresh_billing(warehouse.con, config) == 4
    assert warehouse.con.execute("SELECT count(*) FROM pending_threads").fetchone() == (0,)


def test_site_of_a_user_seen_in_two_sources(warehouse: Warehouse, tmp_path: Path) -> None:
    """Most records in the period wins; a tie goes to the first source name (deterministic)."""
    warehouse.message("S1", DAVE, [jid("frank")], "2024-05-01 10:00:00+00", source="branch")
    warehouse.message("S2", DAVE, [jid("gina")], "2024-05-01 11:00:00+00", source="branch")
    warehouse.message("S3", DAVE, [jid("hugo")], "2024-05-01 12:00:00+00", source="lab")
    warehouse.message("S4", jid("ivan"), [jid("jane")], "2024-05-01 12:00:00+00", source="lab")
    warehouse.message("S5", jid("ivan"), [jid("jane")], "2024-05-01 13:00:00+00", source="branch")
    warehouse.settle()
    refresh_billing(warehouse.con, make_config(tmp_path))
    rows = warehouse.billing()
    assert rows["2024-05", "dave"]["site"] == "Corporation 2/Branch"  # 4 records from branch, 2 from lab
    assert rows["2024-05", "hugo"]["site"] == "Corporation 1/Avaya IM"
    assert rows["2024-05", "ivan"]["site"] == "Corporation 2/Branch"  # 2 and 2: "branch" < "lab"


def test_config_errors_before_any_write(warehouse: Warehouse, tmp_path: Path) -> None:
    from eur_pipeline.errors import ConfigError

    march(warehouse)
    with pytest.raises(ConfigError, match="line 3"):
        refresh_billing(
            warehouse.con,
            make_config(tmp_path, directory="handle,name,department,cost_center,site\na@x,A,,,\nnot a handle,B,,,\n"),
        )
    assert warehouse.con.execute("SELECT count(*) FROM pending_threads WHERE stage = 'billing'").fetchone() == (3,)


def test_warehouse_billed_before_contributions_upgrades_in_place(warehouse: Warehouse, tmp_path: Path) -> None:
    """Migration 004 reshapes billing_thread_periods and drops the fingerprint: the next refresh,
    with nothing queued, rebuilds every row and refills the contributions."""
    from eur_pipeline.warehouse.migrations import migrate

    march(warehouse)
    config = make_config(tmp_path, directory=DIRECTORY, rates=RATES)
    refresh_billing(warehouse.con, config)
    billed = warehouse.billing()
    con = warehouse.con
    con.execute("DROP TABLE billing_thread_periods")  # the shape migration 003 left
    con.execute("CREATE TABLE billing_thread_periods (thread_id VARCHAR, period DATE, user_jid VARCHAR)")
    con.execute("INSERT INTO billing_thread_periods VALUES ('T1', DATE '2024-03-01', 'x')")
    con.execute("DELETE FROM schema_version WHERE version = 4")  # 004 not applied yet (later ones are)
    migrate(con)
    assert con.execute("SELECT count(*) FROM billing_thread_periods").fetchone() == (0,)
    assert refresh_billing(con, config) == 4
    assert warehouse.billing() == billed
    assert con.execute("SELECT sum(messages_sent) FROM billing_thread_periods").fetchone() == (6,)
