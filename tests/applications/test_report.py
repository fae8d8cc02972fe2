"""The HTML report from a store written by the store application's own
writer: right busiest interface and utilisation, no spike from a 32-bit
wrap or a reboot, the BGP flap, the failing device's availability, decodable
non-blank plots, and the network and time filters."""

from __future__ import annotations

import argparse
import base64
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from applications.frames import cycle_frame
from applications.report.build import build_report
from applications.report.cli import run
from applications.store.parquet import ParquetStore
from bus.records import CycleComplete, Provenance, Record

T0 = 1_764_028_800  # 2025-11-25 00:00 UTC
STEP = 60
SPEED = 100_000_000


def rec(
    net: str, dev: str, ds: str, k: int, tags: dict[str, str], up_s: int, **f: object
) -> Record:
    t = (T0 + k * STEP) * 1000
    return Record(
        network=net,
        device=dev,
        profile="generic",
        dataset=ds,
        cycle_id=f"{net}:{ds}:{t}",
        scheduled_unix_ms=t,
        request_unix_ms=t,
        response_unix_ms=t,
        device_uptime_ms=up_s * 1000,
        provenance=Provenance(protocol="snmpv2c", collector_version="t"),
        tags=tags,
        fields=f,
    )


def marker(net: str, ds: str, k: int, n: int, failures: dict[str, str]) -> CycleComplete:
    t = (T0 + k * STEP) * 1000
    return CycleComplete(
        network=net,
        dataset=ds,
        cycle_id=f"{net}:{ds}:{t}",
        scheduled_unix_ms=t,
        started_unix_ms=t,
        finished_unix_ms=t + 5,
        duration_ms=5,
        devices_planned=2,
        devices_ok=2 - len(failures),
        devices_failed=len(failures),
        devices_timed_out=0,
        records=n,
        failures=failures,
    )


def write_store(path: Path) -> None:
    store = ParquetStore(path)
    store.start()
    octets = {"eth1": 0, "eth2": 2**32 - 3 * 750_000}  # eth2 wraps at 32 bits
    for k in range(10):
        up = 10_000 + k * STEP if k < 6 else (k - 6) * STEP + 30  # r1 reboots before cycle 6
        if k == 6:
            octets = {"eth1": 0, "eth2": 0}
        elif k > 0:
            octets["eth1"] += 80 * SPEED // 100 * STEP // 8  # 80 %
            octets["eth2"] = (octets["eth2"] + 10 * SPEED // 100 * STEP // 8) % 2**32  # 10 %
        failing = {"r2": "timeout"} if k in (3, 4, 5) else {}
        per = {"interfaces": [], "system": [], "bgp": [], "health": []}
        for i, name in ((1, "eth1"), (2, "eth2")):
            per["interfaces"].append(
                rec(
                    "east",
                    "r1",
                    "interfaces",
                    k,
                    {"if_index": str(i), "if_name": name},
                    up,
                    in_octets=octets[name],
                    out_octets=0,
                    counter_bits=32,
                    speed_bps=SPEED,
                    in_errors=(k if k < 6 else k - 6) * 5 if name == "eth2" else 0,
                )
            )
        per["system"].append(rec("east", "r1", "system", k, {}, up, sys_name="r1"))
        if not failing:
            per["system"].append(rec("east", "r2", "system", k, {}, up, sys_name="r2"))
        state = "idle" if k == 4 else "established"
        per["bgp"].append(
            rec("east", "r1", "bgp", k, {"peer_address": "192.0.2.1"}, up, state=state)
        )
        per["health"].append(
            rec(
                "east",
                "r1",
                "health",
                k,
                {"component_kind": "cpu", "component_index": "1"},
                up,
                cpu_util_pct=10.0 + 5 * k,
            )
        )
        per["system"].append(rec("west", "w1", "system", k, {}, up, sys_name="w1"))
        for ds, recs in per.items():
            for net in ("east", "west"):
                mine = [r for r in recs if r.network == net]
                if not mine and not (net == "east" and ds == "system"):
                    continue
                store.write_cycle(net, ds, cycle_frame(mine, ds))
                store.write_marker(marker(net, ds, k, len(mine), failing if net == "east" else {}))


def test_the_report_says_what_the_store_holds(tmp_path: Path) -> None:
    write_store(tmp_path / "store")
    t0 = datetime.fromtimestamp(T0, UTC)
    t1 = datetime.fromtimestamp(T0 + 3600, UTC)
    out = build_report(tmp_path / "store", ["east"], t0, t1, tmp_path / "r.html")
    text = out.read_text()
    assert "<h2>east</h2>" in text and "<h2>west</h2>" not in text
    rows = re.findall(
        r"<tr><td[^>]*>(r1 eth\d)</td><td[^>]*>([\d.]+)</td><td[^>]*>([\d.]+)</td></tr>", text
    )
    assert rows[0][0] == "r1 eth1" and float(rows[0][1]) == pytest.approx(80.0, abs=0.1)
    eth2 = dict((n, (float(a), float(p))) for n, a, p in rows)["r1 eth2"]
    assert eth2[1] == pytest.approx(10.0, abs=0.1)  # the wrap and the reboot made no spike
    assert re.search(
        r"<td[^>]*>r1</td><td[^>]*>192.0.2.1</td><td[^>]*>established</td><td[^>]*>idle</td>", text
    )
    assert re.search(r"<td[^>]*>idle</td><td[^>]*>established</td>", text)
    assert re.search(
        r"<tr><td[^>]*>r2</td><td[^>]*>7</td><td[^>]*>3</td><td[^>]*>70.0</td><td[^>]*>timeout</td></tr>",
        text,
    )
    # 25 before the reboot, the counter back at 0 (not -25), then 15
    errors = r"<tr><td[^>]*>r1 eth2</td><td[^>]*>40</td>(<td[^>]*>0</td>){3}<td[^>]*>40</td></tr>"
    assert re.search(errors, text)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 4  # utilisation, errors, CPU and memory, availability
    for data in images:
        img = Image.open(io.BytesIO(base64.b64decode(data))).convert("L")
        assert img.size[0] > 500 and ImageStat.Stat(img).stddev[0] > 10  # not blank


def test_time_range_and_empty_sections(tmp_path: Path) -> None:
    write_store(tmp_path / "store")
    late = datetime.fromtimestamp(T0 + 7 * STEP, UTC)
    out = build_report(
        tmp_path / "store",
        ["east"],
        late,
        datetime.fromtimestamp(T0 + 3600, UTC),
        tmp_path / "r.html",
    )
    text = out.read_text()
    assert "No state change" in text  # the flap at cycle 4 is before the range
    assert re.search(r"<tr><td[^>]*>r2</td><td[^>]*>3</td><td[^>]*>0</td><td[^>]*>100.0</td>", text)
    none = build_report(
        tmp_path / "store", ["nowhere"], late, late.replace(year=2030), tmp_path / "n.html"
    )
    assert "No data for these networks" in none.read_text()


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(
        config=tmp_path,
        store=tmp_path / "none",
        network=[],
        t_from="-1h",
        t_to="now",
        out=tmp_path / "o.html",
    )
    assert run(args) == 2 and "no store at" in capsys.readouterr().err
    write_store(tmp_path / "store")
    args.store, args.t_from = tmp_path / "store", "yesterday"
    assert run(args) == 2 and "ISO-8601" in capsys.readouterr().err
    args.t_from, args.t_to = "2025-11-25T00:00:00Z", "2025-11-25T01:00Z"
    assert run(args) == 0 and (tmp_path / "o.html").is_file()
