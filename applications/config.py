"""Application settings from the ``applications:`` section of ``configs/netfeed.yaml``."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from applications.api import Application, AppSettings
from bus.configfile import SettingsError, read_sections


def load_app_settings(config_dir: Path, app: type[Application]) -> AppSettings:
    """Validate ``applications.<name>`` with the application's own Settings model."""
    path = config_dir / "netfeed.yaml"
    section = read_sections(path).get("applications") or {}
    if not isinstance(section, dict):
        raise SettingsError([f"{path}: applications: must map application names to settings"])
    try:
        return app.Settings.model_validate(section.get(app.name) or {})
    except ValidationError as exc:
        raise SettingsError(
            [
                f"{path}: applications.{app.name}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None
