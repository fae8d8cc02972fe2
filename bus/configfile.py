"""``configs/netfeed.yaml``: one file, one section per package.

Each package validates its own section with its own strict model
(``bus:`` here, ``collector:`` in collectors, ``applications:`` in
applications, ``secrets:`` here), so a typo anywhere is reported with the
file, the line and the key.  A missing file means all defaults.  Unknown
sections are reported (:func:`section_problems`) without hiding the problems
of the known ones.

Also the helpers every configuration reader shares: :func:`decode_text`
(UTF-8 with or without BOM, or a declared encoding; anything else is refused
naming the file, line and byte) and :func:`yaml_line` (the line of the YAML
node a validation error's location points at).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bus.settings import BusSettings

M = TypeVar("M", bound=BaseModel)
SECTIONS = ("bus", "collector", "applications", "secrets", "metrics", "logging")


class SettingsError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class SecretsSettings(BaseModel):
    """``secrets:`` -- ``dirs``: the folders ``file:`` secret references may
    read from (relative ones are taken relative to the configuration folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dirs: list[Path] = [Path("secrets"), Path("/run/secrets")]


# -- shared helpers ----------------------------------------------------------------------


def decode_text(data: bytes, where: str, encoding: str | None = None) -> str:
    """``data`` as text: UTF-8 (a BOM is dropped) unless ``encoding`` is declared.

    Raises ``ValueError`` naming ``where``, the line and the byte offset of
    the first byte that does not decode."""
    enc = encoding or "utf-8-sig"
    try:
        return data.decode(enc)
    except LookupError:
        raise ValueError(f"{where}: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(
            f"{where}:{line}: not {'UTF-8' if encoding is None else encoding} text "
            f"(byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
            + (" or declare its encoding" if encoding is None else "")
        ) from None


def read_text(path: Path, where: str | None = None, encoding: str | None = None) -> str:
    """A configuration file's text (see :func:`decode_text`); OSError passes through."""
    return decode_text(path.read_bytes(), where or str(path), encoding)


def yaml_root(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (None if it does not parse)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None


def yaml_line(root: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the deepest node of ``root`` that ``loc`` (a pydantic
    error location: keys and list indexes) reaches; None if not even the first."""
    node, line = root, None
    for item in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(item):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(item, int)
            and 0 <= item < len(node.value)
        ):
            node = node.value[item]
            line = node.start_mark.line + 1
        else:
            break
    return line


def at_line(where: str, line: int | None) -> str:
    """``file:line`` (or ``file`` when the line is unknown)."""
    return f"{where}:{line}" if line else where


def _load_yaml(path: Path) -> tuple[Any, str]:
    try:
        text = read_text(path)
    except OSError as exc:
        raise SettingsError([f"{path}: cannot read: {exc.strerror}"]) from None
    except ValueError as exc:
        raise SettingsError([str(exc)]) from None
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = at_line(str(path), mark.line + 1 if mark else None)
        raise SettingsError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    except RecursionError:  # pathologically nested flow collections
        raise SettingsError([f"{path}: not valid YAML: nested too deeply"]) from None


# -- netfeed.yaml ------------------------------------------------------------------------


def read_sections(path: Path) -> dict[str, Any]:
    """Parse the file; ``{}`` when it does not exist.  Unknown sections are left
    in (:func:`section_problems` reports them)."""
    if not path.exists():
        return {}
    data, _text = _load_yaml(path)
    data = data or {}
    if not isinstance(data, dict):
        raise SettingsError([f"{path}: top level must be a mapping of {', '.join(SECTIONS)}"])
    return data


def section_problems(path: Path) -> list[str]:
    """Unknown top-level sections of ``path``, each with its line."""
    try:
        data = read_sections(path)
    except SettingsError:
        return []  # the sections' loaders report it
    unknown = [k for k in data if k not in SECTIONS]
    if not unknown:
        return []
    root = yaml_root(read_text(path))
    return [
        f"{at_line(str(path), yaml_line(root, [k]))}: {k}: unknown section "
        f"(expected one of {', '.join(SECTIONS)})"
        for k in unknown
    ]


def load_section(path: Path, section: str, model: type[M]) -> M:
    """Validate ``section`` of ``path`` with ``model``; errors name file, line and key path."""
    data = read_sections(path).get(section) or {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        root = yaml_root(read_text(path))
        raise SettingsError(
            [
                f"{at_line(str(path), yaml_line(root, [section, *e['loc']]))}: "
                f"{section}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None


def _joined(base: Path, path: Path) -> Path:
    """``path`` taken relative to ``base`` (unchanged when absolute), normalised."""
    return Path(os.path.normpath(base / path))


def load_secret_dirs(config_dir: Path) -> list[Path]:
    """The secret folders of ``<config_dir>/netfeed.yaml`` (``secrets.dirs``), absolute."""
    sec = load_section(config_dir / "netfeed.yaml", "secrets", SecretsSettings)
    return [_joined(config_dir.absolute(), d) for d in sec.dirs]


def load_bus_settings(config_dir: Path) -> BusSettings:
    """Bus settings from ``<config_dir>/netfeed.yaml`` with environment overrides applied.

    A relative embedded path, spool path or Kafka TLS file in the file is taken
    relative to ``config_dir``
    (the same bus whatever the current directory); one from the environment
    (``NETFEED_BUS_PATH``) relative to the current directory, as shells do.
    A ``config_dir`` that is not a folder is an error (a mistyped ``--config``
    must not run on defaults)."""
    if not config_dir.is_dir():
        raise SettingsError([f"{config_dir}: no such configuration folder"])
    bus = load_section(config_dir / "netfeed.yaml", "bus", BusSettings)
    bus = bus.model_copy(
        update={
            "embedded": bus.embedded.model_copy(
                update={"path": _joined(config_dir, bus.embedded.path)}
            ),
            "spool": bus.spool.model_copy(update={"path": _joined(config_dir, bus.spool.path)}),
            "kafka": bus.kafka.model_copy(
                update={"security": bus.kafka.security.relative_to(config_dir)}
            ),
        }
    )
    try:
        return bus.with_env()
    except ValidationError as exc:
        env = {"backend": "NETFEED_BUS", "embedded": "NETFEED_BUS_PATH"}
        kafka = {"replication_factor": "NETFEED_KAFKA_REPLICATION_FACTOR"}

        def var(loc: tuple[int | str, ...]) -> str:
            if loc[0] == "kafka":
                return kafka.get(str(loc[-1]), "NETFEED_KAFKA_BOOTSTRAP")
            return env.get(str(loc[0]), "NETFEED_KAFKA_BOOTSTRAP")

        raise SettingsError(
            [
                f"environment {var(e['loc'])}: bus.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None
