#!/usr/bin/env bash
# The Quickstart's main job: plan, then apply, the example desired-state/ against the
# embedded local sandbox (no credentials), then plan again to show it converged, and
# audit its keys (the seeded stale one, who created it, every stored secret), and rotate
# one key as if it had leaked (--replace with no grace: the new key is stored and verified,
# then the old one deleted in the same apply).
# People as code: the apply offboards iris (she left: out of dev, her key deleted) and
# invites kate (onboarding, with ml); kate then accepts, as she would from the email, and
# the plan after shows there is nothing more to do for her.
# Secrets of new keys go to the local file vault under .sandbox/vault (never printed).
# Then the same for the Anthropic example (examples/acme-anthropic/), on its own local
# organisation: its one new key is a Console action, since Anthropic's API makes none.
# examples/ is laid out as a directory of organisations (one sub-directory each, here
# acme-anthropic): plan runs each in turn, apply takes one (--org).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
# Each reconciler run below is a new process: let Python cache the bytecode of what they
# import (bootstrap.sh compiles none ahead), even where PYTHONDONTWRITEBYTECODE is set.
unset PYTHONDONTWRITEBYTECODE
r=.venv/bin/reconciler
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step reconciler validate desired-state
$r validate desired-state
step reconciler plan --sandbox desired-state
$r plan --sandbox desired-state
step reconciler apply --sandbox --auto-approve desired-state
$r apply --sandbox --auto-approve desired-state
step reconciler sandbox accept-invite kate.moreau@acme.example
$r sandbox accept-invite kate.moreau@acme.example
step reconciler plan --sandbox desired-state
$r plan --sandbox desired-state
step reconciler audit --sandbox --attribution-days 365 desired-state
$r audit --sandbox --attribution-days 365 desired-state
step reconciler apply --sandbox --auto-approve --replace api_key.dev-bob --grace 0 desired-state
$r apply --sandbox --auto-approve --replace api_key.dev-bob --grace 0 desired-state
step reconciler orgs examples
$r orgs examples
step reconciler plan --sandbox examples
$r plan --sandbox examples
step reconciler apply --sandbox --auto-approve examples --org acme-anthropic
$r apply --sandbox --auto-approve examples --org acme-anthropic
step reconciler plan --sandbox examples --org acme-anthropic
$r plan --sandbox examples --org acme-anthropic
step reconciler audit --sandbox examples --org acme-anthropic
$r audit --sandbox examples --org acme-anthropic
printf '\nSandbox state: .sandbox/state.json (Anthropic: .sandbox/state.anthropic.json)'
printf '   Secrets: .sandbox/vault (mode 0600)\n'
printf 'Start over with: .venv/bin/reconciler sandbox reset; .venv/bin/reconciler sandbox reset --provider anthropic\n'
