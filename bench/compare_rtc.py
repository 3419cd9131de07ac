#!/usr/bin/python3
"""Data channels: duplex-bench rtc against node-datachannel (libdatachannel),
alternating, several rounds; prints medians and the ratios duplex / ndc.

  unshare --net sh -c 'ip link set lo up && bench/compare_rtc.py build/apps/duplex-bench [--rounds 5] [--megabytes 64]'

Both sides use only 127.0.0.1. Goodput: payload MB/s, 64 KiB messages with
buffered-amount flow control; setup: first PeerConnection created -> channel
open. duplex runs with RFC 8445's default Ta (50 ms) and with Ta = 5 ms.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--megabytes", type=int, default=64)
    a = ap.parse_args()
    mb = str(a.megabytes)
    variants = {
        "duplex, one process": [a.bench, "rtc", "--json", "--megabytes", mb],
        "duplex, one process, Ta 5 ms": [a.bench, "rtc", "--json", "--megabytes", mb, "--ice-pacing-ms", "5"],
        "duplex, two processes": [a.bench, "rtc", "--json", "--megabytes", mb, "--processes"],
        "duplex, two processes, Ta 5 ms": [a.bench, "rtc", "--json", "--megabytes", mb, "--processes", "--ice-pacing-ms", "5"],
        "node-datachannel, one process": ["node", os.path.join(HERE, "rtc_ndc_bench.js"), "--megabytes", mb],
        "node-datachannel, two processes": ["node", os.path.join(HERE, "rtc_ndc_bench.js"), "--megabytes", mb,
                                            "--processes"],
    }
    results = {k: [] for k in variants}
    for r in range(a.rounds):
        for name, cmd in variants.items():
            results[name].append(run(cmd))
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    med = {}
    print(f"{'variant':34} {'goodput MB/s':>13} {'setup ms':>9}  setup min-max ms")
    for name, rs in results.items():
        g = statistics.median(x["megabytes_per_second"] for x in rs)
        s = statistics.median(x["setup_ms"] for x in rs)
        med[name] = (g, s)
        lo = min(x["setup_ms"] for x in rs)
        hi = max(x["setup_ms"] for x in rs)
        print(f"{name:34} {g:13.1f} {s:9.1f}  {lo:.1f}-{hi:.1f}")
    print("\nratios against node-datachannel in the same setting (goodput: higher is better; setup: lower is better)")
    for name, (g, s) in med.items():
        if not name.startswith("duplex"):
            continue
        base = "node-datachannel, two processes" if "two processes" in name else "node-datachannel, one process"
        base_g, base_s = med[base]
        print(f"  {name:32} goodput x{g / base_g:.2f}  setup x{s / base_s:.2f}   (vs {base})")


if __name__ == "__main__":
    main()
