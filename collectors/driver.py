"""The one contract between the collector core and a protocol (SNMP, NETCONF, gNMI ...).

The core (configuration, cycles, scheduling, backoff, markers, publishing)
knows devices, datasets and ticks, never a protocol.  A protocol is a
:class:`Driver` subclass in a package of its own, registered under the
``netfeed.collectors`` entry point group (see :mod:`collectors.registry`);
adding one edits nothing in the core.

A driver brings, as class attributes:

- ``name``: the protocol's name, which is also the key of its options in
  network files (``defaults.snmp``, ``groups.core.snmp``, ``devices[].snmp``),
  of ``datasets.<dataset>.protocol`` and of ``collector.drivers.<name>`` in
  ``netfeed.yaml``;
- ``Options``: a strict pydantic model of one device's resolved options (every
  field defaulted or required), validated when the configuration loads;
- ``Overrides``: the same keys, all optional, as written in defaults, groups
  and devices (layered: defaults < groups in order < the device);
- ``Settings``: its process-wide settings (``collector.drivers.<name>``);
- ``csv_columns``: bare inventory CSV column names that mean one of its
  options (``port`` -> ``port``); any option can also be given as a
  ``<name>.<option>`` column.

Guarantees a driver gives the core:

- :meth:`Driver.poll` never raises for a device's problem: a dead, slow or
  garbled device is an outcome (``failed`` / ``timed_out`` with a reason),
  and records read before the problem are kept and marked partial;
- a poll ends by the device's own deadline;
- secrets are revealed only to talk to the device, never put in errors,
  logs or records;
- :meth:`Driver.retain` forgets devices no longer configured: whatever the
  driver keeps per device (sessions, locks, backoff state) for any other
  device is released, so a removed device holds no connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from bus.api import AsyncService
from bus.records import Record

if TYPE_CHECKING:
    from collectors.config import Device


@dataclass(slots=True)
class PollOutcome:
    """What one poll of one device for one dataset gave.

    ``status``: ``ok`` (answered; ``records`` may be empty when the device has
    nothing for the dataset), ``failed`` (answered badly or not as expected),
    ``timed_out`` (no complete answer in time).  ``values_read`` counts the
    protocol's values (SNMP varbinds, XML leaves) for throughput figures."""

    device: str
    status: Literal["ok", "failed", "timed_out"]
    records: list[Record] = field(default_factory=list)
    error: str | None = None
    values_read: int = 0


def records_from_rows(
    rows: Iterable[tuple[dict[str, str], dict[str, Any], list[str], dict[str, str]]],
    *,
    missing: list[str],
    device_tags: dict[str, str],
    **envelope: Any,
) -> list[Record]:
    """One :class:`Record` per profile row ``(tags, fields, bad, absent)`` (what
    ``CompiledDataset.build`` gives), every driver alike: the device's configured
    tags under the row's, ``missing`` (what the poll could not read) plus the
    fields whose value had the wrong type, ``partial`` when anything is missing,
    ``absent`` (fields left out on purpose: sentinels, implausible values);
    ``envelope`` is the rest (network, device, profile, dataset, cycle_id,
    timestamps, uptime, provenance)."""
    out = []
    for tags, fields, bad, absent in rows:
        row_missing = missing + [f"{b}: value of the wrong type" for b in bad]
        out.append(
            Record(
                **envelope,
                partial=bool(row_missing),
                missing=row_missing,
                absent=absent,
                tags={**device_tags, **tags},
                fields=fields,
            )
        )
    return out


class NoSettings(BaseModel):
    """A driver without process-wide settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Driver(AsyncService):
    """Base class of every protocol driver; ``start``/``stop`` or ``async with``.

    ``profile_dirs`` are the site profile folders (shipped profiles are the
    driver's own business).  ``start`` opens process-wide resources (sockets,
    engines); ``stop`` closes them and is safe to call twice."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]]
    Overrides: ClassVar[type[BaseModel]]
    Settings: ClassVar[type[BaseModel]] = NoSettings
    csv_columns: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: BaseModel | None = None, profile_dirs: list[Path] | None = None):
        self.settings = settings if settings is not None else self.Settings()
        self.profile_dirs = list(profile_dirs or [])

    async def start(self) -> None:
        """Open what the driver needs before the first poll (default: nothing)."""

    async def stop(self) -> None:
        """Release what :meth:`start` or polls opened (default: nothing)."""

    @classmethod
    def check(cls, settings: BaseModel, profile_dirs: list[Path]) -> list[str]:
        """Problems with this driver's data (profiles ...) for ``netfeed validate``,
        each naming its file and key; nothing is opened or contacted."""
        return []

    async def retain(self, device_ids: set[str]) -> None:
        """Keep per-device state only for ``device_ids`` (the devices configured
        now): close and forget what the driver holds for any other device.
        For a core that reloads its configuration (today's collector does not:
        a changed configuration means a restart); never raises for a device's
        problem.  Default: nothing (a driver without per-device state)."""

    @classmethod
    def worst_case_s(cls, device: Device) -> float | None:
        """The longest one poll of ``device`` takes when it stops answering (its
        timeouts and retries, within its deadline), from the device's options;
        None when the driver cannot tell.  ``netfeed validate`` warns when that,
        after the device's start in the spread, does not fit the interval."""
        return None

    async def poll(
        self, device: Device, dataset: str, scheduled_unix_ms: int, cycle_id: str
    ) -> PollOutcome:
        """Poll ``device`` for ``dataset`` and normalise the answer into records
        carrying ``scheduled_unix_ms`` and ``cycle_id``; never raises for device
        problems (see the module docstring)."""
        raise NotImplementedError
