"""Raw values to field values: the ``type`` conversions of profile fields.

A conversion takes what a device returned for one source key (SNMP: ``int``,
``bytes``, dotted ``str``; NETCONF: the element's stripped text) and gives the
field's value, ``None`` (no value), :data:`BAD` (a value of the wrong type:
left out and reported) or a :class:`NoCode` (an enum code whose table maps it to
a number, e.g. a scale, and does not know it: no value, with why).

Enums: a code the table does not know keeps its raw number where the table
maps codes to names (``oper_status: 0``; the record contract admits the int),
never nothing and never a string of digits.  :func:`sentinel` says whether a
raw value is one of a field's ``absent`` values ("no reading").
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import Any

from collectors.values import Value

BAD = object()
_BAD = BAD
EnumTable = dict[int | str, str | int | float]


class NoCode:
    """An enum code that its number-valued table does not know: no value."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


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


def _ip(v: Value) -> object:
    """An IPv4/IPv6 address: IpAddress (dotted) as is, or 4/16 raw octets."""
    if isinstance(v, str):
        return v
    if not isinstance(v, bytes):
        return _BAD
    if not v:
        return None  # a zero-length InetAddress is no address
    return str(ipaddress.ip_address(v)) if len(v) in (4, 16) else _BAD


def _bool(v: Value) -> object:
    return {1: True, 2: False}.get(v, _BAD) if isinstance(v, int) else _BAD


def _numbers(table: EnumTable) -> bool:
    return bool(table) and all(isinstance(x, int | float) for x in table.values())


def enum(table: EnumTable, name: str) -> Callable[[Value], object]:
    """An SNMP enum: the table's entry for the code; an unknown code is the raw int
    (a table of names) or a :class:`NoCode` (a table of numbers: a scale is not a
    code)."""
    numbers = _numbers(table)

    def conv(v: Value) -> object:
        if not isinstance(v, int) or isinstance(v, bool):
            return _BAD
        got = table.get(v)
        if got is not None:
            return got
        return NoCode(f"code {v} is not in enum table {name}") if numbers else v

    return conv


# XML text (NETCONF): every raw value is a stripped ``str``
_DEC = re.compile(r"^[+-]?\d+$")


def _x_int(v: Value) -> object:
    return int(v) if isinstance(v, str) and _DEC.match(v) else _BAD


def _x_float(v: Value) -> object:
    try:
        out = float(v) if isinstance(v, str) and v else _BAD
    except ValueError:
        return _BAD
    return out if out is _BAD or math.isfinite(out) else _BAD  # type: ignore[arg-type]


def _x_text(v: Value) -> object:
    return v if isinstance(v, str) else _BAD


def _x_hex(v: Value) -> object:
    if not isinstance(v, str):
        return _BAD
    h = re.sub(r"[:.\-\s]", "", v).lower()
    if not h:
        return None
    return h if re.fullmatch(r"[0-9a-f]+", h) else _BAD


def _x_bool(v: Value) -> object:
    return {"true": True, "false": False}.get(v.lower(), _BAD) if isinstance(v, str) else _BAD


def _x_ip(v: Value) -> object:
    if not isinstance(v, str):
        return _BAD
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return _BAD


def x_enum(table: EnumTable, name: str) -> Callable[[Value], object]:
    """A NETCONF enum (keyed by text): the table's entry; an unknown text is no
    value, with why (a name the contract does not know cannot be carried)."""

    def conv(v: Value) -> object:
        if not isinstance(v, str):
            return _BAD
        got = table.get(v)
        return NoCode(f"{v!r} is not in enum table {name}") if got is None else got

    return conv


XCONV: dict[str, Callable[[Value], object]] = {
    "int": _x_int,
    "float": _x_float,
    "text": _x_text,
    "hex": _x_hex,
    "oid": _x_text,
    "bool": _x_bool,
    "ip": _x_ip,
}


def with_regex(conv: Callable[[Value], object], rx: re.Pattern[str]) -> Callable[[Value], object]:
    def run(v: Value) -> object:
        m = rx.search(v) if isinstance(v, str) else None
        return conv(m.group(1)) if m else None

    return run


def with_text_regex(
    conv: Callable[[Value], object], rx: re.Pattern[str]
) -> Callable[[Value], object]:
    """An SNMP value read as text: the first group of ``rx`` converted by ``conv``
    (as a DisplayString); no match is no value, with the reason."""

    def run(v: Value) -> object:
        text = v.decode("utf-8", "replace").rstrip("\x00") if isinstance(v, bytes) else str(v)
        m = rx.search(text)
        if m is None:
            return NoCode(f"no reading: {text!r} does not match {rx.pattern!r}")
        return conv(m.group(1).encode())

    return run


CONV: dict[str, Callable[[Value], object]] = {
    "int": _int,
    "float": _float,
    "text": _text,
    "hex": _hex,
    "oid": _oid,
    "bool": _bool,
    "ip": _ip,
}


def _same(a: Any, b: Any) -> bool:
    """Equal values of one kind (``True`` is not the sentinel ``1``)."""
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def sentinel(raw: Value, conv: object, absent: tuple[Any, ...]) -> Any:
    """The ``absent`` value that ``raw`` (as the device sent it; octets as text) or
    its conversion ``conv`` is, or None: every value of the list is honoured."""
    if not absent:
        return None
    text = raw.decode("utf-8", "replace").rstrip("\x00") if isinstance(raw, bytes) else None
    for s in absent:
        if _same(raw, s) or (text is not None and _same(text, s)):
            return s
        if conv is not _BAD and not isinstance(conv, NoCode) and _same(conv, s):
            return s
    return None
