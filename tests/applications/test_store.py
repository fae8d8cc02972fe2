"""The store application: Parquet + DuckDB views on both backends (exactly
the records sent, duplicates invisible), and PostgreSQL holding exactly what
was sent after the sink is SIGKILLed mid-stream and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from applications.api import AppSettings
from applications.runner import AppRunner
from applications.store import Store, StoreSettings
from bus.settings import BusSettings
from tests.support.apps import ROOT, Burst, stop_all, wait_exit
from tests.support.postgres import fresh_database, rows


async def run_until_idle(app: Store, bus: BusSettings, cycles: int, group: str) -> None:
    async with AppRunner(app, bus, instance_id=group) as runner:
        end = time.monotonic() + 60
        while runner.cycles < cycles:
            assert time.monotonic() < end, f"only {runner.cycles} of {cycles} cycles stored"
            await runner.step(timeout_ms=200)


async def test_parquet_store_views_hold_exactly_the_records_sent(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    sent = await Burst(any_bus, devices=5, interfaces=3)(cycles=3)
    path = tmp_path / "store"
    settings = StoreSettings(networks=["grp"], datasets=["interfaces"], path=path, group="s1")
    await run_until_idle(Store(settings), any_bus, cycles=3, group="s1")
    # a second group writes every cycle again: what re-delivery after a crash does
    again = settings.model_copy(update={"group": "s2"})
    await run_until_idle(Store(again), any_bus, cycles=3, group="s2")
    files = list((path / "parquet" / "interfaces").rglob("*.parquet"))
    assert len(files) == 6  # three cycles, twice
    with duckdb.connect(str(path / "netfeed.duckdb"), read_only=True) as con:
        got = con.execute("select record_id, network, date from interfaces").fetchall()
        cycles = con.execute("select cycle_id, records from cycles order by cycle_id").fetchall()
    assert sorted(r[0] for r in got) == sorted(sent)
    assert {(r[1], str(r[2])) for r in got} == {("grp", "1970-01-01")}  # Burst ticks at 1, 2, 3 ms
    assert [c[1] for c in cycles] == [15, 15, 15]  # one row per cycle, not per copy
    # pandas reads the same folder with its partitions
    frame = pd.read_parquet(path / "parquet" / "interfaces")
    assert set(frame["record_id"]) == sent and len(frame) == 2 * len(sent)
    assert str(frame["in_octets"].dtype) == "Int64"


def _config(tmp: Path, bus: BusSettings, dsn_file: Path) -> Path:
    cfg = tmp / "cfg"
    cfg.mkdir(exist_ok=True)
    store = {"networks": ["grp"], "datasets": ["interfaces"], "target": "postgres"}
    store["dsn_file"] = str(dsn_file)  # type: ignore[assignment]
    (cfg / "netfeed.yaml").write_text(
        yaml.safe_dump({"bus": bus.model_dump(mode="json"), "applications": {"store": store}})
    )
    return cfg


def _start(cfg: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "netfeed.cli", "app", "run", "store", "--config", str(cfg),
         "--instance", name, "--duration", "240"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(cfg / f"{name}.stderr").open("ab"),
    )  # fmt: skip


async def test_postgres_store_holds_exactly_what_was_sent_after_a_crash(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    dsn_file = fresh_database(tmp_path)
    cfg = _config(tmp_path, any_bus, dsn_file)
    burst = Burst(any_bus, devices=10, interfaces=5)
    sent = await burst(cycles=2)
    first = _start(cfg, "first")
    try:
        end = time.monotonic() + 60
        stored = 0
        while stored == 0:  # some stored, more still coming: then kill it
            assert first.poll() is None, (cfg / "first.stderr").read_text()[-2000:]
            assert time.monotonic() < end, "nothing stored"
            sent |= await burst(cycles=1)
            await asyncio.sleep(0.3)
            try:
                stored = rows(dsn_file, "select count(*) from interfaces")[0][0]  # type: ignore[assignment]
            except Exception:  # the table does not exist yet
                stored = 0
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        for _ in range(3):
            sent |= await burst(cycles=1)
        second = _start(cfg, "second")
        end = time.monotonic() + 90
        while rows(dsn_file, "select count(*) from interfaces")[0][0] < len(sent):
            assert second.poll() is None, (cfg / "second.stderr").read_text()[-2000:]
            assert time.monotonic() < end, "the restarted store never caught up"
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # anything more would show now
        second.terminate()
        assert await wait_exit(second, 30) == 0
    finally:
        stop_all([first])
    ids = [r[0] for r in rows(dsn_file, "select record_id from interfaces")]
    assert len(ids) == len(set(ids)) and set(ids) == sent
    markers = rows(dsn_file, "select count(*), sum(records) from cycles")
    assert markers == [(burst.cycle, len(sent))]
    typed = rows(dsn_file, "select in_octets + 1, device from interfaces limit 1")
    assert isinstance(typed[0][0], int)


async def test_a_bad_dsn_is_a_clear_error_without_the_password(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    dsn_file = tmp_path / "bad.dsn"
    dsn_file.write_text("postgresql://netfeed:s3cret-pw@127.0.0.1:1/nowhere")
    cfg = _config(tmp_path, any_bus, dsn_file)
    await Burst(any_bus)(cycles=1)
    proc = _start(cfg, "bad")
    assert await wait_exit(proc, 60) == 1
    err = (cfg / "bad.stderr").read_text()
    assert "store: PostgreSQL 127.0.0.1:1/nowhere: cannot connect" in err
    assert "s3cret-pw" not in err and "Traceback" not in err


def test_postgres_target_needs_exactly_one_dsn_source() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="exactly one of dsn_env and dsn_file"):
        StoreSettings(target="postgres")
    assert AppSettings  # (the base the store's settings extend)
