"""The HTML report: per network over a time range, from the store.

One self-contained file (plots embedded as PNG, no external assets) with,
per network: the busiest interfaces (average and peak utilisation, and a
plot of the top five over time), interface errors and discards, CPU and
memory over time, BGP session changes, and device availability (the share
of cycles a device answered, and the failing devices with their last
error).  A section with no data says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd

from applications.report.data import Store, series_rates

TOP = 10
CSS = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #447;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.5em}table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}
th{background:#eef}td.n{text-align:right}
.empty{color:#777;font-style:italic}img{max-width:100%}"""


def build_report(
    store_path: Path, networks: list[str], t0: datetime, t1: datetime, out: Path
) -> Path:
    """Write the report of ``networks`` (names or globs) over [t0, t1) to ``out``."""
    store = Store(store_path)
    t0_ms, t1_ms = int(t0.timestamp() * 1000), int(t1.timestamp() * 1000)
    found = store.read("cycles", networks, t0_ms, t1_ms, "DISTINCT network")
    names = sorted(set(found["network"])) if not found.empty else []
    if not names:
        ifaces = store.read("interfaces", networks, t0_ms, t1_ms, "DISTINCT network")
        names = sorted(set(ifaces["network"])) if not ifaces.empty else []
    parts = [
        f"<h1>netfeed report: {html.escape(', '.join(names) or 'no network')}</h1>",
        f"<p>{_when(t0_ms)} to {_when(t1_ms)} (UTC), from {html.escape(str(store_path))}</p>",
    ]
    if not names:
        parts.append('<p class="empty">No data for these networks in this time range.</p>')
    for net in names:
        parts.append(f"<h2>{html.escape(net)}</h2>")
        parts += _interfaces(store, net, t0_ms, t1_ms)
        parts += _health(store, net, t0_ms, t1_ms)
        parts += _bgp(store, net, t0_ms, t1_ms)
        parts += _availability(store, net, t0_ms, t1_ms)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>netfeed report</title>"
        f"<style>{CSS}</style></head><body>" + "\n".join(parts) + "</body></html>"
    )
    return out


def _interfaces(store: Store, net: str, t0: int, t1: int) -> list[str]:
    df = store.read("interfaces", [net], t0, t1)
    out = ["<h3>Busiest interfaces</h3>"]
    rates = series_rates(df) if not df.empty else pd.DataFrame()
    if rates.empty or rates["util_pct"].dropna().empty:
        out.append(
            '<p class="empty">No interface rates in this range (fewer than two samples).</p>'
        )
    else:
        rates["name"] = (
            rates["device"].astype(str)
            + " "
            + rates["if_name"].fillna(rates["if_index"]).astype(str)
        )
        g = rates.groupby("name")["util_pct"]
        top = pd.DataFrame({"avg_util_pct": g.mean(), "peak_util_pct": g.max()}).dropna()
        top = top.sort_values(["avg_util_pct", "peak_util_pct"], ascending=False).head(TOP)
        out.append(_table(top.round(1), "interface"))
        fig, ax = plt.subplots(figsize=(11, 4))
        for name in top.index[:5]:
            s = rates[rates["name"] == name].sort_values("response_unix_ms")
            ax.plot(_times(s["response_unix_ms"]), s["util_pct"].astype(float), label=name)
        _axes(ax, "Utilisation of the five busiest interfaces", "utilisation (%)")
        out.append(_png(fig))
    out.append("<h3>Interface errors and discards</h3>")
    cols = ["in_errors", "out_errors", "in_discards", "out_discards"]
    if df.empty or not set(cols) & set(df.columns):
        out.append('<p class="empty">No error counters in this range.</p>')
        return out
    df = df.sort_values("response_unix_ms")
    df["name"] = df["device"].astype(str) + " " + df["if_name"].fillna(df["if_index"]).astype(str)
    present = [c for c in cols if c in df.columns]
    # increases only: a counter going back (reset, reboot) adds nothing
    inc = df.groupby("name")[present].diff().clip(lower=0)
    totals = inc.groupby(df["name"]).sum().astype(float)
    totals["total"] = totals.sum(axis=1)
    totals = totals[totals["total"] > 0].sort_values("total", ascending=False).head(TOP)
    if totals.empty:
        out.append('<p class="empty">No errors or discards counted in this range.</p>')
        return out
    out.append(_table(totals.astype(int), "interface"))
    fig, ax = plt.subplots(figsize=(11, 3.5))
    totals["total"].iloc[::-1].plot.barh(ax=ax, color="#a44")
    ax.set_ylabel("")
    _axes(ax, "Errors and discards counted in the range", "packets", time_axis=False)
    out.append(_png(fig))
    return out


def _health(store: Store, net: str, t0: int, t1: int) -> list[str]:
    df = store.read("health", [net], t0, t1)
    out = ["<h3>CPU and memory</h3>"]
    if df.empty:
        return [*out, '<p class="empty">No CPU or memory data in this range.</p>']
    cpu = df[df["component_kind"] == "cpu"]
    mem = df[df["component_kind"] == "memory"].copy()
    panels = [k for k, part in (("cpu", cpu), ("memory", mem)) if not part.empty]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.8), squeeze=False)
    ax_of = dict(zip(panels, axes[0], strict=True))
    if "cpu" not in ax_of:
        out.append('<p class="empty">No CPU data in this range.</p>')
    for dev, s in cpu.groupby("device"):
        s = s.groupby("scheduled_unix_ms")["cpu_util_pct"].mean()
        ax_of["cpu"].plot(_times(pd.Series(s.index)), s.astype(float).values, label=str(dev))
    if "cpu" in ax_of:
        _axes(ax_of["cpu"], "CPU (mean over a device's CPUs)", "utilisation (%)")
    if mem.empty:
        out.append('<p class="empty">No memory data in this range.</p>')
    else:
        used = mem.get("memory_used_octets").astype("Float64")
        total = mem.get("memory_total_octets").astype("Float64")
        mem["pct"] = mem["memory_util_pct"].astype("Float64").fillna(used * 100 / total)
        for dev, s in mem.groupby("device"):
            s = s.groupby("scheduled_unix_ms")["pct"].mean()
            ax_of["memory"].plot(_times(pd.Series(s.index)), s.astype(float).values, label=str(dev))
        _axes(ax_of["memory"], "Memory used", "used (%)")
    out.append(_png(fig))
    return out


def _bgp(store: Store, net: str, t0: int, t1: int) -> list[str]:
    df = store.read("bgp", [net], t0, t1)
    out = ["<h3>BGP session changes</h3>"]
    if df.empty:
        return [*out, '<p class="empty">No BGP data in this range.</p>']
    df = df.sort_values("scheduled_unix_ms")
    df["before"] = df.groupby(["device", "peer_address"])["state"].shift()
    ch = df[df["before"].notna() & (df["before"] != df["state"])]
    if ch.empty:
        sessions = df.groupby(["device", "peer_address"]).ngroups
        return [*out, f'<p class="empty">No state change among {sessions} sessions.</p>']
    rows = pd.DataFrame(
        {
            "time (UTC)": [_when(t) for t in ch["scheduled_unix_ms"]],
            "device": ch["device"].astype(str),
            "peer": ch["peer_address"].astype(str),
            "from": ch["before"].astype(str),
            "to": ch["state"].astype(str),
        }
    )
    return [*out, _table(rows.set_index("time (UTC)"), "time (UTC)")]


def _availability(store: Store, net: str, t0: int, t1: int) -> list[str]:
    cycles = store.read("cycles", [net], t0, t1)
    out = ["<h3>Device availability</h3>"]
    if cycles.empty:
        return [*out, '<p class="empty">No cycle markers in this range.</p>']
    ds = "system" if (cycles["dataset"] == "system").any() else cycles["dataset"].iloc[0]
    cyc = cycles[cycles["dataset"] == ds].sort_values("scheduled_unix_ms")
    recs = store.read(ds, [net], t0, t1, "device, cycle_id")
    answered = recs.groupby("device")["cycle_id"].nunique() if not recs.empty else pd.Series()
    failed: dict[str, int] = {}
    last: dict[str, str] = {}
    for raw in cyc["failures"]:
        for dev, why in json.loads(raw or "{}").items():
            failed[dev] = failed.get(dev, 0) + 1
            last[dev] = why
    devices = sorted(set(answered.index) | set(failed))
    n = len(cyc)
    table = pd.DataFrame(
        {
            "cycles answered": [int(answered.get(d, 0)) for d in devices],
            "cycles failed": [failed.get(d, 0) for d in devices],
            "availability (%)": [
                round(100 * (n - failed.get(d, 0)) / n, 1) if n else float("nan") for d in devices
            ],
            "last error": [last.get(d, "") for d in devices],
        },
        index=pd.Index(devices, name="device"),
    ).sort_values(["availability (%)", "cycles failed"], ascending=[True, False])
    out.append(f"<p>{n} cycles of dataset {html.escape(ds)}.</p>")
    out.append(_table(table, "device"))
    fig, ax = plt.subplots(figsize=(11, max(2.0, 0.3 * len(devices))))
    table["availability (%)"].iloc[::-1].plot.barh(ax=ax, color="#4a7")
    ax.set_xlim(0, 100)
    _axes(ax, f"Availability over {n} cycles", "cycles answered (%)", time_axis=False)
    out.append(_png(fig))
    return out


def _times(ms: pd.Series) -> pd.Series:
    return pd.to_datetime(ms.astype("int64"), unit="ms", utc=True)


def _axes(ax: plt.Axes, title: str, ylabel: str, time_axis: bool = True) -> None:
    ax.set_title(title)
    if time_axis:
        ax.set_ylabel(ylabel)
        ax.set_xlabel("time (UTC)")
        locator = mdates.AutoDateLocator(maxticks=8)  # labels that never overlap
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left")
    else:
        ax.set_xlabel(ylabel)
    ax.grid(alpha=0.3)


def _png(fig: plt.Figure) -> str:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<p><img alt="plot" src="data:image/png;base64,{data}"></p>'


def _table(df: pd.DataFrame, index: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [index, *df.columns])
    rows = "".join(
        "<tr>"
        + f"<td>{html.escape(str(i))}</td>"
        + "".join(
            f"<td class='n'>{html.escape(str(v))}</td>"
            if isinstance(v, int | float)
            else f"<td>{html.escape(str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for i, row in zip(df.index, df.itertuples(index=False), strict=True)
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
