"""Model lookups: by name, the first of a name, and never stale after a copy."""

from __future__ import annotations

from reconciler.model import DesiredState, Role, Workspace


def test_lookups_by_name_find_the_first_of_a_name_and_nothing_else() -> None:
    state = DesiredState(
        workspaces=(Workspace(name="dev", description="first"), Workspace(name="dev")),
        roles=(Role(name="analyst"),),
    )
    found = state.workspace("dev")
    assert found is not None and found.description == "first"
    assert state.workspace("prod") is None
    assert state.role("analyst") == Role(name="analyst")
    assert state.role("admin") is None


def test_a_copy_with_other_workspaces_finds_its_own() -> None:
    state = DesiredState(workspaces=(Workspace(name="dev"),))
    assert state.workspace("dev") is not None  # the index of the original is built
    copy = state.model_copy(update={"workspaces": (Workspace(name="ml"),)})
    assert copy.workspace("dev") is None
    assert copy.workspace("ml") == Workspace(name="ml")
    assert state == DesiredState(workspaces=(Workspace(name="dev"),))  # an index is no field
    assert state.model_dump() == DesiredState(workspaces=(Workspace(name="dev"),)).model_dump()
