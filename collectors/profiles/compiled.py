"""Profiles compiled for the hot path: built once per profile, applied per row.

:meth:`CompiledDataset.build` turns what a device returned (walked columns
and GET scalars) into ``(tags, fields, bad)`` per record, where ``bad``
names fields whose value had the wrong type (left out, never guessed).
Working fields (``_name``) are computed but not returned.
"""

from __future__ import annotations

import ast
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collectors.profiles.schema import Condition, DatasetSpec, FieldSpec, IndexSpec, TableSpec
from collectors.snmp.base import Value

FieldValue = int | float | str | bool | None
Row = tuple[dict[str, str], dict[str, FieldValue], list[str]]
Columns = dict[str, dict[str, Value]]
_BAD = object()


# --- value conversions -------------------------------------------------------


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


def _float(v: Value) -> object:
    if isinstance(v, int):
        return float(v)
    if isinstance(v, bytes):  # some MIBs carry numbers as DisplayString
        try:
            return float(v.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return _BAD
    return _BAD


def _oid(v: Value) -> object:
    return v if isinstance(v, str) else _BAD


def _bool(v: Value) -> object:
    return {1: True, 2: False}.get(v, _BAD) if isinstance(v, int) else _BAD


def _enum(table: dict[int, str | int | float]) -> Callable[[Value], object]:
    def conv(v: Value) -> object:
        if not isinstance(v, int):
            return _BAD
        return table.get(v, str(v))

    return conv


_CONV: dict[str, Callable[[Value], object]] = {
    "int": _int,
    "float": _float,
    "text": _text,
    "hex": _hex,
    "oid": _oid,
    "bool": _bool,
}


# --- index decoding ----------------------------------------------------------


def decode_index(index: str, spec: IndexSpec) -> str | int | None:
    parts = [int(p) for p in index.split(".")] if index else []
    parts = parts[spec.skip :]
    if spec.take is not None:
        parts = parts[: spec.take]
    try:
        if spec.format == "int":
            return parts[0] if len(parts) == 1 else None
        if spec.format == "ipv4":
            return str(ipaddress.IPv4Address(bytes(parts[:4]))) if len(parts) >= 4 else None
        if spec.format == "ipv6":
            return str(ipaddress.IPv6Address(bytes(parts[:16]))) if len(parts) >= 16 else None
        if spec.format == "inet":  # InetAddressType, length, octets
            if len(parts) < 2 or len(parts) < 2 + parts[1]:
                return None
            octets = bytes(parts[2 : 2 + parts[1]])
            return str(ipaddress.ip_address(octets)) if len(octets) in (4, 16) else octets.hex()
        if spec.format == "text":
            if not parts or len(parts) < 1 + parts[0]:
                return None
            return bytes(parts[1 : 1 + parts[0]]).decode("utf-8", "replace")
    except ValueError:  # octet out of range
        return None
    return ".".join(map(str, parts))


# --- expressions -------------------------------------------------------------

_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
}
_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Call,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.USub,
    ast.UAdd,
)


def compile_expr(text: str) -> tuple[Any, frozenset[str]]:
    """Compile a whitelisted arithmetic expression; returns (code, names used)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expr {text!r}: {exc.msg}") from None
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ValueError(f"expr {text!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in _FUNCS
        ):
            raise ValueError(f"expr {text!r}: only {', '.join(_FUNCS)} may be called")
        if isinstance(node, ast.Name) and node.id not in _FUNCS:
            names.add(node.id)
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError(f"expr {text!r}: only numbers")
    return compile(tree, f"<expr {text}>", "eval"), frozenset(names)


# --- compiled fields ---------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    is_tag: bool
    kind: str  # oid | chosen | regex | value | expr | index | oid_of
    oids: tuple[str, ...] = ()
    conv: Callable[[Value], object] = _int
    scale: tuple[int | float, ...] = ()
    nonzero: bool = False
    index_from: str | None = None
    ref: str | None = None  # chosen / from / oid_of
    values: tuple[Any, ...] = ()
    regex: re.Pattern[str] | None = None
    const: Any = None
    code: Any = None
    names: frozenset[str] = frozenset()
    index: IndexSpec | None = None
    out_type: str | None = None


def _compile_field(
    name: str, is_tag: bool, spec: FieldSpec, enums: dict[str, dict[int, str | int | float]]
) -> _Field:
    if spec.oid is not None:
        if spec.type == "enum":
            if spec.enum not in enums:
                raise ValueError(f"field {name}: unknown enum table {spec.enum!r}")
            conv = _enum(enums[spec.enum])
        else:
            conv = _CONV[spec.type or "int"]
        return _Field(
            name,
            is_tag,
            "oid",
            tuple(spec.oid),
            conv,
            tuple(spec.scale or ()),
            spec.nonzero,
            spec.index_from,
        )
    if spec.chosen is not None:
        return _Field(name, is_tag, "chosen", ref=spec.chosen, values=tuple(spec.values or ()))
    if spec.regex is not None:
        return _Field(name, is_tag, "regex", ref=spec.source, regex=re.compile(spec.regex))
    if spec.expr is not None:
        code, names = compile_expr(spec.expr)
        return _Field(name, is_tag, "expr", code=code, names=names, out_type=spec.type)
    if spec.index is not None:
        return _Field(name, is_tag, "index", index=spec.index)
    if spec.oid_of is not None:
        return _Field(name, is_tag, "oid_of", ref=spec.oid_of)
    return _Field(name, is_tag, "value", const=spec.value)


def _passes(cond: Condition, values: dict[str, Any]) -> bool:
    v = values.get(cond.field)
    if cond.present is not None:
        return (v is not None) == cond.present
    if cond.equals is not None:
        return bool(v == cond.equals)
    if cond.in_ is not None:
        return v in cond.in_
    return v not in (cond.not_in or [])


def _index_key(index: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in index.split("."))
    except ValueError:
        return (1 << 62,)


@dataclass(frozen=True)
class CompiledTable:
    name: str
    is_scalar: bool
    index_tag: str | None
    rows_from: str | None
    where: tuple[Condition, ...]
    fields: tuple[_Field, ...]
    oids: tuple[str, ...]

    def rows(self, columns: Columns) -> list[str]:
        if self.is_scalar:
            return [""]
        if self.rows_from is not None:
            f = next(f for f in self.fields if f.name == self.rows_from)
            idx: set[str] = set()
            for o in f.oids:
                idx.update(columns.get(o, ()))
        else:
            idx = {i for o in self.oids for i in columns.get(o, ())}
        return sorted(idx, key=_index_key)

    def extract(self, index: str, columns: Columns, scalars: dict[str, Value]) -> Row | None:
        tags: dict[str, str] = {}
        fields: dict[str, FieldValue] = {}
        values: dict[str, Any] = {}
        used: dict[str, int] = {}
        used_oid: dict[str, str] = {}
        bad: list[str] = []
        for f in self.fields:
            val: Any = None
            if f.kind == "oid":
                at = index
                if f.index_from is not None:
                    ref = values.get(f.index_from)
                    at = str(ref) if ref is not None else ""
                for i, oid in enumerate(f.oids):
                    raw = scalars.get(oid) if self.is_scalar else columns.get(oid, {}).get(at)
                    if raw is None:
                        continue
                    conv = f.conv(raw)
                    if conv is None:
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
                    used_oid[f.name] = oid if self.is_scalar else f"{oid}.{at}"
                    break
            elif f.kind == "chosen":
                pos = used.get(f.ref or "")
                val = f.values[pos] if pos is not None and pos < len(f.values) else None
            elif f.kind == "regex":
                src = values.get(f.ref or "")
                m = f.regex.search(src) if isinstance(src, str) and f.regex else None
                val = m.group(1) if m else None
            elif f.kind == "expr":
                val = self._eval(f, values)
            elif f.kind == "index":
                val = decode_index(index, f.index) if f.index else None
            elif f.kind == "oid_of":
                val = used_oid.get(f.ref or "")
            else:
                val = f.const
            if val is None:
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
        return tags, fields, bad

    @staticmethod
    def _eval(f: _Field, values: dict[str, Any]) -> Any:
        env = {n: values.get(n) for n in f.names}
        if any(v is None or isinstance(v, str) for v in env.values()):
            return None
        try:
            out = eval(f.code, {"__builtins__": {}, **_FUNCS}, env)
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
        for table in self.tables:
            for index in table.rows(columns):
                row = table.extract(index, columns, scalars)
                if row is not None and (row[0] or row[1]):
                    out.append(row)
        return out


def _compile_table(
    name: str,
    spec: TableSpec | Any,
    is_scalar: bool,
    enums: dict[str, dict[int, str | int | float]],
) -> CompiledTable:
    fields = [_compile_field(n, True, s, enums) for n, s in spec.tags.items()]
    fields += [_compile_field(n, False, s, enums) for n, s in spec.fields.items()]
    names = {f.name for f in fields}
    for f in fields:
        for ref in (f.ref, f.index_from):
            if ref is not None and ref not in names:
                raise ValueError(f"table {name}: field {f.name} refers to unknown field {ref!r}")
        for ref in f.names:
            if ref not in names:
                raise ValueError(f"table {name}: field {f.name}: expr uses unknown field {ref!r}")
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
        oids += [o for o in f.oids if o not in oids]
    return CompiledTable(
        name,
        is_scalar,
        getattr(spec, "index_tag", None),
        rows_from,
        where,
        tuple(ordered),
        tuple(oids),
    )


def compile_dataset(
    name: str, spec: DatasetSpec, enums: dict[str, dict[int, str | int | float]]
) -> CompiledDataset:
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
