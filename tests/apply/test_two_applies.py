"""Two applies against one organisation never make two keys of one name, whatever stores
they use: the names of a phase's creates are looked up right before the first goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply.engine import Applier
from reconciler.apply.result import ApplyError
from reconciler.model import ApiKey
from tests.apply.test_engine import Rig, run


def test_a_key_of_the_name_made_since_the_plan_stops_the_create(tmp_path: Path) -> None:
    """Another apply (with another secret store, so another lock) created dev-bob after
    this one planned: this one stops before creating a second dev-bob, or any other key,
    and records no intent a later plan could take the other's key for."""
    rig = Rig(tmp_path)
    plan = rig.plan()
    live = run(rig.provider.fetch())
    other = run(
        rig.provider.create_key(
            ApiKey(name="dev-bob", workspace="dev", owner="bob@acme.example"), "ws-dev"
        )
    )
    rig.provider.calls.clear()
    applier = Applier(
        provider=rig.provider,
        desired=rig.desired,
        live=live,
        secrets=rig.router,
        journal=rig.journal,
        apply_id="second",
        report=rig.lines.append,
    )
    with pytest.raises(ApplyError) as caught:
        run(applier.run(plan))
    assert str(caught.value) == (
        f"api_key.dev-bob: a live key named 'dev-bob' (id {other.key.id}) appeared in "
        "workspace 'dev' after the plan was made: another apply is running or ran against "
        "this organisation. No key was created; wait for the other apply to finish and run "
        "plan again."
    )
    bobs = [k.id for k in rig.provider.keys.values() if k.name == "dev-bob"]
    assert bobs == [other.key.id]
    assert not [call for call in rig.provider.calls if call[0] == "create_key"]
    intents = [e.get("name") for e in rig.journal.entries() if e["event"] == "key-create-intent"]
    assert intents == []
    assert other.key.id not in rig.journal.abandoned_keys(run(rig.provider.fetch()))


def test_keys_the_plan_saw_or_this_apply_made_do_not_stop_a_create(tmp_path: Path) -> None:
    """A replacement's old key has the name too, and was in the plan: the create goes."""
    rig = Rig(tmp_path)
    rig.apply()
    alices = [k for k in rig.provider.keys.values() if k.name == "dev-alice"]
    assert [k.id for k in alices] != ["k-alice"] and len(alices) == 1
