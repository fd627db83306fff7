"""The diff with the ownership record: managed keys removed are revoked, never-managed keys
are left alone, lost secrets are replaced, retiring keys wait for their grace period.

Everything is pure: the ledger and the secret checks come in as ``KeyFacts``; times are
fixed (``NOW``), never today's.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from reconciler.diff import Action, Change, claimed_keys, diff
from reconciler.diff.owned import GRACE_ENDED, LOST_BY_INTENT, MANAGED_REMOVED, NOT_MANAGED
from reconciler.model import ApiKey, DesiredState, LiveState, SecretBackend, Workspace
from reconciler.ownership import (
    KeyFacts,
    Ledger,
    Origin,
    SecretFinding,
    SecretLocation,
    SecretProblem,
    SecretState,
    secret_move,
)
from reconciler.plan import Plan, make_plan
from reconciler.rails import enforce
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.ledgers import ORG, STORE, entry, intent

from .states import CREATED, desired, live_matching

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def key(key_id: str, name: str, workspace: str = "dev", **fields: object) -> ApiKey:
    return ApiKey.model_validate(
        {
            "id": key_id,
            "name": name,
            "workspace": workspace,
            "owner": "alice@acme.example",
            "created_at": CREATED,
            **fields,
        }
    )


def with_keys(*extra: ApiKey) -> LiveState:
    return live_matching().model_copy(update={"keys": (*live_matching().keys, *extra)})


def owning(*names: tuple[str, str, str]) -> Ledger:
    """A ledger owning each (key id, name, workspace)."""
    ledger = Ledger(organization=ORG)
    for key_id, name, workspace in names:
        ledger = ledger.resolve_intent(key_id, entry(name, workspace))
    return ledger


def changes(state: DesiredState, live: LiveState, facts: KeyFacts | None) -> dict[str, Change]:
    return {c.address: c for c in diff(state, live, ownership=facts, now=NOW)}


def refusals(plan: Plan) -> list[str]:
    return [r.line() for r in plan.refusals]


def actions(found: dict[str, Change]) -> dict[str, tuple[str, ...]]:
    return {a: tuple(x.value for x in c.actions) for a, c in found.items()}


# --- removal -------------------------------------------------------------------------


def test_a_managed_key_removed_from_the_desired_state_is_deleted_and_says_why() -> None:
    live = with_keys(key("k-bob", "dev-bob"), key("k-stray", "stray"))
    facts = KeyFacts(owning(("k-bob", "dev-bob", "dev")))
    found = changes(desired(), live, facts)
    assert found["api_key.dev-bob"].actions == (Action.DELETE,)
    assert found["api_key.dev-bob"].reason == MANAGED_REMOVED
    assert found["api_key.dev-bob"].live_id == "k-bob"
    assert found["api_key.stray"].actions == (Action.UNMANAGED,)
    assert found["api_key.stray"].reason == NOT_MANAGED


def test_without_a_ledger_no_key_is_managed() -> None:
    found = changes(desired(), with_keys(key("k-bob", "dev-bob")), None)
    assert found["api_key.dev-bob"].actions == (Action.UNMANAGED,)
    assert found["api_key.dev-bob"].reason == NOT_MANAGED


def test_a_managed_key_in_a_workspace_nobody_declares_is_left_alone() -> None:
    live = with_keys(key("k-old", "old-key", "legacy"))
    found = changes(desired(), live, KeyFacts(owning(("k-old", "old-key", "legacy"))))
    assert found["api_key.old-key"].actions == (Action.UNMANAGED,)
    assert "managed by reconciler" in (found["api_key.old-key"].reason or "")


def test_a_never_managed_key_is_deleted_only_where_the_workspace_prunes() -> None:
    dev = desired().workspaces[0].model_copy(update={"prune_unmanaged_keys": True})
    state = desired(workspaces=(dev, desired().workspaces[1]))
    found = changes(state, with_keys(key("k-stray", "stray")), KeyFacts(Ledger(organization=ORG)))
    assert found["api_key.stray"].actions == (Action.DELETE,)
    assert found["api_key.stray"].reason == "not in desired state; workspace prunes unmanaged keys"


def test_removing_a_managed_key_from_a_protected_workspace_is_refused() -> None:
    live = with_keys(key("k-pay", "prod-payments", "prod"))
    facts = KeyFacts(owning(("k-pay", "prod-payments", "prod")))
    plan = make_plan(desired(), live, provider="mistral", ownership=facts, now=NOW)
    assert refusals(plan) == [
        "api_key.prod-payments: key in protected workspace 'prod' would be deleted. Set "
        "protected: false first, in a change of its own."
    ]


def test_the_delete_share_rail_counts_managed_removals() -> None:
    names = [f"dev-{i}" for i in range(10)]
    live = with_keys(*(key(f"k-{n}", n) for n in names))
    facts = KeyFacts(owning(*((f"k-{n}", n, "dev") for n in names[:4])))
    plan = make_plan(desired(), live, provider="mistral", ownership=facts, now=NOW)
    assert plan.summary.destroy == 4 and plan.summary.unmanaged == 6
    assert refusals(plan) == ["Too many deletes: 33.3% is over 30% (4/12); --force required"]
    enforce(plan.refusals, force=True)  # --force lifts it


def test_every_format_says_whether_a_key_is_managed() -> None:
    live = with_keys(key("k-bob", "dev-bob"), key("k-stray", "stray"))
    facts = KeyFacts(owning(("k-bob", "dev-bob", "dev")))
    plan = make_plan(desired(), live, provider="mistral", ownership=facts, now=NOW)
    text = render_text(plan)
    assert (
        "  # api_key.dev-bob will be destroyed\n"
        "  # (because managed by reconciler, removed from the desired state)\n"
    ) in text
    assert (
        "  # api_key.stray is not in the desired state and will be left alone\n"
        "  # (because reconciler does not manage it)\n"
    ) in text
    assert "# (because managed by reconciler, removed from the desired state)" in (
        render_markdown(plan)
    )
    document = json.loads(render_json(plan))
    reasons = {r["address"]: r["action_reason"] for r in document["resource_changes"]}
    assert reasons["api_key.dev-bob"] == MANAGED_REMOVED
    assert reasons["api_key.stray"] == NOT_MANAGED


# --- secrets -------------------------------------------------------------------------

MISSING = SecretProblem(SecretFinding.MISSING, STORE, "dev/dev-alice")
TAKEN = SecretProblem(SecretFinding.OTHER_KEY, STORE, "dev/dev-alice")


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        (MISSING, f"secret missing from {STORE}: dev/dev-alice"),
        (TAKEN, "the secret at dev/dev-alice belongs to another key"),
    ],
)
def test_a_managed_key_whose_secret_is_lost_is_replaced(
    problem: SecretProblem, reason: str
) -> None:
    facts = KeyFacts(owning(("k-alice", "dev-alice", "dev")), problems={"k-alice": problem})
    found = changes(desired(), live_matching(), facts)
    assert actions(found) == {"api_key.dev-alice": ("create", "delete")}
    replaced = found["api_key.dev-alice"]
    assert (replaced.reason, replaced.live_id, replaced.fields) == (reason, "k-alice", ())
    assert f"  # (because {reason})" in render_text(
        make_plan(desired(), live_matching(), provider="mistral", ownership=facts, now=NOW)
    )


def test_an_adopted_key_whose_secret_is_unknown_is_not_replaced_for_it() -> None:
    ledger = Ledger(organization=ORG).resolve_intent(
        "k-alice", entry("dev-alice", origin=Origin.IMPORTED, state=SecretState.UNKNOWN)
    )
    facts = KeyFacts(ledger, problems={"k-alice": MISSING})
    assert changes(desired(), live_matching(), facts) == {}


def test_a_key_the_ledger_does_not_hold_is_not_replaced_for_its_secret() -> None:
    facts = KeyFacts(Ledger(organization=ORG), problems={"k-alice": MISSING})
    assert changes(desired(), live_matching(), facts) == {}


# --- a secret sent elsewhere -----------------------------------------------------------

EXFIL = SecretLocation(
    store="GitHub mallory/exfil",
    backend=SecretBackend.GITHUB,
    path="DEV_ALICE",
    repository="mallory/exfil",
)


def test_a_managed_key_whose_secret_the_desired_state_sends_elsewhere_is_replaced() -> None:
    # a pull request points the key's secret at another repository: the plan says where,
    # in every format a reviewer reads, rather than "no changes"
    ledger = owning(("k-alice", "dev-alice", "dev"))
    recorded = ledger.keys["k-alice"].secret
    move = secret_move(recorded, EXFIL)
    assert move is not None
    facts = KeyFacts(ledger, moves={"k-alice": move})
    found = changes(desired(), live_matching(), facts)
    assert actions(found) == {"api_key.dev-alice": ("create", "delete")}
    reason = (
        f"its secret moves from {STORE}: dev/dev-alice to GitHub repository mallory/exfil: "
        "DEV_ALICE"
    )
    assert (found["api_key.dev-alice"].reason, found["api_key.dev-alice"].grace_hours) == (
        reason,
        24,
    )
    plan = make_plan(desired(), live_matching(), provider="mistral", ownership=facts, now=NOW)
    assert f"  # (because {reason})" in render_text(plan)
    assert "mallory/exfil" in render_markdown(plan)
    assert json.loads(render_json(plan))["resource_changes"][0]["action_reason"] == reason


def test_an_adopted_key_is_not_replaced_for_where_its_secret_would_go() -> None:
    ledger = Ledger(organization=ORG).resolve_intent(
        "k-alice", entry("dev-alice", origin=Origin.IMPORTED, state=SecretState.UNKNOWN)
    )
    move = secret_move(ledger.keys["k-alice"].secret, EXFIL)
    assert move is not None
    assert changes(desired(), live_matching(), KeyFacts(ledger, moves={"k-alice": move})) == {}


@pytest.mark.parametrize(
    ("wanted", "moved"),
    [
        ({}, False),
        ({"store": "Vault https://vault2.acme.example mount secret"}, False),  # a new Vault
        ({"backend": SecretBackend.FILE, "store": "file vault at /v"}, False),  # a rehearsal
        ({"path": "team-a/alice"}, True),
        ({"backend": SecretBackend.GITHUB, "repository": "acme/app"}, True),
    ],
)
def test_a_secret_moves_with_its_path_or_its_repository_not_with_its_vault(
    wanted: dict[str, object], moved: bool
) -> None:
    recorded = SecretLocation(store=STORE, backend=SecretBackend.VAULT, path="dev/dev-alice")
    assert (secret_move(recorded, recorded.model_copy(update=wanted)) is not None) is moved


# --- unresolved creates ----------------------------------------------------------------

SENT = CREATED + dt.timedelta(hours=1)  # a create sent well after the existing keys were made
LATER = SENT + dt.timedelta(seconds=2)


def test_a_key_made_by_an_unresolved_create_without_its_secret_is_made_again() -> None:
    ledger = owning(("k-alice", "dev-alice", "dev")).with_intent(
        intent("prod-checkout", "prod", since=SENT)
    )
    live = with_keys(key("k-ghost", "prod-checkout", "prod", created_at=LATER))
    found = changes(desired(), live, KeyFacts(ledger))
    assert actions(found) == {"api_key.prod-checkout[k-ghost]": ("delete",)}
    ghost = found["api_key.prod-checkout[k-ghost]"]
    assert ghost.reason == LOST_BY_INTENT and ghost.recovery


def test_a_key_made_by_an_unresolved_create_with_its_secret_stored_is_kept() -> None:
    ledger = Ledger(organization=ORG).with_intent(intent("dev-alice", since=CREATED))  # made it
    facts = KeyFacts(ledger, verified=frozenset({"k-alice"}))
    assert changes(desired(), live_matching(), facts) == {}
    assert claimed_keys(desired(), live_matching(), ownership=facts)[0][1].id == "k-alice"


def test_an_interrupted_replacement_deletes_the_old_key_that_lost_its_secret_path() -> None:
    """The new key's secret is stored but not yet recorded: the old key's recorded path
    names the new key, so the old key is the replacement's old half, not a conflict."""
    ledger = owning(("k-alice", "dev-alice", "dev")).with_intent(intent("dev-alice", since=SENT))
    live = with_keys(key("k-alice-2", "dev-alice", created_at=LATER, expires=dt.date(2027, 6, 30)))
    facts = KeyFacts(ledger, verified=frozenset({"k-alice-2"}), problems={"k-alice": TAKEN})
    found = changes(desired(), live, facts)
    assert actions(found) == {"api_key.dev-alice[k-alice]": ("delete",)}
    assert found["api_key.dev-alice[k-alice]"].reason == (
        "replaced by key k-alice-2 in an apply that did not finish"
    )


# --- retiring keys ---------------------------------------------------------------------


def retiring_ledger(delete_after: dt.datetime) -> Ledger:
    return owning(("k-alice", "dev-alice", "dev"), ("k-alice-2", "dev-alice", "dev")).mark_retiring(
        "k-alice", "k-alice-2", delete_after
    )


def live_rotated() -> LiveState:
    new = key("k-alice-2", "dev-alice", created_at=LATER, expires=dt.date(2027, 6, 30))
    return with_keys(new)


def test_a_retiring_key_is_no_conflict_with_its_successor_until_its_grace_ends() -> None:
    facts = KeyFacts(retiring_ledger(NOW + dt.timedelta(microseconds=1)))
    assert changes(desired(), live_rotated(), facts) == {}


def test_a_retiring_key_is_deleted_once_its_grace_has_ended() -> None:
    facts = KeyFacts(retiring_ledger(NOW))
    found = changes(desired(), live_rotated(), facts)
    assert actions(found) == {"api_key.dev-alice[k-alice]": ("delete",)}
    old = found["api_key.dev-alice[k-alice]"]
    assert old.reason == GRACE_ENDED and old.recovery
    # the second half of a replacement: no rail counts it, a protected workspace allows it
    prod = Workspace(name="dev", description="All developers", admin="alice@acme.example")
    state = desired(workspaces=(prod.model_copy(update={"protected": True}),))
    plan = make_plan(state, live_rotated(), provider="mistral", ownership=facts, now=NOW)
    assert refusals(plan) == []
