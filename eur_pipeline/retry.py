"""The one retry loop: exponential backoff, bounded by a number of tries and by a total time.

Used where waiting can help — a transient SFTP failure, a warehouse locked by another process — and
nowhere else; permanent errors (authentication, host key, configuration) are raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """A failed try about to be retried: which one, the error, the wait ahead and the time left."""

    number: int
    error: BaseException
    delay: float
    remaining: float


def retry(
    action: Callable[[], T],
    *,
    retryable: Callable[[BaseException], bool],
    max_seconds: float,
    attempts: int | None = None,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    use_whole_budget: bool = False,
    on_retry: Callable[[Attempt], None] | None = None,
    give_up: Callable[[BaseException, int], BaseException] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``action`` until it succeeds, retrying the errors ``retryable`` accepts.

    Bounded twice: at most ``attempts`` tries (None: no count limit) and ``max_seconds`` from the
    start. By default no wait may end after that budget (the try it would lead to could not finish
    in time anyway); with ``use_whole_budget`` the last wait is shortened to the time left, so a lock
    is waited for exactly as long as promised. On giving up, ``give_up(error, tries)`` (if given)
    builds the error to raise, so the one-line reason can say it retried.
    """
    deadline = clock() + max_seconds
    delay = base_delay
    number = 0
    while True:
        number += 1
        try:
            return action()
        except Exception as exc:
            if not retryable(exc):
                raise
            remaining = deadline - clock()
            out_of_tries = attempts is not None and number >= attempts
            out_of_time = remaining <= 0 if use_whole_budget else delay > remaining
            if out_of_tries or out_of_time:
                if give_up is None:
                    raise
                raise give_up(exc, number) from exc
            wait = min(delay, remaining) if use_whole_budget else delay
            if on_retry:
                on_retry(Attempt(number, exc, wait, remaining))
            sleep(wait)
            delay = min(delay * 2, max_delay)
