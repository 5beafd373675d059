"""A plausible directory and rates file for generated users, so the demo shows a real chargeback.

Deterministic for a given user list and seed. About one user in ten is left out of the directory
(they fall back to their source's site, as unknown users do in production) and every third listed
user is listed by extension rather than JID, so both matching paths show up in the demo.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from eur_pipeline.billing.directory import extension_of

SITES = ("Corporation 1/Paris", "Corporation 1/Lyon", "Corporation 2/London", "Corporation 2/Dublin")
DEPARTMENTS = ("Sales", "Engineering", "Finance", "Support", "Marketing", "Operations")
_FIRST = (
    "Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea", "Max", "Nia",
    "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tara", "Uri", "Vera", "Wim", "Xena", "Yuki", "Zoe",
)  # fmt: skip
_LAST = (
    "Archer", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski",
    "Laine", "Moreau", "Novak", "Okafor", "Petrov", "Quispe", "Rossi", "Sato", "Tanaka",
)  # fmt: skip

SAMPLE_RATES = """# Sample rate plans (see docs/billing.md). Amounts are exact decimals.
currency: EUR
default_plan: standard
plans:
  standard: {per_message_sent: 0.0125, per_conversation_started: 0.05, monthly_fee_per_active_user: 1.50}
  premium: {per_message_sent: 0.02, per_conversation_started: 0.08, monthly_fee_per_active_user: 3.00}
assign:
  site: {"Corporation 2/London": premium}
  department: {Support: standard}
markup_percent: 7.5
tax_percent: 19.6
"""


def write_sample_billing_inputs(
    out_dir: Path, users: Sequence[str], extension_length: int = 5, seed: int = 0
) -> tuple[Path, Path]:
    """Write ``directory.csv`` and ``rates.yaml`` into ``out_dir``; return their paths."""
    rng = random.Random(seed)
    lines = ["handle,name,department,cost_center,site"]
    seen: set[str] = set()
    listed = sorted(set(users))
    # every listed person gets a first + last name of their own (a repeated name reads as one person)
    combos = [f"{first} {last}" for first in _FIRST for last in _LAST]
    names = iter(rng.sample(combos, len(listed)) if len(listed) <= len(combos) else [])
    for i, jid in enumerate(listed):
        if rng.random() < 0.1:
            continue  # not in the directory: billed to the source's site
        ext = extension_of(jid, extension_length)
        handle = ext if ext is not None and i % 3 == 0 and ext not in seen else jid
        seen.add(handle)
        department = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
        name = next(names, None) or f"User {i + 1}"
        cost_center = f"CC-{100 + 10 * DEPARTMENTS.index(department)}"
        lines.append(f"{handle},{name},{department},{cost_center},{SITES[rng.randrange(len(SITES))]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    directory = out_dir / "directory.csv"
    rates = out_dir / "rates.yaml"
    directory.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rates.write_text(SAMPLE_RATES, encoding="utf-8")
    return directory, rates


__all__ = ["SAMPLE_RATES", "write_sample_billing_inputs"]
