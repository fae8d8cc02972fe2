"""Secrets by reference: ``env:NAME`` or ``file:PATH``, never inline.

A :class:`SecretRef` keeps only the reference; :meth:`SecretRef.reveal`
reads the value when a connection needs it, so the value never sits in a
config object that might be logged.

``file:`` references are confined to the secret folders
(:func:`set_secret_dirs`; ``secrets.dirs`` in ``netfeed.yaml``, by default the
configuration folder's ``secrets/`` and ``/run/secrets``): the path is
resolved (symlinks followed, ``..`` removed) and must then lie inside one of
them, so a configuration cannot make the collector read ``/etc/shadow`` or
follow a symlink out of the folder.  A relative ``file:`` path is taken
relative to the first secret folder.  Until folders are set (library use
without :func:`netfeed.system.load_system`), ``file:`` is not confined.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_DIRS: tuple[Path, ...] | None = None


class SecretError(ValueError):
    """A secret reference that cannot be resolved (names the reference, not the value)."""


def set_secret_dirs(dirs: Iterable[Path] | None) -> None:
    """Confine ``file:`` references to ``dirs`` (resolved now); None lifts the confinement."""
    global _DIRS
    _DIRS = None if dirs is None else tuple(Path(d).resolve() for d in dirs)


def secret_dirs() -> tuple[Path, ...] | None:
    return _DIRS


def secret_path(rest: str, dirs: tuple[Path, ...] | None = None) -> Path:
    """The file a ``file:`` reference names, resolved; SecretError outside ``dirs``."""
    dirs = _DIRS if dirs is None else dirs
    path = Path(rest)
    if dirs is None:
        return path
    if not path.is_absolute():
        if not dirs:
            raise SecretError(f"secret file:{rest}: no secret folders configured (secrets.dirs)")
        path = dirs[0] / path
    real = path.resolve()  # symlinks and '..' first, then the check
    if not any(real == d or real.is_relative_to(d) for d in dirs):
        raise SecretError(
            f"secret file:{rest}: outside the secret folders "
            f"({', '.join(map(str, dirs)) or 'none'}; setting secrets.dirs)"
        )
    return real


class SecretRef(str):
    """A validated ``env:NAME`` / ``file:PATH`` reference; ``str()`` is the reference."""

    __slots__ = ()

    @classmethod
    def parse(cls, value: str) -> SecretRef:
        scheme, sep, rest = value.partition(":")
        if not sep or scheme not in ("env", "file") or not rest:
            raise ValueError(
                "must be a reference 'env:NAME' or 'file:PATH'; inline secrets are not accepted"
            )
        return cls(value)

    def reveal(self) -> str:
        scheme, _, rest = self.partition(":")
        if scheme == "env":
            value = os.environ.get(rest)
            if value is None:
                raise SecretError(f"secret {self}: environment variable {rest} is not set")
            return value
        path = secret_path(rest)
        try:
            return path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise SecretError(f"secret {self}: cannot read {rest}: {why}") from exc

    def check(self) -> str | None:
        """Why :meth:`reveal` would fail now, or None (the value is not kept)."""
        try:
            self.reveal()
        except SecretError as exc:
            return str(exc)
        return None

    def __repr__(self) -> str:
        return f"SecretRef({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls.parse, core_schema.str_schema())
