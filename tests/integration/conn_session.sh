#!/usr/bin/env bash
# ONE sessions between two real chum processes on 127.0.0.1 (spec/connection.md): `chum run
# --listen` (acceptor) and `chum connect` (initiator) with the vector identities alice and bob
# (chum init --seed-file), known to each other through `chum peer add`; then an unknown
# person (carol) is refused, and a person whose keys changed is refused. Every process is
# bounded by `timeout` and killed by the trap; nothing leaves 127.0.0.1.
. "$(dirname "$0")/lib/common.sh"
V=${CHUM_VECTORS_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/vectors}/connection/identities
[ -f "$V/alice.json" ] || skip "vectors not found at $V"
tmp_setup

for who in alice bob carol; do
  c --dir "$T/$who" init --seed-file "$V/$who.json" > /dev/null || die "init $who failed"
  c --dir "$T/$who" id --json > "$T/$who.id" || die "chum id $who failed"
done
# the printed identity has the one.models public Identity fields of the reference
for f in type personEmail instanceName personKeyPublic personSignKeyPublic instanceKeyPublic \
         instanceSignKeyPublic personId instanceId; do
  want=$(sed -n "s/^ *\"$f\": *\"\([^\"]*\)\".*/\1/p" "$V/alice.public.json")
  got=$(sed -n "s/^ *\"$f\": *\"\([^\"]*\)\".*/\1/p" "$T/alice.id")
  [ -n "$want" ] && [ "$want" = "$got" ] || bad "chum id --json field $f: '$got' != '$want'"
done
ok "chum id --json carries the reference's public Identity fields"

start_listener() { # sets PORT and LPID; $1 = log name
  spawn 60 "$T/$1.log" "$CHUM" --dir "$T/alice" run --listen 127.0.0.1:0 --once
  LPID=$SPAWNED
  PORT=$(wait_port "$T/$1.log") || die "listener did not start:" "$T/$1.log"
}

c --dir "$T/alice" peer add "$T/bob.id" > /dev/null && ok "alice knows bob" || bad "peer add"
start_listener s1
c --dir "$T/bob" peer add "$T/alice.id" --url "ws://127.0.0.1:$PORT" > /dev/null || bad "bob adds alice"
c --dir "$T/bob" peer list --json | grep -q "\"url\":.*127.0.0.1:$PORT" && ok "peer list --json shows the URL" || bad "peer list"
if c --dir "$T/bob" connect "ws://127.0.0.1:$PORT" > "$T/bob1.log" 2>&1; then
  ok "bob -> alice: chum started and the session closed cleanly (exit 0)"
else
  bad "bob -> alice failed:"; cat "$T/bob1.log"
fi
wait "$LPID" 2>/dev/null; lrc=$?
grep -q "ready: synchronisation exchanged" "$T/s1.log" && [ "$lrc" = 0 ] && ok "alice (acceptor) reached synchronisation and exited 0 (--once)" || { bad "alice log (rc $lrc):"; cat "$T/s1.log"; }
grep -q 'closed by the peer: 1000 "Close called: Corresponding route was stopped"' "$T/s1.log" && ok "close code 1000 with the one.models reason" || bad "close reason"
grep -q "peer bob@oneref.test" "$T/s1.log" && grep -q "peer alice@oneref.test" "$T/bob1.log" && ok "each side proved the other's person" || bad "peer lines"

# carol is not in alice's list: refused after the instance exchange, as one.models does
start_listener s2
c --dir "$T/carol" peer add "$T/alice.id" --url "ws://127.0.0.1:$PORT" > /dev/null
if c --dir "$T/carol" connect "ws://127.0.0.1:$PORT" > "$T/carol.log" 2>&1; then
  bad "carol (unknown) was accepted"
else
  grep -q "Unable to start chum because you are unknown" "$T/carol.log" && ok "unknown person refused: 'Unable to start chum because you are unknown'" || { bad "carol log:"; cat "$T/carol.log"; }
fi
wait "$LPID" 2>/dev/null

# duplicate rule (spec/connection.md §10): a second session from bob while the first is active
spawn 60 "$T/s3.log" "$CHUM" --dir "$T/alice" run --listen 127.0.0.1:0
DPID=$SPAWNED
PORT=$(wait_port "$T/s3.log")
c --dir "$T/bob" peer remove "$(person_of "$T/alice.id")" > /dev/null
c --dir "$T/bob" peer add "$T/alice.id" --url "ws://127.0.0.1:$PORT" > /dev/null
spawn 30 "$T/d1.log" "$CHUM" --dir "$T/bob" connect "ws://127.0.0.1:$PORT" --hold 6000
D1=$SPAWNED
wait_up_to 4 grep -q "ready" "$T/d1.log"
c --dir "$T/bob" connect "ws://127.0.0.1:$PORT" > "$T/d2.log" 2>&1
d2=$?
wait "$D1"; d1=$?
if grep -q "Duplicate connection - dropped new connection" "$T/d2.log"; then
  [ "$d2" != 0 ] && [ "$d1" = 0 ] && ok "duplicate within 2 s: the new session was dropped, the old one lived on" || bad "duplicate exit codes $d1 $d2"
elif grep -q "New connection replaced old one" "$T/d1.log"; then
  ok "duplicate after 2 s (slow machine): the old session was replaced"
else
  bad "duplicate rule not applied:"; cat "$T/d1.log" "$T/d2.log" "$T/s3.log"
fi
kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null

# a known person presenting other keys is refused by `chum peer add`
sed 's/"personKeyPublic": "5/"personKeyPublic": "6/' "$T/bob.id" > "$T/bob-evil.id"
sed -i 's/"personId": *"[0-9a-f]*",//' "$T/bob-evil.id"
if c --dir "$T/alice" peer add "$T/bob-evil.id" > "$T/evil.log" 2>&1; then
  bad "changed keys accepted"
else
  grep -q "other keys" "$T/evil.log" && ok "changed keys refused by peer add" || { bad "evil log:"; cat "$T/evil.log"; }
fi
c --dir "$T/alice" peer remove "$(person_of "$T/bob.id")" > /dev/null && ok "peer remove" || bad "peer remove"
c --dir "$T/alice" peer list --json | grep -q personEmail && bad "list not empty after remove" || ok "list empty after remove"
c --dir "$T/alice" peer remove 1234 > /dev/null 2>&1; [ $? = 2 ] && ok "bad person ID is a usage error (2)" || bad "peer remove 1234 exit code"

finish
