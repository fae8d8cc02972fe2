"""``configs/netfeed.yaml``: one file, one section per package.

Each package validates its own section with its own strict model
(``bus:`` here, ``collector:`` in collectors, ``applications:`` in
applications), so a typo anywhere is reported with the file and the key.
A missing file means all defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bus.settings import BusSettings

M = TypeVar("M", bound=BaseModel)
SECTIONS = ("bus", "collector", "applications")


class SettingsError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def read_sections(path: Path) -> dict[str, Any]:
    """Parse the file and check its top-level keys; ``{}`` when it does not exist."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        raise SettingsError(
            [f"{path}:{at}: not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if not isinstance(data, dict):
        raise SettingsError([f"{path}: top level must be a mapping of {', '.join(SECTIONS)}"])
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        raise SettingsError(
            [
                f"{path}: {k}: unknown section (expected one of {', '.join(SECTIONS)})"
                for k in unknown
            ]
        )
    return data


def load_section(path: Path, section: str, model: type[M]) -> M:
    """Validate ``section`` of ``path`` with ``model``; errors name file and key path."""
    data = read_sections(path).get(section) or {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(
            [f"{path}: {section}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None


def _joined(base: Path, path: Path) -> Path:
    """``path`` taken relative to ``base`` (unchanged when absolute), normalised."""
    return Path(os.path.normpath(base / path))


def load_bus_settings(config_dir: Path) -> BusSettings:
    """Bus settings from ``<config_dir>/netfeed.yaml`` with environment overrides applied.

    A relative embedded path, spool path or Kafka TLS file in the file is taken
    relative to ``config_dir``
    (the same bus whatever the current directory); one from the environment
    (``NETFEED_BUS_PATH``) relative to the current directory, as shells do."""
    bus = load_section(config_dir / "netfeed.yaml", "bus", BusSettings)
    return bus.model_copy(
        update={
            "embedded": bus.embedded.model_copy(
                update={"path": _joined(config_dir, bus.embedded.path)}
            ),
            "spool": bus.spool.model_copy(update={"path": _joined(config_dir, bus.spool.path)}),
            "kafka": bus.kafka.model_copy(
                update={"security": bus.kafka.security.relative_to(config_dir)}
            ),
        }
    ).with_env()
