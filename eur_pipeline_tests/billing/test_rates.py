"""rates.yaml: Decimal all the way, the cost rule's order and rounding, errors naming key and line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from eur_pipeline.billing.rates import Plan, Rates, load_rates, money, parse_rates
from eur_pipeline.errors import ConfigError

GOOD = """currency: EUR
default_plan: standard
plans:
  standard: {per_message_sent: 0.01, per_conversation_started: 0.05, monthly_fee_per_active_user: 1.00}
  premium:
    per_message_sent: 0.025
    monthly_fee_per_active_user: 2.50
assign:
  site: {"Corporation 1/Avaya IM": premium}
  department: {Engineering: standard}
markup_percent: 10
tax_percent: 20
"""


def test_parses_decimals_from_the_text_not_floats() -> None:
    rates = parse_rates(GOOD, Path("rates.yaml"))
    assert rates.plans["standard"].per_message_sent == Decimal("0.01")
    assert str(rates.plans["standard"].per_message_sent) == "0.01"  # not 0.01000000000000000020816...
    assert rates.plans["premium"].per_conversation_started == Decimal(0)  # omitted = 0
    assert rates.markup_percent == Decimal(10)
    assert rates.currency == "EUR"


def test_department_wins_over_site_then_default() -> None:
    rates = parse_rates(GOOD, Path("rates.yaml"))
    assert rates.plan_for("Corporation 1/Avaya IM", "Engineering") == "standard"
    assert rates.plan_for("Corporation 1/Avaya IM", "Sales") == "premium"
    assert rates.plan_for("Corporation 1/Avaya IM", None) == "premium"
    assert rates.plan_for("Elsewhere", None) == "standard"
    assert rates.plan_for(None, None) == "standard"


def test_markup_then_tax() -> None:
    rates = Rates(
        default_plan="p",
        plans={"p": Plan(per_message_sent=Decimal(1), monthly_fee_per_active_user=Decimal(0))},
        markup_percent=Decimal(10),
        tax_percent=Decimal(20),
    )
    charge = rates.charge("p", messages_sent=100, messages_received=0, conversations_started=0)
    # usage 100; markup 10 % = 10; tax 20 % of (100 + 10) = 22 (not 20: tax applies after markup)
    assert (charge.usage, charge.markup, charge.tax, charge.total) == (
        Decimal("100.0000"),
        Decimal("10.0000"),
        Decimal("22.0000"),
        Decimal("132.0000"),
    )


def test_fee_only_for_active_users() -> None:
    rates = Rates(default_plan="p", plans={"p": Plan(monthly_fee_per_active_user=Decimal("4.99"))})
    assert rates.charge("p", 0, 0, 0).fee == Decimal(0)
    assert rates.charge("p", 0, 1, 0).fee == Decimal("4.99")  # receiving is activity
    assert rates.charge("p", 1, 0, 0).fee == Decimal("4.99")


def test_half_up_to_four_places() -> None:
    assert money(Decimal("0.00005")) == Decimal("0.0001")  # banker's rounding would give 0.0000
    assert money(Decimal("0.00015")) == Decimal("0.0002")
    assert money(Decimal("1.23444999")) == Decimal("1.2344")
    rates = Rates(
        default_plan="p",
        plans={"p": Plan(per_message_sent=Decimal("0.00005"))},
        markup_percent=Decimal("7.5"),
        tax_percent=Decimal("19.6"),
    )
    charge = rates.charge("p", 3, 0, 0)
    # usage 0.00015 → 0.0002; markup 7.5 % of 0.0002 = 0.000015 → 0.0000; tax 19.6 % of 0.0002 = 0.0000392 → 0.0000
    assert (charge.usage, charge.markup, charge.tax, charge.total) == (
        Decimal("0.0002"),
        Decimal("0.0000"),
        Decimal("0.0000"),
        Decimal("0.0002"),
    )
    assert charge.total == charge.usage + charge.fee + charge.markup + charge.tax


def test_no_rates_file_is_free_in_usd() -> None:
    rates = load_rates(None)
    assert not rates.configured and rates.currency == "USD"
    assert rates.plan_for("any", "any") is None
    assert rates.charge(None, 10, 10, 10).total == Decimal(0)


def test_python_floats_are_refused() -> None:
    with pytest.raises(ValueError, match="binary float"):
        Plan(per_message_sent=0.01)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("0.01,", "-0.01,"), r"line 4: plans\.standard\.per_message_sent: .*greater than or equal to 0"),
        (("0.025", ".inf"), r"line 6: plans\.premium\.per_message_sent: .*valid decimal"),
        (("0.025", "lots"), r"line 6: plans\.premium\.per_message_sent: .*valid decimal"),
        (
            ("{Engineering: standard}", "{Engineering: gold}"),
            r"line 10: assign\.department\.Engineering: unknown plan 'gold'",
        ),
        (('IM": premium', 'IM": platinum'), r"line 9: assign\.site\.Corporation 1/Avaya IM: unknown plan 'platinum'"),
        (
            ("default_plan: standard", "default_plan: basic"),
            r"line 2: default_plan: unknown plan 'basic' \(plans: premium, standard\)",
        ),
        (("currency: EUR", "currency: euro"), r"line 1: currency: must be a 3-letter ISO 4217 code such as USD"),
        (
            ("    monthly_fee", "    monthly_fees"),
            r"line 7: plans\.premium\.monthly_fees_per_active_user: Extra inputs are not permitted",
        ),
        (("tax_percent: 20", "tax_percent: 2000"), r"line 12: tax_percent: .*less than or equal to 1000"),
        (("markup_percent: 10", "markup_percent: [10]"), r"line 11: markup_percent: "),
        (("assign:", "assign:\n  group: {}\nx:"), r"line 9: assign\.group: Extra inputs are not permitted"),
        (("default_plan: standard\n", ""), r"default_plan: required when a rates file is given"),
        (("plans:", "plans: {}\nold_plans:"), r"plans: at least one plan is needed|old_plans"),
        (("currency: EUR", "currency: [EUR"), r"rates\.yaml: line \d+: not valid YAML"),
    ],
)
def test_invalid_rates_name_key_line_and_reason(change: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ConfigError, match=message):
        parse_rates(text, Path("rates.yaml"))


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_rates(path)
    with pytest.raises(ConfigError, match="rates file not found"):
        load_rates(tmp_path / "missing.yaml")
