"""What the spool says about the broker: counters (:class:`SpoolStats`) and
the outage and refusal lines (:class:`BrokerStatus`), logged as ``bus.spool``.

Guarantees: one WARNING when the broker becomes unreachable, then a status
line every five minutes while it stays away, one when it is back and one when
the backlog is drained; a refused login (:class:`~bus.api.BusRefused`) is an
ERROR at once, then at most one per :data:`bus.retry.REPORT_EVERY_S`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from bus.api import BusRefused
from bus.retry import REFUSED_BACKOFF_S, REPORT_EVERY_S, QuietKafkaLogs

log = logging.getLogger("bus.spool")

_STATUS_EVERY_S = 300.0  # while the broker stays away, one status line this often


@dataclass(slots=True)
class SpoolStats:
    """Counters since the spool opened (depth: now, including what an earlier
    process left)."""

    depth: int = 0  # messages waiting
    octets: int = 0  # their payload bytes
    appended: int = 0
    sent: int = 0  # messages acknowledged (markers count once per partition)
    dropped: int = 0  # oldest messages deleted because the spool was full
    dropped_octets: int = 0
    retries: int = 0  # failed drain rounds
    refused: int = 0  # of which the broker refused the login (or our TLS)
    broker_up: bool | None = None  # None until the first round
    rounds: int = 0  # send rounds acknowledged
    round_s: float = 0.0  # their time, read to acknowledgement, summed


class BrokerStatus:
    """The drainer's view of the broker between rounds (see the module docstring)."""

    def __init__(self, stats: SpoolStats, quiet: QuietKafkaLogs) -> None:
        self.stats = stats
        self.quiet = quiet
        self.down_since: float | None = None
        self.down_retries = 0
        self.down_dropped = 0  # dropped from the full spool since the outage began
        self.quiet_before = 0
        self.appended_before = 0
        self.status_at = 0.0
        self.sent_before = 0
        self.recovering_since: float | None = None
        self.refused_at: float | None = None

    def failed(self, exc: BaseException, took_s: float) -> None:
        self.stats.retries += 1
        new_outage = self.down_since is None or self.stats.broker_up is not False
        if new_outage:
            self.down_since = time.monotonic() - took_s
            self.down_retries = 0
            self.down_dropped = 0
            self.quiet_before = self.quiet.suppressed
            self.appended_before = self.stats.appended
            self.status_at = time.monotonic()
        if isinstance(exc, BusRefused):
            self.refused(exc)
        elif new_outage:
            why = (
                "no acknowledgement within the send timeout"
                if isinstance(exc, TimeoutError)
                else str(exc)
            )
            log.warning(
                "bus: broker unreachable (%s); collection goes on into the spool "
                "(%d messages, %.1f MiB waiting); retrying",
                why,
                self.stats.depth,
                self.stats.octets / 2**20,
            )
        elif time.monotonic() - self.status_at >= _STATUS_EVERY_S:
            self.status_at = time.monotonic()
            log.warning(
                "bus: broker still unreachable after %.0f s (%d failed rounds); spool holds "
                "%d messages (%.1f MiB), %d dropped so far",
                time.monotonic() - (self.down_since or 0.0),
                self.down_retries,
                self.stats.depth,
                self.stats.octets / 2**20,
                self.down_dropped,
            )
        self.down_retries += 1
        self.stats.broker_up = False

    def refused(self, exc: BaseException) -> None:
        """One ERROR now, then at most one per :data:`bus.retry.REPORT_EVERY_S`."""
        self.stats.refused += 1
        now = time.monotonic()
        if self.refused_at is not None and now - self.refused_at < REPORT_EVERY_S:
            return
        self.refused_at = now
        log.error(
            "bus: the broker refused us: %s; collection goes on into the spool, nothing "
            "is lost (%d messages, %.1f MiB waiting); retrying at most %.0f s apart%s",
            exc,
            self.stats.depth,
            self.stats.octets / 2**20,
            REFUSED_BACKOFF_S[-1],
            f" ({self.stats.refused} refusals so far)" if self.stats.refused > 1 else "",
        )

    def up(self) -> None:
        self.refused_at = None
        if self.stats.broker_up is False and self.down_since is not None:
            log.warning(
                "bus: broker reachable again after %.1f s (%d failed rounds, %d aiokafka "
                "log lines suppressed); %d messages spooled meanwhile, %d dropped from the "
                "full spool, %d still to send",
                time.monotonic() - (self.down_since or 0.0),
                self.down_retries,
                self.quiet.suppressed - self.quiet_before,
                self.stats.appended - self.appended_before,
                self.down_dropped,
                self.stats.depth,
            )
            self.down_since = None
            self.recovering_since = time.monotonic()
            self.sent_before = self.stats.sent
        elif self.recovering_since is not None and self.stats.depth == 0:
            log.info(
                "bus: spool drained: %d messages sent in %.1f s since the broker came back",
                self.stats.sent - self.sent_before,
                time.monotonic() - self.recovering_since,
            )
            self.recovering_since = None
        self.stats.broker_up = True
