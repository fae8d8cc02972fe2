"""Profiles compiled for the hot path: built once per profile, applied per row.

:meth:`CompiledDataset.build` turns what a device returned (walked columns
and GET scalars) into a :class:`Row` ``(tags, fields, bad, absent)`` per record:
``bad`` names fields whose value had the wrong type (left out, never guessed),
``absent`` maps fields left out although the device answered to why: one of
the field's ``absent`` sentinels ("no reading"; every value of the list is
honoured, compared with the raw value and with its conversion), an enum code
a table of numbers does not know, or a value outside what its quantity can
physically be (:func:`bus.datasets.implausible`, checked on every published
field).  A field computed from such a field (``expr``, ``first_of``, ...) that
gets no value says the same why.  Working fields (``_name``) are computed but
not returned.

Nothing here is SNMP's: a "column" is any source key (an OID today, an XML
path for NETCONF) mapped to values per row index, and the field pipeline
(types, scale, enums, ``expr``, ``absent``, ``where``, joins) is the same
whichever protocol filled it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bus.datasets import implausible
from collectors.profiles.convert import (
    BAD,
    NoCode,
    sentinel,
)
from collectors.profiles.fields import (
    EXPR_FUNCS,
    CompiledField,
    Enums,
    compile_field,
    decode_index,
)
from collectors.profiles.schema import Condition, DatasetSpec, TableSpec
from collectors.values import Value

FieldValue = int | float | str | bool | None


class Row(NamedTuple):
    """One record's ``tags``, ``fields``, ``bad`` (fields of the wrong type) and
    ``absent`` (field -> why it was left out)."""

    tags: dict[str, str]
    fields: dict[str, FieldValue]
    bad: list[str]
    absent: dict[str, str]


Columns = dict[str, dict[str, Value]]
Kids = dict[str, dict[str, list[str]]]  # column -> parent index -> sub-row indices
Sums = dict[tuple[str, int], dict[str, Value]]  # (column, sub-ids) -> row index -> total
_BAD = BAD


def _passes(cond: Condition, values: dict[str, Any]) -> bool:
    v = values.get(cond.field)
    if cond.present is not None:
        return (v is not None) == cond.present
    if cond.equals is not None:
        return bool(v == cond.equals)
    if cond.in_ is not None:
        return v in cond.in_
    return v not in (cond.not_in or [])


def _index_key(index: str) -> tuple[int | str, ...]:
    try:
        return tuple(int(p) for p in index.split("."))
    except ValueError:  # a text key (NETCONF list keys): after numbers, in text order
        return (1 << 62, index)


@dataclass(frozen=True)
class CompiledTable:
    name: str
    is_scalar: bool
    index_tag: str | None
    rows_from: str | None
    where: tuple[Condition, ...]
    fields: tuple[CompiledField, ...]
    oids: tuple[str, ...]
    merge: bool = False
    rows_path: str | None = None  # NETCONF: XPath from <data> to the row elements
    key: tuple[str, ...] = ()  # NETCONF: paths whose texts make the row index
    published: frozenset[str] = frozenset()  # the fields (not tags) a record may carry

    def rows(self, columns: Columns) -> list[str]:
        """Row indices: those of ``rows_from``'s column, else of every column read at
        the row's own index (not ``index_from`` joins or ``subrows``); a ``sum_over``
        column gives its indices less the summed sub-ids."""
        if self.is_scalar:
            return [""]
        idx: set[str] = set()
        for f in self.fields:
            if (
                f.kind != "oid"
                or f.joined
                or (
                    f.name != self.rows_from
                    if self.rows_from is not None
                    else (f.index_from is not None or f.subrows is not None)
                )
            ):
                continue
            for o in f.oids:
                got = columns.get(o, ())
                if f.sum_over:
                    idx.update(p for i in got if (p := _cut(i, f.sum_over)) is not None)
                else:
                    idx.update(got)
        return sorted(idx, key=_index_key)

    def extract(
        self,
        index: str,
        columns: Columns,
        scalars: dict[str, Value],
        kids: Kids | None = None,
        sums: Sums | None = None,
    ) -> Row | None:
        """One record from row ``index``; ``kids`` / ``sums`` cache sub-rows and
        ``sum_over`` totals across rows."""
        kids = {} if kids is None else kids
        sums = {} if sums is None else sums
        tags: dict[str, str] = {}
        fields: dict[str, FieldValue] = {}
        values: dict[str, Any] = {}
        used: dict[str, int] = {}
        used_oid: dict[str, str] = {}
        bad: list[str] = []
        why: dict[str, str] = {}  # field (working ones too) -> why it has no value
        for f in self.fields:
            val: Any = None
            dropped = ""
            if f.kind == "oid":
                at = index
                if f.index_from is not None:
                    ref = values.get(f.index_from)
                    at = str(ref) if ref is not None else ""
                for i, oid in enumerate(f.oids):
                    here = at
                    if f.subrows is not None:
                        here = self._subrow(f, oid, at, columns, kids)
                    if self.is_scalar:
                        raw = scalars.get(oid)
                    elif f.sum_over:
                        raw = _summed(oid, f.sum_over, columns, sums).get(here)
                    else:
                        raw = columns.get(oid, {}).get(here)
                    if raw is None:
                        continue
                    conv = f.conv(raw)
                    if conv is None:
                        continue
                    if isinstance(conv, NoCode):
                        dropped = conv.why
                        continue
                    s = sentinel(raw, conv, f.absent)
                    if s is not None:
                        dropped = f"no reading: {s!r} is a sentinel of {oid}"
                        continue
                    if conv is _BAD:
                        bad.append(f.name)
                        break
                    if f.scale and isinstance(conv, int | float) and not isinstance(conv, bool):
                        conv = conv * f.scale[i if len(f.scale) > 1 else 0]
                    if f.nonzero and conv == 0 and i + 1 < len(f.oids):
                        continue
                    val = conv
                    used[f.name] = i
                    used_oid[f.name] = oid if self.is_scalar else f"{oid}.{here}"
                    break
            elif f.kind == "chosen":
                pos = used.get(f.ref or "")
                val = f.values[pos] if pos is not None and pos < len(f.values) else None
            elif f.kind == "regex":
                src = values.get(f.ref or "")
                if f.regex is None:
                    val = src if isinstance(src, str) else None
                else:
                    m = f.regex.search(src) if isinstance(src, str) else None
                    val = m.group(1) if m else None
                if val is not None and f.lookup is not None:
                    got = f.lookup(val)
                    if isinstance(got, NoCode):
                        dropped, val = got.why, None
                    else:
                        val = got
            elif f.kind == "expr":
                val = self._eval(f, values)
            elif f.kind == "first_of":
                val = next((values[n] for n in f.values if values.get(n) is not None), None)
            elif f.kind == "index":
                val = decode_index(index, f.index) if f.index else None
            elif f.kind == "oid_of":
                val = used_oid.get(f.ref or "")
            else:
                val = f.const
            if val is None:
                dropped = dropped or next((why[n] for n in _inputs(f) if n in why), "")
                if dropped:
                    why[f.name] = dropped
                continue
            values[f.name] = val
            if f.name.startswith("_"):
                continue
            if f.is_tag:
                tags[f.name] = str(val)
            else:
                fields[f.name] = val
        for cond in self.where:
            if not _passes(cond, values):
                return None
        if self.index_tag and self.index_tag not in tags and not self.is_scalar:
            tags[self.index_tag] = index
        absent = {n: w for n, w in why.items() if n in self.published} if why else {}
        return Row(tags, fields, bad, absent)

    @staticmethod
    def _subrow(f: CompiledField, oid: str, at: str, columns: Columns, kids: Kids) -> str:
        """The index ``<at>.<n>`` of the preferred sub-row of ``at`` in ``oid``'s column
        ("" when none matches): every ``subrows`` column must hold an accepted raw
        value; the earliest accepted values win, then the lowest ``n``."""
        if oid not in kids:
            grouped: dict[str, list[str]] = {}
            for idx in sorted(columns.get(oid, {}), key=_index_key):
                grouped.setdefault(idx.rpartition(".")[0], []).append(idx)
            kids[oid] = grouped
        best: tuple[tuple[int, ...], str] | None = None
        for idx in kids[oid].get(at, ()):
            rank: list[int] = []
            for col, accepted in f.subrows or ():
                v = columns.get(col, {}).get(idx)
                if v is None or v not in accepted:
                    break
                rank.append(accepted.index(v))
            else:
                raw = columns[oid][idx]
                conv = f.conv(raw)
                if conv is None or conv is _BAD or isinstance(conv, NoCode):
                    continue
                if sentinel(raw, conv, f.absent) is not None:
                    continue
                if best is None or tuple(rank) < best[0]:
                    best = (tuple(rank), idx)
        return "" if best is None else best[1]

    @staticmethod
    def _eval(f: CompiledField, values: dict[str, Any]) -> Any:
        env = {n: values.get(n) for n in f.names}
        if any(v is None or isinstance(v, str) for v in env.values()):
            return None
        try:
            out = eval(f.code, {"__builtins__": {}, **EXPR_FUNCS}, env)
        except (ArithmeticError, ValueError, TypeError):
            return None
        if isinstance(out, float) and not math.isfinite(out):
            return None
        if f.out_type == "int":
            return round(out)
        if f.out_type == "float":
            return float(out)
        return out


@dataclass(frozen=True)
class CompiledDataset:
    name: str
    spec: DatasetSpec
    tables: tuple[CompiledTable, ...]
    columns: tuple[str, ...] = field(default=())  # to walk
    scalar_oids: tuple[str, ...] = field(default=())  # to GET

    @property
    def oids(self) -> tuple[str, ...]:
        return self.scalar_oids + self.columns

    def build(self, columns: Columns, scalars: dict[str, Value]) -> list[Row]:
        out: list[Row] = []
        kids: Kids = {}
        sums: Sums = {}
        by_tags: dict[frozenset[tuple[str, str]], Row] = {}
        for table in self.tables:
            for index in table.rows(columns):
                row = table.extract(index, columns, scalars, kids, sums)
                if row is None or not (row.tags or row.fields):
                    continue
                key = frozenset(row.tags.items())
                into = by_tags.get(key) if table.merge and row.tags else None
                if into is not None:  # the same entity from another MIB: its values win
                    into.fields.update(row.fields)
                    into.bad.extend(b for b in row.bad if b not in into.bad)
                    into.absent.update(row.absent)
                    for n in into.fields:
                        into.absent.pop(n, None)
                    continue
                out.append(row)
                if row.tags:
                    by_tags.setdefault(key, row)
        for row in out:  # what the quantity cannot physically be is not published
            for n, w in implausible(self.name, row.fields).items():
                del row.fields[n]
                row.absent[n] = w
        return out


def _inputs(f: CompiledField) -> list[str]:
    """The fields a field's value is computed from (its why, when it has none)."""
    refs = [f.index_from, f.ref] if f.kind in ("oid", "chosen", "regex", "oid_of") else []
    return [r for r in refs if r is not None] + list(f.values if f.kind == "first_of" else f.names)


def _cut(index: str, n: int) -> str | None:
    """``index`` less its last ``n`` sub-ids (None when it has no more than ``n``)."""
    parts = index.split(".")
    return ".".join(parts[:-n]) if len(parts) > n else None


def _summed(oid: str, n: int, columns: Columns, sums: Sums) -> dict[str, Value]:
    """``oid``'s column totalled per row index less its last ``n`` sub-ids: numbers
    are summed, any other value is taken from the lowest index."""
    got = sums.get((oid, n))
    if got is None:
        got = {}
        col = columns.get(oid, {})
        for idx in sorted(col, key=_index_key):
            row = _cut(idx, n)
            if row is None:
                continue
            v, have = col[idx], got.get(row)
            if have is None:
                got[row] = v
            elif isinstance(have, int) and isinstance(v, int):
                got[row] = have + v
        sums[(oid, n)] = got
    return got


def _compile_table(
    name: str,
    spec: TableSpec | Any,
    is_scalar: bool,
    enums: Enums,
) -> CompiledTable:
    rows_path = getattr(spec, "rows", None)
    key = tuple(getattr(spec, "key", None) or ())
    if (
        not is_scalar
        and rows_path is None
        and any(
            s.path is not None and s.rows is None
            for s in (*spec.tags.values(), *spec.fields.values())
        )
    ):
        raise ValueError(f"table {name}: path fields need the table's 'rows'")
    fields = [compile_field(n, True, s, enums, rows_path, key) for n, s in spec.tags.items()]
    fields += [compile_field(n, False, s, enums, rows_path, key) for n, s in spec.fields.items()]
    names = {f.name for f in fields}
    for f in fields:
        for ref in (f.ref, f.index_from):
            if ref is not None and ref not in names:
                raise ValueError(f"table {name}: field {f.name} refers to unknown field {ref!r}")
        for ref in f.names:
            if ref not in names:
                raise ValueError(f"table {name}: field {f.name} uses unknown field {ref!r}")
    # direct reads first so derived fields see them; declaration order otherwise
    ordered = [f for f in fields if f.kind == "oid" and f.index_from is None]
    ordered += [f for f in fields if f not in ordered]
    where = tuple(getattr(spec, "where", ()))
    for cond in where:
        if cond.field not in names:
            raise ValueError(f"table {name}: where refers to unknown field {cond.field!r}")
    rows_from = getattr(spec, "rows_from", None)
    if rows_from is not None and rows_from not in {f.name for f in ordered if f.kind == "oid"}:
        raise ValueError(f"table {name}: rows_from {rows_from!r} is not an oid field")
    oids: list[str] = []
    for f in ordered:
        if f.subrows is not None and is_scalar:
            raise ValueError(f"table {name}: field {f.name}: subrows need a walked table")
        if f.sum_over and is_scalar:
            raise ValueError(f"table {name}: field {f.name}: sum_over needs a walked table")
        more = [c for c, _ in f.subrows or ()]
        oids += [o for o in (*f.oids, *more) if o not in oids]
    return CompiledTable(
        name,
        is_scalar,
        getattr(spec, "index_tag", None),
        rows_from,
        where,
        tuple(ordered),
        tuple(oids),
        merge=bool(getattr(spec, "merge", False)),
        rows_path=rows_path,
        key=key,
        published=frozenset(f.name for f in ordered if not f.is_tag and f.name[0] != "_"),
    )


def compile_dataset(name: str, spec: DatasetSpec, enums: Enums) -> CompiledDataset:
    tables: list[CompiledTable] = []
    if spec.scalars is not None:
        tables.append(_compile_table(f"{name}.scalars", spec.scalars, True, enums))
    for tname, tspec in spec.tables.items():
        if tspec.enabled:
            tables.append(_compile_table(tname, tspec, False, enums))
    columns: list[str] = []
    scalar_oids: list[str] = []
    for t in tables:
        target = scalar_oids if t.is_scalar else columns
        target += [o for o in t.oids if o not in target]
    return CompiledDataset(name, spec, tuple(tables), tuple(columns), tuple(scalar_oids))
