"""The latest cycles read back from the bus (bus/markers.py): markers found
behind tens of thousands of records, instances' parts merged; both backends."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import msgspec
import pytest

from bus.factory import make_producer
from bus.markers import latest_cycles
from bus.records import encode
from bus.settings import BusSettings
from tests.support import messages

BOOTSTRAP = os.environ.get("NETFEED_KAFKA_BOOTSTRAP")


def settings(backend: str, tmp: Path) -> BusSettings:
    prefix = f"mk{uuid.uuid4().hex[:8]}"
    if backend == "kafka":
        if not BOOTSTRAP:
            pytest.skip("NETFEED_KAFKA_BOOTSTRAP not set")
        return BusSettings.model_validate(
            {"backend": "kafka", "topic_prefix": prefix, "kafka": {"bootstrap_servers": BOOTSTRAP}}
        )
    return BusSettings.model_validate(
        {"backend": "embedded", "topic_prefix": prefix, "embedded": {"path": str(tmp / "b.db")}}
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["embedded", "kafka"])
async def test_markers_far_behind_the_end_are_found_and_parts_merged(
    tmp_path: Path, backend: str
) -> None:
    bus = settings(backend, tmp_path)
    topic = f"{bus.topic_prefix}.n.interfaces"
    filler = b'{"kind":"record","filler":"' + b"x" * 200 + b'"}'
    async with make_producer(bus) as producer:
        await producer.ensure_topic(topic)
        for cycle in (1000, 2000, 3000):
            for who, shards in (("a", [0, 1]), ("b", [2, 3])):
                m = msgspec.structs.replace(
                    messages.marker(cycle, 10, devices=2),
                    collector=who,
                    shards=shards,
                    shards_total=4,
                )
                await producer.send(topic, encode(m), partition=0)
            for _ in range(30_000 if cycle < 3000 else 45_000):  # the next cycle's records
                await producer.send(topic, filler, partition=0)
        await producer.flush()
    found = await latest_cycles(bus, per_dataset=3)
    cycles = found[("n", "interfaces")]
    assert [c.marker.scheduled_unix_ms for c in cycles] == [3000, 2000, 1000]
    for c in cycles:
        assert c.complete and c.instances == 2
        assert (c.marker.devices_ok, c.marker.records, c.marker.collector) == (4, 20, "a,b")
    (newest,) = (await latest_cycles(bus, per_dataset=1))[("n", "interfaces")]
    assert newest.marker.scheduled_unix_ms == 3000
