#!/usr/bin/env bash
# `make run`: create a node in DIR if there is none, then run it (until the node loop exists:
# print its identity and status).
#   scripts/run.sh CHUM_BINARY DIR
# The new node's e-mail is $CHUM_EMAIL, else <user>@<host name>; its instance name
# $CHUM_INSTANCE, else the default from the hardware ID.
set -euo pipefail
chum=$1
dir=$2
if [ ! -f "$dir/node.json" ]; then
  user=$(id -un 2>/dev/null | tr -cd 'A-Za-z0-9._-')
  host=$(hostname 2>/dev/null | tr -cd 'A-Za-z0-9.-' | sed 's/^[.-]*//; s/[.-]*$//')
  email="${CHUM_EMAIL:-${user:-chum}@${host:-localhost}}"
  args=(--dir "$dir" init --email "$email")
  if [ -n "${CHUM_INSTANCE:-}" ]; then args+=(--instance "$CHUM_INSTANCE"); fi
  "$chum" "${args[@]}"
  echo
fi
"$chum" --dir "$dir" id
echo
"$chum" --dir "$dir" status
