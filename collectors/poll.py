"""Poll one device for one dataset and normalise the answer into records.

Every poll first GETs sysObjectID and sysUpTime (one small PDU): that picks
the profile (a replaced device gets the right one at once) and gives the
uptime consumers need to notice reboots.  The outcome is ``ok``, ``failed``
(answered badly or not as expected) or ``timed_out`` (no answer in time);
records read before a failure are kept and marked ``partial``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

from bus.records import Provenance, Record
from collectors import __version__
from collectors.config import Device
from collectors.profiles import ProfileSet
from collectors.snmp.base import SnmpClient, SnmpError, SnmpTarget, SnmpTimeout, Value

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


@dataclass(slots=True)
class PollOutcome:
    device: str
    status: Literal["ok", "failed", "timed_out"]
    records: list[Record] = field(default_factory=list)
    error: str | None = None
    varbinds: int = 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def target_of(device: Device) -> SnmpTarget:
    s = device.snmp
    assert s.community is not None  # checked when the config loaded
    return SnmpTarget(
        device=device.id,
        host=device.host,
        port=s.port,
        version=s.version,
        community=s.community.reveal(),
        timeout_s=s.timeout_s,
        retries=s.retries,
        max_repetitions=s.max_repetitions,
    )


def _index_key(index: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in index.split("."))
    except ValueError:
        return (1 << 62,)


async def poll_device(
    client: SnmpClient,
    profiles: ProfileSet,
    device: Device,
    dataset: str,
    scheduled_unix_ms: int,
    cycle: str,
) -> PollOutcome:
    """Poll ``device`` for ``dataset``; never raises for device problems."""
    deadline = device.snmp.device_deadline_s
    try:
        return await asyncio.wait_for(
            _poll(client, profiles, device, dataset, scheduled_unix_ms, cycle), deadline
        )
    except TimeoutError:
        return PollOutcome(device.id, "timed_out", error=f"no complete answer within {deadline:g}s")
    except SnmpTimeout as exc:
        return PollOutcome(device.id, "timed_out", error=str(exc))
    except SnmpError as exc:
        return PollOutcome(device.id, "failed", error=str(exc))
    except Exception as exc:  # a bug or an undecodable reply must not stop the cycle
        return PollOutcome(device.id, "failed", error=f"{type(exc).__name__}: {exc}")


async def _poll(
    client: SnmpClient,
    profiles: ProfileSet,
    device: Device,
    dataset: str,
    scheduled_unix_ms: int,
    cycle: str,
) -> PollOutcome:
    target = target_of(device)
    sent = _now_ms()
    ident = await client.get(target, [SYS_OBJECT_ID, SYS_UPTIME])
    sys_oid = ident.get(SYS_OBJECT_ID)
    profile, _matched = profiles.match(sys_oid if isinstance(sys_oid, str) else None)
    cds = profile.datasets.get(dataset)
    if cds is None:
        return PollOutcome(
            device.id, "failed", error=f"profile {profile.name} has no dataset {dataset}"
        )
    uptime = ident.get(SYS_UPTIME)
    uptime_ms = uptime * 10 if isinstance(uptime, int) else None

    rows: list[tuple[str | None, dict[str, Value]]]
    missing: list[str] = []
    sources = list(cds.oids)
    varbinds = len(ident)
    if cds.is_table:
        walk = await client.walk(target, list(cds.oids))
        columns = walk.columns
        indices = sorted({i for col in columns.values() for i in col}, key=_index_key)
        rows = [(i, {c: v[i] for c, v in columns.items() if i in v}) for i in indices]
        varbinds += sum(len(c) for c in columns.values())
        missing = sorted(f"{c}: {why}" for c, why in walk.problems.items())
    else:
        values = await client.get(target, [o for o in cds.oids if o not in ident])
        values.update(ident)
        rows = [(None, values)]
        varbinds += len(values)
    received = _now_ms()

    records: list[Record] = []
    prov = Provenance(
        protocol=f"snmpv{target.version}", collector_version=__version__, sources=sources
    )
    for index, row in rows:
        tags, fields, bad = cds.extract(row.get)
        if cds.index_tag and index is not None:
            tags[cds.index_tag] = index
        row_missing = missing + [f"{b}: value of the wrong type" for b in bad]
        records.append(
            Record(
                network=device.network,
                device=device.id,
                profile=profile.name,
                dataset=dataset,
                cycle_id=cycle,
                scheduled_unix_ms=scheduled_unix_ms,
                request_unix_ms=sent,
                response_unix_ms=received,
                device_uptime_ms=uptime_ms,
                provenance=prov,
                partial=bool(row_missing),
                missing=row_missing,
                tags={**device.tags, **tags},
                fields=fields,
            )
        )
    return PollOutcome(device.id, "ok", records, varbinds=varbinds)
