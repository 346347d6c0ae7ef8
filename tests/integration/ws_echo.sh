#!/usr/bin/env bash
# chum ws serve / chum ws connect over a real socket on 127.0.0.1, then interop with an
# independent implementations (Python websockets and wsproto, Node ws from npm) both ways, and
# the Autobahn-style negative cases over raw sockets. Everything stays on 127.0.0.1; every
# process is bounded by `timeout` and killed by the trap.
. "$(dirname "$0")/lib/common.sh"
HERE=$INTEGRATION_DIR
PEER="/usr/bin/python3 $HERE/ws_peer.py"
tmp_setup

start_server() { # args: extra options; sets PORT and SPID
  spawn_split 120 "$T/serve.out" "$T/serve.err" "$CHUM" ws serve --listen 127.0.0.1:0 "$@"
  SPID=$SPAWNED
  PORT=$(wait_port "$T/serve.out" 5) || die "server did not start:" "$T/serve.err"
}
# start_peer OUT PORTFILE CMD...: an independent server that writes its port to PORTFILE;
# sets PEER_PID and PEER_PORT
start_peer() {
  local out=$1 pf=$2
  shift 2
  rm -f "$pf"
  spawn 60 "$out" "$@"
  PEER_PID=$SPAWNED
  wait_up_to 5 test -s "$pf"
  PEER_PORT=$(cat "$pf" 2>/dev/null)
}

# ---- 1. chum <-> chum echo --------------------------------------------------------------------
start_server --echo
{
  echo "hello"
  echo "ünïcödé ✓"
  head -c 6000 /dev/zero | tr '\0' 'x'; echo
  for i in $(seq 1 200); do echo "line $i"; done
} > "$T/in.txt"
c ws connect "ws://127.0.0.1:$PORT/chum" --metrics "$T/m.json" < "$T/in.txt" > "$T/out.txt" 2> "$T/c.err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/in.txt" "$T/out.txt"; then ok "chum echo: 203 lines (up to 6000 bytes) came back in order"
else bad "chum echo (rc $rc)"; diff <(head -c 300 "$T/in.txt") <(head -c 300 "$T/out.txt") | head; cat "$T/c.err"; fi
if grep -q '"messagesSent":203,' "$T/m.json" && grep -q '"messagesReceived":203,' "$T/m.json"; then ok "metrics file counts 203 sent and received"
else bad "metrics: $(cat "$T/m.json" 2>/dev/null)"; fi

# an oversize line is refused loudly by the sender, the rest still goes
{ echo a; head -c 9000 /dev/zero | tr '\0' 'y'; echo; echo b; } | c ws connect "ws://127.0.0.1:$PORT/" > "$T/out2.txt" 2> "$T/c2.err"
if [ "$(cat "$T/out2.txt")" = "$(printf 'a\nb')" ] && grep -q "too big\|exceeds" "$T/c2.err"; then ok "oversize line refused with a message, others delivered"
else bad "oversize line: $(cat "$T/c2.err")"; fi

# connecting to a closed port fails with exit 1 after the attempts
timeout -k 10 60 "$CHUM" ws connect "ws://127.0.0.1:1/" --attempts 2 < /dev/null > /dev/null 2> "$T/c3.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "could not connect" "$T/c3.err"; then ok "unreachable server: exit 1 with a reason"
else bad "unreachable server: rc $rc $(cat "$T/c3.err")"; fi

# usage errors
"$CHUM" ws connect "wsx://127.0.0.1:$PORT/" < /dev/null > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "a bad URL scheme is a usage error" || bad "bad scheme rc $rc"
"$CHUM" ws --help | grep -q "chum ws serve" && ok "chum ws --help" || bad "chum ws --help"
"$CHUM" ws serve --listen nonsense > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "bad --listen is a usage error" || bad "bad --listen rc $rc"

# ---- 2. print server, persistent mode across a killed client ---------------------------------
kill "$SPID"; wait "$SPID" 2>/dev/null
start_server --persist --dir "$T/srvdir"
SDIR=$T/node
printf 'p1\np2\np3\n' | c --dir "$SDIR" ws connect "ws://127.0.0.1:$PORT/" --persist > /dev/null 2> "$T/p.err"
sleep 0.3
if [ "$(cat "$T/serve.out" | grep -v '^listening')" = "$(printf 'p1\np2\np3')" ]; then ok "persistent mode delivers p1..p3"
else bad "persistent mode: $(cat "$T/serve.out")"; fi
# queue while the server is down, kill the client, restart both: delivered once
kill "$SPID"; wait "$SPID" 2>/dev/null
printf 'q1\nq2\n' > "$T/q.txt"
timeout -s KILL 2 "$CHUM" --dir "$SDIR" ws connect "ws://127.0.0.1:$PORT/" --persist --attempts 0 < "$T/q.txt" > /dev/null 2>&1 &
wait $! 2>/dev/null
OLDPORT=$PORT
spawn_split 120 "$T/serve.out" "$T/serve.err" "$CHUM" --dir "$T/srvdir" ws serve --listen "127.0.0.1:$OLDPORT" --persist
SPID=$SPAWNED
sleep 0.3
c --dir "$SDIR" ws connect "ws://127.0.0.1:$OLDPORT/" --persist < /dev/null > /dev/null 2> "$T/p2.err"
sleep 0.3
if [ "$(grep -v '^listening' "$T/serve.out")" = "$(printf 'q1\nq2')" ]; then ok "messages queued by a killed client survive the restart, delivered once"
else bad "persistence across kill: '$(cat "$T/serve.out")' $(cat "$T/p2.err")"; fi
kill "$SPID"; wait "$SPID" 2>/dev/null

# ---- 3. independent implementations ---------------------------------------------------------
if ! $PEER has-websockets 2>/dev/null; then
  echo "skip - python3-websockets is not installed (Debian: python3-websockets)"
else
  start_server --echo
  if timeout -k 10 60 $PEER ws-client "ws://127.0.0.1:$PORT/any/path" > "$T/py.out" 2>&1; then ok "$(tail -1 "$T/py.out" | sed 's/^ok - //')"
  else bad "python client: $(cat "$T/py.out")"; fi
  if timeout -k 10 60 $PEER negatives "$PORT" > "$T/neg.out" 2>&1; then ok "Autobahn-style negatives: $(grep -c '^ok' "$T/neg.out") cases"
  else bad "negatives: $(cat "$T/neg.out")"; fi
  kill "$SPID"; wait "$SPID" 2>/dev/null

  start_peer "$T/pys.out" "$T/pyport" $PEER ws-server "$T/pyport" 3
  printf 'one\ntwo\nthree\n' | c ws connect "ws://127.0.0.1:$PEER_PORT/" > "$T/pyc.out" 2> "$T/pyc.err"
  wait "$PEER_PID"; prc=$?
  if [ $prc -eq 0 ] && [ "$(cat "$T/pyc.out")" = "$(printf 'one\ntwo\nthree')" ]; then ok "$(tail -1 "$T/pys.out" | sed 's/^ok - //')"
  else bad "chum client -> python server: rc $prc $(cat "$T/pys.out") $(cat "$T/pyc.err")"; fi
fi

if $PEER has-wsproto 2>/dev/null; then
  start_server --echo
  if timeout -k 10 60 $PEER wsproto-client "$PORT" > "$T/wsp.out" 2>&1; then ok "$(tail -1 "$T/wsp.out" | sed 's/^ok - //')"
  else bad "wsproto client: $(cat "$T/wsp.out")"; fi
  kill "$SPID"; wait "$SPID" 2>/dev/null
  start_peer "$T/wps.out" "$T/wport" $PEER wsproto-server "$T/wport" 4
  { echo "eins"; echo "zwei ✓"; head -c 5000 /dev/zero | tr '\0' 'z'; echo; echo "vier"; } > "$T/wpin.txt"
  c ws connect "ws://127.0.0.1:$PEER_PORT/" < "$T/wpin.txt" > "$T/wpc.out" 2> "$T/wpc.err"
  wait "$PEER_PID"; wrc=$?
  if [ $wrc -eq 0 ] && cmp -s "$T/wpin.txt" "$T/wpc.out"; then ok "$(tail -1 "$T/wps.out" | sed 's/^ok - //')"
  else bad "chum client -> wsproto server: rc $wrc $(cat "$T/wps.out") $(cat "$T/wpc.err")"; fi
else
  echo "skip - python3-wsproto is not installed"
fi

# Node: the npm `ws` package pinned by tests/interop-node/package-lock.json (scripts/deps.sh
# runs `npm ci` there; `make deps` does it)
NODE_PEER="$HERE/ws_peer_node.js"
NODE_MODULES=$(cd "$HERE/../interop-node" && pwd)/node_modules
if command -v node > /dev/null && [ -f "$NODE_MODULES/ws/package.json" ]; then
  NODE_WS_VERSION=$(NODE_PATH="$NODE_MODULES" node -p "require('ws/package.json').version")
  LOCKED=$(node -p "require('$HERE/../interop-node/package-lock.json').packages['node_modules/ws'].version")
  [ "$NODE_WS_VERSION" = "$LOCKED" ] && ok "node ws $NODE_WS_VERSION is the locked version" || bad "node ws $NODE_WS_VERSION, lock says $LOCKED"
  start_server --echo
  if NODE_PATH="$NODE_MODULES" timeout -k 10 60 node "$NODE_PEER" client "ws://127.0.0.1:$PORT/node" > "$T/nc.out" 2>&1; then ok "$(tail -1 "$T/nc.out" | sed 's/^ok - //')"
  else bad "node client: $(cat "$T/nc.out")"; fi
  kill "$SPID"; wait "$SPID" 2>/dev/null
  start_peer "$T/ns.out" "$T/nport" env NODE_PATH="$NODE_MODULES" node "$NODE_PEER" server "$T/nport" 3
  printf 'uno\ndos\ntres\n' | c ws connect "ws://127.0.0.1:$PEER_PORT/" > "$T/nsc.out" 2> "$T/nsc.err"
  wait "$PEER_PID"; nrc=$?
  if [ $nrc -eq 0 ] && [ "$(cat "$T/nsc.out")" = "$(printf 'uno\ndos\ntres')" ]; then ok "$(tail -1 "$T/ns.out" | sed 's/^ok - //')"
  else bad "chum client -> node server: rc $nrc $(cat "$T/ns.out") $(cat "$T/nsc.err")"; fi
else
  echo "skip - node or the npm ws package is missing (make deps runs npm ci in tests/interop-node)"
fi

# wss://: a TLS echo server (Python websockets + ssl) with a self-signed certificate
if $PEER has-websockets 2>/dev/null && command -v openssl > /dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$T/key.pem" -out "$T/cert.pem" > /dev/null 2>&1
  start_peer "$T/tls.out" "$T/tport" $PEER wss-server "$T/tport" "$T/cert.pem" "$T/key.pem"
  TS=$PEER_PID
  TPORT=$PEER_PORT
  printf 'secret 1\nsecret 2\n' | c ws connect "wss://localhost:$TPORT/" --ca "$T/cert.pem" > "$T/tc.out" 2> "$T/tc.err"
  if [ "$(cat "$T/tc.out")" = "$(printf 'secret 1\nsecret 2')" ]; then ok "wss:// echo through TLS (mbedTLS client, Python ssl server)"
  else bad "wss echo: $(cat "$T/tc.err")"; fi
  c ws connect "wss://localhost:$TPORT/" --attempts 1 < /dev/null > /dev/null 2> "$T/tc2.err"; rc=$?
  if [ $rc -eq 1 ] && grep -q "certificate" "$T/tc2.err"; then ok "wss:// with an untrusted certificate is refused"
  else bad "untrusted certificate: rc $rc $(cat "$T/tc2.err")"; fi
  kill "$TS" 2>/dev/null; wait "$TS" 2>/dev/null
else
  echo "skip - wss:// test needs python3-websockets and openssl"
fi

start_peer "$T/ms.out" "$T/mport" $PEER masked-server "$T/mport"
timeout -k 10 20 "$CHUM" ws connect "ws://127.0.0.1:$PEER_PORT/" --attempts 1 < /dev/null > /dev/null 2>&1
wait "$PEER_PID"; mrc=$?
if [ $mrc -eq 0 ]; then ok "$(tail -1 "$T/ms.out" | sed 's/^ok - //')"; else bad "masked server frame: $(cat "$T/ms.out")"; fi

finish
