#!/usr/bin/env bash
# Discovery inside the node: three `chum run --listen 0.0.0.0:8765 --discover eth0` processes,
# each in its own network namespace joined by a bridge in another namespace (all created and
# removed by this test; no traffic reaches a real interface). The nodes know each other
# (chum peer add) but without URLs, so every session comes from discovery.
#
#  1. they find each other and start sessions: each node ends with one ready session per peer
#     (no duplicates) and `chum peers` shows both peers connected, with round-trip times;
#     node 1 does not trust node 3 (chum peer untrust), so only node 3 dials that pair;
#  2. a SIGKILLed node that restarts announces itself with a higher boot counter and is
#     reconnected at once (well before the loop's 5-10 s re-dial), again without duplicates.
# Skips (exit 77) without root or `ip netns`.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/netns.sh"
netns_require
tmp_setup
tag=cr$$
netns_star "$tag" 3 10.79.0
netns_init_nodes 3 0200000002
for i in 1 2 3; do
  for j in 1 2 3; do
    [ "$i" = "$j" ] && continue
    "$CHUM" --dir "$T/n$i" peer add "$T/id$j.json" >/dev/null || die "peer add $j to $i"
  done
done
# node 1 does not trust node 3 (chum peer untrust): it never dials it; node 3 dials node 1
p3=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["personId"])' "$T/id3.json")
"$CHUM" --dir "$T/n1" peer untrust "$p3" >/dev/null || die "peer untrust"

python3 -B - "$CHUM" "$T" "$tag" "$LIB_DIR" <<'EOF2' && exit 0
import json, os, signal, subprocess, sys, time
chum, tmp, tag = sys.argv[1:4]
sys.path.insert(0, sys.argv[4])
from netns_nodes import procs, now, load, fail, wait_until, instance_ids, setup
N = (1, 2, 3)
setup(chum, tmp, tag, N, log_lines=40, poll=0.1)
I = instance_ids()
P = {i: json.load(open(f"{tmp}/id{i}.json"))["personId"] for i in N}
def start(i):
    procs[i] = subprocess.Popen(["ip", "netns", "exec", f"{tag}n{i}", chum, "--dir", f"{tmp}/n{i}", "-v",
                                 "run", "--listen", "0.0.0.0:8765", "--discover", "eth0",
                                 "--no-status", "--log", f"{tmp}/log{i}"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/err{i}", "a"))
def sessions(i):  # ready sessions per remote person (from run-status.json)
    s = load(f"{tmp}/n{i}/run-status.json")
    out = {}
    for x in (s or {}).get("sessions", []):
        if x.get("state") in ("ready", "syncing", "synced"):
            out[x["personId"]] = out.get(x["personId"], 0) + 1
    return out
def connected(i, j):  # i's peer table shows j connected
    s = load(f"{tmp}/n{i}/peers.json")
    return any(p["inst"] == I[j] and p["state"] == "connected" for p in (s or {}).get("peers", []))
def all_up(nodes):
    return all(connected(a, b) for a in nodes for b in nodes if a != b)

t0 = now()
for i in N: start(i)
w = wait_until(60, lambda: all_up(N))
if w is None: fail("the nodes did not connect to each other")
print(f"3 nodes discovered each other and have sessions {w * 1000:.0f} ms after the spawn")
time.sleep(1.5)  # let a duplicate, if any, show up in run-status.json
for i in N:
    s = sessions(i)
    others = {P[j] for j in N if j != i}
    if set(s) != others or any(v != 1 for v in s.values()):
        fail(f"node {i}: ready sessions per peer {s} (expected one per peer)")
print("one ready session per pair, no duplicates")
snap = load(f"{tmp}/n1/peers.json")
for p in snap["peers"]:
    if p["trust"] != "known" or p["state"] != "connected": fail(p)
out = subprocess.run([chum, "--dir", f"{tmp}/n1", "peers"], capture_output=True, text=True)
print(out.stdout)
# node state in the announcements: connections, sync state, store, memory (chumHealth/Store)
def health_ok():
    s = load(f"{tmp}/n1/peers.json")
    p = [x for x in (s or {}).get("peers", []) if x["inst"] == I[2]]
    return p and "conn=2" in p[0]["health"] and "sync=" in p[0]["health"] and "heap=" in p[0]["health"] \
        and "obj=" in p[0]["store"] and "free=" in p[0]["store"]
if wait_until(15, health_ok) is None:
    fail("node 2's announced health/store: " + str([(x["health"], x["store"]) for x in load(f"{tmp}/n1/peers.json")["peers"]]))
print("announced health of node 2:", [x["health"] for x in load(f"{tmp}/n1/peers.json")["peers"] if x["inst"] == I[2]][0])
if "node3@example.org" in "".join(l for l in open(f"{tmp}/log1") if "where discovery found it" in l):
    fail("node 1 dialled node 3, which it does not trust")
dialled = sum(open(f"{tmp}/log{i}").read().count("where discovery found it") for i in N)
if dialled < 3: fail(f"only {dialled} sessions were dialled by discovery")

# kill node 3 (no goodbye); its sessions end; restart it: found and reconnected at once
procs[3].kill(); procs[3].wait()
if wait_until(30, lambda: not connected(1, 3) and not connected(2, 3)) is None:
    fail("nodes 1 and 2 still show node 3 connected after it was killed")
before = {i: open(f"{tmp}/log{i}").read().count("where discovery found it") for i in N}
t_re = now()
for f in ("peers.json", "run-status.json"):  # only the new process's files count
    try: os.remove(f"{tmp}/n3/{f}")
    except OSError: pass
start(3)
w = wait_until(60, lambda: all_up(N))
if w is None: fail("the restarted node was not reconnected")
print(f"restarted node reconnected to both peers {w * 1000:.0f} ms after its spawn")
b = [p for p in load(f"{tmp}/n1/peers.json")["peers"] if p["inst"] == I[3]][0]["boot"]
if b != 2: fail(f"boot counter of the restarted node: {b}")
after = {i: open(f"{tmp}/log{i}").read().count("where discovery found it") for i in N}
if sum(after.values()) - sum(before.values()) < 2: fail(f"reconnection not dialled by discovery: {before} -> {after}")
time.sleep(1.5)
for i in N:
    s = sessions(i)
    if any(v != 1 for v in s.values()) or len(s) != 2: fail(f"node {i} after the restart: {s}")
print("one ready session per pair after the restart")
for p in procs.values(): p.send_signal(signal.SIGTERM)
for i, p in procs.items():
    try: p.wait(timeout=20)
    except subprocess.TimeoutExpired: fail(f"node {i} did not stop on SIGTERM")
    for f in (f"{tmp}/log{i}", f"{tmp}/err{i}"):
        if "Sanitizer" in open(f).read(): fail(f"sanitizer report in {f}")
for i in N: print(f"--- node {i}:", "".join(l for l in open(f"{tmp}/log{i}") if "discovery found" in l or "reconnect in" in l or "cannot dial" in l))
print("disc_run: all checks passed")
EOF2
exit 1
