#!/usr/bin/env bash
# Run a command inside a fresh loopback-only network namespace: only `lo` exists, so nothing that the
# command or its children do can reach any address outside 127.0.0.0/8.
set -euo pipefail
exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' sandbox "$@"
