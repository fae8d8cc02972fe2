"""The profile file format, checked strictly (unknown keys are errors).

A profile says, as data, how one kind of device answers: which OIDs to read
for each dataset and how to turn them into named tags and fields.  Profiles
compose with ``extends`` (bases first, in order; the profile's own entries
win, table by table and field by field).  Names starting with ``_`` are
bases: never matched to a device on their own.

A dataset is ``scalars`` (one GET, one record) and/or named ``tables`` (walked;
one record per row).  NETCONF datasets also say what to ask (``requests``: a
list of ``{rpc: <name>, args: {...}}`` (Junos-style RPC), ``{get: <subtree
filter XML>}`` or ``{xpath: <XPath filter>}``; the replies are merged under
one ``<data>``), and each table says where its rows are: ``rows`` (an XPath
from ``<data>`` to the row elements) and ``key`` (paths relative to a row whose
texts, joined with ``|``, are the row index; default: the row's position).
A table's rows are the indices of its ``rows_from`` field's column (default:
every index any of its columns returned); ``where`` conditions drop rows;
``index_tag`` names the tag that gets the row index.
Columns read at another index (``index_from``, ``subrows``) do not make rows.
A table with ``merge: true`` folds each row into the record an earlier table
of the dataset built with the same tags (its values win, field by field), and
adds the others as records: the same entity seen through two MIBs (a
standard one and a richer vendor one) is published once.

Field specs (``FieldSpec``), exactly one source each:

- ``oid``: one OID or a list tried in order (first one present wins, e.g. the
  64-bit HC counter then its 32-bit twin); with ``index_from: <field>`` the
  column is read at the index held by another field instead of the row's.
- ``chosen`` + ``values``: which ``oid`` of another field was used
  (``counter_bits: {chosen: in_octets, values: [64, 32]}``).
- ``from`` + ``regex``: first group of a regex over another (text) field.
- ``from`` + ``type: enum``: another field's text (or a regex's first group of
  it) looked up in an ``enums/`` table keyed by text, e.g. a sysObjectID in a
  table generated from the vendor's PRODUCTS MIB; not in the table: no value,
  said in ``absent``.
- ``value``: a constant.
- ``first_of``: the first of these other fields that has a value (a vendor
  column, else a standard one read at another index).
- ``expr``: arithmetic over other fields of the row (``+ - * / // % **``,
  ``min max abs round int float log10``); absent inputs, and math errors
  such as ``log10(0)``, give an absent result.
- ``index``: the row index, or part of it (``skip``/``take`` sub-ids), as
  ``dotted``, ``int``, ``ipv4``, ``inet`` (InetAddressType+length+octets),
  ``ipv6`` or ``text`` (length-prefixed octets).
- ``oid_of``: the full OID another field was read from (provenance).
- ``path`` (NETCONF profiles): one XPath or a list tried in order, relative
  to the table's row element (``rows``), or for ``scalars`` to the reply's
  ``<data>`` element.  Element names are matched by local name: the XML
  reader drops namespaces, so one path reads replies with and without
  ``xmlns`` (a profile is tied to its YANG model by ``capabilities`` and its
  request, not by prefixes).  The value is the element's text, stripped.
  With ``rows`` (+ ``key``) on the field, the path is read in *another* list
  (an XPath from ``<data>``), in the entry whose key equals this row's index
  (or the value of ``index_from``): a join by key (IOS-XR ``interfaces`` with
  ``interface-xr`` on interface-name, SR OS ``configure`` with ``state`` on
  port-id).  ``regex`` on a path field keeps its first group (no match: no
  value) before ``type`` converts it.  A joined path with ``sum_over: N``
  sums over the list's entries whose key, less its last N parts, equals the
  row's index (a per-address-family list read per peer: ``key: [vrf-name,
  neighbor-id, afi-safi]``, ``sum_over: 1``); non-numbers: the first entry's.

XML text is converted by ``type`` as: ``int``/``float`` (decimal text),
``text``, ``hex`` (a MAC or hex string, separators dropped, lowercase),
``bool`` (``true``/``false``), ``ip`` (an IPv4/IPv6 address), ``oid`` (text),
``enum`` (the ``enum`` table's entry for the text; tables in ``enums/`` may be
keyed by text); a value the conversion refuses is left out and reported.

``type`` converts ``oid`` values: ``int`` (default), ``float``, ``text``,
``hex`` (lowercase, no separators), ``oid``, ``bool`` (TruthValue 1/2),
``ip`` (IpAddress, or an InetAddress's 4 or 16 octets, as IPv4/IPv6 text),
``enum`` (then ``enum`` names a table in ``enums/``; tables may map to names
or numbers).  ``scale`` multiplies numbers (one entry, or one per ``oid``);
``regex`` on an ``oid`` field (with ``type: float`` or ``text``) reads a
DisplayString that carries a number with text around it (``"-002.7140 dBm:
Normal"``): the value as text, its first group converted by ``type``; no match
is no value, said in ``absent``.  ``nonzero`` treats 0 as absent so the next
``oid`` is tried; ``absent`` lists
other raw values that mean "no value" (sentinels such as -1, "" or +-10^9),
treated the same way: every value of the list counts, matched against the value
as sent (octets as text) and as converted, and a field left without a value by
one says so in the record's ``absent``.  An ``enum`` code the table does not
know is published as the raw number (a table of names), or is no value, said in
``absent`` (a table of numbers, e.g. a scale). ``subrows`` reads a column one
sub-id below the row (``<row>.<n>``, e.g. a threshold table under a sensor
table): it maps columns to the raw values a sub-row must have in each, in order
of preference; the most preferred matching sub-row with a present value wins,
ties to the lowest ``n``.  ``sum_over: N`` reads a column indexed by the row
index plus N more sub-ids (per address family: ``<peer>.<afi>.<safi>``) and
sums the values found (non-numbers: the lowest index's); such a column's
indices, less those N sub-ids, are rows of the table.  Fields whose name starts
with ``_`` are working values: usable by ``expr``, ``where`` and
``index_from``, never published.
"""

from __future__ import annotations

import re
from typing import Literal

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_OID = re.compile(r"^[0-2](\.\d+)+$")
_NAME = re.compile(r"^_?[a-z][a-z0-9_]*$")
Scalar = int | float | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class IndexSpec(_Strict):
    skip: int = Field(0, ge=0)
    take: int | None = Field(None, ge=1)
    format: Literal["dotted", "int", "ipv4", "inet", "ipv6", "text"] = "dotted"


class FieldSpec(_Strict):
    oid: list[str] | None = None
    type: Literal["int", "float", "text", "hex", "oid", "bool", "enum", "ip"] | None = None
    enum: str | None = None
    scale: list[int | float] | None = None
    nonzero: bool = False
    absent: list[Scalar] | None = None
    subrows: dict[str, list[Scalar]] | None = None
    sum_over: int | None = Field(None, ge=1)
    index_from: str | None = None
    chosen: str | None = None
    values: list[Scalar] | None = None
    source: str | None = Field(None, alias="from")
    regex: str | None = None
    value: Scalar | None = None
    expr: str | None = None
    first_of: list[str] | None = None
    index: IndexSpec | None = None
    oid_of: str | None = None
    path: list[str] | None = None
    rows: str | None = None
    key: list[str] | None = None

    @field_validator("oid", "scale", "path", "key", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str | int | float) else v

    @model_validator(mode="after")
    def _one_way(self) -> FieldSpec:
        ways = {
            "oid": self.oid,
            "chosen": self.chosen,
            "from": self.source,
            "value": self.value,
            "expr": self.expr,
            "first_of": self.first_of,
            "index": self.index,
            "oid_of": self.oid_of,
            "path": self.path,
        }
        given = [k for k, v in ways.items() if v is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of: {', '.join(ways)} (got {given or 'none'})")
        for o in self.oid or []:
            if not _OID.match(o):
                raise ValueError(f"oid {o!r} is not a dotted numeric OID")
        if self.type == "enum" and not self.enum:
            raise ValueError("type enum needs 'enum: <table name>'")
        if (
            self.scale is not None
            and self.path is None
            and len(self.scale) not in (1, len(self.oid or []))
        ):
            raise ValueError("scale needs one entry, or one per oid")
        if self.chosen is not None and not self.values:
            raise ValueError("chosen needs 'values', one per oid of the chosen field")
        if self.source is not None and self.regex is None and self.type != "enum":
            raise ValueError("from goes with regex, or with type enum (a lookup)")
        if self.regex is not None and self.source is None and self.path is None:
            if self.oid is None:
                raise ValueError("regex goes with from, path or oid")
            if self.type not in ("float", "text"):
                raise ValueError("regex on an oid needs type float or text")
        if self.index_from is not None and self.oid is None and self.path is None:
            raise ValueError("index_from goes with oid or path")
        if self.absent is not None and self.oid is None and self.path is None:
            raise ValueError("absent and subrows go with oid (absent also with path)")
        if self.subrows is not None and self.oid is None:
            raise ValueError("absent and subrows go with oid (absent also with path)")
        if (self.rows is not None or self.key is not None) and self.path is None:
            raise ValueError("rows and key go with path")
        if (self.rows is None) != (self.key is None):
            raise ValueError("a joined list needs both rows and key")
        if (
            self.scale is not None
            and self.path is not None
            and len(self.scale)
            not in (
                1,
                len(self.path),
            )
        ):
            raise ValueError("scale needs one entry, or one per path")
        for x in [*(self.path or []), *(self.key or []), *([self.rows] if self.rows else [])]:
            _check_xpath(x)
        if self.sum_over is not None and self.path is not None:
            if self.rows is None or len(self.key or []) <= self.sum_over:
                raise ValueError(
                    "sum_over with path needs a joined list (rows + key) whose key has "
                    "more than sum_over parts"
                )
        elif self.sum_over is not None and (self.oid is None or self.subrows is not None):
            raise ValueError("sum_over goes with oid (or a joined path), and not with subrows")
        for o in self.subrows or {}:
            if not _OID.match(o):
                raise ValueError(f"subrows column {o!r} is not a dotted numeric OID")
        if self.regex is not None:
            try:
                groups = re.compile(self.regex).groups
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r}: {exc}") from None
            if groups < 1:
                raise ValueError(f"regex {self.regex!r} needs a capture group")
        return self


def _check_xpath(x: str) -> None:
    try:
        etree.XPath(x)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"path {x!r} is not a valid XPath: {exc}") from None


def _names_ok(d: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
    for k in d:
        if not _NAME.match(k):
            raise ValueError(f"name {k!r}: lowercase letters, digits and '_' only")
    return d


class Condition(_Strict):
    """Keep a row only if ``field`` equals / is in / is not in / is present."""

    field: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> Condition:
        tests = [self.equals, self.in_, self.not_in, self.present]
        if sum(t is not None for t in tests) != 1:
            raise ValueError("a condition needs exactly one of: equals, in, not_in, present")
        return self


class ScalarSpec(_Strict):
    """Values read with one GET: one record per device."""

    tags: dict[str, FieldSpec] = {}
    fields: dict[str, FieldSpec] = {}

    _check = field_validator("tags", "fields")(_names_ok)


class TableSpec(_Strict):
    """A walked table: one record per row."""

    index_tag: str | None = None
    rows: str | None = None
    key: list[str] | None = None
    rows_from: str | None = None
    where: list[Condition] = []
    enabled: bool = True
    merge: bool = False
    tags: dict[str, FieldSpec] = {}
    fields: dict[str, FieldSpec] = {}

    _check = field_validator("tags", "fields")(_names_ok)

    @field_validator("key", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _paths(self) -> TableSpec:
        for x in [*(self.key or []), *([self.rows] if self.rows else [])]:
            _check_xpath(x)
        if self.key is not None and self.rows is None:
            raise ValueError("key goes with rows")
        return self


class RequestSpec(_Strict):
    """What a NETCONF dataset asks: exactly one of ``rpc`` (a Junos-style RPC
    name, with ``args``), ``get`` (a subtree filter, XML text) or ``xpath``."""

    rpc: str | None = None
    args: dict[str, Scalar] = {}
    get: str | None = None
    xpath: str | None = None

    @model_validator(mode="after")
    def _one(self) -> RequestSpec:
        given = [k for k in ("rpc", "get", "xpath") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a request needs exactly one of: rpc, get, xpath (got {given})")
        if self.args and self.rpc is None:
            raise ValueError("args go with rpc")
        if self.rpc is not None and not re.match(r"^[a-z][a-z0-9-]*$", self.rpc):
            raise ValueError(f"rpc {self.rpc!r}: lowercase letters, digits and '-' only")
        if self.get is not None:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            try:
                etree.fromstring(f"<filter>{self.get}</filter>".encode(), parser)
            except etree.XMLSyntaxError as exc:
                raise ValueError(f"get: the subtree filter is not well-formed XML: {exc}") from None
        return self


class DatasetSpec(_Strict):
    scalars: ScalarSpec | None = None
    tables: dict[str, TableSpec] = {}
    requests: list[RequestSpec] = []

    @model_validator(mode="after")
    def _some(self) -> DatasetSpec:
        if self.scalars is None and not self.tables:
            raise ValueError("a dataset needs 'scalars' or 'tables'")
        return self


class ProfileFile(_Strict):
    """One ``<name>.yaml`` profile."""

    name: str
    description: str = ""
    extends: list[str] = []
    sysobjectid: list[str] = []
    sysdescr: list[str] = []
    protocol: Literal["snmp", "netconf"] = "snmp"
    capabilities: list[str] = []
    priority: int = 0
    datasets: dict[str, DatasetSpec] = {}

    @model_validator(mode="after")
    def _protocol(self) -> ProfileFile:
        """SNMP profiles read OIDs and match by sysObjectID; NETCONF profiles read
        paths and match by hello capabilities (regexes over the capability URIs)."""
        for ds, d in self.datasets.items():
            parts = ([d.scalars] if d.scalars else []) + list(d.tables.values())
            for part in parts:
                for fname, f in {**part.tags, **part.fields}.items():
                    if self.protocol == "snmp" and f.path is not None:
                        raise ValueError(f"{ds}.{fname}: path needs 'protocol: netconf'")
                    if self.protocol == "netconf" and (f.oid is not None or f.oid_of):
                        raise ValueError(f"{ds}.{fname}: a netconf profile reads paths, not oids")
                if self.protocol == "snmp" and isinstance(part, TableSpec) and part.rows:
                    raise ValueError(f"{ds}: rows needs 'protocol: netconf'")
            if self.protocol == "snmp" and d.requests:
                raise ValueError(f"{ds}: requests need 'protocol: netconf'")
        if self.protocol == "snmp" and self.capabilities:
            raise ValueError("capabilities need 'protocol: netconf'")
        if self.protocol == "netconf" and (self.sysobjectid or self.sysdescr):
            raise ValueError("a netconf profile matches by capabilities, not sysobjectid/sysdescr")
        for r in self.capabilities:
            try:
                re.compile(r)
            except re.error as exc:
                raise ValueError(f"capabilities {r!r}: {exc}") from None
        return self

    @field_validator("sysdescr")
    @classmethod
    def _descr(cls, v: list[str]) -> list[str]:
        for r in v:
            try:
                re.compile(r)
            except re.error as exc:
                raise ValueError(f"sysdescr {r!r}: {exc}") from None
        return v

    @field_validator("sysobjectid")
    @classmethod
    def _sysoids(cls, v: list[str]) -> list[str]:
        for s in v:
            if not _OID.match(s.removesuffix(".*")):
                raise ValueError(f"sysobjectid {s!r}: dotted OID, optionally ending in '.*'")
        return v


class EnumFile(_Strict):
    name: str
    values: dict[int | str, str | int | float]
