"""The profile file format, checked strictly (unknown keys are errors).

A profile says, as data, how one kind of device answers: which OIDs to read
for each dataset and how to turn them into named tags and fields.  Profiles
compose with ``extends`` (bases are applied first, in order; the profile's
own entries win).  Names starting with ``_`` are bases: never matched to a
device on their own.

Field specs (``FieldSpec``):

- ``oid``: one OID, or a list tried in order (first one the device returns
  wins, e.g. 64-bit HC counter then its 32-bit twin).
- ``type``: ``int`` (default), ``text``, ``hex`` (lowercase, no separators),
  ``oid``, ``enum`` (then ``enum`` names a table in ``enums/``).
- ``scale``: multiply ints; a list matches ``oid`` entry by entry.
- ``nonzero``: treat 0 as absent so the next ``oid`` is tried.
- ``chosen``/``values``: instead of an OID, record *which* ``oid`` of another
  field was used, as ``values[i]`` (``counter_bits: {chosen: in_octets,
  values: [64, 32]}``).
- ``from``/``regex``: parse another (text) field with a regular expression;
  the first group is the value.
- ``value``: a constant.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_OID = re.compile(r"^[0-2](\.\d+)+$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(_Strict):
    oid: list[str] | None = None
    type: Literal["int", "text", "hex", "oid", "enum"] = "int"
    enum: str | None = None
    scale: list[int] | None = None
    nonzero: bool = False
    chosen: str | None = None
    values: list[int | str] | None = None
    source: str | None = Field(None, alias="from")
    regex: str | None = None
    value: int | str | bool | None = None

    @field_validator("oid", "scale", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str | int) else v

    @model_validator(mode="after")
    def _one_way(self) -> FieldSpec:
        ways = [
            self.oid is not None,
            self.chosen is not None,
            self.source is not None,
            self.value is not None,
        ]
        if sum(ways) != 1:
            raise ValueError("give exactly one of: oid, chosen, from, value")
        for o in self.oid or []:
            if not _OID.match(o):
                raise ValueError(f"oid {o!r} is not a dotted numeric OID")
        if self.type == "enum" and not self.enum:
            raise ValueError("type enum needs 'enum: <table name>'")
        if self.scale is not None and len(self.scale) not in (1, len(self.oid or [])):
            raise ValueError("scale needs one entry, or one per oid")
        if self.chosen is not None and not self.values:
            raise ValueError("chosen needs 'values', one per oid of the chosen field")
        if (self.source is None) != (self.regex is None):
            raise ValueError("from and regex go together")
        if self.regex is not None:
            try:
                if re.compile(self.regex).groups < 1:
                    raise ValueError(f"regex {self.regex!r} needs a capture group")
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r}: {exc}") from None
        return self


def _names_ok(d: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
    for k in d:
        if not _NAME.match(k):
            raise ValueError(f"name {k!r}: lowercase letters, digits and '_' only")
    return d


class ScalarSpec(_Strict):
    """A dataset read with one GET: one record per device."""

    tags: dict[str, FieldSpec] = {}
    fields: dict[str, FieldSpec] = {}

    _check = field_validator("tags", "fields")(_names_ok)


class TableSpec(_Strict):
    """A dataset walked as a table: one record per row (index)."""

    index_tag: str
    tags: dict[str, FieldSpec] = {}
    fields: dict[str, FieldSpec] = {}

    _check = field_validator("tags", "fields")(_names_ok)


class DatasetSpec(_Strict):
    scalars: ScalarSpec | None = None
    table: TableSpec | None = None

    @model_validator(mode="after")
    def _one(self) -> DatasetSpec:
        if (self.scalars is None) == (self.table is None):
            raise ValueError("a dataset is either 'scalars' or 'table'")
        return self


class ProfileFile(_Strict):
    """One ``<name>.yaml`` profile."""

    name: str
    description: str = ""
    extends: list[str] = []
    sysobjectid: list[str] = []
    datasets: dict[str, DatasetSpec] = {}

    @field_validator("sysobjectid")
    @classmethod
    def _sysoids(cls, v: list[str]) -> list[str]:
        for s in v:
            if not _OID.match(s.removesuffix(".*")):
                raise ValueError(f"sysobjectid {s!r}: dotted OID, optionally ending in '.*'")
        return v


class EnumFile(_Strict):
    name: str
    values: dict[int, str]
