"""Seed files: every problem reported with file, line and field; the large-org generator."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from reconciler.platform.sandbox import DEMO_SEED, SandboxStore, SeedError, load_seed
from reconciler.platform.sandbox.generate import generate_seed, write_seed

from .conftest import ADMIN, NOW, Clock, make_client

GOOD = """\
version: 1
users:
  - {email: a@x.example}
  - {email: b@x.example}
workspaces:
  - name: w
    members:
      a@x.example: workspace_admin
keys:
  - {name: k, workspace: w, owner: a@x.example}
usage:
  - {workspace: w, model: mistral-small-latest, input_tokens: 10}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    return path


def test_the_good_seed_loads(tmp_path: Path) -> None:
    seed = load_seed(write(tmp_path, GOOD))
    assert [k.name for k in seed.keys] == ["k"]


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        (
            "a@x.example: workspace_admin",
            "a@x.example: owner",
            8,
            "workspaces.0.members.a@x.example",
            "unknown workspace role 'owner'",
        ),
        (
            "a@x.example: workspace_admin",
            "z@x.example: user",
            8,
            "workspaces.0.members.z@x.example",
            "is not a user",
        ),
        ("owner: a@x.example}", "owner: b@x.example}", 10, "keys.0.owner", "not a member of 'w'"),
        (
            "workspace: w, owner",
            "workspace: nope, owner",
            10,
            "keys.0.workspace",
            "no workspace 'nope'",
        ),
        (
            "model: mistral-small-latest",
            "model: gpt-4",
            12,
            "usage.0.model",
            "unknown model 'gpt-4'",
        ),
        (
            "  - {email: b@x.example}",
            "  - {email: a@x.example}",
            4,
            "users.1.email",
            "duplicate user",
        ),
        (
            "  - name: w\n",
            "  - name: w\n    colour: red\n",
            7,
            "workspaces.0.colour",
            "Extra inputs",
        ),
        ("input_tokens: 10", "input_tokens: lots", 12, "usage.0.input_tokens", "valid integer"),
        (
            "owner: a@x.example}",
            "owner: a@x.example, created_days_ago: 1, last_used_days_ago: 5}",
            10,
            "keys.0.last_used_days_ago",
            "before it was created",
        ),
        ("version: 1", "version: 2", 1, "version", "Input should be 1"),
    ],
)
def test_problems_name_the_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SeedError) as caught:
        load_seed(path)
    text = str(caught.value)
    assert f"{path}:{line}: {field}: " in text, text
    assert message in text


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("model: mistral-small-latest", "model: gpt-4").replace(
        "workspace: w, owner", "workspace: nope, owner"
    )
    with pytest.raises(SeedError) as caught:
        load_seed(write(tmp_path, text))
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize("text", ["users: [", "- just\n- a list\n"])
def test_a_file_that_is_not_a_seed_is_an_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(SeedError, match=r"seed\.yaml"):
        load_seed(write(tmp_path, text))


def test_a_syntax_error_names_the_character_at_fault_and_shows_its_line(
    tmp_path: Path,
) -> None:
    text = GOOD.replace("{name: k, workspace: w,", "{name: k, workspace: @w,")
    with pytest.raises(SeedError) as caught:
        load_seed(write(tmp_path, text))
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'seed.yaml'}: not valid YAML/JSON: ")
    assert "found character '@' that cannot start any token" in problem
    assert "line 10, column 26: - {name: k, workspace: @w, owner: a@x.example} ^" in problem


def test_a_missing_seed_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        load_seed(tmp_path / "nope.yaml")


def test_the_demo_seed_is_valid() -> None:
    seed = load_seed(DEMO_SEED)
    assert {w.name for w in seed.workspaces} == {"Default Workspace", "dev", "ml"}


def test_ages_are_relative_to_when_the_state_is_created(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace(
            "owner: a@x.example}",
            "owner: a@x.example, created_days_ago: 10, last_used_days_ago: 3, expires_in_days: 20}",
        ),
    )
    later = Clock(NOW + dt.timedelta(days=100))
    client = make_client(SandboxStore.in_memory(path, clock=later))
    key = client.get(f"{ADMIN}/api-keys").json()["keys"][0]
    client.close()
    today = later.now.date()
    assert key["created_at"].startswith((today - dt.timedelta(days=10)).isoformat())
    assert key["last_used"] == (today - dt.timedelta(days=3)).isoformat()
    assert key["expiration_date"] == (today + dt.timedelta(days=20)).isoformat()


def test_a_seeded_secret_authenticates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace("owner: a@x.example}", "owner: a@x.example, secret: seeded-secret-0001}"),
    )
    client = make_client(SandboxStore.in_memory(path))
    assert (
        client.get("/v1/models", headers={"Authorization": "Bearer seeded-secret-0001"}).status_code
        == 200
    )
    assert client.get(f"{ADMIN}/api-keys").json()["keys"][0]["hidden_key"] == "seed...0001"
    client.close()


@pytest.mark.parametrize(("workspaces", "keys"), [(1, 0), (3, 10), (40, 1000)])
def test_generated_seeds_have_the_requested_size_and_are_valid(
    tmp_path: Path, workspaces: int, keys: int
) -> None:
    path = tmp_path / "big.yaml"
    write_seed(generate_seed(workspaces=workspaces, keys=keys), path)
    seed = load_seed(path)
    assert len(seed.workspaces) == workspaces + 1  # plus the default workspace
    assert len(seed.keys) == keys
    members = {w.name: set(w.members) for w in seed.workspaces}
    assert all(k.owner in members[k.workspace] for k in seed.keys)


def test_generation_is_deterministic_per_random_seed() -> None:
    a = json.dumps(generate_seed(workspaces=5, keys=50, seed=1))
    assert a == json.dumps(generate_seed(workspaces=5, keys=50, seed=1))
    assert a != json.dumps(generate_seed(workspaces=5, keys=50, seed=2))
