"""``netfeed inventory import``: a NetBox device export to a netfeed inventory,
checked with the loader's own code; and a 50,000-device inventory validated."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from tests.netfeed.test_cli import netfeed

HEADER = "Name,Status,Tenant,Site,Rack,Role,Manufacturer,Type,Platform,Primary IPv4,Primary IPv6,ID"


def netbox(tmp: Path, rows: list[str], name: str = "netbox.csv") -> Path:
    path = tmp / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_netbox_export_becomes_an_inventory_and_unpollable_rows_are_named(
    tmp_path: Path,
) -> None:
    src = netbox(
        tmp_path,
        [
            "core-1,Active,acme,Paris,r1,Core Router,Juniper,MX204,junos,127.0.0.11/32,,1",
            "edge-2,Planned,,Lyon,,Edge Switch,Cisco,C9300,ios-xe,,::1/128,2",
            "nameless-ip,Active,,Lyon,,Edge,,,,,,3",
            ",Active,,Lyon,,Edge,,,,127.0.0.9/32,,4",
        ],
    )
    out = tmp_path / "inv.csv"
    r = netfeed("inventory", "import", str(src), "--output", str(out), "--protocol", "snmp")
    assert r.returncode == 1  # two rows left out are problems
    assert f"{src}:4 (device 'nameless-ip'): no primary IP: left out" in r.stderr
    assert f"{src}:5: no Name: left out" in r.stderr
    assert "Traceback" not in r.stderr
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


def test_api_field_names_are_accepted_and_duplicates_are_named_by_line(tmp_path: Path) -> None:
    src = tmp_path / "api.csv"
    src.write_text(
        "name,status,site,role,primary_ip4\n"
        "a,active,s1,edge,127.0.0.1/32\n"
        "b,active,s1,edge,127.0.0.2/32\n"
        "a,active,s1,edge,127.0.0.3/32\n"
    )
    r = netfeed("inventory", "import", str(src))
    assert r.returncode == 1
    assert "<stdout>:4 (device 'a'): duplicate id, first on line 2" in r.stderr
    assert r.stdout.splitlines()[0] == "id,host,groups,enabled,tag:role,tag:site"


def test_bad_input_is_a_plain_error(tmp_path: Path) -> None:
    missing = netfeed("inventory", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    other = tmp_path / "other.csv"
    other.write_text("hostname,address\nx,127.0.0.1\n")
    r = netfeed("inventory", "import", str(other))
    assert r.returncode == 1 and "not a NetBox device export" in r.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "\ncaf\xe9,Active,,,,,,,,127.0.0.1,,1\n").encode("latin-1"))
    r = netfeed("inventory", "import", str(latin))
    assert r.returncode == 1 and "latin.csv" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.timeout(300)
def test_fifty_thousand_devices_import_and_validate(tmp_path: Path) -> None:
    rows = [
        f"dev-{i:05d},Active,,s{i % 7},,edge,Cisco,C9300,ios,"
        f"127.{i // 65536}.{i // 256 % 256}.{i % 256}/32,,{i}"
        for i in range(50_000)
    ]
    rows[41_234] = rows[7]  # line 41236: a second dev-00007
    src = netbox(tmp_path, rows)
    cfg = tmp_path / "cfg"
    (cfg / "networks").mkdir(parents=True)
    (cfg / "netfeed.yaml").write_text("bus: {backend: embedded}\n")
    (cfg / "networks" / "big.yaml").write_text(
        "network: big\ndefaults: {snmp: {community: 'env:BIG_COMMUNITY'}}\n"
        "groups: {edge: {}}\ninventories: [{csv: ../big.csv}]\n"
        "datasets: {interfaces: {interval_s: 300}}\n"
    )
    t0 = time.monotonic()
    r = netfeed("inventory", "import", str(src), "--output", str(cfg / "big.csv"))
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert (
        f"{cfg / 'big.csv'}:41236 (device 'dev-00007'): duplicate id, first on line 9" in r.stderr
    )
    assert "50000 device(s) written" in r.stderr, r.stderr[-500:]
    r = netfeed("validate", str(cfg), env={"BIG_COMMUNITY": "x"})
    assert r.returncode == 1 and "dev-00007" in r.stderr  # the loader names it too
    lines = (cfg / "big.csv").read_text().splitlines()
    (cfg / "big.csv").write_text("\n".join(lines[:41235] + lines[41236:]) + "\n")
    t0 = time.monotonic()
    r = netfeed("validate", str(cfg), env={"BIG_COMMUNITY": "x"})
    validate_s = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-2000:]
    assert "49999 device(s)" in r.stdout
    print(f"INVENTORY-FIGURES import_s={took:.1f} validate_s={validate_s:.1f} devices=49999")
