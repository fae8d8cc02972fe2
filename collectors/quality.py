"""The data quality gate: every record is checked before it is published.

:class:`QualityGate` is a sink (``publish`` / ``complete_cycle``, as
:class:`~collectors.publish.Publisher`) put in front of the publisher.  A
record that fails a rule goes to ``<prefix>.<network>.quarantine``
(:func:`bus.topics.quarantine_topic`) as a :class:`~bus.records.Quarantined`
message naming the rule and the reason, never to its dataset topic;
applications see it only if they subscribe to that topic.  Counts: per
device in :attr:`QualityGate.quarantined`, per cycle in the marker's
``quarantined`` (its ``records`` counts only what reached the dataset topic).

Rules, in order (the first that fails names the record's rule):

``model``
    the record fits its dataset model (:func:`bus.datasets.validate`: known
    fields, right types).
``negative``
    sizes, counters, rates and durations (``*_octets``, ``*_pkts``, ``*_bps``,
    ``*_ticks``, ``*_s``, errors, discards, messages, updates, prefixes) are
    never below 0.
``future_timestamp``
    ``request_unix_ms`` / ``response_unix_ms`` / ``scheduled_unix_ms`` are not
    later than now + ``max_future_skew_s``.
``counter_backwards``
    a cumulative counter (interfaces, BGP) is not lower than the last one
    accepted for the same device and identity (tags), unless the device
    rebooted (its uptime went down: the counters start again) or a 32-bit
    counter wrapped: the wrapped increase must fit what the link can carry
    in the time between the two polls (octets at ``speed_bps``, frames at the
    minimum Ethernet frame), or, the speed unknown, the last value was in the
    counter's upper half.  A 64-bit counter never wraps in practice.  A
    counter reset without a reboot (``clear counters``) is quarantined once:
    its new value is the next one's baseline.
``rate_above_speed``
    octet counters do not grow faster than ``speed_bps`` x ``rate_tolerance``
    (SNMP v1/v2c has no integrity check: this is what stops a bit-flipped
    reply from becoming a 400 Gb/s spike).  The last good value stays the
    baseline; two spikes in a row are taken as the new normal (a speed the
    device misreports would otherwise hold its counters back for ever).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

import msgspec

from bus.api import Producer
from bus.datasets import DATASETS, NON_NEGATIVE_SUFFIXES, validate
from bus.records import (
    RECORD_ID_HEADER,
    CycleComplete,
    Quarantined,
    Record,
    RecordError,
    encode,
    record_id,
)
from bus.spool import Spool
from bus.topics import quarantine_topic
from collectors.cycle import Sink
from collectors.journal import CycleJournal
from collectors.settings import QualitySettings

log = logging.getLogger(__name__)

ETHERNET_MIN_FRAME_BITS = 84 * 8  # 64-byte frame + preamble + inter-frame gap

# cumulative counters per dataset; their width when the record says nothing
_IF_HC: tuple[str, ...] = ("in_octets", "out_octets", "in_ucast_pkts", "out_ucast_pkts")
_IF_HC += ("in_multicast_pkts", "out_multicast_pkts", "in_broadcast_pkts", "out_broadcast_pkts")
_IF_32: tuple[str, ...] = ("in_nucast_pkts", "out_nucast_pkts", "in_errors", "out_errors")
_IF_32 += ("in_discards", "out_discards", "in_unknown_protos")
COUNTERS: dict[str, tuple[str, ...]] = {
    "interfaces": _IF_HC + _IF_32,
    "bgp": ("in_updates", "out_updates", "in_total_messages", "out_total_messages"),
}
OCTETS = ("in_octets", "out_octets")


class QuarantineSink(Protocol):
    async def quarantine(self, messages: list[Quarantined]) -> None: ...


class BusQuarantine:
    """Publishes quarantined records on their network's quarantine topic, keyed by
    device; the marker's flush (same producer) makes them durable with the cycle."""

    def __init__(
        self,
        producer: Producer,
        prefix: str,
        *,
        spool: Spool | None = None,
        journal: CycleJournal | None = None,
    ) -> None:
        self.producer = producer
        self.prefix = prefix
        self.spool = spool  # with one, quarantined records wait there like the others
        self.journal = journal  # counts noted as the Publisher's (collectors.publish)
        self._known: set[str] = set()

    async def quarantine(self, messages: list[Quarantined]) -> None:
        journal = self.journal if messages else None
        if self.spool is not None:
            note = None
            if journal is not None:
                note = journal.sent_op(messages[0].cycle_id, messages[0].device, 0, len(messages))
            await self.spool.append(
                [
                    (
                        quarantine_topic(self.prefix, q.network),
                        q.device.encode(),
                        encode(q),
                        [(RECORD_ID_HEADER, record_id(q).encode())],
                    )
                    for q in messages
                ],
                note,
            )
            return
        for q in messages:
            topic = quarantine_topic(self.prefix, q.network)
            if topic not in self._known:
                await self.producer.ensure_topic(topic)
                self._known.add(topic)
            await self.producer.send(
                topic,
                encode(q),
                key=q.device.encode(),
                headers=[(RECORD_ID_HEADER, record_id(q).encode())],
            )
        if journal is not None:
            q = messages[0]
            await journal.sent_after_flush(self.producer, q.cycle_id, q.device, 0, len(messages))


class DryRunQuarantine:
    """``--dry-run``: each quarantined record as one JSON line (``"kind":"quarantined"``)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    async def quarantine(self, messages: list[Quarantined]) -> None:
        self.out.write("".join(encode(q).decode() + "\n" for q in messages))
        self.out.flush()


@dataclass
class _Seen:
    """The last accepted counters of one device's one identity (interface, peer)."""

    at_ms: int
    uptime_ms: int | None
    counters: dict[str, int]
    spikes: int = 0


@dataclass
class _Verdict:
    rule: str
    reason: str


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass
class QualityGate:
    """Checks records before ``sink`` publishes them; refused ones go to ``quarantine``."""

    sink: Sink
    quarantine: QuarantineSink
    settings: QualitySettings = field(default_factory=QualitySettings)
    clock: Callable[[], float] = time.time
    quarantined: dict[str, int] = field(default_factory=dict)  # "<network>/<device>" -> count
    _seen: dict[tuple[str, ...], _Seen] = field(default_factory=dict)
    _per_cycle: dict[str, int] = field(default_factory=dict)

    async def publish(self, records: list[Record]) -> None:
        good: list[Record] = []
        bad: list[Quarantined] = []
        for rec in records:
            verdict = self.check(rec)
            if verdict is None:
                good.append(rec)
                continue
            bad.append(
                Quarantined(
                    network=rec.network,
                    device=rec.device,
                    dataset=rec.dataset,
                    cycle_id=rec.cycle_id,
                    rule=verdict.rule,
                    reason=verdict.reason,
                    record=rec,
                )
            )
            who = f"{rec.network}/{rec.device}"
            self.quarantined[who] = self.quarantined.get(who, 0) + 1
            self._per_cycle[rec.cycle_id] = self._per_cycle.get(rec.cycle_id, 0) + 1
            log.warning("%s %s quarantined: %s: %s", who, rec.dataset, verdict.rule, verdict.reason)
        try:
            if bad:
                await self.quarantine.quarantine(bad)
            if good:
                await self.sink.publish(good)
        except BaseException:
            # the cycle counts none of this batch (the device failed): neither do we
            for q in bad:
                self._per_cycle[q.cycle_id] -= 1
            raise

    async def complete_cycle(self, marker: CycleComplete) -> CycleComplete:
        n = self._per_cycle.pop(marker.cycle_id, 0)
        if n and not marker.interrupted:  # a cut-short marker's counts come from the journal
            marker = msgspec.structs.replace(
                marker, records=max(0, marker.records - n), quarantined=marker.quarantined + n
            )
        return await self.sink.complete_cycle(marker)

    # -- the rules ---------------------------------------------------------------------

    def check(self, rec: Record) -> _Verdict | None:
        """The first rule ``rec`` breaks, or None; updates the counter baselines."""
        try:
            validate(rec)
        except RecordError as exc:
            return _Verdict("model", str(exc))
        for name, v in rec.fields.items():
            if _is_number(v) and v < 0 and name.endswith(NON_NEGATIVE_SUFFIXES):  # type: ignore[operator]
                return _Verdict("negative", f"{name} is {v}: below 0")
        limit_ms = (self.clock() + self.settings.max_future_skew_s) * 1000
        for name in ("scheduled_unix_ms", "request_unix_ms", "response_unix_ms"):
            at = getattr(rec, name)
            if at > limit_ms:
                ahead = (at - limit_ms) / 1000 + self.settings.max_future_skew_s
                return _Verdict("future_timestamp", f"{name} {at} is {ahead:.1f} s in the future")
        return self._counters(rec)

    def _counters(self, rec: Record) -> _Verdict | None:
        names = COUNTERS.get(rec.dataset)
        if not names:
            return None
        model = DATASETS[rec.dataset]
        ident = tuple(f"{k}={rec.tags[k]}" for k in sorted(model.tag_names()) if k in rec.tags)
        key = (rec.network, rec.device, rec.dataset, *ident)
        now = {n: v for n in names if isinstance(v := rec.fields.get(n), int) and _is_number(v)}
        seen = self._seen.get(key)
        new = _Seen(rec.request_unix_ms, rec.device_uptime_ms, now)
        if (
            seen is None
            or (
                rec.device_uptime_ms is not None
                and seen.uptime_ms is not None
                and rec.device_uptime_ms < seen.uptime_ms
            )  # rebooted: counters start again
            or rec.request_unix_ms <= seen.at_ms
        ):
            self._seen[key] = new
            return None
        dt_s = (rec.request_unix_ms - seen.at_ms) / 1000
        speed = rec.fields.get("speed_bps")
        speed_bps = speed if isinstance(speed, int) and speed > 0 else None
        bits = rec.fields.get("counter_bits")
        for n, v in now.items():
            old = seen.counters.get(n)
            if old is None:
                continue
            per_s = None
            if speed_bps is not None and rec.dataset == "interfaces":
                per_s = speed_bps / 8 if n in OCTETS else speed_bps / ETHERNET_MIN_FRAME_BITS
            width = 64 if bits == 64 and n in _IF_HC else 32
            if v < old:
                if width == 32 and self._wrap_ok(old, v, per_s, dt_s):
                    continue
                self._seen[key] = new  # a reset: quarantined once, then the new baseline
                return _Verdict(
                    "counter_backwards",
                    f"{n} went from {old} to {v} ({width}-bit) in {dt_s:.1f} s "
                    "without a reboot (uptime did not go down)",
                )
            if n in OCTETS and per_s is not None:
                rate_bps = (v - old) * 8 / dt_s
                if rate_bps > speed_bps * self.settings.rate_tolerance:  # type: ignore[operator]
                    seen.spikes += 1
                    if seen.spikes >= 2:  # twice in a row: the new normal
                        self._seen[key] = new
                    return _Verdict(
                        "rate_above_speed",
                        f"{n} grew {v - old} in {dt_s:.1f} s: {rate_bps:.3g} b/s, "
                        f"above speed_bps {speed_bps}",
                    )
        self._seen[key] = new
        return None

    def _wrap_ok(self, old: int, new: int, per_s: float | None, dt_s: float) -> bool:
        """Whether a 32-bit counter going from ``old`` to ``new`` is a wrap."""
        if old >= 2**32:
            return False
        if per_s is None:
            return old >= 2**31
        return new + 2**32 - old <= per_s * dt_s * self.settings.rate_tolerance
