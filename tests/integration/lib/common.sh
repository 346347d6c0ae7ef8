# Shared helpers of the integration tests (tests/integration/*.sh). Each test sources it:
#
#   . "$(dirname "$0")/lib/common.sh"
#
# It lives in lib/ so that CMake (which globs tests/integration/*.sh, not subfolders) does not
# run it as a test of its own. Sourcing it sets `set -u`, requires $CHUM (the chum binary;
# ctest sets it) and defines the functions below; nothing else happens until a test calls
# them. A test that needs root, a tool or a built helper skips with `skip REASON` (exit 77).
#
# Temporary directory and processes
#   tmp_setup [TEMPLATE]   T = a new temporary directory (mktemp -d [TEMPLATE]); on exit (also
#                          on SIGINT/SIGTERM) every PID in PIDS is killed, `at_exit` commands
#                          run, and T is removed
#   at_exit CMD            run the shell command CMD on exit, after the PIDS are killed and
#                          before T is removed (e.g. to delete network namespaces)
#   spawn SECS OUT CMD...  run CMD in the background bounded by `timeout -k 2 SECS`, stdout and
#                          stderr to the file OUT; its PID is added to PIDS and left in SPAWNED
#   spawn_split SECS OUT ERR CMD...  the same with stderr to the file ERR
#   c ARGS...              run "$CHUM" ARGS in the foreground bounded by `timeout -k 2
#                          ${C_TIMEOUT:-30}` (a test may set C_TIMEOUT)
#
# Waiting (every wait is bounded; polls every 0.02 s)
#   wait_for CMD...            until CMD succeeds, at most ${WAIT_SECS:-10} s; 1 on timeout
#   wait_up_to SECS CMD...     the same with an explicit bound
#   wait_port FILE [SECS]      until FILE has a "listening ws://127.0.0.1:PORT/" line (default
#                              10 s); prints PORT, or returns 1
#   port_of FILE               PORT of the first "listening ws://127.0.0.1:PORT/" line in FILE
#
# Nodes
#   init_nodes DOMAIN WHO...   `chum init --email WHO@DOMAIN` in $T/WHO and its identity
#                              (`chum id --json`) in $T/WHO.id; exits 1 when one fails
#   person_of FILE             the personId of an identity file (chum id --json)
#   start_node WHO [ARGS...]   `chum --dir $T/WHO run --listen 127.0.0.1:0 --log $T/WHO.log
#                              ARGS` in the background (${NODE_SECS:-120} s at most, output in
#                              $T/WHO.out); waits until it listens (exits 1 if it does not) and
#                              sets PID_WHO and PORT_WHO
#
# Checks and the summary
#   ok MSG / bad MSG           print "ok - MSG" / "not ok - MSG" and count it
#   expect CODE NAME -- CMD... run CMD (stdout to $T/out, stderr to $T/err); ok NAME when it
#                              exits with CODE, bad (with the start of $T/err) otherwise
#   has NAME PATTERN FILE      ok when grep finds PATTERN in FILE; hasnt: when it does not
#   same NAME FILE1 FILE2      ok when the files are byte-identical
#   eq NAME A B                ok when the strings A and B are equal
#   finish                     print "N passed, N failed" and exit: 0 only when none failed
#                              (and at least one passed)
#   die MSG [FILE...]          print MSG and the FILEs, exit 1 (setup that cannot go on)
#   skip REASON                print "skip: REASON", exit 77 (ctest counts it as skipped)

set -u
CHUM=${CHUM:?CHUM must point at the chum binary}
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INTEGRATION_DIR=$(dirname "$LIB_DIR")

PIDS=()
AT_EXIT=()
T=
pass=0
fails=0

skip() { echo "skip: $*"; exit 77; }
die() {
  echo "$1"
  shift
  [ $# -gt 0 ] && cat "$@" 2>/dev/null
  exit 1
}

_cleanup() {
  local p cmd
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  for cmd in "${AT_EXIT[@]}"; do eval "$cmd"; done
  [ -n "$T" ] && rm -rf "$T"
}
tmp_setup() {
  T=$(mktemp -d "$@") || die "mktemp failed"
  trap _cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
at_exit() { AT_EXIT+=("$1"); }

spawn() {
  local secs=$1 out=$2
  shift 2
  : > "$out" # empty at once: a waiter never reads what an earlier process left there
  timeout -k 2 "$secs" "$@" > "$out" 2>&1 &
  SPAWNED=$!
  PIDS+=("$SPAWNED")
}
spawn_split() {
  local secs=$1 out=$2 err=$3
  shift 3
  : > "$out"
  : > "$err"
  timeout -k 2 "$secs" "$@" > "$out" 2> "$err" &
  SPAWNED=$!
  PIDS+=("$SPAWNED")
}
c() { timeout -k 2 "${C_TIMEOUT:-30}" "$CHUM" "$@"; }

wait_up_to() {
  local n=$(($1 * 50))
  shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.02; done
  return 1
}
wait_for() { wait_up_to "${WAIT_SECS:-10}" "$@"; }
port_of() { sed -n 's#.*listening ws://127\.0\.0\.1:\([0-9][0-9]*\)/.*#\1#p' "$1" | head -1; }
wait_port() {
  local p
  for _ in $(seq 1 $((${2:-10} * 50))); do
    p=$(port_of "$1")
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.02
  done
  return 1
}

init_nodes() {
  local domain=$1 who
  shift
  for who in "$@"; do
    c --dir "$T/$who" init --email "$who@$domain" > /dev/null || die "init $who failed"
    c --dir "$T/$who" id --json > "$T/$who.id" || die "chum id $who failed"
  done
}
person_of() { sed -n 's/^ *"personId": *"\([0-9a-f]*\)".*/\1/p' "$1"; }
start_node() {
  local who=$1 port
  shift
  spawn "${NODE_SECS:-120}" "$T/$who.out" \
    "$CHUM" --dir "$T/$who" run --listen 127.0.0.1:0 --log "$T/$who.log" "$@"
  printf -v "PID_$who" '%s' "$SPAWNED"
  port=$(wait_port "$T/$who.out") || die "$who did not start:" "$T/$who.out"
  printf -v "PORT_$who" '%s' "$port"
}

ok() { echo "ok - $*"; pass=$((pass + 1)); }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
expect() {
  local code=$1 name=$2 rc
  shift 3
  "$@" > "$T/out" 2> "$T/err"
  rc=$?
  if [ "$rc" = "$code" ]; then ok "$name"; else
    bad "$name (exit $rc, expected $code)"; sed 's/^/    /' "$T/err" | head -5; fi
}
has() { if grep -q -- "$2" "$3"; then ok "$1"; else bad "$1: no '$2' in $3"; sed 's/^/    /' "$3" | head -5; fi; }
hasnt() { if grep -q -- "$2" "$3"; then bad "$1: '$2' in $3"; else ok "$1"; fi; }
same() { if cmp -s "$2" "$3"; then ok "$1"; else bad "$1: $2 and $3 differ"; fi; }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: '$2' != '$3'"; fi; }
finish() {
  echo "$pass passed, $fails failed"
  [ "$fails" = 0 ] && [ "$pass" -gt 0 ] && exit 0
  exit 1
}
