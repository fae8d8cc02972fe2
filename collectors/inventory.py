"""CSV inventories: thousands of devices of one network, one row each.

A header row is required.  Columns: ``id`` and ``host`` (required),
``groups`` (``;``-separated), ``enabled`` (true/false), ``protocol`` (the
driver that reads the device, see :mod:`collectors.config`), ``tag:<name>`` (a tag),
``<protocol>.<option>`` (one option of an installed driver, e.g.
``snmp.port``), and the bare short names drivers declare for their most used
options (SNMP: ``port``, ``community``).  Every problem names the CSV file
and line.

Encoding: UTF-8, with or without a byte order mark (as spreadsheets save
it); another encoding only when the network file declares it
(``inventories: [{csv: old.csv, encoding: latin-1}]``).  A file that does
not decode is refused, naming the line and byte offset of the first bad byte.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bus.configfile import decode_text
from collectors.registry import DriverRegistry

_FIXED = ("id", "host", "groups", "enabled", "protocol")


def _column_map(
    header: list[str], registry: DriverRegistry
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """CSV column -> (protocol, option) for option columns; unknown columns."""
    aliases = {
        col: (name, opt)
        for name in registry.names()
        for col, opt in registry.get(name).csv_columns.items()
    }
    mapping: dict[str, tuple[str, str]] = {}
    unknown: list[str] = []
    for h in header:
        if h in _FIXED or h.startswith("tag:"):
            continue
        proto, dot, opt = h.partition(".")
        if dot and proto in registry and opt in registry.get(proto).Overrides.model_fields:
            mapping[h] = (proto, opt)
        elif h in aliases:
            mapping[h] = aliases[h]
        else:
            unknown.append(h)
    return mapping, unknown


def read_csv(
    path: Path,
    where: str,
    model: type[BaseModel],
    registry: DriverRegistry,
    encoding: str | None = None,
) -> tuple[list[tuple[Any, tuple[str, int]]], list[str]]:
    """Device entries (validated with ``model``) from ``path``, each with its
    (file, line); problems with file:line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [f"{where}: inventories: cannot read {path}: {exc.strerror}"]
    try:
        text = decode_text(data, str(path), encoding)
    except ValueError as exc:
        return [], [str(exc)]
    try:
        return _rows(path, csv.DictReader(io.StringIO(text, newline="")), model, registry)
    except csv.Error as exc:
        return [], [f"{path}: not a readable CSV file: {exc}"]


def _rows(
    path: Path, reader: csv.DictReader[str], model: type[BaseModel], registry: DriverRegistry
) -> tuple[list[tuple[Any, tuple[str, int]]], list[str]]:
    entries: list[tuple[Any, tuple[str, int]]] = []
    problems: list[str] = []
    where = str(path)
    header = list(reader.fieldnames or [])
    missing = {"id", "host"} - set(header)
    if missing:
        return [], [f"{path}:1: header lacks column(s) {', '.join(sorted(missing))}"]
    options, unknown = _column_map(header, registry)
    if unknown:
        return [], [
            f"{path}:1: unknown column(s) {', '.join(unknown)} (known: id, host, groups, "
            "enabled, protocol, tag:<name>, <protocol>.<option>, "
            + ", ".join(sorted({c for n in registry.names() for c in registry.get(n).csv_columns}))
            + ")"
        ]
    lineno = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"{path}:{reader.line_num}: not readable as CSV: {exc}")
            break
        lineno = reader.line_num
        raw: dict[str, Any] = {"id": row.get("id") or "", "host": row.get("host") or ""}
        if None in row:  # DictReader's place for fields past the header's
            problems.append(
                f"{path}:{lineno} (device {raw['id']!r}): {len(header) + len(row[None])} "  # type: ignore[index]
                f"fields, the header has {len(header)} (a ',' in a value must be quoted)"
            )
            continue
        for col, (proto, opt) in options.items():
            if row.get(col):
                raw.setdefault(proto, {})[opt] = row[col]
        if row.get("groups"):
            raw["groups"] = [g for g in row["groups"].split(";") if g]
        if row.get("enabled"):
            raw["enabled"] = row["enabled"]
        if row.get("protocol"):
            if row["protocol"] not in registry:
                problems.append(
                    f"{path}:{lineno} (device {raw['id']!r}): protocol: unknown protocol "
                    f"{row['protocol']!r}; installed: {', '.join(registry.names())}"
                )
                continue
            raw["protocol"] = row["protocol"]
        tags = {
            h[4:]: v for h, v in row.items() if isinstance(h, str) and h.startswith("tag:") and v
        }
        if tags:
            raw["tags"] = tags
        try:
            entries.append((model.model_validate(raw), (where, lineno)))
        except ValidationError as exc:
            label = f"{path}:{lineno} (device {raw['id']!r})"
            problems += [
                f"{label}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            ]
    return entries, problems
