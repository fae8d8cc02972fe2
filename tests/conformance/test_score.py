"""``scripts/score`` counts on a tiny synthetic recording and LibreNMS result
whose counts are known by hand (no shared recordings needed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.support.librenms as librenms
from collectors.snmp.base import SnmpTarget
from tests.conformance import score, snmprec
from tests.conformance.recording_client import Recording, RecordingClient
from tests.support.librenms import compared_columns

NAME = "synthetic_box"  # matches no profile: read with generic
RECORDING = (
    """\
1.3.6.1.2.1.1.1.0|4|Acme Router 1.0
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.99999.1
1.3.6.1.2.1.1.3.0|67|1234
1.3.6.1.2.1.1.5.0|4|box
1.3.6.1.2.1.2.2.1.1.1|2|1
1.3.6.1.2.1.2.2.1.1.2|2|2
1.3.6.1.2.1.2.2.1.2.1|4|eth1
1.3.6.1.2.1.2.2.1.2.2|4|eth2
1.3.6.1.2.1.2.2.1.3.1|2|6
1.3.6.1.2.1.2.2.1.3.2|2|6
1.3.6.1.2.1.2.2.1.7.1|2|1
1.3.6.1.2.1.2.2.1.7.2|2|1
1.3.6.1.2.1.2.2.1.8.1|2|1
1.3.6.1.2.1.2.2.1.8.2|2|2
1.3.6.1.2.1.31.1.1.1.1.1|4|eth1
1.3.6.1.2.1.31.1.1.1.1.2|4|eth2
1.3.6.1.2.1.31.1.1.1.18.2|4|
"""
    + "1.3.6.1.2.1.31.1.1.1.18.1|4|uplink   \n"  # trailing blanks
)
LIBRENMS_RESULT = {
    "os": {
        "discovery": {
            "devices": [
                {
                    "os": "generic",
                    "version": None,
                    "hardware": "Acme 1",  # we publish no hardware: 1 of 4 differs
                    "serial": None,
                    "sysDescr": "Acme Router 1.0",
                    "sysObjectID": ".1.3.6.1.4.1.99999.1",
                    "sysContact": None,
                    "location": None,
                }
            ]
        }
    },
    "ports": {  # port 2 not listed (and not one LibreNMS drops): an extra row
        "discovery": {
            "ports": [
                {
                    "ifIndex": 1,
                    "ifDescr": "eth1",
                    "ifName": "eth1",
                    "ifAlias": "downlink",  # ours is "uplink": 1 field differs
                    "ifType": "ethernetCsmacd",
                    "ifAdminStatus": "up",
                    "ifOperStatus": "up",
                }
            ]
        },
        "poller": "matches discovery",
    },
    "processors": {  # a CPU the recording does not have: every field of it missing
        "discovery": {
            "processors": [
                {
                    "processor_oid": ".1.3.6.1.2.1.25.3.3.1.2.768",
                    "processor_usage": 5,
                    "processor_index": "768",
                    "processor_descr": "cpu",
                }
            ]
        }
    },
}


def _clear() -> None:
    for f in (snmprec.snmprec, snmprec.column, librenms.librenms_json):
        f.cache_clear()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "librenms"
    for sub in ("snmprec", "snmprec-sanitized", "json"):
        (root / sub).mkdir(parents=True)
    for sub in ("snmprec", "snmprec-sanitized"):
        (root / sub / f"{NAME}.snmprec").write_text(RECORDING)
    (root / "json" / f"{NAME}.json").write_text(json.dumps(LIBRENMS_RESULT))
    for module in (librenms, snmprec, score):
        monkeypatch.setattr(module, "LIBRENMS", root)
    _clear()
    yield root
    _clear()


def test_counts_matched_and_compared(folder: Path) -> None:
    cells = score.score([NAME]).cells[NAME]
    n = len(compared_columns())  # every column of the one port LibreNMS lists...
    ifaces = cells["interfaces"].tally
    assert ifaces is not None
    assert (ifaces.matched, ifaces.compared) == (n - 1, n + 1)  # ...+ the extra row
    assert {(d.row, d.field, d.ours, d.theirs) for d in ifaces.diffs} == {
        ("1", "ifAlias", "uplink", "downlink"),  # the trailing blanks: snmpsim strips lines
        ("2", "(row)", "eth2", "not dropped by LibreNMS"),
    }
    system = cells["system"].tally
    assert system is not None and (system.matched, system.compared) == (3, 4)
    assert [d.field for d in system.diffs] == ["hardware"]
    cpu = cells["processors"].tally
    assert cpu is not None and (cpu.matched, cpu.compared) == (0, 3)
    for col in ("memory pools", "sensors", "bgp peers", "inventory"):
        assert cells[col].tally is None and cells[col].error is None, col  # not compared
    totals = score.score([NAME]).totals()
    assert totals["interfaces"] == (n - 1, n + 1) and totals["sensors"] == (0, 0)
    table = "\n".join(score.format_table(score.score([NAME])))
    assert f"*{n - 1}/{n + 1}" in table and "| system | 3 | 4 | 75.0 % |" in table


def test_a_raw_value_snmpsim_cannot_serve_ends_the_column(tmp_path: Path) -> None:
    path = tmp_path / "raw.snmprec"
    path.write_text(
        "1.3.6.1.2.1.2.2.1.6.1|4x|0011223344\n"
        "1.3.6.1.2.1.2.2.1.6.2|4x|00XYZ\n"  # not hex
        "1.3.6.1.2.1.2.2.1.6.3|4x|0055\n"
        "1.3.6.1.2.1.2.2.1.7.1|2|1\n"
    )
    client = RecordingClient({"raw": Recording(path)})
    target = SnmpTarget(device="raw", host="-", port=0, version="2c")
    cols = ["1.3.6.1.2.1.2.2.1.6", "1.3.6.1.2.1.2.2.1.7"]
    res = asyncio.run(client.walk(target, cols))
    assert res.columns[cols[0]] == {"1": bytes.fromhex("0011223344")}
    assert res.problems == {cols[0]: "bad encoding at 1.3.6.1.2.1.2.2.1.6.2"}
    assert res.columns[cols[1]] == {"1": 1}


def test_unknown_recording_is_a_plain_error(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert score.main(["no_such_box"]) == 2
    assert "no such recording: no_such_box" in capsys.readouterr().err
