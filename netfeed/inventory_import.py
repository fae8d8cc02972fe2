"""``netfeed inventory import``: a network's inventory CSV from another tool's export.

``--format netfeed`` takes a CSV already in netfeed's columns (see
:mod:`collectors.inventory`) and only checks it; ``--format netbox`` maps the
CSV that NetBox writes for *Devices > Export > All data (CSV)* (column
labels as shown in the table; the REST/API field names are accepted too,
case does not matter):

=====================================  =====================================
NetBox column                          netfeed inventory column
=====================================  =====================================
Name (``name``)                        ``id``
Primary IPv4 / Primary IP              ``host`` (the ``/prefix`` dropped;
(``primary_ip4``, ``primary_ip``)      IPv4 first, then Primary IP, then IPv6)
Primary IPv6 (``primary_ip6``)         ``host`` when there is no IPv4
Role / Device role (``role``)          ``groups`` (slugified) and ``tag:role``
Site (``site``)                        ``tag:site``
Platform (``platform``)                ``tag:platform``
Manufacturer (``manufacturer``)        ``tag:vendor``
Tenant (``tenant``)                    ``tag:tenant``
Status (``status``)                    ``enabled``: ``true`` for Active only
=====================================  =====================================

A device without a name or a primary IP cannot be polled: it is left out
and reported with its line.  ``--protocol`` fills the ``protocol`` column.
Role slugs become group names: define those groups in the network file
(``groups: {core-router: {...}}``) or drop the column; ``netfeed validate``
names any group a device uses that the file does not define.
The written inventory is then checked with the loader's own code (each row
against the device model of the installed drivers, duplicate ids), every
problem naming file and line; the exit code is 1 when there is any.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bus.configfile import decode_text

# netfeed column -> NetBox columns, first non-empty wins (lower-cased)
NETBOX: dict[str, tuple[str, ...]] = {
    "id": ("name",),
    "host": (
        "primary ipv4",
        "primary_ip4",
        "primary ip",
        "primary_ip",
        "primary ipv6",
        "primary_ip6",
    ),
    "role": ("role", "device role", "device_role"),
    "site": ("site",),
    "platform": ("platform",),
    "vendor": ("manufacturer",),
    "tenant": ("tenant",),
    "status": ("status",),
}
TAGS = ("role", "site", "platform", "vendor", "tenant")


class ImportProblems(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.strip().lower()).strip("-")


def _read(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportProblems([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = decode_text(data, str(path), None)
    except ValueError as exc:
        raise ImportProblems([str(exc)]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            rows.append(
                (
                    reader.line_num,
                    {(k or "").strip().lower(): (v or "") for k, v in row.items() if k is not None},
                )
            )
    except csv.Error as exc:
        raise ImportProblems([f"{path}:{reader.line_num}: not readable as CSV: {exc}"]) from None
    return [h.strip().lower() for h in reader.fieldnames or []], rows


def from_netbox(path: Path, protocol: str | None) -> tuple[list[dict[str, str]], list[str]]:
    """Inventory rows from a NetBox device export; problems (rows left out)."""
    header, rows = _read(path)
    if not any(c in header for c in NETBOX["id"]) or not any(c in header for c in NETBOX["host"]):
        raise ImportProblems(
            [
                f"{path}:1: not a NetBox device export: needs a Name column and a Primary "
                f"IPv4 / Primary IP column (found: {', '.join(header) or 'none'})"
            ]
        )
    out: list[dict[str, str]] = []
    problems: list[str] = []
    for line, row in rows:
        got = {
            k: next((row[c].strip() for c in cols if row.get(c, "").strip()), "")
            for k, cols in NETBOX.items()
        }
        if not got["id"]:
            problems.append(f"{path}:{line}: no Name: left out")
            continue
        if not got["host"]:
            problems.append(f"{path}:{line} (device {got['id']!r}): no primary IP: left out")
            continue
        inv = {"id": got["id"], "host": got["host"].split("/", 1)[0]}
        if got["role"]:
            inv["groups"] = _slug(got["role"])
        if got["status"]:
            inv["enabled"] = "true" if got["status"].strip().lower() == "active" else "false"
        if protocol:
            inv["protocol"] = protocol
        for t in TAGS:
            if got[t]:
                inv[f"tag:{t}"] = got[t]
        out.append(inv)
    return out, problems


def from_netfeed(path: Path, protocol: str | None) -> tuple[list[dict[str, str]], list[str]]:
    _header, rows = _read(path)
    out = [{k: v for k, v in row.items() if v != ""} for _line, row in rows]
    if protocol:
        for r in out:
            r.setdefault("protocol", protocol)
    return out, []


def write(rows: list[dict[str, str]], out: TextIO) -> None:
    columns = ["id", "host"]
    for r in rows:
        columns += [c for c in r if c not in columns]
    w = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)


def check(path: Path, shown_as: str) -> list[str]:
    """The loader's checks of an inventory file: every row against the device
    model of the installed drivers, and ids unique; problems name ``shown_as``."""
    from collectors.config import file_models
    from collectors.inventory import read_csv
    from collectors.registry import load_drivers

    registry = load_drivers()
    _group, device_model, _net = file_models(registry)
    entries, problems = read_csv(path, shown_as, device_model, registry)
    first: dict[str, int] = {}
    for entry, (_file, line) in entries:
        if entry.id in first:
            problems.append(
                f"{shown_as}:{line} (device {entry.id!r}): duplicate id, "
                f"first on line {first[entry.id]}"
            )
        else:
            first[entry.id] = line
    return [p.replace(str(path), shown_as) for p in problems]


def run(source: Path, fmt: str, output: Path | None, protocol: str | None) -> int:
    """Convert, write, check; print problems to stderr.  Exit code 0 or 1."""
    try:
        rows, problems = (from_netbox if fmt == "netbox" else from_netfeed)(source, protocol)
    except ImportProblems as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 1
    if output is not None:
        with output.open("w", encoding="utf-8", newline="") as f:
            write(rows, f)
        problems += check(output, str(output))
    else:
        buf = io.StringIO()
        write(rows, buf)
        sys.stdout.write(buf.getvalue())
        with tempfile.TemporaryDirectory() as tmp:
            written = Path(tmp) / "inventory.csv"
            written.write_text(buf.getvalue(), encoding="utf-8")
            problems += check(written, "<stdout>")
    for p in problems:
        print(p, file=sys.stderr)
    print(
        f"{len(rows)} device(s) written{' to ' + str(output) if output else ''}, "
        f"{len(problems)} problem(s)",
        file=sys.stderr,
    )
    return 1 if problems else 0
