"""``import_into``: a live organisation written as a desired state that plans clean.

The live states are built in code (:mod:`tests.adoption.lives`); what is checked is what
a user gets: the files, that they validate, that a plan against the same live state
has nothing to do but what the import listed, and the list itself.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler.adoption import ImportReport, import_into
from reconciler.desired import check_desired_state
from reconciler.desired.schema import NAME_PATTERN
from reconciler.diff import Action, Change
from reconciler.errors import ConfigError
from reconciler.model import (
    ApiKey,
    Group,
    Invitation,
    LiveState,
    Member,
    Organization,
    OrgMember,
    SpendLimit,
    Workspace,
)
from reconciler.plan import make_plan
from reconciler.providers import get_provider
from tests.adoption.lives import ALICE, BOB, TODAY, live
from tests.hostile import NAMES, assert_terminal_safe

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def run(
    root: Path, state: LiveState, *, name: str | None = "Acme", prune: bool = False
) -> ImportReport:
    return import_into(root, state, get_provider("mistral"), name=name, prune=prune, today=TODAY)


def planned(root: Path, state: LiveState) -> list[Change]:
    """What a plan of ``root`` against ``state`` would do, objects left alone aside."""
    result = check_desired_state(root, today=TODAY)
    assert result.state is not None, [p.render() for p in result.problems]
    plan = make_plan(result.state, state, provider="mistral", now=NOW)
    return [c for c in plan.changes if not {Action.UNMANAGED, Action.NOOP} & set(c.actions)]


def test_a_first_import_writes_files_that_plan_clean(tmp_path: Path) -> None:
    report = run(tmp_path, live())
    shown = tmp_path.as_posix()
    assert report.written == [
        f"{shown}/.schema/organization.json",
        f"{shown}/.schema/roles.json",
        f"{shown}/.schema/workspace.json",
        f"{shown}/.schema/people.json",
        f"{shown}/.schema/groups.json",
        f"{shown}/.schema/desired-state.json",
        f"{shown}/organization.yaml",
        f"{shown}/roles.yaml",
        f"{shown}/workspaces/dev.yaml",
    ]
    assert (report.workspaces, report.keys) == (1, 2)
    assert planned(tmp_path, live()) == []
    dev = tmp_path / "workspaces" / "dev.yaml"
    first = [p.read_text().splitlines()[0] for p in (tmp_path / "organization.yaml", dev)]
    assert first == [  # as in the example files, and the schemas are there
        "# yaml-language-server: $schema=.schema/organization.json",
        "# yaml-language-server: $schema=../.schema/workspace.json",
    ]
    assert json.loads((tmp_path / ".schema" / "workspace.json").read_text())["$schema"]
    assert dev.read_text().split("version: 1\n", 1)[1] == (
        "\n"
        "workspace:\n"
        "  name: dev\n"
        "  description: Developers\n"
        "  admin: alice@acme.example\n"
        "  # spend limit in the console: 50 USD/month (only the console sets it; "
        "policy.monthly_budget_usd\n"
        "  # makes plans check it)\n"
        "  members:\n"
        "    - {email: bob@acme.example, roles: [user]}\n"
        "  api_keys:\n"
        "    - name: dev-alice\n"
        "      owner: alice@acme.example\n"
        "      expires: 2039-06-30\n"
        "      secret: {path: dev/dev-alice}\n"
        "    - name: dev-bob\n"
        "      owner: bob@acme.example\n"
        "      secret: {path: dev/dev-bob}\n"
    )
    again = run(tmp_path, live())  # nothing changed live: nothing written
    assert again.written == [] and len(again.unchanged) == 8


def test_the_organisation_needs_a_name_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass it once with --name"):
        run(tmp_path / "new", live(), name=None)
    assert not (tmp_path / "new").exists()  # refused: nothing made, not even the folder
    with pytest.raises(ConfigError, match="pass it once with --name"):
        run(tmp_path, live(), name=None)
    run(tmp_path, live(), name="Acme Analytics")
    run(tmp_path, live(), name=None)  # the one organization.yaml names
    assert "  name: Acme Analytics\n" in (tmp_path / "organization.yaml").read_text()


def test_what_the_yaml_cannot_express_is_listed_not_written(tmp_path: Path) -> None:
    state = live(
        workspaces=(
            Workspace(name="Default Workspace", admin=ALICE, id="ws-0", is_default=True),
            Workspace(name="orphans", id="ws-o"),  # nobody is its admin
            Workspace(name="ml", admin=ALICE, id="ws-ml"),
        ),
        members=(
            Member(workspace="ml", email=ALICE, roles=("workspace_admin",), user_id="u-a"),
            Member(workspace="ml", email=BOB, roles=("user", "wizard"), user_id="u-b"),
        ),
        keys=(
            ApiKey(name="shared", workspace="dev", owner=ALICE, id="k-s1"),
            ApiKey(name="shared", workspace="ml", owner=ALICE, id="k-s2"),
            ApiKey(name="old", workspace="ml", owner=ALICE, expires=dt.date(2026, 1, 31), id="k-o"),
            ApiKey(name="svc", workspace="ml", created_by="svc@partner.example", id="k-svc"),
            ApiKey(name="in-default", workspace="Default Workspace", owner=ALICE, id="k-d"),
            ApiKey(name="lost", workspace="orphans", owner=ALICE, id="k-l"),
        ),
    )
    report = run(tmp_path, state)
    assert report.notes == [
        "key 'old' (workspace 'ml'): expired on 2026-01-31; not imported (delete it, or leave "
        "it alone)",
        "key 'shared': 2 live keys share this name (workspaces 'dev', 'ml') and key names are "
        "unique in the desired state; rename or delete all but one in the console, then import "
        "again",
        "workspace 'Default Workspace' (the default workspace): not a valid desired-state name; "
        "not imported, left alone as unmanaged",
        "workspace 'Default Workspace': its 1 key(s) are not imported with it ('in-default')",
        "workspace 'dev': its spend limit (50 USD/month) can be set only in the console: "
        "written as a comment",
        "member 'bob@acme.example' of workspace 'ml': roles 'wizard' are not La Plateforme's "
        "workspace roles; not written (the plan will remove them)",
        "key 'svc': the platform names no owner (created by 'svc@partner.example'); written "
        "with the workspace admin as owner",
        "workspace 'orphans': no workspace admin with a valid email; not imported (make someone "
        "its workspace_admin in the console, then import again)",
        "workspace 'orphans': its 1 key(s) are not imported with it ('lost')",
    ]
    assert sorted(p.name for p in (tmp_path / "workspaces").iterdir()) == ["dev.yaml", "ml.yaml"]
    assert (
        "owner: alice@acme.example  # the platform names no owner"
        in (tmp_path / "workspaces" / "ml.yaml").read_text()
    )
    # the plan: the unknown role goes; everything else is the live state, or left alone
    assert [(c.address, c.actions) for c in planned(tmp_path, state)] == [
        ("member.ml/bob@acme.example", (Action.UPDATE,))
    ]


YAML_SPECIALS = (
    "a: b #c",
    "&anchor",
    "*alias",
    "- lead",
    'quote\'s "double"',
    "multi\nline",
    "yes",
    "null",
    "1e5",
    "2027-01-01",
    " lead space",
    "@at",
    "%pct",
    "!bang",
    "|pipe",
    ">gt",
    "{brace",
    "[bracket",
    "#hash",
    "?q",
    "tab\there",
    "nbsp\u00a0and ünïcödé 😀",
)


def test_hostile_live_text_round_trips_and_hostile_names_are_listed(tmp_path: Path) -> None:
    texts = (*YAML_SPECIALS, *NAMES)
    state = live(
        workspaces=tuple(
            Workspace(name=f"w{i}", description=text[:255], admin=ALICE, id=f"ws-{i}")
            for i, text in enumerate(texts)
        )
        + tuple(Workspace(name=name, admin=ALICE, id=f"ws-bad{i}") for i, name in enumerate(NAMES)),
        members=tuple(
            Member(workspace=f"w{i}", email=ALICE, roles=("workspace_admin",), user_id="u-a")
            for i in range(len(texts))
        ),
        keys=tuple(
            ApiKey(name=name, workspace="dev", owner=ALICE, id=f"k-bad{i}")
            for i, name in enumerate(texts)
        ),
    )
    name = 'Acme: #1 & *co, "quoted"\n- really'
    report = run(tmp_path, state, name=name)
    result = check_desired_state(tmp_path, today=TODAY)
    assert result.state is not None, [p.render() for p in result.problems]
    assert result.state.organization.name == name
    described = {w.name: w.description for w in result.state.workspaces}
    assert described == {"dev": "Developers", **{f"w{i}": t[:255] for i, t in enumerate(texts)}}
    valid = {t for t in texts if re.fullmatch(NAME_PATTERN, t)}  # yes, null, 1e5, 2027-01-01
    assert {k.name for k in result.state.keys} == {"dev-alice", "dev-bob", *valid}
    assert planned(tmp_path, state) == []
    for file in tmp_path.rglob("*.yaml"):  # escaped: a reviewer sees what is there
        assert_terminal_safe(file.read_text())
    assert_terminal_safe("\n".join(report.notes))
    listed = "\n".join(report.notes)
    assert listed.count("not a valid desired-state name") == len(NAMES) + len(texts) - len(valid)


def test_reimport_keeps_comments_and_order_and_updates_values_in_place(tmp_path: Path) -> None:
    run(tmp_path, live())
    dev = tmp_path / "workspaces" / "dev.yaml"
    header = dev.read_text().split("version: 1\n", 1)[0]
    edited = (
        "version: 1\n"
        "\n"
        "# The developers' workspace.\n"
        "workspace:\n"
        "  name: dev\n"
        "  description: Developers   # as in the console\n"
        "  admin: alice@acme.example\n"
        "  members:\n"
        "    - {email: bob@acme.example, roles: [user]}   # until March\n"
        "  policy: {rpm: 60}\n"
        "  api_keys:\n"
        "    # Bob's laptop\n"
        "    - name: dev-bob\n"
        "      owner: bob@acme.example\n"
        "      secret: {path: dev/dev-bob}\n"
        "\n"
        "    # Alice's CI key, checked weekly\n"
        "    - name: dev-alice\n"
        "      expires: 2039-06-30   # the policy's maximum\n"
        "      description: CI\n"
        "      owner: alice@acme.example\n"
        "      secret: {path: dev/dev-alice}\n"
        "\n"
        "# end of file\n"
    )
    dev.write_text(header + edited)
    changed = live().model_copy(
        update={
            "members": (
                *live().members[:1],
                Member(workspace="dev", email="carol@acme.example", roles=("dev",), user_id="u-c"),
            ),
            "keys": (
                live().keys[0].model_copy(update={"expires": dt.date(2030, 1, 31)}),
                ApiKey(name="dev-carol", workspace="dev", owner="carol@acme.example", id="k-c"),
            ),
        }
    )
    report = run(tmp_path, changed)
    shown = dev.as_posix()
    assert report.notes[-2:] == [
        f"{shown}: key 'dev-bob' is not in the live organisation; kept (the plan will create it; "
        "--prune removes it)",
        f"{shown}: member 'bob@acme.example' is not in the live organisation; kept (the plan will "
        "create it; --prune removes it)",
    ]
    assert dev.read_text() == header + edited.replace(
        "2039-06-30   # the policy", "2030-01-31   # the policy"
    ).replace(
        "    - {email: bob@acme.example, roles: [user]}   # until March\n",
        "    - {email: bob@acme.example, roles: [user]}   # until March\n"
        "    - {email: carol@acme.example, roles: [dev]}\n",
    ).replace(
        "      secret: {path: dev/dev-alice}\n",
        "      secret: {path: dev/dev-alice}\n"
        "    - name: dev-carol\n"
        "      owner: carol@acme.example\n"
        "      secret: {path: dev/dev-carol}\n",
    )

    pruned = run(tmp_path, changed, prune=True)
    assert f"{shown}: key 'dev-bob' is not in the live organisation; removed" in pruned.notes
    text = dev.read_text()
    assert "dev-bob" not in text and "bob@acme.example" not in text
    assert "# Bob's laptop" not in text  # the removed entry's own comment went with it
    for kept in ("# The developers'", "# as in the console", "# Alice's CI key", "# end of file"):
        assert kept in text
    assert planned(tmp_path, changed) == []


def test_a_file_whose_update_would_drop_a_comment_is_left_as_it_is(tmp_path: Path) -> None:
    run(tmp_path, live())
    org = tmp_path / "organization.yaml"
    text = org.read_text().replace(
        "spend_limit: {amount: 3000, currency: USD}",
        "spend_limit: {amount: 3000,   # raised in May\n    currency: USD}",
    )
    org.write_text(text)
    higher = live().model_copy(
        update={"organization": Organization(spend_limit=SpendLimit(amount=Decimal(5000)))}
    )
    report = run(tmp_path, higher)
    assert org.read_text() == text
    assert report.notes[-1] == (
        f"{org.as_posix()}: left as it is: updating it would drop the comment '# raised in May'; "
        "update it by hand"
    )


def test_files_of_workspaces_gone_from_live_are_kept_unless_pruned(tmp_path: Path) -> None:
    with_ml = live(workspaces=(Workspace(name="ml", admin=ALICE, id="ws-ml"),))
    run(tmp_path, with_ml)
    ml = tmp_path / "workspaces" / "ml.yaml"
    archived = tmp_path / "workspaces" / "old.yaml"
    archived.write_text(
        "version: 1\nworkspace: {name: old, admin: a@acme.example, archived: true}\n"
    )
    report = run(tmp_path, live())
    assert ml.exists() and archived.exists()
    assert report.notes[-1] == (
        f"{ml.as_posix()}: workspace 'ml' is not in the live organisation; kept (the plan will "
        "create it; --prune removes the file)"
    )
    pruned = run(tmp_path, live(), prune=True)
    assert pruned.removed == [ml.as_posix()]
    assert not ml.exists() and archived.exists()  # an archived workspace's file is a record


def test_a_renamed_entry_is_found_by_its_previous_name(tmp_path: Path) -> None:
    run(tmp_path, live())
    workspaces = tmp_path / "workspaces"
    text = (workspaces / "dev.yaml").read_text()
    text = text.replace("  name: dev\n", "  name: developers\n  previous_names: [dev]\n")
    text = text.replace(
        "- name: dev-bob\n", "- name: bob-laptop\n      previous_names: [dev-bob]\n"
    )
    (workspaces / "developers.yaml").write_text(text)
    (workspaces / "dev.yaml").unlink()
    report = run(tmp_path, live())  # the renames are not applied yet: live is as it was
    assert report.written == [] and not (workspaces / "dev.yaml").exists()
    assert (workspaces / "developers.yaml").read_text() == text


def test_an_unreadable_file_is_left_as_it_is(tmp_path: Path) -> None:
    run(tmp_path, live())
    dev = tmp_path / "workspaces" / "dev.yaml"
    dev.write_text("version: 1\nworkspace: [unclosed\n")
    outside = tmp_path.parent / f"{tmp_path.name}-secret.yaml"
    outside.write_text("token: hunter2\n")
    (tmp_path / "workspaces" / "ml.yaml").symlink_to(outside)
    report = run(tmp_path, live(workspaces=(Workspace(name="ml", admin=ALICE, id="ws-ml"),)))
    assert dev.read_text() == "version: 1\nworkspace: [unclosed\n"
    assert (tmp_path / "workspaces" / "ml.yaml").is_symlink()
    assert outside.read_text() == "token: hunter2\n"
    notes = "\n".join(report.notes)
    assert f"{dev.as_posix()}: left as it is: invalid YAML" in notes
    assert "ml.yaml: left as it is: a symbolic link to a file outside" in notes
    assert "hunter2" not in notes


def test_a_key_in_another_workspace_moves_file_and_no_comment_is_lost(tmp_path: Path) -> None:
    with_ml = live(
        workspaces=(Workspace(name="ml", admin=ALICE, id="ws-ml"),),
        members=(Member(workspace="ml", email=ALICE, roles=("workspace_admin",), user_id="u-a"),),
    )
    run(tmp_path, with_ml)
    dev, ml = tmp_path / "workspaces" / "dev.yaml", tmp_path / "workspaces" / "ml.yaml"
    assert ml.read_text().endswith("  members: []\n  api_keys: []\n")
    dev.write_text(
        dev.read_text().replace(
            "    - name: dev-alice\n", "    # Alice's CI key\n    - name: dev-alice  # weekly\n"
        )
    )
    # dev-alice now lives in ml (deleted in dev, created again there), without an expiry
    alice = with_ml.keys[0].model_copy(update={"workspace": "ml", "expires": None})
    report = run(tmp_path, with_ml.model_copy(update={"keys": (alice, *with_ml.keys[1:])}))
    assert f"{ml.as_posix()}: key 'dev-alice' moved here from another workspace's file (it " in (
        "\n".join(report.notes)
    )
    assert "dev-alice" not in dev.read_text()
    assert "  api_keys:\n    # Alice's CI key\n    - name: dev-bob\n" in dev.read_text()
    assert ml.read_text().endswith(
        "  members: []\n"
        "  api_keys:\n"
        "    - name: dev-alice  # weekly\n"
        "      owner: alice@acme.example\n"
        "      secret: {path: dev/dev-alice}\n"
    )


def test_a_value_the_live_side_lost_goes_and_the_comments_after_it_stay(tmp_path: Path) -> None:
    run(tmp_path, live())
    dev = tmp_path / "workspaces" / "dev.yaml"
    text = dev.read_text().replace(
        "      expires: 2039-06-30\n",
        "      expires: 2039-06-30   # the maximum\n      # where CI reads it:\n",
    )
    dev.write_text(text)
    no_expiry = live().keys[0].model_copy(update={"expires": None})
    run(tmp_path, live().model_copy(update={"keys": (no_expiry, *live().keys[1:])}))
    assert dev.read_text() == text.replace("      expires: 2039-06-30   # the maximum\n", "")


def _with_people() -> LiveState:
    """``live()`` with its people, carol invited to dev, and a group granting bob dev."""
    return live().model_copy(
        update={
            "people": (
                OrgMember(email=ALICE, role="organization_admin", seats=("chat",), id="u-a"),
                OrgMember(email=BOB, role="member", id="u-b"),
            ),
            "invitations": (
                Invitation(email="carol@acme.example", role="member", workspaces=("dev",)),
            ),
            "groups": (
                Group(name="devs", members=(BOB,), workspace_grants={"dev": ("user",)}, id="g"),
            ),
        }
    )


def test_people_and_groups_are_imported_and_group_grants_stay_group_grants(
    tmp_path: Path,
) -> None:
    state = _with_people()
    report = run(tmp_path, state)
    assert report.notes == [
        "workspace 'dev': its spend limit (50 USD/month) can be set only in the console: "
        "written as a comment"
    ]
    assert (tmp_path / "people.yaml").read_text().split("version: 1\n", 1)[1] == (
        "\n"
        "people:\n"
        "  - {email: alice@acme.example, role: organization_admin, seats: [chat]}\n"
        "  - {email: bob@acme.example}\n"
        "  - {email: carol@acme.example}  # invited, not accepted yet\n"
    )
    dev = (tmp_path / "workspaces" / "dev.yaml").read_text()
    assert "bob@acme.example, roles" not in dev  # bob is in dev through the group only
    assert "    - {email: carol@acme.example, roles: [user]}\n" in dev
    assert "    members: [bob@acme.example]\n    workspaces:\n      dev: [user]\n" in (
        (tmp_path / "groups.yaml").read_text()
    )
    assert [c.address for c in planned(tmp_path, state)] == ["invitation.carol@acme.example"]


def test_reimported_people_and_groups_are_merged_in_place(tmp_path: Path) -> None:
    run(tmp_path, _with_people())
    people = tmp_path / "people.yaml"
    people.write_text(
        people.read_text().replace(
            "  - {email: bob@acme.example}\n", "  - {email: bob@acme.example}   # on leave\n"
        )
    )
    state = _with_people()
    state = state.model_copy(
        update={
            "people": (state.people[0], state.people[1].model_copy(update={"seats": ("chat",)})),
            "groups": (state.groups[0].model_copy(update={"description": "The developers"}),),
        }
    )
    report = run(tmp_path, state)
    assert f"{people.as_posix()}" in report.written
    text = people.read_text()
    assert "  - {email: bob@acme.example, seats: [chat]} # on leave\n" in text
    assert "  - name: devs\n    description: The developers\n    members: [bob" in (
        (tmp_path / "groups.yaml").read_text()
    )
    assert [c.address for c in planned(tmp_path, state)] == ["invitation.carol@acme.example"]


def _anthropic(status: str, limits: dict[str, dict[str, int]]) -> LiveState:
    """An Anthropic organisation: workspace dev with one key of ``status`` and ``limits``."""
    return LiveState(
        target="test platform",
        organization=Organization(),
        workspaces=(Workspace(name="dev", admin=ALICE, id="wrkspc_dev", rate_limits=limits),),
        members=(Member(workspace="dev", email=ALICE, roles=("workspace_admin",)),),
        keys=(
            ApiKey(name="dev-ci", workspace="dev", owner=ALICE, id="k-ci", status=status),
            ApiKey(name="dev-app", workspace="dev", owner=ALICE, id="k-app", status="active"),
        ),
    )


def test_anthropic_key_status_and_rate_limits_are_imported_and_plan_clean(
    tmp_path: Path,
) -> None:
    def import_anthropic(state: LiveState) -> list[Change]:
        import_into(
            tmp_path, state, get_provider("anthropic"), name="Acme", prune=False, today=TODAY
        )
        result = check_desired_state(tmp_path, today=TODAY)
        assert result.state is not None, [p.render() for p in result.problems]
        plan = make_plan(result.state, state, provider="anthropic", now=NOW)
        return [c for c in plan.changes if not {Action.UNMANAGED, Action.NOOP} & set(c.actions)]

    sonnet = {"Claude Sonnet": {"requests_per_minute": 100, "output_tokens_per_minute": 8000}}
    assert import_anthropic(_anthropic("inactive", sonnet)) == []
    dev = tmp_path / "workspaces" / "dev.yaml"
    text = dev.read_text()
    assert "      secret: {path: dev/dev-ci}\n      status: inactive\n" in text
    assert "status: active" not in text  # the usual status is left unwritten
    assert (
        "  rate_limits:\n"
        "    Claude Sonnet: {output_tokens_per_minute: 8000, requests_per_minute: 100}\n"
    ) in text
    # re-activated and the override changed live: a re-import follows, and plans clean
    state = _anthropic("active", {"Claude Sonnet": {"requests_per_minute": 50}})
    assert import_anthropic(state) == []
    text = dev.read_text()
    assert "      status: active\n" in text
    assert "    Claude Sonnet: {requests_per_minute: 50}\n" in text
    # the override cleared live: the file keeps managing rate limits, now none
    assert import_anthropic(_anthropic("active", {})) == []
    assert "  rate_limits: {}\n" in dev.read_text()


def test_people_and_groups_gone_from_live_are_listed_and_pruned(tmp_path: Path) -> None:
    """carol accepted (her pending note goes), bob left, the group was deleted: a re-import
    lists bob and the group, and --prune removes them."""
    run(tmp_path, _with_people())
    people, groups = tmp_path / "people.yaml", tmp_path / "groups.yaml"
    state = _with_people()
    carol = OrgMember(email="carol@acme.example", role="member", id="u-c")
    state = state.model_copy(
        update={"people": (state.people[0], carol), "invitations": (), "groups": ()}
    )
    report = run(tmp_path, state)
    assert report.notes[-2:] == [
        f"{people.as_posix()}: person 'bob@acme.example' is not in the live organisation; "
        "kept (the plan will invite them; --prune removes it)",
        f"{groups.as_posix()}: group 'devs' is not in the live organisation; kept (the plan "
        "will create it; --prune removes it)",
    ]
    assert people.read_text().endswith(
        "  - {email: bob@acme.example}\n  - {email: carol@acme.example}\n"
    )
    pruned = run(tmp_path, state, prune=True)
    assert pruned.notes[-2:] == [
        f"{people.as_posix()}: person 'bob@acme.example' is not in the live organisation; removed",
        f"{groups.as_posix()}: group 'devs' is not in the live organisation; removed",
    ]
    assert people.read_text().split("version: 1\n", 1)[1] == (
        "\n"
        "people:\n"
        "  - {email: alice@acme.example, role: organization_admin, seats: [chat]}\n"
        "  - {email: carol@acme.example}\n"
    )
    assert "devs" not in groups.read_text()


def test_a_workspace_without_a_console_limit_is_commented_but_not_noted(tmp_path: Path) -> None:
    """A workspace whose console says "no monthly limit" has nothing to bring over: the
    YAML says so in a comment, and the import's notes (what needs a person) leave it out."""
    open_ended = Workspace(
        name="lab", admin=ALICE, id="ws-lab", spend_limit=SpendLimit(amount=None)
    )
    members = (Member(workspace="lab", email=ALICE, roles=("workspace_admin",), user_id="u-a"),)
    report = run(tmp_path, live(workspaces=(open_ended,), members=members))
    assert report.notes == [
        "workspace 'dev': its spend limit (50 USD/month) can be set only in the console: "
        "written as a comment"
    ]
    lab = (tmp_path / "workspaces" / "lab.yaml").read_text()
    assert "# spend limit in the console: no monthly limit" in lab
