"""``netfeed inventory import``: a NetBox device export to a netfeed inventory,
checked with the loader's own code (alone or as part of a network); and a
50,000-device inventory imported and validated."""

from __future__ import annotations

import csv
import io
import subprocess
import time
from pathlib import Path

import pytest

from netfeed.inventory_import import LARGE, run
from tests.netfeed.test_cli import netfeed

# the labels of NetBox 4's device table, as "Export > All data (CSV)" writes them
HEADER = (
    "ID,Name,Status,Tenant,Site,Location,Rack,Role,Manufacturer,Type,Platform,"
    "IP Address,IPv4 Address,IPv6 Address"
)


def netbox(tmp: Path, rows: list[str], name: str = "netbox.csv", header: str = HEADER) -> Path:
    path = tmp / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def network(cfg: Path, name: str, body: str) -> Path:
    (cfg / "networks").mkdir(parents=True, exist_ok=True)
    (cfg / "netfeed.yaml").write_text("bus: {backend: embedded}\n")
    path = cfg / "networks" / f"{name}.yaml"
    path.write_text(f"network: {name}\n{body}")
    return path


def test_a_netbox_export_becomes_an_inventory_and_unpollable_rows_are_named(
    tmp_path: Path,
) -> None:
    src = netbox(
        tmp_path,
        [
            "1,core-1,Active,acme,Paris,,r1,Core Router,Juniper,MX204,junos,"
            "127.0.0.11/32,127.0.0.11/32,",
            "2,edge-2,Planned,,Lyon,,,Edge Switch,Cisco,C9300,ios-xe,::1/128,,::1/128",
            "3,patch-1,Active,,Lyon,,,Patch Panel,—,,—,—,—,—",
            "4,,Active,,Lyon,,,Edge,,,,127.0.0.9/32,127.0.0.9/32,",
        ],
    )
    out = tmp_path / "inv.csv"
    r = netfeed("inventory", "import", str(src), "--output", str(out), "--protocol", "snmp")
    assert r.returncode == 0, r.stderr  # rows left out are warnings, not problems
    assert f"warning: {src}:4 (device 'patch-1'): no primary IP: left out" in r.stderr
    assert f"warning: {src}:5: no Name: left out" in r.stderr
    assert f"2 device(s) written to {out}, 2 left out: 0 problem(s)" in r.stderr
    rows = read(out)
    assert rows[0] == {
        "id": "core-1",
        "host": "127.0.0.11",
        "groups": "core-router",
        "enabled": "true",
        "protocol": "snmp",
        "tag:role": "Core Router",
        "tag:site": "Paris",
        "tag:platform": "junos",
        "tag:vendor": "Juniper",
        "tag:tenant": "acme",
    }
    assert (rows[1]["id"], rows[1]["host"], rows[1]["enabled"]) == ("edge-2", "::1", "false")
    assert len(rows) == 2


@pytest.mark.parametrize(
    "header",
    [
        "name,status,site,role,primary_ip4",  # the API's field names
        "NAME,Status,Site,Device Role,Primary IPv4",  # older labels, any case
    ],
)
def test_other_column_names_and_duplicates_named_by_line(tmp_path: Path, header: str) -> None:
    src = tmp_path / "api.csv"
    src.write_text(
        f"{header}\na,active,s1,edge,127.0.0.1/32\nb,active,s1,edge,127.0.0.2/32\n"
        "a,active,s1,edge,127.0.0.3/32\n"
    )
    r = netfeed("inventory", "import", str(src))
    assert r.returncode == 1
    assert "<stdout>:4 (device 'a'): id: duplicate device id (first at <stdout>:2)" in r.stderr
    assert r.stdout.splitlines()[:2] == [
        "id,host,groups,enabled,tag:role,tag:site",
        "a,127.0.0.1,edge,true,edge,s1",
    ]


def test_with_network_it_is_checked_as_part_of_that_network(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    network(
        cfg,
        "lab",
        "defaults: {snmp: {community: 'env:LAB_COMMUNITY'}}\n"
        "groups: {core-router: {}}\ninventories: [{csv: ../lab.csv}]\n"
        "devices: [{id: core-1, host: 127.0.0.1, groups: [core-router]}]\n",
    )
    (cfg / "lab.csv").write_text("id,host\n")
    src = netbox(
        tmp_path,
        [
            "1,core-1,Active,,Paris,,,Core Router,,,,127.0.0.11/32,,",
            "2,sw-2,Active,,Paris,,,Edge Switch,,,,127.0.0.12/32,,",
            "3,rt-3,Active,,Paris,,,Core Router,,,,127.0.0.13/32,,",
        ],
    )
    out = tmp_path / "other.csv"  # not (yet) listed by the network file
    r = netfeed(
        "inventory", "import", str(src), "--network", "lab", "--config", str(cfg),
        "--output", str(out), "--protocol", "netconf",
    )  # fmt: skip
    assert r.returncode == 1
    assert f"{out}:2 (device 'core-1'): id: duplicate device id (first at " in r.stderr
    assert f"{out}:3 (device 'sw-2'): groups: unknown group(s) edge-switch" in r.stderr
    assert f"{out}:4 (device 'rt-3'): netconf.username: Field required" in r.stderr
    assert "checked as part of network lab: 3 problem(s)" in r.stderr, r.stderr
    # written where the network reads it: read once, not twice (no duplicate of itself)
    listed = cfg / "lab.csv"
    src = netbox(tmp_path, ["3,rt-3,Active,,Paris,,,Core Router,,,,127.0.0.13/32,,"])
    r = netfeed(
        "inventory", "import", str(src), "--network", "lab", "--config", str(cfg),
        "--output", str(listed),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert netfeed("validate", str(cfg), env={"LAB_COMMUNITY": "x"}).returncode == 0


def test_bad_input_is_a_plain_error(tmp_path: Path) -> None:
    seen = []

    def imp(*args: str) -> subprocess.CompletedProcess[str]:
        seen.append(r := netfeed("inventory", "import", *args))
        return r

    missing = imp(str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    other = tmp_path / "other.csv"
    other.write_text("hostname,address\nx,127.0.0.1\n")
    r = imp(str(other))
    assert r.returncode == 1 and f"{other}:1: not a NetBox device export" in r.stderr
    r = imp(str(other), "--format", "netfeed")
    assert r.returncode == 1 and f"{other}:1: header lacks column(s) id, host" in r.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "\n1,caf\xe9,Active,,,,,,,,,127.0.0.1,,\n").encode("latin-1"))
    r = imp(str(latin))
    assert r.returncode == 1 and f"{latin}:2" in r.stderr
    wide = netbox(tmp_path, ["1,a,Active,,,,,,,,,127.0.0.1,,,,surplus"])
    r = imp(str(wide))
    assert r.returncode == 1 and f"{wide}:2: 16 fields, the header has 14" in r.stderr
    src = netbox(tmp_path, ["1,a,Active,,,,,,,,,127.0.0.1,,"])
    r = imp(str(src), "--output", str(tmp_path / "no" / "x.csv"))
    assert r.returncode == 1 and "x.csv: cannot write: No such file or directory" in r.stderr
    r = imp(str(src), "--protocol", "telnet")
    assert r.returncode == 2 and "--protocol telnet: no such protocol driver" in r.stderr
    r = imp(str(src), "--network", "x", "--config", str(tmp_path))
    assert r.returncode == 2 and "--network x: no file" in r.stderr
    assert len(seen) == 8 and not any("Traceback" in r.stderr for r in seen)


def test_help_has_the_mapping_table_and_an_example() -> None:
    r = netfeed("inventory", "import", "--help")
    assert "NetBox CSV export mapping" in r.stdout
    assert "  Manufacturer / manufacturer                 tag:vendor\n" in r.stdout
    assert "example: netfeed inventory import netbox_devices.csv --format netbox" in r.stdout


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_large_file_gets_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    src.write_text("id,host\n" + "".join(f"d{i},127.0.0.1\n" for i in range(LARGE)))
    tty, pipe = Tty(), io.StringIO()
    assert run(src, "netfeed", tmp_path / "a.csv", None, err=tty) == 0
    assert run(src, "netfeed", tmp_path / "b.csv", None, err=pipe) == 0
    assert "read" in tty.getvalue() and "\x1b[" in tty.getvalue()
    assert pipe.getvalue() == f"{LARGE} device(s) written to {tmp_path / 'b.csv'}: 0 problem(s)\n"


@pytest.mark.timeout(300)
def test_fifty_thousand_devices_import_and_validate(tmp_path: Path) -> None:
    rows = [
        f"{i},dev-{i:05d},Active,,s{i % 7},,,edge,Cisco,C9300,ios,"
        f"127.{i // 65536}.{i // 256 % 256}.{i % 256}/32,,"
        for i in range(50_000)
    ]
    rows[41_234] = rows[7]  # line 41236: a second dev-00007
    src = netbox(tmp_path, rows)
    cfg = tmp_path / "cfg"
    network(
        cfg,
        "big",
        "defaults: {snmp: {community: 'env:BIG_COMMUNITY'}}\n"
        "groups: {edge: {}}\ninventories: [{csv: ../big.csv}]\n"
        "datasets: {interfaces: {interval_s: 300}}\n",
    )
    big = cfg / "big.csv"
    t0 = time.monotonic()
    r = netfeed("inventory", "import", str(src), "--output", str(big))
    took = time.monotonic() - t0
    assert r.returncode == 1
    duplicate = f"{big}:41236 (device 'dev-00007'): id: duplicate device id (first at {big}:9)"
    assert duplicate in r.stderr
    assert "50000 device(s) written" in r.stderr, r.stderr[-500:]
    assert "\x1b[" not in r.stderr and "━" not in r.stderr  # no bar off a terminal
    r = netfeed("validate", str(cfg), env={"BIG_COMMUNITY": "x"})
    assert (
        r.returncode == 1 and duplicate.replace(str(big), f"{cfg}/networks/../big.csv") in r.stderr
    )
    lines = big.read_text().splitlines()
    big.write_text("\n".join(lines[:41235] + lines[41236:]) + "\n")
    t0 = time.monotonic()
    r = netfeed("validate", str(cfg), env={"BIG_COMMUNITY": "x"})
    validate_s = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-2000:]
    assert "49999 device(s)" in r.stdout
    print(f"INVENTORY-FIGURES import_s={took:.1f} validate_s={validate_s:.1f} devices=49999")
