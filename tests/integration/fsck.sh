#!/usr/bin/env bash
# chum fsck on a real node directory: an intact store passes (exit 0); a corrupted object and
# a corrupted BLOB are reported, moved to <dir>/quarantine/ and fsck exits 1; the next run is
# clean again. The store is filled through its documented layout (docs/store.md): files
# named by the SHA-256 of their bytes.
set -u
CHUM=${CHUM:?set CHUM to the chum binary}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

node="$d/node"
mkdir -p "$node"
# First run creates the store and finds it empty and intact.
out=$("$CHUM" --dir "$node" fsck 2>&1) || fail "fsck of an empty store failed: $out"
[ -d "$node/store/objects" ] || fail "fsck did not create the store layout"

put() { # put KIND FILE: copy FILE into store/KIND/<sha256>
  local h
  h=$(sha256sum "$2" | cut -d' ' -f1)
  cp "$2" "$node/store/$1/$h"
  echo "$h"
}
printf '%s' '<div itemscope itemtype="//refin.io/Person"><span itemprop="email">alice@example.com</span></div>' >"$d/person"
printf '%s' '<div data-id-object="true" itemscope itemtype="//refin.io/Person"><span itemprop="email">alice@example.com</span></div>' >"$d/person-id"
head -c 200000 /dev/urandom >"$d/blob"
printf 'Hello <CLOB> & "friends" \xc3\xa4\xc3\xb6\xc3\xbc' >"$d/clob"
obj=$(put objects "$d/person")
[ "$obj" = d7fcc04f9a1a74cc6ff70b700d9af6671c5fcaca0937129474ad8ba840d60f9a ] || fail "unexpected person hash $obj"
put ids "$d/person-id" >/dev/null
blob=$(put blobs "$d/blob")
put clobs "$d/clob" >/dev/null

out=$("$CHUM" --dir "$node" fsck 2>&1) || fail "fsck of an intact store failed: $out"
echo "$out" | grep -q "4 files" || fail "expected 4 files verified: $out"

# Corrupt one byte of the object and truncate the BLOB.
printf 'X' | dd of="$node/store/objects/$obj" bs=1 seek=50 conv=notrunc status=none
truncate -s 1000 "$node/store/blobs/$blob"
# A temporary file of an interrupted write is a leftover, not corruption.
echo partial >"$node/store/tmp/00000001-00000000.tmp"

out=$("$CHUM" --dir "$node" fsck --dry-run 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "fsck --dry-run exit code $rc, expected 1: $out"
[ -f "$node/store/objects/$obj" ] || fail "--dry-run moved a file"

out=$("$CHUM" --dir "$node" fsck 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "fsck exit code $rc with corruption, expected 1: $out"
echo "$out" | grep -q "objects/$obj" || fail "fsck did not name the corrupt object: $out"
echo "$out" | grep -q "blobs/$blob" || fail "fsck did not name the corrupt BLOB: $out"
echo "$out" | grep -q "quarantine" || fail "fsck did not mention quarantine: $out"
[ -f "$node/quarantine/objects-$obj" ] || fail "corrupt object not in quarantine/"
[ -f "$node/quarantine/blobs-$blob" ] || fail "corrupt BLOB not in quarantine/"
[ ! -e "$node/store/objects/$obj" ] || fail "corrupt object still in the store"
[ -z "$(ls "$node/store/tmp")" ] || fail "temporary leftovers not removed"

# Clean afterwards; --json reports the counts.
out=$("$CHUM" --dir "$node" fsck --json 2>/dev/null) || fail "second fsck not clean: $out"
echo "$out" | grep -q '"ok":true' || fail "json: $out"
echo "$out" | grep -q '"checked":2' || fail "json checked count: $out"

# No node directory: a clear error, exit 1.
out=$("$CHUM" --dir "$d/missing" fsck 2>&1)
[ $? -eq 1 ] || fail "fsck without a node directory should exit 1"
echo "$out" | grep -q "no node directory" || fail "unclear message: $out"
"$CHUM" fsck --help | grep -q "quarantine" || fail "fsck --help"
echo "fsck.sh: ok"
