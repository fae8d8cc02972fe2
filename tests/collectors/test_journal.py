"""The journal of open cycles: a cycle cut short is published as such, with honest
counts, by the next start; instances keep to their own cycles; the spool's
journal writes share the append's transaction."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from bus.factory import make_consumer, make_producer
from bus.records import CycleComplete, Quarantined, Record, decode
from bus.settings import BusSettings
from bus.spool import SpoolStore
from collectors import journal as jn
from collectors.config import CollectionSettings, DatasetSchedule, Device, NetworkConfig
from collectors.cycle import run_cycle
from collectors.journal import CycleJournal
from collectors.publish import Publisher
from collectors.service import Collector, tick_ms
from collectors.settings import CollectorSettings
from collectors.snmp.base import SnmpTarget, Value
from tests.collectors.test_cycle import devices
from tests.support.fake_snmp import FakeClient, device_data, snmp_driver
from tests.support.messages import marker
from tests.support.pipeline import KeepingPublisher


class SlowSome(FakeClient):
    """Devices in ``slow`` answer after that many seconds, the others at once."""

    def __init__(self, data: dict[str, dict[str, Value]], slow: dict[str, float]) -> None:
        super().__init__(data)
        self.slow = slow

    async def _enter(self, t: SnmpTarget) -> dict[str, Value]:
        await asyncio.sleep(self.slow.get(t.device, 0.0))
        return await super()._enter(t)


def net(devs: list[Device], interval_s: float = 3600) -> NetworkConfig:
    return NetworkConfig(
        network="n",
        source=".",
        devices=devs,  # type: ignore[arg-type]
        datasets={"interfaces": DatasetSchedule(interval_s=interval_s)},
        collection=CollectionSettings(spread=0),
    )


def test_cut_short_counts_what_got_out(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "j.sqlite3", isolation_level=None)
    jn.create(db)
    opened = marker(60_000, 0, devices=5)
    jn.open_op("c1", opened, ["d0", "d1", "d2", "d3", "d4"])(db)
    jn.sent_op("c1", opened.cycle_id, "d0", 3, 0)(db)
    jn.status_op("c1", opened.cycle_id, "d0", "ok", "")(db)
    jn.sent_op("c1", opened.cycle_id, "d1", 2, 1)(db)  # records out, no final word yet
    jn.status_op("c1", opened.cycle_id, "d2", "timed_out", "no answer")(db)
    jn.status_op("c1", opened.cycle_id, "d3", "skipped", "skipped: backing off")(db)
    # another instance's open cycle in the same file is not ours
    jn.open_op("c2", marker(120_000, 0, devices=1), ["x"])(db)

    [m] = jn.cut_short(db, "c1", jn.KILLED)
    assert m.interrupted == jn.KILLED and m.cycle_id == opened.cycle_id
    assert (m.devices_planned, m.devices_ok, m.devices_failed) == (5, 2, 1)
    assert (m.devices_timed_out, m.devices_skipped) == (1, 1)
    assert (m.records, m.quarantined) == (5, 1)
    assert m.failures == {
        "d2": "timed_out: no answer",
        "d3": "skipped: backing off",
        "d4": f"interrupted: {jn.KILLED}",
    }
    assert m.finished_unix_ms >= m.started_unix_ms and m.collector == "c1"
    jn.close_op("c1", opened.cycle_id)(db)
    assert jn.cut_short(db, "c1", jn.KILLED) == []
    assert [x.collector for x in jn.cut_short(db, "c2", jn.KILLED)] == ["c2"]


def test_a_spool_append_and_its_journal_note_are_one_transaction(tmp_path: Path) -> None:
    store = SpoolStore(tmp_path / "c1.sqlite3", 1 << 30)
    store.open()
    store.run(jn.create)
    cid = "n:interfaces:0"
    store.run(jn.open_op("c1", marker(0, 0, devices=2), ["a", "b"]))
    msgs = [("t", b"a", b"v", [])]
    store.append(msgs, False, 1, jn.sent_op("c1", cid, "a", 1, 0))

    def broken(db: sqlite3.Connection) -> None:
        jn.sent_op("c1", cid, "b", 1, 0)(db)
        raise sqlite3.OperationalError("disk full, say")

    with pytest.raises(sqlite3.OperationalError):
        store.append(msgs, False, 2, broken)
    store.close()
    store = SpoolStore(tmp_path / "c1.sqlite3", 1 << 30)
    store.open()  # as the next start reads it
    assert store.depth == 1  # b's chunk was rolled back with its note
    got: list[list[CycleComplete]] = []
    store.run(lambda db: got.append(jn.cut_short(db, "c1", jn.KILLED)))
    store.close()
    assert got[0][0].records == 1 and got[0][0].devices_ok == 1


async def _kill_mid_cycle(
    tmp_path: Path, bus: BusSettings, instance: str, tick: int = 60_000
) -> None:
    """One cycle of 4 devices, 2 of them slow, cut (as by SIGKILL: nothing after
    it runs) once the 2 fast ones' records are out."""
    devs = devices(4)
    client = SlowSome({d.id: device_data(3) for d in devs}, {"d2": 30, "d3": 30})
    journal = CycleJournal(instance, path=tmp_path / f"{instance}.journal.sqlite3")
    await journal.start()
    async with make_producer(bus, client_id="kill") as producer:
        task = asyncio.ensure_future(
            run_cycle(
                network="n",
                dataset="interfaces",
                devices=devs,
                driver=snmp_driver(client),
                sink=Publisher(producer, bus.topic_prefix, journal=journal),
                limits=[asyncio.Semaphore(10)],
                scheduled_unix_ms=tick,
                collector=instance,
                journal=journal,
            )
        )
        async with asyncio.timeout(20):
            while not (m := await journal.cut_short()) or m[0].records < 6:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        task.cancel()  # the process dies here: no marker, no journal close
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await journal.stop()


async def _read_all(bus: BusSettings) -> list[tuple[int, Record | CycleComplete]]:
    """(partition, message) of every message on n's interfaces topic, in order per partition."""
    out: list[tuple[int, Record | CycleComplete]] = []
    async with make_consumer(bus, group=None, pattern=r"^.*\.n\.interfaces$") as c:
        for _ in range(20):  # bounded: 20 polls of at most 0.3 s
            got = await c.getmany(timeout_ms=300)
            for x in got:
                m = decode(x.value)
                assert not isinstance(m, Quarantined)
                out.append((x.partition, m))
            if not got and out:
                break
    return out


async def test_the_next_start_publishes_the_cut_short_marker_after_its_records(
    tmp_path: Path,
) -> None:
    bus = BusSettings.model_validate({"embedded": {"path": str(tmp_path / "bus.sqlite3")}})
    await _kill_mid_cycle(tmp_path, bus, "c1")
    # another instance starting on the same state folder closes nothing of c1's
    other = CycleJournal("c2", path=tmp_path / "c1.journal.sqlite3")
    await other.start()
    assert await other.cut_short() == []
    await other.stop()

    journal = CycleJournal("c1", path=tmp_path / "c1.journal.sqlite3")
    await journal.start()
    async with make_producer(bus, client_id="restart") as producer:
        pub = Publisher(producer, bus.topic_prefix, journal=journal)
        coll = Collector(
            [net(devices(4))],
            CollectorSettings(instance_id="c1"),
            pub,
            {"snmp": snmp_driver(None)},
            journal=journal,
        )
        [m] = await coll.close_cut_short()
        assert await journal.cut_short() == []  # closed once published
        assert await coll.close_cut_short() == []
    await journal.stop()
    assert m.interrupted == jn.KILLED and m.scheduled_unix_ms == 60_000
    assert (m.devices_planned, m.devices_ok, m.devices_failed, m.records) == (4, 2, 2, 6)
    assert set(m.failures) == {"d2", "d3"}
    seen = await _read_all(bus)
    records = [x for _, x in seen if isinstance(x, Record)]
    markers = [x for _, x in seen if isinstance(x, CycleComplete)]
    assert len(records) == 6 and {r.device for r in records} == {"d0", "d1"}
    assert markers and all(x.interrupted == jn.KILLED and x.records == 6 for x in markers)
    assert len(markers) == markers[0].partitions
    # on each partition, the marker comes after every record of the cycle
    for p in {p for p, _ in seen}:
        kinds = [isinstance(x, CycleComplete) for q, x in seen if q == p]
        assert kinds[-1] and kinds.count(True) == 1


async def test_a_cycle_cut_by_the_stop_grace_gets_its_marker(tmp_path: Path) -> None:
    devs = devices(3)
    client = SlowSome({d.id: device_data(2) for d in devs}, {"d2": 30})
    bus = BusSettings.model_validate({"embedded": {"path": str(tmp_path / "bus.sqlite3")}})
    journal = CycleJournal("g", path=tmp_path / "g.journal.sqlite3")
    await journal.start()
    async with make_producer(bus, client_id="grace") as producer:
        sink = KeepingPublisher(producer, bus.topic_prefix, journal=journal)
        coll = Collector(
            [net(devs)],
            CollectorSettings(instance_id="g", stop_grace_s=0.5),
            sink,
            {"snmp": snmp_driver(client)},
            journal=journal,
        )
        cycle = asyncio.ensure_future(coll.cycle("n", "interfaces", 0))
        async with asyncio.timeout(20):
            while len(sink.sent) < 4:  # noqa: ASYNC110  (d0 and d1 answered)
                await asyncio.sleep(0.05)
        await coll.stop()
        assert cycle.cancelled()
        assert await journal.cut_short() == []  # closed: the next start publishes it no more
    await journal.stop()
    markers = [x for _, x in await _read_all(bus) if isinstance(x, CycleComplete)]
    m = markers[0]
    assert len(markers) == m.partitions and {x.interrupted for x in markers} == {jn.GRACE}
    assert (m.devices_ok, m.devices_failed, m.records) == (2, 1, len(sink.sent))
    assert m.failures == {"d2": f"interrupted: {jn.GRACE}"}


async def test_once_in_the_tick_of_the_killed_cycle_polls_it_again(tmp_path: Path) -> None:
    bus = BusSettings.model_validate({"embedded": {"path": str(tmp_path / "bus.sqlite3")}})
    tick = tick_ms(DatasetSchedule(interval_s=3600))
    await _kill_mid_cycle(tmp_path, bus, "c1", tick)
    journal = CycleJournal("c1", path=tmp_path / "c1.journal.sqlite3")
    await journal.start()
    devs = devices(4)
    async with make_producer(bus, client_id="again") as producer:
        coll = Collector(
            [net(devs)],
            CollectorSettings(instance_id="c1"),
            Publisher(producer, bus.topic_prefix, journal=journal),
            {"snmp": snmp_driver(FakeClient({d.id: device_data(3) for d in devs}))},
            journal=journal,
        )
        [m] = await coll.run_once()
        await coll.stop()
        assert await journal.cut_short() == []
    await journal.stop()
    if m.scheduled_unix_ms != tick:
        pytest.skip("ran across an hour boundary")
    assert not m.interrupted and (m.devices_ok, m.records) == (4, 12)
    markers = [x for _, x in await _read_all(bus) if isinstance(x, CycleComplete)]
    assert {x.cycle_id for x in markers} == {m.cycle_id} and not any(x.interrupted for x in markers)
