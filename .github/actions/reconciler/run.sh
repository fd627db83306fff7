#!/usr/bin/env bash
# Runs one reconciler command for the composite action (inputs arrive as environment
# variables, see action.yml). Exit codes: plan/drift exit 2 ("changes") is success here.
# plan and drift hand back what apply would change through the Admin API (api-changes)
# apart from what a person must change in the admin console (manual-changes).
# plan names the commit and base it planned in its comment and the artifact to save the
# plan under (plan-artifact); apply applies only that saved, reviewed plan (see
# apply_reviewed) and says on the merged pull request what it did, or why it did nothing;
# stale marks the other open pull requests' plans stale after a merge.
set -euo pipefail
out="${OUT:?}"
mkdir -p "$out"
read -r -a extra <<< "${ARGS:-}"
directory="${DIRECTORY:-desired-state}"
output() { echo "$1=$2" >> "${GITHUB_OUTPUT:-/dev/null}"; }
run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"
pr="${PR_NUMBER:-}"
carried_note=""  # set by tell_skipped_merges: the merges whose changes this apply carries

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

# The last $2 lines of file $1 as a fenced block whose fence no line inside can close.
fenced_tail() {
  local ticks='```' lines
  lines=$(wc -l < "$1")
  if [ "$lines" -gt "$2" ]; then echo "(the last $2 of its $lines lines; the run's log has them all)"; fi
  while grep -qF -- "$ticks" "$1"; do ticks="$ticks\`"; done
  echo "${ticks}text"
  tail -n "$2" "$1"
  if [ -n "$(tail -c 1 "$1")" ]; then echo; fi
  echo "$ticks"
}

# A failed plan replaces the PR's plan comment, so nobody reviews a stale plan; it names
# the commit that failed, and that no plan of it is saved for the merge to apply.
comment_failure() {
  local planned="The plan failed"
  if [ -n "${head_sha:-}" ]; then
    planned="Planned \`${head_sha:0:7}\` (head of #$pr) merged with base \`${base_sha:0:7}\`"
    planned="$planned in [this run]($run_url): the plan failed"
  fi
  {
    echo "### reconciler plan failed for \`$directory\`"
    echo
    echo "> $planned, so no plan is saved for the merge: merging it now applies nothing."
    echo
    fenced_tail "$out/plan.err" 60
    echo
    echo "See [the workflow run]($run_url)."
  } > "$out/failure.md"
  reconciler github summary --file "$out/failure.md" || true
  reconciler github comment --file "$out/failure.md" --key "$directory" ${pr:+--pr "$pr"} \
    ${COMMENT_AUTHOR:+--author "$COMMENT_AUTHOR"} || true
}

# The pull request's commit and the base it is merged with: from the event, else (a
# dispatched plan of refs/pull/N/merge, fetched two deep) the merge commit's parents.
planned_commits() {
  head_sha="${HEAD_SHA:-}"
  base_sha="${BASE_SHA:-}"
  if [ -z "$head_sha" ] && git rev-parse -q --verify 'HEAD^2' > /dev/null 2>&1; then
    base_sha="$(git rev-parse 'HEAD^1')"
    head_sha="$(git rev-parse 'HEAD^2')"
  fi
}

# The extra arguments without the options that make a plan (--replace, --grace,
# --rotate-at-most): the reviewed plan was made with them and carries them, and apply of a
# saved plan refuses them. Into the array apply_extra.
apply_options() {
  apply_extra=()
  local skip=""
  for arg in "${extra[@]}"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case "$arg" in
      --replace | --grace | --rotate-at-most) skip=1 ;;
      --replace=* | --grace=* | --rotate-at-most=*) ;;
      *) apply_extra+=("$arg") ;;
    esac
  done
}

# Apply the plan reviewers saw and nothing else: the saved plan of the pull request merged
# as GITHUB_SHA (at its last commit), or the one run PLAN_RUN saved. Without one, or when
# it is stale (the organisation or the desired state changed since it was made), nothing
# is applied: see not_applied. Run by hand without PLAN_RUN, it only plans.
apply_reviewed() {
  local found="" why="" artifact="" args=(--out "$out/reviewed.out" --key "$directory")
  if [ -z "${PLAN_RUN:-}" ] && [ "${GITHUB_EVENT_NAME:-}" = "workflow_dispatch" ]; then
    # By hand, the commit is still the last merge: its plan is not for this run to apply,
    # nor is that pull request to be told about this one.
    not_applied "Planned only" "a run by hand applies only the plan a run saved, named by its input \`plan-run\`"
  fi
  if [ -n "${PLAN_RUN:-}" ]; then
    args+=(--run-id "$PLAN_RUN")
  else
    tell_skipped_merges
  fi
  reconciler github reviewed-plan "${args[@]}" > "$out/reviewed.txt"
  while IFS='=' read -r name value; do
    case "$name" in
      found) found="$value" ;;
      pull-request) pr="$value" ;;
      reason) why="$value" ;;
      reviewed-artifact) artifact="$value" ;;
    esac
  done < "$out/reviewed.txt"
  if [ "$found" != "true" ]; then
    not_applied "No reviewed plan" "$why"
  fi
  apply_options
  set +e
  reconciler apply "$out/reviewed.out" --exact --auto-approve "${apply_extra[@]}" \
    2> "$out/apply.err" | tee "$out/apply.txt"
  code=${PIPESTATUS[0]}
  set -e
  cat "$out/apply.err" >&2
  local checksum reviewed
  checksum="$(reconciler github outputs --plan "$out/reviewed.out" | sed -n 's/^plan-checksum=//p' || true)"
  reviewed="the plan #$pr showed (\`$artifact\`, checksum \`$checksum\`)"
  if [ -n "${PLAN_RUN:-}" ]; then
    reviewed="the plan run $PLAN_RUN saved (\`$artifact\`, checksum \`$checksum\`)"
  fi
  if [ "$code" -eq 0 ]; then
    local done_line
    done_line="$(grep -m1 -E '^(Apply complete!|No changes)' "$out/apply.txt" || true)"
    report_apply "applied" "Applied $reviewed. **${done_line:-Apply complete.}**"
    return 0
  fi
  why="$(grep -m1 '^Error: Saved plan is stale: ' "$out/apply.err" || true)"
  if [ -z "$why" ]; then
    report_apply "apply failed for" "$(apply_failed_note "$reviewed")"
    echo "::error title=reconciler::Apply failed (exit $code): see the output above."
    exit "$code"
  fi
  why="${why#Error: Saved plan is stale: }"
  not_applied "Stale" "${why%%. Run plan again*}"
}

# The pull requests merged since the last apply here whose own apply never ran (GitHub
# cancels a waiting apply when a later merge queues) are told that this merge's apply
# carries their changes; carried_note is then the line this merge's comment adds.
tell_skipped_merges() {
  local told
  if told="$(reconciler github skipped-merges --key "$directory" \
    ${COMMENT_AUTHOR:+--author "$COMMENT_AUTHOR"})"; then
    carried_note="$(printf '%s\n' "$told" | sed -n 's/^carried-note=//p')"
  else
    echo "::warning title=reconciler::Could not tell the pull requests merged since the last apply whose own apply did not run (see the error above)."
  fi
}

apply_failed_note() {
  echo "> [!CAUTION]"
  echo "> **Apply failed.** Applying $1 stopped with an error (at the end of the output"
  echo "> below); what it changed before that is in the output and the run's audit log. Re-run"
  echo "> the failed job: it applies the reviewed plan if the organisation has not changed"
  echo "> since, or else applies nothing and posts a fresh plan here to review and apply."
}

# Tell the merged pull request (and the job summary) what the apply did: heading $1, note
# $2, then apply's output in a fold. Edits the comment a refusal would post (one per merge).
report_apply() {
  local sha="${GITHUB_SHA:-}"
  cat "$out/apply.txt" "$out/apply.err" > "$out/apply.log"
  {
    echo "### reconciler: $1 \`$directory\` at \`${sha:0:7}\`"
    echo
    echo "$2"
    echo
    if [ -n "$carried_note" ]; then
      echo "$carried_note"
      echo
    fi
    echo "<details><summary>Show Output</summary>"
    echo
    fenced_tail "$out/apply.log" 400
    echo
    echo "</details>"
    echo
    echo "See [run ${GITHUB_RUN_ID:-}]($run_url)."
  } > "$out/applied.md"
  post_at_merge "$out/applied.md"
}

# Nothing was applied ($1: why, in a word; $2: the detail). Plan afresh and save that plan
# (this run's artifact), post it on the merged pull request and in the summary under a
# header that says so and how to apply it once reviewed, and fail the run. When even that
# plan fails, its error is posted instead.
not_applied() {
  local what="$1" why="$2" workflow="${GITHUB_WORKFLOW_REF:-}" sha="${GITHUB_SHA:?}" failed=""
  workflow="${workflow%@*}"
  workflow="${workflow##*/}"
  workflow="${workflow:-reconciler-apply.yml}"
  plan_into "$out/fresh.md" --format markdown --out "$out/fresh.out"
  if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then failed="$code"; fi
  if [ -z "$failed" ]; then
    output plan-file "$out/fresh.out"
    output plan-markdown "$out/fresh.md"
    reconciler github outputs --plan "$out/fresh.out" --key "$directory" ${pr:+--pr "$pr"} --commit "$sha"
  fi
  {
    echo "### reconciler: ${what,,}: not applied"
    echo
    echo "> [!CAUTION]"
    echo "> **${what}: not applied.** Nothing was applied at \`${sha:0:7}\`: ${why}."
    if [ -n "$carried_note" ]; then
      echo ">"
      echo "> $carried_note"
    fi
    if [ -n "$failed" ]; then
      echo "> Nor could \`$directory\` be planned there, so there is no plan to apply:"
      echo
      fenced_tail "$out/plan.err" 60
      echo
      echo "Fix the desired state on \`${GITHUB_REF_NAME:-main}\` (see [run ${GITHUB_RUN_ID:-}]($run_url))."
    else
      echo
      echo "Below is a fresh plan of \`$directory\` at \`${sha:0:7}\` against the organisation as"
      echo "it is now, saved by [run ${GITHUB_RUN_ID:-}]($run_url). Review it; to apply exactly it, run"
      echo "the apply workflow by hand with input \`plan-run\` = \`${GITHUB_RUN_ID:-}\`"
      echo "(**Actions → ${GITHUB_WORKFLOW:-$workflow} → Run workflow**), or:"
      echo
      echo '```sh'
      echo "gh workflow run ${workflow} --ref ${GITHUB_REF_NAME:-main} -f plan-run=${GITHUB_RUN_ID:-}"
      echo '```'
      echo
      echo "Should the organisation or the desired state change first, that run refuses it in"
      echo "the same way and posts a new plan."
      echo
      cat "$out/fresh.md"
    fi
  } > "$out/not-applied.md"
  post_at_merge "$out/not-applied.md"
  echo "::error title=reconciler::${what}: not applied. ${why}"
  exit "${failed:-1}"
}

# Markdown file $1 in the job summary and, with a pull request, as its comment for this
# merge (one per merge, edited in place: applied, apply failed, or not applied).
post_at_merge() {
  reconciler github summary --file "$1" || true
  if [ -n "$pr" ]; then
    reconciler github comment --pr "$pr" --file "$1" --key "$directory at merge" \
      ${COMMENT_AUTHOR:+--author "$COMMENT_AUTHOR"} || true
  fi
}

case "${COMMAND:-}" in
  plan)
    plan_into "$out/plan.md" --format markdown --out "$out/plan.out"
    planned_commits
    if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
      if [ "${COMMENT:-true}" = "true" ] && [ -n "$pr" ]; then comment_failure; fi
      exit "$code"
    fi
    output plan-file "$out/plan.out"
    output plan-markdown "$out/plan.md"
    reconciler github outputs --plan "$out/plan.out" --key "$directory" \
      ${pr:+--pr "$pr"} ${head_sha:+--commit "$head_sha"}
    reconciler github summary --file "$out/plan.md"
    if [ "${COMMENT:-true}" = "true" ] && [ -n "$pr" ]; then
      reconciler github comment --file "$out/plan.md" --key "$directory" --pr "$pr" \
        ${COMMENT_AUTHOR:+--author "$COMMENT_AUTHOR"} \
        ${head_sha:+--commit "$head_sha" --base "$base_sha" --plan "$out/plan.out"}
    fi
    ;;
  drift)
    plan_into "$out/plan.json" --format json --out "$out/plan.out"
    if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then exit "$code"; fi
    output plan-json "$out/plan.json"
    output plan-file "$out/plan.out"
    reconciler github outputs --plan "$out/plan.out"
    reconciler github drift --plan-json "$out/plan.json" --label "${DRIFT_LABEL:-reconciler-drift}" \
      ${COMMENT_AUTHOR:+--author "$COMMENT_AUTHOR"}
    ;;
  apply)
    apply_reviewed
    ;;
  stale)
    reconciler github mark-stale --key "$directory" ${COMMENT_AUTHOR:+--author "$COMMENT_AUTHOR"} \
      ${REPLAN_WORKFLOW:+--replan "$REPLAN_WORKFLOW"}
    ;;
  validate)
    reconciler validate "$directory" "${extra[@]}"
    ;;
  orgs)
    organizations="$(reconciler orgs "$directory" --json)"
    echo "$organizations"
    output organizations "$organizations"
    ;;
  *)
    echo "::error title=reconciler::command must be plan, apply, drift, validate, stale or orgs, not '${COMMAND:-}'"
    exit 1
    ;;
esac
