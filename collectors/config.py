"""Network configuration: ``configs/networks/<network>.yaml`` (+ optional CSV inventories).

Everything is validated when it loads, before any socket is opened; unknown
keys are errors.  A device's settings are resolved in this order, later
winning: built-in defaults < the file's ``defaults`` < each of the device's
``groups`` in the order listed < the device's own settings.

Shape (every key optional unless marked)::

    network: lab-east                 # required; must match the file name
    defaults: {snmp: {...}, tags: {...}}
    groups:
      core: {snmp: {...}, tags: {role: core}}
      v3:                             # SNMPv3 (USM); keys are references too
        snmp: {version: "3", security_name: netfeed, security_level: authPriv,
               auth_protocol: SHA-256, auth_key: env:NF_V3_AUTH,
               priv_protocol: AES, priv_key: file:/run/secrets/nf-v3-priv}
    devices:                          # inline devices
      - {id: core-1, host: 10.0.0.1, groups: [core], snmp: {port: 161}}
    inventories:                      # bulk devices, relative to the YAML file
      - {csv: ../inventory/lab-east.csv}
    datasets:
      system: {interval_s: 300}
      interfaces: {interval_s: 60, cron: "*/1 * * * *"}
    collection: {max_in_flight: 64, spread: 0.5,
                 backoff_after_failures: 3, backoff_max_cycles: 16}

CSV inventories have a header row; ``id`` and ``host`` are required columns,
``port`` and ``groups`` (``;``-separated) optional, and ``tag:<name>`` columns
become tags.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bus.datasets import DATASETS as DATASET_MODELS
from bus.secrets import SecretRef

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_NET = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
DATASETS = tuple(DATASET_MODELS)  # the record contract says which datasets exist


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


AuthProtocol = Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PrivProtocol = Literal["DES", "AES", "AES-128", "AES-192", "AES-256", "AES-192-C", "AES-256-C"]
SecurityLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]


def _version_text(value: Any) -> Any:
    """YAML reads ``version: 3`` as a number; take 1 and 3 as "1" and "3"."""
    return str(value) if type(value) is int and value in (1, 3) else value


class SnmpSettings(_Strict):
    """Resolved SNMP settings of one device (every field has a default).

    v1/v2c need ``community``.  v3 (USM) needs ``security_name``, and for
    ``security_level`` ``authNoPriv`` also ``auth_protocol`` + ``auth_key``,
    for ``authPriv`` (the default level) also ``priv_protocol`` + ``priv_key``.
    Protocol names are net-snmp's: ``AES``/``AES-128``; ``AES-192``/``AES-256``
    extend the key as Blumenthal's draft (net-snmp's default); ``AES-192-C``/
    ``AES-256-C`` as Reeder's (Cisco and most vendors).  Settings the version
    or level does not use are ignored, so a group may switch a device to
    another version without unsetting what the defaults gave.
    """

    version: Literal["1", "2c", "3"] = "2c"
    community: SecretRef | None = None
    security_name: str | None = Field(None, min_length=1, max_length=32)
    security_level: SecurityLevel = "authPriv"
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretRef | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretRef | None = None
    context_name: str = Field("", max_length=32)
    port: int = Field(161, ge=1, le=65535)
    timeout_s: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    max_repetitions: int = Field(20, ge=1, le=200)
    device_deadline_s: float = Field(30.0, gt=0, le=600)

    _version = field_validator("version", mode="before")(_version_text)

    @model_validator(mode="after")
    def _credentials(self) -> SnmpSettings:
        if self.version != "3":
            if self.community is None:
                raise ValueError("community is required for SNMP v1/v2c (env:NAME or file:PATH)")
            return self
        lacking = [] if self.security_name else ["security_name"]
        if self.security_level in ("authNoPriv", "authPriv"):
            lacking += [k for k in ("auth_protocol", "auth_key") if getattr(self, k) is None]
        if self.security_level == "authPriv":
            lacking += [k for k in ("priv_protocol", "priv_key") if getattr(self, k) is None]
        if lacking:
            keys = any(k.endswith("_key") for k in lacking)
            raise ValueError(
                f"SNMP v3 at security_level {self.security_level} requires "
                f"{', '.join(lacking)}{' (keys as env:NAME or file:PATH)' if keys else ''}"
            )
        return self


class SnmpOverrides(_Strict):
    """Partial SNMP settings, as written in defaults, groups and devices."""

    version: Literal["1", "2c", "3"] | None = None
    community: SecretRef | None = None
    security_name: str | None = Field(None, min_length=1, max_length=32)
    security_level: SecurityLevel | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretRef | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretRef | None = None
    context_name: str | None = Field(None, max_length=32)
    port: int | None = Field(None, ge=1, le=65535)
    timeout_s: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=0, le=10)
    max_repetitions: int | None = Field(None, ge=1, le=200)
    device_deadline_s: float | None = Field(None, gt=0, le=600)

    _version = field_validator("version", mode="before")(_version_text)


Tags = dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], str]


class GroupConfig(_Strict):
    snmp: SnmpOverrides = SnmpOverrides()
    tags: Tags = {}


class DeviceEntry(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    host: Annotated[str, Field(min_length=1)]
    groups: list[str] = []
    snmp: SnmpOverrides = SnmpOverrides()
    tags: Tags = {}
    enabled: bool = True


class InventorySource(_Strict):
    csv: Path


class DatasetSchedule(_Strict):
    interval_s: float = Field(60.0, ge=1, le=86_400)
    cron: str | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _cron_ok(self) -> DatasetSchedule:
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r}: {exc}") from None
        return self


class CollectionSettings(_Strict):
    """How one network is polled.

    ``backoff_after_failures``: after this many failed polls in a row (failed
    or timed out) a device is skipped for 1, then 2, 4, 8, ... cycles (at most
    ``backoff_max_cycles``) between single retries; one success ends it.
    0 turns backoff off.
    """

    max_in_flight: int = Field(64, ge=1, le=10_000)
    spread: float = Field(0.5, ge=0, le=0.95)
    backoff_after_failures: int = Field(3, ge=0, le=1000)
    backoff_max_cycles: int = Field(16, ge=1, le=10_000)


class NetworkFile(_Strict):
    network: Annotated[str, Field(pattern=_NET)]
    description: str = ""
    defaults: GroupConfig = GroupConfig()
    groups: dict[str, GroupConfig] = {}
    devices: list[DeviceEntry] = []
    inventories: list[InventorySource] = []
    datasets: dict[str, DatasetSchedule] = {
        "system": DatasetSchedule(interval_s=300),
        "interfaces": DatasetSchedule(interval_s=60),
        "health": DatasetSchedule(interval_s=60),
        "sensors": DatasetSchedule(interval_s=300),
        "bgp": DatasetSchedule(interval_s=300),
        "inventory": DatasetSchedule(interval_s=3600),
    }

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, v: dict[str, DatasetSchedule]) -> dict[str, DatasetSchedule]:
        unknown = [k for k in v if k not in DATASETS]
        if unknown:
            raise ValueError(
                f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}"
            )
        return v

    collection: CollectionSettings = CollectionSettings()


class Device(_Strict):
    """One device with every setting resolved."""

    network: str
    id: str
    host: str
    snmp: SnmpSettings
    tags: dict[str, str] = {}


class NetworkConfig(_Strict):
    """A network ready to collect: resolved devices plus schedules."""

    network: str
    source: Path
    devices: list[Device]
    datasets: dict[str, DatasetSchedule]
    collection: CollectionSettings


class ConfigError(ValueError):
    """One or more problems in configuration; ``problems`` lists each with its place."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _fmt_loc(loc: tuple[Any, ...], data: Any) -> str:
    """Turn pydantic's location into ``device 'x' (devices[3]).snmp.port``."""
    parts: list[str] = []
    node = data
    for i, item in enumerate(loc):
        if isinstance(item, int) and parts:
            ident = (
                node[item].get("id")
                if isinstance(node, list) and item < len(node) and isinstance(node[item], dict)
                else None
            )
            parts[-1] = (
                f"{'device' if loc[i - 1] == 'devices' else parts[-1]} {ident!r} "
                f"({parts[-1]}[{item}])"
                if ident
                else f"{parts[-1]}[{item}]"
            )
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def _errors(where: str, exc: ValidationError, data: Any) -> list[str]:
    return [f"{where}: {_fmt_loc(tuple(e['loc']), data)}: {e['msg']}" for e in exc.errors()]


def _merge(*layers: SnmpOverrides) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        out.update(layer.model_dump(exclude_none=True))
    return out


def _read_csv(path: Path, where: str) -> tuple[list[DeviceEntry], list[str]]:
    entries: list[DeviceEntry] = []
    problems: list[str] = []
    try:
        handle = path.open(newline="")
    except OSError as exc:
        return [], [f"{where}: inventories: cannot read {path}: {exc.strerror}"]
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = {"id", "host"} - set(header)
        if missing:
            return [], [f"{path}: header lacks column(s) {', '.join(sorted(missing))}"]
        unknown = [
            h
            for h in header
            if h not in ("id", "host", "port", "groups", "community") and not h.startswith("tag:")
        ]
        if unknown:
            return [], [f"{path}: unknown column(s) {', '.join(unknown)}"]
        for lineno, row in enumerate(reader, start=2):
            raw: dict[str, Any] = {"id": row.get("id") or "", "host": row.get("host") or ""}
            snmp: dict[str, Any] = {}
            if row.get("port"):
                snmp["port"] = row["port"]
            if row.get("community"):
                snmp["community"] = row["community"]
            if snmp:
                raw["snmp"] = snmp
            if row.get("groups"):
                raw["groups"] = [g for g in row["groups"].split(";") if g]
            tags = {h[4:]: v for h, v in row.items() if h and h.startswith("tag:") and v}
            if tags:
                raw["tags"] = tags
            try:
                entries.append(DeviceEntry.model_validate(raw))
            except ValidationError as exc:
                label = f"{path}:{lineno} (device {raw['id']!r})"
                problems += [
                    f"{label}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                ]
    return entries, problems


def load_network(path: Path) -> NetworkConfig:
    """Load and resolve one network file; raise :class:`ConfigError` listing every problem."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(
            [f"{where}:{at}: not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{where}: top level must be a mapping with at least 'network'"])
    try:
        spec = NetworkFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_errors(where, exc, data)) from None

    problems: list[str] = []
    if spec.network != path.stem:
        problems.append(
            f"{where}: network: {spec.network!r} must match the file name {path.stem!r}"
        )
    entries = list(spec.devices)
    for inv in spec.inventories:
        csv_path = inv.csv if inv.csv.is_absolute() else path.parent / inv.csv
        more, errs = _read_csv(csv_path, where)
        entries += more
        problems += errs

    devices: list[Device] = []
    seen: dict[str, int] = {}
    for entry in entries:
        label = f"{where}: device {entry.id!r}"
        if entry.id in seen:
            problems.append(f"{label}: id: duplicate device id")
            continue
        seen[entry.id] = 1
        unknown = [g for g in entry.groups if g not in spec.groups]
        if unknown:
            problems.append(f"{label}: groups: unknown group(s) {', '.join(unknown)}")
            continue
        if not entry.enabled:
            continue
        layers = [spec.defaults] + [spec.groups[g] for g in entry.groups]
        snmp = _merge(*(layer.snmp for layer in layers), entry.snmp)
        tags: dict[str, str] = {}
        for layer in layers:
            tags.update(layer.tags)
        tags.update(entry.tags)
        try:
            devices.append(
                Device(
                    network=spec.network,
                    id=entry.id,
                    host=entry.host,
                    snmp=SnmpSettings.model_validate(snmp),
                    tags=tags,
                )
            )
        except ValidationError as exc:
            problems += [
                f"{label}: snmp: {e['msg'].removeprefix('Value error, ')}"
                if not e["loc"]
                else f"{label}: snmp.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
    if problems:
        raise ConfigError(problems)
    return NetworkConfig(
        network=spec.network,
        source=path,
        devices=devices,
        datasets={k: v for k, v in spec.datasets.items() if v.enabled},
        collection=spec.collection,
    )


def network_files(config_dir: Path) -> list[Path]:
    return sorted((config_dir / "networks").glob("*.yaml"))


def load_networks(config_dir: Path, only: list[str] | None = None) -> list[NetworkConfig]:
    """Load every ``networks/*.yaml`` (or those named in ``only``); all problems at once."""
    problems: list[str] = []
    nets: list[NetworkConfig] = []
    files = network_files(config_dir)
    if not files:
        raise ConfigError([f"{config_dir / 'networks'}: no network files (*.yaml)"])
    names = {p.stem for p in files}
    for name in only or []:
        if name not in names:
            problems.append(
                f"{config_dir / 'networks'}: no network {name!r} (have {', '.join(sorted(names))})"
            )
    for path in files:
        if only and path.stem not in only:
            continue
        try:
            nets.append(load_network(path))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return nets
