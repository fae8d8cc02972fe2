"""Profiles compiled for the hot path: built once per profile, applied per row.

:meth:`CompiledDataset.extract` turns one row of raw SNMP values (a lookup
``oid -> value``) into ``(tags, fields, bad)`` where ``bad`` names fields
whose value had the wrong type (they are left out, never guessed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from collectors.profiles.schema import DatasetSpec, FieldSpec
from collectors.snmp.base import Value

FieldValue = int | float | str | bool | None
Lookup = Callable[[str], Value | None]
_BAD = object()


def _text(v: Value) -> object:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").rstrip("\x00")
    return str(v)


def _hex(v: Value) -> object:
    if not isinstance(v, bytes):
        return _BAD
    return v.hex() or None  # a zero-length address is no address


def _int(v: Value) -> object:
    return v if isinstance(v, int) else _BAD


def _oid(v: Value) -> object:
    return v if isinstance(v, str) else _BAD


def _enum(table: dict[int, str]) -> Callable[[Value], object]:
    def conv(v: Value) -> object:
        if not isinstance(v, int):
            return _BAD
        return table.get(v, str(v))

    return conv


@dataclass(frozen=True)
class _Field:
    name: str
    oids: tuple[str, ...] = ()
    conv: Callable[[Value], object] = _int
    scale: tuple[int, ...] = ()
    nonzero: bool = False
    chosen: str | None = None
    values: tuple[int | str, ...] = ()
    source: str | None = None
    regex: re.Pattern[str] | None = None
    const: FieldValue = None


@dataclass(frozen=True)
class CompiledDataset:
    name: str
    spec: DatasetSpec
    is_table: bool
    index_tag: str | None
    oids: tuple[str, ...]  # columns (table) or instances (scalars) to read
    _direct: tuple[tuple[bool, _Field], ...] = field(repr=False)
    _derived: tuple[tuple[bool, _Field], ...] = field(repr=False)

    def extract(self, get: Lookup) -> tuple[dict[str, str], dict[str, FieldValue], list[str]]:
        tags: dict[str, str] = {}
        fields: dict[str, FieldValue] = {}
        used: dict[str, int] = {}
        bad: list[str] = []
        for is_tag, f in self._direct:
            for i, oid in enumerate(f.oids):
                raw = get(oid)
                if raw is None:
                    continue
                val = f.conv(raw)
                if val is None:
                    continue
                if val is _BAD:
                    bad.append(f.name)
                    break
                if f.scale and isinstance(val, int):
                    val = val * f.scale[i if len(f.scale) > 1 else 0]
                if f.nonzero and val == 0 and i + 1 < len(f.oids):
                    continue
                used[f.name] = i
                if is_tag:
                    tags[f.name] = str(val)
                else:
                    fields[f.name] = val  # type: ignore[assignment]
                break
        for is_tag, f in self._derived:
            out: FieldValue = None
            if f.chosen is not None:
                pos = used.get(f.chosen)
                out = f.values[pos] if pos is not None and pos < len(f.values) else None
            elif f.regex is not None:
                src = fields.get(f.source or "") or tags.get(f.source or "")
                m = f.regex.search(src) if isinstance(src, str) else None
                out = m.group(1) if m else None
            else:
                out = f.const
            if out is None:
                continue
            if is_tag:
                tags[f.name] = str(out)
            else:
                fields[f.name] = out
        return tags, fields, bad


def _compile_field(name: str, spec: FieldSpec, enums: dict[str, dict[int, str]]) -> _Field:
    if spec.oid is not None:
        if spec.type == "enum":
            if spec.enum not in enums:
                raise ValueError(f"field {name}: unknown enum table {spec.enum!r}")
            conv = _enum(enums[spec.enum])
        else:
            conv = {"int": _int, "text": _text, "hex": _hex, "oid": _oid}[spec.type]
        return _Field(name, tuple(spec.oid), conv, tuple(spec.scale or ()), spec.nonzero)
    if spec.chosen is not None:
        return _Field(name, chosen=spec.chosen, values=tuple(spec.values or ()))
    if spec.regex is not None:
        return _Field(name, source=spec.source, regex=re.compile(spec.regex))
    return _Field(name, const=spec.value)


def compile_dataset(
    name: str, spec: DatasetSpec, enums: dict[str, dict[int, str]]
) -> CompiledDataset:
    part = spec.table or spec.scalars
    assert part is not None
    direct: list[tuple[bool, _Field]] = []
    derived: list[tuple[bool, _Field]] = []
    for is_tag, specs in ((True, part.tags), (False, part.fields)):
        for fname, fspec in specs.items():
            f = _compile_field(fname, fspec, enums)
            (direct if f.oids else derived).append((is_tag, f))
    names = {f.name for _, f in direct}
    for _, f in derived:
        if f.chosen is not None and f.chosen not in names:
            raise ValueError(
                f"dataset {name}: field {f.name}: chosen refers to unknown field {f.chosen!r}"
            )
    oids: list[str] = []
    for _, f in direct:
        oids += [o for o in f.oids if o not in oids]
    return CompiledDataset(
        name=name,
        spec=spec,
        is_table=spec.table is not None,
        index_tag=spec.table.index_tag if spec.table else None,
        oids=tuple(oids),
        _direct=tuple(direct),
        _derived=tuple(derived),
    )
