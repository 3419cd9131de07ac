#!/usr/bin/python3
"""Data channels through a TURN relay (coturn) against the direct path, on the
same machine: duplex-bench rtc relay-only through coturn (the sender only: each
packet crosses the relay once; or both peers: twice, relay to relay) and
without it, alternating, several rounds; prints medians and relayed / direct.

  unshare --net sh -c 'ip link set lo up && bench/compare_turn.py build/apps/duplex-bench [--rounds 5] [--megabytes 128]'

coturn (Debian) runs on 127.0.0.1 for the length of the run, with long-term
credentials and --allow-loopback-peers; the relay path is UDP to the server
and ChannelData. Goodput: payload MB/s, 64 KiB messages with buffered-amount
flow control. Mind the cores: coturn is a third busy process.
"""
import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd):
    """The result, with cpu_per_mb: the CPU seconds duplex-bench (both peers) spent per MiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=180).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r["cpu_per_mb"] = cpu / (r["bytes"] / (1 << 20))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--megabytes", type=int, default=128)
    args = ap.parse_args()
    ifs = [name for _, name in socket.if_nameindex()]
    if ifs != ["lo"]:
        sys.exit(f"run this in a loopback-only namespace (interfaces: {ifs}): unshare --net")
    work = tempfile.mkdtemp(prefix="duplex-turn-bench.")
    turn = subprocess.Popen(
        ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port=3478",
         "--min-port=49152", "--max-port=49999", "--lt-cred-mech", "--user=bench:bench", "--realm=duplex",
         "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--no-multicast-peers",
         "--log-file=/dev/null", f"--pidfile={work}/turn.pid", f"--userdb={work}/turndb"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(1)  # coturn prints nothing we can wait on with --log-file=/dev/null; a failed start shows below
        if turn.poll() is not None:
            sys.exit("coturn did not start")
        relay_base = ["--turn", "turn:127.0.0.1:3478", "--turn-user", "bench", "--turn-pass", "bench"]
        rows = []
        for processes, sides in ((False, "one"), (True, "one"), (False, "both"), (True, "both")):
            relay = relay_base + ["--relay", sides]
            extra = ["--processes"] if processes else []
            direct, relayed, dcpu, rcpu = [], [], [], []
            for _ in range(args.rounds):
                base = [args.bench, "rtc", "--json", "--megabytes", str(args.megabytes)] + extra
                a = run(base)
                b = run(base + relay)
                direct.append(a["megabytes_per_second"])
                relayed.append(b["megabytes_per_second"])
                dcpu.append(a["cpu_per_mb"] * 1000)
                rcpu.append(b["cpu_per_mb"] * 1000)
            d, r = statistics.median(direct), statistics.median(relayed)
            dc, rc = statistics.median(dcpu), statistics.median(rcpu)
            rows.append((processes, sides, d, r, min(direct), max(direct), min(relayed), max(relayed), dc, rc))
        print("| peers | relayed | direct MB/s (min-max) | relayed MB/s (min-max) | goodput relayed / direct "
              "| duplex CPU ms per MiB, direct | relayed | CPU relayed / direct |")
        print("|---|---|---|---|---|---|---|---|")
        for processes, sides, d, r, dmin, dmax, rmin, rmax, dc, rc in rows:
            name = "two processes" if processes else "one process"
            through = "sender only (once)" if sides == "one" else "both (twice)"
            print(f"| {name} | {through} | {d:.1f} ({dmin:.1f}-{dmax:.1f}) | {r:.1f} ({rmin:.1f}-{rmax:.1f}) | **{r / d:.2f}** "
                  f"| {dc:.2f} | {rc:.2f} | **{rc / dc:.2f}** |")
    finally:
        os.killpg(turn.pid, signal.SIGTERM)
        turn.wait(timeout=5)


if __name__ == "__main__":
    main()
