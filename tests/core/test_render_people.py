"""People and groups through the three plan formats: golden files, and hostile names.

The plan (:func:`tests.core.states.desired_people` against :func:`live_people`) has an
invitation to send, one pending and one to cancel, a seat to give, an offboarding with the
key it deletes, and groups to create, update and delete. Live emails and group names are
arbitrary text: with a hostile one (:data:`tests.hostile.NAMES`) nothing reaches a
terminal raw or shapes a PR comment. Regenerate the golden files after an intended change
with ``UPDATE_GOLDEN=1 pytest``.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reconciler.github.drift import issue_body, report_from_document
from reconciler.model import Member
from reconciler.plan import Plan, make_plan
from reconciler.render import render_json, render_markdown, render_text
from tests.core.states import desired, desired_people, live_matching, live_people
from tests.core.test_render import RENDERS, check_golden
from tests.hostile import INJECTION, NAMES, assert_markdown_safe, assert_terminal_safe

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def people_plan(name: str = "hana") -> Plan:
    return make_plan(
        desired_people(name),
        live_people(name),
        provider="mistral",
        desired_path="desired-state",
        now=NOW,
    )


@pytest.mark.parametrize("suffix", RENDERS)
def test_golden_people(suffix: str) -> None:
    check_golden(f"people.{suffix}", RENDERS[suffix](people_plan()))


def test_the_people_plan_says_what_each_change_does_to_people() -> None:
    text = render_text(people_plan())
    for line in (
        "  # invitation.hana@acme.example will be sent\n",
        "    # Once accepted, the next plan adds member.dev/hana@acme.example\n",
        '  > invitation "jin@acme.example" { role = "member", workspaces = ["dev"], '
        'id = "inv-jin" }\n',
        "  # invitation.hana-old@x will be cancelled\n",
        "  # person.iris@acme.example will be removed from the organisation\n",
        "    # Offboarding: leaves dev; keys: api_key.iris-laptop.\n",
        "  # (because offboarding iris@acme.example: their keys are deleted)\n",
        # a short list reads whole; a longer collection lists the elements that change
        '      ~ seats = [] -> ["chat"]\n',
        '      + workspaces.prod = "user"\n',
        "  # group.hana-legacy will be destroyed\n",
        "  # group.hana-team will be created\n",
    ):
        assert line in text
    doc = json.loads(render_json(people_plan()))
    actions = {c["address"]: c["change"]["actions"] for c in doc["resource_changes"]}
    assert {a: actions[a] for a in actions if a.split(".")[0] in ("person", "invitation")} == {
        "person.bob@acme.example": ["update"],
        "person.iris@acme.example": ["delete"],
        "invitation.hana@acme.example": ["create"],
        "invitation.hana-old@x": ["delete"],
        "invitation.jin@acme.example": ["pending"],
    }


def test_markdown_keeps_pending_invitations_outside_the_changes() -> None:
    markdown = render_markdown(people_plan())
    assert_markdown_safe(markdown)
    assert "invitation.jin@acme.example" in markdown
    assert "1 invitation awaiting acceptance" in markdown


@pytest.mark.parametrize("name", NAMES)
def test_hostile_people_and_groups_reach_no_terminal_raw(name: str) -> None:
    plan = people_plan(name)
    assert {f"group.{name}-legacy", f"invitation.{name}-old@x"} <= {c.address for c in plan.changes}
    for colour in (False, True):
        assert_terminal_safe(render_text(plan, color=colour), colour=colour)


@pytest.mark.parametrize("name", NAMES)
def test_hostile_people_and_groups_keep_the_markdown_shape(name: str) -> None:
    markdown = render_markdown(people_plan(name))
    assert_markdown_safe(markdown)
    assert_terminal_safe(markdown)


@pytest.mark.parametrize("name", NAMES)
def test_hostile_people_and_groups_in_json_are_ascii_and_kept(name: str) -> None:
    text = render_json(people_plan(name))
    assert text.isascii()
    assert_terminal_safe(text)
    names = {rc["name"] for rc in json.loads(text)["resource_changes"]}
    assert {f"{name}-legacy", f"{name}-old@x", f"{name}-team", f"{name}@acme.example"} <= names


def test_a_hostile_email_cannot_forge_lines() -> None:
    text = render_text(people_plan(INJECTION))
    assert "\n## Injected" not in text and "\n```" not in text


def test_a_key_deleted_despite_a_transfer_says_why() -> None:
    """Iris's key is in dev, which prunes unmanaged keys: a key handed to bob would stay
    unmanaged there and be pruned, so it is deleted, and the plan says so."""
    desired = desired_people()
    assert desired.people is not None
    desired = desired.model_copy(
        update={
            "people": desired.people.model_copy(update={"transfer_keys_to": "bob@acme.example"}),
            "workspaces": tuple(
                w.model_copy(update={"prune_unmanaged_keys": True}) if w.name == "dev" else w
                for w in desired.workspaces
            ),
        }
    )
    plan = make_plan(desired, live_people(), provider="mistral", now=NOW)
    text = render_text(plan)
    assert "  # api_key.iris-laptop will be destroyed\n" in text
    assert (
        "  # (because offboarding iris@acme.example: deleted, not handed to bob@acme.example "
        "(not in desired state; workspace prunes unmanaged keys))\n"
    ) in text
    assert "their keys are deleted" not in text


JIN_WARNING = (
    "invitation.jin@acme.example grants workspace 'dev', where the desired state does not "
    "make jin@acme.example a member: once it is accepted, the next plan removes "
    "member.dev/jin@acme.example. Add them to the workspace's members, or cancel the "
    "invitation."
)


def test_a_pending_invitation_to_a_workspace_the_person_is_not_desired_in_is_a_warning() -> None:
    plan = people_plan()
    assert JIN_WARNING in plan.warnings
    assert f"Warning: {JIN_WARNING}" in render_text(plan)
    assert JIN_WARNING in json.loads(render_json(plan))["warnings"]
    desired = desired_people()
    listed = desired.model_copy(
        update={
            "members": (
                *desired.members,
                Member(workspace="dev", email="jin@acme.example", roles=("user",)),
            )
        }
    )
    quiet = make_plan(listed, live_people(), provider="mistral", now=NOW)
    assert not [w for w in quiet.warnings if "invitation." in w]


def test_a_members_role_change_reads_as_one_whole_value_in_every_render() -> None:
    live = live_matching()
    live = live.model_copy(
        update={
            "members": tuple(
                m.model_copy(update={"roles": ("workspace_admin",)})
                if m.email == "bob@acme.example"
                else m
                for m in live.members
            )
        }
    )
    plan = make_plan(desired(), live, provider="mistral", now=NOW)
    line = '      ~ roles = ["workspace_admin"] -> ["user"]'
    assert line in render_text(plan).splitlines()
    assert line in render_markdown(plan).splitlines()
    assert '"user"\n' not in render_text(plan).replace(line, "")  # no element lines
    drift = issue_body(report_from_document(json.loads(render_json(plan))), now=NOW)
    assert (  # Markdown: the brackets escaped
        '`member.dev/bob@acme.example`: apply will update it (roles: \\["workspace_admin"\\] '
        '→ \\["user"\\])'
    ) in drift


def test_refusing_to_demote_the_run_as_admin_says_why_in_a_sentence() -> None:
    desired = desired_people()
    assert desired.people is not None
    members = tuple(
        m.model_copy(update={"role": "member"}) if m.email == "alice@acme.example" else m
        for m in desired.people.members
    )
    people = desired.people.model_copy(update={"members": members})
    plan = make_plan(
        desired.model_copy(update={"people": people}),
        live_people(),
        provider="mistral",
        desired_path="desired-state",
        now=NOW,
    )
    text = render_text(plan)
    assert (
        "  # (because alice@acme.example cannot be demoted: reconciler runs as this admin "
        "(run_as in people.yaml))\n"
    ) in text
    change = next(c for c in plan.changes if c.name == "alice@acme.example")
    assert change.message == (
        "Refusing: alice@acme.example cannot be demoted: reconciler runs as this admin "
        "(run_as in people.yaml); make run_as another admin first."
    )


def test_a_leaving_persons_retiring_key_goes_with_them_and_is_not_said_to_wait() -> None:
    """Iris leaves during the grace of her key's rotation: the platform deletes the old
    key with her, so the plan names it among what goes with her, not as retiring until
    its grace ends."""
    from reconciler.ownership import KeyFacts, Ledger, Retiring
    from tests.ledgers import ORG, entry

    live = live_people()
    laptop = next(k for k in live.keys if k.id == "k-iris")
    old = laptop.model_copy(update={"id": "k-iris-old"})
    live = live.model_copy(update={"keys": (*live.keys, old)})
    now = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    grace = Retiring(replaced_by="k-iris", delete_after=now + dt.timedelta(hours=20))
    ledger = (
        Ledger(organization=ORG)
        .resolve_intent("k-iris", entry("iris-laptop", "dev"))
        .resolve_intent(
            "k-iris-old", entry("iris-laptop", "dev").model_copy(update={"retiring": grace})
        )
    )
    plan = make_plan(
        desired_people(), live, provider="mistral", ownership=KeyFacts(ledger), now=now
    )
    assert plan.retiring == ()
    text = render_text(plan)
    assert "Retiring:" not in text
    assert "the platform deletes with them: api_key.iris-laptop[k-iris-o] (dev)" in text
