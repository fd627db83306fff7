"""The drift issue names the people, invitations and groups that differ from people.yaml
and groups.yaml, with who changed them where the audit log says; a pending invitation is
not drift."""

from __future__ import annotations

import datetime as dt
import json

from reconciler.github.drift import issue_body, report_from_document
from reconciler.model import Attribution
from reconciler.plan import make_plan
from reconciler.render import render_json
from tests.core.states import desired_people, live_people
from tests.hostile import INJECTION, assert_markdown_safe

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
BY_DAN = Attribution(
    address="person.bob@acme.example",
    actor="dan@acme.example",
    at=dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC),
    event="user.info.update",
)


def body(name: str = "hana") -> str:
    plan = make_plan(
        desired_people(name),
        live_people(name),
        provider="mistral",
        desired_path="desired-state",
        now=NOW,
        attributions=(BY_DAN,),
    )
    doc = json.loads(render_json(plan))
    return issue_body(report_from_document(doc), now=NOW)


def test_people_changed_outside_reconciler_have_a_section_naming_who_changed_them() -> None:
    text = body()
    section = text.split("### People changed outside reconciler (7)\n\n", 1)[1].split("\n\n")[0]
    assert section.splitlines() == [
        '- `person.bob@acme.example`: apply will update it (seats: + "chat"); '
        "changed outside reconciler by dan@acme.example on 2026-11-20",
        "- `person.iris@acme.example`: apply will delete it (not in people.yaml; the "
        "organisation prunes people (offboarding))",
        "- `invitation.hana-old@x`: apply will delete it (not in people.yaml; the organisation "
        "prunes people)",
        "- `invitation.hana@acme.example`: apply will create it",
        '- `group.analysts`: apply will update it (workspaces.prod: + "user")',
        "- `group.hana-legacy`: apply will delete it (not in groups.yaml; the organisation "
        "prunes people)",
        "- `group.hana-team`: apply will create it",
    ]
    assert "jin@acme.example" not in text  # a pending invitation is under way, not drift
    assert text.count("`person.iris@acme.example`") == 1  # not again among the other changes
    assert "`api_key.iris-laptop`: apply will delete it (offboarding iris@acme.example" in text


def test_hostile_emails_and_group_names_do_not_shape_the_issue() -> None:
    assert_markdown_safe(body(INJECTION))
