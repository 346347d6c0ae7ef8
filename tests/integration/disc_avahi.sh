#!/usr/bin/env bash
# mDNS/DNS-SD interop with avahi, inside two network namespaces joined by a veth pair (created
# and removed here; nothing reaches a real interface).
#   namespace A: a private D-Bus system bus and avahi-daemon with its own config and runtime
#                directory (a private mount namespace hides the host's /run/avahi-daemon);
#   namespace B: `chum discover`.
# Checks: avahi-browse resolves our _chum._tcp service with the right TXT records, address and
# port; our browser finds a service published with avahi-publish and lists it as a peer.
# Skips (77) without root, `ip netns`, unshare, dbus-daemon or the avahi tools.
set -u
CHUM=${CHUM:?CHUM must point at the chum binary}
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
for t in ip unshare dbus-daemon avahi-daemon avahi-browse avahi-publish python3 timeout; do
  command -v "$t" >/dev/null || { echo "skip: $t not installed"; exit 77; }
done
ip netns list >/dev/null 2>&1 || { echo "skip: no 'ip netns'"; exit 77; }

tag=ca$$
nsA=${tag}A
nsB=${tag}B
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$nsA" 2>/dev/null
  ip netns del "$nsB" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
  echo "FAIL: $*"
  for f in avahi.log chum.log browse.txt; do echo "--- $f"; tail -n 25 "$tmp/$f" 2>/dev/null; done
  exit 1
}

ip netns add "$nsA" || { echo "skip: cannot create a network namespace"; exit 77; }
ip netns add "$nsB"
# created inside the namespaces: nothing appears in the root namespace
ip -n "$nsA" link add eth0 type veth peer name eth0 netns "$nsB" || { echo "skip: no veth"; exit 77; }
ip -n "$nsA" addr add 10.78.0.1/24 dev eth0
ip -n "$nsB" addr add 10.78.0.2/24 dev eth0
for ns in "$nsA" "$nsB"; do ip -n "$ns" link set eth0 up; ip -n "$ns" link set lo up; done

cat >"$tmp/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/dbus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
cat >"$tmp/avahi.conf" <<EOF
[server]
host-name=avahitest$$
use-ipv4=yes
use-ipv6=no
allow-interfaces=eth0
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
[rlimits]
EOF
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/dbus.sock"

# Namespace A: dbus + avahi-daemon in a private mount namespace with its own /run/avahi-daemon.
ip netns exec "$nsA" unshare --mount --propagation private bash -c "
  mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon || exit 3
  dbus-daemon --config-file='$tmp/dbus.conf' --nofork --nopidfile &
  for i in \$(seq 50); do [ -S '$tmp/dbus.sock' ] && break; sleep 0.1; done
  exec avahi-daemon -f '$tmp/avahi.conf' --no-drop-root --no-chroot --no-rlimits --no-proc-title
" >"$tmp/avahi.log" 2>&1 &
pids+=($!)
up=0
for i in $(seq 100); do
  grep -q "Server startup complete" "$tmp/avahi.log" && { up=1; break; }
  sleep 0.1
done
if [ $up = 0 ]; then
  echo "skip: avahi-daemon did not start in a namespace:"; tail -n 5 "$tmp/avahi.log"; exit 77
fi
echo "avahi-daemon running in namespace A"

# Namespace B: our node.
"$CHUM" --dir "$tmp/node" init --email avahi@example.org --instance "avahi test" --hwid 020000000042 >/dev/null ||
  fail "chum init"
INST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["instanceId"])' "$tmp/node/node.json")
PERSON=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["personId"])' "$tmp/node/node.json")
ip netns exec "$nsB" "$CHUM" --dir "$tmp/node" -v discover --iface eth0 --duration 40 --no-presence \
  --ws-url 'ws://*:8765/chum' >"$tmp/chum.out" 2>"$tmp/chum.log" &
pids+=($!)

# 1. avahi-browse (client of the avahi-daemon in A) resolves our service and its TXT records
ok=0
for attempt in 1 2 3 4 5 6; do
  ip netns exec "$nsA" timeout 5 avahi-browse -rpt _chum._tcp >"$tmp/browse.txt" 2>&1
  grep -q "^=;eth0;IPv4;chum-${INST:0:12};_chum._tcp;local;" "$tmp/browse.txt" && { ok=1; break; }
  sleep 1
done
[ $ok = 1 ] || fail "avahi-browse did not resolve our service"
line=$(grep "^=;eth0;IPv4;chum-${INST:0:12};_chum._tcp;local;" "$tmp/browse.txt" | head -1)
echo "avahi-browse: $line"
python3 - "$line" "$INST" "$PERSON" <<'EOF' || fail "TXT records or SRV/A data seen by avahi are wrong"
import re, sys
line, inst, person = sys.argv[1:4]
f = line.split(";")
# =;iface;proto;name;type;domain;host;address;port;txt
assert f[6] == f"chum-{inst[:12]}.local", f[6]
assert f[7] == "10.78.0.2", f[7]
assert f[8] == "8765", f[8]
txt = dict(kv.split("=", 1) for kv in re.findall(r'"([^"]*)"', f[9]))
assert txt["v"] == "1", txt
assert txt["inst"] == inst, txt
assert txt["person"] == person, txt
assert re.fullmatch(r"[0-9a-f]{64}", txt["pk"]), txt
assert txt["ws"] == "/chum", txt
assert "chum8" in txt["caps"].split(","), txt
print("avahi sees the right SRV, A and TXT records:", sorted(txt))
EOF

# 2. our browser finds a service published through avahi
FAKE=$(printf 'avahi-published' | sha256sum | cut -c1-64)
ip netns exec "$nsA" avahi-publish -s "avahi-svc" _chum._tcp 9999 "v=1" "inst=$FAKE" \
  "person=$FAKE" "pk=$FAKE" "ws=/x" "caps=chum8" >"$tmp/publish.log" 2>&1 &
pids+=($!)
check_peer() {
  python3 - "$tmp/node/peers.json" "$FAKE" <<'EOF'
import json, sys
snap = json.load(open(sys.argv[1]))
for p in snap["peers"]:
    if p["inst"] == sys.argv[2]:
        m = [x for x in p["paths"] if x["source"] == "mdns"]
        assert p["trust"] == "hint", p
        assert p["name"] == "avahi-svc", p
        assert m and m[0]["url"] == "ws://10.78.0.1:9999/x", m
        sys.exit(0)
sys.exit(1)
EOF
}
found=0
for i in $(seq 200); do  # grep is cheap; python (slow to start on a loaded host) checks once
  if grep -q "$FAKE" "$tmp/node/peers.json" 2>/dev/null; then
    sleep 0.3
    check_peer && { found=1; break; }
  fi
  sleep 0.1
done
[ $found = 1 ] || fail "our browser did not find the service published with avahi-publish"
echo "our browser found the avahi-published service (hint, ws://10.78.0.1:9999/x)"
grep -q "Sanitizer" "$tmp/chum.log" && fail "sanitizer report"
echo "disc_avahi: all checks passed"
exit 0
