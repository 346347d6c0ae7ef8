#!/usr/bin/env bash
# The comm-server relay end to end on 127.0.0.1: `chum commserver` as the relay, alice's node
# registered at it (`chum run --commserver URL`, no listening socket of its own), bob reaching
# alice only through the relay (`chum connect --via URL`, and a known peer whose URL is the
# comm server's, from alice's `chum id --json`), a ONE session completing, and an object alice
# shares arriving at bob through the relay (`chum sync`). Also: the url in `chum id --json`,
# an initiator for a key without a listener, a wrong comm-server URL, and the spares coming
# back after the comm server restarts. Every process is bounded by `timeout -k` and killed by
# the trap; nothing leaves 127.0.0.1.
. "$(dirname "$0")/lib/common.sh"
B=${CHUM_BUILD_DIR:-$(dirname "$CHUM")}
SHARE="$B/tool_share"
tmp_setup

start_relay() { # $1: port (0: any); sets CS_PORT, CS_PID
  spawn 120 "$T/cs.out" "$CHUM" -v commserver --listen "127.0.0.1:$1"
  CS_PID=$SPAWNED
  CS_PORT=$(wait_port "$T/cs.out") || die "comm server did not start:" "$T/cs.out"
}

start_relay 0
URL="ws://127.0.0.1:$CS_PORT/"
ok "chum commserver listens on 127.0.0.1:$CS_PORT"

init_nodes relay.test alice bob carol
c --dir "$T/alice" peer add "$T/bob.id" > /dev/null || bad "alice adds bob"

# alice runs without a listening socket of her own: reachable only through the relay
spawn 120 "$T/alice.out" "$CHUM" --dir "$T/alice" run --commserver "$URL" --no-dial --log "$T/alice.log"
PID_alice=$SPAWNED
if wait_for grep -q "comm server $URL: registered" "$T/alice.out"; then ok "alice registered at the comm server"
else bad "alice did not register:"; cat "$T/alice.out" "$T/alice.log" "$T/cs.out"; fi
# the pool fills up to two spares (one at a time)
c --dir "$T/alice" id --json > "$T/alice.id"
if grep -q "\"url\": \"$URL\"" "$T/alice.id"; then ok "chum id --json of a node run with --commserver has url = the comm server"
else bad "url in chum id --json: $(grep url "$T/alice.id")"; fi
ALICE=$(person_of "$T/alice.id")
c --dir "$T/bob" peer add "$T/alice.id" > /dev/null || bad "bob adds alice"
grep -q "$URL" "$T/bob/known-peers.json" && ok "bob's known peer alice has the comm-server URL" || bad "known-peers.json"

# 1. bob connects to alice through the relay, by --via
if c --dir "$T/bob" connect "$ALICE" --via "$URL" > "$T/c1.out" 2>&1 && grep -q "ready" "$T/c1.out"; then
  ok "chum connect --via: a ONE session through the relay became ready and closed cleanly"
else bad "connect --via:"; cat "$T/c1.out" "$T/alice.log"; fi

# 2. by the known peer's URL (the comm server's), after the pool was refilled
sleep 0.3
if c --dir "$T/bob" connect "$ALICE" > "$T/c2.out" 2>&1 && grep -q "ready" "$T/c2.out"; then
  ok "chum connect PERSON_ID with a comm-server URL: a second session through a replacement spare"
else bad "second connect:"; cat "$T/c2.out" "$T/alice.log"; fi

# 3. an object alice shares arrives at bob through the relay (chum sync: one full pass)
if [ -x "$SHARE" ]; then
  head -c 300000 /dev/urandom > "$T/sample.bin"
  BOB=$(person_of "$T/bob.id")
  read -r BLOB DESC < <("$SHARE" "$T/alice" "$T/sample.bin" "$BOB") || bad "tool_share"
  sleep 0.3
  if c --dir "$T/bob" sync "$ALICE" > "$T/s.out" 2>&1 && cmp -s "$T/sample.bin" "$T/bob/store/blobs/$BLOB"; then
    ok "chum sync through the relay: alice's 300 kB file arrived byte-identical at bob"
  else bad "sync through the relay:"; cat "$T/s.out" "$T/alice.log"; fi
  # bob runs too and dials alice at her URL, the comm server's: a live keepRunning session
  # through the relay, and a file alice shares now reaches bob without another command
  spawn 120 "$T/bob.out" "$CHUM" --dir "$T/bob" run --log "$T/bob.log"
  PID_bob=$SPAWNED
  if wait_for grep -qs "chum started (keepRunning)" "$T/bob.log"; then
    printf 'shared while both run, through the relay\n' > "$T/live.txt"
    read -r BLOB2 _ < <("$SHARE" "$T/alice" "$T/live.txt" "$BOB") || bad "tool_share 2"
    if wait_for test -f "$T/bob/store/blobs/$BLOB2" && cmp -s "$T/live.txt" "$T/bob/store/blobs/$BLOB2"; then
      ok "chum run dials a known peer at its comm-server URL: a file shared later arrives live"
    else bad "live file through the relay:"; cat "$T/bob.log" "$T/alice.log"; fi
  else bad "bob's chum run did not reach alice through the relay:"; cat "$T/bob.log"; fi
  kill -TERM "$PID_bob"; wait "$PID_bob" 2>/dev/null
else
  echo "skip - tool_share not built: no object exchange through the relay"
fi

# 4. carol is not known to alice: the relay hands over, alice refuses her
c --dir "$T/carol" peer add "$T/alice.id" > /dev/null
sleep 0.3
if ! c --dir "$T/carol" connect "$ALICE" > "$T/c3.out" 2>&1 && grep -q "unknown" "$T/c3.out"; then
  ok "an unknown person reaches alice through the relay and is refused by her"
else bad "carol:"; cat "$T/c3.out"; fi

# 5. a key nobody registered: the comm server closes with one.models' reason
c --dir "$T/alice" peer add "$T/carol.id" > /dev/null
CAROL=$(person_of "$T/carol.id")
c --dir "$T/bob" peer add "$T/carol.id" > /dev/null
if ! c --dir "$T/bob" connect "$CAROL" --via "$URL" > "$T/c4.out" 2>&1 && grep -q "No listening connection for the specified publicKey" "$T/c4.out"; then
  ok "no listener for the key: closed with 'No listening connection for the specified publicKey.'"
else bad "no listener:"; cat "$T/c4.out"; fi

# 6. the comm server restarts on the same port: alice's spares come back (10 s retry)
kill -TERM "$CS_PID"; wait "$CS_PID" 2>/dev/null
grep -q "relayed" "$T/cs.out" && ok "comm server stopped: $(grep '^stopped' "$T/cs.out" | sed 's/^stopped: //')" || bad "comm server stop line"
if wait_for grep -q "comm server $URL: no spare registered" "$T/alice.out"; then ok "alice notices the comm server is gone"
else bad "alice did not notice:"; cat "$T/alice.out"; fi
start_relay "$CS_PORT"
n0=$(grep -c "comm server $URL: registered" "$T/alice.out")
for _ in $(seq 1 30); do
  [ "$(grep -c "comm server $URL: registered" "$T/alice.out")" -gt "$n0" ] && break
  sleep 0.5
done
if [ "$(grep -c "comm server $URL: registered" "$T/alice.out")" -gt "$n0" ]; then ok "alice registered again after the restart (retry after 10 s)"
else bad "no re-registration:"; cat "$T/alice.out"; fi
if c --dir "$T/bob" connect "$ALICE" > "$T/c5.out" 2>&1; then ok "a session through the restarted comm server"
else bad "after restart:"; cat "$T/c5.out"; fi

# the url of a node that listens itself: ws://HOST:PORT/ with the bound port; --url wins;
# chum id --url sets one that stays
start_node carol --no-dial --no-status
CPORT=$PORT_carol
c --dir "$T/carol" id --json | grep -q "\"url\": \"ws://127.0.0.1:$CPORT/\"" && ok "chum run --listen 127.0.0.1:0 records ws://127.0.0.1:$CPORT/ as the url" || bad "listen url: $(c --dir "$T/carol" id --json | grep url)"
kill -TERM "$PID_carol"; wait "$PID_carol" 2>/dev/null
c --dir "$T/carol" id --url ws://198.51.100.7:9000/ > /dev/null
c --dir "$T/carol" id --json | grep -q '"url": "ws://198.51.100.7:9000/"' && ok "chum id --url overrides the recorded url" || bad "id --url"
c --dir "$T/carol" id --url none > /dev/null
! c --dir "$T/carol" id --json | grep -q '"url"' && ok "chum id --url none: no url until the next chum run records one" || bad "id --url none"

# usage errors
c --dir "$T/alice" run --commserver "http://x/" > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "a bad --commserver URL is a usage error" || bad "bad --commserver rc $rc"
c commserver > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "chum commserver without --listen is a usage error" || bad "commserver rc $rc"
c commserver --help | grep -q "comm server" && ok "chum commserver --help" || bad "help"

kill -TERM "$PID_alice"; wait "$PID_alice" 2>/dev/null
finish
