"""Secrets by reference: ``env:NAME`` or ``file:PATH``, never inline.

A :class:`SecretRef` keeps only the reference; :meth:`SecretRef.reveal`
reads the value when a connection needs it, so the value never sits in a
config object that might be logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


class SecretError(ValueError):
    """A secret reference that cannot be resolved (names the reference, not the value)."""


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
        try:
            return Path(rest).read_text().strip()
        except OSError as exc:
            raise SecretError(f"secret {self}: cannot read {rest}: {exc.strerror}") from exc

    def __repr__(self) -> str:
        return f"SecretRef({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls.parse, core_schema.str_schema())
