"""How long ``netfeed validate`` takes on a network of 50,000 devices from a
CSV inventory (the loader's whole path: CSV decode, every row against the
device model, groups, tags, duplicate ids).  Prints the median of 3 runs.

    .venv/bin/python bench/inventory_validate.py [--devices 50000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp)
        (cfg / "networks").mkdir()
        (cfg / "netfeed.yaml").write_text("bus: {backend: embedded}\n")
        (cfg / "networks" / "big.yaml").write_text(
            "network: big\ndefaults: {snmp: {community: 'env:BENCH_COMMUNITY'}}\n"
            "groups: {edge: {tags: {role: edge}}}\ninventories: [{csv: ../big.csv}]\n"
            "datasets: {interfaces: {interval_s: 300}}\n"
        )
        with (cfg / "big.csv").open("w") as f:
            f.write("id,host,port,groups,tag:rack\n")
            for i in range(args.devices):
                f.write(f"dev-{i:06d},127.0.{i // 256 % 256}.{i % 256},161,edge,r{i % 40}\n")
        times = []
        for _ in range(args.runs):
            t0 = time.monotonic()
            r = subprocess.run(
                [sys.executable, "-m", "netfeed.cli", "validate", str(cfg)],
                capture_output=True,
                text=True,
                env={**os.environ, "BENCH_COMMUNITY": "x"},
                timeout=600,
            )
            times.append(time.monotonic() - t0)
            if r.returncode:
                sys.exit(r.stderr)
    print(
        f"validate {args.devices} devices: median {statistics.median(times):.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)}; process start included)"
    )


if __name__ == "__main__":
    main()
