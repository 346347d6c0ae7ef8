#!/usr/bin/env bash
# chum between real `chum` processes on 127.0.0.1: the access matrix and a disconnect in the
# middle of a BLOB with the resumption.
#  - alice runs `chum run --listen`; bob and carol pull with `chum sync ALICE --once`;
#  - alice shares one file with bob, one with carol, one with dave (who never connects), so
#    each of bob and carol must end with exactly their own file;
#  - a 40 MB file for bob: bob's `chum sync` is killed (SIGKILL) while the BLOB streams in; the
#    partial file must not be in bob's store and fsck must be clean; the next `chum sync`
#    completes it byte-identical and exits 0.
# Shared content is made with tool_share (tests/integration/tool_share.c). Every process is
# bounded by `timeout -k` and killed by the trap; nothing leaves 127.0.0.1.
. "$(dirname "$0")/lib/common.sh"
B=${CHUM_BUILD_DIR:-$(dirname "$CHUM")}
SHARE="$B/tool_share"
[ -x "$SHARE" ] || skip "$SHARE not built"
"$CHUM" sync --help > /dev/null 2>&1 || skip "this chum has no sync command"
tmp_setup
C_TIMEOUT=60
WAIT_SECS=20
has_blob() { [ -f "$T/$1/store/blobs/$2" ]; }

init_nodes matrix.test alice bob carol dave
ALICE=$(person_of "$T/alice.id")
BOB=$(person_of "$T/bob.id")
CAROL=$(person_of "$T/carol.id")
DAVE=$(person_of "$T/dave.id")

c --dir "$T/alice" peer add "$T/bob.id" > /dev/null || bad "alice adds bob"
c --dir "$T/alice" peer add "$T/carol.id" > /dev/null || bad "alice adds carol"
NODE_SECS=300 start_node alice
PORT=$PORT_alice
for who in bob carol; do
  c --dir "$T/$who" peer add "$T/alice.id" --url "ws://127.0.0.1:$PORT/" > /dev/null || bad "$who adds alice"
done

# ---- the access matrix ----
for who in bob carol dave; do
  head -c 5000 /dev/urandom > "$T/for_$who.bin"
done
read -r F_BOB _ < <("$SHARE" "$T/alice" "$T/for_bob.bin" "$BOB") || bad "share with bob"
read -r F_CAROL _ < <("$SHARE" "$T/alice" "$T/for_carol.bin" "$CAROL") || bad "share with carol"
read -r F_DAVE _ < <("$SHARE" "$T/alice" "$T/for_dave.bin" "$DAVE") || bad "share with dave"
for who in bob carol; do
  if c --dir "$T/$who" sync "$ALICE" --once > "$T/$who.sync1" 2>&1; then
    ok "$who: chum sync --once exited 0"
  else
    bad "$who: chum sync failed:"; cat "$T/$who.sync1"
  fi
done
has_blob bob "$F_BOB" && cmp -s "$T/for_bob.bin" "$T/bob/store/blobs/$F_BOB" && ok "bob received his file" || bad "bob lacks his file"
has_blob carol "$F_CAROL" && cmp -s "$T/for_carol.bin" "$T/carol/store/blobs/$F_CAROL" && ok "carol received her file" || bad "carol lacks her file"
! has_blob bob "$F_CAROL" && ! has_blob bob "$F_DAVE" && ok "bob received neither carol's nor dave's file" || bad "bob received a file not shared with him"
! has_blob carol "$F_BOB" && ! has_blob carol "$F_DAVE" && ok "carol received neither bob's nor dave's file" || bad "carol received a file not shared with her"
if grep -l 'itemtype="//refin.io/Access"' "$T/bob/store/objects/"* "$T/carol/store/objects/"* > /dev/null 2>&1; then
  bad "an Access object travelled"
else
  ok "no Access object travelled (policy objects stay local)"
fi

# ---- disconnect in the middle of a BLOB, then resume ----
head -c 40000000 /dev/urandom > "$T/big.bin"
read -r BIG _ < <("$SHARE" "$T/alice" "$T/big.bin" "$BOB") || bad "share the big file"
# chum's own PID is needed (SIGKILL to the timeout wrapper would leave chum running): the
# wrapper's shell writes its PID and execs chum
timeout -k 2 120 bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$T/sync.pid" \
  "$CHUM" --dir "$T/bob" sync "$ALICE" --once > "$T/bob.sync2" 2>&1 &
WP=$!
PIDS+=("$WP")
wait_for test -s "$T/sync.pid"
SP=$(cat "$T/sync.pid")
# kill bob's process once part of the BLOB is in its store's tmp/ (a write in progress)
partial() { find "$T/bob/store/tmp" -type f -size +100k 2>/dev/null | grep -q .; }
if wait_for partial; then
  kill -KILL "$SP" 2>/dev/null
  wait "$WP" 2>/dev/null
  kill -0 "$SP" 2>/dev/null && bad "bob's chum is still running after SIGKILL"
  if has_blob bob "$BIG"; then
    bad "the BLOB was complete before the kill (cannot test the cut)"
  else
    ok "bob's chum sync killed in the middle of the 40 MB BLOB; no BLOB in bob's store"
  fi
  c --dir "$T/bob" fsck > "$T/fsck.out" 2>&1 && ok "bob's store is consistent after the kill (chum fsck exit 0)" || { bad "fsck:"; cat "$T/fsck.out"; }
else
  wait "$WP" 2>/dev/null
  bad "never saw the BLOB in progress:"; cat "$T/bob.sync2"
fi
# alice must notice that bob's connection is gone (the socket closed with the process)
all_ended() { [ "$(grep -c ': accepted ' "$T/alice.log")" = "$(grep -c ': ended' "$T/alice.log")" ]; }
t0=$(date +%s%3N)
if wait_for all_ended; then
  ok "alice noticed the dropped connection ($(( $(date +%s%3N) - t0 )) ms after the kill and fsck)"
else
  bad "alice still holds the dead connection after 20 s"
fi
if c --dir "$T/bob" sync "$ALICE" --once > "$T/bob.sync3" 2>&1; then
  ok "the next chum sync exited 0"
else
  bad "resumed sync failed:"; cat "$T/bob.sync3"
fi
has_blob bob "$BIG" && cmp -s "$T/big.bin" "$T/bob/store/blobs/$BIG" && ok "the 40 MB file arrived byte-identical after the resumption" || bad "big file missing or different"
has_blob bob "$F_BOB" && ! has_blob bob "$F_CAROL" && ok "bob's matrix unchanged after the resumption" || bad "bob's matrix changed"
left=$(find "$T/bob/store/tmp" -type f 2>/dev/null | wc -l)
[ "$left" = 0 ] && ok "no temporary file left in bob's store" || bad "$left temporary files left"

finish
