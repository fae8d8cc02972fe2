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
    devices:                          # inline devices
      - {id: core-1, host: 10.0.0.1, groups: [core], snmp: {port: 161}}
    inventories:                      # bulk devices, relative to the YAML file
      - {csv: ../inventory/lab-east.csv}
    datasets:
      system: {interval_s: 300}
      interfaces: {interval_s: 60, cron: "*/1 * * * *"}
    collection: {max_in_flight: 64, spread: 0.5}

CSV inventories have a header row; ``id`` and ``host`` are required columns,
``port`` and ``groups`` (``;``-separated) optional, and ``tag:<name>`` columns
become tags.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bus.secrets import SecretRef

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_NET = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
DATASETS = ("system", "interfaces")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SnmpSettings(_Strict):
    """Resolved SNMP settings of one device (every field has a default)."""

    version: Literal["1", "2c"] = "2c"
    community: SecretRef | None = None
    port: int = Field(161, ge=1, le=65535)
    timeout_s: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    max_repetitions: int = Field(20, ge=1, le=200)
    device_deadline_s: float = Field(30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _needs_community(self) -> SnmpSettings:
        if self.community is None:
            raise ValueError("community is required for SNMP v1/v2c (env:NAME or file:PATH)")
        return self


class SnmpOverrides(_Strict):
    """Partial SNMP settings, as written in defaults, groups and devices."""

    version: Literal["1", "2c"] | None = None
    community: SecretRef | None = None
    port: int | None = Field(None, ge=1, le=65535)
    timeout_s: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=0, le=10)
    max_repetitions: int | None = Field(None, ge=1, le=200)
    device_deadline_s: float | None = Field(None, gt=0, le=600)


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
    max_in_flight: int = Field(64, ge=1, le=10_000)
    spread: float = Field(0.5, ge=0, le=0.95)


class NetworkFile(_Strict):
    network: Annotated[str, Field(pattern=_NET)]
    description: str = ""
    defaults: GroupConfig = GroupConfig()
    groups: dict[str, GroupConfig] = {}
    devices: list[DeviceEntry] = []
    inventories: list[InventorySource] = []
    datasets: dict[Literal["system", "interfaces"], DatasetSchedule] = {
        "system": DatasetSchedule(interval_s=300),
        "interfaces": DatasetSchedule(interval_s=60),
    }
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
