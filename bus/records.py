"""The record contract: every message on the bus is one of these, defined once.

Two kinds of message travel on a dataset topic (``<prefix>.<network>.<dataset>``),
told apart by the ``kind`` field:

``Record`` (``kind="record"``) — one observation of one thing on one device
in one poll cycle.  Identity lives in ``tags`` (strings), values in ``fields``
(numbers/strings, units in their names).  Fields:

- ``schema_version``: int, :data:`SCHEMA_VERSION`; consumers reject newer majors.
- ``network``: network name as configured (``configs/networks/<network>.yaml``).
- ``device``: device id, unique within the network; also the Kafka message key.
- ``profile``: the profile that read the device (e.g. ``ios``, ``junos``; ``generic``
  when none matched).
- ``dataset``: ``system``, ``interfaces``, ... (see :mod:`bus.datasets`).
- ``cycle_id``: ``<network>:<dataset>:<scheduled_unix_ms>``; equal for every
  record of one poll cycle, and the same string on its :class:`CycleComplete`.
- ``scheduled_unix_ms``: the scheduler tick the cycle belongs to.
- ``request_unix_ms`` / ``response_unix_ms``: first request sent, last reply
  received, for this device and dataset.
- ``device_uptime_ms``: sysUpTime at poll time, where known (reboot detection).
- ``provenance``: protocol, what was read (OIDs or paths), collector version.
- ``partial`` / ``missing``: ``True`` with the names of what could not be read
  when the device answered only part of the request.
- ``absent``: field name -> why that field is left out although the device
  answered for it: a "no reading" sentinel of the MIB (``-1``, ``-32768``,
  ``2^31-1``, an "unsupported" code, an empty string) or a value outside what
  its quantity can physically be (:func:`bus.datasets.implausible`).  Such a
  value is never published as a number; ``absent`` says the field is not
  missing by accident.  Empty (``{}``) when nothing was dropped; it does not
  make the record ``partial`` and does not enter :func:`record_id`.
- ``tags``: identity, e.g. ``{"if_index": "3", "if_name": "Gi0/1"}``.
- ``fields``: values, e.g. ``{"in_octets": 123, "speed_bps": 1000000000}``.

Example payload::

    {"kind": "record", "schema_version": 1, "network": "lab-east",
     "device": "core-1", "profile": "ios", "dataset": "interfaces",
     "cycle_id": "lab-east:interfaces:1764028800000",
     "scheduled_unix_ms": 1764028800000, "request_unix_ms": 1764028800412,
     "response_unix_ms": 1764028800431, "device_uptime_ms": 7184757370,
     "provenance": {"protocol": "snmpv2c", "collector_version": "0.1.0",
                    "sources": ["1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"]},
     "partial": false, "missing": [],
     "absent": {"mtu_octets": "implausible: -1 is outside 0.. (a size, count,
                rate or duration is never below 0)"},
     "tags": {"if_index": "1", "if_name": "Gi0/1"},
     "fields": {"if_descr": "GigabitEthernet0/1", "oper_status": "up",
                "in_octets": 365633155, "counter_bits": 64}}

An enumerated field whose code the profile's table does not know carries the
raw code (``"oper_status": 0``), see :mod:`bus.datasets`.

``CycleComplete`` (``kind="cycle_complete"``) — published by a collector after
every record of one cycle was acknowledged by the bus, once to *every*
partition of the dataset topic.  Because each partition is ordered, a consumer
that reads the marker on a partition has already read every record of that
cycle on that partition: the snapshot is whole for the partitions it owns.
Fields: ``network``, ``dataset``, ``cycle_id``, ``scheduled_unix_ms``,
``started_unix_ms``, ``finished_unix_ms``, ``duration_ms``,
``devices_planned`` / ``devices_ok`` / ``devices_failed`` /
``devices_timed_out`` / ``devices_skipped`` (planned is the sum of the other
four; skipped: not polled this cycle because the device is backing off after
repeated failures; 0 from collectors that predate it), ``records``,
``failures`` (device -> reason, skipped devices included),
``partition`` / ``partitions`` (which copy of the marker this is),
``collector`` (instance id), ``quarantined`` (records the quality gate held
back, on the quarantine topic instead), ``tick_skipped`` (empty for a cycle
that ran; else why the tick was not polled at all, e.g. the previous cycle
was still publishing: every device then counts as skipped and ``records`` is
0, so a consumer sees every tick of the grid, polled or not),
``interrupted`` (empty for a cycle that ended; else the cycle was cut short
and its marker was published afterwards, by the collector's next start or at
the end of its stop grace: "collector stopped before the cycle ended (killed
or crashed)" or "... (its stop grace ran out)".  Its counts are what got out
before the cut: ``records`` / ``quarantined`` published, ``devices_ok`` the
devices whose records got out, failed / timed out / skipped as known then,
and every other planned device failed with ``interrupted: <reason>`` in
``failures``; ``finished_unix_ms`` is the last outcome noted before the cut.
It follows the records of that cycle that reached the bus, on every
partition, like any marker.  A ``collect --once`` run in the tick of a cycle
left open polls that cycle again instead: one marker, not interrupted),
``shards`` / ``shards_total`` (empty / 0: the marker covers every device of
the network; else the network's devices are split into ``shards_total``
shards by :func:`bus.shards.shard_of` and this marker covers the devices of
``shards`` only: several collector instances share the network, each
publishing its own marker for the same cycle, and the cycle is whole once
the markers read on a partition cover every shard; counts are this
instance's, see :func:`merge_markers`).

``Quarantined`` (``kind="quarantined"``) — a record the collector's quality
gate (:mod:`collectors.quality`) refused, published on
``<prefix>.<network>.quarantine`` (:func:`bus.topics.quarantine_topic`)
instead of its dataset topic: ``network``, ``device``, ``dataset``,
``cycle_id``, ``rule`` (which check: ``model``, ``counter_backwards``,
``rate_above_speed``, ``future_timestamp``, ``negative``), ``reason`` (what
was wrong, for a person) and ``record`` (the record as the driver built it).
Applications read it only if they subscribe to that topic.

``Alert`` (``kind="alert"``) — published by the ``threshold-alerts``
application on ``<prefix>.alerts`` (:func:`bus.topics.alerts_topic`), keyed by
``alert_id``: ``network``, ``device``, ``rule`` (the rule's name), ``subject``
(what in the device, e.g. ``if_index=3 Gi0/1``; empty for the device
itself), ``alert_id`` (stable: network, device, rule, subject), ``state``
(``raise`` | ``clear``: every raise is followed by one clear when the
condition stops holding or its subject disappears), ``severity``, ``value``
and ``threshold`` (what was seen and the limit, where numeric), ``message``
(for a person), ``cycle_id`` (the cycle that decided it),
``raised_unix_ms`` (when the alert was raised; on a clear, the raise it
ends) and ``at_unix_ms`` (this event's cycle time).

``DeviceState`` (``kind="device_state"``) — published by the
``reachability`` application on the compacted ``<prefix>.state`` topic
(:func:`bus.topics.state_topic`), keyed ``<network>/<device>``, on every
change of a device's state and its first observation: ``network``,
``device``, ``state`` (``up``: it answered in the cycle; ``down``: it did
not), ``since_unix_ms`` (the cycle time the state began), ``last_cycle_id``,
``reason`` (why down: the collector's failure reason), ``transitions``
(the latest changes, newest last, at most 20: ``[state, unix_ms]`` pairs).

Serialisation is JSON via msgspec: field order is the declaration order, so
the same record always encodes to the same bytes.

Every message also carries a header ``netfeed-id`` (:data:`RECORD_ID_HEADER`):
:func:`record_id` of the message, stable across retries and distinct across
rows, for consumers to drop the duplicates that at-least-once delivery makes.
"""

from __future__ import annotations

import hashlib

import msgspec

SCHEMA_VERSION = 1
RECORD_ID_HEADER = "netfeed-id"

FieldValue = int | float | str | bool | None


class Provenance(msgspec.Struct, frozen=True, kw_only=True):
    """Where a record came from: ``protocol`` (``snmpv2c``, ``netconf``),
    ``collector_version``, ``sources`` (table OIDs or paths read)."""

    protocol: str
    collector_version: str
    sources: list[str] = []


class Record(msgspec.Struct, tag_field="kind", tag="record", kw_only=True):
    """One observation; see the module docstring for every field."""

    schema_version: int = SCHEMA_VERSION
    network: str
    device: str
    profile: str
    dataset: str
    cycle_id: str
    scheduled_unix_ms: int
    request_unix_ms: int
    response_unix_ms: int
    device_uptime_ms: int | None = None
    provenance: Provenance
    partial: bool = False
    missing: list[str] = []
    absent: dict[str, str] = {}
    tags: dict[str, str]
    fields: dict[str, FieldValue]


class CycleComplete(msgspec.Struct, tag_field="kind", tag="cycle_complete", kw_only=True):
    """End-of-cycle marker; see the module docstring for its guarantee."""

    schema_version: int = SCHEMA_VERSION
    network: str
    dataset: str
    cycle_id: str
    scheduled_unix_ms: int
    started_unix_ms: int
    finished_unix_ms: int
    duration_ms: int
    devices_planned: int
    devices_ok: int
    devices_failed: int
    devices_timed_out: int
    devices_skipped: int = 0
    records: int
    failures: dict[str, str] = {}
    partition: int = 0
    partitions: int = 1
    collector: str = ""
    quarantined: int = 0
    tick_skipped: str = ""
    interrupted: str = ""
    shards: list[int] = []
    shards_total: int = 0


class Quarantined(msgspec.Struct, tag_field="kind", tag="quarantined", kw_only=True):
    """A record the quality gate refused; see the module docstring."""

    schema_version: int = SCHEMA_VERSION
    network: str
    device: str
    dataset: str
    cycle_id: str
    rule: str
    reason: str
    record: Record


class Alert(msgspec.Struct, tag_field="kind", tag="alert", kw_only=True):
    """A threshold alert raised or cleared; see the module docstring."""

    schema_version: int = SCHEMA_VERSION
    network: str
    device: str
    rule: str
    subject: str = ""
    alert_id: str
    state: str
    severity: str = "warning"
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    cycle_id: str
    raised_unix_ms: int
    at_unix_ms: int


class DeviceState(msgspec.Struct, tag_field="kind", tag="device_state", kw_only=True):
    """A device's reachability; see the module docstring."""

    schema_version: int = SCHEMA_VERSION
    network: str
    device: str
    state: str
    since_unix_ms: int
    last_cycle_id: str
    reason: str = ""
    transitions: list[tuple[str, int]] = []


Message = Record | CycleComplete | Quarantined | Alert | DeviceState

_encoder = msgspec.json.Encoder()
_blake2b = hashlib.blake2b
_decoder: msgspec.json.Decoder[Message] = msgspec.json.Decoder(Message)


class RecordError(ValueError):
    """A payload that is not a valid message of this schema."""


def cycle_id(network: str, dataset: str, scheduled_unix_ms: int) -> str:
    return f"{network}:{dataset}:{scheduled_unix_ms}"


def covers_all(markers: list[CycleComplete]) -> bool:
    """Whether ``markers`` (of one cycle) together cover every device of the
    network: one unsharded marker, or sharded ones whose shards cover
    ``range(shards_total)``."""
    seen: set[int] = set()
    total = 0
    for m in markers:
        if not m.shards_total:
            return True
        total = m.shards_total
        seen.update(m.shards)
    return bool(total) and len(seen) >= total and seen >= set(range(total))


def merge_markers(markers: list[CycleComplete]) -> CycleComplete:
    """One marker for a cycle that several instances reported in parts (one
    marker each for its shards; copies of one marker on several partitions
    count once): counts summed, failures merged, ``shards`` the union,
    ``collector`` the instances joined by ``,``, started/finished the
    earliest/latest.  One marker (or copies of one) comes back as it is."""
    parts: dict[tuple[str, tuple[int, ...]], CycleComplete] = {}
    for m in markers:
        parts.setdefault((m.collector, tuple(m.shards)), m)
    if len(parts) <= 1:
        return markers[0]
    ms = list(parts.values())
    first = ms[0]
    started = min(m.started_unix_ms for m in ms)
    finished = max(m.finished_unix_ms for m in ms)
    failures: dict[str, str] = {}
    for m in ms:
        failures.update(m.failures)
    return msgspec.structs.replace(
        first,
        started_unix_ms=started,
        finished_unix_ms=finished,
        duration_ms=finished - started,
        devices_planned=sum(m.devices_planned for m in ms),
        devices_ok=sum(m.devices_ok for m in ms),
        devices_failed=sum(m.devices_failed for m in ms),
        devices_timed_out=sum(m.devices_timed_out for m in ms),
        devices_skipped=sum(m.devices_skipped for m in ms),
        records=sum(m.records for m in ms),
        quarantined=sum(m.quarantined for m in ms),
        failures=failures,
        collector=",".join(sorted({m.collector for m in ms})),
        shards=sorted({s for m in ms for s in m.shards}),
        tick_skipped=next((m.tick_skipped for m in ms if m.tick_skipped), ""),
        interrupted=next((m.interrupted for m in ms if m.interrupted), ""),
    )


def record_id(message: Message) -> str:
    """A stable id of ``message``: 32 hex digits, also sent as the message
    header :data:`RECORD_ID_HEADER`.

    A record's id is derived from ``network``, ``device``, ``dataset``,
    ``cycle_id`` and its ``tags`` (the row's identity: e.g. ``if_index``), so
    the same row of the same cycle has the same id however often it is sent
    (a retry, a spool drained twice after a crash), and two rows differ.  A
    marker's id is derived from its ``cycle_id`` and ``partition``, a
    quarantined record's from the refused record's id and the rule, an
    alert's from its ``alert_id``, ``state`` and ``raised_unix_ms`` (a raise and
    its clear differ; the same event sent twice does not), a device state's
    from network, device, state and ``since_unix_ms``.  Consumers drop
    duplicates by it; values (``fields``) do not enter it.
    """
    if isinstance(message, Alert):
        text = f"alert\x1f{message.alert_id}\x1f{message.state}\x1f{message.raised_unix_ms}"
    elif isinstance(message, DeviceState):
        m2 = message
        text = f"device_state\x1f{m2.network}\x1f{m2.device}\x1f{m2.state}\x1f{m2.since_unix_ms}"
    elif isinstance(message, Quarantined):
        text = f"quarantined\x1f{record_id(message.record)}\x1f{message.rule}"
    elif isinstance(message, Record):
        tags = message.tags
        # (A list, not a generator: the same text ~20% cheaper, and nothing left
        # for the garbage collector to count on the hot path.)
        row = "\x1f".join([f"{k}={tags[k]}" for k in sorted(tags)])
        m = message
        text = f"{m.network}\x1f{m.device}\x1f{m.dataset}\x1f{m.cycle_id}\x1e{row}"
    else:
        text = f"cycle_complete\x1f{message.cycle_id}\x1e{message.partition}"
        if message.shards:  # one marker per instance sharing the network: all distinct
            text += "\x1e" + ",".join(map(str, message.shards))
    return _blake2b(text.encode(), digest_size=16).hexdigest()


def encode(message: Message) -> bytes:
    """Encode to JSON bytes (stable: same message, same bytes)."""
    return _encoder.encode(message)


def decode(payload: bytes, *, where: str = "") -> Message:
    """Decode and validate one payload.

    Raises :class:`RecordError` naming ``where`` (e.g. ``topic[partition]@offset``)
    for malformed JSON, unknown kinds, wrong types, or a newer schema version.
    """
    try:
        msg = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise RecordError(f"{where or 'payload'}: not a netfeed message: {exc}") from exc
    if msg.schema_version > SCHEMA_VERSION:
        raise RecordError(
            f"{where or 'payload'}: schema_version {msg.schema_version} is newer than "
            f"this reader's {SCHEMA_VERSION}; upgrade netfeed"
        )
    return msg
