"""What bench/snmp_scale.py polls, and the files it generates for each tool.

- the agents: N loopback addresses 127.1.x.y (namespace-local; nothing else
  is ever a target);
- the read set: the scalars and table columns the collector's own profile
  reads from a net-snmp agent (``--columns profile``), or the 12 ifTable/
  ifXTable columns + sysDescr/sysUpTime/sysName of issue 3's measurements
  (``--columns issue12``); the baselines read the same set;
- a netfeed configuration folder (netfeed.yaml, networks/nfbench.yaml, a CSV
  inventory) for the collector;
- a generator-free snmp.yml module for snmp_exporter;
- argument lines for net-snmp's command-line tools.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

NETWORK = "nfbench"
NETSNMP_SYSOBJECTID = "1.3.6.1.4.1.8072.3.2.10"  # what Debian's snmpd says it is
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"

ISSUE12_COLUMNS = (
    "1.3.6.1.2.1.31.1.1.1.1",  # ifName
    "1.3.6.1.2.1.31.1.1.1.15",  # ifHighSpeed
    "1.3.6.1.2.1.31.1.1.1.6",  # ifHCInOctets
    "1.3.6.1.2.1.31.1.1.1.10",  # ifHCOutOctets
    "1.3.6.1.2.1.31.1.1.1.7",  # ifHCInUcastPkts
    "1.3.6.1.2.1.31.1.1.1.11",  # ifHCOutUcastPkts
    "1.3.6.1.2.1.2.2.1.7",  # ifAdminStatus
    "1.3.6.1.2.1.2.2.1.8",  # ifOperStatus
    "1.3.6.1.2.1.2.2.1.14",  # ifInErrors
    "1.3.6.1.2.1.2.2.1.20",  # ifOutErrors
    "1.3.6.1.2.1.2.2.1.13",  # ifInDiscards
    "1.3.6.1.2.1.2.2.1.19",  # ifOutDiscards
)
ISSUE12_SCALARS = ("1.3.6.1.2.1.1.1.0", SYS_UPTIME, "1.3.6.1.2.1.1.5.0")


def agent_addresses(n: int) -> list[str]:
    """127.1.x.y, y in 1..250; loopback only, checked."""
    out = []
    for i in range(n):
        addr = f"127.1.{i // 250}.{i % 250 + 1}"
        if not ipaddress.ip_address(addr).is_loopback:
            raise ValueError(f"{addr} is not a loopback address")
        out.append(addr)
    return out


@dataclass
class ReadSet:
    """What each agent is asked for: scalars (GET) and table columns (walked)."""

    how: str
    scalars: tuple[str, ...]
    columns: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, list[str]]:
        """Columns grouped by their table entry OID (the column OID less its last arc)."""
        out: dict[str, list[str]] = {}
        for c in self.columns:
            out.setdefault(c.rsplit(".", 1)[0], []).append(c)
        return out


def supported_datasets() -> tuple[str, ...]:
    """The datasets this checkout's network files accept, of system/interfaces/health."""
    from collectors.config import NetworkFile

    out = []
    for ds in ("system", "interfaces", "health"):
        try:
            NetworkFile.model_validate({"network": "x", "datasets": {ds: {}}})
        except ValueError:
            continue
        out.append(ds)
    return tuple(out)


def profile_read_set(datasets: tuple[str, ...]) -> ReadSet:
    """What the collector reads from a net-snmp agent: profile matched by its sysObjectID."""
    from collectors.profiles import ProfileSet

    profile, _matched = ProfileSet([]).match(NETSNMP_SYSOBJECTID)
    scalars: list[str] = [SYS_OBJECT_ID, SYS_UPTIME]  # the per-poll identification GET
    columns: list[str] = []
    used = []
    for ds in datasets:
        cds = profile.datasets.get(ds)
        if cds is None:
            continue
        used.append(ds)
        cols = getattr(cds, "columns", None)
        scal = getattr(cds, "scalar_oids", None)
        if cols is None or scal is None:  # older compiled-profile shape
            is_table = bool(getattr(cds, "is_table", False))
            cols, scal = (cds.oids, ()) if is_table else ((), cds.oids)
        scalars += [o for o in scal if o not in scalars]
        columns += [o for o in cols if o not in columns]
    return ReadSet(
        f"profile {profile.name} ({', '.join(used)})", tuple(scalars), tuple(columns), tuple(used)
    )


def issue12_read_set() -> ReadSet:
    return ReadSet(
        "issue12 (12 IF-MIB columns + 3 system scalars)", ISSUE12_SCALARS, ISSUE12_COLUMNS
    )


# --- netfeed configuration --------------------------------------------------------


def write_netfeed_config(
    folder: Path,
    agents: list[str],
    *,
    datasets: tuple[str, ...],
    bus: str,
    kafka_bootstrap: str | None,
    engine: str | None,
    in_flight: int,
    timeout_s: float,
    retries: int,
    max_repetitions: int,
    deadline_s: float,
    bus_path: Path,
) -> Path:
    """A configuration folder for ``netfeed collect`` / Collector over ``agents``."""
    (folder / "networks").mkdir(parents=True, exist_ok=True)
    (folder / "inventory").mkdir(exist_ok=True)
    (folder / "profiles").mkdir(exist_ok=True)
    with (folder / "inventory" / f"{NETWORK}.csv").open("w") as f:
        f.write("id,host,port\n")
        for i, addr in enumerate(agents):
            f.write(f"ne-{i:05d},{addr},161\n")
    net = {
        "network": NETWORK,
        "description": "bench/snmp_scale.py: one snmpd in a namespace, many loopback agents",
        "defaults": {
            "snmp": {
                "version": "2c",
                "community": "env:NFBENCH_COMMUNITY",
                "timeout_s": timeout_s,
                "retries": retries,
                "max_repetitions": max_repetitions,
                "device_deadline_s": deadline_s,
            }
        },
        "inventories": [{"csv": f"../inventory/{NETWORK}.csv"}],
        "datasets": {ds: {"interval_s": 60} for ds in datasets},
        "collection": {"max_in_flight": in_flight, "spread": 0.0},
    }
    (folder / "networks" / f"{NETWORK}.yaml").write_text(yaml.safe_dump(net, sort_keys=False))
    bus_cfg: dict[str, object] = {"backend": bus, "topic_prefix": "nfbench"}
    if bus == "kafka":
        bus_cfg["kafka"] = {"bootstrap_servers": kafka_bootstrap}
    else:
        bus_cfg["embedded"] = {"path": str(bus_path)}
    collector: dict[str, object] = {
        "profiles_dir": str(folder / "profiles"),
        "max_in_flight": in_flight,
    }
    if engine is not None:
        collector["drivers"] = {"snmp": {"engine": engine}}
    cfg = {"bus": bus_cfg, "collector": collector}
    (folder / "netfeed.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder


# --- snmp_exporter -------------------------------------------------------------------


def probe_types(agent: str, community: str, rs: ReadSet, timeout_s: float) -> dict[str, str]:
    """SNMP type of each scalar/column as one agent answers it (net-snmp's type words)."""
    types: dict[str, str] = {}
    common = ["-v2c", "-c", community, "-On", "-t", f"{timeout_s:g}", "-r", "1"]
    for root in [*rs.scalars, *rs.columns]:
        if root in rs.scalars:
            cmd = ["snmpget", *common, agent, root]
        else:
            cmd = ["snmpbulkwalk", *common, "-Cr50", agent, root]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
        seen = set()
        for line in out.splitlines():
            name, _, rhs = line.partition(" = ")
            inside = name == "." + root or name.startswith("." + root + ".")
            if inside and rhs.startswith('"'):
                seen.add("STRING")  # net-snmp prints an empty string as ""
            elif inside and ":" in rhs and not rhs.startswith("No Such"):
                seen.add(rhs.split(":", 1)[0])
        if seen:
            # a string column with any non-printable value is binary (Hex-STRING)
            types[root] = "Hex-STRING" if "Hex-STRING" in seen else sorted(seen)[0]
    return types


_NUMERIC = {"INTEGER", "Counter32", "Counter64", "Gauge32", "Timeticks", "Unsigned32"}


def metric_name(oid: str) -> str:
    return "nf_" + oid.replace(".", "_")


def write_exporter_config(
    path: Path,
    rs: ReadSet,
    types: dict[str, str],
    *,
    community: str,
    timeout_s: float,
    retries: int,
    max_repetitions: int,
) -> list[str]:
    """A one-module snmp.yml (module ``nfbench``); returns the metric names to count."""
    metrics = []
    for oid in [*rs.scalars, *rs.columns]:
        t = types.get(oid)
        if t is None:
            continue  # the agent does not have it: nothing to walk for anyone
        scalar = oid in rs.scalars
        base = oid.removesuffix(".0") if scalar else oid
        if t.startswith("Counter"):
            mtype = "counter"
        elif t in _NUMERIC:
            mtype = "gauge"
        elif t == "Hex-STRING":
            mtype = "OctetString"  # binary: exported as 0x... (a label must be UTF-8)
        else:
            mtype = "DisplayString"
        m: dict[str, object] = {
            "name": metric_name(base),
            "oid": base,
            "type": mtype,
            "help": f"{oid} ({t})",
        }
        if not scalar:
            m["indexes"] = [{"labelname": "idx", "type": "gauge"}]
        metrics.append(m)
    module = {
        "get": [o for o in rs.scalars if o in types],
        "walk": [o for o in rs.columns if o in types],
        "metrics": metrics,
        "version": 2,
        "max_repetitions": max_repetitions,
        "retries": retries,
        "timeout": f"{timeout_s:g}s",
        "auth": {"community": community},
    }
    path.write_text(yaml.safe_dump({"nfbench": module}, sort_keys=False))
    return [str(m["name"]) for m in metrics]


# --- net-snmp command lines -----------------------------------------------------------


def netsnmp_lines(
    agents: list[str],
    rs: ReadSet,
    types: dict[str, str],
    *,
    community: str,
    timeout_s: float,
    retries: int,
    max_repetitions: int,
) -> tuple[list[str], int]:
    """One line per net-snmp invocation (for ``xargs -L 1 env``); and invocations per agent.

    ``snmpbulkwalk`` walks one root OID per run, so it walks each table entry
    that holds a column of the read set (all its columns); the scalars come
    in one ``snmpget``.
    """
    common = f"-v2c -c {community} -On -t {timeout_s:g} -r {retries}"
    scalars = [o for o in rs.scalars if o in types]
    roots = [entry for entry, cols in rs.tables().items() if any(c in types for c in cols)]
    lines = []
    for a in agents:
        if scalars:
            lines.append(f"snmpget {common} {a} {' '.join(scalars)}")
        for r in roots:
            lines.append(f"snmpbulkwalk {common} -Cr{max_repetitions} {a} {r}")
    return lines, (1 if scalars else 0) + len(roots)
