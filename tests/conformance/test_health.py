"""``health`` against LibreNMS ``processors`` and ``mempools``.

Rows are matched by the OID each side read: LibreNMS's ``processor_oid`` and
``mempool_used_oid`` (or ``mempool_perc_oid`` where it read a percentage) are
our ``source_oid``.  Tolerances: CPU load and byte counts exact (both sides read
the same integers; bytes derived from a percentage round the same way);
``memory_util_pct`` within 1, as LibreNMS stores it rounded.

LibreNMS's HOST-RESOURCES memory differs from the device's figures in two
documented ways (:func:`librenms_view`).  Every row we publish that LibreNMS
does not is explained by a rule of ``EXTRA`` (keyed by the MIB object read, not
by recording), and every row reads an object the recording has.  Where
LibreNMS has no ``processors`` / ``mempools`` result at all, nothing is
compared with it ("an absent module is not compared").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from bus.records import Record
from collectors.driver import PollOutcome
from tests.conformance.conftest import covered
from tests.conformance.snmprec import snmprec, text
from tests.conformance.tally import ROW, Tally
from tests.support.librenms import librenms_json, recording_names

CPM_CPU_TOTAL = "1.3.6.1.4.1.9.9.109.1.1.1.1.8."  # cpmCPUTotal5minRev
CPM_CORE = ".1.3.6.1.4.1.9.9.109.1.1.2.1.5."  # cpmCore5min
HR_PROCESSOR_LOAD = "1.3.6.1.2.1.25.3.3.1.2."
HR_DEVICE_DESCR = "1.3.6.1.2.1.25.3.2.1.3"
UCD_MEMORY = "1.3.6.1.4.1.2021.4."

# source_oid prefix -> (why LibreNMS does not list such a row of ours, when it applies)
EXTRA: dict[str, tuple[str, Callable[[str, Record], bool]]] = {
    CPM_CPU_TOTAL: (
        "cpmCPUTotal5minRev per CPU: LibreNMS lists only the cores when the core table exists",
        lambda rec, _r: any(
            p["processor_oid"].startswith(CPM_CORE) for p in librenms(rec, "processors")
        ),
    ),
    UCD_MEMORY: (
        "UCD-SNMP-MIB real memory: LibreNMS reads it only where HOST-RESOURCES has no "
        "RAM row; we publish both",
        lambda rec, _r: any(p["mempool_type"] == "hrstorage" for p in librenms(rec, "mempools")),
    ),
    "": (
        "a memory pool of size 0 (e.g. CISCO-ENHANCED-MEMPOOL 'reserved'): LibreNMS skips it",
        lambda _rec, r: r.fields.get("memory_total_octets") == 0,
    ),
}


def librenms(recording: str, module: str) -> list[dict[str, Any]]:
    return list(librenms_json(recording).get(module, {}).get("discovery", {}).get(module, []))


def mempool_source(p: dict[str, Any]) -> str:
    """The OID LibreNMS read a pool from: used, else percentage, else free (UCD)."""
    return (
        oid(p["mempool_used_oid"]) or oid(p["mempool_perc_oid"]) or oid(p["mempool_free_oid"]) or ""
    )


def has_module(recording: str, module: str) -> bool:
    return bool(librenms_json(recording).get(module))


def oid(s: str | None) -> str | None:
    return s.lstrip(".") if s else None


def words(s: str | None) -> str:
    return re.sub(r"\s+", " ", (s or "").lower()).strip()


def librenms_view(
    pools: list[dict[str, Any]], ours: dict[str, Record]
) -> dict[str, dict[str, int]]:
    """What LibreNMS would show for each of our memory rows, from our own values.

    For HOST-RESOURCES memory LibreNMS (a) counts the system RAM row as used
    minus the buffers and cached rows (unless that is negative), and (b) gives
    the buffers, cached and shared rows the system RAM total; both only where it
    has a buffers and a cached row.  Other pools are shown as the device says.
    """
    view: dict[str, dict[str, int]] = {}
    for src, r in ours.items():
        f: dict[str, Any] = r.fields
        if "memory_total_octets" in f:
            view[src] = {k: int(f[k]) for k in ("memory_used_octets", "memory_total_octets")}
    hr = [p for p in pools if p["mempool_type"] == "hrstorage"]
    system = [oid(p["mempool_used_oid"]) for p in hr if p["mempool_class"] == "system"]
    cache = [oid(p["mempool_used_oid"]) for p in hr if p["mempool_class"] in ("buffers", "cached")]
    shared = [
        oid(p["mempool_used_oid"])
        for p in hr
        if p["mempool_class"] in ("buffers", "cached", "shared")
    ]
    if not {"buffers", "cached"} <= {p["mempool_class"] for p in hr}:
        return view  # both corrections need a buffers and a cached row (PAN-OS has neither)
    for s in system:
        if s in view:
            total = view[s]["memory_total_octets"]
            used = view[s]["memory_used_octets"] - sum(
                view[c]["memory_used_octets"] for c in cache if c in view
            )
            if used >= 0:  # never below 0 (ArubaOS-CX: RAM used excludes the page cache)
                view[s]["memory_used_octets"] = used
            for c in shared:
                if c in view:
                    view[c]["memory_total_octets"] = total
    return view


def cpu_name_of_the_recording(r: Record) -> str | None:
    """HOST-RESOURCES CPU names: LibreNMS shortens hrDeviceDescr (drops the vendor,
    '(R)' and 'CPU'), so ours is compared with the recording's hrDeviceDescr."""
    src = str(r.fields["source_oid"])
    if not src.startswith(HR_PROCESSOR_LOAD):
        return None
    return text(r.device, f"{HR_DEVICE_DESCR}.{src[len(HR_PROCESSOR_LOAD) :]}")


PROCESSOR_FIELDS = ["cpu_util_pct", "component_index", "component"]
MEMPOOL_FIELDS = ["component_index", "used", "total", "free", "percent", "component"]


def _records(tally: Tally, out: PollOutcome, kind: str) -> dict[str, Record] | None:
    if not tally.expect(out.status == "ok", "(poll)", "status", out.error, "ok"):
        return None
    records = [r for r in out.records if r.tags["component_kind"] == kind]
    got = {str(r.fields["source_oid"]): r for r in records}
    tally.expect(len(got) == len(records), kind, "two health records read the same OID")
    return got


def compare_processors(out: PollOutcome, recording: str) -> Tally:
    tally = Tally(recording, "processors")
    ours = _records(tally, out, "cpu")
    if ours is None:
        return tally
    theirs = librenms(recording, "processors")
    if not has_module(recording, "processors"):
        tally.skip("LibreNMS has no processors result")
    for p in theirs:
        src = oid(p["processor_oid"]) or ""
        r = ours.get(src)
        if r is None:
            tally.missing(src, PROCESSOR_FIELDS)
            continue
        usage = r.fields.get("cpu_util_pct")
        tally.check(usage == p["processor_usage"], src, "cpu_util_pct", usage, p["processor_usage"])
        index = r.tags["component_index"]
        tally.check(
            index == p["processor_index"], src, "component_index", index, p["processor_index"]
        )
        name = r.tags.get("component")
        if name is not None:
            hr_name = cpu_name_of_the_recording(r)
            if hr_name is not None:
                tally.expect(name == hr_name, src, "component (hrDeviceDescr)", name, hr_name)
            else:
                ok = words(name) in words(p["processor_descr"])
                tally.check(ok, src, "component", name, p["processor_descr"])
            tally.expect(
                r.fields["description"] == name, src, "description", r.fields["description"], name
            )
    if has_module(recording, "processors"):
        matched = {oid(p["processor_oid"]) for p in theirs}
        extras_explained(tally, recording, [ours[s] for s in set(ours) - matched])
    return tally


@pytest.mark.parametrize("recording", recording_names())
def test_processors_equal_librenms(collected: Any, recording: str) -> None:
    compare_processors(collected[recording]["health"], recording).assert_clean()
    covered("health", "component_kind", "component_index", "component", "description")
    covered("health", "cpu_util_pct", "source_oid")


def compare_mempools(out: PollOutcome, recording: str) -> Tally:
    tally = Tally(recording, "memory pools")
    ours = _records(tally, out, "memory")
    if ours is None:
        return tally
    theirs = librenms(recording, "mempools")
    if not has_module(recording, "mempools"):
        tally.skip("LibreNMS has no mempools result")
    view = librenms_view(theirs, ours)
    matched = set()
    for p in theirs:
        src = mempool_source(p)
        r = ours.get(src)
        if r is None:
            tally.missing(src, MEMPOOL_FIELDS, {"component": p["mempool_descr"]})
            continue
        matched.add(src)
        f: dict[str, Any] = r.fields
        index = r.tags["component_index"]
        tally.check(index == p["mempool_index"], src, "component_index", index, p["mempool_index"])
        v = view.get(src)
        if v is None and p["mempool_perc_oid"] and not p["mempool_used_oid"]:
            # LibreNMS read only a percentage and shows it as a pool of 100 "bytes";
            # the device gave no size (we publish no octets): the percentage is all
            # there is to compare
            pct = f.get("memory_util_pct")
            ok = pct is not None and abs(pct - p["mempool_perc"]) <= 1
            tally.check(ok, src, "percent", pct, p["mempool_perc"])
        elif v is None:  # no sizes published
            tally.missing(src, ["used", "total", "free", "percent"], {"total": p["mempool_total"]})
        else:
            used, total = v["memory_used_octets"], v["memory_total_octets"]
            tally.check(used == p["mempool_used"], src, "used", used, p["mempool_used"])
            tally.check(total == p["mempool_total"], src, "total", total, p["mempool_total"])
            free = total - used
            tally.check(free == p["mempool_free"], src, "free", free, p["mempool_free"])
            pct = 100 * used / total if total else None
            ok = pct is not None and abs(pct - p["mempool_perc"]) <= 1
            tally.check(ok, src, "percent", pct, p["mempool_perc"])
            free_f = f["memory_total_octets"] - f["memory_used_octets"]
            tally.expect(f.get("memory_free_octets") == free_f, src, "memory_free_octets")
            pct_f = (
                100 * f["memory_used_octets"] / f["memory_total_octets"]
                if f["memory_total_octets"]
                else None
            )
            ok = pct_f is not None and abs(f.get("memory_util_pct", -1) - pct_f) <= 0.01
            tally.expect(ok, src, "memory_util_pct", f.get("memory_util_pct"), pct_f)
        names = [n for n in (r.tags.get("component"), f.get("description")) if n is not None]
        if names:
            ok = all(words(n) in words(p["mempool_descr"]) for n in names)
            tally.check(ok, src, "component", names, p["mempool_descr"])
    if has_module(recording, "mempools"):
        extras_explained(tally, recording, [ours[s] for s in set(ours) - matched])
    return tally


@pytest.mark.parametrize("recording", recording_names())
def test_mempools_equal_librenms(collected: Any, recording: str) -> None:
    compare_mempools(collected[recording]["health"], recording).assert_clean()
    covered("health", "memory_used_octets", "memory_free_octets", "memory_total_octets")
    covered("health", "memory_util_pct")


def extras_explained(tally: Tally, recording: str, extra: list[Record]) -> None:
    """Rows we publish that LibreNMS does not: each explained by a rule of ``EXTRA``."""
    for r in extra:
        src = str(r.fields["source_oid"])
        ok = any(
            src.startswith(prefix) and applies(recording, r)
            for prefix, (_why, applies) in EXTRA.items()
        )
        tally.check(ok, src, ROW, r.tags.get("component"), "published but not in LibreNMS")


@pytest.mark.parametrize("recording", recording_names())
def test_health_rows_read_the_recording(collected: Any, recording: str) -> None:
    """Every row reads an object the recording has (nothing is made up where
    LibreNMS has no result to compare with), once."""
    raw = snmprec(recording)
    records = collected[recording]["health"].records
    for r in records:
        assert str(r.fields["source_oid"]) in raw, (recording, r.fields["source_oid"])
    ids = [tuple(sorted(r.tags.items())) for r in records]
    assert len(ids) == len(set(ids)), (recording, "two health records with one identity")
