#!/usr/bin/env bash
# The node: two `chum run` processes on 127.0.0.1 in their own directories, known to each other
# (chum peer add from chum id --json), dial, run chum in keepRunning mode, and a file shared on
# one side arrives byte-identical on the other, in both directions, without waiting for a poll
# (service 3 after the local write). Then `chum sync` (one pass, exit 0), `chum status`, the
# Chum log objects, dialling retries when the peer is gone, and a clean stop on SIGTERM.
# Shared content is made with `chum put` and `chum share --with` (a BLOB, a BlobDescriptor, an
# Access), written by another process beside the running node. Every process is bounded by
# `timeout -k`, killed by the trap; nothing leaves 127.0.0.1.
. "$(dirname "$0")/lib/common.sh"
timeout 10 "$CHUM" share --help > /dev/null 2>&1 || skip "no chum share"
tmp_setup
now_ms() { date +%s%3N; }
# share DIR FILE PERSON: prints "<BLOB hash> <descriptor hash>"
share() {
  local h j
  h=$(c --dir "$1" put "$2") || return 1
  j=$(c --dir "$1" --json share "$h" --with "$3" --name "$(basename "$2")") || return 1
  echo "$h $(echo "$j" | sed -n 's/.*"descriptor":"\([0-9a-f]*\)".*/\1/p')"
}

init_nodes run.test alice bob
ALICE=$(person_of "$T/alice.id")
BOB=$(person_of "$T/bob.id")

start_node alice
start_node bob
c --dir "$T/alice" peer add "$T/bob.id" --url "ws://127.0.0.1:$PORT_bob/" > /dev/null || bad "alice adds bob"
c --dir "$T/bob" peer add "$T/alice.id" --url "ws://127.0.0.1:$PORT_alice/" > /dev/null || bad "bob adds alice"
# the nodes re-read known-peers.json every 2 s and dial
if wait_for grep -q "chum started (keepRunning)" "$T/alice.log" && wait_for grep -q "chum started (keepRunning)" "$T/bob.log"; then
  ok "the two nodes dialled each other and started chum (keepRunning)"
else
  bad "no chum session:"; cat "$T/alice.log" "$T/bob.log"
fi
sleep 0.3
n_ready=$(grep -c "chum started" "$T/alice.log")
[ "$n_ready" -ge 1 ] && ok "one session per pair ($n_ready started on alice's side)" || bad "sessions: $n_ready"

# alice shares a 3 MB file with bob while both run: it arrives without waiting for a 5 s poll
head -c 3000000 /dev/urandom > "$T/sample.bin"
t0=$(now_ms)
read -r BLOB DESC < <(share "$T/alice" "$T/sample.bin" "$BOB") || bad "chum put + share"
tw=$(now_ms) # the writer (chum share) has exited: its last head move is done
if wait_for test -f "$T/bob/store/blobs/$BLOB"; then
  t1=$(now_ms)
  cmp -s "$T/sample.bin" "$T/bob/store/blobs/$BLOB" && ok "alice's 3 MB file arrived byte-identical at bob ($((t1 - t0)) ms after the start of chum put, $((t1 - tw)) ms after chum share exited)" || bad "BLOB differs"
  # from the writer's exit (docs/run.md's post-to-arrival): chum put + share alone take 2-3 s
  # under ASan on a loaded machine
  [ $((t1 - tw)) -lt 4000 ] && ok "post-to-arrival under the 5 s poll interval: service 3 made bob poll at once" || bad "arrival took $((t1 - tw)) ms after chum share exited"
  [ -f "$T/bob/store/objects/$DESC" ] && ok "the BlobDescriptor arrived too" || bad "descriptor missing"
else
  bad "BLOB never arrived:"; cat "$T/alice.log" "$T/bob.log"
fi

# the other way round, a small file, several times: post-to-arrival latency
lat=""
for i in 1 2 3; do
  printf 'bob says hello %s\n' "$i" > "$T/hello$i.txt"
  t0=$(now_ms)
  read -r H _ < <(share "$T/bob" "$T/hello$i.txt" "$ALICE")
  wait_for test -f "$T/alice/store/blobs/$H" && lat="$lat $(( $(now_ms) - t0 ))"
done
n=$(echo $lat | wc -w)
[ "$n" = 3 ] && ok "bob -> alice, 3 small shares arrived; post-to-arrival ms (from the start of chum put):$lat" || bad "bob -> alice: $n of 3 arrived"
cmp -s "$T/hello3.txt" "$T/alice/store/blobs/$H" && ok "byte-identical" || bad "small file differs"

# chum status shows the running node and its session
c --dir "$T/alice" status > "$T/st.txt" 2>&1
grep -q "chum run *running" "$T/st.txt" && grep -q "session .*bob@run.test chum" "$T/st.txt" && ok "chum status shows the running node and the session with bob" || { bad "status:"; cat "$T/st.txt"; }
c --dir "$T/alice" status --json > "$T/st.json" 2>&1
python3 -c "import json,sys; d=json.load(open('$T/st.json')); r=d['run']; assert r['running'] and r['sessions'][0]['objectsOut']>=2, r" 2>/dev/null && ok "chum status --json: run.running, sessions[0].objectsOut" || { bad "status --json:"; cat "$T/st.json"; }

# bob stops (SIGTERM): clean close, exit 0, run-status.json says stopped, Chum log written
kill -TERM "$PID_bob"
wait "$PID_bob"; rc=$?
[ "$rc" = 0 ] && ok "bob stopped cleanly on SIGTERM (exit 0)" || bad "bob exit $rc"
grep -Eq '"running":[[:space:]]*false' "$T/bob/run-status.json" && ok "run-status.json says stopped" || bad "run-status after stop"
grep -q 'Corresponding route was stopped' "$T/alice.log" && ok "alice saw 'Corresponding route was stopped'" || bad "close reason on alice"
grep -l 'itemtype="//refin.io/Chum"' "$T/bob/store/objects/"* > /dev/null 2>&1 && ok "bob stored a Chum log object" || bad "no Chum object on bob"
wait_for grep -q "next session with bob@run.test" "$T/alice.log" && ok "alice schedules a reconnect to bob" || bad "no reconnect plan"

# chum sync: one pass with alice while bob's node is down
head -c 200000 /dev/urandom > "$T/late.bin"
read -r LATE _ < <(share "$T/alice" "$T/late.bin" "$BOB")
if c --dir "$T/bob" sync "$ALICE" --once > "$T/sync.out" 2> "$T/sync.err"; then
  ok "chum sync exited 0"
else
  bad "chum sync failed:"; cat "$T/sync.out" "$T/sync.err"
fi
cmp -s "$T/late.bin" "$T/bob/store/blobs/$LATE" && ok "chum sync fetched the file shared meanwhile" || bad "late file missing"
grep -q "sync complete: [1-9]" "$T/sync.out" && ok "chum sync summary: $(cat "$T/sync.out")" || bad "summary"
grep -q "received BLOB $LATE" "$T/sync.err" && ok "plain progress line per file when stderr is not a terminal" || bad "progress lines"
c --dir "$T/bob" sync ws://127.0.0.1:1/ > /dev/null 2>&1; [ $? = 1 ] && ok "chum sync with an unknown URL: exit 1" || bad "sync unknown url"

# alice keeps trying bob: the failed dial is retried on the spec schedule (5 s first)
wait_for grep -q "next session with bob@run.test in [0-9.]* s" "$T/alice.log"
kill -TERM "$PID_alice"; wait "$PID_alice"; rc=$?
[ "$rc" = 0 ] && ok "alice stopped cleanly" || bad "alice exit $rc"

finish
