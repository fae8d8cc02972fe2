"""``health`` against LibreNMS ``processors`` and ``mempools``.

Rows are matched by the OID each side read: LibreNMS's ``processor_oid`` and
``mempool_used_oid`` (or ``mempool_perc_oid`` where it read a percentage) are
our ``source_oid``.  Tolerances: CPU load and byte counts exact (both sides read
the same integers; bytes derived from a percentage round the same way);
``memory_util_pct`` within 1, as LibreNMS stores it rounded.

LibreNMS's HOST-RESOURCES memory differs from the device's figures in two
documented ways (:func:`librenms_view`); every row we publish that LibreNMS
does not is listed in ``EXTRA`` with the reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bus.records import Record
from tests.conformance.conftest import covered
from tests.support.librenms import LIBRENMS, recording_names

# Every LibreNMS processor and mempool is reproduced (share of its rows we match).
MIN_SHARE = 1.0

# (recording, source_oid prefix) -> why we publish rows LibreNMS does not.
EXTRA = {
    ("iosxe_c9400", "1.3.6.1.4.1.9.9.109.1.1.1.1.8."): (
        "cpmCPUTotal5minRev per CPU: LibreNMS lists only the cores when the core table exists"
    ),
}

# Recordings whose device names LibreNMS rewrites for processors (so names are not compared).
CPU_NAMES_REWRITTEN = {
    "linux_powermon": "LibreNMS shortens hrDeviceDescr (drops the vendor, '(R)' and 'CPU')",
}


def librenms(recording: str, module: str) -> list[dict[str, Any]]:
    data = json.loads((LIBRENMS / "json" / f"{recording}.json").read_text())
    return list(data.get(module, {}).get("discovery", {}).get(module, []))


def oid(s: str | None) -> str | None:
    return s.lstrip(".") if s else None


def words(s: str | None) -> str:
    return re.sub(r"\s+", " ", (s or "").lower()).strip()


def by_source(records: list[Record]) -> dict[str, Record]:
    out = {str(r.fields["source_oid"]): r for r in records}
    assert len(out) == len(records), "two health records read the same OID"
    return out


def librenms_view(
    pools: list[dict[str, Any]], ours: dict[str, Record]
) -> dict[str, dict[str, int]]:
    """What LibreNMS would show for each of our memory rows, from our own values.

    For HOST-RESOURCES memory LibreNMS (a) counts the system RAM row as used
    minus the buffers and cached rows, and (b) gives the buffers, cached and
    shared rows the system RAM total.  Other pools are shown as the device says.
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
    for s in system:
        if s in view:
            total = view[s]["memory_total_octets"]
            view[s]["memory_used_octets"] -= sum(
                view[c]["memory_used_octets"] for c in cache if c in view
            )
            for c in shared:
                if c in view:
                    view[c]["memory_total_octets"] = total
    return view


@pytest.mark.parametrize("recording", recording_names())
def test_processors_equal_librenms(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    out = collected[recording]["health"]
    assert out.status == "ok", out.error
    ours = by_source([r for r in out.records if r.tags["component_kind"] == "cpu"])
    theirs = librenms(recording, "processors")
    for p in theirs:
        r = ours.get(oid(p["processor_oid"]) or "")
        assert r is not None, (recording, p["processor_oid"], "not collected")
        assert r.fields["cpu_util_pct"] == p["processor_usage"], (recording, p["processor_oid"])
        assert r.tags["component_index"] == p["processor_index"], (recording, p["processor_oid"])
        name = r.tags.get("component")
        if name is not None and recording not in CPU_NAMES_REWRITTEN:
            assert words(name) in words(p["processor_descr"]), (
                recording,
                name,
                p["processor_descr"],
            )
            assert r.fields["description"] == name
    matched = {oid(p["processor_oid"]) for p in theirs}
    assert_extras_explained(recording, set(ours) - matched)
    covered("health", "component_kind", "component_index", "component", "description")
    covered("health", "cpu_util_pct", "source_oid")


@pytest.mark.parametrize("recording", recording_names())
def test_mempools_equal_librenms(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    out = collected[recording]["health"]
    assert out.status == "ok", out.error
    ours = by_source([r for r in out.records if r.tags["component_kind"] == "memory"])
    theirs = librenms(recording, "mempools")
    view = librenms_view(theirs, ours)
    matched = set()
    for p in theirs:
        src = oid(p["mempool_used_oid"]) or oid(p["mempool_perc_oid"]) or ""
        r = ours.get(src)
        assert r is not None, (recording, src, p["mempool_descr"], "not collected")
        matched.add(src)
        f: dict[str, Any] = r.fields
        assert r.tags["component_index"] == p["mempool_index"], (recording, src)
        assert view[src]["memory_used_octets"] == p["mempool_used"], (recording, src)
        assert view[src]["memory_total_octets"] == p["mempool_total"], (recording, src)
        free = view[src]["memory_total_octets"] - view[src]["memory_used_octets"]
        assert free == p["mempool_free"], (recording, src)
        assert f["memory_free_octets"] == f["memory_total_octets"] - f["memory_used_octets"]
        pct = 100 * view[src]["memory_used_octets"] / view[src]["memory_total_octets"]
        assert abs(pct - p["mempool_perc"]) <= 1, (recording, src, pct, p["mempool_perc"])
        assert (
            abs(f["memory_util_pct"] - 100 * f["memory_used_octets"] / f["memory_total_octets"])
            <= 0.01
        )
        for text in (r.tags.get("component"), f.get("description")):
            if text is not None:
                assert words(text) in words(p["mempool_descr"]), (
                    recording,
                    text,
                    p["mempool_descr"],
                )
    assert_extras_explained(recording, set(ours) - matched)
    covered("health", "memory_used_octets", "memory_free_octets", "memory_total_octets")
    covered("health", "memory_util_pct")


def assert_extras_explained(recording: str, extra: set[str]) -> None:
    unexplained = [
        s for s in extra if not any(r == recording and s.startswith(p) for r, p in EXTRA)
    ]
    assert not unexplained, (recording, "published but not in LibreNMS, unexplained", unexplained)


def test_librenms_share_and_silent_recordings(collected) -> None:  # type: ignore[no-untyped-def]
    """Every recording: the share of LibreNMS's rows we reproduce, and no rows
    where LibreNMS has none only because the recording has none."""
    for name in recording_names():
        ours = {str(r.fields["source_oid"]) for r in collected[name]["health"].records}
        theirs = [oid(p["processor_oid"]) for p in librenms(name, "processors")]
        theirs += [
            oid(p["mempool_used_oid"]) or oid(p["mempool_perc_oid"])
            for p in librenms(name, "mempools")
        ]
        if not theirs:
            # timos, nxos: the recordings hold no CPU or memory objects at all
            assert not ours, (name, "health records where the recording has no health data")
            continue
        share = sum(t in ours for t in theirs) / len(theirs)
        assert share >= MIN_SHARE, (name, share)
