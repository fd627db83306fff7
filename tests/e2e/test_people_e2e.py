"""People as code end to end: the example desired state against the served demo sandbox.

The demo organisation has ten members and jin's pending invitation; ``people.yaml`` adds
kate (an invitation with ml), and, as ``organization.prune_people`` is on, offboards iris,
who left with her key ``iris-laptop`` in dev; the ``analysts`` group gives henry (and,
once applied, carol) access to ml. Each test runs the real CLI (``plan``, ``apply``)
and reads the outcome back from the sandbox over HTTP: who is in the organisation, in
which workspace, with which keys; the invited person accepts through the sandbox's
control API, as they would by clicking the link.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.apply_support import Cli, actionable, plan_document
from tests.e2e.conftest import SandboxServer

pytestmark = pytest.mark.e2e

IRIS, KATE = "iris.tanaka@acme.example", "kate.moreau@acme.example"
# in dev directly and in ml through the analysts group: she may own a key in either
CAROL = "carol.diaz@acme.example"


def admin(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    response = sandbox.http.request(method, f"/v1/admin/{path}", **kwargs)
    response.raise_for_status()
    return response.json()


def users(sandbox: SandboxServer) -> dict[str, str]:
    """Email -> user uuid of the organisation's members."""
    body = admin(sandbox, "GET", "users", params={"page_size": 100})
    return {u["email"]: u["uuid"] for u in body["members"]}


def workspaces(sandbox: SandboxServer) -> dict[str, str]:
    body = admin(sandbox, "GET", "workspaces", params={"page_size": 100})
    return {w["name"]: w["uuid"] for w in body["items"]}


def direct_members(sandbox: SandboxServer, workspace: str) -> set[str]:
    """The emails of ``workspace``'s direct members (not those a group grants)."""
    doc = sandbox.state_doc()
    ws = next(w for w in doc["workspaces"] if w["name"] == workspace)
    emails = {u["uuid"]: u["email"] for u in doc["users"]}
    return {emails[uuid] for uuid in ws["members"]}


def keys_of(sandbox: SandboxServer) -> dict[str, str]:
    """Live key name -> its owner's email."""
    emails = {uuid: email for email, uuid in users(sandbox).items()}
    return {
        k["name"]: emails.get(k["user_id"] or "", "?")
        for k in sandbox.state_doc()["keys"]
        if not k.get("deleted")
    }


def json_plan(cli: Cli) -> dict[str, list[str]]:
    doc = plan_document(cli("plan", "--format", "json"))
    return {c["address"]: c["change"]["actions"] for c in doc["resource_changes"]}


def test_onboarding_invites_then_the_accepted_member_needs_nothing_more(
    sandbox: SandboxServer, workdir: Path
) -> None:
    cli = Cli(sandbox, workdir)
    applied = cli("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert f"invitation.{KATE}: " in applied.stdout
    invites = {i["email"]: i["invite_uuid"] for i in admin(sandbox, "GET", "users-invite")}
    assert KATE in invites and KATE not in users(sandbox)

    actions = json_plan(cli)
    assert actions[f"invitation.{KATE}"] == ["pending"]  # shown, never sent again
    assert f"member.ml/{KATE}" not in actions  # her membership waits for her

    sandbox.control("POST", f"invites/{invites[KATE]}/accept")
    assert KATE in users(sandbox) and KATE in direct_members(sandbox, "ml")
    after = plan_document(cli("plan", "--format", "json"))
    assert actionable(after) == []
    addresses = {c["address"] for c in after["resource_changes"]}
    assert not {f"invitation.{KATE}", f"person.{KATE}", f"member.ml/{KATE}"} & addresses


def _give_iris_more_keys(sandbox: SandboxServer) -> None:
    """Iris also joins ml and the Default Workspace (which no desired state manages), with
    a key of her own in each."""
    ws, people = workspaces(sandbox), users(sandbox)
    member = {"members": [{"user_uuid": people[IRIS], "role_names": ["user"]}]}
    for workspace, name in (("ml", "iris-ml"), ("Default Workspace", "iris-default")):
        admin(sandbox, "POST", f"workspaces/{ws[workspace]}/add-users", json=member)
        key = {"workspace_uuid": ws[workspace], "user_id": people[IRIS], "name": name}
        admin(sandbox, "POST", "api-keys", json=key)


@pytest.mark.parametrize("keys", ["delete", "transfer"])
def test_offboarding_removes_the_person_everywhere_and_handles_every_key(
    sandbox: SandboxServer, workdir: Path, keys: str
) -> None:
    _give_iris_more_keys(sandbox)
    people = workdir / "desired-state" / "people.yaml"
    if keys == "transfer":
        text = people.read_text()
        people.write_text(text.replace("  keys: delete ", f"  keys: {{transfer_to: {CAROL}}} "))
    cli = Cli(sandbox, workdir)
    shown = cli("plan")
    assert shown.returncode == 0, shown.stderr
    assert (
        "    # Offboarding: leaves Default Workspace, dev, ml; keys: api_key.iris-laptop, "
        "api_key.iris-ml; the platform deletes with them: api_key.iris-default (Default "
        "Workspace)."
    ) in shown.stdout.splitlines()
    reason = "their keys are deleted" if keys == "delete" else f"their keys go to {CAROL}"
    for key in ("iris-laptop", "iris-ml"):
        assert re.search(
            rf"# api_key\.{key} (will be destroyed|must be replaced)\n"
            rf"  # \(because offboarding {re.escape(IRIS)}: {re.escape(reason)}\)",
            shown.stdout,
        ), shown.stdout

    applied = cli("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert IRIS not in users(sandbox)
    assert all(IRIS not in direct_members(sandbox, ws) for ws in ("dev", "ml"))
    live = keys_of(sandbox)
    assert "iris-default" not in live
    if keys == "delete":
        assert not {"iris-laptop", "iris-ml"} & live.keys()
    else:
        assert (live["iris-laptop"], live["iris-ml"]) == (CAROL, CAROL)
    again = json_plan(cli)  # converged: a handed-over key is left alone, not deleted
    assert not [a for a, acts in again.items() if {"create", "update", "delete"} & set(acts)]
    if keys == "transfer":
        assert again["api_key.iris-laptop"] == again["api_key.iris-ml"] == ["unmanaged"]


def test_keys_go_only_to_someone_who_may_own_them_there(
    sandbox: SandboxServer, workdir: Path
) -> None:
    """Alice administers dev, not ml: she cannot take over Iris's key there."""
    _give_iris_more_keys(sandbox)
    people = workdir / "desired-state" / "people.yaml"
    heir = "  keys: {transfer_to: alice.martin@acme.example} "
    people.write_text(people.read_text().replace("  keys: delete ", heir))
    refused = Cli(sandbox, workdir)("apply", "--auto-approve")
    assert refused.returncode == 1
    assert (
        "Offboarding iris.tanaka@acme.example: alice.martin@acme.example is not a member of "
        "workspace 'ml' to take it over. Add them to the workspace's members, or hand the "
        "keys to someone who is (people.yaml offboarding.keys)."
    ) in refused.stderr
    assert IRIS in users(sandbox) and "iris-ml" in keys_of(sandbox)


def test_offboarding_is_refused_in_a_protected_workspace(
    sandbox: SandboxServer, workdir: Path
) -> None:
    dev = workdir / "desired-state" / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text().replace("  protected: false", "  protected: true"))
    refused = Cli(sandbox, workdir)("apply", "--auto-approve")
    assert refused.returncode == 1
    assert (
        "  api_key.iris-laptop: key in protected workspace 'dev' would be deleted. Set "
        "protected: false first, in a change of its own."
    ) in refused.stderr.splitlines()
    assert IRIS in users(sandbox) and "iris-laptop" in keys_of(sandbox)


def test_offboarding_counts_toward_the_delete_share_rail(
    sandbox: SandboxServer, workdir: Path
) -> None:
    org = workdir / "desired-state" / "organization.yaml"
    text = org.read_text().replace("max_delete_fraction: 0.30", "max_delete_fraction: 0.05")
    org.write_text(text.replace("max_delete_min_keys: 10", "max_delete_min_keys: 1"))
    cli = Cli(sandbox, workdir)
    refused = cli("apply", "--auto-approve")
    assert refused.returncode == 1
    assert "Too many people removed: 10% is over 5% (1/10); --force required" in refused.stderr
    assert IRIS in users(sandbox)
    forced = cli("apply", "--auto-approve", "--force")
    assert forced.returncode == 0, forced.stderr
    assert IRIS not in users(sandbox)


def test_group_grants_stay_group_grants_with_no_endless_diff(
    sandbox: SandboxServer, workdir: Path
) -> None:
    cli = Cli(sandbox, workdir)
    assert cli("apply", "--auto-approve").returncode == 0
    doc = plan_document(cli("plan", "--format", "json"))
    assert actionable(doc) == []
    grants = {
        c["address"]: c["action_reason"]
        for c in doc["resource_changes"]
        if c["change"]["actions"] == ["no-op"]
    }
    reason = "through group analysts; not a direct member, left to the group"
    assert grants == {
        "member.ml/carol.diaz@acme.example": reason,
        "member.ml/henry.novak@acme.example": reason,
    }
    assert not {"carol.diaz@acme.example", "henry.novak@acme.example"} & direct_members(
        sandbox, "ml"
    )
    text = cli("plan").stdout
    assert "2 workspace memberships through groups, left to them." in text
    assert "member.ml/carol" not in text  # nothing to say about them one by one


def test_without_pruning_people_not_listed_are_left_alone(
    sandbox: SandboxServer, workdir: Path
) -> None:
    org = workdir / "desired-state" / "organization.yaml"
    org.write_text(org.read_text().replace("prune_people: true", "prune_people: false"))
    cli = Cli(sandbox, workdir)
    actions = json_plan(cli)
    assert actions[f"person.{IRIS}"] == ["unmanaged"]
    assert actions["api_key.iris-laptop"] == ["unmanaged"]
    applied = cli("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert IRIS in users(sandbox) and "iris-laptop" in keys_of(sandbox)
