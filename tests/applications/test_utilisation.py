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
