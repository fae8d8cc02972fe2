"""A real `netfeed collect` killed with SIGKILL mid-cycle: the next start publishes
that cycle's marker marked ``interrupted``, after the records that got out, with
honest counts; on the embedded bus and on Kafka (through the spool)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import yaml

from bus.api import BusMessage
from bus.factory import make_consumer
from bus.records import RECORD_ID_HEADER, CycleComplete, Record, decode
from bus.settings import BusSettings
from bus.spool import SpoolStore
from bus.spool_store import unpack_body
from collectors.journal import KILLED
from netfeed.simulator.network import SimulatedNetwork
from tests.conftest import bus_for
from tests.support.pipeline import write_network

ROOT = Path(__file__).resolve().parents[2]
INTERVAL_S = 10
DOWN = "127.0.0.1:1"  # nothing listens there: a broker that is down


def write_config(tmp: Path, bus: BusSettings, bootstrap: str = "") -> Path:
    """netfeed.yaml for ``bus`` (Kafka at ``bootstrap`` if given); returns where the
    collector keeps its journal."""
    section: dict[str, object] = {"topic_prefix": bus.topic_prefix}
    if bus.backend == "kafka":
        boot = bootstrap or bus.kafka.bootstrap_servers
        section |= {
            "backend": "kafka",
            "kafka": {"bootstrap_servers": boot, "partitions": 3, "request_timeout_ms": 3000},
            "spool": {"path": "spool", "stop_timeout_ms": 5000},
        }
        journal = tmp / "spool" / "c1.sqlite3"
    else:
        section |= {
            "backend": "embedded",
            "embedded": {"path": str(bus.embedded.path), "partitions": 3},
        }
        journal = tmp / "state" / "c1.journal.sqlite3"
    (tmp / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {
                "bus": section,
                "collector": {"instance_id": "c1", "state_dir": "state", "stop_grace_s": 0.5},
            }
        )
    )
    return journal


def _ro(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` on ``path``, read-only (the collector writes it meanwhile)."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return list(db.execute(sql))
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        db.close()


def open_cycles(journal: Path) -> list[str]:
    """The cycle ids the journal holds open."""
    return [str(r[0]) for r in _ro(journal, "SELECT cycle_id FROM journal_cycle")]


async def records_out(bus: BusSettings, journal: Path, seen: list[BusMessage]) -> dict[str, int]:
    """cycle id -> records that got out so far (embedded: on the bus, read into
    ``seen``; Kafka with the broker away: waiting in the spool)."""
    out: dict[str, int] = {}
    if bus.backend == "kafka":
        for (body,) in _ro(journal, "SELECT body FROM spool WHERE marker = 0"):
            assert isinstance(body, bytes)
            for _t, _k, value, _h in unpack_body(body):
                m = decode(value)
                out[m.cycle_id] = out.get(m.cycle_id, 0) + 1
        return out
    async with make_consumer(bus, group=None, pattern=r"^.*\.kl\.interfaces$") as c:
        seen[:] = [*await c.getmany(timeout_ms=100)]
    for x in seen:
        m = decode(x.value)
        out[m.cycle_id] = out.get(m.cycle_id, 0) + 1
    return out


async def collect(tmp: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netfeed.cli",
        "collect",
        "--config",
        str(tmp),
        "--dataset",
        "interfaces",
        *args,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "NETFEED_KAFKA_BOOTSTRAP"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_topic(bus: BusSettings, want_markers: int, cid: str) -> list[BusMessage]:
    """Every message of the network's interfaces topic, until ``want_markers``
    markers of ``cid`` were read (at most 60 s)."""
    out: list[BusMessage] = []
    end = time.monotonic() + 60
    async with make_consumer(bus, group=None, pattern=r"^.*\.kl\.interfaces$") as c:
        while time.monotonic() < end:
            out += await c.getmany(timeout_ms=500)
            markers = [
                m
                for m in (decode(x.value) for x in out)
                if isinstance(m, CycleComplete) and m.cycle_id == cid
            ]
            if len(markers) >= want_markers:
                break
    return out


@pytest.mark.parametrize("backend", ["embedded", "kafka"])
async def test_a_cycle_cut_by_sigkill_is_published_cut_short_by_the_next_start(
    backend: str, tmp_path: Path
) -> None:
    bus = bus_for(backend, tmp_path)
    # Kafka: the broker is away during the killed run, so what got out is all still
    # in the spool when it dies; the next run (broker back) must send it first
    journal = write_config(tmp_path, bus, DOWN if backend == "kafka" else "")
    async with SimulatedNetwork("kl", 4, seed=5, base_port=0, n_interfaces=3) as sim:
        ids = [d.device_id for d in sim.devices]
        slow = ids[2:]
        for d in slow:  # each reply 8 s late: their cycle is still running when killed
            sim.set_fault(d, "slow", delay_ms=8000)
        path = write_network(
            tmp_path,
            "kl",
            [{"id": d, "port": sim.port(d), "community": "public"} for d in ids],
            timeout_s=10,
            retries=0,
        )
        path.write_text(
            path.read_text()
            + f"datasets: {{interfaces: {{interval_s: {INTERVAL_S}}}}}\n"
            + "collection: {spread: 0}\n"
        )
        proc = await collect(tmp_path)
        try:
            # wait (bounded) until a cycle is open with the two fast devices' records out
            end = time.monotonic() + 4 * INTERVAL_S + 30
            cut: list[str] = []
            seen: list[BusMessage] = []
            while time.monotonic() < end and proc.returncode is None:
                out = await records_out(bus, journal, seen)
                cut = [c for c in open_cycles(journal) if out.get(c, 0) >= 6]
                if cut:
                    break
                await asyncio.sleep(0.05)
            assert cut, f"no cycle open with records out; exit {proc.returncode}"
        finally:
            proc.send_signal(signal.SIGKILL)
            _, err1 = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == -signal.SIGKILL
        if backend == "kafka":  # what got out is still in the spool, not on the broker
            store = SpoolStore(journal, 1 << 30)
            store.open()
            assert store.depth > 0
            store.close()
        [cid] = cut
        assert "kl interfaces: 4/4" not in err1.decode()  # no cycle of it finished

        # the next start publishes the cut-short marker before anything else (Kafka:
        # the broker still away, so it must go into the spool, after the records)
        proc = await collect(tmp_path, "--duration", "1")
        _, err2 = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, err2.decode()
        assert "cut short" in err2.decode(), err2.decode()
        assert cid not in open_cycles(journal)  # closed once published
        if backend == "kafka":
            kinds = []
            for marker, body in _ro(journal, "SELECT marker, body FROM spool ORDER BY seq"):
                assert isinstance(body, bytes)
                for _t, _k, value, _h in unpack_body(body):
                    if (m := decode(value)).cycle_id == cid:
                        kinds.append("m" if marker else "r")
            assert kinds == ["r"] * 6 + ["m"], kinds
            # the broker is back: the third run sends the spool, in order
            write_config(tmp_path, bus)
            proc = await collect(tmp_path, "--duration", "1")
            _, err3 = await asyncio.wait_for(proc.communicate(), 90)
            assert proc.returncode == 0, err3.decode()

    parts = 3
    seen = await read_topic(bus, parts, cid)
    unique: dict[bytes, BusMessage] = {}
    for x in seen:  # at least once: drop duplicates by id, as consumers do
        unique.setdefault(dict(x.headers)[RECORD_ID_HEADER], x)
    msgs = [(x.partition, decode(x.value)) for x in unique.values()]
    records = [m for _, m in msgs if isinstance(m, Record) and m.cycle_id == cid]
    markers = [m for _, m in msgs if isinstance(m, CycleComplete) and m.cycle_id == cid]
    assert len(markers) == parts, [m for m in markers]
    m = markers[0]
    assert {x.interrupted for x in markers} == {KILLED}
    assert {r.device for r in records} == set(ids[:2])  # the fast devices' records got out
    assert m.records == len(records) > 0
    assert (m.devices_planned, m.devices_ok, m.devices_failed) == (4, 2, 2)
    assert {d: m.failures[d] for d in slow} == {d: f"interrupted: {KILLED}" for d in slow}
    assert m.scheduled_unix_ms % (INTERVAL_S * 1000) == 0
    assert cid == f"kl:interfaces:{m.scheduled_unix_ms}"
    # per partition, in the order read: the cycle's records, then its marker
    for p in range(parts):
        kinds = [
            "m" if isinstance(x, CycleComplete) else "r"
            for q, x in ((x.partition, decode(x.value)) for x in seen)
            if q == p and x.cycle_id == cid
        ]
        assert "m" in kinds and "r" not in kinds[kinds.index("m") :], (p, kinds)
    print(json.dumps({"backend": backend, "records": m.records, "ok": m.devices_ok}))


async def test_a_journal_that_cannot_be_opened_is_a_plain_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    (tmp_path / "netfeed.yaml").write_text(
        yaml.safe_dump(
            {
                "bus": {"backend": "embedded", "embedded": {"path": "bus.sqlite3"}},
                "collector": {"instance_id": "c1", "state_dir": "taken/state"},
            }
        )
    )
    write_network(tmp_path, "kl", [{"id": "r1", "port": 9, "community": "public"}])
    proc = await collect(tmp_path, "--once")
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    text = err.decode()
    assert proc.returncode == 1, text
    assert f"cycle journal {tmp_path}/taken/state/c1.journal.sqlite3: cannot open" in text
    assert "Traceback" not in text
