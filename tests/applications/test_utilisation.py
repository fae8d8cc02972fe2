"""interface-utilisation against the simulator over the embedded and Kafka buses:
the rates it computes must match the rates the simulated interfaces really ran at."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pandas as pd
import pytest

from applications.utilisation import InterfaceUtilisation
from applications.utilisation.app import UtilisationSettings
from bus.settings import BusSettings
from netfeed.simulator.network import SimulatedNetwork
from tests.support.pipeline import collect_once, consume_until, runner_for, write_sim_network


async def test_rates_match_the_simulated_traffic_and_top_n_is_reported(
    any_bus: BusSettings, tmp_path: Path
) -> None:
    out = tmp_path / "report.csv"
    async with SimulatedNetwork("util", 3, seed=11, base_port=0, n_interfaces=6) as sim:
        yaml = write_sim_network(
            tmp_path,
            "util",
            sim,
        )
        # a 1 s grid: the two one-shot cycles 2 s apart are two ticks (within one
        # interval they would be one cycle, the second run's rows duplicates)
        yaml.write_text(yaml.read_text() + "datasets: {interfaces: {interval_s: 1}}\n")
        await collect_once(any_bus, yaml, ["interfaces"])
        await asyncio.sleep(2.0)
        [second] = await collect_once(any_bus, yaml, ["interfaces"])

    text = io.StringIO()
    app = InterfaceUtilisation(
        UtilisationSettings(networks=["util"], top_n=5, output=out), out=text
    )
    async with runner_for(app, any_bus) as runner:
        await consume_until(runner, lambda: len(app.reports) >= 2)
    first_report, report = app.reports[0], app.reports[-1]
    assert first_report.empty  # no previous sample: no rates, never made-up ones
    assert len(report) == 5
    assert list(report["util_pct"]) == sorted(report["util_pct"], reverse=True)
    # rates agree with the simulator's own model (the average over the interval)
    for row in report.itertuples():
        dev = sim.device(row.device)
        iface = dev.interface(int(row.if_index))
        t1 = second.started_unix_ms / 1000
        truth = (
            (iface.in_octets_total(t1) - iface.in_octets_total(t1 - row.elapsed_s))
            * 8
            / row.elapsed_s
        )
        assert row.in_bps == pytest.approx(truth, rel=0.10), (row.device, row.if_index)
    printed = text.getvalue()
    assert "== util interfaces cycle" in printed and report.iloc[0]["device"] in printed
    written = pd.read_csv(out)
    assert len(written) == 5 and set(written["network"]) == {"util"}


def _frame(network: str, t_s: int, octets: dict[str, int], speed: int = 10**8) -> pd.DataFrame:
    from applications.frames import cycle_frame
    from bus.records import Provenance, Record

    recs = [
        Record(
            network=network,
            device=dev,
            profile="generic",
            dataset="interfaces",
            cycle_id=f"{network}:interfaces:{t_s * 1000}",
            scheduled_unix_ms=t_s * 1000,
            request_unix_ms=t_s * 1000,
            response_unix_ms=t_s * 1000,
            device_uptime_ms=t_s * 1000,
            provenance=Provenance(protocol="snmpv2c", collector_version="t"),
            tags={"if_index": "1", "if_name": "eth0"},
            fields={"in_octets": n, "out_octets": 0, "counter_bits": 64, "speed_bps": speed},
        )
        for dev, n in octets.items()
    ]
    f = cycle_frame(recs, "interfaces")
    f.attrs["cycle_id"] = f"{network}:interfaces:{t_s * 1000}"
    return f


async def test_top_n_across_networks_in_one_view_and_gaps_span_the_missing_cycle(
    tmp_path: Path,
) -> None:
    app = InterfaceUtilisation(
        UtilisationSettings(top_n=2, output=tmp_path / "u.csv", print_reports=False)
    )
    # 100 Mb/s links; 12.5 MB in 10 s = 10 Mb/s = 10 %
    await app.on_cycle("east", "interfaces", _frame("east", 100, {"e1": 0, "e2": 0}))
    await app.on_cycle("west", "interfaces", _frame("west", 100, {"w1": 0}))
    await app.on_cycle(
        "east", "interfaces", _frame("east", 110, {"e1": 12_500_000, "e2": 50_000_000})
    )
    await app.on_cycle("west", "interfaces", _frame("west", 110, {"w1": 25_000_000}))
    across = app.across
    assert list(across["scope"]) == ["all", "all"]
    assert list(zip(across["network"], across["device"], strict=True)) == [
        ("east", "e2"),
        ("west", "w1"),
    ]
    assert list(across["util_pct"]) == pytest.approx([40.0, 20.0])
    # e1 missing from the next east cycle, back in the one after: its rate
    # spans the 20 s since its last sample, not a made-up gap of zero
    await app.on_cycle("east", "interfaces", _frame("east", 120, {"e2": 50_000_000}))
    await app.on_cycle("east", "interfaces", _frame("east", 130, {"e1": 37_500_000}))
    last = app.reports[-1].set_index("device")
    assert last.loc["e1", "elapsed_s"] == pytest.approx(20)
    assert last.loc["e1", "in_bps"] == pytest.approx(25_000_000 * 8 / 20)
    written = pd.read_csv(tmp_path / "u.csv")
    assert {"east", "west", "all"} <= set(written["scope"])
