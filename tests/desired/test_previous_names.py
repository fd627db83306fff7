"""``previous_names`` on the organisation, workspaces and keys: loaded, and refused where
ambiguous."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler.desired import check_desired_state, load_desired_state

TODAY = dt.date(2026, 11, 27)

ORGANIZATION = "version: 1\norganization: {name: Org}\n"
ROLES = "version: 1\nroles: {}\n"

DEVELOPERS = """\
version: 1
workspace:
  name: developers
  previous_names: [dev, Devs]
  admin: lead@acme.example
  api_keys:
    - name: developers-ci
      owner: lead@acme.example
      previous_names: [dev-ci]
"""

ML = """\
version: 1
workspace:
  name: ml
  previous_names: [ML, DEV, developers, research, research]
  admin: lead@acme.example
  api_keys:
    - name: ml-ci
      owner: lead@acme.example
      previous_names: [developers-ci, dev-ci, ml-ci, DEV-CI]
"""


def write(root: Path, **workspaces: str) -> Path:
    (root / "workspaces").mkdir(parents=True)
    (root / "organization.yaml").write_text(ORGANIZATION)
    (root / "roles.yaml").write_text(ROLES)
    for name, text in workspaces.items():
        (root / "workspaces" / f"{name}.yaml").write_text(text)
    return root


def refused(root: Path) -> list[str]:
    """The problems ``validate`` reports for ``root``, which it refuses."""
    result = check_desired_state(root, today=TODAY)
    assert result.state is None
    return [p.render() for p in result.problems]


def test_previous_names_reach_the_model(tmp_path: Path) -> None:
    state = load_desired_state(write(tmp_path, developers=DEVELOPERS), today=TODAY)
    assert state.workspaces[0].previous_names == ("dev", "Devs")
    assert state.keys[0].previous_names == ("dev-ci",)


def test_a_previous_name_that_could_stand_for_two_objects_is_an_error(tmp_path: Path) -> None:
    root = write(tmp_path, developers=DEVELOPERS, ml=ML)
    shown = root.as_posix()
    assert refused(root) == [
        f"{shown}/workspaces/ml.yaml:4:20: error: workspace.previous_names[0]: "
        "'ML' is this workspace's own name",
        f"{shown}/workspaces/ml.yaml:4:24: error: workspace.previous_names[1]: 'DEV' is already "
        f"a previous name of workspace 'developers' at {shown}/workspaces/developers.yaml:4: "
        "a previous name stands for one workspace",
        f"{shown}/workspaces/ml.yaml:4:29: error: workspace.previous_names[2]: 'developers' is "
        f"the name of workspace 'developers' at {shown}/workspaces/developers.yaml:3: a "
        "previous name must be no other workspace's name",
        f"{shown}/workspaces/ml.yaml:4:51: error: workspace.previous_names[4]: 'research' is "
        "listed twice (first at line 4)",
        f"{shown}/workspaces/ml.yaml:9:24: error: workspace.api_keys[0].previous_names[0]: "
        f"'developers-ci' is the name of API key 'developers-ci' at "
        f"{shown}/workspaces/developers.yaml:7: a previous name must be no other API key's name",
        f"{shown}/workspaces/ml.yaml:9:39: error: workspace.api_keys[0].previous_names[1]: "
        f"'dev-ci' is already a previous name of API key 'developers-ci' at "
        f"{shown}/workspaces/developers.yaml:9: a previous name stands for one API key",
        f"{shown}/workspaces/ml.yaml:9:47: error: workspace.api_keys[0].previous_names[2]: "
        "'ml-ci' is this API key's own name",
    ]  # key names are case-sensitive: DEV-CI is another name than dev-ci


def test_a_previous_name_must_be_a_valid_name(tmp_path: Path) -> None:
    broken = DEVELOPERS.replace("[dev, Devs]", "['dev team']")
    result = check_desired_state(write(tmp_path, developers=broken), today=TODAY)
    assert [(p.path, p.message) for p in result.errors] == [
        (
            "workspace.previous_names[0]",
            "invalid name 'dev team': use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit",
        )
    ]


RENAMED_ORGANIZATION = """\
version: 1
organization:
  name: Acme Data
  previous_names:
    - Acme Analytics
    - Acme Data
    - acme data
    - Acme Analytics
"""


def test_the_organisations_previous_names_reach_the_model(tmp_path: Path) -> None:
    root = write(tmp_path)
    (root / "organization.yaml").write_text(
        "version: 1\norganization: {name: Acme Data, previous_names: [Acme Analytics, Acme]}\n"
    )
    state = load_desired_state(root, today=TODAY)
    assert state.organization.previous_names == ("Acme Analytics", "Acme")


def test_the_organisations_own_name_or_one_listed_twice_is_an_error(tmp_path: Path) -> None:
    root = write(tmp_path)
    (root / "organization.yaml").write_text(RENAMED_ORGANIZATION)
    assert refused(root) == [
        f"{root.as_posix()}/organization.yaml:6:7: error: organization.previous_names[1]: "
        "'Acme Data' is this organisation's own name",
        f"{root.as_posix()}/organization.yaml:8:7: error: organization.previous_names[3]: "
        "'Acme Analytics' is listed twice (first at line 5)",
    ]  # its name is exact: the record of 'acme data' is another one's


def test_an_organisations_previous_name_follows_the_rules_of_its_name(tmp_path: Path) -> None:
    root = write(tmp_path)
    long = "x" * 256
    (root / "organization.yaml").write_text(
        f"version: 1\norganization:\n  name: Acme\n  previous_names: ['', {long}, 3]\n"
    )
    assert [p.split(": error: ")[1] for p in refused(root)] == [
        "organization.previous_names[0]: must not be empty",
        "organization.previous_names[1]: must be at most 255 characters",
        "organization.previous_names[2]: expected a string, got the number 3",
    ]


def test_a_group_granting_a_workspace_by_its_previous_name_is_told_the_new_one(
    tmp_path: Path,
) -> None:
    root = write(tmp_path, developers=DEVELOPERS)
    (root / "people.yaml").write_text("version: 1\npeople:\n  - {email: lead@acme.example}\n")
    (root / "groups.yaml").write_text(
        "version: 1\ngroups:\n  - name: team\n    workspaces:\n      dev: [user]\n"
    )
    assert refused(root) == [
        f"{root}/groups.yaml:5:7: error: groups[0].workspaces.dev: no workspace 'dev' in the "
        "desired state (workspace 'developers' was called 'dev': name it by its new name)"
    ]
