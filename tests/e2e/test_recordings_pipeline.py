"""Real devices' recordings -> snmpsim -> collector -> bus (both) -> application.

Every interface of every shared recording must reach the application as a
record, with the values LibreNMS extracted from the same recording."""

from __future__ import annotations

from pathlib import Path

from applications.api import AppSettings
from bus.records import CycleComplete, Record
from bus.settings import BusSettings
from tests.support.countapp import CaptureApp
from tests.support.librenms import (
    compared_columns,
    expected_ports,
    ignored_by_librenms,
    librenms_view,
    recording_names,
)
from tests.support.pipeline import collect_once, consume_until, runner_for, write_network

IF_TABLE = "1.3.6.1.2.1.2.2.1."

# (recording, ifIndex, column): the recording lacks the object; LibreNMS's JSON
# holds its anonymiser's placeholder there instead.
NOT_IN_RECORDING = {("timos_7750-bgp", 7, "ifName"), ("timos_7750-bgp", 7, "ifDescr")}


def if_indices_in(recording: Path) -> set[int]:
    out = set()
    for line in recording.read_text(errors="replace").splitlines():
        oid = line.split("|", 1)[0]
        if oid.startswith(IF_TABLE):
            out.add(int(oid[len(IF_TABLE) :].split(".")[1]))
    return out


async def test_every_interface_arrives_with_librenms_values(
    any_bus: BusSettings, snmpsim: tuple[str, int], recordings: Path, tmp_path: Path
) -> None:
    host, port = snmpsim
    names = recording_names()
    assert len(names) >= 10
    yaml = write_network(
        tmp_path,
        "rec",
        [{"id": n, "host": host, "port": port, "community": n} for n in names],
        timeout_s=10,  # snmpsim answers 50 devices' walks from one single-threaded process
        retries=2,
        deadline_s=300,
    )
    markers = await collect_once(any_bus, yaml, ["interfaces"])
    assert markers[0].devices_ok == len(names), markers[0].failures

    app = CaptureApp(AppSettings(networks=["rec"], datasets=["interfaces"]))
    async with runner_for(app, any_bus) as runner:
        await consume_until(
            runner,
            lambda: (
                sum(isinstance(i.message, CycleComplete) for i in app.items)
                >= markers[0].partitions
            ),
        )
    records = [i.message for i in app.items if isinstance(i.message, Record)]
    assert len(records) == markers[0].records

    got: dict[str, dict[int, Record]] = {}
    for r in records:
        got.setdefault(r.device, {})[int(r.tags["if_index"])] = r
    compared = 0
    for name in names:
        ours = got.get(name, {})
        # every interface in the recording's ifTable arrived
        assert set(ours) == if_indices_in(recordings / "snmprec" / f"{name}.snmprec"), name
        theirs = expected_ports(name)
        for idx, row in theirs.items():
            if idx not in ours:
                # LibreNMS adds ports that are not in ifTable (Nokia VPRN / management)
                assert name == "timos_7750-bgp", (name, idx)
                continue
            view = librenms_view(ours[idx].tags, ours[idx].fields)
            for col in compared_columns():
                if (name, idx, col) in NOT_IN_RECORDING:
                    assert view[col] is None, (name, idx, col)
                    continue
                assert view[col] == row.get(col), (name, idx, col, view[col], row.get(col))
                compared += 1
        for idx in set(ours) - set(theirs):
            view = librenms_view(ours[idx].tags, ours[idx].fields)
            assert ignored_by_librenms(view), (name, idx, view)
    assert compared > 10_000
