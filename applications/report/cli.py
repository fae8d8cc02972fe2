"""``netfeed report``: the HTML report from the store (see :mod:`.build`)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from applications.config import load_app_settings

_RELATIVE = re.compile(r"^-(\d+)([mhd])$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, help="store folder (default: the store app's path)")
    p.add_argument(
        "--network", action="append", default=[], help="network name or glob (repeatable)"
    )
    p.add_argument("--from", dest="t_from", default="-24h", help="ISO-8601 time or -24h, -90m, -7d")
    p.add_argument("--to", dest="t_to", default="now", help="ISO-8601 time or now")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="HTML file to write")
    p.epilog = "example: netfeed report --config configs --network 'lab-*' --from -6h"


def parse_time(text: str, now: datetime) -> datetime:
    if text == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: n})
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from applications.report.build import build_report
    from applications.store import Store

    now = datetime.now(UTC)
    try:
        t0, t1 = parse_time(args.t_from, now), parse_time(args.t_to, now)
    except ValueError:
        print(
            f"netfeed report: --from/--to: {args.t_from!r}/{args.t_to!r}: an ISO-8601 time, "
            "now, or -<n>m/-<n>h/-<n>d",
            file=sys.stderr,
        )
        return 2
    store = args.store
    if store is None:
        store = load_app_settings(args.config, Store).path  # type: ignore[attr-defined]
    if not (store / "parquet").is_dir():
        print(f"netfeed report: no store at {store} (run the store application)", file=sys.stderr)
        return 2
    if t1 <= t0:
        print(f"netfeed report: --to {t1} is not after --from {t0}", file=sys.stderr)
        return 2
    out = build_report(store, args.network or ["*"], t0, t1, args.out)
    print(f"netfeed report: wrote {out}")
    return 0
