#!/usr/bin/env bash
# chum status and chum peers over a running pair (docs/run.md "Status"): the session's
# round-trip time (WebSocket ping) per peer and session, in --json too, and in chum peers where
# discovery measured none; a corrupt or truncated run-status.json is reported as such (exit 1,
# the reason on stderr) instead of a half status. Loopback only, every process bounded.
. "$(dirname "$0")/lib/common.sh"
tmp_setup
init_nodes run.test alice bob
ALICE=$(person_of "$T/alice.id")
BOB=$(person_of "$T/bob.id")
start_node alice
start_node bob
c --dir "$T/alice" peer add "$T/bob.id" --url "ws://127.0.0.1:$PORT_bob/" > /dev/null || bad "alice adds bob"
c --dir "$T/bob" peer add "$T/alice.id" --url "ws://127.0.0.1:$PORT_alice/" > /dev/null || bad "bob adds alice"
wait_up_to 20 grep -q "chum started (keepRunning)" "$T/alice.log" || die "no session" "$T/alice.log" "$T/bob.log"
# the first ping goes out at ready; its answer is in the next status write
rtt_seen() { c --dir "$T/alice" status > "$T/st" 2>&1 && grep -q "bob@run.test .* connected, round trip [0-9]* ms" "$T/st"; }
wait_up_to 10 rtt_seen && ok "chum status: the peer's round trip ($(grep -o 'round trip [0-9]* ms' "$T/st"))" || { bad "no round trip:"; cat "$T/st"; }
has "chum status: the session's rtt" "session .* rtt [0-9]* ms" "$T/st"
c --dir "$T/alice" --json status > "$T/st.json"
python3 - "$T/st.json" "$BOB" <<'PY' && ok "chum status --json: run.peers[].rttMs and run.sessions[].rttMs" || bad "rttMs in --json"
import json, sys
d = json.load(open(sys.argv[1]))["run"]
p = [x for x in d["peers"] if x["personId"] == sys.argv[2]][0]
assert p["connected"] and 0 <= p["rttMs"] < 5000, p
assert all(0 <= s["rttMs"] < 5000 for s in d["sessions"]), d["sessions"]
PY
# chum peers: a peer-table snapshot without a discovery RTT gets the session's (marked *)
now=$(date +%s%3N)
cat > "$T/alice/peers.json" <<JSON
{"self":{"name":"alice","inst":"00","seq":1},"time":$now,"peers":[{"inst":"11","person":"$BOB","name":"bob","trust":"known","state":"up","paths":[],"lastSeenMsAgo":100}],"lama":[]}
JSON
c --dir "$T/alice" peers > "$T/peers" 2>&1
has "chum peers: the session's round trip where discovery has none" "bob .*[0-9.]*ms\*" "$T/peers"
has "chum peers: the mark is explained" "round trip of the running node's session" "$T/peers"
c --dir "$T/alice" --json peers > "$T/peers.json" 2>&1
has "chum peers --json: sessionRttMs" '"sessionRttMs"' "$T/peers.json"
# stop alice; then damage her status file
kill -TERM "$PID_alice"; wait "$PID_alice" 2>/dev/null
good=$(cat "$T/alice/run-status.json")
head -c 150 "$T/alice/run-status.json" > "$T/cut" && cp "$T/cut" "$T/alice/run-status.json"
expect 1 "chum status on a truncated run-status.json: exit 1" -- c --dir "$T/alice" status
has "… and it says truncated" "run-status.json is corrupt or unreadable: not JSON: it ends early after 150 bytes (truncated)" "$T/err"
has "… and still shows the rest" "^person " "$T/out"
expect 1 "chum status --line on it: exit 1" -- c --dir "$T/alice" status --line
has "… with the reason" "corrupt or unreadable" "$T/err"
expect 1 "chum status --json on it: exit 1" -- c --dir "$T/alice" --json status
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["run"] is None' "$T/out" && ok "… and the JSON stays valid with run: null" || bad "JSON after a corrupt file"
printf '%s' "${good/\"pid\"/\"pid\":\"x\",\"old\"}" > "$T/alice/run-status.json"
expect 1 "chum status on a wrong-typed run-status.json: exit 1" -- c --dir "$T/alice" status
has "… and names the field" "pid" "$T/err"
finish
