"""Typed models of each dataset's ``tags`` and ``fields``.

A :class:`~bus.records.Record` carries tags and fields as plain mappings so
the envelope stays stable as datasets grow; the models here say what each
dataset contains.  :func:`validate` checks a record against its dataset
(collectors' tests do, and the JSON Schema in :mod:`bus.schema` embeds them),
and :func:`typed_fields` gives applications an attribute-typed view.

Units are in the names: ``_octets``, ``_pkts``, ``_bps``, ``_ms``, ``_ticks``
(hundredths of a second, as SNMP TimeTicks).  Counters are the device's raw
cumulative values; ``counter_bits`` says whether they wrap at 2**64 or 2**32.

Enumerated fields (``admin_status``, ``oper_status``, ``if_type``, ``duplex``,
``state``, ``status``, ``unit``, ``entity_class``) carry the name of the
device's code; a code the profile's table does not know is carried as the
raw number itself (``"oper_status": 0``): the device said something, and
what it said is kept, never mapped to nothing or to a string of digits.

What a quantity can physically be is part of the contract (:data:`PLAUSIBLE`,
:func:`implausible`): a value outside it (memory of -1 octets, a CPU at 250
%, optical power of +40 dBm) is a sentinel or a wrong scale, not a fact, so
collectors leave the field out and say why in the record's ``absent``
(:class:`bus.records.Record`).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import msgspec

from bus.records import Record, RecordError

Status = Literal["up", "down", "testing", "unknown", "dormant", "notPresent", "lowerLayerDown"]
# an enumerated field: the code's name, or the raw code where the name is unknown
Code = int


class SystemTags(msgspec.Struct):
    """Identity of a system record (the device id is on the envelope).  Tags
    from the device's configuration (``site``, ``role``, ...) may be added."""

    sys_name: str | None = None


class SystemFields(msgspec.Struct, forbid_unknown_fields=True):
    """``system`` dataset, one record per device per cycle.

    ``sys_object_id`` (dotted OID), ``sys_descr``, ``sys_contact``,
    ``sys_location``, ``uptime_ticks`` (sysUpTime, 1/100 s), ``vendor``,
    ``model``, ``os_name``, ``os_version``, ``serial``, ``hardware`` (where
    the profile knows them).  A device no profile matched has
    ``profile == "generic"``.
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
    hardware: str | None = None


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
    if_type: str | Code | None = None
    admin_status: Status | Code | None = None
    oper_status: Status | Code | None = None
    duplex: str | Code | None = None
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


class HealthTags(msgspec.Struct):
    """Identity of a health component: ``component_kind`` (``cpu`` | ``memory``),
    ``component_index`` (the table index it came from), ``component`` (name)."""

    component_kind: Literal["cpu", "memory"]
    component_index: str
    component: str | None = None


class HealthFields(msgspec.Struct, forbid_unknown_fields=True):
    """``health`` dataset, one record per CPU or memory pool per cycle.

    ``cpu_util_pct`` (0-100, the device's own averaging, usually 1 or 5 min),
    ``memory_used_octets``, ``memory_free_octets``, ``memory_total_octets``,
    ``memory_util_pct``; ``description``; ``source_oid`` (the OID the main value
    was read from).
    """

    description: str | None = None
    cpu_util_pct: float | None = None
    memory_used_octets: int | None = None
    memory_free_octets: int | None = None
    memory_total_octets: int | None = None
    memory_util_pct: float | None = None
    source_oid: str | None = None


SensorClass = Literal[
    "temperature",
    "fan",
    "power_supply",
    "voltage",
    "current",
    "power",
    "rx_power",
    "tx_power",
    "humidity",
    "state",
    "other",
]
SensorUnit = Literal[
    "celsius",
    "rpm",
    "volts",
    "amperes",
    "watts",
    "dbm",
    "percent",
    "state",
    "count",
    "other",
]


class SensorTags(msgspec.Struct):
    """Identity of a sensor: ``sensor_index`` (table index), ``sensor_class``,
    and where known ``if_index`` / ``entity_index`` of what it measures."""

    sensor_index: str
    sensor_class: SensorClass
    if_index: str | None = None
    entity_index: str | None = None


class SensorFields(msgspec.Struct, forbid_unknown_fields=True):
    """``sensors`` dataset, one record per sensor per cycle.

    Sensors come in many units, so the reading is ``value`` with its ``unit``
    (one fixed vocabulary: celsius, rpm, volts, amperes, watts, dbm, percent,
    state, count).  Thresholds, where the MIB gives them, are in the same unit:
    ``low_critical``, ``low_warning``, ``high_warning``, ``high_critical``.
    ``status`` is ``ok`` | ``warning`` | ``critical`` | ``unknown`` |
    ``unavailable``; ``state`` is a state sensor's raw enum name.
    ``description``; ``source_oid`` (the OID ``value`` was read from).
    """

    value: float | None = None
    unit: SensorUnit | Code | None = None
    description: str | None = None
    status: str | Code | None = None
    state: str | Code | None = None
    low_critical: float | None = None
    low_warning: float | None = None
    high_warning: float | None = None
    high_critical: float | None = None
    source_oid: str | None = None


class BgpTags(msgspec.Struct):
    """Identity of a BGP session: ``peer_address`` (and ``routing_instance``/VRF
    where the MIB separates them)."""

    peer_address: str
    routing_instance: str | None = None


class BgpFields(msgspec.Struct, forbid_unknown_fields=True):
    """``bgp`` dataset, one record per peer per cycle.

    ``remote_as``, ``local_as``, ``peer_identifier`` (router id),
    ``local_address``, ``state`` (``idle`` … ``established``), ``admin_status``
    (``stop``/``start``), ``established_time_s`` (seconds in the current or
    last established state), ``in_updates``, ``out_updates``,
    ``in_total_messages``, ``out_total_messages``, ``prefixes_received``,
    ``prefixes_accepted``, ``prefixes_advertised`` (where the MIB has them,
    summed over address families), ``description``, ``source_oid``.
    """

    remote_as: int | None = None
    local_as: int | None = None
    peer_identifier: str | None = None
    local_address: str | None = None
    state: str | Code | None = None
    admin_status: str | Code | None = None
    established_time_s: int | None = None
    in_updates: int | None = None
    out_updates: int | None = None
    in_total_messages: int | None = None
    out_total_messages: int | None = None
    prefixes_received: int | None = None
    prefixes_accepted: int | None = None
    prefixes_advertised: int | None = None
    description: str | None = None
    source_oid: str | None = None


class InventoryTags(msgspec.Struct):
    """Identity of an inventory item: ``entity_index`` (entPhysicalIndex)."""

    entity_index: str


class InventoryFields(msgspec.Struct, forbid_unknown_fields=True):
    """``inventory`` dataset (ENTITY-MIB entPhysicalTable), one record per entity.

    ``description``, ``entity_class`` (chassis, module, port, powerSupply, fan,
    sensor, container, cpu, stack, backplane, other, unknown), ``name``,
    ``hardware_rev``, ``firmware_rev``, ``software_rev``, ``serial``,
    ``model``, ``manufacturer``, ``alias``, ``asset_id``, ``is_fru``,
    ``contained_in`` (parent entity index, 0 = none), ``parent_rel_pos``.
    """

    description: str | None = None
    entity_class: str | Code | None = None
    name: str | None = None
    hardware_rev: str | None = None
    firmware_rev: str | None = None
    software_rev: str | None = None
    serial: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    alias: str | None = None
    asset_id: str | None = None
    is_fru: bool | None = None
    contained_in: int | None = None
    parent_rel_pos: int | None = None


class DatasetModel(msgspec.Struct, frozen=True):
    """One dataset: its tags and fields models, and how often a network polls
    it unless its configuration says otherwise."""

    name: str
    tags: type[msgspec.Struct]
    fields: type[msgspec.Struct]
    default_interval_s: float = 60.0

    def tag_names(self) -> frozenset[str]:
        return frozenset(f.name for f in msgspec.structs.fields(self.tags))

    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in msgspec.structs.fields(self.fields))


DATASETS: dict[str, DatasetModel] = {
    "system": DatasetModel("system", SystemTags, SystemFields, 300),
    "interfaces": DatasetModel("interfaces", InterfaceTags, InterfaceFields, 60),
    "health": DatasetModel("health", HealthTags, HealthFields, 60),
    "sensors": DatasetModel("sensors", SensorTags, SensorFields, 300),
    "bgp": DatasetModel("bgp", BgpTags, BgpFields, 300),
    "inventory": DatasetModel("inventory", InventoryTags, InventoryFields, 3600),
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


# --- what a quantity can physically be ------------------------------------------


class Plausible(msgspec.Struct, frozen=True):
    """The range a quantity can physically take (``low`` / ``high`` inclusive, None:
    unbounded), ``smallest``: the least non-zero magnitude a reading of it has on a
    network element (below it, the reading is a unit read at the wrong scale; not
    applied to thresholds, which are settings), and ``why``: the physics or MIB
    definition the range comes from."""

    low: float | None
    high: float | None
    why: str
    smallest: float = 0.0


_COUNT = Plausible(0, None, "a size, count, rate or duration is never below 0")
# fields named by their unit (suffix), every dataset
NON_NEGATIVE_SUFFIXES: tuple[str, ...] = ("_octets", "_pkts", "_bps", "_ticks", "_s", "_ms")
NON_NEGATIVE_SUFFIXES += ("_errors", "_discards", "_protos", "_updates", "_messages")
PLAUSIBLE_BY_SUFFIX: dict[str, Plausible] = {
    **dict.fromkeys(NON_NEGATIVE_SUFFIXES, _COUNT),
    "_pct": Plausible(0, 100, "a percentage of a whole is 0..100"),
}
# sensors: ``value`` and its thresholds, by the record's ``unit``
PLAUSIBLE_BY_UNIT: dict[str, Plausible] = {
    # SFF-8472 / SFF-8636 / CMIS DOM report optical power in 0.1 uW steps: the least
    # non-zero reading is -40 dBm; +20 dBm (100 mW) is above any pluggable or
    # line-card laser and the output of an amplifier stage
    "dbm": Plausible(-40, 20, "optical power: DOM's floor is -40 dBm (0.1 uW); +20 dBm is 100 mW"),
    # silicon and its enclosures: storage -55 C (MIL range) .. junction limit 150 C
    "celsius": Plausible(-60, 150, "equipment temperature: -60..150 C (silicon's limits)"),
    "percent": Plausible(0, 100, "a percentage of a whole is 0..100"),
    "rpm": Plausible(0, 100_000, "a fan turns 0..100,000 rpm"),
    # low-voltage equipment: 1,000 V AC / 1,500 V DC at most (IEC 60038); -48 V plants
    "volts": Plausible(-1500, 1500, "equipment voltage: at most 1,500 V either way"),
    # a PSU, feed or laser bias: up to a few hundred A; DOM resolves bias in 2 uA
    # steps, but a laser lases at milliamps: 0 < |I| < 0.1 mA is microamps read as A
    "amperes": Plausible(
        -1000, 1000, "equipment current: |I| <= 1,000 A, 0 or at least 0.1 mA", 1e-4
    ),
    "watts": Plausible(0, 100_000, "equipment power: 0..100 kW"),
}
THRESHOLDS = ("low_critical", "low_warning", "high_warning", "high_critical")
SENSOR_VALUES = ("value", *THRESHOLDS)


def plausible_range(dataset: str, name: str, fields: dict[str, Any]) -> Plausible | None:
    """The range field ``name`` of a ``dataset`` record must lie in (None: any)."""
    if dataset == "sensors" and name in SENSOR_VALUES:
        unit = fields.get("unit")
        return PLAUSIBLE_BY_UNIT.get(unit) if isinstance(unit, str) else None
    return _by_suffix(name)


@functools.cache
def _by_suffix(name: str) -> Plausible | None:
    # Called for every numeric field of every record: field names are few, so
    # the suffix scan runs once per name.
    for suffix, p in PLAUSIBLE_BY_SUFFIX.items():
        if name.endswith(suffix):
            return p
    return None


def implausible(dataset: str, fields: dict[str, Any]) -> dict[str, str]:
    """The numeric fields of a ``dataset`` record that its quantity cannot physically
    be, each with why (for a record's ``absent``); empty when all are plausible."""
    out: dict[str, str] = {}
    for name, v in fields.items():
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        p = plausible_range(dataset, name, fields)
        if p is None:
            continue
        if (p.low is not None and v < p.low) or (p.high is not None and v > p.high):
            span = "..".join("" if b is None else f"{b:g}" for b in (p.low, p.high))
            out[name] = f"implausible: {v:g} is outside {span} ({p.why})"
        elif v and abs(v) < p.smallest * (1 - 1e-9) and name not in THRESHOLDS:
            out[name] = f"implausible: {v:g} is below {p.smallest:g} ({p.why}): a wrong scale"
    return out
