"""The latest poll cycles of every network, read back from the bus alone.

A collector sends each cycle's :class:`~bus.records.CycleComplete` marker to
every partition of its dataset topic, so partition 0 of a topic holds every
marker.  :func:`latest_cycles` reads partition 0 of each dataset topic
backwards from its end, in windows growing fourfold (20,000 messages, then
80,000, ...) until the newest ``per_dataset`` cycles are there or
``max_scan`` messages were read (a big network's cycle puts tens of
thousands of records on a partition between two markers), keeps the
markers, merges the parts of one cycle that several instances published
(:func:`bus.records.merge_markers`) and returns the newest cycles per
network and dataset, newest first.  On the embedded bus the markers are
picked out by SQLite without reading the records.

Read-only on both backends: no consumer group is joined, nothing committed;
the embedded bus file is opened read-only.  A bus that cannot be read is a
:class:`~bus.api.BusError` naming it.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bus.api import BusError
from bus.records import CycleComplete, RecordError, covers_all, decode, merge_markers
from bus.settings import BusSettings


@dataclass
class Cycle:
    """One cycle as its markers tell it: merged, and whether every shard reported."""

    marker: CycleComplete
    complete: bool
    instances: int


def _dataset_topic(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}\.([A-Za-z0-9][\w-]*)\.([A-Za-z0-9][\w-]*)$")


def _group(raw: list[CycleComplete], per_dataset: int) -> dict[tuple[str, str], list[Cycle]]:
    parts: dict[tuple[str, str], dict[str, list[CycleComplete]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for m in raw:
        parts[(m.network, m.dataset)][m.cycle_id].append(m)
    out: dict[tuple[str, str], list[Cycle]] = {}
    for key, cycles in parts.items():
        newest = sorted(cycles.values(), key=lambda ms: -ms[0].scheduled_unix_ms)[:per_dataset]
        out[key] = [
            Cycle(
                merge_markers(ms), covers_all(ms), len({(m.collector, tuple(m.shards)) for m in ms})
            )
            for ms in newest
        ]
    return out


def _decode_markers(values: list[bytes]) -> list[CycleComplete]:
    out = []
    for v in values:
        if b'"cycle_complete"' not in v:
            continue
        try:
            m = decode(v)
        except RecordError:
            continue
        if isinstance(m, CycleComplete):
            out.append(m)
    return out


async def latest_cycles(
    settings: BusSettings, *, per_dataset: int = 5, max_scan: int = 2_000_000
) -> dict[tuple[str, str], list[Cycle]]:
    """(network, dataset) -> its newest cycles (at most ``per_dataset``), newest first."""
    if settings.backend == "kafka":
        raw = await _kafka_markers(settings, per_dataset, max_scan)
    else:
        raw = await asyncio.to_thread(_embedded_markers, settings, per_dataset)
    return _group(raw, per_dataset)


# a cycle has one marker per instance sharing the network: ask for room for many
_MARKERS_PER_CYCLE = 64


def _embedded_markers(settings: BusSettings, per_dataset: int) -> list[CycleComplete]:
    path = settings.embedded.path
    if not path.exists():
        raise BusError(f"embedded bus {path}: no such file")
    topic = _dataset_topic(settings.topic_prefix)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise BusError(f"embedded bus {path}: {exc}") from None
    try:
        values: list[bytes] = []
        for tid, name in conn.execute("SELECT id, name FROM topics"):
            if not topic.match(name):
                continue
            values += [
                bytes(v)
                for (v,) in conn.execute(
                    "SELECT value FROM messages WHERE topic_id = ? AND part = 0 "
                    "AND instr(value, ?) > 0 ORDER BY off DESC LIMIT ?",
                    (tid, _MARKER_TAG, per_dataset * _MARKERS_PER_CYCLE),
                )
            ]
        return _decode_markers(values)
    except sqlite3.Error as exc:
        raise BusError(f"embedded bus {path}: {exc}") from None
    finally:
        conn.close()


_MARKER_TAG = b'"cycle_complete"'


def _enough(values: list[bytes], per_dataset: int) -> bool:
    return len({m.cycle_id for m in _decode_markers(values)}) > per_dataset


async def _kafka_markers(
    settings: BusSettings, per_dataset: int, max_scan: int
) -> list[CycleComplete]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.errors import KafkaError

    from bus.kafka_connect import _client_kwargs, _start_bounded

    k = settings.kafka
    topic = _dataset_topic(settings.topic_prefix)
    consumer: AIOKafkaConsumer = await _start_bounded(
        lambda: AIOKafkaConsumer(
            **_client_kwargs(k, "netfeed-status"), group_id=None, enable_auto_commit=False
        ),
        k,
        "consumer",
    )
    try:
        async with asyncio.timeout(k.request_timeout_ms / 1000 * 3):
            names = sorted(t for t in await consumer.topics() if topic.match(t))
            tps = [TopicPartition(t, 0) for t in names]
            if not tps:
                return []
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
        values: list[bytes] = []
        for tp in tps:
            values += await _tail_markers(consumer, tp, starts[tp], ends[tp], per_dataset, max_scan)
        return _decode_markers(values)
    except TimeoutError:
        raise BusError(f"kafka {k.bootstrap_servers}: cycle markers not read in time") from None
    except KafkaError as exc:
        raise BusError(f"kafka {k.bootstrap_servers}: cycle markers: {exc}") from None
    finally:
        await consumer.stop()


async def _tail_markers(
    consumer: Any, tp: Any, start: int, end: int, per_dataset: int, max_scan: int
) -> list[bytes]:
    """The markers of ``tp`` read backwards from ``end`` in growing windows."""
    found: list[bytes] = []
    upto, window = end, 20_000
    while upto > start and end - upto < max_scan:
        first = max(start, upto - window, end - max_scan)
        consumer.seek(tp, first)
        chunk: list[bytes] = []
        async with asyncio.timeout(60):
            while await consumer.position(tp) < upto:
                got = await consumer.getmany(tp, timeout_ms=1000, max_records=50_000)
                msgs = got.get(tp, [])
                if not msgs:
                    break  # compacted or deleted below upto: nothing more here
                chunk += [
                    m.value for m in msgs if m.offset < upto and m.value and _MARKER_TAG in m.value
                ]
        found = chunk + found
        if _enough(found, per_dataset):
            break
        upto, window = first, window * 4
    return found
