"""Build the running system from a configuration folder: the one place that wires it.

The CLI (``validate``, ``collect``, ``app run``) and the demo all go through
:func:`load_system`, so what ``netfeed validate`` accepts is exactly what
``netfeed collect`` runs.  Relative paths in the configuration (site
profiles, the embedded bus file, application outputs) are taken relative to
the configuration folder, never the current directory.

A folder::

    <config>/netfeed.yaml          bus, collector, applications sections
    <config>/networks/*.yaml       one network each (collectors.config)
    <config>/profiles/             site profiles (collector.profiles_dir)
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from applications.api import Application
from applications.config import load_app_settings
from applications.registry import RegistryError as AppRegistryError
from applications.registry import load_registry
from applications.runner import AppRunner
from bus.api import Producer
from bus.configfile import (
    SettingsError,
    load_bus_settings,
    load_secret_dirs,
    load_section,
    read_sections,
    section_problems,
)
from bus.records import CycleComplete
from bus.secrets import set_secret_dirs
from bus.settings import BusSettings
from bus.spool import Spool
from collectors.config import (
    ConfigError,
    DatasetSchedule,
    NetworkConfig,
    load_networks,
    secret_problems,
)
from collectors.cycle import Sink, start_offset_s
from collectors.driver import Driver
from collectors.journal import CycleJournal
from collectors.publish import DryRunPublisher, Publisher
from collectors.quality import BusQuarantine, DryRunQuarantine, QualityGate
from collectors.registry import DriverRegistry, RegistryError, load_drivers
from collectors.service import Collector, deadline_ms, next_tick_ms
from collectors.settings import CollectorSettings
from netfeed.coverage import Coverage
from netfeed.settings import LogSettings, MetricsSettings


class ConfigProblems(ValueError):
    """Every problem found while loading a configuration folder."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class System:
    config_dir: Path
    bus: BusSettings
    collector: CollectorSettings
    networks: list[NetworkConfig]
    drivers: DriverRegistry
    driver_settings: dict[str, BaseModel]
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LogSettings = field(default_factory=LogSettings)

    @property
    def profile_dirs(self) -> list[Path]:
        """Site profile folders (the shipped profiles are the drivers' own)."""
        d = self.collector.profiles_dir
        return [d] if d.is_dir() else []

    def application_names(self) -> list[str]:
        """The applications configured in ``netfeed.yaml`` (its ``applications`` keys)."""
        apps = read_sections(self.config_dir / "netfeed.yaml").get("applications") or {}
        return list(apps)

    def protocols(self) -> list[str]:
        return sorted({p for n in self.networks for p in n.protocols()})

    def make_drivers(self) -> dict[str, Driver]:
        """One driver per protocol the networks use (not started)."""
        return {
            p: self.drivers.get(p)(self.driver_settings[p], self.profile_dirs)
            for p in self.protocols()
        }

    def make_sink(
        self,
        producer: Producer | None,
        spool: Spool | None = None,
        journal: CycleJournal | None = None,
        coverage: Coverage | None = None,
    ) -> QualityGate:
        """What ``collect`` publishes through: the quality gate in front of the
        publisher on ``producer`` (refused records to the quarantine topic; both
        through ``spool`` when there is one, noting what got out in
        ``journal``), or with no producer (``--dry-run``) in front of JSON
        lines on stdout (and, with ``coverage``, counted there for its summary)."""
        if producer is None:
            out = (
                DryRunPublisher()
                if coverage is None
                else DryRunPublisher(on_records=coverage.records, on_marker=coverage.marker)
            )
            return QualityGate(out, DryRunQuarantine(), self.collector.quality)
        prefix = self.bus.topic_prefix
        return QualityGate(
            Publisher(producer, prefix, spool=spool, journal=journal),
            BusQuarantine(producer, prefix, spool=spool, journal=journal),
            self.collector.quality,
        )

    def make_journal(self, spool: Spool | None) -> CycleJournal:
        """The journal of open cycles (not started): in ``spool``'s file, else
        ``<collector.state_dir>/<instance_id>.journal.sqlite3``."""
        instance = self.collector.instance_id
        if spool is not None:
            return CycleJournal(instance, spool=spool)
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in instance) or "collector"
        return CycleJournal(instance, path=self.collector.state_dir / f"{safe}.journal.sqlite3")

    def make_collector(
        self,
        sink: Sink,
        on_cycle: Any = None,
        drivers: dict[str, Driver] | None = None,
        journal: CycleJournal | None = None,
        *,
        share: bool = False,
        on_outcome: Any = None,
    ) -> Collector:
        """The collector of every network.  ``share``: on Kafka with
        ``collector.sharing.enabled``, each network's devices are shared with
        the other instances of that network (:mod:`bus.shards`)."""
        return Collector(
            self.networks,
            self.collector,
            sink,
            drivers if drivers is not None else self.make_drivers(),
            on_cycle=on_cycle,
            journal=journal,
            shard_groups=self.make_shard_groups() if share else None,
            on_outcome=on_outcome,
        )

    def make_shard_groups(self) -> dict[str, Any]:
        """A shard group per network when instances share networks (Kafka and
        ``collector.sharing.enabled``); none otherwise: this instance polls all."""
        sharing = self.collector.sharing
        if self.bus.backend != "kafka" or not sharing.enabled:
            return {}
        from bus.shards_kafka import KafkaShardGroup

        return {
            n.network: KafkaShardGroup(
                self.bus,
                n.network,
                sharing.shards,
                instance_id=self.collector.instance_id,
                first_assignment_s=sharing.first_assignment_s,
            )
            for n in self.networks
        }

    def schedule_warnings(self) -> list[str]:
        """Schedules a silent device cannot fit: its start in the spread plus its
        driver's worst case (:meth:`~collectors.driver.Driver.worst_case_s`: SNMP
        timeout x tries) ends after the cycle's deadline (the next tick minus a
        margin), so such a device is cut at every tick and counted timed out."""
        out = []
        for net in self.networks:
            for ds, sched in net.datasets.items():
                interval_ms = _shortest_interval_ms(sched)
                allowed_s = deadline_ms(0, interval_ms) / 1000
                spread_s = net.collection.spread * interval_ms / 1000
                late = []
                for d in net.devices:
                    worst = self.drivers.get(net.protocol_of(d, ds)).worst_case_s(d)
                    if worst is not None and start_offset_s(d.id, spread_s) + worst > allowed_s:
                        late.append((worst, d.id))
                if late:
                    worst, dev = max(late)
                    out.append(
                        f"{net.source}: datasets.{ds}: {len(late)} device(s) cannot be declared "
                        f"dead before the next tick: a silent device needs up to {worst:g} s "
                        f"(timeout x tries) after its start, and starts are spread over "
                        f"{spread_s:g} s of the {interval_ms / 1000:g} s interval (cycles end "
                        f"at {allowed_s:g} s; e.g. {dev}): lower timeout_s or retries, lower "
                        "collection.spread, or poll less often"
                    )
        return out

    def make_app(self, name: str, **overrides: object) -> Application:
        """The application ``name`` with its validated settings; ``overrides``
        (e.g. ``start_from``, ``group`` from the command line) replace them."""
        cls = load_registry().get(name)
        settings = load_app_settings(self.config_dir, cls)
        if overrides:
            settings = cls.Settings.model_validate({**settings.model_dump(), **overrides})
        return cls(settings)

    def make_app_runner(self, name: str, instance_id: str = "", **overrides: object) -> AppRunner:
        return AppRunner(self.make_app(name, **overrides), self.bus, instance_id=instance_id)


def _shortest_interval_ms(sched: DatasetSchedule) -> int:
    """The interval, or a crontab's shortest gap between two of its next 48 fires."""
    if not sched.cron:
        return int(sched.interval_s * 1000)
    fires = [next_tick_ms(sched, 0)]
    for _ in range(48):
        fires.append(next_tick_ms(sched, fires[-1]))
    return min(b - a for a, b in itertools.pairwise(fires))


def _collector_settings(path: Path) -> CollectorSettings:
    coll = load_section(path / "netfeed.yaml", "collector", CollectorSettings)
    if not coll.profiles_dir.is_absolute():
        coll = coll.model_copy(update={"profiles_dir": path / coll.profiles_dir})
    if not coll.state_dir.is_absolute():
        coll = coll.model_copy(update={"state_dir": path / coll.state_dir})
    return coll


def _driver_settings(
    where: Path, coll: CollectorSettings, reg: DriverRegistry
) -> tuple[dict[str, BaseModel], list[str]]:
    out: dict[str, BaseModel] = {}
    problems: list[str] = []
    for name in coll.drivers:
        if name not in reg:
            problems.append(
                f"{where}: collector.drivers.{name}: no such protocol driver; installed: "
                f"{', '.join(reg.names()) or 'none'}"
            )
    for name in reg.names():
        try:
            out[name] = reg.get(name).Settings.model_validate(coll.drivers.get(name) or {})
        except ValidationError as exc:
            problems += [
                f"{where}: collector.drivers.{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
    return out, problems


def load_system(
    config_dir: Path,
    networks: list[str] | None = None,
    *,
    check_all: bool = False,
    with_networks: bool = True,
) -> System:
    """Load and validate everything in ``config_dir`` before anything connects.

    Raises :class:`ConfigProblems` listing every problem (file and key in each).
    ``check_all`` also runs the drivers' data checks (profiles) and loads
    every configured application's settings, as ``netfeed validate`` does.
    ``with_networks=False`` (an application host) needs no network files.

    ``file:`` secrets are confined to ``secrets.dirs`` from here on (see
    :mod:`bus.secrets`); ``check_all`` also resolves every secret reference
    once, so an unset variable or unreadable file is a problem here."""
    yaml_path = config_dir / "netfeed.yaml"
    if not config_dir.is_dir():
        raise ConfigProblems([f"{config_dir}: no such configuration folder"])
    problems: list[str] = section_problems(yaml_path)
    try:
        set_secret_dirs(load_secret_dirs(config_dir))
    except SettingsError as exc:
        problems += exc.problems
    bus = coll = None
    reg = DriverRegistry()
    try:
        reg = load_drivers()
    except RegistryError as exc:
        problems.append(str(exc))
    try:
        bus = load_bus_settings(config_dir)
    except SettingsError as exc:
        problems += exc.problems
    try:
        coll = _collector_settings(config_dir)
    except SettingsError as exc:
        problems += exc.problems
    drv: dict[str, BaseModel] = {}
    if coll is not None:
        drv, errs = _driver_settings(yaml_path, coll, reg)
        problems += errs
    observe: list[BaseModel] = []
    for section, model in (("metrics", MetricsSettings), ("logging", LogSettings)):
        try:
            observe.append(load_section(yaml_path, section, model))
        except SettingsError as exc:
            problems += exc.problems
    nets: list[NetworkConfig] = []
    try:
        if with_networks:
            nets = load_networks(config_dir, networks, reg)
    except ConfigError as exc:
        problems += exc.problems
    if check_all and coll is not None:
        dirs = [coll.profiles_dir] if coll.profiles_dir.is_dir() else []
        for name in reg.names():
            if name in drv:
                problems += reg.get(name).check(drv[name], dirs)
        problems += _app_problems(config_dir)
        problems += secret_problems(nets)
        if bus is not None and bus.backend == "kafka" and bus.kafka.security.sasl_password:
            why = bus.kafka.security.sasl_password.check()
            if why:
                problems.append(f"{yaml_path}: bus.kafka.security.sasl_password: {why}")
    if problems or bus is None or coll is None:
        raise ConfigProblems(list(dict.fromkeys(problems)))  # netfeed.yaml's once
    metrics, log_settings = observe
    assert isinstance(metrics, MetricsSettings) and isinstance(log_settings, LogSettings)
    return System(config_dir, bus, coll, nets, reg, drv, metrics, log_settings)


def _app_problems(config_dir: Path) -> list[str]:
    try:
        reg = load_registry()
        apps = read_sections(config_dir / "netfeed.yaml").get("applications") or {}
        for name in apps:
            cls = reg.get(name)
            # Constructing checks what the settings name (an alerts rules file, ...)
            # before anything connects; constructors do no I/O beyond that.
            cls(load_app_settings(config_dir, cls))
    except (SettingsError, AppRegistryError) as exc:
        return getattr(exc, "problems", [str(exc)])
    return []


def cycle_line(marker: CycleComplete) -> str:
    """One line per finished (or skipped) cycle, as an operator reads it."""
    if marker.tick_skipped:
        return (
            f"{marker.network} {marker.dataset}: tick {marker.scheduled_unix_ms} skipped: "
            f"{marker.tick_skipped}"
        )
    if marker.interrupted:
        return (
            f"{marker.network} {marker.dataset}: tick {marker.scheduled_unix_ms} cut short: "
            f"{marker.interrupted}: {marker.devices_ok}/{marker.devices_planned} devices' "
            f"records got out, {marker.records} records"
        )
    quarantined = f", {marker.quarantined} quarantined" if marker.quarantined else ""
    return (
        f"{marker.network} {marker.dataset}: {marker.devices_ok}/{marker.devices_planned} ok, "
        f"{marker.devices_failed} failed, {marker.devices_timed_out} timed out, "
        f"{marker.devices_skipped} skipped, {marker.records} records{quarantined}, "
        f"{marker.duration_ms} ms"
    )


def print_cycle(marker: CycleComplete) -> None:
    print(cycle_line(marker), file=sys.stderr, flush=True)
