#!/usr/bin/env bash
# `chum run` dialling (spec/connection.md §10): alice knows bob's URL while bob is down; her
# attempts are retried after 5 s and then 10 s (run-status.json counts the failures); once bob
# listens again on that port, the next attempt starts chum; bob dials alice too, yet one
# session remains. Every process is bounded by `timeout -k` and killed by the trap; nothing
# leaves 127.0.0.1.
set -u
CHUM=${CHUM:?CHUM must point at the chum binary}
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fails=0
pass=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
c() { timeout -k 2 30 "$CHUM" "$@"; }
wait_for() { local n=$1; shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.05; done; return 1; }
port_of() { sed -n 's#.*listening ws://127.0.0.1:\([0-9]*\)/ .*#\1#p' "$1" | head -1; }

for who in alice bob; do
  c --dir "$T/$who" init --email "$who@dial.test" > /dev/null || { echo "init $who failed"; exit 1; }
  c --dir "$T/$who" id --json > "$T/$who.id" || exit 1
done
# a port bob will use: bound once by bob, then free
timeout -k 2 5 "$CHUM" --dir "$T/bob" run --listen 127.0.0.1:0 --no-dial > "$T/probe.out" 2>&1 &
PP=$!
wait_for 100 grep -q "listening" "$T/probe.out" || { echo "probe failed"; cat "$T/probe.out"; exit 1; }
PORT=$(port_of "$T/probe.out")
kill -TERM "$PP"; wait "$PP"

c --dir "$T/alice" peer add "$T/bob.id" --url "ws://127.0.0.1:$PORT/" > /dev/null
c --dir "$T/bob" peer add "$T/alice.id" > /dev/null
timeout -k 2 60 "$CHUM" --dir "$T/alice" run --listen 127.0.0.1:0 --log "$T/alice.log" > "$T/alice.out" 2>&1 &
APID=$!
PIDS+=("$APID")
wait_for 100 grep -q "listening" "$T/alice.out" || { echo "alice did not start"; exit 1; }
APORT=$(port_of "$T/alice.out")
wait_for 100 grep -q "next session with bob@dial.test in 5.0 s" "$T/alice.log" && ok "first failed dial: retry after 5 s" || { bad "no 5 s retry:"; cat "$T/alice.log"; }
wait_for 200 grep -q "next session with bob@dial.test in 10.0 s" "$T/alice.log" && ok "second failed dial (5 s later): retry after 10 s" || { bad "no 10 s retry:"; cat "$T/alice.log"; }
sleep 1.1
grep -Eq '"failures":[[:space:]]*2' "$T/alice/run-status.json" && ok "run-status.json: 2 failed attempts for bob" || { bad "run-status:"; cat "$T/alice/run-status.json"; }
n_try=$(grep -c "connecting to ws://127.0.0.1:$PORT/" "$T/alice.log")
[ "$n_try" = 2 ] && ok "exactly 2 attempts so far" || bad "$n_try attempts"

# bob comes up on that port, knowing alice's URL too: both may dial, one session remains
c --dir "$T/bob" peer add "$T/alice.id" --url "ws://127.0.0.1:$APORT/" > /dev/null
timeout -k 2 60 "$CHUM" --dir "$T/bob" run --listen "127.0.0.1:$PORT" --log "$T/bob.log" > "$T/bob.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
wait_for 300 grep -q "chum started (keepRunning)" "$T/alice.log" && ok "a session started chum once bob was up" || { bad "no session:"; cat "$T/alice.log" "$T/bob.log"; }
sleep 3.5
live=$(python3 -c "import json; print(len(json.load(open('$T/alice/run-status.json'))['sessions']))" 2>/dev/null || echo '?')
[ "$live" = 1 ] && ok "one session between alice and bob" || { bad "sessions on alice: $live"; cat "$T/alice.log" "$T/bob.log"; }
grep -Eq '"connected":[[:space:]]*true' "$T/alice/run-status.json" && ok "run-status.json: bob connected" || bad "not connected"

kill -TERM "$APID" "$BPID"
wait "$APID"; a=$?
wait "$BPID"; b=$?
[ "$a" = 0 ] && [ "$b" = 0 ] && ok "both stopped cleanly" || bad "exit codes $a $b"
echo "$pass passed, $fails failed"
[ "$fails" = 0 ]
