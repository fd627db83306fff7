#!/usr/bin/env bash
# Runs one reconciler command for the composite action (inputs arrive as environment
# variables, see action.yml). Exit codes: plan/drift exit 2 ("changes") is success here.
# plan and drift hand back what apply would change through the Admin API (api-changes)
# apart from what a person must change in the admin console (manual-changes).
set -euo pipefail
out="${OUT:?}"
mkdir -p "$out"
read -r -a extra <<< "${ARGS:-}"
directory="${DIRECTORY:-desired-state}"
output() { echo "$1=$2" >> "${GITHUB_OUTPUT:-/dev/null}"; }
run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"

# Runs "reconciler plan" with the given extra flags into $1; sets $code, keeps stderr in $out.
plan_into() {
  local file="$1"
  shift
  set +e
  reconciler plan "$directory" --detailed-exitcode "$@" "${extra[@]}" > "$file" 2> "$out/plan.err"
  code=$?
  set -e
  cat "$out/plan.err" >&2
  output exitcode "$code"
  if [ "$code" -eq 2 ]; then output has-changes true; else output has-changes false; fi
}

# A failed plan replaces the PR's plan comment, so nobody reviews a stale plan.
comment_failure() {
  {
    echo "### reconciler plan failed for \`$directory\`"
    echo
    echo '````text'
    tail -n 60 "$out/plan.err"
    echo '````'
    echo
    echo "See [the workflow run]($run_url)."
  } > "$out/failure.md"
  reconciler github summary --file "$out/failure.md" || true
  reconciler github comment --file "$out/failure.md" --key "$directory" || true
}

case "${COMMAND:-}" in
  plan)
    plan_into "$out/plan.md" --format markdown --out "$out/plan.out"
    if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
      if [ "${COMMENT:-true}" = "true" ] && [ -n "${PR_NUMBER:-}" ]; then comment_failure; fi
      exit "$code"
    fi
    output plan-file "$out/plan.out"
    output plan-markdown "$out/plan.md"
    reconciler github outputs --plan "$out/plan.out"
    reconciler github summary --file "$out/plan.md"
    if [ "${COMMENT:-true}" = "true" ] && [ -n "${PR_NUMBER:-}" ]; then
      reconciler github comment --file "$out/plan.md" --key "$directory"
    fi
    ;;
  drift)
    plan_into "$out/plan.json" --format json --out "$out/plan.out"
    if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then exit "$code"; fi
    output plan-json "$out/plan.json"
    output plan-file "$out/plan.out"
    reconciler github outputs --plan "$out/plan.out"
    reconciler github drift --plan-json "$out/plan.json" --label "${DRIFT_LABEL:-reconciler-drift}"
    ;;
  apply)
    reconciler apply "$directory" --auto-approve "${extra[@]}"
    ;;
  validate)
    reconciler validate "$directory" "${extra[@]}"
    ;;
  *)
    echo "::error title=reconciler::command must be plan, apply, drift or validate, not '${COMMAND:-}'"
    exit 1
    ;;
esac
