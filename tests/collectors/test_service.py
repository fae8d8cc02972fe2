import asyncio

from collectors.config import CollectionSettings, DatasetSchedule, NetworkConfig
from collectors.service import Collector, tick_ms
from collectors.settings import CollectorSettings
from tests.collectors.test_cycle import ListSink, devices
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver


def test_tick_is_on_the_interval_grid() -> None:
    assert tick_ms(DatasetSchedule(interval_s=60), 1_000_061_234) == 1_000_020_000
    assert tick_ms(DatasetSchedule(cron="*/5 * * * *"), 1_000_061_234) == 1_000_020_000


async def test_no_overlapping_cycles_overruns_counted() -> None:
    # every cycle takes ~2.5 s, the interval is 1 s: ticks during a cycle are skipped
    devs = devices(2)
    client = FakeClient({d.id: device_data(1) for d in devs}, delay_s=1.2)
    net = NetworkConfig(
        network="n",
        source=".",
        devices=devs,  # type: ignore[arg-type]
        datasets={"system": DatasetSchedule(interval_s=1)},
        collection=CollectionSettings(spread=0),
    )
    sink = ListSink()
    async with Collector(
        [net], CollectorSettings(instance_id="t"), sink, {"snmp": snmp_driver(client)}
    ) as coll:
        await asyncio.sleep(5.5)
    assert client.max_in_flight <= 2  # one cycle (two devices) at a time, never two cycles
    assert 1 <= len(sink.markers) <= 3
    assert coll.overruns.get("n.system", 0) >= 1
    ticks = [m.scheduled_unix_ms for m in sink.markers]
    assert ticks == sorted(set(ticks)) and all(t % 1000 == 0 for t in ticks)
