"""Records to pandas DataFrames with typed columns.

:func:`cycle_frame` gives one row per record: the envelope, ``record_id``,
then the dataset's tags, then its fields.  Column types follow the dataset
models in :mod:`bus.datasets`, so every frame of one dataset has the same
columns and dtypes, whatever the devices answered (a column no record has is
all missing, not absent), and frames of different cycles concatenate:

- integers -> ``Int64``, floats -> ``Float64``, booleans -> ``boolean``
  (pandas' nullable types: a missing value is ``<NA>``, never a 0);
- strings and enumerations whose names are all strings -> ``string``;
- enumerated fields that may carry a device's raw code (``str | int``, see
  :mod:`bus.datasets`) -> ``object``, keeping the code as the int it is;
- tags -> ``string``; tags a device's configuration adds (``site``, ...)
  follow the model's tags, in first-seen order.

``frame.attrs["units"]`` maps a column to its unit, read from its name's
suffix (``_octets``, ``_bps``, ``_ms``, ``_pct``, ...).
"""

from __future__ import annotations

import typing
from functools import cache
from typing import Any, Literal

import msgspec
import numpy as np
import pandas as pd

from bus.datasets import DATASETS
from bus.records import Record, record_id

ENVELOPE: dict[str, str] = {
    "network": "string",
    "device": "string",
    "profile": "string",
    "dataset": "string",
    "cycle_id": "string",
    "scheduled_unix_ms": "int64",
    "request_unix_ms": "int64",
    "response_unix_ms": "int64",
    "device_uptime_ms": "Int64",
    "partial": "bool",
    "record_id": "string",
}

UNITS: dict[str, str] = {
    "_octets": "octets",
    "_pkts": "packets",
    "_bps": "bits/s",
    "_ms": "ms",
    "_s": "s",
    "_ticks": "1/100 s",
    "_pct": "%",
    "_as": "AS number",
}


def _dtype(annotation: Any) -> str:
    """The pandas dtype of a model field's annotation."""
    kinds: set[type] = set()
    for arg in typing.get_args(annotation) or (annotation,):
        if arg is type(None):
            continue
        if typing.get_origin(arg) is Literal:
            kinds.update(type(v) for v in typing.get_args(arg))
        elif isinstance(arg, type):
            kinds.add(arg)
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "Int64"
    if kinds <= {int, float} and float in kinds:
        return "Float64"
    if kinds == {str}:
        return "string"
    return "object"


@cache
def schema(dataset: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(tags, fields)``: column -> dtype of ``dataset`` (empty for an unknown one)."""
    model = DATASETS.get(dataset)
    if model is None:
        return {}, {}
    tags = {f.name: "string" for f in msgspec.structs.fields(model.tags)}
    hints = typing.get_type_hints(model.fields)
    fields = {f.name: _dtype(hints[f.name]) for f in msgspec.structs.fields(model.fields)}
    return tags, fields


def unit_of(column: str) -> str | None:
    for suffix, unit in UNITS.items():
        if column.endswith(suffix):
            return unit
    return None


def cycle_frame(records: list[Record], dataset: str, ids: list[str] | None = None) -> pd.DataFrame:
    """One row per record of ``dataset`` in ``records`` (others are left out),
    typed as the module docstring says.  ``ids``: the records' ids, if the
    caller has them (the ``netfeed-id`` headers), else computed."""
    if any(r.dataset != dataset for r in records):
        keep = [i for i, r in enumerate(records) if r.dataset == dataset]
        records = [records[i] for i in keep]
        ids = None if ids is None else [ids[i] for i in keep]
    tag_types, field_types = schema(dataset)
    extra_tags: dict[str, str] = {}
    for r in records:
        for k in r.tags:
            if k not in tag_types and k not in extra_tags:
                extra_tags[k] = "string"
    cols: dict[str, Any] = {
        "network": [r.network for r in records],
        "device": [r.device for r in records],
        "profile": [r.profile for r in records],
        "dataset": [r.dataset for r in records],
        "cycle_id": [r.cycle_id for r in records],
        "scheduled_unix_ms": [r.scheduled_unix_ms for r in records],
        "request_unix_ms": [r.request_unix_ms for r in records],
        "response_unix_ms": [r.response_unix_ms for r in records],
        "device_uptime_ms": [r.device_uptime_ms for r in records],
        "partial": [r.partial for r in records],
        "record_id": ids if ids is not None else [record_id(r) for r in records],
    }
    dtypes = dict(ENVELOPE)
    for name, dt in (*tag_types.items(), *extra_tags.items()):
        cols[name] = [r.tags.get(name) for r in records]
        dtypes[name] = dt
    extra_fields: dict[str, str] = {}
    for r in records:
        for k in r.fields:
            if k not in field_types and k not in extra_fields:
                extra_fields[k] = "object"  # not in the model (a newer collector): as sent
    for name, dt in (*field_types.items(), *extra_fields.items()):
        if name in cols:  # a field named like a tag: the field gets a suffix
            cols[f"{name}_field"] = [r.fields.get(name) for r in records]
            dtypes[f"{name}_field"] = dt
            continue
        cols[name] = [r.fields.get(name) for r in records]
        dtypes[name] = dt
    frame = pd.DataFrame(
        {name: _series(values, dtypes[name]) for name, values in cols.items()},
        index=pd.RangeIndex(len(records)),
    )
    frame.attrs["units"] = {c: u for c in frame.columns if (u := unit_of(c)) is not None}
    return frame


def _series(values: list[Any], dtype: str) -> Any:
    if dtype == "object":
        return pd.array(values, dtype=object)
    if dtype == "Int64":
        mask = np.fromiter((v is None for v in values), bool, len(values))
        data = np.array([0 if v is None else v for v in values])
        if data.dtype == np.int64:  # (the common case: plain ints and gaps)
            return pd.arrays.IntegerArray(data, mask)
        if data.dtype == np.uint64:  # a counter past 2**63: unsigned, no value lost
            return pd.arrays.IntegerArray(data, mask)
        return _coerced(values, dtype)
    if dtype == "Float64":
        mask = np.fromiter((v is None for v in values), bool, len(values))
        try:
            data = np.array([0.0 if v is None else v for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            return _coerced(values, dtype)
        return pd.arrays.FloatingArray(data, mask)
    if dtype == "boolean":
        return pd.array([v if isinstance(v, bool) else None for v in values], dtype="boolean")
    return pd.array(values, dtype=dtype)


def _coerced(values: list[Any], dtype: str) -> Any:
    # A value of the wrong kind (a string where the model says int) is the
    # collector's bug, not a reason to lose the frame: it becomes <NA>.
    ok = [v if isinstance(v, int | float) and not isinstance(v, bool) else None for v in values]
    num = pd.to_numeric(pd.Series(ok, dtype=object), errors="coerce")
    if dtype == "Int64" and (num.dropna() % 1 != 0).any():
        return num.astype("Float64")  # fractions where the model says int: kept, not cut
    return num.astype(dtype)
