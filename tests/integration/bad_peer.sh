#!/usr/bin/env bash
# Bad peers against a running node (spec/connection.md, brief: "tampered, replayed or malformed
# input closes the connection with a clear reason and harms nothing"). alice (`chum run`, the
# vector identity) serves bob (a second `chum run`) while tests/integration/bad_peer.py connects
# and sends: garbage before the upgrade (answered, and reset before the answer is read), nothing
# at all, an oversized frame, garbage handshake JSON, bob's recorded handshake replayed from the
# vectors (it cannot answer alice's fresh ephemeral key), and a flood of idle connections.
# Checks: each bad connection ends with its reason in alice's --log, no session slot stays
# busy, alice keeps running and serving bob (files shared before, during and after arrive
# byte-identical) and both stores pass `chum fsck`. A flipped bit in an encrypted frame needs
# the session keys: tests/unit/test_conn.c (tampered_frame_closes) covers it.
# Every process is bounded by `timeout -k` and killed by the trap; nothing leaves 127.0.0.1.
set -u
CHUM=${CHUM:?CHUM must point at the chum binary}
SRC=${CHUM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
VEC=${CHUM_VECTORS_DIR:-$SRC/../shared/vectors}
V=$VEC/connection/identities
[ -f "$V/alice.json" ] || { echo "skip: vectors not found at $VEC"; exit 77; }
command -v python3 > /dev/null || { echo "skip: no python3"; exit 77; }
timeout -k 2 10 "$CHUM" share --help > /dev/null 2>&1 || { echo "skip: no chum share"; exit 77; }
BADPEER="python3 $SRC/tests/integration/bad_peer.py"
# temp dir, PIDS killed on exit, ok/bad counters (its c/wait_for are redefined below)
. "$(dirname "$0")/lib/common.sh"
tmp_setup
c() { timeout -k 2 30 "$CHUM" "$@"; }
pid_of() { sed -n 's/^ *"personId": *"\([0-9a-f]*\)".*/\1/p' "$1"; }
# wait_for N CMD...: retry every 0.05 s, N times
wait_for() { local n=$1; shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done; return 1; }
port_of() { sed -n 's#.*listening ws://127.0.0.1:\([0-9]*\)/ .*#\1#p' "$1" | head -1; }
share() { # DIR FILE PERSON: prints the BLOB hash
  local h
  h=$(c --dir "$1" put "$2") || return 1
  c --dir "$1" share "$h" --with "$3" --name "$(basename "$2")" > /dev/null || return 1
  echo "$h"
}
arrived() { cmp -s "$1" "$T/bob/store/blobs/$2"; } # FILE HASH

for who in alice bob; do
  c --dir "$T/$who" init --seed-file "$V/$who.json" > /dev/null || { echo "init $who failed"; exit 1; }
  c --dir "$T/$who" id --json > "$T/$who.id" || exit 1
done
ALICE=$(pid_of "$T/alice.id")
BOB=$(pid_of "$T/bob.id")

start_node() { # $1 = who; sets PORT_<who>, PID_<who>
  timeout -k 2 240 "$CHUM" --dir "$T/$1" run --listen 127.0.0.1:0 --log "$T/$1.log" > "$T/$1.out" 2>&1 &
  local p=$!
  PIDS+=("$p")
  eval "PID_$1=$p"
  wait_for 400 grep -q "listening ws://" "$T/$1.out" || { echo "$1 did not start:"; cat "$T/$1.out"; exit 1; }
  eval "PORT_$1=$(port_of "$T/$1.out")"
}
start_node alice
start_node bob
c --dir "$T/alice" peer add "$T/bob.id" --url "ws://127.0.0.1:$PORT_bob/" > /dev/null || bad "alice adds bob"
c --dir "$T/bob" peer add "$T/alice.id" --url "ws://127.0.0.1:$PORT_alice/" > /dev/null || bad "bob adds alice"
if wait_for 400 grep -q "chum started (keepRunning)" "$T/bob.log"; then
  ok "alice and bob run chum"
else
  bad "no chum session:"; cat "$T/alice.log" "$T/bob.log"; exit 1
fi

# bob's session on alice's side: it must live through every attack
BOBSID=$(sed -n 's/.* session \([0-9]*\): ready: .*chum started.*/\1/p' "$T/alice.log" | tail -1)
[ -n "$BOBSID" ] || bad "no chum session with bob in alice's log"

# a file on its way to bob while the bad peer attacks
head -c 3000000 /dev/urandom > "$T/during.bin"
DURING=$(share "$T/alice" "$T/during.bin" "$BOB") || bad "share during"

# attack ATTACK: run the bad peer, then find its session in alice's log by its port and check
# that the session ended with the expected reason (a grep -E pattern)
attack() {
  local what=$1 want=$2 out port sid
  out=$(timeout -k 2 40 $BADPEER "$PORT_alice" "$what" "$VEC" 2>&1)
  local rc=$?
  port=$(echo "$out" | sed -n "s/^$what: from port \([0-9]*\)$/\1/p")
  [ "$rc" = 0 ] || { bad "$what: the node did not end the connection: $out"; return; }
  # the session alice opened for it
  if ! wait_for 100 grep -q "accepted 127.0.0.1:$port\$" "$T/alice.log"; then
    bad "$what: no session for port $port in alice's log"; return
  fi
  sid=$(sed -n "s/.* session \([0-9]*\): accepted 127.0.0.1:$port\$/\1/p" "$T/alice.log" | head -1)
  if wait_for 200 grep -q " session $sid: ended" "$T/alice.log"; then
    local why
    why=$(grep " session $sid: " "$T/alice.log" | grep -E "$want" | head -1 | sed 's/^[^ ]* //')
    if [ -n "$why" ]; then
      ok "$what: $(echo "$out" | tail -1 | cut -d: -f2- | cut -c2-); alice logged: $why"
    else
      bad "$what: session $sid ended without a reason matching '$want':"; grep " session $sid: " "$T/alice.log"
    fi
  else
    bad "$what: session $sid never ended (a busy slot):"; grep " session $sid: " "$T/alice.log"
  fi
}
attack garbage "WebSocket error: protocol violation"
attack garbage-rst "WebSocket error: protocol violation"
attack oversized "message too big"
attack bad-json "Expected communication_request"
attack replay "Decryption of message failed"
attack silent "opening handshake timed out"

# a flood of idle connections: the slots fill, extra ones are refused, all end, bob's session stays
timeout -k 2 60 $BADPEER "$PORT_alice" flood > "$T/flood.out" 2>&1 || bad "flood: $(cat "$T/flood.out")"
grep -q "refused a connection from 127.0.0.1:[0-9]*: too many sessions" "$T/alice.log" \
  && ok "$(cat "$T/flood.out") idle connections; alice refused the rest: too many sessions" || bad "flood: no refusal logged"
all_ended() { # every accepted session except the one with bob has ended
  local acc end
  acc=$(grep -c ": accepted 127.0.0.1:" "$T/alice.log")
  end=$(grep -c ": ended" "$T/alice.log")
  [ $((acc - end)) -le 1 ]
}
wait_for 200 all_ended && ok "every bad connection ended: no session slot stays busy" \
  || bad "sessions left open: $(grep -c ': accepted ' "$T/alice.log") accepted, $(grep -c ': ended' "$T/alice.log") ended"

# alice is still there and still serves bob
kill -0 "$PID_alice" 2>/dev/null && ok "alice is still running" || bad "alice died"
if wait_for 600 arrived "$T/during.bin" "$DURING"; then
  ok "the 3 MB file shared before the attacks arrived at bob byte-identical"
else
  bad "file shared during the attacks never arrived:"; tail -20 "$T/alice.log" "$T/bob.log"
fi
head -c 500000 /dev/urandom > "$T/after.bin"
AFTER=$(share "$T/alice" "$T/after.bin" "$BOB") || bad "share after"
wait_for 600 arrived "$T/after.bin" "$AFTER" && ok "a file shared after the attacks arrived byte-identical" \
  || bad "file shared after the attacks never arrived"
if [ -n "$BOBSID" ] && ! grep -q " session $BOBSID: \(closed\|ended\)" "$T/alice.log"; then
  ok "bob's session (alice's session $BOBSID) lived through every attack"
else
  bad "bob's session was disturbed:"; grep " session $BOBSID: " "$T/alice.log"
fi

# clean stop, then both stores are consistent
kill -TERM "$PID_alice" "$PID_bob"
wait "$PID_alice"; ra=$?
wait "$PID_bob"; rb=$?
[ "$ra" = 0 ] && [ "$rb" = 0 ] && ok "both nodes stopped cleanly (exit 0)" || bad "exit codes alice $ra, bob $rb"
for who in alice bob; do
  c --dir "$T/$who" fsck > "$T/$who.fsck" 2>&1 && ok "chum fsck: $who's store is clean" || { bad "fsck $who:"; cat "$T/$who.fsck"; }
done

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
