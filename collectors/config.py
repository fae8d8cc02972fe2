"""Network configuration: ``configs/networks/<network>.yaml`` (+ optional CSV inventories).

Everything is validated when it loads, before any socket is opened; unknown
keys are errors.  A device's settings are resolved in this order, later
winning: built-in defaults < the file's ``defaults`` < each of the device's
``groups`` in the order listed < the device's own settings.  Protocol options
(``snmp:``, and every other installed driver's name) are layered the same
way, key by key, and then checked by that driver's own model.

Which protocol reads a device: the device's own ``protocol`` if set, else
that of the last of its groups that sets one, else the dataset's
``protocol``, else the network's.  So one network may mix SNMP and NETCONF
devices: each dataset's cycle covers all of them, each device polled by its
own driver, and they publish one stream of identically shaped records.

Shape (every key optional unless marked)::

    network: lab-east                 # required; must match the file name
    protocol: snmp                    # datasets' protocol unless a dataset says otherwise
    defaults: {snmp: {...}, tags: {...}}
    groups:
      core: {snmp: {...}, tags: {role: core}}
      junos: {protocol: netconf, netconf: {username: nf, password: env:NF_NC_PASS}}
      v3:                             # SNMPv3 (USM); keys are references too
        snmp: {version: "3", security_name: netfeed, security_level: authPriv,
               auth_protocol: SHA-256, auth_key: env:NF_V3_AUTH,
               priv_protocol: AES, priv_key: file:/run/secrets/nf-v3-priv}
    devices:                          # inline devices
      - {id: core-1, host: 10.0.0.1, groups: [core], snmp: {port: 161}}
    inventories:                      # bulk devices, relative to the YAML file
      - {csv: ../inventory/lab-east.csv}
      - {csv: ../inventory/old.csv, encoding: latin-1}   # UTF-8 unless declared
    datasets:
      system: {interval_s: 300}
      interfaces: {interval_s: 60, protocol: snmp}
    collection: {max_in_flight: 64, spread: 0.5,
                 backoff_after_failures: 3, backoff_max_cycles: 16}

The datasets that exist, and their default intervals, are the record
contract's (:mod:`bus.datasets`).  CSV inventories: see :mod:`collectors.inventory`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from bus.configfile import at_line, read_text, yaml_line, yaml_root
from bus.datasets import DATASETS as DATASET_MODELS
from collectors.registry import DEFAULT_PROTOCOL, DriverRegistry, load_drivers

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_NET = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
DATASETS = tuple(DATASET_MODELS)  # the record contract says which datasets exist


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Tags = dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], str]


class GroupConfig(_Strict):
    """``defaults`` and each group: tags, the protocol its devices are read
    with (groups only: ``defaults`` has the network's ``protocol``), plus one
    optional section per protocol (added per installed driver by
    :func:`file_models`)."""

    tags: Tags = {}
    protocol: str | None = None


class DeviceEntry(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    host: Annotated[str, Field(min_length=1)]
    groups: list[str] = []
    tags: Tags = {}
    enabled: bool = True
    protocol: str | None = None  # every dataset of this device, over its groups' and the network's


class InventorySource(_Strict):
    csv: Path
    encoding: str | None = None  # None: UTF-8, with or without BOM


class DatasetSchedule(_Strict):
    interval_s: float = Field(60.0, ge=1, le=86_400)
    cron: str | None = None
    enabled: bool = True
    protocol: str | None = None  # None: the network's ``protocol``

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

    ``max_in_flight``: devices of this network polled at once, all its
    datasets together (the process-wide ``collector.max_in_flight`` bounds
    every network together on top of it).  ``spread``: the share of each
    interval over which device starts are spread.
    ``backoff_after_failures``: after this many failed polls in a row (failed
    or timed out) a device is skipped for 1, then 2, 4, 8, ... cycles (at most
    ``backoff_max_cycles``) between single retries; one success ends it.
    0 turns backoff off.
    """

    max_in_flight: int = Field(64, ge=1, le=10_000)
    spread: float = Field(0.5, ge=0, le=0.95)
    backoff_after_failures: int = Field(3, ge=0, le=1000)
    backoff_max_cycles: int = Field(16, ge=1, le=10_000)


def _default_schedules() -> dict[str, DatasetSchedule]:
    return {n: DatasetSchedule(interval_s=m.default_interval_s) for n, m in DATASET_MODELS.items()}


class NetworkFile(_Strict):
    network: Annotated[str, Field(pattern=_NET)]
    description: str = ""
    protocol: str = DEFAULT_PROTOCOL
    defaults: GroupConfig = GroupConfig()
    groups: dict[str, GroupConfig] = {}
    devices: list[DeviceEntry] = []
    inventories: list[InventorySource] = []
    datasets: dict[str, DatasetSchedule] = Field(default_factory=_default_schedules)
    collection: CollectionSettings = CollectionSettings()

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, v: dict[str, DatasetSchedule]) -> dict[str, DatasetSchedule]:
        unknown = _unknown_datasets(v)
        if unknown:
            raise ValueError(unknown)
        return v


def _unknown_datasets(v: Any) -> str | None:
    unknown = [str(k) for k in v if k not in DATASETS] if isinstance(v, dict) else []
    if unknown:
        return f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}"
    return None


@lru_cache(maxsize=8)
def file_models(
    registry: DriverRegistry,
) -> tuple[type[GroupConfig], type[DeviceEntry], type[NetworkFile]]:
    """The network file's models with one optional section per installed driver."""
    extra: dict[str, Any] = {
        name: (registry.get(name).Overrides | None, None) for name in registry.names()
    }
    group = create_model("GroupConfig", __base__=GroupConfig, **extra)
    device = create_model("DeviceEntry", __base__=DeviceEntry, **extra)
    netfile = create_model(
        "NetworkFile",
        __base__=NetworkFile,
        defaults=(group, group()),
        groups=(dict[str, group], {}),  # type: ignore[valid-type]
        devices=(list[device], []),  # type: ignore[valid-type]
    )
    return group, device, netfile


class Device(_Strict):
    """One device with every setting resolved: ``options[protocol]`` is the
    driver's ``Options`` model for each protocol the device is read with."""

    network: str
    id: str
    host: str
    tags: dict[str, str] = {}
    options: dict[str, Any] = {}
    protocol: str | None = None  # set on the device or a group: wins over the datasets'


class NetworkConfig(_Strict):
    """A network ready to collect: resolved devices plus schedules (each with
    its ``protocol`` set)."""

    network: str
    source: Path
    devices: list[Device]
    datasets: dict[str, DatasetSchedule]
    collection: CollectionSettings

    def protocol_of(self, device: Device, dataset: str) -> str:
        """The protocol ``device`` is read with for ``dataset``."""
        return device.protocol or self.datasets[dataset].protocol or DEFAULT_PROTOCOL

    def protocols(self) -> set[str]:
        """Every protocol some device of this network is read with."""
        return {self.protocol_of(d, ds) for d in self.devices for ds in self.datasets}


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


def _errors(where: str, exc: ValidationError, data: Any, text: str) -> list[str]:
    """One problem per error: ``file:line: key path: message`` (line of the YAML node)."""
    root = yaml_root(text)
    return [
        f"{at_line(where, yaml_line(root, e['loc']))}: {_fmt_loc(tuple(e['loc']), data)}: "
        f"{e['msg']}"
        for e in exc.errors()
    ]


def _resolve_device(
    spec: Any,
    entry: Any,
    protocols: set[str],
    registry: DriverRegistry,
    label_of: Callable[[], str],
) -> tuple[Device | None, list[str]]:
    layers = [spec.defaults] + [spec.groups[g] for g in entry.groups] + [entry]
    tags: dict[str, str] = {}
    own: str | None = None  # the device's protocol, when it or a group sets one
    for layer in layers:
        tags.update(layer.tags)
        own = layer.protocol or own
    if own is not None:
        if own not in registry:  # a group's is reported once, against the group
            return None, [
                f"{label_of()}: protocol: unknown protocol {own!r}; installed: "
                f"{', '.join(registry.names()) or 'none'}"
            ] if entry.protocol is not None else []
        protocols = {own}  # read with this driver only: the datasets' protocols do not apply
    # options written for a protocol are checked even where unused (a typo shows),
    # except on a device read with one protocol of its own
    given = (
        {p for p in registry.names() for layer in layers if getattr(layer, p, None)}
        if own is None
        else set()
    )
    options: dict[str, Any] = {}
    problems: list[str] = []
    for proto in sorted(protocols | given):
        merged: dict[str, Any] = {}
        for layer in layers:
            part = getattr(layer, proto, None)
            if part is not None:
                merged.update(part.model_dump(exclude_none=True))
        try:
            options[proto] = registry.get(proto).Options.model_validate(merged)
        except ValidationError as exc:
            label = label_of()
            problems += [
                f"{label}: {proto}: {e['msg'].removeprefix('Value error, ')}"
                if not e["loc"]
                else f"{label}: {proto}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
    if problems:
        return None, problems
    return Device(
        network=spec.network,
        id=entry.id,
        host=entry.host,
        tags=tags,
        options=options,
        protocol=own,
    ), []


def _read_yaml(path: Path) -> tuple[Any, str]:
    """The parsed file and its text."""
    where = str(path)
    try:
        text = read_text(path)
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read: {exc.strerror}"]) from None
    except ValueError as exc:  # not UTF-8
        raise ConfigError([str(exc)]) from None
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}: column {mark.column + 1}" if mark else ""
        raise ConfigError(
            [f"{where}{at}: not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    except RecursionError:  # pathologically nested flow collections
        raise ConfigError([f"{where}: not valid YAML: nested too deeply"]) from None


def _csv_path(path: Path, csv: Path) -> Path:
    return csv if csv.is_absolute() else path.parent / csv


def _raw_inventories(data: dict[str, Any]) -> list[InventorySource]:
    """The inventories of a file that failed validation, where they are readable."""
    out = []
    for inv in data.get("inventories") or [] if isinstance(data.get("inventories"), list) else []:
        try:
            out.append(InventorySource.model_validate(inv))
        except ValidationError:
            pass
    return out


def _raw_checks(
    path: Path, data: dict[str, Any], text: str, csv_entries: list[tuple[Any, tuple[str, int]]]
) -> list[str]:
    """The checks made after validation that can still be made on a file that
    failed it (so its other problems are not hidden): the network's name,
    duplicate ids and unknown groups of well-formed devices."""
    where, root = str(path), yaml_root(text)
    out: list[str] = []
    name = data.get("network")
    if isinstance(name, str) and name != path.stem:
        at = at_line(where, yaml_line(root, ["network"]))
        out.append(f"{at}: network: {name!r} must match the file name {path.stem!r}")
    groups: dict[Any, Any] = g if isinstance(g := data.get("groups"), dict) else {}
    devices: list[Any] = d if isinstance(d := data.get("devices"), list) else []
    # (id, groups, place, label) of each device written well enough to have them
    found: list[tuple[str, Any, str, str]] = []
    for i, d in enumerate(devices):
        if isinstance(d, dict) and isinstance(d.get("id"), str):
            place = at_line(where, yaml_line(root, ["devices", i]))
            found.append((d["id"], d.get("groups") or [], place, f"{place}: device {d['id']!r}"))
    for e, (f, n) in csv_entries:
        found.append((e.id, e.groups, f"{f}:{n}", f"{f}:{n} (device {e.id!r})"))
    seen: dict[str, str] = {}
    for ident, its_groups, place, label in found:
        if ident in seen:
            out.append(f"{label}: id: duplicate device id (first at {seen[ident]})")
            continue
        seen[ident] = place
        unknown = (
            [str(g) for g in its_groups if g not in groups] if isinstance(its_groups, list) else []
        )
        if unknown:
            out.append(f"{label}: groups: unknown group(s) {', '.join(unknown)}")
    return out


def _with_extra(path: Path, listed: list[InventorySource], extra: Path | None) -> list[Any]:
    """``listed``, plus ``extra`` (UTF-8) unless it is one of them already."""
    if extra is None or any(_csv_path(path, i.csv).resolve() == extra.resolve() for i in listed):
        return listed
    return [*listed, InventorySource(csv=extra.absolute())]


def load_network(
    path: Path, registry: DriverRegistry | None = None, *, extra_inventory: Path | None = None
) -> NetworkConfig:
    """Load and resolve one network file; raise :class:`ConfigError` listing every problem.

    ``extra_inventory``: a CSV read as if the file listed it last (not twice
    when it does), so an inventory is checked as part of the network before
    the file names it (``netfeed inventory import --network``)."""
    from collectors.inventory import read_csv

    registry = registry or load_drivers()
    where = str(path)
    data, text = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{where}: top level must be a mapping with at least 'network'"])
    _group, device_model, netfile = file_models(registry)
    try:
        spec: Any = netfile.model_validate(data)
    except ValidationError as exc:
        problems = _errors(where, exc, data, text)
        # what the model's own checks could not get to (an error inside a value
        # stops the checks of the whole), and the inventories' own problems
        unknown = _unknown_datasets(data.get("datasets"))
        if unknown and not any("unknown dataset" in p for p in problems):
            at = at_line(where, yaml_line(yaml_root(text), ["datasets"]))
            problems.append(f"{at}: datasets: {unknown}")
        csv_entries: list[tuple[Any, tuple[str, int]]] = []
        for inv in _with_extra(path, _raw_inventories(data), extra_inventory):
            more, errs = read_csv(
                _csv_path(path, inv.csv), where, device_model, registry, inv.encoding
            )
            csv_entries += more
            problems += errs
        problems += _raw_checks(path, data, text, csv_entries)
        raise ConfigError(problems) from None

    problems = []
    root: list[Any] = []  # the YAML node tree, composed when a problem needs a line

    def line(loc: list[Any]) -> str:
        if not root:
            root.append(yaml_root(text))
        return at_line(where, yaml_line(root[0], loc))

    if spec.network != path.stem:
        problems.append(
            f"{line(['network'])}: network: {spec.network!r} must match the file name {path.stem!r}"
        )
    if spec.defaults.protocol is not None:
        problems.append(
            f"{line(['defaults', 'protocol'])}: defaults.protocol: set the network's "
            "top-level 'protocol' instead"
        )
    for name, group in spec.groups.items():
        if group.protocol is not None and group.protocol not in registry:
            problems.append(
                f"{line(['groups', name, 'protocol'])}: groups.{name}.protocol: unknown "
                f"protocol {group.protocol!r}; installed: {', '.join(registry.names()) or 'none'}"
            )
    datasets: dict[str, DatasetSchedule] = {}
    for ds, sched in spec.datasets.items():
        proto = sched.protocol or spec.protocol
        if proto not in registry:
            key = ["datasets", ds, "protocol"] if sched.protocol else ["protocol"]
            problems.append(
                f"{line(key)}: {'.'.join(key)}: unknown protocol {proto!r}; installed: "
                f"{', '.join(registry.names()) or 'none'}"
            )
        elif sched.enabled:
            datasets[ds] = sched.model_copy(update={"protocol": proto})
    protocols = {s.protocol for s in datasets.values() if s.protocol}

    # each entry with where it was written: an index into ``devices`` or (CSV file, line)
    entries: list[tuple[Any, int | tuple[str, int]]] = [(d, i) for i, d in enumerate(spec.devices)]
    for inv in _with_extra(path, list(spec.inventories), extra_inventory):
        more, errs = read_csv(_csv_path(path, inv.csv), where, device_model, registry, inv.encoding)
        entries += more
        problems += errs

    def place_of(src: int | tuple[str, int]) -> str:
        return f"{src[0]}:{src[1]}" if isinstance(src, tuple) else line(["devices", src])

    def label_of(entry: Any, src: int | tuple[str, int]) -> str:
        if isinstance(src, tuple):
            return f"{place_of(src)} (device {entry.id!r})"
        return f"{place_of(src)}: device {entry.id!r}"

    devices: list[Device] = []
    seen: dict[str, int | tuple[str, int]] = {}
    for entry, src in entries:
        first = seen.get(entry.id)
        if first is not None:
            problems.append(
                f"{label_of(entry, src)}: id: duplicate device id (first at {place_of(first)})"
            )
            continue
        seen[entry.id] = src
        unknown_groups = [g for g in entry.groups if g not in spec.groups]
        if unknown_groups:
            problems.append(
                f"{label_of(entry, src)}: groups: unknown group(s) {', '.join(unknown_groups)}"
            )
            continue
        if not entry.enabled:
            continue
        device, errs = _resolve_device(
            spec, entry, protocols, registry, partial(label_of, entry, src)
        )
        problems += errs
        if device is not None:
            devices.append(device)
    if problems:
        raise ConfigError(problems)
    return NetworkConfig(
        network=spec.network,
        source=path,
        devices=devices,
        datasets=datasets,
        collection=spec.collection,
    )


def network_files(config_dir: Path) -> list[Path]:
    return sorted((config_dir / "networks").glob("*.yaml"))


def load_networks(
    config_dir: Path, only: list[str] | None = None, registry: DriverRegistry | None = None
) -> list[NetworkConfig]:
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
            nets.append(load_network(path, registry))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return nets


def secret_problems(networks: list[NetworkConfig]) -> list[str]:
    """Every secret reference of the networks' devices that does not resolve now
    (unset variable, unreadable file, file outside the secret folders): one
    problem per reference and network, naming the first device using it."""
    from bus.secrets import SecretRef

    checked: dict[str, str | None] = {}
    found: dict[tuple[str, str, str], list[str]] = {}  # (net, key, ref) -> device ids
    for net in networks:
        for dev in net.devices:
            for proto, opts in dev.options.items():
                for name, value in vars(opts).items():
                    if not isinstance(value, SecretRef):
                        continue
                    if value in checked:
                        why = checked[value]
                    else:
                        why = checked[value] = value.check()
                    if why:
                        found.setdefault((str(net.source), f"{proto}.{name}", why), []).append(
                            dev.id
                        )
    return [
        f"{where}: device {ids[0]!r}"
        + (f" (and {len(ids) - 1} more)" if len(ids) > 1 else "")
        + f": {key}: {why}"
        for (where, key, why), ids in found.items()
    ]
