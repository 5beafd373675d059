"""The one retry loop: doubling waits up to a cap, bounded by tries and by time, permanent errors at once."""

from __future__ import annotations

import pytest

from eur_pipeline.retry import retry


class Busy(Exception):
    pass


def test_waits_double_up_to_the_cap_and_the_tries_are_bounded() -> None:
    waits: list[float] = []

    def busy() -> None:
        raise Busy("locked")

    with pytest.raises(Busy):
        retry(
            busy, retryable=lambda e: isinstance(e, Busy), attempts=6, max_seconds=1e9, max_delay=5, sleep=waits.append
        )
    assert waits == [1, 2, 4, 5, 5]


def test_whole_budget_shortens_the_last_wait_and_give_up_builds_the_error() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    def busy() -> None:
        raise Busy("locked")

    with pytest.raises(RuntimeError, match="gave up after 4 tries"):
        retry(
            busy,
            retryable=lambda e: isinstance(e, Busy),
            max_seconds=5,
            base_delay=1,
            use_whole_budget=True,
            give_up=lambda e, n: RuntimeError(f"{e}: gave up after {n} tries"),
            sleep=sleep,
            clock=lambda: now[0],
        )
    assert waits == [1, 2, 2] and now[0] == 5  # the third wait is cut to the 2 s left


def test_other_errors_are_raised_at_once_and_success_returns() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise Busy("once")
        return "ok"

    assert retry(flaky, retryable=lambda e: isinstance(e, Busy), max_seconds=60, sleep=lambda _: None) == "ok"

    def broken() -> None:
        raise ValueError("permanent")

    with pytest.raises(ValueError):
        retry(broken, retryable=lambda e: isinstance(e, Busy), max_seconds=60, sleep=lambda _: None)
