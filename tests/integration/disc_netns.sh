#!/usr/bin/env bash
# Discovery between real `chum discover` processes, each in its own network namespace, joined
# by a bridge inside another namespace this test creates (never a real interface: all
# broadcast and multicast stays inside them). Everything is removed by the trap.
#
#  1. three nodes discover each other by UDP presence within 1 s of start, and by mDNS;
#  2. a killed node (SIGKILL: no goodbye) disappears after the 15 s expiry;
#  3. the restarted node is found again at once, with a higher boot counter;
#  4. chum peers / chum topology read the snapshot; a clean stop removes the peer at once;
#  5. every pair has a round-trip time (UDP echo probes) within a few seconds.
# Skips (exit 77) without root or `ip netns`.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/netns.sh"
netns_require
tmp_setup
tag=cd$$
netns_star "$tag" 3 10.77.0
netns_init_nodes 3 0200000000

# The checks run in one Python process: starting python per poll is far too slow on a
# loaded machine. It starts and stops the nodes with `ip netns exec` and polls the snapshots.
python3 -B - "$CHUM" "$T" "$tag" "$LIB_DIR" <<'EOF2' && exit 0
import json, os, signal, subprocess, sys, time
chum, tmp, tag = sys.argv[1:4]
sys.path.insert(0, sys.argv[4])
from netns_nodes import procs, now, load, fail, wait_until, instance_ids, setup, start_discover as start
setup(chum, tmp, tag, log_lines=20, poll=0.02)
I = instance_ids()
def snap(i): return load(f"{tmp}/n{i}/peers.json")
def sees(i, j, src="any"):
    s = snap(i)
    if not s: return False
    for p in s["peers"]:
        if p["inst"] == I[j]:
            return src == "any" or any(x["source"] == src for x in p["paths"])
    return False

# 1. Node 3 runs UDP presence only, so that its entry expires on the 15 s UDP expiry (an mDNS
#    path lives for the SRV TTL of 120 s, RFC 6762: too long for a test).
t0 = now()
start(1, 60); start(2, 60); start(3, 60, "--no-mdns")
t_last = now()
pairs = [(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b]
if wait_until(10, lambda: all(sees(a, b, "udp") for a, b in pairs)) is None:
    fail("nodes did not discover each other by UDP presence")
print(f"all 3 nodes see each other {(now() - t_last) * 1000:.0f} ms after the last spawn (wall)")
# "within 1 s of start": by the nodes' own clocks, i saw j at most 1 s after both were running
def latency(i, j):
    started = {k: snap(k)["self"]["startedAt"] for k in (i, j)}
    seen = [p for p in snap(i)["peers"] if p["inst"] == I[j]][0]["firstSeenAt"]
    return seen - max(started.values())
worst = max(latency(a, b) for a, b in pairs)
print(f"discovery latency after start (worst pair): {worst:.0f} ms")
if worst > 1000: fail(f"discovery took {worst:.0f} ms (> 1 s)")
# round-trip times: every peer with a UDP path is probed (echo on 49497) soon after it appears
def rtt(i, j):
    s = snap(i)
    p = [x for x in (s or {}).get("peers", []) if x["inst"] == I[j]]
    return p[0].get("rttMs") if p else None
if wait_until(10, lambda: all(isinstance(rtt(a, b), (int, float)) for a, b in pairs)) is None:
    fail("round-trip times missing: " + str({(a, b): rtt(a, b) for a, b in pairs}))
worst_rtt = max(rtt(a, b) for a, b in pairs)
print(f"round-trip times measured for all pairs (worst {worst_rtt:.3f} ms)")
if not 0 < worst_rtt < 2000: fail(f"implausible round-trip time {worst_rtt} ms")
w = wait_until(8, lambda: sees(1, 2, "mdns") and sees(2, 1, "mdns"))
if w is None: fail("nodes 1 and 2 did not find each other by mDNS")
print(f"mDNS: nodes 1 and 2 resolved each other ({(now()-t0)*1000:.0f} ms after start)")

# the snapshot through the commands
out = subprocess.run([chum, "--dir", f"{tmp}/n1", "peers", "--json"], capture_output=True, text=True)
d = json.loads(out.stdout)
p = {x["inst"]: x for x in d["peers"]}
if set(p) != {I[2], I[3]}: fail(f"chum peers --json: {list(p)}")
for x in p.values():
    if x["trust"] != "self-signed" or x["state"] != "discovered" or len(x["person"]) != 64: fail(x)
    if not any(y["source"] == "udp" and y["url"].startswith("ws://10.77.0.") for y in x["paths"]): fail(x)
out = subprocess.run([chum, "--dir", f"{tmp}/n1", "peers"], capture_output=True, text=True)
if out.returncode != 0 or "self-signed" not in out.stdout or "ms " not in out.stdout:
    fail("chum peers (text): " + out.stdout + out.stderr)
print(out.stdout)
def topo_ok():
    out = subprocess.run([chum, "--dir", f"{tmp}/n1", "topology", "--json"], capture_output=True, text=True)
    try: t = json.loads(out.stdout)
    except ValueError: return False
    # our two edges plus the sets learnt from the others (neighbour queries, 0x31/0x32)
    return len(t["nodes"]) == 3 and len(t["edges"]) >= 6
if wait_until(12, topo_ok) is None: fail("chum topology --json did not show all six edges")
out = subprocess.run([chum, "--dir", f"{tmp}/n1", "topology"], capture_output=True, text=True)
print(out.stdout)
out = subprocess.run([chum, "--dir", f"{tmp}/n1", "topology", "--dot"], capture_output=True, text=True)
if " -- " not in out.stdout: fail("chum topology --dot: " + out.stdout)

# 2. kill node 3 without a goodbye: it disappears 15 s after its last presence, not before
procs[3].kill(); procs[3].wait()
time.sleep(0.3)
def last_heard(i, j):  # wall ms when i last heard j's presence
    s = snap(i)
    p = [x for x in s["peers"] if x["inst"] == I[j]][0]
    return s["time"] - [x for x in p["paths"] if x["source"] == "udp"][0]["lastHeardMsAgo"]
heard = last_heard(1, 3)
while time.time() * 1000 < heard + 14000:
    if not sees(1, 3): fail("node 3 vanished before the expiry")
    time.sleep(0.2)
if wait_until(5, lambda: not sees(1, 3) and not sees(2, 3)) is None: fail("killed node 3 did not disappear")
gone = time.time() * 1000 - heard
print(f"killed node disappeared {gone:.0f} ms after its last presence")
if not 14000 <= gone <= 16500: fail(f"expiry after {gone:.0f} ms, expected 15 000")

# 3. restart: found at once, with the next boot counter (the killed process's snapshot goes
#    first, so that only the new process's file counts)
os.remove(f"{tmp}/n3/peers.json")
start(3, 40, "--no-mdns")
t_re = now()
if wait_until(10, lambda: sees(1, 3, "udp") and sees(3, 1, "udp")) is None: fail("restarted node 3 not found")
ms = max(latency(1, 3), latency(3, 1))
print(f"restarted node found {ms:.0f} ms after its start ({(now() - t_re) * 1000:.0f} ms after the spawn)")
if ms > 1000: fail(f"restarted node found after {ms:.0f} ms (> 1 s)")
b = [x for x in snap(1)["peers"] if x["inst"] == I[3]][0]["boot"]
if b != 2: fail(f"boot counter of the restarted node is {b}, expected 2")

# 4. clean stop of node 2 (SIGTERM): offline presence + goodbyes; node 1 drops it within ~2 s
procs[2].send_signal(signal.SIGTERM)
if procs[2].wait(timeout=10) != 0: fail("chum discover did not exit cleanly on SIGTERM")
final = json.load(open(f"{tmp}/out2"))
if len(final["peers"]) < 1: fail("final --json output of node 2")
w = wait_until(3, lambda: not sees(1, 2))
if w is None: fail("node 1 still lists node 2 after its goodbye")
print(f"cleanly stopped node removed after {w*1000:.0f} ms")
for p in procs.values():
    p.send_signal(signal.SIGTERM)
for i, p in procs.items():
    p.wait(timeout=10)
    if "Sanitizer" in open(f"{tmp}/log{i}").read(): fail(f"sanitizer report in node {i}'s log")
print("disc_netns: all checks passed")
EOF2
exit 1
