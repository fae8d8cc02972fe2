"""JSON Schema of the bus messages, generated from the models in :mod:`bus.records`
and :mod:`bus.datasets`, and published as ``bus/netfeed-message.schema.json``.

``python -m bus.schema`` rewrites the published file; a test fails when the
file and the models disagree, so the published contract cannot drift.

Descriptions come from the models' docstrings.  How those reach the schema
differs between Python versions (3.13 dedents docstrings when compiling) and
msgspec versions, so every description is cleaned with :func:`inspect.cleandoc`:
the same models give the same file on every supported Python and msgspec.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from bus.datasets import DATASETS
from bus.records import SCHEMA_VERSION, Alert, CycleComplete, DeviceState, Quarantined, Record

PUBLISHED = Path(__file__).with_name("netfeed-message.schema.json")


def clean_descriptions(node: Any) -> Any:
    """``node`` with every ``description`` string, at any depth, cleaned by
    :func:`inspect.cleandoc` (common indentation and blank edges removed)."""
    if isinstance(node, dict):
        return {
            k: inspect.cleandoc(v)
            if k == "description" and isinstance(v, str)
            else clean_descriptions(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [clean_descriptions(v) for v in node]
    return node


def message_schema() -> dict[str, Any]:
    types: list[Any] = [Record, CycleComplete, Quarantined, Alert, DeviceState]
    for m in DATASETS.values():
        types += [m.tags, m.fields]
    (record_ref, marker_ref, quarantined_ref, alert_ref, state_ref, *ds_refs), components = (
        msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
    )
    conditions = []
    for i, name in enumerate(DATASETS):
        tags_ref, fields_ref = ds_refs[2 * i], ds_refs[2 * i + 1]
        conditions.append(
            {
                "if": {"properties": {"dataset": {"const": name}}},
                "then": {"properties": {"tags": tags_ref, "fields": fields_ref}},
            }
        )
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://netfeed.dev/schema/message-v{SCHEMA_VERSION}.json",
        "title": f"netfeed bus message, schema_version {SCHEMA_VERSION}",
        "oneOf": [
            {"allOf": [record_ref, *conditions]},
            marker_ref,
            quarantined_ref,
            alert_ref,
            state_ref,
        ],
        "$defs": components,
    }
    return clean_descriptions(schema)


def render() -> str:
    return json.dumps(message_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    PUBLISHED.write_text(render())
    sys.stdout.write(f"wrote {PUBLISHED}\n")
