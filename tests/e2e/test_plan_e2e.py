"""``reconciler plan`` end to end: the real CLI against the sandbox served on 127.0.0.1.

The demo organisation (``desired-state/`` against the demo seed) is the contract: the
plan must hold exactly the addresses and actions listed in :data:`DEMO_PLAN`, and every
output format, exit code and error path is checked as a user meets it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.platform.sandbox.generate import generate_seed, write_seed
from tests.e2e.conftest import (
    CLI_TIMEOUT,
    SEEDED_SECRET,
    SandboxServer,
    run_cli,
    start_sandbox,
)
from tests.example_dates import shifted

pytestmark = pytest.mark.e2e

MATCHES_DEMO_SEED = Path(__file__).with_name("fixtures") / "matches-demo-seed"
CREATE, UPDATE, DELETE = ("create",), ("update",), ("delete",)
REPLACE, MANUAL, UNMANAGED = ("create", "delete"), ("manual",), ("unmanaged",)
PENDING, NOOP = ("pending",), ("no-op",)

# What the demo plan must say (see docs of the demo organisation): every address, once.
DEMO_PLAN: dict[str, tuple[str, ...]] = {
    "organization": UPDATE,  # spend limit 3000 -> 5000
    "workspace.Default Workspace": UNMANAGED,  # the platform's own, not in desired state
    "workspace.dev": UPDATE,  # older description
    "workspace.ml": UPDATE,  # older description
    "workspace.prod": CREATE,  # does not exist yet
    "workspace_spend_limit.ml": MANUAL,  # 800 in the console, budget 500
    "workspace_spend_limit.prod": MANUAL,  # a new workspace has none; budget 2000
    "member.dev/carol.diaz@acme.example": CREATE,  # missing
    "member.dev/iris.tanaka@acme.example": DELETE,  # stray (members are authoritative)
    "member.prod/ci-bot@acme.example": CREATE,
    "member.prod/grace.lee@acme.example": CREATE,
    "api_key.dev-alice": REPLACE,  # live key has no expiry; desired 2039-06-30 (shifted)
    "api_key.dev-bob": CREATE,
    "api_key.dev-carol": CREATE,
    "api_key.dev-henry-notebooks": CREATE,
    "api_key.iris-laptop": DELETE,  # iris left: offboarding deletes her key
    "api_key.ml-dan": CREATE,
    "api_key.ml-eval-harness": CREATE,
    "api_key.ml-training-pipeline": CREATE,
    "api_key.prod-checkout-service": CREATE,
    "api_key.prod-search-indexer": CREATE,
    "api_key.prod-support-assistant": CREATE,
    # people.yaml and groups.yaml (organization.prune_people: true)
    "person.carol.diaz@acme.example": UPDATE,  # a mistral_code seat
    "person.iris.tanaka@acme.example": DELETE,  # left the company: offboarded
    "invitation.kate.moreau@acme.example": CREATE,  # onboarding, joins ml
    "invitation.jin.park@acme.example": PENDING,  # invited 3 days ago: not sent again
    "group.analysts": UPDATE,  # carol joins
    "member.ml/henry.novak@acme.example": NOOP,  # in ml through analysts: left to the group
}

SIGNS = {
    CREATE: "+",
    UPDATE: "~",
    DELETE: "-",
    REPLACE: "+/-",
    MANUAL: "!",
    UNMANAGED: "?",
    PENDING: ">",
}
LEGEND_ORDER = ("+", "~", "-", "+/-", "!", "?", "x", ">")  # x: conflict
LEGEND_LINE = re.compile(r"^\s*(\+/-|[+~\-!?x>]) \S")
ANSI = "\x1b["
# Reads run concurrently, so whichever fails first is reported; a paged listing says which.
LISTING = r"(?:listing [a-zA-Z ]+ failed at (?:offset|page) [0-9 of]+ \(nothing returned\): )?"


def expected_summary(plan: dict[str, tuple[str, ...]]) -> str:
    """Terraform's sentence, counted from a contract (a replacement adds and destroys)."""
    counts = Counter(action for actions in plan.values() for action in actions)
    return (
        f"Plan: {counts['create']} to add, {counts['update']} to change, "
        f"{counts['delete']} to destroy."
    )


def legend(stdout: str) -> list[str]:
    """The signs listed under "Resource actions are indicated with ...", in order."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Resource actions"))
    signs = []
    for line in lines[start + 1 :]:
        match = LEGEND_LINE.match(line)
        if not match:
            break
        signs.append(match.group(1))
    return signs


def block(stdout: str, header: str) -> str:
    """The object block that opens with ``header`` (up to its closing brace)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    end = next(i for i in range(start, len(lines)) if lines[i] == "    }")
    return "\n".join(lines[start : end + 2])


def assert_no_secret(server: SandboxServer, *texts: str) -> None:
    for text in texts:
        assert server.admin_key not in text
        assert SEEDED_SECRET not in text


def plan(
    server: SandboxServer, workdir: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(["plan", *args], cwd=workdir, env=server.env(**env))


def json_plan(server: SandboxServer, workdir: Path, *args: str) -> dict[str, Any]:
    result = plan(server, workdir, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


# --- the demo plan -------------------------------------------------------------------


def test_demo_plan_holds_exactly_the_expected_addresses_and_actions(
    sandbox: SandboxServer, workdir: Path
) -> None:
    doc = json_plan(sandbox, workdir)
    got = {r["address"]: tuple(r["change"]["actions"]) for r in doc["resource_changes"]}
    assert got == DEMO_PLAN
    assert len(doc["resource_changes"]) == len(DEMO_PLAN)  # no address twice
    counts = Counter(a for actions in DEMO_PLAN.values() for a in actions)
    assert doc["summary"] == {
        "add": counts["create"],
        "change": counts["update"],
        "destroy": counts["delete"],
        "manual": counts["manual"],
        "unmanaged": counts["unmanaged"],
        "conflicts": 0,
        "replace": sum(actions == REPLACE for actions in DEMO_PLAN.values()),
    }


def test_demo_plan_text_reads_like_terraform(sandbox: SandboxServer, workdir: Path) -> None:
    result = plan(sandbox, workdir)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert out.splitlines()[0] == f"Target: {sandbox.admin_base_url} (provider: mistral)"
    used = {SIGNS[actions] for actions in DEMO_PLAN.values() if actions != NOOP}
    assert legend(out) == [sign for sign in LEGEND_ORDER if sign in used]

    assert '+ admin       = "grace.lee@acme.example"' in block(out, '  + workspace "prod"')
    dev = block(out, '  ~ workspace "dev"')
    assert '~ description = "Developer sandbox" -> "Sandbox for all developers"' in dev
    iris = block(out, '  - member "dev/iris.tanaka@acme.example"')
    assert '- roles = ["user"]' in iris
    alice = block(out, '+/- api_key "dev-alice"')
    expires = shifted("2039-06-30")
    assert re.search(rf'~ expires += null -> "{expires}" # forces replacement', alice)
    assert "secret  = (sensitive value)" in alice
    assert "# (because the API cannot update expires in place)" in out
    bob = block(out, '  + api_key "dev-bob"')
    assert 'owner     = "bob.chen@acme.example"' in bob
    assert "id        = (known after apply)" in bob

    ml_limit = block(out, '  ! workspace_spend_limit "ml"')
    assert '~ spend_limit = "800 USD/month" -> "500 USD/month"' in ml_limit
    assert (
        "    # In the admin console, set the monthly spend limit of workspace 'ml' to "
        "500 USD/month (now: 800 USD/month)." in out.splitlines()
    )
    assert "  # workspace.Default Workspace is not in the desired state and will be left alone" in (
        out
    )
    assert re.search(r'^  \? workspace "Default Workspace" \{ id = "[0-9a-f-]{36}" \}$', out, re.M)
    assert "    # Offboarding: leaves dev; keys: api_key.iris-laptop." in out.splitlines()
    assert '+ workspaces = ["ml"]' in block(out, '  + invitation "kate.moreau@acme.example"')
    assert re.search(r'^  > invitation "jin\.park@acme\.example" \{ role = "member", ', out, re.M)
    assert out.splitlines()[-2:] == [
        expected_summary(DEMO_PLAN),
        "Also: 2 manual changes to make in the admin console; 1 unmanaged object left alone; "
        "1 invitation awaiting acceptance; 1 workspace membership through groups, left to them.",
    ]
    assert ANSI not in out  # not a terminal


def test_text_blocks_come_in_the_json_order(sandbox: SandboxServer, workdir: Path) -> None:
    text = plan(sandbox, workdir).stdout
    doc = json_plan(sandbox, workdir)
    shown = re.findall(
        r"^  # ([^(].*?) (?:will be|must be|is not in|is in conflict|is in progress)", text, re.M
    )
    listed = [r["address"] for r in doc["resource_changes"] if r["change"]["actions"] != ["no-op"]]
    assert shown == listed  # the JSON also lists what is left as it is, as Terraform's does


def test_progress_and_notes_go_to_stderr_and_the_plan_to_stdout(
    sandbox: SandboxServer, workdir: Path
) -> None:
    result = plan(sandbox, workdir, "--out", "plan.json")
    assert result.returncode == 0, result.stderr
    # 11 users: the ten members and jin's pending invitation; 9 requests: the five
    # listings, the user groups, and the analysts group's members, nesting and grants
    assert re.fullmatch(
        rf"Read 3 workspaces, 11 users, 2 api keys from {re.escape(sandbox.admin_base_url)} "
        r"in \d+\.\ds \(9 requests\)\.\n"
        r"Saved the plan to plan\.json\. To apply exactly this plan, run: "
        r"reconciler apply plan\.json\n",
        result.stderr,
    )
    assert "Read " not in result.stdout
    assert "Saved the plan" not in result.stdout
    assert result.stdout.startswith("Target: ")
    assert_no_secret(sandbox, result.stdout, result.stderr)


# --- formats ---------------------------------------------------------------------------


def test_json_format_is_versioned_machine_readable_and_secret_free(
    sandbox: SandboxServer, workdir: Path
) -> None:
    result = plan(sandbox, workdir, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # stdout is nothing but the document
    assert doc["format_version"] == "1.1"
    assert doc["target"] == sandbox.admin_base_url
    for fingerprint in ("desired_fingerprint", "live_fingerprint", "checksum"):
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", doc[fingerprint])
    by_address = {r["address"]: r for r in doc["resource_changes"]}
    for resource in doc["resource_changes"]:
        assert {"address", "type", "name", "action_reason", "change"} <= resource.keys()
        assert {"actions", "before", "after"} <= resource["change"].keys()

    alice = by_address["api_key.dev-alice"]
    assert alice["action_reason"] == "the API cannot update expires in place"
    assert alice["change"]["before"] == {
        "workspace": "dev",
        "owner": "alice.martin@acme.example",
        "expires": None,
    }
    assert alice["change"]["after"] == {
        "workspace": "dev",
        "owner": "alice.martin@acme.example",
        "expires": shifted("2039-06-30"),
    }
    assert alice["change"]["after_sensitive"] == {"secret": True}
    assert alice["fields"] == [
        {
            "path": "expires",
            "before": None,
            "after": shifted("2039-06-30"),
            "forces_replacement": True,
            "element": False,
        }
    ]
    prod = by_address["api_key.prod-checkout-service"]["change"]
    assert prod["before"] is None
    assert prod["after"]["owner"] == "ci-bot@acme.example"
    assert prod["after_unknown"] == {"id": True, "secret": True}
    manual = by_address["workspace_spend_limit.ml"]
    assert manual["action_reason"] == "the Admin API cannot set workspace spend limits"
    assert "500 USD/month" in manual["message"]
    assert_no_secret(sandbox, result.stdout, result.stderr)
    assert "sensitive" not in json.dumps([r["change"]["after"] for r in doc["resource_changes"]])


def test_markdown_format_is_a_pull_request_comment(sandbox: SandboxServer, workdir: Path) -> None:
    result = plan(sandbox, workdir, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    md = result.stdout
    lines = md.splitlines()
    assert lines[0] == "<!-- reconciler plan -->"
    assert lines[1] == f"### Plan for `{sandbox.admin_base_url}`"
    assert f"**{expected_summary(DEMO_PLAN)}**" in lines
    assert "> [!IMPORTANT]" in lines
    ml_limit = next(line for line in lines if line.startswith("> - `workspace_spend_limit.ml`"))
    assert re.fullmatch(  # with who raised it in the console (the seed's audit log)
        r"> - `workspace_spend_limit.ml`: In the admin console, set the monthly spend limit of "
        r"workspace 'ml' to 500 USD/month \(now: 800 USD/month\)\. \(changed outside "
        r"reconciler by dan\.okafor@acme\.example on \d{4}-\d\d-\d\d\)",
        ml_limit,
    )
    fence = md[md.index("```diff\n") : md.index("\n```\n")]
    # GitHub colours a diff line by its first character: + added, - removed; those signs
    # move to column 0 and the indentation stays, as in Atlantis comments. The others keep
    # their place and their meaning: ! is a manual change only, never an update.
    assert '\n+   workspace "prod" {' in fence
    assert '\n-   member "dev/iris.tanaka@acme.example" {' in fence
    assert '\n+/- api_key "dev-alice" {' in fence
    assert '\n  ! workspace_spend_limit "ml" {' in fence
    assert '\n      ~ spend_limit = "800 USD/month" -> "500 USD/month"' in fence
    assert "\n!" not in fence
    assert "# forces replacement" in fence
    assert md.index("<details>") < md.index("```diff") < md.index("</details>")
    assert ANSI not in md
    assert_no_secret(sandbox, md, result.stderr)


# --- exit codes ------------------------------------------------------------------------


@pytest.fixture
def invalid_desired_state(workdir: Path) -> tuple[Path, int]:
    """The example with dev's rpm written as a string; returns the file and its line."""
    path = workdir / "desired-state" / "workspaces" / "dev.yaml"
    text = path.read_text()
    assert "rpm: 60\n" in text
    path.write_text(text.replace("rpm: 60\n", 'rpm: "60"\n'))
    line = path.read_text().splitlines().index('    rpm: "60"') + 1
    return path, line


@pytest.mark.parametrize(
    ("desired", "code", "first_line"),
    [
        ("desired-state", 2, None),
        (str(MATCHES_DEMO_SEED), 0, "No changes. Your infrastructure matches the configuration."),
    ],
    ids=["changes", "no-changes"],
)
def test_detailed_exitcode(
    sandbox: SandboxServer, workdir: Path, desired: str, code: int, first_line: str | None
) -> None:
    result = plan(sandbox, workdir, desired, "--detailed-exitcode")
    assert result.returncode == code, result.stderr
    plain = plan(sandbox, workdir, desired)
    assert plain.returncode == 0
    assert plain.stdout == result.stdout
    if first_line is not None:
        assert first_line in result.stdout.splitlines()
        # Nothing to do: the legend lists only what is shown (the unmanaged default workspace).
        assert legend(result.stdout) == ["?"]
        assert "Plan:" not in result.stdout


def test_detailed_exitcode_is_1_on_error(
    sandbox: SandboxServer, workdir: Path, invalid_desired_state: tuple[Path, int]
) -> None:
    result = plan(sandbox, workdir, "--detailed-exitcode")
    assert result.returncode == 1
    wrong_key = plan(sandbox, workdir, "--detailed-exitcode", MISTRAL_ADMIN_API_KEY="nope-nope")
    assert wrong_key.returncode == 1


# --- saved plans -------------------------------------------------------------------------


def test_out_saves_the_plan_with_both_fingerprints_and_no_secret(
    sandbox: SandboxServer, workdir: Path
) -> None:
    result = plan(sandbox, workdir, "--out", "saved.plan")
    assert result.returncode == 0, result.stderr
    saved_text = (workdir / "saved.plan").read_text()
    saved = json.loads(saved_text)
    shown = json_plan(sandbox, workdir)
    assert saved["desired_fingerprint"] == shown["desired_fingerprint"]
    assert saved["live_fingerprint"] == shown["live_fingerprint"]
    assert saved["checksum"] == shown["checksum"]
    assert {c["address"]: tuple(c["actions"]) for c in saved["changes"]} == DEMO_PLAN
    assert_no_secret(sandbox, saved_text)
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith("saved")) == ["saved.plan"]


# --- colour ----------------------------------------------------------------------------


def run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the CLI with stdout on a pseudo-terminal; return what it wrote there."""
    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:  # while it runs, or a full terminal would stop it
        try:
            while chunk := os.read(leader, 65536):
                chunks.append(chunk)
        except OSError:  # EIO: no writer is left
            return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        result = run_cli(args, cwd=cwd, env=env, stdout=os.ttyname(follower))
    finally:
        os.close(follower)  # the last writer: the reader sees the end (EIO)
        reader.join(timeout=CLI_TIMEOUT)
        os.close(leader)
    assert result.returncode == 0, result.stderr
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("extra_env", "extra_args", "coloured"),
    [({}, [], True), ({"NO_COLOR": "1"}, [], False), ({}, ["--no-color"], False)],
    ids=["terminal", "NO_COLOR", "--no-color"],
)
def test_colour_only_on_a_terminal_and_never_when_asked_not_to(
    sandbox: SandboxServer,
    workdir: Path,
    extra_env: dict[str, str],
    extra_args: list[str],
    coloured: bool,
) -> None:
    out = run_on_a_terminal(["plan", *extra_args], workdir, sandbox.env(**extra_env))
    assert expected_summary(DEMO_PLAN) in out
    if coloured:
        assert '\x1b[32m  + workspace "prod" {\x1b[0m' in out
        assert '\x1b[31m  - member "dev/iris.tanaka@acme.example" {\x1b[0m' in out
    else:
        assert ANSI not in out


# --- errors ------------------------------------------------------------------------------


def test_a_wrong_admin_key_is_one_clear_line_and_exit_1(
    sandbox: SandboxServer, workdir: Path
) -> None:
    wrong = "wrong-admin-key-0123456789abcdef"
    result = plan(sandbox, workdir, MISTRAL_ADMIN_API_KEY=wrong)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(
        rf"Error: {LISTING}mistral admin: GET /[a-z-]+ failed with HTTP 401: Invalid admin API key",
        lines[0],
    )
    assert wrong not in result.stderr
    assert_no_secret(sandbox, result.stderr)


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_platform_is_a_clear_error(sandbox: SandboxServer, workdir: Path) -> None:
    base = f"http://127.0.0.1:{_closed_port()}/v1/admin"
    result = plan(sandbox, workdir, MISTRAL_ADMIN_BASE_URL=base)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    # nothing was read: no page named; the variable that names the address is
    assert re.fullmatch(
        rf"Error: mistral admin: GET /[a-z-]+ failed: cannot connect to "
        rf"{re.escape(base.removesuffix('/v1/admin'))}: connection refused "
        rf"\(MISTRAL_ADMIN_BASE_URL is {re.escape(base)}: is that address right, and its "
        r"server running\?\)",
        lines[0],
    )
    assert_no_secret(sandbox, result.stderr)


def test_an_invalid_desired_state_is_reported_by_line_and_changes_nothing(
    sandbox: SandboxServer, workdir: Path, invalid_desired_state: tuple[Path, int]
) -> None:
    _, line = invalid_desired_state
    result = plan(sandbox, workdir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        f"desired-state/workspaces/dev.yaml:{line}:5: error: workspace.policy.rpm: expected "
        "an integer, got the string '60'" in result.stderr.splitlines()
    )
    assert result.stderr.splitlines()[-1] == "Error: 1 problem(s) in the desired state"
    # the live state is read while the YAML is (and that read is cancelled): reads only
    assert all(route.startswith("GET ") for route in sandbox.stats()["by_route"])


def test_a_429_with_retry_after_is_waited_out_and_the_plan_succeeds(
    sandbox: SandboxServer, workdir: Path
) -> None:
    sandbox.set_faults(
        {"method": "GET", "path": "/v1/admin/api-keys", "nth": 1, "status": 429, "retry_after": 1}
    )
    result = plan(sandbox, workdir, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {r["address"]: tuple(r["change"]["actions"]) for r in doc["resource_changes"]} == (
        DEMO_PLAN
    )
    assert sandbox.fault_counts() == [{"matched": 2, "fired": 1}]
    assert sandbox.stats()["by_route"]["GET /v1/admin/api-keys"] == 2


# --- a listing that fails midway ----------------------------------------------------------


@pytest.fixture(scope="module")
def large_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A generated organisation whose users and keys take several pages of 1,000 to list."""
    directory = tmp_path_factory.mktemp("large-sandbox")
    seed = directory / "seed.json"
    write_seed(generate_seed(workspaces=20, keys=2500, users=2500), seed)
    server = start_sandbox(directory, seed=seed)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("route", "args", "where"),
    [
        ("/v1/admin/users", [], r"listing users failed at page [2-3] of 3"),
        ("/v1/admin/api-keys", ["--concurrency", "1"], r"listing API keys failed at offset 1000"),
    ],
    ids=["users", "api-keys"],
)
def test_a_500_on_a_listing_page_fails_the_plan_and_prints_none(
    large_sandbox: SandboxServer, workdir: Path, route: str, args: list[str], where: str
) -> None:
    large_sandbox.reset()
    organization = workdir / "desired-state" / "organization.yaml"  # pinned to the demo's
    organization.write_text(re.sub(r"(?m)^  id: .*\n", "", organization.read_text()))
    healthy = plan(large_sandbox, workdir, *args)
    assert healthy.returncode == 0, healthy.stderr  # the same plan works without the fault
    large_sandbox.set_faults({"method": "GET", "path": route, "nth": 2, "status": 500})
    result = plan(large_sandbox, workdir, *args)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    path = route.removeprefix("/v1/admin")
    assert re.fullmatch(
        rf"Error: {where} \(nothing returned\): mistral admin: GET {path} failed with HTTP 500: "
        r"Internal server error",
        lines[0],
    )
    assert large_sandbox.fault_counts()[0]["fired"] == 1
