"""The Anthropic example end to end on its sandbox: validate, plan, apply, re-plan with
only the Console action left, the key made in the Console adopted, its secret stored
with ``secret put`` (checked, never echoed), and no secret anywhere but the vault."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from pathlib import Path

import httpx
import pytest
import time_machine
from pydantic import SecretStr

from reconciler.audit import Flag
from reconciler.desired.load import check_desired_state
from reconciler.diff import Action
from reconciler.errors import ConfigError
from reconciler.plan import Plan
from reconciler.platform.anthropic.sandbox.app import DEFAULT_ADMIN_KEY, create_app
from reconciler.platform.anthropic.sandbox.state import Organisation, state_file
from reconciler.render.json import render_json
from reconciler.render.text import render_text
from reconciler.session import Session, TargetOptions
from tests.example_dates import copy_example

EXAMPLE = Path(__file__).parents[2] / "examples" / "acme-anthropic"


def _options(root: Path) -> TargetOptions:
    return TargetOptions(
        sandbox=True, sandbox_state=root / "sandbox" / "state.json", state_dir=root / "state"
    )


def _plan(root: Path) -> Plan:
    async def go() -> Plan:
        async with Session(root / "desired", _options(root)) as session:
            return (await session.plan()).plan

    return asyncio.run(go())


def _console_creates(root: Path, name: str, workspace: str) -> str:
    """What an operator does in the Console: the key's secret, shown once."""
    org = Organisation.open(state_file(root / "sandbox" / "state.json"))
    wid = next(w["id"] for w in org.data["workspaces"] if w["name"] == workspace)

    async def go() -> str:
        transport = httpx.ASGITransport(app=create_app(org))
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            answer = await http.post(
                "/sandbox/console/api_keys",
                json={"name": name, "workspace_id": wid, "user_id": "user_01"},
                headers={"x-api-key": DEFAULT_ADMIN_KEY},
            )
            answer.raise_for_status()
            return str(answer.json()["secret"])

    return asyncio.run(go())


def _put(root: Path, address: str, secret: str) -> str:
    async def go() -> str:
        async with Session(root / "desired", _options(root)) as session:
            where, _ = await session.put_secret(address, SecretStr(secret))
            return where

    return asyncio.run(go())


def _ledger_says(root: Path, name: str) -> tuple[str, str]:
    """The ownership record's secret state and path for the key called ``name``."""
    from reconciler.vault import ledger_store
    from reconciler.vault.file import FileVault
    from tests.ledgers import identity_of

    state = state_file(root / "sandbox" / "state.json")
    organization = identity_of(root / "desired", f"anthropic sandbox ({state})")
    stored = asyncio.run(ledger_store.load(FileVault(root / "sandbox" / "vault"), organization))
    entry = next(e for e in stored.ledger.keys.values() if e.name == name)
    return (str(entry.secret.state), entry.secret.path)


def test_the_example_validates_with_the_console_roles() -> None:
    result = check_desired_state(EXAMPLE)
    assert result.errors == [] and result.state is not None
    assert result.state.provider == "anthropic"


@pytest.mark.parametrize(
    ("file", "before", "after", "where"),
    [
        ("workspaces/support.yaml", "[workspace_user]", "[user]", "workspaces/support.yaml:7"),
        ("people.yaml", "role: developer}", "role: workspace_admin}", "people.yaml:8"),
    ],
)
def test_an_unknown_console_role_is_named_with_its_file_and_line(
    tmp_path: Path, file: str, before: str, after: str, where: str
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "desired")
    changed = tmp_path / "desired" / file
    changed.write_text(changed.read_text().replace(before, after, 1))

    errors = check_desired_state(tmp_path / "desired").errors

    assert len(errors) == 1
    assert where in str(errors[0]) and repr(after.strip("[]}").split(": ")[-1]) in str(errors[0])


def test_plan_apply_replan_console_key_and_secret_put(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "desired")

    first = _plan(tmp_path)
    assert [(c.address, c.actions) for c in first.changes if c.actions != (Action.NOOP,)] == [
        ("organization", (Action.UPDATE,)),
        ("workspace.support", (Action.CREATE,)),
        ("member.support/ada@acme.example", (Action.CREATE,)),
        ("member.support/cy@acme.example", (Action.CREATE,)),
        ("api_key.support-bot", (Action.MANUAL,)),
        ("person.cy@acme.example", (Action.UPDATE,)),
        ("invitation.dee@acme.example", (Action.CREATE,)),
    ]

    async def apply() -> None:
        async with Session(tmp_path / "desired", _options(tmp_path)) as session:
            outcome = await session.apply(auto_approve=True)
            assert outcome.result is not None
            assert (outcome.result.added, outcome.result.changed) == (4, 2)

    asyncio.run(apply())
    second = _plan(tmp_path)
    assert second.actionable == ()
    assert [c.address for c in second.changes if Action.MANUAL in c.actions] == [
        "api_key.support-bot"
    ]

    secret = _console_creates(tmp_path, "support-bot", "support")
    third = _plan(tmp_path)
    assert third.actionable == () and third.summary.manual == 0

    other = _console_creates(tmp_path, "scratch", "support")
    with pytest.raises(ConfigError, match="not the live key's"):
        _put(tmp_path, "api_key.support-bot", other)
    with pytest.raises(ConfigError, match="no such key in the desired state"):
        _put(tmp_path, "api_key.scratch", other)
    where = _put(tmp_path, "api_key.support-bot", secret)
    assert where.endswith("support/support-bot")
    assert _ledger_says(tmp_path, "support-bot") == ("stored", "support/support-bot")

    stored = sorted(p for p in (tmp_path / "sandbox").rglob("*") if p.is_file())
    holding = [p for p in stored if secret in p.read_text(errors="replace")]
    assert len(holding) == 1 and "vault" in holding[0].as_posix()
    for text in (render_text(third), render_json(third), where):
        assert secret not in text and DEFAULT_ADMIN_KEY not in text
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace")


def test_secret_put_reads_standard_input_and_never_echoes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from reconciler.cli.main import app

    shutil.copytree(EXAMPLE, tmp_path / "desired")
    monkeypatch.chdir(tmp_path)
    secret = _console_creates(tmp_path, "research-batch-2", "research")
    args = ["secret", "put", "api_key.research-batch", "--desired", "desired", "--sandbox"]
    args += ["--sandbox-state", "sandbox/state.json"]

    refused = CliRunner().invoke(app, args, input=secret + "\n")
    # research-batch is the seeded key, not the one just made: its hint does not match
    assert refused.exit_code == 1
    org = Organisation.open(state_file(tmp_path / "sandbox" / "state.json"))
    live = next(k for k in org.data["keys"] if k["name"] == "research-batch")
    assert refused.output == (
        f"Error: api_key.research-batch: this secret is not the live key's (id {live['id']}; "
        "the console shows that key's hint to compare)\n"
    )
    hint = live["partial_key_hint"].removeprefix("sk-ant-api03-")  # the rest is the key's
    assert all(part not in refused.output for part in hint.split("..."))
    assert secret not in refused.output

    desired = tmp_path / "desired" / "workspaces" / "research.yaml"
    desired.write_text(
        desired.read_text().replace("name: research-batch", "name: research-batch-2")
    )
    # the directory positionally, as every command takes it (--desired still works)
    positional = ["secret", "put", "api_key.research-batch-2", "desired", *args[5:]]
    stored = CliRunner().invoke(app, positional, input=secret + "\n")
    assert stored.exit_code == 0, stored.output
    assert "Stored the secret of api_key.research-batch-2 in file vault" in stored.output
    assert secret not in stored.output


def test_secret_put_refuses_two_different_desired_state_directories(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from reconciler.cli.main import app

    args = ["secret", "put", "api_key.research-batch", str(tmp_path / "a"), "--desired", "b"]
    result = CliRunner().invoke(app, args, input="secret\n")
    assert result.exit_code == 1
    assert "two desired-state directories" in result.output


def test_one_repository_two_organisations_each_planned_and_applied_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from reconciler.cli.main import app

    copy_example(tmp_path / "orgs" / "acme-mistral")
    shutil.copytree(EXAMPLE, tmp_path / "orgs" / "acme-anthropic")
    monkeypatch.chdir(tmp_path)
    sandbox = ["--sandbox", "--sandbox-state", "sandbox/state.json"]

    for org in ("acme-mistral", "acme-anthropic"):
        applied = CliRunner().invoke(app, ["apply", f"orgs/{org}", *sandbox, "--auto-approve"])
        assert applied.exit_code == 0, applied.output
        again = CliRunner().invoke(app, ["plan", f"orgs/{org}", *sandbox])
        assert again.exit_code == 0, again.output
        # what is left is for a console (spend limits, the Anthropic key), not the API
        assert "No changes to apply through the Admin API." in again.output

    planned = CliRunner().invoke(app, ["plan", "orgs/acme-anthropic", *sandbox])
    assert "(provider: anthropic)" in planned.output
    assert "sandbox/state.anthropic.json" in planned.output
    assert "invitation.dee@acme.example" in planned.output  # pending
    assert sorted(p.name for p in (tmp_path / "sandbox").glob("state*.json")) == [
        "state.anthropic.json",
        "state.json",
    ]

    # dee accepts in the Anthropic sandbox, as in the Console: she is a member, nothing waits
    accept = ["sandbox", "accept-invite", "dee@acme.example", "--provider", "anthropic"]
    accepted = CliRunner().invoke(app, [*accept, "--state", "sandbox/state.anthropic.json"])
    assert (
        accepted.output == "dee@acme.example accepted the invitation to the organisation as user.\n"
    )
    joined = CliRunner().invoke(app, ["plan", "orgs/acme-anthropic", *sandbox])
    assert "No changes to apply through the Admin API." in joined.output
    assert "invitation.dee" not in joined.output


@pytest.mark.parametrize(
    ("model", "code", "said"),
    [
        ("claude-haiku-4-5", 0, "allowed: api_key.support-bot may send about 1,000 tokens"),
        ("claude-opus-4-1", 2, "denied (model-not-allowed): key support-bot (role analyst"),
    ],
)
def test_the_anthropic_roles_and_catalog_drive_the_policy(model: str, code: int, said: str) -> None:
    from typer.testing import CliRunner

    from reconciler.cli.main import app

    args = ["policy", "check", "api_key.support-bot", model, "1000", "--desired", str(EXAMPLE)]
    result = CliRunner().invoke(app, args)
    assert (result.exit_code, result.output.startswith(said)) == (code, True), result.output


def test_import_writes_the_anthropic_organisation_and_it_plans_clean(tmp_path: Path) -> None:
    desired = tmp_path / "desired"
    desired.mkdir()
    (desired / "organization.yaml").write_text(
        "version: 1\norganization:\n  name: Acme\n  provider: anthropic\n  vault: {backend: file}\n"
    )

    async def go() -> int:
        async with Session(desired, _options(tmp_path)) as session:
            outcome = await session.import_organization()
            return outcome.live.requests

    assert asyncio.run(go()) > 0
    research = (desired / "workspaces" / "research.yaml").read_text()
    assert "workspace_developer" in research and "research-batch" in research
    plan = _plan(tmp_path)
    assert plan.actionable == () and plan.summary.manual == 0


def test_audit_dates_a_key_s_last_use_from_the_cost_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``reconciler audit --sandbox`` on the example: a key used three days ago is not
    unused; Anthropic's keys carry no last-use field, the cost report by key and day does."""
    from typer.testing import CliRunner

    from reconciler.cli.main import app

    monkeypatch.chdir(tmp_path)
    today = dt.date(2027, 3, 10)  # the audit's clock, set: not the machine's
    with time_machine.travel(dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC), tick=False):
        org = Organisation.open(state_file(tmp_path / "sandbox" / "state.json"))
        used = today - dt.timedelta(days=3)
        org.data["key_usage"] = {"apikey_01": {used.isoformat(): 7}}
        org.save()

        args = ["audit", str(EXAMPLE), "--sandbox", "--sandbox-state", "sandbox/state.json"]
        result = CliRunner().invoke(app, [*args, "--format", "json"])

    assert result.exit_code == 0, result.output
    (key,) = json.loads(result.stdout)["keys"]
    assert (key["name"], key["last_used"]) == ("research-batch", used.isoformat())
    assert "unused" not in key["flags"]


def test_an_archived_key_is_planned_and_applied_as_an_archive_not_a_destroy(
    tmp_path: Path,
) -> None:
    from tests.session.test_apply import Heard

    shutil.copytree(EXAMPLE, tmp_path / "desired")
    research = tmp_path / "desired" / "workspaces" / "research.yaml"
    research.write_text(
        research.read_text().replace("role: service", "role: service\n      status: archived")
    )

    text = render_text(_plan(tmp_path))
    assert (
        "  # api_key.research-batch will be archived (final: the key cannot be reactivated)\n"
        in text
    )
    assert "research-batch will be destroyed" not in text

    heard = Heard()

    async def apply() -> None:
        async with Session(tmp_path / "desired", _options(tmp_path)) as session:
            await session.apply(auto_approve=True, listener=heard)

    asyncio.run(apply())
    archived = [s for s in heard.steps if s.startswith("api_key.research-batch: ")]
    assert archived[0] == "api_key.research-batch: Archiving..."
    assert archived[1].startswith("api_key.research-batch: Archiving complete after ")
    assert not any("Destr" in s for s in heard.steps)


def test_an_expired_key_is_listed_left_as_it_is_and_flagged_never_made_again(
    tmp_path: Path,
) -> None:
    """research-batch expires at 10:00 on 2039-06-30, as the Console set it: that day and
    the next the platform lists it ``expired``; the plan leaves it as it is (no status set,
    no Console action to create it), the audit flags it once its day has passed, and the
    apply goes through (the sandbox, like the API, refuses to re-activate it)."""
    shutil.copytree(EXAMPLE, tmp_path / "desired")
    research = tmp_path / "desired" / "workspaces" / "research.yaml"
    research.write_text(
        research.read_text().replace(
            "role: service", "role: service\n      expires: 2039-06-30\n      status: active"
        )
    )
    org = Organisation.open(state_file(tmp_path / "sandbox" / "state.json"))
    seeded = next(k for k in org.data["keys"] if k["name"] == "research-batch")
    seeded["created_at"] = "2039-06-01T09:00:00Z"  # inside its rotation period
    seeded["expires_at"] = "2039-06-30T10:00:00Z"
    org.save()

    def apply() -> None:
        async def go() -> None:
            async with Session(tmp_path / "desired", _options(tmp_path)) as session:
                await session.apply(auto_approve=True)

        asyncio.run(go())

    def about_the_key(plan: Plan) -> list[str]:
        return [c.address for c in plan.changes if c.address == "api_key.research-batch"]

    with time_machine.travel(dt.datetime(2039, 6, 30, 8, tzinfo=dt.UTC), tick=False):
        apply()  # the key is alive: adopted by name
    with time_machine.travel(dt.datetime(2039, 6, 30, 12, tzinfo=dt.UTC), tick=False):
        same_day = _plan(tmp_path)
    with time_machine.travel(dt.datetime(2039, 7, 1, 12, tzinfo=dt.UTC), tick=False):
        day_after = _plan(tmp_path)
        apply()

    for plan in (same_day, day_after):
        assert about_the_key(plan) == [] and plan.actionable == ()
        assert "create an API key named 'research-batch'" not in render_text(plan)
    finding = next(k for k in day_after.key_findings if k.name == "research-batch")
    assert Flag.EXPIRED in finding.flags and finding.expires == dt.date(2039, 6, 30)
    assert finding.managed
