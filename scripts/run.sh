#!/usr/bin/env bash
# `make run`: create a node in DIR if there is none, then run it (or, until the node loop
# exists, print its identity and status).
set -euo pipefail
chum=$1
dir=$2
if [ ! -f "$dir/node.json" ]; then
  email="${CHUM_EMAIL:-$(whoami)@$(hostname 2>/dev/null || echo localhost)}"
  "$chum" --dir "$dir" init --email "$email"
fi
"$chum" --dir "$dir" id
"$chum" --dir "$dir" status
