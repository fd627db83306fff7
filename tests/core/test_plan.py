"""Plans: counts, ordering, safety rails, fingerprints and saved plan files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import reconciler.plan.fingerprints
from reconciler.diff import Action, Rotations
from reconciler.errors import PlanError
from reconciler.model import ApiKey, DesiredState, LiveState, SpendLimit
from reconciler.plan import (
    Plan,
    check_saved,
    load,
    make_plan,
    plan_differences,
    restrict,
    save,
    stale_reasons,
)
from reconciler.rails import RefusalKind, enforce

from .states import desired, live_drifted, live_matching

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def refused(plan: Plan) -> list[str]:
    """What apply will refuse, as it will say it."""
    return [r.line() for r in plan.refusals]


def test_summary_counts_a_replacement_as_add_and_destroy() -> None:
    plan = make_plan(desired(), live_drifted(), provider="mistral", now=NOW)
    s = plan.summary
    # adds: workspace.prod, member bob, member grace, key prod-checkout, dev-alice (replacement)
    assert (s.add, s.change, s.destroy) == (5, 2, 2)
    assert (s.manual, s.unmanaged, s.conflicts) == (1, 2, 0)
    assert s.sentence() == "Plan: 5 to add, 2 to change, 2 to destroy."


def test_no_changes() -> None:
    plan = make_plan(desired(), live_matching(), provider="mistral", now=NOW)
    assert not plan.summary.has_changes
    assert plan.changes == ()


def test_protected_workspace_key_delete_is_an_error() -> None:
    prod = desired().workspaces[1].model_copy(update={"prune_unmanaged_keys": True})
    live = live_matching().model_copy(
        update={"keys": (*live_matching().keys, ApiKey(name="old", workspace="prod", id="k-old"))}
    )
    state = desired(workspaces=(desired().workspaces[0], prod))
    plan = make_plan(state, live, provider="mistral", now=NOW)
    assert refused(plan) == [
        "api_key.old: key in protected workspace 'prod' would be deleted. Set protected: "
        "false first, in a change of its own."
    ]
    assert [(r.kind, r.addresses, r.force_overrides) for r in plan.refusals] == [
        (RefusalKind.PROTECTED, ("api_key.old",), False)
    ]
    with pytest.raises(PlanError, match="Refusing to apply"):
        enforce(plan.refusals, force=True)  # --force does not override protection


@pytest.mark.parametrize(
    ("deletes", "total", "message"),
    [
        (4, 10, "Too many deletes: 40% is over 30% (4/10); --force required"),
        (61, 200, "Too many deletes: 30.5% is over 30% (61/200); --force required"),
        (60, 200, None),
    ],
)
def test_the_share_of_deletes_is_never_rounded_onto_the_threshold(
    deletes: int, total: int, message: str | None
) -> None:
    dev = desired().workspaces[0].model_copy(update={"prune_unmanaged_keys": True})
    strays = tuple(ApiKey(name=f"stray{i}", workspace="dev", id=f"s{i}") for i in range(deletes))
    kept = range(total - deletes)
    keep = tuple(ApiKey(name=f"keep{i}", workspace="dev", id=f"c{i}") for i in kept)
    state = desired(workspaces=(dev, desired().workspaces[1]), keys=keep)
    live = live_matching().model_copy(update={"keys": strays + keep})
    plan = make_plan(state, live, provider="mistral", now=NOW)
    assert refused(plan) == ([message] if message else [])


def test_too_many_deletes_needs_force() -> None:
    dev = desired().workspaces[0].model_copy(update={"prune_unmanaged_keys": True})
    strays = tuple(ApiKey(name=f"stray{i}", workspace="dev", id=f"s{i}") for i in range(4))
    keep = tuple(ApiKey(name=f"keep{i}", workspace="dev", id=f"c{i}") for i in range(6))
    state = desired(workspaces=(dev, desired().workspaces[1]), keys=keep)
    live = live_matching().model_copy(update={"keys": strays + keep})
    plan = make_plan(state, live, provider="mistral", now=NOW)
    assert refused(plan) == ["Too many deletes: 40% is over 30% (4/10); --force required"]
    (share,) = plan.refusals
    assert share.force_overrides and share.subject is None
    assert share.addresses == tuple(f"api_key.stray{i}" for i in range(4))
    with pytest.raises(PlanError, match=r"Refusing to apply:\n  Too many deletes"):
        enforce(plan.refusals)
    enforce(plan.refusals, force=True)  # --force lifts it


def test_too_many_deletes_ignored_below_the_minimum_count() -> None:
    dev = desired().workspaces[0].model_copy(update={"prune_unmanaged_keys": True})
    state = desired(workspaces=(dev, desired().workspaces[1]), keys=())
    live = live_matching().model_copy(
        update={"keys": tuple(ApiKey(name=f"s{i}", workspace="dev", id=f"s{i}") for i in range(5))}
    )
    assert refused(make_plan(state, live, provider="m", now=NOW)) == []


def test_conflicts_block_apply() -> None:
    dup = live_matching().keys[0].model_copy(update={"id": "k-dup"})
    live = live_matching().model_copy(update={"keys": (*live_matching().keys, dup)})
    plan = make_plan(desired(), live, provider="mistral", now=NOW)
    (conflict,) = plan.refusals
    assert conflict.kind is RefusalKind.CONFLICT and not conflict.force_overrides
    assert conflict.line().startswith("api_key.dev-alice: conflict: Workspace 'dev' holds 2 keys")


def test_a_saved_plan_is_readable_by_its_owner_only_and_follows_no_link(tmp_path: Path) -> None:
    """It names every person, key and workspace of the organisation (as the 0600 journal
    and audit logs do); a link planted where its temporary file goes (a shared
    directory) is replaced, never written through."""
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    path = tmp_path / "plan.out"
    (tmp_path / "plan.out.tmp").symlink_to(victim)
    save(make_plan(desired(), live_drifted(), provider="mistral", now=NOW), path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert victim.read_text() == "untouched\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.out", "victim"]
    assert load(path).summary.add > 0


def test_saved_plan_round_trips_and_detects_staleness(tmp_path: Path) -> None:
    plan = make_plan(desired(), live_drifted(), provider="mistral", now=NOW)
    path = tmp_path / "plan.out"
    save(plan, path)
    loaded = load(path)
    assert loaded.checksum() == plan.checksum()
    assert loaded.summary == plan.summary
    assert stale_reasons(loaded, desired(), live_drifted()) == []
    # the live state changed since: a key was deleted in the console
    changed_live = live_drifted().model_copy(update={"keys": live_drifted().keys[:1]})
    assert stale_reasons(loaded, desired(), changed_live) == [
        "the live state was changed by another operation after the plan was created"
    ]
    changed_desired = desired(keys=desired().keys[:1])
    assert stale_reasons(loaded, changed_desired, live_drifted()) == [
        "the desired state changed since the plan was made"
    ]


def test_a_plan_fingerprints_its_states_once_when_asked_and_its_file_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan only printed never fingerprints the states; saved, it holds what they were."""
    made: list[str] = []

    def counted(name: str) -> Callable[[Any], str]:
        computed: Callable[[Any], str] = getattr(reconciler.plan.fingerprints, name)

        def fingerprint(state: Any) -> str:
            made.append(name)
            return computed(state)

        return fingerprint

    for name in ("desired_fingerprint", "live_fingerprint"):
        monkeypatch.setattr(reconciler.plan.fingerprints, name, counted(name))
    plan = make_plan(desired(), live_drifted(), provider="mistral", now=NOW)
    assert made == []

    path = tmp_path / "plan.out"
    save(plan, path)
    assert plan.live_fingerprint == plan.live_fingerprint
    assert sorted(made) == ["desired_fingerprint", "live_fingerprint"]
    loaded = load(path)
    assert (loaded.desired_fingerprint, loaded.live_fingerprint) == (
        reconciler.plan.fingerprints.desired_fingerprint(desired()),
        reconciler.plan.fingerprints.live_fingerprint(live_drifted()),
    )
    assert loaded.fingerprints == plan.fingerprints


def test_an_exact_check_refuses_a_saved_plan_with_other_changes_from_the_same_state() -> None:
    """CI applies a plan file another run wrote: from the same state, it must have the
    changes this plan has (not one dropped, as here, nor one added)."""
    current = make_plan(desired(), live_drifted(), provider="mistral", now=NOW)
    other = dataclasses.replace(current, changes=current.changes[1:])
    check_saved(current, current, desired(), live_drifted(), exact=True)
    check_saved(other, current, desired(), live_drifted())  # the fingerprints alone: same state
    with pytest.raises(PlanError) as refused:
        check_saved(other, current, desired(), live_drifted(), exact=True)
    assert str(refused.value).startswith(
        "Saved plan is stale: a plan made now from the same state has other changes. "
        "Run plan again. What a plan says now:\n  organization: saved plan: nothing to do; "
        "now: update in place"
    )


def test_last_used_does_not_make_a_plan_stale() -> None:
    plan = make_plan(desired(), live_drifted(), provider="mistral", now=NOW)
    used = tuple(
        k.model_copy(update={"last_used": dt.date(2026, 11, 27)}) for k in live_drifted().keys
    )
    assert stale_reasons(plan, desired(), live_drifted().model_copy(update={"keys": used})) == []


def test_edited_plan_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.out"
    save(make_plan(desired(), live_drifted(), provider="mistral", now=NOW), path)
    data = json.loads(path.read_text())
    data["changes"][0]["after"] = {"spend_limit": "999999 USD/month"}
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError, match="checksum"):
        load(path)


@pytest.mark.parametrize("field", ["desired_fingerprint", "live_fingerprint"])
def test_a_plan_file_without_a_fingerprint_string_is_malformed(tmp_path: Path, field: str) -> None:
    path = tmp_path / "plan.out"
    save(make_plan(desired(), live_drifted(), provider="mistral", now=NOW), path)
    data = json.loads(path.read_text())
    data[field] = None  # the checksum covers the changes, not the fingerprints
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError, match=f"malformed: {field}"):
        load(path)


@pytest.mark.parametrize("content", ["not json", "[]", '{"format_version": "0.1"}'])
def test_unreadable_plan_files_give_clear_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "plan.out"
    path.write_text(content)
    with pytest.raises(PlanError, match=r"plan"):
        load(path)


def test_target_restricts_to_named_objects() -> None:
    plan = make_plan(desired(), live_drifted(), provider="mistral", now=NOW)
    only = restrict(plan, ["workspace.dev"])
    assert {c.address for c in only.changes} == {
        "workspace.dev",
        "member.dev/bob@acme.example",
        "member.dev/iris@acme.example",
    }
    keys = restrict(plan, ["api_key.prod-checkout"])
    assert [c.actions for c in keys.changes] == [(Action.CREATE,)]


def test_removing_a_member_of_a_protected_workspace_is_an_error() -> None:
    live = live_matching().model_copy(
        update={
            "members": (
                *live_matching().members,
                live_matching()
                .members[2]
                .model_copy(update={"email": "mallory@acme.example", "user_id": "u-m"}),
            )
        }
    )
    plan = make_plan(desired(), live, provider="mistral", now=NOW)
    assert refused(plan) == [
        "member.prod/mallory@acme.example: member of protected workspace 'prod' would be "
        "removed. Set protected: false first, in a change of its own."
    ]


def test_a_stale_plan_says_object_by_object_what_a_plan_says_now(tmp_path: Path) -> None:
    path = tmp_path / "plan.out"
    save(make_plan(desired(), live_drifted(), provider="mistral", now=NOW), path)
    saved = load(path)
    live = live_drifted()
    moved_on = live.model_copy(
        update={
            "organization": live_matching().organization,  # someone raised the limit
            "keys": (
                *(k for k in live.keys if k.name != "iris-laptop"),  # and deleted iris-laptop
                ApiKey(name="stray", workspace="dev", id="k-stray"),
            ),
        }
    )
    edited = desired().model_copy(update={"keys": desired().keys[:1]})  # prod-checkout gone
    now = make_plan(edited, moved_on, provider="mistral", now=NOW)
    assert plan_differences(saved, now) == [
        "api_key.iris-laptop: saved plan: left alone (unmanaged); now: nothing to do",
        "api_key.prod-checkout: saved plan: create; now: nothing to do",
        "api_key.stray: saved plan: nothing to do; now: left alone (unmanaged)",
        "organization: saved plan: update in place; now: nothing to do",
    ]
    assert plan_differences(saved, make_plan(desired(), live, provider="m", now=NOW)) == []
    assert plan_differences(saved, now, limit=2)[-1] == "... and 2 more"


def test_a_changed_value_under_the_same_action_is_named_too() -> None:
    saved = make_plan(desired(), live_drifted(), provider="mistral", now=NOW)
    limit = SpendLimit(amount=Decimal(6000))
    org = desired().organization.model_copy(update={"spend_limit": limit})
    now = make_plan(desired(organization=org), live_drifted(), provider="mistral", now=NOW)
    assert plan_differences(saved, now) == [
        "organization: saved plan: update in place; now: update in place with other values"
    ]


# --- refusals: found when the plan is made ----------------------------------------------


def pruning_dev(
    strays: int, kept: int, *, replaced: int = 0
) -> tuple[DesiredState, LiveState, Plan]:
    """``strays`` unmanaged keys deleted from dev, ``replaced`` of the ``kept`` desired
    keys replaced (their owner changed): the states and their plan."""
    dev = desired().workspaces[0].model_copy(update={"prune_unmanaged_keys": True})
    keep = tuple(
        ApiKey(name=f"keep{i}", workspace="dev", owner="alice@acme.example") for i in range(kept)
    )
    live_keep = tuple(
        k.model_copy(
            update={"id": f"c{i}", "owner": "bob@acme.example" if i < replaced else k.owner}
        )
        for i, k in enumerate(keep)
    )
    gone = tuple(ApiKey(name=f"stray{i}", workspace="dev", id=f"s{i}") for i in range(strays))
    state = desired(workspaces=(dev, desired().workspaces[1]), keys=keep)
    live = live_matching().model_copy(update={"keys": gone + live_keep})
    return state, live, make_plan(state, live, provider="mistral", now=NOW)


def test_a_replacement_counts_as_a_destroy_toward_the_delete_share() -> None:
    _, _, plan = pruning_dev(strays=2, kept=8, replaced=2)
    assert (plan.summary.destroy, plan.summary.replace) == (4, 2)
    assert refused(plan) == [
        "Too many deletes: 40% is over 30% (4/10, of which 2 replacements); --force required"
    ]
    assert set(plan.refusals[0].addresses) == {
        "api_key.stray0",
        "api_key.stray1",
        "api_key.keep0",
        "api_key.keep1",
    }
    assert refused(pruning_dev(strays=1, kept=9, replaced=2)[2]) == []  # 3/10: not over 30%


def rotating_dev(count: int, *, grace_hours: int | None = None) -> Plan:
    """``count`` managed dev keys, all past their rotation period, planned."""
    keys = tuple(
        ApiKey(name=f"old{i}", workspace="dev", owner="alice@acme.example") for i in range(count)
    )
    created = NOW - dt.timedelta(days=200)
    live_keys = tuple(
        k.model_copy(update={"id": f"o{i}", "created_at": created}) for i, k in enumerate(keys)
    )
    live = live_matching().model_copy(update={"keys": live_keys})
    state = desired(keys=keys)
    org = state.organization.model_copy(update={"rotation_period_days": 90})
    state = state.model_copy(update={"organization": org})
    rotations = Rotations(grace_hours=grace_hours)
    return make_plan(state, live, provider="mistral", now=NOW, rotations=rotations)


def test_rotations_with_a_grace_period_are_no_mass_delete() -> None:
    """The first rotations after an import: every key at once, each old key kept alive
    through its grace, so the delete-share rail lets them through."""
    plan = rotating_dev(12)
    assert (plan.summary.replace, plan.summary.destroy) == (12, 12)
    assert refused(plan) == []
    # with no grace the old keys die in the same apply: counted as any replacement
    assert refused(rotating_dev(12, grace_hours=0)) == [
        "Too many deletes: 100% is over 30% (12/12, of which 12 replacements); --force required"
    ]


def test_a_narrowed_plan_counts_only_the_destroys_it_keeps() -> None:
    _, _, plan = pruning_dev(strays=4, kept=6)
    assert [r.kind for r in plan.refusals] == [RefusalKind.DELETE_SHARE]
    assert restrict(plan, ["api_key.stray0"]).refusals == ()  # 1/10
    assert restrict(plan, [f"api_key.stray{i}" for i in range(3)]).refusals == ()  # 3/10
    four = restrict(plan, [f"api_key.stray{i}" for i in range(4)])
    assert refused(four) == refused(plan)


def test_a_narrowed_plan_keeps_the_refusals_of_the_objects_it_keeps() -> None:
    dup = live_matching().keys[0].model_copy(update={"id": "k-dup"})
    live = live_matching().model_copy(
        update={"keys": (*live_matching().keys, dup), "organization": live_drifted().organization}
    )
    plan = make_plan(desired(), live, provider="mistral", now=NOW)
    assert [r.subject for r in plan.refusals] == ["api_key.dev-alice"]
    assert restrict(plan, ["api_key.dev-alice"]).refusals == plan.refusals
    assert restrict(plan, ["organization"]).refusals == ()


def test_a_saved_plan_carries_its_refusals(tmp_path: Path) -> None:
    state, live, plan = pruning_dev(strays=4, kept=6)
    path = tmp_path / "plan.out"
    save(plan, path)
    loaded = load(path)
    assert loaded.refusals == plan.refusals
    assert loaded.delete_limit == plan.delete_limit
    assert stale_reasons(loaded, state, live) == []  # refusals are not part of the state
    assert restrict(loaded, ["api_key.stray0"]).refusals == ()
    # taking a refusal out of the file is an edit the checksum sees
    data = json.loads(path.read_text())
    data["refusals"] = []
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError, match="checksum does not match its changes and refusals"):
        load(path)
