#!/usr/bin/env bash
# `chum run` dialling (spec/connection.md §10): alice knows bob's URL while bob is down; her
# attempts are retried after 5 s and then 10 s (run-status.json counts the failures); once bob
# listens again on that port, the next attempt starts chum; bob dials alice too, yet one
# session remains. Every process is bounded by `timeout -k` and killed by the trap; nothing
# leaves 127.0.0.1.
. "$(dirname "$0")/lib/common.sh"
tmp_setup
init_nodes dial.test alice bob
# a port bob will use: bound once by bob, then free
spawn 5 "$T/probe.out" "$CHUM" --dir "$T/bob" run --listen 127.0.0.1:0 --no-dial
PP=$SPAWNED
PORT=$(wait_port "$T/probe.out" 5) || die "probe failed" "$T/probe.out"
kill -TERM "$PP"; wait "$PP"

c --dir "$T/alice" peer add "$T/bob.id" --url "ws://127.0.0.1:$PORT/" > /dev/null
c --dir "$T/bob" peer add "$T/alice.id" > /dev/null
NODE_SECS=60 start_node alice
APID=$PID_alice
APORT=$PORT_alice
wait_up_to 5 grep -q "next session with bob@dial.test in 5.0 s" "$T/alice.log" && ok "first failed dial: retry after 5 s" || { bad "no 5 s retry:"; cat "$T/alice.log"; }
wait_up_to 10 grep -q "next session with bob@dial.test in 10.0 s" "$T/alice.log" && ok "second failed dial (5 s later): retry after 10 s" || { bad "no 10 s retry:"; cat "$T/alice.log"; }
sleep 1.1
grep -Eq '"failures":[[:space:]]*2' "$T/alice/run-status.json" && ok "run-status.json: 2 failed attempts for bob" || { bad "run-status:"; cat "$T/alice/run-status.json"; }
n_try=$(grep -c "connecting to ws://127.0.0.1:$PORT/" "$T/alice.log")
[ "$n_try" = 2 ] && ok "exactly 2 attempts so far" || bad "$n_try attempts"

# bob comes up on that port, knowing alice's URL too: both may dial, one session remains
c --dir "$T/bob" peer add "$T/alice.id" --url "ws://127.0.0.1:$APORT/" > /dev/null
spawn 60 "$T/bob.out" "$CHUM" --dir "$T/bob" run --listen "127.0.0.1:$PORT" --log "$T/bob.log"
BPID=$SPAWNED
wait_up_to 15 grep -q "chum started (keepRunning)" "$T/alice.log" && ok "a session started chum once bob was up" || { bad "no session:"; cat "$T/alice.log" "$T/bob.log"; }
sleep 3.5
live=$(python3 -c "import json; print(len(json.load(open('$T/alice/run-status.json'))['sessions']))" 2>/dev/null || echo '?')
[ "$live" = 1 ] && ok "one session between alice and bob" || { bad "sessions on alice: $live"; cat "$T/alice.log" "$T/bob.log"; }
grep -Eq '"connected":[[:space:]]*true' "$T/alice/run-status.json" && ok "run-status.json: bob connected" || bad "not connected"

kill -TERM "$APID" "$BPID"
wait "$APID"; a=$?
wait "$BPID"; b=$?
[ "$a" = 0 ] && [ "$b" = 0 ] && ok "both stopped cleanly" || bad "exit codes $a $b"
finish
