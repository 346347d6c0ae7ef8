#!/usr/bin/env bash
# `make run`'s script (scripts/run.sh) end to end, bounded: two nodes in a fresh directory, a
# 2 MiB sample from alice arrives at bob, both show their status, both are stopped by the trap
# (no chum process left behind). CHUM_RUN_SECONDS bounds the status loop; loopback only.
. "$(dirname "$0")/lib/common.sh"
SRC=${CHUM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp_setup

CHUM_RUN_SECONDS=2 CHUM_SAMPLE_MB=2 timeout -k 5 90 bash "$SRC/scripts/run.sh" "$CHUM" "$T/demo" > "$T/out" 2>&1 < /dev/null
rc=$?
[ "$rc" = 0 ] && ok "scripts/run.sh exited 0 after CHUM_RUN_SECONDS" || { bad "exit $rc:"; cat "$T/out"; }
grep -q "created node alice" "$T/out" && grep -q "created node bob" "$T/out" && ok "both nodes created in a fresh directory" || bad "nodes not created"
grep -q "arrived at bob .* ms after the share" "$T/out" && ok "the sample arrived at bob: $(grep -o 'arrived at bob [0-9]* ms' "$T/out")" || { bad "no arrival:"; cat "$T/out"; }
# the first status lines, right after the arrival: both connected with one session each
# (run-status.json is rewritten as soon as a session changes, not only every second, and two
# nodes that dial each other at once keep the same connection)
grep -q "alice@chum.localhost running | peers 1/1 | sessions 1 " "$T/out" && grep -q "bob@chum.localhost running | peers 1/1 | sessions 1 " "$T/out" && ok "both status lines while running" || { bad "status lines:"; cat "$T/out"; }
grep -q "bob@chum.localhost stopped" "$T/out" && ok "both nodes stopped on exit" || bad "not stopped"
for who in alice bob; do
  pid=$(sed -n 's/.*"pid":[[:space:]]*\([0-9]*\).*/\1/p' "$T/demo/$who/run-status.json")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q chum "/proc/$pid/cmdline" 2>/dev/null; then
    bad "$who's node (pid $pid) still runs"; kill "$pid"
  fi
done
ok "no node left running"
# a second run reuses the nodes (they exist now) and still works
CHUM_RUN_SECONDS=1 CHUM_SAMPLE_MB=1 timeout -k 5 90 bash "$SRC/scripts/run.sh" "$CHUM" "$T/demo" > "$T/out2" 2>&1 < /dev/null
grep -q "created node" "$T/out2" && bad "nodes re-created" || ok "second run reuses the nodes"
grep -q "arrived at bob" "$T/out2" && ok "second run: the sample arrived" || { bad "second run:"; cat "$T/out2"; }
finish
