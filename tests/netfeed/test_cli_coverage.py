"""``netfeed collect --once --dry-run`` on a device no profile matches: it is read
with ``generic`` (every standard MIB it has), the collector says so once per
device, and a coverage summary follows the records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import serve_snmpsim
from tests.netfeed.test_cli import dry_run_lines, netfeed
from tests.support.librenms import LIBRENMS
from tests.support.pipeline import write_network

UNKNOWN_OID = "1.3.6.1.4.1.99999.7.1"
# an agent of a vendor no profile names: system group, ifTable without ifXTable
# (so no ifName), one HOST-RESOURCES processor, one ENTITY-SENSOR temperature
ACME = f"""\
1.3.6.1.2.1.1.1.0|4|AcmeOS 3.1 on a box nobody here has seen
1.3.6.1.2.1.1.2.0|6|{UNKNOWN_OID}
1.3.6.1.2.1.1.3.0|67|123456
1.3.6.1.2.1.1.5.0|4|acme1
1.3.6.1.2.1.2.2.1.2.3|4|port 3
1.3.6.1.2.1.2.2.1.3.3|2|6
1.3.6.1.2.1.2.2.1.8.3|2|1
1.3.6.1.2.1.2.2.1.10.3|65|1000
1.3.6.1.2.1.25.3.2.1.3.196608|4|Acme CPU
1.3.6.1.2.1.25.3.3.1.2.196608|2|7
1.3.6.1.2.1.47.1.1.1.1.7.5|4|board temperature
1.3.6.1.2.1.99.1.1.1.1.5|2|8
1.3.6.1.2.1.99.1.1.1.2.5|2|9
1.3.6.1.2.1.99.1.1.1.3.5|2|0
1.3.6.1.2.1.99.1.1.1.4.5|2|41
1.3.6.1.2.1.99.1.1.1.5.5|2|1
"""


def test_dry_run_reads_an_unknown_device_with_generic_says_so_and_summarises(
    tmp_path: Path,
) -> None:
    data = tmp_path / "snmprec"
    data.mkdir()
    (data / "acme.snmprec").write_text(ACME)
    # snmpsim's readiness probe asks for linux_powermon: a device a profile matches
    shutil.copy(LIBRENMS / "snmprec" / "linux_powermon.snmprec", data)  # snmpsim: no symlinks
    cfg = tmp_path / "cfg"
    with serve_snmpsim(data, tmp_path / "snmpsim.log") as (_host, port):
        write_network(
            cfg,
            "lab",
            [
                {"id": "acme", "port": port, "community": "acme"},
                {"id": "linux", "port": port, "community": "linux_powermon"},
            ],
        )
        r = netfeed("collect", "--config", str(cfg), "--once", "--dry-run")
    out, err = r.stdout, r.stderr
    assert r.returncode == 0, err
    recs = [x for x in dry_run_lines(out) if x["kind"] == "record"]
    acme = [r for r in recs if r["device"] == "acme"]
    assert acme and {r["profile"] for r in acme} == {"generic"}
    assert {r["profile"] for r in recs if r["device"] == "linux"} == {"linux"}
    by_ds = {ds: [r for r in acme if r["dataset"] == ds] for ds in {r["dataset"] for r in acme}}
    # every interface has a name: no ifName, so ifDescr
    assert [r["tags"]["if_name"] for r in by_ds["interfaces"]] == ["port 3"]
    # generic reads HOST-RESOURCES and ENTITY-SENSOR-MIB too
    assert [r["fields"]["cpu_util_pct"] for r in by_ds["health"]] == [7.0]
    [temp] = by_ds["sensors"]
    assert (temp["tags"]["sensor_class"], temp["fields"]["value"]) == ("temperature", 41.0)

    # said once for the device (six datasets polled), naming its sysObjectID
    said = [line for line in err.splitlines() if "no profile matched" in line]
    assert len(said) == 1, said
    assert f"lab/acme: no profile matched sysObjectID {UNKNOWN_OID}" in said[0]
    assert "AcmeOS 3.1" in said[0] and "using generic" in said[0]

    # the summary, after the records, on stderr (stdout stays JSON lines)
    summary = err[err.index("coverage (dry run)") :].splitlines()
    assert "  lab/acme: profile generic" in summary
    assert "  lab/linux: profile linux" in summary
    start = summary.index("  lab/acme: profile generic")
    block = summary[start + 1 : start + 7]
    line = {x.strip().split(":", 1)[0]: x.strip() for x in block}
    assert set(line) == {"system", "interfaces", "health", "sensors", "bgp", "inventory"}
    assert line["bgp"] == "bgp: 0 records"
    assert line["interfaces"].startswith("interfaces: 1 record; absent (not in the device's reply")
    assert "in_octets" not in line["interfaces"].split("absent", 1)[1]  # it was read
    assert "admin_status" in line["interfaces"]  # it was not (no ifAdminStatus)
    assert all(json.loads(x) for x in out.splitlines())


def test_coverage_gives_the_records_reasons_for_absent_fields() -> None:
    """A reason the record gives (``absent``: field -> why, e.g. a sentinel the
    profile refused) is shown as given; the rest is "not read"."""
    from types import SimpleNamespace

    from netfeed.coverage import NOT_READ, Coverage

    def rec(fields: dict[str, object], absent: dict[str, str] | None = None) -> object:
        r = SimpleNamespace(network="n", device="d", profile="generic", dataset="health")
        r.fields = fields
        if absent is not None:
            r.absent = absent
        return r

    cov = Coverage()
    full = {"memory_used_octets": 5, "memory_free_octets": 5, "memory_total_octets": 10}
    cov.records(
        [  # type: ignore[list-item]
            rec({**full, "memory_util_pct": 50.0}),
            rec({}, {"memory_total_octets": "-1: no reading (sentinel)"}),
        ]
    )
    line = cov.dataset_line("n", "d", "health")
    assert line.startswith("health: 2 records; absent (-1: no reading (sentinel)): memory_total")
    assert f"absent ({NOT_READ}): cpu_util_pct, description, memory_free_octets 1/2," in line
    assert "memory_total_octets 1/2" in line.split(NOT_READ)[0]


def test_dry_run_of_one_device_polls_only_it_and_summarises_it(tmp_path: Path) -> None:
    data = tmp_path / "snmprec"
    data.mkdir()
    for name in ("linux_powermon", "routeros_rb750gr3"):
        shutil.copy(LIBRENMS / "snmprec" / f"{name}.snmprec", data)
    cfg = tmp_path / "cfg"
    with serve_snmpsim(data, tmp_path / "snmpsim.log") as (_host, port):
        write_network(
            cfg,
            "lab",
            [
                {"id": "linux", "port": port, "community": "linux_powermon"},
                {"id": "mikrotik", "port": port, "community": "routeros_rb750gr3"},
            ],
        )
        r = netfeed(
            "collect",
            "--config",
            str(cfg),
            "--once",
            "--dry-run",
            "--network",
            "lab",
            "--device",
            "mikrotik",
        )
        unknown = netfeed(
            "collect", "--config", str(cfg), "--once", "--dry-run", "--device", "nope"
        )
        scheduled = netfeed("collect", "--config", str(cfg), "--device", "mikrotik")
    assert r.returncode == 0, r.stderr
    lines = dry_run_lines(r.stdout)
    recs = [x for x in lines if x["kind"] == "record"]
    assert recs and {x["device"] for x in recs} == {"mikrotik"}
    assert {x["profile"] for x in recs} == {"routeros"}
    markers = [x for x in lines if x["kind"] == "cycle_complete"]
    assert markers and all(m["devices_planned"] == 1 for m in markers)
    summary = r.stderr[r.stderr.index("coverage (dry run)") :]
    assert "lab/mikrotik: profile routeros" in summary and "lab/linux" not in summary
    assert "\x1b[" not in r.stderr and "━" not in r.stderr  # no progress bar off a terminal
    assert unknown.returncode == 2
    assert "--device nope: no such device in network(s) lab" in unknown.stderr
    assert scheduled.returncode == 2 and "--device applies to --once" in scheduled.stderr
