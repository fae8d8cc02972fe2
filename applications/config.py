"""Application settings from the ``applications:`` section of ``configs/netfeed.yaml``."""

from __future__ import annotations

import os
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
        settings = app.Settings.model_validate(section.get(app.name) or {})
    except ValidationError as exc:
        raise SettingsError(
            [
                f"{path}: applications.{app.name}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None
    return _relative_to(settings, config_dir)


def _relative_to(settings: AppSettings, config_dir: Path) -> AppSettings:
    """Relative paths in settings (outputs, stores) are taken relative to the
    configuration folder, not the current directory."""
    update = {
        name: Path(os.path.normpath(config_dir / value))
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), Path) and not value.is_absolute()
    }
    return settings.model_copy(update=update) if update else settings
