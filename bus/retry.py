"""Waiting for a broker that is away or refuses us: bounded backoff, plain reports.

Two kinds of trouble, told apart by the exception (:mod:`bus.api`):

- :class:`~bus.api.BusUnreachable`: nobody answered.  Retried at a short
  backoff (:data:`UNREACHABLE_BACKOFF_S`); one WARNING when it starts, then
  at most one every :data:`REPORT_EVERY_S`.
- :class:`~bus.api.BusRefused`: a broker answered and refused the login (or
  our TLS).  Retrying cures it only once the secret or the broker changes
  (the password is read again at each attempt, so a fixed secret file is
  picked up without a restart), so it is retried slowly
  (:data:`REFUSED_BACKOFF_S`, at most a minute apart) and reported as an
  ERROR that names the listener, mechanism and user (never the password):
  the first at once, then at most one every :data:`REPORT_EVERY_S`.

Any other error is not retried here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bus.api import BusRefused, BusUnreachable

log = logging.getLogger(__name__)

UNREACHABLE_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
REFUSED_BACKOFF_S = (5.0, 10.0, 20.0, 30.0, 60.0)
REPORT_EVERY_S = 60.0


class QuietKafkaLogs(logging.Filter):
    """Rate-limits aiokafka's warnings and errors: the first of each kind
    passes, repeats within ``every_s`` are counted instead of logged (a
    stopped broker otherwise gives ~30 lines a second)."""

    LOGGERS = (
        "aiokafka",
        "aiokafka.conn",
        "aiokafka.cluster",
        "aiokafka.producer.sender",
        "aiokafka.producer.producer",
        "aiokafka.admin.client",
    )

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.suppressed = 0
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        k = (record.name, str(record.msg))
        now = time.monotonic()
        last = self._last.get(k)
        if last is not None and now - last < self.every_s:
            self.suppressed += 1
            return False
        self._last[k] = now
        return True

    def install(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)


def backoff_s(exc: BaseException, failures: int) -> float:
    """The wait before the next attempt after ``failures`` (>= 1) in a row."""
    steps = REFUSED_BACKOFF_S if isinstance(exc, BusRefused) else UNREACHABLE_BACKOFF_S
    return steps[min(max(failures, 1) - 1, len(steps) - 1)]


class TroubleReport:
    """Says once, plainly, that the broker is away or refuses us, then at
    most once per ``every_s`` while it lasts, and once when it is over."""

    def __init__(self, what: str, every_s: float = REPORT_EVERY_S) -> None:
        self.what = what
        self.every_s = every_s
        self.failures = 0
        self.reports = 0
        self._kind: type[BaseException] | None = None
        self._since = 0.0
        self._reported_at = 0.0

    def failed(self, exc: BaseException, detail: str = "") -> None:
        """Count one failed attempt; log it if it is news or the last report is old."""
        now = time.monotonic()
        kind = BusRefused if isinstance(exc, BusRefused) else BusUnreachable
        if self.failures == 0:
            self._since = now
        self.failures += 1
        if kind is self._kind and now - self._reported_at < self.every_s:
            return
        news = kind is not self._kind
        self._kind, self._reported_at = kind, now
        self.reports += 1
        took = (
            "" if news else f" (still, after {now - self._since:.0f} s and {self.failures} tries)"
        )
        extra = f"; {detail}" if detail else ""
        if kind is BusRefused:
            log.error("%s: the broker refused us%s: %s%s", self.what, took, exc, extra)
        else:
            log.warning("%s: broker unreachable%s: %s%s", self.what, took, exc, extra)

    def ok(self) -> None:
        """The broker answered and let us in: one line if there was trouble."""
        if self.failures:
            log.warning(
                "%s: connected after %.1f s and %d failed tries",
                self.what,
                time.monotonic() - self._since,
                self.failures,
            )
        self.failures = 0
        self._kind = None


async def start_patiently(
    start: Callable[[], Awaitable[None]], stop: asyncio.Event, what: str
) -> bool:
    """Call ``start`` until it succeeds (True) or ``stop`` is set (False).

    An unreachable or refusing broker is retried (see the module docstring);
    ``stop`` interrupts an attempt or a wait at once (the attempt is cancelled,
    and a cancelled start closes what it opened).  Other errors propagate."""
    report = TroubleReport(what)
    quiet = QuietKafkaLogs()  # aiokafka's own line per failed attempt: once a minute
    quiet.install()
    try:
        return await _start_patiently(start, stop, report)
    finally:
        quiet.remove()


async def _start_patiently(
    start: Callable[[], Awaitable[None]], stop: asyncio.Event, report: TroubleReport
) -> bool:
    while not stop.is_set():
        attempt = asyncio.ensure_future(start())
        halt = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({attempt, halt}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled itself: no attempt left behind
            attempt.cancel()
            raise
        finally:
            halt.cancel()
        if not attempt.done():
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt
            return False
        exc = attempt.exception()
        if exc is None:
            report.ok()
            return True
        if not isinstance(exc, (BusUnreachable, BusRefused)):
            raise exc
        delay = backoff_s(exc, report.failures + 1)
        report.failed(exc, f"retrying in {delay:g} s, until told to stop")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return False
