#!/usr/bin/env bash
# mDNS/DNS-SD over IPv6 (ff02::fb, AAAA records) between real `chum discover` processes, each
# in its own network namespace with IPv6 addresses only, joined by a bridge in another
# namespace this test creates (never a real interface). Everything is removed by the trap.
#
#  1. three IPv6-only nodes resolve each other by mDNS: the path's URL is ws://[fd79::N]:…;
#  2. the IPv4 mDNS socket runs too but finds nothing (no IPv4 addresses);
#  3. a SIGTERMed node's goodbyes (over IPv6) remove it from the others at once.
# Skips (exit 77) without root, `ip netns` or IPv6.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/netns.sh"
netns_require
[ -e /proc/net/if_inet6 ] || skip "no IPv6 in this kernel"
tmp_setup
tag=c6$$
netns_star "$tag" 3 fd79::
netns_init_nodes 3 0200000001

python3 -B - "$CHUM" "$T" "$tag" "$LIB_DIR" <<'EOF2' && exit 0
import json, signal, subprocess, sys, time
chum, tmp, tag = sys.argv[1:4]
sys.path.insert(0, sys.argv[4])
from netns_nodes import procs, now, load, fail, wait_until, instance_ids, setup, start_discover
setup(chum, tmp, tag, log_lines=20, poll=0.05)
I = instance_ids()
def start(i, secs): start_discover(i, secs, "--no-presence")
def snap(i): return load(f"{tmp}/n{i}/peers.json")
def path(i, j):
    s = snap(i)
    for p in (s or {}).get("peers", []):
        if p["inst"] == I[j]:
            for x in p["paths"]:
                if x["source"] == "mdns": return x
    return None

t0 = now()
for i in (1, 2, 3): start(i, 40)
pairs = [(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b]
# probing (0.25 + 3 × 0.25 s) and announcing take ~1.3 s; generous bound for a loaded machine
if wait_until(20, lambda: all(path(a, b) for a, b in pairs)) is None:
    fail("the IPv6-only nodes did not resolve each other by mDNS")
print(f"all 3 IPv6-only nodes resolved each other by mDNS {(now() - t0) * 1000:.0f} ms after the spawn")
for a, b in pairs:
    x = path(a, b)
    if x["url"] != f"ws://[fd79::{b}]:8765/chum" or x["addr"] != f"fd79::{b}":
        fail(f"node {a}'s path to node {b}: {x}")
s = snap(1)
fams = s["self"]["interfaces"][0].get("mdns")
if fams != ["ipv4", "ipv6"]: fail(f"mDNS families of node 1: {fams}")
if any(a.count(".") == 3 for a in s["self"]["interfaces"][0]["addresses"]): fail("an IPv4 address in the namespace")
if s["stats"]["mdns_malformed"] != 0: fail(f"malformed mDNS: {s['stats']}")
p = [x for x in s["peers"] if x["inst"] == I[2]][0]
if p["trust"] != "hint" or p["state"] != "discovered": fail(p)
out = subprocess.run([chum, "--dir", f"{tmp}/n1", "peers"], capture_output=True, text=True)
if out.returncode != 0 or "fd79::2" not in out.stdout: fail("chum peers: " + out.stdout + out.stderr)
print(out.stdout)

# a clean stop: goodbyes (TTL 0) over ff02::fb; the others drop it about 1 s later
procs[3].send_signal(signal.SIGTERM)
if procs[3].wait(timeout=15) != 0: fail("chum discover did not exit cleanly on SIGTERM")
w = wait_until(10, lambda: path(1, 3) is None and path(2, 3) is None)
if w is None: fail("node 3 still listed after its IPv6 goodbyes")
print(f"cleanly stopped node removed {w * 1000:.0f} ms after its exit")
for i in (1, 2):
    procs[i].send_signal(signal.SIGTERM)
for i, p in procs.items():
    p.wait(timeout=15)
    if "Sanitizer" in open(f"{tmp}/log{i}").read(): fail(f"sanitizer report in node {i}'s log")
print("disc_ipv6: all checks passed")
EOF2
exit 1
