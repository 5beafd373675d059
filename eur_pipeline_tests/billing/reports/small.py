"""A small, fully deterministic warehouse for the report tests: three billed months (one of them
after a gap), names that are markup, a formula-like JID, users missing from the directory."""

from __future__ import annotations

from pathlib import Path

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.config import EurConfig

from ..helpers import DEMO_RATES, Warehouse, jid, make_config

HOSTILE = "<b>Zoë</b></script><script>document.title='pwned'</script>"
DIRECTORY = "".join(
    [
        "handle,name,department,cost_center,site\n",
        f'{jid("ada")},"{HOSTILE}",Sales,CC-100,Corporation 1/Paris\n',
        f'{jid("ben")},Ben "B" & Co,Engineering,=CC-200,Corporation 1/Lyon\n',
        f"{jid('cleo')},Cleo C.,Finance,CC-300,Corporation 2/London\n",
        f"{jid('dev')},Dev D.,Sales,CC-100,Corporation 2/London\n",
    ]
)
MESSAGES = [  # (thread, sender, recipients, sent_at UTC)
    ("T1", "ada", ["ben"], "2024-01-31 22:30:00+00"),  # 23:30 in Paris: still January
    ("T1", "ben", ["ada"], "2024-01-31 23:10:00+00"),  # 00:10 in Paris: February
    ("T2", "ada", ["ben", "cleo"], "2024-02-05 09:00:00+00"),
    ("T2", "cleo", ["ada", "ben"], "2024-02-05 09:03:30+00"),
    ("T3", "dev", ["=eve"], "2024-02-12 14:00:00+00"),
    ("T4", "cleo", ["dev"], "2024-02-29 16:45:00+00"),
    ("T5", "ben", ["cleo"], "2024-05-02 07:15:00+00"),
    ("T5", "cleo", ["ben"], "2024-05-02 07:16:00+00"),
]


def small_warehouse(warehouse: Warehouse, tmp_path: Path) -> EurConfig:
    """Fill ``warehouse``, bill it, and return a config whose reports go to ``tmp_path / "reports"``."""
    for thread, sender, recipients, at in MESSAGES:
        warehouse.message(thread, jid(sender), [jid(r) for r in recipients], at)
    warehouse.settle()
    config = make_config(
        tmp_path,
        directory=DIRECTORY,
        rates=DEMO_RATES,
        timezone="Europe/Paris",
        reports_dir=tmp_path / "reports",
    )
    refresh_billing(warehouse.con, config)
    return config
