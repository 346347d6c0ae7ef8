#!/usr/bin/env bash
# Pairing between real chum processes on 127.0.0.1 (spec/pairing.md): `chum invite --listen`
# on A answers, `chum pair` on B accepts; both then know each other. Then the same token a
# second time, an expired token and a wrong token are refused with the reference's message,
# a person whose keys changed cannot pair again, and `chum peer trust|untrust` flips the flag.
# Every process is bounded by `timeout -k` (a process that ignores SIGTERM is killed too) and
# killed by the trap; every wait has a deadline; nothing leaves 127.0.0.1.
. "$(dirname "$0")/lib/common.sh"
tmp_setup
field() { grep -o "\"$1\":\"[^\"]*\"" "$2" | head -1 | cut -d'"' -f4; } # first one, compact JSON

init_nodes pair.test a b c
for who in a b c; do
  tr -d ' \n' < "$T/$who.id" > "$T/$who.id.c" # compact, for field
done
A=$(person_of "$T/a.id") B=$(person_of "$T/b.id") C=$(person_of "$T/c.id")

start_inviter() { # $1 = name, extra args; sets LPID and the invitation in $T/$1.json
  local name=$1; shift
  spawn_split 60 "$T/$name.json" "$T/$name.log" "$CHUM" --dir "$T/a" invite --listen 127.0.0.1:0 --json "$@"
  LPID=$SPAWNED
  wait_up_to 20 grep -q '"expires"' "$T/$name.json" || die "inviter did not start:" "$T/$name.log" # ASan under load starts slowly
}

# ---- 1. a pairing ------------------------------------------------------------------------
start_inviter inv1
TOKEN1=$(field token "$T/inv1.json")
URL1=$(field url "$T/inv1.json")
PK=$(field publicKey "$T/inv1.json")
[ ${#TOKEN1} -eq 64 ] && ok "invitation token has 64 characters" || bad "token '$TOKEN1'"
grep -q "$TOKEN1" "$T/a/invitations.json" && bad "the token is stored in clear" \
  || ok "the token is not stored in clear"
H=$(printf '%s' "$TOKEN1" | sha256sum | cut -d' ' -f1)
grep -q "$H" "$T/a/invitations.json" && ok "its SHA-256 is stored" || bad "token hash missing"
[ "$(stat -c %a "$T/a/invitations.json")" = 600 ] && ok "invitations.json is mode 0600" \
  || bad "invitations.json mode"
grep -q '"url":"https://edda.one/invites/invitePartner/?invited=true#%7B%22token%22' "$T/inv1.json" \
  && ok "--json carries the invitation link" || bad "link missing: $(cat "$T/inv1.json")"

if c --dir "$T/b" pair "$T/inv1.json" > "$T/b1.log" 2>&1; then
  ok "b pairs with a (exit 0)"
else
  bad "b pair failed:"; cat "$T/b1.log"
fi
wait "$LPID"; lrc=$?
[ "$lrc" -eq 0 ] && ok "a's invite --listen exits 0 after the pairing" || { bad "inviter exit $lrc"; cat "$T/inv1.log"; }
c --dir "$T/a" peer list --json > "$T/a.peers"
c --dir "$T/b" peer list --json > "$T/b.peers"
grep -q "\"personId\":.*\"$B\"" "$T/a.peers" && ok "a knows b" || bad "a does not know b: $(cat "$T/a.peers")"
grep -q "\"personId\":.*\"$A\"" "$T/b.peers" && ok "b knows a" || bad "b does not know a"
grep -q "\"url\":.*\"$URL1\"" "$T/b.peers" && ok "b stored a's URL $URL1" || bad "b has no URL for a"
grep -q "\"instanceKeyPublic\":.*\"$PK\"" "$T/b.peers" && ok "b stored a's instance key" || bad "instance key"
grep -q "$H" "$T/a/invitations.json" && bad "the used token is still open" || ok "the used token is gone"

# spec/pairing.md §3: both sides store the peer's Person and Instance ID objects and both Keys
# objects; their hashes are the peer's IDs and the Keys hashes its own node computed
objects_ok() { # $1 = node, $2 = peer name, $3 = the peer's person ID
  local show="$T/$1.show.$2" h n=0
  if ! c --dir "$T/$1" peer show "$3" --json > "$show" 2>&1; then
    bad "$1: peer show $2 failed: $(cat "$show")"; return
  fi
  [ "$(grep -o '"stored":true' "$show" | wc -l)" -eq 4 ] || { bad "$1 lacks objects of $2: $(cat "$show")"; return; }
  for k in personIdObject instanceIdObject personKeys instanceKeys; do
    h=$(grep -o "\"$k\":{\"hash\":\"[0-9a-f]*\"" "$show" | cut -d'"' -f6)
    # chum cat writes the stored bytes: their SHA-256 is the name
    [ "$(c --dir "$T/$1" cat "$h" | sha256sum | cut -d' ' -f1)" = "$h" ] && n=$((n + 1))
  done
  [ "$n" -eq 4 ] || { bad "$1: chum cat of $2's objects does not hash to their names"; return; }
  [ "$(grep -o '"personIdObject":{"hash":"[0-9a-f]*"' "$show" | cut -d'"' -f6)" = "$3" ] &&
    [ "$(grep -o '"personKeys":{"hash":"[0-9a-f]*"' "$show" | cut -d'"' -f6)" = "$(field personKeysHash "$T/$2.id.c")" ] &&
    [ "$(grep -o '"instanceKeys":{"hash":"[0-9a-f]*"' "$show" | cut -d'"' -f6)" = "$(field instanceKeysHash "$T/$2.id.c")" ] &&
    [ "$(grep -o '"instanceIdObject":{"hash":"[0-9a-f]*"' "$show" | cut -d'"' -f6)" = "$(field instanceId "$T/$2.id.c")" ] \
    && ok "$1 stored $2's Person/Instance ID objects and Keys objects (hashes = $2's own IDs and Keys hashes)" \
    || bad "$1: $2's object hashes differ from $2's own: $(cat "$show")"
}
objects_ok a b "$B"
objects_ok b a "$A"
[ "$(c --dir "$T/a" cat "$B")" = '<div data-id-object="true" itemscope itemtype="//refin.io/Person"><span itemprop="email">b@pair.test</span></div>' ] \
  && ok "chum cat shows b's Person ID object as one.core writes it" || bad "Person ID object: $(c --dir "$T/a" cat "$B")"
c --dir "$T/a" ls --type Keys | grep -q "$(field personKeysHash "$T/b.id.c")" && ok "chum ls --type Keys lists b's person Keys" \
  || bad "chum ls does not list b's Keys"

# ---- 2. refusals ---------------------------------------------------------------------------
start_inviter inv2 --ttl 60s
URL2=$(field url "$T/inv2.json")
refused() { # $1 = what, $2 = invitation JSON text
  printf '%s' "$2" > "$T/try.json"
  if c --dir "$T/c" pair "$T/try.json" > "$T/try.log" 2>&1; then
    bad "$1 was accepted"
  elif grep -q "Authentication token is not existing." "$T/try.log"; then
    ok "$1 refused: Authentication token is not existing."
  else
    bad "$1 refused with another message:"; cat "$T/try.log"
  fi
}
refused "the same token a second time" "{\"token\":\"$TOKEN1\",\"publicKey\":\"$PK\",\"url\":\"$URL2\"}"
c --dir "$T/a" invite --url "$URL2" --ttl 1s --json > "$T/inv3.json" || bad "invite --url"
sleep 1.2
TOKEN3=$(field token "$T/inv3.json")
refused "an expired token" "{\"token\":\"$TOKEN3\",\"publicKey\":\"$PK\",\"url\":\"$URL2\"}"
refused "a wrong token" "{\"token\":\"$(printf 'x%.0s' $(seq 64))\",\"publicKey\":\"$PK\",\"url\":\"$URL2\"}"
grep -q "\"personId\":.*\"$C\"" <(c --dir "$T/a" peer list --json) && bad "a stored c after a refusal" \
  || ok "nothing stored after the refusals"
# the listener is still there: c pairs with the right token (given as the link)
LINK2=$(sed -n 's/.*"url":"\(https[^"]*\)".*/\1/p' "$T/inv2.json")
if c --dir "$T/c" pair "$LINK2" > "$T/c1.log" 2>&1; then ok "c pairs with the invitation link"; else bad "c pair:"; cat "$T/c1.log"; fi
wait "$LPID"

# ---- 3. keys never change silently ----------------------------------------------------------
c --dir "$T/c" init --email c@pair.test --force > /dev/null || bad "re-init c"
start_inviter inv4 --ttl 5s
if c --dir "$T/c" pair "$T/inv4.json" > "$T/c2.log" 2>&1; then
  bad "c with new keys paired again"
elif grep -q "Key does not match your previous visit" "$T/c2.log"; then
  ok "a known person with new keys is refused: Key does not match your previous visit"
  c --dir "$T/c" id --json | tr -d ' \n' > "$T/c2.id.c"
  c --dir "$T/a" ls --type Keys | grep -q "$(field personKeysHash "$T/c2.id.c")" \
    && bad "the refused new Keys of c were stored" || ok "the refused new Keys of c are not stored"
else
  bad "new keys refused with another message:"; cat "$T/c2.log"
fi
kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null

# ---- 4. trust --------------------------------------------------------------------------------
c --dir "$T/a" peer untrust "$B" > /dev/null && ok "peer untrust" || bad "peer untrust"
c --dir "$T/a" peer list --json | tr -d ' \n\t' | grep -q "\"personId\":\"$B\"[^}]*\"trusted\":false" \
  && ok "known-peers.json marks b untrusted" || bad "trusted flag not stored"
c --dir "$T/a" peer list | grep -q "untrusted" && ok "peer list shows it" || bad "peer list"
c --dir "$T/a" peer trust "$B" > /dev/null && ! grep -q trusted "$T/a/known-peers.json" \
  && ok "peer trust restores the default" || bad "peer trust"
c --dir "$T/a" peer untrust 0000000000000000000000000000000000000000000000000000000000000000 \
  > /dev/null 2>&1 && bad "untrust of an unknown person succeeded" || ok "untrust of an unknown person fails"

# ---- 5. a running node answers invitations; chum then runs with the new peer ----------------
c --dir "$T/d" init --email d@pair.test > /dev/null || bad "init d"
D=$(c --dir "$T/d" id --json | sed -n 's/^ *"personId": *"\([^"]*\)".*/\1/p')
c --dir "$T/d" id --json | tr -d ' \n' > "$T/d.id.c"
spawn 60 "$T/arun.out" "$CHUM" --dir "$T/a" run --listen 127.0.0.1:0 --no-dial --log "$T/arun.log"
RPID=$SPAWNED
RPORT=$(wait_port "$T/arun.out" 20) # up to 20 s: an ASan build under load starts slowly
[ -n "$RPORT" ] || { bad "chum run did not start:"; cat "$T/arun.out"; }
# the node's URL (chum id --url; a running node may also record it itself) is the default
c --dir "$T/a" id --url "ws://127.0.0.1:$RPORT/" > /dev/null || bad "chum id --url"
c --dir "$T/a" invite --json > "$T/inv5.json" 2> "$T/inv5.err" || { bad "invite for the running node:"; cat "$T/inv5.err"; }
[ "$(field url "$T/inv5.json")" = "ws://127.0.0.1:$RPORT/" ] && ok "invite uses the running node's URL" \
  || bad "invite URL $(field url "$T/inv5.json") != ws://127.0.0.1:$RPORT/"
if c --dir "$T/d" pair "$T/inv5.json" > "$T/d1.log" 2>&1; then
  ok "d pairs with the running node"
else
  bad "d pair with chum run:"; cat "$T/d1.log" "$T/arun.log"
fi
grep -q "\"personId\":.*\"$D\"" <(c --dir "$T/a" peer list --json) && ok "the running node stored d" || bad "a does not know d"
objects_ok a d "$D" # through the running node's own store
objects_ok d a "$A"
if c --dir "$T/d" sync "$A" > "$T/dsync.log" 2>&1; then
  ok "chum sync between d and the node it just paired with (exit 0)"
else
  bad "chum sync after pairing:"; cat "$T/dsync.log" "$T/arun.log"
fi
grep -q "\"url\":.*\"ws://127.0.0.1:$RPORT/\"" <(c --dir "$T/d" peer list --json) \
  && ok "the node announced its URL in its identity" || bad "d has no URL for a"
# keys never change silently, in a chum session too: c (re-keyed in section 3) is refused
c --dir "$T/c" peer add "$T/a.id" --url "ws://127.0.0.1:$RPORT/" > /dev/null 2>&1
if c --dir "$T/c" sync "$A" > "$T/csync.log" 2>&1; then
  bad "c with new keys ran chum with a"
elif grep -q "Key does not match your previous visit" "$T/csync.log"; then
  ok "a chum session of a known person with new keys is refused: Key does not match your previous visit"
else
  bad "c's chum session refused with another message:"; cat "$T/csync.log"
fi
grep -q "Key does not match your previous visit" "$T/arun.log" && ok "the running node logs why it refused c" \
  || bad "no reason in a's log: $(tail -n 5 "$T/arun.log")"
c --dir "$T/c" id --json > "$T/c2.id"
c --dir "$T/a" peer add "$T/c2.id" > "$T/cadd.log" 2>&1 && bad "chum peer add with c's new keys succeeded" \
  || { grep -q "known with other keys" "$T/cadd.log" && ok "chum peer add with changed keys is refused: $(head -n1 "$T/cadd.log")" \
       || bad "peer add refusal: $(cat "$T/cadd.log")"; }
kill -TERM "$RPID"; wait "$RPID"
c --dir "$T/a" id --url none > /dev/null

# ---- 5b. an untrusted peer is not dialled; trusting it again dials it ---------------------------
timeout -k 2 60 "$CHUM" --dir "$T/b" run --listen 127.0.0.1:0 --no-dial --log "$T/brun.log" \
  > "$T/brun.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
for _ in $(seq 1 200); do grep -q "listening ws://" "$T/brun.out" && break; sleep 0.05; done
BURL=$(sed -n 's#.*listening \(ws://127.0.0.1:[0-9]*/\).*#\1#p' "$T/brun.out" | head -1)
c --dir "$T/a" peer untrust "$B" > /dev/null || bad "untrust b"
c --dir "$T/a" peer add "$T/b.id" --url "$BURL" > /dev/null || bad "a records b's URL"
c --dir "$T/a" peer list --json | tr -d ' \n\t' | grep -q "\"personId\":\"$B\"[^}]*\"trusted\":false" \
  && ok "peer add of a known peer keeps it untrusted" || bad "peer add changed the trusted flag"
timeout -k 2 60 "$CHUM" --dir "$T/a" run --log "$T/arun2.log" > "$T/arun2.out" 2>&1 &
APID=$!
PIDS+=("$APID")
sleep 3
grep -q "accepted" "$T/brun.log" && bad "a dialled the untrusted b: $(cat "$T/brun.log")" \
  || ok "chum run does not dial an untrusted peer (3 s)"
c --dir "$T/a" peer trust "$B" > /dev/null || bad "trust b"
for _ in $(seq 1 200); do grep -qs "chum started" "$T/brun.log" && break; sleep 0.05; done
grep -qs "chum started" "$T/brun.log" && ok "after chum peer trust the running node dials b and chum starts" \
  || bad "no session after trust: $(cat "$T/arun2.log")"
kill -TERM "$APID" "$BPID"; wait "$APID" "$BPID"

# ---- 6. bad input ------------------------------------------------------------------------------
c --dir "$T/b" pair '{"token":"abc"}' > /dev/null 2>&1; [ $? -eq 2 ] && ok "a malformed invitation is a usage error" || bad "malformed invitation"
c --dir "$T/a" invite --ttl 5x --url ws://127.0.0.1:1 > /dev/null 2>&1; [ $? -eq 2 ] && ok "a bad --ttl is a usage error" || bad "--ttl 5x"
c --dir "$T/a" invite > /dev/null 2>&1; [ $? -eq 2 ] && ok "invite without a URL is a usage error" || bad "invite without URL"

finish
