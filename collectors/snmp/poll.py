"""Poll one device for one dataset and normalise the answer into records.

Every poll first GETs sysObjectID and sysUpTime (one small PDU): that picks
the profile (a replaced device gets the right one at once) and gives the
uptime consumers need to notice reboots.  The outcome is ``ok``, ``failed``
(answered badly or not as expected) or ``timed_out`` (no answer in time);
records read before a failure are kept and marked ``partial``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from bus.records import Provenance
from bus.secrets import SecretError, SecretRef
from collectors import __version__
from collectors.config import Device
from collectors.driver import PollOutcome, records_from_rows
from collectors.profiles import ProfileSet
from collectors.snmp.base import SnmpClient, SnmpError, SnmpTarget, SnmpTimeout, Value
from collectors.snmp.options import SnmpSettings

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_DESCR = "1.3.6.1.2.1.1.1.0"

log = logging.getLogger(__name__)


class FallbackLog:
    """Says, once per device (not per poll or cycle), that its sysObjectID matched
    no profile and the fallback reads it; again only if its sysObjectID changes
    or it matched a profile in between."""

    def __init__(self) -> None:
        self._said: dict[tuple[str, str], str] = {}

    def note(self, device: Device, sys_oid: str | None, descr: str | None, profile: str) -> None:
        key, oid = (device.network, device.id), sys_oid or "(none)"
        if self._said.get(key) == oid:
            return
        self._said[key] = oid
        first = (descr or "").strip().splitlines()[0:1]
        shown = first[0][:80] + ("..." if len(first[0]) > 80 else "") if first else ""
        log.warning(
            "%s/%s: no profile matched sysObjectID %s (sysDescr %r): using %s",
            device.network,
            device.id,
            oid,
            shown,
            profile,
        )

    def matched(self, device: Device) -> None:
        self._said.pop((device.network, device.id), None)


def snmp_options(device: Device) -> SnmpSettings:
    """The device's resolved ``snmp:`` options (checked when the config loaded)."""
    opts = device.options.get("snmp")
    if not isinstance(opts, SnmpSettings):
        raise SnmpError(
            f"{device.id}: no snmp options (the network reads it with another protocol)"
        )
    return opts


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def target_of(device: Device) -> SnmpTarget:
    """The device's SNMP target, with the secrets its version and level use revealed.

    Raises :class:`SnmpError` naming the reference (never the value) when a
    secret cannot be read or a v3 pass phrase is shorter than USM's 8 characters.
    """
    s = snmp_options(device)
    base = SnmpTarget(
        device=device.id,
        host=device.host,
        port=s.port,
        version=s.version,
        timeout_s=s.timeout_s,
        retries=s.retries,
        max_repetitions=s.max_repetitions,
    )
    if s.version != "3":
        return replace(base, community=_reveal(device, "community", s.community))
    assert s.security_name is not None  # checked when the config loaded
    auth = s.security_level in ("authNoPriv", "authPriv")
    priv = s.security_level == "authPriv"
    return replace(
        base,
        security_name=s.security_name,
        security_level=s.security_level,
        auth_protocol=s.auth_protocol if auth else None,
        auth_key=_pass_phrase(device, "auth_key", s.auth_key) if auth else "",
        priv_protocol=s.priv_protocol if priv else None,
        priv_key=_pass_phrase(device, "priv_key", s.priv_key) if priv else "",
        context_name=s.context_name,
    )


def _reveal(device: Device, name: str, ref: SecretRef | None) -> str:
    assert ref is not None  # checked when the config loaded
    try:
        return ref.reveal()
    except SecretError as exc:
        raise SnmpError(f"{device.id}: snmp.{name}: {exc}") from None


def _pass_phrase(device: Device, name: str, ref: SecretRef | None) -> str:
    value = _reveal(device, name, ref)
    if len(value) < 8:
        raise SnmpError(
            f"{device.id}: snmp.{name}: the pass phrase in {ref} is shorter than "
            "the 8 characters SNMPv3 (USM) requires"
        )
    return value


async def poll_device(
    client: SnmpClient,
    profiles: ProfileSet,
    device: Device,
    dataset: str,
    scheduled_unix_ms: int,
    cycle: str,
    fallbacks: FallbackLog | None = None,
) -> PollOutcome:
    """Poll ``device`` for ``dataset``; never raises for device problems.
    ``fallbacks``: where a device read with the fallback profile is said once."""
    try:
        deadline = snmp_options(device).device_deadline_s
    except SnmpError as exc:
        return PollOutcome(device.id, "failed", error=str(exc))
    try:
        return await asyncio.wait_for(
            _poll(client, profiles, device, dataset, scheduled_unix_ms, cycle, fallbacks),
            deadline,
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
    fallbacks: FallbackLog | None = None,
) -> PollOutcome:
    target = target_of(device)
    sent = _now_ms()
    ident = await client.get(target, [SYS_OBJECT_ID, SYS_UPTIME, SYS_DESCR])
    raw_oid, descr = ident.get(SYS_OBJECT_ID), ident.get(SYS_DESCR)
    sys_oid = raw_oid if isinstance(raw_oid, str) else None
    sys_descr = descr.decode("utf-8", "replace") if isinstance(descr, bytes) else None
    profile, matched = profiles.match(sys_oid, sys_descr)
    if fallbacks is not None:
        if matched:
            fallbacks.matched(device)
        else:
            fallbacks.note(device, sys_oid, sys_descr, profile.name)
    cds = profile.datasets.get(dataset)
    if cds is None:  # nothing to read for this kind of device: answered, nothing to publish
        return PollOutcome(device.id, "ok")
    uptime = ident.get(SYS_UPTIME)
    uptime_ms = uptime * 10 if isinstance(uptime, int) else None

    missing: list[str] = []
    sources = list(cds.oids)
    varbinds = len(ident)
    scalars: dict[str, Value] = dict(ident)
    columns: dict[str, dict[str, Value]] = {}
    wanted = [o for o in cds.scalar_oids if o not in ident]
    if wanted:
        scalars.update(await client.get(target, wanted))
        varbinds += len(scalars) - len(ident)
    if cds.columns:
        walk = await client.walk(target, list(cds.columns))
        columns = walk.columns
        varbinds += sum(len(c) for c in columns.values())
        missing = sorted(f"{c}: {why}" for c, why in walk.problems.items())
    received = _now_ms()

    prov = Provenance(
        protocol=f"snmpv{target.version}", collector_version=__version__, sources=sources
    )
    records = records_from_rows(
        cds.build(columns, scalars),
        missing=missing,
        device_tags=device.tags,
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
    )
    return PollOutcome(device.id, "ok", records, values_read=varbinds)
