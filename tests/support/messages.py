"""Small bus messages for tests: one interface record, one cycle marker."""

from __future__ import annotations

from bus.records import CycleComplete, Provenance, Record


def rec(device: str, i: int, cycle: int = 0, *, network: str = "n") -> Record:
    """Interface ``i`` of ``device`` in the cycle ticked at ``cycle``."""
    return Record(
        network=network,
        device=device,
        profile="generic",
        dataset="interfaces",
        cycle_id=f"{network}:interfaces:{cycle}",
        scheduled_unix_ms=cycle,
        request_unix_ms=1,
        response_unix_ms=2,
        provenance=Provenance(protocol="snmpv2c", collector_version="t"),
        tags={"if_index": str(i)},
        fields={"in_octets": i},
    )


def marker(cycle: int, records: int, *, network: str = "n", devices: int = 4) -> CycleComplete:
    """The marker of that cycle: ``devices`` all ok, ``records`` published."""
    return CycleComplete(
        network=network,
        dataset="interfaces",
        cycle_id=f"{network}:interfaces:{cycle}",
        scheduled_unix_ms=cycle,
        started_unix_ms=0,
        finished_unix_ms=1,
        duration_ms=1,
        devices_planned=devices,
        devices_ok=devices,
        devices_failed=0,
        devices_timed_out=0,
        records=records,
    )
