#!/usr/bin/env bash
# Names the lock file the install uses and its digest (the pip cache's key), and where pip
# keeps its downloads. The action's tree may lie outside the workspace, where hashFiles()
# cannot see, so the digest is taken here. The cache lives under HOME, which outlasts the
# job's last step (the cache is saved after it).
set -euo pipefail
lock="$(cd "${GITHUB_ACTION_PATH:?}/../../.." && pwd)/requirements/ci.txt"
[ -f "$lock" ] || { echo "::error title=reconciler::no lock file at $lock"; exit 1; }
digest="$(sha256sum "$lock" | cut -d' ' -f1)"
{
  echo "lock=$lock"
  echo "digest=$digest"
  echo "cache-dir=${HOME:?}/.cache/reconciler-pip"
} >> "${GITHUB_OUTPUT:?}"
