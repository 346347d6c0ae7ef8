#!/usr/bin/env bash
# mDNS/DNS-SD over IPv6 (ff02::fb, AAAA records) between real `chum discover` processes, each
# in its own network namespace with IPv6 addresses only, joined by a bridge in another
# namespace this test creates (never a real interface). Everything is removed by the trap.
#
#  1. three IPv6-only nodes resolve each other by mDNS: the path's URL is ws://[fd79::N]:…;
#  2. the IPv4 mDNS socket runs too but finds nothing (no IPv4 addresses);
#  3. a SIGTERMed node's goodbyes (over IPv6) remove it from the others at once.
# Skips (exit 77) without root, `ip netns` or IPv6.
set -u
CHUM=${CHUM:?CHUM must point at the chum binary}
[ "$(id -u)" = 0 ] || { echo "skip: needs root for network namespaces"; exit 77; }
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 || { echo "skip: no 'ip netns'"; exit 77; }
command -v python3 >/dev/null || { echo "skip: needs python3"; exit 77; }
[ -e /proc/net/if_inet6 ] || { echo "skip: no IPv6 in this kernel"; exit 77; }

tag=c6$$
br=${tag}br
tmp=$(mktemp -d)
cleanup() {
  for i in 1 2 3; do ip netns pids "${tag}n$i" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
  wait 2>/dev/null
  for i in 1 2 3; do ip netns del "${tag}n$i" 2>/dev/null; done
  ip netns del "$br" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; for i in 1 2 3; do echo "--- node $i log"; tail -n 20 "$tmp/log$i" 2>/dev/null; done; exit 1; }

ip netns add "$br" || { echo "skip: cannot create a network namespace"; exit 77; }
ip -n "$br" link add br0 type bridge || { echo "skip: no bridge support"; exit 77; }
# no MLD snooping: the bridge floods ff02::fb like any link-local multicast
ip -n "$br" link set br0 type bridge mcast_snooping 0 2>/dev/null
ip -n "$br" link set br0 up
for i in 1 2 3; do
  ns=${tag}n$i
  ip netns add "$ns"
  # no duplicate address detection: addresses are usable at once (no tentative phase)
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 \
    >/dev/null 2>&1 || { echo "skip: no IPv6 in the namespace"; exit 77; }
  ip -n "$ns" link add eth0 type veth peer name "${tag}b$i" netns "$br" ||
    { echo "skip: no veth support"; exit 77; }
  ip -n "$ns" -6 addr add "fd79::$i/64" dev eth0 nodad || { echo "skip: cannot add an IPv6 address"; exit 77; }
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$br" link set "${tag}b$i" master br0
  ip -n "$br" link set "${tag}b$i" up
  "$CHUM" --dir "$tmp/n$i" init --email "node$i@example.org" --instance "node $i" \
    --hwid "0200000001$(printf %02x "$i")" >/dev/null || fail "chum init $i"
done

python3 - "$CHUM" "$tmp" "$tag" <<'EOF2' && exit 0
import json, signal, subprocess, sys, time
chum, tmp, tag = sys.argv[1:4]
procs = {}
I = {i: json.load(open(f"{tmp}/n{i}/node.json"))["instanceId"] for i in (1, 2, 3)}
def now(): return time.monotonic()
def fail(msg):
    print("FAIL:", msg)
    for i in (1, 2, 3):
        print(f"--- node {i} log")
        try: print("".join(open(f"{tmp}/log{i}").readlines()[-20:]))
        except OSError: pass
    for p in procs.values(): p.kill()
    sys.exit(1)
def start(i, secs):
    out = open(f"{tmp}/out{i}", "w"); log = open(f"{tmp}/log{i}", "a")
    procs[i] = subprocess.Popen(["ip", "netns", "exec", f"{tag}n{i}", chum, "--dir", f"{tmp}/n{i}", "-v",
                                 "discover", "--iface", "eth0", "--duration", str(secs), "--json",
                                 "--no-presence"], stdout=out, stderr=log)
def snap(i):
    try: return json.load(open(f"{tmp}/n{i}/peers.json"))
    except (OSError, ValueError): return None
def path(i, j):
    s = snap(i)
    for p in (s or {}).get("peers", []):
        if p["inst"] == I[j]:
            for x in p["paths"]:
                if x["source"] == "mdns": return x
    return None
def wait_until(limit, cond):
    t0 = now()
    while now() - t0 < limit:
        if cond(): return now() - t0
        time.sleep(0.05)
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
