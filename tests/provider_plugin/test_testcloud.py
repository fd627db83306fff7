"""A second platform plugs in without editing ``reconciler/``: validate, plan, apply, policy.

``testcloud`` (see :mod:`tests.provider_plugin.testcloud`) is registered in code for most
tests, and found through a ``reconciler.providers`` entry point of a tiny distribution
for the command line run as a separate process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.apply.engine import Applier
from reconciler.apply.result import ApplyResult
from reconciler.cli.main import app
from reconciler.desired import check_desired_state, load_desired_state
from reconciler.errors import ConfigError
from reconciler.plan import Plan
from reconciler.policy import Policy
from reconciler.providers import ProviderSpec, register, unregister
from reconciler.render import render_text
from reconciler.session import Session, TargetOptions, open_provider
from tests.e2e.conftest import REPO, run_cli
from tests.provider_plugin import testcloud
from tests.provider_plugin.testcloud import TESTCLOUD

DESIRED = Path(__file__).with_name("desired-state")
TODAY = dt.date(2026, 11, 27)
MISTRAL_ROLE = "- {email: ben@example.org, roles: [workspace_admin]}"


@pytest.fixture
def cloud() -> Iterator[ProviderSpec]:
    register(TESTCLOUD)
    yield TESTCLOUD
    unregister(TESTCLOUD.name)
    testcloud.reset()


def desired_copy(tmp_path: Path, old: str = "", new: str = "") -> Path:
    """The example desired state under ``tmp_path``; ``old`` replaced by ``new`` in
    ``workspaces/research.yaml``."""
    directory = tmp_path / "desired-state"
    shutil.copytree(DESIRED, directory)
    research = directory / "workspaces" / "research.yaml"
    text = research.read_text()
    assert old in text
    research.write_text(text.replace(old, new))
    return directory


def position(path: Path, fragment: str) -> tuple[int, int]:
    """1-based line and column of ``fragment`` in the file."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if fragment in line:
            return number, line.index(fragment) + 1
    raise AssertionError(f"{fragment!r} not in {path}")


def test_validates_with_its_own_roles_catalog_and_defaults(cloud: ProviderSpec) -> None:
    state = load_desired_state(DESIRED, today=TODAY)
    assert state.provider == "testcloud"
    assert [(m.email, m.roles) for m in state.members] == [
        ("ada@example.org", ("owner",)),  # the admin gets Test Cloud's admin role
        ("ben@example.org", ("builder",)),
        ("cy@example.org", ("viewer",)),  # listed without roles: Test Cloud's member role
    ]
    assert state.organization.vault.path_prefix == "testcloud"


def test_mistral_roles_and_models_are_refused_where_they_are_written(
    cloud: ProviderSpec, tmp_path: Path
) -> None:
    directory = desired_copy(tmp_path, "- {email: ben@example.org, roles: [builder]}", MISTRAL_ROLE)
    research = directory / "workspaces" / "research.yaml"
    text = research.read_text().replace("cloud-large]", "mistral-large-latest]")
    research.write_text(text)

    result = check_desired_state(directory, today=TODAY)

    assert result.state is None
    role_at, model_at = position(research, "workspace_admin"), position(research, "mistral-large")
    assert [(p.file, p.line, p.column, p.path, p.message) for p in result.errors] == [
        (
            str(research),
            *role_at,
            "workspace.members[0].roles[0]",
            "the string 'workspace_admin' is not allowed here; expected one of: viewer, "
            "builder, owner (the workspace roles of Test Cloud)",
        ),
        (
            str(research),
            *model_at,
            "workspace.policy.allowed_models[1]",
            "unknown model 'mistral-large-latest' (not in the model catalog)",
        ),
    ]


def test_an_unknown_provider_is_reported_at_its_line(cloud: ProviderSpec, tmp_path: Path) -> None:
    directory = desired_copy(tmp_path)
    org = directory / "organization.yaml"
    org.write_text(org.read_text().replace("provider: testcloud", "provider: testclod"))
    result = check_desired_state(directory, today=TODAY)
    assert [(p.line, p.column, p.path, p.message) for p in result.errors] == [
        (
            *position(org, "provider: testclod"),  # a block mapping's value: at its key
            "organization.provider",
            "unknown provider 'testclod' (did you mean 'testcloud'?)",
        )
    ]


def test_plans_applies_and_converges_against_its_own_platform(
    cloud: ProviderSpec, tmp_path: Path
) -> None:
    options = TargetOptions(
        sandbox=True,
        sandbox_state=tmp_path / "state.json",
        vault=f"file:{tmp_path / 'vault'}",
        state_dir=tmp_path / "state",
        env={},
    )

    async def run() -> tuple[Plan, ApplyResult, Plan]:
        async with Session(DESIRED, options) as session:
            ctx = await session.plan()
            applier = Applier(
                provider=session.provider,
                desired=ctx.desired,
                live=ctx.live,
                secrets=session.router(ctx.desired),
                journal=session.journal(ctx.desired),
                apply_id="testcloud-apply",
                report=lambda line: None,
            )
            result = await applier.run(ctx.plan)
        async with Session(DESIRED, options) as session:  # the platform kept the changes
            again = await session.plan()
        return ctx.plan, result, again.plan

    plan, result, again = asyncio.run(run())

    text = render_text(plan, color=False)
    assert f"Target: testcloud sandbox ({tmp_path / 'state.json'}) (provider: testcloud)" in text
    assert {(c.address, tuple(a.value for a in c.actions)) for c in plan.actionable} == {
        ("organization", ("update",)),
        ("workspace.research", ("update",)),
        ("member.research/ben@example.org", ("create",)),
        ("member.research/cy@example.org", ("create",)),
        ("api_key.research-ben", ("create",)),
    }
    assert result.stored  # the new key's secret went to the vault
    assert not again.actionable, render_text(again, color=False)


def test_policy_prices_and_resolves_with_its_own_catalog(cloud: ProviderSpec) -> None:
    policy = Policy(load_desired_state(DESIRED, today=TODAY))
    assert policy.prices.price("cloud-large") == (Decimal(3), Decimal(9))
    decision = policy.authorize("analyst", "cloud-small-latest", 1000, dry_run=True)
    assert decision, decision.message
    assert decision.model == "cloud-small"
    assert not policy.authorize("analyst", "mistral-small-latest", 1000, dry_run=True)


def test_its_platform_needs_its_credentials(cloud: ProviderSpec) -> None:
    with pytest.raises(ConfigError, match="set TESTCLOUD_ADMIN_KEY"):
        open_provider(TargetOptions(provider="testcloud", env={}))
    opened = open_provider(TargetOptions(provider="testcloud", env={"TESTCLOUD_ADMIN_KEY": "k"}))
    assert (opened.name, opened.target) == ("testcloud", "https://admin.testcloud.example")


def test_schema_for_it_lists_its_roles(cloud: ProviderSpec) -> None:
    result = CliRunner().invoke(app, ["schema", "--kind", "workspace", "--provider", "testcloud"])
    assert result.exit_code == 0, result.output
    roles = json.loads(result.stdout)["$defs"]["MemberDoc"]["properties"]["roles"]
    assert roles["items"] == {"enum": ["viewer", "builder", "owner"]}


def test_without_the_plugin_its_desired_state_names_an_unknown_provider(tmp_path: Path) -> None:
    directory = desired_copy(tmp_path)
    result = check_desired_state(directory, today=TODAY)
    assert [(p.path, p.message) for p in result.errors] == [
        (
            "organization.provider",
            "unknown provider 'testcloud'; known providers: anthropic, cohere, groq, mistral",
        )
    ]


def plugin_distribution(root: Path) -> Path:
    """A directory holding an installed distribution that offers ``testcloud``."""
    info = root / "testcloud_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: testcloud-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[reconciler.providers]\ntestcloud = tests.provider_plugin.testcloud:TESTCLOUD\n"
    )
    return root


def test_validate_finds_it_through_an_entry_point_and_refuses_a_mistral_role(
    tmp_path: Path,
) -> None:
    desired_copy(tmp_path, "- {email: ben@example.org, roles: [builder]}", MISTRAL_ROLE)
    site = plugin_distribution(tmp_path / "site")
    result = run_cli(
        ["validate", "--today", TODAY.isoformat()],
        cwd=tmp_path,
        env={"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])},
    )
    line, column = position(tmp_path / "desired-state/workspaces/research.yaml", "workspace_admin")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"desired-state/workspaces/research.yaml:{line}:{column}: error: "
        "workspace.members[0].roles[0]: the string 'workspace_admin' is not allowed here; "
        "expected one of: viewer, builder, owner (the workspace roles of Test Cloud)"
    )
