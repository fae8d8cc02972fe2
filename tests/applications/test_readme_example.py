"""The README's "Writing an application" example, run as written: its code
block becomes a module, loaded by ``module:Class`` and run by the real
runner on the embedded bus over health records of one cycle."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from applications.registry import ApplicationRegistry
from applications.runner import AppRunner
from bus.factory import make_producer
from bus.records import CycleComplete, Provenance, Record
from bus.settings import BusSettings
from collectors.publish import Publisher
from tests.conftest import bus_for

README = Path(__file__).resolve().parents[2] / "README.md"


def example_code() -> str:
    text = README.read_text()
    section = text[text.index("### Writing an application") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def cpu(device: str, index: str, pct: float) -> Record:
    return Record(
        network="lab-a", device=device, profile="generic", dataset="health",
        cycle_id="lab-a:health:60000", scheduled_unix_ms=60_000, request_unix_ms=60_000,
        response_unix_ms=60_000, provenance=Provenance(protocol="snmpv2c", collector_version="t"),
        tags={"component_kind": "cpu", "component_index": index, "component": f"cpu{index}"},
        fields={"cpu_util_pct": pct},
    )  # fmt: skip


async def test_the_readme_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = example_code()
    assert len(code.strip().splitlines()) <= 30, "the README promises a 30-line example"
    (tmp_path / "hotcpu_readme.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = ApplicationRegistry().get("hotcpu_readme:HotCpu")
    app = cls(cls.Settings(networks=["lab-*"], limit_pct=90))  # type: ignore[call-arg]
    bus: BusSettings = bus_for("embedded", tmp_path)
    recs = [cpu("r1", "1", 95.0), cpu("r1", "2", 20.0), cpu("r2", "1", 99.5)]
    async with make_producer(bus, client_id="t") as producer:
        pub = Publisher(producer, bus.topic_prefix)
        await pub.publish(recs)
        await pub.complete_cycle(
            CycleComplete(
                network="lab-a", dataset="health", cycle_id="lab-a:health:60000",
                scheduled_unix_ms=60_000, started_unix_ms=0, finished_unix_ms=1, duration_ms=1,
                devices_planned=2, devices_ok=2, devices_failed=0, devices_timed_out=0, records=3,
            )
        )  # fmt: skip
    async with AppRunner(app, bus, instance_id="readme") as runner:
        end = time.monotonic() + 30
        while runner.cycles < 1:
            assert time.monotonic() < end
            await runner.step(timeout_ms=200)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "lab-a lab-a:health:60000: 2 of 3 CPUs above 90.0 %",
        "  r1 cpu1 95 %",
        "  r2 cpu1 100 %",
    ]
    assert "hotcpu_readme" in sys.modules
