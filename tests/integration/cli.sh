#!/usr/bin/env bash
# The real `chum` binary: init, id, id --json, status, --help of every command, exit codes,
# bad input, refusing to overwrite, --force, the 0600 secret files, and that a failed init
# leaves nothing behind. Needs $CHUM (set by ctest); vectors from $CHUM_VECTORS_DIR.
. "$(dirname "$0")/lib/common.sh"
VEC=${CHUM_VECTORS_DIR:-$(dirname "$0")/../../../shared/vectors}
tmp_setup /tmp/chum-cli-XXXXXX
json_field() { # json_field FILE KEY → the string value of "KEY": "…" (first match)
  sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -1
}
files_in() { find "$1" -type f 2>/dev/null | wc -l; }

D=$T/node

# ---- help and usage -------------------------------------------------------------------------
expect 0 "chum --help" -- "$CHUM" --help
has "top-level help lists init" "init" "$T/out"
cmds=$("$CHUM" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
for c in version init id status; do
  case " $(echo $cmds) " in *" $c "*) ok "--help lists $c" ;; *) bad "--help does not list $c" ;; esac
done
for c in $cmds; do
  expect 0 "chum $c --help" -- "$CHUM" "$c" --help
  has "$c --help shows usage" "usage: chum $c" "$T/out"
done
expect 0 "chum help init" -- "$CHUM" help init
has "help init shows init's usage" "usage: chum init" "$T/out"
expect 0 "chum --version" -- "$CHUM" --version
has "--version prints the version" "chum protocol 8" "$T/out"
expect 2 "no command is a usage error" -- "$CHUM"
expect 2 "unknown command" -- "$CHUM" frobnicate
expect 2 "unknown option" -- "$CHUM" --dir "$D" id --frob
expect 2 "stray argument" -- "$CHUM" --dir "$D" status extra
expect 2 "option without its value" -- "$CHUM" --dir "$D" init --email

# ---- no node yet -----------------------------------------------------------------------------
expect 1 "id without a node" -- "$CHUM" --dir "$D" id
has "id says how to create a node" "chum init" "$T/err"
expect 1 "status without a node" -- "$CHUM" --dir "$D" status

# ---- bad input leaves nothing ------------------------------------------------------------------
expect 2 "init without --email" -- "$CHUM" --dir "$D" init
expect 2 "init with a bad e-mail" -- "$CHUM" --dir "$D" init --email "not-an-email"
has "bad e-mail is explained" "invalid e-mail" "$T/err"
expect 2 "init with a bad e-mail (two @)" -- "$CHUM" --dir "$D" init --email "a@b@c"
expect 2 "init with a bad instance name" -- "$CHUM" --dir "$D" init --email a@b.c --instance " x"
expect 2 "init with unknown capability" -- "$CHUM" --dir "$D" init --email a@b.c --caps fly
if [ -e "$D" ]; then bad "bad input created $D"; else ok "bad input created nothing"; fi
# Unwritable directory (tests run as root, so: a path under a regular file).
echo plain >"$T/file"
expect 1 "init under a regular file" -- "$CHUM" --dir "$T/file/sub/node" init --email a@b.c --hwid 0242ac110002
has "unwritable directory is explained" "not a directory" "$T/err"
if [ "$(cat "$T/file")" = plain ]; then ok "the regular file is untouched"; else bad "file changed"; fi
expect 1 "init where the directory is a file" -- "$CHUM" --dir "$T/file" init --email a@b.c --hwid 0242ac110002
# A failure half-way (something in the way of state.json.new) leaves no file behind.
mkdir -p "$T/half/state.json.new"
expect 1 "init failing half-way" -- "$CHUM" --dir "$T/half" init --email a@b.c --hwid 0242ac110002
if [ "$(files_in "$T/half")" = 0 ]; then ok "no half-written files"; else
  bad "files left behind: $(find "$T/half" -type f)"; fi

# ---- init, id, status ---------------------------------------------------------------------------
expect 0 "init" -- "$CHUM" --dir "$D" init --email me@example.org --hwid 0242ac110002
has "init prints the node ID" "node ID" "$T/out"
for f in identity.secret.json state.json; do
  m=$(stat -c %a "$D/$f")
  if [ "$m" = 600 ]; then ok "$f has mode 0600"; else bad "$f has mode $m"; fi
done
m=$(stat -c %a "$D")
if [ "$m" = 700 ]; then ok "node directory has mode 0700"; else bad "node directory mode $m"; fi
if [ "$(find "$D" -name '*.new' -o -name '*.old' -o -name '*.tmp-*' | wc -l)" = 0 ]; then
  ok "no temporary files after init"; else bad "temporary files left"; fi
expect 0 "id" -- "$CHUM" --dir "$D" id
has "id shows the e-mail" "me@example.org" "$T/out"
has "id shows the default instance name" "chum-0242ac110002" "$T/out"
has "id shows capabilities" "chum8,pair" "$T/out"
if grep -q "$(sed -n 's/.*"personKeySecret": "\(.*\)".*/\1/p' "$D/identity.secret.json")" "$T/out"; then
  bad "id shows a secret key"; else ok "id shows no secret key"; fi
expect 0 "id --json" -- "$CHUM" --dir "$D" id --json
cp "$T/out" "$T/id.json"
has "id --json is a public identity" '"type": "public"' "$T/id.json"
for k in personEmail instanceName personKeyPublic personSignKeyPublic instanceKeyPublic \
         instanceSignKeyPublic personId instanceId nodeId; do
  has "id --json has $k" "\"$k\"" "$T/id.json"
done
# The node ID is SHA-256(hardware ID bytes ‖ instance ID hash bytes) (docs/node.md).
inst=$(json_field "$T/id.json" instanceId)
want=$(printf '%s' "0242ac110002$inst" | sed 's/../\\x&/g' | xargs -0 printf '%b' | sha256sum | cut -c1-64)
if [ "$(json_field "$T/id.json" nodeId)" = "$want" ]; then ok "node ID bytes"; else
  bad "node ID: $(json_field "$T/id.json" nodeId) != $want"; fi
expect 0 "global options after the command" -- "$CHUM" id --dir "$D" --json -q
has "--json after the command" '"nodeId"' "$T/out"
expect 2 "options after -- are arguments" -- "$CHUM" --dir "$D" id -- --json

expect 0 "status" -- "$CHUM" --dir "$D" status
for w in "objects" "free" "has not run yet" "errors" "messages sent 0" "reconnections 0" \
         "average processing"; do
  has "status shows '$w'" "$w" "$T/out"
done
expect 0 "status --json" -- "$CHUM" --dir "$D" status --json
for k in '"storage"' '"freeBytes"' '"health"' '"metrics"' '"messagesSent": 0' '"retries": 0' \
         '"averageProcessingUs": 0' '"nodeId"'; do
  has "status --json has $k" "$k" "$T/out"
done

# The real hardware ID: a MAC or /etc/machine-id, or a clear refusal where there is neither.
"$CHUM" --dir "$T/hw" init --email me@example.org >"$T/out" 2>"$T/err"
rc=$?
if [ $rc = 0 ] && "$CHUM" --dir "$T/hw" id --json | grep -q '"hardwareIdSource": "\(mac:\|machine-id\)'; then
  ok "init with the machine's hardware ID"
elif [ $rc = 1 ] && grep -q "no hardware ID" "$T/err"; then ok "no hardware ID is explained"
else bad "init with the machine's hardware ID (exit $rc)"; fi

# ---- status reads the state file the running node keeps -----------------------------------------
# Without a store (init makes one; removed here) status shows the figures of the state file.
rm -rf "$D/store"
now=$(date +%s%3N)
cat >"$D/state.json" <<EOS
{"format": 1,
 "metrics": {"messagesSent": 42, "messagesReceived": 40, "retries": 3, "reconnections": 2,
             "bytesSent": 2048, "bytesReceived": 1024, "drops": 1, "queueDepth": 5,
             "processingCount": 4, "processingTotalUs": 10000},
 "health": {"runs": 3, "lastStart": $((now - 65000)), "lastSeen": $now, "uptimeMs": 65000,
            "running": true, "errorTotal": 9},
 "storage": {"objects": 12, "bytes": 3456},
 "errors": [{"at": $now, "code": -7, "module": "conn", "message": "keepalive timeout from peer"}]}
EOS
expect 0 "status of a running node" -- "$CHUM" --dir "$D" status
for w in "messages sent 42, received 40, retries 3, reconnections 2" "2.0 KiB sent" \
         "1 dropped, 5 queued" "average processing time 2.500 ms over 4 messages" \
         "running since" "up 1m 05s" "12 objects" "9 in total" "CHUM_ERR_TIMEOUT" \
         "keepalive timeout from peer"; do
  has "status shows '$w'" "$w" "$T/out"
done
expect 0 "status --json of a running node" -- "$CHUM" --dir "$D" status --json
for k in '"messagesSent": 42' '"running": true' '"averageProcessingUs": 2500' '"objects": 12' \
         '"error": "CHUM_ERR_TIMEOUT"' '"queueDepth": 5'; do
  has "status --json has $k" "$k" "$T/out"
done
# With a store (docs/store.md layout) its contents are counted directly.
mkdir -p "$D/store/objects" "$D/store/ids" "$D/store/blobs" "$D/store/clobs"
printf '%s' '<div itemscope itemtype="//refin.io/Person"><span itemprop="email">x@y</span></div>' \
  >"$D/store/objects/$(printf '%s' '<div itemscope itemtype="//refin.io/Person"><span itemprop="email">x@y</span></div>' | sha256sum | cut -c1-64)"
head -c 3000 /dev/zero >"$D/store/blobs/$(head -c 3000 /dev/zero | sha256sum | cut -c1-64)"
printf 'hello' >"$D/store/clobs/$(printf hello | sha256sum | cut -c1-64)"
expect 0 "status counts the store" -- "$CHUM" --dir "$D" status
has "status shows the store's objects" "1 objects and 0 ID objects, 1 BLOBs (2.9 KiB), 1 CLOBs (5 bytes)" "$T/out"
expect 0 "status --json counts the store" -- "$CHUM" --dir "$D" status --json
has "status --json shows the store's BLOBs" '"blobs": 1, "blobBytes": 3000' "$T/out"
rm -rf "$D/store"

# A node that stopped saving long ago is not running any more.
sed -i "s/\"lastSeen\": $now/\"lastSeen\": $((now - 3600000))/" "$D/state.json"
expect 0 "status of a node that stopped without notice" -- "$CHUM" --dir "$D" status
has "unclean stop is reported" "without a clean shutdown" "$T/out"
echo 'garbage' >"$D/state.json"
expect 0 "status with a damaged state file" -- "$CHUM" --dir "$D" status
has "damaged state file is reported" "state file unreadable" "$T/out"

# ---- refuse to overwrite; --force ------------------------------------------------------------------
before=$(sha256sum "$D/identity.secret.json" "$D/node.json")
expect 1 "init over an existing node" -- "$CHUM" --dir "$D" init --email other@example.org --hwid 0242ac110002
has "refusal mentions --force" "force" "$T/err"
if [ "$(sha256sum "$D/identity.secret.json" "$D/node.json")" = "$before" ]; then
  ok "existing node untouched"; else bad "existing node changed"; fi
expect 0 "init --force" -- "$CHUM" --dir "$D" init --force --email other@example.org --instance kitchen --hwid 0242ac110002
expect 0 "id after --force" -- "$CHUM" --dir "$D" id
has "--force replaced the identity" "other@example.org" "$T/out"
has "--force took the instance name" "kitchen" "$T/out"
if [ "$(stat -c %a "$D/identity.secret.json")" = 600 ]; then ok "secret still 0600 after --force"
else bad "secret mode after --force"; fi
# --force failing half-way keeps the old node whole.
mkdir "$D/state.json.new"
expect 1 "init --force failing half-way" -- "$CHUM" --dir "$D" init --force --email third@example.org --hwid 0242ac110002
rmdir "$D/state.json.new"
expect 0 "id after the failed --force" -- "$CHUM" --dir "$D" id
has "old node kept after a failed --force" "other@example.org" "$T/out"
# A node.json edited by hand is detected.
sed -i 's/other@example.org/evil@example.org/' "$D/node.json"
expect 1 "id with a tampered node.json" -- "$CHUM" --dir "$D" id

# ---- the identity vectors through the binary -----------------------------------------------------
for who in alice bob carol; do
  seed="$VEC/connection/identities/$who.json"
  if [ ! -f "$seed" ]; then bad "missing vector $seed"; continue; fi
  expect 0 "init from the $who seeds" -- "$CHUM" --dir "$T/$who" init --seed-file "$seed" --hwid 0242ac110002
  expect 0 "id --json of $who" -- "$CHUM" --dir "$T/$who" id --json
  for k in personEmail instanceName personKeyPublic personSignKeyPublic instanceKeyPublic \
           instanceSignKeyPublic personId instanceId; do
    got=$(json_field "$T/out" "$k")
    want=$(json_field "$VEC/connection/identities/$who.public.json" "$k")
    if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "$who $k"; else bad "$who $k: '$got' != '$want'"; fi
  done
  # The secret file is one.models' secret identity.
  for k in personKeySecret personSignKeySecret instanceKeySecret instanceSignKeySecret; do
    got=$(json_field "$T/$who/identity.secret.json" "$k")
    if grep -q "\"$k\": \"$got\"" "$VEC/connection/identities.json"; then ok "$who $k"; else bad "$who $k"; fi
  done
done

finish
