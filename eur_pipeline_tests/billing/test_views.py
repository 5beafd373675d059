"""Reporting views on the hand-worked month: roll-ups reconcile with billing, usage is in local time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from eur_pipeline.billing.compute import billing_totals, refresh_billing

from .helpers import Warehouse, make_config
from .test_compute import DIRECTORY, RATES, march


def rows(wh: Warehouse, sql: str) -> list[dict[str, Any]]:
    cur = wh.con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_views(warehouse: Warehouse, tmp_path: Path) -> None:
    march(warehouse)
    refresh_billing(warehouse.con, make_config(tmp_path, directory=DIRECTORY, rates=RATES, timezone="Asia/Tokyo"))
    total = billing_totals(warehouse.con)["total_cost"]

    corp = {r["corporation"]: r for r in rows(warehouse, "SELECT * FROM billing_by_corporation")}
    # Alice + Bob (Paris) + Dave (source site Corporation 1/Avaya IM) | Carol (London)
    assert corp["Corporation 1"]["total_cost"] == Decimal("3.4980") + Decimal("1.3332") + Decimal("1.4124")
    assert corp["Corporation 2"]["total_cost"] == Decimal("1.3992")
    assert corp["Corporation 1"]["users"] == 3 and corp["Corporation 1"]["conversations_started"] == 2
    for view in ("billing_by_corporation", "billing_by_site", "billing_by_department", "billing_by_cost_center"):
        (sum_total,) = warehouse.con.execute(f"SELECT sum(total_cost) FROM {view}").fetchall()[0]
        assert sum_total == total, view  # every roll-up adds up exactly to the per-user rows
    departments = {r["department"] for r in rows(warehouse, "SELECT * FROM billing_by_department")}
    assert departments == {"Sales", "Engineering", "Finance", "(no department)"}
    sites = {r["site"] for r in rows(warehouse, "SELECT * FROM billing_by_site")}
    assert sites == {"Corporation 1/Paris", "Corporation 2/London", "Corporation 1/Avaya IM"}

    top = rows(warehouse, "SELECT * FROM top_talkers ORDER BY rank, user_jid")
    assert (top[0]["user_jid"].split("@")[0], top[0]["messages_total"], top[0]["rank"]) == ("alice", 5, 1)

    # Asia/Tokyo is UTC+9: 09:00 UTC on Friday 1 March 2024 is 18:00 local.
    hours = {(r["weekday_name"], r["hour"]): r["messages"] for r in rows(warehouse, "SELECT * FROM usage_by_hour")}
    # ... and 10:00 UTC on Tuesday 5 March is 19:00, 12:00 UTC on Sunday 10 March is 21:00.
    assert hours == {("Friday", 18): 3, ("Tuesday", 19): 2, ("Sunday", 21): 1}
    days = {str(r["day"]): r["messages"] for r in rows(warehouse, "SELECT * FROM usage_by_day")}
    assert days == {"2024-03-01": 3, "2024-03-05": 2, "2024-03-10": 1}

    (share,) = rows(warehouse, "SELECT * FROM multiparty_share")
    assert (share["conversations"], share["multiparty"], share["multiparty_share"]) == (3, 1, 0.3333)
    lengths = {r["messages"]: r["conversations"] for r in rows(warehouse, "SELECT * FROM conversation_length")}
    assert lengths == {"1": 1, "2": 1, "3-5": 1}
    durations = {r["duration"]: r["conversations"] for r in rows(warehouse, "SELECT * FROM conversation_duration")}
    assert durations == {"< 1 min": 1, "1-5 min": 1, "5-15 min": 1}
