"""Fill the shared field pipeline from a NETCONF ``<data>`` element.

:meth:`collectors.profiles.compiled.CompiledDataset.build` works on "source
key -> {row index -> raw value}" mappings; this module fills exactly those
from XML, so types, scale, enums, ``expr``, ``absent``, ``where``,
``first_of`` and joins are the same code SNMP uses.  A table's rows are the
elements its ``rows`` XPath selects from ``<data>``; a row's index is the
text of its ``key`` paths joined with ``|`` (no key: its position, from 1).
A value is the stripped text of the first element a path selects (or the
string an XPath function returns); an element a path does not find is no
value.  Element names carry no namespace (see :mod:`collectors.netconf.xml`),
so paths are plain local names.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

from bus.records import Provenance, Record
from collectors import __version__
from collectors.driver import records_from_rows
from collectors.profiles import Profile, ProfileSet
from collectors.profiles.compiled import Columns, CompiledDataset
from collectors.profiles.fields import XmlSource
from collectors.values import Value

SHIPPED = Path(__file__).parent / "profiles"


def load_netconf_profiles(site_folders: list[Path] | None = None) -> ProfileSet:
    """The shipped NETCONF profiles plus the ``protocol: netconf`` ones of the site
    folders; raises :class:`~collectors.profiles.ProfileError` naming each problem
    (schema, record contract, extends).  No fallback: a server no profile fits has none."""
    return ProfileSet(
        [f for f in site_folders or [] if f.is_dir()],
        protocol="netconf",
        shipped=SHIPPED,
        fallback=None,
    )


def check(profile_dirs: list[Path]) -> list[str]:
    """Problems with the NETCONF profiles, for ``netfeed validate`` (the driver's
    ``check`` once the NETCONF driver is registered)."""
    from collectors.profiles import ProfileError

    try:
        load_netconf_profiles(profile_dirs)
    except ProfileError as exc:
        return exc.problems
    return []


@lru_cache(maxsize=4096)
def _xp(path: str) -> etree.XPath:
    return etree.XPath(path)


def _value(node: etree._Element, path: str) -> str | None:
    got = _xp(path)(node)
    if isinstance(got, list):
        if not got:
            return None
        first = got[0]
        if isinstance(first, etree._Element):
            return (first.text or "").strip()
        return str(first).strip()
    if isinstance(got, bool):
        return "true" if got else "false"
    if isinstance(got, float):
        return str(int(got)) if got.is_integer() else str(got)
    text = str(got).strip()
    return text or None  # string() of nothing is "": no value


def _index(el: etree._Element, key: tuple[str, ...], pos: int) -> str | None:
    if not key:
        return str(pos)
    parts = [_value(el, k) for k in key]
    if any(p is None or p == "" for p in parts):
        return None
    return "|".join(p for p in parts if p is not None)


def fill(cds: CompiledDataset, data: etree._Element) -> tuple[Columns, dict[str, Value], int]:
    """The columns and scalars ``cds`` reads, from one ``<data>`` element, and the
    number of values read."""
    columns: Columns = {}
    scalars: dict[str, Value] = {}
    lists: dict[tuple[str, tuple[str, ...]], list[tuple[str, etree._Element]]] = {}
    count = 0

    def entries(rows: str, key: tuple[str, ...]) -> list[tuple[str, etree._Element]]:
        got = lists.get((rows, key))
        if got is None:
            got = []
            seen: set[str] = set()
            for pos, el in enumerate(
                (e for e in _xp(rows)(data) if isinstance(e, etree._Element)), 1
            ):
                idx = _index(el, key, pos)
                if idx is None or idx in seen:  # keyless or duplicate entry: the first wins
                    continue
                seen.add(idx)
                got.append((idx, el))
            lists[(rows, key)] = got
        return got

    done: set[str] = set()
    for table in cds.tables:
        for f in table.fields:
            for src in f.xml:
                sk = src.source_key
                if sk in done:
                    continue
                done.add(sk)
                count += _read(src, data, entries, columns, scalars)
    return columns, scalars, count


def _read(src: XmlSource, data, entries, columns: Columns, scalars: dict[str, Value]) -> int:  # type: ignore[no-untyped-def]
    sk = src.source_key
    if src.rows is None:
        v = _value(data, src.path)
        if v is None:
            return 0
        scalars[sk] = v
        return 1
    col: dict[str, Value] = {}
    for idx, el in entries(src.rows, src.key):
        v = _value(el, src.path)
        if v is None:
            continue
        if src.sum_over:
            idx = "|".join(idx.split("|")[: -src.sum_over])
            col[idx] = _add(col[idx], v) if idx in col else v
        else:
            col[idx] = v
    if col:
        columns[sk] = col
    return len(col)


def _add(have: Value, v: str) -> Value:
    """Two raw texts of a summed column: their sum when both are integers, else
    the first one."""
    try:
        return str(int(str(have)) + int(v))
    except ValueError:
        return have


def build_records(
    profile: Profile,
    dataset: str,
    data: etree._Element,
    *,
    network: str,
    device: str,
    cycle_id: str = "",
    scheduled_unix_ms: int = 0,
    request_unix_ms: int = 0,
    response_unix_ms: int = 0,
    device_tags: dict[str, str] | None = None,
) -> tuple[list[Record], int]:
    """Records of ``dataset`` from a ``<data>`` element through ``profile``
    (none when the profile has no such dataset), and the values read."""
    cds = profile.datasets.get(dataset)
    if cds is None:
        return [], 0
    columns, scalars, count = fill(cds, data)
    if not count:  # nothing of this dataset in the reply: no records (not constants only)
        return [], 0
    prov = Provenance(protocol="netconf", collector_version=__version__, sources=list(cds.oids))
    out = records_from_rows(
        cds.build(columns, scalars),
        missing=[],
        device_tags=device_tags or {},
        network=network,
        device=device,
        profile=profile.name,
        dataset=dataset,
        cycle_id=cycle_id,
        scheduled_unix_ms=scheduled_unix_ms,
        request_unix_ms=request_unix_ms,
        response_unix_ms=response_unix_ms,
        device_uptime_ms=None,
        provenance=prov,
    )
    return out, count
