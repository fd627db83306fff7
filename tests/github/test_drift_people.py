"""The drift issue names the people, invitations and groups that differ from people.yaml
and groups.yaml, with who changed them where the audit log says; a pending invitation is
not drift."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from starlette.testclient import TestClient

from reconciler.env import (
    MISTRAL_ADMIN_API_KEY,
    MISTRAL_ADMIN_API_KEY_NAME,
    MISTRAL_ADMIN_BASE_URL,
    MISTRAL_API_BASE_URL,
)
from reconciler.github.drift import issue_body, report_from_document
from reconciler.model import Attribution
from reconciler.plan import make_plan
from reconciler.platform.mistral.provider import MistralProvider
from reconciler.platform.sandbox import (
    DEFAULT_ADMIN_KEY,
    EMBEDDED_ADMIN_BASE_URL,
    EMBEDDED_API_BASE_URL,
    SandboxStore,
    create_app,
)
from reconciler.render import render_json
from tests.contract.transport import SpecCheckedTransport
from tests.core.states import desired_people, live_people
from tests.hostile import INJECTION, assert_markdown_safe
from tests.platform.mistral_wire import Sleeps, run

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
BY_DAN = Attribution(
    address="person.bob@acme.example",
    actor="dan@acme.example",
    at=dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC),
    event="user.info.update",
)


def body(name: str = "hana", attributions: tuple[Attribution, ...] = (BY_DAN,)) -> str:
    plan = make_plan(
        desired_people(name),
        live_people(name),
        provider="mistral",
        desired_path="desired-state",
        now=NOW,
        attributions=attributions,
    )
    doc = json.loads(render_json(plan))
    return issue_body(report_from_document(doc), now=NOW)


def test_people_changed_outside_reconciler_have_a_section_naming_who_changed_them() -> None:
    text = body()
    section = text.split("### People changed outside reconciler (7)\n\n", 1)[1].split("\n\n")[0]
    assert section.splitlines() == [
        '- `person.bob@acme.example`: apply will update it (seats: \\[\\] → \\["chat"\\]); '
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
    # a pending invitation is under way, not drift; only the warning that it grants a
    # workspace the desired state does not give jin names it
    jin = [line for line in text.splitlines() if "jin@acme.example" in line]
    assert len(jin) == 1 and "invitation.jin@acme.example grants workspace 'dev'" in jin[0]
    assert "`invitation.jin@acme.example`" not in text
    assert text.count("`person.iris@acme.example`") == 1  # not again among the other changes
    assert "`api_key.iris-laptop`: apply will delete it (offboarding iris@acme.example" in text


def test_hostile_emails_and_group_names_do_not_shape_the_issue() -> None:
    assert_markdown_safe(body(INJECTION))


def test_a_group_changed_outside_reconciler_names_who_changed_it() -> None:
    """Another admin key changes a group's workspace grant on the sandbox: the audit log's
    ``user_group.workspace.update`` names the group, and the issue names who changed it."""
    store = SandboxStore.in_memory(clock=lambda: NOW)
    app = create_app(store, None, admin_key=DEFAULT_ADMIN_KEY)
    with TestClient(app, headers={"Authorization": f"Bearer {DEFAULT_ADMIN_KEY}"}) as http:
        groups = http.get("/v1/admin/user-groups").json()["items"]
        analysts = next(g["uuid"] for g in groups if g["name"] == "analysts")
        ml = next(
            w["uuid"] for w in http.get("/v1/admin/workspaces").json()["items"] if w["name"] == "ml"
        )
        changed = {"role_names": ["user", "dev"]}
        assert http.patch(f"/v1/admin/user-groups/{analysts}/workspaces/{ml}", json=changed)
    provider = MistralProvider.from_env(
        {
            MISTRAL_ADMIN_API_KEY: DEFAULT_ADMIN_KEY,
            MISTRAL_ADMIN_BASE_URL: EMBEDDED_ADMIN_BASE_URL,
            MISTRAL_API_BASE_URL: EMBEDDED_API_BASE_URL,
            MISTRAL_ADMIN_API_KEY_NAME: "reconciler-ci",  # the sandbox's key is someone else's
        },
        transport=SpecCheckedTransport(httpx.ASGITransport(app=app)),
        sleep=Sleeps(),
    )

    async def main() -> list[Attribution]:
        async with provider:
            await provider.fetch()
            return await provider.attributions(NOW - dt.timedelta(days=1))

    found = run(main())
    assert [(a.address, a.event, a.outside) for a in found] == [
        ("group.analysts", "user_group.workspace.update", True)
    ]
    line = next(x for x in body(attributions=tuple(found)).splitlines() if "`group.analysts`" in x)
    assert line.endswith(
        "changed outside reconciler by admin API key 'Sandbox admin key' of "
        "alice.martin@acme.example on 2026-11-27"
    )
