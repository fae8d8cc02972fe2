"""Raw values of the shared recordings (``snmprec-sanitized``), as the SNMP
client returns them: for asserting what a device said, independently of
LibreNMS's reading of it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from collectors.snmp.base import Value
from tests.support.librenms import LIBRENMS

IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}")


def hex_octets(raw: str) -> bytes:
    """A ``4x`` value as snmpsim serves it: an odd-length string's lone last
    digit becomes an octet of its own (``abc`` -> ``ab 0c``)."""
    if len(raw) % 2:
        return bytes.fromhex(raw[:-1]) + bytes((int(raw[-1], 16),))
    return bytes.fromhex(raw)


@cache
def snmprec(name: str) -> dict[str, Value]:
    """``OID -> value``: int for numbers, bytes for OCTET STRING, str for
    OIDs/IpAddress; a NULL value (type 5) is left out, as the clients do.  A
    repeated OID keeps its first value: what a walk through snmpsim reads (a
    GET of it reads the last)."""
    return parse(LIBRENMS / "snmprec-sanitized" / f"{name}.snmprec")[0]


def parse(path: Path, served: bool = False) -> tuple[dict[str, Value], set[str]]:
    """One ``.snmprec`` file as :func:`snmprec` reads it, and the OIDs of values
    snmpsim cannot serve (an invalid hex string, an IpAddress that is not IPv4,
    an OBJECT IDENTIFIER of one arc: the raw recordings' quirks).  ``served``:
    as snmpsim serves it, which strips each line (a value's trailing blanks)."""
    out: dict[str, Value] = {}
    bad: set[str] = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        oid, kind, raw = (line.strip() if served else line).split("|", 2)
        if oid in out or oid in bad or kind == "5":
            continue
        if kind == "4":
            out[oid] = raw.encode()
        elif kind == "4x":
            try:
                out[oid] = hex_octets(raw)
            except ValueError:
                bad.add(oid)
        elif kind == "6" and "." not in raw:
            bad.add(oid)
        elif kind == "64" and not IPV4.fullmatch(raw):
            bad.add(oid)
        elif kind in ("6", "64"):
            out[oid] = raw
        else:
            out[oid] = int(raw)
    return out, bad


def text(name: str, oid: str) -> str | None:
    v = snmprec(name).get(oid)
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v if v is None else str(v)


@cache
def column(name: str, oid: str) -> dict[str, Value]:
    """One walked column: ``index -> value`` (cached: do not modify it)."""
    pre = oid + "."
    return {o[len(pre) :]: v for o, v in snmprec(name).items() if o.startswith(pre)}
