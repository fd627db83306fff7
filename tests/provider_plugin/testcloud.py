"""``testcloud``: a second platform plugged in from outside ``reconciler/``.

It has its own workspace roles (``viewer``, ``builder``, ``owner``), its own model
catalog (``models.json`` beside this file) and its own defaults. Its platform and its
sandbox are in memory: one organisation per sandbox state path (so a second session sees
what the first applied), starting as :func:`seed_live`. The platform itself needs
``TESTCLOUD_ADMIN_KEY``, as a real one would need credentials.

Registered by the tests with :func:`reconciler.providers.register`, or found through the
``reconciler.providers`` entry point of a tiny distribution (see ``test_testcloud.py``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from reconciler.errors import ConfigError
from reconciler.model import LiveState, Member, Organization, SpendLimit, Workspace
from reconciler.providers import ProviderSpec, Target
from tests.apply.fakes import FakeProvider

NAME = "testcloud"
KEY_ENV = "TESTCLOUD_ADMIN_KEY"
USERS = ("ada@example.org", "ben@example.org", "cy@example.org")  # the organisation's people
CATALOG = Path(__file__).with_name("models.json")


class TestCloudProvider(FakeProvider):
    """The in-memory platform, with Test Cloud's name and admin role."""

    __test__ = False  # not a test class, whatever pytest thinks of the name
    name = NAME
    admin_role = "owner"


_clouds: dict[str, TestCloudProvider] = {}  # target name -> the organisation there


def seed_live(target: str) -> LiveState:
    """research exists with an old description and one member; no keys; limit $500."""
    return LiveState(
        target=target,
        organization=Organization(spend_limit=SpendLimit(amount=Decimal(500))),
        workspaces=(
            Workspace(
                name="research", description="old", id="ws-research", admin="ada@example.org"
            ),
        ),
        members=(Member(workspace="research", email="ada@example.org", roles=("owner",)),),
    )


def _cloud(target: str) -> TestCloudProvider:
    if target not in _clouds:
        _clouds[target] = TestCloudProvider(seed_live(target), target=target, users=USERS)
    return _clouds[target]


def open_platform(target: Target) -> TestCloudProvider:
    if not target.env.get(KEY_ENV):
        raise ConfigError(f"no Test Cloud admin key: set {KEY_ENV}")
    return _cloud("https://admin.testcloud.example")


def open_sandbox(target: Target) -> TestCloudProvider:
    return _cloud(f"testcloud sandbox ({target.sandbox_state})")


def reset() -> None:
    """Forget every in-memory organisation (between tests)."""
    _clouds.clear()


TESTCLOUD = ProviderSpec(
    name=NAME,
    display_name="Test Cloud",
    workspace_roles=("viewer", "builder", "owner"),
    member_roles=("viewer",),
    admin_role="owner",
    vault_path_prefix="testcloud",
    credential_env=(KEY_ENV,),
    catalog=lambda: CATALOG.read_text(encoding="utf-8"),
    open=open_platform,
    sandbox=open_sandbox,
)
