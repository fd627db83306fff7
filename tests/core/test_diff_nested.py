"""Collection-valued fields in a plan: the elements added, removed or changed, by path."""

from __future__ import annotations

from reconciler.diff.changes import FieldChange, Kind, field_changes, updated


def test_a_member_joining_a_large_group_is_one_element_not_two_lists() -> None:
    members = [f"user{i}@acme.example" for i in range(200)]
    before = {"members": members, "organization_role": "member"}
    after = {"members": sorted([*members[1:], "carol@acme.example"]), "organization_role": "member"}

    assert field_changes(before, after) == (
        FieldChange("members", "user0@acme.example", None, element=True),
        FieldChange("members", None, "carol@acme.example", element=True),
    )


def test_workspace_grants_name_the_workspace_and_role_that_change() -> None:
    before = {"workspaces": {"dev": ["user"], "ml": ["admin"]}}
    after = {"workspaces": {"dev": ["user", "admin"], "prod": ["user"]}}

    assert field_changes(before, after) == (
        FieldChange("workspaces.dev", None, "admin", element=True),
        FieldChange("workspaces.ml", "admin", None, element=True),
        FieldChange("workspaces.prod", None, "user", element=True),
    )


def test_scalars_and_a_collection_replaced_by_a_scalar_stay_whole_values() -> None:
    before = {"description": "old", "members": ["a@x"], "nested": None}
    after = {"description": "new", "members": ["a@x"], "nested": ["core"]}

    assert field_changes(before, after) == (
        FieldChange("description", "old", "new"),
        FieldChange("nested", None, ["core"]),
    )


def test_unchanged_attributes_count_fields_not_elements() -> None:
    before = {"members": ["a@x", "d@x", "e@x", "f@x"], "nested": [], "description": "d"}
    after = {"members": ["b@x", "c@x", "d@x", "e@x", "f@x"], "nested": [], "description": "d"}

    change = updated("group.g", Kind.GROUP, "g", before, after, live_id=None)

    assert len(change.fields) == 3
    assert change.unchanged == 2


def test_a_short_list_like_a_members_roles_changes_as_a_whole_value() -> None:
    before = {"roles": ["user"]}
    after = {"roles": ["workspace_admin"]}

    assert field_changes(before, after) == (FieldChange("roles", ["user"], ["workspace_admin"]),)
    three, four = ["a", "b", "c"], ["a", "b", "c", "d"]
    assert field_changes({"roles": []}, {"roles": three}) == (FieldChange("roles", [], three),)
    assert field_changes({"roles": three}, {"roles": four}) == (  # longer: by element
        FieldChange("roles", None, "d", element=True),
    )
