"""Every field any profile emitted over the recordings was asserted by some test.

Named ``zz`` so pytest runs it after the other modules of this folder, whose
tests declare what they asserted with ``covered(...)`` (only when they pass: a
test failing as a known gap claims nothing).  Run alone, it fails (nothing was
claimed), never passes by accident.  One test per field of the record
contract, so a field emitted only on recordings whose tests are known gaps can
itself be listed in ``known_gaps.yaml`` (``field: <dataset>.<name>``).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import bus.datasets
from tests.conformance.conftest import DATASETS, covered_fields
from tests.support.librenms import recording_names


def declared(ds: str) -> list[str]:
    model = bus.datasets.DATASETS[ds]
    return [f.name for part in (model.tags, model.fields) for f in msgspec.structs.fields(part)]


FIELDS = [f"{ds}.{name}" for ds in DATASETS for name in dict.fromkeys(declared(ds))]


def emitted_by(collected: Any, ds: str, name: str) -> list[str]:
    return [
        n
        for n in recording_names()
        if any(name in r.fields or name in r.tags for r in collected[n][ds].records)
    ]


@pytest.mark.parametrize("field", FIELDS)
def test_every_emitted_field_is_asserted(collected: Any, field: str) -> None:
    ds, name = field.split(".", 1)
    emitting = emitted_by(collected, ds, name)
    claimed = covered_fields().get(ds, set())
    assert not emitting or name in claimed, f"{field} emitted by {emitting}, never asserted"


@pytest.mark.parametrize("ds", DATASETS)
def test_no_field_outside_the_contract_is_emitted(collected: Any, ds: str) -> None:
    known = set(declared(ds))
    extra = {
        key
        for n in recording_names()
        for r in collected[n][ds].records
        for key in (*r.fields, *r.tags)
        if key not in known
    }
    assert not extra, (ds, sorted(extra))
