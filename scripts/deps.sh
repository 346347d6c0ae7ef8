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
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
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
  if $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then exit 0; fi
  echo "deps: apt-get install failed (attempt $attempt), retrying" >&2
  sleep 5; $sudo apt-get update -qq || true
done
echo "deps: could not install: ${missing[*]}" >&2
exit 1
