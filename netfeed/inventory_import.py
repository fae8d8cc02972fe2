"""``netfeed inventory import``: a network's inventory CSV from another tool's export.

``--format netbox`` maps the CSV NetBox writes for *Devices > Export > All
data (CSV)*; ``--format netfeed`` takes a CSV already in netfeed's columns
(:mod:`collectors.inventory`), fills ``protocol`` where asked, and checks it.

NetBox CSV export mapping
-------------------------
  NetBox column: label(s) / API name          netfeed inventory column
  Name / name                                 id
  IPv4 Address, Primary IPv4 / primary_ip4    host, the /prefix length dropped;
    else IP Address, Primary IP / primary_ip    else NetBox's primary IP,
    else IPv6 Address, Primary IPv6 / ...ip6    else the IPv6 one
  Role, Device Role / role, device_role       groups (slugified: "Core Router"
                                              -> core-router) and tag:role
  Site / site                                 tag:site
  Platform / platform                         tag:platform
  Manufacturer / manufacturer                 tag:vendor
  Tenant / tenant                             tag:tenant
  Status / status                             enabled: true for Active only
  any other column                            ignored
  Column names match in any case; an empty cell or NetBox's "—" is empty.
  A device with no name or no primary IP is left out and reported with its
  line (a warning: the exit code does not change).  Role slugs are group
  names: define them in the network file (groups: {core-router: {...}}).

Guarantees: the source is read whole before anything is written; the output
(``--output``, else stdout) is UTF-8 and replaces the file in one rename, also
when it has problems, so the lines named can be read.  It is then checked
with the loader's own code: each row against the device model of the installed
drivers and ids unique (:func:`collectors.inventory.read_csv`); with
``--network NAME`` the network file of ``--config`` is loaded with the
inventory in place (:func:`collectors.config.load_network`), so groups, ids
across the whole network and each device's protocol options are checked as
``netfeed validate`` checks them.  Every problem names the file and line;
exit 1 if there is any.  Bad input (missing or unreadable file, not UTF-8, not
CSV, a header without the needed columns, an output that cannot be written)
is one line on stderr and exit 1, never a traceback; an unknown ``--network``
or ``--protocol`` is a usage error (exit 2).  A source of ``LARGE`` rows or
more shows a progress bar on stderr when it is a terminal
(:mod:`netfeed.progress`).
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bus.configfile import decode_text
from netfeed.progress import Progress

LARGE = 10_000  # rows from which a terminal gets a progress bar
EXAMPLE = (
    "example: netfeed inventory import netbox_devices.csv --format netbox --protocol snmp "
    "--network lab-east --output configs/inventory/lab-east.csv"
)
# netfeed field -> NetBox columns (lower case), the first non-empty wins
NETBOX: dict[str, tuple[str, ...]] = {
    "id": ("name",),
    "host": (
        *("ipv4 address", "primary ipv4", "primary_ip4"),
        *("ip address", "primary ip", "primary_ip"),
        *("ipv6 address", "primary ipv6", "primary_ip6"),
    ),
    "role": ("role", "device role", "device_role"),
    "site": ("site",),
    "platform": ("platform",),
    "vendor": ("manufacturer",),
    "tenant": ("tenant",),
    "status": ("status",),
}
TAGS = ("role", "site", "platform", "vendor", "tenant")
_EMPTY = ("", "—")

Row = dict[str, str]


class ImportProblems(ValueError):
    """Input that cannot be imported at all; ``problems`` name file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def help_epilog() -> str:
    """The mapping table of this module's docstring and an example, for ``--help``."""
    doc = __doc__ or ""
    table = doc[doc.index("NetBox CSV export mapping") : doc.index("\nGuarantees")]
    return f"{table.rstrip()}\n\n{EXAMPLE}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.strip().lower()).strip("-")


def _read(
    path: Path, fold: bool, err: TextIO
) -> tuple[list[str], list[tuple[int, Row]], list[str]]:
    """Header, (line, row) pairs and problems (rows with too many fields, left
    out).  ``fold``: column names stripped and lower-cased."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportProblems([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = decode_text(data, str(path), None)
    except ValueError as exc:
        raise ImportProblems([str(exc)]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, Row]] = []
    problems: list[str] = []
    total = text.count("\n")
    try:
        header = list(reader.fieldnames or [])
        names = [h.strip().lower() for h in header] if fold else header
        with Progress("read", total if total >= LARGE else 0, stream=err) as bar:
            for row in reader:
                bar.advance()
                if None in row:
                    problems.append(
                        f"{path}:{reader.line_num}: {len(header) + len(row[None])} fields, the "  # type: ignore[index]
                        f"header has {len(header)} (a ',' in a value must be quoted): left out"
                    )
                    continue
                rows.append(
                    (reader.line_num, {n: row[h] or "" for n, h in zip(names, header, strict=True)})
                )
    except csv.Error as exc:
        raise ImportProblems([f"{path}:{reader.line_num}: not readable as CSV: {exc}"]) from None
    return names, rows, problems


def from_netbox(
    path: Path, protocol: str | None, err: TextIO
) -> tuple[list[Row], list[str], list[str]]:
    """Inventory rows from a NetBox device export; warnings (rows left out for
    want of a name or IP); problems."""
    header, rows, problems = _read(path, True, err)
    if not any(c in header for c in NETBOX["id"]) or not any(c in header for c in NETBOX["host"]):
        raise ImportProblems(
            [
                f"{path}:1: not a NetBox device export: needs a Name column and an IPv4 "
                f"Address / IP Address column (found: {', '.join(header) or 'none'})"
            ]
        )
    out: list[Row] = []
    warnings: list[str] = []
    for line, row in rows:
        got = {
            k: next((v for c in cols if (v := row.get(c, "").strip()) not in _EMPTY), "")
            for k, cols in NETBOX.items()
        }
        if not got["id"]:
            warnings.append(f"{path}:{line}: no Name: left out")
            continue
        if not got["host"]:
            warnings.append(f"{path}:{line} (device {got['id']!r}): no primary IP: left out")
            continue
        inv = {"id": got["id"], "host": got["host"].split("/", 1)[0]}
        if _slug(got["role"]):
            inv["groups"] = _slug(got["role"])
        if got["status"]:
            inv["enabled"] = "true" if got["status"].lower() == "active" else "false"
        if protocol:
            inv["protocol"] = protocol
        for t in TAGS:
            if got[t]:
                inv[f"tag:{t}"] = got[t]
        out.append(inv)
    return out, warnings, problems


def from_netfeed(
    path: Path, protocol: str | None, err: TextIO
) -> tuple[list[Row], list[str], list[str]]:
    """The rows of a netfeed inventory, ``protocol`` filled in where empty."""
    header, rows, problems = _read(path, False, err)
    missing = [c for c in ("id", "host") if c not in header]
    if missing:
        raise ImportProblems([f"{path}:1: header lacks column(s) {', '.join(missing)}"])
    out = [{k: v for k, v in row.items() if v != ""} for _line, row in rows]
    if protocol:
        for r in out:
            r.setdefault("protocol", protocol)
    return out, [], problems


def write(rows: list[Row], out: TextIO) -> None:
    """``id``, ``host``, then every other column in the order first seen."""
    columns = ["id", "host"]
    for r in rows:
        columns += [c for c in r if c not in columns]
    w = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)


def _write_file(rows: list[Row], output: Path) -> None:
    """Replace ``output`` in one rename (a reader never sees half a file)."""
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            write(rows, f)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def check(written: Path, shown_as: str, network_file: Path | None = None) -> list[str]:
    """The loader's problems with the inventory ``written`` (named ``shown_as``):
    on its own, or as part of ``network_file`` (see the module's docstring)."""
    from collectors.config import ConfigError, file_models, load_network
    from collectors.inventory import read_csv
    from collectors.registry import load_drivers

    registry = load_drivers()
    if network_file is not None:
        try:
            load_network(network_file, registry, extra_inventory=written)
            problems: list[str] = []
        except ConfigError as exc:
            problems = exc.problems
    else:
        path = written.absolute()
        entries, problems = read_csv(path, shown_as, file_models(registry)[1], registry)
        first: dict[str, int] = {}
        for entry, (_file, line) in entries:
            if entry.id in first:
                problems.append(
                    f"{path}:{line} (device {entry.id!r}): id: duplicate device id "
                    f"(first at {path}:{first[entry.id]})"
                )
            else:
                first[entry.id] = line
    return [p.replace(str(written.absolute()), shown_as) for p in problems]


def usage_problem(protocol: str | None, network: str | None, config: Path) -> str | None:
    """Why ``--protocol`` or ``--network`` names nothing installed or configured."""
    from collectors.config import network_files
    from collectors.registry import load_drivers

    names = load_drivers().names()
    if protocol is not None and protocol not in names:
        return f"--protocol {protocol}: no such protocol driver; installed: {', '.join(names)}"
    nets = [p.stem for p in network_files(config)]
    if network is not None and network not in nets:
        return (
            f"--network {network}: no file {config / 'networks' / (network + '.yaml')} "
            f"(networks there: {', '.join(nets) or 'none'})"
        )
    return None


def run(
    source: Path,
    fmt: str,
    output: Path | None,
    protocol: str | None,
    network: str | None = None,
    config: Path = Path("configs"),
    err: TextIO | None = None,
) -> int:
    """Convert, write, check; report on ``err`` (stderr).  Exit code 0, 1 or 2."""
    err = err if err is not None else sys.stderr
    why = usage_problem(protocol, network, config)
    if why:
        print(f"netfeed inventory import: {why}", file=err)
        return 2
    try:
        rows, warnings, problems = (from_netbox if fmt == "netbox" else from_netfeed)(
            source, protocol, err
        )
    except ImportProblems as exc:
        for p in exc.problems:
            print(p, file=err)
        return 1
    for w in warnings:
        print(f"warning: {w}", file=err)
    net_file = config / "networks" / f"{network}.yaml" if network else None
    large = len(rows) >= LARGE
    with tempfile.TemporaryDirectory(prefix="netfeed-import-") as tmp:
        written = output if output is not None else Path(tmp) / "inventory.csv"
        try:
            _write_file(rows, written)
        except OSError as exc:
            print(f"{written}: cannot write: {exc.strerror}", file=err)
            return 1
        if output is None:
            sys.stdout.write(written.read_text(encoding="utf-8"))
            sys.stdout.flush()
        with Progress("checking", None if large else 0, stream=err):
            problems += check(written, str(output or "<stdout>"), net_file)
    for p in problems:
        print(p, file=err)
    print(
        f"{len(rows)} device(s) written{' to ' + str(output) if output else ''}"
        + (f", {len(warnings)} left out" if warnings else "")
        + (f", checked as part of network {network}" if network else "")
        + f": {len(problems)} problem(s)",
        file=err,
    )
    return 1 if problems else 0
