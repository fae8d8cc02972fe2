"""Each recording is matched to its own profile, and every record validates."""

import pytest

from bus.datasets import validate
from tests.conformance.conftest import DATASETS, covered, profile_for
from tests.support.librenms import recording_names


@pytest.mark.parametrize("recording", recording_names())
def test_recording_matches_its_profile_and_records_validate(collected, recording: str) -> None:  # type: ignore[no-untyped-def]
    for ds in DATASETS:
        out = collected[recording][ds]
        for rec in out.records:
            assert rec.profile == profile_for(recording), (recording, ds, rec.profile)
            validate(rec)
    covered("system", "sys_name")
