"""What a collector's run put on Kafka, checked against what it says it polled.

:func:`read_bus` reads the ``interfaces`` topics of some networks from the
beginning (no group) and keeps every copy of every record by its
``netfeed-id`` header, the markers by ``(network, tick)`` and partition, and
any record that *first* arrived on its partition after its cycle's marker.
:func:`check_run` asserts, against the collector's own cycle summaries
(:class:`tests.support.collect_proc.CycleLine`), that every expected tick was
polled and delivered exactly once after deduplication, and returns the
figures the fault tests print.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from bus.factory import make_consumer
from bus.records import RECORD_ID_HEADER, CycleComplete, Record, decode, record_id
from bus.settings import BusSettings, KafkaSettings
from bus.topics import topic_name
from tests.support.collect_proc import CycleLine


@dataclass
class Delivered:
    """Everything read so far."""

    copies: dict[str, list[bytes]] = field(default_factory=dict)  # record id -> payloads
    per_cycle: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # -> record ids
    markers: dict[tuple[str, int], dict[int, CycleComplete]] = field(default_factory=dict)
    marker_copies: int = 0
    messages: int = 0
    late: list[str] = field(default_factory=list)  # records first seen after their marker
    bad_ids: list[str] = field(default_factory=list)  # header not the payload's id

    @property
    def duplicates(self) -> int:
        return sum(len(c) - 1 for c in self.copies.values())

    def complete(self, cycles: Mapping[tuple[str, int], CycleLine]) -> bool:
        """Every logged cycle's records and its marker on every partition are in."""
        for key, c in cycles.items():
            parts = self.markers.get(key, {})
            if not parts or len(parts) < next(iter(parts.values())).partitions:
                return False
            if len(self.per_cycle.get(key, ())) < c.records:
                return False
        return True


async def read_bus(
    bootstrap: str,
    prefix: str,
    networks: list[str],
    done: Callable[[Delivered], bool],
    timeout_s: float = 60,
    idle_s: float = 3,
) -> Delivered:
    """Read until ``done`` holds and nothing new came for ``idle_s`` (retries may
    repeat messages), or ``timeout_s`` passed (the caller's checks then fail)."""
    bus = BusSettings(
        backend="kafka", topic_prefix=prefix, kafka=KafkaSettings(bootstrap_servers=bootstrap)
    )
    topics = [topic_name(prefix, n, "interfaces") for n in networks]
    d = Delivered()
    seen_markers: dict[tuple[str, int], set[int]] = {}  # (topic, partition) -> ticks
    async with make_consumer(bus, group=None, topics=topics, client_id="faults-reader") as consumer:
        end = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        while time.monotonic() < end:
            got = await consumer.getmany(timeout_ms=500)
            if not got:
                if done(d) and time.monotonic() - idle_since > idle_s:
                    break
                continue
            idle_since = time.monotonic()
            for m in got:
                d.messages += 1
                x = decode(m.value)
                rid = dict(m.headers)[RECORD_ID_HEADER].decode()
                if rid != record_id(x):  # type: ignore[arg-type]
                    d.bad_ids.append(rid)
                where = seen_markers.setdefault((m.topic, m.partition), set())
                if isinstance(x, CycleComplete):
                    d.marker_copies += 1
                    d.markers.setdefault((x.network, x.scheduled_unix_ms), {})[x.partition] = x
                    where.add(x.scheduled_unix_ms)
                elif isinstance(x, Record):
                    first = rid not in d.copies
                    d.copies.setdefault(rid, []).append(m.value)
                    d.per_cycle.setdefault((x.network, x.scheduled_unix_ms), set()).add(rid)
                    if first and x.scheduled_unix_ms in where:
                        d.late.append(f"{x.cycle_id} {x.device} {x.tags}")
    return d


@dataclass(frozen=True)
class Figures:
    ticks: int  # cycles polled (all networks)
    polled: int  # records the collector says it published
    delivered: int  # distinct records on the bus
    duplicates: int  # copies beyond the first, dropped by the netfeed-id header
    lost: int  # polled, never delivered

    def line(self, name: str) -> str:
        return (
            f"FAULT-FIGURES {name}: ticks={self.ticks} polled={self.polled} "
            f"delivered={self.delivered} duplicates={self.duplicates} lost={self.lost}"
        )


def check_run(
    d: Delivered,
    cycles: Mapping[tuple[str, int], CycleLine],
    expected: Mapping[str, list[int]],
    devices_ok: int,
) -> Figures:
    """Assert that every tick in ``expected`` (network -> ticks) was polled with
    ``devices_ok`` devices ok and not skipped; that every logged cycle's marker
    reached every partition after that cycle's records, with exactly the
    records the collector counted; that copies of one id are the same bytes;
    and that nothing was lost."""
    assert not d.bad_ids, f"{len(d.bad_ids)} messages whose header is not their id"
    assert not d.late, f"records first delivered after their marker: {d.late[:5]}"
    for net, ticks in expected.items():
        missing = [t for t in ticks if (net, t) not in cycles]
        assert not missing, f"{net}: ticks never polled: {missing}"
        for t in ticks:
            assert cycles[(net, t)].ok == devices_ok, cycles[(net, t)]
    assert set(d.markers) == set(cycles), (
        f"markers of cycles not logged: {sorted(set(d.markers) - set(cycles))}; "
        f"cycles without a marker: {sorted(set(cycles) - set(d.markers))}"
    )
    for key, c in cycles.items():
        parts = d.markers[key]
        some = next(iter(parts.values()))
        assert sorted(parts) == list(range(some.partitions)), (key, sorted(parts))
        for m in parts.values():
            assert m.tick_skipped == "", (key, m.tick_skipped)
            assert (m.devices_ok, m.records) == (c.ok, c.records), (key, m, c)
        got = len(d.per_cycle.get(key, ()))
        assert got == c.records, f"{key}: {c.records} records polled, {got} delivered"
    for rid, copies in d.copies.items():
        assert all(c == copies[0] for c in copies), f"{rid}: copies differ"
    polled = sum(c.records for c in cycles.values())
    delivered = len(d.copies)
    return Figures(len(cycles), polled, delivered, d.duplicates, polled - delivered)


def show(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print ``line`` on the terminal even while pytest captures output, so the CI
    log has the figures of passing tests too."""
    with capsys.disabled():
        print(f"\n{line}", flush=True)


def grid(first: int, before: int, step_ms: int) -> list[int]:
    """Ticks ``first``, ``first + step_ms``, ... strictly before ``before``."""
    return list(range(first, before, step_ms))
