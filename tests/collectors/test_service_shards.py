"""A collector sharing its network (collectors/service.py with a shard group):
polls the devices of the shards it is given for each tick, names them on its
marker, publishes nothing for a tick it holds no shard of."""

from __future__ import annotations

from bus.shards import shard_of
from collectors.service import Collector
from collectors.settings import CollectorSettings
from tests.collectors.test_cycle import ListSink, devices
from tests.collectors.test_service import net_of
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver


class Shards:
    """A shard group that gives what the test says, tick by tick."""

    def __init__(self, shards: int, given: list[frozenset[int]]) -> None:
        self.network = "n"
        self.shards = shards
        self.given = list(given)
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def shards_for_tick(
        self, tick_unix_ms: int, wait_until_unix_ms: int | None = None
    ) -> frozenset[int]:
        return self.given.pop(0)

    def owned(self) -> frozenset[int]:
        return self.given[0] if self.given else frozenset()


async def test_each_cycle_polls_the_devices_of_the_shards_held_at_its_tick() -> None:
    devs = devices(40)
    sink = ListSink()
    group = Shards(4, [frozenset({0, 1}), frozenset({2}), frozenset()])
    coll = Collector(
        [net_of(devs, 3600)],
        CollectorSettings(instance_id="a"),
        sink,
        {"snmp": snmp_driver(FakeClient({d.id: device_data(1) for d in devs}))},
        shard_groups={"n": group},
    )
    m1 = await coll.cycle("n", "system", 1_000, spread=0)
    m2 = await coll.cycle("n", "system", 2_000, spread=0)
    m3 = await coll.cycle("n", "system", 3_000, spread=0)
    await coll.stop()
    want1 = {d.id for d in devs if shard_of(d.id, 4) in {0, 1}}
    want2 = {d.id for d in devs if shard_of(d.id, 4) == 2}
    assert want1 and want2
    polled = {
        tick: {r.device for r in sink.records if r.scheduled_unix_ms == tick}
        for tick in (1_000, 2_000, 3_000)
    }
    assert polled == {1_000: want1, 2_000: want2, 3_000: set()}
    assert (m1.shards, m1.shards_total, m1.devices_planned) == ([0, 1], 4, len(want1))
    assert (m2.shards, m2.devices_ok) == ([2], len(want2))
    # no shard held at tick 3000: nothing polled and no marker published
    assert m3.devices_planned == 0 and m3.shards == []
    assert [m.scheduled_unix_ms for m in sink.markers] == [1_000, 2_000]
    assert group.stopped


async def test_start_joins_the_shard_groups_before_the_first_tick() -> None:
    devs = devices(2)
    group = Shards(4, [frozenset({0, 1, 2, 3})] * 5)
    coll = Collector(
        [net_of(devs, 3600)],
        CollectorSettings(instance_id="a"),
        ListSink(),
        {"snmp": snmp_driver(FakeClient({d.id: device_data(1) for d in devs}))},
        shard_groups={"n": group},
    )
    async with coll:
        assert group.started and not group.stopped
    assert group.stopped
