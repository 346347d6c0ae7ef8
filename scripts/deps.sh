#!/usr/bin/env bash
# Installs the Debian packages listed in deps/debian-packages.txt that are missing.
# Usage: scripts/deps.sh [--check]   (--check: exit 1 if something is missing, install nothing)
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/deps/debian-packages.txt"
mapfile -t pkgs < <(grep -v '^\s*#' "$list" | sed 's/\s.*//' | grep -v '^$')

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# npm packages of the interop tests and the bench (tests/interop-node: package.json plus
# package-lock.json, installed with `npm ci`, so every machine gets the locked versions).
# npm comes with nodesource's nodejs; on plain Debian it is the separate package "npm".
node_dir="$here/tests/interop-node"
node_stale() {
  [ ! -f "$node_dir/node_modules/.package-lock.json" ] ||
    [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]
}
if ! command -v npm > /dev/null 2>&1; then
  missing+=(npm)
fi
npm_ci() {
  node_stale || return 0
  echo "deps: npm ci in tests/interop-node"
  for attempt in 1 2 3; do
    if (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error); then return 0; fi
    echo "deps: npm ci failed (attempt $attempt), retrying" >&2; sleep 5
  done
  echo "deps: npm ci failed: the Node ws interop tests will skip" >&2
  return 1
}

if [ ${#missing[@]} -eq 0 ]; then
  if [ "${1:-}" = "--check" ]; then
    if node_stale; then echo "npm packages of tests/interop-node not installed"; exit 1; fi
    exit 0
  fi
  npm_ci; exit $?
fi
if [ "${1:-}" = "--check" ]; then
  echo "missing packages: ${missing[*]}"; exit 1
fi
echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if printf '%s\n' "${missing[@]}" | grep -q ':i386$'; then
  if ! dpkg --print-foreign-architectures | grep -q i386; then
    $sudo dpkg --add-architecture i386
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# A mirror in mid-sync can fail one index: retry, and go on with what we have.
for attempt in 1 2 3; do
  if $sudo apt-get update -qq; then break; fi
  echo "deps: apt-get update failed (attempt $attempt), retrying" >&2; sleep 5
done
for attempt in 1 2 3; do
  if $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then npm_ci; exit $?; fi
  echo "deps: apt-get install failed (attempt $attempt), retrying" >&2
  sleep 5; $sudo apt-get update -qq || true
done
echo "deps: could not install: ${missing[*]}" >&2
exit 1
