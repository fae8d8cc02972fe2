"""Alert rules: the YAML file's schema, checked when it loads.

A rules file (``alerts.yaml`` beside ``netfeed.yaml`` by default)::

    rules:
      - {name: link-busy, kind: utilisation_above, threshold_pct: 90, for_cycles: 3}
      - {name: link-down, kind: oper_down}
      - {name: bgp-down, kind: bgp_left_established, severity: critical}
      - {name: cpu-high, kind: cpu_above, threshold_pct: 90, for_cycles: 2}
      - {name: memory-high, kind: memory_above, threshold_pct: 95}
      - {name: sensor-critical, kind: sensor_outside_thresholds, level: critical}
      - {name: device-missing, kind: device_missing, for_cycles: 3}

Every problem of a file is reported in one error naming the file, the rule
(its position and name) and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus.configfile import SettingsError


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    severity: Literal["info", "warning", "critical"] = "warning"
    for_cycles: int = Field(1, ge=1, le=1000)  # consecutive cycles before it is raised


class UtilisationAbove(_Rule):
    """An interface's in or out utilisation above ``threshold_pct``."""

    kind: Literal["utilisation_above"]
    threshold_pct: float = Field(gt=0, le=100)
    dataset: Literal["interfaces"] = "interfaces"


class OperDown(_Rule):
    """An interface that was up is down while administratively up."""

    kind: Literal["oper_down"]
    dataset: Literal["interfaces"] = "interfaces"


class BgpLeftEstablished(_Rule):
    """A BGP peer that was established is not (and is not administratively stopped)."""

    kind: Literal["bgp_left_established"]
    dataset: Literal["bgp"] = "bgp"


class CpuAbove(_Rule):
    kind: Literal["cpu_above"]
    threshold_pct: float = Field(gt=0, le=100)
    dataset: Literal["health"] = "health"


class MemoryAbove(_Rule):
    kind: Literal["memory_above"]
    threshold_pct: float = Field(gt=0, le=100)
    dataset: Literal["health"] = "health"


class SensorOutside(_Rule):
    """A sensor's value beyond its own thresholds (from the device, same unit)."""

    kind: Literal["sensor_outside_thresholds"]
    level: Literal["warning", "critical"] = "critical"
    dataset: Literal["sensors"] = "sensors"


class DeviceMissing(_Rule):
    """A device the collector planned but got no answer from (failed, timed out,
    or skipped while backing off), ``for_cycles`` cycles in a row."""

    kind: Literal["device_missing"]
    dataset: str = "system"  # whose cycle markers count


Rule = Annotated[
    UtilisationAbove
    | OperDown
    | BgpLeftEstablished
    | CpuAbove
    | MemoryAbove
    | SensorOutside
    | DeviceMissing,
    Field(discriminator="kind"),
]


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


def load_rules(path: Path) -> list[Rule]:
    """The rules of ``path``; :class:`SettingsError` listing every problem."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SettingsError([f"{path}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SettingsError([f"{path}{line}: not YAML: {getattr(exc, 'problem', exc)}"]) from None
    try:
        rules = RulesFile.model_validate(data or {}).rules
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = list(e["loc"])
            where = ".".join(map(str, loc))
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                raw = (data or {}).get("rules") or []
                name = raw[loc[1]].get("name", "?") if isinstance(raw[loc[1]], dict) else "?"
                rest = [str(x) for x in loc[2:] if x not in _KINDS]
                where = f"rules[{loc[1]}] ({name})" + ("." + ".".join(rest) if rest else "")
            problems.append(f"{path}: {where}: {e['msg']}")
        raise SettingsError(problems) from None
    names = [r.name for r in rules]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SettingsError([f"{path}: rule name(s) used twice: {', '.join(dup)}"])
    return rules


_KINDS = {
    "utilisation_above",
    "oper_down",
    "bgp_left_established",
    "cpu_above",
    "memory_above",
    "sensor_outside_thresholds",
    "device_missing",
}
