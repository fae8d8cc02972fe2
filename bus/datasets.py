"""Typed models of each dataset's ``tags`` and ``fields``.

A :class:`~bus.records.Record` carries tags and fields as plain mappings so
the envelope stays stable as datasets grow; the models here say what each
dataset contains.  :func:`validate` checks a record against its dataset
(collectors' tests do, and the JSON Schema in :mod:`bus.schema` embeds them),
and :func:`typed_fields` gives applications an attribute-typed view.

Units are in the names: ``_octets``, ``_pkts``, ``_bps``, ``_ms``, ``_ticks``
(hundredths of a second, as SNMP TimeTicks).  Counters are the device's raw
cumulative values; ``counter_bits`` says whether they wrap at 2**64 or 2**32.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from bus.records import Record, RecordError

Status = Literal["up", "down", "testing", "unknown", "dormant", "notPresent", "lowerLayerDown"]


class SystemTags(msgspec.Struct):
    """Identity of a system record (the device id is on the envelope).  Tags
    from the device's configuration (``site``, ``role``, ...) may be added."""

    sys_name: str | None = None


class SystemFields(msgspec.Struct, forbid_unknown_fields=True):
    """``system`` dataset, one record per device per cycle.

    ``sys_object_id`` (dotted OID), ``sys_descr``, ``sys_contact``,
    ``sys_location``, ``uptime_ticks`` (sysUpTime, 1/100 s), ``vendor``,
    ``model``, ``os_name``, ``os_version``, ``serial`` (where the profile knows
    them).  A device no profile matched has ``profile == "generic"``.
    """

    sys_object_id: str | None = None
    sys_descr: str | None = None
    sys_contact: str | None = None
    sys_location: str | None = None
    uptime_ticks: int | None = None
    vendor: str | None = None
    model: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    serial: str | None = None


class InterfaceTags(msgspec.Struct):
    """Identity of an interface: ``if_index`` (as a string) and ``if_name``,
    plus the device's configured tags."""

    if_index: str
    if_name: str | None = None


class InterfaceFields(msgspec.Struct, forbid_unknown_fields=True):
    """``interfaces`` dataset, one record per ifTable row per cycle.

    Descriptive: ``if_descr``, ``if_alias``, ``if_type`` (IANA name),
    ``admin_status``, ``oper_status``, ``duplex`` (EtherLike-MIB name),
    ``speed_bps`` (ifHighSpeed x 10^6 where present, else ifSpeed),
    ``mtu_octets``, ``phys_address`` (lowercase hex, no separators),
    ``last_change_ticks``.
    Counters (cumulative, 64-bit HC where the device has them, else 32-bit;
    ``counter_bits`` says which): ``in_octets``, ``out_octets``,
    ``in_ucast_pkts``, ``out_ucast_pkts``, ``in_multicast_pkts``,
    ``out_multicast_pkts``, ``in_broadcast_pkts``, ``out_broadcast_pkts``,
    ``in_nucast_pkts``, ``out_nucast_pkts`` (32-bit, deprecated in IF-MIB),
    ``in_errors``, ``out_errors``, ``in_discards``, ``out_discards``,
    ``in_unknown_protos``.
    """

    if_descr: str | None = None
    if_alias: str | None = None
    if_type: str | None = None
    admin_status: Status | None = None
    oper_status: Status | None = None
    duplex: str | None = None
    speed_bps: int | None = None
    mtu_octets: int | None = None
    phys_address: str | None = None
    last_change_ticks: int | None = None
    counter_bits: Literal[32, 64] | None = None
    in_octets: int | None = None
    out_octets: int | None = None
    in_ucast_pkts: int | None = None
    out_ucast_pkts: int | None = None
    in_multicast_pkts: int | None = None
    out_multicast_pkts: int | None = None
    in_broadcast_pkts: int | None = None
    out_broadcast_pkts: int | None = None
    in_nucast_pkts: int | None = None
    out_nucast_pkts: int | None = None
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None
    in_unknown_protos: int | None = None


class DatasetModel(msgspec.Struct, frozen=True):
    name: str
    tags: type[msgspec.Struct]
    fields: type[msgspec.Struct]


DATASETS: dict[str, DatasetModel] = {
    "system": DatasetModel("system", SystemTags, SystemFields),
    "interfaces": DatasetModel("interfaces", InterfaceTags, InterfaceFields),
}


def validate(record: Record) -> None:
    """Raise :class:`RecordError` if ``record`` does not fit its dataset model."""
    model = DATASETS.get(record.dataset)
    if model is None:
        raise RecordError(f"{record.device}: unknown dataset {record.dataset!r}")
    for part, kind in (("tags", model.tags), ("fields", model.fields)):
        try:
            msgspec.convert(getattr(record, part), kind, strict=True)
        except msgspec.ValidationError as exc:
            raise RecordError(
                f"{record.network}/{record.device} {record.dataset}.{part}: {exc}"
            ) from exc


def typed_fields(record: Record) -> Any:
    """Return the record's fields as its dataset's typed struct."""
    return msgspec.convert(record.fields, DATASETS[record.dataset].fields, strict=True)
