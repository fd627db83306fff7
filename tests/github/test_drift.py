"""Drift issues: classes, body, and one issue per target through create/update/reopen/close."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from reconciler.errors import ConfigError
from reconciler.github.drift import (
    DriftReport,
    drift_marker,
    issue_body,
    issue_title,
    load_plan_document,
    report_from_document,
    sync_drift_issue,
)

from .helpers import API, REPO, client, run

FIXTURE = Path(__file__).parent / "fixtures" / "plan-drift.json"
ISSUES = f"{API}/repos/{REPO}/issues"
NOW = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
RUN = "https://github.test/acme/access/actions/runs/77"
LEAK = "sk-" + "leak-" * 6


def drift_doc() -> dict[str, Any]:
    return dict(json.loads(FIXTURE.read_text()))


def clean_doc() -> dict[str, Any]:
    doc = drift_doc()
    doc["resource_changes"] = [
        rc for rc in doc["resource_changes"] if rc["change"]["actions"] == ["unmanaged"]
    ]
    doc["summary"] = {"add": 0, "change": 0, "destroy": 0, "manual": 0, "unmanaged": 2}
    return doc


def report(doc: dict[str, Any] | None = None, **kw: Any) -> DriftReport:
    return report_from_document(doc or drift_doc(), **kw)


def issue(
    number: int, *, state: str = "open", body: str | None = None, **kw: Any
) -> dict[str, Any]:
    target = drift_doc()["target"]
    return {
        "number": number,
        "state": state,
        "title": f"Drift detected: {target}",
        "body": body if body is not None else drift_marker(target) + "\nold body",
        "html_url": f"https://github.test/{REPO}/issues/{number}",
        **kw,
    }


def payload(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return dict(json.loads(route.calls[index].request.content))


# --- classes and body --------------------------------------------------------------------


def test_changes_are_sorted_into_driftctl_classes() -> None:
    r = report()
    by_class = {c: [i.address for i in r.by_class(c)] for c in ("missing", "unmanaged", "changed")}
    assert by_class["missing"] == [
        "workspace.prod",
        "member.dev/bob@acme.example",
        "member.prod/grace@acme.example",
        "api_key.prod-checkout",
    ]
    assert by_class["unmanaged"] == [
        "member.dev/iris@acme.example",
        "workspace.Default Workspace",
        "api_key.iris-laptop",
    ]
    assert by_class["changed"] == [
        "organization",
        "workspace.dev",
        "workspace_spend_limit.dev",
        "api_key.dev-alice",
    ]
    assert r.has_drift


def test_objects_left_alone_are_drift_only_when_asked() -> None:
    assert not report(clean_doc()).has_drift
    assert report(clean_doc(), unmanaged_is_drift=True).has_drift


@pytest.mark.parametrize(
    ("actions", "reason", "expected"),
    [
        (["delete"], "archived in desired state", "changed"),
        (["delete"], "not in desired state; workspace prunes unmanaged keys", "unmanaged"),
        (["conflict"], "2 live keys named 'x' in workspace 'dev'", "conflict"),
        (["create", "delete"], "the API cannot update owner in place", "changed"),
        (["no-op"], None, None),
    ],
)
def test_each_action_has_a_class(
    actions: list[str], reason: str | None, expected: str | None
) -> None:
    doc = clean_doc()
    doc["resource_changes"] = [
        {"address": "api_key.x", "action_reason": reason, "change": {"actions": actions}}
    ]
    r = report(doc)
    assert [i.drift_class for i in r.items] == ([expected] if expected else [])
    assert r.has_drift is (expected is not None)


def test_the_body_lists_classes_manual_actions_and_the_summary() -> None:
    body = issue_body(report(), run_url=RUN, now=NOW)
    assert body.startswith(drift_marker("sandbox (test)") + "\n")
    assert (
        "**Plan: 5 to add, 2 to change, 2 to destroy. "
        "Also: 1 manual change to make in the admin console.**" in body
    )
    assert "| not applied yet | unmanaged | changed | conflicts | manual |" in body
    assert "| 4 | 3 | 4 | 0 | 1 |" in body
    assert "### Not applied yet: in the desired state, not on the platform (4)" in body
    assert "deleted outside" not in body
    assert "- `workspace.prod`: apply will create it" in body
    assert "- `member.dev/iris@acme.example`: apply will delete it" in body
    assert "- `api_key.iris-laptop`: left alone (not in desired state)\n" in body
    assert (
        '- `organization`: apply will update it (spend_limit: "3000 USD/month" → '
        '"5000 USD/month"; spend limit differs)' in body
    )
    assert "- `api_key.dev-alice`: apply will replace it" in body
    assert (
        "- [ ] `workspace_spend_limit.dev`: In the admin console, set the monthly spend limit "
        "of workspace 'dev' to 50 USD/month (now: 80 USD/month)." in body
    )
    assert f"Last checked 2026-11-27 06:00 UTC by [this run]({RUN})." in body
    # A re-run of an apply run refuses its plan again once stale: the way that applies is
    # a plan made by hand, then applied by a run naming it.
    assert "re-run" not in body
    assert "run the apply workflow by hand" in body and "`plan-run`" in body


def test_manual_changes_alone_never_read_as_no_changes() -> None:
    doc = clean_doc()
    manual = next(
        rc for rc in drift_doc()["resource_changes"] if rc["change"]["actions"] == ["manual"]
    )
    doc["resource_changes"].append(manual)
    doc["summary"] = {"add": 0, "change": 0, "destroy": 0, "manual": 1, "conflicts": 0}
    body = issue_body(report(doc), now=NOW)
    assert "No changes" not in body and "matches the configuration" not in body
    assert (
        "**Nothing to apply through the Admin API. "
        "Also: 1 manual change to make in the admin console.**" in body
    )
    assert "### Manual actions in the admin console" in body


def test_no_secret_reaches_the_body_even_if_the_plan_held_one() -> None:
    doc = drift_doc()
    key = next(rc for rc in doc["resource_changes"] if rc["address"] == "api_key.dev-alice")
    key["fields"].append(
        {"path": "secret", "before": LEAK, "after": LEAK, "forces_replacement": False}
    )
    key["change"]["after"]["secret"] = LEAK
    doc["warnings"] = [f"token={LEAK}"]
    body = issue_body(report(doc), now=NOW)
    assert LEAK not in body
    assert "secret: (sensitive value) → (sensitive value)" in body


def test_a_huge_drift_is_cut_to_fit_an_issue() -> None:
    doc = drift_doc()
    template = next(rc for rc in doc["resource_changes"] if rc["address"] == "workspace.prod")
    doc["resource_changes"] = []
    for n in range(3000):
        rc = copy.deepcopy(template)
        rc["address"] = f"workspace.w{n:05}-" + "x" * 40
        doc["resource_changes"].append(rc)
    body = issue_body(report(doc), now=NOW)
    assert len(body) <= 65_000
    assert "… and 2800 more" in body


def test_title_names_the_target() -> None:
    assert issue_title(report()) == "Drift detected: sandbox (test)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "plan.json: empty"),
        (
            '{"format_version": "1.0",\n "target": }',
            "plan.json:2:12: not valid JSON: Expecting value",
        ),
        ("[]", "plan.json: expected a JSON object"),
        ('{"format_version": "2.0"}', "format_version '2.0' is not supported"),
        ('{"target": "x"}', "plan.json: missing field 'format_version'"),
    ],
)
def test_bad_plan_json_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_plan_document(text, source="plan.json")


def test_a_malformed_change_names_its_index() -> None:
    doc = drift_doc()
    doc["resource_changes"][3]["change"] = {"actions": "update"}
    with pytest.raises(
        ConfigError, match=r"plan.json: resource_changes\[3\].change: field 'actions'"
    ):
        report_from_document(doc, source="plan.json")


# --- the issue ---------------------------------------------------------------------------


def list_issues(*issues: dict[str, Any]) -> respx.Route:
    return respx.get(ISSUES).respond(200, json=list(issues))


def test_drift_creates_one_labelled_issue_and_the_label() -> None:
    with respx.mock:
        listed = list_issues()
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(404)
        label = respx.post(f"{API}/repos/{REPO}/labels").respond(201, json={})
        created = respx.post(ISSUES).respond(
            201, json={"number": 5, "html_url": f"https://github.test/{REPO}/issues/5"}
        )
        outcome = run(sync_drift_issue(client(), REPO, report(), run_url=RUN, now=NOW))
    query = listed.calls.last.request.url.params
    assert (query["labels"], query["state"], query["per_page"]) == (
        "reconciler-drift",
        "all",
        "100",
    )
    assert payload(label)["name"] == "reconciler-drift"
    sent = payload(created)
    assert sent["labels"] == ["reconciler-drift"]
    assert sent["title"] == "Drift detected: sandbox (test)"
    assert sent["body"] == issue_body(report(), run_url=RUN, now=NOW)
    assert (outcome.action, outcome.number) == ("created", 5)
    assert outcome.describe("sandbox (test)") == (
        f"Drift on sandbox (test): issue #5 created: https://github.test/{REPO}/issues/5"
    )


def test_an_existing_label_is_not_created_again() -> None:
    with respx.mock:
        list_issues()
        respx.get(f"{API}/repos/{REPO}/labels/ops%20drift").respond(200, json={})
        label = respx.post(f"{API}/repos/{REPO}/labels")
        respx.post(ISSUES).respond(201, json={"number": 6})
        run(sync_drift_issue(client(), REPO, report(), label="ops drift", now=NOW))
    assert not label.called


def test_drift_updates_the_open_issue_instead_of_creating_one() -> None:
    with respx.mock:
        list_issues(issue(3))
        updated = respx.patch(f"{ISSUES}/3").respond(200, json={})
        created = respx.post(ISSUES)
        outcome = run(sync_drift_issue(client(), REPO, report(), now=NOW))
    assert not created.called
    assert payload(updated)["body"] == issue_body(report(), now=NOW)
    assert (outcome.action, outcome.number) == ("updated", 3)


def test_an_unchanged_issue_is_left_alone() -> None:
    body = issue_body(report(), now=NOW)
    with respx.mock:
        list_issues(issue(3, body=body))
        updated = respx.patch(f"{ISSUES}/3")
        outcome = run(sync_drift_issue(client(), REPO, report(), now=NOW))
    assert not updated.called
    assert outcome.action == "unchanged"


def test_drift_coming_back_reopens_the_closed_issue() -> None:
    closing = {"body": "No drift found on 2026-11-20 06:00 UTC: closing."}
    with respx.mock:
        list_issues(issue(2, state="closed"), issue(8, state="closed"))
        respx.get(f"{ISSUES}/8/comments").respond(200, json=[closing, {"body": "thanks!"}])
        reopened = respx.patch(f"{ISSUES}/8").respond(200, json={})
        older = respx.patch(f"{ISSUES}/2")
        note = respx.post(f"{ISSUES}/8/comments").respond(201, json={})
        created = respx.post(ISSUES)
        outcome = run(sync_drift_issue(client(), REPO, report(), run_url=RUN, now=NOW))
    assert not created.called
    assert not older.called
    assert payload(reopened)["state"] == "open"
    assert "Drift is back" in payload(note)["body"]
    assert (outcome.action, outcome.number) == ("reopened", 8)


def test_an_issue_closed_by_hand_while_drift_remained_is_reopened_saying_so() -> None:
    """Closed by a person (here as not planned) while the drift was still there: reopened,
    but not as drift that is back, for it never went; with what makes it stay closed."""
    back = {"body": f"Drift is back on 2026-11-20 06:00 UTC ([run]({RUN})): reopened."}
    with respx.mock:
        list_issues(issue(8, state="closed", state_reason="not_planned"))
        respx.get(f"{ISSUES}/8/comments").respond(200, json=[back, {"body": "won't fix"}])
        reopened = respx.patch(f"{ISSUES}/8").respond(200, json={})
        note = respx.post(f"{ISSUES}/8/comments").respond(201, json={})
        outcome = run(sync_drift_issue(client(), REPO, report(), run_url=RUN, now=NOW))
    assert payload(reopened)["state"] == "open"
    said = payload(note)["body"]
    assert "is back" not in said
    assert said.startswith(
        f"Closed while the drift remained; still there on 2026-11-27 06:00 UTC ([run]({RUN})): "
        "reopened."
    )
    assert "change the desired state to accept what is live" in said
    assert outcome.action == "reopened"


def test_no_drift_closes_the_issue_with_a_comment() -> None:
    with respx.mock:
        list_issues(issue(3))
        note = respx.post(f"{ISSUES}/3/comments").respond(201, json={})
        closed = respx.patch(f"{ISSUES}/3").respond(200, json={})
        outcome = run(sync_drift_issue(client(), REPO, report(clean_doc()), run_url=RUN, now=NOW))
    assert (
        payload(note)["body"] == f"No drift found on 2026-11-27 06:00 UTC ([run]({RUN})): closing."
    )
    assert payload(closed) == {"state": "closed", "state_reason": "completed"}
    assert outcome.describe("sandbox (test)").startswith(
        "No drift on sandbox (test): closed issue #3"
    )


def test_no_drift_and_no_issue_writes_nothing() -> None:
    with respx.mock:
        list_issues(issue(3, state="closed"))
        writes = respx.route(method__in=["POST", "PATCH"])
        outcome = run(sync_drift_issue(client(), REPO, report(clean_doc()), now=NOW))
    assert not writes.called
    assert outcome.describe("t") == "No drift on t."


def test_duplicates_left_by_a_race_are_closed_keeping_the_oldest() -> None:
    with respx.mock:
        list_issues(issue(9), issue(4))
        kept = respx.patch(f"{ISSUES}/4").respond(200, json={})
        dupe = respx.patch(f"{ISSUES}/9").respond(200, json={})
        note = respx.post(f"{ISSUES}/9/comments").respond(201, json={})
        outcome = run(sync_drift_issue(client(), REPO, report(), now=NOW))
    assert kept.called
    assert payload(dupe) == {"state": "closed", "state_reason": "not_planned"}
    assert payload(note)["body"] == "Duplicate of #4."
    assert outcome.duplicates_closed == (9,)


def test_other_targets_and_pull_requests_are_not_mistaken_for_ours() -> None:
    other = issue(1, body=drift_marker("https://api.mistral.ai/v1/admin") + "\n")
    pr = issue(2, pull_request={"url": "x"})
    with respx.mock:
        list_issues(other, pr)
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(200, json={})
        created = respx.post(ISSUES).respond(201, json={"number": 3})
        touched = respx.patch(url__regex=rf"{ISSUES}/[12]$")
        run(sync_drift_issue(client(), REPO, report(), now=NOW))
    assert created.called
    assert not touched.called


def test_a_live_name_holding_our_marker_does_not_make_an_issue_ours() -> None:
    """Another organisation's issue lists a live name that holds this target's marker: the
    marker counts only as the issue's first line, so that issue is neither updated nor
    closed as this target's."""
    target = drift_doc()["target"]
    listing = f"{drift_marker('acme-eu')}\n- `workspace.x {drift_marker(target)}`: left alone\n"
    other = issue(1, body=listing)
    with respx.mock:
        list_issues(other)
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(200, json={})
        created = respx.post(ISSUES).respond(201, json={"number": 3})
        touched = respx.route(url__regex=rf"{ISSUES}/1(/comments)?$")
        run(sync_drift_issue(client(), REPO, report(), now=NOW))
        run(sync_drift_issue(client(), REPO, report(clean_doc()), now=NOW))
    assert created.called
    assert not touched.called


def test_an_issue_someone_else_opened_with_our_marker_is_not_ours() -> None:
    """Anyone who may label issues can open one that starts with the target's marker: with
    the token's login as the author, that issue is neither updated nor closed, and the
    drift gets an issue of its own."""
    forged = issue(1, user={"login": "mallory"})
    ours = issue(2, user={"login": "github-actions[bot]"})
    with respx.mock:
        list_issues(forged)
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(200, json={})
        created = respx.post(ISSUES).respond(201, json={"number": 3})
        touched = respx.route(url__regex=rf"{ISSUES}/1(/comments)?$")
        author = "github-actions[bot]"
        outcome = run(sync_drift_issue(client(), REPO, report(), now=NOW, author=author))
        run(sync_drift_issue(client(), REPO, report(clean_doc()), now=NOW, author=author))
    assert outcome.action == "created" and created.called
    assert not touched.called
    with respx.mock:
        list_issues(forged, ours)
        updated = respx.patch(f"{ISSUES}/2").respond(200, json={})
        outcome = run(sync_drift_issue(client(), REPO, report(), now=NOW, author=author))
    assert (outcome.action, outcome.number) == ("updated", 2) and updated.called


def test_a_drift_issue_opened_as_another_login_than_the_author_is_a_clear_error() -> None:
    with respx.mock:
        list_issues()
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(200, json={})
        respx.post(ISSUES).respond(201, json={"number": 3, "user": {"login": "acme-bot[bot]"}})
        with pytest.raises(ConfigError) as caught:
            run(sync_drift_issue(client(), REPO, report(), now=NOW, author="github-actions[bot]"))
    assert "the token posts as 'acme-bot[bot]'" in str(caught.value)


def test_issues_on_a_later_page_are_found() -> None:
    page2 = f"{API}/repositories/5/issues?labels=reconciler-drift&page=2"
    with respx.mock:
        respx.get(ISSUES).respond(
            200,
            json=[issue(100 + n, body="unrelated") for n in range(100)],
            headers={"Link": f'<{page2}>; rel="next"'},
        )
        respx.get(page2).respond(200, json=[issue(7)])
        updated = respx.patch(f"{ISSUES}/7").respond(200, json={})
        created = respx.post(ISSUES)
        run(sync_drift_issue(client(), REPO, report(), now=NOW))
    assert updated.called
    assert not created.called


def test_a_read_only_token_gets_a_clear_error() -> None:
    with respx.mock:
        list_issues()
        respx.get(f"{API}/repos/{REPO}/labels/reconciler-drift").respond(200, json={})
        respx.post(ISSUES).mock(
            return_value=httpx.Response(
                403, json={"message": "Resource not accessible by integration"}
            )
        )
        with pytest.raises(Exception, match="it needs 'issues: write'"):
            run(sync_drift_issue(client(), REPO, report(), now=NOW))
