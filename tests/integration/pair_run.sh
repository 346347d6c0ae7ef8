#!/usr/bin/env bash
# Pairing with running nodes (spec/pairing.md §2 "After pairing", spec/connection.md §10) on
# 127.0.0.1, with `chum commserver` as the relay:
#  1. the inviter behind a comm server: `chum run --commserver URL` (no socket of its own),
#     `chum invite` (its URL defaults to the comm server's), `chum pair` reaches it through the
#     relay; both store each other with their ONE objects; `chum sync` through the relay.
#  2. the invitee behind a comm server: its `chum run --commserver URL` records that URL,
#     `chum pair` announces it, and the inviter (`chum run --listen`) dials the new peer through
#     the relay right after the pairing: chum starts within seconds (no 5-10 s reconnect pause).
#  3. the first chum session after pairing refused as unknown ("Unable to start chum because
#     you are unknown") is retried after 1 s, not after the 5 s backoff.
#  4. an invitee that starts chum on the pairing connection (the newer one.models; played by
#     tool_pair_newer): the inviter's `chum run` answers 'synchronisation' and runs chum there.
# Every process is bounded by `timeout -k` and killed by the trap; nothing leaves 127.0.0.1.
set -u
CHUM=${CHUM:?CHUM must point at the chum binary}
NEWER="${CHUM_BUILD_DIR:-$(dirname "$CHUM")}/tool_pair_newer"
# temp dir, PIDS killed on exit, ok/bad counters (its c/wait_for are redefined below)
. "$(dirname "$0")/lib/common.sh"
tmp_setup
c() { timeout -k 2 30 "$CHUM" "$@"; }
wait_for() { for _ in $(seq 1 500); do "$@" && return 0; sleep 0.02; done; return 1; }
pid_of() { tr -d ' \n' < "$T/$1.id" | grep -o '"personId":"[0-9a-f]*"' | cut -d'"' -f4; }
now_ms() { date +%s%3N; }
# ms since the epoch of the first log line matching $2 in $1 (log lines start with ISO time)
log_ms() {
  local ts
  ts=$(grep -m1 -- "$2" "$1" | cut -d' ' -f1) || return 1
  [ -n "$ts" ] && date -d "$ts" +%s%3N
}
run_node() { # $1 = node, then chum run arguments; sets RUN_PID
  local who=$1; shift
  timeout -k 2 120 "$CHUM" --dir "$T/$who" run "$@" --log "$T/$who.log" > "$T/$who.out" 2>&1 &
  RUN_PID=$!
  PIDS+=("$RUN_PID")
}

timeout -k 2 150 "$CHUM" -v commserver --listen 127.0.0.1:0 > "$T/cs.out" 2>&1 &
PIDS+=("$!")
wait_for grep -qs "^listening ws://" "$T/cs.out" || { echo "comm server did not start:"; cat "$T/cs.out"; exit 1; }
CS="ws://127.0.0.1:$(sed -n 's#^listening ws://127.0.0.1:\([0-9]*\)/ .*#\1#p' "$T/cs.out")/"

for who in a b c d e f g h; do
  c --dir "$T/$who" init --email "$who@pair-run.test" > /dev/null || { echo "init $who failed"; exit 1; }
  c --dir "$T/$who" id --json > "$T/$who.id" || exit 1
done
A=$(pid_of a) B=$(pid_of b) C=$(pid_of c) D=$(pid_of d) F=$(pid_of f)

# ---- 1. the inviter behind a comm server ---------------------------------------------------
run_node a --commserver "$CS" --no-dial
wait_for grep -qs "comm server $CS: registered" "$T/a.out" && ok "a registered at the comm server (no socket of its own)" \
  || { bad "a did not register:"; cat "$T/a.out" "$T/a.log"; }
c --dir "$T/a" invite --json > "$T/inv1.json" 2> "$T/inv1.err" || { bad "invite:"; cat "$T/inv1.err"; }
grep -q "\"url\":\"$CS\"" "$T/inv1.json" && ok "the invitation's url is the comm server's (the node's URL)" \
  || bad "invitation url: $(cat "$T/inv1.json")"
if c --dir "$T/b" pair "$T/inv1.json" > "$T/b1.log" 2>&1; then
  ok "b paired with a through the comm server"
else
  bad "b pair through the relay:"; cat "$T/b1.log" "$T/a.log"
fi
grep -q "adopted an open WebSocket ($CS)" "$T/a.log" && grep -q "group pairing" "$T/a.log" \
  && ok "a's node ran the pairing group on a handed-over spare" || { bad "no pairing on a spare:"; cat "$T/a.log"; }
c --dir "$T/a" peer show "$B" --json > "$T/a.show" 2>&1 && [ "$(grep -o '"stored":true' "$T/a.show" | wc -l)" -eq 4 ] \
  && ok "a (chum run) stored b with its four ONE objects" || bad "a peer show b: $(cat "$T/a.show")"
c --dir "$T/b" peer show "$A" --json > "$T/b.show" 2>&1 && [ "$(grep -o '"stored":true' "$T/b.show" | wc -l)" -eq 4 ] \
  && ok "b stored a with its four ONE objects" || bad "b peer show a: $(cat "$T/b.show")"
grep -q "\"url\":\"$CS\"" "$T/b.show" && ok "b knows a at the comm server's URL" || bad "b's url for a: $(cat "$T/b.show")"
if c --dir "$T/b" sync "$A" > "$T/bsync.log" 2>&1 && grep -q "chum pass complete" "$T/bsync.log"; then
  ok "chum sync from b to a through the comm server"
else
  bad "chum sync through the relay:"; cat "$T/bsync.log" "$T/a.log"
fi

# ---- 2. the invitee behind a comm server -----------------------------------------------------
run_node c --commserver "$CS" --no-dial
CPID=$RUN_PID
wait_for grep -qs "comm server $CS: registered" "$T/c.out" || { bad "c did not register:"; cat "$T/c.out"; }
run_node d --listen 127.0.0.1:0
wait_for grep -qs "listening ws://" "$T/d.out" || { bad "d did not start:"; cat "$T/d.out"; }
DURL=$(sed -n 's#.*listening \(ws://127.0.0.1:[0-9]*/\).*#\1#p' "$T/d.out" | head -1)
c --dir "$T/d" invite --url "$DURL" --json > "$T/inv2.json" || bad "invite on d"
if c --dir "$T/c" pair "$T/inv2.json" > "$T/c1.log" 2>&1; then
  ok "c (running behind the comm server) paired with d"
else
  bad "c pair:"; cat "$T/c1.log" "$T/d.log"
fi
t_paired=$(now_ms)
c --dir "$T/d" peer show "$C" --json > "$T/d.show" 2>&1
grep -q "\"url\":\"$CS\"" "$T/d.show" && ok "c announced the comm server's URL in its identity" \
  || bad "d's url for c: $(cat "$T/d.show")"
# d dials c through the relay at once: a chum session on c's handed-over spare
if wait_for grep -qs "chum started" "$T/c.log"; then
  t_chum=$(log_ms "$T/c.log" "chum started")
  ok "d dialled c through the comm server and chum started ($((t_chum - t_paired)) ms after the pairing)"
  [ $((t_chum - t_paired)) -lt 4500 ] && ok "no reconnect pause after the pairing session" \
    || bad "chum started only $((t_chum - t_paired)) ms after the pairing"
else
  bad "no chum session between d and c:"; cat "$T/d.log" "$T/c.log"
fi
grep -q "connecting to $CS" "$T/d.log" && ok "d's session went to c's comm server URL" || bad "d did not dial $CS: $(cat "$T/d.log")"
kill -TERM "$CPID"; wait "$CPID" 2>/dev/null

# ---- 3. refused as unknown right after pairing: asked again after 1 s ---------------------------
run_node f --listen 127.0.0.1:0 --no-dial
wait_for grep -qs "listening ws://" "$T/f.out" || { bad "f did not start:"; cat "$T/f.out"; }
FURL=$(sed -n 's#.*listening \(ws://127.0.0.1:[0-9]*/\).*#\1#p' "$T/f.out" | head -1)
# e knows f, f does not know e yet (as an inviter that has not stored its invitee)
c --dir "$T/e" peer add "$T/f.id" --url "$FURL" > /dev/null || bad "e adds f"
run_node e
if wait_for grep -qs "Unable to start chum because you are unknown" "$T/e.log"; then
  ok "f refuses e's chum session: Unable to start chum because you are unknown"
else
  bad "no refusal:"; cat "$T/e.log" "$T/f.log"
fi
grep -q "next session with f@pair-run.test in 1.0 s" "$T/e.log" && ok "e asks again after 1 s (not the 5 s backoff)" \
  || bad "e's retry: $(grep 'next session' "$T/e.log")"
c --dir "$T/f" peer add "$T/e.id" > /dev/null || bad "f adds e"
t_known=$(now_ms)
if wait_for grep -qs "chum started" "$T/e.log"; then
  t_chum=$(log_ms "$T/e.log" "chum started")
  [ $((t_chum - t_known)) -lt 3000 ] && ok "chum started $((t_chum - t_known)) ms after f stored e" \
    || bad "chum started only $((t_chum - t_known)) ms after f stored e"
else
  bad "e and f never started chum:"; cat "$T/e.log" "$T/f.log"
fi

# ---- 4. chum on the pairing connection (spec/pairing.md §2 "our rule") -----------------------
if [ -x "$NEWER" ]; then
  run_node g --listen 127.0.0.1:0 --no-dial
  wait_for grep -qs "listening ws://" "$T/g.out" || { bad "g did not start:"; cat "$T/g.out"; }
  GURL=$(sed -n 's#.*listening \(ws://127.0.0.1:[0-9]*/\).*#\1#p' "$T/g.out" | head -1)
  c --dir "$T/g" invite --url "$GURL" --json > "$T/inv4.json" || bad "invite on g"
  INV4=$(grep -o '"invitation":{[^}]*}' "$T/inv4.json" | cut -c14-)
  if timeout -k 2 30 "$NEWER" "$T/h" "$INV4" > "$T/h.out" 2>&1; then
    ok "an invitee starting chum on the pairing connection gets 'synchronisation' and chum's first request there"
  else
    bad "no chum on the pairing connection:"; cat "$T/h.out" "$T/g.log"
  fi
  grep -q "chum started on the pairing connection" "$T/g.log" && ok "g's chum run handed the pairing session to chum" \
    || bad "g did not start chum on the pairing session: $(cat "$T/g.log")"
  H=$(pid_of h)
  grep -q "$H" "$T/g/known-peers.json" && ok "g stored h before chum started" || bad "g does not know h"
else
  echo "# $NEWER missing: section 4 skipped"
fi

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
