"""Raw values of the shared recordings (``snmprec-sanitized``), as the SNMP
client returns them: for asserting what a device said, independently of
LibreNMS's reading of it."""

from __future__ import annotations

from functools import lru_cache

from collectors.snmp.base import Value
from tests.support.librenms import LIBRENMS


@lru_cache(maxsize=16)
def snmprec(name: str) -> dict[str, Value]:
    """``OID -> value``: int for numbers, bytes for OCTET STRING, str for OIDs/IpAddress."""
    out: dict[str, Value] = {}
    path = LIBRENMS / "snmprec-sanitized" / f"{name}.snmprec"
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        oid, kind, raw = line.split("|", 2)
        if kind == "4":
            out[oid] = raw.encode()
        elif kind == "4x":
            out[oid] = bytes.fromhex(raw)
        elif kind in ("6", "64"):
            out[oid] = raw
        else:
            out[oid] = int(raw)
    return out


def text(name: str, oid: str) -> str | None:
    v = snmprec(name).get(oid)
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v if v is None else str(v)


def column(name: str, oid: str) -> dict[str, Value]:
    """One walked column: ``index -> value``."""
    pre = oid + "."
    return {o[len(pre) :]: v for o, v in snmprec(name).items() if o.startswith(pre)}
