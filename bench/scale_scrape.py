"""Child process of bench/snmp_scale.py: scrape snmp_exporter once per agent, print JSON.

    python bench/scale_scrape.py --exporter 127.0.0.1:9116 --module nfbench \
        --metrics nf_1_3_... --in-flight 50 --scrape-timeout 30 --deadline 600 < agents

Plays Prometheus: ``GET /snmp?module=...&target=<agent>`` for every agent,
at most ``--in-flight`` at once, each with the scrape-timeout header; counts
the samples of the module's metrics (one per varbind) and the failures
(non-200, connection errors, or an exporter that reports no samples).  The
whole round stops at ``--deadline`` seconds whatever is left.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def scrape(host: str, port: int, path: str, timeout_s: float, prefixes: tuple[bytes, ...]):
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s + 5)
    try:
        conn.request("GET", path, headers={"X-Prometheus-Scrape-Timeout-Seconds": f"{timeout_s:g}"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    samples = sum(1 for line in body.split(b"\n") if line.startswith(prefixes))
    return resp.status, samples, body[:200] if resp.status != 200 else b""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exporter", required=True, help="host:port")
    ap.add_argument("--module", required=True)
    ap.add_argument("--metrics", required=True, help="comma-separated metric names")
    ap.add_argument("--in-flight", type=int, default=50)
    ap.add_argument("--scrape-timeout", type=float, default=30)
    ap.add_argument("--deadline", type=float, default=600)
    args = ap.parse_args()
    host, port = args.exporter.rsplit(":", 1)
    agents = [a.strip() for a in sys.stdin if a.strip()]
    prefixes = tuple(m.encode() + b"{" for m in args.metrics.split(",")) + tuple(
        m.encode() + b" " for m in args.metrics.split(",")
    )
    end = time.monotonic() + args.deadline
    lock = threading.Lock()
    tally = {"samples": 0, "ok": 0, "failed": 0, "empty": 0, "skipped": 0}
    errors: dict[str, int] = {}

    def one(agent: str) -> None:
        if time.monotonic() > end:
            with lock:
                tally["skipped"] += 1
            return
        try:
            status, samples, head = scrape(
                host,
                int(port),
                f"/snmp?module={args.module}&target={agent}",
                args.scrape_timeout,
                prefixes,
            )
        except (OSError, http.client.HTTPException) as exc:
            status, samples, head = 0, 0, type(exc).__name__.encode()
        with lock:
            tally["samples"] += samples
            if status == 200 and samples:
                tally["ok"] += 1
            elif status == 200:
                tally["empty"] += 1
            else:
                tally["failed"] += 1
                key = f"{status}: {head.decode(errors='replace').strip()[:80]}"
                errors[key] = errors.get(key, 0) + 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.in_flight) as pool:
        list(pool.map(one, agents))
    tally_out = {**tally, "wall_s": time.perf_counter() - t0, "errors": errors}
    print(json.dumps(tally_out), flush=True)


if __name__ == "__main__":
    main()
