"""Every field any profile emitted over the recordings was asserted by some test.

Named ``zz`` so pytest runs it after the other modules of this folder, whose
tests declare what they asserted with ``covered(...)``.  Run alone, it fails
(nothing was claimed), never passes by accident.
"""

from tests.conformance.conftest import DATASETS, covered_fields
from tests.support.librenms import recording_names


def test_every_emitted_field_is_asserted(collected) -> None:  # type: ignore[no-untyped-def]
    emitted: dict[str, set[str]] = {ds: set() for ds in DATASETS}
    for name in recording_names():
        for ds in DATASETS:
            for r in collected[name][ds].records:
                emitted[ds] |= set(r.fields) | set(r.tags)
    claimed = covered_fields()
    missing = {
        ds: sorted(f for f in emitted[ds] if f not in claimed.get(ds, set())) for ds in DATASETS
    }
    assert not any(missing.values()), f"emitted but never asserted: {missing}"
