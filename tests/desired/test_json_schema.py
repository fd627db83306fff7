"""The exported JSON Schema accepts the example files and rejects unknown fields."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.desired.json_schema import KINDS, render, schema_for, shipped_name, write_schemas
from reconciler.desired.yaml_loader import load_text

EXAMPLE = Path(__file__).resolve().parents[2] / "desired-state"
FILES = {
    "organization": [EXAMPLE / "organization.yaml"],
    "roles": [EXAMPLE / "roles.yaml"],
    "workspace": sorted((EXAMPLE / "workspaces").glob("*.yaml")),
}


def _as_json(value: Any) -> Any:
    """What an editor's YAML plugin hands the schema: dates are strings."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _load(path: Path) -> Any:
    doc = load_text(path.read_text())
    assert doc.problems == []
    return _as_json(doc.data)


def _validator(kind: str | None) -> jsonschema.Draft202012Validator:
    schema = schema_for(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


EXAMPLES = [(kind, path) for kind, paths in FILES.items() for path in paths]


@pytest.mark.parametrize(("kind", "path"), EXAMPLES, ids=[p.name for _, p in EXAMPLES])
@pytest.mark.parametrize("combined", [False, True], ids=["per-kind", "combined"])
def test_schema_accepts_every_example_file(kind: str, path: Path, combined: bool) -> None:
    validator = _validator(None if combined else kind)
    errors = list(validator.iter_errors(_load(path)))
    assert errors == []


@pytest.mark.parametrize("combined", [False, True], ids=["per-kind", "combined"])
def test_schema_rejects_an_unknown_field(combined: bool) -> None:
    data = _load(EXAMPLE / "workspaces" / "dev.yaml")
    data["workspace"]["api_keys"][0]["experies"] = "2027-01-01"
    validator = _validator(None if combined else "workspace")
    messages = [e.message for e in validator.iter_errors(data)]
    assert any("'experies' was unexpected" in m for m in messages), messages


@pytest.mark.parametrize(
    ("kind", "change", "fragment"),
    [
        ("workspace", lambda d: d["workspace"].update(version=2), "was unexpected"),
        ("workspace", lambda d: d.update(version=2), "1 was expected"),
        ("workspace", lambda d: d["workspace"]["policy"].update(rpm=-1), "is not valid under"),
        ("roles", lambda d: d["roles"]["analyst"].pop("allowed_models"), "is a required property"),
        (
            "organization",
            lambda d: d["organization"]["vault"].update(path_prefix="../x"),
            "does not match",
        ),
        (
            "organization",
            lambda d: d["organization"].update(previous_names=[""]),
            "should be non-empty",
        ),
    ],
)
def test_schema_rejects_bad_values(kind: str, change: Any, fragment: str) -> None:
    data = _load(FILES[kind][0])
    change(data)
    messages = [e.message for e in _validator(kind).iter_errors(data)]
    assert any(fragment in m for m in messages), messages


def test_combined_schema_needs_one_known_section() -> None:
    validator = _validator(None)
    assert not validator.is_valid({"version": 1, "something": {}})


@pytest.mark.parametrize("kind", [*KINDS, None])
def test_the_example_s_schema_files_are_up_to_date(kind: str | None) -> None:
    written = EXAMPLE / ".schema" / shipped_name(kind)
    assert written.read_text("utf-8") == render(schema_for(kind)), (
        "regenerate: reconciler schema --write desired-state/.schema"
    )


@pytest.mark.parametrize(
    ("kind", "path"), [(k, p) for k, paths in FILES.items() for p in paths], ids=str
)
def test_each_example_file_names_its_schema_beside_it(kind: str, path: Path) -> None:
    first = path.read_text("utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = first.split("$schema=", 1)[1]
    assert not target.startswith(("/", "http")) and ".." not in Path(target).parts[1:]
    schema = (path.parent / target).resolve()
    assert schema.is_relative_to(EXAMPLE.resolve())  # works wherever the folder is copied
    assert schema.name == shipped_name(kind) and schema.is_file()


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected one of: organization, roles, workspace"):
        schema_for("team")


def test_member_roles_are_names_for_any_provider() -> None:
    roles = schema_for("workspace")["$defs"]["MemberDoc"]["properties"]["roles"]
    assert "enum" not in roles["items"]
    assert _validator("workspace").is_valid(
        {
            "version": 1,
            "workspace": {
                "name": "x",
                "admin": "a@b.example",
                "members": [{"email": "c@b.example", "roles": ["any_platforms_role"]}],
            },
        }
    )


def test_mistral_schema_lists_the_workspace_roles_the_sandbox_serves() -> None:
    from reconciler.platform.sandbox.roles import WORKSPACE_ROLE_NAMES

    schema = schema_for(None, provider="mistral")
    roles = schema["$defs"]["MemberDoc"]["properties"]["roles"]
    assert tuple(roles["items"]["enum"]) == WORKSPACE_ROLE_NAMES
    assert roles["default"] == ["user"]
    assert schema["$defs"]["OrganizationDoc"]["properties"]["provider"]["const"] == "mistral"
    assert schema["$defs"]["VaultDoc"]["properties"]["path_prefix"]["default"] == "mistral"
    validator = jsonschema.Draft202012Validator(schema)
    for _, path in EXAMPLES:
        assert validator.is_valid(_load(path)), path
    member = _load(EXAMPLE / "workspaces" / "dev.yaml")
    member["workspace"]["members"][0]["roles"] = ["admin"]
    assert not validator.is_valid(member)


def test_writing_the_schemas_replaces_a_link_and_never_writes_through_it(tmp_path: Path) -> None:
    """``schema --write DIR`` over a link planted at one of its names wrote the schema into
    the file the link points at."""
    victim = tmp_path / "victim.json"
    victim.write_text("theirs\n")
    folder = tmp_path / "sch"
    folder.mkdir()
    (folder / shipped_name("workspace")).symlink_to(victim)
    written = write_schemas(folder)
    assert victim.read_text() == "theirs\n"
    placed = folder / shipped_name("workspace")
    assert placed in written and not placed.is_symlink()
    assert placed.read_text() == render(schema_for("workspace"))
