"""Records to pandas DataFrames with typed columns.

(Skeleton: typed columns from :mod:`bus.datasets` come next.)
"""

from __future__ import annotations

import pandas as pd

from bus.records import Record


def cycle_frame(records: list[Record], dataset: str) -> pd.DataFrame:
    """One row per record of ``dataset``: envelope columns, ``record_id``, tags, fields."""
    from applications.api import records_frame

    return records_frame([r for r in records if r.dataset == dataset])
