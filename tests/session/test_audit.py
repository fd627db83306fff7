"""``Session.audit`` and the organisation pin, against the embedded demo sandbox.

The sandbox is seeded at ``NOW`` (its keys' ages are relative to it) and the session's
clock is ``NOW``, so every age, last use and window below is exact on any date.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from reconciler.audit import AuditReport, Flag, KeyFinding, SecretState
from reconciler.errors import ConfigError
from reconciler.platform.sandbox import SandboxStore
from reconciler.render.json import render_json
from reconciler.render.text import render_text
from reconciler.session import PlanContext, Session, TargetOptions
from reconciler.vault.base import StoredSecret
from reconciler.vault.bulk import Answer
from reconciler.vault.file import FileVault
from tests.example_dates import copy_example
from tests.vault.helpers import SECRET, make_metadata, run

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
OTHER_CORP = "org-of-other-corp"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy_example(tmp_path / "desired-state")
    SandboxStore.open(tmp_path / "sandbox" / "state.json", clock=lambda: NOW).close()
    return tmp_path


def options(root: Path) -> TargetOptions:
    return TargetOptions(
        sandbox=True,
        sandbox_state=root / "sandbox" / "state.json",
        vault=f"file:{root / 'vault'}",
        state_dir=root / "state",
        env={},
    )


def session(root: Path, clock: Callable[[], dt.datetime] = lambda: NOW) -> Session:
    return Session(root / "desired-state", options(root), clock=clock)


def audit(root: Path, days: int = 365) -> AuditReport:
    async def main() -> AuditReport:
        async with session(root) as s:
            return await s.audit(days=days)

    return run(main())


def by_name(report: AuditReport) -> dict[str, KeyFinding]:
    return {k.name: k for k in report.audit.keys}


def set_organization(root: Path, name: str, org_id: str | None) -> None:
    path = root / "desired-state" / "organization.yaml"
    text = re.sub(r"(?m)^  name: .*$", f"  name: {name}", path.read_text())
    text = re.sub(r"(?m)^  id: .*\n", "", text)
    if org_id is not None:
        text = text.replace(f"  name: {name}\n", f"  name: {name}\n  id: {org_id}\n")
    path.write_text(text)


def test_the_demo_sandbox_audit_shows_the_seeded_stale_key(root: Path) -> None:
    report = audit(root)
    keys = by_name(report)
    assert sorted(keys) == ["dev-alice", "iris-laptop"]
    iris = keys["iris-laptop"]
    assert (iris.workspace, iris.owner, iris.age_days, iris.idle_days) == (
        "dev",
        "iris.tanaka@acme.example",
        200,
        45,
    )
    assert iris.flags == (Flag.UNUSED, Flag.OLD, Flag.ROTATION_DUE, Flag.UNMANAGED)
    assert iris.secret is None  # not managed: no store path to look at
    assert iris.attribution is not None
    assert iris.attribution.describe() == (
        "created outside reconciler by iris.tanaka@acme.example on 2025-11-13"
    )
    alice = keys["dev-alice"]
    assert (alice.age_days, alice.idle_days, alice.managed) == (20, 1, True)
    assert alice.secret is not None and alice.secret.state is SecretState.MISSING
    assert alice.flags == (Flag.SECRET_MISSING,)  # declared, but never stored by reconciler
    assert report.audit.secrets_read
    assert report.warnings == ()


def test_the_attribution_window_bounds_what_is_read(root: Path) -> None:
    assert by_name(audit(root, days=30))["iris-laptop"].attribution is None
    assert by_name(audit(root, days=0))["iris-laptop"].attribution is None


def test_after_apply_secrets_are_stored_and_a_lost_or_swapped_one_is_flagged(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real time here: the keys apply creates are stamped by the platform's clock.
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    read: list[str] = []  # every path whose metadata the file vault read
    one_by_one, batch = FileVault._read_metadata, FileVault._read_metadata_many

    def reading_one(vault: FileVault, rel: str) -> StoredSecret | None:
        read.append(rel)
        return one_by_one(vault, rel)

    def reading_many(vault: FileVault, paths: Sequence[str]) -> list[Answer]:
        read.extend(paths)
        with monkeypatch.context() as inner:  # a path it reads alone counts once
            inner.setattr(FileVault, "_read_metadata", one_by_one)
            return batch(vault, paths)

    monkeypatch.setattr(FileVault, "_read_metadata", reading_one)
    monkeypatch.setattr(FileVault, "_read_metadata_many", reading_many)

    async def main() -> tuple[AuditReport, AuditReport]:
        async with session(root, now) as s:
            await s.apply(auto_approve=True)
            stored = await s.audit()
            desired = s.load_desired()
            route = s.router(desired)
            keys = {k.name: k for k in desired.keys}
            store, lost = route(keys["dev-alice"])
            await store.delete(lost)
            other, swapped = route(keys["prod-checkout-service"])
            metadata = make_metadata(key_id="some-other-key", key_name="prod-checkout-service")
            await other.put(swapped, SECRET, metadata, expect_version=None)
            read.clear()
            return stored, await s.audit()

    stored, after = run(main())
    # the plan inside the audit checks the managed keys' secrets with the audit's reads
    assert read and sorted(read) == sorted(set(read))
    managed = [k for k in stored.audit.keys if k.managed]
    assert managed and all(k.secret and k.secret.state is SecretState.STORED for k in managed)
    assert not any(k.flags for k in managed)
    flags = {k.name: k.flags for k in after.audit.keys if k.flags and k.managed}
    assert flags == {
        "dev-alice": (Flag.SECRET_MISSING,),
        "prod-checkout-service": (Flag.SECRET_MISMATCH,),
    }
    swapped = by_name(after)["prod-checkout-service"].secret
    assert swapped is not None and swapped.stored_key_id == "some-other-key"


def plan(root: Path, **kwargs: int) -> PlanContext:
    async def main() -> PlanContext:
        async with session(root) as s:
            return await s.plan(**kwargs)  # type: ignore[arg-type]

    return run(main())


def test_the_plan_says_who_changed_what_and_warns_per_flag(root: Path) -> None:
    ctx = plan(root, attribution_days=365)
    who = {address: a.describe() for address, a in ctx.plan.attributed().items()}
    assert who == {
        "workspace_spend_limit.ml": "changed outside reconciler by dan.okafor@acme.example "
        "on 2026-05-20",
        "member.dev/iris.tanaka@acme.example": "added outside reconciler by "
        "alice.martin@acme.example on 2025-11-03",
        "api_key.iris-laptop": "created outside reconciler by iris.tanaka@acme.example "
        "on 2025-11-13",
    }
    assert [w for w in ctx.plan.warnings if w.startswith("Key audit:")] == [
        "Key audit: 1 key unused for more than 30 days (iris-laptop)",
        "Key audit: 1 key older than 90 days (iris-laptop)",
        "Key audit: 1 key due for rotation (iris-laptop)",
        "Key audit: 1 key not in the desired state (iris-laptop)",
        "Key audit: 1 key with no secret in the store (dev-alice)",
    ]
    assert list(plan(root).plan.attributed()) == ["workspace_spend_limit.ml"]  # 30 days


def test_the_plan_warns_of_every_flag_the_audit_raises_in_text_and_json(root: Path) -> None:
    ctx, report = plan(root), audit(root, days=30)
    flagged = {k.name: k.flags for k in report.audit.keys if k.flags}
    assert flagged["dev-alice"] == (Flag.SECRET_MISSING,)  # the store was read for the plan too
    assert {k.name: k.flags for k in ctx.plan.key_findings} == flagged
    text = render_text(ctx.plan)
    assert "Key audit: 1 key with no secret in the store (dev-alice)" in text
    document = json.loads(render_json(ctx.plan))
    assert "Key audit: 1 key with no secret in the store (dev-alice)" in document["warnings"]
    keys = {k["name"]: k["flags"] for k in document["key_audit"]["keys"]}
    assert keys == {name: [str(f) for f in flags] for name, flags in flagged.items()}


def test_another_organisation_is_refused_before_anything_is_done(root: Path) -> None:
    set_organization(root, "Other Corp", OTHER_CORP)

    async def attempt(what: str) -> None:
        async with session(root) as s:
            if what == "plan":
                await s.plan()
            elif what == "audit":
                await s.audit()
            else:
                await s.apply(auto_approve=True)

    for what in ("plan", "audit", "apply"):
        with pytest.raises(ConfigError) as caught:
            run(attempt(what))
        assert re.fullmatch(
            r'\S+/desired-state/ is for organisation "Other Corp" \(org-of-other-corp\) but '
            rf"the Admin API key is for organisation [0-9a-f-]{{36}}; refusing to {what}",
            str(caught.value),
        ), str(caught.value)
    live = SandboxStore.open(root / "sandbox" / "state.json")
    try:  # apply stopped before creating anything
        assert sorted(k.name or "" for k in live.list_keys(offset=0, limit=100, name=None)) == [
            "dev-alice",
            "iris-laptop",
        ]
    finally:
        live.close()


def test_an_unpinned_desired_state_is_told_its_organisations_id(root: Path) -> None:
    set_organization(root, "Acme Analytics", None)
    ctx = plan(root)
    assert ctx.live.organization.id is not None
    assert (
        f"organization.id is not set, so nothing checks that these credentials reach the "
        f"right organisation; this one's id is {ctx.live.organization.id} (add it under "
        "organization: in organization.yaml)"
    ) in ctx.plan.warnings
    set_organization(root, "Acme Analytics", ctx.live.organization.id)
    assert not any("organization.id" in w for w in plan(root).plan.warnings)


def test_the_demo_plan_warns_that_jins_invitation_grants_a_workspace_he_is_not_desired_in(
    root: Path,
) -> None:
    warnings = plan(root).plan.warnings
    assert (
        "invitation.jin.park@acme.example grants workspace 'ml', where the desired state does "
        "not make jin.park@acme.example a member: once it is accepted, the next plan removes "
        "member.ml/jin.park@acme.example. Add them to the workspace's members, or cancel the "
        "invitation."
    ) in warnings
