#!/usr/bin/env bash
# Runs a command (CI: the README's test command) so that it also proves the
# command leaves /dev/shm as it found it: in a private mount namespace with
# a fresh tmpfs on /dev/shm, which must be empty afterwards (no segment, no
# role lock file). Where a private namespace cannot be made (not root, no
# unshare), it runs on the real /dev/shm and compares the entries before
# and after instead, which other processes on the machine may disturb; it
# says so.
#
#   bash ci/clean-shm.sh cargo test --workspace
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1-}" = "--inside" ]; then
  shift
  mount --make-rprivate /
  mount -t tmpfs -o mode=1777 shmkit-ci /dev/shm
  status=0
  "$@" || status=$?
  left=$(ls -A /dev/shm)
  if [ -n "$left" ]; then
    echo "'$*' left these in /dev/shm:" >&2
    echo "$left" | sed 's/^/  /' >&2
    [ "$status" -ne 0 ] || status=1
  else
    echo "== '$*' left /dev/shm as it found it (a private, empty one)"
  fi
  exit "$status"
fi

[ "$#" -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
  exec unshare -m bash "$0" --inside "$@"
fi

echo "== no private mount namespace here (needs root and unshare): comparing" \
  "the real /dev/shm before and after '$*', which other processes may disturb"
before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
ls -A /dev/shm | sort >"$before"
"$@"
ls -A /dev/shm | sort >"$after"
new=$(comm -13 "$before" "$after")
if [ -n "$new" ]; then
  echo "'$*' left these in /dev/shm:" >&2
  echo "$new" | sed 's/^/  /' >&2
  exit 1
fi
echo "== '$*' left /dev/shm as it found it"
