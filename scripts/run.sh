#!/usr/bin/env bash
# `make run`: the main job on loopback (docs/run.md). Two chum nodes, alice and bob, each in its
# own directory under DIR (created if absent), listen on 127.0.0.1, are made known to each other
# (chum id --json | chum peer add), and run chum in keepRunning mode; alice shares a sample file
# with bob, and its arrival at bob is shown with progress; then both keep running, with their
# status, until Ctrl-C (or for $CHUM_RUN_SECONDS seconds when that is set). Both nodes are
# stopped on exit (trap).
#   scripts/run.sh CHUM_BINARY DIR
# Environment: CHUM_SAMPLE_MB (size of the sample file, default 32), CHUM_RUN_SECONDS.
set -euo pipefail
chum=$1
dir=$2
sample_mb=${CHUM_SAMPLE_MB:-32}
tool_share="$(dirname "$chum")/tool_share"
mkdir -p "$dir"
if ! "$chum" share --help > /dev/null 2>&1 && [ ! -x "$tool_share" ]; then
  echo "make run needs 'chum share' or $tool_share (built with the tests)"; exit 1
fi

pids=()
stop_nodes() {
  trap - EXIT INT TERM
  [ "${#pids[@]}" -gt 0 ] || exit 0
  printf '\nstopping the nodes…\n'
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for who in alice bob; do "$chum" --dir "$dir/$who" status --line 2>/dev/null || true; done
  echo "logs: $dir/alice/run.log, $dir/bob/run.log"
  exit 0
}
trap stop_nodes EXIT INT TERM

for who in alice bob; do
  if [ ! -f "$dir/$who/node.json" ]; then
    "$chum" --dir "$dir/$who" init --email "$who@chum.localhost" --instance "$who-node" > /dev/null
    echo "created node $who in $dir/$who"
  fi
  "$chum" --dir "$dir/$who" id --json > "$dir/$who.id.json"
done

declare -A port
for who in alice bob; do
  out="$dir/$who/run.out"
  : > "$out"
  "$chum" --dir "$dir/$who" run --listen 127.0.0.1:0 --log "$dir/$who/run.log" > "$out" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 200); do
    grep -q "^listening ws://" "$out" && break
    sleep 0.05
  done
  port[$who]=$(sed -n 's#^listening ws://127.0.0.1:\([0-9]*\)/ .*#\1#p' "$out")
  [ -n "${port[$who]}" ] || { echo "chum run ($who) did not start:"; cat "$out"; exit 1; }
  echo "$who  ws://127.0.0.1:${port[$who]}/  ($dir/$who)"
done
# known to each other, with their URLs (the nodes re-read known-peers.json within 2 s and dial)
"$chum" --dir "$dir/alice" peer add "$dir/bob.id.json" --url "ws://127.0.0.1:${port[bob]}/" > /dev/null
"$chum" --dir "$dir/bob" peer add "$dir/alice.id.json" --url "ws://127.0.0.1:${port[alice]}/" > /dev/null
for _ in $(seq 1 200); do
  grep -q "chum started" "$dir/bob/run.log" 2>/dev/null && break
  sleep 0.05
done
echo "alice and bob are connected: $(grep -m1 -o 'ready: .*' "$dir/bob/run.log" || echo '(not yet)')"

# alice shares a sample file with bob
sample="$dir/sample-$$.bin"
head -c $((sample_mb * 1024 * 1024)) /dev/urandom > "$sample"
bob_id=$(sed -n 's/^ *"personId": *"\([0-9a-f]*\)".*/\1/p' "$dir/bob.id.json")
size=$(stat -c %s "$sample")
t0=$(date +%s%3N)
if "$chum" share --help > /dev/null 2>&1; then
  blob=$("$chum" --dir "$dir/alice" put "$sample")
  "$chum" --dir "$dir/alice" share "$blob" --with "$bob_id" --name sample.bin > /dev/null
else
  read -r blob _ < <("$tool_share" "$dir/alice" "$sample" "$bob_id")
fi
rm -f "$sample"
echo "alice shared a ${sample_mb} MiB sample file with bob: BLOB ${blob:0:16}…"
arrived=""
for _ in $(seq 1 1200); do
  if [ -f "$dir/bob/store/blobs/$blob" ]; then arrived=1; break; fi
  got=$(sed -n 's/.*"receivingFileBytes":[[:space:]]*\([0-9]*\).*/\1/p' "$dir/bob/run-status.json" 2>/dev/null | sort -n | tail -1)
  got=${got:-0}
  pct=$((got * 100 / size))
  bar=$(printf '%*s' $((pct / 5)) '' | tr ' ' '#')
  printf '\rbob receiving: [%-20s] %3d%%  %d MiB of %d MiB ' "$bar" "$pct" $((got / 1048576)) "$sample_mb"
  sleep 0.1
done
if [ -n "$arrived" ]; then
  printf '\rbob receiving: [####################] 100%%  %d MiB of %d MiB \n' "$sample_mb" "$sample_mb"
  echo "arrived at bob $(( $(date +%s%3N) - t0 )) ms after the share; the store verified its SHA-256"
else
  echo; echo "the file did not arrive within 2 minutes; see $dir/bob/run.log"
fi

echo "both nodes keep running; Ctrl-C stops them"
end=$(( $(date +%s) + ${CHUM_RUN_SECONDS:-0} ))
tty=0
[ -t 1 ] && tty=1
first=1
while :; do
  if [ "$tty" = 1 ]; then
    [ "$first" = 1 ] || printf '\033[2A'
    for who in alice bob; do printf '\033[K'; "$chum" --dir "$dir/$who" status --line || true; done
  elif [ "$first" = 1 ] || [ $(( $(date +%s) % 10 )) = 0 ]; then
    for who in alice bob; do "$chum" --dir "$dir/$who" status --line || true; done
  fi
  first=0
  if [ -n "${CHUM_RUN_SECONDS:-}" ] && [ "$(date +%s)" -ge "$end" ]; then break; fi
  sleep 1
done
