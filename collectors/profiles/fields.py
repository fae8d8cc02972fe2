"""Fields of a profile compiled once: index decoding, ``expr`` expressions and
:class:`CompiledField`, the per-field recipe :mod:`collectors.profiles.compiled`
applies to every row (source columns, conversion, scale, sentinels, lookups).
Compiling refuses what cannot run (an unknown enum table, an expression with
a name or node it does not allow) when the profile loads, not per row."""

from __future__ import annotations

import ast
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collectors.profiles.convert import (
    CONV,
    XCONV,
    enum,
    with_regex,
    with_text_regex,
    x_enum,
)
from collectors.profiles.schema import FieldSpec, IndexSpec
from collectors.values import Value

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

EXPR_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "log10": math.log10,  # power in mW -> dBm
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
            isinstance(node.func, ast.Name) and node.func.id in EXPR_FUNCS
        ):
            raise ValueError(f"expr {text!r}: only {', '.join(EXPR_FUNCS)} may be called")
        if isinstance(node, ast.Name) and node.id not in EXPR_FUNCS:
            names.add(node.id)
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError(f"expr {text!r}: only numbers")
    return compile(tree, f"<expr {text}>", "eval"), frozenset(names)


# --- compiled fields ---------------------------------------------------------


@dataclass(frozen=True)
class CompiledField:
    name: str
    is_tag: bool
    kind: str  # oid | chosen | regex | value | expr | first_of | index | oid_of
    oids: tuple[str, ...] = ()
    conv: Callable[[Value], object] = CONV["int"]
    scale: tuple[int | float, ...] = ()
    nonzero: bool = False
    index_from: str | None = None
    absent: tuple[Any, ...] = ()
    subrows: tuple[tuple[str, tuple[Any, ...]], ...] | None = None
    ref: str | None = None  # chosen / from / oid_of
    values: tuple[Any, ...] = ()
    regex: re.Pattern[str] | None = None
    const: Any = None
    code: Any = None
    names: frozenset[str] = frozenset()
    index: IndexSpec | None = None
    out_type: str | None = None
    sum_over: int = 0  # oid read at <row>.<N more sub-ids>, summed
    xml: tuple[XmlSource, ...] = ()  # path fields: where each of ``oids`` is read
    joined: bool = False  # read in another list, by key: makes no rows
    lookup: Callable[[Value], object] | None = None  # from + enum: text -> table entry


@dataclass(frozen=True)
class XmlSource:
    """Where a path field's source key is read in a NETCONF reply: ``path`` under
    each element of ``rows`` (an XPath from ``<data>``; None: ``<data>`` itself),
    the element's index being its ``key`` texts joined with ``|`` (none: its
    position, from 1)."""

    rows: str | None
    key: tuple[str, ...]
    path: str
    sum_over: int = 0  # entries keyed by the row index plus this many more parts, summed

    @property
    def source_key(self) -> str:
        if self.rows is None:
            return self.path
        total = f" sum_over {self.sum_over}" if self.sum_over else ""
        return f"{self.rows}[{','.join(self.key)}]/{self.path}{total}"


Enums = dict[str, dict[int | str, str | int | float]]


def _table(name: str, spec: FieldSpec, enums: Enums) -> tuple[dict[int | str, Any], str]:
    """The enum table a field names, and its name; an unknown one fails the load."""
    if spec.enum not in enums:
        raise ValueError(f"field {name}: unknown enum table {spec.enum!r}")
    return enums[spec.enum], spec.enum


def compile_field(
    name: str,
    is_tag: bool,
    spec: FieldSpec,
    enums: Enums,
    rows: str | None = None,
    key: tuple[str, ...] = (),
) -> CompiledField:
    if spec.path is not None:
        if spec.type == "enum":
            conv = x_enum(*_table(name, spec, enums))
        else:
            conv = XCONV[spec.type or "text"]
        if spec.regex is not None:
            conv = with_regex(conv, re.compile(spec.regex))
        if spec.rows is not None:
            rows, key = spec.rows, tuple(spec.key or ())
        n = spec.sum_over or 0  # the schema allows it on joined paths only
        xml = tuple(XmlSource(rows, key, p, n) for p in spec.path)
        return CompiledField(
            name,
            is_tag,
            "oid",
            tuple(x.source_key for x in xml),
            conv,
            tuple(spec.scale or ()),
            spec.nonzero,
            spec.index_from,
            tuple(spec.absent or ()),
            xml=xml,
            joined=spec.rows is not None,
        )
    if spec.oid is not None:
        if spec.type == "enum":
            conv = enum(*_table(name, spec, enums))
        else:
            conv = CONV[spec.type or "int"]
            if spec.regex is not None:
                conv = with_text_regex(conv, re.compile(spec.regex))
        return CompiledField(
            name,
            is_tag,
            "oid",
            tuple(spec.oid),
            conv,
            tuple(spec.scale or ()),
            spec.nonzero,
            spec.index_from,
            tuple(spec.absent or ()),
            None if spec.subrows is None else tuple((c, tuple(v)) for c, v in spec.subrows.items()),
            sum_over=spec.sum_over or 0,
        )
    if spec.chosen is not None:
        return CompiledField(
            name, is_tag, "chosen", ref=spec.chosen, values=tuple(spec.values or ())
        )
    if spec.source is not None:
        lookup = None
        if spec.type == "enum":
            lookup = x_enum(*_table(name, spec, enums))
        rx = re.compile(spec.regex) if spec.regex is not None else None
        return CompiledField(name, is_tag, "regex", ref=spec.source, regex=rx, lookup=lookup)
    if spec.expr is not None:
        code, names = compile_expr(spec.expr)
        return CompiledField(name, is_tag, "expr", code=code, names=names, out_type=spec.type)
    if spec.first_of is not None:
        return CompiledField(
            name, is_tag, "first_of", names=frozenset(spec.first_of), values=tuple(spec.first_of)
        )
    if spec.index is not None:
        return CompiledField(name, is_tag, "index", index=spec.index)
    if spec.oid_of is not None:
        return CompiledField(name, is_tag, "oid_of", ref=spec.oid_of)
    return CompiledField(name, is_tag, "value", const=spec.value)
