"""``collect --once --dry-run``'s coverage summary: for each device, the profile
that read it and, per dataset, how many records it gave and which fields of the
dataset's model (``bus/datasets.py``) they lack, and why.

Why a field is absent comes from the record (``absent``: field -> reason, where
the record model has it, e.g. a sentinel or implausible value the profile
refused); a field neither present nor explained there is "not in the device's
reply / not read by the profile".  Printed on stderr after the records, so
stdout stays one JSON message per line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from bus.datasets import DATASETS
from bus.records import CycleComplete, Record

NOT_READ = "not in the device's reply / not read by the profile"
SHOWN = 6  # field names listed per reason before "+N more"


@dataclass
class _Seen:
    rows: int = 0
    present: Counter[str] = field(default_factory=Counter)
    explained: dict[str, Counter[str]] = field(default_factory=dict)  # field -> reason -> rows


@dataclass
class Coverage:
    """What a dry run published, counted per device and dataset."""

    profiles: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    seen: dict[tuple[str, str, str], _Seen] = field(default_factory=dict)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def records(self, records: Iterable[Record]) -> None:
        for r in records:
            self.profiles.setdefault((r.network, r.device), set()).add(r.profile)
            s = self.seen.setdefault((r.network, r.device, r.dataset), _Seen())
            s.rows += 1
            model = DATASETS.get(r.dataset)
            if model is None:
                continue
            fields = r.fields if isinstance(r.fields, dict) else {}
            why: dict[str, str] = getattr(r, "absent", None) or {}
            for name in model.field_names():
                if fields.get(name) is not None:
                    s.present[name] += 1
                elif name in why:
                    s.explained.setdefault(name, Counter())[why[name]] += 1

    def marker(self, marker: CycleComplete) -> None:
        for dev, reason in marker.failures.items():
            self.failures[(marker.network, dev, marker.dataset)] = reason

    def dataset_line(self, network: str, device: str, dataset: str) -> str:
        s = self.seen.get((network, device, dataset))
        failed = self.failures.get((network, device, dataset))
        if s is None:
            return f"{dataset}: 0 records" + (f" (failed: {failed})" if failed else "")
        n = s.rows
        by_reason: dict[str, list[str]] = {}
        for name in sorted(DATASETS[dataset].field_names()) if dataset in DATASETS else ():
            explained = s.explained.get(name, Counter())
            for reason, k in sorted(explained.items()):
                by_reason.setdefault(reason, []).append(_count(name, k, n))
            missing = n - s.present[name] - sum(explained.values())
            if missing:
                by_reason.setdefault(NOT_READ, []).append(_count(name, missing, n))
        parts = [f"{dataset}: {n} record{'s' if n != 1 else ''}"]
        if failed:
            parts.append(f"failed: {failed}")
        # the reasons a profile gave first, then what was not read at all
        for reason in sorted(by_reason, key=lambda x: (x == NOT_READ, x)):
            names = by_reason[reason]
            more = f", +{len(names) - SHOWN} more" if len(names) > SHOWN else ""
            parts.append(f"absent ({reason}): {', '.join(names[:SHOWN])}{more}")
        return "; ".join(parts)

    def write(self, planned: Iterable[tuple[str, str, list[str]]], out: TextIO) -> None:
        """One block per planned ``(network, device, datasets)``."""
        out.write("coverage (dry run): profile, and per dataset records and absent fields\n")
        for network, device, datasets in planned:
            profiles = sorted(self.profiles.get((network, device), ())) or ["(none: no records)"]
            out.write(f"  {network}/{device}: profile {', '.join(profiles)}\n")
            for ds in datasets:
                out.write(f"    {self.dataset_line(network, device, ds)}\n")
        out.flush()


def _count(name: str, k: int, n: int) -> str:
    """``name`` when every record lacks it, else ``name k/n``."""
    return name if k == n else f"{name} {k}/{n}"
