#!/usr/bin/env bash
# The Quickstart's main job: plan, then apply, the example desired-state/ against the
# embedded local sandbox (no credentials), then plan again to show it converged, and
# audit its keys (the seeded stale one, who created it, every stored secret).
# Secrets of new keys go to the local file vault under .sandbox/vault (never printed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
r=.venv/bin/reconciler
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step reconciler validate desired-state
$r validate desired-state
step reconciler plan --sandbox desired-state
$r plan --sandbox desired-state
step reconciler apply --sandbox --auto-approve desired-state
$r apply --sandbox --auto-approve desired-state
step reconciler plan --sandbox desired-state
$r plan --sandbox desired-state
step reconciler audit --sandbox --attribution-days 365 desired-state
$r audit --sandbox --attribution-days 365 desired-state
printf '\nSandbox state: .sandbox/state.json   Secrets: .sandbox/vault (mode 0600)\n'
printf 'Start over with: .venv/bin/reconciler sandbox reset\n'
