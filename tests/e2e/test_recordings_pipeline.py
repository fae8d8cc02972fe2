"""Real devices' recordings -> snmpsim -> collector -> bus (both) -> application.

Every interface of every shared recording must reach the application as a
record, exactly as the collector published it (same bytes): the bus path
loses, adds and alters nothing.  Whether the values are right (equal to what
LibreNMS extracted from the same recordings) is the conformance suite's
question (``tests/conformance``), asked once, with its known gaps."""

from __future__ import annotations

from pathlib import Path

from applications.api import AppSettings
from bus.records import CycleComplete, Record, encode
from bus.settings import BusSettings
from tests.support.countapp import CaptureApp
from tests.support.librenms import recording_names
from tests.support.pipeline import collect_once, consume_until, runner_for, write_network

IF_TABLE = "1.3.6.1.2.1.2.2.1."


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
    sent: list[Record] = []
    markers = await collect_once(any_bus, yaml, ["interfaces"], sent)
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

    # what the application got is what the collector sent, byte for byte
    assert sorted(map(encode, records)) == sorted(map(encode, sent))
    got: dict[str, set[int]] = {}
    for r in records:
        got.setdefault(r.device, set()).add(int(r.tags["if_index"]))
    for name in names:  # every interface in the recording's ifTable arrived
        assert got.get(name, set()) == if_indices_in(recordings / "snmprec" / f"{name}.snmprec"), (
            name
        )
    assert len(records) > 5_000
