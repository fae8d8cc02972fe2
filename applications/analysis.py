"""Analysis helpers over cycle frames (:mod:`applications.frames`).

- :func:`interface_rates`: counter deltas to bit rates and utilisation between
  two samples of each interface, vectorised, with exactly the rules of
  :mod:`applications.rates` (64- and 32-bit wraps, reboots seen
  through uptime including sysUpTime's own wrap, counter resets, missing
  samples); a row without an honest rate has ``<NA>``, never a made-up 0.
- :func:`align`: devices polled at different offsets within a cycle put on
  one time grid.
- :func:`join_system`: interface (or any per-device) rows joined with the
  system record of their device in the same cycle, or the latest before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from applications.rates import SLACK_S, UPTIME_WRAP_MS, WRAP

KEY = ["network", "device", "if_index"]
RATE_COLUMNS = ["in_bps", "out_bps", "elapsed_s", "in_util_pct", "out_util_pct", "util_pct"]


def _num(s: pd.Series) -> np.ndarray:
    return s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def interface_rates(prev: pd.DataFrame, cur: pd.DataFrame) -> pd.DataFrame:
    """``cur``'s rows that have a row of the same interface in ``prev``
    (by network, device, if_index), with :data:`RATE_COLUMNS` added.

    ``prev`` is the interface's previous sample (the previous cycle's frame,
    or any earlier one: a missing cycle in between is fine, the rate is over
    the real elapsed time).  Interfaces new in ``cur`` have no rate and are
    left out; a sample older than or as old as the previous one (a
    re-delivery) gives no rate."""
    cols = [
        *KEY,
        "response_unix_ms",
        "device_uptime_ms",
        "in_octets",
        "out_octets",
        "counter_bits",
    ]
    m = cur.merge(prev[cols], on=KEY, how="inner", suffixes=("", "_prev"))
    wall_ms = _num(m["response_unix_ms"]) - _num(m["response_unix_ms_prev"])
    up, up_prev = _num(m["device_uptime_ms"]), _num(m["device_uptime_ms_prev"])
    dev_ms = up - up_prev
    slack_ms = SLACK_S * 1000 + wall_ms * 0.1
    wrapped_up = (dev_ms < 0) & (np.abs(dev_ms + UPTIME_WRAP_MS - wall_ms) <= slack_ms)
    dev_ms = np.where(wrapped_up, dev_ms + UPTIME_WRAP_MS, dev_ms)
    known = ~np.isnan(dev_ms)
    with np.errstate(invalid="ignore"):
        rebooted = known & ((dev_ms < 0) | (dev_ms < wall_ms - slack_ms))
        elapsed = np.where(known & (dev_ms > 0), dev_ms, wall_ms) / 1000.0
    bits = _num(m["counter_bits"])
    same_source = bits == _num(m["counter_bits_prev"])
    speed = _num(m["speed_bps"]) if "speed_bps" in m else np.full(len(m), np.nan)
    ok = ~rebooted & same_source & (elapsed > 0) & (wall_ms > 0)
    out = m.drop(columns=[c for c in m.columns if c.endswith("_prev")])
    for direction in ("in", "out"):
        d = _num(m[f"{direction}_octets"]) - _num(m[f"{direction}_octets_prev"])
        with np.errstate(invalid="ignore"):
            back = d < 0
            unwrapped = d + WRAP[32]
            possible = np.isnan(speed) | (speed <= 0) | ~(unwrapped * 8 > speed * elapsed * 1.1)
            wrap_ok = back & (bits == 32) & possible
            delta = np.where(back, np.where(wrap_ok, unwrapped, np.nan), d)
            bps = np.where(ok, delta * 8 / np.where(elapsed > 0, elapsed, np.nan), np.nan)
        out[f"{direction}_bps"] = pd.array(bps, dtype="Float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(speed > 0, bps * 100 / speed, np.nan)
        out[f"{direction}_util_pct"] = pd.array(util, dtype="Float64")
    out["elapsed_s"] = pd.array(np.where(ok, elapsed, np.nan), dtype="Float64")
    out["util_pct"] = out[["in_util_pct", "out_util_pct"]].max(axis=1, skipna=True)
    return out


def align(frame: pd.DataFrame, period_ms: int, column: str = "response_unix_ms") -> pd.DataFrame:
    """``frame`` with ``aligned_unix_ms``: ``column`` floored to the grid of
    ``period_ms`` (the epoch grid collectors schedule on), so devices answering
    at different offsets within one interval share a timestamp; and
    ``offset_ms``, how far into the interval each answered."""
    t = frame[column].astype("int64")
    out = frame.copy()
    out["aligned_unix_ms"] = (t // period_ms) * period_ms
    out["offset_ms"] = t - out["aligned_unix_ms"]
    return out


SYSTEM_COLUMNS = ["sys_name", "vendor", "model", "os_version", "sys_location"]


def join_system(
    rows: pd.DataFrame, system: pd.DataFrame, columns: list[str] | None = None
) -> pd.DataFrame:
    """``rows`` (any dataset's frame) with ``columns`` of their device's system
    record: the one of the same cycle time, else the latest before it (system
    is polled less often than interfaces).  Rows of a device with no system
    record at or before their time get ``<NA>``.  Column names clashing with
    ``rows`` get a ``_system`` suffix."""
    cols = [c for c in (columns or SYSTEM_COLUMNS) if c in system.columns]
    right = system[["network", "device", "scheduled_unix_ms", *cols]].rename(
        columns={c: f"{c}_system" if c in rows.columns else c for c in cols}
    )
    right = right.sort_values("scheduled_unix_ms", kind="stable")
    left = rows.assign(_order=np.arange(len(rows))).sort_values("scheduled_unix_ms", kind="stable")
    joined = pd.merge_asof(
        left.astype({"scheduled_unix_ms": "int64"}),
        right.astype({"scheduled_unix_ms": "int64"}),
        on="scheduled_unix_ms",
        by=["network", "device"],
        direction="backward",
    )
    return joined.sort_values("_order").drop(columns="_order").reset_index(drop=True)
