"""rates.yaml: rate plans, who is on which plan, markup and tax — and the cost rule itself.

Money is ``Decimal`` end to end: the YAML loader reads ``0.01`` as ``Decimal("0.01")`` (never a
binary float), a Python float passed in is refused, and every amount is rounded half-up to 4 places.
An invalid file fails at start with the key, the line and the reason, before anything is billed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from eur_pipeline.errors import ConfigError

CENTS4 = Decimal("0.0001")
HUNDRED = Decimal(100)


def money(value: Decimal) -> Decimal:
    """Round half-up to 4 places: the one rounding rule on the money path."""
    return value.quantize(CENTS4, rounding=ROUND_HALF_UP)


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("a binary float is not accepted for money; pass a Decimal, an int or a string")
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(ge=0, le=Decimal("1e12"), allow_inf_nan=False),
]
Percent = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(ge=0, le=1000, allow_inf_nan=False),
]


class Plan(BaseModel):
    """One rate plan; omitted charges are zero."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_message_sent: Amount = Decimal(0)
    per_conversation_started: Amount = Decimal(0)
    monthly_fee_per_active_user: Amount = Decimal(0)


class Assign(BaseModel):
    """Plan by site and by department (exact names); department wins over site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: dict[str, str] = Field(default_factory=dict)
    department: dict[str, str] = Field(default_factory=dict)


class Budgets(BaseModel):
    """Spending limits per period (month), in the rates file's currency, by department and by cost center
    (names as billed). Crossing one warns and mails that scope's recipients once per period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    department: dict[str, Amount] = Field(default_factory=dict)
    cost_center: dict[str, Amount] = Field(default_factory=dict)

    def lines(self) -> list[tuple[str, str, Decimal]]:
        """(scope, name, amount) of every budget line."""
        return [("department", n, a) for n, a in sorted(self.department.items())] + [
            ("cost_center", n, a) for n, a in sorted(self.cost_center.items())
        ]


@dataclass(frozen=True)
class Charge:
    """One user's charge for one period; ``total`` is the sum of the rounded parts, so rows reconcile."""

    usage: Decimal
    fee: Decimal
    markup: Decimal
    tax: Decimal
    total: Decimal


ZERO_CHARGE = Charge(Decimal("0.0000"), Decimal("0.0000"), Decimal("0.0000"), Decimal("0.0000"), Decimal("0.0000"))


class Rates(BaseModel):
    """The rates.yaml model (see docs/billing.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = "USD"
    default_plan: str | None = None
    plans: dict[str, Plan] = Field(default_factory=dict)
    assign: Assign = Field(default_factory=Assign)
    markup_percent: Percent = Decimal(0)
    tax_percent: Percent = Decimal(0)
    budgets: Budgets = Field(default_factory=Budgets)

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"must be a 3-letter ISO 4217 code such as USD, not {value!r}")
        return value

    @classmethod
    def unconfigured(cls) -> Rates:
        """No rates file: every cost is zero, in USD, and no plan is named."""
        return cls()

    @property
    def configured(self) -> bool:
        return self.default_plan is not None

    def plan_for(self, site: str | None, department: str | None) -> str | None:
        """Department assignment, else site assignment, else the default plan (None when unconfigured)."""
        if department is not None and department in self.assign.department:
            return self.assign.department[department]
        if site is not None and site in self.assign.site:
            return self.assign.site[site]
        return self.default_plan

    def charge(
        self, plan: str | None, messages_sent: int, messages_received: int, conversations_started: int
    ) -> Charge:
        """The cost rule (docs/design.md), each part rounded half-up to 4 places before the next uses it.

        usage = per_message_sent × sent + per_conversation_started × started;
        fee only when the user sent or received anything; markup on (usage + fee);
        tax on (usage + fee + markup); total = usage + fee + markup + tax.
        """
        if plan is None:
            return ZERO_CHARGE
        rate = self.plans[plan]
        usage = money(rate.per_message_sent * messages_sent + rate.per_conversation_started * conversations_started)
        active = messages_sent > 0 or messages_received > 0
        fee = money(rate.monthly_fee_per_active_user) if active else money(Decimal(0))
        markup = money((usage + fee) * self.markup_percent / HUNDRED)
        tax = money((usage + fee + markup) * self.tax_percent / HUNDRED)
        return Charge(usage=usage, fee=fee, markup=markup, tax=tax, total=usage + fee + markup + tax)

    def fingerprint(self) -> str:
        """A stable text of everything that changes a cost (for the rebuild-on-change check)."""
        return self.model_dump_json(exclude={"budgets"})  # a budget changes no cost


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader whose floats are Decimals parsed from the text as written."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | str:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return text  # .inf, .nan, 1:30.5 ...: validation then names the key and says why


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the node at ``loc`` (or of its nearest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def _where(path: Path, root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    key = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(root, loc)
    return f"{path}: line {line}: {key}" if line else f"{path}: {key}"


def parse_rates(text: str, path: Path) -> Rates:
    """Validate rates.yaml text; errors name the file, line, key and reason."""
    try:
        root = yaml.compose(text, Loader=_DecimalLoader)
        raw = yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (currency, default_plan, plans, ...)")
    for key in ("default_plan", "plans"):
        if key not in raw:
            raise ConfigError(f"{path}: {key}: required when a rates file is given")
    try:
        rates = Rates.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{_where(path, root, tuple(err['loc']))}: {msg}{more}") from None

    known = ", ".join(sorted(rates.plans)) or "none"
    if not rates.plans:
        raise ConfigError(f"{_where(path, root, ('plans',))}: at least one plan is needed")
    if rates.default_plan not in rates.plans:
        raise ConfigError(
            f"{_where(path, root, ('default_plan',))}: unknown plan {rates.default_plan!r} (plans: {known})"
        )
    for kind, mapping in (("site", rates.assign.site), ("department", rates.assign.department)):
        for name, plan in mapping.items():
            if plan not in rates.plans:
                raise ConfigError(
                    f"{_where(path, root, ('assign', kind, name))}: unknown plan {plan!r} (plans: {known})"
                )
    return rates


def load_rates(path: Path | None) -> Rates:
    """The rates in force: the file's, or :meth:`Rates.unconfigured` (all zero, USD) when none is set."""
    if path is None:
        return Rates.unconfigured()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: rates file not found (key: rates)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: rates file cannot be read: {exc}") from None
    return parse_rates(text, path)


__all__ = ["Assign", "Budgets", "Charge", "Plan", "Rates", "load_rates", "money", "parse_rates"]
